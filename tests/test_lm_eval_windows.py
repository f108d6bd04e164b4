"""A stream's evaluation (language model, forecasting) reads its rows in windows along time,
carrying each row's state from a window to the next: the figures of one pass over the whole
rows, in the memory of one window; and a stream's epoch resumed within itself records the time
spent on it in both sessions (a stream's exact ``training.steps``: tests/test_stream_exact_steps.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from test_kill_resume import ROOT, last_step
from torch import nn

from rnnlab.config import ModelConfig, parse_config
from rnnlab.data import load_data
from rnnlab.data.bundled import Sequences
from rnnlab.rundir import read_jsonl
from rnnlab.task import FORECASTING, LANGUAGE_MODEL, TargetScale, task_for
from rnnlab.train import load_checkpoint, train
from rnnlab.train.model import build_model
from rnnlab.train.trainer import evaluate, split_outputs

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def one_pass(model: nn.Module, split: Sequences, task) -> dict[str, float]:
    """The figures of one forward over each batch's whole rows (``split_outputs`` unwindowed)."""
    tally = task.tally(split.scale)
    for out, y in split_outputs(model, split):
        tally.add(out, y)
    return tally.result()


class LongestOutput:
    """The most steps any ``Linear`` with ``width`` outputs gave in one call without gradients
    (evaluation), over every module (a global forward hook: the model the trainer builds too)."""

    def __init__(self, width: int) -> None:
        self.width, self.steps, self.calls = width, 0, 0

    def __enter__(self) -> LongestOutput:
        self.handle = nn.modules.module.register_module_forward_hook(self.hook)
        return self

    def hook(self, module: nn.Module, _inputs, output) -> None:
        if isinstance(module, nn.Linear) and module.out_features == self.width and not torch.is_grad_enabled():
            self.steps = max(self.steps, output.shape[1] if output.dim() == 3 else 1)
            self.calls += 1

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def words(n: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(40)]
    # (a little structure: each word is often followed by the next one of the list)
    ids = [0]
    for _ in range(n - 1):
        ids.append((ids[-1] + 1) % 40 if rng.random() < 0.6 else int(rng.integers(40)))
    return " ".join(vocab[i] for i in ids)


@pytest.mark.parametrize("ensemble", [1, 2])
def test_language_model_windowed_evaluation_equals_one_pass(ensemble):
    torch.manual_seed(0)
    model = build_model(ModelConfig(layer="lstm", hidden_size=6, embedding_size=5, num_layers=2, ensemble=ensemble),
                        1, 11, per_step=True)
    ids = np.random.default_rng(1).integers(0, 11, (3, 61))
    y = np.roll(ids, -1, axis=1)
    y[0, :9] = -100  # a warm-up that scores nothing (as a validation block's first bptt tokens)
    text = Sequences(ids[..., None].astype(np.float32), y, np.full(3, 61), [str(i) for i in range(11)])
    whole = one_pass(model, text, LANGUAGE_MODEL)
    with LongestOutput(11) as seen:
        windowed = evaluate(model, text, LANGUAGE_MODEL, window=7)
    assert windowed == pytest.approx(whole, rel=1e-5, abs=1e-6)
    assert seen.steps == 7 and seen.calls >= ensemble * 9  # 61 steps in 9 windows, none longer than 7


def test_forecasting_windowed_evaluation_of_rows_of_different_lengths_equals_one_pass():
    # A forecaster's validation rows are its series, padded at the end (NaN targets there).
    torch.manual_seed(0)
    model = build_model(ModelConfig(layer="gru", hidden_size=5), 2, 3, per_step=True, values=True)
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(3, 40, 2)).astype(np.float32), rng.normal(size=(3, 40, 3)).astype(np.float32)
    lengths = np.array([40, 23, 6])
    for i, n in enumerate(lengths):
        X[i, n:], Y[i, n:] = 0, np.nan
    Y[:, :4] = np.nan  # (steps before the block score nothing)
    split = Sequences(X, Y, lengths, [], TargetScale(np.zeros(3), np.ones(3), np.ones(3)))
    with LongestOutput(3) as seen:
        windowed = evaluate(model, split, FORECASTING, window=9)
    assert windowed == pytest.approx(one_pass(model, split, FORECASTING), rel=1e-5, abs=1e-7)
    assert seen.steps == 9


def test_evaluate_reads_a_long_text_in_bounded_windows_by_default(tmp_path):
    # The user's evaluate(model, data.val, task), with no window: the long validation block is
    # not one call's outputs.
    (tmp_path / "t.txt").write_text(words(1500), encoding="utf-8")
    config = parse_config(f'[task]\nkind = "language_model"\n[data]\npath = "{tmp_path / "t.txt"}"\ntokens = "word"\n'
                          "bptt = 10\nstreams = 2\nval_fraction = 0.4\n[model]\nhidden_size = 6")
    task = task_for(config)
    data = load_data(config.data, seed=0, task=task)
    assert data.val.X.shape[1] > 300
    model = build_model(config.model, 1, len(data.classes), per_step=True)
    with LongestOutput(len(data.classes)) as seen:
        windowed = evaluate(model, data.val, task)
    assert 0 < seen.steps <= 256
    assert windowed == pytest.approx(one_pass(model, data.val, task), rel=1e-5)


LM = """
[task]
kind = "language_model"
[data]
path = "{data}"
tokens = "word"
bptt = 12
streams = 3
val_fraction = 0.2
test_fraction = 0.2
[model]
hidden_size = 8
embedding_size = 8
tie_weights = true
[training]
epochs = 2
lr = 0.01
seed = 0
threads = 1
[tracking]
health = false
grad_through_time = false
"""


def test_training_evaluates_in_its_bptt_windows_with_the_one_pass_figures(tmp_path):
    (tmp_path / "t.txt").write_text(words(1200), encoding="utf-8")
    config = parse_config(LM.replace("{data}", str(tmp_path / "t.txt")))
    task = task_for(config)
    data = load_data(config.data, seed=0, task=task)
    assert min(data.train.X.shape[1], data.val.X.shape[1], data.test.X.shape[1]) > 100
    with LongestOutput(len(data.classes)) as seen:
        result = train(config, out=tmp_path / "run", progress=False, log=None)
    assert seen.calls > 0 and seen.steps <= 12  # validation, training and test figures: windows of data.bptt
    last = read_jsonl(tmp_path / "run" / "metrics.jsonl")[-1]
    assert last["val_loss"] == pytest.approx(one_pass(result.model, data.val, task)["loss"], rel=1e-5)
    assert result.test["loss"] == pytest.approx(one_pass(result.model, data.test, task)["loss"], rel=1e-5)
    assert result.train_eval["loss"] == pytest.approx(one_pass(result.model, data.train, task)["loss"], rel=1e-5)


# (the resumed session alone spends about 2 s of CPU on what is left of epoch 2 of the text below:
# a record of that session's time only stays under PAUSE)
PAUSE = 4.0

KILL = """
[task]
kind = "language_model"
[data]
path = "{data}"
tokens = "char"
bptt = 10
streams = 2
val_fraction = 0.1
test_fraction = 0.1
[model]
hidden_size = 24
[training]
epochs = 2
lr = 0.01
seed = 1
threads = 1
checkpoint_every = 0
[tracking]
weights_every = 1
health = false
grad_through_time = false
"""


def test_an_epoch_resumed_within_itself_records_the_time_of_both_sessions(tmp_path):
    # The run is paused PAUSE seconds within epoch 2, then killed after a checkpoint written
    # since (so the epoch had taken more than PAUSE before it), and resumed.
    (tmp_path / "t.txt").write_text(words(1200), encoding="utf-8")
    text = KILL.replace("{data}", str(tmp_path / "t.txt"))
    (tmp_path / "c.toml").write_text(text)
    run, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.pt"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "train", str(tmp_path / "c.toml"), "--out", str(run),
                             "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def stopped_when(ready) -> None:  # (stopped while its files are read: it cannot move on meanwhile)
            deadline = time.time() + 120
            while time.time() < deadline and proc.poll() is None:
                proc.send_signal(signal.SIGSTOP)
                if ready():
                    return
                proc.send_signal(signal.SIGCONT)
                time.sleep(0.005)
            raise AssertionError("the run ended first: " + proc.stderr.read().decode())

        stopped_when(lambda: len(read_jsonl(run / "metrics.jsonl")) == 1
                     and last_step(run / "tracked.jsonl") > read_jsonl(run / "metrics.jsonl")[0]["step"] + 1)
        time.sleep(PAUSE)
        resumed_at = time.time()
        proc.send_signal(signal.SIGCONT)
        stopped_when(lambda: last.stat().st_mtime > resumed_at + 0.05 and len(read_jsonl(run / "metrics.jsonl")) == 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    ckpt = load_checkpoint(last)
    assert ckpt["stream"]["epoch"] == 2 and ckpt["stream"]["start"] > 0
    before = torch.get_num_threads()
    try:
        train(parse_config(text), out=run, progress=False, log=None, resume=True)
    finally:
        torch.set_num_threads(before)
    record = next(r for r in read_jsonl(run / "metrics.jsonl") if r["epoch"] == 2)
    assert record["time"] >= PAUSE  # the pause before the kill is part of the epoch's time
