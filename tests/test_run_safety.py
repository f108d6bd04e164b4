"""Nothing lost, nothing overwritten, nothing written outside the run (issue 26, its file points):
one writer per run and study directory, a user's folder never written into, no write through a
link, a journal cut by a kill repaired, one study per study directory, and the config itself
run again after a search was stopped during it.

CLI cases follow the battery of tests/test_bad_inputs.py: exit code 1, one line on stderr, no
traceback, the key or file named, and every file that existed before unchanged (and no file
added where the command was refused).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from test_bad_inputs import config, digest, one_line_error

from rnnlab.cli import main
from rnnlab.errors import RunDirError, StorageError
from rnnlab.lock import LOCK_FILE, DirectoryBusy, DirLock
from rnnlab.rundir import RunDir, append_jsonl, read_jsonl
from rnnlab.search.storage import check_journal
from rnnlab.search.study import SearchOptions, open_existing, run_search

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links too, as their target) with its SHA-256: what must not change."""
    found = digest(root)
    found.update({str(p.relative_to(root)): "-> " + os.readlink(p) for p in root.rglob("*") if p.is_symlink()})
    return found


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """Run the CLI; assert the battery's one-line error holding every ``expected`` part."""
    return one_line_error(argv, capsys, expected)


@pytest.fixture(autouse=True)
def ctrl_c_as_in_a_terminal():
    """Python's own SIGINT handler in this process, and so SIGINT's default action in the
    processes it starts: a suite started in the background by a non-interactive shell (``make
    test &``) ignores SIGINT, its processes inherit that, and a Ctrl-C test would see nothing."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def cli(*argv: str) -> subprocess.Popen[bytes]:
    """A real ``rnnlab`` process (its own session, so that a signal can go to its whole group)."""
    return subprocess.Popen([sys.executable, "-m", "rnnlab.cli", *argv], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def wait_for(path_glob: tuple[Path, str], proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    root, pattern = path_glob
    deadline = time.time() + seconds
    while time.time() < deadline and not list(root.glob(pattern)):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        time.sleep(0.1)
    assert list(root.glob(pattern)), f"{pattern} did not appear in {seconds} s"


# ------------------------------------------------------------------------------ one writer per directory


def test_a_second_writer_is_refused_naming_the_pid_and_a_killed_ones_lock_is_taken_over(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config().replace("epochs = 2", "epochs = 100000"))
    run = tmp_path / "run"
    first = cli("train", str(cfg), "--out", str(run), "--quiet")
    try:
        wait_for((run, "checkpoints/last.pt"), first)
        own = {name: files(run)[name] for name in ("config.toml", ".rnnlab-run")}
        # A new run, a resume, and a tracker: every writer is refused while the first one trains.
        refused(["train", str(cfg), "--out", str(run), "--quiet"], capsys,
                f"run directory {str(run)!r} is in use by another rnnlab process (pid {first.pid}")
        refused(["train", str(cfg), "--out", str(run), "--resume", "--quiet"], capsys, f"pid {first.pid}")
        from rnnlab.tracker import Tracker

        with pytest.raises(DirectoryBusy, match=f"pid {first.pid}"):
            Tracker(run, __import__("torch").nn.Linear(2, 2))
        assert first.poll() is None
        assert {name: files(run)[name] for name in own} == own  # the refused ones wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The first run's records are its own: each epoch once, in order, none from the refused ones.
    epochs = [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")]
    assert epochs == list(range(1, len(epochs) + 1))
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == first.pid  # left by the kill: stale
    last = RunDir(run).read_checkpoint()["epoch"]
    cfg.write_text(config().replace("epochs = 2", f"epochs = {last + 1}"))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(run), "--resume", "--allow-change", "training.epochs", "--quiet"]) == 0
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == list(range(1, last + 2))
    assert (run / LOCK_FILE).read_text() == ""  # released: empty at rest


def test_two_trackers_on_one_directory_do_not_interleave(tmp_path):
    import torch

    from rnnlab.tracker import Tracker

    model = torch.nn.Linear(2, 2)
    first = Tracker(tmp_path, model)
    with pytest.raises(DirectoryBusy, match=rf"in use by another writer in this process \(pid {os.getpid()}.*Tracker.close"):
        Tracker(tmp_path, model)
    first.close()
    with Tracker(tmp_path, model) as again:
        again.step(1.0)
    assert {r["step"] for r in read_jsonl(tmp_path / "tracked.jsonl")} == {0}


def test_a_tracker_never_writes_into_a_folder_of_the_users_files(tmp_path):
    """The README's "never a user's file" for the Python API: a Tracker in the user's own loop
    refuses a directory of their files, as --out does, and leaves them as they were."""
    import torch

    from rnnlab.tracker import Tracker

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    (mine / "tracked.jsonl").write_text('{"step": 3, "note": "my experiment log"}\n')
    before = digest(mine)
    with pytest.raises(RunDirError, match=r"run_dir '.*mine': the directory holds files that are not an rnnlab run: "
                                          r"notes.txt, tracked.jsonl \(no .rnnlab-run\)"):
        Tracker(mine, torch.nn.Linear(2, 2))
    assert digest(mine) == before and sorted(p.name for p in mine.iterdir()) == ["notes.txt", "tracked.jsonl"]
    with Tracker(tmp_path / "new", torch.nn.Linear(2, 2)) as tracker:  # a new directory becomes a run
        tracker.step(1.0)
    assert (tmp_path / "new" / ".rnnlab-run").exists()


def test_diagnose_never_writes_its_findings_into_a_folder_of_the_users_files(tmp_path):
    import torch

    from rnnlab.doctor import diagnose

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "health.json").write_text('{"mine": 1}\n')
    before = digest(mine)
    net, batch = torch.nn.Linear(4, 3), (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    with pytest.raises(RunDirError, match=r"run_dir '.*mine': the directory holds files that are not an rnnlab run"):
        diagnose(net, batch, torch.nn.CrossEntropyLoss(), steps=0, run_dir=mine)
    assert digest(mine) == before
    diagnose(net, batch, torch.nn.CrossEntropyLoss(), steps=0, run_dir=tmp_path / "new")
    assert (tmp_path / "new" / "health.json").exists() and (tmp_path / "new" / ".rnnlab-run").exists()


def test_a_lock_is_one_per_holder_and_emptied_on_release(tmp_path):
    lock = DirLock(tmp_path, "study directory").acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    with pytest.raises(DirectoryBusy, match="study directory .* is in use"):
        DirLock(tmp_path, "study directory").acquire()
    lock.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""
    waited = []
    with DirLock(tmp_path, "study directory").acquire(wait=True, on_wait=waited.append):
        assert not waited  # free: no wait


# ------------------------------------------------------------------------------ a user's folder, a name that is a path


def test_train_out_dot_never_replaces_the_users_files(tmp_path, capsys, monkeypatch):
    (tmp_path / "config.toml").write_text(config())
    (tmp_path / "report.html").write_text("<p>my own report</p>")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    refused(["train", "config.toml", "--out", ".", "--quiet"], capsys,
            "--out '.'", "holds files that are not an rnnlab run", "config.toml", "report.html")
    refused(["train", "config.toml", "--out", ".", "--resume", "--quiet"], capsys, "not an rnnlab run")
    # output.dir naming the folder: the message names output.dir
    (tmp_path / "elsewhere.toml").write_text(config() + '[output]\ndir = "."\n')
    before["elsewhere.toml"] = files(tmp_path)["elsewhere.toml"]
    refused(["train", "elsewhere.toml", "--quiet"], capsys, "output.dir '.'", "not an rnnlab run")
    assert files(tmp_path) == before  # nothing changed, nothing added (no lock file either)


@pytest.mark.parametrize("name", ["..", "../../x", "/tmp/abs", "a/b", ".", ""])
def test_a_name_that_is_a_path_is_refused(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(config().replace('name = "base"', f"name = {json.dumps(name)}"))
    before = files(tmp_path)
    refused(["train", "c.toml", "--quiet"], capsys, "'name': expected a name, not a path", repr(name))
    assert files(tmp_path) == before
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()


def test_a_name_is_a_label_when_output_dir_is_set(tmp_path, capsys):
    # (tracking off: what is checked is where the run went and the name it kept, not the tracker's
    # records, and the report at the end is drawn without their figures)
    (tmp_path / "c.toml").write_text(config().replace('name = "base"', 'name = "a/b"')
                                     .replace("grads_every = 2", "enabled = false")
                                     + f'[output]\ndir = "{tmp_path / "run"}"\n')
    assert main(["train", str(tmp_path / "c.toml"), "--quiet"]) == 0
    assert RunDir(tmp_path / "run").read_config().name == "a/b"


# ------------------------------------------------------------------------------ links


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    # (tracking off: its reader refuses the linked resumes.jsonl, whatever the tracker recorded)
    (root / "c.toml").write_text(config().replace("grads_every = 2", "enabled = false"))
    assert main(["train", str(root / "c.toml"), "--out", str(root / "run"), "--quiet"]) == 0
    return root / "run"


def test_a_linked_resumes_file_is_refused_and_its_target_untouched(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    target = tmp_path / "outside.jsonl"
    target.write_text('{"after_epoch": 0, "changed": {}}\n')
    (run / "resumes.jsonl").symlink_to(target)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config().replace("grads_every = 2", "enabled = false").replace("epochs = 2", "epochs = 3"))
    before = files(tmp_path)
    refused(["train", str(cfg), "--out", str(run), "--resume", "--allow-change", "training.epochs", "--quiet"], capsys,
            "resumes.jsonl: expected a regular file, got a symbolic link", str(target))
    assert files(tmp_path) == before


@pytest.mark.parametrize("name", ["metrics.jsonl", "tracked.jsonl", "config.toml", "checkpoints"])
def test_a_dangling_link_in_a_run_directory_is_refused_and_never_created(tmp_path, capsys, name):
    run = tmp_path / "run"
    RunDir.for_writing(run, new=True).release()  # an rnnlab run directory, empty so far
    target = tmp_path / "outside" / name
    (run / name).symlink_to(target)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config())
    before = files(tmp_path)
    refused(["train", str(cfg), "--out", str(run), "--quiet"], capsys,
            f"{name}: expected {'a directory' if name == 'checkpoints' else 'a regular file'}, got a symbolic link")
    assert files(tmp_path) == before and not target.parent.exists()


def test_no_writer_follows_a_link(tmp_path):
    from rnnlab.rundir import atomic_write_text, truncate_jsonl

    link = tmp_path / "metrics.jsonl"
    link.symlink_to(tmp_path / "elsewhere.jsonl")
    for write in (lambda: append_jsonl(link, {"epoch": 1}), lambda: truncate_jsonl(link, lambda r: True),
                  lambda: atomic_write_text(link, "x")):
        with pytest.raises(RunDirError, match="got a symbolic link"):
            write()
    assert link.is_symlink() and not (tmp_path / "elsewhere.jsonl").exists()


# ------------------------------------------------------------------------------ the search's study directory

SEARCH = """
name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = {epochs}
batch_size = 8
lr = 0.01
weight_decay = 1e-3
threads = 1
[tracking]
weights_every = 2
grads_every = 0
health = false
grad_through_time = false
[search]
folds = 2
trials = 1
startup_trials = 2
pruner = "none"
[search.space]
"model.recurrent_dropout" = {{ low = 0.0, high = 0.5 }}
"""


def search_config(tmp_path: Path, epochs: int = 2) -> Path:
    """A tiny search whose config lies inside its space, so trial 0 is the config itself. One
    key: the study page draws one slice panel, not one per key of the default space."""
    p = tmp_path / "s.toml"
    p.write_text(SEARCH.format(epochs=epochs))
    return p


@pytest.fixture(scope="module")
def one_trial_study(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("study")
    cfg = search_config(root)
    run_search(SearchOptions(config=str(cfg), out=str(root / "s"), final=False, reports="none"), log=None)
    return cfg, root / "s"


def copy_study(study: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    cfg, out = study
    shutil.copytree(out, tmp_path / "s", symlinks=True)
    return cfg, tmp_path / "s"


def test_a_cut_journal_line_is_repaired_and_the_search_reaches_n_trials(one_trial_study, tmp_path, capsys):
    cfg, out = copy_study(one_trial_study, tmp_path)
    journal = out / "journal.log"
    with open(journal, "ab") as f:
        f.write(b'{"op_code":8,"worker_id":"x","trial_id":0,"user_attr":{"cut')  # a kill mid-append
    original = journal.read_bytes()
    capsys.readouterr()
    assert main(["search", str(cfg), "--out", str(out), "--trials", "2", "--no-final", "--reports", "none"]) == 0
    said = capsys.readouterr().out
    assert "journal.log: its last line was cut off" in said
    backups = list(out.glob("journal.log.cut-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == original
    trials = open_existing(out).get_trials()
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 2
    assert main(["study", str(out)]) == 0  # readable from then on


@pytest.mark.parametrize("damage, expected", [
    (lambda lines: [lines[0], b'{"op_code": 4, "worker_id"', *lines[1:]], ("journal.log line 2", "not valid JSON")),
    (lambda lines: [lines[0], b'{"op_code": 99, "worker_id": "x"}', *lines[1:]],
     ("journal.log line 2", "unknown operation (op_code 99")),
    (lambda lines: [lines[0], b"[1, 2]", *lines[1:]], ("journal.log line 2", "expected a JSON object")),
])
def test_a_damaged_journal_line_is_named_and_nothing_changes(one_trial_study, tmp_path, capsys, damage, expected):
    cfg, out = copy_study(one_trial_study, tmp_path)
    journal = out / "journal.log"
    lines = journal.read_bytes().split(b"\n")[:-1]
    journal.write_bytes(b"\n".join(damage(lines)) + b"\n")
    before = files(out)
    refused(["search", str(cfg), "--out", str(out), "--trials", "2", "--no-final"], capsys, *expected)
    refused(["study", str(out)], capsys, *expected)
    assert files(out) == before


def test_a_read_leaves_a_cut_last_line_to_the_next_search(tmp_path):
    journal = tmp_path / "journal.log"
    journal.write_bytes(b'{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\n{"op_')
    before = journal.read_bytes()
    check_journal(journal)  # no repair asked: the reader skips it, as Optuna does
    assert journal.read_bytes() == before
    with pytest.raises(StorageError, match="line 1: unknown operation"):
        journal.write_bytes(b'{"op_code": "0"}\n')
        check_journal(journal)


def test_another_study_into_a_study_directory_is_refused(one_trial_study, tmp_path, capsys):
    cfg, out = copy_study(one_trial_study, tmp_path)
    before = files(out)
    refused(["search", str(cfg), "--out", str(out), "--study", "other", "--no-final"], capsys,
            f"--out {str(out)!r} holds the study 'tiny', not 'other'", "--study tiny")
    assert files(out) == before
    # A directory from before markers: its study.json names the study.
    (out / ".rnnlab-study").unlink()
    before = files(out)
    refused(["search", str(cfg), "--out", str(out), "--study", "other", "--no-final"], capsys, "holds the study 'tiny'")
    assert files(out) == before


@pytest.mark.parametrize("journal", ["empty", "missing"])
def test_a_lost_journal_next_to_trials_does_not_start_a_study_over_them(one_trial_study, tmp_path, capsys, journal):
    cfg, out = copy_study(one_trial_study, tmp_path)
    if journal == "empty":
        (out / "journal.log").write_bytes(b"")
    else:
        (out / "journal.log").unlink()
    before = files(out)
    refused(["search", str(cfg), "--out", str(out), "--no-final"], capsys,
            f"{out / 'journal.log'} records no study 'tiny'", "holds trials", "would overwrite them")
    assert files(out) == before


def test_search_out_dot_never_writes_into_a_users_folder(tmp_path, capsys, monkeypatch):
    cfg = search_config(tmp_path)
    (tmp_path / "best.toml").write_text("# mine")
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    refused(["search", str(cfg), "--out", ".", "--no-final"], capsys, "holds files that are not an rnnlab study",
            "best.toml")
    assert files(tmp_path) == before


# ------------------------------------------------------------------------------ stopped during trial 0


def baseline_rerun(cfg: Path, out: Path) -> None:
    """Continue the stopped study: the config itself runs again, finishes, and the report shows it."""
    study = run_search(SearchOptions(config=str(cfg), out=str(out), trials=1, final=False, reports="none"),
                       log=None).study
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs.get("interrupted") is True
    again = [t for t in trials[1:] if t.user_attrs.get("baseline")]
    assert len(again) == 1 and again[0].state == TrialState.COMPLETE
    assert again[0].params == trials[0].params
    page = (out / "study.html").read_text()
    assert "The best trial is the config itself" in page or f"The config itself (trial {again[0].number})" in page


def test_a_kill_during_the_first_trial_runs_the_config_itself_again(tmp_path):
    cfg = search_config(tmp_path, epochs=30)
    out = tmp_path / "s"
    proc = cli("search", str(cfg), "--out", str(out), "--no-final", "--quiet")
    try:
        wait_for((out, "trials/0000/fold-1/metrics.jsonl"), proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [t.state for t in open_existing(out).get_trials()] == [TrialState.RUNNING]
    baseline_rerun(cfg, out)


def test_ctrl_c_during_the_first_trial_prints_one_line_and_the_config_runs_again(tmp_path):
    cfg = search_config(tmp_path, epochs=30)
    out = tmp_path / "s"
    proc = cli("search", str(cfg), "--out", str(out), "--no-final", "--quiet", "--workers", "2")
    try:
        wait_for((out, "trials/0000/fold-1/metrics.jsonl"), proc)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err.decode().splitlines() == [
        "rnnlab search: interrupted by SIGINT; the same command continues the study (a stopped trial is recorded "
        "as interrupted; the config itself runs again if it was stopped); no study.html yet (it is drawn at the "
        f"search's end, or when continued); rnnlab study {out} lists the trials"], err.decode()
    baseline_rerun(cfg, out)


def test_a_recipe_directory_has_one_writer(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config())
    out = tmp_path / "r"
    out.mkdir()
    with DirLock(out, "recipe directory"):
        refused(["recipe", str(cfg), "--out", str(out), "--steps", "zoneout", "--no-final"], capsys,
                f"recipe directory {str(out)!r} is in use by another writer in this process (pid {os.getpid()}")
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written by the refused one
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "recipe.md").write_text("my notes")
    refused(["recipe", str(cfg), "--out", str(tmp_path / "mine"), "--no-final"], capsys,
            "holds files that are not an rnnlab recipe: recipe.md")


def test_a_kill_inside_the_markers_atomic_write_leaves_a_directory_that_is_claimed_again(tmp_path):
    # (found under load: a SIGKILL between mkstemp and the rename of .rnnlab-run's write)
    from rnnlab.errors import RunDirError
    from rnnlab.rundir import RUN, claim

    d = tmp_path / "run"
    d.mkdir()
    (d / "..rnnlab-run.k3x9.tmp").write_text("")
    lock = claim(d, RUN)
    lock.release()
    assert (d / ".rnnlab-run").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / ".notes.k3x9.tmp").write_text("")  # another program's temporary file
    with pytest.raises(RunDirError, match="not an rnnlab run"):
        claim(tmp_path / "other", RUN)


def test_a_stop_inside_a_study_write_acts_after_it_with_the_handler_it_had():
    from rnnlab.search.study import _stops_held

    done = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with _stops_held():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of a write
            for _ in range(1000):  # bytecodes enough for Python to run a pending handler
                done.append(1)
            done.append("written")
    assert done[-1] == "written" and signal.getsignal(signal.SIGINT) is before
    seen = []
    term = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with _stops_held():
            os.kill(os.getpid(), signal.SIGTERM)
            assert not seen  # held
        assert seen == [signal.SIGTERM]  # then given to the handler the process had
    finally:
        signal.signal(signal.SIGTERM, term)
