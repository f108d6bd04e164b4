"""Gradient through time on sequences of different lengths: counted back from each sequence's own end.

Lined up by timestep, a padded batch put a long sequence's early steps beside shorter sequences'
last steps, whose gradient is large, and the reach was read back from the longest sequence's end:
an untrained LSTM whose gradient reaches about 9 steps in every sequence read "48 of 50" on
lengths 5..50. Each sequence is now measured back from its own last valid step, the mean of each
step back over the sequences that long, and no reach is read where too few sequences reach.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab
from rnnlab.doctor.checks import Thresholds, TimeGradient, judge_through_time
from rnnlab.introspect import grad_through_time
from rnnlab.introspect.through_time import enough_sequences
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.plots.through_time import plot_grad_through_time

B, T = 64, 50


class LastStepHead(nn.Module):
    """An LSTM with a head on each sequence's last valid h (``h_n``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnlab.LSTM(3, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x, lengths=None):
        _, (h, _) = self.rnn(x, lengths=lengths)
        return self.head(h[-1])


class WithLengths(nn.Module):
    def __init__(self, net: nn.Module, lengths: torch.Tensor) -> None:
        super().__init__()
        self.net, self.lengths = net, lengths

    def forward(self, x):
        return self.net(x, self.lengths)


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(0)
    net = LastStepHead()
    x = torch.randn(B, T, 3)
    y = torch.randint(0, 2, (B,))
    lengths = torch.randint(5, T + 1, (B,))
    return net, x, y, lengths


def _summed_ce(y):
    # (summed: each sequence's gradient in the batch is the one it has alone)
    return lambda out: nn.functional.cross_entropy(out, y, reduction="sum")


def _end_aligned_mean(profiles: list[np.ndarray], rows: int) -> np.ndarray:
    """The mean over sequences of their own profiles ``[L_b]``, k steps before each one's end,
    over those that long; the last ``rows`` steps back, in forward order."""
    out = []
    for k in range(rows):
        out.append(np.mean([p[len(p) - 1 - k] for p in profiles if len(p) > k]))
    return np.array(out[::-1])


def test_padded_batch_gives_each_sequence_its_own_reach(data):
    net, x, y, lengths = data
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    g = grad_through_time(net.rnn, packed, lambda out: _summed_ce(y)(net.head(out[1][0][-1])))[""]
    alone = [grad_through_time(net.rnn, x[i:i + 1, :int(lengths[i])],
                               lambda out, i=i: _summed_ce(y[i:i + 1])(net.head(out[1][0][-1])))[""].per_timestep()
             for i in range(B)]
    # Each row is the mean of the sequences measured one by one, k steps before their own ends.
    expected = _end_aligned_mean(alone, g.timesteps)
    np.testing.assert_allclose(g.per_timestep(), expected, rtol=1e-5)
    held = g.held.tolist()
    assert held == [int((lengths > k).sum()) for k in range(int(lengths.max()))]
    assert g.timesteps == sum(n >= enough_sequences(B) for n in held) < len(held)
    # ... so the reach is the sequences' (about 9 each), not the longest sequence's length.
    full = grad_through_time(net.rnn, x, lambda out: _summed_ce(y)(net.head(out[1][0][-1])))[""]
    median_alone = float(np.median([full_reach(p) for p in alone if len(p) > 15]))
    assert abs(g.reach() - full.reach()) <= 2 and abs(g.reach() - median_alone) <= 2
    assert g.reach() < 15 and abs(g.decay() - full.decay()) < 0.05


def full_reach(profile: np.ndarray) -> int:
    from rnnlab.introspect.stats import gradient_reach

    return gradient_reach(profile)


def test_health_check_on_a_padded_batch_reads_the_full_batch_reach(data):
    net, x, y, lengths = data
    loss = nn.CrossEntropyLoss()
    full = rnnlab.diagnose(net, (x, y), loss, steps=0, checks=["gradient_through_time"])
    padded = rnnlab.diagnose(WithLengths(net, lengths), (x, y), loss, steps=0, checks=["gradient_through_time"])
    (f_full,), (f_padded,) = full.findings, padded.findings
    assert f_full.numbers["reach"] == 9 and f_full.numbers["timesteps"] == T
    assert abs(f_padded.numbers["reach"] - 9) <= 1
    assert abs(f_padded.numbers["decay_rate"] - f_full.numbers["decay_rate"]) < 0.05
    held = [int((lengths > k).sum()) for k in range(int(lengths.max()))]
    assert f_padded.numbers["timesteps"] == sum(n >= enough_sequences(B) for n in held)


def test_equal_lengths_give_what_no_lengths_give(data):
    net, x, y, _ = data
    lstm = net.rnn
    loss = lambda out: _summed_ce(y)(net.head(out[1][0][-1]))  # noqa: E731
    plain = grad_through_time(lstm, x, loss)[""]
    packed = pack_padded_sequence(x, torch.full((B,), T), batch_first=True)
    equal = grad_through_time(lstm, packed, loss)[""]
    assert plain.held is None and equal.held is None
    np.testing.assert_allclose(equal.layers[(0, "forward")], plain.layers[(0, "forward")], rtol=1e-6)
    assert equal.reach() == plain.reach()


def test_per_step_loss_and_the_reverse_direction():
    """A loss at every step: the forward rows count back from each sequence's end, the reverse
    direction's rows (every sequence ends at t = 0 there) stay its timesteps; both are the mean
    of the sequences measured one by one."""
    torch.manual_seed(1)
    gru = rnnlab.GRU(2, 4, bidirectional=True)
    lengths = torch.tensor([12, 3, 9, 11, 5, 7, 10, 2])
    x = torch.randn(12, len(lengths), 2)
    w = torch.randn(8)

    def loss(out):
        o = out[0]
        if isinstance(o, torch.nn.utils.rnn.PackedSequence):
            o, _ = pad_packed_sequence(o)
        return (o @ w).sum()  # (padding outputs are 0)

    g = grad_through_time(gru, pack_padded_sequence(x, lengths, enforce_sorted=False), loss)[""]
    alone = [grad_through_time(gru, x[:int(n), i:i + 1], loss)[""] for i, n in enumerate(lengths)]
    rows = g.timesteps
    assert rows == 12 and g.held.tolist() == [int((lengths > k).sum()) for k in range(12)]
    np.testing.assert_allclose(g.per_timestep(0, "forward"),
                               _end_aligned_mean([a.per_timestep(0, "forward") for a in alone], rows), rtol=1e-5)
    start = [np.mean([a.per_timestep(0, "reverse")[t] for a in alone if a.timesteps > t]) for t in range(rows)]
    np.testing.assert_allclose(g.per_timestep(0, "reverse"), start, rtol=1e-5)


def test_steps_too_few_sequences_reach_are_not_read():
    torch.manual_seed(2)
    rnn = rnnlab.RNN(2, 3)
    lengths = torch.tensor([40] + [10] * 19)
    x = torch.randn(40, 20, 2)
    g = grad_through_time(rnn, pack_padded_sequence(x, lengths, enforce_sorted=False), lambda out: out[1].sum())[""]
    assert g.timesteps == 10 and len(g.held) == 40 and g.held[10:].tolist() == [1] * 30
    assert g.held_said().endswith("10–39 steps back, which fewer than 2 sequences reach, not read")
    assert "all 20 at the last step, 20 at the furthest read, 9 steps back" in g.held_said()


def _padded_gtt(data):
    net, x, y, lengths = data
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return grad_through_time(net.rnn, packed, lambda out: _summed_ce(y)(net.head(out[1][0][-1])))


def _tick_labels(ax):
    ax.figure.canvas.draw()
    return {round(t.get_position()[0]): t.get_text() for t in ax.get_xticklabels() if t.get_text()}


def test_figure_counts_back_from_the_sequence_end(data):
    g = _padded_gtt(data)
    rows = g[""].timesteps
    # (what the report passes: its x label for a curve in timesteps)
    fig = plot_grad_through_time(g, xlabel="timestep t")
    ax = fig.axes[1]
    assert ax.get_xlabel() == "steps before the sequence's end"
    ticks = _tick_labels(ax)
    assert ticks[rows - 1] == "0" and all(int(text) == rows - 1 - pos for pos, text in ticks.items())
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts()).replace("\n", " ")
    assert f"all {B} at the last step" in legend and "not read" in legend
    assert plot_grad_through_time(g, xlabel="recurrent step").axes[1].get_xlabel() == \
        "recurrent step, counted back from the sequence's end"
    # A batch of equal lengths keeps its timesteps.
    net, x, y, _ = data
    full = grad_through_time(net.rnn, x, lambda out: _summed_ce(y)(net.head(out[1][0][-1])))
    ax_full = plot_grad_through_time(full).axes[1]
    assert ax_full.get_xlabel() == "timestep t" and _tick_labels(ax_full)[0] == "0"


def test_run_file_keeps_the_count_back(data, tmp_path):
    g = _padded_gtt(data)
    write_grad_through_time(tmp_path, g, step=3)
    back, _ = read_grad_through_time(tmp_path)
    assert back[""].held.tolist() == g[""].held.tolist() and back[""].reach() == g[""].reach()
    assert plot_grad_through_time(back, xlabel="timestep t").axes[1].get_xlabel() == "steps before the sequence's end"


def test_check_says_how_many_sequences_the_steps_back_average():
    per_step = torch.tensor([0.5 ** k for k in range(19, -1, -1)])
    held = np.array([30] * 12 + [6, 4, 3, 3, 3, 3, 3, 3, 2, 1])
    verdict, f = judge_through_time(TimeGradient("'rnn' layer 0 forward", per_step, held=held), Thresholds())
    assert verdict == "vanishes" and f.numbers["timesteps"] == 20
    assert (f.numbers["sequences"], f.numbers["sequences_furthest"], f.numbers["longest"]) == (30, 3, 22)
    assert ("counted back from each sequence's own last step, the mean k steps back over the sequences that long: "
            "all 30 at the last step, 3 at the furthest read, 19 steps back; 20–21 steps back, which fewer than 3 "
            "sequences reach, not read") in f.message
    # Equal lengths: nothing to say.
    _, plain = judge_through_time(TimeGradient("'rnn' layer 0 forward", per_step), Thresholds())
    assert "sequences" not in plain.numbers and "counted back" not in plain.message


def test_the_recipes_comparison_counts_a_padded_curve_back_from_the_end():
    from torch.nn.utils.rnn import pack_padded_sequence

    from rnnlab.introspect import grad_through_time
    from rnnlab.recipe.report import compare_grad_through_time

    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4)
    packed = pack_padded_sequence(torch.randn(12, 16, 3), torch.randint(3, 13, (16,)), enforce_sorted=False)
    curve = grad_through_time(m, packed, lambda out: out[1][0].sum())[""]
    assert curve.held is not None
    fig = compare_grad_through_time({"a": curve, "b": np.ones((5, 2))})
    heat_a, heat_b, line = fig.axes[0], fig.axes[1], [ax for ax in fig.axes if ax.lines][0]
    assert heat_a.get_xlabel() == "steps before the sequence's end" and heat_b.get_xlabel() == "timestep t"
    xs = line.lines[0].get_xdata()
    assert xs[-1] == 0 and xs[0] == -(len(xs) - 1)  # (the last step at 0, the ones before it to its left)
    assert line.lines[1].get_xdata().tolist() == [0, 1, 2, 3, 4]
