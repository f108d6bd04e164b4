"""A model holding rnnlab's layers given to the user's own ``torch.compile``: the layers run
eagerly inside it (a graph break, as dynamo makes for nn.LSTM), with the values and gradients
of the model run eagerly. Dynamo's tracing (fake tensors) is what failed before, so the
``eager`` backend checks it without an inductor build."""

import pytest
import tomllib
import torch
from torch import nn

import rnnlab
from rnnlab.config import TEMPLATE, config_from_dict
from rnnlab.train.model import build_model


class _Net(nn.Module):
    def __init__(self, rnn: nn.Module, hidden: int) -> None:
        super().__init__()
        self.rnn, self.fc = rnn, nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.rnn(x)[0][-1]))


LAYERS = {
    "lstm (torch's kernel)": lambda: rnnlab.LSTM(3, 8),
    # (bidirectional: 2 × 4 outputs, the 8 the net reads)
    "lstm, 2 layers, bidirectional, zoneout (compiled loops)": lambda: rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True,
                                                                                zoneout=0.1),
    "lstm, recurrent batch norm": lambda: rnnlab.LSTM(3, 8, recurrent_batch_norm=True),
    "gru, recurrent dropout": lambda: rnnlab.GRU(3, 8, recurrent_dropout=0.2),
    "indrnn": lambda: rnnlab.IndRNN(3, 8),
    "custom cell": lambda: rnnlab.Recurrent(rnnlab.cells.StateAsOutput(nn.GRUCell(3, 8)), zoneout=0.1),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_compiled_model_with_the_layer_equals_the_eager_one(name):
    torch.manual_seed(0)
    net = _Net(LAYERS[name](), 8).eval()
    x = torch.randn(6, 4, 3)
    compiled = torch.compile(net, backend="eager")
    torch.testing.assert_close(compiled(x), net(x), rtol=0, atol=0)
    net.train()
    torch.manual_seed(1)
    compiled(x).square().sum().backward()
    compiled_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch.manual_seed(1)
    net(x).square().sum().backward()
    for g, p in zip(compiled_grads, net.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_the_template_model_compiles():
    """The training model: front-end (its max-pool traced as tensor ops), LSTM, head."""
    cfg = config_from_dict(tomllib.loads(TEMPLATE))
    torch.manual_seed(0)
    model = build_model(cfg.model, 3, 2).eval()
    x = torch.randn(4, 40, 3)
    torch.testing.assert_close(torch.compile(model, backend="eager")(x)[0], model(x)[0])


def test_a_torch_cell_in_recurrent_says_to_wrap_it():
    with pytest.raises(TypeError, match=r"torch's LSTMCell returns only its new state.*StateAsOutput\(cell\)"):
        rnnlab.Recurrent(nn.LSTMCell(3, 5))


def test_torchscript_is_a_plain_error():
    net = _Net(rnnlab.LSTM(3, 8, zoneout=0.1), 8).eval()
    with pytest.raises(TypeError, match=r"torch.jit.script: rnnlab's LSTM is Python.*use torch.compile"):
        torch.jit.script(net)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_torch_export_of_an_eval_model_with_the_layer_gives_its_outputs(name):
    """A trained model taken to deployment: torch.export traces with fake tensors, which the fast
    loops' C++ steps do not take ("lstm_forward: the compiled loop runs on the CPU, got meta");
    inside an export the layer runs its reference loop, whose outputs are the fast loop's."""
    torch.manual_seed(0)
    net = _Net(LAYERS[name](), 8).eval()
    # (3 steps: the export traces the reference loop step by step, its time in proportion)
    x = torch.randn(3, 4, 3)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x), atol=1e-5, rtol=1e-5)
    other = torch.randn(3, 4, 3)  # (the program, not a record of the first call's outputs)
    torch.testing.assert_close(exported.module()(other), net(other), atol=1e-5, rtol=1e-5)
    # a dynamic batch axis, as a server batches requests
    dynamic = torch.export.export(net, (x,), dynamic_shapes=({1: torch.export.Dim("batch")},))
    wider = torch.randn(3, 7, 3)
    torch.testing.assert_close(dynamic.module()(wider), net(wider), atol=1e-5, rtol=1e-5)
