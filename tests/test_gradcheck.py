"""torch.autograd.gradcheck in float64 through every regularizer path of every layer.

Random masks are redrawn from a fixed seed inside the function, so every evaluation that
gradcheck makes sees the same masks."""

import pytest
import torch

import rnnlab

PATHS = {
    "plain": dict(),
    "recurrent_dropout": dict(recurrent_dropout=0.3),
    "zoneout": dict(zoneout=0.3),
    "weight_drop": dict(weight_drop=0.3),
    "input_dropout": dict(input_dropout=0.3),
    "layer_norm": dict(layer_norm=True),
    "recurrent_batch_norm": dict(recurrent_batch_norm=True),
    "bidirectional+lengths": dict(bidirectional=True, recurrent_dropout=0.2),
}


LAYERS_AND_LOOPS = [
    *((cls, impl) for cls in (rnnlab.LSTM, rnnlab.GRU, rnnlab.RNN, rnnlab.IndRNN) for impl in ("fast", "autograd")),
]
#: The LSTM's step loops without the compiled library, on two paths only: every path of the
#: compiled loops is checked here, and tests/test_fast_loop.py (and test_batch_norm_loops.py)
#: hold the Python loops equal to them in float64 (1e-12) with dropout, zoneout, layer norm,
#: lengths, both directions and recurrent batch norm; without the library "fast" is them.
PYTHON_STEPS = [(rnnlab.LSTM, path, "fast, Python steps") for path in ("plain", "bidirectional+lengths")]


@pytest.mark.parametrize("cls, path, impl", [(cls, path, impl) for cls, impl in LAYERS_AND_LOOPS for path in PATHS]
                         + PYTHON_STEPS)
def test_gradcheck(cls, path, impl):
    _gradcheck(cls, path, impl, torch.device("cpu"))


@pytest.mark.parametrize("path", ["plain", "zoneout", "layer_norm", "bidirectional+lengths"])
def test_gradcheck_on_device(path, device):
    """The LSTM's fast loop on every device present (on CUDA: its Python step loops on the GPU)."""
    if device.type == "cpu":
        pytest.skip("on the CPU, test_gradcheck checks these and more")
    _gradcheck(rnnlab.LSTM, path, "fast", device)


def _gradcheck(cls, path, impl, device):
    kwargs = dict(PATHS[path])
    m = cls(2, 3, **kwargs).double().train().to(device)
    m.implementation = "fast-python" if impl == "fast, Python steps" else impl
    x = torch.randn(4, 2, 2, dtype=torch.float64, device=device, requires_grad=True)
    lengths = [4, 2] if "lengths" in path else None
    h0 = torch.randn(2 if m.bidirectional else 1, 2, 3, dtype=torch.float64, device=device, requires_grad=True)
    hx = (h0, h0.detach().clone().requires_grad_()) if cls is rnnlab.LSTM else h0
    names, params = zip(*m.named_parameters())

    states = list(hx) if isinstance(hx, tuple) else [hx]

    def f(x, *rest):
        torch.manual_seed(1)
        st, ps = rest[: len(states)], rest[len(states):]
        h = tuple(st) if len(st) == 2 else st[0]
        out, fin = torch.func.functional_call(m, dict(zip(names, ps)), (x, h), {"lengths": lengths})
        return (out, *fin) if isinstance(fin, tuple) else (out, fin)

    assert torch.autograd.gradcheck(f, (x, *states, *params), eps=1e-6, atol=1e-5)


def test_gradcheck_custom_cell():
    cell = rnnlab.cells.ConvLSTMCell1d(1, 2, kernel_size=3).double()
    layer = rnnlab.Recurrent(cell, zoneout=0.2, recurrent_dropout=0.2).train()
    x = torch.randn(3, 2, 1, 4, dtype=torch.float64, requires_grad=True)

    def f(x):
        torch.manual_seed(1)
        return layer(x)[0]

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)


def _fast_and_autograd(m, x, lengths):
    """Outputs, final states and parameter gradients of both loops, drawing the same masks."""
    results = []
    for impl in ("fast", "autograd"):
        m.implementation = impl
        m.zero_grad()
        torch.manual_seed(5)
        out, fin = m(x, lengths=lengths)
        fin = fin if isinstance(fin, tuple) else (fin,)
        loss = out.square().sum() + sum((f * (k + 1)).sum() for k, f in enumerate(fin))
        loss.backward()
        results.append([out, *fin] + [p.grad.clone() for p in m.parameters()])
    return results


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (rnnlab.LSTM, dict(recurrent_dropout=0.3, zoneout=(0.2, 0.4), weight_drop=0.2, input_dropout=0.1)),
        (rnnlab.GRU, dict(recurrent_dropout=0.3, zoneout=0.2)),
        (rnnlab.GRU, dict(recurrent_dropout=0.3, bias=False)),
        (rnnlab.RNN, dict(recurrent_dropout=0.3, zoneout=0.2, nonlinearity="relu")),
        (rnnlab.IndRNN, dict(recurrent_dropout=0.3, zoneout=0.2)),
        (rnnlab.IndRNN, dict(activation="tanh")),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_fast_loop_equals_autograd_loop_with_regularizers(cls, kwargs, training):
    """Same masks (same seed, same order of draws), same values and gradients."""
    m = cls(3, 5, num_layers=2, bidirectional=True, batch_first=True, **kwargs).train(training).double()
    x = torch.randn(4, 7, 3, dtype=torch.float64)
    results = _fast_and_autograd(m, x, torch.tensor([7, 3, 5, 1]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def _graph_names(t):
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return names


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: rnnlab.LSTM(3, 4), "MkldnnRnnLayerBackward0|CudnnRnnBackward0|LstmBackward"),
        (lambda: rnnlab.LSTM(3, 4, weight_drop=0.3), "MkldnnRnnLayerBackward0|CudnnRnnBackward0|LstmBackward"),
        (lambda: rnnlab.LSTM(3, 4, recurrent_dropout=0.3), "_LSTMBackward"),
        (lambda: rnnlab.GRU(3, 4, zoneout=0.3), "_RecurrenceBackward"),
        (lambda: rnnlab.IndRNN(3, 4), "_RecurrenceBackward"),
        (lambda: rnnlab.LSTM(3, 4, layer_norm=True), "_LSTMBackward"),
        (lambda: rnnlab.GRU(3, 4, layer_norm=True), "AddcmulBackward0"),
        (lambda: rnnlab.LSTM(3, 4, recurrent_batch_norm=True), "_LSTMBackward"),
        (lambda: rnnlab.GRU(3, 4, recurrent_batch_norm=True), "_RecurrenceBackward"),
        (lambda: rnnlab.GRU(3, 4, recurrent_batch_norm=True, activation="relu"), "AddcmulBackward0"),
        (lambda: rnnlab.LSTM(3, 4, activation="relu"), "AddcmulBackward0"),
    ],
)
def test_each_configuration_takes_the_intended_path(make, expected):
    m = make().train()
    out, _ = m(torch.randn(5, 2, 3, requires_grad=True))
    names = _graph_names(out)
    assert any(e in n for e in expected.split("|") for n in names), names
    if expected == "AddcmulBackward0":
        assert not any("_Recurrence" in n or "_LSTM" in n for n in names)


@pytest.mark.parametrize("kwargs", [dict(), dict(zoneout=(0.2, 0.3), recurrent_dropout=0.2)])
@pytest.mark.parametrize("training", [True, False])
def test_fast_layer_norm_lstm_equals_autograd_loop(kwargs, training):
    m = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, layer_norm=True, **kwargs).train(training).double()
    with torch.no_grad():  # non-trivial gains and shifts
        for n, p in m.named_parameters():
            if n.startswith("norm"):
                p.uniform_(0.5, 1.5)
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    results = _fast_and_autograd(m, x, torch.tensor([7, 3, 5, 1]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
