"""The training budget in optimizer steps: epochs = ceil(steps / steps per epoch), the schedule
and warm-up on the step clock, one budget at a time, and resume exact under a step budget."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab.config import DEFAULT_EPOCHS, ScheduleConfig, TrainingConfig, parse_config
from rnnlab.errors import ConfigError
from rnnlab.rundir import read_jsonl
from rnnlab.train.trainer import lr_factor

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def toml(budget: str, warmup: str = "") -> str:
    return tiny_toml(training=budget, after=f'[training.schedule]\nkind = "cosine"\n{warmup}\n[tracking]\nenabled = false')


def config(budget: str, warmup: str = "") -> object:
    return parse_config(toml(budget, warmup))


def test_a_step_budget_is_rounded_up_to_whole_epochs(tmp_path):
    result = run(config("steps = 10"), tmp_path)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [4, 8, 12]  # ceil(10 / 4) = 3 epochs of 4 steps
    assert result.epochs == 3


def test_epochs_for_by_hand():
    assert TrainingConfig(steps=2000).epochs_for(steps_per_epoch=10) == 200
    assert TrainingConfig(steps=2001).epochs_for(steps_per_epoch=10) == 201
    assert TrainingConfig(steps=5).epochs_for(steps_per_epoch=90) == 1
    assert TrainingConfig(epochs=7).epochs_for(steps_per_epoch=90) == 7
    assert TrainingConfig().epochs_for(steps_per_epoch=90) == DEFAULT_EPOCHS


def test_the_cosine_schedule_spans_the_step_budget(tmp_path):
    run(config("steps = 12", "warmup_steps = 2"), tmp_path)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    # The lr recorded at the end of each epoch is the one of its last step (3, 7, 11 of 0..11).
    sched = ScheduleConfig(kind="cosine", warmup_steps=2)
    expected = [0.01 * lr_factor(sched, s, 4, 12) for s in (3, 7, 11)]
    assert [r["lr"] for r in records] == pytest.approx(expected)
    assert lr_factor(sched, 0, 4, 12) == pytest.approx(0.5)
    assert lr_factor(sched, 2, 4, 12) == pytest.approx(1.0)
    assert lr_factor(sched, 7, 4, 12) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))


def test_resume_under_a_step_budget_equals_the_uninterrupted_run(tmp_path):
    cfg = config("steps = 14", "warmup_steps = 3")
    whole = run(cfg, tmp_path / "whole")
    run(cfg, tmp_path / "split", stop_after=2)
    resumed = run(cfg, tmp_path / "split", resume=True)
    assert resumed.epochs == whole.epochs == 4
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(read_jsonl(tmp_path / "split/metrics.jsonl")) == strip(read_jsonl(tmp_path / "whole/metrics.jsonl"))
    for (n, p), (_, q) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(p, q), n


@pytest.mark.parametrize(
    "budget, warmup, expected",
    [
        ("epochs = 3\nsteps = 100", "", "'training': expected one budget, 'epochs' or 'steps', got both (epochs=3, steps=100)"),
        ("steps = 0", "", "'training.steps': expected a number > 0, got 0 (int)"),
        ("steps = 10", "warmup_epochs = 1\nwarmup_steps = 5",
         "'training.schedule': expected one of 'warmup_epochs' or 'warmup_steps', got both"),
        ("step = 10", "", "unknown key 'training.step'; did you mean 'training.steps'?"),
    ],
)
def test_budget_errors_name_the_keys(budget, warmup, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(toml(budget, warmup), source="c.toml")
    assert expected in str(e.value)
