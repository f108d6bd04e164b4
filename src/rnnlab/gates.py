"""The one place that knows the gate layout of recurrent layers.

torch stacks the gates of a layer along dim 0 of ``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}`` and ``bias_hh_l{k}`` in a fixed order: LSTM ``i, f, g, o`` and GRU ``r, z, n``.
rnnlab layers use the same names and the same order, so everything here works for
``torch.nn.LSTM``/``GRU``/``RNN`` and for ``rnnlab`` layers alike. A user's cell run by
``rnnlab.Recurrent`` declares where its stacked gates are with a :class:`GateLayout` (its
``gate_layout`` attribute), and :func:`layer_weights` splits it the same way; a cell with gates of
its own (a minimal gated unit's two) names them there, which adds its kind to :data:`GATES`.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from rnnlab._checks import check_choice, did_you_mean

#: Gate names per recurrent kind, in torch's order along dim 0 of the stacked weights. The
#: built-in kinds, and each kind a user's cell declares with its own gates (``GateLayout(kind,
#: gates=...)``): every reader of a kind's gates (splits, plots, exports) finds them here.
GATES: dict[str, tuple[str, ...]] = {
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
    "rnn": ("h",),
    "indrnn": ("h",),
}

#: The kinds of torch's and rnnlab's own layers, whose parameters have torch's names.
BUILTIN_KINDS: tuple[str, ...] = tuple(GATES)

#: ``rnnlab.Recurrent``'s own kind (it runs a cell), which no cell's layout may take.
_RECURRENT_KIND = "custom"

#: The range of each activation a gate may declare (:class:`GateLayout`'s ``activations``): what
#: bounds its values, for the colour scales of the heatmaps and the saturation of a gate.
ACTIVATION_RANGES: dict[str, tuple[float, float]] = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}

#: Which activation each gate of a gated kind has with the layers' defaults (``recurrent_activation``
#: for the gates, ``activation`` for the candidate): what bounds its values (sigmoid 0 … 1, tanh
#: -1 … 1). The one gate of RNN and IndRNN layers has none here (its activation may be relu). A
#: kind a cell declares has an entry too: the activations its layout names (``{}``: none named).
GATE_ACTIVATIONS: dict[str, dict[str, str]] = {
    "lstm": {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"},
    "gru": {"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
}

#: The gate of each built-in gated kind that keeps the state when open (long memory): the LSTM's
#: forget gate (c = f ⊙ c + i ⊙ g) and the GRU's update gate (h = (1 − z) ⊙ n + z ⊙ h, torch's
#: convention). Chrono initialisation (Tallec & Ollivier 2018) opens either.
KEEP_GATE: dict[str, str] = {"lstm": "f", "gru": "z"}

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


def has_gates(kind: str) -> bool:
    """Whether a layer of ``kind`` has gates (LSTM, GRU, a kind a cell declares), rather than one
    activation that is its hidden state ``h`` (RNN, IndRNN, a declared kind whose one gate is ``h``).

    >>> has_gates("gru"), has_gates("indrnn")
    (True, False)
    """
    return GATES[check_choice("kind", kind, GATES)] != ("h",)


def kind_of(module: nn.Module) -> str | None:
    """The recurrent kind of a module (``"lstm"``, ``"gru"``, ``"rnn"``, ``"indrnn"``), or None.

    Works for torch's ``nn.LSTM``/``nn.GRU``/``nn.RNN`` and their cells, and for rnnlab layers
    (which carry a ``kind`` attribute).
    """
    kind = getattr(module, "kind", None)
    # (only built-in kinds: a layer of a kind a cell declared has no torch-style parameter names)
    if isinstance(kind, str) and kind in BUILTIN_KINDS:
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
    """Where a user's cell stacks its gates: the gates, in order, stacked along dim 0 (output
    rows or channels) of each named parameter, as torch stacks them.

    A cell declares it as its ``gate_layout`` attribute; names are the cell's own parameter
    names (as in ``cell.named_parameters()``), ``kernel`` the input→hidden weight ``[G·H, ...]``
    and ``recurrent`` the hidden→hidden one ``[G·H, H]`` (``G`` gates, ``H`` the state size). A
    ``Conv1d`` weight splits into ``[H, C, k]`` per gate. ``gates`` defaults to ``GATES[kind]``
    of a built-in kind; a cell with other gates names its own kind and its gates, which adds the
    kind to :data:`GATES` (one kind, one list of gates: declaring it again with other gates is
    an error). :func:`layer_weights` checks the shapes against the layout.

    ``activations`` names each gate's activation, ``"sigmoid"`` (0 shut … 1 open) or ``"tanh"``
    (-1 … 1): the heatmaps draw a gate on its activation's range and the report counts a sigmoid
    gate's units stuck shut or open. A built-in kind has its own (LSTM i, f, o sigmoid and g tanh;
    GRU r, z sigmoid and n tanh) and takes no others; a kind of the user's own has those its
    layouts name (one kind, one activation per gate), and a gate named by none is drawn on the
    range of its values.

    >>> import torch
    >>> class MyLSTMCell(torch.nn.Module):
    ...     gate_layout = GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight", bias_ih="ih.bias")
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.ih, self.hh = torch.nn.Linear(3, 20), torch.nn.Linear(5, 20, bias=False)
    >>> [(lw.direction, lw.kernel["f"].shape) for lw in layer_weights(MyLSTMCell())]
    [('forward', torch.Size([5, 3]))]
    >>> class MGUCell(torch.nn.Module):  # a minimal gated unit: a forget gate and a candidate
    ...     gate_layout = GateLayout("mgu", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight")
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.ih, self.hh = torch.nn.Linear(3, 10), torch.nn.Linear(5, 10, bias=False)
    >>> {g: tuple(w.shape) for g, w in layer_weights(MGUCell())[0].recurrent.items()}
    {'f': (5, 5), 'n': (5, 5)}
    >>> GateLayout("mgu", gates=("f", "n"), kernel="ih.weight", recurrent="hh.weight",
    ...            activations={"f": "sigmoid", "n": "tanh"}).activations
    {'f': 'sigmoid', 'n': 'tanh'}
    >>> GateLayout("gru", kernel="ih.weight", recurrent="hh.weight").activations
    {'r': 'sigmoid', 'z': 'sigmoid', 'n': 'tanh'}
    """

    kind: str
    kernel: str
    recurrent: str
    bias_ih: str | None = None
    bias_hh: str | None = None
    #: The gate names in stacking order; empty: those of the built-in ``kind``.
    gates: tuple[str, ...] = ()
    #: ``{gate: "sigmoid" | "tanh"}``; None: the kind's as known (after construction: all of them).
    #: (no hash: a dict; the kind, gates and names identify a layout)
    activations: dict[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        for comp in ("kernel", "recurrent", "bias_ih", "bias_hh"):
            name = getattr(self, comp)
            if (name is not None or comp in ("kernel", "recurrent")) and not (isinstance(name, str) and name):
                raise TypeError(f"gate_layout.{comp}: expected a parameter name of the cell, got {name!r}")
        named = self.gates if isinstance(self.gates, (tuple, list)) and self.gates else \
            GATES.get(self.kind, ()) if isinstance(self.kind, str) else ()
        activations = _kind_activations(self.kind, tuple(named), self.activations)
        # (last: a refused layout declares no kind)
        object.__setattr__(self, "gates", _declare_kind(self.kind, self.gates))
        if self.kind not in BUILTIN_KINDS:
            GATE_ACTIVATIONS[self.kind] = activations
        object.__setattr__(self, "activations", dict(activations))

    def components(self) -> dict[str, str]:
        """``{component: parameter name}`` of the components the cell has."""
        names = {"kernel": self.kernel, "recurrent": self.recurrent, "bias_ih": self.bias_ih, "bias_hh": self.bias_hh}
        return {comp: name for comp, name in names.items() if name is not None}


def _declare_kind(kind: object, gates: object) -> tuple[str, ...]:
    """The gates of a layout's ``kind``: a built-in kind's, or the ones named for a kind of the
    user's own, which this adds to :data:`GATES`."""
    if not isinstance(kind, str):
        raise TypeError(f"gate_layout.kind: expected a kind name such as 'lstm' or 'mgu', got {type(kind).__name__}")
    if not kind.isidentifier():
        raise ValueError(f"gate_layout.kind: expected a kind name (an identifier such as 'mgu'), got {kind!r}")
    if isinstance(gates, str) or not isinstance(gates, (tuple, list)):
        raise TypeError(f"gate_layout.gates: expected a tuple of gate names such as ('f', 'n'), got {gates!r}")
    if not gates:
        if kind not in GATES:
            typo = did_you_mean(kind, GATES)
            raise ValueError(
                f"gate_layout.kind: expected one of {sorted(GATES)}, got {kind!r}{typo}{' Or' if typo else '; or'}, "
                f"for a cell with gates of its own, name them: GateLayout({kind!r}, gates=('f', 'n'), "
                f"kernel=..., recurrent=...) (docs/layers.md, 'Your own cell')"
            )
        return GATES[kind]
    names = tuple(gates)
    if not all(isinstance(g, str) and g.isidentifier() for g in names) or len(set(names)) < len(names):
        raise ValueError(f"gate_layout.gates: expected distinct gate names (identifiers such as 'f'), got {gates!r}")
    if kind == _RECURRENT_KIND:
        raise ValueError(f"gate_layout.kind: {kind!r} is rnnlab.Recurrent's own kind; name your cell's kind, "
                         f"e.g. 'mgu'")
    known = GATES.get(kind)
    if known is not None and known != names:
        what = "a built-in kind" if kind in BUILTIN_KINDS else "declared already"
        raise ValueError(
            f"gate_layout.gates: kind {kind!r} ({what}) has the gates {known}, got {names}; a cell with other "
            f"gates declares a kind of its own, e.g. GateLayout('my_{kind}', gates={names}, ...)"
        )
    GATES[kind] = names
    return names


def _kind_activations(kind: object, gates: tuple[str, ...], given: object) -> dict[str, str]:
    """The activations of ``kind``'s ``gates`` once a layout names ``given`` (None: none), checked
    against what is known of the kind; declares nothing (the caller does, once the kind is)."""
    known = dict(GATE_ACTIVATIONS.get(kind, {})) if isinstance(kind, str) else {}
    if given is None or not gates:  # (no gates: the kind is refused, by _declare_kind's own error)
        return known
    if not isinstance(given, Mapping):
        raise TypeError(f"gate_layout.activations: expected a mapping of gate to activation such as "
                        f"{{'f': 'sigmoid', 'n': 'tanh'}}, got {type(given).__name__}")
    for gate, act in given.items():
        if gate not in gates:
            raise ValueError(f"gate_layout.activations: expected gates of {kind!r} ({', '.join(gates)}), got "
                             f"{gate!r}{did_you_mean(str(gate), gates)}")
        if not isinstance(act, str) or act not in ACTIVATION_RANGES:
            raise ValueError(f"gate_layout.activations[{gate!r}]: expected one of {sorted(ACTIVATION_RANGES)}, got "
                             f"{act!r}{did_you_mean(str(act), ACTIVATION_RANGES)}")
    builtin = kind in BUILTIN_KINDS
    clash = {g: a for g, a in given.items() if (builtin and known.get(g) != a) or known.get(g, a) != a}
    if clash:
        gate = next(iter(clash))
        has = f"has {known[gate]!r}" if gate in known else "has none"
        what = "a built-in kind" if builtin else "declared already"
        raise ValueError(
            f"gate_layout.activations[{gate!r}]: gate {gate!r} of kind {kind!r} ({what}) {has}, got {clash[gate]!r}; "
            f"a cell with other activations declares a kind of its own, e.g. GateLayout('my_{kind}', gates={gates}, "
            f"activations=..., ...)"
        )
    return {g: {**known, **given}[g] for g in gates if g in {**known, **given}}


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


def declared_parameters(cell: nn.Module) -> dict[str, Tensor]:
    """``{component: stored tensor}`` of the parameters a cell's :class:`GateLayout` names,
    checked against the layout (``{}`` for a cell that declares none).

    The recurrent weight must be ``[G·H, H]`` (``[G·H]`` for a vector), the kernel ``[G·H, ...]``
    and the biases ``[G·H]``, with ``G`` the layout's gates and ``H`` the state size: the cell's
    ``hidden_size`` where it has one, else the recurrent weight's dim 1. A parametrized weight is
    named as the cell uses it and stands for its stored ``.original``.

    >>> import rnnlab
    >>> {c: tuple(t.shape) for c, t in declared_parameters(rnnlab.cells.ConvLSTMCell1d(2, 3)).items()}
    {'kernel': (12, 2, 3), 'recurrent': (12, 3, 3), 'bias_ih': (12,)}
    """
    layout = gate_layout_of(cell)
    if layout is None:
        return {}
    names = [n for n, _ in cell.named_parameters()] + [
        f"{p}.{k}" if p else k for p, m in cell.named_modules() if parametrize.is_parametrized(m)
        for k in m.parametrizations
    ]
    found: dict[str, Tensor] = {}
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
        found[comp] = t
    _check_shapes(cell, layout, found)
    return found


def _check_shapes(cell: nn.Module, layout: GateLayout, found: dict[str, Tensor]) -> None:
    # dim 0 divisible by G is not enough: the 12 rows of a 2-gate cell of H=6 would split as 3
    # gates of 4 units. The state size pins H.
    n = len(layout.gates)
    rec = found["recurrent"]
    size = getattr(cell, "hidden_size", None)
    sized = isinstance(size, int) and not isinstance(size, bool)
    if sized:
        h, why = size, f"its hidden_size H={size}"
    elif rec.dim() >= 2:
        h, why = rec.shape[1], f"its state size H={rec.shape[1]} (the recurrent weight's dim 1)"
    else:
        h, why = rec.shape[0] // n if rec.dim() else 0, "H its state size"
    for comp, t in found.items():
        shape = tuple(t.shape)
        if comp == "recurrent" and rec.dim() >= 2:
            want, form = (n * h, h, *shape[2:]), "[G·H, H]"
        elif comp == "kernel":
            want, form = (n * h, *shape[1:]), "[G·H, input]"
        else:
            want, form = (n * h,), "[G·H]"
        if shape == want and h > 0:
            continue
        hint = ""
        # A matrix the other way round (nn.Linear(G·H, H).weight for the recurrent weight) is no
        # other number of gates: say what it looks like.
        flipped = len(shape) == 2 and shape[0] != shape[1] and (
            shape[::-1] == want or (comp == "kernel" and shape[1] == n * h)
            or (comp == "recurrent" and not sized and shape[1] == n * shape[0]))
        if flipped:
            hint = ("; the shape looks transposed: the layout reads the gates stacked along dim 0, as an "
                    "nn.Linear(in, G·H).weight holds them")
        elif h > 0 and shape and shape[0] % h == 0 and shape[0] // h not in (0, n):
            g = shape[0] // h
            hint = (f"; if it stacks {g} gate{'s' if g != 1 else ''}, declare a kind of its own with their names, "
                    f"GateLayout('my_kind', gates=(...), ...)")
        raise ValueError(
            f"gate_layout.{comp}: {type(cell).__name__}.{layout.components()[comp]} has shape {shape}, expected "
            f"{n} gates of {layout.kind!r} ({', '.join(layout.gates)}) stacked along dim 0: {form} = {want} for "
            f"{why}{hint}"
        )


def _cell_weights(module: nn.Module, cells: list[tuple[str, str, nn.Module]], grad: bool) -> list[LayerWeights]:
    out = []
    for direction, attr, cell in cells:
        where = f"{attr} ({type(cell).__name__})" if attr else type(cell).__name__
        layout = gate_layout_of(cell)
        if layout is None:
            raise TypeError(f"module: its {where} declares no gate layout, so its weights cannot be split per gate; "
                            f"{DECLARE_LAYOUT}")
        split: dict[str, dict[str, Tensor]] = {}
        for comp, t in declared_parameters(cell).items():
            if grad:
                t = t.grad if t.grad is not None else torch.zeros_like(t)
            split[comp] = split_gates(t.detach(), layout.kind)
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
