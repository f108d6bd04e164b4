"""Tester helper-308's compare pictures and report (fixer helper-310): a diverged run's loss puts the
loss panels on a log scale that says so, and another panel leaves it off the scale with a note; a
panel's note is wrapped inside it; a run stopped early whose health check warned points to those
warnings from the report's first section."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np

from rnnlab.doctor import Finding, Report
from rnnlab.plots.compare import plot_compare_metrics
from rnnlab.report import render_report
from rnnlab.rundir import RunDir


def _records(losses, rmse=None) -> list[dict]:
    return [{"epoch": e, "step": 3 * e, "train_loss": v, "val_loss": 1.1 * v,
             **({"val_rmse": rmse[e - 1]} if rmse is not None else {})} for e, v in enumerate(losses, 1)]


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title))


def test_a_diverged_runs_loss_puts_the_loss_panels_on_a_log_scale_and_another_panel_leaves_it_off_the_scale():
    good = _records(list(np.geomspace(0.7, 1e-5, 12)), rmse=list(np.linspace(1.0, 0.5, 12)))
    bad = _records([0.7, 950.0, 3.6, 3.9e12, *[3.6] * 8], rmse=[1.0, 40.0, 500.0, *[300.0] * 9])
    fig = plot_compare_metrics({"lr 0.003": good, "lr 5": bad}, metrics=["train_loss", "val_loss", "val_rmse"])
    for title in ("train loss", "val loss"):
        ax = _panel(fig, title)
        assert ax.get_yscale() == "log", title
        assert re.search(r"log scale \(the values span \d+(\.\d)? decades\)", ax.get_ylabel()), ax.get_ylabel()
    rmse = _panel(fig, "val RMSE")
    # (the healthy run's 1 to 0.5 fills the axis; the diverged run's 500 is noted, not drawn to scale)
    assert rmse.get_yscale() == "linear" and rmse.get_ylim()[1] < 2.0
    assert any("off the scale: lr 5 (up to 500)" in t.get_text() for t in rmse.texts)
    assert "y axes fit the other runs" in fig.get_suptitle()
    # healthy runs alone: linear, as before, and nothing is said of a scale
    calm = plot_compare_metrics({"a": _records(list(np.linspace(0.7, 0.1, 12))),
                                 "b": _records(list(np.linspace(0.7, 0.3, 12)))},
                                metrics=["val_acc", "val_loss"])
    assert _panel(calm, "val loss").get_ylabel() == "loss, lower is better"
    assert "y axes fit" not in calm.get_suptitle()
    plt.close(fig)
    plt.close(calm)


def test_a_panels_no_data_note_is_wrapped_inside_the_panel():
    recs = _records(list(np.linspace(0.7, 0.1, 20)))
    no_val = [{k: v for k, v in r.items() if k != "val_loss"} for r in recs]
    names = {"val_fraction 0.2, recurrent_dropout 0.1, steps 400": recs,
             "val_fraction 0, recurrent_dropout 0.2744, steps 60": no_val}
    fig = plot_compare_metrics(names, metrics=["train_loss", "val_loss"])
    fig.canvas.draw()
    ax = _panel(fig, "val loss")
    (note,) = [t for t in ax.texts if t.get_text().startswith("no data:")]
    assert "\n" in note.get_text()
    box, panel = note.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= panel.x0 - 0.5 and box.x1 <= panel.x1 + 0.5, (box, panel)
    plt.close(fig)


def test_the_fit_section_of_a_run_stopped_early_points_to_the_health_checks_warnings(tmp_path):
    run = RunDir(tmp_path / "stopped")
    Report([Finding("lr_too_large", "warning", "Learning rate too large: updates change the weights by 0.465 per step"),
            Finding("gates_stuck", "warning", "Gates stuck in 'model.rnn' layer 0: forget gate open for 19%"),
            Finding("dead_relu", "info", "39% of ReLU units never activate")]).write(run)
    for e in (1, 2):  # (and no summary.json: stopped before its end)
        run.append(run.metrics, {"epoch": e, "step": 3 * e, "train_loss": 3.6, "val_loss": 5.6})
    page = render_report(run)
    fit = page.split('<section id="fit">', 1)[1].split("</section>", 1)[0]
    assert "found 2 warnings:</b> Learning rate too large; Gates stuck in &#x27;model.rnn&#x27; layer 0." in fit
    assert "href='#health'" in fit and "ReLU" not in fit  # (an info is no warning)
    # a run whose health check found nothing worse than an info says nothing of it there
    Report([Finding("dead_relu", "info", "39% of ReLU units never activate")]).write(run)
    assert "The health check" not in render_report(run).split('<section id="fit">', 1)[1].split("</section>", 1)[0]
