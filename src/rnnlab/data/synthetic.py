"""Generated problems with a target at every step (``[task] per_step = true``): seeded, no files.

* ``delayed_copy`` (labels): a symbol (one of 4, one-hot) at every step; the label of step ``t``
  is the symbol of step ``t - 5`` (class ``"-"`` for the first 5 steps, which have none to
  recall). Sequences of 20 to 60 steps (padded to 60, with their lengths). It takes a memory of
  the last 5 symbols; a model without one scores the most frequent class
  (:func:`majority_step_accuracy` measures it on the same data).
* ``adding_problem`` (values): the adding problem of Hochreiter & Schmidhuber (1997), 100 steps
  of two channels: a value drawn from U(0, 1), and a marker that is 1 at two steps (one in each
  half). The target of every step is the running sum of the marked values so far, so the last
  step's target is the classic one (the sum of the two); predicting it with the mean (1) has a
  mean squared error of 1/6 (0.167). :func:`adding_problem` makes it at any length.

Each has a fixed training split (600 sequences) and test split (400), drawn from fixed seeds.

Example:
    >>> X, y, lengths = delayed_copy(3, seed=0)
    >>> X.shape, y.shape, bool((y[:, :5] == 0).all()), bool((X[0, 0:10].argmax(1) + 1 == y[0, 5:15]).all())
    ((3, 60, 4), (3, 60), True, True)
    >>> X, y, lengths = adding_problem(2, 10, seed=0)
    >>> X.shape, y.shape, bool(np.allclose(y[:, -1, 0], (X[:, :, 0] * X[:, :, 1]).sum(1)))
    ((2, 10, 2), (2, 10, 1), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DELAY, SYMBOLS, MIN_STEPS, MAX_STEPS = 5, 4, 20, 60
ADDING_STEPS = 100

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def delayed_copy(n: int, seed: int) -> Arrays:
    """``n`` sequences of the ``delayed_copy`` problem: X [n, 60, 4] one-hot symbols, y [n, 60]
    class indices (0: ``"-"``, 1 + s: symbol s), lengths [n]; steps past a length are zeros."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, SYMBOLS, size=(n, MAX_STEPS))
    lengths = rng.integers(MIN_STEPS, MAX_STEPS + 1, size=n).astype(np.int64)
    X = np.eye(SYMBOLS)[symbols]
    y = np.zeros((n, MAX_STEPS), dtype=np.int64)
    y[:, DELAY:] = symbols[:, :-DELAY] + 1
    X[np.arange(MAX_STEPS)[None, :] >= lengths[:, None]] = 0.0
    return X, y, lengths


def adding_problem(n: int, steps: int, seed: int) -> Arrays:
    """``n`` sequences of the adding problem of ``steps`` steps: X [n, steps, 2] (value, marker),
    y [n, steps, 1] the running sum of the marked values, lengths [n] (all ``steps``)."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, steps))
    marker = np.zeros((n, steps))
    half = steps // 2
    rows = np.arange(n)
    marker[rows, rng.integers(0, half, size=n)] = 1.0
    marker[rows, rng.integers(half, steps, size=n)] = 1.0
    X = np.stack([values, marker], axis=2)
    y = np.cumsum(values * marker, axis=1)[:, :, None]
    return X, y, np.full(n, steps, dtype=np.int64)


@dataclass(frozen=True)
class Generated:
    """A generated data set: what it is, its task's name (:attr:`rnnlab.task.Task.name`), its
    split sizes, how to draw ``n`` sequences from a seed, and its class names (labels only)."""

    description: str
    task: str
    train: int
    test: int
    make: Callable[[int, int], Arrays]
    classes: tuple[str, ...] = ()


#: Generated per-step data sets, by name.
GENERATED = {
    "delayed_copy": Generated(f"{SYMBOLS} symbols; label = the symbol {DELAY} steps back", "per-step-classification",
                              600, 400, delayed_copy, ("-",) + tuple(chr(ord("a") + s) for s in range(SYMBOLS))),
    "adding_problem": Generated(f"the adding problem, {ADDING_STEPS} steps; target = the running sum",
                                "per-step-regression", 600, 400, lambda n, seed: adding_problem(n, ADDING_STEPS, seed)),
}


def generated_splits(name: str) -> tuple[Arrays, Arrays]:
    """The (train, test) arrays of generated set ``name``: the same data every time (seeds 0
    and 1)."""
    g = GENERATED[name]
    return g.make(g.train, 0), g.make(g.test, 1)


def majority_step_accuracy(y: np.ndarray, lengths: np.ndarray, train_y: np.ndarray, train_lengths: np.ndarray) -> float:
    """Per-step accuracy of the best memoryless guess: the most frequent class of the training
    steps, scored on the valid steps of ``y``.

    >>> X, y, L = delayed_copy(200, seed=0)
    >>> 0.2 < majority_step_accuracy(y, L, y, L) < 0.3
    True
    """
    steps = np.arange(y.shape[1])[None, :]
    guess = np.bincount(train_y[steps < train_lengths[:, None]]).argmax()
    return float((y[steps < lengths[:, None]] == guess).mean())
