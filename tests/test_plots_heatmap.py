"""Per-gate heatmaps and histograms show exactly the data they are given."""

import numpy as np
import pytest
import torch

from rnnlab import plots
from rnnlab.gates import GATE_LABELS
from rnnlab.introspect import gate_activations, gate_weights
from rnnlab.introspect.activations import GateActivations


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]

def test_weight(tmp_path):
    lstm = torch.nn.LSTM(3, 6)
    with torch.no_grad():
        lstm.weight_hh_l0[6:12] = 0.9
    fig = plots.plot_weight_heatmaps(lstm, component="recurrent", path=tmp_path / "heat_weights_lstm.png")
    gate_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in gate_axes] == [f"{g} ({GATE_LABELS[g]})" for g in "ifgo"]
    w = lstm.weight_hh_l0.detach().numpy()
    for k, ax in enumerate(gate_axes):
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), w[6 * k : 6 * (k + 1)])
    m = float(np.float32(0.9))
    assert {ax.images[0].get_clim() for ax in gate_axes} == {(-m, m)}
    assert "constant = 0.9" in [t.get_text() for t in gate_axes[1].texts]
    assert "weight_hh_l0" in fig.get_suptitle()

def test_kernel():
    gru = torch.nn.GRU(2, 4)
    params = gate_weights(gru)[0]
    fig = plots.plot_weight_heatmaps(params, component="kernel")
    gate_axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split()[0] for ax in gate_axes] == ["r", "z", "n"]
    np.testing.assert_array_equal(np.asarray(gate_axes[2].images[0].get_array()), params.kernel["n"])
    assert gate_axes[0].get_xlabel() == "input feature"
    with pytest.raises(KeyError, match="did you mean 'kernel'"):
        plots.plot_weight_heatmaps(gru, component="kernal")

def test_acts(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.LSTM(2, 5, batch_first=True)
    x = torch.linspace(-2, 2, 40).reshape(1, 20, 2).repeat(3, 1, 1)
    acts = gate_activations(model, x)[0]
    fig = plots.plot_activation_heatmaps(acts, path=tmp_path / "heat_acts_lstm.png")
    gate_axes = [ax for ax in fig.axes if ax.images]
    assert len(gate_axes) == 4
    for ax, g in zip(gate_axes, "ifgo", strict=True):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), acts.gates[g].mean(0).T)
        assert ax.get_xlabel() == "timestep"
    assert gate_axes[0].images[0].get_clim() == (0.0, 1.0)  # (i: a sigmoid gate, 0 shut … 1 open)
    one = plots.plot_activation_heatmaps(acts, sample=2)
    np.testing.assert_allclose(np.asarray(one.axes[0].images[0].get_array()), acts.gates["i"][2].T)
    with pytest.raises(IndexError, match="sample"):
        plots.plot_activation_heatmaps(acts, sample=3)

def test_bad(tmp_path):
    a = np.arange(12.0).reshape(3, 4) / 11  # (a sigmoid gate's values: 0 … 1)
    a[1, 2] = np.nan
    b = np.full((3, 4), np.inf)
    acts = GateActivations("m", 0, "forward", "gru", {"r": a.T[None], "z": b.T[None], "n": np.zeros((1, 4, 0))})
    fig = plots.plot_activation_heatmaps(acts, path=tmp_path / "heat_bad.png")
    assert "1 NaN not shown" in texts(fig)
    assert "all 12 values non-finite" in texts(fig)
    assert "empty" in texts(fig)

def test_histograms_rows_gates_columns_components(tmp_path):
    from rnnlab.plots.histograms import gate_histograms, plot_gate_histograms
    lstm = torch.nn.LSTM(3, 8, bidirectional=True)
    with torch.no_grad():
        lstm.bias_ih_l0_reverse[8:16] = 1.0   # forget-gate bias: constant
        lstm.weight_hh_l0_reverse[0, 0] = float("nan")
    fig = plot_gate_histograms(lstm, direction="reverse", path=tmp_path / "hist_lstm.png")
    assert len(fig.axes) == 4 * 2 + 2
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes[:8:2]] == [f"{g} ({GATE_LABELS[g]})" for g in "ifgo"]
    assert "weight_ih_l0_reverse" in fig.axes[0].get_title() and "weight_hh_l0_reverse" in fig.axes[1].get_title()
    # every kernel value counted once; gates of a column share their bins
    assert sum(p.get_height() for p in fig.axes[0].patches) == 8 * 3
    assert len({ax.get_xlim() for ax in fig.axes[0:8:2]}) == 1
    assert "1 NaN not shown" in " ".join(t.get_text() for t in fig.axes[1].texts)
    assert "constant in gate f" in [t.get_text() for t in fig.axes[8].texts]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"{g} ({GATE_LABELS[g]})" for g in "ifgo"]
    assert "reverse" in fig.get_suptitle()
    lstm(torch.randn(5, 2, 3))[0].sum().backward()
    gru = torch.nn.GRU(2, 3, num_layers=2)
    gru(torch.randn(4, 2, 2))[0].sum().backward()  # (gradients to draw: none computed is an error)
    figs = gate_histograms(gru, grad=True)
    assert sorted(figs) == [(0, "forward"), (1, "forward")]
    assert "gradient" in figs[(0, "forward")].get_suptitle()


@pytest.mark.parametrize("plot, record", [
    (plots.plot_weight_heatmaps, "rnnlab.introspect.GateParams"),
    (plots.plot_gate_histograms, "rnnlab.gates.LayerWeights"),
])
def test_a_source_that_is_neither_a_module_nor_a_record_is_named(plot, record):
    with pytest.raises(TypeError, match=rf"source: expected a recurrent nn.Module or a {record}, got str"):
        plot("lstm")


def test_a_module_source_gives_the_chosen_layer_and_direction():
    from rnnlab.gates import LayerWeights, layer_from, layer_weights

    gru = torch.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    lw = layer_from(gru, LayerWeights, "rnnlab.gates.LayerWeights", layer_weights, 1, "reverse")
    assert (lw.layer, lw.direction) == (1, "reverse")
    torch.testing.assert_close(torch.cat([lw.recurrent[g] for g in ("r", "z", "n")]), gru.weight_hh_l1_reverse.detach())
    assert layer_from(lw, LayerWeights, "rnnlab.gates.LayerWeights", layer_weights, 0, "forward") is lw
