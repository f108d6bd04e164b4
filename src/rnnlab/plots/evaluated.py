"""The data a run's prediction pictures draw from: the split the run itself evaluated.

A run's report draws its model's predictions (:mod:`rnnlab.plots.regression`,
:mod:`rnnlab.plots.per_step`, :mod:`rnnlab.plots.forecast`) on the split whose figures the run
gave: the test split only when its summary has test figures (a run that evaluated it); else its
validation part, which for a fold run of a search or recipe is that fold of the training split
(its marker records which: :meth:`rnnlab.rundir.RunDir.fold`), the data split and scaled as that
run split and scaled them; else the training split. A run that did not evaluate its test split
never reads ``data.test_path``: a search scores its trials without ever seeing the test split
(docs/search.md).

Example:
    >>> import tempfile, os
    >>> import numpy as np
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.train.trainer import train
    >>> d = tempfile.mkdtemp(); rng = np.random.default_rng(0)
    >>> np.savez(os.path.join(d, "r.npz"), X=rng.normal(size=(40, 5, 1)), y=rng.normal(size=40))
    >>> cfg = parse_config(f'[task]\\nkind = "regression"\\n[data]\\npath = "{d}/r.npz"\\n[model]\\nhidden_size = 4\\n'
    ...                    '[training]\\nepochs = 1\\n[tracking]\\nenabled = false')
    >>> shown = evaluated(train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir).shown()
    >>> shown.name, len(shown.split), shown.figures, shown.why
    ('validation', 8, 'validation', ' (the run has no test split)')
"""

from __future__ import annotations

import functools
import os
import typing
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

from rnnlab.rundir import RunDir

if typing.TYPE_CHECKING:
    import torch

    from rnnlab.config import Config
    from rnnlab.data import DataSplits, Sequences
    from rnnlab.data.folds import Fold
    from rnnlab.task import Task
    from rnnlab.train.run_fit import RunFit


@dataclass(frozen=True)
class Shown:
    """The split a prediction picture draws, and how the report names it."""

    split: Sequences
    name: str
    """``"test"``, ``"validation"`` or ``"training"``."""
    why: str
    """Why this split when not the test split, a clause in brackets led by a space; ``""`` for the test split."""

    @property
    def figures(self) -> str:
        """The run's figures this split's predictions are the values of (``"test"``,
        ``"validation"``, ``"training (eval)"``)."""
        return "training (eval)" if self.name == "training" else self.name


@dataclass(frozen=True)
class Evaluated:
    """A run's model and data as the run evaluated them (:func:`evaluated`)."""

    run: RunDir
    config: Config
    task: Task
    data: DataSplits
    """The run's data, split as the run split it (a fold run: its fold); ``test`` None unless :attr:`tested`."""
    model: torch.nn.Module
    """The model the run evaluated, in eval mode (:func:`rnnlab.train.run_fit.fitted_model`)."""
    fit: RunFit
    fold: Fold | None
    """The fold of the training split the run validated on (a search's or recipe's run), or None."""
    tested: bool
    """Whether the run evaluated its test split (summary.json has test figures)."""

    def shown(self) -> Shown:
        """The split a picture of a sequence task draws: the test split of a run that evaluated
        it, else the validation part, else the training split (:class:`Shown`)."""
        data = self.data
        if self.tested and data.test is not None and len(data.test):
            return Shown(data.test, "test", "")
        if len(data.val):
            return Shown(data.val, "validation", self.validation_why())
        return Shown(data.evaluated_train, "training", " (the run holds out no test or validation series)")

    def validation_why(self) -> str:
        """Why a picture shows the validation part (or block) rather than the test split: a
        fold run's fold, a run that did not evaluate its test split, or one without one."""
        if self.fold is not None:
            part = (f"fold {self.fold.index + 1} of {self.fold.k}" if self.fold.k > 1
                    else "the hold-out")
            return (f" ({part} of the training split, which this run of a search or recipe validated on; it never "
                    "saw the test split)")
        has_test = self.config.data.test_path is not None or self.config.data.dataset is not None or self.task.stream
        return " (the run did not evaluate its test split)" if has_test else " (the run has no test split)"


def run_fold(run: RunDir) -> Fold | None:
    """The fold a run validated on, as its marker records it (:meth:`rnnlab.rundir.RunDir.fold`), or None.

    >>> import tempfile
    >>> with RunDir.for_writing(tempfile.mkdtemp(), new=True, fold={"k": 3, "index": 1, "seed": 0}) as run:
    ...     run_fold(run)
    Fold(k=3, index=1, seed=0, holdout=0.2)
    """
    from rnnlab.data.folds import Fold

    recorded = run.fold()
    if recorded is None:
        return None
    known = {f.name for f in fields(Fold)}
    return Fold(**{k: v for k, v in recorded.items() if k in known})


def run_tested(run: RunDir) -> bool:
    """Whether the run evaluated its test split: its summary.json has test figures. A run
    without one, or whose summary cannot be read, did not (as far as a reader can tell)."""
    from rnnlab.errors import RnnlabError

    try:
        summary = run.read_summary()
    except (RnnlabError, OSError, ValueError):  # (the Final metrics section says what is wrong with it)
        return False
    return bool(summary and summary.get("test"))


def evaluated(run_dir: str | os.PathLike[str] | RunDir, config: Config | None = None) -> Evaluated:
    """The run's model and data as it evaluated them (:class:`Evaluated`): the data of
    :func:`rnnlab.train.run_fit.run_model`, read with the run's fold (:func:`run_fold`) and without
    the test file unless the run evaluated it (:func:`run_tested`). ``config``: the run's, where
    the caller has read it (:func:`rnnlab.train.trainer.load_run_config`). Raises the one-line
    errors of ``rnnlab predict`` (no checkpoint, data that cannot be read)."""
    from rnnlab.task import task_for
    from rnnlab.train.run_fit import run_model
    from rnnlab.train.trainer import load_run_config

    run = RunDir.existing(run_dir.path if isinstance(run_dir, RunDir) else run_dir)
    config = load_run_config(run.path) if config is None else config
    task = task_for(config)
    fold, tested = run_fold(run), run_tested(run)
    if not tested:  # (a run that never read its test file: nor does its report)
        config = config.model_copy(update={"data": config.data.model_copy(update={"test_path": None})})
    # (the run recorded what loading its data warned, and said it as it started: the report shows it;
    # read again here it is no news, and only what the run did not record is said)
    noted = set((data_notes(run) or ([], ""))[0])
    said: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            data, model, fit = run_model(run, config, task, fold)
    finally:  # (said again outside the recording: inside it, each would be recorded again, without end)
        for w in said:
            if str(w.message) not in noted:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not tested:
        data = _without_test(data)
    return Evaluated(run=run, config=config, task=task, data=data, model=model, fit=fit, fold=fold, tested=tested)


def data_notes(rd: RunDir) -> tuple[list[str], str] | None:
    """What loading the run's data warned (:func:`rnnlab.train.trainer.load_noted`), and the file it
    was read from: summary.json's ``data_notes``, or, for a run without a summary (training, or
    killed), its last checkpoint's; None where the run recorded none (an older rnnlab's run, a
    loop of the user's own, a run killed before its first checkpoint).

    >>> import tempfile
    >>> data_notes(RunDir(tempfile.mkdtemp())) is None
    True
    """
    from rnnlab.rundir import SUMMARY
    from rnnlab.train.trainer import DATA_NOTES

    summary = rd.read_summary()
    if summary is not None:
        notes, where = summary.get(DATA_NOTES), SUMMARY
    elif rd.last_checkpoint.exists():
        at = rd.last_checkpoint.stat()
        notes = _checkpoint_notes(str(rd.last_checkpoint), at.st_mtime_ns, at.st_size, DATA_NOTES)
        where = f"checkpoints/{rd.last_checkpoint.name}"
    else:
        return None
    if not isinstance(notes, list):
        return None
    return [str(n) for n in notes], where


@functools.lru_cache(maxsize=4)
def _checkpoint_notes(path: str, mtime_ns: int, size: int, key: str) -> typing.Any:
    """The ``key`` entry of the checkpoint at ``path`` as of that change time and size: a report
    of a run without a summary asks for it once per page part, and a checkpoint holds the weights
    and optimizer state (a later checkpoint of the same name has another time or size)."""
    from rnnlab.train.checkpoint import load_checkpoint

    return load_checkpoint(Path(path)).get(key)


def _without_test(data: DataSplits) -> DataSplits:
    """``data`` without its test split (a bundled data set reads it with the training split)."""
    from dataclasses import replace

    return data if data.test is None else replace(data, test=None)


__all__ = ["Evaluated", "Shown", "data_notes", "evaluated", "run_fold", "run_tested"]
