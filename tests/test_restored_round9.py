"""After training, what the run measures is of the weights it tested: with early stopping those of
the restored best epoch, not the last epoch's, which it throws away. The gradient through time and
the gate activations are measured on them, their files say which epoch's they are, and the report's
captions say so; a stream run whose later epochs overfit past the restored epoch is told so, where
"no sign of overfitting" used to read as if nothing had happened (a tester's runs/reg: files at
epoch 20 where epoch 12 was tested; runs/fc: validation MASE 0.399 at epoch 15, 0.814 at epoch 45)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import rnnlab.train.trainer as trainer
from rnnlab import report
from rnnlab.config import parse_config, template_for
from rnnlab.doctor.fit import fit_findings
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.rundir import RunDir
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.predict import load_run

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def noise_config(tmp: Path) -> str:
    """A regression on noise targets: validation is best at an early epoch, which early stopping
    restores, while training runs on to its budget (epoch 1 of 9 with this seed)."""
    rng = np.random.default_rng(0)
    np.savez(tmp / "noise.npz", X=rng.normal(size=(40, 16, 2)).astype(np.float32),
             y=rng.normal(size=40).astype(np.float32))
    return (f'[task]\nkind = "regression"\nmean_guard = false\n[data]\npath = "{tmp / "noise.npz"}"\n'
            'val_fraction = 0.25\n[model]\nlayer = "gru"\nhidden_size = 16\n[training]\nsteps = 90\n'
            'batch_size = 10\nlr = 1e-2\ncheckpoint_every = 3600\n[training.early_stopping]\npatience = 8\n'
            '[tracking]\nweights_every = 0\ngrads_every = 0\nhealth = false\n')


@pytest.fixture(scope="module")
def restored(tmp_path_factory) -> tuple[Path, str, object]:
    tmp = tmp_path_factory.mktemp("restored")
    text = noise_config(tmp)
    result = train(parse_config(text), out=tmp / "run", progress=False, log=None)
    assert result.best["epoch"] < result.epochs  # (else the case is not the one under test)
    return tmp / "run", text, result


def _measured(run: Path, text: str, checkpoint: str, out: Path) -> dict:
    """The gradient through time measured by hand on a checkpoint's weights, as the trainer measures."""
    cfg = parse_config(text)
    data, _ = trainer.load_noted(cfg)
    net = load_run(run).model
    net.load_state_dict(load_checkpoint(run / "checkpoints" / checkpoint)["model"])
    out.mkdir(exist_ok=True)
    return trainer._record_grad_through_time(RunDir(out), net, data, cfg, 0, 0, None)


def test_the_measurements_after_training_are_of_the_restored_epochs_weights(restored, tmp_path):
    run, text, result = restored
    best = result.best
    gtt, meta = read_grad_through_time(run)
    gates = json.loads((run / "gate_activations.json").read_text())
    # the files name the weights they measured: the restored epoch's, not the last (step 36, epoch 9)
    assert (meta["step"], meta["epoch"]) == (best["step"], best["epoch"])
    assert (gates["step"], gates["epoch"]) == (best["step"], best["epoch"])
    # ... and their curve is the one best.pt's weights give, not last.pt's
    on_best = _measured(run, text, "best.pt", tmp_path / "best")
    on_last = _measured(run, text, "last.pt", tmp_path / "last")
    (key,) = gtt
    recorded = gtt[key].layers[(0, "forward")]
    assert np.allclose(recorded, on_best[key].layers[(0, "forward")], rtol=1e-6, atol=0)
    assert not np.allclose(recorded, on_last[key].layers[(0, "forward")], rtol=1e-3, atol=0)


def test_the_captions_name_the_restored_epoch_and_old_runs_read_as_before(restored, tmp_path):
    run, _, result = restored
    epoch, step, last = result.best["epoch"], result.best["step"], result.epochs
    rd = RunDir(run)
    said = f"on the weights of epoch {epoch} (step {step}), restored by early stopping"
    gtt_caption, gates_caption = report._gradient_through_time(rd), report._gates(rd)
    assert said in gtt_caption and said in gates_caption
    assert "on the trained model" not in gtt_caption and f"epoch {last}" in gtt_caption
    # An older run's files: measured on the last weights, at the last step and epoch: captioned as they were.
    old = tmp_path / "old"
    shutil.copytree(run, old)
    gtt, meta = read_grad_through_time(old)
    final = RunDir(old).read_metrics()[-1]
    write_grad_through_time(old, gtt, step=final["step"], epoch=final["epoch"], loss=meta.get("loss"))
    gates = json.loads((old / "gate_activations.json").read_text())
    (old / "gate_activations.json").write_text(json.dumps({**gates, "step": final["step"], "epoch": final["epoch"]}))
    old_gtt, old_gates = report._gradient_through_time(RunDir(old)), report._gates(RunDir(old))
    assert f"Measured after training (at step {final['step']}, epoch {final['epoch']}), on the trained model" in old_gtt
    assert f"after training (at step {final['step']}, epoch {final['epoch']})" in old_gates
    assert "restored by early stopping" not in old_gtt + old_gates


def test_a_resumed_run_measures_the_same_weights_as_an_uninterrupted_one(restored, tmp_path, monkeypatch):
    run, text, _ = restored
    cfg = parse_config(text)
    # Ctrl-C while the gradient through time is measured, after the last epoch: the resume measures again
    measure = trainer._record_grad_through_time

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trainer, "_record_grad_through_time", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, out=tmp_path / "split", progress=False, log=None)
    assert trainer._record_grad_through_time is measure
    train(cfg, out=tmp_path / "split", resume=True, progress=False, log=None)
    for name in ("grad_through_time.json", "gate_activations.json"):
        assert (tmp_path / "split" / name).read_bytes() == (run / name).read_bytes(), name


# ------------------------------------------------------------------------------ a stream's fit after training

#: The tester's forecaster (runs/fc): validation MASE best at epoch 15 (0.399), then up to 0.814 at
#: epoch 45, while the training MASE fell from 0.442 to 0.367; early stopping restored epoch 15.
VAL = [1.071, 1.067, 1.06, 1.05, 1.037, 1.019, 0.995, 0.962, 0.916, 0.854, 0.776, 0.675, 0.565, 0.454, 0.399,
       0.423, 0.466, 0.486, 0.473, 0.446, 0.42, 0.404, 0.399, 0.402, 0.415, 0.444, 0.492, 0.554, 0.614, 0.655,
       0.681, 0.686, 0.671, 0.659, 0.668, 0.701, 0.751, 0.798, 0.835, 0.842, 0.836, 0.82, 0.8, 0.793, 0.814]
TRAIN = [0.96, 0.958, 0.953, 0.946, 0.936, 0.922, 0.904, 0.881, 0.848, 0.803, 0.75, 0.677, 0.606, 0.519, 0.442,
         0.446, 0.492, 0.49, 0.481, 0.475, 0.427, 0.428, 0.437, 0.434, 0.435, 0.417, 0.412, 0.391, 0.379, 0.372,
         0.363, 0.376, 0.375, 0.394, 0.399, 0.386, 0.383, 0.368, 0.361, 0.366, 0.362, 0.367, 0.361, 0.377, 0.367]
FC = parse_config(template_for("forecasting"))  # (patience 30: early stopping restores the best epoch)
TRAIN_EVAL = {"loss": 0.1, "rmse": 0.5, "mae": 0.4, "mase": 0.4, "skill": 0.555}


def fc_records(val=VAL, train=TRAIN):
    return [{"epoch": e, "step": 2 * e, "train_loss": t, "train_mase": t, "val_loss": v, "val_mase": v}
            for e, (v, t) in enumerate(zip(val, train, strict=True), 1)]


def test_a_stream_whose_later_epochs_overfit_past_the_restored_one_is_told_so():
    found = fit_findings(fc_records(), TRAIN_EVAL, FC, n_val=1, epoch=15)
    (f,) = found
    assert (f.check, f.severity) == ("overfit", "info")
    assert f.title == ("Early stopping restored epoch 15 of 45: the later epochs overfit (validation MASE 0.399 → "
                       "0.814 while training MASE fell); the tested model is epoch 15's")
    assert f.numbers["restored_epoch"] == 15 and f.numbers["val_mase"] == 0.399
    assert f.numbers["val_mase_last"] == 0.814 and f.numbers["rise"] == pytest.approx(0.415)
    assert f.numbers["train_mode_mase_restored_epoch"] == 0.442 and f.numbers["train_mode_mase_last"] == 0.367
    assert f.numbers["noise"] < 0.415
    assert "overfit" not in found.checked  # (nothing claims "no sign of overfitting")
    # The same wording as a classifier's or a regression's underfit from a restored epoch.
    assert f.title.startswith("Early stopping restored epoch 15 of 45: the later epochs ")


def test_no_sign_of_overfitting_stays_where_there_was_none():
    # later epochs that only wobble about the restored one's figure: nothing to tell
    wobble = VAL[:15] + [0.399 + (0.01 if i % 2 else -0.004) for i in range(30)]
    found = fit_findings(fc_records(wobble), TRAIN_EVAL, FC, n_val=1, epoch=15)
    assert found == [] and found.checked["overfit"] == "no sign of overfitting"
    # validation rose, but training rose with it (no overfit: training itself went wrong)
    found = fit_findings(fc_records(VAL, TRAIN[:15] + [0.5 + 0.01 * i for i in range(30)]), TRAIN_EVAL, FC,
                         n_val=1, epoch=15)
    assert found == [] and found.checked["overfit"] == "no sign of overfitting"
    # the last epoch kept (no epoch restored): judged as before
    found = fit_findings(fc_records(VAL[:15], TRAIN[:15]), TRAIN_EVAL, FC, n_val=1, epoch=15)
    assert found == [] and found.checked["overfit"] == "no sign of overfitting"
