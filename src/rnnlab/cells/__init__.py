"""Example cells for :class:`rnnlab.Recurrent`, written the way users write their own."""

from rnnlab.cells.conv import ConvLSTMCell1d
from rnnlab.cells.wrap import StateAsOutput

__all__ = ["ConvLSTMCell1d", "StateAsOutput"]
