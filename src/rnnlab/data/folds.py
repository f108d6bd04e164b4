"""Stratified folds of the training split, for scoring a configuration without the test split.

A :class:`Fold` names one validation part of a seeded plan: ``k >= 2`` deals every class's
series round-robin (after a seeded shuffle) into ``k`` folds and holds out fold ``index``;
``k == 1`` is one stratified hold-out of ``holdout`` (as ``data.val_fraction``). The test split
is not part of any fold. Classes: :func:`keep_every_class` then returns to a fold's training
part what it needs to hold every class (:func:`rnnlab.data.load_data` applies it to hold-outs
and folds alike), so a class of one sequence is in no validation part.

Example:
    >>> y = np.array([0] * 6 + [1] * 3)
    >>> parts = [held_out_indices(y, Fold(k=3, index=i, seed=0)) for i in range(3)]
    >>> sorted(np.concatenate(parts).tolist()) == list(range(9))   # every series once
    True
    >>> [np.bincount(y[p], minlength=2).tolist() for p in parts]  # stratified
    [[2, 1], [2, 1], [2, 1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """Validation part ``index`` of ``k`` stratified folds seeded by ``seed`` (k == 1: a hold-out)."""

    k: int
    index: int
    seed: int
    holdout: float = 0.2

    def __post_init__(self) -> None:
        if self.k < 1 or not 0 <= self.index < self.k:
            raise ValueError(f"fold: expected k >= 1 and 0 <= index < k, got k={self.k}, index={self.index}")
        if self.k == 1 and not 0.0 < self.holdout < 1.0:
            raise ValueError(f"fold: a hold-out needs 0 < holdout < 1, got {self.holdout}")


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint sorted index arrays covering ``range(len(y))``, each class spread evenly.

    Each class is shuffled (seeded) and dealt round-robin, starting where the previous class
    stopped, so fold sizes differ by at most one.

    >>> [f.tolist() for f in stratified_folds(np.array([0, 0, 1, 1]), 2, seed=0)]
    [[0, 2], [1, 3]]
    """
    if k < 2:
        raise ValueError(f"k: expected at least 2 folds, got {k}")
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        for j, i in enumerate(members):
            folds[(start + j) % k].append(int(i))
        start = (start + len(members)) % k
    return [np.sort(np.asarray(f, dtype=np.int64)) for f in folds]


def held_out_indices(y: np.ndarray, fold: Fold) -> np.ndarray:
    """The indices of the training split that ``fold`` holds out for validation."""
    if fold.k == 1:
        from rnnlab.data import stratified_split

        return stratified_split(y, fold.holdout, fold.seed)[1]
    return stratified_folds(y, fold.k, fold.seed)[fold.index]


def validation_indices(strata: np.ndarray, present: np.ndarray | None, fold: Fold) -> np.ndarray:
    """The indices ``fold`` validates on: :func:`held_out_indices` of ``strata`` less what
    :func:`keep_every_class` returns to training (``present``: the classes each sequence holds,
    None for values). Empty where every class ``fold`` would hold out has a single sequence.

    >>> validation_indices(np.arange(4), np.eye(4, dtype=bool), Fold(k=1, index=0, seed=0)).tolist()  # 4 classes of 1
    []
    >>> y = np.array([0, 0, 1, 1])
    >>> len(validation_indices(y, np.eye(2, dtype=bool)[y], Fold(k=1, index=0, seed=0)))  # one of each class
    2
    """
    held = held_out_indices(strata, fold)
    return held if present is None else keep_every_class(held, present)


def keep_every_class(held: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``held`` (sorted indices held out for validation) less the sequences the training part
    needs to hold every class that ``present`` ([N, classes] booleans: the classes each sequence
    holds, :meth:`rnnlab.task.Task.classes_held`) has anywhere: a class only held-out sequences
    hold would get an output that never sees an example, and every validation step of it would
    count as an error. A class held by one sequence is thus trained on in every hold-out and
    fold and validated in none. The sequences that go back are those holding the most such
    classes (the first, by index, of equals).

    >>> present = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool)
    >>> keep_every_class(np.array([1, 2, 3]), present).tolist()  # 2 alone holds class 1
    [1, 3]
    """
    training = np.ones(len(present), dtype=bool)
    training[held] = False
    out = [int(i) for i in held]
    while out:
        missing = present.any(axis=0) & ~present[training].any(axis=0)
        if not missing.any():
            break
        j = int(np.argmax(present[out][:, missing].sum(axis=1)))
        training[out.pop(j)] = True
    return np.asarray(out, dtype=np.int64)


def forward_chaining(length: int, fold: Fold) -> tuple[int, int]:
    """Where the training and validation blocks of ``fold`` end on a stream of ``length`` steps
    (the part before its test block), never shuffled: ``k >= 2`` cuts it into ``k + 1`` equal
    blocks, and fold ``index`` trains on blocks ``0..index`` and validates on block ``index + 1``;
    ``k == 1`` trains on the first ``1 - holdout`` and validates on the rest.

    >>> [forward_chaining(100, Fold(k=3, index=i, seed=0)) for i in range(3)]
    [(25, 50), (50, 75), (75, 100)]
    >>> forward_chaining(100, Fold(k=1, index=0, seed=0, holdout=0.2))
    (80, 100)
    """
    if fold.k == 1:
        train = length - int(round(fold.holdout * length))
        return train, length
    block = length // (fold.k + 1)
    start = length - block * (fold.k + 1)  # the first steps left over join the first training block
    return start + (fold.index + 1) * block, start + (fold.index + 2) * block
