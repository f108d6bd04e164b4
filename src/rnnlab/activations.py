"""Activation functions by name, for the ``activation`` / ``recurrent_activation`` keywords.

``hard_sigmoid`` is torch's ``F.hardsigmoid`` (relu6(x + 3) / 6, as in Keras 3), not Keras 2's
``clip(0.2 x + 0.5, 0, 1)``.

Example:
    >>> import torch
    >>> get_activation("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import did_you_mean

Activation = Callable[[Tensor], Tensor]

ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,
    "hard_tanh": F.hardtanh,
    "relu": torch.relu,
    "relu6": F.relu6,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "softsign": F.softsign,
    "linear": lambda x: x,
}


def get_activation(name_or_fn: str | Activation, argument: str = "activation") -> Activation:
    """Resolve an activation given by name (see ``ACTIVATIONS``) or as a callable.

    ``argument`` names the keyword in error messages.
    """
    if callable(name_or_fn):
        return name_or_fn
    if not isinstance(name_or_fn, str):
        raise TypeError(
            f"{argument}: expected an activation name or a callable, got {type(name_or_fn).__name__}"
        )
    try:
        return ACTIVATIONS[name_or_fn]
    except KeyError:
        raise ValueError(
            f"{argument}: expected one of {sorted(ACTIVATIONS)} or a callable, got {name_or_fn!r}"
            f"{did_you_mean(name_or_fn, ACTIVATIONS)}"
        ) from None
