"""Round 9 of the command line (issue u126): a device the machine lacks refused by search and
recipe before anything is written, naming --device when the flag gave it; any cuda:N index is a
device form; training.threads beyond the CPUs (times a search's or recipe's workers) warned
about; the --profile file checked before training; rnnlab init's errors true to the case; the
recipe's note on workers sharing cores; the TensorBoard export's final weights (all of them, at
the run's last step). A missing CUDA is this machine's truth: nothing is mocked."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import tiny_run
import torch
from test_bad_inputs import config, one_line_error

import rnnlab
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.device import check_device
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
SRC = Path(rnnlab.__file__).resolve().parents[1]  # (the rnnlab these tests import, in the subprocesses too)
#: a CUDA device this machine does not have: any on a machine without CUDA, else one past the last
ABSENT = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
TWO_FOLDS = '\n[search]\nfolds = 2\n'


def untracked(text: str) -> str:
    """``text`` (a config of test_bad_inputs) with tracking off: for the runs of a subprocess whose
    lines are all that is checked (the report it draws at the end is then quick to draw)."""
    return text.replace("grads_every = 2", "enabled = false")


def _rnnlab(args: list[str], cwd: Path, cpus: int) -> subprocess.CompletedProcess[str]:
    """``rnnlab ARGS`` in a process that may use only the first ``cpus`` CPUs of this one's."""
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < cpus:
        pytest.skip(f"needs {cpus} CPUs")
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rnnlab", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, preexec_fn=lambda: os.sched_setaffinity(0, mine[:cpus]))


# ------------------------------------------------------------------------------ 1. devices, up front


@pytest.mark.parametrize("command", ["search", "recipe"])
@pytest.mark.parametrize("given_by", ["--device", "training.device"])
def test_search_and_recipe_refuse_an_absent_gpu_before_writing_anything(command, given_by, tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config(training="" if given_by == "--device" else f'device = "{ABSENT}"') + TWO_FOLDS)
    argv = [command, str(cfg), "--out", str(tmp_path / "out")] + (["--trials", "4"] if command == "search" else [])
    argv += ["--device", ABSENT] if given_by == "--device" else []
    said = "--device" if given_by == "--device" else f"{cfg}: 'training.device'"
    line = one_line_error(argv, capsys, (f"{said}: '{ABSENT}' asks for",), kept=tmp_path, new_files=False)
    assert "trial" not in line and "baseline" not in line  # (refused up front, not after runs failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # no study or recipe directory


def test_doctor_refuses_an_absent_gpu_before_saying_anything_else(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(config() + "\n[adapt]\nshape = true\n")  # (its shape line came first)
    capsys.readouterr()
    assert main(["doctor", str(cfg), "--device", ABSENT]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"rnnlab doctor: error: --device: '{ABSENT}' asks for"), (out, err)


@pytest.mark.parametrize("index", ["99999", "123456789012345678901234567890"])
def test_any_cuda_index_is_a_device_form_and_an_absent_one_says_so(index, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert check_device(f"cuda:{index}") == f"cuda:{index}"
    cfg = tmp_path / "c.toml"
    cfg.write_text(config(training=f'device = "cuda:{index}"'))
    line = one_line_error(["train", str(cfg)], capsys, (f"{cfg}: 'training.device': 'cuda:{index}' asks for",),
                          kept=tmp_path, new_files=False)
    assert "expected" not in line  # (not the form's error, which named cuda:N as the form it refused)


# ------------------------------------------------------------------------------ 2 and 6. threads and workers


def test_threads_beyond_the_cpus_are_warned_about_in_one_line(tmp_path):
    # (one epoch: what is checked is the warning, given before training, and that the run finishes)
    (tmp_path / "c.toml").write_text(untracked(config(training="threads = 2")).replace("epochs = 2", "epochs = 1"))
    done = _rnnlab(["train", "c.toml", "--out", "run", "--quiet"], tmp_path, cpus=1)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith(
        "rnnlab train: warning: training.threads = 2 is more than the 1 CPU this process may use"), done.stderr
    assert "set it to 1" in warned[0]


def test_threads_per_worker_count_times_the_workers():
    from rnnlab.threads import oversubscribed

    assert oversubscribed(2, workers=1, cpus=(2, "affinity")) is None
    both = oversubscribed(2, workers=2, cpus=(2, "affinity"))
    assert both is not None and both.startswith("training.threads = 2 with --workers 2 is 4 threads on the 2 CPUs")
    assert oversubscribed(1, workers=4, cpus=(2, "affinity")) is None  # (one each: the workers' own note says it)
    assert oversubscribed(None, workers=4, cpus=(2, "affinity")) is None  # (unset: rnnlab chooses)


def test_a_recipe_says_its_workers_share_cores_and_warns_of_threads_times_workers(tmp_path):
    # (one epoch: what is checked is the note and the warning, not the runs)
    (tmp_path / "c.toml").write_text(untracked(config(training="threads = 2")).replace("epochs = 2", "epochs = 1")
                                     + TWO_FOLDS)
    done = _rnnlab(["recipe", "c.toml", "--seeds", "1", "--steps", "zoneout", "--workers", "2", "--no-final",
                    "--out", "rec"], tmp_path, cpus=1)
    assert done.returncode == 0, done.stderr
    assert "note: --workers 2 on 1 core: the workers share it" in done.stdout.splitlines(), done.stdout
    warned = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith(
        "rnnlab recipe: warning: training.threads = 2 with --workers 2 is 4 threads on the 1 CPU"), done.stderr


# ------------------------------------------------------------------------------ 3. --profile


@pytest.mark.parametrize(("where", "expected"), [
    ("nowhere/p.out", "--profile: the directory {tmp}/nowhere does not exist"),
    ("adir", "--profile: expected a file to write the profile to, got the directory {tmp}/adir"),
    ("c.toml/p.out", "--profile: {tmp}/c.toml is not a directory"),
])
def test_the_profile_file_is_checked_before_training(where, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "c.toml").write_text(config())
    one_line_error(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet",
                    "--profile", str(tmp_path / where)], capsys, (expected.format(tmp=tmp_path),),
                   kept=tmp_path, new_files=False)
    assert not (tmp_path / "run").exists()  # (not trained first, then failed)


# ------------------------------------------------------------------------------ 4. rnnlab init


INIT_CASES = [
    ("dot", ["."], ("path: expected a file to write the config to, got the directory .", "e.g. rnnlab.toml")),
    ("dot-force", [".", "--force"], ("got the directory .", "--force overwrites a file, never a directory")),
    ("dir-force", ["adir", "--force"], ("got the directory adir", "--force overwrites a file, never a directory",
                                        "e.g. adir/rnnlab.toml")),
    ("file-as-dir", ["c.toml/x.toml"], ("path: c.toml is not a directory, so c.toml/x.toml cannot be written",)),
    ("file-as-dir-deeper", ["c.toml/a/x.toml", "--force"], ("path: c.toml is not a directory",)),
    ("pipe-force", ["pipe", "--force"], ("got pipe, which is not a regular file", "never replaced")),
]


@pytest.mark.parametrize(("case", "argv", "expected"), INIT_CASES, ids=[c[0] for c in INIT_CASES])
def test_init_says_what_is_true(case, argv, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "c.toml").write_text("mine\n")
    os.mkfifo(tmp_path / "pipe")
    line = one_line_error(["init", *argv], capsys, expected, kept=tmp_path, new_files=False)
    assert "already exists" not in line and "busy" not in line and "file exists" not in line
    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)  # (not replaced by a plain file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "c.toml", "pipe"]


def test_init_still_refuses_an_existing_file_without_force_and_makes_missing_folders(tmp_path, capsys,
                                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text("mine\n")
    one_line_error(["init", "c.toml"], capsys, ("c.toml already exists; pass --force to overwrite it",))
    assert main(["init", "new/sub/x.toml"]) == 0 and (tmp_path / "new/sub/x.toml").is_file()


# ------------------------------------------------------------------------------ 7. TensorBoard's final weights


def test_tensorboard_final_weights_are_every_parameter_at_the_runs_last_step(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rnnlab.export.tensorboard import last_model

    cfg = tmp_path / "c.toml"  # (tracked every 3 steps: the last tracked step is before the run's last)
    cfg.write_text(config(model='[[model.frontend.blocks]]\nchannels = 4\nkernel_size = 3')
                   .replace("grads_every = 2", "grads_every = 0\nweights_every = 3"))
    # (trained through the API: the run `rnnlab train` writes, less its report, which the export never reads)
    tiny_run.run(load_config(cfg), tmp_path / "run")
    assert main(["tensorboard", str(tmp_path / "run")]) == 0
    run = RunDir(tmp_path / "run")
    last_step = run.read_metrics()[-1]["step"]
    tracked_last = max(r["step"] for r in run.read_tracked())
    assert tracked_last < last_step  # (else the test could not tell the two apart)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"histograms": 0})
    events.Reload()
    weights = [t for t in events.Tags()["histograms"] if t.startswith("weights/")]
    assert {e.step for t in weights for e in events.Histograms(t)} == {last_step}
    model = last_model(run)
    assert sum(events.Histograms(t)[0].histogram_value.num for t in weights) == sum(
        p.numel() for p in model.parameters())  # every weight, the recurrent layer's split per gate
    assert {"weights/head.0.weight", "weights/frontend.blocks.0.conv.weight"} <= set(weights)
    assert any(t.startswith("weights/rnn l0/recurrent/") for t in weights)
