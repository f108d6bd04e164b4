"""``rnnlab.Recurrent``: run a user's own cell over time with rnnlab's loop."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab import gates as gate_layout
from rnnlab._checks import check_bool, check_choice, check_probability, did_you_mean
from rnnlab.layers.base import not_scriptable, refuse_frozen_zoneout
from rnnlab.layers.computation import capturing
from rnnlab.layers.loop import recording_into, run_direction, time_loop, variational_mask
from rnnlab.layers.options import FROM_KERAS, CheckedSettings, LayerOptions
from rnnlab.layers.sequence import prepare_input

CellState = Tensor | tuple[Tensor, ...]

#: What to do instead, for the keywords of the built-in layers that ``Recurrent`` does not take:
#: it runs one cell, and the cell owns its weights, their initialization and normalization.
BUILT_IN_ONLY: dict[str, str] = {
    "num_layers": "it is one layer: stack layers by passing one Recurrent's output to the next "
                  "(docs/layers.md, 'Your own cell')",
    "dropout": "dropout between stacked layers is the next Recurrent's input_dropout=p, input_dropout_mode='step'",
    "residual": "add a layer's input to its output in your module, between Recurrent layers",
    "between_layers_norm": "normalize one Recurrent's output in your module before the next Recurrent",
    "weight_drop": "DropConnect on the cell's recurrent weight belongs inside the cell, which owns its weights",
    "layer_norm": "normalize inside the cell's forward (e.g. torch.nn.LayerNorm on its gate pre-activations)",
    "recurrent_batch_norm": "normalize inside the cell's forward",
    "batch_norm_steps": "normalize inside the cell's forward",
    "activation": "the cell's forward applies its own activations",
    "recurrent_activation": "the cell's forward applies its own activations",
    "bias": "the cell's own modules have or lack biases",
    "unit_forget_bias": "initialize the cell's parameters in its reset_parameters()",
    "kernel_init": "initialize the cell's parameters in its reset_parameters()",
    "recurrent_init": "initialize the cell's parameters in its reset_parameters()",
    "implementation": "it always runs its autograd loop over the cell (there is no other computation)",
    "nonlinearity": "the cell's forward applies its own activations",
    "input_size": "the sizes are the cell's own",
    "hidden_size": "the sizes are the cell's own",
    "options": "pass Recurrent's own keywords",
}
_CONSTRAINT_ADVICE = "project the cell's parameter after each optimizer step: param.copy_(constraint(param))"


class Recurrent(CheckedSettings, nn.Module):
    """Run ``cell(x_t, state) -> (y_t, new_state)`` over a sequence.

    The cell sees one timestep ``x_t [B, *features]`` and its state (a tensor or a tuple of
    tensors, batch first). ``Recurrent`` adds what the built-in layers have: ``batch_first``,
    packed or padded input with ``lengths``, ``bidirectional`` (the reverse direction runs a
    deep copy of the cell with freshly reset parameters — an error when no ``reset_parameters()``
    in it changes a weight — or ``reverse_cell``), input dropout,
    recurrent dropout on the state fed back (first state tensor, one mask per sequence), and
    zoneout on the state (a float for all state tensors, or one per tensor).

    The initial state is ``state=`` if given, else ``cell.init_state(x_0)`` if the cell defines
    it, else zeros ``[B, cell.hidden_size]``; each of its tensors has the input's batch in dim 0,
    and the new state the cell returns has the structure and shapes of the state it was given
    (checked on the first step: an error names what differs). A 2-D input ``[T, features]`` is one unbatched
    sequence, as for ``nn.GRU``: the cell sees it with a batch axis of 1, and the output, the
    final state and ``state=`` have none. Returns ``(output, final_state)`` where output
    stacks ``y_t`` along time (both directions concatenated along dim 2; each ``y_t`` a tensor with
    the input's batch in dim 0 and the first step's shape at every step, else an error naming the
    cell and the step) and final_state has the
    cell's structure — for ``bidirectional=True`` a pair ``(forward_state, reverse_state)``, and
    ``state=`` takes such a pair too. Zoneout applies to the state. A cell whose output is its
    state declares it with a class attribute ``output_is_state = True`` (as
    :class:`rnnlab.cells.StateAsOutput` does): its output at each step is then the first state
    tensor after zoneout, as the built-in layers' is (Krueger et al.), so
    ``Recurrent(StateAsOutput(nn.LSTMCell(...)), zoneout=p)`` is ``rnnlab.LSTM(..., zoneout=p)``.
    Any other cell's output is its ``y_t`` as returned, before zoneout.

    Its keywords are read back as attributes and, as the built-in layers' options, checked again
    when set (``rnn.zoneout = 0.2``; :class:`~rnnlab.layers.options.CheckedSettings`):
    ``bidirectional`` is fixed once built, and a new attribute named like a keyword
    (``rnn.zonout``) is refused with "did you mean".

    It is one layer: a keyword of the built-in layers that it does not take (``num_layers``,
    ``weight_drop``, ``layer_norm``, ...) is a ``TypeError`` saying what to do instead
    (docs/layers.md, "Your own cell"). A cell with a ``gate_layout``
    (:class:`rnnlab.gates.GateLayout`) has its weights split per gate by
    :func:`rnnlab.introspect.gate_weights`.

    Example:
        >>> import torch, rnnlab
        >>> cell = rnnlab.cells.StateAsOutput(torch.nn.GRUCell(3, 5))  # torch cells return only the state
        >>> rnn = rnnlab.Recurrent(cell, batch_first=True, zoneout=0.1)
        >>> out, h = rnn(torch.randn(2, 7, 3))
        >>> out.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([2, 5]))
    """

    kind = "custom"
    SETTINGS = frozenset({"batch_first", "input_dropout", "input_dropout_mode", "recurrent_dropout", "zoneout"})
    FIXED = frozenset({"bidirectional"})  # (the reverse cell is built from it)

    def __init__(
        self,
        cell: nn.Module,
        *,
        batch_first: bool = False,
        bidirectional: bool = False,
        reverse_cell: nn.Module | None = None,
        input_dropout: float = 0.0,
        input_dropout_mode: str = "variational",
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, ...] = 0.0,
        **unknown: Any,
    ) -> None:
        super().__init__()
        for key in unknown:
            self._unknown_keyword(key)
        if not callable(cell):
            raise TypeError(f"cell: expected a module cell(x_t, state) -> (y_t, new_state), got {type(cell).__name__}")
        if isinstance(cell, nn.RNNCellBase):  # (they return only the new state, an LSTMCell's as a pair)
            raise TypeError(
                f"cell: torch's {type(cell).__name__} returns only its new state, expected cell(x_t, state) -> "
                f"(y_t, new_state); wrap it: rnnlab.Recurrent(rnnlab.cells.StateAsOutput(cell))"
            )
        _output_is_state(cell)
        self.cell = cell
        self.batch_first = batch_first
        self.bidirectional = check_bool("bidirectional", bidirectional)
        if reverse_cell is not None and not bidirectional:
            raise ValueError("reverse_cell: only used with bidirectional=True")
        if bidirectional:
            if reverse_cell is None:
                reverse_cell = copy.deepcopy(cell)
                for m in reverse_cell.modules():
                    if hasattr(m, "reset_parameters"):
                        m.reset_parameters()
                _check_reinitialized(cell, reverse_cell)
            _output_is_state(reverse_cell)
            self.reverse_cell = reverse_cell
        # (checked by _checked_setting, as any later assignment is)
        self.input_dropout = input_dropout
        self.input_dropout_mode = input_dropout_mode
        self.recurrent_dropout = recurrent_dropout
        self.zoneout: float | tuple[float, ...] = zoneout
        self._state_record: dict[tuple[int, str], list[Tensor]] | None = None

    def _checked_setting(self, name: str, value: Any) -> dict[str, Any]:
        """``rnn.name = value`` (:class:`~rnnlab.layers.options.CheckedSettings`), in the constructor
        too: ``value`` checked as a keyword of the constructor."""
        if name == "batch_first":
            return {name: check_bool(name, value)}
        if name == "input_dropout_mode":
            return {name: check_choice(name, value, ("variational", "step"))}
        if name == "zoneout" and isinstance(value, (tuple, list)):  # (one per state tensor)
            return {name: tuple(check_probability(name, p, allow_one=True) for p in value)}
        return {name: check_probability(name, value, allow_one=name == "zoneout")}

    @staticmethod
    def _unknown_keyword(key: str) -> None:
        if key in BUILT_IN_ONLY or key in LayerOptions.names():
            advice = BUILT_IN_ONLY.get(key, _CONSTRAINT_ADVICE if key.endswith("_constraint") else
                                        "build it into the cell")
            raise TypeError(f"{key}: a keyword of rnnlab's built-in layers (rnnlab.LSTM, GRU, RNN, IndRNN), not of "
                            f"rnnlab.Recurrent, which runs your cell as it is; {advice}")
        if key in FROM_KERAS:  # (a Keras port: rnnlab's way to do it, not a name that looks alike)
            raise TypeError(f"{key}: a Keras keyword, not one of rnnlab.Recurrent; {FROM_KERAS[key]}")
        raise TypeError(f"{key}: not a keyword of rnnlab.Recurrent{did_you_mean(key, _KEYWORDS)}")

    @contextmanager
    def recording_states(self) -> Iterator[dict[tuple[int, str], list[Tensor]]]:
        """Keep the state of every step of the forward passes run inside the block, as
        :meth:`rnnlab.RecurrentBase.recording_states` does: ``(0, "forward"|"reverse") → [the
        first state tensor after zoneout and lengths, each step]``, in processing order: the live
        tensors of the graph, whose ``.grad``, once ``retain_grad()`` was called on them before
        ``backward()``, is the total dLoss/dh_t of the state carried on (which a cell declaring
        ``output_is_state`` also outputs).

        >>> import torch, rnnlab
        >>> rnn = rnnlab.Recurrent(rnnlab.cells.StateAsOutput(torch.nn.GRUCell(3, 4)), zoneout=0.2)
        >>> with rnn.recording_states() as states:
        ...     out, _ = rnn(torch.randn(5, 2, 3))
        >>> len(states[(0, "forward")]), states[(0, "forward")][0].shape
        (5, torch.Size([2, 4]))
        """
        with recording_into(self, "_state_record", {}) as record:
            yield record

    def __prepare_scriptable__(self) -> nn.Module:
        # (torch.jit.script calls it on every module it scripts)
        raise not_scriptable(self, "torch.compile or torch.export, which trace its loop over your cell unrolled "
                                   "over the steps (docs/layers.md)")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def extra_repr(self) -> str:
        zoneout = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,)
        parts = [f"{name}={getattr(self, name)!r}" for name, off in _REPR_DEFAULTS
                 if getattr(self, name) != off and not (name == "zoneout" and not any(zoneout))]
        if self.input_dropout == 0:  # (the mode says nothing without the dropout)
            parts = [p for p in parts if not p.startswith("input_dropout_mode=")]
        return ", ".join(parts)

    def _state_ranks(self, x0: Tensor) -> list[int] | None:
        """The dimensions of the state tensors the cell starts from on the batch ``x0`` (of every
        direction, in the order a state holds them); None where the cell does not say (no
        ``init_state`` nor ``hidden_size``: its caller passes the state)."""
        try:
            first = self._init_state(self.cell, x0)
        except TypeError:
            return None
        ranks: list[int] = []
        _map_state(lambda t: ranks.append(t.dim()), first)
        return ranks * (2 if self.bidirectional else 1)

    def _init_state(self, cell: nn.Module, x0: Tensor) -> CellState:
        init = getattr(cell, "init_state", None)
        if callable(init):
            return init(x0)
        h = getattr(cell, "hidden_size", None)
        if isinstance(h, int):
            return torch.zeros(x0.shape[0], h, dtype=x0.dtype, device=x0.device)
        raise TypeError(
            f"state: {type(cell).__name__} has neither an init_state(x_t) method nor an integer "
            f"hidden_size attribute; pass state= explicitly"
        )

    def forward(
        self,
        input: Tensor | PackedSequence,
        state: CellState | tuple[CellState, CellState] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Any]:
        # A 2-D tensor is one sequence [T, features] (a batched one is at least [T, B, features]):
        # the cell sees a batch of one, and the caller gets everything back without that axis.
        if self.training and capturing():
            zoneout = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,)
            refuse_frozen_zoneout(f"zoneout={self.zoneout!r}" if any(zoneout) else None)
        unbatched = isinstance(input, Tensor) and input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1)
            if state is not None:
                state = _batch_of_one(state, self._state_ranks(input[0]))
        batch = prepare_input(input, lengths, self.batch_first and not unbatched, None)
        x = batch.x
        if self.training and self.input_dropout > 0:
            if self.input_dropout_mode == "step":
                x = F.dropout(x, self.input_dropout, True)
            else:
                x = x * variational_mask((1, *x.shape[1:]), self.input_dropout, x)
        cells = [self.cell] + ([self.reverse_cell] if self.bidirectional else [])
        if state is None:
            states = [self._init_state(c, x[0]) for c in cells]
        elif self.bidirectional:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("state: with bidirectional=True expected a pair (forward_state, reverse_state)")
            states = list(state)
        else:
            states = [state]
        outs, finals = [], []
        for d, (cell, s0) in enumerate(zip(cells, states)):
            as_tensor = isinstance(s0, Tensor)
            name = "state" + (f"[{d}]" if self.bidirectional else "")
            if state is None:
                name = f"{type(cell).__name__}.init_state(x_t)"
            s0_t = _state_tensors(s0, x.shape[1], name)
            zo = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,) * len(s0_t)
            if len(zo) != len(s0_t):
                raise ValueError(
                    f"zoneout: expected {len(s0_t)} probabilities (one per state tensor), got {len(zo)}"
                )

            # The loop's own rule for a step without a y_t (the built-in layers' steps): the output is
            # the first state tensor after zoneout and lengths.
            state_out = _output_is_state(cell)

            def step(x_t: Tensor, st: tuple[Tensor, ...], h_fed: Tensor, t: int, cell: nn.Module = cell,
                     as_tensor: bool = as_tensor, state_out: bool = state_out
                     ) -> tuple[Tensor | None, tuple[Tensor, ...]]:
                fed = h_fed if as_tensor else (h_fed, *st[1:])
                res = cell(x_t, fed)
                if not isinstance(res, (tuple, list)) or len(res) != 2:
                    raise TypeError(
                        f"cell: expected cell(x_t, state) to return (y_t, new_state), got {type(res).__name__}"
                    )
                y, new = res
                if t == 0:  # (once per sequence: the loop carries what the first step returned)
                    _check_new_state(cell, st, as_tensor, new)
                    _check_output(cell, x_t, y, new, state_out, self.bidirectional)
                return None if state_out else y, ((new,) if isinstance(new, Tensor) else tuple(new))

            feed_mask = None
            if self.training and self.recurrent_dropout > 0:
                feed_mask = variational_mask(s0_t[0].shape, self.recurrent_dropout, s0_t[0])

            probe: list[Tensor] | None = None
            if self._state_record is not None:
                probe = self._state_record.setdefault((0, gate_layout.DIRECTIONS[d]), [])
                probe.clear()

            def loop(xs: Tensor, st: tuple[Tensor, ...], keep: list[Tensor | None], step=step,
                     feed_mask=feed_mask, probe=probe, cell=cell, d=d, state_out=state_out
                     ) -> tuple[Tensor, tuple[Tensor, ...]]:
                try:
                    return time_loop(step, xs, st, keep, feed_mask, probe)
                except RuntimeError as err:
                    # (step 0 checked the outputs' shape; a later step that changed it fails in the
                    # loop's stack of the outputs, after every step ran: said here, not per step)
                    changed = _output_shape_changed(err, cell, d, state_out)
                    if changed is None:
                        raise
                    raise changed from None

            out, fin = run_direction(
                loop, x, s0_t, reverse=d == 1, lengths=batch.lengths, valid=batch.valid,
                zoneout=zo, training=self.training,
            )
            outs.append(out)
            finals.append(fin[0] if as_tensor else fin)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        final = finals[0] if len(finals) == 1 else tuple(finals)
        if unbatched:
            return out.squeeze(1), _map_state(lambda s: s.squeeze(0), final)
        return batch.output(out), final


#: Recurrent's own keywords and their "off" values (the repr shows the others, as the built-in layers do).
_REPR_DEFAULTS: tuple[tuple[str, object], ...] = (
    ("batch_first", False),
    ("bidirectional", False),
    ("input_dropout", 0.0),
    ("input_dropout_mode", "variational"),
    ("recurrent_dropout", 0.0),
    ("zoneout", 0.0),
)
_KEYWORDS = ("cell", "reverse_cell", *(name for name, _ in _REPR_DEFAULTS))


def _output_is_state(cell: nn.Module) -> bool:
    """The cell's declaration ``output_is_state`` (False when it has none)."""
    declared = getattr(cell, "output_is_state", False)
    if not isinstance(declared, bool):
        raise TypeError(f"cell: {type(cell).__name__}.output_is_state: expected True or False, got {declared!r}")
    return declared


def _state_tensors(state: Any, batch: int, name: str) -> tuple[Tensor, ...]:
    """The tensors of an initial state (a tensor or a tuple of tensors), each checked to be batch
    first with the input's ``batch``; ``name`` is where the state came from, for the error.

    >>> _state_tensors(torch.zeros(3, 4), 2, "state")
    Traceback (most recent call last):
    ...
    ValueError: state: expected batch 2 (the input's) in dim 0, got 3 (shape (3, 4))
    """
    if isinstance(state, Tensor):
        named = [(name, state)]
    elif isinstance(state, (tuple, list)) and state:
        named = [(f"{name}[{i}]", s) for i, s in enumerate(state)]
    else:
        got = f"an empty {type(state).__name__}" if isinstance(state, (tuple, list)) else type(state).__name__
        raise TypeError(f"{name}: expected a tensor or a tuple of tensors, got {got}")
    for where, s in named:
        if not isinstance(s, Tensor):
            raise TypeError(f"{where}: expected a tensor, got {type(s).__name__}")
        if s.dim() == 0 or s.shape[0] != batch:
            got = "a 0-D tensor" if s.dim() == 0 else f"{s.shape[0]} (shape {tuple(s.shape)})"
            raise ValueError(f"{where}: expected batch {batch} (the input's) in dim 0, got {got}")
    return tuple(s for _, s in named)


def _describe_state(state: Any) -> str:
    """A state's structure in words, for errors: ``a tuple of 2 tensors of shapes (2, 4), (2, 4)``."""
    if isinstance(state, Tensor):
        return f"a tensor of shape {tuple(state.shape)}"
    if isinstance(state, (tuple, list)):
        if all(isinstance(s, Tensor) for s in state):
            shapes = ", ".join(str(tuple(s.shape)) for s in state)
            return f"a {type(state).__name__} of {len(state)} tensors of shapes {shapes}"
        parts = ", ".join(f"shape {tuple(s.shape)}" if isinstance(s, Tensor) else type(s).__name__ for s in state)
        return f"a {type(state).__name__} of {len(state)} ({parts})"
    return f"a {type(state).__name__}"


def _check_new_state(cell: nn.Module, given: tuple[Tensor, ...], as_tensor: bool, new: Any) -> None:
    """The new state a cell returned must have the structure and shapes of the state it was given:
    the loop feeds it back and zoneout and lengths mix the two tensor by tensor, so an extra
    tensor would be dropped and a missing or reshaped one would fail later, inside the cell."""
    new_t = (new,) if isinstance(new, Tensor) else tuple(new) if isinstance(new, (tuple, list)) else None
    if new_t is not None and len(new_t) == len(given) and all(
        isinstance(n, Tensor) and n.shape == g.shape for n, g in zip(new_t, given)
    ):
        return
    expected = _describe_state(given[0] if as_tensor else given)
    raise ValueError(
        f"cell: {type(cell).__name__}(x_t, state) returned new_state as {_describe_state(new)}, expected "
        f"{expected} like the state it was given"
    )


def _check_output(cell: nn.Module, x_t: Tensor, y: Any, new: Any, state_out: bool, bidirectional: bool) -> None:
    """The first step's ``y_t``: the loop stacks the steps' outputs along time, so each must be a
    tensor with the input's batch in dim 0 (else the output's batch is not the input's, or the
    stack fails far from the cell). A cell declaring ``output_is_state`` outputs its first state
    tensor instead: a ``y_t`` that is not that tensor (nor a copy of it) would be dropped unseen."""
    name = type(cell).__name__
    first = new if isinstance(new, Tensor) else new[0]
    if state_out:
        if y is None or y is first:
            return
        if isinstance(y, Tensor) and y.shape == first.shape:
            # (a copy of the state passes; a read-out of its shape, 2·h, would be dropped unseen: its
            # values, once per sequence, eagerly; a graph being captured cannot branch on them)
            if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.equal(y, first):
                return
            raise ValueError(
                f"cell: {name}(x_t, state) returned a y_t that differs from its new state's first tensor: "
                f"{name}.output_is_state = True makes that tensor the output and y_t would be dropped; return the "
                f"state as y_t (or None), or set output_is_state = False to output y_t"
            )
        got = f"of shape {tuple(y.shape)}" if isinstance(y, Tensor) else f"as a {type(y).__name__}"
        raise ValueError(
            f"cell: {name}(x_t, state) returned y_t {got}, expected {tuple(first.shape)} like its new state's first "
            f"tensor: {name}.output_is_state = True makes that tensor the output and y_t would be dropped; return the "
            f"state as y_t, or set output_is_state = False to output y_t"
        )
    if not isinstance(y, Tensor):
        raise TypeError(f"cell: {name}(x_t, state) returned y_t as a {type(y).__name__}, expected a tensor with the "
                        f"input's batch {x_t.shape[0]} in dim 0")
    if y.dim() == 0 or y.shape[0] != x_t.shape[0]:
        got = "a 0-D tensor" if y.dim() == 0 else f"shape {tuple(y.shape)}"
        raise ValueError(f"cell: {name}(x_t, state) returned y_t of {got}, expected the input's batch "
                         f"{x_t.shape[0]} in dim 0")
    if bidirectional and y.dim() < 2:  # (the directions' outputs are joined along their features)
        raise ValueError(f"cell: {name}(x_t, state) returned y_t of shape {tuple(y.shape)}, expected [B, features, "
                         f"...] with bidirectional=True, which joins the directions' outputs along the features")


#: torch.stack's message for tensors of different shapes: the first one's shape, and another's and its index.
_STACK_SIZES = re.compile(r"stack expects each tensor to be equal size, but got \[([\d, ]*)\] at entry (\d+) and "
                          r"\[([\d, ]*)\] at entry (\d+)")


def _output_shape_changed(err: RuntimeError, cell: nn.Module, direction: int, state_out: bool) -> ValueError | None:
    """The error to raise for ``err``, when it is the time loop's stack of the outputs failing
    because a step's output changed shape (None for any other error, from the cell or elsewhere)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    # (the stack is time_loop's own line: a stack inside the cell fails in the cell's frame)
    if tb is None or tb.tb_frame.f_code is not time_loop.__code__ or "stack expects" not in str(err):
        return None
    name = type(cell).__name__
    what = "its new state's first tensor (its output: output_is_state)" if state_out else "y_t"
    where = " in the reverse direction (steps counted from each sequence's end)" if direction == 1 else ""
    found = _STACK_SIZES.search(str(err))
    if found is None:
        return ValueError(f"cell: {name}(x_t, state) returned {what} of another shape at a later step than at step "
                          f"0{where}: every step's output must have one shape, as the loop stacks them along time")
    first, _, other, step = found.groups()
    return ValueError(f"cell: {name}(x_t, state) returned {what} of shape ({other}) at step {step}{where}, expected "
                      f"({first}) as at step 0: every step's output must have one shape, as the loop stacks them "
                      f"along time")


def _batch_of_one(state: Any, ranks: list[int] | None) -> Any:
    """The state of an unbatched input (one sequence ``[T, features]``) as the cell's batch of one.
    Its tensors have the cell's unbatched shapes, as torch's cells take for an unbatched input:
    ``ranks`` (the dimensions of the cell's batched state tensors, in order; None: not known) one
    more than each; a batched one (``[1, H]``, torch's ``h0`` for ``nn.GRU``) is refused in one
    line, not by the cell.

    >>> _batch_of_one(torch.zeros(4), [2]).shape
    torch.Size([1, 4])
    >>> _batch_of_one(torch.zeros(1, 4), [2])
    Traceback (most recent call last):
    ...
    ValueError: state: an unbatched input [T, features] takes the cell's state without a batch axis (1 dimension here), got shape [1, 4]; pass it without its batch axis (e.g. state[0]), or give the input a batch axis, [T, 1, features]
    """
    tensors: list[Tensor] = []
    _map_state(tensors.append, state)
    if ranks is not None and len(ranks) == len(tensors):
        for t, rank in zip(tensors, ranks, strict=True):
            if t.dim() != rank - 1:
                raise ValueError(f"state: an unbatched input [T, features] takes the cell's state without a batch "
                                 f"axis ({rank - 1} dimension{'s' if rank != 2 else ''} here), got shape "
                                 f"{list(t.shape)}; pass it without its batch axis (e.g. state[0]), or give the input a "
                                 "batch axis, [T, 1, features]")
    return _map_state(lambda t: t.unsqueeze(0), state)


def _map_state(f: Any, state: Any) -> Any:
    """``f`` applied to every tensor of a state (a tensor, or nested tuples of tensors)."""
    if isinstance(state, Tensor):
        return f(state)
    if isinstance(state, (tuple, list)):
        return tuple(_map_state(f, s) for s in state)
    raise TypeError(f"state: expected a tensor or a tuple of tensors, got {type(state).__name__}")


def _check_reinitialized(cell: nn.Module, copy_: nn.Module) -> None:
    """The reverse direction's copy of ``cell`` must not start from the forward cell's weights:
    both directions would begin as the same function (and a raw ``nn.Parameter`` outside any
    module with ``reset_parameters()`` is copied as it is)."""
    pairs = [(name, p, q) for (name, p), q in zip(cell.named_parameters(), copy_.parameters())]
    if not pairs or any(p.is_meta or isinstance(p, nn.parameter.UninitializedParameter) for _, p, _ in pairs):
        return  # nothing to compare: no parameters, or no values yet
    if all(torch.equal(p, q) for _, p, q in pairs):
        names = ", ".join(name for name, _, _ in pairs[:4]) + (", ..." if len(pairs) > 4 else "")
        kind = type(cell).__name__
        raise ValueError(
            f"reverse_cell: expected the reverse direction to start from newly initialized weights, got a copy of "
            f"{kind} equal to the forward cell (no reset_parameters() re-initialized {names}); give {kind} a "
            f"reset_parameters() method that draws its weights, or pass reverse_cell="
        )
