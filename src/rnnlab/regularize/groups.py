"""Parameter groups from rules: which parameters get which weight decay and learning rate.

``param_groups(model, rules)`` returns a list of param-group dicts that any ``torch.optim``
optimizer accepts. Each :class:`Rule` selects parameters by role, module type and/or name pattern
and sets ``weight_decay`` (L2, decoupled in AdamW-style optimizers), ``l1`` (decoupled L1 decay,
honoured by ``rnnlab.optim`` optimizers) and ``lr_mult`` (learning-rate multiplier).

Precedence — every parameter lands in exactly one group:

1. a name containing ``noreg`` always goes to the ``no_decay`` group (no rule can reach it);
2. otherwise the **first** rule that selects the parameter takes it. Bias and norm parameters
   are protected: a rule selects them only when its ``role`` names ``"bias"`` / ``"norm"``
   explicitly (so ``Rule(module_type=nn.LSTM, weight_decay=1e-3)`` decays the LSTM's kernel and
   recurrent weights, not its biases);
3. parameters no rule took: role ``bias`` or ``norm`` → ``no_decay`` group (decay 0);
   everything else → ``default`` group.

Decay, torch's convention: a group gets the decay its rule sets, else the ``weight_decay`` given
to ``param_groups``; when neither gives one the group has no ``weight_decay`` key, so the
optimizer's own ``weight_decay`` argument (its default) applies to it. The ``no_decay`` group
always says ``weight_decay=0.0``. So ``torch.optim.AdamW(param_groups(model), weight_decay=1e-2)``
decays the weights at 1e-2 and leaves biases and norms alone.

Learning rate: a group's ``lr_mult`` multiplies the optimizer's learning rate, with any
``torch.optim`` optimizer: given ``lr``, ``param_groups`` sets each group's ``lr = lr * lr_mult``;
without it a group with ``lr_mult != 1`` gets its ``lr`` when the optimizer fills in its
defaults (``torch.optim.SGD(groups, lr=1.0)`` gives ``lr_mult=0.1`` an lr of 0.1). A group that
already holds an ``lr`` keeps it. Optimizers that are not ``torch.optim.Optimizer`` subclasses:
pass ``lr`` to ``param_groups``. A torch optimizer writes its settings into the group dicts and
holds them: giving the same result to a second torch optimizer is an error saying to call ``param_groups``
again (it would keep the first one's lr, and share its groups).

Frozen parameters (``requires_grad=False``) are grouped like the others; torch's optimizers
skip a parameter while it has no gradient, so neither its step nor its decay acts. A rule with
a selector that decays frozen parameters warns, naming them.

Typo protection: a rule that selects no parameter, or only parameters already taken by earlier
rules, is an error; a rule that selects some parameters an earlier rule already took warns,
naming them (a rule with no selector, the "everything else" rule, does not warn). Unknown roles,
negative decays and bad patterns are errors too.

Group dicts carry ``params``, ``param_names`` (torch's own key for named parameters),
``name`` (the group label), ``weight_decay`` (unless the optimizer's applies), ``l1``,
``lr_mult`` and, when ``lr`` is given, ``lr = lr * lr_mult``. Plain torch optimizers ignore
``l1``: use ``rnnlab.optim`` optimizers (or call ``rnnlab.optim.apply_l1_prox`` after each step);
given to one, a group with ``l1 > 0`` warns once at its second step if nothing applied it.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 4), torch.nn.Linear(4, 2))
    >>> groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-3),
    ...                               Rule(module_type=torch.nn.Linear, lr_mult=0.5)])
    >>> opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=1e-2)
    >>> [(g["name"], g["weight_decay"], g["lr"], len(g["params"])) for g in opt.param_groups]
    [('rule0', 0.001, 0.001, 1), ('rule1', 0.01, 0.0005, 1), ('default', 0.01, 0.001, 1), ('no_decay', 0.0, 0.001, 3)]
    >>> print(groups.summary().splitlines()[0])
    group     weight_decay  l1  lr_mult  params  elements  selected by
"""

from __future__ import annotations

import math
import os
import sys
import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from rnnlab._checks import did_you_mean
from rnnlab.regularize.roles import (
    ROLES,
    ParamInfo,
    RoleRule,
    check_pattern,
    check_role,
    check_types,
    close_names_hint,
    describe_params,
)
from rnnlab.tables import text_table

__all__ = ["Rule", "ParamGroups", "param_groups", "summary", "PROTECTED_ROLES", "NOREG"]

#: Roles that get no decay by default and that a rule reaches only by naming them.
PROTECTED_ROLES: tuple[str, ...] = ("bias", "norm")
#: A parameter whose name contains this string is never decayed.
NOREG = "noreg"


def check_nonneg(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument}: expected a number >= 0, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{argument}: expected a finite number >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class Rule:
    """Select parameters and set their decay and learning-rate multiplier.

    Selectors (all given ones must match): ``role`` (a role or tuple of roles, see
    :data:`rnnlab.regularize.roles.ROLES`), ``module_type`` (the holding module or any module
    containing it is an instance), ``name`` (regular expression searched in the parameter name).
    A rule with no selector selects every unprotected parameter.

    Settings: ``weight_decay`` (None → the ``weight_decay`` given to :func:`param_groups`, and
    when that is None too the optimizer's), ``l1`` (decoupled L1 decay), ``lr_mult`` (multiplies
    the optimizer's learning rate). ``label`` names the group (default ``rule{i}``).

    >>> Rule(role=("kernel", "recurrent"), weight_decay=1e-4).role
    ('kernel', 'recurrent')
    >>> Rule(role="recurent")
    Traceback (most recent call last):
    ...
    ValueError: Rule.role: expected one of ['kernel', 'recurrent', 'bias', 'norm', 'embedding', 'other'], got 'recurent'; did you mean 'recurrent'?
    """

    role: str | tuple[str, ...] | None = None
    module_type: type | tuple[type, ...] | None = None
    name: str | None = None
    weight_decay: float | None = None
    l1: float = 0.0
    lr_mult: float = 1.0
    label: str | None = None

    def __post_init__(self) -> None:
        if self.role is not None:
            roles = (self.role,) if isinstance(self.role, str) else self.role
            if not isinstance(roles, (tuple, list)) or not roles:
                raise TypeError(f"Rule.role: expected a role or a tuple of roles, got {self.role!r}")
            for r in roles:
                check_role(r, "Rule.role")
            object.__setattr__(self, "role", tuple(roles) if len(roles) > 1 else roles[0])
        check_types(self.module_type, "Rule.module_type")
        check_pattern(self.name, "Rule.name")
        if self.weight_decay is not None:
            check_nonneg(self.weight_decay, "Rule.weight_decay")
        check_nonneg(self.l1, "Rule.l1")
        check_nonneg(self.lr_mult, "Rule.lr_mult")
        if self.label is not None and not isinstance(self.label, str):
            raise TypeError(f"Rule.label: expected a string, got {type(self.label).__name__}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        """Build a rule from a mapping (e.g. a TOML table); unknown keys are an error.

        >>> Rule.from_dict({"role": "kernel", "weight_decay": 1e-4}).weight_decay
        0.0001
        >>> Rule.from_dict({"rol": "kernel"})
        Traceback (most recent call last):
        ...
        KeyError: "rule: unknown key 'rol'; did you mean 'role'?"
        """
        keys = [f.name for f in fields(cls)]
        for k in d:
            if k not in keys:
                raise KeyError(f"rule: unknown key {k!r}{did_you_mean(str(k), keys)}")
        role = d.get("role")
        if isinstance(role, list):
            d = {**d, "role": tuple(role)}
        return cls(**d)

    @property
    def roles(self) -> tuple[str, ...] | None:
        if self.role is None:
            return None
        return (self.role,) if isinstance(self.role, str) else tuple(self.role)

    def selects(self, info: ParamInfo) -> bool:
        """Whether this rule selects ``info`` (ignoring which rule comes first)."""
        if NOREG in info.name:
            return False
        wanted = self.roles
        if wanted is None:
            if info.role in PROTECTED_ROLES:
                return False
        elif info.role not in wanted:
            return False
        types = check_types(self.module_type, "module_type")
        if types is not None and not info.within(types):
            return False
        pattern = check_pattern(self.name, "name")
        return pattern is None or pattern.search(info.name) is not None

    def describe(self) -> str:
        parts = []
        if self.role is not None:
            parts.append(f"role={self.role!r}")
        if self.module_type is not None:
            types = check_types(self.module_type, "module_type") or ()
            parts.append("module_type=" + "|".join(t.__name__ for t in types))
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        return ", ".join(parts) or "all unprotected"


class _Group(dict):
    """A param-group dict whose missing ``lr`` defaults to the optimizer's ``lr`` times ``lr_mult``.

    ``torch.optim.Optimizer.add_param_group`` fills a group's missing settings with
    ``group.setdefault(name, optimizer_default)``: scaling the default there is what makes
    ``lr_mult`` act in every torch optimizer, not only in rnnlab's.

    That call writes into this very dict, which the optimizer then holds as its group: a second
    torch optimizer given the same groups would find the first one's ``lr`` (and every other
    setting) there and keep it, and the two would share their groups. So the group remembers the
    optimizer that filled it, and ``add_param_group`` of another one is a one-line error saying to
    call :func:`param_groups` again. A copy (``copy.copy``, ``deepcopy`` of an optimizer) is no
    optimizer's; rnnlab's optimizers copy the groups and fill the copies.

    A torch optimizer does not apply a group's ``l1`` (rnnlab's do): a group with ``l1 > 0`` that
    one fills gives it a step pre-hook (:class:`_L1Unapplied`) that warns once, at the second step,
    when nothing read the group's ``l1`` since the first (``rnnlab.optim.apply_l1_prox`` reads it
    with ``get``: a user who calls it after each step is not warned).
    """

    _filled_by: weakref.ref[Any] | None = None
    _l1_read: bool = False

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "l1":  # (who applies the l1 prox reads it: _L1Unapplied)
            self._l1_read = True
        return super().get(key, default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        caller = sys._getframe(1)
        if caller.f_code.co_name == "add_param_group":
            self._filled_in(caller.f_locals.get("self"))
        if key == "lr" and "lr" not in self and self.get("lr_mult", 1.0) != 1.0 and default is not None:
            default = default * self["lr_mult"]
        return super().setdefault(key, default)

    def _filled_in(self, optimizer: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            return
        if self._filled_by is None:
            self._filled_by = weakref.ref(optimizer)
            if float(super().get("l1", 0.0)) > 0:
                optimizer.register_step_pre_hook(_L1Unapplied(self))
        elif self._filled_by() is not optimizer:
            check_unfilled(self)

    def filled(self) -> tuple[bool, Any]:
        """Whether an optimizer filled this group, and that optimizer (None once it is gone)."""
        return self._filled_by is not None, None if self._filled_by is None else self._filled_by()

    def __reduce__(self) -> tuple[Any, ...]:
        # (a copy is a new group, e.g. ZeroRedundancyOptimizer's per-rank copies for its local optimizer)
        return _Group, (dict(self),)


class _L1Unapplied:
    """A torch optimizer's step pre-hook for one of its groups with ``l1 > 0`` (:class:`_Group`):
    at the second step, a one-line warning when nothing read the group's ``l1`` since the first
    (torch's optimizers ignore the key: its parameters got no L1 decay). Then it does nothing. A
    class, not a closure, so that the optimizer still pickles."""

    def __init__(self, group: _Group) -> None:
        self.group = group
        self.steps = 0

    def __call__(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        self.steps += 1
        if self.steps == 1:
            self.group._l1_read = False
        elif self.steps == 2 and not self.group._l1_read:
            g, cls = self.group, type(optimizer)
            name = f"torch.optim.{cls.__name__}" if getattr(torch.optim, cls.__name__, None) is cls else cls.__name__
            # (pointing at the user's opt.step(): past this hook's callers in torch and rnnlab)
            level, frame = 1, sys._getframe(0)
            while frame.f_back is not None and frame.f_code.co_filename.startswith(_NOT_USERS):
                frame, level = frame.f_back, level + 1
            warnings.warn(
                f"param_groups: group {dict.get(g, 'name')!r} has l1={dict.get(g, 'l1'):g}, which {name} ignores, so "
                f"its parameters get no L1 decay; use rnnlab.optim.AdamW, NAdamW or SGDW, which apply it, or call "
                f"rnnlab.optim.apply_l1_prox(optimizer) after each step", UserWarning, stacklevel=level,
            )


#: where the frames of torch's optimizer step and of rnnlab are: a warning from a step hook points past them
_NOT_USERS = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
              os.path.dirname(os.path.abspath(torch.__file__)) + os.sep)


def check_unfilled(group: Any) -> None:
    """A one-line ``ValueError`` when ``group``, of :func:`param_groups`, was already filled by
    a torch optimizer (its settings written in: a second optimizer would keep them); any other
    group passes. rnnlab's optimizers ask it too, as they copy the groups they are given.

    >>> check_unfilled({"params": []})
    """
    if not isinstance(group, _Group):
        return
    filled, first = group.filled()
    if filled:
        who = "an earlier optimizer" if first is None else f"a {type(first).__name__}"
        raise ValueError(
            f"params: expected param groups no optimizer holds, got groups that {who} already filled with its "
            f"settings (lr={group.get('lr')!r}); call param_groups() again for each optimizer"
        )


class ParamGroups(list):
    """A list of param-group dicts (pass it to any optimizer) that prints as a summary table.

    ``infos`` holds every parameter with its role; ``group_of`` maps parameter name → group name.
    """

    def __init__(self, groups: list[dict[str, Any]], infos: list[ParamInfo], sources: dict[str, str]):
        super().__init__(groups)
        self.infos = infos
        self.sources = sources
        self.group_of = {n: g["name"] for g in groups for n in g["param_names"]}

    def summary(self) -> str:
        """A table of groups (decay, l1, lr_mult, sizes) and of every parameter's group."""
        return summary(self)

    def __str__(self) -> str:
        return self.summary()


def summary(groups: ParamGroups) -> str:
    """The summary table of :func:`param_groups`' result (also what ``print(groups)`` shows)."""
    if not isinstance(groups, ParamGroups):
        raise TypeError(f"groups: expected the result of param_groups(), got {type(groups).__name__}")
    rows = [["group", "weight_decay", "l1", "lr_mult", "params", "elements", "selected by"]]
    for g in groups:
        wd = f"{g['weight_decay']:g}" if "weight_decay" in g else "(optimizer)"
        rows.append([
            g["name"], wd, f"{g['l1']:g}", f"{g['lr_mult']:g}",
            str(len(g["params"])), str(sum(p.numel() for p in g["params"])),
            groups.sources[g["name"]],
        ])
    prow = [["parameter", "role", "shape", "group"]]
    for info in groups.infos:
        prow.append([info.name, info.role, str(list(info.param.shape)), groups.group_of[info.name]])
    return text_table(rows) + "\n\n" + text_table(prow)


def _coerce_rules(rules: object) -> list[Rule]:
    if rules is None:
        return []
    if isinstance(rules, (Rule, Mapping, str)):
        raise TypeError(f"rules: expected a list of Rule, got a single {type(rules).__name__}")
    out = []
    for i, r in enumerate(rules):  # type: ignore[union-attr]
        if isinstance(r, Mapping):
            r = Rule.from_dict(r)
        if not isinstance(r, Rule):
            raise TypeError(f"rules[{i}]: expected a Rule or a mapping, got {type(r).__name__} {r!r}")
        out.append(r)
    return out


def _no_match_hint(rule: Rule, infos: list[ParamInfo]) -> str:
    present = sorted({i.role for i in infos}, key=ROLES.index)
    hints = [f"the model's roles are {present}"]
    if rule.roles is None:
        prot = [i.name for i in infos if i.role in PROTECTED_ROLES and Rule(
            role=i.role, module_type=rule.module_type, name=rule.name).selects(i)]
        if prot:
            hints.append(
                f"it would select {prot[:3]} but bias/norm parameters are reached only by a rule "
                f"naming role='bias' or role='norm'"
            )
    if rule.module_type is not None:
        hints += _module_type_hints(check_types(rule.module_type, "module_type") or (), infos)
    if rule.name is not None:
        hints.append(close_names_hint(rule.name, infos))
    if any(NOREG in i.name for i in infos):
        hints.append(f"names containing {NOREG!r} are never selected")
    return "; ".join(hints)


def _type_name(cls: type) -> str:
    """The name a user writes for ``cls`` (``rnnlab.LSTM``, ``torch.nn.LSTM``), else its module path."""
    import rnnlab

    for prefix, namespace in (("rnnlab", rnnlab), ("torch.nn", nn)):
        if getattr(namespace, cls.__name__, None) is cls:
            return f"{prefix}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _module_type_hints(types: tuple[type, ...], infos: list[ParamInfo]) -> list[str]:
    """The module types that hold the model's parameters, when none is one of ``types``, and
    which of them only shares a name with one (rnnlab.LSTM is not a torch.nn.LSTM)."""
    present: dict[type, None] = {}
    for info in infos:
        for m in reversed(info.modules):  # (the model first, then down to the parameter's owner)
            present.setdefault(type(m))
    if any(issubclass(c, types) for c in present):
        return []
    hints = [f"the model's module types are {[_type_name(c) for c in present]}"]
    for t in types:
        for c in present:
            if c.__name__ == t.__name__:
                hints.append(f"{_type_name(c)} is not a {_type_name(t)} (another class of the same name): write "
                             f"module_type={_type_name(c)}")
    return hints


def param_groups(
    model: nn.Module,
    rules: Sequence[Rule | Mapping[str, Any]] | None = None,
    *,
    weight_decay: float | None = None,
    lr: float | None = None,
    role_rules: Sequence[RoleRule] | None = None,
) -> ParamGroups:
    """Param groups for any ``torch.optim`` optimizer, built from ``rules`` (see module docstring).

    ``weight_decay`` is the decay of the ``default`` group (unprotected parameters no rule took)
    and of rules that set none; None (the default) leaves it to the optimizer's ``weight_decay``.
    ``lr``, when given, sets each group's ``lr`` to ``lr * lr_mult`` (without it, the optimizer's
    lr times ``lr_mult``). ``role_rules`` extend the role classification (:func:`rnnlab.roles`).

    >>> import torch
    >>> lstm = torch.nn.LSTM(2, 3)
    >>> groups = param_groups(lstm)
    >>> {g["name"]: (g["param_names"], g.get("weight_decay")) for g in groups}
    {'default': (['weight_ih_l0', 'weight_hh_l0'], None), 'no_decay': (['bias_ih_l0', 'bias_hh_l0'], 0.0)}
    >>> [g["weight_decay"] for g in torch.optim.SGD(groups, lr=0.1, weight_decay=1e-4).param_groups]
    [0.0001, 0.0]
    """
    wd_default = None if weight_decay is None else check_nonneg(weight_decay, "weight_decay")
    base_lr = None if lr is None else check_nonneg(lr, "lr")
    rule_list = _coerce_rules(rules)
    infos = describe_params(model, role_rules, argument="role_rules")
    if not infos:
        raise ValueError(f"model: {type(model).__name__} has no parameters")

    labels = [r.label if r.label is not None else f"rule{i}" for i, r in enumerate(rule_list)]
    reserved = {"default", "no_decay"}
    seen: set[str] = set()
    for i, lab in enumerate(labels):
        if lab in reserved or lab in seen:
            raise ValueError(
                f"rules[{i}].label: {lab!r} is already used (labels must be unique and not "
                f"{sorted(reserved)})"
            )
        seen.add(lab)

    owner: dict[str, int] = {}
    for i, rule in enumerate(rule_list):
        selected = [info for info in infos if rule.selects(info)]
        if not selected:
            raise ValueError(
                f"rules[{i}] ({rule.describe()}) matches no parameter: {_no_match_hint(rule, infos)}"
            )
        fresh = [info for info in selected if info.name not in owner]
        if not fresh:
            first = min(owner[info.name] for info in selected)
            raise ValueError(
                f"rules[{i}] ({rule.describe()}) is shadowed: every parameter it selects is "
                f"already taken by an earlier rule (rules[{first}]); the first matching rule wins"
            )
        taken = [info for info in selected if info.name in owner]
        catch_all = rule.role is None and rule.module_type is None and rule.name is None
        if taken and not catch_all:  # a rule with no selector means "the rest": no warning
            earlier = sorted({owner[info.name] for info in taken})
            names = [info.name for info in taken]
            warnings.warn(
                f"rules[{i}]{'' if rule.label is None else f' {rule.label!r}'} ({rule.describe()}) "
                f"also selects {names}, already taken by "
                f"{', '.join(f'rules[{j}]' for j in earlier)} (the first matching rule wins): it gets "
                f"only {[f.name for f in fresh]}",
                UserWarning, stacklevel=2,
            )
        for info in fresh:
            owner[info.name] = i

    members: dict[str, list[ParamInfo]] = {lab: [] for lab in labels}
    members["default"] = []
    members["no_decay"] = []
    for info in infos:
        if info.name in owner:
            members[labels[owner[info.name]]].append(info)
        elif NOREG in info.name or info.role in PROTECTED_ROLES:
            members["no_decay"].append(info)
        else:
            members["default"].append(info)

    # decay None: the group leaves the key out, so the optimizer's weight_decay applies (torch's
    # convention for groups that set none)
    settings: dict[str, tuple[float | None, float, float]] = {
        lab: (wd_default if r.weight_decay is None else float(r.weight_decay), float(r.l1), float(r.lr_mult))
        for lab, r in zip(labels, rule_list, strict=True)
    }
    settings["default"] = (wd_default, 0.0, 1.0)
    settings["no_decay"] = (0.0, 0.0, 1.0)
    sources = {lab: r.describe() for lab, r in zip(labels, rule_list, strict=True)}
    sources["default"] = "no rule"
    sources["no_decay"] = f"default: {'/'.join(PROTECTED_ROLES)}, names with {NOREG!r}"

    groups: list[dict[str, Any]] = []
    for lab, mem in members.items():
        if not mem:
            continue
        wd, l1, mult = settings[lab]
        g = _Group(params=[m.param for m in mem], param_names=[m.name for m in mem], name=lab)
        if wd is not None:
            g["weight_decay"] = wd
        g.update(l1=l1, lr_mult=mult)
        if base_lr is not None:
            g["lr"] = base_lr * mult
        groups.append(g)
    # A rule that names frozen parameters and decays them does nothing to them (optimizers skip a
    # parameter without a gradient): said, as a rule that selects nothing is, so that no decay is
    # believed to act that cannot. The catch-all rule and the default group mean "the rest": silent.
    for i, (lab, rule) in enumerate(zip(labels, rule_list, strict=True)):
        wd, l1, _ = settings[lab]
        frozen = [m.name for m in members[lab] if not m.param.requires_grad]
        selector = rule.role is not None or rule.module_type is not None or rule.name is not None
        if frozen and selector and (wd or l1):
            decay = ", ".join(f"{k} {v:g}" for k, v in (("weight_decay", wd), ("l1", l1)) if v)
            warnings.warn(
                f"rules[{i}]{'' if rule.label is None else f' {rule.label!r}'} ({rule.describe()}) selects frozen "
                f"parameters (requires_grad=False) {frozen}: they are in its group at {decay} but will not change "
                "while frozen (optimizers skip a parameter without a gradient)",
                UserWarning, stacklevel=2,
            )
    return ParamGroups(groups, infos, sources)
