"""A study in rnnlab's journal file, opened by optuna-dashboard itself on a local port: its API
lists the study and its trials (docs/search.md gives the command)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

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
            time.sleep(0.5)


def test_the_dashboard_opens_a_journal_study(tmp_path):
    storage = open_storage(None, tmp_path)  # what `rnnlab search` opens without --storage
    study = optuna.create_study(storage=storage, study_name="GunPoint-lstm-search", direction="maximize")
    study.optimize(lambda t: t.suggest_float("model.zoneout", 0.0, 0.5), n_trials=3)
    journal = Path(tmp_path) / JOURNAL
    assert journal.exists()

    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    argv = [command] if command else [sys.executable, "-m", "optuna_dashboard"]
    port = _free_port()
    server = subprocess.Popen([*argv, str(journal), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        summaries = _get(f"http://127.0.0.1:{port}/api/studies", deadline)["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["GunPoint-lstm-search"]
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{summaries[0]['study_id']}", deadline)
        assert len(detail["trials"]) == 3
        values = sorted(t["values"][0] for t in detail["trials"])
        assert values == pytest.approx(sorted(t.value for t in study.trials))
    finally:
        server.terminate()
        server.wait(timeout=30)
