"""A run killed at awkward moments, round 2 (helper-59's findings): a kill between metrics.jsonl
and the first checkpoint leaves a run that starts again; a resume records every tracked statistic
the uninterrupted run records; a hand-edited config.toml is corrected, and said; stale temporary
files of our atomic writes are swept; a failed write names the file and what survived."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from test_bad_inputs import config, one_line_error

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


class Killed(Exception):
    """Stands for SIGKILL at the moment ``on_epoch`` runs: after the epoch's record is appended
    to metrics.jsonl, before its checkpoint is written."""


def killed_at(epoch):
    def on_epoch(record):
        if record["epoch"] == epoch:
            raise Killed
        return False
    return on_epoch


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, capsys):
    cfg = parse_config(config())
    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(cfg, out=run, progress=False, log=None, on_epoch=killed_at(1))
    assert (run / "metrics.jsonl").exists() and not (run / "checkpoints" / "last.pt").exists()
    (run / "notes.txt").write_text("mine")  # a file of the user's: never deleted
    (tmp_path / "c.toml").write_text(config())
    argv = ["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet"]
    one_line_error(argv + ["--resume"], capsys, ("no checkpoint to resume", "without --resume starts it again"))
    assert main(argv) == 0
    train(cfg, out=tmp_path / "ref", progress=False, log=None)
    a, b = RunDir(run), RunDir(tmp_path / "ref")
    assert without_time(a.read_metrics()) == without_time(b.read_metrics())
    assert a.read_tracked() == b.read_tracked()
    assert (run / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("cut", ["session_ends", "killed_an_epoch_later"])
def test_a_resumed_run_tracks_what_the_uninterrupted_one_does(tmp_path, cut):
    # grads_every 1: every step's update ratio is recorded by the next step, across the checkpoint
    cfg = parse_config(config().replace("epochs = 2", "epochs = 4").replace("grads_every = 2", "grads_every = 1"))
    ref = train(cfg, out=tmp_path / "ref", progress=False, log=None).run_dir
    run = tmp_path / "run"
    if cut == "session_ends":
        train(cfg, out=run, progress=False, log=None, stop_after=2)
    else:  # the session wrote epoch 3's records (the ratio of epoch 2's last step too), not its checkpoint
        with pytest.raises(Killed):
            train(cfg, out=run, progress=False, log=None, on_epoch=killed_at(3))
    train(cfg, out=run, resume=True, progress=False, log=None)
    got, want = RunDir(run).read_tracked(), RunDir(ref).read_tracked()
    ratios = [r["step"] for r in got if r["stat"] == "update_ratio"]
    assert len(ratios) == len([r for r in want if r["stat"] == "update_ratio"])
    assert got == want


def test_a_hand_edited_config_toml_is_corrected_and_said(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(config())
    run = tmp_path / "run"
    train(parse_config(config()), out=run, progress=False, log=None, stop_after=1)
    written = (run / "config.toml").read_text()
    (run / "config.toml").write_text(written.replace("lr = 0.001", "lr = 0.05"))
    capsys.readouterr()
    with warnings.catch_warnings():  # (the suite may run with -W ignore; the command's user sees it)
        warnings.simplefilter("always")
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--resume"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "config.toml differs from the checkpoint's config" in line]
    assert len(said) == 1 and "training.lr (0.001 -> 0.05)" in said[0] and "rewritten" in said[0], err
    assert (run / "config.toml").read_text() == written
    assert RunDir(run).read_config().training.lr == 0.001


def test_stale_temporary_files_of_our_writes_are_swept_when_the_run_is_claimed(tmp_path):
    cfg = parse_config(config())
    run = tmp_path / "run"
    train(cfg, out=run, progress=False, log=None, stop_after=1)

    def leftover(folder, prefix):  # as a kill during atomic_write_bytes leaves it
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        os.write(fd, b"x" * 100)
        os.close(fd)
        return Path(name)

    ours = [leftover(run / "checkpoints", ".last.pt."), leftover(run / "checkpoints", ".best.pt."),
            leftover(run, ".metrics.jsonl."), leftover(run, ".config.toml.")]
    kept = [leftover(run, ".notes.txt."), leftover(run / "checkpoints", ".mine.pt."),
            leftover(run, ".report.html."),  # (rnnlab report writes it without the lock: maybe in use)
            run / ".last.pt.abcdefgh.tmp.keep", run / "checkpoints" / ".last.pt.tmp"]
    for p in kept[-2:]:
        p.write_text("mine")
    train(cfg, out=run, resume=True, progress=False, log=None)
    assert [p for p in ours if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []


def _file_limit(limit):
    def set_up():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_up


def test_a_failed_write_names_the_file_and_what_survived(tmp_path):
    text = config().replace("epochs = 2", "epochs = 3").replace("[tracking]", "[tracking]\nenabled = false")
    (tmp_path / "c.toml").write_text(text)
    run = tmp_path / "run"
    train(parse_config(text), out=run, progress=False, log=None, stop_after=1)
    last = run / "checkpoints" / "last.pt"
    before = last.read_bytes()
    # every file of the run may grow but a checkpoint: its write fails as on a full disk
    cmd = [sys.executable, "-m", "rnnlab", "train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--resume"]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_file_limit(len(before) // 2),
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith("rnnlab train: error: cannot write "), lines[0]
    named = lines[0].split("cannot write ", 1)[1].split(" (", 1)[0]
    assert named in (str(last), str(run / "checkpoints" / "best.pt")), lines[0]
    assert "the checkpoint after epoch 1" in lines[0] and "rerun with --resume" in lines[0], lines[0]
    assert last.read_bytes() == before
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--resume"]) == 0
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2, 3]
