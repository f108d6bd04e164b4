"""The TensorBoard export read back with TensorBoard's own event reader: every scalar and
histogram the conversion gives is in the event files, at its step, with its value."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_export_tensorboard import tracked_run

from rnnlab.export import tensorboard as tb

pytest.importorskip("tensorboard")


def test_tensorboards_reader_finds_every_record(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lstm = tracked_run(tmp_path, steps=3)
    scalars, hists = tb.tensorboard_records(tmp_path, model=lstm, step=3)
    out = tb.export_tensorboard(tmp_path, model=lstm, step=3)
    events = EventAccumulator(str(out), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == {s.tag for s in scalars}
    assert set(tags["histograms"]) == {h.tag for h in hists if np.isfinite(h.values).all()}
    for s in scalars:
        (read,) = [e for e in events.Scalars(s.tag) if e.step == s.step]
        assert read.value == pytest.approx(s.value, rel=1e-6)  # stored as float32
    for h in hists:
        (read,) = [e for e in events.Histograms(h.tag) if e.step == h.step]
        v = read.histogram_value
        assert v.num == h.values.size and v.min == pytest.approx(h.values.min(), rel=1e-6)
        assert v.max == pytest.approx(h.values.max(), rel=1e-6)
        assert v.sum == pytest.approx(h.values.sum(), rel=1e-5, abs=1e-9)


def test_missing_tensorboard_names_the_extra_even_when_installed(tmp_path, monkeypatch):
    # (test_export_tensorboard's version of this check only runs where tensorboard is absent)
    tracked_run(tmp_path, steps=1)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"rnnlab\[tensorboard\]"):
        tb.export_tensorboard(tmp_path)


def test_a_runs_epoch_metrics_and_test_figures_reach_tensorboard(tmp_path):
    """A TensorBoard user looks for the loss and accuracy curves first: the epoch records of
    metrics.jsonl and the test split's figures are exported beside the tracked norms."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tiny_run import run, tiny_toml

    from rnnlab.config import parse_config
    from rnnlab.rundir import RunDir

    result = run(parse_config(tiny_toml(training="epochs = 3")), tmp_path / "r")
    out = tb.export_tensorboard(result.run_dir)
    events = EventAccumulator(str(out), size_guidance={"scalars": 0})
    events.Reload()
    records = RunDir(result.run_dir).read_metrics()
    for key in ("train_loss", "train_acc", "lr"):
        read = [(e.step, e.value) for e in events.Scalars(f"metrics/{key}")]
        assert [s for s, _ in read] == [r["step"] for r in records]
        assert [v for _, v in read] == pytest.approx([r[key] for r in records], rel=1e-6)
    (test_acc,) = events.Scalars("metrics/test_acc")
    assert test_acc.step == records[-1]["step"]
    assert test_acc.value == pytest.approx(RunDir(result.run_dir).read_summary()["test"]["acc"], rel=1e-6)


def test_the_tensorboard_command_exports_runs_per_gate_and_replaces_its_earlier_export(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tiny_run import run, tiny_toml

    from rnnlab.cli import main
    from rnnlab.config import parse_config

    result = run(parse_config(tiny_toml(training="epochs = 2")), tmp_path / "runs" / "a")
    for _ in range(2):
        assert main(["tensorboard", str(result.run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"view: tensorboard --logdir {(tmp_path / 'runs').resolve()}" in out
    (events_file,) = (result.run_dir / "tensorboard").glob("events.out.tfevents.*")  # the second replaced the first
    events = EventAccumulator(str(events_file.parent), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    # the run's config and checkpoint give the gate layout: per-gate norms and the last weights
    assert any(t.endswith("/f/l2_per_channel") for t in tags["histograms"])
    assert any(t.startswith("weights/") for t in tags["histograms"])
    assert len(events.Scalars("metrics/train_loss")) == 2
    assert main(["tensorboard", str(tmp_path)]) == 1
    assert "nothing to export (no metrics.jsonl or tracked.jsonl)" in capsys.readouterr().err


def test_the_tensorboard_command_names_what_a_run_lacks_to_split_per_gate(tmp_path, capsys):
    # (a run killed before its first checkpoint has its config.toml: only the checkpoint is missing)
    from tiny_run import run, tiny_toml

    from rnnlab.cli import main
    from rnnlab.config import parse_config
    from rnnlab.rundir import RunDir

    result = run(parse_config(tiny_toml(training="epochs = 2")), tmp_path / "r")
    RunDir(result.run_dir).last_checkpoint.unlink()
    capsys.readouterr()
    assert main(["tensorboard", str(result.run_dir)]) == 0
    out = capsys.readouterr().out
    assert "(no last.pt: per-channel norms are not split per gate)" in out, out
