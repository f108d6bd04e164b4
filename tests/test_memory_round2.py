"""The memory check counts what long sequences keep, and running out of memory is one line
(helper-162): real subprocesses, under RLIMIT_AS (``ulimit -v``) where a limit is the point."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def _python(code: str, limit: int | None = None, cwd: Path | None = None,
            args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run([sys.executable, *(args or ["-c", textwrap.dedent(code)])], env=ENV, cwd=cwd,
                          capture_output=True, text=True, timeout=120, preexec_fn=limited)


def test_the_estimate_bounds_the_measured_peak_of_a_step() -> None:
    # the template's layer: peak RSS growth of one forward + backward, against the estimate
    out = _python("""
        import json, torch
        from rnnlab.config import ModelConfig
        from rnnlab.train.model import build_model
        from rnnlab.train.memory import activation_bytes, parameter_bytes
        torch.set_num_threads(1)
        def vm(key):
            return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
        cfg = ModelConfig(hidden_size=64, recurrent_dropout=0.1, zoneout=0.1, recurrent_batch_norm=True)
        model = build_model(cfg, 3, 4)
        model(torch.randn(2, 8, 3))[0].sum().backward()
        x = torch.randn(16, 1000, 3)
        base = vm("VmRSS:")
        open("/proc/self/clear_refs", "w").write("5")  # (the high-water mark from here)
        model(x)[0].sum().backward()
        print(json.dumps([vm("VmHWM:") - base, activation_bytes(cfg, 4, 16, 1000) + parameter_bytes(cfg, 3, 4)]))
    """)
    assert out.returncode == 0, out.stderr
    measured, estimate = json.loads(out.stdout.splitlines()[-1])
    assert measured <= estimate <= 1.5 * measured


def test_long_series_are_refused_under_an_address_space_limit() -> None:
    # the user's v6: 16 series of 20000 steps, hidden 128 (5.6 MiB of parameters), under ulimit -v 2800000
    out = _python("""
        from rnnlab.config import ModelConfig
        from rnnlab.errors import ConfigError
        from rnnlab.train.memory import StepPlan, check_memory, memory_room
        print(memory_room()[1])
        check_memory(ModelConfig(hidden_size=64), 3, 4, plan=StepPlan(16, 200))  # a short one fits
        try:
            check_memory(ModelConfig(hidden_size=128, recurrent_batch_norm=True), 3, 4, plan=StepPlan(16, 20000, inspect_steps=4096))
        except ConfigError as e:
            print(e)
    """, limit=2800000 * 1024)
    assert out.returncode == 0, out.stderr
    source, refusal = out.stdout.splitlines()[-2:]
    assert "RLIMIT_AS" in source
    assert "model.hidden_size = 128" in refusal and "training.batch_size = 16" in refusal
    assert "training.stateful_window" in refusal and "GiB needed against the" in refusal and "RLIMIT_AS" in refusal


def test_a_stateful_window_lowers_the_estimate() -> None:
    from rnnlab.config import parse_config
    from rnnlab.train.memory import StepPlan, training_bytes

    config = parse_config('[data]\ndataset = "GunPoint"\n[training]\nstateful_window = 500\n[tracking]\nhealth = false\n'
                          'grad_through_time = false')
    plan = StepPlan.of(config, 20000, False)
    whole = training_bytes(config.model, 3, 4, StepPlan(plan.batch_size, 20000))[1]
    assert plan.window and plan.steps == 500
    assert training_bytes(config.model, 3, 4, plan)[1] * 30 < whole


def test_running_out_of_memory_in_training_is_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "long.npz", X=rng.normal(size=(20, 20000, 1)).astype("float32"), y=np.arange(20) % 2)
    (tmp_path / "run.toml").write_text(textwrap.dedent("""
        [data]
        path = "long.npz"
        [model]
        hidden_size = 128
        [training]
        steps = 4
        batch_size = 16
        threads = 1
        [tracking]
        health = false
        grad_through_time = false
        [adapt]
        shape = false
        budget = false
    """))
    out = _python("", limit=2800000 * 1024, cwd=tmp_path,
                  args=["-m", "rnnlab", "train", "run.toml", "--out", str(tmp_path / "run"), "--quiet"])
    said = [line for line in out.stderr.splitlines() if line.startswith("rnnlab train:")]
    assert out.returncode == 1 and len(said) == 1, out.stderr
    assert "internal error" not in said[0] and "Traceback" not in out.stderr
    # out of memory in the step (or, once the trainer checks the step's memory first, refused before it)
    assert ("out of memory" in said[0] and "epoch 1" in said[0]) or "memory of a training step" in said[0], said[0]
    assert "model.hidden_size" in said[0] and "training.batch_size" in said[0]
