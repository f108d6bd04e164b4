"""The run directory: one layout that the tracker, the trainer and the report all read.

::

    RUN_DIR/
      .rnnlab-run       marker: an rnnlab run directory (written when the trainer creates it)
      .rnnlab-lock      the write lock (rnnlab.lock): the pid of the writer, empty when none
      config.toml       resolved configuration the run follows (written at start; rewritten by a
                        resume that --allow-change admitted); each checkpoint records it too, and
                        the readers trust the checkpoint's (:meth:`RunDir.read_trained_config`)
      resumes.jsonl     one JSON object per resume: {"after_epoch", "step", "time", "changed"}
      metrics.jsonl     one JSON object per epoch: {"epoch", "step", "time", "train_loss", ...}
      tracked.jsonl     one JSON object per tracked statistic: {"step", "epoch", "name", "stat", "value"}
      health.json       health-check findings (a JSON list)
      summary.json      final/best records and test metrics of a finished run
      grad_through_time.json   |dLoss/dh_t| after training, for the report
      gate_activations.json    each gated layer's gate activations on the same batch (mean over it),
                               after training and before it, for the report
      timing.json       where the run's wall time went (set-up, data, training, checkpoints,
                        report...) and the torch threads it chose, with why
      checkpoints/      last.pt, best.pt (torch.save of plain tensors and numbers, with a SHA-256)
      report.html       self-contained HTML report

``*.jsonl`` files are append-only and flushed after each record, so they can be read while the
run goes on and survive the process being killed: a reader skips a truncated last line, so at
most the record in flight is lost. Every other file is written atomically (temporary file, then
``os.replace``).

Writing: :func:`claim` is the one way a command takes a directory to write (a run, a study, a
recipe): the directory must be new, empty, or one rnnlab made for that purpose (its marker file,
``.rnnlab-run`` for a run, or the files of an older rnnlab) -- a folder of the user's own files is
refused, never written into; then it is locked (:class:`rnnlab.lock.DirLock`: one writer at a
time, a second one refused naming the pid) and any symbolic link in it is refused. Every writer
of this module (:func:`append_jsonl`, :func:`truncate_jsonl`, the atomic writes) refuses a path
that is a link, dangling or not: nothing is ever written through a link out of the directory.

Reading: the ``read_*`` methods of :class:`RunDir` are the one reader of these files (the report,
``rnnlab compare``, ``--resume`` and the search all go through them). Each validates what it
reads and raises :class:`~rnnlab.errors.RunDirError` naming the file, the line and what was
expected: a corrupt line in the middle of a ``.jsonl`` file is an error, never skipped.

Example:
    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp())
    >>> d.append(d.metrics, {"epoch": 1, "train_loss": 0.5})
    >>> d.read_metrics()
    [{'epoch': 1, 'train_loss': 0.5}]
    >>> _ = open(d.metrics, "a").write('[1, 2]\\n{"epoch": 2}\\n')
    >>> d.read_metrics()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...metrics.jsonl line 2: expected a JSON object, got a list; the line after it is intact...
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import RunDirError
from rnnlab.lock import LOCK_FILE, DirectoryBusy, DirLock

if TYPE_CHECKING:
    from rnnlab.config import Config

METRICS = "metrics.jsonl"
TRACKED = "tracked.jsonl"
CONFIG = "config.toml"
HEALTH = "health.json"
CHECKPOINTS = "checkpoints"
REPORT = "report.html"
#: what ``rnnlab predict`` writes into the run directory without --out (replaced each time)
PREDICTIONS = "predictions.csv"
FORECAST = "forecast.csv"
SUMMARY = "summary.json"
RESUMES = "resumes.jsonl"
GRAD_THROUGH_TIME = "grad_through_time.json"
GATE_ACTIVATIONS = "gate_activations.json"
TIMING = "timing.json"
ADAPT = "adapt.json"
#: Which parameters each of ``training.decay_rules`` selected (the optimizer's groups), written at the start.
PARAM_GROUPS = "param_groups.json"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


@dataclass(frozen=True)
class DirKind:
    """A kind of directory rnnlab writes: how messages name it, the marker file written when
    rnnlab creates one, the files by which an older rnnlab's directory (before markers) is
    recognised (any one of the name groups, every name of the group present), and the folders
    (``""``: the directory itself) whose entries may not be links when it is claimed (a study's
    are not checked: Optuna's journal lock is a link, made and removed while workers write)."""

    what: str
    marker: str
    legacy: tuple[tuple[str, ...], ...] = ()
    no_links: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """What rnnlab writes there besides the marker and the lock (paths relative to the directory):
    what :func:`discard_run` removes, and whose atomic writes' stale temporary files
    (``.NAME.XXXXXXXX.tmp``, left by a kill) :func:`claim` sweeps."""
    unlocked: tuple[str, ...] = ()
    """Those of ``files`` written without the lock (``rnnlab report`` reads a run that trains):
    their temporary file may be in use, so it is never swept."""


#: The files of a run that hold what it recorded (:meth:`RunDir.has_records`): a failure never
#: removes them.
RECORDS = (METRICS, TRACKED, RESUMES, SUMMARY, f"{CHECKPOINTS}/{LAST_CHECKPOINT}", f"{CHECKPOINTS}/{BEST_CHECKPOINT}")
RUN = DirKind("run directory", ".rnnlab-run", ((CONFIG, METRICS), (CONFIG, CHECKPOINTS)), ("", CHECKPOINTS),
              files=(CONFIG, RESUMES, METRICS, TRACKED, HEALTH, SUMMARY, GRAD_THROUGH_TIME, GATE_ACTIVATIONS, TIMING,
                     ADAPT, PARAM_GROUPS, REPORT,
                     f"{CHECKPOINTS}/{LAST_CHECKPOINT}", f"{CHECKPOINTS}/{BEST_CHECKPOINT}"),
              unlocked=(REPORT,))
STUDY = DirKind("study directory", ".rnnlab-study", (("study.json",), ("journal.log",)))
#: ``recorded_by`` in a run directory's marker when the Lightning callback recorded the run (which
#: has no config.toml by nature: ``rnnlab report`` says so rather than warn).
RECORDED_BY_LIGHTNING = "rnnlab.lightning.RnnlabCallback"
#: What :func:`recorded_by` answers for a run of ``rnnlab train`` (its config.toml says so).
RECORDED_BY_TRAIN = "rnnlab train"
#: What :func:`recorded_by` answers for a training loop of the user's own: a run directory a
#: :class:`rnnlab.Tracker` claimed (its marker says so), or one of an older rnnlab holding what the
#: Tracker and :func:`rnnlab.diagnose` write (beside a metrics.jsonl the loop wrote itself: tracked.jsonl) and no
#: config.toml or summary.json.
RECORDED_BY_OWN_LOOP = "rnnlab.Tracker"
RECIPE = DirKind("recipe directory", ".rnnlab-recipe", (("recipe.toml",),))

#: The run directories this process holds for writing (:meth:`RunDir.for_writing`), as absolute
#: paths: a write never creates one of them again once it has gone (:func:`_refuse_rebirth`).
_WRITING: set[str] = set()


class RunDirGone(RunDirError):
    """A run directory this process writes was removed (or its lock file was) while it wrote."""


def _refuse_rebirth(folder: Path, writing: str) -> None:
    """Refuse to create ``folder`` (missing) when it, or a missing folder above it, is a run
    directory this process holds for writing: someone removed it, and a write that made it again
    would leave a damaged run (records of the last epochs alone, no config.toml)."""
    q = folder
    while not q.exists():
        if os.path.abspath(q) in _WRITING:
            raise RunDirGone(f"the run directory {q} disappeared while {writing} was written")
        if q.parent == q:
            return
        q = q.parent


class RunDir:
    """Paths of a run directory (created on first use), and the validating readers of its files.

    A writer opens it with :meth:`for_writing` (checked, locked, marked) and releases it with
    :meth:`release` (or ``with``); a plain ``RunDir(path)`` reads, and holds no lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not os.fspath(path).strip():  # (Path("") is the working directory)
            raise RunDirError(f"run directory: expected a path, got {os.fspath(path)!r}")
        self.path = Path(path)
        self.lock = DirLock(self.path, RUN.what)
        # what the directory held before a writer's claim (None: the claim created it); a reader
        # holds no lock, so :meth:`abandon` leaves its directory alone
        self._found: frozenset[str] | None = frozenset()
        self._made_above: tuple[Path, ...] = ()  # (the folders above it a writer's claim created)
        self._lock_id: tuple[int, int] | None = None  # (the lock file's, once a writer holds it)
        self._appended: set[Path] = set()  # (files this writer appended to: never created anew)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {str(self.path)!r}: expected a directory, got a file")
        _refuse_rebirth(self.path, "a reader of it")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"run directory {str(self.path)!r} cannot be created ({e.strerror or e})") from None

    @classmethod
    def existing(cls, path: str | os.PathLike[str] | RunDir) -> RunDir:
        """The run directory at ``path``, which must exist (a mistyped path is an error, not a new
        empty run): how every reader opens one (a read never creates a folder). A ``RunDir``
        given is returned as it is.

        >>> RunDir.existing("/nonexistent/run")
        Traceback (most recent call last):
        ...
        rnnlab.errors.RunDirError: run directory '/nonexistent/run' does not exist
        """
        if isinstance(path, RunDir):
            return path
        p = Path(path)
        if not p.exists():
            raise RunDirError(f"run directory {str(p)!r} does not exist")
        if not p.is_dir():
            raise RunDirError(f"run directory {str(p)!r}: expected a directory, got a file")
        return cls(p)

    @classmethod
    def for_writing(cls, path: str | os.PathLike[str], new: bool, named_by: str = "--out",
                    fold: dict[str, Any] | None = None) -> RunDir:
        """The run directory at ``path`` claimed for writing (:func:`claim`): held until
        :meth:`release`. ``new``: a new run marks the directory as a run (with ``fold``, the fold
        of the training split it validates on, :meth:`fold`); a resume only accepts one that is a
        run already.

        >>> import tempfile
        >>> with RunDir.for_writing(tempfile.mkdtemp(), new=True) as run:
        ...     sorted(p.name for p in run.path.iterdir())
        ['.rnnlab-lock', '.rnnlab-run']
        """
        run = cls.__new__(cls)
        run.path = Path(path)
        # (a new run's identity, which its checkpoints carry: :meth:`run_id`)
        run.lock, run._found, run._made_above = _claim(
            run.path, RUN, mark=new, named_by=named_by,
            marker_record={"run": uuid.uuid4().hex, **({"fold": fold} if fold else {})} if new else None)
        lock_file = os.stat(run.path / LOCK_FILE)
        run._lock_id = (lock_file.st_dev, lock_file.st_ino)
        run._appended = set()
        _WRITING.add(os.path.abspath(run.path))
        return run

    def release(self) -> None:
        """Give up the write lock taken by :meth:`for_writing` (nothing when none is held)."""
        if self.lock.held:
            _WRITING.discard(os.path.abspath(self.path))
        self.lock.release()

    def check_present(self, doing: str, detail: str = "") -> None:
        """Raise :class:`RunDirGone` when the directory this writer holds (:meth:`for_writing`) was
        removed, or its lock file was (``rm -rf`` under way), while ``doing`` (``detail``: what
        that left undone): one ``stat``, cheap enough before every record and checkpoint.

        >>> import shutil, tempfile
        >>> run = RunDir.for_writing(Path(tempfile.mkdtemp()) / "run", new=True)
        >>> shutil.rmtree(run.path); run.check_present("training")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnlab.rundir.RunDirGone: the run directory .../run disappeared while training (the directory no longer exists)
        """
        lock_id = self._lock_id
        if lock_id is None:
            return
        try:
            st = os.stat(self.path / LOCK_FILE)
            gone = "" if (st.st_dev, st.st_ino) == lock_id else "its lock file was replaced"
        except FileNotFoundError:
            gone = "the directory no longer exists" if not self.path.is_dir() else "its lock file was removed"
        if gone:
            raise RunDirGone(f"the run directory {self.path} disappeared while {doing} "
                             f"({gone}{f'; {detail}' if detail else ''})")

    def fold(self) -> dict[str, Any] | None:
        """The fold a search's or recipe's run validated on, as its trainer recorded it in the
        marker (``{"k": 5, "index": 0, "seed": 0, ...}``, index from 0); None for a run of the
        whole training split, or one recorded before runs kept their fold.

        >>> import tempfile
        >>> with RunDir.for_writing(tempfile.mkdtemp(), new=True, fold={"k": 3, "index": 1, "seed": 0}) as run:
        ...     run.fold()
        {'k': 3, 'index': 1, 'seed': 0}
        """
        fold = (read_marker(self.path, RUN) or {}).get("fold")
        if not isinstance(fold, dict) or not all(isinstance(fold.get(k), int) for k in ("k", "index")):
            return None
        return fold

    def run_id(self, create: bool = False) -> str | None:
        """The identity of the run (``"run"`` in its marker, ``.rnnlab-run``), which its checkpoints
        carry so that one of another run is refused; None for a directory an older rnnlab marked
        without one, unless ``create`` (a writer's) gives it one now.

        >>> import tempfile
        >>> with RunDir.for_writing(tempfile.mkdtemp(), new=True) as run:
        ...     len(run.run_id()), run.run_id(create=True) == run.run_id()
        (32, True)
        """
        marker = read_marker(self.path, RUN) or {}
        token = marker.get("run")
        if isinstance(token, str) and token:
            return token
        if not create:
            return None
        token = uuid.uuid4().hex
        atomic_write_json(self.path / RUN.marker, {**marker, "run": token})
        return token

    def held_records(self) -> str:
        """What the run recorded that starting it again would lose, in words ("" when nothing):
        its recorded epochs, resumes, summary and best checkpoint. ``last.pt`` is not named (the
        caller says whether there is one), nor is a tracked.jsonl alone: the steps of a first epoch
        cut short, which the seeded run started again records the same.

        >>> import tempfile
        >>> d = RunDir(tempfile.mkdtemp())
        >>> d.append(d.metrics, {"epoch": 1}); d.append(d.metrics, {"epoch": 2}); d.held_records()
        '2 recorded epochs'
        """
        held = []
        if self.metrics.exists():
            try:
                epochs = len({r["epoch"] for r in self.read_metrics()})
                if epochs:
                    held.append(f"{epochs} recorded epoch{'s' if epochs != 1 else ''}")
            except RunDirError:
                held.append(f"{METRICS} (not readable)")
        held += [name for name, path in ((RESUMES, self.resumes), (SUMMARY, self.summary),
                                         (BEST_CHECKPOINT, self.best_checkpoint)) if path.exists()]
        return " and ".join(", ".join(held).rsplit(", ", 1)) if held else ""

    def has_records(self) -> bool:
        """Whether the run has recorded anything that is never to be lost: an epoch
        (metrics.jsonl), a tracked statistic, a resume, a checkpoint or its summary. What a run's
        set-up writes (config.toml, adapt.json, health.json, grad_through_time.json and
        gate_activations.json before training, timing.json, a report of them) is no record: the same command writes it again.

        >>> import tempfile
        >>> d = RunDir(tempfile.mkdtemp())
        >>> _ = d.config.write_text("x"); d.has_records()
        False
        >>> d.append(d.metrics, {"epoch": 1, "train_loss": 0.5}); d.has_records()
        True
        """
        return any((self.path / name).exists() for name in RECORDS)

    def abandon(self, keep: Collection[str] = ()) -> bool:
        """Undo this writer's claim (:meth:`for_writing`) of a run that failed before it recorded
        anything (:meth:`has_records`), so that nothing is left that looks like a run: rnnlab's
        files of it go (:func:`discard_run`), and so do what the claim added, the marker and the
        lock file, and the directory itself when the claim created it and nothing else is in it,
        with the folders above it the claim created that are empty then (:func:`remove_empty_folders`).
        A directory that existed keeps what it held before (but the files of a run of ``rnnlab
        train`` cut short before it recorded anything, which the command discarded as it began);
        a run with records is left whole, and so is one where this writer wrote a file ``keep``
        names (what its set-up measured at a cost: the trainer's health check, and its thread
        measurement in ``timing.json``, which the trainer names only when the file holds one). The
        lock is released either way. Returns whether the run was abandoned.

        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()) / "mistyped" / "run"
        >>> run = RunDir.for_writing(d, new=True)
        >>> _ = run.config.write_text("x")
        >>> run.abandon(), d.exists(), d.parent.exists()
        (True, False, False)
        """
        try:
            # what was there before stays (a Tracker's or diagnose's health.json), unless it was a
            # run of rnnlab train cut short (config.toml), which this command started again
            found = self._found if self._found is not None and CONFIG not in self._found else frozenset()
            written = any(name not in found and (self.path / name).exists() for name in keep)
            if not self.lock.held or self.has_records() or written:
                return False
            discard_run(self.path, lock=self.lock, keep=found)
            _unclaim(self.path, RUN, self._found, self._made_above)
            return True
        finally:
            self.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def tracked(self) -> Path:
        return self.path / TRACKED

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def health(self) -> Path:
        return self.path / HEALTH

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def resumes(self) -> Path:
        """One record per ``--resume``: the epoch it continued after and the config keys changed."""
        return self.path / RESUMES

    @property
    def grad_through_time(self) -> Path:
        return self.path / GRAD_THROUGH_TIME

    @property
    def gate_activations(self) -> Path:
        """Gate activations of the inspected batch (:mod:`rnnlab.introspect.gates_file`)."""
        return self.path / GATE_ACTIVATIONS

    @property
    def adapt(self) -> Path:
        """What the rules that read the data decided (``adapt.shape``, ``adapt.budget``)."""
        return self.path / ADAPT

    @property
    def timing(self) -> Path:
        """Seconds per phase of each session of the run, and its thread choice."""
        return self.path / TIMING

    @property
    def last_checkpoint(self) -> Path:
        """Where ``--resume`` continues from (written after the first epoch, then at most every
        ``training.checkpoint_every`` seconds, after the last epoch and on SIGINT/SIGTERM/SIGHUP)."""
        return self.path / CHECKPOINTS / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        """The weights of the best epoch by validation (``summary.json``'s ``best_epoch``)."""
        return self.path / CHECKPOINTS / BEST_CHECKPOINT

    @property
    def checkpoints(self) -> Path:
        p = self.path / CHECKPOINTS
        p.mkdir(exist_ok=True)
        return p

    def append(self, file: Path, record: dict[str, Any]) -> None:
        """Append one record to a JSONL file of this run. A file this writer appended to before
        and that is gone now (``rm -rf`` of the run under way, which has not reached the lock file
        yet) is :class:`RunDirGone`, never a new file holding only the records after it.

        >>> import tempfile
        >>> with RunDir.for_writing(Path(tempfile.mkdtemp()) / "run", new=True) as run:
        ...     run.append(run.metrics, {"epoch": 1}); run.metrics.unlink()
        ...     run.append(run.metrics, {"epoch": 2})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnlab.rundir.RunDirGone: the run directory .../run disappeared while writing metrics.jsonl (metrics.jsonl, which this run wrote before, was removed)

        A record that the reader of its file would refuse (:meth:`read_metrics`, :meth:`read_tracked`,
        :meth:`read_resumes`) is refused here, by the same check, and nothing is written: a loop of
        the caller's own learns it at its first record, not when ``rnnlab compare`` reads the run.

        >>> with RunDir.for_writing(Path(tempfile.mkdtemp()) / "run", new=True) as run:
        ...     run.append(run.metrics, {"epoch": 0, "train_loss": 0.5})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnlab.errors.RunDirError: metrics.jsonl: expected an integer 'epoch' >= 1, got a number 0 (one record per epoch, epochs counted from 1, ...): the record was not written
        """
        rule = _RECORD_RULES.get(file.name) if file.parent == self.path else None
        if rule is not None:
            check, what = rule
            # (as the reader will see the record: NumPy and torch scalars as numbers, NaN restored)
            problem = check(_restore(jsonable(record)))
            if problem:
                raise RunDirError(f"{file.name}: {problem} ({what}): the record was not written")
        again = file in self._appended
        try:
            _append(file, _line(record), create=not again)
        except FileNotFoundError:
            if not again:
                raise
            self.check_present(f"writing {file.name}")
            raise RunDirGone(f"the run directory {self.path} disappeared while writing {file.name} "
                             f"({file.name}, which this run wrote before, was removed)") from None
        if self._lock_id is not None:
            self._appended.add(file)

    # -------------------------------------------------------------- the one reader

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records (``metrics.jsonl``; empty when missing): each an object with an
        integer ``epoch`` >= 1 and numbers (NaN/inf included) as every other value."""
        return read_jsonl(self.metrics, check=_check_metrics_record)

    def read_tracked(self) -> list[dict[str, Any]]:
        """The tracker's records (``tracked.jsonl``; empty when missing): ``name`` and ``stat``
        strings, an integer ``step`` >= 0, ``value`` a number or a list of numbers."""
        return read_jsonl(self.tracked, check=_check_tracked_record)

    def read_resumes(self) -> list[dict[str, Any]]:
        """The resume log (``resumes.jsonl``): ``after_epoch`` and the ``changed`` keys."""
        return read_jsonl(self.resumes, check=_check_resume_record)

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json`` of a finished run (None when missing): an object whose ``test`` and
        ``train_eval`` parts, when present, map names to numbers, and whose ``fit_findings``, when
        present, is a list of finding objects (those after training, as ``health.json`` holds them)."""
        if not self.summary.exists():
            return None
        data = read_json(self.summary)
        if not isinstance(data, dict):
            raise RunDirError(f"{self.summary}: expected a JSON object, got {_kind(data)}")
        for part in ("test", "train_eval"):
            value = data.get(part)
            if value is not None and not (isinstance(value, dict) and all(_is_number(v) for v in value.values())):
                raise RunDirError(f"{self.summary}: expected {part!r} to map names to numbers, got {value!r:.80}")
        for part in ("final", "best"):
            value = data.get(part)
            if value is not None and not isinstance(value, dict):
                raise RunDirError(f"{self.summary}: expected {part!r} to be an object, got {_kind(value)}")
        found = data.get("fit_findings")  # (the findings after training, as health.json holds findings)
        if found is not None and not (isinstance(found, list) and all(isinstance(d, dict) for d in found)):
            raise RunDirError(f"{self.summary}: expected 'fit_findings' to be a list of finding objects, "
                              f"got {json_shown(found)}")
        return data

    def read_health(self) -> list[dict[str, Any]] | None:
        """The health findings (``health.json``; None when missing), a list of objects. The file
        is that list, or an object ``{"findings": [...], "measured": {...}}`` that also says when
        the checks ran (:meth:`read_health_measured`)."""
        if not self.health.exists():
            return None
        data = read_json(self.health)
        findings = data.get("findings") if isinstance(data, dict) else data
        if not isinstance(findings, list) or not all(isinstance(d, dict) for d in findings):
            raise RunDirError(f"{self.health}: expected a JSON list of finding objects, or an object whose "
                              f"'findings' is one, got {json_shown(data)}")
        return findings

    def read_health_measured(self) -> dict[str, Any] | None:
        """When the health checks of ``health.json`` ran, as far as the file records it (None: it
        does not, as a plain list of findings): ``step``, the optimizer steps the model had taken
        (0: before training), and ``epoch``, each an integer >= 0 or null.

        >>> import tempfile
        >>> d = RunDir(tempfile.mkdtemp())
        >>> atomic_write_json(d.health, {"findings": [], "measured": {"step": 20}})
        >>> d.read_health(), d.read_health_measured()
        ([], {'step': 20})
        """
        if self.read_health() is None:  # (a file that is no health.json is an error, not "not recorded")
            return None
        data = read_json(self.health)
        measured = data.get("measured") if isinstance(data, dict) else None
        if measured is None:
            return None
        if not isinstance(measured, dict):
            raise RunDirError(f"{self.health}: expected 'measured' to be an object, got {json_shown(measured)}")
        for key in ("step", "epoch"):
            v = measured.get(key)
            if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                raise RunDirError(f"{self.health}: expected 'measured.{key}' to be an integer >= 0 or null, "
                                  f"got {json_shown(v)}")
        return measured

    def read_adapt(self) -> dict[str, Any] | None:
        """``adapt.json`` (None when missing): an object whose ``shape`` and ``budget`` parts,
        when present, are objects (:mod:`rnnlab.train.shape_rules`, :mod:`rnnlab.train.fit_budget`)."""
        if not self.adapt.exists():
            return None
        data = read_json(self.adapt)
        if not (isinstance(data, dict) and all(isinstance(data.get(k, {}), dict) for k in ("shape", "budget"))):
            raise RunDirError(f"{self.adapt}: expected an object whose 'shape' and 'budget' are objects, "
                              f"got {json_shown(data)}")
        return data

    def write_adapt(self, **parts: dict[str, Any]) -> None:
        """Record ``parts`` (``shape``, ``budget``) in ``adapt.json``, keeping the other parts."""
        atomic_write_json(self.adapt, {**(self.read_adapt() or {}), **parts})

    def read_timing(self) -> dict[str, Any] | None:
        """``timing.json`` (None when missing): ``seconds`` maps phases to numbers."""
        if not self.timing.exists():
            return None
        data = read_json(self.timing)
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if not (isinstance(seconds, dict) and all(_is_number(v) for v in seconds.values())):
            raise RunDirError(f"{self.timing}: expected an object whose 'seconds' maps phases to numbers, "
                              f"got {json_shown(data)}")
        return data

    def read_config(self) -> Config:
        """``config.toml`` as it is now, validated: the resolved config the run was started with,
        unless someone edited the file after the run trained. Then a warning names the keys that
        differ from the config the run trained with, by the comparison ``rnnlab predict``, report
        and compare make (:meth:`read_trained_config`, whose ``config`` is the one the run trained
        with); the file's config is returned all the same (a caller checking or comparing the file
        reads the file).

        >>> import tempfile
        >>> d = RunDir(tempfile.mkdtemp())
        >>> _ = d.config.write_text('[data]\\ndataset = "UnitTest"\\n')
        >>> d.read_config().data.dataset  # (no checkpoint: nothing to compare with, nothing said)
        'UnitTest'
        """
        from rnnlab.config import load_config
        from rnnlab.errors import ConfigError

        if not self.config.exists():
            raise self.no_config()
        try:
            config = load_config(self.config, recorded=True)
        except ConfigError as e:
            raise RunDirError(str(e)) from None
        # (read_trained_config reads the file by this method: its own call has nothing more to compare)
        if getattr(self, "_comparing_config", False):
            return config
        recorded = _checkpoint_config(self.last_checkpoint)
        if recorded is None or recorded == self.config.read_text(encoding="utf-8"):  # (as written: no edit)
            return config
        self._comparing_config = True
        try:
            edits = self.read_trained_config().edits
        finally:
            self._comparing_config = False
        if edits:
            import warnings

            warnings.warn(f"{self.path}: {CONFIG} was changed after the run trained: it differs from the config in its "
                          f"checkpoint ({CHECKPOINTS}/{LAST_CHECKPOINT}) in {edits}; read_config() returns {CONFIG} as "
                          "edited, read_trained_config().config the config the run trained with (what rnnlab predict "
                          "uses)", stacklevel=2)
        return config

    def no_config(self) -> RunDirError:
        """The error for a directory without ``config.toml`` (what a command that loads the run's
        model or config meets): a run that the Lightning callback or a loop of the user's own
        recorded has none by nature, and is said to be one, with what reads it.

        >>> import tempfile
        >>> print(RunDir(tempfile.mkdtemp()).no_config())  # doctest: +ELLIPSIS
        /... is not a run directory (no config.toml)
        >>> d = RunDir(tempfile.mkdtemp())
        >>> d.append(d.tracked, {"step": 0, "name": "loss", "stat": "value", "value": 0.7})
        >>> print(d.no_config())  # doctest: +ELLIPSIS
        /...: a training loop of your own recorded this run with rnnlab.Tracker: ... rnnlab predict and --resume need a run of rnnlab train (or an estimator's run_dir)
        """
        who = recorded_by(self.path)
        if who not in (RECORDED_BY_LIGHTNING, RECORDED_BY_OWN_LOOP):
            return RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        what = ("the Lightning callback recorded this run: its model is your LightningModule" if who == RECORDED_BY_LIGHTNING
                else "a training loop of your own recorded this run with rnnlab.Tracker: its model is in your code")
        return RunDirError(f"{self.path}: {what}, so it has no {CONFIG} and no model for rnnlab to load; rnnlab report "
                           "and rnnlab compare read its records, while rnnlab predict and --resume need a run of rnnlab "
                           "train (or an estimator's run_dir)")

    def read_trained_config(self) -> TrainedConfig:
        """The config the run trained with, and how ``config.toml`` differs from it: the one check
        that ``rnnlab report`` and ``rnnlab compare`` make before they show a run's config.

        ``config.toml`` is a text file anyone can edit after the run; the config the run followed
        is the one its last checkpoint (``checkpoints/last.pt``, written after the last epoch)
        records, which ``--resume`` compares with too. When the two differ, the checkpoint's is
        returned (what the run did), with the differing keys in ``edits``; the keys that the last
        resume changed (``resumes.jsonl``) to the values in ``config.toml`` are no edit (a resume
        rewrites config.toml before its first checkpoint), nor are the data files' paths
        (:data:`RELOCATABLE`: where the data is now, taken from config.toml). A run without a readable checkpoint
        (stopped before its first one, or a damaged one) or recorded by the Lightning callback has
        nothing to compare with: ``config.toml``, no edits. A missing config.toml is an error, as
        for :meth:`read_config`.

        >>> import tempfile
        >>> d = RunDir(tempfile.mkdtemp())
        >>> _ = d.config.write_text('[data]\\ndataset = "UnitTest"\\n')
        >>> trained = d.read_trained_config()  # (no checkpoint: config.toml, nothing to compare)
        >>> trained.config.data.dataset, trained.edits
        ('UnitTest', '')
        """
        from rnnlab.config import parse_config
        from rnnlab.errors import ConfigError

        if not self.config.exists():
            raise self.no_config()
        recorded = None if recorded_by(self.path) == RECORDED_BY_LIGHTNING else _checkpoint_config(self.last_checkpoint)
        try:
            text = self.config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            if recorded is None:
                raise RunDirError(f"{self.config}: cannot be read ({e})") from None
            text = None
        if recorded is None or text == recorded:
            return TrainedConfig(self.read_config(), text or "", "")
        try:
            trained = parse_config(recorded, source=f"{self.last_checkpoint} (its config)", recorded=True)
        except ConfigError:  # (one an rnnlab of other keys wrote: nothing this one can compare with)
            return TrainedConfig(self.read_config(), text or "", "")
        if text is None:
            return TrainedConfig(trained, recorded, f"every key ({CONFIG} cannot be read)")
        on_disk, changes, why = config_file_changes(trained, text, self.config)
        if on_disk is None:
            return TrainedConfig(trained, recorded, why)
        resumed = self.read_resumes()
        by_resume = resumed[-1]["changed"] if resumed else {}
        # (where the data files are now is the user's to say: a moved data set is found again by its
        # new path, and what reads it checks its content against the checkpoint's fingerprint)
        moved = {k: b for k, (_, b) in changes.items() if k in RELOCATABLE}
        edits = {k: (a, b) for k, (a, b) in changes.items() if k not in moved
                 and not (k in by_resume and _restore(json.loads(json.dumps(jsonable(b)))) == by_resume[k][1])}
        if not edits:  # (the same config written otherwise, or a resume's changes before its first checkpoint)
            return TrainedConfig(on_disk, text or "", "")
        if moved:
            trained = trained.model_copy(update={"data": trained.data.model_copy(
                update={k.split(".", 1)[1]: v for k, v in moved.items()})})
        return TrainedConfig(trained, recorded, format_changes(edits))

    def read_checkpoint(self, name: str = LAST_CHECKPOINT) -> dict[str, Any]:
        """A checkpoint of this run, checksum and structure verified (see
        :func:`rnnlab.train.checkpoint.load_checkpoint`)."""
        from rnnlab.train.checkpoint import load_checkpoint

        return load_checkpoint(self.path / CHECKPOINTS / name)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def config_file_changes(trained: Config, text: str, path: Path) -> tuple[Config | None, dict[str, tuple[Any, Any]], str]:
    """How ``text``, a run's ``config.toml`` at ``path``, differs from the config the run
    ``trained`` with (its checkpoint's): the file's config and the differing keys (each
    ``(trained value, value in the file)``), or None and why every key differs (the file is no
    valid config). The one comparison of :meth:`RunDir.read_trained_config` and of a resume.

    >>> from rnnlab.config import parse_config
    >>> trained = parse_config('[data]\\ndataset = "UnitTest"\\n')
    >>> _, changes, why = config_file_changes(trained, '[data]\\ndataset = "GunPoint"\\n', Path("config.toml"))
    >>> format_changes(changes), why
    ("data.dataset ('UnitTest' -> 'GunPoint')", '')
    """
    from rnnlab.config import config_changes, parse_config
    from rnnlab.errors import ConfigError

    try:
        on_disk = parse_config(text, source=str(path), recorded=True)
    except ConfigError as e:
        return None, {}, f"every key ({path.name} is not a valid config: {e})"
    return on_disk, config_changes(trained, on_disk), ""


def format_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    """Config changes in one line, each ``key (before -> after)``.

    >>> format_changes({"training.lr": (0.001, 0.003)})
    'training.lr (0.001 -> 0.003)'
    """
    return ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in changes.items())


#: Keys of config.toml that say where a run's data files are now, not how the run trained: an edit
#: of them is a relocation, taken from config.toml (:meth:`RunDir.read_trained_config`).
RELOCATABLE = ("data.path", "data.test_path")


@dataclass(frozen=True)
class TrainedConfig:
    """The config a run trained with (:meth:`RunDir.read_trained_config`): ``config`` and its
    TOML ``text``, and ``edits``, how ``config.toml`` differs from it ("" when it does not; else
    the keys, each as ``key (trained value -> value in config.toml)``)."""

    config: Config
    text: str
    edits: str

    def edited_line(self) -> str:
        """The one line ``rnnlab report`` and ``rnnlab compare`` say of an edited config.toml
        ("" when it is the config the run trained with).

        >>> print(TrainedConfig(None, "", "training.lr (0.01 -> 0.5)").edited_line())  # doctest: +ELLIPSIS
        config.toml was changed after the run trained: it differs from the config in its checkpoint (checkpoints/last.pt) in training.lr (0.01 -> 0.5); ...
        """
        if not self.edits:
            return ""
        return (f"{CONFIG} was changed after the run trained: it differs from the config in its checkpoint "
                f"({CHECKPOINTS}/{LAST_CHECKPOINT}) in {self.edits}; the checkpoint's is used, the config the run "
                f"trained with")


@functools.lru_cache(maxsize=16)
def _checkpoint_config_of(path: str, size: int, mtime_ns: int) -> str | None:
    from rnnlab.errors import CheckpointError
    from rnnlab.train.checkpoint import load_checkpoint

    try:
        config = load_checkpoint(path).get("config")
    except CheckpointError:  # (a damaged checkpoint tells nothing; `rnnlab report` still reads the records)
        return None
    return config if isinstance(config, str) else None


def _checkpoint_config(path: Path) -> str | None:
    """The config text the checkpoint at ``path`` records (None: no checkpoint, a damaged one, or
    one without a config); read once per file version in a process (a report asks several times,
    and a checkpoint is read whole to verify it)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _checkpoint_config_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def json_shown(value: Any) -> str:
    """``null`` / ``a string 'x'`` / ``a list [1, 2]``: the JSON kind and the value, short."""
    if value is None:
        return "null"
    text = json.dumps(value) if isinstance(value, (dict, list, bool)) else repr(value)
    return f"{_kind(value)} {text if len(text) <= 40 else text[:40] + '...'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_metrics_record(rec: dict[str, Any]) -> str | None:
    epoch = rec.get("epoch")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1):
        return f"expected an integer 'epoch' >= 1, got {json_shown(epoch)}" if "epoch" in rec else "missing key 'epoch'"
    for k, v in rec.items():
        if not _is_number(v):
            return f"expected {k!r} to be a number, got {json_shown(v)}"
    return None


def _check_tracked_record(rec: dict[str, Any]) -> str | None:
    for k in ("name", "stat"):
        if not isinstance(rec.get(k), str):
            return f"expected {k!r} to be a string, got {json_shown(rec.get(k))}" if k in rec else f"missing key {k!r}"
    step = rec.get("step")
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        return f"expected an integer 'step' >= 0, got {json_shown(step)}" if "step" in rec else "missing key 'step'"
    epoch = rec.get("epoch")
    if epoch is not None and not _is_number(epoch):
        return f"expected 'epoch' to be a number or null, got {json_shown(epoch)}"
    value = rec.get("value")
    if not (_is_number(value) or (isinstance(value, list) and all(_is_number(v) for v in value))):
        return f"expected 'value' to be a number or a list of numbers, got {json_shown(value)}" if "value" in rec \
            else "missing key 'value'"
    return None


def _check_resume_record(rec: dict[str, Any]) -> str | None:
    if not isinstance(rec.get("after_epoch"), int):
        return "expected an integer 'after_epoch'"
    changed = rec.get("changed")
    if not (isinstance(changed, dict) and all(isinstance(v, list) and len(v) == 2 for v in changed.values())):
        return "expected 'changed' to be an object {key: [old, new]}"
    return None


#: Each record file's check (what its reader refuses) and its rule in words; :meth:`RunDir.append`
#: refuses what the reader would.
_RECORD_RULES: dict[str, tuple[Callable[[dict[str, Any]], str | None], str]] = {
    METRICS: (_check_metrics_record, "one record per epoch, epochs counted from 1, every value a number"),
    TRACKED: (_check_tracked_record, "one statistic per record: 'step' >= 0, 'name', 'stat' and a numeric 'value'"),
    RESUMES: (_check_resume_record, "one record per resume: 'after_epoch' and 'changed'"),
}


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf as strings and arrays as lists (JSON has no NaN/inf; the readers
    of this module turn the strings back into floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return jsonable(value.tolist())
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value


def _append(path: str | os.PathLike[str], text: str, create: bool = True) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:  # O_NOFOLLOW: a link (even dangling) in place of the file is refused, never followed
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_link(path)
        raise
    with _naming(Path(path)), os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()


# ------------------------------------------------------------------ writes the disk refused


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it was raised from or while handling, each once.

    >>> [type(e).__name__ for e in error_chain(ValueError("a"))]
    ['ValueError']
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


#: errno of a write the disk refused: full (or over quota), read-only, or not writable to this user
REFUSED_WRITES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def refused_write(error: BaseException) -> OSError | None:
    """The write the disk refused (:data:`REFUSED_WRITES`) that ``error`` is, or was raised from or
    while handling (Optuna, its record of the trial refused too, ends in an ``AssertionError``);
    None for anything else.

    >>> refused_write(AssertionError("Should not reach.")) is None
    True
    >>> refused_write(OSError(errno.ENOSPC, "No space left on device", "best.pt")).filename
    'best.pt'
    """
    return next((e for e in error_chain(error) if isinstance(e, OSError) and e.errno in REFUSED_WRITES), None)


def cannot_write(error: OSError) -> str:
    """A refused write in a few words: the file (when the error names it) and the system's reason.

    >>> cannot_write(OSError(errno.ENOSPC, "No space left on device", "trials/0001/fold-1/checkpoints/best.pt"))
    'cannot write trials/0001/fold-1/checkpoints/best.pt (No space left on device)'
    """
    why = error.strerror or str(error)
    return f"cannot write {error.filename} ({why})" if error.filename else f"cannot write ({why})"


def write_fix(error: OSError) -> str:
    """What lets a write that ``error`` refused through, in the words of a command's line.

    >>> write_fix(OSError(errno.EROFS, "Read-only file system"))
    'make it writable (the file system is read-only)'
    """
    return {errno.ENOSPC: "free space", errno.EDQUOT: "free space (the disk quota is full)",
            errno.EACCES: "make it writable", errno.EPERM: "make it writable",
            errno.EROFS: "make it writable (the file system is read-only)",
            errno.EFBIG: "raise the file size limit (ulimit -f)"}.get(error.errno or 0, "fix that")


def refuse_link(path: str | os.PathLike[str], expected: str = "a regular file") -> None:
    """A :class:`~rnnlab.errors.RunDirError` when ``path`` is a symbolic link (dangling or not):
    every writer of a run directory calls it, so no write follows a link out of the directory.

    >>> import tempfile
    >>> link = Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> link.symlink_to("/elsewhere/file")
    >>> refuse_link(link)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: .../metrics.jsonl: expected a regular file, got a symbolic link to '/elsewhere/file'; ...
    """
    p = Path(path)
    if p.is_symlink():
        try:
            target = os.readlink(p)
        except OSError:
            target = "?"
        raise RunDirError(f"{p}: expected {expected}, got a symbolic link to {target!r}; rnnlab writes "
                          "nothing through a link (it could lead out of the directory): remove the link")


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line and flush it to the OS (survives kill -9)."""
    _append(path, _line(record))


def _line(record: dict[str, Any]) -> str:
    try:  # the common case, plain finite numbers, without walking every value
        return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
    except (ValueError, TypeError):
        return json.dumps(jsonable(record), separators=(",", ":")) + "\n"


def append_jsonl_many(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append several records in one write (one flush)."""
    text = "".join(_line(r) for r in records)
    if text:
        _append(path, text)


def read_jsonl(path: str | os.PathLike[str],
               check: Callable[[dict[str, Any]], str | None] | None = None) -> list[dict[str, Any]]:
    """Read a JSONL file of objects (empty when missing); ``check(record)`` returns what is wrong
    with a record, or None.

    A last line without its newline is the record in flight when the writer was killed: it is
    skipped. Any other line that is not valid UTF-8, not JSON, not an object or fails ``check``
    is a :class:`~rnnlab.errors.RunDirError` naming the file and line.
    """
    p = Path(path)
    if not p.exists():
        return []
    if not p.is_file():
        raise RunDirError(f"{p}: expected a file, got a directory")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise RunDirError(f"{p}: cannot be read ({e.strerror or e})") from None
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or the record in flight
    out = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            out.append(_record(raw, check))
        except ValueError as e:
            raise RunDirError(f"{p} line {n}: {e}{_damaged_remedy(p, n, len(lines))}") from None
    return out


def _record(raw: bytes, check: Callable[[dict[str, Any]], str | None] | None) -> dict[str, Any]:
    """One line of a JSONL file as its record; a ValueError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(rec, dict):
        raise ValueError(f"expected a JSON object, got {_kind(rec)}")
    rec = _restore(rec)
    problem = check(rec) if check is not None else None
    if problem:
        raise ValueError(problem)
    return rec


def _damaged_remedy(path: Path, n: int, lines: int) -> str:
    """What to do about a damaged line ``n`` of ``lines`` (rnnlab wrote each line whole, so the file
    was changed by something else: a disk fault, an edit): nothing reads past it, since skipping a
    record would change what the run's figures say without a word.

    >>> _damaged_remedy(Path("run/metrics.jsonl"), 3, 10)  # doctest: +ELLIPSIS
    '; the 7 lines after it are intact: repair line 3 or delete it (keep a copy of metrics.jsonl first)...'
    """
    after = lines - n
    where = (f"{'the line' if after == 1 else f'the {after} lines'} after it {'is' if after == 1 else 'are'} intact" if after
             else "it is the file's last line")
    return (f"; {where}: repair line {n} or delete it (keep a copy of {path.name} first), then run the "
            "command again")


def truncate_jsonl(path: str | os.PathLike[str], keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a JSONL file atomically keeping only the records where ``keep(record)``.

    Used on resume so that nothing recorded after the checkpoint appears twice. Returns the
    number of records dropped.
    """
    refuse_link(path)
    records = read_jsonl(path)
    kept = [r for r in records if keep(r)]
    text = "".join(json.dumps(jsonable(r), separators=(",", ":")) + "\n" for r in kept)
    atomic_write_text(path, text)
    return len(records) - len(kept)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one."""
    p = Path(path)
    refuse_link(p)  # os.replace would replace a link, not follow it; refused alike, one rule
    if p.exists() and not p.is_file():
        # (os.replace would put a file in place of a device or a pipe: /dev/null, as root)
        kind = "a directory" if p.is_dir() else "not a regular file (a device, a pipe or a socket)"
        raise RunDirError(f"{p}: expected a file to write, got {kind}; it is left as it is")
    with _naming(p):
        _refuse_rebirth(p.parent, p.name)  # (checkpoints/ is made only inside a run directory that is there)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; run files are meant to be shared
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    # A writer killed between mkstemp and the rename left its temporary file of this same target
    # (report.html, which claim never sweeps: another writer may hold it): now written, it goes.
    for stale in dead_writers_temporaries(p):
        with contextlib.suppress(OSError):
            stale.unlink()


#: How old a temporary file must be, beside older than this process, before a write of its
#: target removes it: a live writer that began just before this process is inside mkstemp, write,
#: fsync and rename for far less than this.
_STALE_AFTER_S = 60.0


@functools.lru_cache(maxsize=1)
def _process_started() -> float:
    """When this process started (epoch seconds): the kernel's start time where /proc has it,
    else when this module was first asked (later, so no older file passes for newer)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        import time

        return time.time()


def dead_writers_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """The temporary files (``.NAME.XXXXXXXX.tmp``) that atomic writes of ``path`` killed before
    their rename left beside it: regular files of exactly mkstemp's names for this target, last
    written before this process started and a minute ago (so never a live writer's).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in (".report.html.ab12cd34.tmp", ".other.html.ab12cd34.tmp", ".report.html.x.tmp"):
    ...     _ = (d / name).write_text("partial")
    ...     os.utime(d / name, (0, 0))
    >>> [p.name for p in dead_writers_temporaries(d / "report.html")]
    ['.report.html.ab12cd34.tmp']
    >>> _ = (d / ".report.html.ef56gh78.tmp").write_text("being written")  # (now: a live writer's)
    >>> [p.name for p in dead_writers_temporaries(d / "report.html")]
    ['.report.html.ab12cd34.tmp']
    """
    import time

    p = Path(path)
    before = min(_process_started(), time.time() - _STALE_AFTER_S)
    pattern = re.compile(re.escape(f".{p.name}.") + r"[a-z0-9_]{8}\.tmp")
    found = []
    try:
        entries = list(os.scandir(p.parent))
    except OSError:
        return []
    for e in entries:
        try:
            if (pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)
                    and e.stat(follow_symlinks=False).st_mtime < before):
                found.append(Path(e.path))
        except OSError:
            continue
    return sorted(found)


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An OSError of a write names the file written, ``path`` (a full disk names none; a refused
    ``mkstemp`` names its temporary file, which the user never sees)."""
    try:
        yield
    except OSError as e:
        if e.filename == os.fspath(path) or e.errno is None:
            raise
        # (OSError(errno, ...) is the errno's subclass again: PermissionError, ...)
        raise OSError(e.errno, e.strerror or str(e), os.fspath(path)) from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomic JSON write (NaN/inf stored as strings, like the JSONL files)."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`; an unreadable or invalid file is a
    :class:`~rnnlab.errors.RunDirError` naming it."""
    p = Path(path)
    if p.is_dir():
        raise RunDirError(f"{p}: expected a file, got a directory")
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise RunDirError(f"{p}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise RunDirError(f"{p}: not valid UTF-8 (byte {e.start})") from None
    try:
        return _restore(json.loads(text))
    except json.JSONDecodeError as e:
        raise RunDirError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically (a killed run never leaves a half checkpoint)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------ claiming a directory


def claim(path: str | os.PathLike[str], kind: DirKind, *, mark: bool = True, named_by: str = "--out",
          marker_record: dict[str, Any] | None = None, wait: bool = False,
          on_wait: Callable[[str], None] | None = None) -> DirLock:
    """Take the directory ``path`` for writing as a ``kind`` directory; returns its held lock.

    Refused, before anything is created, when it holds files and neither ``kind``'s marker nor
    an older rnnlab's files of that kind (a folder of the user's own files is never written
    into). Then the directory is created, locked (a lock held by another writer is refused
    naming its pid, or with ``wait`` waited for), any symbolic link among its files refused,
    and, with ``mark``, the marker written (``marker_record`` as its JSON content).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "notes.txt").write_text("mine")
    >>> claim(d, RUN)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: --out '...': the directory holds files that are not an rnnlab run: notes.txt (no .rnnlab-run); ...
    """
    return _claim(Path(path), kind, mark=mark, named_by=named_by, marker_record=marker_record, wait=wait,
                  on_wait=on_wait)[0]


def _claim(p: Path, kind: DirKind, *, mark: bool = True, named_by: str = "--out",
           marker_record: dict[str, Any] | None = None, wait: bool = False,
           on_wait: Callable[[str], None] | None = None
           ) -> tuple[DirLock, frozenset[str] | None, tuple[Path, ...]]:
    """:func:`claim`, what the directory held before it (None: it did not exist) and the folders
    above it that it created (:func:`missing_folders`), which :func:`_unclaim` restores."""
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{kind.what} {str(p)!r}: expected a directory, got a file")
    _check_own(p, kind, named_by)
    found = frozenset(os.listdir(p)) if p.is_dir() else None
    made_above = missing_folders(p)[1:]
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"{kind.what} {str(p)!r} cannot be created ({e.strerror or e})") from None
    try:
        lock = DirLock(p, kind.what).acquire(wait=wait, on_wait=on_wait)
    except DirectoryBusy:
        raise  # (another writer's directory now, whoever made it)
    except (OSError, RunDirError):
        if found is None:  # its lock file not made or its record not written (a full disk): the folder made for nothing goes
            with contextlib.suppress(OSError):
                (p / LOCK_FILE).unlink(missing_ok=True)
                p.rmdir()
                remove_empty_folders(made_above)
        raise
    try:
        _check_own(p, kind, named_by)  # what another writer did before we held the lock
        for sub in kind.no_links:
            folder = p / sub
            if folder.is_dir() and not folder.is_symlink():
                for entry in sorted(folder.iterdir()):
                    # (a run's own folders, checkpoints/, are directories: said so of a link in their place)
                    refuse_link(entry, "a directory" if sub == "" and entry.name in kind.no_links else "a regular file")
        for stale in _stale_temporaries(p, kind):
            stale.unlink(missing_ok=True)
        if mark and not (p / kind.marker).exists():
            atomic_write_text(p / kind.marker, json.dumps(marker_record or {}) + "\n")
    except BaseException:
        try:  # (a full disk refusing the marker: no lock file left in a folder made for nothing)
            _unclaim(p, kind, found, made_above)
        finally:
            lock.release()
        raise
    return lock, found, made_above


def _unclaim(p: Path, kind: DirKind, found: frozenset[str] | None, made_above: Sequence[Path] = ()) -> None:
    """Take back what a claim added to ``p``, under its lock, held: the marker and the lock file
    where ``found`` (what ``p`` held before, None: it did not exist) lacked them, and ``p`` itself
    when the claim created it and nothing else is in it, then the folders above it that the claim
    created (``made_above``, :func:`missing_folders`) and that are empty. A removal the file
    system refuses is left undone: the next claim takes the directory as it is."""
    with contextlib.suppress(OSError):
        left = set(os.listdir(p)) - {kind.marker, LOCK_FILE}
        if found is None and left:
            return  # (files that are not the claim's: the folder stays a marked one)
        # the marker first: a directory holding only the lock file is an empty one to claim
        for name in (kind.marker, LOCK_FILE):
            if found is None or name not in found:
                (p / name).unlink(missing_ok=True)
        if found is None:
            p.rmdir()
            remove_empty_folders(made_above)


def missing_folders(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The folders that creating the directory ``path`` with its parents would make: ``path`` and
    each missing folder above it, deepest first (empty when ``path`` exists). Taken before a
    command creates its directory, they are what :func:`remove_empty_folders` may take back if
    the command fails before it records anything.

    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> [f.relative_to(base).as_posix() for f in missing_folders(base / "a" / "b" / "run")]
    ['a/b/run', 'a/b', 'a']
    >>> missing_folders(base)
    ()
    """
    made: list[Path] = []
    q = Path(path)
    # (lexists: a dangling link in the way is something there, never a folder to take back)
    while not os.path.lexists(q) and q.parent != q:
        made.append(q)
        q = q.parent
    return tuple(made)


def remove_empty_folders(folders: Iterable[str | os.PathLike[str]]) -> None:
    """Remove ``folders`` (deepest first, as :func:`missing_folders` lists them) while they are
    empty: the first one that holds anything (another run's directory, a user's file), is gone or
    cannot be removed stops it, so no folder above one that stays is touched. Only an empty
    folder is ever removed (``rmdir``); give only folders this process created.

    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> made = missing_folders(base / "a" / "b" / "run")
    >>> (base / "a" / "b").mkdir(parents=True); _ = (base / "a" / "notes.txt").write_text("mine")
    >>> remove_empty_folders(made[1:]); sorted(p.relative_to(base).as_posix() for p in base.rglob("*"))
    ['a', 'a/notes.txt']
    """
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return


def _stale_temporaries(p: Path, kind: DirKind) -> list[Path]:
    """The temporary files that killed atomic writes (:func:`atomic_write_bytes`) of ``kind``'s
    files left in the directory ``p``: only names ``mkstemp`` makes for those files (never a
    user's file), only regular files, only those no writer outside the lock may be writing."""
    found = []
    for rel in (kind.marker, *(f for f in kind.files if f not in kind.unlocked)):
        final = p / rel
        folder = final.parent
        if not folder.is_dir() or folder.is_symlink():
            continue
        pattern = re.compile(re.escape(f".{final.name}.") + r"[a-z0-9_]{8}\.tmp")
        found += [e for e in sorted(folder.iterdir())
                  if pattern.fullmatch(e.name) and e.is_file() and not e.is_symlink()]
    return found


def _check_own(p: Path, kind: DirKind, named_by: str) -> None:
    if not p.is_dir():
        return
    # A kill between mkstemp and the rename of the marker's atomic write leaves ".MARKER.*.tmp":
    # a directory holding only that is the new run directory it was becoming, not a stranger's.
    names = {e for e in os.listdir(p) if e != LOCK_FILE and not (e.startswith(f".{kind.marker}.") and e.endswith(".tmp"))}
    if not names or kind.marker in names or any(all(n in names for n in group) for group in kind.legacy):
        return
    shown = sorted(names)
    listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
    noun = kind.what.split()[0]
    raise RunDirError(f"{named_by} {str(p)!r}: the directory holds files that are not an rnnlab {noun}: {listed} "
                      f"(no {kind.marker}); rnnlab writes only into a new or empty directory or its own "
                      f"{kind.what}: choose another one")


def recorded_by(path: str | os.PathLike[str]) -> str | None:
    """Who recorded the run directory ``path``: :data:`RECORDED_BY_LIGHTNING` (its marker says so),
    :data:`RECORDED_BY_TRAIN` (config.toml, which ``rnnlab train`` writes first),
    :data:`RECORDED_BY_OWN_LOOP` (a marker saying so, or what :class:`rnnlab.Tracker` and
    :func:`rnnlab.diagnose` write: tracked.jsonl, health.json, grad_through_time.json, and no
    summary.json; beside a metrics.jsonl the loop wrote itself, tracked.jsonl), or None when the
    files do not tell (an empty directory, metrics.jsonl alone or with only what diagnose writes).
    What a report may claim of a run depends on it: only the two trainers run the health checks
    before training, and only ``rnnlab train`` judges the fit after it.

    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp())
    >>> recorded_by(d.path) is None
    True
    >>> d.append(d.tracked, {"step": 0, "name": "loss", "stat": "value", "value": 0.7})
    >>> d.append(d.metrics, {"epoch": 1, "train_loss": 0.7})
    >>> recorded_by(d.path)
    'rnnlab.Tracker'
    """
    p = Path(path)
    marked = (read_marker(p, RUN) or {}).get("recorded_by")
    if marked == RECORDED_BY_LIGHTNING:
        return marked
    if (p / CONFIG).exists():  # (only rnnlab train writes it: a Tracker in its run leaves its marker as it was)
        return RECORDED_BY_TRAIN
    if marked == RECORDED_BY_OWN_LOOP:
        return marked
    # Only the two trainers write summary.json: with it, these files are a Lightning run of an
    # rnnlab whose marker did not say so yet, not a loop of the user's own. Beside metrics.jsonl
    # (which a loop may write, as docs/compare.md describes) the Tracker's own file must be there.
    ours = (TRACKED,) if (p / METRICS).exists() else (TRACKED, HEALTH, GRAD_THROUGH_TIME)
    if not (p / SUMMARY).exists() and any((p / f).exists() for f in ours):
        return RECORDED_BY_OWN_LOOP
    return None


def read_marker(path: str | os.PathLike[str], kind: DirKind) -> dict[str, Any] | None:
    """The JSON record of ``kind``'s marker in the directory ``path`` (None: no marker)."""
    p = Path(path) / kind.marker
    if not p.exists():
        return None
    data = read_json(p)
    if not isinstance(data, dict):
        raise RunDirError(f"{p}: expected a JSON object, got {_kind(data)}")
    return data


def discard_run(path: str | os.PathLike[str], lock: DirLock | None = None, *,
                keep: Collection[str] = ()) -> None:
    """Remove the run at ``path`` to start it again (a run cut short before anything worth
    keeping): rnnlab's own files of it (:data:`RUN`'s ``files`` and the temporary files their
    killed writes left), never another file, and the directory itself when nothing else is left.
    Only an rnnlab run, and only while no one else writes it: its lock is taken here, or
    ``lock`` is the caller's, held (then the directory, its marker and lock stay: the caller
    writes the run again there). ``keep``: names (of ``RUN.files``) left in place.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "run"
    >>> with RunDir.for_writing(d, new=True) as run:
    ...     _ = run.config.write_text("x"), (d / "notes.txt").write_text("mine")
    >>> discard_run(d); sorted(e.name for e in d.iterdir())
    ['.rnnlab-lock', '.rnnlab-run', 'notes.txt']
    >>> (d / "notes.txt").unlink(); discard_run(d); d.exists()
    False
    """
    p = Path(path)
    if not p.exists():
        return
    _check_own(p, RUN, "run directory")
    with contextlib.ExitStack() as stack:
        if lock is None or not lock.held:
            stack.enter_context(DirLock(p, RUN.what))
        for own in [*_stale_temporaries(p, RUN), *(p / f for f in RUN.files if f not in keep)]:
            refuse_link(own)  # (claim refused links already; one rule for every remover too)
            own.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # (not empty: a file of the user's stays, and so does the folder)
            (p / CHECKPOINTS).rmdir()
        if lock is None and set(os.listdir(p)) <= {RUN.marker, LOCK_FILE}:
            shutil.rmtree(p)


#: The keys of an epoch's record (metrics.jsonl) that one cut short by the budget holds: the
#: optimizer steps it took, and those of a whole epoch (absent from a whole epoch's record).
PARTIAL_KEYS = ("steps_in_epoch", "steps_per_epoch")


def partial_epoch(record: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(steps it took, steps of a whole epoch)`` of an epoch's record (a line of metrics.jsonl)
    where training ended within that epoch (a stream's exact ``training.steps``:
    :func:`rnnlab.train.trainer.exact_steps`), its training figures a mean over those steps alone; None for a whole
    epoch, and for the records of an rnnlab before these keys.

    >>> partial_epoch({"epoch": 13, "step": 330, "steps_in_epoch": 6, "steps_per_epoch": 27})
    (6, 27)
    >>> partial_epoch({"epoch": 12, "step": 324}) is None
    True
    """
    took, whole = (record.get(k) for k in PARTIAL_KEYS)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (took, whole))
    return (int(took), int(whole)) if numbers and took < whole else None
