"""Argument checks shared by every public constructor: one wording for every error message."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable

import numpy as np


def closest(name: str, options: Iterable[str], cutoff: float = 0.5) -> str | None:
    """The option ``name`` most likely meant: the one it equals but for case (``"AdamW"`` is
    ``"adamw"``, not the closer-spelled ``"adam"``), else the closest spelling, case aside
    (:func:`difflib.get_close_matches` at ``cutoff``); None when none is close.

    >>> closest("AdamW", ["adamw", "nadamw", "adam"]), closest("LSTM", ["lstm", "gru"]), closest("x", ["lstm"])
    ('adamw', 'lstm', None)
    """
    options = [str(o) for o in options]
    text = str(name)
    by_case = {o.casefold(): o for o in reversed(options)}  # (the first option of a case-folded spelling)
    if text.casefold() in by_case:
        return by_case[text.casefold()]
    close = difflib.get_close_matches(text.casefold(), list(by_case), n=1, cutoff=cutoff)
    return by_case[close[0]] if close else None


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``"; did you mean 'tanh'?"`` when a close option exists (:func:`closest`), else ``""``."""
    close = closest(name, options)
    return f"; did you mean {close!r}?" if close else ""


def check_probability(name: str, value: object, *, allow_one: bool = False) -> float:
    """Validate a probability: a number in [0, 1) (or [0, 1] with ``allow_one``)."""
    # (numbers.Real: NumPy's floats too, np.float32(0.1), which torch's layers take)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a probability (float), got {type(value).__name__} {value!r}")
    v = float(value)
    ok = 0.0 <= v <= 1.0 if allow_one else 0.0 <= v < 1.0
    if not ok:
        rng = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name}: expected a probability in {rng}, got {value!r}")
    return v


def check_positive_int(name: str, value: object) -> int:
    """A positive integer, as a Python ``int`` (NumPy's integers too, as torch takes them).

    >>> check_positive_int("hidden_size", np.int64(4))
    4
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """A flag: ``True`` or ``False`` only (``"no"`` or ``2`` would read as true).

    >>> check_bool("batch_first", "no")
    Traceback (most recent call last):
    ...
    TypeError: batch_first: expected True or False, got str 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(name: str, value: object, options: Iterable[str]) -> str:
    opts = list(options)
    if value not in opts:
        raise ValueError(
            f"{name}: expected one of {opts}, got {value!r}{did_you_mean(str(value), opts)}"
        )
    return value  # type: ignore[return-value]
