"""A forecasting run's forecasts against its series, in the data's units (the run report's
"Forecasts" section).

:func:`forecast_lines` computes what the picture shows from the run's checkpoint and data, through
the prediction functions of ``rnnlab predict`` (:func:`rnnlab.train.run_fit.run_model`: the
model the run evaluated, the scaling and reference it recorded when it trained, its mean guard's choice;
:func:`rnnlab.train.forecast.next_values`: the forecast after the series' end, what ``rnnlab
predict RUN_DIR`` writes). :func:`plot_forecast` draws, per channel (the first
:data:`MAX_CHANNELS`), the actual series, the model's forecasts at every origin of the test block
(1 step and ``horizon`` steps ahead, each drawn at the step it forecasts) beside the naive and
seasonal-naive forecasts ``horizon`` steps ahead (naive dotted and seasonal naive dashed, on top: a
model that learned little is its reference forecast, and its line would hide it; a line that others
cover on every panel says so in the legend, as naive does under seasonal naive a whole season
ahead, where both forecast the last value), and the forecast after the end,
over a window a reader can follow (:func:`window_start`: the end of the training block, muted,
then the held-out blocks, each block shaded and its boundaries marked; held-out blocks too long
to draw whole, their last few seasons); each panel's title gives
the channel's MASE of the model, naive and seasonal naive over the whole block
(:meth:`ForecastLines.mase`). The x axis holds the series' dates when its ``.csv`` has a column of
them at a fixed step (:mod:`rnnlab.data.stamps`), else its steps.

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.train.trainer import train
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\nhorizon = 3\\nseason = 12\\n[data]\\ndataset = "Airline"\\n'
    ...                    'bptt = 24\\n[model]\\nhidden_size = 4\\n[training]\\nepochs = 1\\n[tracking]\\nenabled = false')
    >>> run = train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir
    >>> lines = forecast_lines(run)
    >>> lines.block, lines.model.shape, lines.after.shape   # 29 test steps: 27 origins with 3 steps ahead inside
    ('test', (27, 3, 1), (3, 1))
    >>> [ax.get_ylabel() for ax in plot_forecast(lines).axes]
    ['Passengers']
    >>> sorted(lines.mase())   # each a MASE per channel over the test block's origins
    ['model', 'naive', 'seasonal naive']
"""

from __future__ import annotations

import os
import textwrap
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnlab.plots import style
from rnnlab.rundir import RunDir

if typing.TYPE_CHECKING:
    from rnnlab.data.stream import Bounds

#: Channels drawn, one panel each: a reader compares a few at a glance; the rest are named.
MAX_CHANNELS = 4
#: Colours of the picture's lines (the actual series black: what the forecasts are judged against).
ACTUAL_COLOR = "#222222"
MODEL_COLOR = style.SERIES_COLORS[0]
#: The model's forecasts ``horizon`` steps ahead: set apart from its 1-step ones, which they overlap.
MODEL_AHEAD_COLOR = style.SERIES_COLORS[4]
AFTER_COLOR = style.SERIES_COLORS[3]
NAIVE_COLOR = "#8c8c8c"
SEASONAL_COLOR = style.SERIES_COLORS[2]
#: The actual series over the training block: muted, what the model learned from, behind the
#: blocks it forecasts (in black).
TRAINING_COLOR = "#8e9aa6"
TRAINING_LABEL = "actual, training block"
#: Shading of the blocks (the training block grey: the background the held-out ones stand out from).
BLOCK_COLORS = {"training": "#eceef0", "validation": "#fff3c4", "test": "#dcebf7", "after the end": "#fde3cf"}
#: The lines at the blocks' boundaries.
BOUNDARY_COLOR = "#6e6e6e"
#: The fewest seasons (and steps) a picture draws before the series' end: more seasons than a few
#: make the daily zig-zags of a long test block impossible to tell apart.
WINDOW_SEASONS = 4
WINDOW_STEPS = 40
#: The fewest steps of the training block drawn before the held-out blocks: two seasons (the
#: pattern the model learned and how it moved from one season to the next), at least
#: :data:`TRAINING_STEPS` steps and 4 horizons. Without them a reader saw the forecasts, but not
#: what the model trained on just before them.
TRAINING_SEASONS = 2
TRAINING_STEPS = 24
#: The most steps a picture draws to reach back to the training block's end: held-out blocks
#: longer than that are drawn as their last seasons alone (the figure says where training ends).
MAX_WINDOW_STEPS = 400


@dataclass(frozen=True)
class ForecastLines:
    """What the forecast picture of one series of a run draws, in the data's units."""

    name: str
    """The series' source (a bundled series' name or the file)."""
    series: int
    """Which series of the source (0-based), of :attr:`count`."""
    count: int
    columns: list[str]
    values: np.ndarray
    """The actual series, [L, C]."""
    bounds: Bounds
    horizon: int
    season: int
    reference: str
    """The forecast the model learned corrections to (``[task] relative_to``, resolved)."""
    kept: bool
    """False when the run's mean guard chose the reference forecast over the model: the model's
    lines are then that forecast, as the run's test figures and ``rnnlab predict`` are."""
    block: str | None
    """``"test"``, or ``"validation"`` for a run without a test block, or None: the block whose
    origins :attr:`model` forecasts from."""
    origins: np.ndarray
    """The steps the block's forecasts are made at, [n]: those whose ``horizon`` steps ahead all
    lie inside the block, the origins the run's figures of the block score."""
    model: np.ndarray
    """[n, horizon, C]: ``model[i, k - 1]`` is the model's forecast, made at ``origins[i]``, of
    ``values[origins[i] + k]``."""
    naive: np.ndarray
    """The naive forecasts, as :attr:`model`."""
    seasonal_naive: np.ndarray
    """The seasonal-naive forecasts, as :attr:`model`."""
    after: np.ndarray
    """The forecast of the ``horizon`` steps after the series' end, [horizon, C] (``rnnlab
    predict RUN_DIR``'s forecast.csv)."""
    dates: list[datetime] | None
    """The dates of the L steps and of the ``horizon`` after them, or None (steps instead)."""
    after_dates: list[str] | None = None
    """The dates of the forecast after the end as ``rnnlab predict`` writes them, or None."""
    added: int = 0
    """Steps ``data.path`` holds after the series' end as the run trained on it (appended
    since): not drawn, as the run's blocks and figures end before them."""
    scale: np.ndarray | None = None
    """MASE's scale of each channel of the series drawn, [C], in the data's units, as the run
    scaled its figures (:func:`rnnlab.data.stream.mase_scale`: the series' own training block, a
    panel's other series not pooled in); None: no MASE."""
    cut: str = ""
    """Where the run never evaluated the steps after its validation block (a fold run of a search
    or recipe; a run without test figures), why the series drawn ends there, a clause in brackets
    led by a space (:meth:`rnnlab.plots.evaluated.Evaluated.validation_why`): the steps after it
    are not drawn, and the forecast after the end is of those; ``""`` otherwise."""

    def which(self) -> str:
        """Which series of a panel is drawn, numbered from 0 as the data notes, the warnings of
        ``rnnlab train`` and the errors of ``rnnlab predict`` number them, with its place in words
        so that neither count reads as the other; ``""`` for a single series.

        >>> from rnnlab.data.stream import Bounds
        >>> x = np.zeros((4, 1)); none = np.zeros((0, 1, 1))
        >>> ForecastLines("s", 0, 4, ["y"], x, Bounds(2, 3, 4), 1, 1, "naive", True, None, np.zeros(0, int),
        ...               none, none, none, np.zeros((1, 1)), None).which()
        'series 0, the first of 4'
        """
        if self.count <= 1:
            return ""
        n = self.series + 1
        place = "first" if n == 1 else f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
        return f"series {self.series}, the {place} of {self.count}"

    def mase(self) -> dict[str, np.ndarray]:
        """Each channel's MASE ([C]) of the ``"model"``, ``"naive"`` and ``"seasonal naive"``
        forecasts over the block's origins and every step ahead, as the run's block figures
        score them (their mean over the channels is the run's MASE of the block); NaN where a
        channel has no scale; empty without a block or a scale. Of a panel, the series' own
        MASE: the figures whose mean over the series is the run's.

        >>> from rnnlab.data.stream import Bounds
        >>> x = np.arange(8.0)[:, None]
        >>> o = np.array([5, 6]); f = x[o + 1][:, None]          # exact 1 step ahead
        >>> lines = ForecastLines("s", 0, 1, ["y"], x, Bounds(4, 6, 8), 1, 2, "naive", True, "test", o,
        ...                       f, f - 1, f - 2, np.array([[8.0]]), None, scale=np.array([2.0]))
        >>> {k: v.tolist() for k, v in lines.mase().items()}
        {'model': [0.0], 'naive': [0.5], 'seasonal naive': [1.0]}
        """
        if self.scale is None or not len(self.origins):
            return {}
        actual = np.stack([self.values[self.origins + k] for k in range(1, self.horizon + 1)], axis=1)
        usable = np.isfinite(self.scale) & (self.scale > 0)
        scale = np.where(usable, self.scale, np.nan)
        return {name: np.abs(f - actual).mean(axis=(0, 1)) / scale
                for name, f in (("model", self.model), ("naive", self.naive), ("seasonal naive", self.seasonal_naive))}


def block_origins(bounds: Bounds, horizon: int) -> tuple[str | None, list[int]]:
    """The held-out block a picture shows forecasts on (the test block, else the validation
    block) and its scored origins: from the step before the block to the last whose ``horizon``
    steps ahead lie inside it, as :func:`rnnlab.data.stream.load_stream` scores the block.

    >>> from rnnlab.data.stream import Bounds
    >>> block_origins(Bounds(train=6, val=8, test=11), 2)
    ('test', [7, 8])
    """
    for name, start, stop in (("test", bounds.val, bounds.test), ("validation", bounds.train, bounds.val)):
        if stop > start:
            return name, np.arange(max(start - 1, 0), stop - horizon).tolist()
    return None, []


def _dates(stamps: tuple[str, list[str]] | None, length: int, horizon: int) -> list[datetime] | None:
    """The dates of a series' steps and of the ``horizon`` after them, or None unless every cell
    is a date at a fixed step (:func:`rnnlab.data.stamps.following`: never a guessed date)."""
    from rnnlab.data.stamps import following, read_dates

    if stamps is None or len(stamps[1]) != length:
        return None
    later = following(stamps[1], horizon)
    if later is None:
        return None
    # The cells and the ones after the end, read as one column: one format, the same reading of
    # month and day (a column whose offsets change gives dates without one after its end: no read).
    found = read_dates([*stamps[1], *later])
    return found if found is not None and len(found) == length + horizon else None


def forecast_lines(run_dir: str | os.PathLike[str] | RunDir) -> ForecastLines:
    """What :func:`plot_forecast` draws for the first series of the forecasting run
    ``run_dir``, computed from its checkpoint and its data (``data.path`` or ``data.dataset``,
    read again): see the module's docstring. A run of another task, without a checkpoint, or
    whose data cannot be read raises the one-line error of ``rnnlab predict``."""
    from rnnlab.data.stamps import following
    from rnnlab.data.stream import Bounds, simple_forecast, split_bounds
    from rnnlab.errors import RunDirError
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.task import task_for
    from rnnlab.train.forecast import next_values, origin_forecasts, run_series
    from rnnlab.train.run_fit import guard_kept
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir.path if isinstance(run_dir, RunDir) else run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind != "forecasting":
        raise RunDirError(f"{run.path}: a {task.name} run has no forecast to draw")
    ev = evaluated(run, config)
    data, model, fit = ev.data, ev.model, ev.fit
    series = run_series(config, fit.stream)  # (warned about when it is no longer the run's)
    x = series.values[0]
    stamps = series.stamps if len(series.values) == 1 else None  # (forecast.csv dates one series only)
    added = 0
    if fit.stream is not None and fit.stream.changed_in(series.values) is None and len(x) > fit.stream.series_steps[0]:
        # (rows appended since training: the run's blocks, and the figures it scored, end before them)
        added = len(x) - fit.stream.series_steps[0]
        x = x[:fit.stream.series_steps[0]]
        stamps = None if stamps is None else (stamps[0], stamps[1][:len(x)])
    h = task.horizon
    bounds = split_bounds(len(x), config.data, ev.fold)
    cut = ""
    if ev.fold is not None or not ev.tested:  # (the steps after its validation block: never the run's to see)
        cut = ev.validation_why()
        x = x[:bounds.val]
        stamps = None if stamps is None else (stamps[0], stamps[1][:len(x)])
        bounds = Bounds(bounds.train, bounds.val, bounds.val)
    block, scored = block_origins(bounds, h)
    origins = np.asarray(scored, dtype=np.int64)
    every = origin_forecasts(model, x, data.stats, data.reference, task)
    C = x.shape[1]

    def reference(kind: str) -> np.ndarray:
        return simple_forecast(x[None], kind, h, task.season)[0].reshape(len(x), h, C)[origins]

    return ForecastLines(
        name=series.name, series=0, count=len(series.values), columns=list(series.columns), values=x,
        bounds=bounds, horizon=h, season=task.season, reference=data.reference, kept=guard_kept(run),
        block=block, origins=origins, model=every[origins], naive=reference("naive"),
        seasonal_naive=reference("seasonal_naive"),
        after=next_values(model, x, data.stats, data.reference, task),  # (rnnlab predict's own)
        dates=_dates(stamps, len(x), h),
        after_dates=following(stamps[1], h) if stamps is not None else None, added=added,
        scale=_scale(series, x, bounds, config.data, task.season, ev.fold), cut=cut)


def _scale(series: Any, x: np.ndarray, bounds: Bounds, data: Any, season: int, fold: Any = None
           ) -> np.ndarray | None:
    """MASE's scale of the first series ``x`` (as the run trained on it; ``fold``: a fold run's),
    its own as the run scaled it: every series' scale is computed, as the run computes them (and
    says the same of them), and the first's is taken; None where no block is longer than the season.

    >>> from rnnlab.data.stream import Bounds, Series
    >>> from rnnlab.config import DataConfig
    >>> small, big = np.arange(10.0)[:, None] % 2, np.arange(10.0)[:, None] * 100
    >>> _scale(Series("p", [small, big], ["y"]), small, Bounds(8, 9, 10), DataConfig(dataset="Airline", test_steps=1,
    ...        val_steps=1), 1).tolist()   # the small series' own: 1, not the mean with the big one's 100
    [1.0]
    """
    from rnnlab.data.stream import mase_scale, split_bounds

    parts = [x[: bounds.train]] + [v[: split_bounds(len(v), data, fold).train] for v in series.values[1:]]
    return mase_scale(series, parts, season)[0] if any(len(p) > season for p in parts) else None


def _figure(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.3f}"


def _midpoints(xs: list[Any]) -> list[Any]:
    """The positions halfway between neighbouring steps (and half a step before the first and
    after the last): where one block ends and the next begins, for steps and dates alike."""
    inner = [a + (b - a) / 2 for a, b in zip(xs, xs[1:])]
    first, last = xs[0] - (xs[1] - xs[0]) / 2, xs[-1] + (xs[-1] - xs[-2]) / 2
    return [first, *inner, last]


def window_start(lines: ForecastLines) -> int:
    """The first step :func:`plot_forecast` draws: one in the training block, so that the
    forecasts are seen continuing from what the model trained on. Its last
    :data:`TRAINING_SEASONS` seasons (at least :data:`TRAINING_STEPS` steps and 4 horizons), or
    more where the last :data:`WINDOW_SEASONS` seasons of the series reach further back (up to a
    stretch as long as the longer held-out block), then the held-out blocks whole. Held-out
    blocks too long for that (a window over :data:`MAX_WINDOW_STEPS` steps) are drawn as the last
    :data:`WINDOW_SEASONS` seasons (at least :data:`WINDOW_STEPS` steps and 4 horizons) before
    the series' end, whose zig-zags a reader can still tell apart.

    >>> from rnnlab.data.stream import Bounds
    >>> x = np.zeros((400, 1)); o = np.arange(319, 397)
    >>> f = np.zeros((len(o), 3, 1))
    >>> window_start(ForecastLines("s", 0, 1, ["y"], x, Bounds(256, 320, 400), 3, 7, "naive", True, "test", o,
    ...                            f, f, f, np.zeros((3, 1)), None))   # the training block's last 24 daily steps
    232
    >>> x = np.zeros((2000, 1)); o = np.arange(1599, 1997); f = np.zeros((len(o), 3, 1))
    >>> window_start(ForecastLines("s", 0, 1, ["y"], x, Bounds(1200, 1600, 2000), 3, 7, "naive", True, "test", o,
    ...                            f, f, f, np.zeros((3, 1)), None))   # 800 held-out steps: the last 40
    1960
    """
    b, L, h = lines.bounds, len(lines.values), lines.horizon
    context = max(b.test - b.val, b.val - b.train, 2 * lines.season, 2 * h)
    start = max(0, min(b.train - context, L - 2))
    held = max(start, min(L - max(WINDOW_SEASONS * lines.season, WINDOW_STEPS, 4 * h), L - 2))
    learned = max(0, b.train - max(TRAINING_SEASONS * lines.season, TRAINING_STEPS, 4 * h))
    if b.train > 0 and (L - learned <= MAX_WINDOW_STEPS or held < b.train):
        return min(held, learned)
    return held


#: How far apart two forecast lines may be at most, as a fraction of the panel's height, and
#: still draw as one: about a line's width on a panel 2.6 inches high.
SAME_LINE = 0.01


@dataclass(frozen=True)
class _Line:
    """One forecast line of :func:`plot_forecast`: whose forecast, how many steps ahead, the
    steps it forecasts ([n]), its values there on the panels' channels ([n, C]) and its style."""

    name: str
    k: int
    at: np.ndarray
    values: np.ndarray
    color: str
    style: Any
    width: float
    z: int

    def label(self, under: dict[int, tuple[_Line, float]] | None = None, season: int = 0) -> str:
        """The legend's label: what the line is, and where lines drawn over it hide it (``under``:
        :func:`_hidden`'s for this line) which lines those are, and how close."""
        text = f"{self.name}, {self.k} step{'s' if self.k > 1 else ''} ahead"
        if not under:
            return text
        by_k: dict[int, list[str]] = {}
        for o, _ in under.values():
            by_k.setdefault(o.k, []).append(f"{o.name}'s")
        names = " and ".join(" and ".join(n) + (f" {k} step{'s' if k > 1 else ''} ahead" if k != self.k else "")
                             for k, n in by_k.items())
        apart = max(gap for _, gap in under.values())
        if apart > 0:
            return f"{text}: under {names} (at most {max(apart, 0.001):.1%} of the axis apart)"
        whole = {self.name, *(o.name for o, _ in under.values())} == {"naive", "seasonal naive"} and season \
            and self.k % season == 0
        # (a whole number of seasons ahead, seasonal naive repeats the last value: naive's forecast)
        return f"{text}: the same as {names}" + (" (a whole season ahead, both are the last value)" if whole else "")


def _hidden(drawn: list[_Line], spans: list[float]) -> dict[int, dict[int, tuple[_Line, float]]]:
    """The lines of ``drawn`` that lines drawn over them (a higher z) cover on every panel: at
    each step they forecast, within :data:`SAME_LINE` of the panel's ``spans`` (y extents, one per
    channel). ``{i: {j: (drawn[j], how far apart at most, a fraction of the span)}}``.

    >>> one = lambda v, z: _Line("naive", 1, np.arange(3), np.asarray(v, float)[:, None], "k", "-", 1.0, z)
    >>> {i: [(j, gap) for j, (_, gap) in under.items()]
    ...  for i, under in _hidden([one([1, 2, 3], 4), one([1, 2, 3], 5), one([1, 2, 9], 6)], [10.0]).items()}
    {0: [(1, 0.0)]}
    """
    found: dict[int, dict[int, tuple[_Line, float]]] = {}
    for i, low in enumerate(drawn):
        for j, high in enumerate(drawn):
            if high.z <= low.z or not np.isin(low.at, high.at).all():
                continue
            over = high.values[np.searchsorted(high.at, low.at)]
            same_gaps = np.isnan(low.values) == np.isnan(over)
            gaps = np.abs(np.nan_to_num(low.values - over)) / np.maximum(np.asarray(spans), 1e-300)
            if same_gaps.all() and gaps.max(initial=0.0) <= SAME_LINE:
                found.setdefault(i, {})[j] = (high, float(gaps.max(initial=0.0)))
    return found


def plot_forecast(lines: ForecastLines, *, title: str | None = None,
                  path: str | os.PathLike[str] | None = None) -> Figure:
    """One panel per channel (the first :data:`MAX_CHANNELS`) of ``lines``
    (:func:`forecast_lines`): the series from the end of its training block (:func:`window_start`;
    that end muted, what the model trained on), every block shaded and its boundaries marked, the
    model's forecasts on the block 1 and ``horizon`` steps ahead, the naive
    and seasonal-naive forecasts ``horizon`` steps ahead, and the forecast after the end. A
    forecast line that lines drawn over it cover on every panel (within :data:`SAME_LINE` of
    the axis) is named so in the legend: every line the legend names is seen or accounted for.
    Saves when ``path`` is given.

    >>> from rnnlab.data.stream import Bounds
    >>> x = np.arange(20.0)[:, None]
    >>> o = np.arange(14, 19)
    >>> ahead = np.stack([x[o + 1], x[o + 1]], axis=1)   # [5 origins, 1 step, 1 channel]
    >>> lines = ForecastLines("s", 0, 1, ["y"], x, Bounds(10, 15, 20), 1, 4, "naive", True, "test", o,
    ...                       ahead[:, :1], ahead[:, :1] - 1, ahead[:, :1] - 4, np.array([[20.0]]), None)
    >>> fig = plot_forecast(lines)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:3]
    ['actual', 'actual, training block', 'model, 1 step ahead']
    """
    h, b, L = lines.horizon, lines.bounds, len(lines.values)
    channels = min(lines.values.shape[1], MAX_CHANNELS)
    xs: list[Any] = list(lines.dates) if lines.dates is not None else list(range(L + h))
    start = window_start(lines)
    edges = _midpoints(xs)
    mase = lines.mase()
    # (room after the forecast's last step: a horizon of a step or two after a long series is a
    # sliver at the edge otherwise)
    room = max(0, (L - start) // 40 - h)
    fig, axes = style.new_figure(channels, 1, panel_size=(9.0, 2.6), sharex=True)
    # The references dotted and dashed above the model: a model that learned little is its reference
    # forecast, naive or seasonal naive (a zero-initialised head starts as it), and the model's line
    # would hide it; the model shows between the dots and dashes.
    kinds = [("model", lines.model, MODEL_COLOR, "-", 1.8, 4), ("naive", lines.naive, NAIVE_COLOR, ":", 1.1, 5),
             ("seasonal naive", lines.seasonal_naive, SEASONAL_COLOR, (0, (4, 2.5)), 1.3, 6)]
    steps_ahead = [1, h] if h > 1 else [1]
    # Each forecast line: its name, steps ahead, the steps it forecasts, its values [n, C], how drawn.
    plotted = []
    for name, forecasts, color, linestyle, width, z in kinds:
        for k in (steps_ahead if name == "model" else [h]):
            drawn = lines.origins + k >= start  # (the forecasts for the steps in the window)
            if drawn.any():
                ahead = name == "model" and k > 1
                plotted.append(_Line(
                    name, k, lines.origins[drawn] + k, forecasts[drawn, k - 1, :channels],
                    MODEL_AHEAD_COLOR if ahead else color, (0, (1.5, 1.5)) if ahead else linestyle,
                    1.3 if ahead else width, z - 1 if ahead else z))
    artists_of: list[list[Any]] = [[] for _ in plotted]  # (each line's Line2D on every panel)
    blocks = (("training", 0, b.train, "training"), ("validation", b.train, b.val, "validation"),
              ("test", b.val, b.test, "test"), ("after the end", L, L + h, ""))
    for c, ax in enumerate(axes[:, 0]):
        for block, a, e, said in blocks:
            if e > max(a, start):
                ax.axvspan(edges[max(a, start)], edges[e], color=BLOCK_COLORS[block], linewidth=0, zorder=0)
                if a > start:  # (where one block ends and the next begins, across the panel)
                    ax.vlines(edges[a], 0.0, 1.0, transform=ax.get_xaxis_transform(), colors=BOUNDARY_COLOR,
                              linewidth=0.9, linestyles=(0, (4, 2)), zorder=1)
                if said:  # (the forecast after the end: a few steps wide, the legend names its line)
                    ax.text(edges[max(a, start)], 1.0, f" {said}", transform=ax.get_xaxis_transform(), ha="left",
                            va="top", fontsize=style.NOTE_SIZE, color="#555555")
        first = max(start, b.train)  # (the held-out blocks' first step drawn)
        held_x, held_y = xs[first:L], list(lines.values[first:, c])
        trained_x, trained_y = xs[start:first], list(lines.values[start:first, c])
        if start < first < L:
            # (the training block muted, meeting the held-out blocks' line at their boundary: the
            # colour changes where the model's data ends)
            mid = (lines.values[first - 1, c] + lines.values[first, c]) / 2
            trained_x, trained_y = [*trained_x, edges[first]], [*trained_y, mid]
            held_x, held_y = [edges[first], *held_x], [mid, *held_y]
        ax.plot(held_x, held_y, color=ACTUAL_COLOR, linewidth=1.3, label="actual", zorder=3)
        if first > start:
            ax.plot(trained_x, trained_y, color=TRAINING_COLOR, linewidth=1.3, zorder=3, label=TRAINING_LABEL)
        for line, artists in zip(plotted, artists_of, strict=True):
            artists += ax.plot([xs[i] for i in line.at], line.values[:, c], color=line.color, zorder=line.z,
                               linestyle=line.style, linewidth=line.width, label=line.label())
        ax.plot(xs[L - 1: L + h], [lines.values[-1, c], *lines.after[:, c]], color=AFTER_COLOR, linewidth=1.5,
                marker="o", markersize=3, zorder=5, label="forecast after the end " + ("(rnnlab predict)" if not (lines.added or lines.cut)
                                                  else "(of the run's series)"))
        ax.set_ylabel(lines.columns[c] if c < len(lines.columns) else f"channel {c}")
        if mase:  # (the block's figures, on this channel: how good the forecast is, at a glance)
            ax.set_title(f"{ax.get_ylabel()}, {lines.block} MASE" + (f" (1 to {h} steps ahead)" if h > 1 else "")
                         + ":   " + "   ".join(f"{name} {_figure(v[c])}" for name, v in mase.items()))
        ax.set_xlim(edges[start], edges[L + h] + (xs[-1] - xs[-2]) * room)
    axes[-1, 0].set_xlabel("date" if lines.dates is not None else "step")
    if lines.dates is None:
        style.integer_ticks(axes[-1, 0].xaxis)
    else:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator(maxticks=10)
        axes[-1, 0].xaxis.set_major_locator(locator)
        axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    style.share_x_labels(axes)
    spans = [float(np.subtract(*ax.get_ylim()[::-1])) for ax in axes[:channels, 0]]
    for i, under in _hidden(plotted, spans).items():
        for artist in artists_of[i]:
            artist.set_label(plotted[i].label(under, lines.season))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if TRAINING_LABEL in labels:  # (beside the actual series it continues)
        i = labels.index(TRAINING_LABEL)
        handles.insert(1, handles.pop(i))
        labels.insert(1, labels.pop(i))
    # (what of the training block is drawn: all of it, or its last steps; said here, as its end
    # may be narrower on the panels than these words)
    trained = "training block" + (f" (its last {b.train - start} of {b.train} steps)" if start > 0 else "")
    for block, a, e, label in (("training", 0, b.train, trained),
                               ("validation", b.train, b.val, "validation block"),
                               ("test", b.val, b.test, "test block (the run's test figures)"),
                               ("after the end", L, L + h, "after the series' end (the forecast)")):
        if e > max(a, start):  # (a block the window leaves out is no key to anything drawn)
            handles.append(Line2D([], [], color=BLOCK_COLORS[block], linewidth=6))
            labels.append(label)
    style.figure_legend(fig, handles, labels)
    which = f" ({lines.which()})" if lines.count > 1 else ""
    shown = ""
    if lines.block and start > {"test": b.val, "validation": b.train}[lines.block]:
        seasons = (L - start) / lines.season
        shown = ("\n" + f"the last {L - start} steps" + (f" ({seasons:.2g} seasons)" if lines.season > 1 else "")
                 + f"; MASE over the whole {lines.block} block ({len(lines.origins)} origins)")
    if b.train and start >= b.train:  # (held-out blocks too long to draw whole: where training ends)
        shown += (f"\nthe training block (steps 0 to {b.train - 1}) is not drawn: it ends {start - b.train + 1} "
                  f"step{'s' if start - b.train + 1 != 1 else ''} before the first step drawn")
    since = "" if not lines.added else "\n" + textwrap.fill(
        f"the series as the run trained on it: the {lines.added} step{'s' if lines.added != 1 else ''} appended to "
        "data.path since are not drawn (rnnlab predict forecasts after them)", 90)
    if lines.cut:
        since += "\n" + textwrap.fill(f"the series up to the end of the validation block{lines.cut}: the steps "
                                      "after it are not drawn", 90)
    fig.suptitle((title or f"forecasts of {os.path.basename(str(lines.name))}{which}") + shown + since,
                 fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


__all__ = ["MAX_CHANNELS", "ForecastLines", "block_origins", "forecast_lines", "plot_forecast", "window_start"]
