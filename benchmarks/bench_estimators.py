"""RNNClassifier beside aeon's MiniRocket and 1-NN DTW, through aeon's evaluation path.

Every classifier is an aeon estimator: ``fit`` on a data set's published training split, then
aeon's ``score`` (accuracy) on its published test split (the default split: no resampling). The
data sets and seeds are ``make bench-template``'s (benchmarks/bench_template.py), read from the files
rnnlab ships; RNNClassifier is the ``rnnlab init`` template, as there, so its accuracies should
agree with docs/template.md within the seeds' spread. MiniRocket is seeded like RNNClassifier;
1-NN DTW (full window) is deterministic and runs once. A classifier that cannot take a set
(MiniRocket and unequal lengths) gets "n/a".

One table (accuracy mean ± sd over seeds, seconds per fit + predict) is printed and written to
docs/estimators.md; each finished fit is appended to docs/estimators_runs.jsonl at once, so a
killed benchmark keeps its fits and a rerun skips them (``--fresh`` forgets them).

    .venv/bin/python benchmarks/bench_estimators.py                    # all sets, seeds 0 1 2
    .venv/bin/python benchmarks/bench_estimators.py --datasets UnitTest --seeds 0 --steps 100
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_template import DATASETS, SEEDS  # noqa: E402  (the same sets and seeds)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "estimators_runs.jsonl"
TABLE = ROOT / "docs" / "estimators.md"
CLASSIFIERS = ["RNNClassifier", "MiniRocket", "1-NN DTW"]
END_OF_TABLES = "<!-- end of the tables bench_estimators.py writes -->"


def aeon_data(name: str) -> tuple[Any, Any, Any, Any]:
    """(X_train, y_train, X_test, y_test) of a shipped set as aeon takes them: ``[N, C, T]``, or
    a list of ``[C, T_i]`` when the lengths differ; labels as published."""
    import numpy as np

    from rnnlab.data import load_bundled

    def collection(split: Any) -> Any:
        series = [split.X[i, : split.lengths[i]].T for i in range(len(split))]
        return np.stack(series) if len(set(split.lengths.tolist())) == 1 else series

    train, test = load_bundled(name)
    labels = np.array(train.classes)
    return collection(train), labels[train.y], collection(test), labels[test.y]


def make(classifier: str, seed: int, steps: int | None) -> Any:
    if classifier == "RNNClassifier":
        from rnnlab.estimators import RNNClassifier

        return RNNClassifier(random_state=seed, steps=steps, params={"training.threads": 1})
    if classifier == "MiniRocket":
        from aeon.classification.convolution_based import MiniRocketClassifier

        return MiniRocketClassifier(random_state=seed)
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    return KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)


def one_fit(job: tuple[str, str, int, int | None]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    name, classifier, seed, steps = job
    X_train, y_train, X_test, y_test = aeon_data(name)
    est = make(classifier, seed, steps)
    record: dict[str, Any] = {"dataset": name, "classifier": classifier, "seed": seed, "steps": steps}
    if isinstance(X_train, list) and not est.get_tag("capability:unequal_length"):
        return {**record, "acc": None, "seconds": None, "note": "unequal lengths not supported"}
    start = time.perf_counter()
    est.fit(X_train, y_train)
    acc = float(est.score(X_test, y_test))
    seconds = time.perf_counter() - start
    if classifier == "RNNClassifier":  # the optimizer steps taken: a template run of the same seed takes as many
        record["trained_steps"] = est.summary_["final"]["step"]
    return {**record, "acc": acc, "seconds": seconds}


def read_records() -> list[dict[str, Any]]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def template_runs(runs: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """``make bench-template``'s runs of the template (candidate "template"), by set and seed."""
    if not runs.exists():
        return {}
    return {(r["dataset"], r["seed"]): r for r in map(json.loads, runs.read_text().splitlines())
            if r.get("candidate") == "template"}


def mean_sd(accs: list[float]) -> str:
    sd = f" ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else ""
    return f"{statistics.mean(accs):.3f}{sd} (n={len(accs)})"


def table(records: list[dict[str, Any]], datasets: list[str], template: dict[tuple[str, int], dict[str, Any]]) -> str:
    """One row per set: each classifier's accuracy and seconds, and beside them the template
    runs' accuracy over the seeds RNNClassifier ran (the comparison column)."""
    head = "| data set | " + " | ".join(f"{c} acc | {c} s" for c in CLASSIFIERS) + " | bench-template acc |"
    rows = [head, "|" + "---|" * (2 + 2 * len(CLASSIFIERS))]
    for name in datasets:
        cells = [name]
        for c in CLASSIFIERS:
            runs = [r for r in records if r["dataset"] == name and r["classifier"] == c]
            accs = [r["acc"] for r in runs if r["acc"] is not None]
            secs = [r["seconds"] for r in runs if r["seconds"] is not None]
            if not runs:
                cells += ["", ""]
            elif not accs:
                cells += ["n/a", "n/a"]
            else:
                cells += [mean_sd(accs), f"{statistics.mean(secs):.1f}"]
        seeds = sorted({r["seed"] for r in records if r["dataset"] == name and r["classifier"] == "RNNClassifier"})
        theirs = [template[(name, seed)]["test_acc"] for seed in seeds if (name, seed) in template]
        cells.append(mean_sd(theirs) if theirs else "")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def same_as_template(records: list[dict[str, Any]], runs: Path) -> str:
    """RNNClassifier's fits beside ``make bench-template``'s runs of the same set and seed
    (candidate "template" in ``runs``): the same config, data and seed train the same model, so
    the test accuracy and the optimizer steps must be equal, not merely close."""
    template = template_runs(runs)
    if not template:
        return f"(no template runs in {runs.name} to compare with)"
    rows = ["| data set | seed | RNNClassifier acc | steps | template run acc | steps | same |", "|---|---|---|---|---|---|---|"]
    for r in records:
        t = template.get((r["dataset"], r["seed"]))
        if r["classifier"] != "RNNClassifier" or r["steps"] is not None or t is None or r["acc"] is None:
            continue
        same = r["acc"] == t["test_acc"] and r.get("trained_steps") == t["steps"]
        rows.append(f"| {r['dataset']} | {r['seed']} | {r['acc']:.4f} | {r.get('trained_steps')} | {t['test_acc']:.4f} "
                    f"| {t['steps']} | {'yes' if same else 'NO'} |")
    return "\n".join(rows) if len(rows) > 2 else "(no fit of a seed the template runs have)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--seeds", nargs="*", type=int, default=SEEDS)
    ap.add_argument("--classifiers", nargs="*", default=CLASSIFIERS, choices=CLASSIFIERS)
    ap.add_argument("--steps", type=int, default=None, help="RNNClassifier's training.steps (default: the template's)")
    ap.add_argument("--jobs", type=int, default=2, help="processes at once (one thread each)")
    ap.add_argument("--fresh", action="store_true", help="forget earlier fits instead of skipping them")
    ap.add_argument("--template-runs", type=Path, default=ROOT / "docs" / "template_runs.jsonl",
                    help="make bench-template's runs, to compare RNNClassifier's fits with (same set and seed)")
    args = ap.parse_args()
    if args.fresh and RESULTS.exists():
        RESULTS.unlink()
    done = {(r["dataset"], r["classifier"], r["seed"], r["steps"]) for r in read_records()}
    # Seed-major: every set's first seed before any set's second, so a benchmark stopped early
    # still covers every set.
    jobs = [(name, c, seed if c != "1-NN DTW" else 0, args.steps if c == "RNNClassifier" else None)
            for seed in args.seeds for name in args.datasets for c in args.classifiers]
    jobs = [j for j in dict.fromkeys(jobs) if j not in done]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for record in pool.map(one_fit, jobs):
            with open(RESULTS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)
    records = read_records()
    text = table(records, args.datasets, template_runs(args.template_runs))
    check = same_as_template(records, args.template_runs)
    print(text + "\n\n" + check)
    written = ("# RNNClassifier beside aeon's classifiers\n\nWritten by `benchmarks/bench_estimators.py` "
               "(see its docstring): accuracy on each set's published test split (aeon's `score`), mean ± sd "
               "over seeds, and seconds per fit + predict, one thread per process; the last column is "
               "`make bench-template`'s template runs of the same seeds.\n\n" + text + "\n\n"
               "## The same figures as `make bench-template`\n\nRNNClassifier with its defaults is the "
               "`rnnlab init` template, trained by `rnnlab train`'s trainer on the same training split (the "
               "series aeon takes, written as the run's data) with the same seed: the same model. Its fits "
               f"beside the template runs of the same set and seed ({args.template_runs.name}, candidate "
               "\"template\"): test accuracy and optimizer steps (after the `[adapt]` rules) must be equal."
               "\n\n" + check + "\n")
    # The benchmark owns the page up to END_OF_TABLES; what follows (conditions, the other
    # estimators) is kept as written.
    rest = TABLE.read_text(encoding="utf-8").partition(END_OF_TABLES)[2] if TABLE.exists() else ""
    TABLE.write_text(written + "\n" + END_OF_TABLES + rest, encoding="utf-8")


if __name__ == "__main__":
    main()
