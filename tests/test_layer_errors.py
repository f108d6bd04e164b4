"""Bad input gets a clear error naming the argument, the expected and the actual value."""

import pytest
import torch

import rnnlab


def _raises(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    for part in match:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_wrong_input_rank():
    m = rnnlab.LSTM(3, 4, batch_first=True)
    _raises(ValueError, ["input", "3-D", "[batch, time, features]", "4-D", "(2, 5, 3, 1)"], m, torch.randn(2, 5, 3, 1))
    _raises(ValueError, ["input", "1-D"], m, torch.randn(5))


def test_wrong_feature_size():
    m = rnnlab.GRU(3, 4)
    _raises(ValueError, ["input_size=3", "got 7", "(5, 2, 7)"], m, torch.randn(5, 2, 7))


def test_wrong_hx_shape():
    m = rnnlab.LSTM(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    _raises(ValueError, ["hx[0] (h_0)", "(2, 2, 4)", "(1, 2, 4)"], m, x, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    _raises(ValueError, ["hx[1] (c_0)", "(2, 2, 4)", "(2, 2, 5)"], m, x, (torch.zeros(2, 2, 4), torch.zeros(2, 2, 5)))
    _raises(TypeError, ["hx", "tuple (h_0, c_0)"], m, x, torch.zeros(2, 2, 4))
    _raises(ValueError, ["hx (h_0)", "(1, 2, 4)", "(1, 3, 4)"], rnnlab.GRU(3, 4), x, torch.zeros(1, 3, 4))


@pytest.mark.parametrize("name", ["dropout", "input_dropout", "recurrent_dropout", "weight_drop"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_probability_out_of_range(name, value):
    _raises(ValueError, [name, "[0, 1)", repr(value)], rnnlab.LSTM, 3, 4, **{name: value})


def test_zoneout_range_and_arity():
    _raises(ValueError, ["zoneout", "[0, 1]", "1.2"], rnnlab.LSTM, 3, 4, zoneout=1.2)
    _raises(ValueError, ["zoneout", "(h, c)", "(0.1,)"], rnnlab.LSTM, 3, 4, zoneout=(0.1,))
    _raises(TypeError, ["zoneout", "probability", "str"], rnnlab.GRU, 3, 4, zoneout="0.1")


def test_unknown_activation_suggests():
    _raises(ValueError, ["activation", "'tanhh'", "did you mean 'tanh'"], rnnlab.LSTM, 3, 4, activation="tanhh")
    _raises(ValueError, ["recurrent_activation", "'sigmod'", "did you mean 'sigmoid'"], rnnlab.GRU, 3, 4,
            recurrent_activation="sigmod")
    _raises(ValueError, ["recurrent_init", "'orthogonl'", "did you mean 'orthogonal'"], rnnlab.LSTM, 3, 4,
            recurrent_init="orthogonl")


def test_residual_with_mismatched_sizes():
    _raises(ValueError, ["residual", "input_size", "= 8", "input_size=3", "'upper'"], rnnlab.LSTM, 3, 4,
            bidirectional=True, residual=True)
    _raises(ValueError, ["residual='upper'", "num_layers >= 2"], rnnlab.LSTM, 4, 4, residual="upper")
    _raises(ValueError, ["residual", "'below'"], rnnlab.LSTM, 4, 4, residual="below")


def test_lengths_errors():
    m = rnnlab.RNN(3, 4)
    x = torch.randn(5, 2, 3)
    _raises(ValueError, ["lengths", "[1, 5]", "max 6"], m, x, lengths=[6, 2])
    _raises(ValueError, ["lengths", "2 sequence lengths", "shape (3,)"], m, x, lengths=[5, 2, 1])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [5, 2])
    _raises(ValueError, ["lengths", "PackedSequence"], m, packed, lengths=[5, 2])


def test_other_bad_arguments():
    _raises(ValueError, ["hidden_size", "positive integer", "0"], rnnlab.LSTM, 3, 0)
    _raises(ValueError, ["unit_forget_bias", "forget gate", "gru"], rnnlab.GRU, 3, 4, unit_forget_bias=True)
    _raises(ValueError, ["layer_norm", "recurrent_batch_norm"], rnnlab.LSTM, 3, 4, layer_norm=True,
            recurrent_batch_norm=True)
    _raises(TypeError, ["kernel_constraint", "MaxNorm"], rnnlab.LSTM, 3, 4, kernel_constraint=3.0)
    _raises(ValueError, ["nonlinearity", "'sigmoid'"], rnnlab.RNN, 3, 4, nonlinearity="sigmoid")
    _raises(TypeError, ["input", "Tensor or PackedSequence", "list"], rnnlab.LSTM(3, 4), [[1.0, 2.0, 3.0]])
    _raises(TypeError, ["input", "floating-point", "int64"], rnnlab.LSTM(3, 4), torch.ones(2, 2, 3, dtype=torch.long))
    _raises(ValueError, ["input", "at least one timestep"], rnnlab.LSTM(3, 4), torch.ones(0, 2, 3))


def test_indrnn_refuses_a_recurrent_initializer_for_its_vector_weight():
    _raises(ValueError, ["recurrent_init", "'indrnn'", "a vector"], rnnlab.IndRNN, 3, 4, recurrent_init="orthogonal")
