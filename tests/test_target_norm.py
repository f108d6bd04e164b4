"""Target-norm controller: control laws against hand values, records, errors, and a real run."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnlab.optim.target_norm import TargetNormController, group_channel_norms
from rnnlab.rundir import RunDir, read_jsonl

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "target_norm.py"


def setup(wd=0.2, lr=0.1):
    w = nn.Parameter(torch.tensor([[3.0, 4.0], [0.0, 1.0]]))  # channel norms 5 and 1: mean 3, max 5
    b = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [w], "name": "w", "weight_decay": wd}, {"params": [b]}], lr=lr)
    return w, opt


def test_group_channel_norms_rows_and_vectors():
    w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    conv = torch.zeros(2, 1, 3)
    conv[1, 0] = torch.tensor([2.0, 3.0, 6.0])
    norms = group_channel_norms({"params": [w, torch.tensor([-2.0, 0.5]), conv, torch.tensor(7.0)]})
    torch.testing.assert_close(norms, torch.tensor([5.0, 1.0, 2.0, 0.5, 0.0, 7.0, 7.0]))


def test_multiplicative_law_and_statistic():
    _, opt = setup()
    ctl = TargetNormController(opt, {"w": 2.0}, every=2, mode="multiplicative", gain=0.5)
    ctl.step()
    assert opt.param_groups[0]["weight_decay"] == 0.2  # not yet: every=2
    ctl.step()
    expected = 0.2 * math.exp(0.5 * math.log(3.0 / 2.0))
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(expected)
    ctl.step(), ctl.step()
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(expected * math.exp(0.5 * math.log(1.5)))
    _, opt = setup()
    ctl = TargetNormController(opt, {0: 10.0}, statistic="max", every=1, mode="multiplicative", gain=1.0)
    ctl.step()
    assert ctl.norm("w") == 5.0
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(0.2 * 0.5)  # norm below target: less decay


def test_pi_law_with_anti_windup():
    w, opt = setup()
    ctl = TargetNormController(opt, {"w": 2.0}, every=1, mode="pi", gain=0.5, ki=0.1)
    e = math.log(1.5)
    ctl.step()
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(0.2 * math.exp(0.5 * e + 0.1 * e))
    ctl.step()
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(0.2 * math.exp(0.5 * e + 0.2 * e))

    w, opt = setup()
    ctl = TargetNormController(opt, {"w": 2.0}, every=1, mode="pi", gain=0.5, ki=0.1, max_decay=0.21)
    for _ in range(3):
        ctl.step()
    assert opt.param_groups[0]["weight_decay"] == 0.21  # held at the bound, integral frozen
    with torch.no_grad():
        w.mul_(2.0 / 3.0)  # now exactly on target: e = 0
    ctl.step()
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(0.2)


def test_rate_law():
    w, opt = setup(wd=0.2, lr=0.1)
    ctl = TargetNormController(opt, {"w": 2.0}, every=2, mode="rate", gain=0.5)
    ctl.step(), ctl.step()
    assert opt.param_groups[0]["weight_decay"] == 0.2  # first window: nothing to estimate from
    with torch.no_grad():
        w.mul_(1.1)  # the norm grew from 3.0 to 3.3 while decay 0.2 acted for 2 steps
    ctl.step(), ctl.step()
    applied = 2 * 0.1 * 0.2
    growth = 0.3 + applied * 0.5 * (3.3 + 3.0)
    expected = (growth - 0.5 * (2.0 - 3.3)) / (0.1 * 2 * 3.3)
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(expected)
    # unchanged norm next window: growth estimate is smoothed, G = ½G_old + ½G_new
    ctl.step(), ctl.step()
    g_new = 0.0 + 2 * 0.1 * expected * 3.3
    g = 0.5 * growth + 0.5 * g_new
    assert opt.param_groups[0]["weight_decay"] == pytest.approx((g - 0.5 * (2.0 - 3.3)) / (0.1 * 2 * 3.3))


def test_history_and_run_dir_records(tmp_path):
    _, opt = setup(wd=0.0)
    run = RunDir(tmp_path)
    ctl = TargetNormController(opt, {"w": 3.0}, every=3, mode="multiplicative", run_dir=run, min_decay=1e-4)
    assert opt.param_groups[0]["weight_decay"] == 1e-4  # a group at decay 0 starts at min_decay
    for _ in range(7):
        ctl.step()
    assert [(h["step"], h["group"], h["norm"], h["target"]) for h in ctl.history] == [
        (3, "w", 3.0, 3.0), (6, "w", 3.0, 3.0)
    ]
    assert ctl.relative_error() == {"w": pytest.approx(0.0)}
    recs = read_jsonl(run.tracked)
    assert [(r["step"], r["name"], r["stat"]) for r in recs] == [
        (s, "target_norm/w", stat) for s in (3, 6) for stat in ("norm", "target", "weight_decay")
    ]
    assert recs[2]["value"] == pytest.approx(1e-4) and recs[0]["epoch"] is None


def test_controller_errors():
    _, opt = setup()
    with pytest.raises(KeyError, match="unknown group 'ww'; groups are \\['w', '1'\\]; did you mean 'w'"):
        TargetNormController(opt, {"ww": 1.0})
    with pytest.raises(KeyError, match="group index 5 out of range"):
        TargetNormController(opt, {5: 1.0})
    with pytest.raises(ValueError, match=r"targets\['w'\]: expected a number > 0, got -1"):
        TargetNormController(opt, {"w": -1})
    with pytest.raises(ValueError, match="statistic: expected one of \\['mean', 'max'\\], got 'man'; did you mean"):
        TargetNormController(opt, {"w": 1.0}, statistic="man")
    with pytest.raises(ValueError, match="mode: expected one of"):
        TargetNormController(opt, {"w": 1.0}, mode="p")
    with pytest.raises(ValueError, match="every: expected a positive integer, got 0"):
        TargetNormController(opt, {"w": 1.0}, every=0)
    with pytest.raises(ValueError, match="targets: expected a non-empty mapping"):
        TargetNormController(opt, {})
    with pytest.raises(ValueError, match="expected min_decay <= max_decay"):
        TargetNormController(opt, {"w": 1.0}, min_decay=1.0, max_decay=0.1)
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer"):
        TargetNormController([], {"w": 1.0})


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_gunpoint_controlled_norm_reaches_target_fixed_decay_misses(one_thread, monkeypatch):
    pytest.importorskip("aeon")
    spec = importlib.util.spec_from_file_location("target_norm_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)  # dataclasses look their module up
    spec.loader.exec_module(example)
    res = example.run_experiment(**example.QUICK)
    target = res["target"]
    err = {k: res[k].final_norm / target - 1 for k in ("none", "fixed", "controlled")}
    assert abs(err["controlled"]) <= 0.10, err
    assert abs(err["fixed"]) > 0.10, err
    assert err["none"] == pytest.approx(1 / 0.6 - 1)  # the target is 60% of the undecayed norm
    decays = res["controlled"].decays
    assert len(set(decays)) > 3  # the controller did move the decay
