"""What a user sees after a search: a trial stopped by Ctrl-C is shown as interrupted (not as a
failure) by ``rnnlab study`` and study.html, and a trial that drew an earlier complete trial's
parameters (and took its score without training) is marked as a copy of it.

Before: ``rnnlab study`` printed ``trial 0 failed: interrupted`` and ``1 fail``; study.html said
"1 failed", drew the stopped trial with the failed colour and a "failed" mark in the history,
and showed a copy as a trial of its own with no report; the weight norms compared the copies in
place of trained trials (and then dropped them: they have no weights)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import optuna
import pytest
from tiny_search import search_stopped_by_sigint, tiny_search_toml

from rnnlab.cli import main
from rnnlab.search.report import COMPARED, _compared, _history, render_study_report
from rnnlab.search.study import SearchOptions, open_existing, run_search
from rnnlab.search.table import failures, trials_table

TrialState = optuna.trial.TrialState
STOPPED = {"failed_because": "interrupted", "interrupted": True}

# Two values to draw and five trials to finish: at least three trials draw a value again.
CONFIG = tiny_search_toml(20, """sampler = "random"
[search.space]
"model.zoneout" = { choices = [0.0, 0.1] }""")


@pytest.fixture(scope="module")
def stopped_study(tmp_path_factory) -> Path:
    """A study whose first trial (the config itself) was stopped by SIGINT, then continued to 5."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a POSIX signal to the search")
    root = tmp_path_factory.mktemp("stopped")
    config = root / "c.toml"
    config.write_text(CONFIG)
    out = root / "s"
    code, err = search_stopped_by_sigint(config, out)
    assert code == 130, err
    run_search(SearchOptions(config=str(config), out=str(out), trials=5, final=False), log=None)
    trials = open_existing(out).get_trials()
    # What the search stored: the stopped trial as FAIL (Optuna's), marked; its retry; copies.
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["interrupted"] is True
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 5
    assert sum("same_params_as" in t.user_attrs for t in trials) >= 3
    return out


def test_study_command_shows_the_stopped_trial_as_interrupted(stopped_study, capsys):
    trials = open_existing(stopped_study).get_trials()
    rerun = next(t for t in trials if t.system_attrs.get("retry_history") == [0])
    capsys.readouterr()
    assert main(["study", str(stopped_study)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].split()[:2] == ["0", "interrupted"], lines
    assert not any(" failed: " in ln for ln in lines), lines  # not a failure with a reason
    assert f"trial 0 interrupted (Ctrl-C, SIGTERM or SIGHUP): run again as trial {rerun.number}" in lines, lines
    assert lines[-1] == f"study 'tiny': {len(trials)} trials, 5 complete, 1 interrupted", lines


def test_study_command_names_the_trial_each_copy_took_its_score_from(stopped_study, capsys):
    trials = open_existing(stopped_study).get_trials()
    capsys.readouterr()
    assert main(["study", str(stopped_study)]) == 0
    out = capsys.readouterr().out
    by_original: dict[int, list[int]] = {}
    for t in trials:
        if "same_params_as" in t.user_attrs:
            by_original.setdefault(t.user_attrs["same_params_as"], []).append(t.number)
    for original, numbers in by_original.items():
        who = f"trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"
        assert f"{who} drew trial {original}'s parameters again: its score, not trained again" in out, out


def test_failures_leave_the_interrupted_trials_out():
    study = optuna.create_study()
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs=STOPPED))
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "lr: too big"}))
    trials = study.get_trials()
    assert failures(trials) == ["trial 1 failed: lr: too big"]
    states = [line.split()[1] for line in trials_table(trials).splitlines()[1:]]
    assert states == ["interrupted", "fail"]


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _rows(page: str) -> dict[int, str]:
    """The trials table's rows by trial number, in the order shown."""
    rows = _section(page, "best-trials").split("</table>")[0].split("<tr")[2:]  # (the header row first)
    return {int(re.search(r"<td class='num'>(\d+)", r).group(1)): r for r in rows}


def test_study_report_counts_and_shows_the_stopped_trial_as_interrupted(stopped_study):
    study = open_existing(stopped_study)
    page = render_study_report(stopped_study, study)
    result = _section(page, "result")
    assert "5 complete, 0 pruned, 0 failed, 1 interrupted, 0 running" in result, result
    rows = _rows(page)
    assert "<span class='state-interrupted'>interrupted</span>" in rows[0], rows[0]
    assert not any("state-fail" in r for r in rows.values())
    assert list(rows)[-1] == 0  # after every finished trial, not among them


def test_study_report_marks_each_copy_with_the_trial_it_copies(stopped_study):
    study = open_existing(stopped_study)
    rows = _rows(render_study_report(stopped_study, study))
    for t in study.get_trials():
        row = rows[t.number]
        original = t.user_attrs.get("same_params_as")
        assert ("same as trial" in row) == (original is not None), row
        if original is not None:
            assert f"<small>same as trial {original}</small>" in row
            # its records are the trial's it copies (it has none of its own)
            assert f"trial {original}&#x27;s records" in row, row


def test_history_marks_interrupted_trials_apart_from_failed_ones():
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs=STOPPED))
    study.add_trial(optuna.create_trial(value=0.5))
    ax = _history(study.get_trials(), "maximize", "val_acc").axes[0]
    labels = [t.get_text() for t in ax.figure.legends[0].get_texts()]  # (the key under the panel)
    assert "failed" not in labels and "interrupted (Ctrl-C, SIGTERM or SIGHUP)" in labels, labels


def test_weight_norms_compare_trained_trials_not_copies():
    # The best trial drawn four times more: the copies have no weights, so they must not take
    # the places of the trials that trained.
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.create_trial(value=0.9))
    for _ in range(COMPARED):
        study.add_trial(optuna.create_trial(value=0.9, user_attrs={"same_params_as": 0}))
    study.add_trial(optuna.create_trial(value=0.8))
    study.add_trial(optuna.create_trial(value=0.7))
    assert [t.number for t in _compared(study.get_trials(), "maximize")] == [0, 5, 6]
