"""The report's Gates section: the trainer records each gated layer's gate activations on the batch
it inspects (gate_activations.json, before and after training), the record is what the
introspection API computes on that batch with those weights, and report.html draws it per gate for
LSTM and GRU runs, says why for a model without gates and for a run without the file, and escapes
the names it shows."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import torch
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab import GRU
from rnnlab.config import parse_config
from rnnlab.data import load_data
from rnnlab.introspect import GateActivations, gate_activations
from rnnlab.introspect.gates_file import (
    read_gate_activations,
    summarize_gates,
    write_gate_activations,
)
from rnnlab.plots.heatmap import plot_activation_heatmaps
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.task import task_for
from rnnlab.train.model import LogitsOnly, build_model
from rnnlab.train.shape_rules import adapt_to_shape
from rnnlab.train.trainer import batching, doctor_batch, seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _config(layer: str = "lstm"):
    return parse_config(tiny_toml(model=f'layer = "{layer}"', training="epochs = 2\nseed = 3\nthreads = 1",
                                  after="[tracking]\nhealth = true"))


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gates") / "lstm"
    cfg = _config("lstm")
    run(cfg, out)
    return cfg, out


def _section(html: str) -> str:
    return html.split('<section id="gates">')[1].split("</section>")[0]


def _model_and_batch(cfg):
    """The trainer's model (untrained, same seed) and inspected batch, rebuilt here."""
    config, _ = adapt_to_shape(cfg)
    seed_everything(config.training.seed)
    task = task_for(config)
    data = load_data(config.data, seed=config.training.seed, task=task)
    model = build_model(config.model, data.channels, task.head_width(data.classes, data.train.y), task.per_step,
                        values=task.values)
    return model, doctor_batch(data.train, batching(config).batch_size, config.tracking.inspect_steps, task)


def _batch_means(model, batch) -> dict[str, np.ndarray]:
    model.eval()
    (acts,) = gate_activations(LogitsOnly(model), batch)
    return {g: a.mean(axis=0) for g, a in acts.gates.items()}  # [T, H]: the batch's sequences all have T steps


def test_the_record_is_the_introspection_apis_gates_on_the_inspected_batch(lstm_run):
    cfg, out = lstm_run
    model, batch = _model_and_batch(cfg)
    expected_before = _batch_means(model, batch)
    model.load_state_dict(RunDir(out).read_checkpoint()["model"])  # (the weights after the last epoch)
    expected_after = _batch_means(model, batch)

    after, meta = read_gate_activations(out)
    before, before_meta = read_gate_activations(out, phase="before_training")
    assert before_meta["step"] == 0 and meta["step"] > 0 and meta["ungated"] == []
    for record, expected in ((after, expected_after), (before, expected_before)):
        (s,) = record
        assert (s.module, s.layer, s.direction, s.kind, s.hidden_size, s.step_bin) == ("model.rnn", 0, "forward",
                                                                                         "lstm", 6, 1)
        assert list(s.gates) == ["i", "f", "g", "o"]
        for g, a in s.gates.items():
            assert a.shape == expected[g].shape
            np.testing.assert_allclose(a, expected[g], atol=6e-5)  # (stored to 4 decimals)
    # training moved the weights: the two records are not the same numbers
    assert max(np.abs(after[0].gates[g] - before[0].gates[g]).max() for g in "ifgo") > 1e-4


def test_padding_steps_are_left_out_and_long_runs_are_averaged_in_blocks():
    torch.manual_seed(0)
    gru = GRU(2, 40, batch_first=True)
    lengths = torch.tensor([9, 4, 7])

    class Padded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = gru

        def forward(self, x):
            return self.rnn(x, lengths=lengths)

    (acts,) = gate_activations(Padded(), torch.randn(3, 9, 2))
    assert acts.lengths.tolist() == [9, 4, 7]
    (s,), ungated = summarize_gates([acts], max_units=32, max_columns=4)
    assert ungated == [] and s.step_bin == 3 and s.steps == 9 and s.hidden_size == 40
    z = acts.gates["z"][:, :, :32]
    real = np.arange(9)[None, :] < lengths.numpy()[:, None]
    for c in range(3):  # each column: the mean over the real (sequence, step) pairs of its 3 steps
        block = [z[b, t] for b in range(3) for t in range(3 * c, 3 * c + 3) if real[b, t]]
        np.testing.assert_allclose(s.gates["z"][c], np.mean(block, axis=0), rtol=1e-6)


@pytest.mark.parametrize("layer, gates", [("lstm", "ifgo"), ("gru", "rzn")])
def test_report_draws_each_gate_before_and_after_training(layer, gates, lstm_run, tmp_path):
    out = lstm_run[1] if layer == "lstm" else tmp_path / "run"
    if layer != "lstm":
        run(_config(layer), out)
    section = _section(render_report(out))
    assert f"{layer.upper()} model.rnn layer 0 forward: a gate shut (0) or open (1) at every step is stuck" in section
    assert "the top row: the untrained model on the same batch, before training" in section
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', section)
    assert [alt for alt, _ in images] == [f"{layer.upper()} model.rnn layer 0 forward gate activations"]
    assert base64.b64decode(images[0][1])[:4] == b"\x89PNG"
    # the picture: a row before and a row after training, one panel per gate, each gate on its activation's scale
    after, _ = read_gate_activations(out)
    before, _ = read_gate_activations(out, phase="before_training")
    fig = plot_activation_heatmaps(after[0].activations(), before=before[0].activations())
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title().split(" ")[0] for ax in panels] == list(gates) * 2
    assert [ax.get_title().split(", ")[1] for ax in panels] == ["before training"] * len(gates) + \
        ["after training"] * len(gates)
    scales = [(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in panels]
    tanh = {"lstm": "g", "gru": "n"}[layer]
    assert scales == [(-1.0, 1.0) if g == tanh else (0.0, 1.0) for g in gates] * 2
    np.testing.assert_allclose(panels[len(gates)].images[0].get_array(), after[0].gates[gates[0]].T)
    np.testing.assert_allclose(panels[0].images[0].get_array(), before[0].gates[gates[0]].T)


def test_a_model_without_gates_says_why(tmp_path):
    run(_config("indrnn"), tmp_path / "run")
    layers, meta = read_gate_activations(tmp_path / "run")
    assert layers == [] and meta["ungated"] == [{"module": "model.rnn", "kind": "indrnn"}]
    section = _section(render_report(tmp_path / "run"))
    assert "<img" not in section and 'class="problem"' not in section
    assert "recurrent layer model.rnn (IndRNN) has no gates" in section


def test_a_run_without_the_record_still_renders_and_says_why(lstm_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(lstm_run[1], old)
    (old / "gate_activations.json").unlink()  # (a run of an rnnlab before the record)
    html = render_report(old)
    section = _section(html)
    assert "gate_activations.json is missing: this run recorded no gate activations" in section
    assert "<img" not in section and 'class="problem"' not in section
    assert html.count("<img") > 0  # the other sections still draw


def test_names_in_the_section_are_escaped(tmp_path):
    name = '<script>alert("x")</script>&'
    acts = [GateActivations(name, 0, "forward", "gru", {g: np.full((2, 5, 3), 0.5) for g in "rzn"}),
            GateActivations(name + "2", 0, "forward", "indrnn", {"h": np.zeros((2, 5, 3))})]
    write_gate_activations(tmp_path, acts, step=3)
    section = _section(render_report(tmp_path))
    assert "<script>" not in section and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in section
    assert "<img" in section and 'class="problem"' not in section
