"""Round 290: params keys an estimator sets itself are refused, malformed params are one line, and
the data's errors during fit give an estimator's caller remedies it can follow."""

import numpy as np
import pytest

from rnnlab.errors import ConfigError, DataError
from rnnlab.estimators import FAST, RNNClassifier, RNNForecaster, RNNRegressor

rng = np.random.default_rng(0)
X = rng.normal(size=(24, 2, 12))
y = np.array(["a", "b"] * 12)


@pytest.mark.parametrize("key, value, fix", [
    ("data.path", "other.npz", "pass your data to fit(X, y)"),
    ("data.test_path", "other.npz", "hold out your own test data"),
    ("data.dataset", "GunPoint", "pass your data to fit(X, y)"),
    ("output.dir", "runs/zzz", "give run_dir='runs/zzz' instead"),
    ("task.kind", "regression", "for that task use RNNRegressor"),
    ("task.per_step", True, "for that task use RNNSequenceTagger"),
])
def test_a_key_the_estimator_sets_is_refused_before_training(key, value, fix):
    with pytest.raises(ConfigError) as e:
        RNNClassifier(hidden_size=4, steps=2, params={**FAST, key: value}, random_state=0).fit(X, y)
    assert str(e.value).startswith(f"params[{key!r}]={value!r}: ") and fix in str(e.value)
    assert "\n" not in str(e.value)


def test_the_mean_guard_is_the_classifiers_but_fasts_equal_value_is_taken():
    assert RNNClassifier(params=FAST).resolved_config().task.mean_guard is False
    with pytest.raises(ConfigError, match=r"params\['task.mean_guard'\]=True: RNNClassifier trains without a mean guard"):
        RNNClassifier(params={"task.mean_guard": True}).resolved_config()


def test_training_seed_in_params_is_random_states():
    for random_state in (None, 3):
        with pytest.raises(ConfigError, match=r"params\['training.seed'\]=5: .*give random_state=5 instead"):
            RNNClassifier(params={"training.seed": 5}, random_state=random_state).resolved_config()
    # (the same value as the keyword is no conflict, as for the other keywords)
    assert RNNClassifier(params={"training.seed": 5}, random_state=5).resolved_config().training.seed == 5


def test_the_forecasters_horizon_and_season_are_its_keywords():
    with pytest.raises(ConfigError, match=r"params\['task.horizon'\]=3: .*horizon=3"):
        RNNForecaster(horizon=2, params={"task.horizon": 3}).resolved_config()
    with pytest.raises(ConfigError, match=r"params\['task.season'\]=6: .*season=6"):
        RNNForecaster(season=12, params={"task.season": 6}).resolved_config()
    assert RNNForecaster(params={"task.season": 6}).resolved_config().task.season == 6  # season=None: params'
    with pytest.raises(ConfigError, match=r"params\['data.test_fraction'\]=0.2: RNNForecaster trains on the whole of y"):
        RNNForecaster(params={"data.test_fraction": 0.2}).resolved_config()


def test_malformed_params_are_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r'^params: expected key paths \(str\) such as "model.hidden_size", got key 1 \(int\)'):
        RNNClassifier(params={1: 2}).resolved_config()
    with pytest.raises(ConfigError) as e:
        RNNClassifier(params={**FAST, "model": {"hidden_size": 8, "head": {"pooling": "mean"}}}).resolved_config()
    assert str(e.value) == ("params['model']: expected key paths, got a section of the config given a dict; give its "
                            'keys as key paths: params={"model.hidden_size": 8, "model.head.pooling": "mean"}')
    with pytest.raises(ConfigError, match=r"^params: '' is not a key path"):
        RNNClassifier(params={"": 1}).resolved_config()


def test_the_datas_remedies_are_said_in_the_callers_words():
    X6, y6 = rng.normal(size=(6, 1, 20)), np.array(list("abcdef"))
    with pytest.raises(DataError) as e:
        RNNClassifier(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X6, y6)
    said = str(e.value)
    assert 'pass params={"data.val_fraction": 0} to train on all of them' in said
    assert "use RNNRegressor" in said and "[task]" not in said and "set data." not in said


def test_a_too_small_training_split_names_x_and_y_not_data_path():
    with pytest.raises(DataError) as e:
        RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X[:2], np.array([1.0, 2.0]))
    assert str(e.value).startswith("X and y, training split: ") and "data.path" not in str(e.value)
