"""How many torch threads a run uses, and why: the one thread policy of rnnlab.

A machine that runs something else (a browser, a second experiment, a search's other worker)
is the usual case, not the exception. Two things make torch collapse there:

* **Spin-waiting.** torch's CPU build runs its parallel regions on GNU OpenMP (libgomp), whose
  threads spin at the end of every region waiting for the others; with one core taken by another
  process, a small recurrent step waits for a time slice at every one of its hundreds of regions
  (measured on 2 cores next to one busy process: an ``nn.LSTM`` forward+backward took 280 ms on
  2 spinning threads, 19 ms on 2 passive ones, 30 ms on one). :func:`default_passive_wait`, run
  by ``import rnnlab`` before torch loads, sets ``OMP_WAIT_POLICY=PASSIVE`` unless the
  environment chose a policy: libgomp reads it once, when it starts, so it only counts before
  torch is imported.

  Whether PASSIVE is also right on a quiet machine (issue 23): rnnlab's own compiled loops do not
  depend on it, since each opens one OpenMP region per call (the batch in slices), and recurrent
  batch norm's slices meet at a barrier of the library's own (spin 50 µs, then a futex), not at
  OpenMP's; what remains is torch's own parallel regions (the matmuls of ``nn.LSTM`` and of the
  Python loops). torch's wheel ships GNU libgomp (``torch/lib/libgomp.so.1``), which honours
  ``GOMP_SPINCOUNT`` (a bounded spin; ``KMP_BLOCKTIME`` is Intel's runtime's and is ignored), so
  a user on a machine of their own can set ``OMP_WAIT_POLICY=ACTIVE`` or ``GOMP_SPINCOUNT``
  before the process starts and rnnlab keeps it. The default stays PASSIVE: on the 2-core
  machine shared with other processes where it was measured (load 6-8), ``nn.LSTM``'s forward
  and backward at B=64, T=100, H=128 on 2 threads took 2417 ms with ACTIVE against 324 ms with
  PASSIVE (two runs one after the other), the collapse this policy exists to prevent; a quiet-machine comparison of the two is
  ``benchmarks/bench_layers.py``'s second table (docs/benchmarks.md).
* **Counting cores the process may not use.** :func:`available_cpus` takes the CPUs of the
  process's affinity mask and the cgroup's CPU quota (a container limited to 2 CPUs on a
  64-core host), not ``os.cpu_count()``.

:func:`choose_threads` is the decision: ``training.threads`` when the config sets it (it
overrides the environment, and the reason says so); else the available CPUs divided among the
processes that share them (``--workers``), at most the thread count the environment gave torch
(:func:`thread_limit`: ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS``, or a Python caller's
``torch.set_num_threads``); one thread when only
one CPU is left, or when the OpenMP runtime spins (torch was imported before rnnlab without
``OMP_WAIT_POLICY=PASSIVE``). With more than one candidate, :func:`probe` times 1 and N threads
on a few forward and backward passes of a copy of the model (the run's own state is untouched)
and keeps the faster; a short run keeps one thread, which a busy machine cannot slow down. The
trainer records the choice and its reason in ``timing.json`` and in each checkpoint, and a
resumed run reuses it (the thread count may change the last bits of a sum). A measurement that
compared thread counts is written to ``timing.json`` as soon as it is made, and a new run that
fails after it keeps it there, as it keeps its health check's records (:func:`measured_in`).

Example:
    >>> choose_threads(3, cpus=(8, "affinity"), limit=None).describe()
    '3 threads (training.threads)'
    >>> choose_threads(3, cpus=(2, "affinity"), limit=None).describe()
    '3 threads (training.threads; 3 is more than the 2 CPUs the process may use (affinity))'
    >>> choose_threads(None, cpus=(2, "affinity"), share=2, policy="passive", limit=None).describe()
    '1 thread (2 CPUs the process may use (affinity), shared by 2 processes)'
    >>> choose_threads(None, cpus=(8, "affinity"), limit=(1, "OMP_NUM_THREADS=1")).describe()
    '1 thread (OMP_NUM_THREADS=1)'
    >>> choose_threads(4, cpus=(8, "affinity"), limit=(1, "OMP_NUM_THREADS=1")).describe()
    '4 threads (training.threads, which overrides OMP_NUM_THREADS=1)'
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: The environment variable libgomp reads (once, when torch loads it).
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
#: Below this estimated training time a run keeps one thread without measuring N: the probe
#: would cost more than it could save.
PROBE_MIN_SECONDS = 20.0
#: N threads are kept only when at least this much faster than one (one thread is the choice
#: a busy machine cannot slow down).
PROBE_MARGIN = 0.9


def default_passive_wait() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for the OpenMP runtime torch loads, unless the
    environment already names a policy or torch is already loaded (then it is too late)."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")


def wait_policy() -> str:
    """``"passive"`` or ``"active"``: how the OpenMP runtime's idle threads wait, as far as the
    environment tells (libgomp's default, without the variable, spins).

    >>> wait_policy() in ("passive", "active")
    True
    """
    return "passive" if os.environ.get(WAIT_POLICY_ENV, "").strip().upper() == "PASSIVE" else "active"


def cgroup_cpu_limit(root: str | os.PathLike[str] = "/sys/fs/cgroup") -> float | None:
    """The CPUs a cgroup quota allows (``cpu.max`` of cgroup v2, or v1's
    ``cpu.cfs_quota_us / cpu.cfs_period_us``); None without a quota.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "cpu.max").write_text("150000 100000\\n")
    >>> cgroup_cpu_limit(d)
    1.5
    >>> _ = (d / "cpu.max").write_text("max 100000\\n"); cgroup_cpu_limit(d) is None
    True
    """
    base = Path(root)
    try:
        text = (base / "cpu.max").read_text().split()
        if len(text) == 2 and text[0] != "max":
            return float(text[0]) / float(text[1])
        if text:
            return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = float((base / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((base / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus() -> tuple[int, str]:
    """(CPUs this process may run on, where the number comes from): its affinity mask
    (``os.sched_getaffinity``, else ``os.cpu_count()``), capped by a cgroup CPU quota.

    >>> n, source = available_cpus()
    >>> n >= 1, source.split(",")[0] in ("affinity", "cpu_count")
    (True, True)
    """
    try:
        n, source = len(os.sched_getaffinity(0)), "affinity"
    except (AttributeError, OSError):  # not Linux
        n, source = os.cpu_count() or 1, "cpu_count"
    quota = cgroup_cpu_limit()
    if quota is not None and math.ceil(quota) < n:
        n, source = max(1, math.ceil(quota)), f"{source}, cgroup quota {quota:g}"
    return max(n, 1), source


#: The variables torch reads, when it first runs in parallel, for its intra-op thread count: the
#: later one wins when both are valid (ATen's ``intraop_default_num_threads``).
THREAD_COUNT_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def env_thread_count(environ: Any = None) -> tuple[int, str] | None:
    """(threads, the variable that says it) from :data:`THREAD_COUNT_ENV` as torch reads them
    (a leading whole number, as ``std::stoi``: libgomp's nested list ``"4,2"`` is 4; empty,
    not a number or under 1 is ignored, as torch ignores it); None when neither gives one.

    >>> env_thread_count({"OMP_NUM_THREADS": "1"})
    (1, 'OMP_NUM_THREADS=1')
    >>> env_thread_count({"OMP_NUM_THREADS": "4,2", "MKL_NUM_THREADS": "x"})
    (4, 'OMP_NUM_THREADS=4,2')
    >>> env_thread_count({}) is None
    True
    """
    env = os.environ if environ is None else environ
    found = None
    for name in THREAD_COUNT_ENV:
        text = env.get(name)
        if text is None:
            continue
        digits = text.strip()
        sign = digits[:1] if digits[:1] in "+-" else ""
        number = digits[len(sign):]
        number = number[:len(number) - len(number.lstrip("0123456789"))]
        if number and int(sign + number) > 0:
            found = (int(sign + number), f"{name}={text.strip()}")
    return found


def thread_limit() -> tuple[int, str] | None:
    """(the most threads rnnlab's automatic choice may use, why): the thread count torch was given
    from outside rnnlab, an upper bound that ``training.threads`` alone overrides. That is
    ``torch.get_num_threads()`` once torch is loaded, named after what set it: the variables of
    :func:`env_thread_count`, which torch starts from, or a Python caller's
    ``torch.set_num_threads`` (a count other than theirs); without either, torch's own default
    (its physical cores) bounds only when below the CPUs the process may use. None when nothing
    bounds the choice. rnnlab's runs set the count back when they end, so it is never their own.

    >>> limit = thread_limit()
    >>> limit is None or (limit[0] >= 1 and isinstance(limit[1], str))
    True
    """
    env = env_thread_count()
    torch = sys.modules.get("torch")
    if torch is None:
        return env
    current = int(torch.get_num_threads())
    if env is not None and current == env[0]:
        return env
    if env is not None or current < available_cpus()[0]:
        return current, f"torch.get_num_threads() = {current}"
    return None


@dataclass(frozen=True)
class ThreadChoice:
    """The threads a run uses, the candidates left to measure, and why."""

    threads: int
    why: str
    candidates: tuple[int, ...] = ()
    """More than one: :func:`probe` decides between them (``threads`` is the fallback)."""
    measured: tuple[tuple[int, float], ...] = ()
    """(threads, seconds of a step) that :func:`probe` compared: what a failed new run keeps of its
    set-up in ``timing.json`` (empty when nothing was compared, or only one thread timed)."""

    def describe(self) -> str:
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.why})"

    def to_dict(self) -> dict[str, Any]:
        """The record of ``timing.json`` and of :func:`measured_in`.

        >>> ThreadChoice(2, "x", measured=((1, 0.02), (2, 0.01))).to_dict()["measured"]
        {'1': 0.02, '2': 0.01}
        """
        return {"threads": self.threads, "why": self.why, "wait_policy": wait_policy(),
                **({"measured": {str(n): round(s, 6) for n, s in self.measured}} if self.measured else {})}


def measured_in(timing: dict[str, Any] | None) -> bool:
    """Whether a ``timing.json`` record (:meth:`rnnlab.rundir.RunDir.read_timing`) holds a thread
    measurement that compared thread counts (:attr:`ThreadChoice.measured`).

    >>> measured_in({"threads": ThreadChoice(2, "x", measured=((1, 0.02), (2, 0.01))).to_dict()})
    True
    >>> measured_in({"threads": ThreadChoice(1, "OMP_NUM_THREADS=1").to_dict()}), measured_in(None)
    (False, False)
    """
    threads = (timing or {}).get("threads")
    return isinstance(threads, dict) and bool(threads.get("measured"))


def choose_threads(requested: int | None, *, cpus: tuple[int, str] | None = None, share: int = 1,
                   policy: str | None = None,
                   limit: tuple[int, str] | None | Literal["environment"] = "environment") -> ThreadChoice:
    """The thread policy (see the module docstring): ``requested`` is ``training.threads``;
    ``share`` the processes that split the CPUs (``--workers``); ``cpus``, ``policy`` and
    ``limit`` (the most threads the environment allows, None for no bound) default to
    :func:`available_cpus`, :func:`wait_policy` and :func:`thread_limit`.

    >>> choose_threads(None, cpus=(4, "affinity"), policy="passive", limit=None).candidates
    (1, 4)
    >>> choose_threads(None, cpus=(4, "affinity"), policy="passive", limit=(2, "OMP_NUM_THREADS=2")).describe()
    '1 thread (OMP_NUM_THREADS=2, of 4 CPUs the process may use (affinity))'
    >>> choose_threads(None, cpus=(4, "affinity"), policy="active", limit=None).describe()
    '1 thread (the OpenMP runtime spin-waits (OMP_WAIT_POLICY is not PASSIVE): more threads collapse on a shared machine)'
    """
    n, source = cpus if cpus is not None else available_cpus()
    bound = thread_limit() if limit == "environment" else limit
    if requested is not None:
        over = oversubscribed(requested, share, (n, source)) is not None
        times = f" x {share} processes" if share > 1 else ""
        # the config is the user's word for this run: it wins, and the line says over what
        overrides = f", which overrides {bound[1]}" if bound is not None and bound[0] != requested else ""
        return ThreadChoice(requested, "training.threads" + overrides + (
            f"; {requested}{times} is more than the {n} CPU{'s' if n > 1 else ''} the process may use ({source})"
            if over else ""))
    per = max(1, n // max(share, 1))
    shared = f", shared by {share} processes" if share > 1 else ""
    cpus_why = f"{n} CPU{'s' if n > 1 else ''} the process may use ({source}){shared}"
    if bound is not None and bound[0] < per:
        per = bound[0]
        if per == 1:
            return ThreadChoice(1, bound[1])
        cpus_why = f"{bound[1]}, of {cpus_why}"
    if per == 1:
        return ThreadChoice(1, cpus_why)
    if (policy or wait_policy()) != "passive":
        return ThreadChoice(1, f"the OpenMP runtime spin-waits ({WAIT_POLICY_ENV} is not PASSIVE): more threads "
                               "collapse on a shared machine")
    return ThreadChoice(1, cpus_why, candidates=(1, per))


def oversubscribed(requested: int | None, workers: int = 1, cpus: tuple[int, str] | None = None) -> str | None:
    """The one-line warning when ``training.threads`` (``requested``), times the ``workers``
    processes that each use it (a search's or recipe's ``--workers``), is more than the CPUs the
    process may use (``cpus``, default :func:`available_cpus`); None when it is not, or unset.
    Threads beyond the cores wait for one another at every parallel region: 1000 threads on 2
    CPUs trained 35 steps in 240 s where one thread trained 207 in 5 s.

    >>> oversubscribed(1000, cpus=(2, "affinity"))
    'training.threads = 1000 is more than the 2 CPUs this process may use (affinity): the threads wait for the cores at every step; set it to 2 or fewer, or leave it unset (rnnlab chooses)'
    >>> oversubscribed(2, workers=3, cpus=(4, "affinity"))[:75]
    'training.threads = 2 with --workers 3 is 6 threads on the 4 CPUs this proce'
    >>> oversubscribed(1, workers=3, cpus=(2, "affinity")) is None  # (the workers share cores: workers_share_cores)
    True
    """
    if requested is None:
        return None
    n, source = cpus if cpus is not None else available_cpus()
    workers = max(workers, 1)
    most = max(1, n // workers)
    if requested <= most:
        return None
    what = (f"training.threads = {requested} is more than" if workers == 1 else
            f"training.threads = {requested} with --workers {workers} is {requested * workers} threads on")
    return (f"{what} the {n} CPU{'s' if n > 1 else ''} this process may use ({source}): the threads wait for the "
            f"cores at every step; set it to {most if most == 1 else f'{most} or fewer'}"
            + (f" ({n} CPU{'s' if n > 1 else ''} / {workers} workers)" if workers > 1 else "")
            + ", or leave it unset (rnnlab chooses)")


def warn_oversubscribed(requested: int | None, workers: int = 1, stacklevel: int = 2) -> None:
    """Warn (one line, :func:`oversubscribed`) before a command starts training, when
    ``training.threads`` times ``workers`` is more than the CPUs the process may use
    (``stacklevel``: as :func:`warnings.warn`'s; 2, the default, names the line that called this).

    >>> warn_oversubscribed(None)  # unset: rnnlab chooses, nothing to warn about
    """
    message = oversubscribed(requested, workers)
    if message is not None:
        warnings.warn(message, stacklevel=stacklevel)


def workers_share_cores(workers: int, cpus: tuple[int, str] | None = None) -> str | None:
    """The note of a search or recipe whose ``--workers`` are more than the CPUs the process may
    use (``cpus``, default :func:`available_cpus`); None when each has one.

    >>> workers_share_cores(3, cpus=(2, "affinity"))
    'note: --workers 3 on 2 cores: the workers share them'
    >>> workers_share_cores(2, cpus=(2, "affinity")) is None
    True
    """
    n = (cpus if cpus is not None else available_cpus())[0]
    if workers <= n:
        return None
    return f"note: --workers {workers} on {n} core{'s' if n > 1 else ''}: the workers share {'them' if n > 1 else 'it'}"


def probe(choice: ThreadChoice, step: Callable[[], Any], total_steps: int, repeats: int = 2, *,
          scale: float = 1.0, on: str = "") -> ThreadChoice:
    """Time ``step`` (one forward and backward pass on a copy of the model) on each of
    ``choice.candidates`` and keep the fastest; ``total_steps`` (the run's) decides whether the
    measurement pays: a run estimated under :data:`PROBE_MIN_SECONDS` on one thread keeps one.
    The torch thread count is left at what the choice says.

    ``step`` may be shorter than a training step (the first ``tracking.inspect_steps`` of long
    series): ``scale`` is how many of it one training step costs (a recurrent step's time grows
    with its length), and ``on`` says in words what it ran on, for the reason's text.

    >>> probe(ThreadChoice(1, "x", candidates=(1, 2)), lambda: None, total_steps=10).threads
    1
    >>> probe(ThreadChoice(1, "x", candidates=(1, 2)), lambda: None, total_steps=10,
    ...       on="the first 4096 of the 20000 steps of each series: tracking.inspect_steps").why[:56]
    'x; a short run (~0 s on one thread, estimated from a ste'
    """
    import torch

    if len(choice.candidates) < 2:
        torch.set_num_threads(choice.threads)
        return choice
    seconds: dict[int, float] = {}
    torch.set_num_threads(1)
    step()  # warm-up: allocations, the first call of every kernel
    seconds[1] = _time(step)
    estimate = seconds[1] * scale * total_steps
    if estimate < PROBE_MIN_SECONDS:
        return ThreadChoice(1, f"{choice.why}; a short run (~{estimate:.0f} s on one thread"
                               + (f", estimated from a step on {on}" if on else "") + ") keeps one")
    for _ in range(repeats):
        for n in choice.candidates:
            torch.set_num_threads(n)
            if n not in seconds:
                step()  # warm-up of this thread count
                seconds[n] = math.inf
            seconds[n] = min(seconds[n], _time(step))
    best = min(choice.candidates, key=lambda n: seconds[n])
    if best != 1 and seconds[best] > PROBE_MARGIN * seconds[1]:
        best = 1
    measured = ", ".join(f"{n}: {seconds[n] * 1000:.1f} ms" for n in choice.candidates)
    torch.set_num_threads(best)
    return ThreadChoice(best, f"{choice.why}; measured a step on {measured}" + (f", on {on}" if on else ""),
                        measured=tuple((n, seconds[n]) for n in choice.candidates))


def _time(step: Callable[[], Any]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start
