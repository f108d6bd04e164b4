"""fixer-estlabels, round 9: an estimator's run directory carries the caller's labels, so that the
run (``rnnlab predict RUN_DIR``, ``rnnlab.load_run(RUN_DIR).predict``), which docs/estimators.md
calls the safe way to keep a model, predicts the labels ``predict`` does, not the class codes 0..K-1
the estimator trained on; the estimator's own ``predict`` and ``predict_proba`` stay right where
the run orders its classes otherwise than ``classes_`` (numbers spelt as text: '9' before '10')."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

import rnnlab  # noqa: E402
from rnnlab.cli import main  # noqa: E402
from rnnlab.estimators import FAST, RNNClassifier, RNNSequenceTagger  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _three_classes(labels: list) -> tuple[np.ndarray, np.ndarray]:
    """Series of 3 classes, each at its own level (separable in a few dozen steps); ``y`` holds
    ``labels`` in turn, dtype as numpy gives it."""
    rng = np.random.default_rng(0)
    which = np.arange(36) % 3
    X = rng.normal(scale=0.3, size=(36, 1, 8)) + 2.0 * which[:, None, None]
    return X, np.array(labels)[which]


def _fit(X: np.ndarray, y: np.ndarray, run_dir: Path) -> RNNClassifier:
    return RNNClassifier(hidden_size=8, steps=60, lr=0.03, params=dict(FAST), random_state=0,
                         run_dir=run_dir).fit(X, y)


def _cli_labels(run_dir: Path, X: np.ndarray, tmp_path: Path) -> list[str]:
    """``rnnlab predict``'s labels for X (aeon's [N, C, T]), from an .npz as the run read its data."""
    data, out = tmp_path / "new.npz", tmp_path / "p.csv"
    np.savez(data, X=X.transpose(0, 2, 1))
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(out)]) == 0
    with out.open(newline="") as f:
        return [row["label"] for row in csv.DictReader(f)]


@pytest.mark.parametrize("labels", [
    ["walk", "run", "sit"],       # text whose sorted order is not the order of first appearance
    [3, 10, 7],                   # numbers: as text, '10' would sort before '3'
    ["9", "10", "-1"],            # numbers spelt as text: np.unique orders them '-1', '10', '9'; the run '-1', '9', '10'
], ids=["text", "integers", "numeric-text"])
def test_the_run_directory_predicts_the_labels_that_the_estimator_predicts(labels, tmp_path):
    X, y = _three_classes(labels)
    clf = _fit(X, y, tmp_path / "clf")
    predicted = clf.predict(X)
    # (the labels told apart, every class predicted: a wrong map from outputs to classes_ scores 1/3)
    assert clf.score(X, y) > 0.85 and set(predicted.tolist()) == set(y.tolist())

    run = rnnlab.load_run(tmp_path / "clf")
    assert sorted(run.classes) == sorted(str(c) for c in clf.classes_)
    assert run.predict(X.transpose(0, 2, 1)).tolist() == [str(v) for v in predicted]
    assert _cli_labels(tmp_path / "clf", X, tmp_path) == [str(v) for v in predicted]

    # each probability column is classes_'s, in the estimator as in the run (by the class's name)
    proba = clf.predict_proba(X)
    assert clf.classes_[proba.argmax(axis=1)].tolist() == predicted.tolist()
    by_name = run.predict_proba(X.transpose(0, 2, 1))
    columns = [run.classes.index(str(c)) for c in clf.classes_]
    np.testing.assert_allclose(proba, by_name[:, columns], atol=1e-5)


def test_the_run_data_file_holds_the_labels_themselves(tmp_path):
    X, y = _three_classes([3, 10, 7])
    _fit(X, y, tmp_path / "ints")
    with np.load(tmp_path / "ints" / "train_data.npz", allow_pickle=False) as held:
        assert held["y"].dtype.kind == "i" and held["y"].tolist() == y.tolist()
    X, y = _three_classes(["walk", "run", "sit"])
    _fit(X, y, tmp_path / "text")
    with np.load(tmp_path / "text" / "train_data.npz", allow_pickle=False) as held:
        assert held["y"].dtype.kind == "U" and held["y"].tolist() == y.tolist()


def test_labels_the_run_cannot_read_as_classes_are_numbered_and_said_so(tmp_path):
    # 'walk' and 'Walk' are two classes to scikit-learn, one spelling problem to a run's data file
    X, y = _three_classes(["walk", "Walk", "run"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = _fit(X, y, tmp_path / "case")
    said = [str(w.message) for w in caught if "codes" in str(w.message)]
    assert len(said) == 1 and "'walk', 'Walk'" in said[0] and "classes_[k]" in said[0], said
    run = rnnlab.load_run(tmp_path / "case")
    assert run.classes == ["0", "1", "2"]
    codes = run.predict(X.transpose(0, 2, 1)).astype(int)
    assert clf.classes_[codes].tolist() == clf.predict(X).tolist() == y.tolist()


def test_a_fit_without_run_dir_says_nothing_of_the_run_s_class_names():
    X, y = _three_classes(["walk", "Walk", "run"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (nobody reads a temporary run: nothing to say)
        clf = RNNClassifier(hidden_size=8, steps=60, lr=0.03, params=dict(FAST), random_state=0).fit(X, y)
    assert clf.predict(X).tolist() == y.tolist()


def test_the_tagger_s_run_directory_predicts_its_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 1, 10))
    y = np.where(X[:, 0] > 0.5, "10", np.where(X[:, 0] < -0.5, "9", "-1"))  # (the run orders them -1, 9, 10)
    tagger = RNNSequenceTagger(hidden_size=8, steps=120, lr=0.03, params=dict(FAST), random_state=0,
                               run_dir=tmp_path / "tag").fit(X, y)
    predicted = tagger.predict(X)
    assert tagger.score(X, y) > 0.9
    run = rnnlab.load_run(tmp_path / "tag")
    assert sorted(run.classes) == sorted(tagger.classes_.tolist())
    assert run.predict(X.transpose(0, 2, 1)).tolist() == predicted.tolist()
    proba = tagger.predict_proba(X)
    assert tagger.classes_[proba.argmax(axis=2)].tolist() == predicted.tolist()


ROOT = Path(__file__).resolve().parents[1]


def test_the_pickle_sizes_docs_estimators_md_gives_are_measured():
    import pickle

    X = np.random.default_rng(0).normal(size=(12, 1, 30))
    y = np.array(["a", "b"] * 6)
    said = " ".join((ROOT / "docs" / "estimators.md").read_text(encoding="utf-8").split())
    assert "pickles to about 11 KB for a small model" not in said  # (the default pickled to 2.6 MB)
    # (the docs' words for each model, and the size they give it, in KB)
    for words, kwargs, kb in [
        ("the default `RNNClassifier`", {}, 2600),
        ("`hidden_size=8` gives about 460 KB", {"hidden_size": 8}, 460),
        ('`params={"model.batch_norm_steps": 32}`', {"params": {"model.batch_norm_steps": 32}}, 440),
        ('`params={"model.recurrent_batch_norm": False}` about 290 KB', {"params": {"model.recurrent_batch_norm": False}}, 290),
        ("`params=FAST` with `hidden_size=8`", {"params": dict(FAST), "hidden_size": 8}, 11),
    ]:
        assert words in said, words
        clf = RNNClassifier(steps=1, random_state=0, **kwargs).fit(X, y)
        measured = len(pickle.dumps(clf)) / 1024
        assert 0.85 * kb < measured < 1.15 * kb, (words, measured)


def test_the_per_step_example_trains_the_template_that_fits_its_data():
    # (the example's 32-unit LSTM without front-end stopped at training per-step accuracy 0.910:
    # underfit; the template's settings reach 1.0 on the same generated set)
    from rnnlab.config import load_config, parse_config, template_for

    example = load_config(ROOT / "examples" / "configs" / "per_step_tags.toml")
    template = parse_config(template_for("per-step-classification"))
    assert example.data.dataset == "delayed_copy"
    for section in ("task", "data", "model", "training"):
        assert getattr(example, section) == getattr(template, section), section
