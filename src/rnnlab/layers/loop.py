"""The time loop of rnnlab, and what every cell shares around it.

A *step* computes one timestep of one layer and direction::

    step(x_t, state, h_fed, t) -> (y_t or None, new_state)

``x_t`` is the (pre-projected) input of step t, ``state`` a tuple of state tensors, ``h_fed`` the
first state tensor as fed back through the recurrent weights (``state[0]`` times the
recurrent-dropout mask). Around the step, the loop applies what is the same for every cell:

* recurrent dropout: one mask per sequence, the same at every timestep (variational, Gal &
  Ghahramani 2016), on the state that is fed back only — the stored state is undropped;
* *keep* weights per state tensor and step (:func:`keep_weights`): the new state is
  ``lerp(new, old, keep)``. Zoneout (Krueger et al. 2017) keeps a unit with probability p in
  training (keep ∈ {0, 1}, drawn anew every step) and uses the expectation in eval (keep = p,
  deterministic); past a sequence's length keep = 1, so the state is carried unchanged and the
  final state is the state at the last real step;
* the direction: the reverse direction runs on each sequence reversed within its length.

:func:`time_loop` runs any differentiable step under autograd (custom cells, normalization,
custom activations). The built-in cells' common cases run the same recurrence with a hand-written
backward (:mod:`rnnlab.layers.fast`), fed the same masks drawn in the same order, so the two
agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from rnnlab.layers.sequence import reverse_index, reverse_time

State = tuple[Tensor, ...]
Step = Callable[[Tensor, State, Tensor, int], tuple[Tensor | None, State]]
#: ``loop(xs, state, keep) -> (outputs [T, B, ...], final_state)`` in forward time order of xs
Loop = Callable[[Tensor, State, list[Tensor | None]], tuple[Tensor, State]]


def variational_mask(shape: Sequence[int], p: float, like: Tensor) -> Tensor:
    """A dropout mask with keep probability 1−p, scaled by 1/(1−p) (inverted dropout)."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(1.0 - p).div_(1.0 - p)


def bernoulli_fast(shape: Sequence[int], p: float, like: Tensor) -> Tensor:
    """A {0, 1} tensor, 1 with probability p quantized to 1/65536 (exact for 0 and 1).

    Four 16-bit draws per 64-bit random word (:func:`random_words`): on CPU about 8× faster than
    ``bernoulli_``, which matters for zoneout's T × B × H draws per layer.
    """
    n = 1
    for d in shape:
        n *= int(d)
    count = round(p * 65536)  # P(uint16 value < count) = count / 65536
    if count >= 65536:
        return torch.ones(shape, dtype=like.dtype, device=like.device)
    bits = random_words((n + 3) // 4, like.device).view(torch.int16)[:n].view(*shape)  # uniform int16
    # Comparing straight into a float tensor is ~3× faster than a bool result converted after.
    return torch.lt(bits, count - 32768, out=torch.empty(shape, dtype=like.dtype, device=like.device))


def random_words(count: int, device: torch.device) -> Tensor:
    """``count`` uniformly random int64 words.

    On CPU they come from NumPy's PCG64, seeded with one draw from torch's generator (so
    ``torch.manual_seed`` governs them): about twice as fast as ``torch.randint``, which matters
    for zoneout's T × B × H draws. Elsewhere (CUDA) :func:`device_words` makes them on the device.

    >>> _ = torch.manual_seed(0)
    >>> a = random_words(3, torch.device("cpu"))
    >>> _ = torch.manual_seed(0)
    >>> torch.equal(a, random_words(3, torch.device("cpu")))
    True
    """
    if device.type != "cpu":
        return device_words(count, device)
    seed = int(torch.randint(0, 2**62, ()))
    info = np.iinfo(np.int64)
    words = np.random.Generator(np.random.PCG64(seed)).integers(info.min, info.max, count, np.int64, endpoint=True)
    return torch.from_numpy(words)


def device_words(count: int, device: torch.device) -> Tensor:
    """``count`` uniformly random int64 words from the device's own torch generator, made where
    they are used (no host draw, no copy): :func:`random_words` off the CPU.

    >>> device_words(2, torch.device("cpu")).dtype
    torch.int64
    """
    # randint's high is exclusive: 2**63 - 1 is never drawn, a bias of 2**-63 per word.
    return torch.randint(-(2**63), 2**63 - 1, (count,), dtype=torch.int64, device=device)


def keep_weights(
    state: State, steps: int, zoneout: Sequence[float], training: bool, valid: Tensor | None
) -> list[Tensor | None]:
    """Per state tensor, the weights ``[T, *state.shape]`` of the old state in
    ``lerp(new, old, keep)`` (None where every step takes the new state)."""
    if len(zoneout) != len(state):
        raise ValueError(f"zoneout: expected {len(state)} probabilities (one per state tensor), got {len(zoneout)}")
    out: list[Tensor | None] = []
    for s, p in zip(state, zoneout):
        if p == 0.0 and valid is None:
            out.append(None)
            continue
        shape = (steps, *s.shape)
        if p == 0.0:
            k = s.new_zeros(shape)
        elif training:
            k = bernoulli_fast(shape, p, s)
        else:
            k = s.new_full(shape, p)
        if valid is not None:
            k = torch.where(valid.view(steps, -1, *([1] * (s.dim() - 1))), k, 1.0)
        out.append(k)
    return out


def time_loop(
    step: Step,
    xs: Tensor,
    state: State,
    keep: list[Tensor | None],
    feed_mask: Tensor | None,
    probe: list[Tensor] | None = None,
) -> tuple[Tensor, State]:
    """Run ``step`` over the time-major inputs ``xs [T, B, ...]`` from ``state`` under autograd.

    Returns ``(outputs [T, B, ...], final_state)``; outputs at padded steps are not zeroed here.
    ``probe`` receives, every step, the first state tensor after zoneout and lengths — the one
    tensor that feeds both the output and the next step, so its gradient is the total
    dLoss/dh_t (see :meth:`rnnlab.RecurrentBase.recording_states`).
    """
    outputs = []
    xs_t = xs.unbind(0)  # unbind, not xs[t]: indexing in the loop makes backward O(T²)
    keep_t = [k.unbind(0) if k is not None else None for k in keep]
    for t, x_t in enumerate(xs_t):
        h_fed = state[0] * feed_mask if feed_mask is not None else state[0]
        y, new = step(x_t, state, h_fed, t)
        # (zip: a step returns as many state tensors as it is given — the built-in steps by
        # construction, a user's cell checked once by Recurrent — so no per-step check here)
        new = tuple(n if k is None else torch.lerp(n, o, k[t]) for o, n, k in zip(state, new, keep_t))
        if probe is not None:
            probe.append(new[0])
        outputs.append(new[0] if y is None else y)
        state = new
    return torch.stack(outputs), state


def run_direction(
    loop: Loop,
    xs: Tensor,
    state: State,
    *,
    reverse: bool,
    lengths: Tensor | None,
    valid: Tensor | None,
    zoneout: Sequence[float],
    training: bool,
) -> tuple[Tensor, State]:
    """Run ``loop`` in one direction and zero the outputs past each length.

    The reverse direction sees each sequence reversed within its own length; its outputs are
    put back in forward time order. Keep weights are drawn here, after the reversal, so both
    directions consume random numbers in the same order whichever loop runs.
    """
    idx = reverse_index(lengths, xs.shape[0], xs.device) if reverse else None
    if reverse:
        xs = reverse_time(xs, idx)
    keep = keep_weights(state, xs.shape[0], zoneout, training, valid)
    out, final = loop(xs, state, keep)
    if valid is not None:  # (selection: what a padded step computed never reaches a valid one)
        out = torch.where(valid.view(*valid.shape[:2], *([1] * (out.dim() - 2))), out, out.new_zeros(()))
    if reverse:
        out = reverse_time(out, idx)
    return out, final


@contextmanager
def recording_into(owner: object, attr: str, record: dict) -> Iterator[dict]:
    """``owner.<attr>`` set to ``record`` inside the block, what it held before put back after it
    (a recording inside another keeps the outer one's): how a layer's ``recording_gates`` and
    ``recording_states`` hand the time loop where to keep what it records.

    >>> class Layer: _record = None
    >>> layer = Layer()
    >>> with recording_into(layer, "_record", {}) as kept:
    ...     layer._record is kept
    True
    >>> layer._record is None
    True
    """
    previous = getattr(owner, attr)
    setattr(owner, attr, record)
    try:
        yield record
    finally:
        setattr(owner, attr, previous)
