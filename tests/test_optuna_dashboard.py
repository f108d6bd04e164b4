"""Studies opened by optuna-dashboard itself on a local port, its API listing the study and its
trials: one in rnnlab's journal file, and one that `rnnlab search` keeps in a throwaway
PostgreSQL server (tests/pg.py). docs/search.md gives the commands."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
from pg import postgres_url  # noqa: F401  (the fixture)

from rnnlab.search.storage import JOURNAL, open_storage

pytest.importorskip("optuna_dashboard")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, deadline: float) -> dict:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # (the server is still starting: a refused connection costs nothing)


@contextmanager
def _dashboard(storage: str) -> Iterator[str]:
    """``optuna-dashboard STORAGE`` on a free local port, as a user starts it; yields its URL."""
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    argv = [command] if command else [sys.executable, "-m", "optuna_dashboard"]
    port = _free_port()
    server = subprocess.Popen([*argv, storage, "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _trials_seen(url: str, study: optuna.Study) -> list[dict]:
    """The study's trials as the dashboard's API gives them (the study found by name)."""
    deadline = time.monotonic() + 90
    summaries = _get(f"{url}/api/studies", deadline)["study_summaries"]
    ids = [s["study_id"] for s in summaries if s["study_name"] == study.study_name]
    assert len(ids) == 1, [s["study_name"] for s in summaries]
    return _get(f"{url}/api/studies/{ids[0]}", deadline)["trials"]


def test_the_dashboard_opens_a_journal_study(tmp_path):
    storage = open_storage(None, tmp_path)  # what `rnnlab search` opens without --storage
    study = optuna.create_study(storage=storage, study_name="GunPoint-lstm-search", direction="maximize")
    study.optimize(lambda t: t.suggest_float("model.zoneout", 0.0, 0.5), n_trials=3)
    journal = Path(tmp_path) / JOURNAL
    assert journal.exists()
    with _dashboard(str(journal)) as url:
        trials = _trials_seen(url, study)
    assert len(trials) == 3
    assert sorted(t["values"][0] for t in trials) == pytest.approx(sorted(t.value for t in study.trials))


SEARCH = """
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
threads = 1
[tracking]
enabled = false
[search]
trials = 2
folds = 1
pruner = "none"
startup_trials = 2
[search.space]
"model.zoneout" = { low = 0.0, high = 0.3 }
"""


def test_the_dashboard_opens_an_rnnlab_search_in_postgres(tmp_path, postgres_url):  # noqa: F811
    from rnnlab.search.study import SearchOptions, run_search

    config = tmp_path / "c.toml"
    config.write_text(SEARCH)
    run_search(SearchOptions(str(config), storage=postgres_url, study="dash", out=str(tmp_path / "s"), final=False,
                             reports="none"), log=None)
    study = optuna.load_study(study_name="dash", storage=open_storage(postgres_url, tmp_path))
    # The command docs/search.md gives: the URL with the psycopg2 driver named.
    with _dashboard(postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1)) as url:
        trials = _trials_seen(url, study)
    assert len(trials) == 2 and all(t["state"] == "Complete" for t in trials)
    assert sorted(t["values"][0] for t in trials) == pytest.approx(sorted(t.value for t in study.trials))
    assert sorted(t["params"][0]["name"] for t in trials) == ["model.zoneout", "model.zoneout"]
