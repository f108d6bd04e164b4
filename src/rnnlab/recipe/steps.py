"""The regularization recipe of docs/regularization.md as a table: steps, candidates, branches.

Each :class:`Step` starts with one :class:`Tier` of candidates, tried side by side against the
configuration kept so far. The best candidate that beats it by more than the noise
(:mod:`rnnlab.recipe.decide`) is kept; then the tier's ``if_kept`` or ``if_scrapped`` branch is
tried next, and so on until a tier has no branch to follow. A step none of whose candidates is
kept leaves the configuration as it was ("scrapped"). This is the only place that knows the
recipe; the docs' table is generated from it (:func:`recipe_table`).

A candidate's ``changes`` map key paths of the TOML config to values. A dotted path names a key
(``"model.recurrent_dropout"``); ``"training.decay_rules[role=R].weight_decay"`` sets the decay of
the rule that selects exactly role ``R``, adding that rule first when the config has none.

Example:
    >>> [s.name for s in RECIPE][:3]
    ['recurrent_decay', 'kernel_decay', 'input_dropout']
    >>> step = by_name("recurrent_dropout")
    >>> [c.label for c in step.first.candidates], [c.label for c in step.first.if_kept.candidates]
    (['recurrent_dropout=0.2'], ['recurrent_dropout=0.4'])
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnlab._checks import did_you_mean
from rnnlab.errors import ConfigError


@dataclass(frozen=True)
class Candidate:
    """One change of the configuration, scored against the configuration kept so far."""

    label: str
    changes: Mapping[str, Any]
    needs_stacked: bool = False
    """Only for stacked layers (model.num_layers > 1): elsewhere "not applicable"."""


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
    first: Tier


def _one(path: str, value: Any, label: str | None = None) -> Candidate:
    return Candidate(label or f"{path.rsplit('.', 1)[-1]}={value}", {path: value})


def _tier(*candidates: Candidate, if_kept: Tier | None = None, if_scrapped: Tier | None = None) -> Tier:
    return Tier(tuple(candidates), if_kept, if_scrapped)


def _decay(role: str, value: float) -> Candidate:
    return Candidate(f"{role} decay {value:g}", {f"training.decay_rules[role={role}].weight_decay": value})


_MAX_NORM = {"kind": "max_norm", "value": 3.0}
_RBN = Candidate("recurrent_batch_norm", {"model.recurrent_batch_norm": True, "model.layer_norm": False})

#: The recipe, in order (docs/regularization.md). Decay values are those of the optimizer's
#: decay rules (decoupled for adamw/nadamw/sgdw, an L2 term of the gradient for adam/sgd).
RECIPE: tuple[Step, ...] = (
    Step("recurrent_decay", "decay of the recurrent weights: 1e-3 vs 1e-4",
         _tier(_decay("recurrent", 1e-3), _decay("recurrent", 1e-4))),
    Step("kernel_decay", "decay of the kernel weights, separately: 1e-3 vs 1e-4",
         _tier(_decay("kernel", 1e-3), _decay("kernel", 1e-4))),
    Step("input_dropout", "input dropout 0.1, and 0.2 if that helped, else scrap it",
         _tier(_one("model.input_dropout", 0.1), if_kept=_tier(_one("model.input_dropout", 0.2)))),
    Step("recurrent_dropout", "recurrent dropout 0.2, then 0.4, then 0.5 or back to 0.3",
         _tier(_one("model.recurrent_dropout", 0.2),
               if_kept=_tier(_one("model.recurrent_dropout", 0.4),
                             if_kept=_tier(_one("model.recurrent_dropout", 0.5)),
                             if_scrapped=_tier(_one("model.recurrent_dropout", 0.3))))),
    Step("batch_norm", "batch norm between layers, then recurrent batch norm: keep if better",
         _tier(Candidate("between_layers_norm=batch", {"model.between_layers_norm": "batch"}, needs_stacked=True),
               if_kept=_tier(_RBN), if_scrapped=_tier(_RBN))),
    Step("constraint", "a max-norm constraint (3) on the recurrent and kernel weights",
         _tier(Candidate("max_norm 3", {"model.recurrent_constraint": _MAX_NORM,
                                        "model.kernel_constraint": _MAX_NORM}))),
    Step("residual", "residual connections between stacked layers",
         _tier(Candidate("residual=True", {"model.residual": True}, needs_stacked=True))),
    Step("zoneout", "zoneout 0.1", _tier(_one("model.zoneout", 0.1))),
    Step("layer_norm", "layer norm", _tier(Candidate("layer_norm", {"model.layer_norm": True,
                                                                   "model.recurrent_batch_norm": False}))),
    Step("shuffle_within_batch", "fixed batches in shuffled order, shuffled within each batch",
         _tier(Candidate("shuffle_within_batch", {"training.shuffle": "batches",
                                                  "training.shuffle_within_batch": True}))),
    Step("nadamw", "NAdamW instead of the optimizer", _tier(_one("training.optimizer", "nadamw"))),
)

STEP_NAMES = tuple(s.name for s in RECIPE)


def by_name(name: str) -> Step:
    """The step called ``name`` (an error with "did you mean" for an unknown one)."""
    for s in RECIPE:
        if s.name == name:
            return s
    raise ConfigError(f"unknown recipe step {name!r}{did_you_mean(name, STEP_NAMES)}; "
                      f"the steps are: {', '.join(STEP_NAMES)}")


def select_steps(names: str | None) -> tuple[Step, ...]:
    """The steps named in a comma-separated list (``--steps``), in the recipe's order.

    >>> [s.name for s in select_steps("zoneout,input_dropout")]
    ['input_dropout', 'zoneout']
    """
    if names is None:
        return RECIPE
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise ConfigError(f"--steps: expected a comma-separated list of steps ({', '.join(STEP_NAMES)}), got {names!r}")
    chosen = {by_name(n).name for n in wanted}
    return tuple(s for s in RECIPE if s.name in chosen)


def not_applicable(candidate: Candidate, raw: Mapping[str, Any]) -> str | None:
    """Why ``candidate`` does not apply to the config ``raw`` (None: it applies).

    >>> not_applicable(by_name("residual").first.candidates[0], {"model": {"num_layers": 1}})
    'needs stacked layers (model.num_layers > 1), the config has 1'
    """
    if candidate.needs_stacked:
        layers = raw.get("model", {}).get("num_layers", 1)
        if layers <= 1:
            return f"needs stacked layers (model.num_layers > 1), the config has {layers}"
    return None


_RULE_PATH = re.compile(r"^training\.decay_rules\[role=(\w+)\]\.weight_decay$")


def apply_changes(raw: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the TOML table ``raw`` with ``changes`` applied (see the module docstring).

    >>> apply_changes({"model": {"hidden_size": 8}}, {"model.zoneout": 0.1})
    {'model': {'hidden_size': 8, 'zoneout': 0.1}}
    >>> apply_changes({}, {"training.decay_rules[role=kernel].weight_decay": 1e-3})
    {'training': {'decay_rules': [{'role': 'kernel', 'weight_decay': 0.001}]}}
    """
    out = copy.deepcopy(dict(raw))
    for path, value in changes.items():
        m = _RULE_PATH.match(path)
        if m:
            rules = out.setdefault("training", {}).setdefault("decay_rules", [])
            mine = [r for r in rules if r.get("role") == m.group(1) and r.get("name") is None]
            if mine:
                mine[0]["weight_decay"] = value
            else:
                rules.insert(0, {"role": m.group(1), "weight_decay": value})
            continue
        *parents, key = path.split(".")
        table = out
        for p in parents:
            table = table.setdefault(p, {})
        table[key] = copy.deepcopy(value)
    return out


def describe(tier: Tier) -> str:
    """A tier and its branches in one line.

    >>> describe(by_name("recurrent_dropout").first)
    'recurrent_dropout=0.2 → kept: (recurrent_dropout=0.4 → kept: recurrent_dropout=0.5; scrapped: recurrent_dropout=0.3)'
    """
    text = " vs ".join(c.label for c in tier.candidates)
    branches = []
    for word, t in (("kept", tier.if_kept), ("scrapped", tier.if_scrapped)):
        if t is not None:
            sub = describe(t)
            branches.append(f"{word}: ({sub})" if t.if_kept or t.if_scrapped else f"{word}: {sub}")
    return f"{text} → {'; '.join(branches)}" if branches else text


def recipe_table() -> str:
    """The recipe as a Markdown table (docs/recipe.md and ``rnnlab recipe --help``).

    >>> recipe_table().splitlines()[0]
    '| step | what the recipe says | what is tried (→ next, depending on the outcome) |'
    """
    rows = ["| step | what the recipe says | what is tried (→ next, depending on the outcome) |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.advice} | {describe(s.first)} |" for s in RECIPE]
    return "\n".join(rows)
