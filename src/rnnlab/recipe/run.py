"""``rnnlab recipe``: the recipe's walk on real training runs, then one test evaluation each for
the baseline and the final configuration.

Every candidate is scored by the search's trial runner (:func:`rnnlab.search.trial.run_trial`):
``--seeds`` seeds × the folds of the training split that ``rnnlab search`` would use for this
config (the ``[search]`` section's ``folds``, ``seed`` and ``metric``; the test split is never
loaded). Both sides of a comparison run the same seeds × folds, so the noise is the spread of
the matched runs' differences: one seed over two or more folds has one; one seed on a single
hold-out has none, and is refused. The walk (:mod:`rnnlab.recipe.procedure`) keeps a candidate only when its gain over
the configuration kept so far is above one standard error (:mod:`rnnlab.recipe.decide`: a weak bar).

Recipe directory::

    DIR/
      recipe.toml                 the base config
      candidates/NAME-HASH/       one per scored configuration: config.toml, seed-S/fold-F/ runs
      recipe.json                 the outcome of every step (written as the walk goes)
      trained_data.json           the SHA-256 of data.path's and data.test_path's files (checked on a rerun)
      final.toml                  the kept configuration (rnnlab train final.toml)
      test/baseline/, test/final/ both retrained on the whole training split, test split once each;
                                  a finished one of another config is kept as test/NAME-earlier/
      recipe.md, recipe.html      the ablation

A candidate's directory is named by its label and a hash of its config, and the trial runner
reuses a finished run and resumes a killed one: running the same command again repeats no
finished run. ``--workers K`` runs a tier's candidates and seeds in K processes.

Example:
    >>> run_recipe_command(RecipeOptions(config="my.toml", seeds=3))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.config import Config, SearchConfig, dump_config, load_config, parse_config
from rnnlab.device import device_asked_by, require_device, use_worker_device, with_device
from rnnlab.errors import ConfigError, Interrupted, RnnlabError
from rnnlab.recipe.procedure import RecipeResult, run_recipe
from rnnlab.recipe.report import step_record, write_recipe_report
from rnnlab.recipe.steps import Step, select_steps
from rnnlab.rundir import CONFIG, RECIPE, atomic_write_json, atomic_write_text, claim
from rnnlab.search.storage import process_identity
from rnnlab.search.study import (
    EVALUATIONS,
    evaluations_note,
    keep_tested_run,
    record_evaluation,
    score_words,
)
from rnnlab.search.trained_data import check_trained_data
from rnnlab.search.trial import FoldPlan, fold_runs_found, metric_note, run_trial
from rnnlab.shellcmd import shell_command
from rnnlab.stops import HANGUP, ignored, raise_stop
from rnnlab.tables import with_spread
from rnnlab.task import Task, task_for
from rnnlab.threads import available_cpus, warn_oversubscribed, workers_share_cores

Log = Callable[[str], None]


@dataclass(frozen=True)
class RecipeOptions:
    """The command line of ``rnnlab recipe``."""

    config: str
    seeds: int = 3
    steps: str | None = None
    workers: int = 1
    out: str | None = None
    final: bool = True
    """Retrain the baseline and the final config on the whole training split; test each once."""
    device: str | None = None
    """``--device`` (None: ``training.device``); see :mod:`rnnlab.device` for how workers share GPUs."""
    quiet: bool = False
    """No progress lines (``  scoring ...``); what each step decided and the results are said."""


@dataclass
class RecipeOutcome:
    out: Path
    result: RecipeResult
    plan: FoldPlan
    seeds: list[int]
    metric: str
    tests: dict[str, dict[str, Any]]
    task: Task


def candidate_dir(out: Path, label: str, config: Config) -> Path:
    """``out/candidates/LABEL-HASH``: the label for people, the hash of the config for resume.

    >>> from rnnlab.config import parse_config
    >>> candidate_dir(Path("r"), "zoneout=0.1", parse_config('[data]\\ndataset = "UnitTest"')).parent
    PosixPath('r/candidates')
    """
    slug = re.sub(r"[^A-Za-z0-9.=_-]+", "_", label).strip("_")[:60] or "candidate"
    digest = hashlib.sha256(dump_config(config).encode("utf-8")).hexdigest()[:10]
    return out / "candidates" / f"{slug}-{digest}"


def _score(job: tuple[str, str, int, FoldPlan, str, int]) -> list[float] | str:
    """One (config, seed) on every fold: the fold scores, or why training failed (one line; run in
    a worker process or here, one of ``workers`` sharing the CPUs)."""
    directory, config_text, seed, plan, metric, workers = job
    _WORKER_STOP.training = True
    try:
        result = run_trial(parse_config(config_text), plan, directory, seeds=[seed], metric=metric,
                           workers=workers)
    except RnnlabError as e:  # e.g. diverged: this candidate fails, the recipe goes on
        return f"seed {seed}: {e}"
    except Interrupted as e:
        if multiprocessing.parent_process() is None:
            raise  # no pool: the recipe's own Ctrl-C, SIGTERM or SIGHUP, for the command to report
        sys.exit(128 + e.signum)  # a worker stopped by its pool: quietly, its checkpoint written
    finally:
        _WORKER_STOP.training = False
    return result.values


class _WorkerStop:
    """A worker's SIGTERM (the recipe stopping its pool): a run in training writes its checkpoint
    and ends (:class:`Interrupted`), a worker between runs exits at once; either way through
    Python's own exit, which releases what the worker registered (killed outright, it leaves
    the resource tracker's "leaked semaphore" warning after the recipe's last line)."""

    def __init__(self) -> None:
        self.training = False

    def __call__(self, signum: int, frame: Any) -> None:
        # Further SIGTERMs are ignored, not left to kill: `timeout` or a scheduler signals the whole
        # process group and the recipe then terminates its pool, so a worker gets a second SIGTERM
        # a moment after the first, while it writes its checkpoint (which it then lost).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop = Interrupted.by(signum) if self.training else SystemExit(128 + signum)
        raise_stop(stop, signum, lambda: signal.signal(signal.SIGTERM, self))


#: this process's handler, installed only in a worker (:func:`_worker_init`)
_WORKER_STOP = _WorkerStop()


def _worker_threads(workers: int) -> int:
    """Each worker's torch threads: its share of the CPUs, at most what the environment gave torch
    (:func:`rnnlab.threads.thread_limit`: ``OMP_NUM_THREADS=1`` keeps every worker at one)."""
    from rnnlab.threads import thread_limit

    limit = thread_limit()
    share = max(1, available_cpus()[0] // workers)
    return share if limit is None else min(share, limit[0])


def _worker_init(threads: int, device: str, started: Any, parent: tuple[int, str | None] | None = None) -> None:
    import torch

    from rnnlab.search.study import stop_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for sig in HANGUP:  # and so is a closed terminal's SIGHUP, which reaches the whole process group
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _WORKER_STOP)  # how the parent stops the pool (terminate)
    # Stop with the recipe, as the search's workers do: killed, even by SIGKILL, the recipe sends
    # its workers SIGTERM (a run writes its checkpoint; the worker exits quietly, releasing its
    # semaphores). One whose recipe died before this line exits now: its results would go
    # nowhere (a BrokenPipeError traceback when it sent them).
    if not stop_with_parent(parent):
        sys.exit(0)
    torch.set_num_threads(threads)
    with started.get_lock():  # (this worker's number, for its GPU in turn)
        worker = started.value
        started.value += 1
    use_worker_device(device, worker)


def reuse_note(reused: int, resumed: int) -> str:
    """What a scoring line adds when a rerun finds runs of an earlier one (nothing on a fresh run).

    >>> reuse_note(6, 0)
    ' (6 finished runs reused)'
    >>> reuse_note(4, 1)
    ' (4 finished runs reused, 1 resumed from its checkpoint)'
    >>> reuse_note(0, 2) + "|" + reuse_note(0, 0) + "|"
    ' (2 runs resumed from their checkpoint)||'
    """
    parts = []
    if reused:
        parts.append(f"{reused} finished run{'s' if reused != 1 else ''} reused")
    if resumed:
        parts.append(f"{resumed} {'resumed from its' if resumed == 1 else 'resumed from their'} checkpoint"
                     if reused else
                     f"{resumed} run{'s' if resumed != 1 else ''} resumed from "
                     f"{'its' if resumed == 1 else 'their'} checkpoint")
    return f" ({', '.join(parts)})" if parts else ""


class Evaluator:
    """Scores labelled configs: each seed's fold scores, all seeds concatenated."""

    def __init__(self, out: Path, plan: FoldPlan, seeds: list[int], metric: str, pool: Any, log: Log,
                 workers: int = 1) -> None:
        self.out, self.plan, self.seeds, self.metric, self.pool, self.log = out, plan, seeds, metric, pool, log
        self.workers = workers
        self.scores: dict[str, list[float]] = {}
        """Each label's scores, as last scored."""
        self.at_mean: dict[str, str | None] = {}
        """Each label's :func:`predicted_baseline`, as last scored."""

    def __call__(self, jobs: list[tuple[str, Config]]) -> list[list[float] | str]:
        work = []
        for label, config in jobs:
            d = candidate_dir(self.out, label, config)
            d.mkdir(parents=True, exist_ok=True)
            atomic_write_text(d / CONFIG, dump_config(config))
            text = dump_config(config)
            work += [(str(d / f"seed-{s}"), text, s, self.plan, self.metric, self.workers) for s in self.seeds]
        # (a rerun after a kill reuses finished runs and resumes checkpointed ones: say so, or its
        # lines read as a fresh start)
        found = [fold_runs_found(Path(w[0]), parse_config(w[1]), w[2], self.plan) for w in work]
        self.log(f"  scoring {', '.join(label for label, _ in jobs)}: {len(work)} x {self.plan.describe()}"
                 f"{reuse_note(sum(f[0] for f in found), sum(f[1] for f in found))}")
        flat = self.pool.map(_score, work) if self.pool is not None else [_score(w) for w in work]
        n = len(self.seeds)
        out: list[list[float] | str] = []
        for i, (label, config) in enumerate(jobs):
            parts = flat[i * n:(i + 1) * n]
            failed = [p for p in parts if isinstance(p, str)]
            out.append(failed[0] if failed else [v for p in parts for v in p])
            if not failed:
                self.scores[label] = [v for p in parts for v in p]
                self.at_mean[label] = predicted_baseline(candidate_dir(self.out, label, config), self.seeds, self.plan)
        return out


def predicted_baseline(directory: Path, seeds: list[int], plan: FoldPlan) -> str | None:
    """What every fold run of a candidate (``directory``: its seeds' runs of ``plan``'s folds)
    predicts where each one's mean guard set its model aside (``"the training mean"``; a
    forecaster's reference forecast), else None (a run kept its model, for some target at least, or
    had no guard). Such runs score that prediction, the same on each fold whatever the settings.

    >>> import tempfile
    >>> predicted_baseline(Path(tempfile.mkdtemp()), [0], FoldPlan(k=2, seed=0)) is None
    True
    """
    from rnnlab.rundir import RunDir
    from rnnlab.train.mean_guard import predicted_instead

    runs = [RunDir(directory / f"seed-{s}" / f"fold-{f.index + 1}") for s in seeds for f in plan.folds()]
    if not all(r.summary.exists() for r in runs):
        return None
    said = {predicted_instead((r.read_summary() or {}).get("mean_guard")) for r in runs}
    return said.pop() if len(said) == 1 else None


def said_at_mean(outcome: Any, evaluate: Evaluator, higher_is_better: bool) -> None:
    """Give each tie of ``outcome`` (a :class:`~rnnlab.recipe.procedure.StepOutcome`) whose two
    sides' runs all predicted one baseline (:func:`predicted_baseline`) the reason that says so
    (:func:`rnnlab.recipe.decide.all_at_mean`): the validation split did not fail to tell the
    settings apart, they were not compared at all. The decision is the walk's, unchanged.
    """
    from rnnlab.recipe.decide import verdict

    for t in outcome.tried:
        if t.verdict is None or not t.verdict.tie:
            continue
        mine, theirs = evaluate.at_mean.get(t.label), evaluate.at_mean.get(t.against)
        against = evaluate.scores.get(t.against)
        if mine is not None and mine == theirs and against is not None and len(against) == len(t.scores):
            # (the same rule on the same scores, the walk's paired form: only the reason of its tie changes)
            t.verdict = verdict(t.scores, against, higher_is_better, paired=True, at_mean=mine)


class InEffect:
    """Whether two configs train alike, as the search tells its first trial from the config it
    starts from (:func:`rnnlab.search.space.baseline_values`: the same model, data and training,
    and every parameter with the same decay, l1 and learning rate): ``a`` is ``b`` in effect when
    ``a``'s settings, wherever the two differ, make that first trial for ``b``. So kernel decay
    1e-2 is what ``training.weight_decay = 1e-2`` already does, and the layer keywords count as
    the layer reads them (zoneout 0.1 and [0.1, 0.1] on an LSTM, residual true and "all").

    The model is built with the sizes of ``base``'s data (the first fold of ``plan``), read once.
    """

    def __init__(self, base: Config, plan: FoldPlan) -> None:
        from rnnlab.data import load_data

        task = task_for(base)
        split = load_data(base.data, seed=base.training.seed, fold=plan.folds()[0], task=task)
        self.input_size, self.width = split.channels, task.head_width(split.classes, split.train.y)

    def __call__(self, a: Config, b: Config) -> bool:
        from rnnlab.search.space import Param, Space, baseline_values

        if a == b:
            return True
        a, b = _as_the_layer_reads(a), _as_the_layer_reads(b)
        differ = _differences(a.model_dump(exclude={"search"}), b.model_dump(exclude={"search"}))
        if not differ:
            return True
        space = Space([Param(path, "choice", choices=(value,)) for path, value in differ.items()])
        try:
            return baseline_values(space, b, self.input_size, self.width)[0] is not None
        except ValueError:  # ``b`` builds no model (residual=True on a narrower input): its runs failed
            return False


def _as_the_layer_reads(config: Config) -> Config:
    """``config`` with each layer keyword as the layer resolves it (one zoneout probability per
    state, residual's mode, the kind's default activation), where that is a plain value; those it
    turns into objects (a constraint) stay as written."""
    from rnnlab.config import LAYER_KEYS, layer_class
    from rnnlab.layers.options import resolve

    m = config.model
    read = resolve(m.layer_options(), layer_class(m.layer).spec, None, m.hidden_size)
    plain = {k: getattr(read, k) for k in LAYER_KEYS
             if getattr(read, k) is None or isinstance(getattr(read, k), (bool, int, float, str, tuple))}
    return config.model_copy(update={"model": m.model_copy(update=plain)})


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``a``'s values where they differ from ``b``'s, by the search's key paths (``model.zoneout``):
    a table both have is compared key by key, anything else (a list of rules) whole.

    >>> _differences({"model": {"zoneout": 0.1, "layer": "lstm"}, "name": "x"},
    ...              {"model": {"zoneout": 0.0, "layer": "lstm"}, "name": "x"})
    {'model.zoneout': 0.1}
    """
    out: dict[str, Any] = {}
    for key, value in a.items():
        other = b.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            out.update(_differences(value, other, f"{prefix}{key}."))
        elif value != other:
            out[f"{prefix}{key}"] = value
    return out


def run_recipe_command(options: RecipeOptions, log: Log | None = print) -> RecipeOutcome:
    """Run (or continue) the recipe of ``options``; see the module docstring for what it writes."""
    from rnnlab.search.trial import plan_for_config

    say = log or (lambda _m: None)
    if options.seeds < 1:
        raise ConfigError(f"--seeds: expected at least 1, got {options.seeds}")
    if options.workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {options.workers}")
    from rnnlab.train.trainer import with_derived_names

    base = with_derived_names(load_config(options.config))  # name and output.dir follow the data, as in train
    base = with_device(base, options.device)
    # (every run would fail alike: refused now, naming the flag or key, before anything is written)
    require_device(base.training.device, device_asked_by(options.device, options.config))
    warn_oversubscribed(base.training.threads, options.workers)
    steps = select_steps(options.steps, base)
    search = base.search if base.search is not None else SearchConfig(metric=task_for(base).score)
    plan = plan_for_config(base, search)
    if options.seeds * plan.k < 2:  # (decide.verdict: the noise is the spread of the matched runs' differences)
        raise ConfigError(f"--seeds: expected at least 2 with {plan.describe()} (the noise of a comparison is the "
                          f"spread of its seed x fold runs' differences: {options.seeds} seed x {plan.k} fold has "
                          f"none), got {options.seeds}")
    out = Path(options.out or f"{base.output.dir}-recipe")
    # One recipe process writes a recipe directory (its workers each hold the run they train).
    with claim(out, RECIPE):
        return _run_recipe_locked(options, base, search, plan, steps, out, say)


def _run_recipe_locked(options: RecipeOptions, base: Config, search: SearchConfig, plan: FoldPlan,
                       steps: tuple[Step, ...], out: Path, say: Log) -> RecipeOutcome:
    # (before anything trains: finished runs of other data would be reused beside new ones)
    candidates = out / "candidates"
    trained = (candidates.is_dir() and any(candidates.iterdir())) or (out / "test").exists()
    unchecked = check_trained_data(out, base, trained=trained, what="recipe",
                                   tested=any((out / "test").glob("*/summary.json")))
    # (read before the walk's first step rewrites recipe.json, which carries them on)
    evaluations = _earlier_evaluations(out)
    atomic_write_text(out / "recipe.toml", dump_config(base))
    task = task_for(base)
    seeds = [base.training.seed + i for i in range(options.seeds)]
    say(f"recipe of {options.config} in {out}: {len(steps)} step{'s' if len(steps) != 1 else ''}, each candidate "
        f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} x "
        f"{plan.describe()} of the training split, {score_words(task, str(search.metric))}")
    if unchecked is not None:
        say(unchecked)
    scored = metric_note(base, str(search.metric), fold=plan.folds()[0])
    if scored is not None:
        say(scored)
    shared = workers_share_cores(options.workers)
    if shared is not None:
        say(shared)
    pool = None
    if options.workers > 1:
        ctx = multiprocessing.get_context("spawn")
        # (SIGHUP reaches the whole process group: the workers and multiprocessing's resource
        # tracker, started here, leave it to the recipe, which stops them with SIGTERM)
        with ignored(HANGUP):
            pool = ctx.Pool(options.workers, initializer=_worker_init,
                            initargs=(_worker_threads(options.workers), base.training.device, ctx.Value("i", 0),
                                      process_identity()))
    try:
        evaluate = Evaluator(out, plan, seeds, search.metric, pool, (lambda _: None) if options.quiet else say,
                             options.workers)
        done: list[dict[str, Any]] = []

        def on_step(o: Any) -> None:
            said_at_mean(o, evaluate, task.higher_is_better(str(search.metric)))
            done.append(step_record(o))
            atomic_write_json(out / "recipe.json", {"metric": search.metric, "seeds": seeds,
                                                    "plan": plan.describe(), "steps": done, "finished": False,
                                                    EVALUATIONS: evaluations})
            say(_step_line(o))

        result = run_recipe(base, steps, evaluate, higher_is_better=task.higher_is_better(str(search.metric)),
                            on_step=on_step, same=InEffect(base, plan))
    except BaseException as e:
        if pool is not None:
            pool.terminate()
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted.of_command(e, "the same command continues (finished runs are reused, the "
                                         "others resume from their checkpoints)") from None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    atomic_write_text(out / "final.toml", f"# rnnlab recipe: the configuration kept after {len(steps)} step{'s' if len(steps) != 1 else ''} "
                      f"({result.final_label})\n# train it with: {shell_command('rnnlab', 'train', (out / 'final.toml').resolve())}\n\n"
                      + dump_config(result.final))
    tests: dict[str, dict[str, Any]] = {}
    if options.final:
        from rnnlab.search.trial import carried_guard, kept_lengths
        from rnnlab.train.final import (
            final_line,
            final_phrase,
            retrain_and_test,
            reusable,
            trained_phrase,
        )

        for name, label, config in (("baseline", "baseline", result.baseline),
                                    ("final", result.final_label, result.final)):
            # (the kept models of the runs that scored it: its candidate directory's seeds and folds)
            runs = candidate_dir(out, label, config)
            kept, guard = kept_lengths(runs), carried_guard(runs)
            run_dir = out / "test" / name
            # (a finished run of another config tested the test split already: kept as test/NAME-earlier/)
            keep_tested_run(out, f"test/{name}", config, kept, guard, evaluations[name])
            if not reusable(config, run_dir, kept, guard):  # (a finished one is said when read, below)
                say(f"{name}: retrained on the whole training split {final_phrase(config, kept)}")
                if guard is not None:  # (what its fold runs' guards decided, which it carries)
                    say(f"{name}: {guard.line()}")
            tests[name] = retrain_and_test(config, run_dir, kept, guard)
            record_evaluation(out, f"test/{name}", evaluations[name], tests[name],
                              {"config": label, "run_dir": f"test/{name}"})
            tests[name][EVALUATIONS] = evaluations[name]  # (recipe.json's "tests" keeps them)
            test = tests[name].get("test")
            trained = trained_phrase(tests[name])
            more = evaluations_note(evaluations[name], task.headline, f"test/{name}", f"for the recipe's {name}")
            if tests[name].get("reused"):  # (read, not trained now: its test evaluation is the earlier one)
                say(f"{name}: final run in {run_dir}/ reused (trained earlier{f': {trained}' if trained else ''})"
                    + (f"; {final_line(tests[name], task.headline)}, the test split evaluated once, when it was "
                       "trained" + (f"; {more}" if more else "") if test else "; no test split"))
            else:
                resumed = "; continued from the checkpoint of the run cut short" if tests[name].get("resumed") else ""
                say((f"{name}: {final_line(tests[name], task.headline)}" if test else f"{name}: no test split")
                    + (f" (trained {trained}{resumed})" if trained else "") + (f"; {more}" if more else ""))
    outcome = RecipeOutcome(out, result, plan, seeds, str(search.metric), tests, task)
    md, page = write_recipe_report(outcome)
    say(f"ablation: {md}\nreport: {page}\nfinal config: {out / 'final.toml'}")
    return outcome


def _earlier_evaluations(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Every evaluation of the test split by the recipe's ``test/baseline/`` and ``test/final/``
    runs, oldest first, as recipe.json recorded them (``"tests"``' ``NAME.test_evaluations`` when
    the recipe finished, the top-level ``test_evaluations`` its steps carry on); for a recipe
    recorded before these lists, each finished run's own, read back from its summary.json.

    >>> import tempfile
    >>> _earlier_evaluations(Path(tempfile.mkdtemp()))
    {'baseline': [], 'final': []}
    """
    from rnnlab.rundir import RunDir, read_json
    from rnnlab.search.study import written_at

    path = out / "recipe.json"
    record = read_json(path) if path.is_file() else None
    record = record if isinstance(record, dict) else {}
    tests = record.get("tests") if isinstance(record.get("tests"), dict) else {}
    carried = record.get(EVALUATIONS) if isinstance(record.get(EVALUATIONS), dict) else {}
    found: dict[str, list[dict[str, Any]]] = {}
    for name in ("baseline", "final"):
        listed = (tests.get(name) or {}).get(EVALUATIONS) if isinstance(tests.get(name), dict) else None
        listed = listed if isinstance(listed, list) else carried.get(name)
        if isinstance(listed, list):
            found[name] = [dict(e) for e in listed if isinstance(e, dict)]
            continue
        run = out / "test" / name
        summary = RunDir(run).read_summary() if run.is_dir() else None
        found[name] = ([{"config": None, "run_dir": f"test/{name}", "evaluated_at": written_at(run),
                         "test": summary["test"]}]
                       if isinstance(summary, dict) and summary.get("test") is not None else [])
    return found


def _step_line(outcome: Any) -> str:
    """``step zoneout: zoneout=0.1 0.8100 ± 0.0100 vs baseline 0.7000: kept (gain ...)``."""
    import numpy as np

    parts = []
    for t in outcome.tried:
        if t.not_applicable is not None:
            parts.append(f"{t.label}: {t.reason}")
        else:
            status = "kept" if t.kept else "scrapped"
            parts.append(f"{t.label} {with_spread(float(np.mean(t.scores)), t.scores)} vs {t.against}: "
                         f"{status} ({t.reason})")
    return f"step {outcome.step.name}: " + ("; ".join(parts) or "nothing to try")


__all__ = ["RecipeOptions", "RecipeOutcome", "candidate_dir", "run_recipe_command"]
