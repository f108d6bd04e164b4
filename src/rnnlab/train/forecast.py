"""The forecast after a series' end, from a trained forecasting run (``rnnlab predict RUN_DIR``,
or ``rnnlab predict RUN_DIR --data FILE`` for a series of the run's columns that goes on further).

The run's model (its best checkpoint when early stopping kept one, else its last, as
:func:`rnnlab.train.run_fit.run_model` restores it) reads each
series whole, from its first step to its last, with the scaling fitted on the run's training
block (never on the series it forecasts from: a FILE's own statistics would rescale what the
model learned); its output at the last step, plus the reference forecast it learned corrections to
(``[task] relative_to``), is the next ``horizon`` values of every channel, brought back to the
data's units. The scaling and the reference are those the run recorded in its checkpoint when
it trained (:class:`rnnlab.train.run_fit.RunFit`), not fitted again from ``data.path``, which may have grown or
changed since; a ``data.path`` whose training block no longer is the run's is forecast from with
a one-line warning. (A run trained before the record existed fits them again, as it always did.) The series of ``data.path`` and a FILE take the same way
(:func:`forecast_table`): a FILE with k more steps than the run's series is forecast k steps
later, with the dates after its own end.

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

import os
import typing
import warnings
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.normalize import ChannelStats
from rnnlab.errors import DataError, RunDirError
from rnnlab.rundir import FORECAST, RunDir, atomic_write_text
from rnnlab.shellcmd import shell_command
from rnnlab.tables import csv_text
from rnnlab.task import Task

if typing.TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.data.stream import Series
    from rnnlab.train.run_fit import StreamFit

def run_series(config: Config, fit: StreamFit | None) -> Series:
    """The series of the run's ``data.path`` (or bundled ``data.dataset``), with a one-line
    warning when its training blocks are no longer those ``fit`` was made on (its forecasts then
    still scale and refer as the run trained).

    >>> from rnnlab.config import parse_config
    >>> run_series(parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"'), None).values[0].shape
    (144, 1)
    """
    from rnnlab.data.stream import read_series, warn_once

    series = read_series(config.data)
    change = None if fit is None else fit.changed_in(series.values)
    if fit is not None and change is not None:
        warn_once(f"data.path ({series.name}) no longer holds the series the run trained on ({change}): forecasting "
                  f"from it with the run's recorded scaling and {fit.reference} reference; to forecast after a new "
                  "series, pass it as --data FILE and restore the run's file")
    return series


def forecast_rows(run_dir: str | os.PathLike[str], data: str | os.PathLike[str] | None = None) -> list[tuple]:
    """``(series, series index, step, value per channel...)`` rows of the forecast after the end
    of each series of a forecasting run, in the data's units (``series``: a bundled series' name,
    the file name of ``data.path`` or ``data`` as given; ``step``: the position after the
    series' last step, 0-based, so a series of L steps is followed by steps L, L + 1, ...);
    ``data``: a file of series of the run's columns to forecast after instead of the run's own
    (:func:`rnnlab.train.predict.read_new_stream`)."""
    return _forecast(run_dir, data)[0]


def warmup_steps(config: Config, reference: str) -> tuple[int, str]:
    """The fewest steps a series needs before its forecast, and why: ``data.bptt`` (the model
    learned from windows that long, the first from a fresh state) and, with the seasonal-naive
    ``reference``, a whole season (``task.season``) for it to repeat.

    >>> from rnnlab.config import parse_config
    >>> warmup_steps(parse_config('[task]\\nkind = "forecasting"\\nseason = 36\\n[data]\\ndataset = "Airline"\\nbptt = 24'),
    ...              "seasonal_naive")
    (36, 'data.bptt = 24, the window the model learned from; task.season = 36 for the seasonal-naive forecast it corrects')
    """
    bptt = config.data.bptt
    why = f"data.bptt = {bptt}, the window the model learned from"
    if reference != "seasonal_naive":
        return bptt, why
    season = config.task.season
    return max(bptt, season), f"{why}; task.season = {season} for the seasonal-naive forecast it corrects"


def _forecast(run_dir: str | os.PathLike[str], data: str | os.PathLike[str] | None = None
              ) -> tuple[list[tuple], Series]:
    """:func:`forecast_rows` and the series they follow, read once."""
    from rnnlab.task import task_for
    from rnnlab.train.predict import read_new_stream
    from rnnlab.train.run_fit import fitted_model, run_model
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind == "language_model":
        raise RunDirError(f"{run.path}: a language_model run has no forecast; {shell_command('rnnlab', 'sample', run.path)} writes text "
                          "from it")
    if task.kind != "forecasting":
        raise RunDirError(f"{run.path}: a {task.name} run has no forecast; pass --data FILE to predict the "
                          f"{'values' if task.values else 'labels'} of the series in FILE "
                          f"({shell_command('rnnlab', 'predict', run.path, '--data', 'FILE')})")
    if data is None:
        loaded, model, fit = run_model(run, config, task)  # the run's recorded scaling; its guard's choice
    elif (kept := fitted_model(run, config, task)).fit.stream is not None and kept.fit.stream.columns is not None:
        # (FILE read with what the checkpoint recorded, its scaling, reference and column names: data.path
        # is not read, and may be gone, as on another machine)
        model, fit = kept.model, kept.fit
        stats, reference, columns = fit.inputs.stats, fit.stream.reference, list(fit.stream.columns)
    else:
        gone = config.data.path is not None and not Path(config.data.path).exists()
        if gone:
            raise RunDirError(f"{run.path}: its checkpoint {kept.checkpoint.name} keeps no record of its series' column "
                              "names (a run trained before checkpoints kept them), so reading --data needs its training "
                              f"file at data.path ({config.data.path}), which does not exist: restore it there, or "
                              "train the run again")
        # run_model reads the run's own file again for its scaling: a note of that file (a gap in its
        # dates) is no news of FILE, whose own notes read_new_stream says, naming --data.
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            loaded, model, fit = run_model(run, config, task)
        own = None if config.data.path is None else Path(config.data.path).resolve()
        for w in said:
            if own is None or Path(str(w.message).split(": ", 1)[0]).resolve() != own:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if data is None or fit.stream is None or fit.stream.columns is None:
        stats, reference, columns = loaded.stats, loaded.reference, loaded.columns
    if not run.summary.exists():  # (as a classification run's predictions say it: TrainedRun)
        from rnnlab.train.predict import unfinished_line
        from rnnlab.train.run_fit import evaluated_checkpoint

        warnings.warn(unfinished_line(run, config, evaluated_checkpoint(run, config, say=False)), UserWarning,
                      stacklevel=3)
    # (a FILE is a series of its own: only data.path is held to the run's training block)
    series = run_series(config, fit.stream) if data is None else read_new_stream(data, config, columns)
    need, why = warmup_steps(config, reference)
    where = "data.path" if data is None else f"--data ({data})"
    # (the run records data.path made absolute: the file's name, as the config gave it, not where it
    # lay on one machine; a FILE as given on the command line)
    label = Path(series.name).name if data is None and config.data.path is not None else series.name
    rows = []
    for i, x in enumerate(series.values):
        if len(x) < need:  # (the run's own series is longer: its training part holds a window and more)
            which = f" (series {i})" if len(series.values) > 1 else ""
            raise DataError(f"{where}{which}: expected at least {need} steps to warm the model's state up on "
                            f"({why}), got {len(x)}")
        values = next_values(model, x, stats, reference, task)
        rows += [(label, i, len(x) + k, *map(float, values[k])) for k in range(task.horizon)]
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
    return origin_forecasts(model, x, stats, reference, task)[-1]


def origin_forecasts(model: torch.nn.Module, x: np.ndarray, stats: ChannelStats, reference: str,
                     task: Task) -> np.ndarray:
    """The forecast of the ``task.horizon`` values after every step of the series ``x`` [L, C]
    (data's units), as [L, horizon, C]: row ``t`` is what
    :func:`next_values` forecasts after ``x[: t + 1]``, from one pass of
    the model over ``x`` (it reads the series forward: its output at ``t`` sees no later step).

    >>> from dataclasses import replace
    >>> from rnnlab.data.normalize import ChannelStats
    >>> from rnnlab.task import FORECASTING
    >>> class Zeros(torch.nn.Module):  # no correction: the reference (naive) forecast itself
    ...     def forward(self, x): return torch.zeros(*x.shape[:2], 2), None
    >>> out = origin_forecasts(Zeros(), np.array([[1.0], [2.0], [5.0]]), ChannelStats.identity(1), "naive",
    ...                        replace(FORECASTING, horizon=2))
    >>> out[:, :, 0].tolist()
    [[1.0, 1.0], [2.0, 2.0], [5.0, 5.0]]
    """
    from rnnlab.data.stream import simple_forecast

    h = task.horizon
    scaled = ((x - stats.mean) / stats.std)[None]
    with torch.no_grad():
        out, _ = model(torch.from_numpy(scaled.astype(np.float32)))
    every = out[0].double().numpy() + simple_forecast(scaled, reference, h, task.season)[0]
    return (every * np.tile(stats.std, h) + np.tile(stats.mean, h)).reshape(len(x), h, -1)


def forecast_table(run_dir: str | os.PathLike[str], data: str | os.PathLike[str] | None = None
                   ) -> tuple[list[str], list[tuple]]:
    """The header ``series,index,step,<channels>`` and the rows of :func:`forecast_rows` (``data``
    as there). When the series' ``.csv`` has a column of dates at a fixed step, the dates the
    forecast is for join the rows after ``step``, under that column's name
    (:mod:`rnnlab.data.stamps`)."""
    from rnnlab.data.stamps import following

    rows, series = _forecast(run_dir, data)
    dates = None if series.stamps is None else following(series.stamps[1], len(rows))  # one series
    if dates is None:
        return ["series", "index", "step", *series.columns], rows
    return (["series", "index", "step", series.stamps[0], *series.columns],  # type: ignore[index]
            [(*row[:3], when, *row[3:]) for row, when in zip(rows, dates, strict=True)])


def write_forecast(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Write :func:`forecast_table` of the run's own series as CSV to ``out`` (default
    ``RUN_DIR/forecast.csv``), atomically; returns the path (``rnnlab predict RUN --data FILE``:
    :func:`rnnlab.train.predict.write_predictions`)."""
    header, rows = forecast_table(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / FORECAST
    atomic_write_text(target, csv_text(header, rows))
    return target
