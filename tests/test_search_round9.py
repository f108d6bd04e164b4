"""`rnnlab search`, round 9 (users' reports).

1. A queued trial (a retry of a stopped trial) that ran after the study had its --trials finished
   trials was announced as ``[4/2 done, ...]``: a count above the total read as a bug. Now the
   bracket says how many were asked and why more are done.
2. A config outside a space of choices was "the config's setting is none of nadamw": now the
   config's value and the space's choices.
3. ``run_search`` returned normally when no trial completed (the CLI exited 1 with a message):
   now it raises :class:`SearchError` with the CLI's message, and the CLI still says it in one line.
4. The search's and the recipe's first lines named a per-step task's score ``val_acc`` without
   saying it is the per-step accuracy: now they add the metric's label (:attr:`Metric.label`).
"""

from __future__ import annotations

import optuna
import pytest
from test_per_step_round3 import activities
from test_per_step_round3 import config as per_step_config
from tiny_search import tiny_search_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import SearchError
from rnnlab.recipe.run import RecipeOptions, run_recipe_command
from rnnlab.search.space import baseline_values, space_from_config
from rnnlab.search.storage import retry_trial
from rnnlab.search.study import Progress, SearchOptions, open_existing, prepare, run_search
from rnnlab.task import PER_STEP_CLASSIFICATION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TrialState = optuna.trial.TrialState
ZONEOUT = '[search.space]\n"model.zoneout" = { low = 0.0, high = 0.3 }\n'
DIST = {"model.zoneout": optuna.distributions.FloatDistribution(0.0, 0.3)}


# ------------------------------------------------------------------------------ 1. past the count


def _stopped(study: optuna.Study, zoneout: float) -> None:
    """A trial stopped by Ctrl-C after it drew ``zoneout``, queued again (what the search records)."""
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, params={"model.zoneout": zoneout}, distributions=DIST,
                                        user_attrs={"failed_because": "interrupted", "interrupted": True}))
    assert retry_trial(study, study.get_trials()[-1])


def _run_waiting(study: optuna.Study, value: float) -> None:
    study.tell(study.ask(), value)  # (the waiting retry, as a worker takes it)
    assert study.get_trials()[-1].system_attrs.get("retry_history")


@pytest.fixture
def setup(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(1, ZONEOUT))
    return prepare(SearchOptions(config=str(config), out=str(tmp_path / "s"), trials=2))


def test_a_retry_that_runs_past_the_count_says_so_instead_of_3_of_2(setup):
    study = optuna.create_study(direction=setup.direction)
    for v in (0.5, 0.6):
        study.add_trial(optuna.create_trial(value=v, params={"model.zoneout": v / 4}, distributions=DIST))
    lines: list[str] = []
    progress = Progress(setup, lines.append, study)
    # (a second worker's trial stopped while the first two finished: its retry runs after them)
    _stopped(study, 0.2)
    _run_waiting(study, 0.7)
    progress.update(study)
    assert lines[-1].startswith("trial    3 complete "), lines
    assert "[3 done, 2 asked: 1 retry ran past the count; 0 pruned, 0 failed, 1 interrupted]" in lines[-1], lines
    assert "3/2" not in "\n".join(lines)


def test_trials_done_before_a_command_with_fewer_trials_are_said_apart(setup):
    study = optuna.create_study(direction=setup.direction)
    for v in (0.5, 0.6, 0.55):  # (an earlier command asked for 3)
        study.add_trial(optuna.create_trial(value=v, params={"model.zoneout": v / 4}, distributions=DIST))
    _stopped(study, 0.2)
    lines: list[str] = []
    progress = Progress(setup, lines.append, study)  # (this command asks for 2)
    _run_waiting(study, 0.7)
    progress.update(study)
    assert ("[4 done, 2 asked: 1 done before this command, 1 retry ran past the count; 0 pruned, 0 failed, "
            "1 interrupted]") in lines[-1], lines


def test_within_the_count_the_bracket_is_unchanged(setup):
    study = optuna.create_study(direction=setup.direction)
    lines: list[str] = []
    progress = Progress(setup, lines.append, study)
    study.add_trial(optuna.create_trial(value=0.5, params={"model.zoneout": 0.1}, distributions=DIST))
    _stopped(study, 0.2)
    _run_waiting(study, 0.7)
    progress.update(study)
    assert "[1/2 done, 0 pruned, 0 failed]" in lines[0] and "[2/2 done, 0 pruned, 0 failed, 1 interrupted]" in lines[-1]


# ------------------------------------------------------------------------------ 2. outside the choices


def _why_not_itself(text: str) -> str:
    base = parse_config('[data]\ndataset = "UnitTest"\n' + text)
    values, why = baseline_values(space_from_config(base, 1, 2), base, 1, 2)
    assert values is None
    return why


def test_a_config_outside_the_choices_names_its_value_and_the_choices():
    why = _why_not_itself('[search.space]\n"training.optimizer" = { choices = ["nadamw", "sgdw"] }\n'
                          '"model.zoneout" = { low = 0.0, high = 0.3 }\n')
    assert why == "training.optimizer: the config's value adamw is not among the space's choices (nadamw | sgdw)"


def test_a_derived_key_names_the_config_keys_it_stands_for():
    why = _why_not_itself('[model]\nrecurrent_batch_norm = true\n[search.space]\n'
                          '"model.normalization" = { choices = ["none", "layer_norm"] }\n')
    assert why == ("model.normalization: the config's setting (model.layer_norm = False, model.recurrent_batch_norm "
                   "= True) is not among the space's choices (none | layer_norm)"), why


# ------------------------------------------------------------------------------ 3. no trial completed

#: Every draw is refused before training: one layer fixed, with dropout between stacked layers.
ALL_REFUSED = ('[search.space]\n"model.num_layers" = { choices = [1] }\n"model.dropout" = { low = 0.1, high = 0.5 }\n'
               '[model]\nnum_layers = 2\n')


def test_run_search_raises_when_no_trial_completed_with_the_clis_words(tmp_path, capsys):
    config, out = tmp_path / "c.toml", tmp_path / "s"
    config.write_text(tiny_search_toml(1, ALL_REFUSED).replace("[model]\nhidden_size = 4\n", ""))
    with pytest.raises(SearchError) as e:
        run_search(SearchOptions(config=str(config), out=str(out), trials=2, final=False), log=None)
    assert str(e.value) == f"no trial of study 'tiny' completed; see `rnnlab study {out}`"
    assert [t.state for t in open_existing(out).get_trials()] == [TrialState.PRUNED] * 2  # (both refused)
    # The command: the same words, one line, exit code 1, no traceback.
    other = tmp_path / "t"
    assert main(["search", str(config), "--trials", "2", "--out", str(other), "--no-final", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == f"rnnlab search: error: no trial of study 'tiny' completed; see `rnnlab study {other}`\n", err


# ------------------------------------------------------------------------------ 4. per-step score


class FirstLine(Exception):
    """Raised by the log on the command's first line: what it says before it trains."""


def _first_line(line: str) -> None:
    raise FirstLine(line)


def test_the_per_step_score_is_named_once_in_the_search_and_recipe_first_lines(tmp_path):
    label = PER_STEP_CLASSIFICATION.metric("val_acc").label
    cfg = per_step_config(tmp_path, "acts", activities(tmp_path / "a.npz", 40, 0), kind="classification", steps=5)
    cfg.write_text(cfg.read_text() + '[search]\nfolds = 2\nreports = "none"\n')
    with pytest.raises(FirstLine) as search:
        run_search(SearchOptions(config=str(cfg), out=str(tmp_path / "s"), trials=1, final=False), log=_first_line)
    with pytest.raises(FirstLine) as recipe:
        run_recipe_command(RecipeOptions(config=str(cfg), seeds=1, out=str(tmp_path / "r"), final=False),
                           log=_first_line)
    for said in (str(search.value), str(recipe.value)):
        assert f"val_acc ({label}; higher is better)" in said and said.count(label) == 1, said
    assert label == "per-step accuracy"


def test_a_score_per_sequence_keeps_its_plain_words(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(1, ZONEOUT))
    with pytest.raises(FirstLine) as search:
        run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), trials=1, final=False), log=_first_line)
    assert "; val_acc (higher is better) on 2 stratified folds" in str(search.value)
