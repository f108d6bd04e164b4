"""Normalisation over valid (unpadded) steps: per channel, fitted on the training split only
(:class:`ChannelStats`), or per series (:func:`per_series`, which fits nothing).

Example:
    >>> import numpy as np
    >>> X = np.array([[[1.0], [3.0], [99.0]]]); lengths = np.array([2])
    >>> stats = ChannelStats.fit(X, lengths)
    >>> stats.mean.tolist(), stats.std.tolist()
    ([2.0], [1.0])
    >>> stats.apply(X, lengths)[0, :, 0].tolist()
    [-1.0, 1.0, 0.0]
    >>> ChannelStats.fit(X * 1e300, lengths).std.tolist()  # no overflow on the way
    [1e+300]
    >>> per_series(X, lengths)[0, :, 0].tolist()
    [-1.0, 1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


def _valid_mask(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return np.arange(X.shape[1])[None, :] < lengths[:, None]


@dataclass(frozen=True)
class ChannelStats:
    """Mean and standard deviation per channel ([C] each)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, lengths: np.ndarray) -> ChannelStats:
        """Fit on the valid steps of ``X`` [N, T, C]; a constant channel (std below 1e-12 of its
        largest magnitude) gets std 1.

        The statistics are computed on the values divided by a power of two near each channel's
        largest magnitude and scaled back: exact (a power-of-two scaling loses no bit), and
        finite data near float64's limit cannot overflow to inf (which would normalise every
        value to 0).
        """
        values = X[_valid_mask(X, lengths)].astype(np.float64)  # [valid steps, C]
        largest = np.abs(values).max(axis=0) if len(values) else np.ones(X.shape[2])
        scale = power_of_two(largest, low=float(np.finfo(np.float64).tiny))
        unit = values / scale
        unit_std = unit.std(axis=0)
        return cls(unit.mean(axis=0) * scale, np.where(unit_std > 1e-12, unit_std * scale, 1.0))

    @classmethod
    def identity(cls, channels: int) -> ChannelStats:
        return cls(np.zeros(channels), np.ones(channels))

    def state(self) -> dict[str, Any]:
        """As a checkpoint keeps it (tensors of the arrays' own dtype: ``weights_only=True``, every
        bit kept).

        >>> s = ChannelStats(np.array([2.0]), np.array([0.5]))
        >>> back = ChannelStats.from_state(s.state())
        >>> back.mean.tolist(), back.std.tolist()
        ([2.0], [0.5])
        """
        return {"mean": _tensor(self.mean), "std": _tensor(self.std)}

    @classmethod
    def from_state(cls, state: Any) -> ChannelStats:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected.

        >>> ChannelStats.from_state({"mean": [0.0]})
        Traceback (most recent call last):
        ...
        ValueError: expected {mean, std} as float tensors of one value per channel, finite, std > 0
        """
        import torch

        mean, std = (state.get("mean"), state.get("std")) if isinstance(state, dict) else (None, None)
        ok = (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and mean.is_floating_point()
              and std.is_floating_point() and mean.ndim == 1 and mean.shape == std.shape and len(mean) > 0
              and bool(torch.isfinite(mean).all()) and bool(torch.isfinite(std).all()) and bool((std > 0).all()))
        if not ok:
            raise ValueError("expected {mean, std} as float tensors of one value per channel, finite, std > 0")
        return cls(mean.numpy().copy(), std.numpy().copy())

    def apply(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` on valid steps; padding stays 0 (float64: the caller checks the
        range before the model's float32)."""
        # In units of a power of two >= 2: the same bits as (X - mean) / std, but X - mean cannot
        # overflow when both are near 1e308 (a result beyond float32 is the caller's check).
        s = power_of_two(np.maximum(np.abs(self.mean), self.std), low=2.0)
        with np.errstate(over="ignore"):
            out = (X / s - self.mean / s) / (self.std / s)
        out[~_valid_mask(X, lengths)] = 0.0
        return out


#: What moving one channel must save, in :func:`channel_mismatch`'s units (training series'
#: spreads), for another order of a file's channels to match the training part better than the
#: file's own: 4 spreads, so that channels of one kind (axes of one sensor), which match each other
#: about as well as themselves, are never moved.
MOVE_COST = 4.0

#: A file channel that mismatches its own position by more than this many training series' spreads
#: (for a file of one series; of more, :func:`kind_limit`) is of another kind there: only such channels are moved (another order of them is far better, not
#: by chance); a channel that mismatches every training channel so is warned of.
#: Measured on the bundled sets (test split against training part): a whole split mismatches its
#: own order by at most 0.6 per channel (CardanoSentiment's drift); a single series alone by up to
#: 11 (delayed_copy), 25 where a series is 8 steps of mostly blank pixels (a digits_rows image's
#: row), and no channel of a single series mismatches every training channel by more than 10.7;
#: none is refused or warned of. A swap of channels of other kinds (a sensor's acceleration in
#: thousands for its gyroscope's ones) mismatches by hundreds.
KIND_LIMIT = 16.0


def kind_limit(series: int) -> float:
    """:data:`KIND_LIMIT` for a file of ``series`` series: the mean of n series' figures varies by
    1 / sqrt(n) of one series', so the limit shrinks with it, to :data:`MOVE_COST` at the least.

    >>> kind_limit(1), kind_limit(4), kind_limit(400)
    (16.0, 8.0, 4.0)
    """
    return max(KIND_LIMIT / float(np.sqrt(max(series, 1))), MOVE_COST)


def channel_mismatch(train: ChannelStats, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """How unlike the channels of series ``X`` [N, T, C] are to each training channel ([C, C]: file
    channel ``i``, training channel ``j``): the distance of their series' mean level and scale
    (:func:`level_and_log_scale`) from the training series', in the spread of the training series
    (``train``: :func:`level_and_scale_stats` of it on the training part),
    level's plus scale's. Of the training series' own distribution: about 1 for one series, less
    for the mean of many.

    >>> rng = np.random.default_rng(0)
    >>> X = np.stack([rng.normal(0, 1, (9, 50)), rng.normal(9810, 1000, (9, 50))], axis=2); n = np.full(9, 50)
    >>> cost = channel_mismatch(level_and_scale_stats(X, n, level_and_log_scale), X, n)
    >>> bool(cost[0, 0] < 2 and cost[1, 1] < 2 and cost[0, 1] > 100 and cost[1, 0] > 100)
    True
    """
    c = X.shape[2]
    here = level_and_log_scale(X, lengths).mean(axis=0)  # [2C]
    level = np.abs(here[:c, None] - train.mean[None, :c]) / train.std[None, :c]
    scale = np.abs(here[c:, None] - train.mean[None, c:]) / train.std[None, c:]
    return level + scale


def best_channel_order(cost: np.ndarray) -> np.ndarray:
    """The order of a file's channels that best matches the training channels by ``cost``
    (:func:`channel_mismatch`, [C, C]) with :data:`MOVE_COST` added for each channel moved:
    ``order[j]`` is the file channel read as training channel ``j``. Exact over every order up to
    8 channels; beyond, greedy (the cheapest remaining pair first).

    >>> best_channel_order(np.array([[90.0, 0.0, 90.0], [0.0, 90.0, 90.0], [90.0, 90.0, 0.0]])).tolist()
    [1, 0, 2]
    >>> best_channel_order(np.array([[2.5, 0.1], [0.1, 2.5]])).tolist()  # too little to gain: as it is
    [0, 1]
    """
    import itertools

    c = len(cost)
    moved = cost + MOVE_COST * (1.0 - np.eye(c))
    if c <= 8:
        orders = np.array(list(itertools.permutations(range(c))))  # (the first: the file's own order)
        return orders[int(np.argmin(moved[orders, np.arange(c)].sum(axis=1)))]
    order = np.full(c, -1)
    free = moved.copy()
    for _ in range(c):
        i, j = np.unravel_index(np.argmin(free), free.shape)
        order[j] = i
        free[i, :] = free[:, j] = np.inf
    return order if moved[order, np.arange(c)].sum() < np.trace(moved) else np.arange(c)


#: How :func:`check_channel_order` says to reorder a file's channels (``{order}``: the order that matches).
REORDER_FILE = "reorder the file's channels as the training file's: X[:, :, {order}]"


def check_channel_order(train: ChannelStats, X: np.ndarray, lengths: np.ndarray, where: str,
                        fix: str = REORDER_FILE) -> None:
    """Channels are matched by position; refuse, naming ``where``, series ``X`` [N, T, C] whose
    channels match the training part's (``train``: as :func:`channel_mismatch` takes it) far
    better in another order (:func:`best_channel_order`), saying how to reorder them (``fix``,
    ``{order}`` filled in); warn of each channel that matches no training channel (:data:`KIND_LIMIT`).

    >>> rng = np.random.default_rng(0); n = np.full(9, 50)
    >>> X = np.stack([rng.normal(0, 1, (9, 50)), rng.normal(9810, 1000, (9, 50))], axis=2)
    >>> train = level_and_scale_stats(X, n, level_and_log_scale)
    >>> check_channel_order(train, X[:3], n[:3], "f")  # as trained
    >>> check_channel_order(train, X[:, :, ::-1], n, "f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: f: channels 0, 1 look swapped: ... X[:, :, [1, 0]] (channels ...)
    """
    from rnnlab.data.stream import warn_once
    from rnnlab.errors import DataError

    c = X.shape[2]
    if 2 * c != len(train.mean) or not len(X):
        return  # (the count is checked, and said, by the readers)
    cost = channel_mismatch(train, X, lengths)
    here, there = level_and_log_scale(X, lengths).mean(axis=0), train.mean.copy()
    for v in (here, there):  # (a typical series' level and scale, in the data's units, as said)
        v[:c], v[c:] = np.sinh(v[:c]), np.exp(v[c:])

    def figures(k: int, of: np.ndarray) -> str:
        return f"level {of[k]:.3g}, scale {of[c + k]:.3g}"

    # (only channels out of place as given may move: one of a rare series' channels in place stays so)
    limit = kind_limit(len(X))
    out = np.flatnonzero(np.diag(cost) > limit)
    order = np.arange(c)
    if len(out) > 1:
        order[out] = out[best_channel_order(cost[np.ix_(out, out)])]
    moved = [int(j) for j in np.flatnonzero(order != np.arange(c))]
    if moved:
        own, best = float(np.trace(cost)), float(cost[order, np.arange(c)].sum())
        j = max(moved, key=lambda k: cost[order[k], order[k]])  # (the example: the channel most unlike its position)
        i = int(order[j])
        said = [int(k) for k in order]
        raise DataError(
            f"{where}: channels {', '.join(map(str, sorted(moved)))} look swapped: by level and scale they match the "
            f"training channels in the order {said} (mismatch {own:.3g} as given, {best:.3g} so); e.g. channel {i} "
            f"({figures(i, here)}) is like training channel {j} ({figures(j, there)}), not {i} ({figures(i, there)}); "
            f"{fix.format(order=said)} (channels are matched by position; channels alike in level and scale cannot "
            "be told apart so)")
    for i in np.flatnonzero(cost.min(axis=1) > limit):
        warn_once(f"{where}: channel {int(i)} is like no channel of the training file: {figures(i, here)} here, "
                  f"{figures(i, there)} in the training part at that position (typical series; channels are matched "
                  "by position: another quantity or unit?)")


@dataclass(frozen=True)
class TrainLengths:
    """The lengths of the training part's series, as far as new series are judged by them: the
    ``shortest`` (a series shorter than every training series is extrapolated, and its level and
    scale are not comparable with theirs), the ``longest`` and their ``count`` (what the note,
    :func:`short_series_note`, says of the training part). Three numbers, not every length: nothing
    reads more, and a checkpoint or a pickled estimator keeps them whatever the count.

    >>> t = TrainLengths.of(np.array([150, 120, 150]))
    >>> t, TrainLengths.from_state(t.state()) == t, t.short(np.array([150, 20, 119])).tolist()
    (TrainLengths(shortest=120, longest=150, count=3), True, [False, True, True])
    """

    shortest: int
    longest: int
    count: int

    @classmethod
    def of(cls, lengths: np.ndarray) -> TrainLengths:
        """The record of the training series of ``lengths`` [N], N >= 1."""
        return cls(int(np.min(lengths)), int(np.max(lengths)), len(lengths))

    def state(self) -> dict[str, int]:
        """As a checkpoint keeps it: three integers."""
        return {"shortest": self.shortest, "longest": self.longest, "count": self.count}

    @classmethod
    def from_state(cls, state: Any) -> TrainLengths:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected.

        >>> TrainLengths.from_state({"shortest": 9, "longest": 3, "count": 2})
        Traceback (most recent call last):
        ...
        ValueError: expected {shortest, longest, count} as integers, 1 <= shortest <= longest and count >= 1, got {'shortest': 9, 'longest': 3, 'count': 2}
        """
        values = [state.get(k) for k in ("shortest", "longest", "count")] if isinstance(state, dict) else []
        if not (len(values) == 3 and all(type(v) is int for v in values) and 1 <= values[0] <= values[1]
                and values[2] >= 1):
            raise ValueError("expected {shortest, longest, count} as integers, 1 <= shortest <= longest and "
                             f"count >= 1, got {state!r:.80}")
        return cls(*values)

    def short(self, lengths: np.ndarray) -> np.ndarray:
        """Which series of ``lengths`` [N] are shorter than every training series ([N] booleans)."""
        return np.asarray(lengths) < self.shortest


def _steps(low: int, high: int) -> str:
    """A span of steps: ``20`` when ``low`` and ``high`` are alike, else ``12 to 20``.

    >>> _steps(20, 20), _steps(12, 20)
    ('20', '12 to 20')
    """
    return str(low) if low == high else f"{low} to {high}"


def short_series_note(lengths: np.ndarray, trained: TrainLengths, where: str, per_step: bool = False) -> str:
    """The note on the series of ``lengths`` [N] (named ``where``) shorter than every series of the
    run's training part (``trained``): how many, their lengths and the training part's; predicting
    them is extrapolation (but per step, where each step's prediction reads the steps up to it alone),
    and the check of the channels' level and scale leaves them out (a few steps' level and scale
    read as another unit).

    >>> short_series_note(np.array([150, 20, 12]), TrainLengths(150, 150, 2), "X")  # doctest: +ELLIPSIS
    "X: 2 of 3 series are shorter than every series the run trained on: 12 to 20 steps, the training part's 150 (2 series); ..."
    """
    short = np.asarray(lengths)[trained.short(lengths)]
    one = len(short) == 1
    its, it = ("its", "it") if one else ("their", "them")
    extrapolated = "" if per_step else f"{its} predictions are extrapolation, from fewer steps than the model ever read; "
    return (f"{where}: {len(short)} of {len(lengths)} series {'is' if one else 'are'} shorter than every series the "
            f"run trained on: {_steps(int(short.min()), int(short.max()))} steps, the training part's "
            f"{_steps(trained.shortest, trained.longest)} ({trained.count} series); {extrapolated}the check of the "
            f"channels' level and scale leaves {it} out (a few steps' level and scale are not their series')")


def _tensor(a: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.array(a))  # (a copy, of the array's dtype)


def power_of_two(magnitude: np.ndarray, low: float) -> np.ndarray:
    """The power of two at or just below ``magnitude`` (at least about ``low``), elementwise: a
    scale to divide by exactly (no rounding), before squares that would overflow.

    >>> power_of_two(np.array([3.0, 1e300, 0.0]), low=1.0).tolist()
    [2.0, 6.696928794914171e+299, 1.0]
    """
    _, exponent = np.frexp(np.maximum(magnitude, low))
    return np.ldexp(1.0, exponent - 1)


def series_moments(X: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each series and channel over its valid steps ([N, 1, C] each).

    Each series is divided by a power of two near its largest magnitude first (exact), so
    values near float64's limit cannot overflow on the way.

    >>> mean, std = series_moments(np.array([[[1.0], [3.0], [99.0]]]), np.array([2]))
    >>> mean.ravel().tolist(), std.ravel().tolist()
    ([2.0], [1.0])
    """
    mean, std, _ = _moments(X, lengths)
    return mean, std


def _moments(X: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, largest magnitude) of each series and channel over its valid steps."""
    valid = _valid_mask(X, lengths)[:, :, None]  # [N, T, 1]
    largest = np.where(valid, np.abs(X), 0.0).max(axis=1, keepdims=True)  # [N, 1, C]
    scale = power_of_two(largest, low=float(np.finfo(np.float64).tiny))
    unit = np.where(valid, X / scale, 0.0)
    count = np.maximum(lengths, 1)[:, None, None]
    mean = unit.sum(axis=1, keepdims=True) / count
    std = np.sqrt((np.where(valid, unit - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count)
    return mean * scale, std * scale, largest


def per_series(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each series and channel to mean 0 and std 1 over its own valid steps; padding stays 0.

    The UCR archive's convention, for data whose series differ in scale by orders of magnitude
    (counts, prices): per-channel statistics would squash all but the largest series to one
    value. A constant series (std below 1e-12 of its largest magnitude) becomes 0. Nothing is
    fitted, so every split is scaled the same way.

    >>> X = np.array([[[0.0], [0.0], [0.0]], [[1e3], [3e3], [0.0]]]); lengths = np.array([3, 2])
    >>> per_series(X, lengths)[:, :, 0].tolist()
    [[0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]]
    """
    mean, std, largest = _moments(X, lengths)
    s = power_of_two(np.maximum(largest, std), low=float(np.finfo(np.float64).tiny))
    out = (X / s - mean / s) / np.where(std > 1e-12 * largest, std / s, 1.0)
    return np.where(_valid_mask(X, lengths)[:, :, None], out, 0.0)


def level_and_scale(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """What :func:`per_series` removes, as features: ``asinh`` of each series' mean and std per
    channel ([N, 2C]: the C means, then the C stds). ``asinh`` keeps the sign and compresses
    orders of magnitude, as DeepAR (Salinas et al. 2020) feeds the log of its per-series scale.

    >>> level_and_scale(np.array([[[0.0], [2.0]]]), np.array([2])).round(4).tolist()
    [[0.8814, 0.8814]]
    """
    mean, std = series_moments(X, lengths)
    return np.arcsinh(np.concatenate([mean[:, 0], std[:, 0]], axis=1))


def level_and_log_scale(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """:func:`level_and_scale` with the log of each series' std (floored at 1e-9 of its level, or
    of 1): scales compared by their ratio also where they are small (a gyroscope's 1e-3 against an
    accelerometer's 0.7, which asinh leaves 0.65 apart).

    >>> level_and_log_scale(np.array([[[0.0], [2e-3]]]), np.array([2])).round(4).tolist()
    [[0.001, -6.9078]]
    """
    mean, std = series_moments(X, lengths)
    floor = 1e-9 * np.maximum(np.abs(mean[:, 0]), 1.0)
    return np.concatenate([np.arcsinh(mean[:, 0]), np.log(np.maximum(std[:, 0], floor))], axis=1)


#: The smallest difference of level or scale that carries information, in asinh units (about 1 %
#: of a series' scale). Already z-normalised data (most of the UCR archive) has levels and scales
#: equal up to rounding; standardising that rounding noise to unit spread would feed the model
#: noise channels, so a feature's spread is floored here and such channels stay near 0.
SCALE_RESOLUTION = 0.01


def level_and_scale_noise(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The sampling error of :func:`level_and_scale` ([2C]): the root mean square over the series
    of the standard error of a series' mean (std / sqrt(steps)) and of its std (std / sqrt(2 steps)),
    as white noise has them, in asinh units. Correlated noise has larger errors, so a feature
    judged above its error by this one may still be noise; one judged within it is.

    >>> X = np.array([[[1.0], [-1.0], [1.0], [-1.0]]]); lengths = np.array([4])
    >>> level_and_scale_noise(X, lengths).round(4).tolist()  # std 1 over 4 steps: 1/2 and 1/sqrt(8), asinh'd
    [0.5, 0.25]
    """
    mean, std = series_moments(X, lengths)
    steps = np.maximum(lengths, 1)[:, None].astype(np.float64)
    level = std[:, 0] / np.sqrt(steps) / np.sqrt(1 + mean[:, 0] ** 2)
    scale = std[:, 0] / np.sqrt(2 * steps) / np.sqrt(1 + std[:, 0] ** 2)
    return np.sqrt((np.concatenate([level, scale], axis=1) ** 2).mean(axis=0))


def informative_level_and_scale(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Which features of :func:`level_and_scale` ([2C] booleans) spread over the series of the
    training part ``X`` by more than their sampling error (:func:`level_and_scale_noise`).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 500, 1)) * np.geomspace(0.5, 4, 20)[:, None, None]
    >>> informative_level_and_scale(X, np.full(20, 500)).tolist()  # the level: noise; the scale: not
    [False, True]
    """
    spread = level_and_scale(X, lengths).std(axis=0)
    return spread > level_and_scale_noise(X, lengths)


def level_and_scale_stats(X: np.ndarray, lengths: np.ndarray,
                          features: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> ChannelStats:
    """The standardisation of :func:`level_and_scale` (or ``features``, [N, 2C] of the same kind:
    :func:`level_and_log_scale`) fitted on the training part ``X``; spreads below
    :data:`SCALE_RESOLUTION` are floored to it.

    >>> X = np.array([[[1.0], [-1.0]], [[1.0 + 1e-9], [-1.0]]]); lengths = np.array([2, 2])
    >>> stats = level_and_scale_stats(X, lengths)  # equal up to rounding: the spread is floored
    >>> bool((stats.std >= SCALE_RESOLUTION).all())
    True
    """
    values = (features or level_and_scale)(X, lengths)
    fitted = ChannelStats.fit(values[:, None], np.ones(len(X), dtype=np.int64))
    return ChannelStats(fitted.mean, np.maximum(fitted.std, SCALE_RESOLUTION))


def level_and_scale_channels(X: np.ndarray, lengths: np.ndarray, stats: ChannelStats,
                             keep: np.ndarray | None = None) -> np.ndarray:
    """:func:`level_and_scale` standardised with ``stats`` as input channels [N, T, 2C]: constant
    over each series' valid steps, 0 on padding, and 0 where ``keep`` ([2C] booleans) is False.

    >>> X = np.array([[[0.0], [2.0]], [[4.0], [0.0]]]); lengths = np.array([2, 1])
    >>> level_and_scale_channels(X, lengths, ChannelStats.identity(2))[1].round(4).tolist()
    [[2.0947, 0.0], [0.0, 0.0]]
    """
    features = stats.apply(level_and_scale(X, lengths)[:, None], np.ones(len(X), dtype=np.int64))
    if keep is not None:
        features = np.where(keep, features, 0.0)
    return np.where(_valid_mask(X, lengths)[:, :, None], features, 0.0)


def _level_and_scale_state(state: dict[str, Any], key: str, width: int) -> ChannelStats | None:
    """``state[key]``, statistics of each channel's level and scale (``width`` values), as a
    :class:`ChannelStats`; None where the record has none."""
    value = state.get(key)
    if value is None:
        return None
    try:
        value = ChannelStats.from_state(value)
    except ValueError as e:
        raise ValueError(f"{key!r}: {e}") from None
    if len(value.mean) != width:
        raise ValueError(f"{key!r}: expected {width} values (a level and a scale per channel), got {len(value.mean)}")
    return value


@dataclass
class InputScaling:
    """What the model's input is made of from raw sequences: the normalisation (``data.normalize``,
    with the per-channel statistics fitted on the training part) and, with ``data.series_scale``,
    each series' standardised level and scale as extra channels. Fitted once by
    :func:`rnnlab.data.load_data`; applied to every split, and to new series at prediction time.

    >>> X = np.array([[[1.0], [3.0]], [[5.0], [9.0]]]); lengths = np.array([2, 2])
    >>> s = InputScaling.fit("per_channel", False, X, lengths)
    >>> s.apply(X, lengths)[:, :, 0].round(3).tolist()
    [[-1.183, -0.507], [0.169, 1.521]]
    """

    normalize: str
    stats: ChannelStats
    series_scale: ChannelStats | None = None
    series_scale_keep: np.ndarray | None = None
    """With ``data.series_scale = "informative"``: which level and scale channels are not 0."""
    levels: ChannelStats | None = None
    """The training series' level and scale per channel before any scaling, whatever ``normalize``
    is (:func:`level_and_scale_stats` of :func:`level_and_log_scale`): what :meth:`check_channels` compares new series with. None
    in a record from before it was kept."""
    train_lengths: TrainLengths | None = None
    """The lengths of the training series :attr:`levels` was measured on: a new series shorter than
    every one of them is left out of :meth:`check_channels` and said. None in a record from before
    it was kept (the caller may give them: :meth:`check_channels`'s ``trained``)."""

    @classmethod
    def fit(cls, normalize: str, series_scale: bool | str, X: np.ndarray, lengths: np.ndarray) -> InputScaling:
        stats = ChannelStats.fit(X, lengths) if normalize == "per_channel" else ChannelStats.identity(X.shape[2])
        keep = informative_level_and_scale(X, lengths) if series_scale == "informative" else None
        return cls(normalize, stats, level_and_scale_stats(X, lengths) if series_scale else None, keep,
                   level_and_scale_stats(X, lengths, level_and_log_scale),
                   TrainLengths.of(lengths) if len(lengths) else None)

    def state(self) -> dict[str, Any]:
        """As a checkpoint keeps it (tensors, strings and None: ``weights_only=True``), so that
        new series are scaled later as the run scaled its own, whatever its data file holds by then.

        >>> X = np.array([[[1.0], [3.0]], [[5.0], [9.0]]]); lengths = np.array([2, 2])
        >>> s = InputScaling.fit("per_series", "informative", X, lengths)
        >>> back = InputScaling.from_state(s.state())
        >>> back.normalize, bool((back.apply(X, lengths) == s.apply(X, lengths)).all())
        ('per_series', True)
        """
        return {"normalize": self.normalize, "stats": self.stats.state(),
                "series_scale": None if self.series_scale is None else self.series_scale.state(),
                "series_scale_keep": None if self.series_scale_keep is None else _tensor(self.series_scale_keep),
                "levels": None if self.levels is None else self.levels.state(),
                "train_lengths": None if self.train_lengths is None else self.train_lengths.state()}

    @classmethod
    def from_state(cls, state: Any) -> InputScaling:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected.

        >>> InputScaling.from_state({"normalize": "minmax"})
        Traceback (most recent call last):
        ...
        ValueError: 'normalize': expected one of ['per_channel', 'per_series', 'none'], got 'minmax'
        """
        import typing

        import torch

        from rnnlab.config import DataConfig

        if not isinstance(state, dict):
            raise ValueError(f"expected a dict of the input scaling, got {type(state).__name__}")
        normalize = typing.get_args(DataConfig.model_fields["normalize"].annotation)  # (data.normalize's values)
        if state.get("normalize") not in normalize:
            raise ValueError(f"'normalize': expected one of {list(normalize)}, got {state.get('normalize')!r:.40}")
        try:
            stats = ChannelStats.from_state(state.get("stats"))
        except ValueError as e:
            raise ValueError(f"'stats': {e}") from None
        keep = state.get("series_scale_keep")
        width = 2 * len(stats.mean)  # (each channel's level and scale)
        series_scale = _level_and_scale_state(state, "series_scale", width)
        if keep is not None and not (series_scale is not None and isinstance(keep, torch.Tensor)
                                     and keep.dtype == torch.bool and keep.shape == (width,)):
            raise ValueError(f"'series_scale_keep': expected None or {width} booleans beside 'series_scale'")
        # (levels: absent from records written before it was kept: those load as they did)
        levels = _level_and_scale_state(state, "levels", width)
        lengths = state.get("train_lengths")  # (as levels: absent from older records)
        try:
            lengths = None if lengths is None else TrainLengths.from_state(lengths)
        except ValueError as e:
            raise ValueError(f"'train_lengths': {e}") from None
        return cls(state["normalize"], stats, series_scale, None if keep is None else keep.numpy().copy(), levels,
                   lengths)

    def check_channels(self, X: np.ndarray, lengths: np.ndarray, where: str, fix: str = REORDER_FILE,
                       trained: TrainLengths | None = None, per_step: bool = False) -> None:
        """Refuse series ``X`` [N, T, C] whose channels look like the training part's in another
        order, and warn of a channel unlike every training channel (:func:`check_channel_order`
        with :attr:`levels`; nothing for a record from before :attr:`levels` was kept). Series
        shorter than every training series (``trained``, else :attr:`train_lengths`; none where
        neither is known) are left out of it and said in one warning (:func:`short_series_note`,
        ``per_step``: of a per-step run): a few steps' level and scale are not their series', and
        would read as another unit.

        >>> import warnings
        >>> rng = np.random.default_rng(0)
        >>> X = np.stack([rng.normal(0, 1, (5, 50)), rng.normal(9810, 1000, (5, 50))], axis=2)
        >>> s = InputScaling.fit("per_series", False, X, np.full(5, 50))
        >>> s.check_channels(X[:, :, ::-1], np.full(5, 50), "--data (new.npz)")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnlab.errors.DataError: --data (new.npz): channels 0, 1 look swapped: ... X[:, :, [1, 0]] (channels ...)
        >>> with warnings.catch_warnings(record=True) as said:
        ...     warnings.simplefilter("always")
        ...     s.check_channels(X[:, :3, ::-1], np.full(5, 3), "X")  # 3 steps of 50: left out, said
        >>> [str(w.message).split(";")[0] for w in said]
        ["X: 5 of 5 series are shorter than every series the run trained on: 3 steps, the training part's 50 (5 series)"]
        """
        from rnnlab.data.stream import warn_once

        trained = trained if trained is not None else self.train_lengths
        short = np.zeros(len(lengths), dtype=bool) if trained is None else trained.short(lengths)
        if trained is not None and short.any():
            warn_once(short_series_note(lengths, trained, where, per_step))
        if self.levels is not None:
            check_channel_order(self.levels, X[~short], lengths[~short], where, fix)

    def apply(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = per_series(X, lengths) if self.normalize == "per_series" else self.stats.apply(X, lengths)
        if self.series_scale is not None:
            out = np.concatenate([out, level_and_scale_channels(X, lengths, self.series_scale, self.series_scale_keep)],
                                 axis=2)
        return out
