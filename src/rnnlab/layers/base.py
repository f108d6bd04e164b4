"""What every built-in recurrent layer shares: torch-compatible parameters, stacking,
directions, initial states, regularizer masks, and the choice between torch's fused kernel and
rnnlab's time loop. A layer file (``lstm.py``, ``gru.py``, ...) adds only its step math."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab import gates as gate_layout
from rnnlab._checks import check_choice, check_positive_int, check_probability
from rnnlab.activations import Activation, get_activation
from rnnlab.constraints import Constraint, apply_constraints, check_constraint
from rnnlab.layers.fast import FAST_CELLS, fast_loop
from rnnlab.layers.fast_lstm import FAST_LSTM_ORDER, fast_lstm
from rnnlab.layers.fused import fused_layer
from rnnlab.layers.init import Initializer, check_initializer, init_gate_blocks_
from rnnlab.layers.loop import Step, run_direction, time_loop, variational_mask
from rnnlab.layers.norm import GateNorms
from rnnlab.layers.sequence import SequenceBatch, prepare_input, reverse_index, reverse_time

State = tuple[Tensor, ...]

#: the computations a layer's ``implementation`` can name
IMPLEMENTATIONS = ("auto", "fast", "fast-python", "autograd")


@dataclass
class LayerParams:
    """The tensors one layer and direction computes with in this forward call (weight drop
    already applied to ``w_hh``)."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    activation: Activation
    recurrent_activation: Activation


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 knows no device argument
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def _to_dtype(x: Any, dtype: torch.dtype) -> Any:
    """``x`` (a tensor, PackedSequence, tuple of them or None) with its floating tensors in ``dtype``."""
    if isinstance(x, PackedSequence):  # (a tuple too)
        return x.to(dtype) if x.data.is_floating_point() else x
    if isinstance(x, (tuple, list)):
        return type(x)(_to_dtype(t, dtype) for t in x)
    if isinstance(x, Tensor) and x.is_floating_point():
        return x.to(dtype)
    return x


class RecurrentBase(nn.Module):
    """Base of ``rnnlab.LSTM``, ``GRU``, ``RNN`` and ``IndRNN`` (see :class:`rnnlab.LSTM` for
    the arguments)."""

    kind: ClassVar[str]
    #: number of state tensors (LSTM: h and c)
    num_states: ClassVar[int] = 1
    #: recurrent weight is one value per unit (IndRNN) instead of a matrix
    vector_recurrent: ClassVar[bool] = False
    #: has a separate hidden-hidden bias (torch layout); IndRNN has only bias_ih
    hh_bias: ClassVar[bool] = True
    #: b_hh can be added to the input projection of all steps at once (not GRU: it sits inside r*(...))
    fold_hh_bias: ClassVar[bool] = True
    default_activation: ClassVar[str] = "tanh"
    default_recurrent_activation: ClassVar[str] = "sigmoid"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        input_dropout: float = 0.0,
        input_dropout_mode: str = "variational",
        recurrent_dropout: float = 0.0,
        weight_drop: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        layer_norm: bool = False,
        recurrent_batch_norm: bool = False,
        batch_norm_steps: int = 512,
        residual: bool | str = False,
        activation: str | Activation | None = None,
        recurrent_activation: str | Activation | None = None,
        unit_forget_bias: bool = False,
        kernel_init: str | Initializer | None = None,
        recurrent_init: str | Initializer | None = None,
        kernel_constraint: Constraint | None = None,
        recurrent_constraint: Constraint | None = None,
        bias_constraint: Constraint | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_probability("dropout", dropout)
        self.bidirectional = bool(bidirectional)
        self.input_dropout = check_probability("input_dropout", input_dropout)
        self.input_dropout_mode = check_choice("input_dropout_mode", input_dropout_mode, ("variational", "step"))
        self.recurrent_dropout = check_probability("recurrent_dropout", recurrent_dropout)
        self.weight_drop = check_probability("weight_drop", weight_drop)
        self.zoneout = self._check_zoneout(zoneout)
        if layer_norm and recurrent_batch_norm:
            raise ValueError("layer_norm and recurrent_batch_norm: choose one normalization, got both True")
        self.layer_norm = bool(layer_norm)
        self.recurrent_batch_norm = bool(recurrent_batch_norm)
        self.batch_norm_steps = check_positive_int("batch_norm_steps", batch_norm_steps)
        self.residual = self._check_residual(residual)
        self.activation = activation if activation is not None else self.default_activation
        self.recurrent_activation = (
            recurrent_activation if recurrent_activation is not None else self.default_recurrent_activation
        )
        self._act = get_activation(self.activation, "activation")
        self._ract = get_activation(self.recurrent_activation, "recurrent_activation")
        if unit_forget_bias and self.kind != "lstm":
            raise ValueError(f"unit_forget_bias: only an LSTM has a forget gate, this layer is a {self.kind}")
        if unit_forget_bias and not bias:
            raise ValueError("unit_forget_bias: needs bias=True")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_init = check_initializer("kernel_init", kernel_init)
        self.recurrent_init = check_initializer("recurrent_init", recurrent_init)
        self.kernel_constraint = check_constraint("kernel_constraint", kernel_constraint)
        self.recurrent_constraint = check_constraint("recurrent_constraint", recurrent_constraint)
        self.bias_constraint = check_constraint("bias_constraint", bias_constraint)
        self.implementation = "auto"
        self._gate_record: dict[tuple[int, str], Tensor] | None = None
        self._state_record: dict[tuple[int, str], list[Tensor]] | None = None

        fk = {"device": device, "dtype": dtype}
        G, H = gate_layout.num_gates(self.kind), hidden_size
        norm = "layer" if self.layer_norm else "batch" if self.recurrent_batch_norm else None
        for layer in range(self.num_layers):
            in_size = input_size if layer == 0 else H * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(G * H, in_size, **fk)))
                hh_shape = (H,) if self.vector_recurrent else (G * H, H)
                self.register_parameter(f"weight_hh{sfx}", nn.Parameter(torch.empty(*hh_shape, **fk)))
                if self.bias:
                    self.register_parameter(f"bias_ih{sfx}", nn.Parameter(torch.empty(G * H, **fk)))
                    if self.hh_bias:
                        self.register_parameter(f"bias_hh{sfx}", nn.Parameter(torch.empty(G * H, **fk)))
                if norm is not None:
                    self.add_module(
                        f"norm{sfx}",
                        GateNorms(self.kind, G * H, H, norm, self.batch_norm_steps, self.num_states == 2, **fk),
                    )
        self.reset_parameters()

    # ----------------------------------------------------------------------------- set-up
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def implementation(self) -> str:
        """Which computation runs the recurrence, one of :data:`IMPLEMENTATIONS`: ``"auto"``
        (torch's fused kernel when it is exact for this configuration, else rnnlab's fast loop,
        else the autograd loop), ``"fast"`` (never torch's kernel), ``"fast-python"`` (the
        same, with the LSTM's step loops in Python instead of compiled) or ``"autograd"``
        (always the reference loop under autograd). All compute the same values; the choice
        is for comparisons and debugging.

        >>> import rnnlab
        >>> rnnlab.GRU(2, 3).implementation = "fats"
        Traceback (most recent call last):
        ...
        ValueError: implementation: expected one of ['auto', 'fast', 'fast-python', 'autograd'], got 'fats'; did you mean 'fast'?
        """
        return self._implementation

    @implementation.setter
    def implementation(self, value: str) -> None:
        self._implementation = check_choice("implementation", value, IMPLEMENTATIONS)

    def _check_zoneout(self, zoneout: float | tuple[float, float]) -> tuple[float, ...]:
        if isinstance(zoneout, (tuple, list)):
            if len(zoneout) != self.num_states:
                names = "(h, c)" if self.num_states == 2 else "(h,)"
                raise ValueError(
                    f"zoneout: expected a probability or {self.num_states} probabilities {names} "
                    f"for a {self.kind}, got {tuple(zoneout)!r}"
                )
            return tuple(check_probability("zoneout", p, allow_one=True) for p in zoneout)
        return (check_probability("zoneout", zoneout, allow_one=True),) * self.num_states

    def _check_residual(self, residual: bool | str) -> str | None:
        if residual is False or residual is None:
            return None
        mode = check_choice("residual", "all" if residual is True else residual, ("all", "upper"))
        out = self.hidden_size * self.num_directions
        if mode == "upper" and self.num_layers < 2:
            raise ValueError(f"residual='upper': needs num_layers >= 2, got num_layers={self.num_layers}")
        if mode == "all" and self.input_size != out:
            raise ValueError(
                f"residual=True adds each layer's input to its output, so input_size must equal "
                f"hidden_size * num_directions = {out}, got input_size={self.input_size}; "
                f"use residual='upper' to skip the first layer"
            )
        return mode

    def reset_parameters(self) -> None:
        """torch's initialisation (uniform ±1/sqrt(H)), then the chosen initialisers."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        G = gate_layout.num_gates(self.kind)
        with torch.no_grad():
            for name, p in self.named_parameters(recurse=False):
                nn.init.uniform_(p, -stdv, stdv)
                if name.startswith("weight_ih") and self.kernel_init is not None:
                    init_gate_blocks_(p, self.kernel_init, G)
                elif name.startswith("weight_hh") and self.recurrent_init is not None:
                    init_gate_blocks_(p, self.recurrent_init, G)
                elif name.startswith("weight_hh") and self.vector_recurrent:
                    self._init_vector_recurrent(p)
                if self.unit_forget_bias and name.startswith("bias_"):
                    f = gate_layout.split_gates(p, self.kind)["f"]
                    f.fill_(1.0 if name.startswith("bias_ih") else 0.0)
        for m in self.children():
            for sub in m.modules():
                if sub is not m and hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()

    def _init_vector_recurrent(self, p: Tensor) -> None:
        nn.init.uniform_(p, 0.0, 1.0)

    # ----------------------------------------------------------------------------- helpers
    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _params(self, layer: int, direction: int) -> LayerParams:
        sfx = self._suffix(layer, direction)
        w_hh = getattr(self, f"weight_hh{sfx}")
        if self.weight_drop > 0 and self.training:
            # DropConnect (Wan et al. 2013; AWD-LSTM): a new mask on the recurrent weights at
            # every forward call; the stored parameter is left untouched.
            w_hh = F.dropout(w_hh, self.weight_drop, True)
        return LayerParams(
            w_ih=getattr(self, f"weight_ih{sfx}"),
            w_hh=w_hh,
            b_ih=getattr(self, f"bias_ih{sfx}", None),
            b_hh=getattr(self, f"bias_hh{sfx}", None),
            activation=self._act,
            recurrent_activation=self._ract,
        )

    def _norms(self, layer: int, direction: int) -> GateNorms | None:
        return getattr(self, f"norm{self._suffix(layer, direction)}", None)

    def _fused_mode(self) -> str | None:
        """The torch kernel that computes this layer exactly, or None (use the time loop)."""
        return None

    def _needs_loop(self) -> bool:
        return (
            self.implementation != "auto"
            or self._gate_record is not None
            or self._state_record is not None
            or self._fused_mode() is None
            or self.recurrent_dropout > 0
            or any(self.zoneout)
            or self.layer_norm
            or self.recurrent_batch_norm
        )

    def constrained_parameters(self) -> Iterator[tuple[Tensor, Constraint]]:
        """(parameter, constraint) pairs of this layer, for :func:`rnnlab.apply_constraints`."""
        for name, p in self.named_parameters(recurse=False):
            c = (
                self.kernel_constraint
                if name.startswith("weight_ih")
                else self.recurrent_constraint
                if name.startswith("weight_hh")
                else self.bias_constraint
            )
            if c is not None:
                yield p, c

    def apply_constraints(self) -> None:
        """Project constrained weights onto their constraints (call after ``optimizer.step()``,
        or once with :func:`rnnlab.constrain_after_step`)."""
        apply_constraints(self)

    @contextmanager
    def recording_gates(self) -> Iterator[dict[tuple[int, str], Tensor]]:
        """Record gate activations of the forward passes run inside the block.

        Yields a dict filled by each forward: ``(layer, "forward"|"reverse") → [T, B, G*H]``
        (time-major, after the gate nonlinearities, gate order of :mod:`rnnlab.gates`). Runs the
        time loop instead of the fused kernel while recording.

        >>> import torch, rnnlab
        >>> lstm = rnnlab.LSTM(3, 4)
        >>> with lstm.recording_gates() as gates:
        ...     _ = lstm(torch.randn(5, 2, 3))
        >>> gates[(0, "forward")].shape
        torch.Size([5, 2, 16])
        """
        record: dict[tuple[int, str], Tensor] = {}
        previous = self._gate_record
        self._gate_record = record
        try:
            yield record
        finally:
            self._gate_record = previous

    @contextmanager
    def recording_states(self) -> Iterator[dict[tuple[int, str], list[Tensor]]]:
        """Keep the hidden state of every step of the forward passes run inside the block.

        Yields a dict filled by each forward: ``(layer, "forward"|"reverse") → [h_t for each
        step]``, each ``[B, H]``, in processing order (the reverse direction's first entry is the
        last timestep). They are the live tensors of the graph (not detached): call
        ``retain_grad()`` on them before ``backward()`` and ``.grad`` is the total
        dLoss/dh_t, through later steps, upper layers and the output. Runs the autograd loop.

        >>> import torch, rnnlab
        >>> lstm = rnnlab.LSTM(3, 4, num_layers=2)
        >>> with lstm.recording_states() as states:
        ...     out, _ = lstm(torch.randn(5, 2, 3))
        >>> for h in states[(0, "forward")]:
        ...     h.retain_grad()
        >>> out[-1].sum().backward()
        >>> states[(0, "forward")][0].grad.shape
        torch.Size([2, 4])
        """
        record: dict[tuple[int, str], list[Tensor]] = {}
        previous = self._state_record
        self._state_record = record
        try:
            yield record
        finally:
            self._state_record = previous

    # ----------------------------------------------------------------------------- forward
    def _initial_state(self, hx: Tensor | tuple[Tensor, ...] | None, batch: SequenceBatch) -> State:
        x = batch.x
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if hx is None:
            return tuple(torch.zeros(shape, dtype=x.dtype, device=x.device) for _ in range(self.num_states))
        if self.num_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: expected a tuple (h_0, c_0) for an LSTM, got {type(hx).__name__}")
            states = tuple(hx)
            names = ("hx[0] (h_0)", "hx[1] (c_0)")
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"hx: expected a Tensor h_0 for a {self.kind}, got {type(hx).__name__}")
            states = (hx,)
            names = ("hx (h_0)",)
        out = []
        for name, s in zip(names, states):
            if not isinstance(s, Tensor):
                raise TypeError(f"{name}: expected a Tensor, got {type(s).__name__}")
            s = s.unsqueeze(1) if batch.unbatched and s.dim() == 2 else s
            if tuple(s.shape) != shape:
                exp = shape if not batch.unbatched else (shape[0], shape[2])
                got = tuple(s.shape) if not batch.unbatched else tuple(s.squeeze(1).shape)
                raise ValueError(
                    f"{name}: expected shape {exp} (num_layers * num_directions, batch, hidden_size), got {got}"
                )
            out.append(s)
        return tuple(out)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """Run the layer; same inputs and outputs as torch's module of the same kind.

        ``lengths`` (padded input only) gives each sequence's real length: past it, outputs are
        zero and the state is not updated, exactly as with a PackedSequence.

        Under ``torch.autocast`` the layer runs in its parameters' dtype with autocast off, as
        ``nn.GRU`` does on the CPU, and returns that dtype: a recurrence compounds each step's
        rounding, and its loops combine parameters and states that autocast would cast apart.
        """
        param = next(self.parameters())  # (the input may be anything: prepare_input checks it)
        if _autocast_enabled(param.device.type):
            with torch.autocast(param.device.type, enabled=False):
                return self._forward(_to_dtype(input, param.dtype), _to_dtype(hx, param.dtype), lengths)
        return self._forward(input, hx, lengths)

    def _forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None,
        lengths: Tensor | list[int] | None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        batch = prepare_input(input, lengths, self.batch_first, (self.input_size,))
        states = self._initial_state(hx, batch)
        valid = batch.valid
        D = self.num_directions
        use_loop = self._needs_loop()
        x = batch.x
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            layer_in = x
            x = self._drop_input(x)
            hx_l = tuple(s[layer * D : (layer + 1) * D] for s in states)
            if use_loop:
                outs, fins = [], []
                for d in range(D):
                    o, f = self._run_loop(layer, d, x, tuple(s[d] for s in hx_l), batch, valid)
                    outs.append(o)
                    fins.append(f)
                out = outs[0] if D == 1 else torch.cat(outs, dim=-1)
                fin = tuple(torch.stack([f[i] for f in fins]) for i in range(self.num_states))
            else:
                weights = [t for d in range(D) for t in self._flat(self._params(layer, d))]
                out, fin = fused_layer(
                    self._fused_mode(),  # type: ignore[arg-type]
                    x,
                    hx_l,
                    weights,
                    has_bias=self.bias,
                    bidirectional=self.bidirectional,
                    training=self.training,
                    lengths=batch.lengths,
                )
            if self.residual == "all" or (self.residual == "upper" and layer > 0):
                out = out + (layer_in if valid is None else layer_in * valid)
            if layer < self.num_layers - 1 and self.dropout > 0:
                out = F.dropout(out, self.dropout, self.training)
            x = out
            for i, f in enumerate(fin):
                finals[i].append(f)
        h_n = tuple(torch.cat(f, dim=0) for f in finals)
        if batch.unbatched:
            h_n = tuple(h.squeeze(1) for h in h_n)
        return batch.output(x), (h_n if self.num_states == 2 else h_n[0])

    def _flat(self, p: LayerParams) -> list[Tensor]:
        return [p.w_ih, p.w_hh] + ([p.b_ih, p.b_hh] if self.bias else [])  # type: ignore[list-item]

    def _drop_input(self, x: Tensor) -> Tensor:
        if not (self.training and self.input_dropout > 0):
            return x
        if self.input_dropout_mode == "step":
            return F.dropout(x, self.input_dropout, True)
        # Variational: one mask per sequence and feature, the same at every timestep.
        return x * variational_mask((1, *x.shape[1:]), self.input_dropout, x)

    def _project(self, x: Tensor, p: LayerParams, norms: GateNorms | None, valid: Tensor | None) -> Tensor:
        """Input term of all timesteps in one matmul: ``[T, B, G*H]``."""
        if norms is None:
            b = p.b_ih
            if self.fold_hh_bias and p.b_hh is not None:
                b = p.b_ih + p.b_hh
            return F.linear(x, p.w_ih, b)
        xp = norms.input(F.linear(x, p.w_ih), valid)
        return xp if p.b_ih is None else xp + p.b_ih

    def _run_loop(
        self, layer: int, direction: int, x: Tensor, h0: State, batch: SequenceBatch, valid: Tensor | None
    ) -> tuple[Tensor, State]:
        p = self._params(layer, direction)
        norms = self._norms(layer, direction)
        trace: list[Tensor] | None = [] if self._gate_record is not None else None
        feed_mask = None
        if self.training and self.recurrent_dropout > 0:
            feed_mask = variational_mask(h0[0].shape, self.recurrent_dropout, h0[0])
        probe: list[Tensor] | None = None
        if self._state_record is not None:
            probe = self._state_record.setdefault((layer, gate_layout.DIRECTIONS[direction]), [])
            probe.clear()
        fast_norm = norms is None or (self.kind == "lstm" and norms.norm == "layer")
        recording = trace is not None or probe is not None
        if fast_norm and not recording and self.implementation != "autograd" and self._has_fast_cell():
            kind, act = self.kind, str(self.activation)
            if kind != "lstm":
                xs = self._project(x, p, None, valid)
                b_hh = None if self.fold_hh_bias else p.b_hh

                def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                    return fast_loop(kind, act, xs, p.w_hh, b_hh, st, keep, feed_mask)
            else:
                # The fast LSTM projects its input itself and takes its gates in FAST_LSTM_ORDER
                # (o, i, f, g): every term entering the gates is permuted here, and autograd
                # maps the gradients back (slices and cat: a cheap backward, unlike indexing).
                def order(t: Tensor) -> Tensor:
                    return torch.cat([t[k * hs : (k + 1) * hs] for k in FAST_LSTM_ORDER])

                hs = self.hidden_size
                xs = x
                compiled = self.implementation != "fast-python"
                b = None if p.b_ih is None else order(p.b_ih + p.b_hh)  # type: ignore[operator]
                w_ih, w_hh = order(p.w_ih), order(p.w_hh)
                ln = None
                if norms is not None:  # every bias joins the normalized input term
                    ln = (order(norms.ih.weight), norms.ih.eps, order(norms.hh.weight), norms.c.weight,
                          norms.c.bias, norms.hh.eps)

                def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                    return fast_lstm(xs, w_ih, b, w_hh, st, keep, feed_mask, ln, compiled)
        else:
            xs = self._project(x, p, norms, valid)
            step = self._make_step(p, norms, valid, trace)

            def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                return time_loop(step, xs, st, keep, feed_mask, probe)

        out, final = run_direction(
            loop, xs, h0, reverse=direction == 1, lengths=batch.lengths, valid=valid,
            zoneout=self.zoneout, training=self.training,
        )
        if trace is not None and self._gate_record is not None:
            g = torch.stack(trace).detach()
            if direction == 1:
                g = reverse_time(g, reverse_index(batch.lengths, g.shape[0], g.device))
            self._gate_record[(layer, gate_layout.DIRECTIONS[direction])] = g
        return out, final

    def _has_fast_cell(self) -> bool:
        gates_ok = self.kind in ("rnn", "indrnn") or self.recurrent_activation == "sigmoid"
        return gates_ok and (self.kind, self.activation) in FAST_CELLS

    def _make_step(
        self, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
    ) -> Step:
        """The step function of this kind of layer (see :mod:`rnnlab.layers.loop`)."""
        raise TypeError(f"{type(self).__name__} does not define its step")

    def _recurrent_term(
        self, p: LayerParams, norms: GateNorms | None, valid: Tensor | None
    ) -> Callable[[Tensor, Tensor, int], Tensor]:
        """``(x_t, h_fed, t) -> x_t + recurrent term`` with normalization and b_hh where they
        belong; used by every step with a full recurrent matrix."""
        w_t = p.w_hh.t()
        if norms is None:
            if self.fold_hh_bias or p.b_hh is None:
                return lambda x_t, h, t: torch.addmm(x_t, h, w_t)
            b = p.b_hh
            return lambda x_t, h, t: x_t + torch.addmm(b, h, w_t)
        b = p.b_hh

        def term(x_t: Tensor, h: Tensor, t: int) -> Tensor:
            r = norms.recurrent(h @ w_t, t, None if valid is None else valid[t])
            return x_t + (r if b is None else r + b)

        return term

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        for name in ("input_dropout", "recurrent_dropout", "weight_drop"):
            if getattr(self, name):
                s += f", {name}={getattr(self, name)}"
        if any(self.zoneout):
            s += f", zoneout={self.zoneout if len(set(self.zoneout)) > 1 else self.zoneout[0]}"
        for name in ("layer_norm", "recurrent_batch_norm", "unit_forget_bias"):
            if getattr(self, name):
                s += f", {name}=True"
        if self.residual:
            s += f", residual={self.residual!r}"
        if self.activation != self.default_activation:
            s += f", activation={self.activation!r}"
        if self.recurrent_activation != self.default_recurrent_activation:
            s += f", recurrent_activation={self.recurrent_activation!r}"
        return s
