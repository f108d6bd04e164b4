"""A closed terminal's SIGHUP reaches the whole process group of ``rnnlab search`` or ``rnnlab
recipe`` with workers: the command stops its workers as on SIGTERM and says so in one line
(exit 129); before, the workers died of it at once (a search's trials left "running", a
recipe's resource tracker dead with tracebacks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sigterm_workers import CONFIG, _alive, _children

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(signal, "SIGHUP"),
                                reason="reads /proc for the workers; SIGHUP")


@pytest.mark.parametrize("command", ["search", "recipe"])
def test_sighup_to_the_process_group_stops_the_workers_with_one_line(tmp_path: Path, command: str):
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
        os.killpg(proc.pid, signal.SIGHUP)  # the terminal closed: every process of the group gets it
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read().decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 128 + signal.SIGHUP, err
    assert lines[-1].startswith(f"rnnlab {command}: interrupted by SIGHUP"), err
    assert "Traceback" not in err and "leaked" not in err and "died unexpectedly" not in err, err
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "a worker outlived its command"
    if command == "search":
        study = subprocess.run([sys.executable, "-m", "rnnlab.cli", "study", str(out)], capture_output=True,
                               text=True, timeout=120, env=os.environ.copy())
        assert study.returncode == 0, study.stderr
        # each trial that was training is recorded as interrupted, none left "running (worker ... gone)"
        assert "interrupted" in study.stdout and "gone" not in study.stdout, study.stdout
