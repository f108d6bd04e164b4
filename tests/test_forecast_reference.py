"""Issue 22's forecasting target: which reference forecast ``relative_to = "auto"`` takes (judged
on everything before the test block; seasonal naive where the changes repeat at the season), and the mean guard on a forecaster (the run forecasts its
reference unless the model beats it on the validation block's origins)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data import load_data
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_auto_chooses_the_reference_on_the_training_and_validation_blocks(tmp_path):
    # A season of 4 steps: a random walk during training, then, in the validation block alone, a
    # strict season. Seasonal naive errs less on the validation block (12 steps), naive on the 72
    # training and validation steps together: "auto" takes naive (it took seasonal naive when it
    # judged on the validation block alone).
    train = np.cumsum(np.random.default_rng(0).normal(0, 1.0, 60))
    season = train[-1] + np.tile([0.0, 3.0, 0.0, -3.0], 6)
    x = np.concatenate([train, season])[:, None]
    np.savez(tmp_path / "s.npz", X=x)
    c = parse_config(stream_toml(str(tmp_path / "s.npz"), task='season = 4\nrelative_to = "auto"',
                                 data="bptt = 8\nstreams = 2\nval_steps = 12\ntest_steps = 12"))
    d = load_data(c.data, seed=0, task=task_for(c))
    val = np.abs(x[61:72] - x[60:71]).mean(), np.abs(x[61:72] - x[57:68]).mean()  # naive, seasonal naive
    before = np.abs(x[1:72] - x[:71]).mean(), np.abs(x[4:72] - x[:68]).mean()
    assert val[1] < val[0] and before[0] < before[1]
    assert d.reference == "naive"


@pytest.mark.parametrize("series, season, reference", [("Airline", 12, "seasonal_naive"), ("Lynx", 10, "naive"),
                                                         ("solar", 48, "naive")])
def test_auto_takes_seasonal_naive_where_the_changes_repeat_at_the_season(series, season, reference):
    # Before Airline's test block naive errs less than seasonal naive (0.75 times), yet its changes
    # repeat at the season (0.80 >= SEASONAL_REPEAT): seasonal naive. Lynx (0.42) and solar (0.48)
    # fall back to the lower error, naive's, at one step ahead.
    from rnnlab.data.stream import SEASONAL_REPEAT, read_series, seasonal_repeat, split_bounds

    c = parse_config(f'[task]\nkind = "forecasting"\nseason = {season}\nrelative_to = "auto"\n[data]\n'
                     f'dataset = "{series}"\nbptt = 24\nstreams = 2')
    x = read_series(c.data).values[0]
    before = x[: split_bounds(len(x), c.data, None).val]
    assert (seasonal_repeat([before], season) >= SEASONAL_REPEAT) == (series == "Airline")
    assert load_data(c.data, seed=0, task=task_for(c)).reference == reference


def test_the_mean_guard_makes_a_forecaster_that_loses_to_its_reference_forecast_it(tmp_path, capsys):
    # A series that repeats every 12 steps: seasonal naive is exact on the validation block, so a
    # random output layer loses to it on every origin; the guard makes the run forecast seasonal
    # naive itself: every test figure is seasonal naive's, and so is rnnlab predict's forecast.
    t = np.arange(120)
    x = np.sin(2 * np.pi * t / 12) + 0.5 * np.cos(4 * np.pi * t / 12)
    np.savez(tmp_path / "s.npz", X=x)
    (tmp_path / "f.toml").write_text(stream_toml(
        str(tmp_path / "s.npz"), task='horizon = 2\nseason = 12\nrelative_to = "seasonal_naive"\nmean_guard = true',
        data="val_steps = 24\ntest_steps = 24", training="epochs = 1"))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "f.toml"), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    guard = summary["mean_guard"]
    assert not guard["kept"] and guard["baseline"] == "seasonal naive" and guard["rows"] == "origins"
    assert guard["n_val"] == 23  # a validation block of 24 steps: 23 origins with both steps ahead inside it
    assert "mean guard: on the 23 validation origins" in out and "the run predicts seasonal naive (task.mean_guard)" in out
    assert "(seasonal naive's: task.mean_guard)" in out
    assert summary["test"]["mae"] == pytest.approx(summary["baselines"]["test"]["seasonal_naive"]["mae"], abs=1e-6)
    assert main(["predict", str(tmp_path / "run")]) == 0
    rows = (tmp_path / "run" / "forecast.csv").read_text().splitlines()[1:]
    assert [float(r.split(",")[3]) for r in rows] == pytest.approx(x[108:110].tolist(), abs=1e-5)
