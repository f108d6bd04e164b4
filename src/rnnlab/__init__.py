"""rnnlab: regularized, fast and inspectable recurrent layers for PyTorch."""

from rnnlab import cells, gates, rundir
from rnnlab.activations import ACTIVATIONS
from rnnlab.constraints import MaxNorm, NonNeg, UnitNorm, apply_constraints, constrain_after_step
from rnnlab.layers import GRU, LSTM, RNN, IndRNN, Recurrent, RecurrentBase

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "GRU",
    "LSTM",
    "RNN",
    "IndRNN",
    "MaxNorm",
    "NonNeg",
    "Recurrent",
    "RecurrentBase",
    "UnitNorm",
    "apply_constraints",
    "cells",
    "constrain_after_step",
    "gates",
    "rundir",
    "__version__",
]
