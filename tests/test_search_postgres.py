"""`rnnlab search --storage postgresql://...` against a real PostgreSQL server (tests/pg.py):
two workers share a study, one is SIGKILLed mid-trial, the other finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from rnnlab.cli import main
from rnnlab.errors import SearchError
from rnnlab.search.storage import open_storage
from rnnlab.search.study import SearchOptions, run_search

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState

CONFIG = """
name = "pg"
[data]
dataset = "UnitTest"
[model]
hidden_size = {hidden}
[training]
epochs = {epochs}
batch_size = 8
threads = 1
[tracking]
enabled = false
[search]
trials = {trials}
folds = 2
pruner = "none"
startup_trials = 2
heartbeat = 1
"""


def _search_process(config: Path, url: str, study: str, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--storage", url,
                             "--study", study, "--out", str(out), "--no-final", "--reports", "none", "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_two_machines_one_killed_mid_trial(tmp_path, postgres_url):
    n = 4
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(hidden=6, epochs=12, trials=n))
    # Two "machines": the same command and --study, each with its own study directory.
    a = _search_process(config, postgres_url, "shared", tmp_path / "a")
    b = _search_process(config, postgres_url, "shared", tmp_path / "b")
    storage = open_storage(postgres_url, tmp_path)
    try:
        deadline, victim = time.time() + 90, None
        while time.time() < deadline and victim is None:
            time.sleep(0.2)
            try:
                study = optuna.load_study(study_name="shared", storage=storage)
            except KeyError:
                continue
            for t in study.get_trials(states=(TrialState.RUNNING,)):
                # Mid-trial: A's trial has finished at least one epoch of its first fold.
                if t.user_attrs.get("pid") == a.pid and list((tmp_path / "a" / "trials").glob("*/fold-1/metrics.jsonl")):
                    victim = t
        assert victim is not None, "worker A never ran a trial"
        a.send_signal(signal.SIGKILL)
        a.wait()
        assert b.wait(timeout=180) == 0, b.stderr.read().decode()
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait()
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    # The killed trial was failed by the heartbeat, not left RUNNING.
    assert [t.number for t in by_state[TrialState.FAIL]] == [victim.number]
    assert not by_state[TrialState.RUNNING] and not by_state[TrialState.WAITING]
    # ... and retried once with the same parameters, by the surviving worker.
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == victim.params and retries[0].user_attrs["pid"] == b.pid
    # N finished trials, none counted twice.
    finished = by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED]
    assert len(finished) == n
    assert len({str(sorted(t.params.items())) for t in finished}) == n


def test_study_clash_and_bad_database_in_postgres(tmp_path, postgres_url, capsys):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(hidden=6, epochs=2, trials=1))
    run_search(SearchOptions(str(config), storage=postgres_url, study="clash", out=str(tmp_path / "s"),
                             final=False, reports="none"), log=None)
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.format(hidden=5, epochs=2, trials=1))
    with pytest.raises(SearchError, match=r"study 'clash' was started with another config \(it differs in model.hidden_size\)"):
        run_search(SearchOptions(str(other), storage=postgres_url, study="clash", out=str(tmp_path / "s2"),
                                 final=False), log=None)
    kept = optuna.load_study(study_name="clash", storage=open_storage(postgres_url, tmp_path)).get_trials()
    assert [t.state for t in kept] == [TrialState.COMPLETE]  # nothing of the study lost
    capsys.readouterr()
    missing_db = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    assert main(["search", str(config), "--storage", missing_db, "--out", str(tmp_path / "s3")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot open the database" in err and "no_such_db" in err
