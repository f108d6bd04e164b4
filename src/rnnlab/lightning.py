"""A Lightning callback that records what ``rnnlab train`` records, inside a Lightning user's loop.

:class:`RnnlabCallback` writes a run directory that ``rnnlab report`` and ``rnnlab compare`` read:

* ``tracked.jsonl``: weight and gradient norms per channel through :class:`rnnlab.Tracker`, in
  ``on_before_optimizer_step`` (after backward and Lightning's unscaling, before the step of the
  LightningModule's own optimizer), with the loss of that step;
* ``health.json``: the health check (:func:`rnnlab.diagnose`) before training, on a copy of the
  module and of its optimizer, with the first training batch;
* ``grad_through_time.json``: ``|dLoss/dh_t|`` of every recurrent layer after training;
* ``metrics.jsonl``: one record per epoch with the scalars the module logged
  (``trainer.callback_metrics``; log ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` for
  ``rnnlab compare``'s columns), and ``summary.json`` at the end.

The scalar norms (``l2``, ``l2_mean``, ``l2_max``, the global ``grad_l2``, the loss) also go to
the trainer's own loggers as ``rnnlab/NAME/STAT``.

The health check and the gradient through time call the module as ``pl_module(x)`` on a batch
``(x, y)`` and take ``loss_fn(output, y)`` (default cross-entropy); give ``batch`` and ``loss_fn``
when the module's batches or outputs differ. Both ``lightning.pytorch`` and ``pytorch_lightning``
trainers accept the callback: it derives from the ``Callback`` of each that is installed.

Needs Lightning: ``pip install 'rnnlab[lightning]'``.

Example:
    >>> import tempfile, torch
    >>> import lightning.pytorch as pl
    >>> class Net(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn, self.head = torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.head(self.rnn(x)[0][:, -1])
    ...     def training_step(self, batch, i):
    ...         loss = torch.nn.functional.cross_entropy(self(batch[0]), batch[1])
    ...         self.log("train_loss", loss, on_epoch=True, on_step=False)
    ...         return loss
    ...     def configure_optimizers(self):
    ...         return torch.optim.Adam(self.parameters(), lr=1e-2)
    >>> data = torch.utils.data.TensorDataset(torch.randn(16, 5, 2), torch.randint(0, 2, (16,)))
    >>> run = tempfile.mkdtemp()
    >>> trainer = pl.Trainer(max_epochs=2, callbacks=[RnnlabCallback(run)], logger=False,
    ...                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    >>> trainer.fit(Net(), torch.utils.data.DataLoader(data, batch_size=8))
    >>> from rnnlab.rundir import RunDir
    >>> [r["epoch"] for r in RunDir(run).read_metrics()], len(RunDir(run).read_tracked()) > 0
    ([1, 2], True)
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def _callback_bases() -> tuple[type, ...]:
    """``Callback`` of ``lightning.pytorch`` and of ``pytorch_lightning``, those installed: a
    trainer of either package checks its callbacks against its own class."""
    bases = []
    for package in ("lightning.pytorch", "pytorch_lightning"):
        try:
            bases.append(importlib.import_module(package).Callback)
        except ImportError:
            continue
    if not bases:
        raise ImportError("rnnlab.lightning needs Lightning (the package 'lightning' or 'pytorch_lightning'): "
                          "pip install 'rnnlab[lightning]'")
    return tuple(bases)


__all__ = ["RnnlabCallback"]


class RnnlabCallback(*_callback_bases()):  # type: ignore[misc]
    """Record a Lightning fit into the run directory ``run_dir`` (see the module's docstring).

    ``weights_every`` / ``grads_every`` / ``params`` / ``norms`` / ``per_channel``: as
    :class:`rnnlab.Tracker` (optimizer steps between records); ``health`` and
    ``grad_through_time``: the checks before and after training, on ``batch`` (default: the first
    training batch, its first ``inspect_steps`` steps) with ``loss_fn``; ``log_to_loggers``: send
    the scalar norms to the trainer's loggers too.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, weights_every: int = 10, grads_every: int = 10,
                 params: Sequence[str] | None = None, norms: Sequence[str] = ("l2",), per_channel: bool = True,
                 health: bool = True, grad_through_time: bool = True, batch: tuple[Any, Any] | None = None,
                 loss_fn: Callable[[Any, Any], Tensor] | None = None, inspect_steps: int = 4096,
                 log_to_loggers: bool = True) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.tracking = {"weights_every": weights_every, "grads_every": grads_every, "params": params,
                         "norms": tuple(norms), "per_channel": per_channel}
        self.health = health
        self.grad_through_time = grad_through_time
        self.batch = batch
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.inspect_steps = inspect_steps
        self.log_to_loggers = log_to_loggers
        self._run: Any = None
        self._tracker: Any = None
        self._loss: Tensor | None = None
        self._epoch_started = 0.0

    # ------------------------------------------------------------------------------ fit

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        from rnnlab.errors import RunDirError
        from rnnlab.rundir import RunDir
        from rnnlab.tracker import Tracker

        if not trainer.is_global_zero:
            return  # one process records (under DDP every rank runs the callbacks)
        # Held for the whole fit, as `rnnlab train` holds its run: a second writer is refused.
        self._run = RunDir.for_writing(self.run_dir, new=True, named_by="RnnlabCallback run_dir")
        if self._run.metrics.exists() or self._run.tracked.exists():
            self._run.release()
            raise RunDirError(f"RnnlabCallback run_dir {str(self.run_dir)!r} already holds a run; give a new "
                              "directory per fit")
        self._tracker = Tracker(self._run, pl_module, start_step=trainer.global_step, **self.tracking)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not self.health or self._run is None:
            return
        from rnnlab.doctor import diagnose

        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        was_training = pl_module.training
        try:
            batch = self._inspected_batch(trainer)
            with _detached(pl_module) as module:
                diagnose(module, batch, self.loss_fn, optimizer, steps=5, run_dir=self._run)
        finally:
            pl_module.train(was_training)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch_started = time.perf_counter()

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        self._loss = loss.detach()

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if self._tracker is None:
            return
        self._tracker.step(self._loss, epoch=trainer.current_epoch + 1)
        records = self._tracker.last_records
        self._loss = None
        if self.log_to_loggers and records and trainer.loggers:
            scalars = {f"rnnlab/{r['name']}/{r['stat']}": float(r["value"]) for r in records
                       if not isinstance(r["value"], list)}
            for logger in trainer.loggers:
                logger.log_metrics(scalars, step=trainer.global_step)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._run is None:
            return
        record: dict[str, Any] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for name, value in trainer.callback_metrics.items():
            if isinstance(value, Tensor) and value.numel() == 1:
                record[name] = float(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                record[name] = float(value)
        record["time"] = time.perf_counter() - self._epoch_started
        self._run.append(self._run.metrics, record)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        from rnnlab.rundir import atomic_write_json

        if self._run is None:
            return
        try:
            self._tracker.close()
            if self.grad_through_time:
                self._record_grad_through_time(trainer, pl_module)
            records = self._run.read_metrics()
            atomic_write_json(self._run.summary, {
                "epochs": len(records), "stopped_early": bool(trainer.should_stop),
                "final": records[-1] if records else {}, "best": None, "best_epoch": None,
                "train_eval": None, "test": None})
        finally:
            self._run.release()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # What is recorded stays (every record is appended as it comes); the directory is freed.
        if self._tracker is not None:
            self._tracker.close()
        if self._run is not None:
            self._run.release()

    # ------------------------------------------------------------------------------ helpers

    def _inspected_batch(self, trainer: Any) -> tuple[Any, Any]:
        if self.batch is not None:
            batch = self.batch
        else:
            # A loader's iterator draws its seed from torch's generator: drawn here, it would
            # change the training's shuffling and dropout. The check leaves them as they were.
            with torch.random.fork_rng(devices=[]):
                batch = next(iter(trainer.train_dataloader))
        x, y = batch[0], batch[1]
        if isinstance(x, Tensor) and x.dim() == 3 and x.shape[1] > self.inspect_steps:
            x = x[:, : self.inspect_steps]  # (batch_first) time and memory grow with the steps
        return trainer.strategy.batch_to_device((x, y))

    def _record_grad_through_time(self, trainer: Any, pl_module: Any) -> None:
        from rnnlab.introspect import grad_through_time
        from rnnlab.introspect.modules import recurrent_modules
        from rnnlab.introspect.through_time_file import write_grad_through_time

        if not recurrent_modules(pl_module):
            return  # nothing recurrent to look through
        was_training = pl_module.training
        pl_module.eval()
        try:
            batch = self._inspected_batch(trainer)
            with torch.enable_grad(), _detached(pl_module) as module:
                gtt = grad_through_time(module, batch, self.loss_fn)
        finally:
            pl_module.train(was_training)
        write_grad_through_time(self._run, gtt, step=trainer.global_step, epoch=trainer.current_epoch)


@contextlib.contextmanager
def _detached(module: Any) -> Iterator[Any]:
    """The LightningModule without its trainer for a while: the health check copies the module,
    and the trainer (its loaders, loggers, other callbacks) must not be copied with it."""
    trainer = getattr(module, "_trainer", None)
    module._trainer = None
    try:
        yield module
    finally:
        module._trainer = trainer
