"""Series a user's test file shares with its training file.

A test file that is the training file, or a byte-for-byte copy of it, is refused where the files are
compared (:func:`rnnlab.data.load_data`); the same series written in another order (a shuffled
export, ``X[::-1]``) or a test file that repeats some training series are not the same bytes, and
their test figures would be measured, in whole or in part, on training data. This module compares
the series themselves, step for step over their valid steps: every test series found in the
training file is refused as the copy is; some of them are a warning naming how many, which the run
records with its data notes. Within the training file, series given more than once are said too
(:func:`check_repeated_series`): with different labels, and as copies (the same targets).

Example:
    >>> import numpy as np
    >>> from rnnlab.data.bundled import Sequences
    >>> X = np.arange(12, dtype=np.float64).reshape(3, 4, 1)
    >>> train = Sequences(X, np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"])
    >>> shared_series(train, Sequences(X[::-1], np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"]))
    [0, 1, 2]
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from rnnlab.data.bundled import Sequences
from rnnlab.errors import DataError

__all__ = ["check_repeated_series", "check_test_overlap", "shared_series"]


def _keys(s: Sequences) -> list[bytes]:
    """A digest of each series of ``s``: its valid steps' values (float64) and its length."""
    return [hashlib.sha256(np.ascontiguousarray(s.X[i, :n], dtype=np.float64).tobytes()
                           + int(n).to_bytes(8, "little")).digest() for i, n in enumerate(s.lengths.tolist())]


def shared_series(train: Sequences, test: Sequences, train_keys: list[bytes] | None = None) -> list[int]:
    """The positions of the series of ``test`` that ``train`` holds too, step for step (labels
    and targets aside: a series seen in training is not unseen, whatever it is labelled);
    ``train_keys``: ``train``'s digests where already taken (:func:`check_repeated_series`)."""
    seen = set(_keys(train) if train_keys is None else train_keys)
    return [i for i, key in enumerate(_keys(test)) if key in seen]


def check_test_overlap(train: Sequences, test: Sequences, path: str, test_path: str,
                       train_keys: list[bytes] | None = None) -> None:
    """Refuse a test file (``data.test_path``) whose every series is in the training file
    (``data.path``), in any order; warn, in one line, where some of them are (``train_keys``:
    as :func:`shared_series` takes them).

    >>> import numpy as np
    >>> X = np.arange(12, dtype=np.float64).reshape(3, 4, 1)
    >>> train = Sequences(X, np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"])
    >>> check_test_overlap(train, Sequences(X[::-1], np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"]), "tr.npz", "te.npz")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.test_path (te.npz): each of its 3 series is also in data.path (tr.npz), step for step (in any order): the test figures would be measured on training data; give a test file of other series, or leave test_path unset
    """
    shared = shared_series(train, test, train_keys)
    if not shared:
        return
    if len(shared) == len(test):
        raise DataError(f"data.test_path ({test_path}): each of its {len(test)} series is also in data.path ({path}), "
                        "step for step (in any order): the test figures would be measured on training data; give a "
                        "test file of other series, or leave test_path unset")
    one = len(shared) == 1
    warnings.warn(f"data.test_path ({test_path}): {len(shared)} of its {len(test)} series {'is' if one else 'are'} also "
                  f"in data.path ({path}), step for step (first: test series {shared[0]}): the test figures count "
                  f"{'it' if one else 'them'} as unseen; remove {'it' if one else 'them'} from one of the files for a "
                  "test of unseen series", UserWarning, stacklevel=3)


def check_repeated_series(s: Sequences, path: str) -> list[bytes]:
    """Warn, in one line each, where series of the training file ``s`` (``data.path``, ``path``)
    appear more than once, step for step; returns each series' digest, which
    :func:`check_test_overlap` reuses. With different labels (class labels, one per series): no
    model can fit them all, so the training accuracy has a ceiling below 1 that the fit findings
    would otherwise blame on the learning rate or the budget. With the same label (or targets):
    copies, which a validation hold-out or fold may split between training and validation, whose
    figures then overstate how the model does on unseen series.

    >>> import numpy as np
    >>> X = np.concatenate([np.eye(3)[:, :, None]] * 2)  # 3 series, each twice
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     _ = check_repeated_series(Sequences(X, np.array([0, 1, 0, 1, 0, 1]), np.array([3] * 6), ["a", "b"]), "d.npz")
    >>> print(said[0].message)
    data.path (d.npz): 3 series appear more than once, step for step, with different labels (first: series 0, labelled a, and series 3, labelled b): no model can tell them apart, so training accuracy is at most 0.500; give each series one label
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     _ = check_repeated_series(Sequences(X, np.array([0, 1, 0, 0, 1, 0]), np.array([3] * 6), ["a", "b"]), "d.npz")
    >>> print(said[0].message)  # doctest: +ELLIPSIS
    data.path (d.npz): 3 series are copies of earlier ones, step for step with the same label (first: series 3 repeats series 0): a validation hold-out or fold may hold copies of training series, so the validation figures overstate ...
    """
    where = f"data.path ({path})"
    keys = _keys(s)
    groups: dict[bytes, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    repeated = [g for g in groups.values() if len(g) > 1]
    if not repeated:
        return keys
    y = np.asarray(s.y)
    labels = bool(s.classes) and y.ndim == 1  # (per-step labels: a series' steps may carry any labels)
    mixed = [g for g in repeated if len(set(y[g].tolist())) > 1] if labels else []
    if mixed:
        most = sum(max(np.bincount(y[g]).tolist()) for g in groups.values())
        first = mixed[0]
        other = next(i for i in first if y[i] != y[first[0]])
        warnings.warn(f"{where}: {len(mixed)} series {'appears' if len(mixed) == 1 else 'appear'} more than once, step for step, with different labels (first: "
                      f"series {first[0]}, labelled {s.classes[y[first[0]]]}, and series {other}, labelled "
                      f"{s.classes[y[other]]}): no model can tell them apart, so training accuracy is at most "
                      f"{most / len(y):.3f}; give each series one label", UserWarning, stacklevel=3)
    copies: list[tuple[int, int]] = []  # (the copy, the series it repeats)
    for g in repeated:
        seen: dict[bytes, int] = {}  # (the targets: per step, padded alike past the common length)
        for i in g:
            target = np.ascontiguousarray(y[i]).tobytes()
            if target in seen:
                copies.append((i, seen[target]))
            else:
                seen[target] = i
    if not copies:
        return keys
    copy, of = min(copies)
    one = len(copies) == 1
    same = "label" if labels else "labels" if s.classes else "targets"
    drop = ("drop the repeated rows, e.g. df = df.drop_duplicates()" if path.lower().endswith(".csv") else
            "drop the copies, e.g. keep = sorted({(x.tobytes(), np.asarray(t).tobytes()): i for i, (x, t) in "
            "enumerate(zip(X, y))}.values()), then save X[keep], y[keep] (and lengths[keep])")
    warnings.warn(f"{where}: {len(copies)} series {'is a copy of an earlier one' if one else 'are copies of earlier ones'}, "
                  f"step for step with the same {same} (first: series {copy} repeats series {of}): a validation "
                  "hold-out or fold may hold copies of training series, so the validation figures overstate how the "
                  f"model does on unseen series; {drop}", UserWarning, stacklevel=3)
    return keys
