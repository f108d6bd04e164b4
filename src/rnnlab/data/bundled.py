"""Data sets shipped inside installed packages: no network, ever.

* UCR/UEA classification problems shipped in this package as ``rnnlab/data/ucr/NAME_TRAIN.ts.gz``
  / ``NAME_TEST.ts.gz`` (GunPoint, BasicMotions, JapaneseVowels, OSULeaf, ...; provenance and
  citations in ``ucr/README.md``): copies of the files aeon 1.6 ships, kept here because aeon
  deprecates some of them (ACSF1, OSULeaf) and drops them in 1.7, so the list does not depend on
  the installed aeon. Variable-length problems (JapaneseVowels, PickupGestureWiimoteZ) come back
  padded with their lengths. A file is parsed once (by aeon's ``.ts`` reader): then read from the
  user cache (:func:`cache_dir`), keyed by its content. Extrinsic regression problems
  (Covid3Month, CardanoSentiment: ``@targetLabel true``) are shipped the same way, for
  ``[task] kind = "regression"``.
* scikit-learn's 8x8 digits as ``digits_rows`` (8 steps of 8 pixels) and ``digits_pixels``
  (64 steps of 1 pixel); the test split is a fixed stratified 25 %.
* generated problems with a target at every step (:mod:`rnnlab.data.synthetic`, for
  ``[task] per_step = true``): ``delayed_copy`` (labels) and ``adding_problem`` (values).

Example:
    >>> "GunPoint" in bundled_names()
    True
    >>> train, test = load_bundled("GunPoint")
    >>> train.X.shape, test.X.shape, train.classes
    ((50, 150, 1), (150, 150, 1), ['1', '2'])
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab._checks import did_you_mean
from rnnlab.errors import DataError
from rnnlab.rundir import atomic_write_bytes
from rnnlab.task import TargetScale

DIGITS = {"digits_rows": "8 steps x 8 channels (one image row per step)",
          "digits_pixels": "64 steps x 1 channel (one pixel per step)"}


@dataclass
class Sequences:
    """Padded sequences: X [N, T, C] float, y [N] class index, lengths [N]; ``classes[y]`` is the
    label. Regression: y [N, K] float target values, ``classes`` empty, and once standardized
    ``scale`` (:class:`rnnlab.task.TargetScale`) gives them back in the data's units."""

    X: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    classes: list[str]
    scale: TargetScale | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> Sequences:
        scale = self.scale
        if scale is not None and getattr(scale, "series", None) is not None:  # (a panel's rows: which series each is)
            from dataclasses import replace

            scale = replace(scale, series=scale.series[index])
        return Sequences(self.X[index], self.y[index], self.lengths[index], self.classes, scale)


#: Where the shipped UCR/UEA files are (``NAME_TRAIN.ts.gz`` and ``NAME_TEST.ts.gz``).
UCR_DIR = Path(__file__).resolve().parent / "ucr"


def _ts_kind(ts_file: Path) -> str | None:
    """``"classification"`` (``@classLabel true``), ``"regression"`` (``@targetLabel true``) or
    None (a forecasting or anomaly file: no label per series) from a ``.ts(.gz)`` file's header."""
    for line in _ts_text(ts_file).decode("utf-8", errors="replace").splitlines():
        low = line.strip().lower()
        if low.startswith("@classlabel") and low.split()[1:2] == ["true"]:
            return "classification"
        if low.startswith("@targetlabel") and low.split()[1:2] == ["true"]:
            return "regression"
        if low.startswith("@data"):
            return None
    return None


@functools.lru_cache(maxsize=1)
def _ucr_sets() -> dict[str, str]:
    """``{name: task}`` of the shipped files (both splits present, a label per series)."""
    sets = {}
    for p in sorted(UCR_DIR.glob("*_TRAIN.ts.gz")):
        name = p.name[: -len("_TRAIN.ts.gz")]
        kind = _ts_kind(p) if (UCR_DIR / f"{name}_TEST.ts.gz").is_file() else None
        if kind is not None:
            sets[name] = kind
    return sets


def _ucr_names() -> list[str]:
    return list(_ucr_sets())


def bundled_names() -> list[str]:
    """Names accepted by ``data.dataset``: the shipped UCR/UEA classification and regression
    problems, digits, then the generated per-step problems.

    >>> bundled_names()[:3]
    ['ACSF1', 'ArrowHead', 'BasicMotions']
    """
    from rnnlab.data.synthetic import GENERATED

    return _ucr_names() + list(DIGITS) + list(GENERATED)


def all_bundled_names() -> list[str]:
    """Every name ``data.dataset`` accepts, whatever the task (what ``rnnlab datasets`` lists):
    :func:`bundled_names`, then the series of a forecasting task and the texts of a language model.

    >>> all_bundled_names()[-2:]
    ['solar', 'python-docs']
    """
    from rnnlab.data.stream import BUNDLED_STREAMS
    from rnnlab.data.text import BUNDLED_TEXTS

    return bundled_names() + list(BUNDLED_STREAMS) + list(BUNDLED_TEXTS)


def bundled_task(name: str) -> str:
    """The task of a bundled data set, by name (:attr:`rnnlab.task.Task.name`):
    ``"classification"``, ``"regression"``, ``"per-step-classification"`` /
    ``"per-step-regression"`` for the generated per-step sets, ``"forecasting"`` for a bundled
    series and ``"language_model"`` for a bundled text.

    >>> bundled_task("GunPoint"), bundled_task("Covid3Month"), bundled_task("adding_problem")
    ('classification', 'regression', 'per-step-regression')
    >>> bundled_task("Airline"), bundled_task("python-docs")
    ('forecasting', 'language_model')
    """
    from rnnlab.data.stream import BUNDLED_STREAMS
    from rnnlab.data.synthetic import GENERATED
    from rnnlab.data.text import BUNDLED_TEXTS

    if name in GENERATED:
        return GENERATED[name].task
    if name in BUNDLED_STREAMS:
        return "forecasting"
    if name in BUNDLED_TEXTS:
        return "language_model"
    return _ucr_sets().get(name, "classification")


def describe_bundled() -> list[dict[str, object]]:
    """One row per bundled data set (name, task, train/test sizes, length range, channels, and
    classes or target values per sequence)."""
    rows = []
    for name in bundled_names():
        train, test = load_bundled(name)
        lengths = np.concatenate([train.lengths, test.lengths])
        task = bundled_task(name)
        rows.append({
            "name": name, "task": task, "train": len(train), "test": len(test),
            "length": f"{lengths.min()}" if lengths.min() == lengths.max() else f"{lengths.min()}-{lengths.max()}",
            "channels": train.X.shape[2],
            "classes": len(train.classes) if task.endswith("classification") else "-",
            "targets": train.y.shape[-1] if task.endswith("regression") else "-",
        })
    return rows


def pad(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``[T_i, C]`` arrays into X [N, max T, C] padded with 0, and lengths [N]."""
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    channels = series[0].shape[1] if series else 0
    X = np.zeros((len(series), int(lengths.max()) if len(series) else 0, channels), dtype=np.float64)
    for i, s in enumerate(series):
        X[i, : len(s)] = s
    return X, lengths


def label_order(labels: np.ndarray) -> list[str]:
    # Numeric labels ("1", "10", "2") sort by value, others alphabetically.
    uniq = sorted({str(v) for v in labels})
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return uniq


def encode_labels(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[str(v)] for v in labels], dtype=np.int64)


def _ts_text(path: Path) -> bytes:
    """The bytes of a ``.ts`` file, or of a gzipped one (``.ts.gz``)."""
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


def _load_ts(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X [N, T, C], labels [N] as strings, lengths [N]) of a ``.ts`` (or ``.ts.gz``) file: parsed
    once per content, then read from the cache (:func:`parsed_ts`); the arrays are the caller's own.
    The key is the uncompressed text's digest: the cache entry of aeon's copy of a file serves ours."""
    digest = hashlib.sha256(_ts_text(path)).hexdigest()
    return tuple(a.copy() for a in parsed_ts(str(path), digest))  # type: ignore[return-value]


def cache_dir() -> Path:
    """Where parsed data sets are kept: ``$XDG_CACHE_HOME/rnnlab/data`` (``~/.cache/rnnlab/data``).

    >>> cache_dir().parts[-2:]
    ('rnnlab', 'data')
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnnlab" / "data"


@functools.lru_cache(maxsize=16)
def parsed_ts(path: str, digest: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parsed content ``digest`` (SHA-256) of the ``.ts`` file ``path``: from this process's
    memory (a search's folds and trials load the same file), else from the user cache (an
    ``.npz`` read without pickle, named by the digest, so a changed file is parsed again), else
    parsed by aeon, whose import alone costs seconds, and cached."""
    cached = cache_dir() / f"ts-{digest}.npz"
    # Not cached yet, or a damaged entry: parse, and replace it.
    with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile), np.load(cached, allow_pickle=False) as z:
        return z["X"], z["y"], z["lengths"]
    X, y, lengths = _parse_ts(Path(path))
    buf = io.BytesIO()
    np.savez(buf, X=X, y=y, lengths=lengths)
    with contextlib.suppress(OSError):  # a read-only or full cache only costs the next run the parse
        atomic_write_bytes(cached, buf.getvalue())
    return X, y, lengths


def _parse_ts(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        from aeon.datasets import load_from_ts_file
    except ImportError:
        raise DataError(f"{path.name}: reading a UCR/UEA .ts file the first time needs aeon (then it is cached): "
                        "pip install 'rnnlab[datasets]'") from None

    if path.suffix == ".gz":  # aeon's reader takes a path: give it the text in a private folder
        with tempfile.TemporaryDirectory(prefix="rnnlab-ts-") as tmp:
            plain = Path(tmp) / path.name[: -len(".gz")]
            plain.write_bytes(_ts_text(path))
            X, y = load_from_ts_file(str(plain))
    else:
        X, y = load_from_ts_file(str(path))
    if isinstance(X, np.ndarray):  # equal length: [N, C, T]
        X = np.transpose(X, (0, 2, 1)).astype(np.float64)
        lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    else:  # variable length: list of [C, T_i]
        X, lengths = pad([np.asarray(s, dtype=np.float64).T for s in X])
    return np.ascontiguousarray(X), np.asarray(y).astype(str), lengths


def _load_ucr(name: str) -> tuple[Sequences, Sequences]:
    Xtr, ytr, ltr = _load_ts(UCR_DIR / f"{name}_TRAIN.ts.gz")
    Xte, yte, lte = _load_ts(UCR_DIR / f"{name}_TEST.ts.gz")
    # Train and test may pad to different lengths: pad both to the longer.
    T = max(Xtr.shape[1], Xte.shape[1])
    Xtr = np.pad(Xtr, ((0, 0), (0, T - Xtr.shape[1]), (0, 0)))
    Xte = np.pad(Xte, ((0, 0), (0, T - Xte.shape[1]), (0, 0)))
    if bundled_task(name) == "regression":  # target values, one per series
        return (Sequences(Xtr, ytr.astype(np.float64)[:, None], ltr, []),
                Sequences(Xte, yte.astype(np.float64)[:, None], lte, []))
    classes = label_order(np.concatenate([ytr, yte]))
    return (Sequences(Xtr, encode_labels(ytr, classes), ltr, classes),
            Sequences(Xte, encode_labels(yte, classes), lte, classes))


def _load_digits(name: str) -> tuple[Sequences, Sequences]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(f"data.dataset {name!r} needs scikit-learn: pip install 'rnnlab[datasets]'") from None
    digits = load_digits()
    images = digits.images.astype(np.float64) / 16.0  # [N, 8, 8], pixel values 0..16
    X = images if name == "digits_rows" else images.reshape(len(images), 64, 1)
    y = digits.target.astype(np.int64)
    # A fixed stratified 25 % test split, independent of the training seed.
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        test[members[: round(0.25 * len(members))]] = True
    lengths = np.full(len(y), X.shape[1], dtype=np.int64)
    classes = [str(c) for c in range(10)]
    return (Sequences(X[~test], y[~test], lengths[~test], classes),
            Sequences(X[test], y[test], lengths[test], classes))


def _load_generated(name: str) -> tuple[Sequences, Sequences]:
    """A generated per-step set (:mod:`rnnlab.data.synthetic`), its padding marked as the task
    marks it: :data:`~rnnlab.task.PAD_LABEL` for labels, NaN for values."""
    from rnnlab.data.synthetic import GENERATED, generated_splits
    from rnnlab.task import PAD_LABEL

    classes = list(GENERATED[name].classes)
    out = []
    for X, y, lengths in generated_splits(name):
        valid = np.arange(y.shape[1])[None, :] < lengths[:, None]
        y = np.where(valid, y, PAD_LABEL) if classes else np.where(valid[:, :, None], y, np.nan)
        out.append(Sequences(X, y, lengths, classes))
    return out[0], out[1]


#: What a bundled set of a stream task holds, for the error that names its task.
_STREAM_HOLDS = {"forecasting": "a long series to forecast", "language_model": "a text to model"}


def load_bundled(name: str) -> tuple[Sequences, Sequences]:
    """The (train, test) splits of a bundled data set of sequences, as published (unnormalised).
    A bundled series or text (a stream task's) is a :class:`DataError` naming the ``[task] kind``
    that reads it; an unknown name one that offers the closest of every bundled name."""
    if name in DIGITS:
        return _load_digits(name)
    task = bundled_task(name)
    if task in _STREAM_HOLDS:
        # (a stream task never loads sequences: this run's task is one of sequences, without [task] classification)
        raise DataError(f"data.dataset {name!r}: holds {_STREAM_HOLDS[task]}, read by [task] kind = \"{task}\", "
                        f"expected a data set of sequences for this run's task; set [task] kind = \"{task}\" "
                        "(the task column of `rnnlab datasets`)")
    if task.startswith("per-step-"):
        return _load_generated(name)
    if name not in _ucr_names():
        options = all_bundled_names()
        raise DataError(
            f"data.dataset: unknown bundled data set {name!r}{did_you_mean(name, options)} "
            f"(available: {', '.join(options)}; `rnnlab datasets` lists each with its task)"
        )
    return _load_ucr(name)
