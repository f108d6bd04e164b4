"""A run directory's records survive what an unattended user does to it (an engineer's report):
following the advice of an error never deletes recorded epochs; a run directory removed while
training is not written again as a damaged run; a corrupt last.pt says what to do without losing
anything; a checkpoint from another run is refused instead of splicing two runs' records."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bad_inputs import digest, one_line_error

from rnnlab.config import parse_config
from rnnlab.errors import CheckpointError, RunDirError
from rnnlab.rundir import RUN, RunDir, RunDirGone, atomic_write_json, read_marker
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]

TINY = """name = "tiny"
[data]
dataset = "UnitTest"
val_fraction = 0.2
[model]
hidden_size = 4
[training]
epochs = {epochs}
batch_size = 8
seed = {seed}
threads = 1
checkpoint_every = 0
[training.early_stopping]
patience = {patience}
[tracking]
health = false
grad_through_time = false
[adapt]
shape = false
budget = false
"""


def _config(tmp: Path, epochs: int = 3, seed: int = 0, patience: int = 0) -> Path:
    path = tmp / f"tiny{epochs}-{seed}-{patience}.toml"
    path.write_text(TINY.format(epochs=epochs, seed=seed, patience=patience))
    return path


def _train(cfg: Path, out: Path, **kw) -> None:
    train(parse_config(cfg.read_text()), out=out, log=None, progress=False, **kw)


def _epochs(out: Path) -> list[int]:
    return [r["epoch"] for r in RunDir(out).read_metrics()]


# ------------------------------------------------------------------ 1. the advice never deletes records


def test_a_run_without_last_pt_but_with_records_is_never_discarded(tmp_path, capsys):
    cfg = _config(tmp_path, patience=5)
    out = tmp_path / "x5"
    _train(cfg, out)
    (out / "checkpoints" / "last.pt").unlink()
    before = digest(out)
    line = one_line_error(["train", str(cfg), "--out", str(out), "--resume", "--quiet"], capsys,
                          ("3 recorded epochs", "best.pt", "no last.pt", "new --out", f"remove {out}"), kept=out)
    assert "starts it again" not in line  # (the advice that led to the data loss)
    line = one_line_error(["train", str(cfg), "--out", str(out), "--quiet"], capsys,
                          ("3 recorded epochs", "best.pt", "no last.pt", "new --out", f"remove {out}"), kept=out)
    assert digest(out) == before and _epochs(out) == [1, 2, 3]


def test_a_run_cut_short_before_its_first_checkpoint_is_still_started_again(tmp_path, capsys):
    cfg = _config(tmp_path)
    out = tmp_path / "run"
    class Killed(Exception):
        pass

    def killed(record):  # what a kill after epoch 1's record, before its checkpoint, leaves
        raise Killed

    with pytest.raises(Killed):
        _train(cfg, out, on_epoch=killed)
    assert _epochs(out) == [1] and not (out / "checkpoints" / "last.pt").exists()
    one_line_error(["train", str(cfg), "--out", str(out), "--resume", "--quiet"], capsys, ("starts it again",))
    _train(cfg, out)
    assert _epochs(out) == [1, 2, 3]


# ------------------------------------------------------------------ 2. a removed run directory stays removed


def test_writes_never_create_a_run_directory_that_was_removed(tmp_path):
    out = tmp_path / "run"
    run = RunDir.for_writing(out, new=True)
    try:
        shutil.rmtree(out)
        with pytest.raises(RunDirError, match="disappeared"):
            save_checkpoint(run.last_checkpoint, {"epoch": 1, "step": 1, "model": {}})
        with pytest.raises(RunDirError, match="disappeared"):
            atomic_write_json(run.summary, {})
        assert not out.exists()
    finally:
        run.release()


def test_training_stops_with_one_line_when_its_run_directory_is_removed(tmp_path):
    cfg = _config(tmp_path, epochs=100000)
    out = tmp_path / "del3"
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab", "train", str(cfg), "--out", str(out), "--quiet"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoints" / "last.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        shutil.rmtree(out, ignore_errors=True)
        _, err = proc.communicate(timeout=120)  # (the old trainer made the directory again and trained on)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "disappeared while" in lines[0] and str(out) in lines[0], err
    # at most what a write in flight as the removal ran can leave (rm then says "Directory not
    # empty"; timing.json is written at each checkpoint too): never a summary, a report, or records
    # of the epochs after
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    assert not {"summary.json", "report.html"} & set(left), left
    assert len(RunDir(out).read_metrics() if out.exists() else []) <= 1, left


def test_a_metrics_file_removed_between_epochs_stops_the_run_instead_of_starting_a_new_one(tmp_path):
    # (rm -rf reaches metrics.jsonl before the lock file: the next epoch's record must not make a
    # metrics.jsonl holding only the epochs after the removal)
    out = tmp_path / "m"

    def remove_after_first(record):
        if record["epoch"] == 1:
            (out / "metrics.jsonl").unlink()
        return False

    with pytest.raises(RunDirGone, match=r"disappeared while writing metrics\.jsonl \(metrics\.jsonl, which this run wrote before, was removed\)"):
        _train(_config(tmp_path, epochs=4), out, on_epoch=remove_after_first)
    assert not (out / "metrics.jsonl").exists()


# ------------------------------------------------------------------ 3. a corrupt last.pt: a way forward


def test_a_corrupt_last_pt_says_how_to_go_on_without_losing_anything(tmp_path, capsys):
    cfg = _config(tmp_path, patience=5)
    out = tmp_path / "x2"
    _train(cfg, out)
    best_epoch = load_checkpoint(out / "checkpoints" / "best.pt")["epoch"]
    with open(out / "checkpoints" / "last.pt", "r+b") as f:
        f.truncate(100)
    expected = ("corrupt", "--resume cannot continue from last.pt", f"best.pt beside it (epoch {best_epoch}, the best by validation) is intact",
                "rnnlab report", "new --out")
    for argv in (["train", str(cfg), "--out", str(out), "--resume", "--quiet"],
                 ["train", str(cfg), "--out", str(out), "--quiet"]):
        line = one_line_error(argv, capsys, expected, kept=out)
        assert "delete" not in line and "already holds a run" not in line


def test_reading_a_corrupt_last_pt_says_that_best_pt_is_intact(tmp_path):
    cfg = _config(tmp_path, patience=0)  # (without early stopping, predict uses last.pt)
    out = tmp_path / "x2"
    _train(cfg, out)
    shutil.copy(out / "checkpoints" / "last.pt", out / "checkpoints" / "best.pt")
    with open(out / "checkpoints" / "last.pt", "r+b") as f:
        f.truncate(100)
    # (the reader of every command that loads last.pt: predict, forecast, tensorboard, sample)
    with pytest.raises(CheckpointError, match=r"last\.pt is corrupt.*best\.pt beside it \(epoch 3, .*\) is intact"):
        load_checkpoint(out / "checkpoints" / "last.pt")
    (out / "checkpoints" / "best.pt").unlink()  # (none beside it: nothing said of one)
    with pytest.raises(CheckpointError, match=r"last\.pt is corrupt or truncated and cannot be loaded \([^;]*\)$"):
        load_checkpoint(out / "checkpoints" / "last.pt")


# ------------------------------------------------------------------ 4. another run's checkpoint is refused


def test_a_checkpoint_ahead_of_the_records_is_refused(tmp_path, capsys):
    cfg, long_cfg = _config(tmp_path, epochs=2), _config(tmp_path, epochs=4)
    short, finished = tmp_path / "short", tmp_path / "finished"
    _train(cfg, short)
    _train(long_cfg, finished)
    # an old run's checkpoint, without an identity: only the epochs can tell
    (short / RUN.marker).write_text("{}\n")
    shutil.copy(finished / "checkpoints" / "last.pt", short / "checkpoints" / "last.pt")
    one_line_error(["train", str(long_cfg), "--out", str(short), "--resume", "--quiet"], capsys,
                   ("after epoch 4", "up to epoch 2", "new --out"), kept=short)


def test_a_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    cfg = _config(tmp_path, epochs=3)
    a, b = tmp_path / "a", tmp_path / "b"
    _train(cfg, a, stop_after=2)
    _train(cfg, b, stop_after=2)  # the same config and seed: the epochs alone cannot tell them apart
    assert read_marker(a, RUN)["run"] != read_marker(b, RUN)["run"]
    assert load_checkpoint(a / "checkpoints" / "last.pt")["run"] == read_marker(a, RUN)["run"]
    own = load_checkpoint(a / "checkpoints" / "last.pt")
    shutil.copy(b / "checkpoints" / "last.pt", a / "checkpoints" / "last.pt")
    one_line_error(["train", str(cfg), "--out", str(a), "--resume", "--quiet"], capsys,
                   ("written by another run", "new --out"), kept=a)
    # its own checkpoint resumes, and so does one of an older rnnlab (without identity: not compared)
    _train(cfg, b, resume=True)
    assert _epochs(b) == [1, 2, 3]
    del own["run"]
    save_checkpoint(a / "checkpoints" / "last.pt", own)
    _train(cfg, a, resume=True)
    assert _epochs(a) == [1, 2, 3]
