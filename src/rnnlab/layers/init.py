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
    """``value`` for the keyword ``name`` (``kernel_init``, ``recurrent_init``): None, a name of
    :data:`INITIALIZERS` or a callable (see :func:`init_gate_blocks_`); anything else is a
    one-line error naming the keyword and the accepted forms.

    >>> check_initializer("kernel_init", {"i": "orthogonal"})
    Traceback (most recent call last):
    ...
    TypeError: kernel_init: expected None, an initializer name (one of ['glorot_uniform', 'identity', 'kaiming_uniform', 'orthogonal', 'xavier_normal', 'xavier_uniform', 'zeros']) or a callable applied to each gate's block, got dict {'i': 'orthogonal'}
    """
    if value is None or callable(value):
        return value
    if not isinstance(value, str):  # (a dict per gate, a list: one initializer applies to every gate block)
        raise TypeError(f"{name}: expected None, an initializer name (one of {sorted(INITIALIZERS)}) or a callable "
                        f"applied to each gate's block, got {type(value).__name__} {value!r}")
    if value not in INITIALIZERS:
        raise ValueError(
            f"{name}: expected one of {sorted(INITIALIZERS)} or a callable, got {value!r}"
            f"{did_you_mean(str(value), INITIALIZERS)}"
        )
    return value


@torch.no_grad()
def init_gate_blocks_(w: Tensor, init: str | Initializer, num_gates: int, argument: str = "kernel_init") -> None:
    """Initialise each gate block of a stacked weight ``[G*H, ...]`` in place.

    A callable ``init`` gets each block (a view of ``w``) and either fills it in place (returning
    None or the block, as ``torch.nn.init``'s functions do) or returns a new tensor of the block's
    shape, which is copied into it (``lambda t: torch.zeros_like(t)``); any other return is a
    one-line error naming ``argument``, the keyword that gave ``init``.

    >>> w = torch.ones(4, 2)
    >>> init_gate_blocks_(w, lambda t: torch.full_like(t, 3.0), num_gates=2)
    >>> w.unique().tolist()
    [3.0]
    >>> init_gate_blocks_(w, lambda t: t.sum(), num_gates=2)
    Traceback (most recent call last):
    ...
    ValueError: kernel_init: the initializer returned a tensor of shape (), expected None, the block it was given, or a tensor of the block's shape (2, 2) to copy into it
    """
    fn = INITIALIZERS[init] if isinstance(init, str) else init
    blocks = [w] if w.dim() == 1 else w.chunk(num_gates, dim=0)  # (IndRNN's recurrent vector: one block)
    for block in blocks:
        out = fn(block)
        if out is None or out is block:
            continue
        if not isinstance(out, Tensor):
            raise TypeError(f"{argument}: the initializer returned {type(out).__name__}, expected None, the block it "
                            f"was given, or a tensor of the block's shape {tuple(block.shape)} to copy into it")
        if out.shape != block.shape:
            raise ValueError(f"{argument}: the initializer returned a tensor of shape {tuple(out.shape)}, expected "
                             f"None, the block it was given, or a tensor of the block's shape {tuple(block.shape)} "
                             f"to copy into it")
        block.copy_(out)
