"""Stream data files (round 280): an hour the spring clock change skips said as such (no row is
missing), the fix for a cell that is no number where the columns are chosen (the run's under
``predict --data``, or a date column listed in ``data.columns``), a daily column whose offset
changes said to lose it in the forecast, and a panel whose series differ widely in scale said at
load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_streams import stream_toml

from rnnlab.config import DataConfig, parse_config
from rnnlab.data.stamps import check_dates, following
from rnnlab.data.stream import every_note, load_stream, read_series
from rnnlab.errors import DataError
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def notes_of(cells: list[str]) -> list[str]:
    return check_dates("load.csv", ["time", "load"], [[c, "1"] for c in cells], [1], list(range(2, len(cells) + 2)))[1]


def hours(day: str, skip: int) -> list[str]:
    """Hourly local times from ``day`` 00:00 to 08:00, without the hour ``skip``."""
    return [f"{day} {h:02d}:00:00" for h in range(9) if h != skip]


def test_the_hour_a_spring_clock_change_skips_is_said_as_such_not_as_a_missing_row():
    notes = notes_of(hours("2023-03-26", 2))
    assert len(notes) == 1 and "\n" not in notes[0], notes
    note = notes[0]
    assert "line 4, column 'time': 2023-03-26 03:00:00 follows 2023-03-26 01:00:00 on line 3" in note
    assert "clock goes forward" in note and "no row is missing" in note
    assert "write the times in UTC, or with their offsets (e.g. 2023-03-26T01:00:00+01:00, then " \
        "2023-03-26T03:00:00+02:00)" in note
    assert "add the missing rows" not in note and "misses" not in note
    assert "carries no dates" in note  # (the report's x axis reads this phrase)
    # (at noon, or at night in a month without clock changes, a row is missing)
    for cells in (hours("2023-03-26", 5), hours("2023-06-25", 2)):
        notes = notes_of(cells)
        assert len(notes) == 1 and "misses 1 step of 1 hour" in notes[0] and "clock" not in notes[0], notes


def _csv(tmp_path, rows: list[str]) -> str:
    path = tmp_path / "s.csv"
    path.write_text("date,sales\n" + "".join(f"{r}\n" for r in rows))
    return str(path)


def test_an_empty_value_of_a_chosen_column_is_to_be_filled_not_a_columns_choice(tmp_path):
    # (rnnlab predict --data reads FILE with the run's columns: choosing them is not the user's)
    path = _csv(tmp_path, [f"2023-01-{d:02d},{d if d != 5 else ''}" for d in range(1, 11)])
    with pytest.raises(DataError) as e:
        read_series(DataConfig(path=path, columns=["sales"]))
    message = str(e.value)
    assert "line 6, column 'sales': expected a number, got ''" in message and "\n" not in message
    assert "fill it" in message and "data.columns" not in message, message


def test_a_date_column_listed_in_columns_is_to_be_taken_out(tmp_path):
    path = _csv(tmp_path, [f"2023-01-{d:02d},{d}" for d in range(1, 11)])
    with pytest.raises(DataError) as e:
        read_series(DataConfig(path=path, columns=["date", "sales"]))
    message = str(e.value)
    assert "column 'date': expected a number, got '2023-01-01'" in message
    assert "take 'date' out of data.columns" in message and 'columns = ["sales"]' in message, message
    series = read_series(DataConfig(path=path, columns=["sales"]))  # (the fix works: the dates read as dates)
    assert series.stamps is not None and series.stamps[0] == "date"


def test_daily_midnights_whose_offset_changes_say_the_forecast_drops_it():
    cells = [f"2023-10-{d:02d}T00:00:00+02:00" for d in range(25, 30)] + \
        [f"2023-10-{d:02d}T00:00:00+01:00" for d in (30, 31)]
    assert following(cells, 1) == ["2023-11-01T00:00:00"]
    notes = notes_of(cells)
    assert len(notes) == 1 and "\n" not in notes[0], notes
    note = notes[0]
    assert "+02:00 on line 6, +01:00 from line 7" in note and "without an offset" in note
    assert "(2023-11-01T00:00:00, ...)" in note and "carries no dates" not in note
    assert notes_of([f"2023-10-{d:02d}T00:00:00+01:00" for d in (30, 31)]) == []  # (one offset: kept, nothing said)


def _panel(tmp_path, scales: tuple[float, ...]) -> list[str]:
    rng = np.random.default_rng(0)
    t = np.arange(140)
    X = np.stack([s * (10 + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, 140)) for s in scales])[:, :, None]
    path = tmp_path / "p.npz"
    np.savez(path, X=X, lengths=np.full(len(scales), 140))
    cfg = parse_config(stream_toml(str(path), task="horizon = 1\nseason = 7"))
    with every_note(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_stream(cfg.data, seed=0, task=task_for(cfg))
    return [str(w.message) for w in said if "differ in scale" in str(w.message)]


def test_a_panel_whose_series_differ_widely_in_scale_is_said_at_load(tmp_path):
    said = _panel(tmp_path, (1, 100, 10000))
    assert len(said) == 1 and "\n" not in said[0], said
    note = said[0]
    assert note.startswith("data.path: the 3 series of ") and "channel 'x0'" in note
    assert "in series 0 to" in note and "in series 2;" in note and "more than 100 times" in note
    assert "the loss is the largest series'" in note and "divide each series by its own scale" in note
    assert _panel(tmp_path, (1, 3, 30)) == []  # (series of one kind at different levels: quiet)
