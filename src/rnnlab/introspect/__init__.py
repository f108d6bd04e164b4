"""See inside recurrent networks: weights, gradients and activations per gate, gradient through time.

Results are plain numpy arrays with documented axes, wrapped in small dataclasses that carry
names; nothing here draws (see :mod:`rnnlab.plots`).

* :mod:`~rnnlab.introspect.weights`: :func:`gate_weights`, :func:`gate_gradients` →
  :class:`GateParams` per module, layer, direction (arrays per gate and component)
* :mod:`~rnnlab.introspect.activations`: :func:`layer_outputs` (``[B, T, C]``),
  :func:`gate_activations` (``[B, T, H]`` per gate)
* :mod:`~rnnlab.introspect.through_time`: :func:`grad_through_time` → :class:`GradThroughTime`
  (``[T, H]`` of mean ``|dLoss/dh_t|`` per layer and direction)
* :mod:`~rnnlab.introspect.stats`: norms, dead / saturated / zero / non-finite fractions,
  gradient reach and decay rate
* :mod:`~rnnlab.introspect.batch`: the ``(input, target)`` batch convention;
  :mod:`~rnnlab.introspect.modules`: which submodules are recurrent layers

Example:
    >>> import torch
    >>> from rnnlab import introspect
    >>> lstm = torch.nn.LSTM(3, 4)
    >>> introspect.gate_weights(lstm)[0].recurrent["f"].shape
    (4, 4)
"""

from rnnlab.introspect import activations, batch, modules, stats, through_time, weights
from rnnlab.introspect.activations import (
    GateActivations,
    LayerActivations,
    gate_activations,
    layer_outputs,
)
from rnnlab.introspect.modules import recurrent_modules
from rnnlab.introspect.through_time import GradThroughTime, grad_through_time
from rnnlab.introspect.weights import GateParams, gate_gradients, gate_weights

__all__ = [
    "GateActivations",
    "GateParams",
    "GradThroughTime",
    "LayerActivations",
    "activations",
    "batch",
    "gate_activations",
    "gate_gradients",
    "gate_weights",
    "grad_through_time",
    "layer_outputs",
    "modules",
    "recurrent_modules",
    "stats",
    "through_time",
    "weights",
]
