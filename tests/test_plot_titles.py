"""Titles holding long names (runs, layers, parameters, files, targets) lie inside their figure,
whole, for every figure of rnnlab.plots: fitted once where every figure is laid out (style.layout,
called by style.save), no longer by the heatmaps only."""

import numpy as np
import pytest
import torch

from rnnlab import plots
from rnnlab.data.stream import Bounds
from rnnlab.introspect import GradThroughTime
from rnnlab.plots import style
from rnnlab.plots.forecast import ForecastLines, plot_forecast
from rnnlab.plots.regression import RegressionPoints, plot_predictions
from rnnlab.rundir import RunDir, append_jsonl
from rnnlab.tracker import TrackedSeries

#: 60 characters with no space: no line break can make it narrower.
RUN = "sweep_2024_11_03_lstm_hidden256_dropout0.3_wdrop0.5_seed1_v2"
PARAM = "model.encoder.bidirectional_rnn_stack.layers.0.weight_hh_l0"
LAYER = "model.encoder.rnn layer 0 reverse"
FILE = "electricity_consumption_hourly_households_2011_2014_clean.csv"


def titles(fig):
    """The figure's suptitle and its visible panels' titles, as Text objects."""
    out = [fig._suptitle] if fig.get_suptitle() else []
    return out + [ax.title for ax in fig.axes if ax.get_visible() and ax.get_title()]


def outside(fig):
    """The titles (and figure legends) that reach past the figure's edges, on the figure's own
    renderer and on the PNGs' resolution."""
    bad = []
    for dpi in (fig.dpi, style.DPI):
        fig.set_dpi(dpi)
        renderer = fig.canvas.get_renderer()
        for t in titles(fig) + list(fig.legends):
            box = t.get_window_extent(renderer)
            if box.x0 < 0 or box.x1 > fig.bbox.width or box.y0 < 0 or box.y1 > fig.bbox.height:
                bad.append(f"{t.get_text() if hasattr(t, 'get_text') else 'legend'!r} at {dpi} dpi: "
                           f"{box.x0:.0f}..{box.x1:.0f} of {fig.bbox.width:.0f}")
    fig.set_dpi(100)
    return bad


def whole(text, name):
    """``name`` is in ``text`` on one line (wrapping broke at spaces only)."""
    return any(name in line for line in text.split("\n"))


def records(keys=("train_loss", "val_loss", "train_acc", "val_acc", "lr", "grad_norm")):
    return [{"epoch": e, **{k: 1.0 / e for k in keys}} for e in range(1, 6)]


def tracked(names):
    steps, epochs = np.arange(6) * 10, np.arange(6) / 2.0
    out = {}
    for k, name in enumerate(names):
        per = 1 + np.outer(np.linspace(0, 1, 6), np.random.default_rng(k).random(8))
        out[name] = {"l2_per_channel": TrackedSeries(steps, per, epochs),
                     "l2_mean": TrackedSeries(steps, per.mean(1), epochs),
                     "l2_max": TrackedSeries(steps, per.max(1), epochs)}
    return out


def one_run(tmp_path, keys):
    run = RunDir(tmp_path / RUN)
    for r in records(keys):
        append_jsonl(run.metrics, r)
    return run.path


def forecast_lines(name):
    x = np.arange(40.0)[:, None]
    o = np.arange(34, 39)
    ahead = x[o + 1][:, None, :]
    return ForecastLines(name, 0, 3, ["y"], x, Bounds(30, 35, 40), 1, 4, "naive", True, "test", o,
                         ahead, ahead - 1, ahead - 4, np.array([[40.0]]), None)


def predictions(names):
    actual = np.random.default_rng(0).random((30, len(names)))
    return RegressionPoints("test", names, actual, actual + 0.1, actual.mean(0), False, 30, True)


def through_time(module):
    g = {(0, d): np.random.default_rng(0).random((20, 4)) + 0.1 for d in ("forward", "reverse")}
    return GradThroughTime(module, "lstm", 1, ("forward", "reverse"), g)


# Each: a figure whose title (given, or made from a name) holds a long name, and that name.
# Cut on the code before: all but the heatmaps (fitted there already), the 9-inch forecast of a
# 60-character file name and the through-time picture of a 60-character module name (they fit).
FIGURES = {
    "metrics of a one-panel run directory": (lambda p: plots.plot_metrics(one_run(p, ["train_loss"])), RUN),
    "metrics with a title": (lambda p: plots.plot_metrics(records(["train_loss"]), title=f"metrics of {RUN}"), RUN),
    "metrics with nothing recorded": (lambda p: plots.plot_metrics([], title=f"{RUN} against {RUN}"), RUN),
    "compare metrics": (lambda p: plots.plot_compare_metrics({RUN: records(), "b": records()}, metrics=["val_loss"],
                                                            title=f"{RUN} against b"), RUN),
    "compare norms' parameter panels": (lambda p: plots.plot_compare_norms({"a": tracked([PARAM]), "b": tracked([PARAM])}),
                                        PARAM),
    "norm histograms": (lambda p: plots.plot_norm_histograms(tracked([PARAM + "_a", PARAM + "_b", PARAM + "_c"]), rows=2),
                        PARAM + "_b"),
    "norm lines of one parameter": (lambda p: plots.plot_norm_lines(tracked([PARAM]), title=f"norms of {RUN}"), RUN),
    "norm lines of three parameters": (lambda p: plots.plot_norm_lines(tracked([PARAM + "_a", PARAM + "_b", PARAM + "_c"])),
                                       PARAM + "_c"),
    "gate histograms": (lambda p: plots.plot_gate_histograms(torch.nn.GRU(2, 4), title=f"{RUN}: {LAYER} weights per gate"),
                        RUN),
    "gradient through time with a title": (lambda p: plots.plot_grad_through_time(
        np.random.default_rng(0).random((20, 4)) + 0.1, title=f"{RUN} {LAYER}: |dLoss/dh_t| per timestep of {RUN}"), RUN),
    "gradient through time of a module": (lambda p: plots.plot_grad_through_time(through_time(PARAM), direction="reverse"),
                                          PARAM),
    "forecast of a file": (lambda p: plot_forecast(forecast_lines(FILE)), FILE),
    "forecast with a title": (lambda p: plot_forecast(forecast_lines(FILE), title=f"{FILE} forecast by {RUN}"), RUN),
    "predictions of one target": (lambda p: plot_predictions(predictions([PARAM])), PARAM),
    "predictions with a title": (lambda p: plot_predictions(predictions([PARAM, "b"]), title=f"predicted against actual for {RUN}"),
                                 RUN),
    "weight heatmaps": (lambda p: plots.plot_weight_heatmaps(torch.nn.GRU(2, 3), title=f"{RUN}: {LAYER}"), RUN),
    "empty figure": (lambda p: style.empty_figure("nothing", f"{RUN} and {RUN}", None), RUN),
}


@pytest.mark.parametrize("case", list(FIGURES))
def test_a_long_name_leaves_every_title_inside_the_figure_whole(case, tmp_path):
    make, name = FIGURES[case]
    fig = make(tmp_path)
    assert outside(fig) == []
    assert any(whole(t.get_text(), name) for t in titles(fig)), [t.get_text() for t in titles(fig)]


def test_neighbouring_panel_titles_do_not_overlap():
    fig = plots.plot_norm_lines(tracked([PARAM + "_a", PARAM + "_b", PARAM + "_c"]))
    renderer = fig.canvas.get_renderer()
    boxes = sorted((ax.title.get_window_extent(renderer) for ax in fig.axes), key=lambda b: b.x0)
    assert [(a.x1 <= b.x0) for a, b in zip(boxes, boxes[1:])] == [True, True]


def test_a_title_wraps_at_spaces_and_its_panel_keeps_its_height():
    words = f"metrics of {LAYER} in {RUN} (best of 12 trials, 3 seeds each, 40 epochs)"
    short = plots.plot_metrics(records(["train_loss"]), title="metrics")
    fig = plots.plot_metrics(records(["train_loss"]), title=words)
    assert outside(fig) == []
    assert fig.get_suptitle().count("\n") >= 1 and fig.get_suptitle().replace("\n", " ") == words
    height = [f.axes[0].get_position().height * f.get_figheight() for f in (short, fig)]
    assert height[1] == pytest.approx(height[0], abs=0.02)  # (the figure grew by the lines instead)


def test_saving_again_keeps_the_fitted_titles_and_size(tmp_path):
    fig = plots.plot_norm_lines(tracked([PARAM]), title=f"norms of {LAYER} in {RUN}")
    first = (fig.get_size_inches().tolist(), [t.get_text() for t in titles(fig)])
    style.save(fig, tmp_path / "again.png")
    assert (fig.get_size_inches().tolist(), [t.get_text() for t in titles(fig)]) == first
    assert outside(fig) == []


def test_a_long_run_name_in_the_compare_legend_lies_inside_the_figure():
    fig = plots.plot_compare_metrics({RUN + "_" + RUN: records(), "b": records()}, metrics=["val_loss"])
    assert outside(fig) == []
