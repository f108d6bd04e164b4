"""The ``rnnlab`` command: train, report, doctor, compare, search, study, recipe, datasets, init, sample.

Every command runs inside :func:`main`, which turns failures into one line on stderr: a user
error (:class:`~rnnlab.errors.RnnlabError`: config, data, checkpoint, run directory) or an OS
error (disk full, permission) is ``rnnlab CMD: error: ...`` and exit code 1; any other exception
is a bug, reported as one line asking to report it, also exit code 1 (``--debug`` adds the
traceback). A bad command line is argparse's usage message and exit code 2. Ctrl-C, however often,
is one line, ``rnnlab CMD: interrupted`` (with what a stopped run left), and exit code 130
(:class:`_CtrlC`; while the console script imports this module, :mod:`rnnlab_entry`).

Example:
    >>> main(["init", "--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnnlab.errors import Interrupted, RnnlabError, RunDirError, add_note, notes_of, place_of
from rnnlab.heap import rare_full_collections
from rnnlab.shellcmd import shell_command
from rnnlab.stops import ENDING, StopSignals, raise_stop, to_devnull
from rnnlab.tables import text_table

EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 128 + signal.SIGINT

EXAMPLES = {
    "train": """examples:
  rnnlab init my.toml && rnnlab train my.toml
  rnnlab train examples/configs/gunpoint.toml --out runs/gp
  rnnlab train examples/configs/gunpoint.toml --out runs/gp --resume   # after a crash or kill
  rnnlab train gp.toml --out runs/gp --resume --allow-change training.epochs   # train longer

--resume refuses a config that differs from the run's checkpoint; --allow-change admits only
changes that keep the run's meaning, of these keys:
{harmless}
data.path and data.test_path may name another place holding the same data (its SHA-256 the
checkpoint's: a run and its data moved together); other data are refused.
Allowed changes are logged in RUN_DIR/resumes.jsonl and config.toml is rewritten to the config
the run now follows.""",
    "predict": """examples:
  rnnlab predict runs/gp --data new.npz     # writes runs/gp/predictions.csv: series,label,<class probabilities>
  rnnlab predict runs/covid --data new.csv --out values.csv   # regression: series,<targets> in the data's units
  rnnlab predict runs/tags --data new.npz   # per step: series,step,label,<class probabilities> (or
                                            #   series,step,<targets>) for each valid step
  rnnlab predict runs/airline               # forecasting: runs/airline/forecast.csv, the next [task] horizon values
  rnnlab predict runs/airline --data newer.csv   # forecasting: the horizon after newer.csv's end, no retraining
  rnnlab predict runs/airline --out next.csv

The series go through the run's own scaling and evaluation (its best checkpoint when early
stopping restored one, else its last; the training mean where its mean guard chose it). FILE
needs the run's channel count, finite values inside each series, and for a .csv the run's
[data] settings (label_column, target_column). A language model has no predictions per series:
rnnlab sample RUN_DIR writes text from it.""",
    "report": """examples:
  rnnlab report runs/gp          # writes runs/gp/report.html
  rnnlab report runs/gp --out gp.html   # a run directory that is read-only: the page elsewhere""",
    "tensorboard": """examples:
  rnnlab tensorboard runs/decay-2e-3 runs/no-decay   # then: tensorboard --logdir runs
needs the tensorboard extra (pip install 'rnnlab[tensorboard]'); an export replaces the event files
of the run's earlier export.""",
    "doctor": """examples:
  rnnlab doctor examples/configs/gunpoint.toml
  rnnlab doctor my.toml --steps 20""",
    "compare": """examples:
  rnnlab compare runs/decay-2e-3 runs/decay-2e-4 runs/no-decay
  rnnlab compare runs/* --figures comparison/
  rnnlab compare runs/l2-s* runs/none-s*     # seeds of one config: one row per config, mean ± sd,
                                             # marked against the base config by rnnlab recipe's rule""",
    "datasets": """examples:
  rnnlab datasets                # name, task, sizes, length, channels, classes or targets""",
    "search": """examples:
  rnnlab search my.toml --trials 20                  # study directory: <output.dir>-search/
  rnnlab search my.toml --trials 40 --workers 2      # two processes, one core each
  rnnlab search my.toml --storage postgresql://me@db:5432/studies --study leaf   # on every machine
  rnnlab search my.toml --trials 20                  # again: continues the study
  rnnlab search my.toml --reports all                # a run report for every trial (default: the best's)
see docs/search.md for the [search] section and the default space""",
    "study": """examples:
  rnnlab study runs/GunPoint-lstm-search             # the trials table of a running or finished study""",
    "recipe": """examples:
  rnnlab recipe my.toml                              # every step, 3 seeds, in runs/<name>-recipe/
  rnnlab recipe my.toml --steps recurrent_dropout,zoneout --seeds 5 --workers 2
  rnnlab recipe my.toml                              # again after a kill: continues, repeats no finished run
the steps (see docs/regularization.md, section 10):
""",
    "sample": """examples:
  rnnlab sample runs/lm                                   # 500 tokens from a trained language model
  rnnlab sample runs/lm --prompt "def " --length 200 --temperature 0.7 --seed 1""",
    "init": """examples:
  rnnlab init                    # writes rnnlab.toml
  rnnlab init vowels.toml --dataset JapaneseVowels   # runs/JapaneseVowels-lstm
  rnnlab init covid.toml --task regression           # values per sequence (Covid3Month)
  rnnlab init tags.toml --task per-step-classification   # a label at every step (delayed_copy)
  rnnlab init adding.toml --task per-step-regression     # values at every step (adding_problem)
  rnnlab init lm.toml --task language_model              # the next character of a text (python-docs)
  rnnlab init experiments/lstm.toml --force""",
}


def _say(message: str) -> None:
    try:
        # (one write with its line end: a Ctrl-C between print's two writes left the line open, and
        # the command's last line was glued to it)
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
    except OSError:
        # The reader of stdout has gone (`rnnlab train ... | head`: BrokenPipeError) or its terminal
        # closed (EIO, before the SIGHUP arrives): the command goes on without its lines rather than
        # losing the run to them; stdout becomes /dev/null so that nothing else (the interpreter's
        # last flush included) writes there.
        to_devnull(sys.stdout.fileno())


# ------------------------------------------------------------------------------ commands


def cmd_train(args: argparse.Namespace) -> int:
    if not args.profile:
        return _train_command(args)
    _file_to_write(args.profile, "--profile", "the profile")  # (before training, not after it)
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return _train_command(args)
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)
        _say(f"profile: {args.profile} (read it with: {shell_command('python', '-m', 'pstats', args.profile)})")


def _write_elsewhere(error: OSError, flag: str, what: str) -> RnnlabError:
    """A write into a run directory that the disk refused (read-only, full, not the user's), in
    one line that names the command's option writing ``what`` elsewhere instead.

    >>> import errno
    >>> str(_write_elsewhere(OSError(errno.EROFS, "Read-only file system", "runs/gp/report.html"), "--out FILE",
    ...                      "the page"))  # doctest: +NORMALIZE_WHITESPACE
    'cannot write runs/gp/report.html (Read-only file system); make it writable (the file system is read-only),
     or write the page elsewhere with --out FILE (the run directory is left as it is)'
    """
    from rnnlab.rundir import cannot_write, write_fix

    return RnnlabError(f"{cannot_write(error)}; {write_fix(error)}, or write {what} elsewhere with {flag} "
                       "(the run directory is left as it is)")


def cmd_predict(args: argparse.Namespace) -> int:
    from rnnlab.rundir import FORECAST, PREDICTIONS, refused_write
    from rnnlab.train.forecast import write_forecast
    from rnnlab.train.predict import write_predictions

    default = Path(args.run_dir) / (FORECAST if args.data is None else PREDICTIONS)
    _not_read_by_predict(Path(args.out) if args.out is not None else default, args)
    if args.out is not None:  # (a user's path: never a directory made up, nor a file of theirs replaced unasked)
        _file_to_write(args.out, "--out", "the CSV", force=args.force)
    # (the run directory's own file, without --out, is replaced each time: said, so that no earlier
    # predictions go unnoticed)
    replaced = "; replaced the earlier one" if args.out is None and default.is_file() else ""
    try:
        if args.data is None:
            _say(f"forecast: {write_forecast(args.run_dir, args.out)}{f' ({replaced[2:]})' if replaced else ''}")
            return 0
        path, n = write_predictions(args.run_dir, args.data, args.out)
    except OSError as e:
        if args.out is not None or refused_write(e) is None:
            raise
        raise _write_elsewhere(e, "--out FILE", "the CSV") from None
    _say(f"predictions: {path} ({n} series{replaced})")
    return 0


def _not_read_by_predict(out: Path, args: argparse.Namespace) -> None:
    """Refuse, in one line, an output of ``rnnlab predict`` (``--out``, or the run directory's own
    file without it) that is a file the command or its run reads: the ``--data`` file, or the
    run's ``data.path`` / ``data.test_path`` (the same file: a link or another name of it too).
    ``--force`` changes nothing: replacing it would lose the data."""
    from rnnlab.rundir import RunDir

    reads = {"the --data file": args.data} if args.data is not None else {}
    with contextlib.suppress(RnnlabError, OSError):  # (a run without a readable config: predict itself says why)
        trained = RunDir.existing(args.run_dir).read_trained_config().config
        reads.update({f"the run's data.{k} file": getattr(trained.data, k) for k in ("path", "test_path")
                      if getattr(trained.data, k) is not None})
    for source, read in reads.items():
        with contextlib.suppress(OSError):  # (one that does not exist is not the output: predict names it)
            if out.exists() and os.path.samefile(out, read):
                named = (f"--out {out}" if args.out is not None
                         else f"the output {out} (the run directory's own, written without --out)")
                raise RnnlabError(f"{named} is {source} {read} itself: writing there would replace those "
                                  "data (even with --force); name another file with --out")


def _file_to_write(given: str, flag: str, what: str, force: bool | None = None, make_dirs: bool = False,
                   name: str | None = None) -> Path:
    """``given``, the file ``flag`` names for a command to write ``what`` to, checked before the
    command does any work: not a directory (``name``: the file name the error suggests in it), in
    a directory that exists (or, ``make_dirs``, that the write makes under one); with ``force``
    given (the command replaces the file whole), one that exists only with ``force``, and never
    a device, pipe or socket (replaced, /dev/null would become a plain file); never one of a run
    directory's own files (:data:`rnnlab.rundir.RUN`'s, its marker and lock, through a link too),
    which ``rnnlab report``, ``compare`` and ``--resume`` read, but ``name`` (``rnnlab report``
    writes the run's page itself). One line naming ``flag`` otherwise.

    >>> _file_to_write("/nonexistent/p.out", "--profile", "the profile")
    Traceback (most recent call last):
    ...
    rnnlab.errors.RnnlabError: --profile: the directory /nonexistent does not exist (create it first)
    """
    from rnnlab.compare import is_run_directory
    from rnnlab.lock import LOCK_FILE
    from rnnlab.rundir import RUN

    path = Path(given)
    own = {RUN.marker, LOCK_FILE, *RUN.files} - {name}
    for target in dict.fromkeys((Path(os.path.abspath(path)), Path(os.path.realpath(path)))):
        for run in list(target.parents)[:2]:  # (a run's files lie in it or in its checkpoints/)
            rel = target.relative_to(run).as_posix()
            if rel in own and is_run_directory(run):
                raise RnnlabError(f"{flag}: {path} is the run directory {run}'s own {rel}, which rnnlab report, "
                                  f"compare and --resume read; write {what} to another file")
    if path.is_dir():
        raise RnnlabError(f"{flag}: expected a file to write {what} to, got the directory {path}"
                          + (" (--force overwrites a file, never a directory)" if force else "")
                          + (f"; name a file in it, e.g. {path / name}" if name else ""))
    if force is not None and path.exists() and not path.is_file():
        raise RnnlabError(f"{flag}: expected a file to write {what} to, got {path}, which is not a regular file "
                          "(a device, pipe or socket) and is never replaced")
    folder = path.parent
    while make_dirs and not folder.exists() and folder != folder.parent:
        folder = folder.parent  # (the nearest one that exists: the write makes the others under it)
    if not folder.is_dir():
        raise RnnlabError(f"{flag}: {folder} is not a directory, so {path} cannot be written" if folder.exists()
                          else f"{flag}: the directory {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise RnnlabError(f"{flag}: cannot write {path} (permission denied)")
    if force is False and path.exists():
        raise RnnlabError(f"{flag}: {path} already exists; pass --force to overwrite it")
    return path


def _train_command(args: argparse.Namespace) -> int:
    from rnnlab.config import load_config
    from rnnlab.device import device_asked_by, resolve_device, with_device
    from rnnlab.task import task_for
    from rnnlab.train.trainer import better_reference, shown_apart, train, with_derived_names

    config = with_device(load_config(args.config), args.device)
    resolve_device(config.training.device, device_asked_by(args.device, args.config))
    allow = [k.strip() for k in (args.allow_change or "").split(",") if k.strip()]
    if allow and not args.resume:
        raise RnnlabError("--allow-change applies to --resume only (a new run has nothing to differ from)")
    try:
        result = train(config, out=args.out, resume=args.resume, progress=None if not args.quiet else False,
                       log=None if args.quiet else _say, allow_change=allow)
    except KeyboardInterrupt as stop:
        raise _noted(_where_the_run_stands(stop, Path(args.out or with_derived_names(config).output.dir)), stop) \
            from None
    except OSError as e:  # a full disk, a folder made read-only: which file, and what survived
        raise _noted(_what_survived(e, Path(args.out or with_derived_names(config).output.dir)), e) from None
    except (MemoryError, RuntimeError) as e:  # out of memory: where, what lowers it, and what survived
        if not _out_of_memory(e):
            raise
        raise _noted(_what_ran_out(e, Path(args.out or with_derived_names(config).output.dir)), e) from None
    task = task_for(config)
    for shown in [task.headline] + ([task.metric("ppl")] if task.kind == "language_model" else []):
        _say(f"train {shown.label} {shown.show(result.train_eval[shown.name])}"
             + (f"  test {shown.label} {shown.show(result.test[shown.name])}" if result.test else "")
             + (f"  ({result.mean_guard.baseline}'s: task.mean_guard)" if result.mean_guard and not result.mean_guard.kept
                else "")
             + (_imbalance_said(result.by_class, "test" if result.test else "train_eval") if shown is task.headline
                else ""))
    by_channel = result.channel_line(task.headline)  # (a forecaster's MASE is the mean over its channels)
    if by_channel is not None:
        _say(by_channel)
    if task.kind == "regression" and result.by_channel:  # (K > 1 targets: each in its own terms)
        from rnnlab.task import pooled_rmse_note

        r2_line = result.channel_line(task.metric("r2"))
        # (a run that predicts the training mean scores about 0 everywhere: no model to warn of)
        below = result.below_mean_line() if not (result.mean_guard and not result.mean_guard.kept) else None
        std = (result.by_channel.get("scale") or {}).get("std") or {}
        for line in (r2_line, below, pooled_rmse_note(list(std.values()), list(std))):
            if line is not None:
                _say(line)
    if result.text is not None:  # what the figures above are over: <unk> is scored like any token
        unknown = result.text["unknown"]
        _say(f"unknown tokens (<unk>, vocabulary {result.text['vocabulary']}): "
             + "  ".join(f"{split} {unknown[split]} of {n}" for split, n in result.text["tokens"].items() if n))
    headline = task.headline
    if result.baselines:  # a forecaster beside the forecasts it must beat, on the same steps
        import math

        split = "test" if "test" in result.baselines else "train"
        refs = {name.replace("_", " "): float(v[headline.name]) for name, v in result.baselines[split].items()}
        model = float(((result.test if split == "test" else result.train_eval) or {}).get(headline.name, math.nan))
        # The per-channel line's rule too (better_reference): the model beside the better reference, "no
        # better" where it does not beat it, each figure in digits enough to tell it from the model's
        better = better_reference(model, refs, headline)
        model_text, refs_text = shown_apart(model, refs, headline)
        _say(f"{split} {headline.label}: " + "  ".join(f"{name} {refs_text[name]}" for name in refs)
             + (f"  (the model {model_text}" + (f": no better than {better.name})" if better and better.no_better else ")")
                if math.isfinite(model) else ""))
    from rnnlab.rundir import RunDir

    if result.finished_before:  # (--resume of a finished run writes nothing in it: no timing, no report)
        if RunDir(result.run_dir).report.exists():
            _say(f"run directory: {result.run_dir} (unchanged)")
        else:  # (but the page a stop left undrawn, as a search's or recipe's final run draws it)
            _say(f"run directory: {result.run_dir} (finished; its report drawn now: a stop had left it without one)"
                 f"\nreport: {_write_report(result.run_dir)}")
        _say_findings(result)
        return 0
    unwritten: RnnlabError | None = None
    try:
        # (what a kill while the page is drawn leaves: a session record that says so, not one that looks whole)
        result.timing.info["ended"] = "killed or still running: drawing the report"
        result.timing.write(RunDir(result.run_dir))
        with result.timing.phase("report"):
            report = _write_report(result.run_dir)
    except KeyboardInterrupt as stop:
        result.timing.info["ended"] = "interrupted while drawing the report"
        with contextlib.suppress(OSError):
            result.timing.write(RunDir(result.run_dir))
        raise Interrupted.of_command(stop, f"the run is finished (its summary.json is written): "
                                           f"`{shell_command('rnnlab', 'report', result.run_dir)}` draws its report") from None
    except OSError as e:  # a full disk at the last write: the run itself is whole, and its findings are said
        from rnnlab.rundir import cannot_write, write_fix

        unwritten = RnnlabError(f"{cannot_write(e)}; the run is finished and kept (its summary.json and "
                                f"checkpoints are written): {write_fix(e)} and `{shell_command('rnnlab', 'report', result.run_dir)}` "
                                "draws its report")
    result.timing.info.pop("ended", None)
    if unwritten is None:
        result.timing.write(RunDir(result.run_dir))
    else:  # (a measurement, not a record: the lack of room the error names would refuse it too)
        with contextlib.suppress(OSError):
            result.timing.write(RunDir(result.run_dir))
    _say(f"run directory: {result.run_dir}" + (f"\nreport: {report}" if unwritten is None else ""))
    if args.resume:  # (what rnnlab predict wrote into the run before: of the weights this resume went on from)
        from rnnlab.rundir import FORECAST, PREDICTIONS

        for name in (PREDICTIONS, FORECAST):
            if (Path(result.run_dir) / name).is_file():
                _say(f"note: {Path(result.run_dir) / name} is of the weights before this resume; "
                     f"`{shell_command('rnnlab', 'predict', result.run_dir)}"
                     f"{' --data FILE' if name == PREDICTIONS else ''}` writes it for the weights now")
    _say_findings(result)
    if unwritten is not None:  # (after the findings: the error line is the last word, and the exit code says it)
        raise unwritten
    return 0


def _say_findings(result: Any) -> None:
    """The findings after training, last, where the eye lands: did the model fit, does it overfit?"""
    if result.findings:
        from rnnlab.doctor import format_findings

        _say("\n" + format_findings(result.findings, "After training"))
    else:  # (what the checks that ran found, and nothing of those that did not)
        from rnnlab.doctor.fit import fit_verdict

        _say(f"after training: no findings ({fit_verdict(getattr(result.findings, 'checked', {}))})")


def _imbalance_said(by_class: dict[str, Any] | None, part: str) -> str:
    """What ``rnnlab train``'s last figure needs beside it when the classes are imbalanced (in the
    training split or in ``part``, the split that figure is of): the balanced accuracy (the mean
    recall over the classes) and what the majority class alone scores there; "" otherwise
    (``by_class``: :attr:`rnnlab.train.trainer.TrainResult.by_class`).

    >>> cls = {"count": {"sit": 90, "cycle": 10}, "balanced_acc": 0.8944, "majority_rate": 0.9}
    >>> _imbalance_said({"train_eval": cls, "test": cls}, "test")
    ' (balanced 0.894; the training majority class alone 0.900)'
    >>> _imbalance_said({"test": {**cls, "count": {"sit": 50, "cycle": 40}}}, "test")
    ''
    """
    from rnnlab.task import IMBALANCED_BELOW

    figures = (by_class or {}).get(part)
    if not figures or figures.get("balanced_acc") is None or figures.get("majority_rate") is None:
        return ""
    counts = [list((f.get("count") or {}).values()) for f in ((by_class or {}).get("train_eval"), figures) if f]
    if not any(len(c) > 1 and min(c) < IMBALANCED_BELOW * max(c) for c in counts):
        return ""
    # (the training part's majority class: what a model that learnt nothing predicts, rnnlab.task.class_figures)
    return f" (balanced {figures['balanced_acc']:.3f}; the training majority class alone {figures['majority_rate']:.3f})"


def _noted(said: BaseException, error: BaseException) -> BaseException:
    """``said``, the CLI's words for ``error``, with ``error``'s notes (what the trainer added:
    where a failed run's records are kept), which the one error line ends with."""
    if said is not error:
        for note in getattr(error, "__notes__", None) or ():
            add_note(said, note)
    return said


def _where_the_run_stands(stop: KeyboardInterrupt, run_dir: Path) -> KeyboardInterrupt:
    """A stop of ``rnnlab train`` outside its epochs (set-up, the evaluation after the last epoch),
    which the trainer did not explain, with what the run directory holds and what continues it;
    the trainer's own stop (during the epochs) already says so and is returned unchanged."""
    from rnnlab.rundir import CHECKPOINTS, LAST_CHECKPOINT

    if isinstance(stop, Interrupted) and str(stop) != str(Interrupted.by(stop.signum)):
        return stop
    last = run_dir / CHECKPOINTS / LAST_CHECKPOINT  # (not RunDir: it would make the folder a stop before it removed)
    if last.exists():  # (after the last epoch too: --resume then runs only the evaluation after training)
        return Interrupted.of_command(stop, f"the checkpoint {last} is written: --resume continues from it")
    return Interrupted.of_command(stop, "no checkpoint yet: the same command without --resume starts the run again")


def _what_survived(error: OSError, run_dir: Path) -> RnnlabError:
    """A write of ``rnnlab train`` that failed, in one line: the file (as the run names it, the
    temporary file of an atomic write aside), why, what of the run is intact and what then."""
    from rnnlab.rundir import cannot_write, write_fix

    what = cannot_write(error)
    fix = write_fix(error)
    return RnnlabError(f"{what}; {_then(run_dir, fix)}")


def _then(run_dir: Path, fix: str) -> str:
    """What of a failed run is intact, and how to go on once ``fix`` is done."""
    from rnnlab.errors import CheckpointError
    from rnnlab.rundir import CHECKPOINTS, LAST_CHECKPOINT
    from rnnlab.train.checkpoint import load_checkpoint

    last = run_dir / CHECKPOINTS / LAST_CHECKPOINT  # (not RunDir: it would make the folder the failure removed)
    try:
        ckpt = load_checkpoint(last) if last.exists() else None
    except (CheckpointError, OSError):
        ckpt = None
    if ckpt is not None:
        stream = ckpt.get("stream")
        where = f"within epoch {stream['epoch']}" if stream else f"after epoch {ckpt['epoch']}"
        return f"the checkpoint {where} ({last}) is intact: {fix} and rerun with --resume"
    from rnnlab.rundir import RunDir
    from rnnlab.train.trainer import cut_short, train_again_advice

    # (the promise is the one the rerun keeps: it starts again only in a directory cut short
    # before its first checkpoint, or one the failure emptied; records of more it never overwrites)
    run = RunDir(run_dir) if run_dir.is_dir() else None
    held = run.held_records() if run is not None and not cut_short(run) else ""
    if run is not None and held:
        return f"no checkpoint of the run is intact and {run_dir} holds {held}: {fix}; {train_again_advice(run)}"
    return f"no checkpoint of the run is intact: {fix} and rerun the same command without --resume (it starts the run again)"


#: the allocators' words for memory that ran out (torch's CPU and CUDA allocators)
_OUT_OF_MEMORY = ("can't allocate memory", "out of memory", "cannot allocate memory")


def _out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is memory that ran out (MemoryError, or torch's RuntimeError of its allocator)."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError)
                                          and any(w in str(e).lower() for w in _OUT_OF_MEMORY))


def _bytes_text(n: int) -> str:
    """A size in the largest binary unit it fills, to 3 digits: never "0 MiB" for a small one.

    >>> _bytes_text(3 * 2**30), _bytes_text(1536), _bytes_text(12)
    ('3 GiB', '1.5 KiB', '12 bytes')
    """
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _ran_out(e: BaseException) -> str:
    """What ran out, from the allocator's words, and where: the phase of the run the trainer
    placed ``e`` in (:func:`rnnlab.errors.place_of`), if any."""
    import re

    tried = re.search(r"tried to allocate (\d+) bytes", str(e))
    what = f"out of memory (an allocation of {_bytes_text(int(tried[1]))} failed)" if tried else "out of memory"
    place = place_of(e)
    return what + (f" {place}" if place is not None else "")


def _what_ran_out(error: BaseException, run_dir: Path) -> RnnlabError:
    """An out-of-memory error of ``rnnlab train`` in one line: what ran out, the epoch and step,
    the keys that lower a step's memory, and what of the run is intact."""
    from rnnlab.train.memory import lowering_keys

    return RnnlabError(f"{_ran_out(error)}; {_then(run_dir, lowering_keys())}")


def _write_report(run_dir: Path, out: Path | None = None) -> Path:
    from rnnlab.report import write_report

    return Path(write_report(run_dir, out))


def cmd_report(args: argparse.Namespace) -> int:
    from rnnlab.rundir import RunDir, refused_write

    # (a user's path: checked before the page is drawn, never a file of theirs replaced unasked)
    out = None if args.out is None else _file_to_write(args.out, "--out", "the report", force=args.force,
                                                       name="report.html")
    run = RunDir.existing(args.run_dir)
    if not any(f.exists() for f in (run.metrics, run.config, run.tracked, run.health)):
        from rnnlab.compare import several_runs

        # (a study's or a recipe's directory: say where its runs are, as rnnlab compare does)
        several = several_runs(run.path)
        if several is not None:
            raise RunDirError(f"{run.path} is {several}, not a run: rnnlab report draws one run's report; give it one "
                              "of those runs")
        raise RunDirError(f"{run.path} is not a run directory (no {run.metrics.name}, {run.config.name}, "
                          f"{run.tracked.name} or {run.health.name})")
    if not run.has_records() and not run.health.exists():  # (config.toml and set-up files: nothing to draw)
        from rnnlab.compare import no_epoch_why

        # (one wording with rnnlab compare's: what recorded the run, and what continues it)
        raise RunDirError(f"{run.path} holds no record of a run to report yet: it {no_epoch_why(run)}")
    try:
        path = _write_report(run.path, out)
    except OSError as e:
        if out is not None or refused_write(e) is None:
            raise
        raise _write_elsewhere(e, "--out FILE", "the page") from None
    _say(f"report: {path}")
    # The page shows what it could not read; the exit code says so too (first problem named).
    run.read_metrics(), run.read_tracked(), run.read_summary(), run.read_health(), run.read_resumes()
    if run.config.exists():
        run.read_config()
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from rnnlab.export.tensorboard import export_tensorboard, last_model
    from rnnlab.rundir import RunDir, refused_write

    runs = [RunDir.existing(d) for d in args.run_dirs]
    for run in runs:  # (every directory checked before any is written)
        if not run.metrics.exists() and not run.tracked.exists():
            raise RunDirError(f"{run.path}: nothing to export (no {run.metrics.name} or {run.tracked.name})")
    root = None if args.out is None else Path(args.out)
    logs: list[Path | None] = [None] * len(runs)  # (None: the run's own RUN_DIR/tensorboard)
    if root is not None:
        if root.exists() and not root.is_dir():
            raise RnnlabError(f"--out: expected a directory to write the event files in, got the file {root}")
        logs = [root / r.path.resolve().name for r in runs]
        twice = sorted({p.name for p in logs if logs.count(p) > 1})
        if twice:
            raise RnnlabError(f"--out: runs of the same name ({', '.join(twice)}) would share {root}/NAME; "
                              "export them to different --out directories")
        # (a SummaryWriter adds an event file: an earlier export's points there would be drawn twice)
        used = next((p for p in logs if p.is_dir() and any(p.glob("events.out.tfevents.*"))), None)
        if used is not None:
            raise RnnlabError(f"--out: {used} already holds an export's event files; remove them or choose "
                              "another --out")
    for run, log in zip(runs, logs):
        model = last_model(run)  # the gate layout and the last weights (None without config.toml or last.pt)
        try:
            out = export_tensorboard(run, log_dir=log, model=model)
        except ImportError as e:  # (the optional extra: a user's set-up, not a bug)
            raise RnnlabError(str(e)) from None
        except OSError as e:
            if root is not None or refused_write(e) is None:
                raise
            raise _write_elsewhere(e, "--out DIR", "the event files") from None
        lacking = " and ".join(f.name for f in (run.config, run.last_checkpoint) if not f.exists())
        _say(f"{run.path}: {out}" + ("" if model is not None else
                                     f" (no {lacking}: per-channel norms are not split per gate)"))
    parents = {r.path.resolve().parent for r in runs}
    if root is not None:
        _say(f"view: {shell_command('tensorboard', '--logdir', root)}")
    elif len(parents) == 1:
        _say(f"view: {shell_command('tensorboard', '--logdir', parents.pop())}")
    else:  # (runs in different folders: each named by its directory, not their common root)
        _say("view: " + shell_command("tensorboard", "--logdir_spec", ",".join(
            f"{r.path.resolve().name}:{r.path.resolve() / 'tensorboard'}" for r in runs)))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:

    from rnnlab.config import load_config
    from rnnlab.data import load_data
    from rnnlab.device import device_asked_by, resolve_device, with_device
    from rnnlab.doctor import diagnose
    from rnnlab.task import task_for
    from rnnlab.train.model import LogitsOnly, build_model
    from rnnlab.train.shape_rules import adapt_to_shape
    from rnnlab.train.trainer import batching, build_optimizer, doctor_batch, seed_everything

    if args.steps < 0:
        raise RnnlabError(f"--steps: expected an integer >= 0 (optimizer steps to observe), got {args.steps}")
    config = with_device(load_config(args.config), args.device)
    device = resolve_device(config.training.device, device_asked_by(args.device, args.config))
    config, shape = adapt_to_shape(config)  # the model train would build
    if shape is not None:
        _say(shape.line())
    task = task_for(config)
    seed_everything(config.training.seed)
    data = load_data(config.data, seed=config.training.seed, task=task)
    model = build_model(config.model, data.channels, task.head_width(data.classes, data.train.y),
                        task.per_step, values=task.values).to(device)
    optimizer = build_optimizer(model, config.training)
    batch = doctor_batch(data.train, batching(config).batch_size, config.tracking.inspect_steps, task, device)
    if data.train.X.shape[1] > config.tracking.inspect_steps:
        # (a stream's training rows are pieces of its text or series, data.streams of them, not whole series)
        of_each = ("tokens of each of the {} rows the training text is cut into (data.streams; tracking.inspect_steps)"
                   if data.text is not None else
                   "steps of each of the {} rows the training series are cut into (data.streams; tracking.inspect_steps)"
                   if task.stream else "steps of each series (tracking.inspect_steps)").format(len(data.train))
        _say(f"the health checks look at the first {config.tracking.inspect_steps} of the {data.train.X.shape[1]} "
             f"{of_each}")
    report = diagnose(LogitsOnly(model), batch, task.loss_fn(), optimizer, steps=args.steps, remedies="config",
                      seed=config.training.seed, classification=not task.values,
                      channel_scales=config.data.normalize == "none", channel_names=data.channel_names)
    _say(str(report))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rnnlab.compare import run_compare

    run_compare(args.run_dirs, args.figures, say=_say)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from rnnlab.rundir import cannot_write, write_fix
    from rnnlab.search.study import SearchOptions, WriteRefused, run_search

    options = SearchOptions(config=args.config, trials=args.trials, timeout=args.timeout, workers=args.workers,
                            storage=args.storage, study=args.study, out=args.out, final=not args.no_final,
                            reports=args.reports, device=args.device, quiet=args.quiet)
    try:
        run_search(options, log=_say)  # (no completed trial: a SearchError)
    except WriteRefused as e:  # a full disk, a study directory made read-only: as train says it
        raise RnnlabError(f"{cannot_write(e.error)}; {e.recorded}: {write_fix(e.error)} and rerun the same "
                          "command (it continues the study)") from None
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    from rnnlab.recipe.run import RecipeOptions, run_recipe_command

    options = RecipeOptions(config=args.config, seeds=args.seeds, steps=args.steps, workers=args.workers,
                            out=args.out, final=not args.no_final, device=args.device, quiet=args.quiet)
    run_recipe_command(options, log=_say)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from rnnlab.search.storage import state_counts, surplus, worker_gone
    from rnnlab.search.study import best_trial, open_existing, read_study_info
    from rnnlab.search.table import (
        copies,
        failures,
        fold_sizes,
        interruptions,
        majority_said,
        score_line,
        tied_with,
        trials_table,
    )

    study = open_existing(args.study_dir, storage=args.storage, name=args.study)
    # (a trial one too many, ended untrained when two workers counted at once, is no trial of the study's)
    trials = [t for t in study.get_trials(deepcopy=False) if not surplus(t)]
    if not trials:
        _say(f"study {study.study_name!r}: no trials yet")
        return 0
    # (study.json records the metric of the study it names; another study of the same storage: unnamed)
    info = read_study_info(args.study_dir)
    metric = info.get("metric") if info["study"] == study.study_name else None
    best = best_trial(study)
    named = metric if isinstance(metric, str) else None
    tied = tied_with(best, trials, named, fold_sizes(args.study_dir, trials)) if best is not None else []
    _say(trials_table(trials, best=best.number if best is not None else None, tied=tuple(t.number for t, _ in tied)))
    # (imbalanced classes: what the majority class alone scores, as the search's best-trial line says)
    _say(score_line(best, named, study.direction.name.lower(), tied=tied) + majority_said(args.study_dir, trials, named))
    for line in failures(trials) + interruptions(trials) + copies(trials):
        _say(line)
    # (stored as FAIL, a trial stopped by Ctrl-C, SIGTERM or SIGHUP is counted as interrupted, as the search's lines do)
    counts = state_counts(trials)
    gone = sum(map(worker_gone, trials))  # (failed as such when a search of the study runs next)
    _say(f"study {study.study_name!r}: {len(trials)} trials, " + ", ".join(
        f"{counts[s]} {'failed' if s == 'fail' else s}"
        + (f" ({gone} of them of a worker gone)" if s == "running" and gone else "")
        for s in ("complete", "pruned", "fail", "interrupted", "running", "waiting") if counts[s]))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from rnnlab.data import describe_bundled
    from rnnlab.data.stream import describe_streams
    from rnnlab.data.text import describe_texts

    rows = describe_bundled() + describe_streams() + describe_texts()
    cols = ["name", "task", "train", "test", "length", "channels", "classes", "targets"]
    _say(text_table([cols] + [[str(r[c]) for c in cols] for r in rows]))
    return 0


def task_name(given: str) -> str:
    """The task ``rnnlab init --task`` names, whichever of ``_`` and ``-`` it is spelt with (the
    documented names mix them: ``language_model``, ``per-step-regression``); a name of no task is
    returned as given, for :func:`rnnlab.config.template_for` to refuse.

    >>> task_name("language-model"), task_name("per_step_regression"), task_name("regresion")
    ('language_model', 'per-step-regression', 'regresion')
    """
    from rnnlab.task import TASKS

    return {name.replace("_", "-"): name for name in TASKS}.get(given.replace("_", "-"), given)


def cmd_init(args: argparse.Namespace) -> int:
    from rnnlab.config import template_for
    from rnnlab.rundir import atomic_write_text

    task = task_name(args.task)
    text = template_for(task, args.dataset)  # (a bad --dataset is refused before any folder is made)
    path = _file_to_write(args.path, "path", "the config", force=args.force, make_dirs=True,
                          name="rnnlab.toml")
    atomic_write_text(path, text)
    _say(f"wrote {path}; train it with: {shell_command('rnnlab', 'train', path)}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from rnnlab.train.sample import sample_text

    def note(message: str) -> None:  # (on stderr: the text alone on stdout, for a pipe)
        print(f"rnnlab sample: note: {message}", file=sys.stderr, flush=True)

    _say(sample_text(args.run_dir, args.length, args.temperature, args.prompt, args.seed, log=note))
    return 0


# ------------------------------------------------------------------------------ parser


class _VersionAction(argparse.Action):
    """``--version``, computed when asked for: it imports torch, which other commands' help need not."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(_version())
        parser.exit()


def _version() -> str:
    """rnnlab's and torch's versions, which LSTM step loops this install runs, and the devices
    torch sees."""
    import torch

    import rnnlab
    from rnnlab.device import describe_devices
    from rnnlab.layers import native

    return (f"rnnlab {rnnlab.__version__} (torch {torch.__version__}; LSTM step loops: {native.describe()})\n"
            f"{describe_devices()}")


def _recipe_steps() -> tuple[str, ...]:
    """The lines of ``rnnlab recipe --help`` that list the steps in the order they run, per task
    where it differs: :func:`rnnlab.recipe.steps.steps_for` of each task's template, so the help
    cannot drift from the walk.

    >>> [line for line in _recipe_steps() if not line.startswith(" ")]  # (each task's line, its steps below it)
    ['in the order they run, by task:', 'classification, regression, per-step-classification, per-step-regression, forecasting:', 'language_model:']
    """
    from rnnlab.config import parse_config, template_for
    from rnnlab.recipe.steps import steps_for
    from rnnlab.task import TASKS

    orders: dict[tuple[str, ...], list[str]] = {}
    for name in TASKS:
        orders.setdefault(tuple(s.name for s in steps_for(parse_config(template_for(name)))), []).append(name)
    lines = ["in the order they run, by task:"]
    for order, tasks in orders.items():
        lines.append(f"{', '.join(tasks)}:")
        lines += textwrap.wrap(", ".join(order), 94, initial_indent="  ", subsequent_indent="  ")
    return tuple(lines)


def _device_flag(p: argparse.ArgumentParser, more: str = "") -> None:
    p.add_argument("--device", metavar="DEVICE", help="auto | cpu | cuda | cuda:N: where to compute (default: "
                   f"training.device, auto: the GPU when there is one){more}; see docs/devices.md")


def build_parser() -> argparse.ArgumentParser:
    from rnnlab.config import RESUME_HARMLESS

    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Train, inspect and compare regularized recurrent networks on sequences: classification "
                    "(a class label per sequence) or regression (values per sequence), per sequence or at every "
                    "step, forecasting of long series, or language modelling of a text, set by [task] in the config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  rnnlab init my.toml\n  rnnlab train my.toml\n  rnnlab report runs/GunPoint-lstm\n"
               "run 'rnnlab COMMAND --help' for each command's options",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show versions and which step loops run, and exit")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        epilog = EXAMPLES[name].replace("{harmless}", textwrap.fill(  # (the one list of them)
            ", ".join(RESUME_HARMLESS), 96, initial_indent="  ", subsequent_indent="  "))
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        # SUPPRESS: an unset sub-command flag must not overwrite ``rnnlab --debug CMD``.
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
        return p

    p = add("train", "Train the model a TOML config describes; writes metrics, checkpoints and a report.")
    p.add_argument("config", help="the TOML config (rnnlab init writes an example)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output directory from its last checkpoint")
    p.add_argument("--out", metavar="DIR", help="run directory (default: output.dir of the config)")
    p.add_argument("--allow-change", metavar="KEY[,KEY]",
                   help="with --resume: continue although these harmless keys differ from the run's config "
                        "(e.g. training.epochs); logged in RUN_DIR/resumes.jsonl")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    _device_flag(p)
    p.add_argument("--profile", metavar="FILE", help="write a cProfile of the whole command to FILE "
                   "(RUN_DIR/timing.json has the time of each phase without it)")
    p.set_defaults(func=cmd_train)

    p = add("predict", "Write a run's predictions as CSV: with --data FILE, the label and each class's "
                       "probability, or the values, of every series in FILE (per step: of every step inside "
                       "its series), from a classification, regression or per-step run, or the forecast after FILE's end "
                       "from a forecasting run (its state warmed up on FILE, scaled with the run's training "
                       "statistics); without it, the forecast after the end of the run's own series (in the data's "
                       "units; with the dates it is for when the series' .csv has a date column at a fixed step).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--data", metavar="FILE", help="new series to predict, read as the run read data.path: an .npz "
                   "with X [N, T, C] (optional lengths [N]; a y is ignored) or a .csv (its label or target columns, "
                   "if any, ignored); per-step runs: .npz; forecasting runs: a series of the run's columns, at least "
                   "data.bptt steps long")
    p.add_argument("--out", metavar="FILE",
                   help="where to write it (default RUN_DIR/predictions.csv with --data, else RUN_DIR/forecast.csv, "
                        "replaced each time; an --out file that exists needs --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.set_defaults(func=cmd_predict)

    p = add("report", "Write RUN_DIR/report.html from a run's records.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="FILE", help="write the page to FILE instead (the run directory is left as it "
                   "is: one that is read-only, or not yours); an --out file that exists needs --force")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.set_defaults(func=cmd_report)

    p = add("tensorboard", "Write runs' metrics, tracked norms (per gate) and final weights (every parameter of the "
                           "last checkpoint, a recurrent layer's per gate, at the run's last step) as TensorBoard "
                           "event files (RUN_DIR/tensorboard), to view them side by side.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--out", metavar="DIR", help="write each run's event files to DIR/<its directory's name> instead "
                   "(the run directories are left as they are: read-only ones, or not yours)")
    p.set_defaults(func=cmd_tensorboard)

    p = add("doctor", "Health-check the untrained model of a config and a few training steps.")
    p.add_argument("config", help="the TOML config")
    p.add_argument("--steps", type=int, default=5, help="optimizer steps to observe (default 5)")
    _device_flag(p)
    p.set_defaults(func=cmd_doctor)

    p = add("compare", "Show runs side by side: final and best metrics, metric and weight-norm figures.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--figures", metavar="DIR",
                   help="where to write compare_metrics.png and compare_norms.png (default: compare/ in the first "
                        "run's parent; a glob of the runs that matches it, or an older compare_*.png, is skipped "
                        "with a note)")
    p.set_defaults(func=cmd_compare)

    p = add("search", "Bayesian optimization of a config's regularization, scored on folds of the training split.")
    p.add_argument("config", help="the TOML config (its [search] section, or the default space)")
    p.add_argument("--trials", type=int, metavar="N", help="finished trials to reach (default: search.trials, 20)")
    p.add_argument("--timeout", type=float, metavar="S", help="start no trial after S seconds")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="worker processes on this machine (default 1)")
    p.add_argument("--storage", metavar="URL", help="postgresql://USER@HOST:PORT/DB shared by machines "
                   "(default: a journal file in the study directory)")
    p.add_argument("--study", metavar="NAME", help="the study name (default: the config's name)")
    p.add_argument("--out", metavar="DIR", help="the study directory (default: output.dir + '-search')")
    p.add_argument("--no-final", action="store_true", help="skip retraining the best config and the test evaluation")
    p.add_argument("--reports", metavar="WHICH", help="trials whose run reports are drawn: best (default: the best "
                   "trial's, when the search ends), all (each as it finishes) or none (search.reports); draw any "
                   "other with `rnnlab report DIR/trials/NNNN/fold-1`")
    p.add_argument("--quiet", action="store_true", help="no line per trial, nor progress bar (the study's own lines and its result are said)")
    _device_flag(p, "; workers share it, or with auto and several GPUs take one each in turn")
    p.set_defaults(func=cmd_search)

    p = add("recipe", "Walk the regularization recipe: try each regularizer in turn, keep it only when its gain is "
                      "above one standard error (a weak bar: about 1 in 6 changes with no effect pass it), write the "
                      "ablation.")
    p.epilog += "\n".join(f"  {name}" for name in _recipe_steps())
    p.add_argument("config", help="the TOML config: the baseline")
    p.add_argument("--seeds", type=int, default=3, metavar="K",
                   help="seeds per candidate (default 3); the rule compares each run with the current "
                   "configuration's run of the same seed and fold, and needs 2 or more such pairs: 1 seed is "
                   "enough with 2 or more folds, not with one hold-out")
    p.add_argument("--steps", metavar="LIST", help="comma-separated steps to walk (default: all); they run in "
                   "the recipe's own order (listed below), whatever order LIST gives")
    p.add_argument("--workers", type=int, default=1, metavar="K", help="processes scoring candidates and seeds")
    p.add_argument("--out", metavar="DIR", help="the recipe directory (default: output.dir + '-recipe')")
    p.add_argument("--no-final", action="store_true",
                   help="skip retraining baseline and final config on the whole training split (no test evaluation)")
    p.add_argument("--quiet", action="store_true", help="no progress lines (what each step decided and the results are said)")
    _device_flag(p, "; workers share it, or with auto and several GPUs take one each in turn")
    p.set_defaults(func=cmd_recipe)

    p = add("study", "Print the trials table of a study directory (running or finished).")
    p.add_argument("study_dir", metavar="DIR")
    p.add_argument("--storage", metavar="URL", help="the database, when the study is in one with a password")
    p.add_argument("--study", metavar="NAME", help="another study name in the same storage")
    p.set_defaults(func=cmd_study)

    p = add("datasets", "List the bundled data sets (usable as data.dataset).")
    p.set_defaults(func=cmd_datasets)

    p = add("sample", "Generate text from a trained language model, with the weights its test figures are of: "
                      "best.pt under early stopping, else last.pt (of a run that has not finished, the one it "
                      "has so far, said in a note).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--length", type=int, default=500, metavar="N", help="tokens to generate (default 500)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="divides the logits: below 1 more conservative, above 1 more varied (default 1); a finite "
                   "number > 0, one so small that the division overflows draws the likeliest token (greedy)")
    p.add_argument("--prompt", default="", help="text the generation continues (default: a line start)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws, 0 <= seed < 2**32 as training.seed "
                   "(default 0)")
    p.set_defaults(func=cmd_sample)

    p = add("init", "Write a commented example config.")
    p.add_argument("path", nargs="?", default="rnnlab.toml", help="where to write it (default rnnlab.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--dataset", default=None,
                   help="the bundled data set to train on (default GunPoint; the task's own with --task)")
    p.add_argument("--task", default="classification",
                   help="what the template learns: classification (a label per sequence, the default), regression "
                        "(values per sequence), per-step-classification (a label at every step), "
                        "per-step-regression (values at every step), forecasting (the next values of long series) "
                        "or language_model (the next token of a text); '_' and '-' are read alike")
    p.set_defaults(func=cmd_init)
    return parser


def _one_line(e: BaseException) -> str:
    from rnnlab.redact import mask

    # (only line breaks fold: two spaces or a tab inside a quoted path are part of the path, and
    # a command printed in the message must still name it; a database's or driver's message may
    # repeat a --storage URL with its password)
    text = mask(" ".join(line.strip() for line in str(e).splitlines() if line.strip())) or type(e).__name__
    # (rnnlab's own lines are whole, a fix's code included; another library's may dump pages)
    return text if len(text) <= 600 or isinstance(e, RnnlabError) else text[:600] + " ..."


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """Run the CLI; returns the exit code (0 success, 1 error, 2 bad command line, 130 interrupted).

    Every sub-command gets the same treatment of failures: one line on stderr, the traceback
    only with ``--debug``. Ctrl-C is one line too, ``rnnlab CMD: interrupted`` and 130, at any
    moment (:class:`_CtrlC`); ``exiting``: the process ends with the code returned (the console
    script, ``python -m``), so SIGINT is left ignored rather than given back to the caller.

    >>> main(["report", "/nonexistent/run"])
    1
    """
    ctrl_c = _CtrlC()
    command = None
    try:
        ctrl_c.install()
        with rare_full_collections():  # building the parser imports the config's pydantic models
            args = build_parser().parse_args(argv)
            command = args.command
            return _run(args, ctrl_c)
    except KeyboardInterrupt:  # before the command began (the parser's imports)
        ctrl_c.ended = True
        print(f"rnnlab{f' {command}' if command else ''}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        ctrl_c.ended = True  # (first, before any call: a signal is acted on at a call)
        ctrl_c.release(exiting)


class _CtrlC:
    """SIGINT while :func:`main` runs: a Ctrl-C stops the command with a KeyboardInterrupt, raised
    through :func:`~rnnlab.stops.raise_stop` (one that Python swallows, in a weakref callback of
    an import, is sent again instead of printed and lost); the trainer holds SIGINT itself
    during its epochs and gives it back here after its first one.

    A Ctrl-C while a stop is on its way out (the trainer writes its checkpoint, a search stops
    its workers, the command says it was interrupted) or once the command's outcome is decided
    (``ended``) is held: raised there it broke that handling off half-way (the checkpoint of the
    epochs since the last one not written; a search's workers not stopped, so that the search
    waited for them to finish the study) or ended in a traceback. The stop under way ends the
    command with its one line and 130 all the same.

    >>> import os
    >>> ctrl_c = _CtrlC().install()
    >>> try:
    ...     os.kill(os.getpid(), signal.SIGINT)
    ... except KeyboardInterrupt:
    ...     os.kill(os.getpid(), signal.SIGINT)  # held: the first is being handled
    ...     print("stopped once")
    stopped once
    >>> ctrl_c.release(exiting=False)
    """

    def __init__(self) -> None:
        self.ended = False
        self.previous: Any = None
        self.installed = False

    def install(self) -> _CtrlC:
        """The handler, installed in the main thread unless SIGINT is ignored (``nohup``, a
        background job) or handled outside Python."""
        if threading.current_thread() is threading.main_thread():
            before = signal.getsignal(signal.SIGINT)
            if before is not signal.SIG_IGN and before is not None:
                # (set first: a Ctrl-C the moment the handler is in place finds what release needs)
                self.previous, self.installed = before, True
                signal.signal(signal.SIGINT, self)
        return self

    def __call__(self, signum: int, frame: Any) -> None:
        if self.ended or _stop_under_way():
            return
        raise_stop(KeyboardInterrupt(), signum, lambda: None)  # (this handler stays: nothing to rearm)

    def release(self, exiting: bool) -> None:
        """The handler before it back, or with ``exiting`` SIGINT ignored: the command has ended."""
        self.ended = True
        if self.installed:
            signal.signal(signal.SIGINT, signal.SIG_IGN if exiting else self.previous)
            self.installed = False


def _stop_under_way() -> bool:
    """Whether the code a signal interrupts handles a KeyboardInterrupt (in an ``except`` or
    ``finally`` block or a ``with`` block's exit), or an exception raised while handling one."""
    e = sys.exc_info()[1]
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__context__
    return False


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def _warnings_said_by(command: str) -> Callable[..., None]:
    """``warnings.showwarning`` for a command: rnnlab's own warnings as one line, ``rnnlab
    COMMAND: warning: ...`` (a user of the CLI has no use for our file and line), each said once
    (a config is validated again wherever it is read: its warning would repeat), with ``--debug``
    and for other packages' warnings Python's usual form. A warning is rnnlab's where rnnlab
    issued it, whatever line it points at (:func:`rnnlab.layers.regularizers.warn_at_user_line`
    points past rnnlab: under a config's validation, at pydantic's)."""
    shown = warnings.showwarning
    said: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if not (_in_package(filename) or _issued_by_rnnlab()):
            shown(message, category, filename, lineno, file, line)
            return
        # (rnnlab's own warning: whole, as its errors are, a fix's code included)
        text = _one_line(RnnlabError(str(message)))
        if text not in said:
            said.add(text)
            print(f"rnnlab {command}: warning: {text}", file=file or sys.stderr, flush=True)

    return show


def _in_package(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(_PACKAGE_DIR)


def _issued_by_rnnlab() -> bool:
    """Whether the ``warnings.warn`` being shown was called from rnnlab's code: the first frame
    above the warning machinery (Python's ``warnings`` module; the C part leaves no frame) and
    this module's ``show``."""
    frame = sys._getframe(2)  # (above show and this function)
    while frame is not None and frame.f_code.co_filename == warnings.__file__:
        frame = frame.f_back
    return frame is not None and _in_package(frame.f_code.co_filename)


def _run(args: argparse.Namespace, ctrl_c: _CtrlC) -> int:
    debug = bool(getattr(args, "debug", False))
    try:
        # SIGTERM (kill, timeout, a scheduler) and SIGHUP (the terminal closed) stop a command as
        # Ctrl-C does: a search or recipe stops its workers before it exits instead of leaving
        # them to run on alone
        with StopSignals(ENDING), warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _warnings_said_by(args.command)
            code = int(args.func(args))
            ctrl_c.ended = True
        return code
    except (KeyboardInterrupt, Exception) as e:
        ctrl_c.ended = True  # (first, before any call: the outcome is decided, a Ctrl-C changes nothing)
        if debug and not isinstance(e, KeyboardInterrupt):
            traceback.print_exc()
        line, code = _outcome(e)
        try:
            print(f"rnnlab {args.command}: {line}", file=sys.stderr, flush=True)
        except OSError:  # (its terminal closed, its reader ended: the exit code says it all the same)
            to_devnull(sys.stderr.fileno())  # (and the interpreter's last flush finds nothing to fail on)
        return code


def _outcome(e: BaseException) -> tuple[str, int]:
    """What a command that raised ``e`` says (after ``rnnlab CMD: ``) and its exit code."""
    notes = " ".join(notes_of(e).split())  # (where a failed run's records are kept, ...)
    if isinstance(e, Interrupted):  # SIGINT, SIGTERM or SIGHUP during training: its checkpoint is written
        return _one_line(e) + notes, 128 + e.signum
    if isinstance(e, KeyboardInterrupt):  # (Ctrl-C outside a training: SIGINT, named as every stop line names it)
        return str(Interrupted.of_command(e, "")) + notes, EXIT_INTERRUPTED
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        # (a file the command reads or writes: which, and what the system said, not "[Errno 13] ...")
        return f"error: {e.filename}: {e.strerror[0].lower()}{e.strerror[1:]}{notes}", EXIT_USER_ERROR
    if isinstance(e, (RnnlabError, OSError)):
        return f"error: {_one_line(e)}{notes}", EXIT_USER_ERROR
    if _out_of_memory(e):  # (any command's; rnnlab train says more: _what_ran_out)
        from rnnlab.train.memory import lowering_keys

        return f"error: {_ran_out(e)}; {lowering_keys()}{notes}", EXIT_USER_ERROR
    # a bug: one line, and how to get the details
    return (f"internal error: {type(e).__name__}: {_one_line(e)}; please report this (rerun with --debug for "
            "the traceback)"), EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main(exiting=True))
