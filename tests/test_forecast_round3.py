"""An analyst forecasting their own CSVs (round 3): a column name given twice is refused, the final
run of a search or a recipe is on the whole training split and stands beside its own naive and
seasonal-naive figures, the search's folds fit the season, the report's forecast picture says how
good the forecast is, ``predict --data`` warns of a gap in the dates, month ends have a step, a
repeated daylight-saving hour is named, a validation block of one origin is warned of, and
forecast.csv names the file, not where it lay."""

from __future__ import annotations

import csv
import datetime
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import SearchConfig, parse_config
from rnnlab.data.stamps import check_dates, following
from rnnlab.data.stream import load_stream
from rnnlab.errors import ConfigError, DataError
from rnnlab.search.trial import stream_plan
from rnnlab.task import FORECASTING, task_for
from rnnlab.train.final import final_config
from rnnlab.train.trainer import shown_apart

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

START = datetime.date(2023, 1, 1)


def shop_rows(n: int, header: tuple[str, ...] = ("date", "store_a", "store_b")) -> list[list[str]]:
    """A daily shop's rows: two stores, a weekly pattern, a trend and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    week = np.array([0, 1, 2, 3, 5, 9, 7])[t % 7]
    a = 100 + 0.2 * t + 10 * week + rng.normal(0, 3, n)
    b = 50 + 5 * week + rng.normal(0, 2, n)
    return [list(header)] + [[(START + datetime.timedelta(days=int(i))).isoformat(), f"{a[i]:.2f}", f"{b[i]:.2f}"]
                             for i in t]


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def quiet(argv: list[str]) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(argv)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A trained two-store forecaster (3 steps ahead, season 7) with a test block of 84 days."""
    tmp = tmp_path_factory.mktemp("shop")
    data = write_rows(tmp / "shop.csv", shop_rows(300))
    cfg = tmp / "shop.toml"
    cfg.write_text(stream_toml(str(data), data="val_steps = 40\ntest_steps = 84\nbptt = 16",
                               task='horizon = 3\nseason = 7\nrelative_to = "seasonal_naive"',
                               training="steps = 20\nlr = 0.01"))
    assert quiet(["train", str(cfg), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp, data, tmp / "run"


# ------------------------------------------------------------------ 1. a column name given twice


def test_a_csv_whose_value_column_name_repeats_is_refused_naming_it_and_the_file(tmp_path, capsys):
    rows = shop_rows(120, header=("date", "sales", "sales"))
    data = write_rows(tmp_path / "dupcol.csv", rows)
    (tmp_path / "c.toml").write_text(stream_toml(str(data), task="season = 7"))
    line = one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                          ["'sales'", "dupcol.csv", "2 times", "columns 2, 3"])
    assert "rename" in line


def test_data_columns_naming_a_column_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"'data.columns': expected each column once, got 'store_a' 2 times"):
        parse_config('[task]\nkind = "forecasting"\n[data]\npath = "x.csv"\ncolumns = ["store_a", "store_a"]')


def test_predict_data_refuses_a_file_whose_run_column_repeats(shop, capsys):
    tmp, _, run = shop
    rows = shop_rows(120, header=("date", "store_a", "store_b"))
    rows = [r + [r[1]] for r in rows]  # a second 'store_a' after the others
    bad = write_rows(tmp / "twice.csv", rows)
    one_line_error(["predict", str(run), "--data", str(bad), "--out", str(tmp / "twice_out.csv")], capsys,
                   ["--data", "'store_a'", "twice.csv", "2 times"])


# ------------------------------------------------------------------ 2, 3. the final run of a search


def test_the_final_run_holds_out_no_validation_block_however_it_was_sized():
    c = parse_config('[task]\nkind = "forecasting"\n[data]\ndataset = "Airline"\nval_steps = 24')
    final = final_config(c, Path("final"))
    assert final.data.val_steps is None and final.data.val_fraction == 0.0
    task = task_for(final)
    d = load_stream(final.data, seed=0, task=task)
    assert len(d.val) == 0  # the validation block joined training
    assert d.train.X.shape[1] == load_stream(c.data, seed=0, task=task).train.X.shape[1] + 24


def test_search_prints_and_shows_the_final_runs_own_naive_and_seasonal_naive_beside_its_test_mase(
        shop, tmp_path, capsys):
    _, data, _ = shop
    cfg = tmp_path / "s.toml"
    cfg.write_text(stream_toml(str(data), data="val_steps = 40\ntest_steps = 84\nbptt = 16",
                               task='horizon = 3\nseason = 7\nrelative_to = "seasonal_naive"',
                               training="steps = 10\nlr = 0.01") + "[search]\nfolds = 2\n")
    out = tmp_path / "s"
    capsys.readouterr()
    assert quiet(["search", str(cfg), "--trials", "1", "--out", str(out), "--reports", "none"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "final" / "summary.json").read_text())
    base = summary["baselines"]["test"]
    line = next(x for x in printed.splitlines() if x.startswith("test MASE"))
    # (each figure in digits that tell it from the model's, trailing zeros kept: rnnlab.train.trainer.shown_apart)
    model, refs = shown_apart(summary["test"]["mase"], {"naive": base["naive"]["mase"],
                                                        "seasonal naive": base["seasonal_naive"]["mase"]},
                              FORECASTING.headline)
    assert f"test MASE {model} (naive {refs['naive']}, seasonal naive {refs['seasonal naive']} on the same steps" \
        in line
    final = json.loads((out / "final.json").read_text())
    assert final["baselines"]["seasonal_naive"]["mase"] == base["seasonal_naive"]["mase"]
    page = (out / "study.html").read_text()
    assert f"seasonal naive {refs['seasonal naive']} on the same steps" in page
    # 3. the whole training split: no val_steps kept, no validation figures recorded
    recorded = (out / "final" / "config.toml").read_text()
    assert "val_steps" not in recorded
    records = [json.loads(x) for x in (out / "final" / "metrics.jsonl").read_text().splitlines()]
    assert records and not any(k.startswith("val_") for r in records for k in r)


def test_recipe_prints_and_tabulates_the_final_runs_own_baselines(shop, tmp_path, capsys):
    from rnnlab.recipe.run import RecipeOptions, run_recipe_command

    _, data, _ = shop
    cfg = tmp_path / "r.toml"
    cfg.write_text(stream_toml(str(data), data="val_steps = 40\ntest_steps = 84\nbptt = 16",
                               task='horizon = 3\nseason = 7\nrelative_to = "seasonal_naive"',
                               training="steps = 6\nlr = 0.01") + "[search]\nfolds = 2\n")
    said: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = run_recipe_command(RecipeOptions(config=str(cfg), seeds=1, steps="zoneout", out=str(tmp_path / "r")),
                                     log=said.append)
    final = outcome.tests["final"]
    seasonal = final["baselines"]["seasonal_naive"]["mase"]
    assert any(x.startswith("final: test MASE") and f"seasonal naive {seasonal:.4g} on the same steps" in x
               for x in "\n".join(said).splitlines())
    md = (tmp_path / "r" / "recipe.md").read_text()
    assert f"seasonal naive {seasonal:.4g}" in md
    assert f"seasonal naive {seasonal:.4g}" in (tmp_path / "r" / "recipe.html").read_text()


# ------------------------------------------------------------------ 4. folds the season fits


def hourly_config(tmp_path: Path, steps: int, season: int) -> str:
    t = np.arange(steps)
    rows = [["time", "load"]] + [[f"{i}", f"{500 + 100 * np.sin(2 * np.pi * i / 24) + (i % 168):.1f}"] for i in t]
    data = write_rows(tmp_path / "hourly.csv", rows)
    return stream_toml(str(data), data="bptt = 24\nstreams = 2\ntest_steps = 96\nval_fraction = 0.2\ncolumns = [\"load\"]",
                       task=f"horizon = 6\nseason = {season}").replace("val_steps = 12\n", "")


def test_the_search_folds_leave_each_fold_more_training_steps_than_the_season(tmp_path):
    cfg = parse_config(hourly_config(tmp_path, 480, 168))  # 384 steps before the test block
    plan = stream_plan(cfg, SearchConfig())
    task = task_for(cfg)
    for fold in plan.folds():  # every fold loads: its training part scales MASE by a season
        d = load_stream(cfg.data, seed=0, fold=fold, task=task)
        assert np.isfinite(d.val.scale.seasonal_error).all()
    assert plan.k == 1  # 2 folds would train the first on 128 steps, fewer than a season of 168


def test_a_season_no_fold_fits_is_one_error_naming_search_folds_before_training(tmp_path):
    cfg = parse_config(hourly_config(tmp_path, 300, 200))  # 204 steps before the test block
    with pytest.raises(DataError) as e:
        stream_plan(cfg, SearchConfig(folds=3))
    message = str(e.value)
    assert message.startswith("search.folds:") and "task.season = 200" in message and "204 steps" in message
    assert "\n" not in message


# ------------------------------------------------------------------ 5. the report's forecast picture


def test_the_pictures_per_channel_mase_is_the_runs_and_each_panel_gives_it(shop):
    from rnnlab.plots.forecast import forecast_lines, plot_forecast

    _, _, run = shop
    lines = forecast_lines(run)
    mase = lines.mase()
    summary = json.loads((run / "summary.json").read_text())
    # the run's test MASE and its baselines' are the means of the channels' own
    assert float(np.mean(mase["model"])) == pytest.approx(summary["test"]["mase"], rel=1e-4)
    assert float(np.mean(mase["seasonal naive"])) == pytest.approx(
        summary["baselines"]["test"]["seasonal_naive"]["mase"], rel=1e-6)
    assert float(np.mean(mase["naive"])) == pytest.approx(summary["baselines"]["test"]["naive"]["mase"], rel=1e-6)
    fig = plot_forecast(lines)
    for c, ax in enumerate(fig.axes):
        title = ax.get_title()
        for name in ("model", "naive", "seasonal naive"):
            assert f"{name} {mase[name][c]:.3f}" in title, title
        drawn = {line.get_label(): line for line in ax.get_lines()}
        seasonal, model = drawn["seasonal naive, 3 steps ahead"], drawn["model, 1 step ahead"]
        assert seasonal.get_zorder() > model.get_zorder() and seasonal.get_linestyle() != "-"
        # the training block's last 24 days (muted, to its boundary), then the 40 validation and 84
        # test days whole: what the forecasts continue from (tests/test_figure_glyphs_and_forecast_block.py)
        assert len(drawn["actual, training block"].get_xdata()) == 24 + 1
        assert len(drawn["actual"].get_xdata()) == 1 + 40 + 84
    assert "the last" not in fig._suptitle.get_text()


def test_the_report_tabulates_each_channels_test_mase(shop):
    from rnnlab.plots.forecast import forecast_lines

    _, _, run = shop
    mase = forecast_lines(run).mase()
    page = (run / "report.html").read_text()  # (the report `rnnlab train` wrote at the run's end: write_report's)
    assert "Test MASE of each channel" in page
    for c, name in enumerate(("store_a", "store_b")):
        assert re.search(rf"<td>{name}</td><td class=\"num\">{mase['model'][c]:.4g}</td>", page), name


# ------------------------------------------------------------------ 6. predict --data: a gap in the dates


def test_predict_data_on_a_file_with_a_date_gap_warns_as_training_does(shop, capsys):
    tmp, _, run = shop
    rows = shop_rows(120)
    gap = write_rows(tmp / "gap.csv", rows[:50] + rows[51:])
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (whatever -W the test run was given)
        assert main(["predict", str(run), "--data", str(gap), "--out", str(tmp / "gap_out.csv")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"rnnlab predict: warning: --data: \S*gap.csv: column 'date' misses 1 step of 1 day", err), err
    assert next(csv.reader((tmp / "gap_out.csv").open()))[:4] == ["series", "index", "step", "store_a"]  # no dates


# ------------------------------------------------------------------ 7. dates: month ends, daylight saving


def test_month_ends_run_at_a_step_of_a_month():
    ends = ["2010-01-31", "2010-02-28", "2010-03-31", "2010-04-30"]
    assert following(ends, 3) == ["2010-05-31", "2010-06-30", "2010-07-31"]
    assert following(["2011-11-30", "2011-12-31", "2012-01-31"], 1) == ["2012-02-29"]
    assert following(["2010-03-31", "2010-06-30", "2010-09-30"], 1) == ["2010-12-31"]  # quarter ends
    j, notes = check_dates("m.csv", ["month", "v"], [[d, "1"] for d in ends], [1], [2, 3, 4, 5])
    assert j == 0 and notes == []


def test_monthly_dates_on_varying_days_are_said_to_be_unsupported():
    cells = ["2010-01-31", "2010-02-28", "2010-03-30", "2010-04-30"]  # the 30th of March: no month end
    _, notes = check_dates("m.csv", ["month", "v"], [[d, "1"] for d in cells], [1], [2, 3, 4, 5])
    assert len(notes) == 1 and "monthly dates with varying day counts are not supported" in notes[0]
    assert "YYYY-MM" in notes[0]


def test_a_repeated_daylight_saving_hour_is_named_with_utc_as_the_remedy():
    hours = [f"2023-10-29 {h:02d}:00" for h in (0, 1, 2, 2, 3, 4)]
    with pytest.raises(DataError) as e:
        check_dates("load.csv", ["time", "load"], [[h, "1"] for h in hours], [1], [2, 3, 4, 5, 6, 7])
    message = str(e.value)
    assert "line 5" in message and "daylight saving" in message and "UTC" in message and "offsets" in message
    assert "several series" not in message
    # a date twice in a daily file is still the other mistake
    days = ["2023-01-01", "2023-01-02", "2023-01-02"]
    with pytest.raises(DataError, match="several series in one file"):
        check_dates("d.csv", ["date", "v"], [[d, "1"] for d in days], [1], [2, 3, 4])


# ------------------------------------------------------------------ 8. a validation block of one origin; forecast.csv


def test_a_validation_block_as_long_as_the_horizon_is_warned_of(tmp_path):
    data = write_rows(tmp_path / "h64.csv", shop_rows(400))
    cfg = parse_config(stream_toml(str(data), data="val_steps = 64\ntest_steps = 64\nbptt = 16",
                                   task="horizon = 64\nseason = 7"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_stream(cfg.data, seed=0, task=task_for(cfg))
    notes = [str(w.message) for w in said if str(w.message).startswith("task.horizon: the validation")]
    assert len(notes) == 1 and "only 1 origin" in notes[0] and "data.val_steps" in notes[0]
    assert "at least 127 steps" in notes[0]
    fine = parse_config(stream_toml(str(data), data="val_steps = 127\ntest_steps = 64\nbptt = 16",
                                    task="horizon = 64\nseason = 7"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_stream(fine.data, seed=0, task=task_for(fine))
    assert not [w for w in said if str(w.message).startswith("task.horizon: the validation")]


def test_forecast_csv_names_the_file_not_where_it_lay(shop):
    _, data, run = shop
    out = run.parent / "fc.csv"
    assert quiet(["predict", str(run), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0][:4] == ["series", "index", "step", "date"]
    assert {r[0] for r in rows[1:]} == {"shop.csv"} and str(data.parent) not in out.read_text()
