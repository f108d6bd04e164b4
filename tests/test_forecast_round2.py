"""A forecaster's figures are the ones its task declares (no R² of the corrections), MASE is never
a figure from a scale that is no scale, and ``rnnlab predict RUN --data FILE`` forecasts after the
end of FILE's series with the run's model, scaling and reference, as ``rnnlab predict RUN`` does
after the run's own."""

from __future__ import annotations

import csv
import datetime
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data import load_data
from rnnlab.data.stream import baseline_forecasts, read_series
from rnnlab.rundir import RunDir
from rnnlab.task import FORECASTING, REGRESSION, RegressionTally, TargetScale, task_for
from rnnlab.train.forecast import next_values
from rnnlab.train.run_fit import run_model
from rnnlab.train.trainer import load_run_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS = 120
START = datetime.date(2023, 1, 1)


def daily_rows(n: int) -> list[list[str]]:
    """A daily shop's rows (date, sales, visits, store) with a weekly pattern and a trend."""
    t = np.arange(n)
    sales = 100 + 0.5 * t + 20 * np.sin(2 * np.pi * t / 7)
    visits = 50 + 10 * np.cos(2 * np.pi * t / 7)
    return [[(START + datetime.timedelta(days=int(i))).isoformat(), f"{sales[i]:.2f}", f"{visits[i]:.2f}", "A"]
            for i in t]


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("date", "sales", "visits", "store")) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([list(header), *rows])
    return path


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A trained forecaster of the daily shop (two steps ahead, seasonal naive as its reference)."""
    tmp = tmp_path_factory.mktemp("shop")
    data = write_csv(tmp / "shop.csv", daily_rows(STEPS))
    cfg = tmp / "shop.toml"
    cfg.write_text(stream_toml(str(data), task='horizon = 2\nseason = 7\nrelative_to = "seasonal_naive"',
                               training="steps = 20\nlr = 0.01"))
    assert main(["train", str(cfg), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp, data, tmp / "run"


# ------------------------------------------------------------------ 1. the figures a forecaster reports


def test_a_forecasters_tally_reports_the_declared_metrics_and_the_references_own_figures(tmp_path):
    declared = {m.name for m in FORECASTING.metrics}
    scale = TargetScale(np.zeros(2), np.array([2.0, 4.0]), np.array([1.0, 3.0]))
    y = torch.tensor([[[0.5, -1.0], [1.5, 0.25]]], dtype=torch.float64)
    perfect = FORECASTING.tally(scale)
    perfect.add(y.clone(), y)
    assert set(perfect.result()) == declared  # no r2: the targets are corrections to a reference forecast
    assert perfect.result()["rmse"] == 0 and perfect.result()["mase"] == 0
    # A forecaster that outputs no correction *is* its reference: its figures are the reference's own.
    c = parse_config(stream_toml(str(write_csv(tmp_path / "s.csv", daily_rows(STEPS))),
                                 task='horizon = 2\nseason = 7\nrelative_to = "seasonal_naive"'))
    task = task_for(c)
    d = load_data(c.data, seed=0, task=task)
    tally = task.tally(d.test.scale)
    tally.add(torch.zeros(d.test.y.shape, dtype=torch.float64), torch.from_numpy(d.test.y.astype(np.float64)))
    own = baseline_forecasts(d.test, task, d.reference)["seasonal_naive"]
    assert set(tally.result()) == declared == set(own)
    assert tally.result() == pytest.approx(own)
    # Regression keeps its R² against the training mean: a perfect prediction's is 1, the mean's 0.
    reg = REGRESSION.tally(TargetScale(np.array([10.0]), np.array([2.0])))
    reg.add(torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [-1.0]]))
    mean = REGRESSION.tally(TargetScale(np.array([10.0]), np.array([2.0])))
    mean.add(torch.zeros(2, 1), torch.tensor([[1.0], [-1.0]]))
    assert reg.result()["r2"] == 1.0 and mean.result()["r2"] == 0.0


def test_a_trained_forecasters_records_summary_and_report_hold_no_r2(shop):
    _, _, run = shop
    summary = json.loads((run / "summary.json").read_text())
    declared = {m.name for m in FORECASTING.metrics}
    assert set(summary["test"]) == declared, summary["test"]
    assert set(summary["train_eval"]) == declared | {"skill"}, summary["train_eval"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert not any("r2" in k for r in records for k in r)
    report = (run / "report.html").read_text()
    assert "test mase" in report and "test r2" not in report and "train (eval) r2" not in report


# ------------------------------------------------------------------ 2. MASE from a zero or non-finite scale


@pytest.mark.parametrize("bad", [0.0, math.inf, math.nan])
def test_mase_is_never_a_number_from_a_scale_that_is_no_scale(bad):
    # Channel 1's seasonal-naive error on the training part is `bad`: 0 for a channel that repeats its
    # season exactly (or is constant), inf or NaN from a broken scale. Its errors over that are no MASE.
    scale = TargetScale(np.zeros(2), np.ones(2), np.array([1.0, bad]))
    for outputs in (torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.5, 0.3]]])):
        tally = RegressionTally(scale, FORECASTING)
        tally.add(outputs, torch.tensor([[[1.0, 0.0]]]))
        result = tally.result()
        assert math.isnan(result["mase"]), result
        assert math.isfinite(result["rmse"]) and math.isfinite(result["mae"])
    assert math.isnan(RegressionTally(scale, FORECASTING).result()["mase"])  # nothing added: no figure either
    # A usable scale still gives the mean absolute error over it.
    good = RegressionTally(replace(scale, seasonal_error=np.array([1.0, 2.0])), FORECASTING)
    good.add(torch.tensor([[[0.5, 0.0]]]), torch.tensor([[[1.0, 1.0]]]))
    assert good.result()["mase"] == pytest.approx((0.5 / 1.0 + 1.0 / 2.0) / 2)


# ------------------------------------------------------------------ 3. rnnlab predict RUN --data FILE


def test_predict_data_on_the_runs_own_series_is_the_runs_forecast(shop):
    tmp, data, run = shop
    assert main(["predict", str(run)]) == 0
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp / "own.csv"), "--force"]) == 0
    own, given = read_rows(run / "forecast.csv"), read_rows(tmp / "own.csv")
    assert given[0] == own[0] == ["series", "index", "step", "date", "sales", "visits"]
    assert [r[1:] for r in given[1:]] == [r[1:] for r in own[1:]]
    assert [r[2:4] for r in given[1:]] == [["120", "2023-05-01"], ["121", "2023-05-02"]]


def test_predict_data_forecasts_after_the_new_end_with_the_runs_scaling(shop, capsys):
    tmp, _, run = shop
    config = load_run_config(run)
    task = task_for(config)
    loaded, model, _ = run_model(RunDir(run), config, task)
    # New days arrived: five more rows of the same shop; the forecast is for the two days after them.
    longer = write_csv(tmp / "longer.csv", daily_rows(STEPS + 5))
    capsys.readouterr()
    assert main(["predict", str(run), "--data", str(longer), "--out", str(tmp / "longer_fc.csv"), "--force"]) == 0
    assert "predictions: " in capsys.readouterr().out
    rows = read_rows(tmp / "longer_fc.csv")
    assert [r[2:4] for r in rows[1:]] == [["125", "2023-05-06"], ["126", "2023-05-07"]]
    x = read_series(config.data.model_copy(update={"path": str(longer)})).values[0]
    expected = next_values(model, x, loaded.stats, loaded.reference, task)
    assert np.array([[float(v) for v in r[4:]] for r in rows[1:]]) == pytest.approx(expected)
    # Only the last 40 days: still scaled by the run's training statistics, never the file's own (which
    # differ: a shorter, later stretch of a rising series), so the forecast is the run's model on them.
    tail = write_csv(tmp / "tail.csv", daily_rows(STEPS + 5)[-40:])
    assert main(["predict", str(run), "--data", str(tail), "--out", str(tmp / "tail_fc.csv"), "--force"]) == 0
    got = np.array([[float(v) for v in r[4:]] for r in read_rows(tmp / "tail_fc.csv")[1:]])
    assert got == pytest.approx(next_values(model, x[-40:], loaded.stats, loaded.reference, task))
    refitted = replace(loaded.stats, mean=x[-40:].mean(axis=0), std=x[-40:].std(axis=0))
    assert not np.allclose(got, next_values(model, x[-40:], refitted, loaded.reference, task), rtol=1e-3)
    # In the data's units: next to the values a week earlier (the seasonal-naive reference's).
    assert np.abs(got - x[-7:-5]).max() < 0.5 * np.abs(x).max()


def test_predict_data_errors_name_data_in_one_line(shop, capsys):
    tmp, _, run = shop
    short = write_csv(tmp / "short.csv", daily_rows(5))  # data.bptt = 8 steps needed, season 7
    one_line_error(["predict", str(run), "--data", str(short), "--out", str(tmp / "x.csv")], capsys,
                   ("--data (", "short.csv", "expected at least 8 steps", "data.bptt = 8", "got 5"),
                   kept=tmp, new_files=False)
    no_visits = write_csv(tmp / "no_visits.csv", [r[:2] + r[3:] for r in daily_rows(STEPS)],
                          header=("date", "sales", "store"))
    one_line_error(["predict", str(run), "--data", str(no_visits), "--out", str(tmp / "x.csv")], capsys,
                   ("--data (", "missing ['visits']", "['sales', 'visits']", "header ['date', 'sales', 'store']"),
                   kept=tmp, new_files=False)
    np.savez(tmp / "one.npz", X=np.ones((30, 1)))
    one_line_error(["predict", str(run), "--data", str(tmp / "one.npz"), "--out", str(tmp / "x.csv")], capsys,
                   ("--data (", "expected 2 channels per step (the run's sales, visits), got 1"),
                   kept=tmp, new_files=False)
