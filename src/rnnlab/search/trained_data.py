"""What a study's or recipe's runs trained and were tested on: the SHA-256 of the files
``data.path`` and ``data.test_path`` name, recorded in ``DIR/trained_data.json`` when the
directory's first run is yet to train, and checked each time the command continues it.

A continued search or recipe reuses its finished runs; runs of a file whose contents have changed
since would be scored beside runs of the new contents, and a final run's test figure would be the
old test file's. So a continued one is refused before anything trains (as ``rnnlab train --resume``
refuses data that differ from its checkpoint's). By content, not name: a file moved or copied
elsewhere with the same bytes is the same data. A bundled dataset (``data.dataset``) is fixed, and
records nothing. A directory from before this record was kept cannot be checked.

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> d = Path(tempfile.mkdtemp())
    >>> check_trained_data(d, parse_config('[data]\\ndataset = "UnitTest"'), trained=False, what="study")
    >>> (d / TRAINED_DATA).read_text()
    '{}\\n'
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.config import Config
from rnnlab.errors import RunDirError
from rnnlab.rundir import atomic_write_json, read_json

#: the record's file in a study or recipe directory
TRAINED_DATA = "trained_data.json"

#: each recorded key, and what its file was used for (the words of the refusal)
_USES = {"data.path": "trained on", "data.test_path": "evaluated the test split on"}


def data_files(config: Config) -> dict[str, dict[str, str]]:
    """``{"data.path": {"file", "sha256"}, "data.test_path": ...}`` for the keys ``config`` sets
    to a readable file (a bundled dataset, an unset key or a file that cannot be read: none)."""
    from rnnlab.compare import file_sha256

    found: dict[str, dict[str, str]] = {}
    if config.data.dataset is not None:
        return found
    for key, value in (("data.path", config.data.path), ("data.test_path", config.data.test_path)):
        digest = file_sha256(Path(value)) if value else None
        if digest is not None:
            found[key] = {"file": str(value), "sha256": digest}
    return found


def check_trained_data(out: Path, config: Config, *, trained: bool, what: str, tested: bool = True) -> str | None:
    """Record (``trained`` False: no run in ``out`` has trained yet) or check ``config``'s data
    files against ``out``'s record (:data:`TRAINED_DATA`); ``what`` is ``"study"`` or ``"recipe"``;
    ``tested`` False: no run in ``out`` has evaluated the test split yet (a changed
    ``data.test_path`` is then recorded anew, not refused: no figure came from the old file).

    Returns a note for a directory with runs and no record (one from before records were kept:
    its data cannot be checked), else None. A file whose contents differ from the record's is a
    :class:`~rnnlab.errors.RunDirError` naming the key, the file and the fix. A key the record
    lacks (``data.test_path`` set since) is added, so that later changes to it are caught.
    """
    path = out / TRAINED_DATA
    now = data_files(config)
    if not trained or not path.is_file():
        if not trained:
            atomic_write_json(path, now)
            return None
        if not now:
            return None
        return (f"note: {out} records no data files ({TRAINED_DATA}: a {what} from before it was kept): "
                f"whether its runs trained on the current contents of {', '.join(now)} cannot be checked")
    record = read_json(path)
    record = record if isinstance(record, dict) else {}
    update = {k: v for k, v in now.items() if k not in record}
    for key, file in now.items():
        then = record.get(key)
        if not isinstance(then, dict) or then.get("sha256") in (None, file["sha256"]):
            continue
        if key == "data.test_path" and not tested:
            update[key] = file
            continue
        moved = f" (recorded as {then.get('file')})" if then.get("file") != file["file"] else ""
        raise RunDirError(
            f"{key}: {file['file']} is not the file this {what}'s runs {_USES[key]}{moved}: its contents changed "
            f"(SHA-256 {file['sha256'][:12]}..., recorded {str(then['sha256'])[:12]}... in {path}); restore the "
            f"file's earlier contents, or start a new {what} on these data with another --out")
    if update:
        atomic_write_json(path, {**record, **update})
    return None


__all__ = ["TRAINED_DATA", "check_trained_data", "data_files"]
