"""``rnnlab compare``: runs side by side, as a table and two figures.

Runs whose configs differ only in ``training.seed`` (the resolved configs compared without the
seed and the bookkeeping keys of :data:`COMPARE_BOOKKEEPING`: the run's name, its output
directory, what is tracked, ``[search]``) and that train on the same data (``data.dataset`` / ``data.path``,
a file by its content or by the data as the model read them, and for a run of a recipe or search, its fold,
``.../fold-K``) form a **group**. With one run per
group the table has one row per run; with several, one row per group: the config keys whose
values differ between the groups, the number of seeds, the seeds, and each score as its mean ±
standard deviation (ddof=1) over the seeds (runs of one seed are not replicates: a rerun of a
seed already in its group stands alone). Each group is then marked against a reference group
by :func:`rnnlab.recipe.decide.verdict`, the rule ``rnnlab recipe`` keeps a change by, applied to
the validation score of the model each run kept, ``val_<metric>@kept`` of the task's headline
metric (:func:`~rnnlab.train.best.kept_record`: its best epoch's under early stopping, else its last epoch's, the
score ``rnnlab recipe`` decides on). The reference
is the group that sets the fewest of the differing keys away from rnnlab's defaults (the base
config: no regularizer), the first given among equals. The test column is shown for reporting
the chosen config, never used to mark or choose one.

Example:
    >>> rows = [{"run": f"runs/{r}-s{s}", "config": {"model.zoneout": z, "training.seed": str(s)},
    ...          "data": "GunPoint", "headline": "acc", "higher_is_better": True,
    ...          "val_acc@kept": v, "test_acc": 0.9}
    ...         for r, z, vs in (("none", "0", (0.80, 0.82, 0.81)), ("zoneout", "0.15", (0.90, 0.92, 0.91)))
    ...         for s, v in enumerate(vs)]
    >>> [[r["run"] for r in g] for g in group_runs(rows)][1]
    ['runs/zoneout-s0', 'runs/zoneout-s1', 'runs/zoneout-s2']
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError, RunDirError
from rnnlab.lock import live_holder
from rnnlab.tables import text_table

#: Config keys left out of ``rnnlab compare``'s config columns: they differ between runs by
#: nature or only say where and how often things are recorded, not how the model was trained.
#: ``[search]`` is ``rnnlab search``'s (its space, budget and pruning) and ``rnnlab train`` ignores
#: it: a run trained with it set is the same training as one without (``search`` is the section's
#: one cell when it is unset). A recipe's settings live in recipe.toml, never in a run's config.
COMPARE_BOOKKEEPING = ("name", "output.*", "tracking.*", "training.checkpoint_every", "training.threads",
                       "search", "search.*")


def _shown(v: Any) -> str:
    from pydantic import BaseModel

    if isinstance(v, BaseModel):
        return " ".join(f"{k}={_shown(x)}" for k, x in v.model_dump(exclude_defaults=True).items())
    if isinstance(v, dict):
        return " ".join(f"{k}={_shown(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        inner = [_shown(x) for x in v]
        return ("; ".join(f"[{x}]" for x in inner) if v and isinstance(v[0], (BaseModel, dict))
                else "[" + ",".join(inner) + "]")
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _config_cells(config: Any) -> dict[str, str]:
    """``config`` flattened to ``{dotted key: shown value}`` (bookkeeping keys left out). A list of
    tables (``training.decay_rules``, ``model.frontend.blocks``) is one cell, each table by the
    fields it sets away from their defaults, so that a rule reads ``[role=recurrent weight_decay=0.001]``.

    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nweight_decay = 0.0\\n'
    ...                    '[[training.decay_rules]]\\nrole = "recurrent"\\nweight_decay = 1e-3')
    >>> cells = _config_cells(cfg)
    >>> cells["training.weight_decay"], cells["training.decay_rules"], "name" in cells
    ('0', '[role=recurrent weight_decay=0.001]', False)
    """
    import fnmatch

    from pydantic import BaseModel

    out: dict[str, str] = {}

    def walk(model: BaseModel, prefix: str) -> None:
        for k in type(model).model_fields:
            v = getattr(model, k)
            if isinstance(v, BaseModel):
                walk(v, f"{prefix}{k}.")
            else:
                out[f"{prefix}{k}"] = _shown(v)

    walk(config, "")
    return {k: v for k, v in out.items() if not any(fnmatch.fnmatchcase(k, p) for p in COMPARE_BOOKKEEPING)}


def unfinished_status(rd: Any, config: Any, final: dict[str, Any]) -> str | None:
    """How a run that wrote no summary.json (``rnnlab train`` and the Lightning callback write it
    at the end) stands: ``(running or stopped at epoch E of N)``; None for a finished run, and for
    a run recorded by hand (a Tracker writes no summary.json, finished or not). A run without
    summary.json may be running still or have been killed: the files cannot tell which."""
    from rnnlab.rundir import RECORDED_BY_LIGHTNING, RUN, read_marker

    if rd.summary.exists():
        return None
    if config is None:
        if (read_marker(rd.path, RUN) or {}).get("recorded_by") != RECORDED_BY_LIGHTNING:
            return None
        return "(running or stopped)"
    t = config.training
    pid = live_holder(rd.path)
    # a live writer holds the run's lock (rnnlab.lock writes its pid there and empties the file
    # when done): the run is running; otherwise the files cannot tell running from killed
    state = f"running, pid {pid}," if pid is not None else "running or stopped"
    # (where the budget that follows the fit moved the run's end, it runs to that end, not the config's)
    moved = budget_end(rd, config)
    of = f"the budget's {moved[1]}" if moved is not None else None
    if t.epochs is None and t.steps is not None and isinstance(final.get("step"), int):
        return f"({state} at step {final['step']} of {of or t.steps})"
    return f"({state} at epoch {final['epoch']} of {of or t.epochs or 20})"


def budget_end(rd: Any, config: Any) -> tuple[str, int] | None:
    """Where the budget that follows the fit (``adapt.budget``, :mod:`rnnlab.train.fit_budget`)
    moved the end of the run in ``rd`` (a :class:`~rnnlab.rundir.RunDir`), as the config key the
    run's length is set by and the value it stands at now, from ``adapt.json``:
    ``("training.steps", 6432)`` for a run of ``training.steps = 400`` doubled four times,
    ``("training.epochs", 35)`` for a run of epochs; None where the run ends where its config
    says (no such budget, or none of its decisions moved the end), or where ``adapt.json`` cannot
    be read (``rnnlab report`` names the problem).

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.rundir import RunDir
    >>> d = RunDir(tempfile.mkdtemp())
    >>> d.write_adapt(budget={"planned": 402, "total": 6432})
    >>> budget_end(d, parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nsteps = 400'))
    ('training.steps', 6432)
    >>> budget_end(d, parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nepochs = 134'))
    ('training.epochs', 2144)
    """
    from rnnlab.errors import RunDirError

    try:
        fit = (rd.read_adapt() or {}).get("budget") or {}
    except (RunDirError, OSError):
        return None
    total, planned = fit.get("total"), fit.get("planned")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (total, planned)) or total == planned:
        return None
    t = config.training
    if t.epochs is None and t.steps is not None:
        return "training.steps", total
    # (the plan is whole epochs of the config's count: the end in epochs is its share of them)
    return "training.epochs", total * (t.epochs or 20) // planned


class NoEpochError(RunDirError):
    """A run that recorded no epoch: ``rnnlab compare`` leaves it out of a comparison of several."""


def no_epoch_why(rd: Any) -> str:
    """Why the run directory ``rd`` (a :class:`~rnnlab.rundir.RunDir`) has no epoch to show, and
    what to do, in the words of whoever recorded it: for ``rnnlab train`` (its config.toml), set up
    or stopped before its first epoch and what continues it, as ``rnnlab train`` says when stopped;
    for a loop of the user's own, what to write.

    >>> import tempfile
    >>> from rnnlab.rundir import RunDir
    >>> d = RunDir(tempfile.mkdtemp())
    >>> _ = d.config.write_text("[data]\\ndataset = 'GunPoint'\\n")
    >>> no_epoch_why(d)  # doctest: +ELLIPSIS
    'recorded no epoch (metrics.jsonl is missing): rnnlab train ... the same command without --resume starts the run again'
    """
    from rnnlab.rundir import RECORDED_BY_LIGHTNING, RECORDED_BY_TRAIN, recorded_by

    state = f"{rd.metrics.name} {'is empty' if rd.metrics.exists() else 'is missing'}"
    who = recorded_by(rd.path)
    if who == RECORDED_BY_TRAIN and rd.summary.exists():  # (finished: its records were there)
        return (f"has no per-epoch metrics ({state}), though rnnlab train finished the run ({rd.summary.name} "
                "is there): the file was emptied or replaced after training")
    if who == RECORDED_BY_TRAIN:
        pid = live_holder(rd.path)
        # (a kill -9 leaves no word of itself: without a live holder of the lock, set-up and killed look alike)
        doing = (f"rnnlab train (pid {pid}) is still setting it up" if pid is not None
                 else "rnnlab train is still setting it up, or was stopped or killed before its first epoch")
        # (what rnnlab train itself says when stopped: a checkpoint within the first epoch is continued)
        then = (f"the checkpoint {rd.last_checkpoint} is written: --resume continues from it"
                if rd.last_checkpoint.exists()
                else "no checkpoint yet: the same command without --resume starts the run again")
        return f"recorded no epoch ({state}): {doing}; {then}"
    if who == RECORDED_BY_LIGHTNING:
        return f"recorded no epoch ({state}): the Lightning fit is still setting up, or stopped before its first epoch"
    # (a Tracker writes tracked.jsonl only: the epoch records are the loop's to write)
    return (f"has no per-epoch metrics ({state}); in your own loop write one record per epoch, e.g. "
            "tracker.run.append(tracker.run.metrics, {'epoch': epoch, 'step': tracker.step_count, "
            "'train_loss': ..., 'val_loss': ...}) with epochs counted from 1")


def run_summary(run: Path) -> dict[str, Any]:
    """One row of the comparison: ``run``'s config cells, data, status and scores (its records too).

    >>> run_summary(Path("nowhere"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnlab.errors.RunDirError: ...
    """
    from rnnlab.rundir import RunDir

    rd = RunDir.existing(run)
    records = rd.read_metrics()
    if not records:
        raise NoEpochError(f"{run} {no_epoch_why(rd)}")
    from rnnlab.task import CLASSIFICATION, task_for
    from rnnlab.train.best import best_record, kept_record
    from rnnlab.train.mean_guard import predicted_instead, scored_record

    final = records[-1]
    summary = rd.read_summary() or {}
    # (the config the run trained with: a config.toml edited after it is said so, never shown as the run's)
    trained = rd.read_trained_config() if rd.config.exists() else None
    config = trained.config if trained is not None else None
    task = task_for(config) if config is not None else CLASSIFICATION
    best_by = None  # the rule that picked the best epoch where the run's training named none
    if summary.get("best_epoch") is not None:  # a finished run: the epoch its training called best
        best = next((r for r in records if r["epoch"] == summary["best_epoch"]), None)
    else:  # running (or from before best_epoch was recorded): the same rule on its records
        stopping = config.training.early_stopping if config is not None else None
        best = (best_record(records, stopping.monitor, task, stopping.min_delta) if stopping
                else best_record(records, "val_loss", task))
        # (a Lightning or Tracker run's training calls no epoch best, finished or not)
        best_by = None if stopping else "val_loss"
    kept = kept_record(records, best, config)
    # (what the run predicts: where its mean guard chose the training mean, that prediction's figures,
    # as rnnlab search and recipe score it; test_<metric> is of the same prediction)
    kept = scored_record(kept, summary) if kept is not None else None
    # what the best epoch is best by: the loss's is its lowest, accuracy's its highest (the task says)
    monitor = config.training.early_stopping.monitor if config is not None else "val_loss"
    best_by_words = f"{'highest' if task.higher_is_better(monitor) else 'lowest'} {monitor}"
    # a run without config.toml records no task: its columns are those of the metrics it logged
    m, higher = ((task.headline.name, task.headline.higher_is_better) if config is not None
                 else _logged_headline(records))
    # train_<m>: the evaluated model on the training split (the weights the test figure is of, what
    # rnnlab train printed); before the run's end, its last epoch's figure in training mode
    evaluated = summary.get("train_eval") or {}
    status = unfinished_status(rd, config, final)
    moved = budget_end(rd, config) if config is not None else None
    forecast = config is not None and task.kind == "forecasting"
    row = {"run": str(run), "status": status, "epochs": final["epoch"], "headline": m,
           "higher_is_better": higher, "data": _data_of(run, config), "data_id": _data_id(run, config),
           # a run without config.toml (Tracker, Lightning) has no task recorded: None, not a guess
           "task": task.name if config is not None else None,
           "config": _config_cells(config) if config is not None else None,
           # (beside the config's value, not in place of it: the config cells tell seeds of one config apart)
           "budget_end": list(moved) if moved is not None else None,
           "train_loss": final.get("train_loss"),
           # (the loss's columns are shown where some run's headline is the loss: every run fills them)
           "val_loss": final.get("val_loss"), at_best("val_loss"): best.get("val_loss") if best else None,
           at_kept("val_loss"): kept.get("val_loss") if kept else None,
           "test_loss": (summary.get("test") or {}).get("loss"),
           f"train_{m}": evaluated.get(m, final.get(f"train_{m}")), f"val_{m}": final.get(f"val_{m}"),
           at_best(f"val_{m}"): best.get(f"val_{m}") if best else None,
           at_kept(f"val_{m}"): kept.get(f"val_{m}") if kept else None, "best_epoch": best["epoch"] if best else None,
           "best_by": best_by, "best_by_monitor": best_by if best_by else best_by_words, "recorded_by": "lightning" if config is None and _by_lightning(rd) else None,
           f"test_{m}": (summary.get("test") or {}).get(m), "max_group_decay": final.get("weight_decay"),
           "targets": _targets(rd, config, task) if config is not None else None, "records": records,
           "edited": trained.edited_line() if trained is not None else "",
           # what one validation series (a per-step run: one step) is of the accuracy: its resolution
           "val_series": sum(((summary.get("val_by_class") or {}).get("count") or {}).values()) or None,
           # what its own mean guard made it predict instead of its model (a tie of such runs compares
           # no settings: rnnlab.recipe.decide.all_at_mean); a carried decision scores no validation part
           "at_mean": predicted_instead(summary.get("mean_guard"))}
    if forecast:
        # MASE is scaled by the seasonal-naive error over the run's own training block (task.season)
        # and scores task.horizon steps ahead: each run beside its own seasonal-naive forecast
        row.update({"season": config.task.season, "horizon": config.task.horizon,
                    "training_block": _training_block(run, config),
                    f"test_{m}{BASELINE_SUFFIX}": ((summary.get("baselines") or {}).get("test") or {})
                    .get("seasonal_naive", {}).get(m)})
    if config is not None and task.kind == "language_model":
        # bits per token are per the run's own tokens: what they are, and what its vocabulary folds
        row["token_unit"] = _token_unit(config, summary)
    return row


def _all_at_mean(rows: list[dict[str, Any]]) -> str | None:
    """The one baseline every run of ``rows`` predicted instead of its model
    (:func:`rnnlab.train.mean_guard.predicted_instead`), else None."""
    said = {r.get("at_mean") for r in rows}
    return said.pop() if len(said) == 1 and None not in said else None


#: What the column of a score at the best epoch adds to the score's name.
AT_BEST = "@best_epoch"
#: What the column of the kept model's score adds to the score's name (:func:`~rnnlab.train.best.kept_record`).
AT_KEPT = "@kept"
#: How those columns were named before (``best_val_acc``): a row that holds the old key is read.
OLD_AT_BEST = "best_"


def at_best(key: str) -> str:
    """The column of ``key`` (``val_acc``) at the epoch the run's training called best (by
    ``training.early_stopping.monitor``, lowest ``val_loss`` by default): ``val_acc@best_epoch``.
    Not the highest ``val_acc`` of the run, which the old name ``best_val_acc`` read as: at the
    epoch of lowest loss the accuracy may be below the last epoch's.

    >>> at_best("val_acc")
    'val_acc@best_epoch'
    """
    return f"{key}{AT_BEST}"


def at_kept(key: str) -> str:
    """The column of ``key`` (``val_acc``) for the model the run kept (:func:`~rnnlab.train.best.kept_record`): what
    ``rnnlab compare`` marks groups by.

    >>> at_kept("val_acc")
    'val_acc@kept'
    """
    return f"{key}{AT_KEPT}"


def _renamed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with a score at the best epoch under its name (:func:`at_best`), where it holds
    the old one (``best_val_acc``: rows a caller built before the rename).

    >>> _renamed({"best_val_acc": 0.9})["val_acc@best_epoch"]
    0.9
    """
    old = {at_best(k[len(OLD_AT_BEST):]): v for k, v in row.items()
           if k.startswith(OLD_AT_BEST + "val_") and at_best(k[len(OLD_AT_BEST):]) not in row}
    return {**row, **old} if old else row


#: The suffix of the column of a forecasting run's seasonal-naive forecast scored on its test block.
BASELINE_SUFFIX = "_seasonal_naive"
#: The config key of a data file, compared by content (:func:`_data_id`), not by name.
DATA_PATH_KEY = "data.path"


def _by_lightning(rd: Any) -> bool:
    from rnnlab.rundir import RECORDED_BY_LIGHTNING, recorded_by

    return recorded_by(rd.path) == RECORDED_BY_LIGHTNING


def _logged_headline(records: list[dict[str, Any]]) -> tuple[str, bool]:
    """The headline metric (and whether higher is better) of a run that records no task (a
    Lightning or Tracker run): the first metric of rnnlab's tasks, headlines first, that its
    records hold as ``train_<m>`` or ``val_<m>``; else the loss.

    >>> _logged_headline([{"epoch": 1, "train_loss": 0.3, "val_loss": 0.4, "val_rmse": 1.2}])
    ('rmse', False)
    >>> _logged_headline([{"epoch": 1, "train_loss": 0.3}])
    ('loss', False)
    """
    from rnnlab.task import CLASSIFICATION, FORECASTING, LANGUAGE_MODEL, REGRESSION

    tasks = (CLASSIFICATION, REGRESSION, FORECASTING, LANGUAGE_MODEL)
    logged = {k for r in records for k in r}
    candidates = [t.headline for t in tasks] + [mt for t in tasks for mt in t.metrics]
    for metric in candidates:
        if metric.name != "loss" and {f"train_{metric.name}", f"val_{metric.name}"} & logged:
            return metric.name, metric.higher_is_better
    return "loss", False


def _targets(rd: Any, config: Any, task: Any) -> list[str] | None:
    """A regression run's target names (:func:`rnnlab.train.predict.target_names`): those
    ``data.target_column`` gives, else as many as the model it evaluated predicts (the width of
    its head's last layer in the checkpoint); None for another task, or when neither says."""
    import re

    from rnnlab.train.checkpoint import load_checkpoint
    from rnnlab.train.predict import target_names
    from rnnlab.train.run_fit import evaluated_checkpoint

    if task.kind != "regression":
        return None
    given = config.data.target_column
    if given is not None:  # (a .csv's columns: named in the config, no checkpoint needed)
        return target_names(config, 1 if isinstance(given, str) else len(given))
    try:
        state = load_checkpoint(evaluated_checkpoint(rd, config))["model"]
    except RnnlabError:  # (no checkpoint kept, as a search's trial may not: the targets are not known)
        return None
    # the head's last layer (an ensemble's members alike): one output per target
    last = max(((int(m[2]), v) for k, v in state.items() if (m := re.fullmatch(r"(.*\.)?head\.(\d+)\.bias", k))),
               key=lambda x: x[0], default=None)
    return target_names(config, int(last[1].shape[0])) if last is not None else None


def targets_note(rows: list[dict[str, Any]]) -> str | None:
    """One line when regression runs predict different targets (their number or names): their
    RMSE and MAE, pooled over each run's own targets in the data's units, are then not
    comparable; None when they agree or are not known.

    >>> print(targets_note([{"run": "a", "targets": ["target"]}, {"run": "b", "targets": ["target0", "target1"]}]))
    note: the runs predict different targets (a: 1 target, target; b: 2 targets, target0, target1): their rmse and mae (pooled over each run's targets, in the data's units) are not comparable
    >>> targets_note([{"run": "a", "targets": ["y"]}, {"run": "b", "targets": ["y"]}, {"run": "c", "targets": None}]) is None
    True
    """
    known = [(r["run"], r["targets"]) for r in rows if r.get("targets") is not None]
    if len({tuple(t) for _, t in known}) < 2:
        return None
    said = "; ".join(f"{run}: {len(t)} target{'s' if len(t) != 1 else ''}, {', '.join(t[:4])}"
                     + (", ..." if len(t) > 4 else "") for run, t in known)
    return (f"note: the runs predict different targets ({said}): their rmse and mae (pooled over each run's targets, "
            "in the data's units) are not comparable")


def compare_table(rows: list[dict[str, Any]]) -> str:
    """Runs side by side: the config keys whose values differ between the runs (``config``: the
    flattened config of a run with config.toml, see :func:`_config_cells`; ``-`` for a run without),
    then final and best metrics (one row per run; the best epoch is the one its training called
    best, by training.early_stopping.monitor, see :mod:`rnnlab.train.best`; ``val_<metric>@kept`` is the
    score of the model the run kept, :func:`~rnnlab.train.best.kept_record`; ``train_<metric>`` is
    the evaluated model's on the training split once the run has finished). Each row shows its
    task's headline metric (``headline``: ``acc`` when absent); runs of different tasks get the
    columns of each. ``max_group_decay`` is the largest weight decay of any parameter group at the
    last epoch (what the metric records), not a configured value. A run that has not finished
    (``status``) says so after its name.

    >>> print(compare_table([{"run": "a", "epochs": 3, "train_loss": 0.5, "train_acc": 0.9,
    ...                       "val_acc": None, "val_acc@best_epoch": None, "best_epoch": None,
    ...                       "test_acc": 0.8, "max_group_decay": 0.0}]))
    run  epochs  train_loss  train_acc  val_acc  val_acc@best_epoch  val_acc@kept  best_epoch  test_acc  max_group_decay
    a    3       0.5         0.9        -        -                   -             -           0.8       0
    """
    rows = [_renamed(r) for r in rows]
    heads = list(dict.fromkeys(r.get("headline", "acc") for r in rows))
    # only the keys some two runs set differently: the settings the comparison is about
    differing = _differing(rows)
    # (a run whose budget moved its end ran another length than its config's: that key's column says so)
    moved = {r["run"]: r["budget_end"] for r in rows if r.get("budget_end")}
    differing += [k for k in dict.fromkeys(k for k, _ in moved.values()) if k not in differing]
    cols = ["run"] + differing + _score_columns(rows, heads)

    def cell(r: dict[str, Any], c: str) -> str:
        if c == "run":
            return r["run"] + (f" {r['status']}" if r.get("status") else "")
        if c in differing:
            shown = "-" if r.get("config") is None else r["config"].get(c, "(unset)")
            key, end = moved.get(r["run"], (None, None))
            return shown + (f" (budget {end})" if key == c else "")
        v = r.get(c)
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return text_table([cols] + [[cell(r, c) for c in cols] for r in rows])


#: The config key a group's runs differ in.
SEED_KEY = "training.seed"
#: What ``rnnlab compare`` writes into its figures folder.
FIGURE_NAMES = ("compare_metrics.png", "compare_norms.png")
#: The default figures folder, beside the first run: a folder no glob of runs mistakes for a run
#: (:func:`skip_figures` skips it, with a note, when a glob of the runs' parent matches it).
DEFAULT_FIGURES = "compare"
_FOLD = re.compile(r"fold-(\d+)")


def _fold_of(run: Path) -> str | None:
    """A recipe's or search's run's fold, ``"1 of 5"``, as its trainer recorded it
    (:meth:`rnnlab.rundir.RunDir.fold`: folds of different plans told apart), or, for a run
    recorded before runs kept their fold, from its directory's name ``fold-K``; None for a run of
    the whole training split."""
    from rnnlab.rundir import RUN, read_marker

    try:
        fold = (read_marker(run, RUN) or {}).get("fold")
    except (RnnlabError, OSError):
        fold = None
    if isinstance(fold, dict) and isinstance(fold.get("index"), int) and isinstance(fold.get("k"), int):
        what = (f"{fold['index'] + 1} of {fold['k']}" if fold["k"] > 1 else
                f"1 of 1 (a hold-out of {fold.get('holdout', 0.2):g})")
        return what + (f" (seed {fold['seed']})" if fold.get("seed") else "")
    named = _FOLD.fullmatch(Path(run).name)
    return named.group(1) if named else None


def _data_of(run: Path, config: Any) -> str | None:
    """The data a run trained and validated on: ``data.dataset`` or ``data.path``, and the fold of
    a recipe's or search's run (:func:`_fold_of`)."""
    if config is None:
        return None
    data = config.data.dataset or config.data.path or "?"
    fold = _fold_of(run)
    return f"{data} fold {fold}" if fold else str(data)


def _data_id(run: Path, config: Any) -> str | None:
    """What tells a run's data from other data: the SHA-256 of the file ``data.path`` names while
    it exists (with the fold of a recipe's or search's run), else :func:`_data_of`'s name. By
    content, not name: each estimator's run keeps its own copy of the arrays it was given (its
    ``train_data.npz``), so seeds fitted on the same X, y name different files of one content.
    (Not the checkpoint's ``data_sha256`` alone: it fingerprints the split as the run drew it, seeded
    by ``training.seed``, so that two seeds on one file never agree; :func:`join_read_alike` adds it:
    two files the runs read as the same data, a text with LF and with CRLF line ends, are one.)"""
    if config is None:
        return None
    name = _data_of(run, config)
    if config.data.dataset is None and config.data.path:
        digest = file_sha256(Path(config.data.path))
        if digest is not None:
            fold = _fold_of(run)
            return f"sha256:{digest}" + (f" fold {fold}" if fold else "")
    return name


def _data_read(run: str) -> str | None:
    """The fingerprint of a run's data as its model read them (the checkpoint's ``data_sha256``,
    :meth:`rnnlab.data.DataSplits.fingerprint`: every split's arrays); None for a run that kept no
    readable checkpoint."""
    from rnnlab.rundir import BEST_CHECKPOINT, LAST_CHECKPOINT, RunDir

    for name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        try:
            fingerprint = RunDir(run).read_checkpoint(name).get("data_sha256")
        except (RnnlabError, OSError):
            continue
        if isinstance(fingerprint, str):
            return fingerprint
    return None


def join_read_alike(rows: list[dict[str, Any]],
                    data_read: Callable[[str], str | None] = _data_read) -> list[dict[str, Any]]:
    """``rows`` with one ``data_id`` (:func:`_data_id`) for runs whose data the model read alike:
    where two runs' files differ in bytes (a text saved with LF and with CRLF line ends, read as
    one text) but ``data_read(run)`` (the checkpoint's fingerprint of the data as read) agrees,
    every run of either ``data_id`` takes the first one's. Fingerprints are read only where the
    ``data_id`` differ. A fingerprint covers the split too, so runs of other seeds agree only
    through their files: a run on the LF file beside each seed of the CRLF file joins them all.

    >>> rows = [{"run": "lf", "data_id": "sha256:1"}, {"run": "crlf", "data_id": "sha256:2"},
    ...         {"run": "crlf-s1", "data_id": "sha256:2"}, {"run": "other", "data_id": "sha256:3"}]
    >>> read = {"lf": "f0", "crlf": "f0", "crlf-s1": "f1", "other": "f9"}.get
    >>> [r["data_id"] for r in join_read_alike(rows, read)]
    ['sha256:1', 'sha256:1', 'sha256:1', 'sha256:3']
    """
    ids = list(dict.fromkeys(r["data_id"] for r in rows if r.get("data_id") is not None))
    if len(ids) < 2:
        return rows
    first: dict[Any, Any] = {d: d for d in ids}  # each data_id's representative (union-find)

    def root(d: Any) -> Any:
        while first[d] != d:
            d = first[d]
        return d

    seen: dict[str, Any] = {}
    for r in rows:
        fingerprint = data_read(r["run"]) if r.get("data_id") is not None else None
        if fingerprint is None:
            continue
        a, b = root(seen.setdefault(fingerprint, r["data_id"])), root(r["data_id"])
        if a != b:  # (the one given first names both)
            first[max(a, b, key=ids.index)] = min(a, b, key=ids.index)
    return [{**r, "data_id": root(r["data_id"])} if r.get("data_id") is not None else r for r in rows]


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of the file at ``path`` (read in chunks), None when it cannot be read; one
    read per file, size and modification time within a process."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _sha256_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _training_block(run: Path, config: Any) -> str | None:
    """A forecasting run's training block, the part of each series it trained on and over which
    its MASE's scale (the seasonal-naive error) was measured: ``first 256 steps`` (the series read
    again and split as training split it, :func:`rnnlab.data.stream.split_bounds`), or the keys
    that size it when the series cannot be read now; None for a fold's run (its fold is in its
    data, :func:`data_note` says it)."""
    from rnnlab.data.stream import read_series, split_bounds

    if _fold_of(run):
        return None
    d = config.data
    try:
        lengths = [split_bounds(len(x), d, None).train for x in read_series(d).values]
    except (RnnlabError, OSError, ValueError):
        val = f"data.val_steps = {d.val_steps}" if d.val_steps is not None else f"data.val_fraction = {d.val_fraction:g}"
        test = (f"data.test_steps = {d.test_steps}" if d.test_steps is not None
                else f"data.test_fraction = {d.test_fraction:g}")
        return f"{test}, {val}"
    return f"first {', '.join(str(n) for n in lengths)} steps" + (f" of {len(lengths)} series" if len(lengths) > 1 else "")


def _by_value(rows: list[dict[str, Any]], value: Callable[[dict[str, Any]], Any]) -> dict[Any, list[str]]:
    out: dict[Any, list[str]] = {}
    for r in rows:
        out.setdefault(value(r), []).append(r["run"])
    return out


def _listed(by: dict[Any, list[str]], shown: Callable[[Any], str]) -> str:
    return "; ".join(f"{shown(v)}: {', '.join(runs[:3])}" + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
                     for v, runs in by.items())


def scale_note(rows: list[dict[str, Any]]) -> str | None:
    """One line when forecasting runs differ in ``task.season`` or ``task.horizon``: MASE divides
    by the seasonal-naive error at the season, and the horizon is what is forecast, so their MASE
    are not on one scale; None when they agree (or no two are forecasting runs).

    >>> print(scale_note([{"run": "a", "season": 7, "horizon": 3}, {"run": "b", "season": 1, "horizon": 3}]))
    warning: the forecasting runs differ in task.season or task.horizon (season 7, horizon 3: a; season 1, horizon 3: b): their MASE are not on one scale (each divides by its own season's seasonal-naive error, and scores its own horizon): read each run's test_mase beside its own test_mase_seasonal_naive
    """
    by = _by_value([r for r in rows if r.get("season") is not None], lambda r: (r["season"], r["horizon"]))
    if len(by) < 2:
        return None
    return (f"warning: the forecasting runs differ in task.season or task.horizon "
            f"({_listed(by, lambda v: f'season {v[0]}, horizon {v[1]}')}): their MASE are not on one scale (each "
            f"divides by its own season's seasonal-naive error, and scores its own horizon): read each run's "
            f"test_mase beside its own test_mase{BASELINE_SUFFIX}")


def block_note(rows: list[dict[str, Any]]) -> str | None:
    """One line when forecasting runs on the same data trained on different blocks of it (a
    search's or recipe's final run, retrained on training + validation, beside a run that held
    validation out): MASE's scale is the seasonal-naive error over each run's own training block,
    and the models saw different steps; None when the blocks agree.

    >>> print(block_note([{"run": "a", "data_id": "d", "training_block": "first 256 steps"},
    ...                   {"run": "a-search/final", "data_id": "d", "training_block": "first 320 steps"}]))
    warning: the forecasting runs trained on different blocks of their series (first 256 steps: a; first 320 steps: a-search/final): each MASE is scaled by the seasonal-naive error over its own training block, and a model trained on more of the series (a final run, retrained on training + validation) saw steps the other did not
    """
    blocks = [r for r in rows if r.get("training_block") is not None]
    differ = [r for d, runs in _by_value(blocks, lambda r: r.get("data_id")).items()
              if len({r["training_block"] for r in blocks if r.get("data_id") == d}) > 1
              for r in blocks if r["run"] in runs]
    if not differ:
        return None
    return (f"warning: the forecasting runs trained on different blocks of their series "
            f"({_listed(_by_value(differ, lambda r: r['training_block']), str)}): each MASE is scaled by the "
            "seasonal-naive error over its own training block, and a model trained on more of the series (a final "
            "run, retrained on training + validation) saw steps the other did not")


def _token_unit(config: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """What a language-model run's bpc and ppl are per: ``data.tokens`` (unset: ``"char"``),
    ``data.vocab_size`` as configured, and the share of its training tokens read as ``<unk>``
    (summary.json's ``text``; None where the run has not recorded it yet).

    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[task]\\nkind = "language_model"\\n[data]\\npath = "t.txt"\\ntokens = "word"\\nvocab_size = 500')
    >>> _token_unit(cfg, {"text": {"tokens": {"train": 200}, "unknown": {"train": 38}}})
    {'tokens': 'word', 'vocab_size': 500, 'unknown': 0.19}
    """
    text = summary.get("text")
    counts = [text.get(k, {}).get("train") if isinstance(text, dict) and isinstance(text.get(k), dict) else None
              for k in ("tokens", "unknown")]
    known = all(isinstance(n, int) and not isinstance(n, bool) for n in counts) and counts[0] > 0
    return {"tokens": config.data.tokens or "char", "vocab_size": config.data.vocab_size,
            "unknown": counts[1] / counts[0] if known else None}


def _folding_cap(unit: dict[str, Any]) -> int | None:
    """The vocabulary cap that changes what is predicted: ``data.vocab_size`` where it read training
    tokens as ``<unk>`` (or the run has not said), None where it folded none (as good as unset)."""
    return None if unit["unknown"] == 0 else unit["vocab_size"]


def _scale_of(row: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a run's headline score is relative to (None for a run of another task): a forecasting
    run's MASE to its season, horizon and training block; a language model's bits per token to its
    tokens and the vocabulary cap that folds some of them into ``<unk>``. Two runs' scores compare
    only where these agree.

    >>> _scale_of({"season": 7, "horizon": 2, "training_block": "first 96 steps"})
    ('mase', 7, 2, 'first 96 steps')
    >>> _scale_of({"token_unit": {"tokens": "word", "vocab_size": 500, "unknown": 0.0}})
    ('tokens', 'word', None)
    """
    if row.get("season") is not None:
        return ("mase", row["season"], row["horizon"], row.get("training_block"))
    unit = row.get("token_unit")
    return None if unit is None else ("tokens", unit["tokens"], _folding_cap(unit))


def _unit_words(unit: dict[str, Any], keys: bool = True) -> str:
    """A language-model run's tokens in words: ``data.tokens = word, data.vocab_size = 500 (19% of
    the training tokens read as <unk>)``, or in short (``keys=False``) ``word, vocab 500``."""
    cap, share = unit["vocab_size"], unit["unknown"]
    if not keys:
        return unit["tokens"] + (f", vocab {cap}" if _folding_cap(unit) is not None else "")
    folded = ("" if cap is None or share is None else
              " (no training token read as <unk>)" if share == 0 else
              f" ({share:.0%} of the training tokens read as <unk>)")
    return f"data.tokens = {unit['tokens']}, " + ("data.vocab_size unset" if cap is None
                                                 else f"data.vocab_size = {cap}{folded}")


def tokens_note(rows: list[dict[str, Any]]) -> str | None:
    """One line when language-model runs differ in ``data.tokens`` or in a ``data.vocab_size`` that
    folds training tokens into ``<unk>``: bpc and ppl are per token, so their scores are not on one
    scale (a character and a word are different units; a capped vocabulary makes the task easier);
    None when they agree (or no two are language-model runs).

    >>> print(tokens_note([{"run": "a", "token_unit": {"tokens": "char", "vocab_size": None, "unknown": 0.0}},
    ...                    {"run": "b", "token_unit": {"tokens": "word", "vocab_size": 500, "unknown": 0.19}}]))
    warning: the language-model runs differ in data.tokens and data.vocab_size (data.tokens = char, data.vocab_size unset: a; data.tokens = word, data.vocab_size = 500 (19% of the training tokens read as <unk>): b): their bpc and ppl are per token and not on one scale (a character and a word are different units; a vocabulary capped by data.vocab_size reads its rarer tokens as one <unk>, which is easier to predict than the tokens it stands for): their bpc and ppl columns do not rank them; read each run's beside runs of its own data.tokens and data.vocab_size
    """
    units = [r for r in rows if r.get("token_unit") is not None]
    by = _by_value(units, _scale_of)
    if len(by) < 2:
        return None
    kinds, caps = ({scale[i] for scale in by} for i in (1, 2))
    keys = [k for k, differ in (("data.tokens", len(kinds) > 1), ("data.vocab_size", len(caps) > 1)) if differ]
    why = ([f"a {' and a '.join({'char': 'character'}.get(k, k) for k in sorted(kinds))} are different units"] if len(kinds) > 1 else []) \
        + (["a vocabulary capped by data.vocab_size reads its rarer tokens as one <unk>, which is easier to predict "
            "than the tokens it stands for"] if len(caps) > 1 else [])
    # (each value shown as its first run records it: the runs of one value differ only in the <unk> share)
    shown = {scale: _unit_words(next(r["token_unit"] for r in units if _scale_of(r) == scale)) for scale in by}
    return (f"warning: the language-model runs differ in {' and '.join(keys)} ({_listed(by, shown.__getitem__)}): "
            f"their bpc and ppl are per token and not on one scale ({'; '.join(why)}): their bpc and ppl columns do "
            "not rank them; read each run's beside runs of its own data.tokens and data.vocab_size")


def edited_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One warning per run whose config.toml was changed after it trained, naming the keys
    (:meth:`rnnlab.rundir.TrainedConfig.edited_line`): its row shows the config it trained with.

    >>> edited_notes([{"run": "runs/a", "edited": "config.toml was changed after the run trained: ..."},
    ...               {"run": "runs/b", "edited": ""}])
    ['warning: runs/a: config.toml was changed after the run trained: ...']
    """
    return [f"warning: {r['run']}: {r['edited']}" for r in rows if r.get("edited")]


def data_note(rows: list[dict[str, Any]]) -> str | None:
    """One line when the runs trained on different data (a data set, a file, a fold): a score's
    difference between them is then not only their configs' effect; None when the data agree.

    >>> print(data_note([{"run": "a", "data": "GunPoint fold 1"}, {"run": "b", "data": "GunPoint fold 3"}]))
    warning: the runs are on different data (GunPoint fold 1: a; GunPoint fold 3: b): their scores differ by the data too, not only by the config keys shown
    >>> data_note([{"run": "a", "data": "GunPoint"}, {"run": "b", "data": None}]) is None
    True
    """
    # one entry per data (data_id: a file's content), named by the names its runs give it
    named = [r for r in rows if r.get("data") is not None]
    by = _by_value(named, lambda r: r.get("data_id") or r["data"])
    if len(by) < 2:
        return None
    names = {d: " = ".join(dict.fromkeys(r["data"] for r in named if (r.get("data_id") or r["data"]) == d)) for d in by}
    said = _listed(by, lambda d: names[d])
    return (f"warning: the runs are on different data ({said}): their scores differ by the data too, "
            "not only by the config keys shown")


def group_runs(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows grouped by config less ``training.seed`` and by data, in the order first given,
    each seed once: a run of a seed its group already holds (a rerun, or a final run retrained
    with the same config and seed) is no replicate, and is a group of its own, its row's
    ``rerun_of`` naming the group's run of that seed (:func:`rerun_note` says it). A run without
    config.toml is a group of its own (its config is not known).

    >>> rows = [{"run": r, "config": {"training.seed": "0"}, "data": "d"} for r in ("base", "final")]
    >>> [[r["run"] for r in g] for g in group_runs(rows)], rows[1]["rerun_of"]
    ([['base'], ['final']], 'base')
    """
    groups: dict[Any, list[dict[str, Any]]] = {}
    for i, r in enumerate(rows):
        cfg = r.get("config")
        # (data.path by what it holds, data_id: two copies of one file are the same data)
        key = (("config", tuple(sorted((k, v) for k, v in cfg.items() if k not in (SEED_KEY, DATA_PATH_KEY))),
                r.get("data_id") or r.get("data"))
               if cfg is not None else ("run", i))
        same = next((o for o in groups.get(key, []) if o["config"].get(SEED_KEY) == cfg.get(SEED_KEY)), None) \
            if cfg is not None else None
        if same is not None:
            r["rerun_of"] = same["run"]
            key = ("run", i)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def rerun_note(rows: list[dict[str, Any]]) -> str | None:
    """One line naming the runs that stand alone because their group already holds their seed
    (:func:`group_runs`' ``rerun_of``); None when there is none.

    >>> print(rerun_note([{"run": "t/baseline", "config": {"training.seed": "0"}},
    ...                   {"run": "t/final", "config": {"training.seed": "0"}, "rerun_of": "t/baseline"}]))
    note: t/final stands alone: same config, data and seed (0) as t/baseline, a rerun and not another seed (a group's mean ± sd is over distinct seeds)
    """
    alone = [r for r in rows if r.get("rerun_of")]
    if not alone:
        return None
    said = "; ".join(f"{r['run']}: same config, data and seed ({r['config'].get(SEED_KEY, '?')}) as {r['rerun_of']}"
                     for r in alone)
    if len(alone) == 1:
        said = said.replace(": same", " stands alone: same", 1)
        return f"note: {said}, a rerun and not another seed (a group's mean ± sd is over distinct seeds)"
    return (f"note: {len(alone)} runs stand alone ({said}): reruns and not other seeds (a group's mean ± sd is over "
            "distinct seeds)")


def _differing(rows: list[dict[str, Any]], leave_out: tuple[str, ...] = ()) -> list[str]:
    """The config keys (less ``leave_out``) whose values differ between ``rows`` with a config;
    ``data.path`` only where the files differ in content (:func:`_data_id`), not in name."""
    configs = [r["config"] for r in rows if r.get("config") is not None]
    keys = [k for k in dict.fromkeys(k for c in configs for k in c) if k not in leave_out]
    same_data = len({r.get("data_id") or r.get("data") for r in rows if r.get("config") is not None}) == 1
    return [k for k in keys if len({c.get(k, "(unset)") for c in configs}) > 1
            and not (k == DATA_PATH_KEY and same_data)]


def _score_columns(rows: list[dict[str, Any]], heads: list[str]) -> list[str]:
    """The score columns of ``heads`` (a forecasting run's seasonal-naive test score beside its own)."""
    baseline = [f"test_{h}{BASELINE_SUFFIX}" for h in heads
                if any(r.get(f"test_{h}{BASELINE_SUFFIX}") is not None for r in rows)]
    return list(dict.fromkeys(
        ["epochs", "train_loss"]
        + [k for h in heads for k in (f"train_{h}", f"val_{h}", at_best(f"val_{h}"), at_kept(f"val_{h}"))]
        + ["best_epoch"] + [k for h in heads for k in (f"test_{h}", f"test_{h}{BASELINE_SUFFIX}")
                            if not k.endswith(BASELINE_SUFFIX) or k in baseline]
        + ["max_group_decay"]))


def group_label(group: list[dict[str, Any]]) -> str:
    """A group's name: its one run, or the runs' paths with ``*`` where they differ; where a part
    that differs shares no start (``a/x`` and ``b/y`` would read ``*/*``, naming nothing), the
    first run and how many more.

    >>> group_label([{"run": "runs/none-s0"}, {"run": "runs/none-s1"}])
    'runs/none-s*'
    >>> group_label([{"run": "r/seed-0/fold-1"}, {"run": "r/seed-1/fold-1"}])
    'r/seed-*/fold-1'
    >>> group_label([{"run": "base/s0"}, {"run": "rerun/s1"}])
    'base/s0 and 1 more'
    """
    names = [g["run"] for g in group]
    if len(names) == 1:
        return names[0]
    parts = [Path(n).parts for n in names]
    if len({len(p) for p in parts}) == 1:
        shared = [p[0] if len(set(p)) == 1 else os.path.commonprefix(list(p)) for p in zip(*parts)]
        if all(shared):
            return str(Path(*(s if len(set(p)) == 1 else s + "*" for s, p in zip(shared, zip(*parts), strict=True))))
    return f"{names[0]} and {len(names) - 1} more"


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return mean, sd


def _reference(groups: list[list[dict[str, Any]]], differing: list[str], defaults: dict[str, str]) -> int:
    """The index of the group with the fewest ``differing`` keys away from their defaults (the
    base config), the first among equals; a group without config counts as every key away."""
    def away(g: list[dict[str, Any]]) -> int:
        cfg = g[0].get("config")
        return len(differing) + 1 if cfg is None else sum(cfg.get(k) != defaults.get(k) for k in differing)
    return min(range(len(groups)), key=lambda i: away(groups[i]))


def _default_cells(config_of_run: Any, keys: list[str]) -> dict[str, str]:
    """The shown default (:func:`_config_cells`'s form) of each dotted key of a run's config."""
    from pydantic import BaseModel

    out = {}
    for key in keys:
        *path, last = key.split(".")
        model: Any = config_of_run
        for p in path:
            model = getattr(model, p, None)
        if not isinstance(model, BaseModel) or last not in type(model).model_fields:
            continue
        default = type(model).model_fields[last].get_default(call_default_factory=True)
        out[key] = _shown(default)
    return out


def grouped_table(groups: list[list[dict[str, Any]]], defaults: dict[str, str] | None = None) -> str:
    """One row per group of seeds (see the module's doc): the differing config keys, ``n``, the
    seeds, each score's mean ± sd (ddof=1) over the seeds, and the verdict of
    :func:`rnnlab.recipe.decide.verdict` on ``val_<metric>@kept`` (the kept model's score,
    :func:`~rnnlab.train.best.kept_record`) against the reference group: paired by seed where
    the two groups hold the same seeds, else Welch's form. Groups of the same score on every seed
    are ``not better: tie: ...`` (:func:`rnnlab.recipe.decide.cannot_tell`), naming the step of
    accuracy where every run's row says how many validation series it scored (``val_series``), or,
    where every run of both groups predicted its training mean (``at_mean``: its mean guard set the
    model aside), that no settings were compared (:func:`rnnlab.recipe.decide.all_at_mean`).

    >>> g = lambda z, vs: [{"run": f"{z}-s{s}", "config": {"model.zoneout": z, "training.seed": str(s)},
    ...                     "headline": "acc", "higher_is_better": True, "val_acc@kept": v}
    ...                    for s, v in enumerate(vs)]
    >>> print(grouped_table([g("0", (0.80, 0.82, 0.81)), g("0.15", (0.91, 0.92, 0.90))], {"model.zoneout": "0"}))
    group    model.zoneout  n  seeds  val_acc@kept  vs 0-s* (val_acc@kept)
    0-s*     0              3  0,1,2  0.81 ± 0.01   reference
    0.15-s*  0.15           3  0,1,2  0.91 ± 0.01   better: gain +0.1000 above one standard error (se 0.0058)
    """
    from rnnlab.recipe.decide import tolerance, verdict

    groups = [[_renamed(r) for r in g] for g in groups]
    reps = [g[0] for g in groups]
    heads = list(dict.fromkeys(r.get("headline", "acc") for r in reps))
    differing = _differing(reps, leave_out=(SEED_KEY,))
    scores = [c for c in _score_columns(reps, heads) if any(r.get(c) is not None for g in groups for r in g)]
    ref = _reference(groups, differing, defaults or {})
    select = at_kept(f"val_{reps[ref].get('headline', 'acc')}")
    mark = f"vs {group_label(groups[ref])} ({select})"
    cols = ["group", *differing, "n", "seeds", *scores, mark]

    def stat(g: list[dict[str, Any]], c: str) -> str:
        vals = [float(r[c]) for r in g if isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)]
        if not vals:
            return "-"
        mean, sd = _mean_sd(vals)
        # (equal values summed in another order leave an sd of 1e-16: no spread, said as such)
        shown = None if sd is None else "0" if sd <= tolerance(mean) else f"{sd:.2g}"
        return f"{mean:.4g}" + (f" ± {shown}" if shown is not None else "") + (
            f" (n={len(vals)})" if len(vals) < len(g) else "")

    def judged(i: int) -> str:
        if i == ref:
            return "reference"
        side = [[float(r[select]) for r in groups[j] if isinstance(r.get(select), (int, float))] for j in (i, ref)]
        if not side[0] or not side[1]:
            return "-"
        if reps[i].get("headline") != reps[ref].get("headline"):
            return "-"
        if (reps[i].get("data_id") or reps[i].get("data")) != (reps[ref].get("data_id") or reps[ref].get("data")):
            return "- (other data)"  # the data's effect is no setting's (data_note says it)
        if _scale_of(reps[i]) != _scale_of(reps[ref]):  # (scale_note, block_note, tokens_note say it)
            return ("- (MASE on another scale)" if reps[i].get("season") is not None
                    else f"- ({reps[i].get('headline')} of other tokens)")
        # (a diverged run's NaN is no score: the rule judges finite scores, and no mean holds it)
        lost = [str(r.get("run")) for j in (i, ref) for r in groups[j]
                if isinstance(r.get(select), (int, float)) and not math.isfinite(float(r[select]))]
        if lost:
            return f"- ({select} not finite for {', '.join(lost)}: {'its' if len(lost) == 1 else 'their'} training diverged)"
        # Runs of the same seed on the same data (checked above) share their split and initial
        # weights: where both groups hold the same seeds, each scored, the rule pairs them by seed.
        seeds = [{r["config"].get(SEED_KEY): float(r[select]) for r in groups[j]
                  if r.get("config") is not None and isinstance(r.get(select), (int, float))} for j in (i, ref)]
        paired = (len(seeds[0]) == len(groups[i]) and len(seeds[1]) == len(groups[ref])
                  and seeds[0].keys() == seeds[1].keys() and None not in seeds[0])
        if paired:
            side = [[by[s] for s in seeds[0]] for by in seeds]
        v = verdict(side[0], side[1], higher_is_better=bool(reps[ref].get("higher_is_better", True)), paired=paired,
                    resolution=_resolution(groups[i] + groups[ref]), pairs="seed",
                    at_mean=_all_at_mean(groups[i] + groups[ref]), metric=select)
        if math.isinf(v.se):
            return v.reason
        return ("better: " if v.kept else "within 1 se: " if v.gain > 0 else "not better: ") + v.reason

    def row(i: int, g: list[dict[str, Any]]) -> list[str]:
        status = sum(1 for r in g if r.get("status"))
        label = group_label(g) + (f" ({status} of {len(g)} not finished)" if status else "")
        cfg = g[0].get("config")
        seeds = ",".join(str(r["config"].get(SEED_KEY, "?")) if r.get("config") else "-" for r in g)
        return ([label] + ["-" if cfg is None else cfg.get(k, "(unset)") for k in differing]
                + [str(len(g)), seeds] + [stat(g, c) for c in scores] + [judged(i)])

    return text_table([cols] + [row(i, g) for i, g in enumerate(groups)])


def selection_note(rows: list[dict[str, Any]]) -> str | None:
    """The line under a table with a test column: it reports the chosen config, it does not choose.

    >>> print(selection_note([{"headline": "acc", "test_acc": 0.9}]))
    note: test_acc is for reporting the config chosen by validation (val_acc@kept), not for choosing one: choosing by it selects on the test split
    """
    heads = [h for h in dict.fromkeys(r.get("headline", "acc") for r in rows)
             if any(r.get(f"test_{h}") is not None for r in rows)]
    if not heads:
        return None
    return (f"note: {', '.join(f'test_{h}' for h in heads)} is for reporting the config chosen by validation "
            f"({', '.join(at_kept(f'val_{h}') for h in heads)}), not for choosing one: choosing by it selects on the "
            "test split")


def _resolution(rows: list[dict[str, Any]]) -> float | None:
    """The step of the validation accuracy of ``rows`` (1/N over N validation series, their
    ``val_series``), where every row is scored by accuracy over one same N; else None."""
    sizes = {r.get("val_series") if r.get("headline", "acc") == "acc" else None for r in rows}
    n = sizes.pop() if len(sizes) == 1 else None
    return 1.0 / n if isinstance(n, int) and n > 0 else None


def single_runs_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The lines under a table of single runs (no group of seeds): that a difference between
    them has no noise estimate, and how to get one; and, where every run scored the same
    ``val_<metric>@kept`` (what rnnlab recipe and compare's groups judge by), that this is a tie
    (:func:`rnnlab.recipe.decide.cannot_tell`, or :func:`~rnnlab.recipe.decide.all_at_mean` where
    every run predicted its training mean: in the words of a tie between groups). Nothing for one
    run.

    >>> rows = [{"run": r, "headline": "acc", "val_acc@kept": 1.0, "val_series": 16} for r in ("a", "b")]
    >>> noise, tie = single_runs_notes(rows)
    >>> noise[:44]
    'note: single runs carry no noise estimate: a'
    >>> print(tie)
    note: every run scores val_acc@kept 1: a tie, no ranking (one validation series is 0.0625 of the score here: the validation split cannot tell these apart; more folds or seeds, or a finer metric such as val_loss, can)
    """
    from rnnlab.recipe.decide import all_at_mean, cannot_tell, tolerance

    if len(rows) < 2:
        return []
    notes = ["note: single runs carry no noise estimate: a difference between two of them may be the seed's, not "
             "the setting's; to measure the noise, train each config again with other values of training.seed "
             "(runs/NAME-s0, runs/NAME-s1, runs/NAME-s2) and compare them all, rnnlab compare runs/*-s*: one row per "
             "config, mean ± sd over its seeds, marked against the base config by rnnlab recipe's rule "
             "(docs/compare.md, Seeds of one config: groups)"]
    heads = {_renamed(r).get("headline", "acc") for r in rows}
    if len(heads) == 1:
        head = heads.pop()
        kept = at_kept(f"val_{head}")
        vals = [_renamed(r).get(kept) for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            # (a NaN is no score: max and min skip it unless it comes first, so it would tie with anything)
            lost = [str(r.get("run")) for r, v in zip(rows, vals, strict=True) if not math.isfinite(v)]
            if lost:
                notes.append(f"note: {kept} is not finite for {', '.join(lost)} "
                             f"({', '.join(f'{v:g}' for v in vals if not math.isfinite(v))}): "
                             f"{'its' if len(lost) == 1 else 'their'} training diverged, so "
                             f"{'it ranks' if len(lost) == 1 else 'they rank'} below every run with a finite "
                             "score and ties with none; lower the learning rate (training.lr) or clip the "
                             "gradient norm (training.clip_norm) and train again")
            finite = [v for v in vals if math.isfinite(v)]
            if len(finite) >= 2 and max(finite) - min(finite) <= tolerance(*finite):
                baseline = _all_at_mean([r for r, v in zip(rows, vals, strict=True) if math.isfinite(v)])
                who = "every run with a finite score" if lost else "every run"
                why = (all_at_mean(baseline, who) if baseline is not None
                       else cannot_tell(_resolution(rows), kept))
                notes.append(f"note: {who} scores {kept} {finite[0]:.4g}: a tie, no ranking ({why})")
    return notes


def several_runs(p: Path) -> str | None:
    """What the directory ``p`` is when rnnlab made it to hold other runs (a study of ``rnnlab
    search``, a directory of ``rnnlab recipe``: its marker, or the file an older rnnlab's has) rather
    than being a run, as ``"an rnnlab recipe (its runs: DIR/candidates/..., DIR/test/*)"``; None for
    anything else. A glob of runs (``runs/*``) matches them."""
    from rnnlab.rundir import METRICS, RECIPE, STUDY

    if not p.is_dir() or (p / METRICS).exists():
        return None
    for kind, what, where in ((STUDY, "an rnnlab search study", ("trials/*/fold-*", "final")),
                              (RECIPE, "an rnnlab recipe", ("candidates/*/seed-*/fold-*", "test/*"))):
        if (p / kind.marker).exists() or any(all((p / f).exists() for f in group) for group in kind.legacy):
            return f"{what} (its runs: {', '.join(f'{p}/{w}' for w in where)})"
    return None


def skip_figures(paths: list[str]) -> tuple[list[str], list[str]]:
    """``paths`` less what a glob of the runs' folder matches that is no run: what ``rnnlab
    compare`` itself wrote (a figure of :data:`FIGURE_NAMES`, or a folder that holds only those),
    and the directory of a search's study or of a recipe (:func:`several_runs`); and a note for
    each path skipped. Anything else is left for :func:`run_summary` to accept or refuse.

    >>> skip_figures(["runs/a", "runs/compare_metrics.png"])[0]
    ['runs/a']
    """
    kept, notes = [], []
    for given in paths:
        p = Path(given)
        several = several_runs(p)
        if several is not None:
            notes.append(f"skipped {given}: {several}, not a run")
            continue
        ours = p.name in FIGURE_NAMES and not p.is_dir()
        if p.is_dir() and not p.is_symlink():
            try:
                entries = [e.name for e in p.iterdir()]
            except OSError:
                entries = []
            ours = bool(entries) and all(e in FIGURE_NAMES for e in entries)
        if ours:
            notes.append(f"skipped {given}: rnnlab compare's own figure{'s' if p.is_dir() else ''}, not a run")
        else:
            kept.append(given)
    return kept, notes


def run_compare(run_dirs: list[str], figures: str | None = None, say: Callable[[str], None] = print) -> None:
    """The ``rnnlab compare`` command: the table (and its notes) through ``say``, then the figures
    in ``figures`` (default: :data:`DEFAULT_FIGURES` beside the first run). A user error raises
    :class:`~rnnlab.errors.RnnlabError` with one line.

    >>> run_compare(["nowhere"], "/tmp/figs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnlab.errors.RunDirError: ...
    """
    if figures and Path(figures).exists() and not Path(figures).is_dir():
        raise RnnlabError(f"--figures: expected a directory for the figures, got the file {figures!r}")
    kept, skipped = skip_figures(list(run_dirs))
    for note in skipped:
        say(note)
    if not kept:
        raise RnnlabError(f"RUN_DIR: expected run directories, got none: {'; '.join(n.removeprefix('skipped ') for n in skipped)}")
    runs = [Path(r) for r in kept]
    seen: dict[Path, str] = {}
    for given, r in zip(kept, runs, strict=True):
        same = seen.setdefault(r.resolve(), given)
        if same is not given:  # one run twice would be two identical rows and curves, read as a reproduced result
            raise RnnlabError(f"{given!r} and {same!r} are the same run; give each run once")
    rows, left_out = [], []
    for r in runs:
        try:
            rows.append(run_summary(r))
        except NoEpochError as e:  # (one run killed before its first epoch leaves the rest to compare)
            if len(runs) == 1:
                raise
            left_out.append(str(e))
    if left_out and len(rows) < 2:
        raise RunDirError(f"RUN_DIR: expected at least 2 runs with a recorded epoch, got {len(rows)} "
                          f"({', '.join(row['run'] for row in rows) or 'none'}); left out: " + "; ".join(left_out))
    keep = {row["run"] for row in rows}
    runs = [r for r in runs if str(r) in keep]
    for why in left_out:
        say(f"left out of the comparison: {why}")
    tasks = {row["run"]: row["task"] for row in rows if row["task"] is not None}
    if len(set(tasks.values())) > 1:
        # their losses and metrics are in different units: one set of axes would mislead
        raise RnnlabError("the runs are of different tasks ("
                          + ", ".join(f"{r}: {t}" for r, t in tasks.items())
                          + "); compare runs of one task ([task] kind in config.toml)")
    rows = join_read_alike(rows)
    for note in (*edited_notes(rows), data_note(rows), scale_note(rows), block_note(rows), tokens_note(rows)):
        if note is not None:  # above the table: read before the rows it qualifies
            say(note)
    groups = group_runs(rows)
    if all(len(g) == 1 for g in groups):
        say(compare_table(rows))
    else:
        reps = [g[0] for g in groups]
        keys = list(dict.fromkeys(k for r in reps if r.get("config") for k in r["config"]))
        first = next((r for r in reps if r.get("config") is not None), None)
        defaults = _default_cells(_config_of(first["run"]), keys) if first is not None else {}
        say(grouped_table(groups, defaults))
    note = targets_note(rows)
    if note is not None:
        say(note)
    note = rerun_note(rows)
    if note is not None:
        say(note)
    note = selection_note(rows)
    if note is not None:
        say(note)
    if len(groups) == len(rows):  # (single runs: no verdict column says what is known of the noise)
        for note in single_runs_notes(rows):
            say(note)
    say(_footnote(rows, grouped=len(groups) < len(rows)))
    _figures(runs, rows, groups, figures, say)


def _footnote(rows: list[dict[str, Any]], grouped: bool) -> str:
    """The line under the table that says what each column is, for the runs it shows."""
    from rnnlab.recipe.decide import weak_bar

    logged = [r["run"] for r in rows if r.get("config") is None]
    by_rule = [r["run"] for r in rows if r.get("best_by") and not r.get("status")]
    heads = [h for h in dict.fromkeys(r.get("headline", "acc") for r in rows)
             if any(r.get(f"test_{h}{BASELINE_SUFFIX}") is not None for r in rows)]
    monitors = list(dict.fromkeys(r["best_by_monitor"] for r in rows
                                  if r.get("best_by_monitor") and r["run"] not in by_rule))

    def runs(names: list[str]) -> str:
        return "the run" + (f"s {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                            if len(names) > 1 else f" {names[0]}")

    return ("(train_<metric>: the evaluated model on the training split, as rnnlab train printed it, or the last epoch "
            "in training mode if the run has not finished"
            + (f" (for {runs(logged)}, without config.toml: the last epoch's value as the training logged it)"
               if logged else "")
            + f"; train_loss and val_<metric>: the last epoch; <score>{AT_BEST}: the score at best_epoch, the epoch "
            "its training called best by training.early_stopping.monitor"
            + (f" ({' or '.join(monitors)})" if monitors else "")
            + (f" (for {runs(by_rule)}, whose training calls no epoch best: the epoch of lowest val_loss)"
               if by_rule else "")
            + ", not the run's best value of that score"
            + f"; <score>{AT_KEPT}: the score of the model the run kept and tested: best_epoch's where early stopping "
            "keeps the best epoch's weights (training.early_stopping.patience > 0), else the last epoch's, and where "
            "its mean guard chose the training mean, that prediction's (the score rnnlab recipe judges a run by)"
            + (f" (for {runs(logged)}: the last epoch's)" if logged else "")
            + "; test_<metric>: the evaluated model"
            + "".join(f"; test_{h}{BASELINE_SUFFIX}: the seasonal-naive forecast on the same run's test block, "
                      f"its {h} on that run's scale" for h in heads)
            + "; max_group_decay: the largest weight decay of any parameter group at the last epoch, not a configured "
            "value; dotted columns: the config keys whose values differ between the runs, - for a run without "
            "config.toml"
            + "".join(f"; {key} (budget N): the config's value, and N where the budget that follows the fit "
                      f"(adapt.budget) moved the run's end, extended or ended early, as adapt.json records it"
                      for key in dict.fromkeys(r["budget_end"][0] for r in rows if r.get("budget_end")))
            + ("; a group: the runs that differ only in training.seed, each score its mean ± sd over them; the last "
               "column: rnnlab recipe's rule (a gain above one standard error of the difference: of the per-seed "
               f"differences where both groups hold the same seeds, else Welch's; {weak_bar()}) on <score>{AT_KEPT} "
               "against the reference, the group with the fewest differing keys away from their defaults)"
               if grouped else ")"))


def _config_of(run: str) -> Any:
    from rnnlab.rundir import RunDir

    return RunDir.existing(Path(run)).read_trained_config().config


def is_run_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a run directory as :func:`rnnlab.rundir.claim` tells one from a folder
    of the user's: its marker (``.rnnlab-run``, which every writer of a run leaves), or the files
    of an older rnnlab's run (:data:`rnnlab.rundir.RUN`'s ``legacy`` groups).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> is_run_directory(d), (d / ".rnnlab-run").touch(), is_run_directory(d)
    (False, None, True)
    """
    from rnnlab.rundir import RUN

    p = Path(path)
    try:
        return p.is_dir() and ((p / RUN.marker).exists()
                               or any(all((p / name).exists() for name in group) for group in RUN.legacy))
    except OSError:  # (a folder it may not look into: no run of the user's to tell)
        return False


def default_figures(runs: list[Path]) -> Path:
    """Where ``rnnlab compare`` writes its figures without ``--figures``: :data:`DEFAULT_FIGURES`
    beside the first run (its resolved parent: ``.`` is a folder too), above any run directory
    that holds it (a run inside another's folder), and never a run directory itself: then
    ``compare-2``, ``compare-3``, ...

    >>> import tempfile
    >>> runs = Path(tempfile.mkdtemp())
    >>> (runs / "compare").mkdir(); (runs / "compare" / ".rnnlab-run").touch()
    >>> default_figures([runs / "a"]) == runs.resolve() / "compare-2"
    True
    """
    beside = runs[0].resolve().parent
    for folder in [beside, *beside.parents]:
        if is_run_directory(folder):
            beside = folder.parent
    out, n = beside / DEFAULT_FIGURES, 1
    while is_run_directory(out):
        n += 1
        out = beside / f"{DEFAULT_FIGURES}-{n}"
    return out


#: How many of the settings the runs differ in a curve's label names (the figure's title lists them all).
LABEL_KEYS = 3
#: The longest setting's value a curve's label shows whole (a list of decay rules is longer).
LABEL_VALUE = 24
#: How many differing keys the figure's title names before "and N more".
CAPTION_KEYS = 6


def curve_settings(groups: list[list[dict[str, Any]]]) -> tuple[list[str | None], str | None]:
    """What tells the curves of ``groups`` (:func:`group_runs`) apart in ``rnnlab compare``'s
    figures: each group's settings that differ, the table's config columns (:func:`_differing`,
    less ``training.seed`` where a group holds several seeds) as ``key value`` with each key
    shortened as the study table shortens them (:func:`rnnlab.search.table.short_names`), at most
    :data:`LABEL_KEYS` (None for a run without config.toml); and the line under the figure's title
    that names the keys in full (None where no setting differs), saying so where the labels leave
    some out.

    >>> g = lambda run, wd, p: [{"run": run, "config": {"model.weight_drop": wd,
    ...                                              "training.early_stopping.patience": p}}]
    >>> curve_settings([g("a", "0", "0"), g("b", "0.5", "0"), g("c", "0.3", "3")])
    (['weight_drop 0, patience 0', 'weight_drop 0.5, patience 0', 'weight_drop 0.3, patience 3'], 'settings that differ: model.weight_drop, training.early_stopping.patience')
    """
    from rnnlab.search.table import short_names

    reps = [g[0] for g in groups]
    differing = _differing(reps, leave_out=(SEED_KEY,) if any(len(g) > 1 for g in groups) else ())
    if not differing:
        return [None] * len(groups), None
    shown, short = differing[:LABEL_KEYS], short_names(differing)

    def value(v: str) -> str:
        return v if len(v) <= LABEL_VALUE else v[:LABEL_VALUE - 1] + "…"

    settings = [None if r.get("config") is None else
                ", ".join(f"{short[k]} {value(r['config'].get(k, '(unset)'))}" for k in shown) for r in reps]
    listed = ", ".join(differing[:CAPTION_KEYS]) + (f" and {len(differing) - CAPTION_KEYS} more"
                                                    if len(differing) > CAPTION_KEYS else "")
    left = (f" (the legend names the first {LABEL_KEYS}, the table every one)"
            if len(differing) > LABEL_KEYS else "")
    return settings, f"settings that differ{left}: {listed}"


def _figures(runs: list[Path], rows: list[dict[str, Any]], groups: list[list[dict[str, Any]]],
             figures: str | None, say: Callable[[str], None]) -> None:
    from rnnlab.plots import plot_compare_metrics, plot_compare_norms
    from rnnlab.plots.compare import norm_panels
    from rnnlab.rundir import TRACKED

    out = Path(figures) if figures else default_figures(runs)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        named = "--figures" if figures else "the default figures folder (beside the runs; --figures DIR chooses another)"
        raise RnnlabError(f"{named}: cannot create the directory {str(out)!r} ({e.strerror or e})") from None
    by_run = dict(zip((row["run"] for row in rows), runs, strict=True))
    names = [r.name for r in runs]
    data_differ = data_note(rows) is not None
    units_differ = tokens_note(rows) is not None

    settings, caption = curve_settings(groups)

    def label(g: list[dict[str, Any]], setting: str | None) -> str:
        # a curve by the settings its run differs in (what the comparison is about), with its run's
        # name where those alone tell it from no other: a run by its directory's name, or the path
        # given when two names clash; a group by the runs' common name; the data when runs differ
        # in it; an unfinished run says so
        if setting is not None and settings.count(setting) == 1:
            text = setting
        elif len(g) == 1:
            r = by_run[g[0]["run"]]
            text = r.name if names.count(r.name) == 1 else str(r)
        else:
            short = [by_run[x["run"]].name for x in g]
            text = group_label(g) if len(set(short)) == 1 else group_label([{"run": n} for n in short])
        text += f": {setting}" if setting is not None and text != setting else ""
        if len(g) == 1:
            text += f" {g[0]['status']}" if g[0]["status"] else ""
        else:
            unfinished = sum(1 for x in g if x["status"])
            text += f" ({unfinished} of {len(g)} not finished)" if unfinished else ""
        text += f" [{g[0]['data']}]" if data_differ and g[0].get("data") else ""
        # (curves of bits per other tokens share an axis: each says its tokens)
        return text + (f" [{_unit_words(g[0]['token_unit'], keys=False)}]"
                       if units_differ and g[0].get("token_unit") else "")

    labelled: dict[str, Any] = {}
    for g, setting in zip(groups, settings, strict=True):
        members = [by_run[x["run"]] for x in g]
        name = label(g, setting)
        if name in labelled:  # (two groups of one short name: their paths tell them apart)
            name = group_label(g)
        labelled[name] = members[0] if len(members) == 1 else members
    heads = list(dict.fromkeys(row["headline"] for row in rows))
    has_val = any(row[f"val_{row['headline']}"] is not None for row in rows)
    metrics = tuple(dict.fromkeys(k for h in ["loss", *heads]
                                  for k in ((f"train_{h}", f"val_{h}") if has_val else (f"train_{h}",))))
    plot_compare_metrics(labelled, metrics=metrics, ncols=2, caption=caption, path=out / "compare_metrics.png")
    say(f"figure: {out / 'compare_metrics.png'}")
    if any((r / TRACKED).exists() for r in runs):
        plan = norm_panels(labelled)
        if plan.why:
            say(f"no compare_norms.png: {plan.why}")
        else:
            plot_compare_norms(labelled, caption=caption, path=out / "compare_norms.png")
            say(f"figure: {out / 'compare_norms.png'}")
