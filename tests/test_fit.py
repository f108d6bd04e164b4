"""Findings after training: runs built to underfit (stopped after a few steps, heavily regularized)
or to overfit (random labels) get them, with causes read from their records and remedies naming
config keys; healthy runs get none. They land in health.json next to the findings before training
and in the CLI's last lines."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.doctor import Finding, FitThresholds, Report, fit_findings
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def config(data: str, model: str = "", training: str = "", health: bool = True, hidden: int = 16):
    return parse_config(f"""
[data]
{data}
[model]
hidden_size = {hidden}
{model}
[training]
batch_size = 8
{training}
[tracking]
weights_every = 0
grads_every = 0
health = {"true" if health else "false"}
""")


UNITTEST = 'dataset = "UnitTest"\nval_fraction = 0.25'


def run(cfg, out):
    return train(cfg, out=out, progress=False, log=None)


def test_a_run_stopped_after_a_few_steps_underfits_for_lack_of_steps(tmp_path):
    result = run(config('dataset = "GunPoint"\nval_fraction = 0.0', training="steps = 3\nlr = 0.01"), tmp_path)
    (f,) = result.findings
    assert f.check == "underfit" and f.phase == "after_training" and f.severity == "warning"
    assert f.numbers["steps"] == 7 == result.final["step"]  # ceil(3 / 7) = 1 epoch of 7 steps
    assert f.numbers["train_acc"] == result.train_eval["acc"] < 0.95
    assert "Too few steps: only 7 optimizer steps" in f.message
    assert f.remedy.startswith("(1) train longer: set training.steps = 2000 (now training.steps = 3")
    # health.json keeps the findings from before training and marks each phase
    stored = Report.read(tmp_path).findings
    assert stored[0] == f
    assert {g.phase for g in stored} <= {"after_training", "before_training"}


def test_a_run_its_caller_stopped_is_not_judged_on_fit(tmp_path):
    # The same too-short run, but ended by on_epoch (what a search's pruner does): no underfit.
    cfg = config('dataset = "GunPoint"\nval_fraction = 0.2', training="steps = 300\nlr = 0.01")
    result = train(cfg, out=tmp_path, progress=False, log=None, on_epoch=lambda record: record["epoch"] == 1)
    assert result.epochs == 1 and result.train_eval["acc"] < 0.95
    (f,) = result.findings
    assert f.check == "stopped" and f.severity == "info" and f.phase == "after_training"
    assert f.title == f"Stopped by its caller after 1 epoch ({result.final['step']} optimizer steps): fit not judged"
    assert Report.read(tmp_path).findings[0] == f


def test_a_heavily_regularized_model_underfits_and_the_cause_names_the_keys(tmp_path):
    cfg = config(UNITTEST, model="recurrent_dropout = 0.6",
                 training="steps = 300\nlr = 0.01\nweight_decay = 50.0")
    result = run(cfg, tmp_path)
    (f,) = [g for g in result.findings if g.check == "underfit"]
    assert f.numbers["strong_regularization"] == {"model.recurrent_dropout": 0.6, "training.weight_decay": 50.0}
    assert "lower model.recurrent_dropout, lower training.weight_decay" in f.remedy
    assert "Too few steps" not in f.message  # 300 steps and a flat loss: not the budget


def test_random_labels_have_no_signal_not_an_overfit_to_regularize(tmp_path):
    # (the model learns its random training labels by heart; regularizing or stopping early cannot
    # make it generalise: the finding says the labels may carry no signal)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 12, 3)).astype(np.float32), rng.integers(0, 2, size=80)
    np.savez(tmp_path / "noise.npz", X=X, y=y)
    cfg = config(f'path = "{tmp_path / "noise.npz"}"\nval_fraction = 0.25', hidden=48,
                 training="steps = 800\nlr = 0.01")
    result = run(cfg, tmp_path / "run")
    assert result.train_eval["acc"] > 0.95
    (f,) = result.findings
    assert f.check == "no_signal" and f.numbers["n_val"] == 20
    assert 0.5 <= f.numbers["chance"] < 1  # (the majority class's share of the 20 validation series)
    assert f.numbers["best_val_acc"] <= f.numbers["chance"] + f.numbers["noise_2se"]
    assert "check the labels" in f.remedy and "model.recurrent_dropout" not in f.remedy


def test_healthy_runs_have_no_findings_after_training(tmp_path, capsys):
    cfg = config(UNITTEST, model="[model.head]\npooling = 'mean'", training="steps = 400\nlr = 0.01")
    result = run(cfg, tmp_path / "unittest")
    assert result.train_eval["acc"] == 1.0 and result.findings == []
    assert all(f.phase == "before_training" for f in Report.read(tmp_path / "unittest"))
    # the CLI's last line says so
    path = tmp_path / "c.toml"
    path.write_text(f'[data]\n{UNITTEST}\n[model]\nhidden_size = 16\n[model.head]\npooling = "mean"\n'
                    f'[training]\nsteps = 400\nbatch_size = 8\n'
                    f'lr = 0.01\n[tracking]\nweights_every = 0\ngrads_every = 0\n[output]\ndir = "{tmp_path / "cli"}"\n')
    assert main(["train", str(path), "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "after training: no findings (the model fit its training data in 400 steps; no sign of overfitting)"
    report = (tmp_path / "cli" / "report.html").read_text(encoding="utf-8")
    assert "No findings: the model fit its training data in 400 steps; no sign of overfitting." in report
    # without a validation part nothing says whether it overfits: neither line claims it does not
    path.write_text(path.read_text().replace("val_fraction = 0.25", "val_fraction = 0")
                    .replace(str(tmp_path / "cli"), str(tmp_path / "no-val")))
    assert main(["train", str(path), "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("after training: no findings (the model fit its training data in ") and last.endswith(" steps)")
    report = (tmp_path / "no-val" / "report.html").read_text(encoding="utf-8")
    assert "(overfitting was not judged)" in report and "no sign of overfitting" not in report


def test_the_cli_ends_with_the_underfit_finding(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(f'[data]\n{UNITTEST}\n[model]\nhidden_size = 4\n[training]\nsteps = 2\n'
                    f'[tracking]\nenabled = false\n[output]\ndir = "{tmp_path / "cli"}"\n')
    assert main(["train", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("After training: 1 warning"):]
    assert "[WARNING] The model did not fit its training data" in tail and "remedy:  (1) train longer" in tail


def records(losses, accs=None, step_every=10, **extra):
    return [{"epoch": i + 1, "step": step_every * (i + 1), "train_loss": loss,
             "train_acc": (accs or [0.5] * len(losses))[i], **extra} for i, loss in enumerate(losses)]


GUNPOINT = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 1000')


def test_causes_by_hand():
    # a loss that hardly fell over 1000 steps: the learning rate, not the budget
    (f,) = fit_findings(records([0.70, 0.69] * 50), {"acc": 0.5, "loss": 0.69}, GUNPOINT)
    assert "The learning rate" in f.message and "Too few steps" not in f.message
    assert "change training.lr (now 0.001)" in f.remedy
    # a loss still falling fast at the end: too few steps, even with many of them
    falling = [1.0 * 0.97 ** i for i in range(100)]
    (f,) = fit_findings(records(falling), {"acc": 0.8, "loss": falling[-1]}, GUNPOINT)
    assert "still falling" in f.message and f.numbers["loss_drop_last_quarter"] > 0.1
    assert "set training.steps = 4000" in f.remedy
    # the budget that follows the fit took the run to adapt.max_steps: raising training.steps is not the remedy
    adapted = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 250\n[adapt]\nbudget = true\n'
                           'max_steps = 1000')
    (f,) = fit_findings(records(falling), {"acc": 0.8, "loss": falling[-1]}, adapted)
    assert "raise adapt.max_steps (now 1000)" in f.remedy and "(training.steps = 250 is where it starts)" in f.remedy
    assert "set training.steps" not in f.remedy
    ragged = adapted.model_copy(update={"adapt": adapted.adapt.model_copy(update={"max_steps": 1005})})
    (f,) = fit_findings(records(falling), {"acc": 0.8, "loss": falling[-1]}, ragged)  # the cap in whole epochs: 1000
    assert "raise adapt.max_steps (now 1005)" in f.remedy
    # dead units found before training are named, with the doctor's remedy
    dead = Finding("dead_relu", "warning", "80% of ReLU units dead in 'head.1'", remedy="Lower training.lr.")
    (f,) = fit_findings(records([0.7, 0.69] * 50), {"acc": 0.5, "loss": 0.69}, GUNPOINT, before=[dead])
    assert "Dead units before training: 80% of ReLU units dead" in f.message and "Lower training.lr." in f.remedy


def test_a_model_that_fits_in_training_mode_only_is_told_about_batch_norm():
    # training-mode accuracy 0.97 in the last epoch, 0.28 in eval mode on the same sequences
    falling = [1.0 * 0.97 ** i for i in range(100)]
    recs = records(falling, accs=[0.5] * 99 + [0.97])
    (f,) = fit_findings(recs, {"acc": 0.28, "loss": 6.7}, GUNPOINT)
    assert f.numbers["train_mode_acc"] == 0.97
    assert f.message.split("(1) ")[1].startswith("Training mode against eval mode: in its last epoch")
    assert 'data.normalize = "per_series"' in f.remedy and "Too few steps" not in f.message
    assert 'norm = "layer"' not in f.remedy  # (GUNPOINT's config has no front-end to change)
    # the template already scales each series: the remedies are what it does not do yet
    from rnnlab.config import TEMPLATE

    (f,) = fit_findings(recs, {"acc": 0.28, "loss": 6.7}, parse_config(TEMPLATE))
    assert "per_series" not in f.remedy and 'norm = "layer"' in f.remedy
    assert "model.recurrent_batch_norm = false" in f.remedy and "model.zoneout = 0.1" in f.remedy
    # early stopping restored an earlier epoch: the figures named are that epoch's
    (f,) = fit_findings(records(falling, accs=[0.97] * 100), {"acc": 0.28, "loss": 6.7}, GUNPOINT, epoch=6)
    assert "Training mode against eval mode: at epoch 6, which early stopping restored, the model" in f.message


def test_no_overfit_finding_when_the_gap_is_within_chance():
    healthy = records([0.1] * 10, accs=[1.0] * 10, val_acc=0.8, val_loss=0.4)
    # 0.2 below training on 10 validation sequences: within two standard errors (0.25)
    assert fit_findings(healthy, {"acc": 1.0, "loss": 0.05}, GUNPOINT, n_val=10) == []
    (f,) = fit_findings(healthy, {"acc": 1.0, "loss": 0.05}, GUNPOINT, n_val=200)
    assert f.check == "overfit" and f.numbers["noise_2se"] < 0.06
    assert fit_findings(healthy, {"acc": 1.0, "loss": 0.05}, GUNPOINT, n_val=200,
                        thresholds=FitThresholds(overfit_gap=0.25)) == []
