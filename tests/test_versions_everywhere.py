"""The rnnlab, torch and Python a run's figures came from are recorded wherever its figures are:
timing.json (each session's seconds, earlier sessions kept with their own), a study's study.json,
and the report's Configuration section (which also names a resume that ran on other versions)."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.report import render_report
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
path = "{train}"
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = {epochs}
batch_size = 8
seed = 0
[tracking]
enabled = false
[adapt]
shape = false
[search]
folds = 2
"""


def mine() -> dict[str, str]:
    return {"rnnlab": rnnlab.__version__, "torch": str(torch.__version__), "python": platform.python_version()}


def _data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 10, 1)).astype("float32")
    np.savez(tmp_path / "train.npz", X=X, y=np.repeat([0, 1], 12))
    return tmp_path / "train.npz"


def test_timing_json_records_each_sessions_versions(tmp_path):
    data = _data(tmp_path)
    run = tmp_path / "run"
    train(parse_config(CONFIG.format(train=data, epochs=2)), out=run, progress=False, log=None, stop_after=1)
    assert json.loads((run / "timing.json").read_text())["versions"] == mine()
    # a session of another rnnlab before this one keeps its own record
    timing = json.loads((run / "timing.json").read_text())
    (run / "timing.json").write_text(json.dumps({**timing, "versions": {"rnnlab": "0.0.9", "torch": "2.0",
                                                                         "python": "3.10.1"}}))
    train(parse_config(CONFIG.format(train=data, epochs=2)), out=run, progress=False, log=None, resume=True)
    again = json.loads((run / "timing.json").read_text())
    assert again["versions"] == mine()
    assert again["earlier_sessions"][-1]["versions"]["rnnlab"] == "0.0.9"


def test_the_report_names_the_versions_and_a_resume_on_others(tmp_path):
    data = _data(tmp_path)
    run = tmp_path / "run"
    train(parse_config(CONFIG.format(train=data, epochs=2)), out=run, progress=False, log=None, stop_after=1)
    train(parse_config(CONFIG.format(train=data, epochs=2)), out=run, progress=False, log=None, resume=True)
    mine_text = f"rnnlab {rnnlab.__version__}, torch {torch.__version__}, Python {platform.python_version()}"
    html = render_report(run)
    assert f"The run's last session ran on {mine_text} (summary.json)." in html
    # a resume recorded on other versions is named
    resumes = run / "resumes.jsonl"
    line = json.loads(resumes.read_text().splitlines()[-1])
    line["versions"] = {"rnnlab": "0.0.9", "torch": "2.0", "python": "3.10.1"}
    resumes.write_text(json.dumps(line) + "\n")
    html = render_report(run)
    assert f"ran on {mine_text} (summary.json); resumed after epoch 1 with rnnlab 0.0.9, torch 2.0, Python 3.10.1." \
        in html, html[html.find("last session"):][:300]
    # a run whose summary recorded none (an older rnnlab) says nothing of versions
    summary = json.loads((run / "summary.json").read_text())
    del summary["versions"]
    (run / "summary.json").write_text(json.dumps(summary))
    assert "last session ran on" not in render_report(run)


def test_study_json_records_the_versions(tmp_path):
    data = _data(tmp_path)
    (tmp_path / "c.toml").write_text(CONFIG.format(train=data, epochs=1))
    # (no final run, no trial's report: study.json alone is read)
    assert main(["search", str(tmp_path / "c.toml"), "--trials", "1", "--out", str(tmp_path / "study"), "--no-final",
                 "--reports", "none"]) == 0
    assert json.loads((tmp_path / "study" / "study.json").read_text())["versions"] == mine()
