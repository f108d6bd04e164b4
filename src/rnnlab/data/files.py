"""User data files: ``.npz`` (X [N, T, C], y [N], optional lengths [N] and target_names [K]) and ``.csv``.

``.npz`` files are read with ``allow_pickle=False``: object (ragged) arrays are refused, never
unpickled. X is [N, T, C] (or [N, T]): X [N, 1, C] with C > 1 is refused and C > T warned of, as
X in aeon/sktime's order [N, C, T] would read (:func:`check_step_order`). A ``.csv`` file is
comma-separated, has a header (each name once), one sequence per row, a label column (``label``
unless configured) and one column per time step; a row may end with empty cells (a shorter
sequence). A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped. What a ``.csv`` must not be
is refused by :func:`check_header` (no header row, another separator, pandas's index column, a long
table, a column outside the step columns' naming pattern, such as ``slope`` or ``subject`` beside
``t0`` .. ``t39``). Errors on a file's content start with the config key that names it
(``data.path (d.csv): ...``, ``--data (new.csv): ...``). Text labels (byte strings decoded as UTF-8) are read without surrounding whitespace, from
either format: ``"cat"`` and ``"cat "`` are one class; labels that differ only in case (``"cat"``,
``"Cat"``) are refused, naming them (:func:`text_labels`), and ``"nan"``, ``"None"``, ``"null"``,
``"NA"`` are missing labels, as an empty one is. Without ``lengths``, X whose sequences end in zero
padding is refused (:func:`rnnlab.data.checks.zero_padding`).

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
import math
import os
import re
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from rnnlab.data.checks import (
    MISSING_MARKS,
    check_label_case,
    check_targets_vary,
    finite_numbers,
    is_number,
    missing_kinds,
    missing_labels,
)
from rnnlab.errors import DataError, library_reason

#: The arrays an ``.npz`` may hold: ``target_names`` [K] is text, the names of y's K regression
#: targets (what an estimator fitted on a DataFrame y writes), read by :func:`npz_target_names`.
NPZ_KEYS = ("X", "y", "lengths", "target_names")


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
    config key that names it, which the errors on the arrays it holds start with). An optional
    ``target_names`` (the names of y's targets, :func:`npz_target_names`) is checked against y
    (:func:`check_target_names`) and not returned.

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
        arrays = {key: _array(npz, key, at) for key in NPZ_KEYS if key in npz.files}
    X, y, lengths = arrays["X"], arrays.get("y"), arrays.get("lengths")
    if "target_names" in arrays:
        check_target_names(arrays["target_names"], y, X.shape[1] if X.ndim > 1 else None, at)
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
    check_step_order(X.shape, at)
    if lengths is None:
        # (labels at every step, [N, T]: their padding is read with the labels, per_step.check_label_padding)
        if y is None or y.ndim < 2 or y.shape[1] != X.shape[1]:
            from rnnlab.data import check_ragged

            check_ragged(X, at, zeros=True)
        lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    else:
        lengths = _integer_lengths(lengths, at)
    return X.astype(np.float64), text_labels(y, at, "y = np.char.lower(y)" if where != "--data" else None), lengths


#: What to save instead of an array of Python objects, which is never unpickled.
_OBJECT_ADVICE = {
    "X": "(ragged sequences?); save X as a padded float array [N, T, C] and give the true lengths in 'lengths' [N]",
    "y": "(dtype object); save the labels as text or numbers, e.g. y.astype(str)",
    "lengths": "(dtype object); save the lengths as integers, e.g. lengths.astype(int)",
    "target_names": "(dtype object); save the names as text, e.g. np.array(names, dtype=str)",
}


def check_target_names(names: np.ndarray, y: np.ndarray | None, steps: int | None, at: str) -> list[str]:
    """An ``.npz``'s ``target_names`` as a list: text (byte strings decoded as UTF-8), one
    dimension, each name non-empty (surrounding spaces dropped) and given once, as many as y has
    targets (y [N]: 1; [N, K] and per step [N, T, K]: K; [N, T] with T = ``steps``, X's: 1 per
    step, or T); else one :class:`DataError` starting with ``at``. Without y, the names are not
    counted (new series to predict).

    >>> check_target_names(np.array(["conc", "temp"]), np.zeros((4, 2)), 10, "d.npz")
    ['conc', 'temp']
    >>> check_target_names(np.array(["conc", "temp"]), np.zeros((4, 3)), 10, "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): expected 3 target_names, one per target of y (shape [4, 3]), got 2: ['conc', 'temp']
    """
    if names.dtype.kind == "S":
        try:
            names = np.char.decode(names, "utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{at}: 'target_names' holds byte strings that are not UTF-8 text ({library_reason(e)}); "
                            "save the names as text, e.g. np.array(names, dtype=str)") from None
    if names.dtype.kind != "U":
        raise DataError(f"{at}: expected 'target_names' to hold text (a name per target of y), got dtype {names.dtype}; "
                        "save the names as text, e.g. np.array(names, dtype=str)")
    if names.ndim > 1:
        raise DataError(f"{at}: expected 'target_names' of shape [K] (a name per target of y), got shape "
                        f"{list(names.shape)}")
    listed = [str(n).strip() for n in names.reshape(-1)]
    for i, name in enumerate(listed):
        if not name:
            raise DataError(f"{at}: target_names[{i}] is empty; expected a name for every target of y")
        if name in listed[:i]:
            raise DataError(f"{at}: target_names names {name!r} twice (at {listed.index(name)} and {i}); expected "
                            "each target's name once")
    if y is not None:
        k = 1 if y.ndim <= 1 else int(y.shape[-1])
        # (y [N, T] of one target per step reads as [N, K] with K = T: one name fits it too)
        fits = {k, 1} if y.ndim == 2 and steps is not None and y.shape[1] == steps else {k}
        if len(listed) not in fits:
            raise DataError(f"{at}: expected {k} target_names, one per target of y (shape {list(y.shape)}), got "
                            f"{len(listed)}: {listed}")
    return listed


def check_named_targets(names: list[str], y: np.ndarray, path: str | os.PathLike[str], where: str) -> None:
    """``data.target_column``'s ``names`` for the targets ``y`` of the ``.npz`` at ``path`` (``where``:
    its key): one per column of y, and the file's own ``target_names``, where it has them.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, X=np.zeros((2, 3)), y=np.zeros((2, 2)), target_names=np.array(["conc", "temp"]))
    >>> check_named_targets(["conc", "temp"], np.zeros((2, 2)), p, "data.path")
    >>> check_named_targets(["conc"], np.zeros((2, 2)), p, "data.path")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.target_column names 1 target (['conc']), but y of data.path (...d.npz) has 2 (shape [2, 2]); expected a name per column of y
    """
    k = 1 if y.ndim == 1 else int(y.shape[1])
    if len(names) != k:
        raise DataError(f"data.target_column names {len(names)} target{'' if len(names) == 1 else 's'} ({names}), "
                        f"but y of {where} ({path}) has {k} (shape {list(y.shape)}); expected a name per column of y")
    own = npz_target_names(path)
    if own is not None and own != list(names):
        raise DataError(f"data.target_column names the targets {names}, but {where} ({path}) names them {own} "
                        "(its target_names); expected the same names, or only one of the two")


def npz_target_names(path: str | os.PathLike[str]) -> list[str] | None:
    """The names an ``.npz`` gives its regression targets (its ``target_names``, as
    :func:`check_target_names` reads them); None when it has none or cannot be read (the file's
    reader says why, where the file is read).

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, X=np.zeros((2, 3)), y=np.zeros((2, 2)), target_names=np.array(["conc", "temp"]))
    >>> npz_target_names(p), npz_target_names(p + ".missing")
    (['conc', 'temp'], None)
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "target_names" not in npz.files:
                return None
            names = npz["target_names"]
        return check_target_names(names, None, None, str(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, DataError):
        return None


def _array(npz: np.lib.npyio.NpzFile, key: str, at: str) -> np.ndarray:
    """The array ``key`` of an open ``.npz``; one :class:`DataError` naming it when it is stored
    as Python objects (refused, never unpickled) or cannot be read."""
    try:
        return npz[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{at}: {key!r} is stored as Python objects {_OBJECT_ADVICE[key]}") from None
        raise DataError(f"{at}: cannot read array {key!r} ({library_reason(e)})") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"{at}: the file is truncated or corrupt ({library_reason(e)})") from None


class StepOrderWarning(UserWarning):
    """X with more channels than steps (:func:`check_step_order`): the category lets a caller that
    checked its own X first (rnnlab's estimators) leave out this file's wording of it."""


def check_step_order(shape: tuple[int, ...], at: str, call: str | None = None) -> None:
    """X of ``shape`` [N, T, C] as it would be if it were in aeon/sktime's order [N, C, T]
    (rnnlab's estimators take that order; a file holds [N, T, C]): one step of several channels
    is refused, more channels than steps is warned of (:class:`StepOrderWarning`); each says the fix.
    ``call``: X is an estimator's, given as [N, C, T] to ``call`` (e.g. ``"fit(X, y)"``): the
    message names X's shape as given, and the fix as that call on X transposed.

    >>> check_step_order((60, 1, 50), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X of shape [60, 1, 50] read as [N, T, C] is 60 sequences of 1 step with 50 channels; if X is [N, C, T] (aeon/sktime's order), save X.transpose(0, 2, 1)
    >>> check_step_order((60, 1, 50), "RNNClassifier.fit", call="fit(X, y)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: RNNClassifier.fit: X of shape [60, 50, 1] read as [N, C, T] is 60 series of 1 step with 50 channels; if X is [N, T, C], call fit(X.transpose(0, 2, 1), y)
    >>> check_step_order((60, 50, 2), "data.path (d.npz)")  # [N, T, C]: 50 steps, 2 channels
    """
    n, steps, channels = shape
    if channels <= max(steps, 1):
        return
    counts = f"{n} {'sequences' if call is None else 'series'} of {steps} step{'' if steps == 1 else 's'} with {channels} channels"
    if call is None:
        text = f"{at}: X of shape {list(shape)} read as [N, T, C] is {counts}"
        fix = "if X is [N, C, T] (aeon/sktime's order), save X.transpose(0, 2, 1)"
    else:
        text = f"{at}: X of shape {[n, channels, steps]} read as [N, C, T] is {counts}"
        fix = f"if X is [N, T, C], call {call.replace('X', 'X.transpose(0, 2, 1)', 1)}"
    if steps == 1:  # (a recurrent network over one step is no sequence model: never meant)
        raise DataError(f"{text}; {fix}")
    warnings.warn(f"{text}, more channels than steps; {fix}", StepOrderWarning, stacklevel=3)


def text_labels(y: np.ndarray | None, at: str, case_fix: str | None = None) -> np.ndarray | None:
    """Text labels as both formats read them: without surrounding whitespace; byte strings
    (``y.astype("S")``) decoded as UTF-8 text, so that a label reads ``run``, not ``b'run'``;
    with ``case_fix`` (the labels are used: how to write each class one way in that format),
    labels that differ only in case refused (:func:`rnnlab.data.checks.check_label_case`), as
    each spelling would silently be a class of its own.

    >>> text_labels(np.array(["walk", "Walk "]), "data.path (d.npz)", "y = np.char.lower(y)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): labels that differ only in case: 'walk', 'Walk'; each spelling would be a class of its own: write each class one way, e.g. y = np.char.lower(y)
    """
    if y is None or y.dtype.kind not in "US":
        return y
    if y.dtype.kind == "S":
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{at}: 'y' holds byte strings that are not UTF-8 text ({library_reason(e)}); "
                            "save the labels as text, e.g. y.astype(str)") from None
    y = np.char.strip(y)
    if case_fix is not None:
        check_label_case(y, at, case_fix)
    return y


#: Cells that mark a missing value (pandas's default NA strings, as labels, and more; an empty cell is one too).
_MISSING = MISSING_MARKS | {"?", "missing"}
_MISSING_HINT = "missing values are not accepted: fill or interpolate them"
_MISSING_TARGET = "missing values are not accepted: fill them or drop the line"

#: Header names of a long table (one row per step, lower-cased), which a wide file has no step column named.
_LONG_NAMES = ("id", "time", "timestamp", "date", "datetime", "step", "channel", "value")
_TIME_NAMES = ("time", "timestamp", "date", "datetime", "step")

#: pandas's name for a column without one, once such a file is read and written again.
_UNNAMED = re.compile(r"Unnamed: \d+")


def _names_steps(cells: list[str]) -> bool:
    """Whether the numbers in a header name steps: they go up by one fixed step (``0, 1, 2`` as
    pandas names a DataFrame's columns, ``0.0, 0.5, 1.0`` as times on a grid), as a first row of
    data hardly does. Fewer than three numbers cannot tell: taken for names."""
    values = np.array([float(c) for c in cells])
    if len(values) < 3:
        return True
    gaps = np.diff(values)
    return bool(gaps[0] > 0 and np.allclose(gaps, gaps[0], rtol=1e-6, atol=0))


def _steps_are(label_column: str | list[str]) -> str:
    """What every column of a wide ``.csv`` is, in words, with ``label_column`` (a list: the
    target columns; empty: new series without them)."""
    if isinstance(label_column, str):
        return f"every column but the label column {label_column!r} is a time step"
    if label_column:
        return f"every column but the target columns {', '.join(map(repr, label_column))} is a time step"
    return "with no label or target column in the header, every column is a time step"


def _at(p: Path, where: str | None) -> str:
    """How an error names the file ``p``: after the config key that names it, when known."""
    return str(p) if where is None else f"{where} ({p})"


#: A step column's name: a prefix and a number (``t0``, ``step_12``, ``t-1``; pandas's ``0``, ``0.5``).
_NUMBERED = re.compile(r"(.*?)([-+]?\d+(?:\.\d+)?)")


def step_name_pattern(names: list[str]) -> str | None:
    """The prefix the step columns ``names`` of a ``.csv`` are named by before a number (``"t"``
    for ``t0, t1, ...``; ``""`` for pandas's ``0, 1, ...``) when at least 3 of them, and more than
    half, follow it; None when they follow no such pattern (then any column may be a step).

    >>> step_name_pattern(["t0", "t1", "t2", "slope"]), step_name_pattern(["a", "b", "c"])
    ('t', None)
    """
    prefixes = [m.group(1) for m in map(_NUMBERED.fullmatch, names) if m]
    if not prefixes:
        return None
    prefix, count = Counter(prefixes).most_common(1)[0]
    return prefix if count >= 3 and count > len(names) / 2 else None


def _check_step_names(at: str, header: list[str], label_column: str | list[str], where: str | None) -> None:
    """Refuse columns outside the pattern the step columns follow (:func:`step_name_pattern`):
    read as steps they would put an id or a second target into the input without a word."""
    columns = [label_column] if isinstance(label_column, str) else list(label_column)
    if any(c not in header for c in columns):
        return  # (the reader says which label or target column is missing first)
    steps = [h for h in header if h and not _UNNAMED.fullmatch(h) and h not in columns]
    prefix = step_name_pattern(steps)
    if prefix is None:
        return
    outside = [h for h in steps if not ((m := _NUMBERED.fullmatch(h)) and m.group(1) == prefix)]
    if not outside:
        _check_step_order(at, steps, prefix)
        _check_not_a_step(at, steps, prefix, columns, "label" if isinstance(label_column, str) else "target")
        return
    numbered = [h for h in steps if h not in outside]
    one = len(outside) == 1
    what = f"column {outside[0]!r} is not a time step" if one else f"columns {outside} are not time steps"
    pattern = f"{prefix!r} and a number" if prefix else "numbers"
    fix = f"remove columns that are no step (an id, another target) from the file: df.drop(columns={outside})"
    if where != "--data" and isinstance(label_column, str):
        fix += f"; or, if {'it holds' if one else 'one holds'} the class labels, set data.label_column"
    elif where != "--data" and columns:
        fix += (f"; or, if it is a target too, data.target_column = {columns + outside}" if one else
                f"; or list those that are targets too in data.target_column (now {columns})")
    raise DataError(f"{at}: {what} (the steps are named {numbered[0]} .. {numbered[-1]}, {pattern}; "
                    f"{_steps_are(label_column)}); {fix}")


def _check_not_a_step(at: str, steps: list[str], prefix: str, columns: list[str], what: str) -> None:
    """Refuse a label or target column named as the step columns are (``prefix`` and a number)
    whose number falls between two steps' where that step is missing (``t5`` among ``t0 .. t39``):
    a step column named as the label or target by mistake, which would train on one step's values
    with that step cut out of every series. A number past either end (``t40``: the next value) is a
    target that is fine.

    >>> _check_not_a_step("d.csv", ["t0", "t1", "t2", "t4", "t5"], "t", ["t3"], "target")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: d.csv: the target column 't3' is one of the numbered step columns (t0 .. t5, 't' and a number): the steps go t2 -> t4 without it, so read as the target it would cut step 3 out of every series; set data.target_column to the column of the values (now 't3'), or, if 't3' really is a target, rename it so that it is not named as a step
    >>> _check_not_a_step("d.csv", ["t0", "t1", "t2"], "t", ["t3"], "target")  # (the next value)
    """
    numbers = [float(_NUMBERED.fullmatch(h).group(2)) for h in steps]  # type: ignore[union-attr]
    key = "data.label_column" if what == "label" else "data.target_column"
    for column in columns:
        m = _NUMBERED.fullmatch(column)
        if not (m and m.group(1) == prefix):
            continue
        n = float(m.group(2))
        below = [(v, h) for v, h in zip(numbers, steps, strict=True) if v < n]
        above = [(v, h) for v, h in zip(numbers, steps, strict=True) if v > n]
        if not below or not above:
            continue
        before, after = max(below)[1], min(above)[1]
        now = columns[0] if len(columns) == 1 else columns
        raise DataError(f"{at}: the {what} column {column!r} is one of the numbered step columns ({steps[0]} .. "
                        f"{steps[-1]}, {prefix!r} and a number): the steps go {before} -> {after} without it, so read "
                        f"as the {what} it would cut step {n:g} out of every series; set {key} to the column of the "
                        f"values (now {now!r}), or, if {column!r} really is a {what}, rename it so that it is not "
                        "named as a step")


def _check_step_order(at: str, steps: list[str], prefix: str) -> None:
    """Refuse step columns ``steps`` (each ``prefix`` and a number) whose numbers go neither up
    nor down: read in the file's order, the steps of every series would be shuffled, without a
    word. ``df.pivot`` writes ``t0, t1, t10, t11, ...``: it sorts the names as text.

    >>> _check_step_order("d.csv", ["t0", "t1", "t10", "t2"], "t")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: d.csv: the step columns are not in the order of their numbers (t10 is followed by t2: sorted as text, as df.pivot sorts them), so each series would be read shuffled; write them in order, e.g. w = w[sorted(w.columns, key=lambda c: float(str(c).removeprefix("t")))] before adding the label, or pivot with w = df.pivot(...)[df["time"].unique()]
    >>> _check_step_order("d.csv", ["t3", "t2", "t1"], "t")  # (going down: read as written)
    """
    numbers = [float(_NUMBERED.fullmatch(h).group(2)) for h in steps]  # type: ignore[union-attr]
    ups = [b > a for a, b in zip(numbers, numbers[1:])]
    if all(ups) or not any(ups):
        return
    i = next(i for i, up in enumerate(ups) if up != ups[0])
    raise DataError(f"{at}: the step columns are not in the order of their numbers ({steps[i]} is followed by "
                    f"{steps[i + 1]}: sorted as text, as df.pivot sorts them), so each series would be read "
                    f"shuffled; write them in order, e.g. w = w[sorted(w.columns, key=lambda c: "
                    f"float(str(c).removeprefix(\"{prefix}\")))] before adding the label, or pivot with "
                    f"w = df.pivot(...)[df[\"time\"].unique()]")


def check_header(p: Path, header: list[str], rows: list[list[str]], label_column: str | list[str],
                 where: str | None = None) -> set[int]:
    """Refuse, in one line each, a ``.csv`` whose first row ``header`` (the stripped cells of
    ``rows[0]``) is not the header of a wide table with ``label_column`` (or target columns):
    one cell holding ``;`` or a tab (another separator); at most one word, and numbers that do
    not go up by one fixed step (a first row of data: no header); a name twice; step columns
    named as a long table's (two of id, time, timestamp, date, datetime, step, channel, value);
    one such name but value (a column that is no step); a column outside the pattern the step
    columns are named by (:func:`step_name_pattern`: ``slope`` or ``subject`` beside ``t0`` ..
    ``t39``); a column without a name (empty, or pandas's ``Unnamed: 0``) with a value in it
    (pandas's index). Returns the positions of unnamed columns empty on every line (a trailing
    comma), which hold no step. ``where``: the config key (or ``--data``) that names the file,
    which each error starts with, as an ``.npz``'s do.

    >>> check_header(Path("d.csv"), ["walk", "-0.99", "-0.96", "-0.91"], [], "label")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: d.csv: the file has no header row (line 1 is ['walk', '-0.99', '-0.96', '-0.91']: numbers, not column names); add one (label, t0, t1, ...)
    >>> check_header(Path("d.csv"), ["label", "t0", ""], [["label", "t0", ""], ["a", "1", ""]], "label")
    {2}
    """
    at = _at(p, where)
    columns = [label_column] if isinstance(label_column, str) else list(label_column)
    check_separator(at, header)
    cells = [h for h in header if h]
    numbers = [h for h in cells if is_number(h)]
    if numbers and len(cells) - len(numbers) <= 1 and not _names_steps(numbers):
        shown = header[:4] + (["..."] if len(header) > 4 else [])
        # (a label column set to a cell of that first row is no name for the header to have)
        head = [c for c in columns if c not in cells] or ["label"]
        raise DataError(f"{at}: the file has no header row (line 1 is {shown}: numbers, not column names); "
                        f"add one ({', '.join([*head, 't0', 't1', '...'])})")
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name and name in seen:
            raise DataError(f"{at}: the header names column {name!r} twice (columns {seen[name] + 1} and {j + 1}); "
                            "expected each column name once")
        seen[name] = j
    named = [h for h in header if h.lower() in _LONG_NAMES and h not in columns]
    if len(named) >= 2:
        raise DataError(f"{at}: the header looks like a long table, one row per step (columns {named}); rnnlab reads "
                        f"one row per series: its label and one column per step. {_long_table_fix(p, header, named, label_column)}")
    if named and named[0].lower() != "value":
        # (df.to_csv(path) writes the DataFrame's index first, named: after df.pivot(index="id") that is the id,
        # which df.drop(columns=...) cannot find)
        drop = f"df.drop(columns=[{named[0]!r}]).to_csv(path, index=False)"
        fix = (f"df.to_csv(path, index=False) if {named[0]!r} is the DataFrame's index (as after df.pivot), else {drop}"
               if header[0] == named[0] else drop)
        raise DataError(f"{at}: column {named[0]!r} is not a time step ({_steps_are(label_column)}; remove other "
                        f"columns, such as an id, from the file: {fix})")
    _check_step_names(at, header, label_column, where)
    return index_columns(at, header, rows)


def _long_table_fix(p: Path, header: list[str], named: list[str], label_column: str | list[str]) -> str:
    """How to turn the long table ``p`` (one row per step; ``named``: its id and time columns, and
    any channel or value column; ``label_column``: the label column, or a list of target columns)
    into what rnnlab reads, as code on the file's own columns: one value column, pivoted to a wide
    ``.csv``; several (a ``.csv`` holds one channel), an ``.npz`` X [N, T, C] with lengths [N],
    recordings of unequal length padded.

    >>> print(_long_table_fix(Path("d.csv"), ["id", "time", "x", "label"], ["id", "time"], "label"))
    Pivot it: w = df.pivot(index="id", columns="time", values="x")[df["time"].unique()]; w["label"] = df.groupby("id")["label"].first(); w.to_csv("d_wide.csv", index=False)
    """
    lower = {h.lower(): h for h in named}
    index = lower.get("id", "id")
    time = next((lower[t] for t in _TIME_NAMES if t in lower), "time")
    columns = [label_column] if isinstance(label_column, str) else list(label_column)
    labels = [c for c in columns if c in header]
    if "channel" in lower:  # (several channels in rows: one pivot per channel, as an .npz holds them)
        return (f"Pivot it, e.g. df.pivot(index=\"{index}\", columns=\"{time}\", values=\"{lower.get('value', 'value')}\"), "
                f"and add each series' label; several channels ({lower['channel']!r}) go in an .npz, X [N, T, C]")
    values = ([lower["value"]] if "value" in lower else
              [h for h in header if h and h not in named and h not in columns and column_role(h) != "index"])
    if len(values) <= 1:
        value = values[0] if values else "value"
        add = "".join(f"; w[{c!r}] = df.groupby(\"{index}\")[{c!r}].first()" for c in labels).replace("'", '"')
        # (the steps in the table's own order: df.pivot sorts its columns, as text for names such
        # as t0 .. t29, which puts t10 third)
        return (f"Pivot it: w = df.pivot(index=\"{index}\", columns=\"{time}\", values=\"{value}\")"
                f"[df[\"{time}\"].unique()]{add}; "
                f"w.to_csv(\"{p.stem}_wide.csv\", index=False)")
    # (pandas gives text as objects, which an .npz holds only pickled: class labels as text, targets as floats)
    y = (f"y=g[{labels[0]!r}].first().to_numpy(str), " if labels and isinstance(label_column, str) else
         f"y=g[{labels}].first().to_numpy(float), " if labels else "")
    return (f"A .csv holds one channel (a column per step): these {len(values)} value columns {values} go in an .npz, "
            f"X [N, T, C], with lengths [N] for recordings of unequal length (import numpy as np, pandas as pd): "
            + long_table_npz(p, [index], time, values, y))


def long_table_npz(p: Path, ids: list[str], time: str | None, values: list[str], y: str = "",
                   time_format: str = "") -> str:
    """The code (numpy as ``np``, pandas as ``pd``) that turns the long table ``p`` into an
    ``.npz``: one series per value of the ``ids`` columns, its rows in the order of the ``time``
    column (None: as the file has them), X [N, T, C] of the ``values`` columns padded at the end
    with zeros, lengths [N]; ``y``: the ``np.savez`` argument of the labels (``"y=..., "``), if
    any; ``time_format``: the strftime format the times sort by, where their text does not
    (``"%d/%m/%Y"``). Series are numbered in the order of their ids (``g.size().index``).

    >>> print(long_table_npz(Path("d.csv"), ["store", "item"], "date", ["sales"]))
    df = pd.read_csv('d.csv').sort_values(['store', 'item', 'date']); g = df.groupby(['store', 'item']); i, t = g.ngroup().to_numpy(), g.cumcount().to_numpy(); X = np.zeros((i.max() + 1, t.max() + 1, 1)); X[i, t] = df[['sales']].to_numpy(); np.savez('d.npz', X=X, lengths=g.size().to_numpy())
    """
    read = f"pd.read_csv({str(p)!r})"
    if time is not None:
        key = (f", key=lambda c: pd.to_datetime(c, format={time_format!r}) if c.name == {time!r} else c"
               if time_format else "")
        read += f".sort_values({[*ids, time]!r}{key})"
    by = ids[0] if len(ids) == 1 else ids
    return (f"df = {read}; g = df.groupby({by!r}); i, t = g.ngroup().to_numpy(), g.cumcount().to_numpy(); "
            f"X = np.zeros((i.max() + 1, t.max() + 1, {len(values)})); X[i, t] = df[{values!r}].to_numpy(); "
            f"np.savez({p.stem + '.npz'!r}, X=X, {y}lengths=g.size().to_numpy())")


def check_separator(at: str, header: list[str]) -> None:
    """Refuse a ``.csv`` whose header ``header`` (its first row's cells) is one cell holding ``;``
    or a tab: a file of another separator (European Excel writes ``;`` with decimal commas), whose
    rows would read as one column of text. ``at`` names the file, as the error starts.

    >>> check_separator("d.csv", ["date;sales"])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: d.csv: the header is one cell containing ';': rnnlab reads comma-separated .csv files (with decimal points); save it with commas, e.g. pandas.read_csv(path, sep=';', decimal=',').to_csv(path, index=False)
    """
    if len(header) != 1:
        return
    for sep, name, read in ((";", "';'", "sep=';', decimal=','"), ("\t", "a tab", "sep='\\t'")):
        if sep in header[0]:
            raise DataError(f"{at}: the header is one cell containing {name}: rnnlab reads comma-separated .csv "
                            f"files (with decimal points); save it with commas, e.g. pandas.read_csv(path, {read})"
                            ".to_csv(path, index=False)")


#: Names of a column that identifies a series (a store, an item: a long table's key), case aside,
#: besides names ending in one (``series_id``, ``store_nbr``, ``itemId``: :data:`_ID_END`, :data:`_ID_CAMEL`).
_ID_NAMES = ("id", "series", "sku", "item", "store", "shop")
_ID_END = re.compile(r".+[_ -](id|nbr|code|key)", re.IGNORECASE)
_ID_CAMEL = re.compile(r".*[a-z](Id|ID)")  # (case counts: "paid" is no id)


def column_role(name: str) -> str | None:
    """What a ``.csv`` column holds by its name alone, when that is no values: ``"index"`` (no
    name, or pandas's ``Unnamed: N``: the index ``df.to_csv(path)`` writes), ``"id"`` (``id``,
    a name ending in one, ``series_id``, ``store_nbr``, ``itemId``, or a name such as ``sku``,
    ``item``, ``store``: what identifies a series), ``"time"`` (time, timestamp, date, datetime
    or step, case aside: where a row is); else None.

    >>> [column_role(n) for n in ["", "Unnamed: 0", "ID", "series_id", "SKU", "Date", "sales", "paid"]]
    ['index', 'index', 'id', 'id', 'id', 'time', None, None]
    """
    if not name or _UNNAMED.fullmatch(name):
        return "index"
    lowered = name.lower()
    if lowered in _ID_NAMES or _ID_END.fullmatch(name) or _ID_CAMEL.fullmatch(name):
        return "id"
    return "time" if lowered in _TIME_NAMES else None


def index_columns(at: str, header: list[str], rows: list[list[str]], lines: list[int] | None = None) -> set[int]:
    """Refuse a column without a name (empty, or pandas's ``Unnamed: 0``) that holds a value in
    ``rows`` (the file's rows, the header first): the index pandas writes by default, which read
    as data would be a counter; return the positions of those empty on every line (a trailing
    comma). ``lines``: each row's line in the file (default: one row a line); ``at`` names the file.

    >>> index_columns("d.csv", ["Unnamed: 0", "sales"], [["Unnamed: 0", "sales"], ["0", "3.5"]])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: d.csv: column 1 is 'Unnamed: 0' (pandas's name for a column without one) and holds values ('0' on line 2): the index pandas writes by default; write the file with df.to_csv(path, index=False), or drop the column
    """
    lines = list(range(1, len(rows) + 1)) if lines is None else lines
    ignored = set()
    for j, name in enumerate(header):
        if column_role(name) != "index":
            continue
        at_row = next((r for r in range(1, len(rows)) if j < len(rows[r]) and rows[r][j].strip()), None)
        if at_row is None:
            ignored.add(j)
            continue
        what = "has no name" if not name else f"is {name!r} (pandas's name for a column without one)"
        raise DataError(f"{at}: column {j + 1} {what} and holds values ({rows[at_row][j].strip()!r} on line "
                        f"{lines[at_row]}): the index pandas writes by default; write the file with df.to_csv(path, "
                        "index=False), or drop the column")
    return ignored


def load_csv(path: str | os.PathLike[str], label_column: str | list[str] = "label", read_targets: bool = True,
             where: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a univariate ``.csv``: one row per sequence, trailing empty cells mark shorter ones.
    ``label_column`` names the column of the labels (or targets), or a list of target columns:
    then the labels come back as text [N, K]. ``read_targets``: whether the labels or targets
    are used, so that an empty label or a target cell that is no finite number is refused by its
    line (False: new series to predict, whose label or target cells are left out unchecked,
    whatever they hold: an empty cell, ``?``). ``where``: the config key (or ``--data``) that names
    the file, which each error then starts with (``data.path (d.csv): ...``).

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("label,t0,t1,t2\\nwalk,1,2,3\\nrun,1,NA,3\\n")
    >>> load_csv(p)
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: ...d.csv: line 3, column 't1', step 1: missing value 'NA'; missing values are not accepted: fill or interpolate them
    """
    p = Path(path)
    at = _at(p, where)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{at}: cannot read as a .csv file ({library_reason(e)})") from None
    if not rows:
        raise DataError(f"{at}: the file is empty (expected a header row and one row per sequence)")
    header = [h.strip() for h in rows[0]]
    columns = [label_column] if isinstance(label_column, str) else list(label_column)
    ignored = check_header(p, header, rows, label_column, where)
    for column in columns:
        if column not in header:
            from rnnlab._checks import did_you_mean

            # (a regression run reads data.target_column: a user who set data.label_column to
            # the values' column is told which key names it)
            what, key = ("label", "data.label_column") if isinstance(label_column, str) else \
                ("target", "data.target_column, the regression key; data.label_column names class labels")
            raise DataError(
                f"{at}: no {what} column {column!r} in the header{did_you_mean(column, header)} "
                f"(set {key}); header starts {header[:5]}"
            )
    label_at = [header.index(c) for c in columns]
    step_at = [j for j in range(len(header)) if j not in label_at and j not in ignored]
    every = _steps_are(label_column)  # (text in a step: an id or a date column beside the steps, usually)
    labels, series, lines = [], [], []
    for r, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise DataError(f"{at}: line {r} has {len(row)} cells, the header has {len(header)}")
        labels.append([row[li].strip() if li < len(row) else "" for li in label_at])
        lines.append(r)
        cells = [row[j].strip() if j < len(row) else "" for j in step_at]
        while cells and cells[-1] == "":
            cells.pop()
        values = []
        for k, c in enumerate(cells):
            try:
                v = float(c)
            except ValueError:
                v = float("nan")
            if not math.isfinite(v):
                _bad_cell(at, r, k, cells, header[step_at[k]], every)
            values.append(v)
        if not values:
            raise DataError(f"{at}: line {r} has a label but no values")
        series.append(values)
    if not series:
        raise DataError(f"{at}: no data rows after the header")
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    X = np.zeros((len(series), len(step_at), 1))
    for i, s in enumerate(series):
        X[i, : len(s), 0] = s
    y = np.array(labels)
    # (new series to predict, not read_targets: their labels or targets are left out whatever they hold)
    if read_targets and not isinstance(label_column, str):
        _check_target_cells(at, y, columns, lines)
    elif read_targets:
        missing = missing_labels(y[:, 0])
        if len(missing):
            shown = [lines[i] for i in missing[:5]]
            raise DataError(f"{at}: {len(missing)} label(s) missing ({missing_kinds(y[:, 0], missing)}) in column "
                            f"{label_column!r} on line{'' if len(missing) == 1 else 's'} {', '.join(map(str, shown))}"
                            f"{' ...' if len(missing) > 5 else ''}; expected a class label on every line: give "
                            "those lines their labels or drop them")
        text_labels(y[:, 0], at, f"df[{label_column!r}] = df[{label_column!r}].str.lower()")
    return X, (y[:, 0] if isinstance(label_column, str) else y), lengths


def _bad_cell(at: str, line: int, k: int, cells: list[str], name: str, every: str) -> None:
    """Raise the error on step ``k`` of a row's ``cells`` (on ``line``, in column ``name``),
    which is no finite number: empty or a missing-value mark, infinite, or text (``every``: what
    every column is, which such text breaks)."""
    c = cells[k]
    named = f"column {name!r}, " if name else ""
    if c == "":
        raise DataError(f"{at}: line {line} has an empty cell at step {k} before the end of the sequence "
                        f"({named.removesuffix(', ') or 'a column without a name'}); {_MISSING_HINT}")
    if c.lower() in _MISSING:
        # (missing values up to the row's end: the user's way of writing a shorter series)
        shorter = " (a shorter sequence ends with empty cells)" if all(
            not d or d.lower() in _MISSING for d in cells[k:]) else ""
        raise DataError(f"{at}: line {line}, {named}step {k}: missing value {c!r}; {_MISSING_HINT}{shorter}")
    if is_number(c):
        raise DataError(f"{at}: line {line}, {named}step {k}: expected a finite number, got {c!r}")
    raise DataError(f"{at}: line {line}, {named}step {k}: expected a number, got {c!r} ({every}; remove other "
                    "columns, such as an id, from the file)")


def _check_target_cells(at: str, y: np.ndarray, columns: list[str], lines: list[int]) -> None:
    """A target column of numbers with some cells that are not (empty, ``1,5``) or are NaN or
    inf: the first such cell, by line and column.
    A column mostly of words is class labels, which :func:`rnnlab.data.checks.check_targets`
    refuses as such."""
    for k, column in enumerate(columns):
        numbers = [is_number(str(c)) for c in y[:, k]]
        if sum(numbers) < len(numbers) / 2:
            continue
        if not all(numbers):
            i = numbers.index(False)
            cell = str(y[i, k])
            plain = " (plain numbers: 1234.5, not 1,234.5 or 1,5)" if "," in cell else ""
            missing = f"; {_MISSING_TARGET}" if cell.lower() in _MISSING else ""
            bad = len(numbers) - sum(numbers)
            raise DataError(f"{at}: line {lines[i]}, column {column!r}: expected a number (a regression target), "
                            f"got {cell!r}{plain}; {bad} of the column's {len(numbers)} cells "
                            f"{'is not a number' if bad == 1 else 'are not numbers'}{missing}")
        values = y[:, k].astype(np.float64)
        bad_at = np.flatnonzero(~np.isfinite(values))
        if len(bad_at):
            i = int(bad_at[0])
            raise DataError(f"{at}: line {lines[i]}, column {column!r}: expected a finite number (a regression "
                            f"target), got {str(y[i, k])!r}; {len(bad_at)} of the column's {len(values)} cells "
                            f"{'is' if len(bad_at) == 1 else 'are'} NaN or inf"
                            + (f"; {_MISSING_TARGET}" if np.isnan(values[i]) else ""))


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
    ``where`` is the config key that names the file (``data.path``, the training file;
    ``data.test_path``; ``--data``, new series to predict, whose labels are ignored), which a
    missing file's error and an ``.npz``'s errors on its arrays name. A list ``label_column``
    reads regression targets, which the training file's must vary
    (:func:`rnnlab.data.checks.check_targets_vary`).

    >>> load_file("/nowhere/t.npz", where="data.test_path")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.test_path: data file '/nowhere/t.npz' does not exist
    """
    p = existing_file(path, where)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        X, y, lengths = load_npz(p, where)
    elif suffix == ".csv":
        X, y, lengths = load_csv(p, label_column, read_targets=where != "--data", where=where)
    else:
        raise DataError(f"{where} ({p}): expected a .npz or .csv file, got suffix {suffix or '(none)'!r}")
    if where == "data.path" and not isinstance(label_column, str) and y is not None and y.ndim in (1, 2) \
            and len(y) == len(X):
        values = finite_numbers(y)
        if values is not None:
            if suffix == ".csv":
                check_targets_vary(values, f"{where} ({p})", list(label_column))
            else:
                names = npz_target_names(p)  # (one name for y [N, T] of T steps names no column: unnamed)
                fit = names is not None and len(names) == values.reshape(len(values), -1).shape[1]
                check_targets_vary(values, f"{where} ({p})", names if fit else None, named_by="y")
    return X, y, lengths


