"""Figures: each drawn from small but meaningful data, checked for what it shows (panels, titles,
image arrays, axis scales, legends, warnings), and saved to /tmp/rnnlab_figs/ for a look."""

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm

from rnnlab import plots
from rnnlab.introspect import grad_through_time
from rnnlab.rundir import RunDir, append_jsonl
from rnnlab.tracker import TrackedSeries, Tracker

FIGS = Path("/tmp/rnnlab_figs")


def texts(fig):
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
    return out


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------- through time


def test_grad_through_time_on_a_real_lstm_log_axis_and_reach():
    torch.manual_seed(0)
    model = torch.nn.LSTM(2, 8, batch_first=True)
    x = torch.randn(3, 40, 2)
    gtt = grad_through_time(model, x, lambda out: out[0][:, -1].sum())[""]
    fig = plots.plot_grad_through_time(gtt, path=FIGS / "through_time_lstm.png")
    ax_map, ax_line = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(np.asarray(ax_map.images[0].get_array()), gtt.layers[(0, "forward")].T)
    assert isinstance(ax_map.images[0].norm, LogNorm)  # gradients over 40 steps span decades
    assert ax_line.get_yscale() == "log"
    np.testing.assert_allclose(ax_line.lines[0].get_ydata(), gtt.per_timestep(), rtol=1e-12)
    reach = gtt.reach()
    assert reach < 40
    assert f"reach: {reach} steps back" in legend_labels(ax_line)
    marker = [ln for ln in ax_line.lines if ln.get_label().startswith("reach")][0]
    assert marker.get_xdata()[0] == 39 - reach


def test_grad_through_time_geometric_decay_reverse_direction():
    # g[t] = 0.5^t: in the reverse direction the last processed step is t = 0.
    g = (0.5 ** np.arange(15.0))[:, None] * np.ones((15, 2))
    fig = plots.plot_grad_through_time(g, direction="reverse")
    ax_line = fig.axes[1]
    # 0.5^10 < 1e-3 <= 0.5^9: the gradient reaches 10 steps back, i.e. t = 10
    assert "reach: 10 steps back" in legend_labels(ax_line)
    assert "decay per step back: 0.5" in legend_labels(ax_line)


def test_grad_through_time_handles_zero_nan_and_empty():
    g = np.ones((6, 3))
    g[2] = np.nan
    g[4] = 0.0
    fig = plots.plot_grad_through_time(g, path=FIGS / "through_time_bad.png")
    assert "3 NaN not shown" in texts(fig)
    assert "2 timesteps zero or non-finite not shown" in texts(fig)
    zero = plots.plot_grad_through_time(np.zeros((5, 2)))
    assert any("nothing to draw on a log axis" in t for t in texts(zero))
    empty = plots.plot_grad_through_time(np.zeros((0, 2)))
    assert "no timesteps recorded" in texts(empty)


# ---------------------------------------------------------------------------------- norms


def _growing_norms(steps=12, channels=32):
    """Per-channel norms drifting upward with training (what weight decay should prevent)."""
    rng = np.random.default_rng(0)
    st = np.arange(steps) * 10
    ep = (np.arange(steps) // 4 + 1).astype(float)
    out = {}
    for k, name in enumerate(("lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight")):
        per = 1.0 + 0.1 * k + np.outer(np.linspace(0, 1 + k, steps), rng.random(channels))
        out[name] = {
            "l2_per_channel": TrackedSeries(st, per, ep),
            "l2_mean": TrackedSeries(st, per.mean(1), ep),
            "l2_max": TrackedSeries(st, per.max(1), ep),
        }
    out["loss"] = {"value": TrackedSeries(st, np.linspace(2, 0.5, steps), ep)}
    return out


def bin_counts(ax) -> list[float]:
    """The bin counts of a panel's histogram drawn as one filled outline (histtype="stepfilled"):
    from (first edge, 0) up, then along each bin's top."""
    (outline,) = ax.patches
    xy = outline.get_xy()
    return xy[1:2 * ((len(xy) - 1) // 4):2, 1].tolist()


def test_norm_histograms_grid_rows_steps_columns_parameters():
    tracked = _growing_norms()
    fig = plots.plot_norm_histograms(tracked, rows=4, path=FIGS / "norm_hist.png")
    assert len(fig.axes) == 4 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight"]
    # rows sample first..last record evenly: steps 0, 40, 70, 110
    assert [fig.axes[3 * r].get_ylabel().split("\n")[0] for r in range(4)] == [
        "step 0", "step 40", "step 70", "step 110"]
    assert fig.axes[9].get_ylabel().endswith("epoch 3")
    # each histogram counts every channel, and a column shares its bins
    for ax in fig.axes:
        assert sum(bin_counts(ax)) == 32
    assert len({ax.get_xlim() for ax in fig.axes[0::3]}) == 1


def test_norm_lines_mean_and_max_and_nan_note():
    tracked = _growing_norms()
    tracked["fc.weight"]["l2_max"].values[3] = np.nan
    fig = plots.plot_norm_lines(tracked, path=FIGS / "norm_lines.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    mean_line = visible[0].lines[0]
    np.testing.assert_allclose(mean_line.get_ydata(), tracked["lstm.weight_ih_l0"]["l2_mean"].values)
    assert [ln.get_label() for ln in visible[2].lines] == ["mean", "max"]
    assert "max: 1 NaN not shown" in texts(fig)
    with pytest.raises(KeyError, match="params"):
        plots.plot_norm_lines(tracked, params=["lstm.weight_hh_l9"])


def test_norm_figures_from_a_run_directory(tmp_path):
    model = torch.nn.LSTM(2, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with Tracker(tmp_path, model, grads_every=1) as tr:
        for step in range(6):
            opt.zero_grad()
            model(torch.randn(5, 3, 2))[0].pow(2).sum().backward()
            tr.step(epoch=step // 3 + 1)
            opt.step()
    fig = plots.plot_norm_histograms(tmp_path, params=["weight_hh_l0", "bias_hh_l0"], rows=3)
    assert len(fig.axes) == 6
    assert sum(bin_counts(fig.axes[0])) == 16  # 4 gates x 4 units
    assert len(plots.plot_norm_lines(tmp_path).axes) == 6  # 4 parameters in a 3-column grid
    empty = plots.plot_norm_histograms(RunDir(tmp_path / "nothing"))
    assert "no 'l2_per_channel' recorded" in texts(empty)


# -------------------------------------------------------------------------------- metrics


def _records(decay, epochs=10, nan_at=None):
    out = []
    for e in range(1, epochs + 1):
        r = {"epoch": e, "step": 5 * e, "train_loss": 2.0 * np.exp(-0.3 * e) + decay * 50,
             "val_loss": 2.1 * np.exp(-0.2 * e) + decay * 80, "train_acc": 1 - 0.8 * np.exp(-0.4 * e),
             "val_acc": 1 - 0.85 * np.exp(-0.3 * e), "lr": 0.01 * 0.8 ** e, "weight_decay": decay,
             "grad_norm": 1.5 * np.exp(-0.1 * e)}
        if e == nan_at:
            r["val_loss"] = float("nan")
        out.append(r)
    return out


def test_metric_curves_from_a_run_directory(tmp_path):
    run = RunDir(tmp_path / "my-run")
    for r in _records(2e-4, nan_at=4):
        append_jsonl(run.metrics, r)
    fig = plots.plot_metrics(run.path, path=FIGS / "metrics.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate", "gradient norm"]
    loss_ax = fig.axes[0]
    assert legend_labels(loss_ax) == ["train_loss", "val_loss"]
    assert np.isnan(loss_ax.lines[1].get_ydata()[3])
    assert "val_loss: 1 NaN not shown" in texts(fig)
    assert fig.axes[2].get_yscale() == "log"
    assert "my-run" in fig.get_suptitle()
    empty = plots.plot_metrics(RunDir(tmp_path / "empty").path)
    assert "no metrics recorded" in texts(empty)


# -------------------------------------------------------------------------------- compare


def test_compare_runs_on_shared_axes(tmp_path):
    runs = {}
    for name, decay in (("decay 2e-3", 2e-3), ("decay 2e-4", 2e-4), ("none", 0.0)):
        rd = RunDir(tmp_path / name)
        for r in _records(decay):
            append_jsonl(rd.metrics, r)
        runs[name] = rd.path
    fig = plots.plot_compare_metrics(runs, path=FIGS / "compare_metrics.png")
    assert [ax.get_title() for ax in fig.axes] == ["train loss (training mode)", "val loss", "val accuracy"]
    # one legend for the figure, below the panels, each run once
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["decay 2e-3", "decay 2e-4", "none"]
    # a list of directories is named after them
    listed = plots.plot_compare_metrics(list(runs.values()), metrics=["val_loss"])
    assert [t.get_text() for t in listed.legends[0].get_texts()] == list(runs)
    vals = [ln.get_ydata()[-1] for ln in fig.axes[1].lines]
    assert vals[0] > vals[1] > vals[2]  # the strongest decay ends highest in this synthetic sweep


def test_compare_norms_of_decay_sweep():
    base = _growing_norms()
    runs = {}
    for name, shrink in (("decay 2e-3", 0.3), ("decay 2e-4", 0.7), ("none", 1.0)):
        runs[name] = {p: {s: TrackedSeries(v.steps, v.values * shrink, v.epochs) for s, v in stats.items()}
                      for p, stats in base.items()}
    runs["none"].pop("fc.weight")  # a parameter one run did not record
    fig = plots.plot_compare_norms(runs, path=FIGS / "compare_norms.png")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["decay 2e-3", "decay 2e-4", "none"]
    assert "no data: none" in [t.get_text() for t in visible[2].texts]
    np.testing.assert_allclose(visible[1].lines[0].get_ydata(), base["lstm.weight_hh_l0"]["l2_mean"].values * 0.3)
    with pytest.raises(ValueError, match="two runs are named"):
        plots.plot_compare_metrics(["/tmp/a/x", "/tmp/b/x"])
