"""SIGKILL a real `rnnlab train` mid-epoch, resume it: every epoch recorded exactly once, the
tracked history continuous, and everything equal to a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.config import parse_config
from rnnlab.rundir import read_jsonl
from rnnlab.train import train

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[data]
path = "{data}"
val_fraction = 0.2
[model]
hidden_size = 16
recurrent_dropout = 0.1
[training]
epochs = 8
batch_size = 4
lr = 0.003
seed = 7
threads = 1
[training.schedule]
kind = "cosine"
[tracking]
weights_every = 1
grads_every = 2
health = false
grad_through_time = false
"""


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def last_step(path: Path) -> int:
    records = read_jsonl(path)
    return max((r["step"] for r in records), default=-1)


def sigkill_mid_epoch(config: Path, run: Path, epochs: int) -> tuple[list[str], dict[str, str]]:
    """Start ``rnnlab train config --out run`` and SIGKILL it once ``epochs`` epochs are recorded
    and the tracker has steps of the next one: mid-epoch. Returns the command and its environment
    (to resume it).

    The run is stopped (SIGSTOP) while its files are read, so that it cannot finish the epoch
    between the check and the kill on a loaded machine.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "rnnlab.cli", "train", str(config), "--out", str(run), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            metrics = read_jsonl(run / "metrics.jsonl")
            if len(metrics) >= epochs and last_step(run / "tracked.jsonl") > metrics[-1]["step"] + 1:
                break
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return cmd, env


def write_data(path: Path) -> None:
    # A user .npz (no aeon import in the subprocesses): sines of two frequencies plus noise.
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    t = np.arange(24)[None, :, None]
    X = np.sin(t * (0.3 + 0.3 * y[:, None, None]) + rng.uniform(0, 6, (60, 1, 2))) + 0.3 * rng.normal(size=(60, 24, 2))
    np.savez(path, X=X, y=y)


def test_sigkill_mid_epoch_then_resume(tmp_path):
    write_data(tmp_path / "d.npz")
    text = CONFIG.replace("{data}", str(tmp_path / "d.npz"))
    config = tmp_path / "c.toml"
    config.write_text(text)
    run = tmp_path / "run"
    cmd, env = sigkill_mid_epoch(config, run, epochs=2)
    killed_metrics = read_jsonl(run / "metrics.jsonl")
    assert len(killed_metrics) < 8
    # Killed mid-epoch: the tracker had recorded steps past the last finished epoch.
    assert last_step(run / "tracked.jsonl") > killed_metrics[-1]["step"]

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr

    metrics = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in metrics] == list(range(1, 9))  # each epoch exactly once
    tracked = read_jsonl(run / "tracked.jsonl")
    steps_per_epoch = 12  # 48 training sequences in batches of 4
    weight_steps = [r["step"] for r in tracked if r["name"] == "rnn.weight_hh_l0" and r["stat"] == "l2"]
    grad_steps = [r["step"] for r in tracked if r["name"] == "rnn.weight_hh_l0" and r["stat"] == "grad_l2"]
    assert weight_steps == list(range(8 * steps_per_epoch))  # continuous, nothing twice
    assert grad_steps == list(range(0, 8 * steps_per_epoch, 2))

    # The same run without interruption, in this process: identical records.
    before = torch.get_num_threads()
    try:
        reference = tmp_path / "reference"
        train(parse_config(text), out=reference, progress=False, log=None)
    finally:
        torch.set_num_threads(before)
    assert without_time(metrics) == without_time(read_jsonl(reference / "metrics.jsonl"))
    assert tracked == read_jsonl(reference / "tracked.jsonl")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_checkpoint_after_kill_is_reported(tmp_path, cut):
    # A checkpoint cut short (e.g. copied while written by hand) is refused with its name.
    from rnnlab.errors import CheckpointError
    from rnnlab.train import load_checkpoint, save_checkpoint

    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "step": 2, "model": {"w": torch.zeros(1000)}})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is corrupt or truncated"):
        load_checkpoint(path)
