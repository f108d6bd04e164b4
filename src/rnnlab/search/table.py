"""The trials table of a study, as ``rnnlab study DIR`` prints it.

Example:
    >>> import optuna
    >>> s = optuna.create_study(direction="maximize")
    >>> s.add_trial(optuna.create_trial(value=0.8, params={"training.lr": 0.01},
    ...     distributions={"training.lr": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)},
    ...     user_attrs={"fold_scores": [0.7, 0.9], "epochs": [5, 5]}))
    >>> print(trials_table(s.get_trials()))
    trial  state     score   spread  folds  epochs  lr
    0      complete  0.8000  0.1414  2      5       0.01
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from rnnlab.search.storage import (
    FAILED_ATTR,
    KEPT_EPOCHS_ATTR,
    REFUSED_ATTR,
    RETRY_HISTORY,
    SAME_AS_ATTR,
    interrupted,
    stop_words,
    trial_state,
    worker_gone,
)
from rnnlab.tables import spread


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def short_names(names: list[str], taken: Collection[str] = ()) -> dict[str, str]:
    """The last part of each key path, or more of it where two would clash, or where it would be
    one of ``taken`` (the table's own columns: ``epochs`` trained beside a searched
    ``training.epochs``); the derived ``decay.*`` keys stay whole (``recurrent`` alone would not
    say it is a decay).

    >>> short_names(["model.dropout", "model.head.dropout", "training.lr", "decay.kernel"])
    {'model.dropout': 'model.dropout', 'model.head.dropout': 'head.dropout', 'training.lr': 'lr', 'decay.kernel': 'decay.kernel'}
    >>> short_names(["training.epochs"], taken=("epochs",))
    {'training.epochs': 'training.epochs'}
    """
    out = {}
    for n in names:
        if n.startswith("decay."):
            out[n] = n
            continue
        parts = n.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if cand not in taken and sum(1 for m in names if m == cand or m.endswith("." + cand)) == 1:
                out[n] = cand
                break
        else:
            out[n] = n
    return out


def _epochs(epochs: list[int]) -> str:
    """``"17,21"``, or ``"20"`` when every run has the same."""
    return str(epochs[0]) if len(set(epochs)) == 1 else ",".join(map(str, epochs))


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """One trial's summary: state as a person is shown it (``interrupted`` for a trial stopped by
    Ctrl-C, SIGTERM or SIGHUP, :func:`~rnnlab.search.storage.trial_state`), score, spread of fold scores,
    folds, epochs (each run's last; under early stopping with the epochs of the models they kept,
    whose scores count and whose median the final run trains; a trial recorded before those
    were shows its last epochs only), where pruned, and ``same_as``: the earlier trial whose
    parameters it drew again and whose score it took (None for a trial that trained).

    >>> import optuna
    >>> stopped = optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
    ...                                                                  "interrupted": True})
    >>> copy = optuna.create_trial(value=0.5, user_attrs={"same_params_as": 3})
    >>> trial_row(stopped)["state"], trial_row(copy)["state"], trial_row(copy)["same_as"]
    ('interrupted', 'complete', 3)
    >>> trial_row(optuna.create_trial(value=0.5, user_attrs={"epochs": [17, 21], "kept_epochs": [13, 17]}))["epochs"]
    '17,21 (kept 13,17)'
    """
    scores = t.user_attrs.get("fold_scores") or []
    epochs = t.user_attrs.get("epochs") or []
    kept = t.user_attrs.get(KEPT_EPOCHS_ATTR) or []
    pruned = t.user_attrs.get("pruned_at")
    return {
        "trial": t.number, "state": trial_state(t),
        "score": t.value if t.state == TrialState.COMPLETE else None,
        "spread": spread(scores) if len(scores) > 1 and t.state == TrialState.COMPLETE else None,
        "folds": len(scores) if scores else None,
        "epochs": (f"fold {pruned['fold']} ep {pruned['epoch']}" if pruned else
                   (_epochs(epochs) + (f" (kept {_epochs(kept)})" if kept else "") if epochs else None)),
        "params": dict(t.params),
        "seconds": t.duration.total_seconds() if t.duration is not None else None,
        "same_as": t.user_attrs.get(SAME_AS_ATTR) if t.state == TrialState.COMPLETE else None,
    }


def trials_table(trials: list[FrozenTrial], best: int | None = None, tied: tuple[int, ...] = ()) -> str:
    """One line per trial: number, state, score (mean of folds), spread, folds, epochs (or
    where it was pruned), then the sampled parameters; the score of trial ``best`` (the best
    trial's number, :func:`rnnlab.search.study.best_trial`) marked ``*``, and those of the trials
    ``tied`` with it (:func:`tied_with`), as :func:`score_line` says."""
    from rnnlab.tables import text_table

    names = list(dict.fromkeys(k for t in trials for k in t.params))
    own = ["trial", "state", "score", "spread", "folds", "epochs"]
    short = short_names(names, taken=own)
    head = own + [short[n] for n in names]
    rows = [head]
    for t in sorted(trials, key=lambda t: t.number):
        r = trial_row(t)
        # A dead local worker's trial: failed as such when a search of the study runs next.
        state = f"running (worker {t.user_attrs['pid']} gone)" if worker_gone(t) else r["state"]
        marked = t.number == best or t.number in tied
        score = f"{r['score']:.4f}" + ("*" if marked else "") if r["score"] is not None else "-"
        rows.append([str(r["trial"]), state, score,
                     f"{r['spread']:.4f}" if r["spread"] is not None else "-", _cell(r["folds"]),
                     _cell(r["epochs"])] + [_cell(r["params"].get(n)) for n in names])
    return text_table(rows)


def described(metric: str | None, direction: str) -> str:
    """A study's score as its lines and study.html name it: the metric (``score`` where the study
    directory does not record it) and its direction (Optuna's ``"maximize"`` or ``"minimize"``).

    >>> described("val_r2", "maximize"), described(None, "minimize")
    ('val_r2 (higher is better)', 'score (lower is better)')
    """
    return f"{metric or 'score'} ({'higher' if direction == 'maximize' else 'lower'} is better)"


def score_line(best: FrozenTrial | None, metric: str | None, direction: str,
               tied: list[tuple[FrozenTrial, str]] | None = None) -> str:
    """What :func:`trials_table`'s score column holds, and the best trial with its score; where
    other trials tie with it (``tied``, :func:`tied_with`), the tie, not a winner.

    >>> import optuna
    >>> s = optuna.create_study(direction="maximize")
    >>> s.add_trial(optuna.create_trial(value=0.8, user_attrs={"fold_scores": [0.7, 0.9]}))
    >>> score_line(s.best_trial, "val_acc", "maximize")
    "score: val_acc (higher is better), the mean of each trial's folds; best trial 0 (marked *): 0.8000 ± 0.1414"
    >>> score_line(None, "val_rmse", "minimize")
    "score: val_rmse (lower is better), the mean of each trial's folds; no trial complete yet"
    """
    from rnnlab.tables import with_spread

    said = f"score: {described(metric, direction)}, the mean of each trial's folds"
    if best is None or best.value is None:
        return f"{said}; no trial complete yet"
    scores = best.user_attrs.get("fold_scores") or [best.value]
    if tied:
        return (f"{said}; best trials {joined([best.number] + [t.number for t, _ in tied])}, a tie (marked *): "
                f"{tie_sentence(best, tied)}")
    return f"{said}; best trial {best.number} (marked *): {with_spread(best.value, scores)}"


def joined(numbers: list[int]) -> str:
    """``0``, ``0 and 1``, ``0, 1 and 6``."""
    said = [str(n) for n in numbers]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


def fold_records(study_dir: Any, trials: list[FrozenTrial]) -> list[dict[str, Any]] | None:
    """What each fold of the study's one fold plan validated on, class by class, as a complete
    trial's fold runs recorded it (``summary.json``'s ``val_by_class``:
    :func:`rnnlab.task.class_figures`, those of a classifier); None where no complete trial here
    records every fold's (a regression's runs, a study of another machine). Every trial's runs
    validate on the same folds, so the first trial that records them all speaks for the study.

    >>> fold_records("/nonexistent", []) is None
    True
    """
    from pathlib import Path

    from rnnlab.errors import RunDirError
    from rnnlab.rundir import read_json

    for t in sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number):
        k = len(t.user_attrs.get("fold_scores") or [])
        records = []
        for fold in range(1, k + 1):
            path = Path(study_dir) / "trials" / f"{t.number:04d}" / f"fold-{fold}" / "summary.json"
            try:
                summary = read_json(path) if path.is_file() else None
            except RunDirError:  # (a damaged record: no figures from it, and no tie claimed by sizes)
                summary = None
            by_class = summary.get("val_by_class") if isinstance(summary, dict) else None
            counts = by_class.get("count") if isinstance(by_class, dict) else None
            if not isinstance(counts, dict) or sum(v for v in counts.values() if isinstance(v, int)) < 1:
                break
            records.append(by_class)
        if k and len(records) == k:
            return records
    return None


def fold_sizes(study_dir: Any, trials: list[FrozenTrial]) -> list[int] | None:
    """The number of validation series of each fold of the study's one fold plan
    (:func:`fold_records`); None where no complete trial here records every fold's.

    >>> fold_sizes("/nonexistent", []) is None
    True
    """
    records = fold_records(study_dir, trials)
    if records is None:
        return None
    return [sum(v for v in r["count"].values() if isinstance(v, int)) for r in records]


def majority_said(study_dir: Any, trials: list[FrozenTrial], metric: str | None) -> str:
    """What a search's accuracy needs beside it where the classes are imbalanced: what labelling
    every validation series with the fold's training majority class scores, the mean over the
    folds as the score is (:func:`fold_records`), in the words of ``rnnlab train``'s fit finding
    and by its rule (``rnnlab.doctor.fit.imbalanced``: the majority class holds over 2/3); ""
    for another metric, balanced classes, or folds not recorded here.

    >>> majority_said("/nonexistent", [], "val_acc")
    ''
    """
    # (train's one rule, not a second threshold of the search's)
    from rnnlab.doctor.fit import imbalanced

    records = fold_records(study_dir, trials) if metric == "val_acc" else None
    rates = [r.get("majority_rate") for r in records or []]
    if not rates or not all(isinstance(v, (int, float)) for v in rates):
        return ""
    majority = sum(rates) / len(rates)
    # (four digits, as the search shows val_acc: 40/42 beside 0.9524 reads as the same figure)
    return f" (the majority class alone scores {majority:.4f})" if imbalanced(majority) else ""


def tied_with(best: FrozenTrial, trials: list[FrozenTrial], metric: str | None,
              sizes: list[int] | None = None) -> list[tuple[FrozenTrial, str]]:
    """The complete trials that trained (a copy of a trial's parameters is that trial) and tie with
    ``best``, each with why (:func:`rnnlab.recipe.decide.fold_tie`, the rule of the recipe's and
    compare's ties): the same fold scores or mean; with accuracy (``val_acc``) and the folds' sizes,
    the same number right over the folds, or means closer than one validation series moves the score.

    >>> import optuna
    >>> ts = [optuna.create_trial(value=sum(f) / 3, user_attrs={"fold_scores": f})
    ...       for f in ([22 / 23, 1.0, 21 / 22], [1.0, 21 / 22, 21 / 22], [21 / 23, 1.0, 21 / 22])]
    >>> for i, t in enumerate(ts):
    ...     t.number = i
    >>> [(t.number, why[:40]) for t, why in tied_with(ts[0], ts, "val_acc", [23, 22, 22])]
    [(1, 'the same number right over the folds (65')]
    """
    from rnnlab.recipe.decide import fold_tie

    mine = [float(v) for v in best.user_attrs.get("fold_scores") or [best.value]]
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        if t.number == best.number or t.state != TrialState.COMPLETE or t.user_attrs.get(SAME_AS_ATTR) is not None:
            continue
        theirs = [float(v) for v in t.user_attrs.get("fold_scores") or [t.value]]
        why = fold_tie(mine, theirs, sizes if metric == "val_acc" else None)
        if why is not None:
            out.append((t, why))
    return out


def tie_sentence(best: FrozenTrial, tied: list[tuple[FrozenTrial, str]]) -> str:
    """The tie in words: which trials, their scores and why, and what the search cannot say.

    >>> import optuna
    >>> b, o = optuna.create_trial(value=0.9704), optuna.create_trial(value=0.9697)
    >>> b.number, o.number = 0, 6
    >>> print(tie_sentence(b, [(o, "the same score on every fold")]))
    trial 6 (0.9697) ties with trial 0 (0.9704): the same score on every fold; the search cannot rank them (best.toml holds trial 0's config: the first of the best mean, not a better one)
    """
    said: dict[str, list[FrozenTrial]] = {}
    for t, why in tied:
        said.setdefault(why, []).append(t)
    parts = []
    for why, ts in said.items():
        values = list(dict.fromkeys(f"{t.value:.4f}" for t in ts))
        parts.append(f"trial{'s' if len(ts) > 1 else ''} {joined([t.number for t in ts])} ({', '.join(values)}) "
                     f"tie{'s' if len(ts) == 1 else ''} with trial {best.number} ({best.value:.4f}): {why}")
    return (f"{'; '.join(parts)}; the search cannot rank them (best.toml holds trial {best.number}'s config: the "
            "first of the best mean, not a better one)")


def failures(trials: list[FrozenTrial]) -> list[str]:
    """Why each failed trial failed, one line each (the runner records it on the trial);
    identical reasons are said once, with the trials they hold for, and the trial that runs each
    again where it was queued again (lost to a dead worker or a crash). A trial stopped by Ctrl-C or
    SIGTERM is no failure (:func:`interruptions` says it), though Optuna stores it as FAIL.

    >>> import optuna
    >>> s = optuna.create_study()
    >>> for _ in range(2):
    ...     s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "lr: too big"}))
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "interrupted",
    ...                                                                    "interrupted": True}))
    >>> failures(s.get_trials())
    ['trials 0, 1 failed: lr: too big']
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "RuntimeError: boom",
    ...                                                                    "interrupted": True}))
    >>> s.add_trial(optuna.create_trial(state=TrialState.WAITING, system_attrs={"retry_history": [3]}))
    >>> failures(s.get_trials())[1]
    'trial 3 failed: RuntimeError: boom; run again as trial 4'

    A trial whose values the config refused before training is stored as pruned (so that the
    sampler avoids them) and said as refused:

    >>> s.add_trial(optuna.create_trial(state=TrialState.PRUNED, user_attrs={REFUSED_ATTR: "zoneout: no"}))
    >>> failures(s.get_trials())[-1]
    'trial 5 refused before training: zoneout: no'
    """
    by_reason: dict[str, list[int]] = {}
    refused: dict[str, list[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if trial_state(t) == "fail":
            reason = str(t.user_attrs.get(FAILED_ATTR) or "no reason recorded (its worker died?)")
            by_reason.setdefault(reason.strip().splitlines()[-1], []).append(t.number)
        elif t.state == TrialState.PRUNED and t.user_attrs.get(REFUSED_ATTR):
            refused.setdefault(str(t.user_attrs[REFUSED_ATTR]).strip().splitlines()[-1], []).append(t.number)
    # (a trial lost to a dead worker or a crash is queued again: which trial runs it)
    rerun_as = reruns(trials)
    lines = []
    for reason, ns in by_reason.items():
        again = [f"{n} as trial {rerun_as[n]}" if len(ns) > 1 else f"as trial {rerun_as[n]}"
                 for n in ns if n in rerun_as]
        lines.append(f"{_numbered(ns)} failed: {reason}" + (f"; run again {', '.join(again)}" if again else ""))
    lines += [f"{_numbered(ns)} refused before training: {reason}" for reason, ns in refused.items()]
    return lines


def _numbered(numbers: list[int]) -> str:
    return f"trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


def reruns(trials: list[FrozenTrial]) -> dict[int, int]:
    """``{trial: the trial that runs it again}`` for the trials queued again with their parameters
    (interrupted, or lost to a dead worker: :func:`~rnnlab.search.storage.retry_trial`).

    >>> import optuna
    >>> s = optuna.create_study()
    >>> s.add_trial(optuna.create_trial(value=0.5, system_attrs={"retry_history": [7]}))
    >>> reruns(s.get_trials())
    {7: 0}
    """
    # (a retry's history lists the trials it continues, oldest first: the last is the one it reruns)
    return {t.system_attrs[RETRY_HISTORY][-1]: t.number for t in trials if t.system_attrs.get(RETRY_HISTORY)}


def interruptions(trials: list[FrozenTrial]) -> list[str]:
    """The interrupted trials (Ctrl-C, SIGTERM or SIGHUP, or what stopped them:
    :func:`~rnnlab.search.storage.stop_words`), apart from the failures: each with the trial that
    runs it again (its retry, queued with its parameters), or grouped when stopped before they
    drew any (nothing to run again: a new trial is the same).

    >>> import optuna
    >>> s = optuna.create_study()
    >>> stopped = {"failed_because": "interrupted", "interrupted": True}
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs=stopped))
    >>> s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs=stopped, params={"x": 1.0},
    ...     distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    >>> s.add_trial(optuna.create_trial(value=0.5, params={"x": 1.0}, system_attrs={"retry_history": [1]},
    ...     distributions={"x": optuna.distributions.FloatDistribution(0, 2)}))
    >>> interruptions(s.get_trials())
    ['trial 1 interrupted (Ctrl-C, SIGTERM or SIGHUP): run again as trial 2', 'trial 0 interrupted (Ctrl-C, SIGTERM or SIGHUP) before it drew its parameters']
    """
    rerun_as = reruns(trials)
    lines, early = [], []
    for t in sorted(trials, key=lambda t: t.number):
        if not interrupted(t):
            continue
        if t.number in rerun_as:
            lines.append(f"trial {t.number} interrupted ({stop_words(t)}): run again as trial {rerun_as[t.number]}")
        elif not t.params:
            early.append(t)
        else:
            lines.append(f"trial {t.number} interrupted ({stop_words(t)})")
    # (grouped by what stopped them: a search killed outright is not the search's own Ctrl-C)
    for words in dict.fromkeys(stop_words(t) for t in early):
        numbers = [t.number for t in early if stop_words(t) == words]
        lines.append(f"{_numbered(numbers)} interrupted ({words}) before "
                     f"{'they' if len(numbers) > 1 else 'it'} drew {'their' if len(numbers) > 1 else 'its'} parameters")
    return lines


def copies(trials: list[FrozenTrial]) -> list[str]:
    """The complete trials that drew an earlier complete trial's parameters again and took its
    score without training, grouped by that trial.

    >>> import optuna
    >>> s = optuna.create_study()
    >>> for attrs in ({}, {"same_params_as": 0}, {"same_params_as": 0}):
    ...     s.add_trial(optuna.create_trial(value=0.5, user_attrs=attrs))
    >>> copies(s.get_trials())
    ["trials 1, 2 drew trial 0's parameters again: its score, not trained again"]
    """
    by_trial: dict[int, list[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        same = trial_row(t)["same_as"]
        if same is not None:
            by_trial.setdefault(same, []).append(t.number)
    return [f"{_numbered(ns)} drew trial {n}'s parameters again: its score, not trained again"
            for n, ns in by_trial.items()]
