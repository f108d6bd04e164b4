"""Checkpoints: plain tensors, numbers and strings, written atomically, read with
``torch.load(weights_only=True)``; a corrupt or truncated file is a :class:`CheckpointError`
naming it.

A checkpoint holds what ``--resume`` needs to continue exactly: model, optimizer and schedule
state, every random state (torch, numpy, python ``random``, the batch-order generator), epoch,
step and the early-stopping bookkeeping.

Example:
    >>> import tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "last.pt")
    >>> save_checkpoint(path, {"epoch": 1, "step": 10, "model": {"w": torch.ones(2)}})
    >>> load_checkpoint(path)["model"]["w"]
    tensor([1., 1.])
    >>> _ = open(path, "wb").write(b"garbage")
    >>> load_checkpoint(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.CheckpointError: checkpoint ...last.pt is corrupt or truncated ...
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.errors import CheckpointError
from rnnlab.rundir import atomic_torch_save

FORMAT = "rnnlab.checkpoint"
VERSION = 1
REQUIRED = ("epoch", "step", "model")


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (plus format tag and version) atomically to ``path``."""
    atomic_torch_save({"format": FORMAT, "version": VERSION, **state}, path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError,
            KeyError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {p} is corrupt or truncated and cannot be loaded ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {p} is not an rnnlab checkpoint (no format tag {FORMAT!r})")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {p}: expected format version {VERSION}, got {state.get('version')!r}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {p} lacks {missing}")
    return state


def rng_state(shuffle: torch.Generator) -> dict[str, Any]:
    """Every random state the loop draws from, as tensors and numbers."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any], shuffle: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
