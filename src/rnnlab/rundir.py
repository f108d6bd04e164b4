"""The run directory: one layout that the tracker, the trainer and the report all read.

::

    RUN_DIR/
      config.toml       resolved configuration of the run (written once, at start)
      metrics.jsonl     one JSON object per epoch: {"epoch", "step", "time", "train_loss", ...}
      tracked.jsonl     one JSON object per tracked statistic: {"step", "epoch", "name", "stat", "value"}
      health.json       health-check findings (a JSON list)
      checkpoints/      last.pt, best.pt (torch.save of plain tensors and numbers)
      report.html       self-contained HTML report

``*.jsonl`` files are append-only and flushed after each record, so they can be read while the
run goes on and survive the process being killed: a reader skips a truncated last line, so at
most the record in flight is lost. Every other file is written atomically (temporary file, then
``os.replace``).

Example:
    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp())
    >>> d.append(d.metrics, {"epoch": 1, "train_loss": 0.5})
    >>> read_jsonl(d.metrics)
    [{'epoch': 1, 'train_loss': 0.5}]
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

METRICS = "metrics.jsonl"
TRACKED = "tracked.jsonl"
CONFIG = "config.toml"
HEALTH = "health.json"
CHECKPOINTS = "checkpoints"
REPORT = "report.html"


class RunDir:
    """Paths of a run directory (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def tracked(self) -> Path:
        return self.path / TRACKED

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def health(self) -> Path:
        return self.path / HEALTH

    @property
    def report(self) -> Path:
        return self.path / REPORT

    @property
    def checkpoints(self) -> Path:
        p = self.path / CHECKPOINTS
        p.mkdir(exist_ok=True)
        return p

    def append(self, file: Path, record: dict[str, Any]) -> None:
        """Append one record to a JSONL file of this run."""
        append_jsonl(file, record)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf as strings and arrays as lists (JSON has no NaN/inf; the readers
    of this module turn the strings back into floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return jsonable(value.tolist())
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    return value


def append_jsonl(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line and flush it to the OS (survives kill -9)."""
    line = _line(record)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()


def _line(record: dict[str, Any]) -> str:
    try:  # the common case, plain finite numbers, without walking every value
        return json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
    except (ValueError, TypeError):
        return json.dumps(jsonable(record), separators=(",", ":")) + "\n"


def append_jsonl_many(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append several records in one write (one flush)."""
    text = "".join(_line(r) for r in records)
    if text:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file, skipping a truncated or corrupt line (a record cut by a kill)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # the record in flight when the writer died
            try:
                out.append(_restore(json.loads(line)))
            except json.JSONDecodeError:
                continue
    return out


def truncate_jsonl(path: str | os.PathLike[str], keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a JSONL file atomically keeping only the records where ``keep(record)``.

    Used on resume so that nothing recorded after the checkpoint appears twice. Returns the
    number of records dropped.
    """
    records = read_jsonl(path)
    kept = [r for r in records if keep(r)]
    text = "".join(json.dumps(jsonable(r), separators=(",", ":")) + "\n" for r in kept)
    atomic_write_text(path, text)
    return len(records) - len(kept)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a reader sees the old file or the new one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; run files are meant to be shared
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomic JSON write (NaN/inf stored as strings, like the JSONL files)."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`."""
    with open(path, encoding="utf-8") as f:
        return _restore(json.load(f))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically (a killed run never leaves a half checkpoint)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
