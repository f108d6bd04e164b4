"""Adapters for torch's cells, which return only the new state."""

from __future__ import annotations

from torch import Tensor, nn


class StateAsOutput(nn.Module):
    """Wrap a cell ``cell(x, state) -> new_state`` (``nn.GRUCell``, ``nn.LSTMCell``, ...) into
    the ``(y_t, new_state)`` form of :class:`rnnlab.Recurrent`, with ``y_t`` the first state
    tensor. It declares ``output_is_state``, so under zoneout ``Recurrent`` outputs that tensor
    after zoneout, as ``rnnlab.LSTM``/``rnnlab.GRU`` do: the output is the state carried on.

    >>> import torch
    >>> cell = StateAsOutput(torch.nn.LSTMCell(3, 4))
    >>> y, (h, c) = cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
    >>> y.shape
    torch.Size([2, 4])
    """

    #: Read by :class:`rnnlab.Recurrent`: the output at a step is the first state tensor (after zoneout).
    output_is_state = True

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.cell = cell
        self.hidden_size = getattr(cell, "hidden_size", None)

    def init_state(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        h = x.new_zeros(x.shape[0], self.cell.hidden_size)
        return (h, h.clone()) if isinstance(self.cell, nn.LSTMCell) else h

    def forward(self, x: Tensor, state: Tensor | tuple[Tensor, ...]) -> tuple[Tensor, object]:
        new = self.cell(x, state)
        y = new if isinstance(new, Tensor) else new[0]
        return y, new
