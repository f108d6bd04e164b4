"""Pictures and exports of runs with a user's own cell and loop (helper-152's round).

Each test trains or runs real rnnlab components (Tracker, Recurrent, the plots) on a tiny
model; none needs more than a few optimizer steps.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import introspect, plots
from rnnlab.export import tensorboard as tb
from rnnlab.gates import GateLayout
from rnnlab.plots.compare import recurrent_weights
from rnnlab.tracker import Tracker


class MGUCell(nn.Module):
    """A minimal gated unit without a gate layout: only its names (``ih``, ``hh``) say what it holds."""

    def __init__(self, i, h):
        super().__init__()
        self.hidden_size = h
        self.ih = nn.Linear(i, 2 * h)
        self.hh = nn.Linear(h, 2 * h, bias=False)

    def forward(self, x, h):
        f_i, n_i = self.ih(x).chunk(2, -1)
        w_f, w_n = self.hh.weight.chunk(2, 0)
        f = torch.sigmoid(f_i + h @ w_f.T)
        h2 = (1 - f) * h + f * torch.tanh(n_i + (f * h) @ w_n.T)
        return h2, h2


class PlainCell(nn.Module):
    """An Elman cell whose parameter names say nothing (``W``, ``U``): its gate layout tells them."""

    gate_layout = GateLayout("rnn", kernel="W", recurrent="U")

    def __init__(self, i, h):
        super().__init__()
        self.hidden_size = h
        self.W = nn.Parameter(torch.randn(h, i) * 0.3)
        self.U = nn.Parameter(torch.randn(h, h) * 0.3)

    def forward(self, x, h):
        h2 = torch.tanh(x @ self.W.T + h @ self.U.T)
        return h2, h2


class Net(nn.Module):
    def __init__(self, rnn, hidden=4):
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def _own_loop(run_dir, net, steps=4, weights_every=1, metrics=True):
    """A user's loop: a Tracker, one epoch record per two steps (as rnnlab compare reads them)."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 5, 1), torch.randint(0, 2, (8,))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    with Tracker(run_dir, net, weights_every=weights_every, grads_every=0) as tracker:
        for step in range(steps):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            tracker.step(loss, epoch=step // 2 + 1)
            opt.step()
            if metrics and step % 2 == 1:
                tracker.run.append(tracker.run.metrics, {"epoch": step // 2 + 1, "step": tracker.step_count,
                                                          "train_loss": loss.item(), "val_loss": loss.item()})
    return tracker


def test_compare_draws_a_user_cells_recurrent_weight_beside_a_built_in_layers(tmp_path):
    torch.manual_seed(0)
    _own_loop(tmp_path / "gru", Net(rnnlab.GRU(1, 4, batch_first=True)))
    _own_loop(tmp_path / "mgu", Net(rnnlab.Recurrent(MGUCell(1, 4), batch_first=True)))
    runs = [tmp_path / "gru", tmp_path / "mgu"]
    params = recurrent_weights(runs)
    assert set(params) == {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.cell.ih.weight", "rnn.cell.hh.weight"}
    fig = plots.plot_compare_norms({"gru": runs[0], "mgu": runs[1]}, params=params)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    # (one panel per slot, kernel and recurrent, each drawing both runs: no "no data: mgu")
    assert len(panels) == 2
    titles = {ax.get_title().splitlines()[0]: ax for ax in panels}
    rec = titles["rnn layer 0: recurrent (hidden→hidden)"]
    assert [line.get_label() for line in rec.lines] == ["gru", "mgu"]
    # the title says which parameter each run draws there
    assert "rnn.weight_hh_l0: gru" in rec.get_title() and "rnn.cell.hh.weight: mgu" in rec.get_title()
    assert not any("no data" in t.get_text() for ax in panels for t in ax.texts)
    # the mgu line is its tracked hh norm, not another parameter's
    tracked = rnnlab.tracker.read_tracked(runs[1])["rnn.cell.hh.weight"]["l2_mean"]
    np.testing.assert_allclose(rec.lines[1].get_ydata(), tracked.values)


def test_a_cells_gate_layout_tells_its_weights_when_the_model_is_at_hand(tmp_path):
    net = Net(rnnlab.Recurrent(PlainCell(1, 4), batch_first=True))
    _own_loop(tmp_path / "plain", net)
    _own_loop(tmp_path / "gru", Net(rnnlab.GRU(1, 4, batch_first=True)))
    # names alone cannot tell W and U apart from any other weight ...
    assert recurrent_weights([tmp_path / "plain"]) is None
    # ... the cell's declared layout does
    assert recurrent_weights([tmp_path / "plain"], models=[net]) == ["rnn.cell.W", "rnn.cell.U"]
    fig = plots.plot_compare_norms({"gru": tmp_path / "gru", "plain": tmp_path / "plain"},
                                   params=["rnn.weight_hh_l0", "rnn.cell.U"], models={"plain": net})
    (ax,) = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    assert [line.get_label() for line in ax.lines] == ["gru", "plain"]
    assert "rnn.cell.U: plain" in ax.get_title()


class Scaled(nn.Module):
    """A reparametrization (torch.nn.utils.parametrize): the weight used is twice the stored one."""

    def forward(self, w):
        return 2 * w


def test_a_parametrized_recurrent_weight_is_found_by_its_layers_name(tmp_path):
    lstm = rnnlab.LSTM(1, 4, batch_first=True)
    torch.nn.utils.parametrize.register_parametrization(lstm, "weight_hh_l0", Scaled())
    net = Net(lstm)
    assert "rnn.parametrizations.weight_hh_l0.original" in dict(net.named_parameters())  # (what a Tracker records)
    _own_loop(tmp_path / "p", net)
    _own_loop(tmp_path / "plain", Net(rnnlab.LSTM(1, 4, batch_first=True)))
    params = recurrent_weights([tmp_path / "p", tmp_path / "plain"])
    assert "rnn.parametrizations.weight_hh_l0.original" in params
    fig = plots.plot_compare_norms({"p": tmp_path / "p", "plain": tmp_path / "plain"}, params=params)
    rec = [ax for ax in fig.axes if ax.get_title().startswith("rnn layer 0: recurrent")]
    assert len(rec) == 1 and [line.get_label() for line in rec[0].lines] == ["p", "plain"]


def test_a_single_input_features_kernel_heatmap_has_one_integer_tick():
    fig = plots.plot_weight_heatmaps(rnnlab.LSTM(1, 8), component="kernel")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 4
    for ax in images:
        lo, hi = sorted(ax.get_xlim())
        assert [t for t in ax.get_xticks() if lo <= t <= hi] == [0.0]
        assert ax.get_xlabel() == "input feature"


def _gtt(net):
    torch.manual_seed(0)
    x, y = torch.randn(4, 6, 1), torch.randint(0, 2, (4,))
    return introspect.grad_through_time(net, (x, y), nn.CrossEntropyLoss())


def test_grad_through_time_draws_what_grad_through_time_returns():
    net = Net(rnnlab.Recurrent(MGUCell(1, 4), batch_first=True))
    gtt = _gtt(net)
    fig = plots.plot_grad_through_time(gtt)
    assert fig.axes[0].images[0].get_array().shape == (4, 6)
    assert fig._suptitle.get_text().startswith("rnn layer 0 forward")


def test_grad_through_time_of_several_modules_names_the_keys_to_pick():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = rnnlab.GRU(1, 4, batch_first=True)
            self.dec = rnnlab.Recurrent(MGUCell(4, 4), batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.dec(self.enc(x)[0])[0][:, -1])

    gtt = _gtt(Two())
    with pytest.raises(ValueError, match=r"^gtt: .*dict of 2 \('enc', 'dec'\); pick one, e.g. gtt\['enc'\]$"):
        plots.plot_grad_through_time(gtt)
    assert plots.plot_grad_through_time(gtt["dec"])._suptitle.get_text().startswith("dec layer 0")


def test_tensorboard_labels_final_weights_with_the_step_they_are_at(tmp_path):
    net = Net(rnnlab.Recurrent(MGUCell(1, 4), batch_first=True))
    tracker = _own_loop(tmp_path, net, steps=7, weights_every=5, metrics=False)
    # (weights tracked at steps 0 and 5, each before its update; the model is after 7 updates)
    assert tracker.step_count == 7
    with pytest.raises(ValueError, match=r"^step: cannot tell .* last weight step, 5.*step=tracker.step_count"):
        tb.tensorboard_records(tmp_path, model=net)
    _, hists = tb.tensorboard_records(tmp_path, model=net, step=tracker.step_count)
    weights = [h for h in hists if h.tag.startswith("weights/")]
    assert weights and {h.step for h in weights} == {7}
    (hh,) = [h for h in weights if h.tag == "weights/rnn.cell.hh.weight"]
    np.testing.assert_allclose(hh.values, net.rnn.cell.hh.weight.detach().reshape(-1).numpy())
    with pytest.raises(ValueError, match=r"^step: expected .* integer >= 0, got -1$"):
        tb.tensorboard_records(tmp_path, model=net, step=-1)
    # weights not updated since their last tracked step are at that step: the files tell it
    still = Net(rnnlab.GRU(1, 4, batch_first=True))
    _own_loop(tmp_path / "still", still, steps=5, weights_every=5, metrics=False)
    with Tracker(tmp_path / "still", still, weights_every=5, grads_every=0, start_step=5) as again:
        again.step()  # (step 5 recorded; no optimizer step after it)
    _, hists = tb.tensorboard_records(tmp_path / "still", model=still)
    assert {h.step for h in hists if h.tag.startswith("weights/")} == {5}


def test_compare_says_how_to_write_the_epoch_records_a_tracker_run_lacks(tmp_path, capsys):
    from rnnlab.cli import main

    _own_loop(tmp_path / "tracked", Net(rnnlab.GRU(1, 4, batch_first=True)), metrics=False)
    _own_loop(tmp_path / "other", Net(rnnlab.GRU(1, 4, batch_first=True)))
    assert main(["compare", str(tmp_path / "tracked"), str(tmp_path / "other"), "--figures",
                 str(tmp_path / "fig")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "metrics.jsonl is missing" in err
    assert "tracker.run.append(tracker.run.metrics, {'epoch': epoch, 'step': tracker.step_count" in err
