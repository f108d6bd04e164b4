"""scikit-learn and aeon estimators over the project's one trainer (:func:`rnnlab.train.train`).

:class:`RNNClassifier` takes series as aeon does (3-D ``[N, C, T]`` numpy, a list of ``[C, T_i]``
arrays of unequal lengths, or 2-D ``[N, T]`` univariate), writes them where ``data.path`` points
(an ``.npz`` inside the run directory), and trains the config: the ``rnnlab init`` template by
default, or ``config=`` a TOML path or a :class:`rnnlab.Config`; the keyword hyper-parameters
and ``params`` (key paths, as a search space names them) override it. It is an aeon
``BaseClassifier`` (tags: multivariate, unequal length, deep learning) and so a scikit-learn
classifier: ``cross_val_score``, ``GridSearchCV``, ``clone`` and aeon's benchmarking take it.

``run_dir``: where the run is written (config.toml, metrics, tracked norms, health, checkpoints,
the training data); ``rnnlab report RUN_DIR`` and ``rnnlab compare`` read it. Unset, the run goes
to a temporary directory removed after ``fit`` (and tracking is off: nothing would read it).

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

import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnlab.config import TEMPLATE, Config, load_config, parse_config
from rnnlab.errors import ConfigError

try:
    from aeon.classification.base import BaseClassifier
    from sklearn.utils import check_random_state
except ImportError as e:  # pragma: no cover - the extra is part of the dev install
    raise ImportError(f"rnnlab.RNNClassifier needs aeon and scikit-learn ({e.name} is missing): "
                      "pip install 'rnnlab[estimators]'") from None

__all__ = ["FAST", "RNNClassifier"]

#: Key paths for a small, quick model: no convolutional front-end, no recurrent batch norm, no
#: warm-up, one thread. For examples and estimator checks (``params=FAST``).
FAST: dict[str, Any] = {"model.frontend": None, "model.head.frontend_pooling": "none",
                        "model.recurrent_batch_norm": False,
                        "training.schedule.warmup_steps": 0, "training.threads": 1}

# The keyword hyper-parameters: each sets one key path of the config (None: the config's value).
_KEYWORDS = {
    "layer": "model.layer", "hidden_size": "model.hidden_size", "num_layers": "model.num_layers",
    "bidirectional": "model.bidirectional", "dropout": "model.dropout",
    "recurrent_dropout": "model.recurrent_dropout", "zoneout": "model.zoneout",
    "steps": "training.steps", "epochs": "training.epochs", "batch_size": "training.batch_size",
    "lr": "training.lr", "weight_decay": "training.weight_decay",
}


class _RNNEstimator:
    """What every rnnlab estimator shares: the hyper-parameters, the config they resolve to,
    training through :func:`rnnlab.train.train` and the model's raw outputs. A task's estimator
    adds how targets are encoded for training and how outputs are decoded (``RNNClassifier``:
    labels to class indices, logits to probabilities)."""

    #: ``task`` key paths a subclass trains with (a regressor: ``{"task.kind": "regression"}``).
    _task: Mapping[str, Any] = {}

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
        super().__init__()

    # ---------------------------------------------------------------------------------- config

    def _base_config(self) -> Config:
        if self.config is None:
            return parse_config(TEMPLATE, source="rnnlab init template")
        if isinstance(self.config, Config):
            return self.config
        if isinstance(self.config, (str, os.PathLike)):
            return load_config(self.config)
        raise ConfigError(f"config: expected a TOML path, an rnnlab.Config or None, got {type(self.config).__name__}")

    def resolved_config(self, data_path: str | os.PathLike[str] = "train_data.npz", tracking: bool = True) -> Config:
        """The config ``fit`` trains: the base config, the keyword hyper-parameters and
        ``params`` set, the data at ``data_path``, the seed from ``random_state``.

        >>> RNNClassifier(hidden_size=16, params={"model.zoneout": 0.0}).resolved_config().model.hidden_size
        16
        """
        from rnnlab.search.space import apply_values

        values: dict[str, Any] = {"data.dataset": None, "data.path": str(data_path), "data.test_path": None}
        for key, path in _KEYWORDS.items():
            if getattr(self, key) is not None:
                values[path] = getattr(self, key)
        if self.epochs is not None and self.steps is None:
            values["training.steps"] = None  # the budget is one of the two
        if self.steps is not None and self.epochs is None:
            values["training.epochs"] = None
        if self.params is not None:
            if not isinstance(self.params, Mapping):
                raise ConfigError(f"params: expected a mapping of key paths to values, got {type(self.params).__name__}")
            values.update(self.params)
        if self.random_state is not None:
            values["training.seed"] = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
                                          if not isinstance(self.random_state, (int, np.integer))
                                          else self.random_state)
        if not tracking:
            values["tracking.enabled"] = False
        values.update(self._task)
        return apply_values(self._base_config(), values, source=f"{type(self).__name__} parameters")

    # ---------------------------------------------------------------------------------- training

    @contextmanager
    def _run_directory(self) -> Iterator[Path]:
        if self.run_dir is not None:
            yield Path(self.run_dir)
            return
        with tempfile.TemporaryDirectory(prefix="rnnlab-fit-") as tmp:
            yield Path(tmp)

    def _train(self, X: np.ndarray | list[np.ndarray], targets: np.ndarray) -> None:
        """Train on aeon's inner ``X`` and encoded ``targets``; sets ``model_`` and ``inputs_``."""
        from rnnlab.data import load_data
        from rnnlab.data.checks import check_finite
        from rnnlab.rundir import RunDir, atomic_write_bytes
        from rnnlab.train import train

        padded, lengths = series_batch(X)
        check_finite(padded, lengths, "fit")  # (aeon refuses NaN, not inf)
        with self._run_directory() as out:
            # Claimed as a run first, so that the data may sit inside it (a run directory
            # accepts no stranger's files); the trainer then claims it again.
            run = RunDir.for_writing(out, new=True, named_by="run_dir")
            run.release()
            data_path = out.resolve() / "train_data.npz"
            if data_path.exists() or run.metrics.exists() or run.last_checkpoint.exists():
                raise ConfigError(f"run_dir {str(out)!r} already holds a fitted run; give a new directory per fit")
            buf = io.BytesIO()
            np.savez(buf, X=padded, y=targets, lengths=lengths)
            atomic_write_bytes(data_path, buf.getvalue())
            config = self.resolved_config(data_path, tracking=self.run_dir is not None)
            result = train(config, out=out, progress=False, log=print if self.verbose else None)
            inputs = load_data(config.data, seed=config.training.seed).inputs  # what the trainer fitted
        self.model_ = result.model.eval()
        self.inputs_ = inputs
        self.summary_ = result.to_dict()
        self.run_dir_ = None if self.run_dir is None else Path(self.run_dir)

    def _outputs(self, X: np.ndarray | list[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """The model's outputs (logits) for aeon's inner ``X``, in eval mode, batch by batch."""
        from rnnlab.data.checks import check_finite, check_float32_range

        padded, lengths = series_batch(X)
        check_finite(padded, lengths, "predict")
        scaled = self.inputs_.apply(padded, lengths)
        check_float32_range(scaled, lengths, "predict", "rescale the series")
        model = self.model_.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(lengths), batch_size):
                L = torch.from_numpy(lengths[i:i + batch_size])
                x = torch.from_numpy(scaled[i:i + batch_size, : int(L.max())].astype(np.float32))
                out.append(model(x, L)[0].double().numpy())
        return np.concatenate(out)


class RNNClassifier(_RNNEstimator, BaseClassifier):
    """A recurrent classifier of time series, trained by rnnlab (see the module's docstring).

    Parameters are hyper-parameters: ``config`` (None: the ``rnnlab init`` template; a TOML path;
    a :class:`rnnlab.Config`), then each keyword (None: the config's value) and ``params`` (key
    paths such as ``"model.weight_drop"``) over it; ``random_state`` seeds the run
    (``training.seed``); ``run_dir`` keeps the run; ``verbose`` prints its log.

    Fitted attributes: ``classes_``, ``n_classes_``, ``model_`` (the torch module),
    ``inputs_`` (the input scaling fitted on the training part), ``summary_`` (the run's summary).
    """

    _tags = {
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "X_inner_type": ["np-list", "numpy3D"],
        "algorithm_type": "deeplearning",
        "python_dependencies": "torch",
    }

    def _fit(self, X: np.ndarray | list[np.ndarray], y: np.ndarray) -> RNNClassifier:
        codes = np.array([self._class_dictionary[v] for v in y], dtype=np.int64)
        self._train(X, codes)
        return self

    def _predict_proba(self, X: np.ndarray | list[np.ndarray]) -> np.ndarray:
        logits = self._outputs(X)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def _predict(self, X: np.ndarray | list[np.ndarray]) -> np.ndarray:
        return self.classes_[np.argmax(self._outputs(X), axis=1)]

    @classmethod
    def _get_test_params(cls, parameter_set: str = "default") -> dict[str, Any] | list[dict[str, Any]]:
        """A tiny, quick model for aeon's estimator checks."""
        return {"hidden_size": 4, "steps": 4, "batch_size": 8, "params": FAST, "random_state": 0}


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
