"""``rnnlab.IndRNN``: independently recurrent units (Li et al. 2018)."""

from __future__ import annotations

from torch import Tensor

from rnnlab.constraints import MaxNorm
from rnnlab.layers.base import RecurrentBase, State
from rnnlab.layers.loop import Step
from rnnlab.layers.norm import GateNorms
from rnnlab.layers.spec import CellSpec, LayerParams


def _indrnn_step(
    spec: CellSpec, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
) -> Step:
    """The autograd step of one layer and direction (see :data:`rnnlab.layers.spec.StepBuilder`)."""
    u, act = p.w_hh, p.activation

    def step(x_t: Tensor, state: State, h_fed: Tensor, t: int) -> tuple[None, State]:
        r = u * h_fed
        if norms is not None:
            r = norms.recurrent(r, t, None if valid is None else valid[t])
        h = act(x_t + r)
        if trace is not None:
            trace.append(h)
        return None, (h,)

    return step


INDRNN_SPEC = CellSpec(
    kind="indrnn", states=("h",), default_activation="relu", default_recurrent_activation=None,
    torch_activations={}, fast_activations=frozenset({"tanh", "relu"}), vector_recurrent=True, hh_bias=False,
    step=_indrnn_step,
)


class IndRNN(RecurrentBase):
    """``h_t = act(W_ih x_t + b_ih + u ⊙ h_{t−1})``: one recurrent weight per unit.

    ``weight_hh_l{k}`` is a vector ``[H]`` (initialised uniform in [0, 1]); there is only
    ``bias_ih_l{k}``. The activation defaults to relu. To keep gradients bounded over ``T``
    steps, Li et al. constrain ``|u| ≤ MAG^(1/T)``: pass
    ``recurrent_constraint=IndRNN.recurrent_bound(MAG, T)``: it holds after every optimizer
    step (:meth:`apply_constraints` at any other time). Other keywords as in :class:`rnnlab.LSTM`.

    Example:
        >>> import torch, rnnlab
        >>> m = rnnlab.IndRNN(3, 8, num_layers=2, recurrent_constraint=rnnlab.IndRNN.recurrent_bound(2.0, 100))
        >>> m(torch.randn(100, 4, 3))[0].shape
        torch.Size([100, 4, 8])
    """

    spec = INDRNN_SPEC

    @staticmethod
    def recurrent_bound(magnitude: float, steps: int) -> MaxNorm:
        """The constraint ``|u| ≤ magnitude^(1/steps)`` of Li et al. (2018)."""
        if magnitude <= 0 or steps < 1:
            raise ValueError(f"magnitude, steps: expected magnitude > 0 and steps >= 1, got {magnitude}, {steps}")
        return MaxNorm(magnitude ** (1.0 / steps))
