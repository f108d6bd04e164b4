"""Weights and their gradients per recurrent layer, direction and gate, as numpy arrays.

Built on :func:`rnnlab.gates.layer_weights`, so the gate layout is the one of
:data:`rnnlab.gates.GATES`; works for torch's ``nn.LSTM``/``nn.GRU``/``nn.RNN``, rnnlab
layers and ``rnnlab.Recurrent`` with a cell that declares a :class:`rnnlab.gates.GateLayout`
(as ``rnnlab.cells.ConvLSTMCell1d`` does) alike.

Axes of the arrays of a :class:`GateParams` (``H`` hidden size, ``I`` input size of the layer):

* ``kernel[gate]``: ``[H, I]`` (input → hidden, one row per output channel); a declared cell's
  parameter keeps its other axes (a ``Conv1d`` weight: ``[H, C, k]``)
* ``recurrent[gate]``: ``[H, H']`` (hidden → hidden; ``H'`` is the projection size of an LSTM with
  ``proj_size``); ``[H]`` for IndRNN, whose recurrent weight is a vector
* ``bias_ih[gate]``, ``bias_hh[gate]``, ``bias[gate]``: ``[H]``

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 5, num_layers=2))
    >>> ws = gate_weights(model)
    >>> [(w.module, w.layer, w.direction) for w in ws]
    [('0', 0, 'forward'), ('0', 1, 'forward')]
    >>> ws[0].kernel["f"].shape, ws[0].names["kernel"]
    ((5, 3), '0.weight_ih_l0')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from rnnlab.gates import DECLARE_LAYOUT, GATES, has_gate_layout, layer_weights
from rnnlab.introspect.keyed import gates_of
from rnnlab.introspect.modules import find_module, module_names, recurrent_modules

#: The components of a layer, in display order.
COMPONENTS: tuple[str, ...] = ("kernel", "recurrent", "bias_ih", "bias_hh")


@dataclass
class GateParams:
    """Weights (or gradients) of one layer and direction of one recurrent module, per gate.

    ``module`` is the module's qualified name in the model (``""`` when the model is the layer),
    ``names`` maps each component to the full parameter name in the model
    (e.g. ``"encoder.lstm.weight_hh_l1_reverse"``), ``grad`` tells whether the arrays hold
    gradients. Array axes: see the module docstring.
    """

    module: str
    layer: int
    direction: str
    kind: str
    kernel: dict[str, np.ndarray]
    recurrent: dict[str, np.ndarray]
    bias_ih: dict[str, np.ndarray] = field(default_factory=dict)
    bias_hh: dict[str, np.ndarray] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    grad: bool = False

    def __post_init__(self) -> None:
        # (a gate asked by a wrong name is told the gates there are, not a bare KeyError)
        for comp in COMPONENTS:
            setattr(self, comp, gates_of(getattr(self, comp), self.kind, f"{self.label} {comp}"))

    @property
    def gates(self) -> tuple[str, ...]:
        """Gate names in torch order (``("i", "f", "g", "o")`` for an LSTM)."""
        return GATES[self.kind]

    @property
    def bias(self) -> dict[str, np.ndarray]:
        """Effective bias per gate, ``bias_ih + bias_hh`` (for GRU's n gate b_hn is scaled by r)."""
        if not self.bias_ih:
            summed = dict(self.bias_hh)
        elif not self.bias_hh:
            summed = dict(self.bias_ih)
        else:
            summed = {g: self.bias_ih[g] + self.bias_hh[g] for g in self.bias_ih}
        return gates_of(summed, self.kind, f"{self.label} bias")

    @property
    def label(self) -> str:
        """Short display name, e.g. ``"lstm l1 reverse"``."""
        name = self.module or "model"
        return f"{name} l{self.layer}" + (" reverse" if self.direction == "reverse" else "")

    def component(self, name: str) -> dict[str, np.ndarray]:
        """The per-gate arrays of ``"kernel"``, ``"recurrent"``, ``"bias_ih"``, ``"bias_hh"`` or
        ``"bias"``."""
        if name == "bias":
            return self.bias
        if name not in COMPONENTS:
            from rnnlab._checks import did_you_mean

            raise KeyError(
                f"component: expected one of {[*COMPONENTS, 'bias']}, got {name!r}"
                f"{did_you_mean(name, [*COMPONENTS, 'bias'])}"
            )
        return getattr(self, name)

    def items(self) -> Iterator[tuple[str, str, np.ndarray]]:
        """``(component, gate, array)`` for every stored array, components in
        :data:`COMPONENTS` order, gates in torch order."""
        for comp in COMPONENTS:
            for gate, arr in getattr(self, comp).items():
                yield comp, gate, arr


def _selected(model: nn.Module, modules: list[str] | None) -> list[tuple[str, nn.Module]]:
    modules = module_names(modules)
    if modules is not None:
        return [(name, find_module(model, name)) for name in modules]
    found = recurrent_modules(model, required=True)
    gated = [(name, m) for name, m in found if has_gate_layout(m)]
    if not gated:  # (an empty list would read as "nothing to see", as would one for a model without any)
        names = [f"{name or type(model).__name__} ({type(getattr(m, 'cell', m)).__name__})" for name, m in found]
        raise ValueError(f"model: its recurrent modules {', '.join(names)} run cells that declare no gate layout, "
                         f"so there are no weights to split per gate; {DECLARE_LAYOUT}")
    return gated


def gate_weights(
    model: nn.Module, grad: bool = False, modules: list[str] | None = None
) -> list[GateParams]:
    """Every recurrent layer × layer index × direction of ``model``, split per gate.

    With ``grad=True`` the arrays hold ``.grad`` of the parameters (zeros where a parameter has
    no gradient yet). ``modules`` restricts to the named recurrent modules (default: all with a
    gate layout, see :func:`rnnlab.gates.has_gate_layout`: an ``rnnlab.Recurrent`` has one when
    its cell declares a :class:`rnnlab.gates.GateLayout`; a model whose recurrent modules all
    lack one is a ``ValueError`` that says how to declare it, and so is a model without any
    recurrent module, as for the other collectors). Arrays are copies (float32, on the CPU).

    >>> import torch
    >>> gru = torch.nn.GRU(2, 3, bidirectional=True)
    >>> [(p.direction, sorted(p.kernel)) for p in gate_weights(gru)]
    [('forward', ['n', 'r', 'z']), ('reverse', ['n', 'r', 'z'])]
    """
    out = []
    for name, module in _selected(model, modules):
        prefix = f"{name}." if name else ""
        for lw in layer_weights(module, grad=grad):
            conv = {
                comp: {g: t.detach().cpu().float().numpy().copy() for g, t in getattr(lw, comp).items()}
                for comp in COMPONENTS
            }
            out.append(
                GateParams(
                    module=name,
                    layer=lw.layer,
                    direction=lw.direction,
                    kind=lw.kind,
                    names={comp: prefix + pname for comp, pname in lw.names.items()},
                    grad=grad,
                    **conv,
                )
            )
    return out


def gate_gradients(model: nn.Module, modules: list[str] | None = None) -> list[GateParams]:
    """:func:`gate_weights` of the gradients (call after ``loss.backward()``).

    A ValueError when no parameter of the selected modules has a gradient yet (all-zero arrays
    would read as "no learning signal"); parameters without one in a partial backward are zeros.

    >>> import torch
    >>> rnn = torch.nn.RNN(2, 3)
    >>> rnn(torch.ones(4, 1, 2))[0].sum().backward()
    >>> gate_gradients(rnn)[0].recurrent["h"].shape
    (3, 3)
    """
    selected = _selected(model, modules)
    if selected and all(p.grad is None for _, m in selected for p in m.parameters()):
        names = [name or type(m).__name__ for name, m in selected]
        raise ValueError(
            f"model: no gradient has been computed for {names} (every .grad is None); "
            f"call loss.backward() first"
        )
    return gate_weights(model, grad=True, modules=modules)
