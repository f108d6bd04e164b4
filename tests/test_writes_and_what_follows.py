"""What a refused write says is what the next command accepts: a full disk at the first
checkpoint, at the report after training, a read-only run directory, and a config key that is
a command's option."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[data]
dataset = "GunPoint"
[model]
layer = "lstm"
hidden_size = 32
[training]
epochs = 3
batch_size = 16
seed = 0
checkpoint_every = 1000.0
[tracking]
health = false
# (no tracker: its records and figures are not what these tests write, and each report here is
# drawn in a third of the time without them)
enabled = false
"""


def _rnnlab(args: list[str], cwd: Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def file_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-m", "rnnlab", *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=file_limit if limit is not None else None,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1",
                               "PYTHONDONTWRITEBYTECODE": "1"})


def _mount(args: list[str]) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mount is not permitted here ({r.stderr.strip() or r.returncode}): the test needs a real "
                    "full or read-only file system")


@pytest.fixture
def mounted(tmp_path):
    """Mount points made under tmp_path, unmounted after the test."""
    points: list[Path] = []
    yield points
    for p in reversed(points):
        subprocess.run(["umount", str(p)], capture_output=True)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("done")
    (d / "c.toml").write_text(CONFIG)
    r = _rnnlab(["train", "c.toml", "--out", "run", "--quiet"], d)
    assert r.returncode == 0, r.stderr
    return d / "run"


def test_a_full_disk_at_the_first_checkpoint_the_promised_rerun_starts_again(tmp_path, mounted, finished_run):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    best = (finished_run / "checkpoints" / "best.pt").stat().st_size
    small = tmp_path / "small"
    small.mkdir()
    # room for the set-up files, epoch 1's records and best.pt, not for last.pt (as large) after it
    _mount(["-t", "tmpfs", "-o", f"size={best + 64 * 1024}", "tmpfs", str(small)])
    mounted.append(small)
    (tmp_path / "c.toml").write_text(CONFIG)
    cmd = ["train", "c.toml", "--out", "small/r", "--quiet"]
    first = _rnnlab(cmd, tmp_path)
    assert first.returncode == 1
    assert "last.pt (No space left on device)" in first.stderr, first.stderr
    assert "rerun the same command without --resume" in first.stderr, first.stderr
    assert (small / "r" / "checkpoints" / "best.pt").exists()  # what the failed start left
    _mount(["-o", "remount,size=64m", str(small)])
    again = _rnnlab(cmd, tmp_path)
    assert again.returncode == 0, again.stderr
    assert (small / "r" / "summary.json").exists()
    # a real run there (its later epochs) is still never started over
    (small / "r" / "checkpoints" / "last.pt").unlink()
    (small / "r" / "summary.json").unlink()
    refused = _rnnlab(cmd, tmp_path)
    assert refused.returncode == 1 and "3 recorded epochs" in refused.stderr, refused.stderr
    assert (small / "r" / "metrics.jsonl").exists()


def test_a_best_pt_of_a_later_epoch_is_kept(tmp_path, finished_run):
    # a directory with epoch 1's records but a best.pt of epoch 3 (copied in): a record, not a failed start's
    import shutil

    run = tmp_path / "r"
    shutil.copytree(finished_run, run)
    (run / "checkpoints" / "last.pt").unlink()
    (run / "summary.json").unlink()
    metrics = run / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines()[0] + "\n")
    (tmp_path / "c.toml").write_text(CONFIG)
    r = _rnnlab(["train", "c.toml", "--out", "r", "--quiet"], tmp_path)
    assert r.returncode == 1 and "best.pt but no last.pt" in r.stderr, r.stderr
    assert (run / "checkpoints" / "best.pt").exists()


def test_a_report_refused_at_the_end_of_train_says_the_run_is_kept_and_gives_the_findings(tmp_path, finished_run):
    # every file of the run fits the file size limit, the report after training does not
    limit = max(f.stat().st_size for f in finished_run.rglob("*") if f.is_file() and f.name != "report.html") + 4096
    assert (finished_run / "report.html").stat().st_size > limit
    (tmp_path / "c.toml").write_text(CONFIG)
    r = _rnnlab(["train", "c.toml", "--out", "uf"], tmp_path, limit=limit)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnlab train: error: cannot write uf/report.html (File too large)"), r.stderr
    assert "the run is finished and kept" in last and "`rnnlab report uf`" in last, last
    assert "fter training" in r.stdout, r.stdout  # the findings ("After training: ..." or "after training: no ...")
    assert (tmp_path / "uf" / "summary.json").exists() and not (tmp_path / "uf" / "report.html").exists()
    done = _rnnlab(["report", "uf"], tmp_path)  # once there is room, as the line says
    assert done.returncode == 0 and (tmp_path / "uf" / "report.html").exists(), done.stderr


@pytest.fixture
def read_only_run(tmp_path, mounted, finished_run) -> Path:
    """A copy of the finished run in a read-only directory (a read-only bind mount as root)."""
    import shutil

    run = tmp_path / "ro"
    shutil.copytree(finished_run, run)
    (run / "report.html").unlink()
    if os.geteuid() == 0:
        _mount(["--bind", str(run), str(run)])
        mounted.append(run)
        _mount(["-o", "remount,bind,ro", str(run)])
    else:
        for d in (run, run / "checkpoints"):
            d.chmod(0o555)
    yield run
    for d in (run, run / "checkpoints"):
        if os.geteuid() != 0:
            d.chmod(0o755)


def _listing(run: Path) -> dict[str, int]:
    return {str(p.relative_to(run)): p.stat().st_mtime_ns for p in run.rglob("*")}


def test_report_of_a_read_only_run_names_out_and_writes_there(tmp_path, read_only_run):
    before = _listing(read_only_run)
    r = _rnnlab(["report", str(read_only_run)], tmp_path)
    assert r.returncode == 1 and "--out FILE" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    page = tmp_path / "page.html"
    r = _rnnlab(["report", str(read_only_run), "--out", str(page)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "<html" in page.read_text()[:2000].lower()
    assert _listing(read_only_run) == before
    again = _rnnlab(["report", str(read_only_run), "--out", str(page)], tmp_path)  # a user's file: not replaced unasked
    assert again.returncode == 1 and "--force" in again.stderr, again.stderr


def test_predict_and_tensorboard_of_a_read_only_run_name_their_out(tmp_path, read_only_run):
    pytest.importorskip("tensorboard")
    data = tmp_path / "new.npz"
    np.savez(data, X=np.random.default_rng(0).normal(size=(4, 150, 1)).astype(np.float32))
    r = _rnnlab(["predict", str(read_only_run), "--data", str(data)], tmp_path)
    assert r.returncode == 1 and "--out FILE" in r.stderr, r.stderr
    r = _rnnlab(["tensorboard", str(read_only_run)], tmp_path)
    assert r.returncode == 1 and "--out DIR" in r.stderr, r.stderr
    r = _rnnlab(["tensorboard", str(read_only_run), "--out", "tb"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert any((tmp_path / "tb" / "ro").glob("events.out.tfevents.*"))
    assert f"--logdir {Path('tb')}" in r.stdout
    r = _rnnlab(["tensorboard", str(read_only_run), "--out", "tb"], tmp_path)  # its points would be drawn twice
    assert r.returncode == 1 and "already holds" in r.stderr, r.stderr


def test_search_storage_in_a_config_names_the_storage_option():
    with pytest.raises(ConfigError) as e:
        parse_config('[data]\ndataset = "GunPoint"\n[search]\nstorage = "sqlite:///s.db"')
    assert "--storage" in str(e.value) and "search.space" not in str(e.value), str(e.value)
