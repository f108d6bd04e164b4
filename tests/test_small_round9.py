"""Small fixes, round 9.

1. An IndRNN with a recurrent bound b and recurrent dropout / weight drop p: the config's check
   warned that in training the effective bound is b/(1-p) (|u|^T can explode); the layer built from
   Python with the same keywords said nothing. Both now say it, by one rule and one wording
   (:func:`rnnlab.layers.options.bound_lifted_by_dropout`): the config in its keys, the layer in
   its arguments, with the same figures.
2. ``model.max_norm`` in a search space given a value other than true/false said "max-norm 3 on
   the kernel and recurrent weights", untrue on an IndRNN (the key sets its kernel only).
3. ``Tracker.step(epoch=0)`` was recorded, while every other epoch of a run (metrics.jsonl, the
   trainer's, the Lightning callback's) counts from 1: the same epoch under two numbers in one run.
4. ``RunDir(run).read_config()`` returned config.toml as edited after the run without a word, where
   ``rnnlab predict`` warns of the edit.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from tiny_run import run, tiny_toml

import rnnlab
from rnnlab.config import parse_config
from rnnlab.constraints import MaxNorm
from rnnlab.errors import ConfigError
from rnnlab.rundir import RunDir
from rnnlab.search.space import apply_values

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

BOUND = 1.000693387  # IndRNN.recurrent_bound(2, 1000), as the researcher wrote it


def _said(make) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
    return [str(w.message) for w in caught]


def _indrnn_config(model: str) -> str:
    return (f'[data]\ndataset = "UnitTest"\n[model]\nlayer = "indrnn"\nhidden_size = 4\n'
            f'recurrent_constraint = {{ kind = "max_norm", value = {BOUND!r} }}\n{model}')


# ------------------------------------------------------------------ 1. the layer warns as the config does


def _figures(line: str) -> str:
    """The part of the warning that holds the rule's figures (the same whoever says it)."""
    return line.split(": in training ", 1)[1].split("; set ", 1)[0]


@pytest.mark.parametrize("keywords, ps", [({"recurrent_dropout": 0.1}, (0.1,)),
                                          ({"recurrent_dropout": 0.2, "weight_drop": 0.5}, (0.2, 0.5))])
def test_the_layer_and_the_config_warn_of_the_lifted_bound_with_the_same_figures(keywords, ps):
    layer = _said(lambda: rnnlab.IndRNN(3, 4, recurrent_constraint=MaxNorm(BOUND), **keywords))
    config = _said(lambda: parse_config(_indrnn_config("".join(f"{k} = {p}\n" for k, p in keywords.items()))))
    assert len(layer) == 1 and len(config) == 1, (layer, config)
    effective = BOUND
    for p in ps:
        effective /= 1 - p
    assert f"the effective bound is {BOUND:.6g}/" in layer[0] and f"= {effective:.6g} and" in layer[0], layer[0]
    assert _figures(layer[0]) == _figures(config[0])
    # each in its own words: the layer's arguments, the config's keys
    assert layer[0].startswith(" and ".join(f"{k}={p:g}" for k, p in keywords.items()) + " on an IndRNN with "
                               f"recurrent_constraint=MaxNorm({BOUND})"), layer[0]
    assert layer[0].endswith("; set zoneout, or dropout between stacked layers as Li et al. do, instead")
    assert "model." not in layer[0]
    assert config[0].startswith(" and ".join(f"'model.{k}' = {p:g}" for k, p in keywords.items()))
    assert "model.zoneout" in config[0] and "\n" not in layer[0] + config[0]


def test_setting_recurrent_dropout_on_a_built_indrnn_warns_too():
    layer = rnnlab.IndRNN(3, 4, recurrent_constraint=MaxNorm(BOUND))
    said = _said(lambda: setattr(layer, "recurrent_dropout", 0.1))
    assert len(said) == 1 and f"{BOUND / 0.9:.6g}" in said[0], said


@pytest.mark.parametrize("make", [
    lambda: rnnlab.GRU(3, 4, recurrent_dropout=0.3, recurrent_constraint=MaxNorm(1.0)),
    lambda: rnnlab.LSTM(3, 4, recurrent_dropout=0.3, weight_drop=0.5, recurrent_constraint=MaxNorm(1.0)),
    lambda: rnnlab.IndRNN(3, 4, recurrent_dropout=0.2, recurrent_constraint=MaxNorm(0.5)),  # 0.5/0.8 <= 1
    lambda: rnnlab.IndRNN(3, 4, recurrent_dropout=0.2, recurrent_constraint=MaxNorm(0.8)),  # exactly 1: no growth
    lambda: rnnlab.IndRNN(3, 4, zoneout=0.1, recurrent_constraint=MaxNorm(BOUND)),  # zoneout keeps u unscaled
    lambda: rnnlab.IndRNN(3, 4, recurrent_dropout=0.2),  # no bound to lift
], ids=["gru", "lstm", "indrnn-below-1", "indrnn-at-1", "indrnn-zoneout", "indrnn-unbounded"])
def test_no_warning_where_no_bound_is_lifted(make):
    assert _said(make) == []


# ------------------------------------------------------------------ 2. model.max_norm's error


def test_a_wrong_max_norm_value_says_what_the_key_sets_on_an_indrnn_too():
    for layer in ("lstm", "indrnn"):
        base = parse_config(f'[data]\ndataset = "UnitTest"\n[model]\nlayer = "{layer}"')
        with pytest.raises(ConfigError) as e:
            apply_values(base, {"model.max_norm": 3})
        line = str(e.value)
        assert "\n" not in line and line.startswith("'model.max_norm': expected true (max-norm 3 on the kernel, "), line
        assert "on the kernel and recurrent weights" not in line  # (untrue on an IndRNN: its bound is its own)
        assert "but for an IndRNN, whose bound is its own" in line and line.endswith("got 3; another bound is a "
                                                                                     "choice of model.kernel_constraint"
                                                                                     " and model.recurrent_constraint")


# ------------------------------------------------------------------ 3. Tracker.step's epoch counts from 1


@pytest.mark.parametrize("epoch", [0, -1, 1.0, True])
def test_tracker_step_refuses_an_epoch_that_metrics_jsonl_would(tmp_path, epoch):
    model = torch.nn.Linear(2, 1)
    with rnnlab.Tracker(tmp_path / "run", model) as tracker:
        with pytest.raises(ValueError, match=r"^epoch: expected an integer >= 1 \(epochs count from 1, as in "
                                             rf"metrics\.jsonl\) or None, got {re.escape(repr(epoch))}"):
            tracker.step(epoch=epoch)
        assert tracker.step_count == 0
        tracker.step(epoch=1)
    assert {float(e) for e in rnnlab.read_tracked(tmp_path / "run")["weight"]["l2_mean"].epochs} == {1.0}


# ------------------------------------------------------------------ 4. read_config says an edit


def test_read_config_warns_of_an_edited_config_toml_and_returns_it_as_edited(tmp_path):
    run(parse_config(tiny_toml(training="epochs = 1", after="[tracking]\nhealth = false")), tmp_path / "run")
    rd = RunDir(tmp_path / "run")
    assert _said(rd.read_config) == []  # (not edited: nothing to say)
    text = rd.config.read_text()
    text, n = re.subn(r'(?m)^normalize = "per_channel"$', 'normalize = "none"', text)
    text, m = re.subn(r"(?m)^hidden_size = 6$", "hidden_size = 12", text)
    assert n == m == 1
    rd.config.write_text(text)
    config = None

    def read() -> None:
        nonlocal config
        config = rd.read_config()

    said = _said(read)
    assert config.model.hidden_size == 12 and config.data.normalize == "none"  # (what callers had: the file)
    assert len(said) == 1 and "\n" not in said[0], said
    assert said[0].startswith(f"{rd.path}: config.toml was changed after the run trained: it differs from the "
                              "config in its checkpoint (checkpoints/last.pt) in data.normalize ('per_channel' -> "
                              "'none'), model.hidden_size (6 -> 12); "), said[0]
    assert "read_trained_config()" in said[0], said[0]
    # the same comparison as rnnlab predict's (and report's, compare's): the config the run trained with
    assert rd.read_trained_config().config.model.hidden_size == 6
