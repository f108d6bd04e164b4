"""rnnlab.optim: trajectories equal torch's optimizers; schedule, normalized decay and clipping
equal their analytic values."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from rnnlab.optim.clip import GradClipper, NonFiniteGradientError, clip_grad_norm
from rnnlab.optim.decoupled import SGDW, AdamW, NAdamW, apply_l1_prox, normalized_weight_decay
from rnnlab.optim.schedule import WarmRestarts, warm_restart_factor
from rnnlab.regularize.groups import Rule, param_groups


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def hand_groups(model, lr=None):
    """The groups param_groups builds below, written out by hand."""
    m = model
    gs = [
        {"params": [m.lstm.weight_hh_l0], "weight_decay": 0.05},
        {"params": [m.lstm.weight_ih_l0], "weight_decay": 0.01},
        {"params": [m.head.weight], "weight_decay": 0.001},
        {"params": [m.lstm.bias_ih_l0, m.lstm.bias_hh_l0, m.head.bias], "weight_decay": 0.0},
    ]
    if lr is not None:
        for g, mult in zip(gs, (0.5, 2.0, 1.0, 1.0), strict=True):
            g["lr"] = lr * mult
    return gs


def rule_groups(model):
    return param_groups(model, [
        Rule(role="recurrent", weight_decay=0.05, lr_mult=0.5),
        Rule(role="kernel", module_type=nn.LSTM, weight_decay=0.01, lr_mult=2.0),
    ], weight_decay=0.001)


def train(model, opt, steps=12, sched=None, seed=0, before_step=None):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(6, 4, 3, generator=g)
        y = torch.randint(0, 2, (4,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if before_step is not None:
            before_step(model)
        opt.step()
        if sched is not None:
            sched.step()


def assert_same_params(a, b, atol=1e-6):
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        torch.testing.assert_close(pa, pb, atol=atol, rtol=0, msg=na)


@pytest.mark.parametrize("ours,theirs", [
    (lambda g: AdamW(g, lr=3e-3, betas=(0.8, 0.99)), lambda g: torch.optim.AdamW(g, lr=3e-3, betas=(0.8, 0.99))),
    (lambda g: AdamW(g, lr=3e-3, amsgrad=True), lambda g: torch.optim.AdamW(g, lr=3e-3, amsgrad=True)),
    (lambda g: NAdamW(g, lr=3e-3), lambda g: torch.optim.NAdam(g, lr=3e-3, decoupled_weight_decay=True)),
])
def test_adam_family_trajectories_equal_torch(ours, theirs):
    torch.manual_seed(0)
    a = Net()
    b = copy.deepcopy(a)
    start = a.lstm.weight_hh_l0.detach().clone()
    train(a, ours(rule_groups(a)))
    train(b, theirs(hand_groups(b, lr=3e-3)))
    assert_same_params(a, b)
    assert (a.lstm.weight_hh_l0 - start).abs().max() > 1e-2  # it did move


def test_sgdw_without_momentum_equals_torch_sgd_with_l2():
    # without momentum, decoupled decay and L2-in-the-gradient coincide: p(1 − lr·wd) − lr·g
    torch.manual_seed(1)
    a = Net()
    b = copy.deepcopy(a)
    train(a, SGDW(rule_groups(a), lr=0.1))
    train(b, torch.optim.SGD(hand_groups(b, lr=0.1), lr=0.1))
    assert_same_params(a, b)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgdw_with_momentum_equals_torch_sgd_plus_decoupled_decay(nesterov):
    torch.manual_seed(2)
    a = Net()
    b = copy.deepcopy(a)
    train(a, SGDW(rule_groups(a), lr=0.1, momentum=0.9, nesterov=nesterov))
    groups = hand_groups(b, lr=0.1)
    decays = [g.pop("weight_decay") for g in groups]
    ref = torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=nesterov)

    def decay(_model):  # Loshchilov & Hutter: θ_t = θ_{t−1} − lr·v_t − lr·wd·θ_{t−1}
        with torch.no_grad():
            for g, wd in zip(ref.param_groups, decays, strict=True):
                for p in g["params"]:
                    p.mul_(1 - g["lr"] * wd)

    c = copy.deepcopy(b)
    train(b, ref, before_step=decay)
    assert_same_params(a, b)
    # with momentum it differs from torch's coupled L2 decay
    train(c, torch.optim.SGD(hand_groups(c, lr=0.1), lr=0.1, momentum=0.9, nesterov=nesterov))
    assert (c.lstm.weight_hh_l0 - a.lstm.weight_hh_l0).abs().max() > 1e-4


def test_warm_restarts_trajectory_equals_torch_scheduler_and_scales_decay():
    torch.manual_seed(3)
    a = Net()
    b = copy.deepcopy(a)
    opt_a = AdamW(rule_groups(a), lr=1e-2)
    opt_b = torch.optim.AdamW(hand_groups(b, lr=1e-2), lr=1e-2)
    train(a, opt_a, steps=20, sched=WarmRestarts(opt_a, period=4, period_mult=2))
    sched_b = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt_b, T_0=4, T_mult=2, eta_min=0.0)
    train(b, opt_b, steps=20, sched=sched_b)
    assert_same_params(a, b)

    # zero gradient: only the decay acts, p_t = p_0 · Π (1 − lr·η_t·wd) with the schedule's η_t
    w = nn.Parameter(torch.full((3,), 2.0))
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    sched = WarmRestarts(opt, period=5, eta_min=0.1)
    expected = 2.0
    for t in range(12):
        w.grad = torch.zeros(3)
        opt.step()
        expected *= 1 - 0.1 * 0.5 * warm_restart_factor(t, 5, eta_min=0.1)
        sched.step()
    torch.testing.assert_close(w.detach(), torch.full((3,), expected), atol=1e-6, rtol=0)


def test_decoupled_l1_is_soft_thresholding_scaled_by_lr():
    p = nn.Parameter(torch.tensor([1.0, -0.3, 0.05, -2.0]))
    opt = SGDW([{"params": [p], "l1": 0.5}], lr=0.1)
    lrs = [0.1, 0.05, 0.1]
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.zeros(4)
        opt.step()
    # total threshold 0.5 · (0.1 + 0.05 + 0.1) = 0.125; 0.05 reaches exactly zero
    torch.testing.assert_close(p.detach(), torch.tensor([0.875, -0.175, 0.0, -1.875]))
    # default l1 from the constructor reaches every group; apply_l1_prox works for any optimizer
    q = nn.Parameter(torch.tensor([0.2, -0.2]))
    opt = AdamW([q], lr=0.1, weight_decay=0.0, l1=1.0)
    assert opt.param_groups[0]["l1"] == 1.0
    q.grad = torch.zeros(2)
    opt.step()
    torch.testing.assert_close(q.detach(), torch.tensor([0.1, -0.1]))
    r = nn.Parameter(torch.tensor([3.0]))
    r.grad = torch.zeros(1)
    apply_l1_prox(torch.optim.SGD([{"params": [r], "l1": 2.0}], lr=0.5))
    assert float(r.detach()) == pytest.approx(2.0)


def test_step_hooks_run_once_per_step():
    torch.optim.AdamW([nn.Parameter(torch.zeros(1))])  # torch's class step now carries its hook runner
    for cls in (AdamW, NAdamW, SGDW):
        w = nn.Parameter(torch.ones(2))
        opt = cls([w], lr=0.1)
        calls: list[str] = []
        opt.register_step_post_hook(lambda o, *_, log=calls: log.append(type(o).__name__))
        w.grad = torch.ones(2)
        opt.step()
        assert calls == [cls.__name__]


def test_state_dict_round_trip_keeps_group_settings():
    torch.manual_seed(4)
    a = Net()
    opt = AdamW(rule_groups(a), lr=1e-3, l1=1e-5)
    train(a, opt, steps=2)
    sd = opt.state_dict()
    opt2 = AdamW(rule_groups(a), lr=1e-3, l1=1e-5)
    opt2.load_state_dict(sd)
    for g1, g2 in zip(opt.param_groups, opt2.param_groups, strict=True):
        assert {k: v for k, v in g1.items() if k != "params"} == {k: v for k, v in g2.items() if k != "params"}


def test_lr_mult_errors():
    w = nn.Parameter(torch.ones(1))
    with pytest.raises(ValueError, match="param group 0 lr_mult: expected a finite number >= 0, got -1"):
        AdamW([{"params": [w], "lr_mult": -1}])
    with pytest.raises(ValueError, match="param group 0 weight_decay: expected a finite number >= 0"):
        SGDW([{"params": [w], "weight_decay": -0.1}])
    with pytest.raises(ValueError, match="l1: expected a finite number >= 0"):
        NAdamW([w], l1=-1.0)


def test_normalized_weight_decay_formula():
    assert normalized_weight_decay(0.05, 400) == pytest.approx(0.05 * math.sqrt(1 / 400))
    b, big_b, t = 128, 50_000, 100
    assert normalized_weight_decay(0.025, batch_size=b, train_size=big_b, epochs=t) == pytest.approx(
        0.025 * math.sqrt(b / (big_b * t))
    )
    # the two forms agree: B·T/b updates
    assert normalized_weight_decay(0.1, batch_size=100, train_size=5000, epochs=8) == pytest.approx(
        normalized_weight_decay(0.1, 5000 * 8 // 100)
    )
    with pytest.raises(ValueError, match="give either total_iterations or batch_size"):
        normalized_weight_decay(0.1, 100, batch_size=10)
    with pytest.raises(ValueError, match="all of batch_size, train_size and epochs"):
        normalized_weight_decay(0.1, batch_size=10)
    with pytest.raises(ValueError, match="total_iterations: expected a finite number > 0, got 0"):
        normalized_weight_decay(0.1, 0)
    with pytest.raises(ValueError, match="lambda_norm: expected a finite number >= 0"):
        normalized_weight_decay(-0.1, 10)


def test_warm_restart_factor_analytic_values():
    f = warm_restart_factor
    assert f(0, 10) == 1.0
    assert f(5, 10) == pytest.approx(0.5)
    assert f(10, 10) == 1.0  # restart
    assert f(2.5, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    # period_mult=2: runs [0,4), [4,12), [12,28)
    assert f(4, 4, 2) == 1.0 and f(12, 4, 2) == 1.0 and f(28, 4, 2) == 1.0
    assert f(8, 4, 2) == pytest.approx(0.5)
    assert f(20, 4, 2) == pytest.approx(0.5)
    assert f(27, 4, 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 16)))
    # eta_min/eta_max
    assert f(5, 10, eta_min=0.2, eta_max=0.8) == pytest.approx(0.5)
    assert f(0, 10, eta_min=0.2, eta_max=0.8) == pytest.approx(0.8)
    for t in range(40):
        start, length = 0, 3
        while t >= start + length:
            start, length = start + length, length * 3
        assert f(t, 3, 3, 0.1) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * (t - start) / length)))
    with pytest.raises(ValueError, match="period: expected a number of steps > 0"):
        f(1, 0)
    with pytest.raises(ValueError, match="period_mult: expected a number >= 1"):
        f(1, 5, 0.5)
    with pytest.raises(ValueError, match="expected 0 <= eta_min <= eta_max"):
        f(1, 5, eta_min=2.0)


def test_warm_restarts_keeps_group_ratios():
    a, b = nn.Parameter(torch.ones(1)), nn.Parameter(torch.ones(1))
    opt = SGDW([{"params": [a], "lr_mult": 0.1}, {"params": [b]}], lr=1.0)
    sched = WarmRestarts(opt, period=4, eta_min=0.5)
    for t in range(9):
        eta = warm_restart_factor(t, 4, eta_min=0.5)
        assert sched.eta == pytest.approx(eta)
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1 * eta, eta])
        opt.step()
        sched.step()


def test_clip_returns_and_records_pre_clip_norm():
    w1, w2 = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2, 2))
    w1.grad = torch.tensor([3.0, 0.0])
    w2.grad = torch.tensor([[0.0, 4.0], [0.0, 12.0]])
    clipper = GradClipper(max_norm=2.6)
    assert clipper([w1, w2]) == pytest.approx(13.0)
    torch.testing.assert_close(w1.grad, torch.tensor([0.6, 0.0]), atol=1e-5, rtol=0)
    total = math.sqrt(float(w1.grad.pow(2).sum() + w2.grad.pow(2).sum()))
    assert total == pytest.approx(2.6, abs=1e-5)
    assert clipper([w1, w2]) == pytest.approx(2.6, abs=1e-5)  # below max: untouched
    assert clipper.history == pytest.approx([13.0, 2.6], abs=1e-5)
    assert clipper.clipped == 1 and clipper.last == pytest.approx(2.6, abs=1e-5)
    w1.grad = torch.tensor([1.0, -1.0])
    w2.grad = None
    assert clip_grad_norm([w1], float("inf"), norm_type=1.0) == pytest.approx(2.0)


def test_clip_nonfinite_error_and_skip():
    model = Net()
    opt = AdamW(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.head.weight.grad[0, 0] = float("nan")
    with pytest.raises(NonFiniteGradientError, match=r"non-finite values in \['head.weight'\]"):
        clip_grad_norm(model.named_parameters(), 1.0)
    assert model.head.bias.grad is not None  # error leaves gradients alone
    before = copy.deepcopy(model.state_dict())
    clipper = GradClipper(1.0, on_nonfinite="skip")
    assert math.isnan(clipper(model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    opt.step()  # nothing changes, not even the decay
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)
    assert clipper.skipped == 1 and math.isnan(clipper.history[0])
    with pytest.raises(ValueError, match="max_norm: expected a number > 0"):
        GradClipper(0.0)
    with pytest.raises(ValueError, match="on_nonfinite: expected one of"):
        GradClipper(1.0, on_nonfinite="ignore")


def test_finite_gradients_whose_float32_norm_overflows_are_clipped_not_called_non_finite():
    w = torch.nn.Parameter(torch.zeros(4))
    w.grad = torch.tensor([3e30, -4e30, 0.0, 1.0])  # each finite; the sum of their squares is not in float32
    assert not math.isfinite(float(torch.nn.utils.get_total_norm([w.grad])))
    total = clip_grad_norm([("w", w)], 1.0)
    assert total == pytest.approx(5e30, rel=1e-6)
    torch.testing.assert_close(w.grad, torch.tensor([0.6, -0.8, 0.0, 0.0]), atol=1e-6, rtol=1e-5)
