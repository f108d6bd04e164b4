"""Weight constraints: projections applied after each optimizer step (Keras semantics).

A constraint maps a tensor to its projection onto an allowed set, per output channel: for a
stacked recurrent weight ``[G*H, in]`` a channel is a row (one unit of one gate); for a bias or an
IndRNN recurrent vector ``[H]`` a channel is a single value.

This differs from ``torch.nn.utils.parametrize``: a parametrization recomputes the weight from a
free parameter at every use (the optimizer never sees the constraint); a constraint here lets the
optimizer step freely and then projects the stored parameter back (what Keras' ``kernel_constraint``
does, and what lets high learning rates stay stable with max-norm).

Example:
    >>> import torch
    >>> w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    >>> MaxNorm(1.0)(w)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


def _row_norms(w: Tensor) -> Tensor:
    if w.dim() <= 1:
        return w.abs()
    return w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1)))


class Constraint(abc.ABC):
    """Base class: ``constraint(tensor) -> projected tensor`` (never in place)."""

    def __call__(self, w: Tensor) -> Tensor:
        return self.project(w)

    @abc.abstractmethod
    def project(self, w: Tensor) -> Tensor:
        """The projection of ``w`` onto the allowed set."""


class MaxNorm(Constraint):
    """Rescale every channel whose L2 norm exceeds ``max_value`` down to ``max_value``."""

    def __init__(self, max_value: float) -> None:
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float)):
            raise TypeError(
                f"max_value: expected a finite number > 0, got {type(max_value).__name__} {max_value!r}"
            )
        # inf or NaN would make the projection a no-op (or turn weights into NaN)
        if not (max_value > 0 and math.isfinite(max_value)):
            raise ValueError(f"max_value: expected a finite number > 0, got {max_value!r}")
        self.max_value = float(max_value)

    def project(self, w: Tensor) -> Tensor:
        norms = _row_norms(w)
        scale = torch.clamp(self.max_value / norms.clamp_min(1e-12), max=1.0)
        return w * scale

    def __repr__(self) -> str:
        return f"MaxNorm({self.max_value})"


class UnitNorm(Constraint):
    """Rescale every channel to L2 norm 1 (all-zero channels stay zero)."""

    def project(self, w: Tensor) -> Tensor:
        if w.dim() <= 1:
            return torch.sign(w)
        return w / _row_norms(w).clamp_min(1e-12)

    def __repr__(self) -> str:
        return "UnitNorm()"


class NonNeg(Constraint):
    """Clamp every value at zero from below."""

    def project(self, w: Tensor) -> Tensor:
        return w.clamp_min(0.0)

    def __repr__(self) -> str:
        return "NonNeg()"


def check_constraint(name: str, value: object) -> Constraint | None:
    if value is None or isinstance(value, Constraint):
        return value
    raise TypeError(
        f"{name}: expected None or an rnnlab constraint (MaxNorm, UnitNorm, NonNeg), "
        f"got {type(value).__name__}"
    )


@torch.no_grad()
def apply_constraints(model: nn.Module) -> None:
    """Project every constrained parameter of every rnnlab layer in ``model``.

    >>> import rnnlab
    >>> lstm = rnnlab.LSTM(3, 4, recurrent_constraint=MaxNorm(0.5))
    >>> apply_constraints(lstm)
    >>> bool((lstm.weight_hh_l0.norm(dim=1) <= 0.5 + 1e-6).all())
    True
    """
    for m in model.modules():
        # rnnlab layers list their (parameter, constraint) pairs; other modules have none.
        pairs = getattr(m, "constrained_parameters", None)
        if pairs is not None:
            for param, constraint in pairs():
                param.copy_(constraint(param))


def constrain_after_step(optimizer: torch.optim.Optimizer, model: nn.Module) -> object:
    """Apply the model's constraints after every ``optimizer.step()`` (one line in a loop).

    Returns the hook handle (``handle.remove()`` undoes it).

    >>> import rnnlab, torch
    >>> m = rnnlab.LSTM(3, 4, kernel_constraint=MaxNorm(0.1))
    >>> opt = torch.optim.SGD(m.parameters(), lr=1.0)
    >>> handle = constrain_after_step(opt, m)
    """
    # checked here: a bad argument would otherwise fail only at the first optimizer.step()
    if isinstance(optimizer, nn.Module) and isinstance(model, torch.optim.Optimizer):
        raise TypeError(
            "constrain_after_step: the first argument must be the optimizer and the second the model, "
            f"got {type(optimizer).__name__}, {type(model).__name__} (swapped)"
        )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module (the model to constrain), got {type(model).__name__}")

    def hook(opt: torch.optim.Optimizer, args: Iterable[object], kwargs: dict) -> None:
        apply_constraints(model)

    return optimizer.register_step_post_hook(hook)
