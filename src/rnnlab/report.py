"""A self-contained HTML report of a run directory: ``RUN_DIR/report.html``.

One file, no external resource: figures are embedded as base64 PNG data URIs and the style is
inline, so the report can be mailed, archived or opened offline. Sections:

1. fit after training (the ``after_training`` findings: did the model fit its training data,
   does it overfit; :mod:`rnnlab.doctor.fit`; read from ``summary.json``'s ``fit_findings``, else
   ``health.json``; with health checks off and neither, the verdict of ``summary.json``'s
   ``fit_checked``, the checks that found nothing, and the checks it does not name said
   unrecorded: the fit checks are no health checks; a run whose ``summary.json`` has no
   ``train_eval``, such as the Lightning callback's, or a training loop of the user's own, was
   not judged, and the section says so); where the health check (section 3) found warnings or
   errors, the section opens with one line that counts them, names them and links there
   (:func:`_health_pointer`): a run stopped early has no fit judged, and they are its verdict;
2. final metrics (a small table: last epoch's record, and the test split when summarised; a run
   without ``metrics.jsonl``: the last loss its :class:`rnnlab.Tracker` recorded); a forecaster's
   figures first, in one table beside the naive and seasonal-naive forecasts' (rows), each metric
   on each split (columns, MASE first), the best of each column marked;
   a forecaster's forecasts against its series next (:data:`FORECAST_SECTION`,
   :mod:`rnnlab.plots.forecast`: computed from its checkpoint and data as ``rnnlab predict`` does;
   a run whose data or checkpoint is gone says so in one line);
3. health findings (``health.json``), coloured by severity, with numbers, explanation, remedy;
   the title says when the checks ran as far as the run says (:func:`_health_when`): before
   training for the trainers' runs, when ``rnnlab.diagnose`` ran for a loop of the user's own;
   the diagnoses before the latest (health.json's ``earlier``) folded under it;
4. metric curves (``metrics.jsonl``, per epoch; without it, the loss given to
   :meth:`rnnlab.Tracker.step`, per step, from ``tracked.jsonl``; a run of fewer than 5 epochs,
   whose curves would be a few dots: its training loss per step from ``tracked.jsonl`` with the
   epochs' figures where each ended, a one-epoch run without it its figures as a table; the
   budget's decisions marked on the x axis);
5. weight-norm tracking (``tracked.jsonl``: mean/max lines, per-channel histograms over time; then
   the gradient norms, the whole model's first, the update ratios and a target-norm controller's
   groups, each with :func:`rnnlab.plots.plot_norm_lines`; every other statistic recorded there
   is named in a list under them, with why it is not drawn);
6. gradient through time after training (``grad_through_time.json``, see
   :func:`write_grad_through_time`; on the weights the run tested: early stopping's restored
   epoch where it restored one, said in the caption), each layer's picture with a sentence that judges its curve by
   the health check's rule (:func:`rnnlab.doctor.checks.judge_through_time`) and says whether a
   finding of that check before training still holds; where the run recorded the health check's
   curve of the untrained model too, it is drawn dashed beside it and both reaches are given;
7. gates (``gate_activations.json``, see :mod:`rnnlab.introspect.gates_file`): each gated layer's
   per-gate heatmaps (x step, y unit; sigmoid gates on 0 shut … 1 open, tanh on -1 … 1) of the
   tested weights (as the gradient through time's) on the batch of the gradient through time, the untrained model's row above when
   the health check recorded it, and the units of each sigmoid gate stuck shut or open by the
   health check's thresholds; a model without gated layers (RNN, IndRNN), a run that recorded
   none (older runs, tracking off) say so;
8. configuration (the config the run trained with, as text: ``config.toml``, or, when it was
   changed after the run trained, its checkpoint's, under one line naming the changed keys,
   :meth:`rnnlab.rundir.RunDir.read_trained_config`, which every section reads the config by; a
   Lightning callback's run and a loop of the user's own have none by nature).

Who recorded the run (:func:`rnnlab.rundir.recorded_by`: ``rnnlab train``, the Lightning
callback, or the user's own loop with :class:`rnnlab.Tracker` and :func:`rnnlab.diagnose`)
decides what the sections may claim.

A section whose file is missing or empty says "no data recorded"; every name and value from the
run is HTML-escaped. A small inline script sets ``data-broken-images`` on ``<body>`` after load
(the number of images the browser could not decode), which the browser test reads.

Example:
    >>> import tempfile
    >>> from rnnlab.rundir import RunDir
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.append(run.metrics, {"epoch": 1, "train_loss": 0.7})
    >>> path = write_report(run.path)
    >>> path.name, "no data recorded" in path.read_text()
    ('report.html', True)
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from matplotlib.figure import Figure

from rnnlab import htmlkit as hk
from rnnlab.doctor.fit import skill_reference
from rnnlab.errors import RnnlabError
from rnnlab.gates import GATE_LABELS
from rnnlab.introspect.gates_file import GateSummary, read_gate_activations
from rnnlab.introspect.through_time_file import read_grad_through_time, write_grad_through_time
from rnnlab.plots.evaluated import data_notes
from rnnlab.plots.heatmap import plot_activation_heatmaps
from rnnlab.plots.metrics import (
    LABELS,
    PANELS,
    baselines_of,
    load_metrics,
    penalized_of,
    plot_metrics,
    restored_epoch,
    run_name,
    tracked_loss_records,
)
from rnnlab.plots.norms import (
    CONTROLLER,
    is_parameter,
    is_weight,
    own_name,
    plot_norm_histograms,
    plot_norm_lines,
    reading_order,
)
from rnnlab.plots.through_time import plot_grad_through_time, steps, unjudged_reach
from rnnlab.rundir import GATE_ACTIVATIONS as GATES_FILE
from rnnlab.rundir import (
    GRAD_THROUGH_TIME,
    HEALTH,
    METRICS,
    PARAM_GROUPS,
    PARTIAL_KEYS,
    RECORDED_BY_LIGHTNING,
    RECORDED_BY_OWN_LOOP,
    SUMMARY,
    TRACKED,
    RunDir,
    atomic_write_text,
    partial_epoch,
    recorded_by,
)
from rnnlab.shellcmd import shell_command
from rnnlab.tracker import NORMS, TrackedGates, read_tracked

T = TypeVar("T")  # what a section computes from the run (:func:`_from_the_run`)

# --- HTML pieces ---------------------------------------------------------------------------------

#: Sections in page order: what went wrong first, the long configuration text last; the titles of
#: a run of rnnlab train (the health section's says when its checks ran: :func:`_health_when`).
SECTIONS = (
    ("fit", "Fit after training"),
    ("final-metrics", "Final metrics"),
    ("health", "Health findings before training"),
    ("metric-curves", "Metric curves"),
    ("weight-norms", "Weight-norm tracking"),
    ("gradient-through-time", "Gradient through time after training"),
    ("gates", "Gates"),
    ("configuration", "Configuration"),
)
#: A forecasting run's section, after the final metrics: how the forecasts look against the series.
FORECAST_SECTION = ("forecasts", "Forecasts against the series")
#: A regression run's section, after the final metrics: its predictions against the targets.
REGRESSION_SECTION = ("predictions", "Predictions against the targets")
#: A per-step classification run's section there: which steps and which classes are wrong.
STEP_CLASSES_SECTION = ("predictions", "Predictions by step and class")


# --- sections ------------------------------------------------------------------------------------


#: Why a run has no config.toml by nature, by who recorded it (:func:`rnnlab.rundir.recorded_by`).
NO_CONFIG_BY_DESIGN = {
    RECORDED_BY_LIGHTNING: "the Lightning callback (rnnlab.lightning.RnnlabCallback) recorded this run, whose "
                           "configuration is the LightningModule's code and the Trainer's arguments",
    RECORDED_BY_OWN_LOOP: "a training loop of your own recorded this run with rnnlab.Tracker and rnnlab.diagnose, "
                          "whose configuration is that code",
}
#: Who did not measure the trained model on its whole training split, so the fit was not judged.
NOT_MEASURED_BY = {
    RECORDED_BY_LIGHTNING: "the Lightning callback does not measure",
    RECORDED_BY_OWN_LOOP: "rnnlab.Tracker and rnnlab.diagnose alone do not measure (nor write summary.json)",
}

#: Final-metrics rows whose key alone does not say what the number is.
ROW_LABELS = {"time": "time (seconds, this epoch)"}
#: What an epoch record's ``train_`` figures are: the mean over the epoch's batches as it trained
#: (dropout, input noise on, the weights moving), not the trained model evaluated on the training
#: split, which the Fit section's findings and ``rnnlab compare`` give under the same names.
TRAINING_MODE = "training mode"


def _record_label(key: str, epoch: str = "last epoch") -> str:
    """The name a ``metrics.jsonl`` key is shown under in a table: a ``train_`` figure says that it
    is ``epoch``'s in training mode (:data:`TRAINING_MODE`).

    >>> _record_label("train_acc"), _record_label("val_acc")
    ('train_acc (last epoch, training mode)', 'val_acc')
    """
    if key in ROW_LABELS:
        return ROW_LABELS[key]
    return f"{key} ({epoch}, {TRAINING_MODE})" if key.startswith("train_") else key


def _final_metrics(rd: RunDir, records: list[dict[str, Any]] | Exception) -> str:
    if isinstance(records, Exception):
        return hk.problem("final metrics", records)
    if not records:
        return _last_tracked_loss(rd)
    last = records[-1]
    # (a train_loss with the AR/TAR penalty in it is no loss of the split: said, beside the evaluated one)
    minimized = penalized_of(rd)
    rows = [(_record_label(k)[:-1] + ", AR/TAR penalty included)" if k == "train_loss" and minimized
             else _record_label(k), v) for k, v in last.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in PARTIAL_KEYS]
    summary = rd.read_summary()
    if summary is not None:
        for split in ("test", "train_eval"):
            part = summary.get(split) if isinstance(summary, dict) else None
            if isinstance(part, dict):
                prefix = "test" if split == "test" else "train (eval)"
                # (a forecaster's skill is over its reference: the forecast it learns corrections to)
                ref = summary.get("reference")
                over = skill_reference(ref).replace("_", " ") if isinstance(ref, str) else ""
                rows += [(f"{prefix} {k}" + (f" (over {over})" if k == "skill" and over else ""), v)
                         for k, v in part.items()]
        best = summary.get("best") if isinstance(summary, dict) else None
        if isinstance(best, dict) and "epoch" in best:
            rows.append(("best epoch (validation)", best["epoch"]))
        rows += _text_rows(summary)
    body = "".join(f'<tr><th>{hk.esc(k)}</th><td class="num">{hk.num(v)}</td></tr>' for k, v in rows)
    restored = restored_epoch(rd)
    # (the epoch rows are the last epoch's, the evaluated ones those of the weights early stopping restored)
    which = "" if restored is None else \
        f"; the test and train (eval) rows: the weights of epoch {hk.num(restored)}, restored by early stopping"
    compared = hk.guarded(f"{SUMMARY}'s baselines", lambda: _baseline_table(summary, restored))
    cut = partial_epoch(last)  # (its training rows: a mean over the steps it took, not a whole epoch's)
    which = (f" (partial: {hk.num(cut[0])} of its {hk.num(cut[1])} steps, where the budget ended)" if cut else "") + which
    return (f"{compared}<p class='sub'>after epoch {hk.num(last.get('epoch', len(records)))}{which}</p>"
            f"<table>{body}</table>" + hk.guarded("the figures by class", lambda: _by_class(rd)))


def _by_class(rd: RunDir) -> str:
    """A sequence classifier's figures class by class on the split the run evaluated (the test
    split of a run with test figures, else its validation part: :mod:`rnnlab.plots.evaluated`),
    computed from its checkpoint and data as its figures score them: each class's series, recall
    and precision, the balanced accuracy, what the majority class alone scores, and the confusion
    matrix (:mod:`rnnlab.plots.confusion`); "" for another task (a per-step classification's classes
    are under its predictions section, from the same :func:`_class_figures`)."""
    if _task_kind(rd) != "classification":
        return ""
    from rnnlab.plots.confusion import class_predictions, plot_confusion_matrix

    points = _from_the_run(rd, "No figures by class", class_predictions)
    if isinstance(points, str):
        return points
    confusion = points.confusion()
    defined, baseline, table = _class_figures(rd, confusion, points.names, "series")
    figures = "training (eval)" if points.split == "training" else points.split
    lead = (f"<p class='sub'>Class by class: the model the run evaluated on the {points.split} split"
            f"{hk.esc(points.why)}, its {hk.num(int(confusion.sum()))} series, as the run's {figures} figures score "
            f"them. {defined}</p>{baseline}")
    return (lead + table + hk.img(plot_confusion_matrix(confusion, points.names, split=points.split),
                                  f"confusion matrix of the classes, {points.split} split"))


def _class_figures(rd: RunDir, confusion: Any, names: list[str], unit: str) -> tuple[str, str, str]:
    """What a classifier's ``confusion`` matrix (rows the actual class of ``names``, each item a
    ``unit``: "series" or "steps") says class by class, as :func:`rnnlab.task.class_figures`
    computes it and summary.json records it: the sentence defining recall and precision, the
    paragraph of the balanced accuracy and of what the majority class alone scores (the
    training part's, from summary.json, where it has one: what a model that learnt nothing
    predicts), and the table of each class's items, recall and precision."""
    from rnnlab.task import class_figures

    summary = rd.read_summary() or {}
    trained = summary.get("train_eval_by_class")
    majority = trained.get("majority") if isinstance(trained, dict) and trained.get("majority") in names else None
    f = class_figures(confusion, names, majority)

    def share(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    defined = (f"Recall: the share of a class's {unit} predicted right; precision: the share of the {unit} "
               "predicted as the class that are of it (— where none is).")
    baseline = (f"<p>Balanced accuracy {share(f['balanced_acc'])} (the mean of the classes' recall, scikit-learn's "
                f"balanced_accuracy_score); the {'training split' + chr(39) + 's ' if majority else ''}majority class "
                f"alone ({hk.esc(f['majority'])}, {hk.num(f['count'].get(f['majority'], 0))} of "
                f"{hk.num(int(confusion.sum()))} {unit} here) scores {share(f['majority_rate'])}: the accuracy a model "
                "that learnt nothing reaches by always predicting it.</p>")
    rows = "".join(f"<tr><th>{hk.esc(name)}</th><td class=\"num\">{hk.num(f['count'][name])}</td>"
                   f"<td class=\"num\">{share(f['recall'][name])}</td><td class=\"num\">{share(f['precision'][name])}"
                   "</td></tr>" for name in names[:MAX_CLASS_ROWS])
    more = (f"<p class='sub'>… {len(names) - MAX_CLASS_ROWS} more classes not listed.</p>"
            if len(names) > MAX_CLASS_ROWS else "")
    table = (f"<table><tr><th>class</th><th>{unit}</th><th>recall</th><th>precision</th></tr>{rows}</table>"
             f"{more}")
    return defined, baseline, table


def _no_metrics(rd: RunDir) -> str:
    """"No data" for a run without metrics.jsonl nor a tracked loss."""
    also = f", and {TRACKED} holds no loss (Tracker.step(loss) records it)" if rd.tracked.exists() else ""
    return hk.no_data(f"{METRICS} is missing or empty{also}")


def _last_tracked_loss(rd: RunDir) -> str:
    """The final metrics of a run without metrics.jsonl (a training loop of the user's own): the
    last loss its Tracker recorded, and what it is not."""
    losses = tracked_loss_records(rd)
    if not losses:
        return _no_metrics(rd)
    last = losses[-1]
    return (f"<p class='sub'>No per-epoch metrics ({METRICS}, which rnnlab train and the Lightning callback "
            f"write): the last loss given to rnnlab.Tracker.step ({TRACKED}), the loss of that step's batch; "
            "no validation or test figure was recorded.</p>"
            f"<table><tr><th>loss at step {hk.num(last['step'])}</th>"
            f"<td class=\"num\">{hk.num(last['tracked_loss'])}</td></tr></table>")


#: The comparison's rows: the model, then summary.json ``baselines``' forecasts.
COMPARED = (("model", "model"), ("naive", "naive"), ("seasonal_naive", "seasonal naive"))
#: Its metrics first (the score, then the errors in the data's units); any other after them.
COMPARED_METRICS = ("mase", "mae", "rmse", "loss")
#: The comparison's splits and their names: the model's train (eval) and test figures measure the
#: evaluated weights on the steps the references are scored on; its validation figures are that
#: epoch's record.
SPLIT_NAMES = {"train": "train (eval)", "val": "validation", "test": "test"}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _baseline_table(summary: Any, restored: int | None) -> str:
    """A forecaster's figures beside the naive and seasonal-naive forecasts (summary.json
    ``baselines``, scored on the same steps): rows model / naive / seasonal naive, columns each
    metric (MASE first) on each split, the best of each column marked; "" for another run."""
    baselines = summary.get("baselines") if isinstance(summary, dict) else None
    if not isinstance(baselines, dict) or not baselines:
        return ""
    from rnnlab.task import FORECASTING

    better = {m.name: m.higher_is_better for m in FORECASTING.metrics}  # (each metric says its direction)
    # the weights the test and train (eval) figures measure: the restored epoch's record, else the last
    epoch = summary.get("best") if restored is not None else summary.get("final")
    model = {"train": summary.get("train_eval"), "test": summary.get("test"),
             "val": {k.removeprefix("val_"): v for k, v in epoch.items() if k.startswith("val_")}
             if isinstance(epoch, dict) else None}
    splits = [s for s in SPLIT_NAMES if isinstance(baselines.get(s), dict)]
    values: dict[tuple[str, str, str], float] = {}
    for split in splits:
        for row, _ in COMPARED:
            part = model.get(split) if row == "model" else baselines[split].get(row)
            for k, v in (part.items() if isinstance(part, dict) else ()):
                if _is_number(v):
                    values[row, split, k] = float(v)
    found = {k for _, _, k in values}
    metrics = [m for m in COMPARED_METRICS if m in found] + sorted(found - set(COMPARED_METRICS))
    columns = [(m, s) for m in metrics for s in splits
               if any((row, s, m) in values for row, _ in COMPARED if row != "model")]
    best = {}
    for m, s in columns:
        scores = [values[row, s, m] for row, _ in COMPARED if (row, s, m) in values]
        best[m, s] = max(scores) if better.get(m, False) else min(scores)
    head = "".join(f'<th colspan="{sum(c[0] == m for c in columns)}">{hk.esc(METRIC_NAMES.get(m, m))}</th>'
                   for m in metrics if any(c[0] == m for c in columns))
    sub = "".join(f"<th>{hk.esc(SPLIT_NAMES[s])}</th>" for _, s in columns)
    body = ""
    for row, label in COMPARED:
        cells = ""
        for m, s in columns:
            v = values.get((row, s, m))
            mark = v is not None and v == best[m, s]
            what = f"{s} {m} of {label}"  # (the cell's meaning on hover)
            cells += (f'<td class="num" title="{hk.esc(what)}"'
                      + (f' data-best="1" style="{BEST_STYLE}">' if mark else ">")
                      + ("" if v is None else hk.num(v)) + "</td>")
        body += f"<tr><th>{hk.esc(label)}</th>{cells}</tr>"
    return (f"<p class='sub'>The model against the naive forecast (every step ahead the last value read) and the "
            f"seasonal-naive one (the value a season earlier), scored on the same steps{_which_weights(restored)}. "
            f"{_guard_said(summary)}<b>Bold</b>: the best of each column (the lowest error). {_mase_said(values, splits)}</p>"
            f"<table><tr><th rowspan=\"2\">forecast</th>{head}</tr><tr>{sub}</tr>{body}</table>")


def _mase_said(values: dict[tuple[str, str, str], float], splits: list[str]) -> str:
    """What a MASE of the comparison is measured against: the mean one-step seasonal-naive error
    over the training part (each series' own, for several), one scale for every column; so seasonal naive itself scores
    not 1 but its own figure on each block (``values``: (row, split, metric) -> value), the one
    the model must beat there."""
    own = [f"{SPLIT_NAMES[s]} {hk.num(values['seasonal_naive', s, 'mase'])}" for s in splits
           if ("seasonal_naive", s, "mase") in values]
    if not own:
        return ""
    return ("MASE is the error over the mean one-step seasonal-naive error of the training part (of several series, "
            "each series over its own and the run's MASE their mean; one scale for every column); the steps each "
            "column scores are not that part, so seasonal naive itself does not score "
            f"1 but {', '.join(own)}: the model beats it where its MASE is below seasonal naive's in the same column.")


#: How the comparison names its metrics.
METRIC_NAMES = {"mase": "MASE", "mae": "MAE (data units)", "rmse": "RMSE (data units)",
                "loss": "loss (scaled units)"}
#: The best cell of a column of the comparison (inline: the report's style sheet is shared).
BEST_STYLE = "font-weight:bold;background:#e3f1e6"


def _guard_said(summary: dict[str, Any]) -> str:
    """What the mean guard's choice makes of the model's row: its train (eval) and test figures
    are the reference forecast's when the guard chose it."""
    guard = summary.get("mean_guard")
    if not isinstance(guard, dict) or guard.get("kept", True):
        return ""
    return (f"The run's mean guard chose {hk.esc(guard.get('baseline', 'the reference forecast'))} over the model: "
            "the model row's train (eval) and test figures are that forecast's. ")


def _which_weights(restored: int | None) -> str:
    return "" if restored is None else \
        f"; the model's figures: the weights of epoch {hk.num(restored)}, restored by early stopping"


def _text_rows(summary: Any) -> list[tuple[str, Any]]:
    """A language model's vocabulary size and unknown tokens of each part (summary.json ``text``)."""
    text = summary.get("text") if isinstance(summary, dict) else None
    if not isinstance(text, dict):
        return []
    unknown, tokens = text.get("unknown"), text.get("tokens")
    rows: list[tuple[str, Any]] = [("vocabulary (<unk> included)", text.get("vocabulary"))]
    if isinstance(unknown, dict) and isinstance(tokens, dict):
        rows += [(f"{split} unknown tokens (of {tokens.get(split)})", n) for split, n in unknown.items()]
    return rows


def _configuration(rd: RunDir) -> str:
    if not rd.config.exists():
        why = NO_CONFIG_BY_DESIGN.get(recorded_by(rd.path) or "")
        if why is not None:  # (not a warning: such a run has no rnnlab config to show)
            return (f"<p>{rd.config.name} is missing by design: {hk.esc(why)} ({rd.config.name} is what rnnlab "
                    "train writes).</p>" + _resume_history(rd, configured=False))
        return hk.no_data(f"{rd.config.name} is missing")
    # (the config the run trained with: a config.toml edited after it would misstate the run)
    try:
        trained = rd.read_trained_config()
    except hk.SECTION_ERRORS:  # (an invalid config.toml without a checkpoint: shown as it is, as before)
        trained = None
    edited = trained.edited_line() if trained is not None else ""
    text = trained.text if trained is not None and edited else rd.config.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        return hk.no_data(f"{rd.config.name} is empty")
    lead = f'<p class="problem">{hk.esc(edited)}.</p>' if edited else ""
    noted = hk.guarded("the data's warnings", lambda: _data_notes_html(rd))  # (nor do broken notes)
    adapted = hk.guarded(rd.adapt.name, lambda: _adapted(rd))  # (a broken adapt.json hides no config)
    made = hk.guarded("the versions", lambda: _versions_html(rd)) + hk.guarded(rd.timing.name, lambda: _cost_html(rd))
    # (which parameters each decay rule took: the TOML names roles, the groups name parameters)
    selected = hk.guarded(PARAM_GROUPS, lambda: _decay_groups_html(rd, trained))
    return f"{lead}{made}{noted}{adapted}{_resume_history(rd, configured=True)}{selected}<pre>{hk.esc(text)}</pre>"


def _decay_groups(rd: RunDir) -> tuple[list[dict[str, Any]], str, str | None]:
    """The optimizer's groups of the run (``param_groups.json``; a run of an rnnlab before it: its
    last checkpoint's optimizer groups, which name no frozen parameter), where they were read, and
    the optimizer; no groups where neither is there."""
    from rnnlab.rundir import read_json

    path = rd.path / PARAM_GROUPS
    if path.exists():
        record = read_json(path)
        groups = record.get("groups") if isinstance(record, dict) else None
        where, optimizer = PARAM_GROUPS, record.get("optimizer") if isinstance(record, dict) else None
    elif rd.last_checkpoint.exists():
        from rnnlab.train.checkpoint import load_checkpoint

        state = load_checkpoint(rd.last_checkpoint).get("optimizer")
        groups = state.get("param_groups") if isinstance(state, dict) else None
        where, optimizer = f"the optimizer groups of checkpoints/{rd.last_checkpoint.name}", None
        groups = [{**g, "params": g.get("param_names")} for g in groups or [] if isinstance(g, dict)]
    else:
        return [], "", None
    if not (isinstance(groups, list) and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                             for g in groups)):
        raise ValueError(f"{where}: expected a list of groups, each with a list of 'params', got {groups!r:.80}")
    return groups, where, optimizer if isinstance(optimizer, str) else None


def _decay_groups_html(rd: RunDir, trained: Any) -> str:
    """A table of the optimizer's groups: the decay rule that made each (training.decay_rules[i] and
    what it selects by), its settings, and the parameters it holds (the frozen ones marked: no decay
    moves them); the default groups hold what no rule took. Nothing for a run without the record."""
    groups, where, optimizer = _decay_groups(rd)
    if not groups:
        return ""
    training = trained.config.training if trained is not None else None
    rules = training.decay_rules if training is not None else []
    optimizer = optimizer or (training.optimizer if training is not None else None)
    body = ""
    for g in groups:
        i = g.get("rule")
        if not isinstance(i, int) or isinstance(i, bool):  # (a checkpoint's group: its rule by label)
            labels = [r.label if r.label is not None else f"rule{n}" for n, r in enumerate(rules)]
            i = labels.index(g.get("name")) if g.get("name") in labels else None
        if i is not None and i < len(rules):
            r = rules[i]
            picked = ", ".join(f"{k} = {v!r}".replace("'", '"') for k, v in (("role", r.role), ("name", r.name))
                               if v is not None)
            rule = f"training.decay_rules[{i}]: {picked}"
        elif g.get("name") == "no_decay":
            rule = "no rule: biases, norms and names with 'noreg' (never decayed)"
        else:
            rule = "no rule took them (training.weight_decay)" if g.get("name") == "default" else str(g.get("name"))
        settings = ", ".join(f"{k} {hk.num(g[k])}" for k in ("weight_decay", "l1", "lr_mult")
                             if k in g and (k == "weight_decay" or g[k] != (1.0 if k == "lr_mult" else 0.0)))
        frozen = set(g.get("frozen") or [])
        names = ", ".join(hk.esc(n) + (" <b>(frozen)</b>" if n in frozen else "") for n in g["params"])
        body += (f"<tr><td>{hk.esc(rule)}</td><td>{settings}</td><td>{names}</td></tr>")
    said = {"adam": " adam adds weight_decay·w to the gradient (L2).", "sgd": " sgd adds weight_decay·w to the gradient (L2)."
            }.get(optimizer or "", f" {optimizer} decays apart from the gradient: each step multiplies the weights by "
                                   "1 − lr·weight_decay." if optimizer else "")
    return (f"<p class='sub'>Which parameters each decay rule selected ({hk.esc(where)}); the rows with no rule hold "
            f"the parameters left to the default groups.{hk.esc(said)}"
            + (" A frozen parameter (requires_grad=False) is not changed by its group's decay." if any(
                g.get("frozen") for g in groups) else "")
            + f"</p><table><tr><th>rule</th><th>settings</th><th>parameters</th></tr>{body}</table>")


def _cost_html(rd: RunDir) -> str:
    """What the run cost (``timing.json``, every session's record summed): its seconds, the phases
    that took most of them, the device and precision, and the computation that ran its recurrent
    layer; nothing for a run without the record (a loop of the user's own)."""
    from rnnlab.layers.computation import COMPUTATION_WORDS

    timing = rd.read_timing()
    if not timing:
        return ""
    sessions = [t for t in (*(timing.get("earlier_sessions") or []), timing) if isinstance(t, dict)]
    phases: dict[str, float] = {}
    for t in sessions:
        for name, value in {**(t.get("seconds") or {}), "other": t.get("other", 0.0)}.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                phases[name] = phases.get(name, 0.0) + float(value)
    total = sum(float(t["total"]) for t in sessions if isinstance(t.get("total"), (int, float)))
    most = sorted(((v, k) for k, v in phases.items() if v >= 0.05), reverse=True)[:4]
    spent = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for v, k in most)
    where = [str(timing["device"])] if isinstance(timing.get("device"), str) else []
    if timing.get("precision") is not None:
        where.append("bfloat16 autocast" if timing["precision"] == "bf16" else "float32")
    computed = timing.get("computation")
    if isinstance(computed, dict) and all(v in COMPUTATION_WORDS for v in computed.values()):
        train, evaluate = (COMPUTATION_WORDS[computed.get(m, "")] for m in ("training", "evaluation"))
        where.append(f"with the recurrent layer in {train}" + ("" if train == evaluate else
                                                               f" in training, {evaluate} in evaluation"))
    of = f" over {len(sessions)} sessions" if len(sessions) > 1 else ""
    on = f" on {', '.join(where)}" if where else ""
    return f"<p class='sub'>Cost ({hk.esc(rd.timing.name)}): {total:.1f} s{of}{hk.esc(on)}: {hk.esc(spent)}.</p>"


def _versions_text(versions: Any) -> str | None:
    """``rnnlab 0.1.0, torch 2.13.0, Python 3.11.9`` from a ``versions`` record
    (:func:`rnnlab.train.checkpoint.versions`), or None where there is none to read.

    >>> _versions_text({"rnnlab": "0.1.0", "torch": "2.13.0", "python": "3.11.9"})
    'rnnlab 0.1.0, torch 2.13.0, Python 3.11.9'
    """
    if not isinstance(versions, dict):
        return None
    named = [f"{label} {versions[key]}" for key, label in (("rnnlab", "rnnlab"), ("torch", "torch"), ("python", "Python"))
             if isinstance(versions.get(key), str)]
    return ", ".join(named) or None


def _versions_html(rd: RunDir) -> str:
    """What the run's last session ran on (summary.json's ``versions``; a run still training or
    killed: its last checkpoint's), and each resume that ran on other versions (``resumes.jsonl``);
    nothing for a run of an rnnlab that recorded none."""
    summary = rd.read_summary()
    where, made = SUMMARY, summary.get("versions") if summary is not None else None
    if summary is None and rd.last_checkpoint.exists():
        from rnnlab.train.checkpoint import VERSIONS, load_checkpoint

        where, made = f"checkpoints/{rd.last_checkpoint.name}", load_checkpoint(rd.last_checkpoint).get(VERSIONS)
    text = _versions_text(made)
    if text is None:
        return ""
    others = [f"resumed {r.get('where') or 'after epoch ' + str(r.get('after_epoch'))} with {_versions_text(r['versions'])}"
              for r in rd.read_resumes() if _versions_text(r.get("versions")) not in (None, text)]
    tail = f"; {'; '.join(others)}" if others else ""
    return f"<p class='sub'>The run's last session ran on {hk.esc(text)} ({hk.esc(where)}){hk.esc(tail)}.</p>"


def _data_notes_html(rd: RunDir) -> str:
    """The warnings loading the data gave (:func:`rnnlab.plots.evaluated.data_notes`), as ``rnnlab train`` printed them;
    nothing where there were none or none were recorded."""
    found = data_notes(rd)
    if not found or not found[0]:
        return ""
    notes, where = found
    items = "".join(f"<li>{hk.esc(n)}</li>" for n in notes)
    return (f'<div class="finding warning"><span class="sev">data</span> <b>Loading the data gave '
            f'{hk.num(len(notes))} warning{"s" if len(notes) != 1 else ""}</b> <span class="check">({hk.esc(where)}\'s '
            f"data_notes; rnnlab train printed them as it started)</span><ul>{items}</ul></div>")


#: What every note of :func:`rnnlab.data.stamps.check_dates` says when a column of dates gives the
#: forecast none: a gap, an irregular step, or cells no format reads.
_NO_DATES = "carries no dates"


def _steps_why(rd: RunDir, lines: Any) -> str:
    """Why the forecast picture's x axis counts steps instead of dates, in one sentence."""
    try:
        found = data_notes(rd)
    except hk.SECTION_ERRORS:  # (the configuration section shows what is wrong with them)
        found = None
    dated = [n for n in (found[0] if found else []) if _NO_DATES in n]
    if dated:
        return ("The x axis counts steps, not dates, as loading the data warned (<a href='#configuration'>"
                "Configuration</a>): " + " ".join(hk.esc(n) for n in dated) + ".")
    if lines.count > 1:
        return (f"The x axis counts steps: dates are drawn for a run of one series, and this one has "
                f"{hk.num(lines.count)}.")
    return "The x axis counts steps: the data hold no column of dates read at a fixed step."


def _resume_history(rd: RunDir, configured: bool) -> str:
    """The run's resumes (``resumes.jsonl``); ``configured``: the run follows a config.toml, and
    each resume says which of its keys changed (a Lightning run's resumes know of no config)."""
    resumes = rd.read_resumes()
    if not resumes:
        return ""
    items = []
    for r in resumes:
        changes = ", ".join(f"<code>{hk.esc(k)}</code> {hk.esc(repr(old))} → {hk.esc(repr(new))}"
                            for k, (old, new) in r["changed"].items())
        said = (": " + changes if changes else " with the same config") if configured else ""
        items.append(f"<li>resumed {hk.esc(r.get('where') or 'after epoch ' + hk.num(r['after_epoch']))}{said}</li>")
    lead = "The configuration the run follows now; its history" if configured else "The run's history"
    return f"<p class='sub'>{lead} ({hk.esc(rd.resumes.name)}):</p><ul>{''.join(items)}</ul>"


def _adapted(rd: RunDir) -> str:
    """What the ``[adapt]`` rules decided (``adapt.json``): the shape rules' line and each
    decision of the budget, whose results the configuration below holds."""
    adapt = rd.read_adapt()
    if not adapt:
        return ""
    shape, budget = adapt.get("shape") or {}, adapt.get("budget") or {}
    items = [f"<li>{hk.esc(shape['line'])}</li>"] if isinstance(shape.get("line"), str) else []
    for e in budget.get("events") or []:
        if isinstance(e, dict):
            items.append(f"<li>budget, after step {hk.num(e.get('step'))}: <code>{hk.esc(e.get('decision'))}</code>, "
                         f"the run ends at step {hk.num(e.get('total'))} ({hk.esc(e.get('why'))})</li>")
    if isinstance(budget.get("planned"), int) and not budget.get("events"):
        items.append(f"<li>budget: the planned {hk.num(budget['planned'])} steps, no decision</li>")
    return (f"<p class='sub'>What the rules read from the training split decided "
            f"({hk.esc(rd.adapt.name)}):</p><ul>{''.join(items)}</ul>" if items else "")


#: Epochs below which a run's loss curve is its training loss per step where tracked.jsonl has more
#: points than the records: a curve of a point or two per epoch shows nothing of how training went.
FEW_EPOCHS = 5


def _metric_curves(rd: RunDir, records: list[dict[str, Any]] | Exception) -> str:
    if isinstance(records, Exception):
        return hk.problem("metric curves", records)
    if not records:
        return _tracked_loss_curve(rd)
    if len(records) < FEW_EPOCHS:
        losses = tracked_loss_records(rd)
        # (epochs are placed on the step axis by their records' steps: records without them stay per epoch)
        placed = len(records) == 1 or all(_is_number(r.get("step")) for r in records)
        if len(losses) > len(records) and len(losses) >= 2 and placed:
            return _few_epochs(rd, records, losses)
        if len(records) == 1:
            return _one_epoch(rd, records[0])
    from rnnlab.plots.metrics import budget_decisions, marked_epochs

    restored = restored_epoch(rd)
    fig = plot_metrics(records, title=f"metrics of {run_name(rd)}", restored=restored, baselines=baselines_of(rd),
                       run=rd, labels=_training_mode_labels(), titles=_task_titles(rd))
    # (the curves count epochs, the tracking figures below steps: where the marked epochs lie on those)
    marks = marked_epochs(records, restored, budget_decisions(rd))
    said = ", ".join(f"epoch {hk.num(e)} = step {hk.num(s)} ({hk.esc(what)})" for e, s, what in marks)
    return hk.img(fig, "metric curves") + (
        f"<p class='sub'>Against the epoch; the tracking figures below count optimizer steps: {said}.</p>"
        if marks else "")


def _task_titles(rd: RunDir) -> dict[str, str]:
    """Panel titles of :func:`plot_metrics` for the run's task where it names a metric as the CLI
    does and the panel does not: per-step targets' "per-step accuracy"
    (:attr:`rnnlab.task.Metric.label`), not the "accuracy" of a label per sequence."""
    from rnnlab.task import task_for, task_named

    try:
        task = task_for(rd.read_trained_config().config) if rd.config.exists() else None
    except hk.SECTION_ERRORS:  # (the Configuration section shows why)
        return {}
    if task is None:
        return {}
    plain = {m.name: m.label for m in task_named(task.kind).metrics}
    titles = {}
    for metric in task.metrics:
        said = plain.get(metric.name, metric.label)
        if metric.label != said and metric.label.endswith(said):  # ("per-step " before the sequence task's label)
            titles.update({p.title: metric.label[:-len(said)] + p.title for p in PANELS if metric.key("train") in p.keys})
    return titles


def _training_mode_labels() -> dict[str, str]:
    """Legend labels of the records' ``train_`` curves: they end below the evaluated figures the Fit
    section gives (drawn beside them as a point), being the epochs' training-mode means."""
    return {k: f"{k} ({TRAINING_MODE})" for panel in PANELS for k in panel.keys
            if k.startswith("train_") and k not in LABELS}


def _one_epoch(rd: RunDir, record: dict[str, Any]) -> str:
    """The metric curves of a run of one epoch that recorded no training loss per step: its
    per-epoch figures are one point each (a dot on an axis of nothing), so a table."""
    rows = "".join(f'<tr><th>{hk.esc(_record_label(k, "the epoch"))}</th><td class="num">{hk.num(v)}</td></tr>'
                   for panel in PANELS for k in panel.keys  # (a NaN shown: it is news)
                   if isinstance(v := record.get(k), (int, float)) and not isinstance(v, bool))
    return (f"<p class='sub'>One epoch: each figure is a single value, shown here as a table, not as curves "
            f"(no training loss per step was recorded in {TRACKED} to draw instead).</p><table>{rows}</table>")


def _few_epochs(rd: RunDir, records: list[dict[str, Any]], losses: list[dict[str, Any]]) -> str:
    """The metric curves of a run of fewer than :data:`FEW_EPOCHS` epochs whose tracked.jsonl has
    more points than its records: the training loss per step (:func:`_per_step_figure`)."""
    fig = _per_step_figure(rd, records, losses)
    steps = [r["step"] for r in losses]
    gaps = {b - a for a, b in zip(steps, steps[1:])}
    every = ("at every step" if gaps == {1} else f"every {hk.num(min(gaps))} steps" if len(gaps) == 1
             else "at the steps the records hold")  # (read from the records: who wrote them set how often)
    where = (f"({TRACKED}: recorded at {hk.num(len(steps))} steps from {hk.num(steps[0])} to {hk.num(steps[-1])}, "
             f"{every}, with any penalty such as AR/TAR included)")
    if len(records) == 1:
        return (f"<p class='sub'>One epoch: its figures are single values (under Final metrics), so the curve is the "
                f"training loss per step instead, the loss of each step's batch as training went {where}, and the "
                f"validation loss after the epoch's last step.</p>" + hk.img(fig, "training loss per step"))
    return (f"<p class='sub'>{len(records)} epochs: a point per epoch says little of how training went, so the loss "
            f"curve is the training loss per step, the loss of each step's batch {where}; the other figures are "
            f"the epochs', at the step each epoch ended.</p>" + hk.img(fig, "metric curves per step"))


def _one_epoch_figure(rd: RunDir, record: dict[str, Any], losses: list[dict[str, Any]] | None = None
                      ) -> Figure | None:
    """The training loss per step of a one-epoch run and its validation loss after the epoch
    (:func:`_per_step_figure` of its one record); None when fewer than two steps' losses were recorded."""
    losses = tracked_loss_records(rd) if losses is None else losses
    return _per_step_figure(rd, [record], losses) if len(losses) >= 2 else None


def _per_step_figure(rd: RunDir, records: list[dict[str, Any]], losses: list[dict[str, Any]]) -> Figure:
    """The training loss per step of a short run (``losses``: tracked.jsonl's) against the step,
    with its records (metrics.jsonl) at the step each epoch ended: of one epoch, its validation loss
    alone (its other figures are single values); of more, every figure but the epochs' mean training
    loss, which the loss per step draws in full."""
    one = len(records) == 1
    keep = {"val_loss"} if one else set().union(*records) - {"train_loss"}
    points = [*losses, *({"step": r["step"], "epoch": r.get("epoch"), **{k: r[k] for k in keep if k in r}}
                         for r in records if _is_number(r.get("step")))]
    epoch = hk.num(records[0].get("epoch", 1))
    labels = {**_training_mode_labels(), "tracked_loss": "training loss (the step's batch)",
              "val_loss": f"val_loss (after epoch {epoch})" if one else "val_loss (after each epoch)"}
    title = (f"loss of {run_name(rd)} per step (epoch {epoch})" if one
             else f"metrics of {run_name(rd)} per step ({len(records)} epochs)")
    return plot_metrics(points, title=title, x="step", run=rd, labels=labels, titles=_task_titles(rd))


def _tracked_loss_curve(rd: RunDir) -> str:
    """The metric curves of a run without metrics.jsonl (a training loop of the user's own): the
    loss it gave rnnlab.Tracker.step, per step, with where it comes from."""
    losses = tracked_loss_records(rd)
    if not losses:
        return _no_metrics(rd)
    steps = [r["step"] for r in losses]
    lead = (f"<p class='sub'>The loss given to rnnlab.Tracker.step, per step ({TRACKED}: recorded at "
            f"{hk.num(len(steps))} step{'s' if len(steps) != 1 else ''} from {hk.num(steps[0])} to "
            f"{hk.num(steps[-1])}; the Tracker records it at every step the loop passed one; a file written before rnnlab did so holds it "
            f"every weights_every steps only), each "
            f"the loss of that step's batch. This run has no {METRICS} (the per-epoch metrics rnnlab train and the "
            "Lightning callback write): no validation, accuracy or learning-rate curve.</p>")
    return lead + hk.img(plot_metrics(losses, title=f"loss of {run_name(rd)} (tracked.jsonl)", x="step"),
                         "loss per step")


def _task_kind(rd: RunDir) -> str | None:
    """The task the run's config.toml names (``[task] kind``; ``"per-step classification"`` for a
    classification with ``per_step = true``, whose predictions are pictured otherwise); None for a
    run without one, or a broken one: it does not say, and the Configuration section shows why."""
    try:
        task = rd.read_trained_config().config.task if rd.config.exists() else None
    except hk.SECTION_ERRORS:
        return None
    if task is None:
        return None
    return "per-step classification" if task.kind == "classification" and task.per_step else task.kind


def _from_the_run(rd: RunDir, nothing: str, compute: Callable[[RunDir], T]) -> T | str:
    """What ``compute`` draws from the run's checkpoint and data (a picture of its forecasts or
    predictions), or the one line that says why there is none (``nothing``: its start): no
    checkpoint, data moved or changed since the run, another error of the run's."""
    from rnnlab.errors import DataError, RnnlabError

    if not (rd.last_checkpoint.exists() or rd.best_checkpoint.exists()):
        return (f"<p class='nodata'>{nothing}: the run has no checkpoint to compute it from "
                f"({hk.esc(rd.last_checkpoint)} is missing: the run has not finished, or kept no weights, as a "
                "search's trial may not).</p>")
    try:
        return compute(rd)
    except DataError as err:  # (moved, deleted or changed since the run: the picture needs it)
        return f"<p class='nodata'>{nothing}: the run's data could not be read again ({hk.esc(err)}).</p>"
    except RnnlabError as err:
        return f"<p class='nodata'>{nothing}: {hk.esc(err)}.</p>"


def _forecasts(rd: RunDir) -> str:
    """A forecaster's forecasts against its series (:mod:`rnnlab.plots.forecast`), computed from
    its checkpoint and data as ``rnnlab predict`` forecasts; a run whose data or checkpoint is not
    there says so in one line."""
    import numpy as np

    from rnnlab.plots.forecast import MAX_CHANNELS, forecast_lines, plot_forecast, window_start

    def _mase_cell(value: float) -> str:
        return "-" if not np.isfinite(value) else f"{value:.4g}"

    lines = _from_the_run(rd, "No forecast picture", forecast_lines)
    if isinstance(lines, str):
        return lines
    h, channels = lines.horizon, lines.columns
    ahead = f"1 and {h} steps ahead" if h > 1 else "1 step ahead"
    block = f"{lines.block} block" if lines.block else "series (it holds out no block)"
    origins = (f"from each of its {hk.num(len(lines.origins))} origins (the steps whose {h} step{'s' if h > 1 else ''} "
               f"ahead lie inside it, which the run's {lines.block} figures score)" if lines.block else "")
    reference = lines.reference.replace("_", " ")
    lead = (f"<p class='sub'>The model the run evaluated forecasting the {hk.esc(block)} {origins}, {ahead}, each "
            f"forecast drawn at the step it is for, beside the naive and seasonal-naive forecasts {h} "
            f"step{'s' if h > 1 else ''} ahead (naive dotted and seasonal naive dashed, both drawn above the model: a "
            f"model that learned little lies under one of them, and the legend says where lines coincide); after "
            + (f"the series' end, the next {h} step{'s' if h > 1 else ''} as "
               f"<code>{hk.esc(shell_command('rnnlab', 'predict', rd.path.resolve()))}</code> writes them (forecast.csv)" if not lines.cut else
               f"the end of the validation block{hk.esc(lines.cut)}, the next {h} step{'s' if h > 1 else ''}: the "
               "steps after that block are not drawn")
            + ". In the data's units"
            + (f"; the model learns corrections to the {hk.esc(reference)} forecast (task.relative_to)"
               if lines.reference != "none" else "") + ".</p>")
    start, L = window_start(lines), len(lines.values)
    if lines.block and start > {"test": lines.bounds.val, "validation": lines.bounds.train}[lines.block]:
        lead += (f"<p class='sub'>Drawn: the last {hk.num(L - start)} steps" +
                 (f" ({L - start} / {lines.season} = {(L - start) / lines.season:.2g} seasons)" if lines.season > 1 else "")
                 + f", where each forecast can be told apart; each panel's MASE is over the whole {hk.esc(lines.block)} "
                 "block.</p>")
    mase = lines.mase()
    if mase and len(channels) > 1:
        # (the run's MASE is the mean over its channels: one channel forecast well can hide another's)
        first = f" of {lines.which()}" if lines.count > 1 else ""
        cells = "".join(f"<tr><td>{hk.esc(name)}</td>" + "".join(f'<td class="num">{_mase_cell(v[c])}</td>'
                                                                 for v in mase.values()) + "</tr>"
                        for c, name in enumerate(channels))
        mean = "".join(f'<td class="num">{_mase_cell(float(np.nanmean(v)) if np.isfinite(v).any() else np.nan)}</td>'
                       for v in mase.values())
        lead += (f"<p class='sub'>{hk.esc(lines.block.capitalize())} MASE of each channel{first} (the run's "
                 f"{hk.esc(lines.block)} MASE is their mean):</p><table><tr><th>channel</th>"
                 + "".join(f"<th>{hk.esc(k)}</th>" for k in mase) + f"</tr>{cells}"
                 f"<tr><td><i>mean</i></td>{mean}</tr></table>")
    if lines.dates is None:
        lead += f"<p class='sub'>{_steps_why(rd, lines)}</p>"
    if not lines.kept:
        lead += (f"<p>The run's mean guard chose the {hk.esc(reference)} forecast over the model: the model's lines "
                 f"are that forecast, as the run's {hk.esc(lines.block or 'test')} figures and rnnlab predict's forecast "
                 "are.</p>")
    notes = []
    if lines.count > 1:
        notes.append(f"{lines.which()}, drawn")
    if len(channels) > MAX_CHANNELS:
        rest = channels[MAX_CHANNELS:]
        notes.append(f"{len(rest)} more channel{'s' if len(rest) > 1 else ''} not drawn: "
                     + hk.esc(", ".join(rest[:8])) + (", …" if len(rest) > 8 else ""))
    # (a table has room for more channels than the figure's panels, not for any number of them)
    shown, left = channels[:MAX_AFTER_COLUMNS], channels[MAX_AFTER_COLUMNS:]
    when = lines.after_dates or [str(len(lines.values) + k) for k in range(h)]
    head = "<th>date</th>" if lines.after_dates else "<th>step</th>"
    rows = "".join(f"<tr><td>{hk.esc(w)}</td>" + "".join(f'<td class="num">{hk.num(float(v))}</td>'
                                                          for v in lines.after[k, :len(shown)]) + "</tr>"
                   for k, w in enumerate(when[:MAX_AFTER_ROWS]))
    out = [f"{h - MAX_AFTER_ROWS} more steps"] if h > MAX_AFTER_ROWS else []
    out += [f"{len(left)} more channel{'s' if len(left) > 1 else ''} ({', '.join(left[:8])}"
            + (", …" if len(left) > 8 else "") + ")"] if left else []
    more = f"<p class='sub'>… {hk.esc(' and '.join(out))} in rnnlab predict's forecast.csv</p>" if out else ""
    table = (f"<p class='sub'>The forecast after the end:</p><table><tr>{head}"
             + "".join(f"<th>{hk.esc(c)}</th>" for c in shown) + f"</tr>{rows}</table>{more}")
    return (lead + (f"<p class='sub'>{'; '.join(notes)}.</p>" if notes else "")
            + hk.img(plot_forecast(lines), "forecasts against the series") + table)


#: Rows of the forecast-after-the-end table (forecast.csv holds them all).
MAX_AFTER_ROWS = 24
#: Channel columns of that table (its note names the others, which forecast.csv holds).
MAX_AFTER_COLUMNS = 12


def _predictions(rd: RunDir) -> str:
    """A regression run's predictions against its targets on the split the run evaluated (the
    test split of a run with test figures, else its validation part, a fold run's fold:
    :mod:`rnnlab.plots.evaluated`; :mod:`rnnlab.plots.regression`), computed from its checkpoint and data as
    ``rnnlab predict`` predicts, with each target's RMSE, MAE and R² in its own units; a run whose
    data or checkpoint is not there says so in one line."""
    from rnnlab.plots.regression import MAX_TARGETS, plot_predictions, regression_points

    points = _from_the_run(rd, "No picture of the predictions", regression_points)
    if isinstance(points, str):
        return points
    names, n, K = points.names, len(points.actual), len(points.names)
    what = (f"{hk.num(n)} valid steps of its {hk.num(points.series)} series, a point each" if points.per_step
            else f"{hk.num(points.series)} series, a point each")
    figures = "training (eval)" if points.split == "training" else points.split
    lead = (f"<p class='sub'>The model the run evaluated predicting the {points.split} split{hk.esc(points.why)}: "
            f"its {what}, predicted against actual in the data's units, the values the run's {figures} figures "
            "score. On the dashed line y = x a "
            "prediction is exact; the dotted line is the training mean, what a model of R² 0 predicts.</p>")
    if K > 1:
        lead += (f"<p>The run's RMSE and MAE (Final metrics, the metric curves) pool its {K} targets: the error over "
                 "every value of every target, each in its own units, so the target of the largest scale outweighs "
                 "the others. The table gives each target's own.</p>")
    if not points.kept:
        lead += ("<p>The run's mean guard chose the training mean over the model: the predictions are that mean, as "
                 f"the run's {figures} figures and rnnlab predict's values are (the points on the dotted line); the model's "
                 "own predictions, which the guard set aside, are drawn faint grey beside them.</p>")
    notes = []
    if len(points.shown) < n:
        notes.append(f"{hk.num(len(points.shown))} of the {hk.num(n)} points drawn (chosen at random), the errors "
                     "over all of them")
    if K > MAX_TARGETS:
        rest = names[MAX_TARGETS:]
        notes.append(f"{len(rest)} more target{'s' if len(rest) > 1 else ''} not drawn: "
                     + hk.esc(", ".join(rest[:8])) + (", …" if len(rest) > 8 else "") + " (in the table)")
    errors = points.errors()
    rows = "".join(f"<tr><th>{hk.esc(name)}</th>" + "".join(f'<td class="num">{hk.num(float(errors[m][k]))}</td>'
                                                            for m in ("rmse", "mae", "r2")) + "</tr>"
                   for k, name in enumerate(names[:MAX_TARGET_ROWS]))
    if K > 1:  # (the run's own figure, to read the rows against)
        err = points.predicted - points.actual
        rows += (f"<tr><th>all {K} pooled (the run's)</th><td class=\"num\">{hk.num(float((err ** 2).mean() ** 0.5))}"
                 f"</td><td class=\"num\">{hk.num(float(abs(err).mean()))}</td><td></td></tr>")
    more = (f"<p class='sub'>… {K - MAX_TARGET_ROWS} more targets not listed.</p>" if K > MAX_TARGET_ROWS else "")
    table = (f"<p class='sub'>Each target's errors on the {points.split} split, in its own units (R² against the "
             "training mean, as the run's):</p><table><tr><th>target</th><th>RMSE</th><th>MAE</th><th>R²</th></tr>"
             f"{rows}</table>{more}")
    series = hk.guarded("the series over time", lambda: _step_series(rd, names)) if points.per_step else ""
    return (lead + (f"<p class='sub'>{'; '.join(notes)}.</p>" if notes else "")
            + hk.img(plot_predictions(points), "predictions against the targets") + table + series)


def _step_series(rd: RunDir, names: list[str]) -> str:
    """Beside a per-step regression's scatter: a few series' predicted and actual values over
    time (:func:`rnnlab.plots.per_step.plot_step_series`), where a series' errors show as where
    in time they are."""
    from rnnlab.plots.per_step import MAX_SERIES, plot_step_series, step_predictions

    points = _from_the_run(rd, "No picture of the series over time", step_predictions)
    if isinstance(points, str):
        return points
    which = "" if len(names) == 1 else f" ({hk.esc(names[0])}, the first of the {len(names)} targets)"
    return (f"<p class='sub'>Over time: the first {min(MAX_SERIES, points.series)} series of the {points.split} "
            f"split{hk.esc(points.why)}, the actual values (solid) and the predicted ones (dashed) at each valid step{which}, in the "
            "data's units.</p>" + hk.img(plot_step_series(points), "predicted and actual values over time"))


def _step_classes(rd: RunDir) -> str:
    """A per-step classification's predictions on the split the run evaluated (the test split of a
    run with test figures, else its validation part, a fold run's fold: :mod:`rnnlab.plots.evaluated`;
    :mod:`rnnlab.plots.per_step`), computed from its checkpoint and data as its figures score
    them: the accuracy at each step position with the series valid there, and the confusion
    matrix of the classes over the valid steps; a run whose data or checkpoint is not there says so
    in one line."""
    from rnnlab.plots.per_step import (
        MAX_CLASSES,
        confusion_classes,
        plot_confusion,
        plot_step_accuracy,
        step_predictions,
    )

    points = _from_the_run(rd, "No picture of the predictions", step_predictions)
    if isinstance(points, str):
        return points
    n, valid = points.series, int(points.valid.sum())
    figures = "training (eval)" if points.split == "training" else points.split
    confusion = points.confusion()
    defined, baseline, table = _class_figures(rd, confusion, points.names, "steps")
    right = f" ({hk.num(float(confusion.trace() / confusion.sum()))})" if confusion.sum() else ""
    lead = (f"<p class='sub'>The model the run evaluated predicting the {points.split} split{hk.esc(points.why)}: its "
            f"{hk.num(valid)} valid steps of {hk.num(n)} series, the steps the run's {figures} per-step accuracy"
            f"{right} scores.</p>{baseline}<p class='sub'>Which steps are wrong: the "
            "accuracy at each step position over the series valid there (a position few series reach is judged on "
            "few: the lower panel counts them).</p>")
    accuracy = hk.img(plot_step_accuracy(points), "accuracy by step position")
    shown = confusion_classes(points)
    more = "" if len(shown) == len(points.names) else \
        f"<p class='sub'>The {MAX_CLASSES} most frequent of the {len(points.names)} classes drawn.</p>"
    classes = ("<p class='sub'>Which classes are wrong: the confusion matrix over the valid steps (rows the actual "
               "class, columns the predicted one; each cell the count of steps, coloured by its share of the row), "
               f"and each class's steps, recall and precision. {defined}</p>"
               + more + hk.img(plot_confusion(points), "confusion matrix of the classes") + table)
    return lead + accuracy + classes


#: Rows of the per-class table of a per-step classification's predictions.
MAX_CLASS_ROWS = 24


#: Rows of the per-target table of a regression run's predictions.
MAX_TARGET_ROWS = 24

#: Panels of the weight-norm figures: a grid a reader takes in at a glance, and drawing time
#: (most of a small run's report) grows with the number of axes.
MAX_LINE_PANELS = 9
MAX_HISTOGRAM_COLUMNS = 4


def _histogram_params(names: list[str], layouts: Mapping[str, TrackedGates] | None = None) -> list[str]:
    """Weight matrices first (they carry the per-channel story), the recurrent layers' first (as
    ``layouts``, the run's tracked gate layouts, name them: :func:`reading_order`); at most
    :data:`MAX_HISTOGRAM_COLUMNS` columns."""
    weights = [n for n in names if is_weight(n, layouts)]
    return reading_order(weights or names, layouts)[:MAX_HISTOGRAM_COLUMNS]


def _weight_norms(rd: RunDir) -> str:
    """The weight norms' lines and histograms (a gated layer's weights per gate, where
    tracked.jsonl names their gates; a file written before it named them says so once), then
    what else the tracker and a target-norm controller recorded (gradient norms, update ratios,
    the controller's groups), each drawn with :func:`plot_norm_lines`, and a list of every
    recorded statistic not drawn, with why."""
    tracked = read_tracked(rd)
    params = [n for n in tracked if is_parameter(n)]
    groups = [n for n in tracked if n.startswith(CONTROLLER)]
    if not params and not groups:
        return hk.no_data(_no_norms_why(rd))
    parts = []
    if params and not tracked.layouts:
        parts.append(f"<p class='sub'>{hk.esc(TRACKED)} does not name the gates of its parameters' rows (it was "
                     "recorded before rnnlab.Tracker named them): a gated layer's weights (an LSTM's 4·H rows i, f, "
                     "g, o; a GRU's 3·H rows r, z, n) are drawn whole, their gates together.</p>")
    # (name, stat) pairs drawn, or named under a figure that had no room for them
    shown: set[tuple[str, str]] = set()
    norm = next((s[:-5] for s in ("l2_mean", "l1_mean", "linf_mean")
                 if any(s in tracked[n] for n in params)), None)
    if not params:
        parts.append(hk.no_data(_no_norms_why(rd)))
    elif norm is None:
        parts.append(hk.no_data("no mean/max norm statistics"))
    else:
        with_lines = reading_order([n for n in params if f"{norm}_mean" in tracked[n]], tracked.layouts)
        lines_params = with_lines[:MAX_LINE_PANELS]
        # (the restored epoch marked as on the metric curves: the weights the verdicts are about)
        parts.append(hk.img(plot_norm_lines(tracked, norm=norm, params=lines_params, per_gate=True, run=rd),
                          "weight norms over steps"))
        parts.append(_not_drawn(with_lines, lines_params))
        shown |= {(n, f"{norm}_{k}") for n in with_lines for k in ("mean", "max")}
    stat = f"{norm or 'l2'}_per_channel"
    with_channels = [n for n in params if stat in tracked[n]]
    hist_params = _histogram_params(with_channels, tracked.layouts)
    if hist_params:
        parts.append(hk.img(plot_norm_histograms(tracked, stat=stat, params=hist_params, ncols=MAX_HISTOGRAM_COLUMNS,
                                                 per_gate=True),
                          "per-channel norm histograms over training"))
        # (only weights are candidates when any is tracked: the biases are left out by choice, not for room)
        weights = [n for n in with_channels if is_weight(n, tracked.layouts)] or with_channels
        parts.append(_not_drawn(weights, hist_params, "weights" if weights is not with_channels else "parameters"))
        shown |= {(n, stat) for n in weights}
    elif params:
        parts.append(hk.no_data(f"no per-channel norms ({stat})"))
    # (a config.toml: rnnlab train's trainer recorded the run, before clipping; else a Tracker in the user's loop)
    parts += _more_lines(tracked, params, groups, norm or "l2", shown, trained=rd.config.exists())
    parts.append(_stats_not_drawn(tracked, shown, norm or "l2"))
    return "\n".join(parts)


def _more_lines(tracked: dict[str, Any], params: list[str], groups: list[str], norm: str,
                shown: set[tuple[str, str]], trained: bool | None = None) -> list[str]:
    """The gradient norms (the whole model's first), the update ratios and the target-norm
    controller's groups, where the run recorded them: the same figure of lines per name as the
    weight norms' (:func:`plot_norm_lines`); what they draw is added to ``shown``.

    ``trained``: whether ``rnnlab train`` recorded the run (its trainer records the gradients
    before clipping), or a Tracker in a loop of the user's own (as they stood at ``tracker.step``,
    wherever the loop clipped); None: not known, and the text says both."""
    parts = []
    grad = f"grad_{norm}"
    with_grads = reading_order([n for n in params if f"{grad}_mean" in tracked[n]], getattr(tracked, "layouts", None))
    whole = grad in tracked.get("model", {})
    if with_grads or whole:
        chosen = (["model"] if whole else []) + with_grads[:MAX_LINE_PANELS - whole]
        when = {True: "as rnnlab train records them: after backward, before gradient clipping and the optimizer "
                      "step",
                False: "as the gradients stood when tracker.step was called (after any clipping the loop did "
                       "before it)",
                None: "as the gradients stood when tracker.step was called (a rnnlab train run calls it before "
                      "clipping; a loop of your own may clip before it)"}[trained]
        clipped = ""
        if whole and trained is not True:
            # A loop that clips before tracker.step records the ceiling on every clipped step: the
            # report cannot see where the loop clipped, but a norm stuck at its maximum says it.
            values = tracked["model"][grad].values.astype(float)
            top = float(values.max()) if len(values) else 0.0
            at_top = int((abs(values - top) <= 1e-4 * top).sum()) if top > 0 else 0
            if at_top >= 3 and at_top >= 0.1 * len(values):
                clipped = (f" The whole model's norm sits at {top:.4g} on {at_top} of {len(values)} recorded steps: "
                           "they look clipped, by the loop before tracker.step, and are not the gradients before clipping.")
        parts.append(f"<h3>Gradient norms</h3><p class='sub'>Recorded on the tracker's gradient steps (every "
                     f"grads_every steps), {when}: the whole model's norm, then each parameter's per-channel mean "
                     f"and max.{clipped}</p>")
        parts.append(hk.img(plot_norm_lines(tracked, norm=grad, params=chosen), "gradient norms over steps"))
        parts.append(_not_drawn(with_grads, chosen))
        shown |= {(n, f"{grad}_{k}") for n in with_grads for k in ("mean", "max")} | ({("model", grad)} if whole else set())
    with_ratio = reading_order([n for n in params if "update_ratio" in tracked[n]], getattr(tracked, "layouts", None))
    if with_ratio:
        chosen = with_ratio[:MAX_LINE_PANELS]
        parts.append("<h3>Update ratio</h3><p class='sub'>‖w after − w before‖ / ‖w before‖ of the optimizer step "
                     "that followed each gradient record: around 1e-3 is the usual rule of thumb; far above, the "
                     "steps are large against the weights, far below, they barely move.</p>")
        parts.append(hk.img(plot_norm_lines(tracked, norm="update_ratio", params=chosen), "update ratio over steps"))
        parts.append(_not_drawn(with_ratio, chosen))
        shown |= {(n, "update_ratio") for n in with_ratio}
    with_target = [g for g in groups if "norm" in tracked[g]]
    if with_target:
        parts.append("<h3>Target-norm controller</h3><p class='sub'>What rnnlab.optim.TargetNormController "
                     "recorded at each measurement (run_dir=): each group's per-channel norm against its target, "
                     "and the weight decay it set.</p>")
        parts.append(hk.img(plot_norm_lines(tracked, norm="target_norm", params=with_target),
                            "target-norm controller over steps"))
        shown |= {(g, s) for g in with_target for s in ("norm", "target", "weight_decay")}
    return parts


def _why_not_drawn(stat: str, norm: str) -> str:
    """Why the weight-norm section draws no figure of a tracked ``stat`` (``norm``: the one it draws)."""
    base = stat.removeprefix("grad_").removesuffix("_per_channel")
    base = re.sub(r"_(mean|max)$", "", base)
    if base in NORMS and base != norm:
        return (f"the section draws one norm, {norm}; plots.plot_norm_lines(run_dir, norm={stat.rsplit('_', 1)[0]!r}) "
                "draws this one" if stat.endswith(("_mean", "_max")) else
                f"the section draws one norm, {norm}")
    if stat in NORMS or stat.removeprefix("grad_") in NORMS:
        return ("the norm of the whole tensor (√ of the sum of its channels' squared norms): the per-channel mean "
                "and max drawn above follow the same change on a scale that compares parameters")
    if stat.startswith("grad_") and stat.endswith("_per_channel"):
        return "their mean and max per parameter are drawn under Gradient norms"
    if stat.endswith("_per_channel"):
        return ("the histograms show weight matrices: a bias's per-channel norms are the sizes of its single values; "
                "plots.plot_norm_histograms(run_dir, params=[...]) draws them")
    return "a statistic this report does not know"


def _stats_not_drawn(tracked: dict[str, Any], shown: set[tuple[str, str]], norm: str) -> str:
    """The line naming each statistic of tracked.jsonl that no figure of the section draws (nor a
    line under one names), and why: a reader must not take the figures for all there is."""
    rest: dict[str, list[str]] = {}
    for name, stats in tracked.items():
        if name == "loss":  # (under Metric curves and Final metrics)
            continue
        for stat in stats:
            if (name, stat) not in shown:
                rest.setdefault(stat, []).append(own_name(name))
    if not rest:
        return ""
    items = "".join(
        f"<li><b>{hk.esc(stat)}</b> of {hk.esc(', '.join(names) if len(names) <= 3 else f'{len(names)} parameters')}: "
        f"{hk.esc(_why_not_drawn(stat, norm))}</li>" for stat, names in rest.items())
    return (f"<p class='sub'>Also recorded in {hk.esc(TRACKED)}, not drawn in this section:</p>"
            f"<ul class='not-drawn'>{items}</ul>")


def _no_norms_why(rd: RunDir) -> str:
    """Why the run has no parameter norms, as far as its files say: its tracking is off
    (config.toml), or no optimizer step it took fell on the tracking interval (the Tracker
    records the norms at the steps that are multiples of ``weights_every``: a run resumed from a
    checkpoint into a new directory at step 4 that ends at step 8, with weights_every 10, records
    none), else the old guess."""
    tracking = None
    if rd.config.exists():
        try:
            tracking = rd.read_trained_config().config.tracking
        except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
            tracking = None
    holds = f"{TRACKED} holds no parameter norms" if rd.tracked.exists() else f"{TRACKED} is missing"
    if tracking is not None and not (tracking.enabled and tracking.weights_every > 0):
        return (f"{holds}: the run's tracking is off (tracking.enabled = {str(tracking.enabled).lower()}, "
                f"tracking.weights_every = {tracking.weights_every})")
    records = rd.read_metrics()
    last = records[-1].get("step") if records else None
    resumes = rd.read_resumes()
    # (a run resumed into a new directory: its records begin after the epoch it was resumed from)
    first = resumes[0].get("step") if resumes and records and records[0]["epoch"] > resumes[0]["after_epoch"] else 0
    if not (isinstance(first, int) and isinstance(last, int) and 0 < first < last):
        # (step 0 is on every interval: a run from its start with no norms did not track them)
        return f"{holds} (tracking off?)"
    every = None if tracking is None else tracking.weights_every
    if every is not None and any(step % every == 0 for step in range(first, last)):
        return f"{holds} (tracking off?)"
    interval = (f"tracking.weights_every = {every}" if every is not None
                else "the Tracker's weights_every, the Lightning callback's RnnlabCallback(weights_every=...)")
    return (f"{holds}, as no step of the run fell on the tracking interval: the norms are recorded at the optimizer "
            f"steps that are multiples of weights_every ({interval}), and this run took steps {first} to {last - 1} "
            f"only (resumed at step {first} into this directory, {rd.resumes.name}); a smaller weights_every, one "
            f"that divides a step from {first} to {last - 1}, records them")


def _not_drawn(tracked: list[str], drawn: list[str], what: str = "parameters") -> str:
    """The line under a figure naming the tracked parameters it has no room for (a reader must not
    take the figure for all there is), or nothing."""
    rest = [n for n in tracked if n not in drawn]
    if not rest:
        return ""
    names = ", ".join(own_name(n) for n in rest)
    return (f"<p class='sub'>{len(rest)} more {what if len(rest) != 1 else what[:-1]} tracked, not drawn: "
            f"{hk.esc(names)} ({hk.esc(TRACKED)} holds them all).</p>")


#: An ensemble member's module (``model.members.3.rnn``): its members' figures are drawn together.
MEMBER = re.compile(r"^(?P<head>(?:.*\.)?members\.)(?P<k>\d+)(?P<tail>(?:\..*)?)$")


def _member_groups(keys: list[str]) -> list[list[str]]:
    """``keys`` (module names) grouped by ensemble: the members of one ensemble's same module, in
    member order, form one group (drawn as one figure); any other key is a group of its own.

    >>> _member_groups(["model.members.0.rnn", "model.members.1.rnn", "model.rnn"])
    [['model.members.0.rnn', 'model.members.1.rnn'], ['model.rnn']]
    """
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for key in keys:
        m = MEMBER.match(key)
        where = (m["head"], m["tail"]) if m else (key, "")
        groups.setdefault(where, []).append((int(m["k"]) if m else 0, key))
    return [[key for _, key in sorted(found)] for found in groups.values()]


def _members_label(keys: list[str]) -> str:
    """How a figure of an ensemble's members names its module: ``model.members.0–4.rnn (5
    ensemble members)``; the key itself for one."""
    if len(keys) == 1:
        return keys[0] or "model"
    first, last = MEMBER.match(keys[0]), MEMBER.match(keys[-1])
    assert first is not None and last is not None
    return f"{first['head']}{first['k']}–{last['k']}{first['tail']} ({len(keys)} ensemble members)"


def _by_member(said: list[str]) -> str:
    """One sentence per member (``said``, in member order) folded: once when all say the same,
    else each distinct one after the members that say it."""
    if len(said) == 1:
        return said[0]
    if len(set(said)) == 1:
        return f"Each of the {len(said)} members: {said[0]}"
    found: dict[str, list[int]] = {}
    for k, text in enumerate(said):
        found.setdefault(text, []).append(k)
    return " ".join(f"Member{'s' if len(ks) > 1 else ''} {', '.join(map(str, ks))}: {text}"
                    for text, ks in found.items())


def _zero_before(rd: RunDir, untrained: dict[str, Any]) -> str | None:
    """Why every curve before training is 0 at every step, when it is: the output layer starting at
    zero (``model.head.zero_init``) passes back no gradient; None when some curve before training
    has a value to draw."""
    import numpy as np

    arrays = [a for g in untrained.values() for a in g.layers.values()]
    if not arrays or any((np.isfinite(a) & (a != 0)).any() for a in map(np.asarray, arrays)):
        return None
    try:
        zero_init = rd.config.exists() and rd.read_trained_config().config.model.head.zero_init
    except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
        zero_init = False
    return "the output layer starts at zero" if zero_init else ""


def _gradient_through_time(rd: RunDir) -> str:
    from rnnlab.doctor.checks import Thresholds, judge_through_time
    from rnnlab.doctor.run import time_gradients
    from rnnlab.rundir import RECORDED_BY_TRAIN

    gtts, meta = read_grad_through_time(rd)
    untrained, untrained_meta = read_grad_through_time(rd, phase="before_training")
    if not gtts and not untrained:
        return hk.no_data(f"{GRAD_THROUGH_TIME} is missing (this run did not record gradient through time)")
    cropped = meta.pop("cropped", None)
    meta.pop("loss", None)  # (said by the lead: _through_time_loss)
    # The mode the file records; a file without one: the two trainers always measure in eval mode,
    # a loop of the user's own in whichever mode its model was.
    mode = meta.pop("mode", None) or ("eval" if recorded_by(rd.path) in (RECORDED_BY_TRAIN, RECORDED_BY_LIGHTNING)
                                      else None)
    in_mode = {"eval": "eval mode", None: "mode not recorded",
               "train": "train mode: dropout and zoneout drew masks, batch norms used the batch's statistics"}[mode]
    th = Thresholds()  # (the trainer's health check runs with the defaults)
    if not gtts:
        return _untrained_only(rd, untrained, untrained_meta.get("cropped"), th.grad_rel)
    when = ", ".join(f"{k} {hk.num(v)}" for k, v in meta.items() if v is not None)
    where = _cropped_where(cropped)
    zero_why = _zero_before(rd, untrained) if untrained else None
    if zero_why is not None:  # (a dashed line promised and none drawn: say what the curve was instead)
        also = (" The health check's curve on the untrained model, on the same batch, is 0 at every step"
                + (f" ({zero_why}: model.head.zero_init, so no gradient reaches the recurrent layer before "
                   "training)" if zero_why else "") + ": there is no dashed line to draw.")
    else:
        also = (" The dashed grey line is the curve the health check measured on the untrained model, on the same "
                "batch: how far back the gradient reached before training.") if untrained else ""
    groups = _member_groups(list(gtts))
    if any(len(g) > 1 for g in groups):
        also += (" An ensemble's members are drawn in one figure: the first member's heatmap, every member's "
                 "curve (the others thin), each member's reach in the legend.")
    shortened = recurrent_shortening(rd, gtts, cropped)
    loss, pooled = _through_time_loss(rd), _pooled_head(rd)
    kept = _restored_weights(rd, meta)
    on = (f"after training, {kept} ({in_mode}), on one training batch" if kept else
          f"after training{f' (at {when})' if when else ''}, on the trained model ({in_mode}) and one training batch")
    parts = [f"<p class='sub'>Measured {on}{where}{_loss_followed(loss, pooled)}. {_health_compared(rd)} the sentence "
             f"under each title judges this curve by the same check.{also}{steps_are_sentence(shortened)}</p>"]
    unit = "step" if shortened is None else "recurrent step"
    moment = _health_moment(rd)
    before = _findings(rd, "before_training") if rd.health.exists() else None
    now = {tg.name: tg for tg in time_gradients(gtts)}
    verdicts = {name: judge_through_time(tg, th, loss=loss) for name, tg in now.items()}
    then = {tg.name: tg.per_step for tg in time_gradients(untrained)}
    for keys in groups:
        first = gtts[keys[0]]
        for (layer, direction) in first.layers:
            label = f"{_members_label(keys)} layer {layer} {direction}"
            said, pairs = [], []
            for key in keys:
                g = gtts[key]
                if (layer, direction) not in g.layers:
                    continue
                name = f"'{key or 'model'}' layer {layer} {direction}"
                verdict, found = verdicts[name]
                earlier = None if before is None else _earlier_finding(before, key, layer, direction)
                g0 = untrained.get(key)
                g0 = g0 if g0 is not None and (layer, direction) in g0.layers else None
                sentence = _after_training(verdict, found, earlier, before is not None, th, moment, unit, loss)
                if g0 is not None:  # (the reach of both curves in numbers, as the picture marks them)
                    sentence += " " + _reaches(then[name], now[name].per_step, th.grad_rel, direction, unit, loss,
                                               dashed=zero_why is None)
                said.append(sentence)
                pairs.append((g, g0))
            cut = _training_cuts(rd, len(first.layers[layer, direction]), cropped)
            parts.append(f"<h3>{hk.esc(label)}</h3>")
            parts.append(f"<p>{hk.esc(_by_member(said) + _pooled_said(pooled, unit, loss) + (cut[0] if cut else ''))}</p>")
            parts.append(hk.guarded(label, lambda pairs=pairs, layer=layer, direction=direction, label=label, cut=cut:
                hk.img(plot_grad_through_time(pairs[0][0], layer=layer, direction=direction, rel=th.grad_rel,
                                              before=pairs[0][1], members=pairs[1:], before_zero_why=zero_why or None,
                                              title=f"{label} after training: |dLoss/dh_t| per timestep",
                                              xlabel=step_axis_label(shortened), cuts=cut[1] if cut else ()),
                       label)))  # (per channel after training: only the health check's curve is one mean row)
    return "\n".join(parts)


def _untrained_only(rd: RunDir, untrained: dict[str, Any], cropped: Any, rel: float) -> str:
    """The gradient section of a run that has the health check's curve before training and none
    after it (still running, or killed before its end): that curve, drawn, with its reach."""
    from rnnlab.doctor.run import time_gradients

    where = _cropped_where(cropped)
    shortened = recurrent_shortening(rd, untrained, cropped)
    unit = "step" if shortened is None else "recurrent step"
    loss, pooled = _through_time_loss(rd), _pooled_head(rd)
    # (not "no data recorded" above a picture of data: the curve after training alone is missing)
    parts = [f"<p class='nodata'>{GRAD_THROUGH_TIME} holds only the curve before training: the run has not measured "
             "the one after training (still running, or stopped before its end). The curve before training is drawn "
             "below.</p>",
             f"<p class='sub'>The curve the health check measured before training, on the untrained model and one "
             f"training batch{where}{_loss_followed(loss, pooled)} (the mean over channels, which the health check keeps: the heatmap has one "
             f"row). The health findings before training (above) judge it.{steps_are_sentence(shortened)}</p>"]
    per_step = {tg.name: tg.per_step for tg in time_gradients(untrained)}
    for key, g in untrained.items():
        for (layer, direction) in g.layers:
            label = f"{key or 'model'} layer {layer} {direction}"
            sentence = _reaches(per_step[f"'{key or 'model'}' layer {layer} {direction}"], None, rel, direction, unit,
                                loss)
            cut = _training_cuts(rd, len(g.layers[layer, direction]), cropped)
            parts.append(f"<h3>{hk.esc(label)}</h3>")
            parts.append(f"<p>{hk.esc(sentence + _pooled_said(pooled, unit, loss) + (cut[0] if cut else ''))}</p>")
            parts.append(hk.guarded(label, lambda g=g, layer=layer, direction=direction, label=label, cut=cut: hk.img(
                plot_grad_through_time(g, layer=layer, direction=direction, rel=rel,
                                       title=f"{label} before training (untrained model): |dLoss/dh_t| per timestep",
                                       xlabel=step_axis_label(shortened), cuts=cut[1] if cut else (),
                                       channel_mean=True), label)))
    return "\n".join(parts)


#: What the Gates section's pictures ask the viewer to look for.
GATES_LOOK_FOR = "a gate shut (0) or open (1) at every step is stuck"
#: How the section names a layer's kind.
KIND_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "indrnn": "IndRNN"}
#: What each sigmoid gate does when it is stuck, for the section's lead.
GATES_MEANING = (
    "LSTM: a forget gate (f) shut at every step forgets the cell at each step, an input gate (i) shut never "
    "writes to it, an output gate (o) shut hides it from the next layer. GRU: an update gate (z) open at every "
    "step keeps the old state and ignores the input, shut it overwrites the state each step; a reset gate (r) "
    "shut makes the new state ignore the old one. A tanh candidate (LSTM g, GRU n) at ±1 everywhere is "
    "saturated: it passes little gradient."
)


def _restored_weights(rd: RunDir, meta: dict[str, Any]) -> str | None:
    """Which weights a measurement after training was of, in words, where its file (``meta``: its
    ``step`` and ``epoch``) names the epoch early stopping restored and the run tested, earlier
    than the last (:func:`rnnlab.plots.metrics.restored_epoch`); None otherwise: the last epoch's,
    as every older run measured them."""
    from rnnlab.errors import RnnlabError

    try:
        epoch = restored_epoch(rd)
        if epoch is None or meta.get("epoch") != epoch:
            return None
        last = (rd.read_metrics() or [{}])[-1].get("epoch") if rd.metrics.exists() else None
    except RnnlabError:  # (a summary, config or record not readable: the caption says what the file says)
        return None
    return (f"on the weights of epoch {hk.num(epoch)}"
            + (f" (step {hk.num(meta['step'])})" if meta.get("step") is not None else "")
            + ", restored by early stopping: the weights the run tested"
            + (f", not its last epoch {hk.num(last)}'s" if last is not None else ""))


def _gates(rd: RunDir) -> str:
    """The Gates section: per-gate heatmaps of each gated layer (see the module docstring)."""
    from rnnlab.doctor.checks import Thresholds

    if not rd.gate_activations.exists():
        return hk.no_data(f"{GATES_FILE} is missing: {_no_gates_why(rd)}")
    after, meta = read_gate_activations(rd)
    before, before_meta = read_gate_activations(rd, phase="before_training")
    layers = after or before
    ungated = meta.get("ungated") or before_meta.get("ungated") or []
    if not layers:
        if ungated:
            names = ", ".join(f"{u['module'] or 'model'} ({KIND_NAMES.get(u['kind'], u['kind'])})" for u in ungated)
            layers_have = f"layers {names} have" if len(ungated) > 1 else f"layer {names} has"
            return (f"<p>No gate to draw: the model's recurrent {hk.esc(layers_have)} no gates. An RNN or "
                    "IndRNN layer computes its state directly from the input and its previous state, with no gate "
                    "that could be stuck open or shut; how far back its state carries shows in the gradient "
                    "through time above.</p>")
        return hk.no_data(f"{GATES_FILE} lists no recurrent layer")
    th = Thresholds()  # (the health check's: a unit is stuck by the same rule)
    when = ", ".join(f"{k} {hk.num(meta[k])}" for k in ("step", "epoch") if meta.get(k) is not None)
    # (a step of the heatmaps is the recurrent layer's, after the front-end's pooling: as the curves above say)
    shortened = recurrent_shortening(rd, {}, meta.get("cropped", before_meta.get("cropped")))
    parts = []
    if not after:  # (not "no data recorded" above a picture of data: only the record after training is missing)
        parts.append(f"<p class='nodata'>{GATES_FILE} holds only the gates before training: the run has not "
                     "recorded them after training (still running, or stopped before its end).</p>")
    parts.append(
        f"<p class='sub'>Each gated layer's gate activations on the training batch of the gradient through time"
        f"{_cropped_where(meta.get('cropped', before_meta.get('cropped')))}, in eval mode"
        + ((f", after training, {kept}" if (kept := _restored_weights(rd, meta)) else
            f", after training (at {when})" if when else "") if after else "")
        + ("; the top row: the untrained model on the same batch, before training" if after and before else "")
        + ". Each panel is one gate: x the step, y the hidden unit, the colour the mean over the batch's "
        f"sequences.{steps_are_sentence(shortened)} What to look for: {GATES_LOOK_FOR}. {GATES_MEANING}</p>")
    if ungated:
        names = ", ".join(f"{u['module'] or 'model'} ({KIND_NAMES.get(u['kind'], u['kind'])})" for u in ungated)
        parts.append(f"<p class='sub'>Not drawn: {hk.esc(names)}, layers without gates.</p>")
    earlier = {(s.module, s.layer, s.direction): s for s in before} if after else {}
    found = {(s.module, s.layer, s.direction): s for s in layers}
    for modules in _member_groups(list(dict.fromkeys(s.module for s in layers))):
        for s in [s for s in layers if s.module == modules[0]]:
            group = [found[m, s.layer, s.direction] for m in modules if (m, s.layer, s.direction) in found]
            parts += _gate_layer(group, earlier, th, bool(after), _members_label(modules), shortened is not None)
    return "\n".join(parts)


def _gate_layer(group: list[GateSummary], earlier: dict[tuple[str, int, str], GateSummary], th: Any,
                after: bool, module: str, recurrent: bool = False) -> list[str]:
    """The Gates section's title, sentence and picture of one layer and direction: of one module,
    or of an ensemble's members (``group``, member 0 first), whose first member is drawn and whose
    others are compared with it (each gate's mean over units and steps; each member's stuck units);
    ``recurrent``: a step is the recurrent layer's, after the front-end shortened the input."""
    import numpy as np

    s = group[0]
    first = earlier.get((s.module, s.layer, s.direction))
    label = f"{KIND_NAMES.get(s.kind, s.kind)} {module} layer {s.layer} {s.direction}"
    shown = f"units 0-{min(s.hidden_size, _units(s)) - 1} of {s.hidden_size}" \
        if _units(s) < s.hidden_size else f"all {s.hidden_size} units"
    xlabel = _gate_step_axis(s.step_bin, recurrent)
    said = []
    for phase, summaries in (("before training", [earlier.get((m.module, m.layer, m.direction)) for m in group]),
                             ("after training" if after else "before training", group)):
        if summaries[0] is None:  # (no record before training: the run's health check did not run)
            continue
        said.append(_by_member([_stuck(m, th, phase) for m in summaries if m is not None]))
    alike = ""
    if len(group) > 1:
        with np.errstate(all="ignore"):
            gap = max((abs(float(np.nanmean(m.gates[g])) - float(np.nanmean(s.gates[g])))
                       for m in group[1:] for g in s.gates if g in m.gates), default=0.0)
        gap = gap if math.isfinite(gap) else 0.0
        rest = f"members 1–{len(group) - 1}" if len(group) > 2 else "member 1"
        stuck = [f"member {k}: " + "; ".join(found) for k, m in enumerate(group[1:], 1) if (found := _stuck_units(m, th))]
        # (what the picture asks, stuck units, for the members it does not draw; then how far they look alike)
        alike = (f"member 0 of {len(group)} drawn; stuck units {'after' if after else 'before'} training in {rest}: "
                 + ("; ".join(stuck) if stuck else "none") + " (each gate's mean over units and steps "
                 + f"within {gap:.2g} of member 0's)")
    parts = [f"<h3>{hk.esc(label)}: {hk.esc(GATES_LOOK_FOR)}</h3>",
             f"<p>{hk.esc(' '.join(said))} ({hk.esc(shown)}{'; ' + hk.esc(alike) if alike else ''}; a unit is stuck "
             f"when its mean over the steps is below {th.gate_shut:g} or above {th.gate_open:g}, the health check's "
             "rule.)</p>"]
    title = (f"{label}: gate activations, mean over the batch ({GATES_LOOK_FOR})"
             + (f"\n{alike}" if alike else ""))
    # (in the picture: the units kept must not read as the whole layer)
    ylabel = "hidden unit" if _units(s) >= s.hidden_size else f"hidden unit (0-{_units(s) - 1} of {s.hidden_size})"
    parts.append(hk.guarded(label, lambda: hk.img(
        plot_activation_heatmaps(s.activations(), before=None if first is None else first.activations(),
                                 xlabel=xlabel, ylabel=ylabel, title=title, step_bin=s.step_bin),
        f"{label} gate activations")))
    return parts


def _gate_step_axis(step_bin: int, recurrent: bool = False) -> str:
    """The x axis' label of a gate heatmap whose columns are each the mean of ``step_bin`` steps
    (its ticks count steps: :func:`rnnlab.plots.heatmap.plot_activation_heatmaps`' ``step_bin``);
    ``recurrent``: the recurrent layer's steps, after the front-end shortened the input (the
    section's lead says by how much).

    >>> _gate_step_axis(1), _gate_step_axis(16), _gate_step_axis(1, recurrent=True)
    ('step', 'step (each column: mean of 16)', 'recurrent step')
    """
    # (short: a label wider than its panel ran into its neighbours')
    step = "recurrent step" if recurrent else "step"
    return step if step_bin == 1 else f"{step} (each column: mean of {step_bin})"


def _units(s: GateSummary) -> int:
    """How many units the record kept of the layer."""
    return next((a.shape[1] for a in s.gates.values()), 0)


def _stuck(s: GateSummary, th: Any, phase: str) -> str:
    """One sentence: the units of each sigmoid gate stuck shut or open ``phase`` (mean over the steps)."""
    said = _stuck_units(s, th)
    return (f"{phase.capitalize()}: " + ("; ".join(said) if said else "no sigmoid gate stuck shut or open in any unit")
            + ".")


def _stuck_units(s: GateSummary, th: Any) -> list[str]:
    """Each sigmoid gate of ``s`` with units stuck shut or open (their mean over the steps beyond
    the health check's thresholds), e.g. ``"forget gate (f) 3 of 32 units shut"``."""
    import numpy as np

    said = []
    for gate, act in s.functions.items():  # (a declared kind's too: its layout says which gates are sigmoid)
        if act != "sigmoid" or gate not in s.gates:
            continue
        with warnings.catch_warnings():  # ("mean of empty slice": a unit of no step, NaN, counts as neither)
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(s.gates[gate], axis=0)
        n = mean.size
        shut, open_ = int((mean < th.gate_shut).sum()), int((mean > th.gate_open).sum())
        if shut or open_:
            what = " and ".join(f"{k} of {n} units {state}" for k, state in ((shut, "shut"), (open_, "open")) if k)
            said.append(f"{GATE_LABELS.get(gate, 'gate')} ({gate}) {what}")
    return said


def _no_gates_why(rd: RunDir) -> str:
    """Why a run has no gate_activations.json, as far as its config says."""
    if rd.config.exists():
        try:
            tracking = rd.read_trained_config().config.tracking
        except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
            tracking = None
        if tracking is not None and not (tracking.enabled and tracking.grad_through_time):
            # (name only the key that is off: "tracking is off" read wrong beside tracking.enabled = true)
            off = " and ".join(f"tracking.{k} = false" for k in ("enabled", "grad_through_time")
                               if not getattr(tracking, k))
            return (f"the run's config sets {off} (the gates are recorded with the gradient through time, "
                    "which needs tracking.enabled and tracking.grad_through_time)")
    return ("this run recorded no gate activations (rnnlab train and the Lightning callback record them with the "
            "gradient through time, for torch's and rnnlab's LSTM and GRU layers; runs of an older rnnlab and a loop "
            "of your own have none: for those layers rnnlab.introspect.gate_activations reads them from a model, "
            "rnnlab.plots.plot_activation_heatmaps draws them and rnnlab.introspect.gates_file.write_gate_activations "
            "records them in a run. A cell of your own in rnnlab.Recurrent has no gate activations read by rnnlab: "
            "rnnlab.introspect.gate_weights and gate_gradients split its weights per gate when it declares a "
            "gate_layout, and rnnlab.introspect.layer_outputs gives its outputs at each step)")


def _cropped_where(cropped: Any) -> str:
    """Where in each series the curves were measured, when on its first steps only."""
    return "" if cropped is None else \
        f" on the first {hk.num(cropped[0])} of {hk.num(cropped[1])} steps of each series (tracking.inspect_steps)"


def recurrent_shortening(rd: RunDir, gtts: dict[str, Any], cropped: Any) -> str | None:
    """How the run's front-end shortens the input before the recurrent layer, whose steps the
    gradient-through-time curves count: e.g. ``input pooled ×16: 3000 → 188`` (``config.toml``'s
    ``[model.frontend]``, as the shape rules left it; the input's length: the first
    tracking.inspect_steps when ``cropped``, else the training split's that ``adapt.json``
    records, given where the blocks make the curves' steps of it). None when the recurrent layer
    runs at the input's steps, or the run has no config.toml (a Lightning run, a loop of the
    user's own: their models are code)."""
    from rnnlab.train.shape_rules import recurrent_length

    if not rd.config.exists():
        return None
    try:
        frontend = rd.read_trained_config().config.model.frontend
        adapt = rd.read_adapt() or {}
    except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
        return None
    blocks = frontend.conv_blocks if frontend is not None else []
    pools, strides = math.prod(b.pool for b in blocks), math.prod(b.stride for b in blocks)
    if pools * strides == 1:
        return None
    how = f"{'pooled' if strides == 1 else 'strided' if pools == 1 else 'strided and pooled'} ×{pools * strides}"
    recorded = ((adapt.get("shape") or {}).get("shape") or {}).get("length")
    length = cropped[0] if isinstance(cropped, (list, tuple)) and cropped else recorded
    sizes = {arr.shape[0] for g in gtts.values() for arr in g.layers.values()}
    if isinstance(length, int) and len(sizes) == 1 and recurrent_length(length, blocks) in sizes:
        return f"input {how}: {length} → {sizes.pop()}"
    return f"input {how}"


def steps_are_sentence(shortened: str | None) -> str:
    """The lead's sentence on what a step of the curves is, when not the input's."""
    return "" if shortened is None else \
        f" A step here is the recurrent layer's ({shortened}), not the input's: the front-end shortens the series."


def step_axis_label(shortened: str | None) -> str:
    """The x axis' label of the gradient-through-time pictures."""
    return "timestep t" if shortened is None else f"recurrent step ({shortened})"


def _through_time_loss(rd: RunDir) -> str | None:
    """Which loss the run's gradient-through-time curves follow when not the whole loss: the one
    ``grad_through_time.json`` names (:func:`rnnlab.doctor.run.following_through_time`; the curve
    after training's, else the one before it); for a file that names none (older runs), per-step
    targets (config.toml's ``[task]``) followed the loss at each sequence's last step; None for
    another run, or one without a config (a Lightning run's, a loop of the user's own: the loss
    they gave)."""
    from rnnlab.doctor.run import LAST_STEP_LOSS
    from rnnlab.task import task_for

    for phase in ("after_training", "before_training"):
        try:
            gtt, meta = read_grad_through_time(rd, phase=phase)
        except hk.SECTION_ERRORS:  # (the gradient section shows the problem)
            break
        if gtt:
            if "loss" in meta:
                return str(meta["loss"])
            break
    if not rd.config.exists():
        return None
    try:
        per_step = task_for(rd.read_trained_config().config).per_step
    except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
        return None
    return LAST_STEP_LOSS if per_step else None


#: What a head that pools over time (``model.head.pooling``) takes of the recurrent outputs.
POOLINGS = {"mean": "mean", "max": "maximum", "mean_max": "mean and maximum"}


def _pooled_head(rd: RunDir) -> str | None:
    """The run's ``model.head.pooling`` when the head pools the recurrent outputs over time
    (mean, max, mean_max) for a target per sequence: the whole loss then reads every step, and its
    gradient through time reaches each step directly, whatever the layer's memory (the curve
    follows the loss through each sequence's last step alone where ``grad_through_time.json`` says
    so: :func:`_through_time_loss`). None for a head on the final state ("last"), per-step targets,
    or a run without a config.toml."""
    from rnnlab.task import task_for

    if not rd.config.exists():
        return None
    try:
        config = rd.read_trained_config().config
        per_step = task_for(config).per_step
    except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
        return None
    pooling = config.model.head.pooling
    return pooling if pooling in POOLINGS and not per_step else None


def _loss_followed(loss: str | None, pooled: str | None = None) -> str:
    """The lead's clause on which loss the curves follow, when not the whole loss, or why the
    whole loss of a head that pools over time (``pooled``: :func:`_pooled_head`) reads every step."""
    from rnnlab.doctor.run import POOLED_LAST_STEP_LOSS

    if loss == POOLED_LAST_STEP_LOSS:
        how = POOLINGS.get(pooled or "", "summary")
        setting = f" (model.head.pooling = \"{pooled}\")" if pooled in POOLINGS else ""
        return (f"; the gradient of {loss}: the head's {how} over time{setting} lets it in there only, every other "
                "step entering detached, as a head on the final state (pooling = \"last\") would (the head's "
                f"{how} reads every step, which would reach every step whatever the layer's memory: this curve "
                "reaches back through the layer's memory alone)")
    if loss is not None:
        return (f"; the gradient of {loss}, as for a target per sequence (the loss at every step has a term at each "
                "step t itself: its gradient would reach every step back whatever the layer's memory)")
    if pooled is None:
        return ""
    # (an older run: its trainer followed this head's whole loss)
    return (f"; the gradient of the whole loss, which reads every step through the head's {POOLINGS[pooled]} over "
            f"time (model.head.pooling = \"{pooled}\"): its gradient reaches every step directly, whatever the "
            "layer's memory, so the reach here says nothing of how far back the layer remembers (a head on the "
            "final state, pooling = \"last\", reads the last step alone: its reach would)")


def _pooled_said(pooled: str | None, unit: str = "step", loss: str | None = None) -> str:
    """The layer's sentence on its reach under a head that pools over time (:func:`_pooled_head`)
    whose curve follows the whole loss (``loss`` None: an older run's)."""
    return "" if pooled is None or loss is not None else \
        (f" The loss reads every {unit} through the head's {POOLINGS[pooled]} (model.head.pooling = \"{pooled}\"): "
         "this reach says nothing of the layer's memory.")


#: The most cuts of truncated BPTT the gradient picture marks, one line each.
MAX_CUTS_DRAWN = 64


def _training_cuts(rd: RunDir, length: int, cropped: Any) -> tuple[str, list[float]] | None:
    """Where training cuts the gradient in a curve of ``length`` steps: ``training.stateful_window``
    (truncated BPTT: each window's state is carried detached into the next, so no gradient of a
    training step reaches back past its window's start) as ``(the sentence, the cuts' x positions
    between steps)``; in recurrent steps where a front-end shortens the input (the window counts
    the input's). None without a window shorter than the series, for a stream (its curve spans
    one window of data.bptt steps, where the state it carries across batches is cut), or a run
    without a config.toml."""
    from rnnlab.task import task_for

    if not rd.config.exists() or length < 1:
        return None
    try:
        config = rd.read_trained_config().config
        adapt = rd.read_adapt() or {}
    except hk.SECTION_ERRORS:  # (the Configuration section shows the problem)
        return None
    window = 0 if task_for(config).stream else config.training.stateful_window
    frontend = config.model.frontend
    blocks = frontend.conv_blocks if frontend is not None else []
    factor = math.prod(b.pool * b.stride for b in blocks)
    measured = cropped[0] if isinstance(cropped, (list, tuple)) and cropped else length * factor
    series = cropped[1] if isinstance(cropped, (list, tuple)) and len(cropped) > 1 else \
        ((adapt.get("shape") or {}).get("shape") or {}).get("length") or measured
    if not window or window >= series:
        return None
    cuts = [k * window / factor - 0.5 for k in range(1, math.ceil(measured / window))]
    per = steps(window) + " (" if factor == 1 else \
        f"{steps(window, 'input step')} ({hk.num(window / factor)} recurrent; "
    if window < factor:  # (a line at every step would hide the curve)
        where, cuts = "at every recurrent step: a window is shorter than one", []
    elif len(cuts) > MAX_CUTS_DRAWN:
        where, cuts = f"{len(cuts)} cuts, too many to mark", []
    elif cuts:
        where = f"the {'dotted line' if len(cuts) == 1 else f'{len(cuts)} dotted lines'}"
    else:
        where = f"none within the first {steps(measured, 'step' if factor == 1 else 'input step')} measured here"
    said = (f" Training cuts the gradient every {per}training.stateful_window = {window}: truncated BPTT, each "
            f"window's state carried detached into the next; {where}): no training step follows the gradient back "
            "past its window's start, whatever this curve, measured without cuts, reaches.")
    return said, cuts


def _reaches(before: Any, after: Any, rel: float, direction: str = "forward", unit: str = "step",
             loss: str | None = None, dashed: bool = True) -> str:
    """One sentence with the gradient reach before and after training in numbers, as the picture
    marks them (:func:`rnnlab.introspect.stats.gradient_reach`, non-finite values as 0; a curve
    whose last processed value is 0 or non-finite: where it is 0, as
    :func:`rnnlab.plots.through_time.unjudged_reach` says); both curves ``[T]`` in processing order
    of ``direction``; ``after`` None: the curve before training alone, not yet measured after it.
    ``unit``: what a step is (a recurrent step, where the front-end shortens the input); ``loss``:
    which loss the curves follow when not the whole loss (:func:`_through_time_loss`); ``dashed``:
    the picture draws the curve before training dashed (not where it is 0 at every step)."""
    import numpy as np

    from rnnlab.introspect.stats import gradient_reach

    def reach(g: Any) -> str:
        g = np.asarray(g, dtype=np.float64).ravel()
        if g.size == 0:
            return "no step recorded"
        if not (np.isfinite(g) & (g != 0)).any():
            return f"none (|grad| is {'0' if np.isfinite(g).all() else '0 or non-finite'} at every {unit})"
        # (unjudged_reach reads forward time order: the reverse direction processes t = T-1 first)
        unjudged = unjudged_reach(g[::-1] if direction == "reverse" else g, direction)
        if unjudged is not None:  # (never below a fraction of 0: "all T steps" would say the opposite)
            head, _, where = unjudged[0].partition(": ")
            return f"no reach ({head}: {'; '.join([where, *unjudged[1:]])})"
        if g.size == 1:
            return f"{steps(1, unit)} only, none before it to reach"
        n = gradient_reach(np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0), rel)
        return f"all {steps(g.size, unit)} back" if n >= g.size else f"{hk.num(n)} of {steps(g.size, unit)} back"

    of = "" if loss is None else f" of {loss}"
    lead = f"Gradient reach{of} (until |dLoss/dh_t| falls below {rel:g} × its value at the last step processed)"
    if after is None:
        return f"{lead}: {reach(before)} before training."
    return f"{lead}: {reach(before)} before training{' (dashed)' if dashed else ''}, {reach(after)} after training."


def _earlier_finding(before: list[Any], key: str, layer: int, direction: str) -> Any:
    """The ``gradient_through_time`` finding before training about this layer (its numbers name
    the module, layer and direction), or None. Findings recorded before their numbers did are
    matched by their title (a module stored under key "" is named by its class there)."""
    for f in before:
        if f.check != "gradient_through_time":
            continue
        n = f.numbers
        if "module" in n:
            if (n["module"], n["layer"], n["direction"]) == (key, layer, direction):
                return f
            continue
        m = re.search(r" in '(.*)' layer (\d+) (\w+): ", f.title)
        if m and (m[1] == key or not key) and (int(m[2]), m[3]) == (layer, direction):
            return f
    return None


def _after_training(verdict: str, found: Any, earlier: Any, checked: bool, th: Any,
                    moment: str = "before training", unit: str = "step", loss: str | None = None) -> str:
    """One sentence: what the health check's rule says of the curve after training (``verdict``,
    ``found``: :func:`rnnlab.doctor.checks.judge_through_time`'s), and whether the finding
    ``moment`` (when the health checks ran: ``before training`` for rnnlab train's runs,
    :func:`_health_moment`) still holds (``earlier``); ``checked``: health.json exists; ``unit``:
    what a step is (a recurrent step, where the front-end shortens the input); ``loss``: which loss
    the curve follows when not the whole loss (:func:`_through_time_loss`)."""
    from rnnlab.doctor.checks import EXPLODES, REACHES, VANISHES

    n = found.numbers if found is not None else {}
    subject = "the gradient" + ("" if loss is None else f" of {loss}")
    said = {
        VANISHES: f"vanishes (it falls below {th.grad_rel:g} × its value at the last step "
                  f"{steps(n.get('reach'), unit)} back, of {hk.num(n.get('timesteps'))})",
        EXPLODES: f"explodes (at the first step it is {hk.num(n.get('first_over_last'))} times its "
                  f"value at the last step, over the {th.grad_explode:g} the health check allows)",
        REACHES: f"reaches back (it stays above {th.grad_rel:g} × its value at the last step over at least "
                 f"{th.short_reach:.0%} of the {unit}s back, the health check's rule, nor grows past "
                 f"{th.grad_explode:g} times it)",
    }.get(verdict)
    if said is None:  # (a last value of 0, a non-finite value, a single step: the check says nothing either)
        return ("After training the health check's rule cannot judge this curve (a last value of 0, a non-finite "
                "value or a single step)" + (f"; the finding {moment} is neither confirmed nor refuted."
                                             if earlier is not None else "."))
    if earlier is None:
        return f"After training {subject} {said}" + (f": no health finding {moment} is about this layer."
                                                      if checked else ".")
    was = EXPLODES if earlier.title.startswith("Exploding") else VANISHES
    e = earlier.numbers
    # (under a head that pools over time the finding is a note on the layer's memory: "Short memory")
    vanished = "short memory the health check noted" if earlier.title.startswith("Short memory") else \
        "vanishing gradient the health check found"
    then = (f"the {vanished} {moment} (reach {hk.num(e.get('reach'))} of "
            f"{steps(e.get('timesteps'), unit)})" if was == VANISHES else
            f"the exploding gradient the health check found {moment} ({hk.num(e.get('first_over_last'))} "
            f"times over {steps(e.get('timesteps'), unit)})")
    if verdict == was:
        return f"After training {subject} still {said}: {then} still holds."
    return f"After training {subject} {said}: {then} no longer holds."


def _findings(rd: RunDir, phase: str) -> list[Any]:
    from rnnlab.doctor import Report  # the findings' one reader

    return [f for f in Report.read(rd).findings if f.phase == phase]


def _fit(rd: RunDir, records: list[dict[str, Any]] | Exception | None = None) -> str:
    who = recorded_by(rd.path)
    if not rd.summary.exists():  # (running, killed, or failed before training: not "checks off")
        if who == RECORDED_BY_OWN_LOOP:  # (a loop of the user's own writes no summary.json, finished or not)
            return _not_judged(who)
        if who is None and not rd.metrics.exists():
            return hk.no_data(f"{SUMMARY} is missing (rnnlab train and the Lightning callback write it)")
        if not rd.has_records():
            return hk.no_data(f"the run recorded no epoch yet: it is setting up, or stopped before its first epoch "
                              f"({SUMMARY} is missing)")
        return _unfinished(records)
    summary = rd.read_summary() or {}
    if summary.get("train_eval") is None:
        # The checks judge the trained model measured on its whole training split (train_eval):
        # without it they did not run, whatever health.json (the checks before training) holds.
        return _not_judged(who)
    checked = summary.get("fit_checked")
    if isinstance(checked, dict):  # what each check that ran found, and nothing of those that did not
        from rnnlab.doctor.fit import fit_verdict

        said = fit_verdict({str(k): str(v) for k, v in checked.items()})
        if "overfit" not in checked:
            said += " (overfitting was not judged)"
    else:  # (a run recorded before summary.json said what each check found)
        said = "the checks after training found nothing"
    return (_judged_weights(rd, summary) + _fit_findings(rd, summary, said)
            + hk.guarded(f"{SUMMARY}'s mean_guard", lambda: _mean_guard(summary)))


def _fit_findings(rd: RunDir, summary: dict[str, Any], said: str) -> str:
    """The findings after training, where the run recorded them: summary.json's ``fit_findings``
    (every run that records them there), else health.json (with health checks on, the trainer
    writes them beside the findings before training), else (health checks off) what summary.json's
    ``fit_checked`` says: the checks that found nothing, and those it does not name, whose
    findings, if any, were printed by rnnlab train and not recorded. The fit checks are no health
    checks: turning those off turns these off nowhere."""
    recorded = summary.get("fit_findings")
    if isinstance(recorded, list):
        from rnnlab.doctor import Finding

        findings = [Finding.from_dict(d) for d in recorded]
        return _findings_html(findings) if findings else f"<p>No findings: {hk.esc(said)}.</p>"
    if rd.health.exists():
        return _findings_section(rd, "after_training", "", hk.esc(said))
    checked = summary.get("fit_checked")
    if not isinstance(checked, dict):  # (a run recorded before summary.json said what each check found)
        return hk.no_data(f"{rd.health.name} is missing (health checks were off), and {SUMMARY} of this run does "
                          "not record what the checks after training found")
    unnamed = [c for c in ("underfit", "overfit") if c not in checked]
    if not unnamed:  # (both checks ran and raised nothing: what rnnlab train printed)
        return f"<p>No findings: {hk.esc(said)}.</p>"
    from rnnlab.doctor.fit import fit_verdict

    verdict = fit_verdict({str(k): str(v) for k, v in checked.items()})
    found = f"<p>The checks after training that found nothing: {hk.esc(verdict)}.</p>" if checked else ""
    return found + "<p class='nodata'>" + hk.esc(
        f"{' and '.join(unnamed)}: not recorded. With health checks off (tracking.health = false) this run recorded "
        f"only what the checks after training that found nothing found ({SUMMARY}'s fit_checked); "
        f"{'this check' if len(unnamed) == 1 else 'these checks'} found something, which rnnlab train printed when "
        "the run ended, or did not run") + ".</p>"


def _unfinished(records: list[dict[str, Any]] | Exception | None) -> str:
    """The Fit section of a run that recorded epochs and has not finished (no summary.json: still
    running, or killed): what is missing is the evaluation after training, not its records."""
    last = records[-1].get("epoch", len(records)) if isinstance(records, list) and records else None
    after = "" if last is None else f", after epoch {hk.num(last)}"
    return (f"<p class='nodata'>Not judged yet: the run has not finished ({SUMMARY} is missing); it is still "
            f"running, or it was stopped before its end{after}. The evaluation after training (the trained model on "
            "its whole training split) is missing, and with it the checks after training (underfit, overfit). The "
            "epochs it recorded are under <a href='#final-metrics'>Final metrics</a> and "
            "<a href='#metric-curves'>Metric curves</a>.</p>")


def _not_judged(who: str | None) -> str:
    """Why the fit after training is not judged: the run (recorded by ``who``,
    :func:`rnnlab.rundir.recorded_by`) did not measure the trained model on its whole training split."""
    return hk.no_data(
        "the checks after training (underfit, overfit) did not run for this run, so its fit is not judged: "
        "rnnlab train runs them on the trained model measured on its whole training split (summary.json's "
        f"train_eval), which {NOT_MEASURED_BY.get(who or '', 'this run did not measure')}; judge the fit from the "
        "final metrics and the metric curves below, or train with rnnlab train to have them")


def _judged_weights(rd: RunDir, summary: dict[str, Any]) -> str:
    """Which weights the verdicts below are about, when not the last epoch's: the metric curves run
    on to the last epoch, and a verdict read against their ends seems to contradict them."""
    epoch = restored_epoch(rd)
    if epoch is None:
        return ""
    return (f"<p class='sub'>The verdicts below are about the weights of epoch {hk.num(epoch)}, restored by early "
            f"stopping (training.early_stopping), not those of the last epoch {hk.num(summary.get('epochs'))}: "
            "the metric curves mark it.</p>")


def _mean_guard(summary: dict[str, Any]) -> str:
    """What the mean guard decided (summary.json ``mean_guard``): when it replaced the model, the
    training-split and test figures are the training mean's (an R² of 0), not the model's the
    findings above judge."""
    from rnnlab.train.final import recorded_guard

    block = summary.get("mean_guard")
    if not isinstance(block, dict):
        return ""
    guard = recorded_guard(block)  # (its own guard's, or one carried from its fold runs)
    if guard.kept:
        return f"<p>{hk.esc(guard.line())}.</p>"
    return (f"<p><b>The run predicts {hk.esc(guard.baseline)}, not its model:</b> {hk.esc(guard.line())}. "
            f"The findings above judge the model; the train (eval) and test figures under Final metrics are "
            f"{hk.esc(guard.baseline)}'s.</p>")


def _health_when(rd: RunDir) -> tuple[str, str]:
    """The health section's title and the sentence of its lead on when the checks ran, as far as
    the run says: the step health.json records (``measured``, :meth:`RunDir.read_health_measured`)
    when it does; else before training for a run of rnnlab train or the Lightning callback (both
    run the checks first); for a loop of the user's own, which runs rnnlab.diagnose when it likes,
    no moment at all. A diagnosis that took no training step (``steps=0``, :func:`_took_no_step`)
    checked the model as given only, and the lead says so."""
    measured = rd.read_health_measured() or {}
    step, epoch = measured.get("step"), measured.get("epoch")
    own = recorded_by(rd.path) == RECORDED_BY_OWN_LOOP
    if own and not rd.health.exists():
        return "Health findings", ""
    from rnnlab.doctor import Report  # the findings' one reader

    stepless = _took_no_step(Report.read(rd).skipped)
    if step == 0 or (step is None and not own):
        return dict(SECTIONS)["health"], (
            "Measured before training began, on the untrained model at initialisation; no training step was taken "
            f"({NO_STEPS}), so the checks that need one did not run." if stepless else
            "Measured before training began, on the untrained model (at initialisation and over a few training steps "
            "on one batch).")
    how = (f"on the model as given; no optimizer step was taken ({NO_STEPS}), so the checks that need one did not run"
           if stepless else
           "on the model as it was then, and over a few optimizer steps on one batch taken on a copy of it")
    if step is None:
        return "Health findings when diagnose ran", (
            f"Measured when rnnlab.diagnose ran, {how}. {HEALTH} does not record when that was (before, during or "
            "after training), so this report does not say (rnnlab.diagnose(..., step=tracker.step_count) records it).")
    at = f"after {hk.num(step)} training step{'s' if step != 1 else ''}"
    at += f" (epoch {hk.num(epoch)})" if epoch is not None else ""
    return f"Health findings {at}", f"Measured when rnnlab.diagnose ran, {at} ({HEALTH} records it), {how}."


#: What the checks that need a training step give as their reason for not running after
#: ``rnnlab.diagnose(..., steps=0)`` (health.json's ``skipped``): the file's one record that no
#: step was taken (it records no step count).
NO_STEPS = "steps=0"


def _took_no_step(skipped: dict[str, str]) -> bool:
    """Whether the diagnosis whose checks not run are ``skipped`` took no training step.

    >>> _took_no_step({"update_ratio": "no training step was run (steps=0)"}), _took_no_step({})
    (True, False)
    """
    return any(f"({NO_STEPS})" in why for why in skipped.values())


def _health_moment(rd: RunDir) -> str:
    """When the health findings were measured, as a phrase: ``before training`` for the runs of
    rnnlab train and the Lightning callback (:func:`_health_when`), else when rnnlab.diagnose ran."""
    title = _health_when(rd)[0] if rd.health.exists() else dict(SECTIONS)["health"]
    if title == dict(SECTIONS)["health"]:
        return "before training"
    return "when rnnlab.diagnose ran" + (title.removeprefix("Health findings")
                                         if title.startswith("Health findings after") else "")


def _health_compared(rd: RunDir) -> str:
    """What the gradient section's lead says of the health findings above it."""
    moment = _health_moment(rd)
    if moment == "before training":
        return "The health findings before training (above) measured the untrained model:"
    return f"The health findings (above) measured the model {moment}:"


def _through_time_pointer(rd: RunDir) -> str:
    """The lead's sentence pointing to the gradient through time, only where that section draws one
    (a pointer to a section that says "no data recorded" sends the reader nowhere)."""
    try:
        after, _ = read_grad_through_time(rd)
        before, _ = read_grad_through_time(rd, phase="before_training")
    except hk.SECTION_ERRORS:  # (the gradient section shows the problem)
        return ""
    link = "<a href='#gradient-through-time'>Gradient through time after training</a>"
    if after:
        return f" The gradient through time of the trained model is under {link}."
    if before:
        return f" The gradient through time the health check measured on the untrained model is drawn under {link}."
    return ""


def _when_words(measured: dict[str, Any] | None) -> str:
    """When a diagnosis ran, from what health.json records of it (``{"step", "epoch"}``)."""
    step, epoch = (measured or {}).get("step"), (measured or {}).get("epoch")
    if step is None:
        return "when rnnlab.diagnose ran" + (f" in epoch {hk.num(epoch)}" if epoch is not None else
                                             f" ({HEALTH} does not record when)")
    if step == 0:
        return "before training (step 0)"
    return f"after {hk.num(step)} training step{'s' if step != 1 else ''}" + (
        f" (epoch {hk.num(epoch)})" if epoch is not None else "")


def _earlier_diagnoses(rd: RunDir) -> str:
    """The diagnoses of the run before the one above (health.json's ``earlier``, which a later
    rnnlab.diagnose kept), newest first, folded: reachable, not in the way of the latest."""
    from rnnlab.doctor import Report  # the findings' one reader

    earlier = Report.read(rd).earlier
    if not earlier:
        return ""
    blocks = []
    for e in reversed(earlier):
        found = (_findings_html(e.findings, e.measured) if e.findings else
                 "<p>No findings" + (f"; {len(e.skipped)} check{'s' if len(e.skipped) != 1 else ''} did not run"
                                     if e.skipped else "") + ".</p>")
        blocks.append(f"<h3>Health check {hk.esc(_when_words(e.measured))}</h3>{found}{_not_checked(e.skipped)}")
    n = len(earlier)
    return (f"<details class='earlier'><summary>{n} earlier health check{'s' if n != 1 else ''} of this run "
            f"({hk.esc('; '.join(_when_words(e.measured) for e in earlier))}): the findings above are the "
            f"latest</summary>{''.join(blocks)}</details>")


def _health(rd: RunDir) -> str:
    lead = (f"<p class='sub'>{hk.esc(_health_when(rd)[1])}{_through_time_pointer(rd)}</p>"
            if rd.health.exists() else "")
    who = recorded_by(rd.path)
    why_missing = ("rnnlab.diagnose(..., run_dir=) writes it" if who == RECORDED_BY_OWN_LOOP
                   else "health checks did not run" if rd.summary.exists()
                   # (a run stopped while its checks ran, before they wrote it, or a run with them off)
                   else "the run has not finished: it stopped before its health checks wrote it, or ran without them")
    if not rd.health.exists():
        return lead + _findings_section(rd, "before_training", why_missing, "every health check passed")
    from rnnlab.doctor import Report  # the findings' one reader

    skipped = Report.read(rd).skipped
    passed = (f"every health check that ran passed; {len(skipped)} did not run (below)" if skipped
              else "every health check passed")
    return (lead + _findings_section(rd, "before_training", why_missing, passed) + _not_checked(skipped)
            + _earlier_diagnoses(rd))


def _health_pointer(rd: RunDir) -> str:
    """One line at the head of the Fit section where the health check (:func:`_health`) found
    warnings or errors: how many, their titles (the words before the numbers) and a link to the
    health section, which comes after the final metrics. A run stopped early has no fit judged, and
    those findings are the only verdict on it; nothing where it found none, or its file cannot be
    read (the health section says why)."""
    if not rd.health.exists():
        return ""
    try:
        found = [f for f in _findings(rd, "before_training") if f.severity in ("error", "warning")]
        title, moment = _health_when(rd)[0], _health_moment(rd)
    except hk.SECTION_ERRORS:
        return ""
    if not found:
        return ""
    found.sort(key=lambda f: f.severity != "error")  # (the errors first, each severity as recorded)
    counts = [(n, sev) for sev in ("error", "warning") if (n := sum(f.severity == sev for f in found))]
    said = " and ".join(f"{n} {sev}{'s' if n != 1 else ''}" for n, sev in counts)
    names = "; ".join(dict.fromkeys(f.title.split(": ", 1)[0] for f in found))
    return (f"<p class='finding {counts[0][1]}'><b>The health check {hk.esc(moment)} found {said}:</b> "
            f"{hk.esc(names)}. See <a href='#health'>{hk.esc(title)}</a>.</p>\n")


def _not_checked(skipped: dict[str, str]) -> str:
    """The health checks that did not run and why (health.json's ``skipped``), or nothing."""
    if not skipped:
        return ""
    items = "".join(f"<li><b>{hk.esc(name)}</b>: {hk.esc(why)}</li>" for name, why in skipped.items())
    return f"<p class='sub'>Not checked (these checks had nothing to examine, so they neither passed nor failed):</p>" \
           f"<ul class='not-checked'>{items}</ul>"


def _findings_section(rd: RunDir, phase: str, why_missing: str, none_found: str) -> str:
    """The findings of ``phase`` in health.json, or why there are none."""
    if not rd.health.exists():
        return hk.no_data(f"{rd.health.name} is missing ({why_missing})")
    findings = _findings(rd, phase)
    return (_findings_html(findings, rd.read_health_measured()) if findings
            else f"<p>No findings: {none_found}.</p>")


def _findings_html(findings: list[Any], measured: dict[str, Any] | None = None) -> str:
    """The findings as HTML; ``measured``: when their diagnosis ran (health.json's ``measured``),
    which says what a ``phase`` of ``init`` in their numbers was: the model as given to
    rnnlab.diagnose, which is no initialisation at step 9 (as their titles say it)."""
    from rnnlab.doctor.checks import Observations  # (the titles' words for a phase)

    given = Observations(steps=0, model_step=(measured or {}).get("step"),
                         model_epoch=(measured or {}).get("epoch")).when("init")
    out = []
    for f in findings:
        nums = "".join(
            f'<tr><th>{hk.esc(k)}</th><td class="num">'
            f'{hk.esc(f"init ({given})") if (k, v) == ("phase", "init") else hk.short(v)}</td></tr>'
            for k, v in f.numbers.items()
        )
        sev = f.severity if f.severity in ("error", "warning", "info") else "info"
        out.append(
            f'<div class="finding {sev}"><h3><span class="sev">{hk.esc(f.severity.upper())}</span>'
            f'{hk.esc(f.title)} <span class="check">({hk.esc(f.check)})</span></h3>'
            + (f"<table>{nums}</table>" if nums else "")
            + (f"<p><b>Why:</b> {hk.esc(f.message)}</p>" if f.message else "")
            + (f"<p><b>Remedy:</b> {hk.esc(f.remedy)}</p>" if f.remedy else "")
            + "</div>"
        )
    return "\n".join(out)


# --- the report ----------------------------------------------------------------------------------


def render_report(run_dir: str | os.PathLike[str] | RunDir) -> str:
    """The report's HTML text for ``run_dir`` (see the module docstring for the sections)."""
    from rnnlab.errors import CheckpointConfigUsed

    with warnings.catch_warnings():
        # (the pictures read the checkpoint's config where config.toml was edited or lost: the
        # Configuration section says so, and `rnnlab report`'s exit code a config.toml it cannot read)
        warnings.simplefilter("ignore", CheckpointConfigUsed)
        return _render(_existing(run_dir))


def _heading_name(rd: RunDir, folder: str) -> str:
    """What the report's heading calls the run: the config's ``name`` where it is not the run
    directory's name too (``--out`` named the directory), with the directory's name beside it;
    else the directory's name (a config.toml that cannot be read: the Configuration section says so).

    >>> import tempfile
    >>> d = RunDir(tempfile.mkdtemp())
    >>> _ = d.config.write_text('name = "walk vs run"\\n[data]\\ndataset = "UnitTest"\\n')
    >>> _heading_name(d, "run2"), _heading_name(d, "walk vs run")
    ('walk vs run (run2)', 'walk vs run')
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            named = rd.read_config().name if rd.config.exists() else None
    except (RnnlabError, OSError, ValueError):
        named = None
    return folder if not named or named == folder else f"{named} ({folder})"


def _render(rd: RunDir) -> str:
    """:func:`render_report` of the run directory ``rd``."""
    name = run_name(rd)
    records = _guarded_records(rd)
    bodies = {
        "final-metrics": hk.guarded("final metrics", lambda: _final_metrics(rd, records)),
        "configuration": hk.guarded("the configuration", lambda: _configuration(rd)),
        "metric-curves": hk.guarded("metric curves", lambda: _metric_curves(rd, records)),
        "weight-norms": hk.guarded("weight norms", lambda: _weight_norms(rd)),
        "gradient-through-time": hk.guarded("gradient through time", lambda: _gradient_through_time(rd)),
        "health": hk.guarded("health findings", lambda: _health(rd)),
        "gates": hk.guarded("gate activations", lambda: _gates(rd)),
        "fit": _health_pointer(rd) + hk.guarded("findings after training", lambda: _fit(rd, records)),
    }
    titles = dict(SECTIONS)
    # (after the final metrics: how the model's outputs compare with the data, the first question)
    kind = _task_kind(rd)
    extra = {"forecasting": (FORECAST_SECTION, "the forecasts", _forecasts),
             "regression": (REGRESSION_SECTION, "the predictions", _predictions),
             "per-step classification": (STEP_CLASSES_SECTION, "the predictions", _step_classes),
             }.get(kind or "")
    if extra is not None:
        section, what, build = extra
        bodies[section[0]] = hk.guarded(what, lambda: build(rd))
        order = list(titles.items())
        at = [sid for sid, _ in order].index("final-metrics") + 1
        titles = dict([*order[:at], section, *order[at:]])
    try:
        titles["health"] = _health_when(rd)[0]
    except hk.SECTION_ERRORS:  # (a broken health.json says no moment; the section shows the problem)
        titles["health"] = "Health findings"
    nav = "".join(f'<a href="#{sid}">{hk.esc(title)}</a>' for sid, title in titles.items())
    sections = "".join(
        f'<section id="{sid}"><h2>{hk.esc(title)}</h2>\n{bodies[sid]}\n</section>\n' for sid, title in titles.items()
    )
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>rnnlab report: {hk.esc(name)}</title>\n<style>{hk.CSS}</style>\n"
        f"<script>{hk.SCRIPT}</script>\n</head>\n<body>\n"
        f"<h1>Run {hk.esc(_heading_name(rd, name))}</h1>\n"
        f"<p class=\"sub\">{hk.esc(rd.path.resolve())} · generated {hk.esc(stamp)}</p>\n"
        f"<nav>{nav}</nav>\n{sections}</body>\n</html>\n"
    )


def _existing(run_dir: str | os.PathLike[str] | RunDir) -> RunDir:
    # (write_report's callers catch FileNotFoundError for a missing directory; the opening is the readers' one)
    p = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    if not p.is_dir():
        raise FileNotFoundError(f"run_dir: expected an existing run directory, got {str(p)!r}")
    return RunDir.existing(run_dir)


def _guarded_records(rd: RunDir) -> list[dict[str, Any]] | Exception:
    """The metric records, or the error reading them (shown in both sections that use them:
    a corrupt line is not "missing or empty")."""
    try:
        return load_metrics(rd)
    except hk.SECTION_ERRORS as err:
        return err


def write_report(
    run_dir: str | os.PathLike[str] | RunDir, path: str | os.PathLike[str] | None = None
) -> Path:
    """Write the self-contained HTML report of ``run_dir`` to ``path`` (default
    ``RUN_DIR/report.html``) atomically; returns the path written."""
    rd = _existing(run_dir)
    out = Path(path) if path is not None else rd.report
    atomic_write_text(out, render_report(rd))
    return out


__all__ = [
    "GRAD_THROUGH_TIME",
    "read_grad_through_time",
    "render_report",
    "write_grad_through_time",
    "write_report",
]
