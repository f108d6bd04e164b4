"""Where the template's misses on a generated set fall: the confusion matrix on fresh draws.

Trains the ``rnnlab init`` template (through :class:`rnnlab.estimators.RNNClassifier`, its
shape rules on) on a generated set's training split and prints the confusion matrix on
``--per-class`` fresh draws of each class (``StressSet.validation``, never the test split).
``--set KEY=VALUE`` changes a key path of the template (a JSON value: ``0.3``, ``false``,
``'"per_channel"'``). docs/template.md, ninth round, reads stress-amplitude-6x3's this way.

    python benchmarks/stress_confusion.py stress-amplitude-6x3 --seeds 0 3
    python benchmarks/stress_confusion.py stress-amplitude-6x3 --set adapt.input_noise=0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stress_sets import STRESS  # noqa: E402  (benchmarks/stress_sets.py)


def confusion(dataset: str, seed: int, params: dict[str, object], per_class: int = 20) -> np.ndarray:
    """Counts ``[true class, predicted class]`` of the template (changed by ``params``) trained
    with ``seed`` on ``dataset``'s training split, on ``per_class`` fresh draws a class."""
    import torch

    from rnnlab.estimators import RNNClassifier

    torch.set_num_threads(1)
    s = STRESS[dataset]
    (Xtr, ytr), _ = s.generate()
    Xva, yva = s.validation(per_class)
    clf = RNNClassifier(random_state=seed, params=params).fit(Xtr.transpose(0, 2, 1), ytr)
    predicted = clf.predict(Xva.transpose(0, 2, 1)).astype(int)
    counts = np.zeros((s.classes, s.classes), dtype=int)
    np.add.at(counts, (yva, predicted), 1)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=list(STRESS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a key path of the template")
    args = ap.parse_args()
    params: dict[str, object] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            ap.error(f"--set {item!r}: expected a JSON value after '=' (a string in double quotes: {key}='\"{value}\"')")
    for seed in args.seeds:
        counts = confusion(args.dataset, seed, params, args.per_class)
        print(f"{args.dataset} seed {seed} {params or 'the template'}: accuracy "
              f"{np.trace(counts) / counts.sum():.3f} (rows: true class, columns: predicted)")
        print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
