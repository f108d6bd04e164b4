"""The one place that knows the gate layout of recurrent layers.

torch stacks the gates of a layer along dim 0 of ``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}`` and ``bias_hh_l{k}`` in a fixed order: LSTM ``i, f, g, o`` and GRU ``r, z, n``.
rnnlab layers use the same names and the same order, so everything here works for
``torch.nn.LSTM``/``GRU``/``RNN`` and for ``rnnlab`` layers alike. A user's cell run by
``rnnlab.Recurrent`` declares where its stacked gates are with a :class:`GateLayout` (its
``gate_layout`` attribute), and :func:`layer_weights` splits it the same way.

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

from rnnlab._checks import check_choice, did_you_mean

#: Gate names per recurrent kind, in torch's order along dim 0 of the stacked weights.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
    "rnn": ("h",),
    "indrnn": ("h",),
}

#: Which activation each gate of a gated kind has with the layers' defaults (``recurrent_activation``
#: for the gates, ``activation`` for the candidate): what bounds its values (sigmoid 0 … 1, tanh
#: -1 … 1). The one gate of RNN and IndRNN layers has none here (its activation may be relu).
GATE_ACTIVATIONS: dict[str, dict[str, str]] = {
    "lstm": {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"},
    "gru": {"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
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


@dataclass(frozen=True)
class GateLayout:
    """Where a user's cell stacks its gates: the gate order is ``GATES[kind]``, stacked along
    dim 0 (output rows or channels) of each named parameter, as torch stacks them.

    A cell declares it as its ``gate_layout`` attribute; names are the cell's own parameter
    names (as in ``cell.named_parameters()``), ``kernel`` the input→hidden weight and
    ``recurrent`` the hidden→hidden one. A ``Conv1d`` weight splits into ``[H, C, k]`` per gate.

    >>> import torch
    >>> class MyLSTMCell(torch.nn.Module):
    ...     gate_layout = GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.ih, self.hh = torch.nn.Linear(3, 20), torch.nn.Linear(5, 20, bias=False)
    >>> [(lw.direction, lw.kernel["f"].shape) for lw in layer_weights(MyLSTMCell())]
    [('forward', torch.Size([5, 3]))]
    """

    kind: str
    kernel: str
    recurrent: str
    bias_ih: str | None = None
    bias_hh: str | None = None

    def __post_init__(self) -> None:
        check_choice("gate_layout.kind", self.kind, GATES)
        for comp in ("kernel", "recurrent", "bias_ih", "bias_hh"):
            name = getattr(self, comp)
            if (name is not None or comp in ("kernel", "recurrent")) and not (isinstance(name, str) and name):
                raise TypeError(f"gate_layout.{comp}: expected a parameter name of the cell, got {name!r}")

    def components(self) -> dict[str, str]:
        """``{component: parameter name}`` of the components the cell has."""
        names = {"kernel": self.kernel, "recurrent": self.recurrent, "bias_ih": self.bias_ih, "bias_hh": self.bias_hh}
        return {comp: name for comp, name in names.items() if name is not None}


#: How to declare a layout, for the errors that find none (one wording everywhere).
DECLARE_LAYOUT = (
    "declare one on the cell class, e.g. gate_layout = rnnlab.gates.GateLayout('lstm', kernel='ih.weight', "
    "recurrent='hh.weight', bias_ih='ih.bias') (docs/layers.md, 'Your own cell')"
)


def gate_layout_of(cell: nn.Module) -> GateLayout | None:
    """The :class:`GateLayout` a cell declares (its ``gate_layout`` attribute), or None.

    >>> import rnnlab
    >>> gate_layout_of(rnnlab.cells.ConvLSTMCell1d(2, 3)).kind
    'lstm'
    """
    layout = getattr(cell, "gate_layout", None)
    if layout is not None and not isinstance(layout, GateLayout):
        raise TypeError(
            f"gate_layout: expected an rnnlab.gates.GateLayout on {type(cell).__name__}, got {type(layout).__name__}"
        )
    return layout


def _cells(module: nn.Module) -> list[tuple[str, str, nn.Module]] | None:
    """``(direction, attribute, cell)`` of an ``rnnlab.Recurrent`` (or a bare cell with a
    layout); None for other modules."""
    if getattr(module, "kind", None) == "custom" and isinstance(getattr(module, "cell", None), nn.Module):
        found = [("forward", "cell", module.cell)]
        if getattr(module, "bidirectional", False):
            found.append(("reverse", "reverse_cell", module.reverse_cell))
        return found
    if isinstance(getattr(module, "gate_layout", None), GateLayout):
        return [("forward", "", module)]
    return None


def has_gate_layout(module: nn.Module) -> bool:
    """True when :func:`layer_weights` can split ``module``: a known recurrent kind, or an
    ``rnnlab.Recurrent`` whose cells declare a :class:`GateLayout`.

    >>> import rnnlab, torch
    >>> has_gate_layout(rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3)))
    True
    >>> has_gate_layout(rnnlab.Recurrent(rnnlab.cells.StateAsOutput(torch.nn.GRUCell(2, 3))))
    False
    """
    if kind_of(module) is not None:
        return True
    cells = _cells(module)
    return cells is not None and all(gate_layout_of(c) is not None for _, _, c in cells)


def _cell_weights(module: nn.Module, cells: list[tuple[str, str, nn.Module]], grad: bool) -> list[LayerWeights]:
    out = []
    for direction, attr, cell in cells:
        where = f"{attr} ({type(cell).__name__})" if attr else type(cell).__name__
        layout = gate_layout_of(cell)
        if layout is None:
            raise TypeError(f"module: its {where} declares no gate layout, so its weights cannot be split per gate; "
                            f"{DECLARE_LAYOUT}")
        # (a parametrized weight is named as the cell uses it, not by its stored .original)
        names = [n for n, _ in cell.named_parameters()] + [
            f"{p}.{k}" if p else k for p, m in cell.named_modules() if parametrize.is_parametrized(m)
            for k in m.parametrizations
        ]
        split: dict[str, dict[str, Tensor]] = {}
        for comp, pname in layout.components().items():
            owner, _, leaf = pname.rpartition(".")
            try:
                sub = cell.get_submodule(owner) if owner else cell
                t = stored_parameter(sub, leaf)
            except AttributeError:
                t = None
            if not isinstance(t, Tensor):
                raise ValueError(f"gate_layout.{comp}: {type(cell).__name__} has no parameter {pname!r}"
                                 f"{did_you_mean(pname, names)}")
            if grad:
                t = t.grad if t.grad is not None else torch.zeros_like(t)
            t = t.detach()
            if t.dim() == 0 or t.shape[0] % num_gates(layout.kind):
                raise ValueError(
                    f"gate_layout.{comp}: {type(cell).__name__}.{pname} has shape {tuple(t.shape)}, expected "
                    f"{num_gates(layout.kind)} gates of {layout.kind!r} ({', '.join(GATES[layout.kind])}) stacked along dim 0"
                )
            split[comp] = split_gates(t, layout.kind)
        prefix = f"{attr}." if attr else ""
        out.append(LayerWeights(layer=0, direction=direction, kind=layout.kind, kernel=split["kernel"],
                                recurrent=split["recurrent"], bias_ih=split.get("bias_ih", {}),
                                bias_hh=split.get("bias_hh", {}),
                                names={comp: prefix + p for comp, p in layout.components().items()}))
    return out


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

    ``module`` is a torch or rnnlab recurrent layer, or an ``rnnlab.Recurrent`` (one layer)
    whose cells declare a :class:`GateLayout` (a cell with one is accepted alone too). With ``grad=True`` the gradients (``.grad``) are split instead (zeros where a gradient is
    missing); a module none of whose parameters has a gradient yet is a ValueError, as in
    :func:`rnnlab.introspect.gate_gradients` (zeros there would read as "no learning signal").
    Tensors are views of the stored parameters, detached.

    >>> import torch
    >>> gru = torch.nn.GRU(4, 6, num_layers=2)
    >>> [lw.layer for lw in layer_weights(gru)]
    [0, 1]
    >>> layer_weights(gru, grad=True)
    Traceback (most recent call last):
    ...
    ValueError: module: no gradient has been computed for GRU (every .grad is None); call loss.backward() first
    """
    if grad and isinstance(module, nn.Module) and all(p.grad is None for p in module.parameters()):
        raise ValueError(f"module: no gradient has been computed for {type(module).__name__} (every .grad is None); "
                         "call loss.backward() first")
    kind = kind_of(module)
    if kind is None:
        cells = _cells(module)
        if cells is not None:
            return _cell_weights(module, cells, grad)
        raise TypeError(
            f"module: expected a recurrent module (nn.LSTM/GRU/RNN, an rnnlab layer, or rnnlab.Recurrent "
            f"with a cell that declares a gate_layout), got {type(module).__name__}"
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
