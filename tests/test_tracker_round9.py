"""rnnlab.Tracker and a cell's declared gate layout (round 9): a layout that does not fit the
cell's weights is refused with gate_weights' own one-line error (it was tracked as if it had
none); a layout that fits splits the tracked per-channel norms into the weight's row blocks.
And gate_activations' refusal for a cell of one's own says what to do instead, in one line."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.gates import GateLayout, split_gate_axis
from rnnlab.tracker import Tracker, read_tracked


class _Linear2(nn.Module):
    """A cell holding ``ih`` and ``hh`` Linears of ``rows`` output rows; its forward is never run."""

    def __init__(self, rows: int, hidden: int | None, inp: int = 3, state: int = 4) -> None:
        super().__init__()
        if hidden is not None:
            self.hidden_size = hidden
        self.ih = nn.Linear(inp, rows)
        self.hh = nn.Linear(state, rows, bias=False)


class FourDeclaredThreeHeld(_Linear2):
    gate_layout = GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")

    def __init__(self) -> None:
        super().__init__(rows=3 * 5, hidden=5, state=5)


class TwoNamedThreeHeld(_Linear2):  # no hidden_size: H is the recurrent weight's dim 1
    gate_layout = GateLayout("r9_two", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight")

    def __init__(self) -> None:
        super().__init__(rows=3 * 4, hidden=None, state=4)


class NotALayout(_Linear2):
    gate_layout = ("lstm", "ih.weight", "hh.weight")

    def __init__(self) -> None:
        super().__init__(rows=16, hidden=4, state=4)


class MGUCell(nn.Module):
    """f = σ(W_f x + U_f h + b_f); n = tanh(W_n x + U_n (f⊙h) + b_n); h' = (1−f)h + f n"""

    gate_layout = GateLayout("r9_mgu", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight",
                             bias_ih="ih.bias", activations={"f": "sigmoid", "n": "tanh"})
    output_is_state = True

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 2 * hidden_size)
        self.hh = nn.Linear(hidden_size, 2 * hidden_size, bias=False)

    def forward(self, x_t, h):
        wx = split_gate_axis(self.ih(x_t), "r9_mgu", dim=-1)
        u = split_gate_axis(self.hh.weight, "r9_mgu", dim=0)
        f = torch.sigmoid(wx["f"] + h @ u["f"].T)
        n = torch.tanh(wx["n"] + (f * h) @ u["n"].T)
        h = (1 - f) * h + f * n
        return h, h


class Net(nn.Module):
    def __init__(self, cell: nn.Module, **kw) -> None:
        super().__init__()
        self.rnn = rnnlab.Recurrent(cell, batch_first=True, **kw)
        self.head = nn.Linear(getattr(cell, "hidden_size", 4) * (2 if kw.get("bidirectional") else 1), 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def _refusal_of(fn, *args):
    with pytest.raises((TypeError, ValueError)) as info:
        fn(*args)
    return info.type, str(info.value)


@pytest.mark.parametrize("cell, param, actual, expected", [
    (FourDeclaredThreeHeld, "FourDeclaredThreeHeld.ih.weight", "(15, 3)", "(20, 3)"),
    (TwoNamedThreeHeld, "TwoNamedThreeHeld.ih.weight", "(12, 3)", "(8, 3)"),
])
def test_a_layout_that_misfits_the_weights_is_refused_as_gate_weights_refuses_it(tmp_path, cell, param, actual,
                                                                                 expected):
    torch.manual_seed(0)
    net = Net(cell())
    run = tmp_path / "run"
    kind, said = _refusal_of(Tracker, run, net)
    # the one check, in its own words: the parameter, what it holds, what the layout expects
    assert (kind, said) == _refusal_of(rnnlab.introspect.gate_weights, net)
    assert "\n" not in said and said.startswith("gate_layout.kernel: ")
    assert f"{param} has shape {actual}, expected" in said and f"= {expected} for" in said
    assert not run.exists()  # (refused before the run directory is made)


def test_a_misfit_in_the_reverse_cell_alone_is_refused_too(tmp_path):
    torch.manual_seed(0)
    net = Net(MGUCell(3, 4), bidirectional=True, reverse_cell=FourDeclaredThreeHeld())
    kind, said = _refusal_of(Tracker, tmp_path / "run", net)
    assert kind is ValueError and "FourDeclaredThreeHeld.ih.weight has shape (15, 3)" in said


def test_a_gate_layout_that_is_no_gatelayout_is_refused_as_gate_weights_refuses_it(tmp_path):
    net = Net(NotALayout())
    kind, said = _refusal_of(Tracker, tmp_path / "run", net)
    assert (kind, said) == _refusal_of(rnnlab.introspect.gate_weights, net)
    assert kind is TypeError and said.startswith("gate_layout: expected an rnnlab.gates.GateLayout on NotALayout")


def test_a_fitting_layout_splits_the_tracked_norms_into_the_weights_row_blocks(tmp_path):
    torch.manual_seed(0)
    net = Net(MGUCell(3, 4))
    with Tracker(tmp_path, net, weights_every=1, grads_every=0) as tracker:
        tracker.step()
    t = read_tracked(tmp_path)
    for name, comp in (("rnn.cell.ih.weight", "kernel"), ("rnn.cell.hh.weight", "recurrent"),
                       ("rnn.cell.ih.bias", "bias_ih")):
        lay = t.layouts[name]
        assert (lay.kind, lay.component, lay.gates) == ("r9_mgu", comp, ("f", "n"))
        w = dict(net.named_parameters())[name].detach().double()
        by_hand = {g: w[k * 4:(k + 1) * 4] for k, g in enumerate(("f", "n"))}  # rows 0-3 f, 4-7 n
        per_gate = lay.split(t[name]["l2_per_channel"].values)
        assert sorted(per_gate) == ["f", "n"]
        for g, block in by_hand.items():
            rows = block.reshape(4, -1).norm(dim=1) if block.dim() > 1 else block.abs()
            np.testing.assert_allclose(per_gate[g][0], rows.numpy(), rtol=1e-6)
            np.testing.assert_allclose(np.linalg.norm(per_gate[g][0]), block.norm().item(), rtol=1e-6)
    # a layer of torch's own beside it is tracked as before
    lstm = nn.LSTM(2, 3)
    with Tracker(tmp_path / "lstm", lstm, grads_every=0) as tracker:
        tracker.step()
    assert read_tracked(tmp_path / "lstm").layouts["weight_hh_l0"].gates == ("i", "f", "g", "o")


def test_a_cell_without_a_layout_is_tracked_whole_as_before(tmp_path):
    net = Net(rnnlab.cells.StateAsOutput(nn.GRUCell(3, 4)))
    with Tracker(tmp_path, net, grads_every=0) as tracker:
        tracker.step()
    assert read_tracked(tmp_path).layouts["rnn.cell.cell.weight_hh"].gates == ()


def test_gate_activations_of_a_cell_of_ones_own_says_how_to_record_them_by_hand():
    torch.manual_seed(0)
    net = Net(MGUCell(3, 4))
    x = torch.randn(2, 5, 3)
    for modules in (None, ["rnn"]):
        with pytest.raises((TypeError, ValueError)) as info:
            rnnlab.introspect.gate_activations(net, x, modules=modules)
        said = str(info.value)
        assert "\n" not in said
        # names the layer and its cell, says why (its forward is its own), and what to do instead
        assert "'rnn' (MGUCell, kind 'r9_mgu')" in said
        assert "rnnlab.introspect.GateActivations" in said and "docs/layers.md, 'Your own cell'" in said
        assert "no known gates" not in said


def test_the_docs_recipe_records_an_own_cells_gates_as_a_hand_computation_gives_them():
    import re
    from pathlib import Path

    from rnnlab import gates

    text = (Path(__file__).parent.parent / "docs" / "layers.md").read_text(encoding="utf-8")
    section = text.split("## Your own cell", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "class MGUCell" in b
              or "RecordedMGUCell" in b]
    assert len(blocks) == 2
    code = "\n".join(line[2:] for b in blocks for line in b.splitlines())  # (the list item's indent)
    saved = dict(gates.GATES), {k: dict(v) for k, v in gates.GATE_ACTIVATIONS.items()}
    try:
        torch.manual_seed(0)
        scope: dict = {}
        exec(compile("import torch, rnnlab, rnnlab.gates\n" + code, "docs/layers.md", "exec"), scope)
        acts, layer = scope["acts"], scope["layer"]
        assert acts.activations == {"f": "sigmoid", "n": "tanh"}
        # the recipe again, on an input of our own, against the cell's equations by hand
        x = torch.randn(2, 5, 3)
        layer.cell.record = []
        with torch.no_grad():
            layer(x)
        recorded = {g: torch.stack([s[g] for s in layer.cell.record], dim=1) for g in ("f", "n")}
        w, b, u = layer.cell.ih.weight.detach(), layer.cell.ih.bias.detach(), layer.cell.hh.weight.detach()
        h, want = torch.zeros(2, 4), {"f": [], "n": []}
        for t in range(5):
            f = torch.sigmoid(x[:, t] @ w[:4].T + b[:4] + h @ u[:4].T)
            n = torch.tanh(x[:, t] @ w[4:].T + b[4:] + (f * h) @ u[4:].T)
            h = (1 - f) * h + f * n
            want["f"].append(f)
            want["n"].append(n)
        for g in ("f", "n"):
            torch.testing.assert_close(recorded[g], torch.stack(want[g], dim=1))
    finally:
        for live, kept in zip((gates.GATES, gates.GATE_ACTIVATIONS), saved, strict=True):
            live.clear()
            live.update(kept)
