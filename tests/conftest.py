import pytest
import torch
from pg import postgres_url  # noqa: F401  (here, not in the modules: one server per session for all of them)

# The tests use small tensors, for which a second thread costs more than it gains (and the CI
# machine has two cores in all). Under pytest-xdist this runs in every worker process: each
# worker is one torch thread, the CPUs go to the workers instead.
torch.set_num_threads(1)


@pytest.hookimpl(optionalhook=True)  # (a hook of pytest-xdist: unknown when it is not installed)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` starts one worker per CPU this process may use, counted as rnnlab's runs count
    them (affinity mask, cgroup quota: a container limited to 2 CPUs on a large host gets 2),
    where xdist's own count would take every core of the host."""
    from rnnlab.threads import available_cpus

    return available_cpus()[0]


#: Files whose tests each run for several seconds (subprocesses: several workers, kills, signals, a
#: database taken down; `pytest --durations` on 2 cores lists them). They are collected first, so
#: that pytest-xdist's workers end the suite on short tests: a long one started last would leave
#: the other worker idle for its whole length.
SLOW_FILES = frozenset({
    "test_search_storage_round3.py", "test_search_disk_and_lock.py", "test_search_round2.py",
    "test_search_kills_round3.py", "test_sigterm_workers.py", "test_writes_and_what_follows.py",
    "test_search.py", "test_run_safety.py", "test_ctrl_c_round2.py", "test_stops_at_the_edges.py",
    "test_sighup.py", "test_search_postgres.py", "test_recipe.py", "test_recipe_round5.py",
    "test_lm_eval_windows.py", "test_kill_resume.py", "test_forecasting.py", "test_ensemble.py",
    "test_language_model.py", "test_task_per_step.py", "test_cli_round9.py",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of :data:`SLOW_FILES` first, each file's in its own order (a stable sort)."""
    items.sort(key=lambda item: item.path.name not in SLOW_FILES)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models, whatever a test set before (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> torch.device:
    """Every device present: the CPU always, CUDA where torch sees a GPU (select those cases with
    ``-k cuda``; benchmarks/gpu_check.sh runs them)."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here: the CUDA cases run where torch sees a GPU (benchmarks/gpu_check.sh)")
    return torch.device(request.param)
