"""``rnnlab.Recurrent``: run a user's own cell over time with rnnlab's loop."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab._checks import check_bool, check_choice, check_probability
from rnnlab.layers.loop import run_direction, time_loop, variational_mask
from rnnlab.layers.sequence import prepare_input

CellState = Tensor | tuple[Tensor, ...]


class Recurrent(nn.Module):
    """Run ``cell(x_t, state) -> (y_t, new_state)`` over a sequence.

    The cell sees one timestep ``x_t [B, *features]`` and its state (a tensor or a tuple of
    tensors, batch first). ``Recurrent`` adds what the built-in layers have: ``batch_first``,
    packed or padded input with ``lengths``, ``bidirectional`` (the reverse direction runs a
    deep copy of the cell with freshly reset parameters, or ``reverse_cell``), input dropout,
    recurrent dropout on the state fed back (first state tensor, one mask per sequence), and
    zoneout on the state (a float for all state tensors, or one per tensor).

    The initial state is ``state=`` if given, else ``cell.init_state(x_0)`` if the cell defines
    it, else zeros ``[B, cell.hidden_size]``. Returns ``(output, final_state)`` where output
    stacks ``y_t`` along time (both directions concatenated along dim 2) and final_state has the
    cell's structure — for ``bidirectional=True`` a pair ``(forward_state, reverse_state)``, and
    ``state=`` takes such a pair too. Zoneout applies to the state; the output is the cell's
    ``y_t`` as returned.

    Example:
        >>> import torch, rnnlab
        >>> cell = rnnlab.cells.StateAsOutput(torch.nn.GRUCell(3, 5))  # torch cells return only the state
        >>> rnn = rnnlab.Recurrent(cell, batch_first=True, zoneout=0.1)
        >>> out, h = rnn(torch.randn(2, 7, 3))
        >>> out.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([2, 5]))
    """

    kind = "custom"

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
    ) -> None:
        super().__init__()
        if not callable(cell):
            raise TypeError(f"cell: expected a module cell(x_t, state) -> (y_t, new_state), got {type(cell).__name__}")
        if isinstance(cell, nn.RNNCellBase):  # (they return only the new state, an LSTMCell's as a pair)
            raise TypeError(
                f"cell: torch's {type(cell).__name__} returns only its new state, expected cell(x_t, state) -> "
                f"(y_t, new_state); wrap it: rnnlab.Recurrent(rnnlab.cells.StateAsOutput(cell))"
            )
        self.cell = cell
        self.batch_first = check_bool("batch_first", batch_first)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        if reverse_cell is not None and not bidirectional:
            raise ValueError("reverse_cell: only used with bidirectional=True")
        if bidirectional:
            if reverse_cell is None:
                reverse_cell = copy.deepcopy(cell)
                for m in reverse_cell.modules():
                    if hasattr(m, "reset_parameters"):
                        m.reset_parameters()
            self.reverse_cell = reverse_cell
        self.input_dropout = check_probability("input_dropout", input_dropout)
        self.input_dropout_mode = check_choice("input_dropout_mode", input_dropout_mode, ("variational", "step"))
        self.recurrent_dropout = check_probability("recurrent_dropout", recurrent_dropout)
        if isinstance(zoneout, (tuple, list)):
            self.zoneout: float | tuple[float, ...] = tuple(
                check_probability("zoneout", p, allow_one=True) for p in zoneout
            )
        else:
            self.zoneout = check_probability("zoneout", zoneout, allow_one=True)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

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
        batch = prepare_input(input, lengths, self.batch_first, None)
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
            s0_t = (s0,) if as_tensor else tuple(s0)
            zo = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,) * len(s0_t)
            if len(zo) != len(s0_t):
                raise ValueError(
                    f"zoneout: expected {len(s0_t)} probabilities (one per state tensor), got {len(zo)}"
                )

            def step(x_t: Tensor, st: tuple[Tensor, ...], h_fed: Tensor, t: int, cell: nn.Module = cell,
                     as_tensor: bool = as_tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
                fed = h_fed if as_tensor else (h_fed, *st[1:])
                res = cell(x_t, fed)
                if not isinstance(res, (tuple, list)) or len(res) != 2:
                    raise TypeError(
                        f"cell: expected cell(x_t, state) to return (y_t, new_state), got {type(res).__name__}"
                    )
                y, new = res
                return y, ((new,) if isinstance(new, Tensor) else tuple(new))

            feed_mask = None
            if self.training and self.recurrent_dropout > 0:
                feed_mask = variational_mask(s0_t[0].shape, self.recurrent_dropout, s0_t[0])

            def loop(xs: Tensor, st: tuple[Tensor, ...], keep: list[Tensor | None], step=step,
                     feed_mask=feed_mask) -> tuple[Tensor, tuple[Tensor, ...]]:
                return time_loop(step, xs, st, keep, feed_mask)

            out, fin = run_direction(
                loop, x, s0_t, reverse=d == 1, lengths=batch.lengths, valid=batch.valid,
                zoneout=zo, training=self.training,
            )
            outs.append(out)
            finals.append(fin[0] if as_tensor else fin)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        final = finals[0] if len(finals) == 1 else tuple(finals)
        return batch.output(out), final
