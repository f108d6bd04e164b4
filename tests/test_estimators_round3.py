"""The estimators after a scikit-learn user's third look: a refused refit keeps the fitted model;
the [N, C, T] layout warning names X as given and the fix as a call; a small ``steps`` keyword
trains (the warm-up shortened to it); ``params__<key path>`` works in ``set_params``,
``clone`` and ``GridSearchCV``; mixed label types and a bad ``random_state`` are one-line errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from rnnlab.errors import ConfigError, DataError  # noqa: E402
from rnnlab.estimators import FAST, RNNClassifier, RNNSequenceTagger  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 2, 10)).astype(np.float32)  # [N, C, T]
y = np.array(["zeta", "alpha", "mid"] * 10)
X[y == "alpha", 0] += 2.0
X[y == "mid", 1] -= 2.0


def clf(**kw):
    return RNNClassifier(**{"hidden_size": 4, "steps": 10, "params": dict(FAST), "random_state": 0, **kw})


def test_a_refused_refit_into_a_fitted_run_dir_keeps_the_fitted_model(tmp_path):
    c = clf(steps=30, run_dir=tmp_path / "run").fit(X, y)
    before = c.predict_proba(X)
    with pytest.raises(ConfigError, match="already holds a fitted run"):
        c.fit(X[:, :1], y[::-1])  # other channels, other labels: nothing of it may be taken
    assert c.is_fitted and c.classes_.tolist() == ["alpha", "mid", "zeta"] and c.metadata_["n_channels"] == 2
    np.testing.assert_array_equal(c.predict_proba(X), before)
    # a per-step estimator keeps its fitted classes too
    steps = np.where(X[:, 0] > 0, "up", "down")
    tagger = RNNSequenceTagger(hidden_size=4, steps=5, params=FAST, random_state=0, run_dir=tmp_path / "tag").fit(X, steps)
    with pytest.raises(ConfigError, match="already holds a fitted run"):
        tagger.fit(X, np.where(X[:, 0] > 0, 1, 0))
    assert tagger.classes_.tolist() == ["down", "up"]
    # without run_dir a refit refits, as scikit-learn's estimators do
    free = clf().fit(X, y)
    assert free.fit(X, np.where(y == "zeta", "z", "other")).classes_.tolist() == ["other", "z"]


def test_the_layout_warning_names_x_as_given_once_and_the_fix_as_a_call():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf().fit(X.transpose(0, 2, 1), y)  # [N, T, C] given where [N, C, T] is read
    said = [str(w.message) for w in caught if "channels" in str(w.message)]
    assert len(said) == 1, said
    for part in ("X of shape [30, 10, 2] read as [N, C, T]", "2 steps with 10 channels", "more channels than steps",
                 "if X is [N, T, C], call fit(X.transpose(0, 2, 1), y)"):
        assert part in said[0], said[0]
    assert "data.path" not in said[0] and "train_data" not in said[0]
    # one step of several channels is refused, in the same terms
    with pytest.raises(DataError) as info:
        clf().fit(X[:, :, :1].repeat(3, axis=1), y)
    assert "X of shape [30, 6, 1] read as [N, C, T] is 30 series of 1 step with 6 channels" in str(info.value)
    assert "fit(X.transpose(0, 2, 1), y)" in str(info.value) and "data.path" not in str(info.value)


def test_a_small_steps_keyword_trains_with_the_warm_up_shortened_to_it():
    quick = {"adapt.budget": False, "adapt.shape": False, "training.threads": 1}  # the template's warm-up of 50
    c = RNNClassifier(hidden_size=4, steps=20, params=quick, random_state=0).fit(X, y)
    assert c.config_.training.steps == 20 and c.config_.training.schedule.warmup_steps == 2
    assert RNNClassifier(steps=1000).resolved_config().training.schedule.warmup_steps == 50  # within a tenth: kept
    given = RNNClassifier(steps=20, params={"training.schedule.warmup_steps": 5}).resolved_config()
    assert given.training.schedule.warmup_steps == 5  # params sets it: as given
    with pytest.raises(ConfigError, match="'training.schedule.warmup_steps' \\(30\\) is not shorter"):
        RNNClassifier(steps=20, params={"adapt.shape": False, "training.schedule.warmup_steps": 30}).resolved_config()
    # (with the shape rule on, the steps it trains are known at fit: the trainer judges the warm-up then)
    assert RNNClassifier(steps=20, params={"training.schedule.warmup_steps": 30}).resolved_config().adapt.shape


def test_params_key_paths_in_set_params_clone_and_grid_search():
    c = clf(params={**FAST, "model.weight_drop": 0.1})
    original = c.params
    assert c.get_params(deep=True)["params__model.weight_drop"] == 0.1
    assert "params__model.weight_drop" not in c.get_params(deep=False)
    c.set_params(**{"params__model.weight_drop": 0.3})
    assert c.params == {**FAST, "model.weight_drop": 0.3} and original["model.weight_drop"] == 0.1
    assert clone(c).params == c.params and c.resolved_config().model.weight_drop == 0.3
    c.set_params(**c.get_params(deep=True))  # scikit-learn's round trip
    assert c.params == {**FAST, "model.weight_drop": 0.3}
    with pytest.raises(ConfigError) as info:
        c.set_params(**{"params__model.weigth_drop": 0.3})
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("params__model.weigth_drop: unknown key path 'model.weigth_drop'; "
                                      "did you mean 'model.weight_drop'?")
    gs = GridSearchCV(clf(), {"params__model.weight_drop": [0.0, 0.2]}, cv=2, error_score="raise").fit(X, y)
    assert gs.best_params_["params__model.weight_drop"] in (0.0, 0.2)
    assert gs.best_estimator_.params["model.weight_drop"] == gs.best_params_["params__model.weight_drop"]


def test_labels_of_two_types_and_a_bad_random_state_are_one_line_errors():
    with pytest.raises(DataError) as info:
        clf().fit(X, np.array(["a", 1] * 15, dtype=object))
    assert str(info.value) == "y: expected labels of one type, got int and str labels"
    with pytest.raises(ConfigError) as info:
        clf(random_state="x").fit(X, y)
    assert str(info.value) == "random_state: expected None, an int or a numpy.random.RandomState, got 'x' (str)"
    assert clf(random_state=np.random.RandomState(3)).resolved_config().training.seed >= 0
