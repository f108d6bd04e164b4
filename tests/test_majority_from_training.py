"""The "majority class alone" baseline is what a model that learnt nothing predicts: the training
part's most frequent class, scored on each split (tester helper-189: 48 A / 12 B for training and
5 A / 20 B in the test file was said to score 0.800 by "always predicting" B, which no model
trained on that split predicts; A scores 0.200 there)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.report import render_report

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _split(folder, counts, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(list(counts), list(counts.values()))
    X = rng.standard_normal((len(y), 12, 1)).astype("float32") + (y == "B")[:, None, None] * 0.8
    np.savez(folder / f"{seed}.npz", X=X, y=y)
    return folder / f"{seed}.npz"


def test_the_majority_baseline_is_the_training_parts_class_on_every_split(tmp_path, capsys):
    train, test = _split(tmp_path, {"A": 48, "B": 12}, 0), _split(tmp_path, {"A": 5, "B": 20}, 1)
    (tmp_path / "c.toml").write_text(f"""[data]
path = "{train}"
test_path = "{test}"
val_fraction = 0.0
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 16
[tracking]
enabled = false
[adapt]
shape = false
""")
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(run)]) == 0
    said = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["train_eval_by_class"]["majority"] == "A" == summary["test_by_class"]["majority"]
    assert summary["test_by_class"]["majority_rate"] == pytest.approx(5 / 25)
    line = next(s for s in said.splitlines() if s.startswith("train accuracy"))
    assert line.endswith(f"the training majority class alone {5 / 25:.3f})"), line
    assert f"the training split's majority class alone (A, 5 of 25 series here) scores {5 / 25:.3f}" \
        in render_report(run)
