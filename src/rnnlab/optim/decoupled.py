"""Decoupled weight decay optimizers built on torch's own: AdamW, NAdamW, SGDW.

All three take the param groups of :func:`rnnlab.param_groups` (or plain parameters) and add:

* per-group decay: each group's ``weight_decay`` (torch already supports it; a group without
  one, like :func:`rnnlab.param_groups`' ``default`` group when no decay was given, gets the
  constructor's; the target-norm controller changes it while training);
* per-group learning-rate multipliers: a group with ``lr_mult`` and no ``lr`` of its own gets
  ``lr = lr * lr_mult`` at construction (schedulers then scale each group's lr, multiplier kept;
  :func:`rnnlab.param_groups`' groups get the same from any torch optimizer, hand-written
  dicts with ``lr_mult`` only from these);
* optional decoupled L1 decay ``l1`` (per group, default from the constructor): after the
  gradient step each parameter is soft-thresholded, ``p ← sign(p)·max(|p| − lr·l1, 0)``, the
  proximal step of ``lr·l1·|p|``, so small weights become exactly zero.

The gradient steps are torch's: :class:`AdamW` is ``torch.optim.AdamW``, :class:`NAdamW` is
``torch.optim.NAdam(decoupled_weight_decay=True)``, :class:`SGDW` is ``torch.optim.SGD`` with its
(coupled, L2-in-the-gradient) decay replaced by a decoupled one.

Decay convention (torch's): one step multiplies a parameter by ``1 − lr·weight_decay``, so the
learning rate — including a schedule's factor η_t — scales the decay. Loshchilov & Hutter write
``θ ← θ − η_t(α·update + λ·θ)`` with α the base step size: their λ is ``α·weight_decay`` here.
SGDW applies the decay to the parameter before the step (``θ_t = θ_{t−1} − lr·v_t −
lr·wd·θ_{t−1}``), as in the paper.

Example:
    >>> import torch
    >>> import rnnlab
    >>> from rnnlab.regularize.groups import Rule, param_groups
    >>> model = torch.nn.LSTM(3, 4)
    >>> groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-2, lr_mult=0.5)])
    >>> opt = AdamW(groups, lr=1e-3, weight_decay=1e-3)
    >>> [(g["name"], g["lr"], g["weight_decay"]) for g in opt.param_groups]
    [('rule0', 0.0005, 0.01), ('default', 0.001, 0.001), ('no_decay', 0.001, 0.0)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from rnnlab.regularize.groups import check_nonneg, check_unfilled

__all__ = ["AdamW", "NAdamW", "SGDW", "normalized_weight_decay", "apply_l1_prox"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


def _check_lr(value: object, argument: str) -> Any:
    """A learning rate: a finite number >= 0 (0 is legal, as in torch), or torch's 1-element tensor."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or not bool(torch.isfinite(value).all()) or float(value) < 0:
            raise ValueError(f"{argument}: expected a finite number >= 0 (or a 1-element tensor), got {value!r}")
        return value
    # torch only refuses lr < 0: NaN and inf pass its check and turn every weight into NaN
    return check_nonneg(value, argument)


def _with_lr_mult(params: Params, lr: float, weight_decay: float) -> list[Any]:
    """Copy the groups, setting ``lr = lr * lr_mult`` where a group has ``lr_mult`` and no ``lr``.

    Also checks ``lr``, ``weight_decay`` and every group's ``lr``, ``lr_mult``, ``l1`` and
    ``weight_decay`` (one wording for all: torch's own check would say "Invalid weight_decay value").
    """
    lr = _check_lr(lr, "lr")
    check_nonneg(weight_decay, "weight_decay")
    if isinstance(params, Tensor):
        raise TypeError("params: expected an iterable of parameters or param-group dicts, got a Tensor")
    items = list(params)
    out: list[Any] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            check_unfilled(item)  # (a torch optimizer's settings in it: this one would keep its lr)
            g = dict(item)
            mult = check_nonneg(g.setdefault("lr_mult", 1.0), f"param group {i} lr_mult")
            if "lr" in g:
                _check_lr(g["lr"], f"param group {i} lr")
            else:
                g["lr"] = lr * mult
            if "l1" in g:
                check_nonneg(g["l1"], f"param group {i} l1")
            if "weight_decay" in g:
                check_nonneg(g["weight_decay"], f"param group {i} weight_decay")
            out.append(g)
        else:
            out.append(item)
    return out


def _unhooked(step: Callable[..., Any]) -> Callable[..., Any]:
    # torch wraps an optimizer class's step with its hook runner the first time an instance is
    # built; our step is wrapped too, so call the base step without that wrapper, else every
    # step hook would run twice.
    return step.__wrapped__ if getattr(step, "hooked", False) else step  # type: ignore[attr-defined]


@torch.no_grad()
def apply_l1_prox(optimizer: torch.optim.Optimizer) -> None:
    """Soft-threshold every parameter with a gradient: ``p ← sign(p)·max(|p| − lr·l1, 0)``.

    Uses each group's ``lr`` and ``l1`` (missing ``l1`` → nothing). Called by the rnnlab
    optimizers after their gradient step; use it after any other optimizer's step.

    >>> p = torch.nn.Parameter(torch.tensor([0.5, -0.05, -2.0]))
    >>> p.grad = torch.zeros(3)
    >>> opt = torch.optim.SGD([{"params": [p], "l1": 1.0}], lr=0.1)
    >>> apply_l1_prox(opt)
    >>> p.data
    tensor([ 0.4000,  0.0000, -1.9000])
    """
    for g in optimizer.param_groups:
        l1 = g.get("l1", 0.0)
        if not l1:
            continue
        thr = float(g["lr"]) * float(l1)
        for p in g["params"]:
            if p.grad is None:
                continue
            p.sub_(p.clamp(-thr, thr))  # = sign(p)·max(|p| − thr, 0)


def _finish_init(opt: torch.optim.Optimizer, l1: float) -> None:
    opt.defaults["l1"] = check_nonneg(l1, "l1")
    opt.defaults.setdefault("lr_mult", 1.0)
    for g in opt.param_groups:
        g.setdefault("l1", opt.defaults["l1"])
        g.setdefault("lr_mult", 1.0)


class AdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` with per-group ``lr_mult`` and optional decoupled L1 decay ``l1``.

    Arguments are torch's (``lr``, ``betas``, ``eps``, ``weight_decay``, ``amsgrad``, ``maximize``,
    ``foreach``, ``capturable``, ``differentiable``, ``fused``) plus ``l1``. See the module
    docstring for the decay convention.

    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.zeros(2); opt.step()
    >>> w.data  # zero gradient: only the decay acts, 1 - 0.1*0.5
    tensor([0.9500, 0.9500])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        l1: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            _with_lr_mult(params, lr, weight_decay), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable, fused=fused,
        )
        _finish_init(self, l1)

    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        loss = _unhooked(torch.optim.AdamW.step)(self, closure)
        apply_l1_prox(self)
        return loss


class NAdamW(torch.optim.NAdam):
    """``torch.optim.NAdam(decoupled_weight_decay=True)`` with per-group ``lr_mult`` and ``l1``.

    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = NAdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = torch.zeros(2); opt.step()
    >>> w.data
    tensor([0.9500, 0.9500])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        momentum_decay: float = 4e-3,
        *,
        l1: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        super().__init__(
            _with_lr_mult(params, lr, weight_decay), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            momentum_decay=momentum_decay, decoupled_weight_decay=True, maximize=maximize,
            foreach=foreach, capturable=capturable, differentiable=differentiable,
        )
        _finish_init(self, l1)

    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        loss = _unhooked(torch.optim.NAdam.step)(self, closure)
        apply_l1_prox(self)
        return loss


class SGDW(torch.optim.SGD):
    """``torch.optim.SGD`` with decoupled weight decay, per-group ``lr_mult`` and ``l1``.

    Each step: ``p ← p·(1 − lr·weight_decay)`` for parameters with a gradient, then torch's SGD
    step (momentum, dampening, nesterov) on the unmodified gradient, then the L1 prox.

    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = SGDW([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    >>> w.grad = torch.ones(2); opt.step()
    >>> w.data  # 1 - 0.1*0.5*1 - 0.1*1
    tensor([0.8500, 0.8500])
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        l1: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            _with_lr_mult(params, lr, weight_decay), lr=lr, momentum=momentum, dampening=dampening,
            weight_decay=weight_decay, nesterov=nesterov, maximize=maximize, foreach=foreach,
            differentiable=differentiable, fused=fused,
        )
        _finish_init(self, l1)

    def step(self, closure: Callable[[], float] | None = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()  # the gradient is taken at the parameters before the decay
        with torch.no_grad():
            for g in self.param_groups:
                factor = 1.0 - float(g["lr"]) * float(g["weight_decay"])
                if factor != 1.0:
                    ps = [p for p in g["params"] if p.grad is not None]
                    if ps:
                        torch._foreach_mul_(ps, factor)
        decays = [g["weight_decay"] for g in self.param_groups]
        try:
            # torch's SGD would add weight_decay·p to the gradient (coupled L2): switch it off
            # for its step, the decoupled decay above replaces it.
            for g in self.param_groups:
                g["weight_decay"] = 0.0
            _unhooked(torch.optim.SGD.step)(self)
        finally:
            for g, wd in zip(self.param_groups, decays, strict=True):
                g["weight_decay"] = wd
        apply_l1_prox(self)
        return loss


def normalized_weight_decay(
    lambda_norm: float,
    total_iterations: int | None = None,
    *,
    batch_size: int | None = None,
    train_size: int | None = None,
    epochs: float | None = None,
) -> float:
    """Normalized weight decay (Loshchilov & Hutter, "Decoupled weight decay regularization").

    Two equivalent forms; give exactly one:

    * ``λ = λ_norm · sqrt(1 / total_iterations)`` — ``total_iterations`` weight updates;
    * ``λ = λ_norm · sqrt(b / (B · T))`` — the paper's form, with batch size ``b``
      (``batch_size``), ``B`` training points (``train_size``) and ``T`` epochs (``epochs``).

    They agree because ``B·T/b`` is the number of updates. With warm restarts the paper uses
    the length of the current run (``T_i`` epochs). The result is a λ in the same units as
    ``λ_norm``; with rnnlab's / torch's convention (decay scaled by lr) use it as
    ``weight_decay``, or divide the paper's λ by the base lr α to match its convention exactly.

    >>> normalized_weight_decay(0.05, 10_000)
    0.0005
    >>> normalized_weight_decay(0.05, batch_size=100, train_size=50_000, epochs=20)
    0.0005
    """
    lam = check_nonneg(lambda_norm, "lambda_norm")
    paper = (batch_size, train_size, epochs)
    if total_iterations is not None:
        if any(v is not None for v in paper):
            raise ValueError(
                "normalized_weight_decay: give either total_iterations or batch_size, train_size "
                f"and epochs, got total_iterations={total_iterations!r} and batch_size={batch_size!r}, "
                f"train_size={train_size!r}, epochs={epochs!r}"
            )
        n = _positive(total_iterations, "total_iterations")
        return lam * math.sqrt(1.0 / n)
    if any(v is None for v in paper):
        raise ValueError(
            "normalized_weight_decay: give total_iterations, or all of batch_size, train_size and "
            f"epochs; got batch_size={batch_size!r}, train_size={train_size!r}, epochs={epochs!r}"
        )
    b = _positive(batch_size, "batch_size")
    big_b = _positive(train_size, "train_size")
    t = _positive(epochs, "epochs")
    return lam * math.sqrt(b / (big_b * t))


def _positive(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number > 0, got {value!r}")
    return float(value)
