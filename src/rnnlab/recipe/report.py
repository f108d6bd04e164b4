"""The recipe's ablation: ``DIR/recipe.md``, ``DIR/recipe.html`` and ``DIR/recipe.json``.

One row per candidate tried, step by step: what was tried, its score (mean ± sd over seeds ×
folds of the training split), kept or scrapped and why; then the final configuration and the
single test-split evaluation of the baseline and of the final configuration, side by side. The
HTML page (self-contained, like the run report) adds, per step, the weight-norm evolution and the
gradient through time of the configuration the step started from and of each candidate, side by
side: what each regularizer did to the weights, not only to the score.

Example:
    >>> write_recipe_report(outcome)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab import htmlkit as hk
from rnnlab.config import Config
from rnnlab.recipe.procedure import StepOutcome, Tried
from rnnlab.recipe.steps import recipe_table
from rnnlab.rundir import METRICS, atomic_write_json, atomic_write_text
from rnnlab.tables import with_spread
from rnnlab.task import Metric

RULE = ("a candidate is kept when its mean score beats the configuration kept so far by more than the "
        "standard error of the difference (Welch's form over the seed x fold scores); among several, the "
        "largest gain is kept")


def _ms(scores: list[float]) -> str:
    if not scores:
        return "-"
    return with_spread(float(np.mean(scores)), scores, ddof=1)


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
         "gain": t.verdict.gain if t.verdict else None, "se": t.verdict.se if t.verdict else None}
        for t in o.tried]}


def _test_cell(tests: dict[str, Any], name: str, split: str, metric: Metric) -> str:
    part = (tests.get(name) or {}).get(split)
    return metric.show(part[metric.name]) if part else "-"


def render_markdown(outcome: Any) -> str:
    """``recipe.md``: the ablation table, the final configuration, the test evaluation."""
    r, metric, head = outcome.result, outcome.metric, outcome.task.headline
    lines = [
        "# rnnlab recipe", "",
        f"Base config: `{outcome.out / 'recipe.toml'}`. Each candidate: {len(outcome.seeds)} seeds "
        f"({', '.join(map(str, outcome.seeds))}) × {outcome.plan.describe()} of the training split, "
        f"scored by {outcome.task.describe(metric)} at the last epoch; the test split is not seen. Rule: {RULE}.", "",
        f"Baseline: {metric} {_ms(r.baseline_scores)}", "",
        f"| step | tried | against | {metric} (mean ± sd) | gain | noise (se) | outcome |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in r.outcomes:
        if not o.tried:
            lines.append(f"| `{o.step.name}` | - | | | | | nothing to try |")
        for t in o.tried:
            v = t.verdict
            lines.append(f"| `{o.step.name}` | {t.label} | {t.against} | {_ms(t.scores)} | "
                         f"{f'{v.gain:+.4f}' if v else ''} | {f'{v.se:.4f}' if v else ''} | "
                         f"**{_status(t)}**: {_why(t)} |")
    kept = [t.label for o in r.outcomes for t in o.kept]
    lines += ["", f"Final configuration: {', '.join(kept) if kept else 'the baseline (nothing was kept)'}; "
              f"{metric} {_ms(r.final_scores)}. Runnable: `rnnlab train {outcome.out / 'final.toml'}`.", ""]
    if outcome.tests:
        lines += [f"| configuration | train {head.label} | test {head.label} (evaluated once) |", "|---|---|---|"]
        for name in ("baseline", "final"):
            lines.append(f"| {name} | {_test_cell(outcome.tests, name, 'train', head)} | "
                         f"{_test_cell(outcome.tests, name, 'test', head)} |")
        lines += ["", "Both retrained on the whole training split after the walk; the test split was evaluated "
                  "once for each and chose nothing.", ""]
    lines += ["## The recipe", "", recipe_table(r.baseline), ""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------


def _first_run(outcome: Any, label: str, config: Config) -> Path:
    from rnnlab.recipe.run import candidate_dir

    return candidate_dir(outcome.out, label, config) / f"seed-{outcome.seeds[0]}" / "fold-1"


def _pictures(outcome: Any, o: StepOutcome, configs: dict[str, Config]) -> str:
    """Weight norms and gradient through time of the step's starting point and its candidates."""
    from rnnlab.plots import plot_compare_norms, plot_grad_through_time
    from rnnlab.plots.compare import recurrent_weights
    from rnnlab.report import read_grad_through_time

    scored = [t for t in o.tried if t.config is not None and t.not_applicable is None]
    if not scored:
        return ""
    start = scored[0].against
    runs = {f"{start} (start)": _first_run(outcome, start, configs[start])}
    runs.update({f"{t.label} ({_status(t)})": _first_run(outcome, t.label, t.config) for t in scored})
    runs = {k: v for k, v in runs.items() if (v / METRICS).exists()}
    if not runs:
        return ""
    params = recurrent_weights(list(runs.values()))
    parts = [hk.img(plot_compare_norms(runs, params=params, title=f"{o.step.name}: weight norms (seed "
                                      f"{outcome.seeds[0]}, fold 1)"), f"weight norms of {o.step.name}")]
    cells = []
    for name, run in runs.items():
        gtt, _ = read_grad_through_time(run)
        if gtt:
            fig = plot_grad_through_time(next(iter(gtt.values())), title=f"{name}")
            cells.append(f"<div>{hk.img(fig, f'gradient through time of {name}')}</div>")
    if cells:
        parts.append(f'<div class="side">{"".join(cells)}</div>')
    return "".join(parts)


def render_html(outcome: Any) -> str:
    """``recipe.html``: the ablation with pictures per step."""

    r, metric, head = outcome.result, outcome.metric, outcome.task.headline
    configs: dict[str, Config] = {"baseline": r.baseline}
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
        pictures = _pictures(outcome, o, configs)
        for t in o.kept:
            configs[t.label] = t.config
        sections.append(f'<section id="step-{hk.esc(o.step.name)}"><h2>{hk.esc(o.step.name)}</h2>'
                        f'<p class="sub">{hk.esc(o.step.advice)}</p>{table}{pictures}</section>')
    tests = ""
    if outcome.tests:
        tests = (f"<table><tr><th>configuration</th><th>train {hk.esc(head.label)}</th>"
                 f"<th>test {hk.esc(head.label)} (once)</th></tr>"
                 + "".join(f"<tr><td>{n}</td><td class='num'>{_test_cell(outcome.tests, n, 'train', head)}</td>"
                           f"<td class='num'>{_test_cell(outcome.tests, n, 'test', head)}</td></tr>"
                           for n in ("baseline", "final"))
                 + "</table>")
    kept = [t.label for o in r.outcomes for t in o.kept]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    # A grid, not flex-grow: a third candidate on its own row keeps the size of the others.
    css = hk.CSS + ".side { display: grid; gap: 0.5em; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); }\n" \
        "tr.kept td { background: #eef6ee; } tr.na td { color: #888; }\n"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>rnnlab recipe: {hk.esc(r.baseline.name or outcome.out.name)}</title>\n<style>{css}</style>\n<script>{hk.SCRIPT}</script>\n"
        f"</head>\n<body>\n<h1>Recipe of {hk.esc(r.baseline.name or outcome.out.name)}</h1>\n<p class=\"sub\">{hk.esc(outcome.out.resolve())} · "
        f"generated {hk.esc(stamp)}</p>\n"
        f"<p>Each candidate: {len(outcome.seeds)} seeds × {hk.esc(outcome.plan.describe())} of the training split, "
        f"{hk.esc(outcome.task.describe(metric))} at the last epoch; the test split is not seen. Rule: {hk.esc(RULE)}.</p>"
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


__all__ = ["render_html", "render_markdown", "step_record", "write_recipe_report"]
