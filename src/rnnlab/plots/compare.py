"""Several runs on shared axes: metric curves and weight-norm curves, one colour per run.

The typical use is a sweep of one setting, e.g. weight decay 2e-3 vs 2e-4 vs none: pass
``{"decay 2e-3": dir_a, "decay 2e-4": dir_b, "none": dir_c}`` (or a list of run directories,
named after their directory). One legend below the panels lists the runs by those names, once.
A name may stand for a group of runs, the seeds of one config (``{"none": [dir_s0, dir_s1, dir_s2]}``):
the group is one colour, the line the mean over its runs and the band their range (min..max), at
the x values every run of the group reached.

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


def _is_group(value: Any) -> bool:
    """A group of runs (a list of run directories or of record lists), not one run's records."""
    return (isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and bool(value)
            and all(isinstance(v, (str, os.PathLike, RunDir)) or (isinstance(v, Sequence) and not isinstance(v, str))
                    for v in value))


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


def _runs_compared(n: int, runs: int | None = None) -> str:
    """``3 runs compared``; with groups, ``7 groups of seeds compared (21 runs)``."""
    if runs is not None and runs != n:
        return f"{n} group{'s' if n != 1 else ''} of seeds compared ({runs} runs)"
    return f"{n} run compared" if n == 1 else f"{n} runs compared"



#: How many curves :func:`style.series_color` and :func:`style.series_linestyle` tell apart.
DISTINCT = 40
#: What the training curves' titles add: an epoch's training figures are its batches' mean as it
#: trained (dropout on, weights moving), not the evaluated model's that ``rnnlab compare``'s table shows.
TRAINING_MODE = " (training mode)"


def _legend(fig: Figure, names: Sequence[str], grouped: bool = False) -> None:
    """The figure's one legend, below the panels: each run (or group) once, in its colour and line
    style; the title says what a group's line and band are, and when looks repeat."""
    handles = [Line2D([], [], color=style.series_color(i), linestyle=style.series_linestyle(i), linewidth=1.5)
               for i in range(len(names))]
    title = "group of seeds (line: mean over the seeds; band: min..max)" if grouped else "run"
    if len(names) > DISTINCT:
        title += f"; {len(names)} curves: colours and line styles repeat after {DISTINCT}"
    style.figure_legend(fig, handles, list(names), title=title)


def _group_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...] | None:
    """The mean, min and max of several runs' curves at the x values they all have (a run still
    training stops the group where it is), as ``(xs, mean, lo, hi)``."""
    curves = [c for c in curves if c[0].size]
    if not curves:
        return None
    common = curves[0][0]
    for xs, _ in curves[1:]:
        common = np.intersect1d(common, xs)
    if not common.size:
        return None
    ys = np.stack([np.array([dict(zip(xs.tolist(), y.tolist()))[v] for v in common.tolist()]) for xs, y in curves])
    return common, ys.mean(axis=0), ys.min(axis=0), ys.max(axis=0)


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
    """One panel per metric, one line per run (or group of runs: mean and min..max band), legend =
    run names. The x axis is the optimizer step when every record has one (runs with other batch
    sizes or data sizes then line up by the updates they made), else the epoch. A ``train_`` panel
    says on its y axis that its values are the epochs' training-mode figures.

    ``runs`` maps names to run directories or lists of metric records, or to a list of those (a
    group), or is a list of run directories. A metric no run recorded gets a "no data" panel (pass
    the task's metrics, as ``rnnlab compare`` does: ``val_rmse`` for regression runs). Saves when
    ``path`` is given.

    >>> recs = lambda k: [{"epoch": e, "step": 4 * e, "train_loss": k / e} for e in (1, 2, 3)]
    >>> fig = plot_compare_metrics({"none": [recs(1), recs(2)]}, metrics=["train_loss"])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_title(), fig.axes[0].lines[0].get_ydata().tolist()
    ('optimizer step', 'train loss (training mode)', [1.5, 0.75, 0.5])
    """
    if not metrics:
        raise ValueError("metrics: expected at least one metric name, got none")
    named = {n: [load_metrics(x) for x in r] if _is_group(r) else load_metrics(r) for n, r in _named(runs).items()}
    every = [recs for v in named.values() for recs in (v if _is_group(v) else [v])]
    x = "step" if all(isinstance(r.get("step"), (int, float)) for recs in every for r in recs) else "epoch"
    fig, axes = _grid(len(metrics), ncols)
    for ax, key in zip(axes.flat, metrics, strict=False):
        ax.set_title(metric_title(key), fontsize=style.LABEL_SIZE)
        curves: dict[str, Any] = {}
        for name, recs in named.items():
            if _is_group(recs):
                curves[name] = _group_curve([series(r, key, x=x) for r in recs])
            else:
                xs, ys = series(recs, key, x=x)
                curves[name] = (xs, ys) if xs.size else None
        _draw_runs(ax, curves, empty=f"no {key} recorded", xlabel="optimizer step" if x == "step" else "epoch")
        if key.startswith("train_"):
            ax.set_title(ax.get_title() + TRAINING_MODE, fontsize=style.LABEL_SIZE)
    _legend(fig, list(named), grouped=any(_is_group(v) for v in named.values()))
    fig.suptitle(title or _runs_compared(len(named), len(every)), fontsize=style.TITLE_SIZE)
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
    named: dict[str, Any] = {n: [load_tracked(x) for x in r] if _is_group(r) else load_tracked(r)
                             for n, r in _named(runs).items()}
    if params is None:
        seen: dict[str, None] = {}
        for tr in (t for v in named.values() for t in (v if isinstance(v, list) else [v])):
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
        curves: dict[str, Any] = {}
        for name, tr in named.items():
            one = [_stat_curve(t, pname, stat) for t in (tr if isinstance(tr, list) else [tr])]
            curves[name] = (_group_curve([c for c in one if c is not None]) if isinstance(tr, list) else one[0])
        _draw_runs(ax, curves, empty=f"no {stat} recorded", xlabel="step")
        ax.set_ylabel(stat_label(stat))
    _legend(fig, list(named), grouped=any(isinstance(v, list) for v in named.values()))
    runs_n = sum(len(v) if isinstance(v, list) else 1 for v in named.values())
    fig.suptitle(title or f"{stat_label(stat)}: {_runs_compared(len(named), runs_n)}", fontsize=style.TITLE_SIZE)
    style.save(fig, path)
    return fig


def _stat_curve(tr: Tracked, pname: str, stat: str) -> tuple[np.ndarray, np.ndarray] | None:
    s = tr.get(pname, {}).get(stat)
    if s is None or not len(s.steps):
        return None
    return s.steps.astype(np.float64), np.asarray(s.values, dtype=np.float64)


def _draw_runs(ax, curves: Mapping[str, tuple[np.ndarray, ...] | None], *, empty: str, xlabel: str) -> None:
    """One line per run on ``ax``, each run in its colour and line style (the figure's legend, see
    :func:`_legend`, names them), a group's ``(xs, mean, lo, hi)`` as its mean and a band; the runs
    without data here are named in a note on the panel."""
    notes, missing, drawn = [], [], 0
    for i, (name, curve) in enumerate(curves.items()):
        if curve is None:
            missing.append(name)
            continue
        note = draw_series(ax, curve[0], curve[1], label=name, color=style.series_color(i),
                           linestyle=style.series_linestyle(i))
        if len(curve) == 4:
            ax.fill_between(curve[0], curve[2], curve[3], color=style.series_color(i), alpha=0.18, linewidth=0)
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
