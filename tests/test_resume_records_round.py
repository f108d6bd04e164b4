"""What a resume says and keeps, from an unattended user's round: the epochs recorded after the
last checkpoint are said to be dropped and trained again (they were cut silently), and a
session killed outright (nothing of it runs after the kill) still leaves its timing record as of
its last checkpoint, which the resume keeps among its earlier sessions (it was forgotten). The
kill is an exception from the epoch callback: nothing of the trainer's own handling runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import config

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


class Killed(BaseException):
    """As SIGKILL: no handler of the trainer's catches it."""


def test_a_resume_says_the_epochs_it_drops_and_keeps_a_killed_sessions_timing(tmp_path: Path) -> None:
    cfg = parse_config(config().replace("epochs = 2", "epochs = 6"))  # (checkpoints: after epoch 1, then each 60 s)
    out = tmp_path / "run"

    def kill_after_3(record):
        if record["epoch"] == 3:
            raise Killed
        return False

    with pytest.raises(Killed):
        train(cfg, out=out, log=None, progress=False, on_epoch=kill_after_3)
    rd = RunDir(out)
    assert [r["epoch"] for r in rd.read_metrics()] == [1, 2, 3]
    first = rd.read_timing()
    assert first is not None and first["steps"] == rd.read_metrics()[0]["step"], first  # (as of epoch 1's checkpoint)
    assert first["ended"].startswith("killed or still running"), first
    lines: list[str] = []
    train(cfg, out=out, resume=True, log=lines.append, progress=False)
    said = [line for line in lines if line.startswith("resuming ")]
    assert said and said[0].endswith("; the 2 epochs recorded after that checkpoint (its records dropped) train again, "
                                     "as they did"), said
    assert rd.read_resumes()[-1]["dropped_epochs"] == 2
    after = rd.read_timing()
    assert [e["steps"] for e in after["earlier_sessions"]] == [first["steps"]], after
    assert "ended" not in after and after["steps"] == rd.read_metrics()[-1]["step"] - first["steps"]
