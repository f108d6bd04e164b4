"""A run or a study that fails before it records anything takes back the folders its start
created (a mistyped nested ``output.dir`` leaves no stray folders), and only those: never a
folder that was there before, one holding anything, or anything of a run with records."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.rundir import RunDir, missing_folders, remove_empty_folders

CONFIG = """
name = "tiny"
[data]
{data}
val_fraction = {val}
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
threads = 1
[training.early_stopping]
patience = {patience}
[tracking]
health = false
grad_through_time = false
[output]
dir = "{out}"
"""


def write_config(tmp_path: Path, out: Path, data: str = 'dataset = "UnitTest"', val: float = 0.2,
                 patience: int = 0) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(CONFIG.format(data=data, val=val, patience=patience, out=out.as_posix()))
    return p


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_bad_data_leaves_no_nested_folders(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(tmp_path, work / "a" / "b" / "c" / "run", data='path = "missing.npz"')
    assert main(["train", str(config)]) == 1
    assert "data.path" in capsys.readouterr().err
    assert tree(work) == []


def test_config_error_after_the_run_directory_was_made(tmp_path, capsys):
    # (patience without a validation split is found against the data: after the claim)
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(tmp_path, work / "x" / "y" / "run", val=0.0, patience=2)
    assert main(["train", str(config)]) == 1
    assert "training.early_stopping.patience" in capsys.readouterr().err
    assert tree(work) == []


def test_folders_that_existed_or_hold_files_stay(tmp_path, capsys):
    work = tmp_path / "work"
    (work / "a").mkdir(parents=True)  # there before: stays, empty as it is
    (work / "a" / "keep").mkdir()
    (work / "a" / "keep" / "notes.txt").write_text("mine")
    config = write_config(tmp_path, work / "a" / "b" / "c" / "run", data='path = "missing.npz"')
    assert main(["train", str(config)]) == 1
    assert tree(work) == ["a", "a/keep", "a/keep/notes.txt"]
    capsys.readouterr()


def test_another_runs_folder_made_meanwhile_keeps_the_parents(tmp_path):
    run = RunDir.for_writing(tmp_path / "a" / "b" / "run", new=True)
    sibling = RunDir.for_writing(tmp_path / "a" / "b" / "other", new=True)
    assert run.abandon()
    assert tree(tmp_path / "a") == ["b", "b/other", "b/other/.rnnlab-lock", "b/other/.rnnlab-run"]
    # the sibling found a/b there when it started: not its to take back
    assert sibling.abandon()
    assert tree(tmp_path) == ["a", "a/b"]


def test_a_run_with_records_keeps_every_folder(tmp_path):
    run = RunDir.for_writing(tmp_path / "a" / "b" / "run", new=True)
    run.append(run.metrics, {"epoch": 1, "train_loss": 0.5})
    assert not run.abandon()
    assert "a/b/run/metrics.jsonl" in tree(tmp_path)


def test_remove_empty_folders_stops_at_the_first_that_holds_anything(tmp_path):
    made = missing_folders(tmp_path / "a" / "b" / "c")
    assert made == (tmp_path / "a" / "b" / "c", tmp_path / "a" / "b", tmp_path / "a")
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f.txt").write_text("x")
    remove_empty_folders(made)
    assert tree(tmp_path) == ["a", "a/b", "a/b/f.txt"]


@pytest.mark.parametrize("storage", ["mysql://x@y/z"])
def test_search_that_fails_to_start_leaves_no_nested_folders(tmp_path, capsys, storage):
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    config = write_config(tmp_path, work / "unused")
    assert main(["search", str(config), "--out", str(work / "s" / "t" / "study"), "--storage", storage]) == 1
    assert "--storage" in capsys.readouterr().err
    assert tree(work) == ["mine"]
