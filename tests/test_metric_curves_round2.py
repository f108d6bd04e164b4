"""Round 2 of the metric curves and the budget that follows the fit (issue of /tmp/u125): no
extension at a negligible training loss, a log loss axis when the losses span decades, the
evaluated model's training figure and the budget's decisions on the curves, the loss per step of a
short run, and a log axis that labels only a few minor ticks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import TEMPLATE, parse_config
from rnnlab.plots import style
from rnnlab.plots.metrics import plot_metrics
from rnnlab.report import _per_step_figure, render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text
from rnnlab.train.fit_budget import FitBudget, FitRule, underfit_check

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TEMPLATE_CFG = parse_config(TEMPLATE)


# ------------------------------------------------------------------------------ the budget's floor


def _fitted_records(epochs: int, last_loss: float, steps_per_epoch: int = 5) -> list[dict]:
    """Records like ItalyPowerDemand's searched run before its first extension: the training loss
    falling from 0.65 to ``last_loss`` (still 16 % over the last quarter), every training batch right
    in training mode from epoch 20 on."""
    losses = np.geomspace(0.65, last_loss, epochs)
    return [{"epoch": e, "step": steps_per_epoch * e, "train_loss": float(loss), "train_acc": 1.0 if e >= 20 else 0.9,
             "lr": 0.01} for e, loss in zip(range(1, epochs + 1), losses, strict=True)]


def _decide(records: list[dict], eval_acc: float) -> FitBudget:
    """The budget of 80 epochs of 5 steps after each record, with the real underfit check."""
    budget = FitBudget.plan(total=400, steps_per_epoch=5, cap=16000)
    rule = budget.rule
    for i, record in enumerate(records):
        budget.after_epoch(record, lambda i=i: underfit_check(records[:i + 1], {"acc": eval_acc, "loss": 0.0486},
                                                                TEMPLATE_CFG, rule),
                           train_acc=lambda: eval_acc)
    return budget


def test_the_budget_does_not_extend_when_the_training_loss_is_negligible():
    records = _fitted_records(80, last_loss=1.4e-4)
    # (the underfit check alone still says "extend": one series of 67 wrong in eval mode, the loss falling)
    still, why = underfit_check(records, {"acc": 66 / 67, "loss": 0.0486}, TEMPLATE_CFG, FitRule())
    assert still, why
    budget = _decide(records, eval_acc=66 / 67)
    assert budget.total == 400 and budget.segment is None
    assert [e["decision"] for e in budget.events] == ["not_extended"]
    why = budget.events[0]["why"]
    assert "negligible" in why and "train/eval gap" in why and "0.00014" in why
    assert budget.to_dict()["rule"]["loss_floor"] == pytest.approx(-math.log(0.99))
    # otherwise the decisions stay: a loss of 0.05 (the right class at 0.95 on average) is not negligible: more steps may help
    above = _decide(_fitted_records(80, last_loss=0.05), eval_acc=66 / 67)
    assert [e["decision"] for e in above.events] == ["extend"] and above.total == 800
    # under the floor but a training batch's series wrong in training mode in the last epoch: not fitted there
    records = _fitted_records(80, last_loss=1.4e-4)
    records[-1]["train_acc"] = 0.95
    missed = _decide(records, eval_acc=66 / 67)
    assert [e["decision"] for e in missed.events] == ["extend"]


def test_the_floor_is_the_loss_of_a_right_class_at_099():
    rule = FitRule()
    assert rule.negligible({"train_loss": -math.log(0.995), "train_acc": 1.0})
    assert not rule.negligible({"train_loss": -math.log(0.985), "train_acc": 1.0})
    assert not rule.negligible({"train_loss": float("nan"), "train_acc": 1.0})
    assert not rule.negligible({"train_loss": 1e-6})  # no training-mode accuracy: not known to be all right


# ------------------------------------------------------------------------------ the curves


def _run(root: Path, epochs: int, *, losses=None, early: bool = False, best: int | None = None,
         events: list[dict] | None = None, per_epoch: int = 5) -> RunDir:
    run = RunDir(root)
    atomic_write_text(run.config, '[data]\ndataset = "GunPoint"\n'
                      + ("[training.early_stopping]\npatience = 5\n" if early else ""))
    losses = losses if losses is not None else [1.0 / e for e in range(1, epochs + 1)]
    records = [{"epoch": e, "step": per_epoch * e, "train_loss": loss, "train_acc": 1.0, "val_loss": 0.8 + 0.01 * e,
                "val_acc": 0.9, "lr": 0.01} for e, loss in zip(range(1, epochs + 1), losses, strict=True)]
    for r in records:
        append_jsonl(run.metrics, r)
    atomic_write_json(run.summary, {"epochs": epochs, "final": records[-1], "best_epoch": best,
                                    "train_eval": {"loss": 0.0486, "acc": 0.985}})
    if events is not None:
        run.write_adapt(budget={"planned": 400, "events": events})
    return run


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title() == title)


def test_the_loss_axis_is_log_when_the_losses_span_decades(tmp_path):
    spans = plot_metrics(_run(tmp_path / "a", 30, losses=list(np.geomspace(0.7, 8e-4, 30))))
    loss = _panel(spans, "loss")
    assert loss.get_yscale() == "log" and "log scale" in loss.get_ylabel()
    # a loss that falls to zero is left out of the log axis, and the note says so
    zeros = plot_metrics(_run(tmp_path / "z", 30, losses=[*np.geomspace(0.7, 1e-7, 25), *[0.0] * 5]))
    assert _panel(zeros, "loss").get_yscale() == "log"
    assert any("0 at 5 points" in t.get_text() for t in _panel(zeros, "loss").texts)
    # within two decades it stays linear (and says nothing of a log scale)
    near = _panel(plot_metrics(_run(tmp_path / "b", 30, losses=list(np.linspace(0.7, 0.02, 30)))), "loss")
    assert near.get_yscale() == "linear" and near.get_ylabel() == "cross-entropy, nats"  # (its unit alone)


def test_the_accuracy_panel_marks_the_eval_mode_training_accuracy_where_it_was_measured(tmp_path):
    def point(fig):
        lines = [ln for ln in _panel(fig, "accuracy").get_lines() if ln.get_gid() == "evaluated train_acc"]
        assert len(lines) == 1 and "eval mode" in lines[0].get_label()
        return float(lines[0].get_xdata()[0]), float(lines[0].get_ydata()[0])

    assert point(plot_metrics(_run(tmp_path / "last", 12))) == (12.0, 0.985)  # summary's train_eval, the last epoch
    assert point(plot_metrics(_run(tmp_path / "best", 12, early=True, best=7))) == (7.0, 0.985)  # the restored one


def test_the_budgets_decisions_are_marked_on_the_x_axis_at_their_epochs_and_steps(tmp_path):
    events = [{"epoch": 8, "step": 40, "decision": "extend", "total": 80},
              {"epoch": 16, "step": 80, "decision": "extend", "total": 160},
              {"epoch": 20, "step": 100, "decision": "not_extended", "total": 160}]
    run = _run(tmp_path / "r", 20, events=events)
    fig = plot_metrics(run)
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        marks = {ln.get_gid(): list(ln.get_xdata()) for ln in ax.get_lines() if ln.get_gid() in ("extend", "not_extended")}
        assert marks == {"extend": [8.0, 16.0], "not_extended": [20.0]}, ax.get_title()
    labels = [t.get_text() for t in _panel(fig, "loss").get_legend().get_texts()]
    assert "budget: extend ×2" in labels and "budget: not extended" in labels
    # against the step, the decisions' steps
    by_step = plot_metrics(run.read_metrics(), x="step", run=run)
    marks = [ln for ln in _panel(by_step, "loss").get_lines() if ln.get_gid() == "extend"]
    assert list(marks[0].get_xdata()) == [40.0, 80.0]


def test_a_short_run_draws_its_training_loss_per_step(tmp_path):
    run = _run(tmp_path / "two", 2, per_epoch=10)
    for step in range(20):
        append_jsonl(run.tracked, {"step": step, "name": "loss", "stat": "value", "value": 1.0 / (step + 1)})
    curves = render_report(run).split('<section id="metric-curves">')[1].split("</section>")[0]
    assert 'alt="metric curves per step"' in curves and "2 epochs" in curves
    fig = _per_step_figure(run, run.read_metrics(), [{"step": s, "tracked_loss": 1.0 / (s + 1)} for s in range(20)])
    loss = _panel(fig, "loss")
    assert {ax.get_xlabel() for ax in fig.axes if ax.get_visible()} - {""} == {"step"}
    drawn = {ln.get_label(): list(ln.get_xdata()) for ln in loss.get_lines()}
    assert drawn["training loss (the step's batch)"] == [float(s) for s in range(20)]
    assert drawn["val_loss (after each epoch)"] == [10.0, 20.0]
    # five epochs: a curve per epoch, as before
    five = _run(tmp_path / "five", 5, per_epoch=4)
    for step in range(20):
        append_jsonl(five.tracked, {"step": step, "name": "loss", "stat": "value", "value": 0.5})
    assert 'alt="metric curves"' in render_report(five).split('<section id="metric-curves">')[1]


# ------------------------------------------------------------------------------ log tick labels


def _labels(axis) -> list:
    return [t for t in axis.get_ticklabels(which="both") if t.get_text() and t.get_visible()]


@pytest.mark.parametrize("lo, hi", [(1.5, 7.0), (0.15, 2.5), (2.2, 9.0), (6.0, 9.5)])
def test_a_log_axis_of_under_two_powers_of_ten_labels_a_few_minor_ticks_that_do_not_overlap(lo, hi):
    fig, axes = style.new_figure(1, 2, panel_size=(2.6, 2.0))
    axes[0, 0].plot(np.geomspace(lo, hi, 20), np.arange(20))
    axes[0, 0].set_xscale("log")
    axes[0, 1].plot(np.arange(20), np.geomspace(lo, hi, 20))
    axes[0, 1].set_yscale("log")
    style.save(fig, None)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in (axes[0, 0].xaxis, axes[0, 1].yaxis):
        labels = _labels(axis)
        texts = [t.get_text() for t in labels]
        # two labels at least, and at most two between one power of ten and the next (matplotlib: 2, 3, 4, 6)
        assert len(labels) >= 2, texts
        # (the labels between powers of ten: plain numbers here, 0.2 or 3, where all lie near 1)
        logs = [np.log10(t.get_position()[0 if axis.axis_name == "x" else 1]) for t in labels]
        decades = [np.floor(v + 1e-9) for v in logs if abs(v - round(v)) > 1e-9]
        assert max(np.unique(decades, return_counts=True)[1]) <= 2, texts
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0 if axis.axis_name == "x" else b.y0)
        for a, b in zip(boxes, boxes[1:], strict=False):
            assert (a.x1 <= b.x0) if axis.axis_name == "x" else (a.y1 <= b.y0), [t.get_text() for t in labels]
