"""The search: Optuna's sampler and pruner over :func:`~rnnlab.search.trial.run_trial`.

:func:`run_search` opens (or continues) a study, runs trials in one or ``workers`` processes
until the study has ``trials`` finished (complete or pruned) trials or the time is up, then
writes ``DIR/best.toml`` (the best trial's complete config), retrains it on the whole training
split into ``DIR/final/`` and evaluates the test split there, once (``DIR/final.json``), and
writes ``DIR/study.html``.

Study directory::

    DIR/
      .rnnlab-study     marker: this is the study directory of study NAME (it holds that one)
      study.json        study name and storage (what `rnnlab study DIR` opens)
      journal.log       the Optuna journal (no --storage)
      trained_data.json the SHA-256 of data.path's and data.test_path's files (a continued study checks them)
      trials/0007/      a trial: config.toml, trial.json, fold-1/ .. fold-k/ (run directories)
      best.toml         complete config of the best trial (rnnlab train best.toml)
      final/            the best config trained on the whole training split; final.json
      study.html        the study report

Who writes what: several processes work on one study by design (``--workers``, or the same
command started again or on another machine), so the study directory is not held for a whole
search. Its own files (the marker, study.json, search.toml, best.toml, final/, study.html) are
written under its lock (:func:`rnnlab.rundir.claim`, waiting for another writer), by one
process at a time; each trial directory is held by the worker running the trial, and each run
directory by its trainer, for as long as they write them.

Example:
    >>> run_search(SearchOptions(config="my.toml", trials=20))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from rnnlab._checks import did_you_mean
from rnnlab.config import Config, SearchConfig, dump_config, load_config, parse_config
from rnnlab.device import device_asked_by, require_device, use_worker_device, with_device
from rnnlab.errors import ConfigError, Interrupted, RnnlabError, SearchError
from rnnlab.lock import DirLock
from rnnlab.rundir import (
    STUDY,
    atomic_write_json,
    atomic_write_text,
    cannot_write,
    claim,
    missing_folders,
    read_json,
    read_marker,
    refused_write,
    remove_empty_folders,
)
from rnnlab.search.space import Space, baseline_values, space_from_config
from rnnlab.search.storage import (
    BASELINE_ATTR,
    DIED_RETRIES,
    FAILED_ATTR,
    JOURNAL,
    KEPT_EPOCHS_ATTR,
    REFUSED_ATTR,
    RETRY_HISTORY,
    SAME_AS_ATTR,
    STOPPED_BY_ATTR,  # noqa: F401  (what stopped an interrupted trial: read from this module too)
    SURPLUS_ATTR,
    baseline_needed,
    crash_reason,
    fail_stale,
    gone_before_stale,
    heartbeat_grace,
    interrupted,
    lose_trial,
    mask,
    note_stop,
    open_storage,
    open_study,
    outage_words,
    process_alive,
    process_identity,
    recorded_url,
    retriable,
    state_counts,
    stop_trial,
    stop_words,
    trial_state,
    unreachable,
    worker_attrs,
    worker_gone,
)
from rnnlab.search.trained_data import TRAINED_DATA, check_trained_data
from rnnlab.search.trial import (
    FoldPlan,
    carried_guard,
    drop_checkpoints,
    fold_budgets,
    kept_lengths,
    metric_note,
    plan_for_config,
    run_trial,
)
from rnnlab.shellcmd import shell_command
from rnnlab.stops import HANGUP, STOPS, ignored, raise_stop
from rnnlab.tables import spread, with_spread
from rnnlab.task import Metric, Task, task_for
from rnnlab.threads import warn_oversubscribed, workers_share_cores
from rnnlab.train.checkpoint import versions
from rnnlab.train.final import final_line, final_phrase, retrain_and_test, reusable, trained_phrase
from rnnlab.train.timing import seconds_text

Log = Callable[[str], None] | None
STUDY_FILE = "study.json"
FINAL_FILE = "final.json"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: key paths that change what :func:`~rnnlab.train.trainer.check_plan` checks
PLAN_KEYS = ("data.", "training.steps", "training.epochs", "training.batch_size", "training.schedule",
             "training.early_stopping", "training.stateful_window")
#: ``--reports``: which trials' run reports are drawn (``search.reports``).
REPORTS = ("best", "all", "none")
#: Trials in a row of one search that failed or were refused, after which it starts no more.
STOP_AFTER_IN_A_ROW = 10


@dataclass(frozen=True)
class SearchOptions:
    """The command line of ``rnnlab search`` (None: from the config's ``[search]`` / defaults)."""

    config: str
    trials: int | None = None
    timeout: float | None = None
    workers: int = 1
    storage: str | None = None
    study: str | None = None
    out: str | None = None
    final: bool = True
    """Retrain the best config on the whole training split and evaluate the test split."""
    reports: str | None = None
    """Which trials' run reports are drawn ("best", "all", "none"; None: ``search.reports``)."""
    device: str | None = None
    """``--device`` (None: ``training.device``); see :mod:`rnnlab.device` for how workers share GPUs."""
    progress: bool | None = None
    """A tqdm bar of finished trials (best so far, pruned, failed, ETA) above the trial lines;
    None: only when stderr is a terminal."""
    quiet: bool = False
    """No line per trial (nor progress bar); the study's own lines and the result are said."""


@dataclass
class Setup:
    """Everything a worker needs, computed once from the options (picklable for spawn)."""

    options: SearchOptions
    base: Config
    search: SearchConfig
    trials: int
    study_name: str
    out: Path
    plan: FoldPlan
    space: Space
    direction: str
    epochs: int
    """The most epochs a fold run of the base config trains (the pruner's steps per fold)."""
    warmup: int
    """The epochs of fold 1 before the pruner judges: a quarter of those its run plans (not of
    :attr:`epochs`, which with ``adapt.budget`` is the cap an extended run may reach)."""
    baseline: dict[str, Any] | None = None
    """The params that give the base config itself (its first trial), None: outside the space
    or ``search.baseline = false``."""
    outside: str = ""
    """Why the base config is not a trial (where it lies outside the space)."""
    notes: tuple[str, ...] = ()
    """What the search changed of what the config asked for, said after its first line."""
    history: int = 0
    """The trials the study held when this search started (0: a new study): mixed into the
    sampler's seed (:func:`worker_seed`), so that a continued study draws new points."""


def prepare(options: SearchOptions) -> Setup:
    """Read the config, choose the folds, build and check the space (no trial runs yet)."""
    from rnnlab.data import load_data

    if options.workers < 1:
        raise SearchError(f"--workers: expected at least 1, got {options.workers}")
    if options.trials is not None and options.trials < 1:
        raise SearchError(f"--trials: expected at least 1, got {options.trials}")
    if options.timeout is not None and not (0 < options.timeout < math.inf):  # (nan is refused too)
        raise SearchError(f"--timeout: expected a finite number of seconds > 0, got {options.timeout:g}")
    from rnnlab.train.trainer import with_derived_names

    base = with_derived_names(load_config(options.config))  # name and output.dir follow the data, as in train
    base = with_device(base, options.device)
    # (every trial would fail alike: refused now, naming the flag or key, before anything is written)
    require_device(base.training.device, device_asked_by(options.device, options.config))
    warn_oversubscribed(base.training.threads, options.workers)
    task = task_for(base)
    search = base.search if base.search is not None else SearchConfig(metric=task.score)
    if options.reports is not None:
        if options.reports not in REPORTS:
            raise SearchError(f"--reports: expected one of {', '.join(REPORTS)}, got {options.reports!r}"
                              f"{did_you_mean(options.reports, REPORTS)}")
        search = search.model_copy(update={"reports": options.reports})
    base = base.model_copy(update={"search": search})
    plan = plan_for_config(base, search)
    split = load_data(base.data, seed=base.training.seed, fold=plan.folds()[0], task=task)
    width = task.head_width(split.classes, split.train.y)
    space = space_from_config(base, split.channels, width)
    if not any(p.name.startswith(PLAN_KEYS) for p in space.params):
        # A budget the trainer refuses fails every trial alike: say so now, naming the key.
        from rnnlab.train.trainer import check_plan

        check_plan(base, split)
    name = options.study or base.name
    out = Path(options.out or f"{base.output.dir}-search")
    direction = task.direction(str(search.metric))
    baseline, outside = (baseline_values(space, base, split.channels, width) if search.baseline
                         else (None, ""))
    notes = []
    if search.folds and plan.k != search.folds:
        why = ("the first fold trains on data.streams rows of data.bptt steps" if task.stream else
               f"every fold holds series of each {'class' if task.kind == 'classification' else 'stratum of the target'}")
        notes.append(f"search.folds = {search.folds} is more than the training split allows ({why}): the search "
                     f"uses {plan.describe()}")
    scored = metric_note(base, str(search.metric), split)
    if scored is not None:
        notes.append(scored.removeprefix("note: "))
    budgets = fold_budgets(base, plan)
    return Setup(options, base, search, options.trials or search.trials, name, out, plan, space, direction,
                 max(b.most for b in budgets), max(1, budgets[0].epochs // 4), baseline, outside, tuple(notes))


def make_sampler(search: SearchConfig, seed: int) -> optuna.samplers.BaseSampler:
    """TPE (or random) with every argument set: Optuna 5 moved TPE's defaults."""
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(n_startup_trials=search.startup_trials, n_ei_candidates=24, seed=seed,
                                          multivariate=True, group=False, constant_liar=True)


def make_pruner(search: SearchConfig, plan: FoldPlan, epochs: int, warmup: int) -> optuna.pruners.BasePruner:
    """Median or Hyperband over the steps of :func:`run_trial` (run_index * epochs + epoch, with
    ``epochs`` the most a fold run trains), judging from step ``warmup`` of the first fold."""
    if search.pruner == "none":
        return optuna.pruners.NopPruner()
    if search.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(search.startup_trials, 1),
                                           n_warmup_steps=warmup, interval_steps=1, n_min_trials=1)
    return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=plan.k * epochs, reduction_factor=3)


#: The arguments :func:`make_sampler` and :func:`make_pruner` set, by the class they build: what
#: :func:`optuna_settings` reads back from the object built (Optuna keeps each as ``_name``).
BUILT_WITH = {"TPESampler": ("n_startup_trials", "n_ei_candidates", "multivariate", "group", "constant_liar"),
              "RandomSampler": (),
              "MedianPruner": ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"),
              "HyperbandPruner": ("min_resource", "max_resource", "reduction_factor"),
              "NopPruner": ()}


def optuna_settings(built: Any, seed: Any = None) -> dict[str, Any]:
    """The Optuna sampler or pruner ``built`` as it was built, read back from the object (not
    from what rnnlab means to pass), with the sampler's ``seed`` (which Optuna does not keep):
    study.json's ``sampler`` and ``pruner``.

    >>> optuna_settings(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    {'class': 'MedianPruner', 'n_startup_trials': 1, 'n_warmup_steps': 2, 'interval_steps': 1, 'n_min_trials': 1}
    """
    name = type(built).__name__
    said: dict[str, Any] = {"class": name}
    for arg in BUILT_WITH.get(name, ()):
        value = getattr(built, f"_{arg}", None)
        said[arg] = value if isinstance(value, (bool, int, float, str)) or value is None else repr(value)
    if seed is not None:
        said["seed"] = seed
    return said


def settings_text(said: dict[str, Any]) -> str:
    """:func:`optuna_settings` as a call: ``"MedianPruner(n_startup_trials=1, ...)"``.

    >>> settings_text({"class": "TPESampler", "n_startup_trials": 5, "seed": [0, 1]})
    'TPESampler(n_startup_trials=5, seed=[0, 1])'
    """
    return f"{said.get('class', '?')}({', '.join(f'{k}={v}' for k, v in said.items() if k != 'class')})"


def _seeds(setup: Setup) -> list[int] | str:
    """The sampler seeds of this command's workers (:func:`worker_seed`); on a database with
    several workers each spawned process mixes in its own pid, unknown here: the rule instead."""
    if setup.options.storage is not None and setup.options.workers > 1:
        return "per process: search.seed mixed with the trials the study held, host, pid and worker"
    return [worker_seed(setup, w) for w in range(setup.options.workers)]


# ------------------------------------------------------------------------------ one worker


def space_summary(space: Space) -> str:
    """The space in the search's first line: its parameters, and those a trial samples only where
    they apply, so the count matches the report's importances (fANOVA reads the parameters every
    complete trial has).

    >>> from rnnlab.search.space import Param
    >>> space_summary(Space([Param("training.shuffle", "choice", choices=("samples", "batches")),
    ...     Param("training.shuffle_within_batch", "choice", choices=(False, True),
    ...           requires=("training.shuffle", "batches"))]))
    '2 parameters (1 in every trial, training.shuffle_within_batch only when training.shuffle = batches)'
    """
    n = len(space.params)
    notes = ["the default regularization space"] if space.default else []
    conditional = [p for p in space.params if p.requires is not None]
    if conditional:
        notes.append(f"{n - len(conditional)} in every trial, " + ", ".join(
            f"{p.name} only when {p.requires[0]} = {p.requires[1]}" for p in conditional if p.requires is not None))
    return f"{n} parameter{'' if n == 1 else 's'}" + (f" ({'; '.join(notes)})" if notes else "")


def score_words(task: Task, key: str) -> str:
    """Score ``key`` as the first lines of ``rnnlab search`` and ``rnnlab recipe`` name it: with
    its direction (:meth:`~rnnlab.task.Task.describe`), and for per-step targets the metric's
    label too, since ``val_acc`` alone reads as the share of sequences classified right.

    >>> from rnnlab.task import CLASSIFICATION, PER_STEP_CLASSIFICATION
    >>> score_words(PER_STEP_CLASSIFICATION, "val_acc"), score_words(CLASSIFICATION, "val_acc")
    ('val_acc (per-step accuracy; higher is better)', 'val_acc (higher is better)')
    """
    said, metric = task.describe(key), task.metric(key)
    if not task.per_step or task.stream or metric.label == metric.name:
        return said  # (a stream's metrics are per step by nature; "loss" says no more than its key)
    return said.replace(f"{key} (", f"{key} ({metric.label}; ", 1)


def _counts(study: optuna.Study) -> dict[str, int]:
    """Trials per state as a person is shown them: ``fail`` without the interrupted ones."""
    return _shown_counts(study.get_trials(deepcopy=False))


def _shown_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    """:func:`~rnnlab.search.storage.state_counts`, with ``refused``: the pruned trials whose
    values the config refused (:data:`REFUSED_ATTR`), counted among the pruned too."""
    c = state_counts(trials)
    c["refused"] = sum(1 for t in trials if t.state == TrialState.PRUNED and REFUSED_ATTR in t.user_attrs)
    return c


def _objective(setup: Setup) -> Callable[[optuna.Trial], float]:
    """The trial: sample, train ``run_trial`` on the folds, return the mean score.

    A sample equal to the parameters of an earlier complete trial is not trained again: the
    trial takes that trial's score, fold scores and config (``same_params_as`` names it) and is
    complete at once, as Optuna's FAQ does it ("How can I ignore duplicated samples?": return
    the earlier value). It counts toward ``--trials`` like any trial, the sampler sees the same
    value for the same point, and the earlier trial stays the best of the two (Optuna keeps the
    first of equal values). Only complete trials are reused: a pruned, failed or interrupted one
    has no score to give.

    A new trial that the trials created before it already make up ``--trials`` without is
    surplus (:func:`_surplus`): two workers that counted at the same moment (in
    :func:`_trials_until_done`) both created one. The storage orders the trials it creates (the
    journal by its file lock, the database by its trial id sequence), so the later of the two
    ends at once, untrained and before it draws parameters, stored as FAIL with ``surplus`` set
    (:data:`~rnnlab.search.storage.SURPLUS_ATTR`): counted neither as done nor as failed, and
    shown in no line or report; the earlier one runs. Trials created before it that fail later
    (or are interrupted) leave room again, and the worker's next count fills it.
    """
    metric = setup.search.metric

    def objective(trial: optuna.Trial) -> float:
        global _refused_in, _running_trial

        def record(key: str, value: Any) -> None:
            with _stops_held():  # (every write to the study: see _stops_held)
                trial.set_user_attr(key, value)

        def report(step: int, value: float) -> bool:
            with _stops_held():
                trial.report(value, step)
                return trial.should_prune()

        trial_dir = setup.out / "trials" / f"{trial.number:04d}"
        _running_trial = (trial_dir, trial._trial_id)
        # (every record inside the try, those before and after training too: a stop that lands
        # anywhere in the trial marks it interrupted, not failed)
        try:
            if _surplus(trial, setup.trials):
                record(SURPLUS_ATTR, True)
                raise SearchError(f"trial {trial.number} is surplus: the trials created before it make up "
                                  f"--trials {setup.trials} (another worker counted at the same moment)")
            for k, v in worker_attrs().items():
                record(k, v)
            with _stops_held():
                values = setup.space.sample(trial)
            same = _same_params(trial)
            if same is not None:
                record(SAME_AS_ATTR, same.number)
                for key in ("config", "fold_scores", "epochs", KEPT_EPOCHS_ATTR, "spread"):
                    if key in same.user_attrs:
                        record(key, same.user_attrs[key])
                return float(same.value)  # type: ignore[arg-type]
            try:
                config = setup.space.apply(setup.base, values)
            except ConfigError as e:
                # A combination the config's own validation refuses, before any training: pruned,
                # not failed. TPE ignores a FAIL trial (and drew the same combination again and
                # again) but ranks a PRUNED one without intermediate values below every scored
                # trial (optuna.samplers._tpe.sampler._get_pruned_trial_score), so it learns to
                # avoid the combination; and it counts toward --trials like any pruned trial.
                record(REFUSED_ATTR, str(e))
                raise optuna.TrialPruned(f"refused by the config: {e}") from None
            record("dir", str(trial_dir))
            resumed = _take_over_retried(setup.out, trial, trial_dir)
            if resumed is not None:
                record("resumes_trial", resumed)
            record("config", dump_config(config))
            result = run_trial(config, setup.plan, trial_dir, metric=metric, report=report,
                               workers=setup.options.workers)
            record("fold_scores", result.values)
            record("epochs", [e for per_seed in result.epochs for e in per_seed])
            if config.training.early_stopping.patience > 0:  # (else each run kept its last epoch)
                record(KEPT_EPOCHS_ATTR, [k["epoch"] for per_seed in result.kept for k in per_seed])
            if setup.search.reports == "all":
                draw_trial_report(trial_dir)  # after the scores are recorded
            if result.pruned_at is not None:
                record("pruned_at", result.pruned_at)
                raise optuna.TrialPruned(f"pruned at fold {result.pruned_at['fold']}, "
                                         f"epoch {result.pruned_at['epoch']}")
            record("spread", result.std)
            return result.mean
        except optuna.TrialPruned:
            raise
        except Exception as e:
            # (a run directory that cannot be made says so as a RunDirError, raised from the OSError)
            refused = refused_write(e)
            _refused_in = trial.number if refused is not None else None
            if isinstance(e, RnnlabError) and refused is None:
                record(FAILED_ATTR, str(e))  # e.g. a sampled combination the layer refuses, or divergence
                raise
            # A crash (a bug, torch's RuntimeError, MemoryError) or a write the disk refused (full,
            # read-only): no property of the config, so it is run again as a dead worker's trial
            # is (a refused write each time, since it is the disk's doing); the command still ends
            # with the error.
            if unreachable(e, setup.options.storage) is None:  # (a database gone takes no record: _note_lost_storage)
                try:
                    with _stops_held():
                        lose_trial(trial.study, trial.storage, trial.storage.get_trial(trial._trial_id),
                                   cannot_write(refused) if refused else crash_reason(e), fail=False,
                                   max_retry=None if refused else DIED_RETRIES)
                except OSError as also:
                    if refused is None or refused_write(also) is None:
                        raise
                    # (the journal refused it too: the trial stays running, and a search that
                    # finds its worker gone records it as lost and runs it again)
            if refused is not None and refused is not e:
                raise refused from None  # (not as an RnnlabError: Optuna would go on to the next trial)
            raise
        except KeyboardInterrupt:  # stopped, not failed: the config itself is run again
            if _in_main_thread():
                # A second Ctrl-C while Optuna records the trial breaks its bookkeeping (an
                # UnboundLocalError in optuna.study._optimize); the first one is enough.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            with _stops_held():  # the parent's SIGTERM must not land between the records
                # Queued again now (the next search runs it first, resuming its runs' checkpoints):
                # the trial is still ours, so no other process queues it too.
                stop_trial(trial.study, trial.storage, trial.storage.get_trial(trial._trial_id), _stopped_by(),
                           fail=False)
            raise

    return objective


#: What stopped the trial of a spawned worker whose search ended without stopping it (SIGKILL, the
#: out-of-memory killer): the kernel's parent-death signal (:func:`stop_with_parent`)
PARENT_GONE = ("the search (pid {pid}) ended without stopping its workers (killed, e.g. by kill -9 or the "
               "out-of-memory killer); its worker was stopped by the parent-death signal (SIGTERM)")
#: The search process that spawned this worker (:func:`_spawned_worker`); None in the search itself
_spawned_by: tuple[int, str | None] | None = None
#: Where the search that spawned this worker writes why it stops its workers, when that is not
#: its Ctrl-C, SIGTERM or SIGHUP (:func:`_stop_workers`); None in the search itself
_stop_cause: Any = None
#: The trial of this worker that a write the disk refused ended (what the search names when it
#: stops the other workers for it: :func:`refusal_stop_words`)
_refused_in: int | None = None
#: The bytes of :data:`_stop_cause` (shared memory, sized once: a longer cause is cut)
STOP_CAUSE_BYTES = 1024
#: This process's trial (its directory and trial id) from the start of its objective until Optuna
#: has recorded its end: the trial a lost database leaves running (:func:`_note_lost_storage`)
_running_trial: tuple[Path, int] | None = None


def _stopped_by() -> str | None:
    """What stopped this worker's trial where it is not the search's own Ctrl-C, SIGTERM or SIGHUP
    (None): :data:`PARENT_GONE` when its search no longer runs, else the cause the search gave
    when it stopped its workers (:func:`_stop_workers`). The SIGTERM of the search stopping its
    workers and the kernel's parent-death SIGTERM are the same signal: whether the search still
    runs tells them apart (it waits for its workers after stopping them)."""
    if _spawned_by is not None and not process_alive(*_spawned_by):
        return PARENT_GONE.format(pid=_spawned_by[0])
    if _stop_cause is not None and _stop_cause.value:
        return str(_stop_cause.value.decode("utf-8", errors="ignore"))
    return None


def refusal_stop_words(refused: OSError, trial: int | None) -> str:
    """What stopped the trials of the other workers when the search stops them because the disk
    refused a write (:func:`~rnnlab.rundir.refused_write`) to the trial ``trial`` (None: outside a
    trial), as :func:`~rnnlab.search.storage.stop_words` says it.

    >>> refusal_stop_words(OSError(28, "No space left on device", "s/trials/0003/fold-1/best.pt"), 3)
    'the search: trial 3 failed (No space left on device)'
    >>> refusal_stop_words(OSError(28, "No space left on device", "s/journal.log"), None)
    'the search: cannot write s/journal.log (No space left on device)'
    """
    if trial is None:
        return f"the search: {cannot_write(refused)}"
    return f"the search: trial {trial} failed ({refused.strerror or refused})"


def _stop_workers(procs: list[Any], cause: Any, why: str | None) -> None:
    """Stop the workers ``procs`` (SIGTERM: each records its trial as interrupted), saying ``why``
    first in ``cause`` (shared with them: :func:`_stopped_by`; None: the user's Ctrl-C, SIGTERM or
    SIGHUP)."""
    if why is not None and cause is not None:
        data = why.encode("utf-8")[:STOP_CAUSE_BYTES - 1]
        cause.value = data
    for p in procs:
        p.terminate()


def _surplus(trial: optuna.Trial, trials: int) -> bool:
    """Whether the new ``trial`` is one too many: the trials created before it (a smaller trial
    id: ids are unique and follow creation in both storages, where numbers may repeat in a
    database under concurrent inserts) that are not failed or interrupted (complete, pruned,
    running, waiting) already number ``trials``. A queued trial is never surplus (the config
    itself, or a retry of an interrupted trial: documented to run even past the count)."""
    system = trial.storage.get_trial(trial._trial_id).system_attrs
    if "fixed_params" in system or RETRY_HISTORY in system:
        return False
    before = [t for t in trial.study.get_trials(deepcopy=False)
              if t._trial_id < trial._trial_id and t.state != TrialState.FAIL]
    return len(before) >= trials


def _same_params(trial: optuna.Trial) -> FrozenTrial | None:
    """The first complete trial with exactly ``trial``'s parameters (the one that was trained:
    its copies come after it), None when there is none."""
    for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number != trial.number and t.params == trial.params:
            return t
    return None


def _take_over_retried(out: Path, trial: optuna.Trial, trial_dir: Path) -> int | None:
    """A retry of an interrupted trial (:func:`~rnnlab.search.storage.retry_trial`) takes over
    that trial's directory (renamed to its own), so that :func:`run_trial` reuses its finished
    runs and resumes the others from their checkpoints; returns the number taken over, None
    when there is nothing to take (not a retry, no directory, or one still held by a writer)."""
    from rnnlab.lock import DirectoryBusy

    history = trial.storage.get_trial(trial._trial_id).system_attrs.get(RETRY_HISTORY) or []
    if not history or trial_dir.exists():
        return None
    before = out / "trials" / f"{int(history[-1]):04d}"
    if not before.is_dir():
        return None
    try:
        with DirLock(before, "trial directory"):
            before.rename(trial_dir)
    except (DirectoryBusy, OSError):
        return None  # (its worker still writes it, or it cannot move: the retry starts afresh)
    return int(history[-1])


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _stops_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back inside the block (main thread, where signals exist), acted on
    after it by the handlers they had: a trial's records are written whole, and a stop never
    lands inside Optuna's journal lock (interrupted there, its release raises FileNotFoundError
    in place of the KeyboardInterrupt, and the trial was failed instead of recorded as
    interrupted). The handlers are swapped, not the signals masked: a signal that arrived just
    before the block runs its Python handler at the next bytecode, inside the block.

    >>> with _stops_held():
    ...     pass
    """
    if not _in_main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    before = {sig: signal.getsignal(sig) for sig in STOPS}
    for sig, handler in before.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if caught:
            handler = before[caught[0]]
            if callable(handler):
                handler(caught[0], None)  # (a KeyboardInterrupt, as if it had arrived now)
            else:  # SIG_DFL, or one set outside Python: the signal again, to its own action
                os.kill(os.getpid(), caught[0])


def _restore_sigint(handler: Any) -> None:
    """Put back the SIGINT handler read before (None: one set outside Python, taken as Python's)."""
    if _in_main_thread():
        signal.signal(signal.SIGINT, handler if handler is not None else signal.default_int_handler)


def draw_trial_report(trial_dir: Path) -> None:
    """The run report of the trial's first run (``fold-1/report.html``): with ``search.reports``
    "all" drawn by the worker that ran the trial (the drawing is shared by the workers), with
    "best" only the best trial's, when the search ends.

    >>> draw_trial_report(Path("runs/search/trials/0003"))  # doctest: +SKIP
    """
    from rnnlab.report import write_report

    write_report(trial_dir / "fold-1")


def _keep_best_checkpoints(study: optuna.Study, setup: Setup) -> None:
    """Checkpoints only for the best ``keep_checkpoints`` complete trials (disk stays bounded)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
    # (a copy of an earlier trial's score trained nothing: it takes no place of a trial that did)
    complete = sorted((t for t in done if t.state == TrialState.COMPLETE and SAME_AS_ATTR not in t.user_attrs),
                      key=lambda t: t.value, reverse=setup.direction == "maximize")
    keep = {t.number for t in complete[: setup.search.keep_checkpoints]}
    for t in done:
        if t.number not in keep:
            drop_checkpoints(setup.out / "trials" / f"{t.number:04d}")


def worker_seed(setup: Setup, worker: int) -> int:
    """The sampler's seed of ``worker``: on the journal file ``search.seed + worker`` for a new
    study (one worker with one seed repeats the same sequence of trials), and for a continued
    one a seed mixed from those and the number of trials the study held (``setup.history``):
    a sampler seeded alike each time would draw the first session's random start-up trials
    again, and the same commands from scratch still draw the same trials. With a database, the
    same command runs on several machines, so each process mixes in its host and pid too (else
    all would draw the same random start-up trials).

    >>> from types import SimpleNamespace as N
    >>> new = N(options=N(storage=None), search=N(seed=3), history=0)
    >>> worker_seed(new, 1), worker_seed(N(**{**vars(new), "history": 4}), 1) != 4
    (4, True)
    """
    import zlib

    if setup.options.storage is None:
        if setup.history == 0:
            return (setup.search.seed + worker) % 2**32  # (numpy's range)
        return zlib.crc32(f"{setup.search.seed}:{setup.history}:{worker}".encode())
    from rnnlab.search.storage import HOST

    return zlib.crc32(f"{setup.search.seed}:{setup.history}:{HOST}:{os.getpid()}:{worker}".encode())


def work(setup: Setup, worker: int = 0, threads: int | None = None, log: Log = None,
         parent: tuple[int, str | None] | None = None) -> None:
    """Run trials until the study has ``setup.trials`` finished ones, the time is up, or too many
    failed or were refused (:func:`stop_reason`: said in a line, an error when none completed).

    Each worker samples with its own seed (:func:`worker_seed`). Before each trial, trials of dead workers are failed; when the remaining
    trials are all running elsewhere, the worker waits for them instead of overshooting.
    With ``parent`` (:func:`~rnnlab.search.storage.process_identity` of the process that started
    this worker), the worker starts no trial once that process is gone.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    # Optuna logs a failed trial's traceback as a warning; our line per trial says it in one line.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(setup.options.storage, setup.out, setup.search.heartbeat)
    study = open_study(storage, setup.study_name, setup.base, make_sampler(setup.search, worker_seed(setup, worker)),
                       make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup), setup.direction)
    objective = _objective(setup)
    deadline = time.time() + setup.options.timeout if setup.options.timeout else math.inf
    progress = Progress(setup, log, study, bar=_bar(setup.options)) if log is not None else None
    on_interrupt = signal.getsignal(signal.SIGINT)
    try:
        with _quiet_heartbeat(setup.options.storage):
            _trials_until_done(setup, study, storage, objective, deadline, progress, parent)
    except BaseException as e:
        _note_lost_storage(setup, e)
        if progress is not None and isinstance(e, Exception) and refused_write(e) is not None:
            progress.update(study)  # (the trial it failed, in its line, before the command's error)
        raise
    finally:
        if progress is not None:
            progress.close()
        _restore_sigint(on_interrupt)


def _note_lost_storage(setup: Setup, error: BaseException) -> None:
    """When this worker ends because it lost the study's database (``error`` is, or came from,
    :func:`~rnnlab.search.storage.unreachable`), leave in its running trial's directory what
    stopped it (:func:`~rnnlab.search.storage.note_stop`): nothing can record it now, whatever the
    trial was doing (training, recording a stop or its end), and the next search records it as
    stopped by the outage instead of waiting out its heartbeat and calling it a death."""
    words = outage_words(error, setup.options.storage)
    if words is not None and _running_trial is not None:
        with _stops_held():  # (the search's SIGTERM, following the outage, must not cut it short)
            note_stop(*_running_trial, words)


@contextmanager
def _quiet_heartbeat(url: str | None) -> Iterator[None]:
    """Optuna's heartbeat thread dies on a database that stopped answering, and Python prints
    its traceback; the search says it once instead (:func:`~rnnlab.search.storage.unreachable`)."""
    hook = threading.excepthook

    def quiet(args: Any) -> None:
        if args.exc_value is None or unreachable(args.exc_value, url) is None:
            hook(args)

    threading.excepthook = quiet
    try:
        yield
    finally:
        threading.excepthook = hook


def _bar(options: SearchOptions) -> bool:
    return not options.quiet and (options.progress if options.progress is not None else sys.stderr.isatty())


def _trials_until_done(setup: Setup, study: optuna.Study, storage: Any, objective: Callable[[optuna.Trial], float],
                       deadline: float, progress: Progress | None,
                       parent: tuple[int, str | None] | None = None) -> None:
    global _running_trial
    waits: set[int] = set()
    while time.time() < deadline:
        if parent is not None and not process_alive(*parent):
            # Orphaned (the search was killed outright): no one reads this worker's results or
            # stops it, and a next `rnnlab search` starts its own workers.
            return
        fail_stale(study, storage, setup.out)
        if progress is not None:  # (a spawned worker says nothing: its search says it, _run_workers)
            say_heartbeat_waits(study, storage, waits, progress.say)
        c = _counts(study)
        done = c["complete"] + c["pruned"]
        if done >= setup.trials and c["waiting"] == 0:
            # (a waiting trial is run even past the count: the config itself, or a retry of an
            # interrupted trial, queued after the others finished, would wait for ever)
            break
        why = stop_reason(study.get_trials(deepcopy=False), setup.trials, setup.history)
        if why is not None:
            said = f"{why}; `rnnlab study {setup.out}` lists them"
            if c["complete"] == 0:
                raise SearchError(f"study {setup.study_name!r}: {said}; no trial completed")
            if progress is not None:
                progress.say(f"search stopped early: {said}")
            return
        if done + c["running"] + c["waiting"] >= setup.trials and c["waiting"] == 0:
            time.sleep(1.0)  # the last trials run in other workers
            continue
        study.optimize(objective, n_trials=1, catch=(RnnlabError,), gc_after_trial=False,
                       show_progress_bar=False)
        _running_trial = None  # (recorded: see _note_lost_storage)
        _keep_best_checkpoints(study, setup)
        if progress is not None:
            progress.update(study)


def say_heartbeat_waits(study: optuna.Study, storage: Any, said: set[int], say: Callable[[str], None]) -> None:
    """Say, once per trial (``said`` holds the trials said), that the search waits for the
    heartbeat of a trial whose worker on this host is gone to go stale
    (:func:`~rnnlab.search.storage.gone_before_stale`): the database fails it and queues it again
    only then, and the search would wait in silence.

    >>> say_heartbeat_waits(optuna.create_study(), optuna.storages.InMemoryStorage(), set(), print)
    """
    grace = heartbeat_grace(storage)
    for t in gone_before_stale(study, storage):
        if t.number not in said:
            said.add(t.number)
            say(f"waiting up to {grace} s for trial {t.number}'s heartbeat to go stale (its worker, pid "
                f"{t.user_attrs.get('pid')} on {t.user_attrs.get('host')}, no longer runs; the database fails a "
                f"trial {grace} s after its last heartbeat, then it is run again)")


def stop_reason(trials: list[FrozenTrial], wanted: int, history: int = 0) -> str | None:
    """Why a search starts no more trials before ``wanted`` of ``trials`` finished (None: it goes
    on): :data:`STOP_AFTER_IN_A_ROW` of its own trials (numbers from ``history``, the trials the
    study held when it started) in a row failed or were refused, or the study's failed trials
    number ``wanted`` (they count toward the budget: at most as many as the finished trials asked
    for). A trial lost to a dead worker or a crash, and queued again, is no failure of its config,
    nor is an interrupted one.

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(value=0.5))
    >>> for _ in range(2):
    ...     s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "diverged"}))
    >>> stop_reason(s.get_trials(), wanted=2)
    '2 trials failed, as many as the 2 trials asked for (the last, trial 2: diverged): the search starts no more'
    >>> for _ in range(8):
    ...     s.add_trial(optuna.create_trial(state=TrialState.PRUNED, user_attrs={REFUSED_ATTR: "'model.dropout': no"}))
    >>> stop_reason(s.get_trials(), wanted=20)
    "the last 10 trials failed or were refused (the last, trial 10: 'model.dropout': no): the search starts no more"
    """
    numbered = sorted(trials, key=lambda t: t.number)
    rerun = {int(n) for t in trials for n in t.system_attrs.get(RETRY_HISTORY) or []}
    c = state_counts(trials)
    if c["complete"] + c["pruned"] >= wanted:
        return None

    def failed(t: FrozenTrial) -> bool:
        return trial_state(t) == "fail" and t.number not in rerun

    def refused(t: FrozenTrial) -> bool:
        return t.state == TrialState.PRUNED and REFUSED_ATTR in t.user_attrs

    def last(ts: list[FrozenTrial]) -> str:
        t = ts[-1]
        why = str(t.user_attrs.get(REFUSED_ATTR) or t.user_attrs.get(FAILED_ATTR) or "no reason recorded")
        return f"the last, trial {t.number}: {shorten(why.strip().splitlines()[-1])}"

    fails = [t for t in numbered if failed(t)]
    if len(fails) >= wanted:
        return (f"{len(fails)} trials failed, as many as the {wanted} trial{'' if wanted == 1 else 's'} asked for "
                f"({last(fails)}): the search starts no more")
    # (this search's own trials, in the order drawn: a continued study gets its own tries)
    ours = [t for t in numbered if t.number >= history and t.state.is_finished()
            and trial_state(t) not in ("interrupted", "surplus") and t.number not in rerun]
    row = ours[-STOP_AFTER_IN_A_ROW:]
    if len(row) == STOP_AFTER_IN_A_ROW and all(failed(t) or refused(t) for t in row):
        return f"the last {STOP_AFTER_IN_A_ROW} trials failed or were refused ({last(row)}): the search starts no more"
    return None


def _spawned_worker(setup: Setup, worker: int, threads: int | None, parent: tuple[int, str | None],
                    refusals: Any = None, cause: Any = None) -> None:
    # SIGINT is ignored (see _run_workers); the parent stops the workers with SIGTERM, which
    # here ends the trial like a Ctrl-C (recorded as interrupted) and exits normally: a worker
    # killed outright leaves its semaphores to the resource tracker's "leaked semaphore" warning.
    # A write the disk refused goes to ``refusals`` (the parent's queue), which says it once; why
    # the parent stops this worker comes in ``cause`` (see _stopped_by).
    global _spawned_by, _stop_cause
    _spawned_by = parent  # (what tells the parent-death signal from the search's own stop: _stopped_by)
    _stop_cause = cause
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    stop_with_parent()
    try:
        use_worker_device(setup.base.training.device, worker)
        work(setup, worker, threads, log=None, parent=parent)
    except BaseException as e:
        if stop.requested:
            # The stop, or what it broke on its way out (it can land inside Optuna's
            # bookkeeping): quietly; a trial it left running is failed as interrupted later.
            sys.exit(130)
        if isinstance(e, RnnlabError):
            print(f"rnnlab search (worker {worker}): error: {mask(str(e))}", file=sys.stderr, flush=True)
            sys.exit(1)
        if unreachable(e, setup.options.storage) is not None:
            sys.exit(1)  # (quietly: the search's own process says it, once, for all its workers)
        refused = refused_write(e)
        if refused is not None and refusals is not None:
            refusals.put((refused.errno, refused.strerror, refused.filename, _refused_in))
            sys.exit(1)  # (quietly, as above: with what the study records)
        raise


#: prctl(2) option: the signal the kernel sends this process when its parent ends
PR_SET_PDEATHSIG = 1


def stop_with_parent(parent: tuple[int, str | None] | None = None) -> bool:
    """On Linux, have the kernel send this worker SIGTERM when the search that started it ends,
    even by SIGKILL (which leaves it no chance to stop its workers): the worker stops as on the
    search's own SIGTERM, its trial recorded as interrupted, instead of training on all cores
    until the study is complete. Elsewhere, and for a parent that died before this call, the
    worker checks its parent between trials (:func:`_trials_until_done`). (The kernel sends it
    when the parent's *thread* that started the worker ends: ``_run_workers`` waits for the
    workers in that thread.) The recipe's pool workers stop with the recipe alike.

    Returns whether ``parent`` (:func:`~rnnlab.search.storage.process_identity`; None: not
    checked) still runs, asked after the signal is set: a parent gone before it sends nothing,
    and the worker exits instead of starting work no one reads.

    >>> stop_with_parent()  # doctest: +SKIP
    True
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # (no prctl in this libc: the check between trials remains)
    return parent is None or process_alive(*parent)


class _Stop:
    """SIGTERM handler of a worker: a KeyboardInterrupt, once."""

    requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.requested:
            self.requested = True
            raise_stop(KeyboardInterrupt(), signum, self._rearm)

    def _rearm(self) -> None:
        self.requested = False


# ------------------------------------------------------------------------------ progress


def shorten(text: str, width: int = 160) -> str:
    """``text`` whole when it fits in ``width`` characters, else cut at a word boundary with an
    ellipsis (``rnnlab study`` prints a failure's reason whole).

    >>> shorten("data.bptt: the series is shorter than one window; expected a shorter window", 60)
    'data.bptt: the series is shorter than one window; expected…'
    """
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:") + "…"


class Progress:
    """One line per finished trial: its score, the best so far, done/pruned/failed and the ETA;
    with ``bar``, a tqdm bar of finished trials below the lines (its postfix: best, pruned, failed).

    >>> progress = Progress(setup, print, study, bar=sys.stderr.isatty())  # doctest: +SKIP
    """

    def __init__(self, setup: Setup, log: Callable[[str], None], study: optuna.Study, bar: bool = False) -> None:
        self.setup, self.log = setup, log
        # Trials finished before this session are not announced again.
        self.seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        self.before = frozenset(self.seen)
        self.started = time.time()
        self.finished_here = 0
        self.bar = None
        if bar:
            from tqdm.auto import tqdm

            done = sum(1 for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
            self.bar = tqdm(total=setup.trials, initial=min(done, setup.trials), unit="trial", desc="search",
                            dynamic_ncols=True, leave=True)

    def update(self, study: optuna.Study) -> None:
        trials = study.get_trials(deepcopy=False)
        # (a surplus trial is no trial a person asked for: never announced)
        new = [t for t in trials if t.state.is_finished() and t.number not in self.seen
               and SURPLUS_ATTR not in t.user_attrs]
        for t in sorted(new, key=lambda t: (t.datetime_complete or datetime.max, t.number)):
            self.seen.add(t.number)
            self.finished_here += 1
            # Each line counts the trials announced up to it: trials that finished since the last
            # poll are announced in turn, and none of them is counted before its own line.
            if self.setup.options.quiet:
                continue
            line = self.line(t, [x for x in trials if x.number in self.seen])
            if self.bar is None:
                self.log(line)
                continue
            self.bar.write(line)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and self.bar.n < self.setup.trials:
                self.bar.update(1)  # (a bar past its total read "7/4": the lines say what ran past it)
            self.bar.set_postfix_str(self.postfix(trials), refresh=True)

    def best(self, trials: list[FrozenTrial]) -> str:
        """``"best 0.9499 (trial 8)"`` among the complete ``trials`` ("" when none is)."""
        complete = [x for x in trials if x.state == TrialState.COMPLETE]
        if not complete:
            return ""
        b = (max if self.setup.direction == "maximize" else min)(complete, key=lambda x: x.value)
        return f"best {b.value:.4f} (trial {b.number})"

    def postfix(self, trials: list[FrozenTrial]) -> str:
        best = self.best(trials)
        return ", ".join(([best] if best else []) + _tally(_shown_counts(trials)))

    def say(self, text: str) -> None:
        """A line of the search among the trials' lines (above the bar, when there is one)."""
        if self.bar is not None:
            self.bar.write(text)
        else:
            self.log(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def line(self, t: FrozenTrial, trials: list[FrozenTrial]) -> str:
        metric = self.setup.search.metric
        c = _shown_counts(trials)
        done = c["complete"] + c["pruned"]
        state = trial_state(t)
        if t.state == TrialState.PRUNED and REFUSED_ATTR in t.user_attrs:
            state = "refused"
            reason = str(t.user_attrs[REFUSED_ATTR]).strip().splitlines()[-1]
            what = f"{shorten(reason, 140)} (before training; stored as pruned, so the sampler avoids it)"
        elif t.state == TrialState.COMPLETE:
            what = f"{metric} {with_spread(t.value, t.user_attrs.get('fold_scores', []))} ({self.setup.plan.describe()})"
            if SAME_AS_ATTR in t.user_attrs:
                what += f" (the parameters of trial {t.user_attrs[SAME_AS_ATTR]}: its score, not trained again)"
        elif t.state == TrialState.PRUNED:
            at = t.user_attrs.get("pruned_at", {})
            what = f"pruned at fold {at.get('fold', '?')}, epoch {at.get('epoch', '?')}"
        elif interrupted(t):
            # (the retry itself is not among ``trials``, the trials announced so far: it waits)
            what = f"stopped ({stop_words(t)})" + ("; queued again, the same command runs it first" if retriable(t)
                                                    else " before it drew its parameters")
        else:
            what = shorten(str(t.user_attrs.get(FAILED_ATTR) or "failed").strip().splitlines()[-1])
        best = self.best(trials)
        best = f"  {best}" if best else ""
        elapsed = time.time() - self.started
        left = max(self.setup.trials - done, 0)
        eta = f"  eta {seconds_text(elapsed / self.finished_here * left)}" if self.finished_here and left else ""
        if t.user_attrs.get(BASELINE_ATTR):
            what += " (the config itself)"
        return (f"trial {t.number:>4} {state:<8} {what}{best}  "
                f"[{self.done_words(trials, done)}{', '.join(_tally(c))}]{eta}")

    def done_words(self, trials: list[FrozenTrial], done: int) -> str:
        """``"2/4 done, "``; past the trials asked for, what the trials past them are: finished
        before this command (an earlier one asked for more), or queued (a retry of a stopped or
        lost trial, the config itself), which runs whatever the count (:func:`_surplus`)."""
        asked = self.setup.trials
        if done <= asked:
            return f"{done}/{asked} done, "
        finished = sorted((x for x in trials if x.state in (TrialState.COMPLETE, TrialState.PRUNED)),
                          key=lambda x: (x.datetime_complete or datetime.max, x.number))
        past = finished[asked:]
        earlier = sum(x.number in self.before for x in past)
        retries = sum(x.number not in self.before and RETRY_HISTORY in x.system_attrs for x in past)
        itself = any(x.number not in self.before and RETRY_HISTORY not in x.system_attrs
                     and "fixed_params" in x.system_attrs for x in past)
        said = ([f"{earlier} done before this command"] if earlier else []) + (
            [f"{retries} retr{'y' if retries == 1 else 'ies'}"] if retries else []) + (
            ["the config itself"] if itself else [])
        if retries or itself:
            said[-1] += " ran past the count"
        return f"{done} done, {asked} asked" + (f": {', '.join(said)}; " if said else "; ")


def _tally(counts: dict[str, int]) -> list[str]:
    """``["2 pruned", "1 failed"]``, then ``"1 interrupted"`` when a trial was stopped: the
    counts every line of the search ends with.

    >>> _tally({"pruned": 2, "fail": 1, "interrupted": 0})
    ['2 pruned', '1 failed']
    >>> _tally({"pruned": 2, "refused": 1, "fail": 0})
    ['2 pruned (1 refused)', '0 failed']
    """
    refused = f" ({counts['refused']} refused)" if counts.get("refused") else ""
    return ([f"{counts['pruned']} pruned{refused}", f"{counts['fail']} failed"]
            + ([f"{counts['interrupted']} interrupted"] if counts.get("interrupted") else []))


# ------------------------------------------------------------------------------ the search


@dataclass
class SearchOutcome:
    out: Path
    study: optuna.Study
    best: FrozenTrial | None
    final: dict[str, Any] | None


def worker_threads(base: Config) -> int | None:
    """Torch threads of each worker: one, unless the config sets ``training.threads`` (then
    None: the trainer sets it). Small recurrent models run fastest on one thread (IPD, 5 epochs
    of a trial: 2.0 s on 1 thread, 3.2 s on 2, measured on the 2-core machine), so the cores are
    used by running ``--workers`` trials side by side, not by threads inside one."""
    return None if base.training.threads is not None else 1


def run_search(options: SearchOptions, log: Log = print) -> SearchOutcome:
    """Run (or continue) the search of ``options``; see the module docstring for what it writes.
    A study with no complete trial at the end (every trial refused, failed or pruned) is a
    :class:`~rnnlab.errors.SearchError`, as ``rnnlab search`` says it; its trials stay recorded.
    The caller's Python, NumPy and torch random generators are as they were after it, whether it
    returns or raises, as after :func:`rnnlab.train` (its trials seed them).

    >>> run_search(SearchOptions(config="my.toml", trials=4), log=None).best  # doctest: +SKIP
    """
    from rnnlab.train.trainer import callers_random_state

    with callers_random_state():
        return _run_search(options, log)


def page_when_stopped(out: Path) -> str:
    """What stands of the study report when a search in ``out`` is stopped, as its last line says
    it: study.html is drawn at the search's end, so a stop leaves it as of its last drawing, or
    none where the study never reached an end.

    >>> import tempfile
    >>> page_when_stopped(Path(tempfile.mkdtemp()))  # doctest: +ELLIPSIS
    "no study.html yet (it is drawn at the search's end, or when continued); rnnlab study /... lists the trials"
    """
    from rnnlab.search.report import STUDY_REPORT

    if (out / STUDY_REPORT).is_file():
        return f"{STUDY_REPORT} is as of its last write, and the same command rewrites it"
    return (f"no {STUDY_REPORT} yet (it is drawn at the search's end, or when continued); "
            f"{shell_command('rnnlab', 'study', out)} lists the trials")


def _run_search(options: SearchOptions, log: Log) -> SearchOutcome:
    setup = prepare(options)
    say = log or (lambda _m: None)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own line per trial instead
    _check_one_study(setup)  # before anything in the directory changes
    new_dir = not setup.out.exists()
    made = missing_folders(setup.out)  # (a failed start takes back those of them still empty)
    new_study = new_dir or (setup.out.is_dir() and not any(setup.out.iterdir()))
    try:
        with _study_lock(setup, say):
            _check_one_study(setup)  # again, now that no other process writes the directory
            _check_trials_recorded(setup, None)
            storage = open_storage(options.storage, setup.out, setup.search.heartbeat, repair=say)
            _check_trials_recorded(setup, storage)
            # (before any trial trains: finished trials of other data would be scored beside new ones)
            unchecked = check_trained_data(setup.out, setup.base, trained=_has_runs(setup.out), what="study",
                                           tested=any(setup.out.glob("final*/summary.json")))
            study = open_study(storage, setup.study_name, setup.base, make_sampler(setup.search, setup.search.seed),
                               make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup), setup.direction)
            recovered = fail_stale(study, storage, setup.out)
            trials = study.get_trials(deepcopy=False)
            setup = replace(setup, history=len(trials))  # (before the config itself is queued)
            if setup.baseline is not None and baseline_needed(trials):
                # (skip_if_exists on a new study: two machines starting it at once enqueue it once, mostly;
                # a rerun of an interrupted one has the same parameters as the trial it replaces)
                study.enqueue_trial(setup.baseline, user_attrs={BASELINE_ATTR: True}, skip_if_exists=not trials)
            atomic_write_json(setup.out / STUDY_FILE, {
                "study": setup.study_name, "storage": mask(options.storage) if options.storage else None,
                "metric": setup.search.metric, "direction": setup.direction, "task": setup.base.task.kind,
                "plan": setup.plan.describe(), "folds": setup.plan.k, "trials": setup.trials,
                "space": [{"name": p.name, "range": p.describe(), "why": p.why} for p in setup.space.params],
                "versions": versions(),  # (of the process that wrote it; each trial's run records its own)
                "optuna": str(optuna.__version__),  # (apart: "versions" is what every run records, as runs do)
                # (as built, read back from the objects: what the trials of this command are drawn and pruned by)
                "sampler": optuna_settings(make_sampler(setup.search, 0), _seeds(setup)),
                "pruner": optuna_settings(make_pruner(setup.search, setup.plan, setup.epochs, setup.warmup)),
            })
            atomic_write_text(setup.out / "search.toml", dump_config(setup.base))
    except BaseException as e:
        if new_study:
            _unclaim_new(setup.out, made)
        refused = refused_write(e) if not isinstance(e, (RnnlabError, KeyboardInterrupt)) else None
        if refused is None:
            raise
        raise WriteRefused(refused, "no trial ran, and what the study recorded before is kept") from None
    c = _counts(study)
    done = c["complete"] + c["pruned"]
    # (a study continued with fewer trials than it holds: "6 of 4 done" read as a miscount)
    count = (f"{done} of {setup.trials} trials done" if done <= setup.trials else
             f"{done} trials done, more than the {setup.trials} asked for (no new trial is drawn)")
    say(f"study {setup.study_name!r} in {setup.out} ({mask(options.storage) if options.storage else 'journal file'}): "
        f"{count}; {score_words(task_for(setup.base), str(setup.search.metric))} on "
        f"{setup.plan.describe()} of the training split; {space_summary(setup.space)}"
        + ("" if not setup.search.baseline else f"; {baseline_summary(study.get_trials(deepcopy=False))}"
           if setup.baseline is not None else f"; no trial is the config itself ({setup.outside})"))
    for line in _recovered_lines(study, recovered):
        say(line)
    if unchecked is not None:
        say(unchecked)
    for note in setup.notes:
        say(f"note: {note}")
    threads = worker_threads(setup.base)
    shared = workers_share_cores(options.workers)
    if shared is not None:
        say(shared)
    try:
        try:
            if options.workers == 1:
                work(setup, 0, threads, log=say)
            else:
                _run_workers(setup, threads, say, study, storage)
        except KeyboardInterrupt as e:
            raise Interrupted.of_command(e, "the same command continues the study (a stopped trial is recorded "
                                         "as interrupted; the config itself runs again if it was stopped); "
                                         + page_when_stopped(setup.out)) from None
        with _study_lock(setup, say):
            outcome = finish(setup, study, say)
        if outcome.best is None:  # (every trial refused, failed or pruned: no best config to return)
            raise SearchError(f"no trial of study {setup.study_name!r} completed; see `rnnlab study {setup.out}`")
        return outcome
    except RnnlabError:
        raise
    except Exception as e:  # (the database gone mid-search: Optuna's and SQLAlchemy's errors, in one line)
        gone = unreachable(e, options.storage)
        if gone is not None:
            raise gone from None
        refused = refused_write(e)
        if refused is None:
            raise
        raise WriteRefused(refused, what_is_recorded(study, setup.trials)) from None


class WriteRefused(SearchError):
    """A write of the search that the disk refused (full, read-only; :func:`~rnnlab.rundir.refused_write`):
    ``error`` is the write, ``recorded`` what the study records now (:func:`what_is_recorded`).

    >>> print(WriteRefused(OSError(28, "No space left on device", "s/trials/0001/fold-1/checkpoints/last.pt"),
    ...                    "the study records 2 of 6 trials finished"))  # doctest: +NORMALIZE_WHITESPACE
    cannot write s/trials/0001/fold-1/checkpoints/last.pt (No space left on device); the study records 2 of 6
    trials finished; once the disk takes the writes, the same command continues the study
    """

    def __init__(self, error: OSError, recorded: str) -> None:
        super().__init__(f"{cannot_write(error)}; {recorded}; once the disk takes the writes, the same command "
                         "continues the study")
        self.error, self.recorded = error, recorded


def what_is_recorded(study: optuna.Study, trials: int) -> str:
    """What ``study`` records after a write the disk refused, in a few words: its finished trials
    (of ``trials``), those queued again (lost to the refusal, or stopped with it: the same command
    runs them first), and those left running by a worker that is gone (the journal refused their
    record too: the next search records them as lost, and runs them again).

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(value=0.5))
    >>> what_is_recorded(s, 6)
    'the study records 1 of 6 trials finished'
    """
    recorded = study.get_trials(deepcopy=False)
    c = state_counts(recorded)
    queued = sorted({int(t.system_attrs[RETRY_HISTORY][-1]) for t in recorded
                     if t.state == TrialState.WAITING and t.system_attrs.get(RETRY_HISTORY)})
    left = [t.number for t in recorded if worker_gone(t)]
    said = [f"the study records {c['complete'] + c['pruned']} of {trials} trials finished"]
    if queued:
        said.append(f"{_trials_named(queued)} queued again (the same command runs {'it' if len(queued) == 1 else 'them'} "
                    "first)")
    if left:
        one = len(left) == 1
        said.append(f"{_trials_named(left)} left running, {'its' if one else 'their'} record refused too (the next "
                    f"search records {'it' if one else 'them'} as lost and runs {'it' if one else 'them'} again)")
    return ", ".join(said)


def _recovered_lines(study: optuna.Study, numbers: list[int]) -> list[str]:
    """A line for each trial whose worker noted what stopped it where the storage could take no
    record (:func:`rnnlab.search.storage.recover_noted_stops`), now recorded: what stopped it, and
    whether it runs again."""
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    lines = []
    for n in numbers:
        t = by_number[n]
        again = ("queued again: this command runs it first" if retriable(t) else
                 "it had drawn no parameters: a new trial takes its place")
        lines.append(f"trial {n}: stopped ({stop_words(t)}) where the study could not record it; recorded now "
                     f"from its worker's note, {again}")
    return lines


def _trials_named(numbers: list[int]) -> str:
    return f"trial {numbers[0]}" if len(numbers) == 1 else f"trials {', '.join(map(str, numbers))}"


def _study_lock(setup: Setup, say: Callable[[str], None]) -> DirLock:
    """The study directory, claimed and held while this process writes the study's own files
    (another process of the same study waits its turn)."""
    return claim(setup.out, STUDY, marker_record={"study": setup.study_name}, wait=True, on_wait=say)


def _check_one_study(setup: Setup) -> None:
    """A study directory holds one study: refuse another study's name (recorded by its marker,
    or by study.json in a directory from before markers), and a study kept in a database
    continued without ``--storage`` (a new journal here would start another study beside it)."""
    marker = read_marker(setup.out, STUDY) if setup.out.is_dir() else None
    info = read_json(setup.out / STUDY_FILE) if (setup.out / STUDY_FILE).is_file() else None
    if marker is None:
        marker = info
    held = marker.get("study") if isinstance(marker, dict) else None
    if held is not None and held != setup.study_name:
        raise SearchError(f"--out {str(setup.out)!r} holds the study {held!r}, not {setup.study_name!r}: a study "
                          f"directory holds one study; continue it with --study {held}, or choose another --out")
    stored = info.get("storage") if isinstance(info, dict) else None
    if setup.options.storage is None and isinstance(stored, str):
        # (study.json holds the URL with its password masked, as every line printed does)
        raise SearchError(f"study {held or setup.study_name!r} of {setup.out} is in the database {mask(stored)} "
                          "(study.json), not in a journal file here: pass --storage URL (with its password, if it "
                          "has one) to continue it")


def _has_runs(out: Path) -> bool:
    """Whether the study directory ``out`` holds a trial or a final run (trained, or training)."""
    trials = out / "trials"
    return (trials.is_dir() and any(trials.iterdir())) or (out / "final").exists()


def _unclaim_new(out: Path, made: tuple[Path, ...]) -> None:
    """Remove what a start of a new study that failed (a database that cannot be opened, a
    study refused) left in its directory: the marker and the lock, and the directory and the
    folders above it if it made them (``made``: :func:`~rnnlab.rundir.missing_folders`) and
    they are empty; a directory that no longer looks new (a journal with records, another
    writer's files) is left as it is."""
    from rnnlab.lock import LOCK_FILE

    names = set(os.listdir(out)) if out.is_dir() else set()
    ours = {STUDY.marker, LOCK_FILE, TRAINED_DATA} | ({JOURNAL} if JOURNAL in names and (out / JOURNAL).stat().st_size == 0 else set())
    if names - ours:
        return
    for name in names:
        (out / name).unlink(missing_ok=True)
    remove_empty_folders(made)  # (something appeared meanwhile: it stays, and so do those above it)


def _check_trials_recorded(setup: Setup, storage: Any) -> None:
    """Refuse to start a new study over trials that the storage does not record (a journal
    emptied, lost or replaced): its trial 0 would overwrite theirs. ``storage`` None: before it
    is opened (a missing journal file records nothing, and is not created)."""
    trials = setup.out / "trials"
    if not trials.is_dir() or not any(trials.iterdir()):
        return
    if storage is None:
        if setup.options.storage is not None or (setup.out / JOURNAL).exists():
            return
    elif setup.study_name in optuna.get_all_study_names(storage=storage):
        return
    where = str(setup.out / JOURNAL) if setup.options.storage is None else mask(setup.options.storage)
    raise SearchError(f"{where} records no study {setup.study_name!r}, but {trials} holds trials: a new study "
                      "would overwrite them; restore the study's journal (or --storage), or choose another --out")


def _run_workers(setup: Setup, threads: int | None, say: Callable[[str], None], study: optuna.Study,
                 storage: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent = process_identity()
    # Ctrl-C is the parent's to handle: an ignored SIGINT is inherited through exec, so a worker
    # ignores it from its first instruction (still importing torch, it would print a traceback).
    # So is a closed terminal's SIGHUP, which reaches the whole process group: the parent stops
    # its workers with SIGTERM, their trials recorded as interrupted, not left "running". The
    # queue's lock starts multiprocessing's resource tracker: inside too, or the group's SIGHUP
    # killed it ("process died unexpectedly") and a KeyError traceback followed.
    with ignored((signal.SIGINT, *HANGUP)):
        refusals = ctx.SimpleQueue()  # (the writes the disk refused the workers: see _spawned_worker)
        # (no lock: written once, by this process, before it stops the workers that read it)
        cause = ctx.Array("c", STOP_CAUSE_BYTES, lock=False)
        procs = [ctx.Process(target=_spawned_worker, args=(setup, w, threads, parent, refusals, cause),
                             name=f"rnnlab-search-{w}") for w in range(setup.options.workers)]
        for p in procs:
            p.start()
    progress = Progress(setup, say, study, bar=_bar(setup.options))
    ended: set[int] = set()
    told: list[tuple[OSError, int | None]] = []  # the writes the disk refused the workers, and in which trial
    own: OSError | None = None  # (the record of a dead worker's trial refused: theirs say more)
    waits: set[int] = set()
    try:
        while True:
            # is_alive() reaps a worker that exited: ask every worker on every pass (any() stopped
            # at the first live one, and a killed worker stayed a zombie that passed for alive).
            alive = [p.is_alive() for p in procs]
            died = [w for w, p in enumerate(procs) if not alive[w] and w not in ended]
            for w in died:
                ended.add(w)
                code = procs[w].exitcode
                if code is not None and code < 0 and any(alive):
                    say(f"worker {w} (pid {procs[w].pid}) was killed ({_signal_name(-code)}); a trial it was running "
                        "is failed, and the other workers go on")
            try:
                if died:
                    fail_stale(study, storage, setup.out)  # (the other workers do it between their trials only)
            except OSError as e:
                if refused_write(e) is None:
                    raise
                own = e
            while not refusals.empty():
                number, strerror, filename, trial = refusals.get()
                told.append((OSError(number, strerror, filename), trial))
            if told or own is not None:
                # A full or read-only disk refuses the other workers too: stopped now (their trials
                # recorded as interrupted by it, where the journal takes it), and the command says it once.
                first = told[0] if told else (own, None)
                _stop_workers(procs, cause, refusal_stop_words(*first))
                break
            say_heartbeat_waits(study, storage, waits, progress.say)
            progress.update(study)
            if not any(alive):
                break
            time.sleep(1.0)
    except BaseException as e:
        # (Ctrl-C, or the database gone: the workers stop now, not after their trial)
        _stop_workers(procs, cause, outage_words(e, setup.options.storage, "the search"))
        raise
    finally:
        for p in procs:
            p.join()
        progress.update(study)
        progress.close()
    refused = told[0][0] if told else own
    if refused is not None:
        raise refused
    trials = study.get_trials(deepcopy=False)
    why = stop_reason(trials, setup.trials, setup.history)
    if why is not None and any(t.state == TrialState.COMPLETE for t in trials):
        # (each worker stopped on it quietly: said once, here; with none complete each worker said it)
        say(f"search stopped early: {why}; `rnnlab study {setup.out}` lists them")
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed and not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise SearchError(f"{len(failed)} worker(s) stopped with an error (above); no trial completed")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial (None when none completed)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    return study.best_trial


def write_best(out: Path, trial: FrozenTrial, metric: str, plan: FoldPlan) -> Path:
    """DIR/best.toml: the best trial's complete config (its output.dir + ``-best``), with where
    it came from as comments."""
    scores = trial.user_attrs.get("fold_scores", [])
    # (one hold-out's score alone: with_spread shows no "± 0.0000" that a single score cannot measure)
    header = (f"# rnnlab search: best trial {trial.number}, {metric} {with_spread(trial.value, scores)} over "
              f"{plan.describe()} of the training split\n"
              f"# fold scores: {', '.join(f'{s:.4f}' for s in scores)}\n"
              f"# train it with: {shell_command('rnnlab', 'train', (out / 'best.toml').resolve())}\n"
              "# (as the trials trained it: a validation part held out of the training split, to choose an epoch\n"
              f"# on; the search's final run, {out / 'final'}, trained on the whole split: its config.toml is that run's)\n\n")
    path = out / "best.toml"
    config = parse_config(trial.user_attrs["config"], recorded=True)
    # Its own run directory: the base config's output.dir may already hold a run.
    config = config.model_copy(update={"output": config.output.model_copy(update={"dir": f"{config.output.dir}-best"})})
    atomic_write_text(path, header + dump_config(config))
    return path


def run_final(out: Path, trial: FrozenTrial, say: Callable[[str], None]) -> dict[str, Any]:
    """Retrain the best trial's config on the whole training split; evaluate the test split once.

    Under early stopping it trains as long as the trial's folds' kept models did (their median,
    :func:`~rnnlab.train.final.final_length`; ``final.json`` keeps the figures under
    ``"length"``). A final run of the same trial is reused. A finished final run of another
    config (an earlier best trial's) is kept as ``final-trialNNNN/``. ``final.json`` lists every
    evaluation of the test split in the study under ``"test_evaluations"`` (:func:`recorded_evaluations`).
    """
    record = out / FINAL_FILE
    final_dir = out / "final"
    old = read_json(record) if record.exists() else None
    old = old if isinstance(old, dict) else None
    evaluations = recorded_evaluations(out, old)
    config = parse_config(trial.user_attrs["config"], recorded=True)
    # (its folds' kept models: a trial with the parameters of an earlier one has that one's runs)
    runs = out / "trials" / f"{int(trial.user_attrs.get(SAME_AS_ATTR, trial.number)):04d}"
    kept, guard = kept_lengths(runs), carried_guard(runs)
    held = next((e.get("trial") for e in evaluations if e.get("run_dir") == "final"),
                old.get("trial") if old is not None else None)
    keep_tested_run(out, "final", config, kept, guard, evaluations, held if isinstance(held, int) else None)
    # (a final run cut short before it was recorded continues from its checkpoint: retrain_and_test)
    if not reusable(config, final_dir, kept, guard):  # (a finished one is said when read: finish)
        say(f"final: trial {trial.number}'s config on the whole training split {final_phrase(config, kept)}")
        if guard is not None:  # (what its fold runs' guards decided, which it carries: guard_note)
            say(guard.line())
    scores = trial.user_attrs.get("fold_scores", [])
    result = retrain_and_test(config, final_dir, kept, guard)
    record_evaluation(out, "final", evaluations, result, _evaluation(trial.number, "final", {}, None))
    final = {"trial": trial.number, "search_score": {"value": trial.value,  # (one score spreads nowhere: null)
                                                      "spread": spread(scores) if len(scores) > 1 else None,
                                                      "fold_scores": scores},
             **result, "run_dir": "final", EVALUATIONS: evaluations}
    # (final.json records the run, not this command: whether it was read now is the caller's to say)
    atomic_write_json(record, {k: v for k, v in final.items() if k != "reused"})
    return final


#: final.json's list of every evaluation of the test split in the study, oldest first: each
#: ``{"trial", "run_dir" (None: trained over since), "evaluated_at", "test"}``
EVALUATIONS = "test_evaluations"


def _evaluation(trial: int | None, run_dir: str | None, test: dict[str, Any], when: str | None) -> dict[str, Any]:
    return {"trial": trial, "run_dir": run_dir, "evaluated_at": when, "test": test}


def keep_tested_run(out: Path, name: str, config: Config, kept: Any, guard: Any,
                    evaluations: list[dict[str, Any]], trial: int | None = None) -> Path | None:
    """Move the finished run ``out/name`` aside when ``config`` cannot reuse it (another config, or
    the same retrained: :func:`~rnnlab.train.final.reusable` with ``kept`` and ``guard``): it tested
    the test split already, and is never trained over. It goes beside, as ``final-trialNNNN``
    (``trial``: the search's trial it ran) or ``NAME-earlier``; the ``evaluations`` naming it follow
    it. Returns where it went, None when nothing moved (a run cut short tested nothing, and
    retrain_and_test resumes or restarts it). The search's ``final/`` and the recipe's
    ``test/baseline/`` and ``test/final/`` alike."""
    from rnnlab.rundir import RunDir

    run_dir = out / name
    if RunDir(run_dir).read_summary() is None or reusable(config, run_dir, kept, guard):
        return None
    parked = _free_final_name(run_dir.parent, trial, run_dir.name)
    shutil.move(str(run_dir), str(parked))
    _moved(evaluations, name, parked.relative_to(out).as_posix())
    return parked


def record_evaluation(out: Path, name: str, evaluations: list[dict[str, Any]], result: dict[str, Any],
                      entry: dict[str, Any]) -> None:
    """Add the test evaluation of the final run ``out/name`` (``result``: what
    :func:`~rnnlab.train.final.retrain_and_test` returned) to ``evaluations``, as ``entry`` (its
    ``"test"`` and ``"evaluated_at"`` filled in): a run trained now is a new evaluation (an entry
    still naming ``name`` names a run trained over since); a reused one is recorded once, dated by
    its summary.json, where no entry names it (its record lost to a stop)."""
    if result.get("test") is None:
        return
    if not result.get("reused"):
        _moved(evaluations, name, None)
        evaluations.append({**entry, "test": result["test"],
                            "evaluated_at": datetime.now().astimezone().isoformat(timespec="seconds")})
    elif not any(e.get("run_dir") == name for e in evaluations):
        evaluations.append({**entry, "test": result["test"], "evaluated_at": written_at(out / name)})


def _moved(evaluations: list[dict[str, Any]], before: str, after: str | None) -> None:
    for e in evaluations:
        if e.get("run_dir") == before:
            e["run_dir"] = after


def _free_final_name(out: Path, trial: int | None, name: str = "final") -> Path:
    """Where an earlier final run ``out/name`` is kept: ``final-trialNNNN`` or ``NAME-earlier``
    (``-2``, ``-3``, ... beside one kept before: shutil.move would put it inside that one)."""
    base = f"final-trial{trial:04d}" if trial is not None else f"{name}-earlier"
    path, n = out / base, 1
    while path.exists():
        n += 1
        path = out / f"{base}-{n}"
    return path


def written_at(run_dir: Path) -> str | None:
    """When the finished run in ``run_dir`` wrote its summary (and with it its test figures)."""
    summary = run_dir / "summary.json"
    if not summary.exists():
        return None
    return datetime.fromtimestamp(summary.stat().st_mtime).astimezone().isoformat(timespec="seconds")


def recorded_evaluations(out: str | Path, record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every evaluation of the test split in the study directory ``out``, oldest first: the final
    record's (``record``: final.json read) ``"test_evaluations"``; for one written before they
    were recorded (or none), read back from the finished final runs the directory holds,
    ``final/`` (the record's trial) and ``final-trialNNNN/``, each dated by its summary.json.

    >>> recorded_evaluations("/nonexistent", {"test_evaluations": [{"trial": 0, "run_dir": "final"}]})
    [{'trial': 0, 'run_dir': 'final'}]
    >>> recorded_evaluations("/nonexistent", None)
    []
    """
    import re

    from rnnlab.rundir import RunDir

    listed = record.get(EVALUATIONS) if record is not None else None
    if isinstance(listed, list):
        return [dict(e) for e in listed if isinstance(e, dict)]
    d = Path(out)
    found = []
    for run in [*sorted(d.glob("final-trial*")), d / "final"]:
        number = re.fullmatch(r"final-trial(\d+)(?:-\d+)?", run.name)
        trial = int(number.group(1)) if number else record.get("trial") if record is not None else None
        summary = RunDir(run).read_summary() if run.is_dir() else None
        if isinstance(summary, dict) and summary.get("test") is not None:
            found.append(_evaluation(trial if isinstance(trial, int) else None, run.name, summary["test"],
                                     written_at(run)))
    return sorted(found, key=lambda e: e["evaluated_at"] or "")


def study_test_metric(task: Task, metric: str, test: dict[str, Any] | None) -> Metric:
    """The metric a study's final run gives its test figure in: the study's own (``search.metric``,
    ``"val_r2"``: R²), where the task reports it and the test split recorded it, else the task's
    headline: also for ``"val_loss"``, the objective in the model's own units (standardized
    targets, nats), which says less of the test split than the headline does.

    >>> from rnnlab.task import task_named
    >>> reg = task_named("regression")
    >>> test = {"loss": 0.01, "rmse": 1202.2, "r2": 0.988}
    >>> study_test_metric(reg, "val_r2", test).name, study_test_metric(reg, "val_loss", test).name
    ('r2', 'rmse')
    """
    try:
        scored = task.metric(metric)
    except KeyError:
        return task.headline
    return scored if test is not None and scored.name in test and scored.name != "loss" else task.headline


def final_test_line(final: dict[str, Any], task: Task, scored: Metric) -> str:
    """The final run's test figure in the study's metric ``scored`` (:func:`study_test_metric`), as
    :func:`rnnlab.train.final.final_line` says it, and the task's headline figure beside it where
    that is another (a study of R² on K targets: the RMSE pooled over them).

    >>> from rnnlab.task import task_named
    >>> reg = task_named("regression")
    >>> final_test_line({"test": {"rmse": 1202.2, "r2": 0.98833}}, reg, reg.metric("r2"))
    'test R² 0.9883 (test rmse 1202)'
    """
    line = final_line(final, scored)
    if scored.name != task.headline.name and task.headline.name in (final.get("test") or {}):
        line += f" ({final_line(final, task.headline)})"
    return line


def evaluations_note(evaluations: list[dict[str, Any]], metric: Any, current: str = "final",
                     where: str = "in this study") -> str:
    """What the test split's evaluations in a study (:func:`recorded_evaluations`) mean for a
    reader comparing them, in the words the search and study.html use; "" for one or none.
    ``current``: the final run's directory now (the recipe's ``test/final``), ``where``: whose
    evaluations they are; an entry with a ``"config"`` (the recipe's label) is named by it.

    >>> from rnnlab.task import task_named
    >>> print(evaluations_note([{"trial": 0, "run_dir": "final-trial0000", "test": {"acc": 0.81}},
    ...     {"trial": 2, "run_dir": "final", "test": {"acc": 0.84}}], task_named("classification").headline))
    the test split has now been evaluated 2 times in this study: trial 0 (earlier final run, final-trial0000/: \
0.8100), trial 2 (this final run, final/: 0.8400): choosing between them by test score would be selection on the \
test split
    """
    if len(evaluations) < 2:
        return ""
    said = []
    for e in evaluations:
        value = (e.get("test") or {}).get(metric.name)
        figure = metric.show(float(value)) if isinstance(value, (int, float)) else "?"
        run = e.get("run_dir")
        run_words = (f"this final run, {current}/" if run == current else f"earlier final run, {run}/" if run
                     else "earlier final run, trained over since")
        trial = e.get("trial")
        who = (e["config"] or "an earlier config" if "config" in e else
               f"trial {trial if trial is not None else '?'}")
        said.append(f"{who} ({run_words}: {figure})")
    return (f"the test split has now been evaluated {len(evaluations)} times {where}: {', '.join(said)}: "
            "choosing between them by test score would be selection on the test split")


def finish(setup: Setup, study: optuna.Study, say: Callable[[str], None]) -> SearchOutcome:
    """best.toml, the final run and its single test evaluation, study.html."""
    c = _counts(study)
    say(f"study {setup.study_name!r}: {c['complete']} complete, {', '.join(_tally(c))}"
        + (f"; {baseline_summary(study.get_trials(deepcopy=False), setup.search.metric)}"
           if setup.baseline is not None else ""))
    best = best_trial(study)
    final = None
    if best is None:
        say("no trial completed: no best.toml and no final run")
    else:
        metric = setup.search.metric
        path = write_best(setup.out, best, metric, setup.plan)
        from rnnlab.search.report import config_trial, gain_sentence
        from rnnlab.search.table import fold_sizes, joined, majority_said, tie_sentence, tied_with

        scored = with_spread(best.value, best.user_attrs.get("fold_scores", []))
        trials = study.get_trials(deepcopy=False)
        tied = tied_with(best, trials, str(metric), fold_sizes(setup.out, trials))
        # (a tie is said as one: no winner among trials that the folds cannot tell apart)
        named = (f"best trials {joined([best.number] + [t.number for t, _ in tied])} tie; trial {best.number}"
                 if tied else f"best trial {best.number}")
        # (imbalanced classes: what labelling every series with the majority class scores, as train says)
        scored += majority_said(setup.out, trials, str(metric))
        say(f"{named}: {metric} {scored} over {setup.plan.describe()} (search score, training split only)"
            + (f"\ntie: {tie_sentence(best, tied)}" if tied else "") + f"\nbest config: {path}")
        base = config_trial(trials)
        if base is not None and base.state == TrialState.COMPLETE and base.number != best.number:
            say(gain_sentence(best, base, setup.direction))
        best_dir = setup.out / "trials" / f"{best.number:04d}"
        if setup.search.reports != "none" and (best_dir / "fold-1").is_dir():
            draw_trial_report(best_dir)  # the one trial report a person opens first (a no-op's cost if drawn)
        if setup.options.final:
            final = run_final(setup.out, best, say)
            test, task = final.get("test"), task_for(setup.base)
            # (the test figure of the study's own metric, the task's headline beside it where it differs)
            headline = study_test_metric(task, str(setup.search.metric), test)
            # (beside the naive and seasonal-naive figures of the final run itself: retrained on more
            # steps, its MASE scale differs from the train run's)
            trained = trained_phrase(final)
            # (each final run evaluates the test split once; an earlier best trial's run did too)
            more = evaluations_note(final.get(EVALUATIONS) or [], headline)
            if final.get("reused"):  # (the same trial's finished final run, read: nothing trained now)
                say(f"final: trial {best.number}'s final run in {final['run_dir']}/ reused (trained earlier"
                    f"{f': {trained}' if trained else ''})"
                    + (f"; {final_test_line(final, task, headline)}, the test split evaluated once, when it was "
                       "trained"
                       + (f"; {more}" if more else "")
                       if test else "; no test split (data.test_path is unset): not evaluated"))
            else:
                resumed = "; continued from the checkpoint of the run cut short" if final.get("resumed") else ""
                say(f"{final_test_line(final, task, headline)}: trial {best.number}'s config retrained on the whole training "
                    f"split{f' ({trained}{resumed})' if trained else ''}"
                    + (f"; {more}" if more else ", test split evaluated once") if test else
                    "no test split (data.test_path is unset): the final run is not evaluated")
    from rnnlab.search.report import write_study_report

    say(f"study report: {write_study_report(setup.out, study)}")
    return SearchOutcome(setup.out, study, best, final)


def baseline_summary(trials: list[FrozenTrial], metric: str | None = None) -> str:
    """What became of the config itself (the trials marked ``baseline``): the trial that is it,
    its score (with ``metric``) or where it stands, and the earlier ones that were lost.

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"baseline": True,
    ...     "failed_because": "worker pid 7 on h died", "interrupted": True}))
    >>> s.add_trial(optuna.create_trial(value=0.9, user_attrs={"baseline": True}))
    >>> baseline_summary(s.get_trials(), "val_acc")
    'trial 1 is the config itself: val_acc 0.9000 (trial 0, lost: worker pid 7 on h died)'
    >>> baseline_summary([])
    'trial 0 is the config itself'
    """
    bases = sorted((t for t in trials if t.user_attrs.get(BASELINE_ATTR)), key=lambda t: t.number)
    if not bases:
        return f"trial {len(trials)} is the config itself"
    last = next((t for t in bases if t.state == TrialState.COMPLETE), bases[-1])
    lost = [t for t in bases if t.number < last.number and t.state == TrialState.FAIL]
    why = "; ".join(f"trial {t.number}, lost: {str(t.user_attrs.get(FAILED_ATTR) or 'failed').splitlines()[-1]}"
                    for t in lost)
    why = f" ({why})" if why else ""
    if last.state == TrialState.COMPLETE:
        return f"trial {last.number} is the config itself" + (f": {metric} {last.value:.4f}" if metric else "") + why
    if last.state == TrialState.PRUNED:
        return f"trial {last.number} is the config itself: pruned{why}"
    if last.state == TrialState.FAIL:
        reason = str(last.user_attrs.get(FAILED_ATTR) or "failed").splitlines()[-1]
        return f"the config itself has no score: trial {last.number} failed: {shorten(reason)}"[:400] + why
    state = "waits to run" if last.state == TrialState.WAITING else "runs"
    if metric is None:  # (as a search starts: it runs it now)
        return f"trial {last.number} is the config itself" + (f" ({state}; {why[2:]}" if why else "")
    return (f"the config itself has no score yet: trial {last.number} {state}"
            + (" (the same command runs it)" if last.state == TrialState.WAITING else "") + why)


def read_study_info(study_dir: str | Path) -> dict[str, Any]:
    """``DIR/study.json`` checked: a JSON object naming the study (``"study"``, a string) and its
    storage (``"storage"``, a URL with its password masked, or null: the journal file).

    >>> read_study_info("/nonexistent/study")
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: study directory '/nonexistent/study' does not exist
    """
    from rnnlab.errors import RunDirError
    from rnnlab.rundir import json_shown

    d = Path(study_dir)
    if not d.exists():
        raise RunDirError(f"study directory {str(d)!r} does not exist")
    if not d.is_dir():
        raise RunDirError(f"study directory {str(d)!r}: expected a directory, got a file")
    path = d / STUDY_FILE
    if not path.exists():
        raise RunDirError(f"{d} is not a study directory (no {STUDY_FILE}; `rnnlab search` writes it)")
    info = read_json(path)
    if not isinstance(info, dict):
        raise RunDirError(f"{path}: expected a JSON object (the study's name and storage), got {json_shown(info)}")
    if not isinstance(info.get("study"), str) or not info["study"]:
        raise RunDirError(f"{path}: expected 'study' (the study's name) to be a non-empty string, "
                          f"got {json_shown(info.get('study'))}")
    if info.get("storage") is not None and not isinstance(info["storage"], str):
        raise RunDirError(f"{path}: expected 'storage' to be a database URL or null, got {json_shown(info['storage'])}")
    return info


def open_existing(study_dir: str | Path, storage: str | None = None, name: str | None = None) -> optuna.Study:
    """The study of a study directory (as ``rnnlab study DIR`` reads it), for reading."""
    d = Path(study_dir)
    info = read_study_info(d)
    url = storage or recorded_url(info.get("storage"), d)  # (a masked password: PGPASSWORD, or an error)
    st = open_storage(url, d)
    try:
        return optuna.load_study(study_name=name or info["study"], storage=st)
    except KeyError:
        raise SearchError(mask(f"{d}: no study named {name or info['study']!r} in "
                               f"{url if url else 'the journal file'}")) from None


__all__ = ["SearchOptions", "SearchOutcome", "WriteRefused", "best_trial", "open_existing", "prepare",
           "read_study_info", "run_search", "what_is_recorded", "work"]
