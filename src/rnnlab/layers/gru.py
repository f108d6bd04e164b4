"""``rnnlab.GRU``: torch's ``nn.GRU`` with every regularizer as a keyword."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.layers.base import RecurrentBase, State
from rnnlab.layers.loop import Step
from rnnlab.layers.norm import GateNorms
from rnnlab.layers.spec import CellSpec, LayerParams


def _gru_step(
    spec: CellSpec, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
) -> Step:
    """The autograd step of one layer and direction (see :data:`rnnlab.layers.spec.StepBuilder`)."""
    act, ract = p.activation, p.recurrent_activation
    w_t, b_hh = p.w_hh.t(), p.b_hh

    def recurrent(h_fed: Tensor, t: int) -> Tensor:
        if norms is None:
            return h_fed @ w_t if b_hh is None else torch.addmm(b_hh, h_fed, w_t)
        r = norms.recurrent(h_fed @ w_t, t, None if valid is None else valid[t])
        return r if b_hh is None else r + b_hh

    def step(x_t: Tensor, state: State, h_fed: Tensor, t: int) -> tuple[None, State]:
        h = state[0]
        xr, xz, xn = x_t.chunk(3, 1)
        hr, hz, hn = recurrent(h_fed, t).chunk(3, 1)
        r = ract(xr + hr)
        z = ract(xz + hz)
        n = act(torch.addcmul(xn, r, hn))
        h_new = torch.lerp(n, h, z)  # (1 − z)·n + z·h
        if trace is not None:
            trace.append(torch.cat((r, z, n), 1))
        return None, (h_new,)

    return step


GRU_SPEC = CellSpec(
    kind="gru", states=("h",), default_activation="tanh", default_recurrent_activation="sigmoid",
    torch_activations={("tanh", "sigmoid"): "gru"}, fast_activations=frozenset({"tanh"}),
    fold_hh_bias=False,  # b_hn sits inside r ⊙ (W_hn h + b_hn)
    step=_gru_step,
)


class GRU(RecurrentBase):
    """Drop-in for ``torch.nn.GRU`` with regularizers, all off by default.

    Same keywords as :class:`rnnlab.LSTM` (``zoneout`` is a single probability: a GRU has one
    state). torch's formulation: ``n = act(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
    ``h' = (1 − z) ⊙ n + z ⊙ h``; recurrent dropout masks ``h`` where it enters ``W_hh`` only.

    Example:
        >>> import torch, rnnlab
        >>> gru = rnnlab.GRU(8, 16, num_layers=2, recurrent_dropout=0.25)
        >>> out, h = gru(torch.randn(10, 4, 8))
        >>> h.shape
        torch.Size([2, 4, 16])
    """

    spec = GRU_SPEC
