"""Recurrent batch norm on the fast loops: the fast and autograd paths equal (outputs, final
states, gradients of inputs, weights and gains, running statistics) in training and eval, both
directions, T above and below ``batch_norm_steps``, padded and unpadded, with the same masks;
padding, whatever it holds, reaches no valid value, statistic or gradient; no host
synchronisation in the masked statistics."""

import pytest
import torch

import rnnlab
from rnnlab.layers import fast_lstm, native
from rnnlab.layers.norm import TimestepBatchNorm

LENGTHS = [7, 3, 5, 1]


def _model(cls, steps, **kwargs):
    torch.manual_seed(0)
    m = cls(3, 5, num_layers=2, bidirectional=True, recurrent_batch_norm=True, batch_norm_steps=steps,
            **kwargs).double()
    with torch.no_grad():  # non-trivial gains and shifts
        for name, p in m.named_parameters():
            if name.startswith("norm"):
                p.uniform_(0.5, 1.5)
    m.train()
    m(torch.randn(7, 4, 3, dtype=torch.float64) * 2 + 1)  # running statistics away from (0, 1)
    return m


def _run(m, x, lengths, implementation, loss_seed=5):
    """Outputs, final states, gradients of the input and every parameter, and every buffer
    after one forward and backward, with masks drawn from a fixed seed."""
    m.implementation = implementation
    m.zero_grad()
    xi = x.detach().clone().requires_grad_()
    torch.manual_seed(loss_seed)
    out, fin = m(xi, lengths=lengths)
    fin = fin if isinstance(fin, tuple) else (fin,)
    loss = out.square().sum() + sum((f * (k + 1)).sum() for k, f in enumerate(fin))
    loss.backward()
    return ([out.detach(), *(f.detach() for f in fin), xi.grad] + [p.grad.clone() for p in m.parameters()]
            + [b.clone() for b in m.buffers()])


def _compiled_equals_python_loops(m, x, lengths):
    """The compiled loops ("fast") and the Python ones ("fast-python") from the same weights:
    outputs and gradients equal to float32 rounding."""
    state = {k: v.clone() for k, v in m.state_dict().items()}
    results = []
    for implementation in ("fast", "fast-python"):
        m.load_state_dict(state)
        results.append(_run(m, x, lengths, implementation))
    for u, v in zip(*results, strict=True):
        torch.testing.assert_close(u, v, atol=1e-4 * max(1.0, v.abs().max().item()), rtol=0)


def _assert_equal_to_rounding(a, b):
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, atol=1e-10 * max(1.0, v.abs().max().item()), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [dict(), dict(zoneout=(0.2, 0.3), recurrent_dropout=0.2)])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("steps", [512, 4])  # 4: steps past batch_norm_steps share the last running row
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("implementation", ["fast", "fast-python"])
def test_fast_lstm_with_recurrent_batch_norm_equals_the_autograd_loop(implementation, training, steps, padded,
                                                                      kwargs):
    m = _model(rnnlab.LSTM, steps, **kwargs).train(training)
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS) if padded else None
    state = {k: v.clone() for k, v in m.state_dict().items()}
    fast = _run(m, x, lengths, implementation)
    m.load_state_dict(state)
    reference = _run(m, x, lengths, "autograd")
    _assert_equal_to_rounding(fast, reference)
    if training:  # (the running statistics did move: the comparison covers their update)
        assert not torch.equal(fast[-1], state[list(state)[-1]])


@pytest.mark.parametrize("kwargs", [dict(), dict(zoneout=0.2, recurrent_dropout=0.2)])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("steps", [512, 4])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("make", [
    lambda **kw: rnnlab.GRU(3, 5, **kw),
    lambda **kw: rnnlab.GRU(3, 5, bias=False, **kw),
    lambda **kw: rnnlab.RNN(3, 5, **kw),
    lambda **kw: rnnlab.RNN(3, 5, nonlinearity="relu", **kw),
    lambda **kw: rnnlab.IndRNN(3, 5, **kw),
    lambda **kw: rnnlab.IndRNN(3, 5, activation="tanh", **kw),
], ids=["gru", "gru-no-bias", "rnn", "rnn-relu", "indrnn", "indrnn-tanh"])
def test_fast_gru_rnn_indrnn_with_recurrent_batch_norm_equal_the_autograd_loop(make, training, steps, padded,
                                                                               kwargs):
    m = _model(lambda *a, **kw: make(**kw), steps, **kwargs).train(training)
    assert m.options.implementation == "auto"
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS) if padded else None
    state = {k: v.clone() for k, v in m.state_dict().items()}
    fast = _run(m, x, lengths, "fast")
    m.load_state_dict(state)
    reference = _run(m, x, lengths, "autograd")
    _assert_equal_to_rounding(fast, reference)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("padded", [False, True])
def test_gradcheck_fast_lstm_with_recurrent_batch_norm(training, padded):
    m = rnnlab.LSTM(2, 3, bidirectional=True, recurrent_batch_norm=True, batch_norm_steps=3,
                    zoneout=0.2, recurrent_dropout=0.2).double().train(training)
    m.implementation = "fast"
    x = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    # (at least 2 sequences real at every step but the padded one's shared row, so that
    # training's outputs never read the running statistics: a step with one real sequence would,
    # tests/test_rbn_few_valid.py)
    lengths = [5, 2, 5] if padded else None
    names, params = zip(*m.named_parameters())

    def f(x, *ps):  # (training: outputs never read the running statistics; eval: never writes them)
        torch.manual_seed(1)
        out, (h, c) = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return out, h, c

    # Every element of the Jacobian in the hardest case (padded, training: both dropouts, the
    # per-step statistics); a random projection of it (torch's fast mode: a wrong gradient still
    # fails) in the three others, which cost the suite a quarter as much each.
    full = training and padded
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=not full)


@pytest.mark.parametrize("garbage", [float("nan"), float("inf")])
@pytest.mark.parametrize("implementation", ["fast", "autograd"])
@pytest.mark.parametrize("training", [True, False])
def test_padding_reaches_nothing_valid(garbage, implementation, training):
    # NaN or inf in the padding: the same valid outputs, final states, gradients (of the valid
    # input and of every parameter) and running statistics as zeros in the padding.
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS)
    valid = (torch.arange(7)[:, None] < lengths[None, :]).unsqueeze(-1)
    results = []
    for fill in (0.0, garbage):
        m = _model(rnnlab.LSTM, 4, zoneout=0.1, recurrent_dropout=0.1).train(training)
        r = _run(m, torch.where(valid, x, fill), lengths, implementation)
        r[0] = torch.where(valid, r[0], 0.0)  # (the outputs past a length are zero either way)
        r[3] = torch.where(valid, r[3], 0.0)  # (gradients of padded inputs: not asked for)
        results.append(r)
    for u, v in zip(*results, strict=True):
        assert torch.isfinite(u).all()
        torch.testing.assert_close(u, v, atol=0, rtol=0)


@pytest.mark.parametrize("garbage", [float("nan"), float("inf"), 1e30])
@pytest.mark.parametrize("steps", [7, 3])
def test_masked_statistics_select_the_real_rows(garbage, steps):
    # The statistics of each step are those of its real rows alone, however the padding is
    # filled, step by step and all steps at once, with the same running statistics.
    torch.manual_seed(0)
    T, B, F = 5, 6, 4
    x = torch.randn(T, B, F, dtype=torch.float64) * 3 + 1
    valid = torch.rand(T, B, 1) < 0.6
    valid[2] = False  # a step without a real row: no statistics, running row untouched
    valid[0, :2] = True
    filled = torch.where(valid, x, garbage)
    out = {}
    for name, run in (("step", lambda bn, x: torch.stack([bn.step(x[t], t, valid[t]) for t in range(T)])),
                      ("sequence", lambda bn, x: bn.sequence(x, valid))):
        bn = TimestepBatchNorm(F, max_steps=steps, dtype=torch.float64).train()
        xi = filled.clone().requires_grad_()
        y = run(bn, xi)
        (dx,) = torch.autograd.grad((torch.where(valid, y, 0.0) ** 2).sum(), xi)
        out[name] = (torch.where(valid, y, 0.0), dx, bn.running_mean.clone(), bn.running_var.clone())
    for a, b in zip(out["step"], out["sequence"], strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    # against the statistics of the real rows, computed one step at a time from scratch
    y, _, running_mean, _ = out["step"]
    expected_mean = torch.zeros(steps, F, dtype=torch.float64)
    for t in range(T):
        rows = x[t][valid[t, :, 0]]
        if len(rows):
            r = min(t, steps - 1)
            expected_mean[r] = 0.9 * expected_mean[r] + 0.1 * rows.mean(0)
            xhat = (rows - rows.mean(0)) / torch.sqrt(rows.var(0, unbiased=False) + 1e-5)
            torch.testing.assert_close(y[t][valid[t, :, 0]], 0.1 * xhat, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(running_mean, expected_mean, atol=1e-12, rtol=1e-10)
    assert torch.equal(y[2], torch.zeros_like(y[2]))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("masked", [True, False])
def test_forward_and_backward_step_equal_autograd_through_step(training, masked):
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64) * 2
    valid = torch.tensor([True, False, True, True, False, True])[:, None] if masked else None
    bns = [TimestepBatchNorm(4, max_steps=2, dtype=torch.float64).train(training) for _ in range(2)]
    with torch.no_grad():
        bns[0].weight.uniform_(0.5, 1.5)
        bns[0].bias.uniform_(-1, 1)
        bns[0].running_mean.uniform_(-1, 1)
    bns[1].load_state_dict(bns[0].state_dict())
    dy = torch.randn(6, 4, dtype=torch.float64)
    if masked:
        dy = torch.where(valid, dy, 0.0)  # (the loops give padded rows no gradient)
    xi = x.clone().requires_grad_()
    ref = bns[0].step(xi, 1, valid)
    ref_grads = torch.autograd.grad(ref, [xi, bns[0].weight, bns[0].bias], dy)
    with torch.no_grad():
        y, mean, rstd = bns[1].forward_step(x, 1, valid, bns[1].weight, bns[1].bias)
        grads = bns[1].backward_step(dy, x, mean, rstd, valid, bns[1].weight, training, True)
    _assert_equal_to_rounding([y, *grads, bns[1].running_mean, bns[1].running_var],
                              [ref.detach(), *ref_grads, bns[0].running_mean, bns[0].running_var])


def test_no_host_synchronisation_in_the_masked_statistics(monkeypatch):
    # A tensor read back as a Python number inside the time loop would stop an accelerator's
    # queue at every step; every such conversion raises here.
    T, B, H = 6, 4, 3
    m = rnnlab.LSTM(2, H, recurrent_batch_norm=True, batch_norm_steps=4, zoneout=0.1).double().train()
    m.implementation = "fast"
    norms = m.norm_l0
    valid = (torch.arange(T)[:, None] < torch.tensor([6, 2, 4, 0])[None, :]).unsqueeze(-1)
    xs = torch.randn(T, B, 4 * H, dtype=torch.float64, requires_grad=True)
    state = (torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64))
    keep = [torch.where(valid, 0.0, 1.0).to(torch.float64).expand(T, B, H).contiguous()] * 2

    def refuse(*args):
        raise AssertionError("a tensor read back on the host")

    for name in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    seq = norms.ih.sequence(xs, valid)
    steps = torch.stack([norms.hh.step(xs[t], t, valid[t]) for t in range(T)])
    bn = fast_lstm.BatchNormSteps(norms.hh, norms.c, valid, True)
    out, (h, c) = fast_lstm.fast_lstm(xs, None, None, m.weight_hh_l0, state, keep, None, None, "python", bn)
    (seq.sum() + steps.sum() + out.sum() + c.sum()).backward()
    monkeypatch.undo()
    assert torch.isfinite(xs.grad).all()


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_compiled_batch_norm_loops_equal_the_python_ones_in_float32(training, padded):
    # float32's gates use the library's own vectorized exp, its statistics its own sums: equal
    # to rounding, not bit for bit (and statistics over the few real rows of late padded steps
    # amplify rounding: 1e-4 of the largest entry; float64 holds 1e-10 above).
    torch.manual_seed(0)
    m = rnnlab.LSTM(16, 64, recurrent_batch_norm=True, batch_norm_steps=20, zoneout=0.1,
                    recurrent_dropout=0.1).train()
    m(torch.randn(30, 8, 16))  # running statistics away from (0, 1)
    m.train(training)
    x = torch.randn(30, 8, 16) * 3  # saturating gates too
    lengths = torch.tensor([30, 12, 30, 1, 25, 30, 7, 30]) if padded else None
    _compiled_equals_python_loops(m, x, lengths)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
def test_compiled_batch_norm_loop_checks_shapes_before_touching_memory():
    T, B, H = 3, 2, 4
    acts = [torch.zeros(T, B, 4 * H)]
    z = torch.zeros

    def forward(**over):
        a = dict(rm_hh=z(5, 4 * H), valid=None)
        a.update(over)
        return torch.ops.rnnlab.lstm_bn_forward(acts, z(H, 4 * H), None, None, z(B, H), z(B, H), None, None, None,
                                                z(4 * H), z(H), z(H), a["rm_hh"], z(5, 4 * H), z(5, H), z(5, H),
                                                a["valid"], 0.1, 0.1, 1e-5, 1e-5, True, False)

    with pytest.raises(RuntimeError, match=r"valid expected shape \[3, 2\], got \[2, 2\]"):
        forward(valid=z(2, B))
    with pytest.raises(RuntimeError, match=r"running_mean \(recurrent term\) expected shape \[5, 16\], got \[5, 8\]"):
        forward(rm_hh=z(5, 8))
    out, c, saved = forward()
    assert out.shape == (T, B, H) and saved == []
