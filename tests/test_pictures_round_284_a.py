"""Metric curves and weight-norm histograms (tester, round 284): every task's loss axis names its
unit from one table; the always-log panels (learning rate, gradient norm) say they are log; the
histograms' untrained row reads "before training", not "epoch 1"."""

from __future__ import annotations

import typing

import numpy as np

from rnnlab.config import TaskConfig
from rnnlab.plots import plot_metrics, plot_norm_histograms
from rnnlab.plots.metrics import LOSS_UNITS, loss_unit_of
from rnnlab.rundir import RunDir, atomic_write_text
from rnnlab.tracker import TrackedSeries


def _panel(fig, title):
    return next(ax for ax in fig.axes if ax.get_title() == title)


def test_every_task_kind_has_a_loss_unit():
    kinds = typing.get_args(TaskConfig.model_fields["kind"].annotation)
    assert set(LOSS_UNITS) == set(kinds)
    assert LOSS_UNITS["language_model"] == "cross-entropy, nats per token"
    assert LOSS_UNITS["forecasting"] == "MSE of scaled values"


def test_a_classifier_run_labels_its_loss_axis(tmp_path):
    run = RunDir(tmp_path)
    atomic_write_text(run.config, '[task]\nkind = "classification"\n[data]\ndataset = "UnitTest"\n')
    assert loss_unit_of(run) == "cross-entropy, nats"


def test_learning_rate_and_gradient_norm_axes_say_log():
    recs = [{"epoch": e, "train_loss": 1.0 / e, "lr": 1e-3 * e, "grad_norm": 3.0 + e} for e in range(1, 5)]
    fig = plot_metrics(recs)
    for title in ("learning rate", "gradient norm"):
        ax = _panel(fig, title)
        assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    assert _panel(fig, "loss").get_ylabel() == ""  # (a linear loss axis of records without a task says nothing)


def test_the_untrained_histogram_row_says_before_training():
    steps, epochs = np.array([0, 5]), np.array([1.0, 2.0])  # (as tracked.jsonl records step 0: epoch 1)
    tracked = {"w": {"l2_per_channel": TrackedSeries(steps, np.random.default_rng(0).random((2, 6)), epochs)}}
    fig = plot_norm_histograms(tracked, rows=2)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["step 0\n(before training)", "step 5\nepoch 2"]
