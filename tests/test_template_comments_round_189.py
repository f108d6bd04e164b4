"""The templates' comments say what the run does (tester helper-189): a per-step classification
template's hold-out is stratified on each sequence's rarest class and a per-step regression
template's is a seeded random draw (rnnlab.task.Task.strata), the per-step regression template's
task is values at every step, and the head's pooling lists mean_max, which the findings' remedies
name."""

from __future__ import annotations

import numpy as np

from rnnlab.config import parse_config, template_for
from rnnlab.task import PER_STEP_CLASSIFICATION, PER_STEP_REGRESSION


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_each_per_step_template_says_how_its_hold_out_is_drawn():
    labels, values = template_for("per-step-classification"), template_for("per-step-regression")
    assert "stratified on each one's rarest class" in _line(labels, "val_fraction")
    assert "a seeded random draw" in _line(values, "val_fraction")
    # (what each says is what the task does: classes held by few sequences make groups; values one group)
    y = np.array([[2, 0]] * 6 + [[0, 0]] * 6)
    assert len(set(PER_STEP_CLASSIFICATION.strata(y).tolist())) == 2
    assert set(PER_STEP_REGRESSION.strata(np.zeros((12, 4))).tolist()) == {0}


def test_the_per_step_regression_template_says_values_at_every_step():
    kind = _line(template_for("per-step-regression"), "kind =")
    assert "values (per_step: at every step)" in kind and "values per sequence" not in kind


def test_the_pooling_comments_list_every_choice_the_remedies_name():
    text = template_for("classification")
    assert "mean_max" in _line(text, "pooling =") and "mean_max" in _line(text, "frontend_pooling =")
    config = parse_config(text.replace('pooling = "mean" ', 'pooling = "mean_max" ', 1))
    assert config.model.head.pooling == "mean_max"
