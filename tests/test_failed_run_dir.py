"""A run that fails before it records anything leaves nothing that looks like a run (a new user's
report): a data error, a config error found late, an OSError or Ctrl-C at set-up leaves neither its
lock file nor config.toml, and a directory the command created is removed; a directory that existed
keeps what it held; a run with records is never touched; the same command then runs into the same
--out without more ado, and `rnnlab report` on what an older rnnlab left says what it is."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import config, digest, one_line_error

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config
from rnnlab.lock import LOCK_FILE
from rnnlab.rundir import RUN, RunDir, atomic_write_json
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]

CFG = """name = "x"
[task]
kind = "{kind}"
[data]
path = "{path}"
[model]
hidden_size = 4
[training]
epochs = 1
batch_size = 8
[tracking]
health = false
enabled = {tracked}
"""


def _data(tmp: Path, kind: str, good: bool) -> Path:
    """A data file of 40 series of 12 steps, as a user's: a regression .npz whose target is
    constant (bad) or varies, a classification .csv with one class (bad) or two."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 1))
    if kind == "regression":
        path = tmp / "data.npz"
        np.savez(path, X=X, y=X.mean(axis=(1, 2)) if good else np.full(40, 3.0))
    else:
        path = tmp / "data.csv"
        rows = ["label," + ",".join(f"t{i}" for i in range(12))]
        rows += [("run" if good and n % 2 else "walk") + "," + ",".join(f"{v:.4f}" for v in X[n, :, 0])
                 for n in range(40)]
        path.write_text("\n".join(rows) + "\n")
    return path


def _user_config(tmp: Path, kind: str, good: bool = False, tracked: bool = False) -> Path:
    """(``tracked``: with the tracker's records among the run's files; off, the report after
    training, which no test here reads, draws several times faster)"""
    cfg = tmp / "cfg.toml"
    cfg.write_text(CFG.format(kind=kind, path=_data(tmp, kind, good).name, tracked=str(tracked).lower()))
    return cfg


DATA_ERRORS = {"regression": "y has the same value (3) for every sequence",
               "classification": "expected labels of at least 2 classes"}


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_a_data_error_leaves_no_run_directory_and_the_same_command_runs_again(tmp_path, capsys, kind):
    cfg = _user_config(tmp_path, kind)
    out = tmp_path / "runs" / "x"
    argv = ["train", str(cfg), "--out", str(out), "--quiet"]
    one_line_error(argv, capsys, (DATA_ERRORS[kind],))
    assert not out.exists()  # no lock file, no config.toml, no empty run (the old code left all three)
    one_line_error(["report", str(out)], capsys, ("does not exist",))
    assert not out.exists()  # (nor does a report or the error's own wording make the folder)
    _user_config(tmp_path, kind, good=True)
    assert main(argv) == 0  # the same command, no --force: the data fixed, the run trains
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [1]
    assert (out / LOCK_FILE).read_text() == ""


def test_a_config_error_found_after_the_health_check_leaves_no_run_directory(tmp_path, capsys):
    # the tracker's parameter patterns are checked against the built model, after health.json is written
    text = config(top="").replace("health = false", "health = true\nparams = [\"nosuch*\"]")
    (tmp_path / "c.toml").write_text(text)
    out = tmp_path / "run"
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(out), "--quiet"], capsys,
                   ("tracking: params: pattern 'nosuch*' matches no trainable parameter",))
    assert not out.exists()


def test_ctrl_c_at_set_up_leaves_no_run_directory(tmp_path):
    def ctrl_c_once_the_device_is_chosen(line: str) -> None:  # (the log line _set_up says after the data)
        if line.startswith("device:"):
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(parse_config(config()), out=out, progress=False, log=ctrl_c_once_the_device_is_chosen)
    assert not out.exists()
    train(parse_config(config()), out=out, progress=False, log=None)
    assert RunDir(out).read_summary() is not None


def _file_limit(limit: int):
    def set_up() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return set_up


@pytest.mark.parametrize("limit", [0, 512], ids=["the_lock_record", "config_toml"])
def test_an_os_error_at_set_up_leaves_no_run_directory(tmp_path, limit):
    # a write that fails as on a full disk: the lock file's record (0 bytes allowed), or config.toml
    # (512: the lock's record and the marker fit, config.toml does not)
    (tmp_path / "c.toml").write_text(config())
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rnnlab", "train", str(tmp_path / "c.toml"), "--out", str(out), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_file_limit(limit),
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1",
                            "PYTHONDONTWRITEBYTECODE": "1"})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("rnnlab train: error: "), r.stderr
    assert "File too large" in lines[0], lines[0]
    assert not out.exists()


def _users_run_dir(out: Path) -> None:
    """A run directory holding a file of the user's (notes beside an earlier claim of it)."""
    RunDir.for_writing(out, new=True).release()
    (out / LOCK_FILE).unlink()
    (out / "notes.txt").write_text("mine")


def _diagnosed(out: Path) -> None:
    """What rnnlab.diagnose(..., run_dir=...) leaves: the health findings, no config.toml."""
    with RunDir.for_writing(out, new=True) as run:
        atomic_write_json(run.health, [{"check": "x", "severity": "info", "title": "mine"}])


@pytest.mark.parametrize("held", [lambda out: out.mkdir(), _users_run_dir, _diagnosed],
                         ids=["empty", "a_users_file", "diagnose_findings"])
def test_a_directory_that_existed_keeps_exactly_what_it_held(tmp_path, capsys, held):
    cfg = _user_config(tmp_path, "regression")
    out = tmp_path / "run"
    held(out)
    before = digest(out) | {"(names)": sorted(os.listdir(out))}
    one_line_error(["train", str(cfg), "--out", str(out), "--quiet"], capsys, (DATA_ERRORS["regression"],))
    assert digest(out) | {"(names)": sorted(os.listdir(out))} == before  # never emptied, nothing added
    _user_config(tmp_path, "regression", good=True)
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0


def test_a_run_with_records_loses_nothing_when_a_later_command_fails_before_its_first_epoch(tmp_path, capsys):
    cfg = _user_config(tmp_path, "regression", good=True, tracked=True)  # (every file a run writes)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    before = digest(out)
    _user_config(tmp_path, "regression", tracked=True)  # the data broke since: a resume fails at set-up
    one_line_error(["train", str(cfg), "--out", str(out), "--quiet", "--resume"], capsys, (DATA_ERRORS["regression"],))
    one_line_error(["train", str(cfg), "--out", str(out), "--quiet"], capsys, ("already holds a run",))
    assert digest(out) == before


def test_report_says_what_an_older_rnnlabs_failed_run_left_and_train_runs_into_it(tmp_path, capsys):
    # what rnnlab train left before this fix after a data error: the marker, the lock, config.toml
    cfg = _user_config(tmp_path, "regression")
    out = tmp_path / "run"
    with RunDir.for_writing(out, new=True) as run:
        run.config.write_text(dump_config(parse_config(cfg.read_text())))
    one_line_error(["report", str(out)], capsys, (f"{out} holds no record of a run",
                                                  "the same command without --resume starts the run again"))
    assert not (out / "report.html").exists()
    _user_config(tmp_path, "regression", good=True)
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert (out / RUN.marker).exists() and RunDir(out).read_summary() is not None
