"""Which epoch is "best": one rule for early stopping, ``summary.json`` and ``rnnlab compare``.

An epoch is better than the best so far when its monitored validation metric (``val_loss``,
lower is better, or ``val_acc``, higher is better; ``training.early_stopping.monitor``) improves
on it by more than ``min_delta``; the best epoch is the last one that did. Ties keep the earlier
epoch.

Example:
    >>> records = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.5}, {"epoch": 3, "val_loss": 0.5}]
    >>> best_record(records, "val_loss")["epoch"]
    2
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def improves(value: float, best: float | None, monitor: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` of ``monitor`` beats ``best`` (None: nothing yet) by more than ``min_delta``.

    >>> improves(0.80, 0.75, "val_acc"), improves(0.80, 0.75, "val_loss"), improves(0.3, None, "val_loss")
    (True, False, True)
    """
    sign = -1.0 if monitor == "val_loss" else 1.0
    return best is None or sign * (value - best) > min_delta


def best_record(records: Iterable[dict[str, Any]], monitor: str = "val_loss",
                min_delta: float = 0.0) -> dict[str, Any] | None:
    """The best epoch's record by :func:`improves` (None when no record has ``monitor``)."""
    best: dict[str, Any] | None = None
    for r in records:
        if monitor in r and improves(float(r[monitor]), None if best is None else float(best[monitor]),
                                     monitor, min_delta):
            best = r
    return best
