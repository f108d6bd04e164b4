"""A long-sequence user's round (second): a stateful window the front-end's pooling leaves one
recurrent step is refused; the fit budget's evaluations are timed and said on the epoch line; a
stop never drops a recorded epoch's line; a new run that fails after its health check keeps it."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.errors import ConfigError, Interrupted
from rnnlab.rundir import RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CFG = """name = "x"
[data]
path = "{path}"
val_fraction = 0.25
[model]
hidden_size = 4
{model}
[training]
epochs = {epochs}
batch_size = 8
{training}
[tracking]
health = {health}
grad_through_time = false
{more}
"""

POOLED = "[model.frontend]\n[[model.frontend.blocks]]\nchannels = 4\nkernel_size = 3\npool = 8"


def _config(tmp: Path, *, model: str = "", training: str = "", epochs: int = 2, health: bool = False,
            more: str = "") -> Path:
    """A config file over 40 series of 64 steps of two classes (a step in the first or the second half)."""
    rng = np.random.default_rng(0)
    X = rng.normal(scale=0.3, size=(40, 64, 1))
    y = np.arange(40) % 2
    X[y == 0, 10:20, 0] += 2.0
    X[y == 1, 40:50, 0] += 2.0
    np.savez(tmp / "data.npz", X=X, y=y)
    cfg = tmp / "c.toml"
    cfg.write_text(CFG.format(path="data.npz", model=model, training=training, epochs=epochs,
                              health=str(health).lower(), more=more))
    return cfg


def _load(cfg: Path):
    return load_config(cfg)


def test_a_window_the_pooling_leaves_one_recurrent_step_is_refused_with_the_smallest_that_works(tmp_path, capsys):
    # pool x8 leaves a window of 8 input steps one recurrent step; 64 steps leave 8, so 6 are asked
    # for: ceil(w / 8) >= 6 -> w >= 41 (the reach, 3 + 7 = 10 input steps, is shorter)
    cfg = _config(tmp_path, model=POOLED, training="stateful_window = 8")
    out = tmp_path / "run"
    line = one_line_error(["train", str(cfg), "--out", str(out), "--quiet"], capsys,
                          ("training.stateful_window = 8", "×8", "leaves the recurrent layer 1 step(s)",
                           "at least 6", "set training.stateful_window to at least 41"))
    assert "Traceback" not in line
    assert not out.exists()
    with pytest.raises(ConfigError, match="at least 41"):
        train(_load(_config(tmp_path, model=POOLED, training="stateful_window = 40")), out=out, log=None)
    # the smallest window it names trains, and so does a small window without a front-end
    assert train(_load(_config(tmp_path, model=POOLED, training="stateful_window = 41")), out=out, log=None)
    assert train(_load(_config(tmp_path, training="stateful_window = 8")), out=tmp_path / "raw", log=None)


def test_the_fit_budgets_evaluations_are_timed_and_said_on_each_epoch_line(tmp_path):
    lines: list[str] = []
    cfg = _config(tmp_path, epochs=3, more="[adapt]\nbudget = true")
    train(_load(cfg), out=tmp_path / "run", log=lines.append, progress=False)
    epoch_lines = [ln for ln in lines if ln.startswith("epoch ")]
    fits = [float(m[1]) for ln in epoch_lines if (m := re.search(r" \+ fit budget (\d+\.\d)s  eta ", ln))]
    assert len(fits) == len(epoch_lines) == 3, epoch_lines
    # the budget's evaluations count as evaluation in timing.json (they were "other" before)
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    assert timing["seconds"]["evaluation"] >= sum(fits) - 0.05 * len(fits)
    lines.clear()
    train(_load(_config(tmp_path, epochs=2)), out=tmp_path / "plain", log=lines.append, progress=False)
    assert not any("fit budget" in ln for ln in lines)


def test_a_stop_held_over_an_epochs_record_still_prints_its_line_first(tmp_path):
    # SIGINT while epoch 2's record is written (on_epoch runs inside what the trainer holds whole):
    # the stop is raised after, and epoch 2's line, whose record and checkpoint are written, is said
    lines: list[str] = []

    def sigint_at_epoch_2(record: dict) -> bool:
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    out = tmp_path / "run"
    with pytest.raises(Interrupted) as stop:
        train(_load(_config(tmp_path, epochs=4)), out=out, log=lines.append, progress=False,
              on_epoch=sigint_at_epoch_2)
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [1, 2]
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1/4", "2/4"]
    assert "the checkpoint after epoch 2" in str(stop.value)


def test_a_new_run_that_fails_after_its_health_check_keeps_it_and_the_same_command_starts_again(tmp_path):
    def ctrl_c_after_the_health_check(line: str) -> None:  # (said once health.json is written)
        if line.startswith("Health check"):
            raise KeyboardInterrupt

    cfg = _config(tmp_path, health=True)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt) as stop:
        train(_load(cfg), out=out, progress=False, log=ctrl_c_after_the_health_check)
    assert (out / "health.json").exists() and (out / "config.toml").exists()
    note = " ".join(getattr(stop.value, "__notes__", []))
    assert str(out) in note and "health.json" in note and "the same command starts the run again" in note
    # the same command restarts into it (no epoch was recorded), and the run trains to its end
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [1, 2]
    assert RunDir(out).read_summary() is not None



def test_the_cli_line_ends_with_where_a_failed_runs_records_are_kept():
    # (the trainer's note on the error reaches the one line the command prints, through what the
    # CLI says in its place, on Python 3.10 too: rnnlab.errors.add_note)
    from rnnlab.cli import _noted, _outcome
    from rnnlab.errors import RnnlabError, add_note

    failed = RuntimeError("can't allocate memory")
    add_note(failed, "runs/a keeps what the run recorded before it failed (health.json); the same command starts "
                     "the run again there")
    line, code = _outcome(_noted(RnnlabError("out of memory during epoch 1"), failed))
    assert code == 1 and line == ("error: out of memory during epoch 1; runs/a keeps what the run recorded before it "
                                  "failed (health.json); the same command starts the run again there")
    stop = KeyboardInterrupt()
    add_note(stop, "runs/a keeps health.json")
    assert _outcome(stop) == ("interrupted by SIGINT; runs/a keeps health.json", 130)  # (the signal named: tests/test_stops_at_the_edges.py)
