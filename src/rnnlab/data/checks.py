"""Checks run on every data set before training: each failure is one precise :class:`DataError`.

Example:
    >>> import numpy as np
    >>> X = np.zeros((2, 3, 1)); X[1, 2, 0] = np.nan
    >>> check_finite(X, np.array([3, 3]), "train")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: train: X has 1 non-finite value (NaN or inf) at [sample, step, channel] [1, 2, 0]
"""

from __future__ import annotations

import unicodedata

import numpy as np

from rnnlab.errors import DataError

_SHOWN = 5


def _where(bad: np.ndarray, axes: str = "[sample, step, channel]") -> tuple[int, str]:
    """How many entries of ``bad`` [N, T, C] are set, and the first few as ``axes`` says them."""
    idx = np.argwhere(bad)
    n = len(idx)
    shown = ", ".join(str(list(map(int, i))) for i in idx[:_SHOWN])
    more = f" (first {_SHOWN} of {n})" if n > _SHOWN else ""
    return n, f"{'value' if n == 1 else 'values'} {{}} at {axes} {shown}{more}"


#: The config keys (and flag) that name a user's data file, which a ``where`` starts with.
FILE_KEYS = ("data.path", "data.test_path", "--data")


def check_finite(X: np.ndarray, lengths: np.ndarray, where: str) -> None:
    """NaN/inf inside the valid part of any sequence (padding is ignored) → error with indices.
    X read from a user's file (``where`` starts with one of :data:`FILE_KEYS`) gets the fix, in
    numpy and pandas on that file's X [N, T, C], as a missing cell of a ``.csv`` does; a channel
    with no value to fill from in any sequence is named instead (:func:`dead_channels`).

    >>> X = np.ones((2, 3, 1)); X[0, 1, 0] = np.nan
    >>> check_finite(X, np.array([3, 3]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X has 1 non-finite value (NaN or inf) at [sample, step, channel] [0, 1, 0]; missing values are not accepted: fill or interpolate them, e.g. X = np.stack([pd.DataFrame(x).interpolate(limit_direction="both").to_numpy() for x in X])
    """
    valid = np.arange(X.shape[1])[None, :] < lengths[:, None]
    bad = ~np.isfinite(X) & valid[:, :, None]
    if bad.any():
        n, text = _where(bad)
        fix = dead_channels(X, lengths, where.startswith(FILE_KEYS))
        # (an estimator's X is the caller's [N, C, T]: a recipe on [N, T, C] would interpolate across channels)
        if not fix and where.startswith(FILE_KEYS):
            inf = "X[np.isinf(X)] = np.nan; " if np.isinf(X[bad]).any() else ""
            fix = ("; missing values are not accepted: fill or interpolate them, e.g. " + inf +
                   'X = np.stack([pd.DataFrame(x).interpolate(limit_direction="both").to_numpy() for x in X])')
        raise DataError(f"{where}: X has {n} non-finite " + text.format("(NaN or inf)") + fix)


def dead_channels(X: np.ndarray, lengths: np.ndarray, code: bool = False) -> str:
    """The channels of X [N, T, C] that are non-finite from some step to the end of every
    sequence's valid part (at every step, or from a step on while other channels have values
    there: a dead sensor, no padding), said as ``"; channel 1 is NaN ...: drop it or fill it"``
    (``code``: with the numpy line that drops them, for X [N, T, C] of a file); ``""`` when none
    is. Interpolation has nothing to fill such a channel from.

    >>> X = np.ones((3, 4, 2)); X[:, :, 1] = np.nan
    >>> dead_channels(X, np.array([4, 4, 2]))
    '; channel 1 is NaN at every step of every sequence: drop it or fill it'
    >>> X[:, :, 1] = 1.0; X[:, 1:, 1] = np.nan
    >>> dead_channels(X, np.array([4, 4, 2]), code=True)
    '; channel 1 is NaN from step 1 on in every sequence: drop it (e.g. X = np.delete(X, [1], axis=2)) or fill it'
    """
    n, steps, _ = X.shape
    if not n:
        return ""
    valid = np.arange(steps)[None, :] < lengths[:, None]
    bad = ~np.isfinite(X) & valid[:, :, None]  # [N, T, C]
    first = np.where(bad.any(axis=1), bad.argmax(axis=1), steps)  # [N, C]: each channel's first bad step
    tail = bad.sum(axis=1) == lengths[:, None] - first  # [N, C]: bad from there to the sequence's end
    dead = np.flatnonzero((tail & (first < lengths[:, None])).all(axis=0))
    if not len(dead):
        return ""
    if len(dead) == X.shape[2]:
        if (first == 0).all():
            return "; every channel is NaN (or inf) at every step of every sequence: X holds no values"
        return ("; every channel is NaN (or inf) to the end of every sequence: the lengths count padding, "
                "give each sequence's true length")
    said = []
    for c in dead[:_SHOWN]:
        f = first[:, c]
        what = "NaN" if np.isnan(X[:, :, c][bad[:, :, c]]).all() else "NaN (or inf)"
        when = ("at every step of every sequence" if (f == 0).all() else
                f"from step {int(f[0])} on in every sequence" if (f == f[0]).all() else
                f"from a step on (steps {int(f.min())} to {int(f.max())}) in every sequence")
        said.append(f"channel {int(c)} is {what} {when}")
    more = f" (and {len(dead) - _SHOWN} more)" if len(dead) > _SHOWN else ""
    them = "it" if len(dead) == 1 else "them"
    drop = f" (e.g. X = np.delete(X, {[int(c) for c in dead]}, axis=2))" if code else ""
    return "; " + ", ".join(said) + f"{more}: drop {them}{drop} or fill {them}"


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X: np.ndarray, lengths: np.ndarray, where: str, hint: str,
                        only: np.ndarray | None = None) -> None:
    """Values the model would see as inf: beyond float32's range (about ±3.4e38) in the valid
    part of the sequences (``hint`` says what to change; ``only``: a mask [N, T, C] of the values
    to look at, all where None).

    >>> check_float32_range(np.full((1, 2, 1), 1e39), np.array([2]), "train", "rescale X")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: train: X has 2 values beyond float32's range (|x| > 3.4e+38, the model computes in float32) at [sample, step, channel] [0, 0, 0], [0, 1, 0]; largest 1e+39; rescale X
    """
    valid = np.arange(X.shape[1])[None, :] < lengths[:, None]
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(X) <= FLOAT32_MAX) & valid[:, :, None]
    if only is not None:
        bad &= only
    if bad.any():
        n, text = _where(bad)
        largest = float(np.nanmax(np.abs(X[bad])))
        raise DataError(f"{where}: X has {n} " + text.format(
            f"beyond float32's range (|x| > {FLOAT32_MAX:.2g}, the model computes in float32)")
            + f"; largest {largest:.3g}; {hint}")


#: A value this many times the typical magnitude of its series' channel (:func:`typical_magnitude`),
#: or more, stands apart from the rest: a missing-value code (-1e30, 1e30) among ordinary values, or
#: one beyond float32's range. Whatever ``data.normalize`` is, the statistics it scales by would be
#: set by it and squash the channel's other values to about one value (per_channel's std of a
#: channel of values below 10 with one 1e30 in 10^4 is 1e28: every ordinary value becomes ~0). Real
#: data stand far closer: every bundled set's largest value is at most 2.2e3 times its series'
#: typical magnitude (CardanoSentiment's; Covid3Month 1.3e3, BasicMotions 3.2e2, the rest under 40).
FAR_TIMES = 1e6

#: The interpolation, in numpy and pandas, of NaN in an array of a user's file (``{0}`` its name)
#: [N, T, C]: each series along its steps, as :func:`check_finite`'s fix says it.
INTERPOLATE = 'np.stack([pd.DataFrame(s).interpolate(limit_direction="both").to_numpy() for s in {0}])'


def typical_magnitude(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The typical magnitude of each series' channel of X [N, T, C], as [N, C]: the median |x| of
    its valid finite steps; where that is 0 (a sparse channel, mostly exact zeros) the median of
    its non-zero |x|; 0 where it holds no non-zero value.

    >>> X = np.array([[[1.0], [-3.0], [2.0]], [[0.0], [0.0], [5.0]]])
    >>> typical_magnitude(X, np.array([3, 3])).tolist()
    [[2.0], [5.0]]
    """
    n, steps, channels = X.shape
    with np.errstate(invalid="ignore"):
        kept = (np.arange(steps)[None, :] < lengths[:, None])[:, :, None] & np.isfinite(X)
        size = np.sort(np.where(kept, np.abs(X), np.inf), axis=1)  # (the left-out steps sort last)
    count = kept.sum(axis=1)  # [N, C]
    zeros = (size == 0).sum(axis=1)

    def median(first: np.ndarray, many: np.ndarray) -> np.ndarray:
        """The median of ``many`` sorted values from position ``first`` of each series' channel."""
        if not steps:
            return np.zeros((n, channels))
        lo = np.minimum(first + np.maximum(many - 1, 0) // 2, steps - 1)
        hi = np.minimum(first + many // 2, steps - 1)
        pick = np.take_along_axis(size, lo[:, None, :], 1)[:, 0] + np.take_along_axis(size, hi[:, None, :], 1)[:, 0]
        return np.where(many > 0, pick / 2, 0.0)

    whole = median(np.zeros_like(count), count)
    return np.where(whole > 0, whole, median(zeros, count - zeros))


def check_lone_values(X: np.ndarray, lengths: np.ndarray, where: str, name: str = "X",
                      axes: str = "[sample, step, channel]", fill: str | None = None, frame: bool = False) -> None:
    """Refuse values (valid finite steps) over :data:`FAR_TIMES` times the typical magnitude of
    their series' channel (:func:`typical_magnitude`): a missing-value code such as -1e30, or a
    value beyond float32's range, among ordinary ones, whatever ``data.normalize``: per_series'
    statistics of that series (per_channel's of the channel) would be set by them and squash its
    other values to one. A series that large as a whole is left to :func:`check_float32_range`
    after scaling (per_series scales it without loss). ``name``: the array (``"y"``: per-step
    targets, standardized); ``axes``: how a position is said (its last word names the third axis);
    ``fill``: the code that interpolates NaN in it (default, for a user's file, :data:`INTERPOLATE`);
    ``frame``: ``name`` is a pandas DataFrame's columns (``df[cols]``), set to NaN by ``.mask``.

    >>> X = np.ones((2, 3, 1)); X[0, 1, 0] = 1e300
    >>> check_lone_values(X, np.array([3, 3]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X has 1 value beyond float32's range (|x| > 3.4e+38, the model computes in float32) and over 1e+06 times the typical magnitude of its series' channel at [sample, step, channel] [0, 1, 0]; first 1e+300, where sample 0's channel 0 is typically 1 (its median |x|): no data.normalize helps (the per_series or per_channel statistics would be set by it, squashing the other values to one); if it marks missing values, set it to NaN and fill it (X[X == 1e+300] = np.nan, then interpolate: X = np.stack([pd.DataFrame(s).interpolate(limit_direction="both").to_numpy() for s in X])); if real (heavy tails), compress X, e.g. X = np.arcsinh(X)
    >>> X[0, 1, 0] = -1e30  # a missing-value code within float32's range
    >>> check_lone_values(X, np.array([3, 3]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X has 1 value over 1e+06 times the typical magnitude of its series' channel at [sample, step, channel] [0, 1, 0]; first -1e+30, where sample 0's channel 0 is typically 1 (its median |x|): ...
    >>> check_lone_values(np.full((2, 3, 1), 1e300), np.array([3, 3]), "X")  # series that large as a whole: scaled without loss
    """
    if not X.size:
        return
    typical = typical_magnitude(X, lengths)[:, None, :]  # [N, 1, C]
    valid = (np.arange(X.shape[1])[None, :] < lengths[:, None])[:, :, None]
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.abs(X)
        lone = valid & np.isfinite(X) & (size > FAR_TIMES * typical) & (typical > 0)
    if not lone.any():
        return
    i, t, c = (int(v) for v in np.argwhere(lone)[0])
    n, text = _where(lone, axes)
    one = n == 1
    series, unit = axes.strip("[]").split(", ")[0], axes.strip("[]").split(", ")[-1]
    it, they, s = ("it", "it", "s") if one else ("them", "they", "")
    beyond = bool((size[lone] > FLOAT32_MAX).any())
    what = ((f"beyond float32's range (|x| > {FLOAT32_MAX:.2g}, the model computes in float32) and " if beyond else "")
            + f"over {FAR_TIMES:.0e} times the typical magnitude of {'its' if one else 'their'} series' {unit}")
    codes = np.unique(X[lone])
    # (one code repeated: its own value picks it; several: a power of ten at or below the smallest)
    mask = (f"{name} == {float(codes[0])!r}" if len(codes) == 1 else
            f"np.abs({name}) >= {10 ** np.floor(np.log10(size[lone].min())):.0e}")
    # (a frame's selection of columns cannot be assigned through a boolean index: .mask sets the NaN)
    unset = f"{name} = {name}.mask({mask})" if frame else f"{name}[{mask}] = np.nan"
    if fill is None and where.startswith(FILE_KEYS):
        fill = f"{name} = " + INTERPOLATE.format(name)
    then = f"then interpolate: {fill}" if fill else "then interpolate"
    # (targets are standardized by their training part's mean and std, whatever data.normalize is)
    why = (f"their standardization (the training part's mean and std) would be set by {it}, squashing the other "
           "values to one" if name == "y" else "no data.normalize helps (the per_series or per_channel statistics "
           f"would be set by {it}, squashing the other values to one)")
    raise DataError(
        f"{where}: {name} has {n} " + text.format(what) + f"; first {float(X[i, t, c]):.3g}, where {series} {i}'s "
        f"{unit} {c} is typically {typical[i, 0, c]:.3g} (its median |x|): {why}; if {they} mark{s} missing values, "
        f"set {it} to NaN and fill {it} ({unset}, {then}); if real (heavy tails), compress {name}, e.g. "
        f"{name} = np.arcsinh({name})")


def per_step_hint(y: np.ndarray, steps: int, what: str) -> str:
    """The hint for targets of a file read with one per sequence that hold ``what`` at each of
    the ``steps`` steps of X (y [N, T] or [N, T, K]), or ``""``.

    >>> per_step_hint(np.zeros((4, 30)), 30, "a label")
    ' (a label at every step: set [task] per_step = true)'
    """
    if y.ndim in (2, 3) and y.shape[1] == steps > 1:
        return f" ({what} at every step: set [task] per_step = true)"
    return ""


def check_shapes(X: np.ndarray, y: np.ndarray, lengths: np.ndarray, where: str, values: bool = False) -> None:
    """X [N, T, C], y [N] (``values``: or [N, K] of regression targets), lengths [N] with
    1 <= lengths <= T.

    >>> check_shapes(np.zeros((2, 3, 1)), np.zeros((2, 3)), np.array([3, 3]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): expected y of shape [2] (one label per sequence), got [2, 3] (a label at every step: set [task] per_step = true)
    """
    if X.ndim != 3:
        raise DataError(f"{where}: expected X of shape [N, T, C], got {X.ndim} dimensions {list(X.shape)}")
    # (float labels at every step of X are no K values per sequence: only regression targets may be that wide)
    per_step = "" if values or len(y) != len(X) else per_step_hint(y, X.shape[1], "a label")
    k_values = y.ndim == 2 and y.dtype.kind == "f" and len(y) == len(X) and not per_step  # regression targets
    if not k_values and (y.ndim != 1 or len(y) != len(X)):
        raise DataError(f"{where}: expected y of shape [{len(X)}] (one label per sequence), got {list(y.shape)}{per_step}")
    if lengths.shape != (len(X),):
        raise DataError(f"{where}: expected lengths of shape [{len(X)}], got {list(lengths.shape)}")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > X.shape[1]):
        i = int(np.argmax((lengths < 1) | (lengths > X.shape[1])))
        raise DataError(
            f"{where}: expected every length in [1, {X.shape[1]}] (T of X), got lengths[{i}] = {int(lengths[i])}"
        )


def plain(value: object) -> str:
    """``value`` as a message prints it: a numpy scalar as the Python value it holds (``1``,
    ``'cat'``), never its repr (``np.int64(1)``, ``np.str_('cat')``).

    >>> plain(np.int64(1)), plain(np.str_("cat")), plain(np.float64(0.5))
    ('1', "'cat'", '0.5')
    """
    return repr(value.item() if isinstance(value, np.generic) else value)


#: Text that marks a missing label, lower-cased: pandas's NA strings (what ``read_csv`` reads as
#: NaN), which also ``y.astype(str)`` writes for a NaN (``"nan"``) or a None (``"None"``).
MISSING_MARKS = frozenset({"nan", "-nan", "none", "null", "na", "n/a", "#n/a", "<na>"})


def _missing_text(values: np.ndarray) -> np.ndarray:
    """Whether each text of ``values`` marks a missing label: empty (or blank), or one of
    :data:`MISSING_MARKS`, case and surrounding spaces aside."""
    text = np.char.lower(np.char.strip(values.astype(str)))
    return (text == "") | np.isin(text, sorted(MISSING_MARKS))


def missing_labels(y: np.ndarray) -> np.ndarray:
    """Positions of the missing labels in ``y`` [N]: NaN (or inf) among numbers; among text, empty
    (or blank) labels and those that mark a missing value (``"nan"``, ``"None"``, ``"null"``,
    ``"NA"``: :data:`MISSING_MARKS`), which a class would be made of.

    >>> missing_labels(np.array(["a", " ", "b", "nan", "NaN"])).tolist(), missing_labels(np.array([0.0, np.nan])).tolist()
    ([1, 3, 4], [1])
    """
    if y.dtype.kind in "fc":
        return np.flatnonzero(~np.isfinite(y))
    if y.dtype.kind in "US":
        return np.flatnonzero(_missing_text(np.char.decode(y, "utf-8", "replace") if y.dtype.kind == "S" else y))
    if y.dtype.kind == "O":
        return np.flatnonzero(_missing_text(np.array(["" if v is None else str(v) for v in y], dtype=str)))
    return np.zeros(0, dtype=np.int64)


def missing_kinds(y: np.ndarray, missing: np.ndarray) -> str:
    """What the labels of ``y`` at the positions ``missing`` hold, as an error says it: ``NaN``
    for numbers; for text ``empty`` and each mark found (``'nan'``).

    >>> missing_kinds(np.array(["a", "", "nan", "None"]), np.array([1, 2, 3]))
    "empty, 'nan', 'None'"
    """
    if y.dtype.kind in "fc":
        return "NaN"
    found = dict.fromkeys(str(v).strip() for v in y[missing])
    return ", ".join("empty" if not v else repr(v) for v in sorted(found, key=lambda v: (v != "", v.lower())))


#: Characters that show as nothing (zero-width space, joiners, word joiner, byte-order mark): a
#: label holding one reads as the label without it.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def look_alike_key(label: str) -> str:
    """What ``label`` reads as: its case folded, its Unicode written one way (NFKC: ``"Cafe\u0301"``
    and ``"Caf\u00e9"``, full-width ``"Ｗａｌｋ"`` and ``"Walk"``) and its invisible characters left
    out (:data:`_INVISIBLE`); two labels with one key look like one class.

    >>> look_alike_key("Cafe\u0301") == look_alike_key("CAF\u00c9"), look_alike_key("Ｗａｌｋ\u200b")
    (True, 'walk')
    """
    return unicodedata.normalize("NFKC", label.translate(_INVISIBLE)).casefold()


def case_groups(labels: np.ndarray) -> list[list[str]]:
    """The text labels of ``labels`` (any shape) that differ only in case or in how their
    characters are written (:func:`look_alike_key`), each group of two or more ordered by how many
    sequences hold each, the largest group first; labels that are numbers (``1e3``, ``1E3``) or
    mark a missing value are left out.

    >>> case_groups(np.array(["walk", "Walk", "run", "WALK", "walk", "1e3", "1E3", "nan", "NaN"]))
    [['walk', 'Walk', 'WALK']]
    >>> [len(g) for g in case_groups(np.array(["Caf\u00e9", "Cafe\u0301", "Walk", "Walk\u200b", "run"]))]
    [2, 2]
    """
    counts: dict[str, int] = {}
    for v in labels.ravel().tolist():
        counts[str(v)] = counts.get(str(v), 0) + 1
    groups: dict[str, list[str]] = {}
    for v in counts:
        if not is_number(v) and not _missing_text(np.array([v])).all():
            groups.setdefault(look_alike_key(v), []).append(v)
    found = [sorted(g, key=lambda v: -counts[v]) for g in groups.values() if len(g) > 1]
    return sorted(found, key=lambda g: -sum(counts[v] for v in g))


def check_label_case(labels: np.ndarray, where: str, fix: str) -> None:
    """Refuse text ``labels`` that differ only in case (:func:`case_groups`): each spelling would
    be a class of its own, silently. ``fix`` says how to write each class one way.

    >>> check_label_case(np.array(["walk", "Walk", "run", "RUN"]), "data.path (d.npz)", "y = np.char.lower(y)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): labels that differ only in case: 'walk', 'Walk' (and 1 more group); each spelling would be a class of its own: write each class one way, e.g. y = np.char.lower(y)
    """
    groups = case_groups(labels)
    if not groups:
        return
    more = len(groups) - 1
    rest = f" (and {more} more group{'' if more == 1 else 's'})" if more else ""
    raise DataError(f"{where}: {look_alike_words(groups[0])}{rest}; each "
                    f"spelling would be a class of its own: write each class one way, e.g. {fix}")


def look_alike_words(group: list[str]) -> str:
    """How an error names a group of :func:`case_groups`: ``labels that differ only in case:
    'walk', 'Walk'``; labels that differ otherwise (a Unicode form, an invisible or a full-width
    character) are written with their escapes, since they print alike.

    >>> look_alike_words(["walk", "Walk"])
    "labels that differ only in case: 'walk', 'Walk'"
    >>> print(look_alike_words(["Walk", "Walk\u200b"]))
    labels that look alike (they differ only in case, Unicode form or invisible characters): 'Walk', 'Walk\\u200b'
    """
    if len({v.casefold() for v in group}) == 1:
        return f"labels that differ only in case: {', '.join(map(repr, group))}"
    return ("labels that look alike (they differ only in case, Unicode form or invisible characters): "
            + ", ".join(map(ascii, group)))


def check_labels(y: np.ndarray | None, where: str, min_classes: int = 2) -> None:
    """Labels present, no missing entries, at least ``min_classes`` classes (a training file
    needs two; a test file may hold one class, as long as the training file has it).

    >>> check_labels(np.array([1, 1, 1]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): expected labels of at least 2 classes for classification, got 1 (every label is 1)
    >>> check_labels(np.array([1, 1, 1]), "data.test_path (t.npz)", min_classes=1)
    """
    if y is None:
        raise DataError(f"{where}: labels are missing (expected y [N], one class label per sequence)")
    missing = missing_labels(y)
    if len(missing):
        if y.dtype.kind in "fc":
            keep = "np.isfinite(y)"
        else:
            marks = sorted({str(v).strip() for v in y[missing]})
            keep = f"~np.isin(np.char.strip(y), {marks})"
        raise DataError(f"{where}: {len(missing)} label(s) missing ({missing_kinds(y, missing)}) at index "
                        f"{missing[:_SHOWN].tolist()}{' ...' if len(missing) > _SHOWN else ''}; give those sequences "
                        f"their labels or drop them, e.g. keep = {keep}; X, y, lengths = X[keep], y[keep], lengths[keep]")
    classes = np.unique(y)
    if len(classes) < min_classes:
        only = f" (every label is {plain(classes[0])})" if len(classes) else ""
        raise DataError(f"{where}: expected labels of at least {min_classes} "
                        f"{'class' if min_classes == 1 else 'classes'} for classification, got {len(classes)}{only}")


def finite_numbers(y: np.ndarray) -> np.ndarray | None:
    """``y`` as float64 when every entry is a finite number (integers, floats, or text that spells
    one, as a CSV gives labels and targets: ``"3.412"`` counts as its value), else None.

    >>> finite_numbers(np.array(["1", "2.5"])).tolist(), finite_numbers(np.array(["a", "1"]))
    ([1.0, 2.5], None)
    """
    if y.dtype.kind not in "fiubUS":
        return None
    try:
        values = y.astype(np.float64)
    except ValueError:
        return None
    return values if bool(np.isfinite(values).all()) else None


def check_not_regression(y: np.ndarray, where: str) -> None:
    """Refuse, for classification, labels that are values: numbers (floats, integers, or text
    that spells them, as a CSV gives labels) of which (nearly) every value has one series --
    regression targets, which a classifier would learn as one class per series. Class ids
    numbered from 0 or 1 without a gap (0..K-1, 1..K) are classes however few their series
    (one-shot classes), as are a few values each shared by several series.

    >>> check_not_regression(np.array([0.13, 2.5, 1.75, 0.5]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): y holds 4 distinct values among 4 series: looks like regression targets, which a classifier would learn as one class per value (4 of these 4 classes have a single series); to predict the values set [task] kind = "regression", or give class labels
    >>> check_not_regression(np.array(["17", "342", "5", "88"]), "data.path (d.csv)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.csv): y holds 4 distinct values among 4 series: looks like regression targets, ...
    >>> check_not_regression(np.array(["1", "2", "3", "4"]), "data.path (d.csv)")  # one-shot class ids
    """
    values = finite_numbers(y)
    if values is None or not len(y):
        return
    classes, counts = np.unique(y, return_counts=True)  # as the classifier will see them
    single = int((counts == 1).sum())
    if len(classes) < 3 or single < 0.9 * len(classes):
        return
    distinct = np.unique(values)
    if len(distinct) == len(classes) and distinct[0] in (0, 1) and \
            bool(np.array_equal(distinct, distinct[0] + np.arange(len(distinct)))):
        return
    raise DataError(
        f"{where}: y holds {len(classes)} distinct values among {len(y)} series: looks like regression targets, "
        f"which a classifier would learn as one class per value ({single} of these {len(classes)} classes have a "
        "single series); to predict the values set [task] kind = \"regression\", or give class labels"
    )


def check_targets(y: np.ndarray | None, where: str, steps: int | None = None) -> np.ndarray:
    """Regression targets: present, numbers, y [N] or [N, K], no NaN or inf, not class labels
    (text, or integers of a few distinct values: an integer dtype, or a CSV's cells all written as
    integers); returned as float64 [N, K]. ``steps``: X's, for the hint on values at every step
    (y [N, T, K]).

    >>> check_targets(np.array([0.5, 1.5, 2.0]), "data.path (d.npz)").shape
    (3, 1)
    >>> check_targets(np.array(["cat", "dog"]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): expected numeric regression targets y [N] or [N, K] ([task] kind = "regression"), got class labels (dtype <U3, e.g. 'cat'); for class labels set [task] kind = "classification"
    >>> check_targets(np.array(["0", "1", "2"] * 3), "data.path (d.csv)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.csv): y holds integers of 3 distinct values [0, 1, 2]: looks like class labels, not regression targets; for class labels set [task] kind = "classification"; store y as floats if these are values (in a CSV: written with a decimal point, 2.0)
    >>> check_targets(np.array(["0.0", "1.0", "2.0"] * 3), "data.path (d.csv)").shape
    (9, 1)
    """
    if y is None:
        raise DataError(f"{where}: targets are missing (expected y [N] or [N, K], the values to predict)")
    hint = "; for class labels set [task] kind = \"classification\""
    integers = y.dtype.kind in "iu"
    if y.dtype.kind not in "fiu":
        if y.dtype.kind in "US":
            try:  # a CSV gives text: numbers written as text are values
                numbers = y.astype(np.float64)
            except ValueError:
                example = next((str(v) for v in y.ravel() if not is_number(str(v))), str(y.ravel()[0]))
                raise DataError(f"{where}: expected numeric regression targets y [N] or [N, K] ([task] kind = "
                                f"\"regression\"), got class labels (dtype {y.dtype}, e.g. {example!r}){hint}") from None
            # (cells written as integers are what an .npz's integer y is: judged by the same rule below,
            # so that one data set is not refused as .npz and accepted as .csv; "2.0" is a float, as in an .npz)
            integers = bool(np.all(np.char.isdigit(np.char.lstrip(np.char.strip(y.astype(str)), "+-"))))
            y = numbers
        else:
            raise DataError(f"{where}: expected numeric regression targets y [N] or [N, K], got dtype {y.dtype}{hint}")
    if integers:
        distinct = np.unique(y)
        if len(distinct) <= 10 and len(y) > 2 * len(distinct):
            shown = [int(v) for v in distinct[:_SHOWN]]
            raise DataError(f"{where}: y holds integers of {len(distinct)} distinct values {shown}: looks like class "
                            f"labels, not regression targets{hint}; store y as floats if these are values (in a "
                            "CSV: written with a decimal point, 2.0)")
    if y.ndim not in (1, 2):
        hint = per_step_hint(y, steps, "values") if steps is not None else ""
        raise DataError(f"{where}: expected regression targets y [N] or [N, K], got shape {list(y.shape)}{hint}")
    y = y.astype(np.float64).reshape(len(y), -1)
    bad = np.argwhere(~np.isfinite(y))
    if len(bad):
        raise DataError(f"{where}: {len(bad)} target value(s) are NaN or inf (first at [sequence, target] "
                        f"{bad[0].tolist()}); expected a finite value for every sequence")
    check_lone_targets(y, where)
    return y


def check_lone_targets(y: np.ndarray, where: str) -> None:
    """Refuse per-sequence regression targets y [N, K] of which one is over :data:`FAR_TIMES` times
    its target's typical magnitude (the median |y| over the sequences, :func:`typical_magnitude`):
    a missing-value code (-1e30) among ordinary targets sets the standardization's mean and std,
    and every other target becomes about one value. A missing target cannot be interpolated: the
    fix drops its sequences.

    >>> y = np.array([[1.0], [2.0], [-1e30], [3.0]])
    >>> check_lone_targets(y, "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): y has 1 target over 1e+06 times its target's typical magnitude at [sequence, target] [2, 0]; first -1e+30, where target 0 is typically 2.5 (its median |y| over the sequences): their standardization (the training part's mean and std) would be set by it, squashing the other targets to one value; if it marks missing targets, drop those sequences (keep = ~(y == -1e+30).any(axis=1); X, y = X[keep], y[keep]); if real (heavy tails), predict a compressed target, e.g. y = np.arcsinh(y), and read the predictions back with np.sinh
    >>> check_lone_targets(np.array([[1e30], [2e30]]), "y")  # targets that large as a whole: standardized without loss
    """
    if not y.size:
        return
    typical = typical_magnitude(y[None], np.array([len(y)]))[0]  # [K]: each target over the sequences
    with np.errstate(invalid="ignore", over="ignore"):
        lone = (np.abs(y) > FAR_TIMES * typical) & (typical > 0)
    if not lone.any():
        return
    i, k = (int(v) for v in np.argwhere(lone)[0])
    n, text = _where(lone, "[sequence, target]")
    it = "it" if n == 1 else "them"
    codes = np.unique(y[lone])
    # (one code repeated: its own value picks it; several: a power of ten at or below the smallest)
    pick = (f"(y == {float(codes[0])!r})" if len(codes) == 1 else
            f"(np.abs(y) >= {10 ** np.floor(np.log10(np.abs(y[lone]).min())):.0e})")
    raise DataError(
        f"{where}: y has {n} " + text.replace("value", "target").format(f"over {FAR_TIMES:.0e} times "
                                                                      f"{'its' if n == 1 else 'their'} target's typical magnitude")
        + f"; first {float(y[i, k]):.3g}, where target {k} is typically {typical[k]:.3g} (its median |y| over the "
        f"sequences): their standardization (the training part's mean and std) would be set by {it}, squashing the "
        f"other targets to one value; if {it} mark{'s' if n == 1 else ''} missing targets, drop those sequences "
        f"(keep = ~{pick}.any(axis=1); X, y = X[keep], y[keep]); if real (heavy tails), predict a compressed target, "
        "e.g. y = np.arcsinh(y), and read the predictions back with np.sinh")


#: A target whose standard deviation is at most this share of its mean absolute value holds one
#: level and rounding noise (float32 resolves 6e-8 of a value; 1e-6 is some 16 of its steps): as
#: constant as one value, for its standardization as for learning. Every bundled regression set
#: varies by more than 0.4 of its level (Covid3Month 1.1, CardanoSentiment 1.2, adding_problem 0.4
#: at its least varying step).
NEGLIGIBLE_SPREAD = 1e-6


def check_targets_vary(y: np.ndarray, where: str, names: list[str] | None = None, per: str = "sequence",
                       named_by: str = "data.target_column") -> None:
    """Regression targets y [N] or [N, K] (numbers) of which one holds the same value for every
    ``per`` (sequence): nothing to learn, and no scale to standardize it by; or one whose spread
    is negligible against its level (standard deviation at most :data:`NEGLIGIBLE_SPREAD` of its
    mean absolute value: ``300`` but for one ``300.0001``), as constant, whose standardization
    would blow a test value's difference from that level up a million times. ``names``: the
    targets' names, from ``named_by`` (a CSV's ``data.target_column``; ``"y"``: an ``.npz``'s
    ``target_names``, which then go beside their place in y), else they are named as parts of y.

    >>> check_targets_vary(np.array([[1.0, 5.0], [2.0, 5.0]]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): target 1 (y[:, 1]) has the same value (5) for every sequence; expected targets that vary
    >>> check_targets_vary(np.array([5.0, 5.0]), "data.path (d.csv)", ["price"])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.csv): target column 'price' (data.target_column) has the same value (5) for every sequence; expected targets that vary
    >>> check_targets_vary(np.array([[1.0, 300.0], [2.0, 300.0], [3.0, 300.0001]]), "data.path (d.npz)", ["conc", "temp"], named_by="y")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): target 'temp' (y[:, 1]) barely varies: 300 to 300.0001 (2 of 3 sequences 300), a standard deviation of 4.7e-05, 1.6e-07 of its mean absolute value 300 (at most 1e-06 is taken for constant); expected targets that vary (if these differences are the values, subtract the level: temp - 300)
    """
    values = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if len(values) < 2:
        return

    def what(k: int) -> str:
        if names and named_by != "y":
            return f"target column {names[k]!r} ({named_by})"
        place = "y" if values.shape[1] == 1 else f"y[:, {k}]"
        if names:
            return f"target {names[k]!r} ({place})"
        return place if values.shape[1] == 1 else f"target {k} ({place})"

    same = np.flatnonzero((values == values[0]).all(axis=0))
    if len(same):
        k = int(same[0])
        raise DataError(f"{where}: {what(k)} has the same value ({values[0, k]:g}) for every {per}; "
                        "expected targets that vary")
    level = np.abs(values).mean(axis=0)
    spread = values.std(axis=0)
    flat = np.flatnonzero(spread <= NEGLIGIBLE_SPREAD * level)
    if not len(flat):
        return
    k = int(flat[0])
    column = values[:, k]
    distinct, counts = np.unique(column, return_counts=True)
    mode = distinct[np.argmax(counts)]
    minus = names[k] if names else "y" if values.shape[1] == 1 else f"y[:, {k}]"
    raise DataError(
        f"{where}: {what(k)} barely varies: {column.min():.10g} to {column.max():.10g} ({counts.max()} of "
        f"{len(column)} {per}s {mode:.10g}), a standard deviation of {spread[k]:.2g}, {spread[k] / level[k]:.2g} "
        f"of its mean absolute value {level[k]:.6g} (at most {NEGLIGIBLE_SPREAD:g} is taken for constant); expected "
        f"targets that vary (if these differences are the values, subtract the level: {minus} - {mode:.10g})")


def is_number(text: str) -> bool:
    """Whether ``text`` spells a number (as ``float`` reads it: ``"1e3"``, ``" 2"``, ``"nan"``).

    >>> is_number("3.412"), is_number(""), is_number("1,5")
    (True, False, False)
    """
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_nonempty(n: int, where: str, hint: str = "") -> None:
    """A split with no sequence in it."""
    if n == 0:
        raise DataError(f"{where}: the split is empty (0 sequences){hint}")


#: Zero padding, read from X alone: at least this many sequences, and this share of them, end in a
#: run of all-zero steps more than this many times longer than the longest all-zero run inside the
#: same sequence (padding is far longer than any gap a series has; a series of counts holds zero
#: runs of its own, and a few zero days at its end are no longer than those); the longest such
#: run at least this many steps (a few zeros can end real data).
_ZERO_PAD_MIN, _ZERO_PAD_SHARE, _ZERO_PAD_TIMES, _ZERO_PAD_RUN = 2, 0.05, 3, 4


def zero_padding(X: np.ndarray) -> np.ndarray:
    """The steps of X [N, T, C] that look like zero padding, as a mask [N, T] (all False when
    none do). Each sequence is judged against itself: the run of steps with every channel
    exactly 0 that ends it (after a non-zero step) looks like padding when it is more than 3
    times as long as the longest all-zero run before it (any run, when there is none before).
    The data look padded when such runs end at least 2 sequences and 5 % of them, are of
    differing lengths (sequences padded to T: of differing lengths) and the longest is at least
    4 steps. Real series that end in a few zeros, or whose zero runs at the end are no longer
    than those inside them (intermittent counts, pixels), are no padding; padding of a sequence
    whose own zero runs are as long is not told apart, and is left out of the mask.

    >>> X = np.ones((4, 10, 2)); X[0, 6:] = 0; X[1, 3:] = 0
    >>> zero_padding(X).sum(axis=1).tolist()
    [4, 7, 0, 0]
    >>> X[:, 1:4] = 0  # sequence 0 holds a run of 3 zero steps: its 4 at the end are its own
    >>> bool(zero_padding(X).any())
    False
    """
    n, steps = X.shape[:2]
    zero = (X == 0).all(axis=2)
    run = np.cumprod(zero[:, ::-1], axis=1).sum(axis=1)
    at = np.arange(steps)[None, :]
    # (each step's all-zero run so far: the steps since the last one with a non-zero value)
    since = at - np.maximum.accumulate(np.where(zero, -1, at), axis=1)
    inside = np.where(at < (steps - run)[:, None], since, 0).max(axis=1)
    padded = (run >= 1) & (run < steps) & (run > _ZERO_PAD_TIMES * inside)
    none = np.zeros((n, steps), dtype=bool)
    if padded.sum() < max(_ZERO_PAD_MIN, _ZERO_PAD_SHARE * n) or len(np.unique(run[padded])) < 2 \
            or run[padded].max() < _ZERO_PAD_RUN:
        return none
    return (at >= (steps - run)[:, None]) & padded[:, None]


def check_zero_padding(X: np.ndarray, where: str, labels: bool = True) -> None:
    """Refuse X [N, T, C] read without lengths whose sequences look zero-padded
    (:func:`zero_padding`), naming how many and the fix; called by
    :func:`rnnlab.data.check_ragged`. Refused, not warned of: the model reads the zeros as steps
    and gives a wrong answer without a crash (the same series score otherwise padded to another
    T), as NaN padding and per-step label padding are refused; a file whose zeros are real says
    so by its lengths (T for every sequence). ``labels``: whether the file holds a ``y`` beside X
    (a stream's values are its own targets; new series to predict, ``--data``, have none).

    >>> X = np.ones((4, 10, 2)); X[0, 6:] = 0; X[1, 3:] = 0
    >>> check_zero_padding(X, "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X looks zero-padded: 2 of 4 sequences end in a run of steps where every channel is 0, more than 3 times as long as any such run inside them (2 different lengths, up to 7 steps; first: sample 0) but no 'lengths' gives the true lengths (each sequence is read as all 10 steps, the zeros as data); add lengths [N] with each sequence's true length, e.g. np.savez(path, X=X, y=y, lengths=lengths); if those steps are real data, save lengths of 10 for every sequence
    """
    pad = zero_padding(X)
    if not pad.any():
        return
    rows = np.flatnonzero(pad.any(axis=1))
    runs = pad[rows].sum(axis=1)
    steps = X.shape[1]
    y = "y=y, " if labels and not where.startswith("--data") else ""
    raise DataError(
        f"{where}: X looks zero-padded: {len(rows)} of {len(X)} sequences end in a run of steps where every channel "
        f"is 0, more than {_ZERO_PAD_TIMES} times as long as any such run inside them ({len(np.unique(runs))} different lengths, up to {int(runs.max())} steps; first: sample {int(rows[0])}) "
        f"but no 'lengths' gives the true lengths (each sequence is read as all {steps} steps, the zeros as data); "
        f"add lengths [N] with each sequence's true length, e.g. np.savez(path, X=X, {y}lengths=lengths); if those "
        f"steps are real data, save lengths of {steps} for every sequence"
    )
