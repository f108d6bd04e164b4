"""Predictions for new series from a trained run (``rnnlab predict RUN_DIR --data FILE``):
a label and each class's probability per series (classification), values per series
(regression), the same at every valid step (per-step runs), or a forecasting run's forecast
after the end of FILE's series (:func:`read_new_stream`, :func:`rnnlab.train.forecast.forecast_table`).

FILE is read as the run reads ``data.path`` (an ``.npz`` with X [N, T, C] and optional lengths
[N], its y ignored if present; a ``.csv`` of univariate rows, whose label column or each of its
target columns, when there, is left out whatever its cells hold, the others being steps;
per-step runs: ``.npz`` only); a regression run's targets are named as :func:`target_names`
says. The series are scaled by the run's input scaling, as the run fitted it on its training
part and recorded it in its checkpoints with its classes, its targets' standardization, its
model's shape and its training series' shortest and longest length and count (new series shorter
than every one are said: :func:`rnnlab.data.normalize.short_series_note`)
(:class:`rnnlab.train.run_fit.RunFit`): ``data.path`` is not read (but for an ``.npz``'s
``target_names``, while it is there), and may have moved or changed since (a run trained before the
record existed fits them again from ``data.path``, as it always did). They go through the
trainer's own evaluation loop (:func:`rnnlab.train.trainer.split_outputs`, batch by batch, in
eval mode) with the model the run evaluated: its best checkpoint when early stopping kept one, else
its last, predicting the training mean where the run's mean guard chose it
(``summary.json``'s ``mean_guard``). Values come back in the data's units. From Python,
:func:`load_run` (``rnnlab.load_run``) predicts arrays by the same code (:class:`TrainedRun`).

Example:
    >>> import tempfile, os, numpy as np
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.train.trainer import train
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nhidden_size = 4\\n[training]\\nepochs = 1\\n'
    ...                    '[tracking]\\nenabled = false')
    >>> run = train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir
    >>> new = os.path.join(tempfile.mkdtemp(), "new.npz")
    >>> np.savez(new, X=np.zeros((3, 24, 1)))
    >>> header, rows = prediction_rows(run, new)
    >>> header, len(rows), rows[0][1] in ("1", "2")
    (['series', 'label', '1', '2'], 3, True)
"""

from __future__ import annotations

import csv
import functools
import os
import typing
import warnings
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import DataError, RunDirError
from rnnlab.rundir import PREDICTIONS, RunDir, atomic_write_text
from rnnlab.shellcmd import shell_command
from rnnlab.tables import csv_text

if typing.TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.data import InputScaling
    from rnnlab.data.normalize import TrainLengths
    from rnnlab.data.stream import Series
    from rnnlab.task import TargetScale, Task
    from rnnlab.train.run_fit import RunFit


def read_new_series(path: str | os.PathLike[str], config: Config, task: Task, channels: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """X [N, T, C] and lengths [N] of the series in ``path``, read as the run reads ``data.path``
    (``config.data``'s label or target columns: those the file has are left out unread),
    checked in one-line errors naming ``--data``: ``channels`` per step (the run's), every valid
    value finite.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import CLASSIFICATION
    >>> p = os.path.join(tempfile.mkdtemp(), "new.npz")
    >>> np.savez(p, X=np.zeros((2, 5, 2)))
    >>> read_new_series(p, parse_config('[data]\\ndataset = "UnitTest"'), CLASSIFICATION, 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: --data (...new.npz): expected 3 channels per step (as the run trained on), got 2
    """
    from rnnlab.data.files import load_file

    at = f"--data ({path})"
    csv_file = str(path).lower().endswith(".csv")
    if task.per_step and csv_file:
        raise DataError(f"{at}: a per-step run reads series from an .npz file (X [N, T, C], optional lengths [N]), "
                        "as it read data.path; a .csv row holds one series without steps' targets")
    if task.kind == "regression":
        target = config.data.target_column if config.data.target_column is not None else "target"
        columns: str | list[str] = [target] if isinstance(target, str) else list(target)
    else:
        columns = config.data.label_column
    if csv_file:
        columns = _label_columns_present(Path(path), columns)
    X, _, lengths = load_file(path, columns, "--data")
    _check_new_series(X, lengths, channels, at)
    return X, lengths


def _check_new_series(X: np.ndarray, lengths: np.ndarray, channels: int, at: str) -> None:
    """The checks of new series ``X`` [N, T, C] of ``lengths`` [N], named ``at`` in one-line
    errors: at least one series, the shapes, the run's ``channels`` per step, every valid value
    finite (NaN padding without lengths gets the hint to add them)."""
    from rnnlab.data import check_ragged
    from rnnlab.data.checks import check_finite, check_shapes

    if not len(X):
        raise DataError(f"{at}: expected at least 1 series, got none")
    check_shapes(X, np.zeros(len(X)), lengths, at, values=True)  # (X's and lengths' shapes; no targets to check)
    if X.shape[2] != channels:
        raise DataError(f"{at}: expected {channels} channel{'' if channels == 1 else 's'} per step (as the run "
                        f"trained on), got {X.shape[2]}")
    if lengths.min(initial=X.shape[1]) == X.shape[1]:  # (no lengths given: NaN padding gets the hint to add them)
        check_ragged(X, at)
    check_finite(X, lengths, at)


def _label_columns_present(path: Path, columns: str | list[str]) -> str | list[str]:
    """Of ``columns`` (the run's label column, or its target columns), those the ``.csv``'s
    header names, which the reader sets apart from the steps and leaves out: new series need no
    labels, nor all of the targets. The label column when the header names it, else none; the
    target columns it names (any of them, none). A missing one named in the header but for case
    (``Temp`` for ``temp``) is refused, as it would be read as a step.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "new.csv")
    >>> _ = open(p, "w").write("conc,t0,t1\\n0.1,1,2\\n")
    >>> _label_columns_present(Path(p), ["conc", "temp", "count"]), _label_columns_present(Path(p), "label")
    (['conc'], [])
    """
    names = [columns] if isinstance(columns, str) else columns
    header = csv_header(path)
    if header is None:
        return columns  # (the reader names what is wrong with the file)
    by_case = {h.casefold(): h for h in header}
    for name in names:
        if name not in header and name.casefold() in by_case:
            held = by_case[name.casefold()]
            raise DataError(f"--data ({path}): column {held!r} would be read as a time step; the run's "
                            f"{'label' if isinstance(columns, str) else 'target'} column is {name!r} (left out when "
                            f"there): rename {held!r} to {name!r}, or drop it")
    if isinstance(columns, str):
        return columns if columns in header else []
    return [n for n in columns if n in header]


def csv_header(path: str | os.PathLike[str]) -> list[str] | None:
    """The column names of a ``.csv``'s first row, stripped; None when it cannot be read (the
    file's reader then says why).

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("date, sales\\n2024-01-01,3\\n")
    >>> csv_header(p), csv_header(p + ".missing")
    (['date', 'sales'], None)
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [h.strip() for h in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def read_new_stream(path: str | os.PathLike[str], config: Config, columns: list[str]) -> Series:
    """The long series in ``path`` that a forecasting run forecasts after (``rnnlab predict RUN
    --data FILE``), read by :func:`rnnlab.data.stream.read_series` as the run reads
    ``data.path``, with the run's ``columns``: a ``.csv``'s by name (whichever are missing named
    in one line, its other columns ignored, its column of dates kept), an ``.npz``'s by position
    (as many channels). Errors name ``--data``; what training would say of the file's dates (a
    gap: the forecast then carries no dates) is a warning naming ``--data``.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> p = os.path.join(tempfile.mkdtemp(), "new.csv")
    >>> _ = open(p, "w").write("date,sales,store\\n2024-01-01,3,A\\n")
    >>> read_new_stream(p, parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"'),
    ...                 ["sales", "visits"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: --data (...new.csv): expected the run's columns ['sales', 'visits'], missing ['visits']; header ['date', 'sales', 'store']
    """
    from rnnlab.data.files import existing_file
    from rnnlab.data.stream import read_series, warn_once

    at = f"--data ({path})"
    file = existing_file(path, "--data")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".npz"):
        raise DataError(f"--data: expected a .npz or .csv file for a series (as data.path), got {str(path)!r} "
                        f"(suffix {suffix or '(none)'!r})")
    header = csv_header(file) if suffix == ".csv" else None
    missing = [] if header is None else [c for c in columns if c not in header]
    if header is not None and missing:
        raise DataError(f"{at}: expected the run's columns {columns}, missing {missing}; header {header[:8]}")
    chosen = columns if suffix == ".csv" else None
    try:
        series = read_series(config.data.model_copy(update={"dataset": None, "path": str(path), "columns": chosen}))
    except DataError as e:  # (its messages name the file itself)
        raise DataError(f"--data: {e}") from None
    for note in series.notes:  # (a gap in its dates: why the forecast carries none, as training says it)
        warn_once(f"--data: {note}")
    width = series.values[0].shape[1]
    if width != len(columns):
        raise DataError(f"{at}: expected {len(columns)} channel{'' if len(columns) == 1 else 's'} per step (the "
                        f"run's {', '.join(columns)}), got {width}")
    return replace(series, columns=list(columns))  # (an .npz's channels have no names: the run's)


def series_outputs(model: torch.nn.Module, inputs: InputScaling, X: np.ndarray, lengths: np.ndarray,
                   where: str) -> np.ndarray:
    """The model's outputs for series ``X`` [N, T, C] of ``lengths`` [N] in the data's units:
    logits or standardized values, [N, K] (per step [N, T, K]; what stands past a series' end
    is no prediction). ``inputs`` is the run's input scaling; ``where`` names the series in an
    error (values beyond float32 once scaled).

    >>> from rnnlab.config import ModelConfig
    >>> from rnnlab.data import InputScaling
    >>> from rnnlab.train.model import build_model
    >>> model = build_model(ModelConfig(hidden_size=4), 1, 3, per_step=True)
    >>> X = np.random.default_rng(0).normal(size=(2, 4, 1)); lengths = np.array([4, 2])
    >>> scaling = InputScaling.fit("per_channel", False, X, lengths)
    >>> out = series_outputs(model, scaling, X, lengths, "X")
    >>> alone = series_outputs(model, scaling, X[1:, :2], lengths[1:], "X")  # the second series by itself
    >>> out.shape, bool(np.allclose(out[1, :2], alone[0], atol=1e-6))  # (float32: the same up to rounding)
    ((2, 4, 3), True)
    """
    from rnnlab.data.bundled import Sequences
    from rnnlab.train.trainer import split_outputs

    scaled = scaled_series(inputs, X, lengths, where)
    series = Sequences(scaled, np.zeros(len(X), dtype=np.float32), lengths.astype(np.int64), [])
    steps = X.shape[1]  # (per step, each batch is as long as its longest series: back to X's steps, zeros after)
    return np.concatenate([o.double().cpu().numpy() if o.ndim == 2 else
                           np.pad(o.double().cpu().numpy(), ((0, 0), (0, steps - o.shape[1]), (0, 0)))
                           for o, _ in split_outputs(model, series)])


def scaled_series(inputs: InputScaling, X: np.ndarray, lengths: np.ndarray, where: str) -> np.ndarray:
    """Series ``X`` [N, T, C] of ``lengths`` [N] as the run's model reads them: scaled by the
    run's input scaling ``inputs`` (its level and scale channels added where the run adds them),
    float32; values beyond float32 once scaled, or far beyond it among ordinary ones
    (:func:`~rnnlab.data.checks.check_lone_values`), are a one-line error naming ``where``.

    >>> from rnnlab.data import InputScaling
    >>> X = np.array([[[1.0], [3.0]], [[5.0], [7.0]]]); lengths = np.array([2, 2])
    >>> scaled = scaled_series(InputScaling.fit("per_channel", False, X, lengths), X, lengths, "X")
    >>> scaled.dtype, scaled[..., 0].astype(float).round(2).tolist()
    (dtype('float32'), [[-1.34, -0.45], [0.45, 1.34]])
    """
    from rnnlab.data.checks import check_float32_range, check_lone_values

    check_lone_values(X, lengths, where)  # (values no scaling keeps apart from the rest, as in training's files)
    scaled = inputs.apply(X, lengths)
    check_float32_range(scaled, lengths, where + ("" if inputs.normalize == "none" else " after normalisation"),
                        "rescale the series (the run's scaling is fitted on its training part)")
    return scaled.astype(np.float32)


def decode(outputs: np.ndarray, classes: list[str], scale: TargetScale | None
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """What the model's ``outputs`` (:func:`series_outputs`: [N, K] or per step [N, T, K]) say:
    with ``scale`` (regression's standardization of the targets), the values in the data's units
    and None; else the label of the largest logit of ``classes`` and each class's probability
    (softmax).

    >>> labels, p = decode(np.array([[0.0, 2.0], [1.0, 1.0]]), ["cat", "dog"], None)
    >>> labels.tolist(), p.round(3).tolist()
    (['dog', 'cat'], [[0.119, 0.881], [0.5, 0.5]])
    >>> from rnnlab.task import TargetScale
    >>> decode(np.array([[1.0]]), [], TargetScale(np.array([10.0]), np.array([2.0])))[0].tolist()
    [[12.0]]
    """
    if scale is not None:
        return outputs * scale.std + scale.mean, None
    probabilities = torch.softmax(torch.from_numpy(outputs), dim=-1).numpy()
    return np.asarray(classes)[outputs.argmax(axis=-1)], probabilities


def target_names(config: Config, k: int) -> list[str]:
    """The names of a regression run's ``k`` targets, as :func:`rnnlab.task.task_for` gives them
    (``data.target_column``, else an ``.npz``'s own ``target_names``), else ``target`` (one) or
    ``target0``, ``target1``, ...; names that are not ``k`` are not the run's, and left aside.

    >>> from rnnlab.config import parse_config
    >>> target_names(parse_config('[task]\\nkind = "regression"\\n[data]\\ndataset = "Covid3Month"'), 2)
    ['target0', 'target1']
    """
    from rnnlab.task import task_for

    return task_for(config).target_names(k)


def _apart(fixed: list[str], names: list[str], wrap: str) -> list[str]:
    """``names`` as columns beside ``fixed``: unchanged, unless one of them is a fixed column's name;
    then each as ``wrap(NAME)`` (all of them, so the columns still read alike).

    >>> _apart(["series", "label"], ["1", "2"], "p"), _apart(["series", "label"], ["label", "x"], "p")
    (['1', '2'], ['p(label)', 'p(x)'])
    """
    return names if not set(names) & set(fixed) else [f"{wrap}({n})" for n in names]


#: How to put new series' channels in the order of the training part's (an array's, not a file's).
_REORDER_X = "reorder X's channels as the run's training data: X[:, :, {order}]"


class TrainedRun:
    """A classification or regression run (per sequence or per step) that ``rnnlab train`` (or an
    estimator's ``run_dir``) trained, loaded by :func:`load_run` to predict new series from Python
    exactly as ``rnnlab predict RUN --data FILE`` does: one mechanism, which that command uses too.

    * :meth:`predict` — labels (classification) or values in the data's units (regression):
      ``[N]`` or ``[N, K]``, per step ``[N, T]`` or ``[N, T, K]`` (past a series' length: ``""``
      or NaN, no prediction); :meth:`predict_proba` — each class's probability (``[N, n_classes]``,
      per step ``[N, T, n_classes]``), in the order of :attr:`classes`.
    * ``X`` as the command reads a file's: ``[N, T, C]`` (``[N, T]``: one channel), a NumPy array
      (or array-like, or a tensor), with ``lengths`` ``[N]`` for padded series (None: all ``T``
      steps); the run's channels by position, checked as the command checks a file (their count,
      finite values inside each series, channels that look swapped), each problem a one-line
      :class:`~rnnlab.errors.DataError` naming ``X`` or ``lengths``; series shorter than every series
      of the run's training part are said in one warning (:func:`rnnlab.data.normalize.short_series_note`).
    * :attr:`task` (``"classification"``, ``"regression"``, ``"per-step-classification"``,
      ``"per-step-regression"``), :attr:`classes` (the class labels as the run names them, text;
      [] for regression), :attr:`target_names` ([] for classification), :attr:`config` (the
      config it trained with), :attr:`channels` (per step of ``X``), :attr:`checkpoint` (the
      checkpoint it evaluated: ``best.pt`` where early stopping restored it, else ``last.pt``),
      :attr:`finished` (whether the run finished: its ``summary.json``; a run interrupted or still
      training predicts with the checkpoint it has, said in one warning when loaded).
    * :attr:`model` — the torch module of that checkpoint, in eval mode, the run's mean guard
      applied (a target the guard chose the training mean for: its outputs are 0, its standardized
      mean). It reads *scaled* input: ``model(torch.from_numpy(run.scale(X, lengths)),
      torch.from_numpy(lengths))[0]`` gives the logits, or the standardized values (``predict``
      undoes the standardization); raw ``X`` gives wrong outputs, without an error.

    The run's input scaling, classes and targets' standardization are those its checkpoint
    recorded (:class:`rnnlab.train.run_fit.RunFit`): ``data.path`` is not read.
    """

    def __init__(self, run: RunDir, config: Config, task: Task) -> None:
        from rnnlab.train.run_fit import fitted_model

        if task.kind == "language_model":
            raise RunDirError(f"{run.path}: a language_model run predicts no series' labels or values; "
                              f"{shell_command('rnnlab', 'sample', run.path)} writes text from it")
        self.path = run.path
        #: The config the run trained with (:func:`rnnlab.train.trainer.load_run_config`).
        self.config = config
        self._task = task
        #: :attr:`checkpoint`: the checkpoint the run evaluated, whose weights :attr:`model` holds.
        self._fit, self.model, self.checkpoint = fitted_model(run, config, task)
        self._run = run
        #: Whether the run finished (it wrote ``summary.json``), when it was loaded.
        self.finished: bool = run.summary.exists()
        if not self.finished:
            # (at the line that loaded it: load_run's caller, or within rnnlab predict, whose
            # warnings of rnnlab's own lines are one line each)
            warnings.warn(unfinished_line(run, config, self.checkpoint), UserWarning, stacklevel=3)

    @property
    def task(self) -> str:
        """What the run predicts: ``classification``, ``regression``, ``per-step-classification``
        or ``per-step-regression``."""
        return self._task.name

    @property
    def classes(self) -> list[str]:
        """The class labels in the order of :meth:`predict_proba`'s columns (text, as in ``rnnlab
        predict``'s header); [] for a regression run."""
        return list(self._fit.classes)

    @property
    def target_names(self) -> list[str]:
        """A regression run's targets, in the order of :meth:`predict`'s last axis (as
        :func:`target_names` names them); [] for a classification run."""
        if self._fit.targets is None:
            return []
        return target_names(self.config, len(self._fit.targets.mean))

    @property
    def channels(self) -> int:
        """The channels per step of the series the run reads (``X``'s ``C``)."""
        return self._fit.raw_channels

    def scale(self, X: typing.Any, lengths: typing.Any = None) -> np.ndarray:
        """``X`` as :attr:`model` reads it: scaled by the run's input scaling, float32 ``[N, T,
        C']`` (``C'`` > ``C`` where the run adds each series' level and scale as channels),
        ``X`` and ``lengths`` checked as :meth:`predict` checks them."""
        X, lengths = self._checked(X, lengths)
        return scaled_series(self._fit.inputs, X, lengths, "X")

    def predict(self, X: typing.Any, lengths: typing.Any = None) -> np.ndarray:
        """Each series' label (classification: ``[N]``, per step ``[N, T]``, ``""`` past a
        series' length) or values in the data's units (regression: ``[N, K]`` for the K
        :attr:`target_names`, per step ``[N, T, K]``, NaN past a series' length): what ``rnnlab
        predict`` writes for the same series."""
        X, lengths = self._checked(X, lengths)
        decoded, _ = self._decoded(X, lengths, "X", _REORDER_X)
        return self._past_the_end(decoded, lengths, "" if self._fit.targets is None else np.nan)

    def predict_proba(self, X: typing.Any, lengths: typing.Any = None) -> np.ndarray:
        """A classification run's probability of each of :attr:`classes` for each series
        (``[N, n_classes]``; per step ``[N, T, n_classes]``, NaN past a series' length); a
        regression run's is a one-line error."""
        if self._fit.targets is not None:
            raise RunDirError(f"{self.path}: predict_proba: a {self.task} run predicts values, not class "
                              "probabilities; use predict")
        X, lengths = self._checked(X, lengths)
        _, probabilities = self._decoded(X, lengths, "X", _REORDER_X)
        assert probabilities is not None
        return self._past_the_end(probabilities, lengths, np.nan)

    def _checked(self, X: typing.Any, lengths: typing.Any) -> tuple[np.ndarray, np.ndarray]:
        """``X`` float64 ``[N, T, C]`` and ``lengths`` int64 ``[N]`` of the caller's arrays, checked
        as ``rnnlab predict`` checks a file's (:func:`_check_new_series`), in one-line errors."""
        X = _array(X, "X")
        if X.dtype.kind not in "iuf":
            raise DataError(f"X: expected real numbers, got dtype {X.dtype}")
        if X.ndim == 2:  # (one channel, as a .csv row is one)
            X = X[:, :, None]
        if X.ndim != 3:
            raise DataError(f"X: expected an array [N, T, C] (or [N, T] of one channel), got shape {list(X.shape)}")
        if lengths is None:
            lengths = np.full(len(X), X.shape[1], dtype=np.int64)
        else:
            lengths = _array(lengths, "lengths")
            if lengths.dtype.kind not in "iu":
                raise DataError(f"lengths: expected integer lengths [N], got dtype {lengths.dtype}")
        X, lengths = X.astype(np.float64), lengths.astype(np.int64)
        _check_new_series(X, lengths, self.channels, "X")
        return X, lengths

    def _decoded(self, X: np.ndarray, lengths: np.ndarray, where: str, fix: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """:func:`decode` of the model's outputs for checked series ``X`` of ``lengths``, their
        channels' order checked first (``where`` and ``fix`` name the series and the remedy)."""
        from rnnlab.data.normalize import REORDER_FILE

        self._fit.inputs.check_channels(X, lengths, where, fix or REORDER_FILE, trained=self._train_lengths,
                                        per_step=self._task.per_step)
        return decode(series_outputs(self.model, self._fit.inputs, X, lengths, where), self._fit.classes,
                      self._fit.targets)

    @functools.cached_property
    def _train_lengths(self) -> TrainLengths | None:
        """The lengths of the series of the run's training part (:func:`training_lengths`): its
        record's, else (a run recorded before) read again once, at the first prediction."""
        return training_lengths(self._run, self.config, self._task, self._fit)

    def _past_the_end(self, out: np.ndarray, lengths: np.ndarray, fill: typing.Any) -> np.ndarray:
        """Per step, ``out`` with ``fill`` past each series' length (no prediction there)."""
        if self._task.per_step:
            from rnnlab.data.per_step import valid_steps

            out = out.copy()
            out[~valid_steps(lengths, out.shape[1])] = fill
        return out

    def __repr__(self) -> str:
        return f"TrainedRun({str(self.path)!r}, {self.task}, {self.checkpoint.name})"


def unfinished_line(run: RunDir, config: Config, checkpoint: Path) -> str:
    """The one line that says a run without ``summary.json`` (interrupted, paused, or training
    still) is predicted from: how far it got (its last recorded epoch of those planned, or of a
    budget in steps, its step; "no epoch finished") and the ``checkpoint`` named, whose weights
    are not a finished run's.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> run = RunDir(tempfile.mkdtemp()); run.append(run.metrics, {"epoch": 2, "step": 8})
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nepochs = 30')
    >>> print(unfinished_line(run, cfg, run.last_checkpoint))  # doctest: +ELLIPSIS
    /...: the run has not finished (no summary.json: stopped, or training still; its last recorded epoch is 2 of 30): predicting with checkpoints/last.pt, its weights at that point, not a finished run's
    """
    from rnnlab.errors import RnnlabError
    from rnnlab.rundir import SUMMARY

    try:
        records = run.read_metrics()
    except (RnnlabError, OSError):  # (the checkpoint predicts still; how far the run got is unknown)
        records = []
    last = max(records, key=lambda r: int(r["epoch"]), default=None)
    t = config.training
    if last is None:
        got = "no epoch finished"
    elif t.epochs is None and t.steps is not None and isinstance(last.get("step"), int):
        got = f"its last recorded epoch is {last['epoch']}, at step {last['step']} of {t.steps}"
    else:
        got = f"its last recorded epoch is {last['epoch']}" + (f" of {t.epochs}" if t.epochs else "")
    where = checkpoint.relative_to(run.path) if checkpoint.is_relative_to(run.path) else checkpoint
    # (the files cannot tell a run killed from one training still: both are said)
    return (f"{run.path}: the run has not finished (no {SUMMARY}: stopped, or training still; {got}): predicting "
            f"with {where}, its weights at that point, not a finished run's")


def training_lengths(run: RunDir, config: Config, task: Task, fit: RunFit | None = None) -> TrainLengths | None:
    """The span and count of the lengths of the series of the run's training part (of its fold,
    for a search's or recipe's fold run): as ``fit`` (the run's record, :class:`RunFit`) keeps them
    (:attr:`rnnlab.data.InputScaling.train_lengths`, kept since checkpoints record them). For a run
    recorded before (or without ``fit``), read again from its data as the run read it
    (:func:`rnnlab.data.load_data`, without its test file, a whole load each time); None where that
    no longer can be (``data.path`` gone, moved or changed so that it is refused).

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[data]\\ndataset = "GunPoint"')
    >>> training_lengths(RunDir(tempfile.mkdtemp()), cfg, task_for(cfg))  # GunPoint's 50 training series less 10
    TrainLengths(shortest=150, longest=150, count=40)
    """
    from rnnlab.data import load_data
    from rnnlab.data.folds import Fold
    from rnnlab.data.normalize import TrainLengths
    from rnnlab.errors import RnnlabError

    if fit is not None and fit.inputs.train_lengths is not None:
        return fit.inputs.train_lengths
    recorded = run.fold()  # (as rnnlab.plots.evaluated.run_fold reads it; importing that loads matplotlib)
    known = {f.name for f in fields(Fold)}
    fold = None if recorded is None else Fold(**{k: v for k, v in recorded.items() if k in known})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the training data's notes are the run's, said when it trained)
            data = load_data(config.data.model_copy(update={"test_path": None}), seed=config.training.seed,
                             fold=fold, task=task)
    except (RnnlabError, OSError):
        return None
    return TrainLengths.of(data.train.lengths)


def _array(value: typing.Any, name: str) -> np.ndarray:
    """``value`` (a tensor, an array, nested lists) as a NumPy array; what cannot be one (ragged
    lists) is a one-line error naming ``name``.

    >>> _array([[1.0, 2.0], [3.0]], "X")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: X: expected an array, got a list that NumPy cannot read as one (series of different lengths? pad them to the longest and pass their lengths)
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError):
        raise DataError(f"{name}: expected an array, got a {type(value).__name__} that NumPy cannot read as one "
                        "(series of different lengths? pad them to the longest and pass their lengths)") from None


def load_run(run_dir: str | os.PathLike[str]) -> TrainedRun:
    """The classification or regression run in ``run_dir`` (``rnnlab train``'s, or an estimator's
    ``run_dir``), ready to predict new series as ``rnnlab predict`` does (:class:`TrainedRun`):
    with the run's input scaling, the checkpoint it evaluated and its mean guard. A forecasting
    or language-model run, or a folder that is no run, is a one-line error saying what to use.

    Example:
        >>> import tempfile
        >>> from rnnlab.config import parse_config
        >>> from rnnlab.train.trainer import train
        >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nhidden_size = 4\\n[training]\\nepochs = 1\\n'
        ...                    '[tracking]\\nenabled = false')
        >>> run = load_run(train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir)
        >>> run.task, run.classes, run.checkpoint.name
        ('classification', ['1', '2'], 'last.pt')
        >>> labels = run.predict(np.zeros((3, 24)))  # 3 series of 24 steps, one channel
        >>> labels.shape, set(labels) <= {"1", "2"}, run.predict_proba(np.zeros((3, 24))).shape
        ((3,), True, (3, 2))
    """
    from rnnlab.task import task_for
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind == "forecasting":
        raise RunDirError(f"{run.path}: load_run predicts the series of a classification or regression run; a "
                          f"forecasting run's forecast after the end of its series: "
                          f"{shell_command('rnnlab', 'predict', run.path)} (--data FILE: after FILE's series)")
    return TrainedRun(run, config, task)


def prediction_rows(run_dir: str | os.PathLike[str], data_path: str | os.PathLike[str]) -> tuple[list[str], list[tuple]]:
    """The header and rows of the predictions for the series in ``data_path`` (``series``: the
    series' 0-based position in the file): classification ``series, label, <a probability per
    class>``; regression ``series, <targets>`` in the data's units; per step the same with ``step``
    after ``series`` (``series, step, label, <a probability per class>`` or ``series, step,
    <targets>``), a row for every step inside its series (padding excluded);
    when a class or target is named like a fixed column (a class ``label``, a target ``step``), every
    probability column is written ``p(CLASS)`` (every target column ``value(NAME)``), so no two columns share a name;
    forecasting, the forecast after the end of each series in the file as ``rnnlab predict RUN``
    writes it after the run's own (:func:`rnnlab.train.forecast.forecast_table`)."""
    from rnnlab.data.per_step import valid_steps
    from rnnlab.task import task_for
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind == "forecasting":  # the forecast after the end of FILE's series, as after the run's own
        from rnnlab.train.forecast import forecast_table

        return forecast_table(run.path, data_path)
    trained = TrainedRun(run, config, task)  # (what rnnlab.load_run gives: one way to predict)
    X, lengths = read_new_series(data_path, config, task, trained.channels)
    decoded, probabilities = trained._decoded(X, lengths, f"--data ({data_path})")
    # (a per-step run's rows are a per-sequence run's with the step beside the series: one layout for both)
    where = (np.argwhere(valid_steps(lengths, X.shape[1])) if task.per_step else np.arange(len(X))[:, None])
    fixed = ["series", "step"] if task.per_step else ["series"]
    keys = [tuple(int(k) for k in at) for at in where]
    if task.values:
        names = target_names(config, decoded.shape[-1])
        return [*fixed, *_apart(fixed, names, "value")], [(*k, *map(float, decoded[k])) for k in keys]
    assert probabilities is not None
    fixed.append("label")
    return ([*fixed, *_apart(fixed, trained.classes, "p")],
            [(*k, str(decoded[k]), *map(float, probabilities[k])) for k in keys])


def write_predictions(run_dir: str | os.PathLike[str], data_path: str | os.PathLike[str],
                      out: str | os.PathLike[str] | None = None) -> tuple[Path, int]:
    """Write :func:`prediction_rows` as CSV to ``out`` (default ``RUN_DIR/predictions.csv``),
    atomically (a label a spreadsheet would run as a formula, ``=...``, written ``'=...``:
    :func:`rnnlab.tables.csv_text`); returns the path and the number of series."""
    header, rows = prediction_rows(run_dir, data_path)
    target = Path(out) if out is not None else Path(run_dir) / PREDICTIONS
    atomic_write_text(target, csv_text(header, rows))
    key = 2 if header[:2] == ["series", "index"] else 1  # (a forecast's series: the file's name and an index)
    return target, len({r[:key] for r in rows})
