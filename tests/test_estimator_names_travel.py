"""An estimator's run keeps its DataFrame y's target names in what the run itself keeps (its
config.toml's ``data.target_column``), not only in its data file: a run directory moved elsewhere,
its data file gone, still names its predictions, summary.json's figures by target and its report
``conc``/``temp``, not ``target0``/``target1`` (helper-212)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("aeon")

from rnnlab.estimators import FAST, RNNRegressor  # noqa: E402
from rnnlab.rundir import RunDir  # noqa: E402
from rnnlab.train.predict import prediction_rows  # noqa: E402

NAMES = ["conc", "temp"]


def _by_target_keys(summary: dict) -> set[frozenset[str]]:
    """The sets of names summary.json's figures by target are keyed by (each metric, each split)."""
    blocks = [summary["scale_by_channel"]["std"], *summary["train_eval_by_channel"].values()]
    for split in ("val_by_channel", "test_by_channel"):
        blocks += list(summary.get(split, {}).values())
    return {frozenset(b) for b in blocks}


def test_a_moved_run_without_its_data_file_names_its_targets_as_the_dataframe(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1, 8))
    y = pd.DataFrame({"conc": 3.0 * X[:, 0].mean(axis=1) + 0.1 * rng.normal(size=24), "temp": X[:, 0, -1] + 5.0})
    fitted_at = tmp_path / "lab" / "run"
    reg = RNNRegressor(hidden_size=4, steps=4, batch_size=8, params=FAST, random_state=0, run_dir=fitted_at).fit(X, y)
    assert reg.target_names_ == NAMES

    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    shutil.move(str(tmp_path / "lab"), str(moved.parent / "lab"))
    moved = moved.parent / "lab" / "run"
    (moved / "train_data.npz").unlink()  # (nothing left at the path the fit wrote, nor beside the run)
    assert not fitted_at.exists()

    new = tmp_path / "new.npz"
    np.savez(new, X=X[:3].transpose(0, 2, 1))
    header, rows = prediction_rows(moved, new)
    assert header == ["series", *NAMES]
    # the columns are the estimator's own predictions, in the DataFrame's order
    assert np.allclose(np.array([r[1:] for r in rows]), reg.predict(X[:3]))

    summary = RunDir(moved).read_summary()
    assert _by_target_keys(summary) == {frozenset(NAMES)}
    # (the report shows what summary.json says; its text names the targets so)
    assert "target0" not in json.dumps(summary) and "target1" not in json.dumps(summary)


def test_an_array_ys_run_still_names_its_targets_by_position(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(24, 1, 8))
    y = np.stack([X[:, 0].mean(axis=1), X[:, 0, -1]], axis=1)
    reg = RNNRegressor(hidden_size=4, steps=4, batch_size=8, params=FAST, random_state=0, run_dir=tmp_path / "run")
    reg.fit(X, y)
    assert reg.target_names_ is None
    new = tmp_path / "new.npz"
    np.savez(new, X=X[:2].transpose(0, 2, 1))
    assert prediction_rows(tmp_path / "run", new)[0] == ["series", "target0", "target1"]
    assert _by_target_keys(RunDir(tmp_path / "run").read_summary()) == {frozenset({"target0", "target1"})}
