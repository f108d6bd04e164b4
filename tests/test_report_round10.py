"""The report of a loop of the user's own (round 10).

* A diagnosis with ``steps=0`` took no training step: the health section says it checked the model
  as given, and a finding's ``phase`` in its numbers says the model its title names.
* Every panel of the norms and update-ratio figures has y tick labels that read its values, however
  narrow its range on a log axis (within a decade, matplotlib's locator labelled nothing).
* Gradients all 0 (below a log axis) still span the steps they were recorded at.
"""

from __future__ import annotations

import html
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.plots import plot_norm_lines
from rnnlab.report import render_report
from rnnlab.tracker import TrackedSeries

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnlab.GRU(3, 16, batch_first=True)
        self.head = torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[1][-1])


def _health(run, steps: int, trained: int = 4) -> str:
    """The health section's text of an own loop that trains ``trained`` steps (epoch 2), then
    diagnoses with inputs large enough to pin the gates (a channel offset by 300)."""
    torch.manual_seed(7)
    m = Net()
    x = torch.randn(16, 12, 3) * 50.0
    x[:, :, 2] += 300.0
    y = (x[:, :3, 0].mean(1) > 0).long()
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    with rnnlab.Tracker(run, m, weights_every=0, grads_every=0) as tr:  # (the health section alone is read)
        for _ in range(trained):
            loss = loss_fn(m(x), y)
            opt.zero_grad()
            loss.backward()
            tr.step(loss, epoch=2)
            opt.step()
        rnnlab.diagnose(m, (x, y), loss_fn, steps=steps, run_dir=tr.run, step=tr.step_count,
                        epoch=2 if trained else None)
    page = render_report(run)
    section = page[page.index('<section id="health">'):]
    return html.unescape(section[:section.index("</section>")])


@pytest.fixture(scope="module")
def stepless(tmp_path_factory, one_thread) -> str:
    return _health(tmp_path_factory.mktemp("stepless") / "run", steps=0)


def test_a_diagnosis_without_steps_says_it_took_none(stepless):
    lead = re.search(r"<p class='sub'>(.*?)</p>", stepless).group(1)
    assert lead.startswith("Measured when rnnlab.diagnose ran, after 4 training steps (epoch 2)")
    assert "on the model as given; no optimizer step was taken (steps=0)" in lead
    assert "over a few optimizer steps" not in lead


def test_a_findings_phase_names_the_model_its_title_names(stepless):
    # (the model given at step 4, not an initialisation, which "phase: init" alone reads as)
    title = re.search(r"Gates stuck in [^<]*", stepless).group(0)
    assert "(on the model as given at step 4, epoch 2)" in title
    phase = re.search(r"<th>phase</th><td class=\"num\">([^<]*)</td>", stepless).group(1)
    assert phase == "init (on the model as given at step 4, epoch 2)"


def test_a_diagnosis_without_steps_before_training_says_it_took_none(tmp_path):
    text = _health(tmp_path / "run", steps=0, trained=0)
    assert "<h2>Health findings before training</h2>" in text
    lead = re.search(r"<p class='sub'>(.*?)</p>", text).group(1)
    assert lead.startswith("Measured before training began, on the untrained model at initialisation; no training "
                           "step was taken (steps=0)")
    assert "over a few training steps" not in lead
    phase = re.search(r"<th>phase</th><td class=\"num\">([^<]*)</td>", text).group(1)
    assert phase == "init (at initialisation)"


def test_a_diagnosis_with_steps_still_says_it_took_them(tmp_path):
    lead = re.search(r"<p class='sub'>(.*?)</p>", _health(tmp_path / "run", steps=2)).group(1)
    assert "over a few optimizer steps on one batch taken on a copy of it" in lead
    assert "steps=0" not in lead


def _drawn_labels(axis) -> list[tuple[float, str]]:
    """(position, text) of the tick labels a draw shows (those in view, not empty)."""
    lo, hi = sorted(axis.get_view_interval())
    tol = (hi - lo) * 1e-9
    coord = 0 if axis is axis.axes.xaxis else 1
    labels = [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
    return [(t.get_position()[coord], t.get_text()) for t in labels
            if t.get_text() and lo - tol <= t.get_position()[coord] <= hi + tol]


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _value(label: str) -> float:
    """``9.74×10⁻³`` or ``10⁻²`` as a number."""
    mantissa, _, power = label.rpartition("10")
    return float(mantissa.rstrip("×") or 1) * 10.0 ** int(power.translate(_SUPERSCRIPTS))


@pytest.mark.parametrize("lo, hi", [
    (0.009730, 0.009806),  # (the report of run_twice: no whole mantissa within the view)
    (0.00995, 0.01005),  # (across a power of ten)
    (0.000953, 0.000997),  # (mantissas 9.5 to 10, which round to 10)
    (0.0011, 0.0011 * (1 + 1e-9)),  # (ten digits alike)
    (0.0034, 0.0034 * (1 + 1e-13)),  # (as good as constant)
])
def test_every_update_ratio_panel_has_labels_that_read_its_values(lo, hi):
    steps = np.arange(1, 7)
    ep = np.full(6, np.nan)
    tracked = {"rnn.weight_ih_l0": {"update_ratio": TrackedSeries(steps, np.linspace(lo, hi, 6), ep)},
               "rnn.weight_hh_l0": {"update_ratio": TrackedSeries(steps, np.geomspace(1e-4, 3e-3, 6), ep)}}
    fig = plot_norm_lines(tracked, norm="update_ratio")
    fig.canvas.draw()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        labels = _drawn_labels(ax.yaxis)
        texts = [t for _, t in labels]
        assert len(set(texts)) >= 2 and len(set(texts)) == len(texts), (ax.get_title(), texts)
        for pos, text in labels:  # each label says its tick's value
            assert _value(text) == pytest.approx(pos, rel=1e-9), (ax.get_title(), text, pos)
        bottom, top = ax.get_ylim()
        drawn = np.concatenate([line.get_ydata() for line in ax.lines])
        assert bottom <= drawn.min() and drawn.max() <= top


def test_gradients_all_zero_span_the_steps_they_were_recorded_at():
    steps = np.arange(1, 6)
    ep = np.full(5, np.nan)
    zero = TrackedSeries(steps, np.zeros(5), ep)
    tracked = {"model": {"grad_l2": zero},
               **{n: {"grad_l2_mean": zero, "grad_l2_max": zero} for n in ("rnn.weight_ih_l0", "rnn.weight_hh_l0")}}
    fig = plot_norm_lines(tracked, norm="grad_l2")
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 3
    for ax in panels:
        lo, hi = ax.get_xlim()
        assert 0 < lo <= 1 and 5 <= hi < 6, (ax.get_title(), lo, hi)
        if _drawn_labels(ax.xaxis):  # (the panels with the column's x labels)
            assert [t for _, t in _drawn_labels(ax.xaxis)] == ["1", "2", "3", "4", "5"]
        assert any("5 at 0, below the log axis" in t.get_text() for t in ax.texts)
