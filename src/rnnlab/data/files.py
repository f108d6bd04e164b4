"""User data files: ``.npz`` (X [N, T, C], y [N], optional lengths [N]) and ``.csv``.

``.npz`` files are read with ``allow_pickle=False``: object (ragged) arrays are refused, never
unpickled. A ``.csv`` file has a header (each name once), one sequence per row, a label column
(``label`` unless configured) and one column per time step; a row may end with empty cells (a
shorter sequence). A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped. Text labels are
read without surrounding whitespace, from either format: ``"cat"`` and ``"cat "`` are one class.

Example:
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, X=np.zeros((4, 5, 2)), y=np.array([0, 1, 0, 1]))
    >>> X, y, lengths = load_file(p)
    >>> X.shape, y.tolist(), lengths.tolist()
    ((4, 5, 2), [0, 1, 0, 1], [5, 5, 5, 5])
"""

from __future__ import annotations

import csv
import difflib
import os
import zipfile
from pathlib import Path

import numpy as np

from rnnlab.data.checks import is_number
from rnnlab.errors import DataError, library_reason

NPZ_KEYS = ("X", "y", "lengths")


def _numeric(name: str, arr: np.ndarray, at: str, kinds: str) -> np.ndarray:
    if arr.dtype.kind not in kinds:
        raise DataError(f"{at}: expected '{name}' to hold numbers, got dtype {arr.dtype}")
    return arr


def _integer_lengths(lengths: np.ndarray, at: str) -> np.ndarray:
    """``lengths`` as int64: integers, or floats that hold integers (``10.0``, as a float array saves them)."""
    _numeric("lengths", lengths, at, "iuf")
    if lengths.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(lengths) | (lengths != np.round(lengths)) | (np.abs(lengths) > 2**62))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{at}: expected integer lengths, got {lengths.flat[i].item()!r} at index {i}")
    return lengths.astype(np.int64)


def unexpected_arrays(names: list[str], expected: tuple[str, ...]) -> str:
    """``names`` of arrays a file should not hold, as an error says them: with the expected name
    each may be a misspelling of (case aside: ``x`` for ``X``).

    >>> unexpected_arrays(["yy"], ("X", "y", "lengths")), unexpected_arrays(["Z", "x"], ("X", "y"))
    ("['yy']; did you mean 'y'?", "['Z', 'x']; did you mean 'X' for 'x'?")
    """
    by_case = {e.lower(): e for e in expected}
    for name in names:
        close = difflib.get_close_matches(name.lower(), list(by_case), n=1, cutoff=0.5)
        if close:
            meant = by_case[close[0]]
            return f"{names}; did you mean {meant!r}" + (f" for {name!r}?" if len(names) > 1 else "?")
    return str(names)


#: How a file starts (numpy's test): a zip archive (an .npz; an empty zip starts with its end
#: record), or a lone .npy array.
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
_NPY_START = b"\x93NUMPY"


def open_npz(path: str | os.PathLike[str], save: str) -> np.lib.npyio.NpzFile:
    """``path`` opened as an ``.npz`` archive, ``allow_pickle=False``. A file that is no such
    archive is one :class:`DataError` saying what it is instead: empty, a lone ``.npy`` array,
    a pickle (never loaded), or not a zip archive at all (numpy would call anything that is
    neither zip nor .npy "pickled data"). ``save`` is the advice, how to write the file.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "bad.npz")
    >>> _ = open(p, "w").write("not a zip")
    >>> open_npz(p, "save the arrays with numpy.savez")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: ...bad.npz: cannot read as an .npz file: not an .npz (zip) archive, which numpy.savez writes; save the arrays with numpy.savez
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(len(_NPY_START))
    except OSError as e:
        raise DataError(f"{p}: cannot read as an .npz file ({library_reason(e)})") from None
    if head == _NPY_START:
        raise DataError(f"{p}: holds a single .npy array, not an .npz archive; {save}")
    if not head.startswith(_ZIP_STARTS):
        # (numpy reads anything neither zip nor .npy as a pickle, and says "pickled data" of a
        # text file too: only a file that starts like a pickle, protocol 2 or later, is called one)
        what = ("the file is empty" if not head else
                "it holds pickled data; pickled data is never loaded" if head[:1] == b"\x80" else
                "not an .npz (zip) archive, which numpy.savez writes")
        raise DataError(f"{p}: cannot read as an .npz file: {what}; {save}")
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{p}: cannot read as an .npz file ({library_reason(e)}); {save}") from None


def load_npz(path: str | os.PathLike[str], where: str = "data.path"
             ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Read X, y and lengths (all steps valid when absent) from an ``.npz`` file (``where``: the
    config key that names it, which the errors on the arrays it holds start with).

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, X=np.zeros((2, 3)), yy=np.zeros(2))
    >>> load_npz(p, "data.test_path")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.test_path (...d.npz): unexpected array(s) ['yy']; did you mean 'y'? An .npz holds X, y and optionally lengths
    """
    p = Path(path)
    at = f"{where} ({p})"
    npz = open_npz(p, "save X, y (and lengths) with numpy.savez(path, X=X, y=y)")
    with npz:
        unknown = sorted(set(npz.files) - set(NPZ_KEYS))
        if unknown:
            named = unexpected_arrays(unknown, tuple(k for k in NPZ_KEYS if k not in npz.files))
            # (a hint ends in a question mark: what the file should hold is a sentence of its own)
            holds = " An .npz holds" if named.endswith("?") else "; an .npz holds"
            raise DataError(f"{at}: unexpected array(s) {named}{holds} X, y and optionally lengths")
        if "X" not in npz.files:
            raise DataError(f"{at}: no array 'X' (expected X [N, T, C], y [N], optional lengths [N]); found {npz.files}")
        try:
            X = npz["X"]
            y = npz["y"] if "y" in npz.files else None
            lengths = npz["lengths"] if "lengths" in npz.files else None
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise DataError(
                    f"{at}: an array is stored as Python objects (ragged sequences?); save X as a padded "
                    "float array [N, T, C] and give the true lengths in 'lengths' [N]"
                ) from None
            raise DataError(f"{at}: cannot read array ({library_reason(e)})") from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise DataError(f"{at}: the file is truncated or corrupt ({library_reason(e)})") from None
    _numeric("X", X, at, "fiub")
    if X.ndim == 2:  # [N, T]: a univariate series per row
        X = X[:, :, None]
    if X.ndim != 3:
        raise DataError(f"{at}: expected X of shape [N, T, C] (or [N, T]), got shape {list(X.shape)}")
    # (the model would fail on them with an internal error, far from the file)
    if X.shape[2] == 0:
        raise DataError(f"{p}: X: expected at least 1 channel (X [N, T, C] with C >= 1), got shape {list(X.shape)}")
    if X.shape[1] == 0:
        raise DataError(f"{p}: X: expected at least 1 step (X [N, T, C] with T >= 1), got shape {list(X.shape)}")
    if lengths is None:
        lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    else:
        lengths = _integer_lengths(lengths, at)
    return X.astype(np.float64), _stripped(y), lengths


def _stripped(y: np.ndarray | None) -> np.ndarray | None:
    """Text labels without surrounding whitespace (the CSV reader's rule, for .npz labels too)."""
    if y is None or y.dtype.kind not in "US":
        return y
    return np.char.strip(y)


def load_csv(path: str | os.PathLike[str], label_column: str | list[str] = "label"
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a univariate ``.csv``: one row per sequence, trailing empty cells mark shorter ones.
    ``label_column`` names the column of the labels (or targets), or a list of target columns:
    then the labels come back as text [N, K]."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{p}: cannot read as a .csv file ({library_reason(e)})") from None
    if not rows:
        raise DataError(f"{p}: the file is empty (expected a header row and one row per sequence)")
    header = [h.strip() for h in rows[0]]
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name and name in seen:
            raise DataError(f"{p}: the header names column {name!r} twice (columns {seen[name] + 1} and {j + 1}); "
                            "expected each column name once")
        seen[name] = j
    columns = [label_column] if isinstance(label_column, str) else list(label_column)
    for column in columns:
        if column not in header:
            from rnnlab._checks import did_you_mean

            # (a regression run reads data.target_column: a user who set data.label_column to
            # the values' column is told which key names it)
            what, key = ("label", "data.label_column") if isinstance(label_column, str) else \
                ("target", "data.target_column, the regression key; data.label_column names class labels")
            raise DataError(
                f"{p}: no {what} column {column!r} in the header{did_you_mean(column, header)} "
                f"(set {key}); header starts {header[:5]}"
            )
    label_at = [header.index(c) for c in columns]
    step_columns = [h for j, h in enumerate(header) if j not in label_at]
    steps = len(header) - len(columns)
    labels, series, lines = [], [], []
    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise DataError(f"{p}: line {r} has {len(row)} cells, the header has {len(header)}")
        labels.append([row[li].strip() if li < len(row) else "" for li in label_at])
        lines.append(r)
        cells = [c.strip() for j, c in enumerate(row) if j not in label_at]
        while cells and cells[-1] == "":
            cells.pop()
        values = []
        for j, c in enumerate(cells):
            if c == "":
                raise DataError(f"{p}: line {r} has an empty cell at step {j} before the end of the sequence")
            try:
                values.append(float(c))
            except ValueError:
                # (an id or a date column beside the steps is the usual cause: say which column)
                named = f"column {step_columns[j]!r}, " if j < len(step_columns) and step_columns[j] else ""
                kept = "the label column" if isinstance(label_column, str) else "the target columns"
                raise DataError(f"{p}: line {r}, {named}step {j}: expected a number, got {c!r} (every column "
                                f"but {kept} {', '.join(map(repr, columns))} is a time step; remove other "
                                "columns, such as an id, from the file)") from None
        if not values:
            raise DataError(f"{p}: line {r} has a label but no values")
        series.append(values)
    if not series:
        raise DataError(f"{p}: no data rows after the header")
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    X = np.zeros((len(series), steps, 1))
    for i, s in enumerate(series):
        X[i, : len(s), 0] = s
    y = np.array(labels)
    if not isinstance(label_column, str):
        _check_target_cells(p, y, columns, lines)
    return X, (y[:, 0] if isinstance(label_column, str) else y), lengths


def _check_target_cells(p: Path, y: np.ndarray, columns: list[str], lines: list[int]) -> None:
    """A target column of numbers with some cells that are not (empty, ``1,5``): the first such
    cell, by line and column. A column mostly of words is class labels, which
    :func:`rnnlab.data.checks.check_targets` refuses as such."""
    for k, column in enumerate(columns):
        numbers = [is_number(str(c)) for c in y[:, k]]
        if all(numbers) or sum(numbers) < len(numbers) / 2:
            continue
        i = numbers.index(False)
        cell = str(y[i, k])
        plain = " (plain numbers: 1234.5, not 1,234.5 or 1,5)" if "," in cell else ""
        bad = len(numbers) - sum(numbers)
        raise DataError(f"{p}: line {lines[i]}, column {column!r}: expected a number (a regression target), "
                        f"got {cell!r}{plain}; {bad} of the column's {len(numbers)} cells "
                        f"{'is not a number' if bad == 1 else 'are not numbers'}")


def file_kind(path: Path) -> str:
    """What ``path`` is, in words, when it is not a regular file.

    >>> file_kind(Path("/dev/null"))
    'a character device'
    """
    import stat

    mode = path.stat().st_mode
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def existing_file(path: str | Path, where: str) -> Path:
    """``path`` as a Path, once it is a regular file; else a one-line error naming ``where``,
    the config key that names it.

    >>> existing_file("/nowhere/s.csv", "data.path")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path: data file '/nowhere/s.csv' does not exist
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{where}: data file {str(p)!r} does not exist")
    if not p.is_file():
        kind = file_kind(p)
        raise DataError(f"{where}: data file {str(p)!r}: expected a file, got {kind}"
                        + ("" if kind == "a directory" else ", not a regular file"))
    return p


def load_file(path: str | os.PathLike[str], label_column: str | list[str] = "label", where: str = "data.path"
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """X [N, T, C], labels [N] (None when the file has none), lengths [N] from ``.npz`` or ``.csv``;
    ``where`` is the config key that names the file (``data.path``, ``data.test_path``), which a
    missing file's error and an ``.npz``'s errors on its arrays name.

    >>> load_file("/nowhere/t.npz", where="data.test_path")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.test_path: data file '/nowhere/t.npz' does not exist
    """
    p = existing_file(path, where)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p, where)
    if suffix == ".csv":
        return load_csv(p, label_column)
    raise DataError(f"{where} ({p}): expected a .npz or .csv file, got suffix {suffix or '(none)'!r}")
