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

import inspect
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


def _takes_one_argument(loss_fn: Callable[..., Tensor]) -> bool:
    """Whether ``loss_fn(output)`` binds (True when its signature cannot be read: its own
    error then stands)."""
    fn = loss_fn.forward if isinstance(loss_fn, nn.Module) else loss_fn  # (Module.__call__ takes *args)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True


def compute_loss(model: nn.Module, batch: Any, loss_fn: Callable[..., Tensor]) -> tuple[Any, Tensor]:
    """Run ``model`` on the batch and return ``(output, scalar loss)``; a batch without a target
    for a ``loss_fn`` that takes one is refused before the model runs.

    >>> import torch
    >>> model = torch.nn.Linear(3, 2)
    >>> compute_loss(model, (torch.ones(4, 3), torch.zeros(4, dtype=torch.long)),
    ...              torch.nn.CrossEntropyLoss())[1].shape
    torch.Size([])
    >>> compute_loss(model, torch.ones(4, 3), torch.nn.functional.cross_entropy)
    Traceback (most recent call last):
    ...
    TypeError: batch: expected an (input, target) pair, as loss_fn cross_entropy takes a target, got the input alone (Tensor of shape (4, 3))
    """
    x, target = split_batch(batch)
    if target is None and not _takes_one_argument(loss_fn):
        given = f"Tensor of shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
        raise TypeError(f"batch: expected an (input, target) pair, as loss_fn {name} takes a target, "
                        f"got the input alone ({given})")
    output = model(x)
    loss = loss_fn(output) if target is None else loss_fn(output, target)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn: expected a scalar loss tensor, got {shape}")
    if not loss.requires_grad:
        raise ValueError("loss_fn: the loss does not depend on any parameter (no gradient to follow)")
    return output, loss.reshape(())

