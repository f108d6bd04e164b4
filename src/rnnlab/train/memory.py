"""The memory training will take, checked before any of it is allocated.

Sizes in a config are bounded (``rnnlab.config.MAX_WIDTH``, ...), but widths within the bounds
can still multiply into more than the machine holds (``hidden_size = 60000`` is 14 G parameters
in an LSTM), and so can long sequences: a forward and backward pass keeps every recurrent step's
tensors until the backward pass has used them (16 series of 20000 steps through an LSTM of 128
units keep about 3 GiB). The allocator would fail after minutes, or the machine would swap.

The estimate (:func:`training_bytes`) is the parameters, built on PyTorch's ``meta`` device
(shapes only, nothing allocated) and held in float32 four times (weights, gradients, two
optimizer moments), plus the larger of the training step's activations and those of the passes
of the health check and gradient through time over ``tracking.inspect_steps``. The activations
are batch × recurrent steps × hidden size × 4 bytes × :data:`SAVED` (the tensors a step of the
layer keeps for the backward pass, measured) × layers × directions, plus a front-end's conv
blocks and a per-step head. Measured as peak RSS growth over one forward + backward in a fresh
process (lstm, gru, rnn, indrnn; regularizers, layer norm, bidirectional, two layers, per-step;
hidden 32-128, 1000-3000 steps, activations of 30-450 MB), it is an upper bound within 1.5× of
the measurement (1.1-1.4×) (more at smaller sizes, where the allowance for each step's graph dominates).

Example:
    >>> from rnnlab.config import ModelConfig
    >>> parameter_bytes(ModelConfig(hidden_size=8), input_size=1, num_classes=2) > 0
    True
    >>> check_memory(ModelConfig(hidden_size=60000), 1, 2, available=16 * 2**30)
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: model sizes (model.hidden_size = 60000): training would hold 14.4 G parameters, about 215 GiB with their gradients and optimizer state, more than the 16 GiB of memory available; expected smaller sizes
    >>> check_memory(ModelConfig(hidden_size=128), 3, 4, available=2 * 2**30, plan=StepPlan(16, 20000))
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: memory of a training step (model.hidden_size = 128, training.batch_size = 16, 20000 steps a batch): a forward and backward pass keeps about 3.24 GiB of activations, 3.24 GiB needed against the 2 GiB of memory available; lower model.hidden_size or training.batch_size, or shorten the recurrent steps (the series' length, training.stateful_window, a front-end's pooling)
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from rnnlab.config import ModelConfig
from rnnlab.errors import ConfigError

if TYPE_CHECKING:
    from rnnlab.config import Config

#: float32 copies of each parameter while training: weights, gradients, two optimizer moments
COPIES = 4

#: float32 tensors of the hidden size that one recurrent step of each layer keeps for the backward
#: pass, per series, rounded up from the measurement (lstm 15-19 with the template's regularizers,
#: gru 28, rnn 3.4, indrnn 6.2), with room for mean/max pooling over the outputs
SAVED = {"lstm": 21, "gru": 31, "rnn": 4, "indrnn": 7}

#: bytes each recurrent step's autograd graph takes beside its tensors (nodes, views), per layer
#: and direction, whatever the batch: what dominates at small widths
STEP_OVERHEAD = 2048

#: float32 tensors of a front-end block's width it keeps per step (conv, norm, activation, pool)
FRONTEND_SAVED = 6


@dataclass(frozen=True)
class StepPlan:
    """What a training step runs over: ``batch_size`` series of ``steps`` steps (a series' length,
    or ``training.stateful_window``), a head on every step when ``per_step``, and the health
    check's and gradient through time's passes over ``inspect_steps`` steps (0: none).

    >>> StepPlan(16, 20000).inspect_steps
    0
    """

    batch_size: int
    steps: int
    per_step: bool = False
    inspect_steps: int = 0
    window: bool = False

    @classmethod
    def of(cls, config: Config, length: int, per_step: bool) -> StepPlan:
        """The plan of ``config``'s training on series of ``length`` steps.

        >>> from rnnlab.config import parse_config
        >>> StepPlan.of(parse_config('[data]\\ndataset = "GunPoint"'), 150, False).steps
        150
        """
        tc, tr = config.training, config.tracking
        window = bool(tc.stateful_window) and tc.stateful_window < length
        inspect = min(length, tr.inspect_steps) if tr.enabled and (tr.health or tr.grad_through_time) else 0
        return cls(tc.batch_size, tc.stateful_window if window else length, per_step, inspect, window)


def _count(cfg: ModelConfig, input_size: int, num_classes: int) -> tuple[int, int]:
    from rnnlab.train.model import SequenceClassifier

    with torch.device("meta"):
        model = SequenceClassifier(input_size, num_classes, cfg)
    n = cfg.ensemble  # (members are alike)
    return n * sum(p.numel() for p in model.parameters()), n * sum(b.numel() for b in model.buffers())


def parameter_bytes(cfg: ModelConfig, input_size: int, num_classes: int) -> int:
    """Bytes the model's parameters (with gradients and optimizer moments) and buffers take in training."""
    params, buffers = _count(cfg, input_size, num_classes)
    return 4 * (COPIES * params + buffers)


def activation_bytes(cfg: ModelConfig, num_classes: int, batch_size: int, steps: int, per_step: bool = False) -> int:
    """Bytes one forward and backward pass over ``batch_size`` series of ``steps`` steps keeps
    for its backward pass (an upper bound: the module docstring's rule).

    >>> activation_bytes(ModelConfig(hidden_size=128), 4, 16, 20000) / 2**30
    3.24...
    """
    recurrent_steps = steps
    per_series = 0
    if cfg.frontend is not None:
        for block in cfg.frontend.conv_blocks:
            per_series += 4 * FRONTEND_SAVED * block.channels * block.conv_steps(recurrent_steps)
            recurrent_steps = block.steps_after(recurrent_steps)
    directions = 2 if cfg.bidirectional else 1
    width = cfg.hidden_size * directions
    per_series += cfg.num_layers * recurrent_steps * 4 * SAVED[cfg.layer] * width
    graph = cfg.num_layers * directions * recurrent_steps * STEP_OVERHEAD
    if per_step:  # the head on every step: its input, hidden layer and logits, with their gradients
        per_series += 4 * 2 * recurrent_steps * (width + cfg.head.hidden + num_classes)
    return cfg.ensemble * (batch_size * per_series + graph)


def training_bytes(cfg: ModelConfig, input_size: int, num_classes: int, plan: StepPlan) -> tuple[int, int]:
    """(parameter bytes, activation bytes) of training by ``plan``: the larger of the training
    step's activations and those of the inspection passes (which also keep each step's gradient).

    >>> training_bytes(ModelConfig(hidden_size=8), 1, 2, StepPlan(4, 100))[1] > 0
    True
    """
    step = activation_bytes(cfg, num_classes, plan.batch_size, plan.steps, plan.per_step)
    inspect = 0
    if plan.inspect_steps:
        inspect = activation_bytes(cfg, num_classes, plan.batch_size, plan.inspect_steps, plan.per_step)
        inspect += 4 * 2 * plan.batch_size * plan.inspect_steps * cfg.hidden_size * (1 + cfg.bidirectional)
    return parameter_bytes(cfg, input_size, num_classes), max(step, inspect)


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """What the process's cgroup may still take (v2 ``memory.max``, v1 ``memory.limit_in_bytes``)."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":  # v2
            limit_file, used_file = "memory.max", "memory.current"
        elif "memory" in parts[1].split(","):  # v1
            limit_file, used_file = "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        base = "/sys/fs/cgroup/" if parts[0] == "0" else "/sys/fs/cgroup/memory/"
        for folder in (base + parts[2].lstrip("/"), base):  # (a container sees its own cgroup at the root)
            limit = _read_int(os.path.join(folder, limit_file))
            if limit is not None and limit < 2**60:  # ("max" or v1's page-rounded LONG_MAX: no limit)
                used = _read_int(os.path.join(folder, used_file)) or 0
                return max(0, limit - used)
    return None


def memory_room() -> tuple[int, str] | None:
    """The bytes of memory the process may still allocate and which limit that is: the least of
    the machine's MemAvailable, the cgroup's limit (less its usage) and the address-space limit
    RLIMIT_AS (``ulimit -v``, less the address space in use); None where none can be read."""
    rooms: list[tuple[int, str]] = []
    mem_available = _meminfo_available()
    if mem_available is not None:
        rooms.append((mem_available, "MemAvailable"))
    cgroup = _cgroup_room()
    if cgroup is not None:
        rooms.append((cgroup, "the cgroup's memory.max"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        rooms.append((max(0, soft - (_status_bytes("VmSize:") or 0)), "the address-space limit RLIMIT_AS (ulimit -v)"))
    return min(rooms) if rooms else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def available_memory() -> int | None:
    """Bytes of memory the process may still allocate (:func:`memory_room`), None where unknown.

    >>> (available_memory() or 1) > 0
    True
    """
    room = memory_room()
    return None if room is None else room[0]


def _size_keys(cfg: ModelConfig) -> str:
    keys = [f"model.hidden_size = {cfg.hidden_size}"]
    if cfg.num_layers > 1:
        keys.append(f"model.num_layers = {cfg.num_layers}")
    if cfg.recurrent_batch_norm:
        keys.append(f"model.batch_norm_steps = {cfg.batch_norm_steps}")
    if cfg.frontend is not None:
        keys.append("model.frontend channels = " + ", ".join(str(b.channels) for b in cfg.frontend.conv_blocks))
    if cfg.head.hidden:
        keys.append(f"model.head.hidden = {cfg.head.hidden}")
    if cfg.ensemble > 1:
        keys.append(f"model.ensemble = {cfg.ensemble}")
    return ", ".join(keys)


def lowering_keys() -> str:
    """What lowers the memory of a training step, in words (a refusal's and an out-of-memory error's).

    >>> lowering_keys()[:40]
    'lower model.hidden_size or training.batc'
    """
    return ("lower model.hidden_size or training.batch_size, or shorten the recurrent steps (the series' length, "
            "training.stateful_window, a front-end's pooling)")


def check_memory(cfg: ModelConfig, input_size: int, num_classes: int, available: int | None = None,
                 plan: StepPlan | None = None) -> None:
    """A :class:`ConfigError` naming the keys that lower it when training the model (by ``plan``,
    its activations too) would need more memory than is ``available`` (default: :func:`memory_room`)."""
    source = None
    if available is None:
        room = memory_room()
        if room is None:
            return
        available, source = room
    of = f" ({source})" if source else ""
    params, buffers = _count(cfg, input_size, num_classes)
    need = 4 * (COPIES * params + buffers)
    if need > available:
        raise ConfigError(
            f"model sizes ({_size_keys(cfg)}): training would hold {params / 1e9:.3g} G parameters, about "
            f"{need / 2**30:.3g} GiB with their gradients and optimizer state, more than the "
            f"{available / 2**30:.3g} GiB of memory available{of}; expected smaller sizes")
    if plan is None:
        return
    _, activations = training_bytes(cfg, input_size, num_classes, plan)
    if need + activations > available:
        steps = f"training.stateful_window = {plan.steps}" if plan.window else f"{plan.steps} steps a batch"
        raise ConfigError(
            f"memory of a training step (model.hidden_size = {cfg.hidden_size}, training.batch_size = "
            f"{plan.batch_size}, {steps}): a forward and backward pass keeps about {activations / 2**30:.3g} GiB "
            f"of activations, {(need + activations) / 2**30:.3g} GiB needed against the "
            f"{available / 2**30:.3g} GiB of memory available{of}; {lowering_keys()}")
