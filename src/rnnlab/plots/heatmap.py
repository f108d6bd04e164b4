"""Per-gate heatmaps: one panel per gate, one colour scale (and bar) per kind of gate activation.

:func:`plot_gate_heatmaps` draws any mapping gate → 2-D array; :func:`plot_weight_heatmaps`
feeds it one component (kernel ``[H, I]``, recurrent ``[H, H]``) of a layer's weights or
gradients on one signed scale, and :func:`plot_activation_heatmaps` the gate activations of a
layer with time on the x axis (``[H, T]`` images), each gate on the scale of its activation. Non-finite cells are drawn grey and counted in a note; constant and
empty panels say so. A vector (a bias, IndRNN's elementwise recurrent weight ``u``) is drawn as a
one-row strip along its index, with no axis across it; a title wider than the figure is wrapped
(:func:`rnnlab.plots.style.layout`).

Example:
    >>> import numpy as np
    >>> fig = plot_gate_heatmaps({"r": np.eye(3), "z": -np.eye(3)}, title="two gates")
    >>> [ax.get_title() for ax in fig.axes if ax.images]
    ['r (reset gate)', 'z (update gate)']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox
from torch import nn

from rnnlab.gates import ACTIVATION_RANGES, layer_from
from rnnlab.introspect.activations import GateActivations
from rnnlab.introspect.weights import GateParams, gate_weights
from rnnlab.plots import style
from rnnlab.plots.histograms import COMPONENT_TITLES

_AXIS_LABELS = {
    "kernel": ("input feature", "hidden unit"),
    "recurrent": ("hidden unit (from)", "hidden unit (to)"),
}


#: Height in inches of a panel whose every array is a vector (drawn as a one-row strip).
STRIP_HEIGHT = 2.1


#: The fixed scale of a bounded activation: (range, colormap, colour bar label, tick labels).
#: A sigmoid's two ends (shut, open) are the two ends of a sequential map; tanh's 0 is the
#: neutral centre of a diverging one.
ACTIVATION_SCALES: dict[str, tuple[tuple[float, float], str, str, dict[float, str]]] = {
    "sigmoid": (ACTIVATION_RANGES["sigmoid"], style.CMAP_MAGNITUDE, "sigmoid", {0.0: "0 shut", 0.5: "0.5", 1.0: "1 open"}),
    "tanh": (ACTIVATION_RANGES["tanh"], style.CMAP_SIGNED, "tanh", {-1.0: "-1", 0.0: "0", 1.0: "1"}),
}


def _scale(arrays: list[np.ndarray], signed: bool) -> tuple[Normalize, str]:
    """One colour scale for all panels: symmetric around 0 for signed data, else 0..max.

    Data inside [0, 1] or [-1, 1] (sigmoid and tanh gates) gets exactly that range, so that
    saturation reads the same in every figure.
    """
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    lo = min((float(a.min()) for a in finite), default=0.0)
    hi = max((float(a.max()) for a in finite), default=1.0)
    if not signed and lo >= 0:
        return Normalize(0.0, hi if hi > 1 else 1.0), style.CMAP_MAGNITUDE
    m = max(abs(lo), abs(hi))
    if not signed and m <= 1:
        m = 1.0
    return Normalize(-m if m > 0 else -1.0, m if m > 0 else 1.0), style.CMAP_SIGNED


def _stacked(index: int, count: int) -> Any:
    """An axes locator: slice ``index`` of ``count``, top to bottom, of the place :func:`style.layout`
    gave the axes (several colour bars share the one place right of the first row)."""
    def locate(ax: Any, renderer: Any) -> Bbox:
        box = ax.get_position(original=True)
        gap = 3 * style.TICK_SIZE / (ax.get_figure().get_figheight() * 72.0)  # room for the end ticks' labels
        h = (box.height - gap * (count - 1)) / count
        return Bbox.from_bounds(box.x0, box.y1 - (index + 1) * h - index * gap, box.width, h)
    return locate


def _scales(
    mats: Mapping[str, np.ndarray], activations: Mapping[str, str], signed: bool, label: str
) -> dict[str, tuple[list[str], Normalize, Any, str]]:
    """Scale key → (its gates, norm, colormap, colour bar label), in the order of the gates' panels:
    a gate with a bounded activation whose data fit its range gets that activation's fixed scale,
    the others one shared scale from :func:`_scale`."""
    groups: dict[str, list[str]] = {}
    for gate, arr in mats.items():
        key = activations.get(gate, "")
        if key in ACTIVATION_SCALES:
            (lo, hi), *_ = ACTIVATION_SCALES[key]
            finite = arr[np.isfinite(arr)]
            if finite.size and (finite.min() < lo or finite.max() > hi):
                key = ""  # (not the range this activation has: another function computed the gate)
        else:
            key = ""
        groups.setdefault(key, []).append(gate)
    out = {}
    for key, gates in groups.items():
        if key:
            (lo, hi), cmap_name, bar, _ = ACTIVATION_SCALES[key]
            norm = Normalize(lo, hi)
        else:
            norm, cmap_name = _scale([mats[g] for g in gates], signed)
            bar = label
        out[key] = (gates, norm, colormaps[cmap_name].with_extremes(bad="#bbbbbb"), bar)
    return out


def plot_gate_heatmaps(
    arrays: Mapping[str, Any],
    *,
    signed: bool = False,
    activations: Mapping[str, str] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    colorbar_label: str = "value",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """One heatmap per gate of ``arrays`` (gate name → 2-D array, drawn as given: rows on y).

    A 1-D array (a vector, e.g. IndRNN's elementwise recurrent weight) is drawn as a one-row
    strip: its index on x, labelled ``ylabel`` (what a matrix's rows are), and no y axis.
    ``activations`` (gate → ``"sigmoid"`` / ``"tanh"``) draws each such gate on its activation's
    own scale, with one colour bar per scale: sigmoid ``0`` (shut) … ``1`` (open) on a sequential
    map, tanh ``-1 … 1`` on a diverging one centred at 0 (a gate whose values leave that range, as
    with another activation, joins the others). The other panels share one colour scale: with
    ``signed=True`` symmetric around 0 over the largest magnitude (weights); otherwise ``[0, 1]`` /
    ``[-1, 1]`` when the data fit, else ``0..max`` or ``±max``. Row 0 is at the top, as in the matrix.

    >>> import numpy as np
    >>> fig = plot_gate_heatmaps({"h": np.arange(6.0).reshape(2, 3)})
    >>> fig.axes[0].images[0].get_array().tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    >>> fig = plot_gate_heatmaps({"h": np.arange(3.0)}, ylabel="hidden unit")
    >>> fig.axes[0].images[0].get_array().shape, fig.axes[0].get_xlabel()
    ((1, 3), 'hidden unit')
    >>> fig = plot_gate_heatmaps({"z": np.zeros((2, 3)), "n": np.zeros((2, 3))}, activations={"z": "sigmoid", "n": "tanh"})
    >>> [(im.norm.vmin, im.norm.vmax, im.cmap.name) for ax in fig.axes for im in ax.images]
    [(0.0, 1.0, 'viridis'), (-1.0, 1.0, 'RdBu_r')]
    """
    if not isinstance(arrays, Mapping) or not arrays:
        raise ValueError(f"arrays: expected a non-empty mapping gate -> 2-D array, got {arrays!r}")
    return _heatmap_rows([("", arrays)], signed=signed, activations=activations, xlabel=xlabel, ylabel=ylabel,
                         colorbar_label=colorbar_label, title=title, path=path)


def _heatmap_rows(
    rows: list[tuple[str, Mapping[str, Any]]],
    *,
    signed: bool,
    activations: Mapping[str, str] | None,
    xlabel: str,
    ylabel: str,
    colorbar_label: str,
    title: str | None,
    path: str | os.PathLike[str] | None,
    column_width: int = 1,
) -> Figure:
    """:func:`plot_gate_heatmaps` with a row of panels per ``(label, arrays)`` of ``rows`` (the
    same gates in the same columns, e.g. before and after training): each gate's colour scale
    spans all rows, so that a colour reads the same in both; a row's label ends its panels' titles.
    ``column_width``: how many x units a matrix's column spans (steps binned into columns), so that
    the x ticks count those units, not columns."""
    grid: list[dict[str, np.ndarray]] = []
    strips = set()
    for _, arrays in rows:
        mats = {}
        for gate, a in arrays.items():
            arr = style.as_array(a, f"arrays[{gate!r}]")
            if arr.ndim == 1:
                # (a column's x axis, -0.4..0.4 labelled as a matrix's, was an axis of nothing)
                arr = arr[None, :]
                strips.add(gate)
            if arr.ndim != 2:
                raise ValueError(f"arrays[{gate!r}]: expected a 1-D or 2-D array, got shape {arr.shape}")
            mats[gate] = arr
        grid.append(mats)
    gates = list(grid[0])
    if any(list(m) != gates for m in grid):
        raise ValueError(f"rows: expected the same gates in every row, got {[list(m) for m in grid]}")
    scales = _scales({g: np.concatenate([m[g].ravel() for m in grid]) for g in gates}, activations or {},
                     signed, colorbar_label)

    fig, axes = style.new_figure(len(grid), len(gates),
                                 panel_size=(3.3, STRIP_HEIGHT if len(strips) == len(gates) else 3.0))
    images: dict[str, Any] = {}
    for (label, _), mats, ax_row in zip(rows, grid, axes, strict=True):
        for ax, (gate, arr) in zip(ax_row, mats.items(), strict=True):
            ax.grid(False)
            ax.set_title(style.gate_title(gate) + (f", {label}" if label else ""), fontsize=style.LABEL_SIZE)
            if arr.size == 0:
                style.no_data(ax, "empty")
                continue
            finite = arr[np.isfinite(arr)]
            if finite.size == 0:
                style.no_data(ax, f"all {arr.size} values non-finite")
                continue
            key = next(k for k, (gs, *_) in scales.items() if gate in gs)
            _, norm, cmap, _ = scales[key]
            # (column c spans units c*w … c*w + w - 1, centred as one unit's cell is at its index)
            w = column_width if gate not in strips else 1
            images[key] = ax.imshow(
                np.ma.masked_invalid(arr), cmap=cmap, norm=norm, aspect="auto",
                interpolation="nearest", extent=(-0.5, arr.shape[1] * w - 0.5, arr.shape[0] - 0.5, -0.5),
            )
            style.integer_ticks(ax.xaxis)  # rows/columns are indices
            if w > 1:  # (thousands of steps: round ticks, few enough that their labels keep apart)
                ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 5, 10]))
            if gate in strips:
                ax.set_xlabel(ylabel)
                ax.set_yticks([])
            else:
                ax.set_xlabel(xlabel)
                ax.set_ylabel(ylabel)
                style.integer_ticks(ax.yaxis)
            warn = style.nonfinite_note(arr)
            if warn:
                style.note(ax, warn, warn=True)
            if finite.min() == finite.max():
                style.note(ax, f"constant = {style.fmt(float(finite[0]))}", loc="lower left")
    shown = [k for k in scales if k in images]  # (a scale whose every panel is empty gets no bar)
    for index, key in enumerate(shown):
        cb = style.colorbar(fig, images[key], scales[key][3])
        ticks = ACTIVATION_SCALES[key][3] if key in ACTIVATION_SCALES else None
        if ticks:
            cb.set_ticks(list(ticks), labels=list(ticks.values()))
        if len(shown) > 1:
            cb.ax.set_axes_locator(_stacked(index, len(shown)))
    if title:
        fig.suptitle(title, fontsize=style.TITLE_SIZE)  # (fitted to the figure by style.save)
    style.save(fig, path)
    return fig


def plot_weight_heatmaps(
    source: nn.Module | GateParams,
    *,
    component: str = "recurrent",
    layer: int = 0,
    direction: str = "forward",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Heatmaps of one weight matrix of a recurrent layer, one panel per gate.

    ``source`` is a recurrent module (``layer``/``direction`` pick the part; for a model with
    several recurrent modules the first one found) or one :class:`rnnlab.introspect.GateParams`
    (weights or gradients, from :func:`rnnlab.introspect.gate_weights` / ``gate_gradients``).
    ``component`` is ``"kernel"`` (``[H, I]``: x input feature, y hidden unit) or
    ``"recurrent"`` (``[H, H]``); biases, and IndRNN's elementwise recurrent weight (a vector
    ``[H]``: the diagonal of its recurrent matrix), are drawn as one-row strips along the hidden
    unit. The colour scale is symmetric around 0 and shared by all gates.

    >>> import torch
    >>> fig = plot_weight_heatmaps(torch.nn.GRU(2, 4), component="kernel")
    >>> fig.axes[0].images[0].get_array().shape
    (4, 2)
    """
    params = layer_from(source, GateParams, "rnnlab.introspect.GateParams", gate_weights, layer, direction)
    parts = params.component(component)  # KeyError with "did you mean" on a typo
    xlabel, ylabel = _AXIS_LABELS.get(component, ("", "hidden unit"))
    elementwise = ""
    if parts and all(a.ndim == 1 for a in parts.values()):
        ylabel = "hidden unit"  # (a vector has no "from" and "to": one value per unit)
        if component == "recurrent":
            elementwise = " (elementwise: each unit's weight on its own previous state)"
    if not parts:
        return style.empty_figure(f"no {component} in this layer", title or f"{params.label}: no {component}",
                                  path, panel_size=style.PANEL_SIZE)
    what = "gradient" if params.grad else "weight"
    pname = params.names.get(component, component)
    head = COMPONENT_TITLES.get(component, component)
    if component == "bias":  # (the sum the gates add: name both tensors it is made of)
        summed = [params.names[c] for c in ("bias_ih", "bias_hh") if getattr(params, c) and c in params.names]
        pname = " + ".join(summed) or pname
        if params.kind == "gru" and len(summed) == 2:
            elementwise = " (n gate: b_in + b_hn, of which it adds b_in + r·b_hn)"
    if any(a.ndim > 2 for a in parts.values()):  # a convolutional cell's kernels [H, C, k]: each row's taps side by side
        parts = {g: a.reshape(a.shape[0], -1) for g, a in parts.items()}
        xlabel = f"{xlabel} × tap" if xlabel else "input channel × tap"
    return plot_gate_heatmaps(
        {g: parts[g] for g in params.gates if g in parts},
        signed=True,
        xlabel=xlabel,
        ylabel=ylabel,
        colorbar_label=what,
        title=title or f"{params.kind.upper()} {params.label}: {head} {what}s {pname}{elementwise}",
        path=path,
    )


def plot_activation_heatmaps(
    acts: GateActivations,
    *,
    sample: int | None = None,
    before: GateActivations | None = None,
    xlabel: str = "timestep",
    ylabel: str = "hidden unit",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    step_bin: int = 1,
) -> Figure:
    """Gate activations over time, one panel per gate: x timestep, y hidden unit.

    ``acts`` is one :class:`rnnlab.introspect.GateActivations` (``gates[g]`` is ``[B, T, H]``).
    With ``sample=None`` the mean over the batch is drawn, else batch entry ``sample``; panel
    ``g`` shows that ``[T, H]`` array transposed. Each gate is drawn on its activation's scale
    (``acts.activations``: a built-in kind's, or those a cell's
    :class:`rnnlab.gates.GateLayout` names), so saturation reads directly: sigmoid gates (LSTM i,
    f, o; GRU r, z) on ``0`` shut … ``1`` open, tanh gates (LSTM g, GRU n) on ``-1 … 1`` centred
    at 0, one colour bar each; a gate of no known activation (the one gate of RNN and IndRNN
    layers, a declared kind's gate its layout names none for) keeps a scale from its data.
    ``before``: the same layer's activations at an earlier moment (before training), drawn as a
    first row above ``acts``' row, gate over gate on the same scales. ``xlabel``: what a column
    is, when not one timestep of the input; ``ylabel``: what a row is, e.g. which of the layer's
    units ``acts`` kept (``"hidden unit (units 0-31 of 64)"``). ``step_bin``: how many steps each
    of ``acts``' steps is the mean of (a long run's record,
    :class:`rnnlab.introspect.gates_file.GateSummary`): the x ticks still count steps.

    >>> import numpy as np
    >>> from rnnlab.introspect import GateActivations
    >>> a = GateActivations("", 0, "forward", "rnn", {"h": np.zeros((2, 5, 3))})
    >>> plot_activation_heatmaps(a).axes[0].images[0].get_array().shape
    (3, 5)
    >>> [ax.get_title() for ax in plot_activation_heatmaps(a, before=a).axes if ax.images]
    ['h (hidden), before training', 'h (hidden), after training']
    >>> [float(x) for x in plot_activation_heatmaps(a, step_bin=16).axes[0].get_xlim()]  # (5 columns of 16 steps)
    [-0.5, 79.5]
    >>> mgu = GateActivations("", 0, "forward", "mgu", {"f": np.full((2, 5, 3), 0.5), "n": np.zeros((2, 5, 3))},
    ...                       activations={"f": "sigmoid", "n": "tanh"})  # (a kind of a cell's own)
    >>> [im.norm.vmin for ax in plot_activation_heatmaps(mgu).axes for im in ax.images]
    [0.0, -1.0]
    """
    if not (isinstance(step_bin, int) and step_bin >= 1):
        raise ValueError(f"step_bin: expected a whole number of steps per column, at least 1, got {step_bin!r}")
    if not isinstance(acts, GateActivations) or not isinstance(before, (GateActivations, type(None))):
        wrong = acts if not isinstance(acts, GateActivations) else before
        raise TypeError(
            f"{'acts' if wrong is acts else 'before'}: expected a rnnlab.introspect.GateActivations, "
            f"got {type(wrong).__name__}"
        )
    which = "batch mean" if sample is None else f"sample {sample}"
    rows = [("", _time_panels(acts, sample, "acts"))] if before is None else [
        ("before training", _time_panels(before, sample, "before")), ("after training", _time_panels(acts, sample, "acts"))]
    if not rows[-1][1]:
        raise ValueError("acts.gates: expected at least one gate, got none")
    return _heatmap_rows(
        rows,
        signed=False,
        activations=acts.activations,
        xlabel=xlabel,
        ylabel=ylabel,
        colorbar_label="activation",
        title=title or f"{acts.kind.upper()} {acts.label}: gate activations ({which})",
        path=path,
        column_width=step_bin,
    )


def _time_panels(acts: GateActivations, sample: int | None, name: str) -> dict[str, np.ndarray]:
    """Gate → ``[H, T]``: the batch mean (``sample=None``) or one batch entry of ``acts.gates``."""
    arrays = {}
    for gate, a in acts.gates.items():
        arr = style.as_array(a, f"{name}.gates[{gate!r}]")
        if arr.ndim != 3:
            raise ValueError(f"{name}.gates[{gate!r}]: expected [B, T, H], got shape {arr.shape}")
        if sample is None:
            with np.errstate(invalid="ignore"):
                two = arr.mean(axis=0) if arr.shape[0] else arr[0:0].reshape(arr.shape[1:])
        elif -arr.shape[0] <= sample < arr.shape[0]:
            two = arr[sample]
        else:
            raise IndexError(
                f"sample: expected a batch index in [0, {arr.shape[0]}), got {sample}"
            )
        arrays[gate] = two.T
    return arrays
