"""Each regularizer does what its name says (tests of meaning, not of running)."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.layers.norm import TimestepBatchNorm

T, B, H = 6, 5, 4


def _linear_indrnn(**kw):
    """h_t = x_t + u ⊙ h_{t−1} with u = 1: makes masks visible in the state."""
    m = rnnlab.IndRNN(H, H, activation="linear", bias=False, **kw)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.eye(H))
        m.weight_hh_l0.fill_(1.0)
    return m


def test_recurrent_dropout_mask_fixed_over_time_and_differs_between_sequences():
    p = 0.5
    m = _linear_indrnn(recurrent_dropout=p).train()
    x = torch.zeros(T, B, H)
    x[0] = 1.0  # h_0 = 1, then h_t = m ⊙ h_{t−1} = m^t
    out, _ = m(x)
    mask = out[1]
    assert set(mask.unique().tolist()) <= {0.0, 1.0 / (1 - p)}
    for t in range(1, T):
        torch.testing.assert_close(out[t], mask**t)  # the same mask at every step
    assert not all(torch.equal(mask[0], mask[b]) for b in range(1, B))  # sequences differ


def test_recurrent_dropout_applies_to_fed_state_only_for_custom_cells():
    seen = []

    class Probe(nn.Module):
        hidden_size = H

        def forward(self, x, h):
            seen.append(h.clone())
            return h, torch.ones_like(h)

    layer = rnnlab.Recurrent(Probe(), recurrent_dropout=0.5).train()
    layer(torch.zeros(T, B, 1))
    masks = seen[1:]  # step 0 feeds the zero initial state
    for mk in masks[1:]:
        assert torch.equal(mk, masks[0])
    assert set(masks[0].unique().tolist()) <= {0.0, 2.0}


def test_recurrent_dropout_off_in_eval_and_equal_to_torch():
    ref = nn.LSTM(3, H)
    m = rnnlab.LSTM(3, H, recurrent_dropout=0.5)
    m.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, 3)
    m.eval()
    torch.testing.assert_close(m(x)[0], ref(x)[0], atol=1e-6, rtol=0)
    m.train()
    assert not torch.allclose(m(x)[0], ref(x)[0])


@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN])
@pytest.mark.parametrize("training", [True, False])
def test_zoneout_one_keeps_the_initial_state(cls, training):
    m = cls(3, H, zoneout=1.0).train(training)
    n_states = 2 if cls is rnnlab.LSTM else 1
    h0 = tuple(torch.randn(1, B, H) for _ in range(n_states))
    out, s = m(torch.randn(T, B, 3), h0 if n_states == 2 else h0[0])
    s = s if isinstance(s, tuple) else (s,)
    for a, b in zip(s, h0):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out, h0[0].expand(T, B, H))


@pytest.mark.parametrize("cls,ref_cls", [(rnnlab.LSTM, nn.LSTM), (rnnlab.GRU, nn.GRU)])
def test_zoneout_zero_equals_none(cls, ref_cls):
    ref = ref_cls(3, H)
    m = cls(3, H, zoneout=0.0).train()
    m.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, 3)
    torch.testing.assert_close(m(x)[0], ref(x)[0], atol=1e-6, rtol=0)


def test_zoneout_separate_for_h_and_c():
    m = rnnlab.LSTM(3, H, zoneout=(0.0, 1.0)).train()
    c0 = torch.randn(1, B, H)
    _, (h, c) = m(torch.randn(T, B, 3), (torch.zeros(1, B, H), c0))
    torch.testing.assert_close(c, c0)  # c never updates
    assert not torch.allclose(h, torch.zeros_like(h))  # h does


def test_zoneout_eval_is_the_expectation():
    p = 0.3
    m = _linear_indrnn(zoneout=p).eval()
    x = torch.ones(T, B, H)
    out, _ = m(x)
    # h_t = p·h_{t−1} + (1−p)·(x_t + h_{t−1}) = h_{t−1} + (1−p)
    expect = torch.arange(1, T + 1, dtype=torch.float32)[:, None, None] * (1 - p)
    torch.testing.assert_close(out, expect.expand(T, B, H))


def test_zoneout_training_keeps_units_with_probability_p():
    p = 0.3
    m = rnnlab.RNN(H, 256, zoneout=p).train()
    h0 = torch.full((1, 64, 256), 7.0)  # a value the tanh cell can never produce
    out, _ = m(torch.randn(1, 64, H), h0)
    kept = (out == 7.0).float().mean().item()
    assert abs(kept - p) < 0.02


@pytest.mark.parametrize("cls,ref_cls", [(rnnlab.LSTM, nn.LSTM), (rnnlab.GRU, nn.GRU), (rnnlab.RNN, nn.RNN)])
def test_weight_drop_training_only_new_mask_each_call_parameter_untouched(cls, ref_cls):
    ref = ref_cls(3, H)
    m = cls(3, H, weight_drop=0.5)
    m.load_state_dict(ref.state_dict())
    before = m.weight_hh_l0.detach().clone()
    x = torch.randn(T, B, 3)
    m.train()
    a, b = m(x)[0], m(x)[0]
    assert not torch.allclose(a, ref(x)[0])
    assert not torch.allclose(a, b)  # a new mask per forward call
    assert torch.equal(m.weight_hh_l0, before)
    a.sum().backward()
    assert m.weight_hh_l0.grad is not None and (m.weight_hh_l0.grad == 0).any()  # dropped entries get no gradient
    m.eval()
    torch.testing.assert_close(m(x)[0], ref(x)[0], atol=1e-6, rtol=0)


def test_weight_drop_is_dropconnect_on_recurrent_weights():
    # With the kernel contribution removed, a dropped recurrent weight is a zero weight.
    m = rnnlab.RNN(1, H, weight_drop=0.5, activation="linear", bias=False).train()
    torch.manual_seed(3)
    out, _ = m(torch.zeros(2, 1, 1), torch.ones(1, 1, H))
    torch.manual_seed(3)
    w = torch.nn.functional.dropout(m.weight_hh_l0, 0.5, True)
    torch.testing.assert_close(out[0, 0], w @ torch.ones(H))


def test_input_dropout_variational_vs_per_step():
    m = _linear_indrnn(input_dropout=0.5)
    with torch.no_grad():
        m.weight_hh_l0.zero_()  # h_t = dropped x_t
    x = torch.ones(T, B, H)
    out, _ = m.train()(x)
    for t in range(1, T):
        assert torch.equal(out[t], out[0])
    m.input_dropout_mode = "step"
    out, _ = m(x)
    assert not all(torch.equal(out[t], out[0]) for t in range(1, T))
    torch.testing.assert_close(m.eval()(x)[0], x)


def test_layer_norm_makes_the_layer_invariant_to_weight_scale():
    m = rnnlab.LSTM(3, H, layer_norm=True).eval().double()
    m.norm_l0.ih.eps = m.norm_l0.hh.eps = 1e-30  # exact scale invariance, no epsilon floor
    x = torch.randn(T, B, 3, dtype=torch.float64)
    y = m(x)[0]
    with torch.no_grad():
        m.weight_ih_l0.mul_(10.0)
        m.weight_hh_l0.mul_(10.0)
    torch.testing.assert_close(m(x)[0], y, atol=1e-10, rtol=0)
    names = {n for n, _ in m.named_parameters()}
    assert {"norm_l0.ih.weight", "norm_l0.hh.weight", "norm_l0.c.weight", "norm_l0.c.bias"} <= names


def test_recurrent_batch_norm_statistics_per_timestep():
    m = rnnlab.GRU(3, H, recurrent_batch_norm=True, batch_norm_steps=T)
    assert torch.allclose(m.norm_l0.ih.weight, torch.full_like(m.norm_l0.ih.weight, 0.1))  # gamma init 0.1
    for bn in (m.norm_l0.ih, m.norm_l0.hh):
        bn.momentum = 1.0  # running stats = the last batch's statistics
    # Each timestep has its own input distribution.
    x = torch.randn(T, 64, 3) * torch.arange(1, T + 1)[:, None, None] + torch.arange(T)[:, None, None]
    m.train()
    m(x)
    proj = torch.nn.functional.linear(x, m.weight_ih_l0)
    torch.testing.assert_close(m.norm_l0.ih.running_mean, proj.mean(1), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(m.norm_l0.ih.running_mean[0], m.norm_l0.ih.running_mean[-1])
    # Training: a sample's output depends on the rest of the batch (batch statistics) ...
    one = x[:, :1]
    assert not torch.allclose(m(x)[0][:, :1], m(one.repeat(1, 2, 1))[0][:, :1])
    # ... eval: running statistics, so it does not.
    m.eval()
    torch.testing.assert_close(m(x)[0][:, :1], m(one)[0], atol=1e-4, rtol=0)


def test_timestep_batch_norm_normalizes_each_step_with_its_own_batch_statistics():
    bn = TimestepBatchNorm(4, max_steps=3, gamma_init=1.0).train()
    x = torch.randn(3, 50, 4) * 5 + 2
    y = bn.sequence(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(3, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(3, 4), atol=1e-3, rtol=0)


@pytest.mark.parametrize("steps", [5, 3])  # 3: steps past max_steps share the last row
@pytest.mark.parametrize("bias", [True, False])
def test_timestep_batch_norm_native_paths_equal_the_per_step_formula(steps, bias):
    # The unmasked paths (one native batch norm per step, or one for the whole sequence) must
    # compute what the masked per-step formula computes with every entry valid: outputs, the
    # gradients of input and gains, and the running statistics, in training and in eval.
    torch.manual_seed(0)
    x = (torch.randn(5, 7, 4, dtype=torch.float64) * torch.arange(1, 6)[:, None, None]).requires_grad_()
    ones = torch.ones(5, 7, 1, dtype=torch.bool)
    fast, ref = (TimestepBatchNorm(4, max_steps=steps, bias=bias, dtype=torch.float64).train() for _ in range(2))
    with torch.no_grad():
        fast.weight.uniform_(0.5, 1.5)
        ref.weight.copy_(fast.weight)
    g = torch.randn(5, 7, 4, dtype=torch.float64)
    for run in ("sequence", "step"):
        outs = []
        for bn, valid in ((fast, None), (ref, ones)):
            y = bn.sequence(x, valid) if run == "sequence" else torch.stack(
                [bn.step(x[t], t, None if valid is None else valid[t]) for t in range(5)])
            grads = torch.autograd.grad((y * g).sum(), [x, bn.weight] + ([bn.bias] if bias else []))
            outs.append((y, *grads))
        for a, b in zip(*outs):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(fast.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(fast.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
    fast.eval(), ref.eval()
    eval_seq = fast.sequence(x)
    torch.testing.assert_close(eval_seq, torch.stack([ref.step(x[t], t) for t in range(5)]), rtol=1e-12, atol=1e-12)


def test_recurrent_batch_norm_ignores_padding_in_statistics():
    m = rnnlab.LSTM(3, H, recurrent_batch_norm=True).train()
    m.norm_l0.ih.momentum = 1.0
    x = torch.randn(T, 4, 3)
    lengths = torch.tensor([T, T, 2, 2])
    x_pad = x.clone()
    x_pad[2:, 2:] = 1e6  # garbage in the padding must not reach the statistics
    m(x_pad, lengths=lengths)
    proj = torch.nn.functional.linear(x, m.weight_ih_l0)
    torch.testing.assert_close(m.norm_l0.ih.running_mean[T - 1], proj[T - 1, :2].mean(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(recurrent_dropout=0.3),
        dict(zoneout=0.2),
        dict(weight_drop=0.3),
        dict(input_dropout=0.3),
        dict(layer_norm=True),
        dict(recurrent_batch_norm=True),
        dict(dropout=0.3, num_layers=2),
        dict(recurrent_dropout=0.3, zoneout=0.1, weight_drop=0.2, input_dropout=0.2, layer_norm=True),
    ],
)
@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN])
def test_eval_mode_is_deterministic(cls, kwargs):
    m = cls(3, H, **kwargs)
    x = torch.randn(T, B, 3)
    m.train()
    m(x)  # let batch-norm running stats move
    m.eval()
    torch.testing.assert_close(m(x)[0], m(x)[0], atol=0, rtol=0)


def test_unit_forget_bias_and_orthogonal_init():
    m = rnnlab.LSTM(3, H, unit_forget_bias=True, recurrent_init="orthogonal", kernel_init="xavier_uniform")
    b = rnnlab.gates.split_gates(m.bias_ih_l0 + m.bias_hh_l0, "lstm")
    torch.testing.assert_close(b["f"], torch.ones(H))
    for block in m.weight_hh_l0.chunk(4):
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)


def test_activation_choice_changes_the_cell_math():
    m = rnnlab.LSTM(3, H, activation="relu", recurrent_activation="hard_sigmoid", bias=False)
    x = torch.randn(1, B, 3)
    out, (h, c) = m(x)
    g = x[0] @ m.weight_ih_l0.T
    i, f, gg, o = g.chunk(4, 1)
    hs = torch.nn.functional.hardsigmoid
    c_ref = hs(i) * torch.relu(gg)
    torch.testing.assert_close(c[0], c_ref)
    torch.testing.assert_close(h[0], hs(o) * torch.relu(c_ref))


def test_residual_adds_the_layer_input():
    plain = rnnlab.GRU(H, H, num_layers=2)
    res = rnnlab.GRU(H, H, num_layers=2, residual="upper")
    res.load_state_dict(plain.state_dict())
    x = torch.randn(T, B, H)
    one = rnnlab.GRU(H, H, num_layers=1)
    one.load_state_dict({k.replace("_l1", "_l0"): v for k, v in plain.state_dict().items() if "_l1" in k})
    first = rnnlab.GRU(H, H, num_layers=1)
    first.load_state_dict({k: v for k, v in plain.state_dict().items() if "_l0" in k})
    y0 = first(x)[0]
    torch.testing.assert_close(res(x)[0], one(y0)[0] + y0)
    full = rnnlab.GRU(H, H, num_layers=2, residual=True)
    full.load_state_dict(plain.state_dict())
    y0r = first(x)[0] + x
    torch.testing.assert_close(full(x)[0], one(y0r)[0] + y0r)


def test_constraints_bound_every_channel():
    m = rnnlab.LSTM(
        3, H, kernel_constraint=rnnlab.MaxNorm(0.5), recurrent_constraint=rnnlab.UnitNorm(),
        bias_constraint=rnnlab.NonNeg(),
    )
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(10)
    m.apply_constraints()
    assert (m.weight_ih_l0.norm(dim=1) <= 0.5 + 1e-6).all()
    torch.testing.assert_close(m.weight_hh_l0.norm(dim=1), torch.ones(4 * H))
    assert (m.bias_ih_l0 >= 0).all() and (m.bias_hh_l0 >= 0).all()


def test_constraint_hook_runs_after_every_optimizer_step():
    model = nn.Sequential()
    model.add_module("rnn", rnnlab.IndRNN(3, H, recurrent_constraint=rnnlab.IndRNN.recurrent_bound(2.0, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=10.0)
    rnnlab.constrain_after_step(opt, model)
    bound = 2.0 ** (1 / 10)
    for _ in range(3):
        opt.zero_grad()
        out, _ = model.rnn(torch.randn(10, B, 3))
        (-out.sum()).backward()  # pushes u up
        opt.step()
        assert (model.rnn.weight_hh_l0.abs() <= bound + 1e-6).all()


def test_recording_gates_gives_gate_activations():
    m = rnnlab.LSTM(3, H, bidirectional=True)
    x = torch.randn(T, B, 3)
    with m.recording_gates() as rec:
        out, _ = m(x, lengths=[T, 3, 2, T, 1])
    assert set(rec) == {(0, "forward"), (0, "reverse")}
    g = rnnlab.gates.split_gate_axis(rec[(0, "forward")], "lstm", dim=-1)
    assert ((g["i"] > 0) & (g["i"] < 1)).all() and ((g["g"] > -1) & (g["g"] < 1)).all()
    # the recorded gates reproduce the output: forward direction, full recurrence
    c = torch.zeros(B, H)
    for t in range(T):
        c = g["f"][t] * c + g["i"][t] * g["g"][t]
        h = g["o"][t] * torch.tanh(c)
        torch.testing.assert_close(h[[0, 3]], out[t, [0, 3], :H], atol=1e-6, rtol=0)
    # reverse gates are stored in forward time order: at a sequence's last real step the reverse
    # direction has taken one step from the zero state, so c = i*g there
    r = rnnlab.gates.split_gate_axis(rec[(0, "reverse")], "lstm", dim=-1)
    for b, n in enumerate([T, 3, 2, T, 1]):
        h = r["o"][n - 1, b] * torch.tanh(r["i"][n - 1, b] * r["g"][n - 1, b])
        torch.testing.assert_close(h, out[n - 1, b, H:], atol=1e-6, rtol=0)
    assert m._gate_record is None


def test_recording_states_gives_total_gradient_through_time():
    # Linear IndRNN, u = a: h_t = x_t + a h_{t-1}; loss = sum(h_T) → dL/dh_t = a^(T-1-t)
    a = 0.5
    m = rnnlab.IndRNN(H, H, activation="linear", bias=False, num_layers=1)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.eye(H))
        m.weight_hh_l0.fill_(a)
    with m.recording_states() as states:
        out, _ = m(torch.randn(T, B, H))
    hs = states[(0, "forward")]
    assert len(hs) == T
    for h in hs:
        h.retain_grad()
    out[-1].sum().backward()
    for t, h in enumerate(hs):
        torch.testing.assert_close(h.grad, torch.full((B, H), a ** (T - 1 - t)))
