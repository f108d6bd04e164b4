"""The thread count the environment gives torch (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, a
Python caller's ``torch.set_num_threads``) bounds the threads rnnlab chooses when
``training.threads`` is unset; a config's ``training.threads`` overrides it and says so. The
environment and torch's thread count are the real ones, set for each test and restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_run import tiny_toml

from rnnlab import threads

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def torch_threads():
    """Set torch's intra-op thread count for one test (restored after)."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture
def no_thread_env(monkeypatch):
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_torch_reads_the_variables_as_rnnlab_does():
    # (the later of the two wins when valid; a leading number counts, as C++'s std::stoi reads it)
    assert threads.env_thread_count({"OMP_NUM_THREADS": "3"}) == (3, "OMP_NUM_THREADS=3")
    assert threads.env_thread_count({"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "2"}) == (2, "MKL_NUM_THREADS=2")
    assert threads.env_thread_count({"OMP_NUM_THREADS": "4,2"}) == (4, "OMP_NUM_THREADS=4,2")
    assert threads.env_thread_count({"OMP_NUM_THREADS": "0"}) is None
    assert threads.env_thread_count({"OMP_NUM_THREADS": "", "MKL_NUM_THREADS": "many"}) is None


def test_omp_num_threads_bounds_the_automatic_choice(no_thread_env, torch_threads):
    no_thread_env.setenv("OMP_NUM_THREADS", "1")
    torch_threads(1)  # (what torch itself takes from the variable when it starts)
    one = threads.choose_threads(None, cpus=(8, "affinity"), policy="passive")
    assert (one.threads, one.candidates, one.describe()) == (1, (), "1 thread (OMP_NUM_THREADS=1)")

    no_thread_env.setenv("OMP_NUM_THREADS", "2")
    torch_threads(2)
    two = threads.choose_threads(None, cpus=(8, "affinity"), policy="passive")
    assert two.candidates == (1, 2) and two.why.startswith("OMP_NUM_THREADS=2, of 8 CPUs")
    # a search's or recipe's workers split the CPUs as before when the bound is above their share
    split = threads.choose_threads(None, cpus=(8, "affinity"), share=4, policy="passive")
    assert split.candidates == (1, 2) and "shared by 4 processes" in split.why
    assert threads.choose_threads(None, cpus=(8, "affinity"), share=8, policy="passive").threads == 1


def test_a_python_callers_set_num_threads_is_the_bound(no_thread_env, torch_threads):
    torch_threads(1)
    choice = threads.choose_threads(None, cpus=(4, "affinity"), policy="passive")
    assert choice.describe() == "1 thread (torch.get_num_threads() = 1)" and choice.candidates == ()
    # set over the variable: torch uses the call, and so does rnnlab
    no_thread_env.setenv("OMP_NUM_THREADS", "1")
    torch_threads(2)
    over = threads.choose_threads(None, cpus=(4, "affinity"), policy="passive")
    assert over.candidates == (1, 2) and over.why.startswith("torch.get_num_threads() = 2")


def test_training_threads_overrides_the_environment_and_says_so(no_thread_env, torch_threads):
    no_thread_env.setenv("OMP_NUM_THREADS", "1")
    torch_threads(1)
    choice = threads.choose_threads(2, cpus=(8, "affinity"))
    assert choice.threads == 2
    assert choice.describe() == "2 threads (training.threads, which overrides OMP_NUM_THREADS=1)"
    # (the same count as the environment's overrides nothing)
    assert threads.choose_threads(1, cpus=(8, "affinity")).describe() == "1 thread (training.threads)"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the bound shows only where 2 CPUs are usable")
@pytest.mark.parametrize("config_threads", [None, 2])
def test_rnnlab_train_with_omp_num_threads_1(tmp_path, config_threads):
    # the user's command: OMP_NUM_THREADS=1 rnnlab train a.toml
    cfg = tmp_path / "a.toml"
    # (no health check or gradients through time: the report they add is no part of the threads)
    cfg.write_text(tiny_toml(training="epochs = 1" + (f"\nthreads = {config_threads}" if config_threads else ""),
                             after="[tracking]\nhealth = false\ngrad_through_time = false"))
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "rnnlab", "train", str(cfg), "--out", str(tmp_path / "run")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("threads:"))
    timing = json.loads((tmp_path / "run" / "timing.json").read_text())
    if config_threads is None:
        assert line == "threads: 1 thread (OMP_NUM_THREADS=1)"
        assert timing["threads"]["threads"] == 1 and timing["threads"]["why"] == "OMP_NUM_THREADS=1"
    else:
        assert line == "threads: 2 threads (training.threads, which overrides OMP_NUM_THREADS=1)"
        assert timing["threads"]["threads"] == 2
