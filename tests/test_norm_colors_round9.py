"""The report's weight-norm, histogram, gradient-norm and update-ratio figures (tester, round 9):
each parameter has one colour in all of them, never a gate's; a weight-norm panel's title says how
much its mean changed; the gates' key is one legend for the figure, outside the panels; the
gradient norms are on a log axis, as the metric curves draw them."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from torch import nn

import rnnlab.report as report
from rnnlab.plots import plot_norm_histograms, plot_norm_lines, style
from rnnlab.plots.metrics import RESTORED_COLOR
from rnnlab.rundir import RunDir
from rnnlab.tracker import TrackedGates, TrackedRecords, TrackedSeries, Tracker

GATE_COLORS = set(style.GATE_COLORS.values())
CHANGE = re.compile(r"mean ([+-]\d+(?:\.\d+)?) % since step (\d+)")


class Net(nn.Module):
    """A conv front-end, an LSTM (its rows split per gate) and a linear head: the report's mix."""

    def __init__(self):
        super().__init__()
        self.frontend = nn.Conv1d(1, 4, 3, padding=1)
        self.rnn = nn.LSTM(4, 3, batch_first=True)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        z = self.frontend(x.transpose(1, 2)).transpose(1, 2)
        return self.head(self.rnn(z)[0][:, -1])


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """The run directory of 4 tracked steps, and the figures the report's weight-norm section drew
    (``{norm: figure}``, the histograms as ``"hist"``)."""
    path = tmp_path_factory.mktemp("colors")
    torch.manual_seed(0)
    net = Net()
    x, y = torch.randn(8, 6, 1), torch.randint(0, 2, (8,))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    with Tracker(path, net, weights_every=1, grads_every=1) as tracker:
        for _ in range(4):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            tracker.step(loss, epoch=1)
            opt.step()
    drawn = {}
    lines, hist = report.plot_norm_lines, report.plot_norm_histograms
    mp = pytest.MonkeyPatch()
    mp.setattr(report, "plot_norm_lines", lambda *a, **k: drawn.setdefault(k.get("norm"), lines(*a, **k)))
    mp.setattr(report, "plot_norm_histograms", lambda *a, **k: drawn.setdefault("hist", hist(*a, **k)))
    try:
        report._weight_norms(RunDir(path))
    finally:
        mp.undo()
    assert set(drawn) == {"l2", "hist", "grad_l2", "update_ratio"}
    return path, drawn


def _titled(fig):
    """``{parameter: axes}`` of the panels titled with a parameter's name (its first line)."""
    return {ax.get_title().splitlines()[0]: ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def _colors(ax) -> set[str]:
    """The colours of what a panel draws of its parameter: its histogram's bars (not the mean's
    dashed line), or its lines (not the restored epoch's mark)."""
    if ax.patches:
        return {to_hex(p.get_facecolor(), keep_alpha=False) for p in ax.patches}
    return {to_hex(line.get_color()) for line in ax.lines if not line.get_label().startswith("restored")}


def test_each_parameter_has_one_colour_in_every_figure_and_never_a_gates(figures):
    _, drawn = figures
    seen: dict[str, set[str]] = {}
    gated = 0
    for key, fig in drawn.items():
        for name, ax in _titled(fig).items():
            colors = _colors(ax)
            if key in ("l2", "hist") and name.startswith("rnn."):  # (split per gate: the gates' colours)
                assert colors and colors <= GATE_COLORS, (key, name, colors)
                gated += 1
                continue
            assert len(colors) == 1, (key, name, colors)  # (mean and max of one parameter: one colour)
            seen.setdefault(name, set()).update(colors)
    assert gated >= 3
    # frontend.weight drawn in all four figures, rnn.weight_hh_l0 whole in the gradients' and update ratio's
    assert {"frontend.weight", "rnn.weight_hh_l0", "head.weight", "model (all parameters)"} <= set(seen)
    assert {name: len(c) for name, c in seen.items()} == {name: 1 for name in seen}
    colors = {name: c.pop() for name, c in seen.items()}
    assert not set(colors.values()) & GATE_COLORS, colors
    # one colour a parameter: two parameters of one figure are not drawn alike
    params = [n for n in colors if n != "model (all parameters)"]
    assert len({colors[n] for n in params}) == len(params)


def test_the_weight_norm_titles_give_the_change_computed_from_tracked_jsonl(figures):
    path, drawn = figures
    records = [json.loads(line) for line in (path / "tracked.jsonl").read_text().splitlines()]
    titled = _titled(drawn["l2"])
    assert len(titled) >= 5
    for name, ax in titled.items():
        means = sorted((r["step"], r["value"]) for r in records if r["name"] == name and r["stat"] == "l2_mean")
        (s0, first), (_, last) = means[0], means[-1]
        found = CHANGE.search(ax.get_title())
        assert found, ax.get_title()
        shown, decimals = found.group(1), len(found.group(1).partition(".")[2])
        assert float(shown) == pytest.approx(100 * (last - first) / first, abs=0.51 * 10 ** -decimals)
        assert int(found.group(2)) == s0 == 0
    # (gradients and update ratios: no "since step 0" promise, their first value is noise)
    assert not any("since step" in ax.get_title() for ax in drawn["grad_l2"].axes + drawn["update_ratio"].axes)


def _mean_series(*values: float) -> dict[str, TrackedSeries]:
    steps = np.arange(len(values)) * 10
    v = np.array(values)
    return {"l2_mean": TrackedSeries(steps, v, np.ones(len(v))), "l2_max": TrackedSeries(steps, v * 1.2, np.ones(len(v)))}


def test_a_small_and_a_large_change_read_differently_in_the_title():
    # the tester's numbers: +2.2 % and +257 % looked alike on axes each filling its panel
    tracked = {"frontend.blocks.0.conv.weight": _mean_series(0.5842, 0.59, 0.5969),
               "head.0.weight": _mean_series(0.594, 1.5, 2.122), "head.0.bias": _mean_series(0.0, 0.1, 0.2),
               "w": _mean_series(2.0, 1.0, 1.5)}
    titles = [ax.get_title() for ax in plot_norm_lines(tracked).axes if ax.get_visible()]
    assert titles == ["frontend.blocks.0.conv.weight\nmean +2.2 % since step 0", "head.0.weight\nmean +257 % since step 0",
                      "head.0.bias\nmean 0 → 0.2 since step 0", "w\nmean -25.0 % since step 0"]


def _gated() -> TrackedRecords:
    """An LSTM's recurrent weights (4 gates of 2 channels) and a head, tracked at steps 0..3 of epochs 1, 1, 2, 2."""
    steps, epochs = np.arange(4), np.array([1.0, 1.0, 2.0, 2.0])
    per = np.linspace(0.5, 1.5, 4 * 8).reshape(4, 8)
    rec = {"l2_per_channel": TrackedSeries(steps, per, epochs), "l2_mean": TrackedSeries(steps, per.mean(1), epochs),
           "l2_max": TrackedSeries(steps, per.max(1), epochs)}
    head = {k: TrackedSeries(steps, np.asarray(s.values)[:, :2] if s.values.ndim > 1 else s.values * 2, epochs)
            for k, s in rec.items()}
    return TrackedRecords({"rnn.weight_hh_l0": rec, "head.weight": head},
                          {"rnn.weight_hh_l0": TrackedGates("lstm", "recurrent", ("i", "f", "g", "o"))})


def test_the_gates_key_is_one_legend_of_the_figure_outside_the_panels_with_the_restored_epoch():
    fig = plot_norm_lines(_gated(), per_gate=True, restored=1)
    style.layout(fig)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_legend() for ax in panels] == [None, None]  # (no key over a panel's curves)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "i (input gate)", "f (forget gate)", "g (cell candidate)", "o (output gate)", "restored: epoch 1"]
    keys = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert to_hex(keys["f (forget gate)"].get_color()) == style.GATE_COLORS["f"]
    assert (to_hex(keys["restored: epoch 1"].get_color()), keys["restored: epoch 1"].get_linestyle()) == \
        (to_hex(RESTORED_COLOR), "--")
    assert "mean (solid) and max (dashed)" in fig.get_suptitle()  # (what the two kinds of lines are)
    # every panel still marks the restored epoch (at step 2, the first of epoch 2)
    for ax in panels:
        (mark,) = [line for line in ax.lines if line.get_label() == "restored: epoch 1"]
        assert mark.get_xdata()[0] == 2
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in panels)


def test_gradient_norms_are_on_a_log_axis_that_says_so(figures):
    _, drawn = figures
    panels = [ax for ax in drawn["grad_l2"].axes if ax.get_visible()]
    assert panels[0].get_title() == "model (all parameters)"
    assert all(ax.get_yscale() == "log" for ax in panels)
    assert all("(log)" in ax.get_ylabel() for ax in panels if ax.get_ylabel())
    assert panels[0].get_ylabel()  # (the first column names its axis)


def test_the_histograms_draw_a_parameter_in_its_colour_whatever_the_params_order():
    steps, ep = np.arange(2), np.full(2, np.nan)
    tracked = {n: {"l2_per_channel": TrackedSeries(steps, np.random.default_rng(k).random((2, 6)), ep),
                   "l2_mean": TrackedSeries(steps, np.ones(2), ep), "l2_max": TrackedSeries(steps, np.ones(2), ep)}
               for k, n in enumerate(["a", "b", "c", "d"])}
    one = _titled(plot_norm_histograms(tracked, params=["d", "c"], rows=2))
    other = _titled(plot_norm_histograms(tracked, params=["a", "b", "c", "d"], rows=2))
    lines = _titled(plot_norm_lines(tracked, params=["c", "d"]))
    for name in ("c", "d"):
        assert _colors(one[name]) == _colors(other[name]) == _colors(lines[name])
