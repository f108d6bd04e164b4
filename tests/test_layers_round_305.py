"""Round 305 (layers): Recurrent's settings checked when assigned (the built-in layers'
mechanism), activations and initializers checked when given, one-line errors for trace, export
and script, Rule(l1=...) with a torch optimizer said, output_is_state's y_t checked by value."""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnlab
from rnnlab.layers.options import CheckedSettings
from rnnlab.regularize import Rule, param_groups


def _cell() -> torch.nn.Module:
    return rnnlab.cells.StateAsOutput(torch.nn.LSTMCell(3, 4))


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, msg
    return msg


@pytest.mark.parametrize("name, value, said", [
    ("zoneout", 2.0, "zoneout: expected a probability in [0, 1], got 2.0"),
    ("zoneout", (0.1, 3), "zoneout: expected a probability in [0, 1], got 3"),
    ("input_dropout", 1.0, "input_dropout: expected a probability in [0, 1), got 1.0"),
    ("recurrent_dropout", -0.5, "recurrent_dropout: expected a probability in [0, 1), got -0.5"),
    ("batch_first", "yes", "batch_first: expected True or False"),
    ("input_dropout_mode", "stp", "did you mean 'step'"),
    ("zonout", 0.5, "did you mean 'zoneout'"),
    ("bidirectional", True, "bidirectional: the layer's parameters were built from it"),
])
def test_recurrent_checks_a_setting_when_it_is_assigned(name, value, said):
    rnn = rnnlab.Recurrent(_cell())
    with pytest.raises((ValueError, TypeError, AttributeError)) as err:
        setattr(rnn, name, value)
    _one_line(err, said)
    assert (rnn.zoneout, rnn.input_dropout, rnn.recurrent_dropout, rnn.batch_first) == (0.0, 0.0, 0.0, False)
    assert "zonout" not in rnn.__dict__


def test_recurrent_and_the_built_in_layers_share_one_mechanism():
    rnn, lstm = rnnlab.Recurrent(_cell()), rnnlab.LSTM(3, 4)
    assert isinstance(rnn, CheckedSettings) and isinstance(lstm, CheckedSettings)
    assert "__setattr__" not in type(rnn).__dict__ and "__setattr__" not in rnnlab.RecurrentBase.__dict__
    rnn.zoneout, rnn.batch_first, rnn.my_tag = [0.1, 0.2], True, 1  # (a list: one per state tensor)
    assert rnn.zoneout == (0.1, 0.2) and rnn.batch_first is True and rnn.my_tag == 1
    out, _ = rnn(torch.randn(2, 5, 3))  # (batch_first now: [B, T, F])
    assert out.shape == (2, 5, 4)
    with pytest.raises(ValueError, match="zoneout: expected a probability in"):
        rnnlab.Recurrent(_cell(), zoneout=2.0)  # (the constructor checks through the same path)
    with pytest.raises(ValueError, match="zoneout: expected a probability in"):
        lstm.zoneout = 2.0
    with pytest.raises(AttributeError, match="num_layers: the layer's parameters were built from it"):
        lstm.num_layers = 2


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_an_activation_is_checked_when_given(argument):
    with pytest.raises(TypeError) as err:
        rnnlab.LSTM(3, 4, **{argument: torch.nn.ReLU})
    _one_line(err, f"{argument}:", "pass an instance: torch.nn.ReLU()")
    with pytest.raises(TypeError) as err:
        rnnlab.LSTM(3, 4, **{argument: torch.nn.PReLU()})
    _one_line(err, f"{argument}:", "PReLU", "weight", "rnnlab.Recurrent")
    with pytest.raises(ValueError) as err:
        rnnlab.LSTM(3, 4, **{argument: lambda z: z.mean()})
    _one_line(err, f"{argument}:", "shape ()")
    with pytest.raises(TypeError) as err:
        rnnlab.LSTM(3, 4, **{argument: lambda z: z.view(3, 3)})
    _one_line(err, f"{argument}:", "RuntimeError")
    layer = rnnlab.LSTM(3, 4, **{argument: torch.nn.ReLU()})  # (a module without parameters is fine)
    with pytest.raises(TypeError, match=f"{argument}: PReLU has parameters"):
        setattr(layer, argument, torch.nn.PReLU())  # (an assignment is checked as the constructor is)


def test_trace_and_export_in_training_mode_with_zoneout_and_script_of_recurrent_are_one_line_errors():
    x = torch.randn(5, 2, 3)
    rnn = rnnlab.Recurrent(_cell(), zoneout=0.2)
    with pytest.raises(ValueError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(rnn, (x,))
    _one_line(err, "torch.jit.trace: zoneout=0.2 in training mode", "model.eval()")
    with pytest.raises(TypeError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(rnn)
    _one_line(err, "torch.jit.script: rnnlab's Recurrent is Python", "torch.export")
    rnn.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(rnn, (x,))  # (in eval mode zoneout is deterministic: traced)

    class Out(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = rnnlab.LSTM(3, 4, zoneout=0.2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    with pytest.raises(ValueError) as err:
        torch.export.export(Out(), (x,))
    _one_line(err, "torch.export: zoneout=0.2 in training mode", "export the model in eval mode")


def _two_steps(make_optimizer, prox: bool) -> list[str]:
    model = rnnlab.GRU(2, 3)
    opt = make_optimizer(param_groups(model, [Rule(role="recurrent", l1=0.5, label="rec")]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
            opt.step()
            if prox:
                rnnlab.optim.apply_l1_prox(opt)
    return [str(w.message) for w in caught if "l1" in str(w.message)]


def test_l1_of_a_rule_ignored_by_a_torch_optimizer_warns_once():
    said = _two_steps(lambda g: torch.optim.SGD(g, lr=0.1), prox=False)
    assert len(said) == 1 and "\n" not in said[0], said
    assert "group 'rec' has l1=0.5" in said[0] and "torch.optim.SGD ignores" in said[0]
    assert "rnnlab.optim.AdamW" in said[0] and "apply_l1_prox" in said[0]
    assert _two_steps(lambda g: torch.optim.SGD(g, lr=0.1), prox=True) == []  # (applied by hand: true)
    assert _two_steps(lambda g: rnnlab.optim.SGDW(g, lr=0.1), prox=False) == []


def test_an_initializer_may_return_a_tensor_and_other_forms_are_one_line_errors():
    layer = rnnlab.LSTM(3, 4, kernel_init=lambda t: torch.full_like(t, 0.5),
                       recurrent_init=lambda t: torch.nn.init.zeros_(t))
    assert bool((layer.weight_ih_l0 == 0.5).all()) and bool((layer.weight_hh_l0 == 0).all())
    with pytest.raises(ValueError) as err:
        rnnlab.GRU(3, 4, recurrent_init=lambda t: t.sum())
    _one_line(err, "recurrent_init: the initializer returned a tensor of shape ()", "(4, 4)")
    for value in ({"i": "orthogonal"}, ["orthogonal"]):
        with pytest.raises(TypeError) as err:
            rnnlab.LSTM(3, 4, kernel_init=value)
        _one_line(err, "kernel_init: expected None, an initializer name", "or a callable", type(value).__name__)


class _ReadOut(torch.nn.Module):
    output_is_state = True

    def __init__(self, scale: float | None) -> None:
        super().__init__()
        self.lin, self.scale = torch.nn.Linear(7, 4), scale

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 4)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.lin(torch.cat([x, h], -1)))
        return (h.clone() if self.scale is None else self.scale * h), h


def test_output_is_state_refuses_a_y_t_of_the_states_shape_with_other_values():
    with pytest.raises(ValueError) as err:
        rnnlab.Recurrent(_ReadOut(2.0))(torch.randn(5, 2, 3))
    _one_line(err, "_ReadOut(x_t, state) returned a y_t that differs from its new state's first tensor",
              "output_is_state = False")
    out, h = rnnlab.Recurrent(_ReadOut(None))(torch.randn(5, 2, 3))  # (a copy of the state: its output)
    assert torch.equal(out[-1], h)


def test_nonlinearity_on_other_layers_points_to_activation():
    for kind in (rnnlab.GRU, rnnlab.IndRNN, rnnlab.LSTM):
        with pytest.raises(TypeError) as err:
            kind(3, 4, nonlinearity="tanh")
        _one_line(err, "nonlinearity:", "activation=")


def test_numpy_sizes_and_probabilities_are_taken_as_torch_takes_them():
    import numpy as np

    layer = rnnlab.LSTM(3, np.int64(4), num_layers=2, dropout=np.float32(0.1))
    assert layer.hidden_size == 4 and type(layer.hidden_size) is int


def test_an_unbatched_input_with_a_batched_state_is_a_one_line_error_naming_state():
    layer = rnnlab.Recurrent(rnnlab.cells.StateAsOutput(torch.nn.GRUCell(3, 4)))
    with pytest.raises(ValueError, match=r"^state: an unbatched input \[T, features\] takes the cell's state without a "
                                         r"batch axis \(1 dimension here\), got shape \[1, 4\]"):
        layer(torch.randn(5, 3), torch.zeros(1, 4))
    out, h = layer(torch.randn(5, 3), torch.zeros(4))
    assert out.shape == (5, 4) and h.shape == (4,)
