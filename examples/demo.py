"""`make demo`: train the regularized LSTM of examples/configs/gunpoint.toml on GunPoint, write the
report, print train/test accuracy and where everything is.

Equivalent to ``rnnlab train examples/configs/gunpoint.toml --out runs/demo``, starting afresh
each time (runs/demo is replaced).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from rnnlab.config import load_config
from rnnlab.errors import RnnlabError
from rnnlab.report import write_report
from rnnlab.train import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "gunpoint.toml"
RUN_DIR = ROOT / "runs" / "demo"
# Published baseline for GunPoint (UCR archive, Dau et al. 2018): 1-NN DTW, full window.
BASELINE = ("1-NN DTW (UCR archive)", 0.907)


def main() -> int:
    start = time.time()
    config = load_config(CONFIG)
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)  # the demo always starts afresh
    print(f"training {config.name} on {config.data.dataset} -> {RUN_DIR}", flush=True)
    result = train(config, out=RUN_DIR)
    report = write_report(RUN_DIR)
    assert result.test is not None
    print()
    print(f"train accuracy: {result.train_eval['acc']:.3f}")
    print(f"test accuracy:  {result.test['acc']:.3f}  (published baseline {BASELINE[0]}: {BASELINE[1]:.3f})")
    print(f"run directory:  {RUN_DIR}")
    print(f"report:         {report}")
    print(f"time:           {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RnnlabError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        sys.exit(1)
