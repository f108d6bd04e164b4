"""A per-step run's predictions step by step (the run report's predictions section of a run with
``[task] per_step = true``): which steps and which classes are wrong, and how a few series'
predicted values follow the actual ones over time.

:func:`step_predictions` computes what the pictures show from the run's checkpoint and data the
way :func:`rnnlab.plots.regression.regression_points` does (:func:`rnnlab.train.run_fit.run_model`
and the trainer's evaluation loop :func:`rnnlab.train.trainer.split_outputs` on the split the
run evaluated, :meth:`rnnlab.plots.evaluated.Evaluated.shown`), but keeps each series' steps in place instead of pooling the valid
steps: ``[N, T]`` arrays with a mask of the valid steps. Then

* :func:`plot_step_accuracy` (classification): the accuracy at each step position over the
  series valid there, above how many series are valid at each position;
* :func:`plot_confusion` (classification): the counts of (actual, predicted) classes over every
  valid step, each row coloured by its share of the actual class's steps;
* :func:`plot_step_series` (regression): a few series' predicted and actual values over time.

Example:
    >>> p = StepPredictions("test", "classification", np.array([[0, 1, -100], [1, 1, 0]]),
    ...                     np.array([[0, 0, 0], [1, 1, 1]]), np.array([[True, True, False], [True, True, True]]),
    ...                     ["a", "b"], True, 2)
    >>> acc, valid = p.accuracy_by_step()
    >>> acc.tolist(), valid.tolist()
    ([1.0, 0.5, 0.0], [2, 2, 1])
    >>> p.confusion().tolist()
    [[1, 1], [1, 2]]
    >>> [ax.get_ylabel() for ax in plot_step_accuracy(p).axes]
    ['accuracy', 'series valid']
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnlab.plots import style
from rnnlab.plots.confusion import MAX_CLASSES, plot_confusion_matrix, shown_classes
from rnnlab.rundir import RunDir

#: Series drawn over time, one panel each (the split's first ones).
MAX_SERIES = 3
ACTUAL_COLOR = "#222222"
PREDICTED_COLOR = style.SERIES_COLORS[0]
COUNT_COLOR = style.SERIES_COLORS[2]
#: The accuracy over every valid step: a pale band the per-step line is drawn over.
OVERALL_COLOR = "#b5b5b5"


@dataclass(frozen=True)
class StepPredictions:
    """A per-step run's predictions on one split, each series' steps in place."""

    split: str
    """``"test"``, ``"validation"`` or ``"training"``: the split the run evaluated
    (:meth:`rnnlab.plots.evaluated.Evaluated.shown`)."""
    kind: str
    """``"classification"`` or ``"regression"``."""
    actual: np.ndarray
    """Per step: class indices [N, T] (padding -100), or values in the data's units [N, T, K] (NaN)."""
    predicted: np.ndarray
    """The model's predictions, the same shape (the argmax class, or the values)."""
    valid: np.ndarray
    """[N, T] booleans: the steps with a target, the ones the run's figures score."""
    names: list[str]
    """The class names, or the K targets' names."""
    kept: bool
    """False when the run's mean guard chose the training mean over the model (regression)."""
    series: int
    """The number of series in the split."""
    why: str = ""
    """Why :attr:`split` is not the test split, a clause in brackets led by a space (``""``: it is)."""

    def accuracy_by_step(self) -> tuple[np.ndarray, np.ndarray]:
        """``(accuracy, valid)``: at each step position, the share of right predictions over the
        series valid there (NaN where none is), and how many are, [T] each."""
        valid = self.valid.sum(axis=0)
        hits = ((self.predicted == self.actual) & self.valid).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(valid > 0, hits / np.maximum(valid, 1), np.nan), valid

    def confusion(self) -> np.ndarray:
        """[C, C] counts over the valid steps: row the actual class, column the predicted one."""
        c = len(self.names)
        out = np.zeros((c, c), dtype=np.int64)
        np.add.at(out, (self.actual[self.valid], self.predicted[self.valid]), 1)
        return out


def step_predictions(run_dir: str | os.PathLike[str] | RunDir) -> StepPredictions:
    """What the pictures of this module draw for the per-step classification or regression run
    ``run_dir``, computed from its checkpoint and data (read again) on the split the run
    evaluated, as its figures of that split score them. A run of another task raises a
    :class:`rnnlab.errors.RunDirError`; one without a checkpoint, or whose data cannot be read,
    the one-line error of ``rnnlab predict``."""
    from rnnlab.errors import RunDirError
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.task import task_for
    from rnnlab.train.predict import decode, target_names
    from rnnlab.train.run_fit import guard_kept
    from rnnlab.train.trainer import load_run_config, split_outputs

    run = RunDir.existing(run_dir.path if isinstance(run_dir, RunDir) else run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if not task.per_step or task.stream or task.kind not in ("classification", "regression"):
        raise RunDirError(f"{run.path}: a {task.name} run has no per-step predictions of sequences to draw")
    ev = evaluated(run, config)
    config, data, model = ev.config, ev.data, ev.model
    shown = ev.shown()
    split = shown.split
    if not len(split):
        raise RunDirError(f"{run.path}: the run holds no series to show predictions on")
    n, length = len(split), split.X.shape[1]
    values = task.values
    k = int(np.asarray(split.y).shape[-1]) if values else 0
    actual = np.full((n, length, k), np.nan) if values else np.full((n, length), -100, dtype=np.int64)
    predicted = np.full_like(actual, np.nan) if values else np.full((n, length), -100, dtype=np.int64)
    valid = np.zeros((n, length), dtype=bool)
    row = 0
    for out, y in split_outputs(model, split):  # (each batch as long as its longest series)
        b, steps = out.shape[0], out.shape[1]
        y = y[:, :steps]
        ok = task.valid(y).cpu().numpy()
        valid[row:row + b, :steps] = ok
        if values:
            assert data.targets is not None  # (a regression run's targets are standardized)
            predicted[row:row + b, :steps] = decode(out.double().cpu().numpy(), [], data.targets)[0]
            actual[row:row + b, :steps] = decode(y.double().cpu().numpy(), [], data.targets)[0]
            predicted[row:row + b, :steps][~ok] = np.nan
        else:
            predicted[row:row + b, :steps] = np.where(ok, out.argmax(-1).cpu().numpy(), -100)
            actual[row:row + b, :steps] = y.cpu().numpy()
        row += b
    names = target_names(config, k) if values else [str(c) for c in data.classes]
    return StepPredictions(split=shown.name, kind=task.kind, actual=actual, predicted=predicted, valid=valid,
                           names=names, kept=guard_kept(run) if values else True, series=n, why=shown.why)


def plot_step_accuracy(points: StepPredictions, *, title: str | None = None,
                       path: str | os.PathLike[str] | None = None) -> Figure:
    """The accuracy at each step position (top; the wide pale band under it: the accuracy over
    every valid step, the run's figure) and how many series are valid at each position (bottom), of a
    per-step classification's :class:`StepPredictions`. Saves when ``path`` is given."""
    acc, count = points.accuracy_by_step()
    overall = float((points.predicted == points.actual)[points.valid].mean()) if points.valid.any() else np.nan
    fig, axes = style.new_figure(2, 1, panel_size=(8.0, 1.9), sharex=True, height_ratios=[2.0, 1.0])
    top, bottom = axes[0, 0], axes[1, 0]
    steps = np.arange(len(acc))
    if np.isfinite(overall):
        # (a wide pale band under the per-step line: where they meet, as at an accuracy of 1 throughout,
        # both still show, the band around the line)
        top.axhline(overall, color=OVERALL_COLOR, linewidth=5.0, alpha=0.6, zorder=1.5, solid_capstyle="butt")
    top.plot(steps, acc, color=PREDICTED_COLOR, linewidth=1.2, marker="o" if len(acc) <= 40 else None,
             markersize=3, zorder=2.5)
    top.set_ylim(-0.03, 1.03)
    top.set_ylabel("accuracy")
    bottom.fill_between(steps, count, step="mid", color=COUNT_COLOR, alpha=0.35, linewidth=0)
    bottom.step(steps, count, where="mid", color=COUNT_COLOR, linewidth=1.0)
    bottom.set_ylim(0, max(int(count.max()) if count.size else 1, 1) * 1.08)
    style.integer_ticks(bottom.yaxis)
    bottom.set_ylabel("series valid")
    bottom.set_xlabel("step position (0: each series' first step)")
    handles = [Line2D([], [], color=PREDICTED_COLOR, marker="o", markersize=3),
               Line2D([], [], color=OVERALL_COLOR, linewidth=5.0, alpha=0.6), Line2D([], [], color=COUNT_COLOR)]
    labels = [f"accuracy at the step, over the {points.split} series valid there",
              f"accuracy over every valid step ({style.fmt(overall)})", "series valid at the step"]
    style.figure_legend(fig, handles, labels)
    fig.suptitle(title or f"accuracy by step position, {points.split} split", fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def confusion_classes(points: StepPredictions) -> list[int]:
    """The classes the confusion matrix draws: all, or the :data:`MAX_CLASSES` most frequent
    actual classes over the valid steps (in class order; :func:`rnnlab.plots.confusion.shown_classes`)."""
    return shown_classes(points.confusion())


def plot_confusion(points: StepPredictions, *, title: str | None = None,
                   path: str | os.PathLike[str] | None = None) -> Figure:
    """The confusion matrix of a per-step classification's :class:`StepPredictions` over its
    valid steps (:func:`rnnlab.plots.confusion.plot_confusion_matrix`): row the actual class,
    column the predicted one, each cell's colour its share of the row (the actual class's steps),
    its text the count. Saves when ``path`` is given."""
    return plot_confusion_matrix(points.confusion(), points.names, split=points.split, items="steps",
                                 title=title or f"confusion matrix, valid steps of the {points.split} split (counts)",
                                 path=path)


def plot_step_series(points: StepPredictions, *, target: int = 0, title: str | None = None,
                     path: str | os.PathLike[str] | None = None) -> Figure:
    """A per-step regression's predicted and actual values over time (``target``, in the data's
    units) for the split's first :data:`MAX_SERIES` series with a valid step, one panel each.
    Saves when ``path`` is given."""
    chosen = [i for i in range(len(points.valid)) if points.valid[i].any()][:MAX_SERIES]
    fig, axes = style.new_figure(max(len(chosen), 1), 1, panel_size=(8.0, 1.9))
    for ax, i in zip(axes[:, 0], chosen):
        steps = np.nonzero(points.valid[i])[0]
        end = int(steps.max()) + 1
        t = np.arange(end)
        a = np.where(points.valid[i, :end], points.actual[i, :end, target], np.nan)
        p = np.where(points.valid[i, :end], points.predicted[i, :end, target], np.nan)
        ax.plot(t, a, color=ACTUAL_COLOR, linewidth=1.3)
        ax.plot(t, p, color=PREDICTED_COLOR, linewidth=1.3, linestyle="--")
        ax.set_ylabel(f"series {i}", fontsize=style.LABEL_SIZE)
    if not chosen:
        style.no_data(axes[0, 0], "no series with a valid step")
    axes[-1, 0].set_xlabel("step")
    handles = [Line2D([], [], color=ACTUAL_COLOR), Line2D([], [], color=PREDICTED_COLOR, linestyle="--")]
    style.figure_legend(fig, handles, ["actual", "predicted"])
    fig.suptitle(title or f"{points.names[target]} over time, {points.split} series (data units)",
                 fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


__all__ = ["MAX_CLASSES", "MAX_SERIES", "StepPredictions", "confusion_classes", "plot_confusion",
           "plot_step_accuracy", "plot_step_series", "step_predictions"]
