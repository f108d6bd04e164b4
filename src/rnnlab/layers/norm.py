"""Normalization inside recurrent layers: layer norm and recurrent batch norm.

``layer_norm=True`` (Ba et al. 2016, as in haste's LayerNormLSTM) normalizes the input term
``W_ih x_t`` and the recurrent term ``W_hh h_{t-1}`` separately over the whole stacked gate
vector, and (LSTM) the cell state before its output activation.

``recurrent_batch_norm=True`` (Cooijmans et al. 2017) batch-normalizes the same terms with
statistics *per timestep*: in training each step uses its own batch statistics and updates its
own running statistics; in eval step ``t`` uses running statistics ``t`` (steps past
``max_steps`` share the last row). Gains start at 0.1 as the paper recommends. Padded steps of
shorter sequences are left out of the statistics.

A step with fewer than 2 real rows (in a padded batch, the last steps of its longest sequence
when it is alone there) has no batch statistics: those of one value are the value itself with
variance 0, which normalizes it to exactly 0, so its input would reach nothing in training and
its running variance would be pulled towards 0 (and the step amplified in eval). Such a step is
normalized in training as in eval, with its running statistics, and leaves them as they are
(:func:`step_statistics`); Cooijmans et al. likewise reuse statistics for steps beyond those
they have. Its gradient is then eval's, ``dy · weight · rstd``. Steps with 2 or more real rows
are computed as before, bit for bit, and nothing is read back to the host to tell them apart.
Past ``max_steps`` (the shared last row) the recurrent term's and cell's norms, step by step,
read the row as this forward has moved it so far, and the input term's, all steps at once, as
it was before this forward; running statistics are not differentiated, so the gradient does not
follow the row's dependence on the forward's earlier steps.

Example:
    >>> import torch
    >>> bn = TimestepBatchNorm(6, max_steps=10)
    >>> y = bn.step(torch.randn(32, 6), t=0).detach()
    >>> abs(float(y.mean())) < 1e-6, round(float(y.std(unbiased=False).mean()), 1)
    (True, 0.1)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["TimestepBatchNorm", "GateNorms", "BatchNormSteps", "NORM_TYPES", "batch_moments", "batch_norm_rows",
           "batch_norm_rows_backward", "row_statistics", "step_statistics"]


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

    def row(self, t: int) -> int:
        """The running-statistics row of step ``t`` (steps past ``max_steps`` share the last)."""
        return min(t, self.max_steps - 1)

    def statistics(self, x: Tensor, t: int, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(mean, rstd)`` of step ``t`` for ``x [B, F]``, each ``[F]``; in training the batch's
        (updating running row ``t``), in eval the running ones (:func:`row_statistics`).
        Differentiable; the fast loops call it without a graph.
        """
        row = self.row(t)
        return row_statistics(x, self.running_mean[row], self.running_var[row], valid, self.training,
                              self.momentum, self.eps)

    def _native(self, x: Tensor, valid: Tensor | None) -> bool:
        """Whether step statistics come from torch's own batch norm: training, every row real,
        more than one row (one native op and one backward node instead of a dozen)."""
        return self.training and valid is None and x.shape[0] > 1

    def step(self, x: Tensor, t: int, valid: Tensor | None = None) -> Tensor:
        """Normalize one timestep ``x [B, F]`` with the statistics of step ``t``.

        ``valid [B, 1]`` (bool) excludes padded entries from the batch statistics.
        """
        if self._native(x, valid):
            row = self.row(t)
            return torch.batch_norm(x, self.weight, self.bias, self.running_mean[row], self.running_var[row],
                                    True, self.momentum, self.eps, False)
        mean, rstd = self.statistics(x, t, valid)
        xv = x if valid is None else torch.where(valid, x, 0.0)
        y = (xv - mean) * rstd * self.weight
        return y + self.bias if self.bias is not None else y

    def forward_step(self, x: Tensor, t: int, valid: Tensor | None, weight: Tensor | None,
                     bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`step` for the fast loops, without a graph, with this norm's ``weight`` and
        ``bias`` (or the loop's handles of them): ``(y, mean, rstd)``, the statistics for
        :meth:`backward_step`. The same computation as :meth:`step` (the tests check both).

        >>> bn = TimestepBatchNorm(3, max_steps=2, dtype=torch.float64)
        >>> x = torch.randn(5, 3, dtype=torch.float64)
        >>> y, mean, rstd = bn.forward_step(x, 0, None, bn.weight.detach(), bn.bias.detach())
        >>> torch.allclose(y, TimestepBatchNorm(3, max_steps=2, dtype=torch.float64).step(x, 0).detach())
        True
        """
        row = self.row(t)
        return batch_norm_rows(x, self.running_mean[row], self.running_var[row], valid, weight, bias, self.training,
                               self.momentum, self.eps)

    def backward_step(self, dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, valid: Tensor | None,
                      weight: Tensor, training: bool, need_bias: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """The gradients ``(dx, d_weight, d_bias)`` of :meth:`forward_step` for ``dy``, from its
        input ``x`` and statistics; ``training``: the mode the forward ran in. Padded rows take
        no gradient, and theirs reaches nothing (selection: they may hold anything). ``x [n, B, F]``
        and ``mean, rstd [n, 1, F]`` are ``n`` steps at once."""
        return batch_norm_rows_backward(dy, x, mean, rstd, valid, weight, training, need_bias, self.eps)

    def sequence(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """Normalize a whole time-major sequence ``x [T, B, F]`` (each step its own statistics)."""
        T, B, F = x.shape
        if not self.training:
            rows = torch.arange(T, device=x.device).clamp_(max=self.max_steps - 1)
            xv = x if valid is None else torch.where(valid, x, 0.0)
            y = (xv - self.running_mean[rows, None]) * torch.rsqrt(self.running_var[rows, None] + self.eps) * self.weight
            return y + self.bias if self.bias is not None else y
        if valid is None and B > 1 and T <= self.max_steps:
            # Every step at once: the features of step t are channels t*F .. t*F+F-1 of one batch
            # norm over [B, T*F], whose running statistics are rows 0..T-1 of ours.
            y = torch.batch_norm(x.transpose(0, 1).reshape(B, T * F), self.weight.repeat(T),
                                 None if self.bias is None else self.bias.repeat(T),
                                 self.running_mean[:T].view(-1), self.running_var[:T].view(-1),
                                 True, self.momentum, self.eps, False)
            return y.view(B, T, F).transpose(0, 1)
        if valid is None:
            return torch.stack([self.step(x_t, t) for t, x_t in enumerate(x.unbind(0))])
        # Padded: every step's masked statistics at once (steps past max_steps update the
        # shared last row in turn, as step by step), with no host synchronisation. A step with
        # one real row takes its running row as it was before this forward (read before the
        # update; the fast LSTM's input term, normalized chunk by chunk, reads it so too).
        mean, var, n = batch_moments(x, valid, dim=1)  # [T, F], [T, F], [T, 1]
        rows = torch.arange(T, device=x.device).clamp_(max=self.max_steps - 1)
        running_mean, running_rstd = self.running_mean[rows], torch.rsqrt(self.running_var[rows] + self.eps)
        self.update_running(mean, var, n)
        mean, rstd = step_statistics(mean, var, n, self.eps, running_mean, running_rstd)
        y = (torch.where(valid, x, 0.0) - mean[:, None]) * rstd[:, None] * self.weight
        return y + self.bias if self.bias is not None else y

    def update_running(self, mean: Tensor, var: Tensor, n: Tensor) -> None:
        """The running statistics after steps ``0 .. T−1`` whose batches had moments ``mean, var
        [T, F]`` (biased) over ``n [T, 1]`` real rows: each step moves its row by the momentum
        (a step with fewer than 2 real rows leaves it: :func:`step_statistics`), steps past
        ``max_steps`` the shared last row in turn, as step by step.

        >>> bn = TimestepBatchNorm(2, max_steps=2)
        >>> bn.update_running(torch.ones(3, 2), torch.zeros(3, 2), torch.tensor([[4.0], [4.0], [0.0]]))
        >>> bn.running_mean
        tensor([[0.1000, 0.1000],
                [0.1000, 0.1000]])
        """
        T = mean.shape[0]
        with torch.no_grad():
            mean, var = mean.detach(), var.detach()
            unbiased = var * (n / (n - 1).clamp(min=1))
            weight = (n > 1).to(mean.dtype) * self.momentum
            S = min(T, self.max_steps)
            self.running_mean[: S - 1].lerp_(mean[: S - 1], weight[: S - 1])
            self.running_var[: S - 1].lerp_(unbiased[: S - 1], weight[: S - 1])
            for t in range(S - 1, T):
                self.running_mean[S - 1].lerp_(mean[t], weight[t])
                self.running_var[S - 1].lerp_(unbiased[t], weight[t])

    def extra_repr(self) -> str:
        return f"{self.num_features}, max_steps={self.max_steps}, gamma_init={self.gamma_init}"


def batch_moments(x: Tensor, valid: Tensor | None, dim: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Mean and biased variance over ``dim`` (the batch) of the rows ``valid`` (bool, size 1 in
    the last dimension) selects, and their count (size 1 in the last dimension). Padded rows are
    selected away before any arithmetic, never multiplied by 0: NaN or inf there reaches no
    result and no gradient.

    >>> x = torch.tensor([[1.0], [3.0], [float("nan")]])
    >>> batch_moments(x, torch.tensor([[True], [True], [False]]))
    (tensor([2.]), tensor([1.]), tensor([2.]))
    """
    if valid is None:
        shape = [*x.shape[:dim], *x.shape[dim + 1 :]]
        shape[-1] = 1
        return x.mean(dim), x.var(dim, unbiased=False), x.new_full(shape, x.shape[dim])
    n = valid.sum(dim).to(x.dtype)
    denom = n.clamp(min=1)
    mean = torch.where(valid, x, 0.0).sum(dim) / denom
    d = torch.where(valid, x - mean.unsqueeze(dim), 0.0)
    return mean, (d * d).sum(dim) / denom, n


def row_statistics(x: Tensor, running_mean: Tensor, running_var: Tensor, valid: Tensor | None, training: bool,
                   momentum: float, eps: float) -> tuple[Tensor, Tensor]:
    """``(mean, rstd)`` ``[F]`` of one step ``x [B, F]`` whose running statistics are the rows
    ``running_mean, running_var [F]``: in training the batch's (moving the rows by ``momentum``,
    in place), else the rows'. A pure function of its arguments (no module), so that the fast
    LSTM's step runs under ``torch.compile`` (:mod:`rnnlab.layers.compiled_step`).

    ``valid [B, 1]`` (bool) leaves padded rows out by selection: whatever they hold (NaN and
    inf too) reaches no statistic. A step with fewer than 2 real rows has no batch statistics
    (:func:`step_statistics`): with one, its running ones, as in eval; without any, ``(0, 1)``;
    either way its running rows are left as they are.

    >>> rm, rv = torch.zeros(2), torch.ones(2)
    >>> row_statistics(torch.tensor([[1.0, 2.0], [3.0, 2.0]]), rm, rv, None, True, 0.5, 0.0)[0], rm
    (tensor([2., 2.]), tensor([1., 1.]))
    >>> one = torch.tensor([[True], [False]])  # one real row: the running statistics, not moved
    >>> rm, rv = torch.tensor([0.5, 1.0]), torch.tensor([4.0, 1.0])
    >>> row_statistics(torch.tensor([[1.0, 2.0], [3.0, 2.0]]), rm, rv, one, True, 0.5, 0.0), rm
    ((tensor([0.5000, 1.0000]), tensor([0.5000, 1.0000])), tensor([0.5000, 1.0000]))
    """
    if not training or (valid is None and x.shape[0] < 2):
        return running_mean.clone(), torch.rsqrt(running_var + eps)
    mean, var, n = batch_moments(x, valid)
    # (the running rows as they are before this step moves them)
    stats = (mean, torch.rsqrt(var + eps)) if valid is None else step_statistics(
        mean, var, n, eps, running_mean, torch.rsqrt(running_var + eps))
    with torch.no_grad():
        unbiased = var * (n / (n - 1).clamp(min=1))
        # (a tensor weight: momentum where the step has 2 real rows or more, else 0, without
        # a host synchronisation to ask which)
        weight = momentum if valid is None else (n > 1).to(x.dtype) * momentum
        running_mean.lerp_(mean.detach(), weight)
        running_var.lerp_(unbiased.detach(), weight)
    return stats


def step_statistics(mean: Tensor, var: Tensor, n: Tensor, eps: float, running_mean: Tensor,
                    running_rstd: Tensor) -> tuple[Tensor, Tensor]:
    """The training statistics ``(mean, rstd)`` of steps whose real rows (``n``, size 1 in the
    last dimension) have the moments ``mean, var`` (:func:`batch_moments`) and whose running
    statistics are ``running_mean, running_rstd`` (read before this batch moved them): the
    batch's where a step has 2 real rows or more; the running ones where it has one, as in eval
    (the moments of one value are the value itself and 0, which would normalize it to 0 and
    erase it; Cooijmans et al. 2017 likewise reuse statistics for steps beyond those they
    have); ``(0, 1)`` where it has none. By selection (``torch.where``): no host synchronisation,
    and a step with 2 or more rows gets exactly the batch's values. The running rows of a step
    with fewer than 2 real rows are not moved (:meth:`TimestepBatchNorm.update_running`), and
    its gradient has no batch terms (:func:`batch_norm_rows_backward`).

    >>> n = torch.tensor([[3.0], [1.0], [0.0]])
    >>> mean, rstd = step_statistics(torch.tensor([[1.0], [5.0], [0.0]]), torch.tensor([[4.0], [0.0], [0.0]]),
    ...                              n, 0.0, torch.full((3, 1), -1.0), torch.full((3, 1), 2.0))
    >>> mean.flatten().tolist(), rstd.flatten().tolist()
    ([1.0, -1.0, 0.0], [0.5, 2.0, 1.0])
    """
    one = n == 1
    batch = n > 1
    mean = torch.where(batch, mean, torch.where(one, running_mean, 0.0))
    rstd = torch.where(batch, torch.rsqrt(var + eps), torch.where(one, running_rstd, 1.0))
    return mean, rstd


def batch_norm_rows(x: Tensor, running_mean: Tensor, running_var: Tensor, valid: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float,
                    eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """One step ``x [B, F]`` batch-normalized without a graph (:meth:`TimestepBatchNorm.forward_step`
    for the running rows ``running_mean, running_var [F]``): ``(y, mean, rstd)``. In training with
    every row real and more than one row, torch's own batch norm (one op); a step with fewer
    than 2 real rows is normalized with the running statistics (:func:`row_statistics`).

    >>> y, mean, rstd = batch_norm_rows(torch.tensor([[1.0], [3.0]]), torch.zeros(1), torch.ones(1), None,
    ...                                 None, None, True, 0.1, 0.0)
    >>> y.flatten(), mean
    (tensor([-1.,  1.]), tensor([2.]))
    """
    if training and valid is None and x.shape[0] > 1:
        return torch.native_batch_norm(x, weight, bias, running_mean, running_var, True, momentum, eps)
    mean, rstd = row_statistics(x, running_mean, running_var, valid, training, momentum, eps)
    xv = x if valid is None else torch.where(valid, x, 0.0)
    y = (xv - mean) * rstd
    if weight is not None:
        y = torch.addcmul(bias, y, weight) if bias is not None else y.mul_(weight)
    return y, mean, rstd


def batch_norm_rows_backward(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, valid: Tensor | None,
                             weight: Tensor, training: bool, need_bias: bool,
                             eps: float) -> tuple[Tensor, Tensor, Tensor | None]:
    """The gradients ``(dx, d_weight, d_bias)`` of :func:`batch_norm_rows` (see
    :meth:`TimestepBatchNorm.backward_step`, whose math this is). A step with fewer than 2 real
    rows was normalized in training with its running statistics (:func:`step_statistics`): its
    gradient is eval's, ``dx = dy · weight · rstd``, without the batch terms (per step, where
    ``x [n, B, F]`` holds several).

    >>> x = torch.tensor([[1.0], [3.0]])
    >>> y, mean, rstd = batch_norm_rows(x, torch.zeros(1), torch.ones(1), None, None, None, False, 0.1, 0.0)
    >>> batch_norm_rows_backward(torch.ones(2, 1), x, mean, rstd, None, torch.ones(1), False, True, 0.0)
    (tensor([[1.],
            [1.]]), tensor([4.]), tensor([2.]))
    """
    if training and valid is None and x.dim() == 2 and x.shape[0] > 1:
        dx, dw, db = torch.ops.aten.native_batch_norm_backward(
            dy, x, weight, None, None, mean, rstd, True, eps, [True, True, need_bias])
        return dx, dw, db
    if valid is not None:
        x, dy = torch.where(valid, x, 0.0), torch.where(valid, dy, 0.0)
    xhat = (x - mean).mul_(rstd)
    B = -2  # (the batch's dimension, after the steps' if any)
    dy_sum = dy.sum(B, keepdim=True)
    p_sum = (dy * xhat).sum(B, keepdim=True)
    d_bias = dy_sum.view(-1, x.shape[-1]).sum(0) if need_bias else None
    d_weight = p_sum.view(-1, x.shape[-1]).sum(0)
    coef = rstd * weight
    dx = dy * coef
    if not training or (valid is None and x.shape[B] < 2):
        return dx, d_weight, d_bias
    # d/dx of (x − mean)·rstd·w with batch statistics: rstd·w·(dy − mean(dy) − xhat·mean(dy·xhat))
    if valid is None:
        n = x.new_full((1,), x.shape[B])
        dx.sub_(dy_sum.mul_(coef).div_(n)).addcmul_(xhat, p_sum.mul_(coef).div_(n), value=-1)
        return dx, d_weight, d_bias
    n = valid.sum(B, keepdim=True).to(x.dtype)
    # (a step with fewer than 2 real rows was normalized with its running statistics: its
    # batch terms, [.., 1, F] each, are selected away, without a host synchronisation)
    few = n < 2
    n = n.clamp_(min=1)
    mean_dy = torch.where(few, 0.0, dy_sum.mul_(coef).div_(n))
    mean_p = torch.where(few, 0.0, p_sum.mul_(coef).div_(n))
    dx.sub_(mean_dy).addcmul_(xhat, mean_p, value=-1)
    # (every row of a step without a real row is padding)
    return torch.where(valid, dx, 0.0), d_weight, d_bias


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


class BatchNormSteps(NamedTuple):
    """A layer's recurrent batch norms as the fast loops run them (:class:`GateNorms` with
    ``norm="batch"``): the recurrent term's and (LSTM) the cell's norms (their running
    statistics, eps and momentum), the ``[T, B, 1]`` mask of real steps (or None), whether the
    forward runs in training (batch statistics), and (LSTM) the input term's norm ``ih``, or
    None where the loop is given the normalized input term. ``reverse``: the steps are the sequence's positions in
    reverse (unpadded only: a step's statistics must be those of one position), for the input
    term's statistics, which are by position."""

    hh: TimestepBatchNorm
    c: TimestepBatchNorm | None
    valid: Tensor | None
    training: bool
    ih: TimestepBatchNorm | None = None
    reverse: bool = False


#: Module types whose parameters have the role "norm" (used by rnnlab.roles).
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.batchnorm._BatchNorm,
    TimestepBatchNorm,
)
