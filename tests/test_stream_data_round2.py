"""A new user's own files for forecasting and language modelling, second round: rows out of time
order are refused, dates in US or local-time form continue after the end (and where they cannot,
or the rows miss steps, training says so), a NaN cell is named by line and column, a constant
column is refused, and a word vocabulary that never maps a training word to <unk> is warned of."""

from __future__ import annotations

import csv
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import DataConfig, parse_config
from rnnlab.data import load_data
from rnnlab.data.stamps import following
from rnnlab.data.stream import read_series
from rnnlab.data.text import load_text
from rnnlab.errors import DataError
from rnnlab.task import task_for

N = 80
T = np.arange(N)
SALES = 100 + 0.5 * T + 20 * np.sin(2 * np.pi * T / 7)
DAYS = [date(2023, 1, 1) + timedelta(days=int(i)) for i in T]


def _write(path: Path, dates: list[str], extra: dict[str, list[str]] | None = None, name: str = "date") -> str:
    columns = {"sales": [f"{v:.2f}" for v in SALES[: len(dates)]], **(extra or {})}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([name, *columns])
        w.writerows([d, *(c[i] for c in columns.values())] for i, d in enumerate(dates))
    return str(path)


def _config(path: str, data: str = ""):
    return parse_config(stream_toml(path, data=data, task="season = 7"))


def _load(path: str, data: str = "") -> list[str]:
    """Load the stream for training; the warnings it gave."""
    c = _config(path, data)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(c.data, seed=0, task=task_for(c))
    return [str(w.message) for w in said]


def _error(path: str, data: str = "") -> str:
    c = _config(path, data)
    with pytest.raises(DataError) as e:
        load_data(c.data, seed=0, task=task_for(c))
    assert "\n" not in str(e.value)
    return str(e.value)


# ------------------------------------------------------------------ 1: rows not in time order


def test_a_newest_first_date_column_is_refused_naming_it_and_the_fix(tmp_path, capsys):
    # Before: read silently, the test block the oldest dates, the "forecast after the end" a value
    # before the start.
    path = _write(tmp_path / "rev.csv", [d.isoformat() for d in DAYS][::-1])
    (tmp_path / "c.toml").write_text(stream_toml(path))
    line = one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                          ("rev.csv: column 'date' runs newest-first", "2023-03-21 on line 2 down to 2023-01-01 on "
                           "line 81", "expected the oldest date first", "tac"))
    assert "line 81" in line


@pytest.mark.parametrize(("swap", "expected"), [
    ((10, 11), "line 13, column 'date': 2023-01-11 is earlier than 2023-01-12 on line 12"),  # shuffled
    (None, "line 32, column 'date': the date 2023-01-30 again (as on line 31)"),  # duplicated
])
def test_dates_out_of_order_or_twice_are_refused_at_the_first_offending_line(tmp_path, swap, expected):
    cells = [d.isoformat() for d in DAYS]
    if swap:
        cells[swap[0]], cells[swap[1]] = cells[swap[1]], cells[swap[0]]
    else:
        cells[30] = cells[29]
    message = _error(_write(tmp_path / "s.csv", cells))
    assert expected in message, message


def test_blank_lines_do_not_shift_the_line_an_error_names(tmp_path):
    path = tmp_path / "b.csv"
    _write(path, [d.isoformat() for d in DAYS])
    lines = path.read_text().splitlines()
    lines[40] = lines[40].replace(lines[40].split(",")[1], "nan")  # line 41 of the file
    path.write_text("\n".join(lines[:20] + [""] + lines[20:]) + "\n")  # a blank line before it
    assert "line 42, column 'sales'" in _error(str(path))


# ------------------------------------------------------------------ 2: dates the forecast continues, or says why not


@pytest.mark.parametrize(("cells", "expected"), [
    ([d.strftime("%m/%d/%Y") for d in DAYS], ["03/22/2023", "03/23/2023"]),  # US, month first
    ([f"{d.month}/{d.day}/{d.year}" for d in DAYS], ["3/22/2023", "3/23/2023"]),  # without leading zeros
    ([d.strftime("%d/%m/%Y") for d in DAYS], ["22/03/2023", "23/03/2023"]),  # day first: 13 and above decide
    ([d.strftime("%d.%m.%Y") for d in DAYS], ["22.03.2023", "23.03.2023"]),
    # monthly on the 1st, month first: only that reading runs at a fixed step (day first would
    # jump from Jan 12 to Jan 1 of the next year)
    ([f"{m:02d}/01/{y}" for y in (2021, 2022) for m in range(1, 13)], ["01/01/2023", "02/01/2023"]),
    # daily local midnights in a zone with summer time: the UTC step is 23 h across the change
    ([datetime(2023, 3, 1 + i, tzinfo=timezone(timedelta(hours=-5 if i < 12 else -4))).isoformat()
      for i in range(20)], ["2023-03-21T00:00:00", "2023-03-22T00:00:00"]),
    # weekdays: the weekends are no gap
    ([d.isoformat() for d in DAYS if d.weekday() < 5], ["2023-03-22", "2023-03-23"]),
])
def test_dates_continue_after_the_end_in_their_own_format(cells, expected):
    assert following(cells, 2) == expected


def test_a_forecast_on_us_dates_carries_them_and_training_says_nothing_of_them(tmp_path, capsys):
    path = _write(tmp_path / "us.csv", [d.strftime("%m/%d/%Y") for d in DAYS])
    (tmp_path / "c.toml").write_text(stream_toml(path, task="season = 7"))
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (whatever -W the test run was given)
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "run")]) == 0
    rows = list(csv.reader((tmp_path / "run" / "forecast.csv").open()))
    assert rows[0] == ["series", "index", "step", "date", "sales"] and rows[1][2:4] == ["80", "03/22/2023"]


def test_ambiguous_day_and_month_are_not_guessed_and_training_says_so(tmp_path):
    cells = ["01/02/2023", "01/03/2023", "01/04/2023"]  # Jan 2-4 daily, or Feb-Apr monthly
    assert following(cells, 1) is None
    values = {"sales": [f"{v:.2f}" for v in SALES[:3]]}
    path = tmp_path / "a.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["date", "sales"], *([c, values["sales"][i]] for i, c in enumerate(cells))])
    notes = read_series(DataConfig(path=str(path))).notes
    assert len(notes) == 1 and "column 'date'" in notes[0] and "month/day and as day/month" in notes[0], notes
    assert "YYYY-MM-DD" in notes[0]


def test_gaps_in_the_dates_are_warned_of_with_their_count_and_first_gap(tmp_path, capsys):
    assert _load(_write(tmp_path / "ok.csv", [d.isoformat() for d in DAYS])) == []  # no gap: nothing said
    keep = [d for i, d in enumerate(DAYS) if i not in (20, 50, 51)]
    path = _write(tmp_path / "g.csv", [d.isoformat() for d in keep])
    said = _load(path)
    assert len(said) == 1, said
    assert ("column 'date' misses 3 steps of 1 day (first gap: 2023-01-20 on line 21, then 2023-01-22 on line 22)"
            in said[0]), said
    assert "out of phase" in said[0] and "carries no dates" in said[0]
    # the command line says it in one line, once (the run reads its data again after training)
    path = _write(tmp_path / "g2.csv", [d.isoformat() for d in keep])
    (tmp_path / "c.toml").write_text(stream_toml(path, task="season = 7", training="steps = 1"))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and err[0].startswith("rnnlab train: warning: ") and "misses 3 steps" in err[0], err


def test_dates_without_a_fixed_step_are_left_out_with_a_line_saying_why(tmp_path):
    rng = np.random.default_rng(0)
    start = datetime(2023, 1, 1)
    cells = [(start + timedelta(seconds=int(s))).isoformat() for s in np.sort(rng.choice(10**7, N, replace=False))]
    said = _load(_write(tmp_path / "i.csv", cells))
    assert len(said) == 1 and "column 'date': the dates have no fixed step" in said[0], said
    # a column named as dates that no format reads is said too
    said = _load(_write(tmp_path / "m.csv", [d.strftime("%b %d, %Y") for d in DAYS], name="day"))
    assert len(said) == 1 and "column 'day' is not read as dates ('Jan 01, 2023' on line 2" in said[0], said


# ------------------------------------------------------------------ 3: a NaN or inf cell


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity"])
def test_a_non_finite_cell_is_named_by_line_and_column(tmp_path, cell):
    visits = [f"{v:.1f}" for v in T]
    visits[40] = cell
    message = _error(_write(tmp_path / "n.csv", [d.isoformat() for d in DAYS], {"visits": visits}))
    assert f"line 42, column 'visits': expected a finite number, got {cell!r}" in message, message


# ------------------------------------------------------------------ 4: a constant channel


def test_a_constant_column_is_refused_naming_it_its_value_and_the_remedy(tmp_path):
    path = _write(tmp_path / "c.csv", [d.isoformat() for d in DAYS], {"level": ["5"] * N})
    message = _error(path)
    assert message.startswith("data.columns: column 'level' of ") and "holds 5 at every one" in message, message
    assert 'leave it out of data.columns (columns = ["sales"])' in message, message
    # constant in the training part only: still nothing to learn from, and MASE's scale is 0 there
    level = ["5"] * (N - 24) + [str(i) for i in range(24)]
    assert "column 'level'" in _error(_write(tmp_path / "c2.csv", [d.isoformat() for d in DAYS], {"level": level}))
    # with data.columns leaving it out, it trains
    assert _load(path, 'columns = ["sales"]') == []


def test_a_wholly_constant_series_is_refused(tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("date,level\n" + "".join(f"{d.isoformat()},5\n" for d in DAYS))
    message = _error(str(path))
    assert message.startswith("data.columns: column 'level'") and "holds 5" in message
    np.savez(tmp_path / "k.npz", X=np.stack([SALES, np.full(N, 2.5)], axis=1))
    message = _error(str(tmp_path / "k.npz"))
    assert message.startswith("data.path: channel 1 of ") and "holds 2.5" in message, message


# ------------------------------------------------------------------ 5: words never unknown in training


def _words(tmp_path: Path) -> str:
    # Zipf-like words: the tail of rare ones keeps bringing new words into the validation block
    rng = np.random.default_rng(0)
    ids = np.minimum(rng.zipf(1.3, 6000), 5000)
    lines = [" ".join(f"w{i}" for i in ids[k: k + 12]) for k in range(0, len(ids), 12)]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "t.txt")


def test_unknown_validation_words_with_none_in_training_are_warned_of_with_a_cap(tmp_path):
    path = _words(tmp_path)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = load_text(DataConfig(path=path, tokens="word", bptt=20))
    counts = d.text.counts()
    assert counts["unknown"]["train"] == 0 and counts["unknown"]["val"] > 0.05 * counts["tokens"]["val"]
    messages = [str(w.message) for w in said]
    assert len(messages) == 1 and messages[0].startswith("data.vocab_size: "), messages
    cap = int(messages[0].split("data.vocab_size = ")[1].split()[0])
    assert 2 <= cap < d.text.vocab.size
    # the suggested cap maps the rarest training words to <unk>: the warning is gone
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = load_text(DataConfig(path=path, tokens="word", bptt=20, vocab_size=cap))
    assert d.text.counts()["unknown"]["train"] > 0 and not said
