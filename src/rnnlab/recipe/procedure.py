"""Walk the recipe: score each tier's candidates, keep a gain above one standard error, follow the branches.

A candidate is compared with the configuration kept so far run by run (the same seeds and folds:
:data:`Evaluate`), by :func:`rnnlab.recipe.decide.verdict`'s paired form.

The walk is pure: scoring is a function handed in (``evaluate``: labelled configs in, each one's
list of scores out), so the same walk runs in tests on synthetic score tables and in
``rnnlab recipe`` on real training runs (where ``evaluate`` runs the search's trial runner, which
reuses finished runs, so a resumed recipe repeats none).

Example:
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.recipe.steps import select_steps
    >>> table = {"baseline": [0.70, 0.71, 0.72], "zoneout=0.1": [0.80, 0.81, 0.82]}
    >>> def evaluate(jobs):
    ...     return [table.get(label, [0.70, 0.71, 0.72]) for label, _ in jobs]
    >>> base = parse_config('[data]\\ndataset = "UnitTest"')
    >>> r = run_recipe(base, select_steps("zoneout,layer_norm"), evaluate, higher_is_better=True)
    >>> [(o.step.name, [t.label for t in o.kept]) for o in r.outcomes]
    [('zoneout', ['zoneout=0.1']), ('layer_norm', [])]
    >>> r.final.model.zoneout
    0.1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rnnlab.config import Config
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.recipe.decide import Verdict, verdict
from rnnlab.recipe.steps import Candidate, Step, Tier, not_applicable

#: why a candidate equal to the current configuration is not scored; a tier of nothing else
#: counts as reached, and the walk goes on to what follows keeping it
ALREADY = "the configuration already has it"

#: scores of each (label, config) job, in order, or why its training failed (one line); every
#: job's scores are of the same runs in the same order (``rnnlab recipe``: each seed's folds, seed
#: after seed, all of them, a failed run failing the job), so run i of a candidate and run i of the
#: configuration it is compared with share their seed and fold, and the rule pairs them
Evaluate = Callable[[list[tuple[str, Config]]], list[list[float] | str]]

#: whether two configs train alike (:class:`rnnlab.recipe.run.InEffect`: the same in effect)
Same = Callable[[Config, Config], bool]


@dataclass
class Tried:
    """One candidate of a step: its config, scores and verdict (or why it did not apply)."""

    step: str
    label: str
    config: Config | None
    against: str
    """The label of the configuration it was compared with."""
    scores: list[float] = field(default_factory=list)
    verdict: Verdict | None = None
    not_applicable: str | None = None
    kept: bool = False

    @property
    def reason(self) -> str:
        if self.not_applicable is not None:
            failed = self.not_applicable.startswith("training failed")
            return self.not_applicable if failed else f"not applicable: {self.not_applicable}"
        assert self.verdict is not None
        if self.verdict.kept and not self.kept:
            return f"passed the rule too, but another candidate gained more ({self.verdict.reason})"
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
    baseline: Config
    baseline_scores: list[float]
    outcomes: list[StepOutcome]
    final: Config
    final_scores: list[float]
    final_label: str


def run_recipe(base: Config, steps: Sequence[Step], evaluate: Evaluate, *, higher_is_better: bool,
               apply: Callable[[Config, dict], Config] | None = None,
               on_step: Callable[[StepOutcome], None] | None = None, same: Same | None = None) -> RecipeResult:
    """Walk ``steps`` from ``base``; see the module docstring. ``on_step`` sees each finished step.

    ``apply(config, changes)`` makes a candidate's config (default: the search's
    :func:`~rnnlab.search.space.apply_values`); a :class:`ConfigError` there means the candidate
    does not apply to this config (e.g. zoneout on a layer without state), with that message.
    ``same(candidate, config)`` tells a candidate the configuration already has, or one scored
    before (default: equal as written; ``rnnlab recipe`` compares what they train,
    :class:`~rnnlab.recipe.run.InEffect`).
    """
    if apply is None:
        from rnnlab.search.space import apply_values

        def apply(config: Config, changes: dict) -> Config:
            return apply_values(config, changes, source="recipe")

    if same is None:
        def same(a: Config, b: Config) -> bool:
            return a == b

    metric = base.search.metric if base.search is not None else None  # (what a tie's reason names)
    base = base.model_copy(update={"search": None})  # what is trained; [search] is not part of it
    current, label = base, "baseline"
    scores = evaluate([(label, base)])[0]
    if isinstance(scores, str):
        raise RnnlabError(f"recipe: the baseline config failed to train ({scores})")
    baseline_scores = scores
    outcomes: list[StepOutcome] = []
    scored: list[tuple[Config | None, str]] = [(base, "baseline")]
    for step in steps:
        tried: list[Tried] = []
        tier: Tier | None = step.tier(current)
        while tier is not None:
            round_ = [_prepare(step, c, current, label, apply, scored, same) for c in tier.candidates]
            todo = [t for t in round_ if t.not_applicable is None]
            scored += [(t.config, f"{t.step}: {t.label}") for t in todo]
            results = evaluate([(t.label, t.config) for t in todo]) if todo else []
            for t, s in zip(todo, results, strict=True):
                if isinstance(s, str):
                    t.not_applicable = f"training failed: {s}"
                else:
                    t.scores, t.verdict = list(s), verdict(s, scores, higher_is_better, paired=True, metric=metric)
            winners = sorted((t for t in todo if t.verdict is not None and t.verdict.kept),
                             key=lambda t: -t.verdict.gain)
            tried += round_
            if not todo and any(t.not_applicable == ALREADY for t in round_):
                # the config already holds this tier (a template with weight_drop 0.2): the
                # question left is the one after keeping it (0.5), not nothing at all
                tier = tier.if_kept
            elif winners:
                best = winners[0]
                best.kept = True
                assert best.config is not None
                current, label, scores = best.config, best.label, best.scores
                tier = tier.if_kept
            else:
                tier = tier.if_scrapped
        outcomes.append(StepOutcome(step, tried))
        if on_step is not None:
            on_step(outcomes[-1])
    return RecipeResult(base, baseline_scores, outcomes, current, scores, label)


def _prepare(step: Step, candidate: Candidate, current: Config, against: str,
             apply: Callable[[Config, dict], Config], scored: list[tuple[Config | None, str]], same: Same) -> Tried:
    why = not_applicable(candidate, current)
    config = None
    if why is None:
        try:
            config = apply(current, dict(candidate.changes))
        except ConfigError as e:
            why = str(e).removeprefix("recipe: ")
    if why is None and same(config, current):
        why = ALREADY
    if why is None:
        # (AR alone after "AR and TAR" was scrapped, where TAR had that value already)
        earlier = next((name for c, name in scored if c is not None and same(config, c)), None)
        if earlier is not None:
            why = f"the same configuration as {earlier}, scored already"
    return Tried(step.name, candidate.label, config, against, not_applicable=why)
