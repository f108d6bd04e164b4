"""The cell spec of each kind, and what the fast LSTM now takes as it is (torch's gate order,
each layer norm with its own eps)."""

from __future__ import annotations

import pytest
import torch

import rnnlab
from rnnlab import gates


@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN])
def test_each_kind_has_one_spec_in_torchs_gate_order(cls):
    spec = cls.spec
    assert cls.kind == spec.kind and spec.gates == gates.GATES[spec.kind]
    m = cls(3, 4)
    assert m.weight_ih_l0.shape[0] == spec.num_gates * 4 and m.num_states == len(spec.states)


@pytest.mark.parametrize("implementation", ["fast", "fast-python"])
def test_the_fast_lstm_honours_each_layer_norms_own_eps(implementation):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, layer_norm=True).double()
    m.norm_l0.ih.eps, m.norm_l0.hh.eps, m.norm_l0.c.eps = 1e-3, 0.3, 2.0  # far apart: each one shows
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    results = []
    for impl in (implementation, "autograd"):  # (the autograd loop calls the nn.LayerNorm modules)
        m.implementation = impl
        m.zero_grad()
        out, (h, c) = m(x)
        (out.sum() + c.sum()).backward()
        results.append([out, c] + [p.grad.clone() for p in m.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)


def test_the_fast_lstm_takes_the_parameters_without_permuting_them():
    # Each gate's rows of W_ih act on that gate only: zeroing the o rows' input term of a fast
    # LSTM gives what the autograd loop (torch's order by construction) gives.
    torch.manual_seed(1)
    m = rnnlab.LSTM(3, 4, zoneout=0.1).double().eval()
    with torch.no_grad():
        gates.split_gates(m.bias_ih_l0, "lstm")["o"].fill_(-30.0)  # o shut: h = 0 at every step
        gates.split_gates(m.bias_hh_l0, "lstm")["o"].zero_()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    for impl in ("fast", "fast-python", "autograd"):
        m.implementation = impl
        out, (h, c) = m(x)
        assert float(out.detach().abs().max()) < 1e-10 and float(c.detach().abs().max()) > 1e-3, impl
