import pytest
import torch

# The tests use small tensors, for which a second thread costs more than it gains (and the CI
# machine has two cores in all).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
