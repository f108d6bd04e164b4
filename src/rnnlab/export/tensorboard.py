"""TensorBoard export: tracked scalars and per-gate histograms of a run directory.

:func:`tensorboard_records` turns ``RUN_DIR/tracked.jsonl`` (and optionally a model's current
weights) into plain :class:`Scalar` and :class:`Histogram` records; :func:`export_tensorboard`
writes them with ``torch.utils.tensorboard.SummaryWriter``. The conversion needs nothing beyond
rnnlab; the writer needs the ``tensorboard`` package (the ``tensorboard`` extra), imported only
when writing.

Tags:

* ``{name}/{stat}`` for scalar statistics (``lstm.weight_hh_l0/l2_mean``; the loss is ``loss``);
* ``metrics/{name}`` for the epoch records of a run (``metrics.jsonl``: ``metrics/train_loss``,
  ``metrics/val_acc``, ``metrics/lr``, ..., at each epoch's last step) and the test split's
  figures (``metrics/test_acc``, one point at the last step);
* ``{name}/{stat}`` histograms of per-channel statistics, split per gate as
  ``{name}/{gate}/{stat}`` when ``model`` tells the gate layout (``lstm.weight_hh_l0/f/l2_per_channel``);
* ``weights/...`` histograms of every parameter of ``model`` (when given) at the step its weights
  are (:func:`weights_step`: ``step`` when given, else the run's last epoch record's; a record of
  step ``s`` holds the weights before update ``s``, so weights after ``N`` updates are at step
  ``N``, ``Tracker.step_count``): a gated recurrent layer's per gate as
  ``weights/{module} l{layer} {direction}/{component}/{gate}``, every other parameter whole as
  ``weights/{parameter name}`` (``weights/head.0.weight``).

Example:
    >>> import tempfile, torch
    >>> from rnnlab.tracker import Tracker
    >>> lstm = torch.nn.LSTM(2, 3)
    >>> run = tempfile.mkdtemp()
    >>> Tracker(run, lstm, grads_every=0).step(1.5)
    >>> scalars, hists = tensorboard_records(run, model=lstm)
    >>> [s for s in scalars if s.tag == "loss"]
    [Scalar(tag='loss', step=0, value=1.5)]
    >>> [h.values.shape for h in hists if h.tag == "weight_hh_l0/f/l2_per_channel"]
    [(3,)]
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from rnnlab.gates import has_gate_layout, split_gates
from rnnlab.introspect.modules import recurrent_modules
from rnnlab.introspect.weights import GateParams, gate_weights
from rnnlab.rundir import PARTIAL_KEYS, RunDir
from rnnlab.tracker import NORMS, TrackedSeries, read_tracked

INSTALL_HINT = "pip install 'rnnlab[tensorboard]'"


class Scalar(NamedTuple):
    """One scalar point: ``tag``, ``step``, ``value``."""

    tag: str
    step: int
    value: float


class Histogram(NamedTuple):
    """One histogram: ``tag``, ``step`` and the ``values [N]`` to bin."""

    tag: str
    step: int
    values: np.ndarray


def _gated_weights(model: nn.Module) -> list[GateParams]:
    """``model``'s weights split per gate where its layers have a gate layout; none for a user's
    cell that declares none (its weights are exported whole, as tracked)."""
    return gate_weights(model, modules=[name for name, m in recurrent_modules(model) if has_gate_layout(m)])


def _param_kinds(model: nn.Module | None) -> dict[str, str]:
    if model is None:
        return {}
    return {pname: gp.kind for gp in _gated_weights(model) for pname in gp.names.values()}


def tensorboard_records(
    run_dir: str | os.PathLike[str] | RunDir, model: nn.Module | None = None, step: int | None = None
) -> tuple[list[Scalar], list[Histogram]]:
    """Convert a run's tracked statistics and epoch records (and ``model``'s weights at ``step``,
    by default the step they are at, :func:`weights_step`: all of them, a gated layer's per gate)
    into scalar and histogram records, ordered by tag then step.

    >>> import tempfile
    >>> from rnnlab.tracker import Tracker
    >>> lstm, run = torch.nn.LSTM(2, 3), tempfile.mkdtemp()
    >>> opt = torch.optim.SGD(lstm.parameters(), lr=0.1)
    >>> with Tracker(run, lstm, weights_every=5) as tracker:
    ...     for _ in range(7):  # (steps 0..6: weights tracked at steps 0 and 5, before their updates)
    ...         lstm(torch.randn(4, 1, 2))[0].sum().backward(); tracker.step(); opt.step(); opt.zero_grad()
    >>> _, hists = tensorboard_records(run, model=lstm, step=tracker.step_count)
    >>> sorted({h.step for h in hists if h.tag.startswith("weights/")})
    [7]
    """
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    tracked = read_tracked(run)
    kinds = _param_kinds(model)
    scalars: list[Scalar] = []
    hists: list[Histogram] = []
    for name in sorted(tracked):
        for stat in sorted(tracked[name]):
            series = tracked[name][stat]
            base = name if (name, stat) == ("loss", "value") else f"{name}/{stat}"
            if series.values.dtype != object and series.values.ndim == 1:
                scalars.extend(Scalar(base, int(s), float(v)) for s, v in zip(series.steps, series.values, strict=True))
                continue
            kind = kinds.get(name)
            for s, v in zip(series.steps, series.values, strict=True):
                vec = np.asarray(v, dtype=np.float64)
                if kind is None:
                    hists.append(Histogram(base, int(s), vec))
                    continue
                for gate, part in split_gates(torch.from_numpy(vec), kind).items():
                    hists.append(Histogram(f"{name}/{gate}/{stat}", int(s), part.numpy()))
    records = run.read_metrics()
    scalars += _metric_scalars(run, records)
    if model is not None:
        at = weights_step(run, model, step, tracked=tracked, records=records)
        gated = _gated_weights(model)
        for gp in gated:
            for comp, gate, arr in gp.items():
                hists.append(Histogram(f"weights/{gp.label}/{comp}/{gate}", at, arr.reshape(-1).astype(np.float64)))
        split = {pname for gp in gated for pname in gp.names.values()}
        for pname, param in model.named_parameters():
            if pname not in split:
                hists.append(Histogram(f"weights/{pname}", at,
                                       param.detach().float().cpu().reshape(-1).numpy().astype(np.float64)))
    scalars.sort(key=lambda r: (r.tag, r.step))
    hists.sort(key=lambda r: (r.tag, r.step))
    return scalars, hists


#: How close a tracked weight norm and ``model``'s must be to be the same weights: the tracker
#: stores float32 norms, and one optimizer update moves a norm by far more.
SAME_WEIGHTS_RTOL = 1e-5


def weights_step(run_dir: str | os.PathLike[str] | RunDir, model: nn.Module, step: int | None = None, *,
                 tracked: dict[str, dict[str, TrackedSeries]] | None = None,
                 records: list[dict[str, Any]] | None = None) -> int:
    """The optimizer step ``model``'s weights are at, in the tracker's numbering (a record of step
    ``s`` holds the weights before update ``s``: after ``N`` updates they are at step ``N``, a
    ``Tracker``'s ``step_count``): ``step`` when given; else the run's last epoch record's
    (``metrics.jsonl``: the weights its last checkpoint holds); else, in a run without epoch
    records (a ``Tracker`` in one's own loop), the last step whose weights were tracked, where
    ``model``'s whole-tensor norms are still those. Otherwise the files cannot tell (weights
    tracked every 5 steps end at step 295 of 300): a ValueError asks for ``step``.

    >>> import tempfile
    >>> from rnnlab.tracker import Tracker
    >>> lin, run = torch.nn.Linear(2, 1), tempfile.mkdtemp()
    >>> lin(torch.ones(1, 2)).sum().backward()
    >>> Tracker(run, lin).step()
    >>> weights_step(run, lin)  # (no update after step 0: the weights tracked there)
    0
    >>> _ = lin.weight.data.add_(1.0)
    >>> weights_step(run, lin)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: step: cannot tell at which optimizer step model's weights are ...
    """
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step: expected the optimizer step of model's weights, an integer >= 0, got {step!r}")
        return int(step)
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    records = run.read_metrics() if records is None else records
    if records:
        return _record_step(records[-1])
    tracked = read_tracked(run) if tracked is None else tracked
    params = dict(model.named_parameters())
    # (a whole-tensor norm the tracker records, l2 = sqrt of the sum of its channels' squared l2
    # norms, is the norm of the flattened tensor: the model's is comparable without its channels)
    norms = {(name, stat): series for name, stats in tracked.items() if name in params
             for stat, series in stats.items() if stat in NORMS and len(series.steps)}
    if norms:
        last = max(int(series.steps.max()) for series in norms.values())
        same = all(
            np.isclose(float(series.values[series.steps == last][-1]),
                       float(torch.linalg.vector_norm(params[name].detach().double(), ord=NORMS[stat])),
                       rtol=SAME_WEIGHTS_RTOL, atol=0.0)
            for (name, stat), series in norms.items() if (series.steps == last).any())
        if same:
            return last
        why = f"they differ from those tracked at its last weight step, {last}, so they were updated after it"
    else:
        why = "none of its weights were tracked"
    raise ValueError(
        f"step: cannot tell at which optimizer step model's weights are ({run.metrics.name} holds no epoch record "
        f"and {why}); pass step=, e.g. step=tracker.step_count after the loop (the steps it counted)")


def last_model(run_dir: str | os.PathLike[str] | RunDir) -> nn.Module | None:
    """The model of a run's last checkpoint (whose layers tell the gate layout), or None when the
    run has no ``config.toml`` or no ``last.pt``. Its shape is the one the checkpoint recorded
    when the run trained (:class:`rnnlab.train.run_fit.RunFit`), so ``data.path`` is not read and
    may have moved or changed since (a language model's vocabulary included); a run without that
    record (trained before it was kept) reads its training file again, and says in one line that
    it needs it when it is gone.

    >>> import tempfile
    >>> last_model(tempfile.mkdtemp()) is None  # nothing trained there
    True
    """
    from rnnlab.task import task_for
    from rnnlab.train.run_fit import model_of, run_fit
    from rnnlab.train.trainer import load_run_config

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    path = run.last_checkpoint
    if not (run.config.exists() and path.exists()):
        return None
    config = load_run_config(run.path)
    task = task_for(config)
    return model_of(run, config, task, run_fit(run, config, task, path, "splitting per gate"), path)


def _record_step(record: dict[str, Any]) -> int:
    """The optimizer step an epoch record ends at (its epoch, in records from before steps)."""
    return int(record.get("step", record["epoch"]))


def _metric_scalars(run: RunDir, records: list[dict[str, Any]]) -> list[Scalar]:
    """The epoch records (``metrics.jsonl``: losses, metrics, learning rate, gradient norm) as
    ``metrics/{name}`` at each epoch's last optimizer step, the x axis of the tracked statistics;
    the test split's figures (``summary.json``, evaluated once) as one point at the last."""
    out = [Scalar(f"metrics/{key}", _record_step(r), float(value))
           for r in records for key, value in r.items()
           if key not in ("epoch", "step", "time", *PARTIAL_KEYS)
           and isinstance(value, (int, float)) and not isinstance(value, bool)]
    test = ((run.read_summary() or {}).get("test") or {}) if records else {}
    at = _record_step(records[-1]) if records else 0
    return out + [Scalar(f"metrics/test_{key}", at, float(value)) for key, value in test.items()
                  if isinstance(value, (int, float)) and not isinstance(value, bool)]


def _summary_writer() -> type:
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(
            f"export_tensorboard needs the 'tensorboard' package, which is not installed "
            f"(it is the optional 'tensorboard' extra of rnnlab: {INSTALL_HINT})"
        ) from e
    return SummaryWriter


def export_tensorboard(
    run_dir: str | os.PathLike[str] | RunDir,
    log_dir: str | os.PathLike[str] | None = None,
    model: nn.Module | None = None,
    step: int | None = None,
) -> Path:
    """Write the run's tracked scalars and histograms as TensorBoard event files.

    ``log_dir`` defaults to ``RUN_DIR/tensorboard``, whose event files an earlier export wrote are
    replaced (a ``log_dir`` given gets one more event file, as a SummaryWriter adds). With ``model``, per-channel statistics of
    gate-stacked parameters are split per gate and every weight is added as a histogram at
    ``step`` (default the step they are at, :func:`weights_step`; in your own loop pass
    ``step=tracker.step_count``), a gated layer's per gate (histograms holding NaN/inf
    are skipped: TensorBoard cannot bin them). Returns
    the log directory (``tensorboard --logdir <it>``). Raises ImportError
    naming the ``tensorboard`` extra when the package is missing.
    """
    writer_cls = _summary_writer()
    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    out = Path(log_dir) if log_dir is not None else run.path / "tensorboard"
    scalars, hists = tensorboard_records(run, model=model, step=step)
    if log_dir is None and out.is_dir():
        # (the run's own export directory: an earlier export's points again would draw each twice)
        for old in out.glob("events.out.tfevents.*"):
            old.unlink()
    writer = writer_cls(log_dir=str(out))
    try:
        for s in scalars:
            writer.add_scalar(s.tag, s.value, s.step)
        for h in hists:
            if h.values.size and np.isfinite(h.values).all():
                writer.add_histogram(h.tag, h.values, h.step)
    finally:
        writer.close()
    return out
