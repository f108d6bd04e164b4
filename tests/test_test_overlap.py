"""A test file of the training file's series in another order (a shuffled export, ``X[::-1]``)
passed where a byte-for-byte copy is refused: test accuracy 1.0000, measured on training data,
without a word (a tester's round). Every test series found in the training file is now refused
as the copy is; some of them are a warning that the run records with its data notes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_bad_inputs import one_line_error

from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _files(tmp_path, n: int = 20, steps: int = 16):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, steps, 1))
    y = np.array(["a", "b"] * (n // 2))
    np.savez(tmp_path / "train.npz", X=X, y=y)
    return X, y


def test_a_test_file_of_the_training_series_in_another_order_is_refused(tmp_path, capsys):
    X, y = _files(tmp_path)
    np.savez(tmp_path / "test.npz", X=X[::-1], y=y[::-1])
    cfg = DataConfig(path=str(tmp_path / "train.npz"), test_path=str(tmp_path / "test.npz"))
    with pytest.raises(DataError, match=r"each of its 20 series is also in data\.path .* step for step "
                                        r"\(in any order\): the test figures would be measured on training data"):
        load_data(cfg, seed=0)
    # through the CLI: one line, naming the key
    (tmp_path / "c.toml").write_text(f'[data]\npath = "{tmp_path / "train.npz"}"\n'
                                     f'test_path = "{tmp_path / "test.npz"}"\n[training]\nepochs = 1\n')
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                   ["data.test_path (", "also in data.path", "leave test_path unset"])


def test_some_shared_series_are_a_warning_naming_how_many(tmp_path):
    X, y = _files(tmp_path)
    rng = np.random.default_rng(1)
    test = np.concatenate([X[[3, 7]], rng.normal(size=(8, X.shape[1], 1))])
    np.savez(tmp_path / "test.npz", X=test, y=np.array(["a", "b"] * 5))
    cfg = DataConfig(path=str(tmp_path / "train.npz"), test_path=str(tmp_path / "test.npz"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        data = load_data(cfg, seed=0)
    lines = [str(w.message) for w in said if "also in data.path" in str(w.message)]
    assert len(lines) == 1 and "2 of its 10 series are also in data.path" in lines[0], lines
    assert "(first: test series 0)" in lines[0] and "count them as unseen" in lines[0]
    assert data.test is not None and len(data.test) == 10  # (warned, not dropped: the user decides)


def test_series_that_only_look_alike_are_not_shared(tmp_path):
    X, y = _files(tmp_path)
    # the same values one step shorter, and the same values with one step changed, are other series
    np.savez(tmp_path / "test.npz", X=np.concatenate([X[:2], X[2:4] + np.eye(X.shape[1])[None, :, :1] * 1e-9]),
             y=y[:4], lengths=np.array([X.shape[1] - 1, X.shape[1] - 1, X.shape[1], X.shape[1]]))
    cfg = DataConfig(path=str(tmp_path / "train.npz"), test_path=str(tmp_path / "test.npz"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(cfg, seed=0)
    assert not [w for w in said if "also in data.path" in str(w.message)]


def test_a_series_given_twice_with_two_labels_is_said_with_the_accuracy_it_allows(tmp_path):
    """Before: 10 series each given once per label trained to 0.500, and the fit findings blamed
    the learning rate: 0.5 is the most those data allow."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 12, 1))
    np.savez(tmp_path / "d.npz", X=np.concatenate([X, X, X[:4]]), y=np.array(["a"] * 10 + ["b"] * 10 + ["a"] * 4))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0), seed=0)
    lines = [str(w.message) for w in said if "with different labels" in str(w.message)]
    assert len(lines) == 1, lines
    # 10 groups: 6 of (a, b), 4 of (a, b, a): at most 6 + 8 right of 24
    assert lines[0].startswith(f"data.path ({tmp_path / 'd.npz'}): 10 series appear more than once") and \
        f"training accuracy is at most {14 / 24:.3f}" in lines[0], lines[0]
    # copies with the same label are no conflict
    np.savez(tmp_path / "same.npz", X=np.concatenate([X, X]), y=np.array(["a", "b"] * 5 * 2))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(DataConfig(path=str(tmp_path / "same.npz"), val_fraction=0.0), seed=0)
    assert not [w for w in said if "with different labels" in str(w.message)]

