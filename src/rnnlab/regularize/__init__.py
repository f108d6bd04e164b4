"""Which parameters to regularize and how: roles, param groups, penalties.

Example:
    >>> import torch
    >>> from rnnlab.regularize import Rule, param_groups, roles
    >>> model = torch.nn.LSTM(3, 4)
    >>> roles(model)["weight_hh_l0"]
    'recurrent'
    >>> groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-3)], weight_decay=1e-4)
    >>> [g["name"] for g in groups]
    ['rule0', 'default', 'no_decay']
"""

from rnnlab.regularize.groups import (
    NOREG,
    PROTECTED_ROLES,
    ParamGroups,
    Rule,
    param_groups,
    summary,
)
from rnnlab.regularize.penalties import (
    ActivityRegularizer,
    WeightPenalty,
    recurrent_modules,
    weight_penalty,
)
from rnnlab.regularize.roles import ROLES, ParamInfo, RoleRule, describe_params, roles

__all__ = [
    "ROLES",
    "RoleRule",
    "ParamInfo",
    "roles",
    "describe_params",
    "Rule",
    "ParamGroups",
    "param_groups",
    "summary",
    "PROTECTED_ROLES",
    "NOREG",
    "WeightPenalty",
    "weight_penalty",
    "ActivityRegularizer",
    "recurrent_modules",
]
