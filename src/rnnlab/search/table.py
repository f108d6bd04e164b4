"""The trials table of a study, as ``rnnlab study DIR`` prints it.

Example:
    >>> import optuna
    >>> s = optuna.create_study(direction="maximize")
    >>> s.add_trial(optuna.create_trial(value=0.8, params={"training.lr": 0.01},
    ...     distributions={"training.lr": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)},
    ...     user_attrs={"fold_scores": [0.7, 0.9], "epochs": [5, 5]}))
    >>> print(trials_table(s.get_trials()))
    trial  state     score   spread  folds  epochs  lr
    0      complete  0.8000  0.1000  2      5       0.01
"""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from rnnlab.search.storage import FAILED_ATTR, worker_gone


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def short_names(names: list[str]) -> dict[str, str]:
    """The last part of each key path, or more of it where two would clash; the derived
    ``decay.*`` keys stay whole (``recurrent`` alone would not say it is a decay).

    >>> short_names(["model.dropout", "model.head.dropout", "training.lr", "decay.kernel"])
    {'model.dropout': 'model.dropout', 'model.head.dropout': 'head.dropout', 'training.lr': 'lr', 'decay.kernel': 'decay.kernel'}
    """
    out = {}
    for n in names:
        if n.startswith("decay."):
            out[n] = n
            continue
        parts = n.split(".")
        for k in range(1, len(parts) + 1):
            cand = ".".join(parts[-k:])
            if sum(1 for m in names if m == cand or m.endswith("." + cand)) == 1:
                out[n] = cand
                break
        else:
            out[n] = n
    return out


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """One trial's summary: state, score, spread of fold scores, folds, epochs, where pruned."""
    scores = t.user_attrs.get("fold_scores") or []
    epochs = t.user_attrs.get("epochs") or []
    pruned = t.user_attrs.get("pruned_at")
    return {
        "trial": t.number, "state": t.state.name.lower(),
        "score": t.value if t.state == TrialState.COMPLETE else None,
        "spread": float(np.std(scores)) if scores and t.state == TrialState.COMPLETE else None,
        "folds": len(scores) if scores else None,
        "epochs": (f"fold {pruned['fold']} ep {pruned['epoch']}" if pruned else
                   (str(epochs[0]) if epochs and len(set(epochs)) == 1 else ",".join(map(str, epochs)) or None)),
        "params": dict(t.params),
        "seconds": t.duration.total_seconds() if t.duration is not None else None,
    }


def trials_table(trials: list[FrozenTrial]) -> str:
    """One line per trial: number, state, score (mean of folds), spread, folds, epochs (or
    where it was pruned), then the sampled parameters."""
    from rnnlab.tables import text_table

    names = list(dict.fromkeys(k for t in trials for k in t.params))
    short = short_names(names)
    head = ["trial", "state", "score", "spread", "folds", "epochs"] + [short[n] for n in names]
    rows = [head]
    for t in sorted(trials, key=lambda t: t.number):
        r = trial_row(t)
        # A dead local worker's trial: failed as such when a search of the study runs next.
        state = f"running (worker {t.user_attrs['pid']} gone)" if worker_gone(t) else r["state"]
        rows.append([str(r["trial"]), state, f"{r['score']:.4f}" if r["score"] is not None else "-",
                     f"{r['spread']:.4f}" if r["spread"] is not None else "-", _cell(r["folds"]),
                     _cell(r["epochs"])] + [_cell(r["params"].get(n)) for n in names])
    return text_table(rows)


def failures(trials: list[FrozenTrial]) -> list[str]:
    """Why each failed trial failed, one line each (the runner records it on the trial);
    identical reasons are said once, with the trials they hold for.

    >>> import optuna
    >>> s = optuna.create_study()
    >>> for _ in range(2):
    ...     s.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": "lr: too big"}))
    >>> failures(s.get_trials())
    ['trials 0, 1 failed: lr: too big']
    """
    by_reason: dict[str, list[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.FAIL:
            reason = str(t.user_attrs.get(FAILED_ATTR) or "no reason recorded (its worker died?)")
            by_reason.setdefault(reason.strip().splitlines()[-1], []).append(t.number)
    return [f"trial{'s' if len(ns) > 1 else ''} {', '.join(map(str, ns))} failed: {reason}"
            for reason, ns in by_reason.items()]
