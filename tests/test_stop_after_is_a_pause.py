"""`train(stop_after=N)` ends a session before the run's end: a pause, not the end (tester
helper-200: it evaluated the test split, wrote summary.json and judged the run underfit "after 4
optimizer steps", telling the user to train longer). Nothing is evaluated on the test split,
judged or summarized until the run ends; resume=True continues it to the uninterrupted result."""

from __future__ import annotations

import json

import pytest

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 4
seed = 0
[adapt]
shape = false
"""


def test_a_pause_evaluates_judges_and_summarizes_nothing(tmp_path):
    run = tmp_path / "run"
    paused = train(parse_config(CONFIG), out=run, progress=False, log=None, stop_after=2)
    assert paused.paused and paused.epochs == 2 and paused.test is None and not paused.findings
    assert paused.final["epoch"] == 2
    assert RunDir(run).read_summary() is None and (run / "checkpoints" / "last.pt").exists()
    timing = json.loads((run / "timing.json").read_text())
    assert timing["ended"].startswith("paused after epoch 2 (stop_after = 2)")
    done = train(parse_config(CONFIG), out=run, progress=False, log=None, resume=True)
    whole = train(parse_config(CONFIG), out=tmp_path / "whole", progress=False, log=None)
    assert not done.paused and done.test == whole.test and done.epochs == 4


def test_a_stop_after_past_the_runs_end_is_the_end(tmp_path):
    result = train(parse_config(CONFIG), out=tmp_path / "run", progress=False, log=None, stop_after=10)
    assert not result.paused and result.test is not None and RunDir(tmp_path / "run").read_summary() is not None
