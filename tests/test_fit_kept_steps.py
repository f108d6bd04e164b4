"""The fit verdict is of the weights the run evaluated: under early stopping those of its best
epoch, so "the model fit its training data in N steps" counts that epoch's steps, not the steps
trained past it (a user's report: "in 80 steps" for the weights of step 60). Real tiny runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """name = "tiny"
[data]
path = "{path}"
val_fraction = 0.3
[model]
hidden_size = 8
[training]
epochs = 60
batch_size = 8
lr = 0.02
seed = {seed}
threads = 1
[training.early_stopping]
monitor = "val_loss"
patience = 3
[tracking]
grad_through_time = false
"""


def _easy(path: Path) -> Path:
    """Two classes a model fits in a few epochs (one is shifted), with noise that the validation
    loss overfits to afterwards."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    X = rng.normal(size=(60, 20, 1)).astype(np.float32) + 0.8 * y[:, None, None]
    np.savez(path, X=X, y=y)
    return path


def test_the_fit_verdict_counts_the_kept_epochs_steps(tmp_path: Path) -> None:
    data = _easy(tmp_path / "easy.npz")
    for seed in range(4):  # (a seed whose best epoch is not its last: early stopping ran past it)
        out = tmp_path / f"s{seed}"
        result = train(parse_config(CONFIG.format(seed=seed, path=data)), out=out, log=None, progress=False)
        records = RunDir(out).read_metrics()
        if result.best is not None and result.best["epoch"] < records[-1]["epoch"]:
            break
    else:
        pytest.fail("no seed stopped past its best epoch")
    kept = next(r for r in records if r["epoch"] == result.best["epoch"])
    said = (RunDir(out).read_summary() or {}).get("fit_checked", {}).get("underfit")
    assert said is not None, RunDir(out).read_summary()
    assert f"in {kept['step']} steps (epoch {kept['epoch']}'s weights, kept by early stopping; training ran " \
        f"{records[-1]['step']})" in said, said


def test_an_underfit_finding_says_which_weights_it_judged(tmp_path: Path) -> None:
    data = _easy(tmp_path / "easy.npz")
    out = tmp_path / "s1"  # (seed 1 keeps epoch 3 of 6, below the fit: an underfit finding)
    result = train(parse_config(CONFIG.format(seed=1, path=data)), out=out, log=None, progress=False)
    records = RunDir(out).read_metrics()
    kept = next(r for r in records if r["epoch"] == result.best["epoch"])
    assert kept is not records[-1]
    titles = [f.title for f in result.findings if f.check == "underfit"]
    assert titles and titles[0].endswith(f"after {records[-1]['step']} optimizer steps (of epoch {kept['epoch']}'s "
                                         f"weights, step {kept['step']}, kept by early stopping)"), titles
