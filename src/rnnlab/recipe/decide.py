"""The recipe's decision rule: keep a change only when it helps by more than the noise.

A candidate and the current configuration are each scored by several training runs (seeds ×
folds of the training split). The candidate is kept when the difference of the mean scores is in
its favour by more than the standard error of that difference (Welch's form, from the sample
variances of both sides)::

    gain = sign · (mean(candidate) − mean(current))        sign = +1 when higher is better (val_acc), −1 when lower (val_loss); the task says which
    se   = sqrt(var(candidate) / n_candidate + var(current) / n_current)
    kept ⇔ gain > se  and  gain > 0

With one run on either side the variance is unknown and nothing can be shown to beat the noise:
the candidate is scrapped (score more seeds or folds). Two sides with no spread at all and the
same mean are a tie: scrapped.

Example:
    >>> v = verdict([0.90, 0.92, 0.91], [0.80, 0.82, 0.81], higher_is_better=True)
    >>> v.kept, round(v.gain, 3)
    (True, 0.1)
    >>> verdict([0.81, 0.84, 0.80], [0.80, 0.83, 0.81], higher_is_better=True).kept
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing a candidate with the current configuration."""

    kept: bool
    gain: float
    """Improvement of the mean score (positive: better, in the metric's direction)."""
    se: float
    """Standard error of the difference of the means (inf with fewer than two runs a side)."""
    reason: str


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.inf
    return mean, var


def verdict(candidate: Sequence[float], current: Sequence[float], higher_is_better: bool) -> Verdict:
    """Compare two sets of scores with the rule of this module.

    >>> verdict([0.5], [0.4], higher_is_better=True).reason
    'one run on a side: the noise is unknown'
    >>> verdict([0.30, 0.31], [0.40, 0.42], higher_is_better=False).kept  # a loss, lower is better
    True
    >>> same = [0.239, 0.968, 0.803, 0.448]  # the same scores in another order: their sums differ by 1e-16
    >>> verdict([0.448, 0.803, 0.968, 0.239], same, higher_is_better=True).reason
    'no gain (+0.0000, se 0.2342)'
    """
    if not candidate or not current:
        raise ValueError(f"verdict: expected scores on both sides, got {len(candidate)} and {len(current)}")
    bad = [v for v in (*candidate, *current) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"verdict: scores must be finite numbers, got {bad[0]!r}")
    (mc, vc), (mb, vb) = _mean_var(candidate), _mean_var(current)
    sign = 1.0 if higher_is_better else -1.0
    gain = sign * (mc - mb)
    # (equal scores summed in another order differ in their last bits: 1e-16 is no gain, and a gain
    # equal to its standard error is not beyond it whichever way the rounding fell)
    tie = 1e-9 * max(1.0, abs(mc), abs(mb))
    if abs(gain) <= tie:
        gain = 0.0
    if len(candidate) < 2 or len(current) < 2:
        return Verdict(False, gain, math.inf, "one run on a side: the noise is unknown")
    se = math.sqrt(vc / len(candidate) + vb / len(current))
    if gain > se + tie and gain > 0:
        return Verdict(True, gain, se, f"gain {gain:+.4f} > noise (se {se:.4f})")
    if gain <= 0:
        return Verdict(False, gain, se, f"no gain ({gain:+.4f}, se {se:.4f})")
    return Verdict(False, gain, se, f"gain {gain:+.4f} within the noise (se {se:.4f})")
