"""Regression of K > 1 targets on very different scales (round 199): each target's figures in
summary.json and in ``rnnlab train``'s lines, R² as the mean of the targets' R², the mean guard's
test target by target, the fit findings naming the targets that fail, and the note that val_rmse
is the large-scale targets' alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.doctor.fit import fit_findings
from rnnlab.task import RegressionTally, TargetScale, pooled_rmse_note, task_for
from rnnlab.train.mean_guard import MeanGuard, judge

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

NAMES = ["conc", "temp", "count"]


def lab_csv(path: Path, n: int, seed: int, count_shift: float = 0.0) -> Path:
    """A concentration (~0.005, read from the series), a temperature (~300 K, read from the series)
    and a count (~200, not in the series at all; ``count_shift`` moves it on this file only)."""
    rng = np.random.default_rng(seed)
    t = 20
    conc = rng.uniform(0.001, 0.01, n)
    temp = rng.uniform(280, 320, n)
    count = rng.poisson(200, n) + count_shift
    steps = np.arange(t)
    x = conc[:, None] * 1000 * np.sin(steps / 3) + (temp[:, None] - 300) / 10 + 0.05 * rng.standard_normal((n, t))
    header = ",".join(NAMES + [f"t{i}" for i in range(t)])
    rows = [",".join(f"{v:.8g}" for v in (conc[i], temp[i], count[i], *x[i])) for i in range(n)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def lab_config(tmp: Path, steps: int = 60) -> Path:
    train_file = lab_csv(tmp / "train.csv", 160, 0)
    # (the test split's counts 100 above anything trained on: the model, which cannot read them, scores R² < 0)
    test_file = lab_csv(tmp / "test.csv", 60, 1, count_shift=100.0)
    cfg = tmp / "lab.toml"
    cfg.write_text(f"""name = "lab"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{train_file}"
test_path = "{test_file}"
target_column = {json.dumps(NAMES)}
val_fraction = 0.25
normalize = "none"
[model]
hidden_size = 16
[model.head]
pooling = "last"
[training]
steps = {steps}
batch_size = 16
lr = 0.01
threads = 1
[tracking]
health = false
grads_every = 0
weights_every = 0
grad_through_time = false
""")
    return cfg


# ------------------------------------------------------------------------------ the tally


def test_each_targets_rmse_mae_and_r2_are_its_own_and_r2_is_their_mean():
    std = np.array([0.002, 10.0, 14.0])
    tally = RegressionTally(TargetScale(np.array([0.005, 300.0, 200.0]), std))
    y = torch.tensor([[1.0, 1.0, 0.1], [-1.0, -1.0, -0.1], [0.5, 2.0, 0.2], [-0.5, -2.0, -0.2]])
    # conc exact, temp half of each deviation off, count the opposite of its (small) deviation
    out = torch.stack([y[:, 0], y[:, 1] * 0.5, -y[:, 2]], dim=1)
    tally.add(out, y)
    by = tally.by_channel()
    err = (out - y).double().numpy() * std
    dev = y.double().numpy() * std
    assert by["rmse"] == pytest.approx(np.sqrt((err ** 2).mean(0)).tolist())
    assert by["mae"] == pytest.approx(np.abs(err).mean(0).tolist())
    r2 = 1 - (err ** 2).sum(0) / (dev ** 2).sum(0)
    assert by["r2"] == pytest.approx(r2.tolist()) and r2[2] == pytest.approx(-3.0)
    # each target counts alike (scikit-learn's uniform_average), not by its standardized spread on the split,
    # where count's small deviations would weigh almost nothing (the pooled figure: 0.79)
    assert tally.result()["r2"] == pytest.approx(r2.mean())
    assert tally.result()["r2"] < 0


def test_the_score_note_names_the_large_and_the_small_scale_targets():
    note = pooled_rmse_note([0.0026, 11.0, 14.0], NAMES)
    assert note is not None and "val_rmse" in note and "val_loss" in note and "val_r2" in note
    assert "temp and count (std 11, 14) make it" in note and "conc (std 0.0026) counts for almost nothing" in note
    assert pooled_rmse_note([1.0, 9.0], ["a", "b"]) is None  # within 10 times: no note
    assert pooled_rmse_note([3.0], ["a"]) is None


# ------------------------------------------------------------------------------ the mean guard


def test_the_mean_guard_tests_each_target_and_says_which_fail():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((40, 3)) * [1.0, 1.0, 0.2]  # count's validation values near its training mean
    out = y * [0.95, 0.9, 0.0] + [0.0, 0.0, 0.5]  # count: a constant off its mean, worse than the mean
    guard = judge(out, y, names=NAMES)
    assert guard.kept  # (the sum over the targets: conc and temp carry it)
    assert guard.failing == ["count"]
    verdicts = {t.name: t for t in guard.by_target}
    assert verdicts["conc"].z > guard.margin and verdicts["count"].z < 0 and verdicts["count"].r2 < 0
    line = guard.line()
    assert "by target: conc z = " in line and "count does not beat its training mean by 1.645" in line
    saved = json.loads(json.dumps(guard.to_dict()))  # (summary.json's mean_guard, read back by the report)
    assert saved["by_target"]["count"]["beats_mean"] is False
    assert MeanGuard(**saved).failing == ["count"]


# ------------------------------------------------------------------------------ the fit findings


def _records(train_r2: float, val_r2: float, epochs: int = 6) -> list[dict]:
    return [{"epoch": e, "step": 200 * e, "train_loss": 0.1, "train_r2": train_r2, "val_loss": 0.2,
             "val_r2": val_r2} for e in range(1, epochs + 1)]


def test_the_underfit_finding_names_the_target_that_did_not_fit():
    cfg = parse_config(f'[task]\nkind = "regression"\n[data]\npath = "x.csv"\ntarget_column = {json.dumps(NAMES)}\n')
    by_target = {"train_eval": {"r2": {"conc": 0.99, "temp": 0.12, "count": -0.05}}}
    found = fit_findings(_records(0.6, 0.55), {"loss": 0.3, "rmse": 1.0, "mae": 1.0, "r2": 0.353}, cfg,
                         n_val=40, by_target=by_target)
    underfit = [f for f in found if f.check == "underfit"]
    assert len(underfit) == 1
    assert "training R² 0.120, -0.050, 0.990 for temp, count, conc" in underfit[0].title
    assert "temp, count" in underfit[0].title and underfit[0].numbers["train_r2_by_target"]["count"] == -0.05


def test_the_overfit_finding_names_the_target_from_the_guards_validation_r2():
    cfg = parse_config(f'[task]\nkind = "regression"\n[data]\npath = "x.csv"\ntarget_column = {json.dumps(NAMES)}\n')
    rng = np.random.default_rng(1)
    y = rng.standard_normal((60, 3))
    # count: kept by the guard (R² 0.710), well below its training R² (a target the guard set aside is no
    # overfit: it gets the no_signal finding, tests/test_regression_round_300.py)
    guard = judge(y * [0.95, 0.95, 0.5] + [0.0, 0.0, 0.1], y, names=NAMES)
    by_target = {"train_eval": {"r2": {"conc": 0.99, "temp": 0.98, "count": 0.97}}}
    # (pooled, the gap looks small: training 0.98, validation 0.62 by the mean; the pooled check alone
    # would have called it overfit without saying which target)
    found = fit_findings(_records(0.98, 0.62), {"loss": 0.02, "rmse": 1.0, "mae": 1.0, "r2": 0.98}, cfg,
                         n_val=60, guard=guard, by_target=by_target)
    overfit = [f for f in found if f.check == "overfit"]
    assert len(overfit) == 1 and overfit[0].title.startswith("The model overfits count: training R² 0.970 for count")
    assert overfit[0].numbers["overfit_targets"] == ["count"]


# ------------------------------------------------------------------------------ a run, end to end


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "no-guard"])
def test_a_run_records_and_says_each_target(tmp_path, capsys, guard):
    cfg = lab_config(tmp_path)
    if not guard:
        cfg.write_text(cfg.read_text().replace("mean_guard = true", "mean_guard = false"))
    assert task_for(parse_config(cfg.read_text())).target_names(3) == NAMES
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for part in ("train_eval", "test"):
        figures = summary[f"{part}_by_channel"]
        assert set(figures) == {"rmse", "mae", "r2"} and all(list(figures[m]) == NAMES for m in figures)
        # the run's R² is the mean of its targets' (each counts alike)
        assert summary[part]["r2"] == pytest.approx(np.mean(list(figures["r2"].values())))
    test = summary["test_by_channel"]
    assert test["rmse"]["conc"] < 0.01 < 1 < test["rmse"]["count"]  # each in its own units
    lines = out.splitlines()
    assert any(ln.startswith("test R² by target: conc ") for ln in lines), out
    assert any(ln.startswith("test rmse by target: conc ") for ln in lines), out
    warnings = [ln for ln in lines if ln.startswith("warning: test R² below 0 for ")]
    if guard:
        # count (noise) fails its own test: the run predicts its training mean (R² 0 against it), the
        # model the two others
        assert summary["mean_guard"]["at_mean"] == ["count"] and test["r2"]["count"] == 0.0
        assert len(summary["mean_guard"]["by_target"]) == 3 and not warnings
    else:
        assert test["r2"]["count"] < 0  # the counts shifted by 100 on test: worse than the training mean
        assert len(warnings) == 1 and "count (" in warnings[0] and "conc" not in warnings[0]
    assert sum("note: val_rmse (the default score) pools" in ln and "conc (std" in ln for ln in lines) == 1
