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
  :mod:`~rnnlab.introspect.modules`: which submodules are recurrent layers, and
  :func:`untouched`, the guard that leaves a model as it was while a collector runs it

The collectors that run the model (:func:`layer_outputs`, :func:`gate_activations`,
:func:`grad_through_time`) measure it in the mode it is in (in training mode with the batch's
statistics and dropout masks of their own) and leave its buffers, its modules' modes, parameters
and their ``.grad``, and torch's random state as they were. Their forward passes are no training
steps: an activity regularizer on the model collects nothing from them.

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
from rnnlab.introspect.modules import is_untouched, recurrent_modules, untouched
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
    "is_untouched",
    "layer_outputs",
    "modules",
    "recurrent_modules",
    "stats",
    "through_time",
    "untouched",
    "weights",
]
