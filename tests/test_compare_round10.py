"""`rnnlab compare`'s metrics figure, round 10 (a pictures reviewer's findings): each curve is named
by the settings its run differs in (the table's config columns), the run's name kept only where
those alone do not tell it apart; each run's last epoch and the epoch whose weights it kept are
marked on its curves; each y axis names its metric and which way is better; and every panel spans
every run's steps.

Runs here are written by hand (config.toml, metrics.jsonl, summary.json, adapt.json): no training."""

from __future__ import annotations

import json

import pytest
from test_compare_round3 import cli
from tiny_run import tiny_toml

import rnnlab.plots
from rnnlab.config import dump_config, parse_config
from rnnlab.plots import plot_compare_metrics, style
from rnnlab.rundir import RunDir, append_jsonl

EARLY = "[training.early_stopping]\npatience = 3"


def fake_run(path, model="", *, epochs=20, last=None, best=None, after="", stopped_early=False, seed=0,
             dataset="UnitTest"):
    """A finished run as `rnnlab train` leaves it, 2 optimizer steps an epoch, trained for ``last``
    of its ``epochs`` epochs (early stopping or the budget ended it sooner), ``best`` its best epoch."""
    last = last or epochs
    rd = RunDir(path)
    toml = tiny_toml(model=model, training=f"epochs = {epochs}\nseed = {seed}", after=after)
    rd.config.write_text(dump_config(parse_config(toml.replace('"UnitTest"', f'"{dataset}"'))))
    for e in range(1, last + 1):
        append_jsonl(rd.metrics, {"epoch": e, "step": 2 * e, "train_loss": 1.0 / e, "train_acc": 0.5 + e / 100,
                                  "val_loss": 1.2 / e + 0.01 * e, "val_acc": 0.4 + e / 100, "weight_decay": 0.0})
    final = {"epoch": last, "step": 2 * last}
    rd.summary.write_text(json.dumps({"epochs": last, "stopped_early": stopped_early, "final": final,
                                      "best_epoch": best or last, "test": {"acc": 0.5}}))
    return rd.path


@pytest.fixture
def figure(monkeypatch):
    """The metrics figure `rnnlab compare` draws, as it draws it (its Figure, not only the PNG)."""
    drawn = []
    real = rnnlab.plots.plot_compare_metrics

    def keep(*args, **kw):
        drawn.append(real(*args, **kw))
        return drawn[-1]

    monkeypatch.setattr(rnnlab.plots, "plot_compare_metrics", keep)
    return drawn


def legend_texts(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def marks(ax, gid):
    """The points of the marks ``gid`` on ``ax`` (scatter offsets or a line's data)."""
    found = [c.get_offsets().tolist() for c in ax.collections if c.get_gid() == gid]
    found += [list(zip(line.get_xdata(), line.get_ydata(), strict=True)) for line in ax.lines if line.get_gid() == gid]
    return found


# ------------------------------------------------------------------ 1. curves named by their settings


def test_compare_names_each_curve_by_the_setting_that_differs(tmp_path, capsys, figure):
    runs = [fake_run(tmp_path / "wd0.0", "weight_drop = 0.0"), fake_run(tmp_path / "wd0.5", "weight_drop = 0.5"),
            fake_run(tmp_path / "wd0.3", "weight_drop = 0.3")]
    code, _, err = cli(["compare", *runs, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    fig = figure[0]
    # the key shortened as the study table shortens it; no run name: the setting tells them apart
    assert [t.split(" (")[0] for t in legend_texts(fig)] == ["weight_drop 0", "weight_drop 0.5", "weight_drop 0.3"]
    # the title names the key in full
    assert fig.get_suptitle().splitlines()[1] == "settings that differ: model.weight_drop"


def test_a_runs_name_is_kept_where_its_settings_tell_it_from_no_other(tmp_path, capsys, figure):
    # b and c: the same config and seed (a rerun, a row of its own): its settings are b's
    a, b, c = (fake_run(tmp_path / n, f"weight_drop = {w}") for n, w in (("a", 0.0), ("b", 0.5), ("c", 0.5)))
    code, _, err = cli(["compare", a, b, c, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    assert legend_texts(figure[0])[:3] == ["weight_drop 0", "b: weight_drop 0.5", "c: weight_drop 0.5"]
    # nothing differs: the run names alone, and no line under the title
    code, _, err = cli(["compare", b, c, "--figures", tmp_path / "fig2"], capsys)
    assert code == 0, err
    assert legend_texts(figure[1])[:2] == ["b", "c"] and "\n" not in figure[1].get_suptitle()


def test_groups_are_named_by_their_settings_less_the_seed_and_many_keys_are_listed_in_the_title():
    from rnnlab.compare import curve_settings

    group = lambda wd, *seeds: [{"run": f"runs/wd{wd}-s{s}", "config": {"model.weight_drop": wd,  # noqa: E731
                                                                        "training.seed": str(s)}} for s in seeds]
    settings, caption = curve_settings([group("0", 0, 1), group("0.5", 0, 1)])
    assert settings == ["weight_drop 0", "weight_drop 0.5"] and caption == "settings that differ: model.weight_drop"
    keys = ["model.weight_drop", "model.zoneout", "training.lr", "model.head.dropout"]
    rows = [[{"run": f"r{i}", "config": {k: str(i + j) for j, k in enumerate(keys)}}] for i in range(2)]
    settings, caption = curve_settings(rows)
    assert settings[0] == "weight_drop 0, zoneout 1, lr 2"  # the first three keys, short
    assert caption == ("settings that differ (the legend names the first 3, the table every one): "
                       "model.weight_drop, model.zoneout, training.lr, model.head.dropout")
    # a long value is cut, a run without config.toml has no settings
    rule = "[role=recurrent weight_decay=0.001]"
    settings, _ = curve_settings([[{"run": "a", "config": {"training.decay_rules": rule}}],
                                  [{"run": "b", "config": {"training.decay_rules": "[]"}}], [{"run": "c", "config": None}]])
    assert settings == ["decay_rules [role=recurrent weight_…", "decay_rules []", None]


# ------------------------------------------------------------------ 2. where each run ended, what it kept


def test_each_runs_last_epoch_and_kept_epoch_are_marked_on_its_curves(tmp_path, capsys, figure):
    full = fake_run(tmp_path / "wd0.0", "weight_drop = 0.0")
    stopped = fake_run(tmp_path / "wd0.3", "weight_drop = 0.3", last=5, best=2, after=EARLY, stopped_early=True)
    code, _, err = cli(["compare", full, stopped, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    fig = figure[0]
    names = ["weight_drop 0, patience 0", "weight_drop 0.3, patience 3"]
    assert legend_texts(fig) == [f"{names[0]} (last epoch 20)",
                                 f"{names[1]} (last epoch 5: early stopping; kept epoch 2)"]
    title = fig.legends[0].get_title().get_text()
    assert "square = its last epoch" in title and "the epoch whose weights it kept" in title
    val_loss = next(ax for ax in fig.axes if ax.get_title() == "val loss")
    # the last epoch: at its step (epoch 5: step 10), on the run's curve; the full run's at step 40
    assert marks(val_loss, f"last epoch {names[1]}") == [[[10.0, pytest.approx(1.2 / 5 + 0.05)]]]
    assert marks(val_loss, f"last epoch {names[0]}") == [[[40.0, pytest.approx(1.2 / 20 + 0.2)]]]
    # the kept epoch (2: step 4): the single-run figures' line, in the run's colour, and a ring on the curve
    (line,) = [ln for ln in val_loss.lines if ln.get_gid() == f"kept epoch {names[1]}"]
    assert list(line.get_xdata()) == [4.0, 4.0] and line.get_color() == style.series_color(1)
    assert marks(val_loss, f"kept point {names[1]}") == [[[4.0, pytest.approx(1.2 / 2 + 0.02)]]]
    assert not marks(val_loss, f"kept epoch {names[0]}")  # its last epoch's weights: nothing else to mark


def test_a_run_the_budget_ended_early_says_so(tmp_path):
    a, b = fake_run(tmp_path / "a", epochs=12), fake_run(tmp_path / "b", epochs=12, last=7)
    RunDir(b).write_adapt(budget={"events": [{"epoch": 7, "step": 14, "decision": "end_early"}]})
    fig = plot_compare_metrics({"a": a, "b": b}, metrics=["val_acc"])
    assert legend_texts(fig) == ["a (last epoch 12)", "b (last epoch 7: the budget ended it early)"]
    assert marks(fig.axes[0], "last epoch b") == [[[14.0, pytest.approx(0.47)]]]


# ------------------------------------------------------------------ 3. the axes


def test_each_y_axis_names_its_metric_and_direction_and_every_panel_spans_every_run(tmp_path):
    long = [{"epoch": e, "step": 2 * e, "val_loss": 1.0 / e} for e in range(1, 21)]
    short = [{"epoch": e, "step": 2 * e, "val_loss": 1.0 / e, "val_acc": 0.5} for e in range(1, 6)]
    fig = plot_compare_metrics({"long": long, "short": short}, metrics=["val_loss", "val_acc"])
    loss, acc = fig.axes[:2]
    assert (loss.get_ylabel(), acc.get_ylabel()) == ("loss, lower is better", "accuracy, higher is better")
    # val_acc only the short run recorded: its panel still reaches the long run's last step
    assert acc.get_xlim() == loss.get_xlim() and acc.get_xlim()[1] > 40.0
