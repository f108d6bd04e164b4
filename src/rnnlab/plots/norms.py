"""Weight-norm evolution from the tracker's records (``RUN_DIR/tracked.jsonl``).

* :func:`plot_norm_histograms`: a grid of per-channel norm histograms, rows = sampled steps
  (first to last, epoch in the label; step 0, the untrained weights, "before training"),
  columns = parameters (``ncols`` side by side, then wrapped); the bins of a parameter are
  shared by its rows so that a distribution moving or widening over training shows as a shift.
* :func:`plot_norm_lines`: mean and max of the per-channel norms over steps, one panel per
  parameter (for gradient norms, the whole model's gradient norm in a first panel); with
  ``norm="update_ratio"`` each parameter's update ratio, with ``norm="target_norm"`` each
  :class:`~rnnlab.optim.TargetNormController` group's norm, target and weight decay
  (:data:`LINE_KINDS`): every statistic the tracker and the controller record has its lines.

Both take ``read_tracked(run_dir)`` (``{name: {stat: TrackedSeries}}``) or a run directory.
Where the records name a parameter's gates (``read_tracked(...).layouts``: an LSTM's or GRU's
stacked rows, a cell's declared ``gate_layout``), its per-channel norms are split per gate:
with ``per_gate=True``, one line per gate (``recurrent f (forget gate)``), and histograms
stacked by gate.

A parameter has one colour in all these figures (:func:`parameter_color`), never a gate's: the
gates' colours (:data:`rnnlab.plots.style.GATE_COLORS`) are for the gates of a split parameter.

Example:
    >>> import numpy as np
    >>> from rnnlab.tracker import TrackedSeries
    >>> s = TrackedSeries(np.arange(3), np.array([[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]]),
    ...                   np.array([1.0, 1.0, 2.0]))
    >>> fig = plot_norm_histograms({"w": {"l2_per_channel": s}}, rows=3)
    >>> len(fig.axes), fig.axes[0].get_title()
    (3, 'w')
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rnnlab._checks import check_choice
from rnnlab.gates import parse_param_name
from rnnlab.plots import style
from rnnlab.plots.metrics import load_metrics, mark_restored, restored_epoch, series
from rnnlab.rundir import RunDir
from rnnlab.tracker import NORMS, TrackedGates, TrackedSeries, read_tracked

Tracked = Mapping[str, Mapping[str, TrackedSeries]]
#: Names in tracked.jsonl that are not parameters.
NON_PARAMETERS = frozenset({"loss", "model"})
#: How the names :class:`~rnnlab.optim.TargetNormController` records begin (``target_norm/<group>``,
#: stats ``norm``, ``target``, ``weight_decay``): groups of parameters, not parameters.
CONTROLLER = "target_norm/"
#: The colour of the whole model's gradient norm (``"model"``): no parameter's.
WHOLE_COLOR = "#000000"
#: The spread, in parts of their size, within which a log panel's values are drawn as one
#: constant value (matplotlib's view of equal values: a decade below and above).
CONSTANT_ON_LOG = 1e-10


def is_parameter(name: str) -> bool:
    """Whether a name of tracked.jsonl is a parameter's (not the loss, the whole model's gradient
    norm or a target-norm controller's group).

    >>> is_parameter("rnn.weight_hh_l0"), is_parameter("model"), is_parameter("target_norm/rec")
    (True, False, False)
    """
    return name not in NON_PARAMETERS and not name.startswith(CONTROLLER)


class LineKind(NamedTuple):
    """What :func:`plot_norm_lines` draws for a ``norm`` that is no norm: the ``lines``
    ``(stat, label, linestyle)`` of each panel, the y label, a log y axis, the lines of a panel
    beside each one (``aside``: another unit, on a log axis), whether the panels are the
    controller's groups (:data:`CONTROLLER`) rather than parameters, and the figure's title."""

    lines: tuple[tuple[str, str, str], ...]
    ylabel: str
    log: bool
    aside: tuple[str, str] | None
    groups: bool
    title: str


#: The ``norm`` values of :func:`plot_norm_lines` beside the norms themselves.
LINE_KINDS: dict[str, LineKind] = {
    # (a healthy ratio is around 1e-3 and a bad one is decades off: a log axis shows both)
    "update_ratio": LineKind((("update_ratio", "update ratio", "-"),), "‖Δw‖ / ‖w‖ (log)", True, None, False,
                             "update ratio ‖w after − w before‖ / ‖w before‖ of the optimizer step after each "
                             "gradient record"),
    "target_norm": LineKind((("norm", "norm", "-"), ("target", "target", "--")), "per-channel norm", False,
                            ("weight_decay", "weight decay"), True,
                            "TargetNormController: each group's norm (solid), target (dashed) and weight decay"),
}


def load_tracked(source: Tracked | str | os.PathLike[str] | RunDir) -> Tracked:
    """``read_tracked(run_dir)`` for a run directory; a mapping is returned as it is."""
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (str, os.PathLike, RunDir)):
        return read_tracked(source)
    raise TypeError(
        f"tracked: expected a run directory or read_tracked(...)'s mapping, got {type(source).__name__}"
    )


def own_name(name: str) -> str:
    """A parameter's name as its module declares it: a DropConnect'ed weight is tracked as
    ``<module>.parametrizations.<name>.original``.

    >>> own_name("rnn.parametrizations.weight_hh_l0.original")
    'rnn.weight_hh_l0'
    """
    return re.sub(r"\.parametrizations\.(\w+)\.original$", r".\1", name)


def is_weight(name: str, layouts: Mapping[str, TrackedGates] | None = None) -> bool:
    """Whether a parameter is a weight (``weight``, ``weight_hh_l0``...), not a bias or another one:
    by its name, or where a run's tracked gate layouts (``layouts``) say it is a recurrent layer's
    weight (a user's cell's ``U`` that its ``gate_layout`` calls recurrent).

    >>> is_weight("rnn.parametrizations.weight_hh_l0.original"), is_weight("head.bias")
    (True, False)
    >>> is_weight("rnn.cell.U"), is_weight("rnn.cell.U", {"rnn.cell.U": TrackedGates("mine", "recurrent", ("h",))})
    (False, True)
    """
    declared = getattr((layouts or {}).get(name), "component", None)
    return declared in WEIGHT_COMPONENTS or own_name(name).rsplit(".", 1)[-1].startswith("weight")


#: The components of a gate layout that are weight matrices (the others are biases).
WEIGHT_COMPONENTS = ("kernel", "recurrent", "projection")


def reading_order(names: Sequence[str], layouts: Mapping[str, TrackedGates] | None = None) -> list[str]:
    """The recurrent layers' weights first (what a run's figures are about), in the order of
    :func:`rnnlab.plots.compare.slot_rank` (by module as tracked, layer, direction, then kernel,
    recurrent, projection), then the recurrent layers' other parameters (their biases), then the other
    weights, then norm layers' gains and shifts, then the rest, in the given (the tracker's) order
    otherwise: the order of the report's panels and of the parameters' colours
    (:func:`parameter_color`). Which weights are a recurrent layer's, and of what, is read as
    :func:`rnnlab.plots.compare.weight_slots` reads it: from ``layouts`` (a run's tracked gate
    layouts, :attr:`rnnlab.tracker.TrackedRecords.layouts`: a user's cell's declared
    ``gate_layout`` names its recurrent weight and its biases, whatever they are called), else from
    the names.

    >>> reading_order(["frontend.norm.weight", "frontend.conv.weight", "head.bias", "rnn.bias_ih_l0",
    ...                "rnn.weight_hh_l0"])
    ['rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'frontend.conv.weight', 'frontend.norm.weight', 'head.bias']
    >>> reading_order(["lstm.weight_ih_l0", "lstm.bias_ih_l0", "mgu.cell.b", "mgu.cell.U", "head.weight"],
    ...               {"mgu.cell.U": TrackedGates("mgu", "recurrent", ("f", "n")),
    ...                "mgu.cell.b": TrackedGates("mgu", "bias_ih", ("f", "n"))})
    ['lstm.weight_ih_l0', 'mgu.cell.U', 'lstm.bias_ih_l0', 'mgu.cell.b', 'head.weight']
    """
    # (imported here: rnnlab.plots.compare reads the tracked records through this module)
    from rnnlab.plots.compare import slot_rank, weight_slots

    slots = weight_slots(names, layouts=layouts)
    modules = list(dict.fromkeys(s.module for s in slots.values()))

    def rank(item: tuple[int, str]) -> tuple[int | bool, ...]:
        i, name = item
        if name in slots:
            return 0, 0, *slot_rank(slots[name], modules), i
        own = own_name(name)
        declared = getattr((layouts or {}).get(name), "component", None)
        if parse_param_name(own) is not None or (declared is not None and declared.startswith("bias")):
            return 0, 1 if is_weight(name, layouts) else 2, i
        in_norm = any(token.startswith("norm") for token in own.split(".")[:-1])
        return (2 if in_norm else 1) if is_weight(name, layouts) else 3, i

    return [n for _, n in sorted(enumerate(names), key=rank)]


def parameter_color(tracked: Tracked, name: str) -> str:
    """The colour of ``name`` in every figure of ``tracked``: :func:`rnnlab.plots.style.parameter_color`
    by its place in the :func:`reading_order` of the parameters (the order of the report's panels:
    the panels a figure shows have colours of their own), or among the controller's groups for a
    group; the whole model's gradient norm is :data:`WHOLE_COLOR`.

    >>> tr = {"frontend.weight": {}, "rnn.weight_hh_l0": {}, "model": {}}
    >>> parameter_color(tr, "frontend.weight") == style.PARAMETER_COLORS[1]
    True
    """
    if name == "model":
        return WHOLE_COLOR
    if name.startswith(CONTROLLER):
        return style.parameter_color(name, [n for n in tracked if n.startswith(CONTROLLER)])
    return style.parameter_color(name, reading_order([n for n in tracked if is_parameter(n)],
                                                     getattr(tracked, "layouts", None)))


def mean_change(series: TrackedSeries | None) -> str | None:
    """How much a norm changed from its first finite record to its last, for a panel's title: in %
    of the first (``"mean +2.2 % since step 0"``), from and to where the first is 0; None with
    fewer than two finite records. The axes of a panel span its own range, so a change of 2 % fills
    the panel as one of 250 % does: the title says which it is.

    >>> mean_change(TrackedSeries(np.array([0, 10]), np.array([0.5842, 0.5969]), np.ones(2)))
    'mean +2.2 % since step 0'
    >>> mean_change(TrackedSeries(np.array([0, 10]), np.array([0.594, 2.122]), np.ones(2)))
    'mean +257 % since step 0'
    """
    if series is None:
        return None
    v = np.asarray(series.values, dtype=np.float64)
    ok = np.isfinite(v)
    if v.ndim != 1 or ok.sum() < 2:
        return None
    first, last = float(v[ok][0]), float(v[ok][-1])
    since = f"since step {int(series.steps[ok][0])}"
    if first == 0:
        return f"mean {style.fmt(first)} → {style.fmt(last)} {since}"
    pct = 100.0 * (last - first) / abs(first)
    # (as many decimals as tell a small change from none, none for a change of hundreds of %)
    return f"mean {pct:+.{2 if abs(pct) < 1 else 1 if abs(pct) < 100 else 0}f} % {since}"


def _check_norm(norm: object, argument: str, per_channel: bool) -> str:
    """A norm (``"l2"``, ``"grad_l2"``... or one of :data:`LINE_KINDS`) or per-channel stat name
    the tracker records, else a ValueError with a suggestion (a typo would otherwise give an empty
    "no ... recorded" panel)."""
    norms = [f"{prefix}{n}" for prefix in ("", "grad_") for n in NORMS]
    options = [f"{n}_per_channel" for n in norms] if per_channel else [*norms, *LINE_KINDS]
    if not isinstance(norm, str):
        raise TypeError(f"{argument}: expected a string among {options}, got {type(norm).__name__} {norm!r}")
    return check_choice(argument, norm, options)


def tracked_params(tracked: Tracked, stat: str, params: Sequence[str] | None, *, groups: bool = False) -> list[str]:
    """The parameters (``groups``: the target-norm controller's groups) of ``tracked`` that
    recorded ``stat``, or ``params`` when each of them did; a name that did not is a KeyError
    with the names that did and the nearest one (a typo is not an empty panel).

    >>> tracked_params({"rnn.weight_hh_l0": {"l2_mean": None}}, "l2_mean", ["rnn.weight_hh"])
    Traceback (most recent call last):
    ...
    KeyError: "params: no 'l2_mean' recorded for ['rnn.weight_hh'], expected some of ['rnn.weight_hh_l0']; did you mean 'rnn.weight_hh_l0'?"
    """
    have = [n for n, stats in tracked.items()
            if (n.startswith(CONTROLLER) if groups else is_parameter(n)) and stat in stats]
    if params is None:
        return have
    missing = [p for p in params if p not in have]
    if missing:
        from rnnlab._checks import did_you_mean

        raise KeyError(
            f"params: no {stat!r} recorded for {missing}, expected some of {have}"
            f"{did_you_mean(missing[0], have)}"
        )
    return list(params)


def gate_parts(tracked: Tracked, name: str, stat: str) -> dict[str, np.ndarray] | None:
    """The per-channel ``stat`` of parameter ``name`` split per gate, ``{gate: [records, H]}``,
    where the records name its gates (``read_tracked(...).layouts``, :class:`TrackedGates`);
    None for a parameter drawn whole (no gates named, one gate, or nothing to split).

    >>> import numpy as np
    >>> from rnnlab.tracker import TrackedRecords
    >>> s = TrackedSeries(np.arange(1), np.array([[1.0, 2.0, 3.0, 4.0]]), np.full(1, np.nan))
    >>> tr = TrackedRecords({"w": {"l2_per_channel": s}}, {"w": TrackedGates("gru", "recurrent", ("r", "z"))})
    >>> gate_parts(tr, "w", "l2_per_channel") is None  # (a GRU has three gates: not this layout)
    True
    >>> tr.layouts["w"] = TrackedGates("lstm", "recurrent", ("i", "f", "g", "o"))
    >>> gate_parts(tr, "w", "l2_per_channel")["f"]
    array([[2.]])
    """
    layout = _layout(tracked, name)
    series = tracked.get(name, {}).get(stat)
    if layout is None or series is None:
        return None
    return layout.split(np.asarray(series.values))


def _layout(tracked: Tracked, name: str) -> TrackedGates | None:
    """What the records say of ``name``'s rows (a mapping of one's own names none)."""
    return getattr(tracked, "layouts", {}).get(name)


def _gate_label(layout: TrackedGates | None, gate: str) -> str:
    """``"recurrent f (forget gate)"``: the component, then the gate as the gate figures name it."""
    return f"{layout.component} {style.gate_title(gate)}" if layout and layout.component else style.gate_title(gate)


def _gate_color(gate: str, index: int) -> str:
    return style.GATE_COLORS.get(gate, style.series_color(index))


def _gate_histograms(ax, rows: dict[str, np.ndarray], edges: np.ndarray) -> None:
    """One record's per-channel norms of a gated parameter, stacked by gate on the shared ``edges``,
    each gate's mean dashed in its colour (the figure's one key names the gates)."""
    fins = {gate: v[np.isfinite(v)] for gate, v in rows.items()}
    colors = [_gate_color(gate, k) for k, gate in enumerate(fins)]
    # Stacked: the outline is the parameter's whole histogram, as drawn without gates, and the
    # colours say which gate its channels belong to (outlines side by side tangle where gates overlap).
    counts, _, _ = ax.hist(list(fins.values()), bins=edges, color=colors, histtype="stepfilled", stacked=True,
                           alpha=0.85)
    top = max(float(np.max(counts)), 1.0)
    for color, fin in zip(colors, fins.values(), strict=True):
        if fin.size:
            ax.axvline(float(fin.mean()), color=color, linewidth=1.0, linestyle="--")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylim(0, top * style.NOTE_ROOM)
    warn = style.nonfinite_note(np.concatenate(list(rows.values())))
    if warn:
        style.note(ax, warn, warn=True)


def _step_label(series: TrackedSeries, i: int) -> str:
    """A histogram row's label: its step and the epoch it fell in; step 0 is the untrained weights
    (recorded before the first update), which "epoch 1" would read as after the first epoch."""
    step = int(series.steps[i])
    if step == 0:
        return "step 0\n(before training)"
    e = float(series.epochs[i])
    return f"step {step}" + (f"\nepoch {int(e)}" if math.isfinite(e) else "")


def _sample(n: int, rows: int) -> list[int]:
    if n <= rows:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, rows)})


def plot_norm_histograms(
    tracked: Tracked | str | os.PathLike[str] | RunDir,
    *,
    stat: str = "l2_per_channel",
    params: Sequence[str] | None = None,
    rows: int = 5,
    bins: int = 30,
    ncols: int = 3,
    per_gate: bool = False,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Grid of histograms of the per-channel norms ``stat``: rows sampled steps, columns parameters.

    ``rows`` steps are sampled evenly from the first record to the last of each parameter;
    ``bins`` caps the number of bins (fewer for few channels);
    ``params`` (default: every parameter with ``stat``) picks the parameters, shown as columns of
    ``rows`` panels, at most ``ncols`` parameters side by side (more wrap into further rows, the
    parameters spread evenly over them). ``stat``
    is one of the tracker's per-channel stats (``"l2_per_channel"``, ``"grad_l1_per_channel"``...;
    a misspelt one is a ValueError). With ``per_gate``, a parameter whose records name its gates
    (:func:`gate_parts`) has its histogram stacked by gate (the outline is the whole one, the colours
    the gates', named in its first panel), each gate's mean dashed in its colour. Saves when ``path``
    is given. With nothing recorded, one panel says so.
    """
    if rows < 1 or bins < 1:
        raise ValueError(f"rows, bins: expected positive numbers, got {rows}, {bins}")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols: expected an integer >= 1, got {ncols!r}")
    _check_norm(stat, "stat", per_channel=True)
    data = load_tracked(tracked)
    names = tracked_params(data, stat, params)
    if not names:
        return style.empty_figure(f"no {stat!r} recorded", title or f"per-channel norms ({stat})", path)
    nrows = max(min(rows, len(data[n][stat].steps)) for n in names)
    # Parameters are blocks of nrows panels, ncols blocks per row: a big model wraps into rows
    # of blocks instead of one unreadably wide strip.
    # As few rows of blocks as ``ncols`` allows, the parameters spread evenly over them: 4 with
    # ncols=3 are 2 + 2, not 3 + 1 beside two empty blocks.
    block_rows = math.ceil(len(names) / ncols)
    cols = math.ceil(len(names) / block_rows)
    # Wide enough for the title even with one or two columns.
    fig, grid = style.new_figure(
        nrows * block_rows, cols, panel_size=(max(2.7, 7.5 / cols), 1.35 if nrows > 1 else 2.2)
    )
    blocks = [grid[b * nrows:(b + 1) * nrows] for b in range(block_rows)]
    for k in range(len(names), block_rows * cols):  # the unused blocks of the last row
        for ax in blocks[-1][:, k % cols]:
            ax.set_visible(False)
    gates: dict[str, None] = {}  # (the gates of the gated parameters drawn, in their order)
    for k, name in enumerate(names):
        axes, col = blocks[k // cols], k % cols
        s = data[name][stat]
        idx = _sample(len(s.steps), nrows)
        values = [np.asarray(s.values[i], dtype=np.float64).ravel() for i in idx]
        parts = gate_parts(data, name, stat) if per_gate else None
        finite_all = [v[np.isfinite(v)] for v in values]
        pooled = np.concatenate(finite_all) if finite_all else np.empty(0)
        if pooled.size:
            lo, hi = float(pooled.min()), float(pooled.max())
            if lo == hi:
                pad = max(abs(lo) * 0.05, 1e-3)
                lo, hi = lo - pad, hi + pad
            # Rice rule capped by ``bins``: a few dozen channels get a shape, not a comb.
            n_bins = min(bins, max(5, math.ceil(2 * max(v.size for v in values) ** (1 / 3))))
            edges = np.linspace(lo, hi, n_bins + 1)
        axes[0, col].set_title(name, fontsize=style.LABEL_SIZE)
        for row in range(nrows):
            ax = axes[row, col]
            if row >= len(idx):
                style.no_data(ax, "no record")
                continue
            v, fin = values[row], finite_all[row]
            if fin.size == 0:
                style.no_data(ax, "no finite value" if v.size else "empty")
            elif parts is not None:
                _gate_histograms(ax, {g: p[idx[row]] for g, p in parts.items()}, edges)
                gates.update(dict.fromkeys(parts))
            else:
                # One filled outline, not a bar per bin (artists each): the same pixels.
                counts, _, _ = ax.hist(fin, bins=edges, color=parameter_color(data, name), alpha=0.85,
                                       histtype="stepfilled")
                ax.set_xlim(edges[0], edges[-1])
                # (room above the tallest bar for the note in the corner: it must not cover the bars' tops)
                ax.set_ylim(0, max(float(counts.max()), 1.0) * style.NOTE_ROOM)
                ax.axvline(float(fin.mean()), color="black", linewidth=0.9, linestyle="--")
                warn = style.nonfinite_note(v)
                if warn:
                    style.note(ax, warn, warn=True)
                elif fin.min() == fin.max():
                    style.note(ax, f"constant = {style.fmt(float(fin[0]))}", warn=True)
                else:
                    style.note(ax, f"mean {style.fmt(float(fin.mean()))}")
            if col == 0:
                ax.set_ylabel(_step_label(s, idx[row]), fontsize=style.NOTE_SIZE)
            ax.set_xlabel(f"{stat.replace('_per_channel', '')} norm per channel")
    # A parameter's rows share its bins and range: its x axis is labelled once, at its bottom.
    for axes in blocks:
        style.share_x_labels(axes)
    if gates:
        # One key of the gates' colours for the figure, under its panels (as histograms.py's):
        # a key inside each gated column covered its bars and its dashed means.
        colors = [_gate_color(g, k) for k, g in enumerate(gates)]
        style.figure_legend(fig, [Patch(facecolor=c, edgecolor=c, alpha=0.85) for c in colors],
                            [style.gate_title(g) for g in gates])
    fig.suptitle(title or f"Per-channel weight norms over training ({stat}; dashed: mean)",
                 fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def plot_norm_lines(
    tracked: Tracked | str | os.PathLike[str] | RunDir,
    *,
    norm: str = "l2",
    params: Sequence[str] | None = None,
    ncols: int = 3,
    per_gate: bool = False,
    title: str | None = None,
    restored: int | None = None,
    run: str | os.PathLike[str] | RunDir | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Mean (solid) and max (dashed) per-channel norm of each parameter over steps.

    Uses the stats ``{norm}_mean`` and ``{norm}_max`` (``grad_l2`` for gradients: then the whole
    model's gradient norm, ``name="model"``, is the first panel where it was recorded, and
    ``params`` may name it; gradient norms are on a log axis). One panel
    per parameter, ``ncols`` per row, in the parameter's colour (:func:`parameter_color`); a weight
    norm's panel says in its title how much the mean changed (:func:`mean_change`). With
    ``per_gate``, a parameter whose records name its gates
    (:func:`gate_parts`) has a mean and a max line per gate instead, from ``{norm}_per_channel``,
    each gate in its colour, named in the figure's legend under the panels (``f (forget gate)``).
    ``norm="update_ratio"`` draws each parameter's update ratio (log axis); ``norm="target_norm"`` each target-norm controller group's norm, target and
    weight decay, ``params`` then naming groups (``"target_norm/rec"``): :data:`LINE_KINDS`.
    ``restored``: the epoch whose weights the run restored (:func:`rnnlab.plots.metrics.restored_epoch`),
    marked on every panel as :func:`~rnnlab.plots.plot_metrics` marks it, at the step where that
    epoch ended (:func:`restored_step`), and named in the figure's legend; read from the run
    directory given as ``tracked`` (or as ``run``, the run that records given as ``tracked`` are
    of) when not given. Saves when ``path`` is given.

    >>> import numpy as np
    >>> from rnnlab.tracker import TrackedSeries
    >>> ep = np.full(2, np.nan)
    >>> tr = {"w": {"l2_mean": TrackedSeries(np.arange(2), np.array([1.0, 2.0]), ep),
    ...             "l2_max": TrackedSeries(np.arange(2), np.array([3.0, 4.0]), ep)}}
    >>> [line.get_label() for line in plot_norm_lines(tr).axes[0].lines]
    ['mean', 'max']
    """
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols: expected an integer >= 1, got {ncols!r}")
    _check_norm(norm, "norm", per_channel=False)
    # Gradient norms span decades (one spike of 12 flattened every later step to 0 on a linear axis):
    # a log axis, as the metric curves draw the gradient norm.
    grads = norm.startswith("grad_")
    kind = LINE_KINDS.get(norm) or LineKind(
        ((f"{norm}_mean", "mean", "-"), (f"{norm}_max", "max", "--")),
        # (two lines on a log axis: a long label ran into the next row's)
        f"{norm} norm\nper channel (log)" if grads else f"{norm} norm per channel", grads, None, False,
        f"{norm} norm per channel over training: mean (solid) and max (dashed)")
    data = load_tracked(tracked)
    run = tracked if isinstance(tracked, (str, os.PathLike, RunDir)) else run
    if run is not None and restored is None:
        restored = restored_epoch(run)
    restored_x = restored_step(data, restored, run) if restored is not None else None
    first = kind.lines[0][0]
    # (the tracker records the whole model's gradient norm, "model", beside the parameters' on gradient steps)
    whole = norm.startswith("grad_") and norm in data.get("model", {}) and (params is None or "model" in params)
    names = tracked_params(data, first, None if params is None else [p for p in params if not (whole and p == "model")],
                           groups=kind.groups)
    # each panel: (name, title, lines, y label, log)
    panels = [(n, n, kind.lines, kind.ylabel, kind.log) for n in names]
    if whole:
        panels.insert(0, ("model", "model (all parameters)", ((norm, "whole-model norm", "-"),),
                          f"{norm} norm of\nall gradients (log)", True))
    if kind.aside is not None:  # (another unit: a panel of its own beside each, not a second scale on one)
        stat, label = kind.aside
        panels = [p for n, *rest in panels
                  for p in [(n, *rest), *([(n, f"{n}: {label}", ((stat, label, "-"),), f"{label} (log)", True)]
                                          if stat in data[n] else [])]]
    if not panels:
        return style.empty_figure(f"no {first} recorded", title or kind.title, path)
    cols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / cols)
    # Every parameter is tracked at the same steps: one x axis, labelled under each column.
    fig, axes = style.new_figure(nrows, cols, panel_size=(3.4, 2.2), sharex=True)
    gated = [gate_parts(data, p[0], f"{norm}_per_channel") if per_gate and norm not in LINE_KINDS else None
             for p in panels]
    # The key of the gates' colours and of the restored epoch's mark: once for the figure, under the
    # panels (a legend in each panel covered its curves; the title says what solid and dashed are).
    keys: dict[str, Line2D] = {}
    mark = None
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.set_visible(False)
            continue
        name, head, lines, ylabel, log = panels[i]
        # (the weights' change: their gradients and update ratios start from noise)
        change = mean_change(data[name].get(f"{norm}_mean")) if norm in NORMS else None
        ax.set_title(head + (f"\n{change}" if change else ""), fontsize=style.LABEL_SIZE)
        parts = gated[i]
        if parts is None:
            notes = _draw_lines(ax, data[name], lines, parameter_color(data, name), log)
        else:
            notes, colors = _draw_gate_lines(ax, data, name, parts, f"{norm}_per_channel")
            for gate, color in colors.items():  # (an LSTM's and a GRU's gates in one figure: each named)
                keys.setdefault(gate, Line2D([], [], color=color, linewidth=1.4, label=style.gate_title(gate)))
        if restored_x is not None:
            mark = mark_restored(ax, restored_x, restored)
        if notes:
            style.note(ax, "\n".join(notes), warn=True, loc="lower right")
        ax.set_xlabel("step")
        style.integer_ticks(ax.xaxis)
        # (the same quantity in every panel: named once per row, and where a panel's differs)
        if i % cols == 0 or ylabel != panels[i - 1][3]:
            ax.set_ylabel(ylabel)
    style.share_x_labels(axes)
    handles = [*keys.values(), *([mark] if mark is not None else [])]
    if handles:
        style.figure_legend(fig, handles, [h.get_label() for h in handles])
    fig.suptitle(title or kind.title + ("; first panel: the whole model's" if panels[0][0] == "model" else ""),
                 fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def restored_step(tracked: Tracked, epoch: int,
                  run: str | os.PathLike[str] | RunDir | None = None) -> float | None:
    """Where the weights of ``epoch`` (the one early stopping restored) are on a step axis: the
    ``step`` of its record in the run's metrics.jsonl (the optimizer steps taken when it ended),
    else the first step the tracker recorded in a later epoch (a Tracker's records alone); None
    where neither says.

    >>> ep = np.array([1.0, 1.0, 2.0, 2.0])
    >>> restored_step({"w": {"l2_mean": TrackedSeries(np.arange(4), np.ones(4), ep)}}, 1)
    2.0
    """
    records = load_metrics(run) if run is not None and RunDir.existing(run).metrics.exists() else []
    steps, epochs = series([r for r in records if isinstance(r.get("step"), (int, float))], "epoch", x="step")
    if (steps[epochs == epoch]).size:
        return float(steps[epochs == epoch][-1])
    later = [float(s.steps[s.epochs > epoch].min()) for stats in tracked.values() for s in stats.values()
             if (s.epochs > epoch).any()]
    return min(later) if later else None


def _draw_gate_lines(ax, tracked: Tracked, name: str, parts: dict[str, np.ndarray],
                     stat: str) -> tuple[list[str], dict[str, str]]:
    """The mean (solid) and max (dashed) of each gate's channels over steps, one colour per gate;
    returns the notes on values not drawn and each gate's colour for the figure's legend."""
    s = tracked[name][stat]
    layout = _layout(tracked, name)
    notes, colors = [], {}
    for k, (gate, rows) in enumerate(parts.items()):
        label = _gate_label(layout, gate)
        # (the per-gate figures of the channels the tracker's own mean and max are over)
        stats = {"mean": TrackedSeries(s.steps, rows.mean(axis=-1), s.epochs),
                 "max": TrackedSeries(s.steps, rows.max(axis=-1), s.epochs)}
        colors[gate] = _gate_color(gate, k)
        notes += _draw_lines(ax, stats, (("mean", label, "-"), ("max", f"{label} max", "--")), colors[gate], False)
    return notes, colors


def _draw_lines(ax, stats: Mapping[str, TrackedSeries], lines: Sequence[tuple[str, str, str]], color: str,
                log: bool) -> list[str]:
    """The ``lines`` ``(stat, label, linestyle)`` of one name's ``stats`` on ``ax`` (those
    recorded); returns the notes on values not drawn (non-finite, or not positive on a log axis)."""
    notes = []
    if log:
        ax.set_yscale("log")
    drawn = []
    for stat, label, ls in lines:
        s = stats.get(stat)
        if s is None:
            continue
        v = np.asarray(s.values, dtype=np.float64)
        ok = np.isfinite(v) & ((v > 0) if log else True)
        bad = style.nonfinite_note(v) or (f"{int((~ok).sum())} at 0, below the log axis" if (~ok).any() else None)
        if bad:
            notes.append(f"{label}: {bad}")
        # Markers when records are few: a single record is a point, not an invisible line.
        ax.plot(s.steps, np.where(ok, v, np.nan), linestyle=ls, linewidth=1.4, color=color, label=label,
                marker="o" if len(v) < 30 else None, markersize=3)
        # The steps of the records not drawn count too: gradients all 0 (below a log axis) left an
        # x axis of matplotlib's default -0.05 to 0.05, one tick "0", for records at steps 1 to 5.
        steps = np.asarray(s.steps, dtype=np.float64)
        ax.update_datalim(np.column_stack([steps, np.ones_like(steps)]), updatey=False)
        drawn.append(v[ok])
    values = np.concatenate(drawn) if drawn else np.empty(0)
    if log and values.size and values.max() - values.min() <= values.min() * CONSTANT_ON_LOG:
        # (a log axis widens only values exactly equal to decades each side: equal to ten digits,
        # they left a view whose ticks no label of a dozen digits tells apart)
        lo, hi = ax.yaxis.get_major_locator().nonsingular(float(values.min()), float(values.min()))
        ax.update_datalim([[0.0, lo], [0.0, hi]], updatex=False)  # (autoscaled: with the panel's margins)
    return notes
