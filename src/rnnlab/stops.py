"""SIGINT, SIGTERM and SIGHUP as a stop: the one handler that turns them into :class:`Interrupted`.

The trainer holds it for its epochs (every stop: it then writes its checkpoint), the CLI for a
whole command (:data:`ENDING`, so that ``kill`` or a closed terminal stops a search or recipe the
way Ctrl-C does, workers included, instead of killing the parent and leaving its workers running).

SIGHUP is what a process started from a terminal gets when the terminal closes (an ssh connection
that drops, a terminal window closed) unless it runs under ``nohup`` or in tmux. Its output is then
gone: writing to it fails (EIO on the terminal, EPIPE on a pipe whose reader died with it), so the
handler first points each such output at ``os.devnull`` (:func:`drop_gone_outputs`), before the
stop unwinds through code that prints (a progress bar closing, the trainer's line after its
checkpoint, the command's last line): none of those prints can then break the stop off or change
its exit status.

Every handler that stops by raising goes through :func:`raise_stop`: a signal can land while
Python runs a weakref callback or a ``__del__`` (importlib's module locks have one), where a
raised exception is not propagated but printed as "Exception ignored in ..." with a traceback
and dropped, and the process would go on as if never stopped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rnnlab.errors import Interrupted

#: SIGHUP where the platform has it (Windows has none): the terminal closed
HANGUP: tuple[int, ...] = (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
#: the signals that end a whole command as ``kill`` does: SIGTERM, and SIGHUP
ENDING: tuple[int, ...] = (signal.SIGTERM, *HANGUP)
#: every stop the trainer answers with its checkpoint: Ctrl-C and the ending signals
STOPS: tuple[int, ...] = (signal.SIGINT, *ENDING)

#: how long a swallowed stop waits before its signal is sent again: long enough for the
#: callback that swallowed it to have returned
RESEND_AFTER_S = 0.05


class _Held:
    """The stops that :func:`held_stops` keeps for the end of what it holds."""

    depth = 0
    pending: BaseException | None = None


@contextlib.contextmanager
def held_stops() -> Iterator[None]:
    """Run a few statements whole: a stop (:func:`raise_stop`'s) that lands inside is raised as
    they end, not between them. The trainer holds an epoch's record and the checkpoint state that
    goes with it, so that a stop never leaves a recorded epoch without its state to write (the
    checkpoint written at the stop one epoch behind the records). A stop is held only where it
    would be raised: a handler that exits at once still does.

    >>> import os
    >>> with StopSignals((signal.SIGUSR1,)):
    ...     try:
    ...         with held_stops():
    ...             os.kill(os.getpid(), signal.SIGUSR1)
    ...             print("the held statements end")
    ...     except Interrupted:
    ...         print("then the stop")
    the held statements end
    then the stop
    """
    _Held.depth += 1
    try:
        yield
    except BaseException:
        if _Held.depth == 1:  # (the body's own exception goes on; a stop held meanwhile goes with it)
            _Held.pending = None
        raise
    finally:
        _Held.depth -= 1
    if _Held.depth == 0 and _Held.pending is not None:
        stop, _Held.pending = _Held.pending, None
        raise stop


def raise_stop(exc: BaseException, signum: int, rearm: Callable[[], None]) -> None:
    """Raise ``exc`` from the handler of ``signum``, or, inside :func:`held_stops`, keep it for
    the end of what that holds. Where Python swallows it (the signal landed in a weakref callback
    or a ``__del__``), nothing is printed: ``rearm`` puts the handler back as it was before the
    signal, and the signal is sent again a moment later, to be raised where it propagates.

    >>> import os
    >>> def handler(signum, frame):
    ...     raise_stop(KeyboardInterrupt(), signum, lambda: signal.signal(signum, handler))
    >>> before = signal.signal(signal.SIGUSR1, handler)
    >>> try:
    ...     os.kill(os.getpid(), signal.SIGUSR1)
    ... except KeyboardInterrupt:
    ...     print("stopped")
    stopped
    >>> _ = signal.signal(signal.SIGUSR1, before)
    """
    if _Held.depth:
        _Held.pending = _Held.pending or exc
        return
    if sys.unraisablehook is not _resend_swallowed:
        _resend_swallowed.previous = sys.unraisablehook  # type: ignore[attr-defined]
        sys.unraisablehook = _resend_swallowed
    exc.rnnlab_resend = (signum, rearm)  # type: ignore[attr-defined]
    raise exc


def _resend_swallowed(unraisable: Any) -> None:
    resend = getattr(unraisable.exc_value, "rnnlab_resend", None)
    if resend is None:
        _resend_swallowed.previous(unraisable)  # type: ignore[attr-defined]
        return
    signum, rearm = resend
    rearm()
    # (sent from here, the handler could run inside this hook, where its exception is dropped too)
    timer = threading.Timer(RESEND_AFTER_S, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


_resend_swallowed.previous = sys.unraisablehook  # type: ignore[attr-defined]


def to_devnull(fd: int) -> None:
    """Point ``fd`` at ``os.devnull``: what is written to it from now on (Python's buffered rest,
    the interpreter's last flush at exit included) is dropped instead of failing.

    >>> fd = os.dup(1)
    >>> to_devnull(fd)
    >>> os.write(fd, b"dropped"), os.path.samestat(os.fstat(fd), os.stat(os.devnull))
    (7, True)
    >>> os.close(fd)
    """
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def drop_gone_outputs(fds: Sequence[int] = (1, 2)) -> list[int]:
    """Send to ``os.devnull`` those of ``fds`` (stdout, stderr) whose reader is gone: a terminal
    that hung up (its ssh connection dropped) or a pipe whose reader ended; returns them. A live
    terminal, pipe or file is left as it is (a ``kill -HUP`` from elsewhere leaves it readable),
    and so is a closed descriptor. Where ``poll`` is missing (Windows, which has no SIGHUP
    either) nothing is dropped.

    >>> r, w = os.pipe()
    >>> drop_gone_outputs([w])  # its reader is there
    []
    >>> os.close(r)
    >>> drop_gone_outputs([w]) == [w]  # its reader is gone: now os.devnull, writing does not fail
    True
    >>> os.write(w, b"dropped")
    7
    >>> os.close(w)
    """
    if not hasattr(select, "poll"):
        return []
    gone = []
    for fd in fds:
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        # (a hung-up terminal reports POLLERR and POLLHUP, a pipe without reader POLLERR; a closed
        # descriptor POLLNVAL, left alone)
        if any(revents & (select.POLLERR | select.POLLHUP) and not revents & select.POLLNVAL
               for _, revents in poll.poll(0)):
            try:
                to_devnull(fd)
            except OSError:  # (no descriptor left for os.devnull: the stop goes on all the same)
                continue
            gone.append(fd)
    return gone


@contextlib.contextmanager
def ignored(signals: Sequence[int]) -> Iterator[None]:
    """``signals`` ignored inside the block (main thread only, where handlers exist), their
    handlers put back after it. A process started inside inherits the ignoring through ``exec``:
    how a search's or recipe's workers (and multiprocessing's resource tracker) leave Ctrl-C and
    a closed terminal's SIGHUP, which reach the whole process group, to their parent, which then
    stops them with SIGTERM.

    >>> with ignored(HANGUP):
    ...     signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in before.items():
            # (None: a handler set outside Python; SIGINT's is then taken as Python's own)
            signal.signal(sig, handler if handler is not None else
                          signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


class StopSignals:
    """While held, ``signals`` raise :class:`Interrupted` at once; a second signal acts as it did
    before. Only in the main thread of the main process (a worker's signals are its pool's to
    handle), and never over a signal that is ignored.

    >>> import os
    >>> with StopSignals((signal.SIGTERM,)):
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...     except Interrupted as e:
    ...         print(e)
    interrupted by SIGTERM
    """

    def __init__(self, signals: Sequence[int] = STOPS) -> None:
        self.signals = tuple(signals)
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread() and multiprocessing.parent_process() is None:
            for sig in self.signals:
                before = signal.getsignal(sig)
                if before is not signal.SIG_IGN and before is not None:
                    self.previous[sig] = before
                    signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        held = dict(self.previous)
        self.restore()
        # (first: the stop unwinds through prints, the trainer's line after its checkpoint and the
        # command's last line; one to a terminal that closed raised EIO in place of the stop, and
        # the command ended in an error, exit status 1, its timing.json unwritten)
        drop_gone_outputs()

        def rearm() -> None:
            self.previous = held
            for sig in held:
                signal.signal(sig, self._handle)

        raise_stop(Interrupted.by(signum), signum, rearm)

    def restore(self) -> None:
        for sig, before in self.previous.items():
            signal.signal(sig, before)
        self.previous = {}

    def __exit__(self, *exc: object) -> None:
        self.restore()


__all__ = ["ENDING", "HANGUP", "STOPS", "StopSignals", "drop_gone_outputs", "raise_stop", "to_devnull"]
