"""An rnnlab twin of a torch recurrent module: the one way rnnlab looks inside ``nn.LSTM``,
``nn.GRU`` and ``nn.RNN``, whose fused kernels hide their gates and states.

The twin is the rnnlab layer of the same kind and configuration with a copy of the module's
weights (torch's parameter names are rnnlab's: ``load_state_dict``), so it computes what the
module computes, and its :meth:`~rnnlab.RecurrentBase.recording_gates` and
:meth:`~rnnlab.RecurrentBase.recording_states` show what the module's kernel keeps to itself.

>>> import torch
>>> lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
>>> x = torch.randn(5, 2, 3)
>>> torch.allclose(twin_of(lstm)(x)[0], lstm(x)[0], atol=1e-6)
True
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnlab.layers.base import RecurrentBase
from rnnlab.layers.gru import GRU
from rnnlab.layers.lstm import LSTM
from rnnlab.layers.rnn import RNN


def twin_of(module: nn.Module) -> RecurrentBase:
    """The rnnlab layer computing exactly what torch's ``module`` computes, with a copy of its
    weights, on its device and dtype and in its training mode."""
    if isinstance(module, nn.LSTM) and module.proj_size:
        raise ValueError(f"module: an nn.LSTM with proj_size={module.proj_size} has no rnnlab twin")
    cls = next((c for t, c in ((nn.LSTM, LSTM), (nn.GRU, GRU), (nn.RNN, RNN)) if isinstance(module, t)), None)
    if cls is None:
        raise TypeError(f"module: expected a torch nn.LSTM, nn.GRU or nn.RNN, got {type(module).__name__}")
    # (torch takes any truthy flag, an rnnlab layer True or False only)
    kw: dict[str, Any] = {"num_layers": module.num_layers, "bias": bool(module.bias),
                          "batch_first": bool(module.batch_first), "dropout": module.dropout,
                          "bidirectional": bool(module.bidirectional)}
    if cls is RNN:
        kw["nonlinearity"] = module.nonlinearity
    p = next(module.parameters())
    twin = cls(module.input_size, module.hidden_size, **kw, device=p.device, dtype=p.dtype)
    twin.load_state_dict(module.state_dict())
    return twin.train(module.training)
