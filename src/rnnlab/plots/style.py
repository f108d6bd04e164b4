"""The shared look of rnnlab figures: sizes, gate colours, fonts, and small drawing helpers.

Every plotting module builds its figures with :func:`new_figure` and ends them with
:func:`save` (or :func:`png`), so one change here restyles all of them. Figures are
``matplotlib.figure.Figure`` objects drawn with the Agg canvas: no pyplot, no global state, no
window.

The layout is fixed and computed once (:func:`layout`, called by :func:`save` and :func:`png`):
margins sized from the text each panel carries (tick labels from the axis' own locator and
formatter, axis labels, titles), measured from font metrics without drawing. Titles are fitted
there too: a title wider than its room breaks at spaces, and the figure widens for a word (a
run, file or layer name) that no line holds. Matplotlib's
constrained layout measured every text object several times per save and drew each figure twice:
it was most of a small run's report time (issue 28).

Example:
    >>> fig, axes = new_figure(2, 3)
    >>> axes.shape
    (2, 3)
    >>> GATE_COLORS["f"]
    '#2ca02c'
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import cbook, rcParams
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.image import AxesImage
from matplotlib.text import Text
from matplotlib.textpath import text_to_path
from matplotlib.ticker import (
    FixedFormatter,
    Locator,
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from rnnlab.gates import GATE_LABELS

#: Width and height in inches of one panel of a grid of plots.
PANEL_SIZE: tuple[float, float] = (3.6, 2.3)
#: Size in inches of a single wide plot (metric curves, norm lines, comparisons).
WIDE_SIZE: tuple[float, float] = (9.0, 3.6)
#: Resolution of saved PNGs.
DPI = 110
#: zlib level of the PNGs: lossless at any level; 3 encodes a report's figures in about half the
#: time of Pillow's default 6, for files of about the same size (figures are flat colours).
PNG_COMPRESS_LEVEL = 3

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

#: Colours of a model's parameters (:func:`parameter_color`): none is a gate's (:data:`GATE_COLORS`),
#: nor close to one, so that a parameter's line or histogram is never read as a gate's.
#: Nine: a report's figures draw at most nine parameters, each in a colour of its own.
PARAMETER_COLORS: tuple[str, ...] = (
    "#e377c2", "#bcbd22", "#393b79", "#e7ba52", "#7b4173", "#637939", "#3d5a5a", "#7f7f7f", "#b5446e",
)

#: Line styles of runs and layers: the next one each time :data:`SERIES_COLORS` wraps, so that the
#: 11th curve (blue again) is dashed, not a copy of the 1st: 40 distinct curves.
SERIES_LINESTYLES: tuple[str, ...] = ("-", "--", ":", "-.")

#: Colormaps: signed data (weights) use a diverging map centred on zero; magnitudes a sequential one.
CMAP_SIGNED = "RdBu_r"
CMAP_MAGNITUDE = "viridis"

#: Font sizes (points).
TITLE_SIZE = 11
LABEL_SIZE = 9
TICK_SIZE = 8
NOTE_SIZE = 7.5
#: A histogram's y range over its tallest bar: the top part holds the panel's note clear of the bars.
NOTE_ROOM = 1.35

#: Colour of annotations that warn about the data (NaN, inf, constant, empty).
WARN_COLOR = "#b00020"

#: The label of a colour bar's axes made by :func:`colorbar`: the layout puts it right of the
#: grid's first row.
COLORBAR = "rnnlab colour bar"
#: Layout, in points: the gap at the figure's edges and between neighbouring panels' text, a
#: colour bar's width and its gap to the grid; text lines are ``LINE_SPACING`` × their size high.
EDGE = 5.0
GAP = 7.0
COLORBAR_WIDTH = 11.0
COLORBAR_PAD = 7.0
LINE_SPACING = 1.2
#: Width in inches a figure narrower than its title grows to before the title wraps (a single
#: heatmap panel is 3.3 wide; 5.5 fits a one-line title with a weight name).
TITLE_WIDTH = 5.5


def gate_title(gate: str) -> str:
    """``"f"`` → ``"f (forget gate)"``: the short name a user sees in code, then its meaning."""
    label = GATE_LABELS.get(gate)
    return f"{gate} ({label})" if label else gate


def series_color(index: int) -> str:
    """The colour of the ``index``-th run or layer in a figure with several."""
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def parameter_color(name: str, order: Sequence[str]) -> str:
    """The colour of parameter ``name`` in every figure of a model's parameters: its position in
    ``order`` (all the model's parameters, in one fixed order) in :data:`PARAMETER_COLORS`, whichever
    of the parameters a figure draws and in whatever order (the weight norms, their histograms, the
    gradient norms and the update ratios of a report agree).

    >>> order = ["frontend.weight", "rnn.weight_ih_l0", "head.weight"]
    >>> parameter_color("head.weight", order) == PARAMETER_COLORS[2]
    True
    >>> parameter_color("head.weight", order) in GATE_COLORS.values()
    False
    """
    return PARAMETER_COLORS[list(order).index(name) % len(PARAMETER_COLORS)]


def series_linestyle(index: int) -> str:
    """The line style of the ``index``-th run or layer: solid for the first ten colours, then
    dashed, dotted, dash-dot (with :func:`series_color`, every curve of up to 40 is distinct).

    >>> [(series_color(i), series_linestyle(i)) for i in (0, 10)]
    [('#1f77b4', '-'), ('#1f77b4', '--')]
    """
    return SERIES_LINESTYLES[(index // len(SERIES_COLORS)) % len(SERIES_LINESTYLES)]


def figure_legend(fig: Figure, handles: Sequence[Any], labels: Sequence[str], *, title: str | None = None) -> Any:
    """One legend for the whole figure, below its panels, in as many columns as its width fits:
    a legend inside a panel covers the curves (their end values, often). The figure grows by the
    legend's height, so the panels keep their size; :func:`layout` keeps the band free.

    >>> from matplotlib.lines import Line2D
    >>> fig, axes = new_figure(1, 2)
    >>> h0 = fig.get_figheight()
    >>> leg = figure_legend(fig, [Line2D([], []), Line2D([], [])], ["a", "b"])
    >>> layout(fig)
    >>> bool(fig.get_figheight() > h0), bool(axes[0, 0].get_position().y0 > 0.1)
    (True, True)
    """
    width = fig.get_figwidth() * 72.0 - 2 * EDGE
    # (measured as drawn: a label's missing glyphs would warn, and be measured as the boxes they are)
    labels = [drawable(str(t)) for t in labels]
    title = drawable(title) if title else title
    # an entry: the line (2 em), the gap to its text (0.8 em), the text, the column gap (2 em)
    entry = max(text_extent(t, NOTE_SIZE)[0] for t in labels) + 4.8 * NOTE_SIZE
    ncol = max(1, min(len(labels), int(width // entry)))
    leg = fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=NOTE_SIZE, title=title,
                     title_fontsize=NOTE_SIZE, frameon=False)
    fig.set_figheight(fig.get_figheight() + (_legend_height(fig, leg) + GAP) / 72.0)
    return leg


def _legend_height(fig: Figure, leg: Any) -> float:
    """A figure legend's height in points (measured on the figure's renderer)."""
    return float(leg.get_window_extent(fig.canvas.get_renderer()).height) * 72.0 / fig.dpi


#: The gid of a panel's legend made by :func:`panel_legend`: :func:`layout` puts it under the panel.
BELOW = "rnnlab legend below"


def panel_legend(ax: Axes) -> Any:
    """The legend of one panel, under it (below its x labels), in as many columns as the panel's
    width fits: inside the axes, wherever ``loc="best"`` puts it, a legend covers part of a curve
    or of a reference line. The figure grows by what the legend adds to its row, so the panels
    keep their size; :func:`layout` places it. None when the panel has no labelled artist.

    >>> fig, axes = new_figure(1, 1)
    >>> _ = axes[0, 0].plot([0, 1], [0, 1], label="train_loss")
    >>> leg = panel_legend(axes[0, 0])
    >>> layout(fig)
    >>> bool(leg.get_window_extent(fig.canvas.get_renderer()).y1 < axes[0, 0].get_window_extent().y0)
    True
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    fig = ax.get_figure()
    spec = ax.get_subplotspec()
    columns = spec.get_gridspec().get_geometry()[1] if spec is not None else 1
    width = fig.get_figwidth() * 72.0 / columns - 2 * GAP
    labels = [drawable(str(t)) for t in labels]  # (measured as drawn, as figure_legend's)
    # an entry: the line (2 em), the gap to its text (0.8 em), the text, the column gap (2 em)
    entry = max(text_extent(t, NOTE_SIZE)[0] for t in labels) + 4.8 * NOTE_SIZE
    ncol = max(1, min(len(labels), int(width // entry)))
    leg = ax.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=NOTE_SIZE, frameon=False,
                    borderaxespad=0.0)
    leg.set_gid(BELOW)
    row = spec.rowspan.stop - 1 if spec is not None else 0
    rows = fig.__dict__.setdefault("_rnnlab_legend_rows", {})  # (the tallest legend of each row so far)
    height = _legend_height(fig, leg) + GAP
    if height > rows.get(row, 0.0):
        fig.set_figheight(fig.get_figheight() + (height - rows.get(row, 0.0)) / 72.0)
        rows[row] = height
    return leg


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
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
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
    ax.tick_params(which="both", labelsize=TICK_SIZE)  # minor labels too: a log axis may label them
    ax.xaxis.label.set_size(LABEL_SIZE)
    ax.yaxis.label.set_size(LABEL_SIZE)
    ax.title.set_size(LABEL_SIZE)
    ax.grid(True, alpha=0.25, linewidth=0.6)


def integer_ticks(axis: Axis) -> None:
    """Ticks at integers only (epochs, steps, indices), as many as the panel's size fits: each
    tick is several artists, and a fixed ten of them on every small panel was a good part of a
    report's drawing time.

    An axis of one index (a heatmap of a single input feature: -0.5 … 0.5) gets its one
    integer, 0, not the fractional ticks a locator asking for two integers falls back to.

    >>> fig, axes = new_figure(1, 1)
    >>> integer_ticks(axes[0, 0].xaxis)
    >>> axes[0, 0].xaxis.get_major_locator().tick_values(0.0, 2.5).tolist()
    [0.0, 1.0, 2.0, 3.0]
    >>> [t for t in axes[0, 0].xaxis.get_major_locator().tick_values(-0.5, 0.5).tolist() if -0.5 <= t <= 0.5]
    [0.0]
    """
    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True, min_n_ticks=1))


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
    """Mark an empty panel so that a missing series reads as missing, not as a blank plot.

    Its ticks and grid are hidden on this panel only (a panel may share its axes' ticks with
    others).
    """
    ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
        fontsize=LABEL_SIZE, color=WARN_COLOR,
    )
    ax.grid(False)
    ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)


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


def colorbar(fig: Figure, image: AxesImage, label: str) -> Colorbar:
    """A colour bar for ``image``, placed by :func:`layout` right of the grid's first row.

    >>> import numpy as np
    >>> fig, axes = new_figure(1, 2)
    >>> cb = colorbar(fig, axes[0, 0].imshow(np.eye(3)), "value")
    >>> save(fig, None)
    >>> bool(cb.ax.get_position().x0 > axes[0, 1].get_position().x1)
    True
    """
    cb = fig.colorbar(image, cax=fig.add_axes((0.0, 0.0, 1.0, 1.0), label=COLORBAR))
    cb.set_label(label, fontsize=LABEL_SIZE)
    cb.ax.tick_params(labelsize=TICK_SIZE)
    return cb


def share_x_labels(axes: np.ndarray) -> None:
    """Tick labels and label of the x axis only under the lowest panel with data of each column.

    For panels whose x axes show the same range (shared, or set equal): the labels between rows
    repeat what the column's bottom says. A panel without data (:func:`no_data`) or hidden does
    not count as the bottom.
    """
    for col in axes.T:
        shown = [ax for ax in col if ax.get_visible() and ax.xaxis.get_tick_params().get("bottom", True)]
        for ax in shown[:-1]:
            ax.tick_params(axis="x", which="both", labelbottom=False)
            ax.set_xlabel("")
        if shown:
            shown[-1].tick_params(axis="x", which="both", labelbottom=True)


#: How a character that none of a text's fonts has a glyph for is written in a figure: its code
#: point. Matplotlib drew a box in its place (the Last Resort font's, one box per Unicode block) and
#: warned "Glyph ... missing from font(s)"; class names "walk 🚶" and "walk 🏃" then read alike.
GLYPH_ESCAPE = "<U+{:04X}>"


def drawable(text: str, prop: FontProperties | None = None) -> str:
    """``text`` as a figure can draw it: each character that none of the fonts of ``prop`` (the
    figure's default font when None) has a glyph for is written as its code point
    (:data:`GLYPH_ESCAPE`), so that names which differ stay apart; a text its fonts draw whole is
    returned as it is. Line breaks stay; mathtext is left to matplotlib.

    Every text of a figure goes through it when :func:`layout` lays the figure out (titles,
    axis and tick labels, legends, notes); the HTML around the figures keeps the characters.

    >>> drawable("walk 🚶"), drawable("walk 🏃"), drawable("Café ±1")
    ('walk <U+1F6B6>', 'walk <U+1F3C3>', 'Café ±1')
    """
    if not text or cbook.is_math_text(text):
        return text
    glyphs = _glyphs(prop if prop is not None else FontProperties())
    if all(c == "\n" or any(ord(c) in g for g in glyphs) for c in text):
        return text
    return "".join(c if c == "\n" or any(ord(c) in g for g in glyphs) else GLYPH_ESCAPE.format(ord(c))
                   for c in text)


def literal_dollars(text: str) -> str:
    r"""``text`` with each ``$`` escaped, so that matplotlib draws it as a dollar sign: a name
    holding two (a class ``"$5-$10"``, a parameter ``"cost$usd$"``) was drawn as a formula, its
    letters in italics and the dollar signs gone. rnnlab's own figure texts hold no formulas. A
    dollar escaped already stays as it is, so that a figure laid out twice is escaped once.

    >>> literal_dollars("$5-$10"), cbook.is_math_text(literal_dollars("$5-$10"))
    ('\\$5-\\$10', False)
    >>> literal_dollars(literal_dollars("$5-$10")) == literal_dollars("$5-$10")
    True
    """
    return _UNESCAPED_DOLLAR.sub(r"\\$", text)


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def shown(line: str) -> str:
    """The characters matplotlib draws for the plain (not mathtext) ``line``: an escaped dollar
    (:func:`literal_dollars`) is drawn as one character; what is measured is what is drawn.

    >>> shown(literal_dollars("$5-$10"))
    '$5-$10'
    """
    return line.replace("\\$", "$")


def _glyphs(prop: FontProperties) -> list[frozenset[int]]:
    """The characters each font that matplotlib draws text of ``prop`` with has a glyph for: the
    fonts of its families (``font.family``, each resolved as the Agg renderer resolves them),
    without matplotlib's Last Resort font, whose glyphs are the boxes."""
    find = getattr(fontManager, "_find_fonts_by_props", None)  # (the renderer's own choice of fonts)
    fonts = find(prop) if find is not None else [fontManager.findfont(prop)]
    return [_charmap(f) for f in fonts if not os.path.basename(f).startswith("LastResort")]


@lru_cache(maxsize=64)
def _charmap(font: str) -> frozenset[int]:
    """The code points the font file ``font`` has a glyph for, read once per font: those whose
    ``get_char_index`` is not 0, the missing glyph (the keys of its character map). Matplotlib's
    own cached ``FT2Font`` is read, not kept: one must not outlive a fork."""
    return frozenset(code for code, index in get_font(font).get_charmap().items() if index)


def _drawable_texts(fig: Figure) -> None:
    """Write every text of ``fig`` as :func:`drawable` makes it, each in its own font: the
    figure's titles, texts and legends, and each axes' titles, texts, axis labels, legend and
    fixed tick labels (the names given to ``set_xticks``, drawn from the axis' formatter)."""
    texts: list[Any] = [getattr(fig, name, None) for name in ("_suptitle", "_supxlabel", "_supylabel")]
    texts += fig.texts
    legends = list(fig.legends)
    for ax in fig.axes:
        texts += [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None), *ax.texts,
                  ax.xaxis.label, ax.yaxis.label]
        legends.append(ax.get_legend())
        for axis in (ax.xaxis, ax.yaxis):
            for fmt in (axis.get_major_formatter(), axis.get_minor_formatter()):
                # (labels given to set_ticks: matplotlib keeps them in a FuncFormatter's dict of
                # location to label, or in a FixedFormatter where no FixedLocator is set)
                func = getattr(fmt, "func", None)
                given = func.args[0] if isinstance(func, partial) and func.args and isinstance(func.args[0], dict) \
                    else None
                if given or (isinstance(fmt, FixedFormatter) and fmt.seq):
                    prop = axis.majorTicks[0].label1.get_fontproperties()
                    if given:
                        given.update({k: drawable(literal_dollars(str(v)), prop) for k, v in given.items()})
                    else:
                        fmt.seq = [drawable(literal_dollars(str(t)), prop) for t in fmt.seq]
    for leg in legends:
        if leg is not None:
            texts += [*leg.get_texts(), leg.get_title()]
    for t in texts:
        if isinstance(t, Text) and t.get_text():
            new = drawable(literal_dollars(t.get_text()), t.get_fontproperties())
            if new != t.get_text():
                t.set_text(new)


@lru_cache(maxsize=4096)
def text_extent(text: str, size: float) -> tuple[float, float]:
    """Width and height in points of ``text`` drawn at font ``size`` (lines, mathtext), from the
    font's metrics: nothing is drawn. Measured as :func:`drawable` writes it.

    >>> w, h = text_extent("step 0\\nepoch 1", 8.0)
    >>> round(h, 1), 20 < w < 40
    (19.2, True)
    """
    if not text:
        return 0.0, 0.0
    prop = FontProperties(size=size)
    text = drawable(text, prop)
    width, height = 0.0, 0.0
    for line in text.split("\n"):
        math = cbook.is_math_text(line)
        w, h, d = text_to_path.get_text_width_height_descent(line if math else shown(line), prop, ismath=math)
        width = max(width, float(w))
        # A line of plain text is spaced as matplotlib spaces it; mathtext (10^-3) may be taller.
        height += max(size * LINE_SPACING, float(h + d)) if math else size * LINE_SPACING
    return width, height


def _tick_labels(axis: Axis) -> tuple[list[tuple[str, float]], str]:
    """The tick labels ``axis`` will draw, with their font sizes (from its own locators and
    formatters), and its offset text."""
    params = axis.get_tick_params()
    # (an axis' own sides only: an x axis has no "labelleft", which read as shown hid nothing)
    sides = ("labelbottom", "labeltop") if axis.axis_name == "x" else ("labelleft", "labelright")
    if not any(params.get(k, k in ("labelbottom", "labelleft")) for k in sides):
        return [], ""
    lo, hi = sorted(axis.get_view_interval())
    tol = (hi - lo) * 1e-9
    labels, offset = [], ""
    for which, locator, formatter in (("major", axis.get_major_locator(), axis.get_major_formatter()),
                                      ("minor", axis.get_minor_locator(), axis.get_minor_formatter())):
        locs = np.asarray(locator(), dtype=np.float64)
        texts = formatter.format_ticks(list(locs)) if locs.size else []
        size = FontProperties(size=axis.get_tick_params(which).get(
            "labelsize", rcParams[f"{axis.axis_name}tick.labelsize"])).get_size_in_points()
        labels += [(t, size) for v, t in zip(locs, texts, strict=True) if t and lo - tol <= v <= hi + tol]
        offset = offset or formatter.get_offset()
    return labels, offset


def _label_rotation(axis: Axis) -> float:
    """Degrees ``axis``' tick labels are turned by (``tick_params(labelrotation=...)`` or
    ``set_xticks(..., rotation=...)``)."""
    rotation = axis.get_tick_params().get("labelrotation")
    if rotation is None:
        # (the first tick's label, whose properties matplotlib copies to every tick it adds:
        # get_majorticklabels() would place and format every tick first, a fifth of a report's time)
        rotation = axis.majorTicks[0].label1.get_rotation()
    return float(rotation)


def _tick_band(axis: Axis, labels: list[tuple[str, float]]) -> float:
    """Points that ``axis``' ticks and tick ``labels`` take outside the axes (turned labels by
    their turned extent: a label of width w and height h at angle a stands w·sin a + h·cos a
    below an x axis)."""
    name = axis.axis_name
    params = axis.get_tick_params()
    ticks = any(params.get(k, k in ("bottom", "left")) for k in ("bottom", "top", "left", "right"))
    band = float(rcParams[f"{name}tick.major.size"]) if ticks else 0.0
    if labels:
        a = np.radians(_label_rotation(axis))
        across, along = (abs(np.sin(a)), abs(np.cos(a))) if name == "x" else (abs(np.cos(a)), abs(np.sin(a)))
        extents = [text_extent(t, size) for t, size in labels]
        band += float(rcParams[f"{name}tick.major.pad"]) + max(w * across + h * along for w, h in extents)
    return band


def _turned_labels(axis: Axis) -> tuple[float, list[Text]] | None:
    """The angle (radians) of ``axis``' turned tick labels and those it shows; None where they are
    level or none is shown."""
    a = float(np.radians(_label_rotation(axis)))
    if a % np.pi == 0:  # (level labels: nothing turned to place, and no tick need be placed to say so)
        return None
    labels = [t for t in axis.get_majorticklabels() if t.get_text() and t.get_visible()]
    return (a, labels) if labels else None


def _turned_overhang(ax: Axes) -> float:
    """Points that turned x tick labels anchored at their right end (``ha="right"``, as turned
    labels are set so that each ends at its tick) stick out left of the axes: a long first label
    reaches past the panel's left edge by its turned width less its tick's distance from there."""
    axis = ax.xaxis
    turned = _turned_labels(axis)
    if turned is None:
        return 0.0
    a, labels = turned
    lo, hi = sorted(axis.get_view_interval())
    width = ax.get_position().width * ax.get_figure().get_figwidth() * 72.0
    share = {"right": 1.0, "center": 0.5}.get(labels[0].get_horizontalalignment(), 0.0)
    most = 0.0
    for label in labels:
        v = float(label.get_position()[0])
        if hi > lo and lo <= v <= hi:
            w, h = text_extent(label.get_text(), label.get_fontsize())
            reach = share * (w * abs(np.cos(a)) + h * abs(np.sin(a)))
            most = max(most, reach - (v - lo) / (hi - lo) * width)
    return most


def _turned_reach_right(ax: Axes) -> float:
    """Points that turned x tick labels stick out right of the axes: a label turned about its
    right end (``ha="right"``, ``rotation_mode="anchor"``, as turned labels are set so that each
    ends at its tick) runs down and left from its tick, and only its height's corner
    (``h·sin a``) reaches right of it, less its tick's distance from the panel's right edge.
    Half the label's level width was kept free there: a wide gap between a confusion matrix
    and its colour bar for a long class name."""
    axis = ax.xaxis
    turned = _turned_labels(axis)
    if turned is None:
        return 0.0
    a, labels = turned
    x0, x1 = axis.get_view_interval()
    width = ax.get_position().width * ax.get_figure().get_figwidth() * 72.0
    most = 0.0
    for label in labels:
        v = float(label.get_position()[0])
        if x1 == x0 or not min(x0, x1) <= v <= max(x0, x1):
            continue
        w, h = text_extent(label.get_text(), label.get_fontsize())
        share = {"right": 1.0, "center": 0.5}.get(label.get_horizontalalignment(), 0.0)  # of w left of the tick
        if label.get_rotation_mode() == "anchor":  # (aligned level, then turned about the tick)
            drop = {"top": (-h, 0.0), "bottom": (0.0, h), "baseline": (0.0, h)}.get(label.get_verticalalignment(),
                                                                                   (-h / 2, h / 2))
            reach = max(x * np.cos(a) - y * np.sin(a) for x in (-share * w, (1 - share) * w) for y in drop)
        else:  # (turned, then its turned box aligned at the tick)
            reach = (1 - share) * (w * abs(np.cos(a)) + h * abs(np.sin(a)))
        most = max(most, float(reach) - (x1 - v) / (x1 - x0) * width)
    return most


def _label_band(axis: Axis) -> float:
    """Points that ``axis``' label takes beyond its tick labels."""
    if not (axis.label.get_visible() and axis.label.get_text()):
        return 0.0
    return axis.labelpad + text_extent(axis.label.get_text(), axis.label.get_fontsize())[1]


class _Panel:
    """What one panel's text takes around it, in points (measured once per layout pass)."""

    def __init__(self, ax: Axes) -> None:
        xlabels, xoffset = _tick_labels(ax.xaxis)
        ylabels, yoffset = _tick_labels(ax.yaxis)
        size = float(ax.xaxis.get_tick_params().get("labelsize", TICK_SIZE))  # of the offset text
        self.yticks, self.xticks = _tick_band(ax.yaxis, ylabels), _tick_band(ax.xaxis, xlabels)
        self.ylabel, self.xlabel = _label_band(ax.yaxis), _label_band(ax.xaxis)
        self.left = max(self.yticks + self.ylabel, _turned_overhang(ax))
        self.bottom = self.xticks + self.xlabel
        leg = ax.get_legend()
        self.legend = leg if leg is not None and leg.get_gid() == BELOW else None  # (panel_legend's)
        self.legend_height = _legend_height(ax.get_figure(), leg) if self.legend is not None else 0.0
        # The last level x tick label sticks out right by half its width (turned ones by what
        # :func:`_turned_reach_right` says); an x offset text by all of it.
        level = xlabels if _label_rotation(ax.xaxis) % 180 == 0 else []
        self.right = max(max((text_extent(t, s)[0] / 2 for t, s in level), default=0.0), _turned_reach_right(ax),
                         text_extent(xoffset, size)[0])
        self.offset = text_extent(yoffset, TICK_SIZE)[1]  # the y axis' offset text, above the axes
        title = ax.title.get_text() if ax.title.get_visible() else ""
        self.title = text_extent(title, ax.title.get_fontsize())[1]

    def top(self, lift: float) -> float:
        """Points above the panel: its title over the offset texts that reach ``lift`` or its own."""
        lift = max(lift, self.offset)
        return (self.title + lift + float(rcParams["axes.titlepad"]) if self.title else lift)


def layout(fig: Figure) -> None:
    """Place the figure's grid of panels (from :func:`new_figure`), and a colour bar from
    :func:`colorbar` right of its first row, so that no text overlaps: each column's left
    margin fits its widest y tick labels and y label, each row's top its title and each row's
    bottom its x tick labels and x label; the panels share what is left (by the grid's width and
    height ratios). A second pass follows when the first changed the margins, as a tick locator
    picks its ticks by the panel's size.

    Titles are fitted inside the figure first: a figure narrower than its title widens to it (up
    to :data:`TITLE_WIDTH`), a title wider than its room breaks at spaces (:func:`wrap_text`; a
    panel's room is its axes and half the gap to each neighbour, so that neighbouring titles do
    not overlap either), and the figure widens for a single word wider than that, as for a figure
    legend wider than the figure. A long run, file or layer name was cut at the figure's edges.

    >>> fig, axes = new_figure(1, 2)
    >>> axes[0, 0].set_ylabel("loss")
    Text(...)
    >>> layout(fig)
    >>> bool(axes[0, 0].get_position().x0 > 0), bool(axes[0, 0].get_position().x1 < axes[0, 1].get_position().x0)
    (True, True)
    >>> fig, axes = new_figure(1, 1, panel_size=(3.0, 2.0))
    >>> _ = fig.suptitle("metrics of sweep 2024-11-03 lstm hidden 256 dropout 0.3 seed 1 (best of 12)")
    >>> layout(fig)
    >>> float(fig.get_figwidth()), fig.get_suptitle().count("\\n")
    (5.5, 1)
    """
    _drawable_texts(fig)  # (first: what is fitted and measured is what is drawn)
    _fit_figure_text(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            _ticks_in_view(axis)
            _plain_text_powers(axis)
    grid = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    if not grid:
        return
    gs = grid[0].get_subplotspec().get_gridspec()
    grid = [ax for ax in grid if ax.get_subplotspec().get_gridspec() is gs]
    bars = [ax for ax in fig.axes if ax.get_label() == COLORBAR]
    _room_for_turned_labels(fig, grid)
    margins = None
    for _ in range(6):
        now = _place(fig, gs, grid, bars)
        if _fit_panel_titles(fig, gs, grid):  # (lines or the figure's width changed: place again)
            margins = None
            continue
        if margins is not None and np.allclose(now, margins, atol=0.5):
            break
        margins = now


def _room_for_turned_labels(fig: Figure, grid: list[Axes]) -> None:
    """Grow ``fig`` by what turned tick labels take beyond level ones (each row's deepest x band,
    each column's widest y band), so that the panels keep the size they were made with instead of
    the margins eating them; a figure laid out again grows only by what changed since."""
    rows: dict[int, float] = {}
    cols: dict[int, float] = {}
    for ax in grid:
        if not ax.get_visible():
            continue
        ss = ax.get_subplotspec()
        for axis, into, index in ((ax.xaxis, rows, ss.rowspan.stop - 1), (ax.yaxis, cols, ss.colspan.start)):
            if _label_rotation(axis) % 180 == 0:
                continue
            labels = _tick_labels(axis)[0]
            flat = max((text_extent(t, size)[1 if axis.axis_name == "x" else 0] for t, size in labels), default=0.0)
            extra = _tick_band(axis, labels) - float(rcParams[f"{axis.axis_name}tick.major.size"]) \
                - float(rcParams[f"{axis.axis_name}tick.major.pad"]) - flat if labels else 0.0
            into[index] = max(into.get(index, 0.0), extra)
    height, width = sum(rows.values()), sum(cols.values())
    before_h, before_w = getattr(fig, "_rnnlab_turned", (0.0, 0.0))
    if (height, width) != (before_h, before_w):
        fig.set_size_inches(fig.get_figwidth() + (width - before_w) / 72.0,
                            fig.get_figheight() + (height - before_h) / 72.0)
        fig._rnnlab_turned = (height, width)  # type: ignore[attr-defined]


@lru_cache(maxsize=8)
def _renderer(dpi: float) -> RendererAgg:
    return RendererAgg(1, 1, dpi)  # (measures text only: a pixel of canvas)


@lru_cache(maxsize=4096)
def drawn_width(text: str, size: float, dpi: float = DPI) -> float:
    """Points the widest line of ``text`` takes when drawn at font ``size`` on a figure of
    ``dpi`` and in the PNGs (:data:`DPI`): glyphs snapped to the pixel grid draw up to a sixth
    wider than :func:`text_extent`'s font metrics say, and a title fitted to those was cut.

    >>> drawn_width("metrics of my-run", 9.0) >= text_extent("metrics of my-run", 9.0)[0]
    True
    """
    prop = FontProperties(size=size)
    width = text_extent(text, size)[0]
    for line in drawable(text, prop).split("\n"):
        if line and not cbook.is_math_text(line):
            for d in {float(dpi), float(DPI)}:
                width = max(width, float(_renderer(d).get_text_width_height_descent(shown(line), prop, False)[0]) * 72.0 / d)
    return width


def wrap_text(text: str, size: float, room: float, dpi: float = DPI) -> str:
    """``text`` broken at spaces into lines at most ``room`` points wide at font ``size``
    (:func:`drawn_width` on a figure of ``dpi``), its own line breaks kept. A word wider than
    ``room`` stays whole on a line of its own (a run or layer name cut in two reads as two
    names); mathtext lines are left as they are.

    >>> wrap_text("metrics of my-run", 9.0, 50.0)
    'metrics of\\nmy-run'
    >>> wrap_text("a_name_longer_than_the_room x", 9.0, 20.0)
    'a_name_longer_than_the_room\\nx'
    """
    out: list[str] = []
    for para in text.split("\n"):
        if cbook.is_math_text(para):
            out.append(para)
            continue
        lines: list[str] = []
        for word in para.split(" "):
            line = f"{lines[-1]} {word}" if lines else word
            if lines and drawn_width(line, size, dpi) <= room:
                lines[-1] = line
            else:
                lines.append(word)
        out += lines
    return "\n".join(out)


def _widest_word(text: str, size: float, dpi: float) -> float:
    """Points of the widest word of ``text`` (what no wrapping makes narrower)."""
    return max((drawn_width(line if cbook.is_math_text(line) else word, size, dpi)
                for line in text.split("\n") for word in line.split(" ")), default=0.0)


def _given(t: Any) -> str:
    """The text the Text ``t`` was given, before :func:`_fit_text` wrapped it (a second layout
    starts from that, not from its wrapped lines; a text set since is taken as given)."""
    fitted, given = getattr(t, "_rnnlab_fitted", (None, None))
    return given if t.get_text() == fitted else t.get_text()


def _fit_text(t: Any, room: float, dpi: float) -> bool:
    """Wrap the Text ``t`` to ``room`` points (on a figure of ``dpi``) from the text it was
    given; True when its lines changed."""
    source = _given(t)
    new = wrap_text(source, t.get_fontsize(), room, dpi)
    t._rnnlab_fitted = (new, source)
    if new == t.get_text():
        return False
    t.set_text(new)
    return True


def _grow(fig: Figure, key: str, points: float) -> bool:
    """Make the figure ``points`` taller for ``key``'s wrapped lines than it was before they were
    wrapped (so the panels keep their size, as for a legend); True when its height changed."""
    added = fig.__dict__.setdefault("_rnnlab_wrapped_height", {})  # (what each key added so far)
    change = points - added.get(key, 0.0)
    added[key] = points
    if abs(change) < 0.5:
        return False
    fig.set_figheight(fig.get_figheight() + change / 72.0)
    return True


def _fit_figure_text(fig: Figure) -> None:
    """The suptitle's and figure legends' part of :func:`layout`'s fitting (they do not depend
    on where the panels are)."""
    t = getattr(fig, "_suptitle", None)
    if t is not None and t.get_visible() and t.get_text():
        source, size = _given(t), t.get_fontsize()
        need = max(min(drawn_width(source, size, fig.dpi), TITLE_WIDTH * 72.0 - 2 * EDGE),
                   _widest_word(source, size, fig.dpi))
        fig.set_figwidth(max(fig.get_figwidth(), (need + 2 * EDGE) / 72.0))
        _fit_text(t, fig.get_figwidth() * 72.0 - 2 * EDGE, fig.dpi)
        _grow(fig, "suptitle", text_extent(t.get_text(), size)[1] - text_extent(source, size)[1])
    if fig.legends:  # (measured as drawn on the figure and in the PNGs, as titles are)
        dpi = fig.dpi
        for d in dict.fromkeys((dpi, DPI)):
            fig.set_dpi(d)
            for leg in fig.legends:
                width = float(leg.get_window_extent(fig.canvas.get_renderer()).width) * 72.0 / d
                fig.set_figwidth(max(fig.get_figwidth(), (width + 2 * EDGE) / 72.0))
        fig.set_dpi(dpi)


def _fit_panel_titles(fig: Figure, gs: Any, grid: list[Axes]) -> bool:
    """The panels' part of :func:`layout`'s fitting, on the panels as placed; True when a
    title's lines or the figure's width changed (the panels are to be placed again)."""
    W = fig.get_figwidth() * 72.0
    ncols = gs.get_geometry()[1]
    x0, x1 = np.full(ncols, np.inf), np.full(ncols, -np.inf)
    for ax in grid:
        ss, box = ax.get_subplotspec(), ax.get_position()
        x0[ss.colspan.start] = min(x0[ss.colspan.start], box.x0 * W)
        x1[ss.colspan.stop - 1] = max(x1[ss.colspan.stop - 1], box.x1 * W)
    wr = np.asarray(gs.get_width_ratios() or [1.0] * ncols, dtype=np.float64)
    changed, grow = False, 0.0
    tops: dict[int, list[float]] = {}  # a row's title heights, wrapped and as given
    for ax in grid:
        t = ax.title
        if not (ax.get_visible() and t.get_visible() and t.get_text()):
            continue
        c0, c1 = ax.get_subplotspec().colspan.start, ax.get_subplotspec().colspan.stop - 1
        lo = EDGE if c0 == 0 else (x1[c0 - 1] + x0[c0]) / 2
        hi = W - EDGE if c1 == ncols - 1 else (x1[c1] + x0[c1 + 1]) / 2
        centre = (x0[c0] + x1[c1]) / 2
        room = 2 * min(centre - lo, hi - centre)
        changed |= _fit_text(t, room, fig.dpi)
        row = tops.setdefault(ax.get_subplotspec().rowspan.start, [0.0, 0.0])
        row[0] = max(row[0], text_extent(t.get_text(), t.get_fontsize())[1])
        row[1] = max(row[1], text_extent(_given(t), t.get_fontsize())[1])
        short = drawn_width(t.get_text(), t.get_fontsize(), fig.dpi) - room
        if short > 0.5:  # (a word: the panel grows by its share of what the figure gains)
            grow = max(grow, short * wr.sum() / wr[c0:c1 + 1].sum())
    if grow:
        fig.set_figwidth((W + grow + 1.0) / 72.0)
    taller = _grow(fig, "panel titles", sum(wrapped - given for wrapped, given in tops.values()))
    return changed or bool(grow) or taller


class InView(Locator):
    """``base``'s ticks that lie in the axis' view: matplotlib makes a tick (five artists) for
    every location a locator returns and draws only those in view, and a locator returns one
    step beyond each end (a log axis' minor locator whole decades): a quarter of a report's ticks
    were made and never drawn (issue 28). The drawn figure is the same to the pixel.

    >>> fig, axes = new_figure(1, 1)
    >>> axes[0, 0].set_xlim(0.5, 2.5)
    (0.5, 2.5)
    >>> integer_ticks(axes[0, 0].xaxis)
    >>> layout(fig)
    >>> axes[0, 0].xaxis.get_major_locator()().tolist()
    [1.0, 2.0]
    """

    def __init__(self, base: Locator) -> None:
        self.base = base

    def set_axis(self, axis: Axis) -> None:
        self.axis = axis
        self.base.set_axis(axis)

    def __call__(self) -> np.ndarray:
        locs = np.asarray(self.base(), dtype=np.float64)
        lo, hi = sorted(self.axis.get_view_interval())
        tol = (hi - lo) * 1e-9
        return locs[(locs >= lo - tol) & (locs <= hi + tol)]

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        return self.base.tick_values(vmin, vmax)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return self.base.nonsingular(v0, v1)

    def view_limits(self, vmin: float, vmax: float) -> tuple[float, float]:
        return self.base.view_limits(vmin, vmax)


def _ticks_in_view(axis: Axis) -> None:
    """Wrap ``axis``' locators in :class:`InView` (once), leaving them default for a later
    ``set_xscale``, which replaces them as before."""
    defaults = axis.isDefault_majloc, axis.isDefault_minloc
    if not isinstance(axis.get_major_locator(), InView):
        axis.set_major_locator(InView(axis.get_major_locator()))
    if not isinstance(axis.get_minor_locator(), InView):
        axis.set_minor_locator(InView(axis.get_minor_locator()))
    axis.isDefault_majloc, axis.isDefault_minloc = defaults


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
#: The mantissas whose minor ticks a log axis with fewer than two powers of ten in view labels: the
#: first set that gives it two labels or more (powers of ten included). Matplotlib labelled 2, 3,
#: 4 and 6 across most of a decade, labels that overlapped on a narrow axis.
MINOR_LABELS: tuple[frozenset[int], ...] = (frozenset({2, 5}), frozenset({2, 3, 5}), frozenset({2, 4, 6, 8}),
                                            frozenset(range(2, 10)))


#: The values a log axis' tick labels are written as plain numbers within (0.05, 1, 20, 500), where
#: every label of the axis lies within them: ``2×10⁰`` read as a formula for 2, and a panel of 0.16 to
#: 0.27 read ``1.6×10⁻¹`` to ``2.6×10⁻¹``. Beyond them (a learning rate of 3×10⁻⁴), powers of ten.
PLAIN_TICKS: tuple[float, float] = (0.01, 1000.0)


class PowerLabels(LogFormatterSciNotation):
    """A log axis' tick labels as plain text (``10⁻³``, ``2×10⁻³``) where matplotlib writes
    mathtext (``$\\mathdefault{10^{-3}}$``): the same figures in the same font, without building
    the mathtext parser and laying out each label as a formula, which was a tenth of a report's
    drawing time (issue 28).

    An axis whose labels (major and minor: one style per axis) all lie within :data:`PLAIN_TICKS`
    writes them as plain numbers (0.5, 1, 2, 20) instead (:func:`plain_log_axis`).

    Its minor labels (``labelOnlyBase=False``): none when two powers of ten or more are in view,
    else the minor ticks of the first set of :data:`MINOR_LABELS` that gives the axis two labels;
    where no set does (a view narrower than the gap between two whole mantissas: 9.73 to
    9.81×10⁻³), matplotlib's minor locator falls back to evenly spaced ticks at any mantissa, and
    each is labelled with the decimals its spacing needs (:func:`spaced_power_label`).
    ``every=True`` labels every tick its axis' locator places (one that places only ticks to be
    labelled, as :class:`rnnlab.plots.metrics.LogTicks`).

    >>> PowerLabels()(1e-3), PowerLabels(labelOnlyBase=False)(2e-3), PowerLabels()(100.0)
    ('10⁻³', '2×10⁻³', '10²')
    >>> f = PowerLabels(every=True)
    >>> f.set_locs([0.5, 1.0, 2.0]); [f(v) for v in (0.5, 1.0, 2.0)]
    ['0.5', '1', '2']
    >>> f.set_locs([5e-4, 1e-3, 2e-3]); [f(v) for v in (5e-4, 1e-3)]
    ['5×10⁻⁴', '10⁻³']
    """

    #: The spacing of the evenly spaced ticks being labelled (None: ticks at whole mantissas).
    _spacing: float | None = None
    #: Whether the axis' labels are plain numbers (:func:`plain_log_axis`), else powers of ten.
    plain: bool = False

    def __init__(self, *args: Any, every: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every = every

    def set_locs(self, locs: Any = None) -> None:
        self._choose(locs)
        if self.axis is not None:
            self.plain = plain_log_axis(self.axis)
        else:  # (no axis, no view: the locations given are all there is)
            shown = [float(v) for v in ([] if locs is None else locs) if v > 0 and self._power(v)]
            self.plain = bool(shown) and all(PLAIN_TICKS[0] <= v < PLAIN_TICKS[1] for v in shown)

    def _choose(self, locs: Any) -> None:
        """Which of ``locs`` get labels, and the spacing of evenly spaced ones (for the view)."""
        self._spacing = None
        ticks = np.sort(np.asarray([] if locs is None else locs, dtype=np.float64))
        if self.every:
            self._sublabels = None
            ticks = ticks[ticks > 0]
            # (a view narrower than whole mantissas: the locator's evenly spaced ticks)
            if ticks.size > 1 and not all(_whole_mantissa(v) for v in ticks):
                self._spacing = float(np.diff(ticks).min())
            return
        if self.axis is None:
            return
        super().set_locs(locs)
        if self.labelOnlyBase or self._sublabels in (None, {1}) or self._base != 10:
            return
        if getattr(self.axis.get_transform(), "linthresh", None) is not None:
            return  # (a symlog axis: matplotlib's choice)
        lo, hi = sorted(self.axis.get_view_interval())
        if lo <= 0:
            return
        decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
        tol = 1e-9
        for mantissas in MINOR_LABELS:
            shown = [m for k in decades for m in (1, *mantissas) if lo * (1 - tol) <= m * 10.0 ** k <= hi * (1 + tol)]
            if len(shown) >= 2:
                self._sublabels = {1, *mantissas}
                return
        # (matplotlib's filter by whole mantissa left 9.74×10⁻³, which rounds to 10, unlabelled, and
        # its six digits wrote ticks 10⁻⁸ apart alike: a panel of 9.73 to 9.81×10⁻³ read nothing)
        ticks = ticks[(ticks >= lo * (1 - tol)) & (ticks <= hi * (1 + tol))]
        # (the smallest gap: where a power of ten among them is a major tick, the minor ones skip it)
        self._spacing = float(np.diff(ticks).min()) if ticks.size > 1 else hi - lo

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = self._power(x, pos)
        if not (text and self.plain):
            return text
        return spaced_plain_label(x, self._spacing) if self._spacing else f"{x:.6g}"

    def _power(self, x: float, pos: int | None = None) -> str:
        """``x``' label as a power of ten (``""``: not labelled)."""
        if self.every and not x > 0:
            return ""
        # (a power of ten among evenly spaced ticks keeps its plain label: the major ticks' 10⁻²)
        if self._spacing and x > 0 and (self.every or not _is_power(x)):
            return spaced_power_label(x, self._spacing)
        text = super().__call__(x, pos)
        if not text:
            return text
        body = text.removeprefix("$\\mathdefault{").removesuffix("}$")
        mantissa, _, power = body.replace("\\times", "×").partition("^{")
        mantissa = mantissa.replace("-", "\N{MINUS SIGN}")
        return mantissa + power.removesuffix("}").translate(_SUPERSCRIPT) if power else mantissa


def plain_log_axis(axis: Axis) -> bool:
    """Whether every tick label the log ``axis`` shows (its :class:`PowerLabels`, major and minor,
    in view) lies within :data:`PLAIN_TICKS`: then all of them are written as plain numbers, else
    all as powers of ten, one style per axis (``10⁻³`` beside ``0.5`` reads as two scales).

    >>> fig, axes = new_figure(1, 1)
    >>> axes[0, 0].set_yscale("log"); _ = axes[0, 0].set_ylim(0.3, 3.0)
    >>> layout(fig)
    >>> plain_log_axis(axes[0, 0].yaxis), axes[0, 0].yaxis.get_minor_formatter()(2.0)
    (True, '2')
    """
    lo, hi = sorted(axis.get_view_interval())
    if not lo > 0 or getattr(axis.get_transform(), "linthresh", None) is not None:
        return False
    tol = 1e-9
    shown: list[float] = []
    for locator, fmt in ((axis.get_major_locator(), axis.get_major_formatter()),
                         (axis.get_minor_locator(), axis.get_minor_formatter())):
        if not isinstance(fmt, PowerLabels):
            continue
        locs = np.asarray(locator(), dtype=np.float64)
        fmt._choose(locs)  # (the labels it gives this view: the same state its own set_locs makes)
        shown += [float(v) for v in locs if lo * (1 - tol) <= v <= hi * (1 + tol) and fmt._power(float(v))]
    return bool(shown) and all(PLAIN_TICKS[0] <= v < PLAIN_TICKS[1] for v in shown)


#: Labelled ticks a log panel gets at least where it can (two were too few to read a value between them).
MIN_TICKS = 4
#: A y label's words for a panel made log because its values span decades (:func:`log_decades`).
LOG_SPANS = "log scale (the values span {:.2g} decades)"


def log_decades(values: Sequence[np.ndarray]) -> float:
    """The decades that the positive finite ``values`` of a panel span (0 with fewer than two):
    past a few, the small ones are a flat line at 0 on a linear axis, under a diverged run's spike.

    >>> log_decades([np.array([0.5, 0.01]), np.array([-1.0, np.nan, 50.0])])
    3.6989700043360187
    """
    every = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values]) if values else np.empty(0)
    every = every[np.isfinite(every) & (every > 0)]
    return float(np.log10(every.max() / every.min())) if every.size > 1 else 0.0


class LogTicks(LogLocator):
    """A log panel's major ticks: the powers of ten where three or more are in view; else with the
    mantissas of the first set of :data:`MINOR_LABELS` that gives :data:`MIN_TICKS` in view (2.3
    to 9: 3 to 9); else linear steps (a view narrower than that). The axis' default labelled two
    ticks of a gradient norm from 2.3 to 9.

    >>> LogTicks().tick_values(2.3, 9.0).tolist(), LogTicks().tick_values(0.3, 5.0).tolist()
    ([3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], [0.5, 1.0, 2.0, 5.0])
    """

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (lo > 0 and math.isfinite(hi)):
            return super().tick_values(vmin, vmax)
        first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        stride = max(1, math.ceil((last - first + 1) / 8))  # (at most about eight powers of ten)
        powers = [10.0 ** k for k in range(first, last + 1) if k % stride == 0]
        tol = 1e-9
        for mantissas in (frozenset(), *MINOR_LABELS):
            locs = sorted({m * p for p in powers for m in (1, *mantissas)})
            shown = [v for v in locs if lo * (1 - tol) <= v <= hi * (1 + tol)]
            # (three powers of ten or more read alone: mantissas between them crowd the axis)
            if len(shown) >= (3 if not mantissas else MIN_TICKS):
                return np.asarray(shown)
        return np.asarray([v for v in MaxNLocator(nbins=4).tick_values(lo, hi) if lo <= v <= hi])


class LogLabels(PowerLabels):
    """A log panel's tick labels: every tick :class:`LogTicks` places, written as every log axis'
    (:class:`PowerLabels`): plain numbers (0.5, 1, 2) where all of them lie within
    :data:`PLAIN_TICKS`, else powers of ten (``5×10⁻⁴``) for all of them.

    >>> f = LogLabels()
    >>> f.set_locs([0.5, 1.0, 2.0]); [f(v) for v in (0.5, 1.0, 2.0)]
    ['0.5', '1', '2']
    >>> f.set_locs([5e-4, 1e-3, 2e-3]); [f(v) for v in (5e-4, 1e-3)]
    ['5×10⁻⁴', '10⁻³']
    """

    def __init__(self) -> None:
        super().__init__(labelOnlyBase=False, every=True)


def log_axis(ax: Axes) -> None:
    """Make ``ax``' y axis log, with :class:`LogTicks` and :class:`LogLabels` (its minor ticks
    unlabelled): a run's metric panels and the panels comparing runs read alike."""
    ax.set_yscale("log")
    ax.tick_params(which="both", labelsize=TICK_SIZE)
    ax.yaxis.set_major_locator(LogTicks())
    ax.yaxis.set_major_formatter(LogLabels())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _whole_mantissa(x: float) -> bool:
    """Whether ``x`` (> 0) is a whole number times a power of ten (2×10⁻³, not 2.31×10⁻³)."""
    mantissa = x / 10.0 ** math.floor(math.log10(x))
    return abs(mantissa - round(mantissa)) <= 1e-9 * mantissa


def _is_power(x: float) -> bool:
    """Whether ``x`` (> 0) is a power of ten, as a log axis' major ticks are."""
    power = 10.0 ** round(math.log10(x))
    return abs(x - power) <= power * 1e-14  # (ticks 10⁻¹² apart beside 10⁻³ are no powers of ten)


def _decimals(step: float) -> int:
    """Decimals that tell numbers ``step`` apart: 0.01 is 2 (a hair under too), 0.025 is 3 (9.725,
    not 9.72 and 9.73; the ticks' own rounding is a thousandth of a narrow spacing)."""
    first = max(0, -math.floor(math.log10(step) + 1e-9))
    return next((d for d in range(first, first + 4) if abs(round(step, d) - step) <= step * 1e-3), first + 3)


def spaced_power_label(x: float, spacing: float) -> str:
    """``x`` (> 0) as mantissa × power of ten, with as many decimals as tell it from a tick
    ``spacing`` away (the ticks of a log axis too narrow for two whole mantissas).

    >>> spaced_power_label(0.00974, 2e-5), spaced_power_label(0.01002, 2e-5), spaced_power_label(0.0011, 2.5e-5)
    ('9.74×10⁻³', '1.002×10⁻²', '1.100×10⁻³')
    >>> spaced_power_label(3.0000002, 1e-7)
    '3.0000002×10⁰'
    """
    power = math.floor(math.log10(x))
    for _ in range(2):  # (9.9996 to 3 decimals is 10.000: the next power's 1.000)
        mantissa, step = x / 10.0 ** power, spacing / 10.0 ** power
        text = f"{mantissa:.{_decimals(step)}f}"
        if float(text) < 10:
            break
        power += 1
    return f"{text}×10{str(power).translate(_SUPERSCRIPT)}"


def spaced_plain_label(x: float, spacing: float) -> str:
    """``x`` as a plain number with as many decimals as tell it from a tick ``spacing`` away (the
    evenly spaced ticks of a narrow log axis whose labels are plain: :data:`PLAIN_TICKS`).

    >>> spaced_plain_label(0.26, 0.02), spaced_plain_label(2.3, 0.025), spaced_plain_label(3.0000002, 1e-7)
    ('0.26', '2.300', '3.0000002')
    """
    return f"{x:.{_decimals(spacing)}f}"


def _plain_text_powers(axis: Axis) -> None:
    """Give a log axis (a log scale, a colour bar of a log norm) :class:`PowerLabels`, leaving
    its formatters default for a later ``set_xscale``, as :func:`_ticks_in_view` does."""
    defaults = axis.isDefault_majfmt, axis.isDefault_minfmt
    for minor, fmt in ((False, axis.get_major_formatter()), (True, axis.get_minor_formatter())):
        if type(fmt) is LogFormatterSciNotation:
            plain = PowerLabels(base=fmt._base, labelOnlyBase=fmt.labelOnlyBase,
                                minor_thresholds=fmt.minor_thresholds, linthresh=fmt._linthresh)
            (axis.set_minor_formatter if minor else axis.set_major_formatter)(plain)
    axis.isDefault_majfmt, axis.isDefault_minfmt = defaults


def _place(fig: Figure, gs: Any, grid: list[Axes], bars: list[Axes]) -> np.ndarray:
    """One layout pass; returns the margins it used (to tell whether another pass would move anything)."""
    nrows, ncols = gs.get_geometry()
    wr = np.asarray(gs.get_width_ratios() or [1.0] * ncols, dtype=np.float64)
    hr = np.asarray(gs.get_height_ratios() or [1.0] * nrows, dtype=np.float64)
    left, right = np.zeros(ncols), np.zeros(ncols)
    top, bottom = np.zeros(nrows), np.zeros(nrows)
    yticks, xticks, legends = np.zeros(ncols), np.zeros(nrows), np.zeros(nrows)
    # A colour bar's offset text (1e-5) stands above it, beside the first row's titles: they go above it.
    bar_offset = max((text_extent(_tick_labels(b.yaxis)[1], TICK_SIZE)[1] for b in bars), default=0.0)
    panels, lifts = {}, {}
    for ax in grid:
        if not ax.get_visible():
            continue
        ss = ax.get_subplotspec()
        p = panels[ax] = _Panel(ax)
        lifts[ax] = max(p.offset, bar_offset if ss.rowspan.start == 0 else 0.0)
        yticks[ss.colspan.start] = max(yticks[ss.colspan.start], p.yticks)
        xticks[ss.rowspan.stop - 1] = max(xticks[ss.rowspan.stop - 1], p.xticks)
        legends[ss.rowspan.stop - 1] = max(legends[ss.rowspan.stop - 1], p.legend_height)
        left[ss.colspan.start] = max(left[ss.colspan.start], p.left)
        right[ss.colspan.stop - 1] = max(right[ss.colspan.stop - 1], p.right)
        top[ss.rowspan.start] = max(top[ss.rowspan.start], p.top(lifts[ax]))
        bottom[ss.rowspan.stop - 1] = max(bottom[ss.rowspan.stop - 1], p.bottom)
    # A column's y labels stand aligned beyond its widest tick labels (and a row's x labels below
    # its deepest), not beyond their own panel's: a label beside narrower tick labels than its
    # neighbour's needs the widest band plus its own, or it is cut at the figure's edge.
    for ax, p in panels.items():
        ss = ax.get_subplotspec()
        c, r = ss.colspan.start, ss.rowspan.stop - 1
        left[c] = max(left[c], yticks[c] + p.ylabel)
        bottom[r] = max(bottom[r], xticks[r] + p.xlabel)
    # A row's legends (panel_legend) start level, under its lowest x labels.
    labels = bottom.copy()
    bottom = np.where(legends > 0, labels + GAP + legends, bottom)
    W, H = fig.get_figwidth() * 72.0, fig.get_figheight() * 72.0
    head = fig.get_suptitle()
    size = fig._suptitle.get_fontsize() if head else TITLE_SIZE  # (the recipe's is larger)
    above = 0.02 * H + text_extent(head, size)[1] + EDGE if head else EDGE
    bar = max((COLORBAR_PAD + COLORBAR_WIDTH + _tick_band(b.yaxis, _tick_labels(b.yaxis)[0])
               + _label_band(b.yaxis) for b in bars), default=0.0)
    gaps_x = right[:-1] + left[1:] + GAP
    gaps_y = bottom[:-1] + top[1:] + GAP
    # A legend of the figure (figure_legend) stands at its foot, below the panels' x labels.
    below = EDGE
    for leg in fig.legends:
        leg.set_bbox_to_anchor((0.5, EDGE / H), transform=fig.transFigure)
        below = max(below, EDGE + _legend_height(fig, leg) + GAP)
    width = max(W - EDGE - left[0] - gaps_x.sum() - right[-1] - bar - EDGE, 0.2 * W)
    height = max(H - above - top[0] - gaps_y.sum() - bottom[-1] - below, 0.2 * H)
    widths, heights = width * wr / wr.sum(), height * hr / hr.sum()
    x0 = EDGE + left[0] + np.concatenate([[0.0], np.cumsum(widths[:-1] + gaps_x)])
    y1 = H - above - top[0] - np.concatenate([[0.0], np.cumsum(heights[:-1] + gaps_y)])  # tops
    for ax in grid:
        ss = ax.get_subplotspec()
        r0, r1, c0, c1 = ss.rowspan.start, ss.rowspan.stop - 1, ss.colspan.start, ss.colspan.stop - 1
        x, w = x0[c0], x0[c1] + widths[c1] - x0[c0]
        y, h = y1[r1] - heights[r1], y1[r0] - y1[r1] + heights[r1]
        ax.set_position((x / W, y / H, w / W, h / H))
        if ax not in panels:
            continue
        # Titles and axis labels placed here (a column's y labels and a row's x labels aligned)
        # are not placed again at every draw, which would measure the tick labels once more.
        if ax.title.get_text():
            ax.set_title(ax.title.get_text(), fontsize=ax.title.get_fontsize(), y=1.0 + lifts[ax] / h)
        ax.xaxis.set_label_coords(0.5, -(xticks[r1] + ax.xaxis.labelpad) / h)
        ax.yaxis.set_label_coords(-(yticks[c0] + ax.yaxis.labelpad) / w, 0.5)
        if panels[ax].legend is not None:  # (a row's legends start level, under its lowest x label)
            panels[ax].legend.set_bbox_to_anchor(((x + w / 2) / W, (y - labels[r1] - GAP) / H),
                                                 transform=fig.transFigure)
    for b in bars:
        x = x0[-1] + widths[-1] + right[-1] + COLORBAR_PAD
        b.set_position((x / W, (y1[0] - heights[0]) / H, COLORBAR_WIDTH / W, heights[0] / H))
    return np.concatenate([left, right, top, bottom, [bar]])


def save(fig: Figure, path: str | os.PathLike[str] | None) -> None:
    """Lay ``fig`` out (:func:`layout`) and save it as an image at ``path`` (format from the
    suffix; PNG when none). A ``path`` that names a directory is a ValueError naming it (a
    trailing slash included: ``Path`` drops it, and the figure became a file of that name).

    >>> import tempfile
    >>> save(empty_figure("nothing", "a title", None), tempfile.gettempdir() + "/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: path: expected the figure's file name (e.g. '.../figure.png'), got the directory '.../'
    """
    layout(fig)
    if path is None:
        return
    p = Path(path)
    if os.fspath(path).endswith(("/", os.sep)) or p.is_dir():
        raise ValueError(f"path: expected the figure's file name (e.g. {str(p / 'figure.png')!r}), "
                         f"got the directory {os.fspath(path)!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    fmt = p.suffix[1:].lower() or "png"
    fig.savefig(p, dpi=DPI, format=fmt, **({"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}}
                                          if fmt == "png" else {}))


def png(fig: Figure) -> bytes:
    """``fig`` drawn once as PNG bytes at :data:`DPI`, as laid out by :func:`save` (which every
    plot of this package calls before it returns its figure).

    >>> png(empty_figure("nothing", "a title", None))[:4]
    b'\\x89PNG'
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()
