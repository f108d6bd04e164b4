"""A trial counts the score of the model each run kept: under early stopping its best epoch,
whose weights the run restored and tested, not the epochs it trained past it (which the trial
scored before, a model the run never kept)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.search.trial import FoldPlan, run_trial

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_an_early_stopping_runs_fold_score_is_its_best_epochs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 12, 2)).astype("float32")
    np.savez(tmp_path / "d.npz", X=X, y=X[:, :, 0].mean(1) + 0.5 * rng.standard_normal(40))
    config = parse_config(f'[task]\nkind = "regression"\nmean_guard = false\n[data]\npath = "{tmp_path / "d.npz"}"\n'
                          '[model]\nhidden_size = 8\n[training]\nepochs = 60\nlr = 0.03\nbatch_size = 8\nseed = 0\n'
                          '[training.early_stopping]\nmonitor = "val_loss"\npatience = 3\n[tracking]\nenabled = false')
    result = run_trial(config, FoldPlan(k=2, seed=0), tmp_path / "trial", metric="val_rmse")
    differs = []
    for run, score in zip(result.run_dirs, result.scores[0], strict=True):
        records = RunDir(tmp_path / "trial" / run).read_metrics()
        best = min(records, key=lambda r: (r["val_loss"], r["epoch"]))
        assert score == best["val_rmse"], (run, score, best)
        differs.append(records[-1]["val_rmse"] != best["val_rmse"])
    assert any(differs)  # (the last epoch's score differs: the test tells the two rules apart)
