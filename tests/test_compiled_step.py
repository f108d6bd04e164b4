"""The fast LSTM's step functions compiled by torch.compile (inductor), as CUDA runs them, here
forced on the CPU (implementation="fast-inductor"): the same results as the Python steps, one
compile per variant of the step whatever the length, and the Python steps with one warning where
torch.compile cannot run. Real inductor compiles: a few seconds each, so few variants."""

import copy
import warnings

import pytest
import torch
from torch._dynamo.utils import counters

import rnnlab
from rnnlab.layers import compiled_step, fast_lstm

pytestmark = pytest.mark.skipif(compiled_step.why_not(torch.device("cpu")) != "",
                                reason=compiled_step.why_not(torch.device("cpu")) or "compiles")


def _run(m, implementation, x, lengths=None):
    """Outputs, final states and every gradient of one forward + backward (masks drawn from seed 1)."""
    m.implementation = implementation
    m.zero_grad()
    xi = x.detach().requires_grad_()
    torch.manual_seed(1)
    out, (h, c) = m(xi, lengths=lengths) if lengths is not None else m(xi)
    ((out * out).sum() + h.sum() + (c * c).sum()).backward()
    return [out.detach(), h.detach(), c.detach(), xi.grad] + [p.grad.clone() for p in m.parameters()]


def _graphs() -> int:
    return counters["stats"]["unique_graphs"]


def _assert_close(a, b):
    # In float64: the same formulas give the same numbers to 1e-12, where float32's rounding would
    # depend on the CPU (FMA contraction on AVX-512 put one padded batch-norm gradient 2.3e-5 apart).
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, atol=1e-12, rtol=1e-10)


def test_compiled_step_equals_the_python_step_and_compiles_once_for_every_length():
    # zoneout, recurrent dropout and weight drop (a dropped W_hh: the same step), float64
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, zoneout=(0.2, 0.3), recurrent_dropout=0.3, weight_drop=0.25).double().train()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (a fallback to the Python steps warns)
        before = _graphs()
        for T in (5, 9):  # the second length must not compile again
            x = torch.randn(T, 4, 3, dtype=torch.float64)
            _assert_close(_run(m, "fast-inductor", x), _run(m, "fast-python", x))
            assert _graphs() - before == 2, "one graph for the forward step, one for the backward step"


@pytest.mark.parametrize("case", ["layer_norm", "batch_norm", "batch_norm, padded"])
def test_compiled_step_equals_the_python_step_with_norms(case):
    torch.manual_seed(0)
    kwargs = dict(layer_norm=True) if case == "layer_norm" else dict(recurrent_batch_norm=True, batch_norm_steps=4)
    m = rnnlab.LSTM(4, 6, zoneout=0.1, recurrent_dropout=0.2, **kwargs).double().train()
    x = torch.randn(6, 5, 4, dtype=torch.float64) * 2
    lengths = [6, 3, 6, 1, 4] if case.endswith("padded") else None
    start = copy.deepcopy(m.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        before = _graphs()
        a = _run(m, "fast-inductor", x, lengths)
        assert _graphs() - before == 2
    moved = [b.clone() for b in m.buffers()]
    m.load_state_dict(start)
    _assert_close(a, _run(m, "fast-python", x, lengths))
    for u, v in zip(moved, m.buffers(), strict=True):  # the running statistics moved alike
        torch.testing.assert_close(u, v, atol=1e-6, rtol=1e-5)
    if lengths is not None:  # padded batch norm: no host synchronisation per step
        _host_syncs(m, x, lengths)  # (what a first call may still do once: torch's lazy compile work)
        counts = [_host_syncs(m, x, lengths), _host_syncs(m, torch.cat([x, x]), [2 * n for n in lengths])]
        assert counts[0] == counts[1], counts


def _host_syncs(m, x, lengths) -> int:
    """The tensor-to-Python conversions (host synchronisations on a GPU) of one forward + backward
    on the compiled steps; the same count at T and 2T: none per step."""
    count = 0

    def counting(original):
        def counted(self, *args, **kwargs):
            nonlocal count
            count += 1
            return original(self, *args, **kwargs)
        return counted

    with pytest.MonkeyPatch.context() as mp:
        for name in ("item", "tolist", "__bool__", "__int__", "__float__", "__index__"):
            mp.setattr(torch.Tensor, name, counting(getattr(torch.Tensor, name)))
        m.implementation = "fast-inductor"
        out, (h, c) = m(x, lengths=lengths)
        (out.sum() + c.sum()).backward()
    return count


def test_without_torch_compile_the_python_steps_run_with_one_warning(monkeypatch):
    monkeypatch.setattr(compiled_step, "_built", {})
    monkeypatch.setattr(compiled_step, "_warned", set())
    monkeypatch.setattr(compiled_step, "why_not", lambda device: "torch.compile does not run on this platform")
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, zoneout=0.1).train()
    x = torch.randn(4, 2, 3)
    before = _graphs()
    with pytest.warns(RuntimeWarning, match="runs as Python steps, not compiled: torch.compile does not run") as w:
        a = _run(m, "fast-inductor", x)
        _run(m, "fast-inductor", x)
    assert len(w) == 1 and _graphs() == before
    assert fast_lstm._step_loops(x, "inductor")[0].keywords["step"] is fast_lstm.lstm_forward_step
    _assert_close(a, _run(m, "fast-python", x))


def test_the_step_loops_by_device(device):
    """implementation="fast" runs the C++ step loops on the CPU and the compiled step functions on
    CUDA, which give the Python steps' results there (float64) without falling back."""
    x = torch.zeros(3, 4, 5, device=device)
    forward, backward, _ = fast_lstm._step_loops(x, "auto")
    if device.type == "cpu":
        assert forward is torch.ops.rnnlab.lstm_forward or forward is fast_lstm._forward_steps  # (no C++ build)
        return
    assert isinstance(forward.keywords["step"], compiled_step._Compiled), compiled_step.why_not(device)
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 5, zoneout=0.2, recurrent_dropout=0.2, layer_norm=True).double().train().to(device)
    x = torch.randn(7, 4, 3, dtype=torch.float64, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _assert_close(_run(m, "fast", x), _run(m, "fast-python", x))


def test_a_compile_error_falls_back_to_the_python_step_with_one_warning(monkeypatch):
    def not_compiled(*args):
        raise torch._dynamo.exc.BackendCompilerFailed(lambda: None, RuntimeError("no compiler"), None)

    step = compiled_step._Compiled(torch.add, not_compiled)
    monkeypatch.setattr(compiled_step, "_warned", set())
    with pytest.warns(RuntimeWarning, match=r"add runs as Python steps.*failed on it \(RuntimeError: no compiler\)"):
        assert step(torch.ones(1), 2).item() == 3.0
    assert step.failed and step(torch.ones(1), 3).item() == 4.0
