"""The report's pictures of long sequences (a user's round): the gradient through time under a head
that pools over time, and under truncated BPTT (training.stateful_window), and the gate heatmaps'
step axis on runs whose record bins the steps."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.introspect import GateActivations, grad_through_time
from rnnlab.introspect.gates_file import summarize_gates
from rnnlab.introspect.through_time_file import write_grad_through_time
from rnnlab.plots.heatmap import plot_activation_heatmaps
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import _gate_step_axis, _training_cuts, render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, sid
    return html.unescape(re.sub(r"<[^>]+>", " ", m.group(1)))


class _Memoryless(nn.Module):
    """An rnnlab.LSTM with no memory at all (recurrent weights 0, forget gate shut) under a head
    that reads its outputs pooled over time (``pool``) or its last step."""

    def __init__(self, pool: str) -> None:
        super().__init__()
        self.rnn, self.pool = rnnlab.LSTM(3, 16, batch_first=True), pool
        with torch.no_grad():
            self.rnn.weight_hh_l0.zero_()
            self.rnn.bias_ih_l0[16:32] = -1e4  # (f: shut, the cell forgets at every step)
            self.rnn.bias_hh_l0[16:32] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return out.mean(1) if self.pool == "mean" else out[:, -1]


def _memoryless_curve(pool: str, steps: int = 300) -> dict:
    torch.manual_seed(0)
    x = torch.randn(4, steps, 3)
    return grad_through_time(_Memoryless(pool), x, lambda out: out.pow(2).sum())


def _run(root: Path, model: str, training: str, gtt: dict, cropped: tuple[int, int] | None = None) -> RunDir:
    """A run of the bundled UnitTest data with ``model`` and ``training`` lines in config.toml
    and ``gtt`` as its gradient through time after training (no checkpoint: config.toml is the
    config the report reads)."""
    run = RunDir(root)
    atomic_write_text(run.config, f'[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 16\n{model}\n'
                                  f"[training]\n{training}\n")
    atomic_write_json(run.adapt, {"shape": {"shape": {"length": cropped[1] if cropped else None}}, "budget": {}})
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    write_grad_through_time(run, gtt, step=5, epoch=1, cropped=cropped)
    return run


@pytest.fixture(scope="module")
def last_step_section(tmp_path_factory) -> str:
    """The gradient-through-time section of the memoryless layer under a head on the last step:
    the same for every case below, drawn once."""
    last = _run(tmp_path_factory.mktemp("last") / "last", "", "", _memoryless_curve("last"))
    return " ".join(_section(render_report(last), "gradient-through-time").split())


@pytest.mark.parametrize("pooling", ["mean", "max", "mean_max"])
def test_a_head_pooling_over_time_says_the_reach_says_nothing_of_memory(tmp_path, pooling, last_step_section):
    gtt = _memoryless_curve("mean")  # (the trainer follows such a head's whole loss)
    run = _run(tmp_path / "r", f'[model.head]\npooling = "{pooling}"', "", gtt)
    section = " ".join(_section(render_report(run), "gradient-through-time").split())
    # The layer has no memory, yet the pooled loss's gradient reaches every step: the report must
    # not leave "reaches back" standing as a statement about memory.
    assert "After training the gradient reaches back" in section
    assert f'model.head.pooling = "{pooling}"): this reach says nothing of the layer\'s memory' in section
    assert "reads every step through the head's" in section
    # The same layer under a head on the last step: its reach is its memory (none), said as such.
    section = last_step_section
    assert "says nothing of the layer's memory" not in section and "reads every step" not in section
    assert "vanishes" in section


def test_truncated_bptt_is_marked_where_training_cuts_the_gradient(tmp_path):
    gtt = _memoryless_curve("mean")
    run = _run(tmp_path / "r", "", "stateful_window = 100", gtt, cropped=(300, 1000))
    section = " ".join(_section(render_report(run), "gradient-through-time").split())
    assert "Training cuts the gradient every 100 steps (training.stateful_window = 100" in section
    assert "the 2 dotted lines" in section
    said, cuts = _training_cuts(run, 300, (300, 1000))
    assert cuts == [99.5, 199.5]  # (between step 99 and 100, 199 and 200: the windows' edges)
    fig = plot_grad_through_time(gtt["rnn"], cuts=cuts)
    drawn = [float(line.get_xdata()[0]) for line in fig.axes[1].lines if line.get_linestyle() == ":"
             and len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]]
    assert drawn == cuts
    legend = [t.get_text() for leg in [*fig.legends, fig.axes[1].get_legend()] if leg for t in leg.get_texts()]
    assert any("training cuts the gradient" in t for t in legend)


def test_truncated_bptt_counts_a_front_ends_input_steps(tmp_path):
    gtt = _memoryless_curve("mean", steps=250)
    front = "[[model.frontend.blocks]]\nchannels = 4\nkernel_size = 3\npool = 16"
    run = _run(tmp_path / "r", front, "stateful_window = 1000", gtt, cropped=(4000, 4000))
    said, cuts = _training_cuts(run, 250, (4000, 4000))
    assert cuts == [62.0, 124.5, 187.0]  # (input steps 1000, 2000, 3000 of 4000, pooled ×16)
    assert "every 1000 input steps (62.5 recurrent; training.stateful_window = 1000" in said
    # A window as long as the series cuts nothing: nothing to say.
    plain = _run(tmp_path / "p", "", "stateful_window = 1000", gtt, cropped=(250, 1000))
    assert _training_cuts(plain, 250, (250, 1000)) is None


def test_gate_heatmaps_of_binned_steps_tick_in_steps_and_labels_keep_apart():
    acts = GateActivations("model.rnn", 0, "forward", "lstm",
                           {g: np.random.default_rng(0).uniform(size=(2, 4096, 8)) for g in "ifgo"})
    s = summarize_gates([acts])[0][0]
    assert s.step_bin == 16
    fig = plot_activation_heatmaps(s.activations(), before=s.activations(), step_bin=s.step_bin,
                                   xlabel=_gate_step_axis(s.step_bin))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.images and ax.get_xlabel()]
    assert len(panels) == 8
    for ax in panels:
        lo, hi = ax.get_xlim()
        assert lo == -0.5 and hi == 4095.5  # (steps, not the 256 columns)
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert max(ticks) >= 3000
        labels = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()
                  and lo <= t.get_position()[0] <= hi]
        assert all(a.x1 < b.x0 for a, b in zip(labels, labels[1:], strict=False))
    boxes = [ax.xaxis.label.get_window_extent(renderer) for ax in panels]
    for k, a in enumerate(boxes):  # (each label within its panel's row, none over another)
        assert not any(a.overlaps(b) for b in boxes[k + 1:]), [ax.get_xlabel() for ax in panels]
