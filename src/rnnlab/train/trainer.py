"""The training loop: config in, a loop over epochs, records out (metrics, tracked, checkpoints).

Read :func:`train` top to bottom: it sets up (the data, the model and optimizer, the budget in
epochs), resumes from a checkpoint (or runs the health checks), then for each epoch trains over
shuffled batches (optionally as windows of a stateful sequence), evaluates the validation split,
appends one record to ``metrics.jsonl``, checkpoints, and stops early or not; then it finishes
(test split, findings, ``summary.json``). Every record a resumed run might repeat is truncated
back to the checkpoint first, so a killed and resumed run has each epoch exactly once.

Example:
    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('''
    ... [data]
    ... dataset = "UnitTest"
    ... [model]
    ... hidden_size = 8
    ... [training]
    ... epochs = 2
    ... [tracking]
    ... enabled = false
    ... ''')
    >>> result = train(cfg, out=tempfile.mkdtemp(), progress=False, log=None)
    >>> result.epochs, sorted(result.final)[:3]
    (2, ['epoch', 'grad_norm', 'grad_norm_max'])
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import random
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab.config import (
    Config,
    ConvBlockConfig,
    ScheduleConfig,
    TrainingConfig,
    check_dir_name,
    check_resume_changes,
    config_changes,
    dump_config,
    parse_config,
)
from rnnlab.constraints import constrain_after_step
from rnnlab.data import DataSplits, Fold, Sequences, load_data
from rnnlab.data.stream import SEASONAL_REPEAT
from rnnlab.device import autocast, describe, resolve_device
from rnnlab.doctor.findings import Finding
from rnnlab.errors import (
    CheckpointConfigUsed,
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    Place,
    RnnlabError,
    RunDirError,
    add_note,
    in_phase,
    place_of,
    placed_at,
)
from rnnlab.heap import keep_freed_memory, rare_full_collections
from rnnlab.optim import NonFiniteGradientError, clip_grad_norm
from rnnlab.regularize.penalties import ActivityRegularizer
from rnnlab.rundir import (
    ADAPT,
    GATE_ACTIVATIONS,
    GRAD_THROUGH_TIME,
    HEALTH,
    PARAM_GROUPS,
    PARTIAL_KEYS,
    RECORDED_BY_TRAIN,
    RELOCATABLE,
    RUN,
    TIMING,
    RunDir,
    RunDirGone,
    atomic_write_json,
    atomic_write_text,
    config_file_changes,
    discard_run,
    format_changes,
    partial_epoch,
    recorded_by,
    truncate_jsonl,
)
from rnnlab.stops import StopSignals, held_stops
from rnnlab.task import CLASSIFICATION, PAD_LABEL, Metric, RegressionTally, Tally, Task, task_for
from rnnlab.threads import ThreadChoice, choose_threads, measured_in, probe, warn_oversubscribed
from rnnlab.train.checkpoint import (
    RESUME,
    RUN_ID,
    CheckpointVersionError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    versions,
)
from rnnlab.train.fit_budget import FitBudget, chance_check, constant_loss, underfit_check
from rnnlab.train.mean_guard import MeanGuard, judge, predict_the_mean
from rnnlab.train.memory import StepPlan, check_memory
from rnnlab.train.model import (
    Ensemble,
    LogitsOnly,
    SequenceClassifier,
    build_model,
    combine,
    detach_state,
    member_outputs,
    member_parameters,
    members_of,
)
from rnnlab.train.run_fit import RUN_FIT_KEY, run_fit_state
from rnnlab.train.shape_rules import MIN_RECURRENT_STEPS, adapt_to_shape, recurrent_length
from rnnlab.train.timing import Timing, seconds_text

if TYPE_CHECKING:
    from rnnlab.doctor.checks import KeySpelling
    from rnnlab.train.final import CarriedGuard

Log = Callable[[str], None] | None
#: Called with each epoch's metrics record once it is written; returning True ends training
#: there (a search prunes a hopeless trial this way).
EpochCallback = Callable[[dict[str, Any]], bool]


class TrainingDiverged(RnnlabError):
    """The gradients became NaN or inf."""


class BetterReference(NamedTuple):
    """The better of a forecaster's reference forecasts, beside the model (:func:`better_reference`)."""

    name: str
    value: float
    no_better: bool
    """Whether the model does not beat it (a tie does not, nor a model with no figure)."""


def better_reference(value: float, references: Mapping[str, float], metric: Metric) -> BetterReference | None:
    """The better of a forecaster's ``references`` (the naive and seasonal-naive forecasts' figures
    of ``metric`` on the same steps, by name; NaN is no figure) and whether the model's ``value``
    is no better than it; None with no reference figure. The one rule of ``rnnlab train``'s line
    of the references and of its line per channel (:meth:`TrainResult.channel_line`).

    >>> mase = Metric("mase", False, "MASE", False)
    >>> better_reference(0.9955, {"naive": 1.4, "seasonal naive": 0.9945}, mase)
    BetterReference(name='seasonal naive', value=0.9945, no_better=True)
    >>> better_reference(0.9, {"naive": float("nan")}, mase) is None
    True
    """
    figures = [(name, float(v)) for name, v in references.items() if not math.isnan(v)]
    if not figures:
        return None
    sign = 1 if metric.higher_is_better else -1  # (ties: the first named, as max keeps it)
    name, best = max(figures, key=lambda nv: sign * nv[1])
    return BetterReference(name, best, math.isnan(value) or sign * value <= sign * best)


def shown_apart(value: float, references: Mapping[str, float], metric: Metric) -> tuple[str, dict[str, str]]:
    """A forecaster's ``value`` of ``metric`` and its ``references``' (by name) as text, each
    reference in digits enough to tell it from the model's (at 4, a loss to seasonal naive, 5.50948
    against 5.50889, reads as a tie; ``Metric.show``'s format with more digits, up to 8), the
    model's in the most any reference needed: what ``rnnlab train``, ``search`` and ``recipe`` print.

    >>> mase = Metric("mase", False, "MASE", False)
    >>> shown_apart(1.0040, {"naive": 4.754, "seasonal naive": 1.00014}, mase)
    ('1.004', {'naive': '4.754', 'seasonal naive': '1.000'})
    >>> shown_apart(5.50948, {"seasonal naive": 5.50889}, mase)
    ('5.5095', {'seasonal naive': '5.5089'})
    """
    beside = math.isfinite(value)

    def text(v: float, digits: int) -> str:
        if metric.fraction:
            return metric.show(v) if digits == 4 else f"{v:.{digits}f}"
        # (beside the model's figure, trailing zeros kept: 1.000 against 1.004, not 1)
        return f"{v:#.{digits}g}" if beside and math.isfinite(v) else metric.show(v)

    digits = {name: next((d for d in range(4, 9) if text(value, d) != text(r, d)), 8)
              if beside and r != value else 4 for name, r in references.items()}
    # (the model to the most digits any reference needed: the figure that tells it from that one)
    return text(value, max(digits.values(), default=4)), {name: text(r, digits[name]) for name, r in references.items()}


@dataclass
class TrainResult:
    """What a finished run reports (also written to RUN_DIR/summary.json)."""

    run_dir: Path
    epochs: int
    stopped_early: bool
    final: dict[str, Any]
    best: dict[str, Any] | None
    train_eval: dict[str, float]
    test: dict[str, float] | None
    model: SequenceClassifier | Ensemble = field(repr=False)
    findings: list[Finding] = field(default_factory=list)
    """Findings after training (``rnnlab.doctor.fit``): underfit, overfit; empty when healthy."""
    timing: Timing = field(default_factory=Timing, repr=False)
    """Where the session's time went; a command that draws the report adds it and rewrites
    ``timing.json`` (:meth:`Timing.write`)."""
    baselines: dict[str, dict[str, dict[str, float]]] | None = None
    """Forecasting: the naive and seasonal-naive forecasts' metrics on each split,
    ``{split: {"naive" | "seasonal_naive": {metric: value}}}``; None for other tasks."""
    text: dict[str, Any] | None = None
    """A language model's vocabulary size and the tokens and unknown tokens of each part
    (:meth:`rnnlab.data.text.TextData.counts`); None for other tasks."""
    mean_guard: MeanGuard | None = None
    """``[task] mean_guard``: what the guard measured on the validation part and whether the run
    predicts the training mean (:mod:`rnnlab.train.mean_guard`); None when off."""
    by_channel: dict[str, Any] | None = None
    """A forecaster of several channels: each channel's figures by its name, from the tallies of
    ``train_eval``, ``test`` and ``baselines`` (:func:`_by_channel`; summary.json's
    ``train_eval_by_channel``, ``test_by_channel`` and ``baselines_by_channel``); a regression of
    several targets: each target's RMSE, MAE and R² on ``train_eval`` and ``test`` and its training
    standard deviation (``scale``: summary.json's ``scale_by_channel``); None otherwise."""
    reference: str | None = None
    """A forecaster's reference forecast (``task.relative_to`` resolved), which ``train_eval``'s
    ``skill`` is measured against (:func:`_with_skill`); None for other tasks."""
    data_notes: list[str] = field(default_factory=list)
    """Every warning loading the data gave, in words (:func:`load_noted`; summary.json's
    ``data_notes``, also kept in each checkpoint): a gap in a column of dates, a short block."""
    by_class: dict[str, Any] | None = None
    """A classifier's figures class by class on each split it evaluated (the evaluated weights),
    ``{"train_eval" | "val" | "test": rnnlab.task.class_figures(...)}``: each class's count, recall and
    precision, the balanced accuracy and the majority class's rate (summary.json's
    ``train_eval_by_class``, ``val_by_class`` and ``test_by_class``); None for other tasks."""
    paused: bool = False
    """``train(stop_after=...)`` ended the session before the run's end: nothing was evaluated,
    judged or summarized (no test figures, no findings, no summary.json), as after a stop;
    ``train(..., resume=True)`` continues it. ``final`` is the last epoch's record."""
    finished_before: bool = False
    """``train(..., resume=True)`` of a run that had already finished (its summary.json written)
    with nothing left to train: nothing was trained, evaluated or written; the figures are the
    run's summary.json's, ``model`` the weights it evaluated. A caller writes nothing in the run
    either (``rnnlab train --resume`` leaves its timing.json and report as they are)."""

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "stopped_early": self.stopped_early, "final": self.final,
                "best": self.best, "best_epoch": self.best["epoch"] if self.best else None,
                "train_eval": self.train_eval, "test": self.test,
                # what the checks after training that found nothing found (rnnlab.doctor.fit.fit_verdict)
                **({"fit_checked": self.findings.checked} if hasattr(self.findings, "checked") else {}),
                # the findings after training, whether health.json is written or not (the report reads them)
                "fit_findings": [f.to_dict() for f in self.findings],
                **({"baselines": self.baselines} if self.baselines is not None else {}),
                **({"reference": self.reference} if self.reference is not None else {}),
                **({"text": self.text} if self.text is not None else {}),
                **({"mean_guard": self.mean_guard.to_dict()} if self.mean_guard is not None else {}),
                "data_notes": list(self.data_notes),
                # (keys of their own: readers of "test" and "baselines" expect numbers there)
                **{f"{part}_by_channel": figures for part, figures in (self.by_channel or {}).items()},
                **{f"{part}_by_class": figures for part, figures in (self.by_class or {}).items()}}

    def channel_line(self, metric: Metric) -> str | None:
        """``rnnlab train``'s line of ``metric`` per channel of a forecaster of several channels,
        on the test block (else the training block), each channel beside the better of the naive
        and seasonal-naive forecasts on the same steps and "no better" where it does not beat it
        (MASE's 1 is only the scale: a channel can beat it and lose to a baseline, or the other way);
        with more than :data:`CHANNELS_SHOWN` channels the worst against their baselines are named,
        then how many more; None for a run with no such figures.

        >>> r = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={
        ...     "test": {"mase": {"load": 0.9955, "temp": 0.846}},
        ...     "baselines": {"test": {"naive": {"mase": {"load": 1.4, "temp": 0.95}},
        ...                            "seasonal_naive": {"mase": {"load": 0.9945, "temp": 0.91}}}}})
        >>> r.channel_line(Metric("mase", False, "MASE", False))
        'test MASE by channel: load 0.9955 (seasonal naive 0.9945: no better), temp 0.846 (seasonal naive 0.91)'

        A regression's targets (no baselines: the worst first where there are more than shown):

        >>> t = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={
        ...     "test": {"r2": {"conc": 0.93, "temp": 0.95, "count": -1.576}}, "scale": {"std": {}}})
        >>> t.channel_line(Metric("r2", True, "R²", span=1.0))
        'test R² by target: conc 0.9300, temp 0.9500, count -1.5760'
        """
        by = self.by_channel or {}
        split, part = ("test", "test") if "test" in by else ("train", "train_eval")
        figures = by.get(part, {}).get(metric.name)
        if not figures:
            return None
        baselines = (by.get("baselines") or {}).get(split) or {}

        def against(channel: str, value: float) -> BetterReference | None:
            """The channel's better baseline on the same steps, and whether it beats the model."""
            figures = {name.replace("_", " "): b[metric.name][channel] for name, b in baselines.items()
                       if channel in (b.get(metric.name) or {})}
            return better_reference(value, figures, metric)

        def behind(channel: str, value: float) -> float:
            """How far the channel is behind its better baseline (NaN first: no figure at all)."""
            b = against(channel, value)
            if math.isnan(value):
                return math.inf
            sign = -1 if metric.higher_is_better else 1
            return (value - b.value) * sign if b is not None else value * sign  # (no baseline: the worst figure)

        def no_better(channel: str, value: float) -> bool:
            b = against(channel, value)
            return b is not None and b.no_better

        def said(channel: str, value: float) -> str:
            b = against(channel, value)
            text = f"{channel} {metric.show(value)}"
            if b is not None:
                text += f" ({b.name} {metric.show(b.value)}{': no better' if b.no_better else ''})"
            return text

        named = list(figures.items())
        # (a regression's targets carry their training scale: _by_target)
        head = f"{split} {metric.label} by {'target' if 'scale' in by else 'channel'}"
        rest: list[tuple[str, float]] = []
        if len(named) > CHANNELS_SHOWN:
            # the channels the mean hides first: those furthest behind their baselines
            named.sort(key=lambda kv: -behind(*kv))
            named, rest = named[:CHANNELS_SHOWN - 1], named[CHANNELS_SHOWN - 1:]
            head += (f" (the {len(named)} of {len(figures)} furthest behind their baselines)" if baselines
                     else f" (the worst {len(named)} of {len(figures)})")
        parts = [said(c, v) for c, v in named]
        if rest:
            lagging = sum(no_better(c, v) for c, v in rest)
            judged = all(against(c, v) is not None for c, v in rest)
            parts.append(f"and {len(rest)} more" + (f" ({lagging} of them no better than a baseline)" if lagging else
                                                    ", each better than its baselines" if judged else ""))
        return f"{head}: " + ", ".join(parts)


    def below_mean_line(self) -> str | None:
        """``rnnlab train``'s warning naming each target (of several) whose R² on the test split
        (else the training split) is below 0: the model does worse on it than its training mean
        would; None where none is, or with no figures per target.

        >>> t = TrainResult(Path("run"), 1, False, {}, None, {}, {}, None, by_channel={
        ...     "test": {"r2": {"conc": 0.93, "temp": 0.95, "count": -1.576}}})
        >>> print(t.below_mean_line())
        warning: test R² below 0 for count (-1.576): the model predicts it worse than its training mean would (the pooled figures above hide this)
        """
        by = self.by_channel or {}
        part = "test" if "test" in by else "train_eval"
        below = {name: v for name, v in (by.get(part, {}).get("r2") or {}).items() if v < 0}
        if not below:
            return None
        one = len(below) == 1
        return (f"warning: {'test' if part == 'test' else 'train'} R² below 0 for "
                + ", ".join(f"{name} ({v:.4g})" for name, v in below.items())
                + f": the model predicts {'it' if one else 'them'} worse than {'its' if one else 'their'} training "
                  "mean would (the pooled figures above hide this)")


#: How many channels :meth:`TrainResult.channel_line` names before "and N more".
CHANNELS_SHOWN = 6


# ------------------------------------------------------------------------------ optimizer & schedule


def build_optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """Param groups from ``cfg.decay_rules`` (rnnlab.param_groups) fed to the chosen optimizer.

    adamw/nadamw/sgdw decay decoupled from the gradient; adam/sgd add ``weight_decay * w`` to the
    gradient (classic L2), as torch does.
    """
    from rnnlab.regularize.groups import Rule, param_groups

    try:
        rules = [Rule(role=tuple(r.role) if isinstance(r.role, list) else r.role, name=r.name,
                      weight_decay=r.weight_decay, l1=r.l1, lr_mult=r.lr_mult, label=r.label)
                 for r in cfg.decay_rules]
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            groups = param_groups(model, rules, weight_decay=cfg.weight_decay, lr=cfg.lr)
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"training.decay_rules: {str(e).strip(chr(34))}") from None
    for w in said:  # (a rule that partly overlaps an earlier one: said in the config's words)
        warnings.warn(re.sub(r"\brules\[", "training.decay_rules[", str(w.message)), w.category, stacklevel=2)
    for g in groups:
        g["initial_lr"] = g["lr"]
    from rnnlab.optim import SGDW, AdamW, NAdamW

    kind = cfg.optimizer
    if kind == "adamw":
        # foreach on the CPU too (torch's default there is a Python loop over the parameters): the
        # same kernels on each tensor, bit for bit, ~0.4 ms less a template step (issue 23)
        return AdamW(groups, lr=cfg.lr, betas=cfg.betas, foreach=True)
    if kind == "nadamw":
        return NAdamW(groups, lr=cfg.lr, betas=cfg.betas)
    if kind == "sgdw":
        return SGDW(groups, lr=cfg.lr, momentum=cfg.momentum)
    if any(g["l1"] for g in groups):
        raise ConfigError(f"training.decay_rules: 'l1' needs optimizer adamw, nadamw or sgdw, got {kind!r}")
    if kind == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


#: The optimizers whose weight decay shrinks the weights apart from the gradient (p ← p·(1 − lr·wd)).
DECOUPLED = ("adamw", "nadamw", "sgdw")
#: The least shrink a decoupled decay can give over the whole run for ``rnnlab train`` not to call it too weak to act.
WEAK_DECAY_SHRINK = 0.01


def _rule_of(group: Mapping[str, Any], cfg: TrainingConfig) -> int | None:
    """The index in ``cfg.decay_rules`` of the rule that made ``group`` (None: default, no_decay)."""
    labels = [r.label if r.label is not None else f"rule{i}" for i, r in enumerate(cfg.decay_rules)]
    return labels.index(group["name"]) if group.get("name") in labels else None


def _param_groups_record(optimizer: torch.optim.Optimizer, cfg: TrainingConfig) -> dict[str, Any]:
    """``param_groups.json``: what each decay rule selected, as the optimizer holds it (each group's
    rule, settings and parameter names; the frozen ones, which no decay moves, named apart)."""
    groups = []
    for g in optimizer.param_groups:
        i = _rule_of(g, cfg)
        groups.append({
            "name": g.get("name"), "rule": i,
            "selected_by": None if i is None else cfg.decay_rules[i].model_dump(include={"role", "name"},
                                                                              exclude_none=True),
            "weight_decay": g.get("weight_decay"), "l1": g.get("l1", 0.0), "lr_mult": g.get("lr_mult", 1.0),
            "params": list(g.get("param_names") or []),
            "frozen": [n for n, p in zip(g.get("param_names") or [], g["params"], strict=True) if not p.requires_grad],
        })
    return {"optimizer": cfg.optimizer, "decoupled": cfg.optimizer in DECOUPLED, "groups": groups}


def _weak_decay_lines(optimizer: torch.optim.Optimizer, cfg: TrainingConfig, steps: int,
                      spelling: KeySpelling | None = None) -> list[str]:
    """A line for each group whose decoupled decay cannot shrink its weights by 1 %
    (:data:`WEAK_DECAY_SHRINK`) over the run's ``steps`` even at the schedule's peak lr
    (``1 − (1 − lr·wd)^steps``): such a decay leaves the run as it would be without it. Coupled
    decay (adam, sgd) is a gradient term, whose effect this bound does not give: never said. The
    decay that would act is said as the key that sets it for that group (a rule's own
    ``weight_decay`` where a rule took the group), in ``spelling``'s words (an estimator's
    ``params``; default: a config file's)."""
    from rnnlab.doctor.checks import KeySpelling

    spelling = spelling or KeySpelling()
    if cfg.optimizer not in DECOUPLED:
        return []
    out = []
    for g in optimizer.param_groups:
        wd, lr = float(g.get("weight_decay") or 0.0), float(g["initial_lr"])  # (the schedule's factor peaks at 1)
        if wd <= 0 or lr <= 0 or lr * wd >= 1:
            continue
        shrink = 1.0 - (1.0 - lr * wd) ** steps
        if shrink >= WEAK_DECAY_SHRINK:
            continue
        i = _rule_of(g, cfg)
        tenth = float(f"{(1.0 - 0.9 ** (1.0 / steps)) / lr:.2g}")  # (the decay that would shrink them by 10 %)
        if i is None:
            where = f"{spelling.key('training.weight_decay')}, the parameters no rule took"
            fix = spelling.set("training.weight_decay", tenth)
        else:
            r = cfg.decay_rules[i]
            picked = ", ".join(f"{k} {v if isinstance(v, str) else '/'.join(v)}" if k == "role" else f"{k} {v!r}"
                               for k, v in (("role", r.role), ("name", r.name)) if v is not None)
            where = f"{spelling.key('training.decay_rules')}[{i}], {picked}"
            # (the rule's own decay: training.weight_decay does not reach the parameters a rule took;
            # a caller's params replace the whole list, so the list with that rule's decay changed)
            rules = [{**r.model_dump(exclude_defaults=True), **({"weight_decay": tenth} if j == i else {})}
                     for j, r in enumerate(cfg.decay_rules)]
            fix = (spelling.set("training.decay_rules", rules) if spelling.keyworded
                   else f"weight_decay = {tenth:g} in training.decay_rules[{i}]")
        out.append(f"weight decay {wd:g} ({where}) with {cfg.optimizer} at lr {lr:g} over {steps} steps shrinks those "
                   f"weights by at most {100 * shrink:.2g} % in all: too weak to act; {fix} would shrink them by 10 %")
    return out


def lr_factor(cfg: ScheduleConfig, step: int, steps_per_epoch: int, total_steps: int, floor: float = 0.0) -> float:
    """Multiplier of the base learning rate at optimizer step ``step`` (0-based): linear warm-up,
    then the schedule, which decays towards ``floor`` (``min_lr / lr``).

    >>> c = ScheduleConfig(kind="cosine", warmup_epochs=1)
    >>> [round(lr_factor(c, s, 10, 30), 3) for s in (0, 9, 10, 20, 29)]
    [0.1, 1.0, 1.0, 0.5, 0.006]
    >>> [round(lr_factor(ScheduleConfig(kind="cosine", warmup_steps=10), s, 3, 30), 3) for s in (0, 9, 20)]
    [0.1, 1.0, 0.5]
    >>> round(lr_factor(ScheduleConfig(kind="cosine_restarts", restart_epochs=2), 20, 10, 100), 3)
    1.0
    """
    warm = cfg.warmup_steps or cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    if cfg.kind == "constant":
        return 1.0
    t = (step - warm) / steps_per_epoch  # epochs since warm-up
    if cfg.kind == "step":
        return max(cfg.gamma ** int((step / steps_per_epoch) // cfg.step_epochs), floor)
    if cfg.kind == "cosine":
        progress = min(t / (max(total_steps - warm, 1) / steps_per_epoch), 1.0)
    else:  # cosine_restarts (SGDR), in epochs
        from rnnlab.optim.schedule import warm_restart_factor

        return warm_restart_factor(t, cfg.restart_epochs, cfg.restart_mult, eta_min=floor)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, cfg: TrainingConfig, step: int, steps_per_epoch: int,
           total_steps: int, budget: FitBudget | None = None) -> float:
    """Set every group's lr for this step (its base lr times the schedule, or the schedule a
    ``budget`` that follows the fit has changed); returns group 0's."""
    f = schedule_factor(cfg, step, steps_per_epoch, total_steps, budget)
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * f
    return float(optimizer.param_groups[0]["lr"])


def schedule_factor(cfg: TrainingConfig, step: int, steps_per_epoch: int, total_steps: int,
                    budget: FitBudget | None = None) -> float:
    """:func:`lr_factor` of the config's schedule over ``total_steps``, or of ``budget``'s
    cosine segment after it decided (:mod:`rnnlab.train.fit_budget`)."""
    floor = cfg.schedule.min_lr / cfg.lr

    def base(k: int) -> float:
        return lr_factor(cfg.schedule, k, steps_per_epoch, total_steps, floor)

    return base(step) if budget is None else budget.lr_factor(cfg.schedule, step, base, floor)


# ------------------------------------------------------------------------------ batches


def merges_single_batch(config: Config) -> bool:
    """Whether an epoch's last batch of one sequence joins the batch before it: with
    ``model.recurrent_batch_norm``, whose statistics of each step are over the batch (a batch of
    one has none: the layer refuses it in training mode).

    >>> merges_single_batch(parse_config('[data]\\ndataset = "GunPoint"\\n[model]\\nrecurrent_batch_norm = true'))
    True
    """
    return bool(config.model.recurrent_batch_norm)


def batching(config: Config) -> TrainingConfig:
    """The training settings as the epoch's batches follow them. Two ways of carrying a state:

    * ``training.stateful_window`` is *truncated BPTT within a batch*: each batch of sequences is
      cut into windows, the state carries from one window of the batch to the next, and the
      next batch starts from zero.
    * A stream (``[task] kind = "forecasting"``, :mod:`rnnlab.data.stream`) carries the state
      *across batches* (Keras' ``stateful=True``, AWD-LSTM): its rows are one batch taken in
      order, each window of ``data.bptt`` steps is one optimizer step, and row i's state at the
      end of a window (detached) starts row i in the next; it resets at each epoch's start, and a
      series' end is a row's end.

    Both run through the one loop (:func:`_train_epoch`): a stream is the second read as the
    first with a single batch of every row, in order, and ``bptt`` as the window.

    >>> c = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"\\nbptt = 16')
    >>> tc = batching(c)
    >>> tc.stateful_window, tc.shuffle, tc.batch_size >= 2**20
    (16, 'none', True)
    """
    tc = config.training
    if not task_for(config).stream:
        return tc
    return tc.model_copy(update={"batch_size": 2**30, "shuffle": "none", "shuffle_within_batch": False,
                                 "stateful_window": config.data.bptt})


def _split(order: Tensor, batch_size: int, merge_single: bool) -> list[Tensor]:
    batches = list(order.split(batch_size))
    if merge_single and len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def batch_order(n: int, cfg: TrainingConfig, gen: torch.Generator, *, merge_single: bool = False) -> list[Tensor]:
    """Index batches for one epoch, drawn from ``gen`` (checkpointed, so resume continues it).
    ``merge_single``: a last batch of one joins the one before (:func:`merges_single_batch`).

    >>> g = torch.Generator().manual_seed(0)
    >>> [b.tolist() for b in batch_order(5, TrainingConfig(batch_size=2, shuffle="none"), g)]
    [[0, 1], [2, 3], [4]]
    >>> [b.tolist() for b in batch_order(5, TrainingConfig(batch_size=2, shuffle="none"), g, merge_single=True)]
    [[0, 1], [2, 3, 4]]
    """
    if cfg.shuffle == "samples":
        order = torch.randperm(n, generator=gen)
        batches = _split(order, cfg.batch_size, merge_single)
    else:
        batches = _split(torch.arange(n), cfg.batch_size, merge_single)
        if cfg.shuffle == "batches":
            batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
    if cfg.shuffle_within_batch:
        batches = [b[torch.randperm(len(b), generator=gen)] for b in batches]
    return batches


def computations(rnn: nn.Module) -> dict[str, str]:
    """Which computation the recurrent layer ``rnn`` runs in training and in evaluation
    (:func:`rnnlab.layers.computation.choose_computation`), as ``timing.json`` records it: a run's
    speed is its computation's (the autograd reference loop is several times the fast loop's time).

    >>> import rnnlab
    >>> computations(rnnlab.LSTM(3, 4, recurrent_dropout=0.2))
    {'training': 'fast', 'evaluation': 'torch'}
    """
    from rnnlab.layers.computation import choose_computation

    return {mode: choose_computation(rnn.options, rnn.spec, recording=False, training=training)
            for mode, training in (("training", True), ("evaluation", False))}


def _computation_line(rnn: nn.Module) -> str:
    """The start line naming the recurrent layer's computation in training and in evaluation,
    and what keeps the faster ones out where it is the slow reference loop."""
    from rnnlab.layers.computation import computation_said

    train, evaluate = (computation_said(rnn.options, rnn.spec, training=t) for t in (True, False))
    return f"recurrent layer: {train}" + ("" if evaluate == train else f" in training, {evaluate} in evaluation")


def _tensors(s: Sequences, device: torch.device | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """A split's inputs, targets and lengths, on ``device`` (default: the CPU)."""
    return tuple(torch.from_numpy(a).to(device) for a in (s.X, s.y, s.lengths))  # type: ignore[return-value]


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _trim(x: Tensor, lengths: Tensor) -> Tensor:
    return x[:, : int(lengths.max())]  # no step beyond the longest sequence in the batch


EVAL_WINDOW = 256
"""The steps one evaluation call reads of a stream task's rows when the caller names no window
(the trainer names its ``data.bptt``): a call's outputs stay [rows, window, vocabulary], however
long the text."""


@torch.no_grad()
def evaluate(model: nn.Module, split: Sequences, task: Task, batch_size: int = 256,
             tensors: tuple[Tensor, Tensor, Tensor] | None = None, window: int | None = None) -> dict[str, float]:
    """The task's loss and metrics over a split, in eval mode (classification: mean
    cross-entropy and accuracy), on the model's device, in float32; ``tensors``: the split's
    already there (``_Session.tensors``). A stream task (language model, forecasting) reads its
    rows ``window`` steps at a time (default :data:`EVAL_WINDOW`), each row's state carried
    from a window to the next: the figures of one pass over the whole rows, in the memory of
    one window (:func:`split_outputs`).

    >>> import numpy as np
    >>> from rnnlab.config import ModelConfig
    >>> from rnnlab.data.bundled import Sequences
    >>> from rnnlab.task import LANGUAGE_MODEL
    >>> from rnnlab.train.model import build_model
    >>> _ = torch.manual_seed(0)
    >>> m = build_model(ModelConfig(hidden_size=4, embedding_size=4), 1, 5, per_step=True)
    >>> ids = np.random.default_rng(0).integers(0, 5, (2, 30))
    >>> text = Sequences(ids[..., None].astype(np.float32), ids, np.array([30, 30]), list("abcde"))
    >>> a, b = evaluate(m, text, LANGUAGE_MODEL, window=7), evaluate(m, text, LANGUAGE_MODEL, window=30)
    >>> abs(a["loss"] - b["loss"]) < 1e-6
    True
    """
    return evaluation_tally(model, split, task, batch_size, tensors, window).result()


@torch.no_grad()
def evaluation_tally(model: nn.Module, split: Sequences, task: Task, batch_size: int = 256,
                     tensors: tuple[Tensor, Tensor, Tensor] | None = None,
                     window: int | None = None) -> Tally | RegressionTally:
    """The tally :func:`evaluate` reads its figures from: also a forecaster's per channel
    (:meth:`rnnlab.task.RegressionTally.by_channel`).

    >>> import numpy as np
    >>> from rnnlab.config import ModelConfig
    >>> from rnnlab.data.bundled import Sequences
    >>> from rnnlab.train.model import build_model
    >>> split = Sequences(np.zeros((2, 4, 1), np.float32), np.array([0, 1]), np.array([4, 4]), [])
    >>> evaluation_tally(build_model(ModelConfig(hidden_size=4), 1, 2), split, CLASSIFICATION).n
    2
    """
    tally = task.tally(split.scale)
    steps = (window or EVAL_WINDOW) if task.stream else None
    X, y, L = tensors if tensors is not None else _tensors(split, _device_of(model))
    for i in range(0, len(y), batch_size):  # (the same batches: a panel's tally reads each one's rows)
        part = (X[i:i + batch_size], y[i:i + batch_size], L[i:i + batch_size])
        for logits, yb in split_outputs(model, split, batch_size, part, window=steps):
            tally.add(logits, yb, rows=slice(i, i + len(yb)))
    return tally


def split_outputs(model: nn.Module, split: Sequences, batch_size: int = 256,
                  tensors: tuple[Tensor, Tensor, Tensor] | None = None,
                  window: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """The model's (outputs, targets) over a split, batch by batch, in eval mode (the mode it
    was in is restored afterwards): what :func:`evaluate` scores, and what ``rnnlab predict``
    and the estimators decode. Each batch is as long as its longest series. With ``window``
    (per-step targets of a causal model: a stream task's), each batch is read that many steps
    at a time, the state the model returns passed to its next call (as training carries it
    between the windows of a stream), and each window's (outputs, targets) yielded.

    >>> import numpy as np
    >>> from rnnlab.config import ModelConfig
    >>> from rnnlab.data.bundled import Sequences
    >>> from rnnlab.train.model import build_model
    >>> split = Sequences(np.zeros((3, 5, 1), np.float32), np.zeros(3, np.int64), np.array([5, 2, 3]), [])
    >>> [tuple(o.shape) for o, _ in split_outputs(build_model(ModelConfig(hidden_size=4), 1, 2), split, batch_size=2)]
    [(2, 2), (1, 2)]
    """
    was_training = model.training
    model.eval()
    X, y, L = tensors if tensors is not None else _tensors(split, _device_of(model))
    try:
        with torch.no_grad():
            for i in range(0, len(y), batch_size):
                xb, yb, lb = _trim(X[i:i + batch_size], L[i:i + batch_size]), y[i:i + batch_size], L[i:i + batch_size]
                if window is None:
                    yield model(xb, lb)[0], yb
                    continue
                state = None
                for start in range(0, xb.shape[1], window):
                    # A row that ended before this window reads one padded step: its outputs there
                    # score nothing (its targets past its length are padding), its state is not read again.
                    steps = (lb - start).clamp(1, window)
                    out, state = model(xb[:, start:start + window], steps, state)
                    yield out, yb[:, start:start + window]
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------ early stopping


@dataclass
class EarlyStopping:
    monitor: str
    patience: int
    min_delta: float
    task: Task
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record this epoch's monitored value; True when it is the best so far
        (:meth:`rnnlab.task.Task.improves`, the rule ``summary.json`` and ``rnnlab compare`` use)."""
        better = self.task.improves(value, self.best, self.monitor, self.min_delta)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]


# ------------------------------------------------------------------------------ optional plug-ins


def _make_tracker(run: RunDir, model: nn.Module, config: Config, start_step: int, log: Log) -> Any:
    if not config.tracking.enabled:
        return None
    from rnnlab.tracker import Tracker

    t = config.tracking
    try:
        return Tracker(run, model, weights_every=t.weights_every, grads_every=t.grads_every, params=t.params,
                       norms=tuple(t.norms), per_channel=t.per_channel, start_step=start_step)
    except (ValueError, KeyError, TypeError) as e:  # (TypeError: a cell's gate_layout of another type)
        raise ConfigError(f"tracking: {str(e).strip(chr(34))}") from None


#: The optimizer steps the health check takes on a copy of the model.
_HEALTH_STEPS = 5


@in_phase(lambda **_: Place("health_check"))
def _health_check(run: RunDir, model: nn.Module, optimizer: torch.optim.Optimizer, data: DataSplits,
                  config: Config, log: Log, spelling: KeySpelling | None = None) -> None:
    from rnnlab.doctor import diagnose
    from rnnlab.doctor.run import curves_from_time_gradients
    from rnnlab.introspect.through_time_file import write_grad_through_time

    task = task_for(config)
    batch = doctor_batch(data.train, batching(config).batch_size, config.tracking.inspect_steps, task, _device_of(model))
    # (said as it starts: on long series it takes a while, and its result line comes at the end)
    _say(log, f"health check: the untrained model and {_HEALTH_STEPS} training steps of a copy of it, on "
              f"{_inspected(batch, data, config)} ...")
    if config.tracking.grad_through_time:  # (the untrained model's gates, beside the trained one's in the report)
        _record_gates(run, model, batch, data, config, step=0, epoch=0, phase="before_training")
    # (class scores per step or per token too, where the loss wraps the cross-entropy: the softmax check reads them)
    report = diagnose(LogitsOnly(model), batch, task.loss_fn(), optimizer, steps=_HEALTH_STEPS,
                      seed=config.training.seed,
                      remedies="config" if spelling is None else spelling, channel_scales=config.data.normalize == "none",
                      channel_names=data.channel_names,
                      run_dir=run, classification=not task.values)
    _say(log, str(report))
    untrained = curves_from_time_gradients(report.through_time)
    if config.tracking.grad_through_time and untrained:
        # (the report draws it beside the curve after training: how training moved the reach; a
        # resumed run keeps it, the write after training leaves this block in place)
        write_grad_through_time(run, untrained, step=0, epoch=0, cropped=_inspect_cropped(data, config),
                                phase="before_training", loss=report.through_time_loss)


def _inspected(batch: tuple[Any, Tensor], data: DataSplits, config: Config) -> str:
    """The batch the health check and the gradient through time look at, in words: its
    sequences, and the steps of each when ``tracking.inspect_steps`` crops them."""
    cropped = _inspect_cropped(data, config)
    n = len(batch[1])
    return (f"the first {n} training sequence{'s' if n != 1 else ''}"
            + (f" (the first {cropped[0]} of the {cropped[1]} steps of each: tracking.inspect_steps)" if cropped else ""))


def _inspect_cropped(data: DataSplits, config: Config) -> tuple[int, int] | None:
    """``(steps, of)`` when the health checks and the gradient through time see only the first
    ``tracking.inspect_steps`` of the training series' steps, else None."""
    length = data.train.X.shape[1]
    return (config.tracking.inspect_steps, length) if length > config.tracking.inspect_steps else None


@in_phase(lambda **_: Place("grad_through_time"))
def _record_grad_through_time(run: RunDir, model: SequenceClassifier, data: DataSplits, config: Config,
                              step: int, epoch_done: int, log: Log) -> dict[str, Any] | None:
    """|dLoss/dh_t| of the trained model (eval mode; the weights the run tests, which ``step`` and
    ``epoch`` are of: early stopping's restored epoch's, :func:`_restore_best`) on one training
    batch, for the report and the findings after training; of the loss the health check follows
    (:func:`rnnlab.doctor.run.following_through_time`: per step, or under a head that pools over
    time, through each sequence's last step), recorded beside the curve."""
    from rnnlab.doctor.run import following_through_time
    from rnnlab.introspect import grad_through_time
    from rnnlab.introspect.through_time_file import write_grad_through_time

    batch = doctor_batch(data.train, batching(config).batch_size, config.tracking.inspect_steps, task_for(config),
                         _device_of(model))
    _say(log, f"gradient through time: the trained model on {_inspected(batch, data, config)} ...")
    was_training = model.training
    model.eval()
    try:
        with following_through_time(LogitsOnly(model), task_for(config).loss_fn()) as (loss, followed):
            gtt = grad_through_time(LogitsOnly(model), batch, loss)
    finally:
        model.train(was_training)
    write_grad_through_time(run, gtt, step=step, epoch=epoch_done, cropped=_inspect_cropped(data, config),
                            loss=followed)
    _record_gates(run, model, batch, data, config, step=step, epoch=epoch_done)
    return dict(gtt)


def _record_gates(run: RunDir, model: nn.Module, batch: Any, data: DataSplits, config: Config, *,
                  step: int, epoch: int, phase: str = "after_training") -> None:
    """Each gated layer's gate activations on the inspected ``batch`` (one forward, eval mode),
    summarized into gate_activations.json for the report's Gates section."""
    from rnnlab.introspect import gate_activations
    from rnnlab.introspect.gates_file import write_gate_activations

    was_training = model.training
    model.eval()
    try:
        acts = gate_activations(LogitsOnly(model), batch)
    finally:
        model.train(was_training)
    write_gate_activations(run, acts, step=step, epoch=epoch, cropped=_inspect_cropped(data, config), phase=phase)


def doctor_batch(split: Sequences, batch_size: int, max_steps: int | None = None, task: Task = CLASSIFICATION,
                 device: torch.device | None = None) -> tuple[Tensor | tuple[Tensor, Tensor], Tensor]:
    """The first ``batch_size`` training sequences as ``(x, y)``, or ``((x, lengths), y)`` when
    their lengths differ, for :class:`LogitsOnly` in the health checks and the gradient through
    time. ``max_steps``: only each sequence's first steps (``tracking.inspect_steps``): both run
    the model under autograd and keep every step's graph, so their time and memory grow with it.
    ``task``: per-step targets are cut with the steps (:meth:`rnnlab.task.Task.window`).
    ``device``: where the model is (default: the CPU).
    """
    X, y, L = _tensors(split.subset(np.arange(min(batch_size, len(split)))), device)
    if max_steps is not None:
        X, L, y = X[:, :max_steps], L.clamp(max=max_steps), task.window(y, 0, max_steps)
    x = _trim(X, L)
    return ((x, L) if bool((L != x.shape[1]).any()) else x), y


def _say(log: Log, message: str) -> None:
    if log is not None:
        log(message)


# ------------------------------------------------------------------------------ names, budget, seeds


def with_derived_names(config: Config) -> Config:
    """``name`` and ``output.dir`` follow the data when the config leaves them unset: the data
    set (or the data file's stem) and the layer, and ``runs/NAME``.

    >>> c = with_derived_names(parse_config('[data]\\ndataset = "JapaneseVowels"'))
    >>> c.name, c.output.dir
    ('JapaneseVowels-lstm', 'runs/JapaneseVowels-lstm')
    >>> with_derived_names(parse_config('name = "mine"\\n[data]\\ndataset = "GunPoint"')).output.dir
    'runs/mine'
    """
    if "name" in config.model_fields_set:
        name = config.name
        if "dir" not in config.output.model_fields_set:
            check_dir_name(name)
    else:
        source = config.data.dataset if config.data.dataset is not None else Path(str(config.data.path)).stem
        name = f"{source}-{config.model.layer}"
    out_dir = config.output.dir if "dir" in config.output.model_fields_set else f"runs/{name}"
    output = config.output.model_copy(update={"dir": out_dir})
    return config.model_copy(update={"name": name, "output": output})


def epoch_steps(n: int, length: int, tc: TrainingConfig, *, merge_single: bool = False) -> int:
    """Optimizer steps in one epoch over ``n`` training sequences padded to ``length`` steps: its
    batches (as :func:`batch_order` makes them), times the windows of each batch with
    ``stateful_window``.

    >>> epoch_steps(50, 150, TrainingConfig(batch_size=16)), epoch_steps(50, 150, TrainingConfig(batch_size=16, stateful_window=100))
    (4, 8)
    >>> epoch_steps(49, 150, TrainingConfig(batch_size=16)), epoch_steps(49, 150, TrainingConfig(batch_size=16), merge_single=True)
    (4, 3)
    """
    windows = math.ceil(length / tc.stateful_window) if tc.stateful_window else 1
    return len(_split(torch.arange(n), tc.batch_size, merge_single)) * windows


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def callers_random_state() -> Iterator[None]:
    """Python's, NumPy's and torch's global generators as they were before, once the block ends.

    A run seeds them (``training.seed``); a caller's own draws after it (a bootstrap loop round
    an estimator's ``fit``, a notebook) go on from where they were, not from the run's seed.

    >>> np.random.seed(1)
    >>> with callers_random_state():
    ...     seed_everything(0)
    >>> float(np.random.rand()) == float(np.random.RandomState(1).rand())
    True
    """
    py, npy = random.getstate(), np.random.get_state()
    # (CUDA's generators only where this process has used CUDA: asking would initialize it)
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


# ------------------------------------------------------------------------------ set up


@dataclass
class _Session:
    """What a run trains with and where it stands: the loop reads it, a checkpoint holds it."""

    config: Config
    task: Task
    data: DataSplits
    data_sha256: str
    model: SequenceClassifier | Ensemble
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    shuffle_gen: torch.Generator
    stopper: EarlyStopping
    steps_per_epoch: int
    epochs: int
    step: int = 0
    epoch_done: int = 0
    stopped_early: bool = False
    stopped_by_caller: bool = False
    """``on_epoch`` ended the run (a search's pruner): its fit is not judged."""
    threads: ThreadChoice | None = None
    saved_at: float = field(default_factory=time.perf_counter)
    """When ``last.pt`` was last written (``training.checkpoint_every`` counts from it)."""
    pending: dict[str, Any] | None = None
    """A copy of the state after the last finished epoch, when it is not on disk yet: what a
    signal writes before the run stops."""
    best_pending: dict[str, Any] | None = None
    """The state of the best epoch so far, when ``best.pt`` does not hold it yet."""
    checkpoints_written: int = 0
    session_steps_from: int = 0
    """The step this session started at (a resume's: its checkpoint's): its ``timing.json`` counts from it."""
    resume_window: dict[str, Any] | None = None
    """A stream's mid-epoch checkpoint (:func:`_stream_checkpoint`): where the resumed run's first
    epoch continues; consumed by that epoch."""
    written_at: str = ""
    """Where the last ``last.pt`` written mid-epoch stands ("" after an epoch): said on a signal."""
    budget: FitBudget | None = None
    """``adapt.budget``: where the run now ends, decided after each epoch."""
    activity: ActivityRegularizer | None = None
    """``training.ar`` / ``training.tar``: the penalty on the recurrent layer's outputs, collected
    by hooks during each training forward and added to that step's loss."""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """Where the model and the data are (``training.device``, :mod:`rnnlab.device`)."""
    tracker: Any = None
    """The run's :class:`rnnlab.Tracker` (None: tracking off); its state goes into checkpoints."""
    on_device: dict[int, tuple[Tensor, Tensor, Tensor]] = field(default_factory=dict)
    data_notes: list[str] = field(default_factory=list)
    """What loading the data warned (:func:`load_noted`): in every checkpoint and in summary.json."""
    run_fit: dict[str, Any] | None = None
    """The scaling, classes, targets and model shape (a forecaster's reference and training block
    besides) as fitted on the training part (:class:`rnnlab.train.run_fit.RunFit`): its
    checkpoints keep them for ``rnnlab predict``; None for a language model."""

    def tensors(self, split: Sequences) -> tuple[Tensor, Tensor, Tensor]:
        """``split``'s inputs, targets and lengths on the run's device, moved there once."""
        if id(split) not in self.on_device:
            self.on_device[id(split)] = _tensors(split, self.device)
        return self.on_device[id(split)]

    def evaluate(self, split: Sequences) -> dict[str, float]:
        """:func:`evaluate` of the run's model on ``split`` (on the run's device; a stream in the
        training's windows, ``data.bptt``: evaluation needs no more memory than a training step)."""
        return self.tally(split).result()

    def tally(self, split: Sequences) -> Tally | RegressionTally:
        """:func:`evaluation_tally` of the run's model on ``split``, as :meth:`evaluate` reads it."""
        return evaluation_tally(self.model, split, self.task, tensors=self.tensors(split),
                                window=batching(self.config).stateful_window if self.task.stream else None)

    @functools.cached_property
    def clipped_groups(self) -> list[list[tuple[str, nn.Parameter]]]:
        """The parameters each gradient clipping sees (one group per ensemble member), listed
        once rather than at every step."""
        return member_parameters(self.model)

    @functools.cached_property
    def config_text(self) -> str:
        """The config as every checkpoint holds it."""
        return dump_config(self.config)

    @property
    def total_steps(self) -> int:
        """The optimizer steps of the run: its whole epochs, or a stream's ``training.steps`` exactly
        (:func:`exact_steps`)."""
        return _steps_to(self.config, self.steps_per_epoch, self.epochs)

    @property
    def schedule_steps(self) -> int:
        """The steps the config's schedule spans (the planned ones, when the budget follows the fit)."""
        return self.budget.planned if self.budget is not None else self.total_steps


def _open_run_dir(config: Config, out: str | Path | None, resume: bool, fold: Fold | None = None) -> RunDir:
    out_dir = out if out is not None else config.output.dir
    if not str(out_dir).strip():
        raise ConfigError(f"{'output.dir' if out is None else '--out'}: expected a directory path, got an empty "
                          "string (it would write into the current directory)")
    if resume and not Path(out_dir).is_dir():
        raise RunDirError(f"--resume: no checkpoint to resume in {out_dir} (the directory does not exist)")
    # Locked for this run's whole session: a second writer is refused, a user's folder never used.
    # (a fold's run records its fold, which compare reads: a directory's name "fold-K" says less)
    return RunDir.for_writing(out_dir, new=not resume, named_by="output.dir" if out is None else "--out",
                              fold=asdict(fold) if fold is not None else None)


def check_plan(config: Config, data: DataSplits) -> tuple[int, int]:
    """Check ``config`` against the data it will train on, before anything trains: a validation
    split where early stopping needs one, equal lengths for a stateful window and enough of it
    left after the front-end (:func:`_check_window_steps`), a warm-up shorter
    than the training. Returns (optimizer steps per epoch, epochs).

    >>> check_plan(config, load_data(config.data, seed=0))  # doctest: +SKIP
    (8, 250)
    """
    tc = batching(config)
    if tc.early_stopping.patience > 0 and len(data.val) == 0:
        raise ConfigError("training.early_stopping.patience > 0 needs a validation split; set data.val_fraction > 0")
    if config.task.mean_guard and len(data.val) == 0:
        raise ConfigError("task.mean_guard = true judges the model on the validation split: it needs one; set "
                          "data.val_fraction > 0 (or task.mean_guard = false)")
    if tc.stateful_window and int(data.train.lengths.min()) != int(data.train.lengths.max()):
        raise ConfigError(
            f"training.stateful_window needs equal-length sequences, got lengths "
            f"{int(data.train.lengths.min())}..{int(data.train.lengths.max())}; set it to 0"
        )
    _check_window_steps(config, data)
    length = int(data.train.X.shape[1])
    if config.model.recurrent_batch_norm and tc.stateful_window and not task_for(config).stream and length > tc.stateful_window:
        # (a stream trains and evaluates in the same windows; sequences are evaluated and predicted whole)
        raise ConfigError(
            f"model.recurrent_batch_norm cannot be combined with training.stateful_window = {tc.stateful_window} on "
            f"sequences of {length} steps: training would normalize each window's steps by statistics counted from "
            "the window's first step, evaluation and prediction each sequence's steps by their own; set "
            "training.stateful_window = 0, or model.recurrent_batch_norm = false (model.layer_norm = true normalizes "
            "without per-step statistics)")
    if config.model.recurrent_batch_norm and len(data.train) < 2:
        raise ConfigError(f"model.recurrent_batch_norm normalizes each step over a batch of sequences: it needs at "
                          f"least 2 training sequences, the training split holds {len(data.train)}")
    _check_batch_norm_values(config, data)
    steps_per_epoch = epoch_steps(len(data.train), data.train.X.shape[1], tc, merge_single=merges_single_batch(config))
    epochs = tc.epochs_for(steps_per_epoch)
    warm = tc.schedule.warmup_steps or tc.schedule.warmup_epochs * steps_per_epoch
    total = min(steps_per_epoch * epochs, exact_steps(config) or steps_per_epoch * epochs)
    if warm >= total:
        raise ConfigError(
            f"training.schedule: the warm-up ({warm:g} optimizer steps) is not shorter than the training "
            f"({total} steps: {epochs} epochs of {steps_per_epoch}); the learning rate would still be "
            "rising when training ends; shorten the warm-up or train longer"
        )
    return steps_per_epoch, epochs


def _frontend_reach(blocks: list[ConvBlockConfig]) -> int:
    """Input steps that one step out of the front-end ``blocks`` reads (its convolutions' spans
    and poolings, strided by the blocks before).

    >>> _frontend_reach([ConvBlockConfig(channels=8, kernel_size=7, pool=16), ConvBlockConfig(channels=8, kernel_size=5, dilation=2)])
    150
    """
    reach, stride = 1, 1
    for b in blocks:
        reach += (b.span - 1) * stride
        stride *= b.stride
        reach += (b.pool - 1) * stride
        stride *= b.pool
    return reach


def _check_window_steps(config: Config, data: DataSplits) -> None:
    """A window (``training.stateful_window``, a stream's ``data.bptt``) is cut in input steps,
    before the front-end: its strides and pooling may leave the recurrent layer one step of it,
    whose state then carries all there is. Refused when a window leaves the recurrent layer fewer
    than :data:`MIN_RECURRENT_STEPS` steps (or all a whole series leaves) or is shorter than one
    recurrent step's reach in the input."""
    window, frontend = batching(config).stateful_window, config.model.frontend
    length = int(data.train.X.shape[1])
    if not window or frontend is None or window >= length:
        return
    blocks = frontend.conv_blocks
    least = min(MIN_RECURRENT_STEPS, recurrent_length(length, blocks))
    reach = min(_frontend_reach(blocks), length)
    steps = recurrent_length(window, blocks)
    if steps >= least and window >= reach:
        return
    low, high = window, length  # the smallest window leaving ``least`` steps (more input, never fewer steps)
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if recurrent_length(mid, blocks) >= least else (mid + 1, high)
    key = "data.bptt" if task_for(config).stream else "training.stateful_window"
    shrink = math.prod(b.stride * b.pool for b in blocks)
    raise ConfigError(
        f"{key} = {window} counts input steps, before the front-end, which pools and strides ×{shrink} "
        f"(one recurrent step reads {_frontend_reach(blocks)} input steps): a window leaves the recurrent layer "
        f"{steps} step(s), expected at least {least} and a window of at least the reach; set {key} to at least "
        f"{max(low, reach)} (or 0: whole sequences)")


def _check_batch_norm_values(config: Config, data: DataSplits) -> None:
    """A front-end block with batch norm needs more than one value per channel in every training
    batch; a small batch of short sequences after strides and pooling may leave it one (torch
    would stop the run at that batch)."""
    frontend = config.model.frontend
    n = len(data.train)
    if frontend is None or n == 0:
        return
    size = min(batching(config).batch_size, n)
    remainder = n % size
    if remainder == 1 and merges_single_batch(config):
        remainder = 0  # a last batch of one joins the one before
    smallest = min(size, remainder or size)  # a last batch of the remainder
    lengths = np.asarray(data.train.lengths, dtype=np.int64)
    if batching(config).stateful_window:
        lengths = np.minimum(lengths, batching(config).stateful_window)
    shortest = int(lengths.min())
    for i, b in enumerate(frontend.conv_blocks):
        after_conv = b.conv_steps(lengths)
        if b.norm == "batch" and smallest * int(after_conv.min()) < 2:
            raise ConfigError(
                f"model.frontend.blocks[{i}].norm = \"batch\": a training batch of {smallest} sequence(s) leaves "
                f"it {smallest * int(after_conv.min())} value per channel (the shortest sequence, {shortest} steps, "
                f"is {int(after_conv.min())} step(s) at this block's convolution); batch norm needs more than one; "
                "raise training.batch_size, shorten the strides or pooling before it, or set norm = \"layer\"")
        lengths = b.steps_after(lengths)


def _set_up(config: Config, fold: Fold | None, ckpt: dict[str, Any] | None, log: Log, timing: Timing,
            spelling: KeySpelling | None = None) -> _Session:
    """Seed, load the data (the same as the checkpoint's, when resuming), build the model and
    the optimizer, and turn the budget into epochs (its lines naming keys in ``spelling``'s words)."""
    tc = config.training
    seed_everything(tc.seed)
    with timing.phase("data"):
        data, notes = load_noted(config, fold)
        data_sha256 = data.fingerprint()
    if ckpt is not None and ckpt["data_sha256"] != data_sha256:
        moved = _moved_data(config, ckpt)
        where = (", ".join(f"{k} moved from {a} to {b}" for k, (a, b) in moved.items())
                 + ", and the data there are not the run's" if moved
                 else f"{config.data.path or config.data.dataset} changed since")
        raise RunDirError(
            f"--resume: the data differ from those the run trained on (SHA-256 {data_sha256[:12]}..., the "
            f"checkpoint's {ckpt['data_sha256'][:12]}...): {where}; "
            + (f"point {'it' if len(moved) == 1 else 'them'} at a copy of the run's data" if moved else "restore it")
            + ", or start a new run in another directory (--out; Python: out=...)"
        )
    steps_per_epoch, epochs = check_plan(config, data)
    task = task_for(config)
    device = resolve_device(tc.device)
    if device.type == "cpu":  # (a step's activations, before any is allocated: a GPU's memory is torch's to say)
        plan = StepPlan.of(config.model_copy(update={"training": batching(config)}), int(data.train.X.shape[1]),
                           task.per_step)
        # (a batch holds at most the training sequences: a stream's batch is every row, whatever its size)
        plan = replace(plan, batch_size=min(plan.batch_size, len(data.train)))
        check_memory(config.model, data.channels, task.head_width(data.classes, data.train.y), plan=plan)
    # (built on the CPU, then moved: the same initial weights on every device)
    model = build_model(config.model, data.channels, task.head_width(data.classes, data.train.y),
                        task.per_step, values=task.values).to(device)
    s = _Session(config, task, data, data_sha256, model, build_optimizer(model, tc),
                 task.loss_fn(tc.label_smoothing), torch.Generator().manual_seed(tc.seed),
                 EarlyStopping(tc.early_stopping.monitor, tc.early_stopping.patience, tc.early_stopping.min_delta, task),
                 steps_per_epoch, epochs, device=device, data_notes=notes)
    _say(log, f"device: {device}" + (f" ({describe(device)['device_name']})" if device.type == "cuda" else "")
              + (", bfloat16 autocast" if tc.precision == "bf16" else ""))
    _say(log, _computation_line(members_of(model)[0].rnn))
    if isinstance(model, Ensemble):
        size = sum(p.numel() for p in model.members[0].parameters())
        _say(log, f"model: an ensemble of {len(model.members)} (model.ensemble), {size:,} parameters each; every "
                  "step trains each member on its own loss, and the run predicts with their "
                  + ("mean" if model.values else "mean class probabilities"))
    if data.text is not None:
        _say(log, data.text.summary())
    if tc.ar or tc.tar:
        s.activity = ActivityRegularizer(model, tc.ar, tc.tar, modules=[m.rnn for m in members_of(model)])
    if tc.steps is not None:
        _say(log, budget_line(config, steps_per_epoch, epochs))
    if config.adapt.budget:
        s.budget = FitBudget.plan(s.total_steps, steps_per_epoch, config.adapt.max_steps)
        _say(log, f"budget: follows the fit (adapt.budget), at most {s.budget.cap} steps")
    for line in _weak_decay_lines(s.optimizer, tc, s.total_steps, spelling):
        _say(log, line)
    for line in plan_warnings(config, steps_per_epoch, data.train.X.shape[1]):
        _say(log, line)
    if task.kind == "forecasting" and config.task.relative_to == "auto":
        _say(log, f"forecasting: relative_to = \"auto\" -> {data.reference!r} (seasonal naive where the series' changes "
                  f"repeat at the season, autocorrelation >= {SEASONAL_REPEAT}; else the lower error on the training and "
                  "validation blocks)")
    # (kept: predict must need neither data.path nor follow its changes after training)
    s.run_fit = run_fit_state(config, fold, data, task)
    return s


#: summary.json's (and each checkpoint's) key of what loading the data warned (:func:`load_noted`).
DATA_NOTES = "data_notes"
#: Where :func:`load_noted` says its warnings again: Python's "default" filter then shows each once
#: a process, as it did when load_data said it.
_DATA_WARNINGS_SAID: dict[Any, Any] = {}


def load_noted(config: Config, fold: Fold | None = None) -> tuple[DataSplits, list[str]]:
    """:func:`rnnlab.data.load_data` of ``config``, and every warning it gave, in words (a run
    records them: summary.json's ``data_notes``). Each is still said as load_data said it (its file
    and line: ``rnnlab train`` prints it as before, and a caller's warning filters see it), once a
    process where load_data says it once (:func:`rnnlab.data.stream.warn_once`), yet recorded by
    every run that loads those data, the second run of a process too.

    >>> from rnnlab.config import parse_config
    >>> data, notes = load_noted(parse_config('[data]\\ndataset = "UnitTest"'))
    >>> notes
    []
    """
    from rnnlab.data.stream import every_note

    said: list[warnings.WarningMessage] = []
    with every_note() as said_before:  # (this run records its notes, whatever this process said before)
        try:
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                data = load_data(config.data, seed=config.training.seed, fold=fold, task=task_for(config))
        finally:
            for w in said:  # (said before the error too, when loading fails after them)
                if str(w.message) not in said_before:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_DATA_WARNINGS_SAID)
    return data, list(dict.fromkeys(str(w.message) for w in said))


def _choose_threads(s: _Session, ckpt: dict[str, Any] | None, workers: int, log: Log) -> ThreadChoice:
    """The run's torch threads (:mod:`rnnlab.threads`): ``training.threads``, else a resumed run's
    recorded choice (the same sums as before the stop), else the policy, measured on a copy of
    the model; the run's random streams and weights are untouched. ``log`` hears when a
    measurement starts; the caller says the choice (once it is recorded)."""
    tc = s.config.training
    if tc.threads is None and ckpt is not None and isinstance(ckpt.get("threads"), int):
        choice = ThreadChoice(int(ckpt["threads"]), "the run's choice before it was resumed")
    else:
        choice = choose_threads(tc.threads, share=workers)
    if len(choice.candidates) > 1:
        # measured on one optimizer step's data: a stream's step is every row over one window
        steps = batching(s.config).stateful_window if s.task.stream else s.config.tracking.inspect_steps
        # (a series longer than tracking.inspect_steps is measured on its first ones: the line says
        # so, and the short-run estimate scales the step to the trained length)
        cropped = None if s.task.stream else _inspect_cropped(s.data, s.config)
        on = "" if cropped is None else (f"the first {cropped[0]} of the {cropped[1]} steps of each series: "
                                         "tracking.inspect_steps")
        counts = " and ".join(map(str, choice.candidates))
        _say(log, f"threads: measuring a training step on {counts} threads" + (f" (on {on})" if on else "") + " ...")
        x, y = doctor_batch(s.data.train, batching(s.config).batch_size, steps, s.task, s.device)
        saved = rng_state(s.shuffle_gen)
        try:  # a twin built anew (its initialization draws are undone below), with the run's weights
            twin = build_model(s.config.model, s.data.channels, s.task.head_width(s.data.classes, s.data.train.y),
                                 s.task.per_step, values=s.task.values).to(s.device)
            twin.load_state_dict(s.model.state_dict())
            choice = probe(choice, lambda: s.loss_fn(LogitsOnly(twin.train())(x), y).backward(),
                           s.total_steps - s.step, scale=1.0 if cropped is None else cropped[1] / cropped[0], on=on)
        finally:
            set_rng_state(saved, s.shuffle_gen)
    else:
        torch.set_num_threads(choice.threads)
    return choice


RAISED = 1.5
"""A ``training.steps`` budget that whole epochs raise this many times or more is warned about."""


def _steps_to(config: Config, steps_per_epoch: int, epochs: int) -> int:
    """The optimizer steps of a run's first ``epochs``: whole epochs, or a stream's
    ``training.steps`` where fewer (:func:`exact_steps`)."""
    whole, exact = steps_per_epoch * epochs, exact_steps(config)
    return whole if exact is None else min(whole, exact)


def exact_steps(config: Config) -> int | None:
    """``training.steps`` where the run keeps it exactly, its last epoch stopping part way: a
    stream's (one epoch reads every window of its rows, thousands of optimizer steps for a long
    text or series); None where the run trains whole epochs (shuffled batches of sequences, whose
    epoch is a few steps: a ``steps`` budget rounds up to whole epochs).

    >>> exact_steps(parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"\\n'
    ...                          '[training]\\nsteps = 200'))
    200
    >>> exact_steps(parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nsteps = 200')) is None
    True
    """
    return config.training.steps if task_for(config).stream else None


def budget_line(config: Config, steps_per_epoch: int, epochs: int) -> str:
    """The run's first word on ``training.steps``: the whole epochs it trains, and how far they
    raise the budget (a run trains whole epochs; a stream's epoch is every window of its rows,
    which a long text makes thousands of optimizer steps).

    >>> c = parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"\\nbptt = 1\\n'
    ...                  'streams = 64\\n[training]\\nsteps = 200')
    >>> budget_line(c, 4541, 1)
    'budget: training.steps = 200 optimizer steps: 1 epoch of 4541 windows (each of the data.streams = 64 rows in windows of data.bptt = 1 steps), the last one stopped after 200 of its 4541'
    """
    steps = config.training.steps
    total = steps_per_epoch * epochs
    line = (f"budget: training.steps = {steps} -> {epochs} epoch{'s' if epochs != 1 else ''} of {steps_per_epoch} "
            f"steps ({total} optimizer steps)")
    if steps is not None and exact_steps(config) is not None and total > steps:
        d = config.data
        return (f"budget: training.steps = {steps} optimizer steps: {epochs} epoch{'s' if epochs != 1 else ''} of "
                f"{steps_per_epoch} windows (each of the data.streams = {d.streams} rows in windows of data.bptt = "
                f"{d.bptt} steps), the last one stopped after {steps - (epochs - 1) * steps_per_epoch} of its "
                f"{steps_per_epoch}")
    if steps is None or total < RAISED * steps:
        return line
    return (f"{line}; warning: raised from {steps} to {total} steps ({total / steps:.3g}x): a run trains whole epochs "
            "of shuffled batches")


def plan_warnings(config: Config, steps_per_epoch: int, length: int) -> list[str]:
    """What a run will do that a config does not say, or that makes little sense, said before it
    trains (``length``: the training sequences' padded length).

    >>> c = parse_config('[data]\\ndataset = "GunPoint"\\n[training.schedule]\\nkind = "cosine_restarts"\\n'
    ...                  'restart_epochs = 0.01')
    >>> plan_warnings(c, 10, 150)
    ['warning: training.schedule.restart_epochs = 0.01 is shorter than one optimizer step (0.1 epochs): the learning rate restarts at every step']
    >>> plan_warnings(parse_config('[data]\\ndataset = "GunPoint"'), 10, 10**6)
    ['tracking: the health checks and the gradient through time look at the first 4096 of the 1000000 steps of each series (tracking.inspect_steps: their time and memory grow with it)']
    """
    sc, tr = config.training.schedule, config.tracking
    out = []
    if tr.enabled and (tr.health or tr.grad_through_time) and length > tr.inspect_steps:
        kind = task_for(config).kind  # (a stream's training rows are pieces of its text or series)
        of_each = (f"tokens of each of the {config.data.streams} rows the training text is cut into"
                   if kind == "language_model" else
                   f"steps of each of the {config.data.streams} rows the training series are cut into"
                   if kind == "forecasting" else "steps of each series")
        out.append(f"tracking: the health checks and the gradient through time look at the first {tr.inspect_steps} "
                   f"of the {length} {of_each} (tracking.inspect_steps: their time and memory grow with it)")
    if sc.kind == "cosine_restarts" and sc.restart_epochs * steps_per_epoch < 1:
        out.append(f"warning: training.schedule.restart_epochs = {sc.restart_epochs:g} is shorter than one optimizer "
                   f"step ({1 / steps_per_epoch:g} epochs): the learning rate restarts at every step")
    return out


# ------------------------------------------------------------------------------ resume


def _prepare_run_dir(run: RunDir, config: Config, resume: bool,
                     allow_change: Sequence[str]) -> tuple[dict[str, Any] | None, dict[str, tuple[Any, Any]]]:
    """Check the run directory before anything in it changes: a new run needs an empty one (or
    one of a run cut short before its first checkpoint: :func:`cut_short`); a resume needs a
    sound checkpoint of this run, records that read back and reach it, and a config equal to the
    checkpoint's except in the keys ``allow_change`` names. Returns (checkpoint, changes)."""
    last = run.last_checkpoint
    was_cut_short = cut_short(run)
    held = "" if was_cut_short else run.held_records()  # (what a failure never removes, nor does a plain start)
    if not resume:
        if last.exists():
            _load_last(run)  # (a damaged one: said now, with what to do instead)
            raise RunDirError(
                # (one message for both callers: the command's flags and train()'s keywords)
                f"run directory {run.path} already holds a run; pass --resume (Python: resume=True) to continue "
                "it, or choose another directory with --out (Python: out=...) or output.dir"
            )
        if held:
            raise RunDirError(f"run directory {run.path} holds {held} but no {last.name}, so --resume cannot "
                              f"continue it; {train_again_advice(run)}")
        if was_cut_short:
            discard_run(run.path, lock=run.lock)  # rnnlab's own files of it, nothing else
        atomic_write_text(run.config, dump_config(config))
        return None, {}
    if not last.exists():
        raise RunDirError(f"--resume: no checkpoint to resume in {run.path} (expected {last})"
                          + (f"; {run.path} holds {held} but no {last.name}: {train_again_advice(run)}" if held
                             else "; the run stopped before its first checkpoint: the same command without "
                                  "--resume starts it again" if was_cut_short else ""))
    ckpt = _load_last(run)
    changes = config_changes(parse_config(ckpt["config"], source=f"{last} (its config)", recorded=True), config)
    check_resume_changes(changes, allow_change, str(last))
    records = run.read_metrics()
    run.read_tracked()  # a corrupt record is an error now, not after training
    _check_same_run(run, ckpt, records)
    return ckpt, changes


def cut_short(run: RunDir) -> bool:
    """Whether the run directory holds a run of `rnnlab train` cut short before its first
    checkpoint (written after epoch 1's record): at most that record, the tracker's steps and
    epoch 1's best.pt (written just before last.pt: a full disk can stop the run between the
    two), which the seeded run started again writes the same. Nothing to resume, nothing lost by
    starting it again; a run with a later epoch, a later or another run's best.pt, a resume or a
    summary is never that."""
    if run.last_checkpoint.exists() or recorded_by(run.path) != RECORDED_BY_TRAIN \
            or any(p.exists() for p in (run.resumes, run.summary)):
        return False
    try:
        if not all(r["epoch"] <= 1 for r in run.read_metrics()):
            return False
        if not run.best_checkpoint.exists():
            return True
        best = load_checkpoint(run.best_checkpoint)
    except (RunDirError, CheckpointError):
        return False
    # (a best.pt copied in from another run, or of a later epoch, is a record to keep, not this start's)
    return int(best.get("epoch", 0)) <= 1 and best.get(RUN_ID) in (None, run.run_id())


def train_again_advice(run: RunDir) -> str:
    """What to do with a run directory that cannot be resumed, losing nothing of it."""
    return f"to train again, use a new --out (Python: out=...); to start over there, remove {run.path} yourself"


def _check_same_run(run: RunDir, ckpt: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Refuse a last.pt that is not this run's: one of another run (its identity differs), or
    one ahead of metrics.jsonl (a checkpoint is written after its epoch's record, so this run's
    never is): resuming would splice two runs' records."""
    last = run.last_checkpoint
    ours, theirs = run.run_id(), ckpt.get(RUN_ID)
    if ours is not None and theirs is not None and ours != theirs:
        raise RunDirError(f"--resume: {last} was written by another run (run {theirs[:12]}, expected "
                          f"{ours[:12]} of {run.path / RUN.marker}): a checkpoint copied from another run "
                          f"directory cannot continue this one; {train_again_advice(run)}")
    recorded = max((int(r["epoch"]) for r in records), default=0)
    if int(ckpt["epoch"]) > recorded and ours is not None and ours == theirs:
        # This run's own checkpoint: its records lost their end, not spliced with another run's.
        # Continuing would leave those epochs unrecorded (last.pt holds no record), so it still
        # refuses, with the way that keeps the run rather than the one that deletes it.
        lost = (f"epoch {recorded + 1}" if recorded + 1 == int(ckpt["epoch"])
                else f"epochs {recorded + 1}-{ckpt['epoch']}")
        raise RunDirError(f"--resume: {run.metrics} ends before {last} (after epoch {ckpt['epoch']}, this run's "
                          f"own: run {ours[:12]}): the record of {lost} was lost (a power cut or a full disk "
                          f"while it was appended), and continuing would leave it unrecorded; to keep the run, "
                          f"copy {run.path} aside (`rnnlab report` still reads it) and train again with a new "
                          f"--out; to start over in {run.path}, remove it yourself")
    if int(ckpt["epoch"]) > recorded:
        raise RunDirError(f"--resume: {last} stands after epoch {ckpt['epoch']}, but {run.metrics} records "
                          f"{f'up to epoch {recorded}' if recorded else 'no epoch'}: expected a checkpoint at or "
                          f"before its last recorded epoch (one copied from another run?); {train_again_advice(run)}")


def _load_last(run: RunDir) -> dict[str, Any]:
    """The run's last.pt, for --resume; a damaged one is an error that says what is left to do."""
    try:
        return load_checkpoint(run.last_checkpoint, require=RESUME)
    except CheckpointVersionError as e:  # (intact, for another rnnlab: nothing to remove)
        raise CheckpointVersionError(f"{e}; --resume cannot continue from {run.last_checkpoint.name} with "
                                     "this rnnlab") from None
    except CheckpointError as e:
        raise CheckpointError(f"{e}; --resume cannot continue from {run.last_checkpoint.name}; `rnnlab report` "
                              f"still reads the run's records; {train_again_advice(run)}") from None


def _raise_if_gone(run: RunDir, error: BaseException) -> None:
    """Say that the run directory was removed while training, when that is what ``error`` (a
    write that failed) came of, instead of the write's own error."""
    try:
        run.check_present("training", f"{error}" if not isinstance(error, RunDirGone) else "")
    except RunDirGone as gone:
        raise gone from None
    # (a removal under way that has not reached the lock file yet: a file of the run vanished mid-write)
    name = getattr(error, "filename", None)
    if isinstance(error, FileNotFoundError) and name and Path(name).absolute().is_relative_to(run.path.absolute()):
        raise RunDirGone(f"the run directory {run.path} disappeared while training ({Path(name).parent} was removed "
                         f"while {Path(name).name} was written)") from None


def _resume(run: RunDir, s: _Session, ckpt: dict[str, Any], changes: dict[str, tuple[Any, Any]], log: Log,
            timing: Timing, asked_steps: int | None = None) -> TrainResult | None:
    """Continue ``s`` from the checkpoint exactly: weights, optimizer state, random streams,
    early stopping; drop the records written after it, and log the resume. A run that had
    already finished, with nothing left to train, is left as it is: its result as summary.json
    holds it (:func:`_finished_result`), nothing written; None otherwise. ``asked_steps``: the
    config's ``training.steps`` where the shape rule (``adapt.shape``) raised it, which the advice
    to train on must go beyond."""
    settings = [{k: v for k, v in g.items() if k != "params"} for g in s.optimizer.param_groups]
    try:
        s.model.load_state_dict(ckpt["model"])
        s.optimizer.load_state_dict(ckpt["optimizer"])
        # State (moments, step counts) from the checkpoint; settings (lr, decay) from the config.
        for group, setting in zip(s.optimizer.param_groups, settings, strict=True):
            group.update(setting)
    except (RuntimeError, ValueError, KeyError) as e:
        raise RunDirError(
            f"--resume: checkpoint {run.checkpoints / 'last.pt'} does not match this config's model "
            f"or optimizer ({str(e).splitlines()[0]})"
        ) from None
    set_rng_state(ckpt["rng"], s.shuffle_gen)
    s.stopper.load(ckpt["early_stopping"])
    if s.budget is not None and "budget" in ckpt:
        planned = s.budget.planned
        s.budget.load(ckpt["budget"])
        if "training.steps" in changes:
            # (the budget the user changed on resume: its new plan replaces the one recorded, the
            # decisions so far kept in the record)
            s.budget.replan(planned, step=int(ckpt["step"]), why=f"--resume with training.steps "
                            f"{changes['training.steps'][0]} -> {changes['training.steps'][1]}")
        s.epochs = s.budget.epochs
    s.epoch_done, s.step, s.stopped_early = int(ckpt["epoch"]), int(ckpt["step"]), bool(ckpt["stopped_early"])
    s.resume_window = ckpt.get("stream")
    where = checkpoint_place(ckpt)
    _check_budget_reaches(run, s, ckpt, changes)
    nothing_left = s.stopped_early or s.epoch_done >= s.epochs
    done = "early stopping ended it" if s.stopped_early else f"epoch {s.epochs} was its last"
    if not s.stopped_early and s.budget is not None and s.budget.events \
            and s.budget.events[-1].get("decision") == "end_early":
        done += (f": adapt.budget ended it at step {s.budget.total} of the {s.budget.planned} planned "
                 f"({str(s.budget.events[-1].get('why', '')).split(':')[0]})")
    changed = f" (with {', '.join(f'{k} {a!r} -> {b!r}' for k, (a, b) in changes.items())})" if changes else ""
    if nothing_left and (finished := _finished_result(run, s, timing)) is not None:
        # (a finished run is a record: a resume that trains nothing has nothing to add to it, and a
        # log line, a config.toml of keys it never trained with or a summary rewritten by another
        # rnnlab would only misstate it)
        budget = "training.steps" if s.config.training.steps is not None else "training.epochs"
        # (a budget the shape rule raised is raised again on every start: the config's steps must go beyond it)
        raise_it = (f"set {budget} above {s.config.training.steps} (the shape rule, adapt.shape, raises "
                    f"{budget} = {asked_steps} to {s.config.training.steps} on this data)"
                    if asked_steps is not None else f"raise {budget}")
        train_on = (f"to train on, {raise_it} with --allow-change {budget} (Python: allow_change=[{budget!r}])"
                    if _partial_end(s, ckpt) is None else
                    # (a raised budget cannot continue it: see _check_budget_reaches)
                    f"to train longer, train again with a new --out and a larger {budget}")
        _say(log, f"{run.path} had already finished ({where}, step {s.step}: {done}): --resume{changed} "
                  "trains nothing and writes nothing in it (its figures below are its summary.json's; "
                  f"`rnnlab report {run.path}` draws its report again; {train_on})")
        return finished
    # Drop what was recorded after the checkpoint: those epochs run again.
    dropped = truncate_jsonl(run.metrics, lambda r: r.get("epoch", 0) <= ckpt["epoch"])
    # Tracker step s is the (s+1)-th optimizer step: steps 0..N-1 precede a checkpoint at N.
    truncate_jsonl(run.tracked, lambda r: r.get("step", 0) < ckpt["step"])
    _record_resume(run, s.config, ckpt, changes, dropped)
    if nothing_left:  # killed between its last checkpoint and its summary (or one that cannot be read)
        # (nothing left to train: "resuming" alone reads as if training went on)
        _say(log, f"resuming {run.path} {where} (step {s.step}; {done}){changed}: nothing left to train, "
                  "it evaluates the kept model and writes summary.json and the report")
        return None
    _say(log, f"resuming {run.path} {where} (step {s.step})"
              + (f" with {', '.join(f'{k} {a!r} -> {b!r}' for k, (a, b) in changes.items())}" if changes else "")
              + (f"; {moved}" if (moved := _moved_line({k: v for k, v in changes.items() if k in RELOCATABLE}, ckpt))
                 else "")
              + (f"; the {dropped} epoch{'s' if dropped != 1 else ''} recorded after that checkpoint "
                 f"({'its records' if dropped != 1 else 'its record'} dropped) train again, as they did"
                 if dropped else ""))
    return None


def _partial_end(s: _Session, ckpt: dict[str, Any]) -> int | None:
    """The windows a stream's run read of its last epoch where its budget ended it part way (its
    checkpoint after that epoch, ``ckpt``: written at the run's end, it keeps no carried state to
    read the rest of the epoch from); None for a checkpoint after a whole epoch, or within one."""
    if not s.task.stream or "stream" in ckpt or s.stopped_early:
        return None
    read = int(ckpt["step"]) - (int(ckpt["epoch"]) - 1) * s.steps_per_epoch
    return read if 0 < read < s.steps_per_epoch else None


def _check_budget_reaches(run: RunDir, s: _Session, ckpt: dict[str, Any], changes: dict[str, tuple[Any, Any]]) -> None:
    """Refuse a resume whose step budget (``s.total_steps``) the checkpoint ``ckpt`` cannot meet
    exactly: a budget below the step of a checkpoint within an epoch (its weights are past it,
    and every record would label them as another step's), or one raised beyond the end of a
    stream's run whose last epoch stopped part way (continuing would skip the rest of that epoch)."""
    budget = "training.steps" if s.config.training.steps is not None else "training.epochs"
    step, total = int(ckpt["step"]), s.total_steps
    change = (f" ({budget} {changes[budget][0]!r} -> {changes[budget][1]!r})" if budget in changes else "")
    if "stream" in ckpt and total < step:
        end = (f"set training.steps = {step} to end the run at its checkpoint, or more to train on"
               if budget == "training.steps" else f"set training.epochs = {int(ckpt['epoch']) + 1} or more")
        raise RunDirError(f"--resume: the run's budget of {total} steps{change} ends before step {step}, where "
                          f"{run.last_checkpoint} stands ({checkpoint_place(ckpt)}): its weights are past that "
                          f"budget; {end} (--allow-change {budget})")
    if (read := _partial_end(s, ckpt)) is not None and total > step:
        raise RunDirError(f"--resume: the run's budget of {total} steps{change} goes beyond step {step}, where "
                          f"{run.path} ended within epoch {ckpt['epoch']} (after {read} of its {s.steps_per_epoch} "
                          f"windows), and a finished run keeps no carried state to read the rest of that epoch "
                          f"from; to train {total} steps, train again with a new --out; to keep the run as it "
                          f"is, resume with training.steps = {step}")


def _finished_result(run: RunDir, s: _Session, timing: Timing) -> TrainResult | None:
    """The result of a finished run as its summary.json holds it (:meth:`TrainResult.to_dict`),
    with ``s.model`` holding the weights it evaluated (the best epoch's under early stopping, a
    mean guard's decision applied), read only; None where there is no summary.json or it cannot
    be read (a resume then evaluates the run and writes it again)."""
    from rnnlab.doctor.findings import Finding
    from rnnlab.doctor.fit import FitFindings

    try:
        summary = run.read_summary() if run.summary.exists() else None
        if summary is None:
            return None
        guard = MeanGuard(**summary["mean_guard"]) if isinstance(summary.get("mean_guard"), dict) else None
        findings = FitFindings([Finding.from_dict(f) for f in summary.get("fit_findings") or []],
                               summary.get("fit_checked"))
        records = run.read_metrics()
        parts = {suffix: {k.removesuffix(suffix): v for k, v in summary.items() if k.endswith(suffix)}
                 for suffix in ("_by_channel", "_by_class")}
        result = TrainResult(
            run.path, int(summary.get("epochs", len(records))), bool(summary.get("stopped_early")),
            summary.get("final") or (records[-1] if records else {}), summary.get("best"), dict(summary.get("train_eval") or {}),
            summary.get("test"), s.model, findings, timing, baselines=summary.get("baselines"),
            text=summary.get("text"), mean_guard=guard, by_channel=parts["_by_channel"] or None,
            reference=summary.get("reference"), data_notes=list(summary.get("data_notes") or []),
            by_class=parts["_by_class"] or None, finished_before=True)
    except (RunDirError, KeyError, TypeError, ValueError, AttributeError):
        return None
    _restore_best(run, s)  # (the weights it evaluated)
    if guard is not None and (not guard.kept or guard.at_mean):
        predict_the_mean(s.model, guard.mean_targets)
    return result


def _moved_data(config: Config, ckpt: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The data files ``config`` reads from elsewhere than the checkpoint's config did
    (:data:`rnnlab.rundir.RELOCATABLE`), ``{key: (old, new)}``: a resume allows them where the data
    there are the checkpoint's (its ``data_sha256``)."""
    recorded = parse_config(ckpt["config"], source="the checkpoint's config", recorded=True)
    return {k: v for k, v in config_changes(recorded, config).items() if k in RELOCATABLE}


def _moved_line(moved: dict[str, tuple[Any, Any]], ckpt: dict[str, Any]) -> str:
    """What a resume says of the data files it found moved (:func:`_moved_data`), "" for none."""
    if not moved:
        return ""
    return (f"{', '.join(moved)} moved ({'; '.join(f'{a} -> {b}' for a, b in moved.values())}): the same data as "
            f"the run trained on (SHA-256 {ckpt['data_sha256'][:12]}..., the checkpoint's)")


def _record_resume(run: RunDir, config: Config, ckpt: dict[str, Any], changes: dict[str, tuple[Any, Any]],
                   dropped: int = 0) -> None:
    """Log the resume (resumes.jsonl; ``dropped``: the epochs recorded after the checkpoint, which
    train again; ``data_moved``: data files read from a new place, their content the checkpoint's;
    ``versions``: the rnnlab, torch and Python that continue the run) and keep config.toml the
    config the run now follows."""
    moved = {k: v for k, v in changes.items() if k in RELOCATABLE}
    run.append(run.resumes, {"after_epoch": int(ckpt["epoch"]), "step": int(ckpt["step"]), "dropped_epochs": dropped,
                             "where": checkpoint_place(ckpt),
                             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                             "changed": {k: [a, b] for k, (a, b) in changes.items()},
                             **({"data_moved": {"keys": list(moved), "data_sha256": ckpt["data_sha256"],
                                                "same_data": True}} if moved else {}),
                             "versions": versions()})
    edited = _config_file_edits(run, ckpt)
    if changes or edited:
        atomic_write_text(run.config, dump_config(config))
    if edited:
        # Corrected, not refused: the run follows the checkpoint's config (a change to it is
        # made in the config given to --resume, with --allow-change), and config.toml is the
        # report's and `rnnlab compare`'s record of it, so an edit there would only misstate it.
        warnings.warn(f"{run.config} differs from the checkpoint's config in {edited}: rewritten with the config "
                      "the run follows (to change a key on resume, change it in the config given to --resume, "
                      "with --allow-change KEY; Python: resume=True, allow_change=[KEY])", UserWarning, stacklevel=2)


def _config_file_edits(run: RunDir, ckpt: dict[str, Any]) -> str:
    """How RUN_DIR/config.toml differs from the config the checkpoint recorded (a hand edit, or a
    file gone): "" when it does not."""
    try:
        text = run.config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "every key (the file is missing)"
    except (OSError, UnicodeDecodeError) as e:
        return f"every key (it cannot be read: {e})"
    if text == ckpt["config"]:
        return ""
    recorded = parse_config(ckpt["config"], source="the checkpoint's config", recorded=True)
    _, changes, why = config_file_changes(recorded, text, run.config)
    return why or format_changes(changes)


def _last_epoch(s: _Session, stop_after: int | None, first: int) -> int:
    """The last epoch this session (which started after epoch ``first``) trains: the budget's,
    none for a run that stopped early (it stays stopped), at most ``stop_after`` more."""
    last = s.epochs if not s.stopped_early else 0
    return last if stop_after is None else min(last, first + stop_after)


def _follow_fit(run: RunDir, s: _Session, record: dict[str, Any], log: Log) -> None:
    """``adapt.budget``: let the budget decide after this epoch (:mod:`rnnlab.train.fit_budget`),
    from training data only; a decision is logged and recorded in ``adapt.json``."""
    assert s.budget is not None
    budget = s.budget

    @functools.cache  # (what both checks at the budget's end read, read once)
    def measured() -> tuple[list[dict[str, Any]], dict[str, float]]:
        return run.read_metrics(), s.evaluate(s.data.evaluated_train)

    def underfit() -> tuple[bool, str]:
        return underfit_check(*measured(), s.config, budget.rule)

    def at_chance() -> str | None:
        return chance_check(*measured(), constant_loss(_labels(s.task, s.data.evaluated_train)))

    now = schedule_factor(s.config.training, s.step, s.steps_per_epoch, s.schedule_steps, budget)
    line = budget.after_epoch(record, underfit, now, lambda: s.evaluate(s.data.train)["acc"], at_chance)
    if line is not None:
        s.epochs = budget.epochs
        _say(log, line)
        run.write_adapt(budget=budget.to_dict())


# ------------------------------------------------------------------------------ one epoch


@dataclass
class _EpochStats:
    """What one epoch of training adds up: the training losses of its steps, the task's
    metrics of its outputs (training mode), and gradient norms."""

    tally: Tally | RegressionTally
    started: float = field(default_factory=time.time)
    loss_sum: float = 0.0
    seen: int = 0
    norms: list[float] = field(default_factory=list)

    def add(self, loss: float, logits: Tensor, y: Tensor, grad_norm: float, rows: Tensor | None = None) -> None:
        self.norms.append(grad_norm)
        before = self.tally.n
        with torch.no_grad():
            self.tally.add(logits.detach().float(), y, rows)  # (bfloat16 under autocast: the figures in float32)
        items = self.tally.n - before  # what the batch's mean loss is over: sequences, or valid steps
        self.loss_sum += loss * items
        self.seen += items


@in_phase(lambda s, epoch, **_: Place("training", epoch, s.step + 1))  # (s.step as it fails: the failed step)
def _train_epoch(run: RunDir, s: _Session, epoch: int, tracker: Any, progress: bool | None,
                 timing: Timing) -> _EpochStats:
    """One pass over shuffled batches: one optimizer step per batch, or per window of a
    stateful batch (truncated BPTT; a stream's rows are one such batch: :func:`batching`);
    ``timing``: the session's, written beside a stream's checkpoint within the epoch."""
    tc = batching(s.config)
    X, y, L = s.tensors(s.data.train)
    stats = _EpochStats(s.task.tally(s.data.train.scale))
    s.model.train()
    resumed = _resume_stream(s, stats, epoch)
    for idx in _progress(batch_order(len(y), tc, s.shuffle_gen, merge_single=merges_single_batch(s.config)), progress, f"epoch {epoch}/{s.epochs}"):
        xb, yb, lb = _trim(X[idx], L[idx]), y[idx], L[idx]
        first, state = resumed if resumed is not None else (0, None)
        # A batch is one window (stateless) or consecutive windows sharing a carried state.
        for start in range(first, xb.shape[1], tc.stateful_window or xb.shape[1]):
            if s.step >= s.total_steps:
                break  # a stream's exact training.steps, reached within its last epoch
            set_lr(s.optimizer, tc, s.step, s.steps_per_epoch, s.schedule_steps, s.budget)
            yw = yb
            if s.activity is not None:
                s.activity.penalty()  # drop what forwards outside training steps (health checks) left
            with autocast(s.device, tc.precision):
                if tc.stateful_window:
                    outputs, state = member_outputs(s.model, xb[:, start:start + tc.stateful_window], None, state)
                    state = detach_state(state)
                    yw = s.task.window(yb, start, start + tc.stateful_window)
                else:
                    outputs, _ = member_outputs(s.model, xb, lb)
                # An ensemble's members each learn from their own loss (summed: each gradient is
                # its member's alone), not from the loss of their mean.
                loss = functools.reduce(operator.add, (s.loss_fn(o, yw) for o in outputs))
                logits = combine(s.model, outputs)
                if s.activity is not None:
                    loss = loss + s.activity.penalty()
            s.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loss_value = loss.item() / len(outputs)
            if tracker is not None:
                tracker.step(loss_value, epoch=epoch)  # after backward, before the update
            try:  # the norm before clipping (each member's alone); max_norm inf only measures
                norm = math.hypot(*(clip_grad_norm(named, tc.clip_norm or math.inf, on_nonfinite=tc.on_nonfinite)
                                    for named in s.clipped_groups))
            except NonFiniteGradientError as e:
                last = run.last_checkpoint
                resume_hint = f"; --resume continues from {last}" if last.exists() else ""
                raise TrainingDiverged(
                    f"epoch {epoch}, step {s.step + 1}: {e}; lower training.lr, "
                    + ("" if tc.clip_norm is not None else "set training.clip_norm, ") +
                    f"or set training.on_nonfinite = \"skip\"{resume_hint}"
                ) from None
            s.optimizer.step()
            s.step += 1
            stats.add(loss_value, logits, yw, float(norm), idx)
            if s.task.stream and start + tc.stateful_window < xb.shape[1] and _checkpoint_due(s):
                _stream_checkpoint(run, s, epoch, start + tc.stateful_window, state, stats)
                # (what a kill would leave: the session as of this checkpoint)
                _session_timing(run, s, timing, ended=f"killed or still running: recorded at the checkpoint "
                                                     f"within epoch {epoch}, at step {s.step}")
    return stats


@in_phase(lambda epoch, **_: Place("evaluation", epoch))
def _epoch_record(s: _Session, epoch: int, stats: _EpochStats) -> dict[str, Any]:
    """The line of metrics.jsonl: training figures, the validation split, the optimizer's."""
    # train_loss is the optimized loss (label smoothing included); the other figures the task's.
    train = {**stats.tally.result(), "loss": stats.loss_sum / stats.seen}
    record: dict[str, Any] = {"epoch": epoch, "step": s.step, "time": round(time.time() - stats.started, 4)}
    record.update({m.key("train"): train[m.name] for m in s.task.metrics})
    if len(s.data.val):
        val = s.evaluate(s.data.val)
        record.update({m.key("val"): val[m.name] for m in s.task.metrics})
    groups = s.optimizer.param_groups
    record.update(lr=float(groups[0]["lr"]), weight_decay=max(float(g.get("weight_decay", 0.0)) for g in groups),
                  grad_norm=float(np.mean(stats.norms)), grad_norm_max=float(np.max(stats.norms)))
    if len(stats.norms) < s.steps_per_epoch:
        # A stream's budget ends within its last epoch: its training figures are a mean over the
        # few windows it read, often the series' hardest stretch, not an epoch's like the others.
        # (the norms count its steps: one a step, those before a mid-epoch checkpoint among them)
        record.update({PARTIAL_KEYS[0]: len(stats.norms), PARTIAL_KEYS[1]: s.steps_per_epoch})
    return record


def _checkpoint_state(s: _Session, epoch: int) -> dict[str, Any]:
    """What ``--resume`` continues from after ``epoch`` (the live tensors: copy to keep it)."""
    return {
        "epoch": epoch, "step": s.step, "model": s.model.state_dict(), "optimizer": s.optimizer.state_dict(),
        "rng": rng_state(s.shuffle_gen), "early_stopping": s.stopper.state(), "stopped_early": s.stopped_early,
        "config": s.config_text, "data_sha256": s.data_sha256,
        **({"threads": s.threads.threads} if s.threads is not None else {}),
        **({"budget": s.budget.state()} if s.budget is not None else {}),
        # (the update ratio of the step just taken is recorded by the next step: a resumed run needs it)
        **({"tracker": s.tracker.state_dict()} if s.tracker is not None else {}),
        **({RUN_FIT_KEY: s.run_fit} if s.run_fit is not None else {}),
        # (a run killed before its summary keeps what its data warned: the report reads it here)
        DATA_NOTES: list(s.data_notes),
    }


def _checkpoint(run: RunDir, s: _Session, epoch: int, improved: bool, due: bool) -> None:
    """After ``epoch``: write ``last.pt`` (and ``best.pt`` when the best epoch is not on disk
    yet) when ``due``, else keep a copy of the state for a signal to write (atomic writes;
    the run's own state is never changed here, so the cadence cannot change a result)."""
    state = _checkpoint_state(s, epoch)
    if improved:
        s.best_pending = state
    if due:
        s.pending = state
        _write_pending(run, s)
        return
    s.pending = _snapshot(state)
    if improved:
        s.best_pending = s.pending


def _checkpoint_due(s: _Session) -> bool:
    """The run's checkpoint cadence: ``training.checkpoint_every`` seconds since ``last.pt``."""
    return time.perf_counter() - s.saved_at >= s.config.training.checkpoint_every


def _snapshot(value: Any) -> Any:
    """A copy of a checkpoint's state: tensors cloned, containers rebuilt, the rest shared
    (numbers and strings): the template's state in 1 ms, where ``copy.deepcopy`` takes 5-7 ms."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


def _write_pending(run: RunDir, s: _Session) -> None:
    """Write the states kept by :func:`_checkpoint`: the best epoch's first, then ``last.pt``."""
    identity: dict[str, str] = {}
    if s.best_pending is not None or s.pending is not None:
        run.check_present("training", "checkpoints not written")
        # (an older rnnlab's run gets its identity at its next checkpoint)
        identity = {RUN_ID: token} if (token := run.run_id(create=True)) else {}
    if s.best_pending is not None:
        save_checkpoint(run.best_checkpoint, {**s.best_pending, **identity})
        s.best_pending = None
    if s.pending is not None:
        save_checkpoint(run.last_checkpoint, {**s.pending, **identity})
        s.written_at = _place(s.pending.get("stream"))
        s.pending = None
        s.checkpoints_written += 1
    s.saved_at = time.perf_counter()


def _progress(iterable: list[Tensor], enabled: bool | None, desc: str) -> Any:
    """``iterable`` with a progress bar when bars are on; itself when not. (No tqdm at all then:
    tqdm makes a multiprocessing lock even when disabled, a named semaphore that a search's or
    recipe's worker killed outright never unregisters, and the resource tracker then prints its
    "leaked semaphore objects" warning after the command's summary.)"""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)


# ------------------------------------------------------------------------------ stream state (mid-epoch)
# A stream's epoch is one batch of every row read in many windows: a checkpoint only after the
# epoch would lose all of them to a kill. Within a stream's epoch ``last.pt`` is also written at
# the run's cadence (:func:`_checkpoint_due`), holding what the next window starts from besides
# the usual state: the carried state of every row (detached), the window's first step, and the
# epoch's sums so far, so that its record is the uninterrupted run's (its time: the seconds
# spent on the epoch in every session).


def _stream_checkpoint(run: RunDir, s: _Session, epoch: int, start: int, state: Any, stats: _EpochStats) -> None:
    """Write ``last.pt`` within ``epoch`` of a stream, before the window that begins at step
    ``start``, with the rows' carried ``state`` and the epoch's ``stats`` so far."""
    steps = int(s.data.train.X.shape[1])
    s.pending = {**_checkpoint_state(s, s.epoch_done), "stream": {
        "epoch": epoch, "start": start, "steps": steps, "window": batching(s.config).stateful_window,
        "state": list(state) if isinstance(state, tuple) else [state], "tuple": isinstance(state, tuple),
        "loss_sum": stats.loss_sum, "seen": stats.seen, "norms": list(stats.norms), "tally": _tally_sums(stats.tally),
        "elapsed": time.time() - stats.started}}
    _write_pending(run, s)


def _tally_sums(tally: Tally | RegressionTally) -> dict[str, int | float | list[Any]]:
    """A tally's running sums (its numbers, and a panel's per-series lists of them; the task and
    scale it was made with are the run's)."""
    return {k: v for k, v in vars(tally).items() if type(v) in (int, float, list)}


def _resume_stream(s: _Session, stats: _EpochStats, epoch: int) -> tuple[int, Any] | None:
    """The first step and carried state ``epoch`` continues from after a mid-epoch checkpoint
    (its sums loaded into ``stats``); None when the epoch starts at its beginning."""
    saved, s.resume_window = s.resume_window, None
    if saved is None:
        return None
    tc, steps = batching(s.config), int(s.data.train.X.shape[1])
    rows = [tuple(t.shape)[1] if t.dim() > 1 else -1 for t in saved["state"]]
    if (saved["epoch"] != epoch or saved["window"] != tc.stateful_window or saved["steps"] != steps
            or not 0 < saved["start"] < steps or set(rows) != {len(s.data.train)}
            or set(saved["tally"]) != set(_tally_sums(stats.tally))):
        raise RunDirError(f"--resume: checkpoints/last.pt stands within "
                          f"epoch {saved['epoch']} at step {saved['start']} of {saved['steps']} (windows of "
                          f"{saved['window']}, {rows[0]} rows); expected epoch {epoch} of this run's {steps} steps in "
                          f"windows of {tc.stateful_window}, {len(s.data.train)} rows")
    state = [t.to(s.device) for t in saved["state"]]
    stats.loss_sum, stats.seen, stats.norms = saved["loss_sum"], saved["seen"], list(saved["norms"])
    # The epoch's time is all it took: the seconds before the stop besides this session's
    # (a checkpoint written before they were kept counts this session's alone).
    stats.started -= saved.get("elapsed", 0.0)
    for k, v in saved["tally"].items():
        setattr(stats.tally, k, v)
    return saved["start"], (tuple(state) if saved["tuple"] else state[0])


def checkpoint_place(ckpt: Mapping[str, Any]) -> str:
    """Where the checkpoint ``ckpt`` stands, in words: within an epoch (:func:`_place`; its
    ``"epoch"`` is the last whole one, its ``"step"`` the step it stands at), or after one.

    >>> checkpoint_place({"epoch": 2, "step": 26, "stream": {"epoch": 3, "start": 20, "steps": 47, "window": 10}})
    'within epoch 3 (before window 3 of 5)'
    >>> checkpoint_place({"epoch": 2, "step": 24})
    'after epoch 2'
    """
    return _place(ckpt.get("stream")) or f"after epoch {ckpt['epoch']}"


def _place(stream: dict[str, Any] | None) -> str:
    """Where a mid-epoch checkpoint stands, in words ("" for one written after an epoch).

    >>> _place({"epoch": 3, "start": 20, "steps": 47, "window": 10})
    'within epoch 3 (before window 3 of 5)'
    """
    if stream is None:
        return ""
    return (f"within epoch {stream['epoch']} (before window {stream['start'] // stream['window'] + 1} of "
            f"{-(-stream['steps'] // stream['window'])})")


# ------------------------------------------------------------------------------ the loop


def train(config: Config, out: str | Path | None = None, resume: bool = False,
          progress: bool | None = None, log: Log = print, stop_after: int | None = None,
          allow_change: Sequence[str] = (), fold: Fold | None = None,
          on_epoch: EpochCallback | None = None, workers: int = 1,
          spelling: KeySpelling | None = None, carried_guard: CarriedGuard | None = None) -> TrainResult:
    """Train ``config`` into the run directory ``out`` (default ``config.output.dir``; unset
    ``name`` and ``output.dir`` follow the data, see :func:`with_derived_names`).

    ``resume`` continues from ``checkpoints/last.pt`` exactly; a config that differs from the
    checkpoint's is refused unless every changed key is harmless and named in ``allow_change``
    (see :data:`rnnlab.config.RESUME_HARMLESS`; the change is logged in ``resumes.jsonl``).
    ``progress`` None shows bars only on a terminal; ``log`` receives one line per epoch (None:
    silent); ``stop_after`` ends this session after that many epochs (a time budget: ``resume``
    continues the run as if it had never stopped); a session it ends before the run's end is a
    pause (:attr:`TrainResult.paused`): nothing is evaluated on the test split, judged or
    summarized until the run ends. ``fold`` validates on that fold of the
    training split and leaves the test split out (:func:`rnnlab.data.load_data`); ``on_epoch``
    sees each epoch's record and ends training when it returns True; ``workers`` is the number
    of processes sharing the CPUs (a search's or recipe's), which the thread policy splits
    (:mod:`rnnlab.threads`; torch's thread count is restored when training returns, and so are
    the global random generators that ``training.seed`` seeds: :func:`callers_random_state`);
    ``spelling`` names the config's keys in the health check's remedies before training and the
    findings after it as its caller sets them
    (:class:`rnnlab.doctor.checks.KeySpelling`; None: as the config file does);
    ``carried_guard`` is a mean guard's decision made elsewhere, which a run without a validation
    part applies after training instead of ``[task] mean_guard``'s own, before its train and test
    evaluation (:class:`rnnlab.train.final.CarriedGuard`: a search's or recipe's final run carries
    its fold runs' guards' decision); it is recorded in ``summary.json``'s ``mean_guard``.

    Checkpoints: after the first epoch, then at most every ``training.checkpoint_every`` seconds,
    after the last epoch, and on SIGINT/SIGTERM/SIGHUP (then :class:`rnnlab.errors.Interrupted`).

    Training runs with gradients on, whatever the caller's grad mode (``torch.no_grad()``,
    ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``), which is restored after.

    A ``training.threads`` beyond the CPUs the process may use is warned of here
    (:func:`rnnlab.threads.warn_oversubscribed`), from Python as from ``rnnlab train``; a search's
    or recipe's fold runs (``fold`` given) leave it to their command, which warns once for all.
    """
    if fold is None:
        warn_oversubscribed(config.training.threads, stacklevel=3)  # (the caller's line)
    if carried_guard is not None and config.task.mean_guard:
        raise ValueError("train(carried_guard=...) is for a run without a mean guard of its own; this config "
                         "sets task.mean_guard = true")
    timing = Timing()
    threads_before = torch.get_num_threads()
    # each step's tensors reuse the pages the step before freed, instead of faulting them in anew
    timing.info["heap"] = keep_freed_memory().describe()
    try:
        config = with_derived_names(config)
        resolve_device(config.training.device)  # (a GPU that is not there: said before any file is written)
        # (a command has them already; a run from Python too: bench_template.py, notebooks, search trials)
        # Gradients on whatever the caller's mode (a notebook's earlier set_grad_enabled(False), a
        # call inside no_grad or inference_mode): training needs them, and the caller's mode is
        # restored after, as Lightning's trainer does.
        with (_open_run_dir(config, out, resume, fold) as run, rare_full_collections(), callers_random_state(),
              torch.inference_mode(False), torch.enable_grad()):
            try:
                return _train(run, config, resume, progress, log, stop_after, allow_change, fold, on_epoch,
                              workers, timing, spelling, carried_guard)
            except BaseException as e:
                if isinstance(e, (OSError, RnnlabError)):
                    _raise_if_gone(run, e)  # (before the abandon below, which would find nothing)
                if not resume:  # (a resume's directory holds its run, whatever its session did)
                    _abandon_unrecorded(run, e)
                raise
    finally:
        torch.set_num_threads(threads_before)


#: What a new run's set-up measured before its first epoch, at a cost (the health check's
#: records; timing.json too when it holds a thread measurement: :func:`_set_up_records`): kept
#: when the run fails after it, unless the config or the data must change.
_SET_UP_RECORDS = (HEALTH, GATE_ACTIVATIONS, GRAD_THROUGH_TIME)


def _set_up_records(run: RunDir) -> tuple[str, ...]:
    """:data:`_SET_UP_RECORDS`, and ``timing.json`` where it holds the thread measurement (a
    ``timing.json`` of a Ctrl-C in epoch 1 alone is no measurement, and keeps nothing)."""
    try:
        measured = measured_in(run.read_timing())
    except (OSError, RnnlabError):
        measured = False
    return (*_SET_UP_RECORDS, TIMING) if measured else _SET_UP_RECORDS


def _abandon_unrecorded(run: RunDir, error: BaseException) -> None:
    """A new run that failed, was stopped or could not write before it recorded anything (a data
    or config error found at set-up, Ctrl-C, a full disk) leaves nothing that looks like a run:
    the directory as it was before the command (:meth:`RunDir.abandon`), so the same command
    runs again into it as into a new one. A run with records keeps every one of them, and so
    does one that failed after its health check or its thread measurement (out of memory, Ctrl-C
    in epoch 1; :func:`_set_up_records`): ``error``
    then notes where they are, and that the same command starts the run again there
    (:func:`cut_short`). A config or data error discards them: what they measured changes."""
    keep = () if isinstance(error, (ConfigError, DataError)) else _set_up_records(run)
    recorded, abandoned = run.has_records(), True
    # (a removal that fails is not said: the failure itself is what the caller must hear, and the
    # next claim takes the directory as it is; abandon releases the lock either way)
    with contextlib.suppress(OSError, RnnlabError):
        abandoned = run.abandon(keep=keep)
    kept = [name for name in (*_SET_UP_RECORDS, TIMING, ADAPT) if (run.path / name).exists()]
    if not abandoned and not recorded and kept:
        # (a stop is no failure: "failed" would send the user looking for an error)
        ended = "was interrupted" if isinstance(error, (Interrupted, KeyboardInterrupt)) else "failed"
        add_note(error, f"{run.path} keeps what the run recorded before it {ended} ({', '.join(kept)}); "
                        "the same command starts the run again there")


def _train(run: RunDir, config: Config, resume: bool, progress: bool | None, log: Log,
           stop_after: int | None, allow_change: Sequence[str], fold: Fold | None,
           on_epoch: EpochCallback | None, workers: int, timing: Timing,
           spelling: KeySpelling | None = None, carried_guard: CarriedGuard | None = None) -> TrainResult:
    """:func:`train` in the run directory it holds."""
    with timing.phase("set_up"):
        asked = config.training.steps
        config, shape = adapt_to_shape(config)  # (before config.toml: it records what the rules decided)
        ckpt, changes = _prepare_run_dir(run, config, resume, allow_change)
        if ckpt is not None:
            timing.keep_earlier(run)
        if shape is not None:
            _say(log, shape.line())
        s = _set_up(config, fold, ckpt, log, timing, spelling)
        raised = asked if asked is not None and config.training.steps != asked else None
        if ckpt is not None and (finished := _resume(run, s, ckpt, changes, log, timing, raised)) is not None:
            return finished  # (a finished run, nothing left to train: nothing is written in it)
        if shape is not None:
            run.write_adapt(shape=shape.to_dict())
        if ckpt is None or not (run.path / PARAM_GROUPS).exists():  # (a run of an rnnlab before it: on resuming)
            atomic_write_json(run.path / PARAM_GROUPS, _param_groups_record(s.optimizer, config.training))
        if s.budget is not None:
            run.write_adapt(budget=s.budget.to_dict())
    with timing.phase("threads"):
        s.threads = _choose_threads(s, ckpt, workers, log)
    if ckpt is None and s.threads.measured:
        # (what the measurement cost is on disk before it is said: a new run that fails after it
        # keeps it, as it keeps the health check's records: _abandon_unrecorded; a killed one too)
        _session_timing(run, s, timing, ended="killed or still running: recorded after the thread measurement")
    _say(log, f"threads: {s.threads.describe()}")
    if ckpt is None and config.tracking.enabled and config.tracking.health:
        with timing.phase("health_check"):
            _health_check(run, s.model, s.optimizer, s.data, config, log, spelling)
    with timing.phase("set_up"):
        tracker = s.tracker = _make_tracker(run, s.model, config, s.step, log)
        if tracker is not None and ckpt is not None and "tracker" in ckpt:
            tracker.load_state_dict(ckpt["tracker"])
        if any(getattr(config.model, k) is not None for k in ("kernel_constraint", "recurrent_constraint", "bias_constraint")):
            constrain_after_step(s.optimizer, s.model)  # project the weights after every optimizer step

    s.session_steps_from = s.step
    s.saved_at = time.perf_counter()
    with StopSignals():  # SIGINT, SIGTERM and SIGHUP: the trainer then writes the last epoch's checkpoint
        try:
            _epochs(run, s, tracker, progress, log, stop_after, on_epoch, timing)
        except Interrupted as e:
            with timing.phase("checkpoints"):
                _write_pending(run, s)
            if run.last_checkpoint.exists():
                then = f"the checkpoint {s.written_at or f'after epoch {s.epoch_done}'}: --resume continues from it"
            else:  # (--resume would refuse: nothing to continue from)
                then = "no checkpoint yet: the same command without --resume starts the run again"
            # (said once, by whoever catches the Interrupted below: the command's one line)
            timing.info.pop("ended", None)
            _session_timing(run, s, timing, interrupted=str(e))
            # (the epoch as data too: a caller says it in its own words, rnnlab.estimators). Inside an
            # epoch not yet recorded (its training or evaluation placed it): during that epoch. Else
            # the stop came between epochs, or was held to the end of the epoch it came in, whose
            # record and checkpoint state are whole: during the next epoch, which it kept from
            # running, where the run has one; after the run's last, never an epoch past the budget.
            inside = place_of(e)
            if inside is not None and inside.epoch is not None and inside.epoch > s.epoch_done:
                stopped = Place("training", inside.epoch)
            elif s.epoch_done < s.epochs and not (s.stopped_early or s.stopped_by_caller):
                stopped = Place("training", s.epoch_done + 1)
            else:
                stopped = Place("after_epoch", s.epoch_done)
            raise placed_at(Interrupted(e.signum, f"{e} {stopped}; {then}"), stopped) from None

    def session_timing(**more: Any) -> None:
        timing.info.pop("ended", None)
        _session_timing(run, s, timing, **more)

    if stop_after is not None and s.epoch_done < _last_epoch(s, None, 0) and not s.stopped_by_caller:
        # A pause (a time budget), not the run's end: the test split is evaluated once, when the run
        # ends, and a fit is judged on the run's whole budget; the last epoch's checkpoint is written.
        if tracker is not None:
            tracker.close()
        session_timing(ended=f"paused after epoch {s.epoch_done} (stop_after = {stop_after}): train(..., "
                             "resume=True) continues it")
        records = run.read_metrics()
        return TrainResult(run.path, s.epoch_done, False, records[-1] if records else {}, None, {}, None, s.model,
                           timing=timing, paused=True)

    try:
        if tracker is not None:
            tracker.close()
        # (restored first: what is measured after training is of the weights the run tests, not of
        # those it throws away, and the files name their epoch)
        kept = _restore_best(run, s)
        through_time = None
        if config.tracking.enabled and config.tracking.grad_through_time:
            step, epoch = kept if kept is not None else (s.step, s.epoch_done)
            with timing.phase("grad_through_time"):
                through_time = _record_grad_through_time(run, s.model, s.data, config, step, epoch, log)
        result = _finish(run, s, through_time, timing, log, spelling, carried_guard,
                         evaluated_epoch=kept[1] if kept is not None else None)
    except BaseException as e:
        # (Ctrl-C or a failure after the last epoch: the session's steps and times are recorded as an
        # interrupted one's, so a --resume counts them among its earlier sessions)
        said = str(e).splitlines()[0] if str(e) else ""
        with contextlib.suppress(OSError, RnnlabError):
            session_timing(interrupted=f"{type(e).__name__} after epoch {s.epoch_done}" + (f": {said}" if said else ""))
        raise
    session_timing()
    return result


def _session_timing(run: RunDir, s: _Session, timing: Timing, **more: Any) -> None:
    """Write this session's ``timing.json`` as it stands (:class:`Timing`): its threads, device,
    steps and checkpoints, and ``more`` (how it ended)."""
    timing.info.update(threads=s.threads.to_dict(), **describe(s.device), precision=s.config.training.precision,
                       computation=computations(members_of(s.model)[0].rnn), steps=s.step - s.session_steps_from,
                       checkpoints_written=s.checkpoints_written, **more)
    timing.write(run)


def _epochs(run: RunDir, s: _Session, tracker: Any, progress: bool | None, log: Log, stop_after: int | None,
            on_epoch: EpochCallback | None, timing: Timing) -> None:
    """The epochs of this session: train, evaluate, record, checkpoint when due, stop or go on."""
    monitor = s.config.training.early_stopping.monitor
    first = s.epoch_done
    started, steps_from = time.perf_counter(), s.step  # (the ETA's mean: this session's epochs alone)
    while s.epoch_done < _last_epoch(s, stop_after, first):  # (a budget that follows the fit moves the end)
        epoch = s.epoch_done + 1
        with timing.phase("training"):
            stats = _train_epoch(run, s, epoch, tracker, progress, timing)
        with timing.phase("evaluation"):
            record = _epoch_record(s, epoch, stats)
        improved = s.stopper.update(record[monitor], epoch) if len(s.data.val) else False
        s.stopped_early = s.stopper.should_stop
        run.check_present("training", f"epoch {epoch}'s record not written")
        # An epoch's record and its checkpoint state, whole: a stop that lands between them is
        # raised after (it left the checkpoint written at the stop one epoch behind the records).
        with held_stops():
            run.append(run.metrics, record)
            s.stopped_by_caller = on_epoch is not None and on_epoch(record)
            fit_seconds = None
            if s.budget is not None:
                # (its evaluations of the training split: timed apart, so that the epoch lines and
                # timing.json add up to the session's time)
                fit_started = time.perf_counter()
                with timing.phase("fit_budget"):
                    _follow_fit(run, s, record, log)
                fit_seconds = time.perf_counter() - fit_started
            last = _last_epoch(s, stop_after, first)
            due = epoch == 1 or epoch == last or s.stopped_early or s.stopped_by_caller or _checkpoint_due(s)
            written = s.checkpoints_written
            with timing.phase("checkpoints"):
                _checkpoint(run, s, epoch, improved, due)
            s.epoch_done = epoch
            # (said before a stop held meanwhile is raised: every recorded epoch has its line, and
            # the stop's "checkpoint after epoch N" follows epoch N's)
            if log is not None:
                eta = _eta(s, stop_after, first, time.perf_counter() - started, s.step - steps_from)
                _say(log, _epoch_line(record, s.epochs, s.task, fit_seconds, eta))
        if s.checkpoints_written > written:
            # (the session's record as of this checkpoint, which a --resume keeps among its earlier
            # sessions: a process killed outright writes nothing more; the session's end replaces it)
            run.check_present("training", f"timing.json after epoch {epoch} not written")
            _session_timing(run, s, timing, ended=f"killed or still running: recorded at the checkpoint after epoch {epoch}")
        if s.stopped_by_caller:
            break
        if s.stopped_early:
            _say(log, f"early stopping: {monitor} has not improved for {s.stopper.patience} epochs "
                      f"(best {s.stopper.best:.4g} at epoch {s.stopper.best_epoch})")
            break


def _epoch_line(r: dict[str, Any], epochs: int, task: Task, fit_seconds: float | None = None, eta: str = "") -> str:
    """An epoch's console line; ``fit_seconds``: the fit budget's time after the epoch's record
    (``adapt.budget``), said apart from the record's time (training and validation); ``eta``:
    the time left (:func:`_eta`), last.

    >>> r = {"epoch": 3, "train_loss": 0.5, "train_acc": 0.75, "lr": 1e-3, "grad_norm": 2.0, "time": 1.25}
    >>> _epoch_line(r, 10, CLASSIFICATION, 0.5, "eta 0m09s")
    'epoch   3/10  loss 0.5000  acc 0.750  lr 1.00e-03  |g| 2  1.2s + fit budget 0.5s  eta 0m09s'

    An epoch the budget ended within (:func:`partial_epoch`) says so:

    >>> _epoch_line({**r, "epoch": 10, "steps_in_epoch": 2, "steps_per_epoch": 8}, 10, CLASSIFICATION)[:40]
    'epoch  10/10 (partial: 2 of 8 steps)  lo'
    """
    m = task.headline
    partial = partial_epoch(r)
    said = (f" (partial: {partial[0]} of {partial[1]} {'windows' if task.stream else 'steps'})" if partial else "")
    parts = [f"epoch {r['epoch']:>3}/{epochs}{said}", f"loss {r['train_loss']:.4f}",
             f"{m.name} {m.show(r[m.key('train')], True)}"]
    if "val_loss" in r:
        parts += [f"val_loss {r['val_loss']:.4f}", f"val_{m.name} {m.show(r[m.key('val')], True)}"]
    took = f"{r['time']:.1f}s" + (f" + fit budget {fit_seconds:.1f}s" if fit_seconds is not None else "")
    parts += [f"lr {r['lr']:.2e}", f"|g| {r['grad_norm']:.3g}", took] + ([eta] if eta else [])
    return "  ".join(parts)


def _eta(s: _Session, stop_after: int | None, first: int, elapsed: float, done: int) -> str:
    """The time the run has left, for the epoch line just finished: the mean wall time of an
    optimizer step in this session (``done`` steps in ``elapsed`` seconds, since epoch ``first``:
    training, evaluation, checkpoints, the fit budget's evaluations) times the steps left of the
    budget (a stream's last epoch may stop part way, so steps, not epochs). "at most" where the
    run may end sooner (early stopping, the fit budget's early end); where ``adapt.budget`` may
    extend the run, the most it can take besides. "" before any step.

    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(steps_per_epoch=10, epochs=5, epoch_done=2, step=20, stopped_early=False,
    ...                     stopped_by_caller=False, budget=None, config=parse_config('[data]\\ndataset = "UnitTest"'),
    ...                     data=SimpleNamespace(val=[1]))
    >>> _eta(s, None, 0, 4.0, 20), _eta(s, 3, 0, 4.0, 20)
    ('eta 0m06s', 'eta 0m02s')
    """
    if done <= 0:
        return ""

    per_step = elapsed / done

    def steps_to(epochs: int) -> int:
        return _steps_to(s.config, s.steps_per_epoch, epochs)

    left = 0 if s.stopped_by_caller else max(steps_to(_last_epoch(s, stop_after, first)) - s.step, 0)
    text = seconds_text(per_step * left)
    if left == 0:
        return f"eta {text}"
    sooner = s.config.training.early_stopping.patience > 0 and len(s.data.val) > 0
    if s.budget is not None:
        cap = s.budget.cap // s.steps_per_epoch
        most = max(steps_to(cap if stop_after is None else min(cap, first + stop_after)) - s.step, 0)
        if most > left:
            return f"eta {text} (adapt.budget: at most {seconds_text(per_step * most)})"
        sooner = True
    return f"eta at most {text}" if sooner else f"eta {text}"


def _restore_best(run: RunDir, s: _Session) -> tuple[int, int] | None:
    """Early stopping's best weights (by validation) put back into ``s.model`` from ``best.pt``:
    ``(step, epoch)`` of those weights, which the measurements after training, the findings and
    the test are all of; None where the last epoch's weights stay (no early stopping, or no
    ``best.pt``)."""
    if s.stopper.patience <= 0 or not run.best_checkpoint.exists():
        return None
    ckpt = load_checkpoint(run.best_checkpoint)
    s.model.load_state_dict(ckpt["model"])
    return int(ckpt["step"]), s.stopper.best_epoch


def _finish(run: RunDir, s: _Session, through_time: dict[str, Any] | None, timing: Timing, log: Log,
            spelling: KeySpelling | None = None, carried_guard: CarriedGuard | None = None, *,
            evaluated_epoch: int | None = None) -> TrainResult:
    """Evaluate the trained model, whose weights :func:`_restore_best` set (``evaluated_epoch``:
    the epoch it restored, None: the last), the findings after training, and summary.json; the
    mean guard's decision, the run's own or ``carried_guard``, applied before the evaluation."""
    model, data, config, stopper = s.model, s.data, s.config, s.stopper
    records = run.read_metrics()
    best = next((r for r in records if r["epoch"] == stopper.best_epoch), None)
    guard = None
    if config.task.mean_guard:
        with timing.phase("evaluation"):
            guard = _mean_guard(s)
        _say(log, guard.line())
    with timing.phase("evaluation"):
        train_tally = s.tally(data.evaluated_train)
        baseline_tallies = _baselines(s)
    baselines = _baseline_figures(s, baseline_tallies)
    train_eval = _with_skill(train_tally.result(), baselines, data.reference)
    if carried_guard is not None and s.task.kind == "forecasting":
        # (its own reference forecast is what a zero correction predicts)
        carried_guard = replace(carried_guard, baseline={"none": "the training mean"}.get(
            data.reference, data.reference.replace("_", " ")))
    findings = _fit_findings(run, records, train_eval, config, len(data.val), through_time, s.stopped_by_caller,
                             data.text.unigram_entropy() if data.text is not None else None, evaluated_epoch,
                             _chance(s.task, data.val), guard, _chance(s.task, data.evaluated_train), spelling,
                             data.reference, by_target=_by_target({"train_eval": train_tally}), carried=carried_guard)
    decided = guard if guard is not None else carried_guard
    if carried_guard is not None:
        _say(log, carried_guard.line())
    if decided is not None and (not decided.kept or decided.at_mean):
        # (after the findings, which judge how the trained model fits; from here on the run predicts the
        # mean, of every target or of those that failed their own test)
        predict_the_mean(model, decided.mean_targets)
        with timing.phase("evaluation"):
            train_tally = s.tally(data.evaluated_train)
            train_eval = _with_skill(train_tally.result(), baselines, data.reference)
    with timing.phase("evaluation"):
        test_tally = s.tally(data.test) if data.test is not None else None
        # (the validation records are the epochs'; the evaluated weights' classes on it, for summary.json)
        val_tally = s.tally(data.val) if s.task.kind == "classification" and len(data.val) else None
    test = test_tally.result() if test_tally is not None else None
    result = TrainResult(run.path, len(records), s.stopped_early, records[-1] if records else {}, best,
                         train_eval, test, model, findings, timing, baselines=baselines, mean_guard=decided,
                         text=data.text.counts() if data.text is not None else None,
                         by_channel=_by_channel(data.columns, {"train_eval": train_tally, "test": test_tally},
                                                baseline_tallies), data_notes=s.data_notes,
                         reference=data.reference if baselines is not None else None,
                         by_class=_by_class(data.classes, {"train_eval": train_tally, "val": val_tally,
                                                           "test": test_tally}))
    # (which rnnlab, torch and Python wrote it: a run read by another version says what it was)
    atomic_write_json(run.summary, {**result.to_dict(), "versions": versions()})
    return result


def _by_class(classes: list[str], tallies: dict[str, Tally | RegressionTally | None]) -> dict[str, Any] | None:
    """:attr:`TrainResult.by_class`: each classifier tally's :meth:`rnnlab.task.Tally.by_class`
    (``classes``: the run's class names), the majority class on every split the training part's
    (``train_eval``); None where no tally counted classes.

    >>> import torch
    >>> t = CLASSIFICATION.tally()
    >>> t.add(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), torch.tensor([0, 1, 1]))
    >>> _by_class(["a", "b"], {"test": t, "val": None})["test"]["balanced_acc"]
    0.75
    """
    train = tallies.get("train_eval")
    trained = train.by_class(classes) if isinstance(train, Tally) else None
    # (what a model that learnt nothing predicts on every split: the training part's majority class)
    majority = trained["majority"] if trained else None
    figures = {part: t.by_class(classes, majority) for part, t in tallies.items() if isinstance(t, Tally)}
    kept = {part: f for part, f in figures.items() if f is not None}
    return kept or None


def _with_skill(train_eval: dict[str, float], baselines: dict[str, Any] | None,
                reference: str = "seasonal_naive") -> dict[str, float]:
    """``train_eval`` with a forecaster's fit figure, ``skill``: 1 - MASE over its reference
    forecast's on the same training steps (the naive or seasonal-naive forecast it learns
    corrections to, ``reference``: :func:`rnnlab.doctor.fit.skill_reference`), so that a model that
    learnt nothing scores 0 (unchanged for other tasks).

    >>> _with_skill({"mase": 0.4}, {"train": {"naive": {"mase": 0.5}, "seasonal_naive": {"mase": 1.0}}}, "naive")
    {'mase': 0.4, 'skill': 0.19999999999999996}
    """
    from rnnlab.doctor.fit import skill_reference

    if baselines is not None and "train" in baselines:
        against = baselines["train"][skill_reference(reference)]["mase"]
        train_eval["skill"] = 1.0 - train_eval["mase"] / max(against, 1e-12)
    return train_eval


def _mean_guard(s: _Session) -> MeanGuard:
    """``[task] mean_guard``: judge the (restored) model against the training mean on the
    validation part (:func:`rnnlab.train.mean_guard.judge`)."""
    pairs = list(split_outputs(s.model, s.data.val, tensors=s.tensors(s.data.val)))
    outputs = torch.cat([o for o, _ in pairs]).double().cpu().numpy()
    y = torch.cat([t for _, t in pairs]).double().cpu().numpy()
    if s.task.kind != "forecasting":
        # (the split's scale is the training part's: the training mean's absolute errors in the data's
        # units, which give the val_mae of a run that predicts it)
        return judge(outputs, y, names=s.task.target_names(y.shape[-1]), std=s.data.val.scale.std)
    # A forecaster's rows are the validation block's origins (NaN targets: outside the block); its
    # targets are corrections to the reference forecast, so the guard's 0 is that forecast. (Origins
    # next to each other share steps ahead and errors: z counts them as independent, which flatters
    # the model; the guard errs toward keeping it.)
    scored = ~np.isnan(y).any(axis=-1)
    baseline = {"none": "the training mean"}.get(s.data.reference, s.data.reference.replace("_", " "))
    return judge(outputs[scored], y[scored], baseline=baseline, rows="origins")


def _baselines(s: _Session) -> dict[str, dict[str, RegressionTally]] | None:
    """A stream's naive and seasonal-naive forecasts, scored on each split as the model is
    (:func:`rnnlab.data.stream.baseline_tallies`): ``{split: {forecast: tally}}``."""
    if s.task.kind != "forecasting":  # (a language model is a stream with no forecasts to compare)
        return None
    from rnnlab.data.stream import baseline_tallies

    out = {}
    for split, part in (("train", s.data.evaluated_train), ("val", s.data.val), ("test", s.data.test)):
        if part is not None and len(part):
            out[split] = baseline_tallies(part, s.task, s.data.reference)
    return out


def _baseline_figures(s: _Session, tallies: dict[str, dict[str, RegressionTally]] | None
                      ) -> dict[str, dict[str, dict[str, float]]] | None:
    """The task's metrics of :func:`_baselines`' tallies: ``{split: {forecast: {metric: value}}}``
    (summary.json's ``baselines``)."""
    if tallies is None:
        return None
    names = [m.name for m in s.task.metrics]
    return {split: {k: {m: t.result()[m] for m in names} for k, t in forecasts.items()}
            for split, forecasts in tallies.items()}


def _by_channel(columns: list[str], tallies: dict[str, Tally | RegressionTally | None],
                baselines: dict[str, dict[str, RegressionTally]] | None) -> dict[str, Any] | None:
    """A forecaster's figures of each of its channels (more than one), from the same tallies as
    its figures over all of them (so their mean is the run's ``mase``): ``{"train_eval" |
    "test": {metric: {channel: value}}, "baselines": {split: {forecast: {metric: {channel:
    value}}}}}``; None for one channel or another task.

    >>> import torch
    >>> from rnnlab.task import FORECASTING, TargetScale
    >>> t = FORECASTING.tally(TargetScale(np.zeros(2), np.ones(2), np.array([1.0, 2.0])))
    >>> t.add(torch.tensor([[1.0, 1.0]]), torch.zeros(1, 2))
    >>> _by_channel(["load", "temp"], {"test": t}, {})
    {'test': {'mase': {'load': 1.0, 'temp': 0.5}}, 'baselines': {}}

    A regression's of K > 1 targets, by the task's target names (:meth:`rnnlab.task.Task.target_names`):
    each target's RMSE, MAE and R² on each split evaluated (their mean is the run's ``r2``), and
    under ``"scale"`` each target's training standard deviation (``std``, the data's units):

    >>> from dataclasses import replace
    >>> from rnnlab.task import REGRESSION
    >>> r = replace(REGRESSION, targets=("conc", "count")).tally(TargetScale(np.zeros(2), np.array([0.01, 10.0])))
    >>> r.add(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
    >>> _by_channel([], {"test": r}, None)["test"]["rmse"], _by_channel([], {"test": r}, None)["scale"]
    ({'conc': 0.0, 'count': 10.0}, {'std': {'conc': 0.01, 'count': 10.0}})
    """
    if baselines is None:
        return _by_target(tallies)
    if len(columns) < 2:
        return None

    def named(tally: RegressionTally) -> dict[str, dict[str, float]]:
        return {m: dict(zip(columns, v, strict=True)) for m, v in tally.by_channel().items()}

    out: dict[str, Any] = {part: named(t) for part, t in tallies.items() if isinstance(t, RegressionTally)}
    out["baselines"] = {split: {k: named(t) for k, t in forecasts.items()} for split, forecasts in baselines.items()}
    return out


def _by_target(tallies: dict[str, Tally | RegressionTally | None]) -> dict[str, Any] | None:
    """:func:`_by_channel` of a regression's K > 1 targets; None for one target or another task."""
    scored = {part: t for part, t in tallies.items()
              if isinstance(t, RegressionTally) and t.per_target is not None and len(t.std) > 1}
    if not scored:
        return None
    first = next(iter(scored.values()))
    names = first.task.target_names(len(first.std))
    out: dict[str, Any] = {part: {m: dict(zip(names, v, strict=True)) for m, v in t.by_channel().items()}
                           for part, t in scored.items()}
    out["scale"] = {"std": dict(zip(names, (first.std * first.unit).tolist(), strict=True))}
    return out


def _chance(task: Task, val: Sequences) -> float | None:
    """What the part ``val`` scores without learning from the inputs: for the no-signal finding
    (:func:`rnnlab.doctor.fit_findings`' ``chance``, on the validation part) and the underfit one
    (its ``majority``, on the training part), a classifier's majority-class rate
    (per step: over the labelled steps); None where it is not judged this way (no such part,
    or another task: a regression's is judged from its mean guard, whose paired comparison with
    the training mean measures the noise an R² of 0 has on a few dozen series).

    >>> from rnnlab.data.bundled import Sequences
    >>> from rnnlab.task import CLASSIFICATION
    >>> _chance(CLASSIFICATION, Sequences(np.zeros((4, 2, 1)), np.array([0, 1, 1, 1]), np.array([2] * 4), ["a", "b"]))
    0.75
    """
    labels = _labels(task, val)
    return None if labels is None else float(np.unique(labels, return_counts=True)[1].max() / labels.size)


def _labels(task: Task, part: Sequences) -> np.ndarray | None:
    """A classifier's labels of ``part`` (per step: of its labelled steps); None for another task,
    or where there are none."""
    if task.kind != "classification" or len(part) == 0:
        return None
    labels = np.asarray(part.y)
    labels = labels[labels != PAD_LABEL] if task.per_step else labels
    return labels if labels.size else None


def _fit_findings(run: RunDir, records: list[dict[str, Any]], train_eval: dict[str, float], config: Config,
                  n_val: int, through_time: dict[str, Any] | None, stopped_by_caller: bool,
                  unigram: float | None = None, epoch: int | None = None, chance: float | None = None,
                  guard: MeanGuard | None = None, majority: float | None = None,
                  spelling: KeySpelling | None = None, reference: str | None = None,
                  by_target: dict[str, Any] | None = None, carried: CarriedGuard | None = None) -> list[Finding]:
    """Underfit / overfit findings from the run's records (``unigram``: a language model's
    training-part unigram entropy; ``chance``: :func:`_chance` of the validation part,
    ``majority`` of the training part; ``guard``: a regression's mean
    guard, whose comparison with the training mean judges its no-signal finding; ``by_target``: a
    regression's figures per target, :func:`_by_target`; ``carried``: a final run's guard decision
    from its fold runs); with health checks on, they join
    the findings from before training in health.json (a resumed run replaces its earlier ones)."""
    from rnnlab.doctor import Report, fit_findings

    earlier = Report.read(run) if run.health.exists() else Report([], {})
    before = [f for f in earlier if f.phase == "before_training"]
    findings = fit_findings(records, train_eval, config, n_val=n_val, before=before, through_time=through_time,
                            stopped_by_caller=stopped_by_caller, unigram=unigram, epoch=epoch, chance=chance,
                            guard=guard, majority=majority, spelling=spelling, reference=reference, by_target=by_target,
                            carried=carried)
    if config.tracking.enabled and config.tracking.health:
        # (the checks that did not run before training, and when it ran, stay recorded beside them)
        measured = run.read_health_measured() if run.health.exists() else None
        Report(findings + before, earlier.skipped).write(
            run, **({"step": measured.get("step"), "epoch": measured.get("epoch")} if measured else {}))
    return findings


def load_run_config(run_dir: str | Path) -> Config:
    """The config a run trained with: RUN_DIR/config.toml, or where that was edited after the
    run, its checkpoint's (:meth:`rnnlab.rundir.RunDir.read_trained_config`: the weights were
    trained with it, and an edited ``hidden_size`` would not even load them); a
    :class:`rnnlab.errors.CheckpointConfigUsed` warning says when the checkpoint's is used."""
    run = RunDir(run_dir)
    if not run.config.exists():
        recorded = _recorded_config(run)
        if recorded is None:
            raise run.no_config()
        warnings.warn(f"{run.path}: {run.config.name} is missing: using the config its checkpoint recorded",
                      CheckpointConfigUsed, stacklevel=2)
        return recorded
    trained = run.read_trained_config()
    if trained.edits:
        warnings.warn(f"{run.path}: {trained.edited_line()}", CheckpointConfigUsed, stacklevel=2)
    return trained.config


def _recorded_config(run: RunDir) -> Config | None:
    """The config a checkpoint of ``run`` recorded (its last, else its best), for a run whose
    config.toml is gone; None where no checkpoint is readable."""
    for path in (run.last_checkpoint, run.best_checkpoint):
        try:
            text = load_checkpoint(path).get("config")
            if isinstance(text, str):
                return parse_config(text, source=f"{path} (its config)", recorded=True)
        except (CheckpointError, ConfigError):
            continue
    return None


def iter_epochs(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """The per-epoch metric records of a run."""
    yield from RunDir.existing(run_dir).read_metrics()
