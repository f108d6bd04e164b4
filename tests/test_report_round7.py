"""New users' findings in the run report, round 7: one name showing two figures (the last epoch's
training-mode train_acc beside the evaluated one), a killed run's Fit and gradient sections, a
reach claimed for a curve that ends at 0, and steps that are the recurrent layer's, not the
input's, after a front-end that pools."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.config import parse_config
from rnnlab.doctor.findings import Finding
from rnnlab.doctor.run import curves_from_time_gradients, time_gradients
from rnnlab.introspect import grad_through_time
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.plots.through_time import plot_grad_through_time
from rnnlab.report import render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text


def _section(text: str, sid: str) -> str:
    return text.split(f'id="{sid}"')[1].split("</section>")[0]


def _text(part: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", part))


def _named_figures(page: str) -> dict[str, set[str]]:
    """Every table row of the page: its name and the figures shown under it."""
    rows: dict[str, set[str]] = {}
    for name, value in re.findall(r"<tr><th>([^<]*)</th><td[^>]*>([^<]*)</td></tr>", page):
        rows.setdefault(html.unescape(name), set()).add(value)
    return rows


# --- 1. one name, one figure -------------------------------------------------------------------------


@pytest.mark.parametrize("task, record, evaluated", [
    ("classification", {"train_loss": 1.099, "train_acc": 0.7722}, {"loss": 0.8871, "acc": 0.9111}),
    ("regression", {"train_loss": 0.52, "train_rmse": 0.72, "train_r2": 0.41}, {"loss": 0.31, "rmse": 0.55, "r2": 0.66}),
])
def test_the_page_never_shows_two_figures_under_one_name(tmp_path, task, record, evaluated):
    # (the Fit section's finding gives the evaluated figures as train_<m>, as rnnlab compare does; the
    # epoch record's train_<m> is the last epoch's running figure in training mode, input noise on)
    run = RunDir(tmp_path / "r")
    append_jsonl(run.metrics, {"epoch": 1, "step": 6, **{k: v * 0.9 for k, v in record.items()}})
    append_jsonl(run.metrics, {"epoch": 2, "step": 12, **record})
    atomic_write_json(run.summary, {"epochs": 2, "train_eval": evaluated, "test": evaluated,
                                    "fit_checked": {"underfit": "warning"}})
    finding = Finding("underfit", "warning", "The model did not fit its training data",
                      numbers={f"train_{k}": v for k, v in evaluated.items()}, phase="after_training")
    atomic_write_json(run.health, [finding.to_dict()])
    page = render_report(run)
    shown = _named_figures(page)
    assert {f"train_{k}" for k in evaluated} <= set(shown)  # (the finding's rows are there)
    twice = {name: values for name, values in shown.items() if len(values) > 1}
    assert not twice, twice
    final = _text(_section(page, "final-metrics"))
    for key, value in record.items():
        assert re.search(rf"{key} \(last epoch, training mode\)\s+{value}", final), (key, final)


# --- 2. a run killed mid-way ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> RunDir:
    """A tiny run as ``kill -9`` leaves it mid-way: its epochs recorded, no summary.json, and
    grad_through_time.json with the curve before training alone (the trainer writes the one
    after training at its end)."""
    from tiny_run import run, tiny_toml

    # (no weights or gradients tracked: the tests read its Fit and gradient-through-time sections)
    result = run(parse_config(tiny_toml(training="epochs = 3", after="[tracking]\nweights_every = 0\ngrads_every = 0")),
                 tmp_path_factory.mktemp("killed") / "r")
    rd = RunDir(result.run_dir)
    rd.summary.unlink()
    before, meta = read_grad_through_time(rd, phase="before_training")
    assert before  # (the health check's curve of the untrained model, recorded before the first epoch)
    rd.grad_through_time.unlink()
    write_grad_through_time(rd, before, step=meta["step"], epoch=meta["epoch"], phase="before_training")
    return rd


@pytest.fixture(scope="module")
def killed_page(killed) -> str:
    """The killed run's report page: drawn once, both tests below read it."""
    return render_report(killed)


def test_a_killed_runs_fit_says_it_has_not_finished_not_that_nothing_was_recorded(killed_page):
    fit = _text(_section(killed_page, "fit"))
    assert "no data recorded" not in fit
    assert "has not finished" in fit and ", after epoch 3" in fit
    assert "evaluation after training" in fit and "missing" in fit


def test_a_killed_runs_gradient_section_draws_the_curve_before_training(killed_page):
    section = _section(killed_page, "gradient-through-time")
    assert "<img" in section and "no data recorded" not in _text(section)
    assert "before training" in _text(section)


# --- 3. a curve that ends at 0 has no reach ---------------------------------------------------------------


class _LastOutput(torch.nn.Module):
    """A bidirectional LSTM whose loss reads only out[:, -1]: the reverse direction's last
    processed step, t = 0, gets no gradient."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(2, 4, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0][:, -1]


def test_the_reach_of_a_curve_whose_last_value_is_0_is_not_judged(tmp_path):
    torch.manual_seed(0)
    gtt = grad_through_time(_LastOutput(), torch.randn(3, 25, 2), lambda out: out.pow(2).mean())
    run = RunDir(tmp_path / "r")
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    write_grad_through_time(run, curves_from_time_gradients(time_gradients(gtt)), step=0, epoch=0,
                            phase="before_training")
    write_grad_through_time(run, gtt, step=5, epoch=1)
    section = _text(_section(render_report(run), "gradient-through-time"))
    reverse = section.split("rnn layer 0 reverse")[1]
    assert "all 25 steps back" not in reverse
    assert "cannot be judged" in reverse and "t = 0" in reverse and "non-zero only at t = 24" in reverse
    forward = section.split("rnn layer 0 forward")[1].split("rnn layer 0 reverse")[0]
    assert "cannot be judged" not in forward  # (its last step, t = 24, has the gradient)


# --- 4. the recurrent layer's steps after a front-end that pools -------------------------------------------


POOLED = """
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[[model.frontend.blocks]]
channels = 4
kernel_size = 7
pool = 16
"""


def _pooled_run(root: Path, length: int, steps: int) -> RunDir:
    """A run of the config above (pool ×16) whose shape rules read series of ``length`` steps,
    with gradient curves of ``steps`` recurrent steps before and after training."""
    run = RunDir(root)
    atomic_write_text(run.config, POOLED)
    atomic_write_json(run.adapt, {"shape": {"shape": {"length": length}}, "budget": {}})
    append_jsonl(run.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    curve = 0.99 ** np.arange(steps - 1, -1, -1.0)[:, None] * np.ones((steps, 3))
    gtt = GradThroughTime("model.rnn", "lstm", 1, ("forward",), {(0, "forward"): curve})
    write_grad_through_time(run, curves_from_time_gradients(time_gradients({"model.rnn": gtt})), step=0, epoch=0,
                            phase="before_training")
    write_grad_through_time(run, {"model.rnn": gtt}, step=5, epoch=1)
    return run


def test_the_gradient_section_says_its_steps_are_the_recurrent_layers_after_pooling(tmp_path):
    section = _text(_section(render_report(_pooled_run(tmp_path / "r", 3000, 188)), "gradient-through-time"))
    assert "input pooled ×16: 3000 → 188" in section
    assert "all 188 recurrent steps back" in section and "all 188 steps back" not in section


def test_a_one_step_curve_says_1_step(tmp_path):
    section = _text(_section(render_report(_pooled_run(tmp_path / "r", 2, 1)), "gradient-through-time"))
    assert "input pooled ×16: 2 → 1" in section
    assert not re.search(r"\b1 (recurrent )?steps\b", section), section


def test_the_picture_labels_its_steps_as_told():
    fig = plot_grad_through_time(np.ones((188, 2)))
    assert fig.axes[1].get_xlabel() == "timestep t"  # (today's label by default)
    label = "recurrent step (input pooled ×16: 3000 → 188)"
    assert plot_grad_through_time(np.ones((188, 2)), xlabel=label).axes[1].get_xlabel() == label


def test_a_one_step_picture_has_a_tick_at_0_draws_the_curve_before_training_and_says_1_step():
    one = plot_grad_through_time(np.full((1, 2), 2.0), before=np.array([3.0]))
    ax = one.axes[1]
    assert list(ax.get_xticks()) == [0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--" and len(line.get_xdata()) == 1]
    assert dashed and dashed[0].get_marker() not in (None, "None", "", " ")  # (a dashed line through one point is nothing)
    legend = " ".join(t.get_text() for a in one.axes for leg in [a.get_legend()] if leg for t in leg.get_texts())
    legend += " ".join(t.get_text() for leg in one.legends for t in leg.get_texts())
    assert "1 steps" not in legend
