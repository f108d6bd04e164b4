"""What a rerun after a kill says it did: reused and resumed runs, a finished run resumed, an
interruption's wording, stale temp files, lost metric lines, a bad storage port."""

from __future__ import annotations

from pathlib import Path

from rnnlab.recipe.run import RecipeOptions, run_recipe_command

TINY = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
[tracking]
weights_every = 0
grads_every = 0
health = false
[search]
folds = 2
"""


def test_recipe_rerun_says_which_runs_it_reused_and_resumed(tmp_path: Path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "rec"
    options = RecipeOptions(config=str(config), seeds=1, steps="zoneout", out=str(out), final=False)
    first: list[str] = []
    run_recipe_command(options, log=first.append)
    scoring = [line for line in first if "scoring" in line]
    assert scoring and not any("reused" in line or "resumed" in line for line in scoring)  # a fresh run
    again: list[str] = []
    run_recipe_command(options, log=again.append)
    scoring = [line for line in again if "scoring" in line]
    assert scoring and all(line.endswith("(2 finished runs reused)") for line in scoring), scoring
    # a run killed after its checkpoint but before it finished: resumed, not counted as reused
    fold = next((out / "candidates").glob("*/seed-*/fold-2"))
    (fold / "summary.json").unlink()
    third: list[str] = []
    run_recipe_command(options, log=third.append)
    assert any(line.endswith("(1 finished run reused, 1 resumed from its checkpoint)") for line in third), third


def _tiny_run(out: Path, log: list[str] | None = None, resume: bool = False):
    from rnnlab.config import parse_config
    from rnnlab.train import train

    cfg = parse_config(TINY.replace("[search]\nfolds = 2\n", ""))
    return train(cfg, out=out, resume=resume, progress=False, log=None if log is None else log.append)


def test_resume_of_a_finished_run_says_it_had_finished_and_what_resume_did(tmp_path: Path):
    run = tmp_path / "fin"
    _tiny_run(run)
    said: list[str] = []
    _tiny_run(run, said, resume=True)
    line = next(line for line in said if str(run) in line and "--resume" in line)
    assert line.startswith(f"{run} had already finished (after epoch 2, step ")
    assert "--resume trains nothing and writes nothing in it" in line
    assert not any(line.startswith("resuming") for line in said)


def test_a_stop_before_any_record_is_no_failure(tmp_path: Path):
    import signal

    from rnnlab.errors import Interrupted
    from rnnlab.rundir import RunDir
    from rnnlab.train.trainer import _abandon_unrecorded

    notes = []
    for error in (Interrupted.by(signal.SIGTERM), RuntimeError("out of memory")):
        run = RunDir.for_writing(tmp_path / type(error).__name__, new=True)
        (run.path / "health.json").write_text("{}")  # the health check ran, then the stop came
        _abandon_unrecorded(run, error)
        notes.append(error.__notes__[0])
    assert "keeps what the run recorded before it was interrupted (health.json)" in notes[0]
    assert "before it failed (health.json)" in notes[1]


def test_writing_report_html_removes_what_a_killed_writer_of_it_left(tmp_path: Path):
    import os

    from rnnlab.cli import main

    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("[search]\nfolds = 2\n", ""))
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--quiet"]) in (0, None)
    assert (run / "report.html").exists()
    dead = run / ".report.html.k1ll3d00.tmp"  # a writer SIGKILLed before its rename
    live = run / ".report.html.l1v30000.tmp"  # one writing now (rnnlab report beside the trainer)
    other = run / ".summary.json.k1ll3d00.tmp"  # another target's: its own writes sweep it
    for p in (dead, live, other):
        p.write_text("<html>partial")
    for p in (dead, other):
        os.utime(p, (0, 0))
    (run / "summary.json").unlink()  # (killed before its summary: the resume finishes it and draws the report)
    assert main(["train", str(config), "--out", str(run), "--quiet", "--resume"]) in (0, None)
    assert not dead.exists() and live.exists()
    assert (run / "report.html").read_text().startswith("<!")  # the report itself is whole


def test_records_cut_short_before_this_runs_own_checkpoint_say_so(tmp_path: Path):
    import pytest

    from rnnlab.errors import RunDirError

    run = tmp_path / "trunc"
    _tiny_run(run)  # last.pt after epoch 2
    metrics = run / "metrics.jsonl"
    data = metrics.read_bytes()
    metrics.write_bytes(data[:-40])  # a power cut while epoch 2's line was appended
    with pytest.raises(RunDirError) as e:
        _tiny_run(run, resume=True)
    message = str(e.value)
    assert "\n" not in message and "copied from another run" not in message
    assert f"{metrics} ends before " in message and "the record of epoch 2 was lost (a power cut" in message
    assert f"to keep the run, copy {run} aside" in message


def test_a_storage_url_with_a_bad_port_names_the_option_and_the_port_not_the_password(tmp_path: Path):
    import pytest

    from rnnlab.errors import StorageError
    from rnnlab.search.storage import open_storage

    with pytest.raises(StorageError) as e:
        open_storage("postgresql://user:s3cret@127.0.0.1:notaport/db", tmp_path / "study")
    message = str(e.value)
    assert message.startswith("--storage postgresql://user:***@127.0.0.1:notaport/db: the port 'notaport' is not")
    assert "s3cret" not in message and "int()" not in message and "\n" not in message
