"""`rnnlab search` after a kill left Optuna's journal lock behind (a study directory given by a
relative --out), and on a disk that refuses its writes (full, or made read-only mid-run).

Both run the real command in a subprocess: a search that waits for ever on the lock, or a worker
that prints a traceback, is what a user sees there."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from tiny_search import tiny_search_toml

from rnnlab.search.storage import FAILED_ATTR, INTERRUPTED_ATTR, JOURNAL, RETRY_HISTORY, JournalLock
from rnnlab.search.study import SearchOptions, open_existing, run_search

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs, chmod and Optuna's link lock on Linux")
#: a bound on a command that would otherwise hang (the lock's grace period is 30 s), not a timing
HANG = 150
#: a search space of one key (the study report of a search draws a slice panel per key)
ONE_KEY = '[search.space]\n"model.zoneout" = { low = 0.0, high = 0.2 }'


ENV = {**os.environ, "OMP_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT / "src"), os.environ.get("PYTHONPATH")] if p)}


def _search(config: Path, out: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", out, *args],
                          env=ENV, cwd=cwd, capture_output=True, text=True, timeout=HANG)


@linux
def test_a_lock_left_by_a_killed_worker_in_a_moved_study_is_taken_over_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "s.toml"
    # (a space of one key: the study report each search ends with draws one slice panel, not one
    # per key of the default space; the lock is what is tested)
    config.write_text(tiny_search_toml(epochs=1, search='sampler = "random"\n' + ONE_KEY))
    run_search(SearchOptions(config=str(config), trials=1, out="runs/st", final=False), log=None)
    # What a worker killed while it appended leaves: the journal's lock, never released; then the
    # study directory is moved (the link now points nowhere).
    held = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from rnnlab.search.storage import JournalLock; "
        f"JournalLock({str(tmp_path / 'runs/st' / JOURNAL)!r}).acquire(); print('held', flush=True); time.sleep(600)")],
        env=ENV, stdout=subprocess.PIPE, text=True)
    assert held.stdout.readline().strip() == "held"
    held.kill()
    held.wait()
    (tmp_path / "runs/st").rename(tmp_path / "runs/moved")
    link = tmp_path / "runs/moved" / f"{JOURNAL}.lock"
    assert link.is_symlink() and not link.exists()

    started = time.monotonic()
    done = _search(config, "runs/moved", "--trials", "2", "--no-final", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # (the link's holder is known dead: no grace period of 30 s is waited)
    assert time.monotonic() - started < 25, "the search waited out the grace period on a dead worker's lock"
    waiting = [line for line in done.stdout.splitlines() if line.startswith(f"runs/moved/{JOURNAL}.lock: waiting")]
    assert len(waiting) == 1 and "a killed rnnlab worker's lock is taken over after 2 s" in waiting[0], done.stdout
    assert "points nowhere" in waiting[0]
    study = open_existing(tmp_path / "runs/moved")
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
    assert not link.is_symlink()  # taken over, then released after the appends


@linux
def test_optunas_own_lock_pointing_nowhere_is_taken_over_after_the_grace_period(tmp_path, monkeypatch):
    from optuna.storages.journal import JournalFileSymlinkLock

    monkeypatch.chdir(tmp_path)
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / JOURNAL).write_text("")
    # Optuna's lock taken with a relative path (it points nowhere from inside the directory), by a
    # process that keeps no holder record: only the grace period tells it from a live one.
    JournalFileSymlinkLock(f"st/{JOURNAL}").acquire()
    link = tmp_path / "st" / f"{JOURNAL}.lock"
    assert link.is_symlink() and not link.exists()
    lock = JournalLock(tmp_path / "st" / JOURNAL, grace_period=3)
    started = time.monotonic()
    assert lock.acquire()
    assert time.monotonic() - started >= 3  # not before its grace period
    assert link.exists()  # now this lock's link, to the journal by its absolute path
    lock.release()
    assert not link.is_symlink()


@linux
def test_a_live_holders_lock_is_not_taken_over_before_the_grace_period(tmp_path):
    journal = tmp_path / JOURNAL
    journal.write_text("")
    held = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from rnnlab.search.storage import JournalLock; "
        f"JournalLock({str(journal)!r}).acquire(); print('held', flush=True); time.sleep(600)")],
        env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == "held"
        lock = JournalLock(journal, grace_period=3)
        started = time.monotonic()
        lock.acquire()
        assert time.monotonic() - started >= 3  # its holder lives: no early takeover
        lock.release()
    finally:
        held.kill()
        held.wait()


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or made.returncode}): a full disk needs one")


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # the workers say nothing: the command says it once
    return lines[0]


def _lost_and_queued(study: optuna.Study, reason: str) -> list[optuna.trial.FrozenTrial]:
    """The trials recorded as lost to the refused write (``reason`` in their failed_because),
    each queued again: a waiting trial's chain of retries holds it (the other worker may have
    taken the first retry and lost it too, or finished it before the command ended)."""
    trials = study.get_trials()
    lost = [t for t in trials if t.state == TrialState.FAIL and reason in str(t.user_attrs.get(FAILED_ATTR))]
    for t in lost:
        again = [u for u in trials if t.number in u.system_attrs.get(RETRY_HISTORY, [])
                 and u.state in (TrialState.WAITING, *FINISHED)]
        assert t.user_attrs.get(INTERRUPTED_ATTR) is True and again, [
            (u.number, u.state.name, u.user_attrs.get(FAILED_ATTR), u.system_attrs.get(RETRY_HISTORY)) for u in trials]
    return lost


def _run_again(lost: optuna.trial.FrozenTrial, trials: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether a retry of ``lost`` (one whose chain of retries holds it) finished."""
    return any(lost.number in t.system_attrs.get(RETRY_HISTORY, []) and t.state in FINISHED for t in trials)


@linux
@pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs is mounted by root (a non-root user gets the read-only test)")
def test_a_full_disk_under_two_workers_is_one_line_and_the_same_command_continues(tmp_path):
    # A disk smaller than one checkpoint of the model (128 units: 0.8 MB; the space leaves its size
    # alone): the study's own files fit, and every trial's first checkpoint is refused, whatever
    # else is freed meanwhile. (A disk that filled after some trials finished was timing-bound: a
    # worker that finished a trial dropped the checkpoints of the trial lost to the full disk, and
    # on a loaded machine ran its retry to the end in the room so freed before the search, which
    # polls its workers once a second, stopped it: no trial was left queued.)
    config = tmp_path / "s.toml"
    config.write_text(tiny_search_toml(epochs=1, search='sampler = "random"\n[search.space]\n'
                                       '"model.zoneout" = { low = 0.0, high = 0.2 }').replace(
        "hidden_size = 4", "hidden_size = 128"))
    small = tmp_path / "small"
    _mount_tmpfs(small, "512k")
    try:
        command = (config, "small/s2", "--workers", "2", "--trials", "2", "--no-final")
        line = _one_error_line(_search(*command, cwd=tmp_path))
        assert line.startswith("rnnlab search: error: cannot write small/s2/"), line
        assert "(No space left on device)" in line and "the study records " in line, line
        assert "queued again" in line and line.endswith("free space and rerun the same command (it continues the "
                                                        "study)"), line
        lost = _lost_and_queued(open_existing(small / "s2"), "(No space left on device)")
        assert lost, "no trial is recorded as lost to the full disk"
        assert all(str(t.user_attrs[FAILED_ATTR]).startswith("cannot write ") for t in lost)

        subprocess.run(["mount", "-o", "remount,size=64m", str(small)], check=True)  # space freed
        again = _search(*command, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        trials = open_existing(small / "s2").get_trials()
        assert sum(t.state in FINISHED for t in trials) >= 2
        assert all(_run_again(t, trials) for t in lost), [(t.number, t.state, t.system_attrs) for t in trials]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@linux
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a read-only directory all the same (root gets the tmpfs)")
def test_a_study_directory_made_read_only_mid_run_is_one_line_and_the_same_command_continues(tmp_path):
    import time

    config = tmp_path / "s.toml"
    config.write_text(tiny_search_toml(epochs=30, search='sampler = "random"'))
    out = tmp_path / "ro"
    command = [sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", "ro", "--workers", "2",
               "--trials", "4", "--no-final"]
    proc = subprocess.Popen(command, env=ENV, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        metrics = out / "trials/0000/fold-1/metrics.jsonl"
        deadline = time.time() + HANG  # (a bound on the wait for the first epoch, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and not (metrics.exists() and metrics.stat().st_size):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        subprocess.run(["chmod", "-R", "a-w", str(out)], check=True)
        stdout, stderr = proc.communicate(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["chmod", "-R", "u+w", str(out)], check=False)
    line = _one_error_line(subprocess.CompletedProcess(command, proc.returncode, stdout, stderr))
    assert line.startswith("rnnlab search: error: cannot write ") and "(Permission denied)" in line, line
    assert "the study records " in line and line.endswith("make it writable and rerun the same command (it "
                                                          "continues the study)"), line
    # Writable again: the trials it stopped are run again (recorded as lost to it where the journal
    # took the record, else as their workers gone), and the study completes.
    again = subprocess.run(command, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=HANG * 2)
    assert again.returncode == 0, again.stderr
    trials = open_existing(out).get_trials()
    assert sum(t.state in FINISHED for t in trials) >= 4
    lost = [t for t in trials if t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR)]
    assert lost and all(_run_again(t, trials) for t in lost), [(t.number, t.state, t.user_attrs) for t in trials]
