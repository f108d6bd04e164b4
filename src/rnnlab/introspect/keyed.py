"""The mapping the introspection results are keyed by (gates, modules): a ``dict`` whose missing key
is a one-line ``KeyError`` naming the key, the keys there are and the closest one.

A gate asked by its long name (``"forget"`` for ``"f"``, as :data:`rnnlab.gates.GATE_LABELS` calls
it) is pointed to its letter, which spelling alone would not find.

Example:
    >>> gates = Keyed({"i": 1, "f": 2}, what="gate", of="the gates of 'lstm'")
    >>> gates["forget"]
    Traceback (most recent call last):
    ...
    KeyError: "gate: expected one of ['i', 'f'] (the gates of 'lstm'), got 'forget'; did you mean 'f' (forget gate)?"
    >>> gates.get("forget") is None, dict(gates) == {"i": 1, "f": 2}
    (True, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from rnnlab._checks import did_you_mean
from rnnlab.gates import GATE_LABELS

V = TypeVar("V")


class Keyed(dict[str, V]):
    """A ``dict`` (equal to, and usable as, a plain one) whose missing key raises a ``KeyError``
    that says ``what`` the keys are, which there are (``of``: where they come from, in words) and
    the closest. ``.get`` and ``in`` answer as a dict's."""

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = (), *, what: str, of: str = "") -> None:
        super().__init__(items)
        self.what = what
        self.of = of

    def __missing__(self, key: Any) -> V:
        options = [str(k) for k in self]
        where = f" ({self.of})" if self.of else ""
        raise KeyError(f"{self.what}: expected one of {options}{where}, got {key!r}{key_hint(key, options)}")

    def __reduce__(self) -> tuple[Any, ...]:
        # (pickled and copied with its words, as the dict it is)
        return (_rebuilt, (dict(self), self.what, self.of))


def _rebuilt(items: dict[str, Any], what: str, of: str) -> Keyed[Any]:
    return Keyed(items, what=what, of=of)


def key_hint(key: Any, options: Iterable[str]) -> str:
    """``"; did you mean 'f' (forget gate)?"`` for a gate's long name, else :func:`did_you_mean`'s."""
    options = list(options)
    asked = str(key).casefold().replace("_", " ").strip()
    for option in options:
        label = GATE_LABELS.get(option)
        if label and asked in {label, label.split()[0], label.removesuffix(" gate")}:
            return f"; did you mean {option!r} ({label})?"
    return did_you_mean(str(key), options)


def gates_of(gates: Mapping[str, V], kind: str, label: str = "") -> Keyed[V]:
    """``gates`` as a :class:`Keyed` of the gates of ``kind`` (``label``: which layer, in words)."""
    return Keyed(gates, what="gate", of=f"the gates of {kind!r}" + (f" in {label}" if label else ""))


__all__ = ["Keyed", "gates_of", "key_hint"]
