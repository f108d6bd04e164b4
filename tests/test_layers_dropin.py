"""rnnlab's layers dropped into code written for torch's: eval mode runs torch's kernel where the
regularizers in effect allow it (and equals torch exactly), ``proj_size`` and ``all_weights`` as
``nn.LSTM`` has them, ``to_torch()`` for deployment, and ``torch.func.grad`` / ``vmap``."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

import rnnlab
from rnnlab.layers.computation import choose_computation, torch_lacks

TORCH = {rnnlab.LSTM: nn.LSTM, rnnlab.GRU: nn.GRU, rnnlab.RNN: nn.RNN}
DROPOUTS = {"recurrent_dropout": 0.3, "weight_drop": 0.4, "input_dropout": 0.2}


def _torch_twin(m: rnnlab.RecurrentBase) -> nn.Module:
    """torch's module of ``m``'s kind and configuration, built by hand, with ``m``'s weights."""
    kw = {"nonlinearity": m.nonlinearity} if isinstance(m, rnnlab.RNN) else {}
    ref = TORCH[type(m)](m.input_size, m.hidden_size, num_layers=m.num_layers, bias=m.bias,
                         batch_first=m.batch_first, bidirectional=m.bidirectional, **kw)
    ref.load_state_dict(m.state_dict())
    return ref.eval()


def _computation(m: rnnlab.RecurrentBase) -> str:
    return choose_computation(m.options, m.spec, recording=False, training=m.training)


def _assert_same(a, b) -> None:
    (out_a, st_a), (out_b, st_b) = a, b
    assert torch.equal(out_a, out_b)
    for x, y in zip(st_a if isinstance(st_a, tuple) else (st_a,), st_b if isinstance(st_b, tuple) else (st_b,)):
        assert torch.equal(x, y)


# ---------------------------------------------------------------- 1. eval mode: torch's kernel, exactly
EVAL_CASES = [
    (rnnlab.LSTM, {"recurrent_dropout": 0.3}),
    (rnnlab.LSTM, DROPOUTS),
    (rnnlab.LSTM, {**DROPOUTS, "num_layers": 2, "bidirectional": True, "dropout": 0.25}),
    (rnnlab.GRU, {"recurrent_dropout": 0.3}),
    (rnnlab.GRU, {**DROPOUTS, "num_layers": 2, "batch_first": True}),
    (rnnlab.RNN, {**DROPOUTS, "nonlinearity": "relu"}),
]


@pytest.mark.parametrize("cls, kw", EVAL_CASES)
def test_eval_mode_with_dropouts_only_runs_torchs_kernel_and_equals_torch_exactly(cls, kw):
    torch.manual_seed(0)
    m = cls(3, 5, **kw)
    assert _computation(m) != "torch"  # in training the dropouts act: rnnlab's loop (or masked arguments)
    m.eval()
    assert _computation(m) == "torch"
    ref = _torch_twin(m)
    x = torch.randn(7, 4, 3)
    h0 = torch.randn(m.num_layers * m.num_directions, 4 if not m.batch_first else 7, 5)
    x = x.transpose(0, 1).contiguous() if m.batch_first else x
    h0 = torch.randn(m.num_layers * m.num_directions, x.shape[0 if m.batch_first else 1], 5)
    hx = (h0, torch.randn_like(h0)) if cls is rnnlab.LSTM else h0
    with torch.no_grad():
        _assert_same(m(x, hx), ref(x, hx))
        _assert_same(m(x), ref(x))


def test_eval_mode_keeps_the_loop_where_a_regularizer_acts_there():
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, zoneout=0.5, recurrent_dropout=0.3).eval()
    assert _computation(m) == "fast"  # (zoneout's eval form is the expectation, which torch's kernel lacks)
    x = torch.randn(9, 2, 3)
    with torch.no_grad():
        out, ref_out = m(x)[0], _torch_twin(m)(x)[0]
    assert (out - ref_out).abs().max() > 1e-3
    for kw in ({"layer_norm": True}, {"recurrent_batch_norm": True}):
        assert _computation(rnnlab.LSTM(3, 5, recurrent_dropout=0.3, **kw).eval()) == "fast"


def test_asking_for_torchs_kernel_in_eval_mode_with_a_dropout_is_no_error():
    m = rnnlab.LSTM(3, 4, recurrent_dropout=0.2, implementation="torch")
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match="torch's fused kernel does not compute recurrent_dropout"):
        m(x)
    m.eval()
    _assert_same(m(x), _torch_twin(m)(x))


# ---------------------------------------------------------------- 2. proj_size and all_weights
@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN])
@pytest.mark.parametrize("bias", [True, False])
def test_all_weights_are_torchs_names_shapes_and_order_and_the_layers_own_tensors(cls, bias):
    m = cls(3, 5, num_layers=2, bidirectional=True, bias=bias)
    ref = TORCH[cls](3, 5, num_layers=2, bidirectional=True, bias=bias)
    assert m.proj_size == ref.proj_size == 0
    names = {id(p): name for name, p in m.named_parameters()}
    assert [[names[id(p)] for p in ps] for ps in m.all_weights] == ref._all_weights
    assert [[p.shape for p in ps] for ps in m.all_weights] == [[p.shape for p in ps] for ps in ref.all_weights]
    for ps in m.all_weights:  # (an init loop written for nn.LSTM reaches the layer's parameters)
        for p in ps:
            nn.init.constant_(p, 0.5)
    assert all(bool((p == 0.5).all()) for p in m.parameters())


def test_indrnn_all_weights_are_its_own_parameters():
    m = rnnlab.IndRNN(3, 5, num_layers=2)
    assert m.proj_size == 0
    assert [[p for p in ps] for ps in m.all_weights] == [
        [m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0], [m.weight_ih_l1, m.weight_hh_l1, m.bias_ih_l1]]


def test_proj_size_zero_is_accepted_and_above_zero_is_a_one_line_error():
    assert rnnlab.LSTM(3, 4, proj_size=0).proj_size == 0
    assert rnnlab.LSTM(3, 4, 1, True, False, 0.0, False, 0).proj_size == 0  # (torch's positional order)
    for make in (lambda: rnnlab.LSTM(3, 4, proj_size=2), lambda: rnnlab.LSTM(3, 4, 1, True, False, 0.0, False, 2),
                 lambda: rnnlab.GRU(3, 4, proj_size=2)):
        with pytest.raises(ValueError, match=r"^proj_size: .*no output projection.* expected 0, got 2; [^\n]*$"):
            make()


# ---------------------------------------------------------------- 3. to_torch
TO_TORCH_CASES = [
    (rnnlab.LSTM, {}),
    (rnnlab.LSTM, {**DROPOUTS, "num_layers": 2, "bidirectional": True, "dropout": 0.25, "unit_forget_bias": True}),
    (rnnlab.LSTM, {"batch_first": True, "bias": False, "kernel_init": "orthogonal"}),
    (rnnlab.GRU, {**DROPOUTS, "num_layers": 2}),
    (rnnlab.RNN, {"nonlinearity": "relu", "recurrent_dropout": 0.2, "bidirectional": True}),
]


@pytest.mark.parametrize("cls, kw", TO_TORCH_CASES)
def test_to_torch_gives_torchs_own_layer_computing_the_eval_outputs_exactly(cls, kw):
    torch.manual_seed(0)
    m = cls(3, 5, **kw)
    plain = m.to_torch()
    assert type(plain) is TORCH[cls] and not plain.training
    assert plain.num_layers == m.num_layers and plain.bidirectional == m.bidirectional
    assert plain.dropout == (m.dropout if m.num_layers > 1 else 0.0)
    assert all(p is not q for p, q in zip(plain.parameters(), m.parameters()))  # (a copy)
    m.eval()
    x = torch.randn(6, 2, 3)
    with torch.no_grad():
        _assert_same(plain(x), m(x))


@pytest.mark.parametrize("cls, kw, option", [
    (rnnlab.LSTM, {"layer_norm": True}, "layer_norm=True"),
    (rnnlab.LSTM, {"zoneout": 0.1, "recurrent_dropout": 0.2}, "zoneout=0.1"),
    (rnnlab.GRU, {"recurrent_batch_norm": True}, "recurrent_batch_norm=True"),
    (rnnlab.IndRNN, {}, "the indrnn cell"),
    (rnnlab.LSTM, {"num_layers": 2, "residual": "upper"}, "residual='upper'"),
    (rnnlab.LSTM, {"num_layers": 2, "between_layers_norm": "layer"}, "between_layers_norm='layer'"),
    (rnnlab.LSTM, {"activation": "relu"}, "activation='relu'"),
])
def test_to_torch_where_torch_lacks_an_option_names_it_in_one_line(cls, kw, option):
    m = cls(3, 4, **kw)
    with pytest.raises(ValueError, match=r"^to_torch: torch's nn\.\w+ does not compute [^\n]*") as e:
        m.to_torch()
    assert option in str(e.value) and "recurrent_dropout" not in str(e.value)


@pytest.mark.parametrize("cls, kw", EVAL_CASES + TO_TORCH_CASES + [
    (rnnlab.LSTM, {"zoneout": 0.1}), (rnnlab.LSTM, {"layer_norm": True}), (rnnlab.IndRNN, {}),
    (rnnlab.LSTM, {"num_layers": 2, "residual": "upper"}),
])
def test_to_torch_exists_exactly_where_eval_mode_runs_torchs_kernel_in_one_torch_call(cls, kw):
    m = cls(3, 3, **kw).eval()
    kernel_lacks = torch_lacks(m.options, m.spec, training=False)
    assert (not kernel_lacks) == (_computation(m) == "torch")
    if not torch_lacks(m.options, m.spec, training=False, module=True):
        m.to_torch()


# ---------------------------------------------------------------- 4. torch.func.grad and vmap
FUNC_CASES = [
    (rnnlab.LSTM, {"recurrent_dropout": 0.0, "zoneout": 0.1}, False),
    (rnnlab.LSTM, {"layer_norm": True}, True),
    (rnnlab.LSTM, {"zoneout": 0.1, "implementation": "fast-python"}, False),  # (the step loops CUDA runs, compiled)
    (rnnlab.GRU, {"zoneout": 0.1}, False),
    (rnnlab.IndRNN, {"recurrent_batch_norm": True}, False),
]


def _pair(cls, kw, training):
    """The layer and its autograd-loop twin, in float64 (so 1e-6 holds the loops to their math)."""
    torch.manual_seed(0)
    m = cls(3, 4, dtype=torch.float64, **kw).train(training)
    ref = cls(3, 4, dtype=torch.float64, **{**kw, "implementation": "autograd"}).train(training)
    ref.load_state_dict(m.state_dict())
    return m, ref


@pytest.mark.parametrize("cls, kw, training", FUNC_CASES)
def test_torch_func_grad_runs_the_fast_loop_and_equals_autograd(cls, kw, training):
    m, ref = _pair(cls, kw, training)
    assert _computation(m).startswith("fast")  # (no transform: the speed path)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    params = {k: v.detach() for k, v in m.named_parameters()}
    seen = []

    def f(out, state):  # (the output's gradient depends on the parameters: torch.func's backward records it)
        h = state[0] if isinstance(state, tuple) else state
        return out.square().sum() + (h * torch.linspace(-1, 1, h.numel(), dtype=h.dtype).view_as(h)).sum()

    def loss(p, x):
        seen.append(_computation(m))
        return f(*functional_call(m, p, (x,)))

    g_params, g_x = grad(loss, argnums=(0, 1))(params, x)
    assert seen == [m.implementation if m.implementation != "auto" else "fast"]  # (its own backward)
    xr = x.clone().requires_grad_()
    expected = torch.autograd.grad(f(*ref(xr)), [*ref.parameters(), xr])
    for name, e in zip([n for n, _ in ref.named_parameters()], expected[:-1]):
        torch.testing.assert_close(g_params[name], e, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(g_x, expected[-1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cls, kw, training", FUNC_CASES + [
    (rnnlab.LSTM, {}, False), (rnnlab.GRU, {"recurrent_dropout": 0.2}, False),  # (else torch's kernel: nn.LSTM
    (rnnlab.RNN, {}, True),                                                        # fails under vmap)
])
def test_torch_func_vmap_and_per_sample_grads_run_the_reference_loop_and_equal_autograd(cls, kw, training):
    m, ref = _pair(cls, kw, training)
    xs = torch.randn(3, 6, 2, 3, dtype=torch.float64)  # 3 independent batches
    params = {k: v.detach() for k, v in m.named_parameters()}
    seen = []

    def run(p, x):
        seen.append(_computation(m))
        return functional_call(m, p, (x,))[0]

    outs = vmap(run, in_dims=(None, 0))(params, xs)
    assert seen == ["autograd"]  # (the fast loops have no batching rule)
    with torch.no_grad():
        torch.testing.assert_close(outs, torch.stack([ref(x)[0] for x in xs]), atol=1e-6, rtol=1e-6)
    per_sample = vmap(grad(lambda p, x: run(p, x).square().sum()), in_dims=(None, 0))(params, xs)
    for i, x in enumerate(xs):
        expected = torch.autograd.grad(ref(x)[0].square().sum(), list(ref.parameters()))
        for (name, _), e in zip(ref.named_parameters(), expected):
            torch.testing.assert_close(per_sample[name][i], e, atol=1e-6, rtol=1e-6)
