"""What the shape rules (:mod:`rnnlab.train.shape_rules`) measure of the training series
beyond their shape, before any training.

* :func:`summary_accuracy`: the front-end is built at random initial weights (a few seeds) and run
  over the training series (batch statistics per batch, as in training). Each series is summarised
  over time by its features' mean, or by their mean and maximum, and placed by its nearest other
  training series (Euclidean, each feature standardised). Where the maximum helps the model (a
  class told by a short motif anywhere in the series), joining it to the mean places more series
  with their own class; where each series has peaks of its own that say nothing of its class, it
  places fewer, and a model given the maximum memorises the few training series by their peaks.
* :func:`step_noise`: how much of each series is noise from one step to the next, read from its
  second differences. Smooth series (a leaf's outline, a hand's path) have little: their classes
  may differ by details that noise on the input would bury.

Example:
    >>> import numpy as np
    >>> from rnnlab.config import FrontendConfig
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((12, 60, 1)).astype(np.float32)
    >>> y = np.repeat(np.arange(3), 4)
    >>> for i, start in enumerate(rng.integers(0, 50, 12)):  # a bump as high as the class, anywhere
    ...     X[i, start:start + 5, 0] += 3.0 * y[i]
    >>> fe = FrontendConfig(blocks=[{"channels": 16, "kernel_size": 5}])
    >>> [round(a, 2) for a in summary_accuracy(X, np.full(12, 60), y, fe)]  # the mean; the mean and max; its error
    [0.68, 0.84, 0.01]
    >>> round(step_noise(X, np.full(12, 60)), 2)  # white noise: most of each series
    0.79
"""

from __future__ import annotations

import numpy as np
import torch

from rnnlab.config import FrontendConfig
from rnnlab.data.normalize import per_series
from rnnlab.train.frontend import ConvFrontend
from rnnlab.train.model import pool_over_time

#: Random front-ends whose placements are averaged (seeds 0, 1, ...: the data's property, not the run's).
PROBE_SEEDS = 10
#: The median absolute deviation of normal noise times this is its std.
MAD_TO_STD = 1.4826
#: Series per forward pass: batch statistics from batches of this size, as in training (fewer
#: for long series: at most :data:`PROBE_VALUES` values of a block's output at once).
PROBE_BATCH = 64
PROBE_VALUES = 2**24


def summary_accuracy(X: np.ndarray, lengths: np.ndarray, y: np.ndarray, frontend: FrontendConfig,
                     seeds: int = PROBE_SEEDS) -> tuple[float, float, float]:
    """The share of the series ``X [N, T, C]`` whose nearest other series is of their class
    (``y``), by the mean over time of random front-ends' features, and by their mean and maximum,
    each averaged over ``seeds`` front-ends; and the standard error of the second minus the first
    over the front-ends."""
    x = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32)
    steps = torch.as_tensor(np.asarray(lengths), dtype=torch.long)
    right = np.zeros((seeds, 2))
    widest = max(b.channels for b in frontend.conv_blocks)
    batch = max(1, min(PROBE_BATCH, PROBE_VALUES // (x.shape[1] * widest)))
    with torch.random.fork_rng(devices=[]):  # the caller's random stream stays as it was
        for seed in range(seeds):
            torch.manual_seed(seed)
            model = ConvFrontend(x.shape[2], frontend).train()
            with torch.no_grad():
                parts = [_summaries(model, x[i:i + batch], steps[i:i + batch]) for i in range(0, len(x), batch)]
            mean, peak = (np.concatenate(p) for p in zip(*parts, strict=True))
            right[seed] = nearest_accuracy(mean, y), nearest_accuracy(np.concatenate([mean, peak], axis=1), y)
    mean_acc, mean_max_acc = right.mean(axis=0)
    error = (right[:, 1] - right[:, 0]).std(ddof=1) / np.sqrt(seeds) if seeds > 1 else 0.0
    return float(mean_acc), float(mean_max_acc), float(error)


def _summaries(model: ConvFrontend, x: torch.Tensor, lengths: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    features, out_lengths = model(x, lengths)  # (summarised over time as the model's head does)
    return pool_over_time(features, out_lengths, "mean").numpy(), pool_over_time(features, out_lengths, "max").numpy()


def nearest_accuracy(features: np.ndarray, y: np.ndarray) -> float:
    """The share of the rows of ``features`` [N, F] whose nearest other row (Euclidean, each
    column standardised) has their label.

    >>> nearest_accuracy(np.array([[0.0], [0.1], [1.0], [1.1]]), np.array([0, 0, 1, 1]))
    1.0
    """
    f = (features - features.mean(0)) / (features.std(0) + 1e-8)
    squared = (f * f).sum(1)
    distance = squared[:, None] + squared[None, :] - 2 * f @ f.T
    np.fill_diagonal(distance, np.inf)
    return float((np.asarray(y)[distance.argmin(1)] == np.asarray(y)).mean())


def step_noise(X: np.ndarray, lengths: np.ndarray) -> float:
    """The median over the series ``X [N, T, C]`` of their noise from step to step, in units of
    the series' own std (mean over channels): the spread of the second differences over sqrt(6),
    which is the std of white noise on a series that is smooth at the scale of a step (and 0 for
    a straight line, where first differences would count the slope). The spread is the median
    absolute deviation (as a std), so that a few jumps or spikes in a smooth series do not count
    as noise. Series of fewer than 3 steps count as noise (1).

    >>> t = np.linspace(0, 6.28, 200)[None, :, None]
    >>> round(step_noise(np.sin(t), np.array([200])), 3)  # a smooth curve
    0.001
    """
    x = per_series(np.asarray(X, dtype=np.float64), np.asarray(lengths))
    noise = []
    for series, steps in zip(x, np.asarray(lengths), strict=True):
        if steps < 3:
            noise.append(1.0)
            continue
        second = np.diff(series[:steps], n=2, axis=0)
        spread = MAD_TO_STD * np.median(np.abs(second - np.median(second, axis=0)), axis=0)
        noise.append(float(spread.mean()) / np.sqrt(6))
    return float(np.median(noise))
