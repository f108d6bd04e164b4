"""Per-channel normalisation fitted on the training split only, over valid (unpadded) steps.

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
"""

from __future__ import annotations

from dataclasses import dataclass

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
        scale = _power_of_two(largest, low=float(np.finfo(np.float64).tiny))
        unit = values / scale
        unit_std = unit.std(axis=0)
        return cls(unit.mean(axis=0) * scale, np.where(unit_std > 1e-12, unit_std * scale, 1.0))

    @classmethod
    def identity(cls, channels: int) -> ChannelStats:
        return cls(np.zeros(channels), np.ones(channels))

    def apply(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` on valid steps; padding stays 0 (float64: the caller checks the
        range before the model's float32)."""
        # In units of a power of two >= 2: the same bits as (X - mean) / std, but X - mean cannot
        # overflow when both are near 1e308 (a result beyond float32 is the caller's check).
        s = _power_of_two(np.maximum(np.abs(self.mean), self.std), low=2.0)
        with np.errstate(over="ignore"):
            out = (X / s - self.mean / s) / (self.std / s)
        out[~_valid_mask(X, lengths)] = 0.0
        return out


def _power_of_two(magnitude: np.ndarray, low: float) -> np.ndarray:
    """The power of two at or just below ``magnitude`` (at least about ``low``), per channel."""
    _, exponent = np.frexp(np.maximum(magnitude, low))
    return np.ldexp(1.0, exponent - 1)
