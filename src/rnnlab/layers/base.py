"""What every built-in recurrent layer shares: torch-compatible parameters, stacking,
directions, initial states, regularizer masks, and running the computation that
:func:`~rnnlab.layers.computation.choose_computation` picks. A layer file (``lstm.py``,
``gru.py``, ...) adds only its cell: its :class:`~rnnlab.layers.spec.CellSpec` and its step."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab import gates as gate_layout
from rnnlab._checks import check_choice, check_positive_int
from rnnlab.activations import get_activation
from rnnlab.constraints import Constraint, SummedBias, apply_constraints, track
from rnnlab.errors import ArgumentError
from rnnlab.layers.computation import capturing, choose_computation, step_loops, torch_lacks
from rnnlab.layers.fast import fast_loop
from rnnlab.layers.fast_lstm import LayerNormParams, fast_lstm
from rnnlab.layers.fused import fused_layer
from rnnlab.layers.init import init_gate_blocks_
from rnnlab.layers.loop import recording_into, run_direction, time_loop, variational_mask
from rnnlab.layers.norm import BatchNormSteps, GateNorms
from rnnlab.layers.options import (
    IMPLEMENTATIONS,
    CheckedSettings,
    LayerContext,
    LayerOptions,
    check_options,
    resolve,
)
from rnnlab.layers.regularizers import active
from rnnlab.layers.sequence import SequenceBatch, prepare_input, reverse_index, reverse_time
from rnnlab.layers.spec import CellSpec, LayerParams

State = tuple[Tensor, ...]

_OPTION_NAMES = frozenset(LayerOptions.names())
#: options that shape or initialize the parameters: fixed once the layer is built
_BUILT_FROM = frozenset({"num_layers", "bias", "bidirectional", "layer_norm", "recurrent_batch_norm",
                         "batch_norm_steps", "between_layers_norm", "kernel_init", "recurrent_init",
                         "unit_forget_bias"})


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


_EAGER: dict[Any, Any] = {}


def _outside_compile(fn: Any) -> Any:
    """``fn`` wrapped by ``torch.compiler.disable``, once (wrapped when first needed: importing
    dynamo at import time would double rnnlab's import time)."""
    if fn not in _EAGER:
        _EAGER[fn] = torch.compiler.disable(fn)
    return _EAGER[fn]


def refuse_frozen_zoneout(zoneout: str | None) -> None:
    """A one-line ``ValueError`` when ``torch.jit.trace`` or ``torch.export`` records a training-mode
    forward with zoneout on (``zoneout``: it as set, ``"zoneout=0.2"``; None: off). Zoneout's
    training masks are drawn by NumPy on the CPU and sized by Python integers: a trace would hold
    one mask, or its size, as a constant, the same at every call, and export fails on the draw
    deep in torch. The built-in layers and :class:`rnnlab.Recurrent` call it before their loop,
    in training mode while :func:`~rnnlab.layers.computation.capturing` (no cost otherwise)."""
    if zoneout is None:
        return
    if torch.jit.is_tracing():
        tool, fails = "torch.jit.trace", "which a trace would freeze"
    elif torch.compiler.is_exporting():
        tool, fails = "torch.export", "which an exported program cannot hold"
    else:
        return
    raise ValueError(f"{tool}: {zoneout} in training mode draws a new random mask at every call, {fails}; "
                     f"{tool.split('.')[-1]} the model in eval mode (model.eval()), where zoneout is deterministic, "
                     f"or with zoneout off")


def not_scriptable(module: nn.Module, use: str) -> TypeError:
    """The one-line error of ``torch.jit.script`` on one of rnnlab's layers (from its
    ``__prepare_scriptable__``, which TorchScript calls on every module it scripts) instead of
    TorchScript's failure deep in the layer's Python; ``use`` says what to deploy instead."""
    return TypeError(f"torch.jit.script: rnnlab's {type(module).__name__} is Python that TorchScript cannot compile; "
                     f"use {use}")


class RecurrentBase(CheckedSettings, nn.Module):
    """Base of ``rnnlab.LSTM``, ``GRU``, ``RNN`` and ``IndRNN`` (see :class:`rnnlab.LSTM` for
    the arguments).

    The keywords beyond torch's are the fields of :class:`~rnnlab.layers.options.LayerOptions`;
    ``options=`` gives them as one record instead (the other arguments then keep their
    defaults). They are checked once, here, and read back as attributes (``layer.zoneout``)
    or as ``layer.options``. Those that shape or initialize the parameters are fixed for the
    layer's life; setting another (``layer.zoneout = 0.2``) checks it again, as does assigning
    a whole record (``layer.options = layer.options.replace(zoneout=0.2)``).
    """

    #: what this kind of cell is (gates, states, parameter layout, computations that have it)
    spec: ClassVar[CellSpec]
    kind: ClassVar[str]
    SETTINGS = frozenset(_OPTION_NAMES - _BUILT_FROM | {"options"})
    FIXED = frozenset(_BUILT_FROM | {"input_size", "hidden_size"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.kind = cls.spec.kind

    def __init__(
        self,
        input_size: int | None = None,  # (both required: None so that Keras' units= gets its hint first)
        hidden_size: int | None = None,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        options: LayerOptions | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **keywords: Any,
    ) -> None:
        super().__init__()
        if proj_size != 0:  # (torch's LSTM argument, 8th as there: code written for nn.LSTM may pass it)
            raise ArgumentError(f"proj_size: rnnlab's layers have no output projection (torch's nn.LSTM proj_size), "
                                f"expected 0, got {proj_size!r}; use torch.nn.LSTM for a projected LSTM", "proj_size")
        torch_args = {"num_layers": num_layers, "bias": bias, "batch_first": batch_first, "dropout": dropout,
                      "bidirectional": bidirectional}
        if options is None:
            options = LayerOptions().replace(**torch_args, **keywords)
        else:
            check_options(options)
            also = sorted(keywords) + [k for k, v in torch_args.items() if v != getattr(LayerOptions, k)]
            if also:
                raise TypeError(f"options: give the keywords in options= or as arguments, not both; got {also}")
        name = type(self).__name__
        if input_size is None:
            shown = "hidden_size" if hidden_size is None else repr(hidden_size)
            raise TypeError(f"input_size: required, the features per step (torch's first argument; Keras reads it "
                            f"from the input), got none; e.g. {name}(input_size, {shown})")
        self.input_size = check_positive_int("input_size", input_size)
        if hidden_size is None:
            # (a Keras port writes GRU(32) for GRU(units=32): say both readings)
            raise TypeError(f"hidden_size: required, the size of the state (torch's second argument), got none; "
                            f"e.g. {name}({input_size!r}, 64) for {input_size!r} features per step, or "
                            f"{name}(input_size, {input_size!r}) if {input_size!r} is the state size (Keras' units)")
        if dtype is not None and not isinstance(dtype, torch.dtype):
            named = isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype)
            raise TypeError(f"dtype: expected a torch.dtype or None, got {type(dtype).__name__} {dtype!r}"
                            + (f"; write dtype=torch.{dtype}" if named else ""))
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        nn.Module.__setattr__(self, "options", resolve(options, self.spec, self.input_size, self.hidden_size))
        self._gate_record: dict[tuple[int, str], Tensor] | None = None
        self._state_record: dict[tuple[int, str], list[Tensor]] | None = None

        fk = {"device": device, "dtype": dtype}
        spec, G, H = self.spec, self.spec.num_gates, self.hidden_size  # (the checked sizes, as ints)
        norm = "layer" if self.layer_norm else "batch" if self.recurrent_batch_norm else None
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else H * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(G * H, in_size, **fk)))
                hh_shape = (H,) if spec.vector_recurrent else (G * H, H)
                self.register_parameter(f"weight_hh{sfx}", nn.Parameter(torch.empty(*hh_shape, **fk)))
                if self.bias:
                    self.register_parameter(f"bias_ih{sfx}", nn.Parameter(torch.empty(G * H, **fk)))
                    if spec.hh_bias:
                        self.register_parameter(f"bias_hh{sfx}", nn.Parameter(torch.empty(G * H, **fk)))
                if norm is not None:
                    self.add_module(
                        f"norm{sfx}",
                        GateNorms(self.kind, G * H, H, norm, self.batch_norm_steps, spec.num_states == 2, **fk),
                    )
        ctx = LayerContext(spec, self.input_size, self.hidden_size)
        for reg in active(self.options):
            if reg.modules is not None:
                for name, module in reg.modules(self.options, ctx, fk).items():
                    self.add_module(name, module)
        self.reset_parameters()
        self.flatten_parameters()
        track(self)  # (its constraints then hold after every optimizer step: rnnlab.constraints)

    # ----------------------------------------------------------------------------- set-up
    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and name in _OPTION_NAMES:
            return getattr(options, name)
        return super().__getattr__(name)

    def _checked_setting(self, name: str, value: Any) -> dict[str, Any]:
        """``layer.name = value`` (:class:`~rnnlab.layers.options.CheckedSettings`): an option checked
        again as at construction, or a whole record (``options``)."""
        if name == "options":
            return {"options": self._checked_options(check_options(value))}
        if name == "implementation":  # (its property's setter checks it)
            return {"implementation": value}
        changed = self.options.replace(**{name: value})
        return {"options": resolve(changed, self.spec, self.input_size, self.hidden_size)}

    def _checked_options(self, options: LayerOptions) -> LayerOptions:
        """``options`` for ``layer.options = ...``: checked as at construction, and refused where
        it changes an option the parameters were built from (as setting that one alone is)."""
        new = resolve(options, self.spec, self.input_size, self.hidden_size)
        changed = [f"{n}={getattr(new, n)!r} (built with {getattr(self.options, n)!r})"
                   for n in LayerOptions.names() if n in _BUILT_FROM and getattr(new, n) != getattr(self.options, n)]
        if changed:
            raise AttributeError(f"options: changes {', '.join(changed)}, which the layer's parameters were built "
                                 f"from; build another layer to change them, or assign "
                                 f"layer.options.replace(...) to change only the others")
        return new

    def __getstate__(self) -> dict[str, Any]:
        # A copy or pickle made inside recording_gates()/recording_states() must not keep the
        # block's record: it would run the autograd loop and fill the record at every forward
        # (and keep the recorded graph alive) for the rest of its life.
        state = super().__getstate__()
        state["_gate_record"] = state["_state_record"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        track(self)  # (a copy or an unpickled layer: its constraints hold after each step as the original's)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def num_states(self) -> int:
        return self.spec.num_states

    @property
    def proj_size(self) -> int:
        """``nn.LSTM``'s projection size: 0, none (torch's GRU and RNN say 0 too); the layers have
        no projection, and the constructor refuses ``proj_size > 0``.

        >>> import rnnlab
        >>> rnnlab.LSTM(3, 4).proj_size
        0
        """
        return 0

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters of each layer and direction (``l0``, ``l0_reverse``, ``l1``, ...) in
        torch's order: ``weight_ih``, ``weight_hh``, then ``bias_ih``, ``bias_hh`` where the layer
        has them, the same tensors as ``weight_ih_l0``, ...; as ``nn.LSTM.all_weights`` (code that
        initializes torch's layers loops over it). Normalization gains are not in it, as torch's
        layers have none.

        >>> import rnnlab
        >>> [[tuple(p.shape) for p in ps] for ps in rnnlab.GRU(3, 4).all_weights]
        [[(12, 3), (12, 4), (12,), (12,)]]
        """
        return [
            [p for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
             if (p := self._parameters.get(name + self._suffix(layer, d))) is not None]
            for layer in range(self.num_layers) for d in range(self.num_directions)
        ]

    @property
    def implementation(self) -> str:
        """Which computation runs the recurrence, one of
        :data:`~rnnlab.layers.options.IMPLEMENTATIONS`: ``"auto"`` (torch's fused kernel when it
        is exact for this configuration, else rnnlab's fast loop, else the autograd loop),
        ``"torch"``, ``"fast"`` (never torch's kernel), ``"fast-python"`` (the same, with the
        LSTM's step loops in Python instead of compiled), ``"fast-inductor"`` (the same, with the
        LSTM's step functions compiled by ``torch.compile``, as on CUDA, on every device) or
        ``"autograd"`` (always the reference loop under autograd). All compute the same values; the choice is for comparisons and
        debugging (see :mod:`rnnlab.layers.computation`). A constructor keyword too.

        >>> import rnnlab
        >>> rnnlab.GRU(2, 3).implementation = "fats"
        Traceback (most recent call last):
        ...
        ValueError: implementation: expected one of ['auto', 'torch', 'fast', 'fast-python', 'fast-inductor', 'autograd'], got 'fats'; did you mean 'fast'?
        """
        return self.options.implementation

    @implementation.setter
    def implementation(self, value: str) -> None:
        check_choice("implementation", value, IMPLEMENTATIONS)
        nn.Module.__setattr__(self, "options", self.options.replace(implementation=value))  # (nothing else to check)

    def reset_parameters(self) -> None:
        """torch's initialisation (uniform ±1/sqrt(H)), then the chosen initialisers."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        G = self.spec.num_gates
        with torch.no_grad():
            for name, p in self.named_parameters(recurse=False):
                nn.init.uniform_(p, -stdv, stdv)
                if name.startswith("weight_ih") and self.kernel_init is not None:
                    init_gate_blocks_(p, self.kernel_init, G, "kernel_init")
                elif name.startswith("weight_hh") and self.recurrent_init is not None:
                    init_gate_blocks_(p, self.recurrent_init, G, "recurrent_init")
                elif name.startswith("weight_hh") and self.spec.vector_recurrent:
                    nn.init.uniform_(p, 0.0, 1.0)  # one weight per unit (IndRNN): in [0, 1]
                if self.unit_forget_bias and name.startswith("bias_"):
                    f = gate_layout.split_gates(p, self.kind)["f"]
                    f.fill_(1.0 if name.startswith("bias_ih") else 0.0)
        for sub in self.modules():  # the normalizations' (GateNorms has none of its own)
            if sub is not self and hasattr(sub, "reset_parameters"):
                sub.reset_parameters()

    def flatten_parameters(self) -> None:
        """On CUDA with cuDNN, make each layer's weights views into one buffer laid out as cuDNN
        reads them (``nn.LSTM.flatten_parameters``, one layer at a time as the torch path calls
        the kernel), so that cuDNN does not re-pack them at every call. Parameters, their names
        and ``state_dict`` keys are unchanged; elsewhere (CPU) nothing is done. Called at
        construction and after ``.to()``/``.cuda()``, as torch's layers do.

        >>> import rnnlab
        >>> rnnlab.LSTM(3, 4).flatten_parameters()  # (a no-op on the CPU)
        """
        mode = self.spec.torch_mode(self.activation, self.recurrent_activation)
        if mode is None or self.spec.vector_recurrent:
            return
        import torch.backends.cudnn.rnn as cudnn_rnn

        D = self.num_directions
        for layer in range(self.num_layers):
            weights = [t for d in range(D) for t in self._flat(self._stored_params(layer, d))]
            first = weights[0]
            if not all(w.is_cuda and w.dtype == first.dtype and torch.backends.cudnn.is_acceptable(w)
                       for w in weights) or len({w.data_ptr() for w in weights}) != len(weights):
                return
            with torch.cuda.device_of(first), torch.no_grad():
                if torch._use_cudnn_rnn_flatten_weight():
                    torch._cudnn_rnn_flatten_weight(
                        weights, 4 if self.bias else 2, weights[0].shape[1], cudnn_rnn.get_cudnn_mode(mode.upper()),
                        self.hidden_size, 0, 1, False, self.bidirectional)

    def _apply(self, fn: Any, recurse: bool = True) -> RecurrentBase:
        out = super()._apply(fn, recurse)
        self.flatten_parameters()  # (on the new device or dtype)
        return out

    # ----------------------------------------------------------------------------- helpers
    def _suffix(self, layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _stored_params(self, layer: int, direction: int) -> LayerParams:
        """The parameters of one layer and direction as stored (no DropConnect)."""
        sfx = self._suffix(layer, direction)
        return LayerParams(
            w_ih=getattr(self, f"weight_ih{sfx}"),
            w_hh=getattr(self, f"weight_hh{sfx}"),
            b_ih=getattr(self, f"bias_ih{sfx}", None),
            b_hh=getattr(self, f"bias_hh{sfx}", None),
            activation=get_activation(self.activation),
            recurrent_activation=None if self.recurrent_activation is None else get_activation(self.recurrent_activation),
        )

    def _params(self, layer: int, direction: int) -> LayerParams:
        p = self._stored_params(layer, direction)
        if self.weight_drop > 0 and self.training:
            # DropConnect (Wan et al. 2013; AWD-LSTM): a new mask on the recurrent weights at
            # every forward call; the stored parameter is left untouched.
            p = dataclasses.replace(p, w_hh=F.dropout(p.w_hh, self.weight_drop, True))
        return p

    def _norms(self, layer: int, direction: int) -> GateNorms | None:
        return getattr(self, f"norm{self._suffix(layer, direction)}", None)

    def constrained_parameters(self) -> Iterator[tuple[Tensor | SummedBias, Constraint]]:
        """(target, constraint) pairs of this layer: a weight with its ``kernel_constraint`` or
        ``recurrent_constraint``, and with ``bias_constraint`` the bias the gates see, each layer's
        ``bias_ih + bias_hh`` (a :class:`~rnnlab.constraints.SummedBias`; ``bias_ih`` alone where the
        layer has no ``bias_hh``, as IndRNN). What the optimizer step hook and
        :func:`rnnlab.apply_constraints` project.

        >>> import rnnlab
        >>> m = rnnlab.GRU(3, 4, kernel_constraint=rnnlab.MaxNorm(1.0), bias_constraint=rnnlab.NonNeg())
        >>> [(type(t).__name__, c) for t, c in m.constrained_parameters()]
        [('Parameter', MaxNorm(1.0)), ('SummedBias', NonNeg())]
        """
        o = self.options
        if o.kernel_constraint is None and o.recurrent_constraint is None and o.bias_constraint is None:
            return  # (asked after every optimizer step: an unconstrained layer answers at once)
        for name, p in self._parameters.items():
            c = (
                o.kernel_constraint
                if name.startswith("weight_ih")
                else o.recurrent_constraint
                if name.startswith("weight_hh")
                else o.bias_constraint
                if name.startswith("bias_ih")
                else None  # (bias_hh: with its bias_ih, below)
            )
            if c is None:
                continue
            hh = self._parameters.get("bias_hh" + name.removeprefix("bias_ih"))
            if name.startswith("bias_ih") and hh is not None:
                # (the GRU's b_hn sits inside r ⊙ (W_hn h + b_hn), not added to b_in)
                n = None if self.spec.fold_hh_bias else self.spec.gates.index("n")
                H = self.hidden_size
                yield SummedBias(p, hh, None if n is None else slice(n * H, (n + 1) * H)), c
            else:
                yield p, c

    def apply_constraints(self) -> None:
        """Project the constrained weights onto their constraints now. Not needed after
        ``optimizer.step()``: the constraints hold after every optimizer step by themselves
        (:mod:`rnnlab.constraints`); for weights set by hand. Projecting twice changes nothing.

        >>> import rnnlab, torch
        >>> m = rnnlab.LSTM(3, 4, bias_constraint=rnnlab.MaxNorm(1.0))
        >>> with torch.no_grad():
        ...     _ = m.bias_ih_l0.fill_(5.0), m.bias_hh_l0.fill_(5.0)
        >>> m.apply_constraints()
        >>> (m.bias_ih_l0 + m.bias_hh_l0).max().item()
        1.0
        """
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
        with recording_into(self, "_gate_record", {}) as record:
            yield record

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
        with recording_into(self, "_state_record", {}) as record:
            yield record

    # ----------------------------------------------------------------------------- forward
    def _initial_state(self, hx: Tensor | tuple[Tensor, ...] | None, batch: SequenceBatch) -> State:
        x = batch.x
        shape = (self.num_layers * self.num_directions, x.shape[1], self.hidden_size)
        if hx is None:
            return tuple(torch.zeros(shape, dtype=x.dtype, device=x.device) for _ in range(self.num_states))
        if self.num_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                got = f"a {type(hx).__name__} of {len(hx)}" if isinstance(hx, (tuple, list)) else type(hx).__name__
                raise TypeError(f"hx: expected a tuple (h_0, c_0) for an LSTM, got {got}")
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
            if s.dtype != x.dtype:
                raise ValueError(f"{name}: expected dtype {x.dtype} (the input's and the layer's), got {s.dtype}")
            if batch.unbatched and s.dim() != 2:  # (as torch's layers: no batch axis in the input, none here)
                raise ValueError(f"{name}: expected a 2-D state (num_layers * num_directions, hidden_size) for "
                                 f"unbatched 2-D input, got shape {tuple(s.shape)}")
            s = s.unsqueeze(1) if batch.unbatched else s
            if tuple(s.shape) != shape:
                exp = shape if not batch.unbatched else (shape[0], shape[2])
                got = tuple(s.shape) if not batch.unbatched else tuple(s.squeeze(1).shape)
                raise ValueError(
                    f"{name}: expected shape {exp} (num_layers * num_directions, batch, hidden_size), got {got}"
                )
            out.append(s)
        return tuple(out)

    def to_torch(self) -> nn.LSTM | nn.GRU | nn.RNN:
        """torch's own ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` computing what this layer computes in
        eval mode, for deployment without rnnlab (``torch.jit.script`` of a module of yours that calls
        it, as TorchScript fails on ``nn.LSTM`` scripted alone; torch's ``state_dict``):
        the same configuration with a copy of the weights (``load_state_dict``: torch's
        parameter names are the layer's), on the layer's device and dtype, in eval mode. It
        exists where torch's kernel computes the layer in eval mode (the rule by which
        :func:`~rnnlab.layers.computation.choose_computation` runs it there: the dropouts and
        weight drop do nothing in eval mode, initializers and constraints live in the weights);
        otherwise a ``ValueError`` names the options torch's layer lacks.

        >>> import torch, rnnlab
        >>> lstm = rnnlab.LSTM(3, 4, recurrent_dropout=0.25, weight_drop=0.5).eval()
        >>> plain, x = lstm.to_torch(), torch.randn(5, 2, 3)
        >>> type(plain).__name__, torch.equal(plain(x)[0], lstm(x)[0])
        ('LSTM', True)
        >>> rnnlab.LSTM(3, 4, layer_norm=True).to_torch()
        Traceback (most recent call last):
        ...
        ValueError: to_torch: torch's nn.LSTM does not compute layer_norm=True in eval mode; keep the rnnlab layer (torch.export exports it: docs/layers.md)
        """
        torch_name = {"lstm": "nn.LSTM", "gru": "nn.GRU"}.get(self.kind, "nn.RNN")
        lacking = torch_lacks(self.options, self.spec, training=False, module=True, valued=True)
        if lacking:
            raise ValueError(f"to_torch: torch's {torch_name} does not compute {', '.join(lacking)} in eval mode; "
                             f"keep the rnnlab layer (torch.export exports it: docs/layers.md)")
        mode = self.spec.torch_mode(self.activation, self.recurrent_activation)
        p = next(self.parameters())
        kw: dict[str, Any] = {} if self.kind != "rnn" else {"nonlinearity": mode.removeprefix("rnn_")}  # type: ignore[union-attr]
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}.get(self.kind, nn.RNN)
        module = cls(self.input_size, self.hidden_size, num_layers=self.num_layers, bias=self.bias,
                     batch_first=self.batch_first, dropout=self.dropout if self.num_layers > 1 else 0.0,
                     bidirectional=self.bidirectional, device=p.device, dtype=p.dtype, **kw)
        module.load_state_dict({name: t.detach() for name, t in self.named_parameters(recurse=False)})
        return module.eval()

    def __prepare_scriptable__(self) -> nn.Module:
        # (torch.jit.script calls it on every module it scripts: a plain error instead of TorchScript's
        # failure deep in the layer's Python)
        raise not_scriptable(self, "torch.compile (the layer runs eagerly inside it, as nn.LSTM does) or torch.export "
                                   "(docs/layers.md), or script a module of yours that calls layer.to_torch(), torch's "
                                   "own layer with the same weights, where it computes the layer in eval mode "
                                   "(TorchScript cannot script torch's nn.LSTM alone)")

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """Run the layer; same inputs and outputs as torch's module of the same kind.

        ``lengths`` (padded input only) gives each sequence's real length: past it, outputs are
        zero and the state is not updated, exactly as with a PackedSequence.

        Under ``torch.autocast`` on CUDA, a layer that runs torch's fused kernel runs it as
        ``nn.LSTM`` does: cuDNN in the autocast dtype, which it returns. Every other case runs in
        the parameters' dtype with autocast off and returns that dtype: rnnlab's loops (a
        recurrence compounds each step's rounding, and the loops combine parameters and states
        that autocast would cast apart), and on the CPU the fused kernel too (oneDNN's bfloat16
        LSTM fails on CPUs without bfloat16 instructions). See docs/devices.md.

        Inside a model given to ``torch.compile`` the layer runs eagerly, a graph break, as
        dynamo treats ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` (``torch._dynamo.config.allow_rnn``).
        """
        if torch.compiler.is_compiling():
            # Dynamo cannot trace the layer: torch's fused LSTM has no traceable CPU decomposition
            # (aten.mkldnn_rnn_layer fails on fake tensors) and rnnlab's compiled loops have no fake kernels.
            return _outside_compile(RecurrentBase._run)(self, input, hx, lengths)
        return self._run(input, hx, lengths)

    def _run(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None,
        lengths: Tensor | list[int] | None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """:meth:`forward`, eagerly."""
        param = next(self.parameters())  # (the input may be anything: prepare_input checks it)
        device_type = param.device.type
        if _autocast_enabled(device_type):
            input, hx = _to_dtype(input, param.dtype), _to_dtype(hx, param.dtype)
            padded = lengths is not None or isinstance(input, PackedSequence)
            if device_type == "cuda" and self._computation(padded) == "torch":
                return self._forward(input, hx, lengths)  # (torch's autocast casts the kernel's arguments)
            with torch.autocast(device_type, enabled=False):
                return self._forward(input, hx, lengths)
        return self._forward(input, hx, lengths)

    def _computation(self, padded: bool = False) -> str:
        """The computation of this forward (:func:`~rnnlab.layers.computation.choose_computation`);
        ``padded``: the input has lengths."""
        recording = self._gate_record is not None or self._state_record is not None
        return choose_computation(self.options, self.spec, recording=recording, training=self.training,
                                  padded=padded)

    def _forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None,
        lengths: Tensor | list[int] | None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        batch = prepare_input(input, lengths, self.batch_first, (self.input_size,))
        dtype = next(self.parameters()).dtype
        if batch.x.dtype != dtype:
            raise ValueError(
                f"input: expected dtype {dtype} (the layer's parameters), got {batch.x.dtype}; convert the "
                f"input (input.to({dtype})) or the layer (layer.to({batch.x.dtype}))"
            )
        if self.training and self.recurrent_batch_norm and batch.x.shape[1] == 1:
            # (as torch's BatchNorm: with one row, each step would normalize to its shift alone)
            raise ValueError(
                "input: recurrent_batch_norm in training mode normalizes each step over the batch: expected more "
                "than 1 sequence per batch, got 1 (train on batches of 2 or more, or call layer.eval())"
            )
        if self.training and capturing():
            zoneout = [reg.describe(self.options) for reg in active(self.options) if reg.name == "zoneout"]
            refuse_frozen_zoneout(zoneout[0] if zoneout else None)
        states = self._initial_state(hx, batch)
        valid = batch.valid
        D = self.num_directions
        if batch.x.shape[1] == 0:  # no sequence: an empty output and state, as torch's layers return
            empty = batch.x.new_zeros(batch.x.shape[0], 0, D * self.hidden_size)
            return batch.output(empty), (states if self.num_states == 2 else states[0])
        computation = self._computation(padded=batch.lengths is not None)
        between = [reg for reg in active(self.options) if reg.between is not None]
        x = batch.x
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            layer_in = x
            x = self._drop_input(x)
            hx_l = tuple(s[layer * D : (layer + 1) * D] for s in states)
            if computation != "torch":
                outs, fins = [], []
                for d in range(D):
                    o, f = self._run_loop(layer, d, x, tuple(s[d] for s in hx_l), batch, valid, computation)
                    outs.append(o)
                    fins.append(f)
                out = outs[0] if D == 1 else torch.cat(outs, dim=-1)
                fin = tuple(torch.stack([f[i] for f in fins]) for i in range(self.num_states))
            else:
                weights = [t for d in range(D) for t in self._flat(self._params(layer, d))]
                out, fin = fused_layer(
                    self.spec.torch_mode(self.activation, self.recurrent_activation),  # type: ignore[arg-type]
                    x,
                    hx_l,
                    weights,
                    has_bias=self.bias,
                    bidirectional=self.bidirectional,
                    training=self.training,
                    lengths=batch.lengths,
                )
            if self.residual == "all" or (self.residual == "upper" and layer > 0):
                out = out + (layer_in if valid is None else torch.where(valid, layer_in, layer_in.new_zeros(())))
            if layer < self.num_layers - 1:
                for reg in between:  # (normalization, then dropout, of what the layer passes up)
                    out = reg.between(self, layer, out, valid)  # type: ignore[misc]
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
            if self.spec.fold_hh_bias and p.b_hh is not None:
                b = p.b_ih + p.b_hh
            return F.linear(x, p.w_ih, b)
        if valid is not None:  # (padding, whatever it holds, must not reach the weight's gradient)
            x = torch.where(valid, x, 0.0)
        xp = norms.input(F.linear(x, p.w_ih), valid)
        return xp if p.b_ih is None else xp + p.b_ih

    def _run_loop(
        self, layer: int, direction: int, x: Tensor, h0: State, batch: SequenceBatch, valid: Tensor | None,
        computation: str,
    ) -> tuple[Tensor, State]:
        """One layer and direction in rnnlab's loop: ``computation`` ``"fast"``, ``"fast-python"``
        or ``"autograd"`` (:func:`~rnnlab.layers.computation.choose_computation`)."""
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
        if computation != "autograd":
            kind, act = self.kind, str(self.activation)
            if kind != "lstm":
                xs = self._project(x, p, norms, valid)  # (with recurrent batch norm, its input term normalized)
                b_hh = None if self.spec.fold_hh_bias else p.b_hh
                bn = None
                if norms is not None:  # (batch norm: no fast loop has layer norm but the LSTM's)
                    bn = BatchNormSteps(norms.hh, None, valid, norms.training)  # type: ignore[arg-type]
                    if self.spec.fold_hh_bias and p.b_hh is not None:  # b_hh after the recurrent term's norm
                        xs = xs + p.b_hh

                def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                    return fast_loop(kind, act, xs, p.w_hh, b_hh, st, keep, feed_mask, bn)
            elif norms is not None and norms.norm == "batch":
                loops = step_loops(computation)
                if direction == 0 or valid is None:  # the fast LSTM projects and normalizes its input itself
                    xs = x if valid is None else torch.where(valid, x, 0.0)  # (padding reaches no gradient)
                    b = None if p.b_ih is None else p.b_ih + p.b_hh  # type: ignore[operator]
                    w_ih = p.w_ih
                    bn = BatchNormSteps(norms.hh, norms.c, valid, norms.training, norms.ih,  # type: ignore[arg-type]
                                        reverse=direction == 1)
                else:
                    # Padded and reversed, a step holds several positions of the sequence, whose
                    # input-term statistics are by position: the autograd loop's input term.
                    xs = self._project(x, p, norms, valid)
                    xs = xs if p.b_hh is None else xs + p.b_hh
                    b, w_ih = None, None
                    bn = BatchNormSteps(norms.hh, norms.c, valid, norms.training)  # type: ignore[arg-type]

                def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                    return fast_lstm(xs, w_ih, b, p.w_hh, st, keep, feed_mask, None, loops, bn)
            else:  # the fast LSTM projects its input itself; every bias joins the normalized input term
                xs = x
                loops = step_loops(computation)
                b = None if p.b_ih is None else p.b_ih + p.b_hh  # type: ignore[operator]
                ln = None if norms is None else LayerNormParams(
                    norms.ih.weight, norms.ih.eps, norms.hh.weight, norms.hh.eps, norms.c.weight, norms.c.bias,
                    norms.c.eps)

                def loop(xs: Tensor, st: State, keep: list[Tensor | None]) -> tuple[Tensor, State]:
                    return fast_lstm(xs, p.w_ih, b, p.w_hh, st, keep, feed_mask, ln, loops)
        else:
            xs = self._project(x, p, norms, valid)
            step = self.spec.step(self.spec, p, norms, valid, trace)

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

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        parts = [reg.describe(self.options) for reg in active(self.options)]
        if self.activation != self.spec.default_activation:
            parts.append(f"activation={self.activation!r}")
        if self.recurrent_activation != self.spec.default_recurrent_activation:
            parts.append(f"recurrent_activation={self.recurrent_activation!r}")
        if self.implementation != "auto":
            parts.append(f"implementation={self.implementation!r}")
        return ", ".join([s, *parts])
