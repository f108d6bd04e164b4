"""A Lightning callback that records what ``rnnlab train`` records, inside a Lightning user's loop.

:class:`RnnlabCallback` writes a run directory that ``rnnlab report`` and ``rnnlab compare`` read:

* ``tracked.jsonl``: weight and gradient norms per channel through :class:`rnnlab.Tracker`, in
  ``on_before_optimizer_step`` (after backward and Lightning's unscaling, before the step of the
  LightningModule's own optimizer), with the loss of that step in the module's own units (with
  ``accumulate_grad_batches=k``, the mean of the window's micro-batch losses, which Lightning
  divides by k before backward). One record per training batch at most: a module of manual
  optimization that steps several optimizers per batch is recorded at the batch's first step
  (every gradient there, no weight moved yet), its update ratios spanning the updates of all of
  them; records are numbered by the trainer's global step, which counts each optimizer's step
  (two optimizers: 0, 2, 4 ..., and ``weights_every`` / ``grads_every`` count those steps);
* ``health.json``: the health check (:func:`rnnlab.diagnose`) before training, on a copy of the
  module and of its optimizers (all of them, each stepping its own parameters), with the first
  training batch (a fit that starts from a checkpoint has no "before training": it is not
  checked);
* ``grad_through_time.json``: ``|dLoss/dh_t|`` of every recurrent layer after training, and the
  health check's curve before training beside it (the report draws both);
* ``gate_activations.json``: each LSTM/GRU layer's gate activations on the same batch, before and
  after training, for the report's Gates section (with ``grad_through_time``);
* ``metrics.jsonl``: one record per epoch with the scalars the module logged in that epoch
  (from ``trainer.callback_metrics``, which also keeps older values: a validation metric of an
  epoch without validation is left out; log ``train_loss``, ``train_acc``, ``val_loss``,
  ``val_acc`` for ``rnnlab compare``'s columns), and ``summary.json`` at the end (``epochs``: the
  last epoch trained, as its ``final`` record says).

The findings after training of ``rnnlab train`` (underfit, overfit) are not run: they judge the
trained model measured on its whole training split, which the callback does not do; the report
says so rather than calling the fit good. The scalar norms (``l2``, ``l2_mean``, ``l2_max``, the
global ``grad_l2``, the loss) also go to the trainer's loggers as ``rnnlab/NAME/STAT``.

The health check and the gradient through time call the module as ``pl_module(x)`` on a batch
``(x, y)`` and take ``loss_fn(output, y)``: give ``batch`` (a pair, or a function from a training
batch to one, e.g. ``lambda b: (b["x"], b["y"])`` for dict batches) and ``loss_fn`` when the
module's batches or outputs differ. The default ``loss_fn``, cross-entropy, refuses float targets
and outputs that are not class scores (a regression needs e.g. ``loss_fn=torch.nn.MSELoss()``).

A run continues across fits: ``trainer.fit(..., ckpt_path=...)`` from a checkpoint that a fit of
the run saved (the callback keeps the run's id in it, ``state_dict``) continues into the run's
directory, dropping what was recorded after the checkpoint's step (that training runs again) and
logging the resume in ``resumes.jsonl``; any other fit into a directory that holds a run is
refused. A fit resumed into a new directory records from the checkpoint's step on. With
``fast_dev_run`` nothing is written (as Lightning's loggers and checkpoints): the health check
runs in memory only, so a wrong ``batch`` or ``loss_fn`` shows at once. Both
``lightning.pytorch`` and ``pytorch_lightning`` trainers accept the callback: it derives from the
``Callback`` of each that is installed.

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
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_positive_int


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

    ``weights_every`` / ``grads_every`` / ``params`` / ``norms`` (one name or several) /
    ``per_channel``: as :class:`rnnlab.Tracker` (optimizer steps between records); ``health`` and
    ``grad_through_time``: the checks before and after training, on ``batch`` (default: the first
    training batch; a function of a training batch returning ``(x, y)``, or a fixed pair), its
    first ``inspect_steps`` steps, with ``loss_fn``; ``log_to_loggers``: send the scalar norms to
    the trainer's loggers too.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, weights_every: int = 10, grads_every: int = 10,
                 params: str | Sequence[str] | None = None, norms: str | Sequence[str] = ("l2",),
                 per_channel: bool = True, health: bool = True, grad_through_time: bool = True,
                 batch: tuple[Any, Any] | Callable[[Any], tuple[Any, Any]] | None = None,
                 loss_fn: Callable[[Any, Any], Tensor] | None = None, inspect_steps: int = 4096,
                 log_to_loggers: bool = True) -> None:
        super().__init__()
        self.run_dir = _checked_run_dir(run_dir)
        from rnnlab.tracker import checked_tracking

        self.tracking = {"weights_every": weights_every, "grads_every": grads_every, "params": _checked_params(params),
                         "norms": checked_tracking(weights_every=weights_every, grads_every=grads_every, norms=norms),
                         "per_channel": check_bool("per_channel", per_channel)}
        self.health = check_bool("health", health)
        self.grad_through_time = check_bool("grad_through_time", grad_through_time)
        if not (batch is None or callable(batch) or (isinstance(batch, (tuple, list)) and len(batch) == 2)):
            raise TypeError(f"batch: expected an (x, y) pair or a function from a training batch to one, "
                            f"got {_described(batch)}")
        self.batch = batch
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn: expected a callable loss_fn(output, target) -> scalar tensor, "
                            f"got {_described(loss_fn)}")
        self.loss_fn = loss_fn if loss_fn is not None else _DefaultCrossEntropy()
        self.inspect_steps = check_positive_int("inspect_steps", inspect_steps)
        self.log_to_loggers = check_bool("log_to_loggers", log_to_loggers)
        self._run: Any = None
        self._tracker: Any = None
        self._run_id: str | None = None
        self._restored: dict[str, Any] = {}  # this callback's state in the checkpoint the fit resumes from
        self._losses: list[Tensor] = []
        self._tracked_batch = False  # this training batch's record is written (one per batch)
        self._batches = 0  # training batches of the current epoch run by this fit
        self._metrics_before: dict[str, Any] = {}
        self._epoch_started = 0.0

    # ------------------------------------------------------------------------------ the run's identity

    def state_dict(self) -> dict[str, Any]:
        # A checkpoint names the run it belongs to: a fit resumed from it may continue that run;
        # and holds its tracker's pending update ratio, which the next step records (as rnnlab
        # train's checkpoints do: a resumed tracked.jsonl equals the uninterrupted one's).
        if not self._run_id:
            return {}
        state: dict[str, Any] = {"run": self._run_id, "run_dir": os.fspath(self.run_dir)}
        if self._tracker is not None:
            state["tracker"] = self._tracker.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored = dict(state_dict)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._restored = {}  # (this instance's next fit resumes only if its own checkpoint says so)

    # ------------------------------------------------------------------------------ fit

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # Not on_fit_start: Lightning restores a checkpoint's step and epoch after that hook, and
        # the run is continued (or refused) from where the checkpoint is.
        if not trainer.is_global_zero:
            return  # one process records (under DDP every rank runs the callbacks)
        self._losses, self._batches, self._metrics_before = [], 0, dict(trainer.callback_metrics)
        self._epoch_started = time.perf_counter()
        resumed = getattr(trainer, "ckpt_path", None) is not None
        # A batch or targets the checks cannot take: refused now (not after training), before the
        # run is claimed or a resumed run's later records dropped.
        batch = self._inspected_batch(trainer) if self.health or self.grad_through_time else None
        if not trainer.fast_dev_run:  # (a smoke test: Lightning's loggers and checkpoints write nothing either)
            self._open_run(trainer, pl_module, resumed)
        if self.health and not resumed:  # (a resumed fit has no "before training")
            self._health_check(trainer, pl_module, batch)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._epoch_started = time.perf_counter()
        self._batches = 0
        # Lightning's callback_metrics keep every value ever logged; one logged again this epoch
        # replaces its entry with a new tensor, one not logged since is the same object as now.
        self._metrics_before = dict(trainer.callback_metrics)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._tracked_batch = False

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._batches += 1

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Tensor) -> None:
        # Automatic optimization divides each micro-batch's loss by accumulate_grad_batches.
        scale = trainer.accumulate_grad_batches if pl_module.automatic_optimization else 1
        if not self._tracked_batch:  # (a manual loop's backward after the batch's record is of no later record)
            self._losses.append(loss.detach() * scale)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        # Manual optimization may step several optimizers per batch (Lightning counts each in
        # global_step and calls this hook for each): one record per batch, at its first step,
        # when every gradient is there and no weight has moved yet, so that the update ratio
        # (measured at the next record) spans the updates of all the batch's optimizers.
        if self._tracked_batch:
            return
        self._tracked_batch = True
        losses, self._losses = self._losses, []
        if self._tracker is None:
            return
        # (numbered by the trainer's global step, as metrics.jsonl and a resumed fit count)
        self._tracker.step_count = trainer.global_step
        self._tracker.step(torch.stack(losses).mean() if losses else None, epoch=trainer.current_epoch + 1)
        records = self._tracker.last_records
        if self.log_to_loggers and records and trainer.loggers:
            scalars = {f"rnnlab/{r['name']}/{r['stat']}": float(r["value"]) for r in records
                       if not isinstance(r["value"], list)}
            for logger in trainer.loggers:
                logger.log_metrics(scalars, step=trainer.global_step)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._run is None or self._batches == 0:
            # No batch of this epoch ran in this fit: Lightning ends again an epoch that ended before
            # the checkpoint it resumed from, whose record is the run's already.
            return
        record: dict[str, Any] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for name, value in trainer.callback_metrics.items():
            if self._metrics_before.get(name) is value:
                continue  # logged in an earlier epoch (a validation that did not run this epoch)
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
                "epochs": records[-1]["epoch"] if records else trainer.current_epoch,
                "stopped_early": bool(trainer.should_stop), "final": records[-1] if records else {},
                "best": None, "best_epoch": None, "train_eval": None, "test": None})
        finally:
            self._close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # What is recorded stays (every record is appended as it comes); the directory is freed.
        # (no last update ratio: the exception may have come between the hook and the weights' update)
        self._close(record_pending=False)

    # ------------------------------------------------------------------------------ helpers

    def _open_run(self, trainer: Any, pl_module: Any, resumed: bool) -> None:
        """Claim ``run_dir``: a new run, or the run the resumed checkpoint belongs to, continued
        from the checkpoint's step; the Tracker counts from that step."""
        from rnnlab.errors import RunDirError
        from rnnlab.rundir import (
            RECORDED_BY_LIGHTNING,
            RUN,
            RunDir,
            atomic_write_json,
            read_marker,
            truncate_jsonl,
        )
        from rnnlab.tracker import Tracker

        # Held for the whole fit, as `rnnlab train` holds its run: a second writer is refused.
        run = RunDir.for_writing(self.run_dir, new=True, named_by="RnnlabCallback run_dir")
        try:
            step = trainer.global_step
            same_run = self._restored.get("run") is not None and \
                (read_marker(run.path, RUN) or {}).get("run") == self._restored["run"]
            if same_run:
                self._run_id = self._restored["run"]
            elif run.metrics.exists() or run.tracked.exists():
                theirs = self._restored.get("run_dir")
                raise RunDirError(
                    f"RnnlabCallback run_dir {os.fspath(self.run_dir)!r} already holds a run; give a new directory "
                    "per fit, or continue that run with trainer.fit(..., ckpt_path=) from a checkpoint it saved"
                    + (f" (this checkpoint is of the run recorded in {theirs!r})" if resumed and theirs else ""))
            else:
                self._run_id = uuid.uuid4().hex
                atomic_write_json(run.path / RUN.marker, {"recorded_by": RECORDED_BY_LIGHTNING, "run": self._run_id})
            # (first: it checks `params` before it drops its records from `step` on)
            self._tracker = Tracker(run, pl_module, start_step=step, **self.tracking)
            if same_run and self._restored.get("tracker"):
                self._tracker.load_state_dict(self._restored["tracker"])
            if same_run and run.metrics.exists():  # what came after the checkpoint is trained again
                truncate_jsonl(run.metrics, lambda r: r.get("step", 0) <= step)
            if resumed:
                epochs = [r["epoch"] for r in run.read_metrics()]
                run.append(run.resumes, {
                    "after_epoch": max([trainer.current_epoch, *epochs]), "step": step,
                    "where": f"at step {step} from {os.fspath(trainer.ckpt_path)}",
                    "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "changed": {}})
        except BaseException:
            if self._tracker is not None:
                self._tracker.close()
                self._tracker = None
            run.release()
            raise
        self._run = run

    def _close(self, record_pending: bool = True) -> None:
        if self._tracker is not None:
            self._tracker.close(record_pending=record_pending)
        if self._run is not None:
            self._run.release()
        self._tracker = self._run = None

    def _health_check(self, trainer: Any, pl_module: Any, batch: tuple[Any, Any]) -> None:
        from rnnlab.doctor import diagnose
        from rnnlab.doctor.run import curves_from_time_gradients
        from rnnlab.introspect.through_time_file import write_grad_through_time

        # Every optimizer of the fit (manual optimization may hold several, each stepping its own
        # parameters): the check's steps take them all, and a parameter any of them holds is optimized.
        optimizers = list(trainer.optimizers)
        optimizer = optimizers[0] if len(optimizers) == 1 else _Optimizers(optimizers) if optimizers else None
        was_training = pl_module.training
        try:
            with _detached(pl_module) as module:
                report = diagnose(module, batch, self.loss_fn, optimizer, steps=5, run_dir=self._run)
        finally:
            pl_module.train(was_training)
        untrained = curves_from_time_gradients(report.through_time)
        if self._run is not None and self.grad_through_time and untrained:
            # (the report draws it dashed beside the curve after training, as for `rnnlab train`:
            # the same module, batch and keys; the write after training keeps this block)
            write_grad_through_time(self._run, untrained, step=trainer.global_step, epoch=trainer.current_epoch,
                                    phase="before_training")
            self._record_gates(trainer, pl_module, batch, phase="before_training")

    def _inspected_batch(self, trainer: Any) -> tuple[Any, Any]:
        if self.batch is not None and not callable(self.batch):
            batch = self.batch
        else:
            # A loader's iterator draws its seed from torch's generator: drawn here, it would
            # change the training's shuffling and dropout. The check leaves them as they were.
            with torch.random.fork_rng(devices=[]):
                batch = next(iter(trainer.train_dataloader))
            if callable(self.batch):
                picked = self.batch(batch)
                if not (isinstance(picked, (tuple, list)) and len(picked) == 2):
                    raise TypeError(f"batch: expected the function to return an (x, y) pair, got {_described(picked)}")
                batch = picked
            elif not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
                raise TypeError(
                    "batch: the health check and the gradient through time call the module on an (x, y) pair, "
                    f"got a training batch that is {_described(batch)}: give RnnlabCallback(batch=) a function "
                    "that picks the pair, e.g. batch=lambda b: (b['x'], b['y']), or a fixed pair batch=(x, y)")
        x, y = batch[0], batch[1]
        if isinstance(self.loss_fn, _DefaultCrossEntropy):
            self.loss_fn.check(None, y)
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
        self._record_gates(trainer, pl_module, batch)

    def _record_gates(self, trainer: Any, pl_module: Any, batch: tuple[Any, Any], phase: str = "after_training") -> None:
        """Each gated layer's gate activations on the inspected ``batch`` (eval mode), for the
        report's Gates section, as ``rnnlab train`` records them (gate_activations.json)."""
        from rnnlab.introspect import gate_activations
        from rnnlab.introspect.gates_file import write_gate_activations

        was_training = pl_module.training
        pl_module.eval()
        try:
            with _detached(pl_module) as module:
                acts = gate_activations(module, batch)
        except ValueError:
            return  # (cells of the user's own, whose gates no layout names: the report says why there are none)
        finally:
            pl_module.train(was_training)
        write_gate_activations(self._run, acts, step=trainer.global_step, epoch=trainer.current_epoch, phase=phase)


class _Optimizers(torch.optim.Optimizer):
    """Several optimizers seen as one by the health check (:func:`rnnlab.diagnose` takes one and
    copies it with the module): their param groups together, each stepped and zeroed in turn.
    It holds no state of its own (each optimizer keeps its own, copied along with it)."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        # (no Optimizer.__init__: it would build param groups of its own beside the optimizers')
        self.optimizers = list(optimizers)

    @property
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [group for opt in self.optimizers for group in opt.param_groups]

    @property
    def state(self) -> dict[Any, Any]:  # type: ignore[override]
        return {k: v for opt in self.optimizers for k, v in opt.state.items()}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for opt in self.optimizers:
            opt.step()

    def __getstate__(self) -> dict[str, Any]:
        return {"optimizers": self.optimizers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.optimizers = state["optimizers"]

    def __repr__(self) -> str:
        return f"_Optimizers({', '.join(type(o).__name__ for o in self.optimizers)})"


class _DefaultCrossEntropy(nn.CrossEntropyLoss):
    """The default ``loss_fn``: cross-entropy that refuses what is not a classification. Given a
    regression's float outputs and targets it would still return a number, and the checks would
    report on a meaningless loss."""

    def check(self, output: Any, target: Any) -> None:
        """A one-line ``ValueError`` unless ``target`` holds class indices and ``output`` (when
        known) class scores [batch, classes >= 2, ...] matching it."""
        scores = output is None or (
            isinstance(output, Tensor) and output.is_floating_point() and output.dim() >= 2
            and output.shape[1] >= 2 and isinstance(target, Tensor)
            and tuple(target.shape) == (output.shape[0], *output.shape[2:]))
        indices = isinstance(target, Tensor) and not target.is_floating_point() and not target.is_complex() \
            and target.dtype != torch.bool
        if not (scores and indices):
            shown = "" if output is None else f"outputs {_shape_of(output)} and "
            raise ValueError(
                "loss_fn: the default cross-entropy expects class scores [batch, classes, ...] and integer class "
                f"targets [batch, ...], got {shown}targets {_shape_of(target)}; give the module's own loss, "
                "e.g. RnnlabCallback(..., loss_fn=torch.nn.MSELoss()) for a regression")

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        self.check(output, target)
        return super().forward(output, target)


def _shape_of(value: Any) -> str:
    """``[8] float32`` for a tensor, else its type."""
    if isinstance(value, Tensor):
        return f"{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    return f"of type {type(value).__name__}"


def _described(value: Any) -> str:
    """``a Tensor of shape [8] (float32)`` / ``a dict with keys ['x', 'y']`` / ``NoneType None``."""
    if isinstance(value, Tensor):
        return f"a Tensor of shape {list(value.shape)} ({str(value.dtype).removeprefix('torch.')})"
    if isinstance(value, dict):
        return f"a dict with keys {list(value)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {value!r:.60}"


def _checked_run_dir(run_dir: Any) -> str | os.PathLike[str]:
    if not isinstance(run_dir, (str, os.PathLike)) or isinstance(os.fspath(run_dir), bytes):
        raise TypeError(f"run_dir: expected a directory path (str or os.PathLike), got {_described(run_dir)}")
    if not os.fspath(run_dir).strip():  # (Path("") is the working directory)
        raise ValueError(f"run_dir: expected a directory path, got {os.fspath(run_dir)!r}")
    return run_dir


def _checked_params(params: Any) -> str | tuple[str, ...] | None:
    if params is None or isinstance(params, str):
        return params
    if not (isinstance(params, Sequence) and all(isinstance(p, str) for p in params)):
        raise TypeError(f"params: expected parameter names or fnmatch patterns (a str or a sequence of str), "
                        f"got {_described(params)}")
    return tuple(params)


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
