"""Metric curves of one run from ``RUN_DIR/metrics.jsonl``: loss, accuracy (or a regression's
RMSE and R²), learning rate, gradient norm, against the epoch.

Panels appear for what was recorded: loss (``train_loss``, ``val_loss``, ``test_loss``),
accuracy (``*_acc``) or RMSE and R² (``*_rmse``, ``*_r2``), learning rate (log axis) and
gradient norm (``grad_norm``, log axis): a regression run has no accuracy panel.

Example:
    >>> recs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "lr": 0.01}
    ...         for e in range(1, 4)]
    >>> fig = plot_metrics(recs)
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'learning rate']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnlab.plots import style
from rnnlab.rundir import RunDir

Records = Sequence[dict[str, Any]]

#: Panels of :func:`plot_metrics`: title, metric keys, log y axis.
PANELS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("loss", ("train_loss", "val_loss", "test_loss"), False),
    ("accuracy", ("train_acc", "val_acc", "test_acc"), False),
    ("RMSE (data units)", ("train_rmse", "val_rmse", "test_rmse"), False),
    ("R² (against the training mean)", ("train_r2", "val_r2", "test_r2"), False),
    ("learning rate", ("lr",), True),
    ("gradient norm", ("grad_norm", "grad_norm_max"), True),
)
#: Line style per split, the same in every figure.
SPLIT_STYLE = {"train": "-", "val": "--", "test": ":"}


def load_metrics(source: Records | str | os.PathLike[str] | RunDir) -> list[dict[str, Any]]:
    """The per-epoch records of a run directory (``metrics.jsonl``), or the records given."""
    if isinstance(source, (str, os.PathLike, RunDir)):
        rd = source if isinstance(source, RunDir) else RunDir(source)
        return rd.read_metrics()
    if isinstance(source, Sequence) and all(isinstance(r, dict) for r in source):
        return list(source)
    raise TypeError(
        f"source: expected a run directory or a list of metric records, got {type(source).__name__}"
    )


def run_name(run_dir: str | os.PathLike[str] | RunDir) -> str:
    """A run's display name: its directory's name."""
    p = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    return p.resolve().name


def series(records: Records, key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays of one metric over the records that have it (numbers only)."""
    xs, ys = [], []
    for i, r in enumerate(records):
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            xv = r.get(x, i)
            xs.append(float(xv) if isinstance(xv, (int, float)) else float(i))
            ys.append(float(v))
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def draw_series(
    ax: Axes, xs: np.ndarray, ys: np.ndarray, *, label: str, color: str, linestyle: str = "-",
    log: bool = False,
) -> str | None:
    """Plot one curve, leaving gaps at non-finite (or, on a log axis, non-positive) values.

    Returns a short note on what was left out, or None.
    """
    ok = np.isfinite(ys) & ((ys > 0) if log else True)
    ax.plot(xs, np.where(ok, ys, np.nan), label=label, color=color, linestyle=linestyle,
            linewidth=1.5, marker="o" if len(xs) < 30 else None, markersize=3)
    n_bad = int((~ok).sum())
    if not n_bad:
        return None
    bad = style.nonfinite_note(ys) or f"{n_bad} non-positive not shown"
    return f"{label}: {bad}"


def plot_metrics(
    source: Records | str | os.PathLike[str] | RunDir,
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Loss / accuracy (or RMSE and R²) / learning-rate / gradient-norm curves of one run against the epoch.

    ``source`` is a run directory or its list of per-epoch records. Only panels with data are
    drawn; with no records at all, a single panel says so. Saves when ``path`` is given.
    """
    records = load_metrics(source)
    name = run_name(source) if isinstance(source, (str, os.PathLike, RunDir)) else None
    present = [(t, [k for k in keys if series(records, k)[0].size], log)
               for t, keys, log in PANELS]
    present = [(t, keys, log) for t, keys, log in present if keys]
    head = title or ("metrics" + (f" of {name}" if name else ""))
    if not present:
        return style.empty_figure("no metrics recorded", head, path)
    ncols = 2 if len(present) > 2 else len(present)
    # Every panel is against the epoch: one x axis, labelled under each column.
    fig, axes = style.new_figure(-(-len(present) // ncols), ncols, panel_size=(4.4, 2.7), sharex=True)
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    for ax, (panel, keys, log) in zip(axes.flat, present, strict=False):
        ax.set_title(panel, fontsize=style.LABEL_SIZE)
        if log:
            ax.set_yscale("log")
            ax.tick_params(which="both", labelsize=style.TICK_SIZE)
        notes = []
        for j, key in enumerate(keys):
            split = key.split("_")[0]
            xs, ys = series(records, key)
            note = draw_series(ax, xs, ys, label=key, color=style.series_color(j),
                               linestyle=SPLIT_STYLE.get(split, "-"), log=log)
            if note:
                notes.append(note)
            finite = ys[np.isfinite(ys)]
            if finite.size > 1 and finite.min() == finite.max() and not log:
                notes.append(f"{key} constant = {style.fmt(float(finite[0]))}")
        if notes:
            style.note(ax, "\n".join(notes), warn=True, loc="lower left")
        ax.set_xlabel("epoch")
        style.integer_ticks(ax.xaxis)
        ax.legend(fontsize=style.NOTE_SIZE, loc="best")
    style.share_x_labels(axes)
    fig.suptitle(head, fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig
