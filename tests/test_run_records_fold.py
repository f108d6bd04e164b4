"""A search's or recipe's fold run records its fold (k, index, seed) in its marker, which
``rnnlab compare`` reads: fold 1 of a 2-fold plan and fold 1 of a 3-fold plan are different
data (their directories are both ``fold-1``); a run recorded before runs kept their fold is
still read by its directory's name; a run of the whole split records none. Real tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import config

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data import Fold
from rnnlab.rundir import RUN, RunDir, atomic_write_json, read_marker
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _fold_run(out: Path, k: int, index: int = 0) -> Path:
    train(parse_config(config()), out=out, log=None, progress=False, fold=Fold(k=k, index=index, seed=0))
    return out


def test_a_fold_run_records_its_fold_and_a_whole_split_run_none(tmp_path: Path) -> None:
    run = _fold_run(tmp_path / "a" / "fold-2", k=3, index=1)
    assert RunDir(run).fold() == {"k": 3, "index": 1, "seed": 0, "holdout": 0.2}
    train(parse_config(config()), out=tmp_path / "whole", log=None, progress=False)
    assert RunDir(tmp_path / "whole").fold() is None


def test_compare_tells_folds_of_different_plans_apart(tmp_path: Path, capsys) -> None:
    two = _fold_run(tmp_path / "two" / "fold-1", k=2)
    three = _fold_run(tmp_path / "three" / "fold-1", k=3)
    assert main(["compare", str(two), str(three), "--figures", str(tmp_path / "fig")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("warning: the runs are on different data"), first
    assert f"UnitTest fold 1 of 2: {two}" in first and f"UnitTest fold 1 of 3: {three}" in first, first


def test_a_run_recorded_before_folds_were_kept_is_read_by_its_directory_name(tmp_path: Path, capsys) -> None:
    old = _fold_run(tmp_path / "old" / "fold-3", k=3, index=2)
    marker = read_marker(old, RUN)
    del marker["fold"]
    atomic_write_json(old / RUN.marker, marker)
    assert RunDir(old).fold() is None
    new = _fold_run(tmp_path / "new" / "fold-1", k=3)
    assert main(["compare", str(old), str(new), "--figures", str(tmp_path / "fig")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"UnitTest fold 3: {old}" in first and f"UnitTest fold 1 of 3: {new}" in first, first
