"""Per-step targets read from a user file (``[task] per_step = true``): a target at every step.

``y`` is [N, T] class labels, or [N, T] / [N, T, K] values (``[task] kind = "regression"``), T
the steps of ``X`` [N, T, C]. Targets of steps past a sequence's length are padding, read as
anything and stored as :data:`rnnlab.task.PAD_LABEL` (labels) or NaN (values); a numeric label
-100 (torch's ``ignore_index``) inside a sequence marks a step without a target. Without
lengths, padding is refused with the advice to add them: NaN or empty targets ending sequences,
and labels (-1, 0, -100 alike) that end many sequences in one run over all-zero X rows
(:func:`check_label_padding`), whose steps would be read as input. Only ``.npz`` files hold
per-step targets (a ``.csv`` row has one label, or one value per target column). Each failure is
one :class:`DataError` naming the file.

Example:
    >>> import numpy as np, tempfile, os
    >>> from rnnlab.task import PER_STEP_CLASSIFICATION
    >>> p = os.path.join(tempfile.mkdtemp(), "tags.npz")
    >>> np.savez(p, X=np.zeros((2, 3, 1)), y=np.array([[0, 1, 1], [1, 0, 9]]), lengths=np.array([3, 2]))
    >>> s = per_step_sequences(p, "data.path", PER_STEP_CLASSIFICATION, None)
    >>> s.y.tolist(), s.classes
    ([[0, 1, 1], [1, 0, -100]], ['0', '1'])
"""

from __future__ import annotations

import numpy as np

from rnnlab.data import check_ragged
from rnnlab.data.bundled import Sequences, encode_labels, label_order
from rnnlab.data.checks import check_finite, check_lone_values, missing_kinds, missing_labels
from rnnlab.data.files import load_file, open_npz
from rnnlab.errors import DataError
from rnnlab.task import PAD_LABEL, Task

_SHOWN = 5


def valid_steps(lengths: np.ndarray, steps: int) -> np.ndarray:
    """[N, steps] booleans: True where a step is inside its sequence.

    >>> valid_steps(np.array([1, 3]), 3).astype(int).tolist()
    [[1, 0, 0], [1, 1, 1]]
    """
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def labelled_steps(labels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The ``valid`` steps that hold a label: a numeric -100 inside a sequence is a step without
    a target (torch's ``ignore_index``, as Hugging Face's token-classification data mark
    sub-words): in no class, the loss or the metrics. Text labels have no such mark.

    >>> labelled_steps(np.array([[0, -100, 1]]), np.array([[True, True, False]])).tolist()
    [[True, False, False]]
    """
    return valid & (labels != PAD_LABEL) if labels.dtype.kind in "iuf" else valid


def whole_number_labels(y: np.ndarray | None, valid: np.ndarray | None = None) -> np.ndarray | None:
    """Float class labels that are whole numbers (0.0, 1.0: what NaN padding, pandas or a float
    array makes of integer labels) as the integers they are (int64), so that a file of 0.0 / 1.0
    and one of 0 / 1 hold the same classes, named ``"0"`` and ``"1"``. Only the ``valid`` entries
    count (per step: the steps inside each sequence; None: every entry); the others become
    :data:`~rnnlab.task.PAD_LABEL`. Anything else (text, integers, a fractional or a missing
    label, a number beyond 2**53) is returned as it is, for the checks that follow to read or refuse.

    >>> whole_number_labels(np.array([[0.0, 2.0, np.nan]]), np.array([[True, True, False]])).tolist()
    [[0, 2, -100]]
    >>> whole_number_labels(np.array([0.5, 1.0])).tolist()  # (a fractional label: regression's check says so)
    [0.5, 1.0]
    """
    if y is None or y.dtype.kind != "f":
        return y
    inside = np.ones(y.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    given = y[inside]
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(given).all() and bool((np.mod(given, 1) == 0).all()) and bool((np.abs(given) < 2 ** 53).all())
    return np.where(inside, y, PAD_LABEL).astype(np.int64) if whole else y


def _first(bad: np.ndarray) -> str:
    idx = np.argwhere(bad)
    shown = ", ".join(str(list(map(int, i))) for i in idx[:_SHOWN])
    return shown + (f" (first {_SHOWN} of {len(idx)})" if len(idx) > _SHOWN else "")


def check_step_targets(X: np.ndarray, y: np.ndarray | None, lengths: np.ndarray, where: str,
                       regression: bool = False, lengths_given: bool = True) -> np.ndarray:
    """``y`` [N, T] (values: or [N, T, K]) with T the steps of ``X`` [N, T, C], nothing missing in
    a valid step; returns y (values: as float64 [N, T, K]). Without lengths (``lengths_given``
    False: every sequence T steps long), missing targets (or non-finite inputs) that fill each
    sequence from some step to its end are read as padding, and the error says to add lengths
    (:func:`rnnlab.data.check_ragged`); so are labels padded with a label over all-zero X rows
    (:func:`check_label_padding`).

    >>> check_step_targets(np.zeros((2, 4, 1)), np.zeros((2, 3)), np.array([4, 4]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): y has 3 steps, X has 4: expected y of shape [2, 4] (a label at every step of X, [task] per_step = true), got [2, 3]
    """
    n, steps = X.shape[0], X.shape[1]
    shape = f"[{n}, {steps}] or [{n}, {steps}, K] (values" if regression else f"[{n}, {steps}] (a label"
    expected = f"expected y of shape {shape} at every step of X, [task] per_step = true)"
    if y is None:
        raise DataError(f"{where}: targets are missing ({expected})")
    if y.ndim in (2, 3) and y.shape[0] == n and y.shape[1] != steps:
        raise DataError(f"{where}: y has {y.shape[1]} steps, X has {steps}: {expected}, got {list(y.shape)}")
    if y.ndim not in ((2, 3) if regression else (2,)) or y.shape[0] != n:
        one = " (a target per sequence: set [task] per_step = false)" if y.ndim == 1 and len(y) == n else ""
        raise DataError(f"{where}: {expected}, got {list(y.shape)}{one}")
    valid = valid_steps(lengths, steps)
    if regression:
        values = _step_values(y, valid, where)
        missing = ~np.isfinite(values).all(axis=2) & valid
        if missing.any():
            if not lengths_given:
                check_ragged(X, where, missing, "NaN (or inf) values")
            raise DataError(f"{where}: y has {int(missing.sum())} value(s) NaN or inf in valid steps at [sample, step] "
                            f"{_first(missing)}; padding past each sequence's length may hold anything")
        return values
    if y.dtype.kind in "fc":
        missing, what = ~np.isfinite(y) & valid, "NaN or inf"
    elif y.dtype.kind in "US":
        # (empty, and the marks of a missing value, "nan", "None", ...: the labels per sequence's rule)
        flat = np.zeros(y.size, dtype=bool)
        flat[missing_labels(y.ravel())] = True
        missing = flat.reshape(y.shape) & valid
        what = missing_kinds(y.ravel(), np.flatnonzero(missing.ravel())) if missing.any() else ""
    else:
        missing, what = np.zeros_like(valid), ""
    if missing.any():
        if not lengths_given:
            check_ragged(X, where, missing, f"{what} labels")
        raise DataError(f"{where}: y has {int(missing.sum())} missing label(s) ({what}) in valid steps at "
                        f"[sample, step] {_first(missing)}; padding past each sequence's length may hold anything")
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            fractional = (np.mod(y, 1) != 0) & valid
        if fractional.any():
            i = [int(v) for v in np.argwhere(fractional)[0]]
            raise DataError(f"{where}: y holds fractional values ({y[i[0], i[1]]:g} at [sample, step] {i}): expected "
                            "a class label at every step; for values per step set [task] kind = \"regression\"")
    if not lengths_given:
        check_label_padding(X, y, where)
    return y


#: Sequences that end in one label over all-zero X rows, at least this many and this share of
#: them, read as padding: a single one can be data, as can a share of them all padded alike.
_PADDED_MIN, _PADDED_SHARE = 2, 0.05


def check_label_padding(X: np.ndarray, y: np.ndarray, where: str) -> None:
    """Refuse per-step labels ``y`` [N, T] padded with a label (-1, 0, -100, ``"PAD"``) and X
    padded with zeros, no lengths given (every sequence read as T steps): the padded steps would
    be read as input, and trained and scored unless their label is -100. Padding is a run of one
    label over the all-zero X rows that end a sequence after some non-zero row, the same label in
    at least 2 sequences and 5 % of them, runs not all of one length (sequences padded to T
    differ in length). Data whose last steps are one label over non-zero X is no padding. The
    error (:func:`rnnlab.data.check_ragged`'s) says to add lengths, or lengths T if the steps are real.

    >>> X = np.ones((3, 4, 1)); X[0, 2:] = 0; X[1, 3:] = 0
    >>> y = np.array([[1, 0, -1, -1], [0, 1, 0, -1], [1, 1, 0, 0]])
    >>> check_label_padding(X, y, "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): y looks ragged: 2 sequence(s) end in label -1 over all-zero X rows (first: sample 0) but no 'lengths' gives the true lengths (each sequence is read as all 4 steps); add lengths [N] with each sequence's true length (the padding past it may then hold anything, NaN included); if those steps are real data, save lengths of 4 for every sequence
    >>> check_label_padding(np.ones((3, 4, 1)), y, "data.path (d.npz)")  # non-zero X: the labels are data
    """
    n, steps = y.shape
    labels = np.char.strip(y.astype(str)) if y.dtype.kind in "US" else y
    last = labels[:, -1]
    run = np.cumprod((X == 0).all(axis=2)[:, ::-1], axis=1).sum(axis=1)  # all-zero rows ending each sequence
    same = np.cumprod((labels == last[:, None])[:, ::-1], axis=1).sum(axis=1)  # steps of its last label ending it
    padded = (run >= 1) & (run < steps) & (same >= run)
    if not padded.any():
        return
    values, counts = np.unique(last[padded], return_counts=True)
    label = values[np.argmax(counts)]
    padded &= last == label
    run = np.where(padded, run, 0)
    if padded.sum() < max(_PADDED_MIN, _PADDED_SHARE * n) or len(np.unique(run)) < 2:
        return
    pad = np.arange(steps)[None, :] >= (steps - run)[:, None]
    shown = repr(str(label)) if labels.dtype.kind == "U" else f"{label.item():g}"
    unscored = (", unscored (-100) but still read as input"
                if labels.dtype.kind != "U" and label == PAD_LABEL else "")
    try:
        check_ragged(X, where, pad, f"label {shown} over all-zero X rows{unscored}")
    except DataError as e:
        raise DataError(f"{e}; if those steps are real data, save lengths of {steps} for every sequence") from None


def _step_values(y: np.ndarray, valid: np.ndarray, where: str) -> np.ndarray:
    """Per-step regression targets as float64 [N, T, K]: numbers (the caller finds those missing
    in a ``valid`` step)."""
    hint = "; for class labels set [task] kind = \"classification\""
    if y.dtype.kind not in "fiu":
        raise DataError(f"{where}: expected numeric values per step ([task] kind = \"regression\"), got dtype "
                        f"{y.dtype}{hint}")
    if y.dtype.kind in "iu":
        distinct = np.unique(y[valid])
        if len(distinct) <= 10 and valid.sum() > 2 * len(distinct):
            raise DataError(f"{where}: y holds integers of {len(distinct)} distinct values "
                            f"{distinct[:_SHOWN].tolist()}: looks like class labels, not values{hint}; store y as "
                            "floats if these are values")
    return y.astype(np.float64).reshape(y.shape[0], y.shape[1], -1)


def per_step_sequences(path: str, where: str, task: Task, train: Sequences | None) -> Sequences:
    """A per-step ``.npz`` file as :class:`Sequences`: y [N, T] class indices
    (:data:`~rnnlab.task.PAD_LABEL` past each length), or [N, T, K] values (NaN past each
    length). ``train``: the training file's sequences, whose classes (or K) a test file must
    match; None for the training file itself."""
    if not path.lower().endswith(".npz"):
        arrays, one = (("y [N, T] or [N, T, K] values", "one value per target column") if task.kind == "regression"
                       else ("y [N, T] labels", "one label"))
        raise DataError(f"{where} ({path}): per-step targets ([task] per_step = true) are read from an .npz file "
                        f"(X [N, T, C], {arrays}, optional lengths [N]); a .csv row holds {one}")
    X, y, lengths = load_file(path, where=where)
    at = f"{where} ({path})"
    if lengths.shape != (len(X),) or (len(lengths) and (lengths.min() < 1 or lengths.max() > X.shape[1])):
        span = f"range {lengths.min()}..{lengths.max()}" if lengths.size else "no lengths"
        outside = np.flatnonzero((lengths < 1) | (lengths > X.shape[1])) if lengths.ndim == 1 else np.zeros(0)
        first = f", first outside at lengths[{outside[0]}] = {lengths[outside[0]]}" if len(outside) else ""
        raise DataError(f"{at}: expected lengths of shape [{len(X)}] with every length in [1, {X.shape[1]}], "
                        f"got shape {list(lengths.shape)}, {span}{first}")
    regression = task.kind == "regression"
    with open_npz(path, "") as npz:  # (lengths of T in the file: the user says every step is real)
        lengths_given = "lengths" in npz.files or bool(lengths.min(initial=X.shape[1]) < X.shape[1])
    given = list(y.shape) if y is not None else []  # (y as saved: [N, T] values become [N, T, 1] below)
    y = check_step_targets(X, y, lengths, at, regression, lengths_given)
    if not lengths_given:
        check_ragged(X, at)
    check_finite(X, lengths, at)
    check_lone_values(X, lengths, at)
    valid = valid_steps(lengths, X.shape[1])
    if regression:
        # (a missing-value code among the targets sets their standardization as it would X's scaling)
        check_lone_values(y, lengths, at, name="y", axes="[sample, step, target]")
        k = train.y.shape[-1] if train is not None else y.shape[-1]
        if y.shape[-1] != k:
            # (the shapes that hold k values per step, in this file's N and T: both [N, T] and
            # [N, T, 1] hold one, so the training file's own spelling of it does not matter)
            n, steps = y.shape[:2]
            fits = f"[{n}, {steps}] or [{n}, {steps}, 1]" if k == 1 else f"[{n}, {steps}, {k}]"
            raise DataError(f"{at}: expected {k} value(s) per step like the training file (y {fits}), got "
                            f"{y.shape[-1]} (y {given})")
        return Sequences(X, np.where(valid[:, :, None], y, np.nan), lengths, [])
    # (0.0 and 0 one class, "0", in the training and the test file alike)
    y = whole_number_labels(y, valid)
    labels = np.char.strip(y.astype(str)) if y.dtype.kind in "US" else y
    scored = labelled_steps(labels, valid)
    classes = train.classes if train is not None else label_order(labels[scored])
    if train is None and len(classes) < 2:
        only = f" (every valid step is {classes[0]!r})" if classes else ""
        raise DataError(f"{at}: expected labels of at least 2 classes, got {len(classes)}{only}")
    unknown = sorted({str(v) for v in labels[scored]} - set(classes))
    if unknown:
        raise DataError(f"{at}: labels {unknown[:5]} do not occur in the training file (classes {classes})")
    codes = np.full(y.shape, PAD_LABEL, dtype=np.int64)
    codes[scored] = encode_labels(labels[scored], classes)
    return Sequences(X, codes, lengths, classes)
