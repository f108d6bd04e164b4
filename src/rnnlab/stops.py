"""SIGINT and SIGTERM as a stop: the one handler that turns them into :class:`Interrupted`.

The trainer holds it for its epochs (both signals: it then writes its checkpoint), the CLI for a
whole command (SIGTERM, so that ``kill`` stops a search or recipe the way Ctrl-C does, workers
included, instead of killing the parent and leaving its workers running).

Every handler that stops by raising goes through :func:`raise_stop`: a signal can land while
Python runs a weakref callback or a ``__del__`` (importlib's module locks have one), where a
raised exception is not propagated but printed as "Exception ignored in ..." with a traceback
and dropped, and the process would go on as if never stopped.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rnnlab.errors import Interrupted

BOTH = (signal.SIGINT, signal.SIGTERM)

#: how long a swallowed stop waits before its signal is sent again: long enough for the
#: callback that swallowed it to have returned
RESEND_AFTER_S = 0.05


def raise_stop(exc: BaseException, signum: int, rearm: Callable[[], None]) -> NoReturn:
    """Raise ``exc`` from the handler of ``signum``. Where Python swallows it (the signal landed
    in a weakref callback or a ``__del__``), nothing is printed: ``rearm`` puts the handler back
    as it was before the signal, and the signal is sent again a moment later, to be raised where
    it propagates.

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

    def __init__(self, signals: Sequence[int] = BOTH) -> None:
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


__all__ = ["BOTH", "StopSignals", "raise_stop"]
