"""Round 3 of the search's storage: an interruption uses up no retry of a died worker (journal
file and PostgreSQL), a database that goes down mid-search ends the search in one line (and a
rerun once it is back completes the study), and ``rnnlab study`` of a study in a database with
a password reads it with PGPASSWORD. PostgreSQL is the real server of tests/pg.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from tiny_search import tiny_search_toml

from rnnlab.search.storage import (
    FAILED_ATTR,
    HOST,
    fail_stale,
    open_storage,
    process_identity,
)
from rnnlab.search.study import open_existing

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
TrialState = optuna.trial.TrialState
#: a search space of one key: the study report a finished search draws has one slice panel, not
#: one per key of the default space (none of these tests reads the space)
ONE_KEY = '\n[search.space]\n"model.zoneout" = { low = 0.0, high = 0.2 }'
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the processes")


def _command(config: Path, out: Path, storage: str | None, *args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", str(out), "--no-final", "--quiet",
            *(["--storage", storage] if storage else []), *args]


def _stopped_by_sigint(config: Path, out: Path, storage: str | None, *args: str) -> None:
    """The search, stopped by SIGINT (the user's Ctrl-C) once trial 0 has recorded an epoch."""
    proc = subprocess.Popen(_command(config, out, storage, "--trials", "1", "--workers", "1", *args), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        metrics = out / "trials/0000/fold-1/metrics.jsonl"
        deadline = time.time() + 120  # (a bound on a wait for the file, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and not (metrics.exists() and metrics.stat().st_size):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _dead_process() -> tuple[int, str | None]:
    """The pid and start time of a process that has exited (a worker killed with SIGKILL)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    identity = process_identity(child.pid)
    child.communicate(b"")
    return identity


def _interrupted_then_retry_dies(tmp_path: Path, storage_url: str | None, *args: str):
    """The engineer's sequence: the search stopped once (trial 0, the config itself, interrupted
    and queued again), then the worker running that retry dies. Returns the study and the retry
    that died."""
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(epochs=20, search="trials = 1\nheartbeat = 1" + ONE_KEY))
    out = tmp_path / "s"
    _stopped_by_sigint(config, out, storage_url, *args)
    storage = open_storage(storage_url, out, heartbeat=1)
    s = open_existing(out, storage=storage_url)
    first, retry = s.get_trials()
    assert first.user_attrs[FAILED_ATTR] == "interrupted" and retry.state == TrialState.WAITING
    # A worker takes the retry and dies without a word (SIGKILL).
    s = optuna.load_study(study_name=s.study_name, storage=storage)
    running = s.ask()
    assert running.number == retry.number
    pid, start = _dead_process()
    for key, value in {"host": HOST, "pid": pid, "pid_start": start}.items():
        running.set_user_attr(key, value)
    return config, out, storage, s, running.number


def _died_and_retried(study: optuna.Study, number: int) -> list[optuna.trial.FrozenTrial]:
    trials = study.get_trials()
    died = trials[number]
    assert died.state == TrialState.FAIL and "died" in died.user_attrs[FAILED_ATTR]
    return [t for t in trials if number in t.system_attrs.get("retry_history", [])]


@linux
def test_an_interruption_uses_up_no_retry_of_a_died_worker_journal(tmp_path):
    config, out, storage, study, number = _interrupted_then_retry_dies(tmp_path, None)
    fail_stale(study, storage)  # (what the next search does first)
    retries = _died_and_retried(study, number)
    assert [t.state for t in retries] == [TrialState.WAITING], "the died worker's trial was not retried"
    assert retries[0].params == study.get_trials()[0].params
    # ... once only: its retry dying too is the end of it.
    running = study.ask()
    pid, start = _dead_process()
    for key, value in {"host": HOST, "pid": pid, "pid_start": start}.items():
        running.set_user_attr(key, value)
    fail_stale(study, storage)
    assert not [t for t in study.get_trials() if t.state == TrialState.WAITING]


@linux
def test_an_interruption_uses_up_no_retry_of_a_died_worker_postgres(tmp_path, postgres_url):
    config, out, storage, study, number = _interrupted_then_retry_dies(tmp_path, postgres_url, "--study", "r3died")
    storage.record_heartbeat(study.get_trials()[number]._trial_id)
    while storage._get_stale_trial_ids(study._study_id) == []:  # (the grace period: 2 s)
        time.sleep(0.2)
    fail_stale(study, storage)
    retries = _died_and_retried(study, number)
    assert "no heartbeat" in study.get_trials()[number].user_attrs[FAILED_ATTR]
    assert [t.state for t in retries] == [TrialState.WAITING], "the died worker's trial was not retried"
    assert retries[0].params == study.get_trials()[0].params
    # The search run again gives the config itself its score.
    done = subprocess.run(_command(config, out, postgres_url, "--trials", "1", "--study", "r3died"), env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    retries = _died_and_retried(open_existing(out, storage=postgres_url), number)
    assert [t.state for t in retries] == [TrialState.COMPLETE]


def _server(url: str) -> tuple[list[str], list[str]]:
    """The commands that stop (at once, as a crash does) and start again the test server at ``url``."""
    import psycopg2
    from pg import _as_user, _bin_dir

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        data = Path(cur.fetchone()[0])
    conn.close()
    pg_ctl, port = str(_bin_dir() / "pg_ctl"), url.rsplit(":", 1)[1].split("/")[0]
    stop = _as_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    start = _as_user([pg_ctl, "-D", str(data), "-l", str(data.parent / "log"), "-w", "-o",
                      f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    return stop, start


def test_the_database_going_down_mid_search_ends_it_in_one_line(tmp_path, postgres_url):
    # (trust authentication takes any password: the URL has one, to check that it is masked)
    url = postgres_url.replace("postgres@", "postgres:s3cretpw@", 1)
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(epochs=20, search="trials = 2\nheartbeat = 1" + ONE_KEY))
    out = tmp_path / "s"
    command = _command(config, out, url, "--workers", "2", "--study", "r3down")
    stop, start = _server(postgres_url)
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120  # (a bound on a wait for the file, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and not list(out.glob("trials/*/fold-1/metrics.jsonl")):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        subprocess.run(stop, check=True, capture_output=True)
        try:
            _, err = proc.communicate(timeout=120)
        finally:
            subprocess.run(start, check=True, capture_output=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    masked = url.replace("s3cretpw", "***")
    assert proc.returncode == 1
    assert err.startswith(f"rnnlab search: error: the study's database ({masked}) cannot be reached ("), err
    assert err.count("\n") == 1 and "s3cretpw" not in err and "Traceback" not in err, err
    # What was recorded is kept: the same command continues the study to its end.
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = open_existing(out, storage=url).get_trials()
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) >= 2
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_study_of_a_database_with_a_password_reads_it_with_pgpassword(tmp_path, postgres_url, monkeypatch, capsys):
    import psycopg2
    from pg import _as_user

    from rnnlab.cli import main
    from rnnlab.search.study import SearchOptions, run_search

    # A role that must give its password (the test server trusts every other one), and its database.
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW hba_file")
        hba = Path(cur.fetchone()[0])
    conn.close()
    conn = psycopg2.connect(postgres_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'r3pw'")
        if cur.fetchone() is None:
            cur.execute("CREATE ROLE r3pw LOGIN PASSWORD 'r3-secret'")
            cur.execute("CREATE DATABASE r3pw OWNER r3pw")
        rule = "host all r3pw 127.0.0.1/32 scram-sha-256\n"
        if rule not in hba.read_text():
            # (first: the first matching line decides; the file is the server user's)
            subprocess.run(_as_user(["sh", "-c", f"printf '%s' '{rule}' | cat - {hba} > {hba}.new && "
                                     f"cat {hba}.new > {hba}"]), check=True)
            cur.execute("SELECT pg_reload_conf()")
    conn.close()
    base = postgres_url.rsplit("/", 1)[0].replace("postgres@", "r3pw:{}@", 1) + "/r3pw"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(base.format("wrong")).close()
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(epochs=1, search="trials = 1" + ONE_KEY))
    out = tmp_path / "s"
    run_search(SearchOptions(str(config), storage=base.format("r3-secret"), out=str(out), final=False), log=None)
    capsys.readouterr()
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert main(["study", str(out)]) == 1
    err = capsys.readouterr().err
    assert "or set PGPASSWORD" in err and "r3pw:***@" in err and err.count("\n") == 1, err
    monkeypatch.setenv("PGPASSWORD", "r3-secret")
    assert main(["study", str(out)]) == 0
    assert "1 trials, 1 complete" in capsys.readouterr().out
    monkeypatch.setenv("PGPASSWORD", "not-it")
    assert main(["study", str(out)]) == 1
    err = capsys.readouterr().err
    assert "password authentication failed" in err and "not-it" not in err and err.count("\n") == 1, err
