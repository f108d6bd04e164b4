"""The memory check's estimate (:mod:`rnnlab.train.memory`) against the measured peak of a step.

    python benchmarks/bench_memory.py                 # the grid: prints the table of the docstring
    python benchmarks/bench_memory.py --only gru       # the rows whose configuration contains it
    python benchmarks/bench_memory.py --widths 64 --lengths 300 --batch 16

For each layer x {plain, layer_norm, zoneout, recurrent_batch_norm, relu activation,
bidirectional, 2 layers} (and the template's regularizers together, and zoneout bidirectional:
the fast loop's second direction), at each width and length,
a fresh process builds the model (2 input channels, 4 classes), sets the training process's heap
policy (:func:`rnnlab.heap.keep_freed_memory`), warms up on a tiny batch (so the gradients and
torch's one-time allocations exist), then measures the peak RSS growth of one forward + backward
over ``batch`` series (``/proc/self/clear_refs`` resets the high-water mark, ``VmHWM`` less the
``VmRSS`` before). The estimate is :func:`rnnlab.train.memory.training_bytes` of that step;
the table gives the computation the layer runs (:func:`rnnlab.train.memory.computation_of`) and
estimate / measured, which should lie in [1.0, 1.5].
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {
    "plain": {},
    "layer_norm": {"layer_norm": True},
    "zoneout": {"zoneout": 0.1},
    "recurrent_batch_norm": {"recurrent_batch_norm": True},
    "relu": {"activation": "relu"},
    "bidirectional": {"bidirectional": True},
    "2 layers": {"num_layers": 2},
    "template": {"recurrent_dropout": 0.1, "zoneout": 0.1, "recurrent_batch_norm": True},
    "zoneout bidirectional": {"zoneout": 0.1, "bidirectional": True},
}
LAYERS = ("lstm", "gru", "rnn", "indrnn")

CHILD = """
import json, sys, torch
from rnnlab.config import ModelConfig
from rnnlab.heap import keep_freed_memory
from rnnlab.train.model import build_model
from rnnlab.train.memory import activation_bytes, computation_of, parameter_bytes
torch.set_num_threads(1)
keep_freed_memory()
def vm(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
keys, B, T, forced = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cfg = ModelConfig(**keys)
model = build_model(cfg, 2, 4)
if forced:  # (a computation auto would not take here: the health check's passes run the autograd loop)
    model.rnn.implementation = forced
computation = forced or computation_of(cfg)
loss_fn = torch.nn.CrossEntropyLoss()
loss_fn(model(torch.randn(2, 8, 2))[0], torch.tensor([0, 1])).backward()
x, y = torch.randn(B, T, 2), torch.arange(B) % 4
base = vm("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # (the high-water mark from here)
loss_fn(model(x)[0], y).backward()
measured = vm("VmHWM:") - base
estimate = activation_bytes(cfg, 4, B, T, computation=computation) + parameter_bytes(cfg, 2, 4)
print(json.dumps({"measured": measured, "estimate": estimate, "computation": computation}))
"""


def keys_of(layer: str, variant: str, width: int) -> dict:
    keys = {"layer": layer, "hidden_size": width, **VARIANTS[variant]}
    if layer == "rnn" and "activation" in keys:  # (an rnn's relu is torch's nonlinearity)
        keys["nonlinearity"] = keys.pop("activation")
    return keys


def measure(keys: dict, batch: int, steps: int, implementation: str = "") -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(keys), str(batch), str(steps), implementation], env=env,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{keys}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--lengths", type=int, nargs="+", default=[600, 1200])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--only", default="")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--implementation", default="", help="run this computation (e.g. autograd: the health "
                    "check's passes) instead of the one the layer picks")
    args = ap.parse_args()
    rows = []
    print("| configuration | computation | measured MB | estimated MB | ratio |")
    print("|---|---|---:|---:|---:|")
    for layer in LAYERS:
        for variant in VARIANTS:
            for width in args.widths:
                for steps in args.lengths:
                    name = f"{layer} {variant} H={width} T={steps}"
                    if args.only not in name:
                        continue
                    r = measure(keys_of(layer, variant, width), args.batch, steps, args.implementation)
                    ratio = r["estimate"] / r["measured"]
                    rows.append({"configuration": name, **r, "ratio": ratio})
                    flag = "" if 1.0 <= ratio <= 1.5 else "  <-- out of [1.0, 1.5]"
                    print(f"| {name} | {r['computation']} | {r['measured'] / 1e6:.0f} | {r['estimate'] / 1e6:.0f} "
                          f"| {ratio:.2f} |{flag}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
