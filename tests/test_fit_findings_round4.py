"""Findings after training, fourth round: a classifier is judged against the majority-class rate
(the constant predictor), as a regression is against the training mean, so a model that labels
every series with the majority class of 95/5 data (accuracy 0.95) is not "a good fit"; and a
training loss still falling at the end, by the budget's own rule (:class:`FitRule`), puts "more
steps" first, not the learning rate or the model's capacity."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.doctor import FitThresholds, fit_findings
from rnnlab.train import train
from rnnlab.train.fit_budget import FitRule, underfit_check

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

GUNPOINT = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 300')


def records(losses, accs, step_every=50, **extra):
    return [{"epoch": i + 1, "step": step_every * (i + 1), "train_loss": loss, "train_acc": acc, **extra}
            for i, (loss, acc) in enumerate(zip(losses, accs, strict=True))]


# The user's 950/50 run (/tmp/u4/imbbig): every epoch 0.95, the majority class's share, on training
# and validation alike; the trained model labels every series "healthy".
IMB_LOSSES = [0.508, 0.219, 0.191, 0.185, 0.1816, 0.1774]
IMB = records(IMB_LOSSES, [0.8825] + [0.95] * 5, val_acc=0.95, val_loss=0.21)


def test_a_model_at_the_majority_rate_of_imbalanced_classes_did_not_fit():
    found = fit_findings(IMB, {"acc": 0.95, "loss": 0.175}, GUNPOINT, n_val=200, chance=0.95)
    (f,) = found
    assert f.check == "underfit"  # (0.95 reaches underfit_acc: judged on accuracy alone it "fit")
    assert f.numbers["majority_rate"] == 0.95
    # the title says the majority rate beside the accuracy: 0.95 is the constant predictor's score
    assert "training accuracy 0.950 (the majority class alone scores 0.950)" in f.title
    assert "The majority class" in f.message
    # remedies that exist: no class weights or balanced sampling in rnnlab, so the finding says so
    # instead of naming a key that does not exist
    assert "no class weights or balanced sampling" in f.remedy
    assert "class_weight" not in f.remedy
    assert "fit its training data" not in " ".join(found.checked.values())


def test_without_a_validation_part_the_training_majority_rate_judges_the_fit():
    # (the user's 190/10 run: no hold-out, so no chance; the caller passes the training part's rate)
    cfg = parse_config('[data]\ndataset = "GunPoint"\nval_fraction = 0.0\n[training]\nsteps = 300')
    recs = records([0.65, 0.45, 0.24, 0.15, 0.12, 0.1], [0.72, 0.95, 0.95, 0.95, 0.955, 0.96])
    (f,) = fit_findings(recs, {"acc": 0.97, "loss": 0.09}, cfg, majority=0.95)
    assert f.check == "underfit" and "(the majority class alone scores 0.950)" in f.title
    # 0.97 removes 40 % of the constant predictor's 5 % errors: below underfit_majority's half
    assert FitThresholds().underfit_majority == 0.5
    fitted = fit_findings(recs, {"acc": 0.98, "loss": 0.05}, cfg, majority=0.95)
    assert list(fitted) == []
    assert fitted.checked["underfit"] == ("the model fit its training data in 300 steps (training accuracy 0.980; "
                                          "the majority class alone scores 0.950)")


def test_balanced_classes_keep_the_accuracy_bar_and_say_nothing_of_a_majority():
    recs = records([0.7, 0.3, 0.1, 0.05, 0.04, 0.03], [0.6, 0.9, 0.97, 0.97, 0.97, 0.97])
    fitted = fit_findings(recs, {"acc": 0.96, "loss": 0.03}, GUNPOINT, majority=0.5)
    assert list(fitted) == [] and fitted.checked["underfit"] == "the model fit its training data in 300 steps"
    (f,) = fit_findings(recs, {"acc": 0.9, "loss": 0.03}, GUNPOINT, majority=0.5)
    assert "majority" not in f.title and "class balance" not in f.message


MANY = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 100\n[adapt]\nbudget = true\n'
                    'max_steps = 100')


def test_a_loss_still_falling_by_the_budget_rule_puts_more_steps_first_not_capacity():
    # The user's 60 classes × 3 series at 1200 steps: the loss fell 9 % over the last quarter (the
    # budget printed "still falling"), the finding blamed capacity; at 2400 steps the model fit.
    cfg = MANY.model_copy(update={"training": MANY.training.model_copy(update={"steps": 1200}),
                                  "adapt": MANY.adapt.model_copy(update={"max_steps": 1200})})
    losses = [4.24 * 0.996 ** i for i in range(100)]
    recs = records(losses, [0.9] * 100, step_every=12)
    drop = 1 - 0.996 ** 25  # 9.5 %: the mean of the last quarter against the quarter before
    (f,) = fit_findings(recs, {"acc": 0.911, "loss": losses[-1]}, cfg)
    assert f.numbers["loss_drop_last_quarter"] == pytest.approx(drop)
    assert "(1) Too few steps" in f.message and "Capacity" not in f.message
    assert f.remedy.startswith("(1) train longer: raise adapt.max_steps (now 1200)")
    assert "training.steps = 1200" in f.remedy


def test_a_loss_that_hardly_fell_but_still_falls_puts_more_steps_before_the_learning_rate():
    # The user's 108-step run: 4.24 -> 3.845 (above 0.9 of the first epoch: "hardly fell"), yet
    # falling 2.1 % over the last quarter, which the budget counts as still falling.
    losses = [4.241, 4.213, 4.144, 4.084, 4.022, 3.96, 3.913, 3.865, 3.845]
    recs = records(losses, [0.02] * 9, step_every=12)
    (f,) = fit_findings(recs, {"acc": 0.03, "loss": 3.83}, MANY)
    assert f.numbers["loss_drop_last_quarter"] > FitRule().still_falling
    assert "(1) Too few steps" in f.message and "(2) The learning rate" in f.message
    assert f.remedy.startswith("(1) train longer: raise adapt.max_steps (now 100)")
    assert "training.steps = 100" in f.remedy


@pytest.mark.parametrize("rate", [0.9995, 0.9993, 0.999, 0.998, 0.996, 0.99])
def test_the_finding_and_the_budget_judge_still_falling_by_one_rule(rate):
    # 1000 steps of a loss that fell from 2 to 1 in the first epoch, then by `rate` an epoch: only its
    # drop over the last quarter (1 - rate ** 25: 1.2 % to 22 %) decides whether it still falls
    losses = [2.0] + [1.0 * rate ** i for i in range(99)]
    recs = records(losses, [0.8] * 100, step_every=10)
    cfg = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 1000')
    (f,) = fit_findings(recs, {"acc": 0.8, "loss": losses[-1]}, cfg)
    still, _ = underfit_check(recs, {"acc": 0.8, "loss": losses[-1]}, cfg, FitRule())
    assert ("(1) Too few steps" in f.message) == still
    assert ("Capacity" in f.message) == (not still)


def test_a_trained_model_that_labels_every_series_with_the_majority_class_underfits(tmp_path):
    # end to end: inputs of pure noise, 19 in 20 series one class (the stratified hold-out: 6 of the
    # 30 minority series), as in the user's 950/50 run
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 12, 1)).astype(np.float32)
    y = np.array([0] * 570 + [1] * 30)
    np.savez(tmp_path / "imb.npz", X=X, y=y)
    cfg = parse_config(f"""
[data]
path = "{tmp_path / 'imb.npz'}"
val_fraction = 0.2
[model]
hidden_size = 4
[training]
steps = 60
batch_size = 32
lr = 0.01
[tracking]
weights_every = 0
grads_every = 0
health = false
grad_through_time = false
""")
    result = train(cfg, out=tmp_path / "run", progress=False, log=None)
    assert result.train_eval["acc"] == pytest.approx(0.95)  # every series labelled with the majority class
    (f,) = [g for g in result.findings if g.check in ("underfit", "no_signal")]
    assert f.check == "underfit" and "(the majority class alone scores 0.950)" in f.title
