import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.rundir import read_jsonl
from rnnlab.tracker import Tracker, read_tracked


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def train(model, tracker, steps, lr=0.1):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = []
    for i in range(steps):
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(i))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        history.append(
            {n: (p.detach().clone(), p.grad.clone()) for n, p in model.named_parameters()} | {"loss": loss.item()}
        )
        tracker.step(loss, epoch=i // 3 + 1)
        opt.step()
    history.append({n: (p.detach().clone(), None) for n, p in model.named_parameters()})
    return history


def test_values_match_hand_computation(tmp_path):
    model = small_model()
    tracker = Tracker(tmp_path, model, weights_every=2, grads_every=3)
    hist = train(model, tracker, 7)
    tracker.close()
    t = read_tracked(tmp_path)
    w = t["0.weight"]
    assert w["l2_per_channel"].steps.tolist() == [0, 2, 4, 6]
    for k, step in enumerate([0, 2, 4, 6]):
        p = hist[step]["0.weight"][0]
        np.testing.assert_allclose(w["l2_per_channel"].values[k], p.norm(dim=1).numpy(), rtol=1e-6)
        np.testing.assert_allclose(w["l2_mean"].values[k], p.norm(dim=1).mean().item(), rtol=1e-6)
        np.testing.assert_allclose(w["l2_max"].values[k], p.norm(dim=1).max().item(), rtol=1e-6)
        np.testing.assert_allclose(w["l2"].values[k], p.norm().item(), rtol=1e-6)
    # the loss: at every step it was given (not only with the weight norms)
    assert t["loss"]["value"].steps.tolist() == list(range(7))
    for step in range(7):
        np.testing.assert_allclose(t["loss"]["value"].values[step], hist[step]["loss"], rtol=1e-6)
    # a bias: per channel = |b|
    np.testing.assert_allclose(t["2.bias"]["l2_per_channel"].values[0], hist[0]["2.bias"][0].abs().numpy(), rtol=1e-6)
    # gradients every 3 steps, with the global gradient norm
    g = t["0.weight"]["grad_l2_per_channel"]
    assert g.steps.tolist() == [0, 3, 6]
    np.testing.assert_allclose(g.values[1], hist[3]["0.weight"][1].norm(dim=1).numpy(), rtol=1e-6)
    total = torch.cat([hist[3][n][1].reshape(-1) for n, _ in model.named_parameters()]).norm().item()
    np.testing.assert_allclose(t["model"]["grad_l2"].values[1], total, rtol=1e-6)
    # update ratio of the SGD step right after a gradient step, recorded under that step
    u = t["0.weight"]["update_ratio"]
    assert u.steps.tolist() == [0, 3, 6]  # step 6's update: written when the tracker closes
    before, after = hist[3]["0.weight"][0], hist[4]["0.weight"][0]
    np.testing.assert_allclose(u.values[1], ((after - before).norm() / before.norm()).item(), rtol=1e-6)
    # epochs are stored
    assert w["l2_mean"].epochs.tolist() == [1, 1, 2, 3]


def test_record_format_and_one_write_per_step(tmp_path):
    model = small_model()
    tracker = Tracker(tmp_path, model, weights_every=1, grads_every=0, norms=("l1", "linf"), per_channel=False)
    train(model, tracker, 2)
    recs = read_jsonl(tmp_path / "tracked.jsonl")
    assert {tuple(sorted(r)) for r in recs} == {("epoch", "name", "stat", "step", "value")}
    stats = {r["stat"] for r in recs if r["name"] == "0.weight"}
    assert stats == {"l1_mean", "l1_max", "l1", "linf_mean", "linf_max", "linf"}
    p = small_model()[0].weight.detach()
    first = {r["stat"]: r["value"] for r in recs if r["name"] == "0.weight" and r["step"] == 0}
    assert first["l1_max"] == pytest.approx(p.abs().sum(1).max().item(), rel=1e-6)
    assert first["linf"] == pytest.approx(p.abs().max().item(), rel=1e-6)


def test_param_selection_and_errors(tmp_path):
    model = small_model()
    tr = Tracker(tmp_path, model, params=["*.weight"])
    assert [n for n, _ in tr.params] == ["0.weight", "2.weight"]
    with pytest.raises(KeyError, match="did you mean '0.weight'"):
        Tracker(tmp_path, model, params=["0.wieght"])
    with pytest.raises(ValueError, match="did you mean 'l2'"):
        Tracker(tmp_path, model, norms=("l3",))
    with pytest.raises(ValueError, match="weights_every"):
        Tracker(tmp_path, model, weights_every=-1)
    with pytest.raises(TypeError, match="model"):
        Tracker(tmp_path, "model")
    tr.close()
    with pytest.raises(RuntimeError, match="closed"):
        tr.step()


def test_resume_records_nothing_twice(tmp_path):
    model = small_model()
    tracker = Tracker(tmp_path, model, weights_every=1, grads_every=0)
    train(model, tracker, 6)  # steps 0..5; pretend the checkpoint was taken before step 4
    tracker.close()  # (its process ends; a second tracker on the directory would be refused)
    with open(tmp_path / "tracked.jsonl", "a") as f:
        f.write('{"step": 6, "name": "cut')  # a line cut by a kill
    resumed = Tracker(tmp_path, model, weights_every=1, grads_every=0, start_step=4)
    train(model, resumed, 3)  # steps 4..6
    steps = [r["step"] for r in read_jsonl(tmp_path / "tracked.jsonl") if r["name"] == "loss"]
    assert steps == [0, 1, 2, 3, 4, 5, 6]
    assert resumed.truncate_after(4) > 0
    steps = sorted({r["step"] for r in read_jsonl(tmp_path / "tracked.jsonl")})
    assert steps == [0, 1, 2, 3, 4]


def test_nonfinite_values_survive(tmp_path):
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    Tracker(tmp_path, model, grads_every=0).step(torch.tensor(float("inf")))
    t = read_tracked(tmp_path)
    assert np.isnan(t["weight"]["l2_per_channel"].values[0, 0])
    assert np.isinf(t["loss"]["value"].values[0])


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from torch import nn
    from rnnlab.tracker import Tracker
    torch.manual_seed(0)
    model = nn.LSTM(4, 8, num_layers=2)
    head = nn.Linear(8, 2)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    tracker = Tracker(sys.argv[1], nn.ModuleList([model, head]), weights_every=1, grads_every=3)
    step = 0
    while True:
        out, _ = model(torch.randn(6, 4, 4))
        loss = head(out[-1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        tracker.step(loss)
        opt.step()
        step += 1
    """
)


def test_kill_minus_9_loses_at_most_the_step_in_flight(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], env=env)
    path = tmp_path / "tracked.jsonl"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().count('"name":"loss"') >= 15:
                break
            if proc.poll() is not None:
                pytest.fail(f"training subprocess exited early with code {proc.returncode}")
            time.sleep(0.05)
        else:
            pytest.fail("training subprocess wrote too little in 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = path.read_text().split("\n")
    complete = [json.loads(line) for line in lines[:-1]]  # everything before the last newline
    assert all(set(r) == {"step", "epoch", "name", "stat", "value"} for r in complete)
    per_step: dict[int, int] = {}
    for r in complete:
        per_step[r["step"]] = per_step.get(r["step"], 0) + 1
    steps = sorted(per_step)
    assert steps == list(range(len(steps))) and len(steps) > 10
    # every step but the last is complete: weight steps have the same count, gradient steps more
    full = {s: n for s, n in per_step.items() if s != steps[-1]}
    assert len({n for s, n in full.items() if s % 3 == 1}) == 1  # weights only
    assert len({n for s, n in full.items() if s % 3 == 2}) == 1  # weights + update ratios
    assert len({n for s, n in full.items() if s % 3 == 0 and s > 0}) == 1  # + gradients
    # the reader gives the same records (and skips a cut line)
    t = read_tracked(tmp_path)
    loss_steps = set(t["loss"]["value"].steps.tolist())
    assert set(full) <= loss_steps <= set(steps)
