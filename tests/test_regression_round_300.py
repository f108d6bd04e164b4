"""Tester helper-300's findings, fixed by helper-303: a no-signal verdict after too few steps, early
stopping's sentence on a run its budget ended, no-signal per target (K > 1), the study's metric as its
test figure, a hold-out larger than the training part, CSV integer targets judged as an .npz's, a step
column named as the target, and the same-file test error's words. Hand-made records, no training."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from rnnlab.config import DataConfig, parse_config
from rnnlab.data import load_data
from rnnlab.data.checks import check_targets
from rnnlab.data.files import load_csv
from rnnlab.doctor import fit_findings
from rnnlab.errors import DataError
from rnnlab.search.study import final_test_line, study_test_metric
from rnnlab.task import REGRESSION
from rnnlab.train.mean_guard import MeanGuard, judge

NAMES = ["conc", "noise", "area"]


def _cfg(extra: str = "", data: str = "") -> object:
    return parse_config(f'[task]\nkind = "regression"\n[data]\npath = "x.npz"\n{data}\n[training]\nsteps = 10\n{extra}')


def _short(losses: tuple[float, float]) -> list[dict]:
    # (the tester's 10-step run: epoch 1 kept as the best on validation, the budget ended at epoch 2)
    return [{"epoch": 1, "step": 7, "train_loss": losses[0], "train_r2": -0.02, "val_loss": 0.945, "val_r2": 0.0056},
            {"epoch": 2, "step": 14, "train_loss": losses[1], "train_r2": 0.257, "val_loss": 0.973, "val_r2": -0.024}]


# (the short run's guard, as its summary.json recorded it: z = 0.2, the training mean kept)
SHORT_GUARD = MeanGuard(kept=False, model_mse=0.9447, mean_mse=0.9501, z=0.1999, n_val=20)


def test_a_loss_still_falling_is_too_few_steps_not_no_signal():
    train_eval = {"loss": 0.954, "rmse": 8.8, "mae": 7.5, "r2": 0.046}
    found = fit_findings(_short((1.02, 0.74)), train_eval, _cfg(), n_val=20, epoch=1, guard=SHORT_GUARD)
    assert [f.check for f in found] == ["underfit"], found
    (u,) = found
    assert u.message.index("(1) Too few steps") < u.message.index("No signal on validation yet")
    assert "budget ended 1 epoch after epoch 1" in u.message and "Early stopping restored" not in u.message
    assert u.remedy.startswith("(1) train longer: set training.steps = 2000")
    # the same weights with a loss that had stopped falling: no signal, the targets to check
    (flat,) = fit_findings(_short((0.75, 0.74)), train_eval, _cfg(), n_val=20, epoch=1, guard=SHORT_GUARD)
    assert flat.check == "no_signal" and flat.remedy.startswith("check the targets")
    # a hold-out of 0.95 leaves a training part smaller than validation: said first, before the targets
    (held,) = fit_findings(_short((0.75, 0.74)), train_eval, _cfg(data="val_fraction = 0.95"), n_val=110, epoch=1,
                           guard=SHORT_GUARD)
    assert held.remedy.startswith("first lower data.val_fraction (now 0.95: about 6 training sequences against 110")


def _budget_records(epochs: int = 22) -> list[dict]:
    losses = np.linspace(1.0, 0.5, epochs)  # (still falling at the end)
    return [{"epoch": e, "step": 7 * e, "train_loss": float(losses[e - 1]), "train_r2": 0.3, "val_loss": 0.5,
             "val_r2": 0.3} for e in range(1, epochs + 1)]


def test_early_stopping_is_blamed_only_where_its_patience_ended_the_run():
    train_eval = {"loss": 0.6, "rmse": 1.0, "mae": 1.0, "r2": 0.3}
    # (the budget ended one epoch after the kept epoch 21, patience 20: the later epochs were never judged)
    (u,) = fit_findings(_budget_records(), train_eval, _cfg("[training.early_stopping]\npatience = 20"), epoch=21)
    assert "Early stopping restored" not in u.message and u.message.count("(1) Too few steps") == 1
    assert "still falling" in u.message and "before early stopping's patience (20)" in u.message
    # patience 1 ran out after epoch 21: there, more steps would not change the kept weights
    (p,) = fit_findings(_budget_records(), train_eval, _cfg("[training.early_stopping]\npatience = 1"), epoch=21)
    assert "(1) Early stopping restored epoch 21 of 22" in p.message and "Too few steps" not in p.message


def _k3(noise_train: float, noise_out: float = 0.0) -> tuple[object, MeanGuard, dict]:
    cfg = parse_config(f'[task]\nkind = "regression"\n[data]\npath = "x.csv"\ntarget_column = {json.dumps(NAMES)}\n')
    y = np.random.default_rng(1).standard_normal((60, 3))
    guard = judge(y * [0.95, noise_out, 0.95] + [0.0, 0.1, 0.0], y, names=NAMES)
    return cfg, guard, {"train_eval": {"r2": {"conc": 0.99, "noise": noise_train, "area": 0.99}}}


def _flat(epochs: int = 6) -> list[dict]:
    return [{"epoch": e, "step": 200 * e, "train_loss": 0.1, "train_r2": 0.8, "val_loss": 0.3, "val_r2": 0.6}
            for e in range(1, epochs + 1)]


def test_a_target_without_signal_gets_no_signal_not_underfit_or_overfit_remedies():
    train_eval = {"loss": 0.2, "rmse": 1.0, "mae": 1.0, "r2": 0.8}
    # the tester's 0.488: learned its training part beyond its noise, nothing that carries over
    cfg, guard, by_target = _k3(0.488)
    assert guard.at_mean == ("noise",)
    found = fit_findings(_flat(), train_eval, cfg, n_val=60, guard=guard, by_target=by_target)
    assert [f.check for f in found] == ["no_signal"], found
    assert found[0].numbers["no_signal_targets"] == ["noise"] and "for noise" in found[0].title
    assert "check the targets" in found[0].remedy and "recurrent_dropout" not in found[0].remedy
    # a target that learned its training part no better than its noise either stays underfit, with the
    # targets named among its causes, and is no overfit
    cfg, guard, by_target = _k3(0.01)
    found = fit_findings(_flat(), train_eval, cfg, n_val=60, guard=guard, by_target=by_target)
    assert [f.check for f in found] == ["underfit"], found
    assert "No signal on validation: the validation R² of noise" in found[0].message
    assert found[0].numbers["no_signal_targets"] == ["noise"]
    # a target the guard kept, whose validation R² stays well below its training R², still overfits
    cfg, guard, by_target = _k3(0.97, noise_out=0.5)
    found = fit_findings(_flat(), train_eval, cfg, n_val=60, guard=guard, by_target=by_target)
    assert [f.check for f in found] == ["overfit"] and found[0].numbers["overfit_targets"] == ["noise"]


def test_a_study_gives_its_own_metrics_test_figure_with_the_headline_beside_it():
    test = {"loss": 0.0102, "rmse": 1202.2, "mae": 548.8, "r2": 0.98833}
    scored = study_test_metric(REGRESSION, "val_r2", test)
    assert final_test_line({"test": test}, REGRESSION, scored) == "test R² 0.9883 (test rmse 1202)"
    rmse = study_test_metric(REGRESSION, "val_rmse", test)
    assert final_test_line({"test": test}, REGRESSION, rmse) == "test rmse 1202"
    assert study_test_metric(REGRESSION, "val_r2", {"rmse": 1.0}).name == "rmse"  # (not recorded: the headline)
    assert study_test_metric(REGRESSION, "val_loss", test).name == "rmse"  # (the objective: the headline)


def test_a_hold_out_over_half_warns_with_its_counts(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 12, 1)).astype(np.float32)
    np.savez(tmp_path / "d.npz", X=x, y=x.mean(axis=(1, 2)) + rng.standard_normal(40))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.9), seed=0, task=REGRESSION)
    lines = [str(w.message) for w in said if "data.val_fraction = 0.9:" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"takes {len(d.val)} of the 40 training sequences, leaving {len(d.train)} to train on" in lines[0]


def test_integer_targets_are_judged_alike_in_a_csv_and_an_npz():
    y = np.array([0, 1, 2] * 10)
    with pytest.raises(DataError) as npz:
        check_targets(y, "data.path (d)")
    with pytest.raises(DataError) as csv:
        check_targets(y.astype(str), "data.path (d)")
    assert str(csv.value) == str(npz.value) and "looks like class labels" in str(csv.value)
    assert check_targets(np.char.add(y.astype(str), ".0"), "data.path (d)").shape == (30, 1)  # (floats: values)
    assert check_targets(np.arange(30).astype(str), "data.path (d)").shape == (30, 1)  # (many values)


def test_a_step_column_named_as_the_target_is_refused(tmp_path):
    steps = [f"t{i}" for i in range(40)]
    rows = np.random.default_rng(0).standard_normal((6, 41)).round(4)
    header = steps[:5] + steps[6:] + ["t5"]  # (t5 moved to the end: the steps go t4 -> t6)
    path = tmp_path / "steps_only.csv"
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    with pytest.raises(DataError, match=r"the target column 't5' is one of the numbered step columns .*t4 -> t6"):
        load_csv(path, ["t5"], where="data.path")
    # the next value after the last step is a target like any other
    path.write_text(",".join(steps + ["t40"]) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    assert load_csv(path, ["t40"], where="data.path")[0].shape[:2] == (6, 40)


def test_the_same_file_as_test_split_names_the_test_figures(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((20, 8, 1)).astype(np.float32), y=rng.standard_normal(20))
    cfg = DataConfig(path=str(tmp_path / "d.npz"), test_path=str(tmp_path / "d.npz"))
    with pytest.raises(DataError, match="the test figures would be measured on training data"):
        load_data(cfg, seed=0, task=REGRESSION)
