"""A damaged line in the middle of a run's metrics.jsonl (a disk fault, a hand edit) stops the
readers with a message that says what to do, and doing it works: nothing is skipped silently,
and nothing is lost but the damaged line."""

from __future__ import annotations

import pytest

from rnnlab.errors import RunDirError
from rnnlab.rundir import RunDir


def test_a_damaged_middle_line_names_the_remedy_and_the_remedy_works(tmp_path):
    run = RunDir(tmp_path / "run")
    for e in (1, 2, 3, 4):
        run.append(run.metrics, {"epoch": e, "train_loss": 1.0 / e})
    lines = run.metrics.read_text().splitlines(keepends=True)
    lines[1] = '{"epoch": 2, "train_lo\n'  # damaged in place
    run.metrics.write_text("".join(lines))
    with pytest.raises(RunDirError) as e:
        run.read_metrics()
    message = str(e.value)
    assert "metrics.jsonl line 2: not valid JSON" in message
    assert "the 2 lines after it are intact: repair line 2 or delete it (keep a copy of metrics.jsonl first)" in message
    assert "\n" not in message
    # Following it: the line deleted, every other record reads.
    run.metrics.write_text("".join(lines[:1] + lines[2:]))
    assert [r["epoch"] for r in run.read_metrics()] == [1, 3, 4]


def test_a_damaged_last_complete_line_says_so():
    import tempfile
    from pathlib import Path

    run = RunDir(Path(tempfile.mkdtemp()) / "run")
    run.append(run.metrics, {"epoch": 1})
    with open(run.metrics, "a") as f:
        f.write("[1]\n")
    with pytest.raises(RunDirError, match=r"line 2: expected a JSON object, got a list; it is the file's last line: "
                                          r"repair line 2 or delete it"):
        run.read_metrics()


def test_a_device_or_pipe_is_never_replaced_by_a_written_file(tmp_path):
    import os

    from rnnlab.rundir import atomic_write_text

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(RunDirError, match="not a regular file"):
        atomic_write_text(fifo, "x")
    assert fifo.is_fifo()
    with pytest.raises(RunDirError, match="a directory"):
        atomic_write_text(tmp_path, "x")
