"""``rnnlab recipe`` as a researcher ran it on their own data: `timeout` (SIGTERM to the whole
process group, then the recipe's own to its pool) keeps every worker's checkpoint; a finished
final run of a config the shape rules changed is read again, not retrained and re-tested; the
runs that choose never load the test file; equal scores summed in another order are no gain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_sigterm_workers import CONFIG, _alive, _children

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data import Fold, load_data
from rnnlab.errors import DataError
from rnnlab.rundir import read_jsonl
from rnnlab.task import task_for
from rnnlab.train import load_checkpoint
from rnnlab.train.final import retrain_and_test

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_sigterm_to_the_process_group_keeps_each_workers_checkpoint(tmp_path: Path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG.replace("epochs = 300", "epochs = 300\ncheckpoint_every = 3600.0"))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rnnlab.cli", "recipe", str(config), "--workers", "2", "--out", str(out),
           "--quiet", "--steps", "zoneout", "--seeds", "2", "--no-final"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:  # until both workers' runs recorded 3 epochs
            runs = [p for p in out.glob("**/metrics.jsonl") if len(p.read_bytes().splitlines()) >= 3]
            if len(runs) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)  # as `timeout` does: the recipe and its workers at once
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = proc.stderr.read().decode()
    assert code == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "leaked" not in err, err
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    for metrics in out.glob("**/metrics.jsonl"):
        run = metrics.parent
        epochs = [r["epoch"] for r in read_jsonl(metrics)]
        if len(epochs) < 2:
            continue
        # (checkpoint_every = 1 h: only the stop's checkpoint can hold the last epoch)
        assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == epochs[-1], run
        lock = run / ".rnnlab-lock"  # (released: emptied; a killed writer leaves its pid in it)
        assert not lock.exists() or lock.stat().st_size == 0, f"{run}: a lock left by a dead worker"


def test_a_finished_final_run_of_a_shape_adapted_config_is_read_not_retrained(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    X = (rng.standard_normal((24, 30, 1)) + y[:, None, None]).astype("float32")
    np.savez(tmp_path / "train.npz", X=X, y=y)
    # (series of their own: a test file of training series is refused, rnnlab.data.overlap)
    np.savez(tmp_path / "test.npz", X=X[:6] + 0.5, y=y[:6])
    assert main(["init", str(tmp_path / "t.toml")]) == 0
    text = (tmp_path / "t.toml").read_text().replace('dataset = "GunPoint"', f'path = "{tmp_path / "train.npz"}"\n'
                                                      f'test_path = "{tmp_path / "test.npz"}"', 1)
    text = text.replace("steps = 2000", "steps = 60", 1)
    # (no weight or gradient norms: the final run's report, drawn once, is quicker to draw; what is
    # checked is which run is trained and tested)
    text = text.replace("weights_every = 10", "weights_every = 0", 1).replace("grads_every = 10", "grads_every = 0", 1)
    config = parse_config(text)
    first = retrain_and_test(config, tmp_path / "final")
    assert parse_config((tmp_path / "final" / "config.toml").read_text()).training.steps != 60  # the rules changed it
    summary = tmp_path / "final" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    again = retrain_and_test(config, tmp_path / "final")
    assert summary.stat().st_mtime_ns == stamp, "the finished final run was trained (and tested) again"
    assert again.pop("reused") is True and again == first


def test_the_runs_that_choose_never_load_the_test_file(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 10)
    X = rng.standard_normal((20, 12, 1)).astype("float32")
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savez(tmp_path / "test.npz", X=X[:4], y=np.array(["a", "jumping", "b", "a"]))  # a label training lacks
    config = parse_config(f'[data]\npath = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"')
    fold = load_data(config.data, seed=0, fold=Fold(k=2, index=0, seed=0), task=task_for(config))
    assert fold.test is None and len(fold.train) + len(fold.val) == 20
    with pytest.raises(DataError, match="jumping"):  # (a plain run still checks it)
        load_data(config.data, seed=0, task=task_for(config))
