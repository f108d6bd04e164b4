"""The one convention for "a batch and a loss" shared by the collectors and the health checks.

A *batch* is either the model input alone (a Tensor or PackedSequence) or a tuple/list
``(input, target)``. The model is called as ``model(input)``; the loss as
``loss_fn(output, target)``, or ``loss_fn(output)`` when the batch has no target.

Example:
    >>> import torch
    >>> x, y = split_batch((torch.zeros(2, 3), torch.ones(2)))
    >>> x.shape, y.shape
    (torch.Size([2, 3]), torch.Size([2]))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence


def split_batch(batch: Any) -> tuple[Any, Any | None]:
    """``(input, target)`` of a batch; target is None for an input-only batch."""
    if isinstance(batch, (Tensor, PackedSequence)):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        "batch: expected an input Tensor/PackedSequence or a pair (input, target), got "
        f"{type(batch).__name__}" + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
    )


def compute_loss(model: nn.Module, batch: Any, loss_fn: Callable[..., Tensor]) -> tuple[Any, Tensor]:
    """Run ``model`` on the batch and return ``(output, scalar loss)``."""
    x, target = split_batch(batch)
    output = model(x)
    loss = loss_fn(output) if target is None else loss_fn(output, target)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn: expected a scalar loss tensor, got {shape}")
    if not loss.requires_grad:
        raise ValueError("loss_fn: the loss does not depend on any parameter (no gradient to follow)")
    return output, loss.reshape(())

