"""The one base class for errors a user can fix (config, data, checkpoint, run directory).

The CLI prints these as one line on stderr without a traceback; anything else is a bug and keeps
its traceback. ``RnnlabError`` subclasses ``ValueError`` so library callers that catch bad input
the usual way keep working.

Example:
    >>> try:
    ...     raise ConfigError("model.hidden_size: expected an integer > 0, got -3")
    ... except RnnlabError as e:
    ...     print(e)
    model.hidden_size: expected an integer > 0, got -3
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

#: Words of library advice that must not reach a user whose file may be hostile.
_UNSAFE_ADVICE = ("allow_pickle", "weights_only", "pickle.load", "safe_globals", "trust")


class RnnlabError(ValueError):
    """A problem in the user's input, reported as one precise message."""


class ArgumentError(RnnlabError):
    """A bad keyword of a recurrent layer (see :func:`rnnlab.layers.options.resolve`). ``keys``
    are the keyword names the message spells, so that a caller who reads them from elsewhere
    (the config's ``[model]`` table) can name them its own way.

    >>> e = ArgumentError("zoneout: expected a probability in [0, 1], got 2", "zoneout")
    >>> e.spelled(lambda key: f"'model.{key}'")
    "'model.zoneout': expected a probability in [0, 1], got 2"
    """

    def __init__(self, message: str, *keys: str) -> None:
        super().__init__(message)
        self.keys = keys

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with the first mention of each key replaced by ``spell(key)``."""
        text = str(self)
        for key in self.keys:
            text = re.sub(rf"\b{re.escape(key)}\b", lambda m, key=key: spell(key), text, count=1)
        return text


class ConfigError(RnnlabError):
    """The TOML configuration is unreadable, has unknown keys or bad values."""


class DataError(RnnlabError):
    """The data set cannot be loaded or fails a check (NaN, ragged, labels, empty split)."""


class CheckpointError(RnnlabError):
    """A checkpoint is missing, truncated, corrupt or does not match the model."""


class RunDirError(RnnlabError):
    """The run directory is not in the state the command needs (e.g. no run to resume)."""


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT, SIGTERM or SIGHUP, after its last finished epoch was checkpointed.

    A ``KeyboardInterrupt``, not an :class:`RnnlabError`: whatever stops on Ctrl-C (the CLI, a
    search, a recipe) stops on it too, and nothing mistakes it for a failed configuration.
    """

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum

    @classmethod
    def by(cls, signum: int, then: str = "") -> Interrupted:
        """``"interrupted by SIGTERM"``, and what follows from it (``then``). SIGHUP says what
        sent it, since a user who saw the run stop did not: the terminal closed (an ssh connection
        dropped), and what keeps a run going past that.

        >>> str(Interrupted.by(15, "its checkpoint is written"))
        'interrupted by SIGTERM; its checkpoint is written'
        >>> str(Interrupted.by(1))
        'interrupted by SIGHUP (the terminal closed; under nohup or in tmux a run outlives it)'
        """
        import signal

        name = signal.Signals(signum).name
        if name == "SIGHUP":
            name += " (the terminal closed; under nohup or in tmux a run outlives it)"
        return cls(signum, f"interrupted by {name}" + (f"; {then}" if then else ""))

    @classmethod
    def of_command(cls, stop: KeyboardInterrupt, again: str) -> Interrupted:
        """The stop of a command that runs many trainings (search, recipe), in its own words:
        what stopped it and what running it again does (a run's "--resume" is not theirs).

        >>> str(Interrupted.of_command(KeyboardInterrupt(), "the same command continues"))
        'interrupted by SIGINT; the same command continues'
        """
        import signal

        return cls.by(stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT), again)


class CheckpointConfigUsed(UserWarning):
    """A run's config.toml is missing, or was edited after the run trained: its checkpoint's
    config is used (:func:`rnnlab.train.trainer.load_run_config`). The report silences it: its
    Configuration section shows the edit, and its exit code a config.toml it cannot read."""


def add_note(error: BaseException, note: str) -> None:
    """Add ``note`` to ``error``'s notes (``__notes__``, what Python 3.11's ``add_note`` keeps and
    its traceback prints; on 3.10 the same attribute): the CLI's one error line ends with them.

    >>> e = RuntimeError("out of memory")
    >>> add_note(e, "runs/a keeps its health check")
    >>> e.__notes__
    ['runs/a keeps its health check']
    """
    notes = getattr(error, "__notes__", None)
    if not isinstance(notes, list):
        notes = []
        error.__notes__ = notes  # type: ignore[attr-defined]
    notes.append(note)


#: The words of each phase of a run (:class:`Place`), by its name in ``timing.json``; and
#: ``after_epoch``: a stop held to the end of the run's last epoch (or that came after it), whose
#: record and checkpoint state are whole: no epoch after it that it could be "during".
_PHASE_WORDS = {"training": "during epoch {epoch}", "health_check": "during the health check",
                "grad_through_time": "during the gradient through time", "evaluation": "evaluating epoch {epoch}",
                "after_epoch": "after epoch {epoch}"}


@dataclass(frozen=True)
class Place:
    """Where in a run an error escaped: its ``phase`` (as ``timing.json`` names it: ``training``,
    ``health_check``, ``grad_through_time``, ``evaluation``; a stop after the run's last epoch:
    ``after_epoch``), and its epoch and optimizer step (1-based) where the phase has them. The
    trainer attaches it (:func:`in_phase`, :func:`placed_at`); :func:`place_of` reads it, and its
    words end an error line.

    >>> str(Place("training", 2, 7)), str(Place("evaluation", 2)), str(Place("health_check"))
    ('during epoch 2, step 7', 'evaluating epoch 2', 'during the health check')
    >>> str(Place("after_epoch", 125))
    'after epoch 125'
    """

    phase: str
    epoch: int | None = None
    step: int | None = None

    def __str__(self) -> str:
        said = _PHASE_WORDS[self.phase].format(epoch=self.epoch)
        return said + (f", step {self.step}" if self.step is not None else "")


def place_of(error: BaseException) -> Place | None:
    """Where in a run ``error`` escaped (:class:`Place`), or None when no phase of a run said so.

    >>> place_of(placed_at(MemoryError(), Place("health_check")))
    Place(phase='health_check', epoch=None, step=None)
    """
    place = getattr(error, "_rnnlab_place", None)
    return place if isinstance(place, Place) else None


_E = TypeVar("_E", bound=BaseException)


def placed_at(error: _E, place: Place) -> _E:
    """``error``, placed at ``place`` unless a phase within (the innermost, which knows most) placed
    it already.

    >>> str(place_of(placed_at(placed_at(MemoryError(), Place("training", 1, 3)), Place("training", 1))))
    'during epoch 1, step 3'
    """
    if place_of(error) is None:
        with contextlib.suppress(AttributeError):  # (an exception type with __slots__: it stays unplaced)
            error._rnnlab_place = place  # type: ignore[attr-defined]
    return error


_P = ParamSpec("_P")
_R = TypeVar("_R")


def in_phase(where: Callable[..., Place]) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Make a function a phase of a run: whatever escapes it is placed (:func:`placed_at`) at
    ``where`` called with the function's arguments by name as the escape happens (an epoch's step
    counter then reads the step that failed).

    >>> @in_phase(lambda epoch, **_: Place("evaluation", epoch))
    ... def evaluate(epoch: int) -> None:
    ...     raise MemoryError()
    >>> try:
    ...     evaluate(2)
    ... except MemoryError as e:
    ...     print(place_of(e))
    evaluating epoch 2
    """
    def phase(f: Callable[_P, _R]) -> Callable[_P, _R]:
        signature = inspect.signature(f)

        @functools.wraps(f)
        def placing(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return f(*args, **kwargs)
            except BaseException as e:
                called = signature.bind(*args, **kwargs)  # (by name: however the caller passed them)
                called.apply_defaults()
                placed_at(e, where(**called.arguments))
                raise
        return placing
    return phase


def notes_of(error: BaseException) -> str:
    """``error``'s notes (:func:`add_note`) as the end of a one-line message: ``"; note"`` each.

    >>> notes_of(ValueError("x"))
    ''
    """
    return "".join(f"; {n}" for n in getattr(error, "__notes__", None) or () if isinstance(n, str))


def library_reason(error: BaseException, limit: int = 200) -> str:
    """What a library (NumPy, torch) said went wrong, on one line, without its advice to load
    the file unsafely (``allow_pickle=True``, ``weights_only=False``): the file may be hostile.

    >>> library_reason(ValueError("This file contains pickled (object) data. If you trust the "
    ...                           "file you can load it unsafely using the `allow_pickle=` keyword"))
    'This file contains pickled (object) data.'
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", " ".join(str(error).split()))
    text = text.split("WeightsUnpickler error:", 1)[-1]
    kept = [s for s in re.split(r"(?<=[.!?])\s+", text) if s and not any(w in s for w in _UNSAFE_ADVICE)]
    reason = " ".join(kept).strip() or type(error).__name__
    return reason if len(reason) <= limit else reason[:limit] + " ..."


class SearchError(RnnlabError):
    """A search space, study or search command cannot be used as given (``rnnlab search``)."""


class StorageError(SearchError):
    """The study storage (journal file or database URL) is unusable or unreachable."""
