"""Parameter roles: what each parameter of a model *does*, so regularization can target it.

Every parameter gets exactly one role:

============  ==============================================================================
role          parameters
============  ==============================================================================
kernel        input→hidden weights: ``weight_ih_l{k}`` of recurrent layers, ``weight_ih`` of
              cells, and the weights of ``Linear``/``Bilinear``/``Conv*`` modules (input→output
              weights wherever they sit, including a classifier head)
recurrent     hidden→hidden weights: ``weight_hh_l{k}`` (a vector for IndRNN), the projection
              ``weight_hr_l{k}`` of an LSTM with ``proj_size``, ``weight_hh`` of cells, the
              ``recurrent`` weight a cell's ``GateLayout`` names, and in other custom cells any
              weight whose name has a token ``hh``, ``h2h`` or ``recurrent`` (e.g.
              ``cell.hh.weight``, ``cell.recurrent_kernel``)
bias          every parameter whose own name starts with ``bias`` (outside norm layers)
norm          every parameter of a normalization module (``LayerNorm``, ``GroupNorm``, batch
              norms, ``RMSNorm``, rnnlab's ``TimestepBatchNorm``: ``rnnlab.layers.norm.NORM_TYPES``)
embedding     weights of ``nn.Embedding`` / ``nn.EmbeddingBag``
other         anything else (e.g. ``PReLU`` slopes, free parameters of custom modules)
============  ==============================================================================

Precedence, first match wins:

1. the user's ``extra_rules``, in the order given;
2. a cell's declared :class:`rnnlab.gates.GateLayout` (its ``gate_layout``): the parameters it
   names ``kernel`` → kernel, ``recurrent`` → recurrent, ``bias_ih``/``bias_hh`` → bias, checked
   as :func:`rnnlab.gates.declared_parameters` checks them (a wrong layout is an error here too);
3. torch-style recurrent names (``weight_ih_l0``, ``weight_hh_l1_reverse``, ``weight_hr_l0``,
   ``bias_*``, and the cell names ``weight_ih``/``weight_hh``/``bias_ih``/``bias_hh`` inside
   ``nn.RNNCellBase``);
4. module type: norm modules → norm, embeddings → embedding;
5. name: own name starting with ``bias`` → bias; a name token ``hh``/``h2h``/``recurrent`` →
   recurrent; a token ``ih``/``i2h``/``kernel`` → kernel (tokens are taken from the owner
   module's own name and the attribute, e.g. ``hh`` and ``weight`` in ``model.cell.hh.weight``);
6. module type: ``Linear``/``Bilinear``/``Conv*`` weights → kernel;
7. other.

A parameter behind a parametrization (e.g. DropConnect via ``torch.nn.utils.parametrize``) is
stored as ``<module>.parametrizations.<name>.original``; it is classified as ``<module>.<name>``.
A name token is a piece of a dotted name split at ``.`` and ``_``.

A user rule that matches no parameter of the model is an error (typo protection).

Custom cells whose names say nothing (``cell.conv_x``, ``cell.conv_h``) and declare no gate
layout are classified by type (a Conv weight is ``kernel``); declare the layout, or tell rnnlab
which one is recurrent with ``RoleRule("recurrent", name=r"conv_h\\.weight$")``.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 4), torch.nn.Linear(4, 2))
    >>> roles(model)
    {'0.weight_ih_l0': 'kernel', '0.weight_hh_l0': 'recurrent', '0.bias_ih_l0': 'bias', '0.bias_hh_l0': 'bias', '1.weight': 'kernel', '1.bias': 'bias'}
    >>> roles(model, [RoleRule("other", name=r"^1\\.")])["1.weight"]
    'other'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from rnnlab._checks import did_you_mean
from rnnlab.gates import declared_parameters, parse_param_name
from rnnlab.layers.norm import NORM_TYPES

__all__ = ["ROLES", "RoleRule", "ParamInfo", "roles", "describe_params", "norm_types", "check_role", "role_by_tokens"]

#: The roles a parameter can have.
ROLES: tuple[str, ...] = ("kernel", "recurrent", "bias", "norm", "embedding", "other")

_RECURRENT_TOKENS = frozenset({"hh", "h2h", "recurrent"})
_KERNEL_TOKENS = frozenset({"ih", "i2h", "kernel"})
_DENSE_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.modules.conv._ConvNd,
)
_EMBEDDING_TYPES: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)
_PROJ_RE = re.compile(r"weight_hr_l\d+(_reverse)?$")
_CELL_NAMES = {"weight_ih": "kernel", "weight_hh": "recurrent", "bias_ih": "bias", "bias_hh": "bias"}
#: Role of each component a GateLayout names.
_LAYOUT_ROLES = {"kernel": "kernel", "recurrent": "recurrent", "bias_ih": "bias", "bias_hh": "bias"}


def norm_types() -> tuple[type[nn.Module], ...]:
    """Module types whose parameters have the role ``norm``.

    torch's norm layers plus ``rnnlab.layers.norm.NORM_TYPES`` (rnnlab's own timestep batch norm).
    """
    torch_norms: tuple[type[nn.Module], ...] = (
        nn.LayerNorm,
        nn.GroupNorm,
        nn.modules.batchnorm._BatchNorm,
        nn.modules.instancenorm._InstanceNorm,
        nn.LocalResponseNorm,
    )
    if hasattr(nn, "RMSNorm"):
        torch_norms += (nn.RMSNorm,)
    return tuple(dict.fromkeys(torch_norms + tuple(NORM_TYPES)))


def check_role(role: object, argument: str = "role") -> str:
    """Return ``role`` if it is one of :data:`ROLES`, else raise ``ValueError`` (did you mean)."""
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(
            f"{argument}: expected one of {list(ROLES)}, got {role!r}{did_you_mean(str(role), ROLES)}"
        )
    return role


def check_types(value: object, argument: str) -> tuple[type, ...] | None:
    if value is None:
        return None
    types = value if isinstance(value, tuple) else (value,)
    for t in types:
        if not isinstance(t, type):
            raise TypeError(
                f"{argument}: expected a module class or a tuple of classes, got {t!r} "
                f"({type(t).__name__})"
            )
    return types


def check_pattern(value: object, argument: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{argument}: expected a regular expression string, got {type(value).__name__}")
    try:
        return re.compile(value)
    except re.error as e:
        raise ValueError(f"{argument}: {value!r} is not a valid regular expression ({e})") from None


@dataclass(frozen=True)
class ParamInfo:
    """One parameter and what rules can select it by.

    ``name`` is the name in ``model.named_parameters()``; ``owner`` the module that holds it
    (looking through parametrizations); ``path`` the owner's name and the parameter attribute
    (``"lstm.weight_hh_l0"`` also when parametrized); ``modules`` the owner and all its ancestors.
    """

    name: str
    path: str
    param: Tensor
    owner: nn.Module
    modules: tuple[nn.Module, ...]
    role: str

    def within(self, types: tuple[type, ...]) -> bool:
        """True when the owner or one of its ancestors is an instance of ``types``."""
        return any(isinstance(m, types) for m in self.modules)


@dataclass(frozen=True)
class RoleRule:
    """Assign ``role`` to parameters selected by module type and/or a name pattern.

    ``module_type`` matches the module holding the parameter or any module containing it;
    ``name`` is a regular expression searched (``re.search``) in the parameter name. When both
    are given both must match.

    >>> RoleRule("recurrent", name=r"cell\\.conv_h\\.")
    RoleRule(role='recurrent', module_type=None, name='cell\\\\.conv_h\\\\.')
    """

    role: str
    module_type: type | tuple[type, ...] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        check_role(self.role, "RoleRule.role")
        check_types(self.module_type, "RoleRule.module_type")
        check_pattern(self.name, "RoleRule.name")
        if self.module_type is None and self.name is None:
            raise ValueError(
                f"RoleRule({self.role!r}): give module_type and/or name to select parameters, got neither"
            )

    def matches(self, info: ParamInfo) -> bool:
        types = check_types(self.module_type, "module_type")
        if types is not None and not info.within(types):
            return False
        pattern = check_pattern(self.name, "name")
        return pattern is None or pattern.search(info.name) is not None


    def describe(self) -> str:
        """The selectors, for error messages: ``"name='conv_h', module_type=Conv1d"``."""
        parts = []
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        if self.module_type is not None:
            types = self.module_type if isinstance(self.module_type, tuple) else (self.module_type,)
            parts.append("module_type=" + "|".join(t.__name__ for t in types))
        return f"RoleRule({self.role!r}, {', '.join(parts)})"


def _coerce_role_rules(extra_rules: object, argument: str = "extra_rules") -> list[RoleRule]:
    if extra_rules is None:
        return []
    if isinstance(extra_rules, (RoleRule, Mapping, str)):
        raise TypeError(
            f"{argument}: expected a list of RoleRule, got a single {type(extra_rules).__name__}"
        )
    out = []
    for i, r in enumerate(extra_rules):  # type: ignore[union-attr]
        if not isinstance(r, RoleRule):
            raise TypeError(f"{argument}[{i}]: expected a RoleRule, got {type(r).__name__} {r!r}")
        out.append(r)
    return out


def _role_rule_hint(rule: RoleRule, infos: list[ParamInfo], model: nn.Module) -> str:
    """Why ``rule`` may have matched nothing: close parameter names, missing module types."""
    hints = []
    if rule.module_type is not None:
        types = check_types(rule.module_type, "module_type") or ()
        if not any(isinstance(m, types) for m in model.modules()):
            hints.append(f"the model has no {'/'.join(t.__name__ for t in types)} module")
    if rule.name is not None:
        hints.append(close_names_hint(rule.name, infos))
    return "; ".join(hints) or "module_type and name select no common parameter"


def close_names_hint(pattern: str, infos: list[ParamInfo]) -> str:
    """The parameter names close to a rule's ``name`` pattern that matched nothing (else a few
    names, to show what they look like): the hint of every rule's "matches nothing" error."""
    close = difflib.get_close_matches(pattern, [i.name for i in infos], n=3, cutoff=0.4)
    if close:
        return f"parameter names close to {pattern!r}: {close}"
    return f"parameter names are e.g. {[i.name for i in infos[:4]]}"


def _check_role_rules_used(rules: list[RoleRule], infos: list[ParamInfo], model: nn.Module, argument: str) -> None:
    # Typo protection, as for param_groups' rules: a rule that matches nothing is a mistake.
    # (A rule shadowed by an earlier one is allowed: "first match wins" is the documented order.)
    for i, rule in enumerate(rules):
        if not any(rule.matches(info) for info in infos):
            raise ValueError(
                f"{argument}[{i}] ({rule.describe()}) matches no parameter of "
                f"{type(model).__name__}: {_role_rule_hint(rule, infos, model)}"
            )


def _tokens(path: str) -> set[str]:
    # Only the owner's own name and the attribute: a container named "recurrent" must not make
    # every weight inside it recurrent.
    return {t for seg in path.split(".")[-2:] for t in seg.split("_") if t}


def role_by_tokens(path: str) -> str | None:
    """The role a parameter's name tokens alone say (rule 5 of the precedence above: ``hh``/
    ``h2h``/``recurrent`` → recurrent, ``ih``/``i2h``/``kernel`` → kernel), None when they say
    neither: what a reader of recorded names, with no model at hand, can tell.

    >>> role_by_tokens("rnn.cell.hh.weight"), role_by_tokens("cell.kernel"), role_by_tokens("head.weight")
    ('recurrent', 'kernel', None)
    """
    tokens = _tokens(path)
    return "recurrent" if tokens & _RECURRENT_TOKENS else "kernel" if tokens & _KERNEL_TOKENS else None


def _builtin_role(path: str, owner: nn.Module, attr: str, norms: tuple[type, ...]) -> str:
    if _PROJ_RE.match(attr):  # LSTM proj_size: h_t = W_hr (o ⊙ tanh c) is fed back every step
        return "recurrent"
    parsed = parse_param_name(attr)
    if parsed is not None:
        return "bias" if parsed[0].startswith("bias") else parsed[0]
    if isinstance(owner, nn.RNNCellBase) and attr in _CELL_NAMES:
        return _CELL_NAMES[attr]
    if isinstance(owner, norms):
        return "norm"
    if isinstance(owner, _EMBEDDING_TYPES):
        return "embedding"
    if attr.startswith("bias"):
        return "bias"
    by_tokens = role_by_tokens(path)
    if by_tokens is not None:
        return by_tokens
    if isinstance(owner, _DENSE_TYPES) and attr == "weight":
        return "kernel"
    return "other"


def _split_parametrized(module_name: str, attr: str) -> tuple[str, str]:
    """``("lstm.parametrizations.weight_hh_l0", "original")`` → ``("lstm", "weight_hh_l0")``."""
    parts = module_name.split(".") if module_name else []
    if len(parts) >= 2 and parts[-2] == "parametrizations" and attr.startswith("original"):
        return ".".join(parts[:-2]), parts[-1]
    return module_name, attr


def describe_params(
    model: nn.Module, extra_rules: Sequence[RoleRule] | None = None, *, argument: str = "extra_rules"
) -> list[ParamInfo]:
    """Every parameter of ``model`` (``named_parameters`` order) with its owner and role.

    The shared basis of :func:`roles`, :func:`rnnlab.param_groups` and the penalties. A rule
    of ``extra_rules`` that matches no parameter is a ValueError naming ``argument[i]``.

    >>> import torch
    >>> [p.role for p in describe_params(torch.nn.GRUCell(2, 3))]
    ['kernel', 'recurrent', 'bias', 'bias']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    rules = _coerce_role_rules(extra_rules, argument)
    norms = norm_types()
    modules = dict(model.named_modules(remove_duplicate=False))
    # (by the stored tensor: a layout's names are the cell's own, and a parametrized weight's
    # stored .original is what named_parameters lists)
    declared = {id(t): _LAYOUT_ROLES[comp] for cell in modules.values()
                for comp, t in declared_parameters(cell).items()}
    by_param: dict[int, tuple[str, str]] = {}
    for mod_name, mod in model.named_modules(remove_duplicate=False):
        for attr, p in mod.named_parameters(recurse=False):
            by_param.setdefault(id(p), (mod_name, attr))
    out = []
    for name, p in model.named_parameters():
        mod_name, attr = by_param[id(p)]
        owner_name, owner_attr = _split_parametrized(mod_name, attr)
        owner = modules[owner_name]
        parts = owner_name.split(".") if owner_name else []
        chain = tuple(modules[".".join(parts[:k])] for k in range(len(parts), -1, -1))
        path = f"{owner_name}.{owner_attr}" if owner_name else owner_attr
        info = ParamInfo(name=name, path=path, param=p, owner=owner, modules=chain, role="other")
        role = next((r.role for r in rules if r.matches(info)), None) or declared.get(id(p))
        if role is None:
            role = _builtin_role(path, owner, owner_attr, norms)
        out.append(ParamInfo(name=name, path=path, param=p, owner=owner, modules=chain, role=role))
    _check_role_rules_used(rules, out, model, argument)
    return out


def roles(model: nn.Module, extra_rules: Sequence[RoleRule] | None = None) -> dict[str, str]:
    """Map every parameter name of ``model`` to its role (see the module docstring).

    ``extra_rules`` (a list of :class:`RoleRule`) come first, in order, before the built-in rules.

    >>> import torch
    >>> roles(torch.nn.Sequential(torch.nn.Embedding(10, 3), torch.nn.LayerNorm(3)))
    {'0.weight': 'embedding', '1.weight': 'norm', '1.bias': 'norm'}
    """
    return {info.name: info.role for info in describe_params(model, extra_rules)}
