"""A stream's last epoch cut short by training.steps is recorded, said and drawn as partial; a
--resume of a finished run, which trains nothing, writes nothing in it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from test_streams import sine, stream_toml

from rnnlab.config import parse_config
from rnnlab.plots.metrics import plot_metrics
from rnnlab.rundir import read_jsonl
from rnnlab.train import train

# (sine's 120 steps, 12 for validation and 12 for the test: 96 training steps in 2 rows of 48,
# read in windows of 8: 6 windows, one optimizer step each, per epoch)
WINDOWS = 6


def stream_run(tmp_path: Path, steps: int, log: list[str] | None = None):
    cfg = parse_config(stream_toml(sine(tmp_path), training=f"steps = {steps}"))
    return train(cfg, out=tmp_path / "run", progress=False, log=None if log is None else log.append)


def test_a_stream_epoch_cut_short_by_the_budget_records_its_windows(tmp_path: Path):
    said: list[str] = []
    stream_run(tmp_path, WINDOWS + 3, said)
    first, last = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert (last["epoch"], last["step"]) == (2, WINDOWS + 3)
    assert (last["steps_in_epoch"], last["steps_per_epoch"]) == (3, WINDOWS)
    assert "steps_in_epoch" not in first and "steps_per_epoch" not in first  # a whole epoch: as before
    lines = [line for line in said if line.startswith("epoch ")]
    assert f"(partial: 3 of {WINDOWS} windows)" in lines[1] and "partial" not in lines[0]


def test_a_whole_last_epoch_is_not_marked(tmp_path: Path):
    said: list[str] = []
    stream_run(tmp_path, 2 * WINDOWS, said)
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [WINDOWS, 2 * WINDOWS]
    assert not any("steps_in_epoch" in r or "steps_per_epoch" in r for r in records)
    assert not any("partial" in line for line in said)


def test_a_classifier_trains_whole_epochs_none_marked(tmp_path: Path):
    # (a budget of shuffled batches rounds up to whole epochs: its last one is never partial)
    cfg = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nsteps = 5\n'
                       'batch_size = 8\n[tracking]\nenabled = false\n[adapt]\nbudget = false\nshape = false')
    train(cfg, out=tmp_path / "run", progress=False, log=None)
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert records[-1]["step"] % records[0]["step"] == 0
    assert not any("steps_in_epoch" in r for r in records)


def _partial_markers(fig) -> dict[str, list]:
    return {a.get_gid(): a for ax in fig.axes for a in ax.get_lines() if str(a.get_gid()).startswith("partial")}


def test_the_partial_epoch_is_drawn_hollow_and_named_in_the_legend():
    records = [{"epoch": e, "step": 6 * e, "train_loss": 1 / e, "val_loss": 1.2 / e, "lr": 0.01,
                "grad_norm": 1.0} for e in range(1, 5)]
    records[-1].update(step=20, train_loss=0.9, steps_in_epoch=2, steps_per_epoch=6)
    fig = plot_metrics(records)
    marks = _partial_markers(fig)
    # (the figures that are means over the epoch's steps; the validation one is of the whole split)
    assert set(marks) == {"partial train_loss", "partial grad_norm"}
    mark = marks["partial train_loss"]
    assert list(mark.get_xdata()) == [4.0] and list(mark.get_ydata()) == [0.9]
    assert mark.get_markerfacecolor() == "white" and mark.get_linestyle() == "None"
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("partial epoch 4: 2 of its 6 steps" in t for t in legend), legend
    # records without the counts (an older run's, a whole last epoch): drawn as they were
    old = [{k: v for k, v in r.items() if k not in ("steps_in_epoch", "steps_per_epoch")} for r in records]
    assert _partial_markers(plot_metrics(old)) == {}


def _snapshot(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("change", [None, "epochs"])
def test_a_resume_of_a_finished_run_writes_nothing(tmp_path: Path, change: str | None):
    text = ('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 2\nbatch_size = 8\n'
            '[tracking]\nweights_every = 1\nhealth = false\n')
    run = tmp_path / "run"
    first = train(parse_config(text), out=run, progress=False, log=None)
    before = _snapshot(run)
    again_text, allow = (text.replace("epochs = 2", "epochs = 1"), ["training.epochs"]) if change else (text, [])
    for _ in range(2):
        said: list[str] = []
        again = train(parse_config(again_text), out=run, resume=True, progress=False, log=said.append,
                      allow_change=allow)
        assert _snapshot(run) == before  # not a byte: no resumes.jsonl, config.toml, records, summary
        line = next(line for line in said if "--resume" in line)
        assert line.startswith(f"{run} had already finished (after epoch 2, step ")
        assert "trains nothing and writes nothing" in line
        # what it reports is the run's, as summary.json holds it
        assert again.finished_before and not first.finished_before
        assert (again.epochs, again.train_eval, again.test) == (first.epochs, first.train_eval, first.test)
        assert again.final == first.final and [f.to_dict() for f in again.findings] == \
            [f.to_dict() for f in first.findings]
        for p, q in zip(again.model.parameters(), first.model.parameters(), strict=True):
            assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_a_resume_after_a_kill_before_the_summary_still_finishes_the_run(tmp_path: Path):
    text = ('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 2\nbatch_size = 8\n'
            '[tracking]\nenabled = false\n')
    run = tmp_path / "run"
    train(parse_config(text), out=run, progress=False, log=None)
    (run / "summary.json").unlink()  # killed between the last checkpoint and the summary
    again = train(parse_config(text), out=run, resume=True, progress=False, log=None)
    assert (run / "summary.json").exists() and (run / "resumes.jsonl").exists()
    assert not again.finished_before
