"""The regression template's mean guard (issue 21, ``[task] mean_guard``): a run whose model does
not beat the training mean on its validation part predicts the mean, and says so; one that does
keeps its model; keys that cannot apply are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config, template_for
from rnnlab.data import load_data
from rnnlab.errors import ConfigError
from rnnlab.task import task_for
from rnnlab.train.mean_guard import MARGIN, judge
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

GUARDED = """name = "guarded"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{train}"
test_path = "{test}"
normalize = "none"
val_fraction = 0.25
[model]
hidden_size = 8
[model.head]
pooling = "last"
[training]
epochs = 12
batch_size = 16
lr = 0.02
threads = 1
[tracking]
health = false
grads_every = 0
weights_every = 0
grad_through_time = false
"""


def _files(tmp: Path, signal: bool) -> tuple[Path, Path]:
    """120 series of 5 steps; the target a linear map of the steps (``signal``) or noise drawn
    apart from them."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 5, 1))
    y = X[:, :, 0] @ np.linspace(1.0, 2.0, 5) + 10 if signal else rng.standard_normal(120) * 3 + 10
    np.savez(tmp / "train.npz", X=X[:90], y=y[:90])
    np.savez(tmp / "test.npz", X=X[90:], y=y[90:])
    return tmp / "train.npz", tmp / "test.npz"


def test_judge_keeps_a_model_that_beats_the_mean_and_not_one_that_does_not():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((30, 1))
    assert judge(y + 0.3 * rng.standard_normal((30, 1)), y).kept
    noise = judge(rng.standard_normal((30, 1)), y)
    assert not noise.kept and noise.model_mse > noise.mean_mse and noise.z < MARGIN
    assert not judge(np.zeros((30, 1)), y).kept  # the mean itself: no improvement at all
    # a small gain on a few rows, within its noise, does not count
    small = judge(0.2 * y + rng.standard_normal((30, 1)) * 0.5, y)
    assert small.model_mse < small.mean_mse and not small.kept, small


@pytest.mark.parametrize("signal", [False, True], ids=["noise-target", "linear-target"])
def test_a_guarded_run_predicts_the_training_mean_only_when_its_model_does_not_beat_it(signal, tmp_path):
    train_file, test_file = _files(tmp_path, signal)
    cfg = parse_config(GUARDED.format(train=train_file, test=test_file))
    lines: list[str] = []  # what `rnnlab train` prints
    train(cfg, out=tmp_path / "run", log=lines.append, progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    guard = summary["mean_guard"]
    data = load_data(cfg.data, seed=cfg.training.seed, task=task_for(cfg))
    assert guard["kept"] is signal and guard["n_val"] == len(data.val), guard
    line = next(ln for ln in lines if ln.startswith("mean guard: "))
    y_test = np.load(test_file)["y"]
    mean_rmse = float(np.sqrt(np.mean((y_test - data.train.scale.mean[0]) ** 2)))
    if signal:
        assert line.endswith("the run keeps the model"), line
        assert summary["test"]["r2"] > 0.9 and summary["test"]["rmse"] < 0.5 * mean_rmse, summary["test"]
    else:
        assert "the run predicts the training mean (task.mean_guard)" in line, line
        # the test split gets the training part's mean: its RMSE is the mean predictor's, exactly
        assert summary["test"]["rmse"] == pytest.approx(mean_rmse, rel=1e-5), (summary["test"], mean_rmse)
        assert summary["train_eval"]["r2"] == pytest.approx(0.0, abs=1e-6)


def test_the_regression_template_guards_and_other_tasks_refuse_the_key():
    from test_bad_inputs import precise_error

    from rnnlab.train.final import final_config

    assert parse_config(template_for("regression")).task.mean_guard
    # the final run of a search or recipe trains on the whole training split: nothing to judge on
    assert not final_config(parse_config(template_for("regression")), Path("final")).task.mean_guard
    assert not any(parse_config(template_for(t)).task.mean_guard
                   for t in ("classification", "per-step-regression", "per-step-classification"))
    for text in ('[task]\nmean_guard = true\n[data]\ndataset = "GunPoint"',
                 '[task]\nkind = "regression"\nper_step = true\nmean_guard = true\n[data]\ndataset = "adding_problem"'):
        precise_error("mean-guard-elsewhere", lambda _t, text=text: parse_config(text), ConfigError,
                      ("'task.mean_guard' = true", 'kind = "regression" without per_step', "remove the key"), Path("."))


def test_the_cli_says_when_the_run_predicts_the_mean(tmp_path, capsys):
    from rnnlab.cli import main

    train_file, test_file = _files(tmp_path, signal=False)
    (tmp_path / "c.toml").write_text(GUARDED.format(train=train_file, test=test_file).replace("epochs = 12", "epochs = 2"))
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test rmse " in out and "(the training mean's: task.mean_guard)" in out, out


def test_a_guard_without_a_validation_split_is_a_one_line_error(tmp_path, capsys):
    from test_bad_inputs import one_line_error

    train_file, test_file = _files(tmp_path, signal=True)
    text = GUARDED.format(train=train_file, test=test_file).replace("val_fraction = 0.25", "val_fraction = 0.0")
    (tmp_path / "c.toml").write_text(text)
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")], capsys,
                   ("task.mean_guard = true", "needs one", "data.val_fraction > 0"))
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
