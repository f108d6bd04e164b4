"""torch.jit.trace and torch.export of the layers (with lengths too), and misspelt option attributes.

A trace or an export records the reference loop wherever rnnlab's fast loop would run (its C++
steps and hand-written backward cannot be recorded), and, with lengths, wherever torch's kernel
would pack them; the recorded model gives the eager outputs."""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnlab

T, B, F, H = 5, 3, 2, 3


class WithLengths(torch.nn.Module):
    """A model that passes ``lengths`` on to its layer, as a user's model does."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.rnn = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, state = self.rnn(x, lengths=lengths)
        return out, state[0] if isinstance(state, tuple) else state


def _trace(module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's deprecation and shape-check TracerWarnings)
        return torch.jit.trace(module, example, check_trace=True)


@pytest.mark.parametrize("make", [
    lambda: rnnlab.IndRNN(F, H),
    lambda: rnnlab.GRU(F, H, zoneout=0.1),
    lambda: rnnlab.LSTM(F, H, zoneout=0.1),
    lambda: rnnlab.LSTM(F, H, layer_norm=True),
    lambda: rnnlab.LSTM(F, H, recurrent_batch_norm=True, bidirectional=True),
], ids=["IndRNN", "GRU-zoneout", "LSTM-zoneout", "LSTM-layer_norm", "LSTM-recurrent_batch_norm"])
def test_traced_layer_gives_the_eager_outputs_in_eval_mode(make):
    torch.manual_seed(0)
    layer = make().eval()
    traced = _trace(layer, (torch.randn(T, B, F),))
    x = torch.randn(T, B + 2, F)  # another batch than the example's
    out, state = layer(x)
    t_out, t_state = traced(x)
    torch.testing.assert_close(t_out, out)
    for a, b in zip(t_state if isinstance(t_state, tuple) else (t_state,),
                    state if isinstance(state, tuple) else (state,)):
        torch.testing.assert_close(a, b)


def test_trace_with_full_lengths_keeps_the_lengths_for_later_calls():
    # Eagerly, full lengths drop to the unpadded path; a trace must not freeze that branch.
    torch.manual_seed(0)
    model = WithLengths(rnnlab.GRU(F, H, batch_first=True)).eval()
    x = torch.randn(B, T, F)
    traced = _trace(model, (x, torch.full((B,), T)))
    lengths = torch.tensor([T, 2, 1])
    for got, want in zip(traced(x, lengths), model(x, lengths)):
        torch.testing.assert_close(got, want)


def test_tracing_zoneout_in_training_mode_is_a_one_line_error():
    layer = rnnlab.LSTM(F, H, zoneout=0.1).train()
    with pytest.raises(ValueError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(layer, (torch.randn(T, B, F),))
    msg = str(err.value)
    assert "\n" not in msg and "zoneout=0.1" in msg and "eval" in msg


@pytest.mark.parametrize("make", [lambda: rnnlab.GRU(F, H, batch_first=True),
                                  lambda: rnnlab.LSTM(F, H, batch_first=True, zoneout=0.1, bidirectional=True)],
                         ids=["GRU", "LSTM-zoneout-bidirectional"])
def test_export_with_lengths_gives_the_eager_outputs(make):
    torch.manual_seed(0)
    model = WithLengths(make()).eval()
    x = torch.randn(B, T, F)
    program = torch.export.export(model, (x, torch.tensor([T, 3, 1])))
    for lengths in (torch.tensor([T, 3, 1]), torch.tensor([2, T, T])):
        for got, want in zip(program.module()(x, lengths), model(x, lengths)):
            torch.testing.assert_close(got, want)
    with pytest.raises(RuntimeError):  # (the lengths' range check, as the program's runtime assertion)
        program.module()(x, torch.tensor([0, T, T]))


def test_a_misspelt_option_attribute_is_refused_with_did_you_mean():
    layer = rnnlab.LSTM(F, H)
    with pytest.raises(AttributeError) as err:
        layer.zonout = 0.5
    msg = str(err.value)
    assert "\n" not in msg and "zonout" in msg and "did you mean 'zoneout'" in msg
    assert layer.zoneout == (0.0, 0.0) and "zonout" not in layer.__dict__


def test_own_attributes_and_existing_ones_are_still_set():
    layer = rnnlab.GRU(F, H)
    layer.my_tag = 1
    layer.hidden_dim = 7  # (not close enough to hidden_size to be taken for a typo)
    layer.zoneout = 0.25
    layer.training = False
    assert (layer.my_tag, layer.hidden_dim, layer.zoneout, layer.training) == (1, 7, (0.25,), False)
