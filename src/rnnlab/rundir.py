"""The run directory: one layout that the tracker, the trainer and the report all read.

::

    RUN_DIR/
      config.toml       resolved configuration the run follows (written at start; rewritten by a
                        resume that --allow-change admitted)
      resumes.jsonl     one JSON object per resume: {"after_epoch", "step", "time", "changed"}
      metrics.jsonl     one JSON object per epoch: {"epoch", "step", "time", "train_loss", ...}
      tracked.jsonl     one JSON object per tracked statistic: {"step", "epoch", "name", "stat", "value"}
      health.json       health-check findings (a JSON list)
      summary.json      final/best records and test metrics of a finished run
      grad_through_time.json   |dLoss/dh_t| after training, for the report
      checkpoints/      last.pt, best.pt (torch.save of plain tensors and numbers, with a SHA-256)
      report.html       self-contained HTML report

``*.jsonl`` files are append-only and flushed after each record, so they can be read while the
run goes on and survive the process being killed: a reader skips a truncated last line, so at
most the record in flight is lost. Every other file is written atomically (temporary file, then
``os.replace``).

Reading: the ``read_*`` methods of :class:`RunDir` are the one reader of these files (the report,
``rnnlab compare``, ``--resume`` and the search all go through them). Each validates what it
reads and raises :class:`~rnnlab.errors.RunDirError` naming the file, the line and what was
expected: a corrupt line in the middle of a ``.jsonl`` file is an error, never skipped.

Example:
    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp())
    >>> d.append(d.metrics, {"epoch": 1, "train_loss": 0.5})
    >>> d.read_metrics()
    [{'epoch': 1, 'train_loss': 0.5}]
    >>> _ = open(d.metrics, "a").write('[1, 2]\\n{"epoch": 2}\\n')
    >>> d.read_metrics()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...metrics.jsonl line 2: expected a JSON object, got a list
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import RunDirError

if TYPE_CHECKING:
    from rnnlab.config import Config

METRICS = "metrics.jsonl"
TRACKED = "tracked.jsonl"
CONFIG = "config.toml"
HEALTH = "health.json"
CHECKPOINTS = "checkpoints"
REPORT = "report.html"
SUMMARY = "summary.json"
RESUMES = "resumes.jsonl"
GRAD_THROUGH_TIME = "grad_through_time.json"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


class RunDir:
    """Paths of a run directory (created on first use), and the validating readers of its files."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not os.fspath(path).strip():  # (Path("") is the working directory)
            raise RunDirError(f"run directory: expected a path, got {os.fspath(path)!r}")
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {str(self.path)!r}: expected a directory, got a file")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"run directory {str(self.path)!r} cannot be created ({e.strerror or e})") from None

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> RunDir:
        """The run directory at ``path``, which must exist (a mistyped path is an error, not a new
        empty run).

        >>> RunDir.existing("/nonexistent/run")
        Traceback (most recent call last):
        ...
        rnnlab.errors.RunDirError: run directory '/nonexistent/run' does not exist
        """
        p = Path(path)
        if not p.exists():
            raise RunDirError(f"run directory {str(p)!r} does not exist")
        if not p.is_dir():
            raise RunDirError(f"run directory {str(p)!r}: expected a directory, got a file")
        return cls(p)

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
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def resumes(self) -> Path:
        """One record per ``--resume``: the epoch it continued after and the config keys changed."""
        return self.path / RESUMES

    @property
    def grad_through_time(self) -> Path:
        return self.path / GRAD_THROUGH_TIME

    @property
    def last_checkpoint(self) -> Path:
        """Where ``--resume`` continues from (written after every epoch)."""
        return self.path / CHECKPOINTS / LAST_CHECKPOINT

    @property
    def best_checkpoint(self) -> Path:
        """The weights of the best epoch by validation (``summary.json``'s ``best_epoch``)."""
        return self.path / CHECKPOINTS / BEST_CHECKPOINT

    @property
    def checkpoints(self) -> Path:
        p = self.path / CHECKPOINTS
        p.mkdir(exist_ok=True)
        return p

    def append(self, file: Path, record: dict[str, Any]) -> None:
        """Append one record to a JSONL file of this run."""
        append_jsonl(file, record)

    # -------------------------------------------------------------- the one reader

    def read_metrics(self) -> list[dict[str, Any]]:
        """The per-epoch records (``metrics.jsonl``; empty when missing): each an object with an
        integer ``epoch`` >= 1 and numbers (NaN/inf included) as every other value."""
        return read_jsonl(self.metrics, check=_check_metrics_record)

    def read_tracked(self) -> list[dict[str, Any]]:
        """The tracker's records (``tracked.jsonl``; empty when missing): ``name`` and ``stat``
        strings, an integer ``step`` >= 0, ``value`` a number or a list of numbers."""
        return read_jsonl(self.tracked, check=_check_tracked_record)

    def read_resumes(self) -> list[dict[str, Any]]:
        """The resume log (``resumes.jsonl``): ``after_epoch`` and the ``changed`` keys."""
        return read_jsonl(self.resumes, check=_check_resume_record)

    def read_summary(self) -> dict[str, Any] | None:
        """``summary.json`` of a finished run (None when missing): an object whose ``test`` and
        ``train_eval`` parts, when present, map names to numbers."""
        if not self.summary.exists():
            return None
        data = read_json(self.summary)
        if not isinstance(data, dict):
            raise RunDirError(f"{self.summary}: expected a JSON object, got {_kind(data)}")
        for part in ("test", "train_eval"):
            value = data.get(part)
            if value is not None and not (isinstance(value, dict) and all(_is_number(v) for v in value.values())):
                raise RunDirError(f"{self.summary}: expected {part!r} to map names to numbers, got {value!r:.80}")
        for part in ("final", "best"):
            value = data.get(part)
            if value is not None and not isinstance(value, dict):
                raise RunDirError(f"{self.summary}: expected {part!r} to be an object, got {_kind(value)}")
        return data

    def read_health(self) -> list[dict[str, Any]] | None:
        """The health findings (``health.json``; None when missing), a list of objects."""
        if not self.health.exists():
            return None
        data = read_json(self.health)
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise RunDirError(f"{self.health}: expected a JSON list of finding objects, got {_kind(data)}")
        return data

    def read_config(self) -> Config:
        """The resolved config the run was started with (``config.toml``), validated."""
        from rnnlab.config import load_config
        from rnnlab.errors import ConfigError

        if not self.config.exists():
            raise RunDirError(f"{self.path} is not a run directory (no {CONFIG})")
        try:
            return load_config(self.config)
        except ConfigError as e:
            raise RunDirError(str(e)) from None

    def read_checkpoint(self, name: str = LAST_CHECKPOINT) -> dict[str, Any]:
        """A checkpoint of this run, checksum and structure verified (see
        :func:`rnnlab.train.checkpoint.load_checkpoint`)."""
        from rnnlab.train.checkpoint import load_checkpoint

        return load_checkpoint(self.path / CHECKPOINTS / name)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    """``null`` / ``a string 'x'`` / ``a list [1, 2]``: the JSON kind and the value, short."""
    if value is None:
        return "null"
    text = json.dumps(value) if isinstance(value, (dict, list, bool)) else repr(value)
    return f"{_kind(value)} {text if len(text) <= 40 else text[:40] + '...'}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_metrics_record(rec: dict[str, Any]) -> str | None:
    epoch = rec.get("epoch")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1):
        return f"expected an integer 'epoch' >= 1, got {_shown(epoch)}" if "epoch" in rec else "missing key 'epoch'"
    for k, v in rec.items():
        if not _is_number(v):
            return f"expected {k!r} to be a number, got {_shown(v)}"
    return None


def _check_tracked_record(rec: dict[str, Any]) -> str | None:
    for k in ("name", "stat"):
        if not isinstance(rec.get(k), str):
            return f"expected {k!r} to be a string, got {_shown(rec.get(k))}" if k in rec else f"missing key {k!r}"
    step = rec.get("step")
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        return f"expected an integer 'step' >= 0, got {_shown(step)}" if "step" in rec else "missing key 'step'"
    epoch = rec.get("epoch")
    if epoch is not None and not _is_number(epoch):
        return f"expected 'epoch' to be a number or null, got {_shown(epoch)}"
    value = rec.get("value")
    if not (_is_number(value) or (isinstance(value, list) and all(_is_number(v) for v in value))):
        return f"expected 'value' to be a number or a list of numbers, got {_shown(value)}" if "value" in rec \
            else "missing key 'value'"
    return None


def _check_resume_record(rec: dict[str, Any]) -> str | None:
    if not isinstance(rec.get("after_epoch"), int):
        return "expected an integer 'after_epoch'"
    changed = rec.get("changed")
    if not (isinstance(changed, dict) and all(isinstance(v, list) and len(v) == 2 for v in changed.values())):
        return "expected 'changed' to be an object {key: [old, new]}"
    return None


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


def read_jsonl(path: str | os.PathLike[str],
               check: Callable[[dict[str, Any]], str | None] | None = None) -> list[dict[str, Any]]:
    """Read a JSONL file of objects (empty when missing); ``check(record)`` returns what is wrong
    with a record, or None.

    A last line without its newline is the record in flight when the writer was killed: it is
    skipped. Any other line that is not valid UTF-8, not JSON, not an object or fails ``check``
    is a :class:`~rnnlab.errors.RunDirError` naming the file and line.
    """
    p = Path(path)
    if not p.exists():
        return []
    if not p.is_file():
        raise RunDirError(f"{p}: expected a file, got a directory")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise RunDirError(f"{p}: cannot be read ({e.strerror or e})") from None
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or the record in flight
    out = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RunDirError(f"{p} line {n}: not valid UTF-8 (byte {e.start})") from None
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as e:
            raise RunDirError(f"{p} line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(rec, dict):
            raise RunDirError(f"{p} line {n}: expected a JSON object, got {_kind(rec)}")
        rec = _restore(rec)
        problem = check(rec) if check is not None else None
        if problem:
            raise RunDirError(f"{p} line {n}: {problem}")
        out.append(rec)
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
    """Read a JSON file written by :func:`atomic_write_json`; an unreadable or invalid file is a
    :class:`~rnnlab.errors.RunDirError` naming it."""
    p = Path(path)
    if p.is_dir():
        raise RunDirError(f"{p}: expected a file, got a directory")
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise RunDirError(f"{p}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise RunDirError(f"{p}: not valid UTF-8 (byte {e.start})") from None
    try:
        return _restore(json.loads(text))
    except json.JSONDecodeError as e:
        raise RunDirError(f"{p}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically (a killed run never leaves a half checkpoint)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
