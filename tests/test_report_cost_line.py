"""The report says what the run cost and where it computed (tester helper-192: the page named no
device, precision or computation, and no time): a Cost line in the Configuration section from
timing.json, every session summed."""

from __future__ import annotations

import json
import re

import pytest

from rnnlab.cli import main
from rnnlab.report import render_report

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
dataset = "UnitTest"
[model]
layer = "gru"
layer_norm = true
hidden_size = 4
[training]
epochs = {epochs}
[tracking]
enabled = false
[adapt]
shape = false
"""


def test_the_report_says_the_runs_cost_device_and_computation(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG.format(epochs=1))
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet"]) == 0
    (tmp_path / "c.toml").write_text(CONFIG.format(epochs=2))
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--resume",
                 "--allow-change", "training.epochs"]) == 0
    timing = json.loads((run / "timing.json").read_text())
    total = sum(t["total"] for t in [*timing["earlier_sessions"], timing])
    html = render_report(run)
    line = re.search(r"Cost \(timing.json\): ([0-9.]+) s over 2 sessions on cpu, float32, with the recurrent layer "
                     r"in the autograd reference loop: ([^<]*)\.</p>", html)
    assert line, html[html.find("Cost"):][:300]
    assert float(line.group(1)) == pytest.approx(total, abs=0.051)
    assert re.search(r"(training|set up|report|evaluation) [0-9.]+ s", line.group(2))
