"""Ctrl-C at any moment of an ``rnnlab`` command ends in one line and exit code 130: while the
command starts (torch, the parser's imports), and a second Ctrl-C while the first is handled (the
trainer writes its checkpoint, the command says it was interrupted, a search stops its workers)
or after the command has ended.

Each test runs the real command in a subprocess that sends itself SIGINT at a chosen moment: a
``sys.addaudithook`` hook (an import starting, the n-th open of a file, a rename onto a file,
SIGTERM sent to a worker) or a profile hook (a function called), so that the moment is the same
on a fast machine and a loaded one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CONFIG = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 300
batch_size = 8
checkpoint_every = 3600
[tracking]
health = false
grad_through_time = false
[search]
trials = 4
folds = 1
reports = "none"
"""

# RNNLAB_AT: the moments, in order, each sending one SIGINT: import:MODULE, open:FILE_NAME:N,
# rename:FILE_NAME, kill:SIGTERM (to another process), call:FUNCTION, exit (the last exit handler).
# RNNLAB_ENTRY: "-m MODULE", run as `python -m MODULE` runs it, or "module:function", called as a
# console script calls it.
DRIVER = r'''
import atexit, importlib, os, signal, sys

def fire():
    steps.pop(0)
    os.kill(os.getpid(), signal.SIGINT)

def hook(event, args):
    if not steps:
        return
    kind, *what = steps[0]
    name = lambda p: os.path.basename(os.fsdecode(p)) if isinstance(p, (str, bytes, os.PathLike)) else None
    if ((kind == "import" and event == "import" and args[0] == what[0])
            or (kind == "rename" and event == "os.rename" and name(args[1]) == what[0])
            or (kind == "kill" and event == "os.kill" and args[0] != os.getpid() and args[1] == signal.SIGTERM)):
        fire()
    elif kind == "open" and event == "open" and name(args[0]) == what[0]:
        opened[args[0]] = opened.get(args[0], 0) + 1
        if opened[args[0]] == int(what[1]):
            fire()
    if steps and steps[0][0] == "call" and event != "sys.setprofile" and sys.getprofile() is None:
        def profile(frame, event, arg):
            if steps and event == "call" and frame.f_code.co_name == steps[0][1]:
                sys.setprofile(None)
                fire()
        sys.setprofile(profile)

def at_exit():
    if steps and steps[0][0] == "exit":
        fire()

if __name__ == "__main__":  # (not in a search's spawned workers, which import this module)
    # Python's own SIGINT handler, as at a terminal: a test run in the background (`make test &`)
    # ignores SIGINT, and its processes inherit that
    signal.signal(signal.SIGINT, signal.default_int_handler)
    steps = [s.split(":") for s in os.environ["RNNLAB_AT"].split(",")]
    opened = {}
    sys.addaudithook(hook)
    atexit.register(at_exit)  # (first registered, last run)
    entry = os.environ["RNNLAB_ENTRY"]
    if entry.startswith("-m "):
        import runpy

        runpy.run_module(entry[3:], run_name="__main__", alter_sys=True)
    else:
        module, _, function = entry.partition(":")
        sys.exit(getattr(importlib.import_module(module), function)())
'''


def _start(tmp_path: Path, at: str, *args: str, entry: str = "-m rnnlab.cli") -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, RNNLAB_AT=at, RNNLAB_ENTRY=entry, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(driver), *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run(tmp_path: Path, at: str, *args: str, entry: str = "-m rnnlab.cli") -> tuple[int, list[str]]:
    proc = _start(tmp_path, at, *args, entry=entry)
    _, err = proc.communicate(timeout=240)
    text = err.decode()
    assert "Traceback" not in text and "Exception ignored" not in text, text
    return proc.returncode, [line for line in text.splitlines() if line.strip()]


def _train(tmp_path: Path, at: str, entry: str = "-m rnnlab.cli") -> tuple[int, list[str], Path]:
    (tmp_path / "tiny.toml").write_text(CONFIG)
    code, lines = _run(tmp_path, at, "train", "tiny.toml", "--out", "run", "--quiet", entry=entry)
    return code, lines, tmp_path / "run"


@pytest.mark.parametrize("module", ["torch", "numpy"])
def test_ctrl_c_while_the_console_script_imports_torch_is_one_line(tmp_path: Path, module: str):
    # (before: the KeyboardInterrupt's traceback through torch's imports; the console script's
    # first import, of rnnlab, imports torch before any code of rnnlab.cli runs)
    code, lines, _ = _train(tmp_path, f"import:{module}", entry="rnnlab_entry:main")
    assert (code, lines) == (130, ["rnnlab: interrupted"])


def test_the_installed_rnnlab_command_starts_through_the_entry_module():
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="rnnlab")
    assert script.value == "rnnlab_entry:main", (
        f"the rnnlab console script runs {script.value}: a Ctrl-C while it imports torch prints a traceback "
        "(pyproject.toml [project.scripts] rnnlab = \"rnnlab_entry:main\", then pip install -e .)")


def test_ctrl_c_while_the_parser_loads_its_models_is_one_line(tmp_path: Path):
    # (before: build_parser ran outside the command's handler: a traceback through pydantic)
    code, lines, _ = _train(tmp_path, "import:pydantic")
    assert (code, lines) == (130, ["rnnlab: interrupted"])


def test_a_second_ctrl_c_while_the_checkpoint_is_written_keeps_that_checkpoint(tmp_path: Path):
    from rnnlab.rundir import read_jsonl
    from rnnlab.train.checkpoint import load_checkpoint

    # The first Ctrl-C as epoch 3 records its metrics (last.pt holds epoch 1: checkpoint_every is an
    # hour): held until epoch 3's record and checkpoint state are taken together (held_stops), then
    # the second between the writing of epoch 3's last.pt and its rename into place.
    code, lines, run = _train(tmp_path, "open:metrics.jsonl:3,rename:last.pt")
    assert code == 130 and len(lines) == 1, lines
    assert lines[0].startswith("rnnlab train: interrupted by SIGINT during epoch 4; the checkpoint after epoch 3"), lines
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    # (before: the rename was broken off, last.pt stayed epoch 1's and the epochs after were lost)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 3
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]


@pytest.mark.parametrize("moment", ["call:_where_the_run_stands", "call:_one_line", "exit"])
def test_a_second_ctrl_c_while_the_command_ends_changes_nothing(tmp_path: Path, moment: str):
    # (before, at _one_line: a traceback from inside the handler printing the line; at exit: a
    # traceback from the interpreter's exit handlers; at _where_the_run_stands: the line lost
    # where the run stands)
    # (the first Ctrl-C lands as epoch 3's record is written: held until its checkpoint state is taken)
    code, lines, _ = _train(tmp_path, f"open:metrics.jsonl:3,{moment}")
    assert (code, lines) == (130, ["rnnlab train: interrupted by SIGINT during epoch 4; the checkpoint after epoch 3: "
                                   "--resume continues from it"])


def test_ctrl_c_after_the_command_succeeded_keeps_its_exit_code(tmp_path: Path):
    code, lines = _run(tmp_path, "exit", "init", "new.toml")
    assert code == 0 and lines == [], lines
    assert (tmp_path / "new.toml").is_file()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_a_second_ctrl_c_while_a_search_stops_its_workers_stops_them(tmp_path: Path):
    (tmp_path / "tiny.toml").write_text(CONFIG)
    out = tmp_path / "study"
    # the second SIGINT as the search sends its first worker SIGTERM, to stop it
    proc = _start(tmp_path, "kill:SIGTERM", "search", "tiny.toml", "--workers", "2", "--out", str(out), "--quiet")
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:  # until a worker's run has recorded an epoch
        if any(p.stat().st_size for p in out.glob("trials/*/fold-1/metrics.jsonl")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"ended before the signal: {proc.stderr.read().decode()}"
    workers = [int(c) for task in Path(f"/proc/{proc.pid}/task").iterdir()
               for c in (task / "children").read_text().split()]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    text = err.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert proc.returncode == 130 and len(lines) == 1, text
    assert lines[0].startswith("rnnlab search: interrupted by SIGINT"), text
    deadline = time.time() + 10  # (the resource tracker among them ends after its search)
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.05)
    assert workers and not any(Path(f"/proc/{w}").exists() for w in workers), "a worker outlived its search"
    # (before: the second SIGINT broke off the stopping of the workers, and the search waited for
    # them to finish every trial: 300 epochs each)
    epochs = [len(p.read_text().splitlines()) for p in out.glob("trials/*/fold-1/metrics.jsonl")]
    assert epochs and max(epochs) < 300, epochs
