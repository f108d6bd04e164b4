"""One writer per directory: an exclusive lock on every run, trial, study and recipe directory.

A writer holds ``DIR/.rnnlab-lock`` with ``fcntl.flock`` and writes its pid, host and start time
into it; a second writer is refused in one line that names the pid holding it. The kernel drops
the lock when its process dies, however it dies, so a lock left by a killed process is taken over
by the next writer (the stale record in the file is overwritten). The file stays (deleting a
flock file races with a writer opening it) and is emptied on release, so a directory that nobody
writes reads the same before and after a command that was refused.

A lock belongs to one :class:`DirLock` object, not to a process: a second ``DirLock`` on the same
directory is refused even in the same process (two ``Tracker`` objects on one run), and whoever
must write under a lock it already holds is handed the object (the trainer hands its run to its
tracker). A held ``DirLock`` that is garbage-collected gives its lock back, as :meth:`~DirLock.release`
does: a writer nothing refers to any more (a ``Tracker`` made in a function whose loop raised)
leaves no lock behind that nobody can release, once it is collected (a notebook keeps the last
error's traceback, and with it the writer, until the next error or ``sys.last_traceback = None``).

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with DirLock(d, "run directory") as held:
    ...     DirLock(d, "run directory").acquire()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.lock.DirectoryBusy: run directory '...' is in use by another writer in this process (pid ...); ...
    >>> DirLock(d, "run directory").acquire().release()  # free again
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.errors import RunDirError

LOCK_FILE = ".rnnlab-lock"


class DirectoryBusy(RunDirError):
    """Another process (or another writer in this one) holds the directory's lock."""


class DirLock:
    """The exclusive write lock of ``directory`` (``what`` names it in messages: "run directory",
    "study directory", ...). :meth:`acquire` refuses a held lock at once, or with ``wait`` waits
    for it (telling ``on_wait`` whom it waits for, once)."""

    def __init__(self, directory: str | os.PathLike[str], what: str) -> None:
        self.directory = Path(directory)
        self.what = what
        self.path = self.directory / LOCK_FILE
        self._fd: int | None = None
        self._collected: weakref.finalize | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> DirLock:
        """Take the lock (the directory must exist); returns self."""
        if self._fd is not None:
            return self
        try:
            # O_NOFOLLOW: a planted link named .rnnlab-lock must not make us write elsewhere.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise RunDirError(f"{self.what} {str(self.directory)!r}: cannot create its lock file {LOCK_FILE} "
                              f"({e.strerror or e})") from None
        try:
            self._lock(fd, wait, on_wait)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(_me()).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        # (a finalizer, not __del__: it holds the descriptor, not the object, so nothing is resurrected;
        # not at exit, where the kernel drops the lock with the process and the record is left as it was)
        self._collected = weakref.finalize(self, _let_go, fd, os.getpid())
        self._collected.atexit = False
        return self

    def _lock(self, fd: int, wait: bool, on_wait: Callable[[str], None] | None) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            record = _read_holder(fd)
            holder = _describe(record)
        if not wait and record is not None and record.get("pid") == os.getpid() \
                and record.get("host") == socket.gethostname():
            raise DirectoryBusy(f"{self.what} {str(self.directory)!r} is in use by another writer in this process "
                                f"({holder}); close that one first (e.g. Tracker.close()); one nothing refers to "
                                "but the last error's traceback (a notebook keeps it) is given back once that goes: "
                                "`import sys, gc; sys.last_traceback = sys.last_value = None; gc.collect()`")
        if not wait:
            raise DirectoryBusy(f"{self.what} {str(self.directory)!r} is in use by another rnnlab process "
                                f"({holder}); wait for it to finish, or stop it, or choose another directory")
        if on_wait is not None:
            on_wait(f"waiting for {holder}, which is writing {self.what} {self.directory}")
        fcntl.flock(fd, fcntl.LOCK_EX)

    def release(self) -> None:
        """Give the lock back (emptying the file first); a lock not held is left alone."""
        fd, self._fd = self._fd, None
        if self._collected is not None:
            self._collected.detach()
            self._collected = None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"DirLock({str(self.directory)!r}, held={self.held})"


def _let_go(fd: int, pid: int) -> None:
    """What :meth:`DirLock.release` does, for a held lock whose object was collected."""
    try:
        if os.getpid() == pid:  # (a forked child's copy of the descriptor: the lock is its parent's)
            os.ftruncate(fd, 0)
    except OSError:
        pass
    finally:
        os.close(fd)


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}


def live_holder(directory: str | os.PathLike[str]) -> int | None:
    """The pid that ``directory``'s lock file names, when that process is alive on this host: a
    reader's way to tell a directory being written from one whose writer is gone (a release
    empties the file). None for no lock file, an empty or unreadable one, another host's writer,
    or a dead pid. The lock itself is not probed: taking it, even for an instant, could refuse a
    writer starting then.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with DirLock(d, "run directory"):
    ...     live_holder(d) == os.getpid()
    True
    >>> live_holder(d) is None  # released
    True
    """
    try:
        with open(Path(directory) / LOCK_FILE, "rb") as f:
            record = _read_holder(f.fileno())
    except OSError:
        return None
    pid = (record or {}).get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or \
            (record or {}).get("host", socket.gethostname()) != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # its holder is between taking the lock and writing its record
    return record if isinstance(record, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    """``pid 1234 on host h since 2026-12-04 16:50:02``, or what is known of it."""
    if holder is None or not isinstance(holder.get("pid"), int):
        return "pid unknown"
    text = f"pid {holder['pid']}"
    if isinstance(holder.get("host"), str) and holder["host"] != socket.gethostname():
        text += f" on {holder['host']}"
    if isinstance(holder.get("since"), str):
        text += f", since {holder['since']}"
    return text
