"""The recipe's decision rule: keep a change only when its gain is above one standard error.

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

One standard error is a weak bar, not a test of significance: a change with no effect at all
passes it about 1 time in 6, more often with few runs (:func:`chance_passed`: 18 % with 6 pairs,
21 % with 3), so a walk of a dozen candidates keeps about two by chance alone. It is what the
recipe's benchmarks were decided by, and every verdict says it as what it is: a gain "above one
standard error", never "beyond the noise". The gain and its standard error are printed by one
formatter (:func:`gain_and_se`), with enough digits that the verdict can be checked from them.

With one run on either side (one pair) the noise is unknown and nothing can be shown to beat it:
the candidate is scrapped (score more seeds or folds). A **tie** (every matched pair the same
score, or, unmatched, every run of both sides the same score) is scrapped and said to be one, not
"no gain, se 0": a standard error of 0 measured on a score that moves in steps (accuracy over N
validation series moves by 1/N) says that the validation split cannot tell the two apart, not
that they are known to be equal (:func:`cannot_tell`); where every run of both sides predicted the
training mean (their mean guards set each model aside), a tie compares no settings at all, and says
so (:func:`all_at_mean`, the caller knowing it).

Example (a language model's three forward-chaining folds: the later folds score much better for
every configuration; the candidate is better on each):
    >>> current, candidate = [2.933, 2.525, 2.853], [2.909, 2.484, 2.821]
    >>> v = verdict(candidate, current, higher_is_better=False, paired=True)
    >>> v.kept, round(v.gain, 4), round(v.se, 4)
    (True, 0.0323, 0.0049)
    >>> verdict(candidate, current, higher_is_better=False).reason  # as unmatched samples
    'gain +0.0323 not above one standard error (se 0.1799)'
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
    no_spread: bool = False
    """Kept with a standard error of 0: every paired difference the same (unpaired: every run of
    each side the same score), so there was no bar above 0 to clear (:func:`equal_differences`)."""


def equal_differences(n: int, paired: bool) -> str:
    """Why a gain with a standard error of 0 is kept, in the words :func:`verdict` and study.html
    share: ``n`` paired differences that are all equal, or (unpaired) sides whose runs each scored
    the same, leave no spread to measure a standard error from, and the rule (gain above the
    standard error) then keeps any gain over 0; "above one standard error" would claim a bar that
    was never measured.

    >>> equal_differences(2, True)
    "the 2 paired differences are equal: no spread to measure a standard error from; the recipe's rule counts a gain over 0 as kept"
    """
    same = f"the {n} paired differences are equal" if paired else "every run of each side scored the same"
    return f"{same}: no spread to measure a standard error from; the recipe's rule counts a gain over 0 as kept"


def cannot_tell(resolution: float | None = None, metric: str | None = None) -> str:
    """What a tie says of the scores, in the words ``rnnlab recipe`` and ``rnnlab compare`` share:
    the validation split could not tell the configurations apart, and what can. ``resolution`` is
    the smallest change of the score one validation series makes (accuracy over N series: 1/N),
    where the caller knows it. ``metric``: the score's name (``"val_acc"``, ``"val_loss@kept"``,
    ``"loss"``), where the caller knows it: a finer metric is advised only for one that counts
    series right (accuracy; unknown: maybe), since the loss and the other continuous scores
    (rmse, R², ...) are as fine as scores get.

    >>> cannot_tell(1 / 16)
    'one validation series is 0.0625 of the score here: the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can'
    >>> cannot_tell()
    'the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can'
    >>> cannot_tell(metric="val_loss"), cannot_tell(metric="val_rmse@kept")
    ('the validation split cannot tell these apart; more folds or seeds can', 'the validation split cannot tell these apart; more folds or seeds can')
    """
    _check_resolution("cannot_tell", resolution)
    step = f"one validation series is {resolution:.3g} of the score here: " if resolution is not None else ""
    finer = ", or a finer metric such as val_loss," if metric is None or _counts_right(metric) else ""
    return f"{step}the validation split cannot tell these apart; more folds or seeds{finer} can"


def _counts_right(metric: str) -> bool:
    """Whether the score ``metric`` names (a split's prefix and an ``@`` suffix aside) counts series
    right, in steps of one series, as accuracy does.

    >>> _counts_right("val_acc@kept"), _counts_right("acc"), _counts_right("val_loss")
    (True, True, False)
    """
    name = metric.split("@", 1)[0]
    head, _, rest = name.partition("_")
    return (rest if rest and head in ("train", "val", "test") else name) == "acc"


def all_at_mean(baseline: str = "the training mean", runs: str = "every run of both sides") -> str:
    """What a tie says, in place of :func:`cannot_tell`, where every run of both sides (``runs``,
    as the caller names them) predicted ``baseline`` (each mean guard set its model aside: ``[task]
    mean_guard``; a forecaster's baseline is its reference forecast): their scores are that
    prediction's, equal to the bit on each fold whatever the settings, so the settings were not
    compared at all, and no more folds, seeds or other metric can tell them apart. For a
    regression, what can help: the fit findings' remedy (:func:`rnnlab.doctor.fit.signal_checks`).

    >>> print(all_at_mean("seasonal naive"))
    every run of both sides predicted seasonal naive: the mean guard (task.mean_guard) found no model better than it on validation, so these settings were not compared at all, and more folds, seeds or another metric only score the same prediction again
    >>> from rnnlab.doctor.fit import signal_checks
    >>> all_at_mean().endswith("to find a model that beats it, " + signal_checks(values=True))
    True
    """
    said = (f"{runs} predicted {baseline}: the mean guard (task.mean_guard) found no model better "
            "than it on validation, so these settings were not compared at all, and more folds, seeds or another "
            "metric only score the same prediction again")
    if baseline == "the training mean":  # (a forecaster's reference forecast has no such findings' remedy)
        from rnnlab.doctor.fit import signal_checks

        said += f"; to find a model that beats it, {signal_checks(values=True)}"
    return said


def _check_resolution(who: str, resolution: float | None) -> None:
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"{who}: expected a positive resolution (1/N for accuracy over N series), got {resolution!r}")


def tolerance(*values: float) -> float:
    """How far apart two scores may be and still be the same score: equal scores summed in another
    order differ in their last bits (1e-16), which is no difference, and a gain equal to its
    standard error is not above it whichever way the rounding fell."""
    return 1e-9 * max(1.0, *(abs(v) for v in values))


def gain_and_se(gain: float, se: float) -> tuple[str, str]:
    """The gain (signed) and its standard error as every verdict prints them: the standard error
    to two significant digits (four decimals at least, as the figures beside them), the gain to
    the same decimal place, and more places where a gain would print as its standard error though
    the two differ, so that whether the gain is above it can be read from the printed figures.

    >>> gain_and_se(9.1e-5, 5.9e-5), gain_and_se(5.2e-5, 7.0e-5)
    (('+0.000091', '0.000059'), ('+0.000052', '0.000070'))
    >>> gain_and_se(0.0323, 0.0049), gain_and_se(0.0195, 0.0192), gain_and_se(0.00012, 0.000118)
    (('+0.0323', '0.0049'), ('+0.0195', '0.0192'), ('+0.000120', '0.000118'))
    >>> gain_and_se(0.1, 3.7e-17)  # (the se of equal differences, in the float's last bits)
    ('+0.1000', '0.0000')
    """
    places = 4
    # (an se within the float's noise of 0, 1e-17 from identical differences, is 0: no places for it)
    if math.isfinite(se) and se > tolerance(gain, se):
        places = min(15, max(places, 1 - math.floor(math.log10(se))))
    if math.isfinite(gain) and math.isfinite(se):
        # (past 15 places a double has no more digits to tell them apart)
        while (places < 15 and gain > 0 and f"{gain:.{places}f}" == f"{se:.{places}f}"
               and abs(gain - se) > tolerance(gain, se)):
            places += 1
    return f"{gain:+.{places}f}", (f"{se:.{places}f}" if math.isfinite(se) else "unknown")


def chance_passed(pairs: int) -> float:
    """How often a change with no effect passes the rule with ``pairs`` paired runs: the chance
    that a mean of normal differences around 0 is above one of its standard errors, P(T > 1) for
    Student's t with ``pairs - 1`` degrees of freedom (Simpson's rule on its density).

    >>> [round(chance_passed(n), 3) for n in (2, 3, 6, 15, 1000)]
    [0.25, 0.211, 0.182, 0.167, 0.159]
    """
    if pairs < 2:
        raise ValueError(f"chance_passed: expected 2 or more pairs (one has no standard error), got {pairs}")
    nu = pairs - 1
    scale = math.exp(math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2)) / math.sqrt(nu * math.pi)
    steps = 400  # (even; the density is smooth on [0, 1]: the sum is exact to 1e-10)
    h = 1.0 / steps
    total = sum((1 if i in (0, steps) else 4 if i % 2 else 2) * (1 + (i * h) ** 2 / nu) ** (-(nu + 1) / 2)
                for i in range(steps + 1))
    return 0.5 - scale * total * h / 3


def weak_bar(pairs: int | None = None) -> str:
    """What one standard error is as a bar, in the words every explanation of the rule uses: a
    weak one, with how often a change that does nothing passes it (:func:`chance_passed`, for
    ``pairs`` paired runs where known).

    >>> weak_bar(6)
    'a weak bar, not a test of significance: a change with no effect passes it 18 % of the time with 6 pairs'
    >>> weak_bar()
    'a weak bar, not a test of significance: a change with no effect passes it about 1 time in 6, more often with few runs'
    """
    said = "a weak bar, not a test of significance: a change with no effect passes it"
    if pairs is not None and pairs >= 2:
        return f"{said} {round(100 * chance_passed(pairs))} % of the time with {pairs} pairs"
    return f"{said} about 1 time in 6, more often with few runs"


def fold_tie(a: Sequence[float], b: Sequence[float], sizes: Sequence[int] | None = None) -> str | None:
    """Why two lists of fold scores, the same folds in the same order, are a tie (no ranking), or
    None. The rule of :func:`verdict`'s tie (the same score on every fold), and, for the mean of
    such scores: the same mean; or, where ``sizes`` gives each fold's number of validation series
    and the scores are accuracies over them, the same number right over the folds (the means then
    differ only by which fold, of 22 series or of 23, held the errors), or means closer than one
    validation series can move the score (1/(folds × the largest fold's series)).

    >>> sizes = [23, 22, 22]
    >>> print(fold_tie([22 / 23, 1.0, 21 / 22], [1.0, 21 / 22, 21 / 22], sizes))
    the same number right over the folds (65 of 67 validation series): the 0.00066 between the means is only which fold held the errors
    >>> fold_tie([22 / 23, 1.0, 21 / 22], [1.0, 21 / 22, 20 / 22], sizes) is None
    True
    >>> fold_tie([31 / 34, 32 / 33], [30 / 34, 32 / 33], [34, 33]) is None  # (one more right: 1/68 apart)
    True
    >>> fold_tie([0.9, 0.8], [0.9, 0.8]), fold_tie([0.9, 0.8], [0.8, 0.9])
    ('the same score on every fold', 'the same mean score')
    """
    if len(a) == len(b) >= 2 and verdict(a, b, higher_is_better=True, paired=True).tie:
        return "the same score on every fold"
    if not a or not b:
        return None
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    if abs(ma - mb) <= tolerance(ma, mb):
        return "the same mean score"
    if sizes is None or not (len(sizes) == len(a) == len(b)) or min(sizes) < 1:
        return None
    right = [[x * n for x, n in zip(side, sizes, strict=True)] for side in (a, b)]
    if any(abs(r - round(r)) > 1e-6 for side in right for r in side):  # (no accuracy over these series)
        return None
    ca, cb = (sum(round(r) for r in side) for side in right)
    gap = abs(ma - mb)
    if ca == cb:
        return (f"the same number right over the folds ({ca} of {sum(sizes)} validation series): the {gap:.2g} "
                "between the means is only which fold held the errors")
    step = 1 / (len(sizes) * max(sizes))
    if gap < step and not math.isclose(gap, step, rel_tol=1e-9):  # (one series' gap, rounded below it, is no tie)
        return (f"means {gap:.2g} apart, less than one validation series moves the score ({step:.3g}: 1 of the "
                f"{max(sizes)} of the largest fold, over {len(sizes)} folds)")
    return None


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.inf
    return mean, var


def verdict(candidate: Sequence[float], current: Sequence[float], higher_is_better: bool, *,
            paired: bool = False, resolution: float | None = None, pairs: str = "seed and fold",
            at_mean: str | None = None, metric: str | None = None) -> Verdict:
    """Compare two sets of scores with the rule of this module.

    ``paired=True`` says that the scores are matched, run i of each side on the same seed and
    fold (the caller knows, this function cannot): the standard error is then that of the
    per-run differences; otherwise Welch's, of the two sides as independent samples.
    ``resolution``: the smallest step of the score, where known (:func:`cannot_tell`), which a
    tie's reason names; ``pairs``: what a pair shares, as a tie says it (``rnnlab compare`` pairs
    by seed alone); ``at_mean``: where every run of both sides predicted it (their mean guard's
    baseline, ``"the training mean"``), a tie says so (:func:`all_at_mean`), not that the
    validation split could not tell them apart; ``metric``: the score's name, where known, whose
    tie advises a finer metric only where there is one (:func:`cannot_tell`).

    >>> verdict([0.5], [0.4], higher_is_better=True).reason
    'one run on a side: the noise is unknown'
    >>> verdict([0.30, 0.31], [0.40, 0.42], higher_is_better=False).kept  # a loss, lower is better
    True
    >>> verdict([0.70, 0.90], [0.60, 0.95], higher_is_better=True, paired=True).reason  # +0.10, −0.05
    'gain +0.0250 not above one standard error (se 0.0750)'
    >>> same = [0.239, 0.968, 0.803, 0.448]  # the same scores in another order: their sums differ by 1e-16
    >>> verdict([0.448, 0.803, 0.968, 0.239], same, higher_is_better=True).reason
    'no gain (+0.0000, se 0.2342)'
    >>> verdict([0.0396, 0.0391, 0.0402], [0.0397, 0.0392, 0.0404], higher_is_better=False, paired=True).reason
    'gain +0.000133 above one standard error (se 0.000033)'
    >>> v = verdict([0.96, 1.0], [0.92, 0.96], higher_is_better=True, paired=True, pairs="fold")  # +0.04 on each fold
    >>> v.kept, v.no_spread, v.reason.split(":")[0]
    (True, True, 'gain +0.0400 (se 0.0000)')
    >>> folds = [1.0, 1.0, 21 / 22, 1.0, 1.0, 21 / 22]  # 2 seeds x 3 folds of 22 validation series
    >>> v = verdict(folds, folds, higher_is_better=True, paired=True, resolution=1 / 22)
    >>> v.tie, v.kept, v.reason
    (True, False, 'tie: the same score on every seed and fold (one validation series is 0.0455 of the score here: the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can)')
    >>> mean = [1.31, 1.27, 1.31, 1.27]  # every run predicted the training mean: its RMSE on each fold
    >>> verdict(mean, mean, higher_is_better=False, paired=True, at_mean="the training mean").reason[:95]
    'tie: the same score on every seed and fold (every run of both sides predicted the training mean'
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
    tie = tolerance(mc, mb)
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
        same = f"the same score on every {pairs}" if paired else "every run of both sides scored the same"
        why = all_at_mean(at_mean) if at_mean is not None else cannot_tell(resolution, metric)
        return Verdict(False, gain, se, f"tie: {same} ({why})", paired, tie=True)
    g, s = gain_and_se(gain, se)
    if gain > se + tie and gain > 0 and se <= tie:
        return Verdict(True, gain, se, f"gain {g} (se {s}): {equal_differences(len(candidate), paired)}",
                       paired, no_spread=True)
    if gain > se + tie and gain > 0:
        return Verdict(True, gain, se, f"gain {g} above one standard error (se {s})", paired)
    if gain <= 0:
        return Verdict(False, gain, se, f"no gain ({g}, se {s})", paired)
    return Verdict(False, gain, se, f"gain {g} not above one standard error (se {s})", paired)
