"""Which classes a classifier gets wrong: the confusion matrix of the split a run evaluated.

The run report draws it for a classification of sequences (under Final metrics, beside each
class's count, recall and precision) and for a per-step classification (over the valid steps,
:mod:`rnnlab.plots.per_step`); both through :func:`plot_confusion_matrix`, whose rows are the
actual classes and columns the predicted ones, each cell coloured by its share of the row (the
class's recall on the diagonal), so a rare class reads as clearly as a frequent one.

:func:`class_predictions` computes a sequence classifier's predictions from the run's checkpoint
and data on the split the run evaluated (:meth:`rnnlab.plots.evaluated.Evaluated.shown`: the test
split only if the run evaluated it), with the trainer's evaluation loop, as its figures score them.

Example:
    >>> p = ClassPredictions("test", np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), ["sitting", "cycling"])
    >>> p.confusion().tolist()
    [[2, 1], [0, 1]]
    >>> fig = plot_confusion_matrix(p.confusion(), p.names, split="test")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['sitting (3)', 'cycling (1)']
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from rnnlab.plots import style
from rnnlab.rundir import RunDir

#: Classes drawn in the confusion matrix, the most frequent actual classes first; the rest are named.
MAX_CLASSES = 20
#: Classes whose cells carry their count as text (more would not be legible).
ANNOTATED_CLASSES = 12
TEXT_COLOR = "#222222"


@dataclass(frozen=True)
class ClassPredictions:
    """A sequence classifier's predictions on one split: a class index per series."""

    split: str
    """``"test"``, ``"validation"`` or ``"training"``: the split the run evaluated."""
    actual: np.ndarray
    """[N] class indices."""
    predicted: np.ndarray
    """[N] the model's argmax class."""
    names: list[str]
    """The run's class names, by index."""
    why: str = ""
    """Why :attr:`split` is not the test split, a clause in brackets led by a space (``""``: it is)."""

    def confusion(self) -> np.ndarray:
        """[C, C] counts: row the actual class, column the predicted one."""
        c = len(self.names)
        out = np.zeros((c, c), dtype=np.int64)
        np.add.at(out, (self.actual, self.predicted), 1)
        return out


def class_predictions(run_dir: str | os.PathLike[str] | RunDir) -> ClassPredictions:
    """The predictions of the classification run ``run_dir`` (a class per sequence) on the split it
    evaluated, computed from its checkpoint and data (read again). A run of another task raises
    a :class:`rnnlab.errors.RunDirError`; one without a checkpoint, or whose data cannot be read,
    the one-line error of ``rnnlab predict``."""
    from rnnlab.errors import RunDirError
    from rnnlab.plots.evaluated import evaluated
    from rnnlab.task import task_for
    from rnnlab.train.trainer import load_run_config, split_outputs

    run = RunDir.existing(run_dir.path if isinstance(run_dir, RunDir) else run_dir)
    config = load_run_config(run.path)
    task = task_for(config)
    if task.kind != "classification" or task.per_step:
        raise RunDirError(f"{run.path}: a {task.name} run has no class per sequence to draw")
    ev = evaluated(run, config)
    shown = ev.shown()
    if not len(shown.split):
        raise RunDirError(f"{run.path}: the run holds no series to show predictions on")
    pairs = [(out.argmax(-1).cpu().numpy(), y.cpu().numpy()) for out, y in split_outputs(ev.model, shown.split)]
    predicted = np.concatenate([p for p, _ in pairs]).astype(np.int64)
    actual = np.concatenate([a for _, a in pairs]).astype(np.int64)
    width = max(len(ev.data.classes), int(actual.max()) + 1, int(predicted.max()) + 1)
    names = [str(ev.data.classes[i]) if i < len(ev.data.classes) else str(i) for i in range(width)]
    return ClassPredictions(shown.name, actual, predicted, names, shown.why)


def shown_classes(confusion: np.ndarray) -> list[int]:
    """The classes :func:`plot_confusion_matrix` draws: all, or the :data:`MAX_CLASSES` most
    frequent actual classes (in class order).

    >>> shown_classes(np.eye(3, dtype=int))
    [0, 1, 2]
    """
    c = len(confusion)
    if c <= MAX_CLASSES:
        return list(range(c))
    frequency = np.asarray(confusion).sum(axis=1)
    return sorted(np.argsort(-frequency, kind="stable")[:MAX_CLASSES].tolist())


def plot_confusion_matrix(confusion: np.ndarray, names: list[str], *, split: str, items: str = "series",
                          title: str | None = None, path: str | os.PathLike[str] | None = None) -> Figure:
    """The confusion matrix ``confusion`` [C, C] of the classes ``names`` on ``split`` (its
    :func:`shown_classes`): row the actual class (labelled with its count of ``items``), column the
    predicted one, each cell's colour its share of the row, its text the count. Saves when ``path``
    is given."""
    shown = shown_classes(confusion)
    counts = np.asarray(confusion)[np.ix_(shown, shown)]
    rows = np.asarray(confusion).sum(axis=1)[shown][:, None]
    share = np.where(rows > 0, counts / np.maximum(rows, 1), 0.0)
    side = min(max(3.2, 0.42 * len(shown) + 1.6), 9.0)
    labels = [f"{names[i]} ({int(n)})" for i, n in zip(shown, rows[:, 0], strict=True)]
    # (wider by the row labels the layout takes out of the panel, so that the cells stay near square)
    # (as drawn: a name's characters no font has are written longer, as code points)
    fig, axes = style.new_figure(1, 1, panel_size=(side + 0.065 * max(len(style.drawable(t)) for t in labels), side))
    ax = axes[0, 0]
    # ("auto": the layout sizes the panel; square cells would shrink it under its laid-out labels)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    columns = [names[i] for i in shown]
    wide = max(map(len, columns)) > 3
    ax.set_xticks(range(len(shown)), columns, rotation=45 if wide else 0, ha="right" if wide else "center",
                  rotation_mode="anchor")
    # (each row's count beside its name: a rare class's share of 1 may be one series)
    ax.set_yticks(range(len(shown)), labels)
    ax.grid(False)
    if len(shown) <= ANNOTATED_CLASSES:
        for i in range(len(shown)):
            for j in range(len(shown)):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=style.NOTE_SIZE,
                        color="white" if share[i, j] > 0.6 else TEXT_COLOR)
    ax.set_xlabel("predicted class")
    ax.set_ylabel(f"actual class ({items})")
    style.colorbar(fig, image, f"share of the actual class's {items}")
    fig.suptitle(title or f"confusion matrix, {items} of the {split} split (counts)", fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


__all__ = ["MAX_CLASSES", "ClassPredictions", "class_predictions", "plot_confusion_matrix", "shown_classes"]
