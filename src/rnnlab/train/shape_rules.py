"""The template's rules that read the training split's shape (``adapt.shape = true``).

A fixed default cannot suit both 50 series of 2 classes and 80 series of 40 classes, or 150
steps and 3000. From the training split alone (never the test split), :func:`decide` takes:

* **the validation scheme**: no hold-out when the stratified hold-out would hold fewer than
  :data:`MIN_HELD_SERIES` series of the smallest class (``data.val_fraction`` 0.2: a class of
  fewer than 23 series). In the template the hold-out chooses nothing (its
  ``early_stopping.patience`` is 0: the last epoch's weights are kept either way); it only says
  whether the model overfits, and one to four series a class say little of that for a fifth of
  the training series. Chosen on the tuning sets' real series cut to 5 and 10 a class, scored on
  their left-out training series (docs/template.md, eleventh round): without the hold-out
  better on all eight cuts, by 2 to 7.5 points. The fit budget (:mod:`rnnlab.train.fit_budget`)
  ends on training data. A config with early stopping keeps its hold-out (it needs one).
* **the step budget**: every class in at least :data:`SLOTS_PER_CLASS` batch slots
  (``steps × batch_size / classes``), the most the template's 2000 steps of 16 gave the tuning
  sets (10 classes); so 40 classes get 8000 steps, at most ``adapt.max_steps``.
* **the front-end's pooling**: the last pooling block (or the last block) pools more, by
  factors of 2, until the recurrent layer runs at most :data:`MAX_RECURRENT_STEPS` steps of the
  longest training series; when it had to pool more, all of the pooling then moves to the first
  block (``pool`` 1, 2, 2 → 8, 1, 1 for a series of 2000 steps). The later blocks' kernels then
  span 8 times more of the series: a front-end tuned on series of at most 427 steps would
  otherwise see as little of a series of thousands of steps as it saw of a tenth of one. Chosen
  on fresh draws of stress-local-10x3-long (docs/template.md, sixth round): 0.88 against 0.72
  with the pooling at the last block, MiniRocket 0.90 on the same draws; it also costs less, the
  later blocks running on an eighth of the steps. The other way, for short series: the last
  pooling block pools less, by halves down to no pooling (then the block before it), until the
  recurrent layer runs at least :data:`MIN_RECURRENT_STEPS` steps, or all the steps there are
  without pooling (strides are kept). The template's ×4 would leave a series of 3 steps one
  recurrent step: the recurrent weights then never act and get no gradient. 6 is the fewest
  the template was tuned with (ItalyPowerDemand, 24 steps pooled ×4), so no series of 21 steps
  or more loses any of the template's pooling (12 steps: ×2 → 6; 3 steps: none → 3). Both are
  read on the longest series; where series differ in length and the pooling leaves the shortest
  fewer steps than that, the line says what it leaves the shortest and the median series
  (``pool ×4 → 100 steps (the shortest series, 16 steps: 4; the median, 16 steps: 4)``).
* **the head's summary over time**: below :data:`TINY_CLASS` series in the smallest
  class, the head joins the maximum over time of the recurrent outputs and of the front-end's
  features to their mean (``model.head.pooling`` and ``frontend_pooling`` "mean" →
  "mean_max"). With two series of a class, the model cannot learn from examples that a feature
  means the same wherever it occurs; the maximum says so by construction, where the mean alone
  lets it memorise where each training series had it. Chosen on fresh draws of the generated
  sets' classes, never their test splits (docs/template.md, fifth round): stress-local-40x2
  0.92 against the mean's 0.345 (the maximum alone 0.965, but it lost to the mean on
  stress-amplitude-6x3). Unless the maximum misleads (:attr:`Shape.max_misleads`): where each
  series has peaks of its own, the model memorises the few training series by them. Read before
  any training from random front-ends of the model's own blocks
  (:func:`rnnlab.train.shape_probes.summary_accuracy`): when joining the maximum to the mean
  places fewer training series next to one of their class, by more than
  :data:`MAX_WORSE_ERRORS` standard errors over the front-ends, the head keeps the mean alone.
  Chosen on the tuning sets' real series cut to 2 and 3 a class (their left-out training series
  for fresh draws; docs/template.md, eleventh round): OSULeaf:2 0.391 against 0.244 with the
  maximum, 0.689 with the smooth series' noise held back too (below; MiniRocket 0.671); no
  generated set's decision changes (the maximum places 0.29 to 0.39 more of the local sets'
  series).
  With larger classes the head joins the maximum only where it tells: where the same random
  front-ends place at least :data:`MAX_GAIN` more of the training series next to one of their
  class with the maximum joined, by more than :data:`MAX_BETTER_ERRORS` standard errors. A short
  motif among thousands of steps is a few pooled steps of hundreds: its mean over time is lost
  among them, its maximum is the motif. Chosen on a tester's recordings (4 classes of 40 series,
  4000 steps, the class a 40-step motif; docs/template.md, seventeenth round) and a generated set
  of that shape (stress-local-4x40-4000-short): with the mean alone the model fit its training
  series (accuracy 1) and scored 0.775 on the generated set's fresh draws (seeds 0-1; the
  tester's test series at chance), with the maximum joined 0.950, in a third of the CPU time.
  There the maximum places 0.36 to 0.50 more of the training series with their class; on the
  tuning and sanity sets at most 0.028 more (GunPoint), so their decisions stay as they were.
* **the series' level and scale**: below :data:`TINY_CLASS` series in the smallest
  class, with ``data.series_scale`` on, a level or scale channel whose spread over the training
  series is within its sampling error is 0 (``data.series_scale = "informative"``), and the
  head reads the level and scale straight, beside its summaries (``model.head.input_pooling =
  "mean"``: the input's mean over time, the per-series-scaled channels' being 0). With three
  series of a class, a level that is noise standardised to unit spread gives every training
  series a code of its own to memorise, and the scale, through the convolutions, batch norm and
  pooling, is one feature among hundreds. Chosen on fresh draws of stress-amplitude-6x3
  (docs/template.md, seventh round): both halves 0.767 and 0.833 (seeds 0 and 1) against 0.667
  and 0.600, either half alone 0.667 and 0.567 (seed 0); as shipped 0.667 and 0.833. It zeroes
  both channels of stress-phase-12x2 (noise there), whose draws rose from 0.467 to 0.733, and
  none of the local sets'.
* **noise on the input**: below :data:`TINY_CLASS` series in the smallest class,
  ``model.input_noise`` is at least ``adapt.input_noise`` (0.2: Gaussian noise of that std
  on the normalized input at each training forward). With two or three series of a class, a
  model reaches training accuracy 1 by fitting each series' own noise; fresh noise at every pass
  leaves it only what the series of a class share. Chosen on fresh draws of the generated sets
  (docs/template.md, eighth round): stress-phase-12x2 1.00 against 0.72 without it (seeds 0-2),
  the mean over the four sets compared 0.882 against 0.814; 0.1 and 0.3 within 0.005 of it. On
  stress-amplitude-6x3, whose class is the strength of the signal against the noise, 0.744
  against 0.778 with seeds 0-2, but 0.761 against 0.739 over seeds 0-5: within the seeds'
  spread (ninth round). Read on all seven generated sets' draws, 0.1 and 0.2 are within a draw
  in 200. Not on smooth series (:attr:`Shape.smooth`: their own noise from step to step,
  :func:`rnnlab.train.shape_probes.step_noise`, below :data:`MIN_STEP_NOISE` of their std): they
  have no noise of their own to memorise, and their classes may differ by details that the
  noise buries (a leaf outline's serrations). Chosen on the tuning sets' cuts (eleventh round):
  OSULeaf:2 0.689 against 0.391 with the noise, OSULeaf:3 0.583 against 0.429; GunPoint:2 the
  same. The smooth sets' step noise is at most 0.017, the generated sets' at least 0.139.
* **dropout on the head's features**: below :data:`TINY_CLASS` series in the smallest
  class, when an informative level or scale alone tells the training classes apart (the nearest
  class mean, each series left out of its own class's mean, is right for at least
  :data:`ALONE_ACCURACY` of them: :func:`alone_accuracy`), ``model.head.dropout`` is at least
  ``adapt.head_dropout`` (0.5). With three series of a class the head, one linear layer over a few
  hundred summaries, fits them with whichever summaries happen to differ, and a fresh series is
  shifted to a neighbouring class; dropping summaries at random makes it lean on the one that
  is always there and carries the class. Where the class is a short motif among thousands of
  steps, the few summaries that see the motif are the ones dropped: on three long local sets the
  same dropout lost 6 to 12 points of fresh draws. Their level and scale tell their classes apart
  for at most 44 % of the training series, stress-amplitude-6x3's scale for all of them; chosen
  on that set's fresh draws, seeds 0-5: 0.961 with 0.5, 0.911 with 0.3, 0.761 without
  (docs/template.md, tenth round). The ``rnnlab init`` template turns it off
  (``adapt.head_dropout = 0``): with its dilated blocks the same draws score 0.950 without the
  dropout, 0.939 with 0.3 and 0.889 with 0.5, which left two seeds of six unfitted (thirteenth
  round).

Each rule only raises what the config sets (the hold-out it removes and the pooling it lowers
for short series are the exceptions), so applying the rules to their own result changes
nothing: a run's recorded ``config.toml`` repeats the run, and a resumed run decides the same.

Example:
    >>> from rnnlab.config import parse_config, TEMPLATE
    >>> d = decide(Shape(classes=40, smallest_class=2, series=80, length=2000), parse_config(TEMPLATE))
    >>> print(d.line())
    shape: 40 classes × 2 series, length 2000: no hold-out (a 0.2 hold-out would hold 1 < 5 series of the smallest class, 2; the last epoch's weights); 8000 steps (3200 batch slots per class); pool ×8 at the first block → 250 steps; head: mean and max over time and the informative level and scale; input noise 0.2 (a class has 2 < 4 series)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rnnlab.config import MAX_WINDOW, Config, ConvBlockConfig
from rnnlab.data import held_out_count

#: Below this many series in the smallest class, the rules for tiny classes (the head's summaries
#: over time, the level and scale, input noise, head dropout). 11 gained on the tuning sets' cuts
#: to 5 and 10 a class but lost 6 and 24 points on ACSF1 and PickupGestureWiimoteZ (docs/template.md,
#: eleventh round): taken back.
TINY_CLASS = 4
#: The fewest series of the smallest class that a validation hold-out must hold to be kept.
MIN_HELD_SERIES = 5
#: Batch slots (``steps × batch_size / classes``) every class gets at least.
SLOTS_PER_CLASS = 3200
#: The most steps the recurrent layer runs after the front-end's pooling.
MAX_RECURRENT_STEPS = 250
#: The fewest steps the front-end's pooling leaves the recurrent layer (or all there are without
#: pooling): the fewest the template was tuned with, ItalyPowerDemand's 24 steps pooled ×4.
MIN_RECURRENT_STEPS = 6
#: The leave-one-out accuracy at which a series' level or scale alone tells the classes apart.
ALONE_ACCURACY = 0.9
#: How many standard errors (over the random front-ends) fewer training series the maximum over
#: time, joined to the mean, may place with their class
#: (:func:`rnnlab.train.shape_probes.summary_accuracy`) before the head is left with the mean.
MAX_WORSE_ERRORS = 2.0
#: With classes of :data:`TINY_CLASS` series or more: how many more of the training series the
#: maximum over time, joined to the mean, must place next to one of their class (a share of the
#: series), and by how many standard errors, for the head to join it.
MAX_GAIN = 0.1
MAX_BETTER_ERRORS = 2.0
#: The series' own noise from step to step (:func:`rnnlab.train.shape_probes.step_noise`) below
#: which no noise joins the input: the classes of smooth series may differ by what it would bury.
MIN_STEP_NOISE = 0.05


@dataclass(frozen=True)
class Shape:
    """What the rules read from the training split: classes, the smallest class's series,
    all series, the longest series' steps."""

    classes: int
    smallest_class: int
    series: int
    length: int
    noise: tuple[str, ...] = ()
    """With ``data.series_scale``: which of each series' level and scale (``"level"``, ``"scale"``,
    with the channel's index when there are several) spread over the training series within their
    sampling error (:func:`rnnlab.data.normalize.informative_level_and_scale`)."""
    alone: tuple[str, ...] = ()
    """Below :data:`TINY_CLASS` series in the smallest class: which of the informative
    level and scale tell the training classes apart alone (:func:`alone_accuracy` at least
    :data:`ALONE_ACCURACY`)."""
    summary_accuracy: tuple[float, float, float] | None = None
    """With a front-end and at least 2 series in the smallest class: the share of the training series whose nearest other series is of their class, by
    the mean over time of random front-ends' features and by their mean and maximum, and the
    standard error of the difference (:func:`rnnlab.train.shape_probes.summary_accuracy`)."""
    step_noise: float | None = None
    """Below :data:`TINY_CLASS` series in the smallest class: the series' noise from step
    to step in units of their std (:func:`rnnlab.train.shape_probes.step_noise`)."""
    shortest: int | None = None
    """Series of unequal lengths: the shortest series' steps (None: every series has ``length``)."""
    median: int | None = None
    """Series of unequal lengths: the median series' steps (the lower of the middle two)."""

    @property
    def max_misleads(self) -> bool:
        """The maximum over time places fewer series by more than :data:`MAX_WORSE_ERRORS` standard errors."""
        if self.summary_accuracy is None:
            return False
        mean, mean_max, error = self.summary_accuracy
        return mean_max < mean - MAX_WORSE_ERRORS * error

    @property
    def max_tells(self) -> bool:
        """The maximum places at least :data:`MAX_GAIN` more series, by more than
        :data:`MAX_BETTER_ERRORS` standard errors."""
        if self.summary_accuracy is None:
            return False
        mean, mean_max, error = self.summary_accuracy
        return mean_max - mean >= MAX_GAIN and mean_max - mean > MAX_BETTER_ERRORS * error

    @property
    def smooth(self) -> bool:
        """The series' own step noise is below :data:`MIN_STEP_NOISE`."""
        return self.step_noise is not None and self.step_noise < MIN_STEP_NOISE

    @classmethod
    def of(cls, y: np.ndarray, lengths: np.ndarray) -> Shape:
        """The shape of labels ``y`` and valid ``lengths``.

        >>> Shape.of(np.array([0, 0, 1, 1, 1]), np.array([10, 12, 9, 12, 11]))
        Shape(classes=2, smallest_class=2, series=5, length=12, noise=(), alone=(), summary_accuracy=None, step_noise=None, shortest=9, median=11)
        """
        counts = np.unique(np.asarray(y), return_counts=True)[1]
        steps = np.sort(np.asarray(lengths))
        shortest, median = (None, None) if steps[0] == steps[-1] else (int(steps[0]), int(steps[(len(steps) - 1) // 2]))
        return cls(int(len(counts)), int(counts.min()), int(len(y)), int(steps[-1]), shortest=shortest, median=median)


@dataclass(frozen=True)
class ShapeDecision:
    """What :func:`decide` chose, and why (``adapt.json``'s ``shape`` part)."""

    shape: Shape
    val_fraction: float
    validation: str
    steps: int | None
    budget: str
    pools: tuple[int, ...] | None
    recurrent_steps: int
    pooling: str
    summary: tuple[str, str] | None = None
    """``(model.head.pooling, model.head.frontend_pooling)`` when the rule changed them."""
    level_and_scale: tuple[str, str] | None = None
    """``(data.series_scale, model.head.input_pooling)`` when the rule changed them."""
    input_noise: float | None = None
    """``model.input_noise`` when the rule raised it."""
    head_dropout: float | None = None
    """``model.head.dropout`` when the rule raised it."""
    mean_alone: bool = False
    """The summary rule held the maximum back (:attr:`Shape.max_misleads`)."""
    smooth: bool = False
    """The noise rule held the input noise back (:attr:`Shape.smooth`)."""
    max_tells: bool = False
    """The summary rule joined the maximum for classes of :data:`TINY_CLASS` series or more
    (:attr:`Shape.max_tells`)."""

    def line(self) -> str:
        """The one line printed at the start of the run."""
        s = self.shape
        mean_alone = []
        if self.mean_alone and s.summary_accuracy is not None:
            mean_alone = [f"the mean over time ({_neighbours(s.summary_accuracy)})"]
        if self.max_tells and s.summary_accuracy is not None:  # (not a tiny class's rule: no "a class has" below)
            return (f"shape: {_sizes(s)}, length {s.length}: {self.validation}; {self.budget}; {self.pooling}; "
                    f"head: mean and max over time ({_neighbours(s.summary_accuracy)})")
        parts = (["mean and max over time"] if self.summary is not None else mean_alone) + \
            ([f"the informative level and scale{_noise(s.noise)}"] if self.level_and_scale is not None else [])
        quiet = ([f"no input noise (smooth series: step noise {s.step_noise:.3f} < {MIN_STEP_NOISE:g})"]
                 if self.smooth and s.step_noise is not None else [])
        tiny = ([f"head: {' and '.join(parts)}"] if parts else []) + quiet + \
            ([f"input noise {self.input_noise:g}"] if self.input_noise is not None else []) + \
            ([f"head dropout {self.head_dropout:g}, the {' and the '.join(s.alone)} alone telling the classes apart"]
             if self.head_dropout is not None else [])
        summary = "" if not tiny else f"; {'; '.join(tiny)} (a class has {s.smallest_class} < " \
            f"{TINY_CLASS} series)"
        return (f"shape: {_sizes(s)}, length {s.length}: "
                f"{self.validation}; {self.budget}; {self.pooling}{summary}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pools"] = list(self.pools) if self.pools is not None else None
        out["line"] = self.line()
        return out


def recurrent_length(length: int, blocks: list[ConvBlockConfig]) -> int:
    """Steps left of ``length`` after the conv blocks (their strides and pooling).

    >>> recurrent_length(2000, [ConvBlockConfig(channels=8, kernel_size=7), ConvBlockConfig(channels=8, pool=4)])
    500
    """
    for b in blocks:
        length = b.steps_after(length)
    return length


def decide(shape: Shape, config: Config) -> ShapeDecision:
    """The rules of this module applied to ``shape`` under ``config``.

    >>> from rnnlab.config import parse_config, TEMPLATE
    >>> decide(Shape(classes=2, smallest_class=20, series=40, length=3), parse_config(TEMPLATE)).pooling
    'no pooling → 3 steps (pool ×4 would leave 1; the rule keeps at least 6 steps, or all there are)'
    """
    tc = config.training
    held = held_out_count(shape.smallest_class, config.data.val_fraction)
    few = (f"a {config.data.val_fraction:g} hold-out would hold {held} < {MIN_HELD_SERIES} series of the smallest "
           f"class, {shape.smallest_class}")
    if held >= MIN_HELD_SERIES or config.data.val_fraction == 0:
        val_fraction = config.data.val_fraction
        validation = (f"hold-out {val_fraction:g}" if val_fraction else "no hold-out (data.val_fraction = 0)")
    elif tc.early_stopping.patience > 0:
        val_fraction = config.data.val_fraction
        validation = f"hold-out {val_fraction:g} kept although {few} (early stopping needs it)"
    else:
        val_fraction = 0.0
        validation = f"no hold-out ({few}; the last epoch's weights)"

    if tc.steps is None:
        steps, budget = None, f"training.epochs = {tc.epochs} kept (the step rule needs training.steps)"
    else:
        train_classes = shape.classes
        needed = math.ceil(SLOTS_PER_CLASS * train_classes / tc.batch_size / 100) * 100
        steps = min(max(tc.steps, needed), config.adapt.max_steps)
        capped = " (adapt.max_steps)" if needed > config.adapt.max_steps else ""
        budget = f"{steps} steps ({steps * tc.batch_size // train_classes} batch slots per class{capped})"

    frontend = config.model.frontend
    if frontend is None:
        pools, recurrent, pooling = None, shape.length, f"no front-end: {shape.length} recurrent steps"
    else:
        blocks = frontend.conv_blocks
        where = max((i for i, b in enumerate(blocks) if b.pool > 1), default=len(blocks) - 1)
        given = [b.pool for b in blocks]
        pools = list(given)
        while (recurrent_length(shape.length, _with_pools(blocks, pools)) > MAX_RECURRENT_STEPS
               and pools[where] * 2 <= MAX_WINDOW):
            pools[where] *= 2
        first = pools != given and len(pools) > 1 and math.prod(pools) <= MAX_WINDOW
        if first:  # the later blocks' kernels then span as much more of the series as it pools more
            pools = [math.prod(pools)] + [1] * (len(pools) - 1)
        strides = math.prod(b.stride for b in blocks)
        before = recurrent_length(shape.length, _with_pools(blocks, pools))
        least = min(MIN_RECURRENT_STEPS, recurrent_length(shape.length, _with_pools(blocks, [1] * len(pools))))
        while recurrent_length(shape.length, _with_pools(blocks, pools)) < least:
            last = max(i for i, p in enumerate(pools) if p > 1)  # some block pools: without pooling it reaches least
            pools[last] //= 2
        recurrent = recurrent_length(shape.length, _with_pools(blocks, pools))
        total = strides * math.prod(pools)
        if recurrent > before:
            what = "no pooling" if math.prod(pools) == 1 else f"pool ×{math.prod(pools)}"
            pooling = (f"{what}{f' (stride ×{strides})' if strides > 1 else ''} → {recurrent} steps (pool "
                       f"×{strides * math.prod(given)} would leave {before}; the rule keeps at least "
                       f"{MIN_RECURRENT_STEPS} steps, or all there are)")
        else:
            pooling = f"pool ×{total}{' at the first block' if first else ''} → {recurrent} steps"
        pooling += _short_series(shape, _with_pools(blocks, pools))
        pools = tuple(pools)
    head = config.model.head
    tiny = shape.smallest_class < TINY_CLASS
    averaged = "mean" in (head.pooling, head.frontend_pooling)
    mean_alone = tiny and averaged and shape.max_misleads
    max_tells = not tiny and averaged and shape.max_tells
    joined = (tiny and averaged and not mean_alone) or max_tells
    summary = (_with_max(head.pooling), _with_max(head.frontend_pooling)) if joined else None
    level_and_scale = None
    if tiny and config.data.series_scale:
        level_and_scale = ("informative", "mean" if head.input_pooling == "none" else head.input_pooling)
    noisy = tiny and config.model.input_noise < config.adapt.input_noise
    smooth = noisy and shape.smooth
    input_noise = config.adapt.input_noise if noisy and not smooth else None
    head_dropout = None
    if level_and_scale is not None and shape.alone and head.dropout < config.adapt.head_dropout:
        head_dropout = config.adapt.head_dropout
    return ShapeDecision(shape, val_fraction, validation, steps, budget, pools, recurrent, pooling, summary,
                         level_and_scale, input_noise, head_dropout, mean_alone, smooth, max_tells)


def _short_series(shape: Shape, blocks: list[ConvBlockConfig]) -> str:
    """What the pooling, sized on the longest series, leaves the shortest and the median series,
    where it leaves the shortest fewer recurrent steps than the rule keeps of the longest
    (:data:`MIN_RECURRENT_STEPS`, or all there are without pooling); else nothing. The rule does not
    pool less for them: a bundled set's decision would change (JapaneseVowels, 7 to 26 steps,
    pooled ×4 on its longest, leaves its shortest 2 steps)."""
    if shape.shortest is None or shape.median is None:
        return ""
    steps = recurrent_length(shape.shortest, blocks)
    if steps >= min(MIN_RECURRENT_STEPS, recurrent_length(shape.shortest, _with_pools(blocks, [1] * len(blocks)))):
        return ""
    return (f" (the shortest series, {shape.shortest} steps: {steps}; the median, {shape.median} steps: "
            f"{recurrent_length(shape.median, blocks)})")


def _sizes(s: Shape) -> str:
    if s.series == s.classes * s.smallest_class:  # balanced: every class as small as the smallest
        return f"{s.classes} classes × {s.smallest_class} series"
    return f"{s.series} series, {s.classes} classes (smallest {s.smallest_class})"


def _neighbours(accuracy: tuple[float, float, float]) -> str:
    return (f"with the max, {accuracy[1]:.2f} of the series' nearest neighbours are of their class, "
            f"without {accuracy[0]:.2f}")


def _noise(noise: tuple[str, ...]) -> str:
    return f" ({' and '.join(noise)}: noise, set to 0)" if noise else ""


def _with_max(pooling: str) -> str:
    return "mean_max" if pooling == "mean" else pooling


def _with_pools(blocks: list[ConvBlockConfig], pools: list[int] | tuple[int, ...]) -> list[ConvBlockConfig]:
    return [b.model_copy(update={"pool": p}) for b, p in zip(blocks, pools, strict=True)]


def apply(config: Config, decision: ShapeDecision) -> Config:
    """``config`` with the decision's hold-out, steps, pooling, summary over time, level and scale,
    input noise and head dropout."""
    data = config.data.model_copy(update={"val_fraction": decision.val_fraction})
    if decision.level_and_scale is not None:
        data = data.model_copy(update={"series_scale": decision.level_and_scale[0]})
    training = config.training
    if decision.steps is not None:
        training = training.model_copy(update={"steps": decision.steps})
    model = config.model
    if decision.pools is not None and model.frontend is not None:
        blocks = _with_pools(model.frontend.conv_blocks, decision.pools)
        if model.frontend.blocks:
            frontend = model.frontend.model_copy(update={"blocks": blocks})
        else:  # the single strided conv: its keys stay, it gains the pooling as a one-block list
            frontend = type(model.frontend).model_validate({"blocks": [b.model_dump() for b in blocks]})
        model = model.model_copy(update={"frontend": frontend})
    if decision.summary is not None:
        head = model.head.model_copy(update={"pooling": decision.summary[0], "frontend_pooling": decision.summary[1]})
        model = model.model_copy(update={"head": head})
    if decision.level_and_scale is not None:
        model = model.model_copy(update={"head": model.head.model_copy(update={"input_pooling": decision.level_and_scale[1]})})
    if decision.input_noise is not None:
        model = model.model_copy(update={"input_noise": decision.input_noise})
    if decision.head_dropout is not None:
        model = model.model_copy(update={"head": model.head.model_copy(update={"dropout": decision.head_dropout})})
    return config.model_copy(update={"data": data, "training": training, "model": model})


def training_shape(config: Config) -> Shape:
    """The shape of ``config``'s whole training split (before any hold-out; the test split
    plays no part).

    The split is loaded as the run loads it, with the config's ``data.normalize`` (so it refuses
    only what the run refuses: ``"none"`` would refuse series beyond float32 that the run scales,
    and round away the level and scale of series below it), and with ``data.series_scale =
    "informative"``, whose fit reads each series' level and scale on its raw values; the warnings
    of that load are left to the run's own load of the same file."""
    from rnnlab.data import load_data
    from rnnlab.train.shape_probes import step_noise, summary_accuracy

    data = config.data.model_copy(update={"val_fraction": 0.0, "series_scale": "informative", "test_path": None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the run's own load says each, once: StepOrderWarning, duplicates)
        loaded = load_data(data, seed=config.training.seed)
    train, keep = loaded.train, loaded.inputs.series_scale_keep
    assert keep is not None  # (series_scale = "informative" fits it)
    channels = len(keep) // 2
    X = train.X[:, :, :channels]  # the series as the model sees them; then each series' level and scale
    shape = Shape.of(train.y, train.lengths)
    if shape.smallest_class < TINY_CLASS:  # (in units of each series' std: any data.normalize reads the same)
        shape = replace(shape, step_noise=step_noise(X, train.lengths))
    frontend, head = config.model.frontend, config.model.head
    averaged = "mean" in (head.pooling, head.frontend_pooling)
    tiny = shape.smallest_class < TINY_CLASS
    if frontend is not None and (tiny or averaged) and shape.smallest_class >= 2:  # a class of one: no neighbour of its own
        shape = replace(shape, summary_accuracy=summary_accuracy(X, train.lengths, train.y, frontend))
    if not config.data.series_scale:
        return shape
    names = [f"{what}{'' if channels == 1 else f' {c}'}" for what in ("level", "scale") for c in range(channels)]
    alone = np.zeros_like(keep)
    if shape.smallest_class < TINY_CLASS:  # (the channels hold them standardised: the nearest class mean is the same)
        alone = keep & (alone_accuracy(train.X[:, 0, channels:].astype(np.float64), train.y) >= ALONE_ACCURACY)
    return replace(shape, noise=tuple(n for n, k in zip(names, keep, strict=True) if not k),
                   alone=tuple(n for n, a in zip(names, alone, strict=True) if a))


def alone_accuracy(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each column of ``features`` [N, F], the share of the N series that the nearest class
    mean of that column alone puts in their class, each series left out of its own class's mean
    (a class of one series has then no mean to be near).

    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> f = np.array([[1.0, 0.3], [1.1, -0.2], [0.9, 0.1], [2.0, 0.2], [2.1, -0.1], [1.9, 0.0]])
    >>> alone_accuracy(f, y).round(2).tolist()  # the first column sorts the classes; the second: below chance
    [1.0, 0.33]
    """
    classes, index = np.unique(y, return_inverse=True)
    counts = np.bincount(index, minlength=len(classes)).astype(float)
    sums = np.zeros((len(classes), features.shape[1]))
    np.add.at(sums, index, features)
    right = np.zeros(features.shape[1])
    all_in = sums / counts[:, None]
    for i, c in enumerate(index):
        own = counts[c] - 1
        means = all_in.copy()
        means[c] = (sums[c] - features[i]) / own if own > 0 else np.nan
        distance = np.abs(means - features[i])
        distance[np.isnan(distance)] = np.inf
        right += distance.argmin(axis=0) == c
    return right / len(y)


def adapt_to_shape(config: Config) -> tuple[Config, ShapeDecision | None]:
    """``config`` with the shape rules applied when ``adapt.shape`` is on, and the decision (None
    when off)."""
    if not config.adapt.shape:
        return config, None
    decision = decide(training_shape(config), config)
    return apply(config, decision), decision
