"""RnnlabCallback, third round (CPU, a tiny torch GRU module): manual optimization with two
optimizers, each stepping its own parameters on every batch. The health check sees both
optimizers, and tracked.jsonl has one record per training batch whose update ratios span the
updates of both."""

from __future__ import annotations

import copy

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from rnnlab.lightning import RnnlabCallback  # noqa: E402
from rnnlab.rundir import RunDir  # noqa: E402
from rnnlab.tracker import read_tracked  # noqa: E402

BATCHES, EPOCHS = 3, 2  # training batches an epoch, epochs


class TwoOptimizers(pl.LightningModule):
    """Adam on the GRU, SGD on the head, both stepped after one backward per batch; it keeps
    what each batch did (its loss, the global gradient norm, the weights before and after)."""

    def __init__(self, optimize_head: bool = True):
        super().__init__()
        self.automatic_optimization = False
        self.optimize_head = optimize_head
        self.rnn = torch.nn.GRU(2, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 2)
        self.batches: list[dict] = []

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])

    def training_step(self, batch, i):
        x, y = batch
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        before = {n: p.detach().clone() for n, p in self.named_parameters()}
        for opt in optimizers:
            opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(self(x), y)
        self.manual_backward(loss)
        grad_l2 = float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(p.grad.double()) for p in self.parameters() if p.grad is not None])))
        for opt in optimizers:
            opt.step()
        after = {n: p.detach().clone() for n, p in self.named_parameters()}
        self.batches.append({"loss": float(loss.detach()), "grad_l2": grad_l2, "before": before, "after": after})
        self.log("train_loss", loss, on_epoch=True, on_step=False)

    def configure_optimizers(self):
        adam = torch.optim.Adam(self.rnn.parameters(), lr=1e-2)
        return [adam, torch.optim.SGD(self.head.parameters(), lr=0.5)] if self.optimize_head else adam


def _loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8 * BATCHES, 6, 2, generator=g)
    data = torch.utils.data.TensorDataset(x, (x[:, :, 0].mean(1) > 0).long())
    return torch.utils.data.DataLoader(data, batch_size=8)


def _fit(model, callbacks):
    torch.manual_seed(0)
    pl.Trainer(max_epochs=EPOCHS, callbacks=callbacks, logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False, accelerator="cpu").fit(model, _loader())
    return model


def _titles(run):
    return [f["check"] for f in RunDir(run).read_health()]


def test_the_health_check_sees_every_optimizer_of_a_manual_optimization(tmp_path):
    # The head is stepped by the second optimizer: no finding may say that no step changes it.
    run = tmp_path / "run"
    model = TwoOptimizers()
    untouched = copy.deepcopy(model)
    _fit(model, [RnnlabCallback(run, weights_every=1, grads_every=1)])
    assert "not_in_optimizer" not in _titles(run)
    # The check ran on copies: the fit is the one without the callback (both optimizers' state untouched).
    _fit(untouched, [])
    for (name, p), q in zip(model.named_parameters(), untouched.parameters(), strict=True):
        assert torch.equal(p, q), name
    # Where the head truly is in no optimizer, the check still says so.
    _fit(TwoOptimizers(optimize_head=False), [RnnlabCallback(tmp_path / "forgotten")])
    assert "not_in_optimizer" in _titles(tmp_path / "forgotten")


def test_a_batch_stepped_by_two_optimizers_is_one_record_spanning_both_updates(tmp_path):
    run = tmp_path / "run"
    model = _fit(TwoOptimizers(), [RnnlabCallback(run, weights_every=1, grads_every=1)])
    tracked = read_tracked(run)
    assert len(model.batches) == BATCHES * EPOCHS
    # One record per batch, numbered by the trainer's global step (two optimizer steps a batch),
    # as metrics.jsonl's steps are.
    steps = [2 * b for b in range(BATCHES * EPOCHS)]
    loss, grad_l2 = tracked["loss"]["value"], tracked["model"]["grad_l2"]
    assert loss.steps.tolist() == steps and grad_l2.steps.tolist() == steps
    assert [r["step"] for r in RunDir(run).read_metrics()] == [2 * BATCHES * (e + 1) for e in range(EPOCHS)]
    # each record is of its own batch: its loss and its global gradient norm
    assert loss.values.tolist() == pytest.approx([b["loss"] for b in model.batches], rel=1e-6)
    assert grad_l2.values.tolist() == pytest.approx([b["grad_l2"] for b in model.batches], rel=1e-6)
    # The update ratio of every parameter is over the whole batch's updates (the GRU's by Adam,
    # the head's by SGD): never 0 for the group the other optimizer steps.
    for name, _ in model.named_parameters():
        ratio = tracked[name]["update_ratio"]
        assert ratio.steps.tolist() == steps, name
        expected = [float(torch.linalg.vector_norm(b["after"][name] - b["before"][name])
                          / torch.linalg.vector_norm(b["before"][name])) for b in model.batches]
        assert ratio.values.tolist() == pytest.approx(expected, rel=1e-5), name
        assert min(expected) > 0, name
