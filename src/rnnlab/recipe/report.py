"""The recipe's ablation: ``DIR/recipe.md``, ``DIR/recipe.html`` and ``DIR/recipe.json``.

One row per candidate tried, step by step: what was tried, its score (mean ± sd over seeds ×
folds of the training split), kept or scrapped and why; then the final configuration and the
single test-split evaluation of the baseline and of the final configuration, side by side. The
HTML page (self-contained, like the run report) adds, per step, the decision as a picture (each
candidate's seed × fold scores beside those of the configuration it was compared with, their means
and the line the candidate's mean had to pass, :func:`decision_figure`), and the weight-norm
evolution and the gradient through time of the configuration the step started from and of each
candidate, side by side on one colour scale: what each regularizer did to the weights, not only
to the score.

Example:
    >>> write_recipe_report(outcome)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from rnnlab import htmlkit as hk
from rnnlab.config import Config
from rnnlab.recipe.decide import gain_and_se
from rnnlab.recipe.procedure import StepOutcome, Tried
from rnnlab.recipe.steps import recipe_table
from rnnlab.rundir import METRICS, atomic_write_json, atomic_write_text
from rnnlab.shellcmd import shell_command
from rnnlab.tables import with_spread
from rnnlab.task import Metric

RULE = ("a candidate is kept when its mean score's gain over the configuration kept so far is above one "
        "standard error of the difference, measured on the runs paired by seed and fold (both are scored on "
        "the same seeds and folds: the standard deviation of the per-run differences over the square root of "
        "their number); among several, the largest gain is kept")


def rule_words(pairs: int, candidates: int) -> str:
    """:data:`RULE`, and what it is (:func:`rnnlab.recipe.decide.weak_bar`), with how many of the
    ``candidates`` scored a walk of changes without any effect would keep by chance.

    >>> rule_words(6, 12)[len(RULE):]
    '. One standard error is a weak bar, not a test of significance: a change with no effect passes it 18 % of the time with 6 pairs, so of the 12 candidates scored here about 2 would pass by chance'
    >>> rule_words(4, 2)[-80:]  # (fewer than one expected: not rounded to none)
    'scored here 0.4 would pass by chance on average (at least one, 35 % of the time)'
    """
    from rnnlab.recipe.decide import chance_passed, weak_bar

    if pairs < 2:
        return RULE
    p = chance_passed(pairs)
    expected = p * candidates
    passed = (f"about {round(expected)} would pass by chance" if expected >= 1 else
              f"{expected:.1f} would pass by chance on average (at least one, {1 - (1 - p) ** candidates:.0%} of the "
              "time)".replace("%", " %"))
    return (f"{RULE}. One standard error is {weak_bar(pairs)}, so of the {candidates} candidate"
            f"{'s' if candidates != 1 else ''} scored here {passed}")


def _rule(outcome: Any) -> str:
    """:func:`rule_words` for a recipe's outcome: its seeds × folds pairs, its candidates scored."""
    scored = sum(1 for o in outcome.result.outcomes for t in o.tried if t.verdict is not None)
    return rule_words(len(outcome.seeds) * outcome.plan.k, scored)


def _seeds(seeds: list[int]) -> str:
    """``"2 seeds (0, 1)"``, ``"1 seed (0)"``."""
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def _ms(scores: list[float]) -> str:
    if not scores:
        return "-"
    return with_spread(float(np.mean(scores)), scores)


def _status(t: Tried) -> str:
    if t.not_applicable is not None:
        return "failed" if t.not_applicable.startswith("training failed") else "not applicable"
    return "kept" if t.kept else "scrapped"


def _why(t: Tried) -> str:
    """The reason after the status word (which already says "not applicable" or "failed")."""
    return t.not_applicable if t.not_applicable is not None else t.reason


def step_record(o: StepOutcome) -> dict[str, Any]:
    """A step's outcome as JSON (``recipe.json``)."""
    return {"step": o.step.name, "advice": o.step.advice, "kept": [t.label for t in o.kept], "tried": [
        {"label": t.label, "against": t.against, "status": _status(t), "reason": t.reason, "scores": t.scores,
         "gain": t.verdict.gain if t.verdict else None, "se": t.verdict.se if t.verdict else None,
         "paired": t.verdict.paired if t.verdict else None}
        for t in o.tried]}


NO_TEST = "there is no test split (data.test_path is unset and the data set has none): nothing was evaluated on one"
ORDER = ("Steps always run in the recipe's own order (the table below, top to bottom), whatever order "
         "--steps lists them in: each starts from what the steps before it kept.")


def _scored_at(outcome: Any) -> str:
    """Which epoch's model a candidate's runs are scored by (:func:`rnnlab.train.best.kept_record`):
    under early stopping the best validation epoch's, whose weights the run keeps."""
    if outcome.result.baseline.training.early_stopping.patience > 0:
        return "of the model each run kept (its best validation epoch's: early stopping)"
    return "at the last epoch"


def _lengths(tests: dict[str, Any]) -> str:
    """``" (baseline for 12 epochs, 240 steps: the median of ...; final for ...)"``: how long
    each retraining trained (:func:`rnnlab.train.final.length_words`); empty for records
    without."""
    from rnnlab.train.final import length_words

    said = [f"{name} for {length_words(tests[name])}" for name in ("baseline", "final")
            if name in tests and length_words(tests[name])]
    return f" ({'; '.join(said)})" if said else ""


def _has_test(tests: dict[str, Any]) -> bool:
    """Whether any retrained configuration was evaluated on a test split."""
    return any((part or {}).get("test") for part in tests.values())


def _evaluations(tests: dict[str, Any], head: Any) -> tuple[str, list[str]]:
    """How often the test split was evaluated for the retrained configurations: the words beside
    the test column (``"once"``, or ``"N times"`` where a rerun with another final or baseline
    config kept an earlier run beside: ``test/NAME-earlier/``), and for each such one the note the
    command said (:func:`rnnlab.search.study.evaluations_note`)."""
    from rnnlab.search.study import evaluations_note

    notes = [note for name in ("baseline", "final")
             if (note := evaluations_note((tests.get(name) or {}).get("test_evaluations") or [], head,
                                          f"test/{name}", f"for the recipe's {name}"))]
    most = max((len((tests.get(name) or {}).get("test_evaluations") or []) for name in ("baseline", "final")),
               default=0)
    return ("once" if most < 2 else f"up to {most} times"), notes


def _guards(outcome: Any) -> dict[str, tuple[str, str]]:
    """Per retrained configuration (``baseline``, ``final``), what its run in ``DIR/test/NAME``
    predicts where it carried its runs' mean guards' decision (:func:`rnnlab.search.report.guard_words`:
    the mark beside its figures, the guard's line), as the command said it before the run."""
    from rnnlab.search.report import guard_words

    return {name: guard_words(outcome.out / "test" / name) for name in ("baseline", "final")
            if name in (outcome.tests or {})}


def _guard_lines(guards: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    """``(mark, "baseline: mean guard: the final run predicts the training mean, as ...")`` per
    configuration whose run carried a guard's decision: why its figures are the training mean's."""
    return [(mark, f"{name}: {line}.") for name, (mark, line) in guards.items() if line]


def _test_cell(tests: dict[str, Any], name: str, split: str, metric: Metric, mark: str = "") -> str:
    """A retrained configuration's ``split`` figure; ``mark`` beside it (whose figure it is, where the
    run predicts the training mean, :func:`_guards`)."""
    from rnnlab.train.final import baseline_phrase

    part = (tests.get(name) or {}).get(split)
    if not part:
        return "-"
    # (a forecaster's retrained runs have MASE scales of their own: its simple forecasts' figures beside it)
    beside = ", ".join(w for w in (mark, baseline_phrase(tests[name], metric) if split == "test" else "") if w)
    return metric.show(part[metric.name]) + (f" ({beside})" if beside else "")


def render_markdown(outcome: Any) -> str:
    """``recipe.md``: the ablation table, the final configuration, the test evaluation."""
    r, metric, head = outcome.result, outcome.metric, outcome.task.headline
    lines = [
        "# rnnlab recipe", "",
        f"Base config: `{outcome.out / 'recipe.toml'}`. Each candidate: {_seeds(outcome.seeds)} "
        f"× {outcome.plan.describe()} of the training split, "
        f"scored by {outcome.task.describe(metric)} {_scored_at(outcome)}; the test split is not seen. "
        f"Rule: {_rule(outcome)}.", "",
        f"Baseline: {metric} {_ms(r.baseline_scores)}", "",
        f"| step | tried | against | {metric} (mean ± sd) | gain | se (the bar) | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in r.outcomes:
        if not o.tried:
            lines.append(f"| `{o.step.name}` | - | | | | | nothing to try |")
        for t in o.tried:
            gain, se = gain_and_se(t.verdict.gain, t.verdict.se) if t.verdict else ("", "")
            lines.append(f"| `{o.step.name}` | {t.label} | {t.against} | {_ms(t.scores)} | {gain} | {se} | "
                         f"**{_status(t)}**: {_why(t)} |")
    kept = [t.label for o in r.outcomes for t in o.kept]
    lines += ["", f"Final configuration: {', '.join(kept) if kept else 'the baseline (nothing was kept)'}; "
              f"{metric} {_ms(r.final_scores)}. Runnable: `{shell_command('rnnlab', 'train', (outcome.out / 'final.toml').resolve())}`.", ""]
    guards = _guards(outcome)
    mark = {name: guards.get(name, ("", ""))[0] for name in ("baseline", "final")}
    if outcome.tests and _has_test(outcome.tests):
        times, notes = _evaluations(outcome.tests, head)
        lines += [f"| configuration | train {head.label} | test {head.label} (evaluated {times}) |", "|---|---|---|"]
        for name in ("baseline", "final"):
            lines.append(f"| {name} | {_test_cell(outcome.tests, name, 'train', head, mark[name])} | "
                         f"{_test_cell(outcome.tests, name, 'test', head, mark[name])} |")
        lines += ["", "Both retrained on the whole training split after the walk" + _lengths(outcome.tests)
                  + ("; the test split was evaluated once for each and chose nothing." if not notes else
                     "; " + "; ".join(notes) + "."), ""]
    elif outcome.tests:
        lines += [f"| configuration | train {head.label} |", "|---|---|"]
        lines += [f"| {name} | {_test_cell(outcome.tests, name, 'train', head, mark[name])} |"
                  for name in ("baseline", "final")]
        lines += ["", f"Both retrained on the whole training split after the walk{_lengths(outcome.tests)}; {NO_TEST}.", ""]
    lines += [line for _, said in _guard_lines(guards) for line in (said, "")]
    lines += [f"Steps walked: {', '.join(f'`{o.step.name}`' for o in r.outcomes)}. {ORDER}", ""]
    lines += ["## The recipe", "", recipe_table(r.baseline), ""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------


def _first_run(outcome: Any, label: str, config: Config) -> Path:
    from rnnlab.recipe.run import candidate_dir

    return candidate_dir(outcome.out, label, config) / f"seed-{outcome.seeds[0]}" / "fold-1"


def _pictures(outcome: Any, o: StepOutcome, configs: dict[str, Config]) -> str:
    """Weight norms and gradient through time of the step's starting point and its candidates."""
    from rnnlab.plots import plot_compare_norms
    from rnnlab.plots.compare import recurrent_weights
    from rnnlab.report import read_grad_through_time, recurrent_shortening, steps_are_sentence
    from rnnlab.rundir import RunDir

    scored = [t for t in o.tried if t.config is not None and t.not_applicable is None]
    if not scored:
        return ""
    start = scored[0].against
    runs = {f"{start} (start)": _first_run(outcome, start, configs[start])}
    runs.update({f"{t.label} ({_status(t)})": _first_run(outcome, t.label, t.config) for t in scored})
    runs = {k: v for k, v in runs.items() if (v / METRICS).exists()}
    if not runs:
        return ""
    # (the colours of the step's fold-score figure and its key: kept green, scrapped red, the start grey)
    colors = {f"{start} (start)": AGAINST_COLOR}
    colors.update({f"{t.label} ({_status(t)})": outcome_color(_status(t)) for t in scored})
    params = recurrent_weights(list(runs.values()))
    parts = [hk.img(plot_compare_norms(runs, params=params, colors=colors, title=f"{o.step.name}: weight norms "
                                      f"(seed {outcome.seeds[0]}, fold 1)"), f"weight norms of {o.step.name}")]
    curves, shortened = {}, {}
    for name, run in runs.items():
        gtt, meta = read_grad_through_time(run)
        if gtt:
            key = next(iter(gtt))
            curves[name] = gtt[key]
            # (the run report's words for a front-end that shortens the series: its steps are not the data's)
            shortened[name] = recurrent_shortening(RunDir(run), {key: gtt[key]}, meta.get("cropped"))
    if curves:
        said = set(shortened.values())
        note = (steps_are_sentence(said.pop()) if len(said) == 1 else
                " A step here is the recurrent layer's, after each run's front-end (its panel's axis says how it "
                "shortens the series), not the input's.")
        parts.append((f"<p class='sub'>{hk.esc(note.strip())}</p>" if note else "") + hk.img(compare_grad_through_time(
            curves, title=f"{o.step.name}: gradient through time (seed {outcome.seeds[0]}, fold 1)",
            shortened=shortened, colors=colors), f"gradient through time of {o.step.name}"))
    return "".join(parts)


#: The colour of a kept and of a scrapped candidate's scores (tab10 green and red: seen on white).
OUTCOME_COLORS = {"kept": "#2ca02c", "scrapped": "#d62728"}
#: The colour of the scores a candidate was compared with.
AGAINST_COLOR = "#555555"


def outcome_color(status: str) -> str:
    """The colour of a candidate whose outcome is ``status`` (:func:`_status`) in every figure of a
    recipe step, as the fold-score figure's key says: kept green, scrapped red, anything else grey.

    >>> outcome_color("kept"), outcome_color("scrapped"), outcome_color("failed")
    ('#2ca02c', '#d62728', '#555555')
    """
    return OUTCOME_COLORS.get(status, AGAINST_COLOR)


_SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def decision_figure(tried: list[Tried], scores_of: dict[str, list[float]], seeds: list[int], metric: str,
                    higher_is_better: bool, *, title: str = "fold scores") -> Figure | None:
    """The decision of each scored candidate in ``tried`` as a picture, one panel each: its seed ×
    fold scores (one point each, a marker per seed) beside those of the configuration it was
    compared with (``scores_of[t.against]``), each side's mean (a black bar), and the line the
    candidate's mean had to pass to be kept: the other side's mean plus the standard error of the
    difference the rule used (:func:`rnnlab.recipe.decide.verdict`; minus, where lower is
    better). The title says kept or scrapped. None when no candidate was scored.

    Scores are in the order the recipe scores them: each seed's folds, seed after seed.

    >>> from rnnlab.recipe.decide import verdict
    >>> t = Tried("zoneout", "zoneout=0", None, "baseline", scores=[0.93, 1.0, 1.0, 0.90],
    ...           verdict=verdict([0.93, 1.0, 1.0, 0.90], [0.93, 0.93, 1.0, 0.92], True, paired=True))
    >>> fig = decision_figure([t], {"baseline": [0.93, 0.93, 1.0, 0.92]}, [0, 1], "val_acc", True)
    >>> fig.axes[0].get_title()
    'zoneout=0: scrapped\\ngain +0.0125 ≤ se 0.0197'
    """
    from matplotlib.lines import Line2D

    from rnnlab.plots import style

    scored = [t for t in tried if t.verdict is not None and t.scores and scores_of.get(t.against)]
    if not scored:
        return None
    cols = min(3, len(scored))
    rows = -(-len(scored) // cols)
    fig, axes = style.new_figure(rows, cols, panel_size=(3.9, 3.0))  # (room for "recurrent_dropout=" on a line)
    for ax in list(axes.flat)[len(scored):]:
        ax.set_visible(False)
    sign = 1.0 if higher_is_better else -1.0
    for ax, t in zip(axes.flat, scored, strict=False):
        assert t.verdict is not None
        status = _status(t)
        color = outcome_color(status)
        sides = ((t.against, scores_of[t.against], AGAINST_COLOR, "against"), (t.label, t.scores, color, "candidate"))
        for side, (_, values, c, gid) in enumerate(sides):
            k = max(1, len(values) // max(1, len(seeds)))  # folds per seed
            for s_i in range(len(seeds)):
                mine = values[s_i * k:(s_i + 1) * k]
                if not mine:
                    continue
                # folds side by side within the side, seeds a little apart: each point seen
                xs = [side + 0.34 * ((f + 0.5) / k - 0.5) + 0.03 * (s_i - (len(seeds) - 1) / 2) for f in range(len(mine))]
                ax.scatter(xs, mine, color=c, marker=_SEED_MARKERS[s_i % len(_SEED_MARKERS)], s=20, zorder=3,
                           edgecolors="white", linewidths=0.4, gid=gid)
            mean = float(np.mean(values))
            ax.plot([side - 0.25, side + 0.25], [mean, mean], color="black", linewidth=2.0, zorder=4, gid="mean")
        base_mean = float(np.mean(scores_of[t.against]))
        v = t.verdict
        if np.isfinite(v.se):
            bar = base_mean + sign * v.se
            ax.plot([0.6, 1.4], [bar, bar], color=color, linestyle="--", linewidth=1.2, zorder=4, gid="to pass")
        ax.set_xticks([0, 1], [t.against, t.label], fontsize=style.TICK_SIZE)
        ax.set_xlim(-0.6, 1.6)
        ax.set_ylabel(metric)
        # (the numbers in the title, not in a note over the points: a note hid the lowest score)
        # (">" as the rule decided: a gain equal to its se within rounding is not beyond it)
        gain, se = gain_and_se(v.gain, v.se)
        said = f"gain {gain} {'>' if v.kept else '≤'} se {se}" if np.isfinite(v.se) else "one run a side: noise unknown"
        ax.set_title(f"{t.label}: {status}\n{said}", fontsize=style.LABEL_SIZE, color=color)
    handles = [Line2D([], [], linestyle="none", marker=_SEED_MARKERS[i % len(_SEED_MARKERS)], color=AGAINST_COLOR,
                      markersize=5) for i in range(len(seeds))]
    labels = [f"seed {s} (one point per fold)" for s in seeds]
    handles += [Line2D([], [], color="black", linewidth=2.0),
                Line2D([], [], color=AGAINST_COLOR, linestyle="--", linewidth=1.2)]
    labels += ["mean", f"to be kept, the candidate's mean must pass this: the other's mean {'+' if sign > 0 else '-'} se"]
    style.figure_legend(fig, handles, labels, title="kept: green; scrapped: red; compared with: grey")
    fig.suptitle(title, fontsize=style.TITLE_SIZE)
    style.save(fig, None)  # laid out
    # (the two names side by side, "recurrent_dropout=0.2" against "recurrent_dropout=0.4", ran into
    # each other: names that would meet are broken into lines as wide as the space between the ticks,
    # once the layout has set the panels' width; laid out again, the panels widen where long names
    # no longer stick out, so the room is measured again, until the names stay as they are)
    for _ in range(3):
        changed = False
        for ax, t in zip(axes.flat, scored, strict=False):
            lo, hi = ax.get_xlim()
            room = ax.get_position().width * fig.get_figwidth() * 72.0 / (hi - lo) - _TICK_GAP
            names = [t.against, t.label]
            if sum(style.drawn_width(name, style.TICK_SIZE) for name in names) / 2 > room:  # (they would meet)
                names = [_broken(name, style.TICK_SIZE, room) for name in names]
            if names != [label.get_text() for label in ax.get_xticklabels()]:
                ax.set_xticks([0, 1], names, fontsize=style.TICK_SIZE)
                changed = True
        if not changed:
            break
        style.save(fig, None)
    return fig


#: Points left free between two neighbouring tick labels of :func:`decision_figure`.
_TICK_GAP = 4.0


def _broken(text: str, size: float, room: float) -> str:
    """``text`` in lines at most ``room`` points wide at font ``size``, each as long as fits: a
    candidate's label (``recurrent_dropout=0.4``) read whole under its tick. Broken at a space
    (dropped) or after ``=`` or ``,``; where a line is still too wide, also after ``_`` or ``.``
    (inside a key's name: the last resort). A piece without a break wider than ``room`` stays whole.

    >>> _broken("recurrent_dropout=0.4", 8.0, 85.0), _broken("recurrent_dropout=0.4", 8.0, 60.0)
    ('recurrent_dropout=\\n0.4', 'recurrent_\\ndropout=0.4')
    >>> _broken("ar=1 tar=2", 8.0, 30.0), _broken("baseline", 8.0, 10.0)
    ('ar=1\\ntar=2', 'baseline')
    """
    import re

    from rnnlab.plots import style

    def fill(line: str, after: str) -> list[str]:
        pieces = [p for p in re.split(rf"(?<=[{after}])|(?= )", line) if p]
        lines: list[str] = []
        for piece in pieces:
            joined = lines[-1] + piece if lines else piece
            if lines and style.drawn_width(joined.rstrip(), size) <= room:
                lines[-1] = joined
            else:
                lines.append(piece.lstrip() if lines else piece)
        return [x.rstrip() for x in lines]

    lines = fill(text, "=,")
    if any(style.drawn_width(line, size) > room for line in lines):
        lines = fill(text, "=,_.")
    return "\n".join(lines)


def compare_grad_through_time(curves: dict[str, Any], *, title: str = "gradient through time",
                              shortened: dict[str, str | None] | None = None,
                              colors: Mapping[str, str] | None = None) -> Figure:
    """Heatmaps of ``|dLoss/dh_t|`` side by side on ONE colour scale (one colour bar), above their
    per-timestep means on one log axis: runs compared by colour, not by each its own scale.

    ``curves``: name -> a :class:`rnnlab.introspect.GradThroughTime` (its top layer) or an array ``[T, H]``.
    ``shortened``: name -> how the run's front-end shortens the series before the recurrent layer,
    whose steps the curves count (the run report's words, ``input pooled ×4: 80 → 20``; None or
    absent: the input's own steps). The x axes count whole steps and say which. ``colors`` gives a
    run its colour by name, as :func:`rnnlab.plots.plot_compare_norms`' (the others take the figure's own).

    >>> import numpy as np
    >>> fig = compare_grad_through_time({"a": np.ones((5, 2)), "b": 10 * np.ones((5, 2))},
    ...                                 shortened={"a": "input pooled ×4: 20 → 5", "b": "input pooled ×4: 20 → 5"})
    >>> [im.get_clim() for ax in fig.axes[:2] for im in ax.images], [ax for ax in fig.axes if ax.lines][0].get_xlabel()
    ([(0.0, 10.0), (0.0, 10.0)], 'recurrent step (input pooled ×4: 20 → 5)')
    """
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.ticker import FuncFormatter

    from rnnlab.plots import style
    from rnnlab.plots.compare import run_looks
    from rnnlab.plots.through_time import STEPS_BACK_AXIS, TIME_AXIS, per_timestep, select_layer
    from rnnlab.report import step_axis_label

    how = {name: (shortened or {}).get(name) for name in curves}
    # (a curve measured on sequences of different lengths counts its steps back from each one's end)
    back = {name: getattr(g, "held", None) is not None for name, g in curves.items()}

    def label(shortening: str | None, counted_back: bool) -> str:
        said = step_axis_label(shortening)
        if not counted_back:
            return said
        return STEPS_BACK_AXIS if said == TIME_AXIS else f"{said}, counted back from the sequence's end"

    arrs = {name: np.abs(select_layer(g, -1, "forward")[0]) for name, g in curves.items()}
    n = len(arrs)
    fig, axes = style.new_figure(2, n, panel_size=(max(4.6, 9.2 / n), 2.9), height_ratios=(1.2, 1.0))
    gs = axes[1, 0].get_gridspec()
    for ax in axes[1, :]:
        ax.remove()
    ax_line = fig.add_subplot(gs[1, :])
    style.style_axes(ax_line)
    fig.suptitle(title, fontsize=style.TITLE_SIZE)
    # One scale for all: each its own would make a gradient ten times smaller look the same.
    every = np.concatenate([a[np.isfinite(a)].ravel() for a in arrs.values()] + [np.zeros(0)])
    pos = every[every > 0]
    if pos.size and pos.max() / pos.min() > 10:
        norm: Normalize = LogNorm(vmin=max(pos.min(), pos.max() * 1e-12), vmax=pos.max())
    else:
        hi = float(every.max()) if every.size else 1.0
        norm = Normalize(vmin=0.0, vmax=hi if hi > 0 else 1.0)
    image = None
    for i, ((name, arr), (color, linestyle)) in enumerate(zip(arrs.items(), run_looks(list(arrs), colors), strict=True)):
        ax = axes[0, i]
        ax.grid(False)
        ax.set_title(name, fontsize=style.LABEL_SIZE, color=color)
        ax.set_xlabel(label(how[name], back[name]))
        style.integer_ticks(ax.xaxis)  # (a step is a whole step: no tick at 2.5)
        if i == 0:
            ax.set_ylabel("hidden channel")
        if arr.size == 0:
            style.no_data(ax, "no timesteps recorded")
            continue
        shown = np.where(arr > 0, arr, np.nan) if isinstance(norm, LogNorm) else arr
        # (counted back: the last step at 0, the steps before it at -1, -2, ... written 1, 2, ...)
        x0 = -(arr.shape[0] - 1) if back[name] else 0
        image = ax.imshow(shown.T, aspect="auto", cmap=style.CMAP_MAGNITUDE, norm=norm, interpolation="nearest",
                          extent=(x0 - 0.5, x0 + arr.shape[0] - 0.5, arr.shape[1] - 0.5, -0.5))
        if back[name]:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))
        style.integer_ticks(ax.yaxis)
        per_t, drawable = per_timestep(arr)
        ax_line.plot(x0 + np.arange(arr.shape[0]), np.where(drawable, per_t, np.nan), color=color,
                     linestyle=linestyle, marker="o", markersize=3, linewidth=1.6, label=name)
    if image is not None:
        style.colorbar(fig, image, "|dLoss/dh_t| (one scale for all)")
    ax_line.set_yscale("log")
    ax_line.set_title("mean over channels, per timestep (log scale)", fontsize=style.LABEL_SIZE)
    said = set(how.values())
    ax_line.set_xlabel(label(said.pop(), any(back.values())) if len(said) == 1 else
                       "recurrent step (each run's: see its panel)")
    style.integer_ticks(ax_line.xaxis)
    if any(back.values()):
        ax_line.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))
    ax_line.set_ylabel("mean |dLoss/dh_t|")
    if ax_line.lines:
        ax_line.legend(fontsize=style.NOTE_SIZE, loc="best")
    style.save(fig, None)
    return fig


def render_html(outcome: Any) -> str:
    """``recipe.html``: the ablation with pictures per step."""

    r, metric, head = outcome.result, outcome.metric, outcome.task.headline
    configs: dict[str, Config] = {"baseline": r.baseline}
    scores_of: dict[str, list[float]] = {"baseline": r.baseline_scores}  # what a candidate is compared with
    higher = outcome.task.higher_is_better(outcome.metric)
    sections = []
    for o in r.outcomes:
        rows = []
        for t in o.tried:
            if t.config is not None:
                configs.setdefault(t.label, t.config)
            cls = {"kept": "kept", "scrapped": "scrapped"}.get(_status(t), "na")
            rows.append(f'<tr class="{cls}"><td>{hk.esc(t.label)}</td><td>{hk.esc(t.against)}</td>'
                        f'<td class="num">{hk.esc(_ms(t.scores))}</td><td><b>{hk.esc(_status(t))}</b>: {hk.esc(_why(t))}</td></tr>')
        table = (f"<table><tr><th>tried</th><th>against</th><th>{hk.esc(metric)} (mean ± sd)</th><th>outcome</th></tr>"
                 + "".join(rows) + "</table>") if rows else "<p>nothing to try</p>"
        scores_of.update({t.label: t.scores for t in o.kept})
        decision = decision_figure(o.tried, scores_of, outcome.seeds, metric, higher,
                                   title=f"{o.step.name}: why kept or scrapped ({len(outcome.seeds)} seed"
                                   f"{'s' if len(outcome.seeds) != 1 else ''} × {outcome.plan.describe()} a side)")
        pictures = (hk.img(decision, f"fold scores of {o.step.name}") if decision is not None else "")
        pictures += _pictures(outcome, o, configs)
        for t in o.kept:
            configs[t.label] = t.config
        sections.append(f'<section id="step-{hk.esc(o.step.name)}"><h2>{hk.esc(o.step.name)}</h2>'
                        f'<p class="sub">{hk.esc(o.step.advice)}</p>{table}{pictures}</section>')
    tests = ""
    if outcome.tests:
        with_test = _has_test(outcome.tests)
        guards = _guards(outcome)
        mark = {name: guards.get(name, ("", ""))[0] for name in ("baseline", "final")}
        times, notes = _evaluations(outcome.tests, head)
        tests = (f"<table><tr><th>configuration</th><th>train {hk.esc(head.label)}</th>"
                 + (f"<th>test {hk.esc(head.label)} ({times})</th>" if with_test else "") + "</tr>"
                 + "".join(f"<tr><td>{n}</td><td class='num'>{hk.esc(_test_cell(outcome.tests, n, 'train', head, mark[n]))}</td>"
                           + (f"<td class='num'>{hk.esc(_test_cell(outcome.tests, n, 'test', head, mark[n]))}</td>"
                              if with_test else "")
                           + "</tr>" for n in ("baseline", "final"))
                 + "</table>" + (f"<p class=\"sub\">Both retrained on the whole training split"
                                 f"{hk.esc(_lengths(outcome.tests))}.</p>" if _lengths(outcome.tests) else "")
                 + "".join(f"<p class=\"problem\">{hk.esc(note[0].upper() + note[1:])}.</p>" for note in notes)
                 + "".join(f"<p class=\"{'problem' if m else 'sub'}\">{hk.esc(said)}</p>" for m, said in _guard_lines(guards))
                 + ("" if with_test else f"<p class=\"sub\">{hk.esc(NO_TEST[0].upper() + NO_TEST[1:])}.</p>"))
    kept = [t.label for o in r.outcomes for t in o.kept]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    css = hk.CSS + "tr.kept td { background: #eef6ee; } tr.na td { color: #888; }\n"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>rnnlab recipe: {hk.esc(r.baseline.name or outcome.out.name)}</title>\n<style>{css}</style>\n<script>{hk.SCRIPT}</script>\n"
        f"</head>\n<body>\n<h1>Recipe of {hk.esc(r.baseline.name or outcome.out.name)}</h1>\n<p class=\"sub\">{hk.esc(outcome.out.resolve())} · "
        f"generated {hk.esc(stamp)}</p>\n"
        f"<p>Each candidate: {hk.esc(_seeds(outcome.seeds))} × {hk.esc(outcome.plan.describe())} of the training split, "
        f"{hk.esc(outcome.task.describe(metric))} {hk.esc(_scored_at(outcome))}; the test split is not seen. "
        f"Rule: {hk.esc(_rule(outcome))}.</p>"
        f"<p>Baseline {hk.esc(metric)} {hk.esc(_ms(r.baseline_scores))} → final {hk.esc(_ms(r.final_scores))} "
        f"({hk.esc(', '.join(kept) if kept else 'nothing kept')}).</p>{tests}\n"
        + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def write_recipe_report(outcome: Any) -> tuple[Path, Path]:
    """Write ``recipe.md``, ``recipe.html`` and ``recipe.json``; returns the first two paths."""
    out = outcome.out
    atomic_write_json(out / "recipe.json", {
        "metric": outcome.metric, "seeds": outcome.seeds, "plan": outcome.plan.describe(),
        "baseline_scores": outcome.result.baseline_scores, "final_scores": outcome.result.final_scores,
        "steps": [step_record(o) for o in outcome.result.outcomes], "tests": outcome.tests, "finished": True})
    atomic_write_text(out / "recipe.md", render_markdown(outcome))
    atomic_write_text(out / "recipe.html", render_html(outcome))
    return out / "recipe.md", out / "recipe.html"


__all__ = ["compare_grad_through_time", "decision_figure", "render_html", "render_markdown", "step_record", "write_recipe_report"]
