"""The fast LSTM's step functions compiled by ``torch.compile`` (inductor), for the devices where
the C++ step loops do not run (CUDA and other non-CPU devices).

On CUDA, the Python step of :func:`rnnlab.layers.fast_lstm.lstm_forward_step` is ~28 kernel
launches of a few microseconds of work each; compiled, the step is the recurrent matmul and a
couple of fused kernels. The step is compiled, not the time loop: the sequence length never
enters the graph, so every length runs the same graph, and the compile (seconds per graph) is
paid once per process for each variant of the step: its kind (forward, backward), its norm (none,
layer, batch), the regularizers that are on (a mask or keep weight present or None), the dtype
and device, and the shapes (``dynamic=False``: each batch size and hidden size compiles its own
graph once; the step's offset into a chunk never does). The Python step functions are the reference and
stay what runs without a compiler: :func:`compiled` gives them back, with one warning, where
``torch.compile`` cannot run (``torch._dynamo`` unsupported on this Python or platform, no
Triton for a GPU, no C++ compiler on the CPU) or fails. Inside the user's own ``torch.compile``
the layer runs eagerly (:meth:`rnnlab.layers.base.RecurrentBase.forward`), these steps included.

>>> step = compiled(torch.add, torch.device("cpu"))
>>> callable(step)
True
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Callable
from typing import Any

import torch

#: what :func:`compiled` built, by function and device type (torch.compile wrappers are cheap to
#: call, but each holds its own cache of graphs)
_built: dict[tuple[Callable[..., Any], str], Callable[..., Any]] = {}
#: the reasons already warned about, one warning each per process
_warned: set[str] = set()


def why_not(device: torch.device) -> str:
    """Why ``torch.compile`` cannot compile the step functions for ``device`` here (``""``: it can).

    >>> isinstance(why_not(torch.device("cpu")), str)
    True
    """
    if not torch._dynamo.is_dynamo_supported():
        return f"torch.compile does not run on this platform or Python ({torch.__version__})"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "torch.compile needs Triton for CUDA, and it is not installed (pip install triton)"
    if device.type == "cpu":
        compiler = os.environ.get("CXX", "c++")
        if shutil.which(compiler) is None:
            return f"torch.compile's CPU backend needs a C++ compiler ({compiler!r} not found)"
    return ""


def compiled(fn: Callable[..., Any], device: torch.device) -> Callable[..., Any]:
    """``fn`` (a step function of tensors and numbers) compiled by ``torch.compile`` for
    ``device`` (``fullgraph=True``: all of it or nothing), built once per process; ``fn`` itself,
    after one warning saying why, where it cannot be compiled (:func:`why_not`).

    >>> compiled(torch.mul, torch.device("cpu"))(torch.ones(2), 3.0)
    tensor([3., 3.])
    """
    key = (fn, device.type)
    if key not in _built:
        why = why_not(device)
        if why:
            _warn(fn, why)
            _built[key] = fn
        else:
            _built[key] = _Compiled(fn, torch.compile(fn, fullgraph=True, dynamic=False))
    return _built[key]


#: the graphs one step function may hold: one per variant (kind, norm, the regularizers on, dtype,
#: device, batch and hidden size), which a search's trials or a process training many layers
#: reach; torch's own limit (``torch._dynamo.config.recompile_limit``, 8) is meant for code that
#: recompiles by accident, and with ``fullgraph=True`` it ends in an error
MAX_VARIANTS = 256


class _RecompileLimitNoise(logging.Filter):
    """Drops torch's "hit config.recompile_limit" warning for rnnlab's own step functions, which
    :class:`_Compiled` answers by compiling the new variant under a higher limit (nothing is
    wrong); the same warning for any other function is left alone."""

    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("recompile_limit" in text and any(f"function: '{n}'" in text for n in self.names))


_noise = _RecompileLimitNoise(set())


class _Compiled:
    """A compiled step function that falls back to its Python one, with one warning, when
    ``torch.compile`` fails on it (its compile errors are ``TorchDynamoException``s). A new
    variant past torch's recompile limit is compiled under a higher one, up to
    :data:`MAX_VARIANTS`, at no cost to calls of the variants already compiled (the limit is read
    only when a call finds no graph)."""

    def __init__(self, fn: Callable[..., Any], compiled_fn: Callable[..., Any]) -> None:
        self.fn, self.compiled_fn = fn, compiled_fn
        self.failed = False
        if fn.__name__ not in _noise.names:
            _noise.names.add(fn.__name__)
            logging.getLogger("torch._dynamo.convert_frame").addFilter(_noise)

    def __call__(self, *args: Any) -> Any:
        if self.failed:
            return self.fn(*args)
        try:
            try:
                return self.compiled_fn(*args)
            except torch._dynamo.exc.FailOnRecompileLimitHit:
                with torch._dynamo.config.patch(recompile_limit=MAX_VARIANTS):
                    return self.compiled_fn(*args)
        except torch._dynamo.exc.TorchDynamoException as e:
            self.failed = True
            cause = getattr(e, "inner_exception", None) or e  # (the backend's own error, when it raised one)
            first = (str(cause).strip().splitlines() or [""])[0]
            _warn(self.fn, f"torch.compile failed on it ({type(cause).__name__}: {first})")
            return self.fn(*args)


def _warn(fn: Callable[..., Any], why: str) -> None:
    if why in _warned:
        return
    _warned.add(why)
    warnings.warn(f"rnnlab: {fn.__name__} runs as Python steps, not compiled: {why}. Same results, more kernel "
                  "launches per step.", RuntimeWarning, stacklevel=3)
