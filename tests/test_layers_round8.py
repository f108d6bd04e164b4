"""A researcher's reports on the layers as a library: assigning ``layer.options``, ``options=`` of
the wrong type and a misspelt ``LayerOptions`` keyword, second derivatives through the fast loops,
copies made inside a recording block, and keywords that tune a regularizer which is off."""

import copy
import pickle
import warnings

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.errors import ArgumentError

DT = torch.float64


# ---------------------------------------------------------------- 1. layer.options = ...
def test_assigned_options_are_resolved_as_at_construction():
    torch.manual_seed(0)
    built = rnnlab.LSTM(8, 16, zoneout=0.5).eval()
    assigned = rnnlab.LSTM(8, 16).eval()
    assigned.load_state_dict(built.state_dict())
    assigned.options = rnnlab.LayerOptions(zoneout=0.5)
    assert assigned.options == built.options  # zoneout as its per-state pair
    assert assigned.options.zoneout == (0.5, 0.5)
    x = torch.randn(5, 2, 8)
    assert torch.equal(assigned(x)[0], built(x)[0])
    assert repr(assigned) == repr(built)


def test_assigned_options_that_change_the_shape_are_refused_and_leave_the_layer_as_built():
    m = rnnlab.LSTM(8, 16)
    with pytest.raises(AttributeError, match=r"^options: changes num_layers=2 \(built with 1\), bidirectional=True "
                                             r"\(built with False\), .*build another layer") as e:
        m.options = rnnlab.LayerOptions(num_layers=2, bidirectional=True)
    assert "\n" not in str(e.value)
    assert (m.num_layers, m.bidirectional) == (1, False)
    y, (h, c) = m(torch.randn(5, 2, 8))
    assert h.shape == (1, 2, 16)


def test_assigned_options_with_a_bad_value_are_refused_naming_it():
    m = rnnlab.LSTM(8, 16)
    before = m.options
    with pytest.raises(ArgumentError, match=r"^weight_drop: expected a probability"):
        m.options = rnnlab.LayerOptions(recurrent_dropout=0.5, weight_drop=5.0)
    assert m.options is before


def test_options_replace_changes_the_regularizers_of_a_stacked_layer():
    m = rnnlab.GRU(3, 4, num_layers=2, bidirectional=True)
    m.options = m.options.replace(zoneout=0.2, recurrent_dropout=0.1)
    assert (m.zoneout, m.recurrent_dropout, m.num_layers) == ((0.2,), 0.1, 2)


# ---------------------------------------------------------------- 2. options= of another type, misspelt keyword
@pytest.mark.parametrize("assign", [False, True])
def test_options_as_a_dict_is_a_one_line_type_error(assign):
    with pytest.raises(TypeError) as e:
        if assign:
            rnnlab.LSTM(8, 16).options = {"zoneout": 0.1}
        else:
            rnnlab.LSTM(8, 16, options={"zoneout": 0.1})
    msg = str(e.value)
    assert msg.startswith("options: expected a rnnlab.LayerOptions, got dict {'zoneout': 0.1}")
    assert "rnnlab.LayerOptions(zoneout=0.1)" in msg and "\n" not in msg


def test_layer_options_misspelt_keyword_says_did_you_mean_as_the_layers_do():
    with pytest.raises(TypeError) as from_record:
        rnnlab.LayerOptions(zonout=0.1)
    with pytest.raises(TypeError) as from_layer:
        rnnlab.LSTM(8, 16, zonout=0.1)
    assert str(from_record.value) == str(from_layer.value)
    assert "did you mean 'zoneout'" in str(from_record.value)
    assert rnnlab.LayerOptions(2, zoneout=0.1).num_layers == 2  # (positional and keyword still work)


# ---------------------------------------------------------------- 3. second derivatives
FAST = [
    ("LSTM", {"zoneout": 0.2}),
    ("LSTM", {"layer_norm": True}),
    ("GRU", {"zoneout": 0.2}),
    ("GRU", {"recurrent_dropout": 0.2}),
    ("RNN", {"zoneout": 0.2}),
    ("IndRNN", {}),
]


def _penalty_grad(m, x):
    """The weights' gradient of a gradient penalty: second derivatives through the layer."""
    x = x.clone().requires_grad_(True)
    y, _ = m(x)
    gx, = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    m.zero_grad()
    gx.pow(2).sum().backward()
    return m.weight_hh_l0.grad.clone()


@pytest.mark.parametrize("kind,kw", FAST)
def test_second_derivative_through_the_fast_loop_names_the_layer_and_the_remedy(kind, kw):
    m = getattr(rnnlab, kind)(3, 4, **kw).to(DT).train()
    assert m._computation() == "fast"
    x = torch.randn(5, 2, 3, dtype=DT)
    with pytest.raises(RuntimeError) as e:
        _penalty_grad(m, x)
    msg = str(e.value)
    assert msg.startswith(f"double backward: rnnlab.{kind}'s fast loop") and "\n" not in msg
    assert "implementation='autograd'" in msg
    m.implementation = "autograd"  # the remedy the message names
    assert torch.isfinite(_penalty_grad(m, x)).all()


def test_a_penalty_whose_first_gradient_needs_no_graph_is_refused_not_silently_dropped():
    # (y.sum(): the incoming gradients are constants; torch's once_differentiable returned a
    # gradient without a graph, so a penalty on it lost its part through the layer unnoticed)
    m = rnnlab.LSTM(3, 4, zoneout=0.2).to(DT)
    x = torch.randn(5, 2, 3, dtype=DT, requires_grad=True)
    y, _ = m(x)
    gx, = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="implementation='autograd'"):
        gx.pow(2).sum().backward()


def test_reference_loop_second_derivative_equals_nn_lstm():
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, num_layers=2).to(DT)
    ours = rnnlab.LSTM(3, 4, num_layers=2, implementation="autograd").to(DT)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3, dtype=DT)
    torch.testing.assert_close(_penalty_grad(ours, x), _penalty_grad(ref, x))


def test_reference_loop_second_derivative_with_zoneout_passes_gradgradcheck():
    torch.manual_seed(0)
    m = rnnlab.GRU(2, 3, zoneout=0.3, implementation="autograd").to(DT).eval()  # (eval: deterministic zoneout)
    x = torch.randn(4, 2, 2, dtype=DT, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w: torch.func.functional_call(
        m, {**dict(m.named_parameters()), "weight_hh_l0": w}, (x,))[0], (x, m.weight_hh_l0.detach().requires_grad_()))


def test_first_derivatives_through_the_fast_loop_are_unchanged_by_create_graph():
    torch.manual_seed(0)
    m = rnnlab.GRU(3, 4, zoneout=0.2).to(DT).eval()
    x = torch.randn(5, 2, 3, dtype=DT, requires_grad=True)
    plain = torch.autograd.grad(m(x)[0].pow(2).sum(), (x, m.weight_hh_l0))
    graphed = torch.autograd.grad(m(x)[0].pow(2).sum(), (x, m.weight_hh_l0), create_graph=True)
    for a, b in zip(plain, graphed):
        assert torch.equal(a, b.detach())


# ---------------------------------------------------------------- 4. copies made inside a recording block
def _copies(m):
    """A deep copy, and a pickled copy (what torch.save(m) writes), made in memory."""
    return [copy.deepcopy(m), pickle.loads(pickle.dumps(m))]


@pytest.mark.parametrize("recording", ["recording_gates", "recording_states"])
def test_a_copy_made_inside_a_recording_block_does_not_record(recording):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4)
    never = rnnlab.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    with getattr(m, recording)() as record:
        copies = _copies(m)
        m(x)
        assert list(record) == [(0, "forward")]  # the original still records in its block
    record.clear()
    for best in copies:
        assert best._computation() == never._computation() == "torch"
        y, _ = best(x)
        assert best._gate_record is None and best._state_record is None
        assert record == {}  # nothing filled, in the block's record or elsewhere
        torch.testing.assert_close(y, m(x)[0])


# ---------------------------------------------------------------- 5. keywords that tune a regularizer that is off
@pytest.mark.parametrize("kw,says", [
    ({"batch_norm_steps": 5}, r"batch_norm_steps=5 .* without recurrent_batch_norm it does nothing"),
    ({"input_dropout_mode": "step"}, r"input_dropout_mode='step' .* without input_dropout it does nothing"),
])
def test_a_keyword_tuning_a_regularizer_that_is_off_warns_at_the_user_line(kw, says):
    with pytest.warns(UserWarning, match=says) as caught:
        rnnlab.GRU(3, 4, **kw)
    assert caught[0].filename == __file__


@pytest.mark.parametrize("kw", [
    {"batch_norm_steps": 5, "recurrent_batch_norm": True},
    {"input_dropout_mode": "step", "input_dropout": 0.1},
    {},
])
def test_a_keyword_tuning_a_regularizer_that_is_on_does_not_warn(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnlab.GRU(3, 4, **kw)
