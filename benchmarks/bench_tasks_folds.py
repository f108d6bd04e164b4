"""How the regression template's mean guard was chosen: folds of a bundled set's TRAINING split only.

The training split of a bundled regression set (Covid3Month, CardanoSentiment) is cut into 5
folds (stratified on the target, seed 0); each fold is predicted by the ``rnnlab init --task
regression`` template (only the data changed, ``task.mean_guard`` off, so that the trained model is
measured) trained on the other four, with its own validation hold-out inside them, for each seed.
Per run it records the guard's statistic on that hold-out (:func:`rnnlab.train.mean_guard.judge`:
the model's improvement over the training mean in standard errors, ``z``) and the RMSE on the
held-out fold of the model and of the training part's mean, with the predictions; then it prints,
pooled over folds and seeds, the RMSE of the template, of the guard at several margins (the model
where ``z`` exceeds the margin, the mean elsewhere), of averaging the seeds' models, and of the
mean. The test split is never read. Rows go to ``--out`` (JSONL) as each run ends.

    .venv/bin/python benchmarks/bench_tasks_folds.py --dataset CardanoSentiment --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MARGINS = (0.0, 0.5, 1.0, 1.5, 1.645, 2.0)


def run_fold(dataset: str, fold: int, seed: int, tmp: Path) -> dict[str, Any]:
    """Train the template (guard off) on four folds of ``dataset``'s training split; measure the
    fifth."""
    import torch

    from rnnlab.config import parse_config, template_for
    from rnnlab.data import load_bundled, load_data
    from rnnlab.data.folds import stratified_folds
    from rnnlab.task import REGRESSION, task_for
    from rnnlab.train.mean_guard import judge
    from rnnlab.train.trainer import train

    full, _ = load_bundled(dataset)  # the training split only
    y = full.y.reshape(len(full.y), -1)
    held = stratified_folds(REGRESSION.strata(y), 5, seed=0)[fold]
    rest = np.setdiff1d(np.arange(len(y)), held)
    for name, index in (("train", rest), ("held", held)):
        np.savez(tmp / f"{name}.npz", X=full.X[index], y=y[index], lengths=full.lengths[index])
    text = template_for("regression").replace('\ndataset = "Covid3Month"\n',
                                              f'\npath = "{tmp}/train.npz"\ntest_path = "{tmp}/held.npz"\n', 1)
    text = text.replace("\nseed = 0\n", f"\nseed = {seed}\n", 1).replace("\nmean_guard = true ", "\nmean_guard = false", 1)
    config = parse_config(text)
    assert not config.task.mean_guard and config.training.seed == seed
    start = time.perf_counter()
    result = train(config, out=tmp / f"run-{fold}-{seed}", log=None, progress=False)
    seconds = time.perf_counter() - start
    data = load_data(config.data, seed=seed, task=task_for(config))  # the run's own split and scaling

    def outputs(split: Any) -> np.ndarray:
        with torch.no_grad():
            return result.model.eval()(torch.from_numpy(split.X), torch.from_numpy(split.lengths))[0].double().numpy()

    guard = judge(outputs(data.val), data.val.y)
    scale = data.test.scale
    pred = outputs(data.test)[:, 0] * scale.std[0] + scale.mean[0]
    truth = data.test.y[:, 0].astype(np.float64) * scale.std[0] + scale.mean[0]
    return {"dataset": dataset, "fold": fold, "seed": seed, "z": guard.z, "n_val": guard.n_val,
            "best_epoch": result.best["epoch"] if result.best else None, "epochs": result.epochs,
            "rmse_model": float(np.sqrt(np.mean((pred - truth) ** 2))),
            "rmse_mean": float(np.sqrt(np.mean((truth - scale.mean[0]) ** 2))), "n": len(truth),
            "pred": pred.tolist(), "truth": truth.tolist(), "seconds": round(seconds, 1)}


def rules(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(rule, its RMSE on the held-out folds pooled over folds and seeds) for one data set's runs."""
    def pooled(errors: list[tuple[int, float]]) -> float:
        return math.sqrt(sum(n * e * e for n, e in errors) / sum(n for n, _ in errors))

    out = [("template, no guard", f"{pooled([(r['n'], r['rmse_model']) for r in rows]):.4g}")]
    for m in MARGINS:
        kept = sum(r["z"] > m for r in rows)
        rmse = pooled([(r["n"], r["rmse_model"] if r["z"] > m else r["rmse_mean"]) for r in rows])
        out.append((f"guard, margin {m:g}", f"{rmse:.4g} (model kept in {kept} of {len(rows)})"))
    by_fold: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_fold.setdefault(r["fold"], []).append(r)
    averaged = [(len(rs[0]["truth"]), float(np.sqrt(np.mean((np.mean([r["pred"] for r in rs], axis=0)
                                                               - np.array(rs[0]["truth"])) ** 2))))
                for rs in by_fold.values()]
    out.append(("the seeds' models averaged, per fold", f"{pooled(averaged):.4g}"))
    out.append(("training mean", f"{pooled([(r['n'], r['rmse_mean']) for r in rows]):.4g}"))
    beats = sum(r["rmse_model"] < r["rmse_mean"] for r in rows)
    out.append(("runs whose model beat the mean on its fold", f"{beats} of {len(rows)}"))
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``docs/tasks.md`` (between its ``<!-- guard-folds -->`` markers): a
    column per data set."""
    names = sorted({r["dataset"] for r in rows})
    columns = [rules([r for r in rows if r["dataset"] == name]) for name in names]
    lines = ["| rule (RMSE on the held-out folds, pooled) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for i, (rule, _) in enumerate(columns[0]):
        lines.append(f"| {rule} | " + " | ".join(c[i][1] for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="CardanoSentiment", choices=["Covid3Month", "CardanoSentiment"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "docs" / "tasks_folds_runs.jsonl"))
    parser.add_argument("--resume", action="store_true", help="skip the runs already in --out")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    rows = [r for r in rows if r["dataset"] == args.dataset and r["seed"] in args.seeds]
    done = {(r["fold"], r["seed"]) for r in rows} if args.resume else set()
    if not args.resume:
        rows = []
    for fold in range(5):
        for seed in args.seeds:
            if (fold, seed) in done:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                row = run_fold(args.dataset, fold, seed, Path(tmp))
            rows.append(row)
            with open(out, "a", encoding="utf-8") as f:  # each run on disk as soon as it ends
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: v for k, v in row.items() if k not in ("pred", "truth")}), file=sys.stderr, flush=True)
    everything = [json.loads(line) for line in out.read_text().splitlines()]
    text = table(everything)
    print(text)
    page, mark = ROOT / "docs" / "tasks.md", "<!-- guard-folds -->"
    if page.exists() and page.read_text().count(mark) == 2:
        head, _, rest = page.read_text().partition(mark)
        page.write_text(f"{head}{mark}\n{text}\n{mark}{rest.partition(mark)[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
