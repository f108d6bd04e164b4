"""The compiler flags of the step loops (``csrc/lstm_steps.cpp``), for both of their builds:
setup.py's at install time and :mod:`rnnlab.layers.native`'s on first use, and the key that
names what a library was built from. This module imports only the standard library, so that
setup.py can load it before rnnlab (or its dependencies) is installed.

>>> cflags, ldflags = compile_flags(openmp=True)
>>> "-fopenmp" in cflags and ldflags == ["-fopenmp"]
True
"""

from __future__ import annotations

import hashlib

#: the file next to an install's library that holds :func:`build_key` of its build
KEY_FILE = "lstm_steps.key"


def compile_flags(openmp: bool) -> tuple[list[str], list[str]]:
    """``(compiler flags, linker flags)``.

    -fno-trapping-math lets the compiler vectorize the clamps of the exp (nothing reads
    floating-point exception flags). The loops run slices of the batch on torch's OpenMP
    threads (ATen's parallel_for, inline in its headers, needs -fopenmp); on Linux torch's
    libgomp is already loaded under the same soname, so the library shares torch's thread pool.
    Without OpenMP the slices run one after the other: same results, one core.
    """
    omp = ["-fopenmp"] if openmp else []
    return ["-O3", "-fno-trapping-math", *omp], omp


def build_key(source: bytes, cflags: list[str], ldflags: list[str]) -> str:
    """What a library is built from (source and flags), as 16 hex digits: a library whose key
    differs from the shipped source's is stale and is not loaded.

    >>> len(build_key(b"int x;", ["-O3"], []))
    16
    """
    return hashlib.sha256(source + repr((cflags, ldflags)).encode()).hexdigest()[:16]
