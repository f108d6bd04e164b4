"""Round 308 (tester helper-308, fixer helper-309): the budget that follows the fit extends no run
at chance (a training loss above the constant predictor's), `rnnlab compare` says where a budget
moved a run's end, a search stopped before its first study.html says there is none, and a gain
whose per-fold differences are all equal is not said to be "above one standard error"."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from rnnlab.compare import budget_end, compare_table, unfinished_status
from rnnlab.config import TEMPLATE, parse_config
from rnnlab.recipe.decide import equal_differences, verdict
from rnnlab.rundir import RunDir
from rnnlab.search.report import gain_sentence
from rnnlab.search.study import page_when_stopped
from rnnlab.train.fit_budget import FitBudget, chance_check, constant_loss, underfit_check

TEMPLATE_CFG = parse_config(TEMPLATE)
#: Two balanced classes, as GunPoint's 40 training series: the constant predictor's loss is ln 2.
LABELS = np.array([0, 1] * 20)


def _records(first: float, last: float, epochs: int = 134, start: float | None = None) -> list[dict]:
    """A run of ``epochs`` epochs of 3 steps whose training loss falls geometrically from
    ``first`` to ``last`` (over the last quarter by about a third or more: still falling), after a
    first epoch at ``start`` where given, training accuracy 0.475 throughout (underfit)."""
    losses = ([start] if start is not None else []) + list(np.geomspace(first, last, epochs - (start is not None)))
    return [{"epoch": e, "step": 3 * e, "train_loss": float(loss), "train_acc": 0.475}
            for e, loss in zip(range(1, epochs + 1), losses, strict=True)]


def _decide(records: list[dict], eval_loss: float, constant: float | None, judged: bool = True) -> FitBudget:
    """The budget of 402 planned steps after each record, with the real underfit check, and the
    chance check where ``judged``."""
    budget = FitBudget.plan(total=402, steps_per_epoch=3, cap=16000)
    train_eval = {"acc": 0.475, "loss": eval_loss}
    for i, record in enumerate(records):
        seen = records[:i + 1]
        budget.after_epoch(record, lambda seen=seen: underfit_check(seen, train_eval, TEMPLATE_CFG, budget.rule),
                           at_chance=(lambda seen=seen: chance_check(seen, train_eval, constant)) if judged else None)
    return budget


def test_the_constant_predictors_loss_is_the_entropy_of_the_class_frequencies():
    assert constant_loss(LABELS) == pytest.approx(math.log(2))
    assert constant_loss(np.array([0] * 19 + [1])) == pytest.approx(-(0.95 * math.log(0.95) + 0.05 * math.log(0.05)))
    assert constant_loss(np.array([3, 3, 3])) == 0.0 and constant_loss(None) is None
    assert constant_loss(np.array([], dtype=int)) is None


def test_a_run_at_chance_whose_loss_falls_from_a_blow_up_is_not_extended():
    # GunPoint at training.lr = 5: the loss fell from far above ln 2 toward it, accuracy 0.475;
    # the budget doubled it four times (402 -> 6432 steps) on "still falling" alone
    records = _records(50.0, 1.0, start=1.7)
    still, why = underfit_check(records, {"acc": 0.475, "loss": 0.70}, TEMPLATE_CFG, FitBudget.plan(402, 3, 16000).rule)
    assert still, why  # (the underfit check alone still says "extend")
    assert _decide(records, 0.70, constant_loss(LABELS), judged=False).total == 804
    budget = _decide(records, 0.70, constant_loss(LABELS))
    assert budget.total == 402 and budget.segment is None
    assert [e["decision"] for e in budget.events] == ["not_extended"]
    why = budget.events[0]["why"]
    assert why.startswith("training accuracy 0.475 and the training loss still falling")
    assert "above the constant predictor's 0.6931 (the entropy of the training class frequencies)" in why
    assert "0.7 in eval mode; the run is at chance" in why
    assert "its loss rose to 50 from 1.7 in the first epoch" in why and "lower training.lr" in why
    assert budget.to_dict()["events"][0]["total"] == 402  # (adapt.json's record of it)
    # a loss above chance from the start, that never blew up: at chance too, but nothing says the rate is too large
    slow = _decide(_records(3.0, 1.0), 0.9, constant_loss(LABELS))
    assert [e["decision"] for e in slow.events] == ["not_extended"] and slow.total == 402
    assert "lower training.lr" not in slow.events[0]["why"]
    assert slow.events[0]["why"].endswith("check training.lr (the health check's learning-rate finding, where it has "
                                          "one, says whether it is too large) and that each label belongs to its series")


@pytest.mark.parametrize(("first", "last", "eval_loss"), [
    (1.0, 0.2, 0.3),    # a run that learns: its loss far below ln 2 in both measures
    (50.0, 1.0, 0.5),   # above it on average over the last quarter, below it in eval mode: it learnt something
    (3.0, 0.45, 0.9),   # below it on average over the last quarter (training mode), above in eval mode
])
def test_a_run_below_chance_in_either_measure_is_decided_as_before(first, last, eval_loss):
    records = _records(first, last)
    before = _decide(records, eval_loss, None)  # (not judged: the decisions of the rule without it)
    after = _decide(records, eval_loss, constant_loss(LABELS))
    assert [e["decision"] for e in after.events] == [e["decision"] for e in before.events] == ["extend"]
    assert after.total == before.total == 804 and after.events == before.events


def test_compare_says_where_the_budget_moved_a_runs_end(tmp_path):
    config = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 400\n[adapt]\nbudget = true')
    rd = RunDir(tmp_path / "badlr")
    assert budget_end(rd, config) is None  # (no adapt.json: the config's end)
    rd.write_adapt(budget={"planned": 402, "cap": 15999, "total": 402, "events": []})
    assert budget_end(rd, config) is None  # (the plan's whole epochs are no decision of the budget)
    rd.write_adapt(budget={"planned": 402, "cap": 15999, "total": 6432, "events": []})
    assert budget_end(rd, config) == ("training.steps", 6432)
    assert unfinished_status(rd, config, {"epoch": 1201, "step": 3603}) == \
        "(running or stopped at step 3603 of the budget's 6432)"
    rows = [{"run": "runs/gp-good", "epochs": 108, "config": {"training.lr": "0.003", "training.steps": "400"},
             "budget_end": ["training.steps", 324]},
            {"run": "runs/gp-badlr", "epochs": 1201, "config": {"training.lr": "5", "training.steps": "400"},
             "budget_end": ["training.steps", 6432]},
            {"run": "runs/plain", "epochs": 134, "config": {"training.lr": "0.01", "training.steps": "400"}}]
    lines = compare_table(rows).splitlines()
    # (the same training.steps everywhere: the column is shown all the same, the config's value first)
    assert "training.steps" in lines[0].split()
    assert "400 (budget 324)" in lines[1] and "400 (budget 6432)" in lines[2]
    assert "budget" not in lines[3] and " 400 " in lines[3]


def test_a_search_stopped_before_its_first_page_says_there_is_none(tmp_path):
    said = page_when_stopped(tmp_path)
    assert said == (f"no study.html yet (it is drawn at the search's end, or when continued); rnnlab study {tmp_path} "
                    "lists the trials")
    (tmp_path / "study.html").write_text("<html></html>")
    assert page_when_stopped(tmp_path) == "study.html is as of its last write, and the same command rewrites it"


def test_equal_per_fold_differences_are_not_said_to_clear_a_standard_error():
    v = verdict([0.96, 1.0], [0.92, 0.96], higher_is_better=True, paired=True, pairs="fold")
    assert v.kept and v.no_spread and v.se == pytest.approx(0.0, abs=1e-12)  # (the decision stays: kept)
    assert "above one standard error" not in v.reason
    assert v.reason.endswith(equal_differences(2, True))
    spread = verdict([0.96, 1.0], [0.92, 0.97], higher_is_better=True, paired=True, pairs="fold")
    assert spread.kept and not spread.no_spread and "above one standard error" in spread.reason
    unpaired = verdict([0.9, 0.9, 0.9], [0.8, 0.8], higher_is_better=True)
    assert unpaired.kept and unpaired.no_spread and "every run of each side scored the same" in unpaired.reason

    best = optuna.create_trial(value=0.98, user_attrs={"fold_scores": [0.96, 1.0]})
    base = optuna.create_trial(value=0.94, user_attrs={"fold_scores": [0.92, 0.96]})
    said = gain_sentence(best, base, "maximize")
    assert said.startswith("Gain over the config itself: +0.0400 ± 0.0000 (the standard error of the mean of the 2 "
                           "per-fold differences")
    assert ("): the 2 paired differences are equal: no spread to measure a standard error from; the recipe's "
            "rule counts a gain over 0 as kept") in said
    assert ": above one standard error" not in said
    base = optuna.create_trial(value=0.945, user_attrs={"fold_scores": [0.92, 0.97]})
    assert "): above one standard error (" in gain_sentence(best, base, "maximize")
