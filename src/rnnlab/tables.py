"""Plain-text tables for the command line and the library (`rnnlab compare`, `rnnlab study`)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces.

    >>> print(text_table([["a", "bb"], ["ccc", "d"]]))
    a    bb
    ccc  d
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def with_spread(value: float, scores: Sequence[float], ddof: int = 0) -> str:
    """``value`` to 4 decimals and, over two or more ``scores``, ``± `` their standard deviation
    (``ddof`` 0: the population's, 1: the sample's); one score has no spread to show (a 0 would
    claim a certainty a single hold-out does not have).

    >>> with_spread(0.5, [0.4, 0.6]), with_spread(0.5, [0.5])
    ('0.5000 ± 0.1000', '0.5000')
    """
    if len(scores) < 2:
        return f"{value:.4f}"
    sd = statistics.pstdev(scores) if ddof == 0 else statistics.stdev(scores)
    return f"{value:.4f} ± {sd:.4f}"
