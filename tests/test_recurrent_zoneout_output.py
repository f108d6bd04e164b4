"""Recurrent's output under zoneout for a cell whose output is its state: the zoned-out state,
as the built-in layers output it (Krueger et al.), so that Recurrent(StateAsOutput(torch cell))
is rnnlab.LSTM / rnnlab.GRU with the same weights and zoneout. A cell with a read-out keeps
outputting its own y_t."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.cells import StateAsOutput

IN, H, B, T = 3, 4, 3, 6


def _pair(kind: str, zoneout, bidirectional: bool, recurrent_dropout: float = 0.0):
    """A built-in layer and Recurrent(StateAsOutput(torch cell)) holding the same weights."""
    torch.manual_seed(0)
    builtin = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[kind](
        IN, H, bidirectional=bidirectional, zoneout=zoneout, recurrent_dropout=recurrent_dropout
    )
    cell_type = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
    cells = []
    for suffix in ["_l0", "_l0_reverse"][: 2 if bidirectional else 1]:
        cell = cell_type(IN, H)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(builtin, name + suffix))
        cells.append(StateAsOutput(cell))
    extra = {"reverse_cell": cells[1]} if bidirectional else {}
    rec = rnnlab.Recurrent(cells[0], bidirectional=bidirectional, zoneout=zoneout,
                           recurrent_dropout=recurrent_dropout, **extra)
    return builtin, rec


def _run(layer: nn.Module, x: torch.Tensor, lengths, seed: int):
    torch.manual_seed(seed)
    return layer(x, lengths=lengths)


@pytest.mark.parametrize("lengths", [None, [6, 4, 2]])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind, zoneout", [("lstm", (0.3, 0.1)), ("gru", 0.3)])
@pytest.mark.parametrize("training", [False, True])
def test_state_as_output_equals_the_builtin_layer_under_zoneout(kind, zoneout, bidirectional, lengths, training):
    # Eval: the expectation p*h_old + (1-p)*h_new is the output, not the cell's h_new.
    # Training: under one seed both draw the same zoneout masks in the same order.
    builtin, rec = _pair(kind, zoneout, bidirectional)
    builtin.train(training)
    rec.train(training)
    x = torch.randn(T, B, IN)
    out_b, state_b = _run(builtin, x, lengths, seed=11)
    out_r, state_r = _run(rec, x, lengths, seed=11)
    torch.testing.assert_close(out_r, out_b, rtol=1e-5, atol=1e-6)
    h_b = state_b[0] if kind == "lstm" else state_b
    h_r = [s[0] if kind == "lstm" else s for s in (state_r if bidirectional else (state_r,))]
    torch.testing.assert_close(torch.stack(h_r), h_b, rtol=1e-5, atol=1e-6)


def test_state_as_output_with_recurrent_dropout_and_zoneout_in_training():
    builtin, rec = _pair("lstm", (0.2, 0.2), True, recurrent_dropout=0.3)
    x = torch.randn(T, B, IN)
    out_b, _ = _run(builtin.train(), x, [6, 5, 3], seed=4)
    out_r, _ = _run(rec.train(), x, [6, 5, 3], seed=4)
    torch.testing.assert_close(out_r, out_b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_zoneout_one_outputs_the_initial_state_at_every_step(training):
    # Zoneout 1 keeps every unit: the state, and so the output, never leaves h0.
    rec = rnnlab.Recurrent(StateAsOutput(nn.GRUCell(IN, H)), zoneout=1.0).train(training)
    h0 = torch.randn(B, H)
    out, h = rec(torch.randn(T, B, IN), h0)
    torch.testing.assert_close(out, h0.expand(T, B, H), rtol=0, atol=0)
    torch.testing.assert_close(h, h0, rtol=0, atol=0)
    # zoneout 0 in training: the cell's own state, step by step
    rec = rnnlab.Recurrent(StateAsOutput(nn.GRUCell(IN, H)), zoneout=0.0).train(training)
    x = torch.randn(T, B, IN)
    out, _ = rec(x, h0)
    hs, h = [], h0
    for t in range(T):
        h = rec.cell.cell(x[t], h)
        hs.append(h)
    torch.testing.assert_close(out, torch.stack(hs))


class _ReadOut(nn.Module):
    """A cell whose output y_t = 2*h_new is a read-out, not its state."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden_size = H
        self.cell = nn.GRUCell(IN, H)

    def forward(self, x, h):
        h = self.cell(x, h)
        return 2 * h, h


class _Declared(_ReadOut):
    output_is_state = True

    def forward(self, x, h):
        h = self.cell(x, h)
        return h, h


def test_only_a_cell_that_declares_it_outputs_its_zoned_out_state():
    torch.manual_seed(2)
    readout, declared = _ReadOut(), _Declared()
    declared.load_state_dict(readout.state_dict())
    x = torch.randn(T, B, IN)
    out_readout, _ = rnnlab.Recurrent(readout, zoneout=0.5).eval()(x)
    out_declared, _ = rnnlab.Recurrent(declared, zoneout=0.5).eval()(x)
    h, ys, zoned = torch.zeros(B, H), [], []
    with torch.no_grad():
        for t in range(T):
            new = readout.cell(x[t], h)
            ys.append(2 * new)
            h = 0.5 * h + 0.5 * new
            zoned.append(h)
    torch.testing.assert_close(out_readout, torch.stack(ys))  # the read-out as the cell returned it
    torch.testing.assert_close(out_declared, torch.stack(zoned))


def test_a_declaration_that_is_not_a_bool_is_refused():
    class Odd(_Declared):
        output_is_state = "yes"

    with pytest.raises(TypeError, match=r"^cell: Odd\.output_is_state: expected True or False, got 'yes'$"):
        rnnlab.Recurrent(Odd())
