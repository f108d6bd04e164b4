"""Gradient through time: |dLoss/dh_t| per timestep and channel for every recurrent layer.

``h_t`` is the hidden state of one layer and direction after step ``t``, and the derivative is the
*total* one: it includes every path from ``h_t`` to the loss — through the layer's output at
``t``, through the next layer at ``t``, and through all later steps of the recurrence. This is
what tells how far back in time a learning signal reaches (vanishing: it shrinks going back;
exploding: it grows).

How: torch's fused kernels hide ``h_t``, so while the model runs, every recurrent layer is re-run
one timestep at a time on the same weights (a forward hook replaces its output), one layer and
direction at a time, and each step's ``h_t`` is the single tensor that feeds both the output and
the next step. ``torch.autograd.grad`` of the loss with respect to these tensors is then exactly
the total derivative. Parameters' ``.grad`` are not touched.

Run the model in ``eval()`` mode for a deterministic answer: in training mode dropout masks are
drawn per step call (variational masks are not shared across steps).

Example:
    >>> import torch
    >>> model = torch.nn.LSTM(3, 4, batch_first=True)
    >>> x = torch.randn(2, 6, 3)
    >>> gtt = grad_through_time(model, x, lambda out: out[0][:, -1].sum())
    >>> gtt[""].grad.shape  # [T, C]
    (6, 4)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.gates import DIRECTIONS, kind_of
from rnnlab.introspect.batch import compute_loss
from rnnlab.introspect.modules import recurrent_modules
from rnnlab.introspect.stats import decay_rate, gradient_reach


@dataclass
class GradThroughTime:
    """Gradient through time of one recurrent module.

    ``layers[(layer, direction)]`` is ``[T, H]``: mean over the batch of ``|dLoss/dh_t|`` per
    timestep ``t`` (forward time order, also for the reverse direction) and hidden channel. With
    variable lengths the mean runs over the sequences still running at ``t`` (NaN where none is).
    """

    module: str
    kind: str | None
    num_layers: int
    directions: tuple[str, ...]
    layers: dict[tuple[int, str], np.ndarray]

    @property
    def grad(self) -> np.ndarray:
        """``[T, C]`` of the top layer, directions concatenated along C like the module output
        (forward channels first)."""
        top = self.num_layers - 1
        return np.concatenate([self.layers[(top, d)] for d in self.directions], axis=1)

    @property
    def timesteps(self) -> int:
        return next(iter(self.layers.values())).shape[0]

    def _key(self, layer: int, direction: str) -> tuple[int, str]:
        layer = layer % self.num_layers
        if (layer, direction) not in self.layers:
            raise KeyError(
                f"direction: expected one of {list(self.directions)} for layer {layer}, got {direction!r}"
            )
        return layer, direction

    def per_timestep(self, layer: int = -1, direction: str = "forward") -> np.ndarray:
        """``[T]``: mean over channels of ``|dLoss/dh_t|`` of one layer (default: top) and direction."""
        return np.nanmean(self.layers[self._key(layer, direction)], axis=1)

    def _processing_order(self, layer: int, direction: str) -> np.ndarray:
        # The reverse direction's last step is t = 0: reach and decay run in processing order.
        g = self.per_timestep(layer, direction)
        return g[::-1].copy() if direction == "reverse" else g

    def reach(self, rel: float = 1e-3, layer: int = -1, direction: str = "forward") -> int:
        """Steps back from the last processed step until the gradient falls below ``rel`` × its
        last value (see :func:`rnnlab.introspect.stats.gradient_reach`)."""
        return gradient_reach(np.nan_to_num(self._processing_order(layer, direction)), rel)

    def decay(self, layer: int = -1, direction: str = "forward") -> float:
        """Fitted per-step factor going back in time (see :func:`rnnlab.introspect.stats.decay_rate`)."""
        return decay_rate(np.nan_to_num(self._processing_order(layer, direction)))


@dataclass
class _Record:
    module: nn.Module
    probes: dict[tuple[int, int], list[Tensor]]  # (layer, direction index) -> T tensors [B, H]
    valid: Tensor | None  # [T, B] bool


def _call_args(module: nn.Module, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    names = ("input", "hx", "lengths")
    vals = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in names:
            raise TypeError(f"{type(module).__name__}: unexpected keyword {k!r} in the forward call")
        vals[k] = v
    return vals.get("input"), vals.get("hx"), vals.get("lengths")


def _num_states(module: nn.Module) -> int:
    n = getattr(module, "num_states", None)
    if isinstance(n, int):
        return n
    return 2 if kind_of(module) == "lstm" else 1


def _layer_functions(module: nn.Module) -> list[tuple[Callable, float]]:
    """Per layer: ``(f, between-layers dropout)`` where ``f(x [1, B, I] time-major, state tuple of
    [D, B, *]) -> (y [1, B, D*H], state tuple)`` computes exactly what ``module`` computes for
    that layer."""
    ns = _num_states(module)
    L = module.num_layers

    def as_hx(state: tuple[Tensor, ...]) -> Any:
        return state if ns == 2 else state[0]

    def as_tuple(st: Any) -> tuple[Tensor, ...]:
        return tuple(st) if isinstance(st, (tuple, list)) else (st,)

    if not isinstance(module, nn.RNNBase):
        if L != 1:
            raise ValueError(
                f"module: gradient through time of a stacked {type(module).__name__} "
                f"(num_layers={L}) is not supported yet; stack single-layer modules instead"
            )
        bf = bool(getattr(module, "batch_first", False))

        def whole(x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple]:
            y, st = module(x.transpose(0, 1) if bf else x, as_hx(state))
            return (y.transpose(0, 1) if bf else y), as_tuple(st)

        return [(whole, 0.0)]
    # torch's layers: run layer k alone as a single-layer module of the same type on layer k's
    # own parameters (functional_call keeps the graph to the real parameters).
    base = next(c for c in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(module, c))
    D = 2 if module.bidirectional else 1
    out_size = (module.proj_size or module.hidden_size) if base is nn.LSTM else module.hidden_size
    funcs = []
    for k in range(L):
        kw: dict[str, Any] = {
            "input_size": module.input_size if k == 0 else out_size * D,
            "hidden_size": module.hidden_size,
            "num_layers": 1,
            "bias": module.bias,
            "bidirectional": module.bidirectional,
            "device": "meta",
        }
        if base is nn.LSTM:
            kw["proj_size"] = module.proj_size
        if base is nn.RNN:
            kw["nonlinearity"] = module.nonlinearity
        single = base(**kw)
        params = {n: getattr(module, n.replace("_l0", f"_l{k}")) for n in single._flat_weights_names}

        def layer_fn(x: Tensor, state: tuple[Tensor, ...], single=single, params=params) -> tuple[Tensor, tuple]:
            y, st = functional_call(single, params, (x, as_hx(state)))
            return y, as_tuple(st)

        funcs.append((layer_fn, module.dropout if k < L - 1 else 0.0))
    return funcs


def _run_layer(
    fn: Callable, xs: Tensor, state: tuple[Tensor, ...], D: int, valid: Tensor | None
) -> tuple[Tensor, tuple[Tensor, ...], list[list[Tensor]]]:
    """Step one layer (both directions) over time-major ``xs [T, B, I]`` from ``state`` (tuple of
    ``[D, B, *]``). Returns the output ``[T, B, D*H]``, the final state and per direction the T
    probe tensors ``[B, H]`` (each the single tensor through which h_t reaches everything)."""
    T = xs.shape[0]
    probes: list[list[Tensor | None]] = [[None] * T for _ in range(D)]
    outs: list[list[Tensor | None]] = [[None] * T for _ in range(D)]
    for s in range(T):
        new: list[tuple[Tensor, ...]] = []
        for d in range(D):
            t = s if d == 0 else T - 1 - s
            y, st = fn(xs[t : t + 1], state)
            h_size = st[0].shape[-1]
            y_d = y[0, :, d * h_size : (d + 1) * h_size] if y.shape[-1] == D * h_size else None
            mine = tuple(x[d] for x in st)
            if valid is not None:
                v = valid[t].view(-1, *([1] * (mine[0].dim() - 1)))
                mine = tuple(torch.where(v, n, o[d]) for n, o in zip(mine, state, strict=True))
            h = mine[0]
            # Built-in layers output h_t itself; then the output is taken from the probe so
            # that the probe is the only path from h_t onwards (a total derivative).
            same = y_d is not None and torch.equal(y_d, st[0][d])
            out = h if same else y[0]
            if valid is not None:
                out = out * valid[t].view(-1, *([1] * (out.dim() - 1))).to(out.dtype)
            probes[d][t] = h
            outs[d][t] = out
            new.append(mine)
        state = tuple(torch.stack([n[i] for n in new]) for i in range(len(state)))
    if all(o is not None and o.shape == probes[0][0].shape for o in outs[0]):
        output = torch.stack([torch.cat([outs[d][t] for d in range(D)], dim=-1) for t in range(T)])
    else:  # a layer whose output is not its hidden state
        output = torch.stack([outs[0][t] for t in range(T)])
    return output, state, probes  # type: ignore[return-value]


def _stepwise(module: nn.Module, x: Any, hx: Any, lengths: Any, original: Any) -> tuple[Any, _Record]:
    packed = None
    if isinstance(x, PackedSequence):
        packed = x
        xs, lens = pad_packed_sequence(x)
    elif isinstance(x, Tensor):
        if x.dim() != 3:
            raise ValueError(
                f"input: gradient through time needs a batched 3-D input, got shape {tuple(x.shape)}"
            )
        xs = x.transpose(0, 1) if getattr(module, "batch_first", False) else x
        lens = None if lengths is None else torch.as_tensor(lengths).cpu()
    else:
        raise TypeError(f"input: expected a Tensor or PackedSequence, got {type(x).__name__}")
    T, B = xs.shape[:2]
    valid = None
    if lens is not None:
        valid = torch.arange(T)[:, None] < lens[None, :]
        valid = valid.to(xs.device)
    D = 2 if module.bidirectional else 1
    fns = _layer_functions(module)
    orig_state = original[1] if isinstance(original, tuple) else None
    ns = _num_states(module)
    finals: list[list[Tensor]] = [[] for _ in range(ns)]
    probes: dict[tuple[int, int], list[Tensor]] = {}
    layer_in = xs
    for k, (fn, p_drop) in enumerate(fns):
        if hx is not None:
            states = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
            state = tuple(s[k * D : (k + 1) * D] for s in states)
        else:
            ref = tuple(orig_state) if isinstance(orig_state, (tuple, list)) else (orig_state,)
            state = tuple(torch.zeros_like(s[k * D : (k + 1) * D]) for s in ref)
        out, fin, pr = _run_layer(fn, layer_in, state, D, valid)
        for d in range(D):
            probes[(k, d)] = pr[d]
        for i, f in enumerate(fin):
            finals[i].append(f)
        layer_in = F.dropout(out, p_drop, module.training) if p_drop else out
    h_n = tuple(torch.cat(f, dim=0) for f in finals)
    out = layer_in
    if packed is not None:
        if packed.sorted_indices is not None:
            out = out.index_select(1, packed.sorted_indices)
            sl = lens[packed.sorted_indices.cpu()]
        else:
            sl = lens
        data = pack_padded_sequence(out, sl).data
        out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    elif getattr(module, "batch_first", False):
        out = out.transpose(0, 1)
    state_out = h_n if isinstance(orig_state, (tuple, list)) else h_n[0]
    return (out, state_out), _Record(module=module, probes=probes, valid=valid)


def grad_through_time(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable[..., Tensor],
    modules: list[str] | None = None,
) -> dict[str, GradThroughTime]:
    """``|dLoss/dh_t|`` per timestep and channel for every recurrent layer of ``model``.

    ``batch`` and ``loss_fn`` follow :mod:`rnnlab.introspect.batch` (``loss_fn(model(x), y)``).
    Works for many-to-one models (loss on the last output or on ``h_n``) and many-to-many ones.
    Keys are module names (``""`` when the model is itself the layer; a module called twice
    in one forward gets ``name`` and ``name#1``). ``modules`` restricts to the named modules.

    >>> import torch
    >>> rnn = torch.nn.GRU(2, 3, num_layers=2, bidirectional=True)
    >>> g = grad_through_time(rnn, torch.randn(5, 4, 2), lambda out: out[0].pow(2).mean())[""]
    >>> sorted(g.layers), g.grad.shape
    ([(0, 'forward'), (0, 'reverse'), (1, 'forward'), (1, 'reverse')], (5, 6))
    """
    targets = recurrent_modules(model)
    if modules is not None:
        known = dict(targets)
        for name in modules:
            if name not in known:
                from rnnlab._checks import did_you_mean

                raise KeyError(
                    f"modules: {name!r} is not a recurrent module of the model "
                    f"(recurrent modules: {list(known)}){did_you_mean(name, list(known))}"
                )
        targets = [(n, m) for n, m in targets if n in modules]
    if not targets:
        raise ValueError(f"model: {type(model).__name__} has no recurrent module (nn.LSTM/GRU/RNN or rnnlab layer)")
    records: list[tuple[str, _Record]] = []
    handles = []
    stepping: set[int] = set()

    def make_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
            if id(module) in stepping:  # the one-step calls made by _stepwise itself
                return output
            x, hx, lengths = _call_args(module, args, kwargs)
            stepping.add(id(module))
            try:
                new_output, rec = _stepwise(module, x, hx, lengths, output)
            finally:
                stepping.discard(id(module))
            records.append((name, rec))
            return new_output

        return hook

    try:
        for name, module in targets:
            handles.append(module.register_forward_hook(make_hook(name), with_kwargs=True))
        with torch.enable_grad():
            _, loss = compute_loss(model, batch, loss_fn)
    finally:
        for h in handles:
            h.remove()
    flat = [p for _, rec in records for key in rec.probes for p in rec.probes[key]]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    result: dict[str, GradThroughTime] = {}
    i = 0
    for name, rec in records:
        layers: dict[tuple[int, str], np.ndarray] = {}
        for (k, d), ps in rec.probes.items():
            gs = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads[i : i + len(ps)], ps, strict=True)]
            i += len(ps)
            g = torch.stack(gs).abs().detach()  # [T, B, H]
            if rec.valid is None:
                m = g.mean(dim=1)
            else:
                v = rec.valid.unsqueeze(-1).to(g.dtype)
                m = (g * v).sum(dim=1) / v.sum(dim=1)
            layers[(k, DIRECTIONS[d])] = m.cpu().double().numpy()
        key = name
        n = 1
        while key in result:
            key = f"{name}#{n}"
            n += 1
        result[key] = GradThroughTime(
            module=name,
            kind=kind_of(rec.module),
            num_layers=rec.module.num_layers,
            directions=DIRECTIONS[: 2 if rec.module.bidirectional else 1],
            layers=layers,
        )
    return result
