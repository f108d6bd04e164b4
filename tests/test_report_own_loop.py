"""The report of a run recorded by a training loop of the user's own (rnnlab.Tracker, rnnlab.diagnose
at any time, no metrics.jsonl nor config.toml): each section says what is true of such a run, and a
run of rnnlab train keeps the claims that hold for it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnlab.doctor import diagnose
from rnnlab.errors import RunDirError
from rnnlab.htmlkit import NO_DATA
from rnnlab.plots.metrics import plot_metrics, tracked_loss_records
from rnnlab.report import render_report
from rnnlab.rundir import (
    RECORDED_BY_LIGHTNING,
    RECORDED_BY_OWN_LOOP,
    RECORDED_BY_TRAIN,
    RUN,
    RunDir,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    recorded_by,
)
from rnnlab.tracker import Tracker


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _own_loop(root, steps: int = 20, diagnosed: bool = True, norms: bool = True) -> tuple[RunDir, list[float], Net, tuple]:
    """A user's loop: a Tracker recording weights and the loss every 5 steps (``norms``; else the
    loss alone, for the tests of sections that read no norms: the report is quicker to draw
    without their figures), then (``diagnosed``) rnnlab.diagnose on the trained model into the same
    directory. Returns the losses of each step."""
    torch.manual_seed(0)
    model, run = Net(), RunDir(root)
    batch = (torch.randn(8, 6, 2), torch.randint(0, 2, (8,)))
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    losses = []
    every = 5 if norms else 0
    with Tracker(run, model, weights_every=every, grads_every=every) as tracker:
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch[0]), batch[1])
            loss.backward()
            tracker.step(loss)
            opt.step()
            losses.append(float(loss))
    if diagnosed:
        diagnose(model, batch, torch.nn.CrossEntropyLoss(), run_dir=run)
    return run, losses, model, batch


def _section(text: str, sid: str) -> str:
    return text.split(f'<section id="{sid}">')[1].split("</section>")[0]


def _title(text: str, sid: str) -> str:
    return _section(text, sid).split("<h2>")[1].split("</h2>")[0]


# --- metric curves and final metrics ----------------------------------------------------------------


def test_a_loop_of_ones_own_has_its_tracked_loss_drawn_per_step_and_said_where_it_comes_from(tmp_path):
    run, losses, _, _ = _own_loop(tmp_path / "mine")
    text = render_report(run)
    curves = _section(text, "metric-curves")
    assert NO_DATA not in curves and 'alt="loss per step"' in curves
    assert "The loss given to rnnlab.Tracker.step, per step (tracked.jsonl" in curves
    assert "from 0 to 19" in curves  # (the loss is recorded at every step it is given)
    # the curve is the recorded loss, against the step
    records = tracked_loss_records(run)
    assert [r["step"] for r in records] == list(range(20))
    assert np.allclose([r["tracked_loss"] for r in records], [losses[s] for s in range(20)], rtol=1e-6)
    ax = plot_metrics(records, x="step").axes[0]
    assert ax.get_xlabel() == "step"
    assert np.allclose(ax.lines[0].get_xydata(), [[s, losses[s]] for s in range(20)], rtol=1e-6)
    # the final metrics: the last tracked loss, not "missing"
    final = _section(text, "final-metrics")
    assert NO_DATA not in final and "<th>loss at step 19</th>" in final
    assert f"{losses[19]:.4g}" in final and "no validation or test figure" in final


def test_with_metrics_jsonl_the_curves_stay_per_epoch(tmp_path):
    run, _, _, _ = _own_loop(tmp_path / "both", diagnosed=False)
    for e in (1, 2, 3):
        append_jsonl(run.metrics, {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e})
    text = render_report(run)
    curves = _section(text, "metric-curves")
    assert 'alt="metric curves"' in curves and "Tracker.step" not in curves
    assert "after epoch 3" in _section(text, "final-metrics")
    with pytest.raises(ValueError, match=r"x: expected one of \['epoch', 'step'\], got 'time'"):
        plot_metrics([{"epoch": 1, "train_loss": 1.0}], x="time")


def test_a_loop_without_a_tracked_loss_says_what_is_missing(tmp_path):
    run = RunDir(tmp_path / "noloss")
    model = Net()
    with Tracker(run, model) as tracker:
        tracker.step()  # (no loss given)
    text = render_report(run)
    for sid in ("metric-curves", "final-metrics"):
        assert "metrics.jsonl is missing or empty, and tracked.jsonl holds no loss" in _section(text, sid), sid


# --- health: when the checks ran -----------------------------------------------------------------------


def test_a_users_diagnose_is_not_said_to_be_before_training(tmp_path):
    run, _, _, _ = _own_loop(tmp_path / "mine", norms=False)
    text = render_report(run)
    health = _section(text, "health")
    assert _title(text, "health") == "Health findings when diagnose ran"
    assert '<a href="#health">Health findings when diagnose ran</a>' in text  # (the navigation too)
    assert "before training" not in health and "untrained" not in health
    assert "health.json does not record when that was" in health
    # the same files with the config.toml rnnlab train writes first: its checks ran before training
    atomic_write_text(run.config, "[data]\ndataset = \"GunPoint\"\n")
    text = render_report(run)
    assert _title(text, "health") == "Health findings before training"
    assert "Measured before training began, on the untrained model" in _section(text, "health")


def test_the_step_health_json_records_is_said(tmp_path):
    run, _, _, _ = _own_loop(tmp_path / "mine", norms=False)
    findings = run.read_health()
    atomic_write_json(run.health, {"findings": findings, "measured": {"step": 20, "epoch": 2}})
    assert run.read_health() == findings and run.read_health_measured() == {"step": 20, "epoch": 2}
    text = render_report(run)
    assert _title(text, "health") == "Health findings after 20 training steps (epoch 2)"
    assert "Measured when rnnlab.diagnose ran, after 20 training steps (epoch 2) (health.json records it)" in text
    atomic_write_json(run.health, {"findings": findings, "measured": {"step": 0}})
    assert _title(render_report(run), "health") == "Health findings before training"
    atomic_write_json(run.health, {"findings": findings, "measured": {"step": -1}})
    with pytest.raises(RunDirError, match=r"health.json: expected 'measured.step' to be an integer >= 0 or null, "
                                          r"got a number -1"):
        run.read_health_measured()
    text = render_report(run)  # (a broken file: the section shows the problem, the page is drawn)
    assert "could not show health findings" in _section(text, "health") and _title(text, "health") == "Health findings"


# --- fit, configuration: what a loop of one's own does not have ---------------------------------------


def test_fit_and_configuration_say_what_a_loop_of_ones_own_does_not_record(tmp_path):
    run, _, _, _ = _own_loop(tmp_path / "mine", norms=False)
    text = render_report(run)
    fit = _section(text, "fit")
    assert "the checks after training (underfit, overfit) did not run for this run" in fit
    assert "rnnlab.Tracker and rnnlab.diagnose alone do not measure" in fit
    config = _section(text, "configuration")
    assert NO_DATA not in config
    assert "config.toml is missing by design: a training loop of your own recorded this run" in config


def test_recorded_by_tells_who_recorded_a_run(tmp_path):
    run = RunDir(tmp_path / "r")
    assert recorded_by(run.path) is None  # (empty: nothing tells)
    atomic_write_json(run.health, [])
    assert recorded_by(run.path) == RECORDED_BY_OWN_LOOP  # (rnnlab.diagnose(..., run_dir=) alone)
    append_jsonl(run.metrics, {"epoch": 1, "train_loss": 0.5})
    assert recorded_by(run.path) is None  # (metrics.jsonl: a trainer's, which one the files do not say)
    atomic_write_text(run.config, "")
    assert recorded_by(run.path) == RECORDED_BY_TRAIN
    (run.path / RUN.marker).write_text(json.dumps({"recorded_by": RECORDED_BY_LIGHTNING}))
    assert recorded_by(run.path) == RECORDED_BY_LIGHTNING


# --- when the user's own diagnose ran -----------------------------------------------------------------


def test_diagnose_into_the_run_a_tracker_holds_records_its_step_and_the_report_says_it(tmp_path):
    from rnnlab.introspect.through_time import grad_through_time
    from rnnlab.introspect.through_time_file import write_grad_through_time

    torch.manual_seed(0)
    model, run = Net(), RunDir(tmp_path / "mid")
    batch = (torch.randn(8, 6, 2), torch.randint(0, 2, (8,)))
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    with Tracker(run, model, weights_every=5) as tracker:
        for _ in range(12):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch[0]), batch[1])
            loss.backward()
            tracker.step(loss)
            opt.step()
        # (mid-loop, into the directory the tracker holds: refused as busy before)
        diagnose(model, batch, torch.nn.CrossEntropyLoss(), run_dir=tracker.run, step=tracker.step_count)
        write_grad_through_time(tracker.run, grad_through_time(model, batch, torch.nn.CrossEntropyLoss()),
                                step=tracker.step_count)
    assert run.read_health_measured() == {"step": 12, "epoch": None}
    text = render_report(run)
    assert _title(text, "health") == "Health findings after 12 training steps"
    lead = _section(text, "gradient-through-time")
    assert "The health findings (above) measured the model when rnnlab.diagnose ran after 12 training steps" in lead
    assert "before training (above)" not in lead


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_bad_step_for_diagnose_is_refused_before_any_work(bad):
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match=f"step: expected an integer >= 0 or None, got {bad!r}"):
        diagnose(net, (torch.randn(4, 4), torch.randint(0, 2, (4,))), torch.nn.CrossEntropyLoss(), step=bad)
