"""Per-step round 297 (tester helper-297): an estimator's array X is checked for padding as a
file without lengths (-1 labels over zero rows are refused, not trained on as a class), in the
estimator's own form; NaN padding in X or y says to pass lists; whole-number float labels are the
integers they are, in the training and the test file alike."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.data.per_step import per_step_sequences, whole_number_labels
from rnnlab.errors import DataError
from rnnlab.estimators import FAST, RNNClassifier, RNNSequenceRegressor, RNNSequenceTagger
from rnnlab.task import PER_STEP_CLASSIFICATION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

LENGTHS = np.array([5, 8, 6, 8, 4, 7, 8, 5, 6, 8, 3, 8])


def padded_tags(pad: float = -1) -> tuple[np.ndarray, np.ndarray]:
    """X [N, 1, 8] zero past each length, y [N, 8] of classes 0 / 1 with ``pad`` past it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(LENGTHS), 1, 8))
    y = (X[:, 0] > 0).astype(np.int64)
    for i, n in enumerate(LENGTHS):
        X[i, :, n:] = 0.0
    y = np.where(np.arange(8)[None, :] < LENGTHS[:, None], y, pad)
    return X, y


def test_an_array_x_padded_with_minus_one_is_refused_in_the_estimators_form_and_a_list_trains(tmp_path):
    X, y = padded_tags()
    with pytest.raises(DataError) as e:
        RNNSequenceTagger(hidden_size=4, steps=1, params=FAST, random_state=0, run_dir=tmp_path / "r").fit(X, y)
    said = str(e.value)
    assert "\n" not in said and "label -1 over all-zero X rows" in said
    assert "lengths" not in said  # (no .npz key: the estimator's own form)
    assert "as a list of [C, T_i] arrays and y as a list of [T_i] arrays" in said
    assert "pass X as a list of [C, 8] arrays" in said
    # the same series as lists carry their lengths: -1 never reaches a valid step, nor the classes
    Xl = [X[i, :, :n] for i, n in enumerate(LENGTHS)]
    yl = [y[i, :n].astype(float) for i, n in enumerate(LENGTHS)]  # (floats: 0.0 / 1.0)
    tagger = RNNSequenceTagger(hidden_size=4, steps=1, params=FAST, random_state=0, run_dir=tmp_path / "l").fit(Xl, yl)
    assert tagger.classes_.tolist() == [0.0, 1.0]
    assert [len(p) for p in tagger.predict(Xl)] == LENGTHS.tolist()
    held = np.load(tmp_path / "l" / "train_data.npz")
    assert held["lengths"].tolist() == LENGTHS.tolist() and held["y"].dtype.kind == "i"  # (named "0", "1")


def test_nan_padding_in_x_or_y_says_to_pass_lists():
    X, y = padded_tags()
    Xn = X.copy()
    for i, n in enumerate(LENGTHS):
        Xn[i, :, n:] = np.nan
    with pytest.raises(DataError, match=r"fit: X has 20 non-finite values .*end 7 series \(first: sample 0, from "
                                        r"step 5\), as padding does: series of unequal length go in as a list of "
                                        r"\[C, T_i\] arrays and y as a list of \[T_i\] arrays"):
        RNNSequenceTagger(hidden_size=4, steps=1, params=FAST).fit(Xn, y)
    yn = y.astype(float)
    yn[yn == -1] = np.nan
    with pytest.raises(DataError, match=r"got 20 missing .*; they end 7 series .* as a list of \[C, T_i\] arrays"):
        RNNSequenceTagger(hidden_size=4, steps=1, params=FAST).fit(X, yn)
    with pytest.raises(DataError, match=r"got 20 non-finite, .*; they end 7 series .* as a list of \[C, T_i\] arrays"):
        RNNSequenceRegressor(hidden_size=4, steps=1, params=FAST).fit(X, yn)
    # a gap inside a series is no padding: no such advice
    Xg = X.copy()
    Xg[0, 0, 1] = np.nan
    with pytest.raises(DataError) as e:
        RNNSequenceTagger(hidden_size=4, steps=1, params=FAST).fit(Xg, y)
    assert "padding" not in str(e.value) and "[0, 1, 0]" in str(e.value)


def test_whole_number_float_labels_are_the_classes_of_integer_labels(tmp_path):
    X, y = padded_tags()
    Xt = np.ascontiguousarray(X.transpose(0, 2, 1))
    floats = np.where(np.arange(8)[None, :] < LENGTHS[:, None], y, np.nan)  # (NaN padding: a float array)
    np.savez(tmp_path / "tr.npz", X=Xt, y=floats, lengths=LENGTHS)
    np.savez(tmp_path / "te.npz", X=Xt[:4] + 1.0, y=y[:4], lengths=LENGTHS[:4])
    train = per_step_sequences(str(tmp_path / "tr.npz"), "data.path", PER_STEP_CLASSIFICATION, None)
    test = per_step_sequences(str(tmp_path / "te.npz"), "data.test_path", PER_STEP_CLASSIFICATION, train)
    assert train.classes == ["0", "1"]
    assert test.y.tolist() == train.y[:4].tolist()
    # per sequence the rule is the same; a fractional label stays as it is, for the checks to refuse
    assert whole_number_labels(np.array([1.0, 0.0, 2.0])).tolist() == [1, 0, 2]
    assert whole_number_labels(np.array([1.0, 0.5])).dtype.kind == "f"
    assert whole_number_labels(np.array([1.0, np.nan])).dtype.kind == "f"


def test_a_classifier_of_float_labels_names_its_run_classes_as_integers(tmp_path):
    X = np.random.default_rng(0).normal(size=(8, 1, 5))
    y = np.array([0.0, 1.0] * 4)
    clf = RNNClassifier(hidden_size=4, steps=1, params=FAST, random_state=0, run_dir=tmp_path / "r").fit(X, y)
    assert clf.classes_.tolist() == [0.0, 1.0] and set(clf.predict(X).tolist()) <= {0.0, 1.0}
    assert np.load(tmp_path / "r" / "train_data.npz")["y"].tolist() == [0, 1] * 4
