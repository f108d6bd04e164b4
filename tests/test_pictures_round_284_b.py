"""Pictures of round 284 (b): a recipe step's weight-norm and gradient-through-time figures colour
each candidate by its outcome, as the fold-score figure's key says (runs of one colour told apart by
line style); the gradient through time floors the curve before training at the same number as the
one after it; a forecaster's table of the forecast after the end has every channel (up to its
column limit, the rest named); the search's score-against-parameter bars stop at the folds' scores."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import optuna
import pytest
from matplotlib.colors import to_hex
from optuna.distributions import FloatDistribution
from optuna.trial import create_trial
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.plots import plot_compare_norms
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.recipe.report import (
    AGAINST_COLOR,
    OUTCOME_COLORS,
    compare_grad_through_time,
    outcome_color,
)
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_recipes_figures_colour_a_candidate_by_its_outcome():
    names = {"baseline (start)": "start", "zoneout=0.1 (scrapped)": "scrapped", "zoneout=0.2 (scrapped)": "scrapped",
             "zoneout=0.3 (kept)": "kept"}
    colors = {n: outcome_color(s) if s != "start" else AGAINST_COLOR for n, s in names.items()}
    fig = compare_grad_through_time({n: np.full((4, 2), 1.0 + k) for k, n in enumerate(names)}, colors=colors)
    titled = {ax.get_title(): to_hex(ax.title.get_color()) for ax in fig.axes if ax.get_title() in names}
    assert titled == {n: colors[n] for n in names}
    lines = {ln.get_label(): (to_hex(ln.get_color()), ln.get_linestyle()) for ax in fig.axes for ln in ax.lines}
    assert lines["zoneout=0.3 (kept)"][0] == OUTCOME_COLORS["kept"]
    assert lines["zoneout=0.1 (scrapped)"] == (OUTCOME_COLORS["scrapped"], "-")
    assert lines["zoneout=0.2 (scrapped)"] == (OUTCOME_COLORS["scrapped"], "--")  # (the same colour: another style)


def test_runs_given_one_colour_get_distinct_line_styles_in_the_weight_norms(tmp_path):
    runs = {}
    for k, name in enumerate(("a (scrapped)", "b (scrapped)")):
        run = RunDir(tmp_path / str(k))
        for step, v in ((0, 0.5), (10, 0.5 + 0.01 * k)):
            run.append(run.tracked, {"step": step, "name": "rnn.weight_hh_l0", "stat": "l2_mean", "value": v})
        runs[name] = run
    fig = plot_compare_norms(runs, colors=dict.fromkeys(runs, OUTCOME_COLORS["scrapped"]))
    drawn = {ln.get_label(): ln.get_linestyle() for ln in fig.axes[0].lines if ln.get_label() in runs}
    assert drawn == {"a (scrapped)": "-", "b (scrapped)": "--"}


def test_the_curve_before_training_is_floored_at_the_same_number_as_the_one_after():
    tiny = float(np.finfo(np.float32).tiny)
    after = np.full((6, 2), 0.25)  # (float32 numbers: a float32 model's)
    # the curve before training as stored, a mean over channels in float64: no float32 number
    before = np.array([[1e-47], [3e-40], [1e-3], [2e-3], [3e-3], [4e-3]]) / 3.0
    fig = plot_grad_through_time(after, before=before)
    dashed = next(ln for ax in fig.axes for ln in ax.lines if ln.get_label().startswith("before training"))
    ys = np.asarray(dashed.get_ydata(), dtype=float)
    assert np.isnan(ys[:2]).all() and (ys[2:] > tiny).all()
    said = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
        [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("float32's smallest normal number" in s and "before training: 2 steps, t = 0–1" in s for s in said)


def test_the_forecast_after_the_end_table_has_every_channel_or_names_those_left_out(tmp_path):
    from rnnlab.report import MAX_AFTER_COLUMNS, _forecasts

    names = [f"c{i}" for i in range(MAX_AFTER_COLUMNS + 2)]
    t = np.arange(90)
    rows = [",".join(names)] + [",".join(f"{np.sin(t_ / (3 + i)) + i:.4f}" for i in range(len(names))) for t_ in t]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "c.toml").write_text(stream_toml(str(tmp_path / "s.csv"), training="steps = 2"))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    page = _forecasts(RunDir(tmp_path / "run"))
    table = page[page.index("The forecast after the end"):]
    head = table[:table.index("</tr>")]
    assert all(f"<th>{n}</th>" in head for n in names[:MAX_AFTER_COLUMNS])  # (before: the figure's 4 only)
    assert "2 more channels (c12, c13) in rnnlab predict" in table and table.endswith("forecast.csv</p>")


def test_the_score_bars_stop_at_the_folds_scores_never_past_an_accuracy_of_1():
    from rnnlab.search.report import _slices, fold_bar

    assert fold_bar(0.98, [1.0, 1.0, 1.0, 1.0, 0.9]) == pytest.approx((0.98 - np.std([1, 1, 1, 1, 0.9], ddof=1), 1.0))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {"model.dropout": FloatDistribution(0.0, 0.5)}
    trials = [create_trial(params={"model.dropout": p}, distributions=dists, value=float(np.mean(f)),
                           user_attrs={"fold_scores": f})
              for p, f in ((0.1, [1.0, 1.0, 1.0, 1.0, 0.9]), (0.3, [0.9, 0.95, 1.0, 0.85, 0.9]))]
    fig = _slices(trials, "val_acc", "maximize")
    tops = [seg[:, 1].max() for ax in fig.axes for c in ax.collections if hasattr(c, "get_segments")
            for seg in c.get_segments() if len(seg)]
    assert tops and max(tops) <= 1.0


def test_the_health_checks_curve_of_one_row_is_labelled_as_the_mean_over_channels():
    import numpy as np

    from rnnlab.plots.through_time import plot_grad_through_time

    curve = np.geomspace(1e-6, 1e-3, 12)[:, None]  # [T, 1]: the mean over channels, as the health check keeps it
    fig = plot_grad_through_time(curve, channel_mean=True)
    heat = fig.axes[0]
    assert heat.get_ylabel() == "mean over channels" and list(heat.get_yticks()) == []
    assert "per channel" not in heat.get_title() and "the channels" in heat.get_title()
    plain = plot_grad_through_time(np.ones((12, 3))).axes[0]  # (a layer's channels: as before)
    assert plain.get_ylabel() == "hidden channel" and "per channel" in plain.get_title()


def test_the_heatmap_after_training_is_per_channel_only_the_health_checks_is_one_mean_row(tmp_path, monkeypatch):
    import rnnlab.report as report

    (tmp_path / "c.toml").write_text('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 3\n[training]\nepochs = 3\nbatch_size = 4\n')
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    drawn: list[tuple[int, bool]] = []
    real = report.plot_grad_through_time

    def spy(gtt, **kw):
        drawn.append((np.asarray(gtt.layers[next(iter(gtt.layers))]).shape[1], kw.get("channel_mean", False)))
        return real(gtt, **kw)

    monkeypatch.setattr(report, "plot_grad_through_time", spy)
    html = report.render_report(tmp_path / "r")
    assert drawn and all(not mean for columns, mean in drawn if columns == 3), drawn  # (3 hidden channels)
    # the loss per step of this short run: recorded at every step, as the records say (not "every
    # tracking.weights_every steps", a key a Lightning run does not have)
    assert ", at every step, with any penalty" in html and "every tracking.weights_every steps" not in html
