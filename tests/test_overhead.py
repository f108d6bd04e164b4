"""What a run costs besides its training (issue 28): the timing record, the checkpoint cadence
with exact resume after a kill between checkpoints or a signal, the thread policy, and the
parse cache of the bundled data."""

from __future__ import annotations

import gzip
import os
import signal
import time

import numpy as np
import pytest
import torch
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab import threads
from rnnlab.config import parse_config
from rnnlab.data import bundled
from rnnlab.errors import Interrupted
from rnnlab.rundir import RunDir, read_jsonl
from rnnlab.train import load_checkpoint
from rnnlab.train.timing import PHASES

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny(epochs: int, training: str = "") -> object:
    return parse_config(tiny_toml(model="recurrent_dropout = 0.2",
                                  training=f"epochs = {epochs}\nweight_decay = 0.01\n{training}",
                                  after="[tracking]\nweights_every = 2\ngrads_every = 3\nhealth = false"))


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q), n


# ------------------------------------------------------------------------------ timing.json


def test_timing_record_adds_up(tmp_path):
    started = time.perf_counter()
    result = run(tiny(epochs=5), tmp_path)
    wall = time.perf_counter() - started
    timing = RunDir(tmp_path).read_timing()
    assert timing is not None and set(timing["seconds"]) == set(PHASES)
    seconds = timing["seconds"]
    assert all(v >= 0 for v in seconds.values())
    assert seconds["training"] > 0 and seconds["data"] > 0 and seconds["evaluation"] > 0
    assert seconds["report"] == 0  # train() draws no report; the command adds it
    # The phases and the rest make up the session, which lies inside this call.
    assert sum(seconds.values()) + timing["other"] == pytest.approx(timing["total"], abs=2e-3)
    assert timing["total"] <= wall
    assert timing["steps"] == result.final["step"] == 20
    assert timing["threads"]["threads"] == 1 and timing["threads"]["why"]
    assert timing["checkpoints_written"] == 2  # after the first epoch and after the last


def test_cli_adds_the_report_to_the_timing(tmp_path):
    from rnnlab.cli import main

    # (nothing tracked: the report is drawn all the same, and its figures are not what is timed here)
    (tmp_path / "c.toml").write_text(tiny_toml(training="epochs = 2\nthreads = 1", after="[tracking]\nenabled = false"))
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    timing = RunDir(tmp_path / "r").read_timing()
    assert timing["seconds"]["report"] > 0 and (tmp_path / "r" / "report.html").exists()
    assert timing["threads"] == {"threads": 1, "why": "training.threads", "wait_policy": threads.wait_policy()}


# ------------------------------------------------------------------------------ checkpoint cadence


def test_checkpoint_every_epoch_or_by_time(tmp_path):
    every = run(tiny(epochs=4, training="checkpoint_every = 0"), tmp_path / "every")
    assert every.timing.info["checkpoints_written"] == 4
    sparse = run(tiny(epochs=4), tmp_path / "sparse")
    assert sparse.timing.info["checkpoints_written"] == 2
    assert load_checkpoint(tmp_path / "sparse/checkpoints/last.pt")["epoch"] == 4
    same_weights(every.model, sparse.model)  # the cadence never changes a result


class Killed(Exception):
    """Stands for SIGKILL: nothing after it runs (no checkpoint is written on the way out)."""


@pytest.mark.parametrize("patience", [0, 50])
def test_kill_between_checkpoints_then_resume_is_exact(tmp_path, patience):
    training = f"early_stopping = {{ patience = {patience} }}\ncheckpoint_every = 3600"
    cfg = tiny(epochs=5, training=training)
    whole = run(cfg, tmp_path / "whole")

    def kill_at_epoch_4(record):
        if record["epoch"] == 4:
            raise Killed
        return False

    with pytest.raises(Killed):
        run(cfg, tmp_path / "split", on_epoch=kill_at_epoch_4)
    # Epochs 1-4 recorded, the checkpoint still the first epoch's (the next was due at the end).
    assert [r["epoch"] for r in read_jsonl(tmp_path / "split/metrics.jsonl")] == [1, 2, 3, 4]
    assert load_checkpoint(tmp_path / "split/checkpoints/last.pt")["epoch"] == 1
    resumed = run(cfg, tmp_path / "split", resume=True)
    assert without_time(read_jsonl(tmp_path / "split/metrics.jsonl")) == \
        without_time(read_jsonl(tmp_path / "whole/metrics.jsonl"))
    assert read_jsonl(tmp_path / "split/tracked.jsonl") == read_jsonl(tmp_path / "whole/tracked.jsonl")
    same_weights(whole.model, resumed.model)
    assert resumed.test == whole.test and without_time([resumed.best]) == without_time([whole.best])
    timing = RunDir(tmp_path / "split").read_timing()
    # the killed session's record as of its last checkpoint (epoch 1's), kept by the resume
    assert [e["ended"] for e in timing["earlier_sessions"]] == [
        "killed or still running: recorded at the checkpoint after epoch 1"]
    assert timing["steps"] == 4 * 4  # epochs 2-5 of 4 steps, trained again after the resume


def test_sigterm_writes_the_last_finished_epoch_then_resume_is_exact(tmp_path):
    cfg = tiny(epochs=5, training="checkpoint_every = 3600")
    whole = run(cfg, tmp_path / "whole")

    def term_at_epoch_3(record):
        if record["epoch"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
            # the handler runs here (at once: the signal is this thread's own), and holds the stop
            # until epoch 3's state is taken; the sleep only has to outlast the signal's delivery
            time.sleep(0.05)
        return False

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted, match="SIGTERM during epoch 4; the checkpoint after epoch 3"):
        run(cfg, tmp_path / "split", on_epoch=term_at_epoch_3)
    assert signal.getsignal(signal.SIGTERM) is before  # the run's handler is gone
    assert load_checkpoint(tmp_path / "split/checkpoints/last.pt")["epoch"] == 3  # (the last recorded epoch's)
    assert "interrupted" in RunDir(tmp_path / "split").read_timing()
    resumed = run(cfg, tmp_path / "split", resume=True)
    assert without_time(read_jsonl(tmp_path / "split/metrics.jsonl")) == \
        without_time(read_jsonl(tmp_path / "whole/metrics.jsonl"))
    same_weights(whole.model, resumed.model)
    timing = RunDir(tmp_path / "split").read_timing()
    assert len(timing["earlier_sessions"]) == 1
    assert timing["threads"]["why"] == "the run's choice before it was resumed"


def test_a_stop_before_the_first_checkpoint_does_not_advise_resume(tmp_path, monkeypatch):
    from rnnlab.train import trainer

    set_lr = trainer.set_lr

    def term_at_the_first_step(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises here
        return set_lr(*args, **kwargs)

    monkeypatch.setattr(trainer, "set_lr", term_at_the_first_step)
    with pytest.raises(Interrupted, match="during epoch 1; no checkpoint yet: the same command without "
                                          "--resume starts the run again") as e:
        run(tiny(epochs=2), tmp_path / "r")
    assert "continues" not in str(e.value) and not (tmp_path / "r/checkpoints/last.pt").exists()


def test_a_stop_in_the_final_run_of_a_search_or_recipe_says_to_run_the_command_again(tmp_path, monkeypatch):
    from rnnlab.train import final, trainer

    def stopped(*args, **kwargs):
        raise Interrupted.by(int(signal.SIGTERM), "the checkpoint after epoch 1: --resume continues from it")

    monkeypatch.setattr(trainer, "train", stopped)
    with pytest.raises(Interrupted, match=r"SIGTERM; the same command trains the final run in .* again") as e:
        final.retrain_and_test(tiny(epochs=2), tmp_path / "final")
    assert "--resume" not in str(e.value)


# ------------------------------------------------------------------------------ threads


@pytest.fixture
def no_quota(monkeypatch):
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root="/sys/fs/cgroup": None)
    # (nor the bound of the environment's threads: the tests run under OMP_NUM_THREADS=1 or a module's one thread)
    monkeypatch.setattr(threads, "thread_limit", lambda: None)


def test_available_cpus_follow_the_affinity_and_the_quota(monkeypatch, no_quota):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert threads.available_cpus() == (3, "affinity")
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda root="/sys/fs/cgroup": 1.5)
    assert threads.available_cpus() == (2, "affinity, cgroup quota 1.5")


def test_cgroup_v1_quota(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(tmp_path) == 3.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpu_limit(tmp_path) is None


def test_thread_policy(monkeypatch, no_quota):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert threads.choose_threads(3).threads == 3
    passive = threads.choose_threads(None, policy="passive")
    assert passive.threads == 1 and passive.candidates == (1, 8) and "8 CPUs" in passive.why
    assert threads.choose_threads(None, share=4, policy="passive").candidates == (1, 2)
    split = threads.choose_threads(None, share=8, policy="passive")
    assert split.threads == 1 and split.candidates == () and "shared by 8 processes" in split.why
    spinning = threads.choose_threads(None, policy="active")
    assert spinning.threads == 1 and spinning.candidates == () and "spin-waits" in spinning.why


def test_probe_keeps_the_faster(one_thread):
    choice = threads.ThreadChoice(1, "test", candidates=(1, 2))

    def step(slow_on: int) -> None:
        time.sleep(0.03 if torch.get_num_threads() == slow_on else 0.005)

    assert threads.probe(choice, lambda: step(1), total_steps=10**6).threads == 2
    assert torch.get_num_threads() == 2
    assert threads.probe(choice, lambda: step(2), total_steps=10**6).threads == 1
    short = threads.probe(choice, lambda: step(1), total_steps=10)  # 0.3 s of training: not worth it
    assert short.threads == 1 and "short run" in short.why
    torch.set_num_threads(1)


def test_train_restores_the_thread_count(tmp_path):
    torch.set_num_threads(2)
    try:
        result = run(tiny(epochs=1, training="threads = 1"), tmp_path)
        assert result.timing.info["threads"]["threads"] == 1 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


# ------------------------------------------------------------------------------ the data cache


def test_ts_cache_returns_equal_arrays_and_follows_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundled.parsed_ts.cache_clear()
    source = tmp_path / "UnitTest_TRAIN.ts"
    source.write_bytes(gzip.decompress((bundled.UCR_DIR / "UnitTest_TRAIN.ts.gz").read_bytes()))
    first = bundled._load_ts(source)
    assert len(list((tmp_path / "cache" / "rnnlab" / "data").glob("ts-*.npz"))) == 1

    def no_parse(path):
        raise AssertionError("parsed again")

    monkeypatch.setattr(bundled, "_parse_ts", no_parse)
    bundled.parsed_ts.cache_clear()  # a new process: read from the user cache, not parsed
    again = bundled._load_ts(source)
    for a, b in zip(first, again, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    again[0][0, 0, 0] = 1e6  # the caller's own arrays: the cache is not changed through them
    assert bundled._load_ts(source)[0][0, 0, 0] == first[0][0, 0, 0]

    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lines = source.read_text().splitlines()
    data = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
    values, label = lines[data].rsplit(":", 1)
    lines[data] = "7.5," + values.split(",", 1)[1] + ":" + label  # the first value of the first series
    source.write_text("\n".join(lines) + "\n")
    changed = bundled._load_ts(source)
    assert changed[0][0, 0, 0] == 7.5 and np.array_equal(changed[0][1:], first[0][1:])
    assert len(list((tmp_path / "cache" / "rnnlab" / "data").glob("ts-*.npz"))) == 2
    bundled.parsed_ts.cache_clear()


def test_a_damaged_cache_entry_is_parsed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundled.parsed_ts.cache_clear()
    source = bundled.UCR_DIR / "UnitTest_TEST.ts.gz"
    first = bundled._load_ts(source)
    (entry,) = (tmp_path / "cache" / "rnnlab" / "data").glob("ts-*.npz")
    entry.write_bytes(b"not a zip")
    bundled.parsed_ts.cache_clear()
    assert np.array_equal(bundled._load_ts(source)[0], first[0])
    bundled.parsed_ts.cache_clear()


def test_the_probe_leaves_the_run_as_it_was(tmp_path, monkeypatch, no_quota):
    # The policy measures 1 and 2 threads on a twin of the model: the run itself (its weights,
    # its random streams) is the run that the chosen thread count gives without measuring.
    monkeypatch.setattr(threads, "wait_policy", lambda: "passive")
    monkeypatch.setattr(threads, "available_cpus", lambda: (2, "affinity"))
    monkeypatch.setattr(threads, "PROBE_MIN_SECONDS", 0.0)
    probed = run(tiny(epochs=2), tmp_path / "probed")
    chosen = probed.timing.info["threads"]
    assert chosen["threads"] in (1, 2) and "measured a step on 1:" in chosen["why"]
    fixed = run(tiny(epochs=2, training=f"threads = {chosen['threads']}"), tmp_path / "fixed")
    assert without_time(read_jsonl(tmp_path / "probed/metrics.jsonl")) == \
        without_time(read_jsonl(tmp_path / "fixed/metrics.jsonl"))
    same_weights(probed.model, fixed.model)
    assert load_checkpoint(tmp_path / "probed/checkpoints/last.pt")["threads"] == chosen["threads"]


def test_train_profile_flag(tmp_path, capsys):
    import pstats

    from rnnlab.cli import main

    # (nothing tracked: a smaller report, drawn under the profiler too)
    (tmp_path / "c.toml").write_text(tiny_toml(training="epochs = 1\nthreads = 1", after="[tracking]\nenabled = false"))
    prof = tmp_path / "train.prof"
    assert main(["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--quiet", "--profile", str(prof)]) == 0
    assert f"profile: {prof}" in capsys.readouterr().out
    assert any(func[2] == "_train" for func in pstats.Stats(str(prof)).stats)  # the trainer was profiled
