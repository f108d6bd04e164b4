"""The LSTM's fast path: input projection, recurrence and a hand-written backward in one function.

Same contract as :mod:`rnnlab.layers.fast` (whose machinery it shares), specialised where the
LSTM's size makes it pay:

* the input term of all steps is one matmul (with the input layer norm or recurrent batch norm
  if any) computed inside,
  so the backward never needs the gradient of all input terms at once: it runs the reverse
  recurrence a chunk of steps at a time (:func:`chunk_steps`) and turns each chunk into its
  weight, bias and input gradients with large matmuls. No ``[T, B, 4H]`` gradient buffer exists
  (memory), and the chunk buffer stays in cache and is reused (a fresh buffer that large is
  page-faulted on first touch, which costs as much as the arithmetic);
* gates in torch's order (i, f, g, o), the layer's own parameters as they are: in backward,
  one broadcast product covers the three gates that take the cell's gradient (i, f, g);
* each step also computes the backward's gate factors while its gates are in cache.

The step loops themselves (:func:`_forward_steps`, :func:`_backward_chunk`) run compiled when
the install built ``csrc/lstm_steps.cpp`` (:mod:`rnnlab.layers.native`): there each step's
elementwise work is one pass over the batch instead of ~28 tensor calls from Python, which at
small hidden sizes cost more than the arithmetic, and the batch runs in slices on torch's
threads, each slice through the whole loop (:func:`batch_parts`). The Python loops, one call
of :func:`lstm_forward_step` (:func:`lstm_backward_step`) per step, are the compiled ones'
reference (the tests check both against each other), what runs for dtypes other than float32
and float64, and the fallback of an install without a C++ compiler: they stay. On CUDA and
other devices they run with those step functions compiled by ``torch.compile``
(:mod:`rnnlab.layers.compiled_step`): the same math, one definition, a few fused kernels a step
instead of ~28 launches. :func:`_step_loops` is the one place that chooses.

Recurrent batch norm (:class:`~rnnlab.layers.norm.BatchNormSteps`) normalizes each step's terms
with statistics over the batch, so in its compiled loops (``lstm_bn_forward``,
``lstm_bn_backward_chunk``) the slices meet at each step's reductions over the real rows: each
sums its own rows, waits for the others at a barrier, and combines every slice's sums.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnlab.layers import compiled_step, native
from rnnlab.layers.computation import differentiable_once
from rnnlab.layers.fast import Kept, StepMatmul, fed_states, step_matmul, step_slices
from rnnlab.layers.norm import (
    BatchNormSteps,
    batch_moments,
    batch_norm_rows,
    batch_norm_rows_backward,
    step_statistics,
)

#: rows (steps × batch) per chunk of the backward: enough for efficient weight-gradient matmuls,
#: few enough that the chunk's buffers stay small next to the saved activations
CHUNK_ROWS = 1024


def chunk_steps(batch: int) -> int:
    """Steps per chunk of the backward.

    >>> chunk_steps(64)
    16
    """
    return max(1, CHUNK_ROWS // batch)


class StepNorm(NamedTuple):
    """The norms inside a fast LSTM step: ``kind`` ``"layer"`` (layer norm) or ``"batch"``
    (recurrent batch norm, statistics over the batch). ``w_hh`` is the recurrent term's gain
    (its norm has none of its own), ``w_c, b_c`` the cell norm's gain and shift, ``eps, eps_c``
    their eps; with batch norm, whether the statistics are the batch's (``training``) and the
    momentum of each norm's running statistics. Only tensors and numbers: the step functions
    compile (:mod:`rnnlab.layers.compiled_step`)."""

    kind: str
    w_hh: Tensor
    w_c: Tensor
    b_c: Tensor
    eps: float
    eps_c: float
    training: bool = False
    momentum: float = 0.1
    momentum_c: float = 0.1


def _step_norm(ln_w_hh: Tensor | None, ln_w_c: Tensor | None, ln_b_c: Tensor | None, eps: float, eps_c: float,
               bn: BatchNormSteps | None) -> StepNorm | None:
    """The step functions' norms of :func:`_forward_steps`' arguments (None: no norm)."""
    if bn is not None:
        assert bn.c is not None and ln_w_hh is not None and ln_w_c is not None and ln_b_c is not None
        return StepNorm("batch", ln_w_hh, ln_w_c, ln_b_c, bn.hh.eps, bn.c.eps, bn.training, bn.hh.momentum,
                        bn.c.momentum)
    if ln_w_hh is None:
        return None
    assert ln_w_c is not None and ln_b_c is not None
    return StepNorm("layer", ln_w_hh, ln_w_c, ln_b_c, eps, eps_c)


def _running_row_views(bn: BatchNormSteps | None, T: int) -> list[tuple[Tensor, Tensor, Tensor, Tensor] | None]:
    """Per step, the running-statistics rows of ``bn``'s recurrent-term and cell norms (views,
    which the step moves in training), or Nones without batch norm."""
    if bn is None:
        return [None] * T
    hh, c = bn.hh, bn.c
    assert c is not None
    return [(hh.running_mean[hh.row(t)], hh.running_var[hh.row(t)], c.running_mean[c.row(t)],
             c.running_var[c.row(t)]) for t in range(T)]


def lstm_forward_step(
    a: Tensor,
    h_prev: Tensor,
    c_prev: Tensor,
    w: Tensor,
    packed: Tensor | None,
    lin: Tensor | None,
    feed_mask: Tensor | None,
    keep_h: Tensor | None,
    keep_c: Tensor | None,
    norm: StepNorm | None,
    rows: tuple[Tensor, Tensor, Tensor, Tensor] | None,
    valid: Tensor | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """One step of the LSTM from its input term ``a [B, 4H]`` (gates in torch's order) and state:
    ``(h, c, saved)``, the state after zoneout (``keep_h, keep_c``) and, with ``need_grad``, what
    the backward needs: ``[q, f, r]`` (the gate factors: d pre-activation = q ⊙ (dh, dc, dc, dc);
    the forget gate; r = o(1 − tanh²), dh → d of the cell or normalized cell), then with a
    ``norm`` the recurrent term and cell before their norms and (mean, rstd) of each.
    Recurrent batch norm reads (eval) or moves (training) the running rows ``rows`` in place
    and leaves the rows that ``valid [B, 1]`` marks as padding out of its statistics.

    A pure function of tensors and numbers (the running rows apart): :func:`_forward_steps` calls
    it as it is, or compiled by ``torch.compile`` (:mod:`rnnlab.layers.compiled_step`), one graph
    for every step of every length. Each factor is rewritten from products the step computes
    anyway, e.g. i(1 − i)g = ig − i·ig.

    >>> B, H = 2, 3
    >>> h, c, saved = lstm_forward_step(torch.zeros(B, 4 * H), torch.zeros(B, H), torch.ones(B, H),
    ...                                 torch.zeros(H, 4 * H), None, None, None, None, None, None, None, None, True)
    >>> c[0], [s.shape for s in saved]
    (tensor([0.5000, 0.5000, 0.5000]), [torch.Size([2, 12]), torch.Size([2, 3]), torch.Size([2, 3])])
    """
    H = h_prev.shape[-1]
    h_fed = h_prev * feed_mask if feed_mask is not None else h_prev
    normed: list[Tensor] = []
    if norm is not None:
        r = step_matmul(h_fed, w, packed, lin)
        r_hat, mean_r, rstd_r = _norm_forward(norm, r, None if rows is None else rows[:2], valid, False)
        pre = torch.addcmul(a, r_hat, norm.w_hh)
        normed += [r, mean_r, rstd_r]
    else:
        pre = step_matmul(h_fed, w, packed, lin, a)
    sig_if = pre[:, : 2 * H].sigmoid()
    i, f = sig_if[:, :H], sig_if[:, H:]
    g = pre[:, 2 * H : 3 * H].tanh()
    o = pre[:, 3 * H :].sigmoid()
    ig = i * g
    fc = f * c_prev
    c_new = fc + ig
    if norm is not None:
        c_hat, mean_c, rstd_c = _norm_forward(norm, c_new, None if rows is None else rows[2:], valid, True)
        normed += [c_new, mean_c, rstd_c]
        tc = c_hat.tanh()
    else:
        tc = torch.tanh(c_new)
    h_new = o * tc
    saved: list[Tensor] = []
    if need_grad:  # the factors, in the gates' order
        q = torch.cat([torch.addcmul(ig, i, ig, value=-1),  # i(1 − i)·g
                       torch.addcmul(fc, f, fc, value=-1),  # f(1 − f)·c_prev
                       torch.addcmul(i, ig, g, value=-1),  # i(1 − g²)
                       torch.addcmul(h_new, o, h_new, value=-1)], 1)  # o(1 − o)·tanh = h − o·h
        saved = [q, f, torch.addcmul(o, h_new, tc, value=-1), *normed]  # o(1 − tanh²)
    c_out = c_new if keep_c is None else torch.lerp(c_new, c_prev, keep_c)
    h_out = h_new if keep_h is None else torch.lerp(h_new, h_prev, keep_h)
    return h_out, c_out, saved


def _norm_forward(norm: StepNorm, x: Tensor, rows: tuple[Tensor, ...] | None, valid: Tensor | None,
                  cell: bool) -> tuple[Tensor, Tensor, Tensor]:
    """The recurrent term's norm (without its gain) or, ``cell``, the cell's (with gain and
    shift) of one step: ``(y, mean, rstd)``."""
    weight, bias = (norm.w_c, norm.b_c) if cell else (None, None)
    if norm.kind == "layer":
        return torch.native_layer_norm(x, (x.shape[-1],), weight, bias, norm.eps_c if cell else norm.eps)
    assert rows is not None
    return batch_norm_rows(x, rows[0], rows[1], valid, weight, bias, norm.training,
                           norm.momentum_c if cell else norm.momentum, norm.eps_c if cell else norm.eps)


def _norm_backward(norm: StepNorm, dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, valid: Tensor | None,
                   cell: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """The backward of :func:`_norm_forward` with its gain (the recurrent term's ``norm.w_hh``):
    ``(dx, d_gain, d_shift)`` (``d_shift`` for the cell only)."""
    weight = norm.w_c if cell else norm.w_hh
    if norm.kind == "layer":
        dx, dw, db = torch.ops.aten.native_layer_norm_backward(
            dy, x, (x.shape[-1],), mean, rstd, weight, norm.b_c if cell else None, [True, True, cell])
        return dx, dw, db
    return batch_norm_rows_backward(dy, x, mean, rstd, valid, weight, norm.training, cell,
                                    norm.eps_c if cell else norm.eps)


def lstm_backward_step(
    dh: Tensor,
    dc: Tensor,
    q: Tensor,
    f: Tensor,
    r: Tensor,
    d_out_prev: Tensor,
    w: Tensor,
    packed: Tensor | None,
    lin: Tensor | None,
    feed_mask: Tensor | None,
    keep_h: Tensor | None,
    keep_c: Tensor | None,
    norm: StepNorm | None,
    normed: tuple[Tensor, ...] | None,
    valid: Tensor | None,
    d_norm: tuple[Tensor, Tensor, Tensor] | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The reverse of :func:`lstm_forward_step`: from the state gradients ``dh, dc`` after the
    step and its ``saved`` (``q, f, r``; with a ``norm``, ``normed`` = the recurrent term, the
    cell and their statistics), returns ``(dh, dc)`` before it, with the output gradient of the
    step before, ``d_out_prev``, added; the gradient of the step's gates (pre-activations); and
    that of its recurrent term (before its norm: the gates' without one). With a norm, its
    gains' gradients are added into ``d_norm`` = ``(d_w_hh, d_w_c, d_b_c)`` in place. ``w`` is
    ``W_hh [4H, H]`` (as :func:`step_matmul` takes it). Pure otherwise, as the forward step.

    >>> B, H = 2, 3
    >>> z = torch.zeros(B, H)
    >>> dh, dc, d_gates, d_r = lstm_backward_step(torch.ones(B, H), z, torch.ones(B, 4 * H), z, z, z,
    ...     torch.zeros(4 * H, H), None, None, None, None, None, None, None, None, None)
    >>> d_gates[0]
    tensor([0., 0., 0., 0., 0., 0., 0., 0., 0., 1., 1., 1.])
    """
    B, H = dh.shape
    dhn = dh if keep_h is None else torch.addcmul(dh, dh, keep_h, value=-1)  # through the new state
    dcn = dc if keep_c is None else torch.addcmul(dc, dc, keep_c, value=-1)
    if norm is not None:
        assert normed is not None and d_norm is not None
        r_raw, mean_r, rstd_r, c_raw, mean_c, rstd_c = normed
        d_c, d_wc, d_bc = _norm_backward(norm, dhn * r, c_raw, mean_c, rstd_c, valid, True)
        dcn = d_c + dcn
        d_norm[1].add_(d_wc)
        d_norm[2].add_(d_bc)  # type: ignore[arg-type]
    else:
        dcn = torch.addcmul(dcn, dhn, r)
    # the o gate takes dh, the other three (i, f, g) the cell's gradient
    d_gates = (q.view(B, 4, H) * torch.stack([dcn, dcn, dcn, dhn], 1)).view(B, 4 * H)
    d_r = d_gates
    if norm is not None:
        d_r, d_wr, _ = _norm_backward(norm, d_gates, r_raw, mean_r, rstd_r, valid, False)
        d_norm[0].add_(d_wr)  # type: ignore[index]
    # dh_{t−1} = (d @ W_hh) ⊙ mask + dh ⊙ keep + d_out_{t−1}, in as few calls as possible
    extra = d_out_prev if keep_h is None else torch.addcmul(d_out_prev, dh, keep_h)
    if feed_mask is None:
        dh_prev = step_matmul(d_r, w, packed, lin, extra)
    else:
        dh_prev = torch.addcmul(extra, step_matmul(d_r, w, packed, lin), feed_mask)
    dc_prev = dcn * f
    if keep_c is not None:
        dc_prev = torch.addcmul(dc_prev, dc, keep_c)
    return dh_prev, dc_prev, d_gates, d_r


def _forward_steps(
    acts: list[Tensor],
    w: Tensor,
    packed: Tensor | None,
    lin: Tensor | None,
    h0: Tensor,
    c0: Tensor,
    feed_mask: Tensor | None,
    keep_h: Tensor | None,
    keep_c: Tensor | None,
    ln_w_hh: Tensor | None,
    ln_w_c: Tensor | None,
    ln_b_c: Tensor | None,
    eps: float,
    eps_c: float,
    need_grad: bool,
    parts: int,
    bn: BatchNormSteps | None = None,
    step: Any = lstm_forward_step,
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The LSTM recurrence over the input terms ``acts`` (chunks ``[steps, B, 4H]`` of the
    sequence), gates in torch's order, recurrent term ``h @ w`` (by :func:`step_matmul` with
    ``packed, lin``), one :func:`lstm_forward_step` per step (``step``: it, or it compiled);
    returns ``(out [T, B, H], c_T, saved)``. With layer norm, ``eps`` is the recurrent term's
    norm's and ``eps_c`` the cell's. With ``bn`` (recurrent batch norm) the ``ln_*`` arguments
    are its gains and shift and the norms are ``bn``'s, with the statistics of each step over the
    batch; all else is the same.

    With ``need_grad`` the steps' gate factors ``q`` are written over ``acts``, and ``saved`` is
    ``[fs, rs]`` (see :func:`lstm_forward_step`), then with a norm every step's recurrent term
    and cell before their norms, then (mean, rstd) of every recurrent-term norm and of every
    cell norm.

    ``torch.ops.rnnlab.lstm_forward`` (``csrc/lstm_steps.cpp``) is this function in C++; it
    runs the batch as ``parts`` slices on as many threads (:func:`batch_parts`), where this one
    takes the whole batch at once: the results are the same.
    """
    T = sum(a.shape[0] for a in acts)
    B, H = h0.shape
    if step is not lstm_forward_step:  # (compiled: torch's matmul, which the compiler knows, not MKL's packed one)
        packed = lin = None
    KH, KC = step_slices(keep_h, T), step_slices(keep_c, T)
    V = step_slices(None if bn is None else bn.valid, T)
    norm = _step_norm(ln_w_hh, ln_w_c, ln_b_c, eps, eps_c, bn)
    rows = _running_row_views(bn, T)
    out = h0.new_empty(T, B, H)
    fs, rs = (out.new_empty(T, B, H), out.new_empty(T, B, H)) if need_grad else (None, None)
    normed: list[list[Tensor]] = [[] for _ in range(6)]  # with a norm: r, c before their norms and statistics
    h, c = h0, c0
    t = 0
    for chunk in acts:  # each chunk's steps, then their results into place (a chunk's memory at a time)
        t0 = t
        hs: list[Tensor] = []
        kept: list[list[Tensor]] = []
        for a in chunk.unbind(0):
            h, c, saved = step(a, h, c, w, packed, lin, feed_mask, KH[t], KC[t], norm, rows[t], V[t], need_grad)
            hs.append(h)
            kept.append(saved)
            t += 1
        torch.stack(hs, out=out[t0:t])
        if need_grad:  # the gate factors over the chunk's input terms, which the backward reads by chunk
            for k, into in enumerate((chunk, fs[t0:t], rs[t0:t])):  # type: ignore[index]
                torch.stack([saved[k] for saved in kept], out=into)
            for k in range(6 if norm is not None else 0):
                normed[k] += [saved[3 + k] for saved in kept]
    if not need_grad:
        return out, c, []
    r_raw, mean_r, rstd_r, c_raw, mean_c, rstd_c = normed
    stats_r = [x for pair in zip(mean_r, rstd_r) for x in pair]
    stats_c = [x for pair in zip(mean_c, rstd_c) for x in pair]
    return out, c, [fs, rs, *r_raw, *c_raw, *stats_r, *stats_c]  # type: ignore[list-item]


def _backward_chunk(
    t0: int,
    q: Tensor,
    buf: Tensor,
    dh: Tensor,
    dc: Tensor,
    fs: Tensor,
    rs: Tensor,
    d_out: Tensor,
    w: Tensor,
    packed: Tensor | None,
    lin: Tensor | None,
    feed_mask: Tensor | None,
    keep_h: Tensor | None,
    keep_c: Tensor | None,
    rr: list[Tensor],
    cn: list[Tensor],
    stats: list[Tensor],
    ln_w_hh: Tensor | None,
    ln_w_c: Tensor | None,
    ln_b_c: Tensor | None,
    d_ln_hh: Tensor | None,
    d_ln_wc: Tensor | None,
    d_ln_bc: Tensor | None,
    d_r: Tensor | None,
    parts: int,
    bn: BatchNormSteps | None = None,
    step: Any = lstm_backward_step,
) -> tuple[Tensor, Tensor]:
    """The reverse recurrence over one chunk of the forward's steps (``q``, from step ``t0``),
    last step first, from the state gradients ``dh, dc`` after it, one
    :func:`lstm_backward_step` per step (``step``: it, or it compiled).

    Writes each step's gate gradient into ``buf[t − t0]`` and, with a norm, the gradient of
    its recurrent term before the norm into ``d_r[t − t0]`` and the gain gradients into
    ``d_ln_*``; returns ``(dh, dc)`` before the chunk. ``rr, cn, stats`` are
    :func:`_forward_steps`'s norm tensors of all steps.

    ``torch.ops.rnnlab.lstm_backward_chunk`` (``csrc/lstm_steps.cpp``) is this function in C++,
    with the batch in ``parts`` slices as in :func:`_forward_steps`.
    """
    n = q.shape[0]
    T = fs.shape[0]
    t1 = t0 + n
    if step is not lstm_backward_step:  # (as in _forward_steps)
        packed = lin = None
    norm = _step_norm(ln_w_hh, ln_w_c, ln_b_c, 1e-5, 1e-5, bn)  # (eps: the backward reads the statistics)
    d_norm = None if norm is None else (d_ln_hh, d_ln_wc, d_ln_bc)
    KH, KC = step_slices(keep_h, T), step_slices(keep_c, T)
    V = step_slices(None if bn is None else bn.valid, T)
    Q, RS, FS = q.unbind(0), rs.unbind(0), fs.unbind(0)
    no_out = torch.zeros_like(dh)  # (the output gradient before step 0: one graph for every step)
    d_gates: list[Tensor] = []
    d_rs: list[Tensor] = []
    for t in range(t1 - 1, t0 - 1, -1):
        normed = None if norm is None else (rr[t], stats[2 * t], stats[2 * t + 1], cn[t], stats[2 * T + 2 * t],
                                            stats[2 * T + 2 * t + 1])
        dh, dc, dg, dr = step(dh, dc, Q[t - t0], FS[t], RS[t], d_out[t - 1] if t > 0 else no_out, w, packed, lin,
                              feed_mask, KH[t], KC[t], norm, normed, V[t], d_norm)
        d_gates.append(dg)
        d_rs.append(dr)
    torch.stack(d_gates[::-1], out=buf[:n])
    if d_r is not None:
        torch.stack(d_rs[::-1], out=d_r[:n])
    return dh, dc


def _input_batch_norm(bn: BatchNormSteps, z: Tensor, t0: int, length: int, gain: Tensor,
                      bias: Tensor | None, compiled: bool) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
    """The input term of steps ``t0 …`` of ``steps`` from ``z = W_ih x [n, B, G]`` (written
    over): each step batch-normalized (``bn.ih``'s statistics: the batch's, or in eval the
    running ones of its position), times ``gain``, plus ``bias``. Returns it with the
    statistics ``mean, rstd [n, 1, G]`` for the backward and, in training, the batch moments
    ``[mean and var [2, n, G], counts [n, 1]]`` for the running statistics (updated once every
    chunk is done, in the order of positions; in eval ``[]``). ``compiled``: by the compiled
    loops' ``bn_forward_steps`` (in place, no temporaries)."""
    n, B, G = z.shape
    norm = bn.ih
    assert norm is not None
    v = None if bn.valid is None else bn.valid[t0 : t0 + n]
    if compiled:
        running = None  # (padded, in training: for steps with one real row, step_statistics)
        if bn.training:
            m, r, moments, count = z.new_empty(n, 1, G), z.new_empty(n, 1, G), z.new_empty(2, n, G), z.new_empty(n, 1)
            if v is not None:
                running = _running_rows(norm, t0, n, length, bn.reverse)
        else:
            m, r = _running_rows(norm, t0, n, length, bn.reverse)
            moments = count = None
        torch.ops.rnnlab.bn_forward_steps(z, None if v is None else v.view(n, B).to(z.dtype), gain, bias, norm.eps,
                                          bn.training, m, r, moments, count, *(running or (None, None)))
        return z, m, r, [moments, count] if bn.training else []
    if bn.training and v is None:
        # (z − mean, then its mean square: torch's var over a middle dimension is 20× slower)
        mean = z.mean(1)
        a = z.sub_(mean.unsqueeze(1))
        var = (a * a).mean(1)
        m, r = mean.unsqueeze(1), torch.rsqrt(var + norm.eps).unsqueeze(1)
        count = z.new_full((n, 1), z.shape[1])
        a.mul_(r * gain)
    else:
        if bn.training:
            mean, var, count = batch_moments(z, v, dim=1)
            run_m, run_r = _running_rows(norm, t0, n, length, bn.reverse)
            m, r = step_statistics(mean, var, count, norm.eps, run_m[:, 0], run_r[:, 0])
        else:
            m, r = _running_rows(norm, t0, n, length, bn.reverse)
        if bn.training:
            m, r = m.unsqueeze(1), r.unsqueeze(1)
        a = z if v is None else torch.where(v, z, 0.0)
        a.sub_(m).mul_(r * gain)
    if bias is not None:
        a.add_(bias)
    return a, m, r, [torch.stack([mean, var]), count] if bn.training else []


def _running_rows(norm: Any, t0: int, n: int, length: int, reverse: bool) -> tuple[Tensor, Tensor]:
    """The running statistics (mean, rstd) ``[n, 1, F]`` of ``norm`` (a :class:`TimestepBatchNorm`) for
    the steps ``t0 … t0 + n − 1`` of a sequence of ``length`` (by position: reversed with ``reverse``;
    the rows :meth:`~TimestepBatchNorm.rows` gives)."""
    pos = torch.arange(t0, t0 + n, device=norm.running_mean.device)
    rows = norm.rows(length - 1 - pos if reverse else pos)
    return norm.running_mean[rows].unsqueeze(1), torch.rsqrt(norm.running_var[rows] + norm.eps).unsqueeze(1)


def _input_batch_norm_backward(bn: BatchNormSteps, dy: Tensor, z: Tensor, mean: Tensor, rstd: Tensor, t0: int,
                               gain: Tensor, d_gain: Tensor, d_bias: Tensor | None, out: Tensor,
                               compiled: bool) -> Tensor:
    """The backward of :func:`_input_batch_norm` for the chunk of steps ``t0 …`` (``dy, z = W_ih x
    [n, B, G]``, ``mean, rstd`` its statistics): returns dz and adds the gain's and the bias's
    gradients into ``d_gain`` and ``d_bias``. ``compiled``: by the compiled loops'
    ``bn_backward_steps``, dz written into ``out`` (no ``[n, B, G]`` temporary); else by ``bn.ih``."""
    assert bn.ih is not None
    valid = None if bn.valid is None else bn.valid[t0 : t0 + z.shape[0]]
    if compiled:
        rows = None if valid is None else valid.view(valid.shape[:2]).to(z.dtype)
        torch.ops.rnnlab.bn_backward_steps(dy, z, mean, rstd, gain, rows, bn.training, d_gain, d_bias, out)
        return out
    dz, dg, ds = bn.ih.backward_step(dy, z, mean, rstd, valid, gain, bn.training, d_bias is not None)
    d_gain.add_(dg)
    if d_bias is not None:
        d_bias.add_(ds)
    return dz


def _layer_norm_backward(dy: Tensor, x: Tensor, mean: Tensor, rstd: Tensor, w: Tensor, d_w: Tensor,
                         d_b: Tensor | None) -> Tensor:
    """Layer norm's backward over the rows of ``x [N, n]``: returns dx, adds the gain's gradient
    into ``d_w`` and the shift's into ``d_b`` (if given)."""
    dx, d_gain, d_shift = torch.ops.aten.native_layer_norm_backward(
        dy, x, (x.shape[-1],), mean, rstd, w, d_b, [True, True, d_b is not None])  # (d_b: a shift of the right shape)
    d_w.add_(d_gain)
    if d_b is not None:
        d_b.add_(d_shift)
    return dx


#: fewest batch rows that the compiled loops give a thread of its own
MIN_PART_ROWS = 8


def batch_parts(batch: int) -> int:
    """Slices of the batch that the compiled step loops run on threads of their own.

    An LSTM's batch rows never meet, so each slice runs the whole time loop alone: one fork and
    join per call. At small hidden sizes this is what uses a second core: split step by step, a
    fork and join costs as much as the step's elementwise work, and MKL gains little from a
    second thread on a ``[64, 128] × [128, 512]`` product.

    >>> batch_parts(12)  # fewer than MIN_PART_ROWS rows for a second slice
    1
    >>> 1 <= batch_parts(64) <= torch.get_num_threads()
    True
    """
    return max(1, min(torch.get_num_threads(), batch // MIN_PART_ROWS))


#: which step loops a fast LSTM runs: ``"auto"`` (the C++ ones on the CPU in float32 and float64,
#: the compiled step functions on other devices, else Python), ``"python"`` (the reference) or
#: ``"inductor"`` (the step functions compiled by ``torch.compile`` on any device, the CPU too)
STEP_LOOPS = ("auto", "python", "inductor")


def _step_loops(like: Tensor, loops: str, bn: BatchNormSteps | None = None) -> tuple[Any, Any, int]:
    """The forward and backward step loops for tensors like ``like`` (``[steps, B, …]``), and the
    slices of the batch they run in parallel; the one place that chooses them (``loops``: one of
    :data:`STEP_LOOPS`). ``"auto"``: on the CPU in float32 and float64 the C++ loops
    (:func:`rnnlab.layers.native.available` loads or builds them), which run the batch in slices
    on torch's threads; on CUDA and other devices the Python loops with their steps compiled
    (:mod:`rnnlab.layers.compiled_step`); else the Python loops. All take the whole batch but the
    C++ ones and give the same results (the tests run each); inside a ``torch.func`` transform
    the steps are not compiled. With recurrent batch norm (``bn``)
    the C++ slices meet at every step's statistics (they sum each slice's rows and combine the
    sums on every thread).

    >>> _step_loops(torch.empty(2, 3, 4, dtype=torch.float16), "auto")[0] is _forward_steps
    True
    """
    if loops not in STEP_LOOPS:
        raise ValueError(f"loops: expected one of {list(STEP_LOOPS)}, got {loops!r}")
    on_cpu = like.device.type == "cpu"
    if loops == "auto" and on_cpu and like.dtype in (torch.float32, torch.float64) and native.available():
        forward, backward = ((torch.ops.rnnlab.lstm_forward, torch.ops.rnnlab.lstm_backward_chunk) if bn is None
                             else (_compiled_bn_forward, _compiled_bn_backward))
        return forward, backward, batch_parts(like.shape[1])
    if (loops == "inductor" or (loops == "auto" and not on_cpu)) and not torch._C._are_functorch_transforms_active():
        # (inside torch.func.grad's backward dynamo does not trace: "Unsupported functorch tracing
        # attempt"; the Python steps run there, and the compiled ones stay in use elsewhere)
        return (functools.partial(_forward_steps, step=compiled_step.compiled(lstm_forward_step, like.device)),
                functools.partial(_backward_chunk, step=compiled_step.compiled(lstm_backward_step, like.device)), 1)
    return _forward_steps, _backward_chunk, 1


def _valid_rows(bn: BatchNormSteps, like: Tensor) -> Tensor | None:
    """``bn``'s mask of real steps as the compiled loops read it: ``[T, B]``, 1 or 0 in ``like``'s dtype."""
    return None if bn.valid is None else bn.valid.view(bn.valid.shape[:2]).to(like.dtype)


def _compiled_bn_forward(acts: list[Tensor], w: Tensor, packed: Tensor | None, lin: Tensor | None, h0: Tensor,
                         c0: Tensor, feed_mask: Tensor | None, keep_h: Tensor | None, keep_c: Tensor | None,
                         w_hh: Tensor, w_c: Tensor, b_c: Tensor, eps: float, eps_c: float, need_grad: bool,
                         parts: int, bn: BatchNormSteps) -> tuple[Tensor, Tensor, list[Tensor]]:
    """:func:`_forward_steps` with ``bn``, by ``torch.ops.rnnlab.lstm_bn_forward`` (which reads
    step t's row min(t, rows − 1) of the running statistics it is given: in eval the fitted ones,
    :meth:`~rnnlab.layers.norm.TimestepBatchNorm.running_rows`)."""
    assert bn.c is not None
    return torch.ops.rnnlab.lstm_bn_forward(
        acts, w, packed, lin, h0, c0, feed_mask, keep_h, keep_c, w_hh, w_c, b_c, *bn.hh.running_rows(),
        *bn.c.running_rows(), _valid_rows(bn, h0), bn.hh.momentum, bn.c.momentum,
        bn.hh.eps, bn.c.eps, bn.training, need_grad, parts)


def _compiled_bn_backward(t0: int, q: Tensor, buf: Tensor, dh: Tensor, dc: Tensor, fs: Tensor, rs: Tensor,
                          d_out: Tensor, w: Tensor, packed: Tensor | None, lin: Tensor | None,
                          feed_mask: Tensor | None, keep_h: Tensor | None, keep_c: Tensor | None, rr: list[Tensor],
                          cn: list[Tensor], stats: list[Tensor], w_hh: Tensor, w_c: Tensor, b_c: Tensor,
                          d_w_hh: Tensor, d_w_c: Tensor, d_b_c: Tensor, d_r: Tensor, parts: int,
                          bn: BatchNormSteps) -> tuple[Tensor, Tensor]:
    """:func:`_backward_chunk` with ``bn``, by ``torch.ops.rnnlab.lstm_bn_backward_chunk``."""
    return torch.ops.rnnlab.lstm_bn_backward_chunk(
        t0, q, buf, dh, dc, fs, rs, d_out, w, packed, lin, feed_mask, keep_h, keep_c, rr, cn, stats, w_hh, w_c,
        _valid_rows(bn, dh), bn.training, d_w_hh, d_w_c, d_b_c, d_r, parts)


class LayerNormParams(NamedTuple):
    """An LSTM's layer norms (:class:`rnnlab.layers.norm.GateNorms` with ``norm="layer"``): the
    gains of the input and recurrent terms' norms (``[4H]``, torch's gate order) and the gain
    and shift of the cell's (``[H]``), each norm with its own eps."""

    ih_weight: Tensor
    ih_eps: float
    hh_weight: Tensor
    hh_eps: float
    c_weight: Tensor
    c_bias: Tensor
    c_eps: float


class _Saved(NamedTuple):
    """What :class:`_LSTM`'s backward reads: its inputs, its output, and what the forward's
    steps kept (by chunk of the sequence, or by step)."""

    x: Tensor
    w_ih: Tensor
    bias: Tensor | None
    w_hh: Tensor
    h0: Tensor
    feed_mask: Tensor | None
    keep_h: Tensor | None
    keep_c: Tensor | None
    ln_w_ih: Tensor | None
    ln_w_hh: Tensor | None
    ln_w_c: Tensor | None
    ln_b_c: Tensor | None
    out: Tensor
    q: list[Tensor]  # the gate factors (written over the input terms), by chunk
    in_stats: list[Tensor]  # input-term layer norm: mean, rstd of each chunk
    fs: Tensor  # forget gate of each step
    rs: Tensor  # o(1 − tanh²) of each step
    rr: list[Tensor]  # layer norm: each step's recurrent term before its norm
    cn: list[Tensor]  # layer norm: each step's cell before its norm
    stats: list[Tensor]  # layer norm: mean, rstd of every recurrent term, then of every cell

    def flat(self) -> tuple[list[Tensor | None], tuple[int, ...]]:
        """The tensors for ``ctx.save_for_backward`` and the length of each list field."""
        tensors: list[Tensor | None] = []
        sizes = []
        for v in self:
            tensors += v if isinstance(v, list) else [v]
            sizes.append(len(v) if isinstance(v, list) else -1)
        return tensors, tuple(sizes)

    @classmethod
    def unflat(cls, tensors: tuple[Tensor | None, ...], sizes: tuple[int, ...]) -> _Saved:
        """The inverse of :meth:`flat`."""
        values: list[Any] = []
        k = 0
        for n in sizes:
            values.append(tensors[k] if n < 0 else list(tensors[k : k + n]))
            k += 1 if n < 0 else n
        return cls(*values)


def _steps_saved(saved: list[Tensor], steps: int, ln: bool) -> dict[str, Any]:
    """The step loops' ``saved`` list (see :func:`_forward_steps`), by name."""
    if not ln:
        return {"fs": saved[0], "rs": saved[1], "rr": [], "cn": [], "stats": []}
    return {"fs": saved[0], "rs": saved[1], "rr": saved[2 : 2 + steps], "cn": saved[2 + steps : 2 + 2 * steps],
            "stats": saved[2 + 2 * steps :]}


def _lstm_backward(
    grads: tuple[Tensor, Tensor, Tensor], s: _Saved, need_dx: bool, loops: str, bn: BatchNormSteps | None
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor, Tensor, Tensor, Tensor | None, Tensor | None,
           Tensor | None, Tensor | None]:
    """Gradients of :class:`_LSTM`: ``x, w_ih, bias, w_hh, h0, c0`` and the four norm
    parameters (``ln_w_ih, ln_w_hh, ln_w_c, ln_b_c``; with ``bn``, its gains and shift)."""
    d_out, d_hT, d_cT = grads
    x, w_ih, bias, w_hh, out, fs = s.x, s.w_ih, s.bias, s.w_hh, s.out, s.fs
    T, B, H = fs.shape
    G, I = 4 * H, x.shape[-1]  # noqa: E741
    _, backward_chunk, parts = _step_loops(fs, loops, bn)
    extra = {} if bn is None else {"bn": bn}  # (the compiled loops take no batch norm)
    rec = StepMatmul(w_hh, B // parts)  # (packed for a slice's rows)
    steps = s.q[0].shape[0]
    ln = s.ln_w_hh is not None
    buf = fs.new_empty(steps, B, G)  # gradient of a chunk's input terms, reused by every chunk
    d_r = fs.new_empty(steps, B, G) if ln else None  # of its recurrent terms before their norm
    # recurrent batch norm: a chunk's W_ih x, recomputed (its input term's norm's backward then
    # writes its gradient over d_r, free once d_W_hh has it)
    z = fs.new_empty(steps * B, G) if bn is not None and w_ih is not None else None
    d_w_hh = w_hh.new_zeros(G, H)
    d_w_ih = None if w_ih is None else w_ih.new_zeros(G, I)
    d_bias = None if bias is None else bias.new_zeros(G)
    dx = x.new_empty(x.shape) if need_dx else None
    d_ln_ih = fs.new_zeros(G) if s.ln_w_ih is not None else None
    d_ln_hh, d_ln_wc, d_ln_bc = (fs.new_zeros(G), fs.new_zeros(H), fs.new_zeros(H)) if ln else (None, None, None)
    dh = d_hT + d_out[T - 1]
    dc = d_cT
    for k in range(len(s.q) - 1, -1, -1):  # the forward's chunks, last first
        t0 = k * steps
        n = s.q[k].shape[0]
        t1 = t0 + n
        dh, dc = backward_chunk(t0, s.q[k], buf, dh, dc, fs, s.rs, d_out, rec.w, rec.packed, rec.lin,
                                s.feed_mask, s.keep_h, s.keep_c, s.rr, s.cn, s.stats, s.ln_w_hh, s.ln_w_c, s.ln_b_c,
                                d_ln_hh, d_ln_wc, d_ln_bc, d_r, parts, **extra)
        # The chunk's weight, bias and input gradients, each one matmul over its steps.
        dg = buf[:n].view(n * B, G)
        dr = d_r[:n].view(n * B, G) if d_r is not None else dg  # (d_r: with layer norm)
        d_w_hh.addmm_(dr.t(), fed_states(out, s.h0, s.feed_mask, t0, t1).view(n * B, H))
        if w_ih is None:  # (x is the input term itself)
            if dx is not None:
                dx[t0:t1].copy_(buf[:n])
            continue
        xc = x[t0:t1].reshape(n * B, I)
        if bn is not None:  # the input term's batch norm (its gain in ln_w_ih), from W_ih x again
            assert z is not None and d_r is not None and d_ln_ih is not None
            zc = torch.mm(xc, w_ih.t(), out=z[: n * B]).view(n, B, G)
            dz = _input_batch_norm_backward(bn, buf[:n], zc, s.in_stats[2 * k], s.in_stats[2 * k + 1], t0,
                                            s.ln_w_ih, d_ln_ih, d_bias, d_r[:n],  # type: ignore[arg-type]
                                            backward_chunk is _compiled_bn_backward).view(n * B, G)
        elif s.ln_w_ih is not None:
            dz = _layer_norm_backward(dg, xc @ w_ih.t(), s.in_stats[2 * k], s.in_stats[2 * k + 1], s.ln_w_ih,
                                      d_ln_ih, d_bias)  # type: ignore[arg-type]
        else:
            dz = dg
            if d_bias is not None:
                d_bias.add_(dg.sum(0))
        d_w_ih.addmm_(dz.t(), xc)  # type: ignore[union-attr]
        if dx is not None:
            torch.mm(dz, w_ih, out=dx[t0:t1].view(n * B, I))
    return dx, d_w_ih, d_bias, d_w_hh, dh, dc, d_ln_ih, d_ln_hh, d_ln_wc, d_ln_bc


class _LSTM(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        x: Tensor,
        w_ih: Tensor,
        bias: Tensor | None,
        w_hh: Tensor,
        h0: Tensor,
        c0: Tensor,
        feed_mask: Tensor | None,
        keep_h: Tensor | None,
        keep_c: Tensor | None,
        ln_w_ih: Tensor | None,
        ln_w_hh: Tensor | None,
        ln_w_c: Tensor | None,
        ln_b_c: Tensor | None,
        eps: tuple[float, float, float],
        need_grad: bool,
        loops: str,
        bn: BatchNormSteps | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        T, B, I = x.shape  # noqa: E741
        G = w_hh.shape[0]
        x2 = x.reshape(T * B, I)
        # The input terms by chunks of the backward's size: each chunk is small enough for the
        # allocator to reuse its memory call after call, where one [T, B, 4H] buffer of tens of
        # MB would be mapped afresh and page-faulted each time (as costly as the arithmetic).
        steps = chunk_steps(B)
        forward_steps, _, parts = _step_loops(x, loops, bn)
        acts: list[Tensor] = []
        in_stats: list[Tensor] = []
        moments: list[Tensor] = []  # recurrent batch norm in training: the input terms' batch moments
        for t0 in range(0, T, steps):
            xc = x2[t0 * B : min(T, t0 + steps) * B]
            if w_ih is None:  # x is the input term itself (the loop writes over its copy)
                a = xc.clone()
            elif bn is not None:
                a, mean, rstd, batch = _input_batch_norm(bn, (xc @ w_ih.t()).view(-1, B, G), t0, T, ln_w_ih,
                                                         bias, forward_steps is _compiled_bn_forward)  # type: ignore[arg-type]
                in_stats += [mean, rstd]
                moments += batch
            elif ln_w_ih is None:
                a = torch.addmm(bias, xc, w_ih.t()) if bias is not None else xc @ w_ih.t()
            else:
                a, mean, rstd = torch.native_layer_norm(xc @ w_ih.t(), (G,), ln_w_ih, bias, eps[0])
                in_stats += [mean, rstd]
            acts.append(a.view(-1, B, G))
        if moments:  # (in the order of positions: steps past max_steps share a row)
            mv, count = torch.cat(moments[::2], 1), torch.cat(moments[1::2])
            if bn.reverse:  # type: ignore[union-attr]
                mv, count = mv.flip(1), count.flip(0)
            bn.ih.update_running(mv[0], mv[1], count)  # type: ignore[union-attr]
        rec = StepMatmul(w_hh.t(), B // parts)  # (packed for a slice's rows)
        out, c_last, saved = forward_steps(acts, rec.w, rec.packed, rec.lin, h0, c0, feed_mask, keep_h, keep_c,
                                           ln_w_hh, ln_w_c, ln_b_c, eps[1], eps[2], need_grad, parts,
                                           **({} if bn is None else {"bn": bn}))
        kept = Kept([])
        if need_grad:
            kept.tensors, kept.info = _Saved(
                x, w_ih, bias, w_hh, h0, feed_mask, keep_h, keep_c, ln_w_ih, ln_w_hh, ln_w_c, ln_b_c, out,
                q=acts, in_stats=in_stats, **_steps_saved(saved, T, ln_w_hh is not None),
            ).flat()
        return out, out[-1].clone(), c_last.clone(), kept

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        kept = output[3]
        if kept.tensors:
            ctx.save_for_backward(*kept.tensors)
            ctx.sizes, ctx.loops, ctx.bn = kept.info, inputs[15], inputs[16]
        ctx.set_materialize_grads(False)

    @staticmethod
    @differentiable_once("lstm")  # (in-place, out= ops: torch.func.grad calls it with create_graph=True)
    def backward(ctx: Any, d_out: Tensor | None, d_hT: Tensor | None, d_cT: Tensor | None,  # type: ignore[override]
                 _kept: None) -> tuple[Any, ...]:
        s = _Saved.unflat(ctx.saved_tensors, ctx.sizes)
        zeros = torch.zeros_like(s.out[0])
        grads = (
            torch.zeros_like(s.out) if d_out is None else d_out.contiguous(),  # (often an expanded scalar)
            zeros if d_hT is None else d_hT,
            zeros if d_cT is None else d_cT,
        )
        dx, d_w_ih, d_bias, d_w_hh, dh0, dc0, *d_ln = _lstm_backward(grads, s, ctx.needs_input_grad[0], ctx.loops,
                                                                     ctx.bn)
        # (no gradient for feed_mask, keep_h, keep_c, nor for eps, need_grad, loops, bn)
        return (dx, d_w_ih, d_bias, d_w_hh, dh0, dc0, None, None, None, *d_ln, None, None, None, None)


def fast_lstm(
    x: Tensor,
    w_ih: Tensor,
    bias: Tensor | None,
    w_hh: Tensor,
    state: tuple[Tensor, ...],
    keep: list[Tensor | None],
    feed_mask: Tensor | None,
    layer_norm: LayerNormParams | None = None,
    loops: str = "auto",
    batch_norm: BatchNormSteps | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One direction of an LSTM from its input ``x [T, B, I]``; the contract of
    :func:`rnnlab.layers.loop.time_loop` with the input projection included.

    Weights and ``bias`` (both of torch's biases summed) as the layer holds them, gates in
    torch's order. With ``layer_norm``, ``bias`` joins the normalized input term.
    ``loops``: which step loops (:data:`STEP_LOOPS`, chosen by :func:`_step_loops`). With ``batch_norm`` (recurrent batch norm), ``bias`` joins the normalized input
    term; where ``batch_norm.ih`` is None, ``x [T, B, 4H]`` is the input term itself,
    normalized and with every bias, and ``w_ih`` and ``bias`` are None.

    >>> T, B, I, H = 5, 2, 3, 4
    >>> out, (h, c) = fast_lstm(torch.randn(T, B, I), torch.randn(4 * H, I), None,
    ...                         torch.randn(4 * H, H), (torch.zeros(B, H), torch.zeros(B, H)), [None, None], None)
    >>> out.shape, torch.equal(out[-1], h)
    (torch.Size([5, 2, 4]), True)
    """
    h0, c0 = state
    ln, bn = layer_norm, batch_norm
    ln_w_ih, ln_w_hh, ln_w_c, ln_b_c = (None,) * 4 if ln is None else (ln.ih_weight, ln.hh_weight, ln.c_weight,
                                                                        ln.c_bias)
    eps = (1e-5, 1e-5, 1e-5) if ln is None else (ln.ih_eps, ln.hh_eps, ln.c_eps)
    if bn is not None:
        ln_w_ih = None if bn.ih is None else bn.ih.weight
        ln_w_hh, ln_w_c, ln_b_c = bn.hh.weight, bn.c.weight, bn.c.bias
    # Without a graph to build, the forward skips what only the backward needs.
    need_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, w_ih, bias, w_hh, h0, c0, ln_w_ih, ln_w_hh, ln_w_c, ln_b_c)
    )
    if bn is not None and bn.training:  # (the step loops move the rows of the recurrent term's and cell's norms)
        bn.hh.mark_fitted(x.shape[0], x.shape[1], bn.valid)
        bn.c.mark_fitted(x.shape[0], x.shape[1], bn.valid)  # type: ignore[union-attr]
    out, h_n, c_n, _ = _LSTM.apply(x, w_ih, bias, w_hh, h0, c0, feed_mask, keep[0], keep[1],
                                ln_w_ih, ln_w_hh, ln_w_c, ln_b_c, eps, need_grad, loops, bn)
    return out, (h_n, c_n)
