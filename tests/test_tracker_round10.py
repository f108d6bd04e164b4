"""rnnlab.Tracker in a training loop of one's own: a step called at the wrong point of the loop is
said (once), a tracker nobody can close any more gives its run directory back when collected,
and the loss given to every step is kept whatever the schedule."""

from __future__ import annotations

import gc
import html
import re
import warnings

import pytest
import torch

import rnnlab
from rnnlab.lock import DirLock, live_holder
from rnnlab.plots.metrics import tracked_loss_records
from rnnlab.report import render_report
from rnnlab.rundir import RunDir, append_jsonl_many
from rnnlab.tracker import Tracker, read_tracked

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ORDER = "optimizer.zero_grad(); loss.backward(); tracker.step(loss); optimizer.step()"


def _model() -> torch.nn.Module:
    torch.manual_seed(6)
    return torch.nn.Sequential(rnnlab.GRU(2, 4))


def _loop(run, order: str, steps: int = 6, opt_cls=torch.optim.SGD, **tracking):
    """The researcher's loop with ``tracker.step`` at the point ``order`` names; returns the
    tracker's warnings (their messages and files) and what it recorded."""
    model = _model()
    opt = opt_cls(model.parameters(), lr=0.1)
    x = torch.randn(5, 3, 2)
    if order == "zero_grads_before_backward":  # (a loop whose gradients exist from an earlier epoch)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        tracker = Tracker(run, model, grads_every=1, **tracking)
        for _ in range(steps):
            loss = model(x)[0].pow(2).mean()
            if order == "right":
                opt.zero_grad(); loss.backward(); tracker.step(loss); opt.step()  # noqa: E702
            elif order == "before_backward":
                opt.zero_grad(); tracker.step(loss); loss.backward(); opt.step()  # noqa: E702
            elif order == "zero_grads_before_backward":
                opt.zero_grad(set_to_none=False); tracker.step(loss); loss.backward(); opt.step()  # noqa: E702
            elif order == "after_optimizer_step":
                opt.zero_grad(); loss.backward(); opt.step(); tracker.step(loss)  # noqa: E702
            elif order == "twice":
                opt.zero_grad(); loss.backward(); tracker.step(loss); tracker.step(loss); opt.step()  # noqa: E702
        tracker.close()
    mine = [w for w in said if str(w.message).startswith("Tracker.step")]
    return mine, read_tracked(run)


# ------------------------------------------------------------------ 1. a step at the wrong point


@pytest.mark.parametrize("order, says", [
    ("before_backward", r"^Tracker\.step \(step 0\): no tracked parameter has a gradient \(every \.grad is None\), "
                        r"so no gradient norm is recorded although grads_every=1: it ran before loss\.backward\(\); "),
    ("zero_grads_before_backward", r"^Tracker\.step \(step 0\): every tracked gradient was exactly 0 while the "
                                   r"optimizer step after it moved the weights, so the gradient norms recorded are 0: "
                                   r"it ran before loss\.backward\(\) \(after optimizer\.zero_grad\(set_to_none=False\)\); "),
    ("after_optimizer_step", r"^Tracker\.step \(step 0\): the weights changed after loss\.backward\(\) computed their "
                             r"gradients \(optimizer\.step\(\) ran before this call\), so the gradients recorded are not "
                             r"of the weights recorded and each update_ratio is the next step's; "),
    ("twice", r"^Tracker\.step \(step 1\): called again with no loss\.backward\(\) and no weight change since the "
              r"previous call \(step 0\), so each training step counts twice and every other update_ratio is 0: "
              r"call it once per training step; "),
])
def test_a_step_at_the_wrong_point_of_the_loop_is_said_once_with_the_order(tmp_path, order, says):
    said, tracked = _loop(tmp_path / "run", order)
    (w,) = said  # once per tracker, not once per step
    assert re.match(says, str(w.message)), str(w.message)
    assert str(w.message).endswith(f"call it after loss.backward() and before optimizer.step(): {ORDER}")
    assert w.category is UserWarning and w.filename == __file__  # (the loop's line, not rnnlab's)
    # what each warning is about is indeed what was recorded
    weight = tracked["0.weight_hh_l0"]
    if order == "before_backward":
        assert "grad_l2" not in weight
    elif order == "zero_grads_before_backward":
        assert weight["grad_l2"].values.tolist() == [0.0] * 6 and (weight["update_ratio"].values > 0).all()
    elif order == "after_optimizer_step":
        assert weight["update_ratio"].values[-1] == 0.0  # (the last one is "the next step's": none)
    else:
        assert weight["grad_l2"].steps.tolist() == list(range(12))
        assert weight["update_ratio"].values[0::2].tolist() == [0.0] * 6


@pytest.mark.parametrize("opt_cls", [torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW])
def test_the_documented_order_is_not_warned_of(tmp_path, opt_cls):
    said, tracked = _loop(tmp_path / "run", "right", opt_cls=opt_cls)
    assert said == []
    assert tracked["model"]["grad_l2"].steps.tolist() == list(range(6))


def test_loops_that_look_unusual_but_record_right_are_not_warned_of(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(5, 3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Tracker(tmp_path / "run", model, grads_every=1) as tracker:
            for step in range(4):
                opt.zero_grad(set_to_none=False)
                for half in (x[:, :2], x[:, 2:]):  # gradients accumulated over two micro-batches
                    model(half)[0].pow(2).mean().backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 0.01)  # (changes the gradients in place)
                tracker.step()
                if step != 2:  # (a GradScaler skips the update of a step whose gradients overflowed)
                    opt.step()
        with Tracker(tmp_path / "weights", model, grads_every=0) as weights_only:
            weights_only.step(); weights_only.step()  # noqa: E702  (nothing trains: only weights recorded)


# ------------------------------------------------------------------ 2. the lock of a collected tracker


def test_a_tracker_nobody_can_close_gives_the_run_back_when_collected(tmp_path):
    run, model = tmp_path / "run", _model()
    kept_run = []

    def train():
        tracker = Tracker(run, model)
        kept_run.append(tracker.run)  # (a reference to its run, not to the tracker)
        model(torch.randn(5, 3, 2))[0].sum().backward()
        tracker.step(torch.tensor(0.5))
        raise ValueError("bug in my loop")

    with pytest.raises(ValueError, match="bug in my loop"):
        train()
    gc.collect()
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())  # (its hooks are gone too)
    with pytest.warns(UserWarning, match=r"already holds records of steps up to 0: they are kept and this tracker "
                                         r"continues at step 1"):
        again = Tracker(run, model)  # was: DirectoryBusy, "close that one first", with nothing to close
    assert again.step_count == 1
    again.close()
    # what the crashed loop recorded is all there
    assert read_tracked(run)["loss"]["value"].values.tolist() == [0.5]
    assert read_tracked(run)["model"]["grad_l2"].steps.tolist() == [0]


def test_a_tracker_held_only_by_a_reference_cycle_does_not_refuse_the_next(tmp_path):
    model = _model()
    gc.disable()  # (so that the cycle is still there when the next tracker is made)
    try:
        lost = Tracker(tmp_path, model, grads_every=0)
        lost.me = lost  # (as a traceback's frames can hold it)
        lost.step(1.0)
        del lost
        again = Tracker(tmp_path, model, start_step=1)  # was: DirectoryBusy until a gc.collect()
    finally:
        gc.enable()
    again.step(2.0)
    again.close()
    assert read_tracked(tmp_path)["loss"]["value"].values.tolist() == [1.0, 2.0]


def test_close_takes_the_hooks_off_and_a_live_tracker_still_refuses_a_second(tmp_path):
    model = _model()
    first = Tracker(tmp_path, model)
    with pytest.raises(rnnlab.lock.DirectoryBusy, match="in use by another writer in this process"):
        Tracker(tmp_path, model)
    assert all(len(p._post_accumulate_grad_hooks) == 1 for p in model.parameters())
    first.close()
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())


def test_a_collected_dir_lock_is_given_back(tmp_path):
    DirLock(tmp_path, "run directory").acquire()  # dropped at once, never released
    gc.collect()
    assert live_holder(tmp_path) is None  # (emptied, as a release leaves it)
    DirLock(tmp_path, "run directory").acquire().release()  # was: DirectoryBusy


# ------------------------------------------------------------------ 3. the loss of every step


@pytest.mark.parametrize("weights_every, grads_every", [(0, 1), (5, 5), (0, 0)])
def test_the_loss_of_every_step_is_kept_whatever_is_due(tmp_path, weights_every, grads_every):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    with Tracker(tmp_path, model, weights_every=weights_every, grads_every=grads_every) as tracker:
        for _ in range(7):
            loss = model(torch.randn(5, 3, 2))[0].pow(2).mean()
            opt.zero_grad(); loss.backward(); tracker.step(loss, epoch=1); opt.step()  # noqa: E702
            losses.append(loss.item())
    records = tracked_loss_records(RunDir(tmp_path))  # (what the report draws)
    assert [r["step"] for r in records] == list(range(7))  # was: none (0 / 1), steps 0 and 5 (5 / 5)
    assert [r["tracked_loss"] for r in records] == pytest.approx(losses, rel=1e-6)


def _final_metrics(run) -> str:
    page = render_report(RunDir(run))
    section = page[page.index('<section id="final-metrics">'):]
    return html.unescape(re.sub(r"<[^>]+>", " ", section[:section.index("</section>")]))


def test_the_report_says_no_loss_only_when_none_was_given(tmp_path):
    model = _model()
    with Tracker(tmp_path / "given", model, weights_every=0, grads_every=0) as tracker:
        tracker.step(0.25); tracker.step(0.125)  # noqa: E702
    final = _final_metrics(tmp_path / "given")
    assert "holds no loss" not in final and "loss at step 1" in final  # was: "holds no loss"
    with Tracker(tmp_path / "none", model, grads_every=0) as tracker:
        tracker.step()
    assert "tracked.jsonl holds no loss (Tracker.step(loss) records it)" in _final_metrics(tmp_path / "none")


def test_a_file_written_before_keeps_its_loss_on_weight_steps_only(tmp_path):
    run = RunDir(tmp_path)
    with Tracker(run, _model(), grads_every=0):
        pass  # (a run directory of the tracker's, as an older rnnlab left it)
    append_jsonl_many(run.tracked, [{"step": s, "epoch": 1, "name": "loss", "stat": "value", "value": 1.0 / (s + 1)}
                                    for s in (0, 5)])
    assert [r["step"] for r in tracked_loss_records(run)] == [0, 5]
    assert "loss at step 5" in _final_metrics(tmp_path)
