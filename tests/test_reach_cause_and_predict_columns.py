"""A user's round (/tmp/u147): the underfit finding cited "gradient reach" for a per-step run whose
gradient reached 27 of its 30 steps back (the cause was too few steps), and per-step predict wrote
no class probabilities while its help promised them.

* Gradient reach is an underfit's cause only under ``FitThresholds.short_reach`` (half) of the
  steps the layer runs; per step it is said of a step's label, and the remedy names only what the
  config does not set yet.
* Per step, ``rnnlab predict`` writes a per-sequence run's columns with ``step`` after ``series``:
  the label and each class's probability, which give back the run's own test loss and accuracy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_task_per_step import tags

from rnnlab.cli import main
from rnnlab.config import load_config, parse_config
from rnnlab.doctor import FitThresholds, fit_findings
from rnnlab.introspect import GradThroughTime
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# The user's tags.toml, as the finding reads it: per-step labels, an LSTM with unit_forget_bias and
# recurrent batch norm, 150 steps.
TAGS = parse_config('[task]\nper_step = true\n[data]\npath = "tag_train.npz"\n[model]\nlayer = "lstm"\n'
                    'unit_forget_bias = true\nrecurrent_batch_norm = true\n[training]\nsteps = 150')
# Its records: the loss still falling at the end, as in the user's run.
RECORDS = [{"epoch": i + 1, "step": 15 * (i + 1), "train_loss": loss, "train_acc": acc}
           for i, (loss, acc) in enumerate(zip([1.11, 1.0, 0.9, 0.8, 0.75, 0.7, 0.66, 0.63, 0.62, 0.6],
                                               [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.68, 0.7, 0.71, 0.72], strict=True))]


def curve(factor: float, steps: int = 30) -> dict[str, GradThroughTime]:
    """A trained LSTM's |dLoss/dh_t| shrinking by ``factor`` per step back from the last of ``steps``."""
    g = factor ** np.arange(steps - 1.0, -1.0, -1.0)
    return {"model.rnn": GradThroughTime("model.rnn", "lstm", 1, ("forward",), {(0, "forward"): g[:, None]})}


def underfit(config, through_time):
    (f,) = fit_findings(RECORDS, {"acc": 0.733, "loss": 0.569}, config, through_time=through_time)
    assert f.check == "underfit"
    return f


def test_a_gradient_that_reaches_most_of_the_sequence_is_no_cause():
    # 0.77^27 < 1e-3 <= 0.77^26: the user's reach, 27 of 30 steps back
    assert curve(0.77)["model.rnn"].reach(FitThresholds().grad_rel) == 27
    f = underfit(TAGS, curve(0.77))
    assert "Too few steps" in f.message
    assert "Gradient reach" not in f.message and "keep the state longer" not in f.remedy
    assert "gradient_reach" not in f.numbers
    # at exactly half the sequence it still reaches most of it (0.63^15 < 1e-3 <= 0.63^14: 15 of 30)
    assert curve(0.63)["model.rnn"].reach(1e-3) == 15
    assert "Gradient reach" not in underfit(TAGS, curve(0.63)).message


def test_a_short_reach_is_a_cause_said_of_a_steps_label():
    # 0.5^10 < 1e-3 <= 0.5^9: 10 of 30 steps back, a third of the sequence
    f = underfit(TAGS, curve(0.5))
    assert (f.numbers["gradient_reach"], f.numbers["timesteps"]) == (10, 30)
    cause = f.message[f.message.index("Gradient reach"):]
    assert "a step's label that depends on inputs more than 10 steps before it cannot be learned" in cause
    # the remedy names what keeps the state longer that the config does not set already
    remedy = f.remedy[f.remedy.index("keep the state longer"):]
    assert 'model.recurrent_init = "orthogonal"' in remedy
    assert "unit_forget_bias" not in remedy  # (set already)
    assert "layer_norm" not in remedy  # (the layer refuses it beside recurrent batch norm)
    assert 'model.layer = "lstm"' not in remedy  # (an LSTM already)
    # a layer without those settings is told each of them
    bare = parse_config('[task]\nper_step = true\n[data]\npath = "t.npz"\n[model]\nlayer = "rnn"\n'
                        '[training]\nsteps = 150')
    remedy = underfit(bare, curve(0.5)).remedy
    assert 'model.layer = "lstm" or "gru"' in remedy and "model.layer_norm = true" in remedy
    # a threshold of its own moves the line: at a fifth of the sequence, 10 of 30 is no cause
    (f,) = fit_findings(RECORDS, {"acc": 0.733, "loss": 0.569}, TAGS, through_time=curve(0.5),
                        thresholds=FitThresholds(short_reach=0.2))
    assert "Gradient reach" not in f.message


def test_a_short_reach_of_a_last_step_classifier_says_how_much_of_the_sequence_it_misses():
    cfg = parse_config('[data]\ndataset = "GunPoint"\n[model.head]\npooling = "last"\n[training]\nsteps = 150')
    f = underfit(cfg, curve(0.5))
    assert "so the first 20 steps of a sequence barely shape the updates" in f.message
    assert "Gradient reach" not in underfit(cfg, curve(0.77)).message


# ------------------------------------------------------------------------------ predict, per step


def test_per_step_predictions_carry_each_class_probability(tmp_path):
    # Labels named like the fixed columns: a class "step" (and so every class) becomes p(CLASS).
    names = np.array(["a", "step", "c"])
    for split, n, seed in (("train", 48, 0), ("test", 16, 1)):
        d = tags(n=n, seed=seed)
        np.savez(tmp_path / f"{split}.npz", X=d["X"], y=names[d["y"]], lengths=d["lengths"])
    (tmp_path / "c.toml").write_text(
        f'[task]\nper_step = true\n[data]\npath = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"\n'
        "val_fraction = 0.25\n[model]\nhidden_size = 8\n[training]\nepochs = 4\nbatch_size = 8\nlr = 0.02\n"
        "[tracking]\nenabled = false\n")
    run = tmp_path / "run"
    train(load_config(tmp_path / "c.toml"), out=run, progress=False, log=None)  # (`rnnlab train`'s, less its report)
    assert main(["predict", str(run), "--data", str(tmp_path / "test.npz")]) == 0
    with open(run / "predictions.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["series", "step", "label", "p(a)", "p(c)", "p(step)"]
    test = np.load(tmp_path / "test.npz")
    lengths = test["lengths"]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(i, t) for i, n in enumerate(lengths) for t in range(n)]
    p = np.array([[float(v) for v in r[3:]] for r in rows])
    assert np.allclose(p.sum(axis=1), 1.0)
    classes = np.array(["a", "c", "step"])
    assert [r[2] for r in rows] == classes[p.argmax(axis=1)].tolist()  # the label is the likeliest class
    # the probabilities give back the test loss and accuracy the run reported for these steps
    truth = np.array([int(np.flatnonzero(classes == test["y"][int(r[0]), int(r[1])])[0]) for r in rows])
    reported = json.loads(Path(run / "summary.json").read_text())["test"]
    assert -np.log(p[np.arange(len(p)), truth]).mean() == pytest.approx(reported["loss"], rel=1e-4)
    assert np.mean(p.argmax(axis=1) == truth) == pytest.approx(reported["acc"], abs=1e-9)


def test_the_help_says_per_step_predictions_have_class_probabilities(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "series,step,label,<class probabilities>" in out
    assert "the label and each class's probability, or the values, of every series in FILE (per step: of every " \
           "step inside its series)" in out
