"""Cosine annealing with warm restarts (Loshchilov & Hutter, SGDR), as a multiplier η_t.

The schedule multiplies each group's initial learning rate by

    η_t = η_min + ½ (η_max − η_min) (1 + cos(π · T_cur / T_i))

where ``T_cur`` counts scheduler steps since the last restart and ``T_i`` is the length of the
current run: ``period`` for the first, then multiplied by ``period_mult`` at every restart.
Because rnnlab's (and torch's) decoupled optimizers apply ``p ← p·(1 − lr·weight_decay)``, the
same η_t scales both the gradient step and the weight decay, as in AdamW/SGDW with warm restarts
(step ``scheduler.step()`` once per batch to anneal within an epoch, as the paper does).

Unlike ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``, whose ``eta_min`` is an absolute
learning rate shared by all groups, ``eta_min``/``eta_max`` here are multipliers, so per-group
learning rates (``lr_mult``) keep their ratios. With ``eta_min=0`` the two agree.

Example:
    >>> [round(warm_restart_factor(t, period=4), 3) for t in range(6)]
    [1.0, 0.854, 0.5, 0.146, 1.0, 0.854]
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["warm_restart_factor", "WarmRestarts"]


def _finite(value: object, argument: str, expected: str) -> float:
    """``value`` as a float; a TypeError for a non-number, a ValueError for NaN or ±inf."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument}: expected {expected}, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{argument}: expected {expected}, got {value!r}")
    return float(value)


def _check(period: float, period_mult: float, eta_min: float, eta_max: float) -> None:
    # inf or NaN would make every step's factor NaN (or inf): the lr becomes meaningless
    if not _finite(period, "period", "a number of steps > 0 (finite)") > 0:
        raise ValueError(f"period: expected a number of steps > 0 (finite), got {period!r}")
    if not _finite(period_mult, "period_mult", "a number >= 1 (finite)") >= 1:
        raise ValueError(f"period_mult: expected a number >= 1 (finite), got {period_mult!r}")
    lo = _finite(eta_min, "eta_min", "a finite number >= 0")
    hi = _finite(eta_max, "eta_max", "a finite number >= 0")
    if not (0 <= lo <= hi):
        raise ValueError(f"eta_min, eta_max: expected 0 <= eta_min <= eta_max, got {eta_min!r}, {eta_max!r}")


def _run_containing(t: float, period: float, mult: float) -> tuple[float, float]:
    """``(start, length)`` of the run that step ``t`` falls in, in closed form: run k starts at
    ``period (mult^k − 1) / (mult − 1)`` (a loop over the runs would take ~log(t)/log(mult)
    iterations: 10^10 for a mult just above 1 and a vanishing period).

    >>> _run_containing(3.0, 2.0, 2.0)
    (2.0, 4.0)
    >>> _run_containing(1.0, 1e-300, 1.0 + 1e-12)[0] <= 1.0
    True
    """
    if not t / period < 1e300:  # (and not NaN)
        raise ValueError(f"period: {period!r} steps is too short to count the runs up to step {t!r}")
    if mult == 1:
        k = math.floor(t / period)
        return k * period, period
    # k = floor(log_mult(1 + t (mult − 1) / period)), with log1p/expm1 for a mult near 1 (mult − 1
    # is exact in floating point for mult in [1, 2]); powers for a larger one, exact for 2 or 3,
    # where a run's start must not round past a restart that falls on a whole step.
    log_mult = math.log1p(mult - 1)
    ratio = t * (mult - 1) / period
    if not ratio * mult < 1e300:  # (the next run's start must be a float too)
        raise ValueError(f"period_mult: {mult!r} is too large to count the runs up to step {t!r}")

    def start_of(k: int) -> float:
        if mult >= 1.5:
            return period * (mult**k - 1) / (mult - 1)
        return period * math.expm1(k * log_mult) / (mult - 1)

    k = math.floor(math.log1p(ratio) / log_mult)
    # Rounding may put k one run off either way: a bounded correction.
    for _ in range(4):
        if k > 0 and t < start_of(k):
            k -= 1
        elif t >= start_of(k + 1):
            k += 1
        else:
            break
    return start_of(k), period * mult**k


def warm_restart_factor(
    t: float, period: float, period_mult: float = 1.0, eta_min: float = 0.0, eta_max: float = 1.0
) -> float:
    """The multiplier η_t after ``t`` scheduler steps (see the module docstring).

    >>> warm_restart_factor(3, period=2, period_mult=2)  # second run: steps 2..5, T_cur=1, T_i=4
    0.8535533905932737
    """
    _check(period, period_mult, eta_min, eta_max)
    if t < 0:
        raise ValueError(f"t: expected a step count >= 0, got {t!r}")
    start, length = _run_containing(float(t), float(period), float(period_mult))
    t_cur = t - start
    return eta_min + 0.5 * (eta_max - eta_min) * (1.0 + math.cos(math.pi * t_cur / length))


class WarmRestarts(LRScheduler):
    """Learning-rate scheduler: each group's ``lr = initial_lr · η_t`` (:func:`warm_restart_factor`).

    ``period`` is in scheduler steps; ``eta`` is the current factor.

    >>> p = torch.nn.Parameter(torch.zeros(1))
    >>> opt = torch.optim.SGD([p], lr=0.1)
    >>> sched = WarmRestarts(opt, period=2)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 4)); opt.step(); sched.step()
    >>> lrs
    [0.1, 0.05, 0.1, 0.05]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        period: float,
        period_mult: float = 1.0,
        eta_min: float = 0.0,
        eta_max: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        _check(period, period_mult, eta_min, eta_max)
        self.period = period
        self.period_mult = period_mult
        self.eta_min = eta_min
        self.eta_max = eta_max
        super().__init__(optimizer, last_epoch)

    @property
    def eta(self) -> float:
        """The current multiplier η_t."""
        return warm_restart_factor(
            max(self.last_epoch, 0), self.period, self.period_mult, self.eta_min, self.eta_max
        )

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [base * self.eta for base in self.base_lrs]
