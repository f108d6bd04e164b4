"""The health checks that did not run before training (and when the checks ran) stay in
health.json after training, beside the findings the training added: the report says which did
not run instead of "every health check passed"."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.doctor import Report
from rnnlab.report import write_report
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_a_regression_run_keeps_its_skipped_checks_after_training(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 12, 2)).astype("float32")
    np.savez(tmp_path / "d.npz", X=X, y=X[:, :, 0].sum(1))
    config = parse_config(f'[task]\nkind = "regression"\nmean_guard = false\n[data]\npath = "{tmp_path / "d.npz"}"\n'
                          '[model]\nhidden_size = 4\n[training]\nsteps = 4\nseed = 0\n'
                          '[tracking]\nweights_every = 0\ngrads_every = 0')  # (the health checks alone are read)
    result = train(config, out=tmp_path / "run", progress=False, log=None)
    report = Report.read(result.run_dir)
    assert "softmax_init" in report.skipped, report.skipped  # (values, not class scores)
    assert any(f.phase == "after_training" for f in report), [f.check for f in report]
    html = write_report(result.run_dir).read_text()
    assert "softmax_init" in html and "every health check passed" not in html.replace("every health check that ran", "")
