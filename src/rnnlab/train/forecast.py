"""The forecast after a series' end, from a trained forecasting run (``rnnlab predict RUN_DIR``).

The run's model (its best checkpoint when early stopping kept one, else its last) reads each
series whole, from its first step to its last, with the scaling fitted on the run's training
block; its output at the last step, plus the reference forecast it learned corrections to
(``[task] relative_to``), is the next ``horizon`` values of every channel, brought back to the
data's units.

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.train.trainer import train
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\nhorizon = 3\\nseason = 12\\n[data]\\ndataset = "Airline"\\n'
    ...                    'bptt = 24\\n[model]\\nhidden_size = 4\\n[training]\\nepochs = 1\\n[tracking]\\nenabled = false')
    >>> run = train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir
    >>> rows = forecast_rows(run)
    >>> len(rows), [r[:3] for r in rows], all(v > 0 for r in rows for v in r[3:])  # 3 months after 144
    (3, [('Airline', 0, 144), ('Airline', 0, 145), ('Airline', 0, 146)], True)
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import RunDirError
from rnnlab.rundir import RunDir, atomic_write_text


def forecast_rows(run_dir: str | os.PathLike[str]) -> list[tuple]:
    """``(series, series index, step, value per channel...)`` rows of the forecast after the end
    of each series of a forecasting run, in the data's units (``step``: the position after the
    series' last step, 0-based, so a series of L steps is followed by steps L, L + 1, ...)."""
    from rnnlab.data.stream import read_series, simple_forecast
    from rnnlab.task import task_for
    from rnnlab.train.checkpoint import load_checkpoint
    from rnnlab.train.model import build_model
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind != "forecasting":
        raise RunDirError(f"{run.path}: a {task.name} run has no forecast; rnnlab predict reads forecasting runs "
                          "([task] kind = \"forecasting\")")
    use_best = config.training.early_stopping.patience > 0 and run.best_checkpoint.exists()
    path = run.best_checkpoint if use_best else run.last_checkpoint
    if not path.exists():
        raise RunDirError(f"{run.path}: no checkpoint to forecast with (expected {path}); train the run first")
    from rnnlab.data import load_data

    data = load_data(config.data, seed=config.training.seed, task=task)  # the run's scaling, fitted again
    model = build_model(config.model, data.channels, task.head_width(data.classes, data.train.y), task.per_step)
    model.load_state_dict(load_checkpoint(path)["model"])
    model.eval()
    series = read_series(config.data)
    stats, h = data.stats, task.horizon
    mean, std = np.tile(stats.mean, h), np.tile(stats.std, h)
    rows = []
    with torch.no_grad():
        for i, x in enumerate(series.values):
            scaled = ((x - stats.mean) / stats.std)[None]
            out, _ = model(torch.from_numpy(scaled.astype(np.float32)))
            last = out[0, -1].double().numpy() + simple_forecast(scaled, data.reference, h, task.season)[0, -1]
            values = (last * std + mean).reshape(h, -1)
            rows += [(series.name, i, len(x) + k, *map(float, values[k])) for k in range(h)]
    return rows


def write_forecast(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write :func:`forecast_rows` as CSV (header ``series,index,step,<channels>``) to ``out``
    (default ``RUN_DIR/forecast.csv``), atomically; returns the path."""
    from rnnlab.data.stream import read_series
    from rnnlab.train.trainer import load_run_config

    rows = forecast_rows(run_dir)
    columns = read_series(load_run_config(run_dir).data).columns
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["series", "index", "step", *columns])
    writer.writerows(rows)
    target = Path(out) if out is not None else Path(run_dir) / "forecast.csv"
    atomic_write_text(target, buf.getvalue())
    return target
