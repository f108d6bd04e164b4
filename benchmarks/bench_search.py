"""rnnlab search: pruning against none, 2 workers against 1, in one run (not a timed test).

The base config is `rnnlab init`'s template with the data set replaced (default OSULeaf); the
space is the default regularization space; every search has the same trial budget and seed.
Runs, one after the other on the same machine:

* ``median, 1 worker``  — the default search;
* ``none, 1 worker``    — the same without pruning (the reference for the time saved);
* ``median, 1 worker, same trials`` — the trials of ``none, 1 worker`` replayed (enqueued, in
  order) with the median pruner: the pruner's saving on the same candidates;
* ``median, 2 workers`` — the default search on two processes (one core each), as a user runs it;
* ``none, 2 workers, same trials`` — the trials of ``none, 1 worker`` replayed on two processes:
  equal work on both sides, so the ratio of trials per hour is the speed-up of the workers alone;

Why the replays: after the first pruned trial, TPE learns from other results, so a pruned search
and an unpruned one (and a one- and a two-worker search: each worker samples with its own seed,
and TPE's constant liar steers them apart) draw other trials; on this space a trial's cost
varies about twofold with what was drawn (recurrent batch norm), which the wall time of the free
searches mixes into the saving and the speed-up. The targets are judged on the replays; the
free searches are reported beside them, as what a user sees;
* ``template``          — the base config itself, trained on the whole training split.

For each: wall time of the search, the trial time (the sum of the trials' durations: the work
done), finished trials per hour, the best fold score (mean ± spread over the folds of the
training split), and the test accuracy of the best config retrained on the whole training split
(evaluated once). Targets (issue 16): pruning saves >= 40 % of the wall time with a best score
within the fold spread of the unpruned one; 2 workers >= 1.7x the trials per hour of one. The
machine is shared, so ratios measured in the same run are what counts.

    .venv/bin/python benchmarks/bench_search.py [--dataset OSULeaf] [--trials 20] [--steps 300] [--epochs N]
        [--out docs/search_benchmark.md]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnlab.config import TEMPLATE, config_from_dict, dump_config
from rnnlab.search.storage import open_storage, open_study
from rnnlab.search.study import (
    SearchOptions,
    final_config,
    make_pruner,
    make_sampler,
    prepare,
    run_final,
    run_search,
)

TARGET_SAVED, TARGET_SPEEDUP = 0.40, 1.7


def base_config(dataset: str, epochs: int | None, trials: int, pruner: str, steps: int | None = None) -> str:
    import tomllib

    raw = tomllib.loads(TEMPLATE)
    raw["name"] = f"bench-{dataset}"
    raw["data"]["dataset"] = dataset
    if epochs is not None:  # instead of the template's budget in steps
        raw["training"].pop("steps", None)
        raw["training"]["epochs"] = epochs
    elif steps is not None:  # a smaller budget in steps than the template's
        raw["training"]["steps"] = steps
    raw["tracking"].update(health=False, grad_through_time=False)
    raw["search"] = {"trials": trials, "pruner": pruner, "seed": 0}
    return dump_config(config_from_dict(raw))


def run(label: str, text: str, root: Path, workers: int, replay: list[dict] | None = None) -> dict:
    """One search into ``root/label``; ``replay``: parameter sets enqueued first, in order."""
    config = root / f"{label}.toml"
    config.write_text(text)
    options = SearchOptions(str(config), workers=workers, out=str(root / label), final=False)
    if replay:
        enqueue(options, replay)
    t0 = time.perf_counter()
    outcome = run_search(options, log=None)
    wall = time.perf_counter() - t0
    trials = outcome.study.get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    best = outcome.best
    scores = best.user_attrs.get("fold_scores", []) if best else []
    final = run_final(root / label, best, lambda _m: None) if best else None
    row = {"label": label, "wall": wall, "finished": len(finished),
           "pruned": sum(t.state.name == "PRUNED" for t in trials), "per_hour": len(finished) / wall * 3600,
           "work": sum((t.datetime_complete - t.datetime_start).total_seconds() for t in finished),
           "best": best.value if best else float("nan"), "spread": float(np.std(scores)) if scores else float("nan"),
           "test": (final or {}).get("test", {}).get("acc", float("nan")),
           "params": [t.params for t in sorted(finished, key=lambda t: t.number)],
           "values": {t.number: t.value for t in finished}}
    print(f"{label}: { {k: v for k, v in row.items() if k not in ('params', 'values')} }", flush=True)
    return row


def enqueue(options: SearchOptions, params: list[dict]) -> None:
    """Create the study of ``options`` as ``run_search`` opens it, with ``params`` waiting in it."""
    setup = prepare(options)
    storage = open_storage(None, setup.out, setup.search.heartbeat)
    study = open_study(storage, setup.study_name, setup.base, make_sampler(setup.search, setup.search.seed),
                       make_pruner(setup.search, setup.plan, setup.epochs), setup.direction)
    for p in params:
        study.enqueue_trial(p)


def template_test(text: str, root: Path) -> float:
    from rnnlab.config import parse_config
    from rnnlab.train.trainer import train

    cfg = final_config(parse_config(text), root / "template")
    return float(train(cfg, out=root / "template", progress=False, log=None).test["acc"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="OSULeaf")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=None, help="train this many epochs instead of the template's training.steps")
    ap.add_argument("--steps", type=int, default=300,
                    help="train this many optimizer steps instead of the template's 2000 (default 300: the five "
                         "searches take about 40 minutes on 2 cores)")
    ap.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-search-"))
    median = base_config(args.dataset, args.epochs, args.trials, "median", args.steps)
    none = base_config(args.dataset, args.epochs, args.trials, "none", args.steps)
    a = run("median-1w", median, root, 1)
    b = run("none-1w", none, root, 1)
    e = run("median-1w-same-trials", median, root, 1, replay=b["params"])
    c = run("median-2w", median, root, 2)
    d = run("none-2w-same-trials", none, root, 2, replay=b["params"])
    rows = [a, b, e, c, d]
    template = template_test(median, root)
    saved = 1 - e["wall"] / b["wall"]
    speedup = d["per_hour"] / b["per_hour"]
    same_work = d["values"] == b["values"]  # the replay reproduced every trial's score
    within = abs(e["best"] - b["best"]) <= max(e["spread"], b["spread"])
    lines = [
        f"rnnlab search on {args.dataset}: default space, {args.trials} trials, template config"
        + (f" with {args.epochs} epochs" if args.epochs else f" with training.steps = {args.steps}" if args.steps else "")
        + f", {torch.get_num_threads()} thread(s) per worker",
        "",
        "| search | wall time | trial time | finished (pruned) | trials / hour | best fold score | test acc (best config) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['wall']:.0f} s | {r['work']:.0f} s | {r['finished']} ({r['pruned']}) | "
                     f"{r['per_hour']:.0f} | {r['best']:.4f} ± {r['spread']:.4f} | {r['test']:.4f} |")
    lines.append(f"| template (no search) | - | - | - | - | - | {template:.4f} |")
    lines += ["",
              f"pruning the same trials saves {saved:.0%} of the wall time (target >= {TARGET_SAVED:.0%}): "
              f"{'met' if saved >= TARGET_SAVED else 'NOT met'}; best score within the fold spread: "
              f"{'yes' if within else 'NO'}",
              f"the free pruned search took {1 - a['wall'] / b['wall']:.0%} less wall time than the free unpruned one, "
              f"best {a['best']:.4f} against {b['best']:.4f}",
              f"2 workers on the same trials: {speedup:.2f}x the trials per hour of one (target >= {TARGET_SPEEDUP}x): "
              f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}; every trial's score reproduced: "
              f"{'yes' if same_work else 'NO'}",
              f"2 workers drawing their own trials (median pruner): {c['per_hour'] / a['per_hour']:.2f}x the trials "
              f"per hour of one, with {c['work'] / a['work']:.2f}x its trial time",
              f"(study directories in {root})"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
