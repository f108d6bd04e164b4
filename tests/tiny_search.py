"""The tiny search several test modules share: the bundled UnitTest data, a 4-unit LSTM, two
folds, no reports; and a search command stopped by SIGINT once its first trial has recorded an
epoch (a real subprocess: the signal lands where a user's Ctrl-C does)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = {epochs}
batch_size = 8
threads = 1
[tracking]
health = false
grad_through_time = false
[search]
folds = 2
reports = "none"
{search}
"""


def tiny_search_toml(epochs: int = 2, search: str = "") -> str:
    """The tiny search config; ``search`` lines join its [search] table (or add tables after it)."""
    return CONFIG.format(epochs=epochs, search=search)


def search_stopped_by_sigint(config: Path, out: Path) -> tuple[int, str]:
    """Run ``rnnlab search CONFIG --trials 1 --workers 1 --out OUT``, send it SIGINT once trial 0
    has recorded an epoch of its first fold, and return its exit code and stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--trials", "1",
                             "--workers", "1", "--out", str(out), "--no-final", "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        metrics = out / "trials/0000/fold-1/metrics.jsonl"
        deadline = time.time() + 120  # (a bound on a wait for the file, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and not (metrics.exists() and metrics.stat().st_size):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode()
