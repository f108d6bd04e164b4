"""Round 299's estimator defects: score on one class or unseen labels, a config file of
hyper-parameters alone, set_params's one-line and all-or-nothing refusals, a list's step-order
advice, list values in a remedy's spelling, and a tie's advice on a loss metric. Cheap: one
fit of one step; the rest refuse or resolve before training."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from rnnlab import RNNClassifier
from rnnlab.doctor.checks import KeySpelling
from rnnlab.errors import ConfigError, DataError
from rnnlab.estimators import FAST
from rnnlab.recipe.decide import cannot_tell, verdict

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 1, 6))
Y = np.array(["a", "b"] * 6)


def test_score_takes_one_class_and_unseen_labels_as_accuracy_score_does():
    clf = RNNClassifier(hidden_size=4, steps=1, params=FAST, random_state=0).fit(X, Y)
    one = np.array(["a"] * 5)
    assert clf.score(X[:5], one) == accuracy_score(one, clf.predict(X[:5]))
    assert clf.score(X, np.array(["zzz"] * len(X))) == 0.0
    with pytest.raises(DataError, match="expected at least 2 classes, got 1 class"):  # fit still refuses it
        RNNClassifier(hidden_size=4, steps=1, params=FAST).fit(X, np.array(["a"] * len(X)))


def test_a_config_file_of_hyper_parameters_alone_trains_the_fits_data(tmp_path):
    alone = tmp_path / "hp.toml"
    alone.write_text("[model]\nhidden_size = 7\n")
    config = RNNClassifier(config=alone).resolved_config()
    assert config.model.hidden_size == 7 and config.data.path == "train_data.npz" and config.data.dataset is None
    partial = tmp_path / "partial.toml"  # (a [data] table naming no data: its other keys apply)
    partial.write_text("[model]\nhidden_size = 5\n[data]\nval_fraction = 0.0\n")
    config = RNNClassifier(config=partial).resolved_config()
    assert config.model.hidden_size == 5 and config.data.val_fraction == 0.0
    typo = tmp_path / "typo.toml"
    typo.write_text("[model]\nhiden_size = 7\n")
    with pytest.raises(ConfigError) as info:
        RNNClassifier(config=typo).resolved_config()
    assert str(info.value) == f"{typo}: unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"
    with pytest.raises(ConfigError, match="does not exist"):
        RNNClassifier(config=tmp_path / "none.toml").resolved_config()


def test_set_params_refuses_an_unknown_name_in_one_line_and_sets_nothing():
    est = RNNClassifier(hidden_size=4, params={"model.zoneout": 0.1})
    with pytest.raises(ValueError) as info:  # (ConfigError: a ValueError, as scikit-learn's refusal)
        est.set_params(hiden_size=3)
    said = str(info.value)
    assert isinstance(info.value, ConfigError) and "\n" not in said
    assert said.startswith("set_params: 'hiden_size' is no parameter of RNNClassifier; did you mean 'hidden_size'?")
    assert "RNNClassifier(" not in said and "random_state" in said  # (the valid names, not the repr)
    with pytest.raises(ConfigError, match="unknown key path 'model.hiden'"):
        est.set_params(hidden_size=9, params={"model.zoneout": 0.2}, **{"params__model.hiden": 1})
    assert est.hidden_size == 4 and est.params == {"model.zoneout": 0.1}
    with pytest.raises(ConfigError, match="'hidden_size__x': hidden_size has no parameters of its own"):
        est.set_params(lr=0.1, hidden_size__x=1)
    assert est.lr is None
    est.set_params(hidden_size=9, params={"model.zoneout": 0.2}, **{"params__model.weight_drop": 0.3})
    assert est.hidden_size == 9 and est.params == {"model.zoneout": 0.2, "model.weight_drop": 0.3}


def test_a_list_of_t_by_c_series_is_advised_to_transpose_each_series():
    clf = RNNClassifier(hidden_size=4, steps=1, params=FAST, random_state=0)
    with pytest.raises(DataError) as info:
        clf.fit([x.T for x in X], Y)  # each [6, 1]: 6 channels of 1 step
    said = str(info.value)
    assert "X, a list of 12 series read as [C, T_i], is 12 series of 1 step with 6 channels" in said
    assert said.endswith("if each series is [T_i, C], call fit([x.T for x in X], y)") and "transpose" not in said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as info:
            clf.fit([x[:, : 3 + i % 3].T for i, x in enumerate(X)], Y)  # [T_i, 1] of unequal lengths
    assert not caught
    assert str(info.value) == ("X: expected series of one channel count, got 3 in series 0 and 4 in series 1; each "
                               "series is read as [C, T_i], but their first dimension varies as a length does and "
                               "their second is 1 in every one: if each is [T_i, C], pass [x.T for x in X]")
    with pytest.raises(DataError) as info:  # (channel counts that differ, with no sign of [T_i, C]: no advice)
        clf.fit([np.zeros((2, 5)), np.zeros((1, 5))] * 6, Y)
    assert str(info.value).endswith("got 2 in series 0 and 1 in series 1")


def test_a_remedys_list_value_is_spelt_as_its_mappings_are():
    rules = [{"role": "recurrent", "weight_decay": 0.087}, {"role": "bias", "weight_decay": 0.0}]
    assert KeySpelling({"training.steps": "steps"}).set("training.decay_rules", rules) == (
        'params={"training.decay_rules": [{"role": "recurrent", "weight_decay": 0.087}, '
        '{"role": "bias", "weight_decay": 0}]}')
    assert KeySpelling().set("training.decay_rules", rules) == (
        'training.decay_rules = [{ role = "recurrent", weight_decay = 0.087 }, { role = "bias", weight_decay = 0 }]')
    assert KeySpelling().value(("a", True, [1, 2.5])) == '["a", true, [1, 2.5]]'


def test_a_tie_on_the_loss_advises_no_finer_metric():
    loss = verdict([0.5, 0.6], [0.5, 0.6], higher_is_better=False, paired=True, metric="val_loss")
    assert loss.tie and loss.reason.endswith("cannot tell these apart; more folds or seeds can)")
    acc = verdict([0.5, 0.75], [0.5, 0.75], higher_is_better=True, paired=True, resolution=0.25, metric="val_acc")
    assert acc.tie and "a finer metric such as val_loss" in acc.reason
    assert "finer" not in cannot_tell(metric="loss") and "finer" not in cannot_tell(metric="val_r2@kept")
    assert "finer" in cannot_tell(metric="val_acc@kept") and "finer" in cannot_tell()
