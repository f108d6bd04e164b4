"""What a search records and its page says, as an Optuna power user reads them (round 4): every
evaluation of the test split in a continued study, why each failed trial failed, the sampler and
pruner as built with the Optuna version, the study key's attribute, the fANOVA evaluator's seed."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from tiny_search import ROOT, tiny_search_toml

from rnnlab.config import dump_config, parse_config
from rnnlab.errors import SearchError
from rnnlab.rundir import read_json
from rnnlab.search.report import render_study_report
from rnnlab.search.storage import (
    CONFIG_ATTR,
    STUDY_KEY_ATTR,
    STUDY_KEY_HEADER,
    open_study,
    study_key,
)
from rnnlab.search.study import (
    EVALUATIONS,
    REFUSED_ATTR,
    SearchOptions,
    finish,
    make_pruner,
    make_sampler,
    prepare,
    recorded_evaluations,
    run_search,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

DIST = {"model.recurrent_dropout": FloatDistribution(0.0, 0.5)}


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _trial(value: float, config: str, dropout: float) -> optuna.trial.FrozenTrial:
    return create_trial(value=value, params={"model.recurrent_dropout": dropout}, distributions=DIST,
                        user_attrs={"config": config, "fold_scores": [value, value]})


def test_a_continued_study_records_every_test_evaluation_and_says_when_there_are_several(tmp_path):
    """The user's repro: --trials 2 tested trial 0's config, --trials 6 then tested trial 2's,
    and both the line and the page said "evaluated once"."""
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2))
    setup = prepare(SearchOptions(str(config), out=str(tmp_path / "s")))
    base = setup.base
    other = base.model_copy(update={"model": base.model.model_copy(update={"hidden_size": 5})})
    study = optuna.create_study(direction=setup.direction)
    study.add_trial(_trial(0.5, dump_config(base), 0.1))
    lines: list[str] = []
    finish(setup, study, lines.append)
    assert lines[-2].endswith("test split evaluated once"), lines
    first = read_json(setup.out / "final.json")
    assert [(e["trial"], e["run_dir"]) for e in first[EVALUATIONS]] == [(0, "final")]

    study.add_trial(_trial(0.9, dump_config(other), 0.3))  # (the continued study's new best trial)
    lines.clear()
    finish(setup, study, lines.append)
    record = read_json(setup.out / "final.json")
    evaluations = record[EVALUATIONS]
    assert [(e["trial"], e["run_dir"]) for e in evaluations] == [(0, "final-trial0000"), (1, "final")]
    assert evaluations[0]["test"] == first["test"] and evaluations[1]["test"] == record["test"]
    assert all(e["evaluated_at"] for e in evaluations)
    acc = [f"{e['test']['acc']:.4f}" for e in evaluations]
    said = (f"the test split has now been evaluated 2 times in this study: trial 0 (earlier final run, "
            f"final-trial0000/: {acc[0]}), trial 1 (this final run, final/: {acc[1]}): choosing between them by "
            "test score would be selection on the test split")
    assert lines[-2].endswith(f"retrained on the whole training split (2 epochs, {record['length']['trained']['step']} "
                              f"steps); {said}"), lines
    result = _section((setup.out / "study.html").read_text(), "result")
    assert html.escape(said[0].upper() + said[1:], quote=True) in result
    assert "the test split evaluated once, never used" not in result
    assert "href='final-trial0000/report.html'" in result  # (the earlier run's own report)

    # a final.json written before the list: read back from the final runs the directory holds
    old = {k: v for k, v in read_json(setup.out / "final.json").items() if k != EVALUATIONS}
    assert [(e["trial"], e["run_dir"], e["test"]) for e in recorded_evaluations(setup.out, old)] == [
        (e["trial"], e["run_dir"], e["test"]) for e in evaluations]


def test_the_page_says_why_each_failed_trial_failed(tmp_path):
    evil = "<script>alert(1)</script>"
    long = ("data.bptt: the series is shorter than one window of 400 steps for the sampled window; expected a "
            f"shorter window or longer series {evil} " + "and more words " * 12)
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(0.7, "", 0.1))
    for n in range(3):
        study.add_trial(create_trial(state=TrialState.FAIL, params={"model.recurrent_dropout": 0.2 + n / 10},
                                     distributions=DIST, user_attrs={"failed_because": f"Traceback\n{long}"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "lr: diverged (nan loss)"}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
                                                                    "interrupted": True}))
    # (values the config refused before training: pruned, with their reason)
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={REFUSED_ATTR: "zoneout: lstm only"}))
    page = render_study_report(tmp_path, study)
    assert evil not in page
    trials = _section(page, "best-trials")
    failures = trials.split("Failed trials")[1]
    first, second, third = failures.split("<li")[1:]
    assert "<b>3 trials</b> (1, 2, 3)" in first and "<b>1 trial</b> (4): <span title='lr: diverged (nan loss)'>" in second
    assert "<b>1 trial</b> (6): <span title='refused by the config: zoneout: lstm only'>" in third
    assert "4 failed trials and 1 pruned trial whose values the config refused before training, 3 reasons" in failures
    whole = html.escape(f"Traceback\n{long}".strip(), quote=True)
    assert f"<pre>{whole}</pre>" in first and "…</span>" in first  # (cut in the line, whole in its details)
    assert html.escape(long.strip()[:80], quote=True) in first
    assert "interrupted" not in "".join(failures.split("<li")[1:])  # (no failure)
    # each failed row points to its reason, whole in the link's title
    rows = re.findall(r"<tr><td class='num'>(\d+)(.*?)</tr>", trials, re.S)
    linked = {int(n): re.search(r"href='#failed-(\d)'", row) for n, row in rows}
    assert {n: m.group(1) for n, m in linked.items() if m} == {1: "1", 2: "1", 3: "1", 4: "2", 6: "3"}
    assert "href='#failed-trials'>4 failed</a>" in _section(page, "result")




@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny study of 2 trials under the median pruner with startup_trials = 0, no final run."""
    d = tmp_path_factory.mktemp("searched")
    config = d / "c.toml"
    config.write_text(tiny_search_toml(1, 'pruner = "median"\nstartup_trials = 0'))
    run_search(SearchOptions(str(config), out=str(d / "s"), trials=2, final=False), log=None)
    return config, d / "s"


def test_study_json_records_the_sampler_and_pruner_as_built_and_the_optuna_version(searched):
    config, out = searched
    info = read_json(out / "study.json")
    assert info["optuna"] == optuna.__version__ and {"rnnlab", "torch", "python"} <= info["versions"].keys()
    assert info["sampler"] == {"class": "TPESampler", "n_startup_trials": 0, "n_ei_candidates": 24,
                               "multivariate": True, "group": False, "constant_liar": True, "seed": [0]}
    # (what is built: at least one start-up trial, as docs/search.md now says)
    assert info["pruner"] == {"class": "MedianPruner", "n_startup_trials": 1, "n_warmup_steps": 1,
                              "interval_steps": 1, "n_min_trials": 1}
    setup = prepare(SearchOptions(str(config)))
    built = make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup)
    assert (built._n_startup_trials, built._n_warmup_steps) == (1, 1)
    assert make_sampler(setup.search, 0)._n_startup_trials == 0
    assert "MedianPruner(n_startup_trials=max(startup_trials, 1), n_warmup_steps=warmup" in (
        ROOT / "docs" / "search.md").read_text()
    space = _section((out / "study.html").read_text(), "space")
    assert ("TPESampler(n_startup_trials=0, n_ei_candidates=24, multivariate=True, group=False, "
            "constant_liar=True, seed=[0])") in space and f"optuna {optuna.__version__}" in space


def test_the_study_key_attribute_says_what_it_is_and_an_old_one_is_still_read(searched):
    _, out = searched
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / "journal.log")))
    attrs = optuna.load_study(study_name="tiny", storage=storage).user_attrs
    assert CONFIG_ATTR not in attrs and attrs[STUDY_KEY_ATTR].startswith(STUDY_KEY_HEADER)
    assert "trials = 1" in attrs[STUDY_KEY_ATTR] and "not the ones given" in STUDY_KEY_HEADER
    # a study recorded by an earlier rnnlab: the same key, without its header, as rnnlab_config
    config = parse_config(tiny_search_toml(2))
    memory = optuna.storages.InMemoryStorage()
    old = optuna.create_study(storage=memory, study_name="old", direction="maximize")
    old.set_user_attr(CONFIG_ATTR, study_key(config).removeprefix(STUDY_KEY_HEADER))
    sampler, pruner = optuna.samplers.RandomSampler(0), optuna.pruners.NopPruner()
    assert open_study(memory, "old", config, sampler, pruner, "maximize").user_attrs.keys() == {CONFIG_ATTR}
    other = config.model_copy(update={"model": config.model.model_copy(update={"hidden_size": 5})})
    with pytest.raises(SearchError, match=r"started with another config \(it differs in model.hidden_size\)"):
        open_study(memory, "old", other, sampler, pruner, "maximize")


def test_a_study_continued_with_fewer_trials_than_it_holds_says_so(searched, tmp_path, capsys):
    config, out = searched
    shutil.copytree(out, tmp_path / "s")  # (the module's study stays as it was)
    run_search(SearchOptions(str(config), out=str(tmp_path / "s"), trials=1, final=False))
    first = capsys.readouterr().out.splitlines()[0]
    assert "2 trials done, more than the 1 asked for (no new trial is drawn);" in first, first


def test_the_page_names_the_importance_evaluator_and_its_seed(tmp_path):
    study = optuna.create_study(direction="maximize")
    for i, v in enumerate((0.5, 0.7, 0.6, 0.9)):
        study.add_trial(_trial(v, "", i / 10))
    section = _section(render_study_report(tmp_path, study), "importances")
    assert "FanovaImportanceEvaluator(seed=0)</code> over the 4 complete trials that trained" in section
