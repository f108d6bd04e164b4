"""A search continued after its workers lost the study's storage says, at its start, each trial it
recorded from a worker's note (``unrecorded-stop.json``): which trial, what stopped it, and that
it runs again. Without the line the user saw the trial count move and nothing else. A real tiny
search on a journal file; the note as a worker leaves it (rnnlab.search.storage.note_stop)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState
from tiny_search import tiny_search_toml

from rnnlab.search.storage import STOP_NOTE, note_stop
from rnnlab.search.study import SearchOptions, open_existing, run_search

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_a_trial_recorded_from_its_workers_note_gets_its_own_line(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text(tiny_search_toml(epochs=1, search='sampler = "random"'))
    out = tmp_path / "s"
    run_search(SearchOptions(config=str(config), trials=1, out=str(out), final=False), log=None)
    # A trial a worker had started when the storage went away: running in the record, its note on disk.
    study = open_existing(out)
    study.enqueue_trial(study.get_trials()[0].params)
    lost = study.ask()
    note_stop(out / "trials" / f"{lost.number:04d}", lost._trial_id, "a storage outage: the disk went away")
    said: list[str] = []
    run_search(SearchOptions(config=str(config), trials=2, out=str(out), final=False), log=said.append)
    line = [s for s in said if s.startswith(f"trial {lost.number}: stopped")]
    assert line == [f"trial {lost.number}: stopped (a storage outage: the disk went away) where the study could "
                    "not record it; recorded now from its worker's note, queued again: this command runs it first"], said
    assert said.index(line[0]) == 1, said  # right after the study's line, before any trial runs
    trials = open_existing(out).get_trials()
    assert trials[lost.number].state == TrialState.FAIL
    assert not (out / "trials" / f"{lost.number:04d}" / STOP_NOTE).exists()
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 2
