"""Seeing what went wrong (tester helper-298): a diverged run is no tie in rnnlab compare, weights
already NaN are named by rnnlab.diagnose, a user's cell's recurrent weight is drawn by rnnlab report
before the built-in layers' biases, and one exploded run leaves compare_norms.png readable."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.compare import grouped_table, single_runs_notes
from rnnlab.plots.compare import OFF_SCALE, off_scale, plot_compare_norms
from rnnlab.plots.norms import reading_order
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.tracker import read_tracked

# --- 1. rnnlab compare: a NaN score is no tie --------------------------------------------------


def _rows(*scores: float, head: str = "loss") -> list[dict]:
    return [{"run": f"runs/r{i}", "headline": head, "higher_is_better": head != "loss", f"val_{head}@kept": v}
            for i, v in enumerate(scores)]


@pytest.mark.parametrize("scores", [(0.7, math.nan), (math.nan, 0.7), (0.7, math.inf)])
def test_a_run_whose_loss_went_nan_is_named_and_ties_with_no_run(scores):
    notes = single_runs_notes(_rows(*scores))
    assert not any("a tie" in n for n in notes), notes
    [lost] = [n for n in notes if "not finite" in n]
    bad = next(i for i, v in enumerate(scores) if not math.isfinite(v))
    assert f"not finite for runs/r{bad} (" in lost and "diverged" in lost and "ties with none" in lost


def test_the_finite_runs_tie_is_said_of_them_and_a_loss_tie_asks_for_no_finer_metric():
    notes = single_runs_notes(_rows(0.7, math.nan, 0.7))
    [tie] = [n for n in notes if "a tie" in n]
    assert tie.startswith("note: every run with a finite score scores val_loss@kept 0.7: a tie")
    assert "val_loss" not in tie.split("(", 1)[1] and "more folds or seeds can" in tie
    # (accuracy has a finer metric: the loss)
    [acc_tie] = [n for n in single_runs_notes(_rows(1.0, 1.0, head="acc")) if "a tie" in n]
    assert acc_tie.startswith("note: every run scores val_acc@kept 1: a tie") and "such as val_loss" in acc_tie


def test_a_group_with_a_diverged_seed_is_not_judged_and_says_why():
    def group(z: str, scores: tuple[float, ...]) -> list[dict]:
        return [{"run": f"{z}-s{s}", "config": {"model.zoneout": z, "training.seed": str(s)}, "headline": "loss",
                 "higher_is_better": False, "val_loss@kept": v} for s, v in enumerate(scores)]

    table = grouped_table([group("0", (0.80, 0.82, 0.81)), group("0.15", (0.91, math.nan, 0.90)),
                           group("0.3", (0.70, 0.71, 0.72))], {"model.zoneout": "0"})
    rows = table.splitlines()
    assert rows[2].endswith("- (val_loss@kept not finite for 0.15-s1: its training diverged)")
    assert "better: gain" in rows[3]  # (the other groups are judged as before)


# --- 2. rnnlab.diagnose: weights already NaN are the finding -----------------------------------


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = rnnlab.LSTM(2, 4, batch_first=True)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.lstm(x)[0][:, -1]))


@pytest.mark.parametrize("spoil, named", [("lstm.weight_hh_l0", "parameter lstm.weight_hh_l0"),
                                          ("bn.running_var", "buffer bn.running_var")])
def test_weights_already_nan_are_named_not_the_outputs_or_the_targets(spoil, named):
    torch.manual_seed(0)
    model = _Net()
    model.load_state_dict({**model.state_dict(), spoil: torch.full_like(model.state_dict()[spoil], math.nan)})
    x, y = torch.randn(8, 5, 2), torch.randint(0, 2, (8,))
    report = rnnlab.diagnose(model, (x, y), nn.CrossEntropyLoss(), steps=1, checks="nonfinite")
    [found] = report.findings
    assert found.title == f"Non-finite values in the model's weights as given, first in {named}"
    assert "already non-finite before diagnose took a step: an earlier training diverged" in found.message
    assert "check the targets" not in found.remedy and "lower the learning rate" in found.remedy
    assert found.numbers["first"]["phase"] == "as given"
    # (the caller's model is untouched, NaN and all)
    assert not torch.isfinite(model.state_dict()[spoil]).all()


def test_a_finite_model_gets_no_weights_finding():
    torch.manual_seed(0)
    report = rnnlab.diagnose(_Net(), (torch.randn(8, 5, 2), torch.randint(0, 2, (8,))), nn.CrossEntropyLoss(),
                             steps=1, checks="nonfinite")
    assert report.findings == []


# --- 3. rnnlab report: a user's cell's recurrent weight before the built-in layers' biases ------


class _Cell(nn.Module):
    """A cell whose weights' names say nothing of their role: only its gate_layout does."""

    gate_layout = rnnlab.gates.GateLayout("plain298", gates=("h",), kernel="W", recurrent="U", bias_ih="b",
                                          activations={"h": "tanh"})
    output_is_state = True

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.W = nn.Parameter(torch.randn(hidden, n_in) * 0.3)
        self.U = nn.Parameter(torch.randn(hidden, hidden) * 0.3)
        self.b = nn.Parameter(torch.zeros(hidden))

    def forward(self, x_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(x_t @ self.W.T + h @ self.U.T + self.b)
        return h, h


class _Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = rnnlab.LSTM(2, 4, batch_first=True)
        self.gru = rnnlab.GRU(4, 4, batch_first=True)
        self.mine = rnnlab.Recurrent(_Cell(4, 4), batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mine(self.gru(self.lstm(x)[0])[0])[0][:, -1])


@pytest.fixture(scope="module")
def own_cell_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("own298") / "run"
    torch.manual_seed(0)
    model = _Stack()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x, y = torch.randn(8, 5, 2), torch.randint(0, 2, (8,))
    with rnnlab.Tracker(run, model, grads_every=1) as tracker:
        for _ in range(2):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            tracker.step(loss)
            opt.step()
    return run


def test_the_reading_order_ranks_a_users_cell_by_its_recorded_layout(own_cell_run):
    tracked = read_tracked(own_cell_run)
    params = [n for n in tracked if n not in ("loss", "model")]
    order = reading_order(params, tracked.layouts)
    assert order[:6] == ["lstm.weight_ih_l0", "lstm.weight_hh_l0", "gru.weight_ih_l0", "gru.weight_hh_l0",
                         "mine.cell.W", "mine.cell.U"]
    assert order.index("mine.cell.b") < order.index("head.weight")  # (a recurrent layer's bias, by its layout)
    # (without the layouts the names say nothing: U is only some other weight)
    assert reading_order(params).index("mine.cell.U") > reading_order(params).index("gru.bias_hh_l0")


def test_the_report_draws_the_users_recurrent_weight_and_cuts_the_head_instead(own_cell_run):
    html = render_report(own_cell_run)
    norms = html.split('<section id="weight-norms">')[1].split("</section>")[0]
    # (the weight norms', the histograms', the gradient norms' and the update ratios' figures: 13
    # parameters, room for 9 panels and 4 histogram columns)
    lines, histograms, grads, ratios = re.findall(r"not drawn: ([^<(]*)\(", norms)
    for names in (lines, grads, ratios):
        assert "mine.cell.U" not in names and "mine.cell.W" not in names and "head.weight" in names, names
    # (the cell's W and U are weights by their layout: candidates of the histograms, cut for room after the LSTM's
    # and the GRU's, where before they were not weights at all)
    assert histograms.strip() == "mine.cell.W, mine.cell.U, head.weight", histograms


# --- 6. compare_norms.png: one exploded run leaves the others readable ---------------------------


def _run(tmp_path, name: str, values: list[float]) -> RunDir:
    run = RunDir(tmp_path / name)
    for step, v in enumerate(values):
        run.append(run.tracked, {"step": step * 10, "name": "rnn.weight_hh_l0", "stat": "l2_mean", "value": v})
    return run


def test_an_exploded_run_is_off_the_scale_and_the_others_fill_the_axis(tmp_path):
    runs = {"decay": _run(tmp_path, "decay", [0.58, 0.55, 0.52]),
            "dropout": _run(tmp_path, "dropout", [0.58, 0.59, 0.6]),
            "lr 10": _run(tmp_path, "lr10", [0.58, 168.0, 212.0])}
    fig = plot_compare_norms(runs)
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((0.0, 1.08 * 0.6))
    texts = [t.get_text().replace("\n", " ") for t in ax.texts]
    assert any("off the scale: lr 10 (up to 212)" in t for t in texts), texts
    assert "off the scale" in fig.get_suptitle()
    # (two runs whose norms grew alike: no run is left off, the axis spans both)
    fig = plot_compare_norms({"a": runs["lr 10"], "b": _run(tmp_path, "b", [0.58, 100.0, 150.0])})
    assert fig.axes[0].get_ylim()[1] == pytest.approx(1.08 * 212.0)
    assert "off the scale" not in fig.get_suptitle()


def test_off_scale_needs_growth_past_its_start_and_past_the_others():
    steps = np.arange(3.0)
    # (a zero-initialised bias that stayed near 0: the others are not "exploded" against it)
    assert off_scale({"zero": (steps, np.array([0.0, 0.001, 0.002])), "a": (steps, np.array([0.1, 0.12, 0.13]))}) == {}
    top = 0.6 * OFF_SCALE * 1.5
    assert off_scale({"a": (steps, np.array([0.6, 0.6, 0.6])), "b": (steps, np.array([0.6, math.nan, top]))}) == {
        "b": top}
