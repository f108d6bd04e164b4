"""The estimators after a new user's second look: a run directory a failed fit left serves the next
fit, and a fitted one is refused in words that say what to do under cross-validation; the per-step
estimators check the channels of X as aeon's do; labels, empty inputs and the forecaster's series
are refused in one line naming the argument (never a temporary file)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from sklearn.model_selection import cross_val_score  # noqa: E402
from test_bad_inputs import precise_error  # noqa: E402

from rnnlab.errors import ConfigError, DataError  # noqa: E402
from rnnlab.estimators import (  # noqa: E402
    RNNClassifier,
    RNNForecaster,
    RNNSequenceRegressor,
    RNNSequenceTagger,
)
from rnnlab.rundir import RunDir  # noqa: E402

TINY = RNNClassifier._get_test_params()
FORECAST = RNNForecaster._get_test_params()


def _series(n: int = 24, channels: int = 2, length: int = 12):
    X = np.random.default_rng(0).normal(size=(n, channels, length))
    return X, np.array(["a", "b", "c"] * (n // 3))


def _steps(n: int = 16, length: int = 10):
    X = np.random.default_rng(0).normal(size=(n, 1, length))
    return X, (X[:, 0] > 0).astype(np.int64)  # integer labels: 0, 1


# Fitted once for the module (a few optimizer steps each): the cases below only predict or score.
@functools.cache
def _classifier() -> RNNClassifier:
    return RNNClassifier(**TINY).fit(*_series())


@functools.cache
def _tagger() -> RNNSequenceTagger:
    return RNNSequenceTagger(**TINY).fit(*_steps())


@functools.cache
def _sequence_regressor() -> RNNSequenceRegressor:
    X, _ = _steps()
    return RNNSequenceRegressor(**TINY).fit(X, 2.0 * X[:, 0])


@functools.cache
def _forecaster() -> RNNForecaster:
    return RNNForecaster(**FORECAST).fit(np.sin(np.arange(40.0)))


# ------------------------------------------------------------------------------ the run directory


def test_a_failed_fit_leaves_a_run_dir_the_next_fit_uses(tmp_path):
    X, y = _series()
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="'model.hidden_size': expected a number > 0, got -1"):
        RNNClassifier(**{**TINY, "hidden_size": -1}, run_dir=out).fit(X, y)
    assert not out.exists()  # a bad parameter is said before anything is written
    with pytest.raises(DataError, match="validation split: the split is empty"):  # the trainer's check of the data
        RNNClassifier(**TINY, run_dir=out).fit(X[:2], y[:2])
    RNNClassifier(**TINY, run_dir=out).fit(X, y)  # into what that fit left
    assert RunDir.existing(out).read_summary() is not None
    with np.load(out / "train_data.npz") as data:
        assert len(data["X"]) == len(X)  # this fit's data, not the failed one's
    RNNClassifier(**TINY, run_dir=tmp_path / "fresh").fit(X, y)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "fresh").iterdir())


def test_a_fitted_run_dir_is_refused_in_words_that_say_what_to_do_under_cross_validation(tmp_path):
    # Every clone of cross_val_score or GridSearchCV fits into the same run_dir: the second is refused.
    X, y = _series()
    with pytest.raises(ConfigError) as info:
        cross_val_score(RNNClassifier(**TINY, run_dir=tmp_path / "run"), X, y, cv=2, error_score="raise")
    message = str(info.value)
    assert "\n" not in message and "already holds a fitted run; give a new directory per fit" in message
    assert "cross_val_score and GridSearchCV fit clones that share run_dir: leave it unset there" in message


# ------------------------------------------------------------------------------ one-line errors

X_STEPS = _steps()[0]
X_TWO = np.concatenate([X_STEPS, X_STEPS], axis=1)  # 2 channels per step, where fit had 1
TWO_CHANNELS = ["X: expected 1 channel per step (as in fit), got 2"]
MIXED = ["X: expected series of one channel count, got 1 in series 0 and 2 in series 1"]
MISSING = ["y: expected a label at every valid step (-100: a step without one), got 1 missing (NaN or None), "
           "the first at [sample, step] [0, 3]"]


def _with(value, dtype=object):
    """The labels of :func:`_steps` as text (or numbers, with ``dtype=float``), ``value`` at [0, 3]."""
    y = _steps()[1].astype(float) if dtype is float else np.where(_steps()[1] > 0, "up", "down").astype(dtype)
    y[0, 3] = value
    return y


CASES = [
    # the channels of fit (aeon's collection estimators check them; the per-step ones now too)
    ("tagger predict", lambda t: _tagger().predict(X_TWO), DataError, TWO_CHANNELS),
    ("tagger predict_proba", lambda t: _tagger().predict_proba(list(X_TWO)), DataError, TWO_CHANNELS),
    ("tagger score", lambda t: _tagger().score(X_TWO, _steps()[1]), DataError, TWO_CHANNELS),
    ("sequence regressor predict", lambda t: _sequence_regressor().predict(X_TWO), DataError, TWO_CHANNELS),
    # series of different channel counts in one list, in either order
    ("mixed channels at fit", lambda t: RNNSequenceTagger(**TINY).fit([X_STEPS[0], X_TWO[1]] + list(X_STEPS[2:]),
                                                                       list(_steps()[1])), DataError, MIXED),
    ("mixed channels at fit, 2 first", lambda t: RNNSequenceRegressor(**TINY).fit(
        [X_TWO[0], X_STEPS[1]], [np.zeros(10), np.ones(10)]), DataError,
     ["X: expected series of one channel count, got 2 in series 0 and 1 in series 1"]),
    ("mixed channels at predict", lambda t: _tagger().predict([X_STEPS[0], X_TWO[1]]), DataError, MIXED),
    # labels per step: none missing, one type
    ("NaN label", lambda t: RNNSequenceTagger(**TINY).fit(X_STEPS, _with(np.nan, float)), DataError, MISSING),
    ("None label", lambda t: RNNSequenceTagger(**TINY).fit(X_STEPS, _with(None)), DataError, MISSING),
    ("NaN among text labels", lambda t: RNNSequenceTagger(**TINY).fit(X_STEPS, _with(np.nan)), DataError, MISSING),
    ("NaN label at score", lambda t: _tagger().score(X_STEPS, _with(np.nan, float)), DataError, MISSING),
    ("labels of two types", lambda t: RNNSequenceTagger(**TINY).fit(X_STEPS, _with(7)), DataError,
     ["y: expected labels of one type, got int and str labels"]),
    # scoring labels the model cannot have predicted, or none
    ("text labels to score a tagger of numbers", lambda t: _tagger().score(X_STEPS, _with("up", dtype=str)), DataError,
     ["y: expected labels among the fitted classes [0, 1], got none of them (", "dtype <U4)"]),
    ("no label to score", lambda t: _tagger().score(X_STEPS, np.full((16, 10), -100)), DataError,
     ["y: expected a label at some step to score, got none (-100 at all 160 valid steps)"]),
    # empty inputs
    ("series of no step to a classifier", lambda t: _classifier().predict(_series()[0][:, :, :0]), DataError,
     ["X: expected at least 1 step per series, got 0 (X of shape [24, 2, 0])"]),
    ("no series to fit a classifier", lambda t: RNNClassifier(**TINY).fit(_series()[0][:0], _series()[1][:0]),
     DataError, ["X: expected at least 1 series, got none (X of shape [0, 2, 12])"]),
    ("a list with a series of no step", lambda t: _classifier().predict([_series()[0][0], _series()[0][1][:, :0]]),
     DataError, ["X: expected at least 1 step per series, got 0 in series 1"]),
    ("no series to a tagger", lambda t: _tagger().predict(X_STEPS[:0]), DataError,
     ["X: expected at least 1 series, got none (X of shape [0, 1, 10])"]),
    ("an empty list to a tagger", lambda t: _tagger().predict([]), DataError,
     ["X: expected at least 1 series, got none (an empty list)"]),
    ("a tagger's series of no step", lambda t: _tagger().predict([X_STEPS[0], X_STEPS[1][:, :0]]), DataError,
     ["X: expected at least 1 step per series, got 0 in series 1"]),
    ("series of no channel", lambda t: RNNSequenceTagger(**TINY).fit(X_STEPS[:, :0], _steps()[1]), DataError,
     ["X: expected at least 1 channel per step, got 0 (X of shape [16, 0, 10])"]),
    # the forecaster's series is y
    ("inf in a forecaster's series", lambda t: RNNForecaster(**FORECAST).fit(np.r_[np.ones(30), np.inf]), DataError,
     ["y: expected finite values, got 1 non-finite (NaN or inf), the first at step 30"]),
    ("inf in the series to forecast from", lambda t: _forecaster().predict(np.r_[np.inf, np.ones(5)]), DataError,
     ["y: expected finite values, got 1 non-finite (NaN or inf), the first at step 0"]),
    ("a horizon longer than the series", lambda t: RNNForecaster(**{**FORECAST, "horizon": 40}).fit(np.arange(40.0)),
     DataError, ["task.horizon: the validation block of y holds 8 steps, fewer than the horizon",
                 "expected horizon <= 8, got 40", "holding out more cannot help"]),
    ("a series too short for a window", lambda t: RNNForecaster(**FORECAST).fit(np.arange(4.0)), DataError,
     ["data.bptt: y leaves", "shorter than one window"]),
    ("a horizon too long, into run_dir", lambda t: RNNForecaster(**{**FORECAST, "horizon": 40}, run_dir=t / "f").fit(
        np.arange(40.0)), DataError, ["task.horizon: the validation block of y holds"]),
    ("an empty series", lambda t: RNNForecaster(**FORECAST).fit(np.zeros(0)), DataError,
     ["y: expected a series of at least 1 step, got none (shape [0])"]),
    ("an empty series to forecast from", lambda t: _forecaster().predict(np.zeros(0)), DataError,
     ["y: expected a series of at least 1 step, got none (shape [0])"]),
    ("a series the model reads as inf", lambda t: _forecaster().predict(np.sin(np.arange(40.0)) * 1e300), DataError,
     ["y: expected values within float32's range once scaled as in fit", "the first at step 1"]),
]


@pytest.mark.parametrize(("case", "call", "error", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_argument(case, call, error, expected, tmp_path):
    precise_error(case, call, error, expected, tmp_path)


def test_a_forecasters_errors_never_name_its_data_file(tmp_path):
    for run_dir in (None, tmp_path / "f"):
        with pytest.raises(DataError) as info:
            RNNForecaster(**{**FORECAST, "horizon": 40}, run_dir=run_dir).fit(np.arange(40.0))
        assert "train_data.npz" not in str(info.value) and "rnnlab-fit-" not in str(info.value)


def test_values_near_float64s_limit_pass_aeons_checks_without_numpys_warnings():
    # rnnlab's scaling takes them (data/normalize.py); aeon's variance check squared them to inf,
    # with a RuntimeWarning and no other effect.
    X, y = _series()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert set(_classifier().predict(X * 1e300)) <= set(y)
        assert RNNClassifier(**TINY).fit(X * 1e300, y).predict(X[:2] * 1e300).shape == (2,)
