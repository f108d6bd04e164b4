"""SIGINT and SIGTERM as a stop: the one handler that turns them into :class:`Interrupted`.

The trainer holds it for its epochs (both signals: it then writes its checkpoint), the CLI for a
whole command (SIGTERM, so that ``kill`` stops a search or recipe the way Ctrl-C does, workers
included, instead of killing the parent and leaving its workers running).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Sequence
from typing import Any

from rnnlab.errors import Interrupted

BOTH = (signal.SIGINT, signal.SIGTERM)


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
        self.restore()
        raise Interrupted.by(signum)

    def restore(self) -> None:
        for sig, before in self.previous.items():
            signal.signal(sig, before)
        self.previous = {}

    def __exit__(self, *exc: object) -> None:
        self.restore()


__all__ = ["BOTH", "StopSignals"]
