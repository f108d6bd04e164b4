"""The fast LSTM loop's own machinery: packed MKL matmuls at large sizes, the in-place
workspace, skipped backward buffers without a graph, unused outputs and retained graphs."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.layers import fast, fast_lstm


def _grads(m, x, seed, loss_of):
    m.zero_grad()
    torch.manual_seed(seed)
    out, (h, c) = m(x)
    loss_of(out, h, c).backward()
    return [out.detach(), h.detach(), c.detach()] + [p.grad.clone() for p in m.parameters()]


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="MKL's packed GEMM is CPU/MKL only")
@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.25, zoneout=0.1), dict(layer_norm=True)])
def test_packed_matmul_path_equals_the_autograd_loop_at_a_packing_size(kwargs):
    H = fast.PACK_MIN_SIZE
    assert fast._can_pack(torch.empty(4 * H, H))  # the case under test really packs
    torch.manual_seed(0)
    m = rnnlab.LSTM(8, H, **kwargs).train()
    x = torch.randn(6, 3, 8)
    results = []
    for impl in ("fast", "autograd"):
        m.implementation = impl
        results.append(_grads(m, x, 3, lambda o, h, c: (o * o).sum() + c.sum()))
    for a, b in zip(*results):  # float32: rounding relative to the largest entry
        torch.testing.assert_close(a, b, atol=1e-5 * max(1.0, b.abs().max().item()), rtol=0)


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="MKL's packed GEMM is CPU/MKL only")
def test_packed_step_matmul_equals_matmul():
    w = torch.randn(2 * fast.PACK_MIN_SIZE, fast.PACK_MIN_SIZE)
    x = torch.randn(5, 2 * fast.PACK_MIN_SIZE)
    mm = fast._StepMatmul(w, 5)
    assert mm.packed is not None
    torch.testing.assert_close(mm(x), x @ w, atol=1e-4, rtol=1e-5)
    acc = torch.randn(5, fast.PACK_MIN_SIZE)
    expected = acc + x @ w
    mm.add_into(acc, x)
    torch.testing.assert_close(acc, expected, atol=1e-4, rtol=1e-5)
    assert not fast._can_pack(w.double())  # other dtypes take the plain product


@pytest.mark.parametrize("kwargs", [dict(), dict(zoneout=(0.2, 0.3), recurrent_dropout=0.2), dict(layer_norm=True)])
@pytest.mark.parametrize(
    "used",
    [
        lambda o, h, c: o.sum(),  # final states unused: their gradients arrive as None
        lambda o, h, c: (h * h).sum(),  # outputs unused
        lambda o, h, c: c.sum(),  # only the cell
    ],
)
def test_unused_outputs_give_the_same_gradients_as_the_autograd_loop(kwargs, used):
    m = rnnlab.LSTM(3, 4, num_layers=2, **kwargs).double().train()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    results = []
    for impl in ("fast", "autograd"):
        m.implementation = impl
        results.append(_grads(m, x, 7, used))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("kwargs", [dict(recurrent_dropout=0.2, zoneout=0.2), dict(layer_norm=True)])
def test_a_retained_graph_gives_the_same_gradients_twice(kwargs):
    """The loop writes into its input term in place; the backward must not consume what it saved."""
    m = rnnlab.LSTM(3, 4, **kwargs).train()
    m.implementation = "fast"
    x = torch.randn(5, 2, 3, requires_grad=True)
    out, _ = m(x)
    loss = (out * out).sum()
    first = torch.autograd.grad(loss, [x, *m.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *m.parameters()])
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.2, zoneout=0.3), dict(layer_norm=True)])
def test_forward_without_a_graph_equals_forward_with_one(kwargs):
    """Under no_grad the loop skips the backward's buffers; values must not change."""
    m = rnnlab.LSTM(3, 4, **kwargs).train()
    m.implementation = "fast"
    x = torch.randn(6, 2, 3)
    torch.manual_seed(2)
    out, (h, c) = m(x)
    with torch.no_grad():
        torch.manual_seed(2)
        out2, (h2, c2) = m(x)
    for a, b in ((out, out2), (h, h2), (c, c2)):
        torch.testing.assert_close(a.detach(), b, atol=1e-6, rtol=1e-6)


def test_fast_lstm_gate_order_is_internal():
    """The loop's gate order (i, f, o, g) never leaks: parameters and their gradients keep
    torch's layout, checked against nn.LSTM at a size where nothing else differs."""
    ref = nn.LSTM(3, 4)
    ours = rnnlab.LSTM(3, 4, recurrent_dropout=1e-9)  # a regularizer that forces the own loop
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 2, 3)
    out_r, _ = ref(x)
    out_o, _ = ours.train()(x)
    torch.testing.assert_close(out_o, out_r, atol=1e-5, rtol=0)
    out_r.sum().backward()
    out_o.sum().backward()
    for (name, a), b in zip(ref.named_parameters(), ours.parameters()):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-5, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.2, zoneout=(0.2, 0.3)), dict(layer_norm=True)])
def test_backward_chunks_join_exactly(monkeypatch, kwargs):
    """The backward turns a few steps at a time into weight gradients; with chunks of 2 steps
    over 7 (a short last chunk) it must equal the autograd loop."""
    monkeypatch.setattr(fast_lstm, "CHUNK_ROWS", 4)
    assert fast_lstm.chunk_steps(2) == 2
    m = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, **kwargs).double().train()
    x = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)
    results = []
    for impl in ("fast", "autograd"):
        m.implementation = impl
        m.zero_grad()
        x.grad = None
        torch.manual_seed(4)
        out, (h, c) = m(x, lengths=torch.tensor([7, 5]))
        ((out * out).sum() + h.sum() + (c * c).sum()).backward()
        results.append([out.detach(), x.grad.clone()] + [p.grad.clone() for p in m.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
