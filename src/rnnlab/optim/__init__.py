"""Optimizers with decoupled weight decay, schedules, clipping and the target-norm controller.

Example:
    >>> import torch
    >>> from rnnlab.optim import AdamW, GradClipper, WarmRestarts
    >>> from rnnlab.regularize import Rule, param_groups
    >>> model = torch.nn.GRU(3, 4)
    >>> opt = AdamW(param_groups(model, [Rule(role="recurrent", weight_decay=1e-2)]), lr=1e-3)
    >>> sched = WarmRestarts(opt, period=100)
    >>> clip = GradClipper(max_norm=1.0)
    >>> model(torch.randn(5, 2, 3))[0].sum().backward()
    >>> norm = clip(model.parameters()); opt.step(); sched.step()
"""

from rnnlab.optim.clip import GradClipper, NonFiniteGradientError, clip_grad_norm
from rnnlab.optim.decoupled import SGDW, AdamW, NAdamW, apply_l1_prox, normalized_weight_decay
from rnnlab.optim.schedule import WarmRestarts, warm_restart_factor
from rnnlab.optim.target_norm import TargetNormController, group_channel_norms

__all__ = [
    "AdamW",
    "NAdamW",
    "SGDW",
    "apply_l1_prox",
    "normalized_weight_decay",
    "WarmRestarts",
    "warm_restart_factor",
    "GradClipper",
    "clip_grad_norm",
    "NonFiniteGradientError",
    "TargetNormController",
    "group_channel_norms",
]
