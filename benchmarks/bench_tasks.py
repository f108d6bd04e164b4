"""Tasks other than classification on real data (issue 21): regression, side by side in one run.

For each bundled regression set (Covid3Month, CardanoSentiment), with seeds 0, 1, 2:

* rnnlab: the ``rnnlab init --task regression`` template with only ``data.dataset`` changed
  (``--steps`` shortens its budget for a quick run; the report says which budget ran);
* the constant predictor of the training mean (what R² = 0 means);
* aeon's ``MiniRocketRegressor`` (10 000 kernels, ridge regression), seeded like the runs.

The test split is evaluated once per run, at its end, and chooses nothing; RMSE is in the data's
units. Results go to ``docs/tasks_runs.jsonl`` (one line per run, appended at once) and a table
in ``docs/tasks.md`` between its ``<!-- bench-tasks -->`` markers.

    .venv/bin/python benchmarks/bench_tasks.py                 # make bench-tasks
    .venv/bin/python benchmarks/bench_tasks.py --steps 500 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "tasks_runs.jsonl"
PAGE = DOCS / "tasks.md"
DATASETS = ["Covid3Month", "CardanoSentiment"]
SEEDS = [0, 1, 2]
MARK = "<!-- bench-tasks -->"


def rnnlab_run(dataset: str, seed: int, steps: int | None) -> dict[str, Any]:
    """The regression template on ``dataset`` (only the data source and the seed changed, and
    the budget when ``steps`` is given): its test RMSE and seconds."""
    from rnnlab.config import parse_config, template_for
    from rnnlab.train.trainer import train

    text = template_for("regression").replace('\ndataset = "Covid3Month"\n', f'\ndataset = "{dataset}"\n', 1)
    text = text.replace("\nseed = 0\n", f"\nseed = {seed}\n", 1)
    if steps is not None:
        text = text.replace("\nsteps = 2000\n", f"\nsteps = {steps}\n", 1)
    config = parse_config(text)
    assert config.training.seed == seed and config.data.dataset == dataset
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = train(config, out=Path(tmp) / "run", log=None, progress=False)
        seconds = time.perf_counter() - start
    assert result.test is not None
    row = {"model": "rnnlab", "test_rmse": result.test["rmse"], "test_r2": result.test["r2"],
           "train_rmse": result.train_eval["rmse"], "seconds": seconds, "steps": config.training.steps,
           "best_epoch": result.best["epoch"] if result.best else None, "epochs": result.epochs}
    if result.mean_guard is not None:  # (the template's task.mean_guard: did the run keep its model?)
        row["mean_guard"] = result.mean_guard.to_dict()
    return row


def baselines(dataset: str, seeds: list[int]) -> list[dict[str, Any]]:
    """The training mean, and MiniRocketRegressor per seed, on the same splits as published."""
    import numpy as np
    from aeon.regression.convolution_based import MiniRocketRegressor

    from rnnlab.data import load_bundled

    train, test = load_bundled(dataset)
    ytr, yte = train.y[:, 0], test.y[:, 0]
    rows = [{"model": "training mean", "seed": None,
             "test_rmse": float(np.sqrt(np.mean((yte - ytr.mean()) ** 2))), "seconds": 0.0}]
    Xtr, Xte = np.transpose(train.X, (0, 2, 1)), np.transpose(test.X, (0, 2, 1))  # aeon: [N, C, T]
    for seed in seeds:
        start = time.perf_counter()
        reg = MiniRocketRegressor(random_state=seed, n_jobs=1).fit(Xtr, ytr)
        pred = reg.predict(Xte)
        rows.append({"model": "MiniRocketRegressor", "seed": seed, "test_rmse": float(np.sqrt(np.mean((yte - pred) ** 2))),
                     "seconds": time.perf_counter() - start})
    return rows


def _ms(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def table(rows: list[dict[str, Any]], steps: int | None) -> str:
    """The markdown table of ``docs/tasks.md``: test RMSE mean ± sd over the seeds, per set and model."""
    from rnnlab.config import parse_config, template_for

    stop = parse_config(template_for("regression")).training.early_stopping
    budget = f"training.steps = {steps} (shortened)" if steps else "the template's 2000 steps"
    lines = [f"Budget of the rnnlab runs: {budget}, early stopping with patience {stop.patience} on {stop.monitor}, "
             f"the mean guard {'on' if parse_config(template_for('regression')).task.mean_guard else 'off'}; "
             f"{os.cpu_count()} CPUs on the machine, one run at a time.", "",
             "| data set | model | test RMSE (mean ± sd) | runs | seconds per run | mean guard: models kept (z) |",
             "|---|---|---|---|---|---|"]
    for dataset in DATASETS:
        for model in ("rnnlab", "training mean", "MiniRocketRegressor"):
            got = [r for r in rows if r["dataset"] == dataset and r["model"] == model]
            if got:
                guards = [r["mean_guard"] for r in got if "mean_guard" in r]
                zs = ", ".join(format(g["z"], ".2f") for g in guards)
                kept = f"{sum(g['kept'] for g in guards)} of {len(guards)} ({zs})" if guards else ""
                lines.append(f"| {dataset} | {model} | {_ms([r['test_rmse'] for r in got])} | {len(got)} | "
                             f"{statistics.mean(r['seconds'] for r in got):.1f} | {kept} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument("--steps", type=int, default=None, help="shorten the template's budget (a quick run)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as log:
        def record(r: dict[str, Any]) -> None:
            # each run is on disk as soon as it ends: a benchmark killed midway keeps what it measured
            rows.append(r)
            log.write(json.dumps({**r, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
            log.flush()
            print(json.dumps(r), flush=True)

        for dataset in args.datasets:
            for r in baselines(dataset, args.seeds):
                record(dict(r, dataset=dataset))
            for seed in args.seeds:
                record(dict(rnnlab_run(dataset, seed, args.steps), dataset=dataset, seed=seed))
    text = table(rows, args.steps)
    print(text)
    if PAGE.exists() and PAGE.read_text().count(MARK) == 2:
        head, _, rest = PAGE.read_text().partition(MARK)
        _, _, tail = rest.partition(MARK)
        PAGE.write_text(f"{head}{MARK}\n{text}\n{MARK}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
