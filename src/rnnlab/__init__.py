"""rnnlab: regularized, fast and inspectable recurrent layers for PyTorch.

The parts, each usable alone:

* layers — :class:`LSTM`, :class:`GRU`, :class:`RNN`, :class:`IndRNN`, :class:`Recurrent`
  (drop-in for torch's modules, every regularizer a keyword);
* regularization and optimization — :func:`roles`, :func:`param_groups`, penalties,
  :mod:`rnnlab.optim` (decoupled decay, warm restarts, clipping, target-norm controller);
* introspection — :mod:`rnnlab.introspect`, :class:`Tracker`, :func:`diagnose`,
  :mod:`rnnlab.plots`, :mod:`rnnlab.report`;
* experiments — the ``rnnlab`` command line (``rnnlab --help``).
"""

from rnnlab import cells, gates, introspect, optim, plots, regularize, report, rundir
from rnnlab.activations import ACTIVATIONS
from rnnlab.config import Config, load_config, parse_config
from rnnlab.constraints import MaxNorm, NonNeg, UnitNorm, apply_constraints, constrain_after_step
from rnnlab.doctor import diagnose
from rnnlab.errors import CheckpointError, ConfigError, DataError, RnnlabError, RunDirError
from rnnlab.layers import GRU, LSTM, RNN, IndRNN, Recurrent, RecurrentBase
from rnnlab.regularize import (
    ActivityRegularizer,
    RoleRule,
    Rule,
    WeightPenalty,
    param_groups,
    roles,
)
from rnnlab.rundir import RunDir
from rnnlab.tracker import Tracker, read_tracked

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "ActivityRegularizer",
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataError",
    "GRU",
    "IndRNN",
    "LSTM",
    "MaxNorm",
    "NonNeg",
    "RNN",
    "Recurrent",
    "RecurrentBase",
    "RnnlabError",
    "RoleRule",
    "RunDir",
    "RunDirError",
    "Rule",
    "Tracker",
    "UnitNorm",
    "WeightPenalty",
    "__version__",
    "apply_constraints",
    "cells",
    "constrain_after_step",
    "diagnose",
    "gates",
    "introspect",
    "load_config",
    "optim",
    "param_groups",
    "plots",
    "parse_config",
    "read_tracked",
    "regularize",
    "report",
    "roles",
    "rundir",
]
