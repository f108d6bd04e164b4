#!/usr/bin/env bash
# The GPU check of issue 24, for a person with one CUDA GPU (about 5-10 minutes on an H100/H200):
#
#   1. the devices torch sees (rnnlab --version);
#   2. the CUDA cases of the tests (the `device` fixture's "cuda" parameter: exactness against
#      cuDNN, gradcheck, the fast loops, train + exact resume, bf16, flat weights): pytest -k cuda;
#   3. bench_layers --device cuda at B=64, T=100, I=32, H=128 and 512: forward + backward time of
#      each configuration as a ratio to cuDNN's nn.LSTM / nn.GRU in the same process, the LSTM's
#      regularized rows (the fast loop, its step functions compiled by torch.compile on CUDA) also
#      with the steps forced compiled and in Python (--compiled-step), and each row's first call
#      (its compile: seconds per variant of the step, cached on disk by torch for later runs);
#   4. the `rnnlab init` template on OSULeaf (seed 0) on the GPU and on the CPU with 2 threads:
#      seconds, the speed-up and both test accuracies;
# then one table of it all. Run from anywhere:
#
#   bash benchmarks/gpu_check.sh             # PYTHON=.venv/bin/python by default
#   bash benchmarks/gpu_check.sh --dry-run   # no GPU needed: checks that every part runs, on the
#                                            # CPU, in seconds (tiny sizes, UnitTest for OSULeaf)
#
# Environment: PYTHON (the interpreter with rnnlab and torch), GPU_CHECK_OUT (where the runs and
# the table go; default a new temporary directory). CUDA determinism for the tests:
# CUBLAS_WORKSPACE_CONFIG=:4096:8 is set here (docs/devices.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${GPU_CHECK_OUT:-$(mktemp -d -t rnnlab-gpu-check.XXXXXX)}"
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "gpu_check.sh: unknown argument '$1' (expected nothing or --dry-run)" >&2; exit 2 ;;
esac
export CUBLAS_WORKSPACE_CONFIG=:4096:8
mkdir -p "$OUT"
rnnlab() { "$PYTHON" -c 'import sys; from rnnlab.cli import main; sys.exit(main())' "$@"; }

echo "== gpu_check: $OUT"
rnnlab --version | tee "$OUT/version.txt"

if [[ $DRY == 1 ]]; then
  DEVICE=cpu; SIZES=(8); ITERS=(--iters 1 --seconds 0 --warmup 0 --only "no regularizer"); DATASET=UnitTest
  STEPS="steps = 60"; TESTS="skipped (--dry-run)"
  for f in test_device.py test_layers_exact.py test_gradcheck.py test_fast_loop.py test_compiled_step.py; do
    [[ -f "$ROOT/tests/$f" ]] || { echo "gpu_check.sh: tests/$f is missing" >&2; exit 1; }
  done
else
  DEVICE=cuda; SIZES=(128 512); ITERS=(--iters 20 --seconds 15 --warmup 3); DATASET=OSULeaf; STEPS=""
  "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "gpu_check.sh: torch sees no CUDA device (try --dry-run)")'
  echo "== CUDA tests (pytest -k cuda)"
  if (cd "$ROOT" && "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda tests/test_device.py \
        tests/test_layers_exact.py tests/test_gradcheck.py tests/test_fast_loop.py tests/test_compiled_step.py 2>&1 | tee "$OUT/tests.txt"); then
    TESTS="passed: $(grep -Eo '[0-9]+ passed' "$OUT/tests.txt" | tail -1)"
  else
    TESTS="FAILED: see $OUT/tests.txt"
  fi
fi

echo "== bench_layers --device $DEVICE"
"$PYTHON" "$ROOT/benchmarks/bench_layers.py" --device "$DEVICE" --sizes "${SIZES[@]}" "${ITERS[@]}" --compiled-step \
  --out "$OUT/bench_layers.md"

WHERE=("$DEVICE"); [[ $DEVICE == cpu ]] || WHERE+=(cpu)
echo "== the template on $DATASET: ${WHERE[*]} (cpu with 2 threads)"
rnnlab init "$OUT/template.toml" --dataset "$DATASET" --force > /dev/null
for where in "${WHERE[@]}"; do
  cfg="$OUT/template-$where.toml"
  # (the same template; the CPU run with 2 threads, the other device's with its default)
  "$PYTHON" - "$OUT/template.toml" "$cfg" "$where" "$STEPS" <<'EOF'
import re, sys
src, dst, where, steps = sys.argv[1:]
text = open(src).read()
if where == "cpu":
    text = text.replace("# threads = 1 ", "threads = 2   ")
if steps:
    text = re.sub(r"^steps = \d+", steps, text, count=1, flags=re.M)
open(dst, "w").write(text)
EOF
  start=$EPOCHREALTIME
  rnnlab train "$cfg" --device "$where" --out "$OUT/run-$where" --quiet > "$OUT/run-$where.log"
  echo "$start $EPOCHREALTIME" > "$OUT/run-$where.seconds"
  tail -n 3 "$OUT/run-$where.log"
done

"$PYTHON" - "$OUT" "$DEVICE" "$DATASET" "$TESTS" <<'EOF'
import json, pathlib, sys
out, device, dataset, tests = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
runs = {}
for where in dict.fromkeys([device, "cpu"]):
    summary = json.loads((out / f"run-{where}" / "summary.json").read_text())
    timing = json.loads((out / f"run-{where}" / "timing.json").read_text())
    start, end = map(float, (out / f"run-{where}.seconds").read_text().split())
    runs[where] = {"seconds": end - start,
                   "test_acc": (summary.get("test") or {}).get("acc"), "device": timing.get("device"),
                   "name": timing.get("device_name", "")}
lines = ["", f"== gpu_check table ({out})", "", f"CUDA tests: {tests}", "",
         (out / "bench_layers.md").read_text().split("\n", 2)[2].strip(), "",
         f"| {dataset} template (seed 0) | device | seconds | test acc |", "|---|---|---|---|"]
for where, r in runs.items():
    acc = "-" if r["test_acc"] is None else f"{r['test_acc']:.3f}"
    lines.append(f"| {where}{' (2 threads)' if where == 'cpu' else ''} | {r['device']} {r['name']} | "
                 f"{r['seconds']:.1f} | {acc} |")
if device != "cpu":
    ratio = runs["cpu"]["seconds"] / runs[device]["seconds"]
    lines.append(f"\nspeed-up of the template run on {device}: {ratio:.1f}x (target >= 5x, accuracy within the seeds' spread)")
lines.append("(ratio: rnnlab / torch's module on the same device; targets of issue 24 on an H100/H200-class GPU)")
text = "\n".join(lines)
print(text)
(out / "gpu_check.md").write_text(text + "\n")
EOF
