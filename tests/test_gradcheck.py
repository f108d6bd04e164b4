"""torch.autograd.gradcheck in float64 through every regularizer path of every layer.

Random masks are redrawn from a fixed seed inside the function, so every evaluation that
gradcheck makes sees the same masks."""

import pytest
import torch

import rnnlab

PATHS = {
    "plain-loop": dict(),
    "recurrent_dropout": dict(recurrent_dropout=0.3),
    "zoneout": dict(zoneout=0.3),
    "weight_drop": dict(weight_drop=0.3),
    "input_dropout": dict(input_dropout=0.3),
    "layer_norm": dict(layer_norm=True),
    "recurrent_batch_norm": dict(recurrent_batch_norm=True),
    "bidirectional+lengths": dict(bidirectional=True, recurrent_dropout=0.2),
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN])
def test_gradcheck(cls, path):
    kwargs = dict(PATHS[path])
    m = cls(2, 3, **kwargs).double().train()
    m.use_fused_kernel = path not in ("plain-loop", "bidirectional+lengths")
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    lengths = [4, 2] if "lengths" in path else None
    names, params = zip(*m.named_parameters())

    def f(x, *ps):
        torch.manual_seed(1)
        out, _ = torch.func.functional_call(m, dict(zip(names, ps)), (x,), {"lengths": lengths})
        return out

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5)


def test_gradcheck_custom_cell():
    cell = rnnlab.cells.ConvLSTMCell1d(1, 2, kernel_size=3).double()
    layer = rnnlab.Recurrent(cell, zoneout=0.2, recurrent_dropout=0.2).train()
    x = torch.randn(3, 2, 1, 4, dtype=torch.float64, requires_grad=True)

    def f(x):
        torch.manual_seed(1)
        return layer(x)[0]

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)
