"""The regularization recipe of docs/regularization.md as a table: steps, candidates, branches.

Each :class:`Step` starts with one :class:`Tier` of candidates, tried side by side against the
configuration kept so far. The best candidate whose gain over it is above one standard error
(:mod:`rnnlab.recipe.decide`: a weak bar) is kept; then the tier's ``if_kept`` or ``if_scrapped`` branch is
tried next, and so on until a tier has no branch to follow. A step none of whose candidates is
kept leaves the configuration as it was ("scrapped"). This is the only place that knows the
recipe; the table in docs/regularization.md (section 10) is :func:`recipe_table`.

A step's tier is computed from the configuration the step starts from: where that already uses
the step's regularizer (a template's weight drop 0.2, AR 1 and TAR 1), turning it off is tried
first, so the recipe tests whether the training part supports it (:func:`_or_off`).

A candidate's ``changes`` are values for the search's keys (:func:`rnnlab.search.space.apply_values`):
config key paths such as ``"model.recurrent_dropout"`` and the derived keys ``decay.kernel``,
``decay.recurrent`` (a decay rule for that role), ``model.normalization``, ``model.max_norm``.

The decay steps try the recipe's L2 coefficients 1e-3 and 1e-4 where the optimizer adds decay to
the gradient (``adam``, ``sgd``: torch's ``weight_decay`` λ is the gradient of (λ/2)·Σw², so the
values are 2e-3 and 2e-4); with decoupled decay (``adamw``, ``nadamw``, ``sgdw``), which shrinks
weights by ``lr·λ`` per step and does next to nothing at those values, they try torch's default
1e-2 and ten times it (docs/regularization.md, step 1).

Example:
    >>> [s.name for s in RECIPE][:3]
    ['recurrent_decay', 'kernel_decay', 'input_dropout']
    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "UnitTest"')
    >>> [c.label for c in by_name("recurrent_decay").tier(cfg).candidates]
    ['recurrent decay 0.1', 'recurrent decay 0.01']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rnnlab._checks import did_you_mean
from rnnlab.config import Config
from rnnlab.errors import ConfigError
from rnnlab.task import task_for


@dataclass(frozen=True)
class Candidate:
    """One change of the configuration, scored against the configuration kept so far."""

    label: str
    changes: Mapping[str, Any]
    needs_stacked: bool = False
    """Only for stacked layers (model.num_layers > 1): elsewhere "not applicable"."""
    reorders: bool = False
    """Changes the order samples are drawn in: "not applicable" to a stream, whose rows are one
    batch read in order whatever the shuffling keys say (:func:`rnnlab.train.trainer.batching`)."""
    batch_statistics: bool = False
    """Normalizes with statistics over the batch: "not applicable" to a stream, whose rows are
    pieces of one series or text, no independent batch (the forecasting template and the search's
    default space on a stream leave it out likewise)."""


@dataclass(frozen=True)
class Tier:
    """Candidates tried side by side, and what to try after them."""

    candidates: tuple[Candidate, ...]
    if_kept: Tier | None = None
    if_scrapped: Tier | None = None


@dataclass(frozen=True)
class Step:
    """One step of the recipe: a regularizer and the values to try."""

    name: str
    advice: str
    """The recipe's words for this step (shown in the report)."""
    first: Tier | Callable[[Config | None], Tier]
    """The first tier, or a function of the current config giving it."""

    def tier(self, config: Config | None) -> Tier:
        return self.first(config) if callable(self.first) else self.first


def _one(path: str, value: Any) -> Candidate:
    return Candidate(f"{path.rsplit('.', 1)[-1]}={value}", {path: value})


def _tier(*candidates: Candidate, if_kept: Tier | None = None, if_scrapped: Tier | None = None) -> Tier:
    return Tier(tuple(candidates), if_kept, if_scrapped)


DECOUPLED = ("adamw", "nadamw", "sgdw")


def _or_off(first: Tier | Callable[[Config | None], Tier], off: Candidate,
            on: Callable[[Config], bool]) -> Callable[[Config | None], Tier]:
    """A step's first tier relative to the configuration it starts from: where that already uses
    the step's regularizer (``on``: a template's weight drop 0.2, AR 1 and TAR 1), turning it off
    (``off``) comes first, so the recipe tests whether the training part supports it; scrapped
    (the regularizer helps, or its absence gains no more than one standard error), the step's own values follow as
    for any configuration, a value it already has counting as reached (the walk's ``ALREADY``).

    >>> from rnnlab.config import parse_config
    >>> describe(by_name("weight_drop").tier(parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nweight_drop = 0.2')))
    'weight_drop=0 → scrapped: (weight_drop=0.2 → kept: weight_drop=0.5)'
    """
    def tier(config: Config | None) -> Tier:
        plain = first(config) if callable(first) else first
        return _tier(off, if_scrapped=plain) if config is not None and on(config) else plain

    return tier


def _dropout(path: str, first: Tier) -> Callable[[Config | None], Tier]:
    """A probability key's step (``model.zoneout`` may hold one per state), relative to the config."""
    def on(config: Config) -> bool:
        value = getattr(config.model, path.rsplit(".", 1)[-1])
        return any(v > 0 for v in (value if isinstance(value, tuple) else (value,)))

    return _or_off(first, Candidate(f"{path.rsplit('.', 1)[-1]}=0", {path: 0.0}), on)


def _decay_tier(role: str) -> Callable[[Config | None], Tier]:
    def tier(config: Config | None) -> Tier:
        assert config is not None, "the decay values follow the config's optimizer"
        values = (1e-1, 1e-2) if config.training.optimizer in DECOUPLED else (2e-3, 2e-4)
        return _tier(*(Candidate(f"{role} decay {v:g}", {f"decay.{role}": v}) for v in values))

    # (no "off" yet: the one reading of a role's decay, rules and training.weight_decay together,
    # is private to rnnlab.search.space)
    return tier


def _max_norm(config: Config) -> bool:
    # (imported here, not with the module: it brings the search's modules)
    from rnnlab.search.space import bound_is_the_models

    # (an IndRNN's recurrent bound is its model's, which model.max_norm leaves: only the kernel's counts)
    ours = (config.model.kernel_constraint,) + (() if bound_is_the_models(config) else
                                               (config.model.recurrent_constraint,))
    return any(c is not None and c.kind == "max_norm" for c in ours)


def _constraint_tier(config: Config | None) -> Tier:
    """Max-norm 3, or off where the configuration has it; on an IndRNN the kernel's only, its
    recurrent bound being part of the model (:func:`rnnlab.search.space.bound_is_the_models`)."""
    from rnnlab.search.space import bound_is_the_models

    what = "kernel max_norm" if config is not None and bound_is_the_models(config) else "max_norm"
    return _or_off(_tier(Candidate(f"{what} 3", {"model.max_norm": True})),
                   Candidate(f"{what} off", {"model.max_norm": False}), _max_norm)(config)


_RBN = Candidate("recurrent_batch_norm", {"model.normalization": "recurrent_batch_norm"}, batch_statistics=True)


def _batch_norm_tier(config: Config | None) -> Tier:
    plain = _tier(Candidate("between_layers_norm=batch", {"model.between_layers_norm": "batch"}, needs_stacked=True,
                            batch_statistics=True), if_kept=_tier(_RBN), if_scrapped=_tier(_RBN))
    if config is None:
        return plain
    off = {**({"model.normalization": "none"} if config.model.recurrent_batch_norm else {}),
           **({"model.between_layers_norm": None} if config.model.between_layers_norm == "batch" else {})}
    return _tier(Candidate("batch norm off", off), if_scrapped=plain) if off else plain


#: The recipe, in order (docs/regularization.md).
RECIPE: tuple[Step, ...] = (
    Step("recurrent_decay", "decay of the recurrent weights: two values a decade apart", _decay_tier("recurrent")),
    Step("kernel_decay", "decay of the kernel weights, separately: two values a decade apart", _decay_tier("kernel")),
    Step("input_dropout", "input dropout 0.1, and 0.2 if that helped, else scrap it",
         _dropout("model.input_dropout",
                  _tier(_one("model.input_dropout", 0.1), if_kept=_tier(_one("model.input_dropout", 0.2))))),
    Step("recurrent_dropout", "recurrent dropout 0.2, then 0.4, then 0.5 or back to 0.3",
         _dropout("model.recurrent_dropout",
                  _tier(_one("model.recurrent_dropout", 0.2),
                        if_kept=_tier(_one("model.recurrent_dropout", 0.4),
                                      if_kept=_tier(_one("model.recurrent_dropout", 0.5)),
                                      if_scrapped=_tier(_one("model.recurrent_dropout", 0.3)))))),
    Step("batch_norm", "batch norm between layers, then recurrent batch norm: keep if better", _batch_norm_tier),
    Step("constraint", "a max-norm constraint (3) on the kernel and recurrent weights (an IndRNN's kernel only: "
         "its recurrent bound is part of the model)", _constraint_tier),
    Step("residual", "residual connections between stacked layers",
         _or_off(_tier(Candidate("residual=True", {"model.residual": True}, needs_stacked=True)),
                 Candidate("residual=False", {"model.residual": False}, needs_stacked=True),
                 lambda c: bool(c.model.residual))),
    Step("zoneout", "zoneout 0.1", _dropout("model.zoneout", _tier(_one("model.zoneout", 0.1)))),
    Step("layer_norm", "layer norm (instead of recurrent batch norm)",
         _or_off(_tier(Candidate("layer_norm", {"model.normalization": "layer_norm"})),
                 Candidate("layer norm off", {"model.normalization": "none"}), lambda c: c.model.layer_norm)),
    # (the shuffling and optimizer steps have no "off": a configuration always reads its samples in
    # some order and trains with some optimizer, and which other one to try is not the recipe's)
    Step("shuffle_within_batch", "fixed batches in shuffled order, shuffled within each batch",
         _tier(Candidate("shuffle_within_batch", {"training.shuffle": "batches",
                                                  "training.shuffle_within_batch": True}, reorders=True))),
    Step("nadamw", "NAdamW instead of the optimizer", _tier(_one("training.optimizer", "nadamw"))),
)



def _pair(ar: float, tar: float) -> Candidate:
    return Candidate(f"ar={ar:g} tar={tar:g}", {"training.ar": float(ar), "training.tar": float(tar)})


def _bptt_tier(config: Config | None) -> Tier:
    assert config is not None, "the windows follow the config's data.bptt"
    bptt = config.data.bptt
    return _tier(*(_one("data.bptt", v) for v in sorted({max(bptt // 2, 1), 2 * bptt} - {bptt})))


#: A language model's own steps (``[task] kind = "language_model"``: AWD-LSTM's regularizers, Merity
#: et al. 2017), walked after the recurrent dropout step (:func:`steps_for`).
LANGUAGE_MODEL_STEPS: tuple[Step, ...] = (
    Step("weight_drop", "weight drop (DropConnect on the recurrent weights) 0.2, then 0.5 if that helped",
         _dropout("model.weight_drop",
                  _tier(_one("model.weight_drop", 0.2), if_kept=_tier(_one("model.weight_drop", 0.5))))),
    Step("embedding_dropout", "embedding dropout 0.1 (whole tokens), then 0.2 if that helped",
         _dropout("model.embedding_dropout",
                  _tier(_one("model.embedding_dropout", 0.1), if_kept=_tier(_one("model.embedding_dropout", 0.2))))),
    # "each alone" sets the other to 0: from a configuration with TAR 1, "AR 2" alone would keep it
    Step("activation_regularization", "AR 2 with TAR 1 (AWD-LSTM's values); if scrapped, each alone",
         _or_off(_tier(_pair(2, 1), if_scrapped=_tier(_pair(2, 0), _pair(0, 1))), _pair(0, 0),
                 lambda c: c.training.ar > 0 or c.training.tar > 0)),
    Step("bptt", "windows of half and of twice data.bptt", _bptt_tier),
)

STEP_NAMES = tuple(s.name for s in RECIPE)
LANGUAGE_MODEL_STEP_NAMES = tuple(s.name for s in LANGUAGE_MODEL_STEPS)


def steps_for(config: Config | None) -> tuple[Step, ...]:
    """The recipe for ``config``'s task: :data:`RECIPE`; for a language model, its own steps after
    recurrent dropout, and without the batch shuffling step (a text is read in order).

    >>> from rnnlab.config import parse_config
    >>> lm = parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"')
    >>> [s.name for s in steps_for(lm)][3:8]
    ['recurrent_dropout', 'weight_drop', 'embedding_dropout', 'activation_regularization', 'bptt']
    """
    if config is None or config.task.kind != "language_model":
        return RECIPE
    at = [s.name for s in RECIPE].index("recurrent_dropout") + 1
    return tuple(s for s in RECIPE[:at] + LANGUAGE_MODEL_STEPS + RECIPE[at:] if s.name != "shuffle_within_batch")


def by_name(name: str) -> Step:
    """The step called ``name`` (an error with "did you mean" for an unknown one)."""
    for s in RECIPE + LANGUAGE_MODEL_STEPS:
        if s.name == name:
            return s
    hint = did_you_mean(name, STEP_NAMES + LANGUAGE_MODEL_STEP_NAMES)
    # (the hint ends in a question mark: the list after it is a sentence of its own)
    listing = (f"{hint} The steps are: " if hint else "; the steps are: ") + ", ".join(STEP_NAMES)
    raise ConfigError(f"--steps: unknown recipe step {name!r}{listing} "
                      f"(language models also: {', '.join(LANGUAGE_MODEL_STEP_NAMES)})")


def select_steps(names: str | None, config: Config | None = None) -> tuple[Step, ...]:
    """The steps named in a comma-separated list (``--steps``), in the order of the recipe for
    ``config``'s task (:func:`steps_for`); a step of another task's recipe is refused.

    >>> [s.name for s in select_steps("zoneout,input_dropout")]
    ['input_dropout', 'zoneout']
    """
    recipe = steps_for(config)
    if names is None:
        return recipe
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise ConfigError(f"--steps: expected a comma-separated list of steps ({', '.join(STEP_NAMES)}), got {names!r}")
    chosen = {by_name(n).name for n in wanted}
    names_here = [s.name for s in recipe]
    other = sorted(chosen - set(names_here))
    if other:
        raise ConfigError(f"--steps: {other[0]!r} is not a step of this task's recipe; expected some of "
                          f"{', '.join(names_here)}")
    steps = tuple(s for s in recipe if s.name in chosen)
    if config is not None:
        # Scoring the baseline only to report that nothing applies would cost a recipe's first
        # round for nothing; a step that applies beside them shows them in its walk instead.
        why = {s.name: inapplicable(s, config) for s in steps}
        if all(why.values()):
            raise ConfigError("--steps: nothing to try on this config: "
                              + "; ".join(f"{name} does not apply ({reason})" for name, reason in why.items()))
    return steps


def inapplicable(step: Step, config: Config) -> str | None:
    """Why none of ``step``'s candidates, in any branch, applies to ``config`` (None: one does).

    >>> from rnnlab.config import parse_config
    >>> one_layer = parse_config('[data]\\ndataset = "UnitTest"')
    >>> inapplicable(by_name("residual"), one_layer)
    'needs stacked layers (model.num_layers > 1), the config has 1'
    >>> inapplicable(by_name("batch_norm"), one_layer) is None  # recurrent batch norm applies
    True
    """
    reasons: list[str] = []
    tiers = [step.tier(config)]
    while tiers:
        tier = tiers.pop()
        for c in tier.candidates:
            why = not_applicable(c, config)
            if why is None:
                return None
            reasons.append(why)
        tiers += [t for t in (tier.if_kept, tier.if_scrapped) if t is not None]
    return "; ".join(dict.fromkeys(reasons))


def not_applicable(candidate: Candidate, config: Config) -> str | None:
    """Why ``candidate`` does not apply to ``config`` (None: it applies).

    >>> from rnnlab.config import parse_config
    >>> not_applicable(by_name("residual").tier(None).candidates[0], parse_config('[data]\\ndataset = "UnitTest"'))
    'needs stacked layers (model.num_layers > 1), the config has 1'
    """
    if candidate.needs_stacked and config.model.num_layers <= 1:
        return f"needs stacked layers (model.num_layers > 1), the config has {config.model.num_layers}"
    if candidate.reorders and task_for(config).stream:
        return "a stream's rows are one batch read in order: there is nothing to shuffle"
    if candidate.batch_statistics and task_for(config).stream:
        return "a stream's rows are pieces of one series or text, no independent batch to take statistics over"
    from rnnlab.search.space import lifts_indrnn_bound

    # (the keys the default space leaves out, for the same reason)
    return next(filter(None, (lifts_indrnn_bound(key, config) for key in candidate.changes)), None)


def describe(tier: Tier) -> str:
    """A tier and its branches in one line.

    >>> describe(by_name("recurrent_dropout").tier(None))
    'recurrent_dropout=0.2 → kept: (recurrent_dropout=0.4 → kept: recurrent_dropout=0.5; scrapped: recurrent_dropout=0.3)'
    """
    text = " vs ".join(c.label for c in tier.candidates)
    branches = []
    for word, t in (("kept", tier.if_kept), ("scrapped", tier.if_scrapped)):
        if t is not None:
            sub = describe(t)
            branches.append(f"{word}: ({sub})" if t.if_kept or t.if_scrapped else f"{word}: {sub}")
    return f"{text} → {'; '.join(branches)}" if branches else text


def recipe_table(config: Config) -> str:
    """The recipe of ``config``'s task as a Markdown table (the decay values follow its optimizer).

    >>> from rnnlab.config import parse_config
    >>> recipe_table(parse_config('[data]\\ndataset = "UnitTest"')).splitlines()[0]
    '| step | what the recipe says | what is tried (→ next, depending on the outcome) |'
    >>> lm = parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"')
    >>> "| `weight_drop` |" in recipe_table(lm), "shuffle_within_batch" in recipe_table(lm)
    (True, False)
    """
    rows = ["| step | what the recipe says | what is tried (→ next, depending on the outcome) |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.advice} | {describe(s.tier(config))} |" for s in steps_for(config)]
    return "\n".join(rows)
