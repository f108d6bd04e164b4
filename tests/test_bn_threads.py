"""Recurrent batch norm's compiled loops with the batch in slices on several threads: each slice
sums its own rows and the slices combine their sums at every step's statistics. The results
equal the autograd loop's (to float64 rounding) whatever the slices hold, including a slice
without a real row at a step (padding), and equal the one-slice loop's."""

import pytest
import torch
from test_batch_norm_loops import _assert_equal_to_rounding, _compiled_equals_python_loops, _run

import rnnlab
from rnnlab.layers import fast_lstm, native

pytestmark = pytest.mark.skipif(not native.available(), reason=native.why_not())

B = 24  # three slices of 8 rows (fast_lstm.MIN_PART_ROWS)
# the last slice's rows all end after 1 or 2 steps: from step 2 on it has no real row
LENGTHS = [9, 4, 9, 7, 1, 9, 3, 6] + [9, 8, 2, 9, 5, 9, 9, 1] + [1, 2, 1, 2, 1, 1, 2, 1]


@pytest.fixture
def threads():
    previous = torch.get_num_threads()
    yield lambda n: torch.set_num_threads(n)
    torch.set_num_threads(previous)


def _model(**kwargs):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 6, num_layers=2, bidirectional=True, recurrent_batch_norm=True, batch_norm_steps=5,
                    **kwargs).double()
    with torch.no_grad():  # non-trivial gains and shifts
        for name, p in m.named_parameters():
            if name.startswith("norm"):
                p.uniform_(0.5, 1.5)
    m.train()
    m(torch.randn(9, B, 3, dtype=torch.float64) * 2 + 1)  # running statistics away from (0, 1)
    return m


@pytest.mark.parametrize("kwargs", [dict(), dict(zoneout=(0.2, 0.3), recurrent_dropout=0.2)])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("n", [2, 3])
def test_compiled_batch_norm_loops_in_slices_equal_the_autograd_loop(threads, n, training, padded, kwargs):
    threads(n)
    assert fast_lstm.batch_parts(B) == n
    m = _model(**kwargs).train(training)
    x = torch.randn(9, B, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS) if padded else None
    state = {k: v.clone() for k, v in m.state_dict().items()}
    results = {}
    for implementation in ("fast", "autograd"):
        m.load_state_dict(state)
        results[implementation] = _run(m, x, lengths, implementation)
    _assert_equal_to_rounding(results["fast"], results["autograd"])
    if training:  # (the running statistics did move: the comparison covers their update)
        assert not torch.equal(results["fast"][-1], state[list(state)[-1]])


@pytest.mark.parametrize("padded", [False, True])
def test_slices_equal_one_slice(threads, padded):
    # the same loop on 1 and on 3 threads: the same outputs, gradients and running statistics
    x = torch.randn(9, B, 3, dtype=torch.float64)
    lengths = torch.tensor(LENGTHS) if padded else None
    results = []
    for n in (1, 3):
        threads(n)
        results.append(_run(_model(zoneout=0.1, recurrent_dropout=0.1), x, lengths, "fast"))
    _assert_equal_to_rounding(results[1], results[0])


def test_slices_in_float32_equal_the_python_loops(threads):
    # float32 at the benchmark's shape (B=64 in two slices, H=128: the packed-weight path too)
    threads(2)
    torch.manual_seed(0)
    m = rnnlab.LSTM(8, 128, recurrent_batch_norm=True, zoneout=0.1, recurrent_dropout=0.1).train()
    x = torch.randn(12, 64, 8)
    lengths = torch.randint(6, 13, (64,))
    _compiled_equals_python_loops(m, x, lengths)


def test_input_norm_backward_op_checks_before_touching_memory():
    n, b, f = 2, 3, 4
    z = torch.zeros
    x = torch.randn(n, b, f)
    args = dict(dy=torch.randn(n, b, f), x=x, mean=z(n, 1, f), rstd=torch.ones(n, 1, f), weight=torch.ones(f),
                valid=None, training=True, d_weight=z(f), d_bias=z(f), dx=z(n, b, f))

    def call(**over):
        a = {**args, **over}
        torch.ops.rnnlab.bn_backward_steps(*a.values())
        return a

    with pytest.raises(RuntimeError, match=r"valid expected shape \[2, 3\], got \[3, 2\]"):
        call(valid=z(3, 2))
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        call(dx=x)  # (the passes read x through restrict pointers)
    a = call()
    # with statistics (0, 1) and a unit gain, x_hat = x: batch norm's backward formula
    dy = a["dy"]
    torch.testing.assert_close(a["d_bias"], dy.sum((0, 1)))
    torch.testing.assert_close(a["d_weight"], (dy * x).sum((0, 1)))
    expected = dy - dy.mean(1, keepdim=True) - x * (dy * x).mean(1, keepdim=True)
    torch.testing.assert_close(a["dx"], expected)
