"""Several series in one forecasting ``.npz`` [N, L, C] padded at the end without ``lengths``: the
zeros (or NaN) past each series' end would be read as data, a test block of zeros scored as an
easy win. The stream reader refuses them in one line through the sequence reader's check, naming
the fix (add lengths); a series that ends in zeros of its own (a bundled series, a count series'
quiet days) is read as it is."""

import numpy as np
import pytest

from rnnlab.config import DataConfig, parse_config
from rnnlab.data.stream import BUNDLED_STREAMS, read_series
from rnnlab.errors import DataError
from rnnlab.train.predict import read_new_stream

LENGTHS = [150, 120, 100]


def _seasonal(steps: int, seed: int) -> np.ndarray:
    """A weekly-seasonal series [steps, 2] with no exact zero in it."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    return np.stack([10 + 3 * np.sin(2 * np.pi * t / 7), 5 + 2 * np.cos(2 * np.pi * t / 7)], axis=1) \
        + rng.normal(0, 0.3, (steps, 2))


def _padded(fill: float = 0.0) -> np.ndarray:
    """The tester's file: 3 series of 150, 120 and 100 steps padded at the end with ``fill`` to 150."""
    X = np.full((3, 150, 2), fill)
    for i, n in enumerate(LENGTHS):
        X[i, :n] = _seasonal(n, i)
    return X


def _counts(steps: int, quiet: int, seed: int) -> np.ndarray:
    """Daily counts [steps] (Poisson, mean 6: no zero day but by chance), the last ``quiet`` days 0."""
    x = np.random.default_rng(seed).poisson(6.0, steps).astype(float)
    x[steps - quiet:] = 0
    return x


def _read(path) -> list[np.ndarray]:
    return read_series(DataConfig(path=str(path))).values


def test_zero_padded_series_without_lengths_are_refused_in_one_line(tmp_path):
    np.savez(tmp_path / "multi_nolen.npz", X=_padded())
    with pytest.raises(DataError) as e:
        _read(tmp_path / "multi_nolen.npz")
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'multi_nolen.npz'}: X looks zero-padded: ")
    assert "2 of 3 sequences end in a run of steps where every channel is 0" in message
    assert "up to 50 steps; first: sample 1" in message and "add lengths [N]" in message
    assert "np.savez(path, X=X, lengths=lengths)" in message  # (a stream's file holds no y)
    # the fix it names reads each series to its true end, no zero of the padding kept
    np.savez(tmp_path / "multi.npz", X=_padded(), lengths=np.array(LENGTHS))
    values = _read(tmp_path / "multi.npz")
    assert [len(v) for v in values] == LENGTHS and not any((v == 0).all(axis=1).any() for v in values)
    # ...and so does the way to keep zeros that are data: lengths of L for every series
    np.savez(tmp_path / "all.npz", X=_padded(), lengths=np.full(3, 150))
    assert [len(v) for v in _read(tmp_path / "all.npz")] == [150] * 3


def test_padded_new_series_for_predict_are_refused_naming_data(tmp_path):
    np.savez(tmp_path / "new.npz", X=_padded())
    config = parse_config('[task]\nkind = "forecasting"\nseason = 7\n[data]\ndataset = "Airline"')
    with pytest.raises(DataError, match=r"^--data: .*new\.npz: X looks zero-padded: 2 of 3 .*add lengths \[N\]"):
        read_new_stream(tmp_path / "new.npz", config, ["x0", "x1"])


def test_nan_padding_says_to_add_lengths_and_a_gap_still_says_fill_it(tmp_path):
    np.savez(tmp_path / "nan.npz", X=_padded(np.nan))
    with pytest.raises(DataError) as e:
        _read(tmp_path / "nan.npz")
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'nan.npz'}: X looks ragged: ")
    assert "2 sequence(s) end in NaN padding (first: sample 1)" in message and "add lengths [N]" in message
    np.savez(tmp_path / "nan_len.npz", X=_padded(np.nan), lengths=np.array(LENGTHS))
    assert [len(v) for v in _read(tmp_path / "nan_len.npz")] == LENGTHS
    # NaN inside a series is a gap, no padding: lengths would not help
    X = _padded()[:1].copy()
    X[0, 40:45, 0] = np.nan
    np.savez(tmp_path / "gap.npz", X=X)
    with pytest.raises(DataError, match=r"series 0 has 5 non-finite value\(s\) .*fill or cut the gaps\)$"):
        _read(tmp_path / "gap.npz")


def test_series_that_end_in_zeros_of_their_own_are_kept_where_padding_is_refused(tmp_path):
    # PBS (its last 38 months) and solar (the night) end in zeros; no bundled series is refused,
    # alone ([L, C] or [1, L, C]) or cut into consecutive pieces of equal length (solar's days)
    assert (read_series(DataConfig(dataset="PBS")).values[0][-38:] == 0).all()
    for name in BUNDLED_STREAMS:
        v = read_series(DataConfig(dataset=name)).values[0]
        for k in range(1, 7):
            steps = len(v) // k
            np.savez(tmp_path / f"{name}{k}.npz", X=v[: k * steps].reshape(k, steps, v.shape[1]))
            assert [len(x) for x in _read(tmp_path / f"{name}{k}.npz")] == [steps] * k, (name, k)
        np.savez(tmp_path / f"{name}.npz", X=v)
        np.testing.assert_array_equal(_read(tmp_path / f"{name}.npz")[0], v)
    # a count series with two weeks of zero days at its end, alone, is data
    counts = _counts(200, 14, 0)
    np.savez(tmp_path / "counts.npz", X=counts)
    np.savez(tmp_path / "counts1.npz", X=counts[None, :, None])
    for f in ("counts.npz", "counts1.npz"):
        np.testing.assert_array_equal(_read(tmp_path / f)[0][:, 0], counts)
    # intermittent counts (zero days throughout) that end in zero runs of differing lengths: data too
    rare = np.stack([np.random.default_rng(i).poisson(0.8, 200) * 1.0 for i in range(3)])
    rare[0, -9:], rare[1, -17:] = 0, 0
    np.savez(tmp_path / "rare.npz", X=rare[:, :, None])
    assert [len(x) for x in _read(tmp_path / "rare.npz")] == [200] * 3
    # the same count series among others padded to its length, without lengths: padding
    X = np.stack([counts, _counts(200, 0, 1), _counts(200, 0, 2)])[:, :, None]
    X[1, 160:], X[2, 130:] = 0, 0
    np.savez(tmp_path / "stacked.npz", X=X)
    with pytest.raises(DataError, match=r"X looks zero-padded: 3 of 3 sequences .*up to 70 steps; first: sample 0"):
        _read(tmp_path / "stacked.npz")
