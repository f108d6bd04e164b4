"""The report's weight-norm figures split a gated layer's stacked rows per gate, by the gate names
the Tracker records in tracked.jsonl; a file recorded before them is drawn whole and says so."""

from __future__ import annotations

import json

import pytest
import torch

import rnnlab.report as report
from rnnlab.errors import RunDirError
from rnnlab.plots import style
from rnnlab.rundir import RunDir
from rnnlab.tracker import Tracker, read_tracked

H = 3
#: How the names of the records naming a parameter's gates begin (rnnlab.tracker.GATES_PREFIX).
GATES = "gates/"
LSTM_GATES = ("i", "f", "g", "o")
NOT_NAMED = "does not name the gates"


def _lstm_run(run) -> torch.Tensor:
    """A tiny LSTM trained 3 steps with weight decay, its weights tracked each step; returns
    weight_hh_l0 as the last record saw it (before that step's update)."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, H)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.3, weight_decay=0.5)
    with Tracker(run, lstm, weights_every=1, grads_every=0) as tracker:
        for _ in range(3):
            opt.zero_grad()
            loss = lstm(torch.randn(4, 2, 2))[0].pow(2).mean()
            loss.backward()
            tracker.step(loss)
            seen = lstm.weight_hh_l0.detach().clone()
            opt.step()
    return seen


def _figures(monkeypatch, rd: RunDir) -> tuple[str, dict[str, list]]:
    """``_weight_norms``' HTML, and the figures it drew with each plotting function."""
    drawn: dict[str, list] = {"lines": [], "hist": []}
    for key, fn in (("lines", "plot_norm_lines"), ("hist", "plot_norm_histograms")):
        original = getattr(report, fn)

        def keep(*args, _original=original, _key=key, **kwargs):
            fig = _original(*args, **kwargs)
            drawn[_key].append(fig)
            return fig

        monkeypatch.setattr(report, fn, keep)
    return report._weight_norms(rd), drawn


def _panel(fig, title: str):
    return next(ax for ax in fig.axes if ax.get_title().splitlines()[:1] == [title])  # (then the change)


def test_the_tracker_names_the_gates_of_each_parameter_once(tmp_path):
    from rnnlab.tracker import TrackedGates

    _lstm_run(tmp_path)
    records = RunDir(tmp_path).read_tracked()
    heads = [r for r in records if r["name"].startswith(GATES)]
    assert {(r["step"], r["name"], r["stat"], r["value"]) for r in heads} == {
        (0, "gates/weight_ih_l0", "lstm:kernel:i,f,g,o", 4), (0, "gates/weight_hh_l0", "lstm:recurrent:i,f,g,o", 4),
        (0, "gates/bias_ih_l0", "lstm:bias_ih:i,f,g,o", 4), (0, "gates/bias_hh_l0", "lstm:bias_hh:i,f,g,o", 4)}
    assert len(heads) == 4  # once, not at every step
    assert {tuple(sorted(r)) for r in records} == {("epoch", "name", "stat", "step", "value")}  # the record format
    tracked = read_tracked(tmp_path)
    assert tracked.layouts["weight_hh_l0"] == TrackedGates("lstm", "recurrent", LSTM_GATES)
    # (not statistics: no figure, export or "not drawn" list sees them)
    assert not any(name.startswith(GATES) for name in tracked)


def test_report_draws_the_hand_computed_norms_of_each_gate(tmp_path, monkeypatch):
    w = _lstm_run(tmp_path)
    html, drawn = _figures(monkeypatch, RunDir(tmp_path))
    assert NOT_NAMED not in html
    (lines,) = drawn["lines"]
    ax = _panel(lines, "weight_hh_l0")
    by_label = {line.get_label(): line for line in ax.lines}
    rows = torch.linalg.vector_norm(w.double(), dim=1)  # the L2 norm of each row of weight_hh_l0
    for k, gate in enumerate(LSTM_GATES):
        block = rows[k * H:(k + 1) * H]  # gate k's rows: torch stacks i, f, g, o along dim 0
        label = f"recurrent {style.gate_title(gate)}"
        assert by_label[label].get_ydata()[-1] == pytest.approx(float(block.mean()), rel=1e-6)
        assert by_label[f"{label} max"].get_ydata()[-1] == pytest.approx(float(block.max()), rel=1e-6)
    # (one legend for the figure, below its panels: the gates' colours, which every panel shares)
    assert [t.get_text() for t in lines.legends[0].get_texts()] == [
        "i (input gate)", "f (forget gate)", "g (cell candidate)", "o (output gate)"]
    # the histograms: stacked by gate, each gate's mean dashed in its colour; the last row is the last record
    (hist,) = drawn["hist"]
    x0 = _panel(hist, "weight_hh_l0").get_position().x0
    column = sorted((a for a in hist.axes if a.get_visible() and a.get_position().x0 == x0),
                    key=lambda a: -a.get_position().y0)
    last = column[-1]  # (3 records, 3 rows: the bottom one is step 2's)
    assert len(column) == 3
    means = {line.get_color(): float(line.get_xdata()[0]) for line in last.lines}
    for k, gate in enumerate(LSTM_GATES):
        assert means[style.GATE_COLORS[gate]] == pytest.approx(float(rows[k * H:(k + 1) * H].mean()), rel=1e-6)


def test_a_file_recorded_before_the_gate_names_draws_whole_and_says_so_once(tmp_path, monkeypatch):
    _lstm_run(tmp_path)
    rd = RunDir(tmp_path)
    old = [r for r in rd.read_tracked() if not r["name"].startswith(GATES)]
    rd.tracked.write_text("".join(json.dumps(r) + "\n" for r in old))
    assert read_tracked(rd).layouts == {}
    html, drawn = _figures(monkeypatch, rd)
    assert html.count(NOT_NAMED) == 1
    (lines,) = drawn["lines"]
    assert [line.get_label() for line in _panel(lines, "weight_hh_l0").lines] == ["mean", "max"]
    (hist,) = drawn["hist"]
    assert len(_panel(hist, "weight_hh_l0").patches) == 1  # one histogram of the 4·H rows, as before


def test_a_resumed_tracker_names_them_once_and_one_starting_over_again(tmp_path):
    _lstm_run(tmp_path)
    lstm = torch.nn.LSTM(2, H)

    def heads() -> list[int]:
        return [r["step"] for r in RunDir(tmp_path).read_tracked() if r["name"] == "gates/weight_hh_l0"]

    with Tracker(tmp_path, lstm, weights_every=1, grads_every=0, start_step=2) as tracker:  # (resumed)
        tracker.step()
        assert not any(r["name"].startswith(GATES) for r in tracker.last_records)  # (what a logger logs)
    assert heads() == [0]
    with Tracker(tmp_path, lstm, weights_every=1, grads_every=0, start_step=0) as tracker:  # (starts over)
        tracker.step()
    assert heads() == [0] and read_tracked(tmp_path).layouts["bias_hh_l0"].component == "bias_hh"
    gru = torch.nn.GRU(2, H)  # (another model on the same run: refused, unless it starts over)
    with pytest.raises(RunDirError, match="of another model"):
        Tracker(tmp_path, gru, weights_every=1, grads_every=0)
    with Tracker(tmp_path, gru, weights_every=1, grads_every=0, start_step=0) as tracker:
        tracker.step()
    assert read_tracked(tmp_path).layouts["weight_hh_l0"].gates == ("r", "z", "n")


def test_a_cell_layout_and_a_plain_parameter(tmp_path):
    import rnnlab
    from rnnlab.tracker import TrackedGates

    model = torch.nn.ModuleDict({"rec": rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3)),
                                 "head": torch.nn.Linear(2, 1)})
    with Tracker(tmp_path, model, grads_every=0) as tracker:
        tracker.step()
    layouts = read_tracked(tmp_path).layouts
    recurrent = [n for n, lay in layouts.items() if lay.component == "recurrent"]
    assert len(recurrent) == 1 and layouts[recurrent[0]].gates == LSTM_GATES
    assert layouts["head.weight"] == TrackedGates(None, None, ())
