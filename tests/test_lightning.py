"""RnnlabCallback with Lightning itself (CPU, a tiny rnnlab.LSTM module): the run directory that
`rnnlab report` and `rnnlab compare` read, the module's own optimizer untouched, the user's
logger fed, and both `lightning.pytorch` and `pytorch_lightning` trainers."""

from __future__ import annotations

import csv
import importlib
import sys

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

import rnnlab  # noqa: E402
from rnnlab.cli import main  # noqa: E402
from rnnlab.errors import RunDirError  # noqa: E402
from rnnlab.lightning import RnnlabCallback  # noqa: E402
from rnnlab.rundir import RunDir  # noqa: E402
from rnnlab.tracker import read_tracked  # noqa: E402


def _module(base):
    class Net(base):
        def __init__(self):
            super().__init__()
            self.rnn = rnnlab.LSTM(2, 4, batch_first=True, zoneout=0.1)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

        def _step(self, batch, split):
            x, y = batch
            logits = self(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            self.log(f"{split}_loss", loss, on_epoch=True, on_step=False)
            self.log(f"{split}_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True, on_step=False)
            return loss

        def training_step(self, batch, i):
            return self._step(batch, "train")

        def validation_step(self, batch, i):
            self._step(batch, "val")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)

    return Net


def _loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 6, 2, generator=g)
    y = (x[:, :, 0].mean(1) > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    return (torch.utils.data.DataLoader(data, batch_size=8, shuffle=False),
            torch.utils.data.DataLoader(data, batch_size=12))


def _fit(package, callbacks, logger=False, epochs=3, seed=0):
    torch.manual_seed(seed)
    model = _module(package.LightningModule)()
    trainer = package.Trainer(max_epochs=epochs, callbacks=callbacks, logger=logger, enable_checkpointing=False,
                              enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                              num_sanity_val_steps=0)
    train, val = _loaders()
    trainer.fit(model, train, val)
    return model


def test_the_run_directory_and_the_users_logger(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(tmp_path / "logs", name="user")
    run = tmp_path / "run"
    _fit(pl, [RnnlabCallback(run, weights_every=1, grads_every=1)], logger=logger)
    rd = RunDir.existing(run)
    records = rd.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2, 3] and [r["step"] for r in records] == [3, 6, 9]
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(records[-1])
    tracked = read_tracked(run)
    # Per channel, through the Tracker, at each of the 9 optimizer steps: 4 gates x 4 units.
    grads = tracked["rnn.weight_hh_l0"]["grad_l2_per_channel"]
    assert grads.values.shape == (9, 16) and list(grads.steps) == list(range(9))
    assert len(tracked["loss"]["value"].values) == 9
    assert rd.read_health() is not None and (run / "grad_through_time.json").exists()
    assert rd.read_summary()["epochs"] == 3
    # The user's own logger has the scalar norms too.
    with open(next((tmp_path / "logs").rglob("metrics.csv")), newline="") as f:
        columns = next(csv.reader(f))
    assert "rnnlab/model/grad_l2" in columns and "rnnlab/rnn.weight_hh_l0/l2_mean" in columns

    # `rnnlab report` and `rnnlab compare` read it.
    assert main(["report", str(run)]) == 0 and (run / "report.html").exists()
    html = (run / "report.html").read_text()
    # every section drawn but the configuration (a Lightning run has no rnnlab config)
    assert html.count('class="nodata"') == 1 and "config.toml is missing" in html
    assert 'alt="rnn layer 0 forward"' in html and 'alt="weight norms over steps"' in html
    other = tmp_path / "run2"
    _fit(pl, [RnnlabCallback(other, health=False, grad_through_time=False)], epochs=2, seed=1)
    assert main(["compare", str(run), str(other), "--figures", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "compare_norms.png").exists()


def test_the_callback_leaves_the_training_as_it_was(tmp_path):
    # The health check works on copies (module, optimizer, random state): the weights after
    # training with the callback are those without it, with the module's own SGD + momentum.
    plain = _fit(pl, [])
    watched = _fit(pl, [RnnlabCallback(tmp_path / "run", weights_every=1, grads_every=1)])
    for (name, a), (_, b) in zip(plain.state_dict().items(), watched.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_second_fit_into_the_run_is_refused(tmp_path):
    _fit(pl, [RnnlabCallback(tmp_path / "run", health=False)], epochs=1)
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    with pytest.raises(RunDirError, match="already holds a run; give a new directory per fit"):
        _fit(pl, [RnnlabCallback(tmp_path / "run", health=False)], epochs=1)
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before


@pytest.mark.parametrize("package", ["lightning.pytorch", "pytorch_lightning"])
def test_both_lightning_packages_take_the_callback(package, tmp_path):
    # Users mix `import lightning.pytorch as pl` and `import pytorch_lightning as pl`. A trainer
    # recognises a lone callback (callbacks=cb) by its own Callback class: the other package's
    # is taken for a list and fails ("'Callback' object is not iterable"). Ours is both.
    pytest.importorskip("pytorch_lightning")
    lib = importlib.import_module(package)
    other = importlib.import_module("pytorch_lightning" if package == "lightning.pytorch" else "lightning.pytorch")
    with pytest.raises(TypeError, match="'Callback' object is not iterable"):
        lib.Trainer(callbacks=other.Callback(), logger=False)  # the confusion users report
    callback = RnnlabCallback(tmp_path / "run", health=False)
    assert isinstance(callback, lib.Callback) and isinstance(callback, other.Callback)
    _fit(lib, callback, epochs=2)
    assert [r["epoch"] for r in RunDir(tmp_path / "run").read_metrics()] == [1, 2]
    assert read_tracked(tmp_path / "run")["rnn.weight_hh_l0"]["grad_l2_per_channel"].values.shape[1] == 16


def test_without_lightning_the_error_names_the_extra(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails
    monkeypatch.delitem(sys.modules, "rnnlab.lightning")
    with pytest.raises(ImportError, match=r"^rnnlab.lightning needs Lightning .*pip install 'rnnlab\[lightning\]'$"):
        importlib.import_module("rnnlab.lightning")
    monkeypatch.undo()
    sys.modules.pop("rnnlab.lightning", None)
    importlib.import_module("rnnlab.lightning")
