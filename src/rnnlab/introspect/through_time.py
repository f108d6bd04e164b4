"""Gradient through time: |dLoss/dh_t| per timestep and channel for every recurrent layer.

``h_t`` is the hidden state of one layer and direction after step ``t``, and the derivative is the
*total* one: it includes every path from ``h_t`` to the loss — through the layer's output at
``t``, through the next layer at ``t``, and through all later steps of the recurrence. This is
what tells how far back in time a learning signal reaches (vanishing: it shrinks going back;
exploding: it grows).

Variable lengths (packed input, or ``lengths=``): each sequence is measured back from its own last
valid step (:class:`GradThroughTime`'s rows count steps before each sequence's end, not
timesteps), as that sequence measured alone would be; a batch of equal lengths gives what it gives
without lengths. With a loss at each sequence's end (a head on its last valid output or on
``h_n``; for per-step targets the doctor follows that loss,
:func:`rnnlab.doctor.run.through_time_loss`), the reach read back from the last row is then the
sequences' own. With a loss at every step (per-step targets measured on their whole loss) the
row ``k`` steps back holds each sequence's own loss term there plus the ``k`` later steps'
reaching back to it: the same number for every sequence, so the rise over the last rows says how
many later steps reach a step (by timestep, a row would mix sequences with different numbers of
later steps), and, as ever with such a loss, it says nothing of a reach. A sequence whose loss
reads it before its last valid step (per-step targets whose last steps are unscored) is counted
from its last valid step all the same, as it would be measured alone.

How: every step's ``h_t`` must be a single tensor that feeds both the output and the next step;
``torch.autograd.grad`` of the loss with respect to these tensors is then exactly the total
derivative. Parameters' ``.grad`` are not touched.

The model runs in the mode it is in and is left as it was
(:func:`~rnnlab.introspect.modules.untouched`): its buffers, every module's training flag,
parameters and their ``.grad``, and torch's random state. In training mode the derivative is that
of a training step: batch norms use the batch's statistics (without moving the model's running
statistics), and dropout and zoneout draw their own masks from a fork of torch's random state
(the masks the next forward pass would draw; the caller's stream goes on unchanged). Call
``model.eval()`` first for the derivative of the model as it predicts.

* rnnlab layers (``rnnlab.LSTM``/``GRU``/``RNN``/``IndRNN``) keep these tensors themselves
  (:meth:`rnnlab.layers.base.RecurrentBase.recording_states`), in every configuration: stacked,
  bidirectional, residual, layer or recurrent batch norm, dropout, zoneout, packed or padded.
  The forward pass is the layer's own, so training mode gives the derivative of that very pass.
* torch's fused kernels hide ``h_t``: while the model runs, ``nn.LSTM``/``nn.GRU``/``nn.RNN``
  run as their rnnlab twin (:func:`rnnlab.layers.twin.twin_of`: the same weights, every
  configuration, packed or padded input), which keeps them as rnnlab layers do (a forward hook
  replaces the module's output with the twin's). An ``nn.LSTM`` with ``proj_size``, which has
  no twin, is re-run one timestep at a time on the same weights (in training mode the re-run
  draws its own dropout masks between layers: run the model in ``eval()`` mode for a
  deterministic answer).
* ``rnnlab.Recurrent`` runs its own forward pass, in every configuration (zoneout, recurrent
  and input dropout, bidirectional, packed or padded), in training mode with the very masks of
  that pass (one recurrent dropout mask per sequence, zoneout's draws per step). What is
  recorded as ``h_t`` depends on the cell, per direction:

  - a cell that declares ``output_is_state = True`` (:class:`rnnlab.cells.StateAsOutput`):
    the first state tensor after zoneout and lengths, kept by the layer itself
    (``Recurrent.recording_states``, the mechanism of the built-in layers). It is the layer's
    output at ``t`` and the state carried on, so ``Recurrent(StateAsOutput(nn.LSTMCell(...)),
    zoneout=p)`` measures exactly what ``rnnlab.LSTM(..., zoneout=p)`` does.
  - any other cell: a forward hook on the cell takes the first tensor of each step's new state
    as the cell returns it, which the cell must also return as its output ``y_t`` (else a
    ValueError: a cell with a read-out). That tensor is the layer's output at ``t`` and reaches
    the state carried on through zoneout's mix with the old state (and recurrent dropout's mask
    where it is fed back), so its gradient is the total derivative with respect to the cell's
    new state *before* zoneout. Under zoneout the state carried on, ``lerp(h_t, h_{t-1},
    keep)``, is another tensor, which is not recorded; without zoneout they are one tensor.

Example:
    >>> import torch
    >>> model = torch.nn.LSTM(3, 4, batch_first=True)
    >>> x = torch.randn(2, 6, 3)
    >>> gtt = grad_through_time(model, x, lambda out: out[0][:, -1].sum())
    >>> gtt[""].grad.shape  # [T, C]
    (6, 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.gates import DIRECTIONS, kind_of
from rnnlab.introspect.batch import compute_loss, split_batch
from rnnlab.introspect.keyed import Keyed
from rnnlab.introspect.modules import module_names, recurrent_modules, untouched
from rnnlab.introspect.stats import decay_rate, gradient_reach
from rnnlab.layers import RecurrentBase
from rnnlab.layers.sequence import SequenceBatch, prepare_input, reverse_index, reverse_time
from rnnlab.layers.twin import twin_of

#: The share of a batch's sequences that must have a step k before their end for the mean there
#: to be read (:func:`enough_sequences`).
HELD_SHARE = 0.1


def enough_sequences(sequences: int) -> int:
    """How many of a batch's ``sequences`` must have a step k before their own end for
    :func:`grad_through_time` to keep the mean there: a tenth of them (:data:`HELD_SHARE`), at
    least one. Further back, where only a few long sequences reach, the mean is theirs, not the
    batch's, and a reach read there would be theirs.

    >>> enough_sequences(3), enough_sequences(20), enough_sequences(64)
    (1, 2, 7)
    """
    return max(1, math.ceil(HELD_SHARE * sequences))


def held_said(held: np.ndarray, read: int) -> str:
    """Over how many sequences a curve counted back from each sequence's end averages, in words:
    ``held[k]`` sequences have a step ``k`` before their end (:attr:`GradThroughTime.held`), and
    the curve reads the first ``read`` of those steps.

    >>> held_said(np.array([64, 60, 9, 5]), 3)
    "counted back from each sequence's own last step, the mean k steps back over the sequences that long: all 64 at the last step, 9 at the furthest read, 2 steps back; 3 steps back, which fewer than 7 sequences reach, not read"
    """
    held = np.asarray(held)
    said = (f"counted back from each sequence's own last step, the mean k steps back over the sequences that long: "
            f"all {int(held[0])} at the last step")
    if read > 1:
        said += f", {int(held[read - 1])} at the furthest read, {read - 1} step{'s' if read != 2 else ''} back"
    if read < len(held):
        span = f"{read} step{'s' if read != 1 else ''}" if read == len(held) - 1 else f"{read}–{len(held) - 1} steps"
        said += (f"; {span} back, which fewer than {enough_sequences(int(held[0]))} sequences reach, "
                 "not read")
    return said


def _before_the_end(g: Tensor, valid: Tensor, direction: str) -> tuple[Tensor, np.ndarray | None]:
    """``g [T, B, ...]`` (forward time order) averaged over the sequences per step before each
    one's own end (:class:`GradThroughTime`), in forward time order, and how many sequences hold
    each step back (None: all equally long). ``valid [T, B]`` is each sequence's first ``length``
    steps."""
    lengths = valid.sum(dim=0)
    longest = int(lengths.max())
    back = torch.arange(longest, device=g.device)[:, None]  # [L, 1]: steps before the end
    holds = back < lengths[None, :]
    # (the reverse direction ends at t = 0 in every sequence: k steps before its end is t = k)
    t = lengths[None, :] - 1 - back if direction == "forward" else back.expand_as(holds)
    at = t.clamp_min(0).view(*t.shape, *([1] * (g.dim() - 2))).expand(longest, *g.shape[1:])
    v = holds.view(*holds.shape, *([1] * (g.dim() - 2))).to(g.dtype)
    m = (g.gather(0, at) * v).sum(dim=1) / v.sum(dim=1)
    held = holds.sum(dim=1).cpu().numpy()
    if bool((lengths[lengths > 0] == longest).all()):
        held_or_none = None  # (equally long: a step back is a timestep, as without lengths)
    else:
        m = m[: int((held >= enough_sequences(int(held[0]))).sum())]
        held_or_none = held
    return (m.flip(0) if direction == "forward" else m), held_or_none


@dataclass
class GradThroughTime:
    """Gradient through time of one recurrent module.

    ``layers[(layer, direction)]`` is ``[T, H]``: mean over the batch of ``|dLoss/dh_t|`` per
    timestep ``t`` (forward time order, also for the reverse direction) and hidden channel
    (``[T, *state_shape]`` for a custom cell with a larger state, e.g. ``[T, C, L]``).

    With variable lengths (packed, or ``lengths=``) a row is a number of steps before each
    sequence's *own* end, not a timestep: the last row is every sequence's last valid step, the
    row ``k`` above it each sequence's step ``k`` before that, averaged over the sequences that
    long (for the reverse direction, whose every sequence ends at ``t = 0``, row ``k`` is step ``k``
    of each). So reach and decay, read back from the last row, measure each sequence from where
    its loss reads it, as the sequences measured one by one would: lined up by timestep, a long
    sequence's early steps would sit beside shorter ones' last steps, whose gradient is large,
    and the reach would read as long as the longest sequence. ``held[k]``: how many sequences have
    a step ``k`` before their end (``held[0]`` all of them), up to the longest sequence; the rows
    run back only as far as :func:`enough_sequences` of them hold a step (``T`` may be shorter
    than ``held``: the steps further back, a handful of long sequences', are left out). ``held``
    is None where every sequence is equally long: a row is then the timestep ``t`` as well.

    >>> from torch.nn.utils.rnn import pack_sequence
    >>> x = pack_sequence([torch.randn(n, 2) for n in [6] + [4] * 10], enforce_sorted=False)
    >>> g = grad_through_time(torch.nn.GRU(2, 3), x, lambda out: out[1].sum())[""]
    >>> g.held.tolist(), g.timesteps  # (4 and 5 steps back: 1 sequence of 11 has them, left out)
    ([11, 11, 11, 11, 1, 1], 4)
    """

    module: str
    kind: str | None
    num_layers: int
    directions: tuple[str, ...]
    layers: dict[tuple[int, str], np.ndarray]
    held: np.ndarray | None = None

    @property
    def grad(self) -> np.ndarray:
        """``[T, C]`` of the top layer, directions concatenated along C like the module output
        (forward channels first)."""
        top = self.num_layers - 1
        return np.concatenate([self.layers[(top, d)] for d in self.directions], axis=1)

    @property
    def timesteps(self) -> int:
        """The rows: the steps measured back from the last one (see ``held`` for variable lengths)."""
        return next(iter(self.layers.values())).shape[0]

    def held_said(self) -> str | None:
        """Over how many sequences the rows average, in words (:func:`held_said`); None where every
        sequence is equally long."""
        return None if self.held is None else held_said(self.held, self.timesteps)

    def _key(self, layer: int, direction: str) -> tuple[int, str]:
        """``(layer, direction)`` of ``layers``; ``layer`` may count from the top (-1: top layer)."""
        n = self.num_layers
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"layer: expected an int, got {type(layer).__name__} {layer!r}")
        # Out of range would otherwise wrap around (layer=2 of 2 layers read as layer 0).
        if not -n <= layer < n:
            raise ValueError(
                f"layer: expected 0..{n - 1} (or -{n}..-1 counting from the top; the module has "
                f"{n} layer{'s' if n != 1 else ''}), got {layer!r}"
            )
        layer = int(layer) % n
        if (layer, direction) not in self.layers:
            raise KeyError(
                f"direction: expected one of {list(self.directions)} for layer {layer}, got {direction!r}"
            )
        return layer, direction

    def per_timestep(self, layer: int = -1, direction: str = "forward") -> np.ndarray:
        """``[T]``: mean over channels of ``|dLoss/dh_t|`` of one layer and direction.

        ``layer`` is 0 (bottom) to ``num_layers - 1``, or negative counting from the top (-1, the
        default, is the top layer); anything else is a ValueError.
        """
        g = self.layers[self._key(layer, direction)]
        return np.nanmean(g.reshape(g.shape[0], -1), axis=1)

    def _processing_order(self, layer: int, direction: str) -> np.ndarray:
        # The reverse direction's last step is t = 0: reach and decay run in processing order.
        g = self.per_timestep(layer, direction)
        return g[::-1].copy() if direction == "reverse" else g

    def reach(self, rel: float = 1e-3, layer: int = -1, direction: str = "forward") -> int:
        """Steps back from the last processed step until the gradient falls below ``rel`` × its
        last value (see :func:`rnnlab.introspect.stats.gradient_reach`)."""
        return gradient_reach(np.nan_to_num(self._processing_order(layer, direction)), rel)

    def decay(self, layer: int = -1, direction: str = "forward") -> float:
        """Fitted per-step factor going back in time (see :func:`rnnlab.introspect.stats.decay_rate`)."""
        return decay_rate(np.nan_to_num(self._processing_order(layer, direction)))


@dataclass
class _Record:
    module: nn.Module
    num_layers: int
    probes: dict[tuple[int, str], list[Tensor]]  # (layer, direction) -> T tensors [B, H, ...]
    valid: Tensor | None  # [T, B] bool
    # rnnlab's recording lists the reverse direction in processing order (each sequence reversed
    # within its length); the re-run lists every direction in forward time order.
    reverse_in_processing_order: bool = False
    lengths: Tensor | None = None


def _call_args(module: nn.Module, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    # torch: forward(input, hx); rnnlab layers: (input, hx, lengths); Recurrent: (input, state, lengths)
    names = ("input", "hx", "lengths")
    vals = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        key = "hx" if k == "state" else k
        if key not in names:
            raise TypeError(f"{type(module).__name__}: unexpected keyword {k!r} in the forward call")
        vals[key] = v
    return vals.get("input"), vals.get("hx"), vals.get("lengths")


def _is_custom(module: nn.Module) -> bool:
    return getattr(module, "kind", None) == "custom" and hasattr(module, "cell")


def _custom_cells(module: nn.Module) -> list[nn.Module]:
    """The cells of ``rnnlab.Recurrent`` per direction (forward, then reverse)."""
    reverse = getattr(module, "reverse_cell", None) if module.bidirectional else None
    return [module.cell] + ([reverse] if reverse is not None else [])


def _outputs_state(cell: nn.Module) -> bool:
    """The cell declares ``output_is_state``: ``Recurrent`` outputs its first state tensor after
    zoneout, as the built-in layers do (the layer has checked that the declaration is a bool)."""
    return getattr(cell, "output_is_state", False) is True


class _Adapter:
    """How to step an ``nn.LSTM`` with ``proj_size``: its layers, and its state format.

    Inside, the state of a layer is a tuple of ``[D, B, *]`` tensors (h, then c). ``layers``
    holds per layer ``(f, between-layers dropout)`` with ``f(x [1, B, I] time-major, state) ->
    (y [1, B, D*F], state)`` computing exactly what the module computes for that layer.
    """

    def __init__(self, module: nn.Module, original_state: Any) -> None:
        self.module = module
        self.D = 2 if module.bidirectional else 1
        self.num_layers = module.num_layers
        self.tuple_state = isinstance(original_state, (tuple, list))
        self.layers = self._torch_layers()

    # --- state formats
    def to_module(self, state: tuple[Tensor, ...]) -> Any:
        return state if self.tuple_state else state[0]

    def from_module(self, st: Any) -> tuple[Tensor, ...]:
        return tuple(st) if isinstance(st, (tuple, list)) else (st,)

    def initial(self, hx: Any, original_state: Any, layer: int) -> tuple[Tensor, ...]:
        """The state layer ``layer`` starts from, as the module itself would."""
        D = self.D
        if hx is not None:
            return tuple(s[layer * D : (layer + 1) * D] for s in self.from_module(hx))
        return tuple(torch.zeros_like(s[layer * D : (layer + 1) * D]) for s in self.from_module(original_state))

    def _torch_layers(self) -> list[tuple[Callable, float]]:
        # Layer k of an nn.LSTM with proj_size runs alone as a single-layer module on layer k's
        # own parameters (functional_call keeps the graph to the real parameters).
        module = self.module
        base = nn.LSTM
        out_size = module.proj_size
        funcs: list[tuple[Callable, float]] = []
        for k in range(self.num_layers):
            kw: dict[str, Any] = {
                "input_size": module.input_size if k == 0 else out_size * self.D,
                "hidden_size": module.hidden_size,
                "num_layers": 1,
                "bias": module.bias,
                "bidirectional": module.bidirectional,
                "device": "meta",
            }
            kw["proj_size"] = module.proj_size
            single = base(**kw)
            params = {n: getattr(module, n.replace("_l0", f"_l{k}")) for n in single._flat_weights_names}

            def layer_fn(x: Tensor, state: tuple[Tensor, ...], single=single, params=params) -> tuple:
                y, st = functional_call(single, params, (x, self.to_module(state)))
                return y, self.from_module(st)

            funcs.append((layer_fn, module.dropout if k < self.num_layers - 1 else 0.0))
        return funcs


def _shape(v: Any) -> str:
    return str(tuple(v.shape)) if isinstance(v, Tensor) else type(v).__name__


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _run_layer(
    fn: Callable, xs: Tensor, state: tuple[Tensor, ...], D: int, valid: Tensor | None
) -> tuple[Tensor, tuple[Tensor, ...], list[list[Tensor]]]:
    """Step one layer (both directions) over time-major ``xs [T, B, I]`` from ``state``.

    Returns the output ``[T, B, D*F, ...]``, the final state and per direction the T probe
    tensors ``[B, H, ...]``: each the single tensor through which h_t reaches everything after
    it. The reverse direction runs from t = T-1 down to 0 (a sequence shorter than T keeps its
    initial state until its last real step, as packed sequences do)."""
    T = xs.shape[0]
    probes: list[list[Any]] = [[None] * T for _ in range(D)]
    outs: list[list[Any]] = [[None] * T for _ in range(D)]
    for s in range(T):
        new: list[tuple[Tensor, ...]] = []
        for d in range(D):
            t = s if d == 0 else T - 1 - s
            _, st = fn(xs[t : t + 1], state)
            mine = tuple(x[d] for x in st)
            if valid is not None:
                mine = tuple(
                    torch.where(_bcast(valid[t], n), n, o[d]) for n, o in zip(mine, state, strict=True)
                )
            h = mine[0]
            # An LSTM outputs h_t itself: the output is taken from the probe, so that the probe
            # is the only path from h_t onwards and its gradient the total derivative.
            out = h
            if valid is not None:
                out = torch.where(_bcast(valid[t], out), out, out.new_zeros(()))
            probes[d][t] = h
            outs[d][t] = out
            new.append(mine)
        state = tuple(torch.stack([n[i] for n in new]) for i in range(len(state)))
    output = torch.stack([torch.cat([outs[d][t] for d in range(D)], dim=1) for t in range(T)])
    return output, state, probes


def _stepwise(module: nn.Module, x: Any, hx: Any, lengths: Any, original: Any) -> tuple[Any, _Record]:
    """Recompute ``module(x, hx, lengths)`` one timestep at a time; same outputs, plus probes."""
    batch_first = bool(getattr(module, "batch_first", False))
    packed = None
    if isinstance(x, PackedSequence):
        packed = x
        xs, lens = pad_packed_sequence(x)
    elif isinstance(x, Tensor):
        if x.dim() < 3:
            raise ValueError(
                f"input: gradient through time needs a batched input [B, T, ...] or [T, B, ...], "
                f"got shape {tuple(x.shape)}"
            )
        xs = x.transpose(0, 1) if batch_first else x
        lens = None if lengths is None else torch.as_tensor(lengths).cpu()
    else:
        raise TypeError(f"input: expected a Tensor or PackedSequence, got {type(x).__name__}")
    T = xs.shape[0]
    valid = None if lens is None else (torch.arange(T)[:, None] < lens[None, :]).to(xs.device)
    if valid is not None:  # the padding rule, as the layers' own entry applies it
        xs = torch.where(valid.view(*valid.shape, *([1] * (xs.dim() - 2))), xs, xs.new_zeros(()))
    original_state = original[1]
    ad = _Adapter(module, original_state)
    finals: list[list[Tensor]] = []
    probes: dict[tuple[int, str], list[Tensor]] = {}
    layer_in = xs
    for k, (fn, p_drop) in enumerate(ad.layers):
        state = ad.initial(hx, original_state, k)
        out, fin, pr = _run_layer(fn, layer_in, state, ad.D, valid)
        for d in range(ad.D):
            probes[(k, DIRECTIONS[d])] = pr[d]
        finals.append(fin)
        layer_in = F.dropout(out, p_drop, module.training) if p_drop else out
    final = tuple(torch.cat([f[i] for f in finals], dim=0) for i in range(len(finals[0])))
    out = layer_in
    if packed is not None:
        if packed.sorted_indices is not None:
            out = out.index_select(1, packed.sorted_indices)
            lens = lens[packed.sorted_indices.cpu()]
        data = pack_padded_sequence(out, lens).data
        out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    elif batch_first:
        out = out.transpose(0, 1)
    rec = _Record(module=module, num_layers=ad.num_layers, probes=probes, valid=valid)
    return (out, ad.to_module(final)), rec


def _batch_of(module: nn.Module, x: Any, lengths: Any) -> SequenceBatch:
    """The time-major batch an rnnlab layer or ``rnnlab.Recurrent`` ran on, with its lengths."""
    # The module has just run on these arguments, so they are valid; this only recovers the lengths.
    if _is_custom(module):  # (a 2-D tensor is one sequence, which Recurrent gives a batch axis of 1)
        unbatched = isinstance(x, Tensor) and x.dim() == 2
        return prepare_input(x.unsqueeze(1) if unbatched else x, lengths, module.batch_first and not unbatched, None)
    return prepare_input(x, lengths, module.batch_first, (module.input_size,))


def _recorded(module: nn.Module, states: dict[tuple[int, str], list[Tensor]], batch: SequenceBatch) -> _Record:
    """The record of one forward of an rnnlab layer or ``rnnlab.Recurrent`` from the states it
    kept (per direction in processing order) and the batch it ran on (:func:`_batch_of`)."""
    valid = batch.valid
    return _Record(
        module=module,
        num_layers=getattr(module, "num_layers", 1),
        probes=states,
        valid=None if valid is None else valid[..., 0],
        reverse_in_processing_order=True,
        lengths=batch.lengths,
    )


def _input_with_grad(model: nn.Module, targets: list[tuple[str, nn.Module]], batch: Any) -> Any:
    """``batch`` with its float input made part of the graph when a recurrent layer is frozen.

    A frozen layer (``requires_grad=False``) fed straight by the data builds no graph of its hidden
    states, yet dLoss/dh_t exists whenever a later layer trains: an input that requires grad puts
    those states in the graph. (Only then: a model that writes into its input in place would
    refuse it.)"""
    if all(p.requires_grad for _, m in targets for p in m.parameters()):
        return batch
    x, target = split_batch(batch)
    if not (isinstance(x, Tensor) and x.is_floating_point()):
        return batch
    x = x.detach().requires_grad_(True).clone()  # (not a leaf: in-place writes stay allowed)
    return x if isinstance(batch, Tensor) else (x, target)


def require_parameters(model: nn.Module, trainable: bool = False) -> None:
    """Refuse, naming the model, one without parameters (``trainable``: without one that trains):
    no loss depends on a parameter then, and the fault is the model's, not the loss's.

    >>> require_parameters(torch.nn.Tanh())
    Traceback (most recent call last):
    ...
    ValueError: model: Tanh has no parameters, so no loss depends on one and there is no gradient to follow (a module keeps its weights as nn.Parameter attributes or in submodules such as nn.Linear)
    >>> require_parameters(torch.nn.Linear(2, 2).requires_grad_(False), trainable=True)
    Traceback (most recent call last):
    ...
    ValueError: model: every parameter of Linear is frozen (requires_grad=False), so there is nothing to train and no gradient to follow; unfreeze the ones to train (p.requires_grad_(True))
    """
    params = list(model.parameters())
    name = type(model).__name__
    if not params:
        raise ValueError(f"model: {name} has no parameters, so no loss depends on one and there is no gradient to "
                         "follow (a module keeps its weights as nn.Parameter attributes or in submodules such as "
                         "nn.Linear)")
    if trainable and not any(p.requires_grad for p in params):
        raise ValueError(f"model: every parameter of {name} is frozen (requires_grad=False), so there is nothing to "
                         "train and no gradient to follow; unfreeze the ones to train (p.requires_grad_(True))")


def grad_through_time(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable[..., Tensor],
    modules: list[str] | None = None,
) -> dict[str, GradThroughTime]:
    """``|dLoss/dh_t|`` per timestep and channel for every recurrent layer of ``model``.

    ``batch`` and ``loss_fn`` follow :mod:`rnnlab.introspect.batch` (``loss_fn(model(x), y)``).
    Works for many-to-one models (loss on the last output or on ``h_n``) and many-to-many ones.
    With variable lengths the rows count back from each sequence's own end (:class:`GradThroughTime`).
    Keys are module names (``""`` when the model is itself the layer; a module called twice
    in one forward gets ``name`` and ``name#1``; a name not there is a ``KeyError`` naming those
    there, :class:`~rnnlab.introspect.keyed.Keyed`). ``modules`` restricts to the named modules.
    The model runs in its mode and is left as it was, with torch's random state and parameters'
    ``.grad`` (see the module's notes on training mode).

    >>> import torch
    >>> rnn = torch.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    >>> g = grad_through_time(rnn, torch.randn(5, 4, 2), lambda out: out[0].pow(2).mean())[""]
    >>> sorted(g.layers), g.grad.shape
    ([(0, 'forward'), (0, 'reverse'), (1, 'forward'), (1, 'reverse')], (5, 6))
    """
    targets = recurrent_modules(model, required=True)
    # (not trainable=True: a frozen model is still measured, through its input: _input_with_grad)
    require_parameters(model)
    modules = module_names(modules)
    if modules is not None:
        known = dict(targets)
        for name in modules:
            if name not in known:
                from rnnlab._checks import did_you_mean

                raise KeyError(
                    f"modules: {name!r} is not a recurrent module of the model "
                    f"(recurrent modules: {list(known)}){did_you_mean(name, list(known))}"
                )
        targets = [(n, m) for n, m in targets if n in modules]
    records: list[tuple[str, _Record]] = []
    handles = []
    stepping: set[int] = set()

    def make_recording_hook(name: str, kept: dict[tuple[int, str], list[Tensor]]) -> Callable:
        def hook(module: RecurrentBase, args: tuple, kwargs: dict, output: Any) -> None:
            x, _, lengths = _call_args(module, args, kwargs)
            # The layer refills ``kept`` at its next call: take this call's lists out.
            states = dict(kept)
            kept.clear()
            records.append((name, _recorded(module, states, _batch_of(module, x, lengths))))

        return hook

    def make_twin_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            x, hx, _ = _call_args(module, args, kwargs)
            twin = twin_of(module)
            with twin.recording_states() as kept:
                new_output = twin(x, hx)
            records.append((name, _recorded(twin, dict(kept), _batch_of(twin, x, None))))
            return new_output

        return hook

    # rnnlab.Recurrent: (its name, its cells' new states in the order the cells ran) per call
    # running now (innermost last: a cell may itself run a Recurrent).
    running: list[tuple[str, list[Tensor]]] = []
    hooked_cells: set[int] = set()

    def cell_hook(cell: nn.Module, args: tuple, output: Any) -> Any:
        if not running or not (isinstance(output, (tuple, list)) and len(output) == 2):
            return None  # a call outside the layer, or a malformed return that Recurrent itself refuses
        y, new = output
        h = new if isinstance(new, Tensor) else new[0] if isinstance(new, (tuple, list)) and new else None
        if not isinstance(h, Tensor):
            return None
        running[-1][1].append(h)
        if y is None or y is h or _outputs_state(cell):  # (the layer outputs the state, not this y)
            return None
        same = isinstance(y, Tensor) and y.shape == h.shape and y.dtype == h.dtype
        if not (same and torch.allclose(y, h, rtol=0, atol=0, equal_nan=True)):
            raise ValueError(
                f"module: {running[-1][0]!r} runs cell {type(cell).__name__}, whose output y_t is not its hidden "
                f"state (a cell with a read-out: y_t {_shape(y)}, new state {tuple(h.shape)}), so "
                "dLoss/dh_t through the output cannot be separated; gradient through time needs cells whose "
                "output is h_t, the first tensor of their new state"
            )
        # Equal values, another tensor: the output is taken from h_t, so that h_t is the one
        # tensor through which the step reaches everything after it.
        return h, new

    def make_custom_pre_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            running.append((name or type(module).__name__, []))

        return hook

    def make_custom_hook(name: str, kept: dict[tuple[int, str], list[Tensor]] | None) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            _, steps = running.pop()
            x, _, lengths = _call_args(module, args, kwargs)
            batch = _batch_of(module, x, lengths)
            T, D = batch.x.shape[0], 2 if module.bidirectional else 1
            if len(steps) != D * T:
                raise ValueError(
                    f"module: {name or type(module).__name__} called its cell {len(steps)} times for {T} "
                    f"timesteps{' in 2 directions' if D == 2 else ''} (expected {D * T}), so the steps' "
                    "hidden states cannot be told apart"
                )
            states = {(0, DIRECTIONS[d]): steps[d * T : (d + 1) * T] for d in range(D)}
            if kept is not None:
                # A direction whose cell outputs its state: the state after zoneout, which the
                # layer outputs and carries on (the cell's h is what zoneout mixes into it).
                for d, cell in enumerate(_custom_cells(module)):
                    if _outputs_state(cell):
                        states[(0, DIRECTIONS[d])] = kept[(0, DIRECTIONS[d])]
                kept.clear()  # (the layer refills it at its next call)
            records.append((name, _recorded(module, states, batch)))

        return hook

    def make_stepping_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            if id(module) in stepping:  # the one-step calls made by _stepwise itself
                return output
            x, hx, lengths = _call_args(module, args, kwargs)
            stepping.add(id(module))
            try:
                new_output, rec = _stepwise(module, x, hx, lengths, output)
            finally:
                stepping.discard(id(module))
            records.append((name, rec))
            return new_output

        return hook

    # The model is measured in its mode, and left as it was (buffers, modes, random state).
    with untouched(model):
        with ExitStack() as recording:
            try:
                for name, module in targets:
                    if isinstance(module, RecurrentBase):
                        kept = recording.enter_context(module.recording_states())
                        hook = make_recording_hook(name, kept)
                    elif _is_custom(module):
                        handles.append(module.register_forward_pre_hook(make_custom_pre_hook(name), with_kwargs=True))
                        kept_custom = None
                        if any(map(_outputs_state, _custom_cells(module))):
                            kept_custom = recording.enter_context(module.recording_states())
                        hook = make_custom_hook(name, kept_custom)
                        for cell in _custom_cells(module):
                            if id(cell) not in hooked_cells:  # (one hook for a shared cell)
                                hooked_cells.add(id(cell))
                                handles.append(cell.register_forward_hook(cell_hook))
                    elif isinstance(module, (nn.GRU, nn.RNN)) or (isinstance(module, nn.LSTM) and not module.proj_size):
                        hook = make_twin_hook(name)
                    else:
                        hook = make_stepping_hook(name)
                    handles.append(module.register_forward_hook(hook, with_kwargs=True))
                with torch.enable_grad():
                    _, loss = compute_loss(model, _input_with_grad(model, targets, batch), loss_fn)
            finally:
                for h in handles:
                    h.remove()
        if not records:
            raise ValueError(
                f"model: none of the recurrent modules {[n for n, _ in targets]} ran during the forward pass"
            )
        # A frozen layer fed by frozen layers (or by an input without gradient) keeps no graph of its
        # states: there is no gradient through time to measure there.
        frozen = [name for name, rec in records if not all(p.requires_grad for ps in rec.probes.values() for p in ps)]
        records = [(name, rec) for name, rec in records if name not in frozen]
        if not records:
            raise ValueError(
                f"model: the hidden states of {frozen} carry no gradient (their layers and everything before them "
                "are frozen, requires_grad=False), so there is no gradient through time to measure"
            )
        flat = [p for _, rec in records for key in rec.probes for p in rec.probes[key]]
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
    result: dict[str, GradThroughTime] = Keyed(what="module", of="the recurrent modules measured")
    i = 0
    for name, rec in records:
        layers: dict[tuple[int, str], np.ndarray] = {}
        held = None
        for (k, direction), ps in rec.probes.items():
            gs = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads[i : i + len(ps)], ps, strict=True)]
            i += len(ps)
            g = torch.stack(gs).abs().detach()  # [T, B, H]
            if rec.reverse_in_processing_order and direction == "reverse":
                g = reverse_time(g, reverse_index(rec.lengths, g.shape[0], g.device))
            if rec.valid is None:
                m = g.mean(dim=1)
            else:
                m, held = _before_the_end(g, rec.valid, direction)
            layers[(k, direction)] = m.cpu().double().numpy()
        key = name
        n = 1
        while key in result:
            key = f"{name}#{n}"
            n += 1
        result[key] = GradThroughTime(
            module=name,
            kind=kind_of(rec.module) or getattr(rec.module, "kind", None),
            num_layers=rec.num_layers,
            directions=DIRECTIONS[: 2 if rec.module.bidirectional else 1],
            layers=layers,
            held=held,
        )
    return result
