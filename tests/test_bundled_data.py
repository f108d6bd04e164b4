"""Data that outlives its source: every name ``rnnlab datasets`` lists loads, from files the
project ships (not aeon's data folder, which drops ACSF1 and OSULeaf in aeon 1.7)."""

from __future__ import annotations

import gzip
import os
import sys

import numpy as np
import pytest

from rnnlab.data import bundled
from rnnlab.errors import DataError

# The UCR/UEA problems the demo, the template benchmark and the tests stand on: a name dropped
# from the list is a user's config that stops working.
SHIPPED = ["ACSF1", "ArrowHead", "BasicMotions", "CardanoSentiment", "Covid3Month", "Covid3Month_disc", "GunPoint",
           "ItalyPowerDemand", "JapaneseVowels", "OSULeaf", "PickupGestureWiimoteZ", "UnitTest"]
REGRESSION = {"CardanoSentiment", "Covid3Month"}
GENERATED = ["delayed_copy", "adding_problem"]


def test_the_list_is_the_shipped_files_then_digits_then_generated_sets():
    assert bundled.bundled_names() == SHIPPED + ["digits_rows", "digits_pixels"] + GENERATED


@pytest.mark.parametrize("name", SHIPPED + ["digits_rows", "digits_pixels"] + GENERATED)
def test_every_listed_set_loads(name):
    train, test = bundled.load_bundled(name)
    for split in (train, test):
        assert len(split) > 0 and split.X.ndim == 3 and split.X.shape[1] >= int(split.lengths.max())
        assert split.X.shape[2] == train.X.shape[2] and split.classes == train.classes
        valid = np.arange(split.X.shape[1])[None, :] < split.lengths[:, None]
        assert np.isfinite(split.X[valid]).all()
    task = bundled.bundled_task(name)
    assert task == ("regression" if name in REGRESSION else "per-step-regression" if name == "adding_problem"
                    else "per-step-classification" if name == "delayed_copy" else "classification")
    if task == "regression":  # one finite target value per series, in both splits
        assert train.classes == [] and train.y.shape == (len(train), 1) and test.y.shape == (len(test), 1)
        assert np.isfinite(train.y).all() and np.isfinite(test.y).all()
    elif task == "classification":
        assert len(train.classes) >= 2 and set(np.unique(train.y)) <= set(range(len(train.classes)))


def test_the_shipped_files_are_aeons_byte_for_byte():
    # While the installed aeon still has a problem, our copy is its file unchanged (gzip only).
    aeon = pytest.importorskip("aeon")
    root = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")
    compared = 0
    for name in SHIPPED:
        for split in ("TRAIN", "TEST"):
            theirs = os.path.join(root, name, f"{name}_{split}.ts")
            if os.path.exists(theirs):
                ours = gzip.decompress((bundled.UCR_DIR / f"{name}_{split}.ts.gz").read_bytes())
                with open(theirs, "rb") as f:
                    assert ours == f.read(), f"{name}_{split}"
                compared += 1
    assert compared >= 2 * 10  # aeon 1.6 holds all twelve; a later aeon at least the ten not deprecated


def test_loading_does_not_look_at_aeons_data_folder(monkeypatch):
    # aeon without its data folder (as aeon 1.7 is without ACSF1 and OSULeaf): the list and the
    # parsed (cached) sets are the same.
    monkeypatch.setitem(sys.modules, "aeon", None)  # import aeon now fails
    assert "OSULeaf" in bundled.bundled_names()
    train, test = bundled.load_bundled("ACSF1")
    assert train.X.shape == (100, 1460, 1) and len(test) == 100


def test_a_cold_cache_without_aeon_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    bundled.parsed_ts.cache_clear()
    try:
        with pytest.raises(DataError, match=r"UnitTest_TRAIN\.ts\.gz: .*needs aeon.*pip install 'rnnlab\[datasets\]'"):
            bundled.load_bundled("UnitTest")
    finally:
        bundled.parsed_ts.cache_clear()


def test_a_cold_cache_parses_the_shipped_file(tmp_path, monkeypatch):
    pytest.importorskip("aeon")
    before = bundled.load_bundled("JapaneseVowels")  # variable length: padded, with lengths
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundled.parsed_ts.cache_clear()
    try:
        after = bundled.load_bundled("JapaneseVowels")
    finally:
        bundled.parsed_ts.cache_clear()
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a.X, b.X) and np.array_equal(a.lengths, b.lengths) and np.array_equal(a.y, b.y)
    assert len(list((tmp_path / "rnnlab" / "data").glob("ts-*.npz"))) == 2


# The long series `rnnlab datasets` lists for forecasting: CSV files shipped in rnnlab/data/series
# (aeon 1.7 drops Lynx, ShampooSales and PBS_dataset from its data folder).
STREAMS = ["Airline", "Lynx", "ShampooSales", "PBS", "Uschange", "solar"]


def test_every_listed_series_loads_without_aeon(monkeypatch):
    from rnnlab.config import DataConfig
    from rnnlab.data.stream import BUNDLED_STREAMS, describe_streams, read_series

    monkeypatch.setitem(sys.modules, "aeon", None)  # import aeon now fails: the series need none of it
    assert list(BUNDLED_STREAMS) == STREAMS
    rows = {r["name"]: r for r in describe_streams()}
    assert list(rows) == STREAMS
    for name in STREAMS:
        series = read_series(DataConfig(dataset=name))
        (values,) = series.values
        assert values.shape == (rows[name]["length"], len(BUNDLED_STREAMS[name].columns)) and len(values) > 30
        assert np.isfinite(values).all() and series.columns == list(BUNDLED_STREAMS[name].columns)
    assert rows["Airline"]["length"] == 144 and rows["Uschange"]["channels"] == 5


def test_the_shipped_series_are_aeons_byte_for_byte():
    aeon = pytest.importorskip("aeon")
    from rnnlab.data.stream import BUNDLED_STREAMS, SERIES_DIR

    root = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")
    compared = 0
    for b in BUNDLED_STREAMS.values():
        theirs = os.path.join(root, b.file.removesuffix(".csv"), b.file)
        if os.path.exists(theirs):
            with open(theirs, "rb") as f:
                assert (SERIES_DIR / b.file).read_bytes() == f.read(), b.file
            compared += 1
    assert compared >= 3  # aeon 1.6 holds all six; a later aeon at least Airline, Uschange and solar


def test_package_data_covers_every_shipped_data_file():
    # setuptools puts in a wheel the package files that pyproject's package-data globs match:
    # every shipped data file (and README) must match one, or an installed rnnlab lacks it.
    import fnmatch
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    package = root / "src" / "rnnlab"
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["rnnlab"]
    shipped = [p.relative_to(package).as_posix() for d in ("data/ucr", "data/series") for p in (package / d).iterdir()]
    assert len(shipped) > 24
    missing = [f for f in shipped if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in pyproject's package-data: {missing}"
