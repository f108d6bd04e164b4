"""Gradient through time of rnnlab.Recurrent under zoneout: for a cell that declares
output_is_state (StateAsOutput), the state after zoneout, which the layer outputs and carries
on, as rnnlab.LSTM / rnnlab.GRU measure it; any other cell is measured, as before, on its new
state before zoneout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.cells import StateAsOutput
from rnnlab.introspect import grad_through_time
from rnnlab.layers.loop import keep_weights

IN, H, B, T = 3, 4, 3, 6
CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}
ZONEOUT = {"lstm": (0.3, 0.1), "gru": 0.3}


class Plain(nn.Module):
    """StateAsOutput without the declaration: the same step, output y_t = its new h."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell
        self.hidden_size = cell.hidden_size

    def init_state(self, x):
        h = x.new_zeros(x.shape[0], self.hidden_size)
        return (h, h.clone()) if isinstance(self.cell, nn.LSTMCell) else h

    def forward(self, x, state):
        new = self.cell(x, state)
        return (new if isinstance(new, torch.Tensor) else new[0]), new


def _torch_cell(kind: str, builtin: nn.Module, suffix: str) -> nn.Module:
    cell = CELLS[kind](IN, H)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(builtin, name + suffix))
    return cell


def _pair(kind: str, bidirectional: bool, wrap=(StateAsOutput, StateAsOutput), **options):
    """rnnlab.LSTM/GRU and Recurrent over torch cells holding the same weights (wrap: per direction)."""
    torch.manual_seed(0)
    zoneout = ZONEOUT[kind]
    builtin = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[kind](
        IN, H, bidirectional=bidirectional, zoneout=zoneout, **options)
    cells = [w(_torch_cell(kind, builtin, s)) for w, s in zip(wrap, ["_l0", "_l0_reverse"][: 1 + bidirectional])]
    extra = {"reverse_cell": cells[1]} if bidirectional else {}
    rec = rnnlab.Recurrent(cells[0], bidirectional=bidirectional, zoneout=zoneout, **options, **extra)
    return builtin, rec


class OutAndFinal(nn.Module):
    """The layer's output and final h as [D, B, H], whichever state structure the layer returns."""

    def __init__(self, layer: nn.Module, lengths):
        super().__init__()
        self.layer, self.lengths = layer, lengths

    def forward(self, x):
        out, state = self.layer(x, lengths=self.lengths)
        if isinstance(self.layer, rnnlab.Recurrent):
            per_dir = state if self.layer.bidirectional else (state,)
            h = torch.stack([s if isinstance(s, torch.Tensor) else s[0] for s in per_dir])
        else:
            h = state if isinstance(state, torch.Tensor) else state[0]
        return out, h


def _loss(bidirectional: bool):
    g = torch.Generator().manual_seed(7)
    D = 2 if bidirectional else 1
    w, v = torch.randn(T, B, D * H, generator=g), torch.randn(D, B, H, generator=g)
    return lambda out: (out[0] * w).sum() + (out[1] * v).sum()


def _gtt(layer, x, lengths, bidirectional, seed=3):
    torch.manual_seed(seed)
    return grad_through_time(OutAndFinal(layer, lengths), x, _loss(bidirectional))["layer"]


@pytest.mark.parametrize("lengths", [None, [6, 4, 2]])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("training", [False, True])
def test_state_as_output_measures_what_the_builtin_layer_measures(kind, bidirectional, lengths, training):
    # The two layers compute the same function (tests/test_recurrent_zoneout_output.py), so the
    # same |dLoss/dh_t| of the state after zoneout; in training under one seed the same draws.
    builtin, rec = _pair(kind, bidirectional)
    builtin.train(training)
    rec.train(training)
    x = torch.randn(T, B, IN)
    ref = _gtt(builtin, x, lengths, bidirectional)
    got = _gtt(rec, x, lengths, bidirectional)
    assert sorted(got.layers) == sorted(ref.layers)
    for key in ref.layers:
        np.testing.assert_allclose(got.layers[key], ref.layers[key], rtol=1e-5, atol=1e-7, err_msg=str(key))


def test_state_as_output_with_recurrent_dropout_in_training():
    builtin, rec = _pair("lstm", True, recurrent_dropout=0.3)
    x = torch.randn(T, B, IN)
    ref = _gtt(builtin.train(), x, [6, 5, 3], True)
    got = _gtt(rec.train(), x, [6, 5, 3], True)
    for key in ref.layers:
        np.testing.assert_allclose(got.layers[key], ref.layers[key], rtol=1e-5, atol=1e-7, err_msg=str(key))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_loss_on_the_last_output_has_gradient_one_at_the_last_step(kind):
    # The last output is the last state after zoneout: dLoss/dh_T = 1 exactly (the cell's h
    # before zoneout has 1 - p = 0.7, what was measured before).
    _, rec = _pair(kind, False)
    g = grad_through_time(rec.eval(), torch.randn(T, B, IN), lambda out: out[0][-1].sum())[""]
    np.testing.assert_allclose(g.grad[-1], np.ones(H), rtol=0, atol=1e-12)


def _by_hand(cell: nn.Module, x: torch.Tensor, zoneout, w: torch.Tensor) -> np.ndarray:
    """|dLoss/dh_t| of a cell without the declaration, by hand: Recurrent's eval-mode loop with
    the output y_t = the cell's new h and the state carried on lerp(new, old, p)."""
    state = cell.init_state(x[0])
    state = (state,) if isinstance(state, torch.Tensor) else tuple(state)
    zo = zoneout if isinstance(zoneout, tuple) else (zoneout,) * len(state)
    keep = keep_weights(state, T, zo, False, None)
    hs, ys = [], []
    for t in range(T):
        y, new = cell(x[t], state[0] if len(state) == 1 else state)
        new = (new,) if isinstance(new, torch.Tensor) else tuple(new)
        hs.append(new[0])
        ys.append(y)
        state = tuple(torch.lerp(n, o, k[t]) for n, o, k in zip(new, state, keep))
    grads = torch.autograd.grad((torch.stack(ys) * w).sum(), hs)
    return torch.stack(grads).abs().mean(1).numpy()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_cell_without_the_declaration_is_measured_on_its_h_before_zoneout(kind):
    _, rec = _pair(kind, False, wrap=(Plain,))
    rec.eval()
    x = torch.randn(T, B, IN)
    w = torch.randn(T, B, H)
    got = grad_through_time(rec, x, lambda out: (out[0] * w).sum())[""]
    np.testing.assert_allclose(got.grad, _by_hand(rec.cell, x, ZONEOUT[kind], w), rtol=1e-6, atol=1e-9)


def test_each_direction_follows_its_own_cell():
    # Forward cell declared, reverse cell not: the forward direction is the built-in's, the
    # reverse one the undeclared cell's h before zoneout (as with both cells undeclared).
    builtin, mixed = _pair("lstm", True, wrap=(StateAsOutput, Plain))
    _, plain = _pair("lstm", True, wrap=(Plain, Plain))
    x = torch.randn(T, B, IN)
    ref = _gtt(builtin.eval(), x, [6, 4, 2], True)
    got = _gtt(mixed.eval(), x, [6, 4, 2], True)
    old = _gtt(plain.eval(), x, [6, 4, 2], True)
    np.testing.assert_allclose(got.layers[(0, "forward")], ref.layers[(0, "forward")], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.layers[(0, "reverse")], old.layers[(0, "reverse")], rtol=1e-5, atol=1e-7)
    assert not np.allclose(got.layers[(0, "reverse")], ref.layers[(0, "reverse")], rtol=1e-3)
