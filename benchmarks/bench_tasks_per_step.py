"""Per-step targets on the ``rnnlab init --task per-step-*`` templates, only the data changed.

Three problems, each with a baseline measured in the same run, the test split evaluated once at
the end of each run (it chooses nothing):

* **adding problem** (values), T = 200 and 400 (:func:`rnnlab.data.synthetic.adding_problem`):
  the template trains the running sum at every step; the figure is the mean squared error of the
  *last* step's prediction (the classic target, the sum of the two marked values) on the test
  split, against predicting the mean (0.167 in theory; measured here on the same test split).
  Solved: MSE below 0.01.
* **denoising autoencoder** (values): a bundled set's series (GunPoint, 150 steps) with Gaussian
  noise of standard deviation ``sigma`` (a fraction of the training series' overall std) as
  input and the clean series as target; the figure is the test reconstruction RMSE against the
  noise level (the RMSE of returning the noisy input unchanged), for each ``sigma``.
* **per-step labels**: the generated ``delayed_copy`` set, per-step test accuracy against the
  most frequent class of the training steps.

Every finished run is appended to ``--out`` (JSONL) at once; ``--resume`` skips runs already
there; the table goes to stdout and between the markers of ``docs/per_step.md``. ``--steps``
replaces the template's budget (the full benchmark keeps it: 2000 steps).

    .venv/bin/python benchmarks/bench_tasks_per_step.py                      # 3 seeds, the template's budget
    .venv/bin/python benchmarks/bench_tasks_per_step.py --seeds 0 --steps 300 --problems adding-200
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ["adding-200", "adding-400", "denoise-0.1", "denoise-0.3", "delayed_copy"]
N_TRAIN, N_TEST = 600, 400


def _template(task: str, data: str, steps: int | None, seed: int) -> str:
    from rnnlab.config import template_for

    text = template_for(task)
    import re

    text = re.sub(r'\ndataset = "[^"]*"\n', f"\n{data}\n", text, count=1)
    if steps is not None:
        text = text.replace("\nsteps = 2000\n", f"\nsteps = {steps}\n", 1)
    return text.replace("\nseed = 0\n", f"\nseed = {seed}\n", 1)


def _adding_files(tmp: Path, steps: int) -> tuple[Path, Path]:
    from rnnlab.data.synthetic import adding_problem

    paths = []
    for split, n, seed in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        X, y, lengths = adding_problem(n, steps, seed)
        paths.append(tmp / f"adding-{steps}-{split}.npz")
        np.savez(paths[-1], X=X, y=y, lengths=lengths)
    return paths[0], paths[1]


def _denoise_files(tmp: Path, sigma: float) -> tuple[Path, Path, float]:
    """GunPoint's series, noisy in X, clean in y; ``sigma`` times the training series' std."""
    from rnnlab.data import load_bundled

    train, test = load_bundled("GunPoint")
    scale = float(train.X.std())
    rng = np.random.default_rng(0)
    paths = []
    for split, s in (("train", train), ("test", test)):
        clean = s.X
        paths.append(tmp / f"denoise-{sigma}-{split}.npz")
        np.savez(paths[-1], X=clean + rng.normal(0.0, sigma * scale, size=clean.shape), y=clean, lengths=s.lengths)
    return paths[0], paths[1], sigma * scale


def _predict(result: Any, config: Any) -> tuple[np.ndarray, Any]:
    """The trained model's test predictions in the data's units, and the test split."""
    import torch

    from rnnlab.data import load_data
    from rnnlab.task import task_for

    task = task_for(config)
    d = load_data(config.data, seed=config.training.seed, task=task)
    model = result.model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(d.test.X), torch.from_numpy(d.test.lengths))[0].double().numpy()
    if d.test.scale is not None:
        out = out * d.test.scale.std + d.test.scale.mean
    return out, d


def run_one(problem: str, seed: int, steps: int | None, tmp: Path) -> dict[str, Any]:
    from rnnlab.config import parse_config
    from rnnlab.train import train

    row: dict[str, Any] = {"problem": problem, "seed": seed, "steps": steps or 2000}
    if problem.startswith("adding-"):
        T = int(problem.split("-")[1])
        tr, te = _adding_files(tmp, T)
        text = _template("per-step-regression", f'path = "{tr}"\ntest_path = "{te}"', steps, seed)
    elif problem.startswith("denoise-"):
        sigma = float(problem.split("-")[1])
        tr, te, noise = _denoise_files(tmp, sigma)
        text = _template("per-step-regression", f'path = "{tr}"\ntest_path = "{te}"', steps, seed)
        row["noise_rmse"] = noise
    else:
        text = _template("per-step-classification", f'dataset = "{problem}"', steps, seed)
    config = parse_config(text)
    started = time.perf_counter()
    result = train(config, out=tmp / f"{problem}-{seed}", progress=False, log=None)
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["test"] = result.test
    out, d = _predict(result, config)
    if problem.startswith("adding-"):
        raw = np.load(te)["y"][:, -1, 0]
        row["last_step_mse"] = float(np.mean((out[:, -1, 0] - raw) ** 2))
        train_last = np.load(tr)["y"][:, -1, 0]
        row["mean_predictor_mse"] = float(np.mean((train_last.mean() - raw) ** 2))
    elif problem.startswith("denoise-"):
        noisy, clean, lengths = np.load(te)["X"], np.load(te)["y"], np.load(te)["lengths"]
        valid = np.arange(clean.shape[1])[None, :] < lengths[:, None]
        row["identity_rmse"] = float(np.sqrt(np.mean((noisy - clean)[valid] ** 2)))
    else:
        from rnnlab.data.synthetic import majority_step_accuracy

        row["baseline_acc"] = majority_step_accuracy(d.test.y, d.test.lengths, d.train.y, d.train.lengths)
    return row


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| problem | runs | steps | figure (mean ± sd) | baseline | s / run |", "|---|---|---|---|---|---|"]
    for problem, steps in dict.fromkeys((r["problem"], r["steps"]) for r in rows):
        rs = [r for r in rows if r["problem"] == problem and r["steps"] == steps]
        if problem.startswith("adding-"):
            vals, base = [r["last_step_mse"] for r in rs], f"mean predictor MSE {rs[0]['mean_predictor_mse']:.3f}"
            name = "last-step test MSE"
        elif problem.startswith("denoise-"):
            vals, base = [r["test"]["rmse"] for r in rs], f"noisy input RMSE {rs[0]['identity_rmse']:.4f}"
            name = "test reconstruction RMSE"
        else:
            vals, base = [r["test"]["acc"] for r in rs], f"most frequent class {rs[0]['baseline_acc']:.3f}"
            name = "test per-step accuracy"
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        secs = statistics.mean(r["seconds"] for r in rs)
        lines.append(f"| {problem} | {len(rs)} | {rs[0]['steps']} | {name} {statistics.mean(vals):.4g} ± {sd:.2g} "
                     f"| {base} | {secs:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problems", nargs="+", default=PROBLEMS, choices=PROBLEMS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="replace the template's budget (2000 optimizer steps)")
    p.add_argument("--out", default=str(ROOT / "docs" / "tasks_per_step_runs.jsonl"))
    p.add_argument("--resume", action="store_true")
    p.add_argument("--keep", default=None, help="keep the run directories (and data files) in this folder")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines()] if args.resume and out.exists() else []
    rows = list(done)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for problem in args.problems:
            for seed in args.seeds:
                if any(r["problem"] == problem and r["seed"] == seed and r["steps"] == (args.steps or 2000) for r in done):
                    continue
                row = run_one(problem, seed, args.steps, Path(tmp))
                rows.append(row)
                with open(out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), file=sys.stderr, flush=True)
    text = _table(recorded(out))
    print(text)
    write_page(text)
    return 0


def recorded(out: Path) -> list[dict[str, Any]]:
    """Every run in the runs file ``out``, the last of each (problem, seed, steps) superseding the
    ones before, in the order of :data:`PROBLEMS`: the page's table is of all of them, not only of
    the problems this invocation ran (it was: a run of one problem wrote a table of that one)."""
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    latest = {(r["problem"], r["seed"], r["steps"]): r for r in rows}
    return sorted(latest.values(), key=lambda r: (PROBLEMS.index(r["problem"]) if r["problem"] in PROBLEMS
                                                  else len(PROBLEMS), r["steps"], r["seed"]))


def write_page(text: str, page: Path = ROOT / "docs" / "per_step.md") -> None:
    """Put ``text`` between the page's two ``<!-- bench-tasks-per-step -->`` markers (if it has them)."""
    mark = "<!-- bench-tasks-per-step -->"
    if page.exists() and page.read_text().count(mark) == 2:
        head, _, rest = page.read_text().partition(mark)
        page.write_text(f"{head}{mark}\n{text}\n{mark}{rest.partition(mark)[2]}")


if __name__ == "__main__":
    sys.exit(main())
