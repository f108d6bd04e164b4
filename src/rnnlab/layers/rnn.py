"""``rnnlab.RNN``: torch's Elman ``nn.RNN`` (tanh or relu) with regularizers as keywords."""

from __future__ import annotations

from torch import Tensor

from rnnlab.activations import Activation
from rnnlab.constraints import Constraint
from rnnlab.layers.base import LayerParams, RecurrentBase, State
from rnnlab.layers.init import Initializer
from rnnlab.layers.loop import Step
from rnnlab.layers.norm import GateNorms


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

    kind = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        input_dropout: float = 0.0,
        input_dropout_mode: str = "variational",
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float = 0.0,
        layer_norm: bool = False,
        recurrent_batch_norm: bool = False,
        batch_norm_steps: int = 512,
        residual: bool | str = False,
        activation: str | Activation | None = None,
        kernel_init: str | Initializer | None = None,
        recurrent_init: str | Initializer | None = None,
        kernel_constraint: Constraint | None = None,
        recurrent_constraint: Constraint | None = None,
        bias_constraint: Constraint | None = None,
        device: object = None,
        dtype: object = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu' (torch's choices), got {nonlinearity!r}")
        if activation is not None and nonlinearity != "tanh":
            raise ValueError(
                f"activation and nonlinearity: give one of them, got activation={activation!r} "
                f"and nonlinearity={nonlinearity!r}"
            )
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            input_dropout=input_dropout, input_dropout_mode=input_dropout_mode,
            recurrent_dropout=recurrent_dropout, weight_drop=weight_drop, zoneout=zoneout,
            layer_norm=layer_norm, recurrent_batch_norm=recurrent_batch_norm,
            batch_norm_steps=batch_norm_steps, residual=residual,
            activation=activation if activation is not None else nonlinearity,
            kernel_init=kernel_init, recurrent_init=recurrent_init,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, device=device, dtype=dtype,  # type: ignore[arg-type]
        )
        self.nonlinearity = self.activation if isinstance(self.activation, str) else "custom"

    def _fused_mode(self) -> str | None:
        return f"rnn_{self.activation}" if self.activation in ("tanh", "relu") else None

    def _make_step(
        self, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
    ) -> Step:
        pre = self._recurrent_term(p, norms, valid)
        act = p.activation

        def step(x_t: Tensor, state: State, h_fed: Tensor, t: int) -> tuple[None, State]:
            h = act(pre(x_t, h_fed, t))
            if trace is not None:
                trace.append(h)
            return None, (h,)

        return step
