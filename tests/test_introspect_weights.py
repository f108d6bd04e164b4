import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.introspect.modules import recurrent_modules
from rnnlab.introspect.weights import COMPONENTS, gate_gradients, gate_weights


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(3, 5))
        self.lstm = nn.LSTM(5, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.lstm(self.encoder(x))
        return self.head(out[:, -1])


def test_lstm_weights_per_layer_direction_gate():
    m = Model()
    ws = gate_weights(m)
    assert [(w.module, w.layer, w.direction) for w in ws] == [
        ("lstm", 0, "forward"), ("lstm", 0, "reverse"), ("lstm", 1, "forward"), ("lstm", 1, "reverse")
    ]
    w = ws[3]
    H = 4
    for k, gate in enumerate(("i", "f", "g", "o")):
        rows = slice(k * H, (k + 1) * H)
        np.testing.assert_array_equal(w.kernel[gate], m.lstm.weight_ih_l1_reverse[rows].detach().numpy())
        np.testing.assert_array_equal(w.recurrent[gate], m.lstm.weight_hh_l1_reverse[rows].detach().numpy())
        np.testing.assert_array_equal(
            w.bias[gate], (m.lstm.bias_ih_l1_reverse + m.lstm.bias_hh_l1_reverse)[rows].detach().numpy()
        )
    assert w.kernel["i"].shape == (4, 8)  # layer 1 input = 2 directions x 4
    assert w.names == {
        "kernel": "lstm.weight_ih_l1_reverse",
        "recurrent": "lstm.weight_hh_l1_reverse",
        "bias_ih": "lstm.bias_ih_l1_reverse",
        "bias_hh": "lstm.bias_hh_l1_reverse",
    }
    assert w.gates == ("i", "f", "g", "o") and w.label == "lstm l1 reverse"
    assert [(c, g) for c, g, _ in w.items()][:5] == [
        ("kernel", "i"), ("kernel", "f"), ("kernel", "g"), ("kernel", "o"), ("recurrent", "i")
    ]
    # arrays are copies: editing them leaves the model alone
    w.kernel["i"][:] = 0
    assert m.lstm.weight_ih_l1_reverse.abs().sum() > 0


def test_gradients_split_like_weights():
    m = Model()
    x, y = torch.randn(3, 6, 3), torch.tensor([0, 1, 1])
    nn.functional.cross_entropy(m(x), y).backward()
    gs = gate_gradients(m)
    assert all(g.grad for g in gs)
    g = gs[0]
    np.testing.assert_array_equal(g.recurrent["f"], m.lstm.weight_hh_l0.grad[4:8].numpy())
    np.testing.assert_array_equal(g.bias_ih["o"], m.lstm.bias_ih_l0.grad[12:16].numpy())
    # no backward yet: an error, not arrays of zeros that read as a vanished gradient
    with pytest.raises(ValueError, match=r"no gradient has been computed .*call loss.backward\(\) first"):
        gate_gradients(nn.GRU(2, 3))


def test_gru_and_indrnn_layouts():
    gru = rnnlab.GRU(2, 3)
    w = gate_weights(gru)[0]
    assert w.kind == "gru" and sorted(w.kernel) == ["n", "r", "z"]
    np.testing.assert_array_equal(w.bias_hh["n"], gru.bias_hh_l0[6:9].detach().numpy())
    ind = rnnlab.IndRNN(2, 5, num_layers=2)
    w = gate_weights(ind)
    assert [x.layer for x in w] == [0, 1]
    assert w[1].recurrent["h"].shape == (5,)  # IndRNN: one recurrent weight per unit
    assert w[1].bias_hh == {} and w[1].bias["h"].shape == (5,)
    np.testing.assert_array_equal(w[1].bias["h"], ind.bias_ih_l1.detach().numpy())


def test_module_selection_and_errors():
    m = Model()
    assert [w.module for w in gate_weights(m, modules=["lstm"])] == ["lstm"] * 4
    with pytest.raises(KeyError, match="did you mean 'lstm'"):
        gate_weights(m, modules=["lstn"])
    with pytest.raises(TypeError, match="recurrent module"):
        gate_weights(m, modules=["head"])
    with pytest.raises(KeyError, match="did you mean 'bias'"):
        gate_weights(m)[0].component("bais")
    assert set(gate_weights(m)[0].component("bias")) == {"i", "f", "g", "o"}
    assert COMPONENTS == ("kernel", "recurrent", "bias_ih", "bias_hh")


def test_recurrent_modules_outermost_only():
    cell = rnnlab.cells.StateAsOutput(nn.GRUCell(3, 4))
    model = nn.ModuleDict({"rec": rnnlab.Recurrent(cell), "gru": rnnlab.GRU(3, 4), "lin": nn.Linear(2, 2)})
    assert [n for n, _ in recurrent_modules(model)] == ["rec", "gru"]
    assert [n for n, _ in recurrent_modules(model, gated=True)] == ["gru"]
    # a custom Recurrent has no gate layout: gate_weights lists only the known kinds
    assert [w.module for w in gate_weights(model)] == ["gru"]


@pytest.mark.parametrize(
    "module",
    [
        "rnnlab.introspect",
        "rnnlab.introspect.activations",
        "rnnlab.introspect.batch",
        "rnnlab.introspect.modules",
        "rnnlab.introspect.through_time",
        "rnnlab.introspect.weights",
        "rnnlab.tracker",
        "rnnlab.export.tensorboard",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(module)).failed == 0
