"""Gradient clipping by global norm that returns and records the norm before clipping.

The global norm is the ``norm_type``-norm of all gradients together (torch's
``clip_grad_norm_``); when it exceeds ``max_norm`` every gradient is scaled by
``max_norm / norm``. ``max_norm=inf`` only measures.

Non-finite norm (a NaN or inf somewhere in the gradients), by ``on_nonfinite``:

* ``"error"`` (default): raise :class:`NonFiniteGradientError` naming the parameters whose
  gradients hold NaN/inf; gradients are left untouched.
* ``"skip"``: set every gradient to ``None`` so the next ``optimizer.step()`` changes nothing —
  torch's optimizers skip parameters without a gradient (no update, no moment update, no decay).
  The non-finite norm is still returned and recorded, and ``skipped`` counts these steps.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> w.grad = torch.tensor([3.0, 4.0])
    >>> clipper = GradClipper(max_norm=1.0)
    >>> clipper([w])
    5.0
    >>> w.grad, clipper.history
    (tensor([0.6000, 0.8000]), [5.0])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["GradClipper", "clip_grad_norm", "NonFiniteGradientError", "ON_NONFINITE"]

ON_NONFINITE = ("error", "skip")


class NonFiniteGradientError(ValueError):
    """The gradients hold NaN or inf, so their norm is not finite."""


def _params(parameters: Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Tensor) -> list[tuple[str, Tensor]]:
    if isinstance(parameters, Tensor):
        return [("0", parameters)]
    out = []
    for i, p in enumerate(parameters):
        if isinstance(p, tuple):
            out.append((str(p[0]), p[1]))
        elif isinstance(p, Tensor):
            out.append((str(i), p))
        else:
            raise TypeError(f"parameters[{i}]: expected a Tensor or (name, Tensor), got {type(p).__name__}")
    return out


def _norm_type(value: object) -> float:
    """A p-norm order torch's ``clip_grad_norm_`` measures meaningfully: a number > 0, or inf
    (``'inf'`` too, as torch documents). 0 counts the non-zero entries and a negative order
    shrinks as gradients grow (its "norm" never exceeds max_norm, so nothing is ever clipped).
    """
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
        return math.inf
    expected = "a p-norm order > 0 or inf (2 for the L2 norm)"
    if isinstance(value, str):
        raise ValueError(f"norm_type: expected {expected}, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"norm_type: expected {expected}, got {type(value).__name__} {value!r}")
    if not value > 0:  # (NaN too)
        raise ValueError(f"norm_type: expected {expected}, got {value!r}")
    return float(value)


def clip_grad_norm(
    parameters: Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    on_nonfinite: str = "error",
) -> float:
    """Clip gradients to global norm ``max_norm``; return the norm before clipping.

    ``parameters`` may be ``model.parameters()`` or ``model.named_parameters()`` (names make the
    non-finite error message precise). See the module docstring for ``on_nonfinite``.

    >>> w = torch.nn.Parameter(torch.zeros(1)); w.grad = torch.tensor([float("nan")])
    >>> clip_grad_norm([w], 1.0, on_nonfinite="skip"), w.grad
    (nan, None)
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)):
        raise TypeError(
            f"max_norm: expected a number > 0 (inf to only measure), got {type(max_norm).__name__} {max_norm!r}"
        )
    if not max_norm > 0:  # (NaN too)
        raise ValueError(f"max_norm: expected a number > 0 (inf to only measure), got {max_norm!r}")
    norm_type = _norm_type(norm_type)
    if on_nonfinite not in ON_NONFINITE:
        raise ValueError(f"on_nonfinite: expected one of {list(ON_NONFINITE)}, got {on_nonfinite!r}")
    named = [(n, p) for n, p in _params(parameters) if p.grad is not None]
    if not named:
        return 0.0
    grads = [p.grad for _, p in named]
    total = float(torch.nn.utils.get_total_norm(grads, norm_type=norm_type))
    if not math.isfinite(total) and all(bool(torch.isfinite(g).all()) for g in grads):
        # finite gradients whose float32 sum of squares overflows (an exploding step): their norm
        # in float64 is finite, and clipping by it is what the gradients ask for
        total = float(torch.nn.utils.get_total_norm([g.double() for g in grads], norm_type=norm_type))
    if not math.isfinite(total):
        if on_nonfinite == "error":
            bad = [n for n, p in named if not bool(torch.isfinite(p.grad).all())]
            raise NonFiniteGradientError(
                f"gradients: global {norm_type:g}-norm is {total}; non-finite values in {bad[:10]}"
                + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            )
        for _, p in named:
            p.grad = None
        return total
    if total > max_norm:
        torch.nn.utils.clip_grads_with_norm_([p for _, p in named], max_norm, torch.tensor(total))
    return total


class GradClipper:
    """:func:`clip_grad_norm` that remembers every pre-clip norm.

    ``history`` lists the norms (one per call), ``clipped`` counts calls that scaled the
    gradients, ``skipped`` those with a non-finite norm under ``on_nonfinite="skip"``.
    """

    def __init__(self, max_norm: float, norm_type: float = 2.0, on_nonfinite: str = "error") -> None:
        clip_grad_norm([], max_norm, norm_type, on_nonfinite)  # validates the arguments
        self.max_norm = float(max_norm)
        self.norm_type = _norm_type(norm_type)
        self.on_nonfinite = on_nonfinite
        self.history: list[float] = []
        self.clipped = 0
        self.skipped = 0

    def __call__(self, parameters: Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Tensor) -> float:
        """Clip, record and return the pre-clip global norm."""
        total = clip_grad_norm(parameters, self.max_norm, self.norm_type, self.on_nonfinite)
        self.history.append(total)
        if not math.isfinite(total):
            self.skipped += 1
        elif total > self.max_norm:
            self.clipped += 1
        return total

    @property
    def last(self) -> float | None:
        """The most recent pre-clip norm (None before the first call)."""
        return self.history[-1] if self.history else None
