"""What a run costs besides its training, and training next to a busy process (issue 28); writes
docs/overhead.md. A benchmark, not a timed test: each figure is a ratio or a difference against a
reference measured in the same run.

* ``--part tiny`` (a): the template on UnitTest with ``training.steps = 60`` and ``[adapt]`` off: the wall time of
  ``rnnlab train`` (a process, from start to exit, report included) against a bare PyTorch
  loop of the same model and steps (a process too: the same imports, data and model, torch's
  AdamW, the threads the rnnlab run chose, no records); the run's ``timing.json`` says where the difference goes. Target: rnnlab's
  wall time <= the bare loop's + 3 s.
* ``--part many`` (b): ``rnnlab recipe`` with 2 seeds and ``rnnlab search`` with 20 trials, each
  with 2 workers, on that tiny config. Targets: <= 5 min and <= 3 min on 2 cores.
* ``--part busy`` (c): training steps per second of the template (``--busy-steps`` optimizer
  steps of its own data set) and of a plain LSTM (torch's fused kernel, no front-end) through
  rnnlab's trainer: quiet with one thread against next to one CPU-bound process that the
  benchmark starts, with the default thread policy. Target: busy >= 0.8x quiet.

Run every part (default) or one: ``--part tiny --part busy``. On a machine shared with other
work every figure moves; the ratios in one run are what counts.

    .venv/bin/python benchmarks/bench_overhead.py [--part tiny|many|busy ...] [--out docs/overhead.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import tomllib
import torch

from rnnlab.config import TEMPLATE, config_from_dict, dump_config
from rnnlab.heap import FULL_COLLECTION_EVERY
from rnnlab.threads import available_cpus

ROOT = Path(__file__).resolve().parents[1]
TARGET_FIXED, TARGET_RECIPE, TARGET_SEARCH, TARGET_BUSY = 3.0, 300.0, 180.0, 0.8
PARTS = ("tiny", "many", "busy")

BARE_LOOP = """
import sys, time
started = time.perf_counter()
import torch
from rnnlab.config import load_config
from rnnlab.data import load_data
from rnnlab.train.model import build_model
cfg = load_config(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]))  # the threads the rnnlab run chose
tc = cfg.training
torch.manual_seed(tc.seed)
data = load_data(cfg.data, seed=tc.seed)
model = build_model(cfg.model, data.channels, len(data.classes))
opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
X, y, L = (torch.from_numpy(a) for a in (data.train.X, data.train.y, data.train.lengths))
loss_fn = torch.nn.CrossEntropyLoss()
train_start = time.perf_counter()
step = 0
while step < tc.steps:
    for idx in torch.randperm(len(y)).split(tc.batch_size):
        logits, _ = model(X[idx], L[idx])
        loss = loss_fn(logits, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step == tc.steps:
            break
print(time.perf_counter() - train_start, time.perf_counter() - started)
"""


def template(dataset: str, steps: int, **training: object) -> dict:
    raw = tomllib.loads(TEMPLATE)
    raw["data"]["dataset"] = dataset
    raw["training"].update(steps=steps, **training)
    raw["training"]["schedule"]["warmup_steps"] = min(raw["training"]["schedule"]["warmup_steps"], steps // 4)
    # Exactly `steps` optimizer steps, as the bare loop takes: the template's [adapt] rules would
    # raise the budget from the data's shape and end or extend it by the fit (issue 27).
    raw["adapt"] = {**raw.get("adapt", {}), "shape": False, "budget": False}
    return raw


def plain_lstm(raw: dict) -> dict:
    """The same data and budget through torch's fused LSTM: no front-end, no regularizer."""
    raw = json.loads(json.dumps(raw))
    raw["model"] = {"layer": "lstm", "hidden_size": 64, "head": {"pooling": "last"}}
    return raw


def write(raw: dict, path: Path) -> Path:
    path.write_text(dump_config(config_from_dict(raw)))
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


class Done(NamedTuple):
    wall: float
    cpu: float
    """user + system seconds of the process: on a machine busy with other work it grows less
    than the wall time, which waits for a free core."""
    stdout: str


def timed(cmd: list[str], cwd: Path) -> Done:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Done(wall, cpu, done.stdout)


def rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab.cli", *args]


# ------------------------------------------------------------------------------ (a) a tiny run


def part_tiny(work: Path) -> str:
    config = write(template("UnitTest", 60), work / "tiny.toml")
    # Once before measuring: the data set's parse cache, the compiled step loops, the OS's file cache.
    timed(rnnlab("train", str(config), "--out", str(work / "warm"), "--quiet"), work)
    bare_script = work / "bare.py"
    bare_script.write_text(BARE_LOOP)
    rows = []
    for i in range(2):
        run = timed(rnnlab("train", str(config), "--out", str(work / f"tiny-{i}"), "--quiet"), work)
        timing = json.loads((work / f"tiny-{i}" / "timing.json").read_text())
        chosen = str(timing["threads"]["threads"])
        bare = timed([sys.executable, str(bare_script), str(config), chosen], work)
        bare_train, _ = (float(v) for v in bare.stdout.split())
        rows.append((run, timing, bare, bare_train))
    run, timing, bare, bare_train = min(rows, key=lambda r: r[0].wall - r[2].wall)
    s = timing["seconds"]
    extra = run.wall - bare.wall
    phases = " · ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in s.items() if v >= 0.005)
    return (
        "## (a) A tiny run: the template on UnitTest, `training.steps = 60`, `[adapt]` off (its rules would set the budget from the data)\n\n"
        "| | wall time | CPU time (user + system) | of which training (wall) |\n|---|---:|---:|---:|\n"
        f"| `rnnlab train` (process, report included) | {run.wall:.2f} s | {run.cpu:.2f} s | {s['training']:.2f} s |\n"
        f"| bare PyTorch loop, same model and steps (process) | {bare.wall:.2f} s | {bare.cpu:.2f} s | "
        f"{bare_train:.2f} s |\n\n"
        f"rnnlab adds **{extra:.2f} s** to the bare loop (target <= {TARGET_FIXED:g} s: "
        f"{'met' if extra <= TARGET_FIXED else 'NOT met'}) and {run.cpu - bare.cpu:.2f} s of CPU time (on a machine "
        "busy with other work the wall times grow with the wait for a core, the CPU times much less); "
        f"the process start and imports are {run.wall - timing['total']:.2f} s of its wall time. "
        f"`timing.json` of the run: {phases}, "
        f"other {timing['other']:.2f} s; {timing['checkpoints_written']} checkpoints; threads: "
        f"{timing['threads']['threads']} ({timing['threads']['why']}). Best of 2, after a warm-up run. "
        "The report's time includes importing matplotlib (nothing before it imports what draws); "
        "the command runs with rare full collections of the cyclic garbage collector "
        f"(`rnnlab.heap.FULL_COLLECTION_EVERY` = {FULL_COLLECTION_EVERY}), the bare loop with CPython's defaults.\n"
    )


# ------------------------------------------------------------------------------ (b) recipe and search


def part_many(work: Path) -> str:
    config = write(template("UnitTest", 60), work / "tiny.toml")
    recipe = timed(rnnlab("recipe", str(config), "--seeds", "2", "--workers", "2", "--out",
                             str(work / "recipe"), "--quiet"), work).wall
    runs = len(list((work / "recipe").glob("**/metrics.jsonl")))
    search = timed(rnnlab("search", str(config), "--trials", "20", "--workers", "2", "--out",
                             str(work / "search"), "--quiet"), work).wall
    trials = len(list((work / "search" / "trials").glob("*/")))
    reports = len(list((work / "search").glob("**/report.html")))
    return (
        "## (b) Many tiny runs: `rnnlab recipe` and `rnnlab search` on that config, 2 workers\n\n"
        "| command | wall time | target |\n|---|---:|---:|\n"
        f"| `rnnlab recipe tiny.toml --seeds 2 --workers 2` ({runs} runs) | {recipe:.0f} s | "
        f"<= {TARGET_RECIPE:.0f} s: {'met' if recipe <= TARGET_RECIPE else 'NOT met'} |\n"
        f"| `rnnlab search tiny.toml --trials 20 --workers 2` ({trials} trials, {reports} reports drawn) | "
        f"{search:.0f} s | <= {TARGET_SEARCH:.0f} s: {'met' if search <= TARGET_SEARCH else 'NOT met'} |\n"
    )


# ------------------------------------------------------------------------------ (c) next to a busy process


def steps_per_second(config: Path, out: Path, work: Path) -> tuple[float, dict]:
    timed(rnnlab("train", str(config), "--out", str(out), "--quiet"), work)
    timing = json.loads((out / "timing.json").read_text())
    return timing["steps"] / timing["seconds"]["training"], timing


def part_busy(work: Path, dataset: str, steps: int) -> str:
    raw = template(dataset, steps)
    raw["tracking"].update(health=False, grad_through_time=False)
    lines = ["## (c) Training next to one busy process\n",
             f"{steps} optimizer steps of {dataset}; steps per second of the training phase "
             "(`timing.json`). Quiet: one thread, nothing else started by the benchmark. Busy: next "
             "to one CPU-bound process the benchmark starts, with the default thread policy "
             "(`training.threads` unset).\n",
             "| model | quiet, 1 thread | busy, default policy | ratio | threads chosen (busy) |",
             "|---|---:|---:|---:|---|"]
    for label, model_raw in (("the template", raw), ("plain LSTM (torch's fused kernel)", plain_lstm(raw))):
        name = "template" if label == "the template" else "plain"
        quiet_raw = json.loads(json.dumps(model_raw))
        quiet_raw["training"]["threads"] = 1
        quiet, _ = steps_per_second(write(quiet_raw, work / f"{name}-quiet.toml"), work / f"{name}-quiet", work)
        busy_proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            busy, timing = steps_per_second(write(model_raw, work / f"{name}-busy.toml"), work / f"{name}-busy", work)
        finally:
            busy_proc.kill()
            busy_proc.wait()
        ratio = busy / quiet
        lines.append(f"| {label} | {quiet:.1f} | {busy:.1f} | **{ratio:.2f}x** "
                     f"({'met' if ratio >= TARGET_BUSY else 'NOT met'}) | {timing['threads']['threads']}: "
                     f"{timing['threads']['why']} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ the document


def document(sections: dict[str, str], path: Path, load: float) -> None:
    """docs/overhead.md with the parts measured now; a part not run keeps its earlier section.
    ``load``: the 1-minute load average when the run started (other work on the machine)."""
    old: dict[str, str] = {}
    if path.exists():
        for chunk in path.read_text().split("\n## ")[1:]:
            tag = chunk[1:2]
            old[{"a": "tiny", "b": "many", "c": "busy"}.get(tag, "")] = "## " + chunk.rstrip() + "\n"
    cpus, source = available_cpus()
    head = (
        "# The cost of a run besides its training\n\n"
        "Written by `make bench-overhead` (benchmarks/bench_overhead.py; issue 28). Last run: "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
        f"{cpus} CPUs ({source}), load average {load:.1f} at the start, torch {torch.__version__}, "
        f"parts {', '.join(sorted(sections))}.\n\n"
        "Where a run's time goes is recorded in every run directory (`timing.json`): set-up, data, "
        "threads, health check, training, evaluation, checkpoints, gradient through time, report.\n"
    )
    body = [sections.get(p) or old.get(p, "") for p in PARTS]
    path.write_text(head + "\n" + "\n".join(b for b in body if b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", action="append", choices=PARTS, help="run only these parts (repeatable)")
    parser.add_argument("--busy-dataset", default="GunPoint", help="(c): the template's data set")
    parser.add_argument("--busy-steps", type=int, default=200, help="(c): optimizer steps of each run")
    parser.add_argument("--out", default=str(ROOT / "docs" / "overhead.md"))
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    load = os.getloadavg()[0]  # a busy machine's figures: compare the CPU times, and the ratios
    sections = {}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(tmp)
        for part in parts:
            started = time.perf_counter()
            sections[part] = (part_tiny(work) if part == "tiny" else part_many(work) if part == "many"
                              else part_busy(work, args.busy_dataset, args.busy_steps))
            print(sections[part], f"({part}: {time.perf_counter() - started:.0f} s)\n", flush=True)
    document(sections, Path(args.out), load)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
