"""The health check on a cell of one's own (a minimal gated unit, as docs/layers.md "Your own cell"
builds it): what its remedies and notes say of the cell's initialisation and declarations, a NaN in
the input batch, and a cell without parameters."""

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.gates import GateLayout, split_gate_axis
from rnnlab.introspect import gate_weights, grad_through_time


class MGUCell(nn.Module):
    """f = σ(W_f x + U_f h + b_f); n = tanh(W_n x + U_n (f⊙h) + b_n); h' = (1−f)h + f n"""

    gate_layout = GateLayout("mgu", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")
    output_is_state = True

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 2 * hidden_size)
        self.hh = nn.Linear(hidden_size, 2 * hidden_size, bias=False)

    def forward(self, x, h):
        gi = split_gate_axis(self.ih(x), "mgu", dim=-1)
        u = split_gate_axis(self.hh.weight, "mgu", dim=0)
        f = torch.sigmoid(gi["f"] + h @ u["f"].T)
        n = torch.tanh(gi["n"] + (f * h) @ u["n"].T)
        h2 = (1 - f) * h + f * n
        return h2, h2


class Net(nn.Module):
    def __init__(self, cell: nn.Module, hidden: int = 8) -> None:
        super().__init__()
        self.rnn = rnnlab.Recurrent(cell, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


CE = nn.CrossEntropyLoss()


def _vanishing_remedy(net: nn.Module, steps: int) -> str:
    torch.manual_seed(0)
    batch = (torch.randn(4, 60, 1), torch.randint(0, 2, (4,)))
    report = rnnlab.diagnose(net, batch, CE, checks="gradient_through_time", steps=steps)
    (finding,) = report.by_check("gradient_through_time")
    assert finding.title.startswith("Vanishing gradient"), finding.title
    return finding.remedy


def test_the_orthogonal_advice_reads_the_weights_as_initialised_not_after_the_probe_steps():
    torch.manual_seed(0)
    ortho = Net(MGUCell(1, 8))
    with torch.no_grad():
        for block in ortho.rnn.cell.hh.weight.chunk(2, 0):
            nn.init.orthogonal_(block)
    before = ortho.rnn.cell.hh.weight.detach().clone()
    for steps in (0, 5):
        assert "orthogonal" not in _vanishing_remedy(ortho, steps), steps
    assert torch.equal(ortho.rnn.cell.hh.weight, before)  # (the caller's model is untouched)
    torch.manual_seed(0)
    default = Net(MGUCell(1, 8))  # nn.Linear's uniform init: not orthogonal
    for steps in (0, 5):
        assert "initialise cell.hh.weight orthogonal" in _vanishing_remedy(default, steps).lower(), steps


def test_a_nan_in_the_input_batch_is_named_where_it_is():
    torch.manual_seed(0)
    x, y = torch.randn(6, 20, 2), torch.randint(0, 2, (6,))
    x[3, 10, 1] = float("nan")
    report = rnnlab.diagnose(Net(MGUCell(2, 8)), (x, y), CE, steps=2)
    (finding,) = report.by_check("nonfinite")
    assert finding.numbers["first"]["what"] == "input batch"
    assert finding.numbers["first"]["count"] == 1 and finding.numbers["first"]["total"] == x.numel()
    assert "sample 3, step 10, channel 1" in finding.title, finding.title
    assert "input[3, 10, 1]" in finding.message
    assert "model output" not in finding.title
    assert finding.remedy.startswith("Clean the data"), finding.remedy
    # what follows from it is still counted
    assert any(k.startswith("model output") for k in finding.numbers["counts"])
    why = report.skipped["update_ratio"]
    assert "received a gradient" not in why and "non-finite" in why, why


def test_a_nan_in_a_time_major_input_names_step_before_sample():
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 4)  # [T, B, C]

    class Last(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = lstm, nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.lstm(x)[0][-1])

    x = torch.randn(7, 5, 2)
    x[4, 1, 0] = float("inf")
    report = rnnlab.diagnose(Last(), (x, torch.randint(0, 2, (5,))), CE, checks="nonfinite", steps=0)
    (finding,) = report.by_check("nonfinite")
    assert "step 4, sample 1, channel 0" in finding.title, finding.title


def test_a_gate_layout_that_misfits_the_weights_is_reported_as_gate_weights_refuses_it():
    class AsGRU(MGUCell):  # two gates stacked, "gru" declares three
        gate_layout = GateLayout("gru", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")

    net = Net(AsGRU(1, 8))
    with pytest.raises(ValueError) as refused:
        gate_weights(net)
    torch.manual_seed(0)
    report = rnnlab.diagnose(net, (torch.randn(6, 12, 1), torch.randint(0, 2, (6,))), CE, steps=1)
    (finding,) = report.by_check("gate_layout")
    assert finding.severity == "warning"
    assert str(refused.value) in finding.message
    assert "'rnn'" in finding.title and "AsGRU" in finding.title
    note = report.skipped["gates_stuck"]
    assert "gate_layout does not fit its weights" in note, note
    assert "when it declares a gate_layout" not in note, note
    # a layout that fits: nothing to report
    torch.manual_seed(0)
    fine = rnnlab.diagnose(Net(MGUCell(1, 8)), (torch.randn(6, 12, 1), torch.randint(0, 2, (6,))), CE, steps=1)
    assert fine.by_check("gate_layout") == []


def test_the_gates_stuck_note_points_to_gate_layout_only_for_a_cell_without_one():
    batch = (torch.randn(6, 12, 1), torch.randint(0, 2, (6,)))
    declared = rnnlab.diagnose(Net(MGUCell(1, 8)), batch, CE, checks="gates_stuck", steps=0).skipped["gates_stuck"]
    assert "the cell of your own in 'rnn' (MGUCell) is not read" in declared
    assert "when it declares a gate_layout" not in declared, declared

    class Plain(MGUCell):
        gate_layout = None

    plain = rnnlab.diagnose(Net(Plain(1, 8)), batch, CE, checks="gates_stuck", steps=0).skipped["gates_stuck"]
    assert "the cell of your own in 'rnn' (Plain) is not read" in plain
    assert "gate_layout" in plain and "declares no" in plain, plain


def test_a_transposed_recurrent_weight_is_called_transposed():
    class Transposed(MGUCell):  # hh stored [H, 2H]
        def __init__(self, i, h):
            super().__init__(i, h)
            self.hh = nn.Linear(2 * h, h, bias=False)

    with pytest.raises(ValueError) as e:
        gate_weights(rnnlab.Recurrent(Transposed(3, 6)))
    msg = str(e.value)
    assert "transposed" in msg and "(6, 12)" in msg and "declare a kind of its own" not in msg, msg
    assert len(msg.splitlines()) == 1

    class OneGate(MGUCell):  # "gru" declares three gates; ih stacks one
        gate_layout = GateLayout("gru", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")

        def __init__(self, i, h):
            super().__init__(i, h)
            self.ih = nn.Linear(i, h)

    with pytest.raises(ValueError) as e:
        gate_weights(rnnlab.Recurrent(OneGate(3, 6)))
    assert "if it stacks 1 gate," in str(e.value) and "1 gates" not in str(e.value), str(e.value)


class NoParams(nn.Module):
    hidden_size = 5

    def forward(self, x, h):
        h2 = torch.tanh(h + x.sum(-1, keepdim=True))
        return h2, h2


def test_a_model_without_parameters_is_named_as_the_cause():
    r = rnnlab.Recurrent(NoParams(), batch_first=True)
    x = torch.randn(4, 6, 3)

    def loss(out):
        return out[0][:, -1].pow(2).mean()

    for call in (lambda: grad_through_time(r, x, loss), lambda: rnnlab.diagnose(r, x, loss)):
        with pytest.raises(ValueError) as e:
            call()
        msg = str(e.value)
        assert msg.startswith("model: Recurrent has no parameters"), msg
        assert len(msg.splitlines()) == 1
    # a frozen model still measures its gradient through time (through the input)
    frozen = nn.GRU(3, 4, batch_first=True).requires_grad_(False)
    assert grad_through_time(frozen, x, loss)[""].grad.shape == (6, 4)
    with pytest.raises(ValueError, match=r"^model: every parameter of GRU is frozen \(requires_grad=False\)"):
        rnnlab.diagnose(frozen, x, loss)
