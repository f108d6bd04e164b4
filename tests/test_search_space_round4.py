"""Round 4 of the search's space, failures and budget (an Optuna power user's report).

1. A drawn combination the config refuses (``model.num_layers = 1`` with a ``model.dropout``
   between stacked layers) failed its trial; TPE ignores FAIL trials, drew it again and again,
   and a search asking for 4 trials ran 1974 (1971 failed): the only brake needed no trial to
   have completed. Now such a trial is PRUNED with ``refused_because`` (TPE ranks it below every
   scored trial), counts toward --trials, and a search stops after 10 trials in a row failed or
   refused, or once its failed trials number --trials.
2. Keys whose trials' scores cannot be compared (``data.dataset``, ``training.seed``, ...) were
   accepted in a space; now refused in one line each, saying why.
3. A config off a ``step`` grid was announced as trial 0 (and Optuna's "Fixed parameter ... out of
   range" warning leaked); the ranges shown omitted the step.
"""

from __future__ import annotations

import json
import warnings

import optuna
import pytest

import rnnlab.search.study as study_module
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import SearchError
from rnnlab.search.space import Param, baseline_values, space_from_config
from rnnlab.search.study import (
    REFUSED_ATTR,
    STOP_AFTER_IN_A_ROW,
    SearchOptions,
    open_existing,
    run_search,
    stop_reason,
)

TrialState = optuna.trial.TrialState

CONFIG = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = {hidden}
num_layers = {layers}
[training]
epochs = 1
batch_size = 8
threads = 1
[tracking]
health = false
grad_through_time = false
[search]
folds = 2
reports = "none"
startup_trials = 2
[search.space]
{space}
"""
#: Every draw is refused: one layer fixed, with dropout between stacked layers (each valid alone).
ALL_REFUSED = '"model.num_layers" = { choices = [1] }\n"model.dropout" = { low = 0.1, high = 0.5 }'


class Runaway(Exception):
    """The search went on far past the trials asked for (the bug): stop the test."""


def write(tmp_path, space: str, layers: int = 2, hidden: int = 4):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(space=space, layers=layers, hidden=hidden))
    return path


@pytest.fixture
def guarded(monkeypatch):
    """At most 30 trials per search: before the fix the searches below never ended."""
    real = study_module._objective

    def objective(setup):
        inner, calls = real(setup), []

        def run(trial):
            calls.append(trial.number)
            if len(calls) > 30:
                raise Runaway(f"{len(calls)} trials for --trials {setup.trials}")
            return inner(trial)

        return run

    monkeypatch.setattr(study_module, "_objective", objective)


# ------------------------------------------------------------------------------ 1. refused, brake


def test_a_refused_combination_is_pruned_with_its_reason_and_counts_toward_trials(tmp_path, guarded):
    config, out, lines = write(tmp_path, ALL_REFUSED), tmp_path / "s", []
    with pytest.raises(SearchError, match="no trial of study"):  # (its trials are recorded before it says so)
        run_search(SearchOptions(config=str(config), out=str(out), trials=3, final=False), log=lines.append)
    trials = open_existing(out).get_trials()
    # PRUNED without intermediate values (what TPE ranks below every scored trial), reason kept
    assert [t.state for t in trials] == [TrialState.PRUNED] * 3
    assert all(not t.intermediate_values and "'model.dropout'" in t.user_attrs[REFUSED_ATTR]
               and "model.num_layers = 1" in t.user_attrs[REFUSED_ATTR] for t in trials)
    line = next(ln for ln in lines if ln.startswith("trial    2 "))
    assert line.startswith("trial    2 refused  ") and "stored as pruned" in line, line
    assert "[3/3 done, 3 pruned (3 refused), 0 failed]" in line, line


def test_the_testers_space_reaches_its_trials_and_tpe_sees_the_refusals(tmp_path, guarded):
    # The tester's sp/cond5b.toml: num_layers = 2 in the config, the space may draw 1.
    config = write(tmp_path, '"model.num_layers" = { choices = [1, 2] }\n"model.dropout" = { low = 0.0, high = 0.5 }')
    out = tmp_path / "s"
    run_search(SearchOptions(config=str(config), out=str(out), trials=6, final=False), log=None)
    trials = open_existing(out).get_trials()
    assert len(trials) == 6 and not [t for t in trials if t.state == TrialState.FAIL]
    for t in trials:
        refused = t.params["model.num_layers"] == 1 and t.params["model.dropout"] > 0
        assert (t.state == TrialState.PRUNED and REFUSED_ATTR in t.user_attrs) == refused, (t.number, t.params)


def test_the_search_sampler_avoids_refused_combinations_stored_as_pruned_not_as_failed():
    # The tester's history: three complete trials with two layers, then three refusals of one.
    # Stored as FAIL (before), TPE drew the refused combination every time; as PRUNED, never.
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from rnnlab.config import SearchConfig
    from rnnlab.search.study import make_sampler

    space = {"model.num_layers": CategoricalDistribution([1, 2]), "model.dropout": FloatDistribution(0.0, 0.5)}

    def refused_draws(state: TrialState) -> int:
        study = optuna.create_study(direction="maximize", sampler=make_sampler(SearchConfig(startup_trials=2), 0))
        for dropout, value in [(0.0, 0.35), (0.3, 0.45), (0.49, 0.4)]:
            study.add_trial(optuna.create_trial(value=value, params={"model.num_layers": 2, "model.dropout": dropout},
                                                distributions=space))
        for dropout in (0.32, 0.38, 0.29):
            study.add_trial(optuna.create_trial(state=state, params={"model.num_layers": 1, "model.dropout": dropout},
                                                distributions=space))
        drawn = 0
        for _ in range(10):
            trial = study.ask(space)
            drawn += trial.params["model.num_layers"] == 1
            study.tell(trial, state=TrialState.FAIL)  # (ignored by TPE: the history stays as built)
        return drawn

    assert refused_draws(TrialState.FAIL) == 10
    assert refused_draws(TrialState.PRUNED) <= 2


def test_ten_refused_in_a_row_stop_the_search_in_one_line(tmp_path, guarded):
    config, out = write(tmp_path, ALL_REFUSED), tmp_path / "s"
    with pytest.raises(SearchError) as e:
        run_search(SearchOptions(config=str(config), out=str(out), trials=20, final=False), log=None)
    said = str(e.value)
    assert "\n" not in said
    assert f"the last {STOP_AFTER_IN_A_ROW} trials failed or were refused (the last, trial 9: " in said, said
    assert "'model.dropout'" in said and said.endswith("no trial completed"), said
    assert len(open_existing(out).get_trials()) == STOP_AFTER_IN_A_ROW
    # a continued study (more trials asked for) gets its own ten tries, no more
    with pytest.raises(SearchError):
        run_search(SearchOptions(config=str(config), out=str(out), trials=40, final=False), log=None)
    assert len(open_existing(out).get_trials()) == 2 * STOP_AFTER_IN_A_ROW


def test_failed_trials_count_toward_the_budget_once_a_trial_completed(tmp_path, guarded, monkeypatch):
    # (trial 0, the config itself, trains; every later trial fails in training, e.g. diverges)
    real, calls = study_module.run_trial, []

    def run_trial(config, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise SearchError("the loss diverged (test)")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(study_module, "run_trial", run_trial)
    config, out, lines = write(tmp_path, '"model.zoneout" = { low = 0.0, high = 0.3 }', layers=1), tmp_path / "s", []
    outcome = run_search(SearchOptions(config=str(config), out=str(out), trials=3, final=False), log=lines.append)
    trials = open_existing(out).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] + [TrialState.FAIL] * 3
    stopped = [ln for ln in lines if ln.startswith("search stopped early: ")]
    assert stopped == [f"search stopped early: 3 trials failed, as many as the 3 trials asked for (the last, trial 3: "
                       f"the loss diverged (test)): the search starts no more; `rnnlab study {out}` lists them"], lines
    assert outcome.best is not None and outcome.best.number == 0  # it ends as usual, with what completed


def test_stop_reason_counts_only_failures_of_the_config():
    s = optuna.create_study()
    s.add_trial(optuna.create_trial(value=0.5))
    # a trial lost to a dead worker and queued again, and an interrupted one: no failures
    s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "worker pid 7 on h died"}))
    s.add_trial(optuna.create_trial(value=0.5, system_attrs={"retry_history": [1]}))
    s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
                                                                       "interrupted": True}))
    assert stop_reason(s.get_trials(), wanted=4) is None
    for _ in range(STOP_AFTER_IN_A_ROW - 1):
        s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "diverged"}))
    assert stop_reason(s.get_trials(), wanted=20) is None
    s.add_trial(optuna.create_trial(state=TrialState.PRUNED, user_attrs={REFUSED_ATTR: "refused"}))
    assert stop_reason(s.get_trials(), wanted=20).startswith("the last 10 trials failed or were refused")
    # a search that started after them (history) has its own tries
    assert stop_reason(s.get_trials(), wanted=20, history=len(s.get_trials())) is None
    # the budget: failed trials as many as the trials asked for
    assert stop_reason(s.get_trials(), wanted=9).startswith("9 trials failed, as many as the 9 trials asked for")
    # a pruned trial of the pruner (intermediate values) is no refusal, and ends no row
    s.add_trial(optuna.create_trial(state=TrialState.PRUNED, intermediate_values={3: 0.4},
                                    distributions={}, params={}))
    assert stop_reason(s.get_trials(), wanted=20) is None


# ------------------------------------------------------------------------------ 2. keys refused


@pytest.mark.parametrize(("key", "spec", "why"), [
    ("data.dataset", '{ choices = ["UnitTest", "GunPoint"] }', "trials would be scored on other data"),
    ("data.path", '{ choices = ["a.npz", "b.npz"] }', "trials would be scored on other data"),
    ("data.test_path", '{ choices = ["a.npz", "b.npz"] }', "never reads the test split"),
    ("data.val_fraction", "{ low = 0.1, high = 0.3 }", "validation"),
    ("output.dir", '{ choices = ["a", "b"] }', "every trial would score alike"),
    ("training.threads", "{ low = 1, high = 2 }", "speed and rounding only"),
    ("training.device", '{ choices = ["cpu", "auto"] }', "speed and rounding only"),
    ("training.seed", "{ low = 0, high = 10 }", "a search over seeds picks the luckiest seed"),
])
def test_keys_whose_scores_cannot_be_compared_are_refused_in_one_line(key, spec, why):
    base = parse_config(f'[data]\ndataset = "UnitTest"\n[search.space]\n"{key}" = {spec}\n'
                        '"model.zoneout" = { low = 0.0, high = 0.3 }')
    with pytest.raises(SearchError) as e:
        space_from_config(base, 1, 2)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"search.space: {key!r} cannot be searched: ") and why in said, said
    assert "remove the key from the space" in said


def test_a_searched_seed_is_refused_by_the_command_with_the_documented_way(tmp_path, capsys):
    config = write(tmp_path, '"training.seed" = { low = 0, high = 10 }', layers=1)
    assert main(["search", str(config), "--trials", "1", "--out", str(tmp_path / "s"), "--no-final"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "luckiest" in err and "search.folds" in err and "rnnlab recipe CONFIG --seeds N" in err, err
    assert not (tmp_path / "s" / "journal.log").exists()  # refused before anything is written


# ------------------------------------------------------------------------------ 3. the step grid


def test_a_range_is_shown_with_its_step():
    assert Param("model.hidden_size", "int", 4, 20, step=8).describe() == "4 .. 20 step 8"
    assert Param("model.zoneout", "float", 0.0, 0.3, step=0.1).describe() == "0 .. 0.3 step 0.1"
    assert Param("model.hidden_size", "int", 4, 20).describe() == "4 .. 20"


def test_a_config_off_the_grid_is_no_trial_and_says_why(tmp_path):
    config, out, lines = write(tmp_path, '"model.hidden_size" = { low = 4, high = 20, step = 8 }', layers=1,
                               hidden=8), tmp_path / "s", []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_search(SearchOptions(config=str(config), out=str(out), trials=1, final=False), log=lines.append)
    assert not [w for w in caught if "Fixed parameter" in str(w.message)], [str(w.message) for w in caught]
    assert ("no trial is the config itself (model.hidden_size = 8 is not on its grid 4 .. 20 step 8, whose nearest "
            "values are 4 and 12: ") in lines[0], lines[0]
    trials = open_existing(out).get_trials()
    assert len(trials) == 1 and not trials[0].user_attrs.get("baseline")
    assert trials[0].params["model.hidden_size"] in (4, 12, 20)
    assert json.loads((out / "study.json").read_text())["space"][0]["range"] == "4 .. 20 step 8"


def test_a_config_on_the_grid_is_still_trial_0():
    base = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 12\nzoneout = 0.1\n[search.space]\n'
                        '"model.hidden_size" = { low = 4, high = 20, step = 8 }\n'
                        '"model.zoneout" = { low = 0.0, high = 0.3, step = 0.1 }')
    assert baseline_values(space_from_config(base, 1, 2), base, 1, 2) == (
        {"model.hidden_size": 12, "model.zoneout": 0.1}, "")
