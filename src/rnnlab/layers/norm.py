"""Normalization inside recurrent layers: layer norm and recurrent batch norm.

``layer_norm=True`` (Ba et al. 2016, as in haste's LayerNormLSTM) normalizes the input term
``W_ih x_t`` and the recurrent term ``W_hh h_{t-1}`` separately over the whole stacked gate
vector, and (LSTM) the cell state before its output activation.

``recurrent_batch_norm=True`` (Cooijmans et al. 2017) batch-normalizes the same terms with
statistics *per timestep*: in training each step uses its own batch statistics and updates its
own running statistics; in eval step ``t`` uses running statistics ``t`` (steps past
``max_steps`` share the last row). Gains start at 0.1 as the paper recommends. Padded steps of
shorter sequences are left out of the statistics.

Steps past those training fitted: each norm counts the rows its training forwards moved
(``fitted_rows``, a buffer of the state dict, as torch's BatchNorm counts ``num_batches_tracked``),
and in eval a step past them reads the last fitted row, as Cooijmans et al. prescribe ("for
t > T_max we use the statistics of T_max"): a model trained on 30 steps normalizes step 45 with
row 29's statistics, not with the initial (0, 1) of a row no batch ever reached. Training reads
and moves the rows as before; eval steps within the fitted rows read their own row, as before.
A state dict without the count (written before it existed) infers it from the rows that differ
from their initial values.

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

Each forward counts its steps from 0: a call given the state of an earlier call over the first
``k`` steps (``layer(x[k:], state)``) normalizes its first step with row 0's statistics (in
training its batch's, moving row 0), not row ``k``'s, so its outputs differ from one call over the
whole sequence. Run the sequence in one call for each step's own statistics; a stream's training
(``data.bptt``) trains and evaluates in the same windows, each counted from row 0.

Example:
    >>> import torch
    >>> bn = TimestepBatchNorm(6, max_steps=10)
    >>> y = bn.step(torch.randn(32, 6), t=0).detach()
    >>> abs(float(y.mean())) < 1e-6, round(float(y.std(unbiased=False).mean()), 1)
    (True, 0.1)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.layers.computation import capturing

__all__ = ["TimestepBatchNorm", "GateNorms", "BatchNormSteps", "NORM_TYPES", "batch_moments", "batch_norm_rows",
           "batch_norm_rows_backward", "row_statistics", "step_statistics"]


class TimestepBatchNorm(nn.Module):
    """Batch norm over the batch with separate statistics for every timestep.

    Args:
        num_features: size of the last dimension.
        max_steps: number of per-timestep running statistics kept.
        gamma_init: initial gain (0.1, Cooijmans et al.).
        bias: learn a shift (off for the input/recurrent terms, whose shift is the layer bias).

    The buffer ``fitted_rows`` counts the rows training has moved (rows ``0 .. fitted_rows − 1``):
    in eval a step past them reads row ``fitted_rows − 1`` (none fitted: every row its own).

    >>> bn = TimestepBatchNorm(2, max_steps=8)
    >>> _ = bn.sequence(torch.randn(3, 4, 2))  # training on 3 steps moves rows 0, 1, 2
    >>> int(bn.fitted_rows), [bn.eval().row(t) for t in (1, 2, 5, 20)]
    (3, [1, 2, 2, 2])
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
        # (the count first: the running statistics stay the last buffers, as before it existed)
        self.register_buffer("fitted_rows", torch.zeros((), dtype=torch.long, device=device))
        self.register_buffer("running_mean", torch.zeros(max_steps, num_features, **fk))
        self.register_buffer("running_var", torch.ones(max_steps, num_features, **fk))
        # (the count as a Python int, with the buffer tensor and version it was read from: eval
        # reads the buffer back once after training moved it, not at every step)
        self._fitted_seen: tuple[Tensor, int, int] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.gamma_init)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self.running_mean.zero_()
        self.running_var.fill_(1.0)
        self.fitted_rows.zero_()

    def row(self, t: int) -> int | Tensor:
        """The running-statistics row of step ``t``: in training ``t`` (steps past ``max_steps``
        share the last), in eval at most the last row training fitted (``fitted_rows``). An int,
        or inside ``torch.export`` / ``torch.jit.trace`` a 0-dim tensor (the count is a buffer
        value there), which indexes the running statistics alike.

        >>> bn = TimestepBatchNorm(2, max_steps=4)
        >>> bn.row(9), bn.eval().row(9)  # nothing fitted yet: every row its own
        (3, 3)
        >>> _ = bn.fitted_rows.fill_(2)
        >>> bn.row(1), bn.row(9)
        (1, 1)
        """
        last = self._last_row()
        return min(t, last) if isinstance(last, int) else last.clamp(max=t)

    def rows(self, steps: Tensor) -> Tensor:
        """:meth:`row` of every step of ``steps`` (a long tensor) at once.

        >>> bn = TimestepBatchNorm(2, max_steps=4)
        >>> _ = bn.fitted_rows.fill_(2)
        >>> bn.rows(torch.arange(5)), bn.eval().rows(torch.arange(5))
        (tensor([0, 1, 2, 3, 3]), tensor([0, 1, 1, 1, 1]))
        """
        last = self._last_row()
        return steps.clamp(max=last) if isinstance(last, int) else torch.minimum(steps, last)

    def running_rows(self) -> tuple[Tensor, Tensor]:
        """``(running_mean, running_var)`` as the compiled loops read them (step ``t`` reads row
        ``min(t, rows − 1)`` of what they are given): in training every row (the loops move them
        in place), in eval the rows up to the last fitted one (:meth:`row`)."""
        last = self._last_row()
        if self.training or not isinstance(last, int):
            return self.running_mean, self.running_var
        return self.running_mean[: last + 1], self.running_var[: last + 1]

    def _last_row(self) -> int | Tensor:
        """The last row a step reads (see :meth:`row`)."""
        S = self.max_steps
        if self.training:
            return S - 1
        fitted = self.fitted_rows
        try:
            version = fitted._version
        except RuntimeError:  # (an inference-mode tensor keeps no version: read it every time)
            version = -1
        seen = self._fitted_seen
        if seen is None or seen[0] is not fitted or seen[1] != version or version < 0:
            if capturing() or torch._C._are_functorch_transforms_active():
                # (a graph keeps tensor operations only, and export's buffers have no values: the
                # count stays a tensor)
                return torch.where(fitted > 0, fitted.clamp(max=S) - 1, S - 1)
            seen = self._fitted_seen = (fitted, version, int(fitted))
        return min(seen[2], S) - 1 if seen[2] > 0 else S - 1

    def mark_fitted(self, steps: int, batch: int, valid: Tensor | None = None) -> None:
        """Count the rows that a training forward over ``steps`` steps of ``batch`` sequences
        moved: every step's row with 2 sequences or more, or with ``valid [steps, batch, 1]``
        (bool) those of the steps with 2 real rows or more (:func:`step_statistics`). Without a
        host synchronisation. :meth:`sequence` and :meth:`update_running` count their own; a
        forward that runs :meth:`step` or :meth:`forward_step` step by step calls this once
        (the layer's :class:`GateNorms`, the fast LSTM).

        >>> bn = TimestepBatchNorm(2, max_steps=8)
        >>> bn.mark_fitted(5, 4, (torch.arange(5)[:, None] < torch.tensor([5, 3, 1, 3])).unsqueeze(-1))
        >>> int(bn.fitted_rows)  # step 3 and 4 have one real row: rows 0, 1, 2
        3
        """
        with torch.no_grad():
            if valid is None:
                if batch > 1:
                    self.fitted_rows.clamp_(min=min(steps, self.max_steps))
                return
            self._count_moved(valid.flatten(1).sum(1) > 1)

    def _count_moved(self, moved: Tensor) -> None:
        """Raise ``fitted_rows`` to cover the steps ``moved [T]`` (bool) marks (by position)."""
        last = (moved * torch.arange(1, moved.shape[0] + 1, device=moved.device)).amax().clamp(max=self.max_steps)
        torch.maximum(self.fitted_rows, last.to(self.fitted_rows.device), out=self.fitted_rows)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        key = prefix + "fitted_rows"
        mean, var = state_dict.get(prefix + "running_mean"), state_dict.get(prefix + "running_var")
        if key not in state_dict and isinstance(mean, Tensor) and isinstance(var, Tensor) and mean.shape == var.shape:
            # Written before the count existed: the rows training moved are those that left
            # their initial (0, 1) (torch's BatchNorm likewise fills in num_batches_tracked).
            moved = ((mean != 0) | (var != 1)).flatten(1).any(1)
            state_dict[key] = (moved * torch.arange(1, moved.shape[0] + 1, device=moved.device)).amax().cpu()
        super()._load_from_state_dict(state_dict, prefix, *args)

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

        ``valid [B, 1]`` (bool) excludes padded entries from the batch statistics. The row this
        moves in training is not counted in ``fitted_rows`` here (a count per step would cost
        the loop a few operations a step): the forward calls :meth:`mark_fitted` once.
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
        :meth:`backward_step`. The same computation as :meth:`step` (the tests check both),
        which counts no row either (:meth:`mark_fitted`).

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
            rows = self.rows(torch.arange(T, device=x.device))
            xv = x if valid is None else torch.where(valid, x, 0.0)
            y = (xv - self.running_mean[rows, None]) * torch.rsqrt(self.running_var[rows, None] + self.eps) * self.weight
            return y + self.bias if self.bias is not None else y
        if valid is None:
            self.mark_fitted(T, B)
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
            self._count_moved(n.flatten() > 1)

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
        """Normalize the input term of all steps at once, ``xp [T, B, G*H]``. With batch norm
        in training, the recurrent term's and cell's norms count the same steps' rows as fitted
        here, once for the forward whose steps :meth:`recurrent` and :meth:`cell` then run
        (:meth:`TimestepBatchNorm.mark_fitted`)."""
        if isinstance(self.ih, TimestepBatchNorm):
            if self.training:
                for norm in (self.hh, self.c):
                    if norm is not None:
                        norm.mark_fitted(xp.shape[0], xp.shape[1], valid)
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
