"""Generated classification sets of known difficulty, for checking the template's shape rules
(issue 27) on data unlike the bundled sets: many classes, one to three training series per class,
series up to several thousand steps, classes that differ only by a local shape, by phase or by
amplitude. Every set is drawn from its own seed, so it is the same on every machine and run.

* ``local``: every series is white noise (std ``noise``, 0.1) plus a slow random walk (std about
  0.2) with one motif at a random place; the class is the motif (a sum of three Gaussian bumps of
  random signs and widths, drawn once per class, peak 2), a tenth of the length wide (at least 8
  steps). Nothing but that window tells the classes apart.
* ``phase``: a sine of 8 cycles over the series plus noise; the class is its phase, the classes'
  phases evenly spread over one cycle (per-series scaling keeps it; a shift-invariant feature
  does not).
* ``amplitude``: a shared shape (two sines) times the class's amplitude, geometric from 0.5 to 4,
  plus noise of std 1; the level of the signal against the noise tells the classes apart.

Training and test series are drawn the same way from different streams of the set's seed; a
third stream (:meth:`StressSet.validation`) draws fresh series of the same classes, on which rules
are compared without the test split (``bench_template.py --validate``).

    >>> s = STRESS["stress-local-40x2"]
    >>> (Xtr, ytr), (Xte, yte) = s.generate()
    >>> Xtr.shape, Xte.shape, sorted(set(ytr.tolist())) == list(range(40))
    ((80, 300, 1), (400, 300, 1), True)
    >>> bool((s.generate()[0][0] == Xtr).all())  # the same set every time
    True
    >>> Xva, yva = s.validation()
    >>> Xva.shape, bool((Xva[:2] != Xte[:2]).any())  # the same classes, other series
    ((200, 300, 1), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Kind = Literal["local", "phase", "amplitude"]


@dataclass(frozen=True)
class StressSet:
    """One generated set: how the classes differ, how many, how many series each, how long."""

    kind: Kind
    classes: int
    train_per_class: int
    length: int
    test_per_class: int = 10
    seed: int = 0
    noise: float = 0.1
    motif_width: float = 0.1
    """``local``: the motif's width, a share of the length (at least 8 steps)."""

    def generate(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((X_train [N, T, 1], y_train), (X_test, y_test)), float32 and int64."""
        return self._split(TRAIN_STREAM, self.train_per_class), self._split(TEST_STREAM, self.test_per_class)

    def validation(self, per_class: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Fresh series of the same classes (X [N, T, 1], y), from a stream of their own: what
        rules are compared on instead of the test split."""
        return self._split(VALIDATION_STREAM, per_class)

    def _split(self, stream: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        return self._draw(self._shapes(), per_class, np.random.default_rng([self.seed, stream]))

    def _shapes(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, CLASSES_STREAM])
        return [self._class_shape(rng, c) for c in range(self.classes)]

    def _class_shape(self, rng: np.random.Generator, c: int) -> np.ndarray:
        if self.kind == "local":
            width = max(int(self.length * self.motif_width), 8)
            t = np.linspace(-1, 1, width)
            bumps = sum(rng.choice([-1.0, 1.0]) * np.exp(-((t - rng.uniform(-0.7, 0.7)) / rng.uniform(0.08, 0.3)) ** 2)
                        for _ in range(3))
            return 2.0 * bumps / max(np.abs(bumps).max(), 1e-6)
        if self.kind == "phase":
            return np.array([2 * np.pi * c / self.classes])
        return np.array([0.5 * 8.0 ** (c / max(self.classes - 1, 1))])  # amplitude 0.5 .. 4

    def _draw(self, shapes: list[np.ndarray], per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, T = self.classes * per_class, self.length
        y = np.repeat(np.arange(self.classes), per_class)
        t = np.arange(T) / T
        X = np.empty((n, T), dtype=np.float64)
        for i, c in enumerate(y):
            if self.kind == "local":
                walk = np.zeros(T)
                steps = rng.standard_normal(T) * 0.02
                for k in range(1, T):  # a random walk pulled back to 0: slow, std about 0.2
                    walk[k] = 0.995 * walk[k - 1] + steps[k]
                walk += self.noise * rng.standard_normal(T)
                motif = shapes[c]
                at = rng.integers(0, T - len(motif) + 1)
                walk[at:at + len(motif)] += motif
                X[i] = walk
            elif self.kind == "phase":
                X[i] = np.sin(2 * np.pi * 8 * t + shapes[c][0]) + self.noise * rng.standard_normal(T)
            else:
                base = np.sin(2 * np.pi * 3 * t) + 0.5 * np.sin(2 * np.pi * 11 * t + 1.0)
                X[i] = shapes[c][0] * base + rng.standard_normal(T)
        order = rng.permutation(n)
        return X[order, :, None].astype(np.float32), y[order].astype(np.int64)

    def write(self, folder: Path, name: str, validation: bool = False) -> tuple[Path, Path]:
        """The set as ``NAME_TRAIN.npz`` and ``NAME_TEST.npz`` in ``folder`` (rnnlab's
        ``data.path`` / ``data.test_path`` format); with ``validation``, the second file holds
        the fresh draws of :meth:`validation` (``NAME_VALIDATION.npz``) and the test split is
        not drawn."""
        Xtr, ytr = self._split(TRAIN_STREAM, self.train_per_class)
        Xte, yte = self.validation() if validation else self._split(TEST_STREAM, self.test_per_class)
        paths = folder / f"{name}_TRAIN.npz", folder / f"{name}_{'VALIDATION' if validation else 'TEST'}.npz"
        np.savez(paths[0], X=Xtr, y=ytr)
        np.savez(paths[1], X=Xte, y=yte)
        return paths


#: The generator's random streams: the classes' shapes, training, test, and the fresh draws
#: rules are compared on (never the test stream).
CLASSES_STREAM, TRAIN_STREAM, TEST_STREAM, VALIDATION_STREAM = 0, 1, 2, 3

#: The stress suite: many classes with two series each (the issue's shape), one and three series,
#: long series, and the three kinds of difference.
STRESS: dict[str, StressSet] = {
    "stress-local-40x2": StressSet("local", classes=40, train_per_class=2, length=300),
    "stress-local-10x3-long": StressSet("local", classes=10, train_per_class=3, length=1200),
    "stress-local-40x2-2000": StressSet("local", classes=40, train_per_class=2, length=2000),
    "stress-local-20x1": StressSet("local", classes=20, train_per_class=1, length=400),
    "stress-local-8x2-4000": StressSet("local", classes=8, train_per_class=2, length=4000),
    "stress-phase-12x2": StressSet("phase", classes=12, train_per_class=2, length=1000),
    "stress-amplitude-6x3": StressSet("amplitude", classes=6, train_per_class=3, length=1500),
    # a tester's long recordings (issue 27): few classes of many series, each a short motif (40 of 4000
    # steps) somewhere in noise on a random walk
    "stress-local-4x40-4000-short": StressSet("local", classes=4, train_per_class=40, length=4000, noise=0.3,
                                              motif_width=0.01),
}
#: The quick mode's sets: the issue's shape (many classes, two series each) and a long one.
QUICK = ["stress-local-40x2", "stress-local-10x3-long"]
