"""Stratified folds of the training split, for scoring a configuration without the test split.

A :class:`Fold` names one validation part of a seeded plan: ``k >= 2`` deals every class's
series round-robin (after a seeded shuffle) into ``k`` folds and holds out fold ``index``;
``k == 1`` is one stratified hold-out of ``holdout`` (as ``data.val_fraction``). The test split
is not part of any fold.

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
