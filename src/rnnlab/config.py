"""The TOML configuration of a training run, validated with pydantic.

Sections: ``[data]``, ``[model]`` (with ``[model.frontend]``, ``[model.head]``), ``[training]``
(with ``[training.schedule]``, ``[training.early_stopping]``, ``[[training.decay_rules]]``),
``[tracking]`` and ``[output]``. Every section forbids unknown keys: a typo is an error that names
the full key path and the nearest valid key. ``rnnlab init`` writes :data:`TEMPLATE`, a commented
example that parses into these same models.

A value set in Python (``config.model.zoneout = 0.1``, pydantic's ``validate_assignment``) is
checked as the file's value is, by the section's checks and those of every section holding it
(``training.schedule.warmup_epochs`` against ``training.epochs``, ``[model]`` against
``[training]``): a refused value raises the file's one-line :class:`ConfigError` naming the key,
and the section keeps its value. ``config.model_copy(update=...)`` is pydantic's copy without any
check; to set key paths with checks, as the estimators' ``params`` do, use
:func:`rnnlab.search.space.apply_values`.

Example:
    >>> cfg = parse_config('[data]\\ndataset = "GunPoint"\\n[model]\\nhidden_size = 32')
    >>> cfg.model.layer, cfg.model.hidden_size, cfg.training.optimizer
    ('lstm', 32, 'adamw')
    >>> parse_config('[data]\\ndataset = "GunPoint"\\n[model]\\nhiden_size = 32')
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: config: unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import re
import sys
import typing
import weakref
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from rnnlab._checks import closest, did_you_mean
from rnnlab.errors import ArgumentError, ConfigError

if typing.TYPE_CHECKING:
    from rnnlab.constraints import Constraint
    from rnnlab.layers.options import LayerOptions
    from rnnlab.task import Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tomli backport has the same API
    import tomli as tomllib

Probability = typing.Annotated[float, Field(ge=0.0, lt=1.0)]
#: the std of Gaussian noise on normalized values (model.input_noise, adapt.input_noise)
NoiseStd = typing.Annotated[float, Field(ge=0.0, le=10.0)]
# Upper bounds of numbers, so that every key has a range a run can honour (a size beyond them
# would fail in the allocator, a count or period beyond them would never be reached); sizes
# within them are also checked against memory before the model is built (rnnlab.train.memory).
#: widths: hidden units, conv channels, the head's hidden layer
MAX_WIDTH = 2**16
#: conv kernel, stride and pooling window, in steps
MAX_WINDOW = 4096
#: epochs, patience, steps between records, ...
MAX_COUNT = 10**6
#: optimizer steps (a budget, a warm-up)
MAX_STEPS = 10**9
#: learning rate, and how far a rule may scale it
MAX_LR = 10.0
#: weight decay (decoupled or L2) and L1
MAX_DECAY = 100.0
Role = Literal["kernel", "recurrent", "bias", "norm", "embedding", "other"]
#: The budget of a run whose config gives neither ``training.epochs`` nor ``training.steps``.
DEFAULT_EPOCHS = 20


class _Section(BaseModel):
    # strict: "yes" / 1 are not a bool, "8" / 8.0 not an int (an int where a float is expected is
    # fine); no inf / nan anywhere. validate_assignment: a value set on a section in Python is
    # checked as the file's value is (see the module's docstring).
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False,
                              validate_assignment=True)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # (pydantic's own and private attributes)
            super().__setattr__(name, value)
            return
        if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
            value = value.item()  # (np.int64(8) is 8 to a notebook user, as to the estimators)
        # pydantic keeps a value its model validators refused: put the old one back
        before, given = self.__dict__.get(name), set(self.__pydantic_fields_set__)
        checked: _Section = self
        try:
            super().__setattr__(name, value)
            # The rules of the sections that hold this one read it too (training.schedule's warm-up
            # against training.epochs, [model] against [training]): each checks it again, as a file's.
            while (held := _holder(checked)) is not None:
                holder, key = held
                kept = set(holder.__pydantic_fields_set__)
                type(holder).__pydantic_validator__.validate_assignment(holder, key, holder.__dict__[key])
                object.__setattr__(holder, "__pydantic_fields_set__", kept)
                checked = holder
        except ValidationError as e:
            if name in type(self).model_fields:
                self.__dict__[name] = before
                object.__setattr__(self, "__pydantic_fields_set__", given)
            raise ConfigError("config: " + _assignment_problem(checked, name if checked is self else None, e)) from None

    @model_validator(mode="after")
    def _hold(self) -> _Section:
        self._adopt()
        return self

    def _adopt(self) -> None:
        """Link each section this one holds to it (:data:`_HELD_BY`)."""
        for key in type(self).model_fields:
            value = self.__dict__.get(key)
            items = (value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list)
                     else [(None, value)])
            for at, child in items:
                if isinstance(child, _Section):
                    _HELD_BY[id(child)] = (weakref.ref(child, _forget(id(child))), weakref.ref(self), key, at)

    def model_copy(self, *, update: typing.Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """pydantic's copy, holding its sections (an assignment to one checks the copy's rules)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._adopt()
        return copy

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        copy = super().__deepcopy__(memo)
        copy._adopt()
        return copy

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._adopt()


#: Which section holds each section, by ``id``: (the section, its holder, the holder's key, the
#: list index or table key), weakly; set as the holder is validated or copied, read by assignments.
_HELD_BY: dict[int, tuple[Any, Any, str, Any]] = {}


def _forget(key: int) -> Any:
    """The callback that drops a section's link as the section is freed (its id may be reused)."""
    return lambda _: _HELD_BY.pop(key, None)


def _holder(section: _Section) -> tuple[_Section, str] | None:
    """The section that holds ``section`` and its key there, or None (a section on its own)."""
    link = _HELD_BY.get(id(section))
    if link is None or link[0]() is not section or link[1]() is None:
        return None
    return link[1](), link[2]


def _loc_of(section: _Section) -> tuple[Any, ...]:
    """``section``'s place in its :class:`Config` as pydantic's ``loc``; one on its own (or under
    one on its own) is placed where its class sits in a config (the first place, for a constraint)."""
    loc: tuple[Any, ...] = ()
    while (link := _HELD_BY.get(id(section))) is not None and link[0]() is section and link[1]() is not None:
        loc = (link[2], *(() if link[3] is None else (link[3],)), *loc)
        section = link[1]()
    known = _section_locs()
    top = next((known[cls] for cls in type(section).__mro__ if cls in known), [()])
    return (*top[0], *loc)


#: A pair read from a TOML list (strict mode alone would demand a Python tuple), strict inside.
UnitPair = typing.Annotated[
    tuple[typing.Annotated[StrictFloat, Field(ge=0.0, lt=1.0)], typing.Annotated[StrictFloat, Field(ge=0.0, lt=1.0)]],
    Field(strict=False),
]


class DataConfig(_Section):
    """Where the sequences come from and how they are split and scaled."""

    dataset: str | None = None
    """A bundled data set (see ``rnnlab datasets``), e.g. "GunPoint" or "digits_rows"."""
    path: str | None = None
    """A user file: ``.npz`` with X [N, T, C], y [N], optional lengths [N]; or ``.csv``. A relative
    path is taken from the config file's folder (:func:`load_config`)."""
    test_path: str | None = None
    """An optional test file in the same format as ``path`` (not the same file)."""
    label_column: str = "label"
    """CSV only: the column holding the class labels; the other columns are time steps."""
    target_column: str | list[str] | None = None
    """``[task] kind = "regression"`` only. A CSV's column holding the target values (a list of
    columns: K values per sequence; unset: "target"); the other columns are time steps. An
    ``.npz``'s: the names of y's K targets, one per column of y (unset: its ``target_names``, else
    ``target0``, ``target1``, ...), which the run's figures and predictions are named by."""
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    """Fraction of the training split held out for validation (stratified, seeded). Over 0.5 it is
    accepted with a warning when the data are loaded, naming the counts it leaves (a hold-out larger
    than the training part is rarely meant: a model of few series learns little)."""
    normalize: Literal["per_channel", "per_series", "none"] = "per_channel"
    """``"per_channel"``: mean/std per channel fitted on the training part only; ``"per_series"``:
    each series to mean 0, std 1 per channel (the UCR convention; fits nothing); padding excluded."""
    tokens: Literal["char", "word"] | None = None
    """Language models (unset: ``"char"``): the text's tokens, its characters or its
    whitespace-separated words (each line ended by ``<eos>``)."""
    vocab_size: int | None = Field(None, ge=2, le=2**24)
    """Language models: at most this many tokens in the vocabulary, ``<unk>`` included: the most
    frequent of the training part (ties in token order); the rest read as ``<unk>`` and are
    counted (unset: every token of the training part)."""
    series_scale: bool | Literal["informative"] = False
    """With ``normalize = "per_series"``: also feed what it removes, each series' level and scale
    (asinh of its mean and std per channel, standardised on the training part), as constant input
    channels, so amplitude stays visible to the model. ``"informative"``: a level or scale whose
    spread over the training series is within its own sampling error (white noise's: a series'
    mean varies by std/sqrt(steps)) is noise, and its channel is 0 (what the shape rule picks for
    classes of few series, :mod:`rnnlab.train.shape_rules`)."""
    # Streams (a task on long series, e.g. [task] kind = "forecasting": rnnlab.data.stream).
    columns: list[str] | None = None
    """Streams, ``.csv``: the columns that make the series (default: every column with numbers in it)."""
    bptt: int = Field(64, gt=0, le=MAX_STEPS)
    """Streams: steps per window; each window is one optimizer step, and each row's state carries
    from one window to the next (detached) through the epoch."""
    streams: int = Field(1, gt=0, le=2**20)
    """Streams: parallel rows each series is cut into (the batch: AWD-LSTM's batchify)."""
    val_steps: int | None = Field(None, gt=0, le=MAX_STEPS)
    """Streams: the validation block, the steps before the test block (unset: ``val_fraction`` of them)."""
    test_steps: int | None = Field(None, ge=0, le=MAX_STEPS)
    """Streams: the test block, the last steps of each series (unset: ``test_fraction`` of it)."""
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    """Streams: the fraction of each series held out at its end for the test block."""

    @field_validator("columns", "target_column")
    @classmethod
    def _columns_once(cls, value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
        # (a column read twice is one channel, or one target, twice: forecast or fitted twice, and
        # ambiguous to read back by name)
        if info.field_name == "target_column" and value == []:
            # (not "unset": a list names the K target columns, and no column is no target)
            raise ValueError("'data.target_column': expected a column name or a non-empty list of them, got []")
        seen: set[str] = set()
        for name in value if isinstance(value, list) else []:
            if name in seen:
                raise ValueError(f"'data.{info.field_name}': expected each column once, got {name!r} "
                                 f"{value.count(name)} times in {value}")
            seen.add(name)
        return value

    @model_validator(mode="after")
    def _one_source(self, info: ValidationInfo) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            # (the section alone does not know its task: config_from_dict passes what its file is)
            file = (info.context or {}).get("data_file", "an .npz/.csv file")
            raise ValueError(
                "expected exactly one of 'data.dataset' (a bundled data set) or 'data.path' "
                f"({file}), got dataset={self.dataset!r} and path={self.path!r}"
            )
        if self.series_scale and self.normalize != "per_series":
            raise ValueError(f"'data.series_scale' = {self.series_scale!r} needs data.normalize = \"per_series\" (the level and "
                             f"scale it removes), got normalize = {self.normalize!r}")
        if self.test_path is not None and self.path is None:
            raise ValueError("'data.test_path' needs 'data.path' (bundled data sets bring their own test split)")
        npz = self.path is not None and self.path.lower().endswith(".npz")
        if self.label_column != "label" and (self.dataset is not None or npz):
            # (only a .csv's labels are a column: elsewhere the key is read by nothing, and says otherwise)
            held = (f"data.dataset {self.dataset!r} is a bundled set, its labels its own" if self.dataset is not None
                    else f"data.path {self.path!r} is an .npz, whose labels are its y")
            raise ValueError(f"'data.label_column' = {self.label_column!r} names the label column of a .csv; {held}: "
                             "remove the key")
        return self


class ConstraintConfig(_Section):
    """A weight constraint applied after every optimizer step, per output channel."""

    kind: Literal["max_norm", "unit_norm", "non_neg"]
    value: float | None = Field(None, gt=0.0, le=1e6)
    """The bound of ``max_norm`` (required there, unused otherwise)."""

    @model_validator(mode="after")
    def _value(self) -> ConstraintConfig:
        if self.kind == "max_norm" and self.value is None:
            raise ValueError("kind 'max_norm' needs 'value' (the largest channel norm), got none")
        return self

    def build(self) -> Constraint:
        """The :mod:`rnnlab.constraints` object.

        >>> ConstraintConfig(kind="max_norm", value=3.0).build()
        MaxNorm(3.0)
        """
        from rnnlab.constraints import MaxNorm, NonNeg, UnitNorm

        return MaxNorm(self.value) if self.kind == "max_norm" else {"unit_norm": UnitNorm, "non_neg": NonNeg}[self.kind]()


Activation = Literal["relu", "tanh", "gelu", "none"]


class ConvBlockConfig(_Section):
    """One block of the front-end: Conv1d (padding ``dilation * (kernel_size // 2)``) → norm →
    activation → max-pool. A sequence of length L leaves it with :meth:`steps_after` steps."""

    channels: int = Field(gt=0, le=MAX_WIDTH)
    kernel_size: int = Field(3, gt=0, le=MAX_WINDOW)
    stride: int = Field(1, gt=0, le=MAX_WINDOW)
    dilation: int = Field(1, gt=0, le=MAX_WINDOW)
    """Steps between the kernel's taps (torch's Conv1d ``dilation``, Keras' ``dilation_rate``):
    a kernel of k taps spans ``dilation * (k - 1) + 1`` steps."""
    pool: int = Field(1, gt=0, le=MAX_WINDOW)
    """Max-pool over windows of this many steps (1: no pooling); a partial last window counts."""
    norm: Literal["batch", "layer", "none"] = "none"
    """"batch": batch norm over the valid steps of the batch; "layer": over channels, per step."""
    activation: Activation = "relu"

    @property
    def span(self) -> int:
        """Steps one output of the convolution reads."""
        return self.dilation * (self.kernel_size - 1) + 1

    @property
    def padding(self) -> int:
        """Zeros on each side of the input (centred: odd kernels keep the length at stride 1)."""
        return self.dilation * (self.kernel_size // 2)

    def conv_steps(self, lengths: Any) -> Any:
        """Valid steps after the convolution of sequences of ``lengths`` (an int, an array or a
        tensor; at least 1)."""
        steps = (lengths + 2 * self.padding - self.span) // self.stride + 1
        return max(steps, 1) if isinstance(steps, int) else steps.clip(1)

    def steps_after(self, lengths: Any) -> Any:
        """Valid steps after the whole block: the convolution's, then ``ceil(/ pool)``.

        >>> ConvBlockConfig(channels=4, kernel_size=3, dilation=4, pool=2).steps_after(100)
        50
        """
        return (self.conv_steps(lengths) + self.pool - 1) // self.pool


_SINGLE_BLOCK = ("channels", "kernel_size", "stride", "activation")


class FrontendConfig(_Section):
    """Conv blocks in front of the recurrent layer: ``blocks`` (a list, ``[[model.frontend.blocks]]``),
    or one strided Conv1d given by the single-block keys (``channels``, ``kernel_size``,
    ``stride``, ``activation``; defaults 32, 5, 2, "relu"), which shortens a sequence by ``stride``.

    >>> [b.channels for b in FrontendConfig(blocks=[{"channels": 8}, {"channels": 16}]).conv_blocks]
    [8, 16]
    >>> FrontendConfig(stride=3).conv_blocks[0].stride
    3
    """

    blocks: list[ConvBlockConfig] = []
    channels: int | None = Field(None, gt=0, le=MAX_WIDTH)
    kernel_size: int | None = Field(None, gt=0, le=MAX_WINDOW)
    stride: int | None = Field(None, gt=0, le=MAX_WINDOW)
    activation: Activation | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_empty_blocks(cls, data: Any) -> Any:
        # An empty list alone would read as "no conv", yet builds the single-block default.
        if isinstance(data, dict) and data.get("blocks") == [] and all(data.get(k) is None for k in _SINGLE_BLOCK):
            raise ValueError(
                "'model.frontend.blocks': expected at least one conv block ([[model.frontend.blocks]]), got an empty "
                "list; for no front-end remove [model.frontend], for one strided conv give its keys "
                "(channels, kernel_size, stride, activation)"
            )
        return data

    @model_validator(mode="after")
    def _one_form(self) -> FrontendConfig:
        single = [k for k in _SINGLE_BLOCK if getattr(self, k) is not None]
        if self.blocks and single:
            raise ValueError(
                "'model.frontend': expected either 'blocks' (a list of conv blocks) or the single-block "
                f"keys (channels, kernel_size, stride, activation), got both: blocks and {', '.join(single)}"
            )
        if not self.blocks:  # the single block's keys, explicit: a run's config.toml says what it built
            block = self.conv_blocks[0]
            for k in _SINGLE_BLOCK:
                object.__setattr__(self, k, getattr(block, k))
        return self

    @property
    def conv_blocks(self) -> list[ConvBlockConfig]:
        """The blocks, the single-block form being one block without norm or pooling."""
        if self.blocks:
            return list(self.blocks)
        return [ConvBlockConfig(channels=self.channels or 32, kernel_size=self.kernel_size or 5,
                                stride=self.stride or 2, activation=self.activation or "relu")]


class HeadConfig(_Section):
    """How the sequence is summarised and classified."""

    pooling: Literal["last", "mean", "max", "mean_max"] = "last"
    """"last": final state (both directions); "mean"/"max": over valid time steps; "mean_max":
    both, joined."""
    frontend_pooling: Literal["none", "mean", "max", "mean_max"] = "none"
    """"mean": also average the front-end's features over valid steps and join them to the
    recurrent summary (the LSTM-FCN head, Karim et al. 2017); "max": their maximum over valid
    steps instead (a feature found anywhere in the series counts the same: what the shape rule
    picks for classes of few series, :mod:`rnnlab.train.shape_rules`); needs ``[model.frontend]``."""
    input_pooling: Literal["none", "mean"] = "none"
    """"mean": also join the model's input averaged over valid steps: with ``data.normalize =
    "per_series"`` (whose channels then average to 0) that is each series' level and scale of
    ``data.series_scale``, straight to the head rather than through the front-end's convolutions,
    batch norm and pooling (what the shape rule picks for classes of few series,
    :mod:`rnnlab.train.shape_rules`)."""
    frontend_ends: bool = False
    """Also join the front-end's features at each series' first and last valid step: where a
    pattern sits against the series' start and end (a phase), which a summary over time drops;
    needs ``[model.frontend]``."""
    hidden: int = Field(0, ge=0, le=MAX_WIDTH)
    """Width of a hidden ReLU layer before the output layer (0: a single linear layer)."""
    dropout: Probability = 0.0
    zero_init: bool = False
    """The output layer starts at zero (weights and bias): every output 0 before training. A
    forecaster's outputs are corrections to its reference forecast (``task.relative_to``), so it
    starts as that forecast and moves away only as far as the training data pull it."""


#: The TOML form of the layer keywords whose Python value is an object (an activation or an
#: initializer is named, a constraint is a table) or a tuple (zoneout per state is a list); every
#: other keyword is written as :class:`~rnnlab.layers.options.LayerOptions` types it.
_TOML_FORMS: dict[str, Any] = {
    "zoneout": float | typing.Annotated[tuple[StrictFloat, ...], Field(strict=False)],
    "activation": str | None,
    "recurrent_activation": str | None,
    "kernel_init": str | None,
    "recurrent_init": str | None,
    "kernel_constraint": ConstraintConfig | None,
    "recurrent_constraint": ConstraintConfig | None,
    "bias_constraint": ConstraintConfig | None,
    # Upper bounds only: the layer's own checks give the lower ones (and the messages the API gives);
    # num_layers' upper bound is MAX_NUM_LAYERS, checked with the model's other keys.
    "batch_norm_steps": typing.Annotated[int, Field(le=MAX_WIDTH)],
}
#: Keywords of the layer that the trainer sets, not the config.
_SET_BY_TRAINER = ("batch_first", "implementation")


def _layer_fields() -> dict[str, Any]:
    """``{keyword: (TOML type, default)}`` for every keyword of the layers the config exposes,
    in :class:`~rnnlab.layers.options.LayerOptions`' order and with its defaults."""
    from rnnlab.layers.options import LayerOptions

    hints = typing.get_type_hints(LayerOptions)
    return {f.name: (_TOML_FORMS.get(f.name, hints[f.name]), f.default)
            for f in dataclasses.fields(LayerOptions) if f.name not in _SET_BY_TRAINER}


_LAYER_FIELDS = _layer_fields()
#: The ``[model]`` keys that are keywords of the recurrent layer.
LAYER_KEYS: tuple[str, ...] = tuple(_LAYER_FIELDS)


class _LayerChoice(_Section):
    """The first keys of ``[model]``: which layer, how wide."""

    layer: Literal["lstm", "gru", "rnn", "indrnn"] = "lstm"
    hidden_size: int = Field(64, gt=0, le=MAX_WIDTH)


#: ``[model]``'s layer keywords: the fields of LayerOptions, each with its default; their
#: values are checked by LayerOptions' own checks (ModelConfig's validator).
_LayerKeywords = create_model("_LayerKeywords", __base__=_LayerChoice, **_LAYER_FIELDS)


def layer_class(kind: str) -> Any:
    """The rnnlab layer class of ``[model] layer = kind``.

    >>> layer_class("indrnn").__name__
    'IndRNN'
    """
    from rnnlab.layers import GRU, LSTM, RNN, IndRNN

    return {cls.kind: cls for cls in (LSTM, GRU, RNN, IndRNN)}[kind]


#: the most members ``model.ensemble`` takes (each is one more model to train on every step)
MAX_ENSEMBLE = 16

#: the deepest recurrent stack a config takes (the layers run one after the other, step by step)
MAX_NUM_LAYERS = 32


class ModelConfig(_LayerKeywords):
    """The classifier: optional Conv1d front-end, an rnnlab recurrent layer, a head.

    Besides ``layer`` and ``hidden_size``, the keys of the layer are the keywords of
    :class:`rnnlab.LSTM` (:data:`LAYER_KEYS`, see :class:`~rnnlab.layers.options.LayerOptions`
    for their defaults): one definition, checked by the layer's own checks, so an error names
    the key as ``'model.KEY'``.

    >>> ModelConfig(recurrent_dropout=0.25).layer_options().recurrent_dropout
    0.25
    >>> parse_config('[data]\\ndataset = "GunPoint"\\n[model]\\nresidual = "uper"')
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: config: 'model.residual': expected one of ['all', 'upper'], got 'uper'; did you mean 'upper'?
    """

    nonlinearity: Literal["tanh", "relu"] | None = None
    """rnn only: torch's ``nonlinearity`` (unset: tanh); other layers take ``activation``."""
    frontend: FrontendConfig | None = None
    head: HeadConfig = HeadConfig()
    embedding_size: int | None = Field(None, gt=0, le=MAX_WIDTH)
    """Language models only (``[task] kind = "language_model"``, where unset means
    ``hidden_size``): the width of the token embedding the recurrent layer reads."""
    tie_weights: bool = False
    """Language models: the decoder (the head's output layer) shares the embedding's weight
    matrix (Press & Wolf 2017); needs ``embedding_size`` equal to ``hidden_size`` and no
    ``head.hidden``."""
    ensemble: int = Field(1, ge=1, le=MAX_ENSEMBLE)
    """Members of a deep ensemble: that many models of this config, each from its own initial
    weights and trained on its own loss over the same batches, predicting together (the mean
    of their values, or of their class probabilities); ``training.steps`` counts the ensemble's
    steps, each training every member (:class:`rnnlab.train.model.Ensemble`). 1: one model."""
    input_noise: NoiseStd = 0.0
    """Gaussian noise of this standard deviation added to the model's input (the normalised
    series, every channel, valid steps only) at each training forward, none at evaluation (Keras'
    ``GaussianNoise``; Bishop 1995: a Tikhonov regularizer): a model can no longer fit the noise
    of each training series. Not for language models (their input is token ids)."""
    embedding_dropout: Probability = 0.0
    """Language models: drop whole tokens of the vocabulary (rows of the embedding matrix,
    zeroed and the others rescaled) for each training forward (AWD-LSTM's ``embedded_dropout``)."""

    def layer_options(self) -> LayerOptions:
        """The layer keywords as the layer takes them (batch first, constraints built); an
        ``rnn``'s ``nonlinearity`` is the layer's own argument."""
        from rnnlab.layers.options import LayerOptions

        values = {key: getattr(self, key) for key in LAYER_KEYS}
        for key in ("kernel_constraint", "recurrent_constraint", "bias_constraint"):
            values[key] = values[key].build() if values[key] is not None else None
        return LayerOptions(batch_first=True, **values)

    @model_validator(mode="after")
    def _layer_specific(self) -> ModelConfig:
        from rnnlab.layers.options import resolve

        if self.nonlinearity is not None and self.layer != "rnn":
            raise ValueError(
                f"'model.nonlinearity' applies to layer 'rnn' only, got layer {self.layer!r}; "
                "use 'model.activation' for the others"
            )
        # A layer takes zoneout 1 (its units keep their initial state); a training run refuses it.
        zoneout = self.zoneout if isinstance(self.zoneout, tuple) else (self.zoneout,)
        if any(p >= 1.0 for p in zoneout):
            frozen = " (1 keeps every unit at its initial state: the layer would never update)" if 1.0 in zoneout else ""
            raise ValueError(f"'model.zoneout': expected a probability in [0, 1), got {self.zoneout!r}{frozen}")
        # (its range first: dropout 1.5 is no probability whatever num_layers is; the layer checks
        # it again when it is built, after the one-layer check below)
        from rnnlab._checks import check_probability

        check_probability("'model.dropout'", self.dropout)
        # (before the layer's own check, which only warns of it: a config refuses it, once)
        if self.dropout > 0 and self.num_layers == 1:
            raise ValueError(
                f"'model.dropout' ({self.dropout}) is dropout between stacked layers and does nothing with "
                "model.num_layers = 1; set model.input_dropout, model.recurrent_dropout or model.head.dropout instead"
            )
        try:  # (the input size is known once the data are: the layer checks the rest then)
            resolve(self.layer_options(), layer_class(self.layer).spec, None, self.hidden_size)
        except ArgumentError as e:
            raise ValueError(e.spelled(lambda key: f"'model.{key}'")) from None
        if self.num_layers > MAX_NUM_LAYERS:
            raise ValueError(
                f"'model.num_layers': expected an integer in [1, {MAX_NUM_LAYERS}], got {self.num_layers} (each "
                "layer is one more recurrence run step by step: a stack that deep would not finish training)"
            )
        if self.head.frontend_pooling != "none" and self.frontend is None:
            raise ValueError(
                f"'model.head.frontend_pooling' = {self.head.frontend_pooling!r} pools the front-end's "
                "features, but there is no [model.frontend]; add one or set it to \"none\""
            )
        if self.head.frontend_ends and self.frontend is None:
            raise ValueError("'model.head.frontend_ends' = true reads the front-end's features, but there is no "
                             "[model.frontend]; add one or set it to false")
        self._warn_dropout_lifts_the_bound()
        return self

    def _warn_dropout_lifts_the_bound(self) -> None:
        """Warn of an IndRNN whose recurrent bound ``|u| <= b`` inverted dropout lifts in training
        (effective bound ``b / (1-p)``), in the config's keys: the layer's own rule and wording
        (:func:`rnnlab.layers.options.bound_lifted_by_dropout`), which the layer says when built."""
        from rnnlab.layers.options import BoundLiftedWarning, bound_lifted_by_dropout

        lifted = bound_lifted_by_dropout(self.layer_options(), self.layer, table="model")
        if lifted is not None:
            import warnings

            warnings.warn(lifted, BoundLiftedWarning, stacklevel=2)


class DecayRule(_Section):
    """One rule of :func:`rnnlab.param_groups`: which parameters, and their decay / lr multiplier.

    The first rule that selects a parameter wins; biases and norm parameters are selected only by
    a rule whose ``role`` names them, and are otherwise never decayed.
    """

    role: Role | list[Role] | None = None
    name: str | None = None
    """A regular expression searched in the parameter name, e.g. "^head\\." or "weight_hh"."""
    weight_decay: float | None = Field(None, ge=0.0, le=MAX_DECAY)
    """Unset: the training.weight_decay default."""
    l1: float = Field(0.0, ge=0.0, le=MAX_DECAY)
    """Decoupled L1 decay (honoured by adamw/nadamw/sgdw)."""
    lr_mult: float = Field(1.0, gt=0.0, le=1000.0)
    label: str | None = None

    @model_validator(mode="after")
    def _selects(self) -> DecayRule:
        if self.role is None and self.name is None:
            raise ValueError("a decay rule needs 'role' and/or 'name' (which parameters it selects)")
        return self


class ScheduleConfig(_Section):
    """Learning-rate schedule, evaluated per optimizer step: a linear warm-up, then ``kind``.

    The clock is the optimizer step; keys in epochs are converted with the run's steps per epoch.
    "cosine" decays over all the steps after the warm-up, whether the budget is given in
    ``training.epochs`` or ``training.steps``.
    """

    kind: Literal["constant", "cosine", "cosine_restarts", "step"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0.0, le=MAX_COUNT)
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS)
    """The warm-up in optimizer steps instead (give one of warmup_epochs / warmup_steps)."""
    min_lr: float = Field(0.0, ge=0.0, le=MAX_LR)
    restart_epochs: float = Field(10.0, gt=0.0, le=MAX_COUNT)
    """cosine_restarts: length of the first cycle (SGDR's T_0), in epochs."""
    restart_mult: float = Field(1.0, ge=1.0, le=10.0)
    """cosine_restarts: each cycle is this many times longer than the last (SGDR's T_mult)."""
    step_epochs: int = Field(10, gt=0, le=MAX_COUNT)
    """step: multiply the rate by ``gamma`` every this many epochs."""
    gamma: float = Field(0.1, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_warmup(self) -> ScheduleConfig:
        if self.warmup_epochs and self.warmup_steps:
            raise ValueError(
                "'training.schedule': expected one of 'warmup_epochs' or 'warmup_steps', got both "
                f"(warmup_epochs={self.warmup_epochs!r}, warmup_steps={self.warmup_steps!r})"
            )
        return self


class EarlyStoppingConfig(_Section):
    """Stop when the monitored validation metric has not improved for ``patience`` evaluations.

    The validation split is evaluated once per epoch, so patience counts epochs, whether the
    budget is given in ``training.epochs`` or ``training.steps``.
    """

    patience: int = Field(0, ge=0, le=MAX_COUNT)
    """Epochs (validation evaluations) without improvement before stopping (0: never stop early)."""
    monitor: str = "val_loss"
    """The validation metric watched: any of the task's (``val_loss``, ``val_acc`` for
    classification), each in its own direction (checked against ``[task]``)."""
    min_delta: float = Field(0.0, ge=0.0, le=1000.0)
    """How much the monitored metric must beat its best so far by, in the metric's units, for an
    epoch to count as an improvement (0: any gain counts). Under 1 for ``val_acc`` and ``val_r2``,
    which no epoch can improve by 1 or more (:attr:`rnnlab.task.Metric.span`)."""

    @model_validator(mode="after")
    def _passable_min_delta(self) -> EarlyStoppingConfig:
        from rnnlab.task import metric_span

        span = metric_span(self.monitor)
        if span is not None and self.min_delta >= span:
            # (a gain no epoch can make: every run would keep its first epoch and look as if it learned nothing)
            raise ValueError(f"'training.early_stopping.min_delta': expected less than {span:g} for monitor "
                             f"{self.monitor!r} (the widest gain it can show between epochs), got {self.min_delta:g}")
        return self


@dataclasses.dataclass(frozen=True)
class ReadWhen:
    """A key that only another setting makes read (``training.momentum``: an SGD optimizer's):
    set away from its default where that setting is off, it does nothing. Training says so in a
    warning; a search space that varies it without varying what turns it on is refused
    (:func:`rnnlab.search.space.space_from_config`)."""

    key: str
    """The key path (its section's field)."""
    by: tuple[str, ...]
    """The key paths that turn it on, as a search space may name them."""
    on: Callable[[Any], bool]
    """Whether its section's config (of ``key``'s section) reads it."""
    who: str
    """What reads it, in words."""
    fix: str
    """The setting that turns it on, as a config writes it."""

    def reads(self, section: Any) -> bool:
        return bool(self.on(section))

    def unread(self, section: Any) -> str:
        """The warning: the key, what reads it, and the fix (no value: the same line for every trial)."""
        field = self.by[0].rsplit(".", 1)[-1]
        return (f"'{self.key}' is read by {self.who} only, not with {self.by[0]} = {getattr(section, field)!r}: it "
                f"does nothing; remove the key, or {self.fix}")


#: Every :class:`ReadWhen` key.
READ_WHEN: tuple[ReadWhen, ...] = (
    ReadWhen("training.momentum", ("training.optimizer",), lambda t: t.optimizer in ("sgd", "sgdw"),
             "the sgd and sgdw optimizers", 'set training.optimizer = "sgd"'),
    ReadWhen("training.betas", ("training.optimizer",), lambda t: t.optimizer in ("adam", "adamw", "nadamw"),
             "the adam, adamw and nadamw optimizers", 'set training.optimizer = "adamw"'),
    # (the layer warns of these itself: rnnlab.layers.options._TUNES)
    ReadWhen("model.batch_norm_steps", ("model.recurrent_batch_norm", "model.normalization"),
             lambda m: m.recurrent_batch_norm, "recurrent batch norm", "set model.recurrent_batch_norm = true"),
    ReadWhen("model.input_dropout_mode", ("model.input_dropout",), lambda m: m.input_dropout > 0, "input dropout",
             "set model.input_dropout above 0"),
)


def _away_from_default(section: Any, key: str) -> bool:
    """Whether the field ``key`` of ``section`` holds another value than its default."""
    value, default = getattr(section, key), type(section).model_fields[key].default
    return (tuple(value) if isinstance(value, (list, tuple)) else value) != \
        (tuple(default) if isinstance(default, (list, tuple)) else default)


class TrainingConfig(_Section):
    """The optimization of a run. Its budget is ``epochs`` or ``steps`` (not both; neither: 20
    epochs). ``steps`` counts optimizer steps and is rounded up to whole epochs, so that a small
    training set gets as many updates as a large one: ``epochs = ceil(steps / steps_per_epoch)``
    with ``steps_per_epoch = ceil(training sequences / batch_size)`` (times the windows per
    sequence with ``stateful_window``).

    >>> TrainingConfig(steps=1000).epochs_for(steps_per_epoch=7)
    143
    >>> TrainingConfig().epochs_for(steps_per_epoch=7)
    20
    """

    epochs: int | None = Field(None, gt=0, le=MAX_COUNT)
    """Training budget in passes over the training split (unset, and no ``steps``: 20)."""
    steps: int | None = Field(None, gt=0, le=MAX_STEPS)
    """Training budget in optimizer steps, rounded up to whole epochs (instead of ``epochs``)."""
    batch_size: int = Field(32, gt=0, le=2**20)
    optimizer: Literal["adamw", "nadamw", "sgdw", "adam", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0.0, le=MAX_LR)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    """sgd/sgdw momentum."""
    betas: UnitPair = (0.9, 0.999)
    """Adam's (beta1, beta2), each in [0, 1)."""
    weight_decay: float = Field(0.0, ge=0.0, le=MAX_DECAY)
    """Decay of the parameters no rule covers (biases and norms are excluded by default)."""
    decay_rules: list[DecayRule] = []
    clip_norm: float | None = Field(None, gt=0.0, le=1e6)
    """Clip the global gradient norm to this value (the pre-clip norm is recorded either way)."""
    on_nonfinite: Literal["error", "skip"] = "error"
    """NaN/inf gradients: stop with an error naming the parameters, or skip that update."""
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    ar: float = Field(0.0, ge=0.0, le=1000.0)
    """Activation regularization: ``ar`` times the mean of the recurrent layer's squared outputs,
    added to the training loss (Merity et al. 2017; AWD-LSTM's language models use 2)."""
    tar: float = Field(0.0, ge=0.0, le=1000.0)
    """Temporal activation regularization: ``tar`` times the mean squared change of the recurrent
    layer's outputs from one step to the next, added to the training loss (AWD-LSTM uses 1)."""
    schedule: ScheduleConfig = ScheduleConfig()
    seed: int = Field(0, ge=0, lt=2**32)
    """Seeds torch, numpy and python ``random`` (numpy's range: 0 <= seed < 2**32)."""
    threads: int | None = Field(None, gt=0, le=1024)
    """torch intra-op threads (unset: the CPUs the process may use, split among a search's or
    recipe's workers, at most what the environment gave torch (``OMP_NUM_THREADS``,
    ``MKL_NUM_THREADS`` or a caller's ``torch.set_num_threads``), and 1 or N as measured on the
    first steps: :mod:`rnnlab.threads`; set, it overrides the environment; the choice and its
    reason are in ``timing.json``)."""
    device: str = "auto"
    """Where the run computes: "auto" (the GPU when torch sees one, else the CPU), "cpu", "cuda" or
    "cuda:N" (``--device`` overrides it; :mod:`rnnlab.device`, docs/devices.md)."""
    precision: Literal["32", "bf16"] = "32"
    """"32": float32 throughout; "bf16": bfloat16 autocast of the forward pass on the run's
    device (the recurrent layers keep float32 where the math needs it: docs/devices.md)."""
    shuffle: Literal["samples", "batches", "none"] = "samples"
    """"samples": new permutation every epoch; "batches": fixed batches, their order shuffled."""
    shuffle_within_batch: bool = False
    """With shuffle "batches"/"none": also permute the samples inside each batch."""
    stateful_window: int = Field(0, ge=0, le=MAX_STEPS)
    """> 0: truncated BPTT *within a batch*: cut each batch into consecutive windows of this many
    input steps (before ``[model.frontend]``, whose strides and pooling shorten each window: one
    that leaves the recurrent layer fewer than 6 steps, or is shorter than what one recurrent step
    reads of the input, is refused with the smallest window that works), carry the (detached)
    state from one window to the next and take one optimizer step per window, each window's loss
    against the sequence's label; the next batch starts from a zero state. Evaluation runs whole
    sequences. (A state carried *across* batches, through a whole epoch, is a stream's:
    ``[task] kind = "forecasting"`` with ``data.bptt``, docs/streams.md.)"""
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint_every: float = Field(60.0, ge=0.0, le=7 * 86400.0)
    """Seconds of a run between checkpoints (``checkpoints/last.pt``; 0: after every epoch).
    A sequence task checkpoints between epochs only, the first epoch's end once at least this
    long after the last checkpoint, so a kill loses less than ``checkpoint_every`` plus one
    epoch (one epoch, when an epoch is longer than ``checkpoint_every``); a stream
    (docs/streams.md) also checkpoints within an epoch, after a window.
    A run also checkpoints after its first epoch, after its last, and on SIGINT/SIGTERM; a run
    killed harder repeats, exactly, what it trained since its last checkpoint when resumed."""

    @field_validator("device")
    @classmethod
    def _device_form(cls, value: str) -> str:
        from rnnlab.device import check_device

        return check_device(value, "'training.device'")  # (a ConfigError is a ValueError: pydantic reports it)

    @model_validator(mode="after")
    def _one_budget(self) -> TrainingConfig:
        if self.epochs is not None and self.steps is not None:
            raise ValueError(
                "'training': expected one budget, 'epochs' or 'steps', got both "
                f"(epochs={self.epochs}, steps={self.steps})"
            )
        return self

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Epochs the run trains, given its optimizer steps per epoch."""
        if self.steps is not None:
            return max(1, math.ceil(self.steps / steps_per_epoch))
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS

    @model_validator(mode="after")
    def _read_by_the_optimizer(self) -> TrainingConfig:
        # (momentum is SGD's, betas Adam's: set for the other optimizer, it does nothing; a search
        # over it alone would score one config many times: rnnlab.search.space refuses that)
        for read in READ_WHEN:
            section, key = read.key.split(".")
            if section == "training" and not read.reads(self) and _away_from_default(self, key):
                import warnings

                warnings.warn(read.unread(self), UserWarning, stacklevel=2)
        return self

    @model_validator(mode="after")
    def _stateful(self) -> TrainingConfig:
        if self.stateful_window and self.shuffle_within_batch:
            raise ValueError(
                "'training.shuffle_within_batch' cannot be combined with 'training.stateful_window' "
                "(a sample's position in the batch is its state slot)"
            )
        return self

    @model_validator(mode="after")
    def _schedule_fits(self) -> TrainingConfig:
        s = self.schedule
        if s.kind != "constant" and s.min_lr > self.lr:
            raise ValueError(
                f"'training.schedule.min_lr' ({s.min_lr:g}) is above 'training.lr' ({self.lr:g}): the "
                f"{s.kind} schedule would raise the learning rate {s.min_lr / self.lr:.3g}-fold; expected min_lr <= lr"
            )
        if self.steps is None:
            epochs = self.epochs if self.epochs is not None else DEFAULT_EPOCHS
            if s.warmup_epochs >= epochs:
                raise ValueError(
                    f"'training.schedule.warmup_epochs' ({s.warmup_epochs:g}) is not shorter than 'training.epochs' "
                    f"({epochs}): the learning rate would still be rising when training ends; expected "
                    "warmup_epochs < epochs"
                )
        return self

    def warmup_problem(self) -> str | None:
        """Why the warm-up in steps is not shorter than ``steps`` (None when it is, or the budget is
        in epochs). :class:`Config` asks, unless ``adapt.shape`` may raise the steps first (the
        trainer then checks the steps it trains).

        >>> TrainingConfig(steps=40, schedule={"warmup_steps": 50}).warmup_problem()[:52]
        "'training.schedule.warmup_steps' (50) is not shorter"
        """
        warm = self.schedule.warmup_steps
        if self.steps is None or warm < self.steps:
            return None
        return (f"'training.schedule.warmup_steps' ({warm}) is not shorter than 'training.steps' ({self.steps}): the "
                "learning rate would still be rising when training ends; expected warmup_steps < steps")


class TrackingConfig(_Section):
    """What :class:`rnnlab.Tracker` records into tracked.jsonl, and how often."""

    enabled: bool = True
    weights_every: int = Field(10, ge=0, le=MAX_STEPS)
    """Per-channel weight norms every this many optimizer steps (0: never)."""
    grads_every: int = Field(10, ge=0, le=MAX_STEPS)
    """Gradient norms and the update ratio every this many optimizer steps (0: never)."""
    params: list[str] | None = Field(None, min_length=1)
    """Parameter names or patterns to track, e.g. ["rnn.*"]; unset: every parameter."""
    norms: list[Literal["l1", "l2", "linf"]] = ["l2"]
    per_channel: bool = True
    health: bool = True
    """Run the health checks on the untrained model before training (health.json)."""
    grad_through_time: bool = True
    """After training, |dLoss/dh_t| of one training batch for the report (grad_through_time.json),
    and each LSTM/GRU layer's gate activations on the same batch, before and after training
    (gate_activations.json, the report's Gates section)."""
    inspect_steps: int = Field(4096, ge=1, le=1_000_000)
    """The health checks and the gradient through time run the model step by step under autograd,
    keeping every step: on the first this many steps of each series (their time and memory grow with
    it). A language model's default is 400 (``LM_INSPECT_STEPS``: its outputs at every step span the
    vocabulary)."""


class OutputConfig(_Section):
    dir: str = Field("runs/run", min_length=1, pattern=r"\S")
    """The run directory (``--out`` overrides it); relative paths are taken from the working dir.
    ``~`` is the home folder, as in a shell; a ``$NAME`` is refused (:func:`as_shell_path`)."""

    @field_validator("dir")
    @classmethod
    def _as_a_shell_reads_it(cls, value: str) -> str:
        if _CONTROL_CHARACTER.search(value):
            raise ValueError(f"'output.dir': expected a path without control characters ({_CONTROL_WHY}), "
                             f"got {value!r}")
        # (a trailing separator would put "<dir>-search" and "<dir>-recipe" inside the run directory)
        return as_shell_path(value, "output.dir").rstrip(os.sep + (os.altsep or "")) or os.sep


#: A shell variable in a path (``$HOME``, ``${DATA}``): rnnlab reads paths as written, no shell between.
_SHELL_VARIABLE = re.compile(r"\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
#: A control character (C0, DEL, C1) in a run directory's path or name: a line break in it splits
#: the one-line messages that name the run and the ``# train it with:`` comment of best.toml and
#: final.toml (a TOML comment ends at the line break: the rest no longer parses).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_WHY = "a line break, a tab: the run directory is named in one-line messages and in commands rnnlab writes"


def as_shell_path(value: str, key: str) -> str:
    """``value``, a path the config key ``key`` holds, with ``~`` expanded as a shell would (the
    home folder: never a folder named ``~``); a ``$NAME`` is refused, one line naming ``key``,
    since no shell expands it and a folder named ``$HOME`` is not what it reads as, unless the
    path exists as written (a folder whose name holds a ``$``, as a run's config.toml records
    it, is read as it is).

    >>> as_shell_path("~/runs/x", "output.dir") == os.path.expanduser("~") + "/runs/x"
    True
    >>> as_shell_path("$HOME/d.npz", "data.path")
    Traceback (most recent call last):
    ...
    ValueError: 'data.path': expected a path without shell variables (rnnlab expands ~ but not $HOME), got '$HOME/d.npz'; write the path itself
    """
    found = _SHELL_VARIABLE.search(value)
    if found and not os.path.exists(os.path.expanduser(value)):
        raise ValueError(f"'{key}': expected a path without shell variables (rnnlab expands ~ but not "
                         f"{found.group(0)}), got {value!r}; write the path itself")
    return os.path.expanduser(value)


class ParamSpec(_Section):
    """One dimension of the search space: a range (``low``, ``high``, ``log``) or ``choices``.

    Whether a range is of integers or of floats follows the key's type in the config
    (``model.hidden_size`` is an integer range, ``model.recurrent_dropout`` a float range).
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    """Sample the range on a log scale (both bounds must be > 0)."""
    step: float | None = Field(None, gt=0.0)
    """Optional grid step of the range (an integer range steps by 1 unless set)."""
    choices: list[Any] | None = None
    """A list of values (numbers, strings, booleans or tables); the string "none" unsets an
    optional key (e.g. a constraint)."""

    def problem(self) -> str | None:
        """What is wrong with this spec on its own (None: fine); the space checks the rest."""
        has_range = self.low is not None or self.high is not None
        if self.choices is not None and has_range:
            return "give either 'low'/'high' (a range) or 'choices', got both"
        if self.choices is None and (self.low is None or self.high is None):
            return f"expected 'low' and 'high' (a range) or 'choices' (a list), got low={self.low!r}, high={self.high!r}"
        if self.choices is not None and not self.choices:
            return "'choices': expected at least one value, got an empty list"
        if self.step is not None and self.low is not None and self.high is not None and self.step > self.high - self.low:
            return f"'step' ({self.step:g}) is wider than the range {self.low:g} .. {self.high:g}; expected a smaller step"
        return None


class SearchConfig(_Section):
    """``rnnlab search``: the space, the budget and how trials are scored (docs/search.md)."""

    trials: int = Field(20, gt=0, le=MAX_COUNT)
    """Finished (complete or pruned) trials the study aims for (``--trials`` overrides it)."""
    metric: str | None = None
    """The validation score of a trial: its value at the last epoch, averaged over the folds.
    Any of the task's validation metrics; unset: the task's score (``val_acc`` for classification)."""
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    seed: int = Field(0, ge=0, lt=2**32)
    """Seeds the sampler and the fold assignment: one worker with the same seed repeats the
    same sequence of trials."""
    folds: int = Field(0, ge=0, le=1000)
    """Stratified folds of the training split (0: automatic, 5 below 100 series, 3 below 1000,
    else one hold-out; 1: one hold-out of ``data.val_fraction``)."""
    startup_trials: int = Field(5, ge=0, le=MAX_COUNT)
    """Trials sampled at random before TPE models the results (and before the pruner prunes)."""
    baseline: bool = True
    """The first trial of a new study is the config itself (when the space can express it), so
    the search never ends below the config it started from."""
    keep_checkpoints: int = Field(3, ge=0, le=MAX_COUNT)
    """Trials (the best by score) whose checkpoints are kept; the others keep only records."""
    reports: Literal["best", "all", "none"] = "best"
    """Run reports of the trials (``fold-1/report.html``): "best" draws the best trial's when the
    search ends (any other on demand: ``rnnlab report DIR/trials/NNNN/fold-1``), "all" every
    trial's as it finishes, "none" no trial's (``--reports`` overrides it)."""
    heartbeat: int = Field(10, gt=0, le=3600)
    """With a database (--storage): seconds between a worker's heartbeats; a trial without one
    for twice as long (a killed worker) is failed and retried once with the same parameters."""
    space: dict[str, ParamSpec] = {}
    """Key path -> range or choices; empty: the default regularization space."""

    @model_validator(mode="after")
    def _specs(self) -> SearchConfig:
        for key, spec in self.space.items():
            problem = spec.problem()
            if problem is not None:
                raise ValueError(f"'search.space.\"{key}\"': {problem}")
        return self


def _language_model_problem(config: Config) -> str | None:
    """What a language model cannot be built or trained with, in one line (or None)."""
    m = config.model
    if m.bidirectional:
        return ("'model.bidirectional' = true: a language model predicts each token from the ones before it; the "
                "reverse direction would read the token it predicts; remove the key")
    if m.frontend is not None:
        return "'model.frontend': a language model reads token embeddings, not values; remove [model.frontend]"
    if m.input_noise:
        return (f"'model.input_noise' = {m.input_noise:g} adds noise to values; a language model's input is token "
                "ids: use 'model.embedding_dropout' or 'model.input_dropout'; remove the key")
    if m.tie_weights and (m.head.hidden or m.embedding_size != m.hidden_size):
        if m.head.hidden:
            return (f"'model.tie_weights' = true: the decoder reads the recurrent layer's output of {m.hidden_size} "
                    f"units, 'model.head.hidden' = {m.head.hidden} puts another layer between; remove it")
        return (f"'model.tie_weights' = true shares the embedding with the decoder: expected 'model.embedding_size' "
                f"equal to model.hidden_size ({m.hidden_size}), got {m.embedding_size}")
    if m.tie_weights and m.head.zero_init:
        return ("'model.head.zero_init' = true would zero the embedding that 'model.tie_weights' shares with the "
                "decoder; remove one of them")
    return None


class TaskConfig(_Section):
    """What the run learns (:mod:`rnnlab.task`); an absent ``[task]`` is classification."""

    kind: Literal["classification", "regression", "forecasting", "language_model"] = "classification"
    """``"classification"``: a class label per sequence, scored by accuracy; ``"regression"``:
    K >= 1 values per sequence, scored by RMSE in the data's units; ``"forecasting"``: the next
    ``horizon`` values at every step of long series (docs/streams.md), scored by MASE;
    ``"language_model"``: the next token at every step of a text (docs/language_models.md),
    scored by bits per token."""
    per_step: bool = False
    """A target at every step instead of one per sequence."""
    horizon: int = Field(1, gt=0, le=MAX_WINDOW)
    """Forecasting: how many steps ahead each step predicts."""
    season: int = Field(1, gt=0, le=MAX_WINDOW)
    """Forecasting: the season length (12 for monthly data with a yearly cycle; 1: none) of the
    seasonal-naive forecast and of MASE's scale."""
    relative_to: Literal["none", "naive", "seasonal_naive", "auto"] = "none"
    """Forecasting: the model's output is added to this simple forecast (its targets are the
    corrections to it): a model that outputs zeros is that forecast; "none": the values
    themselves; "auto": seasonal naive where the series' changes repeat at the season, else
    whichever of naive and seasonal naive errs less before the test block
    (:func:`rnnlab.data.stream.choose_reference`)."""
    mean_guard: bool = False
    """Regression per sequence: after training, predict the training mean unless the model beats
    it on the validation part by more than the noise of its rows (:mod:`rnnlab.train.mean_guard`;
    the run says which, in its lines and ``summary.json``). Forecasting: the same with the
    reference forecast (``relative_to``) and the validation block's origins."""

    @model_validator(mode="after")
    def _forecasting_keys(self) -> TaskConfig:
        if self.mean_guard and (self.kind not in ("regression", "forecasting") or self.per_step):
            raise ValueError("'task.mean_guard' = true compares a value per sequence with the training mean (a forecast "
                             "with its reference forecast): it applies to [task] kind = \"regression\" without per_step "
                             f"or \"forecasting\", got kind = {self.kind!r}"
                             f"{', per_step = true' if self.per_step else ''}; remove the key")
        if self.kind != "forecasting":
            for key in ("horizon", "season", "relative_to"):
                if key in self.model_fields_set:  # (given, whatever its value; rnnlab writes none: _unread_keys)
                    raise ValueError(f"'task.{key}' applies to [task] kind = \"forecasting\", got kind = {self.kind!r}; "
                                     "remove the key")
        if self.per_step and self.kind in ("forecasting", "language_model"):
            raise ValueError(f"'task.per_step' = true: a {self.kind} task has targets at every step already; remove the key")
        return self


class AdaptConfig(_Section):
    """Rules that read the data instead of fixed defaults (on in the ``rnnlab init`` template;
    docs/template.md says how they were chosen). Both are decided from the training split only, and
    what they decided is printed at the start of the run and recorded in ``adapt.json``.

    >>> AdaptConfig(shape=True).max_steps
    16000
    """

    shape: bool = False
    """Decide from the training split's shape (:mod:`rnnlab.train.shape_rules`): no validation
    hold-out when it would hold fewer than 5 series of the smallest class, at least 3200 batch
    slots per class in
    ``training.steps``, enough pooling in the last front-end block for the recurrent layer
    to run at most 250 steps, and, when a class has fewer than 4 series, the head's mean over
    time joined to the maximum (``"mean_max"``) unless random front-ends say the maximum misleads,
    each series' level and scale read by the head straight, those within their sampling error set
    to 0 (``data.series_scale = "informative"``, ``model.head.input_pooling = "mean"``),
    ``model.input_noise`` raised to ``input_noise`` unless the series are smooth, and
    ``model.head.dropout`` raised to ``head_dropout`` when a level or scale alone tells the
    classes apart. A rule only raises what the config sets, never lowers it, but for the pooling
    of a short series: lowered (down to none) until the recurrent layer runs at least 6 steps, or
    all the series has."""
    budget: bool = False
    """A budget that follows the fit (:mod:`rnnlab.train.fit_budget`): end early once every
    training series was classified right (eval mode) over a tenth of the budget (after a short
    cosine tail, at whose end the fit is checked again: a series wrong there and the run goes on), and
    extend the budget while the model underfits and its training loss still falls, up to
    ``max_steps``."""
    max_steps: int = Field(16000, gt=0, le=MAX_STEPS)
    """The most optimizer steps ``budget`` and ``shape`` may give a run."""
    input_noise: NoiseStd = 0.2
    """The ``model.input_noise`` that ``shape`` gives classes of fewer than 4 series that are not
    smooth (0: none)."""
    head_dropout: Probability = 0.5
    """The ``model.head.dropout`` that ``shape`` gives classes of fewer than 4 series when a
    series' level or scale alone tells them apart (0: none)."""


#: ``tracking.inspect_steps`` of a language model that does not set it (:class:`Config`).
LM_INSPECT_STEPS = 400


class Config(_Section):
    """A whole training run."""

    name: str = "run"
    task: TaskConfig = TaskConfig()
    data: DataConfig
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    tracking: TrackingConfig = TrackingConfig()
    output: OutputConfig = OutputConfig()
    search: SearchConfig | None = None
    """``rnnlab search`` only: the search space and budget; ``rnnlab train`` ignores it."""
    adapt: AdaptConfig = AdaptConfig()
    """Rules that read the training split's shape and follow the fit (off unless set)."""

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        # A language model's default tracking.inspect_steps is its template's 400, not 4096: its
        # health checks keep every step's outputs over the whole vocabulary (4096 steps of a
        # 5000-word one cost seven times its training).
        task, tracking = (data.get("task"), data.get("tracking", {})) if isinstance(data, dict) else (None, None)
        if isinstance(task, dict) and task.get("kind") == "language_model" and isinstance(tracking, dict) \
                and "inspect_steps" not in tracking:
            data = {**data, "tracking": {**tracking, "inspect_steps": LM_INSPECT_STEPS}}
        return data

    def _write(self, key: str, value: Any) -> None:
        # A default a validator writes out: valid by construction, and set as an assignment would
        # be, validated (validate_assignment), it would run every validator of the config again.
        self.__dict__[key] = value
        self.__pydantic_fields_set__.add(key)
        self._adopt()

    @model_validator(mode="after")
    def _task_metrics(self) -> Config:
        from rnnlab.task import task_named

        task = task_named(self.task.kind, self.task.per_step)
        if task.kind == "regression" and self.training.label_smoothing > 0:
            raise ValueError(f"'training.label_smoothing' = {self.training.label_smoothing:g} smooths class labels; a "
                             f"{task.name} run (mean squared error of values) has none; expected 0 (unset)")
        if self.data.target_column is not None and (task.kind != "regression" or task.per_step):
            if task.per_step and not task.stream:
                where = "its targets are the y of an .npz file"
            else:
                where = {"classification": "its labels' column is data.label_column",
                         "language_model": "its targets are the text's next tokens",
                         "forecasting": "its targets are the series' own next values"}[task.kind]
            switch = ", or set [task] kind = \"regression\"" if task.name == "classification" else ""
            raise ValueError(f"'data.target_column' names regression targets, a column of a regression .csv; this run's "
                             f"task is {task.name} ({where}): remove the key{switch}")
        d = self.data
        if d.target_column is not None and d.dataset is not None:
            # (a bundled set's targets are its own: no column to select or name. An .npz's y holds
            # its targets, which the key names, a name per column of y: checked where y is read)
            raise ValueError(f"'data.target_column' = {_toml_value(d.target_column)} selects target columns of a "
                             f".csv file; the bundled data set data.dataset = {d.dataset!r} brings its own targets: "
                             "remove the key")
        # (given, whatever its value; what rnnlab writes leaves it out: _unread_keys)
        if "label_column" in self.data.model_fields_set and (task.kind != "classification" or task.per_step):
            where = ("its targets' column is data.target_column" if task.kind == "regression" and not task.per_step
                     else "its data has no label column")
            raise ValueError(f"'data.label_column' names the class labels of a classification .csv; this run's task "
                             f"is {task.name} ({where}): remove the key")
        if task.kind == "language_model":
            # written out, so the recorded config says what the model was built with
            # (only when unset: a check again after an assignment keeps the sections the caller holds)
            if self.model.embedding_size is None:
                self._write("model", self.model.model_copy(update={"embedding_size": self.model.hidden_size}))
            if self.data.tokens is None:
                self._write("data", self.data.model_copy(update={"tokens": "char"}))
            problem = _language_model_problem(self)
            if problem is not None:
                raise ValueError(problem)
        lm_keys = [k for k, v in (("model.embedding_size", self.model.embedding_size),
                                  ("model.tie_weights", self.model.tie_weights or None),
                                  ("model.embedding_dropout", self.model.embedding_dropout or None),
                                  ("data.tokens", self.data.tokens),
                                  ("data.vocab_size", self.data.vocab_size)) if v is not None]
        if task.kind != "language_model" and lm_keys:
            key = lm_keys[0]
            raise ValueError(f"'{key}' applies to a language model's tokens; this run's task is {task.name}: "
                             f"remove the key (or set [task] kind = \"language_model\")")
        problem = task.model_problem(self.model) or _stream_problem(self, task)
        if problem is not None:
            raise ValueError(problem)
        adapted = [k for k in ("shape", "budget") if getattr(self.adapt, k)]
        if adapted and (task.kind != "classification" or task.per_step):
            # Their rules count series per class and stop on training accuracy (train/shape_rules.py,
            # train/fit_budget.py): nothing they decide means anything for values or per-step labels.
            raise ValueError(f"'adapt.{adapted[0]}' = true: its rules read classes and training accuracy, so they "
                             f"apply to classification per sequence only; this run's task is {task.name}: "
                             f"expected adapt.{adapted[0]} = false (unset)")
        problem = task.check_validation_metric("training.early_stopping.monitor", self.training.early_stopping.monitor)
        if problem is None and self.search is not None:
            if self.search.metric is None:  # the task's score, written out so records name it
                self._write("search", self.search.model_copy(update={"metric": task.score}))
            problem = task.check_validation_metric("search.metric", str(self.search.metric))
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _across_sections(self) -> Config:
        if self.model.recurrent_batch_norm and self.training.batch_size == 1:
            raise ValueError(
                "'training.batch_size' = 1 with 'model.recurrent_batch_norm' = true: recurrent batch norm normalizes "
                "each step over the batch, and one sequence has no batch statistics (the layer's output would not "
                "depend on its input); set training.batch_size >= 2 or model.recurrent_batch_norm = false"
            )
        if self.model.bidirectional and self.training.stateful_window:
            raise ValueError(
                "'model.bidirectional' cannot be combined with 'training.stateful_window': the reverse direction "
                "would read each window from its end without the state of the steps after it; set one of them off"
            )
        # (the shape rule raises the steps first: the template's 50-step warm-up with steps = 40 is
        # 400 steps of a 2-class set, and the trainer checks the steps it trains)
        warmup = None if self.adapt.shape else self.training.warmup_problem()
        if warmup is not None:
            raise ValueError(warmup)
        if (self.adapt.budget or self.adapt.shape) and self.training.steps is not None \
                and self.training.steps > self.adapt.max_steps:
            raise ValueError(
                f"'adapt.max_steps' ({self.adapt.max_steps}) is below 'training.steps' ({self.training.steps}): the "
                "rules could only shorten the budget they were given; expected max_steps >= steps"
            )
        return self


#: ``[data]`` keys that only a stream task reads.
STREAM_KEYS = ("columns", "bptt", "streams", "val_steps", "test_steps", "test_fraction")

#: ``[training]`` keys of batches drawn from separate sequences, which a stream task does not read
#: (:func:`rnnlab.train.trainer.batching`: its batch is every row, in order, its window data.bptt),
#: each with what the stream reads instead ({what}: the text or each series).
BATCH_KEYS = {
    "batch_size": "it reads {what} as data.streams rows (the batch) in windows of data.bptt steps: remove the key, "
                  "and set data.streams for another batch",
    "shuffle": "it reads {what} in order, each row's state carrying from one window of data.bptt steps to the next, "
               "so nothing is shuffled: remove the key",
    "shuffle_within_batch": "each of its data.streams rows keeps its place in the batch, the slot of the state it "
                            "carries from one window of data.bptt steps to the next, so nothing is shuffled: remove the key",
    "stateful_window": "it reads {what} in windows of data.bptt steps whose state carries across the epoch: remove "
                       "the key, and set data.bptt for another window",
}

#: A stream's blocks, each sized in steps or as a fraction (the steps win in the split): one of them.
_BLOCK_SIZES = (("test_steps", "test_fraction", "test"), ("val_steps", "val_fraction", "validation"))


def _unread_keys(kind: str, per_step: bool, sized: Collection[str] = ()) -> dict[str, tuple[str, ...]]:
    """The keys, by section, that a task (``[task] kind``, ``per_step``) does not read; ``sized``:
    the stream blocks given in steps (``data.test_steps``, ``data.val_steps``), whose fractions it
    then does not read. A config that gives one is refused, whatever the value (the validators,
    :func:`_stream_problem`); what rnnlab writes leaves them out (:func:`without_unread_keys`,
    :func:`dump_config`), and an older record that wrote them has them dropped (:func:`_older_record`).

    >>> _unread_keys("language_model", False)["data"]
    ('normalize', 'columns', 'label_column', 'target_column')
    >>> _unread_keys("classification", False)["training"]
    ()
    """
    stream = kind in ("forecasting", "language_model")
    task: tuple[str, ...] = () if kind == "forecasting" else ("horizon", "season", "relative_to")
    if kind not in ("regression", "forecasting") or per_step:
        task += ("mean_guard",)  # (its only accepted value there is false: nothing to record)
    data = tuple(fraction for steps, fraction, _ in _BLOCK_SIZES if steps in sized) if stream else STREAM_KEYS
    if kind == "language_model":
        data += ("normalize", "columns")
    if kind != "classification" or per_step:
        data += ("label_column",)
    if kind != "regression" or per_step:
        data += ("target_column",)
    return {"task": task + (("per_step",) if stream else ()), "data": data,
            "training": tuple(BATCH_KEYS) if stream else ()}


def _stream_problem(config: Config, task: Task) -> str | None:
    """What in a config does not go with its data being (or not being) a stream (``task``: its
    :class:`rnnlab.task.Task`), or None. A key the task does not read is refused when the config
    gives it, whatever its value (``model_fields_set``); rnnlab writes none (:func:`_unread_keys`),
    so a run's config.toml reads back."""
    d = config.data
    if not task.stream:
        for key in STREAM_KEYS:
            if key in d.model_fields_set:
                return (f"'data.{key}' applies to long series (a stream task: [task] kind = \"forecasting\" or "
                        "\"language_model\"); this "
                        f"run's task is {task.name}: remove the key")
        return None
    lm = task.kind == "language_model"
    what = "the text" if lm else "each series"
    for steps, fraction, block in _BLOCK_SIZES:
        if getattr(d, steps) is not None and fraction in d.model_fields_set:
            return (f"'data.{steps}' and 'data.{fraction}' both size the {block} block of {what}: expected one of them, "
                    f"got {steps} = {getattr(d, steps)} and {fraction} = {getattr(d, fraction):g}; remove one")
    if lm and "normalize" in d.model_fields_set:
        return (f"'data.normalize' = {_toml_value(d.normalize)}: a language model's input is token ids, which are not "
                "normalized, so the key does not apply; remove it")
    if lm and d.columns is not None:
        return ("'data.columns' picks the value columns of a forecasting .csv; this run's task is language_model (its "
                "text file has no columns): remove the key")
    if d.normalize == "per_series":
        return ("'data.normalize' = \"per_series\": on a stream each series' own statistics would read its future "
                "(the validation and test blocks); expected \"per_channel\" (fitted on the training part) or \"none\"")
    if d.test_path is not None:
        return ("'data.test_path': a stream's test block is its tail (data.test_steps or data.test_fraction); "
                "remove the key")
    for key, instead in BATCH_KEYS.items():
        value = getattr(config.training, key)
        if key in config.training.model_fields_set:
            return (f"'training.{key}' = {_toml_value(value)}: this run's task is {task.name}, a stream: "
                    f"{instead.format(what=what)}")
    if config.model.bidirectional:
        return ("'model.bidirectional' = true: a forecaster must not read the steps after the one it forecasts from; "
                "set it to false")
    return None


def check_dir_name(name: str) -> str:
    """``name`` when it can name the run directory (``runs/NAME``, with ``output.dir`` unset): a
    name, not a path -- no separator, not ``.`` or ``..`` (which would make the run directory
    the working directory, or one outside ``runs/``).

    >>> check_dir_name("gunpoint-lstm")
    'gunpoint-lstm'
    >>> check_dir_name("../../x")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: 'name': expected a name, not a path (it names the run directory runs/NAME), got '../../x'; set output.dir for a path
    """
    if _CONTROL_CHARACTER.search(name):
        raise ConfigError(f"'name': expected a name without control characters ({_CONTROL_WHY}), got {name!r}")
    separators = {"/", os.sep, os.altsep or "/"}
    if name.strip() in ("", ".", "..") or any(s in name for s in separators):
        raise ConfigError(f"'name': expected a name, not a path (it names the run directory runs/NAME), got {name!r}; "
                          "set output.dir for a path")
    return name


# --------------------------------------------------------------------------------------------
# Resuming with a changed config


#: Keys a resumed run may change (with ``--allow-change``) without changing what the run means:
#: its budget, bookkeeping and what is recorded, never the data, model or optimizer. fnmatch
#: patterns. More epochs also stretch a cosine schedule from the resumed step on.
RESUME_HARMLESS: tuple[str, ...] = (
    "name", "output.dir", "training.epochs", "training.steps", "training.threads", "training.device",
    "training.checkpoint_every", "training.early_stopping.patience",
    "tracking.*",
)


def config_changes(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every key whose value differs.

    >>> a = parse_config('[data]\\ndataset = "GunPoint"')
    >>> config_changes(a, parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nlr = 0.1'))
    {'training.lr': (0.001, 0.1)}
    """
    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(old.model_dump()), flat(new.model_dump())
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def is_harmless(key: str) -> bool:
    """Whether a resumed run may change ``key`` (see :data:`RESUME_HARMLESS`).

    >>> is_harmless("training.epochs"), is_harmless("tracking.grads_every"), is_harmless("training.lr")
    (True, True, False)
    """
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUME_HARMLESS)


def check_resume_changes(changes: dict[str, tuple[Any, Any]], allowed: typing.Sequence[str],
                         source: str) -> None:
    """Refuse a resume whose config differs from the run's (``source`` names it) in a key that
    ``allowed`` does not name; ``allowed`` (keys or fnmatch patterns) may name only harmless keys.
    A moved data file (:data:`rnnlab.rundir.RELOCATABLE`: ``data.path``, ``data.test_path``) passes
    here, named or not: the trainer then resumes only on data of the checkpoint's SHA-256.

    >>> check_resume_changes({"training.epochs": (2, 3)}, ["training.epochs"], "last.pt")
    >>> check_resume_changes({"data.path": ("/old/gp.csv", "/new/gp.csv")}, [], "last.pt")
    >>> check_resume_changes({"tracking.grads_every": (2, 5)}, ["tracking.*"], "last.pt")
    >>> check_resume_changes({"data.path": ("a.npz", "b.npz"), "name": ("a", "b")}, [], "last.pt")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: --resume: the config differs from the run's (last.pt) in name ('a' -> 'b'); data.path changed too ('a.npz' -> 'b.npz'): --resume continues only on the data the run trained on (their SHA-256 is checked when read): if that file holds other data, start a new run in another directory (--out; Python: out=...); if it is a copy of the run's data, pass --allow-change name (Python: allow_change=['name']) to continue with this change (recorded in the run directory)
    >>> check_resume_changes({"training.lr": (0.001, 0.1)}, [], "last.pt")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: --resume: the config differs from the run's (last.pt) in training.lr (0.001 -> 0.1); training.lr changes what the run means: restore it, or start a new run in another directory (--out; Python: out=...)
    >>> check_resume_changes({"training.epochs": (2, 4)}, [], "last.pt")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: --resume: the config differs from the run's (last.pt) in training.epochs (2 -> 4); pass --allow-change training.epochs (Python: allow_change=['training.epochs']) to continue with this change (recorded in the run directory)
    """
    from rnnlab.rundir import RELOCATABLE

    for key in allowed:
        if not (is_harmless(key) or key in RESUME_HARMLESS or key in RELOCATABLE):
            # (one message for both callers: the command's flags and train()'s keywords)
            raise ConfigError(f"--allow-change (Python: allow_change): {key!r} changes what the run means and "
                              "cannot be allowed; "
                              f"allowed are {', '.join(RESUME_HARMLESS)} (and {', '.join(RELOCATABLE)}, "
                              "where the data there are the run's)")
    # (where the data files are now is the user's to say: what they hold is checked against the
    # checkpoint's SHA-256 once they are read, so a copy moved elsewhere resumes, other data do not)
    refused = {k: v for k, v in changes.items()
               if k not in RELOCATABLE and not any(fnmatch.fnmatchcase(k, a) for a in allowed)}
    if not refused:
        return
    meaningful = [k for k in refused if not is_harmless(k)]
    # Refused for a key that changes the run's meaning: its harmless companions (a name derived
    # from the layer, say) would only hide it.
    shown = ", ".join(f"{k} ({a!r} -> {b!r})" for k, (a, b) in refused.items() if k in meaningful or not meaningful)
    if meaningful:
        one = len(meaningful) == 1
        raise ConfigError(
            f"--resume: the config differs from the run's ({source}) in {shown}; {', '.join(meaningful)} "
            f"change{'s' if one else ''} what the run means: restore {'it' if one else 'them'}, or start "
            "a new run in another directory (--out; Python: out=...)"
        )
    # (a data file named anew beside them, as a run named after its file is: whether the data there are
    # the run's decides, which only their SHA-256 tells when read; said first, or the advice would fail)
    moved = {k: v for k, v in changes.items() if k in RELOCATABLE}
    files = "".join(f"; {k} changed too ({a!r} -> {b!r}): --resume continues only on the data the run trained on "
                    "(their SHA-256 is checked when read): if that file holds other data, start a new run in another "
                    "directory (--out; Python: out=...); if it is a copy of the run's data," for k, (a, b) in moved.items())
    raise ConfigError(f"--resume: the config differs from the run's ({source}) in {shown}{files}"
                      f"{' pass' if moved else '; pass'} "
                      f"--allow-change {','.join(refused)} (Python: allow_change={list(refused)!r}) to continue with "
                      f"{'this change' if len(refused) == 1 else 'these changes'} (recorded in the run directory)")


# --------------------------------------------------------------------------------------------
# Errors: one line naming the full key path, the expected and the actual value.


def section_of(annotation: Any) -> Any:
    """The config section (BaseModel class) behind an annotation such as ``X | None`` or
    ``list[X]``, or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = section_of(arg)
        if found is not None:
            return found
    return None


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """Valid key names of the section that ``loc`` (without its last element) points into."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int) or str(part).startswith('"'):  # a list index, a user key
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = section_of(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _section_holding(name: str) -> str | None:
    """The top-level table of the config that has a key ``name`` (the first, in the config's
    order), for a key written under another table (``[data] steps``: ``training.steps``)."""
    for section, field in Config.model_fields.items():
        model = section_of(field.annotation)
        if model is not None and name in model.model_fields:
            return section
    return None


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the tags pydantic inserts for union members ("float", "function-after[...]")."""
    out: list[Any] = []
    model: Any = Config
    user_key = False  # the next part is a key of a table of user keys (search.space)
    for part in loc:
        if isinstance(part, int):
            out.append(part)
        elif user_key:
            out.append(f'"{part}"')
            user_key = False
        elif model is not None and part in model.model_fields:
            out.append(part)
            annotation = model.model_fields[part].annotation
            model = section_of(annotation)
            user_key = any(typing.get_origin(a) is dict for a in (annotation, *typing.get_args(annotation)))
        elif model is not None and not any(c in part for c in "[](),-"):
            out.append(part)  # an unknown key (extra_forbidden)
            model = None
    return tuple(out)


def _keras_keys() -> dict[str, str]:
    """``model.<Keras keyword>`` → the config's key for it (the layers' own hints say the Python
    calls: :data:`rnnlab.layers.options.FROM_KERAS`)."""
    from rnnlab.layers.options import KERAS_ACTIVITY_AR

    def decay(role: str) -> str:
        return (f"a Keras keyword: a [[training.decay_rules]] entry with role = \"{role}\" and weight_decay = "
                f"2λ for Keras' l2(λ) with training.optimizer = \"adam\" or \"sgd\" (added to the gradient); "
                f"with adamw, nadamw, sgdw it is decoupled decay (docs/regularization.md §1)")

    hints = {
        "kernel_regularizer": decay("kernel"),
        "recurrent_regularizer": decay("recurrent"),
        "bias_regularizer": decay("bias"),
        "activity_regularizer": f"a Keras keyword: training.ar (and training.tar); {KERAS_ACTIVITY_AR}",
        "units": "a Keras keyword: the state size is model.hidden_size",
        "return_sequences": "a Keras keyword: the head reads the layer's outputs as model.head.pooling says "
                            "(\"last\": each sequence's final state, both directions; \"mean\", \"max\": over "
                            "its valid steps)",
        "go_backwards": "a Keras keyword: model.bidirectional = true runs both directions",
        "use_bias": "a Keras keyword: write model.bias",
        "stateful": "a Keras keyword: training.stateful_window carries the state across windows of a sequence",
        "kernel_initializer": "a Keras keyword: write model.kernel_init (per gate block: docs/layers.md)",
        "recurrent_initializer": "a Keras keyword: write model.recurrent_init (per gate block: docs/layers.md)",
    }
    return {f"model.{k}": v for k, v in hints.items()}


#: Keys users write in a config that are a command's options or another key instead: what to use,
#: in place of a near spelling of another key (search.storage is no misspelt search.space;
#: model.kernel_regularizer, a Keras keyword, no misspelt model.kernel_constraint).
NOT_KEYS = {
    "search.storage": "the study's storage is `rnnlab search`'s --storage URL option, not a config key (a database "
                      "URL may hold a password, which a config file would copy into every run)",
    "search.study": "the study's name is `rnnlab search`'s --study NAME option, not a config key",
    "search.workers": "the worker processes are `rnnlab search`'s --workers K option, not a config key",
    **_keras_keys(),
}


def _format_error(err: dict[str, Any]) -> str:
    loc = _clean_loc(tuple(err["loc"]))
    path = _key_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        options = _fields_at(loc)
        close = closest(str(loc[-1]), options)
        prefix = path[: len(path) - len(str(loc[-1]))]
        elsewhere = _section_holding(str(loc[-1])) if len(loc) == 2 else None
        hint = (f"; {NOT_KEYS[path]}" if path in NOT_KEYS
                else f"; did you mean '{prefix}{close}'?" if close and close.casefold() == str(loc[-1]).casefold()
                else f"; '{loc[-1]}' is a key of [{elsewhere}], not [{loc[0]}]: {elsewhere}.{loc[-1]}" if elsewhere
                else f"; did you mean '{prefix}{close}'?" if close
                else f"; valid keys here: {', '.join(options)}")
        return f"unknown key '{path}'{hint}"
    if kind == "missing":
        return f"missing key '{path}'"
    if kind == "value_error":
        # Our validators name the keys involved, except inside lists (which item?).
        msg = str(err["msg"]).removeprefix("Value error, ")
        return f"'{path}': {msg}" if "[" in path else msg
    actual = err.get("input")
    shown = "a table" if isinstance(actual, dict) else f"{actual!r} ({type(actual).__name__})"
    ctx = err.get("ctx", {})
    expected = _EXPECTED.get(kind, "").format(**ctx) or str(err["msg"]).replace("Input should be", "expected")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        shown += did_you_mean(str(actual), options)
    return f"'{path}': {expected}, got {shown}"


_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "int_type": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "string_too_short": "expected a non-empty string",
    "string_pattern_mismatch": "expected a non-empty string",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "greater_than": "expected a number > {gt}",
    "greater_than_equal": "expected a number >= {ge}",
    "less_than": "expected a number < {lt}",
    "less_than_equal": "expected a number <= {le}",
    "list_type": "expected a list",
    "too_short": "expected a non-empty list",
    "tuple_type": "expected a list",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
}


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Validate a parsed TOML table; errors become one :class:`ConfigError` listing each problem.

    >>> config_from_dict({"data": {"dataset": "GunPoint"}}).data.dataset
    'GunPoint'
    """
    try:
        return Config.model_validate(raw, context={"data_file": _data_file(raw)})
    except ValidationError as e:
        raise ConfigError(f"{source}: " + _problems(e.errors())) from None


def _problems(errors: list[Any]) -> str:
    """pydantic's ``errors`` (their ``loc`` from :class:`Config`) as one line, each key once."""
    # A value failing every member of a union gives one error per member: merge them.
    by_path: dict[str, str] = {}
    for err in errors:
        msg = _format_error(err)
        key = _key_path(_clean_loc(tuple(err["loc"])))
        if key in by_path and ": expected " in msg and ": expected " in by_path[key]:
            head, _, got = by_path[key].rpartition(", got ")
            extra = msg.split(": expected ", 1)[1].rpartition(", got ")[0]
            by_path[key] = f"{head} or {extra}, got {got}"
        else:
            by_path.setdefault(key, msg)
    return "; ".join(by_path.values())


def _section_locs() -> dict[type, list[tuple[Any, ...]]]:
    """Where each section class sits in :class:`Config`: ``{class: [loc, ...]}``, a list item's
    index and a table's user key left as :data:`_ANY_INDEX` and :data:`_ANY_KEY`.

    >>> _section_locs()[DecayRule], _section_locs()[HeadConfig]
    ([('training', 'decay_rules', -1)], [('model', 'head')])
    """
    if _SECTION_LOCS:
        return _SECTION_LOCS

    def walk(model: Any, loc: tuple[Any, ...]) -> None:
        _SECTION_LOCS.setdefault(model, []).append(loc)
        for key, field in model.model_fields.items():
            inner = section_of(field.annotation)
            if inner is not None:
                origins = {typing.get_origin(a) for a in (field.annotation, *typing.get_args(field.annotation))}
                item = (_ANY_INDEX,) if list in origins else (_ANY_KEY,) if dict in origins else ()
                walk(inner, (*loc, key, *item))

    walk(Config, ())
    return _SECTION_LOCS


_SECTION_LOCS: dict[type, list[tuple[Any, ...]]] = {}

#: The place of a list item, and of a user key (search.space), in the key path of an assignment:
#: a section does not know which item of its list it is.
_ANY_INDEX, _ANY_KEY = -1, "KEY"


def _assignment_problem(section: _Section, name: str | None, error: ValidationError) -> str:
    """The one line of what ``section``'s checks refused after an assignment (``name``: the key
    set on it; None: on a section it holds), each key named by its full path as
    :func:`config_from_dict` names it.

    >>> c = parse_config('[data]\\ndataset = "GunPoint"')
    >>> c.training.lr = -1.0
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: config: 'training.lr': expected a number > 0.0, got -1.0 (float)
    """
    loc = _loc_of(section)
    errors = []
    for err in error.errors():
        if err["type"] == "no_such_attribute":  # (an unknown key, as the file's)
            err = {**err, "type": "extra_forbidden", "loc": (name,)}
        errors.append({**err, "loc": (*loc, *err["loc"])})
    # (a list item or a table's user key of a section on its own: its index or key is not known)
    return _problems(errors).replace(f"[{_ANY_INDEX}]", "[i]")


def _data_file(raw: dict[str, Any]) -> str:
    """What ``data.path`` names for the task of a raw config (any shape: it is not validated yet).

    >>> _data_file({"task": {"kind": "language_model"}}), _data_file({})
    ('a UTF-8 text file', 'an .npz/.csv file')
    """
    task = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    kind = task.get("kind")
    if kind == "language_model":
        return "a UTF-8 text file"
    if kind == "forecasting":
        return "a .csv/.npz file of series"
    return "an .npz file" if task.get("per_step") is True else "an .npz/.csv file"


def parse_config(text: str, source: str = "config", *, recorded: bool = False) -> Config:
    """Parse and validate TOML text (``source`` names it in error messages). ``recorded``: the
    text is a config rnnlab wrote (a run's config.toml, a checkpoint's, a study's), which may
    use an older spelling: see :func:`_older_record`.

    >>> parse_config('[data]\\ndataset = "GunPoint"\\n[model.frontend]\\nblocks = []', recorded=True).model.frontend.stride
    2
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    return config_from_dict(_older_record(raw) if recorded else raw, source)


def _older_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A recorded config in today's spelling. Before empty front-end block lists were refused,
    rnnlab wrote the default single strided conv as ``[model.frontend] blocks = []``. Before the
    keys a task does not read were refused when given and left out of what rnnlab writes
    (:func:`_unread_keys`: a stream's batch keys, a language model's ``data.normalize``, a
    regression's ``data.label_column``, ...), a run recorded them: they are dropped, as the run did
    not read them (its report, resume and compare still load it).

    >>> old = {"task": {"kind": "language_model", "per_step": True}, "data": {"dataset": "python-docs",
    ...        "test_steps": 50, "test_fraction": 0.3}, "training": {"batch_size": 4}}
    >>> parse_config(dump_config(config_from_dict(_older_record(old)))).data.test_steps
    50
    """
    model = raw.get("model")
    if isinstance(model, dict) and model.get("frontend") == {"blocks": []}:
        raw = {**raw, "model": {**model, "frontend": {}}}
    return without_unread_keys(raw)


def without_unread_keys(raw: dict[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
    """The config table ``raw`` without the keys its task does not read (:func:`_unread_keys`),
    but those named in ``keep`` (``"section.key"``: what a caller set on purpose, refused then by
    validation as given). A config built from another task's dump (an estimator's template with
    its task changed, a search trial) thus holds no key its own task would refuse.

    >>> without_unread_keys({"task": {"kind": "regression"}, "data": {"dataset": "x", "label_column": "label"}})
    {'task': {'kind': 'regression'}, 'data': {'dataset': 'x'}}
    """
    task = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    kind = task.get("kind", "classification")
    if kind not in ("classification", "regression", "forecasting", "language_model"):
        return raw  # (validation names the kind)
    sized = {k for k in ("test_steps", "val_steps") if data.get(k) is not None}
    unread = _unread_keys(kind, task.get("per_step") is True, sized)
    return {**raw, **{section: {k: v for k, v in raw[section].items() if k not in keys or f"{section}.{k}" in keep}
                      for section, keys in unread.items() if isinstance(raw.get(section), dict)}}


def load_config(path: str | os.PathLike[str], *, recorded: bool = False) -> Config:
    """Read and validate a TOML config file (``recorded``: see :func:`parse_config`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
    >>> _ = p.write_text(TEMPLATE)
    >>> load_config(p).data.dataset
    'GunPoint'
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist" if not p.exists()
                          else f"config path {str(p)!r} is not a file")
    try:
        text = p.read_text(encoding="utf-8-sig")  # (a byte-order mark, as some editors write, is skipped)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the config file: {e}") from None
    config = parse_config(text, source=str(p), recorded=recorded)
    try:
        return with_data_paths_from(config, p.parent)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def with_data_paths_from(config: Config, folder: str | os.PathLike[str]) -> Config:
    """``config`` with its ``data.path`` and ``data.test_path`` as absolute paths: ``~`` expanded
    and a ``$NAME`` refused (:func:`as_shell_path`), a relative path taken from ``folder`` (the
    config file's) as opening it from there would: the folder's real path first, then the path
    (``..`` after a linked folder is the parent of the folder it links to). A file found only
    from the working directory (the rule of configs written before) is read from there, said in
    one warning, and recorded by its absolute path (what a later ``--resume`` reads).

    >>> c = parse_config('[data]\\npath = "d.npz"')
    >>> with_data_paths_from(c, "/experiments").data.path
    '/experiments/d.npz'
    """
    import warnings

    updates = {}
    for key in ("path", "test_path"):
        value = getattr(config.data, key)
        if value is None:
            continue
        try:
            given = as_shell_path(value, f"data.{key}")
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if Path(given).is_absolute():
            updates[key] = given
            continue
        beside = _opened_from(folder, given)
        if beside.exists() or not Path(given).exists():
            updates[key] = str(beside)
            continue
        here = _opened_from(os.getcwd(), given)
        updates[key] = str(here)
        warnings.warn(f"'data.{key}' = {value!r}: not found beside the config file ({beside}); read from the working "
                      f"directory instead, {here} (the run records that path)", stacklevel=2)
    return config.model_copy(update={"data": config.data.model_copy(update=updates)}) if updates else config


def _opened_from(folder: str | os.PathLike[str], relative: str) -> Path:
    """The file ``relative`` names when opened from ``folder``, as the file system resolves it
    (links before ``..``), under its own name (a link to a file stays the name the user gave).

    >>> str(_opened_from("/experiments", "data/../d.npz"))
    '/experiments/d.npz'
    """
    joined = Path(folder, relative)
    if joined.name in ("", ".", ".."):
        return Path(os.path.realpath(joined))
    return Path(os.path.realpath(joined.parent)) / joined.name


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and every control character
    (U+0000-U+001F, U+007F) escaped, so any string reads back unchanged.

    >>> print(toml_string('a"b\\\\c\\n\\x00'))
    "a\\"b\\\\c\\n\\u0000"
    """
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    if isinstance(value, (int, float)):
        return repr(value)  # inf / nan / 1e-05 are TOML as Python writes them
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def template_for(task: str = "classification", dataset: str | None = None) -> str:
    """The text ``rnnlab init --task TASK [--dataset NAME]`` writes (TASK a
    :attr:`rnnlab.task.Task.name`): :data:`TEMPLATE` with the task's data set and metrics; per
    step, a front-end that keeps the length and a head that pools nothing; and what its targets
    were measured to need (values per sequence: early stopping; values per step: no recurrent
    batch norm, lr 1e-2). ``dataset``: a bundled data set of the task instead of the template's,
    and what that data bounds fitted to it (:func:`_fit_bundled_series`: a short series' window).

    >>> parse_config(template_for("regression")).task.kind, parse_config(template_for("regression")).data.dataset
    ('regression', 'Covid3Month')
    >>> parse_config(template_for("language_model")).data.dataset
    'python-docs'
    >>> c = parse_config(template_for("per-step-classification"))
    >>> c.task.per_step, c.data.dataset, c.model.head.pooling, [b.pool for b in c.model.frontend.conv_blocks]
    (True, 'delayed_copy', 'last', [1, 1, 1])
    >>> c = parse_config(template_for("forecasting", "ShampooSales"))
    >>> c.data.dataset, c.data.bptt, c.data.streams
    ('ShampooSales', 22, 1)
    """
    from rnnlab.task import TASKS

    if task not in TASKS:
        from rnnlab._checks import did_you_mean

        raise ConfigError(f"--task: expected one of {list(TASKS)}, got {task!r}{did_you_mean(task, list(TASKS))}")
    kind, per_step = TASKS[task].kind, TASKS[task].per_step
    if kind == "language_model":  # token embedding, a stream of text: a template of its own
        return LANGUAGE_MODEL_TEMPLATE if dataset is None else _with_bundled(LANGUAGE_MODEL_TEMPLATE, task, dataset)
    text = TEMPLATE
    if kind == "forecasting":
        edits: tuple[tuple[str, str], ...] = _FORECASTING_EDITS
    else:
        edits = (_PER_STEP_EDITS + (_PER_STEP_VALUES if kind == "regression" else ())) if per_step else ()
    edits = (_NO_DILATION_EDITS if (kind != "classification" or per_step) else ()) + edits
    edits += _REGRESSION_EDITS if kind == "regression" else ()
    edits += _SEQUENCE_REGRESSION_EDITS if kind == "regression" and not per_step else ()
    edits += _PER_STEP_REGRESSION_KIND if kind == "regression" and per_step else ()
    edits += _NO_ADAPT_EDITS if (kind != "classification" or per_step) else ()
    for old, new in edits:
        if old not in text:  # TEMPLATE changed under an edit: fail here, not in a user's run
            raise RuntimeError(f"template_for({task!r}): an edit no longer matches TEMPLATE: {old[:70]!r}")
        text = text.replace(old, new, 1)
    return text if dataset is None else _with_bundled(text, task, dataset)


def _with_bundled(text: str, task: str, name: str) -> str:
    """The template ``text`` of ``task`` on the bundled data set ``name`` (``--dataset``: a
    one-line error for a name of no bundled set, or of another task's): its dataset line, and for a
    series what the series bounds (:func:`_fit_bundled_series`). The run's name and output.dir
    follow the dataset when left unset."""
    from rnnlab._checks import did_you_mean
    from rnnlab.data.bundled import all_bundled_names, bundled_task
    from rnnlab.errors import DataError

    names = all_bundled_names()
    if name not in names:
        raise DataError(f"--dataset: expected a bundled data set (see `rnnlab datasets`), got "
                        f"{name!r}{did_you_mean(name, names)}")
    held = bundled_task(name)
    if held != task:
        raise DataError(f"--dataset: {name!r} is a {held} data set, expected one "
                        f"for --task {task} (see the task column of `rnnlab datasets`); for its own task, "
                        f"give --task {held}")
    text = re.sub(r'\ndataset = "[^"]*"\n', f'\ndataset = "{name}"\n', text, count=1)
    return _fit_bundled_series(text, name) if held == "forecasting" else text


#: Where a template line's comment starts (the column its values are padded to).
_COMMENT_AT = 32


def _template_line(text: str, key: str, value: int, *comment: str) -> str:
    """``text`` with its one line ``key = ...`` set to ``value``, commented by the lines ``comment``
    (the first beside the value, the others below it, as the template wraps a comment)."""
    line = f"{key} = {value}".ljust(_COMMENT_AT) + f"# {comment[0]}\n" + "".join(
        " " * _COMMENT_AT + f"#   {more}\n" for more in comment[1:])
    new, count = re.subn(rf"(?m)^{re.escape(key)} = .*\n", lambda _: line, text, count=1)
    if not count:  # TEMPLATE changed under this edit: fail here, not in a user's run
        raise RuntimeError(f"the forecasting template has no line {key!r}")
    return new


def _fit_bundled_series(text: str, name: str) -> str:
    """The forecasting template ``text`` on the bundled series ``name`` with what its length
    bounds: ``data.bptt`` no longer than the training steps with targets (what the validation and
    test blocks leave; ShampooSales' 36 months leave 22 of the template's 24), ``data.streams`` no
    more rows than windows fit, and ``task.season`` the series' own (``rnnlab datasets``: Lynx 10,
    Uschange 4, solar 48, not the template's monthly 12). Each value changed says why in its comment.
    The blocks are the template's fractions, which leave every bundled series at least a
    season of training and more steps in each block than the horizon."""
    from rnnlab.data.stream import BUNDLED_STREAMS, read_series, split_bounds

    config = parse_config(text)
    d, horizon, season = config.data, config.task.horizon, BUNDLED_STREAMS[name].season
    length = min(len(x) for x in read_series(d).values)
    bounds = split_bounds(length, d, None)
    window = bounds.train - horizon  # the steps with targets inside the training block: load_stream's bound
    bptt = min(d.bptt, window)
    streams = max(1, min(d.streams, window // bptt))
    if season != config.task.season:
        text = _template_line(text, "season", season, f"{name}'s season (`rnnlab datasets`), not the template's "
                              f"{config.task.season} (monthly data's yearly cycle):")
    if bptt != d.bptt:
        text = _template_line(text, "bptt", bptt, f"{name}: its {length} steps leave {window} training steps with "
                              "targets after the", f"validation and test blocks, too few for the template's {d.bptt}")
    if streams != d.streams:
        text = _template_line(text, "streams", streams, f"{name}: {window} training steps hold {streams} "
                              f"row{'s' if streams > 1 else ''} of data.bptt steps (the template: {d.streams})")
    return text


#: The dilated front-end was chosen for classification per sequence (docs/template.md, twelfth
#: round); the other tasks' templates keep the blocks their benchmarks measured.
_NO_DILATION_EDITS = (
    ("dilation = 2                    # taps 2 steps apart: the kernel spans 9 steps (wider shapes, as many weights)\n", ""),
    ("dilation = 4\n", ""),
)


#: The [adapt] rules count series per class and stop on training accuracy: off for other tasks.
_NO_ADAPT_EDITS = (
    ("shape = true                    # from the training split's shape",
     "shape = false                   # (classification per sequence only) from the training split's shape"),
    ("budget = true                   # the budget follows the fit",
     "budget = false                  # (classification per sequence only) the budget follows the fit"),
)


#: What the forecasting template changes in :data:`TEMPLATE`: the task, a bundled series (a
#: user's file by changing data.path), the stream's windows and blocks, no front-end (a centred
#: convolution would read the steps it forecasts), no batch statistics, a head on every step.
_FORECASTING_EDITS = (
    ('kind = "classification"         # a class label per sequence | "regression": values per sequence '
     '(rnnlab init --task regression)\n',
     'kind = "forecasting"            # the next values of long series (docs/streams.md)\n'
     'horizon = 1                     # steps ahead forecast from every step\n'
     'season = 12                     # season length of YOUR data (12: monthly with a yearly cycle; 1: none):\n'
     '                                #   the seasonal-naive forecast and MASE\'s scale use it\n'
     'relative_to = "auto"            # the model learns corrections to the naive or seasonal-naive forecast,\n'
     '                                #   seasonal naive where the changes repeat at the season, else whichever errs\n'
     '                                #   less before the test block | "naive" | "seasonal_naive" | "none"\n'),
    ('# A bundled data set (list them with `rnnlab datasets`): UCR/UEA names such as "GunPoint",\n'
     '# "BasicMotions", "JapaneseVowels" (variable length), or "digits_rows" / "digits_pixels".\n'
     'dataset = "GunPoint"\n',
     '# A bundled series (shipped with rnnlab): "Airline", "Lynx", "PBS", "Uschange", "solar", "ShampooSales".\n'
     'dataset = "Airline"\n'),
    ("#   .npz with X [N, T, C] (float; aeon's [N, C, T]: save X.transpose(0, 2, 1)), y [N] (labels), optional lengths [N]\n"
     "#   .csv, comma-separated with a header row, one sequence per row: a label column plus one column per time step\n",
     "#   .csv with a header and one row per step (columns = [...] picks the value columns;\n"
     "#   default: every column with numbers in it, so a date column is skipped)\n"
     "#   .npz with X [L] or [L, C] (one series), or [N, L, C] with lengths [N] (several)\n"),
    ('# path = "my_sequences.npz"     # a relative path is taken from this file\'s folder\n'
     '# test_path = "my_test_sequences.npz"\n'
     '# label_column = "label"        # .csv only\n'
     'val_fraction = 0.2              # held out from the training split, stratified\n'
     'normalize = "per_series"        # each series to mean 0, std 1 | "per_channel" (fitted on the training part) | "none"\n'
     'series_scale = true             # per_series: each series\' level and scale join the input as channels\n',
     '# path = "my_series.csv"        # a relative path is taken from this file\'s folder\n'
     '# columns = ["sales"]\n'
     'test_fraction = 0.2             # the last 20 % of each series: the test block (or test_steps = N)\n'
     'val_fraction = 0.2              # the block before it, for validation (or val_steps = N)\n'
     'normalize = "per_channel"       # fitted on the training block only | "none"\n'
     'bptt = 24                       # steps per window: one update each, the state carried to the next\n'
     'streams = 2                     # parallel rows each series is cut into (the batch); more for long series\n'),
    ("recurrent_batch_norm = true     # gate inputs batch-normalized per step (Cooijmans et al.)",
     "recurrent_batch_norm = false    # (rows of one series are no independent batch)"),
    ("\nhidden_size = 64\nnum_layers = 1\n",
     "\nhidden_size = 64\nnum_layers = 1\n"
     "ensemble = 5                    # models from their own initial weights, each trained on its own loss, their\n"
     "                                #   forecasts averaged (1: one model; each member costs a model's time)\n"),
    ("# Conv blocks before the recurrent layer (Conv1d -> norm -> activation -> max-pool), as in the\n"
     "# fully convolutional front-ends of LSTM-FCN: they find local shapes, and pooling shortens long\n"
     "# series for the LSTM. Delete the blocks to feed the LSTM the raw series. A single strided conv:\n"
     "#   [model.frontend]\n#   channels = 32\n#   kernel_size = 5\n#   stride = 2\n"
     "[[model.frontend.blocks]]\nchannels = 64\nkernel_size = 7\nnorm = \"batch\"                  # batch | layer | "
     "none (batch statistics skip padded steps)\n"
     "[[model.frontend.blocks]]\nchannels = 64\nkernel_size = 5\nnorm = \"batch\"\n"
     "pool = 2                        # max-pool over 2 steps: half the length\n"
     "[[model.frontend.blocks]]\nchannels = 64\nkernel_size = 3\nnorm = \"batch\"\npool = 2\n"
     "# stride = 1                    # per block; activation = \"relu\" | \"tanh\" | \"gelu\" | \"none\"\n\n",
     "# No conv front-end: a centred convolution would read the steps the model forecasts.\n\n"),
    ('pooling = "mean"                # mean | last | max | mean_max: the recurrent outputs over valid steps, or the final state\n'
     'frontend_pooling = "mean"       # "mean": join the front-end\'s mean features (LSTM-FCN head) | "max" | "mean_max" | "none"\n',
     "# the head reads every step's output: nothing is pooled\n"
     "zero_init = true                # the output layer starts at 0: the model starts as its reference forecast\n"
     "                                #   (relative_to) and learns corrections from there\n"),
    ("# The budget in optimizer steps, whatever the size of the data set: epochs = ceil(steps /\n"
     "# steps per epoch), so 40 training series get as many updates as 4000. Or: epochs = 40.\n"
     "steps = 2000\nbatch_size = 16\n",
     "# The budget in optimizer steps (one per window), rounded up to whole passes over the series.\n"
     "steps = 600\n"),
    ('shuffle = "samples"             # samples | batches | none\nshuffle_within_batch = false\n'
     "stateful_window = 0             # > 0: truncated BPTT over windows of this many input steps (before the front-end)\n", ""),
    ('patience = 0                    # epochs without improvement; 0: train the whole budget\n'
     'monitor = "val_loss"            # any validation metric of the task: val_loss | val_acc\n',
     'patience = 30                   # epochs without improvement; the best validation epoch\'s weights are tested\n'
     'monitor = "val_mase"            # any validation metric of the task: val_loss | val_rmse | val_mae | val_mase\n'),
)

_REGRESSION_EDITS = (
    ('kind = "classification"         # a class label per sequence | "regression": values per sequence '
     '(rnnlab init --task regression)',
     'kind = "regression"             # values per sequence, scored by RMSE in the data\'s units | "classification"'),
    ("val_loss | val_acc", "val_loss | val_rmse | val_mae | val_r2"),
)

#: Values per sequence: the bundled sets (a hundred noisy series) overfit within tens of epochs,
#: their validation error rising from there on (docs/tasks.md, "The regression template"): stop on it and
#: keep the best epoch's weights; and on so few series the epoch kept can be one that does worse than
#: the training mean: the mean guard (rnnlab.train.mean_guard).
_SEQUENCE_REGRESSION_EDITS = (
    ('\ndataset = "GunPoint"\n', '\ndataset = "Covid3Month"\n'),
    ("y [N] (labels)", "y [N] or [N, K] (float target values)"),
    ("a label column plus one column per time step", "a target column (or K) plus one column per time step"),
    ('# label_column = "label"        # .csv only',
     '# target_column = "target"      # .csv only: the column of the values (a list: K values)'),
    ('kind = "regression"             # values per sequence, scored by RMSE in the data\'s units | "classification"\n',
     'kind = "regression"             # values per sequence, scored by RMSE in the data\'s units | "classification"\n'
     'mean_guard = true               # predict the training mean unless the model beats it on the validation part\n'
     '                                #   by more than its noise (the run says which; docs/tasks.md)\n'),
    ("patience = 0                    # epochs without improvement; 0: train the whole budget",
     "patience = 20                   # epochs without improvement (0: train the whole budget); the best epoch's weights are kept"),
)

#: Values per step: the kind line's comment (after :data:`_REGRESSION_EDITS` wrote it for values per sequence).
_PER_STEP_REGRESSION_KIND = (
    ('kind = "regression"             # values per sequence, scored by RMSE',
     'kind = "regression"             # values (per_step: at every step), scored by RMSE'),
)

#: What a per-step template changes in :data:`TEMPLATE`: the task, a data set with a label at
#: every step, a front-end that keeps the length (no pooling), and a head without pooling.
_PER_STEP_EDITS = (
    ("\n\n[data]\n", "\nper_step = true                 # a target at every step: y [N, T] "
                    "(rnnlab init --task per-step-classification)\n\n[data]\n"),
    ('# A bundled data set (list them with `rnnlab datasets`): UCR/UEA names such as "GunPoint",\n'
     '# "BasicMotions", "JapaneseVowels" (variable length), or "digits_rows" / "digits_pixels".\n'
     'dataset = "GunPoint"\n',
     "# A bundled data set with a label at every step (generated: the symbol 5 steps back).\n"
     'dataset = "delayed_copy"\n'),
    ("#   .npz with X [N, T, C] (float; aeon's [N, C, T]: save X.transpose(0, 2, 1)), y [N] (labels), optional lengths [N]\n"
     "#   .csv, comma-separated with a header row, one sequence per row: a label column plus one column per time step\n",
     "#   .npz with X [N, T, C] (float), y [N, T] (a label per step), optional lengths [N]\n"
     "#   (targets past a sequence's length are padding: never scored)\n"),
    ('# label_column = "label"        # .csv only\n', ""),
    ("val_fraction = 0.2              # held out from the training split, stratified\n",
     "val_fraction = 0.2              # sequences held out from the training split, stratified on each one's rarest class\n"),
    ("# fully convolutional front-ends of LSTM-FCN: they find local shapes, and pooling shortens long\n"
     "# series for the LSTM. Delete the blocks to feed the LSTM the raw series. A single strided conv:\n"
     "#   [model.frontend]\n#   channels = 32\n#   kernel_size = 5\n#   stride = 2\n",
     "# fully convolutional front-ends of LSTM-FCN: they find local shapes. Per step, every block keeps\n"
     "# the length (stride 1, pool 1, an odd kernel_size), so that each output lines up with its target.\n"
     '# Look-ahead: centred kernels read 6 later steps here, normalize = "per_series" all of them (docs/per_step.md)\n'),
    ("pool = 2                        # max-pool over 2 steps: half the length\n", ""),
    ('norm = "batch"\npool = 2\n', 'norm = "batch"\n'),
    ("# stride = 1                    # per block; activation", "# per block: activation"),
    ('pooling = "mean"                # mean | last | max | mean_max: the recurrent outputs over valid steps, or the final state\n'
     'frontend_pooling = "mean"       # "mean": join the front-end\'s mean features (LSTM-FCN head) | "max" | "mean_max" | "none"\n',
     "# per step the head reads every step's output: nothing is pooled\n"),
    ("stateful_window = 0             # > 0: truncated BPTT over windows of this many input steps (before the front-end)\n",
     "stateful_window = 0             # > 0: truncated BPTT over windows of this many input steps (before the front-end; targets cut with them)\n"),
)

#: Per-step values: the generated adding problem (applied before :data:`_REGRESSION_EDITS`).
_PER_STEP_VALUES = (
    ("sequences held out from the training split, stratified on each one's rarest class\n",
     "sequences held out from the training split, a seeded random draw\n"),
    ("# A bundled data set with a label at every step (generated: the symbol 5 steps back).\n"
     'dataset = "delayed_copy"\n',
     "# A bundled data set with values at every step (generated: the adding problem's running sum).\n"
     'dataset = "adding_problem"\n'),
    ("y [N, T] (a label per step)", "y [N, T] or [N, T, K] (values per step)"),
    ("y [N, T] (rnnlab init --task per-step-classification)", "y [N, T] (rnnlab init --task per-step-regression)"),
    # Values per step are in the input's units (a sum of inputs, a clean copy of the input):
    # each series' own scaling would hide them.
    ('normalize = "per_series"        # each series to mean 0, std 1 | "per_channel" (fitted on the training part) | "none"',
     'normalize = "per_channel"       # fitted on the training part | "per_series": each series to mean 0, std 1 | "none"'),
    ("series_scale = true             # per_series: each series' level and scale join the input as channels",
     "series_scale = false            # per_series: each series' level and scale join the input as channels"),
    # A value held over hundreds of steps (the adding problem's sum) drifted in evaluation: the
    # per-step running statistics of recurrent batch norm, each from batches of 16, are too noisy
    # for an output read in the data's units; and at 3e-3 it was still learning after 2000
    # steps (docs/per_step.md, "The template").
    ("recurrent_batch_norm = true     # gate inputs batch-normalized per step (Cooijmans et al.)",
     "recurrent_batch_norm = false    # per-step values: its per-step running statistics blur a held value"),
    ("\nlr = 3e-3\n", "\nlr = 1e-2                       # per-step values: held over many steps, learnt faster at 1e-2\n"),
)


#: ``rnnlab init --task language_model`` (docs/language_models.md): a character-level LSTM
#: language model with AWD-LSTM's regularizers, on the bundled text; ``data.path`` points it at
#: a user's text file.
LANGUAGE_MODEL_TEMPLATE = '''\
# rnnlab language model config. Run it with:  rnnlab train THIS_FILE
# then write text with it:                   rnnlab sample runs/python-docs-lstm --prompt "The "
# Every key below is optional except data.dataset / data.path. Unknown keys are errors.

[task]
kind = "language_model"         # the next token at every step; scored by bits per token (val_bpc)

[data]
# Bundled: Python's documentation topics (pydoc_data.topics, ~465 k characters, shipped with Python).
dataset = "python-docs"
# ...or your own UTF-8 text file instead of `dataset` (a relative path is taken from this folder):
# path = "my_text.txt"
tokens = "char"                 # "char": every character | "word": whitespace-separated words, <eos> ending each line that holds a word
# vocab_size = 10000            # words: keep the most frequent (<unk> included); the rest read as <unk>, counted
bptt = 100                      # tokens per window: one optimizer step each; the gradient reaches this far back
streams = 32                    # the text is cut into this many rows (the batch); each row's state carries
                                # from one window to the next through the epoch (reset at each epoch)
test_fraction = 0.1             # the text's tail: the test block, read once at the end
val_fraction = 0.1              # the block before it: validation (the vocabulary comes from the training part)

[model]
layer = "lstm"
hidden_size = 256
embedding_size = 256            # the token embedding (unset: hidden_size)
tie_weights = true              # the decoder shares the embedding's weights (Press & Wolf 2017)
# AWD-LSTM's regularizers (Merity et al. 2017), mild for a short budget:
embedding_dropout = 0.0         # whole tokens dropped from the embedding (AWD-LSTM: 0.1 for words; 0 for characters)
input_dropout = 0.05            # variational dropout on the embedded input
weight_drop = 0.2               # DropConnect on the hidden->hidden weights (AWD-LSTM: 0.5 for long budgets)
recurrent_dropout = 0.0         # variational dropout on the state fed back
zoneout = 0.0                   # units keep their previous value with this probability

[training]
steps = 2000                    # optimizer steps (one per window of streams x bptt tokens)
optimizer = "adamw"
lr = 0.003
weight_decay = 0.0
clip_norm = 1.0                 # clip the gradient norm (long windows make rare large gradients)
ar = 1.0                        # activation regularization: ar * mean(h_t^2) joins the loss (AWD-LSTM: 2)
tar = 1.0                       # temporal AR: tar * mean((h_t - h_{t-1})^2) (AWD-LSTM: 1)
seed = 0

[tracking]
inspect_steps = 400             # the health checks and the gradient through time read this many steps

[search]
trials = 20                     # rnnlab search: the default space adds embedding dropout, AR, TAR and bptt
'''


def dump_config(config: Config) -> str:
    """The resolved config as TOML (every key explicit), as written to RUN_DIR/config.toml.

    >>> c = parse_config(TEMPLATE)
    >>> parse_config(dump_config(c)) == c
    True
    """
    # (without the keys the task does not read, _unread_keys: what is written validates again and
    # records no value the run never used. Not a pydantic serializer: a Ctrl-C raised inside one
    # comes out as a PydanticSerializationError, an "internal error" instead of a stop.)
    data = without_unread_keys(config.model_dump())
    lines: list[str] = []
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in top.items() if v is not None]

    def table(name: str, body: dict[str, Any]) -> None:
        lines.append(f"\n[{name}]")
        subtables = []
        for k, v in body.items():
            if v is None:
                continue
            if isinstance(v, dict) and k in ("frontend", "head", "schedule", "early_stopping"):
                subtables.append((k, v))
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                subtables.append((k, v))
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in subtables:
            if isinstance(v, list):
                for item in v:
                    lines.append(f"\n[[{name}.{k}]]")
                    lines.extend(f"{_toml_key(kk)} = {_toml_value(vv)}" for kk, vv in item.items() if vv is not None)
            else:
                table(f"{name}.{k}", v)

    for k, v in data.items():
        if isinstance(v, dict):
            table(k, v)
    return "\n".join(lines) + "\n"


TEMPLATE = '''\
# rnnlab training config. Run it with:  rnnlab train THIS_FILE
# Every key below is optional except data.dataset / data.path; the values shown are examples
# (defaults are noted where they differ). Unknown keys are errors.

# name = "my-run"               # default: the data set and the layer, e.g. "GunPoint-lstm"

[task]
kind = "classification"         # a class label per sequence | "regression": values per sequence (rnnlab init --task regression)

[data]
# A bundled data set (list them with `rnnlab datasets`): UCR/UEA names such as "GunPoint",
# "BasicMotions", "JapaneseVowels" (variable length), or "digits_rows" / "digits_pixels".
dataset = "GunPoint"
# ...or your own file instead of `dataset`:
#   .npz with X [N, T, C] (float; aeon's [N, C, T]: save X.transpose(0, 2, 1)), y [N] (labels), optional lengths [N]
#   .csv, comma-separated with a header row, one sequence per row: a label column plus one column per time step
# path = "my_sequences.npz"     # a relative path is taken from this file's folder
# test_path = "my_test_sequences.npz"
# label_column = "label"        # .csv only
val_fraction = 0.2              # held out from the training split, stratified
normalize = "per_series"        # each series to mean 0, std 1 | "per_channel" (fitted on the training part) | "none"
series_scale = true             # per_series: each series' level and scale join the input as channels

[model]
layer = "lstm"                  # lstm | gru | rnn | indrnn
hidden_size = 64
num_layers = 1
bidirectional = false
bias = true
input_noise = 0.0               # Gaussian noise (this std, in normalized units) on the input while training
# Regularizers of the layer (all off in rnnlab.LSTM; this template turns three on):
dropout = 0.0                   # between stacked layers
input_dropout = 0.0             # variational dropout on the layer input
recurrent_dropout = 0.1         # variational dropout on the hidden state fed back
weight_drop = 0.0               # DropConnect on the hidden->hidden weights
zoneout = 0.1                   # units keep their previous value with this probability
layer_norm = false
recurrent_batch_norm = true     # gate inputs batch-normalized per step (Cooijmans et al.)
# batch_norm_steps = 512        # recurrent_batch_norm: steps with their own statistics
residual = false                # stacked layers only
# between_layers_norm = "batch" # stacked layers: batch (or "layer") norm of what each passes up
unit_forget_bias = true         # lstm only: forget-gate bias 1
# input_dropout_mode = "variational"   # or "step": a new mask at every step
# activation = "tanh"
# recurrent_activation = "sigmoid"
# nonlinearity = "relu"         # rnn only (torch's argument)
# kernel_init = "xavier_uniform"
# recurrent_init = "orthogonal"
# recurrent_constraint = { kind = "max_norm", value = 3.0 }   # or "unit_norm", "non_neg"
# kernel_constraint = { kind = "max_norm", value = 3.0 }
# bias_constraint = { kind = "non_neg" }

# Conv blocks before the recurrent layer (Conv1d -> norm -> activation -> max-pool), as in the
# fully convolutional front-ends of LSTM-FCN: they find local shapes, and pooling shortens long
# series for the LSTM. Delete the blocks to feed the LSTM the raw series. A single strided conv:
#   [model.frontend]
#   channels = 32
#   kernel_size = 5
#   stride = 2
[[model.frontend.blocks]]
channels = 64
kernel_size = 7
norm = "batch"                  # batch | layer | none (batch statistics skip padded steps)
[[model.frontend.blocks]]
channels = 64
kernel_size = 5
dilation = 2                    # taps 2 steps apart: the kernel spans 9 steps (wider shapes, as many weights)
norm = "batch"
pool = 2                        # max-pool over 2 steps: half the length
[[model.frontend.blocks]]
channels = 64
kernel_size = 3
dilation = 4
norm = "batch"
pool = 2
# stride = 1                    # per block; activation = "relu" | "tanh" | "gelu" | "none"

[model.head]
pooling = "mean"                # mean | last | max | mean_max: the recurrent outputs over valid steps, or the final state
frontend_pooling = "mean"       # "mean": join the front-end's mean features (LSTM-FCN head) | "max" | "mean_max" | "none"
hidden = 0                      # 0: one linear layer
dropout = 0.0

[training]
# The budget in optimizer steps, whatever the size of the data set: epochs = ceil(steps /
# steps per epoch), so 40 training series get as many updates as 4000. Or: epochs = 40.
steps = 2000
batch_size = 16
optimizer = "adamw"             # adamw | nadamw | sgdw | adam | sgd
lr = 3e-3
weight_decay = 1e-2             # decoupled; biases and norm parameters are not decayed
clip_norm = 1.0                 # global norm; the pre-clip norm is recorded either way
on_nonfinite = "error"          # NaN/inf gradients: "error" (stop, naming them) or "skip" the step
seed = 0
# threads = 1                   # torch threads (default: measured, see timing.json)
device = "auto"                 # auto (the GPU when there is one) | cpu | cuda | cuda:N
precision = "32"                # 32 | bf16 (bfloat16 autocast)
# checkpoint_every = 60         # seconds between checkpoints (and after the first and last epoch)
shuffle = "samples"             # samples | batches | none
shuffle_within_batch = false
stateful_window = 0             # > 0: truncated BPTT over windows of this many input steps (before the front-end)

# Per-component rules (rnnlab.param_groups), first match wins. Select by role (kernel |
# recurrent | bias | norm | embedding | other, or a list) and/or a regex on the parameter name.
[[training.decay_rules]]
role = "recurrent"
weight_decay = 1e-3             # at lr 3e-3 over 2000 steps: under 1 % of shrink (a run's start says what it
                                #   gives there); as the benchmarks measured it; 1.8e-2 shrinks 10 % (docs/regularization.md)
# [[training.decay_rules]]
# name = "^head\\."
# weight_decay = 0.0
# lr_mult = 0.5

[training.schedule]
kind = "cosine"                 # constant | cosine | cosine_restarts | step (over all steps)
warmup_steps = 50               # linear warm-up (or warmup_epochs)
min_lr = 1e-5

[training.early_stopping]
patience = 0                    # epochs without improvement; 0: train the whole budget
monitor = "val_loss"            # any validation metric of the task: val_loss | val_acc

[tracking]
weights_every = 10              # optimizer steps between weight-norm records (0: never)
grads_every = 10                # ... between gradient-norm records (0: never)
# params = ["rnn.*"]            # which parameters (default: all)
norms = ["l2"]                  # l1 | l2 | linf
per_channel = true              # per-channel norm vectors, not only mean/max
health = true                   # health checks before training (health.json)
grad_through_time = true        # |dLoss/dh_t| per step after training, for the report
inspect_steps = 4096            # the health checks and grad_through_time look at the first 4096 steps of a series

[adapt]
# Rules that read the training split (never the test split) instead of the fixed values above,
# for data unlike the sets this template was tuned on (docs/template.md). What they decide is
# printed when the run starts, recorded in RUN_DIR/adapt.json, and config.toml holds the result.
shape = true                    # from the training split's shape, raising (never lowering, but the pooling
                                #   of a short series, lowered until the LSTM runs at least 6 steps or
                                #   all there are) the values above:
                                #   no hold-out when it would hold fewer than 5 series of the smallest
                                #   class (0.2 of fewer than 23: the hold-out chooses nothing here, the
                                #   last epoch's weights are kept); training.steps gives every class at
                                #   least 3200 batch slots (steps * batch_size / classes: 40 classes ->
                                #   8000 steps);
                                #   the last pooling block pools more (x2 at a time) until the LSTM
                                #   runs at most 250 steps (a series of 2000 steps: pool x8); when a class
                                #   has fewer than 4 series, the head's "mean" becomes "mean_max" (the mean
                                #   and the maximum over time; not where random front-ends place fewer
                                #   series by class with the maximum: peaks of each series' own; with
                                #   larger classes only where they place a tenth more: a short motif) and the
                                #   head also reads each series' level and scale, those within their
                                #   sampling error set to 0 (data.series_scale = "informative",
                                #   model.head.input_pooling = "mean"), and, unless the series are smooth
                                #   (step noise below 0.05 of their std), noise joins the input while
                                #   training (model.input_noise raised to adapt.input_noise: the model
                                #   cannot memorise each series' noise);
                                #   if then a series' level or scale alone tells the classes apart,
                                #   model.head.dropout is raised to adapt.head_dropout, if above 0 (the
                                #   head leans on that summary instead of whichever others differ by chance)
budget = true                   # the budget follows the fit: once every training series (eval mode)
                                #   was right over a tenth of training.steps, a cosine tail as long and
                                #   the run ends (a series wrong again at the tail's end: it goes on to
                                #   the steps it had); at the end of the budget, if training accuracy is below
                                #   0.99 and the training loss still fell (2 % over the last quarter),
                                #   the budget doubles with the learning rate restarted at lr / 2
max_steps = 16000               # the most optimizer steps either rule may give the run
input_noise = 0.2               # the shape rule's model.input_noise for classes of fewer than 4 series
head_dropout = 0.0              # the shape rule's model.head.dropout where the level or scale tells them apart
                                #   (0: off with this template's dilated blocks; 0.5 suited the undilated ones)

[output]
# dir = "runs/my-run"           # default: runs/NAME (NAME as above); `--out` overrides it
'''

