"""Every keyword of a built-in recurrent layer, in one frozen record checked once.

A layer builds its :class:`LayerOptions` from its arguments (or takes one, ``options=``) and
resolves it against its kind and sizes (:func:`resolve`): each regularizer of
:data:`rnnlab.layers.regularizers.REGULARIZERS` checks its own keywords, with the error
messages the layers have always given, and defaults are filled in (the kind's activations,
zoneout as one probability per state tensor, residual as its mode). The layer keeps the
resolved record as ``layer.options`` and computes from it.

>>> import rnnlab
>>> opts = LayerOptions(num_layers=2, zoneout=0.1, between_layers_norm="layer")
>>> rnnlab.LSTM(3, 4, options=opts).options.zoneout
(0.1, 0.1)
>>> rnnlab.GRU(3, 4, options=opts).options.activation
'tanh'
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from abc import ABCMeta, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from rnnlab._checks import check_bool, check_choice, check_positive_int, did_you_mean
from rnnlab.activations import Activation, check_activation
from rnnlab.constraints import Constraint, MaxNorm, UnitNorm
from rnnlab.errors import ArgumentError
from rnnlab.layers.init import Initializer
from rnnlab.layers.spec import CellSpec

#: which computation runs the recurrence (see :func:`rnnlab.layers.computation.choose_computation`)
IMPLEMENTATIONS = ("auto", "torch", "fast", "fast-python", "fast-inductor", "autograd")


def _names_checked(cls: type) -> type:
    """``cls`` whose generated ``__init__`` first checks the keyword names with "did you mean"
    (:func:`check_names`; the dataclass's own TypeError has none), keeping its signature."""
    generated = cls.__init__

    @functools.wraps(generated)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        check_names(kwargs)
        generated(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


@_names_checked
@dataclass(frozen=True)
class LayerOptions:
    """The keywords of :class:`rnnlab.LSTM`, ``GRU``, ``RNN`` and ``IndRNN`` (see :class:`rnnlab.LSTM`
    for their meaning), each defaulting to "off"."""

    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    input_dropout: float = 0.0
    input_dropout_mode: str = "variational"
    recurrent_dropout: float = 0.0
    weight_drop: float = 0.0
    zoneout: float | tuple[float, ...] = 0.0
    layer_norm: bool = False
    recurrent_batch_norm: bool = False
    batch_norm_steps: int = 512
    between_layers_norm: str | None = None
    residual: bool | str | None = False
    activation: str | Activation | None = None
    recurrent_activation: str | Activation | None = None
    unit_forget_bias: bool = False
    kernel_init: str | Initializer | None = None
    recurrent_init: str | Initializer | None = None
    kernel_constraint: Constraint | None = None
    recurrent_constraint: Constraint | None = None
    bias_constraint: Constraint | None = None
    implementation: str = "auto"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The keyword names, in order.

        >>> "zoneout" in LayerOptions.names()
        True
        """
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> LayerOptions:
        """A copy with ``changes``; an unknown name is a ``TypeError`` with "did you mean".

        >>> LayerOptions().replace(zonout=0.1)
        Traceback (most recent call last):
        ...
        TypeError: zonout: not a keyword of rnnlab's recurrent layers; did you mean 'zoneout'?
        """
        check_names(changes)
        return dataclasses.replace(self, **changes)


def _penalty_advice(role: str) -> str:
    return (f"a weight penalty is rnnlab.WeightPenalty(model, l2={{{role!r}: 1e-4}}) (or l1=), added to the "
            f"loss: loss + wp()")


#: tf.keras' and Keras 3's ``l2(λ)`` activity penalty as :class:`rnnlab.ActivityRegularizer`'s ``ar``,
#: which multiplies the *mean* of h² where Keras sums (the layer hints and the config's say it so).
KERAS_ACTIVITY_AR = ("ar multiplies mean(h²), so Keras' activity_regularizer=l2(λ) is ar = λ·T·H in tf.keras "
                     "(λ·Σh²/batch) and ar = λ·B·T·H in Keras 3 (λ·Σh²), T the steps, H the output's features "
                     "(2·hidden_size if bidirectional), B the batch size (docs/regularization.md §5)")

#: What rnnlab has instead, for the keywords of Keras' recurrent layers that its layers do not
#: take (as :data:`rnnlab.layers.recurrent.BUILT_IN_ONLY` says for ``Recurrent``): "did you mean"
#: would point a Keras user at a name that only looks alike (``kernel_regularizer`` at
#: ``kernel_constraint``, ``reset_after`` at ``recurrent_batch_norm``), or at nothing. The config's
#: ``[model]`` keys have their own pointers to config keys (:data:`rnnlab.config.NOT_KEYS`).
FROM_KERAS: dict[str, str] = {
    "kernel_regularizer": _penalty_advice("kernel"),
    "recurrent_regularizer": _penalty_advice("recurrent"),
    "bias_regularizer": _penalty_advice("bias") + " (it penalizes bias_ih and bias_hh apart, Keras its one "
                        "bias: docs/regularization.md §1)",
    "activity_regularizer": "an activity penalty is rnnlab.ActivityRegularizer(model, ar=..., modules=model.lstm) "
                            "with modules= this layer (without it, the model's last recurrent module is hooked), "
                            "added to the loss: loss + act.penalty(); " + KERAS_ACTIVITY_AR,
    "return_sequences": "the layer returns every step's output (return_sequences=True); for the last step "
                        "(False) take the final state h[-1] (out, (h, c) = lstm(x); out, h = gru(x)), each "
                        "sequence's last valid step with lengths= or a PackedSequence; with bidirectional=True "
                        "torch.cat((h[-2], h[-1]), -1) joins forward and reverse as Keras' Bidirectional does; "
                        "out[:, -1] (batch_first=True) is that step only for full-length input in one direction",
    "return_state": "the layer always returns (output, state): out, (h, c) = lstm(x), where h[-1] and c[-1] are "
                    "Keras' state_h and state_c",
    "go_backwards": "flip the input along time (x.flip(1) with batch_first=True), or bidirectional=True for "
                    "both directions",
    "stateful": "pass the returned state back: out, state = layer(x1); out, state = layer(x2, state) "
                "(detach it between optimizer steps)",
    "units": "the state size is hidden_size, the second argument: rnnlab.LSTM(input_size, hidden_size), with "
             "input_size the features per step (Keras reads it from the input)",
    "use_bias": "write bias=",
    "time_major": "batch_first=False (the default) is time-major; Keras' [batch, time, features] is "
                  "batch_first=True",
    "bias_initializer": "biases start as torch's (uniform in ±1/√hidden_size); unit_forget_bias=True sets the "
                        "LSTM's forget-gate bias to 1",
    "kernel_initializer": "write kernel_init= ('glorot_uniform', 'orthogonal', ...), which initializes each "
                          "gate's [hidden_size, input_size] block apart where Keras takes the whole "
                          "[input, gates·units] kernel; Keras' own: torch.nn.init.xavier_uniform_(layer.weight_ih_l0)",
    "recurrent_initializer": "write recurrent_init= ('orthogonal', ...), which makes each gate's [hidden_size, "
                             "hidden_size] block orthogonal where Keras takes the whole [units, gates·units] "
                             "matrix; Keras' own: torch.nn.init.orthogonal_(layer.weight_hh_l0)",
    "reset_after": "not needed: torch's GRU, so rnnlab's, computes Keras' reset_after=True (its default since "
                   "TF 2), r ⊙ (W_hn h + b_hn); reset_after=False has no equivalent here (Keras weights: "
                   "rnnlab.layers.load_keras_weights)",
    "zero_output_for_mask": "not needed: with lengths= (or a PackedSequence) the outputs past each sequence's "
                            "length are zero and the state stops at its last valid step",
    "mask_zero": "rnnlab takes no mask: give each sequence's length, layer(x, lengths=lengths), or a "
                 "PackedSequence",
    "input_shape": "not needed: the features per step are input_size, the first argument (Keras' "
                   "input_shape[-1]); the steps and the batch size are not fixed",
    "batch_input_shape": "not needed: the features per step are input_size, the first argument; the steps and "
                         "the batch size are not fixed",
    "input_dim": "the features per step are input_size, the first argument",
    "unroll": "not needed: the layer picks how it runs the steps itself (implementation='auto')",
    "name": "not needed: a module's name is the attribute that holds it (self.lstm = rnnlab.LSTM(...) is "
            "'lstm' in named_parameters() and the state_dict)",
    "seed": "not needed: torch.manual_seed(seed) before building the layer seeds its initial weights (and "
            "before training, its dropout masks)",
    "trainable": "freeze it with layer.requires_grad_(False)",
}


def check_names(keywords: Iterable[str]) -> None:
    """A ``TypeError`` with "did you mean" for the first of ``keywords`` that is not a field of
    :class:`LayerOptions` (``LayerOptions(...)``, ``replace`` and the layers' keywords all say it so),
    or, for a Keras keyword, rnnlab's way to do it (:data:`FROM_KERAS`).

    >>> check_names(["zoneout", "num_layers"])
    >>> LayerOptions(zonout=0.1)
    Traceback (most recent call last):
    ...
    TypeError: zonout: not a keyword of rnnlab's recurrent layers; did you mean 'zoneout'?
    >>> LayerOptions(units=8)
    Traceback (most recent call last):
    ...
    TypeError: units: a Keras keyword, not one of rnnlab's recurrent layers; the state size is hidden_size, the second argument: rnnlab.LSTM(input_size, hidden_size), with input_size the features per step (Keras reads it from the input)
    """
    names = LayerOptions.names()
    for key in keywords:
        if key in names:
            continue
        if key in FROM_KERAS:
            raise TypeError(f"{key}: a Keras keyword, not one of rnnlab's recurrent layers; {FROM_KERAS[key]}")
        if key == "nonlinearity":  # (torch's nn.RNN keyword, which rnnlab.RNN keeps: the others take activation=)
            raise TypeError("nonlinearity: torch's nn.RNN keyword, which only rnnlab.RNN takes; write activation= "
                            "(e.g. activation='relu'), which every rnnlab layer takes")
        raise TypeError(f"{key}: not a keyword of rnnlab's recurrent layers{did_you_mean(key, names)}")


def check_options(value: Any) -> LayerOptions:
    """``value`` if it is a :class:`LayerOptions`, else a one-line ``TypeError`` (``options=`` of
    a layer, and ``layer.options = ...``).

    >>> check_options({"zoneout": 0.1})
    Traceback (most recent call last):
    ...
    TypeError: options: expected a rnnlab.LayerOptions, got dict {'zoneout': 0.1}; write rnnlab.LayerOptions(zoneout=0.1), or pass the keywords to the layer itself
    """
    if isinstance(value, LayerOptions):
        return value
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        hint = f"write rnnlab.LayerOptions({', '.join(f'{k}={v!r}' for k, v in value.items())})"
    else:
        hint = "build one with rnnlab.LayerOptions(...)"
    raise TypeError(f"options: expected a rnnlab.LayerOptions, got {type(value).__name__} {value!r}; {hint}, "
                    f"or pass the keywords to the layer itself")


@contextmanager
def naming(*keys: str) -> Iterator[None]:
    """A ``ValueError`` raised inside becomes an :class:`~rnnlab.errors.ArgumentError` about
    ``keys`` (an ``ArgumentError`` already names its own)."""
    try:
        yield
    except ArgumentError:
        raise
    except ValueError as e:
        raise ArgumentError(str(e), *keys) from None


class CheckedSettings(metaclass=ABCMeta):
    """Settings read back as attributes and checked again when assigned, for an ``nn.Module``
    subclass (``class Layer(CheckedSettings, nn.Module)``): the built-in layers and
    :class:`rnnlab.Recurrent` share it.

    ``module.name = value`` for a name in :attr:`SETTINGS` goes through the class's
    :meth:`_checked_setting`, which checks ``value`` as the constructor does and says what to store;
    a name in :attr:`FIXED` (the parameters or submodules were built from it) is refused once it
    has a value; and a new attribute whose name is close to a setting's is refused as a likely typo
    (``layer.zonout = 0.5`` would otherwise be stored as an attribute and change nothing). Other new
    attributes are the user's own, as on any ``nn.Module``.
    """

    #: the names whose assignment :meth:`_checked_setting` checks
    SETTINGS: ClassVar[frozenset[str]] = frozenset()
    #: the names fixed once they have a value
    FIXED: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def _checked_setting(self, name: str, value: Any) -> dict[str, Any]:
        """The attributes to store for ``module.name = value`` (``name`` in :attr:`SETTINGS`), after
        checking ``value``; raises the constructor's one-line error for a bad one (each class says
        how: a class without it cannot be made)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.FIXED and hasattr(self, name):
            raise AttributeError(f"{name}: the layer's parameters were built from it; build another layer to change it")
        if name in self.SETTINGS:
            for key, checked in self._checked_setting(name, value).items():
                super().__setattr__(key, checked)
            return
        if name not in self.FIXED and not name.startswith("_") and not hasattr(self, name):
            close = difflib.get_close_matches(name, sorted(self.SETTINGS | self.FIXED), n=1, cutoff=0.85)
            if close:
                raise AttributeError(f"{name}: {type(self).__name__} has no option or attribute {name!r}; did you mean "
                                     f"{close[0]!r}? (a new attribute this close to an option's name is refused as a "
                                     f"likely typo)")
        super().__setattr__(name, value)


@dataclass(frozen=True)
class LayerContext:
    """What the checks of the options need to know about the layer that takes them
    (``input_size`` None: not known yet, see :func:`resolve`)."""

    spec: CellSpec
    input_size: int | None
    hidden_size: int


def resolve(options: LayerOptions, spec: CellSpec, input_size: int | None, hidden_size: int) -> LayerOptions:
    """``options`` checked for a layer of kind ``spec`` with these sizes, defaults filled in.

    A bad value raises :class:`rnnlab.errors.ArgumentError` naming its keyword(s); a keyword
    that only tunes a regularizer that is off (``batch_norm_steps``, ``input_dropout_mode``) warns,
    and so, once the input size is known, does an IndRNN's bound that dropout lifts in training
    (:func:`bound_lifted_by_dropout`).
    ``input_size=None`` checks what can be checked before the input is known (a training
    config, before its data are read); the layer checks the rest when it is built.

    >>> from rnnlab.layers import IndRNN
    >>> resolve(LayerOptions(), IndRNN.spec, 3, 4).activation
    'relu'
    >>> resolve(LayerOptions(zoneout=2.0), IndRNN.spec, None, 4)
    Traceback (most recent call last):
    ...
    rnnlab.errors.ArgumentError: zoneout: expected a probability in [0, 1], got 2.0
    """
    from rnnlab.layers.regularizers import REGULARIZERS  # (they check LayerOptions: defined above)

    ctx = LayerContext(spec, input_size, hidden_size)
    if input_size is not None:
        check_positive_int("input_size", input_size)
    check_positive_int("hidden_size", hidden_size)
    act = options.activation if options.activation is not None else spec.default_activation
    ract = options.recurrent_activation
    if spec.default_recurrent_activation is None and ract is not None:
        raise ArgumentError(f"recurrent_activation: applies to gated layers (lstm, gru), this layer is a {spec.kind}",
                            "recurrent_activation")
    ract = ract if ract is not None else spec.default_recurrent_activation
    with naming("activation"):
        check_activation(act, "activation")
    with naming("recurrent_activation"):
        if ract is not None:
            check_activation(ract, "recurrent_activation")
    with naming("num_layers"):
        num_layers = check_positive_int("num_layers", options.num_layers)
    with naming("implementation"):
        check_choice("implementation", options.implementation, IMPLEMENTATIONS)
    flags = {}
    for flag in ("bias", "batch_first", "bidirectional"):
        with naming(flag):
            flags[flag] = check_bool(flag, getattr(options, flag))
    changes: dict[str, Any] = {
        "num_layers": num_layers,
        **flags,
        "activation": act,
        "recurrent_activation": ract,
    }
    resolved = dataclasses.replace(options, **changes)
    for reg in REGULARIZERS:
        with naming(*reg.keywords):
            changes.update(reg.check(resolved, ctx))
    resolved = dataclasses.replace(options, **changes)
    _warn_inert(resolved)
    # (a config, checked before its data are read, says it in its own keys: ModelConfig)
    lifted = bound_lifted_by_dropout(resolved, spec.kind) if input_size is not None else None
    if lifted is not None:
        from rnnlab.layers.regularizers import warn_at_user_line

        warn_at_user_line(lifted, BoundLiftedWarning)
    return resolved


class BoundLiftedWarning(UserWarning):
    """An IndRNN's recurrent bound that inverted dropout lifts in training
    (:func:`bound_lifted_by_dropout`): the layer says it when it is built, a config when it is checked."""


#: the keywords whose inverted dropout scales an IndRNN's recurrent weight u by 1/(1-p) in training
BOUND_LIFTERS = ("recurrent_dropout", "weight_drop")


def bound_lifted_by_dropout(options: LayerOptions, kind: str, table: str | None = None) -> str | None:
    """The warning for a layer of ``kind`` "indrnn" whose recurrent bound ``|u| <= b`` inverted
    dropout lifts in training (None where nothing is lifted): the one rule and wording of the layer
    and of the config.

    Recurrent dropout (on the fed-back state) and weight drop (on u) scale each kept unit's u by
    1/(1-p), so at every training step the effective bound is ``b / (1-p)`` (both: the product).
    Above 1 the state can grow as its T-th power over T steps; the figure is per 100 steps (the
    data's length is not known here); evaluation, without dropout, keeps ``b``. A gated layer's
    recurrent matrix is no per-unit factor, and zoneout keeps u as it is: neither is said.

    ``table`` spells the keywords: None as the layer's arguments (``recurrent_dropout=0.1``), a
    config table as its keys (``"model"``: ``'model.recurrent_dropout' = 0.1``).

    >>> opts = LayerOptions(recurrent_dropout=0.1, recurrent_constraint=MaxNorm(1.000693387))
    >>> print(bound_lifted_by_dropout(opts, "indrnn"))
    recurrent_dropout=0.1 on an IndRNN with recurrent_constraint=MaxNorm(1.000693387): in training inverted dropout scales each kept unit's u by 1/(1-p), so the effective bound is 1.00069/(1-0.1) = 1.11188 and |u|^T can reach 1.11188^100 = 4.04e+04 over 100 steps (the bound allows 1.07; evaluation keeps it); set zoneout, or dropout between stacked layers as Li et al. do, instead
    >>> print(bound_lifted_by_dropout(opts, "indrnn", table="model").split(": in training")[0])
    'model.recurrent_dropout' = 0.1 on an IndRNN with model.recurrent_constraint max_norm 1.00069
    >>> bound_lifted_by_dropout(opts, "gru") is None
    True
    """
    c = options.recurrent_constraint
    lifting = {k: getattr(options, k) for k in BOUND_LIFTERS if getattr(options, k) > 0}
    # (unit_norm: |u| = 1; non_neg and a constraint of one's own state no bound to lift)
    bound = c.max_value if isinstance(c, MaxNorm) else 1.0 if isinstance(c, UnitNorm) else None
    if kind != "indrnn" or bound is None or not lifting:
        return None
    effective = bound / math.prod(1 - p for p in lifting.values())
    if effective <= 1:  # (|u|^T still shrinks: nothing explodes)
        return None

    def per_100(x: float) -> str:  # (x^100 can pass a float's range: a config's bound is <= 1e6)
        digits = 100 * math.log10(x)
        return f"{x ** 100:.3g}" if digits < 300 else f"1e+{digits:.0f}"

    if table is None:
        said = " and ".join(f"{k}={p:g}" for k, p in lifting.items())
        bounded, zoneout, dropout = f"recurrent_constraint={c!r}", "zoneout", "dropout"
    else:
        said = " and ".join(f"'{table}.{k}' = {p:g}" for k, p in lifting.items())
        kind_key = "max_norm" if isinstance(c, MaxNorm) else "unit_norm"
        bounded, zoneout, dropout = (f"{table}.recurrent_constraint {kind_key} {bound:.6g}", f"{table}.zoneout",
                                     f"{table}.dropout")
    over = "".join(f"(1-{p:g})" for p in lifting.values())
    return (f"{said} on an IndRNN with {bounded}: in training inverted dropout scales each kept unit's u by 1/(1-p), "
            f"so the effective bound is {bound:.6g}/{over} = {effective:.6g} and |u|^T can reach {effective:.6g}^100 "
            f"= {per_100(effective)} over 100 steps (the bound allows {per_100(bound)}; evaluation keeps it); set "
            f"{zoneout}, or {dropout} between stacked layers as Li et al. do, instead")


#: keywords that only tune another: (keyword, the keyword it tunes, whether that one is on, what it
#: does, what turns it on)
_TUNES = (
    ("batch_norm_steps", "recurrent_batch_norm", lambda o: o.recurrent_batch_norm,
     "sets how many steps recurrent batch norm keeps statistics for", "recurrent_batch_norm=True"),
    ("input_dropout_mode", "input_dropout", lambda o: o.input_dropout > 0,
     "chooses how input dropout draws its masks", "input_dropout > 0"),
)


def _warn_inert(options: LayerOptions) -> None:
    """Warn, as torch's layers do for ``dropout`` with one layer, of a keyword set away from its
    default whose keyword it tunes is off: it does nothing (likely a forgotten keyword)."""
    from rnnlab.layers.regularizers import warn_at_user_line

    for name, tuned, on, does, needs in _TUNES:
        value = getattr(options, name)
        if value != getattr(LayerOptions, name) and not on(options):  # (the class attribute: its default)
            warn_at_user_line(f"{name}={value!r} {does}, so without {tuned} it does nothing; set {needs}, "
                              f"or leave {name} out")
