"""Round 2 of rnnlab.optim / rnnlab.constraints fixes: resumable target-norm control, argument checks."""

from __future__ import annotations

import io
import math

import pytest
import torch

import rnnlab
from rnnlab.optim import (
    SGDW,
    AdamW,
    GradClipper,
    NAdamW,
    TargetNormController,
    WarmRestarts,
    clip_grad_norm,
)
from rnnlab.regularize import Rule, param_groups

# --- 1. TargetNormController follows a loaded optimizer and resumes exactly -----------------------


def _build(mode: str) -> tuple[torch.nn.Module, AdamW, TargetNormController]:
    torch.manual_seed(0)
    model = torch.nn.LSTM(3, 8)
    groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-1, label="rec")])
    opt = AdamW(groups, lr=0.05)
    ctl = TargetNormController(opt, {"rec": 0.3}, every=3, mode=mode)
    return model, opt, ctl


def _train(model: torch.nn.Module, opt: AdamW, ctl: TargetNormController, steps: range) -> None:
    for t in steps:
        x = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(t))  # step t's batch
        opt.zero_grad()
        model(x)[0].pow(2).sum().backward()
        opt.step()
        ctl.step()


def test_controller_follows_the_groups_after_optimizer_load_state_dict():
    model, opt, ctl = _build("multiplicative")
    opt.load_state_dict(opt.state_dict())  # torch replaces the group dicts
    assert ctl.groups["rec"] is opt.param_groups[0]
    before = opt.param_groups[0]["weight_decay"]
    _train(model, opt, ctl, range(3))  # one control step
    assert opt.param_groups[0]["weight_decay"] == ctl.history[-1]["weight_decay"] != before


@pytest.mark.parametrize("mode", ["rate", "multiplicative", "pi"])
def test_a_resumed_run_continues_exactly_like_an_uninterrupted_one(mode):
    n, k = 14, 7  # k inside a control window (every=3): the partial window's decay sum must carry over
    model, opt, ctl = _build(mode)
    _train(model, opt, ctl, range(n))

    model1, opt1, ctl1 = _build(mode)
    _train(model1, opt1, ctl1, range(k))
    buf = io.BytesIO()
    torch.save({"model": model1.state_dict(), "opt": opt1.state_dict(), "ctl": ctl1.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf)

    model2, opt2, ctl2 = _build(mode)  # fresh objects, as a new process would build them
    model2.load_state_dict(saved["model"])
    opt2.load_state_dict(saved["opt"])
    ctl2.load_state_dict(saved["ctl"])
    _train(model2, opt2, ctl2, range(k, n))

    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, atol=0, rtol=0, msg=name)
    assert [g["weight_decay"] for g in opt2.param_groups] == [g["weight_decay"] for g in opt.param_groups]
    assert ctl2.history == ctl.history and ctl2.steps == n
    assert len({h["weight_decay"] for h in ctl.history}) > 1  # the controller did act


def test_controller_load_state_dict_refuses_another_controllers_state():
    _, opt, ctl = _build("rate")
    other = TargetNormController(opt, {1: 0.5})
    with pytest.raises(ValueError, match=r"state: saved for groups \['rec'\], this controller controls \['default'\]"):
        other.load_state_dict(ctl.state_dict())
    with pytest.raises(ValueError, match="state: not a TargetNormController state_dict, missing keys"):
        ctl.load_state_dict({"steps": 3})


# --- 2. learning rates and WarmRestarts ------------------------------------------------------------


def _p() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(2))


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"period": math.inf}, ValueError, "period: expected a number of steps > 0 (finite), got inf"),
        ({"period": math.nan}, ValueError, "period: expected a number of steps > 0 (finite), got nan"),
        ({"period": "4"}, TypeError, "period: expected a number of steps > 0 (finite), got str '4'"),
        ({"period": 4, "period_mult": math.inf}, ValueError, "period_mult: expected a number >= 1 (finite), got inf"),
        ({"period": 4, "eta_max": math.inf}, ValueError, "eta_max: expected a finite number >= 0, got inf"),
        ({"period": 4, "eta_min": "a"}, TypeError, "eta_min: expected a finite number >= 0, got str 'a'"),
        ({"period": 4, "eta_max": None}, TypeError, "eta_max: expected a finite number >= 0, got NoneType None"),
    ],
)
def test_warm_restarts_refuses_bad_values(kwargs, exc, message):
    opt = torch.optim.SGD([_p()], lr=0.1)
    with pytest.raises(exc) as info:
        WarmRestarts(opt, **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", [AdamW, NAdamW, SGDW])
@pytest.mark.parametrize(
    ("lr", "exc", "message"),
    [
        (-1, ValueError, "lr: expected a finite number >= 0, got -1"),
        (math.nan, ValueError, "lr: expected a finite number >= 0, got nan"),
        (math.inf, ValueError, "lr: expected a finite number >= 0, got inf"),
        ("a", TypeError, "lr: expected a number >= 0, got str 'a'"),
    ],
)
def test_optimizers_refuse_a_bad_lr(cls, lr, exc, message):
    with pytest.raises(exc) as info:
        cls([_p()], lr=lr)
    assert str(info.value) == message
    with pytest.raises(exc) as info:  # the same value as one group's own lr
        cls([{"params": [_p()]}, {"params": [_p()], "lr": lr}], lr=0.1)
    assert str(info.value) == "param group 1 " + message
    p = _p()  # lr 0 stays legal, as in torch: a step changes nothing
    opt = cls([{"params": [p], "lr": 0.0}], lr=0)
    p.grad = torch.ones(2)
    opt.step()
    assert torch.equal(p.detach(), torch.zeros(2))


# --- 3. GradClipper norm_type / max_norm -----------------------------------------------------------


@pytest.mark.parametrize(
    ("norm_type", "exc"),
    [(-1, ValueError), (0, ValueError), (math.nan, ValueError), ("fro", ValueError), (None, TypeError), (True, TypeError)],
)
def test_grad_clipper_refuses_a_meaningless_norm_type(norm_type, exc):
    with pytest.raises(exc) as info:
        GradClipper(1.0, norm_type=norm_type)
    assert str(info.value) == f"norm_type: expected a p-norm order > 0 or inf (2 for the L2 norm), got {norm_type!r}".replace(
        "got None", "got NoneType None").replace("got True", "got bool True")
    w = _p()
    w.grad = torch.tensor([3.0, 4.0])
    with pytest.raises(exc):
        clip_grad_norm([w], 1.0, norm_type=norm_type)
    assert torch.equal(w.grad, torch.tensor([3.0, 4.0]))  # untouched


@pytest.mark.parametrize("norm_type", [math.inf, "inf", 1, 0.5])
def test_grad_clipper_accepts_what_torch_measures_and_nothing_else(norm_type):
    with pytest.raises(ValueError, match="norm_type: expected a p-norm order > 0 or inf"):
        GradClipper(1.0, norm_type=-float(norm_type))
    w = _p()
    w.grad = torch.tensor([3.0, 4.0])
    expected = float(torch.linalg.vector_norm(w.grad, float(norm_type)))
    assert GradClipper(1.0, norm_type=norm_type)([w]) == pytest.approx(expected)
    assert float(w.grad.norm(float(norm_type))) == pytest.approx(1.0)


def test_grad_clipper_max_norm_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match=r"^max_norm: expected a number > 0 \(inf to only measure\), got str '1'$"):
        GradClipper("1")
    with pytest.raises(ValueError, match=r"^max_norm: expected a number > 0 \(inf to only measure\), got nan$"):
        GradClipper(math.nan)


# --- 4. constraints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "exc", "message"),
    [
        ("3", TypeError, "max_value: expected a finite number > 0, got str '3'"),
        (None, TypeError, "max_value: expected a finite number > 0, got NoneType None"),
        (math.inf, ValueError, "max_value: expected a finite number > 0, got inf"),
        (math.nan, ValueError, "max_value: expected a finite number > 0, got nan"),
    ],
)
def test_max_norm_refuses_bad_values(value, exc, message):
    with pytest.raises(exc) as info:
        rnnlab.MaxNorm(value)
    assert str(info.value) == message


def test_constrain_after_step_checks_its_arguments():
    model = torch.nn.LSTM(3, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError) as info:
        rnnlab.constrain_after_step(model, opt)
    assert str(info.value) == (
        "constrain_after_step: the first argument must be the optimizer and the second the model, got LSTM, SGD (swapped)"
    )
    with pytest.raises(TypeError, match=r"^model: expected a torch.nn.Module \(the model to constrain\), got NoneType$"):
        rnnlab.constrain_after_step(opt, None)
    with pytest.raises(TypeError, match="^optimizer: expected a torch.optim.Optimizer, got NoneType$"):
        rnnlab.constrain_after_step(None, model)
