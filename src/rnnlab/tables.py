"""Plain-text tables for the command line and the library (`rnnlab compare`, `rnnlab study`)."""

from __future__ import annotations


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces.

    >>> print(text_table([["a", "bb"], ["ccc", "d"]]))
    a    bb
    ccc  d
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
