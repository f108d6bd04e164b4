"""A forecaster's column of dates written YYYYMMDD (``20240101``, as ``df.to_csv`` writes an
integer date, or the same quoted as text) is read as the series' dates, with the checks every
date format gets (gaps, order, the data notes); a cell that is no calendar date is one line
naming the column, the line and the value, and a counter named ``date`` is still refused."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data.stamps import following, read_dates
from rnnlab.data.stream import load_stream, read_series
from rnnlab.task import task_for
from rnnlab.train.forecast import forecast_table

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

N = 120
T = np.arange(N)
SALES = 100 + 0.5 * T + 20 * np.sin(2 * np.pi * T / 7)
DAILY = [date(2023, 1, 1) + timedelta(days=int(i)) for i in T]
MONTHLY = [date(2000 + int(i) // 12, int(i) % 12 + 1, 1) for i in T]


def compact(day: date) -> str:
    return day.strftime("%Y%m%d")


def write(path: Path, dates: list[str], quoted: bool = False, values: np.ndarray = SALES) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL)
        w.writerow(["date", "sales"])
        w.writerows(zip(dates, (f"{v:.2f}" for v in values), strict=True))
    return path


def config(tmp_path: Path, data: Path) -> Path:
    toml = tmp_path / f"{data.stem}.toml"
    toml.write_text(stream_toml(str(data), task="horizon = 2\nseason = 7"))
    return toml


def loaded(tmp_path: Path, data: Path):
    cfg = parse_config(config(tmp_path, data).read_text())
    return read_series(cfg.data), load_stream(cfg.data, seed=0, task=task_for(cfg))


@pytest.mark.parametrize("quoted", [False, True], ids=["numbers", "text"])
@pytest.mark.parametrize("days", [DAILY, MONTHLY], ids=["daily", "monthly"])
def test_a_yyyymmdd_column_is_the_same_dates_as_iso(tmp_path, quoted, days):
    iso_series, iso = loaded(tmp_path, write(tmp_path / "iso.csv", [d.isoformat() for d in days]))
    ymd_series, ymd = loaded(tmp_path, write(tmp_path / "ymd.csv", [compact(d) for d in days], quoted))
    # the dates are no channel: the same one channel, so the same rows and seasonal MASE scale
    assert ymd.columns == iso.columns == ["sales"]
    np.testing.assert_array_equal(ymd.train.X, iso.train.X)
    np.testing.assert_array_equal(ymd.train.scale.seasonal_error, iso.train.scale.seasonal_error)
    assert ymd_series.notes == iso_series.notes == []
    assert ymd_series.stamps == ("date", [compact(d) for d in days])
    assert read_dates(ymd_series.stamps[1]) == read_dates(iso_series.stamps[1])
    after = following(iso_series.stamps[1], 3)
    assert after is not None
    assert following(ymd_series.stamps[1], 3) == [a.replace("-", "") for a in after]


def test_a_gap_in_yyyymmdd_dates_is_noted_as_in_iso_dates(tmp_path):
    kept = [d for i, d in enumerate(DAILY) if i not in (40, 41, 42)]
    values = SALES[: len(kept)]
    iso = read_series(parse_config(config(tmp_path, write(
        tmp_path / "g.csv", [d.isoformat() for d in kept], values=values)).read_text()).data)
    ymd = read_series(parse_config(config(tmp_path, write(
        tmp_path / "g2.csv", [compact(d) for d in kept], values=values)).read_text()).data)
    assert len(iso.notes) == 1 and "misses 3 steps of 1 day" in iso.notes[0]
    said = iso.notes[0].replace("g.csv", "g2.csv")
    for d in kept[39:41]:
        said = said.replace(d.isoformat(), compact(d))
    assert ymd.notes == [said]
    assert "first gap: 20230209 on line 41, then 20230213 on line 42" in said
    assert following(ymd.stamps[1], 1) is None  # (a gapped column is not continued)


def test_yyyymmdd_dates_newest_first_are_refused_as_iso_ones(tmp_path, capsys):
    data = write(tmp_path / "rev.csv", [compact(d) for d in reversed(DAILY)])
    one_line_error(["train", str(config(tmp_path, data)), "--out", str(tmp_path / "run")], capsys,
                   ["rev.csv", "column 'date' runs newest-first", "20230430 on line 2", "tac"])


@pytest.mark.parametrize("bad", ["20241345", "20230230", "2023021"])
def test_a_cell_that_is_no_yyyymmdd_date_is_one_line_naming_it(tmp_path, capsys, bad):
    dates = [compact(d) for d in DAILY]
    dates[50] = bad
    data = write(tmp_path / "bad.csv", dates)
    line = one_line_error(["train", str(config(tmp_path, data)), "--out", str(tmp_path / "run")], capsys,
                          ["bad.csv", "line 52", "column 'date'", f"got {bad!r}", "YYYYMMDD"])
    assert ("no calendar date" in line) == (len(bad) == 8)


def test_a_counter_named_date_is_still_refused(tmp_path, capsys):
    data = write(tmp_path / "count.csv", [str(i + 1) for i in T])
    one_line_error(["train", str(config(tmp_path, data)), "--out", str(tmp_path / "run")], capsys,
                   ["count.csv", "column 'date'", "'1' on line 2", "never a channel", "data.columns"])


def test_the_forecast_after_training_carries_yyyymmdd_dates(tmp_path, capsys):
    data = write(tmp_path / "ymd.csv", [compact(d) for d in DAILY])
    assert main(["train", str(config(tmp_path, data)), "--out", str(tmp_path / "run")]) == 0
    header, rows = forecast_table(tmp_path / "run")
    assert header[:4] == ["series", "index", "step", "date"] and header[4:] == ["sales"]
    assert [r[3] for r in rows] == ["20230501", "20230502"]  # (the two days after 2023-04-30)


def test_yyyymmdd_text_cells_continue_as_they_are_written():
    # (Python's fromisoformat reads 20231231 too: such cells once reached the ISO writer and crashed)
    assert following(["20231230", "20231231"], 2) == ["20240101", "20240102"]
    assert following(["20240131", "20240229", "20240331"], 2) == ["20240430", "20240531"]  # month ends
    assert read_dates(["20231230", "20231231"]) == read_dates(["2023-12-30", "2023-12-31"])
