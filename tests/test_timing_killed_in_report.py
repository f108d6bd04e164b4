"""A `rnnlab train` killed while it draws its report leaves a timing.json that says so (tester
helper-192: it read as a whole session, `report: 0.0` and no end marker); a run that draws its
report leaves no marker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
[adapt]
shape = false
"""


def _ended(run: Path) -> str | None:
    try:
        return json.loads((run / "timing.json").read_text()).get("ended")
    except (OSError, ValueError):
        return None


def test_a_kill_while_the_report_is_drawn_is_recorded(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "train", str(tmp_path / "c.toml"), "--out", str(run),
                             "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and _ended(run) != "killed or still running: drawing " \
                                                                                 "the report":
            time.sleep(0.002)
        assert proc.poll() is None, "the run ended before its report was caught: " + proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    timing = json.loads((run / "timing.json").read_text())
    assert timing["ended"] == "killed or still running: drawing the report" and timing["seconds"]["report"] == 0
    assert (run / "summary.json").exists()  # (the run itself finished)


def test_a_report_drawn_leaves_no_marker(tmp_path):
    from rnnlab.cli import main

    (tmp_path / "c.toml").write_text(CONFIG)
    run = tmp_path / "run"
    # (`rnnlab train` in this process: nothing is killed here, and a process of its own costs a start of torch)
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet"]) == 0
    timing = json.loads((run / "timing.json").read_text())
    assert "ended" not in timing and timing["seconds"]["report"] > 0
