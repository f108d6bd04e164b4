"""`rnnlab search` and `rnnlab recipe` killed at awkward moments, round 3: the config itself lost
to a killed worker is run again, a waiting trial is run by the next search, an interrupted
trial resumes its runs' checkpoints, and a recipe's pool workers stop with the recipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from rnnlab.rundir import RunDir
from rnnlab.search.storage import process_identity
from rnnlab.search.study import SearchOptions, open_existing, run_search

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the processes")
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}

CONFIG = """name = "k3"
[data]
dataset = "UnitTest"
[model]
hidden_size = 6
[training]
epochs = {epochs}
batch_size = 8
lr = 0.01
threads = 1
[tracking]
enabled = false
[search]
trials = {trials}
folds = 2
pruner = "none"
sampler = "random"
startup_trials = 2
reports = "none"
[search.space]
"model.zoneout" = {{ low = 0.0, high = 0.3 }}
"training.lr" = {{ low = 0.003, high = 0.03, log = true }}
"""


def write(tmp_path: Path, epochs: int, trials: int) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(epochs=epochs, trials=trials))
    return path


def _search(config: Path, out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", str(out),
                             "--no-final", *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(what, deadline: float, message: str):
    while time.time() < deadline:
        try:
            found = what()
        except Exception:  # (the study or the file is not there yet)
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(message)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _baseline_running(out: Path) -> optuna.trial.FrozenTrial | None:
    # (once it has drawn all its parameters: its worker records its pid a moment before and draws
    # them one at a time, and a kill in between leaves a trial with fewer to compare its retry's with)
    return next((t for t in open_existing(out).get_trials() if t.user_attrs.get("baseline")
                 and t.state == TrialState.RUNNING and "pid" in t.user_attrs
                 and set(t.params) == {"model.zoneout", "training.lr"}), None)


@linux
def test_the_config_itself_lost_to_a_killed_worker_is_run_again(tmp_path):
    config = write(tmp_path, epochs=40, trials=2)
    out = tmp_path / "s"
    proc = _search(config, out, "--workers", "2")
    try:
        victim = _wait_for(lambda: _baseline_running(out), time.time() + 120, "the config itself never ran")
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        _stop(proc)
    assert proc.returncode == 0, stderr
    trials = open_existing(out).get_trials()
    bases = [t for t in trials if t.user_attrs.get("baseline")]
    assert bases[0].number == victim.number and bases[0].state == TrialState.FAIL
    # The study has the config's own score: its retry, with the same parameters, completed.
    assert [t.state for t in bases[1:]] == [TrialState.COMPLETE] and bases[1].params == victim.params
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert (f"trial {bases[1].number} is the config itself: val_acc {bases[1].value:.4f} "
            f"(trial {victim.number}, lost: worker pid {victim.user_attrs['pid']}") in stdout


def test_a_waiting_trial_is_run_although_the_study_has_its_count(tmp_path):
    # What an earlier search left: its count of trials finished, and a trial queued after them
    # (the config itself queued again by a rerun) that no worker ever started.
    config = write(tmp_path, epochs=2, trials=2)
    out = tmp_path / "s"
    run_search(SearchOptions(str(config), out=str(out), final=False), log=None)
    study = open_existing(out)
    study.enqueue_trial(study.get_trials()[0].params, user_attrs={"baseline": True})
    run_search(SearchOptions(str(config), out=str(out), final=False), log=None)
    states = [t.state for t in open_existing(out).get_trials()]
    assert states == [TrialState.COMPLETE] * 3, states


@linux
def test_an_interrupted_trial_resumes_its_checkpoints_when_the_search_runs_again(tmp_path):
    config = write(tmp_path, epochs=30, trials=1)
    out = tmp_path / "s"
    proc = _search(config, out, "--quiet")
    try:
        # The first fold finished and the second has a checkpoint: then stop the whole search.
        _wait_for(lambda: (out / "trials/0000/fold-2/checkpoints/last.pt").exists(), time.time() + 120,
                  "the second fold never wrote a checkpoint")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        _stop(proc)
    first = RunDir(out / "trials/0000/fold-1").read_metrics()
    stopped_at = len(RunDir(out / "trials/0000/fold-2").read_metrics())
    run_search(SearchOptions(str(config), out=str(out), final=False), log=None)
    trials = open_existing(out).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    retry = trials[1]
    assert retry.params == trials[0].params and retry.user_attrs["resumes_trial"] == 0
    # The retry took the interrupted trial's runs over: the finished fold reused as it was, the
    # other resumed from its checkpoint (one resume recorded, no epoch trained twice).
    runs = out / "trials/0001"
    assert RunDir(runs / "fold-1").read_metrics() == first and not RunDir(runs / "fold-1").read_resumes()
    resumes = RunDir(runs / "fold-2").read_resumes()
    assert len(resumes) == 1 and resumes[0]["after_epoch"] <= stopped_at
    assert [r["epoch"] for r in RunDir(runs / "fold-2").read_metrics()] == list(range(1, 31))


def test_a_recipe_worker_whose_recipe_is_gone_exits_quietly():
    # A pool worker that starts after its recipe died (killed while the workers imported torch):
    # the kernel's death signal can no longer come, and its results would go nowhere.
    gone = subprocess.Popen(["true"])
    gone.wait()
    code = ("import multiprocessing as mp\nfrom rnnlab.recipe.run import _worker_init\n"
            f"_worker_init(1, 'cpu', mp.Value('i', 0), {process_identity(gone.pid)!r})\nprint('worked')\n")
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@linux
def test_the_workers_of_a_killed_recipe_stop_quietly_with_their_checkpoints(tmp_path):
    config = write(tmp_path, epochs=300, trials=1)
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "recipe", str(config), "--steps", "zoneout",
                             "--seeds", "2", "--no-final", "--out", str(out), "--quiet", "--workers", "2"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(list(out.glob("candidates/*/seed-*/fold-1/checkpoints/last.pt"))) >= 2,
                  time.time() + 120, "the recipe's runs never wrote checkpoints")
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)  # (the workers hold the pipe: it ends when they do)
    finally:
        _stop(proc)
    assert "Traceback" not in stderr, stderr
    # (multiprocessing's resource tracker outlives its parent by design, to free what it leaked)
    workers = [w for w in workers if "resource_tracker" not in _cmdline(w)]

    def alive() -> list[int]:
        return [w for w in workers if Path(f"/proc/{w}").exists()
                and Path(f"/proc/{w}/stat").read_text().split(")")[-1].split()[0] != "Z"]

    _wait_for(lambda: not alive(), time.time() + 60, "the recipe's workers outlived it")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # (gone already)
        return ""
