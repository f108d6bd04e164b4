"""The report's metric pictures (issue of /tmp/u191): every point the legend lists is visible (the
validation loss after a one-epoch run's only epoch, on the evaluated model's diamond), and each
series has one colour in every panel and picture (train, validation, the evaluated training
figure, the minimized loss grey where a penalty made it differ, as docs/language_models.md says)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgb

from rnnlab.plots.metrics import PENALTY_COLOR, SPLIT_COLOR, plot_metrics, tracked_loss_records
from rnnlab.report import _per_step_figure
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

LN2 = math.log(2)


def _lm_run(root: Path, epochs: list[dict], train_eval_loss: float, penalty: float) -> RunDir:
    """A language model's run like the tester's: records of ``epochs`` (step, train cross-entropy,
    val_loss), its ``train_loss`` the cross-entropy plus ``penalty`` (AR/TAR), the loss per step
    every 10 steps, summary.json's eval-mode training figures."""
    run = RunDir(root)
    for e, r in enumerate(epochs, start=1):
        append_jsonl(run.metrics, {"epoch": e, "step": r["step"], "train_loss": r["xent"] + penalty,
                                   "train_bpc": r["xent"] / LN2, "val_loss": r["val"], "val_bpc": r["val"] / LN2,
                                   "lr": 0.003, "grad_norm": 0.6, "grad_norm_max": 3.4})
    last = epochs[-1]["step"]
    for step in range(0, last, 10):
        append_jsonl(run.tracked, {"step": step, "epoch": 1, "name": "loss", "stat": "value",
                                   "value": 1.8 + 3.4 * math.exp(-step / 15)})
    atomic_write_json(run.summary, {"epochs": len(epochs), "best_epoch": len(epochs),
                                    "train_eval": {"loss": train_eval_loss, "bpc": train_eval_loss / LN2}})
    return run


def _figure(run: RunDir):
    return _per_step_figure(run, run.read_metrics(), tracked_loss_records(run))


def _line(ax, starts: str):
    found = [ln for ln in ax.get_lines() if ln.get_label().startswith(starts)]
    assert len(found) == 1, [ln.get_label() for ln in ax.get_lines()]
    return found[0]


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(title))


def test_the_validation_point_of_one_epoch_is_seen_on_the_evaluated_models_diamond(tmp_path):
    # the tester's english-lstm: val_loss 1.737 after step 150, the eval-mode training loss 1.781 there
    run = _lm_run(tmp_path / "english-lstm", [{"step": 150, "xent": 2.226, "val": 1.7367}], 1.7809, penalty=0.075)
    fig = _figure(run)
    loss = _panel(fig, "loss")
    val = _line(loss, "val_loss")
    assert "val_loss (after epoch 1)" in [t.get_text() for t in loss.get_legend().get_texts()]
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    x, y = loss.transData.transform((150.0, 1.7367))
    seen = pixels[int(round(pixels.shape[0] - y)), int(round(x))]
    # the pixel at the validation point is the validation colour, not the diamond drawn over it
    assert np.allclose(seen, to_rgb(val.get_color()), atol=0.1), (seen, val.get_color())


def test_each_series_has_one_colour_in_every_panel_and_picture(tmp_path):
    # the tester's two-epoch word run, AR/TAR on: the loss per step is the minimized loss
    epochs = [{"step": 134, "xent": 3.531, "val": 2.276}, {"step": 150, "xent": 2.722, "val": 2.183}]
    run = _lm_run(tmp_path / "word", epochs, 2.748, penalty=0.06)
    per_step = _figure(run)
    loss, bits = _panel(per_step, "loss"), _panel(per_step, "bits per token")
    train, val = SPLIT_COLOR["train"], SPLIT_COLOR["val"]
    assert to_hex(_line(loss, "val_loss").get_color()) == to_hex(_line(bits, "val_bpc").get_color()) == val
    assert to_hex(_line(loss, "train cross-entropy").get_color()) == to_hex(_line(bits, "train_bpc").get_color()) == train
    assert {to_hex(ln.get_color()) for ln in loss.get_lines() + bits.get_lines()
            if (ln.get_gid() or "").startswith("evaluated")} == {train}
    minimized = _line(loss, "training loss (the step's batch)")
    assert to_hex(minimized.get_color()) == PENALTY_COLOR and "penalties included" in minimized.get_label()
    # the picture per epoch of the same run: the same colours, the minimized loss grey there too
    by_epoch = plot_metrics(run)
    assert to_hex(_line(_panel(by_epoch, "loss"), "val_loss").get_color()) == val
    assert to_hex(_line(_panel(by_epoch, "loss"), "train_loss (minimized").get_color()) == PENALTY_COLOR
    assert to_hex(_line(_panel(by_epoch, "bits per token"), "val_bpc").get_color()) == val
    # the learning rate and gradient norms are no split: none of them in a split's colour
    others = [ln for ax in per_step.axes if ax.get_title() in ("learning rate", "gradient norm") for ln in ax.get_lines()]
    assert others and not {to_hex(ln.get_color()) for ln in others} & set(SPLIT_COLOR.values())


def test_without_a_penalty_the_loss_per_step_is_the_training_colour(tmp_path):
    epochs = [{"step": 134, "xent": 3.531, "val": 2.276}, {"step": 150, "xent": 2.722, "val": 2.183}]
    loss = _panel(_figure(_lm_run(tmp_path / "plain", epochs, 2.748, penalty=0.0)), "loss")
    per_step = _line(loss, "training loss (the step's batch)")
    assert to_hex(per_step.get_color()) == SPLIT_COLOR["train"] and "minimized" not in per_step.get_label()
    assert to_hex(_line(loss, "val_loss").get_color()) == SPLIT_COLOR["val"]


def test_a_split_keeps_its_colour_where_the_training_curve_is_missing():
    fig = plot_metrics([{"epoch": e, "val_acc": 0.5 + 0.1 * e, "test_acc": 0.4 + 0.1 * e} for e in (1, 2, 3)])
    accuracy = _panel(fig, "accuracy")
    assert to_hex(_line(accuracy, "val_acc").get_color()) == SPLIT_COLOR["val"]
    assert to_hex(_line(accuracy, "test_acc").get_color()) == SPLIT_COLOR["test"]
