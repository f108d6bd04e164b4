"""The memory a model's parameters will take, checked before any of it is allocated.

Sizes in a config are bounded (``rnnlab.config.MAX_WIDTH``, ...), but widths within the bounds
can still multiply into more than the machine holds (``hidden_size = 60000`` is 14 G parameters
in an LSTM): the allocator would fail after minutes, or the machine would swap. The model is
built on PyTorch's ``meta`` device (shapes only, nothing allocated) to count its parameters;
training holds each in float32 four times (weights, gradients, two optimizer moments).

Example:
    >>> from rnnlab.config import ModelConfig
    >>> parameter_bytes(ModelConfig(hidden_size=8), input_size=1, num_classes=2) > 0
    True
    >>> check_memory(ModelConfig(hidden_size=60000), 1, 2, available=16 * 2**30)
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: model sizes (model.hidden_size = 60000): training would hold 14.4 G parameters, about 215 GiB with their gradients and optimizer state, more than the 16 GiB of memory available; expected smaller sizes
"""

from __future__ import annotations

import os

import torch

from rnnlab.config import ModelConfig
from rnnlab.errors import ConfigError

#: float32 copies of each parameter while training: weights, gradients, two optimizer moments
COPIES = 4


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


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable), None where it cannot be read."""
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


def check_memory(cfg: ModelConfig, input_size: int, num_classes: int, available: int | None = None) -> None:
    """A :class:`ConfigError` naming the size keys when training the model would need more
    memory than is ``available`` (default: what the machine has available now)."""
    available = available_memory() if available is None else available
    if available is None:
        return
    params, buffers = _count(cfg, input_size, num_classes)
    need = 4 * (COPIES * params + buffers)
    if need > available:
        raise ConfigError(
            f"model sizes ({_size_keys(cfg)}): training would hold {params / 1e9:.3g} G parameters, about "
            f"{need / 2**30:.3g} GiB with their gradients and optimizer state, more than the "
            f"{available / 2**30:.3g} GiB of memory available; expected smaller sizes")
