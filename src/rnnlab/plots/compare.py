"""Several runs on shared axes: metric curves and weight-norm curves, one colour per run.

The typical use is a sweep of one setting, e.g. weight decay 2e-3 vs 2e-4 vs none: pass
``{"decay 2e-3": dir_a, "decay 2e-4": dir_b, "none": dir_c}`` (or a list of run directories,
named after their directory). One legend below the panels lists the runs by those names, once.
A name may stand for a group of runs, the seeds of one config (``{"none": [dir_s0, dir_s1, dir_s2]}``):
the group is one colour, the line the mean over its runs and the band their range (min..max), each
over the runs present at that x, out to the last x any of them reached; a panel notes where fewer
runs are present (a seed that stopped sooner), so that the tail is not read as the group's mean.
Weight norms are drawn from 0: a change of half a percent looks like one.

Example:
    >>> a = [{"epoch": e, "val_loss": 1 / e} for e in (1, 2, 3)]
    >>> b = [{"epoch": e, "val_loss": 2 / e} for e in (1, 2, 3)]
    >>> fig = plot_compare_metrics({"decay 2e-3": a, "none": b}, metrics=["val_loss"])
    >>> [t.get_text() for t in fig.legends[0].get_texts()], fig.axes[0].get_title()
    (['decay 2e-3', 'none'], 'val loss')
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import nn

from rnnlab.gates import has_gate_layout, layer_weights
from rnnlab.plots import style
from rnnlab.plots.histograms import COMPONENT_TITLES
from rnnlab.plots.metrics import (
    LOG_SAID,
    PANELS,
    budget_decisions,
    draw_series,
    load_metrics,
    mark_restored,
    marked_epochs,
    restored_epoch,
    run_name,
    series,
)
from rnnlab.plots.norms import Tracked, load_tracked, tracked_params
from rnnlab.regularize.roles import role_by_tokens
from rnnlab.rundir import RunDir
from rnnlab.tracker import TrackedGates

Runs = Mapping[str, Any] | Sequence[str | os.PathLike[str] | RunDir]


def _is_group(value: Any) -> bool:
    """A group of runs (a list of run directories or of record lists), not one run's records."""
    return (isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and bool(value)
            and all(isinstance(v, (str, os.PathLike, RunDir)) or (isinstance(v, Sequence) and not isinstance(v, str))
                    for v in value))


def _named(runs: Runs) -> dict[str, Any]:
    if isinstance(runs, Mapping):
        named = {str(k): v for k, v in runs.items()}
    elif isinstance(runs, Sequence) and not isinstance(runs, (str, bytes)):
        named = {}
        for r in runs:
            if not isinstance(r, (str, os.PathLike, RunDir)):
                raise TypeError(
                    f"runs: a list must hold run directories, got {type(r).__name__}; pass a "
                    "{name: records} mapping for records"
                )
            name = run_name(r)
            if name in named:
                raise ValueError(f"runs: two runs are named {name!r}; pass a {{name: run_dir}} mapping")
            named[name] = r
    else:
        raise TypeError(f"runs: expected a mapping name → run or a list of run directories, got {type(runs).__name__}")
    if not named:
        raise ValueError("runs: expected at least one run, got none")
    return named


class WeightSlot(NamedTuple):
    """Where a recurrent layer's weight sits, whatever its parameter is called: the recurrent
    module's path (``rnn``, ``members.1.rnn``), the component (``kernel``: input→hidden,
    ``recurrent``: hidden→hidden, ``projection``: an LSTM's ``weight_hr``), the layer and the
    direction. A built-in layer's ``rnn.weight_hh_l0`` and a user's cell's ``rnn.cell.hh.weight``
    fill one slot, so that runs of either are compared on one panel."""

    module: str
    component: str
    layer: int
    direction: str

    def label(self) -> str:
        """``rnn layer 0: recurrent (hidden→hidden)``

        >>> WeightSlot("rnn", "kernel", 1, "reverse").label()
        'rnn layer 1 reverse: kernel (input→hidden)'
        """
        what = COMPONENT_TITLES.get(self.component, f"{self.component} (hidden→hidden)")
        where = f"{self.module or 'model'} layer {self.layer}" + (" reverse" if self.direction == "reverse" else "")
        return f"{where}: {what}"


#: A torch-style weight of a recurrent layer: ``weight_ih_l0``, ``weight_hh_l1_reverse``, ``weight_hr_l0``.
_TORCH_WEIGHT = re.compile(r"weight_(ih|hh|hr)_l(\d+)(_reverse)?")
_TORCH_COMPONENT = {"ih": "kernel", "hh": "recurrent", "hr": "projection"}
#: The attributes of ``rnnlab.Recurrent`` that hold a user's cell (``gates._cells``).
_CELL_ATTRS = {"cell": "forward", "reverse_cell": "reverse"}
#: A norm layer's module (``norm``, ``norm_l0``, ``norm_l1_reverse``, ``layer_norm``, ``norm2``): its gains are
#: no recurrent layer's weights, whatever their names say (``rnn.norm_l0.hh.weight``).
_NORM_MODULE = re.compile(r"(?:\w+_)?norm(?:_l\d+(?:_reverse)?|\d+)?")
#: ``parametrizations.<name>.original``: a parametrized weight (weight drop), tracked by its stored name.
_PARAMETRIZED = re.compile(r"(^|\.)parametrizations\.([^.]+)\.original\d*$")


def _plain_name(name: str) -> str:
    """A tracked name as the layer uses it: ``rnn.parametrizations.weight_hh_l0.original`` →
    ``rnn.weight_hh_l0``."""
    return _PARAMETRIZED.sub(r"\1\2", name)


def _slot_by_name(name: str, component: str | None = None) -> WeightSlot | None:
    """The slot a parameter's name says (no model at hand): a torch-style recurrent weight
    anywhere; else a weight inside a ``Recurrent``'s ``cell`` / ``reverse_cell``, or a weight of
    no cell, whose name tokens say ``hh``/``h2h``/``recurrent`` (recurrent) or ``ih``/``i2h``/
    ``kernel`` (kernel), the rule of :mod:`rnnlab.regularize.roles`; None for the rest (biases,
    a head). ``component``: what tracked.jsonl's gate layout record says the weight is (a
    cell's ``gate_layout``: ``rnn.cell.U`` is ``recurrent``), over what its tokens say."""
    segs = _plain_name(name).split(".")
    attr = segs[-1]
    m = _TORCH_WEIGHT.fullmatch(attr)
    if m:
        return WeightSlot(".".join(segs[:-1]), _TORCH_COMPONENT[m[1]], int(m[2]),
                          "reverse" if m[3] else "forward")
    if attr.startswith("bias"):
        return None
    given = component is not None
    if not given and any(_NORM_MODULE.fullmatch(seg) for seg in segs[:-1]):
        return None  # (a layer norm's gain of what ``ih`` adds, ``rnn.norm_l0.ih.weight``: no weight matrix)
    component = component or role_by_tokens(".".join(segs))
    if component is None:
        return None
    at = next((i for i, seg in enumerate(segs[:-1]) if seg in _CELL_ATTRS), None)
    if at is not None:
        return WeightSlot(".".join(segs[:at]), component, 0, _CELL_ATTRS[segs[at]])
    # (``lstm_cell.recurrent_kernel``: the attribute says it, its module is the layer; ``rnn_cell.hh.weight``:
    # the owner says it, the layer is the owner's parent; a layout names its weights on the module that holds it)
    layer = segs[:-1] if given or role_by_tokens(attr) is not None else segs[:-2]
    return WeightSlot(".".join(layer), component, 0, "forward")


def _slots_of_model(model: nn.Module) -> dict[str, WeightSlot]:
    """The kernel and recurrent weights of ``model``'s recurrent layers by parameter name, from
    the layers' gate layout (:func:`rnnlab.gates.layer_weights`: a user's cell's declared
    ``gate_layout`` names its recurrent weight, whatever it is called)."""
    slots: dict[str, WeightSlot] = {}
    for mname, module in model.named_modules():
        try:
            if not has_gate_layout(module):
                continue
            layers = layer_weights(module)
        except (TypeError, ValueError):  # (a layout that does not fit: the names decide, as without a model)
            continue
        for lw in layers:
            for comp in ("kernel", "recurrent"):
                if comp in lw.names:
                    full = f"{mname}.{lw.names[comp]}" if mname else lw.names[comp]
                    slots.setdefault(full, WeightSlot(mname, comp, lw.layer, lw.direction))
    return slots


def weight_slots(names: Iterable[str], model: nn.Module | None = None,
                 layouts: Mapping[str, TrackedGates] | None = None) -> dict[str, WeightSlot]:
    """Which of one run's tracked parameter ``names`` are its recurrent layers' weights, and
    the :class:`WeightSlot` of each: from ``model``'s gate layouts where it is given (a user's
    cell's ``gate_layout``), else from the gate layouts the run's tracked.jsonl recorded
    (``layouts``, :attr:`rnnlab.tracker.TrackedRecords.layouts`: the same declaration, written
    when the run tracked it), else from the names (:func:`_slot_by_name`). A weight found by its
    name alone that is not torch-style is kept only when its layer also holds a recurrent weight:
    a ``kernel`` elsewhere (a dense layer's) is no recurrent layer's.

    >>> weight_slots(["rnn.weight_hh_l0", "rnn.bias_hh_l0", "head.weight"])
    {'rnn.weight_hh_l0': WeightSlot(module='rnn', component='recurrent', layer=0, direction='forward')}
    >>> sorted(s.component for s in weight_slots(["rnn.cell.ih.weight", "rnn.cell.hh.weight", "head.kernel"]).values())
    ['kernel', 'recurrent']
    >>> weight_slots(["rnn.cell.U"], layouts={"rnn.cell.U": TrackedGates("rnn", "recurrent", ("h",))})
    {'rnn.cell.U': WeightSlot(module='rnn', component='recurrent', layer=0, direction='forward')}
    >>> weight_slots(["rnn.norm_l0.hh.weight", "rnn.cell.ln.weight"])  # (norm layers' gains)
    {}
    """
    names = list(names)
    known = _slots_of_model(model) if model is not None else {}
    found: dict[str, WeightSlot] = {}
    guessed: dict[str, WeightSlot] = {}
    for name in names:
        slot = known.get(_plain_name(name))
        declared = getattr((layouts or {}).get(name), "component", None)
        if slot is not None:
            found[name] = slot
        elif declared in ("kernel", "recurrent") and (slot := _slot_by_name(name, declared)) is not None:
            found[name] = slot
        elif (slot := _slot_by_name(name)) is not None:
            (found if _TORCH_WEIGHT.fullmatch(_plain_name(name).rsplit(".", 1)[-1]) else guessed)[name] = slot
    layers = {(s.module, s.direction) for s in [*found.values(), *guessed.values()] if s.component == "recurrent"}
    found.update({n: s for n, s in guessed.items() if (s.module, s.direction) in layers})
    return {n: found[n] for n in names if n in found}


def recurrent_weights(runs: Sequence[str | os.PathLike[str] | RunDir],
                      models: Sequence[nn.Module | None] | None = None) -> list[str] | None:
    """The recurrent layers' weights (:func:`weight_slots`: ``rnn.weight_*``, an ensemble's
    ``members.K.rnn.weight_*``, a user's cell's ``rnn.cell.hh.weight``) that some run tracked as
    ``l2_mean``, in the order first seen: the usual subject of a regularization comparison
    (None: none tracked). ``models`` (one per run, None where not at hand) tells a user's cell's
    weights by its ``gate_layout``.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> for name in ("rnn.weight_hh_l0", "members.1.rnn.weight_hh_l0", "head.0.weight", "rnn.cell.hh.weight"):
    ...     run.append(run.tracked, {"step": 0, "name": name, "stat": "l2_mean", "value": 1.0})
    >>> recurrent_weights([run])
    ['rnn.weight_hh_l0', 'members.1.rnn.weight_hh_l0', 'rnn.cell.hh.weight']
    """
    names: dict[str, None] = {}
    for i, r in enumerate(runs):
        rd = r if isinstance(r, RunDir) else RunDir.existing(r)
        tracked = dict.fromkeys(rec["name"] for rec in rd.read_tracked() if rec["stat"] == "l2_mean")
        names.update(dict.fromkeys(weight_slots(tracked, models[i] if models else None)))
    return list(names) or None


def metric_title(key: str) -> str:
    """A metric key in the words of the report's metric panels (:data:`rnnlab.plots.metrics.PANELS`):
    ``val_rmse`` → ``val RMSE (data units)``; a key no panel draws stays as it is. (A panel whose
    ticks carry other units in brackets, bits per token's perplexity, is named without them: these
    panels do not show them.)

    >>> metric_title("train_loss"), metric_title("val_acc"), metric_title("val_rmse"), metric_title("xyz")
    ('train loss', 'val accuracy', 'val RMSE (data units)', 'xyz')
    """
    split = key.split("_", 1)[0]
    for panel in PANELS:
        if key in panel.keys and split in ("train", "val", "test"):
            return f"{split} {panel.title.split(' (')[0] if panel.also else panel.title}"
    return key


def metric_ylabel(key: str) -> str:
    """A panel's y label: the metric (:func:`metric_title` less its split, which the panel's title
    says) and which way is better, by rnnlab's tasks (:mod:`rnnlab.task`); a key no task reports
    is only named.

    >>> metric_ylabel("val_acc"), metric_ylabel("train_loss"), metric_ylabel("val_rmse"), metric_ylabel("xyz")
    ('accuracy, higher is better', 'loss, lower is better', 'RMSE (data units), lower is better', 'xyz')
    """
    from rnnlab.task import TASKS

    title = metric_title(key)
    words = title.split(" ", 1)[1] if title != key else key
    name = key.split("_", 1)[1] if "_" in key else key
    higher = next((m.higher_is_better for t in TASKS.values() for m in t.metrics if m.name == name), None)
    return words if higher is None else f"{words}, {'higher' if higher else 'lower'} is better"


def stat_label(stat: str) -> str:
    """A tracked stat in the words of the report's norm panels: ``l2_mean`` → ``mean l2 norm per channel``.

    >>> stat_label("l2_mean"), stat_label("grad_l2_max"), stat_label("other")
    ('mean l2 norm per channel', 'max grad_l2 norm per channel', 'other')
    """
    norm, _, kind = stat.rpartition("_")
    return f"{kind} {norm} norm per channel" if norm and kind in ("mean", "max") else stat


def _runs_compared(sizes: Sequence[int]) -> str:
    """How many runs and groups of seeds a figure compares, from each name's number of runs:
    ``3 runs compared``; ``7 groups of seeds compared (21 runs)``; a single run beside groups is
    counted as a run, not as a group.

    >>> _runs_compared([1, 1]), _runs_compared([3, 3]), _runs_compared([2, 1])
    ('2 runs compared', '2 groups of seeds compared (6 runs)', '1 group of seeds and 1 single run compared (3 runs)')
    """
    groups, singles, runs = sum(n > 1 for n in sizes), sum(n == 1 for n in sizes), sum(sizes)
    if not groups:
        return f"{singles} run compared" if singles == 1 else f"{singles} runs compared"
    said = f"{groups} group{'s' if groups != 1 else ''} of seeds"
    if singles:
        said += f" and {singles} single run{'s' if singles != 1 else ''}"
    return f"{said} compared ({runs} runs)"


#: How many curves :func:`style.series_color` and :func:`style.series_linestyle` tell apart.
DISTINCT = 40
#: What the training curves' titles add: an epoch's training figures are its batches' mean as it
#: trained (dropout on, weights moving), not the evaluated model's that ``rnnlab compare``'s table shows.
TRAINING_MODE = " (training mode)"


def run_looks(names: Sequence[str], colors: Mapping[str, str] | None) -> list[tuple[str, str]]:
    """Each name's (colour, line style): the one ``colors`` gives it (a page that shows the same
    runs in other figures, or colours by outcome), else the ``index``-th of :func:`style.series_color`;
    the line style tells apart the names of one colour: solid for the first, then dashed, dotted,
    dash-dot (as :func:`style.series_linestyle` does once the colours repeat).

    >>> run_looks(["start", "a", "b"], {"start": "#555555", "a": "#d62728", "b": "#d62728"})
    [('#555555', '-'), ('#d62728', '-'), ('#d62728', '--')]
    """
    looks: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        color = (colors or {}).get(name) or style.series_color(i)
        before = sum(1 for c, _ in looks if c == color)
        looks.append((color, style.SERIES_LINESTYLES[before % len(style.SERIES_LINESTYLES)]))
    return looks


def _legend(fig: Figure, names: Sequence[str], grouped: bool = False,
            colors: Mapping[str, str] | None = None, fewer: Mapping[str, dict[str, None]] | None = None,
            ends: Mapping[str, str] | None = None, marks: Sequence[str] = ()) -> None:
    """The figure's one legend, below the panels: each run (or group) once, in its colour and line
    style, a group with where fewer of its seeds are present (``fewer``, from :func:`_draw_runs`:
    its open points), a run with where it ended and the epoch it kept (``ends``, :func:`_end_words`);
    the title says what a group's line and band are, what a run's ``marks`` on its curves are, and
    when looks repeat."""
    handles = [Line2D([], [], color=c, linestyle=ls, linewidth=1.5) for c, ls in run_looks(names, colors)]
    fewer, ends = fewer or {}, ends or {}
    labels = [n + (f" ({'; '.join(fewer[n])}: open points)" if fewer.get(n) else "")
              + (f" ({ends[n]})" if ends.get(n) else "") for n in names]
    title = ("group of seeds (line: mean over the seeds present at each point; band: their min..max)" if grouped
             else "run")
    if marks:
        title += f"\nmarks on a run's curves, in its colour: {'; '.join(marks)}"
    if len(names) > DISTINCT:
        title += f"; {len(names)} curves: colours and line styles repeat after {DISTINCT}"
    # (a title of two lines is centred over the entries, as one of one line is)
    style.figure_legend(fig, handles, labels, title=title).get_title().set_multialignment("center")


def _group_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...] | None:
    """The mean, min and max of several runs' curves at every x that any of them has, each over the
    runs present there, and how many are, as ``(xs, mean, lo, hi, present)``: a seed that stopped
    sooner (fewer epochs, or still training) leaves the others' curves drawn to their end.

    >>> xs, mean, lo, hi, present = _group_curve([(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])),
    ...                                           (np.array([1.0, 2.0]), np.array([3.0, 4.0]))])
    >>> xs.tolist(), mean.tolist(), present.tolist()
    ([1.0, 2.0, 3.0], [2.0, 3.0, 3.0], [2, 2, 1])
    """
    curves = [c for c in curves if c[0].size]
    if not curves:
        return None
    xs = np.unique(np.concatenate([c[0] for c in curves]))
    at = np.zeros((len(curves), xs.size))
    has = np.zeros((len(curves), xs.size), dtype=bool)
    for i, (x, y) in enumerate(curves):
        idx = np.searchsorted(xs, x)
        at[i, idx], has[i, idx] = y, True
    present = has.sum(axis=0)
    # (a NaN a present run recorded stays a gap of the mean and the band, as it is of its own curve)
    mean = np.where(has, at, 0.0).sum(axis=0) / present
    lo, hi = np.where(has, at, np.inf).min(axis=0), np.where(has, at, -np.inf).max(axis=0)
    return xs, mean, lo, hi, present


def _fewer_note(curve: tuple[np.ndarray, ...], xlabel: str) -> str | None:
    """Where fewer of a group's runs are present than in all (:func:`_group_curve`), in words:
    ``1 of 2 seeds after step 100``; None where every run is present at every x."""
    xs, present = curve[0], curve[4]
    n = int(present.max())
    short = present < n
    if not short.any():
        return None
    first = int(np.argmax(short))
    if short[first:].all() and first > 0:
        return f"{int(present[first:].max())} of {n} seeds after {xlabel} {style.fmt(float(xs[first - 1]))}"
    return f"fewer than {n} seeds at {int(short.sum())} of {xs.size} {xlabel}s"


def _grid(n: int, ncols: int) -> tuple[Figure, np.ndarray]:
    cols = min(ncols, n)
    rows = -(-n // cols)
    fig, axes = style.new_figure(rows, cols, panel_size=(3.8, 2.7))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


#: The marker of a run's last epoch on its curves, in the run's colour: where it ended, whatever
#: ended it (its budget, early stopping, a kill), read apart from the curves' own points.
LAST_MARKER = "s"
#: What the legend's title says of the marks :func:`plot_compare_metrics` draws on a run's curves.
LAST_WORDS = "square = its last epoch"
KEPT_WORDS = "dashed line and ring = the epoch whose weights it kept (early stopping restored them)"


class RunEnd(NamedTuple):
    """Where a run's curves end and the epoch whose weights it kept, as :func:`plot_compare_metrics`
    marks them: the last epoch and its x, the kept epoch and its x (None: the last epoch's weights,
    or not known), and what ended it where its files say (``early stopping``, the budget), else None."""

    last: int
    last_x: float
    kept: int | None
    kept_x: float | None
    why: str | None


def run_end(source: Any, records: Sequence[dict[str, Any]], x: str = "epoch") -> RunEnd | None:
    """The :class:`RunEnd` of one run: ``records`` (its metrics) on the axis ``x`` (``"epoch"`` or
    ``"step"``), and from ``source`` where it is a run directory, the epoch whose weights it kept
    (:func:`rnnlab.plots.metrics.restored_epoch`) and what ended it (summary.json's
    ``stopped_early``, the budget's ``end_early``); None for records without an epoch.

    >>> recs = [{"epoch": e, "step": 4 * e} for e in (1, 2, 3)]
    >>> run_end(recs, recs, "step")
    RunEnd(last=3, last_x=12.0, kept=None, kept_x=None, why=None)
    """
    epochs = [r["epoch"] for r in records if isinstance(r.get("epoch"), int) and not isinstance(r["epoch"], bool)]
    if not epochs:
        return None
    kept, why = None, None
    if isinstance(source, (str, os.PathLike, RunDir)):
        rd = RunDir.existing(source)
        kept = restored_epoch(rd)
        summary = (rd.read_summary() or {}) if rd.summary.exists() else {}
        if summary.get("stopped_early"):
            why = "early stopping"
        elif any(e.get("decision") == "end_early" for e in budget_decisions(rd)):
            why = "the budget ended it early"
    last = max(epochs)
    if x == "epoch":
        return RunEnd(last, float(last), kept, None if kept is None else float(kept), why)
    # (on a step axis, where each epoch's record ended: the single-run figures' marks)
    at = {what: float(step) for _, step, what in marked_epochs(records, kept)}
    return RunEnd(last, at.get("the last", math.nan), kept, at.get("restored"), why)


def _end_words(end: RunEnd, lasts_differ: bool) -> str | None:
    """What a run's legend entry adds of its end: ``last epoch 5: early stopping; kept epoch 2``;
    the last epoch only where the runs' differ or something ended it, None where there is nothing to say.

    >>> _end_words(RunEnd(5, 10.0, 2, 4.0, "early stopping"), False), _end_words(RunEnd(20, 40.0, None, None, None), False)
    ('last epoch 5: early stopping; kept epoch 2', None)
    """
    said = []
    if lasts_differ or end.why:
        said.append(f"last epoch {end.last}" + (f": {end.why}" if end.why else ""))
    if end.kept is not None:
        said.append(f"kept epoch {end.kept}")
    return "; ".join(said) or None


def _mark_end(ax, curve: tuple[np.ndarray, np.ndarray], end: RunEnd, color: str, name: str) -> None:
    """A run's last epoch (:data:`LAST_MARKER` on its curve's last point, where that is the last
    epoch's) and the epoch it kept (the single-run figures' line, :func:`mark_restored`, in the run's
    colour, and a ring where the curve passes it) on one panel."""
    xs, ys = curve
    ok = np.isfinite(ys)
    # (marks, not curves: points of a collection, so that a panel's lines stay its runs' curves)
    if ok.any() and xs[ok][-1] == end.last_x:
        ax.scatter([end.last_x], [ys[ok][-1]], marker=LAST_MARKER, s=49, color=color, edgecolors="white",
                   linewidths=0.8, zorder=4, gid=f"last epoch {name}")
    if end.kept is not None and end.kept_x is not None:
        mark_restored(ax, end.kept_x, end.kept).set(color=color, alpha=0.8, gid=f"kept epoch {name}")
        at = np.flatnonzero((xs == end.kept_x) & ok)
        if at.size:
            ax.scatter([end.kept_x], [ys[at[0]]], marker="o", s=81, facecolors="none", edgecolors=color,
                       linewidths=1.4, zorder=4, gid=f"kept point {name}")


def plot_compare_metrics(
    runs: Runs,
    *,
    metrics: Sequence[str] = ("train_loss", "val_loss", "val_acc"),
    ncols: int = 3,
    title: str | None = None,
    caption: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """One panel per metric, one line per run (or group of runs: mean and min..max band), legend =
    run names. The x axis is the optimizer step when every record has one (runs with other batch
    sizes or data sizes then line up by the updates they made), else the epoch; every panel spans
    every run's records, the longest run's included. A ``train_`` panel says in its title that its
    values are the epochs' training-mode figures; each y axis names its metric and which way is
    better (:func:`metric_ylabel`). A panel is log where the report's panel of its metric is
    (:func:`metric_scale`: a loss whose runs span decades, as a diverged run's does; its y label says
    so); any other leaves a run that blew up off its scale (:func:`off_scale`, a note names it and
    the figure's title says the axes fit the other runs).

    Each single run's curves mark its last epoch (:data:`LAST_MARKER`) and, for a run directory
    whose early stopping restored an earlier epoch's weights, that epoch (:func:`run_end`); the
    legend's title says what the marks are, and a run directory's entry where it ended, what ended
    it, and the epoch it kept (:func:`_end_words`).

    ``runs`` maps names to run directories or lists of metric records, or to a list of those (a
    group), or is a list of run directories. A metric no run recorded gets a "no data" panel (pass
    the task's metrics, as ``rnnlab compare`` does: ``val_rmse`` for regression runs). ``caption``:
    a line under the title (``rnnlab compare``: the settings the runs differ in). Saves when
    ``path`` is given.

    >>> recs = lambda k: [{"epoch": e, "step": 4 * e, "train_loss": k / e} for e in (1, 2, 3)]
    >>> fig = plot_compare_metrics({"none": [recs(1), recs(2)]}, metrics=["train_loss"])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_title(), fig.axes[0].lines[0].get_ydata().tolist()
    ('optimizer step', 'train loss (training mode)', [1.5, 0.75, 0.5])
    >>> fig.axes[0].get_ylabel()
    'loss, lower is better'
    """
    if not metrics:
        raise ValueError("metrics: expected at least one metric name, got none")
    given = _named(runs)
    named = {n: [load_metrics(x) for x in r] if _is_group(r) else load_metrics(r) for n, r in given.items()}
    every = [recs for v in named.values() for recs in (v if _is_group(v) else [v])]
    x = "step" if all(isinstance(r.get("step"), (int, float)) for recs in every for r in recs) else "epoch"
    ends = {n: end for n, v in named.items() if not _is_group(v) and (end := run_end(given[n], v, x)) is not None}
    lasts_differ = len({e.last for e in ends.values()}) > 1
    # (one x span on every panel, set before the curves so that a panel's note finds its free corner
    # on it: a run that stopped sooner, or a metric only some runs record, drew a panel of its own length)
    spots = [float(r[x]) for recs in every for r in recs if isinstance(r.get(x), (int, float))]
    span = (min(spots), max(spots)) if spots else None
    fig, axes = _grid(len(metrics), ncols)
    fewer: dict[str, dict[str, None]] = {}
    kept_drawn = any_off = False
    for ax, key in zip(axes.flat, metrics, strict=False):
        ax.set_title(metric_title(key), fontsize=style.LABEL_SIZE)
        if span is not None:
            pad = 0.04 * (span[1] - span[0]) or 0.5
            ax.set_xlim(span[0] - pad, span[1] + pad)
        curves: dict[str, Any] = {}
        for name, recs in named.items():
            if _is_group(recs):
                curves[name] = _group_curve([series(r, key, x=x) for r in recs])
            else:
                xs, ys = series(recs, key, x=x)
                curves[name] = (xs, ys) if xs.size else None
        # (the scale before the curves: a note finds its free corner on the panel as drawn)
        log_words = metric_scale(ax, key, curves)
        off = {} if log_words else off_scale(curves)
        if off:
            _fit_others(ax, curves, off)
            any_off = True
        _draw_runs(ax, curves, empty=f"no {key} recorded", xlabel="optimizer step" if x == "step" else "epoch",
                   fewer=fewer, log=log_words is not None, off=off)
        for (name, curve), (color, _) in zip(curves.items(), run_looks(list(curves), None), strict=True):
            if curve is not None and len(curve) == 2 and name in ends:
                _mark_end(ax, curve, ends[name], color, name)
                kept_drawn = kept_drawn or ends[name].kept_x is not None
        if any(c is not None for c in curves.values()):
            ax.set_ylabel("\n".join([metric_ylabel(key), *([log_words] if log_words else [])]),
                          fontsize=style.TICK_SIZE)
        if key.startswith("train_"):
            ax.set_title(ax.get_title() + TRAINING_MODE, fontsize=style.LABEL_SIZE)
    # (a run directory's files say what ended it and what it kept; records given alone, only where they end)
    words = {n: w for n, e in ends.items()
             if isinstance(given[n], (str, os.PathLike, RunDir)) and (w := _end_words(e, lasts_differ))}
    _legend(fig, list(named), grouped=any(_is_group(v) for v in named.values()), fewer=fewer, ends=words,
            marks=([LAST_WORDS] + ([KEPT_WORDS] if kept_drawn else [])) if ends else ())
    head = title or _runs_compared([len(v) if _is_group(v) else 1 for v in named.values()])
    fig.suptitle("\n".join([head, *([caption] if caption else []), *([_off_scale_words("value")] if any_off else [])]),
                 fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


#: The most panels :func:`plot_compare_norms` draws by default (four rows of three): the figure's
#: title names the ones it has no room for.
MAX_NORM_PANELS = 12
#: How many names a line of panels not drawn lists before "and N more".
_LISTED = 6
#: A recurrent layer's weights in the order its layer reads them: input→hidden, hidden→hidden, projection.
_COMPONENT_ORDER = {"kernel": 0, "recurrent": 1, "projection": 2}


class NormPanel(NamedTuple):
    """One panel of :func:`plot_compare_norms`: its title, the parameter each run (each of a
    group's runs) draws there (None: none), and the recurrent layer's :class:`WeightSlot` it shows
    (None: a parameter by its name, a bias or a head)."""

    heading: str
    drawn: dict[str, list[str | None]]
    slot: WeightSlot | None


class NormPanels(NamedTuple):
    """What :func:`plot_compare_norms` draws of several runs' tracked norms (:func:`norm_panels`):
    its ``panels``; the titles of those it has no room for (``left_out``) and of those only one
    of the runs tracked (``one_run``: title → run), not drawn; ``why``: why there is no panel at
    all, in one line (None where there is one)."""

    panels: list[NormPanel]
    left_out: list[str]
    one_run: dict[str, str]
    why: str | None

    def not_drawn(self) -> str | None:
        """The panels not drawn, in words for the figure's title (None: every one is drawn).

        >>> NormPanels([], ["head.0.bias"], {"rnn.weight_hr_l0": "lstm"}, None).not_drawn()
        'not drawn: 1 more for room (head.0.bias); tracked by one run only: rnn.weight_hr_l0 (lstm)'
        """
        said = []
        if self.left_out:
            said.append(f"{len(self.left_out)} more for room ({_listed(self.left_out)})")
        if self.one_run:
            said.append(f"tracked by one run only: {_listed([f'{h} ({n})' for h, n in self.one_run.items()])}")
        return "not drawn: " + "; ".join(said) if said else None


def _listed(names: Sequence[str]) -> str:
    """``a, b, c and 4 more``: the first :data:`_LISTED` names, then how many others.

    >>> _listed(["a", "b"]), _listed([str(i) for i in range(8)])
    ('a, b', '0, 1, 2, 3, 4, 5 and 2 more')
    """
    more = len(names) - _LISTED
    return ", ".join(names[:_LISTED]) + (f" and {more} more" if more > 0 else "")


def _load_norms(runs: Any) -> dict[str, Any]:
    """Each run's (a group's runs') ``read_tracked`` by name (:func:`_named`)."""
    return {n: [load_tracked(x) for x in r] if _is_group(r) else load_tracked(r) for n, r in _named(runs).items()}


def norm_panels(
    runs: Mapping[str, Tracked | str | os.PathLike[str] | RunDir] | Sequence[str | os.PathLike[str] | RunDir],
    *,
    stat: str = "l2_mean",
    params: Sequence[str] | None = None,
    models: Mapping[str, nn.Module] | None = None,
    max_panels: int = MAX_NORM_PANELS,
) -> NormPanels:
    """The panels :func:`plot_compare_norms` draws for these arguments, and what it leaves out:
    a caller that writes the figure asks first, so that runs with no tracked norm in common get
    :attr:`NormPanels.why` as a line instead of a figure with nothing to compare.

    Without ``params``, every parameter that at least two of the runs tracked (all of one run's,
    when there is one): the recurrent layers' weights first, by layer, direction and component
    (kernel, recurrent, projection), whatever each run calls them (:func:`weight_slots`: a GRU's
    ``rnn.weight_hh_l0`` and a user's cell's ``rnn.cell.U`` its tracked gate layout calls
    recurrent share a panel), then the other weights (a head's), then the biases, each in the
    order tracked; at most ``max_panels``.

    >>> rec = lambda *names: {n: {"l2_mean": None} for n in names}
    >>> plan = norm_panels({"gru": rec("rnn.bias_hh_l0", "rnn.weight_hh_l0", "head.weight"),
    ...                     "lstm": rec("rnn.bias_hh_l0", "rnn.weight_hh_l0", "rnn.weight_hr_l0")})
    >>> [p.heading for p in plan.panels], plan.one_run
    (['rnn.weight_hh_l0', 'rnn.bias_hh_l0'], {'rnn.weight_hr_l0': 'lstm', 'head.weight': 'gru'})
    >>> norm_panels({"a": rec("head.weight"), "b": rec("rnn.weight_hh_l0")}).why
    "no tracked norm ('l2_mean') in common: a tracked head.weight; b tracked rnn.weight_hh_l0"
    """
    return _plan(_load_norms(runs), stat, params, models or {}, max_panels)


def _plan(named: Mapping[str, Any], stat: str, params: Sequence[str] | None, models: Mapping[str, nn.Module],
          max_panels: int) -> NormPanels:
    """:func:`norm_panels` of the runs' loaded records (``{name: read_tracked or a list of them}``)."""
    if isinstance(max_panels, bool) or not isinstance(max_panels, int) or max_panels < 1:
        raise ValueError(f"max_panels: expected an integer >= 1, got {max_panels!r}")
    # (the parameters some run recorded ``stat`` for, in the order first seen: a misspelt one in
    # ``params`` is the KeyError of plot_norm_lines, not an empty panel)
    seen: dict[str, dict[str, None]] = {}
    for tr in (t for v in named.values() for t in (v if isinstance(v, list) else [v])):
        for n, stats in tr.items():
            if stat in stats:
                seen.setdefault(n, {})[stat] = None
    chosen = tracked_params(seen, stat, params)
    if not chosen:
        return NormPanels([], [], {}, f"no {stat!r} recorded in any run")
    panels = _norm_panels(named, chosen, stat, models)
    one_run: dict[str, str] = {}
    if params is None:
        panels = _reading_order(panels)
        if len(named) > 1:
            # (a panel of one run's curve compares nothing: the title names it instead)
            by = {p.heading: [n for n, ps in p.drawn.items() if any(x is not None for x in ps)] for p in panels}
            one_run = {p.heading.splitlines()[0]: by[p.heading][0] for p in panels if len(by[p.heading]) < 2}
            panels = [p for p in panels if len(by[p.heading]) >= 2]
            if not panels:
                tracked = {n: list(dict.fromkeys(p for t in (v if isinstance(v, list) else [v]) for p in chosen
                                                 if stat in t.get(p, {})))
                           for n, v in named.items()}
                return NormPanels([], [], one_run, f"no tracked norm ({stat!r}) in common: " + "; ".join(
                    f"{n} tracked {_listed(ps) if ps else 'none'}" for n, ps in tracked.items()))
    return NormPanels(panels[:max_panels], [p.heading.splitlines()[0] for p in panels[max_panels:]], one_run, None)


def slot_rank(slot: WeightSlot, modules: Sequence[str]) -> tuple[int, int, bool, int]:
    """Where a recurrent layer's weight comes among the others in every figure of norms (the
    panels of :func:`plot_compare_norms`, a run's report, :func:`rnnlab.plots.norms.reading_order`):
    by its module's place in ``modules`` (the order the modules were first tracked), then layer,
    direction (forward first) and component (kernel, recurrent, projection).

    >>> slot_rank(WeightSlot("gru", "recurrent", 0, "forward"), ["lstm", "gru"])
    (1, 0, False, 1)
    """
    return modules.index(slot.module), slot.layer, slot.direction != "forward", _COMPONENT_ORDER.get(slot.component, 3)


def _reading_order(panels: list[NormPanel]) -> list[NormPanel]:
    """The recurrent layers' weights first (:func:`slot_rank`), then the other weights, then the
    biases, each as tracked."""
    modules = list(dict.fromkeys(p.slot.module for p in panels if p.slot is not None))

    def rank(item: tuple[int, NormPanel]) -> tuple[Any, ...]:
        i, p = item
        if p.slot is not None:
            return 0, *slot_rank(p.slot, modules), i
        first = next(x for ps in p.drawn.values() for x in ps if x is not None)
        return 2 if _plain_name(first).rsplit(".", 1)[-1].startswith("bias") else 1, 0, 0, False, 0, i

    return [p for _, p in sorted(enumerate(panels), key=rank)]


def plot_compare_norms(
    runs: Mapping[str, Tracked | str | os.PathLike[str] | RunDir] | Sequence[str | os.PathLike[str] | RunDir],
    *,
    stat: str = "l2_mean",
    params: Sequence[str] | None = None,
    ncols: int = 3,
    title: str | None = None,
    colors: Mapping[str, str] | None = None,
    models: Mapping[str, nn.Module] | None = None,
    max_panels: int = MAX_NORM_PANELS,
    caption: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Weight-norm curves (tracked ``stat``, default mean per-channel L2) of several runs:
    one panel per parameter, one line per run against the step, legend = run names. The y axis
    starts at 0 (a norm is never negative): a change is seen against the norm's size, where an
    axis fitted to the curves made 0.5 % look like a jump.

    ``params`` defaults to every parameter that at least two of the runs recorded ``stat`` for,
    the recurrent layers' weights first, then the other weights and the biases, at most
    ``max_panels`` (:func:`norm_panels`); the title names those not drawn (for room, or tracked
    by one run only), and runs with nothing in common get one panel that says what each tracked.
    ``params`` given: those (one that no run recorded ``stat`` for is a KeyError naming the
    nearest, as in :func:`plot_norm_lines`). The weights of one recurrent layer's slot
    (:func:`weight_slots`) share a panel whatever each run calls them (a built-in layer's
    ``rnn.weight_hh_l0``, a user's cell's ``rnn.cell.hh.weight``); its title then names the slot
    and which parameter each run draws. ``models`` gives a run's model by name, whose cells'
    ``gate_layout`` tells their weights where neither the names nor the run's tracked gate
    layouts do. ``colors`` gives a run its colour by name (a page that shows the same runs in
    other figures keeps one colour per run); the others take the figure's own. ``caption``: a line
    under the title, as :func:`plot_compare_metrics`'.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> for step, v in ((0, 0.575), (10, 0.578)):
    ...     run.append(run.tracked, {"step": step, "name": "rnn.weight_hh_l0", "stat": "l2_mean", "value": v})
    >>> fig = plot_compare_norms({"trial 3": run}, colors={"trial 3": "#2ca02c"})
    >>> float(fig.axes[0].get_ylim()[0]), fig.axes[0].lines[0].get_color()
    (0.0, '#2ca02c')
    """
    named = _load_norms(runs)
    sizes = [len(v) if isinstance(v, list) else 1 for v in named.values()]
    head = (title or f"{stat_label(stat)}: {_runs_compared(sizes)}") + (f"\n{caption}" if caption else "")
    plan = _plan(named, stat, params, models or {}, max_panels)
    if plan.why is not None:
        # (the panel's width less its margins: a line naming every run's parameters is long)
        return style.empty_figure(style.wrap_text(plan.why, style.LABEL_SIZE, 6.0 * 72.0 - 6 * style.EDGE),
                                  head, path)
    fig, axes = _grid(len(plan.panels), ncols)
    fewer: dict[str, dict[str, None]] = {}
    any_off = False
    for ax, (heading, drawn, _) in zip(axes.flat, plan.panels, strict=False):
        ax.set_title(heading, fontsize=style.LABEL_SIZE)
        curves: dict[str, Any] = {}
        for name, tr in named.items():
            one = [_stat_curve(t, p, stat) if p is not None else None
                   for t, p in zip(tr if isinstance(tr, list) else [tr], drawn[name], strict=True)]
            curves[name] = (_group_curve([c for c in one if c is not None]) if isinstance(tr, list) else one[0])
        off = off_scale(curves)
        tops = [t for n, c in curves.items() if n not in off and (t := _top(c)) is not None]
        if tops and max(tops) > 0:
            ax.set_ylim(0.0, 1.08 * max(tops))  # (headroom: a curve along the frame's top edge reads as cut)
        _draw_runs(ax, curves, empty=f"no {stat} recorded", xlabel="step", colors=colors, fewer=fewer, off=off)
        ax.set_ylabel(stat_label(stat))
        any_off = any_off or bool(off)
    _legend(fig, list(named), grouped=any(isinstance(v, list) for v in named.values()), colors=colors, fewer=fewer)
    # (in the title, read before the panels: a reader must not take them for all the runs tracked)
    left = plan.not_drawn()
    scale = _off_scale_words("norm") if any_off else None
    fig.suptitle("\n".join([head, *(line for line in (left, scale) if line)]), fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


#: How far a run's norm may grow, past its start and past the other runs' norms, before
#: :func:`plot_compare_norms` leaves it off a panel's scale (:func:`off_scale`).
OFF_SCALE = 10.0


def _off_scale_words(what: str) -> str:
    """The line of a figure's title that says some panel left a run off its scale (:func:`off_scale`)."""
    return (f"y axes fit the other runs: a run whose {what} grew past {OFF_SCALE:g}× its start and theirs is off "
            "the scale (its top noted)")


def metric_scale(ax, key: str, curves: Mapping[str, tuple[np.ndarray, ...] | None]) -> str | None:
    """Make ``ax``' y axis log where the report's panel of ``key`` is (:data:`rnnlab.plots.metrics.PANELS`):
    always for a learning rate or a gradient norm; for a loss where the runs' positive values span more
    than its :attr:`~rnnlab.plots.metrics.Panel.log_beyond` decades (one diverged run's spike of 4e12 left
    the others' losses a flat line at 0). Returns what the y label adds (``log scale (the values span 13
    decades)``), None where the axis stays linear.

    >>> fig, axes = style.new_figure(1, 1)
    >>> steps = np.arange(3.0)
    >>> metric_scale(axes[0, 0], "val_loss", {"lr 5": (steps, np.array([0.7, 4e12, 3.6])),
    ...                                       "lr 0.003": (steps, np.array([0.7, 0.1, 1e-3]))})
    'log scale (the values span 16 decades)'
    >>> metric_scale(axes[0, 0], "val_acc", {"lr 5": (steps, np.array([0.5, 0.5, 0.5]))})
    """
    panel = next((p for p in PANELS if key in p.keys), None)
    values = [np.asarray(v, dtype=np.float64) for c in curves.values() if c is not None
              for v in (c[2:4] if len(c) == 5 else c[1:2])]
    if panel is None or not any((v[np.isfinite(v)] > 0).any() for v in values):
        return None
    decades = style.log_decades(values)
    if panel.log:
        words = LOG_SAID
    elif panel.log_beyond is not None and decades > panel.log_beyond:
        words = style.LOG_SPANS.format(decades)
    else:
        return None
    style.log_axis(ax)
    return words


def _fit_others(ax, curves: Mapping[str, tuple[np.ndarray, ...] | None], off: Mapping[str, float]) -> None:
    """A linear panel's y axis over the values of the runs not ``off`` its scale, with a margin."""
    kept = [np.asarray(v, dtype=np.float64).ravel() for n, c in curves.items() if c is not None and n not in off
            for v in (c[2:4] if len(c) == 5 else c[1:2])]
    ys = np.concatenate(kept) if kept else np.empty(0)
    ys = ys[np.isfinite(ys)]
    if not ys.size:
        return
    lo, hi = float(ys.min()), float(ys.max())
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 0.5
    ax.set_ylim(lo - pad, hi + pad)


def _top(curve: tuple[np.ndarray, ...] | None) -> float | None:
    """The largest finite value a run's curve (a group's band: its top) reaches; None: none."""
    if curve is None:
        return None
    ys = np.asarray(curve[3] if len(curve) == 5 else curve[1], dtype=np.float64)
    ys = ys[np.isfinite(ys)]
    return float(ys.max()) if ys.size else None


def off_scale(curves: Mapping[str, tuple[np.ndarray, ...] | None]) -> dict[str, float]:
    """The runs of one panel of :func:`plot_compare_norms` left off its y scale, by name, with
    the largest value each reached: those whose norm grew past :data:`OFF_SCALE` times its first
    finite value and past :data:`OFF_SCALE` times the largest of the runs that did not (a run of
    lr 10 whose weights exploded to 200, against runs near 0.6: on one axis from 0 those are flat
    lines, and whether a weight decay worked, a change of 10 %, cannot be read). None where every
    run grew so, or none did: the axis then spans them all.

    >>> steps = np.arange(3.0)
    >>> off_scale({"decay": (steps, np.array([0.6, 0.55, 0.5])), "lr 10": (steps, np.array([0.6, 60.0, 212.0])),
    ...            "dropout": (steps, np.array([0.6, 0.62, 0.65]))})
    {'lr 10': 212.0}
    >>> off_scale({"decay": (steps, np.array([0.6, 0.55, 0.5])), "lr 0.1": (steps, np.array([0.6, 2.0, 5.9]))})
    {}
    """
    grown: dict[str, float] = {}
    steady: list[float] = []
    for name, c in curves.items():
        top = _top(c)
        if top is None or c is None:
            continue
        ys = np.asarray(c[3] if len(c) == 5 else c[1], dtype=np.float64)
        first = float(ys[np.isfinite(ys)][0])
        # (a norm that starts at 0, a bias set to zero, has no start to have grown from)
        if first > 0 and top > OFF_SCALE * first:
            grown[name] = top
        else:
            steady.append(top)
    if not steady or max(steady) <= 0:
        return {}
    return {n: t for n, t in grown.items() if t > OFF_SCALE * max(steady)}


def _norm_panels(named: Mapping[str, Any], params: Sequence[str], stat: str,
                 models: Mapping[str, nn.Module]) -> list[NormPanel]:
    """The panels of :func:`plot_compare_norms`, in the order of ``params``: each one's title
    and, per run, the parameter each of its runs (a group's members) draws there (None: none).
    ``params`` of one :class:`WeightSlot` share a panel, unless some run tracked two of them
    (those keep a panel each); a panel whose runs draw differently named parameters says in its
    title which each draws.

    >>> rec = lambda n: {n: {"l2_mean": None}}
    >>> panels = _norm_panels({"gru": rec("rnn.weight_hh_l0"), "mgu": rec("rnn.cell.hh.weight")},
    ...                       ["rnn.weight_hh_l0", "rnn.cell.hh.weight"], "l2_mean", {})
    >>> [(p.heading.splitlines()[0], p.drawn) for p in panels]
    [('rnn layer 0: recurrent (hidden→hidden)', {'gru': ['rnn.weight_hh_l0'], 'mgu': ['rnn.cell.hh.weight']})]
    """
    members = {name: (tr if isinstance(tr, list) else [tr]) for name, tr in named.items()}
    slot_of: dict[str, WeightSlot] = {}
    alone: set[str] = set()
    for name, trs in members.items():
        for t in trs:
            slots = weight_slots([p for p in params if stat in t.get(p, {})], models.get(name),
                                 getattr(t, "layouts", None))
            for p, slot in slots.items():
                slot_of.setdefault(p, slot)
            taken = Counter(slots.values())
            alone.update(p for p, slot in slots.items() if taken[slot] > 1)
    keys: dict[Any, None] = dict.fromkeys(p if p in alone or p not in slot_of else slot_of[p] for p in params)
    panels = []
    for key in keys:
        drawn = {name: [next((p for p in params if stat in t.get(p, {})
                              and (p if p in alone or p not in slot_of else slot_of[p]) == key), None) for t in trs]
                 for name, trs in members.items()}
        who: dict[str, list[str]] = {}
        for name, ps in drawn.items():
            for p in dict.fromkeys(p for p in ps if p is not None):
                who.setdefault(p, []).append(name)
        if isinstance(key, str) or len(who) == 1:
            heading = key if isinstance(key, str) else next(iter(who))
        else:  # (runs that call the slot's weight differently: the figure says what each line is)
            heading = key.label() + "".join(f"\n{p}: {', '.join(ns)}" for p, ns in who.items())
        panels.append(NormPanel(heading, drawn, key if isinstance(key, WeightSlot) else slot_of.get(key)))
    return panels


def _stat_curve(tr: Tracked, pname: str, stat: str) -> tuple[np.ndarray, np.ndarray] | None:
    s = tr.get(pname, {}).get(stat)
    if s is None or not len(s.steps):
        return None
    return s.steps.astype(np.float64), np.asarray(s.values, dtype=np.float64)


def _draw_runs(ax, curves: Mapping[str, tuple[np.ndarray, ...] | None], *, empty: str, xlabel: str,
               colors: Mapping[str, str] | None = None,
               fewer: dict[str, dict[str, None]] | None = None, log: bool = False,
               off: Mapping[str, float] | None = None) -> None:
    """One line per run on ``ax``, each run in its colour and line style (the figure's legend, see
    :func:`_legend`, names them), a group's ``(xs, mean, lo, hi, present)`` as its mean and a band,
    its points where fewer of its runs are present drawn open and said in ``fewer`` (name →
    phrases, for the legend). One note on the panel, wrapped to its width, in the corner its curves
    leave freest (:func:`_free_corner`), names the runs without data here, the values a curve could
    not draw (non-finite; not positive, on a ``log`` axis) and the runs ``off`` the panel's scale
    (name → their top, :func:`off_scale`)."""
    notes, missing, drawn = [], [], 0
    for (name, curve), (color, linestyle) in zip(curves.items(), run_looks(list(curves), colors), strict=True):
        if curve is None:
            missing.append(name)
            continue
        note = draw_series(ax, curve[0], curve[1], label=name, color=color, linestyle=linestyle, log=log)
        if len(curve) == 5:
            ax.fill_between(curve[0], curve[2], curve[3], color=color, alpha=0.18, linewidth=0)
            said = _fewer_note(curve, xlabel)
            if said:
                # the points of fewer seeds drawn open: the mean of some seeds, not the group's
                short = curve[4] < curve[4].max()
                ax.plot(curve[0][short], curve[1][short], linestyle="none", marker="o", markersize=3.5,
                        markerfacecolor="white", markeredgecolor=color, markeredgewidth=1.0, zorder=3)
                if fewer is not None:
                    fewer.setdefault(name, {})[said] = None
        drawn += 1
        if note:
            notes.append(note)
    if not drawn:
        style.no_data(ax, empty)
    elif missing:
        notes.append("no data: " + ", ".join(missing))
    if off:
        notes.append("off the scale: " + "; ".join(f"{n} (up to {style.fmt(t)})" for n, t in off.items()))
    if notes:
        # (the panel's width less the note's margins: a line of run names ran out of the panel, over the curves)
        room = ax.get_position().width * ax.figure.get_figwidth() * 72.0 - 6 * style.EDGE
        text = style.wrap_text("\n".join(notes), style.NOTE_SIZE, room)
        style.note(ax, text, warn=True, loc=_free_corner(ax, [c for c in curves.values() if c is not None], text))
    ax.set_xlabel(xlabel)
    style.integer_ticks(ax.xaxis)


def _free_corner(ax, curves: Sequence[tuple[np.ndarray, ...]], text: str) -> str:
    """The corner of ``ax`` (``lower left`` first) where a note of ``text`` covers the fewest of
    the curves' points: a loss ends near 0 at the right, an accuracy near 1, and a note there hid them.

    >>> from rnnlab.plots.style import new_figure
    >>> fig, axes = new_figure(1, 1)
    >>> falling, rising = (np.arange(10.0), np.linspace(1.0, 0.0, 10)), (np.arange(10.0), np.linspace(0.0, 1.0, 10))
    >>> _ = axes[0, 0].plot(*falling)
    >>> _free_corner(axes[0, 0], [falling], "a note"), _free_corner(axes[0, 0], [rising], "a note")
    ('lower left', 'upper left')
    """
    ax.get_xlim(), ax.get_ylim()  # (the view as autoscaled to the curves drawn, before it is read)
    xs = np.concatenate([np.asarray(c[0], dtype=float) for c in curves] + [np.zeros(0)])
    ys = np.concatenate([np.asarray(c[1], dtype=float) for c in curves] + [np.zeros(0)])
    if ax.get_yscale() == "log":  # (not drawn there, and a log scale clips them to far below its view)
        ys = np.where(ys > 0, ys, np.nan)
    # (the points as shares of the panel, on its scales: a log axis' small values are not at its bottom)
    with np.errstate(divide="ignore", invalid="ignore"):
        fx, fy = (ax.transScale + ax.transLimits).transform(np.column_stack([xs, ys])).T if xs.size else (xs, ys)
    # the note's size as a share of the panel's (points; the panel before layout, near enough)
    box = ax.get_position()
    w, h = style.text_extent(text, style.NOTE_SIZE)
    fw = min(1.0, (w + 6) / max(1.0, box.width * ax.figure.get_figwidth() * 72)) + 0.02
    fh = min(1.0, (h + 6) / max(1.0, box.height * ax.figure.get_figheight() * 72)) + 0.02

    def crowd(loc: str) -> int:
        inx = fx < fw if "left" in loc else fx > 1 - fw
        iny = fy < fh if "lower" in loc else fy > 1 - fh
        return int((inx & iny).sum())

    return min(("lower left", "upper left", "upper right", "lower right"), key=crowd)
