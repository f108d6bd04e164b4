"""``rnnlab.RNN``: torch's Elman ``nn.RNN`` (tanh or relu) with regularizers as keywords."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.layers.base import RecurrentBase, State
from rnnlab.layers.loop import Step
from rnnlab.layers.norm import GateNorms
from rnnlab.layers.options import LayerOptions
from rnnlab.layers.spec import CellSpec, LayerParams, recurrent_term


def _rnn_step(
    spec: CellSpec, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
) -> Step:
    """The autograd step of one layer and direction (see :data:`rnnlab.layers.spec.StepBuilder`)."""
    pre = recurrent_term(spec, p, norms, valid)
    act = p.activation

    def step(x_t: Tensor, state: State, h_fed: Tensor, t: int) -> tuple[None, State]:
        h = act(pre(x_t, h_fed, t))
        if trace is not None:
            trace.append(h)
        return None, (h,)

    return step


RNN_SPEC = CellSpec(
    kind="rnn", states=("h",), default_activation="tanh", default_recurrent_activation=None,
    torch_activations={("tanh", None): "rnn_tanh", ("relu", None): "rnn_relu"},
    fast_activations=frozenset({"tanh", "relu"}),
    step=_rnn_step,
)


class RNN(RecurrentBase):
    """Drop-in for ``torch.nn.RNN``: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    ``nonlinearity`` is torch's argument (``"tanh"`` or ``"relu"``); ``activation`` accepts any
    name of :mod:`rnnlab.activations` instead (give one or the other). Other keywords as in
    :class:`rnnlab.LSTM`.

    Example:
        >>> import torch, rnnlab
        >>> rnn = rnnlab.RNN(3, 5, nonlinearity="relu", recurrent_init="identity")
        >>> rnn(torch.randn(7, 2, 3))[0].shape
        torch.Size([7, 2, 5])
    """

    spec = RNN_SPEC

    def __init__(
        self,
        input_size: int | None = None,  # (both required: None so that Keras' units= gets its hint first)
        hidden_size: int | None = None,  # (required: None so that Keras' units= gets its hint first)
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        options: LayerOptions | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **keywords: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu' (torch's choices), got {nonlinearity!r}")
        activation = keywords.get("activation", options.activation if options is not None else None)
        if activation is not None and nonlinearity != "tanh":
            raise ValueError(
                f"activation and nonlinearity: give one of them, got activation={activation!r} "
                f"and nonlinearity={nonlinearity!r}"
            )
        if activation is None and nonlinearity != "tanh":
            if options is not None:
                options = options.replace(activation=nonlinearity)
            else:
                keywords["activation"] = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         options=options, device=device, dtype=dtype, **keywords)
        self.nonlinearity = self.activation if isinstance(self.activation, str) else "custom"
