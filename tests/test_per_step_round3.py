"""Per-step targets, round 3: the input-scale check of sequences of different lengths, the checks
not run in the report, the gradient through time of per-step losses, the per-step pictures of
the predictions, and the weight-norm section of a run that never hit its tracking interval."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.doctor import Report, diagnose
from rnnlab.introspect.stats import gradient_reach
from rnnlab.introspect.through_time_file import read_grad_through_time
from rnnlab.plots.per_step import step_predictions
from rnnlab.report import render_report, write_report
from rnnlab.rundir import RunDir
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """name = "{name}"
[task]
kind = "{kind}"
per_step = true
[data]
path = "{path}"
{test}
normalize = "{normalize}"
[model]
layer = "{layer}"
hidden_size = 8
[training]
steps = {steps}
batch_size = 16
lr = 0.01
threads = 1
[tracking]
weights_every = {every}
grads_every = {every}
"""


def config(tmp_path: Path, name: str, path: Path, *, kind: str = "regression", test: Path | None = None,
           normalize: str = "per_channel", layer: str = "lstm", steps: int = 6, norms: bool = True) -> Path:
    """``norms``: weight and gradient norms recorded every 5 steps (else never: for the tests of the
    report's predictions, which read none, and whose report is quicker to draw without their figures)."""
    out = tmp_path / f"{name}.toml"
    out.write_text(CONFIG.format(name=name, kind=kind, path=path, test=f'test_path = "{test}"' if test else "",
                                 normalize=normalize, layer=layer, steps=steps, every=5 if norms else 0))
    return out


def section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    return html[start:html.index("</section>", start)]


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


# --- 1. the input scale of sequences of different lengths --------------------------------------


def big_values(tmp_path: Path, lengths: bool) -> Path:
    """Inputs of root mean square 150 at their valid steps (over the check's 100), a sequence
    valid on its first 10 of 60 steps, zeros after: over all steps the root mean square is 61."""
    rng = np.random.default_rng(0)
    X = np.zeros((40, 60, 1))
    X[:, :10] = rng.choice([-150.0, 150.0], size=(40, 10, 1))
    y = np.cumsum(X[..., 0], axis=1) / 1000
    L = np.full(40, 10)
    L[::2] = 60  # (half the sequences long: the batch keeps 60 steps)
    X[::2, 10:] = rng.choice([-150.0, 150.0], size=(20, 50, 1))
    path = tmp_path / ("var.npz" if lengths else "eq.npz")
    np.savez(path, X=X, y=np.where(np.arange(60) < L[:, None], y, np.nan), **({"lengths": L} if lengths else {}))
    return path


def test_the_input_scale_is_checked_on_the_valid_steps_of_sequences_of_different_lengths(tmp_path, capsys):
    cfg = config(tmp_path, "var", big_values(tmp_path, lengths=True), normalize="none")
    assert main(["doctor", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "input_scale: the input is not a floating-point tensor" not in out
    # (root mean square 150 over the valid steps: the zero padding of the short ones would make it ~110)
    found = re.search(r"Inputs far from unit scale: root mean square (\S+)", out)
    assert found and float(found[1]) == pytest.approx(150, rel=1e-3), out


# --- 2. the checks not run, in health.json and the report ----------------------------------------


def test_the_report_lists_the_checks_not_run(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    batch = (torch.randn(32, 3), torch.randn(32, 1))
    run = tmp_path / "own"
    report = diagnose(net, batch, torch.nn.MSELoss(), run_dir=run)
    assert "softmax_init" in report.skipped and "gradient_through_time" in report.skipped
    assert RunDir(run).read_health() == []  # (the findings reader of older versions still reads it)
    assert Report.read(run).skipped == report.skipped
    health = text(section(render_report(run), "health"))
    assert "every health check passed" not in health
    for name, why in report.skipped.items():
        assert re.search(rf"{name}\s*: {re.escape(why)}", health), health


# --- 3. the gradient through time of per-step targets ------------------------------------------


@pytest.fixture(scope="module")
def running_sum(tmp_path_factory) -> Path:
    """A running sum over 200 steps, a target at every step: each step's target needs every
    input before it, which a plain RNN cannot carry that far."""
    d = tmp_path_factory.mktemp("sum")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(32, 200, 1))
    np.savez(d / "sum.npz", X=X, y=np.cumsum(X[..., 0], axis=1))
    return d / "sum.npz"


def test_the_gradient_through_time_of_per_step_targets_follows_the_last_step(tmp_path, running_sum, capsys):
    cfg = config(tmp_path, "sum", running_sum, layer="rnn", steps=4)
    assert main(["doctor", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Vanishing gradient through time in 'model.rnn' layer 0 forward" in out, out
    assert "(the loss at each sequence's last step)" in out

    run = train(parse_config(cfg.read_text()), out=tmp_path / "run", progress=False, log=None).run_dir
    before = [f for f in Report.read(run) if f.check == "gradient_through_time"]
    assert before and before[0].numbers["reach"] < 200
    after, _ = read_grad_through_time(run)
    g = after["model.rnn"].per_timestep(0, "forward")
    assert gradient_reach(torch.from_numpy(g)) < 200  # (the loss at every step "reached" all 200)
    sentences = text(section(render_report(run), "gradient-through-time"))
    assert "After training the gradient of the loss at each sequence's last step" in sentences
    assert "all 200 steps back" not in sentences


# --- 4. the pictures of per-step predictions ----------------------------------------------------


def activities(path: Path, n: int, seed: int) -> Path:
    """Three activities in runs of 5-20 steps, each with its own level, of lengths 20-60."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 60, 2))
    y = np.full((n, 60), "", dtype="<U5")
    L = rng.integers(20, 61, n)
    for i in range(n):
        t = 0
        while t < L[i]:
            a, d = rng.integers(3), rng.integers(5, 20)
            X[i, t:min(L[i], t + d)] = rng.normal(2.0 * a, 0.3, (min(L[i], t + d) - t, 2))
            y[i, t:min(L[i], t + d)] = ["sit", "walk", "run"][a]
            t += d
    np.savez(path, X=X, y=y, lengths=L)
    return path


def test_a_per_step_classification_report_shows_accuracy_by_step_and_the_confusion_matrix(tmp_path):
    train_path, test_path = activities(tmp_path / "a.npz", 48, 0), activities(tmp_path / "t.npz", 12, 1)
    cfg = config(tmp_path, "acts", train_path, kind="classification", test=test_path, steps=20, norms=False)
    run = train(parse_config(cfg.read_text()), out=tmp_path / "run", progress=False, log=None).run_dir
    html = render_report(run)
    body = section(html, "predictions")
    assert "Predictions by step and class" in html
    assert 'alt="accuracy by step position"' in body and 'alt="confusion matrix of the classes"' in body
    p = step_predictions(run)
    lengths = np.load(test_path)["lengths"]
    assert p.split == "test" and p.series == 12
    acc, valid = p.accuracy_by_step()
    assert valid.tolist() == [(lengths > t).sum() for t in range(60)]  # (the series valid at each position)
    confusion = p.confusion()
    assert confusion.sum() == lengths.sum()
    summary = json.loads((Path(run) / "summary.json").read_text())
    # (what the picture counts is what the run's test accuracy scored)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(summary["test"]["acc"], abs=1e-9)
    assert np.nansum(acc * valid) == pytest.approx(np.trace(confusion))


def test_a_per_step_regression_report_shows_series_over_time(tmp_path, running_sum):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(16, 30, 1))
    test = tmp_path / "test.npz"
    np.savez(test, X=X, y=np.cumsum(X[..., 0], axis=1) * 10 + 5)
    cfg = config(tmp_path, "sum", running_sum, test=test, steps=4, norms=False)
    run = train(parse_config(cfg.read_text()), out=tmp_path / "run", progress=False, log=None).run_dir
    body = section(render_report(run), "predictions")
    assert 'alt="predictions against the targets"' in body and 'alt="predicted and actual values over time"' in body
    p = step_predictions(run)
    assert p.kind == "regression" and p.valid.all()
    # (in the data's units: the test file's own values)
    np.testing.assert_allclose(p.actual[..., 0], np.load(test)["y"], rtol=1e-5, atol=1e-4)


# --- 5. the weight norms of a run that never fell on its tracking interval ------------------------


def test_a_resumed_lightning_run_says_no_step_fell_on_the_tracking_interval(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from rnnlab.lightning import RnnlabCallback

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

        def training_step(self, batch, i):
            loss = torch.nn.functional.cross_entropy(self(batch[0]), batch[1])
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    torch.manual_seed(0)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 5, 2),
                                                                      torch.randint(0, 2, (16,))), batch_size=8)
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False)
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    pl.Trainer(max_epochs=2, callbacks=[RnnlabCallback(tmp_path / "first", weights_every=10), checkpoints],
               **quiet).fit(Net(), data)
    pl.Trainer(max_epochs=4, callbacks=[RnnlabCallback(tmp_path / "second", weights_every=10)],
               enable_checkpointing=False, **quiet).fit(Net(), data, ckpt_path=tmp_path / "ck" / "last.ckpt")
    norms = text(section(render_report(write_report(tmp_path / "second").parent), "weight-norms"))
    assert "tracking off?" not in norms
    assert "no step of the run fell on the tracking interval" in norms
    assert "took steps 4 to 7 only" in norms, norms
