"""Streams: contiguous splits that never leak, forward-chaining folds, a state carried across
windows that equals one unbroken forward, and resume on a stream (rnnlab.data.stream and the
trainer's carried-state seam)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnlab.config import parse_config, template_for
from rnnlab.data import Fold, load_data
from rnnlab.data.stream import batchify, load_stream
from rnnlab.task import task_for
from rnnlab.train.model import build_model, detach_state
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def stream_toml(path: str, data: str = "", task: str = "", training: str = "epochs = 2") -> str:
    """A forecasting config on ``path``; ``data`` lines replace the defaults' keys."""
    keys = {"bptt": "8", "streams": "2", "val_steps": "12", "test_steps": "12"}
    keys.update(line.split(" = ", 1) for line in data.splitlines() if line)
    lines = "\n".join(f"{k} = {v}" for k, v in keys.items())
    return f"""[task]
kind = "forecasting"
{task}
[data]
path = "{path}"
{lines}
[model]
hidden_size = 6
[training]
{training}
[tracking]
enabled = false
"""


def sine(tmp_path, n: int = 120, name: str = "s.npz", **extra) -> str:
    t = np.arange(n)
    x = np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 7)], axis=1) + 0.01 * t[:, None]
    path = tmp_path / name
    np.savez(path, X=x, **extra)
    return str(path)


def test_the_validation_and_test_blocks_never_reach_training(tmp_path):
    # The blocks after the training part hold values no training step can have: if any of
    # them is visible in the training rows, the training figures, or the scaling, this fails.
    x = np.random.default_rng(0).normal(size=(100, 1))
    x[-30:] = 1e6
    np.savez(tmp_path / "s.npz", X=x)
    c = parse_config(stream_toml(str(tmp_path / "s.npz"), data="val_steps = 15\ntest_steps = 15", task="horizon = 3"))
    d = load_data(c.data, seed=0, task=task_for(c))
    for part in (d.train, d.whole_train):
        assert np.abs(part.X).max() < 10 and np.nanmax(np.abs(part.y)) < 10
    assert abs(d.stats.mean[0] - x[:70].mean()) < 1e-9 and abs(d.stats.std[0] - x[:70].std()) < 1e-9
    # Validation targets are exactly the validation block's steps (origins 69..81 for 3 steps ahead).
    origins = np.flatnonzero(~np.isnan(d.val.y[0, :, 0]))
    assert origins.min() == 69 and origins.max() == 85 - 3 - 1
    # Its targets reach the block's values; the inputs stop before the block's last step.
    assert np.nanmax(d.val.y) > 1e3 and d.val.X.shape[1] == 85 - 3


def test_folds_are_forward_chaining_blocks(tmp_path):
    c = parse_config(stream_toml(sine(tmp_path, 132), data="streams = 1"))
    ends = []
    for i in range(3):
        d = load_stream(c.data, seed=0, fold=Fold(k=3, index=i, seed=5), task=task_for(c))
        assert d.test is None
        first_val = int(np.flatnonzero(~np.isnan(d.val.y[0, :, 0])).min())
        last_train = int(np.flatnonzero(~np.isnan(d.whole_train.y[0, :, 0])).max())
        assert last_train + 1 <= first_val + 1  # every training target lies before the validation block
        ends.append(first_val)
    assert ends == sorted(ends) and len(set(ends)) == 3  # fold k validates on block k + 1: later each time
    same = load_stream(c.data, seed=0, fold=Fold(k=3, index=1, seed=99), task=task_for(c))
    assert np.flatnonzero(~np.isnan(same.val.y[0, :, 0])).min() == ends[1]  # never shuffled: the seed plays no part


def test_rows_are_contiguous_pieces_ending_at_the_validation_block():
    x = np.arange(11.0)[:, None]
    X, y = batchify([(x, x + 100)], 3)
    assert X[:, :, 0].tolist() == [[2, 3, 4], [5, 6, 7], [8, 9, 10]]
    assert y[:, :, 0].tolist() == [[102, 103, 104], [105, 106, 107], [108, 109, 110]]


def test_windows_with_a_carried_state_equal_one_unbroken_forward(tmp_path):
    c = parse_config(stream_toml(sine(tmp_path)))
    d = load_data(c.data, seed=0, task=task_for(c))
    model = build_model(c.model, d.channels, d.train.y.shape[-1], per_step=True).eval()
    x = torch.from_numpy(d.train.X)
    whole, state_whole = model(x)
    outs, state = [], None
    for start in range(0, x.shape[1], c.data.bptt):
        out, state = model(x[:, start:start + c.data.bptt], None, state)
        state = detach_state(state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), whole, rtol=0, atol=1e-6)
    for a, b in zip(state, state_whole, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_the_trainer_carries_the_state_across_its_windows(tmp_path, monkeypatch):
    # With the weights frozen (the optimizer's step does nothing), the first epoch's training
    # loss over its windows is the loss of one unbroken forward over the rows.
    c = parse_config(stream_toml(sine(tmp_path), training='epochs = 1\noptimizer = "sgd"'))
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, closure=None: None)
    torch.manual_seed(0)
    result = train(c, out=tmp_path / "run", progress=False, log=None)
    d = load_data(c.data, seed=0, task=task_for(c))
    torch.manual_seed(0)  # the same initial weights
    model = build_model(c.model, d.channels, d.train.y.shape[-1], per_step=True)
    model.load_state_dict(result.model.state_dict())
    with torch.no_grad():
        out, _ = model.train()(torch.from_numpy(d.train.X))
        unbroken = float(task_for(c).loss_fn()(out, torch.from_numpy(d.train.y)))
    assert result.final["step"] == 6  # rows of (120 - 24 held out - 1) // 2 = 47 steps: 6 windows of 8
    assert result.final["train_loss"] == pytest.approx(unbroken, rel=1e-5)


def test_resume_on_a_stream_is_exact(tmp_path):
    c = parse_config(stream_toml(sine(tmp_path), training="epochs = 4"))
    straight = train(c, out=tmp_path / "a", progress=False, log=None)
    train(c, out=tmp_path / "b", progress=False, log=None, stop_after=2)
    resumed = train(c, out=tmp_path / "b", progress=False, log=None, resume=True)
    records = [[json.loads(line) for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()] for r in "ab"]
    strip = [[{k: v for k, v in r.items() if k != "time"} for r in rs] for rs in records]
    assert strip[0] == strip[1]
    assert resumed.test == straight.test and resumed.baselines == straight.baselines


def test_a_zero_initialized_head_starts_as_the_reference_forecast(tmp_path):
    # The forecasting template's head starts at zero: every output (a correction to the
    # reference forecast) is 0 before training; every other weight is drawn as without it.
    zero = parse_config(stream_toml(sine(tmp_path)).replace("[training]", "[model.head]\nzero_init = true\n[training]"))
    plain = parse_config(stream_toml(sine(tmp_path)))
    models = []
    for c in (zero, plain):
        torch.manual_seed(0)
        models.append(build_model(c.model, 2, 2, per_step=True))
    out, _ = models[0](torch.randn(3, 10, 2))
    assert torch.equal(out, torch.zeros_like(out))
    a, b = models[0].state_dict(), models[1].state_dict()
    assert [k for k in a if not torch.equal(a[k], b[k])] == ["head.0.weight", "head.0.bias"]
    assert parse_config(template_for("forecasting")).model.head.zero_init
