"""Regularization API, round 2: the optimizer's weight_decay and lr reach param_groups' groups,
AR/TAR on the last recurrent layer only, the target-norm controller's status, and a warning for
partly overlapping rules."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from rnnlab.config import parse_config
from rnnlab.optim import AdamW, TargetNormController, WarmRestarts
from rnnlab.regularize import ActivityRegularizer, Rule, param_groups
from rnnlab.train.model import build_model
from rnnlab.train.trainer import build_optimizer


class Stack(nn.Module):
    """AWD-LSTM's shape: separate single-layer LSTMs, then a decoder."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnns = nn.ModuleList([nn.LSTM(3, 5), nn.LSTM(5, 4)])
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.outs = []
        for rnn in self.rnns:
            x, _ = rnn(x)
            self.outs.append(x)
        return self.head(x)


def by_name(groups) -> dict:
    return {g["name"]: g for g in groups}


# --- 1. the optimizer's weight_decay applies to groups that set none -----------------------------


@pytest.mark.parametrize("opt_cls", [torch.optim.AdamW, AdamW])
def test_optimizer_weight_decay_reaches_groups_without_a_decay(opt_cls):
    model = Stack()
    groups = param_groups(model, [Rule(role="recurrent", weight_decay=0.5, label="rec"),
                                  Rule(role="kernel", module_type=nn.Linear, label="head")])
    assert "(optimizer)" in groups.summary()  # the table says whose decay applies
    opt = opt_cls(groups, lr=0.1, weight_decay=1e-2)
    g = by_name(opt.param_groups)
    assert g["rec"]["weight_decay"] == 0.5  # a rule's own decay stays
    assert g["head"]["weight_decay"] == 1e-2 and g["default"]["weight_decay"] == 1e-2
    assert g["no_decay"]["weight_decay"] == 0.0  # biases stay undecayed, explicitly
    # what the decay does: a zero-gradient step shrinks a default-group weight by 1 - lr*wd
    w, b = model.rnns[0].weight_ih_l0, model.rnns[0].bias_ih_l0
    before_w, before_b = w.detach().clone(), b.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(w.detach(), before_w * (1 - 0.1 * 1e-2))
    torch.testing.assert_close(b.detach(), before_b)
    # param_groups' own weight_decay still sets the default group, over the optimizer's
    opt = opt_cls(param_groups(Stack(), weight_decay=1e-3), lr=0.1, weight_decay=0.3)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-3, 0.0]


@pytest.mark.parametrize("optimizer", ["adamw", "sgdw", "adam", "sgd"])
def test_config_run_keeps_its_explicit_decays(optimizer):
    """The trainer's groups take their decays from the config, never from the optimizer's default
    (AdamW's is 1e-2): with training.weight_decay unset the default group stays at 0."""
    cfg = parse_config(
        f'[data]\ndataset = "GunPoint"\n[model]\nhidden_size = 4\n[training]\noptimizer = "{optimizer}"\n'
        '[[training.decay_rules]]\nrole = "recurrent"\nweight_decay = 0.5\n'
        '[[training.decay_rules]]\nrole = "kernel"\nname = "^head"\nlr_mult = 0.5\n'
    )
    groups = build_optimizer(build_model(cfg.model, 1, 2), cfg.training).param_groups
    assert {g["name"]: g["weight_decay"] for g in groups} == {
        "rule0": 0.5, "rule1": 0.0, "default": 0.0, "no_decay": 0.0}
    cfg2 = cfg.model_copy(update={"training": cfg.training.model_copy(update={"weight_decay": 1e-3})})
    groups = build_optimizer(build_model(cfg2.model, 1, 2), cfg2.training).param_groups
    assert {g["name"]: g["weight_decay"] for g in groups} == {
        "rule0": 0.5, "rule1": 1e-3, "default": 1e-3, "no_decay": 0.0}
    assert by_name(groups)["rule1"]["lr"] == pytest.approx(0.5 * cfg.training.lr)


# --- 2. lr_mult acts in any torch optimizer ---------------------------------------------------------


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam, torch.optim.RMSprop])
def test_lr_mult_applies_with_a_plain_torch_optimizer(opt_cls):
    model = Stack()
    opt = opt_cls(param_groups(model, [Rule(module_type=nn.Linear, lr_mult=0.1, label="head")]), lr=1.0)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == pytest.approx(
        {"head": 0.1, "default": 1.0, "no_decay": 1.0})


def test_lr_mult_moves_the_weights_at_the_scaled_rate_and_schedules_keep_the_ratio():
    model = Stack()
    opt = torch.optim.SGD(param_groups(model, [Rule(module_type=nn.Linear, lr_mult=0.1, label="head")]), lr=1.0)
    w, v = model.head.weight, model.rnns[0].weight_ih_l0
    w0, v0 = w.detach().clone(), v.detach().clone()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    torch.testing.assert_close(w.detach(), w0 - 0.1)  # head at lr 0.1, not 1.0
    torch.testing.assert_close(v.detach(), v0 - 1.0)
    sched = WarmRestarts(opt, period=4)
    for _ in range(2):
        opt.step()
        sched.step()
    lrs = by_name(opt.param_groups)
    assert lrs["default"]["lr"] == pytest.approx(0.5)  # half way down the cosine
    assert lrs["head"]["lr"] == pytest.approx(0.05)


def test_lr_mult_same_lr_with_torch_and_rnnlab_optimizers_and_an_explicit_lr_wins():
    rules = [Rule(role="recurrent", lr_mult=0.5, label="rec")]
    ours = AdamW(param_groups(Stack(), rules), lr=1e-2)
    theirs = torch.optim.AdamW(param_groups(Stack(), rules), lr=1e-2)
    assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in theirs.param_groups] == pytest.approx(
        [5e-3, 1e-2, 1e-2])
    given = torch.optim.AdamW(param_groups(Stack(), rules, lr=1e-3), lr=1e-2)  # the group's own lr stays
    assert [g["lr"] for g in given.param_groups] == pytest.approx([5e-4, 1e-3, 1e-3])


# --- 3. AR/TAR on the last recurrent layer (Merity et al., AWD-LSTM) -------------------------------


def ar_tar(h: torch.Tensor, ar: float, tar: float) -> torch.Tensor:
    return ar * h.pow(2).mean() + tar * (h[1:] - h[:-1]).pow(2).mean()


def test_activity_regularizer_defaults_to_the_last_recurrent_module():
    model = Stack().train()
    act = ActivityRegularizer(model, ar=2.0, tar=1.0)
    assert act.hooked == ["rnns.1"]
    model(torch.randn(7, 3, 3))
    torch.testing.assert_close(act.penalty(), ar_tar(model.outs[1], 2.0, 1.0))
    act.remove()
    both = ActivityRegularizer(model, ar=2.0, tar=1.0, modules=list(model.rnns))  # explicit choice
    model(torch.randn(7, 3, 3))
    torch.testing.assert_close(both.penalty(), ar_tar(model.outs[0], 2.0, 1.0) + ar_tar(model.outs[1], 2.0, 1.0))


class Reversed(nn.Module):
    """The top layer is registered first: registration order is not the forward's."""

    def __init__(self) -> None:
        super().__init__()
        self.top = nn.GRU(4, 4)
        self.bottom = nn.GRU(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.bottom(x)[0])[0]


def test_activity_regularizer_warns_once_when_a_recurrent_module_runs_after_the_hooked_one():
    model = Reversed().train()
    act = ActivityRegularizer(model, ar=1.0)
    with pytest.warns(UserWarning, match=r"'bottom'.*ran after it.*modules="):
        model(torch.randn(5, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(torch.randn(5, 2, 3))  # once
        ActivityRegularizer(model, ar=1.0, modules=model.top)
        model(torch.randn(5, 2, 3))  # an explicit choice is not second-guessed
    act.remove()
    stack = Stack().train()
    act = ActivityRegularizer(stack, ar=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loop calling the layers itself, batch after batch
        for _ in range(2):
            stack.rnns[1](stack.rnns[0](torch.randn(5, 2, 3))[0])
    assert act.penalty() > 0


# --- 4. the target-norm controller says whether it reached the target -----------------------------


def controller(target: float, mode: str = "rate", **kw) -> tuple[nn.Parameter, torch.optim.Optimizer, TargetNormController]:
    p = nn.Parameter(torch.ones(4, 4))  # every row's norm is 2; zero gradients: only the decay moves it
    opt = torch.optim.SGD([{"params": [p], "name": "w", "weight_decay": 0.0}], lr=0.1)
    return p, opt, TargetNormController(opt, {"w": target}, every=1, mode=mode, patience=5, **kw)


def run(p, opt, ctl, steps: int) -> None:
    for _ in range(steps):
        p.grad = torch.zeros_like(p)
        opt.step()
        ctl.step()


def test_unreachable_target_is_reported_and_warned_once_also_after_resuming():
    p, opt, ctl = controller(3.0)  # above the norm without decay (2): unreachable
    assert ctl.status() == {"w": "waiting"}
    with pytest.warns(UserWarning, match=r"group 'w', step 5: unreachable: decay at its floor.*target 3"):
        run(p, opt, ctl, 5)
    assert ctl.status()["w"] == "unreachable: decay at its floor and the norm still below target"
    assert ctl.history[-1]["status"] == ctl.status()["w"]
    assert [h["status"] for h in ctl.history[:4]] == ["converging"] * 4  # within its patience
    state = ctl.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(p, opt, ctl, 5)  # one warning only
        p2, opt2, ctl2 = controller(3.0)
        ctl2.load_state_dict(state)
        run(p2, opt2, ctl2, 5)  # nor again after a resume
    assert ctl2.status()["w"].startswith("unreachable")


def test_log_space_mode_from_zero_decay_is_not_converging_while_rate_reaches():
    p, opt, ctl = controller(1.0, mode="multiplicative")
    with pytest.warns(UserWarning, match=r"group 'w', step 5: not converging .*\+100%.*mode='rate'"):
        run(p, opt, ctl, 5)
    assert ctl.status() == {"w": "not converging"}
    p, opt, ctl = controller(1.0, mode="rate")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(p, opt, ctl, 12)
    assert ctl.status() == {"w": "reached"}
    assert abs(ctl.relative_error()["w"]) <= 0.1


# --- 5. partly overlapping rules warn ----------------------------------------------------------------


def test_partly_overlapping_rule_warns_naming_the_parameters_taken_earlier():
    model = Stack()
    with pytest.warns(UserWarning) as record:
        groups = param_groups(model, [Rule(role="kernel", weight_decay=1e-3),
                                      Rule(role=("kernel", "recurrent"), weight_decay=1e-1, label="krec")])
    assert len(record) == 1
    msg = str(record[0].message)
    assert msg.startswith("rules[1] 'krec'") and "rules[0]" in msg
    for name in ("rnns.0.weight_ih_l0", "rnns.1.weight_ih_l0", "head.weight"):
        assert name in msg
    assert by_name(groups)["krec"]["param_names"] == ["rnns.0.weight_hh_l0", "rnns.1.weight_hh_l0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # disjoint rules, and a selector-less "everything else" rule
        param_groups(model, [Rule(role="recurrent"), Rule(role="kernel"), Rule(role="bias")])
        param_groups(model, [Rule(role="recurrent", weight_decay=1e-2), Rule(weight_decay=1e-4)])
