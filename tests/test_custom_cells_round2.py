"""rnnlab.Recurrent with a user's own cell, round 2: helpful keyword errors, its repr, an
independent reverse cell, unbatched input, and per-gate weights of cells that declare a gate
layout."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.layers.options import LayerOptions


class MyLSTMCell(nn.Module):
    """LSTM equations by hand, torch's gate order, no gate layout declared."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.ih = nn.Linear(i, 4 * h)
        self.hh = nn.Linear(h, 4 * h)

    def init_state(self, x):
        z = x.new_zeros(x.shape[0], self.hidden_size)
        return z, z.clone()

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class RawCell(nn.Module):
    """Elman cell on raw parameters: nothing in it has reset_parameters()."""

    def __init__(self, i: int, h: int) -> None:
        super().__init__()
        self.hidden_size = h
        self.W = nn.Parameter(torch.randn(h, i) * 0.3)
        self.U = nn.Parameter(torch.randn(h, h) * 0.3)

    def forward(self, x, h):
        h = torch.tanh(x @ self.W.T + h @ self.U.T)
        return h, h


# ---------------------------------------------------------------- 1. keywords and repr
@pytest.mark.parametrize(
    "key, value, advice",
    [
        ("num_layers", 2, "passing one Recurrent's output to the next"),
        ("dropout", 0.2, "input_dropout=p, input_dropout_mode='step'"),
        ("weight_drop", 0.5, "inside the cell"),
        ("layer_norm", True, "inside the cell's forward"),
        ("recurrent_batch_norm", True, "inside the cell's forward"),
        ("implementation", "fast", "autograd loop"),
        ("kernel_constraint", None, "after each optimizer step"),
    ],
)
def test_built_in_keywords_say_what_to_do_instead(key, value, advice):
    with pytest.raises(TypeError) as err:
        rnnlab.Recurrent(MyLSTMCell(3, 5), **{key: value})
    msg = str(err.value)
    assert msg.startswith(f"{key}: a keyword of rnnlab's built-in layers") and "not of rnnlab.Recurrent" in msg
    assert advice in msg and "\n" not in msg


def test_every_built_in_keyword_is_either_taken_or_explained():
    taken = {"batch_first", "bidirectional", "input_dropout", "input_dropout_mode", "recurrent_dropout", "zoneout"}
    for key in LayerOptions.names():
        if key in taken:
            continue
        with pytest.raises(TypeError, match=f"^{key}: a keyword of rnnlab's built-in layers"):
            rnnlab.Recurrent(MyLSTMCell(3, 5), **{key: None})


def test_misspelt_keyword_gets_did_you_mean():
    with pytest.raises(TypeError, match=r"^recurent_dropout: not a keyword of rnnlab.Recurrent; "
                                        r"did you mean 'recurrent_dropout'\?$"):
        rnnlab.Recurrent(MyLSTMCell(3, 5), recurent_dropout=0.2)
    with pytest.raises(TypeError, match=r"did you mean 'zoneout'\?$"):
        rnnlab.Recurrent(MyLSTMCell(3, 5), zonout=0.2)


def test_repr_shows_the_regularizers_that_are_on():
    on = rnnlab.Recurrent(MyLSTMCell(3, 5), zoneout=0.1, recurrent_dropout=0.2, input_dropout=0.3,
                          input_dropout_mode="step", batch_first=True)
    first = repr(on).splitlines()[1].strip()
    assert first == ("batch_first=True, input_dropout=0.3, input_dropout_mode='step', "
                     "recurrent_dropout=0.2, zoneout=0.1")
    assert "zoneout=(0.1, 0.2)" in repr(rnnlab.Recurrent(MyLSTMCell(3, 5), zoneout=(0.1, 0.2)))
    plain = repr(rnnlab.Recurrent(MyLSTMCell(3, 5)))
    assert "dropout" not in plain and "zoneout" not in plain


# ---------------------------------------------------------------- 2. the reverse cell
def test_reverse_copy_of_a_cell_without_reset_parameters_is_an_error_with_two_remedies():
    with pytest.raises(ValueError) as err:
        rnnlab.Recurrent(RawCell(3, 4), bidirectional=True)
    msg = str(err.value)
    assert msg.startswith("reverse_cell:") and "RawCell" in msg and "W, U" in msg
    assert "reset_parameters()" in msg and "reverse_cell=" in msg and "\n" not in msg

    # both remedies the message names work
    class ResettableRawCell(RawCell):
        def reset_parameters(self):
            nn.init.normal_(self.W, std=0.3)
            nn.init.normal_(self.U, std=0.3)

    layer = rnnlab.Recurrent(ResettableRawCell(3, 4), bidirectional=True)
    assert not torch.equal(layer.cell.W, layer.reverse_cell.W)
    # an explicit reverse cell is taken as given, even an equal one
    cell = RawCell(3, 4)
    twin = RawCell(3, 4)
    twin.load_state_dict(cell.state_dict())
    layer = rnnlab.Recurrent(cell, bidirectional=True, reverse_cell=twin)
    assert layer.reverse_cell is twin
    out, (f, r) = layer(torch.randn(5, 2, 3))
    assert out.shape == (5, 2, 8)


# ---------------------------------------------------------------- 3. unbatched input
def test_unbatched_input_matches_nn_gru():
    torch.manual_seed(0)
    ref = nn.GRU(3, 5)
    cell = nn.GRUCell(3, 5)
    cell.load_state_dict({k[:-3]: v for k, v in ref.state_dict().items()})
    layer = rnnlab.Recurrent(rnnlab.cells.StateAsOutput(cell), batch_first=True)
    x = torch.randn(7, 3)
    out, h = layer(x)
    out_r, h_r = ref(x)
    assert out.shape == (7, 5) and h.shape == (5,)
    torch.testing.assert_close(out, out_r, atol=1e-6, rtol=0)
    torch.testing.assert_close(h, h_r[0], atol=1e-6, rtol=0)
    h0 = torch.randn(5)
    out, h = layer(x, state=h0)
    out_r, h_r = ref(x, h0[None])
    torch.testing.assert_close(out, out_r, atol=1e-6, rtol=0)
    torch.testing.assert_close(h, h_r[0], atol=1e-6, rtol=0)


def test_unbatched_bidirectional_tuple_state_is_the_batch_of_one():
    torch.manual_seed(0)
    layer = rnnlab.Recurrent(MyLSTMCell(3, 4), reverse_cell=MyLSTMCell(3, 4), bidirectional=True)
    x = torch.randn(6, 3)
    state = ((torch.randn(4), torch.randn(4)), (torch.randn(4), torch.randn(4)))
    out, (fwd, rev) = layer(x, state=state)
    batched = tuple(tuple(s[None] for s in d) for d in state)
    out_b, (fwd_b, rev_b) = layer(x[:, None], state=batched)
    assert out.shape == (6, 8) and fwd[0].shape == (4,) and rev[1].shape == (4,)
    torch.testing.assert_close(out, out_b[:, 0], atol=0, rtol=0)
    for a, b in zip((*fwd, *rev), (*fwd_b, *rev_b)):
        torch.testing.assert_close(a, b[0], atol=0, rtol=0)


# ---------------------------------------------------------------- 4. gate layouts
def test_conv_cell_weights_split_per_gate_as_the_cell_uses_them():
    from rnnlab.gates import layer_weights

    torch.manual_seed(0)
    H = 3
    cell = rnnlab.cells.ConvLSTMCell1d(2, H)
    layer = rnnlab.Recurrent(cell, bidirectional=True)
    model = nn.Sequential()
    model.add_module("rnn", layer)
    ws = rnnlab.introspect.gate_weights(model)
    assert [(w.module, w.layer, w.direction, w.kind) for w in ws] == [
        ("rnn", 0, "forward", "lstm"), ("rnn", 0, "reverse", "lstm")]
    assert ws[1].names == {"kernel": "rnn.reverse_cell.conv_ih.weight",
                           "recurrent": "rnn.reverse_cell.conv_hh.weight", "bias_ih": "rnn.reverse_cell.conv_ih.bias"}
    assert ws[0].kernel["f"].shape == (H, 2, 3) and ws[1].recurrent["o"].shape == (H, H, 3)
    assert torch.equal(torch.from_numpy(ws[1].kernel["g"]), layer.reverse_cell.conv_ih.weight[2 * H:3 * H].detach())

    # The gate named "f" is the one the cell forgets with: zero weights, i and g saturated to 1,
    # so c_t = f * c_{t-1} + 1; the layout's views write into the cell's parameters.
    def final_cell_after_two_steps(forget_bias: float) -> float:
        with torch.no_grad():
            for p in cell.parameters():
                p.zero_()
            lw = layer_weights(rnnlab.Recurrent(cell))[0]
            lw.bias_ih["i"].fill_(50.0)
            lw.bias_ih["g"].fill_(50.0)
            lw.bias_ih["f"].fill_(forget_bias)
            _, (h, c) = rnnlab.Recurrent(cell)(torch.zeros(2, 1, 2, 4))
        return float(c.mean())

    assert final_cell_after_two_steps(-50.0) == pytest.approx(1.0)
    assert final_cell_after_two_steps(50.0) == pytest.approx(2.0)


def test_declared_linear_cell_splits_as_nn_lstm():
    from rnnlab.gates import GateLayout

    class Declared(MyLSTMCell):
        gate_layout = GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias",
                                 bias_hh="hh.bias")

    torch.manual_seed(0)
    ref = nn.LSTM(3, 5)
    cell = Declared(3, 5)
    with torch.no_grad():
        for mine, theirs in (("ih", "ih"), ("hh", "hh")):
            getattr(cell, mine).weight.copy_(getattr(ref, f"weight_{theirs}_l0"))
            getattr(cell, mine).bias.copy_(getattr(ref, f"bias_{theirs}_l0"))
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(rnnlab.Recurrent(cell)(x)[0], ref(x)[0], atol=1e-6, rtol=0)
    (mine,) = rnnlab.introspect.gate_weights(rnnlab.Recurrent(cell))
    (theirs,) = rnnlab.introspect.gate_weights(ref)
    for comp, gate, arr in theirs.items():
        assert (arr == mine.component(comp)[gate]).all(), (comp, gate)
    assert set(mine.bias) == {"i", "f", "g", "o"}


def test_undeclared_cell_is_a_one_line_error_never_an_empty_list():
    model = nn.Sequential()
    model.add_module("rnn", rnnlab.Recurrent(MyLSTMCell(3, 5)))
    with pytest.raises(ValueError) as err:
        rnnlab.introspect.gate_weights(model)
    msg = str(err.value)
    assert "rnn (MyLSTMCell)" in msg and "declare no gate layout" in msg and "GateLayout(" in msg
    assert "\n" not in msg
    with pytest.raises(TypeError, match=r"cell \(MyLSTMCell\) declares no gate layout.*GateLayout\("):
        rnnlab.introspect.gate_weights(model, modules=["rnn"])
    out, _ = model.rnn(torch.randn(4, 2, 3))
    out.sum().backward()
    with pytest.raises(ValueError, match="declare no gate layout"):
        rnnlab.introspect.gate_gradients(model)


def test_gate_layout_mistakes_are_named():
    from rnnlab.gates import GateLayout, layer_weights

    with pytest.raises(ValueError, match=r"gate_layout.kind: .*got 'lstn'; did you mean 'lstm'\?"):
        GateLayout("lstn", kernel="ih.weight", recurrent="hh.weight")

    class Typo(MyLSTMCell):
        gate_layout = GateLayout("lstm", kernel="ih.weigth", recurrent="hh.weight")

    with pytest.raises(ValueError, match=r"gate_layout.kernel: Typo has no parameter 'ih.weigth'; "
                                         r"did you mean 'ih.weight'\?"):
        layer_weights(rnnlab.Recurrent(Typo(3, 5)))

    class WrongKind(MyLSTMCell):
        gate_layout = GateLayout("gru", kernel="ih.weight", recurrent="hh.weight")

    with pytest.raises(ValueError, match=r"gate_layout.kernel: WrongKind.ih.weight has shape \(20, 3\), "
                                         r"expected 3 gates of 'gru'"):
        layer_weights(rnnlab.Recurrent(WrongKind(3, 5)))


def test_a_tensorboard_export_of_an_undeclared_cell_exports_its_tracked_norms_whole(tmp_path):
    # (gate_weights refuses a model whose cells all declare no gate layout: the export, which only
    # splits where it can, must not turn that into an error)
    from rnnlab.export import tensorboard as tb
    from rnnlab.tracker import Tracker

    layer = rnnlab.Recurrent(MyLSTMCell(2, 3))
    Tracker(tmp_path, layer, grads_every=0).step()
    scalars, hists = tb.tensorboard_records(tmp_path, model=layer)
    assert scalars and hists
    assert all(h.tag.count("/") == 1 for h in hists)  # (whole vectors and weights: no gate in the tag)
    # (its final weights are exported whole, under their parameter names)
    assert {h.tag for h in hists if h.tag.startswith("weights/")} == {f"weights/{n}" for n, _ in layer.named_parameters()}


def test_a_conv_cells_weights_are_drawn_per_gate_with_its_taps_side_by_side():
    import matplotlib

    matplotlib.use("Agg")
    from rnnlab.cells.conv import ConvLSTMCell1d
    from rnnlab.plots.heatmap import plot_weight_heatmaps

    cell = ConvLSTMCell1d(2, 3, kernel_size=3)
    fig = plot_weight_heatmaps(rnnlab.Recurrent(cell), component="kernel")
    shapes = {ax.images[0].get_array().shape for ax in fig.axes if ax.images}
    assert shapes == {(3, 2 * 3)}, shapes  # (each gate's [H, C, k] kernel as H rows of C × k taps)
    first = fig.axes[0].images[0].get_array()
    assert np.allclose(first, cell.conv_ih.weight.detach()[:3].reshape(3, -1).numpy())
