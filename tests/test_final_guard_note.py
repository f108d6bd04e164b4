"""A search whose fold runs' mean guard chose the training mean (targets the model cannot learn)
says so before its final run, which carries their decision (it has no validation part for a guard
of its own: docs/search.md, "The mean guard in the final run"). Real tiny runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.rundir import RunDir, atomic_write_json
from rnnlab.search.trial import carried_guard, guard_note

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _noise(tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    paths = []
    for name, n in (("train", 60), ("test", 20)):
        X = rng.normal(size=(n, 12, 1)).astype(np.float32)
        y = rng.normal(size=n).astype(np.float32)  # (nothing in X tells y)
        np.savez(tmp / f"{name}.npz", X=X, y=y)
        paths.append(tmp / f"{name}.npz")
    return paths[0], paths[1]


def test_a_search_says_its_folds_guards_chose_the_mean(tmp_path: Path, capsys) -> None:
    train, test = _noise(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(f"""name = "noise"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{train}"
test_path = "{test}"
val_fraction = 0.3
[model]
hidden_size = 4
[training]
epochs = 6
batch_size = 8
lr = 0.05
threads = 1
[training.early_stopping]
monitor = "val_rmse"
patience = 2
[tracking]
enabled = false
[search]
trials = 1
folds = 2
reports = "none"
""")
    out = tmp_path / "s"
    assert main(["search", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    guards = [(RunDir(p.parent).read_summary() or {}).get("mean_guard") for p in (out / "trials").glob("*/fold-*/summary.json")]
    chose = sum(1 for g in guards if g and g["kept"] is False)
    assert chose > 0, guards  # (the premise: targets of noise)
    expected = carried_guard(out / "trials" / "0000").line()
    assert expected.startswith("mean guard: the final run predicts ")
    assert f"{chose} of its {len(guards)} fold runs" in expected
    assert expected in printed.splitlines(), printed
    assert guard_note(out / "trials" / "0000") == expected


def test_seeds_of_one_hold_out_are_said_as_hold_out_runs_not_fold_runs(tmp_path):
    # (the recipe's layout: a seed's runs under seed-N/, one fold-1 each where the plan is one hold-out)
    for seed, kept in ((0, False), (1, False)):
        (tmp_path / f"seed-{seed}" / "fold-1").mkdir(parents=True)
        atomic_write_json(tmp_path / f"seed-{seed}" / "fold-1" / "summary.json", {"mean_guard": {"kept": kept}})
    guard = carried_guard(tmp_path)
    assert guard.carried == "2 of 2 hold-out runs" and "fold" not in guard.line()
    assert "as 2 of its 2 hold-out runs' guards chose" in guard.line()
    (tmp_path / "seed-0" / "fold-2").mkdir()
    atomic_write_json(tmp_path / "seed-0" / "fold-2" / "summary.json", {"mean_guard": {"kept": False}})
    assert carried_guard(tmp_path).carried == "3 of 3 fold runs"
