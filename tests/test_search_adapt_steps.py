"""The search's pruning steps when the ``[adapt]`` rules change a run's budget: the shape rule
raising ``training.steps``, the budget that follows the fit extending a run. Every report goes
to a real Optuna trial, which warns on a step reported twice."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest

from rnnlab.config import SearchConfig, parse_config
from rnnlab.data import load_data
from rnnlab.rundir import read_jsonl
from rnnlab.search.trial import FoldPlan, fold_epochs, run_trial, stream_plan
from rnnlab.task import task_for
from rnnlab.train.trainer import check_plan

BASE = """
name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = {hidden}
[training]
steps = {steps}
batch_size = 8
lr = 0.02
threads = 1
[tracking]
enabled = false
[adapt]
{adapt}
"""
# 10 training series a fold, 2 optimizer steps an epoch: 6 steps are 3 epochs; the shape rule
# wants 3200 batch slots per class (800 steps), capped at adapt.max_steps = 20: 10 epochs.
SHAPE = BASE.format(hidden=4, steps=6, adapt="shape = true\nmax_steps = 20")
# 10 epochs planned; the fit budget extends the second fold of each seed to its cap, 20 epochs.
BUDGET = BASE.format(hidden=8, steps=20, adapt="budget = true\nmax_steps = 40")


def reported_trial(cfg, plan: FoldPlan, out: Path, **kw) -> tuple[object, list[int], list[str]]:
    """``run_trial`` reporting to a real Optuna trial: (result, steps reported, warnings said)."""
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    steps: list[int] = []

    def report(step: int, value: float) -> bool:
        steps.append(step)
        trial.report(value, step)
        return trial.should_prune()

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = run_trial(cfg, plan, out, report=report, **kw)
    return result, steps, [str(w.message) for w in said]


def runs(out: Path, seeds: list[int] | None = None) -> list[Path]:
    if seeds is None:
        return [out / "fold-1", out / "fold-2"]
    return [out / f"seed-{s}" / f"fold-{f}" for s in seeds for f in (1, 2)]


def check_steps(steps: list[int], said: list[str], run_dirs: list[Path], stride: int) -> None:
    """Each run's epochs reported once, run r's epoch e at r * stride + e, inside its stride."""
    assert len(steps) == len(set(steps)), sorted(steps)
    assert not [w for w in said if "already reported" in w]
    expected = [r * stride + int(rec["epoch"]) for r, run in enumerate(run_dirs)
                for rec in read_jsonl(run / "metrics.jsonl")]
    assert steps == expected
    for run in run_dirs:
        assert len(read_jsonl(run / "metrics.jsonl")) <= stride  # no run overruns its stride


def test_shape_rule_steps_follow_the_epochs_each_fold_trains(tmp_path):
    cfg, plan = parse_config(SHAPE), FoldPlan(k=2, seed=0)
    result, steps, said = reported_trial(cfg, plan, tmp_path / "t")
    assert result.epochs == [[10, 10]] and result.pruned_at is None
    check_steps(steps, said, runs(tmp_path / "t"), stride=10)
    assert steps == list(range(1, 21))
    assert fold_epochs(cfg, plan) == [10, 10]  # as the shape rule raised the steps, not 3


def test_budget_extension_stays_inside_its_fold(tmp_path):
    cfg, plan = parse_config(BUDGET), FoldPlan(k=2, seed=0)
    result, steps, said = reported_trial(cfg, plan, tmp_path / "t", seeds=[0, 1])
    assert max(e for per_seed in result.epochs for e in per_seed) > 10  # a fold was extended past its plan
    check_steps(steps, said, runs(tmp_path / "t", [0, 1]), stride=20)
    assert fold_epochs(cfg, plan) == [20, 20]  # the budget's cap: 40 steps of 2


@pytest.mark.parametrize("text", [SHAPE, BUDGET], ids=["shape", "budget"])
def test_a_finished_trial_run_again_trains_nothing(tmp_path, text):
    cfg, plan = parse_config(text), FoldPlan(k=2, seed=0)
    pruned = run_trial(cfg, plan, tmp_path / "t", report=lambda step, value: step == 3)
    assert pruned.pruned_at == {"seed": 0, "fold": 1, "epoch": 3, "step": 3}
    first = run_trial(cfg, plan, tmp_path / "t")  # the pruned fold is unfinished: resumed to its end
    assert first.epochs[0][0] == 10 and len(read_jsonl(tmp_path / "t" / "fold-1" / "resumes.jsonl")) == 1
    written = {run: (run / "summary.json").stat().st_mtime_ns for run in runs(tmp_path / "t")}
    again, steps, _ = reported_trial(cfg, plan, tmp_path / "t")
    assert again.scores == first.scores and again.epochs == first.epochs
    assert steps == []  # no epoch trained or reported again
    assert len(read_jsonl(tmp_path / "t" / "fold-1" / "resumes.jsonl")) == 1  # not resumed again
    assert not (tmp_path / "t" / "fold-2" / "resumes.jsonl").exists()
    for run, mtime in written.items():
        assert (run / "summary.json").stat().st_mtime_ns == mtime


def test_stream_fold_epochs_are_the_epochs_its_runs_plan(tmp_path):
    # A stream's epoch is one batch of every row in windows of data.bptt (the trainer's batching),
    # not training.batch_size sequences.
    cfg = parse_config('[task]\nkind = "forecasting"\n[data]\ndataset = "Airline"\nbptt = 12\n'
                       '[training]\nsteps = 100')
    plan = stream_plan(cfg, SearchConfig())
    planned = [check_plan(cfg, load_data(cfg.data, seed=0, fold=f, task=task_for(cfg)))[1] for f in plan.folds()]
    assert fold_epochs(cfg, plan) == planned


def test_the_pruner_warms_up_on_the_epochs_fold_1_plans_not_on_the_budgets_cap(tmp_path):
    from rnnlab.search.study import SearchOptions, make_pruner, prepare

    path = tmp_path / "c.toml"
    path.write_text(BUDGET + '[search]\nfolds = 2\npruner = "median"\nreports = "none"\n')
    setup = prepare(SearchOptions(config=str(path), out=str(tmp_path / "s"), trials=1))
    assert setup.epochs == 20  # the steps a run may reach (the cap: 40 steps of 2)
    assert setup.warmup == 2  # a quarter of the 10 epochs fold 1 plans, not of the cap's 20
    pruner = make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup)
    assert isinstance(pruner, optuna.pruners.MedianPruner) and pruner._n_warmup_steps == 2
