"""The one place that picks which computation runs a layer's recurrence, once per forward.

The computations, fastest first:

* ``"torch"``: torch's fused kernel (``torch._VF``, cuDNN on CUDA), when it computes the layer
  exactly: torch's activations and only regularizers that change its arguments;
* ``"fast"``: rnnlab's time loop with a hand-written backward (:mod:`rnnlab.layers.fast`,
  :mod:`rnnlab.layers.fast_lstm`); the LSTM's step loops in C++ on the CPU and, on CUDA and other
  devices, its step functions compiled by ``torch.compile``; ``"fast-python"`` is the same with
  the LSTM's step loops in Python, their reference, and ``"fast-inductor"`` the same with its
  step functions compiled by ``torch.compile`` on every device, the CPU too (:func:`step_loops`);
* ``"autograd"``: the reference loop of the cell's autograd step, which computes every option.

The cell spec says which computations have the cell with its activations
(:meth:`~rnnlab.layers.spec.CellSpec.computations`); each regularizer that is on says which
compute it (:data:`~rnnlab.layers.regularizers.REGULARIZERS`). ``implementation="auto"`` takes
the fastest that computes everything (inside ``torch.export``, not the fast loops, which do not
trace); another value asks for that computation.

>>> import rnnlab
>>> choose_computation(rnnlab.LSTM(3, 4).options, rnnlab.LSTM.spec, recording=False)
'torch'
>>> choose_computation(rnnlab.LSTM(3, 4, zoneout=0.1).options, rnnlab.LSTM.spec, recording=False)
'fast'
>>> choose_computation(rnnlab.GRU(3, 4, layer_norm=True).options, rnnlab.GRU.spec, recording=False)
'autograd'
"""

from __future__ import annotations

import torch

from rnnlab.layers.options import LayerOptions
from rnnlab.layers.regularizers import active
from rnnlab.layers.spec import CellSpec

#: the computations, fastest first
COMPUTATIONS = ("torch", "fast", "autograd")


#: the LSTM's step loops of each fast computation (:data:`rnnlab.layers.fast_lstm.STEP_LOOPS`)
_STEP_LOOPS = {"fast": "auto", "fast-python": "python", "fast-inductor": "inductor"}


def step_loops(computation: str) -> str:
    """The LSTM's step loops that a fast ``computation`` runs (chosen by device and dtype in
    :func:`rnnlab.layers.fast_lstm._step_loops`, the one place that does).

    >>> step_loops("fast"), step_loops("fast-inductor")
    ('auto', 'inductor')
    """
    return _STEP_LOOPS[computation]


def allowed_computations(options: LayerOptions, spec: CellSpec) -> frozenset[str]:
    """The computations that compute every option of ``options`` for a cell of ``spec``."""
    allowed = spec.computations(options.activation, options.recurrent_activation)
    for reg in active(options):
        allowed &= reg.computations(spec)
    return allowed


def choose_computation(options: LayerOptions, spec: CellSpec, *, recording: bool) -> str:
    """``"torch"``, ``"fast"``, ``"fast-python"``, ``"fast-inductor"`` or ``"autograd"`` for one forward.

    ``recording``: gates or states are being recorded (``recording_gates`` / ``recording_states``),
    which the autograd loop's steps do. ``implementation="fast"`` (or another fast one) falls
    back to the autograd loop where no fast loop computes the options; ``"torch"`` where torch's
    kernel does not is an error, naming what it lacks.
    """
    impl = options.implementation
    if recording or impl == "autograd":
        return "autograd"
    allowed = allowed_computations(options, spec)
    if impl == "auto":
        if torch.compiler.is_exporting():
            # torch.export traces with fake tensors, which the fast loops' C++ steps and hand-written
            # backward do not take; the reference loop exports, with the same outputs
            allowed -= {"fast"}
        return next(c for c in COMPUTATIONS if c in allowed)
    if impl == "torch":
        if "torch" not in allowed:
            lacking = [reg.name for reg in active(options) if "torch" not in reg.computations(spec)]
            if "torch" not in spec.computations(options.activation, options.recurrent_activation):
                lacking.insert(0, f"activation={options.activation!r}, recurrent_activation="
                                  f"{options.recurrent_activation!r}")
            raise ValueError(f"implementation='torch': torch's fused kernel does not compute {', '.join(lacking)}")
        return "torch"
    return impl if "fast" in allowed else "autograd"
