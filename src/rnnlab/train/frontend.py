"""The convolutional front-end of the sequence classifier: a stack of conv blocks over time.

Each block is Conv1d → norm → activation → optional max-pool, as in the fully convolutional
networks paired with LSTMs for time series (FCN, Wang et al. 2017; LSTM-FCN, Karim et al. 2017).
Every block knows how long each sequence is after it (:meth:`ConvFrontend.out_lengths`), and steps
past a sequence's end are zeroed after every block, so a padded sequence gives exactly the
features of the same sequence alone: the next convolution reads zeros there, as its own zero
padding would. The batch norm of a block takes its training statistics over the valid steps only
(:class:`MaskedBatchNorm1d`), so padding does not leak into them.

Example:
    >>> import torch
    >>> from rnnlab.config import FrontendConfig
    >>> fe = ConvFrontend(3, FrontendConfig(blocks=[{"channels": 8, "kernel_size": 5, "norm": "batch"},
    ...                                             {"channels": 8, "kernel_size": 3, "pool": 2}]))
    >>> lengths = torch.tensor([9, 4])
    >>> out, out_lengths = fe(torch.randn(2, 9, 3), lengths)
    >>> out.shape, out_lengths.tolist()
    (torch.Size([2, 5, 8]), [5, 2])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from rnnlab.config import ConvBlockConfig, FrontendConfig
from rnnlab.layers import native

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "none": nn.Identity}


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """``[B, 1, steps]`` booleans: True where step ``t`` is inside sequence ``b``.

    >>> valid_mask(torch.tensor([2, 3]), 3).int().tolist()
    [[[1, 1, 0]], [[1, 1, 1]]]
    """
    return (torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None])[:, None, :]


def max_pool_time(y: Tensor, pool: int) -> Tensor:
    """``y [..., T]`` max-pooled over windows of ``pool`` steps: ``[..., ceil(T / pool)]``, the
    last window the steps that remain. On the CPU the compiled pool
    (``torch.ops.rnnlab.max_pool_time``, one pass each way) computes what the tensor ops
    ``pad(y, -inf).unflatten(-1, (-1, pool)).amax(-1)`` compute, gradient included (a window's
    gradient split evenly among the steps equal to its maximum), where those ops' backward took
    about a tenth of the template's training step; elsewhere, without the compiled library, or
    inside ``torch.compile`` (which traces the tensor ops, not the library's op), the tensor ops run.

    >>> max_pool_time(torch.tensor([[1.0, 3.0, 2.0, 2.0, 5.0]]), 2).tolist()
    [[3.0, 2.0, 5.0]]
    """
    if (y.device.type == "cpu" and y.dtype in (torch.float32, torch.float64) and not torch.compiler.is_compiling()
            and native.available()):
        return _MaxPoolTime.apply(y, pool)
    extra = -y.shape[-1] % pool
    return F.pad(y, (0, extra), value=float("-inf")).unflatten(-1, (-1, pool)).amax(-1)


class _MaxPoolTime(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, y: Tensor, pool: int) -> Tensor:  # type: ignore[override]
        out = torch.ops.rnnlab.max_pool_time(y, pool)
        ctx.save_for_backward(y, out)
        ctx.pool = pool
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        y, out = ctx.saved_tensors
        return torch.ops.rnnlab.max_pool_time_backward(grad, y, out, ctx.pool), None


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over ``[B, C, T]`` whose training statistics count only valid steps.

    Without a mask (or in eval mode) it is ``nn.BatchNorm1d``; its parameters and buffers are
    the same, so its role is "norm" (never decayed by default).

    >>> bn = MaskedBatchNorm1d(2)
    >>> x = torch.randn(3, 2, 5)
    >>> mask = torch.ones(3, 1, 5, dtype=torch.bool)
    >>> torch.allclose(bn(x, mask), nn.BatchNorm1d(2)(x), atol=1e-6)
    True
    """

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if valid is None or not self.training:
            return super().forward(x)
        weight = valid.to(x.dtype)
        n = weight.sum() * 1.0
        mean = (x * weight).sum((0, 2)) / n
        var = (((x - mean[None, :, None]) ** 2) * weight).sum((0, 2)) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * unbiased)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y


class ConvBlock(nn.Module):
    """Conv1d (centred: padding ``dilation * (kernel_size // 2)``; optional stride and dilation)
    → norm → activation → max-pool."""

    def __init__(self, in_channels: int, cfg: ConvBlockConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv1d(in_channels, cfg.channels, cfg.kernel_size, cfg.stride, cfg.padding, cfg.dilation)
        self.norm: nn.Module | None = None
        if cfg.norm == "batch":
            self.norm = MaskedBatchNorm1d(cfg.channels)
        elif cfg.norm == "layer":
            self.norm = nn.LayerNorm(cfg.channels)
        self.act = ACTIVATIONS[cfg.activation]()

    def conv_lengths(self, lengths: Tensor) -> Tensor:
        """Valid steps of each sequence after the convolution (conv arithmetic, at least 1)."""
        return self.cfg.conv_steps(lengths)

    def out_lengths(self, lengths: Tensor) -> Tensor:
        """Valid steps after the whole block: the convolution's, then ``ceil(/ pool)``."""
        return self.cfg.steps_after(lengths)

    def forward(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """``x [B, C_in, T]`` (zero past each length) → ``[B, channels, T']`` (zero past each new length)."""
        y = self.conv(x)
        out_lengths = None if lengths is None else self.out_lengths(lengths)
        valid = None if lengths is None else valid_mask(self.conv_lengths(lengths), y.shape[-1])
        if isinstance(self.norm, MaskedBatchNorm1d):
            y = self.norm(y, valid)
        elif self.norm is not None:
            y = self.norm(y.transpose(1, 2)).transpose(1, 2)
        y = self.act(y)
        if self.cfg.pool > 1:
            if valid is not None:  # a window reaching past the end takes its valid steps only
                y = y.masked_fill(~valid, float("-inf"))
            y = max_pool_time(y, self.cfg.pool)
        if out_lengths is not None:
            y = y.masked_fill(~valid_mask(out_lengths, y.shape[-1]), 0.0)
        return y, out_lengths


class ConvFrontend(nn.Module):
    """A stack of :class:`ConvBlock`: ``[B, T, C]`` → ``[B, T', channels of the last block]``."""

    def __init__(self, input_size: int, cfg: FrontendConfig) -> None:
        super().__init__()
        blocks = []
        for block in cfg.conv_blocks:
            blocks.append(ConvBlock(input_size, block))
            input_size = block.channels
        self.blocks = nn.ModuleList(blocks)
        self.channels = input_size

    def out_lengths(self, lengths: Tensor) -> Tensor:
        """Valid steps of each sequence after the last block."""
        for block in self.blocks:
            lengths = block.out_lengths(lengths)
        return lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Features ``[B, T', channels]`` and their lengths (None when ``lengths`` is None)."""
        y = x.transpose(1, 2)
        if lengths is not None:
            y = y.masked_fill(~valid_mask(lengths, y.shape[-1]), 0.0)
        for block in self.blocks:
            y, lengths = block(y, lengths)
        return y.transpose(1, 2), lengths
