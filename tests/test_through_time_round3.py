"""Gradient through time of a user's own cell (rnnlab.Recurrent) with zoneout and recurrent
dropout, measured on the layer's own forward pass; the health check's curves named by data
(TimeGradient's key, layer, direction) and turned back into curves by one function, which the
trainer and the Lightning callback both use."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.doctor.checks import Thresholds, judge_through_time
from rnnlab.doctor.run import curves_from_time_gradients, time_gradients
from rnnlab.introspect import grad_through_time
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.layers.loop import keep_weights, variational_mask

IN, H, B, T = 3, 5, 4, 8


class HandLSTMCell(nn.Module):
    """LSTM equations by hand (torch's gate order i, f, g, o); returns h as output and state."""

    def __init__(self, input_size: int, hidden_size: int, copy_output: bool = False):
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)
        self.copy_output = copy_output

    def init_state(self, x):
        z = x.new_zeros(x.shape[0], self.hidden_size)
        return z, z.clone()

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (self.ih(x) + self.hh(h)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (h.clone() if self.copy_output else h), (h, c)


def _copy_weights(cell: HandLSTMCell, lstm: nn.Module, suffix: str = "_l0") -> None:
    with torch.no_grad():
        cell.ih.weight.copy_(getattr(lstm, "weight_ih" + suffix))
        cell.ih.bias.copy_(getattr(lstm, "bias_ih" + suffix))
        cell.hh.weight.copy_(getattr(lstm, "weight_hh" + suffix))
        cell.hh.bias.copy_(getattr(lstm, "bias_hh" + suffix))


class WithLengths(nn.Module):
    def __init__(self, layer: nn.Module, lengths: torch.Tensor):
        super().__init__()
        self.layer, self.lengths = layer, lengths

    def forward(self, x):
        return self.layer(x, lengths=self.lengths)[0]


# --- 1. rnnlab.Recurrent with zoneout and recurrent dropout ---------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_hand_written_lstm_cell_with_zoneout_matches_rnnlab_lstm(training, bidirectional):
    # Zoneout on the cell state c: Recurrent(hand-written cell) and rnnlab.LSTM compute the same
    # function (same weights, same zoneout draws under the same seed), so the same |dLoss/dh_t|,
    # padded sequences and the reverse direction included. (Zoneout on h makes them different
    # models: Recurrent outputs the cell's y_t before zoneout, rnnlab.LSTM the zoned-out state.)
    torch.manual_seed(0)
    lstm = rnnlab.LSTM(IN, H, bidirectional=bidirectional, zoneout=(0.0, 0.3))
    cell = HandLSTMCell(IN, H)
    _copy_weights(cell, lstm)
    extra = {}
    if bidirectional:
        extra["reverse_cell"] = HandLSTMCell(IN, H)
        _copy_weights(extra["reverse_cell"], lstm, "_l0_reverse")
    rec = rnnlab.Recurrent(cell, bidirectional=bidirectional, zoneout=(0.0, 0.3), **extra)
    lstm.train(training)
    rec.train(training)
    x = torch.randn(T, B, IN)
    lengths = torch.tensor([8, 5, 3, 8])
    w = torch.randn(T, B, H * (2 if bidirectional else 1))

    def loss(out):
        return (out * w).sum()

    torch.manual_seed(3)
    ref = grad_through_time(WithLengths(lstm, lengths), x, loss)["layer"]
    torch.manual_seed(3)
    got = grad_through_time(WithLengths(rec, lengths), x, loss)["layer"]
    assert sorted(got.layers) == sorted(ref.layers)
    for key in ref.layers:
        np.testing.assert_allclose(got.layers[key], ref.layers[key], rtol=1e-5, atol=1e-7)
    assert np.all(got.layers[(0, "forward")][:3] > 0)


def _reference(cell, x, zoneout, training, seed, loss, recurrent_dropout=0.0):
    """|dLoss/dh_t| by hand: Recurrent's loop written out (the masks drawn as it draws them, in
    the same order, under the same seed), h_t the cell's new state = its output y_t, whose
    gradient torch.autograd.grad takes."""
    torch.manual_seed(seed)
    state = cell.init_state(x[0])
    mask = variational_mask(state[0].shape, recurrent_dropout, state[0]) if training and recurrent_dropout else None
    keep = keep_weights(state, x.shape[0], (zoneout, zoneout), training, None)
    hs, ys = [], []
    for t in range(x.shape[0]):
        fed = state[0] * mask if mask is not None else state[0]
        y, new = cell(x[t], (fed, *state[1:]))
        hs.append(new[0])
        ys.append(y)
        state = tuple(n if k is None else torch.lerp(n, o, k[t]) for n, o, k in zip(new, state, keep, strict=True))
    grads = torch.autograd.grad(loss((torch.stack(ys), state)), hs)
    return torch.stack(grads).abs().mean(1).detach().double().numpy()


@pytest.mark.parametrize("copy_output", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_zoneout_on_the_hidden_state_measured_as_the_layer_computes_it(training, copy_output):
    # Any zoneout on h was refused ("its output at a step is not its hidden state") although the
    # cell outputs h_t: the check compared y_t with the zoned-out state.
    torch.manual_seed(1)
    cell = HandLSTMCell(IN, H, copy_output=copy_output)
    x = torch.randn(T, B, IN)
    w, v = torch.randn(T, B, H), torch.randn(B, H)

    def loss(out):
        return (out[0] * w).sum() + (out[1][0] * v).sum()  # the outputs and the final (zoned-out) h

    layer = rnnlab.Recurrent(cell, zoneout=0.2).train(training)
    torch.manual_seed(7)
    got = grad_through_time(layer, x, loss)[""]
    ref = _reference(cell, x, 0.2, training, 7, loss)
    np.testing.assert_allclose(got.layers[(0, "forward")], ref, rtol=1e-5, atol=1e-8)


def test_conv_cell_with_zoneout_matches_the_hand_written_loop():
    torch.manual_seed(5)
    cell = rnnlab.cells.ConvLSTMCell1d(2, 3, kernel_size=3)
    layer = rnnlab.Recurrent(cell, zoneout=0.1).eval()
    x = torch.randn(5, 2, 2, 7)  # [T, B, C, L]
    w = torch.randn(2, 3, 7)

    def loss(out):
        return (out[0][-1] * w).sum() + out[0].pow(2).mean()

    got = grad_through_time(layer, x, loss)[""]
    assert got.layers[(0, "forward")].shape == (5, 3, 7)
    np.testing.assert_allclose(got.layers[(0, "forward")], _reference(cell, x, 0.1, False, 0, loss),
                               rtol=1e-5, atol=1e-9)


def test_recurrent_dropout_one_mask_per_sequence_during_the_measurement():
    # The measurement runs the layer's own forward: one recurrent-dropout mask per sequence (the
    # step-by-step re-run drew a new one at every step), and the gradient is that pass's.
    class Recording(HandLSTMCell):
        def init_state(self, x):  # (h_0 = 1: the first fed state is the mask itself)
            return x.new_ones(x.shape[0], self.hidden_size), x.new_zeros(x.shape[0], self.hidden_size)

        def forward(self, x, state):
            y, new = super().forward(x, state)
            self.calls.append((state[0].detach(), new[0].detach()))
            return y, new

    torch.manual_seed(2)
    cell = Recording(IN, H)
    layer = rnnlab.Recurrent(cell, recurrent_dropout=0.5).train()
    x = torch.randn(T, B, IN)
    w = torch.randn(T, B, H)

    def loss(out):
        return (out[0] * w).sum()

    cell.calls = []
    torch.manual_seed(11)
    got = grad_through_time(layer, x, loss)[""]
    assert len(cell.calls) == T
    previous = torch.ones(B, H)
    masks = []
    for fed, new in cell.calls:
        masks.append(fed / previous)
        previous = new
    first = masks[0]
    assert set(first.unique().tolist()) == {0.0, 2.0}  # keep 1/2, scaled by 2
    for m in masks[1:]:
        torch.testing.assert_close(m, first, rtol=1e-5, atol=1e-5)
    cell.calls = []
    ref = _reference(cell, x, 0.0, True, 11, loss, recurrent_dropout=0.5)
    np.testing.assert_allclose(got.layers[(0, "forward")], ref, rtol=1e-5, atol=1e-8)


# --- 2. the curves' names as data ------------------------------------------------------------------


class TwoCalls(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        out = self.rnn(x)[0]
        out = out + self.rnn(x.flip(1))[0]  # the same module twice: keys "rnn" and "rnn#1"
        return self.head(out[:, -1])


@pytest.mark.parametrize("model", ["layer", "twice"])
def test_health_check_curves_come_back_under_the_measurements_keys(model):
    # The curves before training are keyed as grad_through_time keys them, which is how the file
    # stores the curve after training: a model that is itself the layer has key "" (read back
    # from the findings' name it was the class name, matching nothing after training).
    torch.manual_seed(0)
    if model == "layer":
        net = nn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True)

        def loss(out, y):
            return (out[0][:, -1] - y).pow(2).mean()

        batch = (torch.randn(4, 6, 2), torch.randn(4, 6))
    else:
        net = TwoCalls()
        loss = nn.functional.cross_entropy
        batch = (torch.randn(4, 6, 2), torch.tensor([0, 1, 1, 0]))
    measured = grad_through_time(copy.deepcopy(net).eval(), batch, loss)
    report = rnnlab.diagnose(net, batch, loss, steps=1)
    curves = curves_from_time_gradients(report.through_time)
    assert list(curves) == list(measured)
    for key, g in measured.items():
        back = curves[key]
        assert (back.module, back.kind, back.num_layers, back.directions) == \
            (g.module, g.kind, g.num_layers, g.directions)
        for layer, direction in g.layers:
            np.testing.assert_allclose(back.layers[(layer, direction)][:, 0], g.per_timestep(layer, direction),
                                       rtol=1e-6)
    tg = report.through_time[-1]
    assert (tg.key, tg.layer, tg.direction) == (list(measured)[-1], 1, "reverse")


def test_vanishing_finding_numbers_say_module_layer_and_direction():
    g = 0.5 ** np.arange(19.0, -1, -1)  # forward time order: vanishes going back
    gtt = GradThroughTime("model.rnn", "gru", 2, ("forward", "reverse"),
                          {(k, d): (g if d == "forward" else g[::-1]).reshape(-1, 1).copy()
                           for k in (0, 1) for d in ("forward", "reverse")})
    found = [judge_through_time(tg, Thresholds())[1] for tg in time_gradients({"model.rnn": gtt})]
    wheres = [(f.numbers["module"], f.numbers["layer"], f.numbers["direction"]) for f in found]
    assert wheres == [("model.rnn", k, d) for k in (0, 1) for d in ("forward", "reverse")]
    assert all(f.to_dict()["numbers"]["reach"] == 10 for f in found)


def test_lightning_run_records_the_curve_before_training(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from rnnlab.cli import main
    from rnnlab.introspect.through_time_file import read_grad_through_time
    from rnnlab.lightning import RnnlabCallback

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.rnn = rnnlab.Recurrent(HandLSTMCell(2, 4), batch_first=True, zoneout=0.1)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

        def training_step(self, batch, i):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    torch.manual_seed(0)
    model = Net()
    untrained = copy.deepcopy(model).eval()
    x = torch.randn(16, 6, 2)
    y = (x[:, :, 0].mean(1) > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=False)
    run = tmp_path / "run"
    # (no weights or gradients tracked: the curves before and after training, and their section, are read)
    trainer = pl.Trainer(max_epochs=2, callbacks=[RnnlabCallback(run, weights_every=0, grads_every=0)],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, loader)
    before, meta = read_grad_through_time(run, phase="before_training")
    after, _ = read_grad_through_time(run)
    assert list(before) == list(after) == ["rnn"] and meta["step"] == 0
    # the untrained module on the first training batch, as the health check measured it
    expected = grad_through_time(untrained, (x[:8], y[:8]), nn.CrossEntropyLoss())["rnn"]
    np.testing.assert_allclose(before["rnn"].layers[(0, "forward")][:, 0], expected.per_timestep(), rtol=1e-6)
    assert not np.allclose(before["rnn"].per_timestep(), after["rnn"].per_timestep())
    assert main(["report", str(run)]) == 0
    assert "The dashed grey line is the curve the health check measured" in (run / "report.html").read_text()
