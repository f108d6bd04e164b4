"""The gradient through time of a head that pools over time (model.head.pooling "mean", "max",
"mean_max") follows the loss through each sequence's last step alone, so its reach says how far
back the layer remembers: the whole loss reads every step through the summary and reaches every
step whatever the memory. The health check judges that curve, the trainer records which loss it
followed, and the report says so (an older run's report keeps its caveat)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import torch
from tiny_run import run, tiny_toml  # tests/tiny_run.py
from torch import nn

from rnnlab.config import HeadConfig, ModelConfig, parse_config
from rnnlab.doctor import diagnose
from rnnlab.doctor.run import POOLED_LAST_STEP_LOSS, following_through_time
from rnnlab.introspect import grad_through_time
from rnnlab.introspect.stats import gradient_reach
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.report import render_report
from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json, atomic_write_text
from rnnlab.train.model import LogitsOnly, build_model, last_step_gradient

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

H, T = 16, 60
REL = 1e-3  # (the health check's default Thresholds().grad_rel)


def _lstm_head(pooling: str, remembers: bool, **model) -> LogitsOnly:
    """rnnlab's model, an LSTM under a head with ``pooling``: one that remembers (forget gate open,
    its recurrent weights as drawn) or one that forgets at every step (forget gate shut, recurrent
    weights scaled down to a tenth)."""
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden_size=H, head=HeadConfig(pooling=pooling), **model), 3, 2)
    with torch.no_grad():
        for d in ("", "_reverse") if model.get("bidirectional") else ("",):
            getattr(m.rnn, f"bias_ih_l0{d}")[H:2 * H] = 8.0 if remembers else -8.0  # (f: the second gate)
            getattr(m.rnn, f"bias_hh_l0{d}")[H:2 * H] = 0.0
            if not remembers:
                getattr(m.rnn, f"weight_hh_l0{d}").mul_(0.1)
    return LogitsOnly(m.eval())


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, T, 3, generator=g), torch.randint(0, 2, (16,), generator=g)


def _reaches(net: LogitsOnly) -> tuple[int, int, str | None]:
    """(reach of the whole loss's curve, reach of the curve the health check follows, what it follows)."""
    loss_fn = nn.CrossEntropyLoss()
    whole = grad_through_time(net, _batch(), loss_fn)["model.rnn"].per_timestep()
    with following_through_time(net, loss_fn) as (followed, what):
        last = grad_through_time(net, _batch(), followed)["model.rnn"].per_timestep()
    return gradient_reach(whole, REL), gradient_reach(last, REL), what


@pytest.mark.parametrize("pooling", ["mean", "max", "mean_max"])
def test_a_forgetful_layer_under_a_pooled_head_shows_a_short_reach(pooling):
    whole, last, what = _reaches(_lstm_head(pooling, remembers=False))
    assert whole > T // 4  # the summary reads every step: the whole loss reaches far back directly
    assert last <= 3  # the layer forgets at every step: through its last step, nothing further back
    assert what == POOLED_LAST_STEP_LOSS


@pytest.mark.parametrize("pooling", ["mean", "max", "mean_max"])
def test_a_layer_that_remembers_reaches_far_on_both_curves(pooling):
    assert _reaches(_lstm_head(pooling, remembers=True)) == (T, T, POOLED_LAST_STEP_LOSS)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_logits_are_bit_identical_and_the_gradient_enters_at_the_last_step_alone(bidirectional):
    net = _lstm_head("mean_max", remembers=True, bidirectional=bidirectional)
    m = net.model
    x, lengths = _batch()[0][:3], torch.tensor([T, 40, 7])
    outs: list[torch.Tensor] = []
    m.rnn.register_forward_hook(lambda mod, args, output: outs.append(output[0]))
    summaries: list[torch.Tensor] = []
    m.head.register_forward_pre_hook(lambda mod, args: summaries.append(args[0]))
    plain = net((x, lengths))
    with last_step_gradient(net) as pooled:
        inside = net((x, lengths))
        inside.sum().backward(inputs=[outs[-1], summaries[-1]])
    assert pooled and torch.equal(plain, inside)
    assert not m.gradient_at_last_step  # (put back on leaving)
    grad = outs[-1].grad
    forward, reverse = grad[..., :H], grad[..., H:]
    # the forward direction's gradient enters at each sequence's last valid step, nothing else
    entered = forward.abs().sum(-1) > 0
    assert entered.nonzero().tolist() == [[0, T - 1], [1, 39], [2, 6]]
    if bidirectional:  # the reverse direction processes t = 0 last: its final state is there
        assert (reverse.abs().sum(-1) > 0).nonzero().tolist() == [[0, 0], [1, 0], [2, 0]]
    # ... and it is the summary's gradient whole (the mean's plus the maximum's), as a head on the
    # final state would receive it, in every channel whichever step holds the maximum
    mean, maximum = summaries[-1].grad.chunk(2, dim=-1)
    at_last = torch.stack([grad[0, T - 1], grad[1, 39], grad[2, 6]])
    if bidirectional:
        at_last[:, H:] = grad[:, 0, H:]
    assert torch.allclose(at_last, mean + maximum)


def test_other_models_are_measured_on_the_whole_loss():
    last = build_model(ModelConfig(hidden_size=4), 3, 2)  # (a head on the final state)
    lstm = nn.LSTM(3, 4, batch_first=True)
    for net in (LogitsOnly(last), lstm):
        with following_through_time(net, nn.CrossEntropyLoss()) as (_, what):
            assert what is None


def test_the_health_check_finds_the_vanishing_gradient_under_a_pooled_head():
    report = diagnose(_lstm_head("mean", remembers=False), _batch(), nn.CrossEntropyLoss(),
                      checks=["gradient_through_time"], remedies="config")
    found = report.by_check("gradient_through_time")
    # (a note, not a warning: the head reads every step, so each step's input still trains the layer)
    assert len(found) == 1 and found[0].title.startswith("Short memory in") and found[0].severity == "info"
    assert f"({POOLED_LAST_STEP_LOSS})" in found[0].message and "still trains the layer" in found[0].message
    assert found[0].remedy.startswith("nothing, where what tells the sequences apart is shorter than that; else ")
    assert report.through_time_loss == POOLED_LAST_STEP_LOSS
    remembers = diagnose(_lstm_head("mean", remembers=True), _batch(), nn.CrossEntropyLoss(),
                         checks=["gradient_through_time"])
    assert not remembers.by_check("gradient_through_time")


def test_the_trainer_records_the_loss_its_curve_followed(tmp_path):
    def trained(pooling: str, out: Path) -> dict:
        cfg = parse_config(tiny_toml(model=f"[model.head]\npooling = '{pooling}'", training="epochs = 1",
                                     after="[tracking]\nhealth = false\nweights_every = 0\ngrads_every = 0"))
        run(cfg, out)
        return read_grad_through_time(out)[1]

    assert trained("mean", tmp_path / "mean")["loss"] == POOLED_LAST_STEP_LOSS
    assert "loss" not in trained("last", tmp_path / "last")  # (the whole loss: nothing to say)
    section = _section(render_report(tmp_path / "mean"), "gradient-through-time")
    assert f"the gradient of {POOLED_LAST_STEP_LOSS}: the head's mean over time" in section
    assert "says nothing of" not in section


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, sid
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1))).split())


def _run_dir(root: Path, loss: str | None) -> RunDir:
    """A run of a mean-pooled head whose grad_through_time.json names ``loss`` (None: an older
    run's file, which names none), the curve that of a forgetful layer's last step."""
    net = _lstm_head("mean", remembers=False)
    with last_step_gradient(net):
        gtt = grad_through_time(net, _batch(), nn.CrossEntropyLoss())
    rd = RunDir(root)
    atomic_write_text(rd.config, f'[data]\ndataset = "UnitTest"\n[model]\nhidden_size = {H}\n'
                                 '[model.head]\npooling = "mean"\n')
    atomic_write_json(rd.adapt, {"shape": {"shape": {"length": None}}, "budget": {}})
    append_jsonl(rd.metrics, {"epoch": 1, "step": 5, "train_loss": 0.7})
    write_grad_through_time(rd, gtt, step=5, epoch=1, loss=loss)
    return rd


def test_the_report_says_the_curve_follows_the_last_step_and_keeps_the_old_caveat_for_old_runs(tmp_path):
    new = _section(render_report(_run_dir(tmp_path / "new", POOLED_LAST_STEP_LOSS)), "gradient-through-time")
    assert (f"the gradient of {POOLED_LAST_STEP_LOSS}: the head's mean over time (model.head.pooling = \"mean\") "
            "lets it in there only") in new
    assert "the head's mean reads every step, which would reach every step whatever the layer's memory" in new
    assert f"After training the gradient of {POOLED_LAST_STEP_LOSS} vanishes" in new
    assert "says nothing of" not in new
    old = _section(render_report(_run_dir(tmp_path / "old", None)), "gradient-through-time")
    assert "this reach says nothing of the layer's memory" in old
    assert "the gradient of the whole loss, which reads every step through the head's mean" in old
    assert POOLED_LAST_STEP_LOSS not in old


def test_the_report_names_a_short_memory_note_as_such_not_as_an_exploding_gradient():
    from rnnlab.doctor.checks import Finding, Thresholds
    from rnnlab.report import _after_training

    note = Finding(check="gradient_through_time", severity="info", phase="before_training",
                   title="Short memory in 'model.rnn' layer 0 forward: the gradient through each sequence's last step "
                         "reaches 9 of 60 steps", numbers={"reach": 9, "timesteps": 60}, message="", remedy="")
    said = _after_training("vanishes", note, note, True, Thresholds(), loss=POOLED_LAST_STEP_LOSS)
    assert "the short memory the health check noted before training (reach 9 of 60 steps) still holds" in said
    assert "exploding" not in said
