"""Data: bundled sets equal their sources, files load, checks name the problem, scaling is
fitted on the training part only."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import ChannelStats, bundled_names, load_bundled, load_data, stratified_split
from rnnlab.errors import DataError


def aeon_file(name: str, split: str):
    import aeon
    from aeon.datasets import load_from_ts_file

    path = os.path.join(os.path.dirname(aeon.__file__), "datasets", "data", name, f"{name}_{split}.ts")
    return load_from_ts_file(path)


def test_bundled_names_cover_aeon_classification_sets_and_digits():
    names = bundled_names()
    for n in ("GunPoint", "BasicMotions", "ArrowHead", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf",
              "digits_rows", "digits_pixels"):
        assert n in names
    # Forecasting sets shipped by aeon have no label per series; its regression sets are bundled
    # for [task] kind = "regression" (issue 21), named as such.
    assert "Airline" not in names
    from rnnlab.data import bundled_task

    assert {n: bundled_task(n) for n in ("Covid3Month", "CardanoSentiment", "GunPoint")} == {
        "Covid3Month": "regression", "CardanoSentiment": "regression", "GunPoint": "classification"}


def test_gunpoint_equals_the_ts_file():
    train, test = load_bundled("GunPoint")
    X, y = aeon_file("GunPoint", "TRAIN")
    assert train.X.shape == (50, 150, 1) and test.X.shape == (150, 150, 1)
    np.testing.assert_array_equal(train.X[:, :, 0], X[:, 0, :])
    assert [train.classes[i] for i in train.y] == list(y)
    assert (train.lengths == 150).all()


def test_multivariate_channels_are_last():
    train, _ = load_bundled("BasicMotions")
    X, y = aeon_file("BasicMotions", "TRAIN")
    assert train.X.shape == (40, 100, 6)
    np.testing.assert_array_equal(train.X[3], X[3].T)
    assert sorted(train.classes) == sorted(set(y))


def test_variable_length_is_padded_with_true_lengths():
    train, test = load_bundled("JapaneseVowels")
    X, _ = aeon_file("JapaneseVowels", "TRAIN")
    assert train.X.shape[0] == len(X) == 270 and train.X.shape[2] == 12
    assert train.X.shape[1] == test.X.shape[1] == 29  # padded to the longest of both splits
    for i in (0, 1, 100):
        n = X[i].shape[1]
        assert train.lengths[i] == n
        np.testing.assert_array_equal(train.X[i, :n], X[i].T)
        assert (train.X[i, n:] == 0).all()


def test_digits_rows_and_pixels():
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows_train, rows_test = load_bundled("digits_rows")
    pix_train, pix_test = load_bundled("digits_pixels")
    assert rows_train.X.shape[1:] == (8, 8) and pix_train.X.shape[1:] == (64, 1)
    assert len(rows_train) + len(rows_test) == len(digits.target) == 1797
    # A fixed, stratified 25 % test split (same for both views).
    np.testing.assert_array_equal(rows_test.y, pix_test.y)
    counts = np.bincount(rows_test.y)
    np.testing.assert_array_equal(counts, np.round(0.25 * np.bincount(digits.target)))
    # The rows view is the image; the pixel view its row-major flattening; scaled to [0, 1].
    np.testing.assert_allclose(pix_train.X[:, :, 0], rows_train.X.reshape(len(rows_train), 64))
    assert rows_train.X.max() == 1.0
    first = np.flatnonzero(np.all(digits.images.reshape(1797, -1) / 16.0 == rows_train.X[0].reshape(64), axis=1))
    assert len(first) >= 1


def test_unknown_bundled_name_suggests():
    with pytest.raises(DataError, match="unknown bundled data set 'GunPiont'; did you mean 'GunPoint'"):
        load_bundled("GunPiont")


def test_stratified_split_holds_out_each_class_and_is_seeded():
    y = np.array([0] * 10 + [1] * 30)
    keep, out = stratified_split(y, 0.2, seed=3)
    assert sorted(np.bincount(y[out]).tolist()) == [2, 6]
    assert len(np.intersect1d(keep, out)) == 0 and len(keep) + len(out) == 40
    np.testing.assert_array_equal(out, stratified_split(y, 0.2, seed=3)[1])
    assert not np.array_equal(out, stratified_split(y, 0.2, seed=4)[1])


def test_normalisation_is_fitted_on_train_valid_steps_only(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(40, 6, 2))
    lengths = rng.integers(2, 7, size=40)
    for i, n in enumerate(lengths):
        X[i, n:] = 1000.0  # padding must not enter the statistics
    y = np.arange(40) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y, lengths=lengths)
    Xt = rng.normal(size=(10, 6, 2))
    np.savez(tmp_path / "t.npz", X=Xt, y=np.arange(10) % 2)
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), test_path=str(tmp_path / "t.npz"), val_fraction=0.25), seed=0)
    keep, _ = stratified_split(y, 0.25, seed=0)
    valid = np.concatenate([X[i, : lengths[i]] for i in keep])  # [valid steps, C]
    np.testing.assert_allclose(d.stats.mean, valid.mean(0))
    np.testing.assert_allclose(d.stats.std, valid.std(0))
    i = 0
    np.testing.assert_allclose(d.train.X[i, : d.train.lengths[i]],
                               (X[keep[i], : lengths[keep[i]]] - valid.mean(0)) / valid.std(0), rtol=1e-5)
    assert (d.train.X[i, d.train.lengths[i]:] == 0).all()
    # The test split is scaled with the training statistics, not its own.
    np.testing.assert_allclose(d.test.X, ((Xt - valid.mean(0)) / valid.std(0)).astype(np.float32), rtol=1e-5)


def _ragged_file(tmp_path, scales):
    """Series of random lengths whose channels differ in scale by ``scales`` per series; padding 1e6."""
    rng = np.random.default_rng(1)
    n = len(scales)
    X = rng.normal(size=(n, 7, 2)) * np.asarray(scales, dtype=float)[:, None, None] + 5.0 * np.asarray(scales)[:, None, None]
    lengths = rng.integers(3, 8, size=n)
    for i, k in enumerate(lengths):
        X[i, k:] = 1e6
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(n) % 2, lengths=lengths)
    return X, lengths


def test_per_series_gives_each_series_mean_0_std_1_on_its_own_valid_steps(tmp_path):
    scales = [1e-3, 1.0, 1e4, 1e8] * 5
    X, lengths = _ragged_file(tmp_path, scales)
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0, normalize="per_series"), seed=0)
    assert d.train.X.shape == (20, 7, 2)
    for i in range(20):
        v = d.train.X[i, : lengths[i]]
        np.testing.assert_allclose(v.mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(v.std(0), 1.0, rtol=1e-4)
        raw = X[i, : lengths[i]]
        np.testing.assert_allclose(v, (raw - raw.mean(0)) / raw.std(0), rtol=1e-4, atol=1e-5)
        assert (d.train.X[i, lengths[i]:] == 0).all()
    # Scale is gone: series 1e11 apart look alike, so the model cannot read it (series_scale can).
    assert np.abs(d.train.X).max() < np.sqrt(7)


def test_per_series_constant_and_huge_series_stay_finite(tmp_path):
    X = np.zeros((4, 5, 1))
    X[1] = 3.0
    X[2, :, 0] = [1e307, -1e307, 1e307, -1e307, 1e307]
    X[3, :, 0] = np.arange(5)
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0, 1, 0, 1]))
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0, normalize="per_series"), seed=0)
    assert np.isfinite(d.train.X).all()
    assert (d.train.X[:2] == 0).all()  # constant series: 0, not nan
    np.testing.assert_allclose(d.train.X[2, :, 0], [0.8165, -1.2247, 0.8165, -1.2247, 0.8165], atol=1e-4)


def test_series_scale_channels_carry_level_and_scale_standardised_on_train(tmp_path):
    scales = [1e-3, 1.0, 1e4, 1e8] * 5
    X, lengths = _ragged_file(tmp_path, scales)
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.25, normalize="per_series",
                             series_scale=True), seed=0)
    assert d.train.X.shape[2] == 2 + 4  # the series, then asinh(mean) and asinh(std) of each channel
    keep, held = stratified_split(np.arange(20) % 2, 0.25, seed=0)
    raw = [X[i, : lengths[i]] for i in range(20)]
    feats = np.array([np.arcsinh(np.concatenate([r.mean(0), r.std(0)])) for r in raw])  # [N, 4]
    mu, sd = feats[keep].mean(0), feats[keep].std(0)  # fitted on the training part only
    for part, idx in ((d.train, keep), (d.val, held)):
        for j, i in enumerate(idx):
            k = lengths[i]
            np.testing.assert_allclose(part.X[j, :k, 2:], np.broadcast_to((feats[i] - mu) / sd, (k, 4)), rtol=1e-4, atol=1e-5)
            assert (part.X[j, k:] == 0).all()
    # The amplitude per_series removed is back: it orders the series by scale.
    order = np.argsort(d.train.X[:, 0, 4])
    assert (np.diff(np.asarray(scales)[keep][order]) >= 0).all()


def test_series_scale_needs_per_series():
    with pytest.raises(ValueError, match="data.series_scale.*per_series"):
        DataConfig(dataset="GunPoint", series_scale=True)


def test_constant_channel_gets_unit_std():
    s = ChannelStats.fit(np.ones((2, 3, 1)), np.array([3, 3]))
    assert s.std.tolist() == [1.0]


def test_csv_rows_with_trailing_blanks_are_shorter_sequences(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("label,t0,t1,t2\na,1,2,3\nb,4,5,\na,6,,\nb,7,8,9\n")
    d = load_data(DataConfig(path=str(p), val_fraction=0.0, normalize="none"), seed=0)
    assert d.classes == ["a", "b"]
    np.testing.assert_array_equal(d.train.lengths, [3, 2, 1, 3])
    np.testing.assert_array_equal(d.train.X[:, :, 0], [[1, 2, 3], [4, 5, 0], [6, 0, 0], [7, 8, 9]])


def _npz(tmp_path, name="d.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return str(p)


def _err(path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load_data(DataConfig(path=path, **kw), seed=0)
    return str(info.value)


def test_nan_is_reported_with_indices(tmp_path):
    X = np.zeros((6, 4, 2))
    X[2, 1, 1] = np.nan
    X[4, 3, 0] = np.inf
    msg = _err(_npz(tmp_path, X=X, y=np.arange(6) % 2, lengths=np.full(6, 4)))
    assert "2 non-finite values (NaN or inf) at [sample, step, channel] [2, 1, 1], [4, 3, 0]" in msg


def test_nan_in_padding_is_fine(tmp_path):
    X = np.zeros((6, 4, 1))
    X[0, 3] = np.nan
    d = load_data(DataConfig(path=_npz(tmp_path, X=X, y=np.arange(6) % 2, lengths=np.array([3, 4, 4, 4, 4, 4])),
                             val_fraction=0.0), seed=0)
    assert np.isfinite(d.train.X).all()


def test_ragged_data_is_explained(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 1)), np.zeros((5, 1))
    np.savez(tmp_path / "r.npz", X=ragged, y=np.array([0, 1]))
    assert "stored as Python objects (ragged sequences?)" in _err(str(tmp_path / "r.npz"))
    X = np.zeros((4, 5, 1))
    X[1, 3:] = np.nan
    msg = _err(_npz(tmp_path, "p.npz", X=X, y=np.array([0, 1, 0, 1])))
    assert "X looks ragged: 1 sequence(s) end in NaN padding (first: sample 1) but no 'lengths'" in msg


@pytest.mark.parametrize(
    "arrays, expected",
    [
        ({"X": np.zeros((4, 3, 1))}, "labels are missing"),
        ({"X": np.zeros((4, 3, 1)), "y": np.zeros(4)}, "expected labels of at least 2 classes for classification, got 1 (every label is"),
        ({"X": np.zeros((4, 3, 1)), "y": np.array([0.0, 1.0, np.nan, 1.0])}, "1 label(s) missing (NaN) at index [2]"),
        ({"X": np.zeros((4, 3, 1)), "y": np.array([0, 1, 0])}, "expected y of shape [4]"),
        ({"X": np.zeros((4, 3, 1)), "y": np.array([0, 1, 0, 1]), "lengths": np.array([3, 0, 3, 3])}, "got lengths[1] = 0"),
        ({"X": np.zeros((4, 3, 1)), "y": np.array([0, 1, 0, 1]), "lengths": np.array([3, 4, 3, 3])}, "expected every length in [1, 3]"),
        ({"X": np.zeros((0, 3, 1)), "y": np.zeros(0)}, "expected labels of at least 2 classes"),
        ({"X": np.zeros((4, 3, 1, 2)), "y": np.array([0, 1, 0, 1])}, "expected X of shape [N, T, C] (or [N, T]), got shape [4, 3, 1, 2]"),
        ({"X": np.array([["a"]]), "y": np.array([0])}, "expected 'X' to hold numbers"),
        ({"Z": np.zeros(3)}, "unexpected array(s) ['Z']"),
    ],
)
def test_bad_npz_files(tmp_path, arrays, expected):
    assert expected in _err(_npz(tmp_path, **arrays))


def test_empty_validation_split(tmp_path):
    # One sequence per class: nothing can be held out for validation.
    msg = _err(_npz(tmp_path, X=np.zeros((2, 3, 1)), y=np.array([0, 1])), val_fraction=0.2)
    assert "validation split: the split is empty (0 sequences)" in msg


def test_bad_csv_and_paths(tmp_path):
    (tmp_path / "a.csv").write_text("lbl,t0\n0,1\n1,2\n")
    assert "no label column 'label' in the header; did you mean 'lbl'?" in _err(str(tmp_path / "a.csv"))
    (tmp_path / "b.csv").write_text("label,t0,t1\n0,1,x\n1,2,3\n")
    assert "line 2, column 't1', step 1: expected a number, got 'x'" in _err(str(tmp_path / "b.csv"))
    # an id column beside the steps: the error names it and says what every other column is
    (tmp_path / "id.csv").write_text("id,label,t0,t1\ns0,0,1,2\ns1,1,2,3\n")
    msg = _err(str(tmp_path / "id.csv"))
    assert "column 'id' is not a time step" in msg
    assert "every column but the label column 'label' is a time step; remove other columns, such as an id" in msg
    (tmp_path / "c.csv").write_text("label,t0,t1,t2\n0,1,,3\n1,2,3,4\n")
    assert "line 2 has an empty cell at step 1 before the end of the sequence" in _err(str(tmp_path / "c.csv"))
    assert "does not exist" in _err(str(tmp_path / "nope.npz"))
    (tmp_path / "d.txt").write_text("1")
    assert "expected a .npz or .csv file, got suffix '.txt'" in _err(str(tmp_path / "d.txt"))
    (tmp_path / "e.npz").write_bytes(b"not a zip")
    assert "cannot read as an .npz file" in _err(str(tmp_path / "e.npz"))


def test_test_file_must_match(tmp_path):
    train = _npz(tmp_path, X=np.zeros((4, 3, 2)), y=np.array(["a", "b", "a", "b"]))
    other = _npz(tmp_path, "t.npz", X=np.zeros((2, 3, 1)), y=np.array(["a", "b"]))
    assert "expected 2 channels like the training file, got 1" in _err(train, test_path=other, val_fraction=0.0)
    unseen = _npz(tmp_path, "u.npz", X=np.zeros((2, 3, 2)), y=np.array(["a", "c"]))
    assert "labels ['c'] do not occur in the training file" in _err(train, test_path=unseen, val_fraction=0.0)
