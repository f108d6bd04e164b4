"""Regression runs whose mean guard (``[task] mean_guard``) chose the training mean, on targets the
series do not tell: (1) such a run records the mean's absolute errors, so a search scored by
``val_mae`` scores the mean's validation MAE (each target's in its units for K > 1), not refused; a
summary from before they were recorded still reads, and is refused in one line; (2) a recipe step
(and ``rnnlab compare``) whose runs all predicted the mean is a tie that says so, and what can help,
not that a finer metric or more folds can tell the settings apart. Real tiny runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnlab.compare import group_runs, grouped_table, run_summary, single_runs_notes
from rnnlab.config import load_config, parse_config
from rnnlab.data import stratified_split
from rnnlab.data.folds import held_out_indices
from rnnlab.doctor.fit import signal_checks
from rnnlab.errors import ConfigError
from rnnlab.recipe.decide import all_at_mean
from rnnlab.recipe.run import RecipeOptions, run_recipe_command
from rnnlab.rundir import RunDir
from rnnlab.search.study import SearchOptions, run_search
from rnnlab.search.trial import plan_for_config, run_trial
from rnnlab.task import REGRESSION, task_for
from rnnlab.train.mean_guard import MeanGuard, guarded_figures

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

MEAN_GUARD_REMEDY = signal_checks(values=True)  # (the fit findings' words, which the tie reuses)

CONFIG = """name = "noise"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{path}"
val_fraction = 0.25
[model]
layer = "gru"
hidden_size = 4
[training]
epochs = 3
lr = 0.03
batch_size = 8
seed = 0
threads = 1
[training.early_stopping]
monitor = "val_loss"
patience = 2
[tracking]
enabled = false
[search]
trials = 1
folds = 2
metric = "{metric}"
reports = "none"
[search.space]
"model.zoneout" = {{ choices = [0.0, 0.1] }}
"""

SAID = "every run of both sides predicted the training mean"


def _noise(path: Path, n: int = 40, k: int = 1) -> Path:
    """Targets nothing in the series tells (far from 0 and 1, so a figure in standardized units shows)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 10, 1)).astype("float32")
    y = 5.0 + 2.0 * rng.standard_normal((n, k) if k > 1 else n)
    np.savez(path, X=X, y=y)
    return path


def _config_file(d: Path, metric: str) -> Path:
    path = d / f"{metric}.toml"
    path.write_text(CONFIG.format(path=_noise(d / "d.npz"), metric=metric))
    return path


def _mae_of_the_mean(y: np.ndarray, held: np.ndarray) -> np.ndarray:
    """By hand: the mean absolute error, per target, of predicting the training part's mean on ``held``."""
    y = y.reshape(len(y), -1)
    train = np.setdiff1d(np.arange(len(y)), held)
    return np.abs(y[held] - y[train].mean(axis=0)).mean(axis=0)


def _guards(directory: Path) -> list[dict]:
    return [json.loads(p.read_text())["mean_guard"] for p in sorted(directory.glob("**/fold-*/summary.json"))]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """``rnnlab search`` scored by val_mae, the guard on, on noise: one trial of 2 folds."""
    d = tmp_path_factory.mktemp("search")
    config = _config_file(d, "val_mae")
    run_search(SearchOptions(config=str(config), out=str(d / "s"), final=False), log=None)
    return d, load_config(str(config))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """``rnnlab recipe`` (2 seeds x 2 folds, the zoneout step) on noise, scored by val_rmse."""
    d = tmp_path_factory.mktemp("recipe")
    lines: list[str] = []
    config = _config_file(d, "val_rmse")
    outcome = run_recipe_command(RecipeOptions(config=str(config), seeds=2, steps="zoneout", out=str(d / "r"),
                                               final=False), log=lines.append)
    return d / "r", lines, outcome


# --- 1. val_mae of a run that predicts the mean -------------------------------------------------------


def test_a_search_scored_by_val_mae_scores_the_training_means_mae(search):
    d, config = search
    trial = d / "s" / "trials" / "0000"
    record = json.loads((trial / "trial.json").read_text())
    assert all(g["kept"] is False for g in _guards(trial)) and len(_guards(trial)) == 2  # (noise: the mean)
    y = np.load(config.data.path)["y"]
    plan = plan_for_config(config, config.search)
    for fold, run, score, kept in zip(plan.folds(), record["run_dirs"], record["scores"][0], record["kept"][0],
                                      strict=True):
        held = held_out_indices(REGRESSION.strata(y.reshape(-1, 1)), fold)
        assert score == pytest.approx(float(_mae_of_the_mean(y, held)[0]), rel=1e-5)
        model = next(r for r in RunDir(trial / run).read_metrics() if r["epoch"] == kept["epoch"])
        assert abs(model["val_mae"] - score) > 1e-4  # (not the set-aside model's figure)


def test_a_summary_from_before_the_mae_was_recorded_still_reads_and_is_refused_in_one_line(search, tmp_path):
    d, config = search
    old = tmp_path / "old"
    shutil.copytree(d / "s" / "trials" / "0000", old)
    for path in old.glob("fold-*/summary.json"):
        summary = json.loads(path.read_text())
        del summary["mean_guard"]["mean_mae"]
        path.write_text(json.dumps(summary))
        guard = MeanGuard(**summary["mean_guard"])
        assert guard.mean_mae is None and not guard.kept
        assert set(guarded_figures(summary)) == {"val_loss", "val_r2", "val_rmse"}
    plan = plan_for_config(config, config.search)
    trial = load_config(str(old / "config.toml"))  # (the trial's config, as the search ran it)
    with pytest.raises(ConfigError) as e:
        run_trial(trial, plan, old, metric="val_mae")  # (the finished runs reused, not trained again)
    said = str(e.value)
    assert "\n" not in said and said.startswith("search.metric = 'val_mae': the fold run ")
    assert "before rnnlab recorded the training mean's absolute errors" in said and "(val_loss, val_r2, val_rmse)" in said
    assert run_trial(trial, plan, old, metric="val_rmse").values  # (the figures it has still score)


def test_k_targets_record_each_means_mae_in_its_units(tmp_path):
    """K = 2 targets of other scales: each target's mean's MAE in its units, the pooled val_mae their
    mean; where the guard keeps the model for one, the score mixes its model's MAE with the other's
    mean's, as evaluated."""
    from rnnlab.train.run_fit import run_model
    from rnnlab.train.trainer import evaluation_tally, train

    path = _noise(tmp_path / "d.npz", n=48, k=2)
    np.savez(path, X=np.load(path)["X"], y=np.load(path)["y"] * [1.0, 30.0])
    config = parse_config(CONFIG.format(path=path, metric="val_mae"))
    run = tmp_path / "run"
    train(config, out=run, progress=False, log=None)
    summary = RunDir(run).read_summary()
    block = summary["mean_guard"]
    y = np.load(path)["y"]
    held = stratified_split(REGRESSION.strata(y), config.data.val_fraction, config.training.seed)[1]
    by_hand = _mae_of_the_mean(y, held)
    recorded = [t["mean_mae"] for t in block["by_target"].values()]
    assert recorded == pytest.approx(by_hand.tolist(), rel=1e-5)
    assert recorded[1] > 10 * recorded[0]  # (in each target's units)
    first, second = list(block["by_target"])
    # the guard's decision, as it would record a run that keeps the model for the first target only
    summary["mean_guard"] = {**block, "kept": True, "at_mean": [second]}
    RunDir(run).summary.write_text(json.dumps(summary))
    rd = RunDir(run)
    data, model, _ = run_model(rd, rd.read_config(), task_for(config))  # (the decision applied, as predict does)
    predicted = evaluation_tally(model, data.val, task_for(config)).result()
    assert guarded_figures(summary)["val_mae"] == pytest.approx(predicted["mae"], rel=1e-5)
    assert guarded_figures(summary)["val_mae"] == pytest.approx(
        np.mean([block["by_target"][first]["model_mae"], by_hand[1]]), rel=1e-5)


# --- 2. a tie of runs that all predict the mean --------------------------------------------------------


def test_the_recipes_tie_says_every_run_predicted_the_mean_and_what_can_help(recipe):
    out, lines, outcome = recipe
    assert _guards(out / "candidates") and all(g["kept"] is False for g in _guards(out / "candidates"))
    (tried,) = outcome.result.outcomes[0].tried
    assert tried.verdict.tie and not tried.kept
    step = next(line for line in lines if line.startswith("step zoneout:"))
    md = (out / "recipe.md").read_text()
    reason = json.loads((out / "recipe.json").read_text())["steps"][0]["tried"][0]["reason"]
    for said in (step, md, reason):
        assert SAID in said and "not compared at all" in said and MEAN_GUARD_REMEDY in said
        assert "finer metric" not in said and "cannot tell these apart" not in said


def test_compare_says_the_same_of_runs_that_all_predicted_the_mean(recipe):
    out, _, _ = recipe
    runs = sorted(out.glob("candidates/*/seed-*/fold-1"))  # 2 configs x 2 seeds, the same fold
    assert len(runs) == 4
    rows = [run_summary(r) for r in runs]
    table = grouped_table(group_runs(rows))
    assert "not better: tie: the same score on every seed" in table and SAID in table
    assert "finer metric" not in table
    (_, tie) = single_runs_notes(rows[:2])
    assert tie.startswith("note: every run scores val_rmse@kept")
    assert "(every run predicted the training mean: the mean guard" in tie and "finer metric" not in tie


def test_the_remedy_is_the_fit_findings_own_for_a_guarded_regression(search):
    """The words the tie reuses are those the no_signal finding gives a regression its guard set aside."""
    from rnnlab.doctor import fit_findings

    _, config = search
    records = [{"epoch": e, "step": 5 * e, "train_loss": 1.0 / e, "val_loss": 1.1, "train_r2": 1 - 1.0 / e,
                "val_r2": -0.1, "train_rmse": 1.0, "val_rmse": 1.1, "train_mae": 1.0, "val_mae": 1.1}
               for e in range(1, 6)]
    guard = MeanGuard(False, 1.1, 1.0, -0.6, 40)
    found = fit_findings(records, {"loss": 0.2, "rmse": 0.4, "mae": 0.3, "r2": 0.8}, config, n_val=40,
                         guard=guard, epoch=5)
    (no_signal,) = [f for f in found if f.check == "no_signal"]
    assert MEAN_GUARD_REMEDY in no_signal.remedy and MEAN_GUARD_REMEDY in all_at_mean()
