"""The forecast after a series' end, from a trained forecasting run (``rnnlab predict RUN_DIR``).

The run's model (its best checkpoint when early stopping kept one, else its last, as
:func:`rnnlab.train.predict.run_model` restores it) reads each
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
import typing
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.normalize import ChannelStats
from rnnlab.errors import RunDirError
from rnnlab.rundir import RunDir, atomic_write_text
from rnnlab.task import Task

if typing.TYPE_CHECKING:
    from rnnlab.data.stream import Series


def forecast_rows(run_dir: str | os.PathLike[str]) -> list[tuple]:
    """``(series, series index, step, value per channel...)`` rows of the forecast after the end
    of each series of a forecasting run, in the data's units (``step``: the position after the
    series' last step, 0-based, so a series of L steps is followed by steps L, L + 1, ...)."""
    return _forecast(run_dir)[0]


def _forecast(run_dir: str | os.PathLike[str]) -> tuple[list[tuple], Series]:
    """:func:`forecast_rows` and the series they follow, read once."""
    from rnnlab.data.stream import read_series
    from rnnlab.task import task_for
    from rnnlab.train.predict import run_model
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind == "language_model":
        raise RunDirError(f"{run.path}: a language_model run has no forecast; rnnlab sample {run.path} writes text "
                          "from it")
    if task.kind != "forecasting":
        raise RunDirError(f"{run.path}: a {task.name} run has no forecast; pass --data FILE to predict the "
                          f"{'values' if task.values else 'labels'} of the series in FILE "
                          f"(rnnlab predict {run.path} --data FILE)")
    data, model = run_model(run, config, task)  # the run's scaling fitted again; its guard's choice
    series = read_series(config.data)
    rows = []
    for i, x in enumerate(series.values):
        values = next_values(model, x, data.stats, data.reference, task)
        rows += [(series.name, i, len(x) + k, *map(float, values[k])) for k in range(task.horizon)]
    return rows, series


def next_values(model: torch.nn.Module, x: np.ndarray, stats: ChannelStats, reference: str, task: Task) -> np.ndarray:
    """The ``task.horizon`` values of every channel after the series ``x`` [L, C] (data's units),
    as [horizon, C]: the model (in eval mode) reads ``x`` scaled by ``stats`` (the run's training
    block's); its output at the last step is added to the ``reference`` forecast it learned
    corrections to. :func:`forecast_rows` and :class:`rnnlab.estimators.RNNForecaster` forecast
    with it.

    >>> from rnnlab.data.normalize import ChannelStats
    >>> from dataclasses import replace
    >>> from rnnlab.task import FORECASTING
    >>> class Zeros(torch.nn.Module):  # outputs no correction: the reference forecast itself
    ...     def forward(self, x): return torch.zeros(*x.shape[:2], 2), None
    >>> # the naive forecast: the last value, 5, for both steps ahead
    >>> task = replace(FORECASTING, horizon=2)
    >>> next_values(Zeros(), np.array([[1.0], [2.0], [5.0]]), ChannelStats.identity(1), "naive", task).tolist()
    [[5.0], [5.0]]
    """
    from rnnlab.data.stream import simple_forecast

    h = task.horizon
    scaled = ((x - stats.mean) / stats.std)[None]
    with torch.no_grad():
        out, _ = model(torch.from_numpy(scaled.astype(np.float32)))
    last = out[0, -1].double().numpy() + simple_forecast(scaled, reference, h, task.season)[0, -1]
    return (last * np.tile(stats.std, h) + np.tile(stats.mean, h)).reshape(h, -1)


def write_forecast(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write :func:`forecast_rows` as CSV (header ``series,index,step,<channels>``) to ``out``
    (default ``RUN_DIR/forecast.csv``), atomically; returns the path. When the series' ``.csv``
    has a column of dates at a fixed step, the dates the forecast is for join the rows after
    ``step``, under that column's name (:mod:`rnnlab.data.stamps`)."""
    from rnnlab.data.stamps import following

    rows, series = _forecast(run_dir)
    dates = None if series.stamps is None else following(series.stamps[1], len(rows))  # one series
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if dates is None:
        writer.writerow(["series", "index", "step", *series.columns])
        writer.writerows(rows)
    else:
        writer.writerow(["series", "index", "step", series.stamps[0], *series.columns])  # type: ignore[index]
        writer.writerows((*row[:3], when, *row[3:]) for row, when in zip(rows, dates, strict=True))
    target = Path(out) if out is not None else Path(run_dir) / "forecast.csv"
    atomic_write_text(target, buf.getvalue())
    return target
