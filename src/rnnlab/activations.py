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
from torch import Tensor, nn

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


def check_activation(name_or_fn: object, argument: str = "activation") -> Activation:
    """:func:`get_activation` for a value a user gave (a layer's ``activation=`` or
    ``recurrent_activation=``, checked when the layer is built or the option set): a one-line error
    naming ``argument`` for a class instead of an instance, a module with parameters or buffers
    (the layer does not hold it as a submodule: they would not train, save or follow ``.to()``), and
    a callable that, called once on a small float tensor, does not return a tensor of its shape (the
    step applies it elementwise: anything else would fail deep in the step or broadcast unseen).

    >>> check_activation(torch.nn.ReLU)
    Traceback (most recent call last):
    ...
    TypeError: activation: expected an activation name, a function or a module instance, got the class torch.nn.ReLU; pass an instance: torch.nn.ReLU()
    >>> check_activation(lambda z: z.mean())
    Traceback (most recent call last):
    ...
    ValueError: activation: expected a function returning a tensor of its input's shape (it is applied elementwise), got one returning shape () for input shape (2, 3)
    """
    if isinstance(name_or_fn, type):
        # (refused, not instantiated: a class may need arguments, PReLU's a size, and options keep what was given)
        name = ("torch.nn." if getattr(nn, name_or_fn.__name__, None) is name_or_fn else "") + name_or_fn.__qualname__
        raise TypeError(f"{argument}: expected an activation name, a function or a module instance, got the class "
                        f"{name}; pass an instance: {name}()")
    if isinstance(name_or_fn, nn.Module):
        held = [n for n, _ in name_or_fn.named_parameters()] + [n for n, _ in name_or_fn.named_buffers()]
        if held:
            raise TypeError(f"{argument}: {type(name_or_fn).__name__} has parameters or buffers ({', '.join(held)}), which "
                            f"the layer would not train, save or move with .to(); use a parameter-free activation, or "
                            f"hold it in a cell of your own run by rnnlab.Recurrent")
    fn = get_activation(name_or_fn, argument)  # type: ignore[arg-type]
    if isinstance(name_or_fn, str):
        return fn
    probe = torch.linspace(-3.0, 3.0, 6).reshape(2, 3)
    try:
        with torch.no_grad():
            out = fn(probe.clone())
    except Exception as e:  # (any failure of the user's function: said in one line, naming the keyword)
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise TypeError(f"{argument}: calling it on a float tensor of shape (2, 3) raised {type(e).__name__}: {first}; "
                        f"expected a function of a tensor, applied elementwise") from None
    if not isinstance(out, Tensor):
        raise TypeError(f"{argument}: expected a function returning a tensor, got one returning {type(out).__name__} "
                        f"for a tensor of shape (2, 3)")
    if out.shape != probe.shape:
        raise ValueError(f"{argument}: expected a function returning a tensor of its input's shape (it is applied "
                         f"elementwise), got one returning shape {tuple(out.shape)} for input shape (2, 3)")
    return fn
