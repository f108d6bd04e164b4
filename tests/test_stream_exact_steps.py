"""A stream's ``training.steps`` is kept exactly: one epoch of a stream reads every window of its
rows (thousands of optimizer steps for a long text), so a budget of a few hundred steps used to
become a whole epoch or more. The last epoch now stops part way, the schedule spans the steps
asked for, the run says so in one line, and a run stopped and resumed within that last epoch
ends as the uninterrupted one. Runs of sequences (shuffled batches) still train whole epochs."""

from __future__ import annotations

import pytest
import torch
from test_lm_eval_windows import LM, words

from rnnlab.config import parse_config
from rnnlab.rundir import read_jsonl
from rnnlab.train import load_checkpoint, train
from rnnlab.train.trainer import epoch_steps

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def lm_config(tmp_path, steps: int, schedule: str = "") -> str:
    (tmp_path / "t.txt").write_text(words(900), encoding="utf-8")
    return (LM.replace("{data}", str(tmp_path / "t.txt")).replace("bptt = 12", "bptt = 3")
            .replace("epochs = 2", f"steps = {steps}") + schedule)


def windows_per_epoch(text: str) -> int:
    from rnnlab.data import load_data
    from rnnlab.task import task_for
    from rnnlab.train.trainer import batching

    config = parse_config(text)
    data = load_data(config.data, seed=0, task=task_for(config))
    return epoch_steps(len(data.train), data.train.X.shape[1], batching(config))


def test_a_budget_shorter_than_one_epoch_trains_exactly_its_steps(tmp_path):
    text = lm_config(tmp_path, 5)
    per_epoch = windows_per_epoch(text)
    assert per_epoch >= 50  # rows of ~290 tokens in windows of 3
    lines: list[str] = []
    result = train(parse_config(text), out=tmp_path / "run", progress=False, log=lines.append)
    assert result.final["step"] == 5
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [5]
    line = next(x for x in lines if x.startswith("budget: training.steps = 5 "))
    assert f"the last one stopped after 5 of its {per_epoch}" in line and "data.bptt = 3" in line, line
    assert "warning" not in line and "\n" not in line


def test_a_budget_across_epochs_stops_in_the_last_one_and_the_schedule_spans_it(tmp_path):
    text = lm_config(tmp_path, 1)
    per_epoch = windows_per_epoch(text)
    steps = per_epoch + 7
    text = lm_config(tmp_path, steps, '\n[training.schedule]\nkind = "cosine"\nmin_lr = 0.0\n')
    result = train(parse_config(text), out=tmp_path / "run", progress=False, log=None)
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [per_epoch, steps]
    assert result.final["step"] == steps
    # The cosine reaches min_lr = 0 at the last step asked for, not at the end of a whole epoch.
    # (the last rate set, for the last step: whole epochs would have left it near half of lr = 0.01)
    assert records[-1]["lr"] < 1e-4, records[-1]["lr"]


def test_stopped_and_resumed_within_the_partial_last_epoch_ends_as_the_uninterrupted_run(tmp_path):
    text = lm_config(tmp_path, 1)
    per_epoch = windows_per_epoch(text)
    text = lm_config(tmp_path, per_epoch + 20)
    whole = train(parse_config(text), out=tmp_path / "whole", progress=False, log=None)
    # The first session ends after its first epoch; the second trains the 20 steps of the last.
    train(parse_config(text), out=tmp_path / "split", progress=False, log=None, stop_after=1)
    assert load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = train(parse_config(text), out=tmp_path / "split", progress=False, log=None, resume=True)
    assert resumed.final["step"] == whole.final["step"] == per_epoch + 20
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sequence_runs_still_train_whole_epochs(tmp_path):
    config = parse_config('[data]\ndataset = "ItalyPowerDemand"\n[model]\nhidden_size = 4\n[training]\n'
                          'steps = 5\nbatch_size = 16\nseed = 0\n[tracking]\nhealth = false\ngrad_through_time = false')
    from rnnlab.data import load_data
    from rnnlab.train.trainer import batching

    data = load_data(config.data, seed=0)
    per_epoch = epoch_steps(len(data.train), data.train.X.shape[1], batching(config))
    assert per_epoch < 5 and 5 % per_epoch  # whole epochs cannot make exactly 5 steps
    result = train(config, out=tmp_path / "run", progress=False, log=None)
    assert result.final["step"] == per_epoch * -(-5 // per_epoch)
