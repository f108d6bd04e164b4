"""Where a study lives: a journal file in the study directory, or a database shared by machines.

- No URL: Optuna's ``JournalStorage`` with its file backend, ``DIR/journal.log`` (Optuna's FAQ
  advises against SQLite for parallel workers; the journal file takes a lock per write). A
  worker records its host, pid and process start time on each trial, and
  :func:`fail_dead_local_trials` marks the RUNNING trials of dead local workers as failed when
  a search starts again (or while it waits for other workers). The journal is checked on every
  open (:func:`check_journal`): a last line cut by a kill or a full disk is truncated by a
  search (a copy of the file kept beside it), since Optuna would append after it and make the
  whole study unreadable; any other damaged line is an error naming the file and the line.
  Appends take Optuna's lock, a symbolic link ``journal.log.lock`` (:class:`JournalLock`): one
  left by a killed rnnlab worker is taken over at once (a lock its holder held on
  ``journal.log.lock.holder`` is gone with it), any other once it has stayed unchanged for 30 s.
- ``postgresql://user@host:port/db``: Optuna's ``RDBStorage`` with a heartbeat every
  ``heartbeat`` seconds (``search.heartbeat``); a worker killed with SIGKILL stops beating, and
  after twice that its trial is failed (``failed_because`` says so) and retried once with the
  same parameters. A worker that loses the database cannot record what stopped its trial: it
  leaves a note in the trial directory (:func:`note_stop`), and the next search records the
  trial as stopped by the storage outage, at once (:func:`recover_noted_stops`).

A study remembers the config it was started with (:func:`open_study`): the same ``--study``
with another config is an error naming the keys that differ, and nothing of the study changes.

Example:
    >>> import tempfile
    >>> storage = open_storage(None, tempfile.mkdtemp())
    >>> type(storage).__name__
    'JournalStorage'
    >>> open_storage("ftp://nowhere/db", ".")
    Traceback (most recent call last):
    ...
    rnnlab.errors.StorageError: --storage: expected a postgresql://USER@HOST:PORT/DB URL (or none: a journal file in the study directory), got 'ftp://nowhere/db'
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState

from rnnlab.config import Config, dump_config, parse_config
from rnnlab.errors import SearchError, StorageError
from rnnlab.redact import mask
from rnnlab.rundir import atomic_write_bytes, error_chain

JOURNAL = "journal.log"
#: The study's user attribute holding :func:`study_key`, what a continued study's config must match.
STUDY_KEY_ATTR = "rnnlab_study_key"
#: Where a study recorded before :data:`STUDY_KEY_ATTR` keeps the same key (no header): still read.
CONFIG_ATTR = "rnnlab_config"
#: The first lines of :func:`study_key`: what the text is, for someone reading it from their own Optuna code.
STUDY_KEY_HEADER = (
    "# rnnlab search: the config a continued study must match, normalized for that comparison: search.trials,\n"
    "# search.keep_checkpoints, search.heartbeat, search.reports, training.threads, training.checkpoint_every and\n"
    "# output.dir change no trial's result and are set to fixed values here, not the ones given. The config the\n"
    "# latest command gave is search.toml in the study directory; each trial's own is its user attribute \"config\".\n")
HOST = socket.gethostname()


def open_storage(url: str | None, study_dir: str | os.PathLike[str], heartbeat: int = 10,
                 repair: Callable[[str], None] | None = None) -> BaseStorage:
    """The journal file ``study_dir/journal.log`` (``url`` None) or the database at ``url``
    (with a heartbeat every ``heartbeat`` seconds). The journal is checked first
    (:func:`check_journal`; with ``repair``, a cut last line is truncated and ``repair`` told)."""
    if url is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(study_dir) / JOURNAL
        path.parent.mkdir(parents=True, exist_ok=True)
        check_journal(path, repair)
        lock = JournalLock(path)  # (the journal by its absolute path: the link must point at it from anywhere)
        return JournalStorage(JournalFileBackend(lock.journal, lock_obj=lock))
    if not re.match(r"^postgres(ql)?(\+psycopg2)?://", url):
        raise StorageError(mask(f"--storage: expected a postgresql://USER@HOST:PORT/DB URL (or none: a journal "
                                f"file in the study directory), got {url!r}"))
    if url.split("?", 1)[0].count("@") > 1:
        # libpq and SQLAlchemy end the user information at the first "@": the rest of the
        # password would be taken for the host (and printed in the driver's message).
        raise StorageError(mask(f"--storage {url}: more than one '@' before the host; write an '@' in the "
                                "user name or password as %40"))
    rest = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" not in authority and "@" in rest and "=" not in rest.split("@", 1)[0]:  # ("?sslcert=a@b": a query)
        # A '/', '?' or '#' in the password ends the host part early: what follows would be read as
        # the port and the database, and printed (the password is then no password to mask).
        raise StorageError(mask(f"--storage {url}: a '/', '?' or '#' before the '@' (in the user name or password) "
                                "ends the host part there; write them as %2F, %3F and %23"))
    # (SQLAlchemy's own word for a bad port is Python's int() error, naming neither the option nor the port)
    host_port = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    if host_port.count("[") != host_port.count("]") or ("[" in host_port and not host_port.startswith("[")):
        raise StorageError(mask(f"--storage {url}: the host {host_port.split('@')[-1]!r} opens an IPv6 address with "
                                "'[' without closing it (or has brackets elsewhere); expected [ADDRESS]:PORT, e.g. "
                                "postgresql://USER@[::1]:5432/DB"))
    port = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::(.*))?", host_port)
    if port is not None and port.group(2) is not None and "," not in host_port and not (
            port.group(2).isascii() and port.group(2).isdigit() and 0 < int(port.group(2)) < 65536):
        raise StorageError(mask(f"--storage {url}: the port {port.group(2)!r} is not a port number (1 to 65535; "
                                "PostgreSQL's is 5432, the default when the URL gives none)"))
    try:
        import psycopg2  # noqa: F401  (the driver SQLAlchemy uses for postgresql://)
    except ImportError:
        raise StorageError("--storage postgresql://...: the PostgreSQL driver is not installed; "
                           "pip install 'rnnlab[postgres]' (psycopg2-binary)") from None
    import sqlalchemy.exc
    from optuna.storages import RDBStorage

    # SQLAlchemy 2.1 maps a plain postgresql:// to psycopg 3; the postgres extra brings psycopg2.
    driver_url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(driver_url, engine_kwargs={"connect_args": {"connect_timeout": 5}},
                              heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                              heartbeat_stale_trial_callback=_RetryStale(max_retry=DIED_RETRIES))
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StorageError(mask(f"--storage {url}: cannot open the database: {first}")) from None


def recorded_url(recorded: str | None, where: str | os.PathLike[str]) -> str | None:
    """The URL that opens the study a study directory ``where`` records in ``recorded`` (its
    study.json: the password masked, or None for the journal file): as it is without a password;
    with one, the URL without it when PGPASSWORD is set (libpq, under psycopg2, reads the
    password from it), else an error saying how to give it.

    >>> recorded_url("postgresql://ann@db:5432/s", "s")
    'postgresql://ann@db:5432/s'
    >>> os.environ["PGPASSWORD"] = "secret"
    >>> recorded_url("postgresql://ann:***@db:5432/s", "s")
    'postgresql://ann@db:5432/s'
    >>> del os.environ["PGPASSWORD"]
    """
    if recorded is None or "***" not in recorded:
        return recorded
    bare = re.sub(r"^([a-z0-9+]+://[^:@/?#]*):\*\*\*@", r"\1@", recorded)
    if os.environ.get("PGPASSWORD") and "***" not in bare:
        return bare
    raise StorageError(f"{where}: the study is in a database with a password ({recorded}); pass --storage URL "
                       "(with the password) or set PGPASSWORD")


def unreachable(error: BaseException, url: str | None) -> StorageError | None:
    """The one-line error for ``error`` when it is the database at ``url`` (None: the journal
    file, never) failing to answer: the server down, restarted or out of reach, seen anywhere in
    the exceptions ``error`` was raised from or while handling (Optuna wraps it in a
    ``StorageInternalError``, and its bookkeeping after a failed write raises another); None for
    anything else. The URL's password is masked.

    >>> unreachable(ValueError("bad"), "postgresql://ann:pw@db/s") is None
    True
    """
    reason = _outage_reason(error, url)
    if reason is None:
        return None
    return StorageError(mask(f"the study's database ({url}) cannot be reached ({reason}); what is "
                             "recorded is kept: rerun the same command to continue"))


def outage_words(error: BaseException, url: str | None, who: str | None = None) -> str | None:
    """What stopped a trial whose worker (or ``who``: the search that stopped it) lost the
    database at ``url`` (:func:`unreachable`), for :data:`STOPPED_BY_ATTR`; None when ``error`` is
    no such outage.

    >>> outage_words(ValueError("bad"), "postgresql://ann@db/s") is None
    True
    """
    reason = _outage_reason(error, url)
    if reason is None:
        return None
    who = who or f"worker pid {os.getpid()} on {HOST}"
    words = f"a storage outage: {who} lost the study's database ({reason})"
    # (masked beside the URL: mask() finds a password in a URL, then hides it wherever else it appears)
    return mask(f"{url}\n{words}").split("\n", 1)[1]


def _outage_reason(error: BaseException, url: str | None) -> str | None:
    """The driver's reason, in a few words, when ``error`` is the database failing to answer."""
    import sqlalchemy.exc

    for e in error_chain(error) if url is not None else ():
        if isinstance(e, sqlalchemy.exc.OperationalError):
            orig = e.orig
            # SQLSTATE class 08 (connection exception), 57 (operator intervention: the server
            # shutting down), or none (libpq's own: refused, closed): not a refused statement
            code = str(getattr(orig, "pgcode", None) or "")
            if not code or code.startswith(("08", "57")):
                first = (str(orig or e).strip().splitlines() or ["no answer"])[0]
                reason = first.rsplit(" failed: ", 1)[-1].strip()
                return reason[:1].lower() + reason[1:]
    return None


class JournalLock(JournalFileSymlinkLock):
    """The journal's lock: Optuna's symbolic link ``journal.log.lock`` (what its file backend and
    every rnnlab process append under), pointing at the journal by its absolute path.

    A holder that died while it appended leaves the link behind. An rnnlab holder also holds an
    ``fcntl.flock`` on ``journal.log.lock.holder`` and writes there which link it holds (its inode
    and time): the kernel drops that lock when its process dies, however it dies, so a waiter that
    finds the link unchanged for :data:`HOLDER_SETTLE` seconds, the holder file free and naming
    this very link, takes the link over at once. Any other link (Optuna's own processes, an
    earlier rnnlab, a file system without ``flock``) is taken over once it has stayed the same for
    ``grace_period`` seconds, as Optuna does; so is a live holder's, as Optuna's would be.

    Optuna's own wait reads the time of the file the link points at, and retries at once, without
    a pause, when it points nowhere: a link to a relative path (resolved from inside the study
    directory, as a search given a relative ``--out`` wrote it) was waited on for ever, on a
    whole core. This one reads the link itself, so a link that points nowhere (written so, or
    left before the study directory moved) is taken over after the grace period too; not at
    once, since a live worker's can point nowhere as well (on another machine that mounts the
    directory elsewhere, or of an earlier rnnlab).

    >>> import tempfile
    >>> lock = JournalLock(Path(tempfile.mkdtemp()) / "journal.log", grace_period=3)
    >>> lock.acquire()
    True
    >>> lock.release()
    """

    def __init__(self, journal: str | os.PathLike[str], grace_period: int | None = 30) -> None:
        self.journal = os.path.abspath(journal)
        self.link = f"{self.journal}.lock"  # (Optuna's name: what its release() removes)
        self.holder = f"{self.link}.holder"
        self._held: int | None = None  # the holder file's descriptor while this object holds the link
        super().__init__(self.journal, grace_period)

    def acquire(self) -> bool:
        """Take the lock, waiting while another process holds it (not at all once its holder is
        known dead, else at most the grace period once the link no longer changes); True."""
        pause = 0.001
        seen: tuple[int, int] | None = None
        since = time.monotonic()
        while True:
            try:
                os.symlink(self.journal, self.link)
            except FileExistsError:
                pass
            else:
                self._hold()
                return True
            try:
                st = os.lstat(self.link)  # the link's own inode and time, wherever it points
            except FileNotFoundError:
                continue  # released meanwhile: take it now
            if (st.st_ino, st.st_mtime_ns) != seen:  # another holder since: its own grace period
                seen, since = (st.st_ino, st.st_mtime_ns), time.monotonic()
            else:
                waited = time.monotonic() - since
                if waited > HOLDER_SETTLE and self._take_over_from_dead(seen):
                    return True
                if self.grace_period is not None and waited > self.grace_period:
                    with suppress(RuntimeError):  # (another waiter took it over first)
                        super().release()
                    pause = 0.001
                    continue
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def release(self) -> None:
        """Give the lock back: the link first, then the holder file's lock (a waiter that finds
        that file free while the link is still there must not take this link for a dead one's).
        The holder file is emptied first, as :class:`rnnlab.lock.DirLock` empties its own: a study
        directory reads the same before and after a command that appended nothing."""
        try:
            super().release()
        finally:
            if self._held is not None:
                with suppress(OSError):
                    os.ftruncate(self._held, 0)
                os.close(self._held)  # (closing drops the flock)
                self._held = None

    def _hold(self) -> None:
        """Take the holder file's lock and name this link in it. A waiter checking for a dead
        holder has it for microseconds; a live holder whose link was taken over after the grace
        period may keep it: then this holder goes without a record (the grace period again)."""
        st = os.lstat(self.link)
        try:
            fd = os.open(self.holder, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # (a directory that takes no new file: waiters fall back on the grace period)
        for pause in (0.0, 0.001, 0.01, 0.1):
            time.sleep(pause)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{st.st_ino} {st.st_mtime_ns}\n".encode(), 0)
            except BlockingIOError:
                continue
            except OSError:  # (no flock on this file system, or a full disk)
                break
            self._held = fd
            return
        os.close(fd)

    def _take_over_from_dead(self, link: tuple[int, int] | None) -> bool:
        """Take ``link`` (inode, time) over if the holder file names it and nobody holds that
        file's lock (the rnnlab process that took the link died without releasing it); True if
        this object now holds the lock. All of it under the holder file's exclusive lock, so that
        two waiters do not both take the same dead link over."""
        try:
            fd = os.open(self.holder, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (refused while its holder lives)
            st = os.lstat(self.link)
            named = os.pread(fd, 64, 0).split()
            if link is not None and (st.st_ino, st.st_mtime_ns) == link == tuple(int(n) for n in named[:2]):
                super().release()
                os.symlink(self.journal, self.link)
                self._held, fd = fd, -1
                st = os.lstat(self.link)
                os.ftruncate(self._held, 0)
                os.pwrite(self._held, f"{st.st_ino} {st.st_mtime_ns}\n".encode(), 0)
        except (OSError, RuntimeError, ValueError):  # held, gone meanwhile, taken by a new holder, no flock here
            pass
        finally:
            if fd >= 0:
                os.close(fd)
        return self._held is not None


#: seconds a journal lock's link must stay unchanged before a waiter asks whether its holder died
#: (an append holds it for milliseconds; a live holder writes its holder record microseconds after
#: taking the link)
HOLDER_SETTLE = 2.0


def check_journal(path: Path, repair: Callable[[str], None] | None = None) -> None:
    """Refuse a journal that Optuna could not replay, naming the file and line: a line that is
    not JSON, not an object, or an operation Optuna does not know. A last line without its
    newline is a write cut by a kill or a full disk: Optuna skips it, but its next append would
    glue onto it and make every later read fail; with ``repair`` it is truncated (the original
    kept as ``journal.log.cut-TIME``) and ``repair`` gets one line saying so, under Optuna's own
    journal lock (so that no worker's append is in flight). Without ``repair`` nothing is written
    (a study directory may be read-only to its readers) and a cut last line is left as it is.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "journal.log"
    >>> _ = p.write_text('{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\\n{"op_co')
    >>> said = []
    >>> check_journal(p, repair=said.append)
    >>> print(said[0][len(str(p)) + 2:])  # doctest: +ELLIPSIS
    its last line was cut off (a write interrupted by a kill or a full disk); removed it, the original is kept as journal.log.cut-...
    >>> _ = p.write_text('{"op_code": 42}\\n')
    >>> check_journal(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.StorageError: .../journal.log line 1: unknown operation (op_code 42; Optuna's journal has 0..10); ...
    """
    if not path.exists():
        return
    if repair is None:
        data = path.read_bytes()
        _check_journal_lines(path, data[:data.rfind(b"\n") + 1])
        return
    lock = JournalLock(path)  # the lock the journal is appended under
    held = Path(lock.link)
    if held.is_symlink():  # (a worker appending now, or one killed while it did)
        nowhere = ("; this one points nowhere, as one left by an earlier rnnlab given a relative --out does, "
                   "but so may a live worker's on another machine" if not held.exists() else "")
        repair(f"{path}.lock: waiting for the worker appending to the journal (a killed rnnlab worker's lock is "
               f"taken over after {HOLDER_SETTLE:g} s, any other once unchanged for {lock.grace_period} s{nowhere})")
    lock.acquire()
    try:
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            backup = path.with_name(f"{path.name}.cut-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            atomic_write_bytes(backup, data)
            os.truncate(path, end)
            repair(f"{path}: its last line was cut off (a write interrupted by a kill or a full disk); removed it, "
                   f"the original is kept as {backup.name}")
    finally:
        lock.release()
    _check_journal_lines(path, data[:end])


def _check_journal_lines(path: Path, data: bytes) -> None:
    for n, raw in enumerate(data.split(b"\n")[:-1], start=1):
        problem = _journal_line_problem(raw)
        if problem:
            raise StorageError(f"{path} line {n}: {problem}; the study's journal is damaged there (rnnlab repairs only "
                               "a cut last line): restore the file from a backup")


def _journal_line_problem(raw: bytes) -> str | None:
    from optuna.storages.journal._storage import JournalOperation

    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return f"not valid UTF-8 (byte {e.start})"
    except json.JSONDecodeError as e:
        return f"not valid JSON ({e.msg} at column {e.colno})"
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    op = record.get("op_code")
    known = [int(o) for o in JournalOperation]
    if isinstance(op, bool) or not isinstance(op, int) or op not in known:
        return f"unknown operation (op_code {op!r}; Optuna's journal has {min(known)}..{max(known)})"
    return None


def study_key(config: Config) -> str:
    """What must match for a study to be continued: the config without what does not change a
    trial's result (the trial budget, which checkpoints are kept and how often, which reports are
    drawn, the heartbeat, torch threads, the output directory): ``--trials`` may grow a study,
    ``--out`` may move it. Its first lines (:data:`STUDY_KEY_HEADER`) say so, as the study's
    user attribute :data:`STUDY_KEY_ATTR` shows it.

    >>> from rnnlab.config import parse_config
    >>> key = study_key(parse_config('[data]\\ndataset = "UnitTest"\\n[search]\\ntrials = 9'))
    >>> key.startswith(STUDY_KEY_HEADER), "trials = 1" in key
    (True, True)
    """
    search = (config.search.model_copy(update={"trials": 1, "keep_checkpoints": 0, "heartbeat": 1,
                                                "reports": "best"})
              if config.search is not None else None)
    return STUDY_KEY_HEADER + dump_config(config.model_copy(update={
        "search": search, "output": config.output.model_copy(update={"dir": "."}),
        "training": config.training.model_copy(update={"threads": None, "checkpoint_every": 60.0})}))


def _key_body(key: str) -> str:
    return key.removeprefix(STUDY_KEY_HEADER)


def open_study(storage: BaseStorage, name: str, config: Config, sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner, direction: str) -> optuna.Study:
    """Create the study ``name`` or load it; a study started with another config is an error."""
    import sqlalchemy.exc

    key = study_key(config)
    try:
        study = _load_or_create(storage, name, sampler, pruner, direction)
        stored = study.user_attrs.get(STUDY_KEY_ATTR)
        if stored is None:
            stored = study.user_attrs.get(CONFIG_ATTR)  # (a study recorded before the key had its own name)
        if stored is None:
            study.set_user_attr(STUDY_KEY_ATTR, key)
            return study
    except sqlalchemy.exc.SQLAlchemyError as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise StorageError(mask(f"study {name!r}: the database refused: {first}")) from None
    if _key_body(stored) != _key_body(key):  # (the old attribute's text has no header)
        from rnnlab.config import config_changes

        diff = list(config_changes(parse_config(stored, source=f"study {name!r}", recorded=True), parse_config(key)))
        raise SearchError(
            f"study {name!r} was started with another config (it differs in {', '.join(diff) or 'its text'}); "
            "continue it with that config, or start a new study with another --study (or --out)"
        )
    if study.direction.name.lower() != direction:
        raise SearchError(f"study {name!r}: expected direction {direction}, the study has "
                          f"{study.direction.name.lower()}")
    return study


def _load_or_create(storage: BaseStorage, name: str, sampler: optuna.samplers.BaseSampler,
                    pruner: optuna.pruners.BasePruner, direction: str) -> optuna.Study:
    # Loading first writes nothing to an existing study (a journal would record a failed create).
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        pass
    try:
        return optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                   direction=direction)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (tells a live worker from a reused pid); None
    when there is no such process, or it has exited and waits to be reaped (a zombie keeps its
    /proc entry and start time until its parent reaps it, so it would pass for alive)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


#: user attribute of the trial that is the config itself (``search.baseline``)
BASELINE_ATTR = "baseline"
#: user attribute of a trial failed because its worker was stopped (Ctrl-C, a kill) or crashed
#: (:func:`lose_trial`), not by anything of its config: a baseline trial so failed is run again
#: (see ``baseline_needed``)
INTERRUPTED_ATTR = "interrupted"


def baseline_needed(trials: list[FrozenTrial]) -> bool:
    """Whether the config itself must be (re)queued: the study is new, or every trial that was
    the config was interrupted (Ctrl-C, a killed worker) before it finished.

    >>> baseline_needed([])
    True
    """
    base = [t for t in trials if t.user_attrs.get(BASELINE_ATTR)]
    if not trials:
        return True
    return bool(base) and all(t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR) for t in base)


def worker_attrs() -> dict[str, Any]:
    """Host, pid and process start time, recorded on every trial a worker runs."""
    return {"host": HOST, "pid": os.getpid(), "pid_start": _start_time(os.getpid())}


def process_identity(pid: int | None = None) -> tuple[int, str | None]:
    """``(pid, start time)`` of a process (default: this one): what :func:`process_alive` checks."""
    pid = os.getpid() if pid is None else pid
    return pid, _start_time(pid)


def process_alive(pid: int, start: str | None) -> bool:
    """Whether the process ``pid`` that started at ``start`` (:func:`process_identity`) still
    runs: the same start time (a reused pid has another; an exited one waiting to be reaped has
    none), or without one (no /proc) whether ``pid`` exists."""
    if start is not None:
        return _start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(trial: FrozenTrial) -> bool:
    pid = trial.user_attrs.get("pid")
    if pid is None:
        return True  # not yet tagged: its worker is starting it right now
    return process_alive(int(pid), trial.user_attrs.get("pid_start"))


def worker_gone(trial: FrozenTrial) -> bool:
    """A RUNNING trial whose worker ran on this host and is no longer alive (killed, crashed):
    nothing will finish it. Trials of other hosts cannot be told from here (False)."""
    return (trial.state == TrialState.RUNNING and trial.user_attrs.get("host") == HOST
            and not _alive(trial))


#: user attribute: why a trial failed, in one line (``rnnlab study`` and the trial's line say it)
FAILED_ATTR = "failed_because"
#: user attribute of a trial whose drawn values the config refused before any training (the
#: ConfigError, one line): stored as PRUNED, so that the sampler avoids them; shown as ``refused``
REFUSED_ATTR = "refused_because"
#: user attribute of an interrupted trial (:func:`~rnnlab.search.storage.interrupted`) that says what
#: stopped it where that is not the search's Ctrl-C, SIGTERM or SIGHUP (:func:`stop_words`)
STOPPED_BY_ATTR = "stopped_by"


def stop_words(trial: FrozenTrial) -> str:
    """What stopped an interrupted ``trial``, for its line: what its worker recorded
    (:data:`STOPPED_BY_ATTR`), else the search's own stop.

    >>> import optuna
    >>> from optuna.trial import TrialState
    >>> stop_words(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted"}))
    'Ctrl-C, SIGTERM or SIGHUP'
    """
    return str(trial.user_attrs.get(STOPPED_BY_ATTR) or "Ctrl-C, SIGTERM or SIGHUP")


#: ``failed_because`` of a trial that Ctrl-C, SIGTERM or SIGHUP stopped (its worker records it and queues
#: the trial again); a trial lost to a worker that died says so instead, and stays a failure
STOPPED_REASON = "interrupted"
#: user attribute: the number of the earlier complete trial whose parameters a trial drew again
#: (it takes that trial's score and fold scores; nothing is trained)
SAME_AS_ATTR = "same_params_as"
#: user attribute: under early stopping, the epoch of the model each (seed, fold) run kept, whose
#: score counts (``epochs`` holds where each run ended)
KEPT_EPOCHS_ATTR = "kept_epochs"
#: user attribute of a trial ended before it drew anything because the trials created before it
#: already make up ``--trials`` (two workers counted at once; see ``rnnlab.search.study._objective``):
#: stored as FAIL, shown and counted nowhere, neither done nor failed
SURPLUS_ATTR = "surplus"


def interrupted(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was stopped by Ctrl-C, SIGTERM or SIGHUP, or by what :data:`STOPPED_BY_ATTR`
    names (the search stopping its workers, a storage outage), and queued again. Optuna has no state
    for it: Optuna records a trial that a KeyboardInterrupt ends as FAIL, and rnnlab adds
    ``failed_because = "interrupted"`` and ``interrupted = true``; every count and line shows it
    as interrupted, never as failed (:func:`trial_state`).

    >>> stopped = optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
    ...                                                                  "interrupted": True})
    >>> died = optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "worker pid 7 on h died",
    ...                                                               "interrupted": True})
    >>> interrupted(stopped), interrupted(died)
    (True, False)
    """
    return (trial.state == TrialState.FAIL and trial.user_attrs.get(FAILED_ATTR) == STOPPED_REASON
            and bool(trial.user_attrs.get(INTERRUPTED_ATTR)))


def surplus(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was one too many (``surplus``, :data:`SURPLUS_ATTR`): ended untrained, no
    failure and no finished trial.

    >>> surplus(optuna.create_trial(state=TrialState.FAIL, user_attrs={"surplus": True}))
    True
    """
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(SURPLUS_ATTR))


def trial_state(trial: FrozenTrial) -> str:
    """The state a person is shown: Optuna's (``complete``, ``pruned``, ``fail``, ``running``,
    ``waiting``), ``interrupted`` for a trial stopped by Ctrl-C, SIGTERM or SIGHUP (stored as FAIL,
    :func:`interrupted`), or ``surplus`` for a trial one too many (stored as FAIL, :func:`surplus`;
    the lines and reports leave it out).

    >>> trial_state(optuna.create_trial(value=0.5))
    'complete'
    """
    return "interrupted" if interrupted(trial) else "surplus" if surplus(trial) else trial.state.name.lower()


def state_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    """How many ``trials`` are in each :func:`trial_state` (every state a key, 0 included):
    ``fail`` counts the failures only, ``interrupted`` the trials stopped by Ctrl-C, SIGTERM or SIGHUP,
    ``surplus`` the trials one too many (:func:`surplus`).

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
    ...                                                                    "interrupted": True}))
    >>> c = state_counts(s.get_trials())
    >>> c["fail"], c["interrupted"]
    (0, 1)
    """
    states = [trial_state(t) for t in trials]
    return {name: states.count(name) for name in [s.name.lower() for s in TrialState] + ["interrupted", "surplus"]}


def fail_dead_local_trials(study: optuna.Study, storage: BaseStorage) -> list[int]:
    """Mark RUNNING trials of dead workers on this host as failed, each queued again once with its
    parameters (:func:`retry_trial`: the config itself gets its score, and the retry resumes the
    runs' checkpoints); returns their numbers."""
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if worker_gone(t):
            try:
                lose_trial(study, storage, t, f"worker pid {t.user_attrs['pid']} on {HOST} died", fail=True)
                failed.append(t.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another process marked it first (and queued its retry)
    return failed


def crash_reason(error: BaseException) -> str:
    """Why a trial crashed, in one line: the error's type and the first line of its message
    (a database URL's password masked).

    >>> crash_reason(RuntimeError("CUDA error: out of memory\\nCUDA kernel errors might be reported later"))
    'RuntimeError: CUDA error: out of memory'
    >>> crash_reason(MemoryError())
    'MemoryError'
    """
    lines = str(error).strip().splitlines()
    return mask(f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__)


#: how often a trial lost to a dead worker is queued again (a trial that kills its worker, out
#: of memory say, is not retried for ever); the database's heartbeat retries alike
DIED_RETRIES = 1


def lose_trial(study: optuna.Study, storage: BaseStorage, trial: FrozenTrial, reason: str, *, fail: bool,
               max_retry: int | None = DIED_RETRIES) -> bool:
    """Record ``trial`` as lost to something not of its config (its worker died; the command
    crashed with an error that is no :class:`~rnnlab.errors.RnnlabError`; the disk refused a
    write): ``failed_because = reason``, ``interrupted = true`` (a config-itself trial so lost is
    queued again, :func:`baseline_needed`), failed now with ``fail`` (a dead worker's; the
    crashing worker's own trial is failed by Optuna as the error leaves it), and queued again
    with its parameters (:func:`retry_trial`: once, :data:`DIED_RETRIES`; ``max_retry`` None for
    a refused write, which is the disk's doing and counts as no death). Returns whether it was
    queued.

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(state=TrialState.RUNNING, params={"x": 1.0},
    ...     distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    >>> lose_trial(s, s._storage, s.get_trials()[0], "RuntimeError: boom", fail=True)
    True
    >>> [(t.state.name, t.user_attrs.get("failed_because")) for t in s.get_trials()]
    [('FAIL', 'RuntimeError: boom'), ('WAITING', None)]
    """
    # (the mark first: a write refused because another process marked it raises before the retry)
    storage.set_trial_user_attr(trial._trial_id, FAILED_ATTR, reason)
    storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
    if fail:
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    return retry_trial(study, trial, max_retry=max_retry)


def stop_trial(study: optuna.Study, storage: BaseStorage, trial: FrozenTrial, by: str | None, *,
               fail: bool) -> bool:
    """Record ``trial`` as interrupted (:func:`interrupted`: no failure of its own): by ``by``
    (:data:`STOPPED_BY_ATTR`, what :func:`stop_words` says; None: the search's Ctrl-C, SIGTERM or
    SIGHUP), failed now with ``fail`` (a trial whose worker is gone; a worker's own trial is
    failed by Optuna as the stop leaves it), and queued again with its parameters
    (:func:`retry_trial`: always, no death counted). Returns whether it was queued.

    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(state=TrialState.RUNNING, params={"x": 1.0},
    ...     distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    >>> stop_trial(s, s._storage, s.get_trials()[0], "a storage outage", fail=True)
    True
    >>> stop_words(s.get_trials()[0]), s.get_trials()[1].state.name
    ('a storage outage', 'WAITING')
    """
    # (the mark first: a write refused because another process marked it raises before the retry)
    storage.set_trial_user_attr(trial._trial_id, FAILED_ATTR, STOPPED_REASON)
    storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, True)
    if by is not None:
        storage.set_trial_user_attr(trial._trial_id, STOPPED_BY_ATTR, by)
    if fail:
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    return retry_trial(study, trial)


#: A trial directory's note of what stopped its trial where the storage took no record of it
#: (its worker lost the database: :func:`note_stop`); the next search records it
#: (:func:`recover_noted_stops`) and removes the note.
STOP_NOTE = "unrecorded-stop.json"


def note_stop(trial_dir: str | os.PathLike[str], trial_id: int, by: str) -> None:
    """Leave in ``trial_dir`` what stopped trial ``trial_id`` (``by``) when the storage cannot
    take the record now: the worker exits, and the next search on this study directory records
    the trial as interrupted by it (:func:`recover_noted_stops`) instead of as a dead worker's.
    A note the disk refuses is left out (the trial is then recorded as its worker's death).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> note_stop(d / "0003", 7, "a storage outage")
    >>> json.loads((d / "0003" / STOP_NOTE).read_text())
    {'trial_id': 7, 'stopped_by': 'a storage outage'}
    """
    from rnnlab.rundir import atomic_write_json

    with suppress(OSError):
        Path(trial_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_json(Path(trial_dir) / STOP_NOTE, {"trial_id": int(trial_id), "stopped_by": str(by)})


def recover_noted_stops(study: optuna.Study, storage: BaseStorage, out: str | os.PathLike[str]) -> list[int]:
    """Record the RUNNING trials whose worker left a note in the study directory ``out``
    (:func:`note_stop`) as interrupted by what it says, each failed and queued again at once
    (:func:`stop_trial`; its worker has exited, so there is no heartbeat to wait out); returns
    their numbers. Only running trials are looked up: a note beside a trial recorded meanwhile
    names nothing to record, and stays.

    >>> import tempfile
    >>> s = optuna.create_study()
    >>> recover_noted_stops(s, s._storage, tempfile.mkdtemp())
    []
    """
    stopped = []
    trials = Path(out) / "trials"
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if trials.is_dir() else ():
        note = trials / f"{t.number:04d}" / STOP_NOTE
        try:
            said = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(said, dict) or said.get("trial_id") != t._trial_id:
            continue  # (another trial of that number: a database's numbers may repeat)
        with suppress(optuna.exceptions.UpdateFinishedTrialError):  # (another process recorded it first)
            stop_trial(study, storage, t, str(said.get("stopped_by") or "") or None, fail=True)
            stopped.append(t.number)
        with suppress(OSError):
            note.unlink()
            note.parent.rmdir()  # (only when empty: a trial stopped before its runs started)
    return stopped


#: system attribute (Optuna's, as its ``RetryHeartbeatStaleTrialCallback`` writes it): the
#: numbers of the trials a retry continues, oldest first
RETRY_HISTORY = "retry_history"
#: system attribute (rnnlab's): the numbers of the trials along a chain of retries whose worker
#: died, oldest first; what :data:`DIED_RETRIES` counts (an interrupted trial in the chain was
#: the user's stop, and uses up no retry)
DIED_HISTORY = "rnnlab_died"


def retry_trial(study: optuna.Study, trial: FrozenTrial, max_retry: int | None = None) -> bool:
    """Queue ``trial`` (failed: interrupted, or lost to a dead worker or a crash) again with its parameters, as
    Optuna's ``RetryHeartbeatStaleTrialCallback`` does (its ``failed_trial`` and ``retry_history``
    system attributes); returns whether it was queued. ``max_retry`` is given for a trial whose
    worker died or crashed: the trials of its chain of retries that did (:data:`DIED_HISTORY`, this one
    included) may number at most ``max_retry``; None for an interrupted trial, which is always
    queued and counts as no death. Of the user attributes only the baseline mark is
    copied: why the trial failed, and its worker's pid (a dead pid on a retry that a worker has
    just started would have it failed as dead), are not the retry's. A trial with no parameters
    (stopped before it sampled them) is not queued: a new trial is the same.

    >>> s = optuna.create_study()
    >>> t = optuna.create_trial(state=TrialState.FAIL, params={"x": 1.0},
    ...     distributions={"x": optuna.distributions.FloatDistribution(0, 2)}, user_attrs={"pid": 1})
    >>> s.add_trial(t)
    >>> retry_trial(s, s.get_trials()[0]), s.get_trials()[1].state.name, s.get_trials()[1].params
    (True, 'WAITING', {'x': 1.0})
    >>> retry_trial(s, s.get_trials()[0], max_retry=1), retry_trial(s, s.get_trials()[2], max_retry=1)
    (True, False)
    """
    history = [*trial.system_attrs.get(RETRY_HISTORY, []), trial.number]
    died = [*trial.system_attrs.get(DIED_HISTORY, []), *([trial.number] if max_retry is not None else [])]
    if max_retry is not None and len(died) > max_retry:
        return False
    if not retriable(trial):
        return False
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={k: v for k, v in trial.user_attrs.items() if k == BASELINE_ATTR},
        system_attrs={**trial.system_attrs, "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
                      RETRY_HISTORY: history, DIED_HISTORY: died}))
    return True


def retriable(trial: FrozenTrial) -> bool:
    """Whether :func:`retry_trial` can queue ``trial`` again: it has parameters (drawn, or fixed
    by a queued trial); a trial stopped before it drew any is the same as a new one.

    >>> retriable(optuna.create_trial(state=TrialState.FAIL))
    False
    """
    return bool(trial.params) or "fixed_params" in trial.system_attrs


def fail_stale(study: optuna.Study, storage: BaseStorage, out: str | os.PathLike[str] | None = None) -> list[int]:
    """Fail the trials of dead workers: by heartbeat (database) or by pid (journal file), each
    with its ``failed_because``; first, with the study directory ``out``, those whose worker
    noted what stopped them (:func:`recover_noted_stops`: a storage outage), whose numbers it
    returns (a search says them: nothing else tells its user of them)."""
    from optuna.storages import RDBStorage

    recovered = recover_noted_stops(study, storage, out) if out is not None else []
    if isinstance(storage, RDBStorage):
        _say_why_stale(study, storage)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    else:
        fail_dead_local_trials(study, storage)
    return recovered


def heartbeat_grace(storage: BaseStorage) -> int | None:
    """The seconds without a heartbeat after which the database fails a trial (None: the
    journal file, which has no heartbeat).

    >>> heartbeat_grace(optuna.storages.InMemoryStorage()) is None
    True
    """
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage) or storage.heartbeat_interval is None:
        return None
    return int(storage.grace_period or 2 * storage.heartbeat_interval)


def gone_before_stale(study: optuna.Study, storage: BaseStorage) -> list[FrozenTrial]:
    """The RUNNING trials in a database whose worker ran on this host and no longer runs
    (:func:`worker_gone`), not yet failed: the database fails them only once their heartbeat has
    gone stale (:func:`heartbeat_grace` after the last one), and a search waits for that. None
    in a journal file, whose dead workers' trials are failed at once.

    >>> gone_before_stale(optuna.create_study(), optuna.storages.InMemoryStorage())
    []
    """
    if heartbeat_grace(storage) is None:
        return []
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if worker_gone(t)]


def _say_why_stale(study: optuna.Study, storage: Any) -> None:
    """Record why each stale trial is about to be failed: Optuna's ``fail_stale_trials`` sets the
    state only, and a failed trial takes no attribute any more (so this comes first, on the
    trials it will find stale: Optuna's own query, private in Optuna 5; rnnlab declares
    optuna < 6)."""
    grace = heartbeat_grace(storage)
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        attrs = storage.get_trial(trial_id).user_attrs
        worker = f"worker pid {attrs['pid']} on {attrs.get('host', '?')}" if "pid" in attrs else "its worker"
        try:
            storage.set_trial_user_attr(trial_id, FAILED_ATTR, f"{worker} died: no heartbeat for {grace} s")
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first (and said why)


class _RetryStale:
    """The database's heartbeat callback: a stale trial queued again once (:func:`retry_trial`)."""

    def __init__(self, max_retry: int) -> None:
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        # (one recorded as stopped meanwhile, by another process's recover_noted_stops: no death)
        retry_trial(study, trial, None if interrupted(trial) else self.max_retry)
