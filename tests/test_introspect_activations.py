import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab
from rnnlab.introspect.activations import gate_activations, layer_outputs


def lstm_gates_reference(w_ih, w_hh, b, x, h_prev):
    """Gates of one LSTM layer from its inputs x [B, T, I] and previous states h_prev [B, T, H]."""
    pre = x @ w_ih.T + h_prev @ w_hh.T + b
    i, f, g, o = pre.chunk(4, dim=-1)
    return {"i": torch.sigmoid(i), "f": torch.sigmoid(f), "g": torch.tanh(g), "o": torch.sigmoid(o)}


def shifted(out, reverse):
    """h_{t-1} in processing order: previous step for forward, next step for reverse."""
    z = torch.zeros_like(out[:, :1])
    return torch.cat([out[:, 1:], z], 1) if reverse else torch.cat([z, out[:, :-1]], 1)


@pytest.mark.parametrize("cls", [nn.LSTM, rnnlab.LSTM])
def test_lstm_gate_activations_match_hand_computation(cls):
    torch.manual_seed(0)
    lstm = cls(3, 4, bidirectional=True, batch_first=True)
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        out, _ = lstm(x)
    acts = gate_activations(lstm, x)
    assert [(a.layer, a.direction) for a in acts] == [(0, "forward"), (0, "reverse")]
    for a, d in zip(acts, (0, 1), strict=True):
        sfx = "_l0" + ("_reverse" if d else "")
        p = {n: getattr(lstm, n + sfx).detach() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        h = out[..., d * 4 : (d + 1) * 4]
        ref = lstm_gates_reference(p["weight_ih"], p["weight_hh"], p["bias_ih"] + p["bias_hh"], x, shifted(h, d == 1))
        for gate in "ifgo":
            assert a.gates[gate].shape == (2, 6, 4)
            np.testing.assert_allclose(a.gates[gate], ref[gate].numpy(), atol=1e-6)


def test_gru_gates_torch_and_rnnlab_agree_and_match_formula():
    torch.manual_seed(1)
    ref = nn.GRU(2, 3, num_layers=2)
    ours = rnnlab.GRU(2, 3, num_layers=2)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 4, 2)  # time-major
    a_ref, a_ours = gate_activations(ref, x), gate_activations(ours, x)
    for r, o in zip(a_ref, a_ours, strict=True):
        for g in "rzn":
            np.testing.assert_allclose(r.gates[g], o.gates[g], atol=1e-6)
    # z from the formula for layer 0
    with torch.no_grad():
        w_ih, w_hh = ref.weight_ih_l0, ref.weight_hh_l0
        b_ih, b_hh = ref.bias_ih_l0, ref.bias_hh_l0
        h = torch.zeros(4, 3)
        zs = []
        for t in range(5):
            gi, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            r = torch.sigmoid(gi[:, :3] + gh[:, :3])
            z = torch.sigmoid(gi[:, 3:6] + gh[:, 3:6])
            n = torch.tanh(gi[:, 6:] + r * gh[:, 6:])
            h = (1 - z) * n + z * h
            zs.append(z)
    np.testing.assert_allclose(a_ref[0].gates["z"], torch.stack(zs, 1).numpy(), atol=1e-6)


def test_layer_outputs_layouts_and_lengths():
    torch.manual_seed(2)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(2, 3, bidirectional=True)
            self.relu = nn.ReLU()

        def forward(self, x):
            out, _ = self.gru(x)
            return self.relu(out)

    m = M()
    x = torch.randn(6, 4, 2)
    acts = layer_outputs(m, x, modules=["gru", "relu"])
    with torch.no_grad():
        out, _ = m.gru(x)
    np.testing.assert_allclose(acts["gru"].output, out.transpose(0, 1).numpy())
    np.testing.assert_allclose(acts["gru"].direction("reverse"), out.transpose(0, 1)[..., 3:].numpy())
    assert not acts["relu"].recurrent and acts["relu"].output.shape == (6, 4, 6)
    # packed input: padded [B, T, C] and lengths
    lstm = nn.LSTM(2, 3)
    packed = pack_padded_sequence(x, torch.tensor([6, 2, 5, 1]), enforce_sorted=False)
    a = layer_outputs(lstm, packed)[""]
    assert a.output.shape == (4, 6, 3) and a.lengths.tolist() == [6, 2, 5, 1]
    assert not a.output[1, 2:].any()
    with pytest.raises(KeyError, match="direction"):
        a.direction("backward")


def test_errors():
    with pytest.raises(ValueError, match="no recurrent module"):
        layer_outputs(nn.Linear(2, 2), torch.randn(1, 2))
    m = nn.Sequential(nn.LSTM(2, 2))
    with pytest.raises(KeyError, match="did you mean '0'"):
        layer_outputs(m, torch.randn(3, 1, 2), modules=["00"])
    with pytest.raises(TypeError, match="no known gates"):
        gate_activations(nn.Sequential(nn.Linear(2, 2)), torch.randn(1, 2), modules=["0"])


def test_custom_recurrent_outputs_but_no_gates():
    cell = rnnlab.cells.StateAsOutput(nn.GRUCell(2, 3))
    model = nn.ModuleDict({"rec": rnnlab.Recurrent(cell), "gru": rnnlab.GRU(3, 3)})

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = model

        def forward(self, x):
            return self.parts["gru"](self.parts["rec"](x)[0])

    m = M()
    x = torch.randn(4, 2, 2)
    outs = layer_outputs(m, x)
    assert set(outs) == {"parts.rec", "parts.gru"} and outs["parts.rec"].output.shape == (2, 4, 3)
    assert [g.module for g in gate_activations(m, x)] == ["parts.gru"]
