"""A run read from Python, and what the report draws of a loop of the user's own (Tracker,
TargetNormController, diagnose): readers never create a directory, every recorded statistic is
drawn or named, a second diagnosis keeps the first, and mistyped arguments are one-line errors."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import plots
from rnnlab.doctor import Report
from rnnlab.errors import RunDirError
from rnnlab.optim import AdamW, TargetNormController
from rnnlab.regularize import Rule, param_groups
from rnnlab.report import render_report


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnlab.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _own_loop(run_dir, steps: int = 8, diagnose_at: tuple[int, ...] = (0, 8), norms: bool = True):
    """The user's loop, small: Tracker, a target-norm controller writing to the run, diagnose
    (without ``norms``: the Tracker records the loss alone, for tests that read the health section)."""
    torch.manual_seed(0)
    model, loss_fn = Net(), nn.CrossEntropyLoss()
    x, y = torch.randn(32, 6, 3), torch.randint(0, 2, (32,))
    opt = AdamW(param_groups(model, [Rule(role="recurrent", weight_decay=1e-1, label="rec")]), lr=1e-2)
    tracker = rnnlab.Tracker(run_dir, model, weights_every=int(norms), grads_every=2 * int(norms))
    ctl = TargetNormController(opt, {"rec": 0.5}, every=2, run_dir=tracker.run)
    reports = []
    for step in range(steps + 1):
        if step in diagnose_at:
            reports.append(rnnlab.diagnose(model, (x, y), loss_fn, run_dir=tracker.run, step=step, epoch=0))
        if step == steps:
            break
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        tracker.step(loss, epoch=1)
        opt.step()
        ctl.step()
    tracker.close()
    return model, reports


def _section(html: str, sid: str) -> str:
    return html.split(f'<section id="{sid}">')[1].split("</section>")[0]


@pytest.mark.parametrize("read", [
    lambda p: rnnlab.read_tracked(p),
    lambda p: plots.plot_norm_lines(p),
    lambda p: plots.plot_norm_histograms(p),
    lambda p: plots.plot_metrics(p),
    lambda p: plots.plot_compare_norms({"a": p}),
], ids=["read_tracked", "plot_norm_lines", "plot_norm_histograms", "plot_metrics", "plot_compare_norms"])
def test_a_read_of_a_missing_run_directory_is_an_error_and_creates_nothing(tmp_path, read):
    missing = tmp_path / "nope" / "run"
    with pytest.raises(RunDirError, match=r"run directory '.*nope/run' does not exist"):
        read(missing)
    assert not (tmp_path / "nope").exists()


def test_gate_histograms_of_gradients_never_computed_are_an_error(tmp_path):
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"no gradient has been computed .*call loss.backward\(\) first"):
        plots.plot_gate_histograms(lstm, grad=True)
    lstm(torch.randn(5, 2, 3))[0].sum().backward()
    fig = plots.plot_gate_histograms(lstm, grad=True)
    assert "gradients" in fig._suptitle.get_text()


def test_constant_gate_histograms_have_one_tick_and_the_note_above_the_bars():
    gru = nn.GRU(3, 4)
    with torch.no_grad():
        gru.bias_ih_l0.zero_()
        gru.bias_hh_l0.fill_(0.5)
    fig = plots.plot_gate_histograms(gru)
    bias_ih = next(ax for ax in fig.axes if ax.get_title().startswith("bias_ih_l0"))
    bias_hh = next(ax for ax in fig.axes if ax.get_title().startswith("bias_hh_l0"))
    for ax, value in ((bias_ih, 0.0), (bias_hh, 0.5)):
        # one value: one tick at it, not ten long ones run together over a ±1e-3 window
        assert [float(t) for t in ax.get_xticks()] == [value]
        tallest = max(float(p.get_path().vertices[:, 1].max()) for p in ax.patches)
        # the "constant in gate ..." note sits in the room above the bars, not on them
        assert ax.get_ylim()[1] >= 1.3 * tallest


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """The run of :func:`_own_loop` as it is by default, which the two tests below only read."""
    run = tmp_path_factory.mktemp("own_loop") / "run"
    _own_loop(run)
    return run


def test_report_of_an_own_loop_draws_or_names_every_recorded_statistic(own_run):
    run = own_run
    stats = {(r["name"], r["stat"]) for r in map(json.loads, (run / "tracked.jsonl").read_text().splitlines())}
    assert {("model", "grad_l2"), ("target_norm/rec", "weight_decay"), ("rnn.weight_hh_l0", "update_ratio")} <= stats
    norms = _section(render_report(run), "weight-norms")
    for alt in ("gradient norms over steps", "update ratio over steps", "target-norm controller over steps"):
        assert f'alt="{alt}"' in norms
    # what no figure draws is named, with why: the whole-tensor norms and the gradients' per-channel vectors
    named = dict(re.findall(r"<li><b>([^<]+)</b>[^:]*: ([^<]+)</li>", norms))
    assert set(named) == {"l2", "grad_l2", "grad_l2_per_channel", "l2_per_channel"}
    assert "whole tensor" in named["l2"] and "Gradient norms" in named["grad_l2_per_channel"]


def test_gradient_figure_has_the_whole_model_first_and_the_controller_its_target(own_run):
    run = own_run
    fig = plots.plot_norm_lines(run, norm="grad_l2")
    assert fig.axes[0].get_title() == "model (all parameters)"
    recorded = rnnlab.read_tracked(run)["model"]["grad_l2"]
    assert fig.axes[0].lines[0].get_ydata().tolist() == pytest.approx(recorded.values.tolist())
    fig = plots.plot_norm_lines(run, norm="target_norm")
    assert [ax.get_title() for ax in fig.axes] == ["target_norm/rec", "target_norm/rec: weight decay"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["norm", "target"]
    assert set(fig.axes[0].lines[1].get_ydata()) == {0.5}


def test_health_lead_points_to_the_gradient_through_time_only_where_there_is_one(tmp_path):
    run = tmp_path / "run"
    _own_loop(run, steps=2, norms=False)
    health = _section(render_report(run), "health")
    assert "Gradient through time after training" not in health
    from rnnlab.introspect.through_time_file import write_grad_through_time

    model = Net()
    batch = (torch.randn(4, 6, 3), torch.randint(0, 2, (4,)))
    gtt = rnnlab.introspect.grad_through_time(model, batch, nn.CrossEntropyLoss())
    write_grad_through_time(run, gtt, step=2, epoch=0)
    health = _section(render_report(run), "health")
    assert "The gradient through time of the trained model is under" in health


def test_a_second_diagnose_keeps_the_first(tmp_path):
    run = tmp_path / "run"
    _, (first, second) = _own_loop(run, steps=4, diagnose_at=(0, 4), norms=False)
    read = Report.read(run)
    assert [f.to_dict() for f in read.findings] == [f.to_dict() for f in second.findings]
    assert len(read.earlier) == 1 and read.earlier[0].measured == {"step": 0, "epoch": 0}
    assert [f.to_dict() for f in read.earlier[0].findings] == [f.to_dict() for f in first.findings]
    assert read.earlier[0].skipped == first.skipped
    health = _section(render_report(run), "health")
    assert "1 earlier health check of this run (before training (step 0))" in health


def test_the_trainers_rewrite_of_its_diagnosis_replaces_it(tmp_path):
    """rnnlab train writes its diagnosis, then the same one with the findings after training added
    (train/trainer.py's _fit_findings): health.json reads as one diagnosis, as before."""
    from rnnlab.doctor import Finding

    torch.manual_seed(0)
    run = tmp_path / "run"
    batch = (torch.randn(16, 6, 3), torch.randint(0, 2, (16,)))
    rnnlab.diagnose(Net(), batch, nn.CrossEntropyLoss(), run_dir=run)
    earlier = Report.read(run)
    fit = Finding("underfit", "warning", "Underfits", {}, "m", "r", phase="after_training")
    Report([fit, *earlier.findings], earlier.skipped).write(run)
    read = Report.read(run)
    assert read.earlier == [] and "earlier" not in json.loads((run / "health.json").read_text())
    assert [f.check for f in read.findings] == ["underfit", *(f.check for f in earlier.findings)]


def test_compare_norms_names_a_mistyped_parameter(tmp_path):
    run = tmp_path / "run"
    _own_loop(run, steps=2, diagnose_at=())
    with pytest.raises(KeyError, match="did you mean 'rnn.weight_hh_l0'"):
        plots.plot_compare_norms({"a": run}, params=["rnn.weight_hh"])
    with pytest.raises(KeyError, match="did you mean 'rnn.weight_hh_l0'"):
        plots.plot_norm_lines(run, params=["rnn.weight_hh"])


def test_saving_a_figure_to_a_directory_names_path(tmp_path):
    run = tmp_path / "run"
    _own_loop(run, steps=2, diagnose_at=())
    for where in (str(tmp_path) + "/", tmp_path, str(tmp_path / "new") + "/"):
        with pytest.raises(ValueError, match=r"^path: expected the figure's file name .*got the directory"):
            plots.plot_metrics(run, x="step", path=where)
    assert not (tmp_path / "new").exists()
