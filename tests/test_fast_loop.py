"""The fast LSTM loop's own machinery: packed MKL matmuls at large sizes, the in-place
workspace, skipped backward buffers without a graph, unused outputs and retained graphs."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.layers import fast, fast_lstm, native


def _grads(m, x, seed, loss_of):
    m.zero_grad()
    torch.manual_seed(seed)
    out, (h, c) = m(x)
    loss_of(out, h, c).backward()
    return [out.detach(), h.detach(), c.detach()] + [p.grad.clone() for p in m.parameters()]


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="MKL's packed GEMM is CPU/MKL only")
@pytest.mark.parametrize("slices", [1, 2])
@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.25, zoneout=0.1), dict(layer_norm=True)])
def test_packed_matmul_path_equals_the_autograd_loop_at_a_packing_size(kwargs, slices, monkeypatch):
    # 2 slices of 3 rows are 1 + 2 rows; the weight is packed for 1 row, so the slice of 2 takes
    # MKL's unpacked product, which must give the same result.
    H = fast.PACK_MIN_SIZE
    assert fast._can_pack(torch.empty(4 * H, H))  # the case under test really packs
    monkeypatch.setattr(fast_lstm, "batch_parts", lambda batch: slices)
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
    mm = fast.StepMatmul(w, 5)
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


@pytest.mark.parametrize("kwargs", [dict(recurrent_dropout=0.2, zoneout=0.2), dict(layer_norm=True),
                                    dict(recurrent_batch_norm=True)])
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


@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.2, zoneout=0.3), dict(layer_norm=True),
                                    dict(recurrent_batch_norm=True)])
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


@pytest.mark.parametrize("kwargs", [dict(), dict(recurrent_dropout=0.2, zoneout=(0.2, 0.3)), dict(layer_norm=True),
                                    dict(recurrent_batch_norm=True, batch_norm_steps=3)])
def test_backward_chunks_join_exactly(monkeypatch, kwargs):
    """The backward turns a few steps at a time into weight gradients; with chunks of 2 steps
    over 7 (a short last chunk) it must equal the autograd loop."""
    monkeypatch.setattr(fast_lstm, "CHUNK_ROWS", 4)
    assert fast_lstm.chunk_steps(2) == 2
    m = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, **kwargs).double().train()
    x = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)
    start = {k: v.clone() for k, v in m.state_dict().items()}  # (each from the same running statistics)
    results = []
    for impl in ("fast", "autograd"):
        m.load_state_dict(start)
        m.implementation = impl
        m.zero_grad()
        x.grad = None
        torch.manual_seed(4)
        out, (h, c) = m(x, lengths=torch.tensor([7, 5]))
        ((out * out).sum() + h.sum() + (c * c).sum()).backward()
        results.append([out.detach(), x.grad.clone()] + [p.grad.clone() for p in m.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


# --- the compiled step loops (csrc/lstm_steps.cpp) against the Python ones -----------------

def test_the_compiled_step_loops_are_built():
    # `make` builds them (it installs without build isolation, next to the pinned torch); every
    # other test of the LSTM's fast path runs through them, so a missing build must not pass.
    assert native.available(), native.why_not()


NATIVE_CASES = {
    "plain": dict(),
    "recurrent_dropout": dict(recurrent_dropout=0.3),
    "zoneout h and c": dict(zoneout=(0.2, 0.4)),
    "zoneout, only h": dict(zoneout=(0.3, 0.0)),
    "dropout + zoneout": dict(recurrent_dropout=0.25, zoneout=0.1),
    "layer_norm": dict(layer_norm=True),
    "layer_norm + dropout + zoneout": dict(layer_norm=True, recurrent_dropout=0.2, zoneout=0.2),
    "two layers, both directions": dict(num_layers=2, bidirectional=True, zoneout=0.1),
    "no bias": dict(bias=False, recurrent_dropout=0.2),
}


def _both_step_loops(m, x, run):
    results = []
    for implementation in ("fast", "fast-python"):  # compiled step loops, then Python ones
        m.implementation = implementation
        results.append(run(m, x))
    return results


def _forward_backward(lengths=None, hx=None):
    def run(m, x):
        m.zero_grad()
        xi = x.detach().requires_grad_()
        torch.manual_seed(3)
        out, (h, c) = m(xi, hx, lengths=lengths) if lengths is not None else m(xi, hx)
        ((out * out).sum() + h.sum() + (c * c).sum()).backward()
        return [out.detach(), h.detach(), c.detach(), xi.grad] + [p.grad.clone() for p in m.parameters()]
    return run


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("case", list(NATIVE_CASES))
def test_compiled_step_loops_equal_the_python_ones_in_float64(case, training, monkeypatch):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, **NATIVE_CASES[case]).double().train(training)
    m.implementation = "fast"
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    a, b = _both_step_loops(m, x, _forward_backward(lengths=[7, 5, 7, 2]))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=1e-10)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("case", ["dropout + zoneout", "layer_norm + dropout + zoneout", "plain"])
def test_compiled_step_loops_equal_the_python_ones_in_float32(case, monkeypatch):
    # float32's gates use the library's own vectorized exp: equal to rounding, not bit for bit.
    torch.manual_seed(0)
    m = rnnlab.LSTM(16, 64, **NATIVE_CASES[case]).train()
    m.implementation = "fast"
    x = torch.randn(30, 8, 16) * 3  # saturating gates too
    h0 = (torch.randn(1, 8, 64), torch.randn(1, 8, 64))
    a, b = _both_step_loops(m, x, _forward_backward(hx=h0))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=2e-5 * max(1.0, v.abs().max().item()), rtol=0)


@pytest.fixture
def threads():
    """Sets torch's thread count for one test."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("case", ["dropout + zoneout", "layer_norm + dropout + zoneout", "plain"])
def test_batch_slices_on_threads_give_the_python_results(case, n_threads, threads, monkeypatch):
    # Slices of 1 row and up: with 3 threads, 5 rows are cut 1 + 2 + 2 (and 3 slices on 1 or 2
    # threads run in turn). Layer norm's gain gradients are summed over the slices.
    monkeypatch.setattr(fast_lstm, "MIN_PART_ROWS", 1)
    threads(n_threads)
    assert fast_lstm.batch_parts(5) == n_threads
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 6, **NATIVE_CASES[case]).double().train()
    m.implementation = "fast"
    x = torch.randn(9, 5, 3, dtype=torch.float64)
    a, b = _both_step_loops(m, x, _forward_backward(lengths=[9, 4, 9, 1, 6]))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=1e-10)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
@pytest.mark.parametrize("need_grad", [True, False])
@pytest.mark.parametrize("parts", [2, 3])
def test_more_slices_than_threads_run_in_turn(parts, need_grad, threads):
    # The op itself, with more slices than threads: slice by slice equals the whole batch.
    threads(1)
    torch.manual_seed(0)
    T, B, H = 4, 5, 3
    acts = [torch.randn(T, B, 4 * H, dtype=torch.float64)]
    w, h0, c0 = (torch.randn(*s, dtype=torch.float64) for s in ((H, 4 * H), (B, H), (B, H)))
    mask = torch.rand(B, H, dtype=torch.float64)
    keep = torch.rand(T, B, H, dtype=torch.float64)
    results = [torch.ops.rnnlab.lstm_forward([a.clone() for a in acts], w, None, None, h0, c0, mask, keep, keep,
                                             None, None, None, 1e-5, 1e-5, need_grad, p) for p in (1, parts)]
    for u, v in zip(results[0][:2] + tuple(results[0][2]), results[1][:2] + tuple(results[1][2])):
        torch.testing.assert_close(u, v, atol=1e-14, rtol=0)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
def test_compiled_forward_without_a_graph_equals_the_python_one(monkeypatch):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, layer_norm=True, zoneout=0.3, recurrent_dropout=0.2).double().train()
    x = torch.randn(6, 2, 3, dtype=torch.float64)

    def run(m, x):
        torch.manual_seed(1)
        with torch.no_grad():
            out, (h, c) = m(x)
        return [out, h, c]

    for u, v in zip(*_both_step_loops(m, x, run)):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=1e-10)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
def test_compiled_exp_is_accurate_over_the_whole_range(monkeypatch):
    # One step from zero state: h = o * tanh(i * g), so every activation of the library's exp
    # shows in h; pre-activations from -100 to 100 cover both clamps of the exp.
    H = 1000
    pre = torch.linspace(-100, 100, 4 * H).view(1, 1, 4 * H)
    w_ih = torch.eye(4 * H)[:, :1] * 0  # input term = bias only
    bias = pre.view(4 * H)
    state = (torch.zeros(1, H), torch.zeros(1, H))
    x = torch.zeros(1, 1, 1)
    keep = [torch.zeros(1, 1, H), None]  # a keep weight, so the step loop runs
    out = {}
    for use in (True, False):
        out[use] = fast_lstm.fast_lstm(x, w_ih, bias, torch.zeros(4 * H, H), state, keep, None,
                                       loops="auto" if use else "python")[0]
    torch.testing.assert_close(out[True], out[False], atol=3e-7, rtol=0)


@pytest.mark.skipif(not native.available(), reason=native.why_not())
def test_compiled_step_loop_rejects_other_dtypes_with_a_clear_error():
    acts = [torch.zeros(2, 1, 8, dtype=torch.float16)]
    h0 = torch.zeros(1, 2, dtype=torch.float16)
    with pytest.raises(RuntimeError, match="lstm_forward.*not implemented for 'Half'"):
        torch.ops.rnnlab.lstm_forward(acts, torch.zeros(2, 8, dtype=torch.float16), None, None, h0, h0,
                                      None, None, None, None, None, None, 1e-5, 1e-5, False, 1)
    assert fast_lstm._step_loops(acts[0], "auto")[0] is fast_lstm._forward_steps  # such tensors take the Python loop


@pytest.mark.skipif(not native.available(), reason=native.why_not())
def test_compiled_step_loop_checks_shapes_and_dtypes_before_touching_memory():
    T, B, H = 3, 2, 4
    acts = [torch.zeros(T, B, 4 * H)]
    h0 = torch.zeros(B, H)
    w = torch.zeros(H, 4 * H)

    def forward(**over):
        a = dict(feed_mask=None, keep_h=None, h0=h0, parts=1)
        a.update(over)
        return torch.ops.rnnlab.lstm_forward(acts, w, None, None, a["h0"], h0, a["feed_mask"], a["keep_h"], None,
                                             None, None, None, 1e-5, 1e-5, False, a["parts"])

    with pytest.raises(RuntimeError, match=r"feed_mask expected shape \[2, 4\], got \[1, 4\]"):
        forward(feed_mask=torch.ones(1, H))  # a broadcastable mask would be read out of bounds
    with pytest.raises(RuntimeError, match=r"keep_h expected shape \[3, 2, 4\], got \[2, 2, 4\]"):
        forward(keep_h=torch.zeros(2, B, H))
    with pytest.raises(RuntimeError, match="expected every tensor in Float, got Double"):
        forward(h0=h0.double())
    with pytest.raises(RuntimeError, match="parts expected from 1 to the batch size 2, got 3"):
        forward(parts=3)
    out, c, saved = forward()
    assert out.shape == (T, B, H) and saved == []


@pytest.mark.parametrize("kwargs", [dict(recurrent_dropout=0.2, zoneout=(0.2, 0.3)), dict(layer_norm=True),
                                    dict(recurrent_batch_norm=True)])
def test_fast_loop_equals_the_autograd_loop_on_device(kwargs, device):
    """Values and gradients of both loops, drawing the same masks, on every device present."""
    from test_gradcheck import _fast_and_autograd

    m = rnnlab.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, **kwargs).train().double().to(device)
    x = torch.randn(4, 7, 3, dtype=torch.float64, device=device)
    for a, b in zip(*_fast_and_autograd(m, x, torch.tensor([7, 3, 5, 1]))):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_the_device_draws_of_zoneout_run_on_the_cpu_too(monkeypatch):
    """random_words' path off the CPU (torch's generator on the device), forced on the CPU: both
    loops draw the same masks through it, and zoneout keeps units at its rate."""
    from test_gradcheck import _fast_and_autograd

    from rnnlab.layers import loop

    monkeypatch.setattr(loop, "random_words", lambda count, device: loop.device_words(count, device))
    m = rnnlab.GRU(3, 5, zoneout=0.3, recurrent_dropout=0.2).train().double()
    x = torch.randn(7, 4, 3, dtype=torch.float64)
    for a, b in zip(*_fast_and_autograd(m, x, torch.tensor([7, 3, 5, 1]))):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    keep = loop.bernoulli_fast((200, 100), 0.3, x)
    assert abs(float(keep.mean()) - 0.3) < 0.01
