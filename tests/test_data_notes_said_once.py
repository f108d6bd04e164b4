"""What loading the data warns is said once by ``rnnlab train``: as it starts (and recorded as the
run's data notes), not again when the report at its end reads the data back for its pictures."""

from __future__ import annotations

import numpy as np
from test_bad_inputs import Env, config  # tests/test_bad_inputs.py

from rnnlab.cli import main
from rnnlab.plots.evaluated import data_notes
from rnnlab.rundir import RunDir


def test_a_data_warning_is_said_once_by_train_and_kept_in_the_run(tmp_path, capsys):
    env = Env(tmp_path, None)
    rng = np.random.default_rng(0)
    wide = env.npz("wide.npz", X=rng.normal(size=(12, 5, 8)), y=np.arange(12) % 2)  # more channels than steps
    cfg = env.file("c.toml", config().replace('dataset = "UnitTest"', f'path = "{wide}"'))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert err.count("more channels than steps") == 1, err
    assert (tmp_path / "run" / "report.html").exists()  # (the report read the data again: it said nothing)
    notes = data_notes(RunDir(tmp_path / "run"))
    assert notes is not None and any("more channels than steps" in n for n in notes[0])
