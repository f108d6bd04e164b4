"""Weight norms compared and over time (fixer-norms, round 9).

``plot_compare_norms`` (what ``rnnlab compare`` writes as compare_norms.png) draws every tracked
parameter that the runs share, the recurrent layers' weights first, then the other weights and the
biases, at most ``max_panels``, and names in its title what it leaves out; an own cell's weights
share the built-in layer's panels by the gate layout tracked.jsonl recorded; runs with nothing in
common get one line, not an empty figure. The report's norms over time mark the epoch whose weights
early stopping restored, as its metric curves do (same colour, style and legend text).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from tiny_run import run, tiny_toml
from torch import nn

import rnnlab
from rnnlab.config import parse_config
from rnnlab.gates import GateLayout
from rnnlab.plots import plot_compare_norms
from rnnlab.plots.metrics import RESTORED_COLOR, restored_epoch
from rnnlab.rundir import RunDir
from rnnlab.tracker import Tracker, read_tracked

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _tracked(path, norms: dict[str, float], steps=(0, 10, 20)) -> RunDir:
    """A run directory whose tracked.jsonl holds ``l2_mean`` of each parameter, ``start · (1 + step/100)``."""
    rd = RunDir(path)
    for step in steps:
        for name, start in norms.items():
            rd.append(rd.tracked, {"step": step, "name": name, "stat": "l2_mean", "value": start * (1 + step / 100)})
    return rd


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_compare_draws_the_shared_biases_and_head_after_the_recurrent_weights(tmp_path):
    # (the biases first in the file: the panels follow the layer's weights, not the file's order)
    shared = {"rnn.bias_ih_l0": 0.1, "rnn.weight_ih_l0": 0.3, "rnn.weight_hh_l0": 0.6, "head.weight": 0.9,
              "head.bias": 0.05}
    gru = _tracked(tmp_path / "gru", shared)
    lstm = _tracked(tmp_path / "lstm", {**{k: 2 * v for k, v in shared.items()}, "rnn.weight_hr_l0": 0.4})
    fig = plot_compare_norms({"gru": gru, "lstm": lstm})
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "head.weight",
                                                 "rnn.bias_ih_l0", "head.bias"]
    # each panel draws both runs' own curves of its parameter
    bias = panels[3]
    assert [line.get_label() for line in bias.lines] == ["gru", "lstm"]
    np.testing.assert_allclose(bias.lines[1].get_ydata(), [0.2, 0.22, 0.24])
    # the projection only the LSTM tracked compares nothing: named in the title, not a panel of one curve
    assert "tracked by one run only: rnn.weight_hr_l0 (lstm)" in fig.get_suptitle()


class PlainCell(nn.Module):
    """An Elman cell whose weights' names say nothing (``W``, ``U``): its gate layout says what they are."""

    gate_layout = GateLayout("rnn", kernel="W", recurrent="U")

    def __init__(self, i, h):
        super().__init__()
        self.hidden_size = h
        self.W = nn.Parameter(torch.randn(h, i) * 0.3)
        self.U = nn.Parameter(torch.randn(h, h) * 0.3)

    def forward(self, x, h):
        h2 = torch.tanh(x @ self.W.T + h @ self.U.T)
        return h2, h2


class Net(nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def _own_loop(run_dir, net):
    torch.manual_seed(0)
    x, y = torch.randn(8, 5, 1), torch.randint(0, 2, (8,))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    with Tracker(run_dir, net, weights_every=1, grads_every=0) as tracker:
        for _ in range(3):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            tracker.step(loss, epoch=1)
            opt.step()


def test_an_own_cells_weights_share_the_built_in_layers_panels_by_their_tracked_layout(tmp_path):
    _own_loop(tmp_path / "gru", Net(rnnlab.GRU(1, 4, batch_first=True)))
    _own_loop(tmp_path / "plain", Net(rnnlab.Recurrent(PlainCell(1, 4), batch_first=True)))
    # no model at hand (as rnnlab compare has none): tracked.jsonl's gate layout says U is recurrent
    fig = plot_compare_norms({"gru": tmp_path / "gru", "plain": tmp_path / "plain"})
    titles = {ax.get_title().splitlines()[0]: ax for ax in _panels(fig)}
    rec = titles["rnn layer 0: recurrent (hidden→hidden)"]
    assert [line.get_label() for line in rec.lines] == ["gru", "plain"]
    assert "rnn.cell.U: plain" in rec.get_title()
    np.testing.assert_allclose(rec.lines[1].get_ydata(), read_tracked(tmp_path / "plain")["rnn.cell.U"]["l2_mean"].values)
    assert "rnn layer 0: kernel (input→hidden)" in titles and "head.weight" in titles
    # the GRU's biases have no counterpart in the cell: named, not drawn as panels of one curve
    assert not any("bias_ih" in t for t in titles)
    assert "rnn.bias_ih_l0 (gru)" in fig.get_suptitle()


def test_panels_past_the_limit_are_named_in_the_title(tmp_path):
    names = {f"rnn.weight_hh_l{k}": 0.5 + k for k in range(5)}
    fig = plot_compare_norms({"a": _tracked(tmp_path / "a", names)}, max_panels=3)
    assert [ax.get_title() for ax in _panels(fig)] == [f"rnn.weight_hh_l{k}" for k in range(3)]
    assert "2 more for room (rnn.weight_hh_l3, rnn.weight_hh_l4)" in fig.get_suptitle()
    with pytest.raises(ValueError, match=r"max_panels: expected an integer >= 1, got 0"):
        plot_compare_norms({"a": tmp_path / "a"}, max_panels=0)


def test_runs_with_no_tracked_norm_in_common_get_one_line(tmp_path):
    from rnnlab.plots.compare import norm_panels

    a = _tracked(tmp_path / "a", {"head.weight": 1.0})
    b = _tracked(tmp_path / "b", {"rnn.weight_hh_l0": 1.0})
    plan = norm_panels({"a": a, "b": b})
    assert plan.panels == []
    assert plan.why == "no tracked norm ('l2_mean') in common: a tracked head.weight; b tracked rnn.weight_hh_l0"
    fig = plot_compare_norms({"a": a, "b": b})
    (ax,) = fig.axes
    assert not ax.lines and ax.texts[0].get_text().replace("\n", " ") == plan.why


@pytest.fixture(scope="module")
def restored_run(tmp_path_factory):
    """A tiny run that early stopping ends on a restored earlier epoch, its weights tracked every step."""
    out = tmp_path_factory.mktemp("restored") / "run"
    cfg = parse_config(tiny_toml(training="epochs = 12\n[training.early_stopping]\npatience = 2",
                                 after="[tracking]\nweights_every = 1\ngrads_every = 0\nhealth = false\n"
                                       "grad_through_time = false"))
    run(cfg, out)
    epoch = restored_epoch(out)
    assert epoch is not None  # (else nothing to mark: the test would prove nothing)
    return RunDir.existing(out), epoch


def _restored_lines(ax):
    return [line for line in ax.lines if line.get_label().startswith("restored")]


def test_the_reports_weight_norms_mark_the_restored_epoch(restored_run, monkeypatch):
    import rnnlab.report as report

    rd, epoch = restored_run
    drawn = []

    def spy(*args, **kwargs):
        fig = plot_norm_lines(*args, **kwargs)
        drawn.append((kwargs.get("norm"), fig))
        return fig

    plot_norm_lines = report.plot_norm_lines
    monkeypatch.setattr(report, "plot_norm_lines", spy)
    report._weight_norms(rd)
    (fig,) = [f for norm, f in drawn if norm == "l2"]
    # the step where the restored epoch's record ended: the weights early stopping kept
    step = next(r["step"] for r in rd.read_metrics() if r["epoch"] == epoch)
    panels = _panels(fig)
    assert panels
    for ax in panels:
        (line,) = _restored_lines(ax)
        assert line.get_xdata()[0] == step and line.get_color() == RESTORED_COLOR and line.get_linestyle() == "--"
        assert line.get_label() == f"restored: epoch {epoch}"
    # and every legend of the figure says what the grey line is, in the metric curves' words
    (legend,) = fig.legends  # (one for the figure, below its panels)
    assert f"restored: epoch {epoch}" in [t.get_text() for t in legend.get_texts()]


def test_norm_lines_of_a_run_directory_mark_it_as_the_metric_curves_do(restored_run):
    from rnnlab.plots import plot_metrics, plot_norm_lines

    rd, epoch = restored_run
    (mark,) = _restored_lines(plot_metrics(rd, x="step").axes[0])
    fig = plot_norm_lines(rd.path, params=["rnn.weight_hh_l0"])
    (line,) = _restored_lines(fig.axes[0])
    assert (line.get_xdata()[0], line.get_color(), line.get_linestyle(), line.get_linewidth(), line.get_label()) == \
        (mark.get_xdata()[0], mark.get_color(), mark.get_linestyle(), mark.get_linewidth(), mark.get_label())
