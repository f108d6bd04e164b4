"""Checkpoints: plain tensors, numbers and strings, written atomically, read with
``torch.load(weights_only=True)``, verified by a SHA-256 checksum of their content and by the
structure of what they hold; anything else is a :class:`CheckpointError` naming the file.

On disk a checkpoint is a small wrapper ``{"format", "version", "sha256", "payload"}`` whose
``payload`` is the ``torch.save`` bytes of the state (a uint8 tensor) and ``sha256`` their digest:
a flipped byte anywhere in the weights changes the digest, so a damaged file is refused instead
of loading weights of 1e38. Both layers are read with ``weights_only=True``.

A checkpoint holds what ``--resume`` needs to continue exactly: model, optimizer and schedule
state, every random state (torch, numpy, python ``random``, the batch-order generator, and every
CUDA device's generator when the process has used CUDA), epoch, step and the early-stopping
bookkeeping, the tracker's pending update ratio (``tracker``: the weights before the update of a
gradient step, whose ratio the next step records); within a stream's epoch also the rows' carried state and the window reached
(``stream``; a checkpoint after an epoch has none), and the rnnlab, torch and Python that wrote it
(``versions``: :func:`versions`; absent in a checkpoint of an older rnnlab). A checkpoint without CUDA states (written on
the CPU, or before they were saved) still loads; resumed on CUDA, the GPUs' generators then keep
their seeded state.

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

import hashlib
import io
import os
import pickle
import platform
import random
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnnlab.errors import CheckpointError, library_reason
from rnnlab.rundir import BEST_CHECKPOINT, LAST_CHECKPOINT, atomic_torch_save

if TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.task import Task
    from rnnlab.train.run_fit import RunFit

FORMAT = "rnnlab.checkpoint"
VERSION = 2
REQUIRED = ("epoch", "step", "model")
#: What ``--resume`` reads besides :data:`REQUIRED`.
RESUME = ("optimizer", "rng", "early_stopping", "stopped_early", "config", "data_sha256")
_WRAPPER = {"format", "version", "sha256", "payload"}
#: The state's (and a later format's wrapper's) record of what wrote the checkpoint (:func:`versions`).
VERSIONS = "versions"
#: Which rnnlab reads each older format this one cannot (the format changed with the commit named).
_READ_BY = {1: "rnnlab 0.1.0 from before the checksummed checkpoints (commit 0e4ddf0, 2026-12-01)"}


class CheckpointVersionError(CheckpointError):
    """A checkpoint of another format version than this rnnlab reads: intact, for another rnnlab
    to read (never a reason to remove it)."""


def versions() -> dict[str, str]:
    """The rnnlab, torch and Python of this process: what each checkpoint, summary.json and
    resumes.jsonl line records of what wrote it.

    >>> sorted(versions())
    ['python', 'rnnlab', 'torch']
    """
    import rnnlab

    # (plain strings: torch.__version__ is a str subclass that weights_only loading refuses)
    return {"rnnlab": str(rnnlab.__version__), "torch": str(torch.__version__), "python": platform.python_version()}
#: The identity of the run that wrote a checkpoint (:meth:`rnnlab.rundir.RunDir.run_id`; absent in
#: a checkpoint of a run without one, or of an older rnnlab): ``--resume`` refuses another run's.
RUN_ID = "run"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` atomically to ``path``, wrapped with format tag, version and checksum; the
    state records what wrote it (:func:`versions`)."""
    buf = io.BytesIO()
    torch.save({**state, VERSIONS: versions()}, buf)
    payload = buf.getvalue()
    atomic_torch_save({"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(payload).hexdigest(),
                       "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8)}, path)


def _torch_load(source: Path | io.BytesIO, p: Path) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError,
            KeyError, AttributeError, TypeError, IndexError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {p} is corrupt or truncated and cannot be loaded "
                              f"({library_reason(e)}){_best_beside(p)}") from None


def _best_beside(p: Path) -> str:
    """For a damaged ``last.pt``: that the run's ``best.pt`` beside it is intact, when it is (its
    weights are not lost, whatever read last.pt), else ""."""
    best = p.with_name(BEST_CHECKPOINT)
    if p.name != LAST_CHECKPOINT or not best.is_file():
        return ""
    try:
        epoch = load_checkpoint(best)["epoch"]
    except CheckpointError:
        return ""
    return f"; {BEST_CHECKPOINT} beside it (epoch {epoch}, the best by validation) is intact"


def _other_version(p: Path, wrapper: dict[str, Any]) -> str:
    """What to say of a checkpoint of another format version: which rnnlab wrote a newer one (where
    it says) and to upgrade; which rnnlab reads an older one. Never to remove it: it is intact."""
    version = wrapper.get("version")
    if not (isinstance(version, int) and not isinstance(version, bool)):
        return f"checkpoint {p}: expected format version {VERSION}, got {version!r:.40}"
    import rnnlab

    this = f"this rnnlab ({rnnlab.__version__}) reads format {VERSION}"
    if version > VERSION:
        wrote = _written_by(wrapper)
        return (f"checkpoint {p} has format version {version}, newer than {this}: it was written by "
                f"{wrote or 'a newer rnnlab'}; upgrade rnnlab to read it (the file is intact and kept)")
    reader = _READ_BY.get(version, f"an rnnlab that reads format {version}")
    return (f"checkpoint {p} has format version {version}, older than {this}: {reader} reads it "
            "(the file is kept; `rnnlab report` still reads the run's records)")


def _written_by(wrapper: dict[str, Any]) -> str:
    """The rnnlab (and torch) a checkpoint of a newer format records it was written by, "" where
    it records none that this rnnlab can read (in its wrapper, else in its payload)."""
    found = wrapper.get(VERSIONS)
    if not isinstance(found, dict) and torch.is_tensor(wrapper.get("payload")) \
            and wrapper["payload"].dtype == torch.uint8:
        try:  # (weights_only: a newer payload is still only tensors, numbers and strings, or refused)
            state = torch.load(io.BytesIO(wrapper["payload"].numpy().tobytes()), map_location="cpu",
                               weights_only=True)
            found = state.get(VERSIONS) if isinstance(state, dict) else None
        except Exception:  # noqa: BLE001 (anything it cannot read only leaves the writer unnamed)
            found = None
    if not isinstance(found, dict) or not isinstance(found.get("rnnlab"), str):
        return ""
    torch_version = found.get("torch")
    return f"rnnlab {found['rnnlab']}" + (f" (torch {torch_version})" if isinstance(torch_version, str) else "")


def load_checkpoint(path: str | os.PathLike[str], require: Sequence[str] = ()) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``), verify its
    checksum and the types of what it holds; ``require`` names keys besides :data:`REQUIRED`
    that must be present (e.g. :data:`RESUME`)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist" if not p.exists()
                              else f"checkpoint {str(p)!r}: expected a file, got a directory")
    wrapper = _torch_load(p, p)
    if not isinstance(wrapper, dict) or wrapper.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {p} is not an rnnlab checkpoint (no format tag {FORMAT!r})")
    if wrapper.get("version") != VERSION:
        raise CheckpointVersionError(_other_version(p, wrapper))
    if set(wrapper) != _WRAPPER or not isinstance(wrapper["sha256"], str) \
            or not (torch.is_tensor(wrapper["payload"]) and wrapper["payload"].dtype == torch.uint8):
        raise CheckpointError(f"checkpoint {p}: expected keys {sorted(_WRAPPER)} with a sha256 string and "
                              f"a uint8 payload, got keys {sorted(map(str, wrapper))}")
    payload = wrapper["payload"].numpy().tobytes()
    digest = hashlib.sha256(payload).hexdigest()
    if digest != wrapper["sha256"]:
        raise CheckpointError(f"checkpoint {p} is corrupt: the SHA-256 of its content is {digest[:16]}..., "
                              f"expected {wrapper['sha256'][:16]}... as recorded when it was written{_best_beside(p)}")
    state = _torch_load(io.BytesIO(payload), p)
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {p}: expected a dict of state, got {type(state).__name__}")
    missing = [k for k in (*REQUIRED, *require) if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {p} lacks {missing}")
    for key, check in _SCHEMA.items():
        if key in state:
            problem = check(state[key])
            if problem:
                raise CheckpointError(f"checkpoint {p}: '{key}': {problem}")
    return state


# ------------------------------------------------------------------------------ structure


def _int(v: Any, low: int = 0) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= low
    return None if ok else f"expected an integer >= {low}, got {v!r:.60}"


def _tensors(v: Any) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(k, str) and torch.is_tensor(t) for k, t in v.items()):
        return "expected a mapping of parameter names to tensors"
    return None


def _tensor(v: Any, dtype: torch.dtype, numel: int | None = None) -> bool:
    return torch.is_tensor(v) and v.dtype == dtype and (numel is None or v.numel() == numel)


def _rng(v: Any) -> str | None:
    n, py = (v.get("numpy"), v.get("python")) if isinstance(v, dict) else (None, None)
    ok = (isinstance(v, dict) and _tensor(v.get("torch"), torch.uint8) and _tensor(v.get("shuffle"), torch.uint8)
          and isinstance(n, dict) and n.get("name") == "MT19937" and _tensor(n.get("keys"), torch.int64, 624)
          and _int(n.get("pos")) is None and int(n.get("pos", 625)) <= 624 and n.get("has_gauss") in (0, 1)
          and isinstance(n.get("cached_gaussian"), float)
          and isinstance(py, dict) and isinstance(py.get("version"), int) and _tensor(py.get("state"), torch.int64, 625)
          and (py.get("gauss_next") is None or isinstance(py.get("gauss_next"), float))
          and (v.get("cuda") is None or (isinstance(v["cuda"], list)
                                         and all(_tensor(t, torch.uint8) for t in v["cuda"]))))
    return None if ok else ("expected the random states of torch, the batch order, numpy (MT19937) and python "
                            "(and, optional, a list of CUDA generator states)")


def _early_stopping(v: Any) -> str | None:
    ok = (isinstance(v, dict) and set(v) == {"best", "best_epoch", "bad_epochs"}
          and (v["best"] is None or isinstance(v["best"], float))
          and _int(v["best_epoch"]) is None and _int(v["bad_epochs"]) is None)
    return None if ok else "expected {best: number or None, best_epoch: int, bad_epochs: int}"


def _stream(v: Any) -> str | None:
    """A stream's mid-epoch position (``rnnlab.train.trainer``): the carried state of every row,
    the next window's first step and the epoch's sums so far."""
    number = (int, float)
    ok = (isinstance(v, dict) and all(_int(v.get(k), 1) is None for k in ("epoch", "steps", "window"))
          and _int(v.get("start")) is None and _int(v.get("seen")) is None
          and isinstance(v.get("tuple"), bool) and isinstance(v.get("state"), list) and len(v["state"]) > 0
          and all(torch.is_tensor(t) and t.is_floating_point() for t in v["state"])
          and isinstance(v.get("loss_sum"), float)
          and isinstance(v.get("norms"), list) and all(isinstance(x, float) for x in v["norms"])
          and isinstance(v.get("tally"), dict)
          and all(isinstance(k, str) and type(x) in number for k, x in v["tally"].items()))
    return None if ok else ("expected {epoch, start, steps, window, seen: int, state: [float tensors], tuple: bool, "
                            "loss_sum: float, norms: [float], tally: {name: number}}")


def _tracker(v: Any) -> str | None:
    """The tracker's state (:meth:`rnnlab.Tracker.state_dict`): the pending update ratio's step,
    parameter names and weights before the update, or nothing."""
    pending = v.get("update_ratio") if isinstance(v, dict) else None
    ok = isinstance(v, dict) and set(v) <= {"update_ratio"} and (pending is None or (
        isinstance(pending, dict) and set(pending) == {"step", "names", "before"} and _int(pending["step"]) is None
        and isinstance(pending["names"], list) and all(isinstance(n, str) for n in pending["names"])
        and isinstance(pending["before"], list) and len(pending["before"]) == len(pending["names"])
        and all(torch.is_tensor(t) for t in pending["before"])))
    return None if ok else "expected {} or {update_ratio: {step: int, names: [str], before: [tensors], as many}}"


def _optimizer(v: Any) -> str | None:
    ok = isinstance(v, dict) and isinstance(v.get("state"), dict) and isinstance(v.get("param_groups"), list)
    return None if ok else "expected an optimizer state_dict (state, param_groups)"


_SCHEMA: dict[str, Callable[[Any], str | None]] = {
    "epoch": _int,
    "step": _int,
    "model": _tensors,
    "optimizer": _optimizer,
    "rng": _rng,
    "early_stopping": _early_stopping,
    "stopped_early": lambda v: None if isinstance(v, bool) else f"expected true or false, got {v!r:.40}",
    "config": lambda v: None if isinstance(v, str) else f"expected the TOML text of the config, got {type(v).__name__}",
    "data_sha256": lambda v: None if isinstance(v, str) else f"expected the SHA-256 of the data, got {type(v).__name__}",
    "stream": _stream,
    "tracker": _tracker,
    RUN_ID: lambda v: None if isinstance(v, str) else f"expected the run's identity (a string), got {type(v).__name__}",
    VERSIONS: lambda v: None if isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                                             for k, x in v.items())
    else "expected {rnnlab, torch, python: version strings}",
}


def model_from_checkpoint(config: Config, fit: RunFit, task: Task, path: str | os.PathLike[str]) -> torch.nn.Module:
    """The model ``config`` builds in the shape ``fit`` records (its input channels and outputs:
    :class:`rnnlab.train.run_fit.RunFit`) for ``task``, with the weights of the checkpoint at
    ``path`` (what ``rnnlab predict`` predicts and forecasts with and ``rnnlab tensorboard``
    splits per gate). In training mode, as built."""
    from rnnlab.train.model import build_model

    model = build_model(config.model, fit.channels, fit.outputs, task.per_step, values=task.values)
    model.load_state_dict(load_checkpoint(path)["model"])
    return model


def rng_state(shuffle: torch.Generator) -> dict[str, Any]:
    """Every random state the loop draws from, as tensors and numbers."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    # (only when this process has used CUDA: asking would initialize it, and a CPU run has none)
    cuda = {"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_initialized() else {}
    return {
        **cuda,
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any], shuffle: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved (its structure checked by :func:`load_checkpoint`)."""
    try:
        torch.set_rng_state(state["torch"])
        shuffle.set_state(state["shuffle"])
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
        py = state["python"]
        random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
        cuda = state.get("cuda")
        if cuda is not None and torch.cuda.is_available():
            # (device by device: a machine with fewer GPUs resumes with those it has)
            for index, generator in enumerate(cuda[:torch.cuda.device_count()]):
                torch.cuda.set_rng_state(generator, index)
    except (RuntimeError, ValueError, TypeError, OverflowError) as e:
        raise CheckpointError(f"checkpoint: the random state cannot be restored ({library_reason(e)})") from None
