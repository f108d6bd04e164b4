"""Ctrl-C after the last epoch (while the gradient through time is recorded, or the run is
evaluated and reported) keeps the session's timing record: a --resume then counts its steps
among its earlier sessions (a user's report: the first session's 400 steps were gone). The
interrupt is raised where Ctrl-C would land, in the phase after the epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import config

import rnnlab.train.trainer as trainer
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_an_interrupt_after_the_last_epoch_keeps_the_sessions_timing(tmp_path: Path, monkeypatch) -> None:
    cfg = parse_config(config())  # (grad_through_time on by default)
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trainer, "_record_grad_through_time", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, out=out, log=None, progress=False)
    first = RunDir(out).read_timing()
    steps = RunDir(out).read_metrics()[-1]["step"]
    assert first is not None and first["steps"] == steps and first["interrupted"].startswith("KeyboardInterrupt after"), first
    train(cfg, out=out, resume=True, log=None, progress=False)
    after = RunDir(out).read_timing()
    assert [e["steps"] for e in after["earlier_sessions"]] == [steps], after
