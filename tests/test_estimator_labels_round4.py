"""A scikit-learn user's round (/tmp/t7), fix-T7: the estimators keep y's labels exactly
(``classes_`` is ``np.unique(y)``, ``predict`` returns them, ``score`` is scikit-learn's accuracy of
``predict``), so that scikit-learn's scorers, ``cross_val_score`` and ``GridSearchCV`` read them;
a keyword and a ``params`` entry for one key path are refused."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402

from rnnlab.errors import ConfigError, DataError  # noqa: E402
from rnnlab.estimators import FAST, RNNClassifier, RNNSequenceTagger  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _series(n: int = 24, steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 1, steps))
    first = np.arange(n) % 2 == 0
    X[~first] += 2.0  # (separable in a few steps)
    return X, first


def _clf(steps: int = 40) -> RNNClassifier:
    return RNNClassifier(hidden_size=4, steps=steps, lr=0.02, params=dict(FAST), random_state=0)


def test_padded_text_labels_are_kept_and_scored_as_scikit_learn_scores_them():
    X, first = _series()
    y = np.where(first, " cat", "dog ")  # (a CSV's padding: labels the caller's scorers compare as given)
    clf = _clf().fit(X, y)
    assert clf.classes_.dtype == np.unique(y).dtype
    assert clf.classes_.tolist() == np.unique(y).tolist() == [" cat", "dog "]
    predicted = clf.predict(X)
    assert set(predicted.tolist()) <= set(y.tolist())
    assert clf.score(X, y) == pytest.approx(accuracy_score(y, predicted))
    assert accuracy_score(y, predicted) > 0.5  # (0.0 when predict stripped the labels)
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    assert cross_val_score(_clf(), X, y, cv=cv, scoring="accuracy").min() > 0.5


def test_labels_differing_only_by_whitespace_are_two_classes():
    X, first = _series()
    y = np.where(first, "x", "x ")
    clf = _clf(steps=2).fit(X, y)
    assert clf.classes_.tolist() == ["x", "x "] and clf.n_classes_ == 2


def test_object_labels_keep_their_dtype():
    X, first = _series()
    y = np.where(first, " a", "b").astype(object)  # (a pandas column's)
    clf = _clf(steps=2).fit(X, y)
    assert clf.classes_.dtype == object and clf.classes_.tolist() == [" a", "b"]
    assert set(clf.predict(X).tolist()) <= {" a", "b"}


def test_byte_labels_are_refused_as_scikit_learn_refuses_them_not_decoded():
    X, first = _series()
    with pytest.raises(DataError, match=r"^y: expected text or numeric labels, got bytes \(e\.g\. b' a'\).*y\.astype\(str\)$"):
        _clf(steps=2).fit(X, np.where(first, b" a", b"b"))


def test_the_tagger_keeps_labels_per_step_exactly():
    X = np.random.default_rng(0).normal(size=(16, 1, 10))
    y = np.where(X[:, 0] > 0, " up", "down ")
    tagger = RNNSequenceTagger(hidden_size=8, steps=80, lr=0.02, params=dict(FAST), random_state=0).fit(X, y)
    assert tagger.classes_.tolist() == np.unique(y).tolist() == [" up", "down "]
    predicted = tagger.predict(X)
    assert set(np.unique(predicted).tolist()) <= {" up", "down "}
    assert tagger.score(X, y) == pytest.approx(accuracy_score(y.ravel(), predicted.ravel()))
    assert tagger.score(X, y) > 0.9


def test_a_keyword_and_a_params_entry_for_one_key_path_are_refused_naming_both():
    X, first = _series()
    est = RNNClassifier(hidden_size=8, steps=2, params={**FAST, "model.hidden_size": 12}, random_state=0)
    with pytest.raises(ConfigError, match=r"^hidden_size=8 and params\['model.hidden_size'\]=12 set the same key "
                                          r"path; give it once"):
        est.fit(X, np.where(first, "a", "b"))
    assert not hasattr(est, "model_")
    # (the same value twice trains it: no conflict)
    same = RNNClassifier(hidden_size=np.int64(4), steps=2, params={**FAST, "model.hidden_size": 4}, random_state=0)
    assert same.fit(X, np.where(first, "a", "b")).config_.model.hidden_size == 4


def test_a_pickled_fit_predicts_the_same_and_fit_takes_no_sample_weight():
    import pickle

    X, first = _series()
    y = np.where(first, " a", "b")
    clf = _clf(steps=2).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))  # (a pickle made here: docs/estimators.md, loading only your own)
    assert again.predict(X).tolist() == clf.predict(X).tolist()
    with pytest.raises(TypeError, match="sample_weight"):
        _clf(steps=2).fit(X, y, sample_weight=np.ones(len(y)))
