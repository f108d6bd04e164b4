"""Which submodules of a model are recurrent layers (the unit every collector works on), and
:func:`untouched`, which leaves a model as it was while a collector runs it (:func:`is_untouched`
tells a hook that its module runs inside such a block).

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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy


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


def recurrent_modules(model: nn.Module, gated: bool = False, *, required: bool = False) -> list[tuple[str, nn.Module]]:
    """The outermost recurrent layers of ``model`` as ``(qualified name, module)``, in order.

    The model itself is listed with name ``""`` when it is a recurrent layer. With
    ``gated=True`` only layers with a known gate layout (``rnnlab.gates.kind_of`` is not None:
    not ``rnnlab.Recurrent``) are listed — the ones :func:`rnnlab.gates.layer_weights` accepts.
    ``required=True``: a model without any recurrent layer is a ``ValueError`` (the one every
    collector gives), not an empty list.

    >>> [n for n, _ in recurrent_modules(nn.LSTM(2, 3))]
    ['']
    >>> recurrent_modules(nn.Linear(2, 3), required=True)
    Traceback (most recent call last):
    ...
    ValueError: model: Linear has no recurrent module (nn.LSTM/GRU/RNN, an rnnlab layer or rnnlab.Recurrent)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if any(name == f or name.startswith(f + ".") if f else True for f, _ in found):
            continue  # nested inside a recurrent layer already listed
        if is_recurrent_layer(module):
            found.append((name, module))
    if required and not found:
        raise ValueError(
            f"model: {type(model).__name__} has no recurrent module (nn.LSTM/GRU/RNN, an rnnlab layer or rnnlab.Recurrent)"
        )
    if gated:
        from rnnlab.gates import kind_of

        found = [(n, m) for n, m in found if kind_of(m) is not None]
    return found


def module_names(modules: Any) -> list[str] | None:
    """A collector's ``modules`` argument checked: None (every recurrent layer) or a list of
    submodule names. A single name given as a string would be read letter by letter (and ``"enc"``
    answered with "no submodule named 'e'; did you mean 'enc'?"): refused, with the list to give.

    >>> module_names(("enc", "dec"))
    ['enc', 'dec']
    >>> module_names("enc")
    Traceback (most recent call last):
    ...
    TypeError: modules: expected a list of submodule names (or None for every recurrent layer), got the str 'enc'; give modules=['enc']
    """
    if modules is None:
        return None
    if isinstance(modules, (str, bytes)):
        raise TypeError(f"modules: expected a list of submodule names (or None for every recurrent layer), got the "
                        f"{type(modules).__name__} {modules!r}; give modules=[{modules!r}]")
    try:
        names = list(modules)
    except TypeError:
        raise TypeError(f"modules: expected a list of submodule names (or None for every recurrent layer), got "
                        f"{type(modules).__name__} {modules!r}") from None
    wrong = next((n for n in names if not isinstance(n, str)), None)
    if wrong is not None:
        raise TypeError(f"modules: expected submodule names (str, as model.named_modules() gives them), got "
                        f"{type(wrong).__name__} {wrong!r}")
    return names


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


#: id(module) -> how many :func:`untouched` blocks hold it now (a module may be in nested blocks).
_UNTOUCHED: dict[int, int] = {}


def is_untouched(module: nn.Module) -> bool:
    """Whether ``module`` runs inside an :func:`untouched` block now: a forward pass of rnnlab's
    own introspection, which hooks that collect from training steps (such as
    :class:`rnnlab.regularize.ActivityRegularizer`) leave out.

    >>> lstm = torch.nn.LSTM(2, 3)
    >>> with untouched(lstm):
    ...     inside = is_untouched(lstm)
    >>> inside, is_untouched(lstm)
    (True, False)
    """
    return id(module) in _UNTOUCHED


@contextmanager
def untouched(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in the block, in the mode it is in, and leave it and torch's random state as they were.

    Every buffer (running statistics, ``num_batches_tracked``, any other) is replaced by a copy
    for the block: a forward pass in training mode normalizes with the batch's statistics and
    moves the copies, and the model's own buffers come back untouched (the same tensors, never
    written). Torch's random generators (CPU, and the CUDA devices the model is on) are forked:
    the block draws the dropout and zoneout masks the model's next forward pass would have drawn,
    and after it the caller's stream goes on as if the block had not run. Each module's training
    flag is put back. Parameters and their ``.grad`` are not copied: the collectors never write
    them (they take gradients with ``torch.autograd.grad``, which leaves ``.grad`` alone).
    While the block runs, :func:`is_untouched` is true for every module of ``model``: a forward
    pass here is no training step, and what collects from training steps (the activity
    regularizer's penalty) takes nothing from it.

    >>> import torch
    >>> bn = torch.nn.BatchNorm1d(3)
    >>> state = torch.get_rng_state()
    >>> with untouched(bn):
    ...     _ = torch.nn.functional.dropout(bn(torch.randn(8, 3)))
    >>> bn.running_mean, int(bn.num_batches_tracked), torch.equal(state, torch.get_rng_state())
    (tensor([0., 0., 0.]), 0, True)
    """
    modes = [(m, m.training) for m in model.modules()]
    copies: dict[int, Tensor] = {}  # (a buffer shared by two modules stays shared in the block)
    swapped: list[tuple[nn.Module, str, Tensor]] = []
    for m in model.modules():
        for name, b in m._buffers.items():
            # A lazy module's buffer has no value yet: its first forward pass gives it one, as any call would.
            if b is None or is_lazy(b):
                continue
            if id(b) not in copies:
                copies[id(b)] = b.detach().clone().requires_grad_(b.requires_grad)
            swapped.append((m, name, b))
    tensors = [p for p in model.parameters() if not is_lazy(p)] + [b for _, _, b in swapped]
    cuda = sorted({t.device.index or 0 for t in tensors if t.device.type == "cuda"})
    marked = [id(m) for m in model.modules()]
    try:
        for key in marked:
            _UNTOUCHED[key] = _UNTOUCHED.get(key, 0) + 1
        for m, name, b in swapped:
            m._buffers[name] = copies[id(b)]
        with torch.random.fork_rng(devices=cuda):
            yield model
    finally:
        for key in marked:
            if _UNTOUCHED.get(key, 0) <= 1:
                _UNTOUCHED.pop(key, None)
            else:
                _UNTOUCHED[key] -= 1
        for m, name, b in swapped:
            m._buffers[name] = b
        for m, training in modes:
            m.training = training
