"""Round 275 (data shapes), the search's part.

1. ``rnnlab search`` on 60 classes of one series each stopped with "validation split: the split
   is empty (0 sequences): fold 1 of 1 holds no series": no key, no class sizes, no fix. Now one
   line names search.folds and data.val_fraction, the class sizes and fixes that work.
2. A search on imbalanced classes (40 against 2) announced "best trial 0: val_acc 0.9524" with
   nothing to say that labelling every series with the majority class scores as much; ``rnnlab
   train`` says so. Now the best-trial line and study.html's say it too, by train's rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pytest  # noqa: E402
from optuna.trial import create_trial  # noqa: E402

from rnnlab.config import SearchConfig, parse_config  # noqa: E402
from rnnlab.data import load_data  # noqa: E402
from rnnlab.errors import DataError  # noqa: E402
from rnnlab.search.report import render_study_report  # noqa: E402
from rnnlab.search.study import SearchOptions, run_search  # noqa: E402
from rnnlab.search.table import majority_said  # noqa: E402
from rnnlab.search.trial import plan_for_config  # noqa: E402
from rnnlab.task import task_for  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _npz(path: Path, y: np.ndarray) -> Path:
    X = np.random.default_rng(0).normal(size=(len(y), 16, 1)).astype(np.float32)
    np.savez(path, X=X, y=y)
    return path


def _config(data: Path, extra: str = "") -> str:
    return (f'name = "t"\n[data]\npath = "{data.as_posix()}"\n[model]\nhidden_size = 4\n[training]\nepochs = 1\n'
            f"batch_size = 8\nthreads = 1\n[tracking]\nhealth = false\ngrad_through_time = false\n{extra}")


# --- 1: classes of one series each ---------------------------------------------------------------

def test_a_search_of_classes_of_one_series_each_refuses_naming_the_keys_the_sizes_and_a_fix(tmp_path):
    config = parse_config(_config(_npz(tmp_path / "one.npz", np.arange(6))))
    with pytest.raises(DataError) as caught:
        plan_for_config(config, SearchConfig())
    said = str(caught.value)
    assert "\n" not in said
    assert said.startswith("search.folds = 0 (automatic), data.val_fraction = 0.2: every one of the 6 classes "
                           "has 1 series, and a class's only series stays in the training part of every fold")
    assert "a 20% hold-out of the training split holds no series to score a configuration on" in said
    assert ("give every class at least 2 series (each fold then validates on series of every class), or train on "
            "all 6 series without a search or recipe: data.val_fraction = 0 and rnnlab train") in said

    # the first fix works: two series a class give folds that validate on every class
    two = parse_config(_config(_npz(tmp_path / "two.npz", np.repeat(np.arange(6), 2))))
    plan = plan_for_config(two, SearchConfig())
    assert plan.describe() == "2 stratified folds"
    for fold in plan.folds():
        split = load_data(two.data, seed=0, fold=fold, task=task_for(two))
        assert sorted(np.unique(split.val.y).tolist()) == list(range(6))
    # ... and the second: no hold-out, every series trained on
    alone = parse_config(_config(tmp_path / "one.npz", "").replace("[data]\n", "[data]\nval_fraction = 0.0\n"))
    assert len(load_data(alone.data, seed=0, task=task_for(alone)).train) == 6


# --- 2: the majority class's rate beside val_acc -------------------------------------------------

def _study(tmp_path: Path, counts: dict[str, int]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    rate = max(counts.values()) / sum(counts.values())
    study.add_trial(create_trial(value=rate, user_attrs={"fold_scores": [rate, rate]}))
    for k in (1, 2):
        run = tmp_path / "trials" / "0000" / f"fold-{k}"
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"val_by_class": {
            "count": counts, "balanced_acc": 0.5, "majority": "0", "majority_rate": rate}}))
    (tmp_path / "study.json").write_text(json.dumps({"study": "s", "storage": None, "metric": "val_acc",
                                                     "direction": "maximize"}))
    return study


def test_the_majority_rate_is_said_beside_val_acc_where_classes_are_imbalanced_only(tmp_path):
    imbalanced = _study(tmp_path / "imb", {"0": 20, "1": 1})
    trials = imbalanced.get_trials()
    assert majority_said(tmp_path / "imb", trials, "val_acc") == " (the majority class alone scores 0.9524)"
    assert majority_said(tmp_path / "imb", trials, "val_loss") == ""  # (not what a loss compares with)
    balanced = _study(tmp_path / "bal", {"0": 11, "1": 10})
    assert majority_said(tmp_path / "bal", balanced.get_trials(), "val_acc") == ""

    html = render_study_report(tmp_path / "imb", imbalanced)
    assert ("<b>0.9524</b> ± 0.0000 (the standard deviation of its 2 fold scores) (the majority class alone "
            "scores 0.9524) (search score: the training split)") in html
    assert "majority class alone" not in render_study_report(tmp_path / "bal", balanced)


def test_a_search_on_imbalanced_classes_says_the_majority_rate_on_its_best_trial_line(tmp_path, capsys):
    data = _npz(tmp_path / "imb.npz", np.array([0] * 20 + [1] * 2))
    config = tmp_path / "c.toml"
    config.write_text(_config(data, '[search]\nfolds = 2\nreports = "none"\n'))
    lines: list[str] = []
    run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), trials=1, final=False, reports="none"),
               log=lines.append)
    best = next(line for line in lines if line.startswith("best trial 0:"))
    assert "(the majority class alone scores 0.9091) over 2 stratified folds" in best, best
    # ... and `rnnlab study` on its directory says it on its score line too
    from rnnlab.cli import main

    capsys.readouterr()
    assert main(["study", str(tmp_path / "s")]) == 0
    score = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("score: val_acc"))
    assert score.endswith(" (the majority class alone scores 0.9091)"), score
