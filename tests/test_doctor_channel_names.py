"""The health check's input-scale finding names a stream's channels by their columns (as the
data name them), in `rnnlab train`'s health.json and in `rnnlab doctor`; by index where the data
name none."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[task]
kind = "forecasting"
horizon = 1
season = 7
relative_to = "none"
[data]
path = "{path}"
bptt = 8
streams = 2
val_steps = 12
test_steps = 12
normalize = "none"
[model]
hidden_size = 4
[training]
steps = 4
seed = 0
[tracking]
grad_through_time = false
weights_every = 0
grads_every = 0
"""


def _stream(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(120)
    load = np.sin(2 * np.pi * t / 7) + 0.1 * rng.standard_normal(120)
    temp = 9000 + 800 * np.cos(2 * np.pi * t / 7)  # (far from unit scale, in the data's units)
    path = tmp_path / "plant.csv"
    path.write_text("load,temp\n" + "".join(f"{a:.4f},{b:.2f}\n" for a, b in zip(load, temp)))
    return path


def _scale_titles(findings):
    return [f["title"] for f in findings if f["title"].startswith("Inputs far from unit scale")]


def test_train_names_the_stream_columns_in_the_input_scale_finding(tmp_path):
    run = tmp_path / "run"
    train(parse_config(CONFIG.format(path=_stream(tmp_path))), out=run, progress=False, log=None)
    health = json.loads((run / "health.json").read_text())
    titles = _scale_titles(health["findings"] if isinstance(health, dict) else health)
    assert len(titles) == 1 and "(temp: 9." in titles[0] and "channel 1" not in titles[0], titles


def test_doctor_names_them_too(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(CONFIG.format(path=_stream(tmp_path)))
    assert main(["doctor", str(tmp_path / "c.toml"), "--steps", "2"]) == 0
    out = capsys.readouterr()
    said = out.out + out.err
    assert "Inputs far from unit scale" in said and "(temp: 9." in said and "channel 1" not in said, said
