"""The search space: which config keys a trial samples, in which range, and how a sample
becomes a complete config.

A :class:`Space` is a list of :class:`Param`; each names a key path of the config (e.g.
``"model.recurrent_dropout"``, ``"training.lr"``, ``"training.decay_rules[0].weight_decay"``) or
one of the derived keys of :data:`DERIVED` (``decay.kernel`` sets a decay rule for the kernel
weights, ``model.normalization`` chooses between layer norm and recurrent batch norm, ...).
:func:`space_from_config` reads ``[search.space]`` and checks it before any trial runs: unknown
keys (with "did you mean"), empty ranges and values the layer refuses are :class:`SearchError`
naming the key. :func:`default_space` is the regularization recipe of docs/regularization.md,
with conditional parameters only where they apply (docs/search.md gives the reason of each range).

Example:
    >>> from rnnlab.config import parse_config
    >>> base = parse_config('[data]\\ndataset = "UnitTest"\\n[search.space]\\n'
    ...                     '"model.recurrent_dropout" = { low = 0.0, high = 0.5 }\\n'
    ...                     '"model.hidden_size" = { low = 8, high = 32 }')
    >>> space = space_from_config(base, input_size=1, num_classes=2)
    >>> [(p.name, p.kind) for p in space.params]
    [('model.recurrent_dropout', 'float'), ('model.hidden_size', 'int')]
    >>> cfg = space.apply(base, {"model.recurrent_dropout": 0.25, "model.hidden_size": 16})
    >>> cfg.model.recurrent_dropout, cfg.model.hidden_size, cfg.search
    (0.25, 16, None)
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from rnnlab._checks import did_you_mean
from rnnlab.config import Config, ParamSpec, config_from_dict, section_of, without_unread_keys
from rnnlab.errors import ConfigError, SearchError

Kind = Literal["float", "int", "choice"]

#: Keys that are not one config key but set several (see :meth:`Space.apply`).
DERIVED: dict[str, str] = {
    "decay.kernel": "float",
    "decay.recurrent": "float",
    "decay.bias_fraction": "float",
    "model.normalization": "choice",
    "model.max_norm": "choice",
}
#: The bound of the max-norm constraint that ``model.max_norm = true`` puts on kernel and
#: recurrent weights: Srivastava et al. (dropout paper) found 3-4 works with dropout.
MAX_NORM = 3.0
#: Keys whose inverted dropout scales an IndRNN's recurrent weight u by 1/(1-p) in training:
#: the default space and the recipe leave them out for an IndRNN (:func:`lifts_indrnn_bound`).
INDRNN_BOUND_LIFTERS = ("model.recurrent_dropout", "model.weight_drop")
INDRNN_BOUND_LIFTED = ("on an IndRNN inverted dropout scales each kept unit's recurrent weight u by 1/(1-p) in "
                       "training, so |u| passes its bound at every step and the state grows as (|u|/(1-p))^T; "
                       "Li et al. drop out between layers instead (model.dropout), or use model.zoneout")
NORMALIZATIONS = ("none", "layer_norm", "recurrent_batch_norm")


class Suggest(Protocol):
    """What :meth:`Space.sample` needs of a trial (an ``optuna.Trial`` has it)."""

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class Param:
    """One dimension: a float or int range, or choices; ``requires`` = (param, value) it needs."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    requires: tuple[str, Any] | None = None
    why: str = ""

    def labels(self) -> list[Any]:
        """The choices as Optuna stores them (tables become their JSON text)."""
        return [_label(c) for c in self.choices]

    def describe(self) -> str:
        """The range in words, e.g. ``0 .. 0.5``, ``4 .. 20 step 8``, ``1e-05 .. 0.01 (log)`` or
        ``a | b``, and the condition of a parameter sampled only where another has a value
        (``, when X = V``).

        >>> Param("model.hidden_size", "int", 4, 20, step=8).describe()
        '4 .. 20 step 8'
        >>> Param("training.shuffle_within_batch", "choice", choices=(False, True),
        ...       requires=("training.shuffle", "batches")).describe()
        'False | True, when training.shuffle = batches'
        """
        if self.kind == "choice":
            text = " | ".join(str(c) for c in self.labels())
        else:
            # (an int range's step of 1 is every integer: no grid to name)
            grid = self.step is not None and not (self.kind == "int" and self.step == 1)
            text = (f"{self.low:g} .. {self.high:g}" + (f" step {self.step:g}" if grid else "")
                    + (" (log)" if self.log else ""))
        if self.requires is not None:
            text += f", when {self.requires[0]} = {_label(self.requires[1])}"
        return text


def _label(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


@dataclass
class Space:
    """The parameters a trial samples, in order (a conditional one after the one it needs)."""

    params: list[Param]
    default: bool = False

    def sample(self, trial: Suggest) -> dict[str, Any]:
        """Draw one value per applicable parameter from ``trial`` (e.g. an ``optuna.Trial``)."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.requires is not None and values.get(p.requires[0]) != p.requires[1]:
                continue  # conditional: sampled only where it applies
            if p.kind == "float":
                assert p.low is not None and p.high is not None
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
            elif p.kind == "int":
                assert p.low is not None and p.high is not None
                values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log,
                                                   step=int(p.step or 1))
            else:
                label = trial.suggest_categorical(p.name, p.labels())
                values[p.name] = p.choices[p.labels().index(label)]
        return values

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's stored params (labels) back to config values."""
        by_name = {p.name: p for p in self.params}
        out = {}
        for k, v in params.items():
            p = by_name.get(k)
            out[k] = p.choices[p.labels().index(v)] if p is not None and p.kind == "choice" else v
        return out

    def apply(self, base: Config, values: Mapping[str, Any], source: str = "search: trial") -> Config:
        """``base`` with ``values`` set: a complete config (without ``[search]``), validated."""
        return apply_values(base, values, source)


def apply_values(base: Config, values: Mapping[str, Any], source: str = "search: trial") -> Config:
    """``base`` with ``values`` (key paths or :data:`DERIVED` keys → values) set: a complete
    config without ``[search]``, validated (a :class:`ConfigError` names a refused value).

    >>> from rnnlab.config import parse_config
    >>> cfg = apply_values(parse_config('[data]\\ndataset = "UnitTest"'), {"decay.recurrent": 1e-3})
    >>> [(r.role, r.weight_decay) for r in cfg.training.decay_rules]
    [('recurrent', 0.001)]
    """
    raw = base.model_dump(exclude={"search"})
    derived = {k: v for k, v in values.items() if k in DERIVED}
    for key, value in values.items():
        if key not in DERIVED:
            _set(raw, key, _unset_none(key, value))
    for path, value in _derived_writes(derived, base, raw["training"]["decay_rules"]).items():
        _set(raw, path, value)
    if _forget_bias_was_the_lstms(base, raw["model"]["layer"], values):
        raw["model"]["unit_forget_bias"] = False
    # (a value that changes the task leaves the base's keys of the old one behind: they go, unless set here)
    return config_from_dict(without_unread_keys(raw, keep=values.keys()), source=source)


def _forget_bias_was_the_lstms(base: Config, layer: str, values: Mapping[str, Any]) -> bool:
    """Whether ``values`` change the base config's LSTM to ``layer``, another layer, and leave its
    ``unit_forget_bias`` alone: the base's value was the LSTM's (the template sets it), only an
    LSTM has a forget gate, and the config refuses it on another layer. Set in ``values`` it is the
    caller's, and refused for another layer by the config's own check.

    >>> from rnnlab.config import parse_config, template_for
    >>> lstm = parse_config(template_for("classification"))
    >>> apply_values(lstm, {"model.layer": "gru"}).model.unit_forget_bias
    False
    >>> apply_values(lstm, {"model.layer": "lstm"}).model.unit_forget_bias
    True
    """
    return (layer != base.model.layer and base.model.layer == "lstm" and bool(base.model.unit_forget_bias)
            and "model.unit_forget_bias" not in values)


# ------------------------------------------------------------------------------ key paths


def _parts(path: str) -> list[str | int]:
    out: list[str | int] = []
    for piece in path.split("."):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", piece)
        if m is None:
            raise SearchError(f"search.space: {path!r} is not a key path (expected e.g. 'model.recurrent_dropout')")
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return out


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    node: Any = raw
    parts = _parts(path)
    for part in parts[:-1]:
        if isinstance(part, str) and node.get(part) is None:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _leaf_paths(model: type[BaseModel] = Config, prefix: str = "") -> dict[str, Any]:
    """Every settable key path of the config with its annotation (lists as ``name[i]``)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if model is Config and name == "search":
            continue
        inner = section_of(field.annotation)
        path = f"{prefix}{name}"
        if inner is not None and _is_list(field.annotation):
            out.update(_leaf_paths(inner, f"{path}[i]."))
        elif inner is not None:
            if _is_optional(field.annotation):
                out[path] = field.annotation  # an optional table can be chosen whole (or "none")
            out.update(_leaf_paths(inner, f"{path}."))
        else:
            out[path] = field.annotation
    return out


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list or any(_is_list(a) for a in typing.get_args(annotation))


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _kind_of(annotation: Any) -> str:
    """"float", "int" or "other" (bool, str, literal, table: choices only)."""
    args = set(_flat_types(annotation))
    if float in args:
        return "float"
    if int in args and bool not in args:
        return "int"
    return "other"


def _flat_types(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _flat_types(a)]
    if origin is typing.Annotated:
        return _flat_types(typing.get_args(annotation)[0])
    return [annotation]


def key_kind(path: str, base: Config) -> str:
    """The kind of the config key path ``path`` in ``base`` (raising SearchError with a "did you
    mean" for an unknown one): what the search space and the estimators' ``params__<key>`` check.

    >>> from rnnlab.config import parse_config
    >>> key_kind("model.zoneout", parse_config('[data]\\ndataset = "UnitTest"'))
    'float'
    """
    if path in DERIVED:
        return DERIVED[path]
    parts = _parts(path)
    generic = re.sub(r"\[\d+\]", "[i]", path)
    leaves = _leaf_paths()
    if generic not in leaves:
        close = difflib.get_close_matches(generic, list(leaves) + list(DERIVED), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SearchError(f"search.space: unknown key path {path!r}{hint}")
    # A list index must name an existing item (e.g. a decay rule of the base config).
    node: Any = base.model_dump(exclude={"search"})
    walked = ""
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                have = len(node) if isinstance(node, list) else 0
                raise SearchError(f"search.space: {path!r}: the config has {have} item(s) in {walked!r}, "
                                  f"got index {part}")
            node = node[part]
        else:
            walked = f"{walked}.{part}" if walked else part
            node = node.get(part) if isinstance(node, dict) else None
    return _kind_of(leaves[generic])


def _unset_none(path: str, value: Any) -> Any:
    """The choice "none" unsets an optional key (a constraint, the front-end)."""
    if value != "none":
        return value
    generic = re.sub(r"\[\d+\]", "[i]", path)
    annotation = _leaf_paths().get(generic)
    if annotation is not None and _is_optional(annotation) and "none" not in _literal_values(annotation):
        return None
    return value


def _literal_values(annotation: Any) -> list[Any]:
    out = []
    for t in _flat_types(annotation):
        if typing.get_origin(t) is Literal:
            out += list(typing.get_args(t))
    return out


def _derived_writes(values: Mapping[str, Any], base: Config, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """``{config key path: value}`` that the derived keys in ``values`` set (``rules``: the decay
    rules before them). The one mapping of derived keys to config keys: :func:`apply_values`
    writes it, :func:`written_paths` reads it. The derived keys are applied together (the decay
    keys compose one list of rules), so they never overwrite one another."""
    for key, value in values.items():
        _check_derived(key, value)
    out: dict[str, Any] = {}
    if "model.normalization" in values:
        norm = values["model.normalization"]
        out["model.layer_norm"] = norm == "layer_norm"
        out["model.recurrent_batch_norm"] = norm == "recurrent_batch_norm"
    if "model.max_norm" in values:
        bound = {"kind": "max_norm", "value": MAX_NORM} if values["model.max_norm"] else None
        out["model.kernel_constraint"] = bound
        if not bound_is_the_models(base):
            out["model.recurrent_constraint"] = bound
    decays = {role: values[f"decay.{role}"] for role in ("kernel", "recurrent") if f"decay.{role}" in values}
    if "decay.bias_fraction" in values:
        # Bias decay no larger than the weights': a fraction of the smaller of their decays.
        weights = [decays.get(r, _rule_decay(base, r)) for r in ("kernel", "recurrent")]
        decays["bias"] = values["decay.bias_fraction"] * min(weights)
    if decays:
        ours = [{"role": role, "weight_decay": float(v)} for role, v in decays.items()]
        named = [r for r in rules if r.get("name") is not None]
        rest = [r for r in rules if r.get("name") is None and not set(_roles(r)) <= set(decays)]
        # A rule naming parameters stays first (an exclusion like "^head\\." keeps working).
        out["training.decay_rules"] = named + ours + rest
    return out


def bound_is_the_models(base: Config) -> bool:
    """Whether ``base``'s recurrent constraint is part of its model, not a regularizer that
    ``model.max_norm`` toggles: an IndRNN's ``|u| <= MAG^(1/T)`` (Li et al. 2018) keeps gradients
    bounded over T steps, which neither "off" nor max-norm 3 would (3^100 is 5e47). There
    ``model.max_norm`` is the kernel's max-norm only.

    >>> from rnnlab.config import parse_config
    >>> bound_is_the_models(parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nlayer = "indrnn"'))
    True
    """
    return base.model.layer == "indrnn"


def lifts_indrnn_bound(key: str, base: Config) -> str | None:
    """Why ``key`` is left out of the default space and the recipe for ``base`` (None: it is
    not): recurrent dropout and weight drop on an IndRNN (:data:`INDRNN_BOUND_LIFTERS`).

    >>> from rnnlab.config import parse_config
    >>> lifts_indrnn_bound("model.weight_drop", parse_config('[data]\\ndataset = "UnitTest"')) is None
    True
    """
    return INDRNN_BOUND_LIFTED if key in INDRNN_BOUND_LIFTERS and base.model.layer == "indrnn" else None


def _check_derived(key: str, value: Any) -> None:
    """A value of a derived key that its writes would not express: a ConfigError naming the key,
    the values it takes and the value given (a name that is not one of its choices would
    otherwise train as "none", and any true value as max-norm on).

    >>> _check_derived("model.normalization", "batchnorm")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: 'model.normalization': expected one of 'none', 'layer_norm', 'recurrent_batch_norm', got 'batchnorm'; did you mean 'recurrent_batch_norm'?
    """
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if key == "model.normalization" and (not isinstance(value, str) or value not in NORMALIZATIONS):
        raise ConfigError(f"'{key}': expected one of {', '.join(map(repr, NORMALIZATIONS))}, got {value!r}"
                          + (did_you_mean(value, NORMALIZATIONS) if isinstance(value, str) else ""))
    if key == "model.max_norm" and not isinstance(value, bool):
        # (this check sees no config: the words hold for every layer, bound_is_the_models' IndRNN too)
        raise ConfigError(f"'{key}': expected true (max-norm {MAX_NORM:g} on the kernel, and on the recurrent weights "
                          f"but for an IndRNN, whose bound is its own) or false, got {value!r}; another bound is a "
                          "choice of model.kernel_constraint and model.recurrent_constraint")
    if key in ("decay.kernel", "decay.recurrent") and not (number and value >= 0):
        raise ConfigError(f"'{key}': expected a decoupled weight decay (a number >= 0), got {value!r}")
    if key == "decay.bias_fraction" and not (number and 0 <= value <= 1):
        raise ConfigError(f"'{key}': expected a fraction in [0, 1] of the smaller weight decay (biases never decay "
                          f"more than the weights), got {value!r}")


def written_paths(param: Param, base: Config) -> set[str]:
    """The config key paths that sampling ``param`` sets: its own path, or for a derived key
    what :func:`_derived_writes` sets for its values (bounds or choices).

    >>> from rnnlab.config import parse_config
    >>> base = parse_config('[data]\\ndataset = "UnitTest"')
    >>> sorted(written_paths(Param("model.normalization", "choice", choices=("none", "layer_norm")), base))
    ['model.layer_norm', 'model.recurrent_batch_norm']
    """
    if param.name not in DERIVED:
        return {param.name}
    samples = list(param.choices) if param.kind == "choice" else [param.low, param.high]
    rules = base.model_dump()["training"]["decay_rules"]
    return {path for v in samples for path in _derived_writes({param.name: v}, base, rules)}


def _overlaps(a: str, b: str) -> bool:
    """One key path is the other or holds it (``model.frontend`` holds ``model.frontend.channels``)."""
    return a == b or b.startswith((f"{a}.", f"{a}[")) or a.startswith((f"{b}.", f"{b}["))


def check_overlaps(space: Space, base: Config) -> None:
    """Refuse two parameters that set one config key (the sampled value of one would be recorded
    and fed to the sampler while the trial trains with the other's), naming both.

    >>> from rnnlab.config import parse_config
    >>> base = parse_config('[data]\\ndataset = "UnitTest"')
    >>> check_overlaps(Space([Param("model.normalization", "choice", choices=("none", "layer_norm")),
    ...                       Param("model.layer_norm", "choice", choices=(False, True))]), base)
    Traceback (most recent call last):
    ...
    rnnlab.errors.SearchError: search.space: 'model.normalization' and 'model.layer_norm' both set model.layer_norm (a trial would train with one of the two values sampled); keep one of them
    """
    writes = [(p, written_paths(p, base)) for p in space.params]
    for i, (a, paths_a) in enumerate(writes):
        for b, paths_b in writes[i + 1:]:
            if a.name in DERIVED and b.name in DERIVED:
                continue  # applied together (see _derived_writes)
            shared = sorted(x if len(x) <= len(y) else y for x in paths_a for y in paths_b if _overlaps(x, y))
            if shared:
                raise SearchError(f"search.space: {a.name!r} and {b.name!r} both set {shared[0]} (a trial would "
                                  "train with one of the two values sampled); keep one of them")


def _roles(rule: Mapping[str, Any]) -> list[str]:
    role = rule.get("role")
    return [] if role is None else [role] if isinstance(role, str) else list(role)


def _rule_decay(base: Config, role: str, unruled: float | None = None) -> float:
    """The decay the base config gives ``role``: its first rule naming the role, else
    ``unruled`` (None: the global ``training.weight_decay``; biases take 0, not decayed by default)."""
    for r in base.training.decay_rules:
        if r.name is None and role in _roles(r.model_dump()):
            return r.weight_decay if r.weight_decay is not None else base.training.weight_decay
    return base.training.weight_decay if unruled is None else unruled


# ------------------------------------------------------------------------------ checking


def _check_values(space: Space, base: Config, param: Param, values: list[Any], input_size: int,
                  num_classes: int) -> None:
    """Every bound / choice must give a config the layer accepts (else SearchError naming it)."""
    from rnnlab.train.model import build_model

    for v in values:
        try:
            cfg = space.apply(base, {param.name: v}, source="config")
            build_model(cfg.model, input_size, num_classes)
        except ConfigError as e:
            raise SearchError(f"search.space.{param.name!r}: the value {_label(v)!r} is refused: {e}") from None


#: ``task.*`` keys a search cannot vary, and why: a trial's score must be comparable with the others'.
UNSEARCHABLE_TASK_KEYS = {
    "task.kind": "the task decides the metric a trial is scored on and its direction",
    "task.per_step": "it decides what is predicted, and so what the metric measures",
    "task.horizon": "it decides what is predicted, and so what the metric measures",
    "task.season": "it sets MASE's scale, so trials would be scored in other units",
    "task.mean_guard": "it acts after the last epoch, whose score is a trial's: every trial would score the same",
}
_OTHER_DATA = ("trials would be scored on other data, and the final run would test the winner on its own "
               "data's test split; search each data set in a study of its own")
_SPLIT = "it moves the line between the training and the validation (or test) part, so trials would be scored on other series"
_SAME = "it changes how a run is carried out, not what it learns"
#: Other keys a search cannot vary, each with why and what to do instead (the same one-line refusal).
UNSEARCHABLE_KEYS: dict[str, tuple[str, str]] = {
    "data.dataset": (_OTHER_DATA, "set it in [data]"),
    "data.path": (_OTHER_DATA, "set it in [data]"),
    "data.test_path": ("the search never reads the test split (only its final run does, once): every trial "
                       "would score alike", "set it in [data]"),
    "data.label_column": ("it decides what is predicted, and so what the metric measures", "set it in [data]"),
    "data.target_column": ("it decides what is predicted, and so what the metric measures", "set it in [data]"),
    "data.val_fraction": (_SPLIT, "set it in [data]"),
    "data.val_steps": (_SPLIT, "set it in [data]"),
    "data.test_fraction": (_SPLIT, "set it in [data]"),
    "data.test_steps": (_SPLIT, "set it in [data]"),
    "training.seed": ("a search over seeds picks the luckiest seed, not a better config",
                      "to average the seed's noise out, score each trial on more folds (search.folds), or compare "
                      "configs over several seeds with `rnnlab recipe CONFIG --seeds N` (docs/regularization.md)"),
    "training.threads": (f"{_SAME}: trials would differ by speed and rounding only", "set it in [training]"),
    "training.device": (f"{_SAME}: trials would differ by speed and rounding only",
                        "set it in [training] or pass --device"),
    "training.checkpoint_every": (f"{_SAME}: every trial would score alike", "set it in [training]"),
    "output.dir": ("a trial's runs are written under the study directory (--out), whatever it says: every trial "
                   "would score alike", "set it in [output] or pass --out"),
}
#: keys that do nothing on a stream (docs/streams.md: its rows are read in order, window after window)
STREAM_IGNORED = ("training.shuffle", "training.shuffle_within_batch")


def _refused_key(name: str, base: Config) -> None:
    """Refuse a key a search cannot vary meaningfully on ``base``'s task, in one line saying why."""
    if name in UNSEARCHABLE_TASK_KEYS:
        raise SearchError(f"search.space: {name!r} cannot be searched: {UNSEARCHABLE_TASK_KEYS[name]}; set it in "
                          "[task] and remove the key from the space")
    if name in UNSEARCHABLE_KEYS:
        why, instead = UNSEARCHABLE_KEYS[name]
        raise SearchError(f"search.space: {name!r} cannot be searched: {why}; remove the key from the space "
                          f"({instead})")
    if name in STREAM_IGNORED and _is_stream(base):
        raise SearchError(f"search.space: {name!r} does nothing on a stream ([task] kind = {base.task.kind!r}): its "
                          "rows are read in order, window after window (docs/streams.md), so every trial would train "
                          "alike; remove the key")


def _is_stream(base: Config) -> bool:
    from rnnlab.task import task_for

    return task_for(base).stream


def _distinct(choices: list[Any]) -> list[Any]:
    """The choices without repeats, as Optuna tells them apart (its labels; true is not 1)."""
    seen: list[tuple[bool, Any]] = []
    for c in choices:
        key = (isinstance(_label(c), bool), _label(c))
        if key not in seen:
            seen.append(key)
    return [label for _, label in seen]


def _param(name: str, spec: ParamSpec, base: Config) -> Param:
    kind = key_kind(name, base)
    _refused_key(name, base)
    where = f"search.space.{name!r}"
    if spec.choices is not None:
        labels, distinct = [_label(c) for c in spec.choices], len(_distinct(spec.choices))
        if distinct < len(labels):
            # A repeated choice is drawn twice as often: a typo, never a weight.
            raise SearchError(f"{where}: expected {'at least 2 ' if distinct < 2 else ''}distinct choices, got {labels!r}")
        return Param(name, "choice", choices=tuple(spec.choices))
    if kind == "choice" or kind == "other":
        raise SearchError(f"{where}: this key takes 'choices' (a list of values), got a range "
                          f"low={spec.low!r}, high={spec.high!r}")
    assert spec.low is not None and spec.high is not None
    low, high = spec.low, spec.high
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SearchError(f"{where}: empty range: expected low < high, got low={low:g}, high={high:g}")
    if spec.log and low <= 0:
        raise SearchError(f"{where}: a log range needs low > 0, got low={low:g}")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise SearchError(f"{where}: an integer key needs integer bounds, got low={low:g}, high={high:g}")
    if spec.log and spec.step is not None:
        raise SearchError(f"{where}: 'step' and 'log' cannot be combined (Optuna's rule), got both")
    if spec.step is not None:
        _check_step(where, kind, low, high, spec.step)
    return Param(name, "int" if kind == "int" else "float", low=int(low) if kind == "int" else low,
                 high=int(high) if kind == "int" else high, log=spec.log, step=spec.step)


def _check_step(where: str, kind: str, low: float, high: float, step: float) -> None:
    """A grid step must divide the range (Optuna would cut the range with a warning of its own)
    and, on an integer key, be an integer (it would be truncated)."""
    from decimal import Decimal

    if kind == "int" and not float(step).is_integer():
        raise SearchError(f"{where}: an integer key needs an integer step, got step={step:g}")
    # (the decimal arithmetic Optuna checks it with: 0.1 .. 0.5 by 0.1 divides)
    width, grid = Decimal(str(high)) - Decimal(str(low)), Decimal(str(step))
    if width % grid != 0:
        fit = float((width // grid) * grid + Decimal(str(low)))
        raise SearchError(f"{where}: 'step' {step:g} does not divide the range {low:g} .. {high:g}; expected "
                          f"high - low to be a multiple of it, e.g. high = {fit:g} or {fit + step:g}")


def _check_nothing_to_search(space: Space) -> None:
    """Refuse a space in which every parameter has one value: every trial would be the same
    config. (One fixed choice beside keys that vary is a value held while they are searched.)"""
    if space.params and all(p.kind == "choice" and len(p.choices) == 1 for p in space.params):  # (repeats: _param)
        p = space.params[0]
        raise SearchError(f"search.space.{p.name!r}: expected at least 2 distinct choices, got {p.labels()!r} (no key "
                          "of the space varies: every trial would train the same config; set a fixed value in the "
                          "config itself)")


def space_from_config(base: Config, input_size: int, num_classes: int) -> Space:
    """The ``[search.space]`` of ``base`` checked, or :func:`default_space` when it is empty.

    ``input_size`` (channels of the data) and ``num_classes`` build the model once per bound
    and choice, so a value the layer would refuse is an error before any trial runs.
    """
    specs = base.search.space if base.search is not None else {}
    if not specs:
        return default_space(base, input_size, num_classes)
    space = Space([_param(name, spec, base) for name, spec in specs.items()])
    if "model.max_norm" in specs and bound_is_the_models(base):
        _say_max_norm_spares_the_bound(base)
    _check_read(space, base)  # (before the values: applied, an unread one is warned of first)
    for p in space.params:
        _check_values(space, base, p, list(p.choices) if p.kind == "choice" else [p.low, p.high],
                      input_size, num_classes)
    check_overlaps(space, base)  # (after the values: it applies them, and a refused one is named there)
    _check_nothing_to_search(space)
    return space


def _check_read(space: Space, base: Config) -> None:
    """Refuse a space key that only another setting makes read (:data:`rnnlab.config.READ_WHEN`:
    ``training.momentum``, an SGD optimizer's) where the config leaves that setting off and the
    space does not vary it: every trial would train alike in it, and the search would rank noise
    (a space that varies what turns it on too is a conditional search: trials that do not read
    it say so once)."""
    from rnnlab.config import READ_WHEN

    names = {p.name for p in space.params}
    for read in READ_WHEN:
        section = getattr(base, read.key.split(".")[0])
        if read.key in names and not read.reads(section) and not names & set(read.by):
            value = getattr(section, read.by[0].rsplit(".", 1)[-1])
            raise SearchError(f"search.space.{read.key!r}: read by {read.who} only, not with {read.by[0]} = {value!r}, "
                              f"and the space does not vary {read.by[0]}: every trial would train alike in it; remove "
                              f"it, or {read.fix} (or search {read.by[0]} too)")


def _say_max_norm_spares_the_bound(base: Config) -> None:
    """One line, before the search's first: what a space's ``model.max_norm`` does on an IndRNN
    (a warning raised here, in rnnlab: the CLI shows it as ``rnnlab search: warning: ...``)."""
    c = base.model.recurrent_constraint
    kept = "none" if c is None else f"{c.kind} {c.value:.6g}" if c.value is not None else c.kind
    warnings.warn(f"search.space: 'model.max_norm' on an IndRNN sets max-norm {MAX_NORM:g} (true) or none "
                  f"(false) on the kernel only; the recurrent bound stays model.recurrent_constraint = {kept} "
                  "in every trial (to search the bound, name model.recurrent_constraint in the space)", stacklevel=2)


def _accepted(space: Space, base: Config, name: str, values: list[Any], input_size: int,
              num_classes: int) -> list[Any]:
    ok = []
    for v in values:
        try:
            _check_values(space, base, Param(name, "choice", choices=(v,)), [v], input_size, num_classes)
            ok.append(v)
        except SearchError:
            continue
    return ok


def default_space(base: Config, input_size: int, num_classes: int) -> Space:
    """The regularization recipe of docs/regularization.md as a space (reasons in docs/search.md).

    >>> from rnnlab.config import parse_config
    >>> one = default_space(parse_config('[data]\\ndataset = "UnitTest"'), 1, 2)
    >>> two = default_space(parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nnum_layers = 2'), 1, 2)
    >>> "model.residual" in [p.name for p in one.params], "model.residual" in [p.name for p in two.params]
    (False, True)
    >>> lm = default_space(parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"'), 1, 90)
    >>> [p.name for p in lm.params if p.name in ("model.embedding_dropout", "training.ar", "training.tar", "data.bptt")]
    ['data.bptt', 'model.embedding_dropout', 'training.ar', 'training.tar']
    """
    m, t = base.model, base.training
    front = m.frontend.conv_blocks[-1].channels if m.frontend is not None else input_size
    kernel_size = front * m.hidden_size
    recurrent_size = m.hidden_size if m.layer == "indrnn" else m.hidden_size * m.hidden_size
    wide, narrow = (1e-4, 1e-1), (1e-5, 1e-2)
    lifted = lifts_indrnn_bound("model.recurrent_dropout", base)
    params = [
        Param("decay.recurrent", "float", *(narrow if recurrent_size < kernel_size else wide), log=True,
              why="decoupled decay of the hidden-to-hidden weights; the smaller matrix gets the range a decade lower"),
        Param("decay.kernel", "float", *(narrow if kernel_size < recurrent_size else wide), log=True,
              why="decoupled decay of the input-to-hidden (and head) weights, sampled apart from the recurrent one"),
        Param("decay.bias_fraction", "float", 0.0, 1.0,
              why="bias decay as a fraction of the smaller weight decay: never larger than theirs"),
        Param("model.input_dropout", "float", 0.0, 0.2,
              why="dropping inputs removes information the network cannot get back: at most 0.2"),
        Param("model.recurrent_dropout", "float", 0.0, 0.5,
              why="variational dropout on the fed-back state tolerates much more (Gal & Ghahramani)"),
        Param("model.zoneout", "float", 0.0, 0.3,
              why="units keep their previous state; Krueger et al. use 0.05-0.15 on h, more on c"
                  + (f"; no recurrent dropout or weight drop beside it: {lifted}" if lifted else "")),
        Param("model.weight_drop", "float", 0.0, 0.5, why="DropConnect on the recurrent weights (AWD-LSTM: 0.5)"),
    ]
    params = [p for p in params if lifts_indrnn_bound(p.name, base) is None]
    space = Space(params, default=True)
    # A stream's batch is the rows of one series (or text), no independent sample to take
    # statistics over: the forecasting template sets recurrent_batch_norm = false for that reason.
    stream = _is_stream(base)
    offered = [n for n in NORMALIZATIONS if not (n == "recurrent_batch_norm" and stream)]
    norms = _accepted(space, base, "model.normalization", offered, input_size, num_classes)
    if len(norms) > 1:
        params.append(Param("model.normalization", "choice", choices=tuple(norms),
                            why="layer norm keeps the gates in range (no recurrent batch norm: a stream's rows are "
                                "parts of one series, no independent batch)" if stream else
                                "layer norm or recurrent batch norm keep the gates in range"))
    params.append(Param("model.max_norm", "choice", choices=(False, True),
                        why=f"max-norm {MAX_NORM:g} on the kernel weights only: an IndRNN's recurrent bound is part "
                            "of the model (model.recurrent_constraint stays as the config sets it)"
                        if bound_is_the_models(base) else
                        f"max-norm {MAX_NORM:g} on kernel and recurrent weights, a bound instead of a decay"))
    if m.num_layers > 1:
        # True needs the input as wide as the output; "upper" skips the first layer then.
        residual = _accepted(space, base, "model.residual", [True], input_size, num_classes) or ["upper"]
        params.append(Param("model.residual", "choice", choices=(False, residual[0]),
                            why="skip connections between stacked layers"))
        params.append(Param("model.dropout", "float", 0.0, 0.5, why="dropout between stacked layers"))
    if stream:  # a stream's rows go in order: nothing to shuffle (STREAM_IGNORED)
        bptt = base.data.bptt
        params.append(Param("data.bptt", "int", max(2, bptt // 4), max(bptt, 3), log=True,
                            why="the window each update learns from (truncated BPTT across batches): up to the "
                                "config's, which fits the data; shorter windows always do"))
    elif t.stateful_window == 0:
        params.append(Param("training.shuffle", "choice", choices=("samples", "batches"),
                            why="a new permutation every epoch, or fixed batches in a shuffled order"))
        params.append(Param("training.shuffle_within_batch", "choice", choices=(False, True),
                            requires=("training.shuffle", "batches"),
                            why="with fixed batches, also permute the samples inside each batch"))
    if base.task.kind == "language_model":
        params += [
            Param("model.embedding_dropout", "float", 0.0, 0.3,
                  why="whole tokens dropped from the embedding for a forward (AWD-LSTM: 0.1)"),
            Param("training.ar", "float", 0.0, 3.0, why="activation regularization of the outputs (AWD-LSTM: 2)"),
            Param("training.tar", "float", 0.0, 2.0, why="slowness of the outputs from step to step (AWD-LSTM: 1)"),
        ]
    params.append(Param("training.optimizer", "choice", choices=("adamw", "nadamw"),
                        why="decoupled decay with Adam's or Nesterov-Adam's step"))
    params.append(Param("training.lr", "float", t.lr / 10, min(t.lr * 10, 0.1), log=True,
                        why="a decade either side of the config's learning rate (at most 0.1)"))
    for p in params:
        if p.kind != "choice":
            _check_values(space, base, p, [p.low, p.high], input_size, num_classes)
    return space


# ------------------------------------------------------------------------------ the config itself


def baseline_values(space: Space, base: Config, input_size: int,
                    num_classes: int) -> tuple[dict[str, Any] | None, str]:
    """The sample of ``space`` that gives ``base`` itself, as Optuna stores params (choices as
    their labels): the search's first trial, so it never ends below the config it started from
    (KerasTuner's first trial is its defaults, likewise); and why not, when ``base`` lies
    outside the space (a value out of its range, a choice the space does not offer): then the
    values are None.

    Equal means equal in effect: the same model, data and training, and every parameter with
    the same decay, l1 and learning rate (the template's global decay of 1e-2 is the default
    space's ``decay.kernel = 1e-2``).

    >>> from rnnlab.config import parse_config
    >>> base = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nrecurrent_dropout = 0.25\\n'
    ...                     '[search.space]\\n"model.recurrent_dropout" = { low = 0.0, high = 0.5 }')
    >>> baseline_values(space_from_config(base, 1, 2), base, 1, 2)
    ({'model.recurrent_dropout': 0.25}, '')
    >>> narrow = parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nrecurrent_dropout = 0.25\\n'
    ...                       '[search.space]\\n"model.recurrent_dropout" = { low = 0.3, high = 0.5 }')
    >>> baseline_values(space_from_config(narrow, 1, 2), narrow, 1, 2)
    (None, 'model.recurrent_dropout = 0.25 is outside its range 0.3 .. 0.5')
    """
    target = _effect(base, input_size, num_classes)

    def gives_base(values: Mapping[str, Any]) -> bool:
        try:
            return _effect(apply_values(base, values), input_size, num_classes) == target
        except (ConfigError, ValueError):
            return False

    values: dict[str, Any] = {}
    for p in space.params:
        if p.requires is not None and values.get(p.requires[0]) != p.requires[1]:
            continue
        if p.kind == "choice":
            candidates = list(p.choices)
        else:
            v = _base_number(base, p.name)
            if v is None or p.low is None or p.high is None or not p.low <= v <= p.high:
                return None, (f"{p.name} = {'?' if v is None else f'{v:g}'} is outside its range {p.describe()}")
            if not on_grid(p, v):
                # Off the grid is outside the space: Optuna would store a value its distribution
                # does not hold (and warn "Fixed parameter ... out of range"), and the sampler
                # would never draw it again.
                return None, f"{p.name} = {v:g} is not on its grid {p.describe()}, {_grid_near(p, v)}"
            candidates = [int(v) if p.kind == "int" else float(v)]
        # One parameter applied alone changes only what it sets: equal effect means base's value.
        found = next((c for c in candidates if gives_base({**values, p.name: c})), _MISSING)
        if found is _MISSING:
            return None, f"{p.name}: {_base_setting(base, p)} is not among the space's choices ({p.describe()})"
        values[p.name] = found
    if not gives_base(values):
        return None, "the space's values together do not give the config"
    by_name = {p.name: p for p in space.params}
    return {k: _label(v) if by_name[k].kind == "choice" else v for k, v in values.items()}, ""


_MISSING = object()


def _base_setting(base: Config, param: Param) -> str:
    """``base``'s setting of the choice ``param`` in words: its value, or for a derived key the
    config keys it stands for (:func:`written_paths`) with theirs."""
    raw = base.model_dump(exclude={"search"})

    def value(path: str) -> str:
        node: Any = raw
        try:
            for part in _parts(path):
                node = node[part]
        except (KeyError, IndexError, TypeError):  # (a rule the config does not have: decay_rules[2])
            node = None
        return "unset" if node is None else str(_label(node))

    if param.name not in DERIVED:
        return f"the config's value {value(param.name)}"
    return f"the config's setting ({', '.join(f'{p} = {value(p)}' for p in sorted(written_paths(param, base)))})"


def on_grid(param: Param, value: float) -> bool:
    """Whether ``value`` is one of the values a range with a ``step`` draws (always, without a
    step): Optuna's own test of a fixed parameter against its distribution.

    >>> on_grid(Param("model.hidden_size", "int", 4, 20, step=8), 8), on_grid(Param("x", "float", 0.0, 0.5, step=0.1), 0.3)
    (False, True)
    """
    if param.step is None or param.low is None:
        return True
    k = (value - param.low) / param.step
    # (FloatDistribution._contains's tolerance; an int grid is exact)
    return k == round(k) if param.kind == "int" else abs(k - round(k)) < 1.0e-8


def _grid_near(param: Param, value: float) -> str:
    """The grid's values either side of ``value``, and how to put the config on the grid."""
    assert param.low is not None and param.step is not None
    below = param.low + math.floor((value - param.low) / param.step) * param.step
    return (f"whose nearest values are {below:g} and {below + param.step:g}: set the config's value on the grid, "
            "or a low and step whose grid holds it")


def _base_number(base: Config, name: str) -> float | None:
    """``base``'s value of a numeric parameter (a key path, or a derived decay key)."""
    if name in ("decay.kernel", "decay.recurrent"):
        return _rule_decay(base, name.split(".", 1)[1])
    if name == "decay.bias_fraction":
        smaller = min(_rule_decay(base, "kernel"), _rule_decay(base, "recurrent"))
        bias = _rule_decay(base, "bias", unruled=0.0)
        return 0.0 if bias == 0 else (bias / smaller if smaller > 0 else None)
    node: Any = base.model_dump(exclude={"search"})
    for part in _parts(name):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _effect(config: Config, input_size: int, num_classes: int) -> tuple[Any, ...]:
    """What a config does: its sections without search and decay settings, then the decay, l1
    and learning rate of every parameter of the model it builds."""
    from rnnlab.train.model import build_model
    from rnnlab.train.trainer import build_optimizer

    raw = config.model_dump(exclude={"search"})
    for key in ("decay_rules", "weight_decay"):
        raw["training"].pop(key)
    groups = build_optimizer(build_model(config.model, input_size, num_classes), config.training).param_groups
    per_param = sorted((name, g["weight_decay"], g.get("l1", 0.0), g["lr"]) for g in groups for name in g["param_names"])
    return json.dumps(raw, sort_keys=True, default=str), per_param
