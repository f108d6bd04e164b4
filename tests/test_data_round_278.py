"""Round 278 (data checks): a missing-value code such as -1e30 among ordinary values was accepted
and data.normalize = "per_channel" then squashed every ordinary value to ~0 without a word; the
per-step and stream readers lacked the check for values far beyond float32 among ordinary ones;
a training file that gave the same series twice (same label) was not said."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_bad_inputs import one_line_error

from rnnlab.config import DataConfig
from rnnlab.data import load_bundled, load_data
from rnnlab.data import overlap as overlap_module
from rnnlab.data.bundled import bundled_names
from rnnlab.data.checks import check_lone_values
from rnnlab.data.per_step import per_step_sequences
from rnnlab.data.stream import BUNDLED_STREAMS, read_series
from rnnlab.errors import DataError
from rnnlab.task import PER_STEP_CLASSIFICATION, PER_STEP_REGRESSION, REGRESSION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

INTERPOLATE = 'np.stack([pd.DataFrame(s).interpolate(limit_direction="both").to_numpy() for s in X])'


def _xy(n: int = 30, steps: int = 20, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, steps, channels)) * 3, np.arange(n) % 2


def _error(call) -> str:
    with pytest.raises(DataError) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_missing_value_code_among_ordinary_values_is_refused_and_the_fix_works(tmp_path, capsys):
    X, y = _xy()
    X[3, 5, 0] = X[7, 9, 0] = X[10, 2, 1] = -1e30
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y)
    text = _error(lambda: load_data(DataConfig(path=str(path), normalize="per_channel"), seed=0))
    assert text.startswith(f"data.path ({path}): X has 3 values over 1e+06 times the typical magnitude of their "
                           "series' channel at [sample, step, channel] [3, 5, 0], [7, 9, 0], [10, 2, 1]; first -1e+30, "
                           "where sample 3's channel 0 is typically "), text
    assert "(its median |x|)" in text and "no data.normalize helps" in text
    assert f"(X[X == -1e+30] = np.nan, then interpolate: X = {INTERPOLATE})" in text and "np.arcsinh(X)" in text
    # through the CLI: one line, before any training
    (tmp_path / "c.toml").write_text(f'[data]\npath = "{path}"\nnormalize = "per_channel"\n[training]\nsteps = 2\n')
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                   ["data.path (", "X has 3 values over 1e+06 times", "X[X == -1e+30] = np.nan"])
    # what the message advises works, both ways
    X[X == -1e+30] = np.nan
    filled = np.stack([pd.DataFrame(s).interpolate(limit_direction="both").to_numpy() for s in X])
    np.savez(tmp_path / "filled.npz", X=filled, y=y)
    assert len(load_data(DataConfig(path=str(tmp_path / "filled.npz"), normalize="per_channel"), seed=0).train) == 24
    X[np.isnan(X)] = -1e30
    np.savez(tmp_path / "compressed.npz", X=np.arcsinh(X), y=y)
    assert len(load_data(DataConfig(path=str(tmp_path / "compressed.npz")), seed=0).train) == 24


def test_several_codes_are_picked_by_a_power_of_ten_and_real_data_pass():
    X, y = _xy(channels=1)
    X[0, 1, 0], X[4, 2, 0] = 1e30, 5e29
    text = _error(lambda: check_lone_values(X, np.full(30, 20), "data.path (d.npz)"))
    assert "X has 2 values over 1e+06 times" in text and "(X[np.abs(X) >= 1e+29] = np.nan, then interpolate" in text
    X[0, 1, 0], X[4, 2, 0] = 1.0, 2.0
    check_lone_values(X * 1e20, np.full(30, 20), "data.path (d.npz)")  # series large as a whole
    for name in bundled_names():  # every bundled set, heavy tails and all (CardanoSentiment's 2.2e3 times)
        for part in load_bundled(name):
            if part is not None:
                check_lone_values(part.X, part.lengths, f"data.dataset ({name})")
    for name in BUNDLED_STREAMS:
        assert read_series(DataConfig(dataset=name)).values


def test_per_step_inputs_and_targets_get_the_check(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 20, 1))
    y = (X[:, :, 0] > 0).astype(int)
    X[2, 3, 0] = 1e300
    np.savez(tmp_path / "p.npz", X=X, y=y)
    text = _error(lambda: per_step_sequences(str(tmp_path / "p.npz"), "data.path", PER_STEP_CLASSIFICATION, None))
    assert text.startswith(f"data.path ({tmp_path / 'p.npz'}): X has 1 value beyond float32's range (|x| > 3.4e+38, "
                           "the model computes in float32) and over 1e+06 times the typical magnitude of its series' "
                           "channel at [sample, step, channel] [2, 3, 0]; first 1e+300"), text
    X[2, 3, 0] = 0.5
    values = rng.normal(size=(10, 20))
    values[4, 6] = -1e30
    np.savez(tmp_path / "r.npz", X=X, y=values)
    text = _error(lambda: per_step_sequences(str(tmp_path / "r.npz"), "data.path", PER_STEP_REGRESSION, None))
    assert text.startswith(f"data.path ({tmp_path / 'r.npz'}): y has 1 value over 1e+06 times the typical magnitude "
                           "of its series' target at [sample, step, target] [4, 6, 0]; first -1e+30"), text
    assert "their standardization (the training part's mean and std) would be set by it" in text
    values[values == -1e+30] = np.nan
    values = np.stack([pd.DataFrame(s).interpolate(limit_direction="both").to_numpy() for s in values])
    np.savez(tmp_path / "r.npz", X=X, y=values)
    assert len(per_step_sequences(str(tmp_path / "r.npz"), "data.path", PER_STEP_REGRESSION, None)) == 10


def test_a_stream_gets_the_check_as_one_series(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 2))
    x[50, 1] = 1e300
    np.savez(tmp_path / "s.npz", X=x)
    text = _error(lambda: read_series(DataConfig(path=str(tmp_path / "s.npz"))))
    assert text.startswith(f"{tmp_path / 's.npz'}: X has 1 value beyond float32's range"), text
    assert "[series, step, channel] [0, 50, 1]" in text
    assert 'then interpolate: X = pd.DataFrame(X).interpolate(limit_direction="both").to_numpy())' in text
    x[50, 1] = x[80, 1] = -1e30
    path = tmp_path / "s.csv"
    frame = pd.DataFrame(x, columns=["a", "b"])
    frame.insert(0, "date", pd.date_range("2024-01-01", periods=200, freq="D").astype(str))
    frame.to_csv(path, index=False)
    text = _error(lambda: read_series(DataConfig(path=str(path))))
    assert text.startswith(f"{path}, read as df = pd.read_csv(path) with cols = ['a', 'b']: df[cols] has 2 values "
                           "over 1e+06 times"), text
    assert ("(df[cols] = df[cols].mask(df[cols] == -1e+30), then interpolate: df[cols] = "
            "df[cols].interpolate(limit_direction=\"both\"); df.to_csv(path, index=False))") in text
    assert "compress df[cols], e.g. df[cols] = np.arcsinh(df[cols])" in text
    # each fix it gives works as written on a file with a column of dates (round 290)
    df, cols = pd.read_csv(path), ["a", "b"]
    df[cols] = np.arcsinh(df[cols])
    df = pd.read_csv(path)
    df[cols] = df[cols].mask(df[cols] == -1e+30)
    df[cols] = df[cols].interpolate(limit_direction="both")
    df.to_csv(path, index=False)
    assert read_series(DataConfig(path=str(path))).values[0].shape == (200, 2)


def _said(cfg: DataConfig, **kw) -> list[str]:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(cfg, seed=0, **kw)
    return [str(w.message) for w in said if "copies of" in str(w.message) or "copy of" in str(w.message)]


def test_copies_in_the_training_file_are_said_once_and_quiet_without(tmp_path):
    X, y = _xy()
    np.savez(tmp_path / "dup.npz", X=np.concatenate([X, X[[4, 9]]]), y=np.concatenate([y, y[[4, 9]]]))
    lines = _said(DataConfig(path=str(tmp_path / "dup.npz")))
    assert lines == [f"data.path ({tmp_path / 'dup.npz'}): 2 series are copies of earlier ones, step for step with the "
                     "same label (first: series 30 repeats series 4): a validation hold-out or fold may hold copies of "
                     "training series, so the validation figures overstate how the model does on unseen series; drop "
                     "the copies, e.g. keep = sorted({(x.tobytes(), np.asarray(t).tobytes()): i for i, (x, t) in "
                     "enumerate(zip(X, y))}.values()), then save X[keep], y[keep] (and lengths[keep])"], lines
    # regression targets too; the advised fix leaves nothing to say
    targets = np.random.default_rng(1).normal(size=30)
    np.savez(tmp_path / "r.npz", X=np.concatenate([X, X[[4]]]), y=np.concatenate([targets, targets[[4]]]))
    assert "1 series is a copy of an earlier one, step for step with the same targets (first: series 30 repeats " \
           "series 4)" in _said(DataConfig(path=str(tmp_path / "r.npz")), task=REGRESSION)[0]
    d = np.load(tmp_path / "dup.npz")
    X2, y2 = d["X"], d["y"]
    keep = sorted({(x.tobytes(), np.asarray(t).tobytes()): i for i, (x, t) in enumerate(zip(X2, y2))}.values())
    np.savez(tmp_path / "kept.npz", X=X2[keep], y=y2[keep])
    assert _said(DataConfig(path=str(tmp_path / "kept.npz"))) == []


def test_the_training_series_are_hashed_once(tmp_path, monkeypatch):
    X, y = _xy()
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savez(tmp_path / "test.npz", X=np.concatenate([X[:2], X[2:6] + 1]), y=y[:6])
    hashed = []
    keys = overlap_module._keys
    monkeypatch.setattr(overlap_module, "_keys", lambda s: hashed.append(len(s)) or keys(s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_data(DataConfig(path=str(tmp_path / "train.npz"), test_path=str(tmp_path / "test.npz")), seed=0)
    assert hashed == [30, 6]  # the training file once (its copies and the test overlap), the test file once
