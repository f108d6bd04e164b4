"""The rules that read the training split's shape (``adapt.shape``) and the budget that follows
the fit (``adapt.budget``): their decisions on synthetic shapes, the line and the record, the
budget ending early on a fitted tiny run and growing on an underfit one, exact resume, bad keys."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_bad_inputs import Env, config, one_line_error  # tests/test_bad_inputs.py
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab.config import TEMPLATE, Config, parse_config
from rnnlab.errors import ConfigError, RunDirError
from rnnlab.rundir import RunDir, read_jsonl
from rnnlab.train.fit_budget import FitBudget
from rnnlab.train.shape_probes import step_noise, summary_accuracy
from rnnlab.train.shape_rules import (
    MAX_RECURRENT_STEPS,
    MIN_HELD_SERIES,
    TINY_CLASS,
    Shape,
    adapt_to_shape,
    alone_accuracy,
    apply,
    decide,
    recurrent_length,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TEMPLATE_CFG = parse_config(TEMPLATE)


# ------------------------------------------------------------------------------ the shape rules


def test_the_issue_shape_gets_no_hold_out_more_steps_and_more_pooling():
    d = decide(Shape(classes=40, smallest_class=2, series=80, length=2000), TEMPLATE_CFG)
    assert d.val_fraction == 0.0
    assert d.steps == 8000  # 3200 slots × 40 classes / batch 16
    assert d.pools == (8, 1, 1) and d.recurrent_steps == 250  # all the pooling at the first block
    assert d.line() == ("shape: 40 classes × 2 series, length 2000: no hold-out (a 0.2 hold-out would hold 1 < 5 series of the smallest class, 2; the last "
                        "epoch's weights); 8000 steps (3200 batch slots per class); pool ×8 at the first block → 250 "
                        "steps; head: mean and max over time and the informative level and scale; input noise 0.2 (a "
                        "class has 2 < 4 series)")
    assert d.summary == ("mean_max", "mean_max")
    assert d.level_and_scale == ("informative", "mean")
    assert d.input_noise == 0.2 and apply(TEMPLATE_CFG, d).model.input_noise == 0.2
    # classes of 4 series or more: the template's input as it is; adapt.input_noise sets the rule's value
    assert decide(Shape(classes=40, smallest_class=4, series=160, length=2000), TEMPLATE_CFG).input_noise is None
    tiny = Shape(classes=40, smallest_class=2, series=80, length=2000)
    quieter = TEMPLATE_CFG.model_copy(update={"adapt": TEMPLATE_CFG.adapt.model_copy(update={"input_noise": 0.1})})
    assert decide(tiny, quieter).input_noise == 0.1 and "input noise 0.1 (a class has" in decide(tiny, quieter).line()
    off = TEMPLATE_CFG.model_copy(update={"adapt": TEMPLATE_CFG.adapt.model_copy(update={"input_noise": 0.0})})
    assert decide(tiny, off).input_noise is None and "input noise" not in decide(tiny, off).line()


def test_head_dropout_where_the_level_or_scale_alone_tells_the_classes_apart():
    tiny = Shape(classes=6, smallest_class=3, series=18, length=1500, noise=("level",), alone=("scale",))
    # the template has the rule off (its dilated blocks fit the amplitude set better without it)
    assert TEMPLATE_CFG.adapt.head_dropout == 0.0 and decide(tiny, TEMPLATE_CFG).head_dropout is None
    on = TEMPLATE_CFG.model_copy(update={"adapt": TEMPLATE_CFG.adapt.model_copy(update={"head_dropout": 0.5})})
    d = decide(tiny, on)
    assert d.head_dropout == 0.5 and apply(on, d).model.head.dropout == 0.5
    assert d.line().endswith("input noise 0.2; head dropout 0.5, the scale alone telling the classes apart (a class "
                             "has 3 < 4 series)")
    # no summary alone tells them apart, or classes of 4 series: no dropout
    assert decide(Shape(6, 3, 18, 1500, noise=("level",)), on).head_dropout is None
    assert decide(Shape(6, 4, 24, 1500, alone=("scale",)), on).head_dropout is None
    # adapt.head_dropout sets the value, 0 turns it off; a config's higher dropout is kept
    off = on.model_copy(update={"adapt": on.adapt.model_copy(update={"head_dropout": 0.0})})
    assert decide(tiny, off).head_dropout is None and "dropout" not in decide(tiny, off).line()
    more = apply(on, decide(tiny, on)).model_copy(deep=True)
    more.model.head.dropout = 0.7
    assert decide(tiny, more).head_dropout is None and apply(more, decide(tiny, more)).model.head.dropout == 0.7
    once = apply(on, d)
    assert apply(once, decide(tiny, once)) == once


def test_alone_accuracy_is_the_nearest_class_mean_with_each_series_left_out():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 3)
    level = rng.standard_normal(18)  # noise: no class in it
    scale = np.log(0.5 * 8.0 ** (y / 5)) + 0.05 * rng.standard_normal(18)  # the class, with a little noise
    assert alone_accuracy(np.stack([level, scale], axis=1), y).tolist()[1] == 1.0
    assert alone_accuracy(np.stack([level, scale], axis=1), y)[0] < 0.5
    # left out of its own class's mean: two series that swap values are both wrong, a class of one has no mean
    swapped = np.array([[0.0], [0.1], [1.1], [1.0]])
    assert alone_accuracy(swapped, np.array([0, 1, 0, 1])).tolist() == [0.0]
    assert alone_accuracy(np.array([[0.0], [5.0], [5.1]]), np.array([0, 1, 1])).tolist() == [2 / 3]


def test_the_training_split_says_which_summary_alone_tells_the_classes_apart(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 3)
    t = np.arange(200)
    amplitude = 0.5 * 4.0 ** (y / 3)
    X = (amplitude[:, None] * np.sin(t * 0.3)[None] + 0.3 * rng.standard_normal((12, 200)))[:, :, None]
    path = Env(tmp_path, None).npz("amp.npz", X=X.astype(np.float32), y=y)
    cfg = parse_config(f'[data]\npath = "{path}"\nnormalize = "per_series"\nseries_scale = true\n[model.head]\ninput_pooling = "none"\n'
                       '[training]\nsteps = 30\n[adapt]\nshape = true')
    adapted, d = adapt_to_shape(cfg)
    assert d is not None and d.shape.alone == ("scale",) and adapted.model.head.dropout == 0.5
    # the same series with their class drawn at random: no dropout
    shuffled = Env(tmp_path, None).npz("shuffled.npz", X=X.astype(np.float32), y=y[rng.permutation(12)])
    d2 = adapt_to_shape(parse_config(f'[data]\npath = "{shuffled}"\nnormalize = "per_series"\nseries_scale = true\n'
                                     '[training]\nsteps = 30\n[adapt]\nshape = true'))[1]
    assert d2 is not None and d2.shape.alone == () and d2.head_dropout is None


def _smooth_and_spiky(rng: np.random.Generator, per_class: int = 3, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Smooth curves whose class is their frequency, each series with one tall spike of its own
    somewhere: its maximum over time says which series it is, not which class."""
    y = np.repeat(np.arange(classes), per_class)
    t = np.linspace(0, 1, 300)
    X = np.sin(2 * np.pi * (1 + y[:, None]) * t[None] + rng.uniform(0, 0.3, (len(y), 1)))
    for i in range(len(y)):
        start = rng.integers(10, 280)
        X[i, start:start + 4] += rng.uniform(4, 8)
    return X[:, :, None].astype(np.float32), y


def _motifs(rng: np.random.Generator, per_class: int = 3, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a short motif of the class's own shape somewhere: the maximum finds it."""
    y = np.repeat(np.arange(classes), per_class)
    X = rng.standard_normal((len(y), 300))
    for i, c in enumerate(y):
        start = rng.integers(0, 280)
        X[i, start:start + 12] += 4 * np.sin(np.linspace(0, (c + 1) * np.pi, 12))
    return X[:, :, None].astype(np.float32), y


def _template_on(path: object) -> Config:
    """``rnnlab init``'s template with only the data source changed."""
    return parse_config(TEMPLATE.replace('dataset = "GunPoint"', f'path = "{path}"'))


def test_the_probe_says_where_the_maximum_over_time_places_series_with_their_class():
    rng = np.random.default_rng(0)
    fe = TEMPLATE_CFG.model.frontend
    assert fe is not None
    X, y = _motifs(rng)
    before = torch.get_rng_state()
    mean, mean_max, error = summary_accuracy(X, np.full(len(y), 300), y, fe)
    assert mean_max > mean + 2 * error  # the motif is found wherever it is
    assert torch.equal(torch.get_rng_state(), before)  # its seeds are its own: the run's stream is untouched
    X, y = _smooth_and_spiky(rng)
    mean, mean_max, error = summary_accuracy(X, np.full(len(y), 300), y, fe)
    assert mean_max < mean - 2 * error  # each series' own spike: a code to memorise
    # shuffled labels: nothing to place by, either way
    mean, mean_max, _ = summary_accuracy(X, np.full(len(y), 300), y[rng.permutation(len(y))], fe)
    assert mean < 0.6 and mean_max < 0.6


def test_the_probe_reads_long_series_a_few_at_a_time(monkeypatch):
    import rnnlab.train.shape_probes as probes

    rng = np.random.default_rng(3)
    X, y = _motifs(rng)
    fe = TEMPLATE_CFG.model.frontend
    assert fe is not None
    whole = summary_accuracy(X, np.full(len(y), 300), y, fe, seeds=3)
    monkeypatch.setattr(probes, "PROBE_VALUES", 300 * 64)  # one series of 300 steps × 64 channels a pass
    one_by_one = summary_accuracy(X, np.full(len(y), 300), y, fe, seeds=3)
    assert one_by_one != whole  # batch statistics of one series each: another probe ...
    assert one_by_one[1] > one_by_one[0]  # ... that still finds the motif


def test_step_noise_reads_how_smooth_the_series_are():
    t = np.linspace(0, 1, 400)
    smooth = np.stack([np.sin(2 * np.pi * f * t) for f in (1, 2, 3)])[:, :, None]
    noise = np.random.default_rng(0).standard_normal((3, 400, 1))
    assert step_noise(smooth, np.full(3, 400)) < 0.01
    assert 0.9 < step_noise(noise, np.full(3, 400)) < 1.1
    assert 0.15 < step_noise(smooth + 0.2 * noise, np.full(3, 400)) < 0.3  # about the noise's share of the std
    # padding past a series' length plays no part; a series of 2 steps counts as noise
    padded = np.concatenate([smooth, np.zeros((3, 100, 1))], axis=1)
    assert step_noise(padded, np.full(3, 400)) == pytest.approx(step_noise(smooth, np.full(3, 400)))
    assert step_noise(np.ones((1, 2, 1)), np.array([2])) == 1.0


def test_the_mean_alone_where_the_maximum_misleads_and_no_noise_on_smooth_series():
    tiny = Shape(classes=6, smallest_class=2, series=12, length=427, summary_accuracy=(0.53, 0.23, 0.04),
                 step_noise=0.016)
    d = decide(tiny, TEMPLATE_CFG)
    assert d.summary is None and d.mean_alone and d.input_noise is None and d.smooth
    assert apply(TEMPLATE_CFG, d).model.head.pooling == "mean" and apply(TEMPLATE_CFG, d).model.input_noise == 0.0
    assert ("head: the mean over time (with the max, 0.23 of the series' nearest neighbours are of their class, "
            "without 0.53) and the informative level and scale; no input noise (smooth series: step noise 0.016 < "
            "0.05)") in d.line()
    # within two standard errors, or the maximum better: mean and max; noisy series: the noise
    for accuracy, noise in (((0.53, 0.46, 0.04), 0.05), ((0.36, 0.66, 0.03), 0.3)):
        d = decide(replace(tiny, summary_accuracy=accuracy, step_noise=noise), TEMPLATE_CFG)
        assert d.summary == ("mean_max", "mean_max") and not d.mean_alone and d.input_noise == 0.2 and not d.smooth
    # the rules only raise: noise the config sets stays, and says nothing of smoothness
    noisy = TEMPLATE_CFG.model_copy(update={"model": TEMPLATE_CFG.model.model_copy(update={"input_noise": 0.3})})
    d = decide(tiny, noisy)
    assert not d.smooth and apply(noisy, d).model.input_noise == 0.3 and "input noise" not in d.line()
    # classes of 4 or more: neither rule
    big = decide(replace(tiny, smallest_class=4, series=24), TEMPLATE_CFG)
    assert big.summary is None and not big.mean_alone and not big.smooth


def test_the_training_split_says_whether_the_head_reads_the_maximum_and_the_input_gets_noise(tmp_path):
    rng = np.random.default_rng(2)
    decided = {}
    for name, (X, y) in (("spiky", _smooth_and_spiky(rng)), ("motifs", _motifs(rng))):
        path = Env(tmp_path, None).npz(f"{name}.npz", X=X, y=y)
        decided[name] = adapt_to_shape(_template_on(path))
    (spiky, d_spiky), (motifs, d_motifs) = decided["spiky"], decided["motifs"]
    assert d_spiky is not None and d_motifs is not None
    assert d_spiky.mean_alone and spiky.model.head.pooling == "mean"
    assert d_spiky.shape.step_noise is not None and d_spiky.shape.step_noise < 0.05
    assert d_spiky.smooth and spiky.model.input_noise == 0.0
    assert motifs.model.head.pooling == "mean_max" and motifs.model.input_noise == 0.2
    # a class of one series: no neighbour of its own to be placed by, the maximum as before
    X, y = _smooth_and_spiky(rng, per_class=1)
    one = Env(tmp_path, None).npz("one.npz", X=X, y=y)
    d_one = adapt_to_shape(_template_on(one))[1]
    assert d_one is not None and d_one.shape.summary_accuracy is None and d_one.summary == ("mean_max", "mean_max")


@pytest.mark.parametrize("length", [150, 427, 1000, 1460, 3000, 8000])
def test_pooling_bounds_the_recurrent_steps_and_never_lowers_the_templates(length):
    d = decide(Shape(classes=2, smallest_class=20, series=40, length=length), TEMPLATE_CFG)
    assert d.recurrent_steps <= MAX_RECURRENT_STEPS
    assert d.pools is not None
    if length <= 4 * MAX_RECURRENT_STEPS:  # the template's pooling does it: kept
        assert d.pools == (1, 2, 2) and "first block" not in d.pooling
        return
    # more pooling: all of it at the first block, the least power of 2 that does it (half would not)
    assert d.pools[1:] == (1, 1) and d.pools[0] > 4 and "at the first block" in d.pooling
    blocks = [b.model_copy(update={"pool": p}) for b, p in
              zip(TEMPLATE_CFG.model.frontend.conv_blocks, (d.pools[0] // 2, 1, 1), strict=True)]
    assert recurrent_length(length, blocks) > MAX_RECURRENT_STEPS


def test_the_tuned_shapes_keep_the_template():
    """Up to 10 classes, at least 4 series per class, length up to 1460 (OSULeaf 427 pooled ×4 is 107 steps);
    the hold-out where it holds 5 series of the smallest class (GunPoint's 24, ItalyPowerDemand's 33)."""
    for shape in (Shape(2, 24, 50, 150), Shape(6, 8, 200, 427), Shape(10, 10, 100, 250), Shape(4, 10, 40, 100),
                  Shape(2, 33, 67, 24)):
        d = decide(shape, TEMPLATE_CFG)
        assert (d.steps, d.pools, d.summary, d.level_and_scale, d.input_noise) == (2000, (1, 2, 2), None, None,
                                                                                    None), shape
        assert d.val_fraction == (0.2 if shape.smallest_class >= 23 else 0.0), shape


def test_hold_out_threshold_and_early_stopping_keep_the_hold_out():
    # a 0.2 hold-out holds round(0.2 n) series of a class of n: 4 of 22, 5 of 23
    small = Shape(5, 22, 110, 100)
    d = decide(small, TEMPLATE_CFG)
    assert d.val_fraction == 0.0
    assert d.validation == ("no hold-out (a 0.2 hold-out would hold 4 < 5 series of the smallest class, 22; the last "
                            "epoch's weights)")
    assert decide(Shape(5, 23, 115, 100), TEMPLATE_CFG).val_fraction == 0.2
    # a larger fraction holds 5 of fewer: the rule reads the config's fraction
    wider = parse_config(TEMPLATE.replace("val_fraction = 0.2 ", "val_fraction = 0.5 "))
    assert decide(Shape(5, 10, 50, 100), wider).val_fraction == 0.5
    assert decide(Shape(5, 9, 45, 100), wider).val_fraction == 0.0  # round(4.5) = 4
    patient = parse_config(TEMPLATE.replace("patience = 0 ", "patience = 5 "))
    d = decide(small, patient)
    assert d.val_fraction == 0.2 and "early stopping needs it" in d.validation
    assert MIN_HELD_SERIES == 5 and TINY_CLASS == 4


def test_steps_are_capped_and_epochs_budgets_are_kept():
    capped = parse_config(TEMPLATE.replace("max_steps = 16000", "max_steps = 5000"))
    d = decide(Shape(100, 2, 200, 100), capped)
    assert d.steps == 5000 and "adapt.max_steps" in d.budget
    epochs = parse_config(TEMPLATE.replace("steps = 2000", "epochs = 40"))
    assert decide(Shape(100, 2, 200, 100), epochs).steps is None


def test_applying_the_rules_to_their_result_changes_nothing():
    shape = Shape(40, 2, 80, 2000)
    once = apply(TEMPLATE_CFG, decide(shape, TEMPLATE_CFG))
    assert once.training.steps == 8000 and once.data.val_fraction == 0.0
    assert [b.pool for b in once.model.frontend.blocks] == [8, 1, 1]
    assert (once.model.head.pooling, once.model.head.frontend_pooling) == ("mean_max", "mean_max")
    assert (once.data.series_scale, once.model.head.input_pooling) == ("informative", "mean")
    assert apply(once, decide(shape, once)) == once


def test_a_single_strided_conv_gains_pooling():
    cfg = parse_config('[data]\ndataset = "GunPoint"\n[model.frontend]\nstride = 2\n[training]\nsteps = 100')
    d = decide(Shape(2, 20, 40, 2000), cfg)
    out = apply(cfg, d)
    assert d.recurrent_steps <= MAX_RECURRENT_STEPS
    assert recurrent_length(2000, out.model.frontend.conv_blocks) == d.recurrent_steps


def test_the_rules_are_off_unless_asked_and_read_the_training_split():
    cfg = parse_config(tiny_toml())
    assert adapt_to_shape(cfg) == (cfg, None)
    on = parse_config(tiny_toml(training="steps = 40", after="[adapt]\nshape = true"))
    adapted, d = adapt_to_shape(on)
    assert d is not None and d.shape == Shape(classes=2, smallest_class=10, series=20, length=24)
    assert adapted.data.val_fraction == 0.0  # 10 series per class: a 0.25 hold-out would hold 2 (< 5) of them
    patient = parse_config(tiny_toml(training="steps = 40\n[training.early_stopping]\npatience = 3",
                                     after="[adapt]\nshape = true"))
    assert adapt_to_shape(patient)[0].data.val_fraction == 0.25  # early stopping needs it: kept


# ------------------------------------------------------------------------------ in a run


def _tiny_file(env: Env, per_class: int = 2, classes: int = 6, length: int = 40) -> str:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(classes), per_class)
    t = np.arange(length)
    X = np.stack([np.sin(t * (0.2 + 0.15 * c)) for c in y])[:, :, None] + 0.05 * rng.standard_normal((len(y), length, 1))
    return str(env.npz("few.npz", X=X.astype(np.float32), y=y))


def test_a_run_prints_the_line_and_records_it(tmp_path):
    path = _tiny_file(Env(tmp_path, None))
    cfg = parse_config(f'[data]\npath = "{path}"\n[model]\nhidden_size = 6\n[model.frontend]\nstride = 1\n'
                       '[training]\nsteps = 30\nbatch_size = 4\n[tracking]\nenabled = false\n'
                       '[adapt]\nshape = true\nmax_steps = 60')
    lines: list[str] = []
    from rnnlab.train import train

    result = train(cfg, out=tmp_path / "r", progress=False, log=lines.append)
    line = ("shape: 6 classes × 2 series, length 40: no hold-out (a 0.2 hold-out would hold 1 < 5 series of the smallest class, 2; the last epoch's "
            "weights); 60 steps (40 batch slots per class (adapt.max_steps)); pool ×1 → 40 steps; input noise 0.2 (a "
            "class has 2 < 4 series)")
    assert [x for x in lines if x.startswith("shape: ")] == [line]
    recorded = RunDir(tmp_path / "r").read_adapt()
    assert recorded is not None and recorded["shape"]["line"] == line
    shape = recorded["shape"]["shape"]
    assert {k: v for k, v in shape.items() if k not in ("summary_accuracy", "step_noise")} == {
        "classes": 6, "smallest_class": 2, "series": 12, "length": 40, "noise": [], "alone": [], "shortest": None,
        "median": None}
    # what the probes read (a noisy file whose classes a random front-end's mean already tells apart)
    assert shape["step_noise"] > 0.05 and len(shape["summary_accuracy"]) == 3 and shape["summary_accuracy"][0] > 0.5
    # config.toml says what the run did: no hold-out, the rule's steps; read back, the rules change nothing
    run_cfg = RunDir(tmp_path / "r").read_config()
    assert run_cfg.data.val_fraction == 0.0 and run_cfg.training.steps == 60 and run_cfg.model.input_noise == 0.2
    assert adapt_to_shape(run_cfg)[0] == run_cfg
    assert result.final["step"] == 60
    assert "val_acc" not in result.final


def budget_toml(steps: int, lr: float = 0.01, cap: int = 4000, extra: str = "") -> str:
    text = tiny_toml(training=f"steps = {steps}", after=f'[training.schedule]\nkind = "cosine"\nmin_lr = 1e-5\n'
                     f'[tracking]\nenabled = false\n[adapt]\nbudget = true\nmax_steps = {cap}\n{extra}')
    return text.replace("lr = 0.01", f"lr = {lr}")


def test_a_fitted_run_ends_early_with_an_annealed_tail(tmp_path):
    cfg = parse_config(budget_toml(2000, lr=0.03))
    result = run(cfg, tmp_path)
    recorded = RunDir(tmp_path).read_adapt()
    assert recorded is not None
    events = recorded["budget"]["events"]
    assert [e["decision"] for e in events] == ["end_early"], events
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert records[-1]["step"] == events[0]["total"] < 2000
    assert result.train_eval["acc"] == 1.0
    # the tail: 200 steps (a tenth of 2000) in which the lr falls from where it stood to min_lr
    tail = [r for r in records if r["step"] > events[0]["step"]]
    assert len(tail) == 200 // 4
    lrs = [r["lr"] for r in tail]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 1e-4
    assert lrs[0] <= records[len(records) - len(tail) - 1]["lr"]  # no jump up


def test_an_underfit_run_gets_more_steps_up_to_the_cap(tmp_path):
    cfg = parse_config(budget_toml(8, lr=0.03, cap=32))
    run(cfg, tmp_path)
    events = RunDir(tmp_path).read_adapt()["budget"]["events"]
    decisions = [e["decision"] for e in events]
    assert decisions[0] == "extend", events
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert records[-1]["step"] > 8 and records[-1]["step"] <= 32
    # the extension restarts the cosine at half the base lr
    first_extra = next(r for r in records if r["step"] > events[0]["step"])
    assert first_extra["lr"] > records[len([r for r in records if r["step"] <= events[0]["step"]]) - 1]["lr"]


def test_without_the_option_the_budget_is_the_configs(tmp_path):
    cfg = parse_config(budget_toml(40, lr=0.03).replace("budget = true", "budget = false"))
    run(cfg, tmp_path)
    assert read_jsonl(tmp_path / "metrics.jsonl")[-1]["step"] == 40
    assert RunDir(tmp_path).read_adapt() is None


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, one_thread):
    """The uninterrupted run every case of the test below compares with (it only reads it): trained
    once for the module."""
    out = tmp_path_factory.mktemp("budget") / "whole"
    return run(parse_config(budget_toml(600, lr=0.03)), out), out


@pytest.mark.parametrize("stop_after", [3, 66, 78])
def test_resume_with_the_budget_equals_the_uninterrupted_run(tmp_path, stop_after, uninterrupted):
    """Stopped before any decision (3), between two checks of the training split (66: one every
    3 epochs) and in the tail (78: the early end was decided after epoch 70)."""
    cfg = parse_config(budget_toml(600, lr=0.03))
    whole, whole_dir = uninterrupted
    run(cfg, tmp_path / "split", stop_after=stop_after)
    resumed = run(cfg, tmp_path / "split", resume=True)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(read_jsonl(tmp_path / "split/metrics.jsonl")) == strip(read_jsonl(whole_dir / "metrics.jsonl"))
    assert resumed.epochs == whole.epochs
    for (n, p), (_, q) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(p, q), n
    assert RunDir(tmp_path / "split").read_adapt() == RunDir(whole_dir).read_adapt()


def test_a_tail_that_undoes_the_fit_goes_back_to_the_plan():
    # The benchmark's runs held 6 of 831 early ends whose model, after the tail, no longer
    # classified every training series right: ending there would leave a run unfitted.
    b = FitBudget.plan(total=1000, steps_per_epoch=10, cap=4000)
    acc = {"now": 1.0}
    decide = lambda epoch: b.after_epoch({"epoch": epoch, "step": 10 * epoch}, lambda: (True, "u"),  # noqa: E731
                                         train_acc=lambda: acc["now"])
    lines = {epoch: decide(epoch) for epoch in range(1, 22)}
    assert [e["decision"] for e in b.events] == ["end_early"] and b.total == 210 and lines[11] is not None
    acc["now"] = 0.75  # the tail's end: a series is wrong again
    line = decide(21)
    assert line is not None and "training accuracy 0.750 at the tail's end" in line
    assert [e["decision"] for e in b.events] == ["end_early", "fit_lost"]
    assert (b.total, b.segment) == (1000, (210, 1000, 0.5)) and b.events[-1]["from"] == 210
    assert b.after_epoch({"epoch": 22, "step": 220}, None, train_acc=lambda: 0.75) is None  # no early end yet
    acc["now"] = 1.0
    for epoch in range(23, 36):  # fitted again for a whole stretch: a second early end, and a tail that holds
        decide(epoch)
    assert [e["decision"] for e in b.events] == ["end_early", "fit_lost", "end_early"]
    end = b.total
    assert decide(end // 10) is None and b.total == end and b.events[-1]["decision"] == "end_early"
    # at the cap there is nowhere to go back to: said, and the run ends
    c = FitBudget.plan(total=100, steps_per_epoch=10, cap=100)
    for epoch in range(1, 9):
        c.after_epoch({"epoch": epoch, "step": 10 * epoch}, None, train_acc=lambda: 1.0)
    c.total = c.cap = 80  # (the tail ends at the cap)
    line = c.after_epoch({"epoch": 8, "step": 80}, None, train_acc=lambda: 0.5)
    assert line is not None and "adapt.max_steps (80) is reached" in line and c.events[-1]["decision"] == "cap_reached"


def test_the_budget_decides_on_records_alone():
    b = FitBudget.plan(total=100, steps_per_epoch=10, cap=250)
    for epoch in range(1, 10):  # not fitted: no early end
        assert b.after_epoch({"epoch": epoch, "step": 10 * epoch, "train_acc": 0.9, "train_loss": 1.0},
                             lambda: (True, "underfit")) is None
    line = b.after_epoch({"epoch": 10, "step": 100, "train_acc": 0.9, "train_loss": 1.0}, lambda: (True, "underfit"))
    assert line is not None and (b.total, b.segment) == (200, (100, 200, 0.5))
    for epoch in range(11, 21):
        b.after_epoch({"epoch": epoch, "step": 10 * epoch, "train_acc": 0.9, "train_loss": 1.0}, lambda: (True, "u"))
    assert b.total == 250 and b.cap == 250  # capped
    for epoch in range(21, 26):
        b.after_epoch({"epoch": epoch, "step": 10 * epoch, "train_acc": 0.9, "train_loss": 1.0}, lambda: (True, "u"))
    assert b.total == 250 and b.events[-1]["decision"] == "cap_reached"
    floor = 0.01
    assert b.lr_factor(TEMPLATE_CFG.training.schedule, 200, lambda k: 9.0, floor) == pytest.approx(0.5)
    assert b.lr_factor(TEMPLATE_CFG.training.schedule, 250, lambda k: 9.0, floor) == pytest.approx(floor)
    assert b.lr_factor(TEMPLATE_CFG.training.schedule, 50, lambda k: 9.0, floor) == 9.0  # before: the config's


def test_a_damaged_adapt_json_is_a_run_dir_error(tmp_path):
    (tmp_path / "adapt.json").write_text(json.dumps({"shape": [1]}))
    with pytest.raises(RunDirError, match="adapt.json: expected an object whose 'shape' and 'budget' are objects"):
        RunDir(tmp_path).read_adapt()


# ------------------------------------------------------------------------------ bad values


BAD = [
    ("[adapt]\nshap = true", "unknown key 'adapt.shap'; did you mean 'adapt.shape'?"),
    ("[adapt]\nshape = \"auto\"", "'adapt.shape': expected true or false, got 'auto' (str)"),
    ("[adapt]\nbudget = 1", "'adapt.budget': expected true or false, got 1 (int)"),
    ("[adapt]\nmax_steps = 0", "'adapt.max_steps': expected a number > 0, got 0 (int)"),
    ("[adapt]\nmax_steps = 1.5", "'adapt.max_steps': expected an integer, got 1.5 (float)"),
    ("[adapt]\nbudget = true\nmax_steps = 1", "'adapt.max_steps' (1) is below 'training.steps' (2)"),
    ("[adatp]\nshape = true", "unknown key 'adatp'; did you mean 'adapt'?"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_values_of_the_adapt_keys_are_one_line(text, expected, tmp_path, capsys):
    env = Env(tmp_path, None)
    body = config().replace("epochs = 2", "steps = 2") + text + "\n"
    with pytest.raises(ConfigError) as e:
        parse_config(body, source="c.toml")
    assert expected in str(e.value)
    one_line_error(["train", str(env.file("c.toml", body)), "--out", str(tmp_path / "new"), "--quiet"], capsys,
                   [expected, "c.toml"], kept=tmp_path, new_files=False)
