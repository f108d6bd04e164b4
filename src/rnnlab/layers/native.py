"""The compiled step loops (``src/rnnlab/csrc``), when the install built them.

``pip install --no-build-isolation`` compiles ``csrc/lstm_steps.cpp`` against the installed
torch when a C++ compiler is present (``make`` always does); the library registers
``torch.ops.rnnlab.*``. pip's default isolated build has no torch and skips it.
Without it rnnlab runs the same loops in Python: same results, slower at small hidden sizes
(see ``docs/layers.md``). :data:`NATIVE` says which one this install has.

>>> isinstance(NATIVE, bool)
True
"""

from __future__ import annotations

from pathlib import Path

import torch

#: where setup.py puts the library: a folder without ``__init__``, since it is no Python module
_LIB = Path(__file__).resolve().parent.parent / "_lib"


def _load() -> tuple[bool, str]:
    """Load the compiled library; ``(loaded, why not)``."""
    found = sorted(_LIB.glob("lstm_steps*.so")) + sorted(_LIB.glob("lstm_steps*.pyd"))
    if not found:
        return False, (f"no compiled library in {_LIB}: `pip install --no-build-isolation rnnlab` next to an "
                       "installed torch builds it, given a C++ compiler")
    try:
        torch.ops.load_library(str(found[0]))
    except OSError as e:  # built against another torch, or a missing runtime library
        return False, f"{found[0].name} did not load: {e}"
    return True, ""


#: whether the compiled step loops are in use
NATIVE, WHY_NOT = _load()
