"""A demand planner's panel of daily store-item series, as a forecasting run reads it:

1. a 2-D ``.npz`` X [N, L] beside ``lengths`` [N] was read as one series of N steps with L
   channels, the lengths ignored: refused, saying to save X[:, :, None] with lengths;
2. intermittent series (zero days throughout) end-padded with zeros and saved without lengths
   were read with the padding as data (the pooled share of zero days skipped the check): each
   series' zero run at its end is now judged against its own zero runs inside;
3. a long table (``series_id,date,sales``, or ``store_id,sales``) got advice it could not follow
   (sort the rows by date; give each series its own file) or trained as one series with the id as
   a channel: refused with the pandas code that writes the ``.npz`` with lengths;
4. a wide ``.csv`` whose series start later (empty leading cells) said "expected a number, got ''":
   it now says that series of unequal lengths go in an ``.npz`` with lengths, and how.
"""

import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from rnnlab.config import DataConfig
from rnnlab.data.files import load_file
from rnnlab.data.stream import read_series
from rnnlab.errors import DataError


def _refused(path) -> str:
    with pytest.raises(DataError) as info:
        read_series(DataConfig(path=str(path)))
    message = str(info.value)
    assert "\n" not in message
    return message


def _run(code: str, cwd) -> None:
    """Run the fix an error gives, as the user would paste it."""
    done = subprocess.run([sys.executable, "-c", "import numpy as np, pandas as pd\n" + code], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _panel(n: int = 24, seed: int = 0) -> list[np.ndarray]:
    """Daily sales of ``n`` store-items of 80 to 150 days: every fourth intermittent (Poisson 0.3,
    three days in four without a sale), the rest Poisson counts of means 1 to 300."""
    rng = np.random.default_rng(seed)
    series = []
    for i in range(n):
        steps = int(rng.integers(80, 151))
        mean = 0.3 if i % 4 == 0 else float(10 ** rng.uniform(0, 2.5))
        series.append(rng.poisson(mean, steps).astype(float))
    return series


def _padded(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in series])
    X = np.zeros((len(series), lengths.max(), 1))
    for i, s in enumerate(series):
        X[i, : len(s), 0] = s
    return X, lengths


# ------------------------------------------------------------------ 1. a 2-D X beside lengths

def test_a_2d_npz_with_lengths_is_refused_and_its_fix_reads_the_series(tmp_path):
    X = np.random.default_rng(0).poisson(5.0, (30, 20)).astype(float)
    np.savez(tmp_path / "many2d.npz", X=X, lengths=np.full(30, 20))
    message = _refused(tmp_path / "many2d.npz")
    assert "'lengths' [30] beside a 2-D 'X' [30, 20]" in message
    assert "read as one series [L, C] (30 steps of 20 channels)" in message
    assert "save several series as X[:, :, None] ([N, L, 1]) with lengths" in message
    np.savez(tmp_path / "fixed.npz", X=X[:, :, None], lengths=np.full(30, 20))
    values = read_series(DataConfig(path=str(tmp_path / "fixed.npz"))).values
    assert len(values) == 30 and all(v.shape == (20, 1) for v in values)
    np.testing.assert_array_equal(values[7][:, 0], X[7])
    # one series [L] beside lengths: the same refusal, without lengths it is read
    np.savez(tmp_path / "one.npz", X=X[0], lengths=np.array([20]))
    assert "beside a 1-D 'X' [20]: a 1-D 'X' is read as one series [L]" in _refused(tmp_path / "one.npz")


# ------------------------------------------------------------------ 2. zero padding of intermittent series

def test_zero_padding_of_an_intermittent_panel_is_refused_and_its_own_zero_days_are_not(tmp_path):
    series = _panel()
    X, lengths = _padded(series)
    zero_days = np.concatenate(series) == 0
    assert zero_days.mean() > 0.05  # (zero days throughout: the pooled share was > 1 %, and the check skipped)
    np.savez(tmp_path / "nolen.npz", X=X)
    message = _refused(tmp_path / "nolen.npz")
    short = int((lengths < X.shape[1]).sum())
    assert message.startswith(f"{tmp_path / 'nolen.npz'}: X looks zero-padded: ")
    assert "more than 3 times as long as any such run inside them" in message and "add lengths [N]" in message
    found = int(message.split("X looks zero-padded: ")[1].split(" of ")[0])
    assert short - 6 <= found <= short  # (an intermittent series padded by a few days is not told apart)
    # the sequence reader reads it with the same rule
    np.savez(tmp_path / "seq.npz", X=X, y=np.arange(len(X)) % 2)
    with pytest.raises(DataError, match="X looks zero-padded"):
        load_file(tmp_path / "seq.npz")
    # with its lengths, each series is read to its end
    np.savez(tmp_path / "len.npz", X=X, lengths=lengths)
    values = read_series(DataConfig(path=str(tmp_path / "len.npz"))).values
    assert [len(v) for v in values] == lengths.tolist()
    # equal lengths, no padding: a third of the series end in 1 to 6 zero days (quiet days, or no
    # sale yet on the intermittent ones), as long as the zero runs inside the intermittent ones
    rng = np.random.default_rng(3)
    X = np.stack([rng.poisson(0.3 if i % 3 == 0 else 4.0, 120).astype(float) for i in range(30)])
    for i in range(0, 30, 3):
        X[i, 120 - 1 - (i // 3) % 6:] = 0
    X[1, -2:] = X[4, -3:] = 0  # (regular series at rest for a few days too)
    np.savez(tmp_path / "own.npz", X=X[:, :, None])
    assert [len(v) for v in read_series(DataConfig(path=str(tmp_path / "own.npz"))).values] == [120] * 30
    # one intermittent series alone, ending in two weeks without a sale
    one = rng.poisson(0.3, 365).astype(float)
    one[-14:] = 0
    for name, x in (("one.npz", one), ("one3.npz", one[None, :, None])):
        np.savez(tmp_path / name, X=x)
        np.testing.assert_array_equal(read_series(DataConfig(path=str(tmp_path / name))).values[0][:, 0], one)


# ------------------------------------------------------------------ 3. a long table of several series

DAY0 = date(2024, 1, 1)


def _long(series: list[np.ndarray], ids: list[str], same_end: bool = True) -> pd.DataFrame:
    """One row per day of each series (all ending on one day, or all starting on one)."""
    end = max(len(s) for s in series)
    rows = []
    for sid, s in zip(ids, series, strict=True):
        start = end - len(s) if same_end else 0
        rows += [(sid, DAY0 + timedelta(days=start + t), v) for t, v in enumerate(s)]
    return pd.DataFrame(rows, columns=["series_id", "date", "sales"])


def _read_back(path, series: list[np.ndarray]) -> None:
    values = read_series(DataConfig(path=str(path))).values
    assert [len(v) for v in values] == [len(s) for s in series]
    for v, s in zip(values, series, strict=True):
        np.testing.assert_array_equal(v[:, 0], s)


def test_a_long_table_is_refused_with_the_code_that_writes_the_npz(tmp_path):
    series = _panel(6, seed=1)
    ids = [f"store{i // 3}_item{i % 3}" for i in range(6)]
    df = _long(series, ids)
    for name, table in (("long.csv", df), ("by_date.csv", df.sort_values("date", kind="stable"))):
        table.to_csv(tmp_path / name, index=False)
        message = _refused(tmp_path / name)
        assert "column 'series_id' identifies 6 series" in message and "a long table of several series" in message
        assert "save the series in an .npz, X [N, L, 1] with lengths [N]" in message
        assert "sort the rows" not in message and "its own file" not in message
        _run(message.split("pandas as pd): ", 1)[1].replace(str(tmp_path / name), name), tmp_path)
        _read_back(tmp_path / name.replace(".csv", ".npz"), series)
    # without dates, integer codes under an id's name: the same (the rows of each series in order)
    codes = df.assign(store_id=df.series_id.map({s: k for k, s in enumerate(ids)}))[["store_id", "sales"]]
    codes.to_csv(tmp_path / "nodate.csv", index=False)
    message = _refused(tmp_path / "nodate.csv")
    assert "column 'store_id' identifies 6 series ('0' on line 2" in message
    _run(message.split("pandas as pd): ", 1)[1].replace(str(tmp_path / "nodate.csv"), "nodate.csv"), tmp_path)
    _read_back(tmp_path / "nodate.npz", series)


def test_a_long_table_keyed_by_two_columns_or_by_repeated_dates_alone_is_recognised(tmp_path):
    series = _panel(4, seed=2)
    df = _long(series, ["a", "b", "c", "d"])
    # two columns of integer codes, rows by date, day-first dates (whose text does not sort)
    two = pd.DataFrame({"store": df.series_id.map({"a": 1, "b": 1, "c": 2, "d": 2}),
                        "item": df.series_id.map({"a": 7, "b": 8, "c": 7, "d": 8}),
                        "day": pd.to_datetime(df.date).dt.strftime("%d/%m/%Y"), "sales": df.sales})
    two = two.iloc[np.argsort(pd.to_datetime(df.date).to_numpy(), kind="stable")]
    two.to_csv(tmp_path / "two.csv", index=False)
    message = _refused(tmp_path / "two.csv")
    assert "columns ['store', 'item'] identify 4 series" in message and "format='%d/%m/%Y'" in message
    _run(message.split("pandas as pd): ", 1)[1].replace(str(tmp_path / "two.csv"), "two.csv"), tmp_path)
    _read_back(tmp_path / "two.npz", series)
    # a code column under no id's name, found by the dates it makes once per series
    plain = two.rename(columns={"store": "s", "item": "k"}).assign(s=lambda d: d.s * 10 + d.k).drop(columns="k")
    plain.to_csv(tmp_path / "plain.csv", index=False)
    assert "column 's' identifies 4 series" in _refused(tmp_path / "plain.csv")


def test_series_over_the_same_dates_get_the_wide_csv_too_and_one_series_is_still_read(tmp_path):
    series = [s[:90] for s in _panel(3, seed=4)]
    df = _long(series, ["x", "y", "z"])
    df.to_csv(tmp_path / "same.csv", index=False)
    message = _refused(tmp_path / "same.csv")
    wide = message.split("; or, as every series covers the same dates, a wide .csv with one column per series "
                         "(read as the channels of one series): ", 1)[1]
    _run(f"df = pd.read_csv('same.csv'); {wide}", tmp_path)
    read = read_series(DataConfig(path=str(tmp_path / "same_wide.csv")))
    assert read.columns == ["x", "y", "z"] and read.values[0].shape == (90, 3)
    np.testing.assert_array_equal(read.values[0][:, 1], series[1])
    # one series with a column of text in runs beside dates that run once: a series, its text left out
    one = df[df.series_id == "x"].assign(series_id=["before"] * 45 + ["after"] * 45)
    one.rename(columns={"series_id": "phase"}).to_csv(tmp_path / "one.csv", index=False)
    read = read_series(DataConfig(path=str(tmp_path / "one.csv")))
    assert read.columns == ["sales"] and any("'phase'" in note for note in read.notes)


# ------------------------------------------------------------------ 4. a wide csv of series starting later

def test_a_wide_csv_whose_series_start_later_says_npz_with_lengths(tmp_path):
    series = _panel(5, seed=5)
    df = _long(series, [f"item{i}" for i in range(5)])
    df.pivot(index="date", columns="series_id", values="sales").to_csv(tmp_path / "wide.csv")
    message = _refused(tmp_path / "wide.csv")
    first = max(len(s) for s in series) - len(series[0])
    assert f"column 'item0' is empty on its first {first} rows (its values start on line {first + 2})" in message
    assert "series of unequal lengths go in an .npz, X [N, L, 1] with lengths [N]" in message
    assert "expected a number, got ''" not in message
    _run(message.split("pandas as pd): ", 1)[1].split("; or, ", 1)[0].replace(str(tmp_path / "wide.csv"), "wide.csv"),
         tmp_path)
    _read_back(tmp_path / "wide.npz", series)
