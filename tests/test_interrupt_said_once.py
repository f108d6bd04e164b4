"""Ctrl-C during ``rnnlab train`` (not --quiet) says where the run stands once, on a line of its
own (a user's report: the trainer's line and the command's said it twice, the first glued to the
last epoch's line). A real process and a real SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_bad_inputs import config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[1]


def test_an_interrupted_train_says_so_once_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(config(training="").replace("epochs = 2", "epochs = 100000"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab", "train", "c.toml", "--out", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # (until a few epochs are recorded)
            lines.append(line)
            if re.match(r"epoch +5/", line) or time.monotonic() > deadline:  # (the width follows the epochs' digits)
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    said = [line for line in out.splitlines() if "interrupted by SIGINT" in line]
    assert proc.returncode == 130, out[-2000:]
    assert len(said) == 1 and said[0].startswith("rnnlab train: interrupted by SIGINT during epoch"), said
