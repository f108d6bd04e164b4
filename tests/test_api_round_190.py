"""A researcher's round with the Python API (tester helper-190): the gradient through time of a
layer given `lengths=` ends at the longest sequence's last step (its reach no longer counts the
padding past every sequence's end); Keras' `units=` gets rnnlab's way without `hidden_size` too;
the bias heatmap names the two tensors whose sum it draws; and a weight behind weight norm is
penalized through the tensors it is stored as (g and v), as docs/regularization.md says."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab import WeightPenalty, introspect
from rnnlab.plots import plot_weight_heatmaps


class _Last(nn.Module):
    def __init__(self, lengths):
        super().__init__()
        self.rnn = rnnlab.LSTM(2, 4, batch_first=True)
        self.head = nn.Linear(4, 1)
        self.lengths = lengths

    def forward(self, x):
        _, (h, _) = self.rnn(x, lengths=self.lengths)
        return self.head(h[-1])


def test_the_reach_of_a_layer_given_lengths_ends_at_the_longest_sequence():
    torch.manual_seed(0)
    x, y = torch.randn(3, 30, 2), torch.randn(3, 1)
    padded = _Last(torch.tensor([20, 15, 10]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no "Mean of empty slice" from steps no sequence reaches)
        g = introspect.grad_through_time(padded, (x, y), F.mse_loss)["rnn"]
    assert g.timesteps == 20 and np.isfinite(g.per_timestep()).all()
    # the same sequences without the padding past the longest: the same curve, the same reach
    cut = introspect.grad_through_time(padded, (x[:, :20], y), F.mse_loss)["rnn"]
    np.testing.assert_allclose(g.per_timestep(), cut.per_timestep(), rtol=1e-6)
    assert g.reach() == cut.reach() <= 20


@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN])
def test_keras_units_without_hidden_size_gets_rnnlabs_way(cls):
    with pytest.raises(TypeError, match=r"^units: a Keras keyword.*hidden_size"):
        cls(8, units=16)
    with pytest.raises(TypeError, match=rf"^hidden_size: required, .*got none; e.g. {cls.__name__}\(8, 64\)"):
        cls(8)


def test_the_bias_heatmap_names_the_sum_it_draws():
    lstm = plot_weight_heatmaps(rnnlab.LSTM(3, 4), component="bias")._suptitle.get_text()
    assert lstm == "LSTM model l0: bias weights bias_ih_l0 + bias_hh_l0"
    gru = plot_weight_heatmaps(nn.GRU(3, 4), component="bias")._suptitle.get_text()
    assert "bias_ih_l0 + bias_hh_l0 (n gate: b_in + b_hn, of which it adds b_in + r·b_hn)" in gru


def test_a_weight_normed_kernel_is_penalized_through_g_and_v():
    lin = nn.Sequential(nn.Linear(4, 4))
    torch.nn.utils.parametrizations.weight_norm(lin[0])
    stored = lin[0].parametrizations.weight
    expected = float((stored.original0 ** 2).sum() + (stored.original1 ** 2).sum())
    assert float(WeightPenalty(lin, l2={"kernel": 1.0})().detach()) == pytest.approx(expected, rel=1e-6)
    assert rnnlab.roles(lin)["0.parametrizations.weight.original0"] == "kernel"
