"""The built-in cells' recurrence with a hand-written backward, for speed.

Under autograd a Python time loop records every elementwise op of every step and replays them
in backward. Here the forward runs without recording, writing each step into preallocated
``[T, B, ...]`` tensors, and the backward runs the reverse recurrence for dh/dc only; the
recurrent-weight gradient is then one matmul over all timesteps, and the input-projection
gradient flows back through autograd as one matmul too.

It computes exactly what :func:`rnnlab.layers.loop.time_loop` computes with the cells' step
functions — same recurrent-dropout mask, same keep weights (zoneout, lengths) — for LSTM and GRU
with torch's activations, and for Elman RNN / IndRNN with tanh or relu, without normalization.
The tests check both paths against each other and with ``gradcheck``.

Conventions: ``xp [T, B, G*H]`` is the input term of every step (for LSTM, RNN and IndRNN it
includes every bias; for GRU ``b_hh`` is separate because it sits inside ``r ⊙ (W_hn h + b_hn)``);
for LSTM the cell-candidate (g) rows of ``xp`` and ``w_hh`` (or of the recurrent norm's
gain) are pre-scaled by 2, because all four gates go through one sigmoid (tanh(x) = 2σ(2x) − 1);
``keep_h``/``keep_c`` are ``[T, B, H]`` weights of the old state or None; ``feed_mask [B, H]`` is
the recurrent-dropout mask or None.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: (kind, activation) pairs this module computes
FAST_CELLS = frozenset({("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu"),
                        ("indrnn", "tanh"), ("indrnn", "relu")})


def _steps(x: Tensor | None, steps: int) -> list[Tensor] | list[None]:
    """Per-step views of ``x [T, ...]`` (or Nones)."""
    return list(x.unbind(0)) if x is not None else [None] * steps


def _lstm_gate_factors(acts: Tensor, tc: Tensor, cs: Tensor, c0: Tensor) -> Tensor:
    """Per step, d(pre-activation) = factor ⊙ dc for i, f, g and factor ⊙ dh for o.

    ``acts`` holds σ of the pre-activations, with the g rows pre-scaled by 2 so that
    g = 2σ − 1 = tanh; the factors are built in place in one buffer to keep the peak memory near
    torch's.
    """
    H = tc.shape[-1]
    i, f, sg, o = acts.split(H, dim=2)
    q = torch.empty_like(acts)
    qi, qf, qg, qo = q.split(H, dim=2)
    torch.addcmul(i, i, i, value=-1, out=qi).mul_(sg.mul(2).sub_(1))  # i(1−i)·g
    torch.addcmul(f, f, f, value=-1, out=qf)  # f(1−f)·c_prev
    qf[0].mul_(c0)
    qf[1:].mul_(cs[:-1])
    torch.addcmul(sg, sg, sg, value=-1, out=qg).mul_(i).mul_(2)  # 2σ'(2x)·i: d g / d(2x)
    torch.addcmul(o, o, o, value=-1, out=qo).mul_(tc)  # o(1−o)·tanh(c)
    return q


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        kind: str,
        act: str,
        xp: Tensor,
        w_hh: Tensor,
        b_hh: Tensor | None,
        h0: Tensor,
        c0: Tensor | None,
        feed_mask: Tensor | None,
        keep_h: Tensor | None,
        keep_c: Tensor | None,
        ln_w_hh: Tensor | None = None,
        ln_w_c: Tensor | None = None,
        ln_b_c: Tensor | None = None,
        eps: float = 1e-5,
    ) -> tuple[Tensor, Tensor, Tensor]:
        T, B = xp.shape[:2]
        H = h0.shape[-1]
        out = xp.new_empty(T, B, H)
        wt = w_hh.t() if w_hh.dim() == 2 else w_hh
        saved: list[Tensor | None] = []
        if kind == "lstm":
            ln = ln_w_hh is not None
            # Start from the input terms and add each step's recurrent term in place:
            # ``addmm(..., out=)`` would copy the input term first, step by step, at 3× the cost.
            acts = xp.clone()
            tc = xp.new_empty(T, B, H)
            cs = xp.new_empty(T, B, H)
            cn = xp.new_empty(T, B, H) if keep_c is not None else cs  # new cell before zoneout
            if ln:
                # Layer norm of the recurrent term (over the stacked gates) and of the cell; the
                # input term was normalized for all steps at once before.
                rr = xp.new_empty(T, B, 4 * H)  # recurrent term before its norm
                stats = xp.new_empty(4, T, B, 1)  # mean, rstd of the recurrent term; of the cell
            # Per-step views made once (unbind): indexing inside the loop costs a dispatch each.
            A, CN, TC, CS, OUT = acts.unbind(0), cn.unbind(0), tc.unbind(0), cs.unbind(0), out.unbind(0)
            KH, KC = _steps(keep_h, T), _steps(keep_c, T)
            if ln:
                RR, (M_r, S_r, M_c, S_c) = rr.unbind(0), [st.unbind(0) for st in stats.unbind(0)]
            for t in range(T):
                h_prev = h0 if t == 0 else OUT[t - 1]
                c_prev = c0 if t == 0 else CS[t - 1]
                h_fed = h_prev * feed_mask if feed_mask is not None else h_prev
                a, c_new = A[t], CN[t]
                if ln:
                    r = RR[t].copy_(h_fed @ wt)  # (mm with out= is the slower kernel)
                    r_hat, mean, rstd = torch.native_layer_norm(r, (4 * H,), None, None, eps)
                    M_r[t].copy_(mean)
                    S_r[t].copy_(rstd)
                    a.addcmul_(r_hat, ln_w_hh)
                else:
                    a.addmm_(h_fed, wt)
                a.sigmoid_()  # g rows pre-scaled: g = 2σ − 1 = tanh
                i, f, sg, o = a.split(H, dim=1)
                torch.mul(f, c_prev, out=c_new).addcmul_(i, sg, value=2).sub_(i)
                if ln:
                    c_hat, mean, rstd = torch.native_layer_norm(c_new, (H,), ln_w_c, ln_b_c, eps)
                    M_c[t].copy_(mean)
                    S_c[t].copy_(rstd)
                    torch.tanh(c_hat, out=TC[t])
                else:
                    torch.tanh(c_new, out=TC[t])
                if KC[t] is not None:
                    torch.lerp(c_new, c_prev, KC[t], out=CS[t])
                torch.mul(o, TC[t], out=OUT[t])
                if KH[t] is not None:
                    OUT[t].lerp_(h_prev, KH[t])
            saved = [acts, tc, cs, c0] + ([rr, cn, stats, ln_w_hh, ln_w_c, ln_b_c] if ln else [])
        elif kind == "gru":
            acts = xp.new_empty(T, B, 3 * H)
            ghn = xp.new_empty(T, B, H)
            for t in range(T):
                h_prev = h0 if t == 0 else out[t - 1]
                h_fed = h_prev * feed_mask if feed_mask is not None else h_prev
                gh = torch.addmm(b_hh, h_fed, wt) if b_hh is not None else h_fed @ wt
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
                if kind == "rnn":
                    hn[t].addmm_(h_fed, wt)
                else:
                    hn[t].addcmul_(wt, h_fed)
                hn[t].tanh_() if act == "tanh" else hn[t].relu_()
                if keep_h is not None:
                    torch.lerp(hn[t], h_prev, keep_h[t], out=out[t])
            saved = [hn]
        ctx.kind, ctx.act, ctx.has_bhh = kind, act, b_hh is not None
        ctx.n_saved = len(saved)
        ctx.save_for_backward(out, h0, w_hh, feed_mask, keep_h, keep_c, *saved)
        c_last = cs[-1].clone() if kind == "lstm" else xp.new_empty(0)
        return out, out[-1].clone(), c_last

    @staticmethod
    def backward(ctx: Any, d_out: Tensor, d_hT: Tensor, d_cT: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        out, h0, w_hh, feed_mask, keep_h, keep_c, *saved = ctx.saved_tensors
        kind = ctx.kind
        T, B, H = out.shape
        # The state each step fed through W_hh, in one buffer (no concatenated copies: memory).
        h_fed_all = torch.empty_like(out)
        h_fed_all[0] = h0
        h_fed_all[1:] = out[:-1]
        if feed_mask is not None:
            h_fed_all.mul_(feed_mask)
        dh = d_hT.clone()
        d_b_hh = d_c0 = None
        d_ln: list[Tensor | None] = [None, None, None]
        if kind == "lstm":
            acts, tc, cs, c0, *ln_saved = saved
            ln = bool(ln_saved)
            q = _lstm_gate_factors(acts, tc, cs, c0)
            o = acts[..., 3 * H :]
            r = torch.mul(tc, tc).neg_().add_(1).mul_(o)  # o(1−tanh²): dh → d(cell or normalized cell)
            dG = torch.empty_like(acts)
            dc = d_cT.clone()
            if ln:
                rr, cn, stats, ln_w_hh, ln_w_c, ln_b_c = ln_saved
                dR = q  # gradient of the recurrent term before its norm, written over q[t] once used
                dCH = torch.empty_like(tc)  # gradient of the normalized cell
                ln_bwd = torch.ops.aten.native_layer_norm_backward
                grad_only = [True, False, False]
            DO, KH, KC = d_out.unbind(0), _steps(keep_h, T), _steps(keep_c, T)
            Q, R, DG, FG = q.unbind(0), r.unbind(0), dG.unbind(0), acts[..., H : 2 * H].unbind(0)
            if ln:
                RR, CN, DCH = rr.unbind(0), cn.unbind(0), dCH.unbind(0)
                M_r, S_r, M_c, S_c = (st.unbind(0) for st in stats.unbind(0))
            for t in range(T - 1, -1, -1):
                kh, kc = KH[t], KC[t]
                dh = dh + DO[t]
                dhn = torch.addcmul(dh, dh, kh, value=-1) if kh is not None else dh
                dcn = torch.addcmul(dc, dc, kc, value=-1) if kc is not None else dc
                if ln:
                    d_chat = torch.mul(dhn, R[t], out=DCH[t])
                    dcn = ln_bwd(d_chat, CN[t], (H,), M_c[t], S_c[t], ln_w_c, ln_b_c, grad_only)[0].add_(dcn)
                else:
                    dcn = torch.addcmul(dcn, dhn, R[t])
                d = torch.mul(Q[t], torch.cat((dcn, dcn, dcn, dhn), 1), out=DG[t])
                if ln:
                    # the gradient before the norm goes into q's row t, no longer needed
                    d = Q[t].copy_(ln_bwd(d, RR[t], (4 * H,), M_r[t], S_r[t], ln_w_hh, None, grad_only)[0])
                dc_prev = dcn * FG[t]
                if kc is not None:
                    dc_prev.addcmul_(dc, kc)
                dh_prev = d @ w_hh
                if feed_mask is not None:
                    dh_prev.mul_(feed_mask)
                if kh is not None:
                    dh_prev.addcmul_(dh, kh)
                dh, dc = dh_prev, dc_prev
            del r
            d_c0 = dc
            d_xp = dG
            d_w = (dR if ln else dG).reshape(T * B, -1).t() @ h_fed_all.reshape(T * B, H)
            if ln:
                # Gain gradients: sums over steps of grad ⊙ normalized value, a chunk of steps
                # at a time so that no second [T, B, 4H] tensor is alive at the memory peak.
                d_ln = [tc.new_zeros(4 * H), tc.new_zeros(H), dCH.sum((0, 1))]
                for c in range(0, T, 16):
                    s = slice(c, c + 16)
                    d_ln[0] += (dG[s] * (rr[s] - stats[0, s]).mul_(stats[1, s])).sum((0, 1))
                    d_ln[1] += (dCH[s] * (cn[s] - stats[2, s]).mul_(stats[3, s])).sum((0, 1))
        elif kind == "gru":
            acts, ghn = saved
            r, z, n = acts.split(H, dim=2)
            a_n = torch.mul(n, n).neg_().add_(1).mul_(1 - z)  # (1−n²)(1−z)
            a_z = torch.empty_like(n)  # (h_prev − n)·z(1−z)
            a_z[0] = h0
            a_z[1:] = out[:-1]
            a_z.sub_(n).mul_(torch.addcmul(z, z, z, value=-1))
            b_r = torch.addcmul(r, r, r, value=-1).mul_(ghn)  # r(1−r)·(W_hn h + b_hn)
            dGI = torch.empty_like(acts)
            dGH = torch.empty_like(acts)
            for t in range(T - 1, -1, -1):
                dh = dh + d_out[t]
                dhn = torch.addcmul(dh, dh, keep_h[t], value=-1) if keep_h is not None else dh
                gi, gh = dGI[t], dGH[t]
                dn = torch.mul(dhn, a_n[t], out=gi[:, 2 * H :])
                torch.mul(dhn, a_z[t], out=gi[:, H : 2 * H])
                torch.mul(dn, b_r[t], out=gi[:, :H])
                gh[:, : 2 * H].copy_(gi[:, : 2 * H])
                torch.mul(dn, r[t], out=gh[:, 2 * H :])
                dh_prev = gh @ w_hh
                if feed_mask is not None:
                    dh_prev.mul_(feed_mask)
                dh_prev.addcmul_(dhn, z[t])
                if keep_h is not None:
                    dh_prev.addcmul_(dh, keep_h[t])
                dh = dh_prev
            del a_n, a_z, b_r
            d_xp = dGI
            flat = dGH.reshape(T * B, -1)
            d_w = flat.t() @ h_fed_all.reshape(T * B, H)
            if ctx.has_bhh:
                d_b_hh = flat.sum(0)
        else:
            (hn,) = saved
            deriv = torch.mul(hn, hn).neg_().add_(1) if ctx.act == "tanh" else (hn > 0).to(hn.dtype)
            dG = torch.empty_like(hn)
            for t in range(T - 1, -1, -1):
                dh = dh + d_out[t]
                dhn = torch.addcmul(dh, dh, keep_h[t], value=-1) if keep_h is not None else dh
                d = torch.mul(dhn, deriv[t], out=dG[t])
                dh_prev = d @ w_hh if kind == "rnn" else d * w_hh
                if feed_mask is not None:
                    dh_prev.mul_(feed_mask)
                if keep_h is not None:
                    dh_prev.addcmul_(dh, keep_h[t])
                dh = dh_prev
            d_xp = dG
            if kind == "rnn":
                d_w = dG.reshape(T * B, H).t() @ h_fed_all.reshape(T * B, H)
            else:
                d_w = (dG * h_fed_all).sum((0, 1))
        return (None, None, d_xp, d_w, d_b_hh, dh, d_c0, None, None, None, *d_ln, None)


def fast_loop(
    kind: str,
    activation: str,
    xp: Tensor,
    w_hh: Tensor,
    b_hh: Tensor | None,
    state: tuple[Tensor, ...],
    keep: list[Tensor | None],
    feed_mask: Tensor | None,
    layer_norm: tuple[Tensor, Tensor, Tensor, float] | None = None,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one direction of a built-in cell; same contract as :func:`rnnlab.layers.loop.time_loop`.

    ``layer_norm`` (LSTM only) is ``(gain of the recurrent-term norm, gain and shift of the cell
    norm, eps)``; ``xp`` must then hold the normalized input term plus both biases.
    """
    h0 = state[0]
    lstm = kind == "lstm"
    c0 = state[1] if lstm else None
    keep_c = keep[1] if lstm else None
    if layer_norm is not None:
        if not lstm:
            raise ValueError(f"layer_norm: the fast loop normalizes LSTM cells only, got {kind!r}")
        w_r, w_c, b_c, eps = layer_norm
        res = _Recurrence.apply(kind, activation, xp, w_hh, None, h0, c0, feed_mask, keep[0], keep_c,
                                w_r, w_c, b_c, eps)
    else:
        res = _Recurrence.apply(kind, activation, xp, w_hh, b_hh, h0, c0, feed_mask, keep[0], keep_c)
    out, h_n, c_n = res
    return out, ((h_n, c_n) if lstm else (h_n,))
