"""The memory policy of a training process: freed memory is kept for the next step, and the
cyclic garbage collector's full collections are rare (:func:`rare_full_collections`).

A CPU training step allocates and frees the same few dozen activation tensors every step (the
template's front-end alone makes ``[16, 64, 427]`` float tensors of 1.7 MB). glibc's default
heap hands the top of the heap back to the kernel whenever more than its trim threshold is free
there (a threshold that grows only with the largest block freed so far), so each step asks the
kernel again for pages it just returned, and each of those pages costs a page fault and a
zero fill on first touch: about 750 faults per template step on OSULeaf and 6 000 per
evaluation of its 160 training series, ~5 % of a step's CPU time and ~40 % of an evaluation's
(docs/benchmarks.md, issue 23). :func:`keep_freed_memory` sets glibc's ``mallopt`` so that
blocks up to :data:`HEAP_BLOCK_MB` come from the heap and up to :data:`KEEP_FREE_MB` of free
memory stay mapped at its top: the step's tensors reuse the same pages. Nothing computed
changes (where a tensor lives is not what it holds).

The setting is the process's (glibc has one heap policy per process) and stays after training
returns: a process that trained keeps up to :data:`KEEP_FREE_MB` of freed memory mapped, as a
process that allocated that much keeps it under glibc's defaults once its threshold has grown.
Elsewhere than on glibc (macOS, Windows, musl) nothing is changed and the call says so.

Example:
    >>> keep_freed_memory().describe()  # on glibc
    'glibc: blocks up to 32 MB from the heap, up to 256 MB of free memory kept'
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: Free memory (MB) that may stay mapped at the top of the heap: above a training step's working
#: set (the template's is ~40 MB, an evaluation batch of 256 series ~150 MB).
KEEP_FREE_MB = 256
#: Blocks up to this size (MB) come from the heap rather than from a mapping of their own, which
#: is unmapped when freed; 32 MB is the most glibc accepts on 64-bit systems.
HEAP_BLOCK_MB = 32
# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
# what each step may grow the heap by beyond what it asks for, so that growth is in large steps
_TOP_PAD_MB = 64


@dataclass(frozen=True)
class HeapPolicy:
    """Whether :func:`keep_freed_memory` changed the heap policy (False: not glibc)."""

    kept: bool

    def describe(self) -> str:
        """One line for ``timing.json``.

        >>> HeapPolicy(False).describe()
        'system default (not glibc)'
        """
        if not self.kept:
            return "system default (not glibc)"
        return f"glibc: blocks up to {HEAP_BLOCK_MB} MB from the heap, up to {KEEP_FREE_MB} MB of free memory kept"


def keep_freed_memory() -> HeapPolicy:
    """Keep freed memory mapped for the next step (glibc's ``mallopt``; see the module's
    docstring); the :class:`HeapPolicy` says whether it did. Calling it again changes nothing.

    >>> keep_freed_memory().kept == (_glibc() is not None)
    True
    """
    libc = _glibc()
    if libc is None:
        return HeapPolicy(False)
    mb = 1 << 20
    ok = all(libc.mallopt(param, value * mb) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, HEAP_BLOCK_MB), (_M_TRIM_THRESHOLD, KEEP_FREE_MB), (_M_TOP_PAD, _TOP_PAD_MB)))
    return HeapPolicy(ok)


def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (the one whose ``mallopt`` this module sets)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version  # glibc's own: absent from musl
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    return libc


#: How many collections of the middle generation the cyclic collector waits between full
#: collections while a command or a training run runs (CPython's default: 10). A full collection walks every object
#: of the process; torch's imports (its compiler's, which the optimizer loads), matplotlib's and a
#: report's figures add hundreds of thousands that live to the end, and at the default a tiny
#: run walked them six times for nothing to free: about a fifth of its time besides training
#: (issue 28). The young generations, where a training step's garbage is, are collected as before.
FULL_COLLECTION_EVERY = 100


@contextmanager
def rare_full_collections() -> Iterator[None]:
    """Full collections at most every :data:`FULL_COLLECTION_EVERY` collections of the middle
    generation inside the block; the collector's thresholds as they were after it.

    >>> before = gc.get_threshold()
    >>> with rare_full_collections():
    ...     gc.get_threshold()[2] >= FULL_COLLECTION_EVERY
    True
    >>> gc.get_threshold() == before
    True
    """
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], max(before[2], FULL_COLLECTION_EVERY))
    try:
        yield
    finally:
        gc.set_threshold(*before)
