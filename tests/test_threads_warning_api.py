"""``training.threads`` beyond the CPUs the process may use is warned of by
``rnnlab.train.train()`` called from Python, pointing at the caller's line, as ``rnnlab train`` warns of it (once); a
search's fold runs leave the warning to their command. The CPUs are the process's own, narrowed
with sched_setaffinity for the test (nothing mocked)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from test_bad_inputs import config

from rnnlab.config import parse_config
from rnnlab.search.trial import FoldPlan
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def one_cpu():
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mine)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def _oversubscribed(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if "is more than the 1 CPU this process may use" in str(w.message)]


def test_train_from_python_warns_at_the_callers_line(tmp_path: Path, one_cpu) -> None:
    cfg = parse_config(config(training="threads = 2"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg, out=tmp_path / "run", log=None, progress=False)
    warned = _oversubscribed(caught)
    assert len(warned) == 1, [str(w.message) for w in caught]
    assert str(warned[0].message).startswith("training.threads = 2 is more than the 1 CPU")
    assert Path(warned[0].filename).resolve() == Path(__file__).resolve(), warned[0].filename


def test_a_fold_run_leaves_the_warning_to_its_command(tmp_path: Path, one_cpu) -> None:
    cfg = parse_config(config(training="threads = 2"))
    fold = next(iter(FoldPlan(k=2, seed=0).folds()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg, out=tmp_path / "fold", log=None, progress=False, fold=fold)
    assert not _oversubscribed(caught), [str(w.message) for w in caught]


def test_threads_the_cpus_allow_are_not_warned_of(tmp_path: Path, one_cpu) -> None:
    cfg = parse_config(config(training="threads = 1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg, out=tmp_path / "run", log=None, progress=False)
    assert not [w for w in caught if "threads" in str(w.message)], [str(w.message) for w in caught]
