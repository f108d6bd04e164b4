"""One options object, one regularizer registry, one function that picks the computation."""

from __future__ import annotations

import pytest
import torch

import rnnlab
from rnnlab.layers.computation import choose_computation
from rnnlab.layers.options import LayerOptions
from rnnlab.layers.regularizers import REGULARIZERS

#: the keywords that are no regularizer: torch's arguments, the activations, the override
STRUCTURAL = {"num_layers", "bias", "batch_first", "bidirectional", "activation", "recurrent_activation",
              "implementation"}


def test_every_keyword_belongs_to_one_regularizer_or_to_the_structure():
    owned = [k for reg in REGULARIZERS for k in reg.keywords]
    assert len(owned) == len(set(owned))
    assert set(owned) | STRUCTURAL == set(LayerOptions.names())
    assert not set(owned) & STRUCTURAL


def test_options_give_the_layer_that_the_keywords_give():
    kw = dict(num_layers=2, bidirectional=True, recurrent_dropout=0.2, zoneout=(0.1, 0.2), layer_norm=True)
    torch.manual_seed(0)
    a = rnnlab.LSTM(3, 4, **kw)
    torch.manual_seed(0)
    b = rnnlab.LSTM(3, 4, options=LayerOptions(**kw))
    assert a.options == b.options and repr(a) == repr(b)
    x = torch.randn(5, 2, 3)
    outs = []
    for m in (a, b):
        torch.manual_seed(1)
        outs.append(m(x)[0])
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_options_and_keywords_together_are_refused():
    with pytest.raises(TypeError, match=r"options: give the keywords in options= or as arguments, not both; got \['zoneout'\]"):
        rnnlab.GRU(3, 4, options=LayerOptions(), zoneout=0.1)
    with pytest.raises(TypeError, match=r"not both; got \['num_layers'\]"):
        rnnlab.LSTM(3, 4, 2, options=LayerOptions())  # (torch's positional num_layers)


def test_an_unknown_keyword_suggests_the_right_one():
    with pytest.raises(TypeError, match=r"zonout: not a keyword of rnnlab's recurrent layers; did you mean 'zoneout'\?"):
        rnnlab.LSTM(3, 4, zonout=0.1)


def test_the_implementation_override_is_a_checked_argument():
    with pytest.raises(ValueError, match=r"implementation: expected one of .*got 'autgrad'; did you mean 'autograd'\?"):
        rnnlab.LSTM(3, 4, implementation="autgrad")
    m = rnnlab.LSTM(3, 4, implementation="autograd")
    assert m.implementation == "autograd" and "implementation='autograd'" in repr(m)
    with pytest.raises(ValueError, match="did you mean 'fast'"):
        m.implementation = "fats"


def test_asking_for_torchs_kernel_where_it_is_not_exact_names_what_it_lacks():
    m = rnnlab.LSTM(3, 4, zoneout=0.1, recurrent_dropout=0.2, implementation="torch")
    with pytest.raises(ValueError, match=r"implementation='torch': torch's fused kernel does not compute "
                                         r"recurrent_dropout, zoneout"):
        m(torch.randn(2, 1, 3))
    m = rnnlab.GRU(3, 4, activation="relu", implementation="torch")
    with pytest.raises(ValueError, match=r"does not compute activation='relu'"):
        m(torch.randn(2, 1, 3))


CHOICES = [
    (rnnlab.LSTM, {}, "torch"),
    (rnnlab.LSTM, {"weight_drop": 0.5, "input_dropout": 0.2, "dropout": 0.1, "num_layers": 2}, "torch"),
    (rnnlab.LSTM, {"between_layers_norm": "batch", "num_layers": 2}, "torch"),
    (rnnlab.LSTM, {"recurrent_dropout": 0.25}, "fast"),
    (rnnlab.LSTM, {"zoneout": 0.1}, "fast"),
    (rnnlab.LSTM, {"layer_norm": True}, "fast"),
    (rnnlab.LSTM, {"recurrent_batch_norm": True}, "fast"),
    (rnnlab.GRU, {"recurrent_batch_norm": True}, "fast"),
    (rnnlab.IndRNN, {"recurrent_batch_norm": True}, "fast"),
    (rnnlab.LSTM, {"activation": "relu"}, "autograd"),
    (rnnlab.LSTM, {"recurrent_activation": "hard_sigmoid"}, "autograd"),
    (rnnlab.GRU, {}, "torch"),
    (rnnlab.GRU, {"recurrent_dropout": 0.25}, "fast"),
    (rnnlab.GRU, {"layer_norm": True}, "autograd"),
    (rnnlab.RNN, {"nonlinearity": "relu"}, "torch"),
    (rnnlab.RNN, {"activation": "elu"}, "autograd"),
    (rnnlab.IndRNN, {}, "fast"),
    (rnnlab.IndRNN, {"activation": "tanh", "zoneout": 0.2}, "fast"),
    (rnnlab.LSTM, {"zoneout": 0.1, "implementation": "fast-python"}, "fast-python"),
    (rnnlab.LSTM, {"implementation": "fast"}, "fast"),
    (rnnlab.GRU, {"layer_norm": True, "implementation": "fast"}, "autograd"),  # no fast loop for it
]


@pytest.mark.parametrize("cls, kw, expected", CHOICES)
def test_the_computation_is_the_fastest_that_computes_every_option(cls, kw, expected):
    m = cls(3, 4, **kw)
    assert choose_computation(m.options, m.spec, recording=False) == expected
    assert choose_computation(m.options, m.spec, recording=True) == "autograd"  # (gates and states: its steps)


def test_setting_an_option_checks_it_again_and_parameters_shape_are_fixed():
    m = rnnlab.LSTM(3, 4)
    m.zoneout = 0.3
    assert m.zoneout == (0.3, 0.3) and choose_computation(m.options, m.spec, recording=False) == "fast"
    with pytest.raises(ValueError, match=r"zoneout: expected a probability in \[0, 1\], got 2.0"):
        m.zoneout = 2.0
    with pytest.raises(AttributeError, match="layer_norm: the layer's parameters were built from it"):
        m.layer_norm = True


def test_dropout_on_a_single_layer_warns_as_torch_does():
    import warnings

    with pytest.warns(UserWarning, match=r"dropout=0.5 acts between stacked layers, so with num_layers=1 it does nothing"):
        rnnlab.LSTM(3, 4, dropout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnlab.LSTM(3, 4, num_layers=2, dropout=0.5)


@pytest.mark.parametrize("name", ["hidden_size", "input_size", "num_layers"])
def test_a_size_the_parameters_were_built_from_cannot_be_changed_afterwards(name):
    layer = rnnlab.LSTM(3, 4)
    with pytest.raises(AttributeError, match=f"{name}: the layer's parameters were built from it"):
        setattr(layer, name, 8)
    assert layer(torch.randn(5, 2, 3))[0].shape == (5, 2, 4)
