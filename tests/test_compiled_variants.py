"""A compiled step function holds one graph per variant (batch and hidden size, dtype, the
regularizers on): past torch's recompile limit of 8 (a search's trials, many layers in one
process) the new variant is compiled under a higher limit, not an error, nor a quiet fallback
to the Python steps, nor torch's warning about it."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from rnnlab.layers import compiled_step

pytestmark = pytest.mark.skipif(bool(compiled_step.why_not(torch.device("cpu"))), reason="no torch.compile here")


def tanh_step(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ w) * 2


def test_more_variants_than_torchs_recompile_limit_compile_each_once(caplog):
    torch._dynamo.reset()
    step = compiled_step.compiled(tanh_step, torch.device("cpu"))
    sizes = range(2, 2 + torch._dynamo.config.recompile_limit + 4)  # 12 batch sizes, 12 graphs
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="torch._dynamo"):
        warnings.simplefilter("error", RuntimeWarning)  # (a fallback to the Python steps warns)
        for n in sizes:
            x, w = torch.randn(n, 3), torch.randn(3, 4)
            torch.testing.assert_close(step(x, w), tanh_step(x, w))
    assert not step.failed
    assert not [r for r in caplog.records if "recompile_limit" in r.getMessage()], caplog.text
    from torch._dynamo.utils import counters

    graphs = counters["stats"]["unique_graphs"]
    for n in sizes:  # each variant again: no graph compiled anew
        step(torch.randn(n, 3), torch.randn(3, 4))
    assert counters["stats"]["unique_graphs"] == graphs
    torch._dynamo.reset()
