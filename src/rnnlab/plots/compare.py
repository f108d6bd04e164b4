"""Several runs on shared axes: metric curves and weight-norm curves, one colour per run.

The typical use is a sweep of one setting, e.g. weight decay 2e-3 vs 2e-4 vs none: pass
``{"decay 2e-3": dir_a, "decay 2e-4": dir_b, "none": dir_c}`` (or a list of run directories,
named after their directory). One legend below the panels lists the runs by those names, once.

Example:
    >>> a = [{"epoch": e, "val_loss": 1 / e} for e in (1, 2, 3)]
    >>> b = [{"epoch": e, "val_loss": 2 / e} for e in (1, 2, 3)]
    >>> fig = plot_compare_metrics({"decay 2e-3": a, "none": b}, metrics=["val_loss"])
    >>> [t.get_text() for t in fig.legends[0].get_texts()], fig.axes[0].get_title()
    (['decay 2e-3', 'none'], 'val loss')
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnlab.plots import style
from rnnlab.plots.metrics import PANELS, draw_series, load_metrics, run_name, series
from rnnlab.plots.norms import NON_PARAMETERS, Tracked, load_tracked
from rnnlab.rundir import RunDir

Runs = Mapping[str, Any] | Sequence[str | os.PathLike[str] | RunDir]


def _named(runs: Runs) -> dict[str, Any]:
    if isinstance(runs, Mapping):
        named = {str(k): v for k, v in runs.items()}
    elif isinstance(runs, Sequence) and not isinstance(runs, (str, bytes)):
        named = {}
        for r in runs:
            if not isinstance(r, (str, os.PathLike, RunDir)):
                raise TypeError(
                    f"runs: a list must hold run directories, got {type(r).__name__}; pass a "
                    "{name: records} mapping for records"
                )
            name = run_name(r)
            if name in named:
                raise ValueError(f"runs: two runs are named {name!r}; pass a {{name: run_dir}} mapping")
            named[name] = r
    else:
        raise TypeError(f"runs: expected a mapping name → run or a list of run directories, got {type(runs).__name__}")
    if not named:
        raise ValueError("runs: expected at least one run, got none")
    return named


#: ``rnn.weight_*``, or an ensemble member's ``members.K.rnn.weight_*``
_RECURRENT_WEIGHT = re.compile(r"(members\.\d+\.)?rnn\.weight_")


def recurrent_weights(runs: Sequence[str | os.PathLike[str] | RunDir]) -> list[str] | None:
    """The recurrent layers' weights (``rnn.weight_*``; an ensemble's ``members.K.rnn.weight_*``)
    that some run tracked as ``l2_mean``, in the order first seen: the usual subject of a
    regularization comparison (None: none tracked).

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> for name in ("rnn.weight_hh_l0", "members.1.rnn.weight_hh_l0", "head.0.weight"):
    ...     run.append(run.tracked, {"step": 0, "name": name, "stat": "l2_mean", "value": 1.0})
    >>> recurrent_weights([run])
    ['rnn.weight_hh_l0', 'members.1.rnn.weight_hh_l0']
    """
    names: dict[str, None] = {}
    for r in runs:
        rd = r if isinstance(r, RunDir) else RunDir.existing(r)
        for rec in rd.read_tracked():
            if _RECURRENT_WEIGHT.match(rec["name"]) and rec["stat"] == "l2_mean":
                names[rec["name"]] = None
    return list(names) or None


def metric_title(key: str) -> str:
    """A metric key in the words of the report's metric panels (:data:`rnnlab.plots.metrics.PANELS`):
    ``val_rmse`` → ``val RMSE (data units)``; a key no panel draws stays as it is. (A panel whose
    ticks carry other units in brackets, bits per token's perplexity, is named without them: these
    panels do not show them.)

    >>> metric_title("train_loss"), metric_title("val_acc"), metric_title("val_rmse"), metric_title("xyz")
    ('train loss', 'val accuracy', 'val RMSE (data units)', 'xyz')
    """
    split = key.split("_", 1)[0]
    for panel in PANELS:
        if key in panel.keys and split in ("train", "val", "test"):
            return f"{split} {panel.title.split(' (')[0] if panel.also else panel.title}"
    return key


def stat_label(stat: str) -> str:
    """A tracked stat in the words of the report's norm panels: ``l2_mean`` → ``mean l2 norm per channel``.

    >>> stat_label("l2_mean"), stat_label("grad_l2_max"), stat_label("other")
    ('mean l2 norm per channel', 'max grad_l2 norm per channel', 'other')
    """
    norm, _, kind = stat.rpartition("_")
    return f"{kind} {norm} norm per channel" if norm and kind in ("mean", "max") else stat


def _runs_compared(n: int) -> str:
    return f"{n} run compared" if n == 1 else f"{n} runs compared"


def _legend(fig: Figure, names: Sequence[str]) -> None:
    """The figure's one legend, below the panels: each run once, in its colour and line style."""
    handles = [Line2D([], [], color=style.series_color(i), linestyle=style.series_linestyle(i), linewidth=1.5)
               for i in range(len(names))]
    style.figure_legend(fig, handles, list(names), title="run")


def _grid(n: int, ncols: int) -> tuple[Figure, np.ndarray]:
    cols = min(ncols, n)
    rows = -(-n // cols)
    fig, axes = style.new_figure(rows, cols, panel_size=(3.8, 2.7))
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_compare_metrics(
    runs: Runs,
    *,
    metrics: Sequence[str] = ("train_loss", "val_loss", "val_acc"),
    ncols: int = 3,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """One panel per metric, one line per run (against the epoch), legend = run names.

    ``runs`` maps names to run directories or lists of metric records, or is a list of run
    directories. A metric no run recorded gets a "no data" panel (pass the task's metrics, as
    ``rnnlab compare`` does: ``val_rmse`` for regression runs). Saves when ``path`` is given.
    """
    if not metrics:
        raise ValueError("metrics: expected at least one metric name, got none")
    named = {n: load_metrics(r) for n, r in _named(runs).items()}
    fig, axes = _grid(len(metrics), ncols)
    for ax, key in zip(axes.flat, metrics, strict=False):
        ax.set_title(metric_title(key), fontsize=style.LABEL_SIZE)
        curves = {}
        for name, recs in named.items():
            xs, ys = series(recs, key)
            curves[name] = (xs, ys) if xs.size else None
        _draw_runs(ax, curves, empty=f"no {key} recorded", xlabel="epoch")
    _legend(fig, list(named))
    fig.suptitle(title or _runs_compared(len(named)), fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def plot_compare_norms(
    runs: Mapping[str, Tracked | str | os.PathLike[str] | RunDir] | Sequence[str | os.PathLike[str] | RunDir],
    *,
    stat: str = "l2_mean",
    params: Sequence[str] | None = None,
    ncols: int = 3,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Weight-norm curves (tracked ``stat``, default mean per-channel L2) of several runs:
    one panel per parameter, one line per run against the step, legend = run names.

    ``params`` defaults to every parameter that some run recorded ``stat`` for.
    """
    named: dict[str, Tracked] = {n: load_tracked(r) for n, r in _named(runs).items()}
    if params is None:
        seen: dict[str, None] = {}
        for tr in named.values():
            for n, stats in tr.items():
                if n not in NON_PARAMETERS and stat in stats:
                    seen[n] = None
        params = list(seen)
    if not params:
        return style.empty_figure(f"no {stat!r} recorded in any run",
                                  title or f"{stat_label(stat)}: {_runs_compared(len(named))}", path)
    fig, axes = _grid(len(params), ncols)
    for ax, pname in zip(axes.flat, params, strict=False):
        ax.set_title(pname, fontsize=style.LABEL_SIZE)
        curves = {}
        for name, tr in named.items():
            s = tr.get(pname, {}).get(stat)
            ok = s is not None and len(s.steps)
            curves[name] = (s.steps.astype(np.float64), np.asarray(s.values, dtype=np.float64)) if ok else None
        _draw_runs(ax, curves, empty=f"no {stat} recorded", xlabel="step")
        ax.set_ylabel(stat_label(stat))
    _legend(fig, list(named))
    fig.suptitle(title or f"{stat_label(stat)}: {_runs_compared(len(named))}", fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def _draw_runs(ax, curves: Mapping[str, tuple[np.ndarray, np.ndarray] | None], *, empty: str, xlabel: str) -> None:
    """One line per run on ``ax``, each run in its colour and line style (the figure's legend, see
    :func:`_legend`, names them); the runs without data here are named in a note on the panel."""
    notes, missing, drawn = [], [], 0
    for i, (name, curve) in enumerate(curves.items()):
        if curve is None:
            missing.append(name)
            continue
        note = draw_series(ax, curve[0], curve[1], label=name, color=style.series_color(i),
                           linestyle=style.series_linestyle(i))
        drawn += 1
        if note:
            notes.append(note)
    if not drawn:
        style.no_data(ax, empty)
    elif missing:
        notes.append("no data: " + ", ".join(missing))
    if notes:
        style.note(ax, "\n".join(notes), warn=True, loc="lower left")
    ax.set_xlabel(xlabel)
    style.integer_ticks(ax.xaxis)
