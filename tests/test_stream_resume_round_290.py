"""A language model's (a stream's) resume whose step budget the checkpoint cannot meet exactly,
and the label of a checkpoint written within an epoch (round 290)."""

from __future__ import annotations

import random

import pytest
import torch

from rnnlab.config import parse_config
from rnnlab.errors import RunDirError
from rnnlab.rundir import read_jsonl
from rnnlab.train import load_checkpoint, train
from rnnlab.train import trainer as trainer_module
from rnnlab.train.sample import sample_text

# 2000 characters (the default held-out parts): 4 rows read in windows of 8, 40 windows an epoch.
CONFIG = """
[task]
kind = "language_model"
[data]
path = "{data}"
bptt = 8
streams = 4
[model]
hidden_size = 8
[training]
steps = {steps}
lr = 0.01
threads = 1
checkpoint_every = 0
[tracking]
health = false
grad_through_time = false
"""


def _config(tmp_path, steps: int):
    data = tmp_path / "t.txt"
    if not data.exists():
        rng = random.Random(0)
        data.write_text("".join(rng.choice("abcd") for _ in range(2000)))
    return parse_config(CONFIG.replace("{data}", str(data)).replace("{steps}", str(steps)))


def _train(*args, **kwargs):
    before = torch.get_num_threads()
    try:
        return train(*args, progress=False, **kwargs)
    finally:
        torch.set_num_threads(before)


def test_a_raised_budget_after_a_run_that_ended_within_its_epoch_is_refused_not_skipped(tmp_path):
    run = tmp_path / "run"
    _train(_config(tmp_path, 10), out=run, log=None)  # ends after 10 of epoch 1's windows
    said: list[str] = []
    _train(_config(tmp_path, 10), out=run, log=said.append, resume=True)
    line = next(s for s in said if "had already finished" in s)
    assert "train again with a new --out" in line and "raise training.steps" not in line, line
    for steps in (20, 60):  # within epoch 1, and beyond it (which skipped the rest of epoch 1)
        with pytest.raises(RunDirError) as e:
            _train(_config(tmp_path, steps), out=run, log=None, resume=True, allow_change=["training.steps"])
        assert str(e.value).startswith(f"--resume: the run's budget of {steps} steps (training.steps 10 -> "
                                       f"{steps}) goes beyond step 10, where {run} ended within epoch 1 (after "
                                       "10 of its 40 windows)"), e.value
        assert "\n" not in str(e.value)
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [10]  # nothing trained


class _Killed(Exception):
    """A stand-in for a kill right after a checkpoint within an epoch."""


def _killed_within_epoch_2(tmp_path, monkeypatch):
    run = tmp_path / "run"
    original = trainer_module._stream_checkpoint

    def then_killed(run_dir, s, epoch, start, state, stats):
        original(run_dir, s, epoch, start, state, stats)
        if epoch == 2 and start >= 5 * 8:
            raise _Killed

    monkeypatch.setattr(trainer_module, "_stream_checkpoint", then_killed)
    with pytest.raises(_Killed):
        _train(_config(tmp_path, 120), out=run, log=None)
    monkeypatch.undo()
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    assert (ckpt["epoch"], ckpt["step"], ckpt["stream"]["epoch"]) == (1, 45, 2)
    return run


def test_a_checkpoint_within_an_epoch_is_labelled_with_its_step_and_epoch(tmp_path, monkeypatch):
    run = _killed_within_epoch_2(tmp_path, monkeypatch)
    said: list[str] = []
    sample_text(run, length=3, log=said.append)
    assert any("(running or stopped at step 45 of 120); sampling from last.pt, its weights after step 45, "
               "within epoch 2 (before window 6 of 40)" in s for s in said), said


def test_a_budget_below_a_checkpoint_within_an_epoch_is_refused(tmp_path, monkeypatch):
    run = _killed_within_epoch_2(tmp_path, monkeypatch)
    with pytest.raises(RunDirError) as e:
        _train(_config(tmp_path, 42), out=run, log=None, resume=True, allow_change=["training.steps"])
    assert str(e.value) == (f"--resume: the run's budget of 42 steps (training.steps 120 -> 42) ends before step "
                            f"45, where {run / 'checkpoints' / 'last.pt'} stands (within epoch 2 (before window 6 "
                            "of 40)): its weights are past that budget; set training.steps = 45 to end the run at "
                            "its checkpoint, or more to train on (--allow-change training.steps)")
    # the fix it names works: the run ends at its checkpoint's step, labelled so
    _train(_config(tmp_path, 45), out=run, log=None, resume=True, allow_change=["training.steps"])
    assert [(r["epoch"], r["step"]) for r in read_jsonl(run / "metrics.jsonl")] == [(1, 40), (2, 45)]
