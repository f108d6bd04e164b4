"""``rnnlab predict RUN --data FILE`` for a classification or regression run (per step too)
predicts from what the run recorded in its checkpoints when it trained (its input scaling, its
classes, its targets' standardization, its model's shape), as a trained scikit-learn or Keras
model does: not from ``data.path``, which may have been moved, deleted or changed since. A run
trained before that record was kept fits it again from ``data.path``, as before, and says in one
line that it needs the file when it is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_predict_cli import config, fitted, predicted, separable
from test_task_per_step import tags, values

from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.run_fit import RUN_FIT_KEY

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def targets(n: int, seed: int) -> dict[str, np.ndarray]:
    """Two channels far from 0 and 1, ragged; two targets in other units, from the channels' means."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8, 2)) * [2.0, 0.5] + [30.0, -4.0]
    lengths = rng.integers(4, 9, n)
    mean = np.stack([X[i, :m].mean(axis=0) for i, m in enumerate(lengths)])
    return {"X": X, "y": np.stack([mean @ [3.0, 1.0] + 100, mean[:, 1] * 0.2], axis=1), "lengths": lengths}


# kind: (task lines, data lines, the training set, new series, the training set with its values changed)
KINDS = {
    "classification": ("", "", lambda: separable(40, 0), lambda: separable(12, 5),
                       lambda d: {**d, "X": d["X"] * 3.0 + 2.0}),
    "classification, per series with its level and scale": (
        "", 'normalize = "per_series"\nseries_scale = "informative"', lambda: separable(40, 0),
        lambda: separable(12, 5), lambda d: {**d, "X": d["X"] * np.linspace(1, 4, 40)[:, None, None] + 2.0}),
    "regression": ('kind = "regression"', "", lambda: targets(40, 0), lambda: targets(12, 5),
                   lambda d: {**d, "X": d["X"] * 3.0 + 2.0, "y": d["y"] * 2.0 + 7.0}),
    "per-step classification": ("per_step = true", "", lambda: tags(), lambda: tags(n=8, seed=5),
                                lambda d: {**d, "X": d["X"] * 3.0 + 2.0}),
    "per-step regression": ('kind = "regression"\nper_step = true', "", lambda: values(), lambda: values(n=8, seed=5),
                            lambda d: {**d, "X": d["X"] * 3.0 + 2.0, "y": d["y"] * 2.0 + 7.0}),
}


def run_of(tmp: Path, kind: str) -> tuple[Path, Path, Path]:
    """A tiny run of ``kind`` trained on ``tmp/data/train.npz`` (a test file beside it); returns
    the run, its training file and a file of new series (outside ``tmp/data``)."""
    task, data, train_set, new_set, _ = KINDS[kind]
    (tmp / "data").mkdir()
    np.savez(tmp / "data" / "train.npz", **train_set())
    np.savez(tmp / "data" / "test.npz", **new_set())
    np.savez(tmp / "new.npz", **{k: v for k, v in new_set().items() if k != "y"})
    cfg = config(tmp, f'path = "{tmp / "data" / "train.npz"}"\ntest_path = "{tmp / "data" / "test.npz"}"\n{data}',
                 task=task, epochs=2)
    # (fitted: the run `rnnlab train` writes, less the report it draws at the end, which predict never reads)
    return fitted(tmp, cfg), tmp / "data" / "train.npz", tmp / "new.npz"


def as_before_the_record(run: Path, to: Path) -> Path:
    """A copy of ``run`` whose checkpoints lack the record, as a run trained before it was kept."""
    shutil.copytree(run, to)
    for path in (to / "checkpoints").glob("*.pt"):
        state = load_checkpoint(path)
        assert RUN_FIT_KEY in state  # (the run kept it)
        del state[RUN_FIT_KEY]
        save_checkpoint(path, state)
    return to


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_after_the_training_files_are_deleted_equal_those_before(tmp_path, kind):
    run, train_file, new = run_of(tmp_path, kind)
    before = predicted(run, new, tmp_path / "before.csv")
    assert len(before) > 0
    # The record predicts to the last digit what fitting again on the unchanged data.path predicts.
    old = as_before_the_record(run, tmp_path / "old_run")
    assert predicted(old, new, tmp_path / "refit.csv") == before
    shutil.move(tmp_path / "data", tmp_path / "moved")  # the training and test files are gone
    assert not train_file.exists()
    assert predicted(run, new, tmp_path / "after.csv") == before


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_do_not_follow_changes_to_the_training_file(tmp_path, kind):
    run, train_file, new = run_of(tmp_path, kind)
    before = predicted(run, new, tmp_path / "before.csv")
    old = as_before_the_record(run, tmp_path / "old_run")
    changed = KINDS[kind][4]
    np.savez(train_file, **changed(dict(np.load(train_file))))
    # (the change matters: fitted again on the changed file, the scaling predicts otherwise)
    assert predicted(old, new, tmp_path / "refit.csv") != before
    assert predicted(run, new, tmp_path / "after.csv") == before


@pytest.mark.parametrize("kind", ["classification", "per-step regression"])
def test_a_run_from_before_the_record_without_its_training_file_says_it_needs_it(tmp_path, capsys, kind):
    run, train_file, new = run_of(tmp_path, kind)
    old = as_before_the_record(run, tmp_path / "old_run")
    train_file.unlink()
    line = one_line_error(["predict", str(old), "--data", str(new), "--out", str(tmp_path / "p.csv")], capsys,
                          [str(old), "a run trained before checkpoints kept it", f"data.path ({train_file})",
                           "does not exist"], kept=old)
    assert "restore it" in line
    # Its test file is not needed: with the training file back, it predicts as the run with the record.
    (tmp_path / "data" / "test.npz").unlink()
    np.savez(train_file, **KINDS[kind][2]())
    assert predicted(old, new, tmp_path / "old.csv") == predicted(run, new, tmp_path / "new.csv")
