"""Plain-text tables for the command line and the library (`rnnlab compare`, `rnnlab study`), and
the CSV files rnnlab writes (`rnnlab predict`)."""

from __future__ import annotations

import csv
import io
import statistics
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any


def display_width(text: str) -> int:
    """The terminal columns ``text`` takes: two for each wide or full-width character (CJK,
    most emoji: ``unicodedata.east_asian_width`` W or F), none for a combining mark or a
    zero-width joiner, one for any other.

    >>> display_width("run"), display_width("実験-α"), display_width("e\u0301"), display_width("🚀")
    (3, 6, 1, 2)
    """
    width = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue  # (drawn on the character before it, or not drawn: a joiner, a variation selector)
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces, padded by the columns each cell takes on a
    terminal (:func:`display_width`), so that names in CJK or with emoji keep the columns after
    them in line.

    >>> print(text_table([["a", "bb"], ["ccc", "d"]]))
    a    bb
    ccc  d
    >>> print(text_table([["run", "acc"], ["実験-α", "0.9"], ["b", "0.8"]]))
    run     acc
    実験-α  0.9
    b       0.8
    """
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c + " " * (w - display_width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def spread(scores: Sequence[float]) -> float:
    """The spread of a candidate's or a trial's seed and fold scores, wherever rnnlab shows one:
    their sample standard deviation (n - 1), the one the recipe's noise rule uses; 0.0 for fewer
    than two scores (nothing to spread).

    >>> round(spread([0.4, 0.6]), 4), spread([0.5])
    (0.1414, 0.0)
    """
    return statistics.stdev(scores) if len(scores) >= 2 else 0.0


def with_spread(value: float, scores: Sequence[float]) -> str:
    """``value`` to 4 decimals and, over two or more ``scores``, ``± `` their :func:`spread`; one
    score has no spread to show (a 0 would claim a certainty a single hold-out does not have).

    >>> with_spread(0.5, [0.4, 0.6]), with_spread(0.5, [0.5])
    ('0.5000 ± 0.1414', '0.5000')
    """
    if len(scores) < 2:
        return f"{value:.4f}"
    return f"{value:.4f} ± {spread(scores):.4f}"


#: What a spreadsheet (Excel, LibreOffice, Google Sheets) reads as the start of a formula in a cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: Any) -> Any:
    """``cell``, or a text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``, as a
    class name or a column name of a user's file may read) with a ``'`` before it, which the
    spreadsheet shows as text (OWASP's advice on CSV injection). Numbers, ``-1`` written as
    text among them, stay as they are, and so does a cell of that one character alone (a class
    named ``-``, as the per-step template's set has: a sign with nothing after it runs nothing,
    and its column must read as the class it is)."""
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_START) or len(cell) == 1:
        return cell
    try:
        float(cell)
        return cell
    except ValueError:
        return "'" + cell


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV text of ``header`` and ``rows`` (``\n`` line ends), every text cell that a
    spreadsheet would run as a formula written with a ``'`` before it.

    >>> print(csv_text(["series", "label"], [(0, '=HYPERLINK("http://x")'), (1, "-1"), (2, "walk, fast"), (3, "-")]), end="")
    series,label
    0,"'=HYPERLINK(""http://x"")"
    1,-1
    2,"walk, fast"
    3,-
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([_inert(c) for c in header])
    writer.writerows([_inert(c) for c in row] for row in rows)
    return buf.getvalue()
