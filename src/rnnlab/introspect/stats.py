"""Statistics of weights, gradients and activations: plain functions on tensors.

Every function takes a ``torch.Tensor`` (numpy arrays are accepted too) and returns a tensor or a
Python number. Axes are documented per function; none of them loops over elements in Python.

Example:
    >>> import torch
    >>> w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    >>> channel_norms(w)
    tensor([5., 1.])
    >>> norm_summary(channel_norms(w))
    {'mean': 3.0, 'max': 5.0, 'min': 1.0}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab._checks import did_you_mean

#: Saturation bounds of the activations known to :func:`saturation_fraction`.
SATURATION_BOUNDS: dict[str, tuple[float, float]] = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}


def _tensor(t: Any, arg: str) -> Tensor:
    if isinstance(t, Tensor):
        return t.detach()
    if isinstance(t, (np.ndarray, list, tuple, float, int)):
        return torch.as_tensor(np.asarray(t))
    raise TypeError(f"{arg}: expected a torch.Tensor or numpy array, got {type(t).__name__}")


def _float(t: Tensor) -> Tensor:
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def channel_norms(
    t: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None
) -> Tensor:
    """Norm of each channel of ``t``.

    By default channels are the output channels, dim 0 (rows of a weight ``[out, in]``, entries of
    a bias ``[out]``), and the norm runs over all remaining dims; the result has shape
    ``[t.shape[0]]``. ``dim`` names the reduced dims explicitly, so any axis can be the channel
    axis: ``channel_norms(w, dim=0)`` gives the norm of each *input* column of ``w``. ``ord`` is
    the vector-norm order (1, 2, ``float("inf")``, ...).

    >>> channel_norms(torch.tensor([[1.0, -2.0], [3.0, 0.0]]), ord=1)
    tensor([3., 3.])
    >>> channel_norms(torch.tensor([[3.0, 0.0], [4.0, 1.0]]), dim=0)
    tensor([5., 1.])
    >>> channel_norms(torch.tensor([-2.0, 0.5]))  # a bias: one value per channel
    tensor([2.0000, 0.5000])
    """
    t = _float(_tensor(t, "t"))
    if dim is None:
        if t.dim() == 0:
            raise ValueError("t: expected a tensor with a channel dim (>= 1 dim), got a scalar")
        if t.dim() == 1:
            # A norm over no dims is the magnitude of each entry (vector_norm(dim=()) reduces all).
            return t.abs()
        dim = tuple(range(1, t.dim()))
    elif isinstance(dim, int):
        dim = (dim,)
    else:
        dim = tuple(dim)
    for d in dim:
        if not -t.dim() <= d < t.dim():
            raise ValueError(f"dim: expected dims of a {t.dim()}-d tensor, got {d}")
    if len(dim) == 0:
        return t.abs()
    return torch.linalg.vector_norm(t, ord=ord, dim=dim)


def norm_summary(norms: Tensor) -> dict[str, float]:
    """Mean, max and min of a vector of norms (one device→host transfer).

    >>> norm_summary(torch.tensor([1.0, 2.0, 6.0]))
    {'mean': 3.0, 'max': 6.0, 'min': 1.0}
    """
    n = _float(_tensor(norms, "norms")).reshape(-1)
    if n.numel() == 0:
        raise ValueError("norms: expected at least one value, got an empty tensor")
    mean, mx, mn = torch.stack([n.mean(), n.max(), n.min()]).tolist()
    return {"mean": mean, "max": mx, "min": mn}


def dead_fraction(acts: Tensor, threshold: float = 0.0, channel_dim: int = -1) -> float:
    """Fraction of channels whose activation is never above ``threshold`` (dead ReLU units).

    ``acts`` holds activations with the channel axis at ``channel_dim`` (default last, e.g.
    ``[B, T, C]``); a channel is dead when every value over all other dims is ``<= threshold``
    (NaN counts as not above).

    >>> a = torch.tensor([[0.0, 1.0, -1.0], [0.0, 0.0, -2.0]])  # [B=2, C=3]
    >>> round(dead_fraction(a), 4)
    0.6667
    """
    a = _tensor(acts, "acts")
    if a.dim() == 0:
        raise ValueError("acts: expected a tensor with a channel dim, got a scalar")
    if not -a.dim() <= channel_dim < a.dim():
        raise ValueError(f"channel_dim: expected a dim of a {a.dim()}-d tensor, got {channel_dim}")
    per_channel = a.movedim(channel_dim, 0).reshape(a.shape[channel_dim], -1)
    if per_channel.numel() == 0:
        raise ValueError(f"acts: expected values, got an empty tensor of shape {tuple(a.shape)}")
    alive = (per_channel > threshold).any(dim=1)
    return 1.0 - alive.float().mean().item()


def saturation_fraction(acts: Tensor, kind: str = "tanh", eps: float = 0.05) -> float:
    """Fraction of values within ``eps`` of the saturation bounds of an activation.

    ``acts`` are values *after* the nonlinearity, any shape. ``kind="tanh"``: ``|x| >= 1 - eps``;
    ``kind="sigmoid"``: ``x <= eps`` or ``x >= 1 - eps`` (a gate stuck shut or open).

    >>> saturation_fraction(torch.tensor([0.99, -0.97, 0.1, 0.5]), "tanh")
    0.5
    >>> saturation_fraction(torch.tensor([0.01, 0.5, 0.999, 0.3]), "sigmoid")
    0.5
    """
    if kind not in SATURATION_BOUNDS:
        raise ValueError(
            f"kind: expected one of {sorted(SATURATION_BOUNDS)}, got {kind!r}"
            f"{did_you_mean(str(kind), SATURATION_BOUNDS)}"
        )
    if not 0 <= eps < 1:
        raise ValueError(f"eps: expected 0 <= eps < 1, got {eps}")
    a = _float(_tensor(acts, "acts"))
    if a.numel() == 0:
        raise ValueError("acts: expected values, got an empty tensor")
    lo, hi = SATURATION_BOUNDS[kind]
    sat = (a <= lo + eps) | (a >= hi - eps)
    return sat.float().mean().item()


def zero_fraction(t: Tensor) -> float:
    """Fraction of entries exactly equal to zero.

    >>> zero_fraction(torch.tensor([0.0, 1.0, 0.0, 2.0]))
    0.5
    """
    a = _tensor(t, "t")
    if a.numel() == 0:
        raise ValueError("t: expected values, got an empty tensor")
    return (a == 0).float().mean().item()


def nonfinite_count(t: Tensor) -> int:
    """Number of NaN or ±inf entries.

    >>> nonfinite_count(torch.tensor([1.0, float("nan"), float("inf")]))
    2
    """
    a = _tensor(t, "t")
    if not a.is_floating_point() and not a.is_complex():
        return 0
    return int((~torch.isfinite(a)).sum().item())


def _per_timestep(g_t: Tensor) -> Tensor:
    g = _tensor(g_t, "g_t").to(torch.float64)
    if g.dim() != 1:
        raise ValueError(
            f"g_t: expected a 1-D per-timestep magnitude [T], got shape {tuple(g.shape)} "
            "(take the mean magnitude over channels first, e.g. abs(grad).mean(axis=1): a signed mean cancels)"
        )
    if g.numel() == 0:
        raise ValueError("g_t: expected at least one timestep, got an empty tensor")
    return g.abs()


def gradient_reach(g_t: Tensor, rel: float = 1e-3) -> int:
    """How many timesteps back from the last the gradient reaches before it vanishes.

    ``g_t`` is a 1-D per-timestep magnitude ``[T]`` (e.g. mean |dLoss/dh_t| over channels), index
    ``T-1`` is the last step. Returns the smallest ``k`` such that ``|g[T-1-k]| < rel * |g[T-1]|``,
    or ``T`` if it never falls that low (a last value of 0 is never undercut, so gives ``T``).

    >>> gradient_reach(torch.tensor([1e-5, 1e-4, 1e-2, 1e-1, 1.0]))  # 1e-4 < 1e-3: 3 steps back
    3
    >>> gradient_reach(torch.ones(6))
    6
    """
    if not rel > 0:
        raise ValueError(f"rel: expected a positive factor, got {rel}")
    g = _per_timestep(g_t)
    back = g.flip(0)  # back[k] = g[T-1-k]
    below = back < rel * back[0]
    if not bool(below.any()):
        return int(g.numel())
    return int(below.to(torch.int8).argmax().item())


def decay_rate(g_t: Tensor) -> float:
    """Per-step geometric factor of ``|g|`` going back in time, from a log-linear fit.

    Fits ``log|g[T-1-k]| = c + k * log(r)`` by least squares over the steps with a finite,
    non-zero value and returns ``r``: ``r < 1`` the gradient vanishes going back, ``r > 1`` it
    explodes. NaN when fewer than two steps are usable.

    >>> round(decay_rate(0.5 ** torch.arange(9.0, -1.0, -1.0)), 6)  # g[t] = 0.5^(T-1-t)
    0.5
    """
    g = _per_timestep(g_t)
    back = g.flip(0)
    k = torch.arange(back.numel(), dtype=torch.float64)
    ok = torch.isfinite(back) & (back > 0)
    if int(ok.sum()) < 2:
        return math.nan
    k, y = k[ok], back[ok].log()
    kc = k - k.mean()
    slope = (kc * (y - y.mean())).sum() / (kc * kc).sum()
    return math.exp(slope.item())
