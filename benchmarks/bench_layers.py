"""Speed and memory of rnnlab's layers against torch's fused modules, measured in one run.

    make bench    # or: python benchmarks/bench_layers.py [--iters 20] [--seconds 120] [--sizes 128 512]
                  #     [--only "batch_norm"]  (only the rows whose name contains it; writes nothing)
                  #     [--policies PASSIVE]   (only this OpenMP wait policy's timings)
    python benchmarks/bench_layers.py --device cuda   # on a GPU, against cuDNN (benchmarks/gpu_check.sh)

For each hidden size it times forward + backward (float32, B=64, T=100, I=32, threads = cores),
interleaving every configuration with its torch reference (nn.LSTM / nn.GRU) iteration by
iteration, in a new random order each round, for at least --iters rounds and --seconds per
size (on a shared machine one 50 ms measurement spreads by several percent). It reports the
median time of each as a ratio to the reference's median. The timings run once per OpenMP wait
policy (``--policies``, default both), each in a child process with ``OMP_WAIT_POLICY`` set:
libgomp reads it once, when torch loads it. PASSIVE is what a training process gets (``import
rnnlab`` sets it, :mod:`rnnlab.threads`), and the main table's; ACTIVE (threads spin between
parallel regions) gets a table of its own. It also measures the first call of a fresh process and
the peak memory of one forward + backward (under PASSIVE), each the median of PROBE_RUNS
subprocesses. It prints the tables and writes docs/benchmarks.md.

``--device DEV`` times the same rows on DEV in this process instead (CUDA: against cuDNN's
nn.LSTM/nn.GRU, synchronized around each call; no wait policies, no memory probes), with the
GPU targets of :data:`DEVICE_TARGETS`, and writes nothing unless ``--out`` is given. With
``--compiled-step`` each LSTM row that runs rnnlab's loop is also timed with its step functions
compiled by torch.compile and in Python (:data:`STEP_VARIANTS`; on CUDA the plain row is the
compiled one already), and the table gives each row's first call (warm-up 1: the compile).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

import rnnlab
from rnnlab.layers import native

B, T, I = 64, 100, 32  # noqa: E741 (batch, time, input size: the usual names)
ROOT = Path(__file__).resolve().parents[1]
#: docs/benchmarks.md holds the generated tables between two of these lines (the rest is written by hand)
MARK = "<!-- bench-layers -->"

# name: (reference kind, rnnlab class, keywords, target ratio at H=512, at H=128)
CONFIGS = {
    "LSTM, no regularizer": ("lstm", "LSTM", {}, 1.05, 1.05),
    "LSTM, weight_drop 0.5": ("lstm", "LSTM", {"weight_drop": 0.5}, 1.10, 1.10),
    "LSTM, recurrent_dropout 0.25 + zoneout 0.1": (
        "lstm", "LSTM", {"recurrent_dropout": 0.25, "zoneout": 0.1}, 1.10, 1.25),
    "LSTM, layer_norm": ("lstm", "LSTM", {"layer_norm": True}, 1.5, 1.6),
    "GRU, recurrent_dropout 0.25": ("gru", "GRU", {"recurrent_dropout": 0.25}, 1.10, 1.25),
    "LSTM, recurrent_batch_norm": ("lstm", "LSTM", {"recurrent_batch_norm": True}, 1.3, 1.5),
    "LSTM, recurrent_batch_norm + zoneout 0.1 + recurrent_dropout 0.1 (the template's)": (
        "lstm", "LSTM", {"recurrent_batch_norm": True, "zoneout": 0.1, "recurrent_dropout": 0.1}, 1.3, 1.5),
    "LSTM, recurrent_batch_norm, padded": ("lstm", "LSTM", {"recurrent_batch_norm": True}, 1.6, 1.6),
    "LSTM, recurrent_batch_norm + zoneout 0.1 + recurrent_dropout 0.1, padded": (
        "lstm", "LSTM", {"recurrent_batch_norm": True, "zoneout": 0.1, "recurrent_dropout": 0.1}, 1.6, 1.6),
}
REFERENCES = {"lstm": nn.LSTM, "gru": nn.GRU}
#: --device: the targets on an H100/H200-class GPU (issue 24), (at H=512, at H=128); None: measured only
DEVICE_TARGETS: dict[str, tuple[float | None, float | None]] = {
    "LSTM, no regularizer": (1.05, 1.05),
    "LSTM, weight_drop 0.5": (1.05, 1.05),
    "LSTM, recurrent_dropout 0.25 + zoneout 0.1": (2.0, None),
    "LSTM, layer_norm": (2.0, None),
}


def padded(name: str) -> bool:
    """Rows named "padded" run the batch with :func:`mixed_lengths` (the reference: torch's module on the same
    padded tensor, every step computed)."""
    return name.endswith(", padded")


def mixed_lengths() -> torch.Tensor:
    """The padded rows' lengths: uniform from T/2 to T, one of them T (fixed draw)."""
    lengths = torch.randint(T // 2, T + 1, (B,), generator=torch.Generator().manual_seed(0))
    lengths[0] = T
    return lengths


def build(kind_or_cls: str, hidden: int, keywords: dict | None = None) -> nn.Module:
    if kind_or_cls in REFERENCES:
        return REFERENCES[kind_or_cls](I, hidden)
    return getattr(rnnlab, kind_or_cls)(I, hidden, **(keywords or {}))


def fwd_bwd(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)  # (CUDA runs asynchronously)
    sync()
    start = time.perf_counter()
    out, _ = model(x) if lengths is None else model(x, lengths=lengths)
    out.sum().backward()
    sync()
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def time_size(hidden: int, iters: int, warmup: int, seconds: float,
              configs: dict[str, tuple], device: str = "cpu") -> dict[str, dict[str, float]]:
    """Median times at one hidden size: at least ``iters`` interleaved rounds and at least
    ``seconds`` of them, so that small sizes, whose rounds are short, get more samples."""
    torch.manual_seed(0)
    x = torch.randn(T, B, I, device=device)
    lengths = {name: mixed_lengths() if padded(name) else None for name in configs}
    refs = {k: build(k, hidden).train().to(device) for k in {kind for kind, *_r in configs.values()}}
    ours = {name: build(cls, hidden, kw).train().to(device) for name, (_, cls, kw, *_t) in configs.items()}
    first: dict[str, float] = {}  # the first call of each (with the compile of compiled step functions)
    for _ in range(warmup):
        for k, m in [*refs.items(), *ours.items()]:
            elapsed = fwd_bwd(m, x, lengths.get(k))
            first.setdefault(k, elapsed)
    models = {**refs, **ours}
    times: dict[str, list[float]] = {k: [] for k in models}
    order = list(models)
    shuffle = random.Random(0).shuffle
    start = time.perf_counter()
    rounds = 0
    while rounds < iters or time.perf_counter() - start < seconds:
        # Interleaved, so that drift in machine load hits every configuration alike, and in a new
        # order each round: a call's speed depends on what ran before it (glibc returns or keeps
        # freed memory depending on the previous call's allocations; a fixed order measured
        # rnnlab's call of torch's own kernel 10% slower than nn.LSTM at H=512).
        shuffle(order)
        for k in order:
            times[k].append(fwd_bwd(models[k], x, lengths.get(k)))
        rounds += 1
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        name: {"ms": med[name] * 1e3, "ref_ms": med[kind] * 1e3, "ratio": med[name] / med[kind], "iters": rounds,
               "first_s": first.get(name, float("nan"))}
        for name, (kind, *_r) in configs.items()
    }


_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import torch, rnnlab
from torch import nn
torch.manual_seed(0)
kind, hidden, keywords, lengths = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
B, T, I = 64, 100, 32  # noqa: E741 (the usual names: batch, time, input size)
model = nn.LSTM(I, hidden) if kind == "torch-lstm" else nn.GRU(I, hidden) if kind == "torch-gru" else getattr(rnnlab, kind)(I, hidden, **keywords)
x = torch.randn(T, B, I)
t_import = time.perf_counter() - t0

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])  # kB

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak-RSS counter (VmHWM) to the current RSS
base = status("VmRSS")
t1 = time.perf_counter()
out, _ = model(x) if lengths is None else model(x, lengths=torch.tensor(lengths))
out.sum().backward()
first_call = time.perf_counter() - t1
peak = status("VmHWM")
print(json.dumps({"first_call_s": first_call, "peak_delta_mb": (peak - base) / 1024, "import_s": t_import}))
"""


#: fresh processes per probe: the peak RSS of one process varies by ±20% run to run (glibc's
#: per-thread arenas keep what worker threads freed), so each figure is the median of these
PROBE_RUNS = 3


def probe(kind: str, hidden: int, keywords: dict, lengths: torch.Tensor | None = None) -> dict[str, float]:
    runs = []
    for _ in range(PROBE_RUNS):
        res = subprocess.run(
            [sys.executable, "-c", _PROBE, kind, str(hidden), json.dumps(keywords),
             json.dumps(None if lengths is None else lengths.tolist())],
            capture_output=True, text=True, check=True, env={**os.environ, "OMP_WAIT_POLICY": POLICIES[0]},
        )
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


#: the OpenMP wait policies timed, the first one the main table's (rnnlab's default, threads.py)
POLICIES = ("PASSIVE", "ACTIVE")


def time_under(policy: str, sizes: list[int], iters: int, warmup: int, seconds: float,
               only: str) -> dict[int, dict[str, dict[str, float]]]:
    """:func:`time_size` of every size, in a child process whose OpenMP runtime waits by ``policy``."""
    cmd = [sys.executable, __file__, "--timings-only", "--sizes", *map(str, sizes), "--iters", str(iters),
           "--warmup", str(warmup), "--seconds", str(seconds), "--only", only]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_WAIT_POLICY": policy})
    return {int(h): t for h, t in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=20, help="fewest timed iterations per configuration (default 20)")
    ap.add_argument("--seconds", type=float, default=120.0,
                    help="fewest seconds of timed iterations per hidden size (default 120)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 128])
    ap.add_argument("--only", default="", help="only the configurations whose name contains this (and their "
                    "references); the table is printed, not written, unless --out is given")
    ap.add_argument("--out", default=None,
                    help="markdown file to write ('' for none; default docs/benchmarks.md, none with --only)")
    ap.add_argument("--policies", nargs="+", default=list(POLICIES), type=str.upper, choices=POLICIES,
                    help="OpenMP wait policies to time under, the first one the main table's (default: both)")
    ap.add_argument("--device", default=None,
                    help="time on this device in this process (cuda: against cuDNN) with the GPU targets; "
                         "writes nothing unless --out is given")
    ap.add_argument("--compiled-step", action="store_true",
                    help="with --device: each LSTM row that runs rnnlab's loop also with its step functions "
                         "compiled by torch.compile (implementation='fast-inductor', what CUDA runs by default) "
                         "and in Python ('fast-python'), each row with its first call (the compile)")
    ap.add_argument("--timings-only", action="store_true",
                    help="(internal) print the timings of this process's policy as JSON")
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = "" if args.only else str(ROOT / "docs" / "benchmarks.md")
    configs = {name: c for name, c in CONFIGS.items() if args.only in name}
    if not configs:
        ap.error(f"--only: no configuration name contains {args.only!r}; the names: {sorted(CONFIGS)}")
    if args.device is not None:
        return device_table(args, with_step_variants(configs) if args.compiled_step else configs)
    torch.set_num_threads(os.cpu_count() or 1)
    if args.timings_only:
        print(json.dumps({h: time_size(h, args.iters, args.warmup, args.seconds, configs) for h in args.sizes}))
        return 0

    timings = {policy: time_under(policy, args.sizes, args.iters, args.warmup, args.seconds, args.only)
               for policy in args.policies}
    main_policy = args.policies[0]
    rows = []
    for hidden in args.sizes:
        timing = timings[main_policy][hidden]
        ref_mem = {k: probe(f"torch-{k}", hidden, {}) for k in {kind for kind, *_r in configs.values()}}
        for name, (kind, cls, kw, t512, t128) in configs.items():
            target = t512 if hidden >= 512 else t128
            mem = probe(cls, hidden, kw, mixed_lengths() if padded(name) else None)
            rows.append({
                "config": name, "H": hidden, **timing[name], "target": target,
                "first_call_s": mem["first_call_s"],
                "mem_ratio": mem["peak_delta_mb"] / max(ref_mem[kind]["peak_delta_mb"], 1e-9),
                "peak_mb": mem["peak_delta_mb"], "ref_peak_mb": ref_mem[kind]["peak_delta_mb"],
            })

    header = ("| configuration | H | rnnlab ms | torch ms | ratio | target | first call s | "
              "peak MB (torch) | memory ratio |\n|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    for r in rows:
        ok = "✓" if r["ratio"] <= r["target"] else "✗"
        mem_ok = "✓" if r["mem_ratio"] <= 1.3 else "✗"
        lines.append(
            f"| {r['config']} | {r['H']} | {r['ms']:.1f} | {r['ref_ms']:.1f} | {r['ratio']:.2f} {ok} | "
            f"≤ {r['target']:.2f} | {r['first_call_s']:.2f} | {r['peak_mb']:.0f} ({r['ref_peak_mb']:.0f}) | "
            f"{r['mem_ratio']:.2f} {mem_ok} |"
        )
    table = "\n".join(lines)
    iters = {r["H"]: r["iters"] for r in rows}
    others = ""
    for policy in args.policies[1:]:
        other = ["| configuration | H | rnnlab ms | torch ms | ratio | target |\n|---|---|---|---|---|---|"]
        for r in rows:
            t = timings[policy][r["H"]][r["config"]]
            other.append(f"| {r['config']} | {r['H']} | {t['ms']:.1f} | {t['ref_ms']:.1f} | {t['ratio']:.2f} "
                         f"{'✓' if t['ratio'] <= r['target'] else '✗'} | ≤ {r['target']:.2f} |")
        others += (f"\n\nThe same timings with `OMP_WAIT_POLICY={policy}` (median of "
                   + ", ".join(f"{timings[policy][h][next(iter(configs))]['iters']} at H={h}" for h in args.sizes)
                   + "):\n\n" + "\n".join(other))
    print(f"OMP_WAIT_POLICY={main_policy}:")
    print(table + others)
    print("LSTM step loops:", native.describe())
    failed = [r for r in rows if r["ratio"] > r["target"] or r["mem_ratio"] > 1.3 or r["first_call_s"] > 5]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} configurations within their targets")
    if args.out:
        env = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
               f"Python {platform.python_version()}; B={B}, T={T}, I={I}, float32, forward + backward, "
               "median of " + ", ".join(f"{n} interleaved iterations at H={h}" for h, n in iters.items())
               + f" (≥ {args.iters}, ≥ {args.seconds:g} s per size) after {args.warmup} warm-up; LSTM step loops: "
               + ("compiled (`rnnlab.layers.native`)" if native.available() else f"Python ({native.why_not()})")
               + f"; the main table with `OMP_WAIT_POLICY={main_policy}`")
        text = (
            "Generated by `make bench` (`benchmarks/bench_layers.py`). Ratios are to torch's fused "
            "module of the same kind (nn.LSTM / nn.GRU) measured in the same process, interleaved in a new random order each round.\n"
            "First call and peak memory (RSS growth during one forward + backward) are the median of "
            f"{PROBE_RUNS} fresh subprocesses; memory target ≤ 1.3× torch, first call ≤ 5 s.\n\n{env}.\n\n{table}{others}"
        )
        page = Path(args.out)
        page.parent.mkdir(parents=True, exist_ok=True)
        old = page.read_text(encoding="utf-8") if page.exists() else ""
        if old.count(MARK) == 2:  # the tables between the marks; what the page says around them stays
            head, _, rest = old.partition(MARK)
            page.write_text(f"{head}{MARK}\n{text}\n{MARK}{rest.partition(MARK)[2]}", encoding="utf-8")
        else:
            page.write_text(f"# Benchmarks\n\n{MARK}\n{text}\n{MARK}\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


#: --compiled-step: the step functions' variants of a row, by the implementation that forces them
STEP_VARIANTS = {"fast-inductor": "compiled step", "fast-python": "Python steps"}


def with_step_variants(configs: dict[str, tuple]) -> dict[str, tuple]:
    """``configs`` and, after each LSTM row that runs rnnlab's fast loop (not torch's kernel), the
    same row with each of :data:`STEP_VARIANTS` (no target of their own)."""
    out: dict[str, tuple] = {}
    for name, (kind, cls, kw, *targets) in configs.items():
        out[name] = (kind, cls, kw, *targets)
        if cls == "LSTM" and build(cls, 8, kw)._computation() == "fast":
            for implementation, label in STEP_VARIANTS.items():
                out[f"{name} [{label}]"] = (kind, cls, {**kw, "implementation": implementation}, *targets)
    return out


def device_table(args: argparse.Namespace, configs: dict[str, tuple]) -> int:
    """``--device``: the rows timed on one device in this process, as ratios to torch's module
    on the same device (cuDNN on CUDA), against :data:`DEVICE_TARGETS`."""
    from rnnlab.device import resolve_device
    from rnnlab.errors import RnnlabError

    try:  # (the CLI's check: one line for a device this machine has not, not torch's assertion)
        device = resolve_device(args.device, "--device")
    except RnnlabError as e:
        print(f"bench_layers: error: {e}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    lines = ["| configuration | H | rnnlab ms | torch ms | ratio | target | first call s |",
             "|---|---|---|---|---|---|---|"]
    failed = 0
    for hidden in args.sizes:
        timing = time_size(hidden, args.iters, args.warmup, args.seconds, configs, str(device))
        for row, t in timing.items():
            target = DEVICE_TARGETS.get(row, (None, None))[0 if hidden >= 512 else 1]
            ok = "" if target is None else (" ✓" if t["ratio"] <= target else " ✗")
            failed += ok == " ✗"
            lines.append(f"| {row} | {hidden} | {t['ms']:.2f} | {t['ref_ms']:.2f} | {t['ratio']:.2f}{ok} | "
                         + ("-" if target is None else f"≤ {target:.2f}") + f" | {t['first_s']:.2f} |")
    table = "\n".join(lines)
    print(f"bench_layers on {device} ({name}), torch {torch.__version__}, B={B}, T={T}, I={I}, float32, "
          f"forward + backward, ratio to torch's module on the same device:")
    print(table)
    print(f"{failed} row(s) above their target")
    if args.out:
        Path(args.out).write_text(f"# bench_layers --device {device} ({name})\n\n{table}\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
