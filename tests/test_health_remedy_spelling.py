"""The health check's remedies in the words of the caller that set the config: an estimator's fit
names its keywords (``layer="lstm"``) and ``params`` entries (``params={"model.unit_forget_bias":
True}``), as the findings after training do; ``rnnlab train`` and ``rnnlab doctor`` keep the config
file's keys (``model.unit_forget_bias = true``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.cli import main
from rnnlab.doctor.checks import SPELLING, _vanishing_remedy, spelled
from rnnlab.estimators import _KEY_SPELLING, FAST, RNNClassifier

#: A key path of the config as a config file names it (a remedy for an estimator's caller names none
#: outside ``params``).
CONFIG_KEY = re.compile(r"\b(?:model|training|data|adapt|task|tracking)\.\w")


def _outside_params(text: str) -> str:
    """``text`` without its ``params[...]`` and ``params={...}`` (whose key paths are how an estimator's
    caller sets a key that has no keyword)."""
    return re.sub(r'params(?:\["[^"]*"\](?:\[i\])?|=\{"[^"]*": (?:\{[^}]*\}|[^}]*)\})', "params", text)


def test_every_spelling_is_the_config_file_s_for_a_config_run_and_the_estimator_s_for_a_fit():
    for key, (_, toml) in SPELLING.items():
        assert spelled(f"{{{key}}}", True) == toml  # (rnnlab train and rnnlab doctor: as before)
        said = spelled(f"{{{key}}}", _KEY_SPELLING)
        assert not CONFIG_KEY.search(_outside_params(said)), (key, said)
        assert "[[" not in said and " = true" not in said and " = \"" not in said, (key, said)
    assert spelled("{lr}", _KEY_SPELLING) == "lr"
    assert spelled("{gated}", _KEY_SPELLING).endswith('(layer="lstm" or "gru")')
    assert spelled("{bias_decay}", _KEY_SPELLING) == \
        'weight_decay in a params["training.decay_rules"][i] with "role": "bias"'


def test_the_indrnn_bound_is_set_as_the_estimator_sets_it():
    bound = repr(2 ** (1 / 500))  # (every digit: 1.001 would let |u|^500 reach 1.65, not 2)
    said = _vanishing_remedy(rnnlab.IndRNN(1, 4), config=True, steps=500)
    assert f'model.recurrent_constraint = {{ kind = "max_norm", value = {bound} }}' in said
    said = _vanishing_remedy(rnnlab.IndRNN(1, 4), config=_KEY_SPELLING, steps=500)
    assert f'params={{"model.recurrent_constraint": {{"kind": "max_norm", "value": {bound}}}}}' in said
    assert not CONFIG_KEY.search(_outside_params(said)), said


def _series() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((24, 1, 200)).astype("float32"), np.array([0, 1] * 12)


def _vanishing(run_dir: Path) -> dict:
    findings = json.loads((run_dir / "health.json").read_text())["findings"]
    return next(f for f in findings if f["check"] == "gradient_through_time" and f["title"].startswith("Vanishing"))


@pytest.mark.parametrize(("layer", "said"), [
    ("lstm", 'Set params={"model.unit_forget_bias": True}'),  # (no keyword: a params entry)
    ("rnn", '(layer="lstm" or "gru")'),  # (the estimator's keyword)
])
def test_an_estimator_s_health_remedy_names_its_keywords_and_params(tmp_path, capsys, layer, said):
    X, y = _series()
    # (read at the last step over 200 steps: the gradient through time vanishes before training)
    params = {**FAST, "model.head.pooling": "last", "model.unit_forget_bias": False}
    RNNClassifier(layer=layer, hidden_size=8, steps=2, batch_size=8, params=params, random_state=0,
                  run_dir=tmp_path / "r", verbose=True).fit(X, y)
    remedy = _vanishing(tmp_path / "r")["remedy"]
    assert said in remedy and 'params={"model.layer_norm": True}' in remedy, remedy
    assert not CONFIG_KEY.search(_outside_params(remedy)) and "[[" not in remedy, remedy
    assert remedy in capsys.readouterr().out  # (verbose: the health check's report as the fit prints it)

    if layer == "lstm":
        # rnnlab train on the config that fit trained (the same data and model) says it in the config's keys
        code = main(["train", str(tmp_path / "r" / "config.toml"), "--out", str(tmp_path / "cli")])
        out = capsys.readouterr().out
        assert code == 0
        remedy = _vanishing(tmp_path / "cli")["remedy"]
        assert remedy.startswith("Set model.unit_forget_bias = true, use an orthogonal recurrent init "
                                 '(model.recurrent_init = "orthogonal"), set model.layer_norm = true'), remedy
        assert "[[model.frontend.blocks]]" in remedy and "params" not in remedy and remedy in out
