"""Round 9 of the metric curves (a tester's pictures of the reports' metric curves): the evaluated
point of a run whose mean guard chose the training mean is the training mean's, not the model's; a
partial epoch's legend fits in the figure; a loss whose first steps dwarf the rest is on a log axis;
a log axis near 1 reads in plain numbers and has enough ticks; a regression's loss axis says its
unit; the caption gives the step of each marked epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.plots import style
from rnnlab.plots.metrics import EVALUATED_MARKER, plot_metrics
from rnnlab.report import _metric_curves
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

REGRESSION = """[task]
kind = "regression"
[data]
dataset = "UnitTest"
[training]
epochs = 8
[training.early_stopping]
patience = 3
"""


def _regression_run(root: Path, *, kept: bool, at_mean: list[str] | None = None) -> RunDir:
    """A regression run of 8 epochs of 7 steps whose early stopping restored epoch 5, with its mean
    guard's record (summary.json ``mean_guard``) and the evaluated figures it wrote (``train_eval``)."""
    root.mkdir(parents=True)
    run = RunDir(root)
    atomic_write_text(run.config, REGRESSION)
    records = [{"epoch": e, "step": 7 * e, "train_loss": 1.0 - 0.05 * e, "val_loss": 1.2 + 0.01 * (e % 3),
                "train_r2": 0.05 * e, "val_r2": 0.02 * (e % 3), "lr": 0.003, "grad_norm": 3.0 + e % 4}
               for e in range(1, 9)]
    for r in records:
        append_jsonl(run.metrics, r)
    guard = {"kept": kept, "model_mse": 1.05, "mean_mse": 1.26, "z": 0.99 if not kept else 3.1, "n_val": 29,
             "margin": 1.645, "baseline": "the training mean", "rows": "series"}
    if at_mean is not None:
        guard["at_mean"] = at_mean
    atomic_write_json(run.summary, {"epochs": 8, "final": records[-1], "best_epoch": 5,
                                    "train_eval": {"loss": 1.0 if not kept else 0.61, "r2": 0.0 if not kept else 0.39},
                                    "mean_guard": guard})
    return run


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title() == title)


def _evaluated(ax, key: str):
    lines = [ln for ln in ax.get_lines() if ln.get_gid() == f"evaluated {key}"]
    assert len(lines) == 1, [ln.get_gid() for ln in ax.get_lines()]
    return lines[0]


# ------------------------------------------------------------------------------ the mean guard's point


def test_a_run_whose_guard_chose_the_training_mean_marks_the_means_figures_not_the_models(tmp_path):
    fig = plot_metrics(_regression_run(tmp_path / "mean", kept=False))
    for title, key in (("loss", "train_loss"), ("R² (against the training mean)", "train_r2")):
        point = _evaluated(_panel(fig, title), key)
        label = point.get_label().replace("\n", " ")
        # what the run evaluated and ships is the training mean: the label says so, not "the evaluated model"
        assert "the training mean" in label and "mean guard" in label and "not the model" in label, label
        assert "eval mode (the evaluated model)" not in label
        # set apart from a model's eval-mode point: another shape and colour
        assert point.get_marker() != EVALUATED_MARKER
        assert point.get_markeredgecolor() != _evaluated(_panel(plot_metrics(
            _regression_run(tmp_path / f"kept-{key}", kept=True)), title), key).get_markeredgecolor()
        assert float(point.get_xdata()[0]) == 5.0  # (at the restored epoch, as before)


def test_a_run_whose_guard_kept_the_model_keeps_the_evaluated_models_label(tmp_path):
    point = _evaluated(_panel(plot_metrics(_regression_run(tmp_path / "kept", kept=True)), "loss"), "train_loss")
    assert point.get_label() == "train loss in eval mode (the evaluated model): 0.61"
    assert point.get_marker() == EVALUATED_MARKER
    # the guard's record read through a list of records too, with the run named
    run = _regression_run(tmp_path / "mean", kept=False)
    by_records = _evaluated(_panel(plot_metrics(run.read_metrics(), run=run), "loss"), "train_loss")
    assert "the training mean" in by_records.get_label()


def test_targets_the_guard_put_at_their_mean_are_named_beside_the_models_point(tmp_path):
    point = _evaluated(_panel(plot_metrics(_regression_run(tmp_path / "some", kept=True, at_mean=["count"])),
                              "loss"), "train_loss")
    label = point.get_label().replace("\n", " ")
    assert "the evaluated model" in label and "count at its training mean" in label, label


# ------------------------------------------------------------------------------ the legends fit


def _partial_records(epochs: int = 4) -> list[dict]:
    """A language model's records whose last epoch the budget ended within (46 of its 118 steps)."""
    records = [{"epoch": e, "step": 118 * e, "train_bpc": 3.2 - 0.3 * e, "val_bpc": 2.6 - 0.1 * e,
                "val_loss": (2.6 - 0.1 * e) * 0.693, "lr": 0.003, "grad_norm": 0.6 / e, "grad_norm_max": 5.0 / e}
               for e in range(1, epochs + 1)]
    records[-1].update(step=118 * (epochs - 1) + 46, steps_in_epoch=46, steps_per_epoch=118)
    for r in records:
        r["train_loss"] = r["train_bpc"] * 0.693
    return records


def test_every_panels_legend_and_the_partial_epochs_entry_lie_inside_the_figure():
    fig = plot_metrics(_partial_records(), title="metrics of lm")
    style.png(fig)  # (drawn as the report draws it)
    renderer = fig.canvas.get_renderer()
    inside = fig.bbox
    legends = [ax.get_legend() for ax in fig.axes if ax.get_visible() and ax.get_legend() is not None]
    assert legends
    for leg in legends:
        box = leg.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, ([t.get_text() for t in leg.get_texts()], box, inside)
    texts = [t.get_text().replace("\n", " ") for leg in legends for t in leg.get_texts()]
    assert any(t.startswith("partial epoch 4:") and "46" in t and "118" in t for t in texts), texts


# ------------------------------------------------------------------------------ the loss axis


def test_a_loss_whose_first_steps_dwarf_the_rest_is_drawn_on_a_log_axis():
    # a language model's loss per step: 6.1 at step 0, then 2.9, 2.5 … down to 1.4 (under one decade)
    losses = [6.1, 2.9, 2.5, *np.linspace(2.3, 1.4, 37)]
    records = [{"step": 10 * i, "tracked_loss": v} for i, v in enumerate(losses)]
    records += [{"step": 118 * e, "val_loss": 1.75 - 0.1 * e} for e in range(1, 4)]
    loss = _panel(plot_metrics(records, x="step"), "loss")
    assert loss.get_yscale() == "log" and "log scale" in loss.get_ylabel()
    bottom, top = loss.get_ylim()
    # the part that matters (1.4 to 2.3) takes a readable share of the axis, not its bottom sixth
    assert (np.log(2.3) - np.log(1.4)) / (np.log(top) - np.log(bottom)) > 0.3
    # a loss that falls gradually stays linear
    steady = [{"step": i, "tracked_loss": v} for i, v in enumerate(np.linspace(2.0, 1.4, 40))]
    assert _panel(plot_metrics(steady, x="step"), "loss").get_yscale() == "linear"


def _tick_texts(ax) -> list[str]:
    style.png(ax.get_figure())
    lo, hi = sorted(ax.get_ylim())
    return [t.get_text() for t in ax.yaxis.get_ticklabels(which="both")
            if t.get_text() and t.get_visible() and lo <= t.get_position()[1] <= hi]


def test_a_log_axis_near_one_reads_in_plain_numbers_with_enough_ticks():
    # a language model's gradient norms, 0.3 to 5: 0.5, 1, 2 (not 5×10⁻¹, 10⁰, 2×10⁰)
    lm = [{"epoch": e, "grad_norm": 0.6 / e, "grad_norm_max": 5.0 / e} for e in range(1, 5)]
    texts = _tick_texts(_panel(plot_metrics(lm), "gradient norm"))
    assert {"0.5", "1", "2"} <= set(texts) and not any("×" in t or "⁰" in t for t in texts), texts
    # a regression's, 2.3 to 9: more than the two labels 3×10⁰ and 5×10⁰
    reg = [{"epoch": e, "grad_norm": 2.3 + 0.5 * e, "grad_norm_max": 9.0 - 0.3 * e} for e in range(1, 11)]
    texts = _tick_texts(_panel(plot_metrics(reg), "gradient norm"))
    assert len(texts) >= 3 and all(float(t) == float(t) for t in texts), texts
    # far from 1 the powers of ten stay (a learning rate)
    lr = [{"epoch": e, "lr": 3e-4 * e} for e in range(1, 10)]
    assert any("10⁻" in t for t in _tick_texts(_panel(plot_metrics(lr), "learning rate")))


def test_a_regressions_loss_axis_says_its_unit(tmp_path):
    loss = _panel(plot_metrics(_regression_run(tmp_path / "r", kept=True)), "loss")
    assert "MSE of standardized targets" in loss.get_ylabel()
    # a classifier's records say nothing of a unit they do not know
    recs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e} for e in range(1, 4)]
    assert _panel(plot_metrics(recs), "loss").get_ylabel() == ""


# ------------------------------------------------------------------------------ the caption


def test_the_caption_gives_the_step_of_each_marked_epoch(tmp_path):
    run = _regression_run(tmp_path / "r", kept=True)
    run.write_adapt(budget={"planned": 70, "events": [{"epoch": 6, "step": 42, "decision": "end_early", "total": 56}]})
    section = _metric_curves(run, run.read_metrics())
    for said in ("epoch 5 = step 35", "epoch 6 = step 42", "epoch 8 = step 56"):
        assert said in section, section[:600]


def test_a_legend_label_wider_than_its_room_is_wrapped_to_it_not_cut():
    said = "val_loss of a validation part named by a caller who says a great deal about where it comes from and why"
    recs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "lr": 0.01, "grad_norm": 1.0 / e} for e in range(1, 6)]
    fig = plot_metrics(recs, labels={"val_loss": said, "lr": said.replace("val_loss", "lr")})
    style.png(fig)
    renderer = fig.canvas.get_renderer()
    loss, lr = (_panel(fig, t).get_legend() for t in ("loss", "learning rate"))
    left, right = loss.get_window_extent(renderer), lr.get_window_extent(renderer)
    # inside the figure, the two columns' legends apart, every word still there
    assert fig.bbox.x0 <= left.x0 and left.x1 <= right.x0 and right.x1 <= fig.bbox.x1, (left, right)
    assert said in [t.get_text().replace("\n", " ") for t in loss.get_texts()]
