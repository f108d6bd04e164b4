"""A reviewer's findings in the report's pictures, round 8: a before-training gradient promised and
not drawn, a clipped colour scale that does not say so, an overall line hiding the per-step one,
the mean guard's predictions hiding the mean and the model, a MASE caption that seasonal naive
itself contradicts, a legend without the shading it shows, a note over the bars, a grid of blank
blocks, the units a gate picture shows, and an ensemble's members drawn five times over."""

from __future__ import annotations

import html
import json
import re

import numpy as np
from matplotlib.lines import Line2D

from rnnlab.introspect import GateActivations
from rnnlab.introspect.gates_file import write_gate_activations
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.introspect.through_time_file import write_grad_through_time
from rnnlab.plots import style
from rnnlab.plots.forecast import BLOCK_COLORS, ForecastLines, plot_forecast
from rnnlab.plots.heatmap import plot_activation_heatmaps
from rnnlab.plots.norms import plot_norm_histograms
from rnnlab.plots.per_step import StepPredictions, plot_step_accuracy
from rnnlab.plots.regression import RegressionPoints, plot_predictions
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json
from rnnlab.tracker import TrackedSeries


def _section(page: str, sid: str) -> str:
    return page.split(f'id="{sid}"')[1].split("</section>")[0]


def _text(part: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", part))


def _entries_without_artist(ax) -> list[str]:
    """The legend entries of ``ax`` whose key is a line or marker while the artist of that label
    draws nothing (no finite point): a promise the picture does not keep. Text-only entries (no
    line, no marker) are notes, not keys."""
    legend = ax.get_legend()
    drawn = {line.get_label(): line for line in ax.get_lines()}
    empty = []
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        if not isinstance(handle, Line2D):
            continue
        keyed = handle.get_linestyle() not in ("None", " ", "") or handle.get_marker() not in ("None", "", " ", None)
        line = drawn.get(text.get_text())
        if keyed and (line is None or not np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()):
            empty.append(text.get_text())
    return empty


def _gtt(module: str, curve: np.ndarray) -> GradThroughTime:
    return GradThroughTime(module, "lstm", 1, ("forward",), {(0, "forward"): curve})


# --- 1. a before-training gradient of 0 at every step -----------------------------------------------


def test_a_before_curve_of_zeros_gets_no_dashed_promise_and_says_why():
    after = 0.9 ** np.arange(20.0)[::-1, None] * np.ones((20, 4))
    ax = plot_grad_through_time(after, before=np.zeros((20, 4))).axes[1]
    assert _entries_without_artist(ax) == []
    assert "dashed" not in ax.get_title()
    ax = plot_grad_through_time(after, before=np.zeros((20, 4)), before_zero_why="the output layer starts at zero").axes[1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "before training: |grad| = 0 at every step (the output layer starts at zero)" in labels


def _forecasting_run(tmp_path, members: int, before_value: float) -> RunDir:
    run = RunDir(tmp_path / "r")
    (tmp_path / "r" / "config.toml").write_text(
        '[task]\nkind = "forecasting"\nseason = 12\n[data]\ndataset = "Airline"\nbptt = 24\n'
        f'[model]\nensemble = {members}\n[model.head]\nzero_init = true\n')
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    rng = np.random.default_rng(0)
    after = {f"model.members.{k}.rnn": _gtt(f"model.members.{k}.rnn", 0.9 ** np.arange(30.0)[::-1, None]
                                           * rng.uniform(0.5, 1.5, (30, 8))) for k in range(members)}
    before = {key: _gtt(key, np.full((30, 8), before_value)) for key in after}
    write_grad_through_time(run, before, step=0, epoch=0, phase="before_training")
    write_grad_through_time(run, after, step=5, epoch=1)
    acts = [GateActivations(f"model.members.{k}.rnn", 0, "forward", "lstm",
                            {g: np.full((2, 30, 8), 0.5 + 0.01 * k) for g in "ifgo"}) for k in range(members)]
    write_gate_activations(run, acts, step=5, epoch=1)
    return run


def test_the_report_says_the_before_curve_is_0_instead_of_promising_a_dashed_line(tmp_path):
    section = _text(_section(render_report(_forecasting_run(tmp_path, 1, 0.0)), "gradient-through-time"))
    assert "The dashed grey line" not in section and "(dashed)" not in section
    assert "is 0 at every step (the output layer starts at zero" in section


# --- 5. an ensemble's members: one figure each for the gradient and the gates -------------------------


def test_an_ensembles_members_share_one_gradient_figure_and_one_gate_figure(tmp_path):
    page = render_report(_forecasting_run(tmp_path, 5, 1e-3))
    gradient, gates = _section(page, "gradient-through-time"), _section(page, "gates")
    assert gradient.count("<img") == 1 and gates.count("<img") == 1
    assert "model.members.0–4.rnn (5 ensemble members)" in _text(gradient)
    said = _text(gates)
    # (the members not drawn: whether any unit is stuck, and how far they are from the one drawn)
    assert "member 0 of 5 drawn; stuck units after training in members 1–4: none" in said
    assert "within 0.04 of member 0's" in said


def test_the_gradient_figure_draws_every_member_and_gives_each_reach():
    curves = [0.9 ** np.arange(30.0)[::-1, None] * np.ones((30, 3)), 0.5 ** np.arange(30.0)[::-1, None] * np.ones((30, 3))]
    fig = plot_grad_through_time(curves[0], members=[(curves[1], None)])
    ax = fig.axes[1]
    drawn = [line for line in ax.get_lines() if np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum() == 30]
    assert len(drawn) == 2  # (each member's curve)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    # (0.5 per step back falls below 0.001 of the last value 10 steps back; 0.9 never within 30)
    assert "reach, members 0–1: all, 10 steps back (of 30)" in labels
    assert _entries_without_artist(ax) == []


# --- 2. the colour floor of the gradient heatmap ----------------------------------------------------------


def test_values_below_the_colour_floor_extend_the_bar_and_are_counted():
    g = 1e-3 ** np.arange(10.0)[::-1, None] * np.ones((10, 4))  # 1e-27 ... 1: 5 steps below 1e-12 × max
    fig = plot_grad_through_time(g)
    image = fig.axes[0].images[0]
    assert image.colorbar.extend == "min"
    assert "every channel at 5 of 10 steps" in fig.axes[0].get_title()
    fig = plot_grad_through_time(0.5 ** np.arange(10.0)[::-1, None] * np.ones((10, 4)))  # none below
    assert fig.axes[0].images[0].colorbar.extend == "neither"
    assert "floor" not in fig.axes[0].get_title()


# --- 3. the overall accuracy under the per-step line -------------------------------------------------------


def test_the_overall_accuracy_line_lies_under_the_per_step_one_and_shows_beside_it():
    actual = np.zeros((4, 50), dtype=np.int64)
    points = StepPredictions("test", "classification", actual, actual.copy(), np.ones((4, 50), dtype=bool),
                             ["a", "b"], True, 4)
    top = plot_step_accuracy(points).axes[0]
    per_step = next(line for line in top.get_lines() if len(line.get_xdata()) == 50)
    overall = next(line for line in top.get_lines() if line is not per_step)
    assert np.allclose(per_step.get_ydata(), 1.0) and np.allclose(overall.get_ydata(), 1.0)
    assert overall.get_zorder() < per_step.get_zorder()
    assert overall.get_linewidth() > per_step.get_linewidth()  # (a band around the line: both show)


# --- 4. a regression under the mean guard -------------------------------------------------------------------


def test_under_the_mean_guard_the_models_own_predictions_show_and_the_mean_line_is_on_top():
    actual = np.linspace(0.0, 1.0, 20)[:, None]
    own = actual * 0.8 + 0.1
    points = RegressionPoints("test", ["y"], actual, np.full_like(actual, 0.4), np.array([0.4]), False, 20, False,
                              own=own)
    fig = plot_predictions(points)
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections]
    assert any(np.allclose(o[:, 1], own[:, 0]) for o in offsets)  # (the model's own, beside the mean)
    mean_line = next(line for line in ax.get_lines() if np.allclose(line.get_ydata(), 0.4))
    assert mean_line.get_zorder() > max(c.get_zorder() for c in ax.collections)
    assert "training mean" in [t.get_text() for t in ax.texts]


def test_a_guarded_regression_run_gives_the_models_own_predictions(tmp_path):
    from rnnlab.config import parse_config
    from rnnlab.plots.regression import regression_points
    from rnnlab.train.trainer import train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 1))
    np.savez(tmp_path / "r.npz", X=X, y=X.sum(axis=(1, 2))[:, None] * 10 + 3)
    cfg = parse_config(f'[task]\nkind = "regression"\n[data]\npath = "{tmp_path}/r.npz"\n[model]\nhidden_size = 4\n'
                       '[training]\nepochs = 1\n[tracking]\nenabled = false')
    run = train(cfg, out=tmp_path / "run", progress=False, log=None).run_dir
    summary = json.loads((run / "summary.json").read_text())
    summary["mean_guard"] = {"kept": False, "baseline": "the training mean"}  # (the guard's decision)
    (run / "summary.json").write_text(json.dumps(summary))
    points = regression_points(run)
    assert np.allclose(points.predicted, points.train_mean)  # (what the run predicts)
    assert points.own is not None and points.own.shape == points.predicted.shape
    assert not np.allclose(points.own, points.train_mean)  # (the model's own: not the mean)


# --- 5. the forecast's legend and the MASE caption ----------------------------------------------------------


def test_every_shaded_block_of_the_forecast_has_a_legend_entry():
    from matplotlib.colors import to_hex

    from rnnlab.data.stream import Bounds

    x = np.arange(20.0)[:, None]
    o = np.arange(14, 19)
    ahead = x[o + 1][:, None]
    lines = ForecastLines("s", 0, 1, ["y"], x, Bounds(10, 15, 20), 1, 4, "naive", True, "test", o,
                          ahead, ahead - 1, ahead - 4, np.array([[20.0]]), None)
    fig = plot_forecast(lines)
    shaded = {to_hex(p.get_facecolor()) for p in fig.axes[0].patches}
    assert to_hex(BLOCK_COLORS["after the end"]) in shaded
    keyed = {to_hex(h.get_color()) for h in fig.legends[0].legend_handles if isinstance(h, Line2D)}
    assert shaded <= keyed


def test_the_mase_caption_compares_with_seasonal_naives_own_figure(tmp_path):
    run = RunDir(tmp_path / "r")
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.2, "val_mase": 1.05})
    baselines = {split: {"naive": {"mase": 0.61 + i}, "seasonal_naive": {"mase": 0.952 + i}}
                 for i, split in enumerate(("train", "val", "test"))}
    atomic_write_json(run.summary, {"epochs": 1, "final": {"val_mase": 1.05}, "train_eval": {"mase": 0.5},
                                    "test": {"mase": 0.65}, "baselines": baselines})
    said = " ".join(_text(_section(render_report(run), "final-metrics")).split())
    assert "below 1 beats that" not in said
    assert "seasonal naive itself does not score 1 but train (eval) 0.952, validation 1.952, test 2.952" in said


# --- 6. per-channel histograms: the note over the bars, the grid -------------------------------------------


def _tracked(names: list[str]) -> dict:
    rng = np.random.default_rng(0)
    # (most channels at the right end: the tallest bars under the note in the upper right corner)
    values = np.stack([np.concatenate([rng.uniform(0.0, 1.0, 10), np.full(50, 0.98)]) for _ in range(3)])
    return {n: {"l2_per_channel": TrackedSeries(np.arange(3), values, np.arange(3.0))} for n in names}


def test_the_mean_note_stays_clear_of_the_bars():
    fig = plot_norm_histograms(_tracked(["w"]), rows=3)
    style.save(fig, None)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        note = next(t for t in ax.texts if t.get_text().startswith("mean"))
        box = note.get_bbox_patch().get_window_extent(renderer)
        bars = ax.patches[0]
        xy = bars.get_transform().transform(bars.get_path().vertices)
        # (each top of a bar, a horizontal edge of the outline, under the note's x range: below its box)
        tops = [max(a[1], b[1]) for a, b in zip(xy, xy[1:])
                if abs(a[1] - b[1]) < 1e-6 and min(a[0], b[0]) < box.x1 and max(a[0], b[0]) > box.x0]
        assert tops and max(tops) < box.y0


def test_four_parameters_leave_no_blank_block():
    fig = plot_norm_histograms(_tracked(["a", "b", "c", "d"]), rows=2, ncols=3)
    assert all(ax.get_visible() for ax in fig.axes)
    assert len(fig.axes) == 8


# --- 7. which units a gate picture shows -----------------------------------------------------------------------


def test_the_gate_picture_names_the_units_it_shows():
    acts = GateActivations("rnn", 0, "forward", "lstm", {g: np.full((1, 5, 32), 0.5) for g in "ifgo"})
    fig = plot_activation_heatmaps(acts, ylabel="hidden unit (0-31 of 64)")
    assert {ax.get_ylabel() for ax in fig.axes if ax.images} == {"hidden unit (0-31 of 64)"}
