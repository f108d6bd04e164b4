"""A run survives being moved, losing a file, or meeting another rnnlab (tester helper-182):
``--resume`` of a run whose own data files moved (their content the checkpoint's), ``rnnlab
predict`` with one checkpoint or config.toml gone, and the rnnlab, torch and Python versions
recorded and named where a checkpoint's format is not this rnnlab's."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import shutil
import warnings

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import CheckpointError, RunDirError
from rnnlab.rundir import RunDir
from rnnlab.train.checkpoint import FORMAT, load_checkpoint
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
path = "{train}"
test_path = "{test}"
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = 3
batch_size = 8
seed = 0
[training.early_stopping]
patience = {patience}
[tracking]
enabled = false
[adapt]
shape = false
"""


def versions():
    """What this process runs: the versions a run is to record."""
    return {"rnnlab": rnnlab.__version__, "torch": str(torch.__version__), "python": platform.python_version()}


def _data(folder, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, n in (("train.npz", 24), ("test.npz", 8)):
        X = rng.standard_normal((n, 10, 1)).astype("float32")
        np.savez(folder / name, X=X, y=np.repeat([0, 1], n // 2))
    return folder


def _config(folder, patience=0):
    return CONFIG.format(train=folder / "train.npz", test=folder / "test.npz", patience=patience)


def _predict(run, data, out):
    """``rnnlab predict RUN --data DATA --out OUT``, its warnings shown as a user sees them
    (whatever filter pytest runs under)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        return main(["predict", str(run), "--data", str(data), "--out", str(out)])


def test_a_run_and_its_data_moved_resume_when_the_data_are_the_same(tmp_path, capsys):
    old = _data(tmp_path / "a" / "data")
    train(parse_config(_config(old)), out=tmp_path / "a" / "run", progress=False, log=None, stop_after=1)
    shutil.move(tmp_path / "a", tmp_path / "b")  # run and data together, elsewhere
    new = tmp_path / "b" / "data"
    (tmp_path / "new.toml").write_text(_config(new))
    run = tmp_path / "b" / "run"
    assert main(["train", str(tmp_path / "new.toml"), "--out", str(run), "--resume"]) == 0
    err = capsys.readouterr()
    said = err.out + err.err
    assert "data.path, data.test_path moved" in said and "the same data as the run trained on" in said, said
    line = RunDir(run).read_resumes()[-1]
    assert line["data_moved"]["keys"] == ["data.path", "data.test_path"] and line["data_moved"]["same_data"]
    assert line["changed"]["data.path"] == [str(old / "train.npz"), str(new / "train.npz")]
    assert line["versions"] == versions()
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3
    # --allow-change data.path is not refused as a change of the run's meaning
    (tmp_path / "again.toml").write_text(_config(new).replace("epochs = 3", "epochs = 4"))
    assert main(["train", str(tmp_path / "again.toml"), "--out", str(run), "--resume",
                 "--allow-change", "training.epochs,data.path"]) == 0


def test_a_moved_data_path_with_other_data_is_refused_naming_the_move(tmp_path):
    old = _data(tmp_path / "a")
    train(parse_config(_config(old)), out=tmp_path / "run", progress=False, log=None, stop_after=1)
    other = _data(tmp_path / "other", seed=1)
    with pytest.raises(RunDirError, match=r"data.path moved from .*a/train.npz to .*other/train.npz, data.test_path "
                                          r"moved .*, and the data there are not the run's; point them at a copy of "
                                          r"the run's data"):
        train(parse_config(_config(other)), out=tmp_path / "run", progress=False, log=None, resume=True)
    assert RunDir(tmp_path / "run").read_resumes() == []


@pytest.mark.parametrize(("patience", "gone", "used"), [(0, "last.pt", "best.pt"), (2, "best.pt", "last.pt")])
def test_predict_uses_the_intact_checkpoint_when_the_evaluated_one_is_gone(tmp_path, capsys, patience, gone, used):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    train(parse_config(_config(data, patience)), out=run, progress=False, log=None)
    assert (run / "checkpoints" / "best.pt").exists()
    (run / "checkpoints" / gone).unlink()
    capsys.readouterr()
    assert _predict(run, data / "test.npz", tmp_path / "p.csv") == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "the checkpoint the run evaluated" in x]
    assert len(lines) == 1 and f"{gone}, the checkpoint the run evaluated, is missing: using {used}" in lines[0], err
    assert "train the run first" not in err
    assert len((tmp_path / "p.csv").read_text().splitlines()) > 1


def test_predict_uses_best_when_last_is_damaged_and_says_train_first_only_without_any(tmp_path, capsys):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    train(parse_config(_config(data)), out=run, progress=False, log=None)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    capsys.readouterr()
    assert _predict(run, data / "test.npz", tmp_path / "p.csv") == 0
    assert "last.pt, the checkpoint the run evaluated, is damaged: using best.pt" in capsys.readouterr().err
    (run / "checkpoints" / "best.pt").unlink()
    assert _predict(run, data / "test.npz", tmp_path / "q.csv") != 0
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err and "train the run first" not in err, err
    last.unlink()
    assert _predict(run, data / "test.npz", tmp_path / "q.csv") != 0
    assert "no checkpoint to predict with" in capsys.readouterr().err


def test_predict_reads_the_checkpoints_config_when_config_toml_is_missing(tmp_path, capsys):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    train(parse_config(_config(data)), out=run, progress=False, log=None)
    (run / "config.toml").unlink()
    assert _predict(run, data / "test.npz", tmp_path / "p.csv") == 0
    assert "config.toml is missing: using the config its checkpoint recorded" in capsys.readouterr().err
    assert len((tmp_path / "p.csv").read_text().splitlines()) > 1


def test_versions_are_recorded_in_the_summary_and_each_checkpoint(tmp_path):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    train(parse_config(_config(data)), out=run, progress=False, log=None)
    mine = versions()
    assert json.loads((run / "summary.json").read_text())["versions"] == mine
    for name in ("last.pt", "best.pt"):
        assert load_checkpoint(run / "checkpoints" / name)["versions"] == mine


def _rewrap(path, version, wrapper_extra=None, state_extra=None):
    """The checkpoint at ``path`` as another format version would wrap it (its first state kept
    beside it, for a second rewrap)."""
    kept = path.with_suffix(".orig")
    if not kept.exists():
        shutil.copy(path, kept)
    state = {**load_checkpoint(kept), **(state_extra or {})}
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    torch.save({"format": FORMAT, "version": version, "sha256": hashlib.sha256(payload).hexdigest(),
                "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8), **(wrapper_extra or {})}, path)


def test_a_newer_checkpoint_names_its_writer_and_says_upgrade_never_remove(tmp_path, capsys):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    (tmp_path / "c.toml").write_text(_config(data))
    train(parse_config(_config(data)), out=run, progress=False, log=None, stop_after=1)
    last = run / "checkpoints" / "last.pt"
    _rewrap(last, 3, state_extra={"versions": {"rnnlab": "9.9.0", "torch": "9.1", "python": "3.14.0"}})
    with pytest.raises(CheckpointError, match=r"format version 3, newer than this rnnlab .*written by rnnlab "
                                              r"9\.9\.0 \(torch 9\.1\); upgrade rnnlab to read it"):
        load_checkpoint(last)
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--resume"]) != 0
    err = capsys.readouterr().err
    assert "upgrade rnnlab to read it" in err and "remove" not in err, err
    _rewrap(last, 3, wrapper_extra={"versions": {"rnnlab": "8.0.0"}})  # (a later format's wrapper may say it)
    with pytest.raises(CheckpointError, match=r"written by rnnlab 8\.0\.0; upgrade"):
        load_checkpoint(last)


def test_an_older_checkpoint_format_says_which_rnnlab_reads_it(tmp_path):
    data = _data(tmp_path / "d")
    run = tmp_path / "run"
    train(parse_config(_config(data)), out=run, progress=False, log=None, stop_after=1)
    last = run / "checkpoints" / "last.pt"
    _rewrap(last, 1)
    with pytest.raises(CheckpointError, match=r"format version 1, older than this rnnlab .*: rnnlab 0\.1\.0 from "
                                              r"before the checksummed checkpoints .* reads it"):
        load_checkpoint(last)
