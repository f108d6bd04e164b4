"""Data for training: bundled or user sequences, checked, split and normalised.

:func:`load_data` turns a ``[data]`` config section into train / validation / test
:class:`Sequences` (X [N, T, C] float32, y [N] class index, lengths [N]; for a regression task y
[N, K] float32 target values standardized on the training part). The validation part is a
seeded hold-out from the training split, stratified as the task says (:meth:`rnnlab.task.Task.strata`);
normalisation is fitted on what remains.

Example:
    >>> from rnnlab.config import DataConfig
    >>> d = load_data(DataConfig(dataset="GunPoint", val_fraction=0.2), seed=0)
    >>> len(d.train), len(d.val), len(d.test), d.classes, d.channels
    (40, 10, 150, ['1', '2'], 1)
"""

from __future__ import annotations

import hashlib
import typing
from dataclasses import dataclass, field

import numpy as np

from rnnlab.config import DataConfig
from rnnlab.data.bundled import (
    Sequences,
    bundled_names,
    bundled_task,
    describe_bundled,
    load_bundled,
)
from rnnlab.data.checks import (
    check_finite,
    check_float32_range,
    check_labels,
    check_lone_values,
    check_nonempty,
    check_not_regression,
    check_shapes,
    check_targets,
)
from rnnlab.data.files import check_named_targets, load_file
from rnnlab.data.folds import Fold, keep_every_class, stratified_folds, validation_indices
from rnnlab.data.normalize import ChannelStats, InputScaling
from rnnlab.data.overlap import check_repeated_series, check_test_overlap
from rnnlab.errors import DataError
from rnnlab.task import CLASSIFICATION, TargetScale, Task

if typing.TYPE_CHECKING:
    from rnnlab.data.text import TextData

__all__ = ["DataSplits", "Fold", "Sequences", "ChannelStats", "InputScaling", "bundled_names", "bundled_task",
           "check_ragged", "describe_bundled",
           "load_bundled", "load_data", "stratified_folds", "stratified_split"]


@dataclass
class DataSplits:
    name: str
    train: Sequences
    val: Sequences
    test: Sequences | None
    classes: list[str]
    stats: ChannelStats
    inputs: InputScaling
    """The fitted input scaling (``stats`` is its per-channel part): new series go through it too."""
    text: TextData | None = None
    """A language model's token ids and vocabulary (:mod:`rnnlab.data.text`); None otherwise."""
    whole_train: Sequences | None = None
    """Streams: each series' whole training part from its start, as the training figures are
    evaluated (``train`` holds its rows cut for the batches); None: ``train`` itself."""
    columns: list[str] = field(default_factory=list)
    """Streams: the channels' names (the columns of ``rnnlab predict``'s CSV)."""
    reference: str = "none"
    """Forecasting: the simple forecast the targets are relative to (``[task] relative_to``, with
    ``"auto"`` resolved on the training and validation blocks: :func:`rnnlab.data.stream.choose_reference`)."""

    @property
    def evaluated_train(self) -> Sequences:
        """The training data as the after-training figures and fit findings evaluate it."""
        return self.whole_train if self.whole_train is not None else self.train

    @property
    def channels(self) -> int:
        return int(self.train.X.shape[2])

    @property
    def channel_names(self) -> list[str] | None:
        """The input channels' names where the data name them (a stream's columns), else None
        (the health check then names a channel by its index)."""
        return list(self.columns) if self.columns and len(self.columns) == self.channels else None

    @property
    def targets(self) -> TargetScale | None:
        """The standardization of regression targets (fitted on the training part); None for classes."""
        return self.train.scale

    def fingerprint(self) -> str:
        """SHA-256 of every split's sequences, labels, lengths and classes, as the model sees
        them: a resumed run checks it trains on the data it started with (same path, new
        content is caught too).

        >>> from rnnlab.config import DataConfig
        >>> a = load_data(DataConfig(dataset="UnitTest"), seed=0).fingerprint()
        >>> a == load_data(DataConfig(dataset="UnitTest"), seed=0).fingerprint(), len(a)
        (True, 64)
        >>> a == load_data(DataConfig(dataset="UnitTest"), seed=1).fingerprint()  # another split
        False
        """
        h = hashlib.sha256()
        for split in (self.train, self.val, self.test):
            if split is None:
                h.update(b"none")
                continue
            for arr in (split.X, split.y, split.lengths):
                h.update(f"{arr.dtype}{arr.shape}".encode())
                h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\x00".join(self.classes).encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def held_out_count(members: int, fraction: float) -> int:
    """How many of a class's ``members`` :func:`stratified_split` holds out: ``fraction`` of
    them rounded, at least one and at most all but one (none of a class of one, none at 0).

    >>> [held_out_count(n, 0.2) for n in (1, 2, 10, 22, 23)]
    [0, 1, 2, 4, 5]
    """
    if fraction <= 0 or members < 2:
        return 0
    return min(max(int(round(fraction * members)), 1), members - 1)


def _warn_hold_out_over_half(held: int, total: int, fraction: float) -> None:
    """Say, once, that ``data.val_fraction`` over one half holds out more of the training split
    than it leaves to train on: the config accepts any fraction below 1 (a large hold-out can be
    meant, to measure a small training part), but a model of few series learns little, and what
    the run then finds reads as the data's fault.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     _warn_hold_out_over_half(114, 120, 0.95)
    >>> print(str(said[0].message))  # doctest: +NORMALIZE_WHITESPACE
    data.val_fraction = 0.95: the hold-out takes 114 of the 120 training sequences, leaving 6 to train on (more
    validated than trained on); the usual value is 0.2 (set data.val_fraction = 0.2): a model trained on 6 series
    learns little, whatever the data hold
    """
    from rnnlab.data.stream import warn_once

    warn_once(f"data.val_fraction = {fraction:g}: the hold-out takes {held} of the {total} training sequences, "
              f"leaving {total - held} to train on (more validated than trained on); the usual value is 0.2 (set "
              f"data.val_fraction = 0.2): a model trained on {total - held} series learns little, whatever the "
              "data hold")


def _warn_large_hold_out(y: np.ndarray, held: np.ndarray, fraction: float) -> None:
    """Say, once, where :func:`stratified_split`'s one series per class took far more than
    ``fraction`` of the classes ``y`` (over 1.5 times it): classes of two lose half their series to
    it, which no error shows (the run trains on what is left).

    >>> import warnings
    >>> y = np.repeat(np.arange(6), 2)
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     _warn_large_hold_out(y, stratified_split(y, 0.2, seed=0)[1], 0.2)
    >>> print(str(said[0].message))  # doctest: +NORMALIZE_WHITESPACE
    data.val_fraction = 0.2: the hold-out took 6 of 12 sequences (0.5), as it takes at least one of every class of
    two or more and 6 classes have 2 (the training part keeps 6 of 12); set data.val_fraction = 0 to train on
    all of them (the run then keeps the last epoch's weights), or give more sequences per class
    """
    from rnnlab.data.stream import warn_once

    if len(y) == 0 or len(held) <= 1.5 * fraction * len(y):
        return
    sizes = np.bincount(np.unique(y, return_inverse=True)[1].ravel())
    forced = sizes[(sizes >= 2) & (np.round(fraction * sizes) < 1)]  # (those held out one only by the minimum)
    if not len(forced):
        return
    counts = f"{forced.min()}" if forced.min() == forced.max() else f"{forced.min()} to {forced.max()}"
    warn_once(f"data.val_fraction = {fraction:g}: the hold-out took {len(held)} of {len(y)} sequences "
              f"({len(held) / len(y):.2g}), as it takes at least one of every class of two or more and {len(forced)} "
              f"classes have {counts} (the training part keeps {len(y) - len(held)} of "
              f"{len(y)}); set data.val_fraction = 0 to train on all of them (the run then keeps the last epoch's "
              "weights), or give more sequences per class")


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out): about ``fraction`` of every class (stratum: ``y`` is
    :meth:`rnnlab.task.Task.strata`) held out, at least one per class with two or more members,
    none of a class of one. :func:`load_data` then returns to training what it needs to hold
    every class (per-step labels: :func:`~rnnlab.data.folds.keep_every_class`).

    >>> keep, out = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=0)
    >>> sorted(np.bincount(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[out]).tolist())
    [1, 1]
    """
    rng = np.random.default_rng(seed)
    held = []
    if fraction > 0:
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            held.append(members[:held_out_count(len(members), fraction)])
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(y)), out)
    return keep, out


def check_ragged(X: np.ndarray, where: str, y_missing: np.ndarray | None = None,
                 y_what: str = "missing targets", zeros: bool = False, labels: bool = True) -> None:
    """Refuse sequences that look padded at the end without ``lengths``, naming the fix: X [N, T, C]
    whose steps with no finite value in any channel (and, per step, targets whose missing steps
    ``y_missing`` [N, T], ``y_what`` saying what they hold: ``"empty labels"``) fill each affected
    sequence from some step to its end. Call it only when no lengths were given (every sequence
    read as T steps long); anything else non-finite is left to the finer checks
    (:func:`~rnnlab.data.checks.check_finite`): a channel NaN to the end while others have values
    there (a dead sensor: no padding), a sequence with no finite value at all (padding leaves at
    least one step). ``zeros``: X read from a file without lengths,
    whose zero padding (:func:`~rnnlab.data.checks.zero_padding`) is refused too, with the way
    to keep those steps if they are real: lengths of T for every sequence (``labels``: whether
    the file holds a ``y``, for the fix's example).

    >>> check_ragged(np.array([[[1.0], [np.nan]], [[2.0], [3.0]]]), "data.path (d.npz)")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: data.path (d.npz): X looks ragged: 1 sequence(s) end in NaN padding (first: sample 0) but no 'lengths' gives the true lengths (each sequence is read as all 2 steps); add lengths [N] with each sequence's true length (the padding past it may then hold anything, NaN included)
    """
    x_bad = ~np.isfinite(X).any(axis=2)  # [N, T]: padding, where every channel of a step is NaN
    if x_bad.all(axis=1).any():
        return  # a sequence without any value: no padding (check_finite names it)
    y_bad = np.zeros_like(x_bad) if y_missing is None else np.asarray(y_missing, dtype=bool)
    bad = x_bad | y_bad
    if not bad.any():
        if zeros:
            from rnnlab.data.checks import check_zero_padding

            check_zero_padding(X, where, labels)
        return
    rows = np.flatnonzero(bad.any(axis=1))
    if not all(bad[i, np.argmax(bad[i]):].all() for i in rows):
        return  # a gap inside a sequence is no padding
    what = {(True, False): "X looks ragged: {n} sequence(s) end in NaN padding",
            (False, True): "y looks ragged: {n} sequence(s) end in " + y_what,
            (True, True): "X and y look ragged: {n} sequence(s) end in NaN in X and " + y_what + " in y"
            }[(bool(x_bad.any()), bool(y_bad.any()))]
    steps = X.shape[1]
    raise DataError(
        f"{where}: {what.format(n=len(rows))} (first: sample {int(rows[0])}) but no 'lengths' gives the true lengths "
        f"(each sequence is read as all {steps} steps); add lengths [N] with each sequence's true length (the padding "
        "past it may then hold anything, NaN included)"
    )


def _user_targets(path: str, cfg: DataConfig, where: str, k: int | None) -> Sequences:
    """A regression file: X and float targets y [N, K] (``k``: the training file's K)."""
    target = cfg.target_column if cfg.target_column is not None else "target"
    columns = [target] if isinstance(target, str) else list(target)
    X, y, lengths = load_file(path, columns, where)
    if path.lower().endswith(".npz") and lengths.min(initial=X.shape[1]) == X.shape[1]:
        check_ragged(X, f"{where} ({path})")
    y = check_targets(y, f"{where} ({path})", X.shape[1])
    check_shapes(X, y, lengths, f"{where} ({path})", values=True)
    check_finite(X, lengths, f"{where} ({path})")
    check_lone_values(X, lengths, f"{where} ({path})")
    if cfg.target_column is not None and path.lower().endswith(".npz"):
        check_named_targets(columns, y, path, where)
    if k is not None and y.shape[1] != k:
        raise DataError(f"{where} ({path}): expected {k} target value(s) per sequence like the training file "
                        f"(y [N, {k}]), got {y.shape[1]} (y {list(y.shape)})")
    return Sequences(X, y, lengths, [])


def _user_sequences(path: str, label_column: str, where: str, classes: list[str] | None) -> Sequences:
    """A classification file: X and class labels (``classes``: the training file's, which a test
    file's labels must be among; None for the training file itself)."""
    from rnnlab.data.per_step import whole_number_labels

    # (0.0 and 0 one class, "0", in the training and the test file alike)
    X, y, lengths = load_file(path, label_column, where)
    y = whole_number_labels(y)
    if path.lower().endswith(".npz") and lengths.min(initial=X.shape[1]) == X.shape[1]:
        check_ragged(X, f"{where} ({path})")
    # a test file may hold a single class (one the training file has: checked below); the
    # training file needs two, or there is nothing to tell apart
    check_labels(y, f"{where} ({path})", min_classes=2 if classes is None else 1)
    assert y is not None
    check_shapes(X, y, lengths, f"{where} ({path})")
    check_finite(X, lengths, f"{where} ({path})")
    check_lone_values(X, lengths, f"{where} ({path})")
    from rnnlab.data.bundled import encode_labels, label_order

    if classes is None:
        check_not_regression(y, f"{where} ({path})")
        classes = label_order(y)
    unknown = sorted({str(v) for v in y} - set(classes))
    if unknown:
        raise DataError(f"{where} ({path}): labels {unknown[:5]} do not occur in the training file (classes {classes})")
    return Sequences(X, encode_labels(y, classes), lengths, classes)


def _check_separate(path: str, test_path: str) -> None:
    """The test file must not be the training file (by any path to it): its figures (accuracy, RMSE,
    whatever the task scores) would be measured on training data."""
    import os

    try:
        same = os.path.samefile(path, test_path)
    except OSError:  # a missing file: the loader names it
        same = False
    if same:
        raise DataError(f"data.test_path ({test_path}) is the same file as data.path ({path}): the test figures "
                        "would be measured on training data; give a separate test file, or leave test_path unset")
    if _same_bytes(path, test_path):
        raise DataError(f"data.test_path ({test_path}) holds the same bytes as data.path ({path}), a copy of it: the "
                        "test figures would be measured on training data; give a separate test file, or leave "
                        "test_path unset")


def _same_bytes(path: str, other: str) -> bool:
    """Whether two files hold the same bytes (a training file exported again under another name);
    False where either cannot be read (the loader names it)."""
    import filecmp

    try:
        return filecmp.cmp(path, other, shallow=False)
    except OSError:
        return False


def _user_data(path: str, cfg: DataConfig, where: str, task: Task, train: Sequences | None) -> Sequences:
    """A user file read as ``task`` reads its targets (``train``: the training file's sequences,
    which a test file must match)."""
    if task.per_step:
        from rnnlab.data.per_step import per_step_sequences

        return per_step_sequences(path, where, task, train)
    if task.kind == "regression":
        return _user_targets(path, cfg, where, train.y.shape[1] if train is not None else None)
    return _user_sequences(path, cfg.label_column, where, train.classes if train is not None else None)


def _check_bundled_task(name: str, task: Task) -> None:
    held = bundled_task(name)
    if held != task.name:
        what = {"regression": "target values (a regression problem)", "classification": "class labels",
                "per-step-classification": "a label at every step",
                "per-step-regression": "values at every step"}[held]
        kind, per_step = held.removeprefix("per-step-"), held.startswith("per-step-")
        raise DataError(f"data.dataset {name!r}: holds {what}, expected data for [task] kind = {task.kind!r}, "
                        f"per_step = {str(task.per_step).lower()}; set [task] kind = {kind!r}, "
                        f"per_step = {str(per_step).lower()}")


def load_data(cfg: DataConfig, seed: int, fold: Fold | None = None, task: Task = CLASSIFICATION) -> DataSplits:
    """Load, check, split (``cfg.val_fraction``, seeded) and normalise (fit on train only);
    ``task`` says what the targets are and how the split is stratified
    (:meth:`~rnnlab.task.Task.strata`). For classes, the training part keeps every class of the
    training split (:func:`~rnnlab.data.folds.keep_every_class`): per step, a class that a single
    sequence holds stays in training, never in validation.

    With ``fold``, the validation part is that fold of the training split (instead of
    ``cfg.val_fraction``), the normalisation is fitted on the rest, and the test split is left
    out (``test`` is None): a search scores configurations without ever seeing it.

    >>> d = load_data(DataConfig(dataset="GunPoint"), seed=0, fold=Fold(k=5, index=0, seed=0))
    >>> len(d.train), len(d.val), d.test is None
    (40, 10, True)

    A stream task (``task.stream``) reads long series instead (:func:`rnnlab.data.stream.load_stream`).
    """
    if task.kind == "language_model":
        from rnnlab.data.text import load_text

        return load_text(cfg, fold)
    if task.stream:
        from rnnlab.data.stream import load_stream

        return load_stream(cfg, seed, fold, task)
    regression = task.kind == "regression"
    if cfg.dataset is not None:
        name = cfg.dataset
        train_full, test = load_bundled(name)
        _check_bundled_task(name, task)
        for split, part in (("train", train_full), ("test", test)):
            check_finite(part.X, part.lengths, f"data set {name} ({split} split)")
    else:
        assert cfg.path is not None
        name = cfg.path
        train_full = _user_data(cfg.path, cfg, "data.path", task, None)
        train_keys = check_repeated_series(train_full, cfg.path)  # (its digests, taken once: the test file's too)
        test = None
        # (a fold's run, of a search or recipe, never loads the test file: a problem of it must not
        # stop the runs that choose, nor their --no-final)
        if cfg.test_path is not None and fold is None:
            _check_separate(cfg.path, cfg.test_path)
            test = _user_data(cfg.test_path, cfg, "data.test_path", task, train_full)
            if test.X.shape[2] != train_full.X.shape[2]:
                raise DataError(
                    f"data.test_path ({cfg.test_path}): expected {train_full.X.shape[2]} channels like "
                    f"the training file, got {test.X.shape[2]}"
                )
            check_test_overlap(train_full, test, cfg.path, cfg.test_path, train_keys)
    classes = train_full.classes
    check_nonempty(len(train_full), "training data")
    strata = task.strata(train_full.y)
    present = task.classes_held(train_full.y)
    if fold is not None:  # (the one rule a search's folds are counted by, too)
        held = validation_indices(strata, present, fold)
    else:
        held = stratified_split(strata, cfg.val_fraction, seed)[1]
        held = held if present is None else keep_every_class(held, present)
    keep = np.setdiff1d(np.arange(len(train_full)), held)
    if fold is not None:
        test = None
    train, val = train_full.subset(keep), train_full.subset(held)
    after = (f" after holding out data.val_fraction={cfg.val_fraction} for validation" if fold is None
             else f" after holding out fold {fold.index + 1} of {fold.k}")
    check_nonempty(len(train), "training split", after)
    if fold is not None:
        check_nonempty(len(val), "validation split", f": fold {fold.index + 1} of {fold.k} holds no series")
    elif cfg.val_fraction > 0:
        singles = not regression and not task.per_step and len(np.unique(train_full.y)) == len(train_full)
        check_nonempty(len(val), "validation split",
                       f": data.val_fraction={cfg.val_fraction} of {len(train_full)} sequences holds none out"
                       + ("; every class has a single sequence: set data.val_fraction = 0 to train on all of them "
                          "(the run then keeps the last epoch's weights); if y holds values to predict, set [task] "
                          "kind = \"regression\"; if they are class labels, give more sequences per class" if singles
                          else "; raise it (or set it to 0 to train without a validation split)"))
        if cfg.val_fraction > 0.5:
            _warn_hold_out_over_half(len(held), len(train_full), cfg.val_fraction)
        elif task.kind == "classification" and not task.per_step:
            _warn_large_hold_out(strata, held, cfg.val_fraction)
    scale = None
    if regression:
        scale = TargetScale.fit(train.y)
        constant = np.flatnonzero(scale.std == 0)
        if len(constant):
            where = f"data.path ({cfg.path})" if cfg.path is not None else f"data.dataset ({cfg.dataset})"
            if len(train) == 1 and not task.per_step:  # (the file's targets vary: the hold-out left one)
                raise DataError(f"{where}, training split: holds 1 of the {len(train_full)} sequences{after}: one value "
                                "of each target, nothing to learn from or to standardize by; expected at least 2 "
                                "(give more sequences" + (", or set data.val_fraction = 0 to train on all of them)"
                                                          if fold is None else ")"))
            raise DataError(f"{where}, training split: target {int(constant[0])} has the same value "
                            f"({scale.mean[constant[0]]:g}) for every {'step' if task.per_step else 'sequence'}; "
                            "expected targets that vary")
    elif len(np.unique(train.y[train.y >= 0])) < 2:  # per step, without the padding's PAD_LABEL
        raise DataError(f"training split: expected at least 2 classes, got {len(np.unique(train.y[train.y >= 0]))}")
    if test is not None:
        check_nonempty(len(test), "test split")

    inputs = InputScaling.fit(cfg.normalize, cfg.series_scale, train.X, train.lengths)
    if test is not None and cfg.test_path is not None:  # (a user's test file: its channels are matched by position)
        # (its series shorter than every training series left out and said, as rnnlab predict's)
        inputs.check_channels(test.X, test.lengths, f"data.test_path ({cfg.test_path})", per_step=task.per_step)

    # (values far beyond float32 among ordinary ones were refused as each file was read: check_lone_values)
    hint = {"per_channel": "rescale the data (per-channel statistics come from the training split)",
            "per_series": "rescale the data",
            "none": "divide X by a constant that brings it within float32's range (data.normalize = \"none\" feeds "
                    "the values as they are)"}[cfg.normalize]
    source = (f"data.dataset ({cfg.dataset})" if cfg.dataset is not None else f"data.path ({cfg.path})")

    def scaled(s: Sequences, split: str) -> Sequences:
        # (as the other data errors: the key and file first; a user's test file by its own key)
        where = f"data.test_path ({cfg.test_path}), {split}" if split == "test split" and cfg.test_path else \
            f"{source}, {split}"
        X = inputs.apply(s.X, s.lengths)
        check_float32_range(X, s.lengths, where + (" after normalisation" if cfg.normalize != "none" else ""), hint)
        y = s.y
        if scale is not None:
            y = scale.apply(s.y)
            over = np.isinf(y) & np.isfinite(s.y)
            if over.any():
                i = [int(v) for v in np.argwhere(over)[0]]
                k = i[-1]
                raise DataError(f"{where}: target y{i} = {s.y[tuple(i)]:g} is beyond float32 after "
                                f"standardization by the training part (mean {scale.mean[k]:g}, std {scale.std[k]:g}): "
                                "expected targets within 3.4e38 stds of the training part's mean")
        return Sequences(X.astype(np.float32), y, s.lengths, s.classes, scale)

    return DataSplits(name, scaled(train, "training split"), scaled(val, "validation split"),
                      scaled(test, "test split") if test is not None else None, classes, inputs.stats, inputs)

