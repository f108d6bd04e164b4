"""Metric curves of one run from ``RUN_DIR/metrics.jsonl``: loss, accuracy (or a regression's
RMSE and R², a language model's bits per token), learning rate, gradient norm, against the epoch.
A run of the user's own training loop has no metrics.jsonl: its curve is the loss it gave
:meth:`rnnlab.Tracker.step` (``tracked.jsonl``, :func:`tracked_loss_records`), against the step.

Panels appear for what was recorded: loss (``train_loss``, ``val_loss``, ``test_loss``),
accuracy (``*_acc``) or RMSE and R² (``*_rmse``, ``*_r2``), a language model's bits per token
(``*_bpc``, perplexity ``2^bpc`` on the right-hand axis), learning rate (log axis) and gradient
norm (``grad_norm``, log axis), their y labels saying "log scale": a regression run has no accuracy
panel. The loss panel's y label names what the loss measures (:data:`LOSS_UNITS`). It turns log
when its values span more than :attr:`Panel.log_beyond` decades (its y label says so): on a linear
axis a loss falling from 0.7 to 1e-4 is a flat line at 0 beside a validation loss's spikes.

Beside the records: the evaluated model's figures on the training split (summary.json's
``train_eval``, eval mode: what the Fit section and the budget judge; the records' ``train_``
figures are the epochs' training-mode means) as a point at the epoch it measured, and the
decisions of the budget that follows the fit (``adapt.json``) as markers on the x axis.

A run's ``train_loss`` is the loss it minimized, the AR/TAR penalty included (``training.ar``,
``training.tar``), as Keras' logged ``loss`` includes its regularization losses: such a run's
training curve is drawn grey and labelled as the minimized loss (:func:`penalized_of`), not as the
training split's loss, which the evaluated model's point gives. A language model's ``val_loss`` is
the cross-entropy alone; its training cross-entropy is recorded too,
in bits (``train_bpc``). So its loss panel draws the training cross-entropy (``train_bpc ·
ln 2``, :data:`DERIVED`) against ``val_loss``, and ``train_loss`` beside them, grey and labelled
as the minimized loss, only where it differs (a penalty was on, :func:`penalized`); the loss per
step given to :meth:`rnnlab.Tracker.step` of such a run is the minimized loss too, grey as well.

Each split has one colour (:data:`SPLIT_COLOR`) in every panel and figure: the training curves,
the evaluated model's training figure and the training loss per step in the training colour, the
validation curves in the validation colour, whatever else a panel draws.

Example:
    >>> recs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "lr": 0.01}
    ...         for e in range(1, 4)]
    >>> fig = plot_metrics(recs)
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'learning rate']
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from rnnlab._checks import check_choice
from rnnlab.plots import style
from rnnlab.rundir import RunDir, partial_epoch

Records = Sequence[dict[str, Any]]



class Panel(NamedTuple):
    """One panel of :func:`plot_metrics`: its title, the metric keys it draws (those recorded),
    a log y axis, ``also``: the same value in other units, shown in brackets after each y
    tick (the title names them), or None, and ``baseline`` (below)."""

    title: str
    keys: tuple[str, ...]
    log: bool
    also: Callable[[float], float] | None = None
    baseline: str | None = None
    """The metric of summary.json's ``baselines`` (a forecaster's naive and seasonal-naive
    forecasts, per split) drawn as horizontal references: the score means little without them."""
    log_beyond: float | None = None
    """Decades the panel's positive values must span for a log y axis where ``log`` is off (None:
    never): beyond two, the small values of a linear axis are one flat line at 0."""


#: Panels of :func:`plot_metrics`, in order.
PANELS: tuple[Panel, ...] = (
    # (the loss per step given to Tracker.step is the training loss: the training colour, before val_loss's)
    Panel("loss", ("train_loss", "train_cross_entropy", "tracked_loss", "val_loss", "test_loss"), False,
          log_beyond=2.0),
    Panel("accuracy", ("train_acc", "val_acc", "test_acc"), False),
    Panel("MASE (error / training seasonal-naive error), the score", ("train_mase", "val_mase", "test_mase"),
          False, baseline="mase"),
    Panel("RMSE (data units)", ("train_rmse", "val_rmse", "test_rmse"), False),
    Panel("R² (against the training mean)", ("train_r2", "val_r2", "test_r2"), False),
    Panel("bits per token (perplexity), the score", ("train_bpc", "val_bpc", "test_bpc"), False,
          lambda bits: 2.0 ** bits),
    Panel("learning rate", ("lr",), True),
    Panel("gradient norm", ("grad_norm", "grad_norm_max"), True),
)
#: Curves computed from a recorded metric: key -> (the recorded key, the factor to its units),
#: for a like-with-like comparison its records hold in other units (a language model's training
#: cross-entropy, recorded in bits per token, beside its val_loss in nats).
DERIVED: dict[str, tuple[str, float]] = {"train_cross_entropy": ("train_bpc", math.log(2))}
#: Legend labels that differ from the key.
LABELS = {"train_cross_entropy": "train cross-entropy (train_bpc · ln 2)",
          "tracked_loss": "loss given to Tracker.step (its batch)"}
#: The record keys :func:`plot_metrics` can draw against.
X_AXES = ("epoch", "step")
#: Line style per split, the same in every figure.
SPLIT_STYLE = {"train": "-", "val": "--", "test": ":"}
#: Colour per split, the same in every panel and figure (a panel's position of a key would make the
#: validation curve green in a panel that also draws the loss per step and red beside it).
SPLIT_COLOR = {"train": style.series_color(0), "val": style.series_color(1), "test": style.series_color(2)}
#: Line style of each reference forecast of summary.json's ``baselines`` (in its split's colour).
BASELINE_STYLE = {"naive": (0, (1, 1.5)), "seasonal_naive": (0, (6, 2, 1, 2))}
#: The line marking the epoch whose weights the run restored (early stopping).
RESTORED_COLOR = "#555555"
#: The minimized loss drawn beside the cross-entropy it adds penalties to: set apart, not a split.
PENALTY_COLOR = "#9a9a9a"
PENALIZED_LABEL = "train_loss (minimized: penalties included)"
#: The keys of the loss a run minimized: its epochs' mean, and the loss per step given to Tracker.step.
MINIMIZED = ("train_loss", "tracked_loss")
#: The budget's decisions (adapt.json ``budget.events``), as the x axis' markers name them, and their colours.
DECISIONS = {"extend": ("extend", "#2a7fff"), "end_early": ("end early", "#2ca02c"),
             "fit_lost": ("fit lost", "#d62728"), "cap_reached": ("cap reached", "#7f7f7f"),
             "not_extended": ("not extended", "#9467bd")}
#: The marker of the evaluated model's figure (summary.json ``train_eval``), open, in its split's colour.
EVALUATED_MARKER = "D"
#: The marker and colour of that figure where the mean guard replaced the model (summary.json
#: ``mean_guard.kept`` false): the training mean's scores, which the run evaluated and ships, set
#: apart from a model's point (an R² of 0 and a loss near 1 read as a broken model in eval mode).
GUARD_MARKER, GUARD_COLOR = "s", "#222222"
#: The loss each task minimizes, in the words of its panel's y axis (the records' numbers alone do
#: not say it), by config.toml's ``[task] kind`` (:func:`loss_unit_of`): a language model's in nats,
#: beside the bits per token its page reports; a forecaster's in the training part's scaling.
LOSS_UNITS = {"classification": "cross-entropy, nats",
              "regression": "MSE of standardized targets",
              "forecasting": "MSE of scaled values",
              "language_model": "cross-entropy, nats per token"}
#: The y label of a panel whose axis is always log (:attr:`Panel.log`): its uneven ticks over a
#: narrow range read as a linear axis's.
LOG_SAID = "log scale"
#: The share of a linear loss axis under which the values after each curve's start are squashed:
#: the panel turns log (a language model's loss per step, 6.1 at step 0, left 1.4-2.3 its bottom sixth).
SQUASHED = 0.25


def load_metrics(source: Records | str | os.PathLike[str] | RunDir) -> list[dict[str, Any]]:
    """The per-epoch records of a run directory (``metrics.jsonl``), or the records given."""
    if isinstance(source, (str, os.PathLike, RunDir)):
        rd = RunDir.existing(source)
        return rd.read_metrics()
    if isinstance(source, Sequence) and all(isinstance(r, dict) for r in source):
        return list(source)
    raise TypeError(
        f"source: expected a run directory or a list of metric records, got {type(source).__name__}"
    )


def tracked_loss_records(run_dir: str | os.PathLike[str] | RunDir) -> list[dict[str, Any]]:
    """The loss a training loop gave :meth:`rnnlab.Tracker.step` (``tracked.jsonl``, ``name="loss"``;
    recorded on the tracker's weight steps) as records ``{"step", "tracked_loss"}`` in step order,
    for :func:`plot_metrics` with ``x="step"``; empty when none was recorded.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.append(run.tracked, {"step": 5, "name": "loss", "stat": "value", "value": 0.6})
    >>> run.append(run.tracked, {"step": 0, "name": "loss", "stat": "value", "value": 0.7})
    >>> tracked_loss_records(run)
    [{'step': 0, 'tracked_loss': 0.7}, {'step': 5, 'tracked_loss': 0.6}]
    """
    rd = RunDir.existing(run_dir)
    found = [(r["step"], r["value"]) for r in rd.read_tracked()
             if r["name"] == "loss" and r["stat"] == "value" and not isinstance(r["value"], list)]
    return [{"step": step, "tracked_loss": value} for step, value in sorted(found, key=lambda f: f[0])]


def restored_epoch(run_dir: str | os.PathLike[str] | RunDir) -> int | None:
    """The epoch whose weights a finished run restored and evaluated when that is not its last,
    else None.

    Early stopping (``training.early_stopping.patience`` > 0) ends training with the best
    validation epoch's weights (summary.json ``best_epoch``, whether or not it stopped early):
    its test figures and the fit verdicts are about those weights, not the last epoch's. Without
    early stopping, or with no config.toml (a Lightning callback's run keeps its last weights),
    the last epoch is the one evaluated.
    """
    rd = RunDir.existing(run_dir)
    summary = rd.read_summary() if rd.summary.exists() else None
    best = (summary or {}).get("best_epoch")
    if not isinstance(best, int) or isinstance(best, bool) or not rd.config.exists():
        return None
    if rd.read_trained_config().config.training.early_stopping.patience <= 0:
        return None
    final = summary.get("final") if isinstance(summary.get("final"), dict) else {}
    last = final.get("epoch", summary.get("epochs"))
    return None if best == last else best


def baselines_of(run_dir: str | os.PathLike[str] | RunDir) -> dict[str, Any] | None:
    """summary.json's ``baselines`` (``{split: {forecast: {metric: value}}}``), or None."""
    rd = RunDir.existing(run_dir)
    found = (rd.read_summary() or {}).get("baselines") if rd.summary.exists() else None
    return found if isinstance(found, dict) else None


def penalized(records: Records) -> bool:
    """Whether the records' ``train_loss`` (the minimized loss) differs from their training
    cross-entropy (``train_bpc · ln 2``): a penalty such as AR/TAR was on. False where the records
    hold no cross-entropy apart from the loss (a classifier's, a forecaster's).

    >>> penalized([{"epoch": 1, "train_loss": 2.0, "train_bpc": 2.0 / math.log(2)}])
    False
    >>> penalized([{"epoch": 1, "train_loss": 2.3, "train_bpc": 2.0 / math.log(2)}])
    True
    """
    both = [r for r in records if _number(r.get("train_loss")) and _number(r.get("train_bpc"))]
    loss, xent = series(both, "train_loss")[1], series(both, "train_cross_entropy")[1]
    return not np.allclose(loss, xent, rtol=1e-4, atol=1e-6, equal_nan=True)


def penalized_of(run_dir: str | os.PathLike[str] | RunDir) -> bool:
    """Whether a run's ``train_loss`` holds a penalty: it trained with AR/TAR (``training.ar``,
    ``training.tar`` of its config; a classifier's or a forecaster's records have no loss apart from
    the minimized one to tell it by), or :func:`penalized` of its ``metrics.jsonl`` says so. False
    without metrics.jsonl.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.append(run.metrics, {"epoch": 1, "train_loss": 0.7})
    >>> penalized_of(run)
    False
    """
    rd = RunDir.existing(run_dir)
    if not rd.metrics.exists():
        return False
    if rd.config.exists():
        try:
            training = rd.read_trained_config().config.training
        except ValueError:  # (a config it cannot read: the records alone tell, as for a run without one)
            training = None
        if training is not None and (training.ar or training.tar):
            return True
    return penalized(rd.read_metrics())


def evaluated_of(run_dir: str | os.PathLike[str] | RunDir) -> dict[str, float] | None:
    """summary.json's ``train_eval``: the evaluated model's figures on the whole training split in
    eval mode (``{"acc": …, "loss": …}``; the restored epoch's weights under early stopping), or None."""
    rd = RunDir.existing(run_dir)
    found = (rd.read_summary() or {}).get("train_eval") if rd.summary.exists() else None
    if not isinstance(found, dict):
        return None
    return {k: float(v) for k, v in found.items() if _number(v) and math.isfinite(v)}


def guard_of(run_dir: str | os.PathLike[str] | RunDir) -> Any:
    """summary.json's ``mean_guard`` as :func:`rnnlab.train.final.recorded_guard` reads it back (a
    run's own guard's or one carried from its fold runs: ``kept``, ``at_mean``, ``baseline``), or
    None for a run without a guard.

    >>> import tempfile
    >>> from rnnlab.rundir import atomic_write_json
    >>> run = RunDir(tempfile.mkdtemp())
    >>> atomic_write_json(run.summary, {"mean_guard": {"kept": False, "model_mse": 1.05, "mean_mse": 1.26,
    ...                                                "z": 0.99, "n_val": 29}})
    >>> guard_of(run).kept, guard_of(run).baseline
    (False, 'the training mean')
    """
    from rnnlab.train.final import recorded_guard  # (its imports, the config's, are no figure's)

    rd = RunDir.existing(run_dir)
    block = (rd.read_summary() or {}).get("mean_guard") if rd.summary.exists() else None
    return recorded_guard(block) if isinstance(block, dict) else None


def loss_unit_of(run_dir: str | os.PathLike[str] | RunDir) -> str | None:
    """What a run's loss measures, in the words of its loss panel's y axis (:data:`LOSS_UNITS` by
    the task of its config.toml), or None where that does not say (no config, a task not listed).

    >>> import tempfile
    >>> from rnnlab.rundir import atomic_write_text
    >>> run = RunDir(tempfile.mkdtemp())
    >>> atomic_write_text(run.config, '[task]\\nkind = "regression"\\n[data]\\ndataset = "UnitTest"\\n')
    >>> loss_unit_of(run)
    'MSE of standardized targets'
    """
    rd = RunDir.existing(run_dir)
    if not rd.config.exists():
        return None
    try:
        task = rd.read_trained_config().config.task
    except ValueError:  # (a config it cannot read: the Configuration section says why)
        return None
    return LOSS_UNITS.get(task.kind) if task is not None else None


def marked_epochs(records: Records, restored: int | None = None,
                  decisions: Sequence[dict[str, Any]] = ()) -> list[tuple[int, int, str]]:
    """``(epoch, step, what)`` of each epoch the curves against the epoch mark: the restored one,
    the budget's decisions (:func:`budget_decisions`) and the last, for a caption to give the step
    the tracking figures' x axis puts it at; those whose step is unknown are left out.

    >>> recs = [{"epoch": e, "step": 7 * e} for e in range(1, 9)]
    >>> marked_epochs(recs, 5, [{"epoch": 6, "step": 42, "decision": "end_early"}])
    [(5, 35, 'restored'), (6, 42, 'budget: end early'), (8, 56, 'the last')]
    """
    marks = []
    if restored is not None and (at := _x_at_epoch(records, restored, "step")) is not None:
        marks.append((restored, int(at), "restored"))
    for e in decisions:
        if _number(e.get("epoch")) and _number(e.get("step")):
            kind = str(e.get("decision"))
            marks.append((int(e["epoch"]), int(e["step"]),
                          "budget: " + DECISIONS.get(kind, (kind.replace("_", " "), ""))[0]))
    last = max((r["epoch"] for r in records if _number(r.get("epoch")) and _number(r.get("step"))), default=None)
    if last is not None and (at := _x_at_epoch(records, last, "step")) is not None:
        marks.append((int(last), int(at), "the last"))
    return marks


def budget_decisions(run_dir: str | os.PathLike[str] | RunDir) -> list[dict[str, Any]]:
    """The decisions of the budget that follows the fit (``adapt.json``'s ``budget.events``:
    ``{"epoch", "step", "decision", …}``), empty when it made none or the run has no adapt.json.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.write_adapt(budget={"events": [{"epoch": 80, "step": 400, "decision": "extend"}]})
    >>> [e["decision"] for e in budget_decisions(run)]
    ['extend']
    """
    rd = RunDir.existing(run_dir)
    events = ((rd.read_adapt() or {}).get("budget") or {}).get("events")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def mark_restored(ax, x: float, epoch: int) -> Line2D:
    """The grey dashed line of the epoch whose weights the run restored, as the metric curves draw
    it (:data:`RESTORED_COLOR`); the norms over time draw it too, named ``restored: epoch N`` for the legend.

    >>> fig, axes = style.new_figure(1, 1)
    >>> mark_restored(axes[0, 0], 8.0, 2).get_label()
    'restored: epoch 2'
    """
    # (the curves run on to the last epoch; the test figures and the fit verdicts are about these weights)
    return ax.axvline(x, color=RESTORED_COLOR, linestyle="--", linewidth=1.1, label=f"restored: epoch {epoch}")


def _x_at_epoch(records: Records, epoch: int, x: str) -> float | None:
    """Where ``epoch`` ends on the ``x`` axis: the epoch itself, or its record's ``x`` (its step)."""
    if x == "epoch":
        return float(epoch)
    found = [r[x] for r in records if r.get("epoch") == epoch and _number(r.get(x))]
    return float(found[-1]) if found else None


def _draw_decisions(ax: Axes, decisions: Sequence[dict[str, Any]], x: str, named: bool) -> None:
    """The budget's ``decisions`` as markers on ``ax``' x axis (at each decision's ``x``: the epoch
    or step it was made after), one legend entry a kind where ``named``."""
    on_x_axis = ax.get_xaxis_transform()  # (x in data, y in axes: 0 is the x axis whatever the y scale)
    for kind in dict.fromkeys(str(e.get("decision")) for e in decisions):
        xs = [float(e[x]) for e in decisions if str(e.get("decision")) == kind and _number(e.get(x))]
        if not xs:
            continue
        short, color = DECISIONS.get(kind, (kind.replace("_", " "), RESTORED_COLOR))
        ax.plot(xs, [0.0] * len(xs), transform=on_x_axis, linestyle="none", marker="^", markersize=7,
                color=color, markeredgecolor="white", markeredgewidth=0.6, clip_on=False, zorder=5, gid=kind,
                label=f"budget: {short}" + (f" ×{len(xs)}" if len(xs) > 1 else "") if named else "_nolegend_")


def _squashed_by(curves: list[np.ndarray], points: np.ndarray) -> float | None:
    """The top of a panel's values where each curve's start (its first tenth, a point at least)
    leaves the rest under :data:`SQUASHED` of a linear axis, else None: a loss per step that
    starts at 6.1 and then runs from 2.3 to 1.4 is a flat line at the bottom. Only for positive
    values, all of which a log axis shows."""
    finite = [c[np.isfinite(c)] for c in curves]
    every = np.concatenate([*finite, points[np.isfinite(points)]])
    rest = np.concatenate([*(c[max(1, c.size // 10):] for c in finite), points[np.isfinite(points)]])
    if every.size < 3 or not rest.size or every.min() <= 0:
        return None
    lo, hi = float(every.min()), float(every.max())
    return hi if hi > lo and (float(rest.max()) - lo) / (hi - lo) < SQUASHED else None


def _fit_texts(fig: Figure, panels: Sequence[Axes]) -> None:
    """Wrap each panel's y label taller than the panel, and the labels of each panel legend
    (:func:`rnnlab.plots.style.panel_legend`) wider than its room, on the figure as laid out: a
    legend is centred under its panel and may reach half the gap to the next column's panel, or
    the figure's edge (a long label was cut there); a y label ran into the legend below."""
    W, H = fig.get_figwidth() * 72.0, fig.get_figheight() * 72.0
    for ax in panels:
        label = ax.yaxis.label
        if label.get_text():
            label.set_text(style.wrap_text(label.get_text(), label.get_fontsize(), ax.get_position().height * H, fig.dpi))
    spans: dict[int, tuple[float, float]] = {}
    for ax in panels:
        box, col = ax.get_position(), ax.get_subplotspec().colspan.start
        lo, hi = spans.get(col, (math.inf, -math.inf))
        spans[col] = (min(lo, box.x0 * W), max(hi, box.x1 * W))
    for ax in panels:
        col, box = ax.get_subplotspec().colspan.start, ax.get_position()
        left = spans[col - 1][1] if col - 1 in spans else None
        right = spans[col + 1][0] if col + 1 in spans else None
        lo = style.EDGE if left is None else (left + spans[col][0]) / 2
        hi = W - style.EDGE if right is None else (spans[col][1] + right) / 2
        centre = (box.x0 + box.x1) / 2 * W
        room = 2 * min(centre - lo, hi - centre)
        for _ in range(4):  # (each try narrows the labels by what the legend is still over)
            leg = ax.get_legend()
            if leg is None:
                break
            over = float(leg.get_window_extent(fig.canvas.get_renderer()).width) * 72.0 / fig.dpi - room
            if over <= 0.5:
                break
            handles, labels = ax.get_legend_handles_labels()
            ncol = max(1, leg._ncols)
            widest = max(style.drawn_width(line, style.NOTE_SIZE, fig.dpi) for t in labels for line in t.split("\n"))
            for handle, label in zip(handles, labels, strict=True):
                handle.set_label(style.wrap_text(label, style.NOTE_SIZE, widest - over / ncol - 1.0, fig.dpi))
            style.panel_legend(ax)


#: How far a reference forecast's value may lie outside the range of a panel's curves (and the
#: better reference of each split), in that range's heights, and still be drawn on the axis: beyond,
#: the axis stretched to it leaves the curves a flat band (MASE 1.04 to 1.15 under naive's 5.5).
OFF_SCALE = 1.0


def _draw_baselines(ax: Axes, baselines: dict[str, Any], metric: str, splits: dict[str, str],
                    values: Sequence[np.ndarray] = ()) -> None:
    """Each reference forecast's ``metric`` on each split drawn here (``splits``: split -> the
    colour of its curve), labelled with its value. The axis keeps to the panel's curves
    (``values``) and each split's better reference (lower: the metrics are errors): a reference
    further than :data:`OFF_SCALE` of that range beyond it is a marker at the axis' edge with its
    value, not a line the axis stretches to."""
    refs = []
    for split, color in splits.items():
        forecasts = baselines.get(split)
        for name, linestyle in BASELINE_STYLE.items():
            value = (forecasts or {}).get(name, {}).get(metric) if isinstance(forecasts, dict) else None
            if _number(value) and math.isfinite(value):
                refs.append((split, name, float(value), color, linestyle))
    drawn = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values]) if values else np.empty(0)
    drawn = drawn[np.isfinite(drawn)]
    better = [min(v for s, _, v, _, _ in refs if s == split) for split in {r[0] for r in refs}]
    kept = np.concatenate([drawn, better]) if drawn.size and ax.get_yscale() == "linear" else None
    lo, hi = (float(kept.min()), float(kept.max())) if kept is not None else (-math.inf, math.inf)
    # (a panel of one flat value: its own size sets what is far)
    reach = OFF_SCALE * ((hi - lo) or abs(hi) or 1.0) if kept is not None else math.inf
    off: dict[str, list[tuple[str, str, float, str]]] = {"above": [], "below": []}
    for split, name, value, color, linestyle in refs:
        label = f"{split} {name.replace('_', ' ')} {value:.3g}"
        if lo - reach <= value <= hi + reach:
            ax.axhline(value, color=color, linestyle=linestyle, linewidth=1.0, alpha=0.75, label=label)
        else:
            off["above" if value > hi else "below"].append((split, name, value, color))
    if not off["above"] and not off["below"]:
        return
    ax.autoscale_view()
    bottom, top = ax.get_ylim()
    room = 0.16 * (top - bottom)  # (a band at the edge for the markers and their values, clear of the curves)
    ax.set_ylim(bottom - (room if off["below"] else 0.0), top + (room if off["above"] else 0.0))
    for edge, far in off.items():
        y, marker, va = (1.0, "^", "top") if edge == "above" else (0.0, "v", "bottom")
        for i, (split, name, value, color) in enumerate(far):
            x_at = 0.97 - 0.11 * i
            ax.plot([x_at], [y], transform=ax.transAxes, linestyle="none", marker=marker, markersize=6, color=color,
                    clip_on=False, zorder=6, gid=f"off-scale {split} {name}",
                    label=f"{split} {name.replace('_', ' ')} {value:.3g}: {edge} the axis (marked at its edge)")
            ax.text(x_at, y + (-0.035 if edge == "above" else 0.035), f"{value:.3g}", transform=ax.transAxes,
                    ha="center", va=va, fontsize=style.NOTE_SIZE, color=color)


def run_name(run_dir: str | os.PathLike[str] | RunDir) -> str:
    """A run's display name: its directory's name."""
    p = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    return p.resolve().name


def series(records: Records, key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays of one metric over the records that have it (numbers only); a key of
    :data:`DERIVED` from the metric it is computed from."""
    source, factor = DERIVED.get(key, (key, 1.0))
    xs, ys = [], []
    for i, r in enumerate(records):
        v = r.get(source)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            xv = r.get(x, i)
            xs.append(float(xv) if isinstance(xv, (int, float)) else float(i))
            ys.append(float(v) * factor)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def draw_series(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, *, label: str, color: str, linestyle: str = "-",
    log: bool = False,
) -> str | None:
    """Plot one curve, leaving gaps at non-finite (or, on a log axis, non-positive) values.

    Returns a short note on what was left out, or None.
    """
    ok = np.isfinite(ys) & ((ys > 0) if log else True)
    # (a curve of a point or two is its markers: large enough to be seen on another panel's marks)
    ax.plot(xs, np.where(ok, ys, np.nan), label=label, color=color, linestyle=linestyle,
            linewidth=1.5, marker="o" if len(xs) < 30 else None, markersize=4.5 if len(xs) <= 2 else 3)
    n_bad = int((~ok).sum())
    if not n_bad:
        return None
    zeros = int((ys == 0).sum()) if log else 0
    bad = style.nonfinite_note(ys) or (f"0 at {zeros} points, below the log axis" if zeros == n_bad
                                       else f"{n_bad} non-positive not shown")
    return f"{label}: {bad}"


def _drawn(records: Records, panel: Panel) -> list[str]:
    """The keys of ``panel`` that ``records`` hold, less a ``train_loss`` that equals the training
    cross-entropy drawn beside it (no penalty: one curve under two names)."""
    keys = [k for k in panel.keys if series(records, k)[0].size]
    if "train_loss" in keys and "train_cross_entropy" in keys and not penalized(records):
        keys.remove("train_loss")
    return keys


def split_of(key: str) -> str:
    """The split a metric key is of (its prefix; the loss per step given to Tracker.step is the
    training loss), or the key's own first word where it is of none (``lr``, ``grad``).

    >>> split_of("val_bpc"), split_of("tracked_loss"), split_of("grad_norm_max")
    ('val', 'train', 'grad')
    """
    return "train" if key == "tracked_loss" else key.split("_")[0]


def _colors(keys: Sequence[str]) -> dict[str, str]:
    """The colour of each key of a panel: its split's (:data:`SPLIT_COLOR`), or for a key of no split
    (learning rate, gradient norms) one of the colours after the splits', by its place among those."""
    own = [k for k in keys if split_of(k) not in SPLIT_COLOR]
    return {k: SPLIT_COLOR.get(split_of(k)) or style.series_color(len(SPLIT_COLOR) + own.index(k)) for k in keys}


def plot_metrics(
    source: Records | str | os.PathLike[str] | RunDir,
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    restored: int | None = None,
    baselines: dict[str, Any] | None = None,
    x: str = "epoch",
    labels: dict[str, str] | None = None,
    run: str | os.PathLike[str] | RunDir | None = None,
    evaluated: dict[str, float] | None = None,
    decisions: Sequence[dict[str, Any]] | None = None,
    titles: dict[str, str] | None = None,
    penalty: bool | None = None,
    guard: Any = None,
    loss_unit: str | None = None,
) -> Figure:
    """Loss / accuracy (or RMSE and R², or MASE) / learning-rate / gradient-norm curves of one run
    against the epoch (or the record key ``x``, one of :data:`X_AXES`).

    ``source`` is a run directory or its list of per-epoch records. Only panels with data are
    drawn; with no records at all, a single panel says so. Saves when ``path`` is given.
    ``restored``: the epoch whose weights the run restored (:func:`restored_epoch`), marked on
    every panel against the epoch; ``baselines``: summary.json's reference forecasts, drawn on
    the panels that name their metric (:attr:`Panel.baseline`). Both are read from a run
    directory given as ``source`` (or as ``run``, the run that records given as ``source`` are
    of) when not given. ``evaluated``: summary.json's ``train_eval`` (:func:`evaluated_of`), each
    figure a point on the panel of its ``train_`` key at the restored epoch (else the last);
    ``decisions``: the budget's (:func:`budget_decisions`), markers on the x axis of every panel.
    ``labels``: legend labels by key, over :data:`LABELS` (what a curve is, said by the caller
    who knows where it comes from); ``titles``: panel titles by :attr:`Panel.title`, where the
    caller's task names its metric otherwise (per-step targets' "per-step accuracy"). ``penalty``:
    whether the minimized loss (:data:`MINIMIZED`) holds a penalty the training cross-entropy does
    not (:func:`penalized_of`, else :func:`penalized` of the records): then it is drawn grey, apart
    from the splits' colours (:data:`SPLIT_COLOR`), and its legend says so. An epoch the budget
    ended within (a stream's last: :func:`rnnlab.rundir.partial_epoch`) has its training
    figures and gradient norms drawn as an open circle, named in the legend with the steps it took.
    ``guard``: the run's mean guard (:func:`guard_of`): where it chose the training mean, the
    ``evaluated`` figures are the mean's, an open square (:data:`GUARD_MARKER`) named so, not a
    model's point. ``loss_unit``: what the loss measures (:func:`loss_unit_of`), the loss panel's
    y label. Both are read from the run when not given.

    A log panel's ticks are :class:`rnnlab.plots.style.LogTicks` and :class:`rnnlab.plots.style.LogLabels`
    (2, 1, 0.5 near 1); the loss panel turns log too where its curves' start squashes the rest
    (:data:`SQUASHED`). Legends wider than their room are wrapped to it.

    >>> fig = plot_metrics([{"step": 0, "tracked_loss": 0.7}, {"step": 5, "tracked_loss": 0.6}], x="step")
    >>> fig.axes[0].get_title(), fig.axes[0].get_xlabel()
    ('loss', 'step')
    """
    # (imported here: the trainer's own imports, the data and the model, are no figure's)

    check_choice("x", x, X_AXES)
    named = {**LABELS, **(labels or {})}
    records = load_metrics(source)
    name = run_name(source) if isinstance(source, (str, os.PathLike, RunDir)) else None
    run = source if isinstance(source, (str, os.PathLike, RunDir)) else run
    if run is not None:
        restored = restored_epoch(run) if restored is None else restored
        baselines = baselines_of(run) if baselines is None else baselines
        evaluated = evaluated_of(run) if evaluated is None else evaluated
        decisions = budget_decisions(run) if decisions is None else decisions
        guard = guard_of(run) if guard is None else guard
        loss_unit = loss_unit_of(run) if loss_unit is None else loss_unit
        # (the run's own records: the caller's, such as the per-step figure's, may leave out its train_loss)
        penalty = penalized_of(run) if penalty is None else penalty
    penalty = penalized(records) if penalty is None else penalty
    # (an epoch: on a step axis, where that epoch's record ended)
    restored_x = _x_at_epoch(records, restored, x) if restored is not None else None
    ends = [float(r[x]) for r in records if _number(r.get(x))]
    evaluated_x = restored_x if restored is not None else (max(ends) if ends else None)
    # (the epochs the budget ended within; the records of an rnnlab before it hold none)
    partial = [(r, counts) for r in records if (counts := partial_epoch(r)) is not None]
    present = [(panel, _drawn(records, panel)) for panel in PANELS]
    present = [(panel, keys) for panel, keys in present if keys]
    head = title or ("metrics" + (f" of {name}" if name else ""))
    if not present:
        return style.empty_figure("no metrics recorded", head, path)
    ncols = 2 if len(present) > 2 else len(present)
    # Every panel is against the same x: one axis, labelled under each column.
    fig, axes = style.new_figure(-(-len(present) // ncols), ncols, panel_size=(4.4, 2.7), sharex=True)
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    for i, (ax, (panel, keys)) in enumerate(zip(axes.flat, present, strict=False)):
        ax.set_title((titles or {}).get(panel.title, panel.title), fontsize=style.LABEL_SIZE)
        points = {f"train_{m}": v for m, v in (evaluated or {}).items()
                  if f"train_{m}" in panel.keys and evaluated_x is not None}
        curves, at = [series(records, k, x)[1] for k in keys], np.asarray(list(points.values()), dtype=np.float64)
        decades = style.log_decades([*curves, at])
        spans = panel.log_beyond is not None and decades > panel.log_beyond
        squashed = _squashed_by(curves, at) if panel.log_beyond is not None and not spans else None
        log = panel.log or spans or squashed is not None
        if log:
            style.log_axis(ax)
        said = [loss_unit] if loss_unit and panel.title == "loss" else []
        if panel.log:
            said.append(LOG_SAID)
        elif spans:
            said.append(style.LOG_SPANS.format(decades))
        elif squashed is not None:  # (as a loss of decades: log, which the loss panels of other runs turn too)
            said.append(f"log scale (the start, {squashed:.2g}, dwarfs the rest)")
        if said:
            ax.set_ylabel("\n".join(said), fontsize=style.TICK_SIZE)
        notes = []
        # (the minimized loss with a penalty is not the training cross-entropy: set apart, grey in every
        # panel and figure, as the splits keep their colours)
        aside = {k for k in MINIMIZED if k in keys} if penalty else set()
        named_partial: set[Any] = set()  # (the partial epochs the panel's legend names: once each)
        colors = _colors([k for k in keys if k not in aside])
        for key in keys:
            xs, ys = series(records, key, x)
            label = named.get(key, key)
            if key in aside:
                label = PENALIZED_LABEL if key == "train_loss" else f"{label}, minimized: penalties included"
            note = draw_series(ax, xs, ys, label=label, color=PENALTY_COLOR if key in aside else colors[key],
                               linestyle="-." if key in aside else SPLIT_STYLE.get(split_of(key), "-"), log=log)
            if note:
                notes.append(note)
            finite = ys[np.isfinite(ys)]
            if finite.size > 1 and finite.min() == finite.max() and not log:
                notes.append(f"{key} constant = {style.fmt(float(finite[0]))}")
            # An epoch the budget ended within: its training figures (and gradient norms) a mean over its
            # few steps, often the series' hardest stretch, not an epoch's like the points before it; open,
            # over the curve. (A validation figure is of the whole split, the learning rate its last step's.)
            for record, (took, whole) in partial if split_of(key) in ("train", "grad") else ():
                px, py = series([record], key, x) if x in record else (np.empty(0), np.empty(0))
                if not (px.size and np.isfinite(py[0]) and (py[0] > 0 or not log)):
                    continue
                epoch = record.get("epoch")
                ax.plot(px, py, linestyle="none", marker="o", markersize=7.5, markerfacecolor="white",
                        markeredgecolor=PENALTY_COLOR if key in aside else colors[key], markeredgewidth=1.5,
                        zorder=3, gid=f"partial {key}",
                        label="_nolegend_" if epoch in named_partial else
                        f"partial epoch {epoch}: {took} of its {whole} steps (a mean over those)")
                named_partial.add(epoch)
        if panel.baseline is not None and baselines:
            _draw_baselines(ax, baselines, panel.baseline,
                            {split_of(k): colors[k] for k in colors if split_of(k) in SPLIT_COLOR},
                            [series(records, k, x)[1] for k in keys] + [np.asarray(list(points.values()))])
        for key, value in points.items():
            # (the records' train_ figures are training-mode means over the epochs' batches; the fit findings
            # and the budget judge this one, the evaluated weights on the whole training split in eval mode.
            # Open, under the curves and larger than their points: a curve's point at the same step and
            # near value (the validation loss after the last epoch, the training curve's own) shows on it)
            marker, color, label = _evaluated_look(key.removeprefix("train_"), value, guard)
            ax.plot([evaluated_x], [value], linestyle="none", marker=marker, markersize=8.5,
                    color=color, markerfacecolor="white", markeredgewidth=1.6, zorder=1.5,
                    gid=f"evaluated {key}", label=label)
        if restored_x is not None:
            mark_restored(ax, restored_x, restored)
        if decisions:
            _draw_decisions(ax, decisions, x, named=i == 0)
        if panel.also is not None:  # (in the tick labels: the layout sizes the margin to them)
            ax.yaxis.set_major_formatter(FuncFormatter(
                lambda v, _, also=panel.also: f"{v:g} ({also(v):.3g})"))
        if notes:
            style.note(ax, "\n".join(notes), warn=True, loc="lower left")
        ax.set_xlabel(x)
        style.integer_ticks(ax.xaxis)
        style.panel_legend(ax)  # (under the panel: inside, it covered part of a curve or a reference line)
    style.share_x_labels(axes)
    fig.suptitle(head, fontsize=style.TITLE_SIZE)
    style.layout(fig)  # (the legends' room is known once the panels are placed)
    _fit_texts(fig, [ax for ax in axes.flat if ax.get_visible()])
    style.save(fig, path)
    return fig


def _evaluated_look(metric: str, value: float, guard: Any) -> tuple[str, str, str]:
    """The marker, colour and legend label of the evaluated figure ``metric`` (summary.json's
    ``train_eval``): a model's, or where the mean guard (``guard``, :func:`guard_of`) chose the
    training mean, the mean's, which the run evaluated and ships."""
    if guard is not None and not guard.kept:
        return GUARD_MARKER, GUARD_COLOR, f"train {metric} of {guard.baseline} (mean guard), not the model: {value:.3g}"
    at_mean = list(guard.at_mean or ()) if guard is not None else []
    whose = ("" if not at_mean else
             f"; {', '.join(at_mean)} at {'its' if len(at_mean) == 1 else 'their'} training mean"
             f"{'' if len(at_mean) == 1 else 's'}")
    return EVALUATED_MARKER, SPLIT_COLOR["train"], f"train {metric} in eval mode (the evaluated model{whose}): {value:.3g}"
