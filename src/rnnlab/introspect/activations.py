"""Activations of a model on one batch: layer outputs per timestep and gate activations per gate.

Axes:

* recurrent layers' outputs: ``[B, T, C]`` (batch, time, channels; ``C = directions × H`` with the
  forward direction's channels first), whatever the layer's ``batch_first``; packed input is
  unpacked (padding steps are 0, ``lengths`` says which are real);
* other modules' outputs: the module's output tensor as it is (first element of a tuple);
* gate activations: ``[B, T, H]`` per gate, after the gate nonlinearity (sigmoid for i/f/o,
  r/z; tanh for g/n; a declared kind's as its layout names them), forward time order also for
  the reverse direction.

Gate activations come from rnnlab layers' :meth:`recording_gates`. torch's ``nn.LSTM``/``nn.GRU``/
``nn.RNN`` do not expose their gates, so their input is replayed through an rnnlab twin with the
same weights (rnnlab layers compute exactly what torch's do).

The model runs under ``torch.no_grad()`` in the mode it is in, and is left as it was
(:func:`~rnnlab.introspect.modules.untouched`): its buffers, every module's training flag,
parameters and their ``.grad``, and torch's random state. In training mode the activations are
those of a training step: batch norms use the batch's statistics (without moving the model's
running statistics), and dropout and zoneout draw their own masks from a fork of torch's random
state (the masks the next forward pass would draw; the caller's stream goes on unchanged). Call
``model.eval()`` first for activations without dropout, with the running statistics.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.LSTM(3, 4, batch_first=True))
    >>> x = torch.randn(2, 5, 3)
    >>> layer_outputs(model, x)["0"].output.shape
    (2, 5, 4)
    >>> g = gate_activations(model, x)[0]
    >>> (g.module, g.layer, g.direction, sorted(g.gates)), g.gates["f"].shape
    (('0', 0, 'forward', ['f', 'g', 'i', 'o']), (2, 5, 4))
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnlab._checks import did_you_mean
from rnnlab.gates import (
    ACTIVATION_RANGES,
    DIRECTIONS,
    GATE_ACTIVATIONS,
    GATES,
    GateLayout,
    kind_of,
    split_gate_axis,
)
from rnnlab.introspect.batch import split_batch
from rnnlab.introspect.keyed import Keyed, gates_of, key_hint
from rnnlab.introspect.modules import (
    find_module,
    is_recurrent_layer,
    module_names,
    recurrent_modules,
    untouched,
)
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.twin import twin_of


@dataclass
class LayerActivations:
    """Output of one module on the batch.

    ``output`` is ``[B, T, C]`` for a recurrent layer (``recurrent=True``), else the module's
    own output shape. ``lengths [B]`` gives the real length of each sequence when the input was
    packed or had ``lengths``, else None.
    """

    module: str
    output: np.ndarray
    recurrent: bool
    directions: tuple[str, ...] = ("forward",)
    lengths: np.ndarray | None = None

    def direction(self, name: str) -> np.ndarray:
        """``[B, T, H]``: the channels of one direction of a recurrent layer's output."""
        if not self.recurrent or name not in self.directions:
            raise KeyError(f"direction: expected one of {list(self.directions)}, got {name!r}")
        parts = np.split(self.output, len(self.directions), axis=-1)
        return parts[self.directions.index(name)]


@dataclass
class GateActivations:
    """Gate activations of one layer and direction: ``gates[g]`` is ``[B, T, H]``.

    ``lengths [B]``: the real length of each sequence when the layer ran on padded input with
    ``lengths`` (or packed input), else None; the gates of a step past it are not the sequence's.
    ``kind``: a built-in kind or one a cell's :class:`rnnlab.gates.GateLayout` declares (whose
    gates ``gates`` holds). ``activations``: ``{gate: "sigmoid" | "tanh"}``, what bounds each gate's
    values (the heatmaps' scales, the units stuck shut or open); None: the kind's
    (:data:`rnnlab.gates.GATE_ACTIVATIONS`, filled in on construction).

    Checked on construction, in one line each: ``direction`` is ``"forward"`` or ``"reverse"``;
    ``kind`` is one :data:`rnnlab.gates.GATES` knows (or ``activations`` is given: a record read
    back where its cell's class is not imported); each gate is one of the kind's; a gate of a
    known activation holds no finite value outside its range (sigmoid 0 … 1, tanh -1 … 1: values
    of the pre-activation, or of another function, would be drawn clipped to it). ``gates`` is
    then a :class:`~rnnlab.introspect.keyed.Keyed` (a dict whose missing gate is a ``KeyError``
    naming the gates there).

    >>> GateActivations("rnn", 0, "forward", "gru").activations
    {'r': 'sigmoid', 'z': 'sigmoid', 'n': 'tanh'}
    >>> GateActivations("rnn", 0, "backward", "gru")
    Traceback (most recent call last):
    ...
    ValueError: direction: expected one of ['forward', 'reverse'] (a bidirectional layer's second direction is 'reverse'), got 'backward'; did you mean 'reverse'?
    """

    module: str
    layer: int
    direction: str
    kind: str
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    lengths: np.ndarray | None = None
    activations: dict[str, str] | None = None

    def __post_init__(self) -> None:
        # (checked here, where a record is made: one drawn or stored with a misspelt kind, gate or
        # direction would be labelled wrong, on a scale not its own, without a sign)
        if self.direction not in DIRECTIONS:
            meant = _DIRECTION_SYNONYMS.get(str(self.direction).casefold())
            hint = f"; did you mean {meant!r}?" if meant else did_you_mean(str(self.direction), DIRECTIONS)
            raise ValueError(f"direction: expected one of {list(DIRECTIONS)} (a bidirectional layer's second "
                             f"direction is 'reverse'), got {self.direction!r}{hint}")
        if self.kind in GATES:
            for g in self.gates:
                if g not in GATES[self.kind]:
                    raise ValueError(f"gates: expected gates of {self.kind!r}, {list(GATES[self.kind])}, got "
                                     f"{g!r}{key_hint(g, GATES[self.kind])}")
        elif self.activations is None:  # (a record read back where its cell's kind is not declared names them)
            raise ValueError(
                f"kind: expected a kind whose gates rnnlab knows, one of {sorted(GATES)}, got {self.kind!r}"
                f"{did_you_mean(str(self.kind), GATES)}; a cell's own kind is known once its class declares "
                f"gate_layout = rnnlab.gates.GateLayout({self.kind!r}, gates=(...), ...) (docs/layers.md, "
                "'Your own cell')")
        if self.activations is None:
            self.activations = dict(GATE_ACTIVATIONS.get(self.kind, {}))
        for g, act in self.activations.items():
            if g in self.gates and act in ACTIVATION_RANGES:
                _check_range(g, self.gates[g], act)
        self.gates = gates_of(self.gates, self.kind, self.label)

    @property
    def label(self) -> str:
        name = self.module or "model"
        return f"{name} l{self.layer}" + (" reverse" if self.direction == "reverse" else "")


#: What a second direction is called elsewhere, and the name it has here.
_DIRECTION_SYNONYMS = {"backward": "reverse", "backwards": "reverse", "bwd": "reverse", "reversed": "reverse",
                       "fwd": "forward", "forwards": "forward"}
#: How far a value may pass its activation's bound (a rounding, not a value of another function).
_RANGE_SLACK = 1e-6


def _check_range(gate: str, values: Any, act: str) -> None:
    """Refuse finite ``values`` of ``gate`` outside its activation's range (pre-activations, or a
    gate of another function): drawn on that range they would be clipped to read as stuck shut or
    open. NaN and infinities pass: a diverged model's, which the pictures mark as non-finite."""
    try:
        arr = np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64)
    except (TypeError, ValueError):
        return  # (ragged or not numbers: the shape checks of those that read it say so)
    finite = np.isfinite(arr)
    if not finite.any():
        return
    lo, hi = ACTIVATION_RANGES[act]
    low, high = float(arr.min(where=finite, initial=np.inf)), float(arr.max(where=finite, initial=-np.inf))
    if low < lo - _RANGE_SLACK or high > hi + _RANGE_SLACK:
        raise ValueError(
            f"gates[{gate!r}]: expected the values of a {act} gate, within [{lo:g}, {hi:g}], got values from "
            f"{low:.4g} to {high:.4g}: record each gate after its activation, not before it, or leave a gate of "
            f"another function out of activations=")


def _layer_activations(module: nn.Module, kind: str) -> dict[str, str]:
    """The activations of ``module``'s gates: the kind's, but for a gate whose layer applies
    another function (``rnnlab.LSTM(..., activation="relu")``), left out: its values have no
    bounds known here (the pictures scale it to its data)."""
    applied = {"sigmoid": getattr(module, "recurrent_activation", None) or "sigmoid",
               "tanh": getattr(module, "activation", None) or "tanh"}
    return {g: act for g, act in GATE_ACTIVATIONS.get(kind, {}).items() if applied.get(act) == act}


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


#: Why the gate activations of a cell run by ``rnnlab.Recurrent`` are not recorded, and how to record
#: them by hand: the end of :func:`gate_activations`' one-line refusal. A cell's ``gate_layout``
#: cannot stand for its forward: a GRU's reset gate inside the candidate's recurrent term, a minimal
#: gated unit's ``U_n (f ⊙ h)``, a convolution's padding, a layer norm, which tensor of an ``(h, c)``
#: state feeds the recurrent weight; activations computed from the layout would be wrong, silently.
_RECORD_OWN_GATES = (
    "a gate_layout says where a cell's gates' weights are, not how its forward combines them with the state, so "
    "record them in the cell's forward (each gate's [B, H] per step, stacked to [B, T, H]) into a "
    "rnnlab.introspect.GateActivations, which plot_activation_heatmaps and write_gate_activations take "
    "(docs/layers.md, 'Your own cell'); layer_outputs gives their outputs"
)


def _own_cells(found: list[tuple[str, nn.Module]], model: nn.Module) -> str:
    """``'rnn' (MGUCell, kind 'mgu')``: the layers of ``found`` that run cells of the user's own, for
    the refusal."""
    said = []
    for name, m in found:
        cells = [c for c in (getattr(m, "cell", None), getattr(m, "reverse_cell", None)) if c is not None]
        layout = getattr(cells[0], "gate_layout", None) if cells else None
        kind = f", kind {layout.kind!r}" if isinstance(layout, GateLayout) else ", no gate_layout"
        cls = "/".join(dict.fromkeys(type(c).__name__ for c in cells)) or type(m).__name__
        said.append(f"{name or type(model).__name__!r} ({cls}{kind})")
    return ", ".join(said)


def _targets(model: nn.Module, modules: list[str] | None, gated: bool = False) -> list[tuple[str, nn.Module]]:
    modules = module_names(modules)
    if modules is not None:
        return [(name, find_module(model, name)) for name in modules]
    found = recurrent_modules(model, required=True)
    chosen = [(n, m) for n, m in found if kind_of(m) is not None] if gated else found
    if not chosen:  # rnnlab.Recurrent: a user's cell, whose forward is its own
        raise ValueError(
            f"model: its recurrent modules {[name or type(model).__name__ for name, _ in found]} run their own "
            f"cells in rnnlab.Recurrent, {_own_cells(found, model)}, whose gate activations are not recorded: "
            f"{_RECORD_OWN_GATES}"
        )
    return chosen


def _as_btc(module: nn.Module, out: Any) -> tuple[Tensor, Tensor | None]:
    y = out[0] if isinstance(out, (tuple, list)) else out
    if isinstance(y, PackedSequence):
        padded, lengths = pad_packed_sequence(y, batch_first=True)
        return padded, lengths
    if not isinstance(y, Tensor):
        raise TypeError(f"output: expected a Tensor or PackedSequence from {type(module).__name__}, got {type(y).__name__}")
    if y.dim() == 2:  # unbatched [T, C]
        return y.unsqueeze(0), None
    return (y if getattr(module, "batch_first", False) else y.transpose(0, 1)), None


def _input_lengths(args: tuple, kwargs: dict) -> np.ndarray | None:
    """``[B]`` real lengths of a recurrent layer's call ``layer(input, state, lengths)``: its
    ``lengths`` argument, or a packed input's own (batch in the input's order, as the layers
    record their gates), else None."""
    x = args[0] if args else kwargs.get("input")
    if isinstance(x, PackedSequence):
        return pad_packed_sequence(x, batch_first=True)[1].cpu().numpy()
    given = kwargs.get("lengths", args[2] if len(args) > 2 else None)
    return None if given is None else torch.as_tensor(given).cpu().numpy().astype(np.int64)


def layer_outputs(model: nn.Module, batch: Any, modules: list[str] | None = None) -> dict[str, LayerActivations]:
    """Outputs of the named modules (default: every recurrent layer) on ``batch``.

    ``batch`` follows :mod:`rnnlab.introspect.batch` (the target, if any, is ignored). Keys are
    the module names; a module called several times keeps its last call. The model runs in its
    mode and is left as it was, with torch's random state (see the module's notes on training mode).

    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.GRU(2, 3, bidirectional=True), torch.nn.Identity())
    >>> acts = layer_outputs(model, torch.randn(7, 4, 2))  # time-major input
    >>> acts["0"].output.shape, acts["0"].direction("reverse").shape
    ((4, 7, 6), (4, 7, 3))
    """
    x, _ = split_batch(batch)
    targets = _targets(model, modules)
    found: dict[str, LayerActivations] = Keyed(what="module", of="the modules recorded")
    handles = []

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if is_recurrent_layer(module):
                y, lengths = _as_btc(module, output)
                dirs = DIRECTIONS[: 2 if getattr(module, "bidirectional", False) else 1]
                found[name] = LayerActivations(
                    name, _numpy(y), True, dirs,
                    _input_lengths(args, kwargs) if lengths is None else lengths.cpu().numpy()
                )
            else:
                y = output[0] if isinstance(output, (tuple, list)) else output
                if isinstance(y, PackedSequence):
                    y = pad_packed_sequence(y, batch_first=True)[0]
                found[name] = LayerActivations(name, _numpy(y), False)

        return hook

    try:
        for name, module in targets:
            handles.append(module.register_forward_hook(make_hook(name), with_kwargs=True))
        with untouched(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def gate_activations(model: nn.Module, batch: Any, modules: list[str] | None = None) -> list[GateActivations]:
    """Gate activations of every layer and direction of the recurrent modules of ``model``.

    Works for rnnlab layers and torch's ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (``kind`` "rnn" and
    "indrnn" have one "gate", ``h``). An ``rnnlab.Recurrent`` runs a cell whose forward is its own,
    which even a declared :class:`rnnlab.gates.GateLayout` does not describe: it is skipped beside
    other recurrent layers, and alone (or named in ``modules``) refused with a one-line error saying
    how to record its gates in the cell (docs/layers.md, "Your own cell").
    ``modules`` restricts to the named recurrent modules. The model runs in its mode and is left as
    it was, with torch's random state (see the module's notes on training mode; torch's layers are
    replayed through their twin, which in training mode draws its own dropout masks).

    >>> import rnnlab, torch
    >>> gru = rnnlab.GRU(2, 3, num_layers=2)
    >>> [(g.layer, sorted(g.gates)) for g in gate_activations(gru, torch.randn(4, 1, 2))]
    [(0, ['n', 'r', 'z']), (1, ['n', 'r', 'z'])]
    """
    x, _ = split_batch(batch)
    targets = _targets(model, modules, gated=True)
    for name, module in targets:
        if isinstance(module, Recurrent):
            raise TypeError(f"modules: {_own_cells([(name, module)], model)} is an rnnlab.Recurrent running a cell "
                            f"of its own, whose gate activations are not recorded: {_RECORD_OWN_GATES}")
        if kind_of(module) is None:
            raise TypeError(
                f"modules: {name!r} is a {type(module).__name__}, which has no known gates "
                f"(expected an LSTM, GRU, RNN or IndRNN layer)"
            )
    records: dict[str, dict[tuple[int, str], Tensor]] = {}
    replays: dict[str, tuple[nn.Module, tuple, dict]] = {}
    lengths: dict[str, np.ndarray | None] = {}
    handles = []

    def replay_hook(name: str, replay: bool):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            lengths[name] = _input_lengths(args, kwargs)
            if replay:
                replays[name] = (module, args, kwargs)

        return hook

    with untouched(model), ExitStack() as stack, torch.no_grad():
        for name, module in targets:
            replay = not hasattr(module, "recording_gates")
            if not replay:
                records[name] = stack.enter_context(module.recording_gates())
            handles.append(module.register_forward_pre_hook(replay_hook(name, replay), with_kwargs=True))
        try:
            model(x)
        finally:
            for h in handles:
                h.remove()
        for name, (module, args, kwargs) in replays.items():
            twin = twin_of(module)
            with twin.recording_gates() as rec:
                twin(*args, **kwargs)
            records[name] = rec
    out = []
    for name, module in targets:
        kind = kind_of(module)
        rec = records.get(name)
        if not rec:
            continue  # the module did not run on this batch
        for (layer, direction), g in sorted(rec.items(), key=lambda kv: (kv[0][0], kv[0][1] != "forward")):
            gates = split_gate_axis(g.transpose(0, 1), kind, dim=-1)  # [B, T, H] per gate
            out.append(
                GateActivations(
                    module=name,
                    layer=layer,
                    direction=direction,
                    kind=kind,  # type: ignore[arg-type]
                    gates={k: _numpy(gates[k]) for k in GATES[kind]},  # type: ignore[index]
                    lengths=lengths.get(name),
                    activations=_layer_activations(module, kind),  # type: ignore[arg-type]
                )
            )
    return out
