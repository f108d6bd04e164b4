"""The memory training will take, checked before any of it is allocated.

Sizes in a config are bounded (``rnnlab.config.MAX_WIDTH``, ...), but widths within the bounds
can still multiply into more than the machine holds (``hidden_size = 60000`` is 14 G parameters
in an LSTM), and so can long sequences: a forward and backward pass keeps every recurrent step's
tensors until the backward pass has used them (16 series of 20000 steps through an LSTM of 128
units keep about 2.6 GiB). The allocator would fail after minutes, or the machine would swap.

The estimate (:func:`training_bytes`) is the parameters, built on PyTorch's ``meta`` device
(shapes only, nothing allocated) and held in float32 four times (weights, gradients, two
optimizer moments), plus the larger of the training step's activations and those of the passes
of the health check and gradient through time over ``tracking.inspect_steps``. What a step keeps
depends on the computation that runs the layer, which the layer picks
(:func:`rnnlab.layers.computation.choose_computation`, asked through :func:`computation_of`):
torch's fused kernel keeps its gates, rnnlab's fast loop what its hand-written backward reads,
and the autograd loop (layer norm outside the LSTM, activations neither has, and the health
check's passes, which record gates or states) every operation's inputs, about twice as much.
The activations are batch × recurrent steps × hidden size × 4 bytes × (layers × directions ×
(:data:`KEPT` + :data:`OPTION_KEPT` of the regularizers on) + :data:`PEAK`), by computation and
layer kind, plus :data:`STEP_OVERHEAD` per step, layer and direction, a front-end's conv blocks
and a per-step head.

Measured as peak RSS growth over one forward + backward in a fresh process, under the training
process's heap policy (:mod:`rnnlab.heap`), after a warm-up on a tiny batch
(``benchmarks/bench_memory.py``: 64 series, 2 input channels, 4 classes; each layer plain, with
layer_norm, zoneout 0.1, recurrent_batch_norm, relu activation (an IndRNN's default), bidirectional,
2 layers, the template's regularizers together (recurrent_dropout 0.1, zoneout 0.1,
recurrent_batch_norm), zoneout bidirectional; hidden 64 and 256, 600 and 1200 steps), the
estimate of the step (activations and parameters) is an upper bound within 1.5× of the
measurement: 1.03-1.49× over this grid (MB: 10^6 bytes; the same configuration spreads by up to
1.4× between sizes, as the allocator's pages fall):

    | lstm plain, H=64, T=600 | torch | 154 | 167 | 1.09 |
    | lstm plain, H=64, T=1200 | torch | 307 | 335 | 1.09 |
    | lstm plain, H=256, T=600 | torch | 606 | 673 | 1.11 |
    | lstm plain, H=256, T=1200 | torch | 1208 | 1341 | 1.11 |
    | lstm layer_norm, H=64, T=600 | fast | 139 | 153 | 1.10 |
    | lstm layer_norm, H=64, T=1200 | fast | 269 | 305 | 1.13 |
    | lstm layer_norm, H=256, T=600 | fast | 549 | 599 | 1.09 |
    | lstm layer_norm, H=256, T=1200 | fast | 1070 | 1194 | 1.12 |
    | lstm zoneout, H=64, T=600 | fast | 105 | 123 | 1.17 |
    | lstm zoneout, H=64, T=1200 | fast | 204 | 246 | 1.21 |
    | lstm zoneout, H=256, T=600 | fast | 404 | 481 | 1.19 |
    | lstm zoneout, H=256, T=1200 | fast | 797 | 958 | 1.20 |
    | lstm recurrent_batch_norm, H=64, T=600 | fast | 139 | 155 | 1.12 |
    | lstm recurrent_batch_norm, H=64, T=1200 | fast | 272 | 307 | 1.13 |
    | lstm recurrent_batch_norm, H=256, T=600 | fast | 549 | 608 | 1.11 |
    | lstm recurrent_batch_norm, H=256, T=1200 | fast | 1081 | 1203 | 1.11 |
    | lstm relu, H=64, T=600 | autograd | 168 | 197 | 1.17 |
    | lstm relu, H=64, T=1200 | autograd | 314 | 393 | 1.25 |
    | lstm relu, H=256, T=600 | autograd | 549 | 732 | 1.33 |
    | lstm relu, H=256, T=1200 | autograd | 1127 | 1459 | 1.29 |
    | lstm bidirectional, H=64, T=600 | torch | 256 | 276 | 1.08 |
    | lstm bidirectional, H=64, T=1200 | torch | 469 | 551 | 1.17 |
    | lstm bidirectional, H=256, T=600 | torch | 927 | 1110 | 1.20 |
    | lstm bidirectional, H=256, T=1200 | torch | 1853 | 2211 | 1.19 |
    | lstm 2 layers, H=64, T=600 | torch | 247 | 276 | 1.12 |
    | lstm 2 layers, H=64, T=1200 | torch | 449 | 551 | 1.23 |
    | lstm 2 layers, H=256, T=600 | torch | 885 | 1114 | 1.26 |
    | lstm 2 layers, H=256, T=1200 | torch | 1766 | 2215 | 1.25 |
    | lstm template, H=64, T=600 | fast | 163 | 180 | 1.10 |
    | lstm template, H=64, T=1200 | fast | 317 | 357 | 1.12 |
    | lstm template, H=256, T=600 | fast | 628 | 707 | 1.13 |
    | lstm template, H=256, T=1200 | fast | 1238 | 1400 | 1.13 |
    | gru plain, H=64, T=600 | torch | 137 | 157 | 1.15 |
    | gru plain, H=64, T=1200 | torch | 294 | 315 | 1.07 |
    | gru plain, H=256, T=600 | torch | 454 | 632 | 1.39 |
    | gru plain, H=256, T=1200 | torch | 909 | 1262 | 1.39 |
    | gru layer_norm, H=64, T=600 | autograd | 245 | 275 | 1.12 |
    | gru layer_norm, H=64, T=1200 | autograd | 447 | 551 | 1.23 |
    | gru layer_norm, H=256, T=600 | autograd | 908 | 1045 | 1.15 |
    | gru layer_norm, H=256, T=1200 | autograd | 1815 | 2087 | 1.15 |
    | gru zoneout, H=64, T=600 | fast | 163 | 177 | 1.09 |
    | gru zoneout, H=64, T=1200 | fast | 326 | 354 | 1.09 |
    | gru zoneout, H=256, T=600 | fast | 591 | 696 | 1.18 |
    | gru zoneout, H=256, T=1200 | fast | 1220 | 1389 | 1.14 |
    | gru recurrent_batch_norm, H=64, T=600 | fast | 279 | 302 | 1.08 |
    | gru recurrent_batch_norm, H=64, T=1200 | fast | 519 | 601 | 1.16 |
    | gru recurrent_batch_norm, H=256, T=600 | fast | 1029 | 1194 | 1.16 |
    | gru recurrent_batch_norm, H=256, T=1200 | fast | 2058 | 2379 | 1.16 |
    | gru relu, H=64, T=600 | autograd | 158 | 192 | 1.21 |
    | gru relu, H=64, T=1200 | autograd | 322 | 384 | 1.19 |
    | gru relu, H=256, T=600 | autograd | 554 | 711 | 1.28 |
    | gru relu, H=256, T=1200 | autograd | 1157 | 1419 | 1.23 |
    | gru bidirectional, H=64, T=600 | torch | 225 | 246 | 1.09 |
    | gru bidirectional, H=64, T=1200 | torch | 450 | 492 | 1.09 |
    | gru bidirectional, H=256, T=600 | torch | 841 | 989 | 1.18 |
    | gru bidirectional, H=256, T=1200 | torch | 1685 | 1973 | 1.17 |
    | gru 2 layers, H=64, T=600 | torch | 229 | 246 | 1.08 |
    | gru 2 layers, H=64, T=1200 | torch | 437 | 492 | 1.13 |
    | gru 2 layers, H=256, T=600 | torch | 777 | 993 | 1.28 |
    | gru 2 layers, H=256, T=1200 | torch | 1552 | 1976 | 1.27 |
    | gru template, H=64, T=600 | fast | 279 | 302 | 1.08 |
    | gru template, H=64, T=1200 | fast | 559 | 601 | 1.08 |
    | gru template, H=256, T=600 | fast | 1088 | 1194 | 1.10 |
    | gru template, H=256, T=1200 | fast | 2137 | 2379 | 1.11 |
    | rnn plain, H=64, T=600 | torch | 40 | 48 | 1.21 |
    | rnn plain, H=64, T=1200 | torch | 78 | 96 | 1.24 |
    | rnn plain, H=256, T=600 | torch | 142 | 194 | 1.36 |
    | rnn plain, H=256, T=1200 | torch | 288 | 386 | 1.34 |
    | rnn layer_norm, H=64, T=600 | autograd | 89 | 113 | 1.27 |
    | rnn layer_norm, H=64, T=1200 | autograd | 179 | 226 | 1.26 |
    | rnn layer_norm, H=256, T=600 | autograd | 315 | 394 | 1.25 |
    | rnn layer_norm, H=256, T=1200 | autograd | 553 | 788 | 1.42 |
    | rnn zoneout, H=64, T=600 | fast | 75 | 93 | 1.25 |
    | rnn zoneout, H=64, T=1200 | fast | 149 | 187 | 1.25 |
    | rnn zoneout, H=256, T=600 | fast | 315 | 360 | 1.14 |
    | rnn zoneout, H=256, T=1200 | fast | 591 | 719 | 1.22 |
    | rnn recurrent_batch_norm, H=64, T=600 | fast | 112 | 123 | 1.10 |
    | rnn recurrent_batch_norm, H=64, T=1200 | fast | 223 | 246 | 1.10 |
    | rnn recurrent_batch_norm, H=256, T=600 | fast | 397 | 480 | 1.21 |
    | rnn recurrent_batch_norm, H=256, T=1200 | fast | 717 | 957 | 1.33 |
    | rnn relu, H=64, T=600 | torch | 40 | 48 | 1.21 |
    | rnn relu, H=64, T=1200 | torch | 79 | 96 | 1.22 |
    | rnn relu, H=256, T=600 | torch | 144 | 194 | 1.35 |
    | rnn relu, H=256, T=1200 | torch | 288 | 386 | 1.34 |
    | rnn bidirectional, H=64, T=600 | torch | 81 | 96 | 1.19 |
    | rnn bidirectional, H=64, T=1200 | torch | 174 | 193 | 1.11 |
    | rnn bidirectional, H=256, T=600 | torch | 326 | 388 | 1.19 |
    | rnn bidirectional, H=256, T=1200 | torch | 681 | 773 | 1.13 |
    | rnn 2 layers, H=64, T=600 | torch | 74 | 97 | 1.30 |
    | rnn 2 layers, H=64, T=1200 | torch | 170 | 193 | 1.13 |
    | rnn 2 layers, H=256, T=600 | torch | 377 | 389 | 1.03 |
    | rnn 2 layers, H=256, T=1200 | torch | 528 | 774 | 1.47 |
    | rnn template, H=64, T=600 | fast | 131 | 143 | 1.09 |
    | rnn template, H=64, T=1200 | fast | 262 | 286 | 1.09 |
    | rnn template, H=256, T=600 | fast | 456 | 559 | 1.23 |
    | rnn template, H=256, T=1200 | fast | 874 | 1114 | 1.27 |
    | indrnn plain, H=64, T=600 | fast | 70 | 77 | 1.10 |
    | indrnn plain, H=64, T=1200 | fast | 124 | 153 | 1.24 |
    | indrnn plain, H=256, T=600 | fast | 246 | 292 | 1.19 |
    | indrnn plain, H=256, T=1200 | fast | 492 | 584 | 1.19 |
    | indrnn layer_norm, H=64, T=600 | autograd | 67 | 93 | 1.39 |
    | indrnn layer_norm, H=64, T=1200 | autograd | 135 | 187 | 1.38 |
    | indrnn layer_norm, H=256, T=600 | autograd | 276 | 315 | 1.14 |
    | indrnn layer_norm, H=256, T=1200 | autograd | 543 | 629 | 1.16 |
    | indrnn zoneout, H=64, T=600 | fast | 84 | 99 | 1.18 |
    | indrnn zoneout, H=64, T=1200 | fast | 168 | 199 | 1.18 |
    | indrnn zoneout, H=256, T=600 | fast | 325 | 382 | 1.18 |
    | indrnn zoneout, H=256, T=1200 | fast | 669 | 765 | 1.14 |
    | indrnn recurrent_batch_norm, H=64, T=600 | fast | 111 | 123 | 1.11 |
    | indrnn recurrent_batch_norm, H=64, T=1200 | fast | 232 | 246 | 1.06 |
    | indrnn recurrent_batch_norm, H=256, T=600 | fast | 436 | 479 | 1.10 |
    | indrnn recurrent_batch_norm, H=256, T=1200 | fast | 813 | 956 | 1.18 |
    | indrnn relu, H=64, T=600 | fast | 70 | 77 | 1.10 |
    | indrnn relu, H=64, T=1200 | fast | 139 | 153 | 1.10 |
    | indrnn relu, H=256, T=600 | fast | 246 | 292 | 1.19 |
    | indrnn relu, H=256, T=1200 | fast | 492 | 584 | 1.19 |
    | indrnn bidirectional, H=64, T=600 | fast | 99 | 114 | 1.15 |
    | indrnn bidirectional, H=64, T=1200 | fast | 184 | 228 | 1.24 |
    | indrnn bidirectional, H=256, T=600 | fast | 315 | 427 | 1.35 |
    | indrnn bidirectional, H=256, T=1200 | fast | 572 | 853 | 1.49 |
    | indrnn 2 layers, H=64, T=600 | fast | 89 | 114 | 1.28 |
    | indrnn 2 layers, H=64, T=1200 | fast | 178 | 228 | 1.28 |
    | indrnn 2 layers, H=256, T=600 | fast | 316 | 428 | 1.35 |
    | indrnn 2 layers, H=256, T=1200 | fast | 572 | 854 | 1.49 |
    | indrnn template, H=64, T=600 | fast | 131 | 146 | 1.11 |
    | indrnn template, H=64, T=1200 | fast | 262 | 292 | 1.11 |
    | indrnn template, H=256, T=600 | fast | 495 | 569 | 1.15 |
    | indrnn template, H=256, T=1200 | fast | 971 | 1137 | 1.17 |
    | lstm zoneout bidirectional, H=64, T=600 | fast | 214 | 246 | 1.15 |
    | lstm zoneout bidirectional, H=64, T=1200 | fast | 421 | 492 | 1.17 |
    | lstm zoneout bidirectional, H=256, T=600 | fast | 837 | 962 | 1.15 |
    | lstm zoneout bidirectional, H=256, T=1200 | fast | 1659 | 1916 | 1.15 |
    | gru zoneout bidirectional, H=64, T=600 | fast | 252 | 276 | 1.09 |
    | gru zoneout bidirectional, H=64, T=1200 | fast | 483 | 551 | 1.14 |
    | gru zoneout bidirectional, H=256, T=600 | fast | 834 | 1078 | 1.29 |
    | gru zoneout bidirectional, H=256, T=1200 | fast | 1697 | 2149 | 1.27 |
    | rnn zoneout bidirectional, H=64, T=600 | fast | 119 | 143 | 1.20 |
    | rnn zoneout bidirectional, H=64, T=1200 | fast | 237 | 285 | 1.20 |
    | rnn zoneout bidirectional, H=256, T=600 | fast | 472 | 543 | 1.15 |
    | rnn zoneout bidirectional, H=256, T=1200 | fast | 832 | 1084 | 1.30 |
    | indrnn zoneout bidirectional, H=64, T=600 | fast | 148 | 159 | 1.08 |
    | indrnn zoneout bidirectional, H=64, T=1200 | fast | 257 | 319 | 1.24 |
    | indrnn zoneout bidirectional, H=256, T=600 | fast | 512 | 608 | 1.19 |
    | indrnn zoneout bidirectional, H=256, T=1200 | fast | 906 | 1215 | 1.34 |

The regularizers not in the grid (input and weight dropout, residual sums, norms and dropout
between layers) keep little beside these and are not counted; the health check's passes are
estimated with the autograd loop's measured rows, and for GRU, RNN and IndRNN with the LSTM's
option costs (more gates: an over-estimate).

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
    rnnlab.errors.ConfigError: memory of a training step (model.hidden_size = 128, training.batch_size = 16, 20000 steps a batch): a forward and backward pass keeps about 2.59 GiB of activations, 2.6 GiB needed against the 2 GiB of memory available; lower model.hidden_size or training.batch_size, or shorten the recurrent steps (the series' length, training.stateful_window, a front-end's pooling)
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

#: float32 tensors of the hidden size that one recurrent step of one layer and direction keeps
#: for the backward pass, per series, by computation and layer kind (measured:
#: benchmarks/bench_memory.py): torch's kernel keeps its gates, rnnlab's fast loop what its
#: hand-written backward reads, the autograd loop every operation's inputs
KEPT = {
    "torch": {"lstm": 11, "gru": 9, "rnn": 4.9, "indrnn": 0},
    "fast": {"lstm": 12, "gru": 9.5, "rnn": 4.5, "indrnn": 3.3},
    "autograd": {"lstm": 17, "gru": 17.5, "rnn": 9.5, "indrnn": 7.5},
}

#: what the backward pass adds at its peak over what the steps keep (the gradients of a layer's
#: input term and outputs, the kernel's workspace), per step and series in tensors of the hidden
#: size, once: the layers and directions run their backward one after the other
PEAK = {
    "torch": {"lstm": 6, "gru": 7, "rnn": 0, "indrnn": 0},
    "fast": {"lstm": 0, "gru": 8, "rnn": 4.5, "indrnn": 4},
    "autograd": {"lstm": 1, "gru": 0, "rnn": 0, "indrnn": 0},
}

#: what a regularizer that is on (:func:`rnnlab.layers.regularizers.in_effect`, by name) adds to
#: :data:`KEPT` in each computation that computes it, per layer kind (its masks, a norm's
#: statistics and normalized terms)
OPTION_KEPT = {
    "layer_norm": {"fast": {"lstm": 3}, "autograd": {"lstm": 11.5, "gru": 8.5, "rnn": 0, "indrnn": 0}},
    "recurrent_batch_norm": {"fast": {"lstm": 3, "gru": 12.5, "rnn": 3, "indrnn": 4.7},
                             "autograd": {"lstm": 8.5, "gru": 8.5, "rnn": 8.5, "indrnn": 8.5}},
    "zoneout": {"fast": {"lstm": 0, "gru": 0, "rnn": 0, "indrnn": 2.3}, "autograd": {"lstm": 5, "gru": 5, "rnn": 5, "indrnn": 5}},
    "recurrent_dropout": {"fast": {"lstm": 2.5, "gru": 0, "rnn": 2, "indrnn": 0},
                          "autograd": {"lstm": 2.5, "gru": 2.5, "rnn": 2.5, "indrnn": 2.5}},
}

#: bytes each recurrent step's autograd graph takes beside its tensors (nodes, views), per layer
#: and direction, whatever the batch: what dominates the autograd loop at small widths
STEP_OVERHEAD = {"torch": 0, "fast": 8192, "autograd": 32768}

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


def _meta_layer(cfg: ModelConfig) -> torch.nn.Module:
    """The recurrent layer of ``cfg`` on the ``meta`` device (shapes only), options resolved."""
    from rnnlab.train.model import build_recurrent

    with torch.device("meta"):
        return build_recurrent(cfg, 1)


def computation_of(cfg: ModelConfig, recording: bool = False) -> str:
    """The computation the recurrent layer of ``cfg`` runs in a training step, as the layer picks
    it (:func:`rnnlab.layers.computation.choose_computation`, the one place that does);
    ``recording``: gates or states are recorded (the health check's and the gradient through
    time's passes).

    >>> computation_of(ModelConfig(layer="gru")), computation_of(ModelConfig(layer="gru", layer_norm=True))
    ('torch', 'autograd')
    """
    from rnnlab.layers.computation import choose_computation

    layer = _meta_layer(cfg)
    return choose_computation(layer.options, layer.spec, recording=recording, training=True)


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


def activation_bytes(cfg: ModelConfig, num_classes: int, batch_size: int, steps: int, per_step: bool = False,
                     computation: str | None = None) -> int:
    """Bytes one forward and backward pass over ``batch_size`` series of ``steps`` steps keeps
    for its backward pass at its peak (an upper bound: the module docstring's rule), for the
    computation the layer runs (default: :func:`computation_of`; ``"autograd"`` for the passes
    that record gates or states).

    >>> activation_bytes(ModelConfig(hidden_size=128), 4, 16, 20000) / 2**30  # (torch's kernel)
    2.59...
    """
    from rnnlab.layers.regularizers import in_effect

    family = (computation or computation_of(cfg)).split("-")[0]  # ("fast-python", "fast-inductor": the fast loop)
    recurrent_steps = steps
    per_series = 0
    if cfg.frontend is not None:
        for block in cfg.frontend.conv_blocks:
            per_series += 4 * FRONTEND_SAVED * block.channels * block.conv_steps(recurrent_steps)
            recurrent_steps = block.steps_after(recurrent_steps)
    directions = 2 if cfg.bidirectional else 1
    runs = cfg.num_layers * directions  # (each layer and direction runs its own steps)
    kind = cfg.layer
    kept = KEPT[family][kind] + sum(OPTION_KEPT.get(reg.name, {}).get(family, {}).get(kind, 0)
                                    for reg in in_effect(_meta_layer(cfg).options, training=True))
    per_series += recurrent_steps * 4 * cfg.hidden_size * (runs * kept + PEAK[family][kind])
    graph = runs * recurrent_steps * STEP_OVERHEAD[family]
    if per_step:  # the head on every step: its input, hidden layer and logits, with their gradients
        per_series += 4 * 2 * recurrent_steps * (cfg.hidden_size * directions + cfg.head.hidden + num_classes)
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
        # (they record gates or states, so the layer runs its autograd loop; each step's gradient
        # probe and the recorded gates, listed and then stacked, come on top)
        inspect = activation_bytes(cfg, num_classes, plan.batch_size, plan.inspect_steps, plan.per_step,
                                   computation_of(cfg, recording=True))
        runs = cfg.num_layers * (1 + cfg.bidirectional)
        gates = len(_meta_layer(cfg).spec.gates)
        inspect += 4 * plan.batch_size * plan.inspect_steps * cfg.hidden_size * runs * (2 + 2 * gates)
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
