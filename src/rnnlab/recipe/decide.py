"""The recipe's decision rule: keep a change only when it helps by more than the noise.

A candidate and the current configuration are each scored by several training runs (seeds ×
folds of the training split). The candidate is kept when the difference of the mean scores is in
its favour by more than the standard error of that difference, and that standard error is
measured in one of two ways, which the caller chooses (``paired``):

- **paired** (the runs are matched: run i of each side trained on the same seed and fold, the
  same number of runs a side, in the same order; ``rnnlab recipe``'s candidates, the trials of one
  study): the difference of each matched pair is measured, so what the folds and seeds do to
  every configuration alike (a later forward-chaining fold that scores better, a lucky seed)
  cancels out of the noise::

      d_i  = sign · (candidate_i − current_i)
      gain = mean(d)
      se   = sd(d) / sqrt(n)                                     n pairs, sd with n − 1

- **unpaired** (the runs are not matched: other seeds, other folds, other counts): Welch's form,
  from the sample variances of both sides, as independent samples::

      gain = sign · (mean(candidate) − mean(current))
      se   = sqrt(var(candidate) / n_candidate + var(current) / n_current)

``sign`` is +1 when higher is better (val_acc), −1 when lower is (val_loss); the task says which.
Either way the mean of the differences is the difference of the means, and::

    kept ⇔ gain > se  and  gain > 0

With one run on either side (one pair) the noise is unknown and nothing can be shown to beat it:
the candidate is scrapped (score more seeds or folds). A **tie** (every matched pair the same
score, or, unmatched, every run of both sides the same score) is scrapped and said to be one, not
"no gain, se 0": a standard error of 0 measured on a score that moves in steps (accuracy over N
validation series moves by 1/N) says that the validation split cannot tell the two apart, not
that they are known to be equal (:func:`cannot_tell`).

Example (a language model's three forward-chaining folds: the later folds score much better for
every configuration; the candidate is better on each):
    >>> current, candidate = [2.933, 2.525, 2.853], [2.909, 2.484, 2.821]
    >>> v = verdict(candidate, current, higher_is_better=False, paired=True)
    >>> v.kept, round(v.gain, 4), round(v.se, 4)
    (True, 0.0323, 0.0049)
    >>> verdict(candidate, current, higher_is_better=False).reason  # as unmatched samples
    'gain +0.0323 within the noise (se 0.1799)'
    >>> verdict([0.81, 0.84, 0.80], [0.80, 0.83, 0.81], higher_is_better=True, paired=True).kept
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
    paired: bool = False
    """Whether ``se`` is that of the matched runs' differences (else Welch's, of unmatched sides)."""
    tie: bool = False
    """The same score run for run (paired), or on every run of both sides: nothing to tell apart."""


def cannot_tell(resolution: float | None = None) -> str:
    """What a tie says of the scores, in the words ``rnnlab recipe`` and ``rnnlab compare`` share:
    the validation split could not tell the configurations apart, and what can. ``resolution`` is
    the smallest change of the score one validation series makes (accuracy over N series: 1/N),
    where the caller knows it.

    >>> cannot_tell(1 / 16)
    'one validation series is 0.0625 of the score here: the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can'
    >>> cannot_tell()
    'the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can'
    """
    _check_resolution("cannot_tell", resolution)
    step = f"one validation series is {resolution:.3g} of the score here: " if resolution is not None else ""
    return f"{step}the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can"


def _check_resolution(who: str, resolution: float | None) -> None:
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"{who}: expected a positive resolution (1/N for accuracy over N series), got {resolution!r}")


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.inf
    return mean, var


def verdict(candidate: Sequence[float], current: Sequence[float], higher_is_better: bool, *,
            paired: bool = False, resolution: float | None = None) -> Verdict:
    """Compare two sets of scores with the rule of this module.

    ``paired=True`` says that the scores are matched, run i of each side on the same seed and
    fold (the caller knows, this function cannot): the standard error is then that of the
    per-run differences; otherwise Welch's, of the two sides as independent samples.
    ``resolution``: the smallest step of the score, where known (:func:`cannot_tell`), which a
    tie's reason names.

    >>> verdict([0.5], [0.4], higher_is_better=True).reason
    'one run on a side: the noise is unknown'
    >>> verdict([0.30, 0.31], [0.40, 0.42], higher_is_better=False).kept  # a loss, lower is better
    True
    >>> verdict([0.70, 0.90], [0.60, 0.95], higher_is_better=True, paired=True).reason  # +0.10, −0.05
    'gain +0.0250 within the noise (se 0.0750)'
    >>> same = [0.239, 0.968, 0.803, 0.448]  # the same scores in another order: their sums differ by 1e-16
    >>> verdict([0.448, 0.803, 0.968, 0.239], same, higher_is_better=True).reason
    'no gain (+0.0000, se 0.2342)'
    >>> folds = [1.0, 1.0, 21 / 22, 1.0, 1.0, 21 / 22]  # 2 seeds x 3 folds of 22 validation series
    >>> v = verdict(folds, folds, higher_is_better=True, paired=True, resolution=1 / 22)
    >>> v.tie, v.kept, v.reason
    (True, False, 'tie: the same score on every seed and fold (one validation series is 0.0455 of the score here: the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can)')
    """
    if not candidate or not current:
        raise ValueError(f"verdict: expected scores on both sides, got {len(candidate)} and {len(current)}")
    if paired and len(candidate) != len(current):
        raise ValueError(f"verdict: paired scores must be as many a side (run i of each on the same seed and "
                         f"fold), got {len(candidate)} and {len(current)}")
    bad = [v for v in (*candidate, *current) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"verdict: scores must be finite numbers, got {bad[0]!r}")
    _check_resolution("verdict", resolution)
    (mc, vc), (mb, vb) = _mean_var(candidate), _mean_var(current)
    sign = 1.0 if higher_is_better else -1.0
    gain = sign * (mc - mb)
    # (equal scores summed in another order differ in their last bits: 1e-16 is no gain, and a gain
    # equal to its standard error is not beyond it whichever way the rounding fell)
    tie = 1e-9 * max(1.0, abs(mc), abs(mb))
    if abs(gain) <= tie:
        gain = 0.0
    if len(candidate) < 2 or len(current) < 2:
        return Verdict(False, gain, math.inf, "one run on a side: the noise is unknown", paired)
    if paired:
        # (the spread of the differences: what a fold or a seed does to both sides alike is no noise)
        _, vd = _mean_var([sign * (c - b) for c, b in zip(candidate, current, strict=True)])
        se = math.sqrt(vd / len(candidate))
    else:
        se = math.sqrt(vc / len(candidate) + vb / len(current))
    if gain == 0 and se <= tie:
        # (an se of 0 here is no precision: a score in steps that no pair moved by one of them)
        same = "the same score on every seed and fold" if paired else "every run of both sides scored the same"
        return Verdict(False, gain, se, f"tie: {same} ({cannot_tell(resolution)})", paired, tie=True)
    if gain > se + tie and gain > 0:
        return Verdict(True, gain, se, f"gain {gain:+.4f} > noise (se {se:.4f})", paired)
    if gain <= 0:
        return Verdict(False, gain, se, f"no gain ({gain:+.4f}, se {se:.4f})", paired)
    return Verdict(False, gain, se, f"gain {gain:+.4f} within the noise (se {se:.4f})", paired)
