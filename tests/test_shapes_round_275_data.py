"""Round 275 (shapes): a dead channel is named, not called padding; values far beyond float32 get
advice that works; a stratified hold-out that takes far more than data.val_fraction says so; one
series per class is told about data.val_fraction = 0."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import check_ragged, load_bundled, load_data, stratified_split
from rnnlab.data.checks import check_finite
from rnnlab.errors import DataError


def _xy(n: int = 20, steps: int = 30, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    return rng.normal(size=(n, steps, channels)) + y[:, None, None], y


def _error(path, **data) -> str:
    with pytest.raises(DataError) as e:
        load_data(DataConfig(path=str(path), **data), seed=0)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("lengths", [True, False])
def test_an_all_nan_channel_is_named_not_called_padding(tmp_path, lengths):
    X, y = _xy()
    X[:, :, 1] = np.nan
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=y, **({"lengths": np.full(20, 30)} if lengths else {}))
    text = _error(path)
    assert text.startswith(f"data.path ({path}): X has 600 non-finite values (NaN or inf) at [sample, step, channel] [0, 0, 1]")
    assert "channel 1 is NaN at every step of every sequence: drop it (e.g. X = np.delete(X, [1], axis=2)) or fill it" in text
    assert "ragged" not in text and "add lengths" not in text


def test_a_channel_nan_from_a_step_on_is_named_and_true_padding_still_is_padding(tmp_path):
    X, y = _xy()
    X[:, 10:, 1] = np.nan
    np.savez(tmp_path / "d.npz", X=X, y=y)
    text = _error(tmp_path / "d.npz")
    assert "channel 1 is NaN from step 10 on in every sequence: drop it" in text and "ragged" not in text
    X[:, 20:, :] = np.nan  # every channel: padding
    with pytest.raises(DataError, match="X looks ragged: 20 sequence"):
        check_ragged(X, "data.path (d.npz)")


def test_new_series_that_are_all_nan_are_no_padding():
    X = np.full((3, 30, 1), np.nan)
    check_ragged(X, "--data (new.npz)")  # no "ragged ... add lengths": lengths cannot help
    with pytest.raises(DataError, match="every channel is NaN .or inf. at every step of every sequence: X holds no values"):
        check_finite(X, np.full(3, 30), "--data (new.npz)")


@pytest.mark.parametrize("normalize", ["per_series", "per_channel", "none"])
def test_a_value_far_beyond_float32_among_ordinary_ones_is_refused_with_advice_that_works(tmp_path, normalize):
    X, y = _xy(channels=1)
    X[0, 3, 0] = 1e300
    np.savez(tmp_path / "d.npz", X=X, y=y)
    text = _error(tmp_path / "d.npz", normalize=normalize, series_scale=False)
    assert text.startswith(f"data.path ({tmp_path / 'd.npz'}): X has 1 value beyond float32's range")
    assert "no data.normalize helps" in text and "np.arcsinh(X)" in text
    assert "set data.normalize" not in text
    # what the message advises works
    np.savez(tmp_path / "e.npz", X=np.arcsinh(X), y=y)
    assert len(load_data(DataConfig(path=str(tmp_path / "e.npz"), normalize=normalize), seed=0).train) == 16


def test_values_all_that_large_are_scaled_or_said_with_the_file_first(tmp_path):
    X, y = _xy(channels=1)
    np.savez(tmp_path / "d.npz", X=X * 1e300, y=y)
    assert len(load_data(DataConfig(path=str(tmp_path / "d.npz"), normalize="per_series"), seed=0).train) == 16
    text = _error(tmp_path / "d.npz", normalize="none")
    assert text.startswith(f"data.path ({tmp_path / 'd.npz'}), training split: X has 480 values beyond float32's range")
    assert text.endswith("divide X by a constant that brings it within float32's range (data.normalize = \"none\" "
                         "feeds the values as they are)")


#: The held-out indices of the bundled sets' training splits at data.val_fraction = 0.2, seeds 0
#: and 1 (sha256 of the int64 indices): the hold-out's rule must not move them.
BUNDLED_HELD = {
    "GunPoint": ["43fc930aa4e764bb", "2e9afca6983c63c6"],
    "BasicMotions": ["1a62b5665fbffc95", "816bb548bbde287d"],
    "ItalyPowerDemand": ["3de35d569f974910", "6bc4415cc613ecf9"],
    "OSULeaf": ["e681eb29af9df3b4", "dd00f4d6fb6d5bcf"],
    "UnitTest": ["03f838219fcc9176", "1d8101088f6399bd"],
}


def test_a_hold_out_of_half_the_series_is_said_and_bundled_splits_stay(tmp_path):
    X, _ = _xy(n=14, channels=1)
    y = np.repeat(np.arange(7), 2)  # 7 classes of 2: one of each held out, half the series
    np.savez(tmp_path / "d.npz", X=X, y=y)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        d = load_data(DataConfig(path=str(tmp_path / "d.npz")), seed=0)
    assert (len(d.train), len(d.val)) == (7, 7)
    notes = [str(w.message) for w in said if "hold-out took" in str(w.message)]
    assert notes == ["data.val_fraction = 0.2: the hold-out took 7 of 14 sequences (0.5), as it takes at least one "
                     "of every class of two or more and 7 classes have 2 (the training part keeps 7 of 14); set "
                     "data.val_fraction = 0 to train on all of them (the run then keeps the last epoch's weights), "
                     "or give more sequences per class"]
    for name, expected in BUNDLED_HELD.items():
        y = load_bundled(name)[0].y
        held = [hashlib.sha256(np.asarray(stratified_split(y, 0.2, s)[1], dtype=np.int64).tobytes()).hexdigest()[:16]
                for s in (0, 1)]
        assert held == expected, name
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            load_data(DataConfig(dataset=name), seed=0)
        assert not [w for w in said if "hold-out took" in str(w.message)], name


def test_one_series_per_class_is_told_to_train_without_a_hold_out_first(tmp_path):
    X, _ = _xy(n=6, channels=1)
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(6))
    text = _error(tmp_path / "d.npz")
    assert ("every class has a single sequence: set data.val_fraction = 0 to train on all of them (the run then "
            "keeps the last epoch's weights); if y holds") in text
    assert len(load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0), seed=0).train) == 6
