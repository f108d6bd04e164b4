"""The trial runner: one complete config trained on every fold of the training split.

:func:`run_trial` is the unit that ``rnnlab search`` (and any procedure that compares configs)
runs: it trains ``config`` once per (seed, fold) of a :class:`FoldPlan` through the same trainer
as ``rnnlab train``, one run directory each (``OUT/fold-1/``, or ``OUT/seed-3/fold-1/`` with
several seeds), and returns the validation score of what every run predicts: its kept model's,
or where its mean guard (``[task] mean_guard``) chose the training mean, that prediction's
(:func:`rnnlab.train.mean_guard.scored_record`). The test split is never loaded
(:func:`rnnlab.data.load_data` with a fold leaves it out).

Each epoch's score goes to ``report(step, value)``; when it returns True the trial stops there
(pruned). Those are the model's, epoch by epoch: the guard decides after the last epoch, and only
the final fold score is the guarded prediction's. Steps are well defined across trials: the runs
go in turn, seed by seed and fold by fold, and ``step = run_index * epochs + epoch`` (1-based;
``epochs`` the most a fold's run trains, :func:`fold_epochs`), so the pruner compares trials at
the same epoch of the same fold.

A run directory that already holds a finished run of the same config is reused, and one cut
short by a kill resumes from its checkpoint: running a trial again finishes it.

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nhidden_size = 4\\n'
    ...                    '[training]\\nepochs = 2\\n[tracking]\\nenabled = false')
    >>> result = run_trial(cfg, FoldPlan(k=2, seed=0), tempfile.mkdtemp())
    >>> len(result.scores[0]), result.pruned_at is None
    (2, True)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnlab.config import Config, SearchConfig, dump_config
from rnnlab.data import Fold
from rnnlab.errors import DataError
from rnnlab.lock import DirLock
from rnnlab.rundir import (
    CHECKPOINTS,
    CONFIG,
    LAST_CHECKPOINT,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    discard_run,
    read_json,
)

if TYPE_CHECKING:
    from rnnlab.task import Task
    from rnnlab.train.final import CarriedGuard

#: ``report(step, value)`` -> True to stop the trial (pruned).
Report = Callable[[int, float], bool]
TRIAL_FILE = "trial.json"


@dataclass(frozen=True)
class FoldPlan:
    """``k`` stratified folds of the training split (k == 1: one hold-out of ``holdout``)."""

    k: int
    seed: int
    holdout: float = 0.2
    forward: bool = False
    """A stream's folds: forward-chaining blocks (:func:`rnnlab.data.folds.forward_chaining`)."""
    split: str = "stratified"
    """How the folds draw sequences, in words (:attr:`rnnlab.task.Task.split_kind`)."""

    def folds(self) -> list[Fold]:
        return [Fold(self.k, i, self.seed, self.holdout) for i in range(self.k)]

    def describe(self) -> str:
        """E.g. ``3 stratified folds``, ``3 forward-chaining folds`` or ``a 20% hold-out``."""
        if self.forward:
            return f"{self.k} forward-chaining folds" if self.k > 1 else f"a {self.holdout:.0%} tail hold-out"
        return f"{self.k} {self.split} folds" if self.k > 1 else f"a {self.holdout:.0%} hold-out"


def choose_plan(y: np.ndarray, folds: int, seed: int, holdout: float) -> FoldPlan:
    """The fold plan for a training split with labels ``y``.

    ``folds`` 0 is the automatic rule: 5 folds below 100 series, 3 below 1000, else one
    stratified hold-out (a single hold-out of a small split is too noisy to rank trials; of a
    large one it is precise enough and k times cheaper). k never exceeds the smallest class
    (every fold must be able to hold each class); a class of one series gives a hold-out.

    >>> choose_plan(np.repeat([0, 1], 20), 0, seed=0, holdout=0.2).k
    5
    >>> choose_plan(np.repeat([0, 1], 100), 0, seed=0, holdout=0.2).k
    3
    >>> choose_plan(np.repeat([0, 1], 600), 0, seed=0, holdout=0.2).describe()
    'a 20% hold-out'
    """
    n, smallest = len(y), int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    k = folds if folds else (5 if n < 100 else 3 if n < 1000 else 1)
    k = min(k, smallest)
    return FoldPlan(k if k >= 2 else 1, seed, holdout if holdout > 0 else 0.2)


def stream_plan(config: Config, search: SearchConfig) -> FoldPlan:
    """A stream's fold plan: ``search.folds`` forward-chaining folds (0: up to 3), as many as
    leave the first fold ``data.streams`` rows of ``data.bptt`` steps to train on and, for a
    forecaster, more training steps than ``task.season`` (its MASE is scaled by the
    seasonal-naive error over the fold's training part); none: a tail hold-out of
    ``data.val_fraction``, each validating on the block after its training part. When even the
    hold-out's training part is not longer than the season, a one-line error naming
    ``search.folds``, the season and the steps, before any training.

    >>> from rnnlab.config import parse_config, SearchConfig
    >>> c = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"\\nbptt = 12')
    >>> stream_plan(c, SearchConfig()).describe()
    '3 forward-chaining folds'
    >>> c = parse_config('[task]\\nkind = "forecasting"\\nseason = 36\\n[data]\\ndataset = "Airline"\\nbptt = 12')
    >>> stream_plan(c, SearchConfig()).describe()  # 3 folds would train the first on 36 steps
    '2 forward-chaining folds'
    """
    from rnnlab.data.folds import forward_chaining
    from rnnlab.data.stream import read_series, split_bounds

    holdout = config.data.val_fraction if config.data.val_fraction > 0 else 0.2
    if config.task.kind == "language_model":
        from rnnlab.data.text import token_count

        lengths = [token_count(config.data)]
        season = 0
    else:
        lengths = [len(x) for x in read_series(config.data).values]
        season = config.task.season
    before = min(split_bounds(n, config.data, None).val for n in lengths)
    need = config.data.bptt * config.data.streams + config.task.horizon

    def first_training(k: int) -> int:  # (the steps fold 1 trains on)
        return forward_chaining(before, Fold(k, 0, search.seed, holdout))[0]

    if search.folds != 1:
        # search.folds is capped by the same rule (more blocks would be too short to train on)
        k = next((k for k in (range(search.folds, 1, -1) if search.folds else (3, 2))
                  if before // (k + 1) >= need and first_training(k) > season), 1)
    else:
        k = 1
    if first_training(k) <= season:
        asked = f"search.folds = {search.folds}" if search.folds else "search.folds = 0 (automatic)"
        raise DataError(f"search.folds: no fold's training part is longer than the season (task.season = {season}), "
                        f"which scales its MASE: the {before} steps before the test block leave {first_training(k)} "
                        f"for training with a {holdout:.0%} tail hold-out and fewer with more folds ({asked}); expected "
                        f"a series of more than {math.ceil((season + 1) / (1 - holdout))} steps before its test block, "
                        "a shorter task.season, or a smaller data.val_fraction")
    return FoldPlan(k, search.seed, holdout, forward=True)


def plan_for_config(config: Config, search: SearchConfig) -> FoldPlan:
    """The fold plan of ``config``'s training split (its labels, or the task's strata of its
    targets; the test split is not read), checked by :func:`check_plan_validates`."""
    from rnnlab.data import load_data
    from rnnlab.task import task_for

    task = task_for(config)
    if task.stream:
        return stream_plan(config, search)
    # (the whole training split, without a hold-out: load_data would refuse an empty one with
    # words of its own, before the plan could say which keys decide it and why it is empty)
    whole = config.data.model_copy(update={"val_fraction": 0.0, "test_path": None})
    labels = load_data(whole, seed=config.training.seed, task=task).train.y
    plan = dataclasses.replace(choose_plan(task.strata(labels), search.folds, search.seed, config.data.val_fraction),
                               split=task.split_kind)
    check_plan_validates(plan, labels, task, search.folds, config.data.val_fraction)
    return plan


def class_sizes(counts: Sequence[int]) -> str:
    """How many series each class has, in words, from their ``counts``.

    >>> class_sizes([1] * 60), class_sizes([1, 1, 3])
    ('every one of the 60 classes has 1 series', 'the 3 classes have 1 to 3 series (2 of them 1)')
    """
    low, high = min(counts), max(counts)
    if low == high:
        return f"every one of the {len(counts)} classes has {low} series"
    return (f"the {len(counts)} classes have {low} to {high} series "
            f"({sum(c == low for c in counts)} of them {low})")


def check_plan_validates(plan: FoldPlan, labels: np.ndarray, task: Task, folds: int, val_fraction: float) -> None:
    """Refuse, in one line naming ``search.folds`` and ``data.val_fraction``, the class sizes and
    the fix, a ``plan`` with a fold that validates on no series (``labels``: the training split's,
    of ``task``): a class's only series stays in the training part of every fold
    (:func:`rnnlab.data.folds.keep_every_class`), so where every class has one series no fold can
    score a configuration, whatever those keys say.

    >>> from rnnlab.task import CLASSIFICATION
    >>> check_plan_validates(FoldPlan(1, 0), np.arange(3), CLASSIFICATION, 0, 0.2)
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: search.folds = 0 (automatic), data.val_fraction = 0.2: every one of the 3 classes has 1 series, and a class's only series stays in the training part of every fold (the model could not predict a class it never saw), so a 20% hold-out of the training split holds no series to score a configuration on, whatever these keys say; expected classes of at least 2 series: give every class at least 2 series (each fold then validates on series of every class), or train on all 3 series without a search or recipe: data.val_fraction = 0 and rnnlab train (if y holds values to predict, not class labels, set [task] kind = "regression")
    """
    from rnnlab.data.folds import validation_indices

    present = task.classes_held(labels)
    strata = task.strata(labels)
    empty = next((f for f in plan.folds() if not len(validation_indices(strata, present, f))), None)
    if empty is None:
        return
    asked = f"search.folds = {folds}{' (automatic)' if folds == 0 else ''}, data.val_fraction = {val_fraction:g}"
    part = plan.describe() if plan.k == 1 else f"fold {empty.index + 1} of {plan.describe()}"
    if present is None:  # (values: their strata hold 5 series or more, so this is not expected)
        raise DataError(f"{asked}: {part} of the training split ({len(labels)} series) holds no series to score a "
                        "configuration on; expected a training split of more series")
    counts = [int(c) for c in present.sum(axis=0) if c]
    regression = ("" if task.per_step else
                  ' (if y holds values to predict, not class labels, set [task] kind = "regression")')
    raise DataError(f"{asked}: {class_sizes(counts)}, and a class's only series stays in the training part of "
                    f"every fold (the model could not predict a class it never saw), so {part} of the training split "
                    "holds no series to score a configuration on, whatever these keys say; expected classes of at "
                    "least 2 series: give every class at least 2 series (each fold then validates on series of every "
                    f"class), or train on all {len(labels)} series without a search or recipe: data.val_fraction = 0 "
                    f"and rnnlab train{regression}")


def metric_note(config: Config, metric: str, split: Any = None, fold: Any = None) -> str | None:
    """What ``rnnlab search`` and ``recipe`` say once of their score where ``rnnlab train`` says it
    too: a regression's ``val_rmse`` over targets of very different scales is the large ones'
    (:func:`rnnlab.task.pooled_rmse_note`, of the training part's standard deviations); None
    otherwise. ``split``: the data already read (else read with ``fold``, the test split left out).

    >>> from rnnlab.config import parse_config
    >>> metric_note(parse_config('[data]\\ndataset = "UnitTest"'), "val_acc") is None
    True
    """
    from rnnlab.data import load_data
    from rnnlab.task import pooled_rmse_note, task_for

    task = task_for(config)
    if task.kind != "regression" or task.per_step or metric != "val_rmse":
        return None
    if split is None:
        split = load_data(config.data, seed=config.training.seed, fold=fold, task=task)
    std = split.targets.std if split.targets is not None else None
    return None if std is None else pooled_rmse_note(std, task.target_names(len(std)))


@dataclass
class TrialResult:
    """Per-seed, per-fold scores of the runs that finished (what each run predicts: its kept
    model's, or its mean guard's training mean, :func:`_score`), and where it was pruned."""

    metric: str
    scores: list[list[float]]
    epochs: list[list[int]]
    """Each run's last epoch."""
    run_dirs: list[str] = field(default_factory=list)
    pruned_at: dict[str, int] | None = None
    kept: list[list[dict[str, int]]] = field(default_factory=list)
    """Per seed and fold, the ``epoch`` and ``step`` of the model the run kept (:func:`_kept`):
    how long the scored model trained, which a final run of the config trains for under early
    stopping (:func:`kept_lengths`, :func:`rnnlab.train.final.final_length`)."""

    @property
    def values(self) -> list[float]:
        return [v for per_seed in self.scores for v in per_seed]

    @property
    def mean(self) -> float:
        """The trial's score: the mean over every finished (seed, fold) run."""
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def std(self) -> float:
        """The spread of the fold scores (:func:`rnnlab.tables.spread`: their sample standard deviation)."""
        from rnnlab.tables import spread

        return float(spread(self.values)) if self.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """What ``trial.json`` holds; ``"std"`` is None over fewer than two scores, as the pages show
        "-" (:func:`rnnlab.tables.with_spread`): one score has no spread, and a 0.0 would claim one.

        >>> TrialResult("val_acc", [[0.5]], [[3]]).to_dict()["std"] is None
        True
        """
        std = self.std if len(self.values) >= 2 else None
        return {"metric": self.metric, "mean": self.mean, "std": std, "scores": self.scores,
                "epochs": self.epochs, "kept": self.kept, "run_dirs": self.run_dirs, "pruned_at": self.pruned_at}


def kept_lengths(trial_dir: str | Path) -> list[dict[str, int]]:
    """The kept models' lengths, ``{"epoch": E, "step": S}`` per (seed, fold) run, from every
    ``trial.json`` at or under ``trial_dir`` (a search's trial directory; a recipe candidate's,
    whose seeds each have their own). A ``trial.json`` written before they were recorded adds
    none.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write_json(d / TRIAL_FILE, {"kept": [[{"epoch": 3, "step": 6}, {"epoch": 5, "step": 10}]]})
    >>> kept_lengths(d)
    [{'epoch': 3, 'step': 6}, {'epoch': 5, 'step': 10}]
    """
    lengths = []
    for path in sorted(Path(trial_dir).glob(f"**/{TRIAL_FILE}")):
        for per_seed in read_json(path).get("kept") or []:
            lengths += [{"epoch": int(k["epoch"]), "step": int(k["step"])} for k in per_seed]
    return lengths


def carried_guard(trial_dir: str | Path) -> CarriedGuard | None:
    """The mean guards' decision (``[task] mean_guard``) that a final run carries from the fold
    runs at or under ``trial_dir`` (the runs :func:`kept_lengths` reads), by majority
    (:func:`carried_of`); None when every guard kept its model, or no run had one: the final run
    then tests its model, as those runs scored theirs.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for fold, kept in enumerate([False, False, True], 1):
    ...     (d / f"fold-{fold}").mkdir()
    ...     atomic_write_json(d / f"fold-{fold}" / "summary.json", {"mean_guard": {"kept": kept}})
    >>> carried_guard(d).carried
    '2 of 3 fold runs'
    """
    runs = [p.parent for p in sorted(Path(trial_dir).glob("**/fold-*/summary.json"))]
    # (a plan of one hold-out has one fold, fold-1, of one seed or several)
    unit = "hold-out runs" if runs and {r.name for r in runs} == {"fold-1"} else "fold runs"
    return carried_of([(RunDir(r).read_summary() or {}).get("mean_guard") for r in runs], unit)


def carried_of(guards: Sequence[Any], unit: str = "fold runs") -> CarriedGuard | None:
    """The decision carried from the fold runs' ``mean_guard`` records (``guards``; those that are
    not a guard's record, a run without one, are left out): every output at its baseline when more
    than half of the runs did not keep the model; with K > 1 targets decided one by one (a record
    with ``at_mean``), each target at its training mean when more than half of the runs put it
    there (a run that did not keep the model put every target there); a tie keeps the model. None
    when every guard kept its model (and predicted every target by it), or there is none.
    ``unit``: what the runs were (:attr:`rnnlab.train.final.CarriedGuard.unit`).

    >>> carried_of([{"kept": False}, {"kept": False}, {"kept": True}]).kept
    False
    >>> carried_of([{"kept": False}, {"kept": True}]).kept  # (a tie keeps the model)
    True
    >>> two = {"conc": {}, "count": {}}
    >>> g = carried_of([{"kept": True, "at_mean": ["count"], "by_target": two},
    ...                 {"kept": False, "at_mean": ["conc", "count"], "by_target": two},
    ...                 {"kept": True, "at_mean": [], "by_target": two}])
    >>> g.kept, g.at_mean, g.targets, g.mean_targets
    (True, ('count',), {'conc': 1, 'count': 2}, [1])
    >>> carried_of([{"kept": True}, None]) is None
    True
    """
    from rnnlab.train.final import CarriedGuard

    records = [g for g in guards if isinstance(g, dict) and "kept" in g]
    said = [g for g in records if g.get("kept") is False or g.get("at_mean")]
    if not said:
        return None
    runs, chose = len(records), sum(1 for g in records if g.get("kept") is False)
    baseline = str(said[0].get("baseline") or "the training mean")
    names = next((list(g["by_target"]) for g in records if g.get("at_mean") is not None
                  and isinstance(g.get("by_target"), dict)), None)
    if names is None:  # (one decision for every output: one target, a forecaster, an older summary)
        return CarriedGuard(kept=2 * chose <= runs, runs=runs, chose_mean=chose, baseline=baseline, unit=unit)

    def at_mean(g: dict[str, Any]) -> set[str]:  # (a record from before the guard decided target by target: all or none)
        return set(names) if g.get("kept") is False else set(g.get("at_mean") or ())

    votes = {name: sum(1 for g in records if name in at_mean(g)) for name in names}
    mean = tuple(name for name in names if 2 * votes[name] > runs)
    return CarriedGuard(kept=len(mean) < len(names), runs=runs, chose_mean=chose, baseline=baseline,
                        at_mean=mean, targets=votes, unit=unit)


def guard_note(trial_dir: str | Path) -> str | None:
    """What the final run of the config whose fold runs are at or under ``trial_dir`` predicts, as
    their mean guards decided (:func:`carried_guard`), in a line said before it trains; None when
    every guard kept its model, or no run had one.

    >>> import tempfile
    >>> guard_note(tempfile.mkdtemp()) is None
    True
    """
    carried = carried_guard(trial_dir)
    return None if carried is None else carried.line()


def _fold_shape(data: str, kind: str, per_step: bool, seed: int, fold: Fold) -> tuple[int, int]:
    """(training sequences, padded length) of a fold's training part (``kind``, ``per_step``: the
    task's), of the data config ``data`` (JSON) as its files are now: a file written again at the
    same path (a notebook that regenerates its data) is read again, not its earlier shape."""
    from rnnlab.config import DataConfig

    return _fold_shape_of(data, _files_read(DataConfig.model_validate_json(data)), kind, per_step, seed, fold)


def _files_read(data: Any) -> tuple[tuple[str, int, int] | tuple[str], ...]:
    """Each file the data config ``data`` names, by path, size and modification time (a path that
    cannot be read: by its path alone; a bundled data set names none)."""
    out: list[tuple[str, int, int] | tuple[str]] = []
    for path in (data.path, data.test_path):
        if path is None:
            continue
        try:
            stat = Path(path).stat()
        except OSError:
            out.append((str(path),))
            continue
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _fold_shape_of(data: str, files: tuple[Any, ...], kind: str, per_step: bool, seed: int,
                   fold: Fold) -> tuple[int, int]:
    """:func:`_fold_shape`, cached by the data config and its files' identity (``files``, read by
    :func:`_files_read`): the trial runner asks it for every trial, and reading a large file is slow."""
    from rnnlab.config import DataConfig
    from rnnlab.data import load_data
    from rnnlab.task import task_named

    split = load_data(DataConfig.model_validate_json(data), seed=seed, fold=fold,
                      task=task_named(kind, per_step)).train
    return len(split), int(split.X.shape[1])


@dataclass(frozen=True)
class FoldBudget:
    """How many epochs a fold's run trains, as its trainer plans them (:func:`fold_budgets`)."""

    epochs: int
    """The planned epochs: ``training.epochs``, or ``training.steps`` (after the shape rules,
    ``adapt.shape``) in whole epochs of the fold's training part."""
    most: int
    """The most it can train: with ``adapt.budget``, the epochs at the budget's cap
    (``adapt.max_steps``), which a model that underfits is extended to; else ``epochs``."""


def fold_budgets(config: Config, plan: FoldPlan) -> list[FoldBudget]:
    """Each fold's :class:`FoldBudget`, planned by the trainer's own functions: the shape rules
    (:func:`~rnnlab.train.shape_rules.adapt_to_shape`), the fold's optimizer steps an epoch
    (:func:`~rnnlab.train.trainer.epoch_steps` of the trainer's batching) and the fit budget's
    cap (:meth:`~rnnlab.train.fit_budget.FitBudget.plan`).

    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nsteps = 6\\nbatch_size = 8\\n'
    ...                    '[adapt]\\nbudget = true\\nmax_steps = 40')
    >>> fold_budgets(cfg, FoldPlan(k=2, seed=0))  # 10 training series a fold: 2 steps an epoch
    [FoldBudget(epochs=3, most=20), FoldBudget(epochs=3, most=20)]
    """
    from rnnlab.train.shape_rules import adapt_to_shape

    return _planned_budgets(adapt_to_shape(config)[0], plan)


def _planned_budgets(config: Config, plan: FoldPlan) -> list[FoldBudget]:
    """:func:`fold_budgets` of a config the shape rules have already been applied to."""
    from rnnlab.train.fit_budget import FitBudget
    from rnnlab.train.trainer import batching, epoch_steps, merges_single_batch

    tc = batching(config)
    if tc.steps is None and not config.adapt.budget:
        return [FoldBudget(tc.epochs_for(1), tc.epochs_for(1))] * plan.k
    data = config.data.model_dump_json()
    merge = merges_single_batch(config)
    kind, per_step = config.task.kind, config.task.per_step
    budgets = []
    for fold in plan.folds():
        per_epoch = epoch_steps(*_fold_shape(data, kind, per_step, tc.seed, fold), tc, merge_single=merge)
        epochs = tc.epochs_for(per_epoch)
        most = epochs
        if config.adapt.budget:
            most = FitBudget.plan(per_epoch * epochs, per_epoch, config.adapt.max_steps).cap // per_epoch
        budgets.append(FoldBudget(epochs, most))
    return budgets


def fold_epochs(config: Config, plan: FoldPlan) -> list[int]:
    """The most epochs each fold's run trains (:attr:`FoldBudget.most`): ``training.epochs``, or
    with ``training.steps`` as many as the fold's training part needs for that many optimizer
    steps; the ``[adapt]`` rules' budget where they change it.

    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nsteps = 100\\nbatch_size = 10')
    >>> fold_epochs(cfg, FoldPlan(k=5, seed=0))   # 40 training series a fold: 4 steps an epoch
    [25, 25, 25, 25, 25]
    """
    return [b.most for b in fold_budgets(config, plan)]


def _finished(run: Path, recorded: Config, budget: FoldBudget) -> dict[str, Any] | None:
    """The last record of a finished run in ``run`` of the config the trainer records
    (``recorded``: the names derived, the shape rules applied), planned as ``budget`` (None: not
    there or unfinished, e.g. pruned)."""
    rd = RunDir(run)
    summary = rd.read_summary()
    if summary is None or not rd.config.exists() or rd.read_config() != recorded:
        return None
    records = rd.read_metrics()
    if not records:
        return None
    if summary.get("stopped_early"):
        return records[-1]
    # (a budget that follows the fit moved the run's end: adapt.json holds where it now ends)
    fit = (rd.read_adapt() or {}).get("budget")
    ended = (int(records[-1]["step"]) >= int(fit["total"]) if fit is not None
             else records[-1]["epoch"] == budget.epochs)
    return records[-1] if ended else None


def _kept(run: Path, config: Config) -> dict[str, Any]:
    """The epoch record of the model the finished ``run`` kept, whose score a trial counts
    (:func:`rnnlab.train.best.kept_record`: under early stopping its best epoch, whose weights it
    restored and tested, not the epochs it trained past it; else its last)."""
    from rnnlab.task import task_for
    from rnnlab.train.best import best_record, kept_record

    records = RunDir(run).read_metrics()
    es = config.training.early_stopping
    kept = kept_record(records, best_record(records, es.monitor, task_for(config), es.min_delta), config)
    return kept if kept is not None else records[-1]


def _score(run: Path, kept: dict[str, Any], metric: str) -> float:
    """The fold score of the finished ``run``: ``metric`` of what it predicts
    (:func:`rnnlab.train.mean_guard.scored_record`), its ``kept`` model's or, where its mean guard
    chose the training mean, that prediction's; a one-line error where its records do not give that
    figure (a forecaster's reference forecast that is the training mean, or a regression's
    ``val_mae`` in a run from before the mean's absolute errors were recorded): the model's would
    score a prediction the run does not make."""
    from rnnlab.errors import ConfigError
    from rnnlab.train.mean_guard import guarded_figures, scored_record

    summary = RunDir(run).read_summary()
    value = scored_record(kept, summary).get(metric, kept[metric])
    if value is None:
        known = sorted(guarded_figures(summary or {}) or {})
        block = (summary or {}).get("mean_guard") or {}
        baseline = block.get("baseline") or "the training mean"
        instead = f"score by one they give ({', '.join(known)}), or" if known else "they give none of its figures:"
        # (a regression's guard records the mean's absolute errors since they were needed for this; a run
        # written before that is reused as finished, so it has to be trained again to have them)
        older = (" (written before rnnlab recorded the training mean's absolute errors: to have them, train the "
                 "fold runs again, in a new --out or once these are deleted)"
                 if metric == "val_mae" and block.get("rows", "series") == "series" else "")
        raise ConfigError(f"search.metric = {metric!r}: the fold run {run} predicts {baseline} where its mean guard "
                          f"chose it (task.mean_guard), and its records{older} do not give that prediction's "
                          f"{metric}; {instead} set task.mean_guard = false")
    return float(value)


def fold_runs_found(directory: Path, config: Config, seed: int, plan: FoldPlan) -> tuple[int, int]:
    """How many of one (config, seed)'s fold runs in ``directory`` (as the recipe's candidates lay
    them out: ``fold-1``, ...) :func:`run_trial` will reuse as finished, and how many it will resume
    from their checkpoint.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nepochs = 2')
    >>> fold_runs_found(Path(tempfile.mkdtemp()) / "seed-0", cfg, 0, FoldPlan(k=2, seed=0))
    (0, 0)
    """
    from rnnlab.rundir import CHECKPOINTS, LAST_CHECKPOINT
    from rnnlab.train.shape_rules import adapt_to_shape
    from rnnlab.train.trainer import with_derived_names

    if not directory.is_dir():
        return 0, 0
    # (the same tests run_trial makes: the config as its trainer records it, the fold's budget)
    cfg = config.model_copy(update={"training": config.training.model_copy(update={"seed": seed})})
    recorded = adapt_to_shape(with_derived_names(cfg))[0]
    budgets = _planned_budgets(recorded, plan)
    reused = resumed = 0
    for fold in plan.folds():
        run = directory / f"fold-{fold.index + 1}"
        if _finished(run, recorded, budgets[fold.index]) is not None:
            reused += 1
        elif (run / CHECKPOINTS / LAST_CHECKPOINT).exists():
            resumed += 1
    return reused, resumed


def run_trial(config: Config, plan: FoldPlan, out: str | Path, *, seeds: Sequence[int] | None = None,
              metric: str | None = None, report: Report | None = None, workers: int = 1) -> TrialResult:
    """Train ``config`` on every fold of ``plan`` for each seed (default: its training.seed).

    ``out`` receives ``config.toml`` (the trial's complete config), one run directory per
    (seed, fold) and ``trial.json`` (this result). ``report`` sees each epoch's ``metric`` (None:
    the task's score, :attr:`rnnlab.task.Task.score`);
    ``workers`` is the number of processes running trials side by side (the thread policy
    splits the CPUs among them).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One process runs a trial: its runs are locked by the trainer, its own files by this lock.
    with DirLock(out, "trial directory").acquire():
        from rnnlab.task import task_for

        return _run_trial_locked(config, plan, out, seeds, metric or task_for(config).score, report, workers)


def _run_trial_locked(config: Config, plan: FoldPlan, out: Path, seeds: Sequence[int] | None, metric: str,
                      report: Report | None, workers: int) -> TrialResult:
    from rnnlab.train.shape_rules import adapt_to_shape
    from rnnlab.train.trainer import train, with_derived_names

    atomic_write_text(out / CONFIG, dump_config(config))
    seeds = list(seeds) if seeds is not None else [config.training.seed]
    result = TrialResult(metric, [[] for _ in seeds], [[] for _ in seeds], kept=[[] for _ in seeds])
    configs = [config.model_copy(update={"training": config.training.model_copy(update={"seed": seed})})
               for seed in seeds]
    # (each run's config as its trainer records it in config.toml: names derived, shape rules applied)
    recorded = [adapt_to_shape(with_derived_names(cfg))[0] for cfg in configs]
    budgets = [_planned_budgets(r, plan) for r in recorded]
    # One stride for every run, as wide as the longest a run may train (the fit budget may extend
    # a run past its plan): a run's reports never reach the next run's steps, and every trial of
    # the same budget reports the same fold's same epoch at the same step.
    stride = max(b.most for per_seed in budgets for b in per_seed)
    for s, (seed, cfg) in enumerate(zip(seeds, configs, strict=True)):
        for fold in plan.folds():
            index = s * plan.k + fold.index
            run = (out / f"seed-{seed}" if len(seeds) > 1 else out) / f"fold-{fold.index + 1}"
            result.run_dirs.append(str(run.relative_to(out)))
            last = _finished(run, recorded[s], budgets[s][fold.index])
            if last is None:
                stop: dict[str, int] = {}

                def on_epoch(record: dict[str, Any], index: int = index, fold: Fold = fold,
                             seed: int = seed, stop: dict[str, int] = stop) -> bool:
                    step = index * stride + int(record["epoch"])
                    if report is not None and report(step, float(record[metric])):
                        stop.update(seed=seed, fold=fold.index + 1, epoch=int(record["epoch"]), step=step)
                        return True
                    return False

                resume = (run / CHECKPOINTS / LAST_CHECKPOINT).exists()
                if not resume:
                    # Killed before its first checkpoint: nothing to resume from, and the seeded
                    # run started again writes the same records.
                    discard_run(run)
                train(cfg, out=run, resume=resume, progress=False, log=None, fold=fold, on_epoch=on_epoch,
                      workers=workers)
                if stop:
                    result.pruned_at = stop
                    atomic_write_json(out / TRIAL_FILE, result.to_dict())
                    return result
                last = RunDir(run).read_metrics()[-1]
            kept = _kept(run, recorded[s])
            result.scores[s].append(_score(run, kept, metric))
            result.kept[s].append({"epoch": int(kept["epoch"]), "step": int(kept["step"])})
            result.epochs[s].append(int(last["epoch"]))
    atomic_write_json(out / TRIAL_FILE, result.to_dict())
    return result


def drop_checkpoints(trial_dir: str | Path) -> None:
    """Delete the checkpoints of every run of a trial (its config and records stay)."""
    for ckpt in sorted(Path(trial_dir).glob("**/checkpoints")):
        if ckpt.is_dir():
            shutil.rmtree(ckpt, ignore_errors=True)
