"""Which submodules of a model are recurrent layers (the unit every collector works on).

A *recurrent layer* is a module that runs a whole sequence: torch's ``nn.LSTM``/``nn.GRU``/
``nn.RNN``, any rnnlab layer (a subclass of ``rnnlab.layers.base.RecurrentBase``) and
``rnnlab.Recurrent`` (a user's cell run over time). Cells
(``nn.LSTMCell`` ...) and modules nested inside a recurrent layer are not listed.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 4), torch.nn.Linear(4, 2))
    >>> [name for name, _ in recurrent_modules(model)]
    ['0']
"""

from __future__ import annotations

from torch import nn


def _rnnlab_layer_types() -> tuple[type, ...]:
    # Imported on use: rnnlab.layers imports the gate layout, which this package also uses.
    from rnnlab.layers import Recurrent, RecurrentBase

    return (RecurrentBase, Recurrent)


def is_recurrent_layer(module: nn.Module) -> bool:
    """True for ``nn.LSTM``/``nn.GRU``/``nn.RNN``, rnnlab layers and ``rnnlab.Recurrent``.

    >>> is_recurrent_layer(nn.GRU(2, 3)), is_recurrent_layer(nn.GRUCell(2, 3))
    (True, False)
    """
    return isinstance(module, (nn.RNNBase, *_rnnlab_layer_types()))


def recurrent_modules(model: nn.Module, gated: bool = False) -> list[tuple[str, nn.Module]]:
    """The outermost recurrent layers of ``model`` as ``(qualified name, module)``, in order.

    The model itself is listed with name ``""`` when it is a recurrent layer. With
    ``gated=True`` only layers with a known gate layout (``rnnlab.gates.kind_of`` is not None:
    not ``rnnlab.Recurrent``) are listed — the ones :func:`rnnlab.gates.layer_weights` accepts.

    >>> [n for n, _ in recurrent_modules(nn.LSTM(2, 3))]
    ['']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if any(name == f or name.startswith(f + ".") if f else True for f, _ in found):
            continue  # nested inside a recurrent layer already listed
        if is_recurrent_layer(module):
            found.append((name, module))
    if gated:
        from rnnlab.gates import kind_of

        found = [(n, m) for n, m in found if kind_of(m) is not None]
    return found


def find_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (a clear KeyError with a suggestion when it does not exist)."""
    from rnnlab._checks import did_you_mean

    modules = dict(model.named_modules())
    if name not in modules:
        raise KeyError(
            f"module: no submodule named {name!r} in {type(model).__name__}"
            f"{did_you_mean(name, [n for n in modules if n])}"
        )
    return modules[name]
