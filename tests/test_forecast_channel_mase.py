"""A forecaster of several channels reports each channel's MASE, not only their mean: summary.json's
``test_by_channel`` / ``train_eval_by_channel`` / ``baselines_by_channel`` (checked against the
definition, from the run's own forecasts at every test origin), their mean equal to the run's
MASE, ``rnnlab train``'s line naming each channel (one at or above 1 marked), and nothing new
for a run of one channel."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.task import Metric, task_for
from rnnlab.train.forecast import origin_forecasts
from rnnlab.train.run_fit import run_model
from rnnlab.train.trainer import TrainResult

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS, SEASON, HORIZON, HELD = 200, 7, 2, 28


def write_series(path: Path) -> Path:
    """``load``, a random walk (naive forecasts it far better than a season back: MASE well
    below 1), and ``temp``, a weekly cycle with little noise (naive forecasts it far worse than
    a season back: MASE well above 1)."""
    rng = np.random.default_rng(0)
    t = np.arange(STEPS)
    load = 100 + rng.normal(0, 1, STEPS).cumsum()
    temp = 20 + 10 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 0.1, STEPS)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["load", "temp"], *[[f"{a:.6f}", f"{b:.6f}"] for a, b in zip(load, temp)]])
    return path


def toml(data: Path, columns: str = "") -> str:
    # A head that starts at 0 relative to naive, with a learning rate that leaves it there: the
    # forecasts are close to naive's, so which channel beats the seasonal-naive scale is known.
    return stream_toml(str(data), data=f"val_steps = {HELD}\ntest_steps = {HELD}\nbptt = 8" + columns,
                       task=f'horizon = {HORIZON}\nseason = {SEASON}\nrelative_to = "naive"',
                       training="steps = 4\nlr = 1e-5") + "[model.head]\nzero_init = true\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same series trained with both channels, and with ``load`` alone: (two, one), each
    (run directory, stdout lines, summary)."""
    tmp = tmp_path_factory.mktemp("channels")
    data = write_series(tmp / "series.csv")
    out = []
    for name, columns in (("two", ""), ("one", '\ncolumns = ["load"]')):
        (tmp / f"{name}.toml").write_text(toml(data, columns))
        printed = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
            warnings.simplefilter("ignore")
            assert main(["train", str(tmp / f"{name}.toml"), "--out", str(tmp / name), "--quiet"]) == 0
        out.append((tmp / name, printed.getvalue().splitlines(), json.loads((tmp / name / "summary.json").read_text())))
    return tuple(out)


def by_definition(run: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Each channel's test MASE of the run's model and of naive, from the definition: at every
    test origin (all its steps ahead inside the test block) the absolute error of each step
    ahead, over the channel's mean absolute one-step seasonal-naive error on the training block."""
    config = parse_config(Path(run, "config.toml").read_text())
    task = task_for(config)
    loaded, model, _ = run_model(RunDir(run), config, task)
    with open(config.data.path, newline="") as f:
        rows = list(csv.reader(f))
    x = np.array(rows[1:], dtype=np.float64)
    train_end, test_start = STEPS - 2 * HELD, STEPS - HELD
    scale = np.abs(x[SEASON:train_end] - x[: train_end - SEASON]).mean(axis=0)
    forecasts = origin_forecasts(model, x, loaded.stats, loaded.reference, task)  # [L, horizon, C]
    origins = np.arange(test_start - 1, STEPS - HORIZON)
    actual = np.stack([x[origins + k] for k in range(1, HORIZON + 1)], axis=1)  # [origins, horizon, C]
    model_mase = np.abs(forecasts[origins] - actual).mean(axis=(0, 1)) / scale
    naive_mase = np.abs(x[origins][:, None, :] - actual).mean(axis=(0, 1)) / scale
    return dict(zip(["load", "temp"], model_mase)), dict(zip(["load", "temp"], naive_mase))


def test_summary_holds_each_channels_test_mase_as_the_definition_gives_it(runs):
    (run, _, summary), _ = runs
    model, naive = by_definition(run)
    got = summary["test_by_channel"]["mase"]
    assert list(got) == ["load", "temp"]  # named by the data's columns, in their order
    for channel in model:
        assert got[channel] == pytest.approx(model[channel], rel=1e-4)
        assert summary["baselines_by_channel"]["test"]["naive"]["mase"][channel] == pytest.approx(naive[channel], rel=1e-4)
    # the series were made so: naive-like forecasts beat the seasonal scale on the walk, not on the cycle
    assert got["load"] < 1 <= got["temp"]


def test_the_mean_over_channels_is_the_runs_mase_on_every_part(runs):
    (_, _, summary), _ = runs
    for part, figures in (("test", summary["test"]), ("train_eval", summary["train_eval"])):
        per = summary[f"{part}_by_channel"]["mase"]
        assert np.mean(list(per.values())) == pytest.approx(figures["mase"], rel=1e-9, abs=1e-12)
    for split, forecasts in summary["baselines"].items():
        for forecast, figures in forecasts.items():
            per = summary["baselines_by_channel"][split][forecast]["mase"]
            assert np.mean(list(per.values())) == pytest.approx(figures["mase"], rel=1e-9, abs=1e-12)
    # (the existing parts stay numbers: their readers are unaffected)
    assert all(isinstance(v, float) for v in summary["test"].values())


def test_train_prints_each_channels_test_mase_beside_its_better_baseline(runs):
    # (a user's report: a mark at MASE 1 hid a channel worse than seasonal naive at 0.995, and one
    # worse than naive; the line now sets each channel beside the better baseline on the same steps)
    (_, lines, summary), _ = runs
    mase = summary["test_by_channel"]["mase"]
    base = summary["baselines_by_channel"]["test"]
    at = next(i for i, line in enumerate(lines) if line.startswith("train MASE") and "test MASE" in line)
    line = lines[at + 1]
    parts = []
    for channel in ("load", "temp"):
        name, value = min(((k.replace("_", " "), b["mase"][channel]) for k, b in base.items()), key=lambda kv: kv[1])
        parts.append(f"{channel} {mase[channel]:.4g} ({name} {value:.4g}{': no better' if mase[channel] >= value else ''})")
    assert line == "test MASE by channel: " + ", ".join(parts)
    assert "no better" in line  # (the model starts at naive and barely moves: no channel beats both)


def test_a_one_channel_run_writes_and_prints_nothing_new(runs):
    (_, two_lines, two), (_, one_lines, one) = runs
    assert set(two) - set(one) == {"test_by_channel", "train_eval_by_channel", "baselines_by_channel"}
    assert not [k for k in one if k.endswith("_by_channel")]
    assert [line for line in two_lines if "by channel" in line] and not [line for line in one_lines
                                                                          if "by channel" in line]
    # the figures' lines before the run directory's: the same, but for that one
    def figures(lines: list[str]) -> list[str]:
        return [line.split(":")[0].split(" ")[0] for line in lines[: next(i for i, x in enumerate(lines)
                                                                            if x.startswith("run directory:"))]]
    assert figures(two_lines) == ["train", "test", "test"] and figures(one_lines) == ["train", "test"]


def test_many_channels_name_the_worst_in_one_line_then_how_many_more():
    figures = {f"c{i}": v for i, v in enumerate([0.5, 1.3, 0.2, float("nan"), 0.9, 1.0, 0.4, 0.3, 0.7])}
    result = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={"test": {"mase": figures}})
    line = result.channel_line(Metric("mase", False, "MASE", False))
    assert line == "test MASE by channel (the worst 5 of 9): c3 nan, c1 1.3, c5 1, c4 0.9, c8 0.7, and 4 more"
    # beside baselines, the channels furthest behind theirs come first, and the rest are counted
    naive = {c: v - 0.1 if c in ("c0", "c2") else v + 0.1 for c, v in figures.items()}
    result = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={
        "test": {"mase": figures}, "baselines": {"test": {"naive": {"mase": naive}}}})
    line = result.channel_line(Metric("mase", False, "MASE", False))
    head, _, listed = line.partition(": ")
    parts = listed.split(", ")
    assert head == "test MASE by channel (the 5 of 9 furthest behind their baselines)" and parts[0] == "c3 nan", line
    assert set(parts[1:3]) == {"c0 0.5 (naive 0.4: no better)", "c2 0.2 (naive 0.1: no better)"}, line
    assert line.endswith(", and 4 more, each better than its baselines"), line
