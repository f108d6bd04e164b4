"""scikit-learn and aeon estimators over the project's one trainer (:func:`rnnlab.train.train`):
:class:`RNNClassifier` and :class:`RNNRegressor` (one label, or K values, per series; aeon's
collection estimators), :class:`RNNSequenceTagger` and :class:`RNNSequenceRegressor` (a target at every
step, ``y`` [N, T]: scikit-learn estimators, since aeon's take one value per series) and
:class:`RNNForecaster` (the next values of one long series: aeon's ``BaseForecaster``). Each
writes its data into a run directory and trains the task's ``rnnlab init --task`` template there;
docs/estimators.md says which task fits which convention and why.

:class:`RNNClassifier` takes series as aeon does (3-D ``[N, C, T]`` numpy, a list of ``[C, T_i]``
arrays of unequal lengths, or 2-D ``[N, T]`` univariate), writes them where ``data.path`` points
(an ``.npz`` inside the run directory), and trains the config: the ``rnnlab init`` template by
default, or ``config=`` a TOML path or a :class:`rnnlab.Config`; the keyword hyper-parameters
and ``params`` (key paths, as a search space names them) override it. It is an aeon
``BaseClassifier`` (tags: multivariate, unequal length, deep learning) and so a scikit-learn
classifier: ``cross_val_score``, ``GridSearchCV``, ``clone`` and aeon's benchmarking take it.
:class:`RNNRegressor` is the same over aeon's ``BaseRegressor``, from ``rnnlab init --task
regression``'s template.

``run_dir``: where the run is written (config.toml, metrics, tracked norms, health, checkpoints,
the training data); ``rnnlab report RUN_DIR`` and ``rnnlab compare`` read it. Unset, the run goes
to a temporary directory removed after ``fit`` (and tracking is off: nothing would read it).
One fit per directory: a fitted run there is refused; a fit interrupted there (Ctrl-C) is
continued by the next fit of the same data and parameters, from its last checkpoint.

Needs aeon and scikit-learn: ``pip install 'rnnlab[estimators]'``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(24, 1, 12)); y = np.array(["a", "b"] * 12); X[y == "b"] += 2.0
    >>> clf = RNNClassifier(hidden_size=8, steps=60, params=FAST, random_state=0).fit(X, y)
    >>> clf.classes_.tolist(), clf.predict(X[:4]).tolist(), clf.predict_proba(X[:1]).shape
    (['a', 'b'], ['a', 'b', 'a', 'b'], (1, 2))
"""

from __future__ import annotations

import inspect
import io
import json
import numbers
import os
import re
import signal
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rnnlab.config import (
    NOT_KEYS,
    Config,
    config_from_dict,
    load_config,
    parse_config,
    template_for,
)
from rnnlab.data.per_step import labelled_steps, valid_steps, whole_number_labels
from rnnlab.doctor.checks import KeySpelling
from rnnlab.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    RunDirError,
    SearchError,
    place_of,
)
from rnnlab.shellcmd import shell_command

if TYPE_CHECKING:
    from rnnlab.data import DataSplits
    from rnnlab.rundir import RunDir
    from rnnlab.train import TrainResult

try:
    from aeon.classification.base import BaseClassifier
    from aeon.forecasting.base import BaseForecaster
    from aeon.regression.base import BaseRegressor
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import type_of_target
except ImportError as e:  # pragma: no cover - the extra is part of the dev install
    raise ImportError(f"rnnlab's estimators need aeon and scikit-learn ({e.name} is missing): "
                      "pip install 'rnnlab[estimators]'") from None

__all__ = ["FAST", "RNNClassifier", "RNNForecaster", "RNNRegressor", "RNNSequenceRegressor", "RNNSequenceTagger"]

#: Key paths for a small, quick model: no convolutional front-end, no recurrent batch norm, no
#: warm-up, one thread, and the budget as given (the template's ``[adapt]`` rules would raise a
#: few steps to thousands); no mean guard (the regression template's: a model of a few steps on a
#: few series seldom beats the training mean by its margin, and would predict the mean). For
#: examples and estimator checks (``params=FAST``).
FAST: dict[str, Any] = {"model.frontend": None, "model.head.frontend_pooling": "none",
                        "model.recurrent_batch_norm": False, "adapt.shape": False, "adapt.budget": False,
                        "training.schedule.warmup_steps": 0, "training.threads": 1, "task.mean_guard": False}

# The keyword hyper-parameters: each sets one key path of the config (None: the config's value).
_KEYWORDS = {
    "layer": "model.layer", "hidden_size": "model.hidden_size", "num_layers": "model.num_layers",
    "bidirectional": "model.bidirectional", "dropout": "model.dropout",
    "recurrent_dropout": "model.recurrent_dropout", "zoneout": "model.zoneout",
    "steps": "training.steps", "epochs": "training.epochs", "batch_size": "training.batch_size",
    "lr": "training.lr", "weight_decay": "training.weight_decay",
}


class _KerasHints:
    """Answers a Keras keyword that an estimator does not take in one ``TypeError`` saying what
    the estimator has instead, where Python would say "unexpected keyword argument": ``units`` is
    ``hidden_size``, the others the config keys the config's own hints name
    (:data:`rnnlab.config.NOT_KEYS`), set through ``params`` (the layers' hints,
    :data:`rnnlab.layers.options.FROM_KERAS`, name calls on a model that an estimator builds
    itself)."""

    # (in __new__, which sees the call's keywords before __init__ does, and of a base class of its
    # own: inspect.signature(RNNClassifier) reads the first class in the MRO that defines __new__
    # or __init__, and must find the estimator's __init__, whose explicit parameters scikit-learn's
    # get_params and aeon's checks read)
    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        for key, value in kwargs.items():
            if f"model.{key}" not in NOT_KEYS or key in inspect.signature(cls.__init__).parameters:
                continue  # (any other unknown keyword: Python's own error names it)
            start = f"{key}: a Keras keyword, not a parameter of {cls.__name__}; "
            if key == "units":
                raise TypeError(f"{start}the state size is hidden_size: {cls.__name__}(hidden_size={value!r})")
            hint = NOT_KEYS[f"model.{key}"].removeprefix("a Keras keyword: ")
            raise TypeError(f"{start}{hint}; an estimator sets a config key with params={{\"<key path>\": value}}")
        return super().__new__(cls)


#: How the findings after training name the config's keys to an estimator's caller: by the keyword
#: that sets each (``steps=2000``), else as a ``params`` entry (``params={"adapt.max_steps": 8000}``).
_KEY_SPELLING = KeySpelling({path: keyword for keyword, path in _KEYWORDS.items()})

#: The fit's copy of the caller's arrays, in its run directory (the config's data.path).
_DATA_FILE = "train_data.npz"

#: The key paths an estimator sets itself, from fit's arguments, its class or a keyword of its own
#: (:meth:`_RNNEstimator._own_values`), each with why a ``params`` entry for it is refused and what
#: to use instead ({cls}: the class; {fit}: its fit call; {value}: params' value; {own}: the
#: estimator's; {task_fix}: :func:`_task_fix`). Taken, such an entry would train other data or
#: another task than the caller's, or be shown in ``config_`` as applied and not be.
_OWN_KEYS: dict[str, str] = {
    "data.path": "{cls} trains on the data given to {fit}, which it writes into its run directory itself; pass your "
                 "data to {fit} (a file's arrays: np.load(path))",
    "data.dataset": "{cls} trains on the data given to {fit}, not on a bundled data set; pass your data to {fit}",
    "data.test_path": "{cls} trains on the data given to {fit} and tests on none; hold out your own test data and "
                      "score the fitted estimator on it",
    "data.target_column": "{cls}'s targets are the y given to {fit}; pass them as y (a DataFrame's columns name them)",
    "data.test_fraction": "{cls} trains on the whole of y (no test block: the caller holds out its own); fit(y[:-n]) "
                          "and compare its forecasts with y[-n:]",
    "data.test_steps": "{cls} trains on the whole of y (no test block: the caller holds out its own); fit(y[:-n]) "
                       "and compare its forecasts with y[-n:]",
    "training.seed": "{cls} seeds the run from random_state (None: a fresh seed each fit), the keyword that sets "
                     "training.seed; give random_state={value!r} instead",
    "task.kind": "the task is {cls}'s ({own!r}); {task_fix}",
    "task.per_step": "the task is {cls}'s ({own!r}); {task_fix}",
    "task.mean_guard": "{cls} trains without a mean guard ({own!r}: the guard is a regression's); leave it out of params",
    "task.horizon": "the horizon is the keyword horizon's ({own!r}); give it once: horizon={value!r}",
    "task.season": "the season is the keyword season's ({own!r}); give it once: season={value!r}",
    "output.dir": "{cls} writes its run to run_dir (None: a temporary directory removed after the fit); give "
                  "run_dir={value!r} instead",
}

#: Each task's estimator, by ``(task.kind, task.per_step)``: what an error tells an estimator's
#: caller to use where it would tell a config file's writer to set ``[task] kind``.
_TASK_ESTIMATORS = {("classification", False): "RNNClassifier", ("regression", False): "RNNRegressor",
                    ("classification", True): "RNNSequenceTagger", ("regression", True): "RNNSequenceRegressor",
                    ("forecasting", False): "RNNForecaster"}

#: A config file's remedies in the data's errors: ``set [task] kind = "regression"`` (said to an
#: estimator's caller as the task's estimator) and ``set data.val_fraction = 0`` or ``set
#: data.columns`` (said as ``params``: :meth:`KeySpelling.words`).
_SET_TASK = re.compile(r'\bset \[task\] kind = "(?P<kind>\w+)"')
#: ``rnnlab train``'s remedies for a file without lengths whose series look padded
#: (:func:`rnnlab.data.check_ragged`, :func:`rnnlab.data.per_step.check_label_padding`): an
#: estimator's array X is such a file (its series all of its T steps), a list of [C, T_i] arrays
#: one with lengths.
_NO_LENGTHS = re.compile(r"but no 'lengths' gives the true lengths \(each sequence is read as all (?P<steps>\d+) "
                         r"steps\); add lengths \[N\] with each sequence's true length \(the padding past it may "
                         r"then hold anything, NaN included\)")
_REAL_STEPS = re.compile(r"; if those steps are real data, save lengths of (?P<steps>\d+) for every sequence")
_SET_KEY = re.compile(r'\bset (?P<key>[a-z_]+(?:\.[a-z_]+)+(?: = (?:"[^"]*"|true|false|-?\d+(?:\.\d+)?(?:e-?\d+)?))?)')

#: Not a value an estimator sets: a params entry for such a key is never the estimator's own.
_NOT_ITS_VALUE = object()

#: Python's once-per-text memory of the warnings a fit's trainer gave, in the caller's words
#: (:meth:`_RNNEstimator._in_callers_words`): the same warning of each fit is one warning.
_REWORDED_WARNINGS: dict[Any, Any] = {}

#: Whether the estimator being fitted held a fit before this one (:meth:`_RNNEstimator._fitting`),
#: which its interrupt message says. Not an attribute: aeon's fit resets the estimator's
#: attributes before training, and the message is made where training stops.
_HAD_A_FIT: ContextVar[bool] = ContextVar("rnnlab_estimator_had_a_fit", default=False)


class _RNNEstimator(_KerasHints):
    """What every rnnlab estimator shares: the hyper-parameters, the config they resolve to,
    training through :func:`rnnlab.train.train` and the model's raw outputs. A task's estimator
    adds how targets are encoded for training and how outputs are decoded (``RNNClassifier``:
    labels to class indices, logits to probabilities)."""

    #: The ``rnnlab init --task`` template a subclass starts from when ``config`` is None, and
    #: the ``task`` key paths it trains with whatever the config says.
    _task_name: str = "classification"
    _task: Mapping[str, Any] = {"task.kind": "classification", "task.per_step": False,
                                "task.mean_guard": False}  # (a regression config's guard has no meaning here)
    #: aeon's tags (aeon reads them along the class hierarchy: these override its base classes').
    _tags = {"algorithm_type": "deeplearning", "python_dependencies": "torch"}
    #: The arguments the run's data file is written from, as an error about that file names them.
    _data_argument = "X and y"
    #: The call that takes the data, as a refusal of a params key names it (:data:`_OWN_KEYS`).
    _fit_call = "fit(X, y)"

    def __init__(self, config: str | os.PathLike[str] | Config | None = None, *, layer: str | None = None,
                 hidden_size: int | None = None, num_layers: int | None = None, bidirectional: bool | None = None,
                 dropout: float | None = None, recurrent_dropout: float | None = None, zoneout: float | None = None,
                 steps: int | None = None, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, weight_decay: float | None = None,
                 params: Mapping[str, Any] | None = None, random_state: int | np.random.RandomState | None = None,
                 run_dir: str | os.PathLike[str] | None = None, verbose: bool = False) -> None:
        self.config = config
        self.layer = layer
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.zoneout = zoneout
        self.steps = steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.params = params
        self.random_state = random_state
        self.run_dir = run_dir
        self.verbose = verbose
        self._init_base()

    # ---------------------------------------------------------------------------------- config

    def _base_config(self) -> Config:
        """The config that the keywords and ``params`` set over (:meth:`_config_of` ``config``)."""
        return self._config_of(self.config)

    def _config_of(self, config: Any) -> Config:
        """The config a ``config`` parameter names: the task's template for None."""
        if config is None:
            return parse_config(template_for(self._task_name), source=f"rnnlab init --task {self._task_name} template")
        if isinstance(config, Config):
            return config
        if isinstance(config, (str, os.PathLike)):
            return _config_file(config)
        raise ConfigError(f"config: expected a TOML path, an rnnlab.Config or None, got {type(config).__name__}")

    def _task_values(self) -> dict[str, Any]:
        """The ``task`` (and task-bound) key paths this estimator trains with, whatever the config says."""
        return dict(self._task)

    def _init_base(self) -> None:
        """The base classes' ``__init__`` (a forecaster's takes its horizon)."""
        super().__init__()

    def resolved_config(self, data_path: str | os.PathLike[str] = _DATA_FILE, tracking: bool = True,
                        seed: int | None = None, target_names: list[str] | None = None) -> Config:
        """The config ``fit`` trains: the base config, the keyword hyper-parameters and
        ``params`` set (NumPy scalars read as Python's: :func:`_plain`), the data at ``data_path``
        with its targets named ``target_names`` (``data.target_column``: the run's config.toml
        keeps them, wherever the run directory goes; None: unnamed), the seed ``seed`` (None: from
        ``random_state``; ``random_state=None`` leaves the config's here, and ``fit`` draws one
        from NumPy's global generator, its ``seed_``).

        >>> RNNClassifier(hidden_size=np.int64(16), params={"model.zoneout": 0.0}).resolved_config().model.hidden_size
        16
        """
        from rnnlab.search.space import apply_values

        self._check_arguments()
        base = self._base_config()
        # (the config's .csv columns, if any, are not the fit's: its targets are y, in an .npz, by
        # the names given)
        values: dict[str, Any] = {"data.dataset": None, "data.path": str(data_path), "data.test_path": None,
                                  "data.target_column": target_names}
        for key, path in _KEYWORDS.items():
            if getattr(self, key) is not None:
                values[path] = getattr(self, key)
        if self.epochs is not None and self.steps is None:
            values["training.steps"] = None  # the budget is one of the two
        if self.steps is not None and self.epochs is None:
            values["training.epochs"] = None
        if self.params is not None:
            self._check_params(base)
            values.update(self.params)
        if isinstance(self.steps, (int, np.integer)) and not isinstance(self.steps, bool) and self.steps > 0:
            # A budget given as a keyword is a budget to train: the config's warm-up (the
            # template's 50 steps) is shortened to a tenth of it at most, unless params sets it.
            if ("training.schedule.warmup_steps" not in values
                    and base.training.schedule.warmup_steps > self.steps // 10):
                values["training.schedule.warmup_steps"] = int(self.steps // 10)
        if seed is None and self.random_state is not None:
            seed = _seed(self.random_state)
        if seed is not None:
            values["training.seed"] = seed
        if not tracking:
            values["tracking.enabled"] = False
        values.update(self._task_values())
        try:
            return apply_values(base, {path: _plain(value) for path, value in values.items()},
                                source=f"{type(self).__name__} parameters")
        except SearchError as e:  # (a key of params that is no key path: the search space's words otherwise)
            raise ConfigError(f"params: {str(e).removeprefix('search.space: ')}") from None

    def _check_params(self, base: Config) -> None:
        """Refuse in one line naming the key what ``params`` cannot mean: no mapping, a key that is
        no key path (a section given a dict, said as its key paths), a key path that a keyword also
        sets to another value (neither is documented to win: taking one silently trains what the
        caller did not ask), and one the estimator sets itself (:data:`_OWN_KEYS`) to another value.
        The same value twice is no conflict (a grid's ``params__`` equal to the keyword, FAST's
        ``task.mean_guard``).

        >>> RNNClassifier(params={"model": {"hidden_size": 8}}).resolved_config()
        Traceback (most recent call last):
        ...
        rnnlab.errors.ConfigError: params['model']: expected key paths, got a section of the config given a dict; give its keys as key paths: params={"model.hidden_size": 8}
        """
        from rnnlab.search.space import key_kind

        params = self.params
        if not isinstance(params, Mapping):
            raise ConfigError(f"params: expected a mapping of key paths to values, got {type(params).__name__}")
        for key, value in params.items():
            if not isinstance(key, str):
                raise ConfigError(f"params: expected key paths (str) such as \"model.hidden_size\", got key {key!r} "
                                  f"({type(key).__name__}); e.g. params={{\"model.hidden_size\": 8}}")
            if isinstance(value, Mapping) and value:
                paths = _key_paths(key, value)
                try:
                    key_kind(key, base)
                except SearchError:  # (no key path: a section whose keys the dict names, or the config's unknown key)
                    try:
                        key_kind(next(iter(paths)), base)
                    except SearchError:
                        continue
                    given = ", ".join(f"{json.dumps(p)}: {_KEY_SPELLING.value(v)}" for p, v in paths.items())
                    raise ConfigError(f"params[{key!r}]: expected key paths, got a section of the config given a "
                                      f"dict; give its keys as key paths: params={{{given}}}") from None
        for key, path in _KEYWORDS.items():
            given = getattr(self, key)
            if given is not None and path in params and _plain(params[path]) != _plain(given):
                raise ConfigError(f"{key}={_plain(given)!r} and params[{path!r}]={_plain(params[path])!r} "
                                  f"set the same key path; give it once (the keyword {key}, or params)")
        own = self._own_values()
        for path, value in params.items():
            if path in own and _plain(value) != own[path]:
                task = self._task_values()
                kind, per_step = params.get("task.kind", task["task.kind"]), params.get("task.per_step", task["task.per_step"])
                why = _OWN_KEYS[path].format(cls=type(self).__name__, fit=self._fit_call, value=_plain(value),
                                             own=own[path], task_fix=_task_fix(kind, per_step))
                raise ConfigError(f"params[{path!r}]={_plain(value)!r}: {why}")

    def _own_values(self) -> dict[str, Any]:
        """The key paths of :data:`_OWN_KEYS` this estimator sets whatever ``params`` say, with the
        value it sets (:data:`_NOT_ITS_VALUE` where no params entry could be it: the data file's
        path, the run directory, a seed drawn at fit)."""
        seed = self.random_state
        own: dict[str, Any] = {"data.path": _NOT_ITS_VALUE, "data.dataset": _NOT_ITS_VALUE,
                               "data.test_path": _NOT_ITS_VALUE, "data.target_column": _NOT_ITS_VALUE,
                               "output.dir": _NOT_ITS_VALUE,
                               "training.seed": int(seed) if isinstance(seed, (int, np.integer)) else _NOT_ITS_VALUE}
        own.update((path, _plain(value)) for path, value in self._task_values().items())
        return own

    def _check_arguments(self) -> None:
        """The parameters that set no key path, each refused in one line naming it: ``verbose`` a
        flag (as :func:`rnnlab._checks.check_bool` reads one: ``"no"`` would print), ``run_dir``
        None or a directory's path, ``random_state`` (:func:`_seed_source`; checked, not drawn:
        fit draws the seed once). The others are key paths, which the config checks.

        >>> RNNClassifier(verbose="yes").resolved_config()
        Traceback (most recent call last):
        ...
        rnnlab.errors.ConfigError: verbose: expected True or False, got str 'yes'
        """
        from rnnlab._checks import check_bool

        try:
            check_bool("verbose", self.verbose)
        except TypeError as e:  # (a parameter's error, as every other one of the estimator's)
            raise ConfigError(str(e)) from None
        run_dir = self.run_dir
        if run_dir is not None and (not isinstance(run_dir, (str, os.PathLike)) or not os.fspath(run_dir)):
            raise ConfigError(f"run_dir: expected None or a directory's path (str or os.PathLike), got "
                              f"{type(run_dir).__name__} {run_dir!r}")
        _seed_source(self.random_state)

    def _check_before_fit(self) -> None:
        """What refuses a fit whatever the data: the parameters, and a ``run_dir`` that holds a
        fitted run. Checked before the fit touches the estimator (aeon's ``fit`` resets it
        first), so that a refused fit leaves a fitted estimator fitted."""
        self.resolved_config(seed=0)
        if self.run_dir is not None:
            _check_run_dir_free(Path(self.run_dir))

    # ---------------------------------------------------------------------------------- parameters

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters; with ``deep``, each key path of ``params`` also as
        ``params__<key path>`` (as scikit-learn names a nested estimator's parameters), which
        :meth:`set_params` takes.

        >>> RNNClassifier(params={"model.weight_drop": 0.1}).get_params()["params__model.weight_drop"]
        0.1
        """
        out = super().get_params(deep=False)
        if deep and isinstance(self.params, Mapping):
            out.update((f"params__{key}", value) for key, value in self.params.items())
        return out

    def set_params(self, **params: Any) -> Any:
        """Set hyper-parameters, as scikit-learn's ``set_params``; ``params__<key path>`` sets one
        key path of ``params`` (a copy of it: the dict given to ``__init__`` is left alone), so that
        ``GridSearchCV(est, {"params__model.weight_drop": [0.0, 0.2]})`` searches it. An unknown
        parameter or key path is refused in one line with "did you mean" (a :class:`ConfigError`,
        a ``ValueError`` as scikit-learn's own refusal), and every name is checked before any is
        set: a refused call changes nothing. Values are checked by ``fit``.

        >>> RNNClassifier(params={"model.zoneout": 0.1}).set_params(**{"params__model.weight_drop": 0.3}).params
        {'model.zoneout': 0.1, 'model.weight_drop': 0.3}
        >>> RNNClassifier().set_params(hiden_size=3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rnnlab.errors.ConfigError: set_params: 'hiden_size' is no parameter of RNNClassifier; did you mean 'hidden_size'? (its parameters: batch_size, bidirectional, config, ...)
        """
        from rnnlab._checks import did_you_mean
        from rnnlab.search.space import key_kind

        names = self._get_param_names()
        for key in params:
            name, nested, _ = key.partition("__")
            if name not in names:
                raise ConfigError(f"set_params: {name!r} is no parameter of {type(self).__name__}"
                                  f"{did_you_mean(name, names)} (its parameters: {', '.join(names)})")
            if nested and name != "params":
                raise ConfigError(f"set_params: {key!r}: {name} has no parameters of its own to set (only "
                                  "params__<key path> sets a part of a parameter: one key path of params)")
        nested = {key: params.pop(key) for key in list(params) if key.startswith("params__")}
        merged = params.get("params", self.params)  # (params itself first: params__ keys are set into it)
        if nested:
            if merged is not None and not isinstance(merged, Mapping):
                raise ConfigError(f"params: expected a mapping of key paths to values to set {next(iter(nested))!r} "
                                  f"in, got {type(merged).__name__}")
            base = self._config_of(params.get("config", self.config))
            merged = dict(merged or {})
            for key, value in nested.items():
                path = key.removeprefix("params__")
                try:
                    key_kind(path, base)
                except SearchError as e:
                    raise ConfigError(f"{key}: {str(e).removeprefix('search.space: ')} (params__<key path> sets one "
                                      "key path of params)") from None
                merged[path] = value
            params["params"] = merged
        return super().set_params(**params)

    # ---------------------------------------------------------------------------------- training

    @contextmanager
    def _run_directory(self) -> Iterator[Path]:
        if self.run_dir is not None:
            yield Path(self.run_dir)
            return
        with tempfile.TemporaryDirectory(prefix="rnnlab-fit-") as tmp:
            yield Path(tmp)

    def _train(self, arrays: Mapping[str, np.ndarray]) -> DataSplits:
        """Train on ``arrays`` (the ``.npz`` keys the task reads: ``X``, ``y``, ``lengths`` for
        sequences, ``series`` for a stream), written as the run's data; sets ``model_``,
        ``inputs_``, ``summary_``, ``config_``, ``seed_``, ``run_dir_`` and returns the data as the
        trainer read it (its scalings: ``targets``, ``stats``). A ``run_dir`` that holds an
        interrupted fit (:func:`_clear_for_fit`) is continued from its last checkpoint, when this
        fit's data and parameters are that fit's."""
        self._check_arguments()  # (a forecaster's first check: run_dir is read next; X's step order: _check_collection)
        try:
            result, config, data = self._train_in_run_dir(arrays)
        except KeyboardInterrupt as stop:
            # (after the run directory is released, and a temporary one removed: what is kept is said as it is)
            raise self._interrupted(stop, kept=_HAD_A_FIT.get()) from None
        self.model_ = result.model.eval()
        self.inputs_ = data.inputs
        self.summary_ = result.to_dict()
        self.config_ = config
        self.seed_ = config.training.seed
        self.run_dir_ = None if self.run_dir is None else Path(self.run_dir)
        return data

    def _train_in_run_dir(self, arrays: Mapping[str, np.ndarray]) -> tuple[TrainResult, Config, DataSplits]:
        """:meth:`_train`'s training, in the run directory (``run_dir``, or a temporary one): the
        trainer's result, the config it trained (as its config.toml records it) and the data as it
        read them."""
        from rnnlab.data import load_data
        from rnnlab.rundir import RunDir, atomic_write_bytes
        from rnnlab.task import task_for
        from rnnlab.train import train

        with self._run_directory() as out:
            data_path = out.resolve() / _DATA_FILE
            tracking = self.run_dir is not None
            arrays = _with_target_names(arrays, getattr(self, "target_names_", None))
            names = arrays["target_names"].tolist() if "target_names" in arrays else None
            # Before anything is written: a bad parameter leaves no file, nor a directory.
            self.resolved_config(data_path, tracking=tracking, seed=0, target_names=names)
            # Claimed as a run first, so that the data may sit inside it (a run directory
            # accepts no stranger's files); the trainer then claims it again.
            with RunDir.for_writing(out, new=True, named_by="run_dir") as run:
                interrupted = _clear_for_fit(run)
                # (random_state=None: the interrupted fit drew its seed, which continuing it keeps)
                seed = (run.read_config().training.seed if interrupted and self.random_state is None
                        else _seed(self.random_state))
                config = self.resolved_config(data_path, tracking=tracking, seed=seed, target_names=names)
                buf = io.BytesIO()
                np.savez(buf, **arrays)
                if not interrupted or not data_path.exists():
                    atomic_write_bytes(data_path, buf.getvalue())
                elif not _same_arrays(data_path, arrays):  # (its data copy is part of its records: never replaced)
                    raise ConfigError(f"{_interrupted_fit(out, interrupted)} on other data than this fit's "
                                      f"{self._data_argument}; {_what_to_do(out)}")
            try:
                with self._in_callers_words(data_path):
                    result = train(config, out=out, resume=bool(interrupted), progress=False,
                                   log=print if self.verbose else None, spelling=_KEY_SPELLING)
                    # The config the run trained, as its config.toml records it: the template's rules
                    # (``[adapt]``) may have changed the hold-out and the scaling the model reads.
                    config = RunDir(out).read_config()
                    data = load_data(config.data, seed=config.training.seed, task=task_for(config))  # what it fitted
            except (ConfigError, RunDirError, CheckpointError) as e:
                if not interrupted or "--resume" not in str(e):
                    raise
                # (the trainer's refusal to resume, in its command's words: --resume, --out)
                reason = str(e).removeprefix("--resume: ").split("; ")[0]
                raise ConfigError(f"{_interrupted_fit(out, interrupted)} that this fit cannot continue ({reason}); "
                                  f"{_what_to_do(out)}") from None
        return result, config, data

    def _interrupted(self, stop: KeyboardInterrupt, kept: bool = False) -> Interrupted:
        """A fit stopped by SIGINT, SIGTERM or SIGHUP, or by any other ``KeyboardInterrupt``, said
        in the estimator's words: what the next fit does with what the stop left (the trainer's
        "--resume" is ``rnnlab train``'s), or that nothing was kept without ``run_dir``; with
        ``kept``, that the estimator keeps its previous fit (:meth:`_fitting` restores it). Still
        an :class:`Interrupted`, so a ``KeyboardInterrupt``: a caller's Ctrl-C stops the caller too.

        >>> str(RNNRegressor()._interrupted(KeyboardInterrupt()))[:63]
        'interrupted by a KeyboardInterrupt of RNNRegressor.fit; nothing'
        >>> str(RNNRegressor()._interrupted(KeyboardInterrupt(), kept=True))[:97]
        'interrupted by a KeyboardInterrupt of RNNRegressor.fit; the estimator keeps its previous fit, and'
        """
        # Only the trainer's handlers know the signal; a KeyboardInterrupt raised by other code (a
        # signal.alarm handler, a notebook's stop) names none, and its signum is Python's for one (SIGINT).
        signum = stop.signum if isinstance(stop, Interrupted) else int(signal.SIGINT)
        place = place_of(stop)  # (the epoch the trainer stopped in, where it stopped in one)
        # ("during epoch N", or "after epoch N" for a stop held to the end of the last: Place's words)
        head = (str(Interrupted.by(signum)) if isinstance(stop, Interrupted) else "interrupted by a KeyboardInterrupt") + \
            (f" {place}" if place and place.epoch else "")
        if self.run_dir is None:
            nothing = "the estimator keeps its previous fit, and this fit kept nothing" if kept else "nothing was kept"
            return Interrupted(signum, f"{head} of {type(self).__name__}.fit; {nothing} (without run_dir the "
                                       "fit trains in a temporary directory, removed as it stops): pass run_dir to "
                                       "keep a fit that the next fit into it continues")
        head = f"{head} of {type(self).__name__}.fit; " + ("the estimator keeps its previous fit; " if kept else "")
        path = Path(self.run_dir)
        try:
            held = _check_run_dir_free(path)  # (what the next fit into it will do, by the rule that fit follows)
        except ConfigError as e:
            return Interrupted(signum, f"{head}{e}")
        if not held:
            return Interrupted(signum, f"{head}run_dir {str(path)!r} keeps nothing a fit continues (no epoch was "
                                       "checkpointed): the next fit into it starts over")
        return Interrupted(signum, f"{head}run_dir {str(path)!r} keeps its records ({held}) and last checkpoint: fit "
                                   f"again with the same data and parameters into run_dir {str(path)!r} to continue")

    @contextmanager
    def _fitting(self, before: dict[str, Any] | None = None) -> Iterator[None]:
        """A fit that replaces the estimator's state only when it succeeds: on any exception
        (a ``KeyboardInterrupt`` too) the attributes are restored as they were before it,
        ``before`` (None: as they are now; aeon's fit resets them before ``_fit``, a per-step fit
        sets ``classes_`` before training), so that a refit that fails or is interrupted leaves an
        estimator fitted before still fitted."""
        before = dict(self.__dict__) if before is None else before
        token = _HAD_A_FIT.set("model_" in before)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        finally:
            _HAD_A_FIT.reset(token)

    @contextmanager
    def _in_callers_words(self, data_path: Path) -> Iterator[None]:
        """Errors (:class:`DataError`) and warnings about the data file at ``data_path`` said in
        the caller's words: the file is this fit's copy of the caller's arrays (a temporary one
        without ``run_dir``), which the caller knows by the argument's name, not by that path nor
        as ``data.path``; a stream's one column (``x0``) is the caller's series itself. Their
        remedies too, written for a config file: ``set [task] kind = "regression"`` is the task's
        estimator (``use RNNRegressor``), ``set data.val_fraction = 0`` a ``params`` entry
        (``pass params={"data.val_fraction": 0}``)."""
        from rnnlab.data.files import StepOrderWarning

        task = self._task_values()

        def estimator(m: re.Match[str]) -> str:
            name = _TASK_ESTIMATORS.get((m["kind"], task["task.per_step"]))
            return m[0] if name is None else f"use {name}"

        def key(m: re.Match[str]) -> str:
            return ("pass " if " = " in m["key"] else "set ") + _KEY_SPELLING.words(m["key"])

        with_y = " and y as a list of [T_i] arrays" if task["task.per_step"] else ""

        def words(text: str) -> str:
            text = _NO_LENGTHS.sub(lambda m: f"but X is an array, whose series are all read as {m['steps']} steps long; "
                                   + _list_form(False, with_y), text)
            text = _REAL_STEPS.sub(lambda m: f"; if those steps are real data, pass X as a list of [C, {m['steps']}] "
                                   f"arrays{with_y.replace('T_i', m['steps'])}: a list gives each series' length", text)
            for said in (f"data.columns: column 'x0' of {data_path}", f"data.path: channel 0 of {data_path}",
                         f"data.path ({data_path})"):
                text = text.replace(said, self._data_argument)
            text = _SET_KEY.sub(key, _SET_TASK.sub(estimator, text))
            return text.replace(str(data_path), self._data_argument)

        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                # (said of X before the fit; the file's wording would name the file, once per read)
                warnings.simplefilter("ignore", StepOrderWarning)
                yield
        except DataError as e:
            if words(str(e)) == str(e):
                raise
            raise DataError(words(str(e))) from None
        finally:
            for w in caught:  # (where the trainer said it; repeats shown as the filters say, across fits too)
                warnings.warn_explicit(words(str(w.message)), w.category, w.filename, w.lineno,
                                       registry=_REWORDED_WARNINGS)

    def _outputs(self, padded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The model's outputs for ``padded`` series [N, T, C] (logits, or standardized values;
        [N, K], or per step [N, T, K] with zeros after each series' end), in eval mode, batch by
        batch: as ``rnnlab predict`` computes them (:func:`rnnlab.train.predict.series_outputs`)."""
        from rnnlab.train.predict import series_outputs

        # (X's channels are matched by position, as a file's: another order is refused, as rnnlab predict's;
        # series shorter than every one fit trained on are left out and said, as there)
        self.inputs_.check_channels(padded, lengths, "X", fix="reorder X's channels as fit's: X[:, {order}] for X "
                                    "[N, C, T] (each series[{order}] in a list)",
                                    per_step=bool(self._task.get("task.per_step")))
        return series_outputs(self.model_, self.inputs_, padded, lengths, "predict")

    def _train_classes(self, padded: np.ndarray, lengths: np.ndarray | None, labels: np.ndarray, codes: np.ndarray,
                       scored: np.ndarray) -> None:
        """Train a classifier (a tagger: per step) on ``labels`` [N] ([N, T]), each scored entry's
        index in ``classes_`` being ``codes``: the run's data file holds the labels themselves
        where the run reads them as these classes (:func:`_run_labels`), so that ``rnnlab predict
        RUN_DIR`` and ``rnnlab.load_run`` answer in them, else the codes, said when the run is
        kept. The model's outputs follow the run's order of its classes (``label_order``: numbers
        by value, '9' before '10'), which ``_output_classes`` maps to ``classes_`` by name.
        ``lengths`` None: the run's data file holds none, as for an array ``X`` of a tagger, whose
        series the run then reads as all T steps and checks for padding as ``rnnlab train``
        checks a file without lengths."""
        from rnnlab.layers.regularizers import warn_at_user_line

        held, names, why = _run_labels(labels, codes, scored)
        if why and self.run_dir is not None:  # (a temporary run is read by nobody)
            warn_at_user_line(f"run_dir {os.fspath(self.run_dir)!r}: the run names its classes by their codes "
                              f"0..{len(names) - 1} (code k is classes_[k]), not by y's labels, which its data file "
                              f"would not read as {len(names)} classes: {why}")
        classes = self._train({"X": padded, "y": held, **_given_lengths(lengths)}).classes
        self._output_classes = np.array([names.index(c) for c in classes], dtype=np.int64)

    def _class_logits(self, logits: np.ndarray) -> np.ndarray:
        """The model's ``logits`` (classes on the last axis, in the run's order) in ``classes_``'s
        order. An estimator fitted before the run held labels (no ``_output_classes``) trained on
        codes, whose order is ``classes_``'s."""
        order = getattr(self, "_output_classes", None)
        if order is None:
            return logits
        out = np.empty_like(logits)
        out[..., order] = logits
        return out


#: aeon's tags of the collection estimators (one value per series).
_COLLECTION_TAGS = {
    "capability:multivariate": True,
    "capability:unequal_length": True,
    "X_inner_type": ["np-list", "numpy3D"],
}


class _CollectionEstimator(_RNNEstimator):
    """aeon's collection estimators (one target per series): rnnlab's one-line checks of ``X``
    (:func:`_check_collection`, against fit's channel count outside ``fit``) before aeon's own."""

    def _fit_setup(self, X: Any, y: Any) -> Any:
        self._check_before_fit()  # before aeon's reset: a refused fit keeps the fitted model
        # (aeon's fit is final: the state before its reset is kept here, and restored by _fit_keeping
        # where X and y are refused after the reset, or training fails or is interrupted)
        before = dict(self.__dict__)
        with self._fitting(before):
            X, y = super()._fit_setup(X, y)
        self._before_fit = before
        return X, y

    @contextmanager
    def _fit_keeping(self) -> Iterator[None]:
        """``_fit``'s training, which restores the state before aeon's reset (:meth:`_fit_setup`)
        where it fails or is interrupted: an estimator fitted before stays fitted."""
        with self._fitting(self.__dict__.pop("_before_fit", None)):
            yield

    def _preprocess_collection(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        channels = self.metadata_.get("n_channels")  # (aeon's fit empties metadata_ first)
        _check_collection(X, channels, fit=None if channels is not None else f"{type(self).__name__}.fit")
        # aeon's variance check (a warning for near-constant series) squares the values: beyond
        # about 1e154 that overflows, and inf gives NaN, each with a numpy warning and no other
        # effect: rnnlab's scaling takes such values (data/normalize.py), and refuses inf in one line.
        with np.errstate(over="ignore", invalid="ignore"):
            return super()._preprocess_collection(X, *args, **kwargs)


class RNNClassifier(_CollectionEstimator, BaseClassifier):
    """A recurrent classifier of time series, trained by rnnlab (see the module's docstring).

    Parameters are hyper-parameters: ``config`` (None: the ``rnnlab init`` template; a TOML path;
    a :class:`rnnlab.Config`), then each keyword (None: the config's value) and ``params`` (key
    paths such as ``"model.weight_drop"``) over it; NumPy scalars are taken as Python's
    (``np.int64(8)`` as 8: a grid of ``np.arange`` searches). ``random_state`` seeds the run
    (``training.seed``): an int as given, a ``RandomState``'s draw, and None (scikit-learn's
    convention) a fresh seed each fit, drawn from NumPy's global generator; ``run_dir`` keeps the
    run; ``verbose`` prints its log.

    Fitted attributes: ``classes_``, ``n_classes_``, ``model_`` (the torch module),
    ``inputs_`` (the input scaling fitted on the training part), ``summary_`` (the run's summary),
    ``config_`` (the config trained), ``seed_`` (its ``training.seed``).
    """

    _tags = _COLLECTION_TAGS

    def _check_y(self, y: Any, n_cases: int, update_classes: bool = True, allow_single_class: bool = False) -> Any:
        """aeon's check of the labels, after scikit-learn's conventions (:func:`_target_array`);
        one class is refused in words that name it where it would be trained on (``update_classes``:
        fit). Scored labels (``score``: ``update_classes`` False) may be of one class, or of classes
        the fit never saw, as scikit-learn's ``accuracy_score`` takes them: a fold of an imbalanced
        ``y`` holding one class scores a number, not an error."""
        y = _labels(_target_array(y))
        if isinstance(y, np.ndarray) and y.size and isinstance(y.flat[0], bytes):
            # (scikit-learn's type_of_target and so its scorers refuse bytes; decoding them here
            # would make classes_ and predict's labels other than y's)
            raise DataError(f"y: expected text or numeric labels, got bytes (e.g. {bytes(y.flat[0])!r}), which scikit-learn's "
                            "scorers do not take; decode them first, e.g. y.astype(str)")
        allow_single_class = allow_single_class or not update_classes
        if not allow_single_class and isinstance(y, np.ndarray) and y.ndim == 1 and len(y) and len(_classes(y)) < 2:
            raise DataError(f"y: expected at least 2 classes, got 1 class ({np.asarray(y[0]).tolist()!r}) in {len(y)} sample(s)")
        return super()._check_y(y, n_cases, update_classes, allow_single_class)

    def score(self, X: Any, y: Any, metric: str | Any = "accuracy", use_proba: bool = False,
              metric_params: dict[str, Any] | None = None) -> float:
        """aeon's score (accuracy: scikit-learn's ``accuracy_score(y, predict(X))``), with ``y`` as
        fit takes it (:func:`_target_array`); labels are compared as given, as fit keeps them.

        >>> clf = RNNClassifier(hidden_size=4, steps=1, params=FAST, random_state=0)
        >>> X = np.random.default_rng(0).normal(size=(8, 1, 6)); y = np.array([" a", "b "] * 4)
        >>> clf.fit(X, y).classes_.tolist(), 0.0 <= clf.score(X, y) <= 1.0
        ([' a', 'b '], True)
        """
        return super().score(X, _labels(_target_array(y)), metric, use_proba, metric_params)

    def _fit(self, X: np.ndarray | list[np.ndarray], y: np.ndarray) -> RNNClassifier:
        with self._fit_keeping():
            codes = np.array([self._class_dictionary[v] for v in y], dtype=np.int64)
            padded, lengths = _series(X, "fit")
            self._train_classes(padded, lengths, y, codes, np.ones(len(y), dtype=bool))
        return self

    def _predict_proba(self, X: np.ndarray | list[np.ndarray]) -> np.ndarray:
        logits = self._class_logits(self._outputs(*_series(X, "predict")))
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def _predict(self, X: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self._class_logits(self._outputs(*_series(X, "predict"))), axis=1)]

    @classmethod
    def _get_test_params(cls, parameter_set: str = "default") -> dict[str, Any] | list[dict[str, Any]]:
        """A tiny, quick model for aeon's estimator checks."""
        return {"hidden_size": 4, "steps": 4, "batch_size": 8, "params": FAST, "random_state": 0}


class RNNRegressor(_CollectionEstimator, BaseRegressor):
    """A recurrent regressor of time series (one value per series), trained by rnnlab: the
    ``rnnlab init --task regression`` template by default (``[task] kind = "regression"``, which
    it sets over any ``config``); the parameters are :class:`RNNClassifier`'s.

    ``y`` is one value per series, [N], or K values per series, [N, K] (scikit-learn's
    multi-output convention: one model with K outputs; a column ``[N, 1]`` is raveled, with
    scikit-learn's ``DataConversionWarning``). The trainer standardizes each target on its training
    part and the model predicts standardized values; ``predict`` returns them in the data's units,
    [N] (or [N, K]), and ``score`` is aeon's R², scikit-learn's ``r2_score`` (over K targets, their
    uniform average).

    Fitted attributes: ``model_``, ``inputs_``, ``summary_`` (as the classifier's),
    ``targets_`` (the targets' standardization: ``targets_.mean``, ``targets_.std``, [K]),
    ``n_outputs_`` (K of a y [N, K]; None for a y [N], as :class:`RNNSequenceRegressor`'s) and
    ``target_names_`` (a DataFrame y's column names, a named Series' name; None for an array).

    >>> f = np.random.default_rng(0).uniform(0.3, 1.5, 40)
    >>> X = np.sin(f[:, None, None] * np.arange(12.0)); y = 100.0 + 10.0 * f  # a sine's frequency
    >>> reg = RNNRegressor(hidden_size=8, steps=100, lr=0.01, params=FAST, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.8), reg.predict(X[:2]).shape, bool(abs(reg.predict(X).mean() - y.mean()) < 1)
    (True, (2,), True)
    """

    _tags = _COLLECTION_TAGS
    _task_name = "regression"
    _task = {"task.kind": "regression", "task.per_step": False}

    def __sklearn_tags__(self) -> Any:
        """aeon's tags, and scikit-learn's multi-output target tag: ``y`` may be [N, K]."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _fit_setup(self, X: Any, y: Any) -> Any:
        names = _column_names(y)
        X, y = super()._fit_setup(X, y)
        self.target_names_ = names  # (after aeon's reset, which clears fitted attributes)
        return X, y

    def _check_y(self, y: Any, n_cases: int) -> np.ndarray:
        """The targets as floats [N] or [N, K]: aeon's check, except that targets of two distinct
        values are values too (aeon calls them binary and refuses them), K targets per series are
        taken (scikit-learn's multi-output regression; aeon's y is 1-D), and targets that never
        vary, which the trainer could not standardize, are refused here. A bad cell is named in
        one line by its place: a DataFrame's column by name and its row, else ``y[i, k]``.

        >>> import pandas as pd
        >>> RNNRegressor()._check_y(pd.DataFrame({"conc": [0.1, 0.2], "site": ["a", "b"]}), 2)
        Traceback (most recent call last):
        ...
        rnnlab.errors.DataError: y: expected numeric target values, got dtype ... (e.g. 'a') in column 'site', row 0
        """
        names = _column_names(y) if hasattr(y, "columns") else None
        dtypes = [str(t) for t in y.dtypes] if hasattr(y, "columns") else None  # (a DataFrame's, per column)
        rows = list(y.index) if hasattr(y, "index") else None
        y = _target_array(y)
        if hasattr(y, "to_numpy"):  # a pandas Series or DataFrame, as aeon takes them
            y = y.to_numpy()
            y = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
        y = np.asarray(y)
        if y.ndim not in (1, 2):
            raise DataError(f"y: expected one target value per series (y [N]) or K of them (y [N, K]), got shape "
                            f"{list(y.shape)}")
        if not y.size:
            raise DataError(f"y: expected target values, got an empty y (shape {list(y.shape)})")

        def place(i: int, k: int) -> str:
            row = f"row {i}" + (f" (index {rows[i]!r})" if rows is not None and rows[i] != i else "")
            if names is not None:
                return f"in column {names[k]!r}, {row}"
            return f"at y[{i}]" if y.ndim == 1 else f"at y[{i}, {k}]"

        cells = y.reshape(len(y), -1)
        if y.dtype.kind not in "biuf":  # (text, objects, pandas' nullable Int64 with pd.NA: cell by cell)
            for (i, k), value in np.ndenumerate(cells):
                if not isinstance(value, numbers.Real):
                    value = value.item() if isinstance(value, np.generic) else value  # (np.str_('a') as 'a')
                    dtype = dtypes[k] if dtypes is not None else y.dtype
                    raise DataError(f"y: expected numeric target values, got dtype {dtype} (e.g. {value!r}) "
                                    f"{place(i, k)}")
            cells = cells.astype(np.float64)
        bad = np.argwhere(~np.isfinite(cells))
        if len(bad):
            i, k = (int(v) for v in bad[0])
            raise DataError(f"y: expected a finite number in every target cell, got {cells[i, k]} {place(i, k)} "
                            f"({len(bad)} NaN or inf in all)")
        if len(y) != n_cases:
            raise DataError(f"y: expected {n_cases} target values, one per series of X, got {len(y)}")
        same = np.flatnonzero((cells == cells[0]).all(axis=0))
        if len(same):
            k = int(same[0])
            which = ("" if y.ndim == 1 and names is None else f" in column {names[k]!r}" if names is not None
                     else f" in target {k} (y[:, {k}])")
            raise DataError(f"y: expected target values that vary, got {len(y)} sample(s) all "
                            f"{float(cells[0, k]):g}{which}")
        return cells.reshape(y.shape).astype(np.float64)

    def _fit(self, X: np.ndarray | list[np.ndarray], y: np.ndarray) -> RNNRegressor:
        with self._fit_keeping():
            padded, lengths = _series(X, "fit")
            targets = self._train({"X": padded, "y": np.asarray(y, dtype=np.float64), "lengths": lengths}).targets
            assert targets is not None  # a regression run standardizes its targets
            self.targets_ = targets
            self.n_outputs_ = None if np.ndim(y) == 1 else int(np.shape(y)[1])
        return self

    def _predict(self, X: np.ndarray | list[np.ndarray]) -> np.ndarray:
        values = self._outputs(*_series(X, "predict")) * self.targets_.std + self.targets_.mean
        return values if self.n_outputs_ else values[:, 0]  # (as y came: [N, K], or [N])

    @classmethod
    def _get_test_params(cls, parameter_set: str = "default") -> dict[str, Any] | list[dict[str, Any]]:
        """A tiny, quick model for aeon's estimator checks."""
        return RNNClassifier._get_test_params(parameter_set)


class _PerStepEstimator(_RNNEstimator, BaseEstimator):
    """A target at every step (``[task] per_step = true``): scikit-learn's ``fit(X, y)`` with
    ``y`` [N, T], which aeon's collection estimators do not take (their ``y`` is one value per
    series), so these are scikit-learn estimators, not aeon's. ``X`` as aeon takes a collection
    (``[N, C, T]``, ``[N, T]`` univariate, or a list of ``[C, T_i]``); ``y`` an array [N, T] (or
    [N, T, K] values) for series of equal length, or a list of [T_i] (or [T_i, K]) arrays, one per
    series. ``predict`` answers in the same form: an array for an array ``X``, a list for a list.
    ``n_channels_``: the channels per step of fit's ``X``, which ``predict`` and ``score`` expect."""

    def _padded(self, X: Any, where: str, y: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """``X`` padded [N, T, C] with its lengths, checked (:func:`_check_collection`; outside
        ``fit``, against fit's channel count) in one-line errors naming ``X``; with ``y``, an ``X``
        whose steps ``y`` counts as if it were [N, T, C] is refused first (:func:`_check_x_order`)."""
        from sklearn.utils.validation import check_is_fitted

        if where != "fit":
            check_is_fitted(self, "model_")
        else:
            self._check_before_fit()  # before fit replaces any fitted attribute
        if y is not None:
            _check_x_order(X, y, f"{type(self).__name__}.{where}")
        X = _collection(X)
        if where == "fit":
            _check_collection(X, fit=f"{type(self).__name__}.fit")
        else:
            _check_collection(X, self.n_channels_)
        return _series(X, where, per_step=True)

    def _steps(self, X: Any, y: Any, where: str = "fit") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X`` padded [N, T, C] with its lengths (:meth:`_padded`), and ``y`` padded to [N, T, ...]
        (padding: its first valid value), checked against ``X`` in one-line errors naming ``y``."""
        padded, lengths = self._padded(X, where, y)
        if y is None:
            raise DataError("y: this estimator requires y to be passed, but the target y is None")
        if isinstance(y, np.ndarray) and y.dtype != object:
            if y.ndim < 2 or y.shape[:2] != padded.shape[:2] or (lengths != y.shape[1]).any():
                raise DataError(f"y: expected a target for every step of X, an array [N, T] = {list(padded.shape[:2])} "
                                f"(or a list of [T_i] arrays for series of unequal length), got shape {list(y.shape)}")
            return padded, lengths, y
        rows = [np.asarray(r) for r in y]
        if len(rows) != len(lengths) or any(len(r) != n for r, n in zip(rows, lengths, strict=False)):
            got = [len(r) for r in rows[:4]]
            raise DataError(f"y: expected one target array per series of X, of the series' lengths {lengths[:4].tolist()}"
                            f"{'...' if len(lengths) > 4 else ''} ({len(lengths)} series), got {len(rows)} with lengths "
                            f"{got}{'...' if len(rows) > 4 else ''}")
        out = np.empty((len(rows), padded.shape[1], *rows[0].shape[1:]), dtype=np.result_type(*rows))
        out[:] = rows[0][0]
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return padded, lengths, out

    @staticmethod
    def _lengths_given(lengths: np.ndarray, X: Any) -> np.ndarray | None:
        """The lengths the caller gave: a list of [C, T_i] arrays gives each series' (T_i, T for
        all: every step real); an array [N, C, T] gives none (None), as a file without lengths,
        whose padding (NaN, or a label over all-zero rows ending series) the run refuses as
        ``rnnlab train`` does, instead of training on it."""
        return None if isinstance(X, np.ndarray) else lengths

    @staticmethod
    def _as_given(values: np.ndarray, lengths: np.ndarray, X: Any) -> np.ndarray | list[np.ndarray]:
        """Per-step results [N, T, ...] as ``X`` came: an array, or a list cut to each length."""
        return values if isinstance(X, np.ndarray) else [values[i, :n] for i, n in enumerate(lengths)]

    def _predicted(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        padded, lengths = self._padded(X, "predict")
        return self._outputs(padded, lengths), lengths


class RNNSequenceTagger(_PerStepEstimator):
    """A class label at every step (per-step classification: tagging, activity per step), from
    ``rnnlab init --task per-step-classification``'s template; a scikit-learn estimator (see
    ``_PerStepEstimator``: ``y`` [N, T] labels; a numeric -100 marks a step without a target, as
    torch's loss reads it). ``score`` is the accuracy over every valid step that has a label.

    Fitted attributes: ``classes_`` (the labels, sorted), ``n_channels_``, ``model_``, ``inputs_``,
    ``summary_``, ``config_``.

    >>> X = np.random.default_rng(0).normal(size=(16, 1, 10)); y = np.where(X[:, 0] > 0, "up", "down")
    >>> tagger = RNNSequenceTagger(hidden_size=8, steps=80, lr=0.02, params=FAST, random_state=0).fit(X, y)
    >>> tagger.classes_.tolist(), tagger.predict(X).shape, bool(tagger.score(X, y) > 0.9)
    (['down', 'up'], (16, 10), True)
    """

    _task_name = "per-step-classification"
    _task = {"task.kind": "classification", "task.per_step": True}

    def fit(self, X: Any, y: Any) -> RNNSequenceTagger:
        """Train on series ``X`` and their labels per step ``y``; returns ``self``."""
        from rnnlab.task import PAD_LABEL

        with self._fitting():  # (the previous fit stays until this one succeeds)
            padded, lengths, labels = self._steps(X, y)
            labels = _labels(labels)  # (" up" and "up" two classes, as scikit-learn's scorers count them)
            if labels.ndim != 2:
                raise DataError(f"y: expected one label per step ([N, T]), got shape {list(labels.shape)}")
            valid = labelled_steps(labels, valid_steps(lengths, padded.shape[1]))  # (-100: no target, as in torch)
            _check_step_labels(labels, valid, lengths, listed=not isinstance(X, np.ndarray))
            if labels.dtype.kind == "f" and valid.any():
                with np.errstate(invalid="ignore"):  # (scikit-learn's integer test casts the values)
                    kind = type_of_target(labels[valid], input_name="y")
                if kind == "continuous":  # as RNNClassifier refuses them (aeon's type_of_target check)
                    given = labels[valid]
                    example = given[given != np.round(given)][:1].tolist() or given[:1].tolist()
                    raise DataError(f"y: expected class labels per step, got continuous values (e.g. {example[0]:g}; "
                                    "type_of_target 'continuous'); for values per step use RNNSequenceRegressor")
            self.classes_ = _classes(labels[valid])
            if len(self.classes_) < 2:
                got = f"1 class ({self.classes_[0].tolist()!r})" if len(self.classes_) else "no label"
                raise DataError(f"y: expected at least 2 classes, got {got} in {int(valid.sum())} step(s)")
            codes = np.searchsorted(self.classes_, labels).clip(0, len(self.classes_) - 1)
            self.n_channels_ = padded.shape[2]
            self._train_classes(padded, self._lengths_given(lengths, X), labels,
                                np.where(valid, codes, PAD_LABEL).astype(np.int64), valid)
            return self

    def predict_proba(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Each class's probability at every step: [N, T, n_classes] (a list of [T_i, n_classes])."""
        logits, lengths = self._predicted(X)
        return self._as_given(torch.softmax(torch.from_numpy(self._class_logits(logits)), dim=2).numpy(), lengths, X)

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """The label at every step: [N, T] (a list of [T_i])."""
        logits, lengths = self._predicted(X)
        return self._as_given(self.classes_[np.argmax(self._class_logits(logits), axis=2)], lengths, X)

    def score(self, X: Any, y: Any) -> float:
        """The accuracy over every valid step of every series that has a label (-100: none)."""
        padded, lengths, labels = self._steps(X, y, "score")
        labels = _labels(labels)
        inside = valid_steps(lengths, padded.shape[1])
        valid = labelled_steps(labels, inside)
        _check_step_labels(labels, valid, lengths, listed=not isinstance(X, np.ndarray))
        if not valid.any():
            raise DataError(f"y: expected a label at some step to score, got none (-100 at all {int(inside.sum())} "
                            "valid steps)")
        given = labels[valid]
        if not any((given == c).any() for c in self.classes_):  # e.g. text against fit's numbers: never equal
            shown = list(dict.fromkeys(given.tolist()))
            raise DataError(f"y: expected labels among the fitted classes {self.classes_.tolist()}, got none of them "
                            f"({', '.join(map(repr, shown[:3]))}{', ...' if len(shown) > 3 else ''}; "
                            f"dtype {labels.dtype})")
        logits, _ = self._predicted(X)
        return float((self.classes_[np.argmax(self._class_logits(logits), axis=2)] == labels)[valid].mean())


class RNNSequenceRegressor(_PerStepEstimator):
    """Values at every step (per-step regression: denoising, the adding problem), from ``rnnlab
    init --task per-step-regression``'s template; a scikit-learn estimator (see
    ``_PerStepEstimator``: ``y`` [N, T] or [N, T, K]). ``predict`` answers in the data's units;
    ``score`` is R² over every valid step (averaged over the K values).

    Fitted attributes: ``n_channels_``, ``model_``, ``inputs_``, ``summary_``, ``config_``,
    ``targets_`` (the targets' standardization, on the training part's valid steps).

    >>> X = np.random.default_rng(0).normal(size=(16, 1, 10)); y = 5.0 + 3.0 * X[:, 0]   # rebuild the input
    >>> reg = RNNSequenceRegressor(hidden_size=8, steps=80, params=FAST, random_state=0).fit(X, y)
    >>> reg.predict(X).shape, bool(reg.score(X, y) > 0.9)
    ((16, 10), True)
    """

    _task_name = "per-step-regression"
    _task = {"task.kind": "regression", "task.per_step": True}

    def fit(self, X: Any, y: Any) -> RNNSequenceRegressor:
        """Train on series ``X`` and their values per step ``y``; returns ``self``."""
        with self._fitting():  # (the previous fit stays until this one succeeds)
            padded, lengths, values = self._steps(X, y)
            if values.dtype.kind not in "biuf" or values.ndim not in (2, 3):
                raise DataError(f"y: expected numeric values per step ([N, T] or [N, T, K]), got dtype {values.dtype} "
                                f"and shape {list(values.shape)}")
            self.n_outputs_ = None if values.ndim == 2 else values.shape[2]
            self.n_channels_ = padded.shape[2]
            values = values.astype(np.float64)
            bad = ~np.isfinite(values.reshape(*values.shape[:2], -1)).all(axis=2) & valid_steps(lengths, padded.shape[1])
            if bad.any():
                i, t = np.argwhere(bad)[0]
                tail = _padding_fix(bad, lengths, not isinstance(X, np.ndarray), per_step=True)
                raise DataError(f"y: expected finite values at every valid step, got {int(bad.sum())} non-finite, the first "
                                f"at [sample, step] [{i}, {t}]" + (f"; {tail}" if tail else ""))
            given = _given_lengths(self._lengths_given(lengths, X))
            targets = self._train({"X": padded, "y": values, **given}).targets
            assert targets is not None  # a regression run standardizes its targets
            self.targets_ = targets
            return self

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """The values at every step, in the data's units: [N, T] (or [N, T, K]; a list of [T_i])."""
        standardized, lengths = self._predicted(X)
        values = standardized * self.targets_.std + self.targets_.mean
        return self._as_given(values if self.n_outputs_ else values[:, :, 0], lengths, X)

    def score(self, X: Any, y: Any) -> float:
        """R² over every valid step of every series (scikit-learn's ``r2_score``, K values averaged)."""
        from sklearn.metrics import r2_score

        padded, lengths, values = self._steps(X, y, "score")
        standardized, _ = self._predicted(X)
        valid = valid_steps(lengths, padded.shape[1])
        predicted = (standardized * self.targets_.std + self.targets_.mean)[valid]
        truth = values.astype(np.float64).reshape(*values.shape[:2], -1)[valid]
        return float(r2_score(truth, predicted))


class RNNForecaster(_RNNEstimator, BaseForecaster):
    """The next value ``horizon`` steps after a series' end (``[task] kind = "forecasting"``),
    trained on one long univariate series: an aeon ``BaseForecaster`` (``fit(y)``, then
    ``predict(y)`` the value ``horizon`` steps after ``y``'s last; ``forecast(y)`` both), from
    ``rnnlab init --task forecasting``'s template. The whole of ``y`` trains (no test block: the caller holds out its
    own); the template's tail fraction (``data.val_fraction``) is the validation block that early
    stopping and the reference forecast are chosen on.

    Parameters: ``horizon``, ``season`` (None: the config's, the template's 12), then
    :class:`RNNClassifier`'s. A stream's rows are ``data.bptt`` steps long and ``data.streams``
    of them form the batch (``params``).

    Fitted attributes: ``model_``, ``summary_``, ``config_``, ``seed_``, ``horizon_`` (the horizon
    fitted, which ``predict`` answers for: ``set_params(horizon=...)`` after ``fit`` takes effect
    at the next fit, as scikit-learn's parameters do), ``stats_`` (the scaling of the training
    block), ``reference_`` (the simple forecast the model corrects: "naive", "seasonal_naive" or
    "none").

    >>> y = 10.0 + np.sin(np.arange(120) * 2 * np.pi / 12)                   # a season of 12 steps
    >>> f = RNNForecaster(horizon=2, season=12, hidden_size=8, steps=40, random_state=0,
    ...                   params={**FAST, "data.bptt": 12}).fit(y)
    >>> round(f.predict(y), 1), round(float(y[120 + 2 - 12 - 1]), 1)          # 2 steps after the end; a season earlier
    (10.5, 10.5)
    """

    _task_name = "forecasting"
    _tags = {
        "capability:univariate": True,
        "capability:multivariate": False,
        "capability:horizon": True,
        "X_inner_type": "np.ndarray",
        "y_inner_type": "np.ndarray",
        "algorithm_type": "deeplearning",
        "python_dependencies": "torch",
    }

    def __init__(self, horizon: int = 1, config: str | os.PathLike[str] | Config | None = None, *,
                 season: int | None = None, layer: str | None = None, hidden_size: int | None = None,
                 num_layers: int | None = None, bidirectional: bool | None = None, dropout: float | None = None,
                 recurrent_dropout: float | None = None, zoneout: float | None = None, steps: int | None = None,
                 epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                 weight_decay: float | None = None, params: Mapping[str, Any] | None = None,
                 random_state: int | np.random.RandomState | None = None, run_dir: str | os.PathLike[str] | None = None,
                 verbose: bool = False) -> None:
        self.horizon = horizon
        self.season = season
        super().__init__(config, layer=layer, hidden_size=hidden_size, num_layers=num_layers,
                         bidirectional=bidirectional, dropout=dropout, recurrent_dropout=recurrent_dropout,
                         zoneout=zoneout, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, params=params, random_state=random_state, run_dir=run_dir,
                         verbose=verbose)

    _data_argument = "y"
    _fit_call = "fit(y)"

    def _init_base(self) -> None:
        BaseForecaster.__init__(self, horizon=self.horizon, axis=1)

    def _preprocess_series(self, X: Any, *args: Any, **kwargs: Any) -> Any:
        if np.size(X) == 0:  # (aeon's checks fail on it in numpy's words)
            raise DataError(f"y: expected a series of at least 1 step, got none (shape {list(np.shape(X))})")
        with np.errstate(over="ignore", invalid="ignore"):  # aeon's variance check, as a collection's
            return super()._preprocess_series(X, *args, **kwargs)

    def _task_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"task.kind": "forecasting", "task.per_step": False, "task.horizon": self.horizon,
                                  "data.test_fraction": 0.0, "data.test_steps": None}
        if self.season is not None:
            values["task.season"] = self.season
        return values

    def _fit(self, y: np.ndarray, exog: np.ndarray | None = None) -> RNNForecaster:
        with self._fitting():  # (aeon's forecaster resets nothing before: the state now is the previous fit)
            data = self._train({"series": _stream(y)})
            self.stats_, self.reference_ = data.stats, data.reference
            self.horizon_ = self.config_.task.horizon  # (what predict answers: a later set_params is the next fit's)
        return self

    def _predict(self, y: np.ndarray, exog: np.ndarray | None = None) -> float:
        from rnnlab.data.checks import FLOAT32_MAX
        from rnnlab.task import task_for
        from rnnlab.train.forecast import next_values

        series = _stream(y)
        with np.errstate(over="ignore"):
            scaled = np.abs((series - self.stats_.mean) / self.stats_.std).max(axis=1)
        far = np.flatnonzero(~(scaled <= FLOAT32_MAX))  # read as inf by the model, in float32
        if len(far):
            raise DataError(f"y: expected values within float32's range once scaled as in fit (|y - mean| / std <= "
                            f"{FLOAT32_MAX:.2g}, mean {self.stats_.mean[0]:.3g}, std {self.stats_.std[0]:.3g}), got "
                            f"{len(far)} beyond it, the first at step {far[0]}; rescale y as the series fitted")
        values = next_values(self.model_.eval(), series, self.stats_, self.reference_, task_for(self.config_))
        return float(values[self.horizon_ - 1, 0])

    @classmethod
    def _get_test_params(cls, parameter_set: str = "default") -> dict[str, Any] | list[dict[str, Any]]:
        """A tiny, quick model for aeon's estimator checks (short series: short windows)."""
        return {"hidden_size": 4, "steps": 4, "season": 2, "random_state": 0,
                "params": {**FAST, "data.bptt": 4, "data.streams": 1}}


def _clear_for_fit(run: RunDir) -> str:
    """Ready the claimed run directory ``run`` for a fit; returns what an interrupted fit there
    recorded ("": nothing), which this fit continues (:func:`_check_run_dir_free` refuses a
    fitted run, and records that cannot be continued). What a fit that failed before its first
    epoch left (its data, config.toml) is removed, so the directory serves again."""
    from rnnlab.rundir import discard_run

    interrupted = _check_run_dir_free(run.path, run)
    if interrupted:
        return interrupted  # (its records, its checkpoint and its data copy stay: the trainer resumes it)
    # rnnlab's own files of the failed fit (as a run cut short is cleared), and the data copy the
    # estimator wrote: anything else is not ours to remove
    discard_run(run.path, lock=run.lock)
    (run.path / _DATA_FILE).unlink(missing_ok=True)
    return ""


def _check_run_dir_free(path: Path, run: RunDir | None = None) -> str:
    """Refuse ``path`` as a fit's ``run_dir`` when it holds a fitted run (its ``summary.json``), or
    records of a fit that no checkpoint continues (``run``: the claimed directory; None: read
    without claiming, nor creating, it). Returns what an interrupted fit there recorded, with
    the checkpoint (``last.pt``) that the next fit continues from ("": nothing to keep).

    >>> _check_run_dir_free(Path("/nonexistent/run"))
    ''
    """
    from rnnlab.rundir import RunDir

    if run is None and not path.is_dir():
        return ""
    run = run or RunDir(path)
    if not run.has_records():
        return ""
    if run.summary.exists():
        raise ConfigError(f"run_dir {str(path)!r} already holds a fitted run; give a new directory per fit "
                          "(cross_val_score and GridSearchCV fit clones that share run_dir: leave it unset there)")
    held = run.held_records()
    if not held and not run.last_checkpoint.exists():
        return ""  # (the steps of a first epoch cut short, which the fit started again records the same)
    if not run.last_checkpoint.exists():
        raise ConfigError(f"{_interrupted_fit(path, held)} before its first checkpoint, which no fit can continue; "
                          f"{_what_to_do(path)}")
    return held


def _interrupted_fit(path: Path, held: str) -> str:
    """The start of a refusal of ``run_dir`` ``path``, which holds ``held`` of an interrupted fit."""
    return f"run_dir {str(path)!r} holds an interrupted fit ({held})"


def _what_to_do(path: Path) -> str:
    """What a caller may do with a ``run_dir`` holding an interrupted fit that this one cannot continue."""
    return (f"fit the same data with the same parameters to continue it, give a new run_dir "
            f"(`{shell_command('rnnlab', 'report', path)}` reads its records), or remove {str(path)!r} yourself to start over")


def _with_target_names(arrays: Mapping[str, np.ndarray], names: list[str] | None) -> Mapping[str, np.ndarray]:
    """``arrays`` with the targets' ``names`` (a DataFrame y's columns: ``target_names_``) as the
    data file's ``target_names``, so that the run names its targets as the caller's y does
    (``rnnlab predict``'s columns, the report); names the file could not hold (a column name twice,
    an empty one) are left out, and the targets named by position, as an array's.

    >>> sorted(_with_target_names({"y": np.zeros((3, 2))}, ["conc", "temp"])), sorted(_with_target_names({"y": np.zeros(3)}, None))
    (['target_names', 'y'], ['y'])
    """
    from rnnlab.data.files import check_target_names

    if names is None or "y" not in arrays:
        return arrays
    try:
        listed = check_target_names(np.array(names, dtype=str), arrays["y"], None, "y")
    except DataError:
        return arrays
    return {**arrays, "target_names": np.array(listed, dtype=str)}


def _same_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Whether the ``.npz`` at ``path`` (a fit's data copy, :data:`_DATA_FILE`) holds ``arrays``."""
    try:
        with np.load(path, allow_pickle=False) as held:
            return set(held.files) == set(arrays) and all(
                held[k].dtype == np.asarray(v).dtype and np.array_equal(held[k], v) for k, v in arrays.items())
    except (OSError, ValueError):  # (unreadable: not this fit's data)
        return False


def _seed_source(random_state: Any) -> int | np.random.RandomState:
    """``random_state`` as scikit-learn reads it: an int is the seed; otherwise the generator to
    draw one from (None: NumPy's global one, so each fit draws a fresh seed, and
    ``np.random.seed`` makes them repeatable); anything else refused naming ``random_state``.

    >>> _seed_source("x")
    Traceback (most recent call last):
    ...
    rnnlab.errors.ConfigError: random_state: expected None, an int or a numpy.random.RandomState, got 'x' (str)
    """
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if random_state is not None and not isinstance(random_state, np.random.RandomState):
        raise ConfigError(f"random_state: expected None, an int or a numpy.random.RandomState, got "
                          f"{random_state!r} ({type(random_state).__name__})")
    return check_random_state(random_state)


def _seed(random_state: Any) -> int:
    """``training.seed`` from scikit-learn's ``random_state`` (:func:`_seed_source`): an int as
    given; a RandomState's next draw; None a draw from NumPy's global generator.

    >>> np.random.seed(0); a = _seed(None); np.random.seed(0); (a == _seed(None), _seed(np.int64(3)))
    (True, 3)
    """
    source = _seed_source(random_state)
    return source if isinstance(source, int) else int(source.randint(np.iinfo(np.int32).max))


def _key_paths(prefix: str, section: Mapping[Any, Any]) -> dict[str, Any]:
    """The key paths that a dict given for the section ``prefix`` names, nested dicts too.

    >>> _key_paths("model", {"hidden_size": 8, "head": {"pooling": "mean"}})
    {'model.hidden_size': 8, 'model.head.pooling': 'mean'}
    """
    out: dict[str, Any] = {}
    for key, value in section.items():
        path = f"{prefix}.{key}"
        out.update(_key_paths(path, value) if isinstance(value, Mapping) and value else {path: value})
    return out


def _task_fix(kind: Any, per_step: Any) -> str:
    """What an estimator's caller uses to train the task ``kind`` (per step or not): its estimator.

    >>> _task_fix("regression", False), _task_fix("language_model", False)[:39]
    ('for that task use RNNRegressor', "no estimator trains task.kind 'language")
    """
    name = _TASK_ESTIMATORS.get((kind, per_step)) if isinstance(kind, str) and isinstance(per_step, bool) else None
    if name is not None:
        return f"for that task use {name}"
    return (f"no estimator trains task.kind {kind!r} with task.per_step {per_step!r}: each estimator trains its own "
            f"task ({', '.join(sorted(set(_TASK_ESTIMATORS.values())))}); train others with rnnlab train")


def _plain(value: Any) -> Any:
    """NumPy's scalars (a grid's ``np.arange`` values, an array's elements) as Python's bool,
    int and float, inside lists, tuples and mappings too; anything else as given, for the
    config's strict checks to judge.

    >>> _plain([np.int64(8), np.float32(0.5), np.bool_(True), "lstm"])
    [8, 0.5, True, 'lstm']
    """
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _labels(y: Any) -> Any:
    """Class labels exactly as the caller gave them (a pandas Series as its numpy array): text
    is not stripped nor bytes decoded, as ``rnnlab train`` does a file's, because scikit-learn's
    scorers compare ``predict`` with the caller's ``y``, so ``classes_`` must be ``np.unique(y)``.
    The run's data file holds them as its reader takes them (:func:`_run_labels`), and the run
    names its classes as that reader spells them (``" cat"`` as ``"cat"``).

    >>> _labels(np.array([" walking", "walking", b"x"], dtype=object)).tolist()
    [' walking', 'walking', b'x']
    """
    if not isinstance(y, np.ndarray) and getattr(y, "ndim", 0) == 1 and hasattr(y, "to_numpy"):  # (a pandas Series)
        return y.to_numpy()
    return y


def _classes(labels: np.ndarray) -> np.ndarray:
    """The distinct labels, sorted; labels numpy cannot order (text and numbers in one object
    array) refused naming ``y``.

    >>> _classes(np.array(["a", 1] * 2, dtype=object))
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: y: expected labels of one type, got int and str labels
    """
    try:
        return np.unique(labels)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in labels.ravel()})
        raise DataError(f"y: expected labels of one type, got {' and '.join(kinds)} labels") from None


def _run_labels(labels: np.ndarray, codes: np.ndarray, scored: np.ndarray) -> tuple[np.ndarray, list[str], str]:
    """What a classifier's run data file holds as ``y`` for ``labels`` (its ``scored`` entries of
    class index ``codes``), the name the run gives each class of ``classes_``, and why the labels
    are not written ("": they are). The labels themselves (numbers as numbers, text as unicode:
    ``np.savez`` without pickle), where the run reads them (docs/tasks.md, "Class labels") as these
    classes one for one; else the codes (-100 kept), named ``"0"``, ``"1"``, ...: labels that
    differ only in case, that mark a missing value, that are one without their surrounding
    spaces, or numbers that look like regression targets to it (most classes of one series).

    >>> held, names, why = _run_labels(np.array(["10", " 9", "10"]), np.array([0, 1, 0]), np.ones(3, bool))
    >>> held.tolist(), names, why
    (['10', ' 9', '10'], ['10', '9'], '')
    >>> _run_labels(np.array(["walk", "Walk", "NA"]), np.array([2, 0, 1]), np.ones(3, bool))[1:]
    (['0', '1', '2'], "labels that differ only in case ('walk', 'Walk')")
    """
    from rnnlab.data.checks import (
        case_groups,
        check_not_regression,
        look_alike_words,
        missing_labels,
    )
    from rnnlab.data.files import text_labels

    n_classes = int(codes[scored].max()) + 1
    held = np.array(labels.tolist()) if labels.dtype == object else labels  # (str objects as unicode)
    # (1.0 as 1, as the run reads a file's labels: its class names "1", not "1.0", either way)
    held = whole_number_labels(held, scored if labels.ndim > 1 else None)
    why = ""
    try:
        read = text_labels(held, "y") if held.dtype.kind in "biufUS" else None  # (stripped; bytes decoded)
    except DataError:  # (bytes that are no UTF-8 text)
        read = None
    if read is None:
        why = f"labels of dtype {labels.dtype}"
    else:
        groups = case_groups(read[scored])
        missing = missing_labels(read[scored])
        if groups:
            why = look_alike_words(groups[0]).replace(": ", " (", 1) + ")"
        elif len(missing):
            why = f"labels that mark a missing value ({str(read[scored][missing[0]])!r})"
        elif labels.ndim == 1:  # (per step, the run takes any numbers as classes)
            try:
                check_not_regression(read, "y")
            except DataError:
                why = "numbers that look like regression targets to it (most classes of a single series)"
    if not why:
        first = [np.flatnonzero(scored.ravel() & (codes.ravel() == k))[0] for k in range(n_classes)]
        names = [str(read.ravel()[i]) for i in first]
        if len(set(names)) == n_classes:
            return held, names, ""
        same = next(n for n in names if names.count(n) > 1)
        spelt = [repr(str(labels.ravel()[i])) for i, n in zip(first, names, strict=True) if n == same]
        why = f"labels that are one without their surrounding spaces ({', '.join(spelt)})"
    return codes, [str(k) for k in range(n_classes)], why


def _check_step_labels(labels: np.ndarray, valid: np.ndarray, lengths: np.ndarray, listed: bool) -> None:
    """A label at every ``valid`` step [N, T]: NaN or None there is refused (a numeric -100 is
    how a step says it has none); where they end series of ``lengths`` as padding does, the
    error says how to give the true lengths (:func:`_padding_fix`; ``listed``: X was a list).

    >>> _check_step_labels(np.array([["a", None, "b"], [None, "b", "a"]], dtype=object),
    ...                    np.array([[1, 1, 1], [0, 1, 1]], bool), np.array([3, 3]), listed=False)
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: y: expected a label at every valid step (-100: a step without one), got 1 missing (NaN or None), the first at [sample, step] [0, 1]
    """
    if labels.dtype.kind == "f":
        missing = np.isnan(labels)
    elif labels.dtype == object:
        missing = np.frompyfunc(lambda v: v is None or (isinstance(v, (float, np.floating)) and bool(np.isnan(v))),
                                1, 1)(labels).astype(bool)
    else:
        return
    missing &= valid
    if missing.any():
        i, t = np.argwhere(missing)[0]
        tail = _padding_fix(missing, lengths, listed, per_step=True)
        raise DataError(f"y: expected a label at every valid step (-100: a step without one), got {int(missing.sum())} "
                        f"missing (NaN or None), the first at [sample, step] [{i}, {t}]" + (f"; {tail}" if tail else ""))


def _column_names(y: Any) -> list[str] | None:
    """The targets' names that ``y`` carries: a DataFrame's columns, a named Series' name; else None.

    >>> import pandas as pd
    >>> _column_names(pd.DataFrame({"conc": [1.0], "temp": [2.0]})), _column_names(np.zeros(3))
    (['conc', 'temp'], None)
    """
    if hasattr(y, "columns"):
        return [str(c) for c in y.columns]
    name = getattr(y, "name", None) if hasattr(y, "to_numpy") else None
    return None if name is None else [str(name)]


def _target_array(y: Any) -> Any:
    """``y`` as scikit-learn's estimators take it, for aeon's checks: None refused in scikit-learn's
    words, a list as an array, a column vector ``[N, 1]`` raveled with scikit-learn's
    ``DataConversionWarning``; anything else as given.

    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _target_array(np.array([[1.0], [2.0]])).tolist(), w[0].category.__name__
    ([1.0, 2.0], 'DataConversionWarning')
    """
    if y is None:
        raise DataError("y: this estimator requires y to be passed, but the target y is None")
    if isinstance(y, (list, tuple)):
        return np.asarray(y)
    if isinstance(y, np.ndarray) and y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected (y [N, 1]); raveled to y [N]",
                      DataConversionWarning, stacklevel=4)
        return y.ravel()
    return y


def _series(X: np.ndarray | list[np.ndarray], where: str, per_step: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`series_batch`, every value checked finite (aeon refuses NaN, not inf); steps with
    no finite value that end series, as NaN padding does, are refused with the form that gives
    the series' true lengths (:func:`_padding_fix`; ``per_step``: y per step goes with them).

    >>> X = np.ones((3, 1, 4)); X[0, :, 2:] = np.nan; X[1, :, 3:] = np.nan
    >>> _series(X, "fit")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: fit: X has 3 non-finite values (NaN or inf), at every channel of the steps that end 2 series (first: sample 0, from step 2), as padding does: series of unequal length go in as a list of [C, T_i] arrays, each cut to its true length
    """
    from rnnlab.data.checks import check_finite

    padded, lengths = series_batch(X)
    bad = ~np.isfinite(padded) & valid_steps(lengths, padded.shape[1])[:, :, None]
    empty = bad.all(axis=2)  # (steps with no value in any channel: padding's)
    if bad.any() and not (bad & ~empty[:, :, None]).any():
        tail = _padding_fix(empty, lengths, not isinstance(X, np.ndarray), per_step)
        if tail:
            raise DataError(f"{where}: X has {int(bad.sum())} non-finite values (NaN or inf), at every channel of the "
                            f"steps that {tail.removeprefix('they ')}")
    check_finite(padded, lengths, where)
    return padded, lengths


def _list_form(listed: bool, with_y: str) -> str:
    """How series of unequal length give their lengths (``with_y``: how their targets go with them)."""
    if listed:
        return "cut each series of the list to its true length" + (" and its targets with it" if with_y else "")
    return f"series of unequal length go in as a list of [C, T_i] arrays{with_y}, each cut to its true length"


def _padding_fix(bad: np.ndarray, lengths: np.ndarray, listed: bool, per_step: bool) -> str:
    """Where the ``bad`` steps [N, T] (missing values) fill each series they are in from some step
    to its end (of ``lengths``), as padding does, and no series wholly: "they end K series ...",
    with :func:`_list_form`'s remedy (``listed``: X was a list; ``per_step``: y goes with X);
    else ``""`` (a gap inside a series, or a series with nothing, is no padding).

    >>> _padding_fix(np.array([[0, 1, 1], [0, 0, 0]], bool), np.array([3, 3]), listed=False, per_step=True)
    'they end 1 series (first: sample 0, from step 1), as padding does: series of unequal length go in as a list of [C, T_i] arrays and y as a list of [T_i] arrays, each cut to its true length'
    """
    rows = np.flatnonzero(bad.any(axis=1))
    first = bad.argmax(axis=1)
    if not len(rows) or (first[rows] == 0).any() or (bad.sum(axis=1)[rows] != lengths[rows] - first[rows]).any():
        return ""
    with_y = " and y as a list of [T_i] arrays" if per_step else ""
    return (f"they end {len(rows)} series (first: sample {int(rows[0])}, from step {int(first[rows[0]])}), as padding "
            f"does: {_list_form(listed, with_y)}")


def _config_file(path: str | os.PathLike[str]) -> Config:
    """The config file at ``path``, as :func:`rnnlab.config.load_config` reads it; a file that
    names no data (no ``data.path`` nor ``data.dataset``: hyper-parameters alone) is read as if it
    named the estimator's, which ``fit`` writes and sets as ``data.path`` in any case. The file's
    other ``[data]`` keys (``val_fraction``, ``normalize``, ...) apply; data it names is replaced
    by the fit's (:meth:`_RNNEstimator.resolved_config`)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the tomli backport has the same API
        import tomli as tomllib

    try:
        return load_config(path)
    except ConfigError as e:
        refused = e
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise refused from None  # (a file load_config could not read or parse: its words)
    data = raw.get("data", {})
    if not isinstance(data, dict) or {"path", "dataset"} & data.keys():
        raise refused
    return config_from_dict({**raw, "data": {**data, "path": _DATA_FILE}}, source=os.fspath(path))


def _given_lengths(lengths: np.ndarray | None) -> dict[str, np.ndarray]:
    """The run data file's ``lengths`` entry: none for None (every series T steps, padding checked)."""
    return {} if lengths is None else {"lengths": lengths}


def series_batch(X: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """aeon's collection (``[N, C, T]`` array or list of ``[C, T_i]``) as rnnlab's padded
    ``X [N, T, C]`` (zeros after each series) and ``lengths [N]``.

    >>> X, lengths = series_batch([np.ones((2, 3)), np.ones((2, 5))])
    >>> X.shape, lengths.tolist(), X[0, 3:].tolist()
    ((2, 5, 2), [3, 5], [[0.0, 0.0], [0.0, 0.0]])
    """
    from rnnlab.data.bundled import pad

    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(np.transpose(X, (0, 2, 1)), dtype=np.float64), np.full(len(X), X.shape[2])
    return pad([np.asarray(s, dtype=np.float64).T for s in X])


def _check_collection(X: Any, channels: int | None = None, fit: str | None = None) -> None:
    """Refuse in one line naming ``X`` what numpy, torch or aeon would fail on deep inside: no
    series, a series of no step or no channel, series of different channel counts, and a channel
    count other than ``channels`` (fit's; None in ``fit``). An array ``[N, C, T]`` or ``[N, T]``
    and a list of ``[C, T_i]`` or ``[T_i]`` arrays are checked; other forms are left to the checks
    that follow (aeon's, :func:`_collection`). ``fit``: the fit that takes ``X`` (e.g.
    ``"RNNClassifier.fit"``), which checks its step order too (:func:`_check_order`).

    >>> _check_collection([np.zeros((2, 5)), np.zeros((1, 5))])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: X: expected series of one channel count, got 2 in series 0 and 1 in series 1
    >>> _check_collection([np.zeros((12, 1)), np.zeros((14, 1))])
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: X: expected series of one channel count, got 12 in series 0 and 14 in series 1; each series is read as [C, T_i], but their first dimension varies as a length does and their second is 1 in every one: if each is [T_i, C], pass [x.T for x in X]
    >>> _check_collection(np.zeros((3, 2, 5)), channels=1)
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: X: expected 1 channel per step (as in fit), got 2
    """
    if isinstance(X, np.ndarray) and X.ndim in (2, 3):  # every series of one shape
        count, sizes, at = len(X), [(X.shape[1] if X.ndim == 3 else 1, X.shape[-1])], f" (X of shape {list(X.shape)})"
    elif isinstance(X, (list, tuple)) and all(isinstance(s, np.ndarray) and s.ndim in (1, 2) for s in X):
        count, sizes, at = len(X), [(len(s) if s.ndim == 2 else 1, s.shape[-1]) for s in X], ""
    else:
        return
    if not count:
        raise DataError(f"X: expected at least 1 series, got none{at or ' (an empty list)'}")
    for i, (c, t) in enumerate(sizes):
        if c == 0 or t == 0:
            raise DataError(f"X: expected at least 1 {'channel per step' if c == 0 else 'step per series'}, got 0"
                            f"{at or f' in series {i}'}")
        if c != sizes[0][0]:
            # (a list of [T_i, C] arrays: the first dimension varies from series to series, the second
            # never, and every series reads as more channels than steps)
            transposed = "" if len({t for _, t in sizes}) > 1 or any(c <= t for c, t in sizes) else (
                f"; each series is read as [C, T_i], but their first dimension varies as a length does and their "
                f"second is {sizes[0][1]} in every one: if each is [T_i, C], pass [x.T for x in X]")
            raise DataError(f"X: expected series of one channel count, got {sizes[0][0]} in series 0 and {c} in "
                            f"series {i}{transposed}")
    if channels is not None and sizes[0][0] != channels:
        raise DataError(f"X: expected {channels} channel{'' if channels == 1 else 's'} per step (as in fit), "
                        f"got {sizes[0][0]}")
    if fit is not None:
        _check_order(X, sizes, fit)


def _check_order(X: np.ndarray | list[np.ndarray], sizes: list[tuple[int, int]], fit: str) -> None:
    """The step order of fit's ``X`` of ``sizes`` (each series' channels and steps, as read), as
    :func:`rnnlab.data.files.check_step_order` checks an array's ([N, C, T]: the fix transposes
    it); a list's series are [C, T_i] each, which a list of [T_i, C] arrays is transposed to one
    by one: more channels than steps in every series is warned of, one step refused.

    >>> _check_order([np.zeros((20, 1))] * 3, [(20, 1)] * 3, "RNNClassifier.fit")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: RNNClassifier.fit: X, a list of 3 series read as [C, T_i], is 3 series of 1 step with 20 channels; if each series is [T_i, C], call fit([x.T for x in X], y)
    """
    from rnnlab.data.files import StepOrderWarning, check_step_order
    from rnnlab.layers.regularizers import warn_at_user_line

    if isinstance(X, np.ndarray):
        if X.ndim == 3:  # (read [N, C, T]; check_step_order takes the shape [N, T, C])
            check_step_order((X.shape[0], X.shape[2], X.shape[1]), fit, call="fit(X, y)")
        return
    steps = max(t for _, t in sizes)
    channels = sizes[0][0]
    if channels <= max(steps, 1):
        return
    reach = f"{steps} step{'' if steps == 1 else 's'}" if len({t for _, t in sizes}) == 1 else f"at most {steps} steps"
    text = (f"{fit}: X, a list of {len(sizes)} series read as [C, T_i], is {len(sizes)} series of {reach} with "
            f"{channels} channels")
    fix = "if each series is [T_i, C], call fit([x.T for x in X], y)"
    if steps == 1:  # (a recurrent network over one step is no sequence model: never meant)
        raise DataError(f"{text}; {fix}")
    warn_at_user_line(f"{text}, more channels than steps; {fix}", StepOrderWarning)


def _check_x_order(X: Any, y: Any, at: str) -> None:
    """Refuse an array ``X`` [N, C, T] whose per-step targets ``y`` [N, T, ...] count X's
    channels as its steps (X given as [N, T, C]): said of ``X``, with the call that fixes it, as
    :func:`rnnlab.data.files.check_step_order` says it, not as a ``y`` of the wrong shape.

    >>> _check_x_order(np.zeros((40, 15, 2)), np.zeros((40, 15)), "RNNSequenceRegressor.fit")
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: RNNSequenceRegressor.fit: X of shape [40, 15, 2] read as [N, C, T] is 40 series of 2 steps with 15 channels, but y of shape [40, 15] has 15 steps per series, as X read as [N, T, C]; if X is [N, T, C], call fit(X.transpose(0, 2, 1), y)
    """
    if not (isinstance(X, np.ndarray) and X.ndim == 3 and isinstance(y, np.ndarray) and y.ndim >= 2):
        return
    n, channels, steps = X.shape
    if channels == steps or y.shape[:2] != (n, channels):
        return
    call = at.rsplit(".", 1)[-1]
    raise DataError(f"{at}: X of shape {list(X.shape)} read as [N, C, T] is {n} series of {steps} "
                    f"step{'' if steps == 1 else 's'} with {channels} channel{'' if channels == 1 else 's'}, but y of "
                    f"shape {list(y.shape)} has {channels} steps per series, as X read as [N, T, C]; if X is [N, T, C], "
                    f"call {call}(X.transpose(0, 2, 1), y)")


def _collection(X: Any) -> np.ndarray | list[np.ndarray]:
    """``X`` as aeon's collection estimators take it, for the per-step estimators (which are not
    aeon's): ``[N, C, T]``, ``[N, T]`` univariate, or a list of ``[C, T_i]`` (or ``[T_i]``) arrays.

    >>> _collection(np.zeros((2, 5))).shape, [a.shape for a in _collection([np.zeros(3), np.zeros((2, 4))])]
    ((2, 1, 5), [(1, 3), (2, 4)])
    """
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf" and X.ndim in (2, 3):
        return X[:, None, :] if X.ndim == 2 else X
    if isinstance(X, (list, tuple)) and all(isinstance(s, np.ndarray) and s.ndim in (1, 2) and s.dtype.kind in "biuf"
                                            for s in X):  # (an empty list: _check_collection says so)
        return [s[None, :] if s.ndim == 1 else s for s in X]
    got = f"an array of shape {list(X.shape)} and dtype {X.dtype}" if isinstance(X, np.ndarray) else type(X).__name__
    raise DataError(f"X: expected series as a numeric array [N, C, T] or [N, T], or a list of [C, T_i] arrays, got {got}")


def _stream(y: np.ndarray) -> np.ndarray:
    """aeon's inner series ``[1, L]`` as rnnlab's ``[L, 1]``, checked finite (aeon refuses NaN, not inf).

    >>> _stream(np.array([[1.0, np.inf, 2.0]]))
    Traceback (most recent call last):
    ...
    rnnlab.errors.DataError: y: expected finite values, got 1 non-finite (NaN or inf), the first at step 1
    """
    series = np.ascontiguousarray(np.asarray(y, dtype=np.float64).T)
    bad = np.flatnonzero(~np.isfinite(series).all(axis=1))
    if len(bad):
        raise DataError(f"y: expected finite values, got {len(bad)} non-finite (NaN or inf), the first at step {bad[0]}")
    return series
