"""The one place that knows the gate layout of recurrent layers.

torch stacks the gates of a layer along dim 0 of ``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}`` and ``bias_hh_l{k}`` in a fixed order: LSTM ``i, f, g, o`` and GRU ``r, z, n``.
rnnlab layers use the same names and the same order, so everything here works for
``torch.nn.LSTM``/``GRU``/``RNN`` and for ``rnnlab`` layers alike.

Example:
    >>> import torch
    >>> lstm = torch.nn.LSTM(3, 5, bidirectional=True)
    >>> w = layer_weights(lstm)
    >>> [(g.layer, g.direction) for g in w]
    [(0, 'forward'), (0, 'reverse')]
    >>> tuple(w[0].kernel)  # gate names
    ('i', 'f', 'g', 'o')
    >>> w[0].kernel["f"].shape
    torch.Size([5, 3])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnnlab._checks import check_choice

#: Gate names per recurrent kind, in torch's order along dim 0 of the stacked weights.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
    "rnn": ("h",),
    "indrnn": ("h",),
}

#: Human-readable gate names, for figure labels and reports.
GATE_LABELS: dict[str, str] = {
    "i": "input gate",
    "f": "forget gate",
    "g": "cell candidate",
    "o": "output gate",
    "r": "reset gate",
    "z": "update gate",
    "n": "new gate",
    "h": "hidden",
}

DIRECTIONS: tuple[str, str] = ("forward", "reverse")

T_LD = TypeVar("T_LD", bound=Any)

_PARAM_RE = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")


def num_gates(kind: str) -> int:
    """Number of gates stacked in a layer of ``kind`` (``"lstm"`` → 4)."""
    try:
        return len(GATES[kind])
    except KeyError:
        raise ValueError(f"kind: expected one of {sorted(GATES)}, got {kind!r}") from None


def kind_of(module: nn.Module) -> str | None:
    """The recurrent kind of a module (``"lstm"``, ``"gru"``, ``"rnn"``, ``"indrnn"``), or None.

    Works for torch's ``nn.LSTM``/``nn.GRU``/``nn.RNN`` and their cells, and for rnnlab layers
    (which carry a ``kind`` attribute).
    """
    kind = getattr(module, "kind", None)
    if isinstance(kind, str) and kind in GATES:
        return kind
    if isinstance(module, (nn.LSTM, nn.LSTMCell)):
        return "lstm"
    if isinstance(module, (nn.GRU, nn.GRUCell)):
        return "gru"
    if isinstance(module, (nn.RNN, nn.RNNCell)):
        return "rnn"
    return None


def parse_param_name(name: str) -> tuple[str, int, str] | None:
    """Split a torch-style recurrent parameter name into (component, layer, direction).

    component is ``"kernel"`` (weight_ih), ``"recurrent"`` (weight_hh), ``"bias_ih"`` or
    ``"bias_hh"``. Returns None for other names.

    >>> parse_param_name("weight_hh_l1_reverse")
    ('recurrent', 1, 'reverse')
    >>> parse_param_name("bias_ih_l0")
    ('bias_ih', 0, 'forward')
    """
    m = _PARAM_RE.match(name.rsplit(".", 1)[-1])
    if m is None:
        return None
    what, ih_hh, layer, rev = m.groups()
    if what == "weight":
        component = "kernel" if ih_hh == "ih" else "recurrent"
    else:
        component = f"bias_{ih_hh}"
    return component, int(layer), "reverse" if rev else "forward"


def split_gates(tensor: Tensor, kind: str) -> dict[str, Tensor]:
    """Split a stacked weight, bias or activation along its gate axis into named gates.

    The gate axis is dim 0 for weights and biases (``[G*H, ...]``) and the last dim for
    activations (``[..., G*H]``): pass ``tensor.T`` or use :func:`split_gate_axis`.

    >>> split_gates(torch.zeros(8, 3), "lstm")["o"].shape
    torch.Size([2, 3])
    """
    return split_gate_axis(tensor, kind, dim=0)


def split_gate_axis(tensor: Tensor, kind: str, dim: int) -> dict[str, Tensor]:
    """Split ``tensor`` along ``dim`` into the gates of ``kind`` (views, no copy).

    >>> split_gate_axis(torch.zeros(7, 2, 9), "gru", dim=-1)["z"].shape
    torch.Size([7, 2, 3])
    """
    names = GATES[check_choice("kind", kind, GATES)]
    size = tensor.shape[dim]
    if size % len(names):
        raise ValueError(
            f"tensor: size {size} along dim {dim} is not a multiple of the {len(names)} gates "
            f"of {kind!r} ({', '.join(names)})"
        )
    return dict(zip(names, tensor.chunk(len(names), dim=dim)))


def stored_parameter(module: nn.Module, name: str) -> Tensor:
    """The stored tensor behind ``module.<name>``, looking through parametrizations."""
    if parametrize.is_parametrized(module, name):
        return module.parametrizations[name].original
    return getattr(module, name)


@dataclass
class LayerWeights:
    """Weights of one layer and direction of a recurrent module, split per gate.

    ``kernel[g]`` is ``[H, input]``, ``recurrent[g]`` is ``[H, H]`` (``[H]`` for IndRNN),
    ``bias_ih[g]``/``bias_hh[g]`` are ``[H]`` (empty dicts when the layer has no bias).
    ``prefix`` is the parameter-name prefix (e.g. ``"lstm."``) of the module in its model.
    """

    layer: int
    direction: str
    kind: str
    kernel: dict[str, Tensor]
    recurrent: dict[str, Tensor]
    bias_ih: dict[str, Tensor] = field(default_factory=dict)
    bias_hh: dict[str, Tensor] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def bias(self) -> dict[str, Tensor]:
        """Effective bias per gate (bias_ih + bias_hh; for GRU's n gate they act differently)."""
        if not self.bias_ih:
            return {}
        if not self.bias_hh:
            return dict(self.bias_ih)
        return {g: self.bias_ih[g] + self.bias_hh[g] for g in self.bias_ih}


def pick_layer(items: list[T_LD], layer: int, direction: str) -> T_LD:
    """The item of ``items`` (anything with ``.layer`` and ``.direction``) for one layer and
    direction, or a KeyError listing the ones there are.

    >>> import torch
    >>> pick_layer(layer_weights(torch.nn.GRU(2, 3, num_layers=2)), 1, "forward").layer
    1
    """
    for item in items:
        if (item.layer, item.direction) == (layer, direction):
            return item
    raise KeyError(
        f"layer, direction: expected one of {sorted({(i.layer, i.direction) for i in items})}, "
        f"got {(layer, direction)}"
    )


def layer_from(source: nn.Module | T_LD, record: type[T_LD], name: str, split: Callable[[nn.Module], list[T_LD]],
               layer: int, direction: str) -> T_LD:
    """``source`` when it is one layer's ``record`` already, else that layer and direction of
    ``split(source)``, a recurrent module's records (``name`` is the record's public name, for
    the error a ``source`` of another type gets).

    >>> import torch
    >>> layer_from(torch.nn.GRU(2, 3, num_layers=2), LayerWeights, "rnnlab.gates.LayerWeights",
    ...            layer_weights, 1, "forward").layer
    1
    """
    if isinstance(source, record):
        return source
    if not isinstance(source, nn.Module):
        raise TypeError(f"source: expected a recurrent nn.Module or a {name}, got {type(source).__name__}")
    return pick_layer(split(source), layer, direction)


def layer_weights(module: nn.Module, grad: bool = False) -> list[LayerWeights]:
    """Split every layer and direction of a recurrent module into per-gate weights.

    With ``grad=True`` the gradients (``.grad``) are split instead (zeros where a gradient is
    missing). Tensors are views of the stored parameters, detached.

    >>> import torch
    >>> gru = torch.nn.GRU(4, 6, num_layers=2)
    >>> [lw.layer for lw in layer_weights(gru)]
    [0, 1]
    """
    kind = kind_of(module)
    if kind is None:
        raise TypeError(
            f"module: expected a recurrent module (nn.LSTM/GRU/RNN or an rnnlab layer), "
            f"got {type(module).__name__}"
        )
    found: dict[tuple[int, str], dict[str, str]] = {}
    # Parameter names may be hidden behind a parametrization: list the attribute names.
    names = [n for n, _ in module.named_parameters(recurse=False)]
    if parametrize.is_parametrized(module):
        names += list(module.parametrizations.keys())
    for pname in names:
        parsed = parse_param_name(pname)
        if parsed is None:
            continue
        component, layer, direction = parsed
        found.setdefault((layer, direction), {})[component] = pname

    def get(pname: str) -> Tensor:
        t = stored_parameter(module, pname)
        if grad:
            return t.grad.detach() if t.grad is not None else torch.zeros_like(t)
        return t.detach()

    out = []
    for (layer, direction), comp in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] != "forward")):
        w_ih = get(comp["kernel"])
        w_hh = get(comp["recurrent"])
        rec = split_gates(w_hh, kind) if w_hh.dim() > 0 else {}
        lw = LayerWeights(
            layer=layer,
            direction=direction,
            kind=kind,
            kernel=split_gates(w_ih, kind),
            recurrent=rec,
            bias_ih=split_gates(get(comp["bias_ih"]), kind) if "bias_ih" in comp else {},
            bias_hh=split_gates(get(comp["bias_hh"]), kind) if "bias_hh" in comp else {},
            names=comp,
        )
        out.append(lw)
    return out
