"""Run the health checks: measure a copy of the model at initialisation and over a few steps.

:func:`diagnose` deep-copies the model (and the optimizer when one is given), so the caller's
model, optimizer and global random state are left exactly as they were. It then

1. runs the untrained copy on the batch (recording ReLU outputs and gate activations) and
   backpropagates the loss (the gradient at initialisation);
2. measures the gradient through time of every recurrent layer (eval mode, but batch norms on
   the batch's statistics, as in training);
3. takes ``steps`` optimizer steps on the same batch, tracking each parameter's norm, update and
   gradient;
4. runs the trained copy once more (ReLU outputs and gates after training);

and hands these :class:`~rnnlab.doctor.checks.Observations` to every check in
:data:`~rnnlab.doctor.checks.CHECKS`.

Example:
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lstm = torch.nn.LSTM(3, 8, batch_first=True)
    ...         self.head = torch.nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.head(self.lstm(x)[0][:, -1])
    >>> batch = (torch.randn(16, 10, 3), torch.randint(0, 2, (16,)))
    >>> report = diagnose(Net(), batch, torch.nn.CrossEntropyLoss())
    >>> report.ok
    True
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parameter import is_lazy
from torch.nn.utils.rnn import PackedSequence

from rnnlab._checks import check_choice, did_you_mean
from rnnlab.doctor.checks import (
    AS_GIVEN,
    CHECKS,
    INPUT_BATCH,
    POOLED_LAST_STEP_LOSS,
    GateRecord,
    KeySpelling,
    NonFinite,
    NotApplicable,
    Observations,
    OwnCell,
    ParamTrace,
    ReluRecord,
    Thresholds,
    TimeGradient,
    WeightBiasPair,
    own_cell_weights,
)
from rnnlab.doctor.findings import SEVERITIES, Finding
from rnnlab.doctor.fit import FIT_CHECKS
from rnnlab.gates import kind_of, layer_weights, stored_parameter
from rnnlab.introspect import stats
from rnnlab.introspect.batch import compute_loss, split_batch
from rnnlab.introspect.modules import recurrent_modules
from rnnlab.introspect.through_time import GradThroughTime, grad_through_time, require_parameters
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.twin import twin_of
from rnnlab.rundir import RunDir, atomic_write_json

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarlierDiagnosis:
    """A diagnosis of the run that a later one followed (health.json's ``earlier``): its findings,
    the checks it did not run with why, and when it ran (``{"step", "epoch"}``; None: not recorded)."""

    findings: list[Finding]
    skipped: dict[str, str]
    measured: dict[str, Any] | None


@dataclass
class Report:
    """Findings of :func:`diagnose`, worst first.

    ``skipped`` maps a check that had nothing to examine to the reason; ``losses`` are the
    training losses of the diagnostic steps (the first one at initialisation); ``through_time``
    the gradient through time of the untrained model the ``gradient_through_time`` check judged
    (kept for the run's ``grad_through_time.json``; not in ``health.json``).
    """

    findings: list[Finding]
    skipped: dict[str, str] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    through_time: list[TimeGradient] = field(default_factory=list, repr=False, compare=False)
    earlier: list[EarlierDiagnosis] = field(default_factory=list, repr=False, compare=False)
    """What :meth:`read` found of the earlier diagnoses of the run, oldest first (health.json's
    ``earlier``: a later diagnosis of the run kept them, :meth:`write`)."""
    through_time_loss: str | None = field(default=None, repr=False, compare=False)
    """Which loss :attr:`through_time` follows when not the whole loss (:func:`following_through_time`;
    ``write_grad_through_time(..., loss=)`` records it beside the curve)."""

    @property
    def ok(self) -> bool:
        """True when there is no warning and no error (info findings are fine)."""
        return all(f.severity == "info" for f in self.findings)

    @property
    def worst(self) -> str | None:
        """The most serious severity found, or None without findings."""
        return max((f.severity for f in self.findings), key=SEVERITIES.index, default=None)

    def by_check(self, check: str) -> list[Finding]:
        """The findings of one check."""
        known = [*CHECKS, *FIT_CHECKS]
        if check not in known:
            raise KeyError(f"check: expected one of {sorted(known)}, got {check!r}{did_you_mean(check, known)}")
        return [f for f in self.findings if f.check == check]

    def to_json(self) -> str:
        """The findings as a JSON list (the content of ``health.json``)."""
        from rnnlab.rundir import jsonable  # the run directory's one NaN/inf convention

        return json.dumps(jsonable([f.to_dict() for f in self.findings]), indent=2)

    def write(self, run_dir: str | os.PathLike[str] | RunDir, *, step: int | None = None,
              epoch: int | None = None) -> Path:
        """Write the findings (and the checks not run, with why: ``skipped``) to
        ``RUN_DIR/health.json`` atomically; returns the path. A run
        directory held by its writer (the trainer's, the Lightning callback's, a
        :class:`~rnnlab.Tracker`'s ``tracker.run``) is written as it is; any other is claimed
        first, as ``--out`` is: a folder of the user's own files is refused
        (:func:`rnnlab.rundir.claim`), and a new one becomes a run directory. ``step`` /
        ``epoch``: when the checks ran (the optimizer steps the model had taken, 0 before
        training), recorded beside the findings so that ``rnnlab report`` says it
        (:meth:`rnnlab.rundir.RunDir.read_health_measured`).

        Nothing recorded is lost: a diagnosis the file holds that this one does not repeat (other
        findings before training, other checks not run, another moment) is kept under
        ``earlier`` (oldest first, :attr:`earlier` once read), and the top level is the latest.
        The same diagnosis written again with findings added (``rnnlab train`` adds those after
        training) replaces it.

        >>> import tempfile
        >>> run = tempfile.mkdtemp()
        >>> _ = Report([], {"dead_relu": "no ReLU"}).write(run, step=0)
        >>> _ = Report([], {}).write(run, step=36)
        >>> [e.measured for e in Report.read(run).earlier]
        [{'step': 0, 'epoch': None}]
        """
        from rnnlab.rundir import RUN, claim, jsonable

        _check_moment(step, epoch)
        findings = [f.to_dict() for f in self.findings]
        measured = {"step": step, "epoch": epoch} if step is not None or epoch is not None else None
        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)

        def write() -> None:
            before = Report.read(rd) if rd.health.exists() else None
            earlier = [] if before is None else list(before.earlier)
            if before is not None and not _same_diagnosis(before, rd.read_health_measured(), self, measured):
                earlier.append(EarlierDiagnosis(before.findings, before.skipped, rd.read_health_measured()))
            # (a plain list when there is nothing else to say: what older rnnlab versions wrote)
            content: Any = findings if measured is None and not self.skipped and not earlier else {
                "findings": findings, **({"skipped": dict(self.skipped)} if self.skipped else {}),
                **({"measured": measured} if measured is not None else {}),
                **({"earlier": [jsonable({"findings": [f.to_dict() for f in e.findings], "skipped": e.skipped,
                                          **({"measured": e.measured} if e.measured is not None else {})})
                                for e in earlier]} if earlier else {})}
            atomic_write_json(rd.health, content)

        if rd.lock.held:
            write()
        else:
            with claim(rd.path, RUN, named_by="run_dir"):
                write()
        return rd.health

    @classmethod
    def read(cls, run_dir: str | os.PathLike[str] | RunDir) -> Report:
        """Read the findings, the checks not run and the earlier diagnoses (:attr:`earlier`) back
        from ``RUN_DIR/health.json`` (a file that does not record the checks not run, as older
        versions wrote it: none).

        >>> import tempfile
        >>> run = tempfile.mkdtemp()
        >>> _ = Report([], {"softmax_init": "the outputs are values, not class scores"}).write(run)
        >>> Report.read(run).skipped
        {'softmax_init': 'the outputs are values, not class scores'}
        """
        from rnnlab.errors import RunDirError
        from rnnlab.rundir import json_shown, read_json

        rd = RunDir.existing(run_dir)
        findings = [Finding.from_dict(d) for d in rd.read_health() or []]
        data = read_json(rd.health) if rd.health.exists() else None
        skipped = _skipped(data.get("skipped", {}) if isinstance(data, dict) else {}, f"{rd.health}", "skipped")
        found = data.get("earlier", []) if isinstance(data, dict) else []
        if not isinstance(found, list):
            raise RunDirError(f"{rd.health}: expected 'earlier' to be a list of diagnoses, got {json_shown(found)}")
        earlier = []
        for k, e in enumerate(found):
            where = f"{rd.health}: 'earlier[{k}]'"
            if not (isinstance(e, dict) and isinstance(e.get("findings"), list)
                    and all(isinstance(d, dict) for d in e["findings"])
                    and isinstance(e.get("measured", {}), dict)):
                raise RunDirError(f"{where}: expected an object with a list of finding objects ('findings') and "
                                  f"when it ran ('measured': an object), got {json_shown(e)}")
            skipped_then = _skipped(e.get("skipped", {}), str(rd.health), f"earlier[{k}].skipped")
            earlier.append(EarlierDiagnosis([Finding.from_dict(d) for d in e["findings"]], skipped_then,
                                            e.get("measured")))
        return cls(findings, skipped, earlier=earlier)

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __str__(self) -> str:
        lines = [format_findings(self.findings, "Health check")]
        if self.skipped:
            lines += ["", "Not checked:"]
            lines += [f"  {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


def _skipped(value: Any, path: str, key: str) -> dict[str, str]:
    """health.json's ``skipped`` (``key`` of the file ``path``) checked: an object of check name: reason."""
    from rnnlab.errors import RunDirError
    from rnnlab.rundir import json_shown

    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RunDirError(f"{path}: expected '{key}' to be an object of check name: reason, got {json_shown(value)}")
    return dict(value)


def _same_diagnosis(old: Report, old_measured: dict[str, Any] | None, new: Report,
                    new_measured: dict[str, Any] | None) -> bool:
    """Whether ``new`` is ``old`` written again (the same moment, the same checks not run, and every
    finding of ``old`` from before training in it): then it replaces ``old``, which it repeats."""
    def moment(m: dict[str, Any] | None) -> tuple[Any, Any]:
        return (m or {}).get("step"), (m or {}).get("epoch")

    from rnnlab.rundir import jsonable

    def key(f: Finding) -> str:  # (as the file holds it: a NaN is not equal to itself, a tensor not a float)
        return json.dumps(jsonable(f.to_dict()), sort_keys=True)

    new_found = {key(f) for f in new.findings}
    return (moment(old_measured) == moment(new_measured) and old.skipped == new.skipped
            and all(key(f) in new_found for f in old.findings if f.phase == "before_training"))


def _check_moment(step: int | None, epoch: int | None) -> None:
    """``step`` and ``epoch`` of :meth:`Report.write` / :func:`diagnose`: integers >= 0 or None."""
    for name, v in (("step", step), ("epoch", epoch)):
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            raise ValueError(f"{name}: expected an integer >= 0 or None, got {v!r}")


def format_findings(findings: Sequence[Finding], heading: str) -> str:
    """Findings as text: a heading line with the counts per severity, then each finding.

    >>> print(format_findings([], "After training"))
    After training: no findings.
    >>> print(format_findings([Finding("a", "warning", "t", {}, "m", "r")] * 2, "Health check").splitlines()[0])
    Health check: 2 warnings
    """
    if not findings:
        lines = [f"{heading}: no findings."]
    else:
        counts = {s: sum(f.severity == s for f in findings) for s in reversed(SEVERITIES)}
        lines = [f"{heading}: " + ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)]
    for f in findings:
        lines += ["", f"[{f.severity.upper()}] {f.title}  ({f.check})"]
        nums = ", ".join(f"{k}={_short(v)}" for k, v in f.numbers.items())
        lines += [f"  numbers: {nums}", f"  why:     {f.message}", f"  remedy:  {f.remedy}"]
    return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(f"{k}: {_short(x)}" for k, x in list(v.items())[:6])
            + (", ..." if len(v) > 6 else "")
            + "}"
        )
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in v[:6]) + (", ..." if len(v) > 6 else "") + "]"
    return str(v)


# --- running the model ----------------------------------------------------------------------------


def _output_tensor(output: Any) -> Tensor | None:
    """The class scores in a model output: the output itself, or the first element of a tuple."""
    while isinstance(output, (tuple, list)) and output:
        output = output[0]
    if isinstance(output, PackedSequence):
        output = output.data
    return output.detach() if isinstance(output, Tensor) else None


def _output_tensors(output: Any) -> list[Tensor]:
    if isinstance(output, PackedSequence):
        return [output.data.detach()]
    if isinstance(output, Tensor):
        return [output.detach()]
    if isinstance(output, (tuple, list)):
        return [t for o in output for t in _output_tensors(o)]
    if isinstance(output, dict):
        return [t for o in output.values() for t in _output_tensors(o)]
    return []


_CLASSIFICATION_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
_CLASSIFICATION_FNS = (F.cross_entropy, F.nll_loss)


def _is_classification(loss_fn: Any) -> bool:
    return isinstance(loss_fn, _CLASSIFICATION_LOSSES) or loss_fn in _CLASSIFICATION_FNS


def _relu_channel_dim(parent: nn.Module | None, name: str, acts: Tensor) -> int:
    # The ReLU module does not know its channel axis. After a convolution or a norm over
    # [B, C, ...] it is dim 1; everywhere else in sequence models it is the last dim.
    if acts.dim() < 3 or parent is None:
        return -1
    siblings = list(parent.named_children())
    idx = [n for n, _ in siblings].index(name)
    if idx > 0:
        prev = siblings[idx - 1][1]
        channel_first = (
            nn.modules.conv._ConvNd,
            nn.modules.batchnorm._BatchNorm,
            nn.modules.instancenorm._InstanceNorm,
            nn.GroupNorm,
        )
        if isinstance(prev, channel_first):
            return 1
    return -1


def _relu_sites(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    modules = dict(model.named_modules())
    sites = []
    for name, m in modules.items():
        relu_layer = kind_of(m) is not None and "relu" in (
            getattr(m, "nonlinearity", None),
            getattr(m, "activation", None),
        )
        if isinstance(m, (nn.ReLU, nn.ReLU6)) or relu_layer:
            parent = modules.get(name.rpartition(".")[0]) if name else None
            sites.append((name or type(m).__name__, m, parent))
    return sites


def torch_gate_activations(
    module: nn.LSTM | nn.GRU, input: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None
) -> tuple[dict[tuple[int, str], Tensor], Tensor]:
    """Gate activations of torch's ``nn.LSTM``/``nn.GRU``, recomputed from its weights.

    torch's fused kernel does not expose its gates, so this runs the module's rnnlab twin
    (:func:`rnnlab.layers.twin.twin_of`) in eval mode (no dropout between layers). Returns ``(gates, output)``:
    ``gates[(layer, "forward"|"reverse")]`` is ``[T, B, G*H]`` after the gate nonlinearities
    (time-major, gate order of :mod:`rnnlab.gates`), the same layout as rnnlab's
    ``recording_gates()``; ``output`` is the replayed output of the last layer, ``[T, B, D*H]``.

    >>> lstm = torch.nn.LSTM(3, 4, num_layers=2)
    >>> x = torch.randn(6, 2, 3)
    >>> gates, out = torch_gate_activations(lstm, x)
    >>> gates[(1, "forward")].shape
    torch.Size([6, 2, 16])
    >>> torch.allclose(out, lstm(x)[0], atol=1e-6)
    True
    """
    if not isinstance(module, (nn.LSTM, nn.GRU)):
        raise TypeError(f"module: expected a torch nn.LSTM or nn.GRU, got {type(module).__name__}")
    if isinstance(input, PackedSequence):
        raise TypeError("input: a PackedSequence cannot be replayed, pass the padded tensor")
    twin = twin_of(module).eval()
    with torch.no_grad(), twin.recording_gates() as gates:
        out, _ = twin(input, hx)
    if input.dim() == 2:  # unbatched
        out = out.unsqueeze(1)
    elif module.batch_first:
        out = out.transpose(0, 1)
    return dict(gates), out


@contextlib.contextmanager
def _recording(
    model: nn.Module, relu: list[ReluRecord], gates: list[GateRecord], skipped: list[str]
) -> Iterator[None]:
    """Record ReLU outputs and gate activations of the forward passes inside the block."""
    handles = []
    torch_calls: list[tuple[str, nn.Module, Any, Any]] = []

    def relu_hook(name: str, parent: nn.Module | None) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            acts = output[0] if isinstance(output, tuple) else output
            acts = acts.data if isinstance(acts, PackedSequence) else acts
            local = name.rpartition(".")[2]
            calls = sum(r.module == name or r.module.startswith(name + "#") for r in relu)
            label = f"{name}#{calls}" if calls else name  # a module called twice: two sites
            relu.append(
                ReluRecord(label, acts.detach().clone(), _relu_channel_dim(parent, local, acts))
            )

        return hook

    def torch_rnn_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            inp = args[0] if args else kwargs.get("input")
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            torch_calls.append((name, module, inp, hx))

        return hook

    with contextlib.ExitStack() as stack:
        for name, module, parent in _relu_sites(model):
            handles.append(module.register_forward_hook(relu_hook(name, parent)))
        rnnlab_records: list[tuple[str, nn.Module, dict]] = []
        for name, module in recurrent_modules(model):
            label = name or type(module).__name__
            if kind_of(module) not in ("lstm", "gru"):
                continue
            if hasattr(module, "recording_gates"):
                rnnlab_records.append(
                    (label, module, stack.enter_context(module.recording_gates()))
                )
            elif isinstance(module, (nn.LSTM, nn.GRU)):
                handles.append(
                    module.register_forward_hook(torch_rnn_hook(label), with_kwargs=True)
                )
            else:
                skipped.append(f"'{label}' ({type(module).__name__}) does not expose its gates")
        try:
            yield
        finally:
            for h in handles:
                h.remove()
        for label, module, rec in rnnlab_records:
            for (layer, direction), acts in rec.items():
                gates.append(GateRecord(label, layer, direction, module.kind, acts.detach()))
    for label, module, inp, hx in torch_calls:
        try:
            replayed, _ = torch_gate_activations(module, inp, hx)
        except (TypeError, ValueError) as e:
            skipped.append(f"'{label}': {e}")
            continue
        for (layer, direction), acts in replayed.items():
            gates.append(GateRecord(label, layer, direction, kind_of(module), acts))


# --- observations of training -------------------------------------------------------------------


def _pairs(model: nn.Module, names: dict[int, str]) -> list[WeightBiasPair]:
    """(kernel, bias) groups whose norms the bias-growth check compares."""
    from rnnlab.layers.norm import NORM_TYPES

    pairs = []
    rec_names = set()
    for mname, module in recurrent_modules(model, gated=True):
        label = mname or type(module).__name__
        for lw in layer_weights(module):
            ids = {c: id(stored_parameter(module, p)) for c, p in lw.names.items()}
            rec_names.update(names[i] for i in ids.values() if i in names)
            kernels = [
                names[ids[c]] for c in ("kernel", "recurrent") if c in ids and ids[c] in names
            ]
            biases = [names[ids[c]] for c in ("bias_ih", "bias_hh") if c in ids and ids[c] in names]
            pairs.append(
                WeightBiasPair(f"'{label}' layer {lw.layer} {lw.direction}", kernels, biases)
            )
    for mname, module in model.named_modules():
        if isinstance(module, NORM_TYPES) or kind_of(module) is not None:
            continue
        w = module._parameters.get("weight")
        b = module._parameters.get("bias")
        if w is None or b is None or w.dim() < 2 or id(w) not in names or id(b) not in names:
            continue
        if names[id(w)] in rec_names:
            continue
        pairs.append(
            WeightBiasPair(f"'{mname or type(module).__name__}'", [names[id(w)]], [names[id(b)]])
        )
    return pairs


def input_values(x: Any) -> tuple[Tensor | None, bool]:
    """The values of a batch's input (:func:`rnnlab.introspect.batch.split_batch`'s first part)
    that the ``input_scale`` check measures, and whether they are the valid steps of an
    ``(x, lengths)`` pair: a tensor as it is; a PackedSequence's data; for rnnlab's
    ``(x, lengths)`` input of sequences of different lengths (``x`` ``[B, T, C]``, ``lengths``
    ``[B]`` integers: what the trainer's ``doctor_batch`` gives), each sequence's steps before its
    length, ``[n, C]`` (the padding after them would dilute the scale); None for anything else.

    >>> x = torch.full((2, 3, 1), 10.0)
    >>> values, valid = input_values((x, torch.tensor([3, 1])))
    >>> values.shape, valid
    (torch.Size([4, 1]), True)
    >>> input_values(["text"])
    (None, False)
    """
    if isinstance(x, PackedSequence):
        return x.data, False
    if isinstance(x, Tensor):
        return x, False
    if isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], Tensor) and isinstance(x[1], Tensor):
        values, lengths = x
        batch_first = values.dim() >= 2 and lengths.dim() == 1 and len(lengths) == values.shape[0]
        if batch_first and not lengths.is_floating_point() and not lengths.is_complex():
            steps = torch.arange(values.shape[1], device=values.device)
            return values[steps < lengths.to(values.device)[:, None]], True
    return None, False


def _channel_scales(x: Tensor) -> list[float | None]:
    """The root mean square of each channel (the last axis) over its finite values; None for a
    channel with none."""
    flat = x.reshape(-1, x.shape[-1]).to(torch.float64)
    finite = torch.isfinite(flat)
    count = finite.sum(0)
    square = torch.where(finite, flat, torch.zeros((), dtype=flat.dtype)).pow(2).sum(0)
    return [float((s / c).sqrt()) if c > 0 else None for s, c in zip(square, count)]


def input_nonfinite(x: Any, batch_first: bool | None = None,
                    channel_names: Sequence[str] | None = None) -> NonFinite | None:
    """NaN/inf in a batch's input (what :func:`input_values` reads: a tensor, a PackedSequence's
    data, the valid steps of an ``(x, lengths)`` pair), with where the first one is: its index,
    and for a 3-D input what the axes are, ``batch_first`` saying their order (None: unknown; an
    ``(x, lengths)`` pair is batch-first); None where there is none, or no such input.

    >>> x = torch.zeros(2, 5, 3)
    >>> x[1, 4, 2] = float("nan")
    >>> input_nonfinite(x, batch_first=True).place
    'input[1, 4, 2] (sample 1, step 4, channel 2)'
    >>> input_nonfinite((x, torch.tensor([5, 4])))  # (past its length: padding, never read)
    """
    valid = None
    if isinstance(x, PackedSequence):
        values, axes, name = x.data, None, "input.data"
    elif isinstance(x, Tensor):
        values, axes, name = x, None if batch_first is None else (
            ("sample", "step", "channel") if batch_first else ("step", "sample", "channel")), "input"
    else:
        _, padded = input_values(x)
        if not padded:
            return None
        values, lengths = x
        valid = torch.arange(values.shape[1], device=values.device) < lengths.to(values.device)[:, None]
        axes, name = ("sample", "step", "channel"), "x"
    if not values.is_floating_point():
        return None
    bad = ~torch.isfinite(values.detach())
    if valid is not None:
        bad &= valid.view(*valid.shape, *[1] * (values.dim() - 2))
    count = int(bad.sum())
    if not count:
        return None
    total = values.numel() if valid is None else int(valid.sum()) * values[0, 0].numel()
    first = [int(i) for i in bad.nonzero()[0]]
    place = f"{name}[{', '.join(map(str, first))}]"
    if axes is not None and values.dim() == 3:
        words = [f"{a} {i}" for a, i in zip(axes, first, strict=True)]
        if channel_names and first[2] < len(channel_names) and channel_names[first[2]]:
            words[2] = f"channel {channel_names[first[2]]}"
        place += f" ({', '.join(words)})"
    return NonFinite("initialisation", INPUT_BATCH, count, total, place)


def _batch_first(net: nn.Module) -> bool | None:
    """The axis order of a 3-D input, as the model's first recurrent layer reads it (None: unknown)."""
    found = recurrent_modules(net)
    first = getattr(found[0][1], "batch_first", None) if found else None
    return first if isinstance(first, bool) else None


def _own_cells(net: nn.Module) -> list[OwnCell]:
    """The layers of ``net`` that run cells of the user's own, and whether their declared
    ``gate_layout`` fits their weights (the reason it does not, in gate_weights' words)."""
    found = []
    for name, module in recurrent_modules(net):
        if not isinstance(module, Recurrent):
            continue
        cells = [module.cell] + ([module.reverse_cell] if module.bidirectional else [])
        declared = any(getattr(c, "gate_layout", None) is not None for c in cells)
        problem = None
        if declared:
            try:
                layer_weights(module)
            except (TypeError, ValueError) as e:
                problem = str(e)
        found.append(OwnCell(name, f"'{name or type(module).__name__}'",
                             "/".join(dict.fromkeys(type(c).__name__ for c in cells)), declared, problem))
    return found


def _check_nonfinite(obs: Observations, phase: str, what: str, t: Tensor) -> None:
    n = stats.nonfinite_count(t)
    if n:
        obs.nonfinite.append(NonFinite(phase, what, n, t.numel()))


#: What the gradient through time of a per-step task follows (:func:`through_time_loss`), as the
#: findings and the report say it.
LAST_STEP_LOSS = "the loss at each sequence's last step"


class LastStepLoss:
    """A per-step task's loss (:class:`rnnlab.task.PerStepLoss`) at each sequence's last valid
    step only: what the gradient through time follows for per-step targets
    (:func:`through_time_loss`), as a per-sequence task's loss is at each sequence's end.

    >>> from rnnlab.task import PER_STEP_CLASSIFICATION
    >>> loss = LastStepLoss(PER_STEP_CLASSIFICATION.loss_fn())
    >>> out = torch.zeros(2, 3, 2, requires_grad=True)
    >>> loss(out, torch.tensor([[0, 1, 1], [1, -100, -100]])).backward()
    >>> (out.grad.abs().sum(-1) > 0).tolist()   # (row 0's step 2, row 1's step 0)
    [[False, False, True], [True, False, False]]
    """

    def __init__(self, per_step: Any) -> None:
        self.per_step = per_step

    def __call__(self, outputs: Tensor, y: Tensor) -> Tensor:
        task = self.per_step.task
        valid = task.valid(y[:, :outputs.shape[1]])
        rows = valid.any(1).nonzero().squeeze(1)
        if not len(rows):
            raise ValueError("the batch holds no valid per-step target (every target is padding)")
        position = torch.arange(valid.shape[1], device=valid.device)
        last = torch.where(valid, position, -1).amax(1)[rows]
        return self.per_step.loss(outputs[rows, last], y[rows, last])


def through_time_loss(loss_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The loss whose |dLoss/dh_t| measures how far back a model's gradient reaches: for a
    per-step task's loss (:class:`rnnlab.task.PerStepLoss`), the loss at each sequence's last valid
    step (:class:`LastStepLoss`; the loss at every step has a term at each step t itself, so the
    gradient would "reach" every step whatever the layer's memory); any other loss as it is. The
    health check, ``rnnlab doctor`` and the trainer's curve after training all follow it.

    >>> from rnnlab.task import PER_STEP_REGRESSION, REGRESSION
    >>> type(through_time_loss(PER_STEP_REGRESSION.loss_fn())).__name__, type(through_time_loss(REGRESSION.loss_fn())).__name__
    ('LastStepLoss', 'MSELoss')
    """
    from rnnlab.task import PerStepLoss

    return LastStepLoss(loss_fn) if isinstance(loss_fn, PerStepLoss) else loss_fn




@contextlib.contextmanager
def following_through_time(
    net: nn.Module, loss_fn: Callable[..., Tensor]
) -> Iterator[tuple[Callable[..., Tensor], str | None]]:
    """``(loss, what it is)`` for measuring ``net``'s gradient through time inside the block: the
    loss :func:`through_time_loss` gives, and, for rnnlab's model with a head that pools the
    recurrent outputs over time, that loss through each sequence's last step alone
    (:func:`rnnlab.train.model.last_step_gradient`: the pooled summary reads every step, so the
    whole loss's gradient would reach every step whatever the layer's memory). What it is:
    :data:`LAST_STEP_LOSS`, :data:`POOLED_LAST_STEP_LOSS` or None (the whole loss), as the findings,
    ``grad_through_time.json`` and the report say it. The health check, ``rnnlab doctor`` and the
    trainer's curve after training all measure inside it.

    >>> from rnnlab.config import HeadConfig, ModelConfig
    >>> from rnnlab.train.model import LogitsOnly, build_model
    >>> net = LogitsOnly(build_model(ModelConfig(hidden_size=4, head=HeadConfig(pooling="mean")), 3, 2))
    >>> with following_through_time(net, nn.CrossEntropyLoss()) as (loss, followed):
    ...     print(followed)
    the loss through each sequence's last step alone
    """
    from rnnlab.train.model import last_step_gradient

    followed = through_time_loss(loss_fn)
    with last_step_gradient(net) as pooled:
        yield followed, LAST_STEP_LOSS if followed is not loss_fn else POOLED_LAST_STEP_LOSS if pooled else None


def _time_gradients(
    net: nn.Module, batch: Any, loss_fn: Callable[..., Tensor], obs: Observations
) -> None:
    """|dLoss/dh_t| per step of every recurrent layer and direction, in processing order, of the
    loss :func:`following_through_time` gives."""
    if not recurrent_modules(net):
        obs.through_time_skipped = "the model has no recurrent layer"
        return
    try:
        with following_through_time(net, loss_fn) as (followed, obs.through_time_loss), _measuring_mode(net):
            result = grad_through_time(net, batch, followed)
    except (TypeError, ValueError, RuntimeError) as e:
        # (autograd's own refusals are RuntimeErrors: a health check reports them as a skipped check)
        obs.through_time_skipped = f"gradient through time could not be measured: {e}"
        return
    obs.through_time += time_gradients(result, net)


def _batch_norms(net: nn.Module) -> list[nn.Module]:
    """The modules that normalize with batch statistics in training: torch's batch norms,
    recurrent batch norm's per-step norms and the ``GateNorms`` holding them (whose own flag
    picks the statistics of the fast loops)."""
    from rnnlab.layers.norm import GateNorms, TimestepBatchNorm

    return [
        m for m in net.modules()
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, TimestepBatchNorm))
        or (isinstance(m, GateNorms) and m.norm == "batch")
    ]


@contextlib.contextmanager
def _measuring_mode(net: nn.Module) -> Iterator[None]:
    """The untrained network as it trains, without random draws: eval mode (no dropout, zoneout
    or weight-drop draws; an nn.LSTM with proj_size is re-run step by step) except for batch
    norms, which stay in training mode. Untrained, their running statistics are still their
    initial mean 0 and variance 1, which no step of training uses: measured with them, recurrent
    batch norm's gradient looked vanishing where training sees it reach every step. The running
    statistics these batches move, every module's mode and the random state are put back.

    After training the running statistics are real, so the trainer's measurement after training
    (``_record_grad_through_time``, eval mode throughout) is right to use them: it measures the
    model as it predicts.
    """
    from rnnlab.introspect.modules import untouched

    # (the norms move copies of their buffers, left untouched: a graph of the model built before,
    # e.g. the forward pass the first training step reuses, saved them)
    with untouched(net):
        net.eval()
        for m in _batch_norms(net):
            m.train()
        yield


def time_gradients(result: Mapping[str, GradThroughTime], net: nn.Module | None = None) -> list[TimeGradient]:
    """What the ``gradient_through_time`` check reads of a :func:`rnnlab.introspect.grad_through_time`
    result (``{module name: GradThroughTime}``): each layer and direction's mean |dLoss/dh_t| in
    processing order, named as the findings name it, with its module key, layer and direction
    (:func:`curves_from_time_gradients` turns them back into a result). ``net``: the model
    measured (it names the module of key "" and gives the check the layers, to tailor its
    remedies); None for a result read back from a run directory (``grad_through_time.json``).

    >>> import numpy as np
    >>> g = GradThroughTime("model.rnn", "rnn", 1, ("forward",), {(0, "forward"): np.ones((4, 3))})
    >>> [(tg.name, tg.per_step.tolist()) for tg in time_gradients({"model.rnn": g})]
    [("'model.rnn' layer 0 forward", [1.0, 1.0, 1.0, 1.0])]
    >>> [(tg.key, tg.layer, tg.direction) for tg in time_gradients({"model.rnn": g})]
    [('model.rnn', 0, 'forward')]
    """
    out = []
    for name, gtt in result.items():
        label = name or (type(net).__name__ if net is not None else "model")
        for layer, direction in gtt.layers:
            with warnings.catch_warnings():  # all-NaN timesteps: left to the nonfinite check
                warnings.simplefilter("ignore", RuntimeWarning)
                g = torch.from_numpy(gtt.per_timestep(layer, direction))
            # The reverse direction processes t = T-1 first: its last step is t = 0.
            g = g.flip(0) if direction == "reverse" else g
            module = None if net is None else net.get_submodule(name.split("#")[0]) if name else net
            # (the cell's weights now, before the health check's training steps change them)
            weights = own_cell_weights(module, direction) if isinstance(module, Recurrent) else None
            # (the forward rows count back from each sequence's own end; the reverse ones end at t = 0 in all)
            out.append(TimeGradient(f"'{label}' layer {layer} {direction}", g, module, name, layer, direction,
                                    weights, held=gtt.held if direction == "forward" else None))
    return out


def curves_from_time_gradients(through_time: Iterable[TimeGradient]) -> dict[str, GradThroughTime]:
    """The inverse of :func:`time_gradients`: ``{module key: GradThroughTime}`` as
    :func:`rnnlab.introspect.grad_through_time` returns it and ``grad_through_time.json`` stores it,
    with ``[T, 1]`` arrays (the mean over channels, which is what a ``TimeGradient`` keeps) in
    forward time order. E.g. the health check's curves before training (``Report.through_time``);
    a ``TimeGradient`` without a module key (one made by hand) is left out.

    >>> import numpy as np
    >>> g = GradThroughTime("rnn", "gru", 1, ("forward", "reverse"),
    ...                     {(0, "forward"): np.ones((3, 2)), (0, "reverse"): np.arange(3.0)[:, None]})
    >>> back = curves_from_time_gradients(time_gradients({"rnn": g}))["rnn"]
    >>> back.directions, back.layers[(0, "reverse")].ravel().tolist()
    (('forward', 'reverse'), [0.0, 1.0, 2.0])
    """
    from rnnlab.gates import DIRECTIONS

    found: dict[str, dict[tuple[int, str], Any]] = {}
    modules: dict[str, nn.Module | None] = {}
    held: dict[str, Any] = {}
    for tg in through_time:
        if tg.key is None or tg.layer is None or tg.direction not in DIRECTIONS:
            continue
        g = tg.per_step.detach().to("cpu", torch.float64).numpy()
        # (the reverse direction was flipped into processing order for the check: back to time order)
        g = g[::-1] if tg.direction == "reverse" else g
        found.setdefault(tg.key, {})[(tg.layer, tg.direction)] = g.reshape(-1, 1).copy()
        modules[tg.key] = tg.module
        if tg.held is not None:
            held.setdefault(tg.key, tg.held)
    out = {}
    for key, layers in found.items():
        module = modules[key]
        out[key] = GradThroughTime(
            module=key.split("#")[0],
            kind=None if module is None else kind_of(module) or getattr(module, "kind", None),
            num_layers=max(layer for layer, _ in layers) + 1,
            directions=tuple(d for d in DIRECTIONS if any(dd == d for _, dd in layers)),
            layers=layers,
            held=held.get(key),
        )
    return out


def _copy(
    model: nn.Module, optimizer_factory: OptimizerFactory | torch.optim.Optimizer | None
) -> tuple[nn.Module, Callable[[nn.Module], torch.optim.Optimizer]]:
    if isinstance(optimizer_factory, torch.optim.Optimizer):
        # Copy model and optimizer together: the memo maps the optimizer's parameters onto the
        # copied model's, and the optimizer state (Adam moments, step counts) comes along.
        copied, opt = copy.deepcopy((model, optimizer_factory))
        return copied, lambda m: opt
    factory = optimizer_factory or (lambda params: torch.optim.Adam(params, lr=1e-3))
    if not callable(factory):
        raise TypeError(
            f"optimizer_factory: expected a callable params -> optimizer or a torch.optim.Optimizer, "
            f"got {type(factory).__name__}"
        )
    return copy.deepcopy(model), lambda m: factory(p for p in m.parameters() if p.requires_grad)


def observe(
    model: nn.Module,
    batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer_factory: OptimizerFactory | torch.optim.Optimizer | None = None,
    steps: int = 5,
    *,
    classification: bool | None = None,
    remedies: str | KeySpelling = "python",
    channel_scales: bool = True,
    channel_names: Sequence[str] | None = None,
) -> Observations:
    """Measure what the checks need on a copy of ``model`` (see the module docstring).

    The caller's model and optimizer are not changed. Call inside ``torch.random.fork_rng`` to
    keep the global random state (``diagnose`` does).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    split_batch(batch)  # a clear error before any work
    require_parameters(model, trainable=True)
    net, make_optimizer = _copy(model, optimizer_factory)
    net.train()
    obs = Observations(steps=steps, config=remedies if isinstance(remedies, KeySpelling) else remedies == "config",
                       input_channel_names=[str(n) for n in channel_names] if channel_names else None)
    obs.own_cells = _own_cells(net)
    # The weights before anything: NaN left by an earlier training that diverged makes every output,
    # loss and gradient NaN, which would otherwise be blamed on those (and on the targets).
    for kind, named in (("parameter", net.named_parameters()), ("buffer", net.named_buffers())):
        for n, t in named:
            if not is_lazy(t) and (t.is_floating_point() or t.is_complex()):
                _check_nonfinite(obs, AS_GIVEN, f"{kind} {n}", t.detach())
    # The input next: a NaN there makes everything after it NaN, and is no fault of the model's.
    bad_input = input_nonfinite(split_batch(batch)[0], _batch_first(net), obs.input_channel_names)
    if bad_input is not None:
        obs.nonfinite.append(bad_input)

    # 1. The untrained network.
    relu: list[ReluRecord] = []
    gates: list[GateRecord] = []
    with _recording(net, relu, gates, obs.gates_skipped):
        output, loss = compute_loss(net, batch, loss_fn)
    obs.relu["init"], obs.gates["init"] = relu, gates
    # After the first forward: lazy modules (nn.LazyLinear ...) have their parameters now.
    names = {id(p): n for n, p in net.named_parameters() if p.requires_grad}
    params = {n: p for n, p in net.named_parameters() if p.requires_grad}
    obs.params = {
        n: ParamTrace(n, tuple(p.shape), [float(p.detach().norm())]) for n, p in params.items()
    }
    obs.pairs = _pairs(net, names)
    obs.outputs = _output_tensor(output)
    obs.classification = _is_classification(loss_fn) if classification is None else classification
    obs.classification_given = classification is not None
    class_first = _is_classification(loss_fn) and obs.outputs is not None and obs.outputs.dim() > 2
    obs.class_dim = 1 if class_first else -1  # torch's losses take [N, C, d1, ...]
    obs.loss_init = float(loss.detach())
    x, steps_kept = input_values(split_batch(batch)[0])
    from rnnlab.train.model import TokenEmbedding

    # (a language model's input is token ids, floats only in their container: no scale to judge)
    obs.input_tokens = any(isinstance(m, TokenEmbedding) for m in net.modules())
    if x is not None and x.is_floating_point() and not obs.input_tokens:
        finite = x.detach()[torch.isfinite(x.detach())].to(torch.float64)
        obs.input_scale = float(finite.pow(2).mean().sqrt()) if finite.numel() else None
        if channel_scales and x.dim() == (2 if steps_kept else 3) and x.shape[-1] > 1:
            obs.input_channel_scales = _channel_scales(x.detach())
    for t in _output_tensors(output):
        _check_nonfinite(obs, "initialisation", "model output", t)
    _check_nonfinite(obs, "initialisation", "loss", loss.detach())

    # 2. Gradient through time of the untrained network (on its own copy of the graph).
    _time_gradients(net, batch, loss_fn, obs)
    net.zero_grad(set_to_none=True)

    # 3. Training steps; the first one reuses the forward pass above.
    optimizer = make_optimizer(net)
    obs.learning_rates = [float(g["lr"]) for g in optimizer.param_groups if "lr" in g]
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    for n, p in params.items():
        obs.params[n].optimized = id(p) in held
    for step in range(max(steps, 1)):
        phase = "initialisation" if step == 0 else f"training step {step + 1}"
        if step > 0:
            _, loss = compute_loss(net, batch, loss_fn)
            _check_nonfinite(obs, phase, "loss", loss.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        obs.losses.append(float(loss.detach()))
        for n, p in params.items():
            trace = obs.params[n]
            if p.grad is None:
                continue
            g = p.grad.detach()
            _check_nonfinite(obs, phase, f"gradient of {n}", g)
            gmax = float(g.abs().max()) if g.numel() else 0.0
            trace.grad_max = gmax if trace.grad_max is None else max(trace.grad_max, gmax)
        if step >= steps:
            break  # steps=0: gradient at initialisation only
        before = {n: p.detach().clone() for n, p in params.items()}
        optimizer.step()
        for m in net.modules():
            if m is not net and hasattr(m, "apply_constraints") and kind_of(m) is not None:
                m.apply_constraints()
        for n, p in params.items():
            now = p.detach()
            _check_nonfinite(obs, f"after training step {step + 1}", f"parameter {n}", now)
            obs.params[n].updates.append(float((now - before[n]).norm()))
            obs.params[n].norms.append(float(now.norm()))

    # 4. The network after the steps.
    if steps:
        relu, gates = [], []
        with torch.no_grad(), _recording(net, relu, gates, []):
            net(split_batch(batch)[0])
        obs.relu["trained"], obs.gates["trained"] = relu, gates
    return obs


def diagnose(
    model: nn.Module,
    batch: tuple[Any, Any],
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer_factory: OptimizerFactory | torch.optim.Optimizer | None = None,
    steps: int = 5,
    *,
    classification: bool | None = None,
    checks: str | Sequence[str] | None = None,
    thresholds: Thresholds | None = None,
    seed: int | None = 0,
    run_dir: str | os.PathLike[str] | RunDir | None = None,
    remedies: str | KeySpelling = "python",
    step: int | None = None,
    epoch: int | None = None,
    channel_scales: bool = True,
    channel_names: Sequence[str] | None = None,
) -> Report:
    """Health-check a model: run it untrained and for a few steps on a copy, report findings.

    Args:
        model: the network, called as ``model(input)``.
        batch: ``(input, target)`` or the input alone, as in :mod:`rnnlab.introspect.batch`; the
            loss is ``loss_fn(output, target)`` (``loss_fn(output)`` without target).
        loss_fn: returns a scalar tensor. The softmax check reads the class scores from
            ``output`` (its first element when the model returns a tuple).
        optimizer_factory: ``params -> optimizer`` (default ``Adam(lr=1e-3)``), or your own
            optimizer, which is copied with the model (state included) and left untouched.
        steps: optimizer steps to take on the batch (0: look at initialisation only).
        classification: whether the outputs are class scores for the softmax check; None
            decides from ``loss_fn`` (``CrossEntropyLoss``/``NLLLoss`` and their functional forms).
        checks: names of the checks to run, or one name (default all of ``CHECKS``).
        thresholds: where the checks draw their lines (default :class:`Thresholds()`).
        seed: seed for dropout and other randomness during the diagnosis (the caller's random
            state is restored afterwards); None uses the current state.
        run_dir: when given, the findings are written to ``RUN_DIR/health.json`` (with a
            :class:`~rnnlab.Tracker` open on the run, pass ``tracker.run``).
        step, epoch: when the checks run, recorded in health.json with the findings so that
            ``rnnlab report`` says it: the optimizer steps the model has taken (0 before
            training; e.g. ``tracker.step_count``) and the epoch. None: not recorded, and the
            checks read the model as untrained ("at initialisation"; a saturated softmax is a
            finding): pass the step of a trained model, whose confident outputs are then none.
        remedies: ``"python"`` spells the remedies as Python keywords (``layer_norm=True``);
            ``"config"`` as config keys (``model.layer_norm = true``), for the model a config.toml
            describes (``rnnlab train`` and ``rnnlab doctor`` pass it;
            :data:`rnnlab.doctor.checks.SPELLING`); a :class:`~rnnlab.doctor.checks.KeySpelling`
            names those config keys as it does (an estimator's fit: ``params={"model.layer_norm":
            True}``).
        channel_scales: whether the ``input_scale`` check also looks at each channel of a 3-D input
            (the last axis) on its own; ``rnnlab train`` and ``rnnlab doctor`` pass False where
            ``data.normalize`` scales each channel already (their level and scale channels are
            near 0 by design, ``rnnlab.data.normalize.SCALE_RESOLUTION``).
        channel_names: the input channels' names (a stream's columns), which that check names
            a channel by; None: by index (``channel 2``).

    The model runs with gradients on, whatever the caller's grad mode (inside ``torch.no_grad()``
    too), which is restored after.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> batch = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    >>> print(diagnose(net, batch, torch.nn.CrossEntropyLoss(), checks=["softmax_init"]))
    Health check: no findings.
    """
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn: expected a callable loss_fn(output, target) -> scalar tensor "
            f"(e.g. torch.nn.CrossEntropyLoss()), got {type(loss_fn).__name__} {loss_fn!r}"
        )
    if not isinstance(remedies, KeySpelling):
        check_choice("remedies", remedies, ("python", "config"))
    _check_moment(step, epoch)
    # One name is one check: list("softmax_init") would be its characters.
    selected = list(CHECKS) if checks is None else [checks] if isinstance(checks, str) else list(checks)
    for name in selected:
        if name not in CHECKS:
            raise KeyError(
                f"checks: unknown check {name!r}, expected some of {list(CHECKS)}{did_you_mean(name, CHECKS)}"
            )
    th = Thresholds() if thresholds is None else thresholds
    if not isinstance(th, Thresholds):
        raise TypeError(f"thresholds: expected a Thresholds, got {type(th).__name__}")
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    # (its steps need gradients whatever the caller's mode: a notebook's no_grad cell, restored after)
    with torch.random.fork_rng(devices=cuda), torch.inference_mode(False), torch.enable_grad():
        if seed is not None:
            torch.manual_seed(seed)
        obs = observe(
            model, batch, loss_fn, optimizer_factory, steps, classification=classification, remedies=remedies,
            channel_scales=channel_scales, channel_names=channel_names,
        )
    # (when the model was measured: a trained one's findings are not "at initialisation")
    obs.model_step, obs.model_epoch = step, epoch
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    for name in selected:
        try:
            findings += CHECKS[name](obs, th)
        except NotApplicable as e:
            skipped[name] = str(e)
    findings.sort(key=lambda f: -f.rank)
    report = Report(findings, skipped, obs.losses, obs.through_time, through_time_loss=obs.through_time_loss)
    if run_dir is not None:
        report.write(run_dir, step=step, epoch=epoch)
    return report
