"""Stops at the edges of a run say what they stopped and lose nothing (helper-177):

1. a Ctrl-C while a finished final run's report is drawn (``rnnlab search``, ``rnnlab recipe``:
   :func:`rnnlab.train.final.retrain_and_test`) is the usual one-line stop, and the same command
   then draws the report it lost (before: a bare "interrupted", and the rerun reused the run
   without ever drawing ``final/report.html``); any other stop outside a training names SIGINT;
2. a search worker killed outright (SIGKILL) leaves no "leaked semaphore objects" warning of
   multiprocessing's resource tracker after the search's summary;
3. a stop held to the end of a run's last epoch says "after epoch N", not an epoch N + 1 past the
   budget.

The stops are real SIGINTs, sent from inside the run at a known point: as a function is called
(``sys.setprofile``: the interpreter reports every call) or from the trainer's ``on_epoch``; the
kill is a real SIGKILL of a real worker process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_bad_inputs import config as tiny_config
from tiny_search import ROOT, tiny_search_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import Interrupted, Place, place_of
from rnnlab.rundir import RunDir, read_jsonl
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.final import retrain_and_test

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@contextlib.contextmanager
def sigint_as_called(name: str) -> Iterator[list[str]]:
    """Send this process a real SIGINT the first time a function named ``name`` is called, as a
    user's Ctrl-C landing there; yields the list that call's first argument (a run directory's
    folder) is appended to."""
    called: list[str] = []

    def profile(frame, event, arg) -> None:
        if event == "call" and not called and frame.f_code.co_name == name:
            first = frame.f_locals.get(frame.f_code.co_varnames[0]) if frame.f_code.co_argcount else None
            called.append(str(getattr(first, "path", first)))  # (a RunDir: its folder)
            signal.raise_signal(signal.SIGINT)

    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(None)


# 1. a stop while the final run's report is drawn ---------------------------------------------------


def test_a_stop_while_the_final_report_is_drawn_says_so_and_the_rerun_draws_it(tmp_path: Path) -> None:
    cfg = parse_config(tiny_config())
    out = tmp_path / "final"
    with sigint_as_called("render_report") as called, pytest.raises(KeyboardInterrupt) as stop:
        retrain_and_test(cfg, out)
    assert called, "the report was never drawn"
    said = str(stop.value)
    assert isinstance(stop.value, Interrupted) and stop.value.signum == signal.SIGINT, repr(stop.value)
    assert said == (f"interrupted by SIGINT; the final run in {out} is finished and kept; the same command draws its "
                    "report again"), said
    assert RunDir(out).read_summary() is not None and not (out / "report.html").exists()
    # what it says is what happens: the run is read, not trained again, and its report drawn
    metrics = (out / "metrics.jsonl").read_bytes()
    again = retrain_and_test(cfg, out)
    assert again.get("reused") is True and (out / "metrics.jsonl").read_bytes() == metrics
    assert (out / "report.html").stat().st_size > 0


def test_the_search_stopped_while_drawing_its_final_report_links_it_after_the_rerun(tmp_path: Path, capsys) -> None:
    (tmp_path / "s.toml").write_text(tiny_search_toml())
    command = ["search", str(tmp_path / "s.toml"), "--trials", "1", "--workers", "1", "--out", str(tmp_path / "s"),
               "--quiet"]
    with sigint_as_called("render_report") as called:
        code = main(command)
    lines = capsys.readouterr().err.strip().splitlines()
    assert called and called[0].endswith("final"), called  # (the final run's report, and no other)
    assert code == 130 and lines[-1] == (f"rnnlab search: interrupted by SIGINT; the final run in {tmp_path / 's' / 'final'} "
                                         "is finished and kept; the same command draws its report again"), lines
    assert main(command) == 0, capsys.readouterr().err
    assert (tmp_path / "s/final/report.html").exists()
    assert "final run report" in (tmp_path / "s/study.html").read_text()


def test_a_stop_outside_a_training_names_its_signal(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    train(parse_config(tiny_config()), out=run, log=None, progress=False)
    with sigint_as_called("render_report"):
        code = main(["report", str(run)])
    assert (code, capsys.readouterr().err.strip()) == (130, "rnnlab report: interrupted by SIGINT")


# 2. a worker killed outright ------------------------------------------------------------------------


def _workers(pid: int) -> list[int]:
    """The search's worker processes (its children started by multiprocessing's spawn)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the worker processes from /proc (Linux)")
def test_a_search_worker_killed_outright_leaves_no_leaked_semaphore_warning(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(tiny_search_toml(epochs=3))
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(tmp_path / "s.toml"), "--trials", "3",
                             "--workers", "2", "--out", str(out), "--no-final"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # both workers training (each has drawn, or not drawn, a progress bar), then one killed
        deadline = time.time() + 180  # (a bound on a wait, on a loaded machine)
        while time.time() < deadline and proc.poll() is None and \
                len([p for p in out.glob("trials/*/fold-1/metrics.jsonl") if p.stat().st_size]) < 2:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read()
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        said, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, said
    # (the search says the kill as it reaps the worker, or, where the other worker found its trial
    # stale first under load, that the worker died: either way the trial is named with its worker)
    assert f"(pid {workers[0]}) was killed (SIGKILL)" in said or f"worker pid {workers[0]} on " in said, said
    assert "leaked semaphore" not in said and "resource_tracker" not in said, said
    assert said.rstrip().splitlines()[-1] == f"study report: {out / 'study.html'}", said  # (the summary, last)


# 3. a stop held to the end of the last epoch --------------------------------------------------------


def test_a_stop_held_to_the_end_of_the_last_epoch_says_after_it(tmp_path: Path) -> None:
    cfg = parse_config(tiny_config())  # 2 epochs
    run = tmp_path / "run"

    def stop_in_the_last(record: dict) -> bool:
        if record["epoch"] == 2:
            signal.raise_signal(signal.SIGINT)  # (held: the epoch's record and checkpoint state go whole)
        return False

    with pytest.raises(KeyboardInterrupt) as stop:
        train(cfg, out=run, log=None, progress=False, on_epoch=stop_in_the_last)
    said = str(stop.value)
    assert isinstance(stop.value, Interrupted), repr(stop.value)
    assert said.startswith("interrupted by SIGINT after epoch 2; the checkpoint after epoch 2: --resume continues "
                           "from it"), said
    assert place_of(stop.value) == Place("after_epoch", 2)
    # what it names is what the run holds: epoch 2 recorded and checkpointed, no epoch 3
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 2
