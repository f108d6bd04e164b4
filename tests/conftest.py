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
