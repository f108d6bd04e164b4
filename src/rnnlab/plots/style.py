"""The shared look of rnnlab figures: sizes, gate colours, fonts, and small drawing helpers.

Every plotting module builds its figures with :func:`new_figure` and saves them with
:func:`save`, so one change here restyles all of them. Figures are
``matplotlib.figure.Figure`` objects drawn with the Agg canvas: no pyplot, no global state, no
window.

Example:
    >>> fig, axes = new_figure(2, 3)
    >>> axes.shape
    (2, 3)
    >>> GATE_COLORS["f"]
    '#2ca02c'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rnnlab.gates import GATE_LABELS

#: Width and height in inches of one panel of a grid of plots.
PANEL_SIZE: tuple[float, float] = (3.6, 2.3)
#: Size in inches of a single wide plot (metric curves, norm lines, comparisons).
WIDE_SIZE: tuple[float, float] = (9.0, 3.6)
#: Resolution of saved PNGs.
DPI = 110

#: One colour per gate, the same in every figure (tab10 entries: readable on white).
GATE_COLORS: dict[str, str] = {
    "i": "#1f77b4",  # input gate: blue
    "f": "#2ca02c",  # forget gate: green
    "g": "#9467bd",  # cell candidate: purple
    "o": "#ff7f0e",  # output gate: orange
    "r": "#d62728",  # reset gate: red
    "z": "#17becf",  # update gate: cyan
    "n": "#8c564b",  # new gate: brown
    "h": "#1f77b4",  # plain RNN / IndRNN hidden: blue
}

#: Colours for curves that are not gates (runs, layers): cycled in order.
SERIES_COLORS: tuple[str, ...] = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)

#: Colormaps: signed data (weights) use a diverging map centred on zero; magnitudes a sequential one.
CMAP_SIGNED = "RdBu_r"
CMAP_MAGNITUDE = "viridis"

#: Font sizes (points).
TITLE_SIZE = 11
LABEL_SIZE = 9
TICK_SIZE = 8
NOTE_SIZE = 7.5

#: Colour of annotations that warn about the data (NaN, inf, constant, empty).
WARN_COLOR = "#b00020"


def gate_title(gate: str) -> str:
    """``"f"`` → ``"f (forget gate)"``: the short name a user sees in code, then its meaning."""
    label = GATE_LABELS.get(gate)
    return f"{gate} ({label})" if label else gate


def series_color(index: int) -> str:
    """The colour of the ``index``-th run or layer in a figure with several."""
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    panel_size: tuple[float, float] = PANEL_SIZE,
    sharex: bool | str = False,
    sharey: bool | str = False,
    height_ratios: Sequence[float] | None = None,
) -> tuple[Figure, np.ndarray]:
    """A Figure (Agg canvas) with an ``nrows × ncols`` grid of axes, always a 2-D array.

    >>> fig, axes = new_figure(1, 2, panel_size=(3, 2))
    >>> fig.get_size_inches().tolist()
    [6.0, 2.0]
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows, ncols: expected >= 1, got {nrows}, {ncols}")
    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained"
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey,
        gridspec_kw={"height_ratios": list(height_ratios)} if height_ratios else None,
    )
    for ax in axes.flat:
        style_axes(ax)
    return fig, axes


def style_axes(ax: Axes) -> None:
    """Tick and label sizes and a light grid, for axes made outside :func:`new_figure`."""
    ax.tick_params(labelsize=TICK_SIZE)
    ax.xaxis.label.set_size(LABEL_SIZE)
    ax.yaxis.label.set_size(LABEL_SIZE)
    ax.title.set_size(LABEL_SIZE)
    ax.grid(True, alpha=0.25, linewidth=0.6)


def note(ax: Axes, text: str, *, warn: bool = False, loc: str = "upper right") -> None:
    """Write a short note in a corner of ``ax`` (statistics, or a warning about the data)."""
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.96, "top") if "upper" in loc else (0.04, "bottom")
    ax.text(
        x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=NOTE_SIZE,
        color=WARN_COLOR if warn else "#333333",
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )


def no_data(ax: Axes, text: str = "no data") -> None:
    """Mark an empty panel so that a missing series reads as missing, not as a blank plot."""
    ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
        fontsize=LABEL_SIZE, color=WARN_COLOR,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def empty_figure(
    text: str, title: str, path: str | os.PathLike[str] | None, *, panel_size: tuple[float, float] = (6.0, 2.5)
) -> Figure:
    """The figure a plot returns when there is nothing to draw: one panel that says so.

    >>> fig = empty_figure("no 'l2_mean' recorded", "per-channel norms", None)
    >>> fig.axes[0].texts[0].get_text()
    "no 'l2_mean' recorded"
    """
    fig, axes = new_figure(1, 1, panel_size=panel_size)
    no_data(axes[0, 0], text)
    fig.suptitle(title, fontsize=TITLE_SIZE)
    save(fig, path)
    return fig


def as_array(data: Any, arg: str) -> np.ndarray:
    """A float64 numpy array from a numpy array, torch tensor, list or number."""
    if hasattr(data, "detach"):  # torch.Tensor, without importing torch here
        data = data.detach().cpu().numpy()
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{arg}: expected numbers (array, tensor or list), got {type(data).__name__}"
        ) from None
    return arr


def nonfinite_note(arr: np.ndarray) -> str | None:
    """``"2 NaN, 1 inf not shown"`` when ``arr`` holds non-finite values, else None."""
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    if not (n_nan or n_inf):
        return None
    parts = [f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else ""]
    return ", ".join(p for p in parts if p) + " not shown"


def fmt(value: float) -> str:
    """A number in 4 significant digits (``1.235e-05``, ``0.5``, ``nan``)."""
    return f"{value:.4g}"


def save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    """Save ``fig`` as an image at ``path`` (format from the suffix; PNG when none)."""
    if path is None:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=DPI, format=p.suffix[1:] or "png")
