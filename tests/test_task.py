"""The task as a concept (issue 21, step 0): ``[task]`` in the config, one :class:`rnnlab.task.Task`
deciding the metrics and their direction, and everything that ranks (best epoch, search
pruning, the recipe's keep/scrap) asking it; classification configs and run directories from
before the section read unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config
from rnnlab.errors import ConfigError
from rnnlab.recipe.decide import verdict
from rnnlab.rundir import read_jsonl
from rnnlab.search.study import SearchOptions, make_pruner, prepare
from rnnlab.task import CLASSIFICATION, task_for
from rnnlab.train import train
from rnnlab.train.best import best_record

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = """name = "tiny"
{task}
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 4
batch_size = 8
lr = 0.02
{training}
[tracking]
health = false
grads_every = 0
weights_every = 0
grad_through_time = false
{search}
"""


def _cfg(task: str = "", training: str = "", search: str = "") -> str:
    return TINY.format(task=task, training=training, search=search)


def test_an_absent_task_section_is_classification_with_its_metrics():
    config = parse_config(_cfg())
    task = task_for(config)
    assert (config.task.kind, config.task.per_step) == ("classification", False)
    assert task is CLASSIFICATION and task.score == "val_acc" and task.head_width(["a", "b", "c"], np.array([0, 2, 1])) == 3
    assert task.metric_names("val") == ["val_loss", "val_acc"]
    assert task.higher_is_better("val_acc") and task.higher_is_better("train_acc")
    assert not task.higher_is_better("val_loss")
    with pytest.raises(KeyError, match="val_rmse"):
        task.metric("val_rmse")
    # The search's default metric is the task's score, written out in the resolved config.
    searched = parse_config(_cfg(search="[search]\nfolds = 2"))
    assert searched.search is not None and searched.search.metric == "val_acc"
    assert 'metric = "val_acc"' in dump_config(searched)


@pytest.mark.parametrize("key, section, value, hint", [
    ("training.early_stopping.monitor", "training", "[training.early_stopping]\nmonitor = \"val_accuracy\"", "val_acc"),
    ("search.metric", "search", "[search]\nmetric = \"val_los\"", "val_loss"),
    ("search.metric", "search", "[search]\nmetric = \"train_acc\"", "val_acc"),
])
def test_monitor_and_search_metric_are_the_tasks_validation_metrics(key, section, value, hint):
    with pytest.raises(ConfigError) as e:
        parse_config(_cfg(**{section: value}))
    message = str(e.value)
    assert f"'{key}'" in message and "['val_loss', 'val_acc']" in message and f"did you mean {hint!r}" in message
    assert "\n" not in message


def test_task_kind_and_per_step_are_validated_with_did_you_mean():
    with pytest.raises(ConfigError, match=r"'task.kind'.*did you mean 'regression'"):
        parse_config(_cfg(task='[task]\nkind = "regresion"'))
    with pytest.raises(ConfigError, match=r"unknown key 'task.perstep'; did you mean 'task.per_step'"):
        parse_config(_cfg(task="[task]\nperstep = true"))


def test_per_step_targets_from_a_set_with_a_label_per_sequence_are_refused(tmp_path, capsys):
    """Per-step targets exist now (tests/test_task_per_step.py); a set of one label per sequence
    cannot feed them."""
    from test_bad_inputs import one_line_error

    (tmp_path / "c.toml").write_text(_cfg(task="[task]\nper_step = true"))
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                   ("data.dataset 'UnitTest'", "holds class labels", "per_step = false"))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_best_epoch_follows_the_monitored_metrics_direction(tmp_path):
    """The same records, two monitors: val_acc picks its highest epoch, val_loss its lowest."""
    records = [{"epoch": 1, "val_loss": 0.9, "val_acc": 0.5}, {"epoch": 2, "val_loss": 0.4, "val_acc": 0.6},
               {"epoch": 3, "val_loss": 0.6, "val_acc": 0.9}, {"epoch": 4, "val_loss": 0.5, "val_acc": 0.9}]
    assert best_record(records, "val_acc", CLASSIFICATION)["epoch"] == 3  # a tie keeps the earlier
    assert best_record(records, "val_loss", CLASSIFICATION)["epoch"] == 2
    # In a run: summary.json's best epoch and early stopping use the monitor's direction.
    for monitor in ("val_acc", "val_loss"):
        config = parse_config(_cfg(training=f"[training.early_stopping]\nmonitor = \"{monitor}\"\npatience = 100"))
        out = tmp_path / monitor
        train(config, out=out, progress=False, log=None)  # (`rnnlab train`'s run, less its report)
        recs = read_jsonl(out / "metrics.jsonl")
        pick = max if monitor == "val_acc" else min
        best = pick(recs, key=lambda r: (r[monitor], -r["epoch"]) if monitor == "val_acc" else (r[monitor], r["epoch"]))
        assert json.loads((out / "summary.json").read_text())["best_epoch"] == best["epoch"]


@pytest.mark.parametrize("metric, direction", [("val_acc", "maximize"), ("val_loss", "minimize")])
def test_search_direction_and_pruning_follow_the_metric(tmp_path, metric, direction):
    (tmp_path / "c.toml").write_text(_cfg(search=f"[search]\nfolds = 2\nmetric = \"{metric}\"\nstartup_trials = 1"))
    setup = prepare(SearchOptions(config=str(tmp_path / "c.toml"), out=str(tmp_path / "s")))
    assert setup.direction == direction
    study = optuna.create_study(direction=setup.direction, pruner=make_pruner(setup.search, setup.plan, 4, 1))
    good, bad = (0.9, 0.1) if metric == "val_acc" else (0.1, 0.9)
    first = study.ask()
    for step in range(4):
        first.report(good, step)
    study.tell(first, good)
    worse = study.ask()
    worse.report(bad, 3)
    assert worse.should_prune()  # worse than the median in the metric's direction
    better = study.ask()
    better.report(good + (0.05 if metric == "val_acc" else -0.05), 3)
    assert not better.should_prune()


def test_recipe_keep_or_scrap_follows_the_metric_direction():
    """The recipe's rule is handed the task's direction: lower losses are kept, lower accuracies scrapped."""
    lower, current = [0.30, 0.31, 0.32], [0.50, 0.51, 0.52]
    assert verdict(lower, current, higher_is_better=CLASSIFICATION.higher_is_better("val_loss")).kept
    assert not verdict(lower, current, higher_is_better=CLASSIFICATION.higher_is_better("val_acc")).kept


def test_a_run_directory_from_before_the_task_section_reads_unchanged(tmp_path, capsys):
    run = tmp_path / "run"
    train(parse_config(_cfg()), out=run, progress=False, log=None)  # (`rnnlab train`'s, less its report: drawn below)
    records = read_jsonl(run / "metrics.jsonl")
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(records[0])
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["train_eval"]) == {"loss", "acc"} and set(summary["test"]) == {"loss", "acc"}
    # The config.toml of an older run has no [task]: it reads as classification.
    text = (run / "config.toml").read_text()
    old = text.replace('\n[task]\nkind = "classification"\nper_step = false\n', "")
    assert "[task]" not in old
    (run / "config.toml").write_text(old)
    capsys.readouterr()
    assert main(["compare", str(run), "--figures", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "train_acc  val_acc  val_acc@best_epoch  val_acc@kept  best_epoch  test_acc" in out
    assert main(["report", str(run)]) == 0
    assert Path(run / "report.html").exists()
