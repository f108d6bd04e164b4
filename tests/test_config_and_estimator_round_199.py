"""Round 199: a value set on a config section in Python is checked as the file's value is; the
.csv-only ``data.target_column`` refused where it selects nothing, twice or empty; RNNRegressor's
errors on y naming the column, row and bad value, and keeping a DataFrame's column names; an
estimator's stop by a KeyboardInterrupt that no signal sent."""

from __future__ import annotations

import contextlib
import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from rnnlab.config import ModelConfig, dump_config, parse_config
from rnnlab.errors import ConfigError, DataError, Interrupted
from rnnlab.estimators import FAST, RNNRegressor

GUNPOINT = '[data]\ndataset = "GunPoint"\n'


def _file_error(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    return str(e.value)


def _assignment_error(config, section: str, key: str, value) -> str:
    obj = config
    for part in section.split("."):
        obj = getattr(obj, part)
    before = getattr(obj, key, None)
    with pytest.raises(ConfigError) as e:
        setattr(obj, key, value)
    assert getattr(obj, key, None) == before  # a refused value is not kept
    return str(e.value)


# ------------------------------------------------------------------ 1: assignments are checked


@pytest.mark.parametrize(("section", "key", "value", "toml"), [
    ("model", "zoneout", 1.0, "[model]\nzoneout = 1.0\n"),
    ("training", "batch_size", 2.5, "[training]\nbatch_size = 2.5\n"),
    ("training", "lr", -1.0, "[training]\nlr = -1.0\n"),
    ("training", "epochs", 0, "[training]\nepochs = 0\n"),
    ("model.head", "dropout", 1.5, "[model.head]\ndropout = 1.5\n"),
    ("training", "lrr", 0.1, "[training]\nlrr = 0.1\n"),
])
def test_an_assignment_gives_the_files_error_naming_the_key(section, key, value, toml):
    message = _assignment_error(parse_config(GUNPOINT), section, key, value)
    assert message == _file_error(GUNPOINT + toml)
    assert f"'{section}.{key}'" in message and "\n" not in message


def test_an_assignment_is_checked_by_the_rules_of_the_sections_holding_it():
    config = parse_config(GUNPOINT + "[model]\nrecurrent_batch_norm = true\n")
    # training.schedule's warm-up against training.epochs (a rule of [training])
    assert _assignment_error(config, "training.schedule", "warmup_epochs", 30) == _file_error(
        GUNPOINT + "[model]\nrecurrent_batch_norm = true\n[training.schedule]\nwarmup_epochs = 30\n")
    # [training] against [model] (a rule of the whole config)
    message = _assignment_error(config, "training", "batch_size", 1)
    assert message.startswith("config: 'training.batch_size' = 1 with 'model.recurrent_batch_norm' = true")
    # the sections are left as they were: a later valid assignment is not refused for the earlier one
    config.training.batch_size = 4
    config.training.epochs = 50
    config.training.schedule.warmup_epochs = 30
    assert (config.training.batch_size, config.training.schedule.warmup_epochs) == (4, 30)
    assert parse_config(dump_config(config)) == config


def test_copies_and_list_items_are_checked_and_named_too():
    config = parse_config(GUNPOINT + "[model]\nrecurrent_batch_norm = true\n"
                          "[[training.decay_rules]]\nrole = \"kernel\"\nweight_decay = 0.1\n")
    for other in (copy.deepcopy(config), pickle.loads(pickle.dumps(config)), config.model_copy(update={"name": "b"})):
        assert "'training.batch_size' = 1 with" in _assignment_error(other, "training", "batch_size", 1)
    rule = config.training.decay_rules[0]
    with pytest.raises(ConfigError, match=r"^config: 'training\.decay_rules\[0\]\.weight_decay': expected a number "
                                          r">= 0\.0, got -1\.0 \(float\)$"):
        rule.weight_decay = -1.0
    # a section on its own is named where its class sits in a config
    with pytest.raises(ConfigError, match=r"^config: 'model\.zoneout': expected a probability in \[0, 1\)"):
        ModelConfig().zoneout = 1.0


def test_a_valid_assignment_is_taken_and_a_numpy_scalar_read_as_pythons():
    config = parse_config(GUNPOINT)
    config.training.batch_size = np.int64(8)
    config.model.zoneout = 0.1
    assert type(config.training.batch_size) is int and config.training.batch_size == 8
    assert config.model.zoneout == 0.1
    # a language model's written-out defaults do not replace the sections a caller holds
    lm = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n')
    model = lm.model
    lm.model.zoneout = 0.1
    assert lm.model is model and lm.model.embedding_size == lm.model.hidden_size and lm.data.tokens == "char"


# ------------------------------------------------------------------ 2: data.target_column

REGRESSION = '[task]\nkind = "regression"\n[data]\n'


def test_target_column_twice_or_empty_is_refused():
    assert _file_error(REGRESSION + 'path = "d.csv"\ntarget_column = ["conc", "conc", "temp", "count"]\n') == (
        "config: 'data.target_column': expected each column once, got 'conc' 2 times in "
        "['conc', 'conc', 'temp', 'count']")
    assert _file_error(REGRESSION + 'path = "d.csv"\ntarget_column = []\n') == (
        "config: 'data.target_column': expected a column name or a non-empty list of them, got []")
    assert parse_config(REGRESSION + 'path = "d.csv"\ntarget_column = ["conc", "temp"]\n').data.target_column == [
        "conc", "temp"]


@pytest.mark.parametrize(("source", "said"), [
    ('dataset = "Covid3Month"\n', "the bundled data set data.dataset = 'Covid3Month' brings its own targets"),
])
def test_target_column_where_there_is_no_column_is_refused(source, said):
    for value in ('"conc"', '["conc", "temp"]'):
        assert _file_error(REGRESSION + source + f"target_column = {value}\n") == (
            f"config: 'data.target_column' = {value} selects target columns of a .csv file; "
            f"{said}: remove the key")
    config = parse_config(REGRESSION + source)
    with pytest.raises(ConfigError, match="^config: 'data.target_column' = \"conc\" selects target columns"):
        config.data.target_column = "conc"
    assert config.data.target_column is None


# ------------------------------------------------------------------ 3: RNNRegressor's y


@pytest.mark.parametrize(("y", "expected"), [
    (pd.DataFrame({"conc": [0.005, 0.2, 0.3, 0.4], "site": ["north", "south", "north", "south"]}),
     "y: expected numeric target values, got dtype {site} (e.g. 'north') in column 'site', row 0"),
    (pd.DataFrame({"conc": [0.1, 0.2, 0.3, 0.4], "count": pd.array([1, 2, None, 4], dtype="Int64")}),
     "y: expected numeric target values, got dtype Int64 (e.g. <NA>) in column 'count', row 2"),
    (np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 1.0], [np.nan, 1.0]]),
     "y: expected a finite number in every target cell, got nan at y[3, 0] (1 NaN or inf in all)"),
    (pd.DataFrame({"conc": [0.1, 0.2, np.inf, 0.4]}, index=["a", "b", "c", "d"]),
     "y: expected a finite number in every target cell, got inf in column 'conc', row 2 (index 'c') "
     "(1 NaN or inf in all)"),
    (pd.DataFrame({"conc": [0.1, 0.2, 0.3, 0.4], "temp": [5.0] * 4}),
     "y: expected target values that vary, got 4 sample(s) all 5 in column 'temp'"),
])
def test_a_bad_target_is_named_by_column_row_and_value(y, expected):
    X = np.random.default_rng(0).normal(size=(4, 1, 6))
    with pytest.raises(DataError) as e:
        RNNRegressor(hidden_size=4, steps=1, params=FAST, random_state=0).fit(X, y)
    # (pandas names a text column's dtype "object", or "str" from pandas 3)
    assert str(e.value) == expected.format(site=y["site"].dtype if "site" in getattr(y, "columns", ()) else "")


def test_a_dataframes_column_names_are_the_targets_names():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 1, 6))
    y = pd.DataFrame({"conc": rng.normal(size=16), "temp": rng.normal(size=16)})
    reg = RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X, y)
    assert reg.target_names_ == ["conc", "temp"] and reg.predict(X[:3]).shape == (3, 2)
    assert RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X, y.to_numpy()).target_names_ is None


def test_a_config_for_a_csv_with_target_columns_is_fitted_on_y():
    base = parse_config(REGRESSION + 'path = "d.csv"\ntarget_column = ["conc", "temp"]\n')
    assert RNNRegressor(config=base).resolved_config().data.target_column is None


# ------------------------------------------------------------------ 4: a stop no signal sent


class _StopOnWrite:
    """An output whose first write raises KeyboardInterrupt, as a signal.alarm handler might."""

    def write(self, text: str) -> int:
        raise KeyboardInterrupt

    def flush(self) -> None:
        pass


def test_a_keyboard_interrupt_that_no_signal_sent_names_no_signal():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 1, 6)), rng.normal(size=12)
    reg = RNNRegressor(hidden_size=4, steps=2, params=FAST, random_state=0, verbose=True)
    with pytest.raises(Interrupted) as e, contextlib.redirect_stdout(_StopOnWrite()):
        reg.fit(X, y)
    assert str(e.value).startswith("interrupted by a KeyboardInterrupt of RNNRegressor.fit; nothing was kept")
    assert "SIG" not in str(e.value)
    # a stop the trainer's handler caught still names its signal
    assert str(reg._interrupted(Interrupted.by(15))).startswith("interrupted by SIGTERM of RNNRegressor.fit")
