"""Keras' recurrent weights in an rnnlab (or torch) layer: :func:`load_keras_weights`.

A Keras ``LSTM``, ``GRU`` or ``SimpleRNN`` keeps ``kernel`` ``[input, gates·units]``,
``recurrent_kernel`` ``[units, gates·units]`` and one ``bias`` (``layer.get_weights()``, in that
order); torch keeps the transposes, ``weight_ih`` ``[gates·hidden, input]`` and ``weight_hh``, and
two biases, ``bias_ih`` and ``bias_hh``, that the gates see summed. The gates are stacked in
another order: Keras' LSTM ``i, f, c, o`` is torch's ``i, f, g, o`` (the same), Keras' GRU ``z, r,
h`` is torch's ``r, z, n`` (the first two swapped). Keras' GRU with ``reset_after=True`` (its
default since TF 2) has a bias of shape ``(2, 3·units)``, input and recurrent, and computes
torch's GRU: ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``. With ``reset_after=False`` it
applies ``r`` to ``h`` before the recurrent matmul, which no torch GRU computes: refused.

>>> import numpy as np, torch, rnnlab
>>> rng = np.random.default_rng(0)
>>> kernel, recurrent, bias = rng.normal(size=(3, 15)), rng.normal(size=(5, 15)), rng.normal(size=(2, 15))
>>> gru = load_keras_weights(rnnlab.GRU(3, 5), kernel, recurrent, bias)  # keras_gru.get_weights()
>>> torch.equal(gru.weight_ih_l0[:5], torch.tensor(kernel[:, 5:10].T, dtype=torch.float32))  # r: Keras' 2nd block
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.gates import GATES
from rnnlab.layers.base import RecurrentBase

#: Keras' gate order of each kind, in torch's gate names (:data:`rnnlab.gates.GATES` is torch's order).
KERAS_GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "gru": ("z", "r", "n"),
    "rnn": ("h",),
}

_TORCH_KINDS = ((nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.RNN, "rnn"))


def _kind(layer: object) -> str:
    kind = getattr(layer, "kind", None) if isinstance(layer, RecurrentBase) else next(
        (k for t, k in _TORCH_KINDS if isinstance(layer, t)), None)
    if kind not in KERAS_GATES or getattr(layer, "proj_size", 0):
        raise TypeError(f"layer: expected an rnnlab.LSTM, GRU or RNN (or torch's nn.LSTM, nn.GRU, nn.RNN), the "
                        f"layers Keras' LSTM, GRU and SimpleRNN compute, got {type(layer).__name__}"
                        + (f" of kind {kind!r}" if kind is not None else ""))
    return kind  # type: ignore[return-value]


def _array(name: str, value: object) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected an array of numbers (Keras' layer.get_weights()), got "
                        f"{type(value).__name__}") from None
    return torch.from_numpy(array)


def _check_shape(name: str, t: Tensor, expected: tuple[int, ...], what: str, hint: str = "") -> None:
    if tuple(t.shape) != expected:
        raise ValueError(f"{name}: expected shape {expected} ({what}), got {tuple(t.shape)}{hint}")


def _torch_order(t: Tensor, kind: str) -> Tensor:
    """``t`` with its last axis' gate blocks moved from Keras' order to torch's."""
    blocks = dict(zip(KERAS_GATES[kind], t.chunk(len(KERAS_GATES[kind]), dim=-1)))
    return torch.cat([blocks[g] for g in GATES[kind]], dim=-1)


def load_keras_weights(
    layer: RecurrentBase | nn.RNNBase,
    kernel: Any,
    recurrent_kernel: Any,
    bias: Any = None,
    *,
    layer_index: int = 0,
    reverse: bool = False,
    reset_after: bool = True,
) -> Any:
    """Copy a Keras ``LSTM``/``GRU``/``SimpleRNN``'s weights into ``layer`` (an rnnlab layer, or
    torch's of the same kind) so that it computes what the Keras layer computes; returns ``layer``.

    ``kernel``, ``recurrent_kernel`` and ``bias`` are the Keras layer's ``get_weights()`` (arrays
    or tensors; ``bias`` None for ``use_bias=False``, which is ``bias=False`` here).
    ``layer_index`` is the stacked layer they go to (``l0``, ``l1``, ...); ``reverse=True`` loads the
    reverse direction of a bidirectional layer (a Keras ``Bidirectional``'s ``get_weights()`` is the
    forward layer's three, then the backward layer's). ``reset_after`` is the Keras GRU's: only
    ``True`` is computed by torch's GRU. The kernel goes to ``weight_ih`` transposed, the recurrent
    kernel to ``weight_hh`` transposed, with the gates put in torch's order; Keras' one bias goes to
    ``bias_ih`` and ``bias_hh`` is set to 0 (a GRU's two go to ``bias_ih`` and ``bias_hh``). Shapes
    are checked against the layer's sizes; a mismatch is a one-line ``ValueError``. The activations
    are the layer's own (Keras' defaults are torch's: ``tanh`` and ``sigmoid``).

    >>> import numpy as np, torch, rnnlab
    >>> rng = np.random.default_rng(0)
    >>> kernel, recurrent, bias = rng.normal(size=(3, 20)), rng.normal(size=(5, 20)), rng.normal(size=20)
    >>> lstm = load_keras_weights(rnnlab.LSTM(3, 5, batch_first=True), kernel, recurrent, bias)
    >>> torch.equal(lstm.weight_hh_l0, torch.tensor(recurrent.T, dtype=torch.float32)), lstm.bias_hh_l0.abs().max().item()
    (True, 0.0)
    >>> load_keras_weights(rnnlab.LSTM(3, 8), kernel, recurrent, bias)
    Traceback (most recent call last):
    ...
    ValueError: kernel: expected shape (3, 32) (input features × 4 gates · 8 units), got (3, 20): the Keras layer has units=5, this layer hidden_size=8
    """
    kind = _kind(layer)
    num_layers, directions = layer.num_layers, 2 if layer.bidirectional else 1
    if isinstance(layer_index, bool) or not isinstance(layer_index, int) or not 0 <= layer_index < num_layers:
        raise ValueError(f"layer_index: expected 0 … {num_layers - 1} (the layer has num_layers={num_layers}), "
                         f"got {layer_index!r}")
    if not isinstance(reverse, bool):
        raise TypeError(f"reverse: expected True or False, got {type(reverse).__name__} {reverse!r}")
    if reverse and directions == 1:
        raise ValueError("reverse: expected False for a layer that is not bidirectional, got True")
    if not isinstance(reset_after, bool):
        raise TypeError(f"reset_after: expected True or False, got {type(reset_after).__name__} {reset_after!r}")
    if not reset_after:
        raise ValueError(
            "reset_after: expected True, got False: a Keras GRU with reset_after=False applies the reset gate "
            "to the state before the recurrent matmul, which torch's GRU (and rnnlab's) does not compute; "
            "train the Keras GRU with reset_after=True, its default" if kind == "gru" else
            f"reset_after: a Keras GRU keyword, expected it left out for a {kind} layer, got False")
    G, H = len(GATES[kind]), layer.hidden_size
    C = layer.input_size if layer_index == 0 else H * directions
    K, R = _array("kernel", kernel), _array("recurrent_kernel", recurrent_kernel)
    for name, t, rows, what in (("kernel", K, C, "input features"), ("recurrent_kernel", R, H, "units")):
        hint = ""
        if t.dim() == 2 and tuple(t.shape) == (G * H, rows) and G * H != rows:
            hint = f": torch's layout ({'weight_ih' if name == 'kernel' else 'weight_hh'}); give Keras' own"
        elif t.dim() == 2 and t.shape[0] == rows and t.shape[1] % G == 0:
            hint = f": the Keras layer has units={t.shape[1] // G}, this layer hidden_size={H}"
        _check_shape(name, t, (rows, G * H), f"{what} × {G} gate{'s' if G > 1 else ''} · {H} units", hint)
    has_bias = bool(layer.bias)
    if bias is None:
        if has_bias:
            raise ValueError("bias: expected Keras' bias for a layer with bias=True, got None; give the third "
                             "of get_weights(), or build the layer with bias=False for Keras' use_bias=False")
    else:
        if not has_bias:
            raise ValueError(f"bias: expected None for a layer with bias=False, got an array of shape "
                             f"{tuple(np.shape(bias))}; build the layer with bias=True for Keras' use_bias=True")
        B = _array("bias", bias)
        if kind == "gru":
            hint = (": Keras' GRU with reset_after=False (one bias), which torch's GRU does not compute; train "
                    "the Keras GRU with reset_after=True, its default" if tuple(B.shape) == (G * H,) else "")
            _check_shape("bias", B, (2, G * H), f"Keras' GRU with reset_after=True: input and recurrent bias "
                         f"× 3 gates · {H} units", hint)
        else:
            _check_shape("bias", B, (G * H,), f"{G} gate{'s' if G > 1 else ''} · {H} units")
    sfx = f"_l{layer_index}" + ("_reverse" if reverse else "")
    w_ih, w_hh = getattr(layer, f"weight_ih{sfx}"), getattr(layer, f"weight_hh{sfx}")
    with torch.no_grad():
        w_ih.copy_(_torch_order(K, kind).T)
        w_hh.copy_(_torch_order(R, kind).T)
        if bias is not None:
            b_ih, b_hh = getattr(layer, f"bias_ih{sfx}"), getattr(layer, f"bias_hh{sfx}")
            if kind == "gru":
                b_ih.copy_(_torch_order(B[0], kind))
                b_hh.copy_(_torch_order(B[1], kind))
            else:  # (the gates see bias_ih + bias_hh: Keras' one bias is that sum)
                b_ih.copy_(_torch_order(B, kind))
                b_hh.zero_()
    return layer
