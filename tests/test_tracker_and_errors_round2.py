"""The Tracker's update ratio at epoch boundaries and at close, round 2 (helper findings from a
library user's scripts): each ratio carries the epoch of its own step, close() records the last
one, and a resumed run (rnnlab train, Lightning, a plain loop) still writes the file the
uninterrupted run writes; diagnose() with a batch lacking the target its loss takes is a
one-line error naming ``batch``; the one-layer ``dropout`` warning points at the user's line."""

from __future__ import annotations

import copy
import inspect
import warnings

import pytest
import torch
from test_bad_inputs import config

import rnnlab
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir, read_jsonl
from rnnlab.tracker import Tracker
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS_PER_EPOCH = 2


def model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def run_steps(model, opt, tracker, steps):
    """The documented loop: tracker.step after backward, before optimizer.step."""
    for i in steps:
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(i))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        tracker.step(loss, epoch=i // STEPS_PER_EPOCH + 1)
        opt.step()


def epochs_by_step(records, stat):
    return {r["step"]: r["epoch"] for r in records if r["stat"] == stat}


def assert_ratios_carry_their_steps_epoch(records, steps):
    ratios = [r for r in records if r["stat"] == "update_ratio"]
    grads = epochs_by_step(records, "grad_l2")  # (name "model": the step's global gradient norm)
    wrong = [(r["step"], r["epoch"], grads[r["step"]]) for r in ratios if r["epoch"] != grads[r["step"]]]
    assert wrong == []  # (step, the ratio's epoch, the step's epoch)
    assert sorted({r["step"] for r in ratios}) == list(steps)


# -------------------------------------------------------------------------- 1. a plain loop


def test_each_update_ratio_carries_the_epoch_of_its_own_step(tmp_path):
    model, opt = model_and_optimizer()
    tracker = Tracker(tmp_path, model, grads_every=1)
    run_steps(model, opt, tracker, range(6))  # epochs 1, 1, 2, 2, 3, 3
    tracker.close()
    records = read_jsonl(tmp_path / "tracked.jsonl")
    assert_ratios_carry_their_steps_epoch(records, range(6))
    # the last step of epoch 1 is recorded (by step 2, of epoch 2) under epoch 1
    assert {r["epoch"] for r in records if r["stat"] == "update_ratio" and r["step"] == 1} == {1}


def test_close_records_the_last_update_ratio_from_the_weights_after_the_last_update(tmp_path):
    model, opt = model_and_optimizer()
    with Tracker(tmp_path / "a", model, grads_every=2) as tracker:
        run_steps(model, opt, tracker, range(4))  # gradient steps 0 and 2
        before = model[0].weight.detach().clone()
        run_steps(model, opt, tracker, [4])  # the last one: no later step() sees its update
    after = model[0].weight.detach()
    ratios = {r["step"]: r for r in read_jsonl(tmp_path / "a" / "tracked.jsonl")
              if r["stat"] == "update_ratio" and r["name"] == "0.weight"}
    assert sorted(ratios) == [0, 2, 4] and ratios[4]["epoch"] == 3
    assert ratios[4]["value"] == pytest.approx(((after - before).norm() / before.norm()).item(), rel=1e-6)
    lines = (tmp_path / "a" / "tracked.jsonl").read_bytes()
    tracker.close()  # again: nothing more
    assert (tmp_path / "a" / "tracked.jsonl").read_bytes() == lines
    # a block left on an error (here between step() and optimizer.step()) records no ratio of a
    # step whose update may not have happened
    with pytest.raises(RuntimeError, match="^stop$"), Tracker(tmp_path / "b", model, grads_every=1) as tracker:
        model(torch.ones(1, 3)).sum().backward()
        tracker.step(epoch=1)
        raise RuntimeError("stop")
    assert [r for r in read_jsonl(tmp_path / "b" / "tracked.jsonl") if r["stat"] == "update_ratio"] == []


@pytest.mark.parametrize("cut", ["session_ends", "killed_after_the_checkpoint"])
def test_a_resumed_tracker_writes_the_file_the_uninterrupted_one_writes(tmp_path, cut):
    model, opt = model_and_optimizer()
    with Tracker(tmp_path / "ref", model, grads_every=1) as tracker:
        run_steps(model, opt, tracker, range(8))

    run = tmp_path / "run"
    model, opt = model_and_optimizer()
    tracker = Tracker(run, model, grads_every=1)
    run_steps(model, opt, tracker, range(4))  # epochs 1 and 2; the checkpoint after epoch 2:
    ckpt = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict(), "tracker": tracker.state_dict()})
    if cut == "session_ends":
        tracker.close()  # (records step 3's ratio; the resumed run records it again)
    else:
        run_steps(model, opt, tracker, range(4, 6))  # the session records part of epoch 3, then dies
        tracker.close(record_pending=False)  # (stands for the kill: nothing more written)

    model, opt = model_and_optimizer()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    with Tracker(run, model, grads_every=1, start_step=4) as tracker:
        assert tracker.load_state_dict(ckpt["tracker"])
        run_steps(model, opt, tracker, range(4, 8))
    got, want = read_jsonl(run / "tracked.jsonl"), read_jsonl(tmp_path / "ref" / "tracked.jsonl")
    assert_ratios_carry_their_steps_epoch(got, range(8))
    assert got == want


# -------------------------------------------------------------------------- 2. rnnlab train


def test_rnnlab_train_records_every_ratio_under_its_epoch_and_a_resume_writes_the_same(tmp_path):
    cfg = parse_config(config().replace("epochs = 2", "epochs = 3").replace("grads_every = 2", "grads_every = 1"))
    ref = train(cfg, out=tmp_path / "ref", progress=False, log=None).run_dir
    want = RunDir(ref).read_tracked()
    steps = sorted({r["step"] for r in want})
    assert len(set(epochs_by_step(want, "grad_l2").values())) == 3
    assert_ratios_carry_their_steps_epoch(want, steps)  # the last step's too

    run = tmp_path / "run"
    train(cfg, out=run, progress=False, log=None, stop_after=1)
    train(cfg, out=run, resume=True, progress=False, log=None)
    assert RunDir(run).read_tracked() == want


# -------------------------------------------------------------------------- 3. Lightning


def test_a_lightning_fit_records_every_ratio_under_its_epoch_and_a_resume_writes_the_same(tmp_path):
    pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.callbacks import ModelCheckpoint
    from test_lightning_round2 import _fit

    from rnnlab.lightning import RnnlabCallback

    _fit([RnnlabCallback(tmp_path / "ref", weights_every=1, grads_every=1)], epochs=3)
    want = RunDir(tmp_path / "ref").read_tracked()
    assert_ratios_carry_their_steps_epoch(want, range(9))  # 3 epochs of 3 steps, the last one's too

    run, ckpts = tmp_path / "run", tmp_path / "ckpt"
    _fit([RnnlabCallback(run, weights_every=1, grads_every=1),
          ModelCheckpoint(dirpath=ckpts, save_top_k=-1, every_n_epochs=1)], epochs=2, enable_checkpointing=True)
    _fit([RnnlabCallback(run, weights_every=1, grads_every=1)], epochs=3, ckpt_path=ckpts / "epoch=0-step=3.ckpt")
    assert RunDir(run).read_tracked() == want


# -------------------------------------------------------------------------- 4. diagnose's batch


def test_diagnose_refuses_a_batch_without_the_target_its_loss_takes_in_one_line():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    x = torch.randn(4, 2, 4)
    expected = (r"^batch: expected an \(input, target\) pair, as loss_fn {} takes a target, got the input alone "
                r"\(Tensor of shape \(4, 2, 4\)\)$")
    with pytest.raises(TypeError, match=expected.format("cross_entropy")):
        rnnlab.diagnose(model, x, torch.nn.functional.cross_entropy)
    with pytest.raises(TypeError, match=expected.format("CrossEntropyLoss")):
        rnnlab.diagnose(model, x, torch.nn.CrossEntropyLoss())
    # an input-only batch stays a batch for a loss of the output alone
    report = rnnlab.diagnose(model, x, lambda out: out.pow(2).mean(), checks=["nonfinite"])
    assert report.by_check("nonfinite") == []


# -------------------------------------------------------------------------- 5. the dropout warning


def test_the_one_layer_dropout_warning_points_at_the_users_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        rnnlab.LSTM(3, 4, dropout=0.2)
    (w,) = [w for w in caught if "acts between stacked layers" in str(w.message)]
    assert (w.filename, w.lineno) == (__file__, line)
