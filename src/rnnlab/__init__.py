"""rnnlab: regularized, fast and inspectable recurrent layers for PyTorch.

The parts, each usable alone:

* layers — :class:`LSTM`, :class:`GRU`, :class:`RNN`, :class:`IndRNN`, :class:`Recurrent`
  (drop-in for torch's modules, every regularizer a keyword);
* regularization and optimization — :func:`roles`, :func:`param_groups`, penalties,
  :mod:`rnnlab.optim` (decoupled decay, warm restarts, clipping, target-norm controller);
* introspection — :mod:`rnnlab.introspect`, :class:`Tracker`, :func:`diagnose`,
  :mod:`rnnlab.plots`, :mod:`rnnlab.report`;
* experiments — the ``rnnlab`` command line (``rnnlab --help``); :func:`load_run` predicts
  new series from Python with a run it trained.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rnnlab.threads import default_passive_wait

# Before torch loads its OpenMP runtime, which reads the wait policy once (rnnlab.threads).
default_passive_wait()

from rnnlab.activations import ACTIVATIONS  # noqa: E402
from rnnlab.constraints import MaxNorm, NonNeg, UnitNorm, apply_constraints, constrain_after_step  # noqa: E402
from rnnlab.errors import CheckpointError, ConfigError, DataError, RnnlabError, RunDirError  # noqa: E402
from rnnlab.layers import GRU, LSTM, RNN, IndRNN, Recurrent, RecurrentBase  # noqa: E402
from rnnlab.layers.options import LayerOptions  # noqa: E402

if TYPE_CHECKING:  # loaded on first use (below); named here for type checkers and editors
    from rnnlab import cells, doctor, gates, introspect, optim, plots, regularize, report, rundir
    from rnnlab.config import Config, load_config, parse_config
    from rnnlab.doctor import diagnose
    from rnnlab.estimators import (
        RNNClassifier,
        RNNForecaster,
        RNNRegressor,
        RNNSequenceRegressor,
        RNNSequenceTagger,
    )
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
    from rnnlab.train.predict import TrainedRun, load_run

# What `import rnnlab` leaves to first use (PEP 562), so that it costs little beyond torch: plots
# (matplotlib), config (pydantic), the doctor, the report, introspection and the tracker.
_SUBMODULES = ("cells", "doctor", "gates", "introspect", "optim", "plots", "regularize", "report", "rundir")
_LAZY = {
    **dict.fromkeys(("Config", "load_config", "parse_config"), "rnnlab.config"),
    "diagnose": "rnnlab.doctor",
    **dict.fromkeys(("RNNClassifier", "RNNRegressor", "RNNSequenceTagger", "RNNSequenceRegressor", "RNNForecaster"),
                    "rnnlab.estimators"),  # aeon and scikit-learn: the extra
    **dict.fromkeys(("ActivityRegularizer", "RoleRule", "Rule", "WeightPenalty", "param_groups", "roles"),
                    "rnnlab.regularize"),
    **dict.fromkeys(("Tracker", "read_tracked"), "rnnlab.tracker"),
    "RunDir": "rnnlab.rundir",
    **dict.fromkeys(("TrainedRun", "load_run"), "rnnlab.train.predict"),
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"rnnlab.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # (the next access skips this function)
        return value
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "LayerOptions",
    "MaxNorm",
    "NonNeg",
    "RNN",
    "RNNClassifier",
    "RNNForecaster",
    "RNNRegressor",
    "RNNSequenceRegressor",
    "RNNSequenceTagger",
    "Recurrent",
    "RecurrentBase",
    "RnnlabError",
    "RoleRule",
    "RunDir",
    "RunDirError",
    "Rule",
    "Tracker",
    "TrainedRun",
    "UnitNorm",
    "WeightPenalty",
    "__version__",
    "apply_constraints",
    "cells",
    "constrain_after_step",
    "diagnose",
    "doctor",
    "gates",
    "introspect",
    "load_config",
    "load_run",
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
