"""Walk the recipe: score each tier's candidates, keep what beats the noise, follow the branches.

The walk is pure: scoring is a function handed in (``evaluate``: configs in, each one's list of
scores out), so the same walk runs in tests on synthetic score tables and in ``rnnlab recipe``
on real training runs (where ``evaluate`` runs the search's trial runner and remembers finished
runs, so a resumed recipe repeats none).

Example:
    >>> from rnnlab.recipe.steps import select_steps
    >>> table = {"baseline": [0.70, 0.71, 0.72], "zoneout=0.1": [0.80, 0.81, 0.82]}
    >>> def evaluate(jobs):
    ...     return [table.get(label, [0.70, 0.71, 0.72]) for label, _ in jobs]
    >>> r = run_recipe({"model": {}}, select_steps("zoneout,layer_norm"), evaluate, higher_is_better=True)
    >>> [(o.step.name, [t.label for t in o.kept]) for o in r.outcomes]
    [('zoneout', ['zoneout=0.1']), ('layer_norm', [])]
    >>> r.final["model"]
    {'zoneout': 0.1}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rnnlab.recipe.decide import Verdict, verdict
from rnnlab.recipe.steps import Candidate, Step, Tier, apply_changes, not_applicable

#: scores of each (label, config) job, in order
Evaluate = Callable[[list[tuple[str, dict[str, Any]]]], list[list[float]]]
#: why a config is invalid (one line), or None
Validate = Callable[[dict[str, Any]], str | None]


@dataclass
class Tried:
    """One candidate of a step: its config, scores and verdict (or why it did not apply)."""

    step: str
    label: str
    config: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    verdict: Verdict | None = None
    not_applicable: str | None = None
    kept: bool = False
    against: str = "baseline"
    """The label of the configuration it was compared with."""

    @property
    def reason(self) -> str:
        if self.not_applicable is not None:
            return f"not applicable: {self.not_applicable}"
        assert self.verdict is not None
        if self.verdict.kept and not self.kept:
            return f"beat the noise, but another candidate gained more ({self.verdict.reason[6:]})"
        return self.verdict.reason


@dataclass
class StepOutcome:
    step: Step
    tried: list[Tried]

    @property
    def kept(self) -> list[Tried]:
        """The candidates kept, in order (a chain such as 0.2 then 0.4)."""
        return [t for t in self.tried if t.kept]


@dataclass
class RecipeResult:
    baseline: dict[str, Any]
    baseline_scores: list[float]
    outcomes: list[StepOutcome]
    final: dict[str, Any]
    final_scores: list[float]
    final_label: str


def run_recipe(base: dict[str, Any], steps: Sequence[Step], evaluate: Evaluate, *,
               higher_is_better: bool, validate: Validate | None = None) -> RecipeResult:
    """Walk ``steps`` from the config table ``base``; see the module docstring."""
    current, label = base, "baseline"
    scores = evaluate([(label, base)])[0]
    baseline_scores = scores
    outcomes: list[StepOutcome] = []
    for step in steps:
        tried: list[Tried] = []
        tier: Tier | None = step.first
        while tier is not None:
            round_ = [_prepare(step, c, current, label, validate) for c in tier.candidates]
            todo = [t for t in round_ if t.not_applicable is None]
            for t, s in zip(todo, evaluate([(t.label, t.config) for t in todo]) if todo else [], strict=True):
                t.scores, t.verdict = list(s), verdict(s, scores, higher_is_better)
            winners = sorted((t for t in todo if t.verdict and t.verdict.kept), key=lambda t: -t.verdict.gain)
            tried += round_
            if winners:
                best = winners[0]
                best.kept = True
                current, label, scores = best.config, best.label, best.scores
                tier = tier.if_kept
            else:
                tier = tier.if_scrapped
        outcomes.append(StepOutcome(step, tried))
    return RecipeResult(base, baseline_scores, outcomes, current, scores, label)


def _prepare(step: Step, candidate: Candidate, current: dict[str, Any], against: str,
             validate: Validate | None) -> Tried:
    config = apply_changes(current, candidate.changes)
    why = not_applicable(candidate, current)
    if why is None and config == current:
        why = "the configuration already has it"
    if why is None and validate is not None:
        why = validate(config)
    return Tried(step.name, candidate.label, config, not_applicable=why, against=against)
