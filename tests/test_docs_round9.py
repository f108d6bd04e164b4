"""Docs round 9 (fixer-docs): what the docs now say, held to the product.

- A run's record files refuse at write time the record their reader would refuse (docs/compare.md's
  Tracker loop: an epoch record numbered from 0 was written, then ``rnnlab compare`` refused the
  run at its line 1): the loop learns it at its first ``append``, and nothing is written.
- docs/layers.md: per-sample gradients (``vmap(grad(...))``) of a layer that draws masks in
  training mode need ``randomness="same"`` (or eval mode).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

import rnnlab
from rnnlab.compare import run_summary
from rnnlab.errors import RunDirError
from rnnlab.rundir import RunDir

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("epoch, shown", [(0, "a number 0"), (-1, "a number -1"), (1.0, "a number 1.0"),
                                          ("1", "a string '1'"), (True, "a boolean true"), (None, "null")])
def test_an_epoch_record_the_reader_would_refuse_is_refused_at_write_and_nothing_is_written(tmp_path, epoch, shown):
    with RunDir.for_writing(tmp_path / "run", new=True) as run:
        with pytest.raises(RunDirError) as caught:
            run.append(run.metrics, {"epoch": epoch, "train_loss": 0.5})
        message = str(caught.value)
        assert "\n" not in message
        # the reader's own rule and wording, named by file
        assert message.startswith(f"metrics.jsonl: expected an integer 'epoch' >= 1, got {shown}")
        assert "(one record per epoch, epochs counted from 1, every value a number): the record was not written" in message
        assert _lines(run.metrics) == []
        run.append(run.metrics, {"epoch": 1, "train_loss": 0.5})
        assert run.read_metrics() == [{"epoch": 1, "train_loss": 0.5}]


def test_a_record_without_epoch_or_with_text_values_is_refused_and_the_file_keeps_its_records(tmp_path):
    with RunDir.for_writing(tmp_path / "run", new=True) as run:
        run.append(run.metrics, {"epoch": 1, "train_loss": 0.5})
        with pytest.raises(RunDirError, match=r"^metrics.jsonl: missing key 'epoch'"):
            run.append(run.metrics, {"train_loss": 0.4})
        with pytest.raises(RunDirError, match=r"^metrics.jsonl: expected 'note' to be a number, got a string 'x'"):
            run.append(run.metrics, {"epoch": 2, "note": "x"})
        assert len(_lines(run.metrics)) == 1
        # what the file would hold as a valid record is accepted as the caller has it: NumPy and torch
        # scalars, NaN (the reader restores it), as in the trainer's own records
        run.append(run.metrics, {"epoch": np.int64(2), "train_loss": torch.tensor(0.25), "val_loss": float("nan")})
        second = run.read_metrics()[1]
        assert second["epoch"] == 2 and second["train_loss"] == 0.25 and np.isnan(second["val_loss"])


def test_the_other_record_files_follow_their_readers_too(tmp_path):
    with RunDir.for_writing(tmp_path / "run", new=True) as run:
        with pytest.raises(RunDirError, match=r"^tracked.jsonl: expected an integer 'step' >= 0, got a number -1"):
            run.append(run.tracked, {"step": -1, "name": "w", "stat": "l2_mean", "value": 1.0})
        with pytest.raises(RunDirError, match=r"^resumes.jsonl: expected an integer 'after_epoch'"):
            run.append(run.resumes, {"after_epoch": "3", "changed": {}})
        assert not run.tracked.exists() and not run.resumes.exists()


def _tracker_loop(run_dir: Path, epochs: range) -> None:
    """docs/compare.md's Tracker loop, as written there."""
    torch.manual_seed(0)
    model = torch.nn.LSTM(2, 4, batch_first=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(8, 5, 2)
    with rnnlab.Tracker(run_dir, model) as tracker:
        for epoch in epochs:
            loss = model(x)[0].square().mean()
            opt.zero_grad()
            loss.backward()
            tracker.step(loss, epoch=epoch)
            opt.step()
            tracker.run.append(tracker.run.metrics, {"epoch": epoch, "step": tracker.step_count,
                                                     "train_loss": loss.item(), "val_loss": loss.item()})


def test_compare_md_tracker_loop_counts_epochs_from_1_and_compare_reads_its_records(tmp_path):
    text = (DOCS / "compare.md").read_text()
    assert "for epoch in range(1, 4):" in text and "range(3)" not in text
    _tracker_loop(tmp_path / "trk", range(1, 4))
    row = run_summary(tmp_path / "trk")
    assert [r["epoch"] for r in RunDir(tmp_path / "trk").read_metrics()] == [1, 2, 3]
    assert row["epochs"] == 3
    # the loop as it was (range(3)) stops at its first step, not at compare time
    with pytest.raises(ValueError, match=r"^epoch: expected an integer >= 1 \(epochs count from 1, as in "
                                         r"metrics\.jsonl\) or None, got 0"):
        _tracker_loop(tmp_path / "zero", range(3))
    assert _lines(tmp_path / "zero" / "metrics.jsonl") == []


@pytest.mark.parametrize("kw", [{"zoneout": 0.1}, {"recurrent_dropout": 0.2}])
def test_layers_md_per_sample_gradients_with_masks_need_randomness_same_or_eval_mode(kw):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, **kw)
    params = {k: v.detach() for k, v in m.named_parameters()}
    xs = torch.randn(3, 6, 2, 3)

    def loss(p, x):
        return functional_call(m, p, (x,))[0].square().sum()

    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(grad(loss), in_dims=(None, 0))(params, xs)  # torch's default, randomness="error"
    with pytest.raises(RuntimeError):
        vmap(grad(loss), in_dims=(None, 0), randomness="different")(params, xs)
    same = vmap(grad(loss), in_dims=(None, 0), randomness="same")(params, xs)
    assert same["weight_hh_l0"].shape == (3, *params["weight_hh_l0"].shape)
    m.eval()
    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, xs)
    for i, x in enumerate(xs):
        expected = torch.func.grad(loss)(params, x)
        torch.testing.assert_close(per_sample["weight_hh_l0"][i], expected["weight_hh_l0"], atol=1e-5, rtol=1e-5)
    said = re.sub(r"\s+", " ", (DOCS / "layers.md").read_text())
    assert 'randomness="same"' in said and "for every configuration. " not in said
