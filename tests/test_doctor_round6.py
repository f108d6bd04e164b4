"""Round 6 of the health checks, as a new user met them with ``rnnlab doctor``: inputs far from unit
scale are named on their own (not only when the median update ratio is tiny, and not blamed on the
learning rate); a wide first conv whose update ratio differs only by its large fan-in is no outlier
of an untouched template (and a remedy names lr_mult only where the rates differ); and the
recurrent weights of a layer that runs a single step have a zero gradient that is explained as
such, not as a .detach()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.doctor import diagnose
from rnnlab.doctor.checks import Observations, ParamTrace, Thresholds, update_ratio

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CE = torch.nn.CrossEntropyLoss()


def sines(n_per_class: int, T: int, C: int, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The user's kind of data: a sine per class (its frequency), with noise, on C channels."""
    r = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    t = np.linspace(0, 1, T)
    X = np.sin(2 * np.pi * (1 + y[:, None, None]) * t[None, :, None] + 0.1 * np.arange(C)) \
        + 0.3 * r.standard_normal((len(y), T, C))
    return X.astype("float32"), y


def doctor(capsys, config) -> str:
    capsys.readouterr()
    assert main(["doctor", str(config)]) == 0
    return capsys.readouterr().out


def small_config(tmp_path, body: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(f"""
[data]
path = "d.npz"
val_fraction = 0.2
{body}
[training]
steps = 50
batch_size = 16
lr = 3e-3
seed = 0
[[training.decay_rules]]
role = "recurrent"
weight_decay = 1e-3
[adapt]
shape = false
budget = false
""")
    return path


# --- 1. inputs far from unit scale ----------------------------------------------------------------


def test_raw_inputs_at_scale_1e6_are_named_with_the_per_channel_remedy_not_the_learning_rate(tmp_path, capsys):
    # The user's scaleraw.toml: channels x1e-6 and x1e6, no normalization, no front-end, no batch norm.
    X, y = sines(10, 50, 3)
    X[:, :, 0] *= 1e-6
    X[:, :, 1] *= 1e6
    np.savez(tmp_path / "d.npz", X=X, y=y)
    config = small_config(tmp_path, """normalize = "none"
series_scale = false
[model]
layer = "lstm"
hidden_size = 8
recurrent_batch_norm = false
[model.head]
frontend_pooling = "none"
""")
    out = doctor(capsys, config)
    assert "(input_scale)" in out and 'data.normalize to "per_channel"' in out, out
    assert "lr_mult" not in out and "Raise training.lr" not in out, out
    # The update ratio (median 3e-5 here, not below 1e-5) says the same cause if it finds slow weights.
    assert "update at a very different rate" not in out, out


@pytest.mark.parametrize(("scale", "found"), [(1.0, False), (1e-4, True), (1e4, True)])
def test_the_input_scale_check_runs_on_its_own(scale, found):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 3))
    batch = (torch.randn(32, 20) * scale, torch.randint(0, 3, (32,)))
    report = diagnose(model, batch, CE, steps=0, checks=["input_scale"])  # no training step needed
    assert bool(report.by_check("input_scale")) == found
    if found:
        (f,) = report.by_check("input_scale")
        assert f.severity == "warning" and f.numbers["input_scale"] == pytest.approx(scale, rel=0.2)
        assert "standard deviation 1" in f.remedy and "data.normalize" not in f.remedy  # a Python user's spelling


# --- 2. a weight whose update ratio differs by its fan-in -----------------------------------------------


def test_the_untouched_template_with_80_channels_has_no_update_ratio_warning(tmp_path, capsys):
    X, y = sines(10, 40, 80)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    main(["init", str(tmp_path / "t.toml")])
    text = (tmp_path / "t.toml").read_text().replace('dataset = "GunPoint"', 'path = "d.npz"')
    (tmp_path / "t.toml").write_text(text)
    out = doctor(capsys, tmp_path / "t.toml")
    assert "Health check: " in out and "(update_ratio)" not in out and "lr_mult" not in out, out


def trace(name: str, shape: tuple[int, ...], ratio: float) -> ParamTrace:
    return ParamTrace(name, shape, [1.0] * 6, [ratio] * 5, grad_max=1.0)


def test_an_outlier_is_judged_against_the_rate_its_fan_in_predicts():
    # The user's numbers: the first conv sees 80 channels x 3 (series_scale) x 7 taps.
    wide = {t.name: t for t in (
        trace("frontend.blocks.0.conv.weight", (64, 240, 7), 0.107),
        trace("frontend.blocks.1.conv.weight", (64, 64, 5), 0.0541),
        trace("frontend.blocks.2.conv.weight", (64, 64, 3), 0.0475),
        trace("rnn.weight_ih_l0", (256, 64), 0.0276),
        trace("rnn.weight_hh_l0", (256, 64), 0.0274),
        trace("head.0.weight", (3, 128), 0.0463),
    )}
    obs = Observations(steps=5, params=wide, learning_rates=[3e-3, 3e-3, 3e-3], config=True)
    assert update_ratio(obs, Thresholds()) == []
    # the same rate on a weight of small fan-in is far more than its fan-in explains: still an outlier
    wide["frontend.blocks.0.conv.weight"] = trace("frontend.blocks.0.conv.weight", (64, 1, 7), 0.9)
    (f,) = update_ratio(obs, Thresholds())
    assert list(f.numbers["outliers"]) == ["frontend.blocks.0.conv.weight"]
    # one learning rate for every group: no lr_mult to check
    assert "lr_mult" not in f.remedy and "initial scale" in f.remedy
    obs.learning_rates = [3e-3, 3e-2, 3e-3]
    (g,) = update_ratio(obs, Thresholds())
    assert "lr_mult" in g.remedy


def test_a_weight_initialised_far_too_small_is_still_an_outlier_with_one_learning_rate():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        model[1].weight.mul_(1e-3)  # a thousand times below its fan-in's scale
    batch = (torch.randn(32, 20), torch.randint(0, 3, (32,)))
    (f,) = diagnose(model, batch, CE, lambda p: torch.optim.Adam(p, lr=1e-3), checks=["update_ratio"]).by_check(
        "update_ratio")
    assert list(f.numbers["outliers"]) == ["1.weight"]
    assert "per-parameter-group" not in f.remedy and "initial scale" in f.remedy


# --- 3. a recurrent layer that runs a single step ---------------------------------------------------


class OneStep(torch.nn.Module):
    def __init__(self, rnn: torch.nn.Module, hidden: int):
        super().__init__()
        self.rnn, self.head = rnn, torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0].mean(1))


def one_step_batch(T: int = 1):
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, T, 2, generator=g), torch.randint(0, 2, (16,), generator=g)


@pytest.mark.parametrize(("rnn", "names"), [
    (lambda: rnnlab.LSTM(2, 8, batch_first=True, recurrent_batch_norm=True),
     ["rnn.weight_hh_l0", "rnn.norm_l0.hh.weight"]),
    (lambda: torch.nn.LSTM(2, 4, batch_first=True, bidirectional=True),
     ["rnn.weight_hh_l0", "rnn.weight_hh_l0_reverse"]),
])
def test_recurrent_weights_of_a_layer_that_runs_one_step_are_explained_not_a_detach(rnn, names):
    torch.manual_seed(0)
    layer = rnn()
    model = OneStep(layer, 8)
    (f,) = diagnose(model, one_step_batch(), CE, checks=["zero_grad"], remedies="config").by_check("zero_grad")
    assert f.numbers["parameters"] == names and f.numbers["cause"] == "one_step"
    assert "runs 1 step" in f.title and "never used" in f.message
    assert ".detach()" not in f.remedy and "reverse direction" not in f.message
    assert "too short or pooled too much" in f.message and "pool" in f.remedy and "[[model.frontend.blocks]]" in f.remedy
    # the same layer over 5 steps uses its recurrent weights: no zero gradient at all
    assert diagnose(model, one_step_batch(5), CE, checks=["zero_grad"]).by_check("zero_grad") == []


def test_a_config_whose_front_end_pools_the_series_to_one_step_names_the_pooling(tmp_path, capsys):
    X, y = sines(20, 4, 1, classes=2)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    config = small_config(tmp_path, """normalize = "per_series"
series_scale = true
[model]
layer = "lstm"
hidden_size = 8
recurrent_batch_norm = true
[[model.frontend.blocks]]
channels = 8
kernel_size = 3
norm = "batch"
pool = 4
""")
    out = doctor(capsys, config)
    assert "the recurrent layer runs 1 step" in out and "model.rnn.weight_hh_l0" in out, out
    assert ".detach()" not in out, out
