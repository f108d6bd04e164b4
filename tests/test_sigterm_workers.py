"""SIGTERM to ``rnnlab search`` or ``rnnlab recipe`` with workers (``kill``, ``timeout``, a job
scheduler), or a closed terminal's SIGHUP to its whole process group: the command stops its
workers, says so in one line and exits 128 + the signal; before, the parent died at once, a
search's workers went on training on their own (or, on SIGHUP, died of it, their trials left
"running") and a recipe's left the resource tracker's "leaked semaphore" warning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")

CONFIG = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 300
batch_size = 8
[tracking]
health = false
grad_through_time = false
[search]
trials = 4
folds = 1
reports = "none"
"""


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


#: how each signal arrives: ``kill``, ``timeout`` or a scheduler sends SIGTERM to the command;
#: a closed terminal sends SIGHUP to its whole process group, workers included
SIGNALS = [pytest.param("SIGTERM", id="sigterm"),
           pytest.param("SIGHUP", id="sighup", marks=pytest.mark.skipif(not hasattr(signal, "SIGHUP"),
                                                                         reason="no SIGHUP"))]


@pytest.mark.parametrize("command", ["search", "recipe"])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_stops_the_workers_with_one_line(tmp_path: Path, command: str, name: str,
                                                capsys: pytest.CaptureFixture[str]):
    signum = getattr(signal, name)
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    extra = ["--steps", "zoneout", "--seeds", "2", "--no-final"] if command == "recipe" else []
    cmd = [sys.executable, "-m", "rnnlab.cli", command, str(config), "--workers", "2", "--out", str(out),
           "--quiet", *extra]
    # (its own session and process group, as a terminal's shell gives a command)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:  # until a worker's run has recorded an epoch
            if any(p.stat().st_size for p in out.glob("**/metrics.jsonl")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"ended before the signal: {proc.stderr.read().decode()}"
        workers = _children(proc.pid)
        assert len(workers) >= 2
        if signum == signal.SIGTERM:
            proc.send_signal(signum)
        else:
            os.killpg(proc.pid, signum)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read().decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 128 + signum, err
    assert lines[-1].startswith(f"rnnlab {command}: interrupted by {name}"), err
    assert "Traceback" not in err and "leaked" not in err and "died unexpectedly" not in err, err
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a worker outlived its command"
    if command == "search":
        # (what was recorded, read here: `rnnlab study` in a process of its own costs a start of
        # torch, and its table is the same)
        from rnnlab.cli import main

        capsys.readouterr()
        assert main(["study", str(out)]) == 0, capsys.readouterr().err
        table = capsys.readouterr().out
        # each trial that was training is recorded as interrupted, none left "running (worker ... gone)"
        assert "interrupted" in table and "gone" not in table, table
