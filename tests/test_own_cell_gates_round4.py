"""A cell's own gates end to end, and its outputs checked (tester T3, fixed by helper fix-T3b).

* gate activations of a kind a cell declares (a minimal gated unit's f and n) are summarized,
  stored and drawn as an LSTM's are, each gate on its declared activation's range, also when the
  file is read where the kind is not declared; what cannot be summarized is refused in one line;
* ``GateLayout(activations=...)``: built-in kinds have theirs, a declared kind names its own;
* ``rnnlab.Recurrent`` checks each ``y_t`` as it checks the state: the input's batch, the state's
  shape under ``output_is_state``, and a shape that changes at a later step named with the step;
* the gradient through time's file records the mode it was measured in, and the report says it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import gates
from rnnlab.introspect import GateActivations, grad_through_time
from rnnlab.introspect.gates_file import (
    read_gate_activations,
    summarize_gates,
    write_gate_activations,
)
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.plots.heatmap import plot_activation_heatmaps
from rnnlab.rundir import RunDir

SIGMOID_TANH = {"f": "sigmoid", "n": "tanh"}


@pytest.fixture(autouse=True)
def _registry():
    # A declared kind is added to the registry for the process: take this file's back out.
    saved = dict(gates.GATES), {k: dict(v) for k, v in gates.GATE_ACTIVATIONS.items()}
    yield
    for live, kept in zip((gates.GATES, gates.GATE_ACTIVATIONS), saved):
        live.clear()
        live.update(kept)


def _layout(kind: str = "mgu_r4", **kw) -> gates.GateLayout:
    return gates.GateLayout(kind, gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight", **kw)


def _acts(kind: str = "mgu_r4", **kw) -> GateActivations:
    rng = np.random.default_rng(0)
    f = rng.uniform(0.0, 1.0, (3, 7, 4))  # a sigmoid's values
    n = rng.uniform(-1.0, 1.0, (3, 7, 4))  # a tanh's
    return GateActivations("rnn", 0, "forward", kind, {"f": f, "n": n}, **kw)


# --- gate activations of a declared kind --------------------------------------------------------


def test_declared_kind_is_summarized_not_ungated(tmp_path):
    _layout(activations=SIGMOID_TANH)
    a = _acts()
    write_gate_activations(tmp_path, [a], step=60)
    layers, meta = read_gate_activations(tmp_path)
    assert meta["ungated"] == []
    assert [(s.kind, tuple(s.gates)) for s in layers] == [("mgu_r4", ("f", "n"))]
    # the stored record is the batch mean of each unit at each step
    np.testing.assert_allclose(layers[0].gates["f"], a.gates["f"].mean(axis=0), atol=1e-4)
    assert layers[0].functions == SIGMOID_TANH


def test_declared_kind_without_activations_is_summarized_with_none_known(tmp_path):
    _layout()
    assert gates.GATE_ACTIVATIONS["mgu_r4"] == {}
    write_gate_activations(tmp_path, [_acts()], step=1)
    layers, meta = read_gate_activations(tmp_path)
    assert meta["ungated"] == [] and layers[0].functions == {}


def test_layers_without_gates_are_still_listed_as_ungated():
    a = GateActivations("rnn", 0, "forward", "rnn", {"h": np.zeros((2, 3, 4))})
    assert summarize_gates([a]) == ([], [{"module": "rnn", "kind": "rnn"}])


def test_what_cannot_be_summarized_is_refused_in_one_line():
    _layout(activations=SIGMOID_TANH)
    undeclared = _acts()
    undeclared.kind = "mgu_undeclared"  # (changed after it was made: GateActivations refuses it when made)
    cases = [
        (undeclared, "acts[0].kind: expected a kind whose gates rnnlab knows"),
        (GateActivations("rnn", 0, "forward", "mgu_r4", {"f": np.zeros((2, 3, 4))}),
         "acts[0].gates: expected the gates of 'mgu_r4', f, n, got f"),
        (GateActivations("rnn", 0, "forward", "mgu_r4", {"f": np.zeros((2, 3, 4)), "n": np.zeros((2, 3, 5))}),
         "acts[0].gates['n']: expected an array (2, 3, 4), the shape of gates['f'], got shape (2, 3, 5)"),
        (_acts(activations={"f": "relu"}), "acts[0].activations['f']: expected one of ['sigmoid', 'tanh'], got 'relu'"),
        (_acts(lengths=np.array([7, 7])), "acts[0].lengths: expected one length per sequence, shape (3,)"),
    ]
    for record, message in cases:
        with pytest.raises((ValueError, TypeError)) as err:
            summarize_gates([record])
        assert str(err.value).startswith(message), str(err.value)
        assert "\n" not in str(err.value)


def _norms(fig) -> dict[str, tuple[float, float]]:
    """Gate → its panel's colour range."""
    out = {}
    for ax in fig.axes:
        if ax.images:
            gate = ax.get_title().split(" ", 1)[0]
            out[gate] = (ax.images[0].norm.vmin, ax.images[0].norm.vmax)
    return out


def test_each_gate_is_drawn_on_its_declared_activations_range():
    _layout(activations=SIGMOID_TANH)
    fig = plot_activation_heatmaps(_acts())
    assert _norms(fig) == {"f": (0.0, 1.0), "n": (-1.0, 1.0)}
    # (the colour bars say which is which)
    assert {ax.get_ylabel() for ax in fig.axes if not ax.images and ax.get_ylabel()} >= {"sigmoid", "tanh"}


def test_built_in_kinds_keep_their_scales():
    a = GateActivations("m", 0, "forward", "gru", {g: np.full((1, 4, 2), 0.5) for g in "rzn"})
    assert _norms(plot_activation_heatmaps(a)) == {"r": (0.0, 1.0), "z": (0.0, 1.0), "n": (-1.0, 1.0)}


def test_a_record_read_where_the_kind_is_not_declared_keeps_its_scales(tmp_path):
    _layout(activations=SIGMOID_TANH)
    write_gate_activations(tmp_path, [_acts()], step=2)
    # (the report runs in another process, which never imported the cell's class)
    del gates.GATES["mgu_r4"], gates.GATE_ACTIVATIONS["mgu_r4"]
    layers, _ = read_gate_activations(tmp_path)
    assert _norms(plot_activation_heatmaps(layers[0].activations())) == {"f": (0.0, 1.0), "n": (-1.0, 1.0)}


# --- GateLayout(activations=) ---------------------------------------------------------------------


def test_layout_activations_default_and_declared():
    assert gates.GateLayout("lstm", kernel="a", recurrent="b").activations == {
        "i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}
    assert gates.GateLayout("gru", kernel="a", recurrent="b").activations == {"r": "sigmoid", "z": "sigmoid",
                                                                              "n": "tanh"}
    assert _layout(activations=SIGMOID_TANH).activations == SIGMOID_TANH
    assert gates.GATE_ACTIVATIONS["mgu_r4"] == SIGMOID_TANH
    assert _layout().activations == SIGMOID_TANH  # (a later layout of the kind knows them)
    assert hash(_layout()) == hash(_layout())  # (still usable as a key)
    assert gates.has_gates("mgu_r4") and not gates.has_gates("rnn")


@pytest.mark.parametrize(("kind", "given", "message"), [
    ("mgu_r4", {"f": "sigmod"}, "gate_layout.activations['f']: expected one of ['sigmoid', 'tanh'], got 'sigmod'; "
                                "did you mean 'sigmoid'?"),
    ("mgu_r4", {"x": "tanh"}, "gate_layout.activations: expected gates of 'mgu_r4' (f, n), got 'x'"),
    ("lstm", {"g": "sigmoid"}, "gate_layout.activations['g']: gate 'g' of kind 'lstm' (a built-in kind) has 'tanh', "
                               "got 'sigmoid'; a cell with other activations declares a kind of its own"),
    ("rnn", {"h": "tanh"}, "gate_layout.activations['h']: gate 'h' of kind 'rnn' (a built-in kind) has none"),
])
def test_layout_activations_refused_in_one_line(kind, given, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        if kind == "mgu_r4":
            _layout(activations=given)
        else:
            gates.GateLayout(kind, kernel="a", recurrent="b", activations=given)


def test_a_kind_keeps_one_activation_per_gate_and_refused_layouts_declare_nothing():
    _layout(activations=SIGMOID_TANH)
    with pytest.raises(ValueError, match=re.escape("gate 'f' of kind 'mgu_r4' (declared already) has 'sigmoid', "
                                                   "got 'tanh'")):
        _layout(activations={"f": "tanh"})
    with pytest.raises(ValueError):
        _layout("mgu_refused", activations={"f": "relu"})
    assert "mgu_refused" not in gates.GATES and "mgu_refused" not in gates.GATE_ACTIVATIONS


# --- y_t checked -----------------------------------------------------------------------------------


class MGUCell(nn.Module):
    """f = σ(W_f x + U_f h); n = tanh(W_n x + U_n (f⊙h)); h' = (1−f)h + f n (the tester's cell)."""

    output_is_state = True

    def __init__(self, input_size: int = 3, hidden_size: int = 5) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 2 * hidden_size)
        self.hh = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.calls = 0

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        gi, (uf, un) = self.ih(x).chunk(2, dim=-1), self.hh.weight.chunk(2, dim=0)
        f = torch.sigmoid(gi[0] + h @ uf.T)
        return (1 - f) * h + f * torch.tanh(gi[1] + (f * h) @ un.T)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h2 = self.step(x, h)
        return h2, h2


class FirstRows(MGUCell):  # y_t of the first 2 sequences of the batch only
    output_is_state = False

    def forward(self, x, h):
        h2 = self.step(x, h)
        return h2[:2], h2


class NarrowFromStep2(MGUCell):  # y_t narrower from the third step on
    output_is_state = False

    def forward(self, x, h):
        h2 = self.step(x, h)
        return (h2 if self.calls < 3 else h2[:, :3]), h2


class DeclaresButDiffers(MGUCell):  # output_is_state, and a y_t that is not the state
    def forward(self, x, h):
        h2 = self.step(x, h)
        return 2 * h2[:, :3], h2


class ReadOut(MGUCell):  # a read-out of 3 features: y_t need not be the state
    output_is_state = False

    def forward(self, x, h):
        h2 = self.step(x, h)
        return h2[:, :3] * 2, h2


class StacksInside(MGUCell):  # a cell whose own torch.stack fails: its error stays its own
    def forward(self, x, h):
        torch.stack([h, h[:, :2]])
        return h, h


X = torch.randn(4, 6, 3)


def _run(cell: nn.Module, **kw) -> torch.Tensor:
    return rnnlab.Recurrent(cell, batch_first=True, **kw)(X)[0]


def test_y_t_of_another_batch_is_refused_at_the_first_step():
    with pytest.raises(ValueError, match="^" + re.escape(
            "cell: FirstRows(x_t, state) returned y_t of shape (2, 5), expected the input's batch 4 in dim 0") + "$"):
        _run(FirstRows())


def test_y_t_changing_shape_mid_sequence_names_the_cell_and_step():
    with pytest.raises(ValueError, match="^" + re.escape(
            "cell: NarrowFromStep2(x_t, state) returned y_t of shape (4, 3) at step 2, expected (4, 5) as at step 0")):
        _run(NarrowFromStep2())
    reverse = NarrowFromStep2()
    forward = MGUCell()
    with pytest.raises(ValueError, match=re.escape("at step 2 in the reverse direction")):
        _run(forward, bidirectional=True, reverse_cell=reverse)


def test_output_is_state_with_another_y_t_is_refused_not_dropped():
    with pytest.raises(ValueError, match="^" + re.escape(
            "cell: DeclaresButDiffers(x_t, state) returned y_t of shape (4, 3), expected (4, 5) like its new state's "
            "first tensor: DeclaresButDiffers.output_is_state = True")):
        _run(DeclaresButDiffers())


def test_valid_cells_run_as_before():
    out = _run(MGUCell())
    assert out.shape == (4, 6, 5)
    cell = ReadOut()
    out = _run(cell)
    assert out.shape == (4, 6, 3)
    # (the output is the read-out each step, as the cell returned it)
    h = torch.zeros(4, 5)
    with torch.no_grad():
        for t in range(6):
            h = cell.step(X[:, t], h)
        torch.testing.assert_close(out[:, -1].detach(), h[:, :3] * 2)


def test_an_error_inside_the_cell_is_not_re_said():
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        _run(StacksInside())


# --- the gradient through time's mode --------------------------------------------------------------


def _gtt_section(run_dir) -> str:
    from rnnlab.report import _gradient_through_time

    return _gradient_through_time(RunDir(run_dir))


def test_gradient_through_time_records_and_says_its_mode(tmp_path):
    torch.manual_seed(0)
    model = rnnlab.Recurrent(MGUCell(), batch_first=True, zoneout=0.2)
    model.train()
    g = grad_through_time(model, X, lambda o: o[0][:, -1].sum())
    untold, train = tmp_path / "untold", tmp_path / "train"
    write_grad_through_time(untold, g, step=5)
    write_grad_through_time(train, g, step=5, mode="train" if model.training else "eval")
    assert "mode" not in read_grad_through_time(untold)[1]
    assert read_grad_through_time(train)[1] == {"step": 5, "epoch": None, "mode": "train"}
    said = _gtt_section(train)
    assert "on the trained model (train mode: dropout and zoneout drew masks" in said
    assert "eval mode" not in said
    # (a loop of the user's own that did not say: no mode claimed)
    assert "on the trained model (mode not recorded)" in _gtt_section(untold)
    with pytest.raises(ValueError, match=re.escape("mode: expected one of ['eval', 'train'], got 'training'")):
        write_grad_through_time(train, g, step=5, mode="training")
