"""A forecaster's own CSV, second round: pandas's index column and a column of YYYYMMDD numbers
named ``date`` are refused rather than forecast as channels, a column of numbers with thousands
separators is refused rather than dropped without a word (a column of text left out is named in
a warning), a semicolon file's error says the separator, and a test block of a single origin is
warned of as a validation block is."""

from __future__ import annotations

import csv
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.config import parse_config
from rnnlab.data.stream import load_stream
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

N = 120
T = np.arange(N)
DAYS = [(date(2023, 1, 1) + timedelta(days=int(i))).isoformat() for i in T]
SALES = 100 + 0.5 * T + 20 * np.sin(2 * np.pi * T / 7)
VISITS = 40 + 10 * np.cos(2 * np.pi * T / 7) + 0.1 * T


def write(path: Path, columns: dict[str, list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(columns))
        w.writerows(zip(*columns.values(), strict=True))
    return path


def values(x: np.ndarray, fmt: str = "{:.2f}") -> list[str]:
    return [fmt.format(v) for v in x]


def config(tmp_path: Path, data: Path, keys: str = "", task: str = "horizon = 1\nseason = 7") -> Path:
    toml = tmp_path / "c.toml"
    toml.write_text(stream_toml(str(data), data=keys, task=task))
    return toml


def train(tmp_path: Path, data: Path) -> list[str]:
    """``rnnlab train`` on ``data``, its run (if any) under ``tmp_path``."""
    return ["train", str(config(tmp_path, data)), "--out", str(tmp_path / "run")]


def load_warnings(toml: Path) -> tuple[list[str], list[str]]:
    """The columns a run on ``toml`` forecasts, and what loading its data warns of."""
    cfg = parse_config(toml.read_text())
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = load_stream(cfg.data, seed=0, task=task_for(cfg))
    return list(d.columns), [str(w.message) for w in said]


# ------------------------------------------------------------------ 1. pandas's index; dates as numbers


@pytest.mark.parametrize("name", ["Unnamed: 0", ""])
def test_pandas_index_column_is_refused_not_forecast(tmp_path, capsys, name):
    # pd.read_csv(f).to_csv(g) writes the index: "" in the header, "Unnamed: 0" once saved again
    data = write(tmp_path / "idx.csv", {name: [str(i) for i in T], "date": DAYS, "sales": values(SALES)})
    line = one_line_error(train(tmp_path, data), capsys,
                          ["idx.csv", "column 1", "holds values ('0' on line 2)", "index=False"])
    assert ("'Unnamed: 0'" in line) == bool(name)


def test_the_runs_columns_read_a_file_with_an_index_column(tmp_path):
    # (rnnlab predict --data reads by the run's column names: an index column beside them is not read)
    data = write(tmp_path / "idx.csv", {"Unnamed: 0": [str(i) for i in T], "date": DAYS, "sales": values(SALES)})
    columns, _ = load_warnings(config(tmp_path, data, 'columns = ["sales"]'))
    assert columns == ["sales"]


def test_a_date_column_of_yyyymmdd_numbers_is_the_dates_not_a_channel(tmp_path):
    # (it was refused with a pandas fix; since tests/test_yyyymmdd_dates.py it is read as the dates)
    stamps = [d.replace("-", "") for d in DAYS]
    data = write(tmp_path / "intdate.csv", {"date": stamps, "sales": values(SALES), "visits": values(VISITS)})
    columns, said = load_warnings(config(tmp_path, data))
    assert columns == ["sales", "visits"] and not [s for s in said if "'date'" in s]
    # the user who lists the value columns reads them alone
    columns, _ = load_warnings(config(tmp_path, data, 'columns = ["sales", "visits"]'))
    assert columns == ["sales", "visits"]


@pytest.mark.parametrize("name", ["time", "Timestamp", "step", "id"])
def test_other_columns_named_as_no_values_are_refused(tmp_path, capsys, name):
    data = write(tmp_path / "named.csv", {name: [str(i) for i in T], "sales": values(SALES)})
    one_line_error(train(tmp_path, data), capsys, [f"column {name!r}", "'0' on line 2", "data.columns"])


# ------------------------------------------------------------------ 2. separators; columns left out


def test_a_column_with_thousands_separators_is_refused_not_dropped(tmp_path, capsys):
    data = write(tmp_path / "thous.csv", {"date": DAYS, "store1": values(100 * SALES, "{:,.2f}"),
                                          "store2": values(VISITS)})
    one_line_error(train(tmp_path, data), capsys,
                   ["thous.csv", "column 'store1'", "separators", "'10,000.00' on line 2", "not 1,234.5",
                    "thousands=','"])


def test_a_column_with_separators_only_above_a_thousand_names_its_cell(tmp_path, capsys):
    # (df.to_csv of formatted numbers: 998.00 plain, 1,038.00 with a separator)
    data = write(tmp_path / "some.csv", {"date": DAYS, "store1": values(9 * SALES, "{:,.2f}")})
    one_line_error(train(tmp_path, data), capsys,
                   ["some.csv", "column 'store1'", "'1,0", "plain numbers: 1234.5, not 1,234.5"])


def test_a_column_of_text_left_out_is_named_in_a_warning(tmp_path):
    data = write(tmp_path / "region.csv", {"date": DAYS, "sales": values(SALES), "region": ["north"] * N,
                                           "visits": values(VISITS)})
    columns, said = load_warnings(config(tmp_path, data))
    assert columns == ["sales", "visits"]
    notes = [s for s in said if "left out" in s]
    assert len(notes) == 1 and "region.csv" in notes[0] and "'region' ('north' on line 2)" in notes[0]
    assert "date" not in notes[0].split("left out")[0]  # (the dates are no column left out)
    # every column a channel or the dates: nothing to say
    plain = write(tmp_path / "plain.csv", {"date": DAYS, "sales": values(SALES)})
    _, said = load_warnings(config(tmp_path, plain))
    assert not [s for s in said if "left out" in s]


def test_a_semicolon_file_is_told_its_separator(tmp_path, capsys):
    lines = ["date;sales"] + [f"{d};{v:.2f}".replace(".", ",") for d, v in zip(DAYS, SALES, strict=True)]
    data = tmp_path / "semi.csv"
    data.write_text("\n".join(lines) + "\n")
    one_line_error(train(tmp_path, data), capsys,
                   ["semi.csv", "one cell containing ';'", "sep=';', decimal=','"])


# ------------------------------------------------------------------ 3. a test block of one origin


def test_a_test_block_as_long_as_the_horizon_is_warned_of(tmp_path):
    data = write(tmp_path / "t7.csv", {"date": DAYS, "sales": values(SALES)})
    task = "horizon = 7\nseason = 7"
    _, said = load_warnings(config(tmp_path, data, "test_steps = 7\nval_steps = 20", task))
    notes = [s for s in said if s.startswith("task.horizon")]
    assert len(notes) == 1, notes
    assert "the test block of" in notes[0] and "only 1 origin" in notes[0] and "data.test_steps" in notes[0]
    assert "at least 13 steps" in notes[0]
    _, said = load_warnings(config(tmp_path, data, "test_steps = 13\nval_steps = 20", task))
    assert not [s for s in said if s.startswith("task.horizon")]
