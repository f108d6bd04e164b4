"""The task a run learns: what its targets are and how it is scored.

One :class:`Task` decides, for every part of rnnlab above the layers, what depends on the kind
of target: how targets are read and checked, the head's width, the loss, the metrics and their
direction (:class:`Metric`), the score a search or the recipe ranks by, how the training split
is stratified for hold-outs and folds, and which fit findings apply. ``[task]`` in the config
names it; :func:`task_for` builds it (an absent section is classification, as before).

Example:
    >>> from rnnlab.config import parse_config
    >>> task = task_for(parse_config('[data]\\ndataset = "GunPoint"'))
    >>> task.kind, task.score, task.higher_is_better("val_acc"), task.higher_is_better("val_loss")
    ('classification', 'val_acc', True, False)
    >>> task.improves(0.80, 0.75, "val_acc"), task.improves(0.80, 0.75, "val_loss")
    (True, False)
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
    ``val_`` / ``test_``), its direction, and how a sentence names it.

    >>> Metric("acc", True, "accuracy").key("val")
    'val_acc'
    """

    name: str
    higher_is_better: bool
    label: str

    def key(self, split: str) -> str:
        """The record key of this metric on ``split`` (``train``, ``val`` or ``test``)."""
        return f"{split}_{self.name}"


LOSS = Metric("loss", False, "loss")


@dataclass(frozen=True)
class Task:
    """What a run learns: ``kind`` (``"classification"``), whether targets are per step, and the
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

    def head_width(self, classes: list[str]) -> int:
        """The model's output width: one logit per class."""
        return len(classes)

    def loss_fn(self, label_smoothing: float = 0.0) -> Any:
        """The training loss (a ``torch.nn`` module called as ``loss(outputs, targets)``)."""
        from torch import nn

        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def tally(self) -> Tally:
        """A fresh accumulator of this task's loss and metrics over batches."""
        return Tally(self)

    def strata(self, y: np.ndarray) -> np.ndarray:
        """The groups hold-outs and folds keep in proportion: the class of each sequence.

        >>> CLASSIFICATION.strata(np.array([1, 0, 1])).tolist()
        [1, 0, 1]
        """
        return np.asarray(y)


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


CLASSIFICATION = Task("classification", False, (LOSS, Metric("acc", True, "accuracy")), "acc")

#: ``[task] kind`` values and whether this version trains them.
KINDS = ("classification", "regression")


def task_named(kind: str = "classification", per_step: bool = False) -> Task:
    """The task of a ``[task]`` section; one that this version cannot train raises ``ValueError``.

    >>> task_named("classification").kind
    'classification'
    """
    if kind == "classification" and not per_step:
        return CLASSIFICATION
    what = "per-step targets ([task] per_step = true)" if per_step else f"[task] kind = {kind!r}"
    raise ValueError(f"'task': {what} is not available yet in this version of rnnlab; "
                     "expected kind = \"classification\" with per_step = false")


def task_for(config: Config) -> Task:
    """The :class:`Task` of a validated config (its ``[task]`` section; absent: classification)."""
    return task_named(config.task.kind, config.task.per_step)
