"""Round 280, the findings after training and the report: a language model's fit check has the
forecaster's 1 % margin; a finding on a network the mean guard set aside says so; a forecaster whose
loss fell while its MASE rose is not told to train longer; a panel's series are numbered from 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.data.stream import Bounds
from rnnlab.doctor import fit_findings
from rnnlab.doctor.fit import language_model_underfit
from rnnlab.plots.forecast import ForecastLines, plot_forecast
from rnnlab.train.mean_guard import MeanGuard

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

BITS = 1 / math.log(2)


def _forecaster(tmp_path):
    np.savez(tmp_path / "s.npz", X=np.zeros((60, 1)))
    return parse_config(f'[task]\nkind = "forecasting"\nseason = 7\nrelative_to = "seasonal_naive"\n'
                        f'[data]\npath = "{tmp_path / "s.npz"}"\n[training]\nsteps = 20')


def _records(losses, mases):
    return [{"epoch": i + 1, "step": 4 * (i + 1), "train_loss": loss, "train_mase": m}
            for i, (loss, m) in enumerate(zip(losses, mases, strict=True))]


def test_a_language_model_a_hair_below_the_unigram_entropy_learned_nothing():
    # The tester's independently drawn words: 0.68201 bits against a unigram entropy of 0.68221.
    cfg = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[training]\nsteps = 20')
    unigram, loss = 0.68221 / BITS, 0.68201 / BITS
    records = [{"epoch": 1, "step": 20, "train_loss": loss}]
    f = language_model_underfit(records, {"loss": loss}, cfg, unigram)
    assert f is not None and f.check == "underfit"
    assert "only 0.03% below the unigram entropy" in f.title and "not the 1% it must be" in f.title
    assert f.numbers["skill_over_unigram"] == pytest.approx(1 - loss / unigram)
    assert "drawn independently" in f.message
    # 10 % below it learned from context, and the verdict says by how much
    found = fit_findings(records, {"loss": 0.9 * unigram}, cfg, unigram=unigram)
    assert not found and "(10.0% below it, more than the 1% it must be)" in found.checked["underfit"]


def test_a_finding_on_a_network_the_mean_guard_set_aside_says_the_run_predicts_the_reference(tmp_path):
    # The tester's mg.toml: skill -0.008 for the network, the run predicting seasonal naive (skill 0).
    guard = MeanGuard(False, 3.65, 3.64, -1.1, 22, baseline="seasonal naive", rows="origins")
    records = _records([1.69, 1.68], [0.98, 0.99])
    (f,) = fit_findings(records, {"loss": 1.67, "skill": -0.008}, _forecaster(tmp_path), guard=guard)
    assert f.check == "underfit" and f.numbers["mean_guard_kept"] is False
    assert "(the trained network's figures; the run predicts seasonal naive instead: task.mean_guard set the " \
           "network aside)" in f.title
    assert "This finding judges the trained network" in f.message
    # a network that fit, set aside all the same: the verdict says whose fit it is
    found = fit_findings(records, {"loss": 1.0, "skill": 0.2}, _forecaster(tmp_path), guard=guard)
    assert "the run predicts seasonal naive instead" in found.checked["underfit"]
    # kept: nothing added
    kept = MeanGuard(True, 3.0, 3.64, 4.0, 22, baseline="seasonal naive", rows="origins")
    (f,) = fit_findings(records, {"loss": 1.67, "skill": -0.008}, _forecaster(tmp_path), guard=kept)
    assert "mean_guard" not in f.title


def test_a_regression_the_mean_guard_set_aside_is_judged_as_the_network():
    cfg = parse_config('[task]\nkind = "regression"\n[data]\ndataset = "Covid3Month"\n[training]\nsteps = 20')
    guard = MeanGuard(False, 1.0, 1.0, 0.0, 5)  # (5 validation series: too few for the no-signal check)
    records = [{"epoch": 1, "step": 20, "train_loss": 1.0, "train_r2": 0.1}]
    (f,) = fit_findings(records, {"loss": 1.0, "r2": 0.1}, cfg, n_val=5, guard=guard)
    assert f.check == "underfit" and "the run predicts the training mean instead" in f.title


def test_a_forecaster_whose_mase_rose_while_its_loss_fell_is_not_told_to_train_longer(tmp_path):
    # The tester's panel of scales 1 / 100 / 10000: loss 0.0147 -> 0.0143, MASE 16.7 -> 39.7, skill -16.9.
    records = _records([0.0147, 0.0145, 0.0144, 0.0143], [16.7, 41.6, 51.4, 39.7])
    (f,) = fit_findings(records, {"loss": 0.0148, "skill": -16.9}, _forecaster(tmp_path))
    assert f.message.split("Likely causes, most likely first: ")[1].startswith("(1) The loss and MASE disagree")
    assert "Too few steps" not in f.message and "The learning rate" not in f.message
    assert "one scale" in f.remedy.split(";")[0] and "training.steps" not in f.remedy
    assert f.numbers["train_mase_last_epoch"] == 39.7
    # a model near its reference keeps the usual causes
    (f,) = fit_findings(_records([0.2, 0.199, 0.198, 0.197], [1.0, 1.0, 1.0, 1.0]), {"loss": 0.2, "skill": 0.0},
                        _forecaster(tmp_path))
    assert "Too few steps" in f.message and "disagree" not in f.message


def test_the_forecast_picture_numbers_a_panels_series_from_0():
    x = np.arange(40.0)[:, None]
    o = np.array([35, 36, 37, 38])
    f = x[o + 1][:, None]
    lines = ForecastLines("p.npz", 0, 4, ["y"], x, Bounds(30, 34, 40), 1, 7, "seasonal_naive", True, "test", o,
                          f, f, f, np.array([[40.0]]), None)
    assert lines.which() == "series 0, the first of 4"
    fig = plot_forecast(lines)
    assert "(series 0, the first of 4)" in fig._suptitle.get_text()


def test_the_report_numbers_the_drawn_series_of_a_panel_from_0(tmp_path):
    import html

    from test_streams import stream_toml

    from rnnlab.report import render_report
    from rnnlab.train import train

    t = np.arange(80)
    noise = 0.1 * np.random.default_rng(0).normal(size=(2, 80))
    X = (np.stack([np.sin(2 * np.pi * t / 7), 2 + np.cos(2 * np.pi * t / 7)]) + noise)[:, :, None]
    np.savez(tmp_path / "p.npz", X=X)
    cfg = parse_config(stream_toml(str(tmp_path / "p.npz"), task="season = 7", training="steps = 4"))
    train(cfg, tmp_path / "run", log=None, progress=False)
    page = html.unescape(render_report(tmp_path / "run"))
    assert "series 0, the first of 2, drawn" in page and "series 1 of 2" not in page
