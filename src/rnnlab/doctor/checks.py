"""The health checks: one small function per check, all registered in :data:`CHECKS`.

A check reads :class:`Observations` (what :func:`rnnlab.doctor.diagnose` measured on the
untrained network and over a few training steps) and the :class:`Thresholds`, and returns a list
of :class:`~rnnlab.doctor.findings.Finding` (empty when all is well). A check that has nothing to
look at (no ReLU in the model, no training step run, ...) raises :class:`NotApplicable` with the
reason; the report lists it as skipped.

Example:
    >>> sorted(CHECKS)[:3]
    ['bias_growth', 'dead_relu', 'gate_layout']
    >>> obs = Observations(steps=0, outputs=torch.zeros(4, 3), classification=True)
    >>> [f.title for f in CHECKS["softmax_init"](obs, Thresholds())]
    ['Outputs at initialisation are the same for every sample']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.doctor.findings import Finding
from rnnlab.gates import (
    GATE_ACTIVATIONS,
    GATE_LABELS,
    GATES,
    KEEP_GATE,
    LayerWeights,
    gate_layout_of,
    kind_of,
    layer_weights,
    parse_param_name,
    split_gate_axis,
)
from rnnlab.introspect import stats
from rnnlab.introspect.through_time import held_said
from rnnlab.layers.norm import NORM_TYPES
from rnnlab.layers.recurrent import BUILT_IN_ONLY, Recurrent


class NotApplicable(Exception):
    """Raised by a check that has nothing to examine; the message says why."""


@dataclass(frozen=True)
class Thresholds:
    """Where each check draws the line. Defaults follow common practice; change them per call.

    Attributes:
        softmax_max_prob: mean largest class probability at initialisation above which the
            softmax is called saturated.
        softmax_spread: largest spread (max − min over the batch) of any class log-probability
            below which the outputs are called constant across the batch (log-probabilities, so
            that a saturated softmax is not also called constant).
        dead_info / dead_warning: fraction of a module's ReLU units that never fire on the batch
            above which an info / a warning is given (all units: an error). One batch
            over-counts: units that fire rarely look dead, and right after an RNN at
            initialisation, whose outputs vary little across samples, 20-50% of the ReLU units
            of a default-initialised ``nn.Linear`` are silent on a batch of 32 (10-35% with He
            initialisation and zero biases), hence only an info below "most units".
        gate_open / gate_shut: mean activation of a sigmoid gate unit above / below which the
            unit is stuck open / shut.
        gate_units: fraction of a gate's units that must be stuck for a finding ("most units").
        grad_rel: gradient reach is measured to where |dLoss/dh_t| falls below ``grad_rel`` times
            its value at the last step (the vanishing point).
        short_reach: the gradient reach, as a fraction of the steps the layer runs, under which
            it vanishes (:func:`reach_is_short`; the finding, and the report's verdict on the
            trained curve). Not every step short of the whole sequence: on 12 steps a reach of 11
            leaves one step's input barely shaping the updates, which costs no dependency worth
            a warning, while half of 20 steps (a plain RNN's 0.5 per step) loses ten. Above the
            findings after training's :attr:`rnnlab.doctor.fit.FitThresholds.short_reach`
            (half), the same concept: before training it warns of a recurrence that forgets
            from the start, which training seldom mends in a plain RNN; after training a reach is
            an underfit's cause only where it misses most of the sequence.
        grad_explode: ratio |dLoss/dh_0| / |dLoss/dh_T| above which the gradient explodes.
        bias_rate: relative growth per step of a bias norm above which it counts as fast.
        bias_vs_kernel: how many times faster than the kernel norm a bias norm must grow.
        bias_vs_output: the fraction of its kernels' output scale (the RMS of what they add to a
            unit, for inputs of unit RMS) a fast-growing bias must reach to count: below it the
            offset is small next to what the inputs contribute, however fast it grew from near 0.
        update_low / update_high: healthy range of the update-to-weight ratio
            ||ΔW|| / ||W|| per step (about 1e-3 is typical).
        update_spread: a weight outside that range is an outlier only when its ratio is also more
            than this many times off the ratio the others' rate predicts for its fan-in (an Adam step
            moves each element by about the learning rate, and an initialisation of about
            1/sqrt(fan-in) makes the ratio grow as sqrt(fan-in): a wide first layer is no outlier).
        input_scale: inputs whose root mean square is above this or below its inverse are far from
            normalised data (the ``input_scale`` finding); updates too small for the learning rate
            are then blamed on the input instead.
    """

    softmax_max_prob: float = 0.99
    softmax_spread: float = 1e-3
    dead_info: float = 0.25
    dead_warning: float = 0.5
    gate_open: float = 0.95
    gate_shut: float = 0.05
    gate_units: float = 0.5
    grad_rel: float = 1e-3
    short_reach: float = 0.75
    grad_explode: float = 1e3
    bias_rate: float = 0.05
    bias_vs_kernel: float = 10.0
    bias_vs_output: float = 0.5
    update_low: float = 1e-5
    update_high: float = 1e-1
    update_spread: float = 10.0
    input_scale: float = 100.0


@dataclass
class ReluRecord:
    """Outputs of one ReLU site (module or ReLU recurrent layer), channel axis at ``channel_dim``."""

    module: str
    acts: Tensor
    channel_dim: int = -1


@dataclass
class GateRecord:
    """Gate activations ``[T, B, G*H]`` (after their nonlinearity) of one layer and direction."""

    module: str
    layer: int
    direction: str
    kind: str
    acts: Tensor

    @property
    def where(self) -> str:
        return f"'{self.module}' layer {self.layer} {self.direction}"


@dataclass
class NonFinite:
    """``count`` NaN/inf entries out of ``total`` in ``what`` (e.g. a gradient) at ``phase``;
    ``place``: where the first one is, in words, where that says more than ``what`` (the input
    batch's ``input[3, 10, 0] (sample 3, step 10, channel 0)``)."""

    phase: str
    what: str
    count: int
    total: int
    place: str | None = None


#: :attr:`NonFinite.what` of the input batch, which the health check looks at before the model runs.
INPUT_BATCH = "input batch"
#: :attr:`NonFinite.phase` of the model's parameters and buffers as diagnose was given them, which
#: the health check looks at before anything else (an earlier training that diverged leaves them NaN).
AS_GIVEN = "as given"


@dataclass
class TimeGradient:
    """Mean |dLoss/dh_t| per timestep ``[T]`` (index T-1 = last step) of one recurrent layer.

    ``name`` is how the findings name it (``"'model.rnn' layer 0 forward"``); ``key``, ``layer``
    and ``direction`` say the same as data, when known: the module's key in a
    :func:`rnnlab.introspect.grad_through_time` result (``""`` for a model that is itself the
    layer), the layer (0 = bottom) and ``"forward"``/``"reverse"``
    (:func:`rnnlab.doctor.run.time_gradients` fills them).
    """

    name: str
    per_step: Tensor
    #: the layer (to tailor remedies to what it already uses), when known
    module: nn.Module | None = None
    key: str | None = None
    layer: int | None = None
    direction: str | None = None
    #: a cell of the user's own: its weights split per gate as they were when the curve was
    #: measured (copies; None where its gate_layout declares none that fits). The remedies read the
    #: initialisation from them, not from ``module``, which the diagnostic steps train afterwards.
    weights: LayerWeights | None = None
    #: measured on sequences of different lengths: how many have a step k before their own end,
    #: which ``per_step`` counts back from (:attr:`rnnlab.introspect.GradThroughTime.held`; None:
    #: equally long), said in the findings
    held: Any = None

    @property
    def where(self) -> dict[str, Any]:
        """``{"module": key, "layer": ..., "direction": ...}`` when the key is known, else ``{}``."""
        if self.key is None:
            return {}
        return {"module": self.key, "layer": self.layer, "direction": self.direction}


@dataclass
class ParamTrace:
    """One parameter over the training steps.

    ``norms[k]`` is its L2 norm after ``k`` steps (``norms[0]`` at initialisation),
    ``updates[k]`` the norm of the change made by step ``k+1``; ``grad_max`` the largest
    |gradient| seen at any step (None: the parameter never received a gradient); ``optimized``
    whether a param group of the optimizer holds it (False: no step ever changes it).
    """

    name: str
    shape: tuple[int, ...]
    norms: list[float] = field(default_factory=list)
    updates: list[float] = field(default_factory=list)
    grad_max: float | None = None
    optimized: bool = True

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class OwnCell:
    """A layer that runs cells of the user's own (``rnnlab.Recurrent``), and what their
    ``gate_layout`` declares."""

    module: str
    """The layer's name in the model (``""`` for a model that is the layer)."""
    where: str
    """The layer as the findings name it (``"'rnn'"``)."""
    cells: str
    """The cells' class names (``"MGUCell"``; ``"A/B"`` for two directions of two classes)."""
    declared: bool
    """Whether a cell declares a ``gate_layout``."""
    problem: str | None = None
    """Why that layout does not fit the cell's weights, in the words of
    :func:`rnnlab.introspect.gate_weights`' refusal (None: it fits, or none is declared)."""


@dataclass
class WeightBiasPair:
    """Kernel parameters and the bias parameters that act with them (e.g. one LSTM direction)."""

    where: str
    kernels: list[str]
    biases: list[str]


@dataclass
class Observations:
    """Everything the checks look at, measured by :func:`rnnlab.doctor.diagnose`.

    ``phase`` keys are ``"init"`` (the model as given: the untrained network unless
    :attr:`model_step` says otherwise) and ``"trained"`` (after the diagnostic steps).
    """

    steps: int
    outputs: Tensor | None = None
    classification: bool | None = None
    classification_given: bool = False
    """Whether the caller said ``classification`` (else it was read from the loss)."""
    class_dim: int = -1
    loss_init: float | None = None
    losses: list[float] = field(default_factory=list)
    relu: dict[str, list[ReluRecord]] = field(default_factory=dict)
    gates: dict[str, list[GateRecord]] = field(default_factory=dict)
    gates_skipped: list[str] = field(default_factory=list)
    own_cells: list[OwnCell] = field(default_factory=list)
    """The layers running cells of the user's own, with what their gate_layout declares (the
    ``gate_layout`` check; the ``gates_stuck`` note, which does not read their gates)."""
    nonfinite: list[NonFinite] = field(default_factory=list)
    through_time: list[TimeGradient] = field(default_factory=list)
    through_time_skipped: str = ""
    params: dict[str, ParamTrace] = field(default_factory=dict)
    pairs: list[WeightBiasPair] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    input_scale: float | None = None
    """Root mean square of the finite values of the batch's input (None: not a float tensor)."""
    input_channel_scales: list[float | None] | None = None
    """The same per channel (the last axis of a 3-D input; None: another input, or one channel)."""
    input_channel_names: list[str] | None = None
    """The channels' names where the data names them (a ``.csv``'s columns); None: by index."""
    through_time_loss: str | None = None
    """Which loss :attr:`through_time` follows when not the whole loss: per-step targets, the
    loss at each sequence's last step (:func:`rnnlab.doctor.run.through_time_loss`)."""
    input_tokens: bool = False
    """The model reads its input as token ids through an embedding (a language model): the
    input's scale means nothing."""
    config: bool | KeySpelling = False
    """The model is the one a config.toml describes (``rnnlab train``'s, ``rnnlab doctor``'s):
    the remedies name its config keys, not the Python keywords (:data:`SPELLING`); as the config
    file sets them (True), or as a :class:`KeySpelling` names them (an estimator's keywords and
    ``params``: its caller sets the config through them). A KeySpelling is true, as True is."""
    model_step: int | None = None
    """The optimizer steps the model had taken when it was measured (``diagnose(step=...)``;
    None: not said). Above 0 (or ``model_epoch`` above 0) the ``"init"`` phase is a trained
    model, and the findings say so (:meth:`when`)."""
    model_epoch: int | None = None
    """The epoch the model was at (``diagnose(epoch=...)``; None: not said)."""

    def when(self, phase: str) -> str:
        """When a phase's numbers were measured, in a finding's words.

        >>> Observations(steps=5).when("init"), Observations(steps=5).when("trained")
        ('at initialisation', 'after 5 training steps')
        >>> obs = Observations(steps=5, model_step=500, model_epoch=10)
        >>> obs.when("init"), obs.when("trained")
        ('on the model as given at step 500, epoch 10', 'after 5 more training steps from step 500, epoch 10')
        """
        moment = ", ".join(f"{what} {n}" for what, n in (("step", self.model_step), ("epoch", self.model_epoch))
                           if n is not None)
        if not self.trained_before:
            return "at initialisation" if phase == "init" else f"after {self.steps} training steps"
        if phase == "init":
            return f"on the model as given at {moment}"
        return f"after {self.steps} more training steps from {moment}"

    @property
    def trained_before(self) -> bool:
        """Whether the model had been trained before it was measured (``model_step`` or
        ``model_epoch`` above 0): its first phase is no initialisation."""
        return bool(self.model_step) or bool(self.model_epoch)


Check = Callable[[Observations, Thresholds], list[Finding]]

#: All checks by name, in the order they run.
CHECKS: dict[str, Check] = {}


def register(name: str) -> Callable[[Check], Check]:
    """Add a check to :data:`CHECKS` under ``name``."""

    def add(fn: Check) -> Check:
        if name in CHECKS:
            raise ValueError(f"name: check {name!r} is already registered")
        CHECKS[name] = fn
        return fn

    return add


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


#: What the remedies tell a user to set, spelled for a Python user (a keyword of rnnlab's layers,
#: a torch call) and for a config run (its config.toml key, as ``[model] unit_forget_bias = true``
#: is written ``model.unit_forget_bias = true``). A remedy names each by its key here, once, and
#: :func:`spelled` fills in the spelling that :attr:`Observations.config` asks for.
SPELLING: dict[str, tuple[str, str]] = {
    "lr": ("the learning rate", "training.lr"),
    "lr_groups": ("the per-parameter-group learning rates",
                  "the learning rate multipliers of training.decay_rules (lr_mult)"),
    "bias_lr": ("the learning rate of the bias parameter group",
                'the lr_mult of a [[training.decay_rules]] with role = "bias"'),
    "bias_decay": ("weight decay", 'weight_decay in a [[training.decay_rules]] with role = "bias"'),
    "bias_constraint": ("bias_constraint", "model.bias_constraint"),
    "warmup": ("a warm-up", "a warm-up (training.schedule.warmup_steps)"),
    "clip": ("clip_grad_norm_", "training.clip_norm"),
    "normalize": ("normalise the inputs", 'normalise the inputs (data.normalize = "per_series" or "per_channel")'),
    # (not "data.normalize = ...": "normalize" spells that key, and a spelling names each key once)
    "normalize_channels": ("scale each input channel to mean 0 and standard deviation 1 with the training data's "
                           "statistics before the model sees it",
                           'set data.normalize to "per_channel" (each channel to mean 0 and standard deviation 1, '
                           "fitted on the training part)"),
    "lengthen": ("downsample or pool less before the layer, or feed it longer sequences",
                 "pool less before it (a smaller pool or stride, or fewer pooling [[model.frontend.blocks]]), or "
                 "use longer series"),
    "output_init": ("Scale down the initial weights of the output layer (e.g. multiply by 0.1 or zero its bias)",
                    "Start the output layer at zero (model.head.zero_init = true)"),
    "zero_init": ("", " (model.head.zero_init = true)"),
    "more_steps": ("diagnose(..., steps=2)", "rnnlab doctor --steps 2"),
    "relu_norm": ("LayerNorm before the ReLU", 'norm = "layer" in each [[model.frontend.blocks]]'),
    "relu_other": ("LeakyReLU/ELU/GELU", 'GELU (activation = "gelu" in each [[model.frontend.blocks]])'),
    "gated": ("an LSTM/GRU rather than a plain RNN", 'an LSTM/GRU rather than a plain RNN (model.layer = "lstm" or "gru")'),
    "gated_indrnn": ("an LSTM/GRU rather than an IndRNN",
                     'an LSTM/GRU rather than an IndRNN (model.layer = "lstm" or "gru")'),
    "unit_forget_bias": ("unit_forget_bias=True (or chrono initialisation)", "model.unit_forget_bias = true"),
    "orthogonal": ("recurrent_init='orthogonal'", 'model.recurrent_init = "orthogonal"'),
    "layer_norm": ("layer_norm=True", "model.layer_norm = true"),
    "recurrent_constraint": ("recurrent_constraint", "model.recurrent_constraint"),
    # (a config's keys by task: a stream, a forecaster's or a language model's, refuses the other two)
    "shorten": ("truncated BPTT, downsampling, a strided Conv1d front-end",
                "data.bptt for a forecaster or a language model; for sequences training.stateful_window, or a "
                "strided or pooling [[model.frontend.blocks]] where the targets are not per step"),
}


def spelled(text: str, config: bool | KeySpelling) -> str:
    """A remedy's ``text`` with each ``{key}`` of :data:`SPELLING` in a Python user's spelling
    (``config`` False) or a config run's: as its config file sets the keys (True), or as the
    :class:`KeySpelling` ``config`` names them (an estimator's keywords and ``params``).

    >>> spelled("use {layer_norm}", config=False), spelled("use {layer_norm}", config=True)
    ('use layer_norm=True', 'use model.layer_norm = true')
    >>> spelled("set {unit_forget_bias}", KeySpelling({"model.layer": "layer"}))
    'set params={"model.unit_forget_bias": True}'
    """
    if not config:
        return text.format_map({key: words[0] for key, words in SPELLING.items()})
    say = _said(config)
    return text.format_map({key: say.words(words[1]) for key, words in SPELLING.items()})


#: A key path of the config in a config spelling's words (``training.clip_norm``).
_KEY_PATH = r"\b(?:model|training|data|task|adapt|tracking|output)(?:\.\w+)+"
_TOML_SCALAR = r'true|false|"[^"]*"|-?\d[\w.+-]*'
#: What :meth:`KeySpelling.words` rewrites, first match first: a table of an array of tables
#: (``[[training.decay_rules]]``), a key path set to a value, a field of such a table set to a
#: value (``role = "bias"``), a key path named alone.
_CONFIG_WORDS = re.compile(rf"\[\[(?P<table>{_KEY_PATH})\]\]|(?P<path>{_KEY_PATH}) = (?P<value>{_TOML_SCALAR})"
                           rf"|(?P<field>\b\w+) = (?P<field_value>{_TOML_SCALAR})|(?P<key>{_KEY_PATH})")


def _toml_scalar(text: str) -> Any:
    """A TOML scalar of :data:`SPELLING`'s config spellings as Python's value."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"'):
        return json.loads(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


def _said(config: bool | KeySpelling) -> KeySpelling:
    """The :class:`KeySpelling` of a config run's remedies (``config`` True: a config file's)."""
    return config if isinstance(config, KeySpelling) else KeySpelling()


@dataclass(frozen=True)
class KeySpelling:
    """How a remedy names a key path of the config (:data:`SPELLING`'s config spelling, key by
    key, for the findings that quote a config's values): as a config file sets it
    (``training.steps = 2000``), or, given ``keywords`` (key path to the keyword that sets it: a
    scikit-learn estimator's ``steps`` for ``training.steps``), as that caller sets it: by its
    keyword (``steps=2000``), else through its ``params`` mapping of key paths.

    >>> KeySpelling().set("training.steps", 2000), KeySpelling().set("model.unit_forget_bias", True)
    ('training.steps = 2000', 'model.unit_forget_bias = true')
    >>> est = KeySpelling({"training.steps": "steps"})
    >>> est.set("training.steps", 2000), est.key("adapt.max_steps"), est.set("model.head.pooling", "mean")
    ('steps=2000', 'params["adapt.max_steps"]', 'params={"model.head.pooling": "mean"}')
    """

    keywords: Mapping[str, str] = field(default_factory=dict)

    @property
    def keyworded(self) -> bool:
        """Whether keys are a caller's keywords and ``params`` (else a config file's)."""
        return bool(self.keywords)

    def key(self, path: str) -> str:
        """The key path ``path`` as the reader names it."""
        if not self.keyworded:
            return path
        return self.keywords.get(path) or f'params["{path}"]'

    def value(self, value: Any) -> str:
        """``value`` as the reader writes it: TOML's ``true``, ``"text"`` and ``{ kind = "max_norm" }``,
        or Python's ``True`` and ``{"kind": "max_norm"}``; a list (or tuple) item by item, so that
        a list of tables reads in the one spelling too.

        >>> rules = [{"role": "recurrent", "weight_decay": 0.087}]
        >>> KeySpelling({"training.steps": "steps"}).value(rules), KeySpelling().value(rules)
        ('[{"role": "recurrent", "weight_decay": 0.087}]', '[{ role = "recurrent", weight_decay = 0.087 }]')
        """
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.value(v) for v in value) + "]"
        if isinstance(value, Mapping):
            if self.keyworded:
                return "{" + ", ".join(f"{json.dumps(k)}: {self.value(v)}" for k, v in value.items()) + "}"
            return "{ " + ", ".join(f"{k} = {self.value(v)}" for k, v in value.items()) + " }"
        if isinstance(value, bool):
            return str(value) if self.keyworded else str(value).lower()
        if isinstance(value, str):
            return json.dumps(value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    def set(self, path: str, value: Any) -> str:
        """Setting ``path`` to ``value``, as the reader writes it."""
        if not self.keyworded:
            return f"{path} = {self.value(value)}"
        if path in self.keywords:
            return f"{self.keywords[path]}={self.value(value)}"
        return f'params={{"{path}": {self.value(value)}}}'

    def words(self, text: str) -> str:
        """``text`` in a config file's words (a config spelling of :data:`SPELLING`) in the
        reader's: each key path, key path set to a value, and table of an array of tables
        (``[[training.decay_rules]]``, one of its list's entries) with its fields.

        >>> est = KeySpelling({"model.layer": "layer"})
        >>> est.words('model.layer = "gru" or training.clip_norm')
        'layer="gru" or params["training.clip_norm"]'
        >>> est.words('weight_decay in a [[training.decay_rules]] with role = "bias"')
        'weight_decay in a params["training.decay_rules"][i] with "role": "bias"'
        >>> KeySpelling().words('model.layer = "gru"')
        'model.layer = "gru"'
        """
        if not self.keyworded:
            return text

        def said(m: re.Match[str]) -> str:
            if m["table"]:
                return f"{self.key(m['table'])}[i]"
            if m["path"]:
                return self.set(m["path"], _toml_scalar(m["value"]))
            if m["field"]:
                return f'"{m["field"]}": {self.value(_toml_scalar(m["field_value"]))}'
            return self.key(m["key"])

        return _CONFIG_WORDS.sub(said, text)


# --- inputs -------------------------------------------------------------------------------------


def _far_input_scale(obs: Observations, th: Thresholds) -> float | None:
    """The input's root mean square when it is far from unit scale (outside ``[1 / th.input_scale,
    th.input_scale]``), else None."""
    scale = obs.input_scale
    if scale is not None and scale > 0 and not 1 / th.input_scale <= scale <= th.input_scale:
        return scale
    return None


@register("input_scale")
def input_scale(obs: Observations, th: Thresholds) -> list[Finding]:
    """Inputs far from unit scale (root mean square above ``th.input_scale`` or below its inverse).

    >>> [f.remedy for f in input_scale(Observations(steps=0, input_scale=7e5, config=True), Thresholds())]
    ['Set data.normalize to "per_channel" (each channel to mean 0 and standard deviation 1, fitted on the training part).']
    >>> obs = Observations(steps=0, input_scale=4030.0, input_channel_scales=[0.7, 9870.0, 1e-3],
    ...                    input_channel_names=["acc_x", "acc_z", "gyro_y"])
    >>> input_scale(obs, Thresholds())[0].title
    'Inputs far from unit scale: root mean square 4.03e+03 (acc_z: 9.87e+03, gyro_y: 0.001)'
    >>> input_scale(Observations(steps=0, input_scale=0.8), Thresholds())
    []
    """
    if obs.input_tokens:
        raise NotApplicable("the input is token ids, which an embedding reads")
    if obs.input_scale is None:
        raise NotApplicable("the input is not a floating-point tensor")
    scale = _far_input_scale(obs, th)
    remedy = spelled("{normalize_channels}", obs.config)
    if scale is None:
        return _far_channels(obs, th, remedy)
    # (which channels make the input far from unit scale, where there are several: the ones to rescale)
    far = _far_channel_scales(obs, th) if len(obs.input_channel_scales or []) > 1 else []
    named = " (" + ", ".join(f"{_channel_name(obs, i)}: {_fmt(v)}" for i, v in far[:5]) + (
        f" and {len(far) - 5} more" if len(far) > 5 else "") + ")" if far else ""
    return [
        Finding(
            check="input_scale",
            severity="warning",
            title=f"Inputs far from unit scale: root mean square {_fmt(scale)}{named}",
            numbers={"input_scale": scale, "healthy_range": [1 / th.input_scale, th.input_scale],
                     **({"channels": [_channel_name(obs, i) for i, _ in far], "channel_scales": [v for _, v in far]}
                        if far else {})},
            message=(
                f"The batch's inputs have a root mean square of {_fmt(scale)} (normalised data: about 1)"
                + (f"; per channel (the last axis), far from unit scale: {named[2:-1]}. " if far else ". ")
                + ("Inputs that large drive the units they feed into saturation (tanh and sigmoid at ±1 or 0), "
                   "and a channel far smaller than another is lost next to it"
                   if scale > 1 else "Inputs that small leave the units they feed next to nothing")
                + ": the gradient reaching the weights is (almost) zero, and a larger learning rate does not help."
            ),
            remedy=remedy[0].upper() + remedy[1:] + ".",
        )
    ]


def _far_channel_scales(obs: Observations, th: Thresholds) -> list[tuple[int, float]]:
    """(index, root mean square) of each input channel outside ``[1 / th.input_scale,
    th.input_scale]``; channels that are 0 throughout are left out."""
    return [(i, v) for i, v in enumerate(obs.input_channel_scales or [])
            if v is not None and v > 0 and not 1 / th.input_scale <= v <= th.input_scale]


def _channel_name(obs: Observations, i: int) -> str:
    """Input channel ``i`` as the data names it (``acc_z``), else by index (``channel 2``)."""
    names = obs.input_channel_names or []
    return names[i] if i < len(names) and names[i] else f"channel {i}"


def _far_channels(obs: Observations, th: Thresholds, remedy: str) -> list[Finding]:
    """Channels far from unit scale where the input as a whole is not: one channel of a thousand
    next to channels of about 1 dominates the first layer's sums, and one of a thousandth is lost
    beside them, while their pooled root mean square can look normalised. Channels that are 0
    throughout (padding, an unused indicator) are left out.

    >>> obs = Observations(steps=0, input_scale=7.1, input_channel_scales=[1.0, 0.9, 1e-3, 10.0])
    >>> [f.title for f in _far_channels(obs, Thresholds(), "Normalise.")]
    ['Input channel far from unit scale: channel 2, root mean square 0.001']
    """
    scales = obs.input_channel_scales or []
    far = _far_channel_scales(obs, th)
    if not far:
        return []
    usual = sorted(v for v in scales if v is not None and v > 0)
    median = usual[len(usual) // 2]
    shown = ", ".join(f"{_channel_name(obs, i)} ({_fmt(v)})" for i, v in far[:5]) + (
        f" and {len(far) - 5} more" if len(far) > 5 else "")
    title = (f"Input channel far from unit scale: {_channel_name(obs, far[0][0])}, root mean square "
             f"{_fmt(far[0][1])}" if len(far) == 1 else f"{len(far)} input channels far from unit scale")
    return [
        Finding(
            check="input_scale",
            severity="warning",
            title=title,
            numbers={"channels": [i for i, _ in far], "channel_scales": [v for _, v in far],
                     "median_channel_scale": median, "healthy_range": [1 / th.input_scale, th.input_scale]},
            message=(
                f"Root mean square per input channel (the last axis): {shown}, against a median of {_fmt(median)} over "
                f"the {len(usual)} channels that are not 0 throughout. A channel that large dominates the sums of the units "
                "it feeds and saturates them; one that small is lost next to the others, and its weights get (almost) "
                "no gradient."
            ),
            remedy=remedy[0].upper() + remedy[1:] + ".",
        )
    ]


# --- outputs at initialisation ---------------------------------------------------------------


def _log_probabilities(out: Tensor, class_dim: int) -> Tensor:
    """Class log-probabilities ``[N, C]`` from logits, log-probabilities or probabilities."""
    x = out.detach().to(torch.float64).movedim(class_dim, -1)
    x = x.reshape(-1, x.shape[-1])
    x = x[torch.isfinite(x).all(dim=1)]
    sums = x.sum(dim=1)
    if x.numel() and bool(
        (x >= 0).all() and (x <= 1).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-4)
    ):
        return x.clamp_min(1e-300).log()  # already probabilities (a model ending in softmax)
    # log_softmax(log p) = log p, so log-probabilities (log_softmax + NLLLoss) land here too.
    return torch.log_softmax(x, dim=1)


@register("softmax_init")
def softmax_init(obs: Observations, th: Thresholds) -> list[Finding]:
    """Softmax outputs of the untrained network saturated (one class ≈ 1) or the same for all inputs."""
    if obs.outputs is None or not obs.classification:
        # (advice to pass classification=True only where the loss decided: a caller that said
        # False, as rnnlab train does for a task of values, knows)
        raise NotApplicable("the outputs are values, not class scores" if obs.classification_given else
                            "the outputs are not class scores (in Python: diagnose(..., classification=True) "
                            "if they are)")
    logp = _log_probabilities(obs.outputs, obs.class_dim)
    p = logp.exp()
    n, c = p.shape
    if n == 0:
        raise NotApplicable("no sample had finite outputs (see the non-finite finding)")
    if c < 2:
        raise NotApplicable(f"the outputs have {c} class, a softmax needs at least 2")
    found = []
    max_prob = p.max(dim=1).values
    mean_max = float(max_prob.mean())
    # (a trained model is meant to be confident: saturation is a fault of an untrained one only)
    if mean_max > th.softmax_max_prob and not obs.trained_before:
        found.append(
            Finding(
                check="softmax_init",
                severity="warning",
                title="Softmax saturated at initialisation",
                numbers={
                    "mean_max_prob": mean_max,
                    "fraction_samples_saturated": float(
                        (max_prob > th.softmax_max_prob).double().mean()
                    ),
                    "classes": c,
                    "samples": n,
                    "threshold": th.softmax_max_prob,
                    "uniform_loss": math.log(c),
                    "loss_init": obs.loss_init,
                },
                message=(
                    f"Before any training the network already gives one class a probability of "
                    f"{_fmt(mean_max)} on average (a fresh network should be close to 1/{c} = "
                    f"{_fmt(1 / c)}). The softmax is saturated: its gradient is tiny for the "
                    f"confident class, and every wrong guess starts with a huge loss."
                ),
                remedy=spelled(
                    "{output_init}, {normalize}, and check that the logits are not passed through "
                    "an extra scale or exp.", obs.config
                ),
            )
        )
    if n >= 2:
        spread = float((logp.max(dim=0).values - logp.min(dim=0).values).max())
        if spread < th.softmax_spread:
            found.append(
                Finding(
                    check="softmax_init",
                    severity="warning",
                    title=f"Outputs {obs.when('init')} are the same for every sample",
                    numbers={
                        "max_spread": spread,
                        "samples": n,
                        "classes": c,
                        "threshold": th.softmax_spread,
                        "mean_probs": p.mean(dim=0).tolist(),
                    },
                    message=(
                        f"Over {n} different samples no class log-probability moves by more than "
                        f"{_fmt(spread)}: the output ignores the input. Either the input never "
                        "reaches the output (zero weights, saturated or dead units upstream) or the "
                        "output layer is zero-initialised."
                    ),
                    remedy=spelled(
                        "Check the initialisation of the layers before the output (no all-zero "
                        "weights unless intended), {normalize}, and look at the dead-unit "
                        "and gate findings. If you zero-initialised the output layer on purpose{zero_init}, "
                        "ignore this.", obs.config
                    ),
                )
            )
    return found


# --- units --------------------------------------------------------------------------------------


def _dead_units(acts: Tensor, channel_dim: int) -> list[int]:
    per_unit = acts.movedim(channel_dim, 0).reshape(acts.shape[channel_dim], -1)
    return torch.nonzero(~(per_unit > 0).any(dim=1)).flatten().tolist()


@register("dead_relu")
def dead_relu(obs: Observations, th: Thresholds) -> list[Finding]:
    """ReLU units that never activate over the whole batch (and all timesteps)."""
    if not any(obs.relu.values()):
        raise NotApplicable("no ReLU module or ReLU recurrent layer was called")
    per_module: dict[str, dict[str, tuple[float, list[int], int, int]]] = {}
    for phase, records in obs.relu.items():
        for r in records:
            frac = stats.dead_fraction(r.acts, threshold=0.0, channel_dim=r.channel_dim)
            units = r.acts.shape[r.channel_dim]
            per_module.setdefault(r.module, {})[phase] = (
                frac,
                _dead_units(r.acts, r.channel_dim),
                units,
                r.acts.numel() // max(units, 1),
            )
    found = []
    for module, phases in per_module.items():
        worst = max(phases, key=lambda ph: phases[ph][0])
        frac, dead, units, values = phases[worst]
        if frac <= th.dead_info:
            continue
        severity = "error" if frac >= 1.0 else "warning" if frac > th.dead_warning else "info"
        when = obs.when(worst)
        found.append(
            Finding(
                check="dead_relu",
                severity=severity,
                title=f"{_pct(frac)} of ReLU units in '{module}' never activate ({when})",
                numbers={
                    **{f"dead_fraction_{ph}": v[0] for ph, v in phases.items()},
                    "units": units,
                    "dead_units": dead[:50],
                    "values_per_unit": values,
                    "info_above": th.dead_info,
                    "warning_above": th.dead_warning,
                },
                message=(
                    f"{len(dead)} of {units} units output 0 for all {values} values (samples × "
                    "timesteps) of the batch. A ReLU that never fires passes no gradient, so it "
                    "cannot learn its way back: that part of the layer is wasted"
                    + (" and nothing flows through it." if frac >= 1.0 else ".")
                    + (
                        " Some silent units are normal right after an RNN at initialisation, whose "
                        "outputs vary little across samples."
                        if severity == "info" and not obs.trained_before
                        else ""
                    )
                ),
                remedy=spelled(
                    "Lower {lr}, check the initialisation (He/Kaiming for ReLU, biases "
                    "not strongly negative, or zero biases before the ReLU), {normalize} "
                    "({relu_norm}), or use {relu_other}.", obs.config
                ),
            )
        )
    return found


# (the built-in gated kinds' sigmoid gates, as the one gate registry says: LSTM i, f, o; GRU r, z)
_SIGMOID_GATES = {kind: tuple(g for g, a in GATE_ACTIVATIONS[kind].items() if a == "sigmoid") for kind in ("lstm", "gru")}

#: For the gate of each built-in gated kind that keeps the state (:data:`rnnlab.gates.KEEP_GATE`):
#: what opens it on purpose, and what else it does when open. ``gates_stuck`` calls it held open a
#: note, not a fault.
_KEPT_OPEN: dict[str, tuple[str, str]] = {
    "lstm": ("unit_forget_bias, chrono initialisation", ""),
    "gru": ("chrono initialisation of its bias", " While it is open the layer writes little of each new "
            "candidate (1 − z of it), so the candidate's and the reset gate's weights learn slowly until it closes."),
}


def _keeps_state(kind: str, stuck: list[tuple[str, float, float]]) -> bool:
    """Whether the only gate ``stuck`` in a layer of ``kind`` is the one that keeps the state,
    held open for all of its stuck units (:data:`rnnlab.gates.KEEP_GATE`).

    >>> _keeps_state("gru", [("z", 0.88, 0.0)]), _keeps_state("gru", [("z", 0.5, 0.3)]), _keeps_state("lstm", [("i", 0.9, 0.0)])
    (True, False, False)
    """
    keep = KEEP_GATE.get(kind, "")
    return all(g == keep and shut == 0.0 for g, _, shut in stuck)


def _stuck_gates(
    r: GateRecord, th: Thresholds
) -> tuple[dict[str, Tensor], dict[str, dict[str, float]], list[tuple[str, float, float]]]:
    """The gates of one record split by gate, each sigmoid gate's numbers, and the gates stuck
    open or shut for more than ``th.gate_units`` of their units: ``(gate, open, shut)``."""
    split = split_gate_axis(r.acts, r.kind, dim=-1)
    numbers, stuck = {}, []
    for g in _SIGMOID_GATES[r.kind]:
        unit_mean = split[g].reshape(-1, split[g].shape[-1]).to(torch.float64).mean(dim=0)
        open_, shut = (
            float((unit_mean > th.gate_open).double().mean()),
            float((unit_mean < th.gate_shut).double().mean()),
        )
        numbers[g] = {
            "mean": float(unit_mean.mean()),
            "fraction_units_open": open_,
            "fraction_units_shut": shut,
            "saturated_fraction": stats.saturation_fraction(split[g], "sigmoid", th.gate_shut),
        }
        if open_ + shut > th.gate_units:
            stuck.append((g, open_, shut))
    return split, numbers, stuck


@dataclass(frozen=True)
class BlockedGate:
    """A sigmoid gate of one layer of the untrained network stuck for most of its units in a way
    that blocks information and its own gradient (an LSTM forget gate held open does not)."""

    where: str
    """The layer as the findings name it (``"'rnn' layer 0 forward"``, :attr:`GateRecord.where`)."""
    kind: str
    gate: str
    state: str
    """``"shut"`` or ``"open"``."""
    fraction: float
    """Fraction of the gate's units stuck in that state."""
    numbers: dict[str, float]
    """The gate's numbers as ``gates_stuck`` reports them (mean activation, fractions)."""
    units: int

    def __str__(self) -> str:
        return f"{GATE_LABELS[self.gate]} {self.state} for {_pct(self.fraction)} of units in {self.where}"


def _blocked_gates(obs: Observations, th: Thresholds) -> dict[str, BlockedGate]:
    """The first blocking gate of each layer of the untrained network, by :attr:`BlockedGate.where`."""
    found: dict[str, BlockedGate] = {}
    for r in obs.gates.get("init", []):
        if r.kind not in _SIGMOID_GATES or r.where in found:
            continue
        split, numbers, stuck = _stuck_gates(r, th)
        blocking = [(g, o, c) for g, o, c in stuck if not _keeps_state(r.kind, [(g, o, c)])]
        if blocking:
            g, o, c = blocking[0]
            found[r.where] = BlockedGate(r.where, r.kind, g, "shut" if c >= o else "open", max(o, c), numbers[g],
                                         int(split[g].shape[-1]))
    return found


def _layer_of(obs: Observations) -> dict[str, str]:
    """Parameter name -> the recurrent layer it belongs to, named as :attr:`GateRecord.where`
    names it (``run._pairs`` names each layer's weight-bias pair the same way)."""
    return {n: pair.where for pair in obs.pairs for n in (*pair.kernels, *pair.biases)}


def _gate_remedy(b: BlockedGate, obs: Observations) -> str:
    """What to change for a gate blocked at initialisation: its bias first (the usual cause), with
    the rows of the stacked bias that hold it when the layer's biases are known."""
    label = GATE_LABELS[b.gate]
    pair = next((p for p in obs.pairs if p.where == b.where), None)
    start = GATES[b.kind].index(b.gate) * b.units
    rows = (f" (rows {start}:{start + b.units} of {' and '.join(pair.biases)})"
            if pair is not None and pair.biases else "")
    sign = "negative" if b.state == "shut" else "positive"
    if b.kind == "lstm" and b.gate == "f":
        reset = f"Set the forget gate's bias of {b.where}{rows} to 1 (" + spelled("{unit_forget_bias})", obs.config)
    else:
        reset = f"Reset the bias of the {label} of {b.where}{rows} to about 0"
    return (reset
            + f" (check the gate biases: a large {sign} bias pins a gate {b.state}), "
            + spelled("lower the initial weights that feed it, {normalize} or use {layer_norm}.", obs.config))


def _gate_message(b: BlockedGate, names: list[str], th: Thresholds, obs: Observations) -> str:
    """Why a blocked gate starves ``names`` (parameters of its layer) of gradient."""
    label, n = GATE_LABELS[b.gate], b.numbers
    through = (" and holds the layer's output h at about 0 (nothing reaches the loss through this layer)"
               if (b.gate, b.state) == ("o", "shut") else "")
    return (f"{obs.when('init').capitalize()} the {label} of {b.where} is {b.state} for {_pct(b.fraction)} of its units (mean "
            f"activation {_fmt(n['mean'])}; {_pct(n['saturated_fraction'])} of its values within {th.gate_shut:g} of 0 "
            f"or 1). A saturated sigmoid passes (almost) no gradient to the weights that feed it"
            + (", and a shut gate multiplies what flows through it by about 0" if b.state == "shut" else "")
            + f"{through}, so {_names(names)} get (almost) no gradient. Nothing is cut off from the loss "
            "(no .detach() is needed to explain it): the saturated gate blocks the gradient.")


def _names(names: list[str], few: int = 5) -> str:
    """All ``names`` when few, else the first few and how many more."""
    shown = ", ".join(names[:few])
    return shown if len(names) <= few else f"{shown} and {len(names) - few} more"


def _own_cell_note(cell: OwnCell) -> str:
    """Why ``gates_stuck`` does not read a layer running a cell of the user's own, and what its
    ``gate_layout`` gives instead.

    >>> _own_cell_note(OwnCell("rnn", "'rnn'", "MGUCell", declared=False))
    "the cell of your own in 'rnn' (MGUCell) is not read, and it declares no gate_layout: rnnlab.introspect.gate_weights splits a cell's weights per gate when it declares one"
    >>> _own_cell_note(OwnCell("rnn", "'rnn'", "MGUCell", declared=True))
    "the cell of your own in 'rnn' (MGUCell) is not read: the gates its forward computes are not recorded; rnnlab.introspect.gate_weights gives its weights per gate"
    """
    said = f"the cell of your own in {cell.where} ({cell.cells}) is not read"
    if not cell.declared:
        return (f"{said}, and it declares no gate_layout: rnnlab.introspect.gate_weights splits a cell's weights per "
                "gate when it declares one")
    if cell.problem is not None:
        return f"{said}, and its gate_layout does not fit its weights (the gate_layout finding)"
    return f"{said}: the gates its forward computes are not recorded; rnnlab.introspect.gate_weights gives its weights per gate"


@register("gates_stuck")
def gates_stuck(obs: Observations, th: Thresholds) -> list[Finding]:
    """Sigmoid gates of LSTM/GRU layers whose mean activation is near 1 or 0 for most units."""
    records = [r for recs in obs.gates.values() for r in recs if r.kind in _SIGMOID_GATES]
    if not records:
        why = "; ".join(obs.gates_skipped) or ("gate activations are read from torch's and rnnlab's LSTM and GRU "
                                               "layers, and none was called")
        why += "".join(f"; {_own_cell_note(c)}" for c in obs.own_cells)
        raise NotApplicable(f"no gate activations recorded ({why})")
    found: dict[tuple[str, int, str], Finding] = {}
    for phase in obs.gates:
        for r in obs.gates[phase]:
            if r.kind not in _SIGMOID_GATES:
                continue
            split, numbers, stuck = _stuck_gates(r, th)
            if not stuck:
                continue
            key = (r.module, r.layer, r.direction)
            if key in found and found[key].severity == "warning":
                continue  # one finding per layer: the first (initialisation) unless only later
            # The gate that keeps the state, held open, is long memory, often intended; every other
            # stuck gate blocks information and its own gradient.
            benign = _keeps_state(r.kind, stuck)
            when = obs.when(phase)
            desc = ", ".join(
                f"{GATE_LABELS[g]} "
                + " and ".join(
                    f"{state} for {_pct(frac)}"
                    for state, frac in (("open", o), ("shut", c))
                    if frac
                )
                + " of units"
                for g, o, c in stuck
            )
            found[key] = Finding(
                check="gates_stuck",
                severity="info" if benign else "warning",
                title=f"Gates stuck in {r.where} ({when}): {desc}",
                numbers={
                    "phase": phase,
                    "gates": numbers,
                    "open_above": th.gate_open,
                    "shut_below": th.gate_shut,
                    "units": int(split[stuck[0][0]].shape[-1]),
                },
                message=(
                    "A sigmoid gate whose mean activation is near 1 (open) or 0 (shut) for most "
                    "units no longer gates: it has a gradient near zero, so it cannot learn to "
                    "change."
                    + (_kept_state_said(r.kind) if benign else
                       " A shut input/output/reset gate blocks information; an open update gate freezes the state.")
                ),
                remedy=(f"Nothing, where the gate was opened on purpose ({_KEPT_OPEN[r.kind][0]}); else c"
                        if benign else "C") + spelled(
                    "heck the gate biases (a large bias pins a gate), {normalize} or "
                    "use {layer_norm}, and lower {lr} if the gates saturate "
                    "during training.", obs.config
                ),
            )
    return list(found.values())


def _kept_state_said(kind: str) -> str:
    """What ``gates_stuck`` says of a layer of ``kind`` whose gate that keeps the state is held open.

    >>> _kept_state_said("lstm")
    ' A forget gate held open keeps the state (long memory), which is often intended (unit_forget_bias, chrono initialisation).'
    """
    gate, (how, also) = KEEP_GATE[kind], _KEPT_OPEN[kind]
    return (f" A{'n' if GATE_LABELS[gate][0] in 'aeiou' else ''} {GATE_LABELS[gate]} held open keeps the state (long "
            f"memory), which is often intended ({how}).{also}")


@register("gate_layout")
def gate_layout(obs: Observations, th: Thresholds) -> list[Finding]:
    """Cells of the user's own whose declared ``gate_layout`` does not fit their weights. Nothing
    declared is nothing misdeclared: a model without such a cell has no finding here.

    >>> obs = Observations(steps=0, own_cells=[OwnCell("rnn", "'rnn'", "AsGRU", True, "gate_layout.kernel: ...")])
    >>> [f.title for f in gate_layout(obs, Thresholds())]
    ["The gate_layout of AsGRU in 'rnn' does not fit its weights"]
    """
    return [
        Finding(
            check="gate_layout",
            severity="warning",
            title=f"The gate_layout of {c.cells} in {c.where} does not fit its weights",
            numbers={"module": c.module, "cell": c.cells, "problem": c.problem},
            message=(
                f"{c.problem}. The tools that read the cell's weights per gate through its layout refuse it so "
                "(rnnlab.introspect.gate_weights and gate_gradients, the gate plots, rnnlab.roles and the weight "
                "penalties by role), and the health check's remedies cannot read its gates."
            ),
            remedy=("Make the cell's gate_layout say what its weights hold: a kind whose gates they stack along dim "
                    "0, in their order (a kind of its own, GateLayout('my_kind', gates=(...), ...), where no built-in "
                    "kind fits), and the names of the parameters its forward uses (docs/layers.md, 'Your own cell')."),
        )
        for c in obs.own_cells if c.problem is not None
    ]


# --- gradients ----------------------------------------------------------------------------------


@register("nonfinite")
def nonfinite(obs: Observations, th: Thresholds) -> list[Finding]:
    """NaN or inf in the parameters as given, the input batch, the outputs, the loss, the gradients
    or the parameters after a step. Where the model's own weights or the input batch held them
    before it ran, those are named (everything after is computed from them); else the first place."""
    if not obs.nonfinite:
        return []
    by_what: dict[str, int] = {}
    for nf in obs.nonfinite:
        by_what[f"{nf.what} ({nf.phase})"] = by_what.get(f"{nf.what} ({nf.phase})", 0) + nf.count

    def numbers(first: NonFinite) -> dict[str, Any]:
        return {
            "first": {
                "phase": first.phase,
                "what": first.what,
                "count": first.count,
                "total": first.total,
                **({"place": first.place} if first.place else {}),
            },
            "counts": dict(list(by_what.items())[:50]),
            "places": len(by_what),
        }

    found = []
    given = [nf for nf in obs.nonfinite if nf.phase == AS_GIVEN]
    if given:
        first = given[0]
        more = (f" {len(given) - 1} more of its parameters and buffers hold some too "
                f"({', '.join(nf.what for nf in given[1:4])}{', ...' if len(given) > 4 else ''})."
                if len(given) > 1 else "")
        found.append(Finding(
            check="nonfinite",
            severity="error",
            title=f"Non-finite values in the model's weights as given, first in {first.what}",
            numbers=numbers(first),
            message=(
                f"{first.count} of {first.total} values of {first.what} are NaN or inf in the model as given.{more} "
                "The model's weights were already non-finite before diagnose took a step: an earlier training "
                "diverged (or they were loaded so). What the model computes from them is non-finite too (the model "
                "output, the loss and the gradients: the counts), whatever the data, so the other checks cannot "
                "judge it."
            ),
            remedy=spelled(
                "Do not go on from these weights: lower {lr}, clip gradients ({clip}) and train again from a fresh "
                "initialisation (or from a checkpoint whose weights are all finite).", obs.config
            ),
        ))
    bad_input = next((nf for nf in obs.nonfinite if nf.what == INPUT_BATCH), None)
    if bad_input is not None:
        # (checked before the model runs: whatever follows is computed from it, no fault of the model)
        found.append(Finding(
            check="nonfinite",
            severity="error",
            title=f"Non-finite values in the input batch, first at {bad_input.place}",
            numbers=numbers(bad_input),
            message=(
                f"{bad_input.count} of {bad_input.total} values of the input batch are NaN or inf, the first at "
                f"{bad_input.place}. What the model computes from them is non-finite too (the model output, the loss "
                "and the gradients: the counts), and one training step on them makes every weight NaN."
            ),
            remedy=("Clean the data: drop the samples with NaN/inf or fill the gaps (e.g. interpolate over time, or "
                    "torch.nan_to_num) before they reach the model; the "
                    + ("loss is" if given else "model and the loss are") + " not at fault."),
        ))
    if found:
        return found
    first = obs.nonfinite[0]
    return [
        Finding(
            check="nonfinite",
            severity="error",
            title=f"Non-finite values, first in {first.what} ({first.phase})",
            numbers=numbers(first),
            message=(
                f"{first.count} of {first.total} values of {first.what} are NaN or inf at "
                f"{first.phase}. Once a NaN reaches the weights every later step is NaN too."
            ),
            remedy=spelled(
                "If the first one is in the outputs or the loss, check the targets for NaN/inf and guard "
                "log/division/sqrt in the model and loss. If it appears during training, lower {lr}, clip gradients "
                "({clip}) and check the loss for log(0).", obs.config
            ),
        )
    ]


_REVERSE_RECURRENT = re.compile(r"weight_hh_l\d+_reverse$")
#: A parameter that acts on the fed-back state h of a layer: its recurrent weight, or the gain of the
#: norm of what that weight adds (rnnlab's layer_norm / recurrent_batch_norm), as rnnlab and torch name them.
_ON_STATE = re.compile(r"^(?:(?P<module>.+)\.)?(?:weight_hh_l(?P<layer>\d+)(?P<reverse>_reverse)?"
                       r"|norm_l(?P<nlayer>\d+)(?P<nreverse>_reverse)?\.hh\.[^.]+)$")


def _one_step_layers(obs: Observations) -> dict[tuple[str, int, str], str]:
    """The recurrent layers that ran a single step on the batch, as ``(module key, layer, direction)``
    -> the layer as the findings name it (read from the gradient through time, else the gates)."""
    steps: dict[tuple[str, int, str], tuple[str, set[int]]] = {}
    for tg in obs.through_time:
        if tg.key is not None and tg.layer is not None and tg.direction is not None:
            key = (tg.key.split("#")[0], tg.layer, tg.direction)
            steps.setdefault(key, (tg.name, set()))[1].add(int(tg.per_step.numel()))
    if not steps:
        for r in obs.gates.get("init", []):
            steps.setdefault((r.module.split("#")[0], r.layer, r.direction), (r.where, set()))[1].add(
                int(r.acts.shape[0]))
    return {key: name for key, (name, lengths) in steps.items() if lengths == {1}}


def _unused_on_one_step(names: list[str], obs: Observations) -> dict[str, list[str]]:
    """Of ``names`` (parameters with a zero gradient), those acting on the state of a layer that ran
    a single step, by the layer's name: from a zero initial state that step multiplies h = 0, so they
    are never used (no gradient, whatever the code)."""
    one_step, found = _one_step_layers(obs), {}
    for n in names:
        m = _ON_STATE.match(n)
        if m is None:
            continue
        layer = int(m["layer"] if m["layer"] is not None else m["nlayer"])
        key = (m["module"] or "", layer, "reverse" if m["reverse"] or m["nreverse"] else "forward")
        if key in one_step:
            found.setdefault(one_step[key], []).append(n)
    return found


def _zero_layers(obs: Observations) -> dict[str, str]:
    """The weight matrices that start with every weight 0 and are on the loss's path (they receive
    a gradient): a zero-initialized output layer (``model.head.zero_init``), by the module that
    holds the parameters behind it -> its parameter's name. That module is the nearest one above the
    layer that holds another parameter (an ensemble member's, for a member's head; the whole model
    for a single head): what the layer's output is computed from."""
    found = {}
    for p in obs.params.values():
        if len(p.shape) < 2 or not p.norms or p.norms[0] != 0.0 or not p.grad_max:
            continue
        layer = p.name.rsplit(".", 1)[0]
        parts = layer.split(".")
        for k in range(len(parts) - 1, -1, -1):
            scope = ".".join(parts[:k])
            inside = [n for n in obs.params if (not scope or n.startswith(scope + "."))
                      and not n.startswith(layer + ".")]
            if inside:
                found[scope] = p.name
                break
    return found


def _behind_zero_layer(names: Iterable[str], obs: Observations) -> dict[str, list[str]]:
    """Of ``names``, those behind a zero-initialized layer (:func:`_zero_layers`), by that layer's
    weight: at the first backward pass the layer's weights are all 0, so no gradient reaches what
    its input is computed from (a zero-initialized output layer cuts nothing: its first update
    moves it off 0, and from the second step on the layers before it get a gradient)."""
    zero, found = _zero_layers(obs), {}
    for n in names:
        scopes = [s for s in zero if (not s or n.startswith(s + ".")) and not n.startswith(zero[s].rsplit(".", 1)[0] + ".")]
        if scopes:
            found.setdefault(zero[max(scopes, key=len)], []).append(n)
    return found


@register("zero_grad")
def zero_grad(obs: Observations, th: Thresholds) -> list[Finding]:
    """Trainable parameters that never receive a non-zero gradient."""
    if not obs.params:
        raise NotApplicable("the model has no trainable parameter")
    unused = [p.name for p in obs.params.values() if p.grad_max is None]
    zero = [p.name for p in obs.params.values() if p.grad_max == 0.0]
    found = []
    if unused:
        found.append(
            Finding(
                check="zero_grad",
                severity="warning",
                title=f"{len(unused)} parameter(s) get no gradient at all: {', '.join(unused[:5])}",
                numbers={"parameters": unused, "backward_passes": max(obs.steps, 1)},
                message=(
                    "These parameters are not part of the graph that computes the loss: the "
                    "module is never called, or its output is not used. They are never trained."
                ),
                remedy=(
                    "Remove the unused modules, or fix forward() so their output reaches the loss. "
                    "If they are frozen on purpose, set requires_grad=False."
                ),
            )
        )
    # A layer that runs one step never uses its recurrent weights: the series, not the code.
    one_step = _unused_on_one_step(zero, obs)
    if one_step:
        names = [n for ns in one_step.values() for n in ns]
        found.append(
            Finding(
                check="zero_grad",
                severity="warning",
                title=f"{len(names)} parameter(s) have exactly zero gradient: the recurrent layer runs 1 step "
                      f"({_names(names)})",
                numbers={"parameters": names, "backward_passes": max(obs.steps, 1), "cause": "one_step",
                         "layers": list(one_step)},
                message=(
                    f"The recurrent layer runs 1 step: its recurrent weights are never used. {', '.join(one_step)} "
                    f"run{'s' if len(one_step) == 1 else ''} a single step from a zero initial state, and "
                    f"{_names(names)} act on the fed-back state, 0 at that step: their gradient is exactly 0, and "
                    "nothing is cut off from the loss. The series are too short or pooled too much: the layer acts "
                    "as a feed-forward layer and learns nothing over time."
                ),
                remedy=spelled("Give the recurrent layer more than one step: {lengthen}.", obs.config),
            )
        )
        zero = [n for n in zero if n not in names]
    # At a single backward pass a zero-initialized layer after them explains a zero gradient (by
    # the second, its first update has moved it off 0: a parameter still without one is cut).
    behind = _behind_zero_layer(zero, obs) if max(obs.steps, 1) == 1 else {}
    if behind:
        names, layers = [n for ns in behind.values() for n in ns], list(behind)
        one = len(layers) == 1
        found.append(
            Finding(
                check="zero_grad",
                severity="info",
                title=f"{len(names)} parameter(s) get no gradient at the first step: the layer{'' if one else 's'} "
                      f"after them start{'s' if one else ''} at 0 ({_names(layers, 2)})",
                numbers={"parameters": names, "backward_passes": 1, "cause": "zero_initialized_layer",
                         "layers": layers},
                message=(
                    f"{_names(layers, 2)} start{'s' if one else ''} with every weight 0, so at the first step "
                    f"{'it passes' if one else 'they pass'} no gradient back to what {'its' if one else 'their'} "
                    f"input is computed from: {_names(names)} get exactly 0, by construction, and nothing is cut "
                    f"from the loss. The first update moves {'it' if one else 'them'} off 0, and from the second "
                    "step on those parameters get a gradient; only one step was measured here."
                ),
                remedy=spelled("Nothing to fix where the output layer starts at zero on purpose{zero_init}. To see "
                               "them get a gradient, measure 2 or more steps ({more_steps}): a parameter without "
                               "one then is cut from the loss.", obs.config),
            )
        )
        zero = [n for n in zero if n not in names]
    # A gate of their own layer saturated at initialisation explains a zero gradient; only the rest
    # may be cut from the loss.
    blocked, layer_of = _blocked_gates(obs, th), _layer_of(obs)
    by_gate: dict[str, list[str]] = {}
    for n in zero:
        if layer_of.get(n) in blocked:
            by_gate.setdefault(layer_of[n], []).append(n)
    for where, names in by_gate.items():
        b = blocked[where]
        found.append(
            Finding(
                check="zero_grad",
                severity="warning",
                title=f"{len(names)} parameter(s) have exactly zero gradient: {b}",
                numbers={"parameters": names, "backward_passes": max(obs.steps, 1), "cause": "saturated_gate",
                         "layer": where, "gate": GATE_LABELS[b.gate], "state": b.state, **b.numbers},
                message=_gate_message(b, names, th, obs),
                remedy=_gate_remedy(b, obs),
            )
        )
    zero = [n for n in zero if layer_of.get(n) not in blocked]
    if zero:
        found.append(
            Finding(
                check="zero_grad",
                severity="warning",
                title=f"{len(zero)} parameter(s) have exactly zero gradient: {', '.join(zero[:5])}",
                numbers={"parameters": zero, "backward_passes": max(obs.steps, 1)},
                message=(
                    "These parameters are in the graph but their gradient is exactly 0 at every "
                    "step: the path to the loss is cut (.detach(), .data, a no_grad block, "
                    "integer casting) or multiplied by zero (dead units, zero weights downstream, "
                    "a saturated gate on the way). An optimizer like Adam then never moves them."
                    + (
                        " A reverse-direction recurrent weight with zero gradient usually means "
                        "the output of a bidirectional layer is read at the last timestep only, "
                        "where the reverse direction has seen a single step."
                        if any(_REVERSE_RECURRENT.search(n) for n in zero)
                        else ""
                    )
                ),
                remedy=_after_gate(
                    next(iter(blocked.values()), None), obs, th,
                    "look for .detach()/.data/torch.no_grad() between these parameters and the loss, "
                    "and check the dead-unit findings for the layers after them."
                    + (
                        " For a bidirectional layer, read h_n (both directions' final states) or pool over "
                        "time instead of output[:, -1]."
                        if any(_REVERSE_RECURRENT.search(n) for n in zero)
                        else ""
                    ),
                ),
            )
        )
    return found


def _after_gate(gate: BlockedGate | None, obs: Observations, th: Thresholds, remedy: str) -> str:
    """``remedy`` for parameters a blocked gate does not explain: inputs far from unit scale saturate
    the units they feed, and a saturated gate starves other layers too (no gradient back through it,
    an output of about 0 for the layers after it), so either comes first when there is one."""
    scale = _far_input_scale(obs, th)
    if scale is not None:
        return (spelled("First {normalize_channels} (the input_scale finding): ", obs.config)
                + f"inputs of scale {_fmt(scale)} saturate the units they feed, whose gradient is then exactly 0. "
                + f"Then {remedy}")
    if gate is None:
        return remedy[0].upper() + remedy[1:]
    return (f"First fix the {gate} (the gates_stuck finding): the layers before it get no gradient through it, "
            f"and the layers after it may see an input of about 0, whose weights then get none either. Then {remedy}")


def _vanishing_remedy(module: nn.Module | None, config: bool | KeySpelling = False, steps: int | None = None,
                      direction: str | None = None, weights: LayerWeights | None = None, shorten: bool = True) -> str:
    """Remedies for a vanishing gradient over ``steps`` steps, leaving out what the layer already
    does and what it refuses (an orthogonal init of IndRNN's vector recurrent weight, layer norm
    beside recurrent batch norm), spelled for a config run (``config``: True, or a
    :class:`KeySpelling`) or a Python user (:data:`SPELLING`, :func:`spelled`). A layer running a
    cell of the user's own (``rnnlab.Recurrent``) gets what to change in the cell instead
    (:func:`_own_cell_vanishing_remedy`, reading its initialisation from ``weights`` where given:
    :attr:`TimeGradient.weights`). ``shorten``: offer shorter sequences too (not where the reach
    is to be lengthened for dependencies as long as they are); "" where nothing is left to offer.

    >>> import rnnlab
    >>> text = _vanishing_remedy(rnnlab.IndRNN(1, 4), config=True, steps=500)
    >>> "orthogonal" in text, "max_norm" in text
    (False, True)
    """
    if isinstance(module, Recurrent):
        return _own_cell_vanishing_remedy(module, config, direction, weights)
    kind = kind_of(module) if module is not None else None
    vector = bool(getattr(getattr(module, "spec", None), "vector_recurrent", False))
    options = []
    if kind == "indrnn":
        options = _indrnn_vanishing_options(module, config, steps, shorten)
    elif kind not in ("lstm", "gru"):
        options.append(spelled("use {gated}", config))
    if kind in (None, "lstm") and not getattr(module, "unit_forget_bias", False) and not _forget_gates_keep(module):
        options.append(spelled("set {unit_forget_bias}", config))
    if getattr(module, "recurrent_init", None) != "orthogonal" and not vector and kind != "indrnn":
        options.append(spelled("use an orthogonal recurrent init ({orthogonal})", config))
    # (not an IndRNN's: measured, either norm on its recurrent term shortens its reach, ten times at T = 300)
    if not getattr(module, "layer_norm", False) and not getattr(module, "recurrent_batch_norm", False) \
            and kind != "indrnn":
        # (the layer refuses both norms at once: "choose one")
        options.append(spelled("set {layer_norm}", config))
    if shorten and kind != "indrnn":
        options.append(spelled("shorten the sequences the layer sees ({shorten})", config))
    if not options:
        return ""
    text = ", ".join(options[:-1]) + (", or " if len(options) > 1 else "") + options[-1]
    text = text[0].upper() + text[1:] + "."
    if isinstance(module, nn.RNNBase) and kind in ("lstm", "gru", "rnn") and len(options) > 1 and not config:
        # torch's own layer: those keywords are not its
        name = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[kind]
        text += (f" The keywords are rnnlab.{name}'s (same constructor and parameter names as nn.{name}: "
                 f"it loads this layer's state_dict).")
    return text


class _InFull(float):
    """A number a remedy writes with every digit it has (:meth:`KeySpelling.value` writes a float
    to 6 significant digits): a bound of 2^(1/T) rounded means another bound, 1.00001 for T =
    100000 (whose T-th power is e, not 2).

    >>> f"{_InFull(2 ** (1 / 1000)):g}"
    '1.0006933874625807'
    """

    def __format__(self, spec: str) -> str:
        return repr(float(self))


def _indrnn_vanishing_options(module: nn.Module, config: bool | KeySpelling, steps: int | None,
                              shorten: bool) -> list[str]:
    """:func:`_vanishing_remedy`'s options for an IndRNN, what cures its vanishing first, none the
    layer has already. Li et al. (2018) keep |u| near 1: started there (a Python user's
    ``weight_hh``, set by hand: no keyword nor config key sets an IndRNN's u, ``recurrent_init``
    refuses its vector) and bounded by ``IndRNN.recurrent_bound`` from above, which alone keeps
    the gradient from exploding and lengthens no reach. Layer and recurrent batch norm are left
    out: on an IndRNN's recurrent term they shorten its reach. A config run gets shorter
    sequences first, and the bound last, where the layer has none.

    >>> import rnnlab
    >>> [o[:22] for o in _indrnn_vanishing_options(rnnlab.IndRNN(1, 4), True, 1000, True)]
    ['shorten the sequences ', 'use an LSTM/GRU rather', 'bound |u| at 2^(1/T) =']
    """
    bounded = getattr(module, "recurrent_constraint", None) is not None
    T = str(steps) if steps else "T"
    options = []
    if not config:
        names = [n for n, _ in module.named_parameters() if n.startswith("weight_hh")] or ["weight_hh_l0"]
        init = f"0.5 ** (1 / {T}), 2 ** (1 / {T})"
        code = (f"torch.nn.init.uniform_(layer.{names[0]}, {init})" if len(names) == 1 else
                f"for u in ({', '.join('layer.' + n for n in names)}): torch.nn.init.uniform_(u, {init})")
        options.append(
            "start the recurrent weights u near 1 by hand once the layer is built (Li et al. 2018; no keyword "
            f"sets an IndRNN's u: recurrent_init refuses its vector): `{code}`"
            + ("" if steps else " with T the sequence length")
            + f" (|u|^{T} between 0.5 and 2: across {'the ' + T if steps else 'T'} steps the recurrence scales the "
            "gradient by 0.5 to 2)"
            + ("" if bounded else
               f", and cap them with recurrent_constraint=IndRNN.recurrent_bound(2.0, {T}) (|u| <= "
               "2^(1/T) after each optimizer step, against an exploding gradient)"))
    if shorten:
        options.append(spelled("shorten the sequences the layer sees ({shorten})", config))
    options.append(spelled("use {gated_indrnn}", config))
    if config and not bounded and steps:
        bound = _InFull(2.0 ** (1.0 / steps))
        options.append(
            f"bound |u| at 2^(1/T) = 2^(1/{steps}) (Li et al. 2018): "
            + _said(config).set("model.recurrent_constraint", {"kind": "max_norm", "value": bound})
            + ", which lets training raise |u| toward 1 without the gradient exploding (a bound alone "
            "lengthens no reach)")
    return options


def _forget_gates_keep(module: nn.Module | None) -> bool:
    """Whether every forget gate of an LSTM ``module`` keeps its state already: its bias about 1 or
    more (unit_forget_bias, chrono initialisation, set by hand), as :func:`_forget_bias_option`
    reads a cell's.

    >>> import rnnlab
    >>> _forget_gates_keep(rnnlab.LSTM(2, 3, unit_forget_bias=True)), _forget_gates_keep(rnnlab.LSTM(2, 3))
    (True, False)
    """
    if module is None:
        return False
    try:
        found = layer_weights(module)
    except (TypeError, ValueError):
        return False
    return bool(found) and all(lw.kind == "lstm" and _forget_bias_option(lw) is None for lw in found)


#: What a remedy for a layer running a cell of the user's own adds: ``rnnlab.Recurrent`` takes none
#: of the built-in layers' keywords (its TypeError says where each goes), so the change is the cell's.
OWN_CELL_NOTE = ("rnnlab.Recurrent runs the cell as it is and refuses the built-in layers' keywords "
                 "(unit_forget_bias, recurrent_init, layer_norm, the constraints): these changes go into the cell "
                 "(docs/layers.md, 'Your own cell').")


def own_cell_weights(module: Recurrent, direction: str | None) -> LayerWeights | None:
    """Copies of the weights of the cell that runs ``direction`` split per gate, where it declares
    a layout that fits them (else None: the remedies then speak of the cell in general). Copies:
    the health check keeps them as the weights were when it measured (:attr:`TimeGradient.weights`).

    >>> import rnnlab
    >>> lw = own_cell_weights(rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3)), "forward")
    >>> sorted(lw.recurrent), tuple(lw.recurrent["f"].shape)
    (['f', 'g', 'i', 'o'], (3, 3, 3))
    """
    try:
        found = layer_weights(module)
    except (TypeError, ValueError):  # (no layout, or one that does not fit: the gate_layout check says why)
        return None
    lw = next((lw for lw in found if lw.direction == (direction or "forward")), None)
    if lw is None:
        return None
    return replace(lw, **{part: {g: t.clone() for g, t in getattr(lw, part).items()}
                          for part in ("kernel", "recurrent", "bias_ih", "bias_hh")})


def _forget_bias_option(lw: LayerWeights) -> str | None:
    """Raising the forget gate's bias of an LSTM-layout cell, with where it is and its mean now;
    None when that mean is 1 or more already."""
    parts = [(lw.names[comp], split["f"]) for comp, split in (("bias_ih", lw.bias_ih), ("bias_hh", lw.bias_hh))
             if "f" in split and comp in lw.names]
    where = "in the cell's reset_parameters()"
    if not parts:
        return f"give the forget gate a bias and initialise it to 1 {where} (or chrono initialisation)"
    mean = float(sum(t.double() for _, t in parts).mean())
    if mean >= 1.0:
        return None
    units = parts[0][1].shape[0]
    start = GATES[lw.kind].index("f") * units
    names = " and ".join(name for name, _ in parts)
    summed = "" if len(parts) == 1 else ", summed"
    return (f"initialise the forget gate's bias (rows {start}:{start + units} of {names}, mean{summed} {_fmt(mean)} "
            f"now) to 1 {where} (or use chrono initialisation)")


def _is_orthogonal(lw: LayerWeights) -> bool | None:
    """Whether each gate's block of the recurrent weight is orthogonal; None where the blocks are no
    square matrices (a vector, a convolution), for which an orthogonal init means nothing."""
    blocks = list(lw.recurrent.values())
    if not blocks or any(b.dim() != 2 or b.shape[0] != b.shape[1] for b in blocks):
        return None
    eye = torch.eye(blocks[0].shape[0], dtype=torch.float64)
    return all(torch.allclose(b.double() @ b.double().T, eye, atol=1e-4) for b in blocks)


def _own_cell_vanishing_remedy(module: Recurrent, config: bool | KeySpelling, direction: str | None,
                               weights: LayerWeights | None = None) -> str:
    """:func:`_vanishing_remedy` for a layer running a cell of the user's own: what to change in
    the cell (its ``reset_parameters()``, its forward), leaving out what it does already; a cell
    that declares gates in its layout is not told to use gates. What it does already is read from
    ``weights`` (the cell's weights split per gate as the health check measured them, before its
    training steps: :attr:`TimeGradient.weights`), else from the cell as it is now.

    >>> import rnnlab
    >>> text = _own_cell_vanishing_remedy(rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3)), False, None)
    >>> "forget gate's bias (rows 3:6 of cell.conv_ih.bias" in text, "plain RNN" in text, "layer_norm=True" in text
    (True, False, False)
    """
    cell = module.reverse_cell if direction == "reverse" and module.bidirectional else module.cell
    layout = gate_layout_of(cell)
    lw = weights if weights is not None else own_cell_weights(module, direction)
    options = []
    if layout is None or len(layout.gates) < 2:
        options.append("if the cell has no gates, give it some (an LSTM- or GRU-style cell), or use rnnlab.LSTM/GRU")
    if lw is not None and lw.kind == "lstm":
        option = _forget_bias_option(lw)
        if option is not None:
            options.append(option)
    orthogonal = _is_orthogonal(lw) if lw is not None else False
    if orthogonal is False:
        weight = lw.names.get("recurrent", "its recurrent weight") if lw is not None else "its recurrent weight"
        options.append(f"initialise {weight} orthogonal in the cell's reset_parameters() "
                       "(torch.nn.init.orthogonal_ on each gate's block)")
    if not any(isinstance(m, NORM_TYPES) for m in cell.modules()):
        options.append(BUILT_IN_ONLY["layer_norm"])
    options.append(spelled("shorten the sequences the layer sees ({shorten})", config))
    text = ", ".join(options[:-1]) + (", or " if len(options) > 1 else "") + options[-1]
    return text[0].upper() + text[1:] + ". " + OWN_CELL_NOTE


def _exploding_remedy(module: nn.Module | None, config: bool | KeySpelling) -> str:
    """Remedies for a gradient through time that explodes, for a built-in layer or a cell of the
    user's own (whose changes go into the cell)."""
    if isinstance(module, Recurrent):
        return (spelled("Clip gradients ({clip}), scale down the cell's recurrent weights (an orthogonal or "
                        "smaller init in its reset_parameters(), or a constraint projected after each optimizer "
                        "step: w.copy_(rnnlab.constraints.MaxNorm(...)(w))), ", config)
                + BUILT_IN_ONLY["layer_norm"] + spelled(", or lower {lr}. ", config) + OWN_CELL_NOTE)
    return spelled("Clip gradients ({clip}), scale down the recurrent weights (orthogonal or smaller init, "
                   "{recurrent_constraint}), use {layer_norm}, or lower {lr}.", config)


#: What :func:`judge_through_time` says of one layer's gradient through time.
VANISHES, EXPLODES, REACHES, UNJUDGED = "vanishes", "explodes", "reaches", "unjudged"


def reach_is_short(reach: int, steps: int, short_reach: float) -> bool:
    """Whether a gradient reach of ``reach`` of ``steps`` steps back is short: under the fraction
    ``short_reach`` of the steps. The one rule of both phases, at each one's threshold: the health
    check's (:attr:`Thresholds.short_reach`) and the findings after training's
    (:attr:`rnnlab.doctor.fit.FitThresholds.short_reach`).

    >>> reach_is_short(11, 12, Thresholds().short_reach), reach_is_short(10, 20, Thresholds().short_reach)
    (False, True)
    """
    return reach < short_reach * steps


def judge_through_time(tg: TimeGradient, th: Thresholds, config: bool | KeySpelling = False,
                       loss: str | None = None, language_model: bool = False) -> tuple[str, Finding | None]:
    """The ``gradient_through_time`` check's verdict on one layer's |dLoss/dh_t|: ``(VANISHES,
    finding)`` when it falls below ``th.grad_rel`` of its last value short of ``th.short_reach``
    of the steps back (:func:`reach_is_short`), ``(EXPLODES, finding)`` when its first value is over ``th.grad_explode`` times its last,
    ``(REACHES, None)`` when neither, and ``(UNJUDGED, None)`` for fewer than 2 steps, a
    non-finite value or a last value of 0. The report judges the curve recorded after training
    with it, by the same thresholds. ``loss``: which loss the curve follows when not the whole
    loss (:attr:`Observations.through_time_loss`), said in the finding's message. ``config``: how
    the remedies are spelled (False: in a Python user's words; :func:`spelled`).
    ``language_model``: the curve is an *untrained* language model's (scored at every step), whose
    short reach in an LSTM or GRU layer is a note, not a warning (:func:`_untrained_reach_note`).

    >>> verdict, f = judge_through_time(TimeGradient("'rnn' layer 0 forward", 0.5 ** torch.arange(19.0, -1, -1)),
    ...                                 Thresholds())
    >>> verdict, f.numbers["reach"]
    ('vanishes', 10)
    >>> judge_through_time(TimeGradient("'rnn' layer 0 forward", torch.ones(20)), Thresholds())
    ('reaches', None)
    >>> judge_through_time(TimeGradient("'rnn' layer 0 forward", 1e-4 ** (torch.arange(12.0) == 0)), Thresholds())
    ('reaches', None)
    """
    g = tg.per_step.detach().to(torch.float64).abs()
    steps = int(g.numel())
    if steps < 2 or not bool(torch.isfinite(g).all()) or float(g[-1]) == 0.0:
        return UNJUDGED, None
    reach = stats.gradient_reach(g, rel=th.grad_rel)
    rate = stats.decay_rate(g)
    ratio = float(g[0] / g[-1])
    numbers = {
        "timesteps": steps,
        "reach": reach,
        "decay_rate": rate,
        "first_over_last": ratio,
        "grad_last": float(g[-1]),
        "grad_first": float(g[0]),
    }
    counted = ""
    if tg.held is not None and len(tg.held) >= steps:  # (variable lengths: counted back from each one's end)
        held = [int(n) for n in tg.held]
        numbers.update(sequences=held[0], sequences_furthest=held[steps - 1], longest=len(held))
        counted = f"; {held_said(held, steps)}"
    of = "|dLoss/dh_t|" + ("" if loss is None else f" ({loss})")
    if reach_is_short(reach, steps, th.short_reach) and loss == POOLED_LAST_STEP_LOSS:
        # A head that pools over time reads every step: each step's input trains the layer whatever
        # its memory (the whole loss's gradient reaches every step), so a short memory is no failure
        # of training, only a limit on the patterns the layer learns as one (the template fits sets
        # it warns on: a 40-step motif among 4000 steps, 0.975 at a memory of 99 of 250 steps).
        return VANISHES, Finding(
            check="gradient_through_time",
            severity="info",
            title=f"Short memory in {tg.name}: the gradient through each sequence's last step reaches {reach} of "
                  f"{steps} steps",
            numbers={**numbers, "rel": th.grad_rel, "short_reach": th.short_reach, **tg.where},
            message=(
                f"{of} falls below {th.grad_rel:g} of its value at the last step {reach} step"
                f"{'s' if reach != 1 else ''} back (about ×{_fmt(rate)} per step{counted}). The head summarises every step, "
                "so each step's input still trains the layer; but the layer carries little from one step to "
                f"steps more than about {reach} later: a pattern longer than that is learned only through the "
                "summary of its parts."
            ),
            remedy=_lower_first(f"nothing, where what tells the sequences apart is shorter than that; else "
                                f"{_lower_first(_vanishing_remedy(tg.module, config, steps, tg.direction, tg.weights))}"),
        )
    if (reach_is_short(reach, steps, th.short_reach) and language_model and kind_of(tg.module) in ("lstm", "gru")
            and not isinstance(tg.module, Recurrent)):  # (a cell of the user's own: its gates' start is not known)
        return VANISHES, _untrained_reach_note(tg, th, numbers, of, config)
    if reach_is_short(reach, steps, th.short_reach):
        return VANISHES, Finding(
            check="gradient_through_time",
            severity="warning",
            title=f"Vanishing gradient through time in {tg.name}: reaches {reach} of {steps} steps",
            numbers={**numbers, "rel": th.grad_rel, "short_reach": th.short_reach, **tg.where},
            message=(
                f"{of} falls below {th.grad_rel:g} of its value at the last step "
                f"{reach} step{'s' if reach != 1 else ''} back (about ×{_fmt(rate)} per step{counted}). Inputs further back "
                "than that barely influence the weight updates: the layer cannot learn "
                "dependencies that long."
            ),
            remedy=_vanishing_remedy(tg.module, config, steps, tg.direction, tg.weights),
        )
    if ratio > th.grad_explode:
        return EXPLODES, Finding(
            check="gradient_through_time",
            severity="warning",
            title=f"Exploding gradient through time in {tg.name}: ×{_fmt(ratio)} over {steps} steps",
            numbers={**numbers, "threshold": th.grad_explode, **tg.where},
            message=(
                f"{of} at the first step is {_fmt(ratio)} times its value at the last "
                f"step (about ×{_fmt(rate)} per step back{counted}). Updates will be dominated by the "
                "earliest steps and training is likely to diverge."
            ),
            remedy=_exploding_remedy(tg.module, config),
        )
    return REACHES, None


def _untrained_reach_note(tg: TimeGradient, th: Thresholds, numbers: dict[str, Any], of: str,
                          config: bool | KeySpelling) -> Finding:
    """The ``gradient_through_time`` note on an untrained language model's LSTM or GRU layer whose
    gradient reaches short of ``th.short_reach`` of the steps: an information, not a warning.

    Its gates start about half open, so an untrained gated layer's state, and the gradient through
    it, shrink at every step: on the template's 400 inspected steps it reaches about 10 of them
    (about 20 with ``unit_forget_bias``), and the same layer after training reaches all of them. A
    language model is scored at every step, so each step's input trains the layer through the
    predictions near it whatever that reach, and training lengthens it where the text rewards a
    longer memory; the report's curve after training says how far it got. (A plain RNN, whose
    reach training seldom mends, and a loss at the sequence's end alone, which gives a short reach
    nothing to learn from, keep the warning.)
    """
    reach, steps, rate = numbers["reach"], numbers["timesteps"], numbers["decay_rate"]
    layer = {"lstm": "LSTM", "gru": "GRU"}[kind_of(tg.module) or "lstm"]
    forget = " (its forget gate about 0.73 with unit_forget_bias)" if getattr(tg.module, "unit_forget_bias", False) else ""
    return Finding(
        check="gradient_through_time",
        severity="info",
        title=f"Short memory in {tg.name}, untrained: the gradient reaches {reach} of {steps} steps, as an "
              f"untrained {layer}'s does",
        numbers={**numbers, "rel": th.grad_rel, "short_reach": th.short_reach, **tg.where},
        message=(
            f"{of} falls below {th.grad_rel:g} of its value at the last step {reach} step"
            f"{'s' if reach != 1 else ''} back (about ×{_fmt(rate)} per step). An untrained {layer}'s gates start "
            f"about half open{forget}, so its state, and the gradient through it, shrink at every step: this short "
            "reach is what the initialisation gives, not evidence of a problem. A language model is scored at every step, "
            "so each step's input trains the layer through the predictions near it whatever this reach, and "
            "training lengthens the reach where the text rewards a longer memory: the report's gradient through "
            "time after training says how far back it then reaches."
        ),
        remedy=_untrained_reach_remedy(_vanishing_remedy(tg.module, config, steps, tg.direction, tg.weights,
                                                         shorten=False)),
    )


def _untrained_reach_remedy(remedy: str) -> str:
    """The remedy of :func:`_untrained_reach_note`: nothing before training, and ``remedy`` (a
    layer's vanishing-gradient remedies, shorter windows left out: they do not lengthen a reach)
    should the trained layer's reach still fall short.

    >>> _untrained_reach_remedy("")
    'Nothing before training.'
    """
    if not remedy:
        return "Nothing before training."
    return ("Nothing before training. If the gradient after training still falls short of the dependencies the "
            f"text needs: {_lower_first(remedy)}")


def _lower_first(text: str) -> str:
    """``text`` with its first letter in lower case (a sentence joined into another)."""
    return text[:1].lower() + text[1:]


#: What the gradient through time of a head that pools over time follows
#: (:func:`rnnlab.doctor.run.following_through_time`): its memory, not the reach of the updates.
POOLED_LAST_STEP_LOSS = "the loss through each sequence's last step alone"


@register("gradient_through_time")
def gradient_through_time(obs: Observations, th: Thresholds) -> list[Finding]:
    """Gradient |dLoss/dh_t| that vanishes or explodes going back over the sequence."""
    if not obs.through_time:
        raise NotApplicable(obs.through_time_skipped or "no recurrent layer was called")
    from rnnlab.doctor.run import LAST_STEP_LOSS  # (run imports this module)

    # (an untrained language model: its loss at every step, the curve the one at the window's last)
    untrained_lm = (obs.input_tokens and obs.through_time_loss == LAST_STEP_LOSS
                    and not (obs.model_step or obs.model_epoch))
    verdicts = (judge_through_time(tg, th, obs.config, obs.through_time_loss, untrained_lm)
                for tg in obs.through_time)
    return [f for _, f in verdicts if f is not None]


# --- training steps -----------------------------------------------------------------------------


def _need_steps(obs: Observations) -> None:
    if obs.steps < 1:
        raise NotApplicable("no training step was run (steps=0)")


def _rms(traces: list[ParamTrace], k: int) -> float:
    n = sum(t.numel for t in traces)
    return math.sqrt(sum(t.norms[k] ** 2 for t in traces) / n) if n else 0.0


def _built_in_biases(pair: WeightBiasPair) -> bool:
    """Whether the biases of ``pair`` are a recurrent layer's named as torch names them
    (``bias_ih_l0``): a built-in layer's, whose ``bias_constraint`` keyword a remedy may name."""
    return any(parse_param_name(b) is not None for b in pair.biases)


@register("bias_growth")
def bias_growth(obs: Observations, th: Thresholds) -> list[Finding]:
    """Bias norms growing much faster than the norms of the kernels they act with, to a size
    that matters next to what the kernels add to a unit.

    A small bias moved by Adam grows by about the learning rate each step while its kernel's norm
    hardly changes (the kernel's updates are not along it): an output layer's bias of 0.026 going
    to 0.039 in 5 steps is that, not a layer learning offsets. So the growth counts only once the
    bias reaches ``bias_vs_output`` of its kernels' output scale, ``sqrt(sum ||W||² / rows)`` over
    the kernels acting with it (the RMS over units of ``W x`` for inputs of unit RMS).

    >>> w = ParamTrace("head.weight", (1, 64), [0.4] * 6)  # RMS 0.05 per element, 0.4 per unit
    >>> b = ParamTrace("head.bias", (1,), [0.026, 0.029, 0.031, 0.034, 0.036, 0.039])
    >>> pair = WeightBiasPair("'head'", ["head.weight"], ["head.bias"])
    >>> bias_growth(Observations(steps=5, params={"head.weight": w, "head.bias": b}, pairs=[pair]), Thresholds())
    []
    >>> big = ParamTrace("head.bias", (1,), [0.03, 0.3, 0.6, 0.9, 1.2, 1.5])
    >>> obs = Observations(steps=5, params={"head.weight": w, "head.bias": big}, pairs=[pair], config=True)
    >>> [f.numbers["bias_vs_output"] for f in bias_growth(obs, Thresholds())]
    [3.75]
    """
    _need_steps(obs)
    if not obs.pairs:
        raise NotApplicable("no module with both a weight matrix and a bias")
    found = []
    n = obs.steps
    for pair in obs.pairs:
        # (a parameter the optimizer does not hold never grows: not_in_optimizer's business)
        ks = [obs.params[k] for k in pair.kernels if k in obs.params and obs.params[k].optimized]
        bs = [obs.params[b] for b in pair.biases if b in obs.params and obs.params[b].optimized]
        if not ks or not bs:
            continue
        w0, wn, b0, bn = _rms(ks, 0), _rms(ks, n), _rms(bs, 0), _rms(bs, n)
        if w0 == 0.0:
            continue
        # Growth in RMS per element, relative to the larger of the two starting sizes: a bias
        # that starts at zero is measured against the kernel's scale rather than blowing up.
        bias_rate = (bn - b0) / (n * max(b0, w0))
        kernel_rate = (wn - w0) / (n * w0)
        # What the kernels add to a unit: each row's norm is that unit's output RMS for unit inputs.
        out = math.sqrt(sum(t.norms[n] ** 2 / max(t.shape[0], 1) for t in ks)) if all(t.shape for t in ks) else 0.0
        if not (bias_rate > th.bias_rate and bias_rate > th.bias_vs_kernel * max(kernel_rate, 0.0)
                and bn >= th.bias_vs_output * out):
            continue
        if obs.classification:
            targets = ""
        elif obs.config:  # (rnnlab standardizes regression targets on the training part)
            targets = ("; the targets are standardized on the training part, so this is no target mean "
                       "being learned")
        else:
            targets = " (and, in a regression, standardize the targets: a large mean in them is learned by the bias)"
        found.append(
            Finding(
                check="bias_growth",
                severity="warning",
                title=f"Biases of {pair.where} grow faster than its kernels",
                numbers={
                    "bias_rate_per_step": bias_rate,
                    "kernel_rate_per_step": kernel_rate,
                    "bias_rms": [b0, bn],
                    "kernel_rms": [w0, wn],
                    "kernel_output_rms": out,
                    "bias_vs_output": bn / out if out > 0 else math.inf,
                    "steps": n,
                    "biases": pair.biases,
                    "kernels": pair.kernels,
                    "threshold": th.bias_rate,
                },
                message=(
                    f"Over {n} steps the bias RMS went from {_fmt(b0)} to {_fmt(bn)} "
                    f"({_pct(bias_rate)} per step) while the kernel RMS changed by "
                    f"{_pct(kernel_rate)} per step; the bias is now {_fmt(bn / out) if out > 0 else 'many'} times "
                    f"the {_fmt(out)} the kernels add to a unit (for inputs of unit RMS). The layer is learning "
                    "input-independent offsets instead of features; a growing bias also pushes units into "
                    "saturation or death."
                ),
                remedy=spelled(
                    "Check {bias_lr}, regularise biases too ({bias_decay} or "
                    + ("{bias_constraint}" if obs.config or _built_in_biases(pair) else
                       # (a cell of the user's own, or a module such as nn.Linear, has no such keyword)
                       "a constraint projected after each optimizer step: b.copy_(rnnlab.constraints.MaxNorm(...)(b))")
                    + "), and {normalize}",
                    obs.config,
                ) + targets + ".",
            )
        )
    return found


@register("not_in_optimizer")
def not_in_optimizer(obs: Observations, th: Thresholds) -> list[Finding]:
    """Trainable parameters with a gradient that no param group of the optimizer holds.

    >>> w = ParamTrace("rnn.weight_hh_l0", (8, 2), [1.0], grad_max=0.5, optimized=False)
    >>> [f.title for f in not_in_optimizer(Observations(steps=1, params={w.name: w}), Thresholds())]
    ['1 parameter(s) are not in the optimizer: rnn.weight_hh_l0']
    """
    if not obs.params:
        raise NotApplicable("the model has no trainable parameter")
    # (without a gradient zero_grad reports them: the missing gradient comes first)
    missing = [p.name for p in obs.params.values() if not p.optimized and p.grad_max]
    if not missing:
        return []
    return [
        Finding(
            check="not_in_optimizer",
            severity="warning",
            title=f"{len(missing)} parameter(s) are not in the optimizer: {_names(missing)}",
            numbers={
                "parameters": missing,
                "grad_max": {n: obs.params[n].grad_max for n in missing[:50]},
                "in_optimizer": sum(p.optimized for p in obs.params.values()),
                "trainable": len(obs.params),
            },
            message=(
                f"{_names(missing)} require a gradient and receive a non-zero one, but no param group of the "
                "optimizer holds them, so no step ever changes them: their update is exactly 0 whatever the "
                "learning rate (the learning-rate check judges only the parameters the optimizer holds)."
            ),
            remedy=(
                "Add them to the optimizer: build it from model.parameters(), or add the forgotten param group "
                "(optimizer.add_param_group({'params': [...]})). If they are frozen on purpose, call "
                ".requires_grad_(False) on them, so that no gradient is computed for them."
            ),
        )
    ]


def _stalled_updates(obs: Observations, th: Thresholds, median: float, numbers: dict,
                     slow: list[str] | None = None) -> Finding | None:
    """The update-ratio finding when the updates are too small for a reason a larger learning rate
    does not fix: inputs far from unit scale (saturating the units they feed) or gates saturated
    at initialisation pass (almost) no gradient, and Adam-like optimizers take no step without one.
    ``slow``: only these weights are too slow (the median is not), and only the inputs are judged
    (the gates of their own layer are the update-ratio check's other branch)."""
    scale = _far_input_scale(obs, th)
    if scale is not None:
        cause = f"the inputs are of scale {_fmt(scale)} (root mean square)"
        why = (f"Inputs of scale {_fmt(scale)}, far from 1, drive the units they feed into saturation (tanh, "
               "sigmoid at ±1 or 0) or leave them next to nothing, so the gradient reaching the weights is "
               "(almost) zero")
        remedy = spelled("{normalize}", obs.config) + (
            "" if obs.config else " (scale each channel to mean 0 and standard deviation 1 with the training "
            "data's statistics before the model sees it)")
        numbers = {**numbers, "cause": "input_scale", "input_scale": scale}
    elif slow is not None:
        return None
    else:
        gate = next(iter(_blocked_gates(obs, th).values()), None)
        if gate is None:
            return None
        when = obs.when("init")
        cause = f"gates saturated {when} ({gate})"
        why = (f"{when.capitalize()} the {gate}: a saturated sigmoid passes (almost) no gradient, so the "
               "weights before it receive none")
        remedy = _gate_remedy(gate, obs).removesuffix(".")
        numbers = {**numbers, "cause": "saturated_gates", "gates": str(gate)}
    if slow is None:
        title = f"Updates change the weights by {_fmt(median)} per step: {cause}"
        said = f"Each step changes the weight matrices by a median {_fmt(median)} of their norm (about 1e-3 is typical)."
    else:
        title = f"{len(slow)} weight(s) barely update: {cause}"
        said = (f"The median update-to-weight ratio is {_fmt(median)}, but {_names(slow)} change by less than "
                f"{th.update_low:g} of their norm per step.")
        numbers = {**numbers, "outliers": {k: numbers["ratios"][k] for k in slow}}
    return Finding(
        check="update_ratio",
        severity="warning",
        title=title,
        numbers=numbers,
        message=f"{said} {why}; a larger learning rate multiplies a gradient of zero and changes nothing.",
        remedy=remedy[0].upper() + remedy[1:] + spelled(". Raising {lr} does not help here.", obs.config),
    )


#: Readable factors for a learning rate change, each decade's (1.5 for a small excess).
_READABLE = (1.5, 2.0, 3.0, 5.0, 10.0)


def lr_factor(ratio: float, th: Thresholds) -> float:
    """The factor to change the learning rate by (up for a ``ratio`` below ``th.update_low``,
    down above ``th.update_high``) that brings the update-to-weight ratio just inside the healthy
    range: the factor to its nearer end with a 10 % margin, rounded up to 1.5, 2, 3, 5 or 10 times
    a power of ten (the ratio moves about in proportion to an Adam-like learning rate). A 9 %
    excess asks for 1.5×, not the 100× that aiming at the typical 1e-3 would.

    >>> th = Thresholds()
    >>> lr_factor(0.109, th), lr_factor(3.0, th), lr_factor(1e-7, th)
    (1.5, 50.0, 150.0)
    """
    need = 1.1 * (ratio / th.update_high if ratio > th.update_high else th.update_low / ratio)
    decade = 10.0 ** math.floor(math.log10(need))
    return next(round(f * decade, 12) for f in _READABLE if f * decade >= need)


#: How far above ``update_high`` (times) a ratio may be for :func:`lr_factor` to read a factor off it.
_READABLE_EXCESS = 10.0
#: How much the weights' norm may change in the measured steps, in its own size, for the same.
_READABLE_GROWTH = 1.0


def lr_factor_unreadable(obs: Observations, judged: Iterable[str], median: float, th: Thresholds) -> str | None:
    """Why :func:`lr_factor` cannot be trusted for a ``median`` ratio above ``th.update_high``
    over the weights ``judged`` (names in ``obs.params``), or None where it can. Its
    proportional model (the ratio moves with an Adam-like learning rate) holds near the healthy
    range and for weights of about their initial size; not for a ratio far above it, nor once
    the steps made the weights grow by more than their own norm: the next step's size, about the
    learning rate, then meets weights the learning rate itself inflated (at lr 10, 0.23 per step;
    at 3.33, 0.284).

    >>> obs = Observations(steps=2)
    >>> obs.params["w"] = ParamTrace("w", (4, 4), [1.0, 50.0, 60.0])
    >>> lr_factor_unreadable(obs, ["w"], 0.23, Thresholds())
    'the weights grew to 60 times their norm in the 2 steps measured'
    >>> obs.params["w"].norms = [1.0, 1.1, 1.2]
    >>> lr_factor_unreadable(obs, ["w"], 0.15, Thresholds()) is None
    True
    """
    if median > _READABLE_EXCESS * th.update_high:
        return f"more than {_READABLE_EXCESS:g} times the healthy range's top, {th.update_high:g}"
    growth = []
    for name in judged:
        norms = obs.params[name].norms
        if len(norms) > 1 and norms[0] > 0:  # (a non-finite last norm: the weights blew up, growth inf)
            last = norms[-1] if math.isfinite(norms[-1]) else math.inf
            growth.append(abs(last - norms[0]) / norms[0])
    if not growth:
        return None
    typical = float(torch.tensor(growth, dtype=torch.float64).median())
    if not typical > _READABLE_GROWTH:
        return None
    if not math.isfinite(typical):
        return f"the weights' norm became non-finite in the {obs.steps} steps measured"
    last = 1 + typical  # (the weights shrink by at most their own size: a change above it is growth)
    return f"the weights grew to {_fmt(last)} times their norm in the {obs.steps} steps measured"


@register("update_ratio")
def update_ratio(obs: Observations, th: Thresholds) -> list[Finding]:
    """Update-to-weight ratio ||ΔW|| / ||W|| per step far from ~1e-3 (learning rate off)."""
    _need_steps(obs)
    ratios: dict[str, float] = {}
    # A zero-initialized layer passes no gradient back at the first step: the weights behind it
    # change only by their weight decay then (AdamW: lr x decay of their norm, e.g. 3e-3 x 1e-3),
    # which measures no learning rate. Their later steps do.
    first_cut = {n for names in _behind_zero_layer(obs.params, obs).values() for n in names}
    nonfinite = []
    for p in obs.params.values():
        # Weight matrices only: biases and gains often start at 0 or 1, where the ratio says
        # nothing about the learning rate; so does a matrix that starts at 0 (a zero-initialized
        # head: [model.head] zero_init), whose first steps are large against its tiny norm.
        # Parameters without gradient are zero_grad's business, those the optimizer does not
        # hold not_in_optimizer's (no learning rate moves them).
        if len(p.shape) < 2 or not p.grad_max or not p.norms[0] > 0 or not p.optimized:
            continue
        skip = 1 if p.name in first_cut and len(p.updates) > 1 else 0
        per_step = [
            u / w
            for u, w in zip(p.updates[skip:], p.norms[skip:-1], strict=True)
            if w > 0 and math.isfinite(u / w)
        ]
        if per_step:
            ratios[p.name] = float(torch.tensor(per_step).median())
        elif not all(map(math.isfinite, p.updates + p.norms)):
            nonfinite.append(p.name)  # (a NaN gradient is a gradient: its updates are NaN too)
    if not ratios and nonfinite:
        raise NotApplicable(f"the gradients and updates of the weight matrices held by the optimizer "
                            f"({_names(nonfinite)}) were non-finite, NaN or inf (the nonfinite finding): no ratio "
                            "to read")
    if not ratios:
        raise NotApplicable("no weight matrix held by the optimizer received a gradient")
    values = torch.tensor(list(ratios.values()), dtype=torch.float64)
    median = float(values.median())
    numbers = {
        "median_ratio": median,
        "min_ratio": float(values.min()),
        "max_ratio": float(values.max()),
        "ratios": ratios,
        "steps": obs.steps,
        "learning_rates": obs.learning_rates,
        "healthy_range": [th.update_low, th.update_high],
    }
    if median < th.update_low:
        stalled = _stalled_updates(obs, th, median, numbers)
        if stalled is not None:
            return [stalled]
        if median > 0:  # (the remedy's factor, for the fit findings after training to say alike)
            numbers["lr_factor"] = lr_factor(median, th)
        return [
            Finding(
                check="update_ratio",
                severity="warning",
                title=f"Learning rate too small: updates change the weights by {_fmt(median)} per step",
                numbers=numbers,
                message=(
                    f"Each step changes the weight matrices by a median {_fmt(median)} of their norm "
                    f"(about 1e-3 is typical; below {th.update_low:g} training barely moves)."
                ),
                remedy=spelled("Raise {lr}", obs.config)
                + (
                    f" (by about {_fmt(lr_factor(median, th))}× to bring the ratio above {th.update_low:g}, "
                    "inside the healthy range)."
                    if median > 0
                    else ": the updates are below the float precision of the weights and change nothing."
                ),
            )
        ]
    if median > th.update_high:
        unreadable = lr_factor_unreadable(obs, ratios, median, th)
        if unreadable is None:
            numbers["lr_factor"] = lr_factor(median, th)
            how = (f" (by about {_fmt(lr_factor(median, th))}× to bring the ratio below {th.update_high:g}, inside "
                   "the healthy range)")
        else:
            # (the fit findings after training read the flag: no factor to repeat)
            numbers["lr_factor_readable"] = False
            how = (f" by 10 times or more (the update ratio {_fmt(median)} is too large for its factor to be read "
                   f"off: {unreadable})")
        return [
            Finding(
                check="update_ratio",
                severity="warning",
                title=f"Learning rate too large: updates change the weights by {_fmt(median)} per step",
                numbers=numbers,
                message=(
                    f"Each step changes the weight matrices by a median {_fmt(median)} of their norm "
                    f"(about 1e-3 is typical; above {th.update_high:g} the weights are overwritten "
                    "rather than refined, and training is unstable)."
                ),
                remedy=spelled("Lower {lr}", obs.config) + how + ", or use " + spelled("{warmup}.", obs.config),
            )
        ]
    # What the others' rate predicts for each weight: an Adam-like step moves every element by about
    # the learning rate, and an initialisation of about 1/sqrt(fan-in) per element makes the ratio grow
    # as sqrt(fan-in) (a first conv over 80 channels x 7 taps moves by 0.1 of its norm where the rest
    # move by 0.03-0.05: its fan-in, not a learning rate).
    fan_in = {k: max(math.prod(obs.params[k].shape[1:]), 1) for k in ratios}
    typical = float(torch.tensor([v / math.sqrt(fan_in[k]) for k, v in ratios.items()], dtype=torch.float64).median())
    expected = {k: typical * math.sqrt(fan_in[k]) for k in ratios}
    outliers = {k: v for k, v in ratios.items() if not th.update_low <= v <= th.update_high
                and not expected[k] / th.update_spread <= v <= expected[k] * th.update_spread}
    slow = [k for k, v in outliers.items() if v < th.update_low]
    if outliers and len(slow) == len(outliers):
        stalled = _stalled_updates(obs, th, median, numbers, slow)
        if stalled is not None:
            return [stalled]
    blocked, layer_of = _blocked_gates(obs, th), _layer_of(obs)
    gated = [k for k, v in outliers.items() if v < th.update_low and layer_of.get(k) in blocked]
    if outliers and len(gated) == len(outliers):
        # a vanishing gradient, not a learning rate: the weights of a layer whose gate is saturated
        gate = blocked[layer_of[gated[0]]]
        return [
            Finding(
                check="update_ratio",
                severity="warning",
                title=f"{len(outliers)} weight(s) barely update: {gate}",
                numbers={**numbers, "outliers": outliers, "layer": gate.where, "gate": GATE_LABELS[gate.gate],
                         "state": gate.state, **gate.numbers},
                message=(
                    f"The median update-to-weight ratio is {_fmt(median)}, but {_names(gated)} change by less "
                    f"than {th.update_low:g} of their norm per step. " + _gate_message(gate, gated, th, obs)
                ),
                remedy=_gate_remedy(gate, obs) + spelled(" Raising {lr} does not help here.", obs.config),
            )
        ]
    if outliers:
        shown = list(outliers)[:5]
        # (per-group rates to check only where the optimizer's groups have different ones)
        groups = spelled("{lr_groups} and ", obs.config) if len(set(obs.learning_rates)) > 1 else ""
        return [
            Finding(
                check="update_ratio",
                severity="warning",
                title=f"{len(outliers)} weight(s) update at a very different rate from the rest",
                numbers={**numbers, "outliers": outliers, "expected": {k: expected[k] for k in outliers},
                         "fan_in": {k: fan_in[k] for k in outliers}, "spread": th.update_spread},
                message=(
                    f"The median update-to-weight ratio is {_fmt(median)}, but for "
                    + ", ".join(f"{k} it is {_fmt(outliers[k])} (the rest's rate predicts {_fmt(expected[k])} "
                                f"for its fan-in of {fan_in[k]})" for k in shown)
                    + f": outside [{th.update_low:g}, {th.update_high:g}] and more than {th.update_spread:g} times "
                    "off, those weights learn far too slowly or too fast."
                ),
                remedy=f"Check {groups}the initial scale of these weights (about 1/sqrt(fan-in) per element, as the "
                       "rest)" + (", and what feeds those that barely move: saturated or dead units pass (almost) no "
                                  "gradient." if any(v < th.update_low for v in outliers.values()) else "."),
            )
        ]
    return []
