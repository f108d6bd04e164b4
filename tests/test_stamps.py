"""The dates after a series' end (rnnlab.data.stamps): months stay on their day, fixed times add
up, and anything irregular gives no date rather than a guessed one."""

from __future__ import annotations

import pytest

from rnnlab.data.stamps import following, stamp_column


@pytest.mark.parametrize(("cells", "expected"), [
    (["2020-01-15", "2020-04-15", "2020-07-15"], ["2020-10-15", "2021-01-15"]),  # quarters: not 91 days
    (["2019-01-01", "2020-01-01"], ["2021-01-01", "2022-01-01"]),  # years: not 365 days
    (["1949-11", "1949-12"], ["1950-01", "1950-02"]),  # months as YYYY-MM
    (["2021-05-01 23:00:00+00:00", "2021-05-01 23:30:00+00:00"], ["2021-05-02 00:00:00+00:00", "2021-05-02 00:30:00+00:00"]),
    (["2021-05-01T10:00", "2021-05-01T11:00"], ["2021-05-01T12:00", "2021-05-01T13:00"]),
    (["2024-02-26", "2024-02-27", "2024-02-28"], ["2024-02-29", "2024-03-01"]),  # days through a leap day
    (["2020-01-31", "2020-02-29", "2020-03-31"], ["2020-04-30", "2020-05-31"]),  # month ends: a month's step
])
def test_stamps_continue_at_their_step_as_they_are_written(cells, expected):
    assert following(cells, 2) == expected


@pytest.mark.parametrize("cells", [
    ["2020-01-01", "2020-01-02", "2020-01-04"],  # a gap
    ["1991 Jul", "1991 Aug"],  # not a format read here
    ["2020-01-02", "2020-01-01"],  # backwards
    ["2020-01-01"],  # one stamp: no step
])
def test_irregular_or_unknown_stamps_give_no_dates(cells):
    assert following(cells, 2) is None


def test_a_month_without_the_day_gives_no_dates():
    assert following(["2020-03-31", "2020-05-31"], 1) == ["2020-07-31"]
    assert following(["2020-03-31", "2020-05-31"], 2) is None  # no 31st of September


def test_the_date_column_is_the_first_column_of_stamps_that_holds_no_values():
    header = ["id", "when", "sales"]
    body = [["1", "2020-01-01", "3.0"], ["2", "2020-01-02", "4.0"]]
    assert stamp_column(header, body, values=[0, 2]) == 1
    assert stamp_column(header, body, values=[1]) is None  # the dates are read as values
    assert stamp_column(["note", "sales"], [["a", "1"], ["b", "2"]], values=[1]) is None
