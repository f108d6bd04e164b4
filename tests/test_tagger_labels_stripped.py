"""RNNSequenceTagger reads text labels per step as `rnnlab train` reads a file's: surrounding
whitespace stripped and byte strings decoded, so " up" and "up" are one class in fit and score."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.estimators import FAST, RNNSequenceTagger

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _data():
    X = np.random.default_rng(0).normal(size=(16, 1, 10))
    y = np.where(X[:, 0] > 0, "up", "down")
    return X, y


def test_padded_labels_per_step_are_one_class_with_the_plain_ones():
    X, y = _data()
    messy = y.astype("<U6").copy()
    messy[::2] = np.char.add(" ", messy[::2])  # (a CSV export's padding on every other series)
    tagger = RNNSequenceTagger(hidden_size=8, steps=80, lr=0.02, params=FAST, random_state=0).fit(X, messy)
    assert tagger.classes_.tolist() == ["down", "up"]
    assert tagger.score(X, np.char.add(y, " ")) == tagger.score(X, y) > 0.9


def test_byte_string_labels_per_step_read_as_text():
    X, y = _data()
    tagger = RNNSequenceTagger(hidden_size=8, steps=40, lr=0.02, params=FAST, random_state=0).fit(X, y.astype("S"))
    assert tagger.classes_.tolist() == ["down", "up"]
    assert set(np.unique(tagger.predict(X)).tolist()) <= {"down", "up"}
