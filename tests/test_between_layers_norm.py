"""between_layers_norm: batch or layer norm of the outputs a stacked layer passes to the next,
against a hand-made stack of torch modules with the same weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab

TORCH = {"lstm": nn.LSTM, "gru": nn.GRU}
OURS = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU}


def _torch_stack(m, norm: nn.Module):
    """Two one-layer torch modules with ``m``'s weights, and ``norm`` between them."""
    kind = m.kind
    D = m.num_directions
    dtype = m.weight_ih_l0.dtype
    layers = [TORCH[kind](m.input_size if k == 0 else m.hidden_size * D, m.hidden_size, bidirectional=m.bidirectional,
                          dtype=dtype) for k in range(2)]
    ours = dict(m.named_parameters())
    with torch.no_grad():
        for k, layer in enumerate(layers):
            for name, p in layer.named_parameters():
                p.copy_(ours[name.replace("_l0", f"_l{k}")])
    norm.load_state_dict(m.between_norm_l0.state_dict())
    return layers, norm.to(dtype)


def _randomize_norm(m):
    with torch.no_grad():
        m.between_norm_l0.weight.uniform_(0.5, 2.0)
        m.between_norm_l0.bias.uniform_(-1.0, 1.0)


def _run_stack(layers, norm, x, lengths=None):
    if lengths is None:
        out0, s0 = layers[0](x)
        T, B, F = out0.shape
        mid = norm(out0.reshape(T * B, F)).view(T, B, F) if isinstance(norm, nn.BatchNorm1d) else norm(out0)
        out1, s1 = layers[1](mid)
        return out1, s0, s1
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out0, s0 = layers[0](packed)
    out0, _ = pad_packed_sequence(out0, total_length=x.shape[0])
    valid = torch.arange(x.shape[0])[:, None] < torch.tensor(lengths)[None, :]
    mid = torch.zeros_like(out0)
    mid[valid] = norm(out0[valid])  # statistics of the real steps only
    out1, s1 = layers[1](pack_padded_sequence(mid, lengths, enforce_sorted=False))
    out1, _ = pad_packed_sequence(out1, total_length=x.shape[0])
    return out1, s0, s1


def _finals(s0, s1):
    return [torch.cat([a, b]) for a, b in zip(s0, s1)] if isinstance(s0, tuple) else [torch.cat([s0, s1])]


@pytest.mark.parametrize("implementation", ["auto", "fast", "autograd"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_batch_norm_between_layers_equals_batchnorm1d_between_two_torch_layers(kind, implementation):
    torch.manual_seed(0)
    m = OURS[kind](3, 5, num_layers=2, between_layers_norm="batch", implementation=implementation).double().train()
    _randomize_norm(m)
    layers, bn = _torch_stack(m.double(), nn.BatchNorm1d(5).double())
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    out, fin = m(x)
    ref, s0, s1 = _run_stack(layers, bn.train(), x)
    torch.testing.assert_close(out, ref)
    for a, b in zip(fin if isinstance(fin, tuple) else [fin], _finals(s0, s1)):
        torch.testing.assert_close(a, b)
    # the same running statistics, then the same eval outputs from them
    torch.testing.assert_close(m.between_norm_l0.running_mean, bn.running_mean)
    torch.testing.assert_close(m.between_norm_l0.running_var, bn.running_var)
    assert float(bn.running_mean.abs().sum()) > 0
    out_eval, _ = m.eval()(x)
    ref_eval, _, _ = _run_stack(layers, bn.eval(), x)
    torch.testing.assert_close(out_eval, ref_eval)
    assert not torch.allclose(out_eval, out)  # eval uses the running statistics, not the batch's


def test_the_gradients_flow_through_the_norm_as_through_torch_modules():
    torch.manual_seed(1)
    m = rnnlab.LSTM(3, 4, num_layers=2, between_layers_norm="batch").double().train()
    _randomize_norm(m)
    layers, bn = _torch_stack(m, nn.BatchNorm1d(4).double())
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    m(x)[0].pow(2).sum().backward()
    _run_stack(layers, bn.train(), x)[0].pow(2).sum().backward()
    torch.testing.assert_close(m.between_norm_l0.weight.grad, bn.weight.grad)
    torch.testing.assert_close(m.between_norm_l0.bias.grad, bn.bias.grad)
    torch.testing.assert_close(m.weight_hh_l0.grad, layers[0].weight_hh_l0.grad)


def test_layer_norm_between_bidirectional_layers_equals_layernorm():
    torch.manual_seed(2)
    m = rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, between_layers_norm="layer").double()
    _randomize_norm(m)
    layers, ln = _torch_stack(m, nn.LayerNorm(8).double())
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    out, h = m(x)
    ref, s0, s1 = _run_stack(layers, ln, x)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h, _finals(s0, s1)[0])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_padded_steps_are_left_out_of_the_batch_statistics(kind):
    torch.manual_seed(3)
    lengths = [7, 4, 2]
    m = OURS[kind](3, 5, num_layers=2, between_layers_norm="batch", zoneout=0.0).double().train()
    _randomize_norm(m)
    layers, bn = _torch_stack(m, nn.BatchNorm1d(5).double())
    x = torch.randn(7, 3, 3, dtype=torch.float64)
    out, _ = m(x, lengths=lengths)
    ref, _, _ = _run_stack(layers, bn.train(), x, lengths)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(m.between_norm_l0.running_mean, bn.running_mean)
    # what sits in the padding changes nothing, the batch statistics included
    x2 = x.clone()
    x2[4:, 1] = 100.0
    x2[2:, 2] = -50.0
    m.between_norm_l0.reset_running_stats()
    out2, _ = m(x2, lengths=lengths)
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(m.between_norm_l0.running_mean, bn.running_mean)
    assert float(out2[4:, 1].detach().abs().max()) == 0.0  # padded outputs stay zero


def test_packed_input_gives_the_padded_results():
    torch.manual_seed(4)
    m = rnnlab.LSTM(3, 4, num_layers=3, between_layers_norm="batch").train()
    x, lengths = torch.randn(6, 3, 3), [6, 3, 5]
    out, _ = m(x, lengths=lengths)
    packed_out, _ = m(pack_padded_sequence(x, lengths, enforce_sorted=False))
    torch.testing.assert_close(pad_packed_sequence(packed_out, total_length=6)[0], out)
    assert [n for n, _ in m.named_children()] == ["between_norm_l0", "between_norm_l1"]


def test_the_norm_parameters_have_the_norm_role_and_show_in_the_repr():
    m = rnnlab.LSTM(3, 4, num_layers=2, between_layers_norm="layer")
    roles = rnnlab.roles(m)
    assert roles["between_norm_l0.weight"] == "norm" and roles["between_norm_l0.bias"] == "norm"
    assert "between_layers_norm='layer'" in repr(m)


def test_bad_values_get_one_clear_error():
    with pytest.raises(ValueError, match=r"between_layers_norm: expected one of \['batch', 'layer'\], got 'btach'; "
                                         r"did you mean 'batch'\?"):
        rnnlab.LSTM(3, 4, num_layers=2, between_layers_norm="btach")
    with pytest.raises(ValueError, match=r"between_layers_norm='batch': .*needs num_layers >= 2, got num_layers=1"):
        rnnlab.GRU(3, 4, between_layers_norm="batch")


def test_the_config_key_builds_the_norm():
    from rnnlab.config import ModelConfig
    from rnnlab.train.model import build_model

    model = build_model(ModelConfig(layer="gru", hidden_size=6, num_layers=2, between_layers_norm="batch"), 3, 2)
    assert isinstance(model.rnn.between_norm_l0, nn.BatchNorm1d)
