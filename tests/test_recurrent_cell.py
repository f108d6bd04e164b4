"""rnnlab.Recurrent runs a user's cell with the same batching, packing, directions and state
regularizers as the built-in layers."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab


def _cell_from(lstm: nn.LSTM, suffix: str) -> nn.LSTMCell:
    cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size)
    cell.load_state_dict({k.replace(f"_l0{suffix}", ""): v for k, v in lstm.state_dict().items() if k.endswith(f"_l0{suffix}")})
    return cell


@pytest.mark.parametrize("packed", [False, True])
def test_custom_cell_equals_nn_lstm(packed):
    ref = nn.LSTM(3, 4, bidirectional=True, batch_first=True)
    layer = rnnlab.Recurrent(
        rnnlab.cells.StateAsOutput(_cell_from(ref, "")),
        reverse_cell=rnnlab.cells.StateAsOutput(_cell_from(ref, "_reverse")),
        bidirectional=True,
        batch_first=True,
    )
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    if packed:
        p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (fwd, rev) = layer(p)
        out_r, (h_r, c_r) = ref(p)
        torch.testing.assert_close(out.data, out_r.data, atol=1e-6, rtol=0)
    else:
        out, (fwd, rev) = layer(x, lengths=lengths)
        p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out_r, (h_r, c_r) = ref(p)
        out_r, _ = pad_packed_sequence(out_r, batch_first=True, total_length=6)
        torch.testing.assert_close(out, out_r, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack([fwd[0], rev[0]]), h_r, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack([fwd[1], rev[1]]), c_r, atol=1e-6, rtol=0)


def test_conv_cell_runs_with_zoneout_and_masking():
    cell = rnnlab.cells.ConvLSTMCell1d(2, 3, kernel_size=3)
    layer = rnnlab.Recurrent(cell, batch_first=True, zoneout=1.0)
    x = torch.randn(2, 5, 2, 8)
    out, (h, c) = layer(x)
    assert out.shape == (2, 5, 3, 8)
    # zoneout 1: the state never leaves its initial zeros
    assert torch.equal(h, torch.zeros_like(h)) and torch.equal(c, torch.zeros_like(c))
    layer = rnnlab.Recurrent(cell, batch_first=True)
    out, (h, _) = layer(x, lengths=[5, 2])
    assert torch.equal(out[1, 2:], torch.zeros_like(out[1, 2:]))
    out2, (h2, _) = layer(x[1:, :2])
    torch.testing.assert_close(h[1], h2[0])


def test_custom_cell_errors():
    with pytest.raises(TypeError, match="init_state"):
        rnnlab.Recurrent(nn.Identity())(torch.randn(3, 2, 4))
    with pytest.raises(TypeError, match=r"\(y_t, new_state\)"):
        rnnlab.Recurrent(nn.GRUCell(4, 5))(torch.randn(3, 2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="x_t: expected shape"):
        rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3))(torch.randn(3, 2, 5, 8))


def test_indrnn_matches_its_definition():
    m = rnnlab.IndRNN(3, 4, num_layers=1)
    x = torch.randn(7, 2, 3)
    out, h = m(x)
    hh = torch.zeros(2, 4)
    for t in range(7):
        hh = torch.relu(x[t] @ m.weight_ih_l0.T + m.bias_ih_l0 + m.weight_hh_l0 * hh)
        torch.testing.assert_close(out[t], hh)
    torch.testing.assert_close(h[0], hh)
    assert m.weight_hh_l0.shape == (4,) and not hasattr(m, "bias_hh_l0")
