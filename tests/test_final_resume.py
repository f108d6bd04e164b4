"""A search's or recipe's final run cut short (killed, stopped) continues from its last
checkpoint when the command runs again, its recorded epochs kept, as the candidate runs do (a
user's report: 258 recorded epochs of a killed final retrain were deleted and trained again);
one of another config starts again. Real tiny runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import config

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train
from rnnlab.train.final import final_config, retrain_and_test

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def cut_short(cfg, out: Path) -> None:
    """A final run killed after its third epoch's checkpoint: its records and last.pt, no summary
    (what a pause leaves: train(stop_after=...) summarizes nothing before the run's end)."""
    assert train(cfg, out=out, log=None, progress=False, stop_after=3).paused


def six_epochs() -> str:
    """test_bad_inputs.py's config for 6 epochs, its losses tracked and no weights or gradients (the final
    run's report, which retrain_and_test draws, is read by none of these tests)."""
    text = config().replace("epochs = 2", "epochs = 6").replace("grads_every = 2", "weights_every = 0\ngrads_every = 0")
    assert "epochs = 6" in text and "weights_every = 0" in text
    return text


def test_a_final_run_cut_short_continues_from_its_checkpoint(tmp_path: Path) -> None:
    cfg = parse_config(six_epochs())
    out = tmp_path / "final"
    cut_short(final_config(cfg, out), out)
    before = (out / "metrics.jsonl").read_bytes()
    assert len(RunDir(out).read_metrics()) == 3 and RunDir(out).read_summary() is None
    final = retrain_and_test(cfg, out)
    assert final.get("resumed") is True and final["length"]["trained"]["epoch"] == 6
    assert (out / "metrics.jsonl").read_bytes().startswith(before)  # (the recorded epochs kept, as they were)
    assert [r["after_epoch"] for r in RunDir(out).read_resumes()] == [3]


def test_a_cut_short_run_of_another_config_starts_again(tmp_path: Path) -> None:
    cfg = parse_config(six_epochs())
    other = parse_config(six_epochs().replace("hidden_size = 4", "hidden_size = 5"))
    out = tmp_path / "final"
    cut_short(final_config(other, out), out)
    final = retrain_and_test(cfg, out)
    assert "resumed" not in final and not RunDir(out).read_resumes()
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [1, 2, 3, 4, 5, 6]
