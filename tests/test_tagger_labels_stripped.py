"""RNNSequenceTagger keeps y's labels per step exactly, as scikit-learn does (its scorers compare
``predict`` with ``y``): " up" and "up" are two classes, and byte strings stay bytes. (``rnnlab
train`` strips a file's labels: a CSV export's padding is no label; an array given to an estimator
is the caller's.)"""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.estimators import FAST, RNNSequenceTagger

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _data():
    X = np.random.default_rng(0).normal(size=(16, 1, 10))
    y = np.where(X[:, 0] > 0, "up", "down")
    return X, y


def test_padded_labels_per_step_are_classes_of_their_own():
    X, y = _data()
    messy = y.astype("<U6").copy()
    messy[::2] = np.char.add(" ", messy[::2])
    tagger = RNNSequenceTagger(hidden_size=8, steps=40, lr=0.02, params=FAST, random_state=0).fit(X, messy)
    assert tagger.classes_.tolist() == sorted(np.unique(messy).tolist())
    assert set(np.unique(tagger.predict(X)).tolist()) <= set(tagger.classes_.tolist())


def test_byte_string_labels_per_step_stay_bytes():
    X, y = _data()
    tagger = RNNSequenceTagger(hidden_size=8, steps=40, lr=0.02, params=FAST, random_state=0).fit(X, y.astype("S"))
    assert tagger.classes_.tolist() == [b"down", b"up"]
    assert set(np.unique(tagger.predict(X)).tolist()) <= {b"down", b"up"}
