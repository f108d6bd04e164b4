"""The template's warm-up (50 steps) is checked against the steps the run trains: with
``adapt.shape`` on, the shape rule raises ``training.steps`` first, so ``steps = 40`` is no error
(it was refused before the rule ran); without the rule, or where even the raised steps are not
longer than the warm-up, the same one-line error names the key."""

from __future__ import annotations

import numpy as np
import pytest
from test_bad_inputs import one_line_error  # tests/test_bad_inputs.py

from rnnlab.config import TEMPLATE, parse_config
from rnnlab.errors import ConfigError
from rnnlab.train.shape_rules import Shape, apply, decide


def _template(steps: int, *, shape: bool = True, extra: str = "") -> str:
    text = TEMPLATE.replace("steps = 2000", f"steps = {steps}", 1)
    assert text != TEMPLATE, "the template no longer says steps = 2000"
    if not shape:
        text = text.replace("shape = true", "shape = false", 1)
    return text + extra


def test_the_shape_rule_raises_the_steps_before_the_warm_up_is_judged():
    config = parse_config(_template(40))  # (refused here before: warm-up 50 >= steps 40)
    assert config.training.steps == 40 and config.training.schedule.warmup_steps == 50
    decided = apply(config, decide(Shape(classes=2, smallest_class=20, series=40, length=60), config))
    assert decided.training.steps == 400  # 3200 batch slots per class, batch 16
    assert decided.training.warmup_problem() is None


def test_without_the_shape_rule_the_warm_up_is_refused_at_parse_time():
    with pytest.raises(ConfigError, match=r"'training\.schedule\.warmup_steps' \(50\) is not shorter than "
                                          r"'training\.steps' \(40\)"):
        parse_config(_template(40, shape=False))


def _npz(path, rng: np.random.Generator, n: int = 16) -> None:
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 12, 1)) + y[:, None, None]
    np.savez(path, X=X.astype(np.float32), y=y)


def test_a_warm_up_longer_than_even_the_raised_steps_is_one_line_from_the_trainer(tmp_path, capsys):
    _npz(tmp_path / "d.npz", np.random.default_rng(0))
    text = _template(40).replace('dataset = "GunPoint"', f'path = "{tmp_path / "d.npz"}"')
    text = text.replace("warmup_steps = 50", "warmup_steps = 900", 1)
    (tmp_path / "c.toml").write_text(text)
    line = one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"], capsys,
                          ["training.schedule", "warm-up (900 optimizer steps) is not shorter than the training"])
    assert "(400 steps" in line, line  # the steps the rule gave, not the 40 of the file
