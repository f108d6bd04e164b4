"""``RUN_DIR/gate_activations.json``: each gated layer's gate activations on the batch the trainer
inspects (the one of the gradient through time), summarized to what a heatmap needs, for the
report. Nothing here draws: storing it imports neither matplotlib nor the report.

Per layer and direction of a gated layer (LSTM i/f/g/o, GRU r/z/n) the file keeps, per gate, a
``[columns, units]`` array: the mean over the batch's sequences of each unit at each step (steps
past a sequence's length left out), for the first :data:`MAX_UNITS` units and, when the layer ran
more than :data:`MAX_COLUMNS` steps, each column the mean of ``step_bin`` consecutive steps.
Values are rounded to 4 decimals and written without indentation: a few hundred kB at most.
Each layer also keeps its gates' activations (``"activations"``: ``{gate: "sigmoid" | "tanh"}``,
what bounds each gate's values), so that a report drawn in another process knows them for a kind
a cell declared (:class:`rnnlab.gates.GateLayout`); a file without them (an older rnnlab's) has
the built-in kinds' own. A kind a cell declares is summarized as the built-in ones are; one that
no layout declared in this process is refused (its gates are not known).
Layers without gates (RNN, IndRNN: their one activation is the hidden state) are listed by name
and kind under ``"ungated"``, so that the report can say why it draws none.

As in ``grad_through_time.json``, a ``"before"`` block holds the same record of the untrained
model (``phase="before_training"``, written by the trainer's health check); the write after
training keeps it. A file without the block reads as before.

Example:
    >>> import tempfile, torch
    >>> from rnnlab.introspect import gate_activations
    >>> acts = gate_activations(torch.nn.GRU(2, 3, batch_first=True), torch.randn(4, 5, 2))
    >>> run = tempfile.mkdtemp()
    >>> _ = write_gate_activations(run, acts, step=10)
    >>> layers, meta = read_gate_activations(run)
    >>> layers[0].gates["z"].shape, meta
    ((5, 3), {'step': 10, 'epoch': None, 'ungated': []})
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab._checks import check_choice, did_you_mean
from rnnlab.errors import RunDirError
from rnnlab.gates import ACTIVATION_RANGES, DIRECTIONS, GATE_ACTIVATIONS, GATES, has_gates
from rnnlab.introspect.activations import GateActivations
from rnnlab.introspect.through_time_file import PHASES
from rnnlab.rundir import RunDir, atomic_write_text, jsonable, read_json

#: Units kept per layer (the first ones): a heatmap row per unit stays readable up to about this.
MAX_UNITS = 32
#: Columns kept per layer: a longer run of steps is averaged in blocks of consecutive steps.
MAX_COLUMNS = 256
#: Decimals kept: the heatmaps' colour scales resolve far less.
DECIMALS = 4


@dataclass
class GateSummary:
    """One layer and direction's gates as stored: ``gates[g]`` is ``[columns, units]``, the mean
    over the batch of the first ``min(hidden_size, MAX_UNITS)`` units; column ``c`` is the mean of
    steps ``c * step_bin ... (c + 1) * step_bin - 1`` of the ``steps`` the layer ran (NaN where no
    sequence of the batch reached them). ``functions[g]``: gate ``g``'s activation
    (``"sigmoid"``, ``"tanh"``; :attr:`GateActivations.activations`), where known."""

    module: str
    layer: int
    direction: str
    kind: str
    hidden_size: int
    steps: int
    step_bin: int
    gates: dict[str, np.ndarray] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.activations().label

    def activations(self) -> GateActivations:
        """As :class:`GateActivations` with a batch of one (the mean), for
        :func:`rnnlab.plots.heatmap.plot_activation_heatmaps`."""
        return GateActivations(self.module, self.layer, self.direction, self.kind,
                               {g: a[None] for g, a in self.gates.items()}, activations=dict(self.functions))


def summarize_gates(
    acts: Sequence[GateActivations], *, max_units: int = MAX_UNITS, max_columns: int = MAX_COLUMNS,
) -> tuple[list[GateSummary], list[dict[str, str]]]:
    """``(summaries of the gated layers, [{"module", "kind"} of each layer without gates])`` of
    :func:`rnnlab.introspect.gate_activations`' result (see the module docstring).

    >>> import numpy as np
    >>> a = GateActivations("m", 0, "forward", "gru", {g: np.ones((2, 600, 40)) for g in "rzn"},
    ...                     lengths=np.array([600, 300]))
    >>> s = summarize_gates([a])[0][0]
    >>> s.gates["z"].shape, s.step_bin, s.hidden_size, s.functions["z"]
    ((200, 32), 3, 40, 'sigmoid')

    A kind a cell declares is summarized as the built-in ones are; a record that cannot be (a kind
    no layout declared, gates other than the kind's, arrays not ``[B, T, H]`` alike) is refused
    in one line naming it.
    """
    summaries, ungated = [], []
    for i, a in enumerate(acts):
        if not _gated(a, i):
            entry = {"module": a.module, "kind": a.kind}
            if entry not in ungated:
                ungated.append(entry)
            continue
        first = np.asarray(a.gates[GATES[a.kind][0]])
        batch, steps, hidden = first.shape
        step_bin = max(1, math.ceil(steps / max_columns))
        columns = math.ceil(steps / step_bin) if steps else 0
        real = np.ones((batch, steps), dtype=np.float64)
        if a.lengths is not None:
            real = (np.arange(steps)[None, :] < np.asarray(a.lengths)[:, None]).astype(np.float64)
        pad = columns * step_bin - steps
        count = np.pad(real.sum(axis=0), (0, pad)).reshape(columns, step_bin).sum(axis=1)
        gates = {}
        for g in GATES[a.kind]:
            x = np.asarray(a.gates[g], dtype=np.float64)[:, :, :max_units]
            total = np.einsum("bth,bt->th", np.where(real[:, :, None] > 0, x, 0.0), real)
            total = np.pad(total, ((0, pad), (0, 0))).reshape(columns, step_bin, -1).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                gates[g] = np.where(count[:, None] > 0, total / count[:, None], np.nan)
        summaries.append(GateSummary(a.module, a.layer, a.direction, a.kind, hidden, steps, step_bin, gates,
                                     dict(a.activations or {})))
    return summaries, ungated


def _gated(a: GateActivations, i: int) -> bool:
    """Whether record ``acts[i]`` has gates to summarize (False: a layer without gates, RNN or
    IndRNN); a record that cannot be summarized is refused in one line."""
    if not isinstance(a, GateActivations):
        raise TypeError(f"acts[{i}]: expected a rnnlab.introspect.GateActivations, got {type(a).__name__}")
    if a.direction not in DIRECTIONS:  # (changed after it was made: read back, it would be a forward one)
        raise ValueError(f"acts[{i}].direction: expected one of {list(DIRECTIONS)}, got {a.direction!r}")
    if a.kind not in GATES:
        raise ValueError(
            f"acts[{i}].kind: expected a kind whose gates rnnlab knows, one of {sorted(GATES)}, got "
            f"{a.kind!r}{did_you_mean(str(a.kind), GATES)}; a cell's own kind is known once its class declares "
            f"gate_layout = rnnlab.gates.GateLayout({a.kind!r}, gates=(...), ...) (docs/layers.md, 'Your own cell')"
        )
    if not has_gates(a.kind):
        return False
    names = GATES[a.kind]
    if sorted(a.gates) != sorted(names):
        raise ValueError(f"acts[{i}].gates: expected the gates of {a.kind!r}, {', '.join(names)}, got "
                         f"{', '.join(map(str, a.gates)) or 'none'}")
    shape = np.shape(a.gates[names[0]])
    for g in names:
        got = np.shape(a.gates[g])
        if len(got) != 3 or got != shape:
            want = "[B, T, H]" if len(shape) != 3 else f"{shape}, the shape of gates[{names[0]!r}]"
            raise ValueError(f"acts[{i}].gates[{g!r}]: expected an array {want}, got shape {got}")
    if a.lengths is not None and np.shape(a.lengths) != shape[:1]:
        raise ValueError(f"acts[{i}].lengths: expected one length per sequence, shape {shape[:1]}, got shape "
                         f"{np.shape(a.lengths)}")
    for g, act in (a.activations or {}).items():
        if g not in names:
            raise ValueError(f"acts[{i}].activations: expected gates of {a.kind!r} ({', '.join(names)}), got {g!r}")
        if not isinstance(act, str) or act not in ACTIVATION_RANGES:
            raise ValueError(f"acts[{i}].activations[{g!r}]: expected one of {sorted(ACTIVATION_RANGES)}, got {act!r}")
    return True


def write_gate_activations(
    run_dir: str | os.PathLike[str] | RunDir,
    acts: Sequence[GateActivations],
    *,
    step: int | None = None,
    epoch: int | None = None,
    cropped: tuple[int, int] | None = None,
    phase: str = "after_training",
) -> Path:
    """Summarize :func:`rnnlab.introspect.gate_activations`' result (:func:`summarize_gates`) into
    ``RUN_DIR/gate_activations.json``, atomically. ``cropped``: ``(steps, of)`` when the batch
    holds the first ``steps`` of ``of`` steps of each series. ``phase`` as for
    :func:`rnnlab.introspect.through_time_file.write_grad_through_time`: ``"before_training"``
    starts the file with that block alone, ``"after_training"`` keeps it.

    >>> import tempfile, torch
    >>> from rnnlab.introspect import gate_activations
    >>> acts = gate_activations(torch.nn.LSTM(2, 3), torch.randn(5, 4, 2))
    >>> run = tempfile.mkdtemp()
    >>> _ = write_gate_activations(run, acts, step=0, epoch=0, phase="before_training")
    >>> _ = write_gate_activations(run, acts, step=7)
    >>> [s.label for s in read_gate_activations(run, phase="before_training")[0]]
    ['model l0']
    """
    check_choice("phase", phase, PHASES)
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    summaries, ungated = summarize_gates(acts)
    block = {"step": step, "epoch": epoch, "ungated": ungated,
             "layers": [{"module": s.module, "layer": s.layer, "direction": s.direction, "kind": s.kind,
                         "hidden_size": s.hidden_size, "steps": s.steps, "step_bin": s.step_bin,
                         "gates": {g: np.round(a, DECIMALS) for g, a in s.gates.items()},
                         "activations": s.functions} for s in summaries],
             **({"cropped": list(cropped)} if cropped is not None else {})}
    path = rd.gate_activations
    before = None
    if phase == "after_training" and path.exists():
        try:
            data = read_json(path)
        except RunDirError:  # (unreadable: replaced as a whole)
            data = None
        before = data.get("before") if isinstance(data, dict) else None
    record = {"before": block} if phase == "before_training" else \
        {**block, **({"before": before} if before is not None else {})}
    # (compact: the arrays are thousands of numbers, one per line with indentation)
    atomic_write_text(path, json.dumps(jsonable(record), separators=(",", ":")) + "\n")
    return path


def read_gate_activations(
    run_dir: str | os.PathLike[str] | RunDir, *, phase: str = "after_training",
) -> tuple[list[GateSummary], dict[str, Any]]:
    """``([GateSummary], {"step", "epoch", "ungated"[, "cropped"]})`` from ``RUN_DIR``; ``([], {})``
    when the run recorded none (no file, or no ``"before"`` block for ``phase="before_training"``).
    A file that is not such a record is a :class:`~rnnlab.errors.RunDirError` naming it.

    >>> import tempfile
    >>> read_gate_activations(tempfile.mkdtemp())
    ([], {})
    """
    check_choice("phase", phase, PHASES)
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    path = rd.gate_activations
    if not path.exists():
        return [], {}
    data = read_json(path)
    if phase == "before_training":
        data = data.get("before") if isinstance(data, dict) else None
        if data is None:
            return [], {}
    try:
        out = []
        for e in data.get("layers", []):
            gates = {str(g): np.asarray(v, dtype=np.float64).reshape(len(v), -1 if len(v) else 0)
                     for g, v in e["gates"].items()}
            kind = str(e["kind"])
            # (a file of an older rnnlab keeps none: its layers are built-in kinds)
            functions = e.get("activations", GATE_ACTIVATIONS.get(kind, {}))
            out.append(GateSummary(str(e["module"]), int(e["layer"]), str(e["direction"]), kind,
                                   int(e["hidden_size"]), int(e["steps"]), int(e["step_bin"]), gates,
                                   {str(g): str(f) for g, f in functions.items()}))
        meta = {"step": data.get("step"), "epoch": data.get("epoch"),
                "ungated": [{"module": str(u["module"]), "kind": str(u["kind"])} for u in data.get("ungated", [])]}
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise RunDirError(f"{path}: expected the record of rnnlab.introspect.gates_file ({type(e).__name__}: {e})") from None
    if data.get("cropped") is not None:
        meta["cropped"] = data["cropped"]
    return out, meta


__all__ = ["MAX_COLUMNS", "MAX_UNITS", "GateSummary", "read_gate_activations", "summarize_gates",
           "write_gate_activations"]
