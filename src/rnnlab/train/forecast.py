"""The forecast after a series' end, from a trained forecasting run (``rnnlab predict RUN_DIR``,
or ``rnnlab predict RUN_DIR --data FILE`` for a series of the run's columns that goes on further).

The run's model (its best checkpoint when early stopping kept one, else its last, as
:func:`rnnlab.train.predict.run_model` restores it) reads each
series whole, from its first step to its last, with the scaling fitted on the run's training
block (never on the series it forecasts from: a FILE's own statistics would rescale what the
model learned); its output at the last step, plus the reference forecast it learned corrections to
(``[task] relative_to``), is the next ``horizon`` values of every channel, brought back to the
data's units. The scaling and the reference are those the run recorded in its checkpoint when
it trained (:class:`ForecastFit`), not fitted again from ``data.path``, which may have grown or
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

import csv
import hashlib
import io
import os
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.data.normalize import ChannelStats
from rnnlab.errors import CheckpointError, DataError, RunDirError
from rnnlab.rundir import FORECAST, RunDir, atomic_write_text
from rnnlab.task import Task

if typing.TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.data import DataSplits, Fold
    from rnnlab.data.stream import Series

#: The checkpoint's key for what a forecasting run fitted on its training block (:class:`ForecastFit`).
FIT_KEY = "forecast_fit"
_REFERENCES = ("none", "naive", "seasonal_naive")


@dataclass(frozen=True, eq=False)
class ForecastFit:
    """What a forecasting run fitted on its training block, kept in its checkpoints (``FIT_KEY``)
    so that its forecasts later scale and refer as it trained, whatever ``data.path`` holds by
    then: the channels' ``stats``, the ``reference`` forecast (``relative_to = "auto"``
    resolved), each series' training-block length ``train_steps`` and the SHA-256 of those steps
    (float64), which tells whether ``data.path`` still begins with them.

    >>> x = np.array([[1.0], [3.0], [5.0], [7.0]])
    >>> fit = ForecastFit.of([x], [2], ChannelStats.fit(x[None, :2], np.array([2])), "naive")
    >>> fit.stats.mean.tolist(), fit.changed_in([x]), fit.changed_in([x * 10])
    ([2.0], None, 'series 0 differs in its first 2 steps')
    >>> back = ForecastFit.from_state(fit.state(), "last.pt")  # as a checkpoint keeps it
    >>> back.stats.std.tolist(), back.reference, back.train_steps, back.train_sha256 == fit.train_sha256
    ([1.0], 'naive', (2,), True)
    """

    stats: ChannelStats
    reference: str
    train_steps: tuple[int, ...]
    train_sha256: str

    @classmethod
    def of(cls, values: list[np.ndarray], train_steps: list[int], stats: ChannelStats, reference: str) -> ForecastFit:
        """The record of a run whose series are ``values`` (each [L, C]) and training blocks their
        first ``train_steps``."""
        return cls(stats, reference, tuple(int(n) for n in train_steps), _digest(values, train_steps))

    def state(self) -> dict[str, Any]:
        """As a checkpoint holds it: tensors, numbers and strings only (``weights_only=True``)."""
        return {"mean": torch.from_numpy(np.asarray(self.stats.mean, dtype=np.float64).copy()),
                "std": torch.from_numpy(np.asarray(self.stats.std, dtype=np.float64).copy()),
                "reference": self.reference, "train_steps": list(self.train_steps),
                "train_sha256": self.train_sha256}

    @classmethod
    def from_state(cls, state: Any, path: str | os.PathLike[str]) -> ForecastFit:
        """Read :meth:`state` back from the checkpoint at ``path``, checked: anything else is a
        one-line :class:`CheckpointError` naming the file and the key."""
        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"checkpoint {path}: '{FIT_KEY}': expected {what}")

        if not isinstance(state, dict):
            raise bad(f"a dict of the run's scaling and reference, got {type(state).__name__}")
        mean, std = state.get("mean"), state.get("std")
        if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and mean.dtype == std.dtype
                == torch.float64 and mean.ndim == 1 and mean.shape == std.shape and len(mean)):
            raise bad("'mean' and 'std' as float64 tensors of one value per channel")
        m, sd = mean.numpy().copy(), std.numpy().copy()
        if not (np.isfinite(m).all() and np.isfinite(sd).all() and (sd > 0).all()):
            raise bad(f"finite means and positive stds, got mean {m.tolist()[:4]}, std {sd.tolist()[:4]}")
        if state.get("reference") not in _REFERENCES:
            raise bad(f"'reference' one of {list(_REFERENCES)}, got {state.get('reference')!r:.40}")
        steps = state.get("train_steps")
        if not isinstance(steps, list) or not steps or not all(type(n) is int and n > 0 for n in steps):
            raise bad(f"'train_steps' a list of positive step counts, got {steps!r:.60}")
        digest = state.get("train_sha256")
        if not (isinstance(digest, str) and len(digest) == 64):
            raise bad(f"'train_sha256' a SHA-256 hex digest, got {digest!r:.70}")
        return cls(ChannelStats(m, sd), state["reference"], tuple(steps), digest)

    def changed_in(self, values: list[np.ndarray]) -> str | None:
        """How the series ``values`` differ from the run's in its training blocks, or None when
        they begin with them (steps after the training block may differ or be added)."""
        if len(values) != len(self.train_steps):
            return f"it holds {len(values)} series, the run trained on {len(self.train_steps)}"
        for i, (x, n) in enumerate(zip(values, self.train_steps, strict=True)):
            if len(x) < n:
                return f"series {i} has {len(x)} steps, fewer than the {n} of the run's training block"
        if _digest(values, list(self.train_steps)) == self.train_sha256:
            return None
        if len(values) == 1:
            return f"series 0 differs in its first {self.train_steps[0]} steps"
        return f"its series differ in their first {', '.join(map(str, self.train_steps))} steps"

    def applied_to(self, data: DataSplits) -> DataSplits:
        """``data`` (fitted again from the run's file) with this record's scaling and reference."""
        from rnnlab.data import InputScaling

        return replace(data, stats=self.stats, inputs=InputScaling(data.inputs.normalize, self.stats),
                       reference=self.reference)


def _digest(values: list[np.ndarray], train_steps: list[int]) -> str:
    h = hashlib.sha256()
    for x, n in zip(values, train_steps, strict=True):
        part = np.ascontiguousarray(x[:n], dtype=np.float64)
        h.update(f"{part.shape}".encode())
        h.update(part.tobytes())
    return h.hexdigest()


def fit_record(config: Config, fold: Fold | None, data: DataSplits) -> dict[str, Any]:
    """The :class:`ForecastFit` state a forecasting run's checkpoints keep (``FIT_KEY``): the
    scaling and reference of ``data`` (:func:`rnnlab.data.stream.load_stream`'s, on ``fold``'s
    training block or the run's) and the digest of that block of ``config.data``'s series.

    >>> from rnnlab.config import parse_config
    >>> from rnnlab.data import load_data
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\nseason = 12\\nrelative_to = "auto"\\n[data]\\ndataset = "Airline"\\nbptt = 24')
    >>> kept = fit_record(cfg, None, load_data(cfg.data, seed=0, task=task_for(cfg)))
    >>> kept["reference"], kept["train_steps"], [round(v) for v in kept["mean"].tolist()]
    ('seasonal_naive', [92], [210])
    """
    from rnnlab.data.stream import read_series, split_bounds

    values = read_series(config.data).values
    steps = [split_bounds(len(x), config.data, fold).train for x in values]
    return ForecastFit.of(values, steps, data.stats, data.reference).state()


def run_forecaster(run: RunDir, config: Config, task: Task) -> tuple[DataSplits, torch.nn.Module, ForecastFit | None]:
    """:func:`rnnlab.train.predict.run_model` for a forecasting run, with the scaling and the
    reference its checkpoint (:func:`rnnlab.train.predict.evaluated_checkpoint`) recorded when it
    trained, and that record (None: a run from before it was kept, its scaling fitted again).

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"')
    >>> run_forecaster(RunDir(tempfile.mkdtemp()), cfg, task_for(cfg))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...: no checkpoint to predict with (expected ...last.pt); train the run first
    """
    from rnnlab.train.checkpoint import load_checkpoint
    from rnnlab.train.predict import evaluated_checkpoint, run_model

    path = evaluated_checkpoint(run, config)
    data, model = run_model(run, config, task)
    state = load_checkpoint(path)  # (again: model_from_checkpoint reads the weights alone)
    if FIT_KEY not in state:
        return data, model, None
    fit = ForecastFit.from_state(state[FIT_KEY], path)
    if len(fit.stats.mean) != data.channels:
        raise CheckpointError(f"checkpoint {path}: '{FIT_KEY}': expected the scaling of the model's "
                              f"{data.channels} channel(s), got {len(fit.stats.mean)}")
    return fit.applied_to(data), model, fit


def run_series(config: Config, fit: ForecastFit | None) -> Series:
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
    of each series of a forecasting run, in the data's units (``step``: the position after the
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
    loaded, model, fit = run_forecaster(run, config, task)  # the run's recorded scaling; its guard's choice
    # (a FILE is a series of its own: only data.path is held to the run's training block)
    series = run_series(config, fit) if data is None else read_new_stream(data, config, loaded.columns)
    need, why = warmup_steps(config, loaded.reference)
    where = "data.path" if data is None else f"--data ({data})"
    rows = []
    for i, x in enumerate(series.values):
        if len(x) < need:  # (the run's own series is longer: its training part holds a window and more)
            which = f" (series {i})" if len(series.values) > 1 else ""
            raise DataError(f"{where}{which}: expected at least {need} steps to warm the model's state up on "
                            f"({why}), got {len(x)}")
        values = next_values(model, x, loaded.stats, loaded.reference, task)
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
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    target = Path(out) if out is not None else Path(run_dir) / FORECAST
    atomic_write_text(target, buf.getvalue())
    return target
