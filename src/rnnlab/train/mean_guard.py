"""Regression per sequence: predict the training mean unless the validation part shows the
model beats it (``[task] mean_guard``, on in the ``rnnlab init --task regression`` template).

On a few dozen noisy series the validation curve early stopping reads is mostly noise, and the
epoch it keeps can be one that fits the training series by heart and does worse on new series
than the constant prediction of the training mean (docs/tasks.md, "The regression template: the
mean guard", has the figures).
After training (the best epoch's weights restored), the guard compares, on the validation
rows, the squared error of the model with that of the training mean (0 in the standardized
units the model predicts), row by row: the model is kept when its mean improvement is more than
:data:`MARGIN` standard errors of the paired differences above zero; otherwise the run predicts
the training mean (the head's last layer set to zero) and says so, in its lines and in
``summary.json``'s ``mean_guard``. Decided on the validation part only; the test split is
evaluated afterwards, once, as always.

With K > 1 targets the same test is made target by target (:class:`TargetVerdict`) and decides
target by target: each target that beats its training mean by the margin is predicted by the model,
each that does not by its training mean (its output of the head's last layer set to zero,
:func:`predict_the_mean`), so a target with no signal neither keeps the model's guesses nor costs
the others their model. ``kept`` says whether the model predicts at least one target, ``at_mean``
which targets the run predicts by their training mean, and the line and ``mean_guard.by_target``
each target's ``z``. (The test over the summed squared errors is still recorded, ``z`` and both
squared errors, which the fit findings read; summaries of runs from before this rule, without
``at_mean``, were decided on it, for all targets together.)

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    >>> judge(y * 0.9, y).kept, judge(-y, y).kept, judge(y[:1] * 0.9, y[:1]).kept
    (True, False, False)
    >>> print(judge(-y, y).line())
    mean guard: on the 4 validation series the model's squared error (10 standardized) is not below the training mean's (2.5) by 1.645 standard errors of the difference (z = -2.9): the run predicts the training mean (task.mean_guard)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: How many standard errors of the paired per-series difference the model's improvement over the
#: training mean must exceed on the validation rows: a one-sided test at the 5 % level. On folds of
#: Covid3Month's and CardanoSentiment's training splits (never their test splits; docs/tasks.md)
#: four of the five models with z between 1 and 1.5 did worse than the mean on the series they had
#: not seen: the epoch chosen on the same rows makes z optimistic.
MARGIN = 1.645


@dataclass(frozen=True)
class TargetVerdict:
    """The guard's test on one target of several: its squared errors (standardized), its ``z``,
    and whether the model beats its training mean by more than the margin."""

    name: str
    model_mse: float
    mean_mse: float
    z: float
    beats_mean: bool
    model_mae: float | None = None
    """The model's mean absolute error on the validation rows, in the target's units (None: a
    summary from before it was recorded)."""
    mean_mae: float | None = None
    """The training mean's, in the target's units: with :attr:`model_mae`, what gives the
    ``val_mae`` of a run that predicts some targets by their mean (:func:`guarded_figures`)."""

    @property
    def r2(self) -> float:
        """The target's validation R² against its training mean (0 with no spread to explain)."""
        return 1.0 - self.model_mse / self.mean_mse if self.mean_mse > 0 else 0.0


@dataclass(frozen=True)
class MeanGuard:
    """What the guard measured on the validation rows (squared errors in the standardized units
    the model predicts, summed over the K targets of a row) and what it decided."""

    kept: bool
    """True: the model predicts (of K > 1 targets, at least one: :attr:`at_mean` names the others);
    False: the run predicts the training mean (every target's)."""
    model_mse: float
    mean_mse: float
    z: float
    """The mean improvement of the model over the training mean, in standard errors."""
    n_val: int
    margin: float = MARGIN
    baseline: str = "the training mean"
    """What the run predicts when the model is not kept: the training mean, or for a forecaster
    the reference forecast its outputs are corrections to (``[task] relative_to``)."""
    rows: str = "series"
    """What a validation row is: a series, or a forecaster's origin (a step of the validation block)."""
    by_target: tuple[TargetVerdict, ...] = ()
    """K > 1 targets: the same test on each (:class:`TargetVerdict`); empty for one target. Read
    back from :meth:`to_dict`'s ``{name: {...}}`` too (``MeanGuard(**summary["mean_guard"])``)."""
    at_mean: tuple[str, ...] | None = None
    """K > 1 targets decided one by one: those the run predicts by their training mean, in the
    targets' order (all of them when ``kept`` is False; empty when the model predicts every one).
    None where one decision covers every output: one target, a forecaster, or a summary of a run
    from before the guard decided target by target (its ``kept`` said it for all)."""
    mean_mae: float | None = None
    """The training mean's mean absolute error on the validation rows, in the data's units (over
    every value of the K targets, as ``val_mae`` pools them): the ``val_mae`` of a run that predicts
    the mean, which its squared errors cannot give. None for a forecaster (its reference forecast's
    figures are its ``baselines``) and in a summary from before it was recorded."""

    def __post_init__(self) -> None:
        if isinstance(self.by_target, dict):  # (as summary.json holds it; without the MAE before it was recorded)
            verdicts = tuple(TargetVerdict(name, float(t["model_mse"]), float(t["mean_mse"]), float(t["z"]),
                                           bool(t["beats_mean"]), _float_or_none(t.get("model_mae")),
                                           _float_or_none(t.get("mean_mae")))
                             for name, t in self.by_target.items())
            object.__setattr__(self, "by_target", verdicts)
        if self.at_mean is not None:  # (summary.json's list)
            object.__setattr__(self, "at_mean", tuple(self.at_mean))

    @property
    def mean_targets(self) -> list[int] | None:
        """Which of the head's outputs the run sets to their training mean (the ``targets`` of
        :func:`predict_the_mean`): None for all of them (the model not kept), else the indices of
        :attr:`at_mean` among the targets (empty: none).

        >>> g = MeanGuard(True, 0.1, 1.0, 5.0, 40, by_target=(TargetVerdict("conc", 0.01, 1.0, 9.5, True),
        ...               TargetVerdict("count", 0.2, 0.1, -0.4, False)), at_mean=("count",))
        >>> g.mean_targets, MeanGuard(False, 1.0, 1.0, 0.0, 40).mean_targets
        ([1], None)
        """
        if not self.kept:
            return None
        named = set(self.at_mean or ())
        return [i for i, t in enumerate(self.by_target) if t.name in named]

    def line(self) -> str:
        """The sentence the run prints.

        >>> print(MeanGuard(True, 0.5, 1.0, 3.2, 28).line())
        mean guard: on the 28 validation series the model's squared error (0.5 standardized) is below the training mean's (1) by more than 1.645 standard errors of the difference (z = 3.2): the run keeps the model

        K > 1 targets decided one by one:

        >>> g = MeanGuard(True, 0.1, 1.0, 5.0, 40, by_target=(TargetVerdict("conc", 0.01, 1.0, 9.5, True),
        ...               TargetVerdict("count", 0.2, 0.1, -0.4, False)), at_mean=("count",))
        >>> print(g.line())
        mean guard: on the 40 validation series, target by target, the model's squared error against the training mean's; by target: conc z = 9.5, count z = -0.4; count does not beat its training mean by 1.645 standard errors of the difference: the run predicts count's training mean, the model conc (task.mean_guard)
        """
        if self.at_mean is not None:
            return self._line_by_target(self.at_mean)
        head = (f"mean guard: on the {self.n_val} validation {self.rows} the model's squared error "
                f"({self.model_mse:.3g} standardized)")
        if self.kept:
            line = (f"{head} is below {self.baseline}'s ({self.mean_mse:.3g}) by more than {self.margin:g} standard "
                    f"errors of the difference (z = {self.z:.2g}): the run keeps the model")
        else:
            line = (f"{head} is not below {self.baseline}'s ({self.mean_mse:.3g}) by {self.margin:g} standard "
                    f"errors of the difference (z = {self.z:.2g}): the run predicts {self.baseline} (task.mean_guard)")
        return line + self.targets_said()

    def _line_by_target(self, at_mean: tuple[str, ...]) -> str:
        """:meth:`line` where each of K > 1 targets was decided by its own test."""
        said = (f"mean guard: on the {self.n_val} validation {self.rows}, target by target, the model's squared "
                f"error against {self.baseline}'s; by target: "
                + ", ".join(f"{t.name} z = {t.z:.2g}" for t in self.by_target))
        bar = f"{self.margin:g} standard errors of the difference"
        if not at_mean:
            return f"{said}; each beats its training mean by more than {bar}: the run keeps the model"
        if not self.kept:
            return f"{said}; none beats its training mean by {bar}: the run predicts {self.baseline} (task.mean_guard)"
        one = len(at_mean) == 1
        modelled = [t.name for t in self.by_target if t.name not in at_mean]
        return (f"{said}; {', '.join(at_mean)} {'does' if one else 'do'} not beat {'its' if one else 'their'} "
                f"training mean by {bar}: the run predicts {', '.join(at_mean)}'{'s' if one else ''} training "
                f"mean{'' if one else 's'}, the model {', '.join(modelled)} (task.mean_guard)")

    @property
    def failing(self) -> list[str]:
        """The targets (of several) whose model does not beat their training mean by the margin."""
        return [t.name for t in self.by_target if not t.beats_mean]

    def targets_said(self) -> str:
        """The part of :meth:`line` on each of K > 1 targets ("" for one) where the guard decided
        for all targets together (a summary from before it decided target by target).

        >>> g = MeanGuard(True, 0.05, 0.7, 9.0, 40, by_target=(TargetVerdict("conc", 0.01, 1.0, 9.5, True),
        ...               TargetVerdict("count", 0.2, 0.1, -0.4, False)))
        >>> print(g.targets_said())
        ; by target: conc z = 9.5, count z = -0.4; count does not beat its training mean by 1.645 standard errors, yet the model predicts it too (the guard keeps or replaces the model for all targets together)
        """
        if not self.by_target:
            return ""
        said = "; by target: " + ", ".join(f"{t.name} z = {t.z:.2g}" for t in self.by_target)
        failing = self.failing
        if not failing or not self.kept:
            return said
        one = len(failing) == 1
        return (f"{said}; {', '.join(failing)} {'does' if one else 'do'} not beat {'its' if one else 'their'} "
                f"training mean by {self.margin:g} standard errors, yet the model predicts {'it' if one else 'them'} "
                "too (the guard keeps or replaces the model for all targets together)")

    def to_dict(self) -> dict[str, Any]:
        """What ``summary.json`` holds under ``mean_guard`` (``by_target``: each of K > 1 targets'
        test and validation R², and absolute errors where recorded, by name, and ``at_mean``: the
        names of those the run predicts by their training mean; both absent for one target;
        ``mean_mae`` absent where not recorded)."""
        out = asdict(self)
        del out["by_target"], out["at_mean"]
        if self.mean_mae is None:  # (a forecaster's: its baselines hold its reference forecast's MAE)
            del out["mean_mae"]
        if self.by_target:
            out["by_target"] = {t.name: {"z": t.z, "beats_mean": t.beats_mean, "model_mse": t.model_mse,
                                         "mean_mse": t.mean_mse, "r2": t.r2,
                                         **({"model_mae": t.model_mae, "mean_mae": t.mean_mae}
                                            if t.mean_mae is not None else {})} for t in self.by_target}
        if self.at_mean is not None:
            out["at_mean"] = list(self.at_mean)
        return out


def judge(outputs: np.ndarray, y: np.ndarray, margin: float = MARGIN, baseline: str = "the training mean",
          rows: str = "series", names: list[str] | None = None, std: np.ndarray | None = None) -> MeanGuard:
    """The guard's decision from the model's validation ``outputs`` and targets ``y`` (both
    [N, K], standardized on the training part, so the training mean is 0; a forecaster's targets
    are corrections to its reference forecast, so there 0 is that forecast, named ``baseline``);
    a regression's K > 1 targets are tested and decided one by one, by ``names`` (None:
    ``target0``, ...): ``kept`` where at least one beats its training mean, ``at_mean`` the others.
    ``std``: each target's training standard deviation in the data's units ([K]), which puts the
    absolute errors in them (``mean_mae``, and each target's in ``by_target``); None records none.

    >>> y = np.array([[1.0, 0.5], [-1.0, -0.5], [2.0, 0.1], [-2.0, -0.1]])
    >>> g = judge(y * [0.9, -1.0], y, names=["conc", "count"], std=np.array([2.0, 10.0]))
    >>> g.kept, g.at_mean, MeanGuard(**g.to_dict()) == g
    (True, ('count',), True)
    >>> g.mean_mae, [(round(t.model_mae, 4), t.mean_mae) for t in g.by_target]  # (|error| x std, averaged)
    (3.0, [(0.3, 3.0), (6.0, 3.0)])
    """
    out = np.asarray(outputs, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    z, model_sq, mean_sq = _z((out - y) ** 2, y ** 2)
    k = y.shape[1]
    # (the training mean is 0 in standardized units: its error is the target; times the spread, in the data's units)
    units = None if std is None else np.broadcast_to(np.asarray(std, dtype=np.float64).reshape(-1), (k,))
    model_ae = None if units is None else np.abs(out - y) * units
    mean_ae = None if units is None else np.abs(y) * units
    by_target: tuple[TargetVerdict, ...] = ()
    if k > 1 and rows == "series":  # (a forecaster's outputs are its channels' steps ahead, not targets)
        from rnnlab.task import REGRESSION

        named = names if names is not None and len(names) == k else REGRESSION.target_names(k)
        tests = [_z((out[:, [i]] - y[:, [i]]) ** 2, y[:, [i]] ** 2) for i in range(k)]
        by_target = tuple(TargetVerdict(name, float(m.mean()), float(b.mean()), t, bool(t > margin),
                                        None if model_ae is None else float(model_ae[:, i].mean()),
                                        None if mean_ae is None else float(mean_ae[:, i].mean()))
                          for i, (name, (t, m, b)) in enumerate(zip(named, tests, strict=True)))
    kept, at_mean = bool(z > margin), None
    if by_target:
        at_mean = tuple(t.name for t in by_target if not t.beats_mean)
        kept = len(at_mean) < k
    return MeanGuard(kept, float(model_sq.mean() / k), float(mean_sq.mean() / k), z, len(y), margin,
                     baseline, rows, by_target, at_mean, None if mean_ae is None else float(mean_ae.mean()))


def _z(model_sq: np.ndarray, mean_sq: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The model's mean gain over the training mean in standard errors of the paired differences,
    from each row's squared errors (summed over the targets given), and those sums."""
    model_sq, mean_sq = model_sq.sum(axis=1), mean_sq.sum(axis=1)
    gain = mean_sq - model_sq
    spread = float(gain.std(ddof=1)) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
    # (no spread: one validation series, or every difference alike; nothing measures the noise, so
    # nothing shows the model better: z = 0 keeps the mean)
    return (float(gain.mean()) / spread if spread > 0 else 0.0), model_sq, mean_sq


def predicted_instead(block: Any) -> str | None:
    """What a run predicts where its own mean guard set its whole model aside (``block``:
    summary.json's ``mean_guard``): ``"the training mean"``, a forecaster's reference forecast;
    None where it kept its model (for some target at least), had no guard, or carried the fold
    runs' decision (a final run: no validation part of its own). Runs that all predict one such
    baseline score it, whatever their settings: a tie of them compares nothing
    (:func:`rnnlab.recipe.decide.all_at_mean`).

    >>> predicted_instead({"kept": False, "z": -0.9}), predicted_instead({"kept": True}), predicted_instead(None)
    ('the training mean', None, None)
    """
    if not isinstance(block, dict) or block.get("kept") is not False or "carried" in block:
        return None
    return str(block.get("baseline") or "the training mean")


def guarded_figures(summary: Mapping[str, Any]) -> dict[str, float] | None:
    """The validation figures of what a finished run predicts, where its mean guard set some or all
    of its outputs to the training mean (a forecaster's: to its reference forecast), read from its
    ``summary.json`` (``summary``) as ``{"val_rmse": ..., ...}``: those its records give, which are
    every one, but a regression's ``val_mae`` in a summary from before the mean's absolute errors
    were recorded. None where the model predicts every output (the guard kept it), there is no
    guard, or the decision was carried from fold runs (a final run: no validation part).

    From what the run recorded: the guard's squared errors on the validation rows, standardized
    (of each of K > 1 targets: ``by_target``), give ``val_loss`` and ``val_r2`` (a target at its
    training mean scores R² 0); ``val_rmse`` puts them in the data's units by each target's training
    standard deviation (``scale_by_channel``; of one target, from ``train_eval``'s RMSE over its
    loss); ``val_mae`` is the guard's ``mean_mae`` (of K > 1 targets, each target's mean's or
    model's absolute error, averaged); a forecaster's are its reference forecast's
    (``baselines.val``). Of a run that predicts the mean they depend on the data and the fold alone:
    runs that all predict it tie exactly.

    >>> block = {"kept": False, "model_mse": 0.8, "mean_mse": 0.7, "z": -0.9, "n_val": 40, "mean_mae": 0.3}
    >>> g = guarded_figures({"mean_guard": block, "train_eval": {"loss": 1.0, "rmse": 0.5}})
    >>> {k: round(v, 4) for k, v in g.items()}
    {'val_loss': 0.7, 'val_r2': 0.0, 'val_mae': 0.3, 'val_rmse': 0.4183}
    >>> guarded_figures({"mean_guard": {**block, "kept": True, "z": 2.0}}) is None
    True
    """
    block = summary.get("mean_guard")
    if not isinstance(block, dict) or "carried" in block:
        return None
    guard = MeanGuard(**block)
    if guard.kept and not guard.at_mean:
        return None
    if guard.rows != "series":  # a forecaster's: its reference forecast, scored on the same steps
        reference = ((summary.get("baselines") or {}).get("val") or {}).get(summary.get("reference"))
        return {f"val_{k}": float(v) for k, v in reference.items()} if isinstance(reference, dict) else {}
    if guard.by_target:
        at = {t.name for t in guard.by_target} if not guard.kept else set(guard.at_mean or ())
        mse = [t.mean_mse if t.name in at else t.model_mse for t in guard.by_target]
        figures = {"val_loss": float(np.mean(mse)),
                   "val_r2": float(np.mean([0.0 if t.name in at else t.r2 for t in guard.by_target]))}
        mae = [t.mean_mae if t.name in at else t.model_mae for t in guard.by_target]
        if all(m is not None for m in mae):  # (val_mae averages every value of the K targets: each target's alike)
            figures["val_mae"] = float(np.mean(mae))
        std = (summary.get("scale_by_channel") or {}).get("std") or {}
        if all(_positive(std.get(t.name)) for t in guard.by_target):
            figures["val_rmse"] = math.sqrt(float(np.mean([std[t.name] ** 2 * m
                                                           for t, m in zip(guard.by_target, mse, strict=True)])))
        return figures
    figures = {"val_loss": guard.mean_mse, "val_r2": 0.0}
    if guard.mean_mae is not None:
        figures["val_mae"] = guard.mean_mae
    train = summary.get("train_eval") or {}
    if "scale_by_channel" not in summary and _positive(train.get("loss")) and _positive(train.get("rmse")):
        # One target: its training standard deviation is train_eval's RMSE over the root of its
        # standardized loss (the mean's own there: equal in every run of the fold)
        figures["val_rmse"] = float(train["rmse"]) * math.sqrt(guard.mean_mse / float(train["loss"]))
    return figures


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def scored_record(record: Mapping[str, Any], summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """``record`` (the epoch record of the model a finished run kept, ``metrics.jsonl``'s) with its
    validation figures those of what the run predicts (:func:`guarded_figures`, from its
    ``summary``): where its mean guard chose the training mean, that prediction's, and None for a
    figure the records do not give; unchanged where the model predicts, or no summary is given.
    What ``rnnlab search`` and ``rnnlab recipe`` score a fold run by, and ``rnnlab compare``'s
    ``val_<metric>@kept``.

    >>> record = {"epoch": 4, "val_loss": 0.8, "val_rmse": 0.45, "val_mae": 0.3, "val_r2": -0.14}
    >>> summary = {"mean_guard": {"kept": False, "model_mse": 0.8, "mean_mse": 0.7, "z": -0.9, "n_val": 40},
    ...            "train_eval": {"loss": 1.0, "rmse": 0.5}}
    >>> scored = scored_record(record, summary)  # (a summary from before the mean's val_mae was recorded)
    >>> scored["epoch"], scored["val_loss"], scored["val_r2"], scored["val_mae"]
    (4, 0.7, 0.0, None)
    >>> scored_record(record, {}) == record
    True
    """
    figures = guarded_figures(summary) if summary else None
    if figures is None:
        return dict(record)
    return {k: figures.get(k) if k.startswith("val_") else v for k, v in record.items()}


def predict_the_mean(model: Any, targets: list[int] | None = None) -> None:
    """Make ``model`` (a :class:`rnnlab.train.model.SequenceClassifier` of standardized values,
    or an ensemble of them) predict the training mean of its ``targets`` (indices of its outputs,
    in the targets' order; None: all of them): those outputs of its head's last layer (each
    member's) are zero whatever its input; the others are left as they were.

    >>> import torch
    >>> head = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> with torch.no_grad():
    ...     _ = head[0].weight.fill_(1.0), head[0].bias.fill_(0.5)
    >>> m = torch.nn.Module(); m.head = head
    >>> predict_the_mean(m, [1]); head(torch.ones(1, 3)).tolist()
    [[3.5, 0.0]]
    >>> predict_the_mean(m); head(torch.ones(1, 3)).tolist()
    [[0.0, 0.0]]
    """
    import torch

    from rnnlab.train.model import members_of

    rows = slice(None) if targets is None else list(targets)
    for member in members_of(model):  # an ensemble's mean of zeros is zero
        last = member.head[-1]
        with torch.no_grad():  # (a sequence regression's last layer outputs the K targets in order)
            last.weight[rows] = 0.0
            if last.bias is not None:
                last.bias[rows] = 0.0
