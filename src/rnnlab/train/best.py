"""Which epoch is "best": one rule for early stopping, ``summary.json`` and ``rnnlab compare``;
and which epoch's model a run kept (:func:`kept_record`), the one search, recipe and compare judge.

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


def kept_record(records: list[dict[str, Any]], best: dict[str, Any] | None, config: Any) -> dict[str, Any] | None:
    """The epoch record of the model a run kept (and tested): its ``best`` epoch when early
    stopping keeps the best epoch's weights (``training.early_stopping.patience`` > 0, as
    :func:`rnnlab.train.run_fit.evaluated_checkpoint` picks them), else its last epoch, whose score
    is also the one ``rnnlab recipe`` and ``rnnlab search`` judge a run by (:func:`rnnlab.search.trial.run_trial`). A run without
    config.toml (Lightning, a Tracker) keeps what its loop ended with: the last epoch.

    >>> from rnnlab.config import parse_config
    >>> recs = [{"epoch": 1, "val_acc": 0.9}, {"epoch": 2, "val_acc": 0.5}]
    >>> kept_record(recs, recs[0], parse_config('[data]\\ndataset = "UnitTest"'))["epoch"]
    2
    >>> kept_record(recs, recs[0], parse_config('[data]\\ndataset = "UnitTest"\\n'
    ...                                         '[training.early_stopping]\\npatience = 5'))["epoch"]
    1
    """
    if not records:
        return None
    if config is not None and config.training.early_stopping.patience > 0:
        return best
    return records[-1]
