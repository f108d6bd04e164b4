"""A notebook user's session (one long-lived process, rnnlab's Python API): the estimators'
``layer`` keyword with the template's LSTM-only ``unit_forget_bias``; a refit that fails or is
interrupted keeps the estimator's previous fit; training and ``diagnose`` under a caller's
``torch.no_grad()``; ``load_run`` of a run that has not finished; ``plot_gate_histograms`` of a
run's model; and the Python keywords named beside the command's flags in the trainer's advice."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import ConfigError, Interrupted, RunDirError
from rnnlab.estimators import FAST, RNNClassifier, RNNRegressor, RNNSequenceTagger
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny(epochs: int = 2, **training: object) -> rnnlab.Config:
    more = "".join(f"{k} = {v}\n" for k, v in training.items())
    return parse_config(f'[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = {epochs}\n'
                        f'batch_size = 8\nlr = 0.01\nseed = 0\n{more}[tracking]\nenabled = false\n')


def series(n: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).normal(size=(n, 1, 8))
    return X, np.where(X[:, 0, :3].mean(axis=1) > 0, "up", "down")


def small(cls: type = RNNClassifier, **kw: object):
    return cls(hidden_size=4, steps=2, params=FAST, random_state=0, **kw)


# ------------------------------------------------------------------ 1. the layer keyword and the forget bias


@pytest.mark.parametrize("layer", ["gru", "rnn", "indrnn"])
def test_the_layer_keyword_trains_that_layer_without_the_lstms_forget_bias(layer):
    X, y = series()
    clf = small(layer=layer).fit(X, y)
    assert clf.config_.model.layer == layer and clf.config_.model.unit_forget_bias is False
    reg = small(RNNRegressor, layer=layer).fit(X, X[:, 0, :3].mean(axis=1))
    assert reg.config_.model.layer == layer


def test_an_lstm_keeps_the_templates_forget_bias_and_an_explicit_one_for_a_gru_is_refused():
    assert small(layer="lstm").resolved_config().model.unit_forget_bias is True
    assert small().resolved_config().model.unit_forget_bias is True
    with pytest.raises(ConfigError, match=r"'model\.unit_forget_bias' applies to layer 'lstm' only, got layer 'gru'"):
        RNNClassifier(layer="gru", params={"model.unit_forget_bias": True}).resolved_config()


# ------------------------------------------------------------------ 2. a failed or interrupted refit


def failing_train(error: BaseException):
    def fail(*args: object, **kwargs: object):
        raise error
    return fail


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("out of memory")])
def test_a_refit_that_fails_or_is_interrupted_keeps_the_previous_fit(monkeypatch, error):
    X, y = series()
    clf = small().fit(X, y)
    model, predicted = clf.model_, clf.predict(X)
    clf.set_params(steps=3000)
    monkeypatch.setattr("rnnlab.train.train", failing_train(error))
    with pytest.raises(type(error)) as caught:
        clf.fit(X, y)
    assert clf.model_ is model and clf.is_fitted and clf.steps == 3000
    assert (clf.predict(X) == predicted).all()
    if isinstance(error, KeyboardInterrupt):
        assert isinstance(caught.value, Interrupted)
        message = str(caught.value)
        assert "\n" not in message and "the estimator keeps its previous fit" in message
        assert "nothing was kept" not in message


def test_a_refit_whose_labels_aeon_refuses_after_its_reset_keeps_the_previous_fit():
    from rnnlab.errors import DataError

    X, y = series()
    clf = small().fit(X, y)
    predicted = clf.predict(X)
    with pytest.raises(DataError, match="at least 2 classes"):
        clf.fit(X, np.array(["up"] * len(X)))
    assert clf.classes_.tolist() == ["down", "up"] and (clf.predict(X) == predicted).all()


def test_a_first_fit_interrupted_says_nothing_was_kept_and_leaves_the_estimator_unfitted(monkeypatch):
    from sklearn.exceptions import NotFittedError

    X, y = series()
    clf = small()
    monkeypatch.setattr("rnnlab.train.train", failing_train(KeyboardInterrupt()))
    with pytest.raises(Interrupted, match="nothing was kept") as caught:
        clf.fit(X, y)
    assert "previous fit" not in str(caught.value)
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_a_per_step_refit_on_other_labels_that_fails_keeps_the_previous_classes(monkeypatch):
    X, y = series()
    steps = np.where(X[:, 0] > 0, "up", "down")
    tagger = small(RNNSequenceTagger).fit(X, steps)
    monkeypatch.setattr("rnnlab.train.train", failing_train(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        tagger.fit(X, np.where(X[:, 0] > 0, "hi", "lo"))
    assert tagger.classes_.tolist() == ["down", "up"]
    assert set(np.unique(tagger.predict(X))) <= {"down", "up"}


# ------------------------------------------------------------------ 3. the caller's grad mode


@pytest.mark.parametrize("mode", ["no_grad", "set_grad_enabled", "inference_mode"])
def test_training_runs_with_gradients_whatever_the_callers_mode_and_restores_it(tmp_path, mode):
    reference = train(tiny(), out=tmp_path / "ref", progress=False, log=None)
    context = {"no_grad": torch.no_grad, "set_grad_enabled": lambda: torch.set_grad_enabled(False),
               "inference_mode": torch.inference_mode}[mode]
    with context():
        result = train(tiny(), out=tmp_path / "off", progress=False, log=None)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert result.train_eval == reference.train_eval and result.epochs == reference.epochs == 2


def test_an_estimator_fits_inside_no_grad():
    X, y = series()
    expected = small().fit(X, y).predict_proba(X)
    with torch.no_grad():
        got = small().fit(X, y).predict_proba(X)
        assert not torch.is_grad_enabled()
    np.testing.assert_array_equal(got, expected)


def test_diagnose_takes_its_steps_inside_no_grad_and_restores_the_mode():
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    batch = (torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1] * 8))
    expected = rnnlab.diagnose(net, batch, torch.nn.functional.cross_entropy, steps=3).losses
    with torch.no_grad():
        report = rnnlab.diagnose(net, batch, torch.nn.functional.cross_entropy, steps=3)
        assert not torch.is_grad_enabled()
    assert report.losses == expected and len(report.losses) >= 3
    assert not any("does not depend on any parameter" in str(f) for f in report.findings)


# ------------------------------------------------------------------ 4. a run that has not finished


def stop_at(epoch: int):
    def stop(record: dict) -> None:
        if record["epoch"] == epoch:
            raise KeyboardInterrupt
    return stop


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    with pytest.raises(KeyboardInterrupt):
        train(tiny(epochs=5, checkpoint_every=0), out=tmp / "cut", progress=False, log=None, on_epoch=stop_at(2))
    train(tiny(), out=tmp / "done", progress=False, log=None)
    np.savez(tmp / "new.npz", X=np.random.default_rng(1).normal(size=(3, 24, 1)))
    return {"cut": tmp / "cut", "done": tmp / "done", "new": tmp / "new.npz"}


def test_load_run_of_a_run_that_has_not_finished_warns_once_and_says_so(runs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = rnnlab.load_run(runs["cut"])
        run.predict(np.zeros((2, 24)))
        run.predict(np.zeros((2, 24)))
    said = [str(w.message) for w in caught if "has not finished" in str(w.message)]
    assert len(said) == 1 and "\n" not in said[0]
    assert "its last recorded epoch is 2 of 5" in said[0] and "predicting with checkpoints/last.pt" in said[0]
    assert run.finished is False


def test_load_run_of_a_finished_run_says_nothing_of_it(runs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = rnnlab.load_run(runs["done"])
    assert run.finished is True and not [w for w in caught if "has not finished" in str(w.message)]


def test_rnnlab_predict_of_a_run_that_has_not_finished_says_so_in_one_line(runs, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # (pytest -W ignore would silence the command's warning line)
        assert main(["predict", str(runs["cut"]), "--data", str(runs["new"]), "--out", str(tmp_path / "p.csv")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "has not finished" in line]
    assert len(lines) == 1 and "epoch is 2 of 5" in lines[0]


def test_a_run_without_an_epoch_recorded_says_no_epoch_finished(tmp_path):
    from rnnlab.rundir import RunDir
    from rnnlab.train.predict import unfinished_line

    run = RunDir(tmp_path)
    assert "no epoch finished" in unfinished_line(run, tiny(), run.last_checkpoint)


# ------------------------------------------------------------------ 5. gate histograms of a run's model


def test_gate_histograms_take_a_runs_model_as_the_heatmaps_do(runs):
    from rnnlab import plots
    from rnnlab.introspect.modules import recurrent_modules

    model = rnnlab.load_run(runs["done"]).model
    name, layer = recurrent_modules(model, required=True)[0]
    of_model, of_layer = plots.plot_gate_histograms(model), plots.plot_gate_histograms(layer)
    assert len(of_model.axes) == len(of_layer.axes) and sum(len(a.patches) for a in of_model.axes) > 0
    for a, b in zip(of_model.axes, of_layer.axes):  # (the same bars: bins and counts)
        assert [p.get_path().vertices.tolist() for p in a.patches] == [p.get_path().vertices.tolist() for p in b.patches]
    assert of_model.axes[0].get_title().endswith(f"{name}.weight_ih_l0")  # the model's own parameter name
    plots.plot_weight_heatmaps(model)  # (the same objects)


# ------------------------------------------------------------------ 6. the Python keywords in the advice


def test_a_used_directory_names_resume_and_out_as_python_takes_them(tmp_path):
    train(tiny(), out=tmp_path, progress=False, log=None)
    with pytest.raises(RunDirError) as caught:
        train(tiny(), out=tmp_path, progress=False, log=None)
    message = str(caught.value)
    assert "--resume (Python: resume=True)" in message and "--out (Python: out=" in message
    assert train(tiny(), out=tmp_path, resume=True, progress=False, log=None).epochs == 2  # what it named works


def test_a_changed_config_on_resume_names_allow_change_as_python_takes_it(tmp_path):
    train(tiny(), out=tmp_path, progress=False, log=None)
    with pytest.raises(ConfigError) as caught:
        train(tiny(epochs=3), out=tmp_path, resume=True, progress=False, log=None)
    message = str(caught.value)
    assert "--allow-change training.epochs" in message and "\n" not in message
    keyword = re.search(r"Python: allow_change=(\[[^\]]*\])", message)
    assert keyword is not None
    result = train(tiny(epochs=3), out=tmp_path, resume=True, progress=False, log=None,
                   allow_change=ast.literal_eval(keyword.group(1)))
    assert result.epochs == 3
