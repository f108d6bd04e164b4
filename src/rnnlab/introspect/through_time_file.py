"""``RUN_DIR/grad_through_time.json``: the gradient through time of a trained model, stored by
the trainer for the report and the findings after training, read back by both. Nothing here draws:
storing it imports neither matplotlib nor the report (the trainer writes it before any figure).

The file may also hold a ``"before"`` block: the curve the health check measured on the untrained
model (``phase="before_training"``), with its own ``step`` (0) and the same module, layer and
direction keys. The health check judges the mean over channels, so that block's arrays are
``[T, 1]``. The trainer writes it first; the write after training keeps it. A file without the
block (older runs, the Lightning callback's) reads as before.

Each block may name the mode the model was measured in (``"mode"``: ``"eval"``, or ``"train"``,
where dropout and zoneout draw masks and batch norms use the batch's statistics); a block without
it (an older rnnlab's, or a writer that did not say) reads without one.

A module measured on sequences of different lengths also holds ``"held"``
(:attr:`rnnlab.introspect.GradThroughTime.held`: its rows count back from each sequence's end); a
module without it (equal lengths, or an older rnnlab's) reads with ``held`` None.

Each block may name the loss its curve follows when not the whole loss (``"loss"``:
:func:`rnnlab.doctor.run.following_through_time`'s, e.g. the loss through each sequence's last
step alone, under a head that pools over time); a block without it followed the loss the run's
config implies (older runs: the whole loss of a pooled head).

Example:
    >>> import tempfile, torch
    >>> from rnnlab.introspect import grad_through_time
    >>> g = grad_through_time(torch.nn.GRU(2, 3), torch.randn(4, 1, 2), lambda o: o[0][-1].sum())
    >>> run = tempfile.mkdtemp()
    >>> _ = write_grad_through_time(run, g, step=10, cropped=(4, 9))
    >>> read_grad_through_time(run)[1]
    {'step': 10, 'epoch': None, 'cropped': [4, 9]}
    >>> _ = write_grad_through_time(run, g, step=10, mode="train")
    >>> read_grad_through_time(run)[1]["mode"]
    'train'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab._checks import check_choice
from rnnlab.errors import RunDirError
from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.rundir import RunDir, atomic_write_json, read_json

#: The blocks of the file: the top level holds the curve after training, ``"before"`` the one
#: before it (named as the findings' phases are).
PHASES = ("after_training", "before_training")
#: The modes a curve may be measured in: ``model.eval()``'s, or ``model.train()``'s.
MODES = ("eval", "train")


def write_grad_through_time(
    run_dir: str | os.PathLike[str] | RunDir,
    gtt: Mapping[str, GradThroughTime],
    *,
    step: int | None = None,
    epoch: int | None = None,
    cropped: tuple[int, int] | None = None,
    phase: str = "after_training",
    loss: str | None = None,
    mode: str | None = None,
) -> Path:
    """Store the result of :func:`rnnlab.introspect.grad_through_time` in
    ``RUN_DIR/grad_through_time.json`` (atomically) for the report.
    ``cropped``: ``(steps, of)`` when it was measured on the first ``steps`` of ``of`` steps.
    ``loss``: which loss the curve follows when not the whole loss
    (:func:`rnnlab.doctor.run.following_through_time`), read back as the meta's ``"loss"``.
    ``mode``: the mode the model was in when measured, ``"eval"`` or ``"train"`` (``"train" if
    model.training else "eval"``), read back as the meta's ``"mode"`` and said by the report
    (None: not recorded, and the report says so).

    ``phase="after_training"`` (the default) replaces the curve after training and keeps the
    file's ``"before"`` block; ``phase="before_training"`` starts the file with that block alone
    (the health check runs when a run starts: any curve already there is an earlier run's).

    >>> import tempfile, torch
    >>> from rnnlab.introspect import grad_through_time
    >>> g = grad_through_time(torch.nn.GRU(2, 3), torch.randn(4, 1, 2), lambda o: o[0][-1].sum())
    >>> run = tempfile.mkdtemp()
    >>> _ = write_grad_through_time(run, g, step=0, epoch=0, phase="before_training")
    >>> _ = write_grad_through_time(run, g, step=10)
    >>> read_grad_through_time(run)[0][""].layers[(0, "forward")].shape
    (4, 3)
    >>> read_grad_through_time(run, phase="before_training")[1]
    {'step': 0, 'epoch': 0}
    """
    check_choice("phase", phase, PHASES)
    if mode is not None:
        check_choice("mode", mode, MODES)
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    block = {"step": step, "epoch": epoch, "modules": _modules(gtt),
             **({"cropped": list(cropped)} if cropped is not None else {}),
             **({"loss": loss} if loss is not None else {}),
             **({"mode": mode} if mode is not None else {})}
    path = rd.grad_through_time
    if phase == "before_training":
        atomic_write_json(path, {"before": block})
        return path
    before = None
    if path.exists():
        try:
            data = read_json(path)
        except RunDirError:  # (unreadable: replaced as a whole, as it always was)
            data = None
        before = data.get("before") if isinstance(data, dict) else None
    atomic_write_json(path, {**block, **({"before": before} if before is not None else {})})
    return path


def _modules(gtt: Mapping[str, GradThroughTime]) -> list[dict[str, Any]]:
    modules = []
    for key, g in gtt.items():
        if not isinstance(g, GradThroughTime):
            raise TypeError(f"gtt[{key!r}]: expected a GradThroughTime, got {type(g).__name__}")
        modules.append({
            "key": key, "module": g.module, "kind": g.kind, "num_layers": g.num_layers,
            "directions": list(g.directions),
            "layers": [{"layer": k, "direction": d, "grad": np.asarray(a).tolist()}
                       for (k, d), a in g.layers.items()],
            **({"held": np.asarray(g.held).tolist()} if g.held is not None else {}),
        })
    return modules


def read_grad_through_time(
    run_dir: str | os.PathLike[str] | RunDir, *, phase: str = "after_training",
) -> tuple[dict[str, GradThroughTime], dict[str, Any]]:
    """``({key: GradThroughTime}, {"step": ..., "epoch": ...})`` from ``RUN_DIR`` (and ``"cropped":
    [steps, of]`` when measured on the first steps of the series, ``"loss"`` when the block names
    the loss it follows, ``"mode"`` when it names the mode measured in); empty when the run
    recorded none.
    ``phase="before_training"``: the health check's curve of the untrained model (``[T, 1]``
    arrays), empty for a file without it.

    >>> import tempfile
    >>> read_grad_through_time(tempfile.mkdtemp(), phase="before_training")
    ({}, {})
    """
    check_choice("phase", phase, PHASES)
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    path = rd.grad_through_time
    if not path.exists():
        return {}, {}
    data = read_json(path)
    if phase == "before_training":
        data = data.get("before") if isinstance(data, dict) else None
        if not isinstance(data, dict):
            return {}, {}
    out = {}
    for m in data.get("modules", []):
        layers = {(int(e["layer"]), str(e["direction"])): np.asarray(e["grad"], dtype=np.float64)
                  for e in m["layers"]}
        out[str(m["key"])] = GradThroughTime(
            module=str(m["module"]), kind=m.get("kind"), num_layers=int(m["num_layers"]),
            directions=tuple(m["directions"]), layers=layers,
            held=np.asarray(m["held"], dtype=np.int64) if m.get("held") is not None else None,
        )
    meta = {"step": data.get("step"), "epoch": data.get("epoch")}
    if data.get("cropped") is not None:
        meta["cropped"] = data["cropped"]
    if isinstance(data.get("loss"), str):
        meta["loss"] = data["loss"]
    if data.get("mode") in MODES:
        meta["mode"] = data["mode"]
    return out, meta


__all__ = ["MODES", "PHASES", "read_grad_through_time", "write_grad_through_time"]
