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
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

if typing.TYPE_CHECKING:
    from rnnlab.config import Config

#: The splits a record's metrics are prefixed with.
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Metric:
    """One figure a task reports for a split: ``name`` (the record key after ``train_`` /
    ``val_`` / ``test_``), its direction, how a sentence names it, and whether it is a
    fraction (shown with fixed decimals) or in the data's units (significant digits).

    >>> acc, rmse = Metric("acc", True, "accuracy"), Metric("rmse", False, "rmse", fraction=False)
    >>> acc.key("val"), acc.show(0.91234), acc.show(0.91234, short=True), rmse.show(0.0012345)
    ('val_acc', '0.9123', '0.912', '0.001234')
    """

    name: str
    higher_is_better: bool
    label: str
    fraction: bool = True

    def key(self, split: str) -> str:
        """The record key of this metric on ``split`` (``train``, ``val`` or ``test``)."""
        return f"{split}_{self.name}"

    def show(self, value: float, short: bool = False) -> str:
        """``value`` as the CLI prints it (``short``: in the per-epoch lines)."""
        if self.fraction:
            return f"{value:.3f}" if short else f"{value:.4f}"
        return f"{value:.3g}" if short else f"{value:.4g}"


LOSS = Metric("loss", False, "loss")


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
        """
        options = self.metric_names("val")
        if value in options:
            return None
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
        if self.kind == "regression":
            return int(y.shape[1])
        return len(classes)

    def loss_fn(self, label_smoothing: float = 0.0) -> Any:
        """The training loss (a ``torch.nn`` module called as ``loss(outputs, targets)``):
        cross-entropy (with ``label_smoothing``), or the mean squared error of standardized values."""
        from torch import nn

        if self.kind == "regression":
            return nn.MSELoss()
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def tally(self, scale: TargetScale | None = None) -> Tally | RegressionTally:
        """A fresh accumulator of this task's loss and metrics over batches (``scale``: the
        regression targets' standardization, to report in the data's units)."""
        if self.kind == "regression":
            if scale is None:
                raise ValueError("a regression tally needs the targets' scale (TargetScale)")
            return RegressionTally(scale)
        return Tally(self)

    def strata(self, y: np.ndarray) -> np.ndarray:
        """The groups hold-outs and folds keep in proportion: the class of each sequence, or
        the quantile bin of its (first) target value (up to 10 bins, at least 5 sequences each),
        so that every part sees the whole range of the target.

        >>> CLASSIFICATION.strata(np.array([1, 0, 1])).tolist()
        [1, 0, 1]
        >>> REGRESSION.strata(np.arange(20.0)[::-1, None]).tolist()
        [3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
        """
        if self.kind != "regression":
            return np.asarray(y)
        values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
        bins = int(np.clip(len(values) // 5, 1, 10))
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        return np.searchsorted(edges, values, side="right").astype(np.int64)


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

    @classmethod
    def fit(cls, y: np.ndarray) -> TargetScale:
        """Mean and standard deviation of each target over the sequences of ``y`` [N, K]."""
        return cls(y.mean(axis=0), y.std(axis=0))

    def apply(self, y: np.ndarray) -> np.ndarray:
        """``y`` [N, K] standardized, as float32."""
        return ((y - self.mean) / self.std).astype(np.float32)


class Tally:
    """Sums of a task's loss and metrics over batches of (outputs, targets), in eval terms:
    the loss without label smoothing, ``acc`` the fraction of argmax hits.

    >>> import torch
    >>> t = CLASSIFICATION.tally()
    >>> t.add(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    >>> round(t.result()["acc"], 2), t.n
    (0.5, 2)
    """

    def __init__(self, task: Task) -> None:
        self.task = task
        self.n = 0
        self.loss_sum = 0.0
        self.correct = 0

    def add(self, outputs: Any, y: Any) -> None:
        """Add one batch: ``outputs`` the model's [B, classes], ``y`` the [B] class indices."""
        import torch.nn.functional as F

        self.loss_sum += float(F.cross_entropy(outputs, y, reduction="sum"))
        self.correct += int((outputs.argmax(1) == y).sum())
        self.n += len(y)

    def result(self) -> dict[str, float]:
        """``{metric name: value}`` over everything added (an empty tally counts as one item)."""
        n = max(self.n, 1)
        return {"loss": self.loss_sum / n, "acc": self.correct / n}


class RegressionTally:
    """Sums of squared and absolute errors of standardized predictions over batches; the
    result in the data's units: ``loss`` the mean squared error of standardized values (what
    training minimizes), ``rmse`` and ``mae`` over every value of every sequence, ``r2`` one
    minus the squared error over the squared deviation from the training mean (in standardized
    units, so K targets count alike; a constant prediction of the training mean scores 0).

    >>> import torch
    >>> t = RegressionTally(TargetScale(np.array([10.0]), np.array([2.0])))
    >>> t.add(torch.tensor([[0.5], [-1.0]]), torch.tensor([[1.0], [-1.0]]))
    >>> {k: round(v, 4) for k, v in t.result().items()}
    {'loss': 0.125, 'rmse': 0.7071, 'mae': 0.5, 'r2': 0.875}
    """

    def __init__(self, scale: TargetScale) -> None:
        import torch

        self.std = torch.as_tensor(scale.std, dtype=torch.float64)
        self.n = 0
        self.values = 0
        self.sse = 0.0  # standardized units
        self.sse_units = 0.0
        self.sae_units = 0.0
        self.sst = 0.0  # squared deviation from the training mean, standardized units

    def add(self, outputs: Any, y: Any) -> None:
        """Add one batch: ``outputs`` and ``y`` [B, K] standardized values."""
        err = outputs.detach().double() - y.double()
        units = err * self.std
        self.sse += float((err * err).sum())
        self.sse_units += float((units * units).sum())
        self.sae_units += float(units.abs().sum())
        self.sst += float((y.double() ** 2).sum())
        self.n += len(y)
        self.values += y.numel()

    def result(self) -> dict[str, float]:
        """``{metric name: value}`` over everything added."""
        v = max(self.values, 1)
        return {"loss": self.sse / v, "rmse": (self.sse_units / v) ** 0.5, "mae": self.sae_units / v,
                "r2": 1.0 - self.sse / max(self.sst, 1e-12)}


CLASSIFICATION = Task("classification", False, (LOSS, Metric("acc", True, "accuracy")), "acc")
REGRESSION = Task("regression", False, (LOSS, Metric("rmse", False, "rmse", False), Metric("mae", False, "mae", False),
                                        Metric("r2", True, "R²")), "rmse")

#: ``[task] kind`` values.
KINDS = ("classification", "regression")


def task_named(kind: str = "classification", per_step: bool = False) -> Task:
    """The task of a ``[task]`` section; one that this version cannot train raises ``ValueError``.

    >>> task_named("classification").kind
    'classification'
    """
    if not per_step:
        return REGRESSION if kind == "regression" else CLASSIFICATION
    raise ValueError("'task': per-step targets ([task] per_step = true) are not available yet in this version of "
                     "rnnlab; expected per_step = false (a target per sequence)")


def task_for(config: Config) -> Task:
    """The :class:`Task` of a validated config (its ``[task]`` section; absent: classification)."""
    return task_named(config.task.kind, config.task.per_step)
