"""The regularizers of the built-in layers: one entry each, in one registry.

An entry declares its keyword(s) of :class:`~rnnlab.layers.options.LayerOptions`, how to check
them (with the error messages users see), when it is on, which computations compute it when on
(``"torch"``: torch's fused kernel; ``"fast"``: rnnlab's loop with a hand-written backward;
``"autograd"``: the reference loop, which computes everything), whether it acts in eval mode
(the dropouts do not: eval mode then takes the computation that computes what is in effect),
whether torch's own module (``nn.LSTM``, ...) has it (:meth:`~rnnlab.RecurrentBase.to_torch`),
and how the layer's repr shows it. An entry that acts between stacked layers also gives the modules it adds to the layer and
the function applied to what each layer passes up (``between``). The layers compute each
entry's effect where it belongs (the loops take the per-step ones); adding a regularizer is one
entry here and its meaning test (see ``docs/layers.md``).

>>> [r.name for r in REGULARIZERS][:4]
['input_dropout', 'recurrent_dropout', 'weight_drop', 'zoneout']
>>> from rnnlab.layers import LSTM
>>> sorted(by_name("recurrent_batch_norm").computations(LSTM.spec))
['autograd', 'fast']
>>> [r.name for r in in_effect(LSTM(3, 4, recurrent_dropout=0.2, zoneout=0.1).options, training=False)]
['zoneout']
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_choice, check_positive_int, check_probability
from rnnlab.constraints import check_constraint
from rnnlab.errors import ArgumentError
from rnnlab.layers.init import check_initializer
from rnnlab.layers.options import LayerContext, LayerOptions
from rnnlab.layers.spec import CellSpec

#: every computation, and those that run rnnlab's own time loop
ALL = frozenset({"torch", "fast", "autograd"})
LOOPS = frozenset({"fast", "autograd"})

Between = Callable[[nn.Module, int, Tensor, "Tensor | None"], Tensor]


@dataclass(frozen=True)
class Regularizer:
    """One regularizer (see the module docstring)."""

    keywords: tuple[str, ...]
    #: ``(options, layer) -> {keyword: checked value}``; raises on bad values
    check: Callable[[LayerOptions, LayerContext], dict[str, Any]]
    active: Callable[[LayerOptions], bool]
    #: the computations that compute it, for a kind
    computations: Callable[[CellSpec], frozenset[str]]
    #: its part of the layer's repr, when active
    describe: Callable[[LayerOptions], str]
    #: whether it changes what the layer computes in eval mode (a dropout does not: zoneout's
    #: expectation and the norms' running statistics do); where not, eval mode ignores it
    acts_in_eval: bool = True
    #: whether torch's own module of the kind (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) has it: not
    #: what rnnlab adds around each stacked layer's recurrence (input dropout, residual sums,
    #: norms between layers), which torch's kernel therefore computes only with rnnlab around it
    torch_module: bool = True
    #: ``(options, layer, factory kwargs) -> {name: module}`` registered on the layer
    modules: Callable[[LayerOptions, LayerContext, dict[str, Any]], dict[str, nn.Module]] | None = None
    #: ``(layer, index, output, valid) -> output`` applied to what layer ``index`` passes up
    between: Between | None = None

    @property
    def name(self) -> str:
        return self.keywords[0]


def _always(computations: frozenset[str]) -> Callable[[CellSpec], frozenset[str]]:
    return lambda spec: computations


def _dropout(name: str, computations: frozenset[str]) -> Regularizer:
    """A dropout of probability ``name``: on when above 0, nothing in eval mode."""
    return Regularizer(
        (name,),
        check=lambda o, ctx: {name: check_probability(name, getattr(o, name))},
        active=lambda o: getattr(o, name) > 0,
        computations=_always(computations),
        describe=lambda o: f"{name}={getattr(o, name)}",
        acts_in_eval=False,
    )


def _check_input_dropout(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    return {
        "input_dropout": check_probability("input_dropout", o.input_dropout),
        "input_dropout_mode": check_choice("input_dropout_mode", o.input_dropout_mode, ("variational", "step")),
    }


def _check_dropout(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    checked = {"dropout": check_probability("dropout", o.dropout)}
    if o.dropout > 0 and o.num_layers == 1:  # (torch's layers warn so, and run; a drop-in does the same)
        warn_at_user_line(f"dropout={o.dropout} acts between stacked layers, so with num_layers=1 it does "
                          "nothing; for one layer use input_dropout or recurrent_dropout")
    return checked


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # .../rnnlab/


def warn_at_user_line(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` pointing at the first line outside rnnlab on the stack (the user's
    line that made the layer), however deep in rnnlab the check runs.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_at_user_line("a note")
    >>> "rnnlab" in caught[0].filename.split(os.sep)
    False
    """
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=(_PACKAGE,))
        return
    # (before 3.12: count the frames inside the package; stacklevel 1 is this function)
    level, frame = 2, sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _check_zoneout(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    n, z = ctx.spec.num_states, o.zoneout
    if isinstance(z, (tuple, list)):
        if len(z) != n and n == 1:
            raise ValueError(f"zoneout: a pair (h, c) is for an LSTM (its two states); this layer ({ctx.spec.kind}) has "
                             f"one state and takes one probability, got {tuple(z)!r}")
        if len(z) != n:
            raise ValueError(f"zoneout: expected a probability or {n} probabilities (h, c) for a {ctx.spec.kind}, "
                             f"got {tuple(z)!r}")
        return {"zoneout": tuple(check_probability("zoneout", p, allow_one=True) for p in z)}
    return {"zoneout": (check_probability("zoneout", z, allow_one=True),) * n}


def _check_norms(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    if o.layer_norm and o.recurrent_batch_norm:
        raise ArgumentError("layer_norm and recurrent_batch_norm: choose one, got both true",
                            "layer_norm", "recurrent_batch_norm")
    return {"layer_norm": check_bool("layer_norm", o.layer_norm)}


def _check_batch_norm(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    return {"recurrent_batch_norm": check_bool("recurrent_batch_norm", o.recurrent_batch_norm),
            "batch_norm_steps": check_positive_int("batch_norm_steps", o.batch_norm_steps)}


def _describe_batch_norm(o: LayerOptions) -> str:
    return "recurrent_batch_norm=True" + (f", batch_norm_steps={o.batch_norm_steps}" if o.batch_norm_steps != 512 else "")


# ---- between_layers_norm: batch or layer norm of the outputs each stacked layer passes up
BETWEEN_NORMS = ("batch", "layer")


def _check_between_norm(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    v = o.between_layers_norm
    if v is None:
        return {}
    check_choice("between_layers_norm", v, BETWEEN_NORMS)
    if o.num_layers < 2:
        raise ValueError(
            f"between_layers_norm={v!r}: normalizes what a layer passes to the next, so needs num_layers >= 2, "
            f"got num_layers={o.num_layers}"
        )
    return {}


def _between_norm_modules(o: LayerOptions, ctx: LayerContext, fk: dict[str, Any]) -> dict[str, nn.Module]:
    width = ctx.hidden_size * (2 if o.bidirectional else 1)
    make = (lambda: nn.BatchNorm1d(width, **fk)) if o.between_layers_norm == "batch" else (lambda: nn.LayerNorm(width, **fk))
    return {f"between_norm_l{k}": make() for k in range(o.num_layers - 1)}


def _between_norm(layer: nn.Module, index: int, out: Tensor, valid: Tensor | None) -> Tensor:
    """Normalize ``out [T, B, F]``: batch norm with statistics over every real (unpadded) step of
    every sequence, as ``nn.BatchNorm1d`` over those rows; layer norm per step. Padded steps stay 0."""
    norm = getattr(layer, f"between_norm_l{index}")
    if isinstance(norm, nn.LayerNorm):
        y = norm(out)
        return y if valid is None else torch.where(valid, y, y.new_zeros(()))
    rows = out.reshape(-1, out.shape[-1])
    if valid is None:
        return norm(rows).view_as(out)
    keep = valid.reshape(-1)
    y = torch.zeros_like(rows)
    y[keep] = norm(rows[keep])  # (the statistics, and the running ones, of the real steps only)
    return y.view_as(out)


def _between_dropout(layer: nn.Module, index: int, out: Tensor, valid: Tensor | None) -> Tensor:
    return F.dropout(out, layer.options.dropout, layer.training)


def _check_residual(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    residual = o.residual
    if residual is False or residual is None:
        return {"residual": None}
    mode = check_choice("residual", "all" if residual is True else residual, ("all", "upper"))
    out = ctx.hidden_size * (2 if o.bidirectional else 1)
    if mode == "upper" and o.num_layers < 2:
        raise ValueError(f"residual='upper': needs num_layers >= 2, got num_layers={o.num_layers}")
    if mode == "all" and ctx.input_size is not None and ctx.input_size != out:
        raise ValueError(
            f"residual=True adds each layer's input to its output, so input_size must equal "
            f"hidden_size * num_directions = {out}, got input_size={ctx.input_size}; "
            f"use residual='upper' to skip the first layer"
        )
    return {"residual": mode}


def _check_unit_forget_bias(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    if o.unit_forget_bias and ctx.spec.kind != "lstm":
        raise ValueError(f"unit_forget_bias applies to layer 'lstm' only, got layer {ctx.spec.kind!r} "
                         "(only an LSTM has a forget gate)")
    if o.unit_forget_bias and not o.bias:
        raise ValueError("unit_forget_bias: needs bias=True")
    return {"unit_forget_bias": check_bool("unit_forget_bias", o.unit_forget_bias)}


def _name(v: Any) -> str:
    return repr(v) if isinstance(v, str) else getattr(v, "__name__", repr(v))


def _keyword(name: str, check: Callable[[str, Any], Any]) -> Regularizer:
    """A keyword that is on when set (an initializer, a constraint)."""
    return Regularizer(
        (name,),
        check=lambda o, ctx: {name: check(name, getattr(o, name))},
        active=lambda o: getattr(o, name) is not None,
        computations=_always(ALL),
        describe=lambda o: f"{name}={_name(getattr(o, name))}",
    )


def _check_recurrent_init(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    if o.recurrent_init is not None and ctx.spec.vector_recurrent:
        raise ValueError(
            f"recurrent_init ({_name(o.recurrent_init)}) does not apply to layer {ctx.spec.kind!r}: its recurrent "
            "weight is a vector (one weight per unit), not a matrix; unset it"
        )
    return {"recurrent_init": check_initializer("recurrent_init", o.recurrent_init)}


def _check_bias_constraint(o: LayerOptions, ctx: LayerContext) -> dict[str, Any]:
    constraint = check_constraint("bias_constraint", o.bias_constraint)
    if constraint is not None and not o.bias:  # (as unit_forget_bias: else it would bound nothing, silently)
        raise ArgumentError(f"bias_constraint: needs bias=True (a bias to bound), got bias=False with "
                            f"bias_constraint={constraint!r}; unset bias_constraint or set bias=True",
                            "bias_constraint", "bias")
    return {"bias_constraint": constraint}


#: every regularizer, in the order of the layer's repr; ``between`` entries act in this order
REGULARIZERS: tuple[Regularizer, ...] = (
    Regularizer(
        ("input_dropout", "input_dropout_mode"), check=_check_input_dropout, active=lambda o: o.input_dropout > 0,
        computations=_always(ALL),  # (it changes the input only)
        describe=lambda o: f"input_dropout={o.input_dropout}"
        + (f", input_dropout_mode={o.input_dropout_mode!r}" if o.input_dropout_mode != "variational" else ""),
        acts_in_eval=False, torch_module=False,
    ),
    _dropout("recurrent_dropout", LOOPS),
    _dropout("weight_drop", ALL),  # (it changes the recurrent weights only)
    Regularizer(
        ("zoneout",), check=_check_zoneout, active=lambda o: any(o.zoneout), computations=_always(LOOPS),
        describe=lambda o: f"zoneout={o.zoneout if len(set(o.zoneout)) > 1 else o.zoneout[0]}",
    ),
    Regularizer(
        ("layer_norm",), check=_check_norms, active=lambda o: o.layer_norm,
        computations=lambda spec: LOOPS if spec.kind == "lstm" else frozenset({"autograd"}),
        describe=lambda o: "layer_norm=True",
    ),
    Regularizer(
        ("recurrent_batch_norm", "batch_norm_steps"), check=_check_batch_norm, active=lambda o: o.recurrent_batch_norm,
        computations=_always(LOOPS), describe=_describe_batch_norm,
    ),
    Regularizer(
        ("between_layers_norm",), check=_check_between_norm, active=lambda o: o.between_layers_norm is not None,
        computations=_always(ALL), describe=lambda o: f"between_layers_norm={o.between_layers_norm!r}",
        modules=_between_norm_modules, between=_between_norm, torch_module=False,
    ),
    Regularizer(  # (torch's dropout between stacked layers)
        ("dropout",), check=_check_dropout, active=lambda o: o.dropout > 0, computations=_always(ALL),
        describe=lambda o: f"dropout={o.dropout}", between=_between_dropout, acts_in_eval=False,
    ),
    Regularizer(
        ("residual",), check=_check_residual, active=lambda o: o.residual is not None, computations=_always(ALL),
        describe=lambda o: f"residual={o.residual!r}", torch_module=False,
    ),
    Regularizer(
        ("unit_forget_bias",), check=_check_unit_forget_bias, active=lambda o: o.unit_forget_bias,
        computations=_always(ALL), describe=lambda o: "unit_forget_bias=True",
    ),
    _keyword("kernel_init", check_initializer),
    Regularizer(
        ("recurrent_init",), check=_check_recurrent_init, active=lambda o: o.recurrent_init is not None,
        computations=_always(ALL), describe=lambda o: f"recurrent_init={_name(o.recurrent_init)}",
    ),
    _keyword("kernel_constraint", check_constraint),
    _keyword("recurrent_constraint", check_constraint),
    Regularizer(
        ("bias_constraint",), check=_check_bias_constraint, active=lambda o: o.bias_constraint is not None,
        computations=_always(ALL), describe=lambda o: f"bias_constraint={_name(o.bias_constraint)}",
    ),
)


def by_name(name: str) -> Regularizer:
    """The entry that owns keyword ``name``."""
    for reg in REGULARIZERS:
        if name in reg.keywords:
            return reg
    raise KeyError(name)


def active(options: LayerOptions) -> list[Regularizer]:
    """The entries that are on in ``options``."""
    return [reg for reg in REGULARIZERS if reg.active(options)]


def in_effect(options: LayerOptions, training: bool) -> list[Regularizer]:
    """The entries that are on in ``options`` and act in this mode (``training``: the layer's
    flag): in eval mode, not those that do nothing there (``acts_in_eval``)."""
    return [reg for reg in REGULARIZERS if reg.active(options) and (training or reg.acts_in_eval)]
