"""The built-in cells' recurrence with a hand-written backward, for speed.

Under autograd a Python time loop records every elementwise op of every step and replays them
in backward. Here the forward runs without recording, writing each step into preallocated
``[T, B, ...]`` tensors, and the backward runs the reverse recurrence for dh only; the
recurrent-weight gradient is then one matmul over all timesteps, and the input-projection
gradient flows back through autograd as one matmul too.

It computes what :func:`rnnlab.layers.loop.time_loop` computes with the cells' step
functions — same recurrent-dropout mask, same keep weights (zoneout, lengths) — for GRU with
torch's activations and for Elman RNN / IndRNN with tanh or relu, without normalization or
with recurrent batch norm (its recurrent term's norm per step here, its input term's given
normalized). The LSTM, with layer norm too, has its own module built on the helpers here
(:mod:`rnnlab.layers.fast_lstm`). The tests check both paths against each other and with
``gradcheck``.

Conventions: ``xp [T, B, G*H]`` is the input term of every step (for RNN and IndRNN it includes
every bias; for GRU ``b_hh`` is separate because it sits inside ``r ⊙ (W_hn h + b_hn)``);
``keep_h`` is a ``[T, B, H]`` weight of the old state or None; ``feed_mask [B, H]`` is the
recurrent-dropout mask or None.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.layers.computation import differentiable_once
from rnnlab.layers.norm import BatchNormSteps


def step_slices(x: Tensor | None, steps: int) -> list[Tensor] | list[None]:
    """Per-step views of ``x [T, ...]`` (or Nones)."""
    return list(x.unbind(0)) if x is not None else [None] * steps


#: below this size MKL's packed GEMM gains less per step than packing the weights costs
PACK_MIN_SIZE = 256


def _can_pack(w: Tensor) -> bool:
    return (
        w.device.type == "cpu"
        and w.dtype == torch.float32
        and min(w.shape) >= PACK_MIN_SIZE
        and torch.backends.mkl.is_available()
        and hasattr(torch.ops.mkl, "_mkl_linear")
    )


class StepMatmul:
    """``x @ w`` for the ``[B, K]`` input of every step of a loop.

    On CPU with MKL, ``w`` is packed once per call into the GEMM's own layout, as oneDNN's fused
    nn.LSTM does; each step's product is then ~20% faster at H=512. Elsewhere it is ``x @ w``.
    """

    def __init__(self, w: Tensor, batch: int, parts: tuple[Tensor | None, Tensor | None] | None = None) -> None:
        """``parts``: ``(packed, lin)`` of an earlier instance, instead of packing ``w`` again."""
        self.w, self.batch = w, batch
        self.packed: Tensor | None = None
        self.lin: Tensor | None = None
        if parts is not None:
            self.packed, self.lin = parts
        elif _can_pack(w):
            self.lin = w.t().contiguous()  # as a linear layer's weight, [N, K]
            self.packed = torch.ops.mkl._mkl_reorder_linear_weight(self.lin, batch)

    def __call__(self, x: Tensor) -> Tensor:
        return step_matmul(x, self.w, self.packed, self.lin)

    def add_into(self, acc: Tensor, x: Tensor) -> None:
        """``acc += x @ w`` in place."""
        if self.packed is None:
            acc.addmm_(x, self.w)
        else:
            acc.add_(self(x))

    def plus(self, base: Tensor, x: Tensor) -> Tensor:
        """``base + x @ w`` as a new tensor."""
        return step_matmul(x, self.w, self.packed, self.lin, base)


def step_matmul(x: Tensor, w: Tensor, packed: Tensor | None, lin: Tensor | None, base: Tensor | None = None) -> Tensor:
    """``x @ w`` (plus ``base``) by :class:`StepMatmul`'s ``packed, lin`` (MKL's packed weight, for
    ``x.shape[0]`` rows) or, where they are None, by torch's matmul: a pure function of tensors,
    which the step functions call so that they compile (:mod:`rnnlab.layers.compiled_step`).

    >>> x, w = torch.ones(2, 3), torch.ones(3, 4)
    >>> step_matmul(x, w, None, None, torch.ones(2, 4))[0]
    tensor([4., 4., 4., 4.])
    """
    if packed is None:
        return x @ w if base is None else torch.addmm(base, x, w)
    y = torch.ops.mkl._mkl_linear(x, packed, lin, None, x.shape[0])
    return y if base is None else y.add_(base)


def fed_states(out: Tensor, h0: Tensor, feed_mask: Tensor | None, t0: int, t1: int) -> Tensor:
    """The states fed through W_hh at steps t0 … t1−1: ``[t1 − t0, B, H]``, in one new buffer."""
    fed = torch.empty_like(out[t0:t1])
    if t0 == 0:
        fed[0] = h0
        fed[1:] = out[: t1 - 1]
    else:
        fed.copy_(out[t0 - 1 : t1 - 1])
    return fed if feed_mask is None else fed.mul_(feed_mask)


class Kept:
    """What a fast loop's forward keeps for its backward besides its inputs and outputs, handed
    to ``setup_context`` as one more output of the forward: the form of an autograd Function
    that ``torch.func.grad`` takes saves nothing else (its forward has no ``ctx``). One object,
    not a tensor: neither autograd nor ``torch.func`` makes each of its tensors an output (a
    Function's tensor outputs cost ~3 µs each, and the LSTM keeps several per step)."""

    __slots__ = ("tensors", "info")

    def __init__(self, tensors: list[Tensor | None], info: Any = None) -> None:
        self.tensors, self.info = tensors, info


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        kind: str,
        act: str,
        xp: Tensor,
        w_hh: Tensor,
        b_hh: Tensor | None,
        h0: Tensor,
        feed_mask: Tensor | None,
        keep_h: Tensor | None,
        bn: BatchNormSteps | None,
        gain: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        T, B = xp.shape[:2]
        H = h0.shape[-1]
        out = xp.new_empty(T, B, H)
        wt = w_hh.t() if w_hh.dim() == 2 else w_hh
        # recurrent batch norm: each step's recurrent term before its norm, and its statistics
        raw = xp.new_empty(T, B, xp.shape[-1]) if bn is not None else None
        stats: list[Tensor] = []
        V = step_slices(None if bn is None else bn.valid, T)

        def normalized(r: Tensor, t: int) -> Tensor:
            """The recurrent term ``r`` of step t through its batch norm (kept for the backward)."""
            raw[t].copy_(r)  # type: ignore[index]
            y, mean, rstd = bn.hh.forward_step(r, t, V[t], gain, None)  # type: ignore[union-attr]
            stats.extend((mean, rstd))
            return y

        if kind == "gru":
            acts = xp.new_empty(T, B, 3 * H)
            ghn = xp.new_empty(T, B, H)
            for t in range(T):
                h_prev = h0 if t == 0 else out[t - 1]
                h_fed = h_prev * feed_mask if feed_mask is not None else h_prev
                if bn is None:
                    gh = torch.addmm(b_hh, h_fed, wt) if b_hh is not None else h_fed @ wt
                else:
                    gh = normalized(h_fed @ wt, t)
                    gh = gh if b_hh is None else gh.add_(b_hh)
                a, x = acts[t], xp[t]
                rz = torch.add(x[:, : 2 * H], gh[:, : 2 * H], out=a[:, : 2 * H]).sigmoid_()
                ghn[t].copy_(gh[:, 2 * H :])
                n = torch.addcmul(x[:, 2 * H :], rz[:, :H], ghn[t], out=a[:, 2 * H :]).tanh_()
                torch.lerp(n, h_prev, rz[:, H:], out=out[t])
                if keep_h is not None:
                    out[t].lerp_(h_prev, keep_h[t])
            saved = [acts, ghn]
        else:  # Elman RNN (matrix) or IndRNN (vector), tanh or relu
            hn = xp.clone()  # input terms; each step adds its recurrent term in place
            if keep_h is None:
                out = hn
            for t in range(T):
                h_prev = h0 if t == 0 else out[t - 1]
                h_fed = h_prev * feed_mask if feed_mask is not None else h_prev
                if bn is not None:
                    hn[t].add_(normalized(h_fed @ wt if kind == "rnn" else wt * h_fed, t))
                elif kind == "rnn":
                    hn[t].addmm_(h_fed, wt)
                else:
                    hn[t].addcmul_(wt, h_fed)
                hn[t].tanh_() if act == "tanh" else hn[t].relu_()
                if keep_h is not None:
                    torch.lerp(hn[t], h_prev, keep_h[t], out=out[t])
            saved = [hn]
        return out, out[-1].clone(), Kept([out, h0, w_hh, feed_mask, keep_h, gain, raw, *stats, *saved])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
        kind, act, _, _, b_hh, _, _, _, bn, _ = inputs
        ctx.kind, ctx.act, ctx.has_bhh, ctx.bn = kind, act, b_hh is not None, bn
        ctx.save_for_backward(*output[2].tensors)

    @staticmethod
    @differentiable_once()  # (in-place, out= ops: torch.func.grad calls it with create_graph=True)
    def backward(ctx: Any, d_out: Tensor, d_hT: Tensor, _kept: None) -> tuple[Any, ...]:  # type: ignore[override]
        out, h0, w_hh, feed_mask, keep_h, gain, raw, *saved = ctx.saved_tensors
        kind, bn = ctx.kind, ctx.bn
        T, B, H = out.shape
        d_b_hh = None
        h_fed_all = fed_states(out, h0, feed_mask, 0, T)
        d_gain = None
        if bn is not None:
            stats, saved = saved[: 2 * T], saved[2 * T :]
            V = step_slices(bn.valid, T)
            d_gain = torch.zeros_like(gain)
            d_raw = torch.empty_like(raw)  # gradient of each step's recurrent term before its norm

        def through_norm(d: Tensor, t: int) -> Tensor:
            """The gradient ``d`` of step t's normalized recurrent term, back through its norm."""
            if bn is None:
                return d
            dr, dg, _ = bn.hh.backward_step(d, raw[t], stats[2 * t], stats[2 * t + 1], V[t], gain, bn.training, False)
            d_gain.add_(dg)  # type: ignore[union-attr]
            return d_raw[t].copy_(dr)
        if kind == "gru":
            dh = d_hT.clone()
            acts, ghn = saved
            r, z, n = acts.split(H, dim=2)
            a_n = torch.mul(n, n).neg_().add_(1).mul_(1 - z)  # (1−n²)(1−z)
            a_z = fed_states(out, h0, None, 0, T).sub_(n).mul_(torch.addcmul(z, z, z, value=-1))  # (h_prev − n)·z(1−z)
            b_r = torch.addcmul(r, r, r, value=-1).mul_(ghn)  # r(1−r)·(W_hn h + b_hn)
            # Gradients of the input terms (r, z, n) and of the recurrent term's n part; the
            # recurrent term's r and z parts equal the input terms', so they are not stored twice.
            dGI = torch.empty_like(acts)
            dGHn = torch.empty_like(ghn)
            gh = acts.new_empty(B, 3 * H)  # one step's recurrent-term gradient
            for t in range(T - 1, -1, -1):
                dh = dh + d_out[t]
                dhn = torch.addcmul(dh, dh, keep_h[t], value=-1) if keep_h is not None else dh
                gi = dGI[t]
                dn = torch.mul(dhn, a_n[t], out=gi[:, 2 * H :])
                torch.mul(dhn, a_z[t], out=gi[:, H : 2 * H])
                torch.mul(dn, b_r[t], out=gi[:, :H])
                gh[:, : 2 * H].copy_(gi[:, : 2 * H])
                torch.mul(dn, r[t], out=dGHn[t])
                gh[:, 2 * H :].copy_(dGHn[t])
                dh_prev = through_norm(gh, t) @ w_hh
                if feed_mask is not None:
                    dh_prev.mul_(feed_mask)
                dh_prev.addcmul_(dhn, z[t])
                if keep_h is not None:
                    dh_prev.addcmul_(dh, keep_h[t])
                dh = dh_prev
            del a_n, a_z, b_r
            d_xp = dGI
            d_rz, d_n = dGI[..., : 2 * H].reshape(T * B, 2 * H), dGHn.view(T * B, H)
            fed = h_fed_all.view(T * B, H)
            if bn is not None:
                d_w = d_raw.view(T * B, 3 * H).t() @ fed
            else:
                d_w = torch.cat([d_rz.t() @ fed, d_n.t() @ fed])
            if ctx.has_bhh:
                d_b_hh = torch.cat([d_rz.sum(0), d_n.sum(0)])
        else:
            dh = d_hT.clone()
            (hn,) = saved
            deriv = torch.mul(hn, hn).neg_().add_(1) if ctx.act == "tanh" else (hn > 0).to(hn.dtype)
            dG = torch.empty_like(hn)
            for t in range(T - 1, -1, -1):
                dh = dh + d_out[t]
                dhn = torch.addcmul(dh, dh, keep_h[t], value=-1) if keep_h is not None else dh
                d = through_norm(torch.mul(dhn, deriv[t], out=dG[t]), t)
                dh_prev = d @ w_hh if kind == "rnn" else d * w_hh
                if feed_mask is not None:
                    dh_prev.mul_(feed_mask)
                if keep_h is not None:
                    dh_prev.addcmul_(dh, keep_h[t])
                dh = dh_prev
            d_xp = dG
            dR = dG if bn is None else d_raw  # (the recurrent term's gradient)
            if kind == "rnn":
                d_w = dR.reshape(T * B, H).t() @ h_fed_all.reshape(T * B, H)
            else:
                d_w = (dR * h_fed_all).sum((0, 1))
        return None, None, d_xp, d_w, d_b_hh, dh, None, None, None, d_gain


def fast_loop(
    kind: str,
    activation: str,
    xp: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    state: tuple[Tensor, ...],
    keep: list[Tensor | None],
    feed_mask: Tensor | None,
    batch_norm: BatchNormSteps | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one direction of a GRU, Elman RNN or IndRNN; same contract as
    :func:`rnnlab.layers.loop.time_loop` (the LSTM has :func:`rnnlab.layers.fast_lstm.fast_lstm`).
    With ``batch_norm`` (recurrent batch norm), ``xp`` is the normalized input term and the
    recurrent term is normalized at each step (``b_hh``, if any, after its norm).

    >>> T, B, H = 5, 2, 3
    >>> out, (h,) = fast_loop("rnn", "tanh", torch.randn(T, B, H), torch.randn(H, H), None, (torch.zeros(B, H),),
    ...                       [None], None)
    >>> out.shape, torch.equal(out[-1], h)
    (torch.Size([5, 2, 3]), True)
    """
    if kind not in ("gru", "rnn", "indrnn"):
        raise ValueError(f"kind: expected 'gru', 'rnn' or 'indrnn', got {kind!r}")
    gain = None if batch_norm is None else batch_norm.hh.weight
    out, h_n, _ = _Recurrence.apply(kind, activation, xp, w_hh, b_hh, state[0], feed_mask, keep[0], batch_norm, gain)
    return out, (h_n,)
