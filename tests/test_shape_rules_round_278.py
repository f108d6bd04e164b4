"""The shape rules' probe of the training split (``training_shape``): it says none of the data's
warnings (the run's own load says them), loads the split as the run does (the config's
normalisation), and the shape line says what the pooling leaves the shortest series."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_bad_inputs import Env  # tests/test_bad_inputs.py

from rnnlab.config import TEMPLATE, Config, parse_config
from rnnlab.data import load_data
from rnnlab.data.files import StepOrderWarning
from rnnlab.errors import DataError
from rnnlab.train.shape_rules import MIN_RECURRENT_STEPS, Shape, decide, training_shape

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TEMPLATE_CFG = parse_config(TEMPLATE)


def _template_on(path: object, normalize: str = "per_series") -> Config:
    """``rnnlab init``'s template with only the data source (and ``data.normalize``) changed."""
    text = TEMPLATE.replace('dataset = "GunPoint"', f'path = "{path}"')
    if normalize != "per_series":
        text = text.replace('normalize = "per_series"', f'normalize = "{normalize}"').replace(
            "series_scale = true", "series_scale = false")
    return parse_config(text)


def test_the_probe_leaves_the_step_order_warning_to_the_run(tmp_path):
    rng = np.random.default_rng(0)
    path = Env(tmp_path, None).npz("wide.npz", X=rng.normal(size=(20, 30, 40)), y=np.repeat([0, 1], 10))
    cfg = _template_on(path)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        training_shape(cfg)
    assert not [w for w in said if issubclass(w.category, StepOrderWarning)]
    with warnings.catch_warnings(record=True) as said:  # (the run's load says it)
        warnings.simplefilter("always")
        load_data(cfg.data, seed=0)
    assert len([w for w in said if issubclass(w.category, StepOrderWarning)]) == 1


def test_the_probe_accepts_series_beyond_float32_that_the_run_scales(tmp_path):
    rng = np.random.default_rng(0)
    path = Env(tmp_path, None).npz("over.npz", X=rng.normal(size=(20, 30, 1)) * 1e39, y=np.repeat([0, 1], 10))
    cfg = _template_on(path)
    load_data(cfg.data, seed=0)  # the run scales them (per_series)
    assert training_shape(cfg).series == 20
    # with data.normalize = "none" the run refuses them, and the probe with the same words
    none = _template_on(path, "none")
    none = none.model_copy(update={"data": none.data.model_copy(update={"val_fraction": 0.0})})  # (the same split)
    with pytest.raises(DataError) as run:
        load_data(none.data, seed=0)
    with pytest.raises(DataError) as probe:
        training_shape(none)
    assert str(probe.value) == str(run.value) and "float32" in str(probe.value)


def test_the_probe_reads_series_below_float32_as_the_run_scales_them(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(6), 2)
    X = rng.normal(size=(12, 40, 1)) * np.geomspace(1, 30, 6)[y, None, None]  # white noise, the class its scale
    env = Env(tmp_path, None)
    plain = training_shape(_template_on(env.npz("plain.npz", X=X, y=y)))
    cfg = _template_on(env.npz("tiny.npz", X=X * 1e-46, y=y))  # float32 would round it to 0
    tiny = training_shape(cfg)
    # the series' own noise and the front-ends' view are those of the same series at any scale
    assert plain.step_noise is not None and tiny.step_noise is not None
    assert tiny.step_noise == pytest.approx(plain.step_noise, abs=1e-6) and tiny.step_noise > 0.5  # not smooth
    assert tiny.summary_accuracy == pytest.approx(plain.summary_accuracy, abs=1e-6)
    # the level and scale as the run's own series_scale = "informative" reads them: the scale tells the classes
    run = load_data(cfg.data.model_copy(update={"series_scale": "informative", "val_fraction": 0.0}), seed=0)
    keep = run.inputs.series_scale_keep
    assert keep is not None and tiny.noise == tuple(n for n, k in zip(("level", "scale"), keep, strict=True) if not k)
    assert tiny.alone == ("scale",)


def test_the_shape_line_says_what_the_pooling_leaves_the_shortest_series():
    assert Shape.of(np.array([0, 0, 1, 1]), np.array([400, 16, 16, 16])) == Shape(
        2, 2, 4, 400, shortest=16, median=16)
    assert Shape.of(np.array([0, 1]), np.array([30, 30])).shortest is None  # equal lengths: nothing more
    d = decide(Shape(2, 20, 40, 400, shortest=16, median=16), TEMPLATE_CFG)
    assert d.pooling == "pool ×4 → 100 steps (the shortest series, 16 steps: 4; the median, 16 steps: 4)"
    assert d.pooling in d.line() and d.pools == (1, 2, 2)  # sized on the longest, as before
    # JapaneseVowels' lengths (7 to 26 steps, the median 15): the decision stays, the line says it
    d = decide(Shape(9, 30, 270, 26, shortest=7, median=15), TEMPLATE_CFG)
    assert d.pools == (1, 2, 2) and d.recurrent_steps == 7
    assert d.pooling.endswith("(the shortest series, 7 steps: 2; the median, 15 steps: 4)")
    # a shortest series the pooling leaves the rule's fewest steps (PickupGestureWiimoteZ: 29 of 361): nothing said
    d = decide(Shape(10, 5, 50, 361, shortest=29, median=136), TEMPLATE_CFG)
    assert d.pooling == "pool ×4 → 91 steps" and 29 // 4 + 1 >= MIN_RECURRENT_STEPS
