"""The time stamps of a series' rows (a ``.csv`` column of dates) and the ones after its end, so
that a forecast is written against the dates it is for (``rnnlab predict``).

Stamps are ISO dates or times (``2003-06-01``, ``2021-05-01 00:30:00+00:00``), months
(``1949-01``), dates written YYYYMMDD (``20030601``, as numbers or as text), US dates (``12/31/2023``, month first), day-first dates (``31/12/2023``) or
dotted ones (``31.12.2023``, always day first). Whether slashes put the month or the day first is
read from the column: a number above 12 decides; where none is, the reading whose dates run in
order at a fixed step is taken, and where both do the column is ambiguous and gives no dates.

The dates must run oldest first, one row per date (:func:`check_dates`): the test block is the
series' tail. They continue only where every step of the column is the same: a fixed time (a
day, half an hour), a fixed number of calendar days at the same local time (daily local midnights
in a zone with summer time, whose offset changes), a fixed number of months on the same day of
the month or on the last day of each month (a month, a quarter, a year: 2010-01-31, 2010-02-28,
...), or one weekday (Monday to Friday). A gap (missing steps),
an irregular step or another format gives no stamps, never a guessed date, and
:func:`check_dates` says why at train time.

Example:
    >>> following(["2003-04-01", "2003-05-01", "2003-06-01"], 2)
    ['2003-07-01', '2003-08-01']
    >>> following(["1949-11", "1949-12"], 1)
    ['1950-01']
    >>> following(["2021-05-01 00:00:00+00:00", "2021-05-01 00:30:00+00:00"], 1)
    ['2021-05-01 01:00:00+00:00']
    >>> following(["12/30/2023", "12/31/2023"], 2)
    ['01/01/2024', '01/02/2024']
    >>> following(["20231230", "20231231"], 2)
    ['20240101', '20240102']
    >>> following(["2010-01-31", "2010-02-28", "2010-03-31"], 2)  # month ends
    ['2010-04-30', '2010-05-31']
    >>> following(["2003-04-01", "2003-05-02", "2003-06-01"], 1) is None  # no fixed step: no date
    True
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from rnnlab.errors import DataError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DOTS = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
#: A date written YYYYMMDD (``20231231``, as ``df.to_csv`` writes an integer date): eight digits
#: of a year 1800 to 2999, so that an id or a count of eight digits is not taken for dates.
_COMPACT = re.compile(r"^(1[89]\d{2}|2\d{3})(\d{2})(\d{2})$")
#: The formats of a column of dates, in the order a column is tried.
FORMATS = ("iso", "Ymd", "m/d/Y", "d/m/Y", "d.m.Y")
#: Names a column of dates may have (besides any with "date" or "time" in it): such a column that
#: no format here reads is said at train time.
_DATE_NAMES = ("day", "month", "week", "year", "period", "ds", "when")


def _read(cell: str, fmt: str) -> datetime | None:
    """A cell as a datetime in format ``fmt`` (a date at midnight; a month on its first day), or None."""
    try:
        if fmt == "Ymd":
            m = _COMPACT.match(cell)
            return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
        if fmt == "iso":
            if cell.isdigit():  # (fromisoformat reads 20231231 too: one format per column, "Ymd")
                return None
            m = _MONTH.match(cell)
            return datetime(int(m.group(1)), int(m.group(2)), 1) if m else datetime.fromisoformat(cell)
        m = (_DOTS if fmt == "d.m.Y" else _SLASH).match(cell)
        if m is None:
            return None
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return datetime(year, a, b) if fmt == "m/d/Y" else datetime(year, b, a)
    except ValueError:
        return None


def _readings(cells: list[str]) -> dict[str, list[datetime]]:
    """Every format that reads all of ``cells`` (times all with an offset, or all without), and
    what it reads."""
    out = {}
    for fmt in FORMATS:
        parsed = []
        for c in cells:
            stamp = _read(c.strip(), fmt)
            if stamp is None:
                break
            parsed.append(stamp)
        else:
            if cells and len({s.tzinfo is None for s in parsed}) == 1:
                out[fmt] = parsed
    return out


@dataclass(frozen=True)
class Step:
    """The step of a column of dates: ``unit`` ``"months"`` (``size`` months, on one day and
    time, or on each month's last day: ``month_end``), ``"weekdays"`` (``size`` days Monday to
    Friday), ``"time"`` (a fixed ``size`` between instants) or ``"days"`` (``size`` calendar days
    at one local time: the offset may change).

    >>> str(Step("time", timedelta(minutes=30))), str(Step("months", 3)), str(Step("days", 1))
    ('30 minutes', '3 months', '1 day')
    >>> Step("months", 1, month_end=True).after(datetime(2010, 1, 31), 1)
    datetime.datetime(2010, 2, 28, 0, 0)
    """

    unit: str
    size: int | timedelta
    month_end: bool = False
    """``"months"`` only: every date is its month's last day (28 to 31 days apart)."""

    def __str__(self) -> str:
        if isinstance(self.size, timedelta):
            seconds = int(self.size.total_seconds())
            for name, length in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
                if seconds % length == 0:
                    n = seconds // length
                    return f"{n} {name}{'s' if n != 1 else ''}"
            return str(self.size)
        name = {"months": "month", "weekdays": "weekday", "days": "day"}[self.unit]
        return f"{self.size} {name}{'s' if self.size != 1 else ''}"

    def after(self, last: datetime, k: int) -> datetime | None:
        """The stamp ``k`` steps after ``last`` (local time for months and days), None where
        there is no such date (the 31st of a shorter month)."""
        if self.unit == "time":
            return last + self.size * k  # type: ignore[operator]
        if self.unit == "months":
            year, month = divmod(last.month - 1 + self.size * k, 12)  # type: ignore[operator]
            year, month = last.year + year, month + 1
            if self.month_end:
                return last.replace(year=year, month=month, day=calendar.monthrange(year, month)[1])
            try:
                return last.replace(year=year, month=month)
            except ValueError:
                return None
        if self.unit == "weekdays":
            day = np.busday_offset(last.date(), self.size * k, roll="forward")  # type: ignore[operator]
            return datetime.combine(day.astype(object), last.time())
        return last + timedelta(days=self.size * k)  # type: ignore[operator]


def _months(a: datetime, b: datetime) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _month_end(stamp: datetime) -> bool:
    return stamp.day == calendar.monthrange(stamp.year, stamp.month)[1]


def _step(stamps: list[datetime]) -> tuple[Step, list[int]] | None:
    """The step of ``stamps`` (increasing) and how many steps each difference spans (1 where
    none is missing); None unless every difference is a whole number of the commonest one and
    fewer steps are missing than there are stamps (else the times are irregular, not gapped)."""
    if len(stamps) < 2:
        return None
    local = [s.replace(tzinfo=None) for s in stamps]
    pairs = list(zip(local, local[1:]))
    same_time = len({s.time() for s in local}) == 1
    candidates: list[tuple[str, list]] = []
    # Months first: a quarter is 90 to 92 days, so a fixed time would drift off the 15th.
    ends = same_time and len({s.day for s in local}) > 1 and all(_month_end(s) for s in local)
    if same_time and (len({s.day for s in local}) == 1 or ends):
        candidates.append(("months", [_months(a, b) for a, b in pairs]))
    if same_time and all(s.weekday() < 5 for s in local):
        # (a series of business days: its weekends are no gap)
        weekdays = [int(np.busday_count(a.date(), b.date())) for a, b in pairs]
        if Counter(weekdays).most_common(1)[0][0] == 1 and any(w != (b - a).days for w, (a, b) in zip(weekdays, pairs)):
            candidates.append(("weekdays", weekdays))
    candidates.append(("time", [b - a for a, b in zip(stamps, stamps[1:])]))
    if same_time:  # calendar days at one local time: the UTC step changes with summer time
        candidates.append(("days", [(b.date() - a.date()).days for a, b in pairs]))
    for unit, diffs in candidates:
        size = Counter(diffs).most_common(1)[0][0]
        zero = timedelta(0) if unit == "time" else 0
        if size <= zero or any(d <= zero or d % size != zero for d in diffs):
            continue
        spans = [int(d / size) if unit == "time" else d // size for d in diffs]
        if sum(spans) - len(spans) < len(stamps):
            return Step(unit, size, month_end=unit == "months" and ends), spans
    return None


@dataclass(frozen=True)
class _Column:
    """A column of dates as read: its format, its stamps, their step and what each difference spans."""

    fmt: str
    stamps: list[datetime]
    step: Step
    spans: list[int]


def _column(cells: list[str], readings: dict[str, list[datetime]] | None = None) -> _Column | str:
    """The column read at a step, or why it is not (a phrase after "the dates ..."); ``readings``:
    :func:`_readings` of ``cells``, where already read."""
    readings = _readings(cells) if readings is None else readings
    if not readings:
        return "are not all dates of one format"
    stepped = {}
    for fmt, stamps in readings.items():
        if all(a < b for a, b in zip(stamps, stamps[1:])) and (found := _step(stamps)) is not None:
            stepped[fmt] = _Column(fmt, stamps, *found)
    if len(stepped) == 1:
        return next(iter(stepped.values()))
    if len(stepped) > 1 or len(readings) > 1:
        return (f"read as month/day and as day/month alike (no number above 12 in the first two places, "
                f"e.g. {cells[0].strip()!r}), and rnnlab does not guess which; write them as YYYY-MM-DD")
    if len(cells) < 2:
        return "hold one date: no step to continue"
    stamps = next(iter(readings.values()))
    months = {_months(a, b) for a, b in zip(stamps, stamps[1:])}
    if len(months) == 1 and min(months) > 0 and len({s.day for s in stamps}) > 1:  # (in step by month, not by day)
        return ("are a month apart on varying days of the month (e.g. "
                f"{', '.join(c.strip() for c in cells[:2])}): monthly dates with varying day counts are not supported "
                "unless each is its month's last day; write them as YYYY-MM")
    return ("have no fixed step (not a fixed time, a fixed number of calendar days or weekdays, or a fixed number "
            "of months on one day)")


def read_dates(cells: list[str]) -> list[datetime] | None:
    """The dates of a column of ``cells`` as :func:`following` reads them (one format, month and
    day in the order the column decides), or None unless they run at a fixed step.

    >>> [d.day for d in read_dates(["1/30/2023", "1/31/2023"])]
    [30, 31]
    >>> read_dates(["01/02/2023", "01/03/2023"]) is None  # January or February: not guessed
    True
    """
    column = _column(cells)
    return None if isinstance(column, str) else list(column.stamps)


def _written(stamp: datetime, like: str, fmt: str, pad: bool) -> str:
    """``stamp`` written as the cell ``like`` is (``pad``: day and month with two digits)."""
    if fmt == "Ymd":
        return f"{stamp.year:04d}{stamp.month:02d}{stamp.day:02d}"
    if fmt != "iso":
        day, month = (f"{stamp.day:02d}", f"{stamp.month:02d}") if pad else (str(stamp.day), str(stamp.month))
        return {"m/d/Y": f"{month}/{day}", "d/m/Y": f"{day}/{month}", "d.m.Y": f"{day}.{month}"}[fmt] + \
            f"{'/' if fmt != 'd.m.Y' else '.'}{stamp.year:04d}"
    if _MONTH.match(like):
        return f"{stamp.year:04d}-{stamp.month:02d}"
    if len(like) == 10:  # a date alone
        return stamp.date().isoformat()
    clock = re.split(r"[+\-Z]", like[11:], maxsplit=1)[0]  # "00:30:00" of "00:30:00+00:00"
    spec = "auto" if "." in clock else "minutes" if clock.count(":") == 1 else "seconds"
    text = stamp.isoformat(sep=like[10], timespec=spec)
    m = re.search(r"[+-]\d{2}:\d{2}$", text)  # (an offset of seconds, "+00:00:30", is left as isoformat writes it)
    return text if m is None else text[: m.start()] + _offset_as(m.group(), like)


def _offset_as(offset: str, like: str) -> str:
    """The offset ``offset`` (``+01:00``, as isoformat writes it) in the form the cell ``like``
    writes its own: ``Z`` for UTC, ``+0100`` compact, ``+01`` hours alone; else as it is.

    >>> _offset_as("+00:00", "2023-11-06T05:00:00Z"), _offset_as("+01:00", "2023-11-06 06:00:00+0100")
    ('Z', '+0100')
    """
    if like.endswith(("Z", "z")) and offset == "+00:00":
        return like[-1]
    if re.search(r"[+-]\d{4}$", like):
        return offset.replace(":", "")
    if re.search(r"[+-]\d{2}$", like) and offset.endswith(":00"):
        return offset[:3]
    return offset


def following(cells: list[str], n: int) -> list[str] | None:
    """The ``n`` stamps after the last of ``cells``, written as they are; None unless every cell
    is a stamp of one format and every step between them the same (a fixed time, calendar days at
    one local time, weekdays, or a fixed number of months on the same day and time). Where the
    offset changes along the column (summer time), times at a fixed step (hourly) keep the last
    offset: the step added to the last instant is exact, and a later clock change is not known
    (:func:`check_dates` says so); calendar days at one local time are local times without an
    offset: their instant depends on that unknown offset (:func:`check_dates` says so). The offset keeps the column's form
    (``Z``, ``+0100``).

    >>> following(["2023-03-11T00:00:00-05:00", "2023-03-12T00:00:00-05:00", "2023-03-13T00:00:00-04:00"], 1)
    ['2023-03-14T00:00:00']
    >>> following(["2023-10-29T01:00:00+02:00", "2023-10-29T02:00:00+02:00", "2023-10-29T02:00:00+01:00"], 1)
    ['2023-10-29T03:00:00+01:00']
    >>> following(["2023-11-06T04:00:00Z", "2023-11-06T05:00:00Z"], 1)
    ['2023-11-06T06:00:00Z']
    """
    column = _column(cells)
    if isinstance(column, str) or any(s != 1 for s in column.spans):
        return None
    last = column.stamps[-1]
    offsets = {s.utcoffset() for s in column.stamps}
    local = column.step.unit != "time"
    after = [column.step.after(last.replace(tzinfo=None) if local else last, k) for k in range(1, n + 1)]
    if any(a is None for a in after):
        return None
    if local and len(offsets) == 1:
        after = [a.replace(tzinfo=last.tzinfo) for a in after]  # type: ignore[union-attr]
    # (a day or month written without its leading zero keeps to that; 12/31 says nothing either way)
    pad = not any(len(part) == 1 for c in cells for part in re.split(r"[/.]", c.strip())[:2])
    like = cells[-1].strip()
    return [_written(a, like, column.fmt, pad) for a in after]  # type: ignore[arg-type]


#: The strftime formats of the formats whose text does not sort as their dates do.
_STRFTIME = {"m/d/Y": "%m/%d/%Y", "d/m/Y": "%d/%m/%Y", "d.m.Y": "%d.%m.%Y"}


def sort_format(cells: list[str]) -> str | None:
    """How a column of dates ``cells`` (in any order, repeated or not) sorts oldest first: ``""``
    as its text does (ISO dates and times, ``YYYY-MM``, ``YYYYMMDD``), else the strftime format
    that reads every cell (month or day first, as a number above 12 decides); None where no one
    format reads them all, or both month-first and day-first do.

    >>> sort_format(["2023-05-31", "2023-05-30"]), sort_format(["31/12/2023", "1/1/2024"]), sort_format(["1/2/2023"])
    ('', '%d/%m/%Y', None)
    """
    readings = _readings(cells)
    if "iso" in readings or "Ymd" in readings:
        return ""
    found = [_STRFTIME[f] for f in readings if f in _STRFTIME]
    return found[0] if len(found) == 1 else None


def _is_stamp(cell: str) -> bool:
    return any(_read(cell, fmt) is not None for fmt in FORMATS)


def stamp_column(header: list[str], body: list[list[str]], values: list[int]) -> int | None:
    """The first column of ``body`` (rows of cells), not one of the ``values`` columns, whose
    every cell is a stamp; None if there is none.

    >>> stamp_column(["date", "sales"], [["12/31/2023", "1.5"], ["01/01/2024", "2.0"]], [1])
    0
    """
    for j in range(len(header)):
        cells = [r[j].strip() if j < len(r) else "" for r in body]
        if j not in values and cells and all(_is_stamp(c) for c in cells):
            return j
    return None


def _check_order(where: str, name: str, cells: list[str], lines: list[int],
                 readings: dict[str, list[datetime]]) -> None:
    """Refuse a column of dates that no reading shows oldest first, one row per date."""
    if not readings or any(all(a < b for a, b in zip(s, s[1:])) for s in readings.values()):
        return
    stamps = next(iter(readings.values()))
    if all(a > b for a, b in zip(stamps, stamps[1:])):
        raise DataError(f"{where}: column {name!r} runs newest-first ({cells[0].strip()} on line {lines[0]} down to "
                        f"{cells[-1].strip()} on line {lines[-1]}); expected the oldest date first (the test block is "
                        f"the series' tail): reverse the rows below the header, e.g. (head -n 1 {where}; tail -n +2 "
                        f"{where} | tac) > sorted.csv")
    i = next(i for i in range(1, len(stamps)) if stamps[i] <= stamps[i - 1])
    back = _clock_change(stamps, i)
    if back is not None:
        raise DataError(f"{where}: line {lines[i]}, column {name!r}: {cells[i].strip()} follows "
                        f"{cells[i - 1].strip()} on line {lines[i - 1]}: the hour repeats, as local times do when the "
                        "clock goes back at the end of daylight saving; expected one row per time, oldest first: "
                        f"write the times in UTC, or with their offsets (e.g. {back})")
    if stamps[i] == stamps[i - 1]:
        # (data.path names one file: several series go in one .npz)
        raise DataError(f"{where}: line {lines[i]}, column {name!r}: the date {cells[i].strip()} again (as on line "
                        f"{lines[i - 1]}); expected one row per date, oldest first (several series in one file? save "
                        "them in an .npz, X [N, L, C] padded at the end, with lengths [N])")
    raise DataError(f"{where}: line {lines[i]}, column {name!r}: {cells[i].strip()} is earlier than "
                    f"{cells[i - 1].strip()} on line {lines[i - 1]}, the row before; expected the dates oldest first, "
                    "one row per step: sort the rows by date")


#: The months in which clocks change for daylight saving (north: March, April, October, November;
#: south: September, October, April), always at night: the hour changed starts before 04:00.
_CLOCK_MONTHS = (3, 4, 9, 10, 11)


def _clock_change(stamps: list[datetime], i: int) -> str | None:
    """Where ``stamps[i]`` is one step after ``stamps[i - 1]`` less an hour (``02:00`` again after
    ``02:00``, hourly: the clock set back at the end of daylight saving) or plus an hour (``03:00``
    after ``01:00``: the hour the clock skips going forward at its start), in local times without
    an offset at a step shorter than a day, the step before ``stamps[i - 1]`` a plain one: a clock
    change (at night, from 00:00 to 04:00, in a month of :data:`_CLOCK_MONTHS`) rather than
    several series in one file or a missing row. Then an example of the two
    times written with offsets (central Europe's, winter ``+01:00`` and summer ``+02:00``); else None.

    >>> hours = [datetime(2023, 10, 29, h) for h in (0, 1, 2, 2, 3)]
    >>> _clock_change(hours, 3)
    '2023-10-29T02:00:00+02:00, then 2023-10-29T02:00:00+01:00'
    >>> _clock_change([datetime(2023, 3, 26, h) for h in (0, 1, 3, 4)], 2)
    '2023-03-26T01:00:00+01:00, then 2023-03-26T03:00:00+02:00'
    >>> _clock_change([datetime(2023, 1, d) for d in (1, 2, 2)], 2) is None  # a date again: no clock
    True
    """
    if i < 2 or any(s.tzinfo is not None for s in stamps):
        return None
    ahead = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    if not ahead:
        return None
    step = Counter(ahead).most_common(1)[0][0]
    if not (step < timedelta(days=1) and stamps[i - 1] - stamps[i - 2] == step):
        return None
    back = stamps[i - 1] + step - stamps[i] == timedelta(hours=1)  # the hour again
    forward = stamps[i] - stamps[i - 1] - step == timedelta(hours=1)  # the hour skipped
    hour = stamps[i] if back else stamps[i - 1] + step  # (the hour repeated or skipped)
    if not (back or forward) or hour.hour >= 4 or hour.month not in _CLOCK_MONTHS:
        return None  # (else a missing row at noon, a duplicate in May, would be called a clock change)
    if back:
        return f"{stamps[i].isoformat()}+02:00, then {stamps[i].isoformat()}+01:00"
    return f"{stamps[i - 1].isoformat()}+01:00, then {stamps[i].isoformat()}+02:00"


def check_dates(where: str, header: list[str], body: list[list[str]], values: list[int], lines: list[int]
                ) -> tuple[int | None, list[str]]:
    """The column of dates of a ``.csv``'s rows (``body``, each cell's line in ``lines``; not
    one of the ``values`` columns): its index (:func:`stamp_column`), or None; and what a
    forecaster should hear of it at train time: a gap (missing steps: the model reads rows as
    contiguous, so a season drifts out of phase), or why the forecast after the end will carry no
    dates (an hour skipped where the clock goes forward: no row missing), or that its dates after
    the end may not follow a clock change (an offset that changes along the column). A column that
    does not run oldest first, one row per date, is refused (a :class:`DataError` naming the file ``where``, the column and the first line out of order):
    newest-first, the test block would be the oldest dates and the forecast after the end a value
    before the start.

    >>> check_dates("s.csv", ["date", "v"], [["2023-01-01", "1"], ["2023-01-02", "2"], ["2023-01-05", "3"]], [1],
    ...             [2, 3, 4])[1]
    ["s.csv: column 'date' misses 2 steps of 1 day (first gap: 2023-01-02 on line 3, then 2023-01-05 on line 4); the model reads the rows as consecutive steps, so a season drifts out of phase at each gap, and the forecast after the end carries no dates: add the missing rows (e.g. interpolated values) or cut the series at the gap"]
    >>> check_dates("s.csv", ["date", "v"], [["2023-01-03", "1"], ["2023-01-02", "2"], ["2023-01-01", "3"]], [1],
    ...             [2, 3, 4])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: s.csv: column 'date' runs newest-first (2023-01-03 on line 2 down to 2023-01-01 on line 4); expected the oldest date first (the test block is the series' tail): reverse the rows below the header, e.g. (head -n 1 s.csv; tail -n +2 s.csv | tac) > sorted.csv
    """
    j = stamp_column(header, body, values)
    if j is None:
        return None, _unread_dates(where, header, body, values, lines)
    name = header[j] or "date"
    cells = [r[j].strip() for r in body]
    readings = _readings(cells)
    _check_order(where, name, cells, lines, readings)
    column = _column(cells, readings)
    if isinstance(column, str):
        return j, [f"{where}: column {name!r}: the dates {column}; the forecast after the end carries no dates"]
    gaps = [i for i, s in enumerate(column.spans) if s > 1]
    if not gaps:
        return j, _clock_notes(where, name, cells, lines, column)
    # (an hour the clock skips going forward is no missing row: adding one would invent a time)
    skipped = [i for i in gaps if _clock_change(column.stamps, i + 1) is not None]
    real = [i for i in gaps if i not in skipped]
    if not real:
        i = skipped[0]
        more = f" (and {len(skipped) - 1} more such hour{'s' if len(skipped) > 2 else ''})" if len(skipped) > 1 else ""
        return j, [f"{where}: line {lines[i + 1]}, column {name!r}: {cells[i + 1]} follows {cells[i]} on line "
                   f"{lines[i]}: the hour between is skipped, as local times skip it when the clock goes forward at "
                   f"the start of daylight saving{more}; no row is missing, but the times are not at a fixed step, so "
                   "the forecast after the end carries no dates: write the times in UTC, or with their offsets (e.g. "
                   f"{_clock_change(column.stamps, i + 1)})"]
    missing = sum(column.spans[i] - 1 for i in real)
    i = real[0]
    return j, [f"{where}: column {name!r} misses {missing} step{'s' if missing != 1 else ''} of {column.step} "
               f"(first gap: {cells[i]} on line {lines[i]}, then {cells[i + 1]} on line {lines[i + 1]}); the model "
               "reads the rows as consecutive steps, so a season drifts out of phase at each gap, and the forecast "
               "after the end carries no dates: add the missing rows (e.g. interpolated values) or cut the series at "
               "the gap"]


def _clock_notes(where: str, name: str, cells: list[str], lines: list[int], column: _Column) -> list[str]:
    """What a forecaster should hear of a column of dates whose dates after the end may not be the
    clock's: rnnlab knows no time zone, so it adds the step to the last time. Where the offset
    changes along the column, times at a fixed step (hourly) keep the last offset (their instants
    are exact; a later clock change is not known), and calendar days or months at one local time
    (daily midnights) are written without one (:func:`following`): both said in one line. Nothing
    for dates, times at one offset (exact instants), or local times without an offset (the step
    added, as docs/streams.md says: nothing in such a column shows a clock change).

    >>> hours = ["2024-03-30T11:00:00+01:00", "2024-03-30T12:00:00+01:00"]
    >>> _clock_notes("s.csv", "t", hours, [2, 3], _column(hours))
    []
    """
    last = column.stamps[-1]
    if last.tzinfo is None:
        # (no evidence of a clock change: a column that repeated an hour is refused, one that skipped
        # one is said by check_dates; a note on every hourly file in UTC or a zone without one would be noise)
        return []
    i = max((k for k, s in enumerate(column.stamps) if s.utcoffset() != last.utcoffset()), default=None)
    if i is None:
        return []
    before, after = _offset_of(column.stamps[i]), _offset_of(last)
    if column.step.unit != "time":  # (local times: :func:`following` writes them without an offset)
        first = following(cells, 1)
        return [f"{where}: column {name!r}: the offset changes along the column ({before} on line {lines[i]}, {after} "
                f"from line {lines[i + 1]}); the dates after the end{f' ({first[0]}, ...)' if first else ''} are "
                f"written without an offset: they are {column.step} apart at one local time, and the offset a later "
                f"clock change brings is not known (rnnlab knows no time zone), so the last, {after}, could be wrong for them: "
                "read them as local times of the zone (pandas: pd.to_datetime(dates).dt.tz_localize(ZONE), ZONE its "
                "name, e.g. 'Europe/Berlin')"]
    return [f"{where}: column {name!r}: the offset changes along the column ({before} on line {lines[i]}, {after} from "
            f"line {lines[i + 1]}); the dates after the end keep the last one, {after}: their instants are exact, but "
            "the offset a later clock change brings is not known (rnnlab knows no time zone), so after one their local "
            "hour is not the clock's: convert them to the zone for its clock (pandas: pd.to_datetime(dates, utc=True)"
            ".dt.tz_convert(ZONE), ZONE its name, e.g. 'Europe/Berlin')"]


def _offset_of(stamp: datetime) -> str:
    """The offset of ``stamp`` as isoformat writes it (``+01:00``)."""
    return stamp.isoformat()[len(stamp.replace(tzinfo=None).isoformat()):]


def _unread_dates(where: str, header: list[str], body: list[list[str]], values: list[int], lines: list[int]
                  ) -> list[str]:
    """A column named as dates (and holding digits) that no format here reads: said, since the
    forecast will carry no dates."""
    for k, name in enumerate(header):
        cells = [r[k].strip() if k < len(r) else "" for r in body]
        lowered = name.lower()
        if k in values or not (lowered in _DATE_NAMES or "date" in lowered or "time" in lowered):
            continue
        bad = next(i for i, c in enumerate(cells) if not _is_stamp(c))
        if not re.search(r"\d", cells[bad]):  # (a weekday's name, a flag: no date meant)
            continue
        return [f"{where}: column {name!r} is not read as dates ({cells[bad]!r} on line {lines[bad]} is none of "
                "2023-12-31, 2023-12-31T08:30:00, 2023-12, 20231231, 12/31/2023, 31/12/2023, 31.12.2023): the forecast "
                "after the end carries no dates"]
    return []


def compact_dates(where: str, name: str, cells: list[str], lines: list[int]) -> bool:
    """Whether a column of numbers named as the rows' dates (``name``, its ``cells`` on
    ``lines`` of the file ``where``) holds them written YYYYMMDD (``20231231``): True when every
    cell is such a date, so the column is the dates rather than a channel; False when its first
    cell is not eight digits of that shape (a counter 1, 2, 3: no such dates meant). Where the
    first is and a later cell is no calendar date (``20241345``), a :class:`DataError` names its
    line and value.

    >>> compact_dates("s.csv", "date", ["20231230", "20231231"], [2, 3])
    True
    >>> compact_dates("s.csv", "date", ["1", "2"], [2, 3])
    False
    >>> compact_dates("s.csv", "date", ["20231230", "20231345"], [2, 3])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: s.csv: line 3, column 'date': expected a date written YYYYMMDD, as '20231230' on line 2 is, got '20231345' (no calendar date: a month 01-12, then a day of that month)
    """
    if not cells or not _COMPACT.match(cells[0]):
        return False
    for cell, line in zip(cells, lines, strict=True):
        if _read(cell, "Ymd") is None:
            why = ("no calendar date: a month 01-12, then a day of that month" if re.fullmatch(r"\d{8}", cell)
                   else "not eight digits: year, month, day")
            raise DataError(f"{where}: line {line}, column {name!r}: expected a date written YYYYMMDD, as "
                            f"{cells[0]!r} on line {lines[0]} is, got {cell!r} ({why})")
    return True
