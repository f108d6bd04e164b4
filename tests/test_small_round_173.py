"""Round 173: five small defects a tester found.

1. ``rnnlab compare`` split seed groups on ``[search]`` keys, which ``rnnlab train`` ignores.
2. ``training.early_stopping.min_delta`` accepted a gain no epoch of an R² or accuracy monitor can
   make, and the underfit finding then blamed the data for the epoch early stopping kept.
3. ``rnnlab study DIR`` named neither the metric, its direction nor the best trial.
4. Another task's metric (``val_acc`` on regression) got a "did you mean" to an unrelated metric.
5. recipe.html's gradient-through-time axes read as the data's steps, with ticks at 2.5, 7.5, ...
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from test_fit import records

from rnnlab.cli import main
from rnnlab.compare import _config_cells, group_runs
from rnnlab.config import parse_config
from rnnlab.doctor import fit_findings
from rnnlab.errors import ConfigError
from rnnlab.task import PER_STEP_CLASSIFICATION, REGRESSION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

REG = '[task]\nkind = "regression"\n[data]\npath = "reg.npz"\n'


# --- 1. compare: [search] is no training difference -------------------------------------------


def _row(run: str, config_text: str) -> dict:
    return {"run": run, "config": _config_cells(parse_config(config_text)), "data": "GunPoint",
            "headline": "acc", "higher_is_better": True, "val_acc@kept": 0.8, "test_acc": 0.8}


def test_seeds_that_differ_only_in_search_settings_are_one_group():
    base = '[data]\ndataset = "GunPoint"\n[training]\nseed = {seed}\n'
    rows = [_row("runs/a", base.format(seed=0) + "[search]\ntrials = 4\n"),
            _row("runs/b", base.format(seed=1) + "[search]\ntrials = 4\n"),
            _row("runs/c", base.format(seed=2) + "[search]\ntrials = 8\n"),
            _row("runs/d", base.format(seed=3))]  # (before [search] was added)
    groups = group_runs(rows)
    assert [[r["run"] for r in g] for g in groups] == [["runs/a", "runs/b", "runs/c", "runs/d"]]
    assert not [k for k in rows[0]["config"] if k.split(".")[0] == "search"]
    assert "search" not in rows[3]["config"]
    # a training key still splits the groups: the rule left out [search] only
    other = _row("runs/e", base.format(seed=0) + "[model]\nzoneout = 0.1\n")
    assert len(group_runs(rows + [other])) == 2


# --- 2. early stopping's min_delta --------------------------------------------------------------


@pytest.mark.parametrize("monitor, task", [("val_r2", REG), ("val_acc", '[data]\ndataset = "GunPoint"\n')])
def test_a_min_delta_no_epoch_can_pass_is_refused_in_one_line(monitor, task):
    text = task + f'[training.early_stopping]\npatience = 5\nmonitor = "{monitor}"\nmin_delta = '
    with pytest.raises(ConfigError) as err:
        parse_config(text + "2.0")
    said = str(err.value)
    assert "'training.early_stopping.min_delta'" in said and "less than 1" in said and "got 2" in said
    assert monitor in said and "\n" not in said
    with pytest.raises(ConfigError):
        parse_config(text + "1.0")  # (a gain of exactly 1 cannot be passed either: improvement is by more)
    assert parse_config(text + "0.05").training.early_stopping.min_delta == 0.05
    # a metric in the data's units (or the loss) keeps the general bound: 25 of RMSE is a real gain
    units = REG + '[training.early_stopping]\nmonitor = "val_rmse"\nmin_delta = 25.0\n'
    assert parse_config(units).training.early_stopping.min_delta == 25.0
    assert parse_config(units.replace("val_rmse", "val_loss")).training.early_stopping.min_delta == 25.0


def test_the_restored_epoch_finding_names_min_delta_and_the_gain_it_did_not_count():
    cfg = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 1000\n[training.early_stopping]\n'
                       'patience = 20\nmonitor = "val_acc"\nmin_delta = 0.1\n')
    falling = [0.97 ** i for i in range(40)]
    # epoch 3 is kept; later epochs rise to 0.66, a gain under min_delta
    recs = [dict(r, val_loss=0.3, val_acc=0.6 if r["epoch"] == 3 else 0.55 if r["epoch"] < 3 else 0.62 + 0.001 * r["epoch"])
            for r in records(falling, accs=[0.3] * 40)]
    (f,) = fit_findings(recs, {"acc": 0.28, "loss": 6.7}, cfg, epoch=3)
    assert "Early stopping restored epoch 3 of 40" in f.message
    assert "by more than training.early_stopping.min_delta = 0.1" in f.message
    assert "val_acc reached 0.66 at epoch 40, against 0.6 at epoch 3" in f.message
    assert f.remedy.startswith("(1) lower training.early_stopping.min_delta")
    # without min_delta the sentence is as it was: nothing about a threshold
    plain = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 1000\n[training.early_stopping]\n'
                         'patience = 20\nmonitor = "val_acc"\n')
    (g,) = fit_findings(recs, {"acc": 0.28, "loss": 6.7}, plain, epoch=3)
    assert "min_delta" not in g.message + g.remedy


# --- 3. rnnlab study names the metric, its direction and the best trial -------------------------


def _study_dir(tmp_path: Path, metric: str, direction: str, values: list[float]) -> Path:
    from rnnlab.search.storage import open_storage

    d = tmp_path / "s"
    d.mkdir()
    study = optuna.create_study(study_name="tiny", storage=open_storage(None, d), direction=direction)
    dist = {"model.zoneout": optuna.distributions.FloatDistribution(0.0, 0.5)}
    for i, v in enumerate(values):
        study.add_trial(optuna.create_trial(value=v, params={"model.zoneout": 0.1 * i}, distributions=dist,
                                            user_attrs={"fold_scores": [v - 0.01, v + 0.01], "epochs": [5, 5]}))
    (d / "study.json").write_text(json.dumps({"study": "tiny", "storage": None, "metric": metric,
                                              "direction": direction}))
    return d


@pytest.mark.parametrize("metric, direction, best", [("val_r2", "maximize", 1), ("val_rmse", "minimize", 2)])
def test_study_names_the_metric_its_direction_and_the_best_trial(tmp_path, capsys, metric, direction, best):
    d = _study_dir(tmp_path, metric, direction, [0.30, 0.55, 0.20])
    assert main(["study", str(d)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {ln.split()[0]: ln.split() for ln in lines[1:4]}
    assert [n for n, r in rows.items() if r[2].endswith("*")] == [str(best)]  # the best trial's score, marked
    word = "higher" if direction == "maximize" else "lower"
    said = next(ln for ln in lines if ln.startswith("score:"))
    assert f"{metric} ({word} is better)" in said
    assert f"best trial {best} (marked *): {[0.30, 0.55, 0.20][best]:.4f} ± 0.0141" in said
    assert "3 trials, 3 complete" in lines[-1]


# --- 4. another task's metric is named as such ---------------------------------------------------


def test_another_tasks_metric_is_named_as_such_and_a_typo_keeps_did_you_mean():
    said = REGRESSION.check_validation_metric("search.metric", "val_acc")
    assert said.startswith("'search.metric': got 'val_acc', a classification metric; this task (regression) has")
    assert "val_rmse" in said and "did you mean" not in said
    said = PER_STEP_CLASSIFICATION.check_validation_metric("training.early_stopping.monitor", "val_r2")
    assert "got 'val_r2', a regression metric; this task (per-step-classification) has ['val_loss', 'val_acc']" in said
    assert "did you mean" not in said
    assert "did you mean 'val_r2'?" in REGRESSION.check_validation_metric("search.metric", "val_r22")
    with pytest.raises(ConfigError, match="got 'val_acc', a classification metric"):
        parse_config(REG + '[training.early_stopping]\nmonitor = "val_acc"\n')


# --- 5. the recipe's gradient-through-time axes ----------------------------------------------------


def test_the_recipe_gradient_figure_counts_whole_recurrent_steps_and_says_the_pooling():
    from rnnlab.recipe.report import compare_grad_through_time

    t = np.arange(20.0)[:, None] * np.ones((20, 3))
    how = "input pooled ×4: 80 → 20"
    fig = compare_grad_through_time({"start": 0.9 ** t, "candidate": 0.5 * 0.9 ** t},
                                    shortened={"start": how, "candidate": how})
    fig.canvas.draw()
    means = next(ax for ax in fig.axes if ax.lines)  # (the per-step means below the heatmaps)
    for ax in (fig.axes[0], fig.axes[1], means):
        assert ax.get_xlabel() == f"recurrent step ({how})"
        ticks = [x for x in ax.get_xticks() if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
        assert ticks and all(float(x).is_integer() for x in ticks), ticks
    # runs whose front-ends differ: each panel says its own, the shared axis says so
    fig = compare_grad_through_time({"start": 0.9 ** t, "candidate": 0.9 ** t}, shortened={"start": how})
    means = next(ax for ax in fig.axes if ax.lines)
    assert fig.axes[1].get_xlabel() == "timestep t" and "each run's" in means.get_xlabel()
