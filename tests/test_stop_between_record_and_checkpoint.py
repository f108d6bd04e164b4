"""A stop (Ctrl-C, SIGTERM, SIGHUP) that lands between an epoch's record and the checkpoint state
that goes with it is raised after both: the checkpoint written at the stop is of the last recorded
epoch (it was one epoch behind the records, found by a CI run that signalled a recipe's workers).
The signal is real, sent from the epoch callback, which runs between the two."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from test_bad_inputs import config

from rnnlab.config import parse_config
from rnnlab.errors import Interrupted
from rnnlab.rundir import RunDir
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_stop_after_an_epochs_record_writes_that_epochs_checkpoint(tmp_path: Path, name: str) -> None:
    cfg = parse_config(config(training="checkpoint_every = 3600.0").replace("epochs = 2", "epochs = 8"))
    out = tmp_path / "run"

    def stop_at_3(record):
        if record["epoch"] == 3:
            os.kill(os.getpid(), getattr(signal, name))
        return False

    with pytest.raises(Interrupted):
        train(cfg, out=out, log=None, progress=False, on_epoch=stop_at_3)
    recorded = [r["epoch"] for r in RunDir(out).read_metrics()]
    assert recorded == [1, 2, 3]
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 3
    train(cfg, out=out, resume=True, log=None, progress=False)  # (and the resume drops nothing)
    assert [r.get("dropped_epochs") for r in RunDir(out).read_resumes()] == [0]
