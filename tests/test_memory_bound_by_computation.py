"""The memory check's estimate follows what each step keeps under the computation the layer
runs (torch's kernel, rnnlab's fast loop, the autograd loop), with its layer norm, zoneout and
activation: an upper bound of the measured peak, and not so far above it that a step which fits
is refused. Measured as ``rnnlab.train.memory``'s docstring says: peak RSS growth of one forward +
backward, each configuration in a fresh process (forked after the imports, so each starts from
the same heap) and with transparent huge pages off for it, so that the peak counts the pages the
step touches whatever the machine's THP setting (``always`` backs a touched byte with 2 MB). The
bound allows :data:`SLACK` of the peak for what still differs between machines (the allocator's
and the BLAS's own buffers: CI's machine measured 1.6 % above this one's for gru + zoneout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
B, T, H = 32, 400, 64
#: the part of the measured peak the estimate may fall short by (machines' allocators differ)
SLACK = 0.05

#: the tester's configurations the estimate fell short of (rnn + layer_norm: 0.51 of the peak)
UNDER = [
    {"layer": "rnn", "layer_norm": True},
    {"layer": "rnn", "zoneout": 0.1},
    {"layer": "lstm", "activation": "relu", "layer_norm": True},
    {"layer": "rnn"},
    {"layer": "indrnn", "layer_norm": True},
]
#: those it refused when they would fit (gru 2.45 times the peak, lstm + zoneout 1.86)
OVER = [
    {"layer": "gru"},
    {"layer": "lstm", "zoneout": 0.1},
    {"layer": "gru", "zoneout": 0.1},
]

MEASURE = """
    import ctypes, json, os, sys, torch
    from rnnlab.config import ModelConfig
    from rnnlab.heap import keep_freed_memory
    from rnnlab.train.memory import StepPlan, computation_of, training_bytes
    from rnnlab.train.model import build_model
    torch.set_num_threads(1)
    keep_freed_memory()  # (the training process's heap policy)
    def vm(key):
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
    B, T, H = {B}, {T}, {H}
    for keys in json.loads(sys.argv[1]):
        cfg = ModelConfig(hidden_size=H, **keys)
        read, write = os.pipe()
        if os.fork() == 0:  # a fresh heap for each configuration
            ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: pages as touched
            model = build_model(cfg, 2, 4)
            loss_fn = torch.nn.CrossEntropyLoss()
            loss_fn(model(torch.randn(2, 8, 2))[0], torch.tensor([0, 1])).backward()
            x, y = torch.randn(B, T, 2), torch.arange(B) % 4
            base = vm("VmRSS:")
            open("/proc/self/clear_refs", "w").write("5")  # (the high-water mark from here)
            loss_fn(model(x)[0], y).backward()
            os.write(write, str(vm("VmHWM:") - base).encode())
            os._exit(0)
        os.close(write)
        measured = int(os.read(read, 100))
        os.wait()
        print(json.dumps([keys, computation_of(cfg), measured, sum(training_bytes(cfg, 2, 4, StepPlan(B, T)))]))
"""


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple[str, int, int]]:
    code = textwrap.dedent(MEASURE).replace("{B}", str(B)).replace("{T}", str(T)).replace("{H}", str(H))
    out = subprocess.run([sys.executable, "-c", code, json.dumps(UNDER + OVER)], env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    return {json.dumps(keys): (computation, peak, estimate) for keys, computation, peak, estimate in rows}


@pytest.mark.parametrize("keys", UNDER, ids=lambda k: " ".join(f"{a}={b}" for a, b in k.items()))
def test_the_estimate_bounds_the_measured_peak(measured: dict, keys: dict) -> None:
    computation, peak, estimate = measured[json.dumps(keys)]
    assert estimate >= (1 - SLACK) * peak, f"{keys} ({computation}): estimated {estimate / 1e6:.1f} MB, measured {peak / 1e6:.1f} MB"


@pytest.mark.parametrize("keys", OVER, ids=lambda k: " ".join(f"{a}={b}" for a, b in k.items()))
def test_a_step_that_fits_is_not_refused(measured: dict, keys: dict) -> None:
    from rnnlab.config import ModelConfig
    from rnnlab.train.memory import StepPlan, check_memory, parameter_bytes

    computation, peak, estimate = measured[json.dumps(keys)]
    assert (1 - SLACK) * peak <= estimate <= 1.5 * peak, f"{keys} ({computation}): estimated {estimate / 1e6:.1f} MB, " \
                                           f"measured {peak / 1e6:.1f} MB"
    # with 1.5 times what the step takes free, the check lets it run
    cfg = ModelConfig(hidden_size=H, **keys)
    check_memory(cfg, 2, 4, available=int(1.5 * peak) + parameter_bytes(cfg, 2, 4), plan=StepPlan(B, T))


def test_the_estimate_asks_the_layer_which_computation_runs() -> None:
    from rnnlab.config import ModelConfig
    from rnnlab.train.memory import activation_bytes, computation_of

    # an rnn with layer norm runs the autograd loop, which keeps far more each step than torch's kernel
    cfg = ModelConfig(layer="rnn", hidden_size=H, layer_norm=True)
    assert computation_of(cfg) == "autograd"
    assert activation_bytes(cfg, 4, B, T) > 1.5 * activation_bytes(ModelConfig(layer="rnn", hidden_size=H), 4, B, T)
    # the health check's passes record gates or states: the autograd loop, whatever runs in training
    assert computation_of(ModelConfig(layer="gru"), recording=True) == "autograd"
