"""`rnnlab report` on a run with nothing recorded (no epoch, no checkpoint) says what `rnnlab
compare` says of it, in one wording (`rnnlab.compare.no_epoch_why`): who set it up and what starts
it again."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """[data]
path = "{train}"
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
seed = 0
[tracking]
enabled = false
[adapt]
shape = false
"""


def test_report_and_compare_say_the_same_of_a_run_with_no_epoch(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", X=rng.standard_normal((24, 10, 1)).astype("float32"), y=np.repeat([0, 1], 12))
    run = tmp_path / "run"
    train(parse_config(CONFIG.format(train=tmp_path / "train.npz")), out=run, progress=False, log=None, stop_after=1)
    # what a kill during set-up leaves: config.toml and the set-up's files, no epoch, no checkpoint
    for name in ("metrics.jsonl", "summary.json", "health.json", "tracked.jsonl", "resumes.jsonl"):
        (run / name).unlink(missing_ok=True)
    shutil.rmtree(run / "checkpoints")
    capsys.readouterr()
    assert main(["report", str(run)]) != 0
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "holds no record of a run to report yet" in said[0], said
    assert "the same command without --resume starts the run again" in said[0], said
    assert main(["compare", str(run)]) != 0
    compared = capsys.readouterr().err
    assert said[0].split("it recorded no epoch", 1)[1] in compared, compared
