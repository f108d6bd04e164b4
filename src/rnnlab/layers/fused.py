"""torch's fused recurrent kernels, for the layers' paths that need no per-step change.

When a layer runs with torch's own activations and no per-step regularizer (no recurrent dropout,
zoneout, normalization or gate recording), one layer is exactly what ``nn.LSTM``/``nn.GRU``/
``nn.RNN`` compute, so it calls the same kernel (``torch._VF``, used by ``torch.nn.modules.rnn``;
cuDNN on CUDA). Input dropout and DropConnect on the recurrent weights change only the arguments,
so they stay on this path.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

_KERNELS = {
    "lstm": torch._VF.lstm,
    "gru": torch._VF.gru,
    "rnn_tanh": torch._VF.rnn_tanh,
    "rnn_relu": torch._VF.rnn_relu,
}

FUSED_MODES = frozenset(_KERNELS)


def fused_layer(
    mode: str,
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: list[Tensor],
    *,
    has_bias: bool,
    bidirectional: bool,
    training: bool,
    lengths: Tensor | None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One layer (both directions when ``bidirectional``) on time-major ``x [T, B, I]``.

    ``hx`` holds ``[D, B, H]`` tensors (h, and c for LSTM); ``weights`` is the flat list
    ``[w_ih, w_hh, (b_ih, b_hh)]`` per direction, in torch's order. Returns the time-major
    output ``[T, B, D*H]`` (zero past each length) and the final states.
    """
    kernel = _KERNELS[mode]
    state = hx if mode == "lstm" else hx[0]
    if lengths is None:
        res = kernel(x, state, weights, has_bias, 1, 0.0, training, bidirectional, False)
        return res[0], tuple(res[1:])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    if mode == "lstm":
        state = tuple(s.index_select(1, order) for s in state)
    else:
        state = state.index_select(1, order)
    res = kernel(packed.data, packed.batch_sizes, state, weights, has_bias, 1, 0.0, training, bidirectional)
    out, _ = pad_packed_sequence(
        PackedSequence(res[0], packed.batch_sizes, order, unorder), total_length=x.shape[0]
    )
    return out, tuple(s.index_select(1, unorder) for s in res[1:])
