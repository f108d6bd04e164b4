"""Gradient through time: how far back a learning signal reaches in a recurrent layer.

Top: heatmap of mean ``|dLoss/dh_t|`` with x = timestep and y = hidden channel, on a log colour
scale (a vanishing gradient spans decades). Bottom: the mean over channels per timestep on a
LOG y axis, with the gradient reach marked: the first step, going back from the last processed
one, where the gradient falls below ``rel`` × its last value
(:func:`rnnlab.introspect.stats.gradient_reach`); a curve whose last processed value is 0 has no
reach (nothing falls below a fraction of 0): the legend says it cannot be judged, as the report
does, and where the gradient is 0. Given the curve before training too
(``before=``), the bottom panel draws it dashed and grey beside the solid one, with its own reach
marker: how far back the gradient reached then and now. A forward curve measured on sequences of
different lengths counts back from each sequence's own end
(:class:`rnnlab.introspect.GradThroughTime`): its x is the steps before the sequence's end, the
ticks counting back from 0 at the right, and the legend says over how many sequences it averages.

Example:
    >>> import numpy as np
    >>> g = 0.5 ** np.arange(11.0, -1.0, -1.0)[:, None] * np.ones((12, 3))  # [T, H]
    >>> fig = plot_grad_through_time(g)
    >>> fig.axes[1].get_yscale()
    'log'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator

from rnnlab.introspect.stats import decay_rate, gradient_reach
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.plots import style

#: The x axis' label of a curve in time order, and of one counted back from each sequence's end.
TIME_AXIS = "timestep t"
STEPS_BACK_AXIS = "steps before the sequence's end"


def _one_module(gtt: GradThroughTime | Mapping[str, GradThroughTime] | np.ndarray) -> GradThroughTime | np.ndarray:
    """``gtt``'s one GradThroughTime when it is a dict of one (else a ValueError naming the keys)."""
    if isinstance(gtt, Mapping):
        if len(gtt) != 1:
            keys = ", ".join(repr(k) for k in gtt)
            raise ValueError(
                f"gtt: expected one recurrent module's GradThroughTime, got a dict of {len(gtt)} ({keys or 'none'})"
                + (f"; pick one, e.g. gtt[{next(iter(gtt))!r}]" if gtt else ""))
        gtt = next(iter(gtt.values()))
        if not isinstance(gtt, GradThroughTime):
            raise TypeError(f"gtt: expected a dict of GradThroughTime, got a dict of {type(gtt).__name__}")
    return gtt


def select_layer(
    gtt: GradThroughTime | Mapping[str, GradThroughTime] | np.ndarray, layer: int, direction: str
) -> tuple[np.ndarray, str, str]:
    """The ``[T, H]`` array of one layer and direction of ``gtt``, its label, and its direction
    (the picture here and the recipe's comparison read curves through it). ``gtt`` may be what
    :func:`rnnlab.introspect.grad_through_time` returns, ``{module name: GradThroughTime}``: with
    one recurrent module, that one; with several, a ValueError naming the keys to pick from.

    >>> select_layer(np.ones((3, 2)), -1, "forward")[0].shape
    (3, 2)
    """
    gtt = _one_module(gtt)
    if isinstance(gtt, GradThroughTime):
        key = gtt._key(layer, direction)
        arr = style.as_array(gtt.layers[key], "gtt.layers")
        name = gtt.module or "model"
        return arr.reshape(arr.shape[0], -1), f"{name} layer {key[0]} {key[1]}", key[1]
    arr = style.as_array(gtt, "gtt")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"gtt: expected a [T, H] array or a GradThroughTime, got shape {arr.shape}")
    if direction not in ("forward", "reverse"):
        raise ValueError(f"direction: expected 'forward' or 'reverse', got {direction!r}")
    return arr, "gradient through time", direction


#: The heatmap's lowest colour, as a fraction of its largest value: a vanishing gradient spans
#: dozens of decades, and a colour scale over all of them gives the top decades no contrast.
COLOUR_FLOOR = 1e-12

#: The curve before training: grey and dashed, behind the one after training.
BEFORE_COLOR = "#8a8a8a"

#: Where training cuts the gradient (truncated BPTT's window edges): dotted lines.
CUT_COLOR = "#6a3d9a"

#: The heatmap's cells whose gradient is exactly 0: a colour of none of the scale's (no place on a
#: log scale, and not the lowest value of a linear one either: no gradient reached them).
ZERO_COLOR = "#c8c8c8"
ZERO_NAME = "grey"

#: Where the mean panel's float format stops (its smallest normal number): dash-dot-dotted, a style
#: none of the panel's other lines has.
UNDERFLOW_COLOR = "#444444"
UNDERFLOW_STYLE = (0, (6, 2, 1, 2, 1, 2))


def number_format(*arrs: np.ndarray) -> tuple[str, float]:
    """The float format ``arrs`` (curves of one model) were measured in, and its smallest normal
    number: float32 where every finite value of any of them is a float32 number (what
    :func:`rnnlab.introspect.grad_through_time` stores of a float32 model, as float64), else float64.
    One format for all: a curve stored as a mean over channels (the one before training) is no
    float32 number, though its float32 measurements lost their digits the same. Under that number a
    value is subnormal: its digits lost to underflow (float32 goes on to 1.4e-45, then 0), no measurement.

    >>> number_format(np.array([0.5, 1.401298464324817e-45]))[0], number_format(np.array([0.1, 1e-46]))[0]
    ('float32', 'float64')
    >>> number_format(np.array([0.5, 1.401298464324817e-45]), np.array([0.1, 1e-46]))[0]
    'float32'
    """
    for arr in arrs:
        finite = arr[np.isfinite(arr)]
        if np.array_equal(finite.astype(np.float32).astype(arr.dtype), finite):
            return "float32", float(np.finfo(np.float32).tiny)
    return "float64", float(np.finfo(np.float64).tiny)


def _zeros_said(arr: np.ndarray) -> str:
    """The heatmap's note on its cells of exactly 0, drawn in :data:`ZERO_COLOR`.

    >>> print(_zeros_said(np.array([[0.0, 0.5], [0.0, 1.0]])))
    grey: exactly 0 at 2 of 4 cells (no gradient reached them: the unit off for the whole batch, e.g. a ReLU at 0, or a value under float32's range)
    """
    zeros = int((arr == 0).sum())
    return (f"{ZERO_NAME}: exactly 0 at {zeros} of {arr.size} cells (no gradient reached them: the unit off for the "
            f"whole batch, e.g. a ReLU at 0, or a value under {number_format(arr)[0]}'s range)")


def _underflowed(per_t: np.ndarray, tiny: float) -> np.ndarray:
    """The steps whose mean ``per_t`` is under ``tiny``, the smallest normal number of the format
    the curves were measured in (:func:`number_format`): underflow, not a measured value."""
    return np.isfinite(per_t) & (per_t > 0) & (per_t < tiny)


def per_timestep(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[T]`` mean over channels of ``|arr|`` ``[T, H]`` (NaN where no value is finite) and the
    mask of the steps a log axis can draw.

    >>> per_timestep(np.array([[1.0, 3.0], [np.nan, np.nan]]))[0].tolist()[0]
    2.0
    """
    arr = arr.reshape(arr.shape[0], -1)
    with np.errstate(all="ignore"):
        finite_arr = np.where(np.isfinite(arr), arr, np.nan)
        per_t = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in finite_arr])
    return per_t, np.isfinite(per_t) & (per_t > 0)


def _below_floor(arr: np.ndarray, floor: float) -> str:
    """The heatmap's note on the values under its colour floor (drawn in its lowest colour): at how
    many steps every channel is, and at how many more some are.

    >>> _below_floor(np.array([[1e-20, 1e-20], [1e-20, 1.0], [1.0, 1.0]]), 1e-12)
    'below the colour floor (1e-12 × max), in its lowest colour: every channel at 1 of 3 steps, some at 1 more (their values: the panel below)'
    """
    low = np.isfinite(arr) & (arr > 0) & (arr < floor)
    counted = np.isfinite(arr) & (arr > 0)
    every = int((low.any(axis=1) & (low == counted).all(axis=1)).sum())
    some = int(low.any(axis=1).sum()) - every
    return (f"below the colour floor ({COLOUR_FLOOR:g} × max), in its lowest colour: every channel at {every} of "
            f"{steps(arr.shape[0])}" + (f", some at {some} more" if some else "") + " (their values: the panel below)")


def _processing_order(per_t: np.ndarray, direction: str) -> np.ndarray:
    """The curve from the first processed step to the last, non-finite values as 0."""
    order = per_t[::-1] if direction == "reverse" else per_t
    return np.nan_to_num(order, nan=0.0, posinf=0.0, neginf=0.0)


def _t_of(reach: int, T: int, direction: str) -> int:
    """The timestep ``reach`` steps back from the last processed one."""
    return reach if direction == "reverse" else T - 1 - reach


def steps(n: int, what: str = "step") -> str:
    """``n`` steps, in the singular for one.

    >>> steps(1), steps(188, "recurrent step")
    ('1 step', '188 recurrent steps')
    """
    return f"{n} {what}" + ("" if n == 1 else "s")


def _spans(ts: np.ndarray, back: bool = False) -> str:
    """``t = 0–23`` for the sorted timesteps ``ts``: its runs of consecutive steps, or a count
    when there are more than three runs; ``back``: ``ts`` are steps back (``0–23 steps back``)."""
    runs = np.split(ts, np.flatnonzero(np.diff(ts) > 1) + 1)
    if len(runs) > 3:
        return steps(len(ts))
    said = ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
    return f"{said} steps back" if back else f"t = {said}"


def unjudged_reach(per_t: np.ndarray, direction: str, back: bool = False) -> list[str] | None:
    """What to say instead of a reach when the curve ``per_t`` ``[T]`` (forward time order) has
    a last processed value of 0 or non-finite: every step is "never below" a fraction of 0, so
    :func:`rnnlab.introspect.stats.gradient_reach`'s ``T`` there is no reach, and the health
    check's rule (:func:`rnnlab.doctor.checks.judge_through_time`) cannot judge the curve either.
    None when the last value is finite and non-zero. ``back``: a forward curve counted back from
    each sequence's end (:func:`steps_back_axis`), whose steps are named so.

    >>> unjudged_reach(np.array([0.0, 0.0, 0.0, 0.3]), "reverse")
    ['cannot be judged: |grad| is 0 at the last step processed (t = 0)', '|grad| is 0 at t = 0–2, non-zero only at t = 3']
    >>> unjudged_reach(np.array([0.3, 0.2, 0.0]), "forward", back=True)[1]
    '|grad| is 0 at 0 steps back, non-zero only at 1–2 steps back'
    """
    T = len(per_t)
    last_t = 0 if direction == "reverse" else T - 1
    last = per_t[last_t]
    if np.isfinite(last) and last != 0:
        return None
    said = ["cannot be judged: |grad| is " + ("0" if np.isfinite(last) else "non-finite")
            + (" at each sequence's last step" if back else f" at the last step processed (t = {last_t})")]
    ok = np.isfinite(per_t) & (per_t != 0)
    if ok.any():
        zero = "0" if np.isfinite(per_t).all() else "0 or non-finite"
        bad, good = np.flatnonzero(~ok), np.flatnonzero(ok)
        if back:  # (positions to steps back: the last position is 0 steps back)
            bad, good = np.sort(T - 1 - bad), np.sort(T - 1 - good)
        said.append(f"|grad| is {zero} at {_spans(bad, back)}, non-zero only at {_spans(good, back)}")
    return said


def _mark_reach(ax: Any, per_t: np.ndarray, direction: str, rel: float, what: str, color: str,
                linestyle: str, back: bool = False) -> int:
    """A vertical line where the curve ``per_t`` (forward time order)'s reach ends, labelled
    ``what``; returns the reach (``T`` when there is none to mark). ``back``: the curve counts
    back from each sequence's end (:func:`steps_back_axis`)."""
    T = len(per_t)
    unjudged = unjudged_reach(per_t, direction, back)
    if unjudged is not None:
        # (a last value of 0 is never undercut: "all T steps" would claim the opposite of a
        # gradient that reaches no step before its last non-zero one)
        ax.plot([], [], " ", label=f"{what}: " + "\n".join(unjudged))
        return T
    reach = gradient_reach(_processing_order(per_t, direction), rel)
    if reach < T:
        ax.axvline(_t_of(reach, T, direction), color=color, linestyle=linestyle, linewidth=1.2,
                   label=f"{what}: {steps(reach)} back")
    else:
        ax.plot([], [], " ", label=f"{what}: all {steps(T)} (never below {rel:g}×)" if T > 1 else
                f"{what}: 1 step only, none before it to reach")
    return reach


def _draw_members(ax: Any, others: list[tuple[np.ndarray, np.ndarray | None]], rest: str, what: str,
                  tiny: float) -> None:
    """The curves of an ensemble's other members, thin, under member 0's: before training dashed
    grey, after training (labelled ``what``) in member 0's colour; one legend entry each; neither
    under ``tiny`` (:func:`_underflowed`)."""
    for k, (_, g0) in enumerate(others):
        if g0 is not None:
            then_t, ok = per_timestep(g0)
            if ok.any():
                ax.plot(np.arange(len(then_t)), np.where(ok & ~_underflowed(then_t, tiny), then_t, np.nan),
                        color=BEFORE_COLOR, linestyle="--",
                        linewidth=0.8, alpha=0.7, label=f"before training, {rest} (thin)" if k == 0 else None)
    for k, (g, _) in enumerate(others):
        per_t, ok = per_timestep(g)
        if ok.any():
            ax.plot(np.arange(len(per_t)), np.where(ok & ~_underflowed(per_t, tiny), per_t, np.nan),
                    color=style.series_color(0), linewidth=0.8,
                    alpha=0.45, label=f"{what}, {rest} (thin)" if k == 0 else None)


def _members_reach(curves: list[np.ndarray], direction: str, rel: float, after: str) -> str:
    """One legend line with each member's reach (``curves``: their ``[T, H]`` arrays, member 0
    first), as :func:`_mark_reach` would mark it."""
    said = []
    for g in curves:
        per_t, _ = per_timestep(g)
        if unjudged_reach(per_t, direction) is not None:
            said.append("not judged")
            continue
        n = gradient_reach(_processing_order(per_t, direction), rel)
        said.append("all" if n >= len(per_t) else str(n))
    T = max(len(g) for g in curves)
    if len(set(said)) == 1:
        every = f"all {steps(T)}" if said[0] == "all" else \
            said[0] if said[0] == "not judged" else f"{steps(int(said[0]))} back"
        return f"reach{after}, each of the {len(curves)} members: {every}"
    return f"reach{after}, members 0–{len(curves) - 1}: " + ", ".join(said) + f" steps back (of {T})"


class _StepsBack(Locator):
    """Integer ticks at round numbers of steps back from the position ``last`` (x = ``last - k``)."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.inner = MaxNLocator(nbins="auto", integer=True, min_n_ticks=1)

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self) -> Any:
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.last - self.inner.tick_values(self.last - vmax, self.last - vmin)[::-1]


def steps_back_axis(gtt: GradThroughTime | Mapping[str, GradThroughTime] | np.ndarray, direction: str) -> bool:
    """Whether the picture's x counts steps back from each sequence's end rather than timesteps: a
    curve of the forward direction measured on sequences of different lengths
    (:attr:`rnnlab.introspect.GradThroughTime.held`). The reverse direction's rows are its
    timesteps as well: every sequence's reverse pass ends at ``t = 0``.

    >>> from rnnlab.introspect import GradThroughTime
    >>> g = GradThroughTime("rnn", "gru", 1, ("forward",), {(0, "forward"): np.ones((3, 2))}, held=np.array([4, 4, 3, 1]))
    >>> steps_back_axis(g, "forward"), steps_back_axis(np.ones((3, 2)), "forward")
    (True, False)
    """
    gtt = _one_module(gtt)
    return isinstance(gtt, GradThroughTime) and gtt.held is not None and direction == "forward"


def plot_grad_through_time(
    gtt: GradThroughTime | Mapping[str, GradThroughTime] | np.ndarray,
    *,
    layer: int = -1,
    direction: str = "forward",
    rel: float = 1e-3,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    before: GradThroughTime | Mapping[str, GradThroughTime] | np.ndarray | None = None,
    xlabel: str | None = None,
    before_zero_why: str | None = None,
    members: Sequence[tuple[GradThroughTime | np.ndarray, GradThroughTime | np.ndarray | None]] = (),
    cuts: Sequence[float] = (),
    channel_mean: bool = False,
) -> Figure:
    """Heatmap of ``|dLoss/dh_t|`` (timesteps × channels) above its per-timestep mean on a log axis.

    ``gtt`` is a :class:`rnnlab.introspect.GradThroughTime` (``layer``, default the top one, and
    ``direction`` pick the part), what :func:`rnnlab.introspect.grad_through_time` returns for a
    model of one recurrent module (``{name: GradThroughTime}``; of several, pick one by its name),
    or an array ``[T, H]`` in forward time order. For the reverse
    direction the last processed step is ``t = 0``, so the reach is counted from there.
    The heatmap's image array is ``[H, T]`` (the input transposed). Saves when ``path`` is given.
    ``before``: the same layer's curve before training (a GradThroughTime, the same ``layer`` and
    ``direction`` picked, or an array ``[T]`` or ``[T, H]``), drawn dashed and grey in the bottom
    panel with its own reach marker; ``gtt`` is then the curve after training, and the heatmap
    stays its own. ``xlabel``: the x axis' label (default ``"timestep t"``), e.g. what a step is
    when the recurrent layer runs at fewer steps than the input (a front-end that pools:
    ``"recurrent step (input pooled ×16: 3000 → 188)"``). A forward curve measured on sequences of
    different lengths counts back from each sequence's own end (:func:`steps_back_axis`): its x
    axis says ``"steps before the sequence's end"`` (a ``xlabel`` of another step is said counted
    back) with ticks counting back from 0 at the last step, and the legend says over how many
    sequences the steps furthest back average (:meth:`rnnlab.introspect.GradThroughTime.held_said`). A curve before training that is 0 (or non-finite) at every step has
    nothing to draw on a log axis: no dashed line nor legend entry is promised for it, the legend
    says so instead, with ``before_zero_why`` (e.g. ``"the output layer starts at zero"``) after
    it. ``members``: the same layer of an ensemble's other members, ``(after, before)`` each
    (``before`` None where not recorded): their mean-over-channels curves drawn thin beside
    ``gtt``'s, the reach of each member listed in the legend, so that one figure answers whether
    the gradient reaches back in every member (the heatmap and the marked reach stay ``gtt``'s).
    ``cuts``: x positions where training cuts the gradient (truncated BPTT's window edges, e.g.
    ``[1999.5]`` for windows of 2000 steps), dotted lines in both panels: a reach past them is
    one no training step follows. ``channel_mean``: ``gtt`` holds the mean over channels already
    (``[T, 1]``, as the health check keeps its curve before training): the heatmap's one row is
    labelled so, not as a hidden channel.

    >>> import numpy as np
    >>> fig = plot_grad_through_time(np.ones((5, 2)))
    >>> fig.axes[0].images[0].get_array().shape
    (2, 5)
    >>> fig = plot_grad_through_time(np.ones((5, 2)), before=0.5 ** np.arange(4.0, -1.0, -1.0))
    >>> [line.get_linestyle() for line in fig.axes[1].lines[:2]]
    ['--', '-']
    >>> fig = plot_grad_through_time(np.ones((5, 2)), before=np.zeros(5))
    >>> [t.get_text() for t in fig.axes[1].get_legend().get_texts()][0]
    'before training: |grad| = 0 at every step'
    >>> fig = plot_grad_through_time(np.ones((8, 2)), cuts=[3.5])
    >>> [line.get_xdata()[0] for line in fig.axes[1].lines if line.get_linestyle() == ':' and line.get_label().startswith('training')]
    [3.5]
    """
    if not rel > 0:
        raise ValueError(f"rel: expected a positive factor, got {rel}")
    arr, label, direction = select_layer(gtt, layer, direction)
    arr = np.abs(arr)
    T = arr.shape[0]
    back = steps_back_axis(gtt, direction)
    if back:  # (a label in timesteps would name the wrong step: each sequence ends at its own)
        xlabel = STEPS_BACK_AXIS if xlabel in (None, TIME_AXIS) else f"{xlabel}, counted back from the sequence's end"
    one = _one_module(gtt)
    held = one.held_said() if isinstance(one, GradThroughTime) else None
    then = None if before is None else np.abs(select_layer(before, layer, direction)[0])
    others = [(np.abs(select_layer(g, layer, direction)[0]),
               None if g0 is None else np.abs(select_layer(g0, layer, direction)[0])) for g, g0 in members]
    # (drawn on gtt's x axis, a curve of another length would put its steps at others' places)
    for what, curve in [("before", then), *((f"members[{k}][{j}]", c) for k, pair in enumerate(others)
                                            for j, c in enumerate(pair) if c is not None)]:
        if curve is not None and curve.shape[0] != T:
            raise ValueError(f"{what}: expected a curve of the {T} steps of gtt's, got {curve.shape[0]} steps")
    befores = [b for b in [then, *(b for _, b in others)] if b is not None]
    # (a curve before training of no drawable value, such as the gradient of a head that starts at
    # zero: it gets no dashed line, so the picture must not promise one)
    nothing_before = bool(befores) and not any(per_timestep(b)[1].any() for b in befores)
    if nothing_before:
        then, others = None, [(g, None) for g, _ in others]
    fig, axes = style.new_figure(2, 1, panel_size=(8.5, 2.9), height_ratios=(1.2, 1.0), sharex=True)
    ax_map, ax_line = axes[0, 0], axes[1, 0]
    fig.suptitle(title or f"{label}: |dLoss/dh_t| per " + ("step before each sequence's end" if back else "timestep"),
                 fontsize=style.TITLE_SIZE)
    ax_map.set_title(("mean over the batch and the channels of |dLoss/dh_t| (one row)" if channel_mean else
                      "mean over the batch of |dLoss/dh_t|, per channel")
                     + (f" (member 0 of {len(others) + 1})" if others else ""), fontsize=style.LABEL_SIZE)
    dashed = then is not None or any(b is not None for _, b in others)
    ax_line.set_title("mean over channels (log scale)" + (f", each of the {len(others) + 1} members" if others else "")
                      + (": after training (solid), before training (dashed)" if dashed else ""),
                      fontsize=style.LABEL_SIZE)
    ax_line.set_xlabel(xlabel or TIME_AXIS)
    ax_map.set_ylabel("mean over channels" if channel_mean else "hidden channel")
    ax_line.set_ylabel("mean |dLoss/dh_t|")
    ax_line.set_yscale("log")
    if arr.size == 0:
        style.no_data(ax_map, "no timesteps recorded")
        style.no_data(ax_line, "no timesteps recorded")
        style.save(fig, path)
        return fig

    # Heatmap: a log colour scale when the positive values span more than a decade.
    ax_map.grid(False)
    pos = arr[np.isfinite(arr) & (arr > 0)]
    cmap = colormaps[style.CMAP_MAGNITUDE].copy()
    floor = None
    if pos.size and pos.max() / pos.min() > 10:
        floor = pos.max() * COLOUR_FLOOR if pos.min() < pos.max() * COLOUR_FLOOR else None
        norm: Normalize = LogNorm(vmin=pos.max() * COLOUR_FLOOR if floor else pos.min(), vmax=pos.max())
        shown = np.where(arr > 0, arr, np.nan)  # zeros have no place on a log scale
    else:
        finite = arr[np.isfinite(arr)]
        hi = float(finite.max()) if finite.size else 1.0
        norm = Normalize(vmin=0.0, vmax=hi if hi > 0 else 1.0)
        shown = arr
    if floor is not None:  # (values under the floor take its colour: the bar's triangle says they go lower)
        cmap.colorbar_extend = "min"
    image = ax_map.imshow(
        shown.T, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest",
        extent=(-0.5, T - 0.5, arr.shape[1] - 0.5, -0.5),
    )
    if (arr == 0).any():  # (over the scale's image: a colour of their own, no value of the scale)
        ax_map.imshow(np.where(arr == 0, 0.0, np.nan).T, aspect="auto", cmap=ListedColormap([ZERO_COLOR]),
                      interpolation="nearest", extent=(-0.5, T - 0.5, arr.shape[1] - 0.5, -0.5), label="exactly 0")
    # The colour bar sits in the margin right of the whole grid: both x axes keep the same width,
    # so timesteps align.
    style.colorbar(fig, image, "|dLoss/dh_t|")
    # (in the title, not over the cells: a note's box would hide some of them)
    said = ([_below_floor(arr, floor)] if floor is not None else []) + ([_zeros_said(arr)] if (arr == 0).any() else [])
    if said:
        ax_map.set_title("\n".join([ax_map.get_title(), *said]), fontsize=style.LABEL_SIZE)
    if channel_mean:  # (its one row is no channel: no channel number on it)
        ax_map.set_yticks([])
    else:
        style.integer_ticks(ax_map.yaxis)
    warn = style.nonfinite_note(arr)
    if warn:
        style.note(ax_map, warn, warn=True)

    # Line: mean over channels per timestep, log axis; non-positive values cannot be drawn.
    per_t, drawable = per_timestep(arr)
    then_t, then_drawable = per_timestep(then) if then is not None else (None, None)
    # (a mean under the format's smallest normal number is underflow, no measurement: not drawn, and
    # left out of the decay's fit; one floor for every curve, all the same model's, in one format)
    fmt, tiny = number_format(arr, *([then] if then is not None else []),
                              *(a for pair in others for a in pair if a is not None))
    under = _underflowed(per_t, tiny)
    then_under = _underflowed(then_t, tiny) if then is not None else None
    if nothing_before:
        zero = "0" if all(np.isfinite(b).all() for b in befores) else "0 or non-finite"
        ax_line.plot([], [], " ", label=f"before training: |grad| = {zero} at every step"
                     + (f" ({before_zero_why})" if before_zero_why else ""))
    if not drawable.any() and (then_drawable is None or not then_drawable.any()):
        style.no_data(ax_line, "all values zero or non-finite: nothing to draw on a log axis")
        ax_line.set_yscale("log")
    else:
        if then_t is not None:
            # (first: the curve after training is drawn over it where they meet)
            # (a dashed line draws nothing through a point without a drawable neighbour, such as the one
            # step of a curve of one step: those points get a marker)
            alone = np.flatnonzero(then_drawable & ~np.r_[False, then_drawable[:-1]] & ~np.r_[then_drawable[1:], False])
            ax_line.plot(np.arange(len(then_t)), np.where(then_drawable & ~then_under, then_t, np.nan),
                         color=BEFORE_COLOR,
                         linestyle="--", linewidth=1.3, marker="o" if alone.size else None, markevery=alone.tolist(),
                         markersize=4, label="before training (untrained model)"
                         + (", member 0" if others else ""))
        rest = f"members 1–{len(others)}" if len(others) > 1 else "member 1"
        _draw_members(ax_line, others, rest, "after training" if dashed else "mean |grad|", tiny)
        ax_line.plot(np.arange(T), np.where(drawable & ~under, per_t, np.nan), color=style.series_color(0),
                     marker="o", markersize=2.5, linewidth=1.4,
                     label=("mean |grad|" if not dashed else "after training") + (", member 0" if others else ""))
        # Reach and decay run in processing order: the reverse direction ends at t = 0.
        clean = _processing_order(per_t, direction)
        last_t = 0 if direction == "reverse" else T - 1
        after = "" if not dashed else " after training"
        of = " of member 0" if others else ""
        if drawable.any():
            if clean[-1] > 0:  # (a fraction of 0 is no line on a log axis)
                ax_line.axhline(rel * clean[-1], color="#777777", linestyle=":", linewidth=1.0,
                                label=f"{rel:g} × last value{after}{of}")
            reach = _mark_reach(ax_line, per_t, direction, rel, f"reach{after}{of}", style.WARN_COLOR, "--", back)
            if reach < T:
                ax_map.axvline(_t_of(reach, T, direction), color="white", linestyle="--", linewidth=1.0)
        if then_t is not None and then_drawable.any():
            _mark_reach(ax_line, then_t, direction, rel, "reach before training" + of, BEFORE_COLOR, "-.", back)
        if others:  # (every member's reach in numbers: the thin lines carry no marker)
            ax_line.plot([], [], " ", label=_members_reach([arr, *(g for g, _ in others)], direction, rel, after))
        ax_line.axvline(last_t, color="#333333", linewidth=0.8, alpha=0.6)
        for k, x in enumerate(cuts):
            ax_line.axvline(x, color=CUT_COLOR, linestyle=":", linewidth=1.2,
                            label=f"training cuts the gradient (truncated BPTT, {len(cuts)} cut"
                                  f"{'' if len(cuts) == 1 else 's'})" if k == 0 else "_")
            ax_map.axvline(x, color="white", linestyle=":", linewidth=1.0)
        members_under = [a for pair in others for a in pair if a is not None
                         and _underflowed(per_timestep(a)[0], tiny).any()]
        if under.any() or (then_under is not None and then_under.any()) or members_under:
            which = [f"{what}{steps(int(u.sum()))}, {_spans(np.flatnonzero(u))}"
                     for what, u in (("after training: " if dashed else "", under), ("before training: ", then_under))
                     if u is not None and u.any()] + (["the other members' too"] if members_under else [])
            ax_line.axhline(tiny, color=UNDERFLOW_COLOR, linestyle=UNDERFLOW_STYLE, linewidth=1.0,
                            label=f"{fmt}'s smallest normal number ({tiny:.3g}): a mean under it is underflow, "
                                  f"not drawn\n({'; '.join(which)})")
        if drawable.any():
            decay = decay_rate(_processing_order(np.where(under, 0.0, per_t), direction))
            # (a factor above 1 is growth going back: "decay ... 1.072" reads as the opposite of what it is)
            trend = (f"decay per step back{after}{of}: — (fewer than 2 non-zero steps to fit)"
                     if not np.isfinite(decay) else f"grows ×{style.fmt(decay)} per step back{after}{of}" if decay > 1
                     else f"decay per step back{after}{of}: {style.fmt(decay)}")
            ax_line.plot([], [], " ", label=trend)
        if held is not None:
            # (one entry across the legend's width: the sentence is longer than the others)
            ax_line.plot([], [], " ", label=style.wrap_text(held[:1].upper() + held[1:], style.NOTE_SIZE,
                                                            0.7 * 72.0 * fig.get_figwidth()))
        # (under the panel: no corner of it is free of the curve for every gradient, a language
        # model's fills the top throughout)
        style.panel_legend(ax_line)
        if not drawable.all():
            style.note(ax_line, f"{steps(int((~drawable).sum()), 'timestep')} zero or non-finite not shown",
                       warn=True, loc="upper right" if direction == "forward" else "upper left")
    if then_t is not None and len(then_t) > T:
        T = len(then_t)  # (the x axis spans both curves)
    ax_line.set_xlim(-0.5, T - 0.5)
    style.integer_ticks(ax_line.xaxis)  # (timesteps are whole, a series of one step too: a tick at 0)
    if back:  # (the heatmap shares these ticks)
        last = arr.shape[0] - 1
        ax_line.xaxis.set_major_locator(_StepsBack(last))
        ax_line.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{last - x:g}"))
    style.save(fig, path)
    return fig
