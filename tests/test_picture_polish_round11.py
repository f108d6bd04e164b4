"""Three picture defects of the report figures (round 11):

1. A log axis whose view holds 10⁰ (a gradient norm of 0.3 to 3, the through-time curve and its
   colour bar) read ``10⁰``, ``2×10⁰``, ``5×10⁻¹`` where a reader expects 1, 2, 0.5: only the metric
   curves' own panels wrote plain numbers. Every log axis now does where all its labels lie within
   :data:`rnnlab.plots.style.PLAIN_TICKS`, major and minor alike (one style per axis).
2. The weight histograms per gate keyed the gates' colours in each bias panel, over the bars, by
   letter ("i", "f"...), and not at all for a layer without biases: one legend for the figure now,
   by the gates' names, in their colours.
3. A confusion matrix with turned class names kept half a name's level width free right of the
   panel: a wide gap before its colour bar.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb

from rnnlab.gates import GATES
from rnnlab.plots import plot_gate_histograms, style
from rnnlab.plots.confusion import plot_confusion_matrix
from rnnlab.plots.norms import plot_norm_lines
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.tracker import TrackedSeries


def _drawn(axis) -> list[str]:
    """The tick labels ``axis`` draws (in view, not empty), major and minor, after a draw."""
    axis.axes.get_figure().canvas.draw()
    lo, hi = sorted(axis.get_view_interval())
    tol = (hi - lo) * 1e-9
    coord = 0 if axis is axis.axes.xaxis else 1
    return [t.get_text() for t in [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
            if t.get_text() and t.get_visible() and lo - tol <= t.get_position()[coord] <= hi + tol]


def _plain(label: str) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def _powers(label: str) -> bool:
    """``10⁻³``, ``2×10⁻³``: a power of ten as the axis writes it."""
    mantissa, ten, power = label.rpartition("10")
    return bool(ten and power) and set(power) <= set("⁰¹²³⁴⁵⁶⁷⁸⁹⁻") \
        and (mantissa == "" or (mantissa.endswith("×") and _plain(mantissa[:-1])))


def _series(values) -> TrackedSeries:
    steps = np.arange(0, 10 * len(values), 10)
    return TrackedSeries(steps, np.asarray(values, dtype=np.float64), np.full(len(steps), np.nan))


def test_log_axes_near_one_write_plain_numbers_in_one_style_per_axis():
    # the gradient through time of a layer, 0.2 to 40 over the steps: its curve's axis and its colour bar
    T, H = 20, 4
    arr = np.geomspace(0.2, 40.0, T)[:, None] * np.random.default_rng(0).uniform(0.5, 1.5, (T, H))
    fig = plot_grad_through_time(arr)
    line = next(ax for ax in fig.axes if ax.get_yscale() == "log" and ax.get_label() != style.COLORBAR)
    bar = next(ax for ax in fig.axes if ax.get_label() == style.COLORBAR)
    for axis in (line.yaxis, bar.yaxis):
        texts = _drawn(axis)
        assert {"1", "10"} <= set(texts) and all(map(_plain, texts)), texts  # (not 10⁰, 10¹)

    # a report's gradient norms: a panel of 0.3 to 3 (majors and minors), the whole model's 0.16 to
    # 0.27 (evenly spaced minors), a panel of 10⁻⁴ to 2 (powers for all, 10⁰ among them)
    tracked = {"model": {"grad_l2": _series(np.linspace(0.27, 0.16, 6))},
               "rnn.weight_ih_l0": {"grad_l2_mean": _series(np.geomspace(0.3, 1.5, 6)),
                                    "grad_l2_max": _series(np.geomspace(0.6, 3.0, 6))},
               "rnn.weight_hh_l0": {"grad_l2_mean": _series(np.geomspace(1e-4, 0.5, 6)),
                                    "grad_l2_max": _series(np.geomspace(2e-4, 2.0, 6))}}
    fig = plot_norm_lines(tracked, norm="grad_l2")
    panels = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_visible()}
    near_one = _drawn(panels["rnn.weight_ih_l0"].yaxis)
    assert {"0.5", "1", "2"} <= set(near_one) and all(map(_plain, near_one)), near_one
    whole = _drawn(panels["model (all parameters)"].yaxis)
    assert len(whole) >= 3 and all(map(_plain, whole)), whole  # (0.16, 0.18..., not 1.6×10⁻¹)
    assert len({len(t) for t in whole}) == 1, whole  # (as many decimals each: 0.20, not 0.2)
    wide = _drawn(panels["rnn.weight_hh_l0"].yaxis)
    assert "10⁰" in wide and all(map(_powers, wide)), wide


@pytest.mark.parametrize("module", [torch.nn.LSTM(3, 5), torch.nn.GRU(3, 5), torch.nn.GRU(3, 5, bias=False)],
                         ids=["lstm", "gru", "gru without biases"])
def test_the_gate_histograms_have_one_legend_naming_each_gates_colour(module):
    fig = plot_gate_histograms(module)
    fig.canvas.draw()
    kind = type(module).__name__.lower()
    # one key for the figure, none in a panel
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    leg = fig.legends[0]
    assert [t.get_text() for t in leg.get_texts()] == [style.gate_title(g) for g in GATES[kind]]
    # each in its gate's colour, as the heatmaps and the norm figures draw it
    colours = [to_rgb(h.get_facecolor()) for h in leg.legend_handles]
    assert colours == [to_rgb(style.GATE_COLORS[g]) for g in GATES[kind]]
    assert all(to_rgb(ax.patches[0].get_facecolor()) == to_rgb(style.GATE_COLORS[g])
               for ax, g in zip(fig.axes[::2], GATES[kind], strict=False) if ax.patches)
    # under the panels and their labels, inside the figure
    r = fig.canvas.get_renderer()
    box = leg.get_window_extent(r)
    lowest = min(ax.get_tightbbox(r).y0 for ax in fig.axes if ax.get_visible())
    assert 0 <= box.y0 and box.y1 <= lowest and 0 <= box.x0 and box.x1 <= fig.bbox.width


@pytest.mark.parametrize("names", [
    ["walking", "walking_upstairs", "walking_downstairs", "sitting", "standing", "laying"],
    ["sitting", "cycling", "a_very_long_class_name_indeed"],
    ["a_very_long_first_class_name", "bb", "cc"],
])
def test_a_confusion_matrix_with_turned_names_keeps_its_colour_bar_close_and_every_name_whole(names):
    confusion = np.arange(len(names) ** 2).reshape(len(names), -1) % 7
    fig = plot_confusion_matrix(confusion, names, split="test")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax = next(a for a in fig.axes if a.get_label() != style.COLORBAR)
    bar = next(a for a in fig.axes if a.get_label() == style.COLORBAR)
    assert ax.xaxis.get_majorticklabels()[0].get_rotation() == 45  # (the names are turned)
    gap = (bar.get_window_extent(r).x0 - ax.get_window_extent(r).x1) * 72.0 / fig.dpi
    assert gap == pytest.approx(style.COLORBAR_PAD, abs=1.0)  # (was half the longest name's width more)
    # no name cut at the figure's edges, none under the colour bar
    for t in [*ax.get_xticklabels(), *ax.get_yticklabels(), *bar.get_yticklabels()]:
        if t.get_text():
            b = t.get_window_extent(r)
            assert 0 <= b.x0 and b.x1 <= fig.bbox.width and 0 <= b.y0 and b.y1 <= fig.bbox.height, t.get_text()
    assert max(t.get_window_extent(r).x1 for t in ax.get_xticklabels()) < bar.get_window_extent(r).x0


def test_the_norm_histograms_per_gate_have_one_legend_under_the_panels(tmp_path):
    """The per-channel norm histograms keyed the gates in each gated column's first panel, over its
    bars and dashed means: one key for the figure now, under the panels, in the gates' colours."""
    from test_weight_norms_per_gate import _lstm_run

    from rnnlab.plots.norms import plot_norm_histograms

    _lstm_run(tmp_path)  # (a tiny LSTM's weights tracked for 3 steps)
    fig = plot_norm_histograms(tmp_path, per_gate=True, rows=2)
    fig.canvas.draw()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    leg = fig.legends[0]
    assert [t.get_text() for t in leg.get_texts()] == [style.gate_title(g) for g in GATES["lstm"]]
    assert [to_rgb(h.get_facecolor()) for h in leg.legend_handles] == [to_rgb(style.GATE_COLORS[g])
                                                                        for g in GATES["lstm"]]
    r = fig.canvas.get_renderer()
    lowest = min(ax.get_tightbbox(r).y0 for ax in fig.axes if ax.get_visible())
    assert leg.get_window_extent(r).y1 <= lowest
