"""Where a run's wall time goes: the one place that measures it (``RUN_DIR/timing.json``).

The trainer times each phase of a session with :meth:`Timing.phase` (set-up, data, threads,
health check, training, evaluation, checkpoints, gradient through time, the run's end) and the
command that draws the report adds ``report``; ``other`` is the rest of the session's wall time
(logging, the metric records, the findings and summary). A resumed run keeps its earlier sessions' records under
``earlier_sessions``.

Example:
    >>> t = Timing()
    >>> with t.phase("data"):
    ...     pass
    >>> r = t.record()
    >>> sorted(r["seconds"])[:3], r["total"] >= r["seconds"]["data"]
    (['checkpoints', 'data', 'evaluation'], True)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rnnlab.errors import RunDirError
from rnnlab.rundir import RunDir, atomic_write_json

#: The phases of a session, in the order they run.
PHASES = ("set_up", "data", "threads", "health_check", "training", "evaluation", "checkpoints", "fit_budget",
          "grad_through_time", "report")


class Timing:
    """Seconds per phase of one session, from the moment it is created."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.info: dict[str, Any] = {}
        """What the record says besides seconds: threads chosen and why, steps trained."""
        self.earlier: list[Any] = []
        self._open: list[tuple[str, float]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the time spent in the ``with`` block to ``name`` (one of :data:`PHASES`); a phase
        inside another is the inner one's time only (loading the data during set-up is data).

        >>> t = Timing()
        >>> with t.phase("set_up"):
        ...     with t.phase("data"):
        ...         time.sleep(0.02)
        >>> t.seconds["data"] >= 0.02 > t.seconds["set_up"]
        True
        """
        if name not in self.seconds:
            raise ValueError(f"phase: expected one of {', '.join(PHASES)}, got {name!r}")
        now = time.perf_counter()
        if self._open:
            outer, since = self._open[-1]
            self.seconds[outer] += now - since
        self._open.append((name, now))
        try:
            yield
        finally:
            now = time.perf_counter()
            _, since = self._open.pop()
            self.seconds[name] += now - since
            if self._open:
                self._open[-1] = (self._open[-1][0], now)

    def record(self) -> dict[str, Any]:
        """``{"seconds": {phase: s}, "total": s, "other": s, "versions": {...}, ...}`` (and
        :attr:`info`): ``versions`` the rnnlab, torch and Python that the session ran on, since the
        seconds are theirs (:func:`rnnlab.train.checkpoint.versions`)."""
        from rnnlab.train.checkpoint import versions

        now = time.perf_counter()
        total = now - self.started
        running = dict(self.seconds)
        if self._open:  # (a record written inside a phase, a stream's mid-epoch checkpoint: its time so far)
            name, since = self._open[-1]
            running[name] += now - since
        seconds = {k: round(v, 4) for k, v in running.items()}
        return {"seconds": seconds, "total": round(total, 4),
                "other": round(max(total - sum(running.values()), 0.0), 4), "versions": versions(), **self.info}

    def keep_earlier(self, run: RunDir) -> None:
        """A resumed session: keep the records of the sessions before it (read now, before this
        one's record replaces them)."""
        try:
            old = run.read_timing()
        except RunDirError:
            old = None  # a damaged timing record must not stop a resume; it is replaced
        if old is not None:
            self.earlier = [*old.get("earlier_sessions", []),
                            {k: v for k, v in old.items() if k != "earlier_sessions"}]

    def write(self, run: RunDir) -> None:
        """Write ``timing.json`` atomically: this session's record and the earlier sessions'."""
        atomic_write_json(run.timing, {**self.record(), **({"earlier_sessions": self.earlier} if self.earlier else {})})


def seconds_text(seconds: float) -> str:
    """A duration as a progress line's ETA says it: minutes and seconds, or hours and minutes.

    >>> seconds_text(9.4), seconds_text(190), seconds_text(7260)
    ('0m09s', '3m10s', '2h01m')
    """
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
