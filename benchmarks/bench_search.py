"""rnnlab search: pruning against none, 2 workers against 1, in one run (not a timed test).

The base config is `rnnlab init`'s template with the data set replaced (default OSULeaf); the
space is the default regularization space; every search has the same trial budget and seed.
Runs, one after the other on the same machine:

* ``median, 1 worker``  — the default search;
* ``none, 1 worker``    — the same without pruning (the reference for the time saved);
* ``median, 2 workers`` — the default search on two processes (one core each);
* ``template``          — the base config itself, trained on the whole training split.

For each: wall time of the search, finished trials per hour, the best fold score (mean ± spread
over the folds of the training split), and the test accuracy of the best config retrained on the
whole training split (evaluated once). Targets (issue 16): pruning saves >= 40 % of the wall time
with a best score within the fold spread of the unpruned one; 2 workers >= 1.7x the trials per
hour of one. The machine is shared, so ratios measured in the same run are what counts.

    .venv/bin/python benchmarks/bench_search.py [--dataset OSULeaf] [--trials 20] [--epochs N]
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
from rnnlab.search.study import SearchOptions, final_config, run_search

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


def run(label: str, text: str, root: Path, workers: int) -> dict:
    config = root / f"{label}.toml"
    config.write_text(text)
    t0 = time.perf_counter()
    outcome = run_search(SearchOptions(str(config), workers=workers, out=str(root / label), final=False), log=None)
    wall = time.perf_counter() - t0
    trials = outcome.study.get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    best = outcome.best
    scores = best.user_attrs.get("fold_scores", []) if best else []
    from rnnlab.search.study import run_final

    final = run_final(root / label, best, lambda _m: None) if best else None
    row = {"label": label, "wall": wall, "finished": len(finished),
           "pruned": sum(t.state.name == "PRUNED" for t in trials), "per_hour": len(finished) / wall * 3600,
           "best": best.value if best else float("nan"), "spread": float(np.std(scores)) if scores else float("nan"),
           "test": (final or {}).get("test", {}).get("acc", float("nan"))}
    print(f"{label}: {row}", flush=True)
    return row


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
    ap.add_argument("--steps", type=int, default=None, help="train this many optimizer steps instead of the template's")
    ap.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-search-"))
    median = base_config(args.dataset, args.epochs, args.trials, "median", args.steps)
    rows = [run("median-1w", median, root, 1),
            run("none-1w", base_config(args.dataset, args.epochs, args.trials, "none", args.steps), root, 1),
            run("median-2w", median, root, 2)]
    template = template_test(median, root)
    a, b, c = rows
    saved = 1 - a["wall"] / b["wall"]
    speedup = c["per_hour"] / a["per_hour"]
    within = abs(a["best"] - b["best"]) <= max(a["spread"], b["spread"])
    lines = [
        f"rnnlab search on {args.dataset}: default space, {args.trials} trials, template config"
        + (f" with {args.epochs} epochs" if args.epochs else f" with training.steps = {args.steps}" if args.steps else "")
        + f", {torch.get_num_threads()} thread(s) per worker",
        "",
        "| search | wall time | finished (pruned) | trials / hour | best fold score | test acc (best config) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['wall']:.0f} s | {r['finished']} ({r['pruned']}) | {r['per_hour']:.0f} | "
                     f"{r['best']:.4f} ± {r['spread']:.4f} | {r['test']:.4f} |")
    lines.append(f"| template (no search) | - | - | - | - | {template:.4f} |")
    lines += ["",
              f"pruning saves {saved:.0%} of the wall time (target >= {TARGET_SAVED:.0%}): "
              f"{'met' if saved >= TARGET_SAVED else 'NOT met'}; best score within the fold spread: "
              f"{'yes' if within else 'NO'}",
              f"2 workers: {speedup:.2f}x the trials per hour of one (target >= {TARGET_SPEEDUP}x): "
              f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}",
              f"(study directories in {root})"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
