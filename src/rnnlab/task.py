"""The task a run learns: what its targets are and how it is scored.

One :class:`Task` decides, for every part of rnnlab above the layers, what depends on the kind
of target: how targets are read and checked, the head's width, the loss, the metrics and their
direction (:class:`Metric`), the score a search or the recipe ranks by, how the training split
is stratified for hold-outs and folds, and which fit findings apply. ``[task]`` in the config
names it; :func:`task_for` builds it (an absent section is classification, as before).

* **classification**: a class label per sequence; cross-entropy; ``loss`` and ``acc``
  (score ``val_acc``, higher is better); hold-outs and folds stratified by class.
* **regression**: K >= 1 float values per sequence (``y`` [N] or [N, K]), standardized on the
  training part only (:class:`TargetScale`), the model predicting the standardized values; MSE
  loss (``loss``, in standardized units); ``rmse``, ``mae`` in the data's units and ``r2``
  against the training mean (score ``val_rmse``, lower is better); hold-outs and folds
  stratified on quantile bins of the (first) target.

* **language_model**: the next token of a text at every step (:mod:`rnnlab.data.text`: the
  inputs are token ids, read through an embedding; the head is the decoder over the
  vocabulary); cross-entropy over the valid steps; ``loss`` (nats per token), ``ppl``
  (perplexity, ``2^bpc`` of the cross-entropy alone: ``train_loss`` adds AR/TAR) and ``bpc``
  (bits per token, ``loss / ln 2``: bits per character
  with ``data.tokens = "char"``), all lower-is-better (score ``val_bpc``). A stream task: the
  text is read in ``data.streams`` rows whose state carries across windows of ``data.bptt``
  tokens; the fit it must reach is the training part's unigram entropy.

**Per-step targets** (``[task] per_step = true``): a target at every step, ``y`` [N, T] class
labels or [N, T] / [N, T, K] values. Steps past a sequence's end are padding, marked in the
targets themselves (:data:`PAD_LABEL` for a label, NaN for values), so a batch of targets
carries its own mask. The model's head reads every step (:meth:`Task.model_problem` says which
model settings cannot, and the config refuses them); the loss and the metrics are over the valid
steps only (:meth:`Task.pairs`), each valid step counting once whatever the padding (per-step
accuracy; RMSE, MAE and R² over every valid step, R² against the training steps' mean);
``training.stateful_window`` cuts the targets with their windows (:meth:`Task.window`).
Hold-outs and folds of per-step labels are stratified on each sequence's rarest class and keep
every class in the training part (a class held by one sequence is trained on, never validated:
:meth:`Task.strata`, :func:`rnnlab.data.folds.keep_every_class`); of per-step values they are
seeded random draws of sequences (:attr:`Task.split_kind`). The noise the fit findings and the
recipe allow for counts sequences, not steps: the steps of one sequence are not independent.

**Forecasting** (``[task] kind = "forecasting"``, ``horizon``, ``season``): a stream task
(:mod:`rnnlab.data.stream`): at every step of a long series the next ``horizon`` values of
every channel, as per-step values scaled by the training part's statistics; MSE loss; ``rmse``
and ``mae`` in the data's units and ``mase`` (the mean absolute error over the seasonal-naive
one-step error on the training part, per channel; score ``val_mase``, lower is better). The naive
and seasonal-naive forecasts are scored beside the model on the same steps
(:func:`rnnlab.data.stream.baseline_forecasts`). No R²: the targets are corrections to a reference
forecast (``relative_to``), so R² of the targets would be the skill over that reference, not the R²
(against the training mean) it is everywhere else; and R² of the values against the training mean
credits any forecast with the series' trend and season (naive's is near 1). A forecaster's skill is
its MASE beside the baselines' (and ``skill``, ``1 - MASE / the MASE of the run's reference
forecast``, naive or seasonal naive as ``relative_to`` resolved, in ``train_eval``).

Example:
    >>> from rnnlab.config import parse_config
    >>> task = task_for(parse_config('[data]\\ndataset = "GunPoint"'))
    >>> task.kind, task.score, task.higher_is_better("val_acc"), task.higher_is_better("val_loss")
    ('classification', 'val_acc', True, False)
    >>> task.improves(0.80, 0.75, "val_acc"), task.improves(0.80, 0.75, "val_loss")
    (True, False)
    >>> REGRESSION.score, REGRESSION.higher_is_better("val_r2"), REGRESSION.direction("val_rmse")
    ('val_rmse', True, 'minimize')
"""

from __future__ import annotations

import difflib
import math
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

if typing.TYPE_CHECKING:
    import torch

    from rnnlab.config import Config

#: The splits a record's metrics are prefixed with.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Metric:
    """One figure a task reports for a split: ``name`` (the record key after ``train_`` /
    ``val_`` / ``test_``), its direction, how a sentence names it, and whether it is a
    fraction (shown with fixed decimals) or in the data's units (significant digits), and ``span``,
    the widest gain the metric can show between epochs, where its range bounds one (None: in the
    data's units, or unbounded).

    >>> acc, rmse = Metric("acc", True, "accuracy", span=1.0), Metric("rmse", False, "rmse", fraction=False)
    >>> acc.key("val"), acc.show(0.91234), acc.show(0.91234, short=True), rmse.show(0.0012345)
    ('val_acc', '0.9123', '0.912', '0.001234')
    """

    name: str
    higher_is_better: bool
    label: str
    fraction: bool = True
    span: float | None = None
    """The widest gain an epoch can make on the metric, where its range bounds one (None: in the
    data's units, or unbounded): 1 for accuracy (0 to 1) and for R² (at most 1, and 0 for the
    training mean, the constant prediction a model starts near; below 0 a model does worse than
    that constant). ``training.early_stopping.min_delta`` must stay under it."""

    def key(self, split: str) -> str:
        """The record key of this metric on ``split`` (``train``, ``val`` or ``test``)."""
        return f"{split}_{self.name}"

    def show(self, value: float, short: bool = False) -> str:
        """``value`` as the CLI prints it (``short``: in the per-epoch lines)."""
        if self.fraction:
            return f"{value:.3f}" if short else f"{value:.4f}"
        return f"{value:.3g}" if short else f"{value:.4g}"


LOSS = Metric("loss", False, "loss")

#: The class label of a step past a sequence's end (per-step targets): never a class, skipped by
#: the loss and the metrics (torch's default ``ignore_index``). Per-step values mark it with NaN.
PAD_LABEL = -100


@dataclass(frozen=True)
class Task:
    """What a run learns: ``kind`` (``"classification"`` or ``"regression"``), whether targets are per step, and the
    metrics it reports, the first being the default score (``search.metric``).

    >>> CLASSIFICATION.metric_names("val")
    ['val_loss', 'val_acc']
    """

    kind: str
    per_step: bool
    metrics: tuple[Metric, ...]
    score_metric: str
    stream: bool = False
    """Long series cut into windows whose state carries over (:mod:`rnnlab.data.stream`), not
    separate sequences."""
    horizon: int = 1
    """Forecasting: the steps ahead each step predicts (``[task] horizon``)."""
    season: int = 1
    """Forecasting: the season length the seasonal-naive forecast and MASE use (``[task] season``)."""
    relative_to: str = "none"
    """Forecasting: the simple forecast the model's output is added to (``[task] relative_to``:
    :func:`rnnlab.data.stream.reference_forecast`)."""
    targets: tuple[str, ...] = ()
    """Regression: the targets' names where the config names them (``data.target_column``), which
    the figures per target are named by (:meth:`target_names`); empty: unnamed."""

    @property
    def values(self) -> bool:
        """Whether the targets are values (MSE, RMSE, ...) rather than class labels.

        >>> REGRESSION.values, FORECASTING.values, CLASSIFICATION.values
        (True, True, False)
        """
        return self.kind in ("regression", "forecasting")

    @property
    def name(self) -> str:
        """The task's name in ``rnnlab init --task`` and ``rnnlab datasets``: the kind, prefixed
        ``per-step-`` for per-step targets.

        >>> PER_STEP_REGRESSION.name
        'per-step-regression'
        """
        return f"per-step-{self.kind}" if self.per_step and not self.stream else self.kind

    def target_names(self, k: int) -> list[str]:
        """The names of ``k`` targets: :attr:`targets` where they are ``k``, else ``target`` (one)
        or ``target0``, ``target1``, ... (the names ``rnnlab predict`` writes).

        >>> from dataclasses import replace
        >>> replace(REGRESSION, targets=("conc", "temp")).target_names(2), REGRESSION.target_names(2)
        (['conc', 'temp'], ['target0', 'target1'])
        """
        if len(self.targets) == k:
            return list(self.targets)
        return ["target"] if k == 1 else [f"target{i}" for i in range(k)]

    # ---------------------------------------------------------------- metrics and direction

    @property
    def score(self) -> str:
        """The validation metric a search, the recipe and ``rnnlab compare`` rank by by default."""
        return f"val_{self.score_metric}"

    @property
    def headline(self) -> Metric:
        """The metric a one-line summary shows (``train accuracy 0.98  test accuracy 0.91``)."""
        return self.metric(self.score_metric)

    def metric_names(self, split: str) -> list[str]:
        """Record keys of every metric on ``split``, in the order records hold them."""
        return [m.key(split) for m in self.metrics]

    def metric(self, key: str) -> Metric:
        """The :class:`Metric` of ``key`` (``"acc"`` or a split's ``"val_acc"``); a key this task
        does not report raises ``KeyError`` naming the ones it does."""
        name = key.split("_", 1)[1] if key.split("_", 1)[0] in SPLITS and "_" in key else key
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"{key!r} is not a metric of the {self.kind} task (expected one of {self.metric_names('val')})")

    def higher_is_better(self, key: str) -> bool:
        """Whether a larger value of metric ``key`` is better."""
        return self.metric(key).higher_is_better

    def improves(self, value: float, best: float | None, key: str, min_delta: float = 0.0) -> bool:
        """Whether ``value`` of metric ``key`` beats ``best`` (None: nothing yet) by more than
        ``min_delta``, in the metric's direction."""
        sign = 1.0 if self.higher_is_better(key) else -1.0
        return best is None or sign * (value - best) > min_delta

    def check_validation_metric(self, key: str, value: str) -> str | None:
        """What is wrong with ``value`` as config key ``key`` (a validation metric), or None.

        >>> CLASSIFICATION.check_validation_metric("search.metric", "val_accc")
        "'search.metric': expected one of ['val_loss', 'val_acc'] (the classification task's validation metrics), got 'val_accc'; did you mean 'val_acc'?"
        >>> REGRESSION.check_validation_metric("search.metric", "val_acc")
        "'search.metric': got 'val_acc', a classification metric; this task (regression) has ['val_loss', 'val_rmse', 'val_mae', 'val_r2']"
        """
        options = self.metric_names("val")
        if value in options:
            return None
        # (another task's metric is no typo: the nearest name of this task's would be a guess at
        # a different quantity, e.g. val_mae for val_acc)
        kinds = list(dict.fromkeys(t.kind for t in TASKS.values() if value in t.metric_names("val")))
        if kinds:
            return f"'{key}': got {value!r}, a {' and '.join(kinds)} metric; this task ({self.name}) has {options}"
        close = difflib.get_close_matches(value, options, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (f"'{key}': expected one of {options} (the {self.kind} task's validation metrics), "
                f"got {value!r}{hint}")

    def describe(self, key: str) -> str:
        """``key`` with its direction, as reports name a score.

        >>> CLASSIFICATION.describe("val_loss")
        'val_loss (lower is better)'
        """
        return f"{key} ({'higher' if self.higher_is_better(key) else 'lower'} is better)"

    def direction(self, key: str) -> str:
        """Optuna's name for the direction of metric ``key``: ``"maximize"`` or ``"minimize"``."""
        return "maximize" if self.higher_is_better(key) else "minimize"

    # ---------------------------------------------------------------- targets and the model

    def head_width(self, classes: list[str], y: np.ndarray) -> int:
        """The model's output width: one logit per class, or one output per target value
        (``y`` the training targets)."""
        if self.values:
            return int(y.shape[-1])  # [N, K], per step [N, T, K]
        return len(classes)

    def loss_fn(self, label_smoothing: float = 0.0) -> Any:
        """The training loss (a ``torch.nn`` module called as ``loss(outputs, targets)``):
        cross-entropy (with ``label_smoothing``), or the mean squared error of standardized values;
        per step, the mean over the valid steps of the batch (:class:`PerStepLoss`)."""
        from torch import nn

        loss = nn.MSELoss() if self.values else nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        return PerStepLoss(self, loss) if self.per_step else loss

    def valid(self, y: Any) -> Any:
        """Which steps of per-step targets ``y`` (a tensor [B, T] of labels or [B, T, K] of
        values) are inside their sequence: [B, T] booleans.

        >>> import torch
        >>> PER_STEP_REGRESSION.valid(torch.tensor([[[0.5], [float("nan")]]])).tolist()
        [[True, False]]
        """
        if self.values:
            return ~y.isnan().any(-1)
        return y != PAD_LABEL

    def pairs(self, outputs: Any, y: Any) -> tuple[Any, Any]:
        """The (outputs, targets) the loss and metrics compare: per sequence, as given; per step,
        the valid steps of every sequence, flattened (outputs ``[B, T', W]`` and targets
        ``[B, T]`` or ``[B, T, K]``; the targets' steps past ``T'`` are the batch's padding, cut
        to ``T'``).

        >>> import torch
        >>> out, y = PER_STEP_CLASSIFICATION.pairs(torch.zeros(2, 3, 4), torch.tensor([[1, 2, -100], [3, -100, -100]]))
        >>> out.shape, y.tolist()
        (torch.Size([3, 4]), [1, 2, 3])
        """
        if not self.per_step:
            return outputs, y
        steps = outputs.shape[1]
        if y.shape[1] > steps and bool(self.valid(y[:, steps:]).any()):
            raise ValueError(f"per-step outputs cover {steps} steps, the targets hold valid steps up to "
                             f"{y.shape[1]}: the model must give an output at every step of its input")
        y = y[:, :steps]
        valid = self.valid(y)
        return outputs[valid], y[valid]

    def window(self, y: Any, start: int, stop: int) -> Any:
        """The targets of steps ``start:stop`` of a batch (``training.stateful_window``): per
        step, those steps' targets; per sequence, the sequence's target, which every window
        learns.

        >>> import torch
        >>> PER_STEP_CLASSIFICATION.window(torch.tensor([[0, 1, 2, 3]]), 2, 4).tolist()
        [[2, 3]]
        """
        return y[:, start:stop] if self.per_step else y

    def model_problem(self, model: Any) -> str | None:
        """What in a ``[model]`` section (:class:`rnnlab.config.ModelConfig`) this task cannot
        train, in one line, or None. Per step the head reads each step's output: the pooling
        settings have nothing to pool, and a front-end must keep every step (stride 1, pool 1
        and an odd kernel, which its ``kernel_size // 2`` padding keeps at the input's length):
        a shortened sequence would no longer line up with its targets.

        >>> from rnnlab.config import ModelConfig
        >>> PER_STEP_CLASSIFICATION.model_problem(ModelConfig(head={"pooling": "mean"}))
        "'model.head.pooling' = 'mean': per-step targets ([task] per_step = true) put the head on every step's output, there is nothing to pool; remove the key"
        """
        if not self.per_step:
            return None
        if self.stream and model.frontend is not None:
            return ("'model.frontend': its convolutions are centred (padding kernel_size // 2), so a forecaster's "
                    "step would read the values it forecasts; remove [model.frontend] for [task] kind = \"forecasting\"")
        why = {"language_model": "a language model's targets (the next token at every step)",
               "forecasting": "a forecaster's targets at every step"}.get(self.kind, "per-step targets ([task] per_step = true)")
        for key, value, off in (("pooling", model.head.pooling, "last"),
                                ("frontend_pooling", model.head.frontend_pooling, "none"),
                                ("input_pooling", model.head.input_pooling, "none"),
                                ("frontend_ends", model.head.frontend_ends, False)):
            if value != off:
                return (f"'model.head.{key}' = {value!r}: {why} put the head on every step's output, there is "
                        "nothing to pool; remove the key")
        # (the single-block form, [model.frontend] stride = 2, is named by the keys the user writes there)
        single = model.frontend is not None and not model.frontend.blocks
        for i, b in enumerate(model.frontend.conv_blocks if model.frontend is not None else []):
            for key, value, keeps in (("stride", b.stride, b.stride == 1), ("pool", b.pool, b.pool == 1),
                                      ("kernel_size", b.kernel_size, b.kernel_size % 2 == 1)):
                if not keeps:
                    expected = "an odd kernel_size" if key == "kernel_size" else f"{key} = 1"
                    name = f"model.frontend.{key}" if single else f"model.frontend.blocks[{i}].{key}"
                    unset = (" (the single-block form's default)"
                             if single and key not in model.frontend.model_fields_set else "")
                    return (f"'{name}' = {value}{unset}: {why} need the front-end to keep every "
                            f"step (expected {expected}), a block that changes the sequence's length would no "
                            "longer line up with the targets")
        return None

    def tally(self, scale: TargetScale | None = None) -> Tally | RegressionTally:
        """A fresh accumulator of this task's loss and metrics over batches (``scale``: the
        regression targets' standardization, to report in the data's units)."""
        if self.values:
            if scale is None:
                raise ValueError("a regression tally needs the targets' scale (TargetScale)")
            return RegressionTally(scale, self)
        if self.kind == "language_model":
            return TokenTally(self)
        return Tally(self)

    def classes_held(self, y: np.ndarray) -> np.ndarray | None:
        """Which classes each sequence of ``y`` holds, [N, classes] booleans (per step: at any
        labelled step, :data:`PAD_LABEL` in none); None for values, which have no classes.

        >>> PER_STEP_CLASSIFICATION.classes_held(np.array([[1, 1, -100], [0, 2, 2]])).astype(int).tolist()
        [[0, 1, 0], [1, 0, 1]]
        >>> CLASSIFICATION.classes_held(np.array([1, 0])).astype(int).tolist(), REGRESSION.classes_held(np.zeros(2))
        ([[0, 1], [1, 0]], None)
        """
        if self.values:
            return None
        labels = np.asarray(y).reshape(len(y), -1)
        width = int(labels.max(initial=-1)) + 1
        return (labels[:, :, None] == np.arange(width)).any(axis=1)

    def strata(self, y: np.ndarray) -> np.ndarray:
        """The groups hold-outs and folds keep in proportion: the class of each sequence, or
        the quantile bin of its (first) target value (up to 10 bins, at least 5 sequences each),
        so that every part sees the whole range of the target.

        >>> CLASSIFICATION.strata(np.array([1, 0, 1])).tolist()
        [1, 0, 1]
        >>> REGRESSION.strata(np.arange(20.0)[::-1, None]).tolist()
        [3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]

        Per-step labels: each sequence's rarest class (the one fewest sequences hold), so that a
        rare class is spread over the parts like a class per sequence. A group of fewer than 5
        sequences (as many as the most folds a search makes by itself) joins the next commoner
        class's, so that every group can spread over every fold; a class in fewer sequences
        still stays in the training part (:func:`rnnlab.data.folds.keep_every_class`). Below,
        class 1 is held by 3 sequences and joins the group of class 2 (6 sequences); the sequences
        holding class 0 only are the other group:

        >>> y = np.array([[2, 0]] * 6 + [[1, 0]] * 3 + [[0, 0]] * 6)
        >>> PER_STEP_CLASSIFICATION.strata(y).tolist()
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]

        Per-step values: one group (a seeded random draw of sequences).
        """
        if self.per_step:
            held = self.classes_held(y)
            return np.zeros(len(y), dtype=np.int64) if held is None else _rarest_class_groups(held)
        if not self.values:
            return np.asarray(y)
        values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
        bins = int(np.clip(len(values) // 5, 1, 10))
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        return np.searchsorted(edges, values, side="right").astype(np.int64)

    @property
    def split_kind(self) -> str:
        """How hold-outs and folds draw the training split, in the words a search names its folds
        with (``5 stratified folds``): ``"stratified"`` (by class, by quantile bin of the target,
        per-step labels by each sequence's rarest class: :meth:`strata`), ``"random"`` (per-step
        values: seeded random draws of sequences) or ``"forward-chaining"`` (streams: blocks in
        time order, never shuffled).

        >>> CLASSIFICATION.split_kind, PER_STEP_CLASSIFICATION.split_kind, PER_STEP_REGRESSION.split_kind
        ('stratified', 'stratified', 'random')
        >>> FORECASTING.split_kind
        'forward-chaining'
        """
        if self.stream:
            return "forward-chaining"
        return "random" if self.per_step and self.values else "stratified"


#: The fewest sequences a per-step stratum holds (:meth:`Task.strata`).
_SMALLEST_STRATUM = 5


def _rarest_class_groups(held: np.ndarray) -> np.ndarray:
    """Each sequence's group from the classes it holds ([N, classes] booleans): its rarest class,
    groups of fewer than :data:`_SMALLEST_STRATUM` sequences joined with the next commoner class's
    (a sequence without a labelled step counts with the commonest)."""
    n, width = held.shape
    counts = held.sum(axis=0)
    rank = np.empty(width, dtype=np.int64)
    rank[np.lexsort((np.arange(width), counts))] = np.arange(width)  # rarest first, ties by class
    rarest = np.where(held, rank[None, :], width).min(axis=1, initial=width)
    group = np.zeros(width + 1, dtype=np.int64)
    current, size = 0, 0
    for r, members in enumerate(np.bincount(rarest, minlength=width + 1)):
        group[r] = current
        size += int(members)
        if size >= _SMALLEST_STRATUM:
            current, size = current + 1, 0
    if 0 < size < _SMALLEST_STRATUM and current > 0:  # a small group left at the end joins the one before
        group[group == current] = current - 1
    return group[rarest]


@dataclass(frozen=True)
class TargetScale:
    """The standardization of regression targets, fitted on the training part only: the model
    sees ``(y - mean) / std`` per target; metrics are reported back in the data's units.

    >>> s = TargetScale.fit(np.array([[1.0], [3.0]]))
    >>> s.mean.tolist(), s.std.tolist(), s.apply(np.array([[5.0]])).tolist()
    ([2.0], [1.0], [[3.0]])
    """

    mean: np.ndarray
    std: np.ndarray
    seasonal_error: np.ndarray | None = None
    """Forecasting: per target value, MASE's scale in the data's units (the seasonal-naive
    one-step error on the training part), [K]; a panel of several series, each series' own,
    [S, K] (with :attr:`series`); None for other tasks."""
    series: np.ndarray | None = None
    """A panel's: the series (a row of :attr:`seasonal_error`) each row of the split belongs to,
    [R]; None where one scale serves every row."""

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScale:
        """Mean and standard deviation of each target over the sequences of ``y`` [N, K] (per
        step, [N, T, K]: over every valid step, NaN marking the padding).

        As :class:`rnnlab.data.normalize.ChannelStats` fits inputs: on the values divided by a
        power of two near each target's largest magnitude, scaled back (exact, and targets near
        float64's limit cannot overflow the squares to an infinite std).

        >>> TargetScale.fit(np.array([[[1.0], [3.0]], [[5.0], [np.nan]]])).mean.tolist()
        [3.0]
        >>> TargetScale.fit(np.array([[1e300], [3e300]])).std.tolist()
        [1e+300]
        """
        values = np.asarray(y, dtype=np.float64).reshape(-1, y.shape[-1])
        values = values[~np.isnan(values).any(axis=1)]
        largest = np.abs(values).max(axis=0) if len(values) else np.ones(values.shape[1])
        unit = _power_of_two(largest, low=float(np.finfo(np.float64).tiny))
        return cls(((values / unit).mean(axis=0) * unit), (values / unit).std(axis=0) * unit)

    def apply(self, y: np.ndarray) -> np.ndarray:
        """``y`` [N, K] (or [N, T, K]) standardized, as float32 (NaN padding stays NaN; a value
        beyond float32 after standardization becomes inf, which :func:`rnnlab.data.load_data`
        refuses).

        >>> s = TargetScale.fit(np.array([[-1.7e308], [1.7e308]]))
        >>> s.apply(np.array([[1.7e308], [np.nan]])).tolist()
        [[1.0], [nan]]
        """
        # In units of a power of two >= 2: the same bits as (y - mean) / std, but y - mean cannot
        # overflow when both are near float64's limit (ChannelStats.apply's way).
        s = _power_of_two(np.maximum(np.abs(self.mean), self.std), low=2.0)
        with np.errstate(over="ignore"):
            return ((y / s - self.mean / s) / (self.std / s)).astype(np.float32)

    def restore(self, standardized: np.ndarray) -> np.ndarray:
        """Standardized values [..., K] back in the data's units (float64): what :meth:`apply` undid.

        >>> s = TargetScale.fit(np.array([[1e300], [3e300]]))
        >>> s.restore(s.apply(np.array([[3e300]]))).tolist()
        [[3e+300]]
        """
        return np.asarray(standardized, dtype=np.float64) * self.std + self.mean


def _power_of_two(magnitude: np.ndarray, low: float) -> np.ndarray:
    """:func:`rnnlab.data.normalize.power_of_two`, imported when called (rnnlab.data imports this
    module)."""
    from rnnlab.data.normalize import power_of_two

    return power_of_two(magnitude, low)


class PerStepLoss:
    """A per-sequence loss applied to the valid steps of a batch (:meth:`Task.pairs`): the mean
    over the batch's valid steps, whatever the padding.

    >>> import torch
    >>> loss = PER_STEP_CLASSIFICATION.loss_fn()
    >>> round(float(loss(torch.zeros(1, 2, 2), torch.tensor([[0, -100]]))), 4)
    0.6931
    """

    def __init__(self, task: Task, loss: Any) -> None:
        self.task, self.loss = task, loss

    def __call__(self, outputs: Any, y: Any) -> Any:
        return self.loss(*self.task.pairs(outputs, y))


class Tally:
    """Sums of a task's loss and metrics over batches of (outputs, targets), in eval terms:
    the loss without label smoothing, ``acc`` the fraction of argmax hits; and the confusion
    matrix of the classes (:meth:`confusion`), which :meth:`by_class` reads each class's figures
    and the balanced accuracy from.

    >>> import torch
    >>> t = CLASSIFICATION.tally()
    >>> t.add(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    >>> round(t.result()["acc"], 2), t.n
    (0.5, 2)
    >>> t.confusion().tolist()
    [[1, 1], [0, 0]]
    """

    #: Whether :meth:`add` counts the confusion matrix (a language model's vocabulary squared would not fit).
    counts_classes = True

    def __init__(self, task: Task) -> None:
        self.task = task
        self.n = 0
        self.loss_sum = 0.0
        self.correct = 0
        # (a tensor on the outputs' device, added to without a sync; not one of the sums a mid-epoch
        # checkpoint keeps: the records score no epoch by class)
        self._confusion: Any = None

    def add(self, outputs: Any, y: Any, rows: Any = None) -> None:
        """Add one batch: ``outputs`` the model's [B, classes], ``y`` the [B] class indices (per
        step: [B, T, classes] and [B, T], each valid step one item); ``rows``: unused (a class is
        scored alike on every row; :meth:`RegressionTally.add` reads it)."""
        import torch
        import torch.nn.functional as F

        outputs, y = self.task.pairs(outputs, y)
        predicted = outputs.argmax(1)
        self.loss_sum += float(F.cross_entropy(outputs, y, reduction="sum"))
        self.correct += int((predicted == y).sum())
        self.n += len(y)
        c = int(outputs.shape[-1])
        if self.counts_classes and c <= MAX_CONFUSION_CLASSES:
            if self._confusion is None:
                self._confusion = torch.zeros(c * c, dtype=torch.long, device=y.device)
            self._confusion.index_add_(0, y.long() * c + predicted, torch.ones_like(predicted))

    def result(self) -> dict[str, float]:
        """``{metric name: value}`` over everything added (an empty tally counts as one item)."""
        n = max(self.n, 1)
        return {"loss": self.loss_sum / n, "acc": self.correct / n}

    def confusion(self) -> np.ndarray | None:
        """[C, C] counts of everything added, row the actual class, column the predicted one;
        None when nothing was added, or for more than :data:`MAX_CONFUSION_CLASSES` classes."""
        if self._confusion is None:
            return None
        c = math.isqrt(int(self._confusion.numel()))
        return self._confusion.cpu().numpy().reshape(c, c)

    def by_class(self, classes: list[str], majority: str | None = None) -> dict[str, Any] | None:
        """:func:`class_figures` of :meth:`confusion`, the classes named ``classes`` (``majority``:
        the class a model that learnt nothing predicts, as there); None without one."""
        confusion = self.confusion()
        return None if confusion is None else class_figures(confusion, classes, majority)


#: Classes are imbalanced, and accuracy alone says too little, where the smallest holds under this
#: share of the largest (``rnnlab train``'s line beside accuracy, the fit findings' class-balance cause).
IMBALANCED_BELOW = 0.5

#: The most classes a :class:`Tally` counts the confusion matrix of (its square is kept on the device).
MAX_CONFUSION_CLASSES = 1024


def class_figures(confusion: np.ndarray, classes: list[str], majority: str | None = None) -> dict[str, Any]:
    """What a confusion matrix (row the actual class, column the predicted one) says class by
    class, as scikit-learn computes it: ``count`` (the class's items), ``recall`` (the share of them
    predicted right) and ``precision`` (the share of the items predicted as the class that are
    of it) by class name, None where undefined (no item of the class; none predicted as it);
    ``balanced_acc``, the mean recall over the classes present (``balanced_accuracy_score``), and
    ``majority_rate``, what predicting the majority class alone scores here (``majority``: its name):
    the most frequent class of the training part where given (``majority``: what a model that
    learnt nothing predicts, whatever this split holds), else of this confusion.
    ``classes`` names the rows (a row past them by its index).

    >>> f = class_figures(np.array([[6, 0], [1, 3]]), ["sitting", "cycling"])
    >>> f["count"], f["recall"], f["precision"]["sitting"], round(f["balanced_acc"], 3), f["majority"], f["majority_rate"]
    ({'sitting': 6, 'cycling': 4}, {'sitting': 1.0, 'cycling': 0.75}, 0.8571428571428571, 0.875, 'sitting', 0.6)
    >>> class_figures(np.array([[6, 0], [1, 3]]), ["sitting", "cycling"], majority="cycling")["majority_rate"]
    0.4
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    names = [str(classes[i]) if i < len(classes) else str(i) for i in range(len(confusion))]
    count, predicted, right = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    recall = [float(right[i] / count[i]) if count[i] else None for i in range(len(names))]
    present = [r for r in recall if r is not None]
    total = int(count.sum())
    return {"count": dict(zip(names, map(int, count), strict=True)),
            "recall": dict(zip(names, recall, strict=True)),
            "precision": {name: float(right[i] / predicted[i]) if predicted[i] else None
                          for i, name in enumerate(names)},
            "balanced_acc": float(np.mean(present)) if present else None,
            "majority": majority if majority is not None else names[int(np.argmax(count))] if total else None,
            "majority_rate": (float(count[names.index(majority)] / total) if majority in names else 0.0)
            if majority is not None and total else float(count.max() / total) if total else None}


class TokenTally(Tally):
    """A language model's :class:`Tally`: the mean cross-entropy per valid token (nats), the
    perplexity ``exp(loss)`` and bits per token ``loss / ln 2``.

    >>> import torch
    >>> t = LANGUAGE_MODEL.tally()
    >>> t.add(torch.zeros(1, 3, 4), torch.tensor([[1, 2, -100]]))
    >>> {k: round(v, 4) for k, v in t.result().items()}, t.n
    ({'loss': 1.3863, 'ppl': 4.0, 'bpc': 2.0}, 2)
    """

    counts_classes = False

    def result(self) -> dict[str, float]:
        """``{metric name: value}`` over every token added."""
        loss = self.loss_sum / max(self.n, 1)
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), "bpc": loss / math.log(2)}


class RegressionTally:
    """Sums of squared and absolute errors of standardized predictions over batches; the
    result in the data's units: ``loss`` the mean squared error of standardized values (what
    training minimizes), ``rmse`` and ``mae`` over every value of every sequence, ``r2`` one
    minus the squared error over the squared deviation from the training mean (a constant prediction
    of the training mean scores 0; of K > 1 targets, the mean of each target's R², scikit-learn's
    ``uniform_average``, so that each counts alike whatever its units and its spread on the split;
    each target's in :meth:`by_channel`).
    With a forecasting scale (``seasonal_error`` set) also ``mase``: every absolute error over
    its channel's seasonal-naive one-step error on the training part, averaged; and, from the
    same sums, each channel's MASE (:meth:`by_channel`, whose mean is ``mase``). With a panel's
    scale (one per series, :attr:`TargetScale.series`) each error is over its own series' scale and
    ``mase`` is the mean over series of each series' MASE (:meth:`series_mase`). The result holds
    the task's metrics only: a forecaster's has no ``r2`` (its targets are corrections to the
    reference forecast: :data:`FORECASTING`).

    >>> import torch
    >>> t = RegressionTally(TargetScale(np.array([10.0]), np.array([2.0])))
    >>> t.add(torch.tensor([[0.5], [-1.0]]), torch.tensor([[1.0], [-1.0]]))
    >>> {k: round(v, 4) for k, v in t.result().items()}
    {'loss': 0.125, 'rmse': 0.7071, 'mae': 0.5, 'r2': 0.875}

    A channel whose MASE scale is 0 or not finite (a series that repeats its season exactly, a
    constant one) has no MASE: the tally's is NaN, never a figure divided by a stand-in scale.

    >>> f = RegressionTally(TargetScale(np.zeros(2), np.ones(2), np.array([1.0, 0.0])), FORECASTING)
    >>> f.add(torch.tensor([[0.5, 0.0]]), torch.tensor([[1.0, 0.0]]))
    >>> {k: round(v, 4) for k, v in f.result().items()}
    {'loss': 0.125, 'rmse': 0.3536, 'mae': 0.25, 'mase': nan}
    """

    def __init__(self, scale: TargetScale, task: Task | None = None) -> None:
        import torch

        self.task = task if task is not None else REGRESSION
        # Errors in the data's units are summed over a power of two near the largest std (exact):
        # targets of 1e160 would square to inf.
        self.unit = torch.as_tensor(_power_of_two(np.max(scale.std), low=float(np.finfo(np.float64).tiny)),
                                    dtype=torch.float64)
        self.std = torch.as_tensor(scale.std, dtype=torch.float64) / self.unit
        self.seasonal = None if scale.seasonal_error is None else mase_weights(scale.std, scale.seasonal_error)
        # (a bool: not among the running sums a mid-epoch checkpoint saves, rnnlab.train.trainer._tally_sums)
        self.mase_defined = self.seasonal is not None and bool(self.seasonal.isfinite().all())
        self.sase = 0.0  # absolute errors over MASE's scale
        # The same per target value, for by_channel: a tensor, so not among the running sums a
        # mid-epoch checkpoint saves (only the evaluations after training read it).
        self.sase_values = None if self.seasonal is None or self.seasonal.dim() > 1 else \
            torch.zeros(len(self.seasonal), dtype=torch.float64)
        # A panel (a scale per series): each series' scaled errors per channel [S * C] and items [S],
        # lists so that a mid-epoch checkpoint keeps them; the MASE is the mean of the series' MASE.
        self.series = None if scale.series is None else torch.as_tensor(scale.series, dtype=torch.long)
        self.series_sase: list[float] | None = None
        self.series_items: list[int] | None = None
        if self.series is not None:
            assert self.seasonal is not None and self.seasonal.dim() == 2, "a panel's scale is [series, K]"
            S, K = self.seasonal.shape
            # (a series' channel has a MASE where its scale is usable at every step ahead)
            self.usable = self.seasonal.reshape(S, self.task.horizon, -1).isfinite().all(1)
            self.mase_defined = bool(self.usable.any())
            self.series_sase, self.series_items = [0.0] * (S * (K // self.task.horizon)), [0] * S
        # A regression's sums per target (each target's RMSE, MAE and R²: by_channel, and R² as their
        # mean): tensors, so not among the running sums a mid-epoch checkpoint saves (no stream has them).
        k = len(np.atleast_1d(scale.std))
        self.per_target = {name: torch.zeros(k, dtype=torch.float64) for name in ("sse", "sse_units", "sae_units", "sst")} \
            if self.task.kind == "regression" else None
        self.n = 0
        self.values = 0
        self.sse = 0.0  # standardized units
        self.sse_units = 0.0  # the data's units over self.unit
        self.sae_units = 0.0
        self.sst = 0.0  # squared deviation from the training mean, standardized units

    def add(self, outputs: Any, y: Any, rows: Any = None) -> None:
        """Add one batch: ``outputs`` and ``y`` [B, K] standardized values (per step [B, T, K],
        each valid step one item); ``rows``: which rows of the split the batch holds (a slice or
        indices; None: its first B), which a panel's scale per series reads."""
        rows_of_items = None
        if self.series is not None:  # (the batch row of each valid step, in the order pairs keeps them)
            rows_of_items = self.task.valid(y[:, :outputs.shape[1]]).nonzero()[:, 0]
            batch = len(y)
        outputs, y = self.task.pairs(outputs, y)
        err = outputs.detach().double() - y.double()
        units = err * self.std.to(err.device)  # (the model's device: CUDA too)
        self.sse += float((err * err).sum())
        self.sse_units += float((units * units).sum())
        self.sae_units += float(units.abs().sum())
        if rows_of_items is not None:
            self._add_series(err, rows_of_items, self.series[rows if rows is not None else slice(0, batch)], batch)
        elif self.seasonal is not None:
            scaled = (err * self.seasonal.to(err.device)).abs().sum(0)
            self.sase += float(scaled.sum())
            self.sase_values += scaled.cpu()
        self.sst += float((y.double() ** 2).sum())
        if self.per_target is not None:
            for name, values in (("sse", err * err), ("sse_units", units * units), ("sae_units", units.abs()),
                                 ("sst", y.double() ** 2)):
                self.per_target[name] += values.reshape(-1, values.shape[-1]).sum(0).cpu()
        self.n += len(y)
        self.values += y.numel()

    def _add_series(self, err: Any, rows_of_items: Any, series_of_rows: Any, batch: int) -> None:
        """A panel's batch: each item's error over its own series' scale, summed per series and channel."""
        import torch

        if len(series_of_rows) != batch:
            raise ValueError(f"a panel's tally reads the series of each of the batch's {batch} rows: expected rows "
                             f"naming {batch} of the split's {len(self.series)} rows, got {len(series_of_rows)}")
        assert self.series_sase is not None and self.series_items is not None
        of = series_of_rows.to(err.device)[rows_of_items]
        S, C = self.usable.shape
        per_channel = (err * self.seasonal.to(err.device)[of]).abs().reshape(len(of), self.task.horizon, C).sum(1)
        sums = torch.zeros(S, C, dtype=torch.float64, device=err.device).index_add_(0, of, per_channel)
        self.series_sase = [a + b for a, b in zip(self.series_sase, sums.flatten().tolist(), strict=True)]
        self.series_items = [a + b for a, b in zip(self.series_items, torch.bincount(of, minlength=S).tolist(),
                                                   strict=True)]

    def series_mase(self) -> np.ndarray | None:
        """A panel's MASE of each series and channel, [S, C], over everything added (each series'
        errors over its own scale, averaged over its items and steps ahead); NaN where a series has
        no scale (:func:`mase_weights`) or nothing was added of it; None for one scale.

        >>> import torch
        >>> s = TargetScale(np.zeros(1), np.ones(1), np.array([[1.0], [10.0]]), np.array([0, 1]))
        >>> f = RegressionTally(s, FORECASTING)
        >>> f.add(torch.tensor([[[1.0]], [[1.0]]]), torch.tensor([[[0.0]], [[0.0]]]))
        >>> f.series_mase().tolist(), f.result()["mase"]   # the mean over series, each on its own scale
        ([[1.0], [0.1]], 0.55)
        """
        if self.series_sase is None or self.series_items is None:
            return None
        S, C = self.usable.shape
        values = np.asarray(self.series_items, dtype=np.float64)[:, None] * self.task.horizon
        with np.errstate(invalid="ignore", divide="ignore"):
            mase = np.asarray(self.series_sase, dtype=np.float64).reshape(S, C) / values
        return np.where(self.usable.numpy() & (values > 0), mase, np.nan)

    def result(self) -> dict[str, float]:
        """``{metric name: value}`` over everything added."""
        v = max(self.values, 1)
        unit = float(self.unit)
        out = {"loss": self.sse / v, "rmse": (self.sse_units / v) ** 0.5 * unit, "mae": self.sae_units / v * unit}
        if any(m.name == "r2" for m in self.task.metrics):
            per_target = self.by_channel().get("r2", [])
            # (one target: the pooled sums, the same figure to the last bit)
            out["r2"] = float(np.mean(per_target)) if len(per_target) > 1 else 1.0 - self.sse / max(self.sst, 1e-12)
        panel = self.series_mase()
        if panel is not None:
            # The mean over series of each series' MASE (Hyndman & Koehler 2006; M4, M5): every series
            # counts alike, whatever its units; a series without a scale is left out (load_stream says so).
            scored = panel[self.usable.numpy() & (np.asarray(self.series_items) > 0)[:, None]]
            out["mase"] = float(scored.mean()) if len(scored) else (0.0 if not self.values else math.nan)
        elif self.seasonal is not None:
            out["mase"] = self.sase / v if self.mase_defined else math.nan
        return out

    def by_channel(self) -> dict[str, list[float]]:
        """The figures per channel (a forecaster's) or per target (a regression's) over everything
        added. A regression's: ``{"rmse", "mae", "r2": [one per target]}``, each target's in its own
        units (its R² against its training mean; their mean is :meth:`result`'s ``r2``):

        >>> import torch
        >>> r = RegressionTally(TargetScale(np.zeros(2), np.array([1.0, 100.0])))
        >>> r.add(torch.tensor([[0.0, 2.0], [0.0, -2.0]]), torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
        >>> r.by_channel(), r.result()["r2"]
        ({'rmse': [1.0, 100.0], 'mae': [1.0, 100.0], 'r2': [0.0, 0.0]}, 0.0)

        A forecaster's, ``{"mase": [one per
        channel]}`` (each channel's scaled errors over every step ahead, averaged: their mean is
        :meth:`result`'s ``mase``); NaN for a channel whose MASE scale is 0 or not finite (the
        others keep theirs); ``{}`` without a forecasting scale.

        >>> import torch
        >>> f = RegressionTally(TargetScale(np.zeros(2), np.ones(2), np.array([1.0, 4.0])), FORECASTING)
        >>> f.add(torch.tensor([[0.5, 0.0]]), torch.tensor([[1.0, 2.0]]))
        >>> f.by_channel(), f.result()["mase"]
        ({'mase': [0.5, 0.5]}, 0.5)

        A panel's: each channel's MASE averaged over the series (each on its own scale) that have one.
        """
        if self.per_target is not None:
            sums, unit = self.per_target, float(self.unit)
            per = max(self.values, 1) / len(sums["sse"])  # (the values of each target)
            return {"rmse": ((sums["sse_units"] / per) ** 0.5 * unit).tolist(),
                    "mae": (sums["sae_units"] / per * unit).tolist(),
                    "r2": (1.0 - sums["sse"] / sums["sst"].clamp(min=1e-12)).tolist()}
        panel = self.series_mase()
        if panel is not None:
            scored = self.usable.numpy() & (np.asarray(self.series_items) > 0)[:, None]
            if not self.values:
                return {"mase": [0.0] * panel.shape[1]}
            return {"mase": [float(panel[scored[:, c], c].mean()) if scored[:, c].any() else math.nan
                             for c in range(panel.shape[1])]}
        if self.sase_values is None:
            return {}
        # (targets are step-major, horizon * channels values: fold the steps ahead of each channel)
        per_step = self.sase_values.reshape(self.task.horizon, -1)
        return {"mase": (per_step.sum(0) / (max(self.values, 1) / per_step.shape[1])).tolist()}


#: How many times the targets' training spreads may differ before ``val_rmse``, which pools their
#: errors in their own units, is said to be the large ones' (:func:`pooled_rmse_note`).
SCALES_APART = 10.0


def pooled_rmse_note(std: Any, names: list[str]) -> str | None:
    """What ``rnnlab train``, ``search`` and ``recipe`` say once where a regression's targets'
    training standard deviations (``std``, in the data's units, by ``names``) differ by more
    than :data:`SCALES_APART` times: ``rmse`` (the default score, ``val_rmse``) pools every
    target's errors in its own units, so the large-scale targets make it and the others count for
    almost nothing; ``val_loss`` (standardized units) and ``val_r2`` weigh them alike. None
    otherwise (one target, or spreads within that factor).

    >>> print(pooled_rmse_note([0.0026, 11.5, 14.0], ["conc", "temp", "count"]))
    note: val_rmse (the default score) pools the targets' errors in their own units: temp and count (std 11.5, 14) make it, conc (std 0.0026) counts for almost nothing; val_loss (standardized units) or val_r2 weigh the targets alike (training.early_stopping.monitor, search.metric)
    >>> pooled_rmse_note([1.0, 5.0], ["a", "b"]) is None
    True
    """
    spread = np.asarray(std, dtype=np.float64).reshape(-1)
    if len(spread) < 2 or not np.isfinite(spread).all() or spread.min() <= 0 \
            or spread.max() <= SCALES_APART * spread.min():
        return None
    large = spread * SCALES_APART > spread.max()  # (within the factor of the largest: those that make it)

    def said(which: np.ndarray) -> str:
        picked = [n for n, w in zip(names, which, strict=True) if w]
        words = " and ".join(picked) if len(picked) < 3 else ", ".join(picked[:-1]) + " and " + picked[-1]
        return f"{words} (std {', '.join(f'{v:.3g}' for v in spread[which])})"

    return (f"note: val_rmse (the default score) pools the targets' errors in their own units: {said(large)} "
            f"{'make' if large.sum() > 1 else 'makes'} it, {said(~large)} {'count' if (~large).sum() > 1 else 'counts'} for almost nothing; val_loss "
            "(standardized units) or val_r2 weigh the targets alike (training.early_stopping.monitor, search.metric)")


def mase_weights(std: np.ndarray, seasonal_error: np.ndarray) -> torch.Tensor:
    """What turns a standardized error into MASE's terms, per target value: ``std`` over
    ``seasonal_error`` (both in the data's units), a float64 tensor; NaN where the seasonal error
    is 0 or not finite, so that no MASE is reported from a scale that is no scale (a 0 error over
    0, or any error over inf, would read as a perfect forecast).

    >>> mase_weights(np.array([2.0, 2.0, 2.0]), np.array([4.0, 0.0, np.inf])).tolist()
    [0.5, nan, nan]
    """
    import torch

    seasonal = np.asarray(seasonal_error, dtype=np.float64)
    usable = np.isfinite(seasonal) & (seasonal > 0)
    weights = np.where(usable, np.asarray(std, dtype=np.float64) / np.where(usable, seasonal, 1.0), np.nan)
    return torch.as_tensor(weights, dtype=torch.float64)


CLASSIFICATION = Task("classification", False, (LOSS, Metric("acc", True, "accuracy", span=1.0)), "acc")
REGRESSION = Task("regression", False, (LOSS, Metric("rmse", False, "rmse", False), Metric("mae", False, "mae", False),
                                        Metric("r2", True, "R²", span=1.0)), "rmse")
PER_STEP_CLASSIFICATION = Task("classification", True, (LOSS, Metric("acc", True, "per-step accuracy", span=1.0)),
                               "acc")
LANGUAGE_MODEL = Task("language_model", True, (LOSS, Metric("ppl", False, "perplexity", False),
                                               Metric("bpc", False, "bits per token", False)), "bpc", stream=True)
PER_STEP_REGRESSION = Task("regression", True, (LOSS, Metric("rmse", False, "per-step rmse", False),
                                                Metric("mae", False, "per-step mae", False),
                                                Metric("r2", True, "per-step R²", span=1.0)), "rmse")
FORECASTING = Task("forecasting", True, (LOSS, Metric("rmse", False, "rmse", False), Metric("mae", False, "mae", False),
                                         Metric("mase", False, "MASE", False)), "mase", stream=True)

#: ``[task] kind`` values.
KINDS = ("classification", "regression", "forecasting", "language_model")


def task_named(kind: str = "classification", per_step: bool = False) -> Task:
    """The task of a ``[task]`` section.

    >>> task_named("classification").kind
    'classification'
    """
    if kind == "forecasting":
        return FORECASTING
    if kind == "regression":
        return PER_STEP_REGRESSION if per_step else REGRESSION
    if kind == "language_model":  # a target at every step, whatever per_step says
        return LANGUAGE_MODEL
    return PER_STEP_CLASSIFICATION if per_step else CLASSIFICATION


#: Every task, by :attr:`Task.name`.
TASKS = {t.name: t for t in (CLASSIFICATION, REGRESSION, PER_STEP_CLASSIFICATION, PER_STEP_REGRESSION, FORECASTING,
                             LANGUAGE_MODEL)}


def metric_span(key: str) -> float | None:
    """:attr:`Metric.span` of validation metric ``key`` (``"val_r2"``) in the tasks that report it
    (a metric's name means one thing across tasks); None where unbounded or no task reports it.

    >>> metric_span("val_acc"), metric_span("val_r2"), metric_span("val_rmse"), metric_span("val_nope")
    (1.0, 1.0, None, None)
    """
    spans = set()
    for task in TASKS.values():
        try:
            spans.add(task.metric(key).span)
        except KeyError:
            continue
    return spans.pop() if len(spans) == 1 else None


def task_for(config: Config) -> Task:
    """The :class:`Task` of a validated config (its ``[task]`` section; absent: classification),
    with its forecasting horizon and season, and a regression's target names (``data.target_column``;
    unset, an ``.npz`` ``data.path``'s own ``target_names`` where it has them and can be read)."""
    task = task_named(config.task.kind, config.task.per_step)
    given = config.data.target_column
    path = config.data.path
    if task.kind == "regression" and not given and path is not None and str(path).lower().endswith(".npz"):
        from rnnlab.data.files import npz_target_names

        given = npz_target_names(path)
    if task.kind == "regression" and given:
        from dataclasses import replace

        task = replace(task, targets=(given,) if isinstance(given, str) else tuple(given))
    if task.kind == "forecasting":
        from dataclasses import replace

        task = replace(task, horizon=config.task.horizon, season=config.task.season,
                       relative_to=config.task.relative_to)
    return task
