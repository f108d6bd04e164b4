import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.export import tensorboard as tb
from rnnlab.tracker import Tracker


def tracked_run(tmp_path, steps=3):
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 3)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.5)
    tracker = Tracker(tmp_path, lstm, weights_every=1, grads_every=2)
    for _ in range(steps):
        loss = lstm(torch.randn(4, 2, 2))[0].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        tracker.step(loss)
        opt.step()
    return lstm


def test_records_scalars_and_per_gate_histograms(tmp_path):
    lstm = tracked_run(tmp_path)
    scalars, hists = tb.tensorboard_records(tmp_path, model=lstm, step=3)  # (after 3 updates)
    loss = [s for s in scalars if s.tag == "loss"]
    assert [s.step for s in loss] == [0, 1, 2]
    assert {s.tag for s in scalars} >= {"weight_hh_l0/l2_mean", "weight_hh_l0/grad_l2_max", "model/grad_l2"}
    # per-gate split of the per-channel norms: gate f = rows 3..5 of weight_hh_l0
    f = [h for h in hists if h.tag == "weight_hh_l0/f/l2_per_channel"]
    assert [h.step for h in f] == [0, 1, 2]
    final_w = lstm.weight_hh_l0.detach()
    # (step 2 was recorded before the last optimizer step: compare its shape, and the weights
    # histogram, at step 3 where those weights are, against the model's current weights)
    assert f[-1].values.shape == (3,)
    w = [h for h in hists if h.tag == "weights/model l0/recurrent/f"]
    assert len(w) == 1 and w[0].step == 3
    np.testing.assert_allclose(w[0].values, final_w[3:6].reshape(-1).numpy(), rtol=1e-6)
    # without a model: whole-vector histograms, no weights
    _, plain = tb.tensorboard_records(tmp_path)
    assert {h.tag for h in plain if h.tag.startswith("weight_hh_l0/")} == {
        "weight_hh_l0/l2_per_channel", "weight_hh_l0/grad_l2_per_channel"
    }
    assert not any(h.tag.startswith("weights/") for h in plain)


def test_per_gate_values_match_tracked_vector(tmp_path):
    lstm = nn.LSTM(2, 3)
    Tracker(tmp_path, lstm, grads_every=0).step()
    _, hists = tb.tensorboard_records(tmp_path, model=lstm)
    norms = lstm.weight_ih_l0.detach().norm(dim=1).numpy()
    for k, gate in enumerate("ifgo"):
        (h,) = [h for h in hists if h.tag == f"weight_ih_l0/{gate}/l2_per_channel"]
        np.testing.assert_allclose(h.values, norms[3 * k : 3 * k + 3], rtol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_missing_tensorboard_names_the_extra(tmp_path):
    tracked_run(tmp_path, steps=1)
    with pytest.raises(ImportError, match=r"rnnlab\[tensorboard\]"):
        tb.export_tensorboard(tmp_path)


def test_writer_receives_every_record(tmp_path, monkeypatch):
    calls = []

    class FakeWriter:
        def __init__(self, log_dir):
            calls.append(("init", log_dir))

        def add_scalar(self, tag, value, step):
            calls.append(("scalar", tag, step))

        def add_histogram(self, tag, values, step):
            calls.append(("hist", tag, step))

        def close(self):
            calls.append(("close",))

    lstm = tracked_run(tmp_path, steps=2)
    monkeypatch.setattr(tb, "_summary_writer", lambda: FakeWriter)
    out = tb.export_tensorboard(tmp_path, model=lstm, step=2)
    assert out == tmp_path / "tensorboard" and calls[0] == ("init", str(out)) and calls[-1] == ("close",)
    scalars, hists = tb.tensorboard_records(tmp_path, model=lstm, step=2)
    assert sum(c[0] == "scalar" for c in calls) == len(scalars)
    assert sum(c[0] == "hist" for c in calls) == len(hists)
