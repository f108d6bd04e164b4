"""One health-check finding: what was seen, how bad it is, the numbers, why it matters, what to do.

Example:
    >>> f = Finding(
    ...     check="dead_relu", severity="warning", title="75% of ReLU units dead in 'fc'",
    ...     numbers={"dead_fraction": 0.75}, message="These units never fire.", remedy="Lower lr.",
    ... )
    >>> Finding.from_dict(f.to_dict()) == f
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rnnlab._checks import check_choice

#: Severities from least to most serious.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
#: When a finding was made: on the untrained model (the health checks) or from a finished run's
#: records (``rnnlab.doctor.fit``).
PHASES: tuple[str, ...] = ("before_training", "after_training")


@dataclass(frozen=True)
class Finding:
    """A health-check result.

    Attributes:
        check: name of the check that produced it (a key of ``rnnlab.doctor.checks.CHECKS``, or
            one of ``rnnlab.doctor.fit.FIT_CHECKS``).
        severity: ``"info"`` (worth knowing), ``"warning"`` (training will likely suffer) or
            ``"error"`` (training cannot work as set up).
        title: one line naming the problem and where it is.
        numbers: the measurements behind the finding (JSON-serializable values).
        message: plain explanation of what the numbers mean.
        remedy: what to change.
        phase: ``"before_training"`` (the health checks of the untrained model) or
            ``"after_training"`` (the fit of a finished run, :mod:`rnnlab.doctor.fit`).
    """

    check: str
    severity: str
    title: str
    numbers: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    remedy: str = ""
    phase: str = "before_training"

    def __post_init__(self) -> None:
        check_choice("severity", self.severity, SEVERITIES)
        check_choice("phase", self.phase, PHASES)
        if not isinstance(self.numbers, dict):
            raise TypeError(f"numbers: expected a dict, got {type(self.numbers).__name__}")

    @property
    def rank(self) -> int:
        """Position of the severity in :data:`SEVERITIES` (0 = info)."""
        return SEVERITIES.index(self.severity)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``rnnlab.rundir.atomic_write_json`` stores NaN/inf as strings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error."""
        keys = {"check", "severity", "title", "numbers", "message", "remedy", "phase"}
        if not isinstance(d, dict):
            raise TypeError(f"d: expected a dict, got {type(d).__name__}")
        extra, missing = set(d) - keys, {"check", "severity", "title"} - set(d)
        if extra or missing:
            raise KeyError(
                f"d: expected keys {sorted(keys)}, got unknown {sorted(extra)} and missing "
                f"{sorted(missing)}"
            )
        return cls(**d)
