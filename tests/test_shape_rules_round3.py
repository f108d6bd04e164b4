"""The shape rules (``adapt.shape``), third round: short series keep enough recurrent steps
(the template's ×4 pooling left a series of 3 steps one step, whose recurrent weights then got no
gradient), the first line states the size of imbalanced sets, and the decisions for the lengths
the template was tuned on stay as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import TEMPLATE, Config, parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train
from rnnlab.train.shape_rules import MIN_RECURRENT_STEPS, Shape, apply, decide, recurrent_length

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TEMPLATE_CFG = parse_config(TEMPLATE)


def _template_on(path: Path, steps: int) -> Config:
    """``rnnlab init``'s template with only the data source changed (and a short budget)."""
    cfg = parse_config(TEMPLATE.replace('dataset = "GunPoint"', f'path = "{path}"'))
    return cfg.model_copy(update={
        "training": cfg.training.model_copy(update={
            "steps": steps, "schedule": cfg.training.schedule.model_copy(update={"warmup_steps": 1})}),
        "adapt": cfg.adapt.model_copy(update={"max_steps": steps, "budget": False})})


# ------------------------------------------------------------------------------ short series


def test_a_series_of_three_steps_is_not_pooled_to_one():
    d = decide(Shape(classes=2, smallest_class=20, series=40, length=3), TEMPLATE_CFG)
    assert d.pools == (1, 1, 1) and d.recurrent_steps == 3
    assert d.pooling.startswith("no pooling → 3 steps (pool ×4 would leave 1;")
    assert apply(TEMPLATE_CFG, d).model.frontend.conv_blocks[-1].pool == 1


@pytest.mark.parametrize("length", range(2, 24))
def test_short_series_keep_the_floor_of_recurrent_steps_with_the_least_pooling_lost(length):
    d = decide(Shape(classes=2, smallest_class=20, series=40, length=length), TEMPLATE_CFG)
    assert d.pools is not None
    assert d.recurrent_steps >= min(length, MIN_RECURRENT_STEPS)  # the template's blocks keep the length
    # the rule pools no less than it must: halving the last pooling block once more (or, with none
    # left to halve, the template's own pooling) would not leave the floor... or it is the template's
    blocks = TEMPLATE_CFG.model.frontend.conv_blocks
    if d.pools != (1, 2, 2):
        more = list(d.pools)
        more[max((i for i, p in enumerate(more) if p > 1), default=len(more) - 1)] *= 2
        more_blocks = [b.model_copy(update={"pool": p}) for b, p in zip(blocks, more, strict=True)]
        assert recurrent_length(length, more_blocks) < min(length, MIN_RECURRENT_STEPS)
        assert "would leave" in d.pooling


def test_the_lowered_pooling_is_applied_recorded_and_decided_again_the_same(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = (rng.standard_normal((40, 3, 1)) + y[:, None, None]).astype(np.float32)
    path = tmp_path / "short3.npz"
    np.savez(path, X=X, y=y)
    lines: list[str] = []
    train(_template_on(path, steps=4), out=tmp_path / "r", progress=False, log=lines.append)
    first = next(x for x in lines if x.startswith("shape: "))
    assert "no pooling → 3 steps" in first
    run = RunDir(tmp_path / "r")
    recorded = run.read_adapt()
    assert recorded is not None and recorded["shape"]["pools"] == [1, 1, 1] and recorded["shape"]["recurrent_steps"] == 3
    run_cfg = run.read_config()
    assert [b.pool for b in run_cfg.model.frontend.conv_blocks] == [1, 1, 1]
    # with three recurrent steps the recurrent weights act, and get a gradient
    health = run.read_health() or []
    assert not [f for f in health if "weight_hh" in str(f)], health
    # read back (a resumed run), the rule keeps what it chose
    again = decide(Shape(classes=2, smallest_class=20, series=40, length=3), run_cfg)
    assert apply(run_cfg, again) == run_cfg


# ------------------------------------------------------------------------------ the first line


def test_the_first_line_gives_the_total_and_the_smallest_class_of_an_imbalanced_set():
    y = np.array([0] * 190 + [1] * 10)
    shape = Shape.of(y, np.full(len(y), 60))
    line = decide(shape, TEMPLATE_CFG).line()
    assert line.startswith("shape: 200 series, 2 classes (smallest 10), length 60: no hold-out"), line
    big = decide(Shape(classes=2, smallest_class=50, series=1000, length=40), TEMPLATE_CFG).line()
    assert big.startswith("shape: 1000 series, 2 classes (smallest 50), length 40: hold-out 0.2"), big
    # balanced: the short form
    even = decide(Shape(classes=2, smallest_class=25, series=50, length=60), TEMPLATE_CFG).line()
    assert even.startswith("shape: 2 classes × 25 series, length 60: ")


# ------------------------------------------------------------------------------ the tuned lengths

#: Computed with the code before this round (src/rnnlab/train/shape_rules.py as of the second
#: round, decide() on the template and on a single strided conv): (val_fraction, steps, pools,
#: recurrent_steps, pooling text). The bundled sets' training shapes: classes, smallest class,
#: series, length.
BEFORE = {
    "GunPoint": (Shape(2, 24, 50, 150), (0.2, 2000, (1, 2, 2), 38, "pool ×4 → 38 steps"),
                 (0.2, 200, (1,), 75, "pool ×2 → 75 steps")),
    "BasicMotions": (Shape(4, 10, 40, 100), (0.0, 2000, (1, 2, 2), 25, "pool ×4 → 25 steps"),
                     (0.0, 400, (1,), 50, "pool ×2 → 50 steps")),
    "ItalyPowerDemand": (Shape(2, 33, 67, 24), (0.2, 2000, (1, 2, 2), 6, "pool ×4 → 6 steps"),
                         (0.2, 200, (1,), 12, "pool ×2 → 12 steps")),
    "OSULeaf": (Shape(6, 15, 200, 427), (0.0, 2000, (1, 2, 2), 107, "pool ×4 → 107 steps"),
                (0.0, 600, (1,), 214, "pool ×2 → 214 steps")),
    "digits_pixels": (Shape(10, 130, 1300, 64), (0.2, 2000, (1, 2, 2), 16, "pool ×4 → 16 steps"),
                      (0.2, 1000, (1,), 32, "pool ×2 → 32 steps")),
    "JapaneseVowels": (Shape(9, 30, 270, 26), (0.2, 2000, (1, 2, 2), 7, "pool ×4 → 7 steps"),
                       (0.2, 900, (1,), 13, "pool ×2 → 13 steps")),
    "ACSF1": (Shape(10, 10, 100, 1460), (0.0, 2000, (8, 1, 1), 183, "pool ×8 at the first block → 183 steps"),
              (0.0, 1000, (4,), 183, "pool ×8 → 183 steps")),
    "long": (Shape(2, 10, 20, 3000), (0.0, 2000, (16, 1, 1), 188, "pool ×16 at the first block → 188 steps"),
             (0.0, 200, (8,), 188, "pool ×16 → 188 steps")),
}
SINGLE_CFG = parse_config('[data]\ndataset = "GunPoint"\n[model.frontend]\nstride = 2\n[training]\nsteps = 100')


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_decisions_for_series_of_24_steps_or_more_are_unchanged(name):
    shape, template, single = BEFORE[name]
    for cfg, expected in ((TEMPLATE_CFG, template), (SINGLE_CFG, single)):
        d = decide(shape, cfg)
        assert (d.val_fraction, d.steps, d.pools, d.recurrent_steps, d.pooling) == expected, (name, cfg.model.frontend)


@pytest.mark.parametrize("length", [24, 25, 26, 31, 40, 63])
def test_the_templates_pooling_is_kept_from_24_steps(length):
    d = decide(Shape(classes=2, smallest_class=20, series=40, length=length), TEMPLATE_CFG)
    assert d.pools == (1, 2, 2) and d.pooling == f"pool ×4 → {d.recurrent_steps} steps"
