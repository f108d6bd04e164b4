"""A long run is not silent, and says how long it has left (helper 172): a line as each long
stretch begins (the thread measurement, the health check, the gradient through time after
training), an ETA on every epoch line, the threads line naming tracking.inspect_steps when the
step it measured is shorter than the trained one, and a failed new run keeping its thread
measurement as it keeps its health check's records."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import threads
from rnnlab.config import load_config
from rnnlab.train import train, trainer
from rnnlab.train.timing import Timing

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]

CFG = """name = "x"
[data]
path = "data.npz"
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = {epochs}
batch_size = 8
{training}
[tracking]
inspect_steps = {inspect}
health = {health}
grad_through_time = {gtt}
{more}
"""

ETA = re.compile(r"  eta (at most )?(\d+)m(\d\d)s( \(adapt\.budget: at most \d+m\d\ds\))?$")


def _config(tmp: Path, *, steps: int = 64, epochs: int = 3, inspect: int = 16, health: bool = False,
            gtt: bool = False, training: str = "", more: str = "") -> Path:
    """A config file over 40 series of ``steps`` steps of two classes (a bump early or late)."""
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.3, size=(40, steps, 1))
    y = np.arange(40) % 2
    X[y == 0, 5:10, 0] += 2.0
    X[y == 1, -10:-5, 0] += 2.0
    np.savez(tmp / "data.npz", X=X, y=y)
    cfg = tmp / "c.toml"
    cfg.write_text(CFG.format(epochs=epochs, inspect=inspect, health=str(health).lower(), gtt=str(gtt).lower(),
                              training=training, more=more))
    return cfg


def test_the_health_check_and_the_gradient_through_time_are_said_as_they_begin(tmp_path):
    # each start line is said before its stretch has written anything, and names the cropped batch
    said: list[tuple[str, bool, bool]] = []
    out = tmp_path / "run"

    def log(line: str) -> None:
        said.append((line, (out / "health.json").exists(), (out / "grad_through_time.json").exists()))

    train(load_config(_config(tmp_path, health=True)), out=out, log=log, progress=False)
    lines = [line for line, *_ in said]
    start = next(i for i, line in enumerate(lines) if line.startswith("health check: "))
    assert lines[start + 1].startswith("Health check"), lines
    assert not said[start][1] and (out / "health.json").exists()
    assert lines[start] == ("health check: the untrained model and 5 training steps of a copy of it, on the first "
                            "8 training sequences (the first 16 of the 64 steps of each: tracking.inspect_steps) ...")
    assert not any(line.startswith("gradient through time: ") for line in lines)  # (grad_through_time = false)

    said.clear()
    out = tmp_path / "gtt"
    train(load_config(_config(tmp_path, gtt=True, inspect=4096)), out=out, log=log, progress=False)
    lines = [line for line, *_ in said]
    (at,) = [i for i, line in enumerate(lines) if line.startswith("gradient through time: ")]
    last_epoch = max(i for i, line in enumerate(lines) if line.startswith("epoch "))
    assert at == last_epoch + 1 and not said[at][2] and (out / "grad_through_time.json").exists()
    # the series are shorter than tracking.inspect_steps: nothing cropped, nothing said of it
    assert lines[at] == "gradient through time: the trained model on the first 8 training sequences ..."


def test_every_epoch_line_ends_with_an_eta_and_the_last_says_nothing_is_left(tmp_path):
    lines: list[str] = []
    train(load_config(_config(tmp_path, epochs=4)), out=tmp_path / "run", log=lines.append, progress=False)
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 4 and all(ETA.search(line) and not ETA.search(line)[1] for line in epochs), epochs
    assert epochs[-1].endswith("  eta 0m00s")
    # --quiet: no epoch line, so no ETA either (and nothing else is said)
    assert train(load_config(_config(tmp_path, epochs=2)), out=tmp_path / "quiet", log=None, progress=False)


def _session(tmp: Path, **kw: object) -> trainer._Session:
    return trainer._set_up(load_config(_config(tmp, **kw)), None, None, None, Timing())


def test_the_eta_is_the_mean_time_of_a_step_times_the_steps_left_of_the_budget(tmp_path):
    s = _session(tmp_path, epochs=5)
    per_epoch = s.steps_per_epoch
    s.epoch_done, s.step = 2, 2 * per_epoch
    # 2 epochs took 4 s: 2 s an epoch, 3 epochs left
    assert trainer._eta(s, None, 0, 4.0, 2 * per_epoch) == "eta 0m06s"
    # a resumed session (from epoch 1): its own epochs' mean, 1 epoch in 4 s
    assert trainer._eta(s, None, 1, 4.0, per_epoch) == "eta 0m12s"
    # a caller's stop_after (1 more epoch than the first): what this session still trains
    assert trainer._eta(s, 3, 0, 4.0, 2 * per_epoch) == "eta 0m02s"
    s.epoch_done, s.step = 5, 5 * per_epoch
    assert trainer._eta(s, None, 0, 10.0, 5 * per_epoch) == "eta 0m00s"
    assert trainer._eta(s, None, 0, 0.0, 0) == ""  # (no step yet: no mean)


def test_the_eta_is_an_upper_bound_where_the_run_may_end_sooner_or_the_budget_grow(tmp_path):
    s = _session(tmp_path, epochs=5, training="[training.early_stopping]\npatience = 2")
    per_epoch = s.steps_per_epoch
    s.epoch_done, s.step = 2, 2 * per_epoch
    assert trainer._eta(s, None, 0, 4.0, 2 * per_epoch) == "eta at most 0m06s"
    s.epoch_done, s.step = 5, 5 * per_epoch  # the last epoch: nothing left, whatever could have ended it
    assert trainer._eta(s, None, 0, 10.0, 5 * per_epoch) == "eta 0m00s"

    s = _session(tmp_path, epochs=5, more=f"[adapt]\nbudget = true\nmax_steps = {10 * 4 * 8}")
    per_epoch = s.steps_per_epoch
    cap = s.budget.cap // per_epoch
    assert cap > 5
    s.epoch_done, s.step = 2, 2 * per_epoch
    assert trainer._eta(s, None, 0, 4.0, 2 * per_epoch) == \
        f"eta 0m06s (adapt.budget: at most {(cap - 2) * 2 // 60}m{(cap - 2) * 2 % 60:02d}s)"
    s = _session(tmp_path, epochs=5, more="[adapt]\nbudget = true\nmax_steps = 1")  # (the cap is the plan)
    s.epoch_done, s.step = 2, 2 * s.steps_per_epoch
    assert trainer._eta(s, None, 0, 4.0, 2 * s.steps_per_epoch) == "eta at most 0m06s"


def test_the_probe_counts_a_cropped_step_at_the_trained_length():
    # a step on the first steps of long series costs a fraction of a training step: whether the
    # comparison pays is decided on the trained length (scale), not on the cropped step's time
    x = torch.ones(64, 64)
    step = lambda: (x @ x).sum()  # noqa: E731  (a real computation: it takes some time)
    choice = threads.ThreadChoice(1, "test", candidates=(1, 2))
    try:
        assert "a short run" in threads.probe(choice, step, total_steps=10).why
        compared = threads.probe(choice, step, total_steps=10, scale=1e9, on="the first 8 of the 8e9 steps")
    finally:
        torch.set_num_threads(1)  # (the probe leaves the count it chose; this module runs on one)
    assert [n for n, _ in compared.measured] == [1, 2] and compared.why.endswith(", on the first 8 of the 8e9 steps")


# The thread measurement needs the automatic choice between 1 and 2 threads: a real process
# whose environment sets no thread count (this one runs under OMP_NUM_THREADS=1).
FAILS_AFTER_THREADS = textwrap.dedent("""
    import json, sys
    from rnnlab.config import load_config
    from rnnlab.train import train
    lines = []
    def log(line):
        lines.append(line)
        if line.startswith("threads: ") and not line.startswith("threads: measuring"):
            raise KeyboardInterrupt  # (Ctrl-C once the measurement is said, before any epoch)
    try:
        train(load_config(sys.argv[1]), out=sys.argv[2], log=log, progress=False)
    except KeyboardInterrupt as e:
        print(json.dumps({"lines": lines, "notes": getattr(e, "__notes__", [])}))
""")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the measurement compares 1 and 2 threads")
def test_a_failed_new_run_keeps_its_thread_measurement_and_the_line_names_inspect_steps(tmp_path):
    # 4000 steps a series, measured on the first 8; a budget long enough that comparing pays
    cfg = _config(tmp_path, steps=4000, inspect=8, epochs=2000)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(PYTHONPATH=str(ROOT / "src"), OMP_WAIT_POLICY="PASSIVE")

    def run(config: Path, out: Path) -> dict:
        done = subprocess.run([sys.executable, "-c", FAILS_AFTER_THREADS, str(config), str(out)], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    out = tmp_path / "run"
    said = run(cfg, out)
    start, line = said["lines"][-2:]
    on = "on the first 8 of the 4000 steps of each series: tracking.inspect_steps"
    assert start == f"threads: measuring a training step on 1 and 2 threads ({on}) ...", said
    assert re.fullmatch(rf"threads: [12] threads? \(.*; measured a step on 1: [\d.]+ ms, 2: [\d.]+ ms, {on}\)",
                        line), line
    # the new run failed before its first epoch and no health check ran: its measurement is kept
    timing = json.loads((out / "timing.json").read_text())
    assert set(timing["threads"]["measured"]) == {"1", "2"} and timing["seconds"]["threads"] > 0
    assert timing["threads"]["why"] in line and (out / "config.toml").exists()
    assert not (out / "health.json").exists() and not (out / "metrics.jsonl").exists()
    notes = " ".join(said["notes"])
    assert str(out) in notes and "timing.json" in notes and "the same command starts the run again" in notes

    # a thread count the config sets is no measurement: the same failure leaves nothing (run in
    # this process: with no automatic choice, the environment's thread count plays no part)
    fixed = tmp_path / "fixed.toml"
    fixed.write_text(cfg.read_text().replace("batch_size = 8", "batch_size = 8\nthreads = 1"))
    lines: list[str] = []

    def log(line: str) -> None:  # (FAILS_AFTER_THREADS's)
        lines.append(line)
        if line.startswith("threads: ") and not line.startswith("threads: measuring"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stop:
        train(load_config(fixed), out=tmp_path / "fixed", log=log, progress=False)
    assert lines[-1] == "threads: 1 thread (training.threads)" and getattr(stop.value, "__notes__", []) == []
    assert not (tmp_path / "fixed").exists()
