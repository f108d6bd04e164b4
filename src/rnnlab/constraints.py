"""Weight constraints: projections applied after each optimizer step (Keras semantics).

A constraint maps a tensor to its projection onto an allowed set, per output channel: for a
stacked recurrent weight ``[G*H, in]`` a channel is a row (one unit of one gate); for a bias or an
IndRNN recurrent vector ``[H]`` a channel is a single value. A layer's ``bias_constraint`` bounds
the bias its gates see, ``bias_ih + bias_hh`` (:class:`SummedBias`), not each half alone.

As in Keras, the constraints of an rnnlab layer hold after every step of any ``torch.optim``
optimizer that holds its parameters, with nothing to hook: the first layer built installs one
global step hook (``torch.optim.optimizer.register_optimizer_step_post_hook``), which projects
the constrained parameters the stepping optimizer holds. Layers are known through a weak
registry (a layer that is dropped is forgotten); an optimizer whose parameters carry no
constraint is left alone.

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
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook


def _compute_dtype(w: Tensor) -> torch.dtype:
    # (half-precision norms are too coarse to compare with a bound)
    return w.dtype if w.dtype in (torch.float32, torch.float64) else torch.float32


def _row_norms(w: Tensor) -> Tensor:
    if w.dim() <= 1:
        return w.abs()
    return w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1)))


def _slack(w: Tensor) -> float:
    """How far (relative) a norm recomputed after a projection may sit off its bound by rounding.

    A channel within it counts as on the bound and is left as it is: projecting twice then
    changes nothing, bit for bit (a second rescaling would move the weights by an ulp).
    """
    compute = _compute_dtype(w)
    narrower = torch.finfo(w.dtype).eps if w.dtype != compute else 0.0
    per_channel = w[0].numel() if w.dim() > 1 and len(w) else 1
    # (measured: the error of a recomputed norm grows with the channel's size, to 60 eps at 65536 in float64)
    return (8 + per_channel / 256) * torch.finfo(compute).eps + narrower


class Constraint(abc.ABC):
    """Base class: ``constraint(tensor) -> projected tensor`` (never in place).

    A constraint of one's own defines :meth:`project`, per channel as the built-in ones do
    (a row of a matrix, a single value of a vector), and should leave a projected tensor as it
    is, so that projecting twice changes nothing.

    >>> class Clip(Constraint):
    ...     def project(self, w):
    ...         return w.clamp(-1.0, 1.0)
    >>> Clip()(torch.tensor([-3.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """

    def __call__(self, w: Tensor) -> Tensor:
        return self.project(w)

    @abc.abstractmethod
    def project(self, w: Tensor) -> Tensor:
        """The projection of ``w`` onto the allowed set."""


class MaxNorm(Constraint):
    """Rescale every channel whose L2 norm exceeds ``max_value`` down to ``max_value``.

    >>> MaxNorm(2.0)(torch.tensor([3.0, -1.0, -4.0]))
    tensor([ 2., -1., -2.])
    """

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
        wc = w.to(_compute_dtype(w))
        norms = _row_norms(wc)
        over = norms > self.max_value * (1 + _slack(w))
        scale = torch.where(over, self.max_value / norms.clamp_min(1e-30), 1.0)
        return (wc * scale).to(w.dtype)

    def __repr__(self) -> str:
        return f"MaxNorm({self.max_value})"


class UnitNorm(Constraint):
    """Rescale every channel to L2 norm 1 (all-zero channels stay zero; a single value becomes its sign).

    >>> UnitNorm()(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor([[0.6000, 0.8000],
            [0.0000, 0.0000]])
    """

    def project(self, w: Tensor) -> Tensor:
        if w.dim() <= 1:
            return torch.sign(w)
        wc = w.to(_compute_dtype(w))
        norms = _row_norms(wc)
        off = ((norms - 1).abs() > _slack(w)) & (norms > 0)
        return (wc * torch.where(off, 1 / norms.clamp_min(1e-30), 1.0)).to(w.dtype)

    def __repr__(self) -> str:
        return "UnitNorm()"


class NonNeg(Constraint):
    """Clamp every value at zero from below.

    >>> NonNeg()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def project(self, w: Tensor) -> Tensor:
        return w.clamp_min(0.0)

    def __repr__(self) -> str:
        return "NonNeg()"


def check_constraint(name: str, value: object) -> Constraint | None:
    """``value`` if it is None or a :class:`Constraint`; else a ``TypeError`` naming ``name``.

    >>> check_constraint("bias_constraint", NonNeg())
    NonNeg()
    """
    if value is None or isinstance(value, Constraint):
        return value
    raise TypeError(
        f"{name}: expected None or an rnnlab constraint (MaxNorm, UnitNorm, NonNeg), "
        f"got {type(value).__name__}"
    )


@dataclass(frozen=True, eq=False)
class SummedBias:
    """A layer's two biases, which its gates see as one: ``bias_ih + bias_hh`` (torch's layout).

    ``bias_constraint`` bounds that sum, the effective bias. The projection keeps one split:
    the projected sum in ``bias_ih`` and 0 in ``bias_hh`` (the split ``unit_forget_bias`` makes
    too). Scaling both halves by ``projected / sum`` would keep torch's split, but is undefined
    where the sum is 0 and blows the halves up where they nearly cancel (``UnitNorm``, a
    constraint of one's own); adding the correction to one half lets the halves drift apart
    without bound while their sum stays put.

    ``inner`` marks the rows of ``bias_hh`` that the gates do not simply add: the GRU's ``b_hn``,
    inside ``n = act(W_in x + b_in + r ⊙ (W_hn h + b_hn))``. There the effective bias is
    ``b_in + r·b_hn``, between ``b_in`` (reset gate closed) and ``b_in + b_hn`` (open); the
    constraint bounds both ends: ``b_in`` is projected, then ``b_hn`` so that ``b_in + b_hn`` is
    in the set. For ``MaxNorm`` and ``NonNeg`` (convex sets) every ``r`` in between is then inside
    too; ``UnitNorm`` (not convex) holds at the two ends only.

    >>> b = SummedBias(torch.tensor([2.0, -3.0]), torch.tensor([2.0, 1.0]))
    >>> project(b, MaxNorm(1.0))
    >>> b.ih, b.hh
    (tensor([ 1., -1.]), tensor([0., 0.]))
    """

    ih: Tensor
    hh: Tensor
    #: the rows of the GRU's new gate, or None where the two are simply added
    inner: slice | None = None

    @property
    def params(self) -> tuple[Tensor, Tensor]:
        return self.ih, self.hh


Target = Tensor | SummedBias


@torch.no_grad()
def project(target: Target, constraint: Constraint) -> None:
    """Project ``target`` (a parameter, or a :class:`SummedBias`) onto ``constraint``, in place:
    the one projection that every path (the step hook, :func:`apply_constraints`,
    :func:`constrain_after_step`) runs.

    >>> w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))
    >>> project(w, MaxNorm(1.0)); w.data
    tensor([[0.6000, 0.8000]])
    """
    if isinstance(target, Tensor):
        target.copy_(constraint(target))
        return
    ih, hh = target.ih, target.hh
    new_ih = constraint(ih + hh)
    new_hh = torch.zeros_like(hh)
    if target.inner is not None:
        inner = torch.zeros(hh.shape, dtype=torch.bool, device=hh.device)
        inner[target.inner] = True
        new_ih = torch.where(inner, constraint(ih), new_ih)
        opened = new_ih + hh  # (b_in + b_hn: the effective bias with the reset gate open)
        bounded = constraint(opened)
        # (b_hn kept as it is where the open end is already inside: projecting twice changes nothing)
        new_hh = torch.where(inner, torch.where(bounded == opened, hh, bounded - new_ih), new_hh)
    ih.copy_(new_ih)
    hh.copy_(new_hh)


def _targets(module: nn.Module) -> Iterator[tuple[Target, Constraint]]:
    # rnnlab layers list their (target, constraint) pairs; other modules have none.
    pairs = getattr(module, "constrained_parameters", None)
    return iter(()) if pairs is None else pairs()


def _params_of(target: Target) -> tuple[Tensor, ...]:
    return (target,) if isinstance(target, Tensor) else target.params


def _held(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


@torch.no_grad()
def apply_constraints(model: nn.Module) -> None:
    """Project every constrained parameter of every rnnlab layer in ``model`` now.

    Not needed after an optimizer step (the layers' constraints hold after every step by
    themselves); for weights set by hand. Projecting twice changes nothing.

    >>> import rnnlab
    >>> lstm = rnnlab.LSTM(3, 4, recurrent_constraint=MaxNorm(0.5))
    >>> with torch.no_grad():
    ...     _ = lstm.weight_hh_l0.mul_(10)
    >>> apply_constraints(lstm)
    >>> bool((lstm.weight_hh_l0.norm(dim=1) <= 0.5 + 1e-6).all())
    True
    """
    for m in model.modules():
        for target, constraint in _targets(m):
            project(target, constraint)


# ---- the global step hook: every rnnlab layer, weakly; installed with the first layer
_LAYERS: weakref.WeakSet[nn.Module] = weakref.WeakSet()
_HOOK: object | None = None


def track(layer: nn.Module) -> None:
    """Have ``layer``'s constraints hold after every optimizer step (called by each rnnlab layer
    when it is built, copied or unpickled; the layer is held weakly).

    >>> import rnnlab
    >>> lstm = rnnlab.LSTM(3, 4, kernel_constraint=MaxNorm(0.1))  # (tracked as it is built)
    >>> track(lstm)  # (again: nothing changes)
    """
    global _HOOK
    _LAYERS.add(layer)
    if _HOOK is None:
        _HOOK = register_optimizer_step_post_hook(_after_any_step)


def _after_any_step(optimizer: torch.optim.Optimizer, args: Iterable[object], kwargs: dict) -> None:
    """Project the constrained parameters the optimizer that just stepped holds."""
    constrained = [(t, c) for layer in list(_LAYERS) for t, c in _targets(layer)]
    if not constrained:  # (no constrained layer alive: nothing to look at)
        return
    held = _held(optimizer)
    for target, constraint in constrained:
        # (a summed bias as a whole, when the optimizer changed either half)
        if any(id(p) in held for p in _params_of(target)):
            project(target, constraint)  # (under no_grad)


def constrain_after_step(optimizer: torch.optim.Optimizer, model: nn.Module) -> object:
    """No longer needed: an rnnlab layer's constraints hold after every optimizer step by
    themselves. Kept for code written before: it also projects, after each step of ``optimizer``,
    what that step's own projection does not reach (the model's constrained parameters the
    optimizer does not hold), so that nothing is projected twice.

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

    @torch.no_grad()
    def hook(opt: torch.optim.Optimizer, args: Iterable[object], kwargs: dict) -> None:
        held = _held(opt)
        for m in model.modules():
            tracked = m in _LAYERS
            for target, constraint in _targets(m):
                if not (tracked and any(id(p) in held for p in _params_of(target))):
                    project(target, constraint)

    return optimizer.register_step_post_hook(hook)
