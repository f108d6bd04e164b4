"""A continued search draws new points, a sample equal to a complete trial is not trained again,
and a trial stopped by Ctrl-C is counted and shown as interrupted, not failed.

Before: the sampler was seeded alike on every invocation, so a continued study replayed its first
session's random start-up trials (trial 4 = trial 1, same score); an interrupted trial (stored by
Optuna as FAIL) was counted as "1 failed", against the message "recorded as interrupted", and
six of them stopped the search as "6 trials failed and none completed"."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest
from tiny_search import search_stopped_by_sigint, tiny_search_toml

from rnnlab.search.storage import open_storage, open_study
from rnnlab.search.study import (
    SearchOptions,
    make_pruner,
    make_sampler,
    open_existing,
    prepare,
    run_search,
)

TrialState = optuna.trial.TrialState

SPACE = """[search.space]
"model.zoneout" = { low = 0.0, high = 0.3 }
"training.lr" = { low = 0.001, high = 0.05, log = true }
"""


def write(tmp_path: Path, name: str = "c.toml", epochs: int = 2, search: str = "") -> Path:
    p = tmp_path / name
    p.write_text(tiny_search_toml(epochs, search))
    return p


def search(config: Path, out: Path, trials: int, log=None) -> optuna.Study:
    return run_search(SearchOptions(config=str(config), out=str(out), trials=trials, final=False), log=log).study


def params(study: optuna.Study) -> list[str]:
    return [str(sorted(t.params.items())) for t in study.get_trials()]


def test_a_continued_study_draws_new_points_and_the_same_commands_draw_the_same(tmp_path):
    # 10 random start-up trials: every trial here is a random draw (the user's case: trial 4 of
    # a study continued with --trials 12 was trial 1 again, score and all).
    config = write(tmp_path, search="startup_trials = 10\n" + SPACE)
    search(config, tmp_path / "a", trials=2)  # the config itself, one random draw
    a = search(config, tmp_path / "a", trials=3)
    assert len(set(params(a))) == 3, params(a)
    # Reproducible: the same two commands from scratch draw the same trials...
    search(config, tmp_path / "b", trials=2)
    assert params(search(config, tmp_path / "b", trials=3)) == params(a)
    # ...and a study run in one go begins as the continued one did.
    assert params(search(config, tmp_path / "c", trials=2)) == params(a)[:2]


def test_a_sample_equal_to_a_complete_trial_takes_its_score_without_training(tmp_path):
    # Two values to draw, four trials: random draws repeat a value.
    config = write(tmp_path, search='sampler = "random"\nbaseline = false\n[search.space]\n'
                                    '"model.zoneout" = { choices = [0.0, 0.1] }\n')
    lines: list[str] = []
    study = search(config, tmp_path / "s", trials=4, log=lines.append)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    firsts: dict[str, optuna.trial.FrozenTrial] = {}
    copies = 0
    for t in trials:
        key = str(sorted(t.params.items()))
        first = firsts.setdefault(key, t)
        if first is t:
            assert "same_params_as" not in t.user_attrs and (tmp_path / "s" / "trials" / f"{t.number:04d}").is_dir()
            continue
        copies += 1
        assert t.user_attrs["same_params_as"] == first.number
        assert (t.value, t.user_attrs["fold_scores"]) == (first.value, first.user_attrs["fold_scores"])
        assert not (tmp_path / "s" / "trials" / f"{t.number:04d}").exists()  # nothing trained
        line = next(ln for ln in lines if ln.startswith(f"trial {t.number:>4} "))
        assert f"the parameters of trial {first.number}: its score, not trained again" in line
    assert copies == 4 - len(firsts) > 0
    assert study.best_trial.number in {t.number for t in firsts.values()}  # the trained one, not a copy


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a POSIX signal to the search")
def test_a_trial_stopped_by_ctrl_c_is_counted_as_interrupted_not_failed(tmp_path):
    config = write(tmp_path, epochs=20, search=SPACE)
    out = tmp_path / "s"
    code, err = search_stopped_by_sigint(config, out)
    assert code == 130 and "a stopped trial is recorded as interrupted" in err, err
    # Stored as Optuna records a KeyboardInterrupt (FAIL), marked interrupted: shown as such below.
    stopped = open_existing(out).get_trials()[0]
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["interrupted"] is True
    lines: list[str] = []
    study = search(config, out, trials=1, log=lines.append)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]
    summary = next(ln for ln in lines if ln.startswith("study 'tiny': "))
    assert "0 failed, 1 interrupted" in summary, summary
    trial_line = next(ln for ln in lines if ln.startswith("trial    1 "))
    assert "[1/1 done, 0 pruned, 0 failed, 1 interrupted]" in trial_line, trial_line


def test_interrupted_trials_do_not_stop_the_search_as_failed_ones(tmp_path):
    # Six trials stopped before they drew parameters (nothing to queue again): what the worker
    # records on a Ctrl-C. "N trials failed and none completed" is about failures only.
    config = write(tmp_path, search=SPACE)
    out = tmp_path / "s"
    setup = prepare(SearchOptions(config=str(config), out=str(out)))
    study = open_study(open_storage(None, out), setup.study_name, setup.base, make_sampler(setup.search, 0),
                       make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup), setup.direction)
    for _ in range(6):
        study.add_trial(optuna.create_trial(state=TrialState.FAIL,
                                            user_attrs={"failed_because": "interrupted", "interrupted": True}))
    lines: list[str] = []
    trials = search(config, out, trials=1, log=lines.append).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] * 6 + [TrialState.COMPLETE]
    assert any("0 failed, 6 interrupted" in ln for ln in lines), lines
