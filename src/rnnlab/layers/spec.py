"""What a recurrent kind is, in one record per kind: its gates (torch's order, the only one), its
state, its parameters' layout, its default activations, and which computations have it.

Each layer file (``lstm.py``, ``gru.py``, ...) defines its kind's :class:`CellSpec` next to its
autograd step. :mod:`rnnlab.layers.computation` asks the spec which computations exist for the
layer's activations; :mod:`rnnlab.layers.base` lays out the parameters from it.

>>> from rnnlab.layers import LSTM
>>> LSTM.spec.gates, LSTM.spec.computations("tanh", "sigmoid") == {"torch", "fast", "autograd"}
(('i', 'f', 'g', 'o'), True)
>>> sorted(LSTM.spec.computations("relu", "sigmoid"))  # no kernel computes a relu LSTM but the loop
['autograd']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnlab import gates as gate_layout
from rnnlab.activations import Activation

if TYPE_CHECKING:
    from rnnlab.layers.loop import Step
    from rnnlab.layers.norm import GateNorms


@dataclass
class LayerParams:
    """The tensors one layer and direction computes with in this forward call (weight drop
    already applied to ``w_hh``)."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    activation: Activation
    recurrent_activation: Activation | None  # (None: the kind has no gates)


#: ``(spec, params, norms, valid, trace) -> step``: a kind's autograd step for one layer and
#: direction (see :mod:`rnnlab.layers.loop`); ``trace`` receives each step's gate activations
StepBuilder = Callable[["CellSpec", LayerParams, "GateNorms | None", "Tensor | None", "list[Tensor] | None"], "Step"]


@dataclass(frozen=True)
class CellSpec:
    """One recurrent kind.

    Attributes:
        kind: ``"lstm"``, ``"gru"``, ``"rnn"`` or ``"indrnn"`` (the keys of :data:`rnnlab.gates.GATES`).
        states: names of the state tensors (LSTM: h and c); the first is the output and is fed back.
        vector_recurrent: one recurrent weight per unit (IndRNN) instead of a matrix.
        hh_bias: has torch's separate hidden-hidden bias (IndRNN has only ``bias_ih``).
        fold_hh_bias: ``b_hh`` can join the input projection of all steps (not GRU: it sits in ``r ⊙ (…)``).
        default_activation: of the cell candidate / output.
        default_recurrent_activation: of the gates; None for ungated kinds (no such argument).
        torch_activations: ``(activation, recurrent_activation)`` → torch's fused kernel (``torch._VF``)
            that computes the cell exactly with them.
        fast_activations: activations for which :mod:`rnnlab.layers.fast` / ``fast_lstm`` have the
            hand-written backward (gated kinds: with a sigmoid recurrent activation).
        step: builds the kind's autograd step, the reference of every other computation and the
            one that computes every option.
    """

    kind: str
    states: tuple[str, ...]
    default_activation: str
    default_recurrent_activation: str | None
    torch_activations: dict[tuple[str, str | None], str]
    fast_activations: frozenset[str]
    step: StepBuilder
    vector_recurrent: bool = False
    hh_bias: bool = True
    fold_hh_bias: bool = True

    @property
    def gates(self) -> tuple[str, ...]:
        """Gate names in torch's order along dim 0 of the stacked weights."""
        return gate_layout.GATES[self.kind]

    @property
    def num_gates(self) -> int:
        return len(self.gates)

    @property
    def num_states(self) -> int:
        return len(self.states)

    def torch_mode(self, activation: Any, recurrent_activation: Any) -> str | None:
        """The fused kernel that computes this cell with these activations, or None."""
        key = (activation, recurrent_activation)
        return self.torch_activations.get(key) if all(isinstance(a, str) or a is None for a in key) else None

    def computations(self, activation: Any, recurrent_activation: Any) -> frozenset[str]:
        """The computations that have this cell with these activations (before regularizers)."""
        out = {"autograd"}
        if self.torch_mode(activation, recurrent_activation) is not None:
            out.add("torch")
        gates_ok = self.default_recurrent_activation is None or recurrent_activation == "sigmoid"
        if gates_ok and isinstance(activation, str) and activation in self.fast_activations:
            out.add("fast")
        return frozenset(out)


def recurrent_term(
    spec: CellSpec, p: LayerParams, norms: GateNorms | None, valid: Tensor | None
) -> Callable[[Tensor, Tensor, int], Tensor]:
    """``(x_t, h_fed, t) -> x_t + recurrent term`` with normalization and b_hh where they
    belong; used by every step with a full recurrent matrix."""
    w_t = p.w_hh.t()
    if norms is None:
        if spec.fold_hh_bias or p.b_hh is None:
            return lambda x_t, h, t: torch.addmm(x_t, h, w_t)
        b = p.b_hh
        return lambda x_t, h, t: x_t + torch.addmm(b, h, w_t)
    b = p.b_hh

    def term(x_t: Tensor, h: Tensor, t: int) -> Tensor:
        r = norms.recurrent(h @ w_t, t, None if valid is None else valid[t])
        return x_t + (r if b is None else r + b)

    return term
