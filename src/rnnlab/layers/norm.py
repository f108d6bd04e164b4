"""Normalization inside recurrent layers: layer norm and recurrent batch norm.

``layer_norm=True`` (Ba et al. 2016, as in haste's LayerNormLSTM) normalizes the input term
``W_ih x_t`` and the recurrent term ``W_hh h_{t-1}`` separately over the whole stacked gate
vector, and (LSTM) the cell state before its output activation.

``recurrent_batch_norm=True`` (Cooijmans et al. 2017) batch-normalizes the same terms with
statistics *per timestep*: in training each step uses its own batch statistics and updates its
own running statistics; in eval step ``t`` uses running statistics ``t`` (steps past
``max_steps`` share the last row). Gains start at 0.1 as the paper recommends. Padded steps of
shorter sequences are left out of the statistics.

Example:
    >>> import torch
    >>> bn = TimestepBatchNorm(6, max_steps=10)
    >>> y = bn.step(torch.randn(32, 6), t=0).detach()
    >>> abs(float(y.mean())) < 1e-6, round(float(y.std(unbiased=False).mean()), 1)
    (True, 0.1)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["TimestepBatchNorm", "GateNorms", "NORM_TYPES"]


class TimestepBatchNorm(nn.Module):
    """Batch norm over the batch with separate statistics for every timestep.

    Args:
        num_features: size of the last dimension.
        max_steps: number of per-timestep running statistics kept.
        gamma_init: initial gain (0.1, Cooijmans et al.).
        bias: learn a shift (off for the input/recurrent terms, whose shift is the layer bias).
    """

    def __init__(
        self,
        num_features: int,
        max_steps: int,
        gamma_init: float = 0.1,
        bias: bool = True,
        eps: float = 1e-5,
        momentum: float = 0.1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.max_steps = max_steps
        self.eps = eps
        self.momentum = momentum
        self.gamma_init = gamma_init
        self.weight = nn.Parameter(torch.empty(num_features, **fk))
        self.bias = nn.Parameter(torch.empty(num_features, **fk)) if bias else None
        self.register_buffer("running_mean", torch.zeros(max_steps, num_features, **fk))
        self.register_buffer("running_var", torch.ones(max_steps, num_features, **fk))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.gamma_init)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)

    def step(self, x: Tensor, t: int, valid: Tensor | None = None) -> Tensor:
        """Normalize one timestep ``x [B, F]`` with the statistics of step ``t``.

        ``valid [B, 1]`` (bool) excludes padded entries from the batch statistics.
        """
        row = min(t, self.max_steps - 1)
        if self.training and valid is None and x.shape[0] > 1:
            # One native op (statistics, running update with the unbiased variance, normalization)
            # and one backward node, instead of a dozen small ones at every step of the loop.
            return torch.batch_norm(x, self.weight, self.bias, self.running_mean[row], self.running_var[row],
                                    True, self.momentum, self.eps, False)
        if self.training:
            if valid is None:
                mean = x.mean(0)
                var = x.var(0, unbiased=False)
                n = x.shape[0]
            else:
                w = valid.to(x.dtype)
                n_t = w.sum()
                n = int(n_t.item())
                if n == 0:
                    return x * self.weight + (self.bias if self.bias is not None else 0)
                mean = (x * w).sum(0) / n_t
                var = (((x - mean) ** 2) * w).sum(0) / n_t
            with torch.no_grad():
                unbiased = var * (n / max(n - 1, 1))
                self.running_mean[row].lerp_(mean.detach(), self.momentum)
                self.running_var[row].lerp_(unbiased.detach(), self.momentum)
        else:
            mean = self.running_mean[row]
            var = self.running_var[row]
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y

    def sequence(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """Normalize a whole time-major sequence ``x [T, B, F]`` (each step its own statistics)."""
        T, B, F = x.shape
        if not self.training:
            rows = torch.arange(T, device=x.device).clamp_(max=self.max_steps - 1)
            y = (x - self.running_mean[rows, None]) * torch.rsqrt(self.running_var[rows, None] + self.eps) * self.weight
            return y + self.bias if self.bias is not None else y
        if valid is None and B > 1 and T <= self.max_steps:
            # Every step at once: the features of step t are channels t*F .. t*F+F-1 of one batch
            # norm over [B, T*F], whose running statistics are rows 0..T-1 of ours.
            y = torch.batch_norm(x.transpose(0, 1).reshape(B, T * F), self.weight.repeat(T),
                                 None if self.bias is None else self.bias.repeat(T),
                                 self.running_mean[:T].view(-1), self.running_var[:T].view(-1),
                                 True, self.momentum, self.eps, False)
            return y.view(B, T, F).transpose(0, 1)
        return torch.stack(
            [self.step(x_t, t, None if valid is None else valid[t]) for t, x_t in enumerate(x.unbind(0))]
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_steps={self.max_steps}, gamma_init={self.gamma_init}"


class GateNorms(nn.Module):
    """The normalizations of one layer and direction: ``ih`` (input term), ``hh`` (recurrent
    term) and, for LSTM, ``c`` (cell state). Absent children mean "no normalization"."""

    def __init__(
        self,
        kind: str,
        gate_size: int,
        hidden_size: int,
        norm: str,
        max_steps: int,
        with_cell: bool,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.norm = norm
        if norm == "layer":
            self.ih = nn.LayerNorm(gate_size, bias=False, **fk)
            self.hh = nn.LayerNorm(gate_size, bias=False, **fk)
            self.c = nn.LayerNorm(hidden_size, **fk) if with_cell else None
        elif norm == "batch":
            self.ih = TimestepBatchNorm(gate_size, max_steps, bias=False, **fk)
            self.hh = TimestepBatchNorm(gate_size, max_steps, bias=False, **fk)
            self.c = TimestepBatchNorm(hidden_size, max_steps, **fk) if with_cell else None
        else:
            raise ValueError(f"norm: expected 'layer' or 'batch', got {norm!r}")

    def input(self, xp: Tensor, valid: Tensor | None) -> Tensor:
        """Normalize the input term of all steps at once, ``xp [T, B, G*H]``."""
        if isinstance(self.ih, TimestepBatchNorm):
            return self.ih.sequence(xp, valid)
        return self.ih(xp)

    def recurrent(self, r: Tensor, t: int, valid: Tensor | None) -> Tensor:
        if isinstance(self.hh, TimestepBatchNorm):
            return self.hh.step(r, t, valid)
        return self.hh(r)

    def cell(self, c: Tensor, t: int, valid: Tensor | None) -> Tensor:
        if self.c is None:
            return c
        if isinstance(self.c, TimestepBatchNorm):
            return self.c.step(c, t, valid)
        return self.c(c)


#: Module types whose parameters have the role "norm" (used by rnnlab.roles).
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.batchnorm._BatchNorm,
    TimestepBatchNorm,
)
