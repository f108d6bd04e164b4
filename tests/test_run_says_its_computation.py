"""A run says which computation runs its recurrent layer (tester helper-192: a GRU with layer norm
ran the autograd reference loop, several times the fast loop's time, and nothing said so): a start
line naming it in training and evaluation, and what keeps the fast loop out; timing.json records
it beside the device and the precision."""

from __future__ import annotations

import json

import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.layers.computation import computation_said

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
dataset = "UnitTest"
[model]
{model}
hidden_size = 8
[training]
epochs = 1
[tracking]
enabled = false
[adapt]
shape = false
"""


@pytest.mark.parametrize(("model", "line", "recorded"), [
    ('layer = "gru"\nlayer_norm = true', "recurrent layer: the autograd reference loop (no fast loop computes "
     "layer_norm on a GRU)", {"training": "autograd", "evaluation": "autograd"}),
    ('layer = "lstm"\nrecurrent_dropout = 0.2', "recurrent layer: rnnlab's fast loop in training, torch's fused "
     "kernel in evaluation", {"training": "fast", "evaluation": "torch"}),
    ('layer = "lstm"', "recurrent layer: torch's fused kernel", {"training": "torch", "evaluation": "torch"}),
])
def test_a_run_names_its_layers_computation(tmp_path, capsys, model, line, recorded):
    (tmp_path / "c.toml").write_text(CONFIG.format(model=model))
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out.splitlines()
    assert line in said, said[:4]
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    assert timing["computation"] == recorded and timing["precision"] == "32"


def test_the_words_name_what_keeps_the_fast_loop_out():
    lstm = rnnlab.LSTM(3, 4, activation="relu", layer_norm=True)
    assert computation_said(lstm.options, lstm.spec) == ("the autograd reference loop (no fast loop computes "
                                                         "activation='relu', recurrent_activation='sigmoid' on an LSTM)")
    forced = rnnlab.LSTM(3, 4, implementation="autograd")
    assert computation_said(forced.options, forced.spec) == 'the autograd reference loop (implementation = "autograd")'
