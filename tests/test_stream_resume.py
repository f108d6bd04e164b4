"""SIGKILL a real `rnnlab train` on a stream within an epoch (a stream's epoch is one batch read
in many windows), resume it: it continues from the window it reached, with every row's carried
state, and ends with the uninterrupted run's records and weights, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from test_kill_resume import sigkill_mid_epoch, without_time

from rnnlab.config import parse_config
from rnnlab.rundir import read_jsonl
from rnnlab.train import load_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]

# 500 steps, 80 held out: rows of 209 steps in windows of 10, 21 optimizer steps an epoch;
# checkpoint_every = 0 writes last.pt after every window (the cadence of a long epoch).
CONFIG = """
[task]
kind = "forecasting"
season = 12
[data]
path = "{data}"
bptt = 10
streams = 2
val_steps = 40
test_steps = 40
[model]
hidden_size = 12
recurrent_dropout = 0.2
[training]
epochs = 4
lr = 0.003
seed = 3
threads = 1
checkpoint_every = 0
[tracking]
weights_every = 1
health = false
grad_through_time = false
"""


def test_sigkill_within_a_stream_epoch_then_resume_is_exact(tmp_path):
    t = np.arange(500)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", X=np.sin(2 * np.pi * t / 12) + 0.2 * rng.normal(size=500))
    text = CONFIG.replace("{data}", str(tmp_path / "s.npz"))
    (tmp_path / "c.toml").write_text(text)
    run = tmp_path / "run"
    sigkill_mid_epoch(tmp_path / "c.toml", run, epochs=1)  # a checkpoint within the next epoch is on disk
    killed = read_jsonl(run / "metrics.jsonl")
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == killed[-1]["epoch"] < 4 and ckpt["step"] > killed[-1]["step"]  # within the next epoch
    assert ckpt["stream"]["epoch"] == ckpt["epoch"] + 1 and 0 < ckpt["stream"]["start"] < 209
    assert [tuple(h.shape) for h in ckpt["stream"]["state"]] == [(1, 2, 12), (1, 2, 12)]  # h, c of both rows

    before = torch.get_num_threads()
    try:  # (resumed in this process: the same code as `rnnlab train --resume`, without a second start)
        train(parse_config(text), out=run, progress=False, log=None, resume=True)
        train(parse_config(text), out=tmp_path / "reference", progress=False, log=None)
    finally:
        torch.set_num_threads(before)
    assert f"within epoch {ckpt['epoch'] + 1}" in read_jsonl(run / "resumes.jsonl")[-1]["where"]
    metrics, reference = read_jsonl(run / "metrics.jsonl"), read_jsonl(tmp_path / "reference" / "metrics.jsonl")
    assert [r["epoch"] for r in metrics] == [1, 2, 3, 4]
    assert without_time(metrics) == without_time(reference)  # losses and metrics of every epoch, bit for bit
    tracked = read_jsonl(run / "tracked.jsonl")
    assert tracked == read_jsonl(tmp_path / "reference" / "tracked.jsonl")  # every step once, the same values
    weights = [load_checkpoint(r / "checkpoints" / "last.pt")["model"] for r in (run, tmp_path / "reference")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[1])
    assert read_jsonl(run / "metrics.jsonl")[-1]["step"] == 4 * 21
