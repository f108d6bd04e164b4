"""``RUN_DIR/grad_through_time.json``: the gradient through time of a trained model, stored by
the trainer for the report and the findings after training, read back by both. Nothing here draws:
storing it imports neither matplotlib nor the report (the trainer writes it before any figure).

Example:
    >>> import tempfile, torch
    >>> from rnnlab.introspect import grad_through_time
    >>> g = grad_through_time(torch.nn.GRU(2, 3), torch.randn(4, 1, 2), lambda o: o[0][-1].sum())
    >>> run = tempfile.mkdtemp()
    >>> _ = write_grad_through_time(run, g, step=10, cropped=(4, 9))
    >>> read_grad_through_time(run)[1]
    {'step': 10, 'epoch': None, 'cropped': [4, 9]}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.introspect.through_time import GradThroughTime
from rnnlab.rundir import RunDir, atomic_write_json, read_json


def write_grad_through_time(
    run_dir: str | os.PathLike[str] | RunDir,
    gtt: Mapping[str, GradThroughTime],
    *,
    step: int | None = None,
    epoch: int | None = None,
    cropped: tuple[int, int] | None = None,
) -> Path:
    """Store the result of :func:`rnnlab.introspect.grad_through_time` in
    ``RUN_DIR/grad_through_time.json`` (atomically, replacing an older one) for the report.
    ``cropped``: ``(steps, of)`` when it was measured on the first ``steps`` of ``of`` steps.

    >>> import tempfile, torch
    >>> from rnnlab.introspect import grad_through_time
    >>> g = grad_through_time(torch.nn.GRU(2, 3), torch.randn(4, 1, 2), lambda o: o[0][-1].sum())
    >>> run = tempfile.mkdtemp()
    >>> _ = write_grad_through_time(run, g, step=10)
    >>> read_grad_through_time(run)[0][""].layers[(0, "forward")].shape
    (4, 3)
    """
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    modules = []
    for key, g in gtt.items():
        if not isinstance(g, GradThroughTime):
            raise TypeError(f"gtt[{key!r}]: expected a GradThroughTime, got {type(g).__name__}")
        modules.append({
            "key": key, "module": g.module, "kind": g.kind, "num_layers": g.num_layers,
            "directions": list(g.directions),
            "layers": [{"layer": k, "direction": d, "grad": np.asarray(a).tolist()}
                       for (k, d), a in g.layers.items()],
        })
    path = rd.grad_through_time
    atomic_write_json(path, {"step": step, "epoch": epoch, "modules": modules,
                             **({"cropped": list(cropped)} if cropped is not None else {})})
    return path


def read_grad_through_time(
    run_dir: str | os.PathLike[str] | RunDir,
) -> tuple[dict[str, GradThroughTime], dict[str, Any]]:
    """``({key: GradThroughTime}, {"step": ..., "epoch": ...})`` from ``RUN_DIR`` (and ``"cropped":
    [steps, of]`` when measured on the first steps of the series); empty when the run recorded none."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    path = rd.grad_through_time
    if not path.exists():
        return {}, {}
    data = read_json(path)
    out = {}
    for m in data.get("modules", []):
        layers = {(int(e["layer"]), str(e["direction"])): np.asarray(e["grad"], dtype=np.float64)
                  for e in m["layers"]}
        out[str(m["key"])] = GradThroughTime(
            module=str(m["module"]), kind=m.get("kind"), num_layers=int(m["num_layers"]),
            directions=tuple(m["directions"]), layers=layers,
        )
    meta = {"step": data.get("step"), "epoch": data.get("epoch")}
    if data.get("cropped") is not None:
        meta["cropped"] = data["cropped"]
    return out, meta


__all__ = ["read_grad_through_time", "write_grad_through_time"]
