"""The estimators after a data scientist's fourth look: NumPy scalars as hyper-parameters (a grid
search over ``np.arange``); a tagger refuses continuous targets; a forecaster predicts with the
horizon it fitted; per-step targets of an X given as [N, T, C] are said of X; a fit interrupted
by Ctrl-C is continued by the next fit into its ``run_dir``; ``random_state=None`` draws a fresh
seed each fit (``seed_``); a forecaster's warnings name ``y``, not the data file; huge regression
targets raise no cast warning."""

from __future__ import annotations

import io
import json
import signal
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402

from rnnlab.errors import ConfigError, DataError  # noqa: E402
from rnnlab.estimators import (  # noqa: E402
    FAST,
    RNNClassifier,
    RNNForecaster,
    RNNRegressor,
    RNNSequenceRegressor,
    RNNSequenceTagger,
)
from rnnlab.rundir import RunDir  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 2, 10))  # [N, C, T]
y = np.array(["cat", "dog"] * 20)
X[y == "dog", 0] += 1.5
SEASONAL = 10 + np.sin(np.arange(120) * 2 * np.pi / 12) + 0.1 * rng.normal(size=120)


def clf(**kw):
    return RNNClassifier(**{"hidden_size": 4, "steps": 8, "batch_size": 8, "params": dict(FAST), "random_state": 0,
                            **kw})


# 1 -------------------------------------------------------------------------------------------


def test_numpy_scalars_are_hyper_parameters_as_python_values():
    grid = GridSearchCV(clf(), {"hidden_size": np.arange(4, 9, 4), "steps": np.array([4, 8])}, cv=2,
                        error_score="raise").fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.config_.model.hidden_size in (4, 8)
    fitted = clf(hidden_size=np.int64(6), lr=np.float32(0.5), bidirectional=np.bool_(True),
                 params={**FAST, "training.batch_size": np.int64(8), "model.recurrent_dropout": np.float64(0.25)}).fit(X, y)
    config = fitted.config_
    assert (config.model.hidden_size, config.training.batch_size, config.model.bidirectional) == (6, 8, True)
    assert config.training.lr == 0.5 and config.model.recurrent_dropout == 0.25
    # nothing else loosened: a fraction, text or an array is no integer
    for bad in (np.float64(4.5), "8", np.array(8)):
        with pytest.raises(ConfigError, match="'model.hidden_size': expected an integer"):
            clf(hidden_size=bad).fit(X, y)


# 2 -------------------------------------------------------------------------------------------


def test_the_tagger_refuses_continuous_targets_and_points_at_the_regressor():
    tagger = RNNSequenceTagger(hidden_size=4, steps=4, params=FAST, random_state=0)
    with pytest.raises(DataError, match=r"^y: expected class labels per step, got continuous values .*"
                                        r"use RNNSequenceRegressor$"):
        tagger.fit(X, X[:, 0])
    # labels that are whole numbers in a float array are classes
    assert tagger.fit(X, (X[:, 0] > 0).astype(np.float64)).classes_.tolist() == [0.0, 1.0]


# 3 -------------------------------------------------------------------------------------------


def test_the_forecaster_predicts_with_the_horizon_it_fitted():
    f = RNNForecaster(horizon=3, season=12, hidden_size=4, steps=10, random_state=0,
                      params={**FAST, "data.bptt": 12}).fit(SEASONAL)
    fitted = f.predict(SEASONAL)
    for later in (5, 2):  # (5: an IndexError before; 2: a value of the horizon-3 model's second step)
        f.set_params(horizon=later)
        assert f.predict(SEASONAL) == fitted
    assert f.horizon_ == 3
    assert f.fit(SEASONAL).horizon_ == 2 and f.config_.task.horizon == 2  # the next fit takes the new horizon


# 4 -------------------------------------------------------------------------------------------


def test_per_step_targets_of_an_x_given_as_ntc_are_said_of_x():
    X_ntc = rng.normal(size=(40, 15, 2))  # 15 steps of 2 channels, in the other order
    hint = (r"^RNNSequence\w+\.fit: X of shape \[40, 15, 2\] read as \[N, C, T\] is 40 series of 2 steps with 15 "
            r"channels, but y of shape \[40, 15\] has 15 steps per series, .* call fit\(X.transpose\(0, 2, 1\), y\)$")
    with pytest.raises(DataError, match=hint):
        RNNSequenceRegressor(hidden_size=4, steps=4, params=FAST).fit(X_ntc, X_ntc[:, :, 0])
    with pytest.raises(DataError, match=hint):
        RNNSequenceTagger(hidden_size=4, steps=4, params=FAST).fit(X_ntc, X_ntc[:, :, 0] > 0)
    # transposed as the hint says, it fits; score takes the same hint
    reg = RNNSequenceRegressor(hidden_size=4, steps=4, params=FAST).fit(X_ntc.transpose(0, 2, 1), X_ntc[:, :, 0])
    with pytest.raises(DataError, match=r"^RNNSequenceRegressor\.score: .* call score\(X.transpose\(0, 2, 1\), y\)$"):
        reg.score(X_ntc, X_ntc[:, :, 0])


# 5 -------------------------------------------------------------------------------------------


class _CtrlC(io.StringIO):
    """The fit's log (``verbose``) on a terminal where Ctrl-C is pressed as epoch ``at``'s line
    shows: a real SIGINT, at a point of the fit that no timing decides."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.startswith(f"epoch {self.at:>3}/"):
            signal.raise_signal(signal.SIGINT)
        return written


def _epochs(run_dir):
    return [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_fit_interrupted_by_ctrl_c_is_continued_by_the_next_fit(tmp_path):
    run_dir = tmp_path / "kb"
    interrupted = clf(steps=40, run_dir=run_dir, verbose=True)
    with redirect_stdout(_CtrlC(at=3)), pytest.raises(KeyboardInterrupt):
        interrupted.fit(X, y)
    assert not interrupted.is_fitted and _epochs(run_dir) == [1, 2, 3]
    data = (run_dir / "train_data.npz").read_bytes()
    # other parameters, or other data, cannot continue it: said so, and nothing of it is lost
    with pytest.raises(ConfigError, match=r"^run_dir '.*kb' holds an interrupted fit \(3 recorded epochs.*\) that "
                                          r"this fit cannot continue \(.*training.lr.*\); fit the same data"):
        clf(steps=40, lr=0.1, run_dir=run_dir).fit(X, y)
    with pytest.raises(ConfigError, match=r"^run_dir '.*kb' holds an interrupted fit \(3 recorded epochs.*\) on "
                                          r"other data than this fit's X and y; .*remove .* yourself to start over"):
        clf(steps=40, run_dir=run_dir).fit(X[::-1], y)
    assert _epochs(run_dir) == [1, 2, 3] and (run_dir / "train_data.npz").read_bytes() == data
    # the same fit again continues it, and ends where the fit never interrupted ends
    interrupted.set_params(verbose=False).fit(X, y)
    assert _epochs(run_dir) == list(range(1, 11)) and (run_dir / "resumes.jsonl").exists()
    whole = clf(steps=40, run_dir=tmp_path / "whole").fit(X, y)
    np.testing.assert_array_equal(interrupted.predict_proba(X), whole.predict_proba(X))
    with pytest.raises(ConfigError, match="already holds a fitted run"):  # now it is a fitted run
        clf(steps=40, run_dir=run_dir).fit(X, y)


def test_an_interrupted_fit_with_random_state_none_is_continued_with_its_seed(tmp_path):
    run_dir = tmp_path / "kb"
    est = clf(steps=40, run_dir=run_dir, verbose=True, random_state=None)
    with redirect_stdout(_CtrlC(at=2)), pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    drawn = RunDir(run_dir).read_config().training.seed
    est.set_params(verbose=False).fit(X, y)
    assert est.seed_ == drawn and _epochs(run_dir) == list(range(1, 11))


# 6 -------------------------------------------------------------------------------------------


def test_random_state_none_draws_a_fresh_seed_each_fit_from_numpys_global_generator(tmp_path):
    a = clf(random_state=None, run_dir=tmp_path / "a").fit(X, y)
    b = clf(random_state=None).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X)) and a.seed_ != b.seed_
    assert RunDir(tmp_path / "a").read_config().training.seed == a.seed_  # recorded in the run
    np.random.seed(7)
    c = clf(random_state=None).fit(X, y)
    np.random.seed(7)
    assert clf(random_state=None).fit(X, y).seed_ == c.seed_  # as scikit-learn's: np.random.seed repeats it
    zero, again = clf(random_state=0).fit(X, y), clf(random_state=0).fit(X, y)
    assert zero.seed_ == again.seed_ == 0
    np.testing.assert_array_equal(zero.predict_proba(X), again.predict_proba(X))


# 7 -------------------------------------------------------------------------------------------


def test_a_forecasters_warnings_name_y_not_the_data_file():
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        RNNForecaster(horizon=3, season=12, hidden_size=4, steps=4, random_state=0,
                      params={**FAST, "data.bptt": 12}).fit(np.arange(240) % 12)
    texts = [str(w.message) for w in said]
    season = [t for t in texts if "repeats its season" in t]
    assert season and all(t.startswith("y repeats its season (task.season = 12)") for t in season), texts
    assert not any("train_data.npz" in t or "rnnlab-fit-" in t or "'x0'" in t for t in texts), texts


# 8 -------------------------------------------------------------------------------------------


def test_huge_regression_targets_raise_no_cast_warning():
    targets = 1e20 * (1 + rng.uniform(size=40))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        reg = RNNRegressor(hidden_size=4, steps=4, params=FAST, random_state=0).fit(X, targets)
    assert not [str(w.message) for w in said if "cast" in str(w.message)]
    assert reg.predict(X[:2]).shape == (2,)
    with pytest.raises(ValueError, match="y"):  # NaN is still refused, in scikit-learn's words
        RNNRegressor(hidden_size=4, steps=4, params=FAST).fit(X, np.where(targets > 1.5e20, np.nan, targets))
