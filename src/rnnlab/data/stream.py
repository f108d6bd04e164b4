"""Long series ("streams"): read, split contiguously, scaled on the training part, cut into rows.

A stream task (``[task] kind = "forecasting"``) learns from one or more long series ``[L, C]``
instead of many short sequences. This module is the one way such data becomes the
:class:`rnnlab.data.DataSplits` the trainer reads; its API is small:

* :func:`read_series` -- the series of a ``[data]`` section: a bundled source
  (:data:`BUNDLED_STREAMS`, CSV files shipped in ``rnnlab/data/series``), an ``.npz`` (key ``X`` or
  ``series``: [L], [L, C], or several series [N, L, C] padded at the end with ``lengths`` [N],
  padding without them refused as the sequence reader refuses it) or
  a ``.csv`` (one row per step; ``data.columns`` selects the columns, default every numeric one).
* :func:`split_bounds` -- where each series' blocks end: validation and test are its *tail*
  blocks (``data.val_steps`` / ``data.test_steps``, or ``data.val_fraction`` /
  ``data.test_fraction``); with a :class:`rnnlab.data.Fold` the blocks are forward-chaining
  (:func:`rnnlab.data.folds.forward_chaining`): the model never trains on the future.
* :func:`batchify` -- the training part cut into ``data.streams`` parallel rows (AWD-LSTM's
  batchify), each row one contiguous piece of one series: the trainer reads the rows as one
  batch in windows of ``data.bptt`` steps and carries each row's state from a window to the next
  (:func:`rnnlab.train.trainer.batching`), so a series' end is a row's end and the state resets
  there, and at each epoch's start.
* :func:`load_stream` -- all of it: :class:`~rnnlab.data.DataSplits` whose ``train`` holds the
  rows, and whose ``val``, ``test`` and ``whole_train`` hold each series from its start to the end
  of the evaluated block, with targets only on that block (NaN elsewhere, the per-step padding
  mark): the evaluation runs the model over everything before the block (a warm-up) and scores
  the block alone.

Forecasting targets: at step ``t`` the model has read ``x[0..t]`` and predicts the next
``horizon`` values ``x[t+1..t+horizon]`` of every channel (a target row of ``horizon * C``
values, step-major). Inputs and targets are scaled by the per-channel statistics of the training
part only (``data.normalize = "per_series"`` is refused: each series' own statistics would read
its future).

Example:
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> c = parse_config('[task]\\nkind = "forecasting"\\nhorizon = 2\\nseason = 12\\n'
    ...                  '[data]\\ndataset = "Airline"\\nbptt = 24\\nstreams = 2\\ntest_steps = 24\\nval_steps = 24')
    >>> d = load_stream(c.data, seed=0, task=task_for(c))
    >>> d.train.X.shape, d.train.y.shape, d.val.X.shape, d.test.X.shape
    ((2, 47, 1), (2, 47, 2), (1, 118, 1), (1, 142, 1))
    >>> int((~np.isnan(d.test.y[0, :, 0])).sum())   # 24 test steps: 23 origins with 2 steps ahead inside
    23
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import re
import typing
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rnnlab._checks import did_you_mean
from rnnlab.config import DataConfig
from rnnlab.data import check_ragged
from rnnlab.data.bundled import Sequences
from rnnlab.data.files import (
    check_separator,
    column_role,
    existing_file,
    index_columns,
    long_table_npz,
    open_npz,
)
from rnnlab.data.folds import Fold, forward_chaining
from rnnlab.data.normalize import ChannelStats, InputScaling
from rnnlab.data.stamps import check_dates, compact_dates, sort_format, stamp_column
from rnnlab.errors import DataError, library_reason
from rnnlab.task import RegressionTally, TargetScale, Task

if typing.TYPE_CHECKING:
    from rnnlab.data import DataSplits


@dataclass(frozen=True)
class BundledStream:
    """A series shipped with rnnlab: its CSV file in :data:`SERIES_DIR`, value columns, and the
    season length a forecaster should compare against."""

    file: str
    columns: tuple[str, ...]
    season: int
    about: str


#: Where the bundled series live: copies of aeon 1.6's CSV files (see its README.md), kept here
#: because aeon 1.7 drops Lynx, ShampooSales and PBS_dataset; reading them needs no aeon.
SERIES_DIR = Path(__file__).resolve().parent / "series"

BUNDLED_STREAMS = {
    "Airline": BundledStream("Airline.csv", ("Passengers",), 12, "monthly airline passengers, 1949-1960"),
    "Lynx": BundledStream("Lynx.csv", ("0",), 10, "yearly lynx trappings in Canada, 1821-1934"),
    "ShampooSales": BundledStream("ShampooSales.csv", ("Sales",), 12, "monthly shampoo sales, 3 years"),
    "PBS": BundledStream("PBS_dataset.csv", ("Scripts",), 12, "monthly PBS prescriptions, 1991-2008"),
    "Uschange": BundledStream("Uschange.csv", ("Consumption", "Income", "Production", "Savings",
                                                         "Unemployment"), 4, "quarterly US changes, 5 channels"),
    "solar": BundledStream("solar.csv", ("solar_gen",), 48, "half-hourly solar generation, 6 days"),
}


def describe_streams() -> list[dict[str, object]]:
    """One row per bundled series, as ``rnnlab datasets`` lists data sets (task ``forecasting``:
    one series, its length and channels).

    >>> [r["length"] for r in describe_streams() if r["name"] == "Airline"]
    [144]
    """
    rows: list[dict[str, object]] = []
    for name in BUNDLED_STREAMS:
        values = read_series(DataConfig(dataset=name)).values[0]
        rows.append({"name": name, "task": "forecasting", "train": 1, "test": "(tail)", "length": len(values),
                     "channels": values.shape[1], "classes": "-", "targets": f"season {BUNDLED_STREAMS[name].season}"})
    return rows


@dataclass
class Series:
    """Long series as read: ``values`` one float64 [L_i, C] array per series, ``columns`` the
    channels' names."""

    name: str
    values: list[np.ndarray]
    columns: list[str]
    stamps: tuple[str, list[str]] | None = None
    """A ``.csv``'s column of dates (its name, its cells): what the forecast after the series' end
    continues (:func:`rnnlab.data.stamps.following`)."""
    notes: list[str] = field(default_factory=list)
    """What training says of the data as warnings (a ``.csv``'s dates: a gap, or why the forecast
    carries none: :func:`rnnlab.data.stamps.check_dates`)."""


def _read_csv(path: Path, columns: list[str] | None, key: str
              ) -> tuple[np.ndarray, list[str], tuple[str, list[str]] | None, list[str]]:
    """A CSV with a header and one row per step: the selected columns (default: every column
    with a number in it, a date or text column skipped; a gap, a NaN or an inf in a column of
    numbers is an error) as float64 [L, C], their names, the first other column of dates, if any
    (its name, cells; refused unless oldest first), and what training says of the data (the
    dates: :func:`rnnlab.data.stamps.check_dates`; by default, the columns of text left out).
    By default, what is no values is refused rather than read as a channel: pandas's index column
    (:func:`rnnlab.data.files.index_columns`), a column of numbers named as an id or as the rows'
    dates (:func:`rnnlab.data.files.column_role`; unless its numbers are dates written YYYYMMDD,
    ``20231231``: then it is the dates), and one of numbers written with separators;
    a file of another separator is refused saying it (:func:`rnnlab.data.files.check_separator`).
    Several series in one file are refused with the pandas code that writes them to an ``.npz``
    with lengths: a long table, one row per step of each (:func:`_check_long_table`), and a wide
    file whose columns start later or end earlier than its rows (:func:`_check_unequal`)."""
    rows, lines = [], []  # (lines: each row's line in the file, blank lines and quoted line ends counted)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for r in reader:
                if any(c.strip() for c in r):
                    rows.append(r)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read as a .csv file ({library_reason(e)})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and one row per step, got {len(rows)} row(s)")
    header = [h.strip() for h in rows[0]]
    body, body_lines = rows[1:], lines[1:]
    check_separator(str(path), header)
    _check_long_table(path, header, body, body_lines, columns)
    left_out: list[int] = []
    if columns is None:
        # A column of values is one with a number in it: the rest must be numbers too. Dropping a
        # column for one gap would forecast the other columns without a word.
        index_columns(str(path), header, rows, lines)
        numeric = [j for j in range(len(header))
                   if header[j] and any(j < len(r) and _number(r[j].strip()) is not None for r in body)]
        chosen = [j for j in numeric if not _named_dates(
            path, header[j], [r[j].strip() if j < len(r) else "" for r in body], body_lines)]
        left_out = [j for j in range(len(header)) if header[j] and j not in numeric]
        for j in left_out:
            _check_separated(path, header[j], [r[j].strip() if j < len(r) else "" for r in body], body_lines)
        if not chosen:
            raise DataError(f"{path}: no column holds numbers (header {header[:6]}, first row {body[0][:6]}); "
                            "expected at least one column of values (plain numbers: 1234.5, not 1,234.5), "
                            "or set data.columns")
    else:
        if not columns:  # (no channel: the model would fail on it with an internal error)
            raise DataError(f"{key}: expected at least 1 column of values, got [] (remove the key to read every "
                            "column with numbers in it)")
        chosen = []
        for c in columns:
            if c not in header:
                raise DataError(f"{key}: no column {c!r} in {path}{did_you_mean(c, header)}; header {header[:8]}")
            chosen.append(header.index(c))
    # A column is read back by its name (rnnlab predict --data, forecast.csv's header): two of one
    # name would be the first read twice there, so the forecast would be of the wrong column.
    for j in chosen:
        if header.count(header[j]) > 1:
            places = [str(k + 1) for k, h in enumerate(header) if h == header[j]]
            raise DataError(f"{path}: column {header[j]!r} appears {len(places)} times in the header (columns "
                            f"{', '.join(places)} of {len(header)}); expected each column's name once (rnnlab reads "
                            "columns by name): rename the others")
    out = np.empty((len(body), len(chosen)))
    for row, (i, r) in enumerate(zip(body_lines, body, strict=True)):
        for k, j in enumerate(chosen):
            cell = r[j].strip() if j < len(r) else ""
            value = _number(cell)
            if value is None:
                if not cell:
                    _check_unequal(path, header, body, body_lines, chosen, j, columns)
                plain = "plain numbers: 1234.5, not 1,234.5; " if _separated(cell) else ""
                raise DataError(f"{path}: line {i}, column {header[j]!r}: expected a number, got "
                                f"{(r[j] if j < len(r) else '')!r} ({plain}every row of a column of values needs one; "
                                f"{_no_number_fix(header, body, columns, j)})")
            if not math.isfinite(value):  # (float() reads "nan" and "inf": a gap by another name)
                raise DataError(f"{path}: line {i}, column {header[j]!r}: expected a finite number, got {cell!r}; "
                                "fill or cut the gaps")
            out[row, k] = value
    dates, notes = check_dates(str(path), header, body, chosen, body_lines)
    stamps = None if dates is None else (header[dates] or "date", [r[dates].strip() for r in body])
    # (a column of text left out without a word: the user may have meant it as a channel)
    unsaid = [j for j in left_out if j != dates and not any(f"column {header[j]!r}" in n for n in notes)]
    if unsaid:
        notes.append(_left_out_note(path, header, body, body_lines, unsaid, [header[j] for j in chosen]))
    return out, [header[j] for j in chosen], stamps, notes


def _series_key(header: list[str], body: list[list[str]], skip: set[int], dates: int | None) -> list[int]:
    """The columns of a ``.csv`` (``body``: its rows; not those in ``skip``) whose values tell
    several series apart: the columns named as ids (:func:`rnnlab.data.files.column_role`), else
    one of text whose values come in runs, one run per series (where the dates do not run once
    through the file), else the fewest columns of integer codes or text that, beside repeated
    dates (column ``dates``), make each date once per series; [] where there are none."""
    cells = {j: [r[j].strip() if j < len(r) else "" for r in body] for j in range(len(header))
             if j not in skip and j != dates and column_role(header[j]) != "index"}
    # (an id has a value on every row and names a series of several rows)
    ids = {j: c for j, c in cells.items() if all(c) and 2 <= len(set(c)) <= len(c) / 2}
    codes = {j: c for j, c in ids.items()
             if all(_number(v) is None for v in c) or all(re.fullmatch(r"[+-]?\d+", v) for v in c)}
    stamps = None if dates is None else [r[dates].strip() for r in body]
    repeated = stamps is not None and len(set(stamps)) < len(stamps)

    def once_per_series(key: list[int]) -> bool:
        return stamps is not None and len(set(zip(*(ids[j] for j in key), stamps))) == len(stamps)

    named = [j for j in codes if column_role(header[j]) == "id"]
    if named:
        return named
    runs = [j for j, c in codes.items() if all(_number(v) is None for v in c)
            and 1 + sum(a != b for a, b in zip(c, c[1:])) == len(set(c))]
    if runs and (stamps is None or repeated):
        return runs[:1]
    if repeated:
        for size in (1, 2):
            key = next((list(k) for k in itertools.combinations(list(codes)[:8], size) if once_per_series(list(k))), None)
            if key:
                return key
    return []


def _check_long_table(path: Path, header: list[str], body: list[list[str]], lines: list[int],
                      columns: list[str] | None) -> None:
    """Refuse a ``.csv`` that holds several series one below the other (a long table: a column of
    ids beside the dates and values, :func:`_series_key`): read as one series, its id would be a
    channel and the series joined end to end (or its dates out of order). The fix: the pandas code
    that writes an ``.npz`` of the series (:func:`rnnlab.data.files.long_table_npz`), and, where
    every series covers the same dates, the pivot to a wide ``.csv`` of one column per series."""
    chosen = {header.index(c) for c in columns or [] if c in header}
    dates = stamp_column(header, body, sorted(chosen))
    key = _series_key(header, body, chosen, dates)
    if not key:
        return
    names = [header[j] for j in key]
    values = [header[j] for j in sorted(chosen)] if columns else [
        h for j, h in enumerate(header) if j not in key and j != dates and column_role(h) != "index"
        and any(j < len(r) and _number(r[j].strip()) is not None for r in body)]
    if not values:
        return
    series: dict[tuple[str, ...], int] = {}  # (each series' first line)
    covered: dict[tuple[str, ...], set[str]] = {}  # (each series' dates)
    for r, line in zip(body, lines, strict=True):
        k = tuple(r[j].strip() for j in key)
        series.setdefault(k, line)
        covered.setdefault(k, set()).add(r[dates].strip() if dates is not None else "")
    shown = ", ".join((f"{k[0]!r}" if len(k) == 1 else f"({', '.join(k)})") + f" on line {line}"
                      for k, line in list(series.items())[:2])
    time = header[dates] if dates is not None else None
    order = sort_format([r[dates].strip() for r in body]) if dates is not None else None
    code = long_table_npz(path, names, time if order is not None else None, values, time_format=order or "")
    what = f"column {names[0]!r} identifies" if len(names) == 1 else f"columns {names} identify"
    wide = ""
    # (a pivot sorts its rows by the dates' text: only where that is their order)
    same = order == "" and len({frozenset(d) for d in covered.values()}) == 1
    if same and len(key) == 1 and len(values) == 1:
        wide = (f"; or, as every series covers the same dates, a wide .csv with one column per series (read as the "
                f"channels of one series): df.pivot(index={time!r}, columns={names[0]!r}, values={values[0]!r})"
                f".to_csv({path.stem + '_wide.csv'!r})")
    if dates is None and all(column_role(n) != "id" for n in names):  # (text in runs alone: a phase, maybe)
        wide = f"; if {names[0]!r} holds no series' ids, drop it: pd.read_csv(path).drop(columns=[{names[0]!r}]).to_csv(path, index=False)"
    raise DataError(
        f"{path}: {what} {len(series)} series ({shown}{', ...' if len(series) > 2 else ''}): a long table of several series, one row per step of "
        f"each; a forecasting .csv is one series (one row per step, each column of values a channel) and a run "
        f"reads one file: save the series in an .npz, X [N, L, {len(values)}] with lengths [N] (import numpy as np, "
        f"pandas as pd): {code}{wide}")


def _check_unequal(path: Path, header: list[str], body: list[list[str]], lines: list[int], chosen: list[int],
                   j: int, columns: list[str] | None) -> None:
    """Refuse a column of values ``j`` empty only on its first rows or its last (the rest filled):
    in a wide ``.csv`` of several series, one that starts later or ends earlier than the others.
    A ``.csv`` is one series with a value of each channel on every row: series of unequal lengths
    go in an ``.npz`` with lengths, for which the error gives the pandas code. Choosing the columns
    (``data.columns``) is advised only where they were not chosen (``columns`` None): under
    ``rnnlab predict --data`` they are the run's."""
    def span(k: int) -> tuple[int, int] | None:
        """The rows from the first filled cell of column ``k`` to its last, where every cell between is filled."""
        filled = [bool(k < len(r) and r[k].strip()) for r in body]
        if not any(filled):
            return None
        start, end = filled.index(True), len(filled) - filled[::-1].index(True)
        return (start, end) if all(filled[start:end]) else None

    at = span(j)
    if at is None or at == (0, len(body)):
        return
    short = [k for k in chosen if (s := span(k)) is not None and s != (0, len(body))]
    start, end = at
    where = (f"empty on its first {start} row{'s' if start != 1 else ''} (its values start on line {lines[start]})"
             if start else f"empty from line {lines[end]} to the end (its values end on line {lines[end - 1]})")
    others = [h for k, h in enumerate(header) if h and k not in chosen]
    names = f"df.columns.drop({others!r})" if others else "df.columns"
    code = (f"df = pd.read_csv({str(path)!r}); s = [df[c].loc[df[c].first_valid_index():df[c].last_valid_index()]"
            f".to_numpy(float) for c in {names}]; lengths = np.array([len(v) for v in s]); X = np.stack([np.pad(v, "
            f"(0, lengths.max() - len(v))) for v in s])[:, :, None]; np.savez({path.stem + '.npz'!r}, X=X, "
            "lengths=lengths)")
    raise DataError(
        f"{path}: column {header[j]!r} is {where}, and {len(short)} of the {len(chosen)} columns of values start later "
        f"or end earlier than the file's rows: series of unequal lengths? A .csv is one series, a value of each column on "
        f"every row; series of unequal lengths go in an .npz, X [N, L, 1] with lengths [N] (import numpy as np, "
        f"pandas as pd): {code}; or, if the columns are channels of one series, keep the rows where every column has "
        "a value (df.dropna())" + (" or set data.columns to the columns to read" if columns is None else ""))


def _no_number_fix(header: list[str], body: list[list[str]], columns: list[str] | None, j: int) -> str:
    """The fix for a cell of column ``j`` that is no number. By default (``columns`` None) the
    columns read are every one with a number: choosing them is the fix. Where they are chosen (set
    by the user, or the run's own under ``rnnlab predict --data``), choosing again cannot help for a
    column of values: its value is filled or the series cut; a column of dates is read as the rows'
    dates without being listed, and one of text is no channel: either is taken out of the list.

    >>> print(_no_number_fix(["date", "v"], [["2023-01-01", "1"]], ["date", "v"], 0))
    take 'date' out of data.columns, as a column of dates is read as the rows' dates without being listed: columns = ["v"]
    """
    if columns is None:
        return "or set data.columns to the columns to read"
    cells = [r[j].strip() if j < len(r) else "" for r in body]
    if any(_number(c) is not None for c in cells):
        return "fill it (e.g. with an interpolated value: df.interpolate()) or cut the series at it"
    others = [c for c in columns if c != header[j]]
    dates = stamp_column([header[j]], [[c] for c in cells], []) == 0
    why = "a column of dates is read as the rows' dates without being listed" if dates else \
        "a column with no number in it is no channel"
    listed = f"columns = [{', '.join(map(json.dumps, others))}]" if others else "list the columns of values instead"
    return f"take {header[j]!r} out of data.columns, as {why}: {listed}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


#: What a number is written with besides its digits, sign and decimal point: thousands separators
#: (``10,038.00``, ``10'038``, ``10 038``) or a decimal comma (``100,38``).
_SEPARATORS = re.compile(r"[,' \u00a0\u202f]")


def _separated(cell: str) -> bool:
    """Whether ``cell`` is a number but for separators (:data:`_SEPARATORS`)."""
    return bool(_SEPARATORS.search(cell)) and re.search(r"\d", cell) is not None and \
        _number(_SEPARATORS.sub("", cell)) is not None


def _check_separated(path: Path, name: str, cells: list[str], lines: list[int]) -> None:
    """Refuse a column whose cells are numbers but for separators (``"10,038.00"``, as Excel
    and ``df.to_csv`` with formatted numbers write them): left out, its channel would be missing
    from the forecast without a word."""
    filled = [(c, line) for c, line in zip(cells, lines, strict=True) if c]
    if not filled or not all(_number(c) is not None or _separated(c) for c, _ in filled):
        return
    cell, line = next((c, line) for c, line in filled if _separated(c))
    fix = ("pandas.read_csv(path, thousands=',').to_csv(path, index=False)" if re.fullmatch(
        r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?", cell) else "write them without separators")
    raise DataError(f"{path}: column {name!r} holds numbers written with separators ({cell!r} on line {line}); "
                    f"expected plain numbers: 1234.5, not 1,234.5 or 1,5 ({fix}), or set data.columns to the "
                    "columns to read without it")


def _named_dates(path: Path, name: str, cells: list[str], lines: list[int]) -> bool:
    """Whether a column of numbers is the rows' dates written YYYYMMDD (``20230102``, named as
    dates: :func:`rnnlab.data.stamps.compact_dates`), so no channel; False for a column of values.
    Refuse one whose name says it is no values (:func:`rnnlab.data.files.column_role`): an ``id``,
    or where a row is (``date``, ``time``, ``step``, ...) but no such dates. Read as a channel, a
    counter or an id is forecast as data: it drags the run's MASE down, and the forecast loses its
    dates."""
    role = column_role(name)
    if role is None or role == "index":
        return False
    if role == "time" and compact_dates(str(path), name, cells, lines):
        return True
    cell, line = next((c, line) for c, line in zip(cells, lines, strict=True) if _number(c) is not None)
    keep = "or, if it holds values, list it in data.columns"
    if role == "id":
        raise DataError(f"{path}: column {name!r} holds numbers ({cell!r} on line {line}) but is named as an id, not "
                        f"a channel of values; drop it (df.drop(columns=[{name!r}])), {keep}")
    raise DataError(f"{path}: column {name!r} is named as the rows' dates or times but holds numbers ({cell!r} on "
                    f"line {line}), no date format rnnlab reads, and a column so named is never a channel; write its dates as "
                    f"dates (2023-12-31, 2023-12-31T08:30:00, 20231231, ...), drop it, {keep}")


def _left_out_note(path: Path, header: list[str], body: list[list[str]], lines: list[int], left: list[int],
                   channels: list[str]) -> str:
    """The warning naming the columns a ``.csv`` holds besides its channels and its dates."""
    said = []
    for j in left:
        found = next(((r[j].strip(), line) for r, line in zip(body, lines, strict=True)
                      if j < len(r) and r[j].strip()), None)
        said.append(f"{header[j]!r} ({found[0]!r} on line {found[1]})" if found else f"{header[j]!r} (empty)")
    one = len(left) == 1
    return (f"{path}: column{'' if one else 's'} {', '.join(said)} hold{'s' if one else ''} no numbers and "
            f"{'is' if one else 'are'} left out: the channels are {', '.join(channels)} (set data.columns to "
            "choose them)")


def _read_npz(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Key ``X`` (or ``series``): one series [L] or [L, C], or several [N, L, C] padded at the
    end with ``lengths`` [N]; object (ragged) arrays are refused, never unpickled, and so are
    ``lengths`` beside one series (a 2-D X of N series would be read as N steps of L channels).

    Several series without ``lengths`` are read as L steps each, so padding is refused by the
    check the sequence reader uses (:func:`rnnlab.data.check_ragged`): NaN that fills a series
    from some step to its end, and zero padding (:func:`rnnlab.data.checks.zero_padding`):
    every channel exactly 0 from some step to the end, each such run more than 3 times as long
    as the longest all-zero run inside its series, in at least 2 series (and 5 % of them), runs
    of differing lengths, the longest at least 4 steps. A series that ends in zeros of its own
    (PBS's last 38 months, solar's night, a count series' quiet days, an intermittent series'
    zero days) is read as it is: alone, or among series whose zero runs inside are as long.
    """
    save = "save the series with numpy.savez(path, X=series) ([L], [L, C], or [N, L, C] with lengths=lengths)"
    try:
        with open_npz(path, save) as npz:
            keys = list(npz.keys())
            key = "X" if "X" in keys else "series" if "series" in keys else None
            if key is None:
                raise DataError(f"{path}: expected the series under key 'X' or 'series', got keys {keys}")
            # (a dropped array would be data the user meant to use: a y of targets, say, when a
            # forecaster's targets are the series' own next values)
            unknown = sorted(set(keys) - {key, "lengths"})
            if unknown:
                raise DataError(f"{path}: unexpected array(s) {unknown}; a series .npz holds X (or series) and "
                                "optionally lengths (a forecaster's targets are the series' own next values)")
            X = npz[key]
            lengths = npz["lengths"] if "lengths" in keys else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, DataError):
            raise
        ragged = "pickle" in str(e) or "object" in str(e)
        refused = ("; object (ragged) arrays would need unpickling, which rnnlab never does: save several series as "
                   "X [N, L, C] padded at the end, with lengths [N]") if ragged else ""
        reason = "it holds an object array" if ragged else library_reason(e)
        raise DataError(f"{path}: cannot read as an .npz file ({reason}){refused}") from None
    if X.dtype.kind not in "iuf":
        raise DataError(f"{path}: expected numbers in '{key}', got dtype {X.dtype}")
    X = np.asarray(X, dtype=np.float64)
    ndim, shape = X.ndim, list(X.shape)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim not in (2, 3):
        raise DataError(f"{path}: expected a series [L], [L, C] or several [N, L, C] in '{key}', got shape "
                        f"{list(X.shape)}")
    # (the model would fail on them with an internal error, far from the file)
    if X.shape[-1] == 0:
        raise DataError(f"{path}: {key}: expected at least 1 channel (C >= 1 in [L, C] or [N, L, C]), got shape "
                        f"{list(X.shape)}")
    if X.shape[-2] == 0:
        raise DataError(f"{path}: {key}: expected at least 1 step (L >= 1 in [L, C] or [N, L, C]), got shape "
                        f"{list(X.shape)}")
    if X.ndim == 2:
        if lengths is not None:
            # (read as one series, the lengths would be ignored: N series become N steps of L channels)
            given = "1-D" if ndim == 1 else "2-D"
            read = "[L]" if ndim == 1 else "[L, C]"
            raise DataError(
                f"{path}: 'lengths' {list(lengths.shape)} beside a {given} '{key}' {shape}: a {given} '{key}' is read "
                f"as one series {read} ({X.shape[0]} steps of {X.shape[1]} channel{'s' if X.shape[1] != 1 else ''}), "
                "which takes no lengths; " + ("save it without them, np.savez(path, X=X), or several series as "
                                              "[N, L, 1] with lengths" if ndim == 1 else
                                              "save several series as X[:, :, None] ([N, L, 1]) with lengths: "
                                              "np.savez(path, X=X[:, :, None], lengths=lengths)"))
        return [X], [f"x{c}" for c in range(X.shape[1])]
    if lengths is None:
        # (read as L steps each, padding would be data: the zeros forecast, a test block of zeros
        # scored as an easy win; NaN's error would say "fill the gaps", not "add lengths")
        check_ragged(X, str(path), zeros=True, labels=False)  # (a stream .npz holds no y)
        lengths = np.full(len(X), X.shape[1])
    elif lengths.shape != (len(X),) or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > X.shape[1]:
        raise DataError(f"{path}: expected 'lengths' [{len(X)}] of integers in 1..{X.shape[1]}, got "
                        f"{lengths.dtype} {list(lengths.shape)}")
    return [X[i, : int(lengths[i])] for i in range(len(X))], [f"x{c}" for c in range(X.shape[2])]


def read_series(cfg: DataConfig) -> Series:
    """The long series of a ``[data]`` section (see the module's docstring), checked finite.

    >>> s = read_series(DataConfig(dataset="Uschange"))
    >>> len(s.values), s.values[0].shape, s.columns[:2]
    (1, (187, 5), ['Consumption', 'Income'])
    """
    columns = list(cfg.columns) if cfg.columns is not None else None
    if cfg.dataset is not None:
        if cfg.dataset not in BUNDLED_STREAMS:
            raise DataError(f"data.dataset: expected a bundled series for a stream task, one of "
                            f"{sorted(BUNDLED_STREAMS)}, got {cfg.dataset!r}"
                            f"{did_you_mean(cfg.dataset, list(BUNDLED_STREAMS))}")
        b = BUNDLED_STREAMS[cfg.dataset]
        # (their notes left unsaid: PBS's months, "1991 Jul", are no format read here, and a user
        # who did not choose the file can do nothing about it)
        values, names, stamps, _ = _read_csv(SERIES_DIR / b.file, columns or list(b.columns), "data.columns")
        series = Series(cfg.dataset, [values], names, stamps)
    else:
        assert cfg.path is not None
        p = existing_file(cfg.path, "data.path")
        suffix = p.suffix.lower()
        if suffix == ".csv":
            values, names, stamps, notes = _read_csv(p, columns, "data.columns")
            series = Series(cfg.path, [values], names, stamps, notes)
        elif suffix == ".npz":
            if columns is not None:
                raise DataError(f"data.columns: selects columns of a .csv file; {p} is an .npz series, which has none (remove the key)")
            arrays, names = _read_npz(p)
            series = Series(cfg.path, arrays, names)
        else:
            raise DataError(f"data.path: expected a .npz or .csv file for a series, got {str(p)!r} (suffix {suffix or '(none)'!r})")
    for i, v in enumerate(series.values):  # (a .csv's cells are checked as they are read, by line and column)
        bad = np.argwhere(~np.isfinite(v))
        if len(bad):
            raise DataError(f"{series.name}: series {i} has {len(bad)} non-finite value(s) (NaN or inf), first at "
                            f"[step, channel] {bad[0].tolist()}; expected finite values (fill or cut the gaps)")
    _check_lone_values(series, cfg)
    return series


def _check_lone_values(series: Series, cfg: DataConfig) -> None:
    """Refuse a missing-value code (-1e30) or a value beyond float32's range among a series'
    ordinary values, as the sequence readers do (:func:`rnnlab.data.checks.check_lone_values`),
    each series [L, C] as one, with the fix in the terms of its file (named as the reader's other
    errors name it: ``rnnlab predict`` puts ``--data`` before them)."""
    from rnnlab.data.checks import INTERPOLATE, check_lone_values

    lengths = np.array([len(v) for v in series.values])
    X = np.zeros((len(lengths), int(lengths.max()), series.values[0].shape[1]))
    for i, v in enumerate(series.values):
        X[i, : len(v)] = v
    if cfg.dataset is None and str(cfg.path).lower().endswith(".csv"):
        # (its channels by name: a column of dates or text beside them cannot be interpolated or compressed)
        check_lone_values(X, lengths, f"{series.name}, read as df = pd.read_csv(path) with cols = {series.columns!r}",
                          name="df[cols]", axes="[series, step, channel]", frame=True,
                          fill='df[cols] = df[cols].interpolate(limit_direction="both"); df.to_csv(path, index=False)')
    else:  # (an .npz: one series [L] or [L, C] interpolated as it is, several [N, L, C] each along its steps)
        fill = "X = " + (INTERPOLATE.format("X") if len(lengths) > 1 else
                         'pd.DataFrame(X).interpolate(limit_direction="both").to_numpy()')
        check_lone_values(X, lengths, series.name, axes="[series, step, channel]", fill=fill)


@dataclass(frozen=True)
class Bounds:
    """Where one series' blocks end: training ``[0, train)``, validation ``[train, val)``, test
    ``[val, test)`` (``test`` the series' length; empty blocks when a part is not held out)."""

    train: int
    val: int
    test: int


def split_bounds(length: int, cfg: DataConfig, fold: Fold | None) -> Bounds:
    """The contiguous blocks of a series of ``length`` steps: test the tail
    (``data.test_steps`` or ``data.test_fraction``), validation the block before it
    (``data.val_steps`` or ``data.val_fraction`` of what precedes the test); with ``fold``,
    forward-chaining blocks of what precedes the test, and no test block.

    >>> split_bounds(100, DataConfig(dataset="Airline", test_steps=20, val_fraction=0.25), None)
    Bounds(train=60, val=80, test=100)
    >>> split_bounds(100, DataConfig(dataset="Airline", test_steps=20), Fold(k=3, index=0, seed=0))
    Bounds(train=20, val=40, test=40)
    """
    test = cfg.test_steps if cfg.test_steps is not None else int(round(cfg.test_fraction * length))
    before = length - min(test, length)
    if fold is not None:
        train, val = forward_chaining(before, fold)
        return Bounds(train, val, val)
    val = cfg.val_steps if cfg.val_steps is not None else int(round(cfg.val_fraction * before))
    return Bounds(max(before - val, 0), before, length)


def forecast_targets(x: np.ndarray, horizon: int) -> np.ndarray:
    """The forecasting targets of series ``x`` [L, C]: row ``t`` holds ``x[t+1..t+horizon]``
    (step-major, ``horizon * C`` values), NaN where they run past the end.

    >>> forecast_targets(np.arange(4.0)[:, None], 2).tolist()
    [[1.0, 2.0], [2.0, 3.0], [3.0, nan], [nan, nan]]
    """
    L, C = x.shape
    y = np.full((L, horizon * C), np.nan)
    for k in range(1, horizon + 1):
        y[: L - k, (k - 1) * C: k * C] = x[k:]
    return y


def batchify(parts: list[tuple[np.ndarray, np.ndarray]], streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut each series' training (inputs [L, C], targets [L, K]) into ``streams`` contiguous rows
    of equal length (the first ``L mod streams`` steps left out: the rows end where the
    validation block starts), rows of all series stacked: X [R, T, C] and y [R, T, K], a shorter
    series' rows padded at the end with zeros (inputs) and NaN (targets, never scored).

    >>> X, y = batchify([(np.arange(7.0)[:, None], np.arange(7.0)[:, None])], 2)
    >>> X[:, :, 0].tolist()
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    """
    rows_x, rows_y = [], []
    for x, y in parts:
        r = len(x) // streams
        skip = len(x) - r * streams
        rows_x += [x[skip + i * r: skip + (i + 1) * r] for i in range(streams)]
        rows_y += [y[skip + i * r: skip + (i + 1) * r] for i in range(streams)]
    T = max(len(r) for r in rows_x)
    X = np.zeros((len(rows_x), T, rows_x[0].shape[1]), dtype=np.float32)
    Y = np.full((len(rows_y), T, rows_y[0].shape[1]), np.nan, dtype=np.float32)
    for i, (rx, ry) in enumerate(zip(rows_x, rows_y, strict=True)):
        X[i, : len(rx)], Y[i, : len(ry)] = rx, ry
    return X, Y


def _empty(channels: int, width: int, scale: TargetScale) -> Sequences:
    return Sequences(np.zeros((0, 1, channels), np.float32), np.zeros((0, 1, width), np.float32),
                     np.zeros(0, np.int64), [], scale)


def _block(scaled: list[np.ndarray], targets: list[np.ndarray], bounds: list[Bounds], start: str, stop: str,
           horizon: int, scale: TargetScale) -> Sequences:
    """Each series from its start to the end of a block (inputs up to the last step whose
    targets lie inside it), with targets only where all of them lie inside the block."""
    rows = []
    if all(getattr(b, stop) <= (0 if start == "zero" else getattr(b, start)) for b in bounds):
        return _empty(scaled[0].shape[1], targets[0].shape[1], scale)
    for x, y, b in zip(scaled, targets, bounds, strict=True):
        a, e = (0 if start == "zero" else getattr(b, start)), getattr(b, stop)
        n = max(e - horizon, 0)
        yy = np.full((n, y.shape[1]), np.nan, dtype=np.float32)
        first = max(a - 1, 0)
        if n > first:
            yy[first:n] = y[first:n]
        rows.append((x[:n], yy))
    T = max(len(r[0]) for r in rows)
    X = np.zeros((len(rows), T, scaled[0].shape[1]), dtype=np.float32)
    Y = np.full((len(rows), T, targets[0].shape[1]), np.nan, dtype=np.float32)
    for i, (rx, ry) in enumerate(rows):
        X[i, : len(rx)], Y[i, : len(ry)] = rx, ry
    lengths = np.array([max(len(r[0]), 1) for r in rows], dtype=np.int64)
    return Sequences(X, Y, lengths, [], scale)


def seasonal_error(train_parts: list[np.ndarray], season: int) -> np.ndarray:
    """MASE's scale of each series per channel, [S, C] (one row per training part, each series'
    own: Hyndman & Koehler 2006, the M4 and M5 convention): the mean absolute error of the one-step
    seasonal-naive forecast (``x[t] - x[t - season]``) over that series' training part, in the
    data's units; 0 for a channel that repeats its season exactly there (:func:`mase_scale` then
    takes the one-step naive error; :func:`rnnlab.task.mase_weights` reports no MASE from a 0
    scale); NaN for a part not longer than the season. Refused when no part is.

    >>> seasonal_error([np.array([[1.0], [2.0], [4.0]]), np.array([[10.0], [40.0]])], 1).tolist()
    [[1.5], [30.0]]
    """
    if all(len(x) <= season for x in train_parts):
        raise DataError(f"task.season: expected a season shorter than the training part, got season = {season} "
                        f"for {max(len(x) for x in train_parts)} training steps")
    # (each series alone: a pooled scale is the largest series' error, and scales every other by it)
    # (in C order: a series' sums the same bits whatever its file's layout)
    return np.stack([np.ascontiguousarray(np.abs(x[season:] - x[:-season])).mean(axis=0) if len(x) > season
                     else np.full(x.shape[1], np.nan) for x in train_parts])


#: A seasonal-naive error at most this times the channel's standard deviation is an exact repeat
#: of the season (floating-point rounding of a periodic function leaves about 1e-16 of it).
EXACT_REPEAT = 1e-9

#: The series a panel's one-line notes name by number before "and N more".
SERIES_NAMED = 5


def _some(indices: list[int]) -> str:
    """A few series numbers of a list (0-based, as ``lengths`` counts them) and how many more."""
    shown = ", ".join(map(str, indices[:SERIES_NAMED]))
    return shown + (f" and {len(indices) - SERIES_NAMED} more" if len(indices) > SERIES_NAMED else "")


def mase_scale(series: Series, train_parts: list[np.ndarray], season: int) -> np.ndarray:
    """MASE's scale of each series per channel, [S, C], as a run scales it (:func:`load_stream`; the
    report's figures): :func:`seasonal_error` of each series' own training part, but for a channel
    that repeats its season exactly there: seasonal naive forecasts it without error, so its scale
    would be 0 (or rounding noise, which makes any error a huge MASE). That channel's MASE is
    scaled by the one-step naive error instead (MASE's non-seasonal form, Hyndman & Koehler 2006),
    and training says so in one line (a synthetic periodic series, a common first try, still
    trains); so is a panel's series whose training part is not longer than the season. A panel
    says each case once, with how many series; a series whose naive error is 0 too (one value over
    its whole training part: an intermittent series that sold nothing) keeps a 0 scale, no MASE
    (:class:`rnnlab.task.RegressionTally` leaves it out of the mean over series), said in one line.

    >>> x = np.array([[1.0, 0.0], [2.0, 5.0], [4.0, 0.0], [3.0, 5.0]])
    >>> mase_scale(Series("s", [x], ["a", "b"]), [x], 1).tolist()
    [[1.3333333333333333, 5.0]]
    """
    err = seasonal_error(train_parts, season)
    spread = np.stack([np.ascontiguousarray(p).std(axis=0) for p in train_parts])
    with np.errstate(invalid="ignore"):
        exact = (err <= EXACT_REPEAT * spread) | np.isnan(err)
    if not exact.any():
        return err
    naive, seasonal = seasonal_error(train_parts, 1), err.copy()
    err = np.where(exact, naive, err)
    if len(train_parts) == 1:  # (one series: its columns by name, as ever)
        for c in np.flatnonzero(exact[0]):
            warn_once(f"data.columns: column {series.columns[c]!r} of {series.name} repeats its season (task.season = "
                      f"{season}) exactly over the training part (seasonal-naive error {seasonal[0, c]:.3g}, "
                      f"at most {EXACT_REPEAT:g} x its standard deviation {spread[0, c]:.3g}): its MASE is scaled by "
                      f"the one-step naive error ({naive[0, c]:.3g}) instead, and seasonal naive forecasts it exactly")
        return err
    S, which = len(train_parts), " (in at least one channel)" if err.shape[1] > 1 else ""
    flat = [i for i in range(S) if exact[i].any() and (naive[i][exact[i]] > 0).all()]
    if flat:
        warn_once(f"data.path: {len(flat)} of the {S} series of {series.name} (series {_some(flat)}) repeat their "
                  f"season (task.season = {season}) exactly over their training block, or are no longer than it"
                  f"{which}: their MASE is scaled by their one-step naive error instead (MASE's non-seasonal form)")
    none = [i for i in range(S) if not (np.isfinite(err[i]) & (err[i] > 0)).all()]
    if none:
        warn_once(f"data.path: {len(none)} of the {S} series of {series.name} (series {_some(none)}) hold one value "
                  f"over their whole training block{which} (naive and seasonal-naive error 0): they have no MASE "
                  f"scale, and the run's MASE (and its baselines') is the mean over the other "
                  f"{S - len(none)} series' (their errors count in RMSE and MAE)")
    return err


_warned: set[str] = set()


def warn_once(note: str) -> None:
    """Say ``note`` about the data as a warning, once a process: a run reads its data again after
    training (the report's forecast, ``rnnlab predict``'s scaling), and Python's own once-only
    memory is wiped whenever a warnings filter changes in between.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     warn_once("data.path: a note"); warn_once("data.path: a note")
    >>> len(said)
    1
    """
    if note in _warned:
        return
    _warned.add(note)
    warnings.warn(note, UserWarning, stacklevel=3)


@contextlib.contextmanager
def every_note() -> Iterator[frozenset[str]]:
    """Within the block :func:`warn_once` says every note again (a run that records its data's
    notes hears them all, the second run of a process too); after it, its memory is what it was
    plus what the block said. Yields the notes said before the block.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     warn_once("a note about the data")
    ...     warn_once("a note about the data")  # (once a process)
    ...     with every_note() as before:
    ...         warn_once("a note about the data")  # (said again in the block)
    >>> len(said), "a note about the data" in before
    (2, True)
    """
    before = frozenset(_warned)
    _warned.clear()
    try:
        yield before
    finally:
        _warned.update(before)


def _check_not_constant(series: Series, train_parts: list[np.ndarray], cfg: DataConfig) -> None:
    """A channel with one value at every training step has nothing to forecast, and its MASE
    would be 0 / 0 (counted as 0, it would halve the mean over channels): refused, naming it."""
    steps = sum(len(p) for p in train_parts)
    for c, name in enumerate(series.columns):
        values = np.concatenate([p[:, c] for p in train_parts])
        if values.min() != values.max():
            continue
        others = [n for k, n in enumerate(series.columns)
                  if np.ptp(np.concatenate([p[:, k] for p in train_parts])) > 0]
        same = (f"holds {values[0]:g} at every one of the training part's {steps} steps: a constant has nothing to "
                "forecast and its MASE would be 0 / 0")
        if cfg.path is not None and Path(cfg.path).suffix.lower() == ".npz":
            raise DataError(f"data.path: channel {c} of {series.name} {same}; expected channels that change "
                            "(save the series without it)")
        remedy = (f"leave it out of data.columns (columns = [{', '.join(map(json.dumps, others))}])" if others else
                  "give a series that changes (no column of this one does)")
        raise DataError(f"data.columns: column {name!r} of {series.name} {same}; {remedy}")


def _check_windows(series: Series, bounds: list[Bounds], cfg: DataConfig, horizon: int) -> None:
    """Every series' training part holds a window of ``data.bptt`` steps with targets in each of
    its ``data.streams`` rows, or one error: of a panel, naming how many series fail, the first few,
    and the value that fits them all (a panel of 181 series, 95 too short, is one fix, not 95)."""
    S = len(series.values)
    windows = [b.train - horizon for b in bounds]  # training steps with every target inside the training part

    def where(failing: list[int], fail: str) -> str:
        """Who fails: the series (a panel's, by number), or how many series and the first of them."""
        if len(failing) == 1:
            return series.name + (f" (series {failing[0]})" if S > 1 else "")
        return f"{len(failing)} of the {S} series of {series.name} (series {_some(failing)}) {fail}: series {failing[0]}"

    def held(b: Bounds) -> str:
        return f", after {b.test - b.train} steps held out for validation and test" if b.test > b.train else ""

    short = [i for i, w in enumerate(windows) if w < 1]  # no data.bptt fits: the series itself is too short
    narrow = [i for i, w in enumerate(windows) if w < cfg.bptt]
    if short:
        # (a panel's fix is for every series that cannot train: those too short for one window too)
        more = [i for i in narrow if windows[i] >= 1]
        also = (f"; and {len(more)} more (series {_some(more)}) leave fewer training steps with targets than one "
                f"window (data.bptt = {cfg.bptt}): {len(narrow)} of the {S} series in all") if more else ""
        i, b = short[0], bounds[short[0]]
        less = "; or hold out fewer steps (data.val_steps, data.test_steps)" if held(b) else ""
        what = ("the series is too short: its" if len(short) == 1 else
                f"{len(short)} of the {S} series are too short (series {_some(short)}): series {i}'s")
        remedy = "give a longer series" if len(short) == 1 else "give longer series (or save the panel without these)"
        raise DataError(f"{series.name + (f' (series {i})' if S > 1 and len(short) == 1 else '')}: {what} "
                        f"{len(series.values[i])} step(s) leave {b.train} for training{held(b)}; expected at least "
                        f"{horizon + 1} training steps (an input and the {horizon} value(s) after it: task.horizon = "
                        f"{horizon}), got {b.train}; {remedy}{less}{also}")
    if narrow:
        i = narrow[0]
        raise DataError(f"data.bptt: {where(narrow, 'hold fewer training steps than one window')} leaves "
                        f"{windows[i]} training steps with targets{held(bounds[i])} (horizon {horizon}), shorter than "
                        f"one window; expected data.bptt <= {min(windows)}, got {cfg.bptt}")
    crowded = [i for i, w in enumerate(windows) if w // cfg.streams < cfg.bptt]
    if crowded:
        i = crowded[0]
        raise DataError(f"data.streams: {where(crowded, 'hold too few training steps for their rows')} has "
                        f"{windows[i]} training steps: {cfg.streams} rows of at "
                        f"least data.bptt = {cfg.bptt} steps do not fit; expected data.streams <= "
                        f"{min(windows) // cfg.bptt}, got {cfg.streams}")


def _warn_few_origins(series: Series, few: dict[str, list[tuple[int, int, int]]], horizon: int,
                      fold: Fold | None) -> None:
    """Warn, once per block, of validation and test blocks with fewer scored origins than steps
    ahead (``few``: per block, ``(series, steps, origins)`` of each such series): a panel's in one
    line with how many series and forecasts, not a line per series."""
    S = len(series.values)
    for block, judged, key in (
            ("validation", " (what early stopping and the mean guard judge by)",
             "data.val_steps" if fold is None else "search.folds (fewer folds: longer blocks)"),
            ("test", " (the run's test MASE and its baselines')", "data.test_steps")):
        if not few[block]:
            continue
        which, steps, origins = (list(v) for v in zip(*few[block], strict=True))

        def span(values: list[int]) -> str:
            return f"{min(values)}" if min(values) == max(values) else f"{min(values)} to {max(values)}"

        n = sum(origins)
        if S == 1:
            where, holds, inside = f"block of {series.name} holds", "", "it"
        else:
            whose = f"all {S}" if len(which) == S else f"{len(which)} of the {S}"
            named = "" if len(which) == S else f" (series {_some(which)})"
            where, holds, inside = f"blocks of {whose} series of {series.name}{named} hold", " per series", "them"
        # Neighbouring origins share their steps ahead: fewer origins than steps ahead is a
        # handful of forecasts, and early stopping (and the mean guard, and the test
        # figures a user reports) would rest on those alone.
        warn_once(f"task.horizon: the {block} {where} {span(steps)} steps, so only {span(origins)} "
                  f"origin{'s' if max(origins) != 1 else ''}{holds} forecast all {horizon} steps ahead inside "
                  f"{inside}: the {block} figures{judged}{'' if len(which) == S else ' of those series'} come from "
                  f"{'that one forecast' if n == 1 else f'those {n} forecasts'}; "
                  f"expected at least {2 * horizon - 1} steps ({horizon} origins), hold out more ({key}) or "
                  "shorten the horizon")


#: A panel's series whose standard deviations over their training blocks (per channel) differ by
#: more than this factor are said at load (:func:`_warn_scales`): the loss, one scale for all, is
#: then the largest series' (a tester's scales 1 to 10000: the small series forecast 17-40 times
#: worse than seasonal naive). At 100 the smallest series' squared errors weigh 10^4 times less;
#: no bundled series is a panel, and the testers' panels of like series differ by at most 3 (store
#: items selling 0.3 to 1000 a day are said, rightly).
SCALE_SPREAD = 100.0


def _warn_scales(series: Series, train_parts: list[np.ndarray], cfg: DataConfig) -> None:
    """Say, one line per channel, where a panel's series differ in scale by more than
    :data:`SCALE_SPREAD` over their training blocks: the inputs and the loss use one scale for
    every series (``data.normalize``), so the squared errors of the largest series outweigh the
    others' and the small series are fit as noise, while each series' MASE is on its own scale.

    >>> import warnings
    >>> parts = [np.sin(np.arange(20.0))[:, None] * k for k in (1, 1000)]
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     _warn_scales(Series("p.npz", parts, ["x0"]), parts, DataConfig(path="p.npz"))
    >>> print(str(said[0].message)[:96])
    data.path: the 2 series of p.npz differ in scale 1e+03 times in channel 'x0' (standard deviation
    """
    if len(train_parts) < 2:
        return
    spread = np.stack([np.ascontiguousarray(p).std(axis=0) if len(p) else np.full(p.shape[1], np.nan)
                       for p in train_parts])  # [S, C]
    how = ('data.normalize = "per_channel" scales them all by one mean and standard deviation' if
           cfg.normalize == "per_channel" else f'data.normalize = "{cfg.normalize}" leaves them in their units')
    for c in range(spread.shape[1]):
        held = np.flatnonzero(np.isfinite(spread[:, c]) & (spread[:, c] > 0))
        if len(held) < 2:
            continue
        lo, hi = held[np.argmin(spread[held, c])], held[np.argmax(spread[held, c])]
        small, large = spread[lo, c], spread[hi, c]
        if large <= SCALE_SPREAD * small:
            continue
        warn_once(f"data.path: the {len(train_parts)} series of {series.name} differ in scale {large / small:.3g} times "
                  f"in channel {series.columns[c]!r} (standard deviation over their training blocks {small:.3g} in "
                  f"series {lo} to {large:.3g} in series {hi}; more than {SCALE_SPREAD:g} times), and {how}: the loss "
                  "is the largest series' squared errors, so the small series are fit as noise and their MASE (on "
                  "their own scale) suffers; divide each series by its own scale before saving (s = X[i, :n].std(axis="
                  f"0), n its training steps, {len(train_parts[lo])} for series {lo}; X[i, :lengths[i]] /= s) and multiply "
                  "its forecasts (forecast.csv) by s to read them in its units (MASE does not change with a series' "
                  "units)")


def load_stream(cfg: DataConfig, seed: int, fold: Fold | None = None, task: Task | None = None) -> DataSplits:
    """Read, split contiguously, scale on the training part and cut into rows (the module's
    docstring); ``seed`` is unused (nothing about a stream is drawn) and kept for
    :func:`rnnlab.data.load_data`'s signature. Bad input is one :class:`DataError` naming the key.
    """
    from rnnlab.data import DataSplits

    assert task is not None and task.stream
    horizon, season = task.horizon, task.season
    series = read_series(cfg)
    bounds = [split_bounds(len(x), cfg, fold) for x in series.values]
    # The blocks before the windows: a horizon longer than a block is the blocker, and data.bptt or
    # data.streams, said first, would be fixed in vain (a short series fails both).
    few: dict[str, list[tuple[int, int, int]]] = {"validation": [], "test": []}  # (series, steps, origins)
    for i, (x, b) in enumerate(zip(series.values, bounds, strict=True)):
        where = f"{series.name}" + (f" (series {i})" if len(series.values) > 1 else "")
        for block, start, stop in (("validation", b.train, b.val), ("test", b.val, b.test)):
            if 0 < stop - start < horizon:
                # (each block held out a horizon long, and a training input with its horizon after it)
                held = (b.val > b.train) + (b.test > b.val)
                need = (held + 1) * horizon + 1
                more = (f"or hold out more: data.{'val' if block == 'validation' else 'test'}_steps" if
                        len(x) >= need else f"holding out more cannot help: {len(x)} steps are fewer than the {need} "
                        f"that {'two blocks' if held == 2 else 'a block'} of {horizon} and a training step with its "
                        f"{horizon} targets need")
                raise DataError(f"task.horizon: the {block} block of {where} holds {stop - start} steps, fewer than "
                                f"the horizon; expected horizon <= {stop - start}, got {horizon} ({more})")
            origins = stop - start - horizon + 1  # (the block's scored origins: _block's)
            if 0 < origins < horizon:
                few[block].append((i, stop - start, origins))
    _check_windows(series, bounds, cfg, horizon)
    _warn_few_origins(series, few, horizon, fold)
    train_parts = [x[: b.train] for x, b in zip(series.values, bounds, strict=True)]
    _check_not_constant(series, train_parts, cfg)
    if fold is None:  # (a fold's training parts would say it again in other figures)
        _warn_scales(series, train_parts, cfg)
    for note in series.notes:
        warn_once(note)
    lengths = np.array([len(p) for p in train_parts])
    padded = np.zeros((len(train_parts), int(lengths.max()), train_parts[0].shape[1]))
    for i, p in enumerate(train_parts):
        padded[i, : len(p)] = p
    stats = ChannelStats.fit(padded, lengths) if cfg.normalize == "per_channel" else \
        ChannelStats.identity(padded.shape[2])
    inputs = InputScaling(cfg.normalize, stats)
    own = mase_scale(series, train_parts, season)  # [S, C]: each series its own scale
    # One series keeps one scale per target value ([K]); a panel's rows each read their series' ([S, K]).
    scale = TargetScale(np.tile(stats.mean, horizon), np.tile(stats.std, horizon),
                        np.tile(own[0], horizon) if len(own) == 1 else np.tile(own, (1, horizon)))

    def rows_of(series_of_rows: np.ndarray) -> TargetScale:
        return scale if len(own) == 1 else replace(scale, series=series_of_rows)

    every = np.arange(len(own))  # (val, test, whole: a row per series; training: data.streams rows each)
    scaled = [((x - stats.mean) / stats.std).astype(np.float32) for x in series.values]
    levels = [forecast_targets(x, horizon).astype(np.float32) for x in scaled]
    # "auto" is decided on everything before the test block (training and validation blocks): on a
    # validation block of two seasons (Lynx: 18 steps) the simple forecasts' order is noise, and they
    # fit nothing, so the training block may judge them too (docs/streams.md, "The reference").
    stops = [max(b.val, b.train) - horizon for b in bounds]
    reference = choose_reference(task, [x[: stop] for x, stop in zip(scaled, stops, strict=True)],
                                 [y[: stop] for y, stop in zip(levels, stops, strict=True)])
    targets = [(y - simple_forecast(x[None].astype(np.float64), reference, horizon, season)[0]).astype(np.float32)
               for x, y in zip(scaled, levels, strict=True)]
    X, y = batchify([(x[: b.train - horizon], t[: b.train - horizon])
                     for x, t, b in zip(scaled, targets, bounds, strict=True)], cfg.streams)
    train = Sequences(X, y, np.full(len(X), X.shape[1], dtype=np.int64), [], rows_of(np.repeat(every, cfg.streams)))
    val = _block(scaled, targets, bounds, "train", "val", horizon, rows_of(every))
    test = _block(scaled, targets, bounds, "val", "test", horizon, rows_of(every)) if fold is None and \
        any(b.test > b.val for b in bounds) else None
    whole = _block(scaled, targets, bounds, "zero", "train", horizon, rows_of(every))
    return DataSplits(series.name, train, val, test, [], stats, inputs, whole_train=whole, columns=series.columns,
                      reference=reference)


__all__ = ["BUNDLED_STREAMS", "Bounds", "Series", "batchify", "forecast_targets", "load_stream", "mase_scale",
           "read_series", "seasonal_error", "split_bounds", "warn_once"]


def baseline_forecasts(split: Sequences, task: Task, reference: str = "none") -> dict[str, dict[str, float]]:
    """The task's metrics of the naive forecast (every step ahead equals the last value read)
    and of the seasonal-naive one (the value one season earlier: ``x[t + k - m * ceil(k / m)]``,
    the earliest value where a series has less history), scored on ``split``'s targets exactly
    as the model is (same steps, same tally), so they stand beside its figures (``reference``:
    the forecast ``split``'s targets are relative to, :attr:`rnnlab.data.DataSplits.reference`).

    >>> from rnnlab.task import FORECASTING
    >>> x = np.arange(6.0, dtype=np.float32)[None, :, None]
    >>> y = np.concatenate([x[:, 1:], np.full((1, 1, 1), np.nan, np.float32)], axis=1)
    >>> s = Sequences(x, y, np.array([6]), [], TargetScale(np.zeros(1), np.ones(1), np.ones(1)))
    >>> {k: v["mae"] for k, v in baseline_forecasts(s, FORECASTING).items()}
    {'naive': 1.0, 'seasonal_naive': 1.0}
    """
    return {name: tally.result() for name, tally in baseline_tallies(split, task, reference).items()}


def baseline_tallies(split: Sequences, task: Task, reference: str = "none") -> dict[str, RegressionTally]:
    """The tallies :func:`baseline_forecasts` reads its figures from, one per simple forecast:
    also each channel's (:meth:`rnnlab.task.RegressionTally.by_channel`).

    >>> from rnnlab.task import FORECASTING
    >>> x = np.stack([np.arange(6.0), 2.0 * np.arange(6.0)], axis=1).astype(np.float32)[None]
    >>> y = np.concatenate([x[:, 1:], np.full((1, 1, 2), np.nan, np.float32)], axis=1)
    >>> s = Sequences(x, y, np.array([6]), [], TargetScale(np.zeros(2), np.ones(2), np.array([1.0, 4.0])))
    >>> baseline_tallies(s, FORECASTING)["naive"].by_channel()
    {'mase': [1.0, 0.5]}
    """
    import torch

    X = split.X.astype(np.float64)
    base = simple_forecast(X, reference, task.horizon, task.season)
    out = {}
    for name in ("naive", "seasonal_naive"):
        pred = simple_forecast(X, name, task.horizon, task.season) - base  # in the targets' terms
        tally = task.tally(split.scale)
        tally.add(torch.from_numpy(pred), torch.from_numpy(split.y.astype(np.float64)))
        out[name] = tally
    return out




def simple_forecast(X: np.ndarray, kind: str, horizon: int, season: int) -> np.ndarray:
    """The naive (``x[t]`` for every step ahead) or seasonal-naive (``x[t + k - m * ceil(k/m)]``,
    the earliest value where a series has less history) forecast from every step of ``X``
    [S, T, C]: [S, T, horizon * C], step-major like the targets; ``"none"``: zeros.

    >>> simple_forecast(np.arange(5.0)[None, :, None], "seasonal_naive", 2, 2)[0].tolist()
    [[0.0, 0.0], [0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    """
    S, T, C = X.shape
    if kind == "none":
        return np.zeros((S, T, horizon * C))
    t = np.arange(T)
    back = (lambda k: 0) if kind == "naive" else (lambda k: k - season * -(-k // season))
    return np.concatenate([X[:, np.clip(t + back(k), 0, None)] for k in range(1, horizon + 1)], axis=2)


#: ``relative_to = "auto"`` takes seasonal naive when the series' changes repeat at the season this
#: strongly (:func:`seasonal_repeat`), whichever simple forecast errs less: there the correction to
#: seasonal naive (the change over a season) is smooth, while naive's is the seasonal pattern itself.
#: Chosen on forward-chaining folds of the bench series' training parts (docs/streams.md, "The
#: reference"): Airline's changes repeat at 0.80, and the model learns 2.2 times better from seasonal
#: naive although naive errs less; solar's repeat at 0.48, Lynx's at 0.42, Uschange's at -0.03.
SEASONAL_REPEAT = 0.6


def seasonal_repeat(inputs: list[np.ndarray], season: int) -> float:
    """How strongly the changes of series repeat at the season: the autocorrelation of the
    first differences at lag ``season``, per channel, averaged (series shorter than two seasons
    and constant channels count for nothing).

    >>> t = np.arange(48.0)
    >>> round(seasonal_repeat([np.sin(2 * np.pi * t / 12)[:, None] + t[:, None]], 12), 2)
    0.74
    >>> round(seasonal_repeat([np.random.default_rng(0).normal(size=(48, 1)).cumsum(0)], 12), 2)
    -0.08
    """
    values = []
    for x in inputs:
        d = np.diff(np.asarray(x, dtype=np.float64), axis=0)
        if len(d) <= 2 * season:
            continue
        d = d - d.mean(axis=0)
        norm = (d ** 2).sum(axis=0)
        values += [float((d[season:, c] * d[:-season, c]).sum() / norm[c]) for c in range(d.shape[1]) if norm[c] > 0]
    return float(np.mean(values)) if values else 0.0


def choose_reference(task: Task, inputs: list[np.ndarray], levels: list[np.ndarray]) -> str:
    """The simple forecast the model's output is added to (``[task] relative_to``): its targets
    are the next values minus this forecast, so a model that outputs zeros *is* that forecast,
    and training learns the corrections (every error, and so every metric, is the same in
    either terms). ``"auto"`` chooses seasonal naive when the series' changes repeat at the
    season (:func:`seasonal_repeat` at least :data:`SEASONAL_REPEAT`), else whichever of naive and
    seasonal naive has the lower mean absolute error at the task's horizon on the steps given (``inputs`` [L, C] scaled, and their
    level targets [L, horizon * C], NaN where not scored: :func:`load_stream` gives everything
    before the test block, the training and validation blocks); naive on a tie, as with
    ``season = 1``.

    >>> from rnnlab.task import FORECASTING
    >>> from dataclasses import replace
    >>> x = np.tile([0.0, 1.0, 5.0, 1.0], 6)[:, None]          # a season of 4 steps
    >>> task = replace(FORECASTING, season=4, relative_to="auto")
    >>> choose_reference(task, [x], [forecast_targets(x, 1)])
    'seasonal_naive'
    """
    if task.relative_to != "auto":
        return task.relative_to
    if task.season > 1 and seasonal_repeat(inputs, task.season) >= SEASONAL_REPEAT:
        return "seasonal_naive"
    errors = {}
    for kind in ("naive", "seasonal_naive"):
        err = [np.nanmean(np.abs(y - simple_forecast(x[None].astype(np.float64), kind, task.horizon, task.season)[0]))
               for x, y in zip(inputs, levels, strict=True) if len(x)]
        errors[kind] = float(np.mean(err)) if err else 0.0
    return "seasonal_naive" if errors["seasonal_naive"] < errors["naive"] else "naive"
