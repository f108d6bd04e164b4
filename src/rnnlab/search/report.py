"""The study report: ``DIR/study.html``, self-contained like the run report.

Sections: the result (search score and what it was measured on, the best trial's gain over the config
itself against its standard error, and, apart, the test evaluation of the final run, marked as the
training mean's where the run carried its fold runs' mean guards' decision, with every earlier evaluation
of the study's test split where an earlier best trial's final run made one);
every trial, best first (parameters, fold scores with their spread, epochs (and under early
stopping the kept ones), state, a link to its
run report; a trial stopped by Ctrl-C, SIGTERM or SIGHUP (or by the search, or a storage outage: what stopped
it said under its state) shown as interrupted, not failed; a trial that
drew an earlier one's parameters marked "same as trial N"; why the failed trials failed, each
reason once with its trials); the optimization history with pruned,
failed and interrupted trials marked; parameter importances
(Optuna's ``FanovaImportanceEvaluator(seed=0)``); the score against each parameter (slice plots); the weight norms of
the top trials compared (:func:`rnnlab.plots.plot_compare_norms`); the search space with the
reason for each range, the sampler and pruner as built and the versions; how to open the study in optuna-dashboard.

Example:
    >>> write_study_report("runs/tiny-search", study)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from rnnlab import htmlkit as hk
from rnnlab.plots import style
from rnnlab.redact import mask
from rnnlab.rundir import METRICS, REPORT, SUMMARY, TRACKED, atomic_write_text, read_json
from rnnlab.search.storage import (
    BASELINE_ATTR,
    FAILED_ATTR,
    REFUSED_ATTR,
    STOPPED_BY_ATTR,
    state_counts,
    stop_words,
    trial_state,
)
from rnnlab.search.table import (
    fold_sizes,
    joined,
    majority_said,
    reruns,
    short_names,
    tie_sentence,
    tied_with,
    trial_row,
)
from rnnlab.shellcmd import shell_command
from rnnlab.tables import spread
from rnnlab.task import Task, task_for, task_named

STUDY_REPORT = "study.html"
#: Trials compared by weight norm (each trial's run report is drawn by the worker that ran it,
#: :func:`rnnlab.search.study.draw_trial_report`).
COMPARED = 4
#: The fANOVA evaluator's seed (its forest is random): the page's importances are reproducible.
IMPORTANCE_SEED = 0
#: The slice plots' x margin each side, as a share of the range searched (of its log on a log axis).
MARGIN = 0.05

EXTRA_CSS = """
td.params { font-size: 0.85em; color: #444; }
tr.best td { background: #eef6ee; }
span.state-pruned { color: #8a6d00; } span.state-fail { color: #b00020; }
span.state-interrupted { color: #555; font-style: italic; }
p.result { font-size: 1.1em; } p.result b { font-size: 1.15em; }
ol.failures li { margin-bottom: 0.4em; } ol.failures pre { white-space: pre-wrap; font-size: 0.85em; }
"""


def _ranked(trials: list[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """Complete trials best first, then pruned, failed and interrupted (Ctrl-C, SIGTERM or SIGHUP; stored
    as FAIL, but no failure), each latest first."""
    sign = -1.0 if direction == "maximize" else 1.0
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: sign * t.value)
    rest = [sorted((t for t in trials if trial_state(t) == state), key=lambda t: -t.number)
            for state in ("pruned", "fail", "interrupted")]
    return complete + [t for group in rest for t in group]


def _link(study_dir: Path, t: FrozenTrial) -> tuple[str, str] | None:
    """(href, text): the trial's run report (its first run), else its run directory with the
    command that draws the report (``search.reports`` draws only the best trial's by default);
    None when it has none here (a trial of another machine)."""
    trial_dir = study_dir / "trials" / f"{t.number:04d}"
    run = trial_dir / "fold-1"
    if (run / REPORT).exists():
        return os.path.relpath(run / REPORT, study_dir), "run report"
    if (run / METRICS).exists():
        return os.path.relpath(run, study_dir) + "/", f"records (draw: {shell_command('rnnlab', 'report', run.resolve())})"
    return None


def _score(value: float | None) -> str:
    """A score or a spread as the page shows it: 4 decimals, as the CLI's lines (``-`` for none)."""
    return "-" if value is None else f"{value:.4f}"


def _fmt_param(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


#: The failure reasons a page shows in a line, cut at a word (the whole text is in its title and details).
REASON_WIDTH = 160
#: The trial numbers a failure reason lists before "and N more".
LISTED = 20


def failure_groups(trials: list[FrozenTrial]) -> list[tuple[str, str, list[int]]]:
    """The failed trials (not the interrupted ones), and the pruned ones whose drawn values the
    config refused before training (``refused_because``), grouped by reason, most first:
    ``(reason, whole text, trial numbers)``; the reason is the record's last line, as ``rnnlab
    study`` groups them, the whole text the first trial's record.

    >>> t = [optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": why})
    ...      for why in ("lr: too big", "Traceback...\\nValueError: nan", "lr: too big")]
    >>> for i, x in enumerate(t):
    ...     x.number = i
    >>> failure_groups(t)
    [('lr: too big', 'lr: too big', [0, 2]), ('ValueError: nan', 'Traceback...\\nValueError: nan', [1])]
    """

    groups: dict[str, tuple[str, list[int]]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if trial_state(t) == "fail":
            whole = str(t.user_attrs.get(FAILED_ATTR) or "no reason recorded (its worker died?)").strip()
            reason = whole.splitlines()[-1] if whole else whole
        elif t.state == TrialState.PRUNED and REFUSED_ATTR in t.user_attrs:
            whole = f"refused by the config: {str(t.user_attrs[REFUSED_ATTR]).strip()}"
            reason = whole.splitlines()[0]
        else:
            continue
        groups.setdefault(reason, (whole, []))[1].append(t.number)
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1][1]))  # (stable: ties in order of first failure)
    return [(reason, whole, numbers) for reason, (whole, numbers) in ranked]


def _failures(trials: list[FrozenTrial]) -> str:
    """The "failed trials" list under the table: each reason once, with how many trials and which."""
    from rnnlab.search.study import shorten

    groups = failure_groups(trials)
    if not groups:
        return ""
    rerun_as = reruns(trials)
    items = []
    for k, (reason, whole, numbers) in enumerate(groups, 1):
        shown = ", ".join(map(str, numbers[:LISTED])) + (f" and {len(numbers) - LISTED} more"
                                                          if len(numbers) > LISTED else "")
        again = [f"{n} as trial {rerun_as[n]}" for n in numbers if n in rerun_as]
        cut = shorten(reason, REASON_WIDTH)
        full = (f"<details><summary>whole record (trial {numbers[0]})</summary><pre>{hk.esc(whole)}</pre></details>"
                if whole != cut else "")
        items.append(f"<li id='failed-{k}'><b>{len(numbers)} trial{'s' if len(numbers) != 1 else ''}</b> "
                     f"({hk.esc(shown)}): <span title='{hk.esc(whole)}'>{hk.esc(cut)}</span>"
                     + (f"; run again: {hk.esc(', '.join(again))}" if again else "") + f"{full}</li>")
    refused = sum(len(g[2]) for g in groups if g[1].startswith("refused by the config:"))
    failed = sum(len(g[2]) for g in groups) - refused
    counted = ([f"{failed} failed trial{'s' if failed != 1 else ''}"] if failed else []) + (
        [f"{refused} pruned trial{'s' if refused != 1 else ''} whose values the config refused before training"]
        if refused else [])
    return (f"<h3 id='failed-trials'>Failed trials</h3><p class='sub'>{hk.esc(' and '.join(counted))}, "
            f"{len(groups)} reason{'s' if len(groups) != 1 else ''} (an interrupted trial is no failure: "
            "not listed):</p>"
            f"<ol class='failures'>{''.join(items)}</ol>")


def _trials_table(study_dir: Path, trials: list[FrozenTrial], direction: str, metric: str,
                  metric_name: str | None = None, folds: int = 2) -> str:
    """The trials best first; the trials that tie with the first (:func:`~rnnlab.search.table.tied_with`,
    by ``metric_name``, the study's metric) shaded as it is and marked so. ``folds`` (study.json's):
    1 for a study scored on one hold-out, whose trials have one score each and no spread."""
    ranked = _ranked(trials, direction)
    if not ranked:
        return '<p class="nodata">no trial finished yet</p>'
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    short = short_names(names)
    parts = ("± sd of folds", "fold scores") if folds > 1 else ()
    head = "".join(f"<th>{hk.esc(h)}</th>" for h in ("trial", "state", metric, *parts, "epochs", "parameters", "report"))
    rows = []
    by_number = {t.number: t for t in trials}
    rerun_as = reruns(trials)
    # (a failed row points to its reason in the list under the table, whole in its title)
    why_of = {n: (k, whole) for k, (_, whole, numbers) in enumerate(failure_groups(trials), 1) for n in numbers}
    top = ranked[0] if ranked[0].state == TrialState.COMPLETE else None
    tied = {} if top is None else {t.number: why for t, why in tied_with(top, trials, metric_name,
                                                                         fold_sizes(study_dir, trials))}
    for i, t in enumerate(ranked):
        r = trial_row(t)
        why = (f"<br><small><a href='#failed-{why_of[t.number][0]}' title='{hk.esc(why_of[t.number][1])}'>"
               f"reason {why_of[t.number][0]} ↓</a></small>" if t.number in why_of else "")
        if r["state"] == "interrupted" and t.user_attrs.get(STOPPED_BY_ATTR):  # (not the default Ctrl-C words)
            why = f"<br><small>by {hk.esc(stop_words(t))}</small>"
        link = _link(study_dir, t)
        if r["same_as"] in by_number:  # (a copy trained nothing: its records are the trial's it copies)
            link = _link(study_dir, by_number[r["same_as"]])
            link = link and (link[0], f"trial {r['same_as']}'s {link[1]}")
        notes = ([] if not t.user_attrs.get(BASELINE_ATTR) else ["the config"]) + (
            [] if r["same_as"] is None else [f"same as trial {r['same_as']}"]) + (
            [f"run again as trial {rerun_as[t.number]}"] if t.number in rerun_as else []) + (
            [f"ties with trial {top.number}"] if t.number in tied and top is not None else [])
        params = ", ".join(f"{hk.esc(short[k])}={hk.esc(_fmt_param(v))}" for k, v in t.params.items())
        scores = ", ".join(_score(v) for v in t.user_attrs.get("fold_scores", []))
        best = ' class="best"' if (i == 0 or t.number in tied) and t.state == TrialState.COMPLETE else ""
        rows.append(
            f"<tr{best}><td class='num'>{t.number}{''.join(f'<br><small>{hk.esc(n)}</small>' for n in notes)}</td><td><span class='state-{hk.esc(r['state'])}'>{hk.esc(r['state'])}</span>{why}</td>"
            f"<td class='num'>{_score(r['score'])}</td>"
            + (f"<td class='num'>{_score(r['spread'])}</td><td class='num'>{hk.esc(scores) or '-'}</td>" if parts else "")
            + f"<td>{hk.esc(r['epochs'] or '-')}</td>"
            f"<td class='params'>{params}</td>"
            f"<td>{f'<a href={chr(34)}{hk.esc(link[0])}{chr(34)}>{hk.esc(link[1])}</a>' if link else '-'}</td></tr>")
    runs = ("Each trial links to the run report of its first run (fold 1; <code>rnnlab report DIR/trials/NNNN/fold-K"
            "</code> draws another fold's). <i>Epochs</i>: the epoch each fold's run ended at" if folds > 1 else
            "Each trial links to the report of its run on the hold-out. <i>Epochs</i>: the epoch its run ended at")
    note = (f"<p class='sub'>{runs}; under early stopping, <i>kept</i>: the epoch of the model it kept, whose score "
            "counts and whose median length the final run trains. A trial marked "
            "<i>same as trial N</i> drew trial N's parameters again and took its score without training. "
            "An <i>interrupted</i> trial was stopped by Ctrl-C, SIGTERM or SIGHUP, or by what its row names (the "
            "search, stopping its workers when another trial's write was refused; a storage outage): no failure of "
            "its own (Optuna stores it as FAIL); a continued search runs it again, as a new trial, when it had drawn "
            "its parameters.</p>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{note}{_failures(trials)}"


def _history(trials: list[FrozenTrial], direction: str, metric: str) -> Figure:
    from rnnlab.search.study import shorten

    fig, axes = style.new_figure(1, 1, panel_size=(8.5, 3.4))
    ax = axes[0, 0]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if complete:
        colors = trial_colors(trials, direction)  # (a copy of a trial: its trial's colour)
        of = {t.number: colors.get(t.number) or colors.get(trial_row(t)["same_as"], OTHER_TRIALS) for t in complete}
        ax.scatter([t.number for t in complete], [t.value for t in complete], c=[of[t.number] for t in complete],
                   edgecolors="white", linewidths=0.5, zorder=3)
        # (the key's marker filled, in no trial's colour: the points have each their own; hollow is pruned)
        ax.plot([], [], linestyle="none", marker="o", markersize=5, markerfacecolor="#555555", markeredgecolor="#555555",
                label="complete (mean over folds; colour: the trial's, as in the figures below)")
        best, xs, ys = None, [], []
        for t in sorted(complete, key=lambda t: t.number):
            if best is None or (t.value > best if direction == "maximize" else t.value < best):
                best = t.value
            xs.append(t.number)
            ys.append(best)
        ax.step(xs, ys, where="post", color="#333333", linewidth=1.0, label="best so far")
    if pruned:
        # (a pruned trial's value is its first fold's at an early epoch: hollow and grey, apart from
        # the complete trials' means, and no part of the best so far, which a low loss there would take)
        last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
        ax.scatter([t.number for t in pruned], last, marker="o", facecolors="none", edgecolors=PRUNED_COLOR,
                   linewidths=1.0, zorder=2, label=pruned_label(pruned))
    failed = [t.number for t in trials if trial_state(t) == "fail"]
    for i, n in enumerate(failed):
        ax.axvline(n, color=style.WARN_COLOR, alpha=0.25, lw=1, label="failed" if i == 0 else None)
    stopped = [t for t in trials if trial_state(t) == "interrupted"]
    # (one cause named in the key; several: the table under it names each trial's)
    words = {stop_words(t) for t in stopped}
    label = f"interrupted ({words.pop()})" if len(words) == 1 else "interrupted (stopped: no failure of its own)"
    for i, t in enumerate(stopped):
        ax.axvline(t.number, color="#666666", alpha=0.8, lw=1, ls=":", label=shorten(label, 80) if i == 0 else None)
    if not (complete or pruned):
        style.no_data(ax, "no trial finished yet")
        style.save(fig, None)  # laid out
        return fig
    ax.set_xlabel("trial")
    style.integer_ticks(ax.xaxis)
    ax.set_ylabel(metric)
    ax.set_title("optimization history", fontsize=style.LABEL_SIZE)
    # (below the panel: inside, the key hid a pruned trial's point)
    handles, labels = ax.get_legend_handles_labels()
    style.figure_legend(fig, handles, labels)
    style.save(fig, None)  # laid out
    return fig


#: The colour of a pruned trial's partial value in the optimization history.
PRUNED_COLOR = "#9a9a9a"


def pruned_label(pruned: list[FrozenTrial]) -> str:
    """The history's key for pruned trials: where their value comes from (``pruned_at``: the fold
    and epoch each was stopped at), and that it is no score to compare.

    >>> ts = [optuna.create_trial(state=TrialState.PRUNED, user_attrs={"pruned_at": {"fold": 1, "epoch": e}})
    ...       for e in (5, 12, 8)]
    >>> pruned_label(ts), pruned_label(ts[:1])
    ('pruned: fold 1 at epochs 5-12 only, not comparable', 'pruned: fold 1 at epoch 5 only, not comparable')
    """
    at = [t.user_attrs.get("pruned_at") or {} for t in pruned]

    def span(key: str, one: str) -> str:
        values = sorted({int(a[key]) for a in at if isinstance(a.get(key), int)})
        if not values:
            return ""
        return f"{one} {values[0]}" if len(values) == 1 else f"{one}s {values[0]}-{values[-1]}"

    where = " at ".join(w for w in (span("fold", "fold"), span("epoch", "epoch")) if w)
    return f"pruned: {where or 'an early epoch'} only, not comparable"


def trained(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The complete trials that trained: a copy of an earlier trial's parameters
    (``same_params_as``) took that trial's score, and counted again it would weigh one point as
    two draws (in the slice plots, the importances, the weight norms).

    >>> trained([optuna.create_trial(value=0.5), optuna.create_trial(value=0.5, user_attrs={"same_params_as": 0})])
    ... # doctest: +ELLIPSIS
    [FrozenTrial(...)]
    """
    return [t for t in trials if t.state == TrialState.COMPLETE and trial_row(t)["same_as"] is None]


def _tied(fitted: list[FrozenTrial]) -> bool:
    """Whether the complete trials all scored the same (to the float)."""
    return len({t.value for t in fitted}) == 1


def importances(study: optuna.Study, seed: int = IMPORTANCE_SEED) -> dict[str, float]:
    """Optuna's fANOVA importances over the complete trials that trained (:func:`trained`: the
    copies left out); empty when fewer than 2, or when they all scored the same (no variance to
    share out: fANOVA would raise).

    >>> tied = optuna.create_study()
    >>> tied.optimize(lambda t: t.suggest_float("x", 0, 1) * 0 + 1.0, n_trials=3)
    >>> importances(tied)
    {}
    """
    fitted = trained(study.get_trials(deepcopy=False))
    if len(fitted) < 2 or _tied(fitted):
        return {}
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    only = optuna.create_study(directions=study.directions)  # (Optuna's importances read a whole study)
    only.add_trials(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dict(get_param_importances(only, evaluator=FanovaImportanceEvaluator(seed=seed)))


#: Importances from fewer complete trials than this, or fewer than :data:`TRIALS_PER_PARAMETER`
#: a parameter, are drawn as mostly noise: a forest fitted to a handful of points shares the
#: variance out by where those few points happened to fall (5 trials over 2 parameters read "lr 0.74").
FEWEST_TRIALS = 10
TRIALS_PER_PARAMETER = 5


def importance_noise(values: dict[str, float], fitted: int) -> str | None:
    """Why importances from ``fitted`` trials are mostly noise (fewer than :data:`FEWEST_TRIALS`
    trials, or than :data:`TRIALS_PER_PARAMETER` a parameter), in a few words; None when there are enough.

    >>> two = {"lr": 0.6, "zoneout": 0.4}
    >>> importance_noise(two, 5), importance_noise(two, 10), importance_noise({**two, "x": 0, "y": 0}, 19)
    ('from 5 trials over 2 parameters: mostly noise', None, 'from 19 trials over 4 parameters: mostly noise')
    """
    enough = max(FEWEST_TRIALS, TRIALS_PER_PARAMETER * len(values))
    return f"from {fitted} trials over {len(values)} parameters: mostly noise" if fitted < enough else None


def _importance_figure(values: dict[str, float], fitted: int) -> Figure:
    """The importances as bars, largest on top; when they are mostly noise (:func:`importance_noise`)
    the bars are grey and hatched and the title says it, so that the figure is not read, alone,
    as a ranking.

    >>> fig = _importance_figure({"lr": 0.6, "zoneout": 0.4}, fitted=3)
    >>> fig.axes[0].get_title(), str(fig.axes[0].patches[0].get_hatch())
    ('parameter importances: from 3 trials over 2 parameters: mostly noise', '//')
    """
    noise = importance_noise(values, fitted)
    names = list(values)[::-1]
    short = short_names(names)
    fig, axes = style.new_figure(1, 1, panel_size=(7.5, 0.32 * len(names) + 1.0))
    ax = axes[0, 0]
    ax.barh([short[n] for n in names], [values[n] for n in names],
            color="#d9d9d9" if noise else style.series_color(0), hatch="//" if noise else None,
            edgecolor="#8c8c8c" if noise else None, linewidth=0.6 if noise else 0)
    ax.set_xlabel("importance (fANOVA, share of the score's variance)")
    ax.set_title("parameter importances" + (f": {noise}" if noise else ""), fontsize=style.LABEL_SIZE,
                 color=style.WARN_COLOR if noise else "black")
    style.save(fig, None)  # laid out
    return fig


def _tick_label(text: str, width: int = 12) -> str:
    """A category's tick label in lines of about ``width`` characters, broken after ``_`` or a
    space: the layout measures lines, and a rotated label ran into the next row's title.

    >>> _tick_label("recurrent_batch_norm"), _tick_label("none")
    ('recurrent_\\nbatch_norm', 'none')
    """
    parts = re.findall(r"[^_ ]+[_ ]?", text) or [text]
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part.rstrip()) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(line.rstrip() for line in lines)


def fold_bar(mean: float, folds: Sequence[float]) -> tuple[float, float]:
    """The ends of a trial's bar in the score-against-parameter figure: its ``mean`` ± the
    :func:`rnnlab.tables.spread` of its ``folds``, cut at their lowest and highest score: a bar
    past every fold is a score no fold reached, and past a bounded metric's end (an accuracy of
    1.025) one no run can reach.

    >>> fold_bar(0.98, [1.0, 1.0, 1.0, 1.0, 0.9])
    (0.9352786404500042, 1.0)
    """
    sd = spread(folds)
    # (never past the mean itself: a mean recorded apart from the folds must not turn a bar inside out)
    return min(mean, max(mean - sd, min(folds))), max(mean, min(mean + sd, max(folds)))


def _slices(trials: list[FrozenTrial], metric: str, direction: str = "maximize") -> Figure:
    complete = trained(trials)
    names = list(dict.fromkeys(k for t in complete for k in t.params))
    short = short_names(names)
    cols = max(1, min(4, len(names)))
    # One colour per trial, the same as in the page's other figures (:func:`trial_colors`).
    colors = trial_colors(trials, direction)
    fig, axes = style.new_figure(-(-len(names) // cols), cols, panel_size=(2.9, 2.3), sharey=True)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        have = [t for t in complete if name in t.params]
        dist = have[0].distributions[name]
        ys = [t.value for t in have]
        if isinstance(dist, CategoricalDistribution):
            labels = [str(c) for c in dist.choices]
            xs = [labels.index(str(t.params[name])) + np.random.default_rng(t.number).uniform(-0.12, 0.12)
                  for t in have]
            ax.set_xticks(range(len(labels)), [_tick_label(x) for x in labels], fontsize=style.TICK_SIZE)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            xs = [t.params[name] for t in have]
            if isinstance(dist, (FloatDistribution, IntDistribution)):
                # The whole range searched, not only what was tried, with a margin each side so that
                # a point at the range's edge is drawn whole (in log space on a log axis).
                if dist.log:
                    ax.set_xscale("log")
                    pad = (dist.high / dist.low) ** MARGIN if dist.high > dist.low else 2.0
                    ax.set_xlim(dist.low / pad, dist.high * pad)
                else:
                    pad = MARGIN * (dist.high - dist.low) if dist.high > dist.low else 1.0
                    ax.set_xlim(dist.low - pad, dist.high + pad)
                    # (few ticks: the panels sit close, and the last label of one met the next's first)
                    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=isinstance(dist, IntDistribution)))
        # (each trial's fold spread: a gap between two means is read against it, not against an axis
        # scaled to the means alone, where 0.0007 filled the panel and the folds spread 35 times that)
        for x, t in zip(xs, have, strict=True):
            folds = t.user_attrs.get("fold_scores") or []
            if len(folds) > 1:
                low, high = fold_bar(t.value, folds)
                ax.errorbar([x], [t.value], yerr=[[t.value - low], [high - t.value]], fmt="none",
                            ecolor=colors[t.number], elinewidth=1.0, capsize=2.5, alpha=0.8, zorder=2)
        ax.scatter(xs, ys, c=[colors[t.number] for t in have], s=22, edgecolors="white", linewidths=0.5, zorder=3)
        ax.set_title(short[name], fontsize=style.LABEL_SIZE)
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    # the key: each coloured trial by name, best first, as the weight-norm figure names them
    shown = [n for n, c in colors.items() if c != OTHER_TRIALS]
    handles = [Line2D([], [], linestyle="none", marker="o", markersize=5, color=colors[n]) for n in shown]
    labels = [f"trial {n}" for n in shown]
    if len(shown) < len(colors):
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=5, color=OTHER_TRIALS))
        labels.append(f"the {len(colors) - len(shown)} other trials")
    style.figure_legend(fig, handles, labels, title="trial, best first (the same colours as the page's other figures); "
                        "point: the mean over its folds, bar: ± the sd of its fold scores, cut at its lowest and "
                        "highest fold score")
    fig.suptitle(f"{metric} against each parameter (complete trials that trained)", fontsize=style.TITLE_SIZE)
    style.save(fig, None)  # laid out
    return fig


def _compared(trials: list[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """The best ``COMPARED`` complete trials that trained: a copy of an earlier trial's parameters
    (``same_params_as``) has no weights of its own, and the trial it copies is compared once."""
    fitted = {t.number for t in trained(trials)}
    return [t for t in _ranked(trials, direction) if t.number in fitted][:COMPARED]


#: The colour of a trial ranked below the first ``len(style.SERIES_COLORS)`` (grey: seen on white).
OTHER_TRIALS = "#8c8c8c"


def trial_colors(trials: list[FrozenTrial], direction: str) -> dict[int, str]:
    """One colour per complete trial that trained, the same in every figure of the page: the best
    first, in :func:`style.series_color`'s order (readable on white; the weight-norm figure's top
    trials take the first), the trials ranked below those :data:`OTHER_TRIALS` grey.

    >>> ts = [optuna.create_trial(value=v) for v in (0.5, 0.9, 0.7)]
    >>> for i, t in enumerate(ts):
    ...     t.number = i
    >>> trial_colors(ts, "maximize") == {1: style.series_color(0), 2: style.series_color(1), 0: style.series_color(2)}
    True
    """
    fitted = {t.number for t in trained(trials)}
    ranked = [t.number for t in _ranked(trials, direction) if t.number in fitted]
    n = len(style.SERIES_COLORS)
    return {number: style.series_color(i) if i < n else OTHER_TRIALS for i, number in enumerate(ranked)}


def _norms(study_dir: Path, trials: list[FrozenTrial], direction: str) -> str:
    from rnnlab.plots import plot_compare_norms
    from rnnlab.plots.compare import recurrent_weights

    top = _compared(trials, direction)
    runs = {f"trial {t.number}": study_dir / "trials" / f"{t.number:04d}" / "fold-1" for t in top}
    runs = {k: v for k, v in runs.items() if (v / TRACKED).exists()}
    if not runs:
        return '<p class="nodata">no data recorded: no complete trial tracked its weights (tracking.enabled)</p>'
    colors = trial_colors(trials, direction)
    fig = plot_compare_norms(runs, params=recurrent_weights(list(runs.values())),
                             title=f"mean per-channel L2 norm, fold 1 of the top {len(runs)} trials",
                             colors={f"trial {t.number}": colors[t.number] for t in top})
    return hk.img(fig, "weight norms of the top trials")


def _space(info: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td><code>{hk.esc(p['name'])}</code></td><td>{hk.esc(p['range'])}</td><td>{hk.esc(p['why'])}</td></tr>"
                   for p in info.get("space", []))
    table = f"<table><tr><th>key</th><th>range</th><th>why</th></tr>{rows}</table>" if rows else ""
    return table + _settings(info)


def _settings(info: dict[str, Any]) -> str:
    """The sampler and pruner as the latest command built them, and the versions it ran, as
    study.json records them ("" for a study.json written before they were)."""
    from rnnlab.search.study import settings_text

    said = [f"{what}: <code>{hk.esc(settings_text(info[key]))}</code>"
            for what, key in (("sampler", "sampler"), ("pruner", "pruner")) if isinstance(info.get(key), dict)]
    versions = {**(info.get("versions") if isinstance(info.get("versions"), dict) else {}),
                **({"optuna": info["optuna"]} if isinstance(info.get("optuna"), str) else {})}
    if versions:
        said.append("versions: " + hk.esc(", ".join(f"{k} {v}" for k, v in versions.items())))
    if not said:
        return ""
    return ("<p class='sub'>As the latest <code>rnnlab search</code> of this study built them (study.json): "
            + " · ".join(said) + ".</p>")


def _spread(t: FrozenTrial) -> str:
    """`` ± sd (the standard deviation of its N fold scores)``, the spread the CLI shows; empty
    for one fold (no spread to show)."""
    scores = t.user_attrs.get("fold_scores") or []
    if len(scores) < 2:
        return ""
    return f" ± {_score(spread(scores))} (the standard deviation of its {len(scores)} fold scores)"


def gain_sentence(best: FrozenTrial, base: FrozenTrial, direction: str) -> str:
    """The best trial's gain over the config itself and whether it is above one standard error,
    judged by the recipe's rule through the recipe's own function (:func:`rnnlab.recipe.decide.verdict`:
    the gain of the mean fold score must exceed the standard error of the difference, a weak bar:
    :func:`~rnnlab.recipe.decide.weak_bar`; the two trials' fold scores are paired fold by fold, as
    the recipe pairs its runs, when they are as many, and compared by Welch's form otherwise),
    printed as the recipe prints it (:func:`~rnnlab.recipe.decide.gain_and_se`), so that study.html,
    ``rnnlab search`` and recipe.html cannot disagree on the same scores.

    >>> best = optuna.create_trial(value=0.97, user_attrs={"fold_scores": [0.9286, 1.0, 1.0, 1.0, 0.9231]})
    >>> base = optuna.create_trial(value=0.956, user_attrs={"fold_scores": [0.9286, 0.9286, 1.0, 1.0, 0.9231]})
    >>> print(gain_sentence(best, base, "maximize"))  # doctest: +ELLIPSIS
    Gain over the config itself: +0.0143 ± 0.0143 (...): not above one standard error (...).
    """
    from rnnlab.recipe.decide import equal_differences, gain_and_se, verdict, weak_bar

    a = [float(v) for v in best.user_attrs.get("fold_scores") or []]
    b = [float(v) for v in base.user_attrs.get("fold_scores") or []]
    sign = 1.0 if direction == "maximize" else -1.0
    if len(a) < 2 or len(b) < 2:
        gain = sign * (best.value - base.value)
        # (one score a trial: the study's plan is one hold-out, every complete trial scored on all its folds)
        return (f"Gain over the config itself: {gain:+.4f}; whether it is above one standard error cannot be told "
                "from one hold-out score a side (its standard error needs the scores of 2 or more folds a side).")
    # Every trial of a study runs the study's one fold plan (a study continues only with the config
    # it started with, storage.open_study, and its trials' fold_scores are in the plan's fold order):
    # as many scores a side are the same folds in the same order. Other counts are no such pairs.
    paired = len(a) == len(b)
    v = verdict(a, b, higher_is_better=direction == "maximize", paired=paired, pairs="fold")
    said = (equal_differences(len(a), paired) if v.no_spread else "above one standard error" if v.kept else
            "a tie: the same score on every fold" if v.tie else
            "not above one standard error" if v.gain > 0 else "no gain")
    how = (f"the standard error of the mean of the {len(a)} per-fold differences: both trials scored on the same "
           "folds" if paired else
           f"Welch's standard error of the difference of the mean scores, over {len(a)} and {len(b)} folds")
    gain, se = gain_and_se(v.gain, v.se)
    return (f"Gain over the config itself: {gain} ± {se} ({how}): {said} (the recipe's rule: a gain counts when it "
            f"is above that standard error, {weak_bar(len(a) if paired else None)}; the best trial was chosen on "
            "these same folds, which flatters its gain: the final run on the whole training split, or a fresh seed, "
            "tells more).")


def config_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The trial that is the config itself: its finished one (one interrupted by a kill is run again
    later), else its latest; None where no trial is.

    >>> config_trial([optuna.create_trial(value=0.5)]) is None
    True
    """
    bases = [t for t in trials if t.user_attrs.get(BASELINE_ATTR)]
    return next((t for t in bases if t.state == TrialState.COMPLETE), bases[-1] if bases else None)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def scored_on(info: dict[str, Any]) -> str:
    """What the search score was measured on, from study.json's ``plan`` (the fold plan's own words,
    :meth:`rnnlab.search.trial.FoldPlan.describe`, as the page's first line says it): folds or one
    hold-out, never folds where the study held one part out.

    >>> scored_on({"plan": "a 20% tail hold-out"}), scored_on({})
    ('search score: a 20% tail hold-out of the training split', 'search score: the training split')
    """
    plan = info.get("plan")
    return f"search score: {plan} of the training split" if plan else "search score: the training split"


def guard_words(run_dir: str | os.PathLike[str]) -> tuple[str, str]:
    """What the final run in ``run_dir`` predicts where it carried its fold runs' mean guards'
    decision (summary.json's ``mean_guard``, read by :func:`rnnlab.plots.metrics.guard_of`):
    ``(mark, line)``, the mark beside its figures (``"the training mean's, not the model's"``, where
    the model is not kept; else empty) and the guard's own line
    (:meth:`rnnlab.train.final.CarriedGuard.line`); both empty for a run without one (it predicts
    with its model).

    >>> import tempfile
    >>> from rnnlab.rundir import atomic_write_json
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write_json(d / "summary.json", {"mean_guard": {"kept": False, "carried": "2 of 2 fold runs",
    ...                                                      "runs": 2, "chose_mean": 2}})
    >>> guard_words(d)[0], guard_words(d)[1][:49], guard_words(Path(tempfile.mkdtemp()))
    ("the training mean's, not the model's", 'mean guard: the final run predicts the training m', ('', ''))
    """
    from rnnlab.plots.metrics import guard_of

    run = Path(run_dir)
    guard = guard_of(run) if (run / SUMMARY).exists() else None
    if guard is None:
        return "", ""
    return ("" if guard.kept else f"{guard.baseline}'s, not the model's"), guard.line()


def search_task(study_dir: str | os.PathLike[str], info: dict[str, Any] | None = None) -> Task:
    """The task of the study in ``study_dir``: its base config's (``search.toml``, which says
    whether the targets are per step, as the CLI's figures and their labels do), else the kind
    study.json records (``info``, read when not given).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "search.toml").write_text('[task]\\nper_step = true\\n[data]\\npath = "t.npz"')
    >>> search_task(d, {"task": "classification"}).headline.label
    'per-step accuracy'
    """
    from rnnlab.config import load_config
    from rnnlab.errors import RnnlabError

    d = Path(study_dir)
    if info is None:
        info = read_json(d / "study.json") if (d / "study.json").exists() else {}
    try:
        return task_for(load_config(d / "search.toml", recorded=True))
    except RnnlabError:  # (missing or unreadable: study.json's kind, without per-step)
        return task_named(str(info.get("task", "classification")))


def _result(study_dir: Path, study: optuna.Study, info: dict[str, Any]) -> str:
    metric = info.get("metric", "score")
    if "direction" in info:
        metric += f" ({'higher' if info['direction'] == 'maximize' else 'lower'} is better)"
    trials = study.get_trials(deepcopy=False)
    counts = state_counts(trials)  # (``fail`` without the interrupted trials, as the search counts them)
    stopped = f"{counts['interrupted']} interrupted, " if counts["interrupted"] else ""
    failed = (f"<a href='#failed-trials'>{counts['fail']} failed</a>" if counts["fail"] else "0 failed")
    parts = [f"<p class='sub'>{counts['complete']} complete, {counts['pruned']} pruned, {failed}, "
             f"{stopped}{counts['running']} running · {hk.esc(metric)} on "
             f"{hk.esc(info.get('plan', '?'))} of the training split</p>"]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        tied = tied_with(best, trials, info.get("metric"), fold_sizes(study_dir, trials))
        # (imbalanced classes: what the majority class alone scores, beside the score as the search's line says it)
        majority = hk.esc(majority_said(study_dir, trials, info.get("metric")))
        if tied:  # (no winner announced: the table marks them all, the line says why they tie)
            parts.append(f"<p class='result'>Best trials <b>{joined([best.number] + [t.number for t, _ in tied])}"
                         f"</b>, a tie: {hk.esc(metric)} <b>{_score(best.value)}</b>{_spread(best)}{majority} for trial "
                         f"{best.number} ({hk.esc(scored_on(info))}) · config: "
                         f"<a href='best.toml'>best.toml</a> (trial {best.number}'s)</p>"
                         f"<p class='nodata'>{hk.esc(_capital(tie_sentence(best, tied)))}.</p>")
        else:
            parts.append(f"<p class='result'>Best trial <b>{best.number}</b>: {hk.esc(metric)} <b>{_score(best.value)}</b>"
                         f"{_spread(best)}{majority} ({hk.esc(scored_on(info))}) · config: "
                         "<a href='best.toml'>best.toml</a></p>")
        base = config_trial(trials)
        if base is not None and base.state == TrialState.COMPLETE and base.number != best.number:
            parts.append(f"<p class='sub'>The config itself (trial {base.number}): {hk.esc(metric)} "
                         f"{_score(base.value)}{_spread(base)}</p>")
            parts.append(f"<p class='sub'>{hk.esc(gain_sentence(best, base, study.direction.name.lower()))}</p>")
        elif base is not None and base.number == best.number:
            parts.append("<p class='sub'>The best trial is the config itself: no sampled setting beat it.</p>")
    final_path = study_dir / "final.json"
    if final_path.exists():
        from rnnlab.search.study import recorded_evaluations, study_test_metric
        from rnnlab.train.final import baseline_phrase, length_words

        final = read_json(final_path)
        test = final.get("test")
        task = search_task(study_dir, info)
        # (the test figure of the study's own metric; the task's headline beside it where that is another)
        headline = study_test_metric(task, str(info.get("metric", "")), test)
        also = (f" (test {hk.esc(task.headline.label)} {hk.num(test[task.headline.name])})"
                if test and headline.name != task.headline.name and task.headline.name in test else "")
        # (a forecaster's final run trains on more steps: its MASE scale is its own, so the simple
        # forecasts' figures beside it are the final run's, not the trials')
        beside = baseline_phrase(final, headline) if test else ""
        link = "<a href='final/report.html'>final run report</a>" if (study_dir / "final" / REPORT).exists() else ""

        evaluations = recorded_evaluations(study_dir, final)
        several = test and len(evaluations) > 1
        # (a final run that carried its fold runs' mean guards may predict the training mean: its
        # test figure is then the mean's, said beside it, and the guard's line under it)
        mark, guard = guard_words(study_dir / str(final.get("run_dir") or "final"))
        parts.append(
            f"<p class='result'>Test {hk.esc(headline.label)} <b>{hk.num(test[headline.name])}</b>{also}"
            + (f", {hk.esc(mark)}" if mark else "")
            + (f", against {hk.esc(beside)} on the same steps" if beside else "")
            + f" (trial {hk.esc(final['trial'])}'s config retrained on the whole training split"
            + (f" for {hk.esc(length_words(final))}" if length_words(final) else "")
            + ("; its test split evaluated once, when it was trained, never used by the search" if several else
               "; the test split evaluated once, never used by the search") + f") {link}</p>"
            if test else "<p class='result'>No test split: the final run is not evaluated.</p>")
        if guard:
            parts.append(f"<p class='{'problem' if mark else 'sub'}'>{hk.esc(_capital(guard))}.</p>")
        if several:
            parts.append(_evaluations(study_dir, evaluations, headline))
    return "".join(parts)


def _evaluations(study_dir: Path, evaluations: list[dict[str, Any]], headline: Any) -> str:
    """Every evaluation of the test split in the study (the final runs of its earlier best
    trials too), with what comparing them would be."""
    from rnnlab.search.study import evaluations_note

    rows = []
    for e in evaluations:
        run, value = e.get("run_dir"), (e.get("test") or {}).get(headline.name)
        report = study_dir / str(run) / REPORT
        where = ("trained over since" if not run else
                 f"<a href='{hk.esc(run)}/{REPORT}'>{hk.esc(run)}/</a>" if report.exists() else f"{hk.esc(run)}/")
        trial = "?" if e.get("trial") is None else e["trial"]
        rows.append(f"<tr><td class='num'>{hk.esc(trial)}</td><td>{where}</td>"
                    f"<td>{hk.esc(e.get('evaluated_at') or '?')}</td>"
                    f"<td class='num'>{'-' if value is None else hk.num(value)}</td></tr>")
    note = evaluations_note(evaluations, headline)
    return (f"<p class='problem'>{hk.esc(note[0].upper() + note[1:])}.</p>"
            f"<table><tr><th>trial</th><th>final run</th><th>evaluated</th><th>test {hk.esc(headline.label)}</th></tr>"
            f"{''.join(rows)}</table>")


def _dashboard(study_dir: Path, info: dict[str, Any]) -> str:
    storage = info.get("storage")
    if storage:
        # SQLAlchemy 2.1 reads a plain postgresql:// as psycopg 3; name the driver rnnlab installs.
        target = mask(storage).replace("postgresql://", "postgresql+psycopg2://", 1)
        note = "Give the database URL with its password (not stored in the study directory)."
    else:
        target = str((study_dir / "journal.log").resolve())
        note = "optuna-dashboard takes an existing file path as a journal file."
    return (f"<p>The study is an ordinary Optuna study (<code>{hk.esc(info.get('study'))}</code>); watch it live, "
            "while the search runs, with optuna-dashboard:</p>"
            f"<pre>pip install optuna-dashboard\n{hk.esc(shell_command('optuna-dashboard', target))}</pre><p class='sub'>{hk.esc(note)}</p>")


SECTIONS = (("result", "Result"), ("best-trials", "Best trials"), ("history", "Optimization history"),
            ("importances", "Parameter importances"), ("slices", "Score against each parameter"),
            ("norms", "Weight norms of the top trials"), ("space", "Search space"),
            ("dashboard", "optuna-dashboard"))


def render_study_report(study_dir: str | os.PathLike[str], study: optuna.Study) -> str:
    """The HTML text of the study report (see the module docstring)."""
    d = Path(study_dir)
    info = read_json(d / "study.json") if (d / "study.json").exists() else {}
    direction = study.direction.name.lower()
    metric = info.get("metric", "score")
    trials = study.get_trials(deepcopy=False)

    def guarded(what: str, build: Any) -> str:
        try:
            return build()
        except (*hk.SECTION_ERRORS, RuntimeError) as err:
            return f'<p class="problem">could not show {hk.esc(what)}: {hk.esc(type(err).__name__)}: {hk.esc(err)}</p>'

    fitted = trained(trials)
    left_out = sum(t.state == TrialState.COMPLETE for t in trials) - len(fitted)
    copies_note = ("" if not left_out else
                   f"<p class='sub'>{left_out} cop{'y' if left_out == 1 else 'ies'} of an earlier trial's parameters "
                   "(<i>same as trial N</i>: its score, not trained again) left out: each would count that trial's "
                   "point again.</p>")

    def importance_section() -> str:
        values = importances(study, IMPORTANCE_SEED)
        if len(fitted) >= 2 and _tied(fitted):
            return (f'<p class="nodata">every trained trial scored the same ({_score(fitted[0].value)}): nothing to '
                    f'rank the parameters by</p>{copies_note}')
        if not values:
            return ('<p class="nodata">no data recorded: importances need at least 2 complete trials that '
                    f'trained</p>{copies_note}')
        figure = hk.img(_importance_figure(values, len(fitted)), "parameter importances")
        # (Optuna 5's get_param_importances defaults to PED-ANOVA: another figure for the same trials)
        figure += (f"<p class='sub'>Optuna's <code>FanovaImportanceEvaluator(seed={IMPORTANCE_SEED})</code> over "
                   f"the {len(fitted)} complete trials that trained; <code>optuna.importance.get_param_importances"
                   "</code> uses another evaluator by default: pass <code>evaluator=FanovaImportanceEvaluator(seed="
                   f"{IMPORTANCE_SEED})</code> for these figures.</p>")
        if importance_noise(values, len(fitted)):  # (a forest fitted to a handful of points)
            figure += (f'<p class="nodata">from {len(fitted)} complete trials over {len(values)} parameters (those '
                       f'every complete trial sampled; one sampled only in some trials is left out): with '
                       f"fewer than {FEWEST_TRIALS} trials, or than {TRIALS_PER_PARAMETER} a parameter, these shares "
                       "are mostly noise; read them after more trials</p>")
        return figure + copies_note

    def slices_section() -> str:
        if not fitted:
            return f'<p class="nodata">no data recorded: no complete trial that trained yet</p>{copies_note}'
        return hk.img(_slices(trials, metric, direction), "score against each parameter") + copies_note

    bodies = {
        "result": guarded("the result", lambda: _result(d, study, info)),
        "best-trials": guarded("the trials", lambda: _trials_table(d, trials, direction, metric, info.get("metric"),
                                                                    int(info.get("folds") or 2))),
        "history": guarded("the history", lambda: hk.img(_history(trials, direction, metric), "optimization history")),
        "importances": guarded("importances", importance_section),
        "slices": guarded("slice plots", slices_section),
        "norms": guarded("weight norms", lambda: _norms(d, trials, direction)),
        "space": guarded("the space", lambda: _space(info)),
        "dashboard": _dashboard(d, info),
    }
    nav = "".join(f'<a href="#{sid}">{hk.esc(title)}</a>' for sid, title in SECTIONS)
    sections = "".join(f'<section id="{sid}"><h2>{hk.esc(title)}</h2>\n{bodies[sid]}\n</section>\n' for sid, title in SECTIONS)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    name = study.study_name
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>rnnlab study: {hk.esc(name)}</title>\n<style>{hk.CSS}{EXTRA_CSS}</style>\n"
            f"<script>{hk.SCRIPT}</script>\n</head>\n<body>\n"
            f"<h1>Study {hk.esc(name)}</h1>\n<p class=\"sub\">{hk.esc(d.resolve())} · generated {hk.esc(stamp)}</p>\n"
            f"<nav>{nav}</nav>\n{sections}</body>\n</html>\n")


def write_study_report(study_dir: str | os.PathLike[str], study: optuna.Study) -> Path:
    """Write ``DIR/study.html`` atomically; returns its path."""
    path = Path(study_dir) / STUDY_REPORT
    atomic_write_text(path, render_study_report(study_dir, study))
    return path
