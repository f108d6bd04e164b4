"""A teacher running everything in one long-lived Python process (round 200): a Tracker made again
on a run directory keeps what it recorded; torch's global default dtype does not change the model
rnnlab builds; the underfit finding blames the class balance only where the classes are
imbalanced; the recipe's decision picture keeps its candidates' names apart."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.config import config_from_dict, parse_config
from rnnlab.doctor import fit_findings
from rnnlab.rundir import read_jsonl
from rnnlab.tracker import Tracker

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ------------------------------------------------------------------ 1. Tracker on a run that holds records

def _loop(model: nn.Module, tracker: Tracker, steps: int) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for i in range(steps):
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(i))
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        tracker.step(loss)
        opt.step()


def _steps(run) -> list[int]:
    return sorted({int(r["step"]) for r in read_jsonl(run / "tracked.jsonl")})


def test_a_tracker_made_again_on_a_run_keeps_its_records_and_continues_after_them(tmp_path):
    model = nn.Linear(3, 2)
    with Tracker(tmp_path, model, grads_every=2) as t:
        _loop(model, t, 4)
    before = (tmp_path / "tracked.jsonl").read_text()
    assert _steps(tmp_path) == [0, 1, 2, 3]
    with warnings.catch_warnings(record=True) as said:  # (a notebook cell run again "to continue")
        warnings.simplefilter("always")
        again = Tracker(tmp_path, model, grads_every=2)
    assert again.step_count == 4
    assert (tmp_path / "tracked.jsonl").read_text() == before  # nothing recorded is lost
    (w,) = [w for w in said if "Tracker" in str(w.message)]
    assert "steps up to 3" in str(w.message) and "continues at step 4" in str(w.message)
    assert "start_step=0" in str(w.message)  # (how to start over instead)
    assert w.filename == __file__  # (the user's line, not rnnlab's)
    with again:
        _loop(model, again, 2)
    assert _steps(tmp_path) == [0, 1, 2, 3, 4, 5]


def test_a_given_start_step_drops_what_follows_it_as_a_resume_does(tmp_path):
    model = nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (a new directory: nothing to say)
        first = Tracker(tmp_path, model)
    assert first.step_count == 0
    with first:
        _loop(model, first, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (asked for: no warning)
        resumed = Tracker(tmp_path, model, start_step=2)  # a resume from a checkpoint at step 2
    assert resumed.step_count == 2 and _steps(tmp_path) == [0, 1]
    resumed.close()
    with pytest.warns(UserWarning, match="continues at step 2"):
        again = Tracker(tmp_path, model)  # after what the resume kept
    assert again.step_count == 2 and _steps(tmp_path) == [0, 1]
    again.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        over = Tracker(tmp_path, model, start_step=0)  # start over, as asked
    assert over.step_count == 0 and not (tmp_path / "tracked.jsonl").read_text()
    over.close()


# ------------------------------------------------------------------ 2. torch's default dtype

TINY = {"data": {"dataset": "GunPoint", "val_fraction": 0.0},
        "model": {"layer": "lstm", "hidden_size": 4, "frontend": {"channels": 4, "kernel_size": 7, "stride": 3}},
        "training": {"steps": 3, "batch_size": 10, "seed": 0},
        "tracking": {"grad_through_time": False}}


@pytest.fixture
def float64_default():
    before = torch.get_default_dtype()
    yield
    torch.set_default_dtype(before)


def test_a_run_under_a_float64_default_is_the_float32_run(tmp_path, float64_default):
    from rnnlab.train import train

    cfg = config_from_dict(TINY, "dict")
    a = train(cfg, out=tmp_path / "a", log=None)
    torch.set_default_dtype(torch.float64)
    b = train(cfg, out=tmp_path / "b", log=None)  # (was: "Input type (float) and bias type (double)")
    assert torch.get_default_dtype() == torch.float64  # the caller's setting is left as it was
    assert {p.dtype for p in b.model.parameters()} == {torch.float32}
    for (name, p), q in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q), name  # the same initial draws, the same training
    assert a.final["train_loss"] == b.final["train_loss"]


def test_an_estimator_fits_under_a_float64_default_as_under_float32(float64_default):
    from rnnlab import RNNClassifier
    from rnnlab.estimators import FAST

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1, 12)).astype(np.float32)
    y = np.where(X[:, 0, :4].mean(1) > 0, "pos", "neg")

    def fit():
        return RNNClassifier(hidden_size=4, steps=3, batch_size=8, params=FAST, random_state=0).fit(X, y)

    want = fit().predict_proba(X)
    torch.set_default_dtype(torch.float64)
    got = fit().predict_proba(X)  # (was: "input: expected dtype torch.float64 ... convert the input")
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ 3. the class balance as a cause

GUNPOINT = parse_config('[data]\ndataset = "GunPoint"\nval_fraction = 0.0\n[training]\nsteps = 300')


def _records(accs, losses):
    return [{"epoch": i + 1, "step": 50 * (i + 1), "train_loss": loss, "train_acc": acc}
            for i, (loss, acc) in enumerate(zip(losses, accs, strict=True))]


def test_balanced_classes_are_not_blamed_for_an_underfit():
    # GunPoint without a hold-out: 26/24 classes, the majority 0.52 of the training series
    recs = _records([0.5, 0.55, 0.6, 0.6, 0.62, 0.62], [0.69, 0.68, 0.66, 0.66, 0.65, 0.65])
    (f,) = fit_findings(recs, {"acc": 0.62, "loss": 0.65}, GUNPOINT, majority=26 / 50)
    assert f.check == "underfit"
    assert "The majority class" not in f.message and "balance the classes" not in f.remedy
    assert "majority class alone" not in f.title
    # 70/30: the smaller class under half the larger (rnnlab train's IMBALANCED_BELOW): blamed
    (g,) = fit_findings(recs, {"acc": 0.72, "loss": 0.65}, GUNPOINT, majority=0.7)
    assert "The majority class: one class holds 0.700" in g.message and "balance the classes" in g.remedy
    assert "(the majority class alone scores 0.700)" in g.title


def test_the_imbalance_rule_is_rnnlab_trains():
    from rnnlab.doctor.fit import imbalanced
    from rnnlab.task import IMBALANCED_BELOW

    # two classes: the smaller under IMBALANCED_BELOW of the larger, exactly
    edge = 1 / (1 + IMBALANCED_BELOW)
    assert not imbalanced(0.6) and not imbalanced(edge - 1e-9) and imbalanced(edge + 1e-9)


# ------------------------------------------------------------------ 4. the recipe's decision picture

def test_the_decision_pictures_candidate_names_do_not_run_into_each_other():
    from rnnlab.recipe.decide import verdict
    from rnnlab.recipe.procedure import Tried
    from rnnlab.recipe.report import decision_figure

    base, a, b = [9.44, 8.54], [9.39, 8.54], [9.23, 8.78]  # /tmp/u199's recipe run: val_rmse, 2 folds
    tried = [Tried("recurrent_dropout", "recurrent_dropout=0.2", None, "baseline", scores=a,
                   verdict=verdict(a, base, False, paired=True), kept=True),
             Tried("recurrent_dropout", "recurrent_dropout=0.4", None, "recurrent_dropout=0.2", scores=b,
                   verdict=verdict(b, a, False, paired=True)),
             Tried("recurrent_dropout", "recurrent_dropout=0.3", None, "recurrent_dropout=0.2", scores=b,
                   verdict=verdict(b, a, False, paired=True))]
    fig = decision_figure(tried, {"baseline": base, "recurrent_dropout=0.2": a}, [0], "val_rmse", False)
    renderer = fig.canvas.get_renderer()
    for ax, t in zip(fig.axes, tried, strict=False):
        left, right = ax.get_xticklabels()
        # every name whole (broken into lines, never cut)
        assert [x.get_text().replace("\n", "") for x in (left, right)] == [t.against, t.label]
        box_l, box_r = left.get_window_extent(renderer), right.get_window_extent(renderer)
        assert box_l.x1 < box_r.x0, (left.get_text(), right.get_text())  # apart: each readable
        assert box_l.y0 >= 0 and box_r.y0 >= 0  # and inside the picture
