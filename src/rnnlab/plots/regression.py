"""A regression run's predictions against its targets, in the data's units (the run report's
"Predictions against the targets" section).

:func:`regression_points` computes what the picture shows from the run's checkpoint and data,
through the prediction functions of ``rnnlab predict``: :func:`rnnlab.train.run_fit.run_model`
(the run's data, scaled as the run scaled it, and the model it evaluated, with its mean guard's
choice), the trainer's evaluation loop :func:`rnnlab.train.trainer.split_outputs` on the split
the run evaluated (:func:`rnnlab.plots.evaluated.evaluated`: the test split of a run with test
figures, else its validation part, a fold run's fold, else the training split), the task's
pairing of outputs with targets (per step: every valid step) and
:func:`rnnlab.train.predict.decode` back to the data's units: the values the run's figures of
that split score. :func:`plot_predictions` draws, per target (the first
:data:`MAX_TARGETS`), predicted against actual with the line y = x and the training mean;
:meth:`RegressionPoints.errors` gives each target's RMSE, MAE and R² in its own units (the
run's headline figures pool the targets).

Example:
    >>> import tempfile, os
    >>> from rnnlab.config import parse_config
    >>> from rnnlab.train.trainer import train
    >>> d = tempfile.mkdtemp(); rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5, 1)); y = np.stack([X.sum(axis=(1, 2)) * 100, X[:, 0, 0]], axis=1)
    >>> np.savez(os.path.join(d, "r.npz"), X=X, y=y)
    >>> cfg = parse_config(f'[task]\\nkind = "regression"\\n[data]\\npath = "{d}/r.npz"\\n[model]\\nhidden_size = 4\\n'
    ...                    '[training]\\nepochs = 1\\n[tracking]\\nenabled = false')
    >>> points = regression_points(train(cfg, out=tempfile.mkdtemp(), progress=False, log=None).run_dir)
    >>> points.split, points.names, points.predicted.shape == points.actual.shape == (points.series, 2)
    ('validation', ['target0', 'target1'], True)
    >>> [ax.get_title() for ax in plot_predictions(points).axes]
    ['target0', 'target1']
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rnnlab.plots import style
from rnnlab.rundir import RunDir

#: Targets drawn, one panel each: a reader compares a few at a glance; the rest are named.
MAX_TARGETS = 4
#: Points drawn per panel: more hide each other and slow the picture; the errors use them all.
MAX_POINTS = 4000
POINT_COLOR = style.SERIES_COLORS[0]
IDENTITY_COLOR = "#222222"
MEAN_COLOR = style.SERIES_COLORS[3]
#: The model's own predictions where the mean guard set it aside: faint grey, not the run's.
OWN_COLOR = "#7a7a7a"


@dataclass(frozen=True)
class RegressionPoints:
    """What the predictions picture of a regression run draws, in the data's units."""

    split: str
    """``"test"``, ``"validation"`` or ``"training"``: the split the run evaluated
    (:meth:`rnnlab.plots.evaluated.Evaluated.shown`)."""
    names: list[str]
    """The K targets' names (:func:`rnnlab.train.predict.target_names`)."""
    actual: np.ndarray
    """The targets, [n, K]: one row per series (per step: per valid step of every series)."""
    predicted: np.ndarray
    """The model's predictions of :attr:`actual`, [n, K]."""
    train_mean: np.ndarray
    """Each target's mean over the training split, [K]: what a model of R² 0 predicts."""
    per_step: bool
    series: int
    """The number of series in the split."""
    kept: bool
    """False when the run's mean guard chose the training mean over the model: the predictions
    are then that mean, as the run's test figures and ``rnnlab predict`` are."""
    own: np.ndarray | None = None
    """The model's own predictions, [n, K], where the mean guard chose the training mean over it
    (``kept`` False): what it would have predicted, drawn faintly beside what the run predicts;
    None otherwise."""
    why: str = ""
    """Why :attr:`split` is not the test split, a clause in brackets led by a space (``""``: it is)."""

    @property
    def shown(self) -> np.ndarray:
        """The rows :func:`plot_predictions` draws: all of them, or a fixed random
        :data:`MAX_POINTS` of them (sorted), the same at every call."""
        n = len(self.actual)
        if n <= MAX_POINTS:
            return np.arange(n)
        return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))

    def errors(self) -> dict[str, np.ndarray]:
        """Each target's ``rmse``, ``mae`` (its units) and ``r2`` (against the training mean,
        as the run's R²), [K] each, over every row.

        >>> p = RegressionPoints("test", ["a"], np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]]),
        ...                      np.array([2.0]), False, 2, True)
        >>> {k: v.tolist() for k, v in p.errors().items()}
        {'rmse': [0.7071067811865476], 'mae': [0.5], 'r2': [0.5]}
        """
        err = self.predicted - self.actual
        spread = ((self.actual - self.train_mean) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(spread > 0, 1.0 - (err ** 2).sum(axis=0) / spread, np.nan)
        return {"rmse": np.sqrt((err ** 2).mean(axis=0)), "mae": np.abs(err).mean(axis=0), "r2": r2}


def regression_points(run_dir: str | os.PathLike[str] | RunDir) -> RegressionPoints:
    """What :func:`plot_predictions` draws for the regression run ``run_dir``, computed from its
    checkpoint and its data (``data.path`` or ``data.dataset``, read again): see the module's
    docstring. A run of another task, without a checkpoint, or whose data cannot be read raises
    the one-line error of ``rnnlab predict``; one without a series to show a
    :class:`rnnlab.errors.RunDirError`."""
    from rnnlab.errors import RunDirError
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.task import task_for
    from rnnlab.train.predict import decode, target_names
    from rnnlab.train.run_fit import evaluated_checkpoint, guard_kept, model_of
    from rnnlab.train.trainer import load_run_config, split_outputs

    run = RunDir.existing(run_dir.path if isinstance(run_dir, RunDir) else run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind != "regression":
        raise RunDirError(f"{run.path}: a {task.name} run has no predicted values to draw against its targets")
    ev = evaluated(run, config)
    config, data, model, fit = ev.config, ev.data, ev.model, ev.fit
    shown = ev.shown()
    split = shown.split
    if not len(split):
        raise RunDirError(f"{run.path}: the run holds no series to show predictions on")
    scale = data.targets
    assert scale is not None  # (a regression run's targets are standardized)
    outputs, targets = [], []
    for out, y in split_outputs(model, split):  # (what the run's figures score: per step, the valid steps)
        o, t = task.pairs(out, y)
        outputs.append(o.double().cpu().numpy())
        targets.append(t.double().cpu().numpy().reshape(o.shape))
    predicted, _ = decode(np.concatenate(outputs), [], scale)
    actual, _ = decode(np.concatenate(targets), [], scale)
    kept, own = guard_kept(run), None
    if not kept:  # (the guard's model predicts the mean: the checkpoint's own model, for what it would have said)
        unguarded = model_of(run, config, task, fit, evaluated_checkpoint(run, config)).eval()
        own = decode(np.concatenate([task.pairs(out, y)[0].double().cpu().numpy()
                                     for out, y in split_outputs(unguarded, split)]), [], scale)[0]
    return RegressionPoints(split=shown.name, names=target_names(config, predicted.shape[1]), actual=actual,
                            predicted=predicted, train_mean=np.asarray(scale.mean, dtype=np.float64),
                            per_step=task.per_step, series=len(split), kept=kept, own=own, why=shown.why)


def plot_predictions(points: RegressionPoints, *, title: str | None = None,
                     path: str | os.PathLike[str] | None = None) -> Figure:
    """One panel per target (the first :data:`MAX_TARGETS`) of ``points``
    (:func:`regression_points`): predicted against actual (:attr:`RegressionPoints.shown`), the
    line y = x where a perfect prediction lies and the training mean (what a model of R² 0
    predicts; drawn above the points and labelled), on the same range on both axes; where the
    mean guard chose the training mean, the model's own predictions (:attr:`RegressionPoints.own`)
    faintly beside it. Saves when ``path`` is given.

    >>> p = RegressionPoints("test", ["y"], np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]]),
    ...                      np.array([2.0]), False, 2, True)
    >>> fig = plot_predictions(p)
    >>> fig.axes[0].collections[0].get_offsets().tolist()   # (actual, predicted)
    [[1.0, 2.0], [3.0, 3.0]]
    """
    k = min(points.actual.shape[1], MAX_TARGETS)
    shown = points.shown
    fig, axes = style.new_figure(1, k, panel_size=(3.7, 3.5))
    unit = "step" if points.per_step else "series"
    for c, ax in enumerate(axes[0]):
        a, p, mean = points.actual[shown, c], points.predicted[shown, c], float(points.train_mean[c])
        own = points.own[shown, c] if points.own is not None else np.empty(0)
        values = np.concatenate([a, p, own, [mean]])
        values = values[np.isfinite(values)]
        lo, hi = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        pad = (hi - lo) * 0.04 or max(abs(hi), 1.0) * 0.04
        lims = (lo - pad, hi + pad)
        if own.size:  # (faint: not what the run predicts, but whether the guard set aside a model worth a look)
            ax.scatter(a, own, s=9 if len(a) < 500 else 4, alpha=0.3 if len(a) < 500 else 0.15, color=OWN_COLOR,
                       linewidths=0, zorder=2.5, rasterized=len(a) > 500)
        ax.scatter(a, p, s=9 if len(a) < 500 else 4, alpha=0.6 if len(a) < 500 else 0.35, color=POINT_COLOR,
                   linewidths=0, zorder=3, rasterized=len(a) > 500)
        ax.plot(lims, lims, color=IDENTITY_COLOR, linestyle="--", linewidth=1.0, zorder=2)
        # (above the points: under the mean guard every point lies on it and would hide it)
        ax.axhline(mean, color=MEAN_COLOR, linestyle=":", linewidth=1.6, zorder=4)
        ax.text(0.98, mean, "training mean", transform=ax.get_yaxis_transform(), ha="right",
                va="bottom" if mean < lims[0] + 0.85 * (lims[1] - lims[0]) else "top", fontsize=style.NOTE_SIZE,
                color=MEAN_COLOR, zorder=4)
        ax.set_xlim(lims)
        ax.set_ylim(lims)
        for axis in (ax.xaxis, ax.yaxis):  # (wide values such as -30000 side by side would run together)
            axis.set_major_locator(MaxNLocator(nbins=5))
        ax.set_title(points.names[c], fontsize=style.LABEL_SIZE)
        ax.set_xlabel("actual")
        if c == 0:
            ax.set_ylabel("predicted")
    handles = [Line2D([], [], color=POINT_COLOR, marker="o", linestyle="none", markersize=4),
               Line2D([], [], color=IDENTITY_COLOR, linestyle="--"), Line2D([], [], color=MEAN_COLOR, linestyle=":")]
    labels = [f"a {points.split} {unit}" + ("" if len(shown) == len(points.actual)
                                           else f" ({len(shown)} of {len(points.actual)} drawn)")
              + ("" if points.kept else ": what the run predicts, the training mean (its mean guard's choice)"),
              "y = x (a perfect prediction)", "the training mean (R² 0)"]
    if points.own is not None:
        handles.insert(1, Line2D([], [], color=OWN_COLOR, marker="o", linestyle="none", markersize=4, alpha=0.4))
        labels.insert(1, "the model's own prediction, set aside by the mean guard")
    style.figure_legend(fig, handles, labels)
    fig.suptitle(title or f"predicted against actual, {points.split} split (data units)", fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


__all__ = ["MAX_POINTS", "MAX_TARGETS", "RegressionPoints", "plot_predictions", "regression_points"]
