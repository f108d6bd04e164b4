"""Per-channel normalisation fitted on the training split only, over valid (unpadded) steps.

Example:
    >>> import numpy as np
    >>> X = np.array([[[1.0], [3.0], [99.0]]]); lengths = np.array([2])
    >>> stats = ChannelStats.fit(X, lengths)
    >>> stats.mean.tolist(), stats.std.tolist()
    ([2.0], [1.0])
    >>> stats.apply(X, lengths)[0, :, 0].tolist()
    [-1.0, 1.0, 0.0]
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
        """Fit on the valid steps of ``X`` [N, T, C]; a constant channel gets std 1."""
        values = X[_valid_mask(X, lengths)]  # [valid steps, C]
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(mean.astype(np.float64), std.astype(np.float64))

    @classmethod
    def identity(cls, channels: int) -> ChannelStats:
        return cls(np.zeros(channels), np.ones(channels))

    def apply(self, X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``(X - mean) / std`` on valid steps; padding stays 0 (float32)."""
        out = (X - self.mean) / self.std
        out[~_valid_mask(X, lengths)] = 0.0
        return out.astype(np.float32)
