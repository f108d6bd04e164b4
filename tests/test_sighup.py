"""SIGHUP to a real ``rnnlab train`` (its terminal closed: an ssh connection dropped, without
nohup or tmux) stops it as SIGTERM does: the checkpoint of its last finished epoch is written,
one line says so, the exit status is 128 + SIGHUP, and ``--resume`` ends where the uninterrupted
run ends. Before, SIGHUP killed the process at once: the epochs since the last periodic
checkpoint were lost.

After a hangup the terminal is gone and every print to it fails (EIO): the second test closes
the run's terminal (a pty) before the signal, and the checkpoint is written all the same, with
no failure of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_kill_resume import CONFIG, ROOT, without_time, write_data

from rnnlab.config import parse_config
from rnnlab.rundir import read_jsonl
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")

#: the run of test_kill_resume, a little longer (epochs left after the signal, which lands after
#: epoch 3: the run is stopped while its records are read) and with no periodic checkpoint after
#: its first epoch: a later last.pt is the stop's own
EPOCHS = 10


def _config(tmp_path: Path) -> tuple[Path, str]:
    write_data(tmp_path / "d.npz")
    text = (CONFIG.replace("{data}", str(tmp_path / "d.npz"))
            .replace("epochs = 8", f"epochs = {EPOCHS}").replace("[training]\n", "[training]\ncheckpoint_every = 3600\n"))
    config = tmp_path / "c.toml"
    config.write_text(text)
    return config, text


def _as_from_a_terminal() -> None:
    # SIGHUP's default action, as a process started from a terminal has it: a test run under
    # nohup ignores SIGHUP, and its processes inherit that
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start(config: Path, run: Path, *extra: str, **streams: int) -> tuple[list[str], dict[str, str], subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rnnlab.cli", "train", str(config), "--out", str(run), *extra]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, preexec_fn=_as_from_a_terminal, **streams)
    return cmd, env, proc


class _Terminal:
    """A pty as the run's terminal (stdout and stderr: progress bars and epoch lines), read
    while it is open, as a terminal does, and closed (hung up) on :meth:`close`."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        self.shown = b""

    def drain(self) -> None:
        if self.master < 0:
            return
        try:
            while chunk := os.read(self.master, 65536):
                self.shown += chunk
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        self.drain()
        os.close(self.master)  # the terminal closed: every write to the run's stdout and stderr fails with EIO
        self.master = -1


def _hang_up_after(proc: subprocess.Popen, run: Path, epochs: int, terminal: _Terminal | None = None) -> int:
    """SIGHUP to ``proc`` once ``epochs`` epochs are recorded; its exit status. The run is
    stopped (SIGSTOP) while its records are read and until the signal is sent, so that it cannot
    finish on a loaded machine between the check and the signal; its ``terminal`` is read
    meanwhile, and closed just before the signal, as a dropped ssh connection does."""
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            if terminal is not None:
                terminal.drain()
            if (run / "metrics.jsonl").exists() and len(read_jsonl(run / "metrics.jsonl")) >= epochs:
                break
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before the signal"
        if terminal is not None:
            terminal.close()
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGCONT)
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sighup_writes_the_last_epochs_checkpoint_and_resume_ends_as_the_uninterrupted_run(tmp_path):
    config, text = _config(tmp_path)
    run = tmp_path / "run"
    cmd, env, proc = _start(config, run, "--quiet", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    code = _hang_up_after(proc, run, epochs=3)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 128 + signal.SIGHUP, err  # (before: -SIGHUP, killed)
    assert len(lines) == 1 and "Traceback" not in err, err
    done = load_checkpoint(run / "checkpoints" / "last.pt")["epoch"]
    assert lines[0] == (f"rnnlab train: interrupted by SIGHUP (the terminal closed; under nohup or in tmux a run "
                        f"outlives it) during epoch {done + 1}; the checkpoint after epoch {done}: --resume continues "
                        "from it")
    # the last finished epoch (the stop can land between an epoch's record and its end), not the
    # first epoch's periodic checkpoint
    recorded = len(read_jsonl(run / "metrics.jsonl"))
    assert done >= 2 and recorded - 1 <= done <= recorded < EPOCHS

    resumed = subprocess.run(cmd + ["--resume"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in metrics] == list(range(1, EPOCHS + 1))  # each epoch exactly once

    before = torch.get_num_threads()
    try:
        reference = tmp_path / "reference"
        train(parse_config(text), out=reference, progress=False, log=None)
    finally:
        torch.set_num_threads(before)
    assert without_time(metrics) == without_time(read_jsonl(reference / "metrics.jsonl"))
    assert read_jsonl(run / "tracked.jsonl") == read_jsonl(reference / "tracked.jsonl")


def test_sighup_after_the_terminal_closed_writes_the_checkpoint_though_every_print_fails(tmp_path):
    config, _ = _config(tmp_path)
    run = tmp_path / "run"
    terminal = _Terminal()
    try:
        _, _, proc = _start(config, run, stdout=terminal.slave, stderr=terminal.slave)  # (not --quiet: it prints)
    finally:
        os.close(terminal.slave)
    code = _hang_up_after(proc, run, epochs=3, terminal=terminal)
    # it did print to the terminal before (the line of the last recorded epoch follows its record and
    # checkpoint: the run can be stopped between them, so the epochs before it are what is sure)
    assert terminal.shown.count(b"epoch ") >= 2, terminal.shown
    # interrupted, as by SIGHUP with a terminal (before: -SIGHUP, killed; with SIGHUP handled but
    # not the closed terminal, 1: the trainer's line after the checkpoint raised EIO in its place)
    assert code == 128 + signal.SIGHUP
    done = load_checkpoint(run / "checkpoints" / "last.pt")["epoch"]
    recorded = len(read_jsonl(run / "metrics.jsonl"))
    assert done >= 2 and recorded - 1 <= done <= recorded < EPOCHS
    # the trainer went on past its line to the terminal: what it writes after it is there
    timing = json.loads((run / "timing.json").read_text())
    assert timing["interrupted"].startswith("interrupted by SIGHUP (the terminal closed"), timing
