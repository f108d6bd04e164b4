"""A fold run's report (a search's or recipe's trial) draws its predictions on the split the run
evaluated, its validation fold, and never reads the test file (docs/search.md: the search never
sees the test split); a run that evaluated its test split still draws the test split. Per-step
targets keep the CLI's "per-step accuracy" on the study page and the run report's metric panels.
Real tiny runs, no mocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from rnnlab.config import parse_config
from rnnlab.data import Fold, load_data
from rnnlab.plots.metrics import plot_metrics
from rnnlab.plots.per_step import step_predictions
from rnnlab.plots.regression import regression_points
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.search.report import render_study_report
from rnnlab.task import task_for
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FOLD = Fold(k=3, index=0, seed=0)


def _regression_files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for name, n in (("train", 60), ("test", 30)):
        X = rng.normal(size=(n, 6, 1))
        np.savez(tmp_path / f"{name}.npz", X=X, y=X.sum(axis=(1, 2)) * 100.0)
    return tmp_path / "train.npz", tmp_path / "test.npz"


def _tagging_files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    for name, n in (("train", 45), ("test", 30)):
        X = rng.normal(size=(n, 12, 1))
        np.savez(tmp_path / f"{name}.npz", X=X, y=(X[:, :, 0] > 0).astype(np.int64))
    return tmp_path / "train.npz", tmp_path / "test.npz"


def _config(task: str, train_path: Path, test_path: Path):
    return parse_config(f'{task}\n[data]\npath = "{train_path}"\ntest_path = "{test_path}"\n'
                        '[model]\nhidden_size = 4\n[training]\nepochs = 2\nbatch_size = 8\n'
                        '[training.early_stopping]\npatience = 0\n[tracking]\nenabled = false')


def _spoil(path: Path) -> None:
    """The test file, unreadable: a fold run's report must not need it."""
    path.write_bytes(b"not an npz file")


def test_a_fold_runs_regression_report_draws_its_validation_fold_without_the_test_file(tmp_path: Path) -> None:
    train_path, test_path = _regression_files(tmp_path)
    cfg = _config('[task]\nkind = "regression"', train_path, test_path)
    run = train(cfg, out=tmp_path / "trials" / "0000" / "fold-1", progress=False, log=None, fold=FOLD).run_dir
    summary = RunDir(run).read_summary()
    assert summary is not None and summary["test"] is None
    fold_val = load_data(cfg.data, seed=0, fold=FOLD, task=task_for(cfg)).val
    _spoil(test_path)

    points = regression_points(run)
    assert points.split == "validation" and points.series == len(fold_val)
    assert "fold 1 of 3" in points.why
    # the values the run's validation figures score: its own RMSE, from the fold's series and scaling
    assert float(points.errors()["rmse"][0]) == pytest.approx(summary["final"]["val_rmse"], rel=1e-6)
    html = render_report(run)
    assert "predicting the validation split (fold 1 of 3 of the training split" in html
    assert "predicting the test split" not in html and "errors on the test split" not in html
    assert "could not be read" not in html


def test_a_fold_runs_per_step_report_draws_its_validation_fold_without_the_test_file(tmp_path: Path) -> None:
    train_path, test_path = _tagging_files(tmp_path)
    cfg = _config('[task]\nper_step = true', train_path, test_path)
    run = train(cfg, out=tmp_path / "fold-1", progress=False, log=None, fold=FOLD).run_dir
    fold_val = load_data(cfg.data, seed=0, fold=FOLD, task=task_for(cfg)).val
    test_path.unlink()

    points = step_predictions(run)
    assert points.split == "validation" and points.series == len(fold_val)
    accuracy = float((points.predicted == points.actual)[points.valid].mean())
    assert accuracy == pytest.approx(RunDir(run).read_summary()["final"]["val_acc"], rel=1e-6)
    html = render_report(run)
    # (the figure of the split it drew, its accuracy beside it)
    assert "the steps the run&#x27;s validation per-step accuracy (" in html \
        or "the steps the run's validation per-step accuracy (" in html
    assert "could not be read" not in html


def test_a_run_that_evaluated_its_test_split_still_draws_it(tmp_path: Path) -> None:
    train_path, test_path = _regression_files(tmp_path)
    run = train(_config('[task]\nkind = "regression"', train_path, test_path), out=tmp_path / "run",
                progress=False, log=None).run_dir
    points = regression_points(run)
    assert points.split == "test" and points.series == 30 and points.why == ""
    assert float(points.errors()["rmse"][0]) == pytest.approx(RunDir(run).read_summary()["test"]["rmse"], rel=1e-6)


def test_per_step_metric_panels_say_per_step_accuracy(tmp_path: Path) -> None:
    from rnnlab.report import _task_titles

    train_path, test_path = _tagging_files(tmp_path)
    run = train(_config('[task]\nper_step = true', train_path, test_path), out=tmp_path / "run",
                progress=False, log=None).run_dir
    titles = [ax.get_title() for ax in plot_metrics(run, titles=_task_titles(RunDir(run))).axes]
    assert "per-step accuracy" in titles and "accuracy" not in titles


def test_a_per_step_study_page_says_test_per_step_accuracy(tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "search.toml").write_text('[task]\nper_step = true\n[data]\npath = "tags.npz"\n')
    (study / "study.json").write_text(json.dumps({"metric": "val_acc", "direction": "maximize",
                                                  "task": "classification"}))
    (study / "final.json").write_text(json.dumps({"trial": 0, "test": {"loss": 0.1, "acc": 0.9577},
                                                  "baselines": None}))
    html = render_study_report(study, optuna.create_study(direction="maximize"))
    assert "Test per-step accuracy <b>0.9577</b>" in html


def test_a_fold_runs_forecast_picture_ends_with_its_validation_block(tmp_path: Path) -> None:
    """A forecaster's test block is the tail of its series: a fold run's picture forecasts on its
    fold's validation block and draws nothing after it."""
    from rnnlab.data.stream import read_series, split_bounds
    from rnnlab.plots.forecast import forecast_lines

    cfg = parse_config('[task]\nkind = "forecasting"\nseason = 12\n[data]\ndataset = "Airline"\nbptt = 24\n'
                       '[model]\nhidden_size = 4\n[training]\nepochs = 1\n[tracking]\nenabled = false')
    run = train(cfg, out=tmp_path / "fold-1", progress=False, log=None, fold=FOLD).run_dir
    series = read_series(cfg.data).values[0]
    fold = split_bounds(len(series), cfg.data, FOLD)
    lines = forecast_lines(run)
    assert lines.block == "validation" and len(lines.values) == fold.val < split_bounds(len(series), cfg.data, None).val
    assert lines.origins.max() + lines.horizon < fold.val and "fold 1 of 3" in lines.cut
