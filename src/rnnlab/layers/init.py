"""Initialisers for the ``kernel_init`` / ``recurrent_init`` keywords, applied per gate block.

Orthogonal initialisation is applied to each gate's ``[H, H]`` block separately (each gate's
recurrence is then norm-preserving), not to the stacked ``[G*H, H]`` matrix.

Example:
    >>> import torch
    >>> w = torch.empty(8, 2)
    >>> init_gate_blocks_(w, "orthogonal", num_gates=4)
    >>> torch.allclose(w[:2] @ w[:2].T, torch.eye(2), atol=1e-5)
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab._checks import did_you_mean

Initializer = Callable[[Tensor], object]

INITIALIZERS: dict[str, Initializer] = {
    "orthogonal": nn.init.orthogonal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "glorot_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": nn.init.kaiming_uniform_,
    "identity": lambda t: nn.init.eye_(t) if t.dim() == 2 else nn.init.ones_(t),
    "zeros": nn.init.zeros_,
}


def check_initializer(name: str, value: str | Initializer | None) -> str | Initializer | None:
    if value is None or callable(value):
        return value
    if value not in INITIALIZERS:
        raise ValueError(
            f"{name}: expected one of {sorted(INITIALIZERS)} or a callable, got {value!r}"
            f"{did_you_mean(str(value), INITIALIZERS)}"
        )
    return value


@torch.no_grad()
def init_gate_blocks_(w: Tensor, init: str | Initializer, num_gates: int) -> None:
    """Initialise each gate block of a stacked weight ``[G*H, ...]`` in place."""
    fn = INITIALIZERS[init] if isinstance(init, str) else init
    if w.dim() == 1:  # IndRNN recurrent vector: one block
        fn(w)
        return
    for block in w.chunk(num_gates, dim=0):
        fn(block)
