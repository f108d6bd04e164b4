"""The compiled step loops of the LSTM (``src/rnnlab/csrc/lstm_steps.cpp``), in every install.

The library registers ``torch.ops.rnnlab.lstm_forward`` and ``lstm_backward_chunk``, and
``lstm_bn_forward`` and ``lstm_bn_backward_chunk`` (recurrent batch norm), and the conv
front-end's max-pool over time (``max_pool_time`` and its backward,
:func:`rnnlab.train.frontend.max_pool_time`). It comes from one of two builds:

* the install's: ``pip install --no-build-isolation`` (and ``make``) compiles it next to the
  installed torch into ``rnnlab/_lib``;
* the first use's: when the install has none (pip's default isolated build has no torch to
  build against) or the one it has does not load (built against another torch), the first
  LSTM that needs the loops compiles them against the running torch with PyTorch's C++
  extension loader, once, into a cache directory keyed by torch version and source
  (:func:`cache_dir`), with a one-line progress message on stderr. Concurrent first uses
  (several search workers) wait for one build.

Without a C++ compiler, one warning names the fix and the same loops run in Python: same
results, slower at small hidden sizes (see ``docs/layers.md``). Nothing is loaded or built at
``import rnnlab``: :func:`available` does it on first call.

>>> isinstance(available(), bool)
True
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from rnnlab._native_flags import KEY_FILE, build_key, compile_flags

_PACKAGE = Path(__file__).resolve().parent.parent
#: where setup.py puts the library: a folder without ``__init__``, since it is no Python module
_LIB = _PACKAGE / "_lib"
_SOURCE = _PACKAGE / "csrc" / "lstm_steps.cpp"
#: the library's file name in a first-use build's cache directory
_CACHED = "lstm_steps.so"

_lock = threading.Lock()
_state: tuple[Path | None, str] | None = None  # (library loaded, why none): set once by available()


def available() -> bool:
    """Whether the compiled step loops are loaded; loads them, building them first if needed,
    on the first call of the process.

    >>> available() == (why_not() == "")
    True
    """
    global _state
    with _lock:
        if _state is None:
            _state = _load()
    return _state[0] is not None


def library() -> Path | None:
    """The library file in use: the install's (in ``rnnlab/_lib``), a first-use build's (in
    :func:`cache_dir`), or None.

    >>> available() == (library() is not None)
    True
    """
    available()
    assert _state is not None
    return _state[0]


def why_not() -> str:
    """Why the compiled step loops are not in use (``""`` when they are).

    >>> isinstance(why_not(), str)
    True
    """
    available()
    assert _state is not None
    return _state[1]


def describe() -> str:
    """Which LSTM step loops this process runs, for ``rnnlab --version`` and the benchmark.

    >>> describe().startswith(("compiled", "Python"))
    True
    """
    lib = library()
    if lib is None:
        return f"Python ({why_not()})"
    return "compiled" if lib.parent == _LIB else f"compiled on first use ({lib})"


def cache_dir() -> Path:
    """The directory of the first-use build: ``$XDG_CACHE_HOME/rnnlab`` (``~/.cache/rnnlab``)
    with one folder per torch version, source and flags.

    >>> torch.__version__ in cache_dir().name
    True
    """
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "rnnlab" / f"lstm_steps-torch{torch.__version__}-{_key()}"


def _key() -> str:
    """The build key of the shipped source with this torch's flags."""
    return build_key(_SOURCE.read_bytes(), *_flags())


def _flags() -> tuple[list[str], list[str]]:
    return compile_flags(sys.platform.startswith("linux") and torch.backends.openmp.is_available())


def _load() -> tuple[Path | None, str]:
    """The install's library when it was built from the shipped source, else the cached
    first-use build, else a new first-use build. (A stale library is never loaded: its ops
    would take the place of the right ones for the rest of the process.)"""
    installed = sorted(_LIB.glob("lstm_steps*.so")) + sorted(_LIB.glob("lstm_steps*.pyd"))
    key_file = _LIB / KEY_FILE
    if installed and key_file.exists() and key_file.read_text().strip() == _key():
        try:
            torch.ops.load_library(str(installed[0]))
            return installed[0], ""
        except OSError:  # built against another torch, or a missing runtime library: build anew
            pass
    return _load_or_build(cache_dir())


def _load_or_build(directory: Path) -> tuple[Path | None, str]:
    """Load ``directory``'s build of the library, building it first when it has none."""
    lib = directory / _CACHED
    if not lib.exists():
        compiler = os.environ.get("CXX", "c++")
        if shutil.which(compiler) is None:
            return _fallback(
                f"no C++ compiler ({compiler!r} not found) to build them against torch "
                f"{torch.__version__}; install one (e.g. `apt-get install g++`) and they build on next use"
            )
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive(directory / "build.lock"):
            if not lib.exists():  # (else another process built it while this one waited)
                failed = _build(directory)  # (which loads it: the same library twice would abort)
                return _fallback(failed) if failed else (lib, "")
    try:
        torch.ops.load_library(str(lib))
    except OSError as e:
        return _fallback(f"{lib} did not load ({e}); delete {directory} to rebuild it")
    return lib, ""


def _build(directory: Path) -> str:
    """Compile the library into ``directory`` (under its lock) and load it; ``""`` or why it failed."""
    from torch.utils import cpp_extension  # (imports setuptools: only when building)

    build = directory / "build"
    build.mkdir(exist_ok=True)
    (build / "lock").unlink(missing_ok=True)  # torch's own baton, left by a build that was killed
    print(f"rnnlab: compiling the LSTM step loops for torch {torch.__version__} (once, into {directory}) ...",
          end=" ", file=sys.stderr, flush=True)
    start = time.perf_counter()
    cflags, ldflags = _flags()
    try:
        path = cpp_extension.load(
            name="lstm_steps", sources=[str(_SOURCE)], extra_cflags=cflags, extra_ldflags=ldflags,
            build_directory=str(build), is_python_module=False, verbose=False,
        )
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        print("failed", file=sys.stderr)
        last = str(e).strip().splitlines()[-1:] or [type(e).__name__]
        return f"their build in {build} failed ({last[0]}); see `ninja -C {build}`"
    # Published under its final name only when complete: a killed build leaves no library behind.
    tmp = directory / f".{_CACHED}.{os.getpid()}"
    shutil.copyfile(str(path), tmp)
    os.replace(tmp, directory / _CACHED)
    print(f"done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return ""


def _fallback(why: str) -> tuple[None, str]:
    warnings.warn(f"rnnlab: the compiled LSTM step loops are not in use: {why}. The same loops run in "
                  "Python: same results, slower at small hidden sizes.", RuntimeWarning, stacklevel=4)
    return None, why


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; the system releases it if the process dies
    (torch's file baton alone would then make every later build wait forever)."""
    try:
        import fcntl
    except ImportError:  # Windows: torch's file baton alone serializes the builds
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
