"""`rnnlab search`, round 2 of a new user's test: a killed worker of several (journal and
PostgreSQL), a killed search's workers, derived keys and choices that searched nothing, keys a
search cannot compare trials on, the study of a database continued without --storage, and the
search's lines (a cut reason, counts ahead of the lines, folds lowered, a dead worker's trial)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.errors import SearchError
from rnnlab.search.space import default_space, space_from_config
from rnnlab.search.storage import open_storage, process_alive, process_identity
from rnnlab.search.study import (
    Progress,
    SearchOptions,
    _spawned_worker,
    open_existing,
    prepare,
    run_search,
)

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the processes")

CONFIG = """name = "r2"
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
heartbeat = 1
"""


#: a search space of one key, for a search whose space no assertion reads: the study report a
#: finished search draws has one slice panel, not one per key of the default space.
ONE_KEY = '[search.space]\n"model.zoneout" = { low = 0.0, high = 0.2 }\n'


def write(tmp_path: Path, epochs: int = 3, trials: int = 2, extra: str = "", name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(CONFIG.format(epochs=epochs, trials=trials) + extra)
    return path


def _command(config: Path, out: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", str(out),
                             "--no-final", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _running(study_of: Callable[[], optuna.Study], deadline: float, count: int) -> list[optuna.trial.FrozenTrial]:
    """Wait until ``count`` trials run in workers that recorded their pid, and return them."""
    while time.time() < deadline:
        try:
            running = [t for t in study_of().get_trials() if t.state == TrialState.RUNNING and "pid" in t.user_attrs
                       and "dir" in t.user_attrs]
        except Exception:  # (the study is not created yet)
            running = []
        if len(running) >= count:
            return running
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} trials ever ran at once")


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


# ------------------------------------------------------------------------------ a killed worker (journal)


@linux
def test_a_killed_worker_of_two_is_failed_and_the_other_completes_the_study(tmp_path):
    config = write(tmp_path, epochs=20, trials=3)
    out = tmp_path / "s"
    proc = _command(config, out, "--workers", "2")
    try:
        running = _running(lambda: open_existing(out), time.time() + 120, count=2)
        # The second worker started (pids grow): the parent asked the first one first, and
        # any() stopped there, so the killed one was never reaped; its zombie passed for alive,
        # and the other worker waited for its trial for ever.
        victim = max(running, key=lambda t: t.user_attrs["pid"])
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        _stop(proc)
    assert proc.returncode == 0, stderr
    trials = open_existing(out).get_trials()
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["failed_because"].startswith(f"worker pid {victim.user_attrs['pid']} on ")
    assert killed.user_attrs["failed_because"].endswith(" died")
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) >= 3  # the study's count
    assert "was killed (SIGKILL)" in stdout and f"trial {victim.number:>4} fail     worker pid" in stdout
    assert "Traceback" not in stderr


@linux
def test_a_zombie_worker_is_not_alive(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    assert identity[1] is not None and process_alive(*identity)  # (read while it starts up)
    deadline = time.time() + 30
    while time.time() < deadline and Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
        time.sleep(0.05)
    assert Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] == "Z"  # exited, not reaped
    try:
        assert not process_alive(*identity)
    finally:
        child.wait()


@linux
def test_study_shows_a_dead_workers_trial_as_gone(tmp_path, capsys):
    config = write(tmp_path, epochs=60, trials=1)
    out = tmp_path / "s"
    proc = _command(config, out, "--quiet")
    try:
        running = _running(lambda: open_existing(out), time.time() + 120, count=1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    capsys.readouterr()
    assert main(["study", str(out)]) == 0
    table = capsys.readouterr().out
    assert f"running (worker {running[0].user_attrs['pid']} gone)" in table, table
    assert table.strip().splitlines()[-1].endswith("1 running (1 of them of a worker gone)"), table


# ------------------------------------------------------------------------------ a killed search


@linux
def test_the_workers_of_a_killed_search_stop_with_it(tmp_path):
    config = write(tmp_path, epochs=300, trials=4)
    out = tmp_path / "s"
    proc = _command(config, out, "--workers", "2", "--quiet")
    try:
        _running(lambda: open_existing(out), time.time() + 120, count=2)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGKILL)  # no chance to stop its workers itself
        proc.wait()
        # A trial of 300 epochs on each of 2 folds runs for minutes: only a stop ends them now.
        deadline = time.time() + 30
        while time.time() < deadline and any(process_alive(w, None) and _state(w) != "Z" for w in workers):
            time.sleep(0.1)
        assert not any(process_alive(w, None) and _state(w) != "Z" for w in workers), "a worker outlived its search"
    finally:
        _stop(proc)
    # They stopped as on the search's own SIGTERM: their trials recorded as interrupted, none left running.
    trials = open_existing(out).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.user_attrs.get("failed_because") for t in trials if t.state == TrialState.FAIL] == ["interrupted"] * 2


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_a_worker_whose_search_is_gone_starts_no_more_trials(tmp_path):
    # The check between trials (the path where the kernel's death signal is not set: not Linux,
    # or a search that died while its workers started): a real worker, whose search is a stand-in
    # process killed while the worker's first trial runs.
    config = write(tmp_path, epochs=30, trials=3)
    out = tmp_path / "s"
    setup = prepare(SearchOptions(str(config), out=str(out), final=False))
    stand_in = subprocess.Popen(["sleep", "600"])
    worker = multiprocessing.get_context("spawn").Process(
        target=_spawned_worker, args=(setup, 0, 1, process_identity(stand_in.pid)))
    worker.start()
    try:
        storage = open_storage(None, out)
        _running(lambda: optuna.load_study(study_name="r2", storage=storage), time.time() + 120, count=1)
        stand_in.kill()
        stand_in.wait()
        worker.join(timeout=180)
        assert worker.exitcode == 0
    finally:
        if worker.is_alive():
            worker.kill()
            worker.join()
        _stop(stand_in)
    trials = optuna.load_study(study_name="r2", storage=open_storage(None, out)).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE]  # its trial finished, no other started


# ------------------------------------------------------------------------------ PostgreSQL


def test_a_killed_worker_on_postgresql_says_why_and_its_study_needs_storage(tmp_path, postgres_url, capsys):
    # trust authentication takes any password: the URL carries one, which is never printed
    url = postgres_url.replace("postgres@", "postgres:s3cretPW@")
    config = write(tmp_path, epochs=20, trials=3, extra=ONE_KEY)
    out = tmp_path / "s"
    proc = _command(config, out, "--workers", "2", "--storage", url, "--study", "killed-pg", "--quiet")
    storage = open_storage(url, tmp_path)
    try:
        running = _running(lambda: optuna.load_study(study_name="killed-pg", storage=storage), time.time() + 120, 2)
        victim = running[-1]
        os.kill(victim.user_attrs["pid"], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=240)
    finally:
        _stop(proc)
    assert proc.returncode == 0, stderr
    trials = optuna.load_study(study_name="killed-pg", storage=storage).get_trials()
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["failed_because"] == f"worker pid {victim.user_attrs['pid']} on " \
                                                  f"{victim.user_attrs['host']} died: no heartbeat for 2 s"
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert "failed_because" not in retry[0].user_attrs  # (the retry copies the user attributes)
    capsys.readouterr()
    assert main(["study", str(out), "--storage", url]) == 0
    assert f"trial {victim.number} failed: worker pid {victim.user_attrs['pid']}" in capsys.readouterr().out
    # The same command without --storage: the study is in the database, not a lost journal.
    assert main(["search", str(config), "--out", str(out), "--study", "killed-pg", "--no-final"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s3cretPW" not in err, err
    assert "postgres:***@127.0.0.1" in err and "pass --storage URL" in err and "journal.log records" not in err


def test_a_storage_that_cannot_be_opened_leaves_no_study_directory(tmp_path, capsys):
    config = write(tmp_path)
    for out, existed in ((tmp_path / "new", False), (tmp_path / "empty", True)):
        if existed:
            out.mkdir()
        assert main(["search", str(config), "--out", str(out), "--storage",
                     "postgresql://nobody:pw@127.0.0.1:1/none"]) == 1
        assert "cannot open the database" in capsys.readouterr().err
        assert out.exists() == existed and (not existed or not list(out.iterdir()))


# ------------------------------------------------------------------------------ the space

BASE = '[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 8\n'
STREAM = ('[task]\nkind = "forecasting"\nseason = 12\n[data]\ndataset = "Airline"\nbptt = 12\nstreams = 2\n'
          '[model]\nhidden_size = 8\n')


@pytest.mark.parametrize("space, message", [
    ('"model.normalization" = { choices = ["batchnorm"] }',
     r"'model.normalization': the value 'batchnorm' is refused: 'model.normalization': expected one of 'none', "
     r"'layer_norm', 'recurrent_batch_norm', got 'batchnorm'; did you mean 'recurrent_batch_norm'\?"),
    ('"model.max_norm" = { choices = ["yes", "no"] }', r"'model.max_norm': the value 'yes' is refused: .*expected true"),
    ('"model.max_norm" = { choices = [true, 4.0] }', r"'model.max_norm': the value 4.0 is refused: .*or false, got 4.0"),
    ('"training.optimizer" = { choices = ["adamw"] }',
     r"'training.optimizer': expected at least 2 distinct choices, got \['adamw'\] \(no key of the space varies"),
    ('"training.optimizer" = { choices = ["adamw", "adamw"] }\n"training.lr" = { low = 0.001, high = 0.01 }',
     r"'training.optimizer': expected at least 2 distinct choices, got \['adamw', 'adamw'\]"),
    ('"task.kind" = { choices = ["classification", "regression"] }',
     r"'task.kind' cannot be searched: the task decides the metric a trial is scored on and its direction"),
    ('"task.mean_guard" = { choices = [false, true] }', r"'task.mean_guard' cannot be searched"),
    ('"model.recurrent_dropout" = { low = 0.1, high = 0.5, step = 0.15 }',
     r"'model.recurrent_dropout': 'step' 0.15 does not divide the range 0.1 .. 0.5; .* high = 0.4"),
    ('"model.hidden_size" = { low = 8, high = 32, step = 1.5 }', r"'model.hidden_size': an integer key needs an integer step"),
    ('"decay.bias_fraction" = { low = 0, high = 5 }',
     r"'decay.bias_fraction': the value 5.0 is refused: .*expected a fraction in \[0, 1\]"),
    ('"decay.kernel" = { choices = ["x", 0.1] }', r"'decay.kernel': the value 'x' is refused"),
])
def test_a_space_that_would_search_nothing_or_something_else_is_refused(space, message):
    with pytest.raises(SearchError, match=message):
        space_from_config(parse_config(BASE + "[search.space]\n" + space + "\n"), input_size=1, num_classes=2)


def test_a_space_error_is_one_line_and_a_divisible_step_is_silent(tmp_path, capsys, recwarn):
    config = write(tmp_path, extra='[search.space]\n"model.max_norm" = { choices = [true, 4.0] }\n')
    assert main(["search", str(config), "--out", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'model.max_norm'" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()
    # A step that divides the range (in decimal, as Optuna checks it) draws without Optuna's warning.
    good = space_from_config(parse_config(BASE + '[search.space]\n"model.recurrent_dropout" = '
                                                 '{ low = 0.1, high = 0.4, step = 0.1 }\n'), 1, 2)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        good.sample(study.ask())
    assert not [w for w in recwarn if "replaced" in str(w.message)]


@pytest.mark.parametrize("key", ["training.shuffle", "training.shuffle_within_batch"])
def test_shuffling_keys_are_refused_on_a_stream(key):
    choices = '["samples", "batches"]' if key == "training.shuffle" else "[false, true]"
    space = f'[search.space]\n"{key}" = {{ choices = {choices} }}\n"model.zoneout" = {{ low = 0.0, high = 0.2 }}\n'
    with pytest.raises(SearchError, match=rf"'{key}' does nothing on a stream \(\[task\] kind = 'forecasting'\): its "
                                          r"rows are read in order"):
        space_from_config(parse_config(STREAM + space), input_size=1, num_classes=1)
    if key == "training.shuffle":
        space_from_config(parse_config(BASE + space), 1, 2)  # (not a stream: a search of it)


def test_the_default_space_of_a_stream_leaves_out_recurrent_batch_norm():
    space = default_space(parse_config(STREAM), input_size=1, num_classes=1)
    norm = next(p for p in space.params if p.name == "model.normalization")
    assert norm.choices == ("none", "layer_norm")
    assert "recurrent_batch_norm" in next(p for p in default_space(parse_config(BASE), 1, 2).params
                                          if p.name == "model.normalization").choices


# ------------------------------------------------------------------------------ the lines


def test_a_long_failure_reason_is_cut_at_a_word(tmp_path):
    setup = prepare(SearchOptions(str(write(tmp_path, extra='[search.space]\n"model.zoneout" = '
                                                         '{ low = 0.0, high = 0.2 }\n'))))
    study = optuna.create_study()
    progress = Progress(setup, print, study)
    reason = "data.bptt: the series is shorter than one window; " + "expected data.bptt <= 95, got 500; " * 6
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"failed_because": reason}))
    line = progress.line(study.get_trials()[0], study.get_trials())
    shown = line.split(" fail     ", 1)[1].split("  [", 1)[0]
    assert shown.endswith("…") and len(shown) <= 160
    assert reason.startswith(shown[:-1]) and not reason[len(shown) - 1].isalnum()  # (whole words only)


def test_each_line_counts_the_trials_announced_up_to_it(tmp_path):
    setup = prepare(SearchOptions(str(write(tmp_path, trials=4, extra='[search.space]\n"model.zoneout" = '
                                                                  '{ low = 0.0, high = 0.2 }\n'))))
    study = optuna.create_study(direction=setup.direction)
    lines: list[str] = []
    progress = Progress(setup, lines.append, study)
    dist = {"model.zoneout": optuna.distributions.FloatDistribution(0.0, 0.2)}
    # Two trials finish between two polls: 1 complete, then 2 pruned.
    study.add_trial(optuna.create_trial(value=0.5, params={"model.zoneout": 0.1}, distributions=dist,
                                        user_attrs={"spread": 0.1}))
    study.add_trial(optuna.create_trial(state=TrialState.PRUNED, params={"model.zoneout": 0.2}, distributions=dist,
                                        user_attrs={"pruned_at": {"fold": 1, "epoch": 2}}))
    progress.update(study)
    assert "[1/4 done, 0 pruned, 0 failed]" in lines[0] and "[2/4 done, 1 pruned, 0 failed]" in lines[1], lines


def test_folds_lowered_and_one_parameter_are_said_in_the_first_lines(tmp_path):
    config = write(tmp_path, epochs=1, trials=1, extra='[search.space]\n"model.zoneout" = { low = 0.0, high = 0.2 }\n')
    config.write_text(config.read_text().replace("folds = 2", "folds = 500"))
    lines: list[str] = []
    run_search(SearchOptions(str(config), out=str(tmp_path / "s"), final=False), log=lines.append)
    assert "; 1 parameter;" in lines[0]
    assert lines[1].startswith("note: search.folds = 500 is more than the training split allows (every fold holds "
                               "series of each class): the search uses "), lines[:2]
    k = int(lines[1].rsplit("uses ", 1)[1].split()[0])
    assert 2 <= k < 500 and f"{k} stratified folds of the training split" in lines[0]
