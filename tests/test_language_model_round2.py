"""Language models, second round (a new user's test): overfitting found and named in the task's
terms (and a forecaster's), "no findings" claiming only what was checked, the prompt continued as
typed, a finite temperature, the report's score panel and like-with-like loss panel, a stop after
the last epoch that says how to continue, and messages that count and name things one way."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_language_model import TEXT

from rnnlab.cli import main
from rnnlab.config import DataConfig, load_config, parse_config
from rnnlab.data.text import EOS, load_text, tokenize
from rnnlab.doctor.fit import FitThresholds, fit_findings
from rnnlab.errors import DataError
from rnnlab.plots.metrics import plot_metrics
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

LM = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"')
#: The per-epoch validation and training bits per token of the new user's run (small.txt, 128
#: units, no regularizer): validation best at epoch 3, then worse at every epoch.
VAL_BPC = [4.009, 3.707, 3.600, 3.611, 3.743, 3.995, 4.196, 4.319, 4.580, 4.816, 4.770, 4.919, 5.041]
TRAIN_BPC = [4.955, 3.429, 2.761, 2.252, 1.830, 1.488, 1.236, 1.041, 0.906, 0.774, 0.756, 0.623, 0.560]
LN2 = math.log(2)


def lm_records(val=VAL_BPC, train=TRAIN_BPC):
    return [{"epoch": e, "step": 32 * e, "train_loss": t * LN2, "train_bpc": t, "train_ppl": 2 ** t,
             "val_loss": v * LN2, "val_bpc": v, "val_ppl": 2 ** v} for e, (v, t) in enumerate(zip(val, train), 1)]


def write(tmp, training="steps = 8", model="hidden_size = 8", data="", tracking="enabled = false", lr=0.01):
    """A language model on a few hundred characters of Python's documentation (its [data] path)."""
    (tmp / "text.txt").write_text(TEXT, encoding="utf-8")
    path = tmp / "lm.toml"
    path.write_text(f'name = "lm"\n[task]\nkind = "language_model"\n[data]\npath = "text.txt"\nbptt = 16\n'
                    f'streams = 4\n{data}\n[model]\n{model}\n[training]\nlr = {lr}\n{training}\n'
                    f'[tracking]\n{tracking}\n', encoding="utf-8")
    return path


def bits(value: float) -> dict[str, float]:
    return {"loss": value * LN2, "bpc": value, "ppl": 2 ** value}


# ------------------------------------------------------------------------------ 1, 6: the fit findings


def test_a_language_model_whose_validation_climbs_from_its_best_epoch_overfits():
    found = fit_findings(lm_records(), bits(0.395), LM, n_val=1, unigram=3.11)
    (f,) = found
    assert f.check == "overfit" and f.title.startswith("The language model overfits: training bits per token 0.395, "
                                                       "validation bits per token 5.041 at epoch 13")
    assert f.numbers["best_val_epoch"] == 3 and f.numbers["rise"] == pytest.approx(5.041 - 3.600)
    # the remedies this task has, at strengths the config does not have yet; no embedding dropout for characters
    for remedy in ("training.early_stopping.patience", "model.input_dropout", "model.weight_drop", "training.ar",
                   "training.tar"):
        assert remedy in f.remedy
    assert "embedding_dropout" not in f.remedy and "head.dropout" not in f.remedy
    # ... and what the config already has is not advised again
    awd = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[model]\nweight_drop = 0.5\n'
                       '[training]\nar = 2.0\ntar = 1.0\n[training.early_stopping]\npatience = 20')
    (g,) = fit_findings(lm_records(), bits(0.395), awd, n_val=1, unigram=3.11)
    assert "weight_drop" not in g.remedy and "training.ar" not in g.remedy and "patience" not in g.remedy


def test_a_language_model_whose_validation_only_wobbles_is_not_called_overfit():
    from rnnlab.doctor.fit import fit_verdict

    falling = [4.0, 3.5, 3.2, 3.0, 2.95, 2.97, 2.94, 2.96]  # a plateau's wobble after its fall
    found = fit_findings(lm_records(falling, TRAIN_BPC[:8]), bits(2.5), LM, n_val=1, unigram=3.11)
    assert found == [] and found.checked["overfit"] == "no sign of overfitting"
    # two validated epochs tell nothing of a trend: the check does not run, and nothing claims it did
    short = fit_findings(lm_records(VAL_BPC[:2], TRAIN_BPC[:2]), bits(3.4), LM, n_val=1, unigram=3.11)
    assert short == [] and "overfit" not in short.checked and "overfitting" not in fit_verdict(short.checked)


def test_a_forecaster_whose_validation_mase_climbs_overfits():
    from rnnlab.config import template_for

    cfg = parse_config(template_for("forecasting").replace("patience = 30", "patience = 0"))
    records = [{"epoch": e, "step": 10 * e, "train_loss": 1 / e, "train_mase": 1.0 / e, "val_loss": v,
                "val_mase": v} for e, v in enumerate([1.2, 0.9, 0.8, 0.85, 0.95, 1.1, 1.3, 1.5], 1)]
    (f,) = fit_findings(records, {"loss": 0.1, "rmse": 1.0, "mae": 0.9, "mase": 0.12, "skill": 0.8}, cfg, n_val=1)
    assert f.check == "overfit" and f.title.startswith("The forecaster overfits: training MASE 0.120, validation "
                                                       "MASE 1.500 at epoch 8 (best 0.800, at epoch 3)")
    assert "training.early_stopping.patience" in f.remedy


def test_the_underfit_numbers_are_in_bits_as_its_title():
    (f,) = fit_findings(lm_records([4.0, 3.9, 3.9], [4.4, 4.3, 4.25]), {"loss": 4.25, "bpc": 4.25 / LN2, "ppl": 70.0},
                        LM, n_val=1, unigram=3.11)
    assert f.check == "underfit" and f"{4.25 / LN2:.3f} bits per token" in f.title
    assert f.numbers["train_bpc"] == pytest.approx(4.25 / LN2)
    assert f.numbers["unigram_entropy_bpc"] == pytest.approx(3.11 / LN2)
    assert "train_loss" not in f.numbers and "unigram_entropy" not in f.numbers  # (nats, unlabelled)


def test_few_validation_sequences_with_a_gap_are_not_called_free_of_overfitting():
    from rnnlab.doctor.fit import fit_verdict

    cfg = parse_config('[data]\ndataset = "GunPoint"')
    recs = [{"epoch": 1, "step": 900, "train_loss": 0.02, "train_acc": 1.0, "val_loss": 2.0, "val_acc": 0.5}]
    found = fit_findings(recs, {"acc": 1.0, "loss": 0.01}, cfg, n_val=4, thresholds=FitThresholds())
    assert found == [] and "no sign of overfitting" not in fit_verdict(found.checked)
    assert found.checked["overfit"].startswith("overfitting not judged: validation accuracy 0.500 against training "
                                               "accuracy 1.000 on only 4 validation sequences")


def test_the_cli_names_the_overfit_of_a_language_model(tmp_path, capsys):
    # 96 units on a few hundred characters: validation is best after 5 epochs and worse at every
    # later one (2.77 bits per character, then 3.90 at epoch 20)
    config = write(tmp_path, training="steps = 160", model="hidden_size = 96", data="test_fraction = 0.0", lr=0.02)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "[WARNING] The language model overfits: training bits per token" in out
    assert "no sign of overfitting" not in out
    # two epochs: the overfit check does not run, and the last line does not say it found nothing
    short = write(tmp_path, training="steps = 12", model="hidden_size = 96", lr=0.02)
    assert main(["train", str(short), "--out", str(tmp_path / "short"), "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads((tmp_path / "short" / "summary.json").read_text())["epochs"] == 2
    assert last.startswith("after training: ") and "overfitting" not in last
    # summary.json keeps what each check that ran found, for the report (tests/test_fit.py reads it there)
    checked = json.loads((tmp_path / "short" / "summary.json").read_text())["fit_checked"]
    assert "overfit" not in checked and "underfit" in checked


def test_the_plan_names_a_streams_rows_not_series():
    from rnnlab.train.trainer import plan_warnings

    lm = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\nstreams = 4\n'
                      '[tracking]\ninspect_steps = 10')
    assert plan_warnings(lm, 10, 500) == [
        "tracking: the health checks and the gradient through time look at the first 10 of the 500 tokens of each "
        "of the 4 rows the training text is cut into (tracking.inspect_steps: their time and memory grow with it)"]


# ------------------------------------------------------------------------------ 2, 4: sample


def test_a_prompt_is_continued_as_typed(tmp_path, capsys, monkeypatch):
    assert tokenize("three", "word", open_end=True) == ["three"]
    assert tokenize("one two\nthree\n", "word", open_end=True) == ["one", "two", EOS, "three", EOS]
    assert tokenize("one two\nthree", "word") == ["one", "two", EOS, "three", EOS]  # a text's lines all end
    config = write(tmp_path, data='tokens = "word"\ntest_fraction = 0.0')
    run = tmp_path / "run"
    train(load_config(config), out=run, progress=False, log=None)  # (`rnnlab train`'s run, less its report)
    import rnnlab.train.model as model_module

    seen: list[list[int]] = []
    built = model_module.build_model

    def spying(*args, **kwargs):  # the ids the model reads first: the prompt's
        model = built(*args, **kwargs)
        model.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0][0, :, 0].long().tolist()))
        return model

    monkeypatch.setattr(model_module, "build_model", spying)
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "The quick zebra", "--length", "3"]) == 0
    out, err = capsys.readouterr()
    assert len(seen[0]) == 3  # the three words, no <eos> after them: the line goes on
    assert out.startswith("The quick zebra") and "of 3 tokens not in the training text's vocabulary" in err


def test_a_temperature_that_is_not_finite_is_refused(tmp_path, capsys):
    one_line_error(["sample", str(tmp_path), "--temperature", "inf"], capsys,
                   ("--temperature", "expected a finite number > 0", "got inf"))


# ------------------------------------------------------------------------------ 3: the report's panels


def test_the_score_panel_and_a_loss_panel_of_like_with_like():
    records = lm_records()
    fig = plot_metrics(records)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "bits per token (perplexity), the score"]
    loss, score = fig.axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train cross-entropy (train_bpc · ln 2)",
                                                                    "val_loss"]
    assert np.allclose(loss.lines[0].get_ydata(), np.array(TRAIN_BPC) * LN2)  # nats, as val_loss
    assert [t.get_text() for t in score.get_legend().get_texts()] == ["train_bpc", "val_bpc"]
    assert score.yaxis.get_major_formatter()(4.0, 0) == "4 (16)"  # perplexity beside bits
    # with AR/TAR in the minimized loss, train_loss is drawn apart and says what it holds
    penalized = [{**r, "train_loss": r["train_loss"] + 0.3} for r in records]
    labels = [t.get_text() for t in plot_metrics(penalized).axes[0].get_legend().get_texts()]
    assert labels == ["train_loss (minimized: penalties included)", "train cross-entropy (train_bpc · ln 2)",
                      "val_loss"]


# ------------------------------------------------------------------------------ 5: a stop after the last epoch


def test_a_stop_during_the_evaluation_after_training_says_resume_continues(tmp_path, capsys, monkeypatch):
    from rnnlab.train import trainer

    config = write(tmp_path)
    run = tmp_path / "run"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "_finish", stopped)
    assert main(["train", str(config), "--out", str(run), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"rnnlab train: interrupted by SIGINT; the checkpoint {run / 'checkpoints' / 'last.pt'} is "
                   "written: --resume continues from it")
    monkeypatch.undo()
    assert main(["train", str(config), "--out", str(run), "--quiet", "--resume"]) == 0
    assert json.loads((run / "summary.json").read_text())["test"]["bpc"] > 0


# ------------------------------------------------------------------------------ 7, 8: words and names


def test_the_training_part_is_counted_one_way_in_both_messages(tmp_path):
    text = "abcdefghij" * 5  # 40 training tokens (val 0.2): 39 inputs with a next token
    (tmp_path / "t.txt").write_text(text)
    messages = []
    for data in ({"bptt": 64, "streams": 1}, {"bptt": 16, "streams": 4}):
        with pytest.raises(DataError) as e:
            load_text(DataConfig(path=str(tmp_path / "t.txt"), test_fraction=0.0, **data))
        messages.append(str(e.value))
    for message in messages:
        assert "the training part holds 40 tokens, 39 of them inputs with a next token" in message
    assert messages[0].startswith("data.bptt:") and messages[1].startswith("data.streams:")


def test_init_reads_task_names_with_either_separator(tmp_path, capsys):
    for given, kind, per_step in (("language-model", "language_model", False),
                                  ("per_step_regression", "regression", True), ("per-step-regression", "regression", True)):
        path = tmp_path / f"{given}.toml"
        assert main(["init", str(path), "--task", given]) == 0
        cfg = parse_config(path.read_text())
        assert (cfg.task.kind, cfg.task.per_step) == (kind, per_step)
    line = one_line_error(["init", str(tmp_path / "x.toml"), "--task", "language_model", "--dataset", "GunPoint"],
                          capsys, ("--dataset: 'GunPoint' is a classification data set", "--task language_model"))
    assert "data.dataset" not in line
    assert main(["init", str(tmp_path / "docs.toml"), "--task", "language-model", "--dataset", "python-docs"]) == 0


def test_doctor_names_the_rows_of_a_text(tmp_path, capsys):
    config = write(tmp_path, tracking="inspect_steps = 8")
    assert main(["doctor", str(config), "--steps", "0"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("the health checks look at the first 8 of the ")
    assert first.endswith(" tokens of each of the 4 rows the training text is cut into (data.streams; "
                          "tracking.inspect_steps)")
