"""A user's cell's declared gate layout: its shapes are checked against it, a cell with gates of
its own declares them (and every reader of gates follows), and parameter roles follow it."""

import re

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import rnnlab
from rnnlab import gates, introspect
from rnnlab.export.tensorboard import tensorboard_records
from rnnlab.plots import plot_gate_histograms, plot_weight_heatmaps
from rnnlab.regularize import ActivityRegularizer, RoleRule, WeightPenalty, roles

matplotlib.use("Agg")

H = 6


@pytest.fixture(autouse=True)
def _kinds_declared_here_stay_here():
    # A declared kind is added to gates.GATES for the process: take this file's back out.
    saved = dict(gates.GATES)
    yield
    gates.GATES.clear()
    gates.GATES.update(saved)


class _MGU(nn.Module):
    """Minimal gated unit, 2 gates (f, n) stacked along dim 0: ih [2H, I], hh [2H, H]."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.ih = nn.Linear(i, 2 * h)
        self.hh = nn.Linear(h, 2 * h, bias=False)

    def forward(self, x, h):
        f_i, n_i = self.ih(x).chunk(2, -1)
        w_f, w_n = self.hh.weight.chunk(2, 0)
        f = torch.sigmoid(f_i + h @ w_f.T)
        n = torch.tanh(n_i + (f * h) @ w_n.T)
        h2 = (1 - f) * h + f * n
        return h2, h2


def _mgu_as(layout: gates.GateLayout) -> type[nn.Module]:
    return type("MGUCell", (_MGU,), {"gate_layout": layout})


def _mgu_cell() -> nn.Module:
    return _mgu_as(gates.GateLayout("mgu_t", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight",
                                    bias_ih="ih.bias"))(3, H)


# --- shapes checked against the layout ---------------------------------------------------------


def test_a_cell_declared_with_the_wrong_gate_count_is_refused_naming_cell_layout_and_shapes():
    cls = _mgu_as(gates.GateLayout("gru", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias"))
    m = rnnlab.Recurrent(cls(3, H))
    # (before: 12 rows split as 3 gates of 4 units, {'r': (4, 6), 'z': (4, 6), 'n': (4, 6)}, no error)
    with pytest.raises(ValueError) as e:
        introspect.gate_weights(m)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("gate_layout.kernel: MGUCell.ih.weight has shape (12, 3), expected 3 gates of 'gru' "
                          "(r, z, n) stacked along dim 0: [G·H, input] = (18, 3) for its hidden_size H=6")
    assert "if it stacks 2 gates" in msg and "gates=(" in msg  # (how to declare the 2 gates it has)
    m.cell.ih = nn.Linear(3, 3 * H)  # the recurrent weight alone wrong
    with pytest.raises(ValueError, match=re.escape(
            "gate_layout.recurrent: MGUCell.hh.weight has shape (12, 6), expected 3 gates of 'gru' (r, z, n) "
            "stacked along dim 0: [G·H, H] = (18, 6) for its hidden_size H=6")):
        introspect.gate_weights(m)


def test_the_recurrent_weight_must_be_g_h_by_h_even_when_its_rows_split_into_the_gates():
    class Cell(nn.Module):  # LSTM layout, H=5 from hh's columns, kernel right, hh 16 = 4 x 4 rows
        gate_layout = gates.GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight")

        def __init__(self):
            super().__init__()
            self.ih, self.hh = nn.Linear(3, 20), nn.Linear(5, 16, bias=False)

    with pytest.raises(ValueError, match=re.escape("gate_layout.recurrent: Cell.hh.weight has shape (16, 5), "
                                                   "expected 4 gates of 'lstm' (i, f, g, o) stacked along dim 0: "
                                                   "[G·H, H] = (20, 5) for its state size H=5")):
        gates.layer_weights(Cell())


def test_kernel_and_bias_rows_are_checked_too():
    class Cell(nn.Module):  # GRU layout, H=4: recurrent right ([3·4, 4]), kernel and bias_hh 3 rows short
        gate_layout = gates.GateLayout("gru", kernel="ih.weight", recurrent="hh.weight", bias_hh="b")

        def __init__(self, kernel_rows: int, bias_rows: int):
            super().__init__()
            self.ih, self.hh = nn.Linear(2, kernel_rows), nn.Linear(4, 12, bias=False)
            self.b = nn.Parameter(torch.zeros(bias_rows))

    gates.layer_weights(Cell(12, 12))  # the right shapes pass
    with pytest.raises(ValueError, match=re.escape("gate_layout.bias_hh: Cell.b has shape (9,), expected 3 "
                                                   "gates of 'gru'")) as e:
        gates.layer_weights(Cell(12, 9))
    assert "[G·H] = (12,) for its state size H=4" in str(e.value)
    with pytest.raises(ValueError, match=re.escape("Cell.ih.weight has shape (9, 2), expected 3 gates of 'gru' "
                                                   "(r, z, n) stacked along dim 0: [G·H, input] = (12, 2)")):
        gates.layer_weights(Cell(9, 12))


# --- a kind of the user's own -------------------------------------------------------------------


def test_a_cell_with_its_own_gates_declares_them_and_its_weights_split_by_them():
    torch.manual_seed(0)
    m = rnnlab.Recurrent(_mgu_cell(), bidirectional=True)
    fwd, rev = introspect.gate_weights(m)
    assert fwd.kind == "mgu_t" and fwd.gates == ("f", "n")
    assert {g: a.shape for g, a in fwd.recurrent.items()} == {"f": (H, H), "n": (H, H)}
    np.testing.assert_array_equal(fwd.recurrent["n"], m.cell.hh.weight[H:].detach().numpy())
    np.testing.assert_array_equal(rev.kernel["f"], m.reverse_cell.ih.weight[:H].detach().numpy())
    np.testing.assert_array_equal(fwd.bias_ih["n"], m.cell.ih.bias[H:].detach().numpy())
    assert rev.names == {"kernel": "reverse_cell.ih.weight", "recurrent": "reverse_cell.hh.weight",
                         "bias_ih": "reverse_cell.ih.bias"}
    # the kind's gates are where every reader looks them up
    assert gates.GATES["mgu_t"] == ("f", "n")
    assert list(gates.split_gate_axis(torch.zeros(5, 2 * H), "mgu_t", dim=-1)) == ["f", "n"]
    m(torch.randn(4, 7, 3))[0].sum().backward()
    grads = introspect.gate_gradients(m)[0]
    np.testing.assert_array_equal(grads.recurrent["f"], m.cell.hh.weight.grad[:H].numpy())


def test_plots_draw_a_declared_kind_by_its_gates():
    m = rnnlab.Recurrent(_mgu_cell())
    fig = plot_gate_histograms(m)
    assert [ax.get_ylabel().split("\n")[0] for ax in fig.axes[::2]][:2] == ["f (forget gate)", "n (new gate)"]
    fig = plot_weight_heatmaps(m, component="recurrent")
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 2
    np.testing.assert_allclose(np.asarray(shown[1]), m.cell.hh.weight[H:].detach().numpy())


def test_tensorboard_splits_a_declared_kind_per_gate(tmp_path):
    torch.manual_seed(0)
    m = rnnlab.Recurrent(_mgu_cell())
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    with rnnlab.Tracker(tmp_path, m) as tracker:
        m(torch.randn(4, 5, 3))[0].sum().backward()
        tracker.step()
        opt.step()
    _, hists = tensorboard_records(tmp_path, model=m, step=tracker.step_count)
    tags = {h.tag: h for h in hists}
    assert {"cell.hh.weight/f/l2_per_channel", "cell.hh.weight/n/l2_per_channel"} <= set(tags)
    rec_n = [h for t, h in tags.items() if t.startswith("weights/") and t.endswith("/recurrent/n")]
    assert len(rec_n) == 1
    np.testing.assert_allclose(rec_n[0].values, m.cell.hh.weight[H:].detach().reshape(-1).numpy(), rtol=1e-6)


def test_declaring_kinds_keeps_one_list_of_gates_per_kind():
    gates.GateLayout("mgu_t", gates=("f", "n"), kernel="a", recurrent="b")  # the same again: fine
    with pytest.raises(ValueError, match=re.escape("gate_layout.gates: kind 'mgu_t' (declared already) has the "
                                                   "gates ('f', 'n'), got ('z', 'n')")):
        gates.GateLayout("mgu_t", gates=("z", "n"), kernel="a", recurrent="b")
    with pytest.raises(ValueError, match=re.escape("kind 'gru' (a built-in kind) has the gates ('r', 'z', 'n'), "
                                                   "got ('f', 'n')")):
        gates.GateLayout("gru", gates=("f", "n"), kernel="a", recurrent="b")
    with pytest.raises(ValueError, match="'custom' is rnnlab.Recurrent's own kind"):
        gates.GateLayout("custom", gates=("f", "n"), kernel="a", recurrent="b")
    with pytest.raises(ValueError, match=re.escape("gate_layout.gates: expected distinct gate names")):
        gates.GateLayout("twice_t", gates=("f", "f"), kernel="a", recurrent="b")
    with pytest.raises(ValueError, match=re.escape("gate_layout.gates: expected distinct gate names")):
        gates.GateLayout("slash_t", gates=("f/1", "n"), kernel="a", recurrent="b")
    with pytest.raises(TypeError, match="gate_layout.recurrent: expected a parameter name"):
        gates.GateLayout("unnamed_t", gates=("f", "n"), kernel="a", recurrent="")
    assert not {"twice_t", "slash_t", "unnamed_t"} & set(gates.GATES)  # (a refused layout declares nothing)
    # an unknown kind without gates: the error says how to name them (not only "did you mean 'gru'?")
    with pytest.raises(ValueError, match=re.escape("gate_layout.kind: expected one of")) as e:
        gates.GateLayout("mgx_t", kernel="a", recurrent="b")
    assert "got 'mgx_t'" in str(e.value) and "GateLayout('mgx_t', gates=(" in str(e.value)


def test_a_registered_kind_is_no_built_in_layer_kind():
    gates.GateLayout("mgu_t", gates=("f", "n"), kernel="a", recurrent="b")

    class Odd(nn.Module):
        kind = "mgu_t"

    assert gates.kind_of(Odd()) is None


# --- roles follow the layout --------------------------------------------------------------------


class _NeutralGRU(nn.Module):
    """GRU in torch's layout with names that say nothing about kernel and recurrent."""

    gate_layout = gates.GateLayout("gru", kernel="inp.weight", recurrent="state.weight", bias_ih="inp.bias",
                                   bias_hh="state.bias")

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.inp, self.state = nn.Linear(i, 3 * h), nn.Linear(h, 3 * h)

    def forward(self, x, h):
        ir, iz, inn = self.inp(x).chunk(3, -1)
        hr, hz, hn = self.state(h).chunk(3, -1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        h2 = (1 - z) * torch.tanh(inn + r * hn) + z * h
        return h2, h2


def test_roles_follow_the_declared_layout_and_penalties_by_role_with_them():
    torch.manual_seed(0)
    m = rnnlab.Recurrent(_NeutralGRU(3, 4))
    assert roles(m) == {"cell.inp.weight": "kernel", "cell.inp.bias": "bias", "cell.state.weight": "recurrent",
                        "cell.state.bias": "bias"}
    wp = WeightPenalty(m, l2={"kernel": 1e-2, "recurrent": 1e-3})
    terms = wp.terms()
    assert float(terms["l2/kernel"]) == pytest.approx(1e-2 * float(m.cell.inp.weight.pow(2).sum()))
    assert float(terms["l2/recurrent"]) == pytest.approx(1e-3 * float(m.cell.state.weight.pow(2).sum()))
    # the user's rules still come first
    assert roles(m, [RoleRule("other", name=r"state\.weight$")])["cell.state.weight"] == "other"


def test_a_parametrized_declared_weight_keeps_its_role():
    class Drop(nn.Module):
        def forward(self, w):
            return nn.functional.dropout(w, 0.5, self.training)

    cell = _NeutralGRU(3, 4)
    parametrize.register_parametrization(cell.state, "weight", Drop())
    m = rnnlab.Recurrent(cell, bidirectional=True)
    r = roles(m)
    assert r["cell.state.parametrizations.weight.original"] == "recurrent"
    assert r["reverse_cell.state.parametrizations.weight.original"] == "recurrent"
    assert r["reverse_cell.inp.weight"] == "kernel"


def test_roles_of_a_wrongly_declared_cell_are_the_layout_error():
    cls = _mgu_as(gates.GateLayout("gru", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias"))
    with pytest.raises(ValueError, match=re.escape("gate_layout.kernel: MGUCell.ih.weight has shape (12, 3)")):
        WeightPenalty(rnnlab.Recurrent(cls(3, H)), l2={"recurrent": 1e-3})


# --- ActivityRegularizer.hooked -----------------------------------------------------------------


def test_hooked_names_the_model_by_its_class_when_it_is_the_layer():
    assert ActivityRegularizer(rnnlab.GRU(2, 3), ar=1.0).hooked == ["GRU"]
    assert ActivityRegularizer(rnnlab.Recurrent(_mgu_cell()), ar=1.0).hooked == ["Recurrent"]
    stack = nn.Sequential(nn.Linear(2, 2), rnnlab.GRU(2, 3))
    assert ActivityRegularizer(stack, ar=1.0).hooked == ["1"]
