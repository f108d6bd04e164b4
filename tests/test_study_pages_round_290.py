"""The study and recipe pages (tester helper-290): a final run that carried its fold runs' mean
guards says so beside its test figure (study.html showed the training mean's RMSE as the model's);
a hold-out study's score is not said to be of folds, nor a final run's length of "fold runs" (2
seeds of one hold-out); trial.json's "std" of one score is null, as the pages' "-"."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
from optuna.trial import create_trial

from rnnlab.config import parse_config
from rnnlab.recipe.procedure import run_recipe
from rnnlab.recipe.report import render_html, render_markdown
from rnnlab.recipe.run import RecipeOutcome
from rnnlab.recipe.steps import select_steps
from rnnlab.search.report import render_study_report
from rnnlab.search.trial import FoldPlan, TrialResult
from rnnlab.task import task_for
from rnnlab.train.final import FinalLength, length_words

GUARD = {"kept": False, "carried": "2 of 2 fold runs", "runs": 2, "chose_mean": 2, "baseline": "the training mean"}
LINE = "mean guard: the final run predicts the training mean, as 2 of its 2 fold runs' guards chose"


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _study(d: Path, plan: str, guard: dict | None) -> optuna.Study:
    study = optuna.create_study(direction="minimize")
    study.add_trial(create_trial(value=0.0402, user_attrs={"fold_scores": [0.0402]}))
    _write(d / "study.json", {"study": "s", "storage": None, "metric": "val_rmse", "direction": "minimize",
                              "task": "regression", "plan": plan, "folds": 1 if "hold-out" in plan else 2})
    _write(d / "final.json", {"trial": 0, "test": {"rmse": 0.04472}, "baselines": None, "run_dir": "final"})
    _write(d / "final" / "summary.json", {"mean_guard": guard} if guard else {})
    return study


def test_study_page_says_the_final_run_predicts_the_training_mean_beside_its_test_figure(tmp_path):
    html = render_study_report(tmp_path, _study(tmp_path, "2 stratified folds", GUARD))
    assert "Test rmse <b>0.04472</b>, the training mean&#x27;s, not the model&#x27;s" in html
    assert "Mean guard: the final run predicts the training mean, as 2 of its 2 fold runs&#x27; guards chose" in html
    # a final run that predicts with its model: no mark, no line
    plain = render_study_report(tmp_path / "m", _study(tmp_path / "m", "2 stratified folds", None))
    assert "Test rmse <b>0.04472</b> (trial 0" in plain and "guard" not in plain


def test_study_page_says_what_the_search_score_was_measured_on(tmp_path):
    html = render_study_report(tmp_path, _study(tmp_path, "a 20% tail hold-out", None))
    assert "(search score: a 20% tail hold-out of the training split)" in html
    assert "search score: folds" not in html
    # its trials table: one score a trial, no fold columns, its run is the hold-out's
    assert "<th>fold scores</th>" not in html and "± sd of folds" not in html
    assert "Each trial links to the report of its run on the hold-out" in html
    folds = render_study_report(tmp_path / "f", _study(tmp_path / "f", "2 stratified folds", None))
    assert "<th>± sd of folds</th><th>fold scores</th>" in folds and "(fold 1;" in folds


def _outcome(d: Path, guard: dict | None) -> RecipeOutcome:
    base = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 1')
    result = run_recipe(base, select_steps("recurrent_dropout", base), lambda jobs: [[0.5, 0.6] for _ in jobs],
                        higher_is_better=True)
    tests = {name: {"train": {"acc": 0.5}, "test": {"acc": 0.5}} for name in ("baseline", "final")}
    _write(d / "test" / "final" / "summary.json", {"mean_guard": guard} if guard else {})
    return RecipeOutcome(d, result, FoldPlan(k=1, seed=0), [0, 1], "val_acc", tests, task_for(base))


def test_recipe_pages_say_which_retrained_runs_predict_the_training_mean(tmp_path):
    o = _outcome(tmp_path, GUARD)
    md, page = render_markdown(o), render_html(o)
    assert "| final | 0.5000 (the training mean's, not the model's) | 0.5000 (the training mean's, not the model's) |" in md
    assert "| baseline | 0.5000 | 0.5000 |" in md  # (its run carried no guard)
    assert f"final: {LINE}" in md
    assert "0.5000 (the training mean&#x27;s, not the model&#x27;s)" in page
    assert f"final: {LINE}".replace("'", "&#x27;") in page
    assert "guard" not in render_markdown(_outcome(tmp_path / "m", None))


def test_a_final_runs_length_is_of_runs_not_fold_runs():
    # 2 seeds of one hold-out: no folds to name
    said = length_words({"length": {"rule": "median of the kept models", "unit": "epochs", "lengths": [3, 5],
                                    "median": 4, "trained": {"epoch": 4, "step": 8}}})
    assert said == "4 epochs, 8 steps: the median of its 2 runs' kept models"
    assert "(the median of its 1 run's kept models: 3 epochs;" in FinalLength("epochs", (3,), 3).phrase()


def test_trial_json_std_is_null_for_one_score_as_the_pages_show_it():
    assert TrialResult("val_rmse", [[0.5]], [[3]]).to_dict()["std"] is None
    assert round(TrialResult("val_rmse", [[0.4, 0.6]], [[3, 3]]).to_dict()["std"], 4) == 0.1414


def test_a_hold_out_studys_gain_sentence_does_not_call_its_one_score_a_fold():
    from rnnlab.search.report import gain_sentence

    said = gain_sentence(create_trial(value=0.4, user_attrs={"fold_scores": [0.4]}),
                         create_trial(value=0.5, user_attrs={"fold_scores": [0.5]}), "minimize")
    assert "cannot be told from one hold-out score a side" in said and "from one fold" not in said
