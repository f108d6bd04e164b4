"""The gradient through time before training beside the one after: the trainer keeps the curve the
health check measured on the untrained model in grad_through_time.json, the picture draws it
dashed and grey beside the curve after training, and the report's sentence names both reaches."""

from __future__ import annotations

import json
import re

import matplotlib.colors as mcolors
import numpy as np
import pytest
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab.config import parse_config
from rnnlab.data import load_data
from rnnlab.doctor import diagnose
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.plots import style
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import write_report
from rnnlab.rundir import RunDir
from rnnlab.task import task_for
from rnnlab.train.model import LogitsOnly, build_model
from rnnlab.train.shape_rules import adapt_to_shape
from rnnlab.train.trainer import batching, build_optimizer, doctor_batch, seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

T = 20


def _gtt(per_step: np.ndarray, channels: int = 3, direction: str = "forward") -> GradThroughTime:
    """One layer whose mean over channels is ``per_step`` (time order)."""
    arr = np.repeat(np.asarray(per_step, dtype=np.float64)[:, None], channels, axis=1)
    return GradThroughTime("model.rnn", "lstm", 1, (direction,), {(0, direction): arr})


#: falls below 1e-3 of its last value 10 steps back (0.5 ** 10 < 1e-3 < 0.5 ** 9)
VANISHING = 0.5 ** np.arange(T - 1.0, -1.0, -1.0)
FLAT = np.ones(T)


def _section(html: str) -> str:
    return html.split('<section id="gradient-through-time">')[1].split("</section>")[0]


def test_trainer_keeps_the_curve_the_health_check_measured_before_training(tmp_path):
    # Two bidirectional layers: the reverse direction is stored in time order, checked in processing order.
    cfg = parse_config(tiny_toml(model="num_layers = 2\nbidirectional = true",
                                 training="epochs = 2\nseed = 3\nthreads = 1", after="[tracking]\nhealth = true"))
    run(cfg, tmp_path / "run")
    after, after_meta = read_grad_through_time(tmp_path / "run")
    before, before_meta = read_grad_through_time(tmp_path / "run", phase="before_training")
    assert before_meta["step"] == 0 and after_meta["step"] > 0
    assert set(before) == set(after) == {"model.rnn"}
    assert set(before["model.rnn"].layers) == set(after["model.rnn"].layers) == {
        (0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse")}

    # The same model, data, batch and seed as the trainer's health check, diagnosed here.
    config, _ = adapt_to_shape(cfg)
    seed_everything(config.training.seed)
    task = task_for(config)
    data = load_data(config.data, seed=config.training.seed, task=task)
    model = build_model(config.model, data.channels, task.head_width(data.classes, data.train.y), task.per_step,
                        values=task.values)
    batch = doctor_batch(data.train, batching(config).batch_size, config.tracking.inspect_steps, task)
    report = diagnose(LogitsOnly(model), batch, task.loss_fn(), build_optimizer(model, config.training), steps=5,
                      seed=config.training.seed, remedies="config", classification=not task.values)
    measured = {tg.name: tg.per_step.numpy() for tg in report.through_time}
    assert len(measured) == 4
    for (layer, direction) in before["model.rnn"].layers:
        stored = before["model.rnn"].per_timestep(layer, direction)
        stored = stored[::-1] if direction == "reverse" else stored
        np.testing.assert_allclose(stored, measured[f"'model.rnn' layer {layer} {direction}"], rtol=1e-12)
    # (training moved the curve: the block is the untrained model's, not a copy of the one after)
    assert not np.allclose(before["model.rnn"].per_timestep(0, "forward"), after["model.rnn"].per_timestep(0, "forward"))

    section = _section(write_report(tmp_path / "run").read_text(encoding="utf-8"))
    assert section.count("before training (dashed)") == 4  # one sentence per layer and direction


def test_files_without_the_block_read_and_render_as_before(tmp_path):
    run_dir = RunDir(tmp_path / "old")  # (creates the folder)
    # A file as the writer stored it before the block existed (and as the Lightning callback does).
    old = {"step": 8, "epoch": 2, "modules": [{
        "key": "model.rnn", "module": "model.rnn", "kind": "lstm", "num_layers": 1, "directions": ["forward"],
        "layers": [{"layer": 0, "direction": "forward", "grad": np.repeat(VANISHING[:, None], 3, 1).tolist()}]}]}
    run_dir.grad_through_time.write_text(json.dumps(old), encoding="utf-8")
    gtts, meta = read_grad_through_time(run_dir)
    assert meta == {"step": 8, "epoch": 2}
    np.testing.assert_allclose(gtts["model.rnn"].per_timestep(0, "forward"), VANISHING)
    assert read_grad_through_time(run_dir, phase="before_training") == ({}, {})

    section = _section(write_report(run_dir.path).read_text(encoding="utf-8"))
    assert section.count("<img") == 1
    assert "falls below 0.001 × its value at the last step 10 steps back, of 20" in section
    assert "Gradient reach" not in section and "dashed" not in section
    labels = [line.get_label() for line in plot_grad_through_time(gtts["model.rnn"]).axes[1].lines]
    assert "mean |grad|" in labels and not any("before" in label for label in labels)


def test_the_write_after_training_keeps_the_block_before_it(tmp_path):
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(FLAT)}, step=99, epoch=9)  # an earlier run's
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(VANISHING, 1)}, step=0, epoch=0, cropped=(20, 50),
                            phase="before_training")
    # (the health check starts the file: a curve after training already there is not this run's)
    assert read_grad_through_time(tmp_path)[0] == {}
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(FLAT)}, step=8, epoch=2)
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(FLAT)}, step=16, epoch=4)  # a resumed run's end
    before, meta = read_grad_through_time(tmp_path, phase="before_training")
    assert meta == {"step": 0, "epoch": 0, "cropped": [20, 50]}
    np.testing.assert_allclose(before["model.rnn"].per_timestep(0, "forward"), VANISHING)
    assert read_grad_through_time(tmp_path)[1] == {"step": 16, "epoch": 4}
    with pytest.raises(ValueError, match=r"^phase: expected one of \['after_training', 'before_training'\], "
                                         r"got 'before'"):
        read_grad_through_time(tmp_path, phase="before")


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_the_picture_draws_the_curve_before_training_dashed_and_grey(direction):
    flip = (lambda a: a[::-1]) if direction == "reverse" else (lambda a: a)
    fig = plot_grad_through_time(_gtt(flip(FLAT), direction=direction), direction=direction,
                                 before=_gtt(flip(VANISHING), 1, direction))
    ax_map, ax_line = fig.axes[0], fig.axes[1]
    lines = {line.get_label(): line for line in ax_line.lines}
    then, now = lines["before training (untrained model)"], lines["after training"]
    assert then.get_linestyle() == "--" and now.get_linestyle() == "-"
    r, g, b = mcolors.to_rgb(then.get_color())
    assert r == g == b and 0.3 < r < 0.8  # grey
    assert mcolors.to_rgb(now.get_color()) != (r, g, b)
    np.testing.assert_allclose(then.get_ydata(), flip(VANISHING))
    np.testing.assert_allclose(now.get_ydata(), FLAT)
    # one reach marker per curve, each named by its curve: the one before at 10 steps back
    marker = lines["reach before training: 10 steps back"]
    assert marker.get_xdata()[0] == (10 if direction == "reverse" else T - 1 - 10)
    assert "reach after training: all 20 steps (never below 0.001×)" in lines
    legend = ax_line.get_legend()
    assert legend.get_gid() == style.BELOW  # under the panel, the house way
    texts = [t.get_text() for t in legend.get_texts()]
    assert {"before training (untrained model)", "after training", "reach before training: 10 steps back"} <= set(texts)
    assert len(ax_map.images) == 1 and ax_map.images[0].get_array().shape == (3, T)  # the heatmap: after training


def test_the_report_sentence_names_both_reaches(tmp_path):
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(VANISHING, 1)}, step=0, epoch=0, phase="before_training")
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(FLAT)}, step=8, epoch=2)
    section = _section(write_report(tmp_path).read_text(encoding="utf-8"))
    sentence = re.search(r"<h3>model\.rnn layer 0 forward</h3>\s*<p>(.*?)</p>", section, re.S)[1]
    assert sentence.startswith("After training the gradient reaches back")  # the verdict stays
    assert ("10 of 20 steps back before training (dashed), all 20 steps back after training." in sentence)
    assert "dashed grey line is the curve the health check measured on the untrained model" in section


def test_a_file_with_only_the_block_before_training_says_so(tmp_path):
    write_grad_through_time(tmp_path, {"model.rnn": _gtt(VANISHING, 1)}, step=0, epoch=0, phase="before_training")
    section = _section(write_report(tmp_path).read_text(encoding="utf-8"))
    # (the curve before training is drawn: a killed run keeps it, and it says how far the gradient reached then)
    assert "holds only the curve before training" in section and "<img" in section
