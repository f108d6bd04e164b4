"""What a trained run fitted on its training part, and the model it evaluated, as ``rnnlab
predict``, the report's prediction pictures and ``rnnlab tensorboard`` restore them.

One record (:class:`RunFit`, kept in every checkpoint under ``RUN_FIT_KEY``) holds what the run
fitted on its training part and what building its model needs: the input scaling, the classes in
the order of the head's logits, the targets' standardization, the model's input and output widths,
for a forecaster the reference forecast it learned corrections to and the digest of its training
block (:class:`StreamFit`), and for a language model its vocabulary and tokenization
(:class:`TextFit`). With it, predicting and sampling neither need nor follow ``data.path`` after
training. A run trained before checkpoints kept it fits it again from ``data.path``, as it
always did, and says in one line that it needs that file when it is gone (:func:`run_fit`).

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> from rnnlab.train.trainer import train
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nhidden_size = 4\\n[training]\\nepochs = 1\\n'
    ...                    '[tracking]\\nenabled = false')
    >>> run = train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir
    >>> fit, model, checkpoint = fitted_model(RunDir(run), cfg, task_for(cfg))
    >>> fit.classes, fit.channels, fit.outputs, model.training, checkpoint.name
    (['1', '2'], 1, 2, False, 'last.pt')
"""

from __future__ import annotations

import hashlib
import os
import typing
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from rnnlab.errors import CheckpointError, DataError, RunDirError
from rnnlab.rundir import RunDir

if typing.TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.data import DataSplits, Fold, InputScaling
    from rnnlab.data.text import TextData, Vocabulary
    from rnnlab.task import TargetScale, Task

#: The checkpoint's key for what the run fitted on its training part (:class:`RunFit`).
RUN_FIT_KEY = "run_fit"
_REFERENCES = ("none", "naive", "seasonal_naive")


def evaluated_checkpoint(run: RunDir, config: Config, doing: str = "predict with", say: bool = True) -> Path:
    """The checkpoint of the weights the run evaluated (its test figures are theirs): its best
    when early stopping kept one, else its last. Where that one is missing or damaged and the
    other is intact, the other, said in one warning (``say``) naming both; a one-line error
    naming what it was wanted to ``doing`` when there is no checkpoint at all, or that of the
    damaged one when neither is intact.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> evaluated_checkpoint(RunDir(tempfile.mkdtemp()), parse_config('[data]\\ndataset = "UnitTest"'))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...: no checkpoint to predict with (expected ...last.pt); train the run first
    """
    from rnnlab.train.checkpoint import load_checkpoint

    use_best = config.training.early_stopping.patience > 0 and (run.best_checkpoint.exists() or _best_evaluated(run))
    path = run.best_checkpoint if use_best else run.last_checkpoint
    other = run.last_checkpoint if use_best else run.best_checkpoint
    if not path.exists() and not other.exists():
        raise RunDirError(f"{run.path}: no checkpoint to {doing} (expected {path}); train the run first")
    errors: list[CheckpointError] = []
    for candidate in (path, other):
        if not candidate.exists():
            continue
        try:
            epoch = load_checkpoint(candidate)["epoch"]
        except CheckpointError as e:
            errors.append(e)
            continue
        if candidate != path and say:
            why = "is missing" if not path.exists() else "is damaged"
            warnings.warn(f"{run.path}: {path.name}, the checkpoint the run evaluated, {why}: using {candidate.name} "
                          f"(epoch {epoch}) to {doing}; its predictions are not those of the run's test figures",
                          UserWarning, stacklevel=2)
        return candidate
    raise errors[0]


def _best_evaluated(run: RunDir) -> bool:
    """Whether the finished run's summary records a best epoch, whose weights (best.pt) early
    stopping evaluated; False where it records none or cannot be read."""
    try:
        summary = run.read_summary()
    except RunDirError:
        return False
    return summary is not None and summary.get("best_epoch") is not None


def guard_kept(run: RunDir) -> bool:
    """False when the run's mean guard (``summary.json``; a final run's: the decision it carried
    from its fold runs) chose the training mean (a forecaster: its reference forecast) over the
    model; True otherwise, a run without a guard included.

    >>> import tempfile
    >>> guard_kept(RunDir(tempfile.mkdtemp()))  # no summary.json: no guard's decision
    True
    """
    guard = (run.read_summary() or {}).get("mean_guard")
    return not isinstance(guard, dict) or bool(guard.get("kept", True))


@dataclass(frozen=True, eq=False)
class StreamFit:
    """What a forecaster fitted on its training block besides its scaling: the ``reference``
    forecast (``relative_to = "auto"`` resolved), each series' training-block length
    ``train_steps`` and the SHA-256 of those steps (float64), which tells whether ``data.path``
    still begins with them, and each series' length ``series_steps`` when the run trained (its
    validation and test blocks end there, whatever was appended since).

    ``step_crc32`` (one CRC-32 per training step of each series) names the steps that changed;
    records written before it have None, and say only that the block differs. ``columns``: the
    names of the series' channels (a ``.csv``'s value columns), with which ``rnnlab predict RUN
    --data FILE`` reads FILE without ``data.path``; None in records written before.

    >>> x = np.array([[1.0], [3.0], [5.0], [7.0]])
    >>> fit = StreamFit.of([x], [3], "naive")
    >>> y = x.copy(); y[1] = 4.0
    >>> fit.changed_in([x]), fit.changed_in([y]), fit.changed_in([x[:1]]), fit.series_steps
    (None, 'series 0 differs at step 1: 1 of its 3 training steps changed', "series 0 has 1 steps, fewer than the 3 of the run's training block", (4,))
    """

    reference: str
    train_steps: tuple[int, ...]
    train_sha256: str
    series_steps: tuple[int, ...]
    step_crc32: tuple[np.ndarray, ...] | None = None
    columns: tuple[str, ...] | None = None

    @classmethod
    def of(cls, values: list[np.ndarray], train_steps: list[int], reference: str,
           columns: list[str] | None = None) -> StreamFit:
        """The record of a run whose series are ``values`` (each [L, C]) and training blocks their
        first ``train_steps``, their channels named ``columns``."""
        return cls(reference, tuple(int(n) for n in train_steps), _digest(values, train_steps),
                   tuple(len(x) for x in values), tuple(_step_crc32(x, n) for x, n in zip(values, train_steps)),
                   None if columns is None else tuple(columns))

    def state(self) -> dict[str, Any]:
        """As a checkpoint holds it: strings, numbers and integer tensors."""
        return {"reference": self.reference, "train_steps": list(self.train_steps), "train_sha256": self.train_sha256,
                "series_steps": list(self.series_steps),
                **({"step_crc32": [torch.from_numpy(c) for c in self.step_crc32]} if self.step_crc32 is not None
                   else {}),
                **({"columns": list(self.columns)} if self.columns is not None else {})}

    @classmethod
    def from_state(cls, state: Any) -> StreamFit:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected."""
        if not isinstance(state, dict):
            raise ValueError(f"expected a dict of the reference and training block, got {type(state).__name__}")
        if state.get("reference") not in _REFERENCES:
            raise ValueError(f"'reference': expected one of {list(_REFERENCES)}, got {state.get('reference')!r:.40}")
        steps = state.get("train_steps")
        if not isinstance(steps, list) or not steps or not all(type(n) is int and n > 0 for n in steps):
            raise ValueError(f"'train_steps': expected a list of positive step counts, got {steps!r:.60}")
        digest = state.get("train_sha256")
        if not (isinstance(digest, str) and len(digest) == 64):
            raise ValueError(f"'train_sha256': expected a SHA-256 hex digest, got {digest!r:.70}")
        lengths = state.get("series_steps")
        if not (isinstance(lengths, list) and len(lengths) == len(steps)
                and all(type(n) is int and n >= t for n, t in zip(lengths, steps, strict=True))):
            raise ValueError(f"'series_steps': expected each series' length, at least its training block's "
                             f"{steps!r:.40}, got {lengths!r:.60}")
        crc = state.get("step_crc32")
        if crc is not None and not (isinstance(crc, list) and len(crc) == len(steps) and all(
                isinstance(c, torch.Tensor) and c.dtype == torch.int64 and tuple(c.shape) == (n,)
                for c, n in zip(crc, steps, strict=True))):
            raise ValueError(f"'step_crc32': expected one int64 tensor of {steps!r:.40} checksums per series")
        columns = state.get("columns")
        if columns is not None and not (isinstance(columns, list) and columns and all(isinstance(c, str) for c in columns)):
            raise ValueError(f"'columns': expected the names of the series' channels, got {columns!r:.60}")
        return cls(state["reference"], tuple(steps), digest, tuple(lengths),
                   None if crc is None else tuple(c.numpy().copy() for c in crc),
                   None if columns is None else tuple(columns))

    def changed_in(self, values: list[np.ndarray]) -> str | None:
        """How the series ``values`` differ from the run's in its training blocks, or None when
        they begin with them (steps after the training block may differ or be added)."""
        if len(values) != len(self.train_steps):
            return f"it holds {len(values)} series, the run trained on {len(self.train_steps)}"
        for i, (x, n) in enumerate(zip(values, self.train_steps, strict=True)):
            if len(x) < n:
                return f"series {i} has {len(x)} steps, fewer than the {n} of the run's training block"
        if _digest(values, list(self.train_steps)) == self.train_sha256:
            return None
        if self.step_crc32 is not None:
            for i, (x, n, crc) in enumerate(zip(values, self.train_steps, self.step_crc32, strict=True)):
                changed = np.flatnonzero(_step_crc32(x, n) != crc)
                if len(changed):
                    return f"series {i} differs at step {changed[0]}: {len(changed)} of its {n} training steps changed"
        if len(values) == 1:
            return f"series 0 differs in its first {self.train_steps[0]} steps"
        return f"its series differ in their first {', '.join(map(str, self.train_steps))} steps"


def _step_crc32(x: np.ndarray, n: int) -> np.ndarray:
    """The CRC-32 of each of the first ``n`` steps of ``x`` [L, C] (its float64 bytes), int64 [n]."""
    rows = np.ascontiguousarray(x[:n], dtype=np.float64).reshape(n, -1)
    return np.fromiter((zlib.crc32(r.tobytes()) for r in rows), dtype=np.int64, count=n)


def _digest(values: list[np.ndarray], train_steps: list[int]) -> str:
    h = hashlib.sha256()
    for x, n in zip(values, train_steps, strict=True):
        part = np.ascontiguousarray(x[:n], dtype=np.float64)
        h.update(f"{part.shape}".encode())
        h.update(part.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class TextFit:
    """What a language model fitted on its training text: its ``vocab`` (the tokens in the order
    of the head's logits, ``<unk>`` first, and their joiner), the ``tokens`` the text was cut
    into (``"char"`` or ``"word"``: how a prompt is read), how many training tokens were unknown
    (``unknown_train``: whether the model ever read ``<unk>``) and the token id ``start`` that
    sampling without a prompt begins with (where a line starts, else the training text's first).
    Encoding a prompt and decoding samples need nothing else, so not the text.

    >>> from rnnlab.config import DataConfig
    >>> from rnnlab.data.text import split_text
    >>> fit = TextFit.of(split_text("to be or\\nnot", DataConfig(dataset="python-docs", tokens="word",
    ...                  val_fraction=0.0, test_fraction=0.0)))
    >>> fit.vocab.tokens, fit.tokens, fit.unknown_train, fit.start
    (('<unk>', '<eos>', 'be', 'not', 'or', 'to'), 'word', 0, 1)
    >>> TextFit.from_state(fit.state()).vocab == fit.vocab
    True
    """

    vocab: Vocabulary
    tokens: str
    unknown_train: int
    start: int

    @classmethod
    def of(cls, text: TextData) -> TextFit:
        """The record of a language model's split text (:func:`rnnlab.data.text.split_text`)."""
        from rnnlab.data.text import EOS

        tokens = "word" if text.vocab.joiner else "char"
        line_start = text.vocab.index.get(EOS if tokens == "word" else "\n")
        return cls(text.vocab, tokens, int(text.unknown.get("train", 0)),
                   line_start if line_start is not None else int(text.train[0]))

    def state(self) -> dict[str, Any]:
        """As a checkpoint holds it: strings, numbers and a list of strings."""
        return {"vocab": self.vocab.state(), "tokens": self.tokens, "unknown_train": self.unknown_train,
                "start": self.start}

    @classmethod
    def from_state(cls, state: Any) -> TextFit:
        """Read :meth:`state` back, checked: anything else is a ValueError saying what was expected."""
        from rnnlab.data.text import TOKENS, Vocabulary

        if not isinstance(state, dict):
            raise ValueError(f"expected a dict of the vocabulary and tokenization, got {type(state).__name__}")
        try:
            vocab = Vocabulary.from_state(state.get("vocab"))
        except ValueError as e:
            raise ValueError(f"'vocab': {e}") from None
        tokens = state.get("tokens")
        if tokens not in TOKENS or vocab.joiner != (" " if tokens == "word" else ""):
            raise ValueError(f"'tokens': expected {'word' if vocab.joiner else 'char'!r} (the vocabulary's joiner is "
                             f"{vocab.joiner!r}), got {tokens!r:.40}")
        unknown, start = state.get("unknown_train"), state.get("start")
        if not (type(unknown) is int and unknown >= 0):
            raise ValueError(f"'unknown_train': expected a count of tokens >= 0, got {unknown!r:.40}")
        if not (type(start) is int and 0 <= start < vocab.size):
            raise ValueError(f"'start': expected a token id in [0, {vocab.size}), got {start!r:.40}")
        return cls(vocab, tokens, unknown, start)


@dataclass(frozen=True, eq=False)
class RunFit:
    """What a run fitted on its training part and its model's shape: the ``inputs`` scaling (with
    what new series' channels are checked by: the training series' level and scale, and their
    shortest and longest length and count, :class:`rnnlab.data.normalize.TrainLengths`, absent from
    records written before: optional when read), the ``classes`` in the order of the head's logits (none for values), the ``targets``'
    standardization (regression; else None), the ``channels`` of the model's input (with
    ``data.series_scale``, each channel's level and scale besides), the ``outputs`` of its head,
    for a forecaster its ``stream`` record (:class:`StreamFit`; else None) and for a language
    model its ``text`` record (:class:`TextFit`: its vocabulary, whose tokens are its
    ``classes``; else None). The run's checkpoints keep it (``RUN_FIT_KEY``).

    >>> from rnnlab.config import DataConfig
    >>> from rnnlab.data import load_data
    >>> from rnnlab.task import CLASSIFICATION
    >>> fit = RunFit.of(load_data(DataConfig(dataset="UnitTest"), seed=0), CLASSIFICATION)
    >>> back = RunFit.from_state(fit.state(), "last.pt", CLASSIFICATION)  # as a checkpoint keeps it
    >>> back.classes, back.channels, back.outputs, back.inputs.stats.mean.tolist() == fit.inputs.stats.mean.tolist()
    (['1', '2'], 1, 2, True)
    >>> back.inputs.train_lengths  # the training part's series: 24 steps each
    TrainLengths(shortest=24, longest=24, count=16)
    """

    inputs: InputScaling
    classes: list[str]
    targets: TargetScale | None
    channels: int
    outputs: int
    stream: StreamFit | None = None
    text: TextFit | None = None

    @property
    def raw_channels(self) -> int:
        """The channels per step of the series the run reads (before the scaling adds any)."""
        return len(self.inputs.stats.mean)

    @classmethod
    def of(cls, data: DataSplits, task: Task, stream: StreamFit | None = None) -> RunFit:
        """The record of ``data`` (:func:`rnnlab.data.load_data`'s) for a run of ``task``: the
        model's shape as the trainer builds it (a forecaster's targets are its channels, scaled
        as its inputs: no standardization of their own to keep); a language model's with its
        vocabulary (:class:`TextFit`)."""
        targets = None if task.kind == "forecasting" else data.targets
        text = TextFit.of(data.text) if task.kind == "language_model" and data.text is not None else None
        return cls(data.inputs, list(data.classes), targets, data.channels,
                   task.head_width(data.classes, data.train.y), stream, text)

    def state(self) -> dict[str, Any]:
        """As a checkpoint holds it: tensors (of the arrays' own dtypes: every bit kept), numbers,
        strings and None only (``weights_only=True``)."""
        targets = None if self.targets is None else {"mean": torch.from_numpy(np.array(self.targets.mean)),
                                                     "std": torch.from_numpy(np.array(self.targets.std))}
        return {"inputs": self.inputs.state(), "classes": list(self.classes), "targets": targets,
                "channels": self.channels, "outputs": self.outputs,
                "stream": None if self.stream is None else self.stream.state(),
                "text": None if self.text is None else self.text.state()}

    @classmethod
    def from_state(cls, state: Any, path: str | os.PathLike[str], task: Task) -> RunFit:
        """Read :meth:`state` back from the checkpoint at ``path`` of a ``task`` run, checked:
        anything else is a one-line :class:`CheckpointError` naming the file and the key."""
        from rnnlab.data import InputScaling
        from rnnlab.task import TargetScale

        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"checkpoint {path}: '{RUN_FIT_KEY}': {what}")

        if not isinstance(state, dict):
            raise bad(f"expected a dict of the run's scaling, classes and targets, got {type(state).__name__}")
        try:
            inputs = InputScaling.from_state(state.get("inputs"))
        except ValueError as e:
            raise bad(f"'inputs': {e}") from None
        classes, targets, channels, outputs = (state.get(k) for k in ("classes", "targets", "channels", "outputs"))
        # (a language model's vocabulary may hold <unk> alone: its text is checked with its record below)
        least = 0 if task.values else 1 if task.kind == "language_model" else 2
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)
                and len(set(classes)) == len(classes) and len(classes) >= least):
            raise bad(f"expected 'classes' a list of distinct class names (none for values), got {classes!r:.80}")
        scale: TargetScale | None = None
        if task.values and task.kind != "forecasting":
            mean, std = (targets.get("mean"), targets.get("std")) if isinstance(targets, dict) else (None, None)
            if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and mean.is_floating_point()
                    and mean.ndim == 1 and mean.shape == std.shape and len(mean) and bool((std > 0).all())):
                raise bad("expected 'targets' {mean, std} as float tensors of one value per target, std > 0")
            scale = TargetScale(mean.numpy().copy(), std.numpy().copy())
        elif targets is not None:
            raise bad(f"expected no 'targets' for a {task.name} run, got {type(targets).__name__}")
        width = len(inputs.stats.mean) * (1 if inputs.series_scale is None else 3)  # (+ a level and a scale each)
        if not (type(channels) is int and channels == width):
            raise bad(f"expected 'channels' {width} (the input scaling's), got {channels!r:.40}")
        if task.kind == "forecasting":  # (each channel, task.horizon steps ahead)
            head, per = width * task.horizon, "channel and step ahead"
        else:
            head, per = (len(scale.mean), "target") if scale is not None else (len(classes), "class")
        if not (type(outputs) is int and outputs == head):
            raise bad(f"expected 'outputs' {head} (one per {per}), got {outputs!r:.40}")
        stream = state.get("stream")
        if task.kind == "forecasting":
            try:
                stream = StreamFit.from_state(stream)
            except ValueError as e:
                raise bad(f"'stream': {e}") from None
        elif stream is not None:
            raise bad(f"expected no 'stream' for a {task.name} run, got {type(stream).__name__}")
        text = state.get("text")
        if task.kind == "language_model":
            try:
                text = TextFit.from_state(text)
            except ValueError as e:
                raise bad(f"'text': {e}") from None
            if list(text.vocab.tokens) != classes:  # (the head's logits are the vocabulary's ids)
                raise bad(f"'text': expected the vocabulary of 'classes' ({len(classes)} tokens, in the order of the "
                          f"head's logits), got {text.vocab.size} tokens that differ")
        elif text is not None:
            raise bad(f"expected no 'text' for a {task.name} run, got {type(text).__name__}")
        return cls(inputs, classes, scale, channels, outputs, stream, text)

    def applied_to(self, data: DataSplits) -> DataSplits:
        """A forecaster's ``data`` (fitted again from the run's file) with this record's scaling
        and reference; any other run's ``data`` as it is."""
        if self.stream is None:
            return data
        return replace(data, stats=self.inputs.stats, inputs=self.inputs, reference=self.stream.reference)


def run_fit_state(config: Config, fold: Fold | None, data: DataSplits, task: Task) -> dict[str, Any]:
    """The :class:`RunFit` state a run's checkpoints keep (``RUN_FIT_KEY``), fitted on ``data``
    (:func:`rnnlab.data.load_data`'s, on ``fold``'s training part or the run's); a forecaster's
    with the digest of that block of ``config.data``'s series, a language model's with the
    vocabulary of its training text (``data.text``).

    >>> from rnnlab.config import parse_config
    >>> from rnnlab.data import load_data
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\nseason = 12\\nrelative_to = "auto"\\n[data]\\ndataset = "Airline"\\nbptt = 24')
    >>> kept = run_fit_state(cfg, None, load_data(cfg.data, seed=0, task=task_for(cfg)), task_for(cfg))
    >>> kept["stream"]["reference"], kept["stream"]["train_steps"], [round(v) for v in kept["inputs"]["stats"]["mean"].tolist()]
    ('seasonal_naive', [92], [210])
    """
    stream = None
    if task.kind == "forecasting":
        from rnnlab.data.stream import read_series, split_bounds

        series = read_series(config.data)
        values = series.values
        stream = StreamFit.of(values, [split_bounds(len(x), config.data, fold).train for x in values], data.reference,
                              list(series.columns))
    return RunFit.of(data, task, stream).state()


def run_fit(run: RunDir, config: Config, task: Task, path: Path, needed_for: str,
            data: DataSplits | None = None) -> RunFit:
    """The :class:`RunFit` the checkpoint at ``path`` of ``run`` kept; for a run trained before
    checkpoints kept it, fitted again on ``data`` (the run's, when the caller has read it) or on
    ``data.path``'s training part, with a one-line error naming ``needed_for`` when that file is
    gone.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"')
    >>> run_fit(RunDir(tempfile.mkdtemp()), cfg, task_for(cfg), Path("nowhere.pt"), "predicting")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.CheckpointError: checkpoint 'nowhere.pt' does not exist...
    """
    from rnnlab.data import load_data
    from rnnlab.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)  # (again in model_from_checkpoint, for the weights)
    if RUN_FIT_KEY in state:
        return RunFit.from_state(state[RUN_FIT_KEY], path, task)
    if data is None:
        require_training_file(run, config, task, path, needed_for)
        # (fitted on the training file alone: a test file is not needed)
        data = load_data(config.data.model_copy(update={"test_path": None}), seed=config.training.seed, task=task)
    fit = RunFit.of(data, task)
    # (the channels' figures of data.path as it is now, maybe not what the run trained on: no check by them;
    # its lengths not the record's either: rnnlab.train.predict.training_lengths reads them as the run did)
    return replace(fit, inputs=replace(fit.inputs, levels=None, train_lengths=None))


def require_training_file(run: RunDir, config: Config, task: Task, path: Path, needed_for: str) -> None:
    """For a run whose checkpoint at ``path`` keeps no :class:`RunFit` (trained before checkpoints
    kept it): a one-line error saying that ``needed_for`` needs its training file at
    ``data.path``, and why, when that file is gone; nothing when it is there (or the run reads a
    bundled data set).

    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[task]\\nkind = "language_model"\\n[data]\\npath = "/gone/t.txt"')
    >>> require_training_file(RunDir("runs/lm"), cfg, task_for(cfg), Path("runs/lm/checkpoints/last.pt"), "sampling")
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: runs/lm: its checkpoint last.pt keeps no record of its vocabulary (a run trained before checkpoints kept it), so sampling needs its text at data.path (/gone/t.txt), which does not exist: restore it there, or train the run again
    """
    given = config.data.path
    if given is None or Path(given).exists():
        return
    if task.kind == "language_model":
        kept, needs = "its vocabulary", "its text"
    else:
        kept, needs = "the scaling, classes and model shape fitted on its data", "its training file"
    raise RunDirError(f"{run.path}: its checkpoint {path.name} keeps no record of {kept} (a run trained before "
                      f"checkpoints kept it), so {needed_for} needs {needs} at data.path ({given}), which does not "
                      "exist: restore it there, or train the run again")


def model_of(run: RunDir, config: Config, task: Task, fit: RunFit, path: Path) -> torch.nn.Module:
    """The model ``config`` builds in the shape ``fit`` records, with the weights of the
    checkpoint at ``path``; a one-line error when they are another model's. In training mode,
    as built."""
    from rnnlab.train.checkpoint import model_from_checkpoint

    try:
        return model_from_checkpoint(config, fit, task, path)
    except RuntimeError as e:  # load_state_dict: weights of another model than config.toml describes
        reason = (str(e).strip().splitlines()[1:2] or [str(e)])[0].strip()
        raise CheckpointError(f"checkpoint {path} does not fit the model {run.config} describes "
                              f"({reason[:160]}{'...' if len(reason) > 160 else ''})") from None


class FittedModel(NamedTuple):
    """What :func:`fitted_model` gives: the run's ``fit`` (:class:`RunFit`), its ``model`` and the
    ``checkpoint`` whose weights it holds (:func:`evaluated_checkpoint`'s choice)."""

    fit: RunFit
    model: torch.nn.Module
    checkpoint: Path


def fitted_model(run: RunDir, config: Config, task: Task, data: DataSplits | None = None) -> FittedModel:
    """What the run predicts with: the :class:`RunFit` of the checkpoint it evaluated
    (:func:`evaluated_checkpoint`; :func:`run_fit`, with ``data`` for a run from before the record),
    that checkpoint's model, in eval mode, predicting the training mean (a forecaster: its
    reference forecast) where the run's mean guard chose it: of every target, or of those of K > 1
    it names in ``at_mean``, and that checkpoint's path (chosen once: no caller reads it again).

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"')
    >>> fitted_model(RunDir(tempfile.mkdtemp()), cfg, task_for(cfg))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...: no checkpoint to predict with (expected ...last.pt); train the run first
    """
    from rnnlab.train.final import recorded_guard
    from rnnlab.train.mean_guard import predict_the_mean

    path = evaluated_checkpoint(run, config)
    fit = run_fit(run, config, task, path, "predicting", data)
    model = model_of(run, config, task, fit, path)
    if not guard_kept(run):  # what the run reported after its guard: so do its predictions
        predict_the_mean(model)
    else:
        # (K > 1 targets decided one by one; the run's own guard's record, or the decision a final run
        # carried from its fold runs')
        block = (run.read_summary() or {}).get("mean_guard")
        if isinstance(block, dict) and block.get("at_mean"):
            predict_the_mean(model, recorded_guard(block).mean_targets)
    return FittedModel(fit, model.eval(), path)


def run_model(run: RunDir, config: Config, task: Task, fold: Fold | None = None
              ) -> tuple[DataSplits, torch.nn.Module, RunFit]:
    """The run's data (read again from ``data.path``; a forecaster's with the scaling and reference
    its checkpoint recorded; split by ``fold``, the fold a search's or recipe's run validated on,
    as that run split it), the model of :func:`fitted_model` and the run's record: what the
    report's pictures of predictions and ``rnnlab predict`` without ``--data`` draw from.

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.task import task_for
    >>> cfg = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"')
    >>> run_model(RunDir(tempfile.mkdtemp()), cfg, task_for(cfg))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rnnlab.errors.RunDirError: ...: no checkpoint to predict with (expected ...last.pt); train the run first
    """
    from rnnlab.data import load_data

    evaluated_checkpoint(run, config, say=False)  # (its one-line error before the data is read)
    data = load_data(config.data, seed=config.training.seed, fold=fold, task=task)
    fit, model, _ = fitted_model(run, config, task, data)
    if fit.raw_channels != data.train.X.shape[2] and fit.stream is not None:
        raise DataError(f"data.path ({config.data.path}): expected the {fit.raw_channels} column(s) the run "
                        f"trained on, got {data.train.X.shape[2]}")
    return fit.applied_to(data), model, fit
