"""A stream run killed within an epoch keeps its cost as of its last checkpoint (tester
helper-192: timing.json said the killed session trained 118 steps in 0.8 s, as of the checkpoint
after epoch 1, while its last checkpoint was at step 639): timing.json is written beside each
checkpoint within a stream's epoch, with the training time of the epoch so far."""

from __future__ import annotations

import json

import numpy as np
from test_kill_resume import sigkill_mid_epoch
from test_stream_resume import CONFIG

from rnnlab.train import load_checkpoint


def test_a_stream_killed_within_an_epoch_records_its_cost_to_that_checkpoint(tmp_path):
    t = np.arange(500)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", X=np.sin(2 * np.pi * t / 12) + 0.2 * rng.normal(size=500))
    (tmp_path / "c.toml").write_text(CONFIG.replace("{data}", str(tmp_path / "s.npz")))
    run = tmp_path / "run"
    sigkill_mid_epoch(tmp_path / "c.toml", run, epochs=1)
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    timing = json.loads((run / "timing.json").read_text())
    assert ckpt["stream"]["epoch"] == 2  # (killed within the second epoch, past its first window)
    # (the kill may land between a checkpoint and its timing record: at most one window behind)
    assert ckpt["step"] - 1 <= timing["steps"] <= ckpt["step"], (timing["steps"], ckpt["step"])
    assert timing["ended"].startswith("killed or still running: recorded at the checkpoint within epoch 2")
    assert timing["seconds"]["training"] > 0
    assert timing["checkpoints_written"] >= 2
