"""An energy analyst's hourly load CSV (round 4): the dates after the end across a clock change
(offsets kept with a note; local times without an offset the step added), the column's own offset form
(``Z``, ``+0100``), a series too short for its horizon refused at the horizon first, and
``predict --data`` silent about the run's own file."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data.stamps import check_dates, following
from rnnlab.data.stream import every_note, load_stream
from rnnlab.errors import DataError
from rnnlab.task import task_for
from rnnlab.train.forecast import forecast_table

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SUMMER, WINTER = timezone(timedelta(hours=2)), timezone(timedelta(hours=1))


def notes_of(cells: list[str]) -> list[str]:
    return check_dates("load.csv", ["timestamp", "load"], [[c, "1"] for c in cells], [1],
                       list(range(2, len(cells) + 2)))[1]


def berlin_hours() -> list[str]:
    """Hourly Berlin times with offsets over the autumn change, ending the day before spring's."""
    utc = datetime(2023, 10, 28, 20, tzinfo=timezone.utc)
    out = []
    for k in range(12):
        t = utc + timedelta(hours=k)
        out.append(t.astimezone(SUMMER if t < datetime(2023, 10, 29, 1, tzinfo=timezone.utc) else WINTER).isoformat())
    return out


def test_offsets_that_change_keep_exact_instants_and_say_the_later_offset_is_unknown():
    cells = berlin_hours()
    assert {c[-6:] for c in cells} == {"+02:00", "+01:00"}
    after = following(cells, 3)
    last = datetime.fromisoformat(cells[-1])
    assert [datetime.fromisoformat(a) for a in after] == [last + timedelta(hours=k) for k in (1, 2, 3)]
    notes = notes_of(cells)
    assert len(notes) == 1, notes
    note = notes[0]
    assert "\n" not in note and "column 'timestamp'" in note and "+01:00" in note and "+02:00" in note
    assert "not known" in note and "carries no dates" not in note  # (the forecast has its dates)


def test_local_times_without_an_offset_are_the_step_added_and_say_nothing():
    # (nothing in such a column shows a clock change: a note on every hourly file would be noise;
    # docs/streams.md says what the dates after the end are)
    cells = [f"2024-03-30 {h:02d}:00:00" for h in range(24)] + ["2024-03-31 00:00:00", "2024-03-31 01:00:00"]
    assert following(cells, 1) == ["2024-03-31 02:00:00"]  # (the column's step added: no zone to know)
    assert notes_of(cells) == []


def test_dates_and_times_at_one_offset_hear_nothing_of_clocks():
    assert notes_of(["2024-03-29", "2024-03-30", "2024-03-31"]) == []
    assert notes_of(["2024-03-30T11:00:00+01:00", "2024-03-30T12:00:00+01:00"]) == []
    assert notes_of(["2024-03-30T11:00:00Z", "2024-03-30T12:00:00Z"]) == []


@pytest.mark.parametrize(("cells", "expected"), [
    (["2023-11-06T04:00:00Z", "2023-11-06T05:00:00Z"], ["2023-11-06T06:00:00Z", "2023-11-06T07:00:00Z"]),
    (["2023-11-06 05:00:00+0100", "2023-11-06 06:00:00+0100"], ["2023-11-06 07:00:00+0100", "2023-11-06 08:00:00+0100"]),
    (["2023-11-06 05:00-0530", "2023-11-06 06:00-0530"], ["2023-11-06 07:00-0530", "2023-11-06 08:00-0530"]),
    (["2023-11-06 05:00+01:00", "2023-11-06 06:00+01:00"], ["2023-11-06 07:00+01:00", "2023-11-06 08:00+01:00"]),
])
def test_the_dates_after_the_end_keep_the_columns_offset_form(cells, expected):
    after = following(cells, 2)
    assert after == expected
    step = datetime.fromisoformat(cells[1]) - datetime.fromisoformat(cells[0])
    assert datetime.fromisoformat(after[0]) == datetime.fromisoformat(cells[-1]) + step


def test_a_series_too_short_for_its_horizon_names_the_horizon_first(tmp_path):
    path = tmp_path / "short60.csv"
    path.write_text("load\n" + "".join(f"{v:.3f}\n" for v in np.sin(np.arange(60) / 3) + 2))
    # (data.bptt = 24 and data.streams = 2 fail too: neither is the fix)
    cfg = parse_config(stream_toml(str(path), data="bptt = 24\nstreams = 2", task="horizon = 24\nseason = 24"))
    with pytest.raises(DataError) as e:
        load_stream(cfg.data, seed=0, task=task_for(cfg))
    message = str(e.value)
    assert message.startswith("task.horizon: ") and "\n" not in message, message
    assert "got 24" in message and "60 steps" in message and "cannot help" in message


def test_predict_data_says_nothing_of_the_runs_own_files_gap(tmp_path):
    rows = ["date,load"] + [f"{datetime(2023, 1, 1) + timedelta(days=k):%Y-%m-%d},{v:.3f}"
                            for k, v in enumerate(np.sin(np.arange(80) / 2) + 2) if k != 30]  # a gap on its 31st
    own = tmp_path / "own.csv"
    own.write_text("\n".join(rows) + "\n")
    clean = tmp_path / "new.csv"
    clean.write_text("\n".join(rows[:31] + [f"2023-01-31,{2.5:.3f}"] + rows[31:]) + "\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(stream_toml(str(own), task="horizon = 2\nseason = 1", training="steps = 2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with every_note(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        header, rows_out = forecast_table(tmp_path / "run", clean)
    said = [str(w.message) for w in said]
    assert not [s for s in said if "own.csv" in s], said
    assert header[3] == "date" and rows_out[0][3] == "2023-03-22"  # (FILE has no gap: its dates follow it)
    with every_note(), warnings.catch_warnings(record=True) as said:  # (the run's own forecast still says it)
        warnings.simplefilter("always")
        forecast_table(tmp_path / "run")
    assert [w for w in said if "own.csv: column 'date' misses 1 step" in str(w.message)]
