"""A fold run is scored by what it predicts: where its mean guard (``[task] mean_guard``) chose the
training mean, by that prediction's validation figure, not the set-aside model's (``rnnlab search``
and ``rnnlab recipe`` through the trial runner, ``rnnlab compare``'s ``val_<metric>@kept``); and the
trial runner's fold budget follows a data file written again at the same path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.compare import at_kept, run_summary
from rnnlab.config import parse_config
from rnnlab.recipe.decide import verdict
from rnnlab.rundir import RunDir
from rnnlab.search.trial import FoldPlan, fold_epochs, run_trial
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

PLAN = FoldPlan(k=2, seed=0)


def _noise_data(path, n=40, k=1):
    """Targets that the series do not tell: every mean guard chooses the training mean."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 10, 1)).astype("float32")
    y = 5.0 + 2.0 * rng.standard_normal((n, k) if k > 1 else n)
    np.savez(path, X=X, y=y)
    return path


def _config(path, lr=0.03, zoneout=0.0, steps=""):
    return parse_config(
        f'[task]\nkind = "regression"\nmean_guard = true\n[data]\npath = "{path}"\n'
        f'[model]\nlayer = "gru"\nhidden_size = 4\nzoneout = {zoneout}\n'
        f'[training]\n{steps or "epochs = 4"}\nlr = {lr}\nbatch_size = 8\nseed = 0\n'
        '[training.early_stopping]\nmonitor = "val_loss"\npatience = 2\n[tracking]\nenabled = false')


def _predicted(run, fold=None):
    """The validation figures of what the run predicts, evaluated: its model with its mean guard's
    decision applied (as ``rnnlab predict`` loads it), on the validation part it was judged on."""
    from rnnlab.train.run_fit import run_model
    from rnnlab.train.trainer import evaluation_tally

    rd = RunDir(run)
    config = rd.read_config()
    task = task_for(config)
    data, model, _ = run_model(rd, config, task, fold)
    return evaluation_tally(model, data.val, task).result()


def _guard(run):
    return json.loads((run / "summary.json").read_text())["mean_guard"]


@pytest.fixture(scope="module")
def noise_trials(tmp_path_factory):
    """Two trials of different configs on the same folds, every fold run predicting the training mean."""
    d = tmp_path_factory.mktemp("noise")
    path = _noise_data(d / "d.npz")
    a = run_trial(_config(path, lr=0.03), PLAN, d / "a", metric="val_rmse")
    b = run_trial(_config(path, lr=0.01, zoneout=0.2), PLAN, d / "b", metric="val_rmse")
    return d, a, b


def test_a_fold_run_whose_guard_chose_the_mean_is_scored_by_the_means_validation_figure(noise_trials):
    d, a, _ = noise_trials
    for fold, run, score in zip(PLAN.folds(), a.run_dirs, a.scores[0], strict=True):
        assert _guard(d / "a" / run)["kept"] is False  # (the data: no guard can keep its model)
        predicted = _predicted(d / "a" / run, fold)
        assert score == pytest.approx(predicted["rmse"], rel=1e-9)
        model = next(r for r in RunDir(d / "a" / run).read_metrics() if r["epoch"] == a.kept[0][fold.index]["epoch"])
        assert abs(model["val_rmse"] - score) > 1e-6  # (the set-aside model's figure, which the trial scored before)


def test_trials_that_all_predict_the_mean_tie(noise_trials):
    _, a, b = noise_trials
    assert a.scores == b.scores  # the same prediction on the same folds: the same figures, to the bit
    v = verdict(b.values, a.values, higher_is_better=False, paired=True)
    assert v.tie and not v.kept, v.reason


def test_every_figure_it_scores_is_the_prediction_s(noise_trials):
    """val_loss and val_r2 too (the training mean's validation R² is 0), from the same runs, reused."""
    d, _, _ = noise_trials
    path = d / "d.npz"
    for metric, key in (("val_loss", "loss"), ("val_r2", "r2")):
        result = run_trial(_config(path, lr=0.03), PLAN, d / "a", metric=metric)  # (finished runs: read again)
        for fold, run, score in zip(PLAN.folds(), result.run_dirs, result.scores[0], strict=True):
            assert score == pytest.approx(_predicted(d / "a" / run, fold)[key], rel=1e-9, abs=1e-12), metric
        if metric == "val_r2":
            assert result.scores == [[0.0, 0.0]]


def test_val_mae_is_the_prediction_s_too_not_the_models(noise_trials):
    """The guard records the mean's absolute errors: val_mae is scored as the mean's, not refused
    (tests/test_guard_mae_and_mean_ties.py has the refusal of a summary from before that)."""
    d, _, _ = noise_trials
    result = run_trial(_config(d / "d.npz", lr=0.03), PLAN, d / "a", metric="val_mae")
    for fold, run, score in zip(PLAN.folds(), result.run_dirs, result.scores[0], strict=True):
        assert score == pytest.approx(_predicted(d / "a" / run, fold)["mae"], rel=1e-6)


def test_compare_shows_the_prediction_s_figure_at_kept(noise_trials):
    d, a, _ = noise_trials
    run = d / "a" / a.run_dirs[0]
    row = run_summary(run)
    predicted = _predicted(run, PLAN.folds()[0])
    assert row[at_kept("val_rmse")] == pytest.approx(predicted["rmse"], rel=1e-9)
    assert row[at_kept("val_loss")] == pytest.approx(predicted["loss"], rel=1e-9)
    assert row[at_kept("val_rmse")] == a.scores[0][0]  # (one reader: the figure the search scored)


def test_some_targets_at_their_mean_are_scored_target_by_target(tmp_path):
    """K = 2 targets, the guard putting the second at its training mean and keeping the model for
    the first (the record of such a decision, over a real run's figures): the score mixes the
    model's errors on the first with the mean's on the second, in each target's units."""
    from rnnlab.train.trainer import train

    path = _noise_data(tmp_path / "d.npz", n=48, k=2)
    np.savez(path, X=np.load(path)["X"], y=np.load(path)["y"] * [1.0, 30.0])  # (targets of other scales)
    config = _config(path)
    config = config.model_copy(update={"training": config.training.model_copy(update={"epochs": 3})})
    run = tmp_path / "run"
    train(config, out=run, progress=False, log=None)
    summary = json.loads((run / "summary.json").read_text())
    block = summary["mean_guard"]
    first, second = list(block["by_target"])
    summary["mean_guard"] = {**block, "kept": True, "at_mean": [second]}
    (run / "summary.json").write_text(json.dumps(summary))
    predicted = _predicted(run)  # (the guard's decision applied as the summary records it)
    row = run_summary(run)
    assert row[at_kept("val_rmse")] == pytest.approx(predicted["rmse"], rel=1e-9)
    assert row[at_kept("val_loss")] == pytest.approx(predicted["loss"], rel=1e-9)
    model = next(r for r in RunDir(run).read_metrics() if r["epoch"] == summary["best_epoch"])
    assert abs(model["val_rmse"] - row[at_kept("val_rmse")]) > 1e-6


def test_a_data_file_written_again_at_the_same_path_gets_its_own_fold_budget(tmp_path):
    """In one process (a notebook), the trial runner plans a regenerated file's folds from the file
    as it is now: a stale budget misplaces every pruning report."""
    path = _noise_data(tmp_path / "d.npz", n=40)
    config = _config(path, steps="steps = 40")
    small = fold_epochs(config, PLAN)
    _noise_data(path, n=400)
    fresh = _noise_data(tmp_path / "copy.npz", n=400)  # (another path: planned afresh in any case)
    assert fold_epochs(config, PLAN) == fold_epochs(_config(fresh, steps="steps = 40"), PLAN) != small


def test_a_forecaster_whose_guard_chose_its_reference_is_scored_by_the_reference(tmp_path):
    """A forecaster's guard falls back to its reference forecast: the fold score is that forecast's
    validation figure (summary.json's baselines, scored on the same steps), as evaluated."""
    from rnnlab.train.run_fit import run_model
    from rnnlab.train.trainer import batching, evaluation_tally

    config = parse_config('[task]\nkind = "forecasting"\nmean_guard = true\nrelative_to = "seasonal_naive"\n'
                          '[data]\ndataset = "Airline"\nbptt = 12\n[model]\nlayer = "gru"\nhidden_size = 4\n'
                          '[training]\nepochs = 3\nlr = 0.001\n[tracking]\nenabled = false')
    plan = FoldPlan(k=2, seed=0, forward=True)
    result = run_trial(config, plan, tmp_path / "t", metric="val_mase")
    for fold, run, score, kept in zip(plan.folds(), result.run_dirs, result.scores[0], result.kept[0], strict=True):
        rd = RunDir(tmp_path / "t" / run)
        assert _guard(rd.path)["kept"] is False  # (3 epochs at a small lr: no model beats its reference)
        recorded = rd.read_config()
        task = task_for(recorded)
        data, model, _ = run_model(rd, recorded, task, fold)
        predicted = evaluation_tally(model, data.val, task, window=batching(recorded).stateful_window).result()
        assert score == pytest.approx(predicted["mase"], rel=1e-9)
        model_mase = next(r for r in rd.read_metrics() if r["epoch"] == kept["epoch"])["val_mase"]
        assert abs(model_mase - score) > 1e-6
