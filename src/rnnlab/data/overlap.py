"""Series a user's test file shares with its training file.

A test file that is the training file, or a byte-for-byte copy of it, is refused where the files are
compared (:func:`rnnlab.data.load_data`); the same series written in another order (a shuffled
export, ``X[::-1]``) or a test file that repeats some training series are not the same bytes, and
their test figures would be measured, in whole or in part, on training data. This module compares
the series themselves, step for step over their valid steps: every test series found in the
training file is refused as the copy is; some of them are a warning naming how many, which the run
records with its data notes.

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

__all__ = ["check_conflicting_labels", "check_test_overlap", "shared_series"]


def _keys(s: Sequences) -> list[bytes]:
    """A digest of each series of ``s``: its valid steps' values (float64) and its length."""
    return [hashlib.sha256(np.ascontiguousarray(s.X[i, :n], dtype=np.float64).tobytes()
                           + int(n).to_bytes(8, "little")).digest() for i, n in enumerate(s.lengths.tolist())]


def shared_series(train: Sequences, test: Sequences) -> list[int]:
    """The positions of the series of ``test`` that ``train`` holds too, step for step (labels
    and targets aside: a series seen in training is not unseen, whatever it is labelled)."""
    seen = set(_keys(train))
    return [i for i, key in enumerate(_keys(test)) if key in seen]


def check_test_overlap(train: Sequences, test: Sequences, path: str, test_path: str) -> None:
    """Refuse a test file (``data.test_path``) whose every series is in the training file
    (``data.path``), in any order; warn, in one line, where some of them are.

    >>> import numpy as np
    >>> X = np.arange(12, dtype=np.float64).reshape(3, 4, 1)
    >>> train = Sequences(X, np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"])
    >>> check_test_overlap(train, Sequences(X[::-1], np.array([0, 1, 0]), np.array([4, 4, 4]), ["a", "b"]), "tr.npz", "te.npz")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.test_path (te.npz): each of its 3 series is also in data.path (tr.npz), step for step (in any order): the test figures would be measured on training data; give a test file of other series, or leave test_path unset
    """
    shared = shared_series(train, test)
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


def check_conflicting_labels(s: Sequences, where: str) -> None:
    """Warn, in one line, where series of the training file ``s`` (class labels, one per series)
    appear more than once, step for step, with different labels: no model can fit them all, so
    the training accuracy has a ceiling below 1 that the fit findings would otherwise blame on the
    learning rate or the budget.

    >>> import numpy as np
    >>> X = np.concatenate([np.eye(3)[:, :, None]] * 2)  # 3 series, each twice
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     check_conflicting_labels(Sequences(X, np.array([0, 1, 0, 1, 0, 1]), np.array([3] * 6), ["a", "b"]), "d.npz")
    >>> print(said[0].message)
    d.npz: 3 series appear more than once, step for step, with different labels (first: series 0, labelled a, and series 3, labelled b): no model can tell them apart, so training accuracy is at most 0.500; give each series one label
    """
    y = np.asarray(s.y)
    if y.ndim != 1:
        return  # (per-step labels: a series' steps may carry any labels)
    groups: dict[bytes, list[int]] = {}
    for i, key in enumerate(_keys(s)):
        groups.setdefault(key, []).append(i)
    mixed = [g for g in groups.values() if len(set(y[g].tolist())) > 1]
    if not mixed:
        return
    most = sum(max(np.bincount(y[g]).tolist()) for g in groups.values())
    first = mixed[0]
    other = next(i for i in first if y[i] != y[first[0]])
    warnings.warn(f"{where}: {len(mixed)} series {'appears' if len(mixed) == 1 else 'appear'} more than once, step for step, with different labels (first: "
                  f"series {first[0]}, labelled {s.classes[y[first[0]]]}, and series {other}, labelled "
                  f"{s.classes[y[other]]}): no model can tell them apart, so training accuracy is at most "
                  f"{most / len(y):.3f}; give each series one label", UserWarning, stacklevel=3)
