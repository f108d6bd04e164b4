"""What a trial that the search did not finish records as its reason, when something other than
the user stopped it (a tester's report, round 10):

1. With several workers, a trial lost to a full disk stops the search, and the search stops the
   other workers' trials with SIGTERM: those read "interrupted (Ctrl-C, SIGTERM or SIGHUP)"
   although nobody pressed Ctrl-C. Now the search says why it stops them (shared with its
   workers before the SIGTERM), and such a trial reads "the search: trial 3 failed (No space left
   on device)".
2. A trial whose worker lost the PostgreSQL database could not be recorded, and the next search
   failed it as "worker ... died: no heartbeat for 20 s", after waiting 20 s in silence for that
   heartbeat to go stale. Now the worker leaves a note in the trial directory, and the next
   search records the trial as stopped by the storage outage, at once; a wait for the heartbeat
   of a trial whose worker is gone (kill -9) is said in one line.

Each runs in this process on the real storages (the journal file; PostgreSQL of tests/pg.py,
stopped and started again for the outage); ``run_trial`` is replaced by the event each case is
about (the stop, the outage), as it lands in the middle of a trial's training.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import optuna  # noqa: E402
import pytest  # noqa: E402
from tiny_search import tiny_search_toml  # noqa: E402

import rnnlab.search.study as study_module  # noqa: E402
from rnnlab.errors import RnnlabError  # noqa: E402
from rnnlab.search.report import _history  # noqa: E402
from rnnlab.search.storage import (  # noqa: E402
    DIED_HISTORY,
    HOST,
    STOP_NOTE,
    fail_stale,
    open_storage,
    open_study,
    process_identity,
    stop_words,
    trial_state,
    unreachable,
)
from rnnlab.search.study import (  # noqa: E402
    Progress,
    SearchOptions,
    _objective,
    make_pruner,
    make_sampler,
    prepare,
    refusal_stop_words,
)
from rnnlab.search.table import interruptions  # noqa: E402

TrialState = optuna.trial.TrialState
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the processes")
FULL = "s/trials/0003/fold-1/checkpoints/best.pt"


def _setup(tmp_path: Path, search: str = "", **options):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(epochs=2, search=search))
    return prepare(SearchOptions(str(config), out=str(tmp_path / "s"), final=False, **options))


def _worker_study(setup) -> tuple[optuna.Study, object]:
    """The study as a worker (or the next command) opens it, and its storage (as opened: Optuna
    wraps a database's in a cache of its own)."""
    storage = open_storage(setup.options.storage, setup.out, setup.search.heartbeat)
    return open_study(storage, setup.study_name, setup.base, make_sampler(setup.search, 0),
                      make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup), setup.direction), storage


def _run_one_trial(setup, study: optuna.Study, expected: type[BaseException]) -> BaseException:
    """One trial of the objective, as a worker runs it, ending with ``expected``; SIGINT's handler
    is put back (the objective ignores a second Ctrl-C while Optuna records the trial)."""
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(expected) as raised:
            study.optimize(_objective(setup), n_trials=1, catch=(RnnlabError,), gc_after_trial=False)
    finally:
        signal.signal(signal.SIGINT, before)
    return raised.value


def test_a_trial_the_search_stops_for_another_trials_full_disk_names_that_trial(tmp_path, monkeypatch):
    setup = _setup(tmp_path, 'sampler = "random"', trials=2, workers=2)
    study, storage = _worker_study(setup)
    # The search's side: another worker's trial 3 was lost to a full disk; the search stops the
    # other workers, saying why first (a worker process would get it through the shared array).
    cause = multiprocessing.get_context("spawn").Array("c", study_module.STOP_CAUSE_BYTES, lock=False)
    why = refusal_stop_words(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), FULL), 3)
    study_module._stop_workers([], cause, why)
    monkeypatch.setattr(study_module, "_stop_cause", cause)

    # This worker's side: the SIGTERM lands in its trial's training (a KeyboardInterrupt there).
    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_module, "run_trial", stopped)
    _run_one_trial(setup, study, KeyboardInterrupt)
    trials = study.get_trials()
    stopped_trial = trials[0]
    assert trial_state(stopped_trial) == "interrupted"  # no failure of its own, and run again
    assert stop_words(stopped_trial) == "the search: trial 3 failed (No space left on device)"
    assert interruptions(trials) == ["trial 0 interrupted (the search: trial 3 failed (No space left on device)): "
                                     "run again as trial 1"]
    line = Progress(setup, print, study).line(stopped_trial, trials)
    assert "stopped (the search: trial 3 failed (No space left on device)); queued again" in line, line
    assert "Ctrl-C" not in line
    scored = optuna.create_trial(value=0.5)  # (the history's key is drawn beside a scored trial)
    legend = _history([*trials, scored], "maximize", "val_acc").legends[0]  # (the key under the panel)
    labels = [t.get_text() for t in legend.get_texts()]
    assert "interrupted (the search: trial 3 failed (No space left on device))" in labels, labels


def test_the_worker_whose_write_the_disk_refused_names_its_trial_to_the_search(tmp_path, monkeypatch):
    setup = _setup(tmp_path, 'sampler = "random"', trials=2, workers=2)
    study, storage = _worker_study(setup)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(setup.out / "trials/0000/fold-1/metrics.jsonl"))

    monkeypatch.setattr(study_module, "run_trial", full)
    refused = _run_one_trial(setup, study, OSError)
    assert refused.errno == errno.ENOSPC
    # (what the worker sends the search with the refused write: _spawned_worker's refusals queue)
    assert study_module._refused_in == 0
    assert study.get_trials()[0].user_attrs["failed_because"].startswith("cannot write ")


def _server(url: str) -> tuple[list[str], list[str]]:
    from test_search_storage_round3 import _server as server

    return server(url)


def test_a_trial_whose_worker_lost_the_database_is_recorded_as_stopped_by_the_outage(tmp_path, postgres_url,
                                                                                       monkeypatch):
    # heartbeat 10: without the worker's note the trial would wait 20 s to be failed as a death
    setup = _setup(tmp_path, "heartbeat = 10", trials=1, storage=postgres_url, study="r10-outage")
    stop, start = _server(postgres_url)

    def outage(config, plan, trial_dir, *, report, **kwargs):
        subprocess.run(stop, check=True, capture_output=True)
        report(0, 0.5)  # the trial's next write, the database gone

    monkeypatch.setattr(study_module, "run_trial", outage)
    monkeypatch.setattr("threading.excepthook", lambda args: None)  # (Optuna's heartbeat thread dies too)
    try:
        with pytest.raises(Exception) as lost:  # a worker, as the search runs it
            study_module.work(setup, 0, log=None)
    finally:
        subprocess.run(start, check=True, capture_output=True)
    assert unreachable(lost.value, postgres_url) is not None, lost.value
    note = setup.out / "trials" / "0000" / STOP_NOTE
    assert note.is_file()

    # The next command, the database back: its recovery records the trial at once.
    again, storage = _worker_study(setup)
    assert again.get_trials()[0].state == TrialState.RUNNING  # (nothing could be recorded meanwhile)
    fail_stale(again, storage, setup.out)
    trials = again.get_trials()
    lost_trial, retry = trials
    assert lost_trial.state == TrialState.FAIL and trial_state(lost_trial) == "interrupted"
    assert stop_words(lost_trial).startswith(f"a storage outage: worker pid {os.getpid()} on {HOST} lost the "
                                             "study's database ("), stop_words(lost_trial)
    assert "no heartbeat" not in str(lost_trial.user_attrs)
    # queued again with its parameters; an outage is no death of its worker: it uses up no retry
    assert retry.state == TrialState.WAITING and retry.params == lost_trial.params
    assert retry.system_attrs[DIED_HISTORY] == []
    assert not note.exists()


def _dead_process() -> tuple[int, str | None]:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    child.wait()
    return identity


class _Lines:
    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def update(self, study: optuna.Study) -> None:
        pass


@linux
def test_the_wait_for_a_gone_workers_heartbeat_to_go_stale_is_said_once(tmp_path, postgres_url):
    setup = _setup(tmp_path, "heartbeat = 10", trials=1, storage=postgres_url, study="r10-wait")
    study, storage = _worker_study(setup)
    # A worker on this host took trial 0 and was killed (kill -9): its last heartbeat is recent.
    trial = study.ask()
    pid, start = _dead_process()
    for key, value in {"host": HOST, "pid": pid, "pid_start": start}.items():
        trial.set_user_attr(key, value)
    storage.record_heartbeat(trial._trial_id)
    lines = _Lines()

    def objective(trial):
        raise AssertionError("no trial may start: the last one runs elsewhere as far as the count knows")

    # (a bound on the loop, which waits for the heartbeat: two passes of its one-second wait)
    study_module._trials_until_done(setup, study, storage, objective, time.time() + 1.5, lines)
    assert lines.said == [f"waiting up to 20 s for trial 0's heartbeat to go stale (its worker, pid {pid} on {HOST}, "
                          "no longer runs; the database fails a trial 20 s after its last heartbeat, then it is run "
                          "again)"], lines.said
    assert study.get_trials()[0].state == TrialState.RUNNING  # (failed by the heartbeat only, as before)
