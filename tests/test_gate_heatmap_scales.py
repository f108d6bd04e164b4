"""Activation heatmaps draw each gate on its own activation's scale, so a shut sigmoid gate (0)
is told apart from a neutral tanh value (0); weights keep one signed scale."""

import numpy as np
import torch

import rnnlab
from rnnlab import plots
from rnnlab.introspect import gate_activations
from rnnlab.plots.heatmap import plot_gate_heatmaps
from rnnlab.plots.style import COLORBAR


def panels(fig):
    """Gate title letter -> its AxesImage."""
    return {ax.get_title().split()[0]: ax.images[0] for ax in fig.axes if ax.images and ax.get_label() != COLORBAR}


def bar_labels(fig):
    return [ax.get_ylabel() for ax in fig.axes if ax.get_label() == COLORBAR]


def assert_scales(fig, sigmoid, tanh):
    ims = panels(fig)
    for g in sigmoid:
        im = ims[g]
        assert (im.norm.vmin, im.norm.vmax) == (0.0, 1.0), g
        assert im.cmap.name.startswith("viridis"), g  # sequential: shut and open at its two ends
        assert not np.allclose(im.cmap(im.norm(0.0)), im.cmap(im.norm(1.0)))
    for g in tanh:
        im = ims[g]
        assert (im.norm.vmin, im.norm.vmax) == (-1.0, 1.0), g
        assert im.cmap.name.startswith("RdBu_r"), g  # diverging, centred at 0
    shut = ims[sigmoid[0]].cmap(ims[sigmoid[0]].norm(0.0))
    neutral = ims[tanh[0]].cmap(ims[tanh[0]].norm(0.0))
    assert np.abs(np.subtract(shut, neutral)[:3]).max() > 0.3  # a shut gate is not drawn as a neutral tanh value
    labels = bar_labels(fig)
    assert len(labels) == 2 and labels[0].startswith("sigmoid") and labels[1].startswith("tanh")
    bars = [ax for ax in fig.axes if ax.get_label() == COLORBAR]
    ticks = [t.get_text() for t in bars[0].get_yticklabels()]
    assert "0 shut" in ticks and "1 open" in ticks


def test_lstm_sigmoid_gates_on_0_to_1_and_the_candidate_on_minus_1_to_1(tmp_path):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True)
    x = torch.randn(2, 7, 3)
    acts = gate_activations(lstm, x)
    for a in acts:  # both directions
        fig = plots.plot_activation_heatmaps(a, path=tmp_path / f"lstm_{a.direction}.png")
        assert_scales(fig, "ifo", "g")
    # weights are signed: one symmetric scale and one bar, as before
    w = plots.plot_weight_heatmaps(lstm)
    assert all(im.cmap.name.startswith("RdBu_r") for im in panels(w).values())
    assert len({(im.norm.vmin, im.norm.vmax) for im in panels(w).values()}) == 1
    assert bar_labels(w) == ["weight"]


def test_gru_reset_and_update_on_0_to_1_and_the_new_gate_on_minus_1_to_1(tmp_path):
    torch.manual_seed(0)
    gru = rnnlab.GRU(3, 4, batch_first=True)
    fig = plots.plot_activation_heatmaps(gate_activations(gru, torch.randn(2, 6, 3))[0], path=tmp_path / "gru.png")
    assert_scales(fig, "rz", "n")


def test_a_gate_outside_its_activation_range_and_gates_without_activation_share_a_data_scale():
    z = np.full((2, 3), 0.5)
    n = np.linspace(0.0, 4.0, 6).reshape(2, 3)  # (a relu candidate: not tanh's range)
    fig = plot_gate_heatmaps({"z": z, "n": n}, activations={"z": "sigmoid", "n": "tanh"})
    ims = panels(fig)
    assert (ims["z"].norm.vmin, ims["z"].norm.vmax) == (0.0, 1.0)
    assert (ims["n"].norm.vmin, ims["n"].norm.vmax) == (0.0, 4.0)
    assert bar_labels(fig) == ["sigmoid", "value"]
    # no activation info (a custom cell's gates): one shared scale from the data, one bar
    fig = plot_gate_heatmaps({"a": z, "b": n}, activations={})
    assert {(im.norm.vmin, im.norm.vmax) for im in panels(fig).values()} == {(0.0, 4.0)}
    assert bar_labels(fig) == ["value"]
