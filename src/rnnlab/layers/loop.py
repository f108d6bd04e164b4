"""The one time loop that every cell of rnnlab runs through.

A *step* computes one timestep of one layer and direction::

    step(x_t, state, h_fed, t) -> (y_t or None, new_state)

``x_t`` is the (pre-projected) input of step t, ``state`` a tuple of state tensors, ``h_fed`` the
first state tensor as fed back through the recurrent weights (``state[0]`` times the
recurrent-dropout mask). The loop owns everything that is the same for every cell:

* recurrent dropout: one mask per sequence, the same at every timestep (variational, Gal &
  Ghahramani 2016), applied to the state that is fed back only — the stored state is undropped;
* zoneout (Krueger et al. 2017): in training each unit keeps its previous value with probability
  p, drawn anew every step; in eval the state is the expectation ``p·old + (1−p)·new``
  (deterministic);
* variable lengths: past its length a sequence's state is carried unchanged and its output is 0,
  so the final state is the state at its last real step;
* the direction: the reverse direction runs on each sequence reversed within its length.

A step that returns ``None`` as output makes the loop output the (zoned-out) new first state, as
the built-in cells do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnlab.layers.sequence import reverse_index, reverse_time

State = tuple[Tensor, ...]
Step = Callable[[Tensor, State, Tensor, int], tuple[Tensor | None, State]]


def variational_mask(shape: Sequence[int], p: float, like: Tensor) -> Tensor:
    """A dropout mask with keep probability 1−p, scaled by 1/(1−p) (inverted dropout)."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p).div_(1.0 - p)


def time_loop(
    step: Step,
    xs: Tensor,
    state: State,
    *,
    feed_mask: Tensor | None = None,
    zoneout: Sequence[float] | None = None,
    training: bool = False,
    valid: Tensor | None = None,
) -> tuple[Tensor, State]:
    """Run ``step`` over the time-major inputs ``xs [T, B, ...]`` from ``state``.

    Args:
        feed_mask: recurrent-dropout mask multiplied into ``state[0]`` before it is fed back.
        zoneout: one probability per state tensor (0 for none).
        valid: ``[T, B, 1]`` bool mask of real steps (None: all steps real).

    Returns:
        ``(outputs [T, B, ...], final_state)``.
    """
    zo = [float(p) for p in zoneout] if zoneout is not None and any(zoneout) else None
    if zo is not None and len(zo) != len(state):
        raise ValueError(f"zoneout: expected {len(state)} probabilities (one per state tensor), got {len(zo)}")
    outputs = []
    for t, x_t in enumerate(xs.unbind(0)):
        h_fed = state[0] * feed_mask if feed_mask is not None else state[0]
        y, new = step(x_t, state, h_fed, t)
        if zo is not None:
            new = tuple(_zoneout(o, n, p, training) for o, n, p in zip(state, new, zo))
        if valid is not None:
            v = valid[t]
            new = tuple(torch.where(_fit(v, n), n, o) for o, n in zip(state, new))
        if y is None:
            y = new[0]
        if valid is not None:
            y = y * _fit(valid[t], y)
        outputs.append(y)
        state = new
    return torch.stack(outputs), state


def run_direction(
    step: Step,
    xs: Tensor,
    state: State,
    *,
    reverse: bool,
    lengths: Tensor | None,
    valid: Tensor | None,
    feed_mask: Tensor | None = None,
    zoneout: Sequence[float] | None = None,
    training: bool = False,
) -> tuple[Tensor, State]:
    """:func:`time_loop` in one direction; the reverse direction sees each sequence reversed
    within its own length and its outputs are put back in forward time order."""
    if not reverse:
        return time_loop(step, xs, state, feed_mask=feed_mask, zoneout=zoneout, training=training, valid=valid)
    idx = reverse_index(lengths, xs.shape[0], xs.device)
    out, final = time_loop(
        step, reverse_time(xs, idx), state, feed_mask=feed_mask, zoneout=zoneout, training=training, valid=valid
    )
    return reverse_time(out, idx), final


def _fit(v: Tensor, like: Tensor) -> Tensor:
    # valid[t] is [B, 1]; custom cells may have states [B, C, L, ...]
    return v.view(v.shape[0], *([1] * (like.dim() - 1))) if like.dim() != v.dim() else v


def _zoneout(old: Tensor, new: Tensor, p: float, training: bool) -> Tensor:
    if p == 0.0:
        return new
    if not training:
        return torch.lerp(new, old, p)
    keep = torch.empty_like(new).bernoulli_(p).bool()
    return torch.where(keep, old, new)
