"""Which epoch is "best": one rule for early stopping, ``summary.json`` and ``rnnlab compare``.

An epoch is better than the best so far when its monitored validation metric
(``training.early_stopping.monitor``) improves on it by more than ``min_delta`` in the metric's
direction, which the task says (:meth:`rnnlab.task.Task.improves`: ``val_loss`` lower is
better, ``val_acc`` higher); the best epoch is the last one that did. Ties keep the earlier
epoch.

Example:
    >>> from rnnlab.task import CLASSIFICATION
    >>> records = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.5}, {"epoch": 3, "val_loss": 0.5}]
    >>> best_record(records, "val_loss", CLASSIFICATION)["epoch"]
    2
    >>> best_record([{"epoch": 1, "val_acc": 0.9}, {"epoch": 2, "val_acc": 0.5}], "val_acc", CLASSIFICATION)["epoch"]
    1
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rnnlab.task import Task


def best_record(records: Iterable[dict[str, Any]], monitor: str, task: Task,
                min_delta: float = 0.0) -> dict[str, Any] | None:
    """The best epoch's record by ``task.improves`` (None when no record has ``monitor``)."""
    best: dict[str, Any] | None = None
    for r in records:
        if monitor in r and task.improves(float(r[monitor]), None if best is None else float(best[monitor]),
                                          monitor, min_delta):
            best = r
    return best
