"""A convolutional LSTM cell over one spatial axis (Shi et al. 2015, in 1-D)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.gates import GateLayout, split_gate_axis


class ConvLSTMCell1d(nn.Module):
    """LSTM whose input and recurrent transforms are ``Conv1d`` over a spatial axis.

    ``x_t [B, in_channels, L]``, state ``(h, c)`` each ``[B, hidden_channels, L]``. The gates
    are stacked along the channel axis in rnnlab's LSTM order (i, f, g, o), declared by
    ``gate_layout`` so that :func:`rnnlab.introspect.gate_weights` splits them per gate
    (``kernel[g]`` is ``[hidden_channels, in_channels, kernel_size]``). The convolutions are
    named ``conv_ih`` (input→hidden) and ``conv_hh`` (hidden→hidden) so that
    :func:`rnnlab.roles` treats them as kernel and recurrent weights.

    Example:
        >>> import torch, rnnlab
        >>> cell = rnnlab.cells.ConvLSTMCell1d(2, 4, kernel_size=3)
        >>> layer = rnnlab.Recurrent(cell, batch_first=True, recurrent_dropout=0.2)
        >>> out, (h, c) = layer(torch.randn(5, 10, 2, 16))   # [B, T, C, L]
        >>> out.shape, h.shape
        (torch.Size([5, 10, 4, 16]), torch.Size([5, 4, 16]))
    """

    gate_layout = GateLayout("lstm", kernel="conv_ih.weight", recurrent="conv_hh.weight", bias_ih="conv_ih.bias")

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size: expected an odd size (keeps the length), got {kernel_size}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        pad = kernel_size // 2
        self.conv_ih = nn.Conv1d(in_channels, 4 * hidden_channels, kernel_size, padding=pad)
        self.conv_hh = nn.Conv1d(hidden_channels, 4 * hidden_channels, kernel_size, padding=pad, bias=False)

    def init_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x.new_zeros(x.shape[0], self.hidden_channels, x.shape[-1])
        return h, h.clone()

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x_t: expected shape [batch, in_channels={self.in_channels}, length], got {tuple(x.shape)}"
            )
        h, c = state
        g = split_gate_axis(self.conv_ih(x) + self.conv_hh(h), self.gate_layout.kind, dim=1)
        i, f, o = torch.sigmoid(g["i"]), torch.sigmoid(g["f"]), torch.sigmoid(g["o"])
        c = f * c + i * torch.tanh(g["g"])
        h = o * torch.tanh(c)
        return h, (h, c)
