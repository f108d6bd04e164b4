"""A user's own cell (rnnlab.Recurrent) and own training loop (rnnlab.Tracker): the health check's
remedies say what to change in the cell (Recurrent refuses the built-in layers' keywords), the
gates_stuck skip and the report's Gates note say what is read and what works, and a finished Tracker
run that also wrote metrics.jsonl is a loop of the user's own, not an unfinished run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.compare import run_summary
from rnnlab.doctor import diagnose
from rnnlab.doctor.checks import (
    Observations,
    ParamTrace,
    Thresholds,
    TimeGradient,
    WeightBiasPair,
    bias_growth,
    judge_through_time,
)
from rnnlab.report import render_report
from rnnlab.rundir import (
    RECORDED_BY_OWN_LOOP,
    RUN,
    RunDir,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_marker,
    recorded_by,
)
from rnnlab.tracker import Tracker

H = 16
#: The keywords of rnnlab's built-in layers that rnnlab.Recurrent refuses with a TypeError.
REFUSED = ("unit_forget_bias", "recurrent_init", "layer_norm", "recurrent_constraint", "bias_constraint")


class TupleCell(nn.Module):
    """An LSTM cell of the user's own: state (h, c), gates i, f, g, o stacked as torch stacks them."""

    gate_layout = rnnlab.gates.GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.ih = nn.Linear(i, 4 * h)
        self.hh = nn.Linear(h, 4 * h, bias=False)

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = x.new_zeros(x.shape[0], self.hidden_size)
        return z, z.clone()

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, -1)
        c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h2 = torch.sigmoid(o) * torch.tanh(c2)
        return h2, (h2, c2)


class TanhCell(nn.Module):
    """A plain recurrence of the user's own, with no gate layout."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.ih, self.hh = nn.Linear(i, h), nn.Linear(h, h, bias=False)

    def forward(self, x, h):
        h2 = torch.tanh(self.ih(x) + self.hh(h))
        return h2, h2


class Net(nn.Module):
    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.rnn = rnnlab.Recurrent(cell, batch_first=True)
        self.head = nn.Linear(H, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


def _shut_forget_gate(net: Net) -> Net:
    with torch.no_grad():
        net.rnn.cell.ih.bias[H:2 * H] = -6.0  # the forget gate's rows: the state forgets at once
    return net


def _diagnose(net: nn.Module, steps: int = 0):
    torch.manual_seed(1)
    batch = (torch.randn(32, 120, 1), torch.randint(0, 2, (32,)))
    return diagnose(net, batch, nn.CrossEntropyLoss(), steps=steps)


def _vanishing(report) -> str:
    found = [f for f in report.findings if f.check == "gradient_through_time"]
    assert found and found[0].title.startswith("Vanishing gradient through time in 'rnn'"), report.findings
    return found[0].remedy


# --- the health check's remedies for a cell of the user's own ------------------------------------------


def test_a_vanishing_gradient_in_an_lstm_layout_cell_is_told_what_to_change_in_the_cell():
    torch.manual_seed(0)
    net = _shut_forget_gate(Net(TupleCell(1, H)))
    remedy = _vanishing(_diagnose(net))
    # what Recurrent refuses is not offered, and a cell declaring LSTM gates is not told to use gates
    for word in (*REFUSED[:3], "plain RNN", "rather than", "give it some"):
        assert f"{word}=" not in remedy and word not in remedy.split("refuses")[0], (word, remedy)
    # the forget gate's rows of the cell's own bias, with the value that shuts it, set in reset_parameters()
    assert "forget gate's bias (rows 16:32 of cell.ih.bias, mean -6 now) to 1 in the cell's reset_parameters()" in remedy
    assert "initialise cell.hh.weight orthogonal in the cell's reset_parameters()" in remedy
    assert "normalize inside the cell's forward" in remedy
    # each keyword it names as refused is refused by Recurrent
    for keyword in REFUSED[:3]:
        with pytest.raises(TypeError, match=f"{keyword}: a keyword of rnnlab's built-in layers"):
            rnnlab.Recurrent(TupleCell(1, H), **{keyword: True})


def test_what_the_cell_does_already_is_left_out_of_the_remedy():
    torch.manual_seed(0)
    net = _shut_forget_gate(Net(TupleCell(1, H)))
    cell = net.rnn.cell
    with torch.no_grad():  # the remedy followed: forget bias 1, each gate's recurrent block orthogonal
        cell.ih.bias[H:2 * H] = 1.0
        for block in cell.hh.weight.split(H):
            nn.init.orthogonal_(block)
    cell.norm = nn.LayerNorm(4 * H)  # (a norm inside the cell)
    steps = 500
    curve = 0.5 ** torch.arange(steps - 1.0, -1, -1)
    _, finding = judge_through_time(TimeGradient("'rnn' layer 0 forward", curve, net.rnn, "rnn", 0, "forward"),
                                    Thresholds())
    assert "forget gate" not in finding.remedy and "orthogonal" not in finding.remedy.split(".")[0]
    assert "normalize inside" not in finding.remedy
    assert finding.remedy.startswith("Shorten the sequences the layer sees")


def test_a_cell_without_gates_is_told_to_gate_it_not_to_set_keywords():
    torch.manual_seed(0)
    net = Net(TanhCell(1, H))
    with torch.no_grad():
        net.rnn.cell.hh.weight.mul_(0.1)  # a contracting recurrence: the gradient vanishes
    remedy = _vanishing(_diagnose(net))
    assert remedy.startswith("If the cell has no gates, give it some (an LSTM- or GRU-style cell)")
    assert "in the cell's reset_parameters()" in remedy
    assert not any(f"{word}=" in remedy for word in REFUSED)


def test_an_exploding_gradient_in_a_cell_of_ones_own_names_no_keyword_recurrent_refuses():
    net = Net(TupleCell(1, H))
    curve = 2.0 ** torch.arange(19.0, -1, -1)  # |dLoss/dh_t| doubling each step back
    verdict, finding = judge_through_time(TimeGradient("'rnn' layer 0 forward", curve, net.rnn, "rnn", 0, "forward"),
                                          Thresholds())
    assert verdict == "explodes"
    assert not any(f"{word}=" in finding.remedy or f"{word}," in finding.remedy.split("refuses")[0] for word in REFUSED)
    assert "in its reset_parameters()" in finding.remedy and "clip_grad_norm_" in finding.remedy
    # a built-in layer keeps its keywords
    lstm = rnnlab.LSTM(1, H)
    _, finding = judge_through_time(TimeGradient("'rnn' layer 0 forward", curve, lstm), Thresholds())
    assert "recurrent_constraint" in finding.remedy and "layer_norm=True" in finding.remedy


def test_growing_biases_of_a_cell_of_ones_own_are_not_told_to_use_bias_constraint():
    def remedy(bias_name: str, config: bool = False) -> str:
        w = ParamTrace("rnn.w", (4 * H, H), [0.4] * 6)
        b = ParamTrace(bias_name, (4 * H,), [0.03, 0.3, 0.6, 0.9, 1.2, 1.5])
        obs = Observations(steps=5, params={"rnn.w": w, bias_name: b}, config=config,
                           pairs=[WeightBiasPair("'rnn' layer 0 forward", ["rnn.w"], [bias_name])])
        (finding,) = bias_growth(obs, Thresholds())
        return finding.remedy

    own = remedy("rnn.cell.ih.bias")
    assert "bias_constraint" not in own and "a constraint projected after each optimizer step" in own
    assert "bias_constraint" in remedy("rnn.bias_ih_l0")  # rnnlab.LSTM's keyword
    assert "model.bias_constraint" in remedy("rnn.bias_ih_l0", config=True)


def test_gates_stuck_says_a_cell_of_ones_own_is_not_read():
    torch.manual_seed(0)
    report = _diagnose(Net(TupleCell(1, H)))
    why = report.skipped["gates_stuck"]
    assert "no LSTM or GRU layer was called" not in why
    assert "read from torch's and rnnlab's LSTM and GRU layers, and none was called" in why
    assert "the cell of your own in 'rnn' (TupleCell) is not read" in why
    # what it points to works on that cell
    assert sorted(rnnlab.introspect.gate_weights(Net(TupleCell(1, H)))[0].recurrent) == ["f", "g", "i", "o"]


# --- the report of a user's own loop -------------------------------------------------------------------


def _tracker_run(root, epochs: int = 3, metrics: bool = True, norms: bool = True) -> tuple[RunDir, Net]:
    """A user's loop as docs/compare.md describes it: a Tracker run, per-epoch lines in
    metrics.jsonl, rnnlab.diagnose into the run at the end; closed (finished). Without ``norms``
    the Tracker records the loss alone (for tests that read no weight-norm section)."""
    torch.manual_seed(0)
    net, run = Net(TupleCell(1, H)), RunDir(root)
    batch = (torch.randn(8, 10, 1), torch.randint(0, 2, (8,)))
    opt = torch.optim.AdamW(net.parameters(), 1e-2)
    every = {"weights_every": 2} if norms else {"weights_every": 0, "grads_every": 0}
    with Tracker(run, net, **every) as tracker:
        for epoch in range(1, epochs + 1):
            for _ in range(2):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(net(batch[0]), batch[1])
                loss.backward()
                tracker.step(loss)
                opt.step()
            if metrics:
                append_jsonl(run.metrics, {"epoch": epoch, "step": tracker.step_count, "train_loss": float(loss),
                                           "val_loss": float(loss) + 0.1})
        diagnose(net, batch, nn.CrossEntropyLoss(), run_dir=tracker.run, step=tracker.step_count, epoch=epochs)
    return run, net


def _section(text: str, sid: str) -> str:
    return text.split(f'<section id="{sid}">')[1].split("</section>")[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[RunDir, Net, str]:
    """A finished :func:`_tracker_run`, its model and its report page: made once, the tests below
    read them."""
    run, net = _tracker_run(tmp_path_factory.mktemp("finished") / "tuple", norms=False)
    return run, net, render_report(run)


def test_a_finished_tracker_run_with_metrics_jsonl_is_a_loop_of_ones_own(finished):
    run, _, text = finished
    assert recorded_by(run.path) == RECORDED_BY_OWN_LOOP
    fit = _section(text, "fit")
    assert "has not finished" not in fit and "still running" not in fit
    assert "rnnlab.Tracker and rnnlab.diagnose alone do not measure" in fit
    assert "config.toml is missing by design: a training loop of your own recorded this run" in \
        _section(text, "configuration")
    # rnnlab compare reads it as finished too (no "running or stopped")
    assert run_summary(run.path)["status"] is None


def test_a_run_of_rnnlab_train_without_summary_still_reads_as_unfinished(tmp_path):
    run, _ = _tracker_run(tmp_path / "train", norms=False)
    atomic_write_text(run.config, "[data]\ndataset = \"GunPoint\"\n")  # (rnnlab train writes it first)
    assert "Not judged yet: the run has not finished (summary.json is missing)" in _section(render_report(run), "fit")
    # a Tracker's files beside the summary.json only the two trainers write: no loop of one's own
    # (of an rnnlab before markers said who recorded a run: the marker empty)
    other, _ = _tracker_run(tmp_path / "older_lightning", metrics=False)
    atomic_write_json(other.summary, {"epochs": 3})
    atomic_write_json(other.path / RUN.marker, {})
    assert recorded_by(other.path) is None


def test_a_tracker_marks_the_run_it_claims_as_a_loop_of_ones_own(tmp_path):
    run, _ = _tracker_run(tmp_path / "marked", metrics=False)
    assert read_marker(run.path, RUN) == {"recorded_by": RECORDED_BY_OWN_LOOP}
    assert recorded_by(run.path) == RECORDED_BY_OWN_LOOP
    atomic_write_json(run.summary, {"epochs": 3})  # (its marker says it, whatever files it holds)
    assert recorded_by(run.path) == RECORDED_BY_OWN_LOOP


def test_the_gates_note_says_what_works_for_a_cell_of_ones_own(finished):
    _, net, text = finished
    gates = _section(text, "gates")
    assert "recurrent layers of cells of your own and a loop of your own have none: " \
           "rnnlab.introspect.gate_activations" not in gates
    assert "A cell of your own in rnnlab.Recurrent has no gate activations read by rnnlab" in gates
    # what the note says holds: no activations for it, its weights split per gate, its outputs per step
    x = torch.randn(2, 5, 1)
    with pytest.raises(ValueError, match="run their own cells"):
        rnnlab.introspect.gate_activations(net, x)
    assert sorted(rnnlab.introspect.gate_weights(net)[0].kernel) == ["f", "g", "i", "o"]
    assert rnnlab.introspect.layer_outputs(net, x)["rnn"].output.shape[:2] == (2, 5)
