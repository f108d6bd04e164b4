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
import os
import zipfile
from pathlib import Path

import numpy as np

from rnnlab.errors import DataError, library_reason

NPZ_KEYS = ("X", "y", "lengths")


def _numeric(name: str, arr: np.ndarray, path: Path, kinds: str) -> np.ndarray:
    if arr.dtype.kind not in kinds:
        raise DataError(f"{path}: expected '{name}' to hold numbers, got dtype {arr.dtype}")
    return arr


def _integer_lengths(lengths: np.ndarray, path: Path) -> np.ndarray:
    """``lengths`` as int64: integers, or floats that hold integers (``10.0``, as a float array saves them)."""
    _numeric("lengths", lengths, path, "iuf")
    if lengths.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(lengths) | (lengths != np.round(lengths)) | (np.abs(lengths) > 2**62))
        if len(bad):
            i = int(bad[0])
            raise DataError(f"{path}: expected integer lengths, got {lengths.flat[i].item()!r} at index {i}")
    return lengths.astype(np.int64)


def load_npz(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Read X, y and lengths (all steps valid when absent) from an ``.npz`` file."""
    p = Path(path)
    try:
        npz = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        refused = "; pickled data is never loaded" if "pickle" in str(e) else ""
        raise DataError(f"{p}: cannot read as an .npz file ({library_reason(e)}){refused}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # np.load reads a lone .npy array too
        raise DataError(f"{p}: holds a single .npy array, not an .npz archive; save X, y (and lengths) "
                        "with numpy.savez(path, X=X, y=y)")
    with npz:
        unknown = sorted(set(npz.files) - set(NPZ_KEYS))
        if unknown:
            raise DataError(f"{p}: unexpected array(s) {unknown}; an .npz holds X, y and optionally lengths")
        if "X" not in npz.files:
            raise DataError(f"{p}: no array 'X' (expected X [N, T, C], y [N], optional lengths [N]); found {npz.files}")
        try:
            X = npz["X"]
            y = npz["y"] if "y" in npz.files else None
            lengths = npz["lengths"] if "lengths" in npz.files else None
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise DataError(
                    f"{p}: an array is stored as Python objects (ragged sequences?); save X as a padded "
                    "float array [N, T, C] and give the true lengths in 'lengths' [N]"
                ) from None
            raise DataError(f"{p}: cannot read array ({library_reason(e)})") from None
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise DataError(f"{p}: the file is truncated or corrupt ({library_reason(e)})") from None
    _numeric("X", X, p, "fiub")
    if X.ndim == 2:  # [N, T]: a univariate series per row
        X = X[:, :, None]
    if X.ndim != 3:
        raise DataError(f"{p}: expected X of shape [N, T, C] (or [N, T]), got shape {list(X.shape)}")
    if lengths is None:
        lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    else:
        lengths = _integer_lengths(lengths, p)
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

            what, key = ("label", "data.label_column") if isinstance(label_column, str) else ("target", "data.target_column")
            raise DataError(
                f"{p}: no {what} column {column!r} in the header{did_you_mean(column, header)} "
                f"(set {key}); header starts {header[:5]}"
            )
    label_at = [header.index(c) for c in columns]
    step_columns = [h for j, h in enumerate(header) if j not in label_at]
    steps = len(header) - len(columns)
    labels, series = [], []
    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise DataError(f"{p}: line {r} has {len(row)} cells, the header has {len(header)}")
        labels.append([row[li].strip() if li < len(row) else "" for li in label_at])
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
    return X, (y[:, 0] if isinstance(label_column, str) else y), lengths


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


def load_file(path: str | os.PathLike[str], label_column: str | list[str] = "label"
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """X [N, T, C], labels [N] (None when the file has none), lengths [N] from ``.npz`` or ``.csv``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {str(p)!r} does not exist")
    if not p.is_file():
        kind = file_kind(p)
        raise DataError(f"data file {str(p)!r}: expected a file, got {kind}"
                        + ("" if kind == "a directory" else ", not a regular file"))
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_npz(p)
    if suffix == ".csv":
        return load_csv(p, label_column)
    raise DataError(f"{p}: expected a .npz or .csv file, got suffix {suffix or '(none)'!r}")
