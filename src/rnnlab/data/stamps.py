"""The time stamps of a series' rows (a ``.csv`` column of dates) and the ones after its end, so
that a forecast is written against the dates it is for (``rnnlab predict``).

Stamps are ISO dates or times (``2003-06-01``, ``2021-05-01 00:30:00+00:00``) or months
(``1949-01``). They continue only where every step of the column is the same: a fixed time
(a day, half an hour) or a fixed number of months on the same day of the month (a month, a
quarter, a year). Anything else (a gap, an irregular step, another format) gives no stamps:
never a guessed date.

Example:
    >>> following(["2003-04-01", "2003-05-01", "2003-06-01"], 2)
    ['2003-07-01', '2003-08-01']
    >>> following(["1949-11", "1949-12"], 1)
    ['1950-01']
    >>> following(["2021-05-01 00:00:00+00:00", "2021-05-01 00:30:00+00:00"], 1)
    ['2021-05-01 01:00:00+00:00']
    >>> following(["2003-04-01", "2003-05-02", "2003-06-01"], 1) is None  # no fixed step: no date
    True
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _parse(cell: str) -> datetime | None:
    """A cell as a datetime (a date at midnight; a month on its first day), or None."""
    m = _MONTH.match(cell)
    try:
        if m:
            return datetime(int(m.group(1)), int(m.group(2)), 1)
        return datetime.fromisoformat(cell)
    except ValueError:
        return None


def _written(stamp: datetime, like: str) -> str:
    """``stamp`` written as the cell ``like`` is."""
    if _MONTH.match(like):
        return f"{stamp.year:04d}-{stamp.month:02d}"
    if len(like) == 10:  # a date alone
        return stamp.date().isoformat()
    clock = re.split(r"[+\-Z]", like[11:], maxsplit=1)[0]  # "00:30:00" of "00:30:00+00:00"
    spec = "auto" if "." in clock else "minutes" if clock.count(":") == 1 else "seconds"
    return stamp.isoformat(sep=like[10], timespec=spec)


def _months(a: datetime, b: datetime) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _plus_months(stamp: datetime, months: int) -> datetime | None:
    year, month = divmod(stamp.month - 1 + months, 12)
    try:
        return stamp.replace(year=stamp.year + year, month=month + 1)
    except ValueError:  # the 31st of a shorter month: no such date
        return None


def following(cells: list[str], n: int) -> list[str] | None:
    """The ``n`` stamps after the last of ``cells``, written as they are; None unless every cell
    is a stamp and every step between them the same (a fixed time, or a fixed number of months on
    the same day and time)."""
    stamps = [_parse(c.strip()) for c in cells]
    if len(stamps) < 2 or any(s is None for s in stamps):
        return None
    parsed: list[datetime] = stamps  # type: ignore[assignment]
    like = cells[-1].strip()
    # Months first: a quarter is 90 to 92 days, so a fixed time would drift off the 15th.
    months = {_months(a, b) for a, b in zip(parsed, parsed[1:])}
    same_day = len({(s.day, s.time(), s.tzinfo) for s in parsed}) == 1
    if len(months) == 1 and (m := months.pop()) > 0 and same_day:
        after = [_plus_months(parsed[-1], m * k) for k in range(1, n + 1)]
        return None if any(a is None for a in after) else [_written(a, like) for a in after]  # type: ignore[arg-type]
    steps = {b - a for a, b in zip(parsed, parsed[1:])}
    if len(steps) == 1 and (step := steps.pop()) > timedelta(0):
        return [_written(parsed[-1] + step * k, like) for k in range(1, n + 1)]
    return None


def stamp_column(header: list[str], body: list[list[str]], values: list[int]) -> int | None:
    """The first column of ``body`` (rows of cells), not one of the ``values`` columns, whose
    every cell is a stamp; None if there is none."""
    for j in range(len(header)):
        cells = [r[j].strip() if j < len(r) else "" for r in body]
        if j not in values and cells and all(_parse(c) is not None for c in cells):
            return j
    return None
