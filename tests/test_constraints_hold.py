"""Constraints hold as a Keras user expects: after every plain torch optimizer step with nothing
hooked by the user; ``bias_constraint`` bounds the bias the gates see (``bias_ih + bias_hh``, the
GRU's new gate at both ends of its reset gate); a layer without a bias refuses it; the old
``constrain_after_step`` still works and adds nothing; an unconstrained model is left alone."""

import copy
import gc
import os
import subprocess
import sys
import weakref

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.errors import ArgumentError

T, B, IN, H = 6, 4, 3, 5
BOUND = 0.3
SLACK = 1e-5  # (relative: a projected norm is the bound up to rounding)


def _push(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A loss whose gradient grows every weight and bias of an rnnlab layer (or a Sequential around one)."""
    rnn = model if isinstance(model, rnnlab.RecurrentBase) else model[0]
    return -rnn(x)[0].sum() - sum(p.sum() for p in rnn.parameters())


def _effective_bias(m: rnnlab.RecurrentBase, sfx: str = "_l0") -> torch.Tensor:
    return (getattr(m, "bias_ih" + sfx) + getattr(m, "bias_hh" + sfx)).detach()


def _assert_bounded(m: rnnlab.RecurrentBase, bound: float) -> None:
    limit = bound * (1 + SLACK)
    for name, p in m.named_parameters():
        if name.startswith("weight"):
            assert p.detach().norm(dim=1).max() <= limit, name
    for layer in range(m.num_layers):
        eff = _effective_bias(m, f"_l{layer}")
        if m.kind == "gru":  # (the new gate: b_in and b_in + b_hn, the two ends of b_in + r·b_hn)
            b_in = getattr(m, f"bias_ih_l{layer}").detach()[2 * H:]
            eff = torch.cat([eff[: 2 * H], b_in, eff[2 * H:]])
        assert eff.abs().max() <= limit, f"layer {layer} effective bias {eff.abs().max()}"


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=1.0),
    lambda ps: torch.optim.Adam(ps, lr=0.5),
    lambda ps: torch.optim.Adam(ps, lr=0.5, foreach=False),
    lambda ps: torch.optim.AdamW(ps, lr=0.5, fused=True),
], ids=["sgd", "adam", "adam-loop", "adamw-fused"])
def test_constraints_hold_after_plain_torch_steps_with_nothing_hooked(kind, make_opt):
    c = rnnlab.MaxNorm(BOUND)
    m = getattr(rnnlab, kind)(IN, H, num_layers=2, kernel_constraint=c, recurrent_constraint=c, bias_constraint=c)
    opt = make_opt(m.parameters())
    x = torch.randn(T, B, IN)
    for _ in range(4):
        opt.zero_grad()
        _push(m, x).backward()
        opt.step()
        _assert_bounded(m, BOUND)
    # (the weights are on the bound, not merely shrunk: the steps pushed every channel past it)
    assert m.weight_hh_l1.detach().norm(dim=1).min() > BOUND * (1 - SLACK)


def test_indrnn_recurrent_bound_holds_after_each_step():
    bound = 2.0 ** (1 / 10)
    m = rnnlab.IndRNN(IN, H, recurrent_constraint=rnnlab.IndRNN.recurrent_bound(2.0, 10),
                      bias_constraint=rnnlab.NonNeg())
    opt = torch.optim.SGD(m.parameters(), lr=10.0)
    for _ in range(3):
        opt.zero_grad()
        (-m(torch.randn(T, B, IN))[0].sum() + m.bias_ih_l0.sum()).backward()  # u up, the bias down
        opt.step()
        assert (m.weight_hh_l0.abs() <= bound * (1 + SLACK)).all()
        assert (m.bias_ih_l0 >= 0).all()


def test_only_what_the_stepping_optimizer_holds_is_projected():
    c = rnnlab.MaxNorm(BOUND)
    trained, other = (rnnlab.LSTM(IN, H, recurrent_constraint=c) for _ in range(2))
    with torch.no_grad():
        other.weight_hh_l0.mul_(10)  # (set by hand, outside the bound: no step of its own changed it)
    kept = other.weight_hh_l0.detach().clone()
    opt = torch.optim.SGD(trained.parameters(), lr=1.0)
    opt.zero_grad()
    _push(trained, torch.randn(T, B, IN)).backward()
    opt.step()
    assert trained.weight_hh_l0.detach().norm(dim=1).max() <= BOUND * (1 + SLACK)
    assert torch.equal(other.weight_hh_l0.detach(), kept)


def test_a_copy_of_a_constrained_layer_is_constrained_too():
    m = rnnlab.GRU(IN, H, kernel_constraint=rnnlab.MaxNorm(BOUND))
    twin = copy.deepcopy(m)
    opt = torch.optim.SGD(twin.parameters(), lr=1.0)
    opt.zero_grad()
    _push(twin, torch.randn(T, B, IN)).backward()
    opt.step()
    assert twin.weight_ih_l0.detach().norm(dim=1).max() <= BOUND * (1 + SLACK)


def test_dropped_layers_are_not_kept_alive():
    m = rnnlab.LSTM(IN, H, kernel_constraint=rnnlab.MaxNorm(BOUND))
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    opt.zero_grad()
    _push(m, torch.randn(T, B, IN)).backward()
    opt.step()
    ref = weakref.ref(m)
    del m, opt
    gc.collect()
    assert ref() is None


# --- bias_constraint bounds the bias the gates see ------------------------------------------------


def test_max_norm_bounds_the_lstm_s_effective_bias_not_each_half():
    m = rnnlab.LSTM(IN, H, bias_constraint=rnnlab.MaxNorm(1.0))
    with torch.no_grad():
        m.bias_ih_l0.fill_(5.0)
        m.bias_hh_l0.fill_(5.0)
    m.apply_constraints()
    torch.testing.assert_close(_effective_bias(m), torch.ones(4 * H), rtol=0, atol=0)
    assert torch.equal(m.bias_hh_l0.detach(), torch.zeros(4 * H))  # (the documented split)


def test_unit_norm_makes_the_effective_bias_plus_or_minus_one():
    m = rnnlab.LSTM(IN, H, bias_constraint=rnnlab.UnitNorm())
    m.apply_constraints()
    assert set(_effective_bias(m).tolist()) <= {-1.0, 1.0}  # (never 0 or ±2, the sums of two signs)


def test_a_bias_inside_its_bound_computes_the_same_and_unit_forget_bias_keeps_its_meaning():
    m = rnnlab.LSTM(IN, H, unit_forget_bias=True, bias_constraint=rnnlab.MaxNorm(1.0))
    with torch.no_grad():  # the input gate's halves past the bound, their sum (what the gate sees) inside
        m.bias_ih_l0[:H] = 1.5
        m.bias_hh_l0[:H] = -1.0
    x = torch.randn(T, B, IN)
    before = m(x)[0].detach()
    eff = _effective_bias(m)
    m.apply_constraints()
    torch.testing.assert_close(_effective_bias(m), eff, rtol=0, atol=1e-7)
    torch.testing.assert_close(m(x)[0].detach(), before, rtol=0, atol=1e-6)
    assert (m.bias_ih_l0.detach()[H:2 * H] == 1.0).all()  # the forget gate's 1, in bias_ih (unit_forget_bias' place)
    tight = rnnlab.LSTM(IN, H, unit_forget_bias=True, bias_constraint=rnnlab.MaxNorm(0.5))
    tight.apply_constraints()
    assert (_effective_bias(tight)[H:2 * H] == 0.5).all()


def test_gru_bias_constraint_sums_r_and_z_and_bounds_both_ends_of_the_new_gate():
    m = rnnlab.GRU(IN, H, bias_constraint=rnnlab.MaxNorm(1.0))
    with torch.no_grad():
        m.bias_ih_l0.fill_(3.0)
        m.bias_hh_l0.fill_(3.0)
        m.bias_ih_l0[2 * H:] = 0.5
        m.bias_hh_l0[2 * H:] = -2.0  # (b_in inside, b_in + b_hn = -1.5 outside)
    m.apply_constraints()
    b_ih, b_hh = m.bias_ih_l0.detach(), m.bias_hh_l0.detach()
    assert torch.equal(b_ih[: 2 * H] + b_hh[: 2 * H], torch.ones(2 * H))  # r and z: their sum
    assert torch.equal(b_ih[2 * H:], torch.full((H,), 0.5))  # b_in: inside already, kept
    torch.testing.assert_close(b_ih[2 * H:] + b_hh[2 * H:], torch.full((H,), -1.0))
    for r in torch.linspace(0, 1, 11):  # the new gate's bias b_in + r·b_hn, for every reset gate value
        assert (b_ih[2 * H:] + r * b_hh[2 * H:]).abs().max() <= 1.0 + 1e-6


def test_gru_non_neg_bounds_what_each_gate_sees_and_keeps_what_already_holds():
    m = rnnlab.GRU(IN, H, bias_constraint=rnnlab.NonNeg())
    with torch.no_grad():
        m.bias_ih_l0[: 2 * H] = -1.0
        m.bias_hh_l0[: 2 * H] = 3.0  # r and z see 2: inside
        m.bias_ih_l0[2 * H:3 * H - 1] = 0.5
        m.bias_hh_l0[2 * H:3 * H - 1] = -0.2  # the new gate sees 0.5 - 0.2·r ≥ 0.3: inside
        m.bias_ih_l0[3 * H - 1] = -1.0
        m.bias_hh_l0[3 * H - 1] = 3.0  # b_in < 0: outside where the reset gate closes
    m.apply_constraints()
    b_ih, b_hh = m.bias_ih_l0.detach(), m.bias_hh_l0.detach()
    assert torch.equal(b_ih[: 2 * H] + b_hh[: 2 * H], torch.full((2 * H,), 2.0))
    assert torch.equal(b_ih[2 * H:], torch.tensor([0.5] * (H - 1) + [0.0]))
    assert torch.equal(b_hh[2 * H:], torch.tensor([-0.2] * (H - 1) + [3.0]))  # (b_in + b_hn ≥ 0 already: kept)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "IndRNN"])
def test_bias_constraint_without_a_bias_is_refused(kind):
    message = ("bias_constraint: needs bias=True (a bias to bound), got bias=False with bias_constraint=MaxNorm(1.0); "
               "unset bias_constraint or set bias=True")
    layer = getattr(rnnlab, kind)
    with pytest.raises(ArgumentError) as info:
        layer(IN, H, bias=False, bias_constraint=rnnlab.MaxNorm(1.0))
    assert str(info.value) == message
    m = layer(IN, H, bias=False)
    with pytest.raises(ArgumentError, match="^bias_constraint: needs bias=True"):
        m.bias_constraint = rnnlab.MaxNorm(1.0)
    assert m.bias_constraint is None


# --- the old hook, projecting twice, and no side effect -------------------------------------------


def _train(hooked: bool, steps: int = 4) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    c = rnnlab.MaxNorm(BOUND)
    model = nn.Sequential(rnnlab.GRU(IN, H, kernel_constraint=c, recurrent_constraint=rnnlab.UnitNorm(),
                                     bias_constraint=c))
    opt = torch.optim.Adam(model.parameters(), lr=0.3)
    if hooked:
        rnnlab.constrain_after_step(opt, model)
    x = torch.randn(T, B, IN)
    for _ in range(steps):
        opt.zero_grad()
        _push(model, x).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_constrain_after_step_still_works_and_changes_nothing_more():
    plain, hooked = _train(hooked=False), _train(hooked=True)
    assert plain.keys() == hooked.keys()
    assert all(torch.equal(plain[k], hooked[k]) for k in plain)
    gru = rnnlab.GRU(IN, H, kernel_constraint=rnnlab.MaxNorm(BOUND))
    gru.load_state_dict({k.removeprefix("0."): v for k, v in plain.items()})
    assert gru.weight_ih_l0.norm(dim=1).max() <= BOUND * (1 + SLACK)
    # what it still adds: a frozen layer the optimizer does not hold, projected after its steps
    frozen, head = rnnlab.LSTM(IN, H, kernel_constraint=rnnlab.MaxNorm(BOUND)), nn.Linear(H, 1)
    with torch.no_grad():
        frozen.weight_ih_l0.mul_(10)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    rnnlab.constrain_after_step(opt, nn.ModuleList([frozen, head]))
    head(frozen(torch.randn(T, B, IN))[0]).sum().backward()
    opt.step()
    assert frozen.weight_ih_l0.detach().norm(dim=1).max() <= BOUND * (1 + SLACK)


@pytest.mark.parametrize("constraint", [rnnlab.MaxNorm(BOUND), rnnlab.UnitNorm(), rnnlab.NonNeg()], ids=repr)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_projecting_twice_changes_nothing(kind, constraint):
    m = getattr(rnnlab, kind)(IN, 64, kernel_constraint=constraint, recurrent_constraint=constraint,
                              bias_constraint=constraint)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 3.0)
    m.apply_constraints()
    once = {k: v.clone() for k, v in m.state_dict().items()}
    m.apply_constraints()
    rnnlab.apply_constraints(m)
    assert all(torch.equal(once[k], v) for k, v in m.state_dict().items())


#: an unconstrained model's steps, saved to ``path``
_STEPS = """
def steps(path):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 2)
    for _ in range(5):
        opt.zero_grad(); torch.nn.functional.mse_loss(model(x), y).backward(); opt.step()
    torch.save(model.state_dict(), path)
"""

#: rnnlab imported, its hook installed, a constrained layer alive and stepped by its own optimizer
_WITH_RNNLAB = """
import rnnlab, torch
layer = rnnlab.LSTM(3, 5, kernel_constraint=rnnlab.MaxNorm(0.3))
side = torch.optim.SGD(layer.parameters(), lr=1.0)
(-layer(torch.randn(6, 4, 3))[0].sum() - layer.weight_ih_l0.sum()).backward()
side.step()
assert layer.weight_ih_l0.norm(dim=1).max() <= 0.3 * (1 + 1e-5), "the hook is live"
"""


def test_an_unconstrained_model_steps_bit_identically_with_rnnlab_imported(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    saved = {name: tmp_path / f"{name}.pt" for name in ("without", "with")}
    # One process (one start of Python and torch, not two): the steps with nothing of rnnlab
    # loaded, then rnnlab imported and its hook live, and the same steps again from the same seed.
    script = ("import sys, torch\ntorch.set_num_threads(1)\n" + _STEPS + "steps(sys.argv[1])\n"
              "assert 'rnnlab' not in sys.modules\n" + _WITH_RNNLAB + "steps(sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", script, str(saved["without"]), str(saved["with"])], check=True, env=env,
                   timeout=300)
    a = torch.load(saved["without"], weights_only=True)
    b = torch.load(saved["with"], weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
