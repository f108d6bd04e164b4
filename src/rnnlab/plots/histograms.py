"""Per-gate histograms of the weights (or gradients) of one recurrent layer and direction.

Rows are gates (LSTM ``i, f, g, o``; GRU ``r, z, n``), columns the kernel (input→hidden) and
recurrent (hidden→hidden) weights, with the biases below. All gates of a column share their bin
edges, so a gate whose weights are wider or shifted stands out at a glance.

Example:
    >>> import torch
    >>> fig = plot_gate_histograms(torch.nn.LSTM(3, 8))
    >>> len(fig.axes)  # 4 gates x (kernel, recurrent) + (bias_ih, bias_hh)
    10
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import nn

from rnnlab.gates import GATES, LayerWeights, layer_from, layer_weights
from rnnlab.introspect.weights import GateParams, gate_weights
from rnnlab.plots import style

COMPONENT_TITLES = {
    "kernel": "kernel (input→hidden)",
    "recurrent": "recurrent (hidden→hidden)",
    "bias_ih": "bias_ih",
    "bias_hh": "bias_hh",
}


def _bins(n: int, cap: int) -> int:
    # Rice rule: enough bins to show a shape without turning 30 values into a comb.
    return max(5, min(cap, math.ceil(2 * n ** (1 / 3))))


def _edges(arrays: list[np.ndarray], bins: int) -> np.ndarray | None:
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return None
    lo = min(float(a.min()) for a in finite)
    hi = max(float(a.max()) for a in finite)
    if lo == hi:  # constant data: a narrow window around the value
        pad = max(abs(lo) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    n = max(a.size for a in finite)
    return np.linspace(lo, hi, _bins(n, bins) + 1)


def _describe(arr: np.ndarray) -> tuple[str, bool]:
    """Statistics note for one panel, and whether it is a warning."""
    warn = style.nonfinite_note(arr)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return f"all {arr.size} values non-finite", True
    if finite.min() == finite.max():
        text = f"constant = {style.fmt(float(finite[0]))}"
        return text + (f"\n{warn}" if warn else ""), True
    text = f"mean {style.fmt(finite.mean())}\nstd {style.fmt(finite.std())}"
    return text + (f"\n{warn}" if warn else ""), bool(warn)


def _hist(ax: Axes, arr: np.ndarray, edges: np.ndarray | None, color: str, **kw: object) -> float:
    """Draw the histogram; returns its tallest bar (0 when nothing is drawn)."""
    finite = arr[np.isfinite(arr)]
    if edges is None or finite.size == 0:
        return 0.0
    counts, _, _ = ax.hist(finite, bins=edges, color=color, **kw)
    return float(np.max(counts))


def _room_and_ticks(ax: Axes, arrays: list[np.ndarray], tallest: float) -> None:
    """Room above the tallest bar for the panel's note (it covered the bars' tops), and one x tick
    at the value when every value is the same: the ±1e-3 window's many long ticks ran together."""
    ax.set_ylim(0, max(tallest, 1.0) * style.NOTE_ROOM)
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays] + [np.empty(0)])
    if finite.size and finite.min() == finite.max():
        ax.set_xticks([float(finite[0])], [style.fmt(float(finite[0]))])


def plot_gate_histograms(
    source: nn.Module | LayerWeights | GateParams,
    *,
    layer: int = 0,
    direction: str = "forward",
    grad: bool = False,
    bins: int = 40,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Histograms of one layer and direction, per gate: rows gates, columns kernel/recurrent.

    ``source`` is a recurrent module (``nn.LSTM``/``GRU``/``RNN`` or an rnnlab layer; ``layer``
    and ``direction`` pick the part to draw), a model holding recurrent modules (the first one
    found, as :func:`rnnlab.plots.plot_weight_heatmaps` takes it: ``rnnlab.load_run(d).model``),
    a :class:`rnnlab.gates.LayerWeights` or a :class:`rnnlab.introspect.GateParams`.
    ``grad=True`` draws the gradients (``.grad``, after ``backward()``) instead of the weights.
    A last row holds the biases of all gates (``bias_ih``, ``bias_hh``), coloured by gate.
    ``bins`` caps the number of bins (fewer are used for few values). Saves when ``path`` is given.

    >>> import torch
    >>> gru = torch.nn.GRU(2, 4, bidirectional=True, bias=False)
    >>> fig = plot_gate_histograms(gru, direction="reverse")
    >>> [ax.get_ylabel().split(chr(10))[0] for ax in fig.axes[::2]]
    ['r (reset gate)', 'z (update gate)', 'n (new gate)']
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 4))  # a model that holds the layer
    >>> plot_gate_histograms(model).axes[0].get_title().split(chr(10))[1]
    '0.weight_ih_l0'
    """
    if bins < 1:
        raise ValueError(f"bins: expected a positive number of bins, got {bins}")
    lw: LayerWeights | GateParams
    if isinstance(source, LayerWeights):
        lw = source
    else:  # (the heatmaps' resolver: a layer, or the first recurrent module of a model)
        lw = layer_from(source, GateParams, "rnnlab.gates.LayerWeights", lambda m: gate_weights(m, grad=grad),
                        layer, direction)
        grad = grad or lw.grad
    gates = GATES[lw.kind]
    bias_parts = [c for c in ("bias_ih", "bias_hh") if getattr(lw, c)]
    nrows = len(gates) + (1 if bias_parts else 0)
    fig, axes = style.new_figure(nrows, 2, panel_size=(3.9, 1.9))
    what = "gradients dL/dw" if grad else "weights"
    xlabel = "gradient value" if grad else "weight value"

    for col, comp in enumerate(("kernel", "recurrent")):
        parts = getattr(lw, comp)
        arrays = {g: style.as_array(parts[g], comp).ravel() for g in parts}
        edges = _edges(list(arrays.values()), bins)
        head = COMPONENT_TITLES[comp]
        pname = lw.names.get(comp)
        axes[0, col].set_title(f"{head}\n{pname}" if pname else head, fontsize=style.LABEL_SIZE)
        for row, gate in enumerate(gates):
            ax = axes[row, col]
            if gate not in arrays or arrays[gate].size == 0:
                style.no_data(ax, f"no {comp} weights")
                continue
            text, warn = _describe(arrays[gate])
            if not np.isfinite(arrays[gate]).any():
                style.no_data(ax, text)
                continue
            tallest = _hist(ax, arrays[gate], edges, style.GATE_COLORS.get(gate, "C0"), alpha=0.85)
            style.note(ax, text, warn=warn)
            if edges is not None:
                ax.set_xlim(edges[0], edges[-1])
            # (the column shares its bins: one value in all of them is one tick)
            _room_and_ticks(ax, list(arrays.values()), tallest)
            if col == 0:
                ax.set_ylabel(f"{style.gate_title(gate)}\ncount")
            if row == len(gates) - 1:
                ax.set_xlabel(xlabel)

    if bias_parts:
        for col, comp in enumerate(("bias_ih", "bias_hh")):
            ax = axes[-1, col]
            parts = getattr(lw, comp)
            if not parts:
                style.no_data(ax, f"no {comp} in this layer")
                continue
            arrays = {g: style.as_array(parts[g], comp).ravel() for g in gates}
            edges = _edges(list(arrays.values()), bins)
            if edges is None:
                n = sum(a.size for a in arrays.values())
                style.no_data(ax, f"{comp}: all {n} values non-finite")
                continue
            tallest = max(_hist(ax, arrays[gate], edges, style.GATE_COLORS.get(gate, "C0"),
                                histtype="step", linewidth=1.6) for gate in gates)
            _room_and_ticks(ax, list(arrays.values()), tallest)
            pname = lw.names.get(comp, comp)
            ax.set_title(f"{pname} (all gates)", fontsize=style.LABEL_SIZE)
            ax.set_xlabel(xlabel)
            if col == 0:
                ax.set_ylabel("bias\ncount")
            warns = [f"{g}: {style.nonfinite_note(a)}" for g, a in arrays.items()
                     if style.nonfinite_note(a)]
            consts = [g for g, a in arrays.items()
                      if a[np.isfinite(a)].size and np.ptp(a[np.isfinite(a)]) == 0]
            if warns:
                style.note(ax, "\n".join(warns), warn=True, loc="upper left")
            elif consts:
                style.note(ax, f"constant in gate {', '.join(consts)}", loc="upper left")

    # One key of the gates' colours for the figure, under its panels, by the gates' names: the bias
    # panels each had their own ("i", "f"...), over their bars, and a layer without biases had none.
    keys = [Patch(facecolor=style.GATE_COLORS.get(g, "C0"), edgecolor=style.GATE_COLORS.get(g, "C0"), alpha=0.85,
                  linewidth=1.6) for g in gates]
    style.figure_legend(fig, keys, [style.gate_title(g) for g in gates])
    fig.suptitle(
        title or f"{lw.kind.upper()} layer {lw.layer}, {lw.direction}: {what} per gate",
        fontsize=style.TITLE_SIZE,
    )
    style.save(fig, path)
    return fig


def gate_histograms(
    module: nn.Module,
    *,
    grad: bool = False,
    bins: int = 40,
    directory: str | os.PathLike[str] | None = None,
) -> dict[tuple[int, str], Figure]:
    """One histogram figure per layer and direction of ``module``, keyed ``(layer, direction)``.

    With ``directory`` each figure is saved as ``{weights|grads}_l{layer}_{direction}.png``.

    >>> import torch
    >>> sorted(gate_histograms(torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True)))
    [(0, 'forward'), (0, 'reverse'), (1, 'forward'), (1, 'reverse')]
    """
    out = {}
    for lw in layer_weights(module, grad=grad):
        path = None
        if directory is not None:
            stem = "grads" if grad else "weights"
            path = Path(directory) / f"{stem}_l{lw.layer}_{lw.direction}.png"
        out[(lw.layer, lw.direction)] = plot_gate_histograms(
            lw, grad=grad, bins=bins, path=path
        )
    return out
