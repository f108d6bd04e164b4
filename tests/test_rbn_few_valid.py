"""Recurrent batch norm at steps where fewer than 2 sequences of the batch are real (a padded
batch's last steps, where its longest sequence is alone): in training such a step is normalized
with its running statistics, as in eval (one value's batch statistics are the value itself with
variance 0, which would normalize it to 0 and erase the step's input), leaves them unchanged, and
its gradient is eval's; every implementation alike; steps with 2 or more real sequences exactly
as before."""

import copy

import pytest
import torch
import torch.nn.functional as F

import rnnlab
from rnnlab.layers import compiled_step, native
from rnnlab.layers.norm import (
    TimestepBatchNorm,
    batch_moments,
    batch_norm_rows_backward,
    row_statistics,
)

IMPLEMENTATIONS = ["fast", "fast-python", "autograd"]
if compiled_step.why_not(torch.device("cpu")) == "":
    IMPLEMENTATIONS.append("fast-inductor")
SINGLE = [6, 3, 4, 4]  # the report's batch: only sequence 0 is real at steps 4 and 5
TWO_OR_MORE = [6, 6, 3, 4]  # every step has 2 real sequences or more


def _lstm(dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, recurrent_batch_norm=True, **kwargs).to(dtype)
    with torch.no_grad():  # non-trivial gains and shift
        for name, p in m.named_parameters():
            if name.startswith("norm"):
                p.uniform_(0.5, 1.5)
    m.train()
    m(torch.randn(6, 5, 3, dtype=dtype) * 2 + 1)  # running statistics away from (0, 1)
    return m


def _reference(m, x, lengths):
    """The layer from scratch (one layer and direction, time-major ``x``): each step's three norms
    by torch's ``F.batch_norm`` over the step's real rows, with their batch statistics where there
    are 2 or more and with the running ones (``training=False``: eval's formula and gradient) where
    there is one. Returns the outputs (0 past a length) and the running statistics after."""
    T, B, _ = x.shape
    norms = m.norm_l0
    running = {k: v.clone() for k, v in norms.state_dict().items() if "running" in k}
    h = c = x.new_zeros(B, m.hidden_size)
    out = []
    for t in range(T):
        rows = torch.nonzero(lengths > t).flatten()

        def bn(name, z, t=t, rows=rows):
            norm = getattr(norms, name)
            r = min(t, norm.max_steps - 1)
            return F.batch_norm(z, running[f"{name}.running_mean"][r], running[f"{name}.running_var"][r],
                                norm.weight, norm.bias, len(rows) >= 2, norm.momentum, norm.eps)

        gates = (bn("ih", x[t, rows] @ m.weight_ih_l0.t()) + m.bias_ih_l0
                 + bn("hh", h[rows] @ m.weight_hh_l0.t()) + m.bias_hh_l0)
        i, f, g, o = gates.chunk(4, 1)
        c_t = torch.sigmoid(f) * c[rows] + torch.sigmoid(i) * torch.tanh(g)
        h_t = torch.sigmoid(o) * torch.tanh(bn("c", c_t))
        h, c = h.index_put((rows,), h_t), c.index_put((rows,), c_t)
        out.append(torch.zeros_like(h).index_put((rows,), h_t))
    return torch.stack(out), running


def _valid(lengths, T):
    return (torch.arange(T)[:, None] < lengths[None, :]).unsqueeze(-1)


@pytest.mark.parametrize("lengths", [SINGLE, TWO_OR_MORE], ids=["single-valid-steps", "two-or-more"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_outputs_gradients_and_running_statistics_equal_the_reference(implementation, lengths):
    m = _lstm(implementation=implementation)
    lengths = torch.tensor(lengths)
    T = int(lengths.max())
    x = torch.randn(T, 4, 3, dtype=torch.float64, requires_grad=True)
    valid = _valid(lengths, T)
    weights = torch.randn(T, 4, 4, dtype=torch.float64)
    params = [p for n, p in m.named_parameters()]
    expected, running = _reference(m, x, lengths)
    expected_grads = torch.autograd.grad((expected * weights).sum(), [x, *params])
    out, _ = m(x, lengths=lengths)
    grads = torch.autograd.grad((torch.where(valid, out, 0.0) * weights).sum(), [x, *params])
    torch.testing.assert_close(torch.where(valid, out, 0.0), expected, atol=1e-12, rtol=1e-10)
    for name, g, e in zip(["x"] + [n for n, _ in m.named_parameters()], grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, atol=1e-12, rtol=1e-10, msg=lambda s, name=name: f"{name}: {s}")
    for k, v in running.items():
        torch.testing.assert_close(m.norm_l0.state_dict()[k], v, atol=1e-12, rtol=1e-10, msg=k)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_the_reported_gradient_is_eval_formula(implementation):
    # The report: d y[0, 5] / d x[0, 5] was exactly 0 (the step normalized to its shift alone).
    m = _lstm(torch.float32, batch_first=True, implementation=implementation)
    ref = copy.deepcopy(m).double()  # (before the forward moves the running statistics)
    lengths = torch.tensor(SINGLE)
    x = torch.randn(4, 6, 3, requires_grad=True)
    y, _ = m(x, lengths=lengths)
    (g,) = torch.autograd.grad(y[0, 5].sum(), x)
    assert g[0, 5].abs().min() > 0
    # the same from the reference, with eval's formula at steps 4 and 5 (float64, time-major)
    x64 = x.detach().double().transpose(0, 1).requires_grad_()
    expected, _ = _reference(ref, x64, lengths)
    (e,) = torch.autograd.grad(expected[5, 0].sum(), x64)
    torch.testing.assert_close(g.double().transpose(0, 1), e, atol=1e-6, rtol=1e-3)


@pytest.fixture(params=["lstm", "gru"])
def kind(request):
    return request.param


def _model(kind, steps):
    torch.manual_seed(0)
    cls = rnnlab.LSTM if kind == "lstm" else rnnlab.GRU
    m = cls(3, 5, num_layers=2, bidirectional=True, recurrent_batch_norm=True, batch_norm_steps=steps,
            zoneout=0.1, recurrent_dropout=0.1).double()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("norm"):
                p.uniform_(0.5, 1.5)
    m.train()
    m(torch.randn(7, 4, 3, dtype=torch.float64) * 2 + 1)
    return m


def _run(m, x, lengths, implementation):
    m.implementation = implementation
    m.zero_grad()
    xi = x.detach().clone().requires_grad_()
    torch.manual_seed(5)
    out, fin = m(xi, lengths=lengths)
    fin = fin if isinstance(fin, tuple) else (fin,)
    (out.square().sum() + sum((f * (k + 1)).sum() for k, f in enumerate(fin))).backward()
    return ([out.detach(), *(f.detach() for f in fin), xi.grad] + [p.grad.clone() for p in m.parameters()]
            + [b.clone() for b in m.buffers()])


@pytest.mark.parametrize("steps", [512, 4])  # 4: the single-valid steps share the last running row
def test_every_implementation_alike_and_single_valid_rows_kept(kind, steps):
    m = _model(kind, steps)
    lengths = torch.tensor([7, 3, 5, 2])  # steps 5 and 6: sequence 0 alone
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    start = {k: v.clone() for k, v in m.state_dict().items()}
    results = {}
    for implementation in IMPLEMENTATIONS if kind == "lstm" else ["fast", "autograd"]:
        m.load_state_dict(start)
        results[implementation] = _run(m, x, lengths, implementation)
        if steps == 512:  # rows 5 and 6 (every norm, layer and direction): kept; rows 0 to 4: moved
            for k, v in m.state_dict().items():
                if "running" in k:
                    assert torch.equal(v[5:7], start[k][5:7]), k
                    assert not torch.equal(v[:5], start[k][:5]), k
            # (their inputs reach the outputs: the last real output of sequence 0 depends on them)
            assert results[implementation][3 if kind == "lstm" else 2][6, 0].abs().min() > 0
    reference = results.pop("autograd")
    for implementation, result in results.items():
        for u, v in zip(result, reference, strict=True):
            torch.testing.assert_close(u, v, atol=1e-10 * max(1.0, v.abs().max().item()), rtol=1e-10,
                                       msg=lambda s, i=implementation: f"{i}: {s}")


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("training", [True, False])
def test_compiled_loops_equal_the_python_ones_in_float32(training):
    torch.manual_seed(0)
    m = rnnlab.LSTM(16, 32, recurrent_batch_norm=True, zoneout=0.1).train()
    m(torch.randn(20, 8, 16))
    m.train(training)
    x = torch.randn(20, 8, 16) * 3
    lengths = torch.tensor([20, 9, 12, 1, 6, 12, 7, 3])  # steps 12 to 19: one real row
    state = {k: v.clone() for k, v in m.state_dict().items()}
    results = []
    for implementation in ("fast", "fast-python"):
        m.load_state_dict(state)
        results.append(_run(m, x, lengths, implementation))
    for u, v in zip(*results, strict=True):
        torch.testing.assert_close(u, v, atol=1e-4 * max(1.0, v.abs().max().item()), rtol=0)


def _old_row_statistics(x, running_mean, running_var, valid, training, momentum, eps):
    """row_statistics before steps with one real row took the running statistics."""
    if not training:
        return running_mean.clone(), torch.rsqrt(running_var + eps)
    mean, var, n = batch_moments(x, valid)
    with torch.no_grad():
        unbiased = var * (n / (n - 1).clamp(min=1))
        weight = momentum if valid is None else (n > 0).to(x.dtype) * momentum
        running_mean.lerp_(mean.detach(), weight)
        running_var.lerp_(unbiased.detach(), weight)
    rstd = torch.rsqrt(var + eps)
    if valid is not None:
        some = n > 0
        mean, rstd = torch.where(some, mean, 0.0), torch.where(some, rstd, 1.0)
    return mean, rstd


def _old_backward(dy, x, mean, rstd, valid, weight, training, need_bias):
    """batch_norm_rows_backward's masked path before (every step with batch terms)."""
    x, dy = torch.where(valid, x, 0.0), torch.where(valid, dy, 0.0)
    xhat = (x - mean).mul_(rstd)
    dy_sum = dy.sum(-2, keepdim=True)
    p_sum = (dy * xhat).sum(-2, keepdim=True)
    d_bias = dy_sum.view(-1, x.shape[-1]).sum(0) if need_bias else None
    d_weight = p_sum.view(-1, x.shape[-1]).sum(0)
    coef = rstd * weight
    dx = dy * coef
    if not training:
        return dx, d_weight, d_bias
    n = valid.sum(-2, keepdim=True).to(x.dtype).clamp_(min=1)
    dx.sub_(dy_sum.mul_(coef).div_(n)).addcmul_(xhat, p_sum.mul_(coef).div_(n), value=-1)
    return torch.where(valid, dx, 0.0), d_weight, d_bias


def _masks(counts, B):
    """``[len(counts), B, 1]``: step t with its first counts[t] rows real."""
    return torch.stack([torch.arange(B) < k for k in counts]).unsqueeze(-1)


def test_steps_with_two_or_more_real_rows_are_bit_for_bit_as_before():
    torch.manual_seed(0)
    B, C = 5, 3
    valid = _masks([5, 2, 0, 3], B)  # (a step without a real row: also as before)
    x = torch.randn(4, B, C, dtype=torch.float64) * 2 + 1
    dy = torch.randn(4, B, C, dtype=torch.float64)
    w = torch.rand(C, dtype=torch.float64) + 0.5
    means, rstds = [], []
    for t in range(4):
        rm, rv = torch.randn(C, dtype=torch.float64), torch.rand(C, dtype=torch.float64) + 0.5
        rm0, rv0 = rm.clone(), rv.clone()
        new = row_statistics(x[t], rm, rv, valid[t], True, 0.1, 1e-5)
        old = _old_row_statistics(x[t], rm0, rv0, valid[t], True, 0.1, 1e-5)
        for a, b in zip([*new, rm, rv], [*old, rm0, rv0], strict=True):
            assert torch.equal(a, b)
        means.append(new[0])
        rstds.append(new[1])
        for a, b in zip(batch_norm_rows_backward(dy[t], x[t], new[0], new[1], valid[t], w, True, True, 1e-5),
                        _old_backward(dy[t], x[t], new[0], new[1], valid[t], w, True, True), strict=True):
            assert torch.equal(a, b)
    mean, rstd = torch.stack(means).unsqueeze(1), torch.stack(rstds).unsqueeze(1)
    for a, b in zip(batch_norm_rows_backward(dy, x, mean, rstd, valid, w, True, True, 1e-5),
                    _old_backward(dy, x, mean, rstd, valid, w, True, True), strict=True):
        assert torch.equal(a, b)
    # all steps at once (the input term's path), against torch's batch norm of each step's real rows
    bn = TimestepBatchNorm(C, max_steps=8, dtype=torch.float64).train()
    y = bn.sequence(x, valid)
    for t, k in enumerate([5, 2, 0, 3]):
        if k:
            rm, rv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
            e = F.batch_norm(x[t, :k], rm, rv, bn.weight, bn.bias, True, 0.1, 1e-5)
            torch.testing.assert_close(y[t, :k], e, atol=1e-14, rtol=1e-12)
            torch.testing.assert_close(bn.running_var[t], rv, atol=1e-14, rtol=1e-12)
    assert torch.equal(bn.running_mean[2], torch.zeros(C, dtype=torch.float64))


@pytest.mark.parametrize("how", ["step", "sequence", "forward_step"])
def test_a_step_with_one_real_row_is_normalized_as_in_eval(how):
    torch.manual_seed(0)
    T, B, C = 3, 4, 5
    valid = _masks([4, 1, 3], B)
    x = torch.randn(T, B, C, dtype=torch.float64)
    bn = TimestepBatchNorm(C, max_steps=T, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    before = bn.running_mean.clone(), bn.running_var.clone()
    expected = (x[1, 0] - before[0][1]) * torch.rsqrt(before[1][1] + bn.eps) * bn.weight + bn.bias
    xi = x.clone().requires_grad_()
    if how == "step":
        y = torch.stack([bn.step(xi[t], t, valid[t]) for t in range(T)])
    elif how == "sequence":
        y = bn.sequence(xi, valid)
    else:
        with torch.no_grad():
            y, mean, rstd = bn.forward_step(x[1], 1, valid[1], bn.weight, bn.bias)
        dy = torch.randn(B, C, dtype=torch.float64)
        dx, _, _ = bn.backward_step(dy, x[1], mean, rstd, valid[1], bn.weight, True, True)
        torch.testing.assert_close(y[0], expected.detach(), atol=1e-14, rtol=1e-12)
        torch.testing.assert_close(dx[0], dy[0] * bn.weight.detach() * torch.rsqrt(before[1][1] + bn.eps))
        assert torch.equal(dx[1:], torch.zeros_like(dx[1:]))
        assert torch.equal(bn.running_mean[1], before[0][1]) and torch.equal(bn.running_var[1], before[1][1])
        return
    torch.testing.assert_close(y[1, 0], expected, atol=1e-14, rtol=1e-12)
    (dx,) = torch.autograd.grad(y[1, 0].sum(), xi)  # eval's gradient: dy · weight · rstd, on its own row
    torch.testing.assert_close(dx[1, 0], bn.weight.detach() * torch.rsqrt(before[1][1] + bn.eps))
    assert torch.equal(dx[[0, 2]], torch.zeros_like(dx[[0, 2]])) and torch.equal(dx[1, 1:], torch.zeros_like(dx[1, 1:]))
    assert torch.equal(bn.running_mean[1], before[0][1]) and torch.equal(bn.running_var[1], before[1][1])
    assert not torch.equal(bn.running_mean[0], before[0][0])  # (the others moved)


def test_several_steps_at_once_take_the_rule_per_step():
    # batch_norm_rows_backward with x [n, B, C]: a step with one real row gets eval's gradient,
    # the others theirs, as one step at a time
    torch.manual_seed(0)
    B, C = 4, 3
    valid = _masks([4, 1, 0, 2], B)
    x, dy = torch.randn(4, B, C, dtype=torch.float64), torch.randn(4, B, C, dtype=torch.float64)
    w = torch.rand(C, dtype=torch.float64) + 0.5
    rm, rv = torch.randn(4, C, dtype=torch.float64), torch.rand(4, C, dtype=torch.float64) + 0.5
    stats = [row_statistics(x[t], rm[t], rv[t], valid[t], True, 0.1, 1e-5) for t in range(4)]
    mean, rstd = (torch.stack(s).unsqueeze(1) for s in zip(*stats))
    whole = batch_norm_rows_backward(dy, x, mean, rstd, valid, w, True, True, 1e-5)
    steps = [batch_norm_rows_backward(dy[t], x[t], *stats[t], valid[t], w, True, True, 1e-5) for t in range(4)]
    torch.testing.assert_close(whole[0], torch.stack([s[0] for s in steps]), atol=1e-14, rtol=0)
    torch.testing.assert_close(whole[1], sum(s[1] for s in steps), atol=1e-14, rtol=0)
    torch.testing.assert_close(whole[0][1, 0], dy[1, 0] * w * torch.rsqrt(rv[1] + 1e-5), atol=1e-14, rtol=0)
    if native.available():  # the compiled loops' own copy of this backward
        dx, dw, db = torch.empty_like(x), torch.zeros(C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64)
        torch.ops.rnnlab.bn_backward_steps(dy, x, mean, rstd, w, valid[..., 0].double(), True, dw, db, dx)
        for a, b in zip([dx, dw, db], whole, strict=True):
            torch.testing.assert_close(a, b, atol=1e-13, rtol=0)


def test_one_row_without_a_mask_is_normalized_as_in_eval():
    # (the layer refuses a batch of 1 in training; the norm on its own takes eval's statistics)
    bn = TimestepBatchNorm(3, max_steps=2, dtype=torch.float64).train()
    with torch.no_grad():
        bn.running_mean.fill_(0.5)
    x = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    y = bn.step(x, 0)
    torch.testing.assert_close(y, (x - 0.5) * torch.rsqrt(torch.tensor(1 + bn.eps, dtype=torch.float64)) * 0.1)
    assert torch.equal(bn.running_mean, torch.full((2, 3), 0.5, dtype=torch.float64))
