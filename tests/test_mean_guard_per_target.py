"""The mean guard decides target by target (K > 1 regression targets): a target whose model beats
its training mean on the validation part is predicted by the model, one whose model does not by its
training mean, whatever the test over the summed squared errors says; ``summary.json`` names the
latter (``mean_guard.at_mean``), and summaries from before, without it, read back as they were
decided (for all targets together)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.config import ModelConfig, parse_config
from rnnlab.data import load_data
from rnnlab.task import task_for
from rnnlab.train.mean_guard import MeanGuard, judge, predict_the_mean
from rnnlab.train.model import build_model
from rnnlab.train.predict import prediction_rows
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

NAMES = ["conc", "count"]

CONFIG = """name = "two"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{train}"
test_path = "{test}"
target_column = ["conc", "count"]
val_fraction = 0.25
normalize = "none"
[model]
hidden_size = 8
[model.head]
pooling = "last"
[training]
epochs = 12
batch_size = 16
lr = 0.02
threads = 1
[tracking]
health = false
grads_every = 0
weights_every = 0
grad_through_time = false
"""


def _csv(path: Path, n: int, seed: int) -> Path:
    """``n`` series of 6 steps: conc a linear map of the steps, count noise drawn apart from them."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    conc = x @ np.linspace(1.0, 2.0, 6) + 5
    count = rng.standard_normal(n) * 3 + 50
    rows = [",".join(f"{v:.8g}" for v in (conc[i], count[i], *x[i])) for i in range(n)]
    path.write_text("conc,count," + ",".join(f"t{i}" for i in range(6)) + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A guarded run of the two targets: its folder, config, test file and printed lines."""
    tmp = tmp_path_factory.mktemp("per_target")
    cfg = parse_config(CONFIG.format(train=_csv(tmp / "train.csv", 160, 0), test=_csv(tmp / "test.csv", 40, 1)))
    lines: list[str] = []
    train(cfg, out=tmp / "run", log=lines.append, progress=False)
    return tmp / "run", cfg, tmp / "test.csv", lines


def test_each_target_is_decided_by_its_own_test():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((40, 2))
    # conc: close to its targets; count: far off, so the summed test fails while conc's passes
    out = np.stack([0.9 * y[:, 0], y[:, 1] + 2.0 * rng.standard_normal(40)], axis=1)
    g = judge(out, y, names=NAMES)
    assert g.z < g.margin < g.by_target[0].z  # (summed: not kept, as before; conc alone: kept)
    assert g.kept and g.at_mean == ("count",) and g.mean_targets == [1]
    assert "the run predicts count's training mean, the model conc (task.mean_guard)" in g.line()
    none = judge(np.stack([-y[:, 0], out[:, 1]], axis=1), y, names=NAMES)
    assert not none.kept and none.at_mean == ("conc", "count") and none.mean_targets is None
    assert none.line().endswith("none beats its training mean by 1.645 standard errors of the difference: "
                                "the run predicts the training mean (task.mean_guard)")
    both = judge(0.9 * y, y, names=NAMES)
    assert both.kept and both.at_mean == () and both.mean_targets == []
    assert both.line().endswith("the run keeps the model")


def test_one_target_is_decided_as_before():
    y = np.array([[1.0], [-1.0], [2.0], [-2.0], [0.5]])
    for out in (0.9 * y, -y):
        g = judge(out, y)
        assert g.at_mean is None and g.mean_targets == ([] if g.kept else None)
        assert set(g.to_dict()) == {"kept", "model_mse", "mean_mse", "z", "n_val", "margin", "baseline", "rows"}
        assert "target by target" not in g.line()


def test_predict_the_mean_of_some_targets_zeroes_their_rows_in_every_member():
    model = build_model(ModelConfig(hidden_size=4, ensemble=2), 3, 3, values=True).eval()
    x = torch.randn(5, 7, 3)
    with torch.no_grad():
        before = model(x)[0]
        predict_the_mean(model, [1])
        after = model(x)[0]
    assert torch.equal(after[:, 1], torch.zeros(5))
    assert torch.equal(after[:, [0, 2]], before[:, [0, 2]]) and bool((before[:, 0] != 0).all())
    for member in model.members:
        assert not member.head[-1].weight[1].any() and member.head[-1].bias[1] == 0
        assert member.head[-1].weight[[0, 2]].abs().sum() > 0


def test_a_run_predicts_the_failing_target_by_its_training_mean_and_the_other_by_the_model(guarded):
    run, cfg, test_file, lines = guarded
    summary = json.loads((run / "summary.json").read_text())
    guard = summary["mean_guard"]
    assert guard["kept"] is True and guard["at_mean"] == ["count"], guard
    assert guard["by_target"]["conc"]["beats_mean"] and not guard["by_target"]["count"]["beats_mean"]
    line = next(ln for ln in lines if ln.startswith("mean guard: "))
    assert "the run predicts count's training mean, the model conc" in line, line
    # count: every test series gets the training part's mean, exactly; its R² (against that mean) is 0
    mean = load_data(cfg.data, seed=cfg.training.seed, task=task_for(cfg)).targets.mean
    header, rows = prediction_rows(run, test_file)
    predicted = np.array([r[1:] for r in rows], dtype=np.float64)
    assert header == ["series", *NAMES] and len(predicted) == 40
    assert (predicted[:, 1] == mean[1]).all()
    assert len(np.unique(predicted[:, 0])) == 40  # conc: the model's, series by series
    for part in ("test", "train_eval"):
        r2 = summary[f"{part}_by_channel"]["r2"]
        assert r2["count"] == 0.0 and r2["conc"] > 0.9, (part, r2)
        assert summary[part]["r2"] == pytest.approx((r2["conc"] + r2["count"]) / 2)


def test_an_older_summary_without_at_mean_reads_back_as_it_was_decided(guarded, tmp_path):
    run, cfg, test_file, _ = guarded
    old = json.loads((run / "summary.json").read_text())["mean_guard"]
    del old["at_mean"]
    g = MeanGuard(**old)  # (kept: the model predicted every target, the failing one too)
    assert g.kept and g.at_mean is None and g.mean_targets == [] and "at_mean" not in g.to_dict()
    assert g.line().endswith("yet the model predicts it too (the guard keeps or replaces the model for all "
                             "targets together)")
    assert MeanGuard(**{**old, "kept": False}).mean_targets is None
    # such a run's predictions stay what it reported: count the model's too
    shutil.copytree(run, tmp_path / "old")
    summary = json.loads((tmp_path / "old" / "summary.json").read_text())
    summary["mean_guard"] = old
    (tmp_path / "old" / "summary.json").write_text(json.dumps(summary))
    predicted = np.array([r[1:] for r in prediction_rows(tmp_path / "old", test_file)[1]], dtype=np.float64)
    assert len(np.unique(predicted[:, 1])) == 40
