"""The run's AdamW takes torch's foreach path on the CPU too (issue 23): the same numbers, bit for
bit, as the one-tensor-at-a-time loop torch uses there by default."""

from __future__ import annotations

import torch

from rnnlab.config import parse_config
from rnnlab.train import build_model, build_optimizer


def test_the_runs_adamw_is_foreach_and_equals_the_single_tensor_loop_bit_for_bit():
    cfg = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 6\nrecurrent_batch_norm = true\n'
                       '[training]\nlr = 0.01\nweight_decay = 0.1\n[[training.decay_rules]]\n'
                       'role = "recurrent"\nweight_decay = 0.001\n')
    fast = build_model(cfg.model, 3, 4)
    slow = build_model(cfg.model, 3, 4)
    slow.load_state_dict(fast.state_dict())
    opt_fast = build_optimizer(fast, cfg.training)
    opt_slow = build_optimizer(slow, cfg.training)
    assert all(g["foreach"] for g in opt_fast.param_groups)
    for g in opt_slow.param_groups:
        g["foreach"] = False
    gen = torch.Generator().manual_seed(0)
    for step in range(30):
        for g in (*opt_fast.param_groups, *opt_slow.param_groups):
            g["lr"] = 0.01 * (1 - step / 40)  # (a schedule: the step size changes every step)
        for p, q in zip(fast.parameters(), slow.parameters(), strict=True):
            grad = torch.randn(p.shape, generator=gen)
            p.grad, q.grad = grad.clone(), grad.clone()
        opt_fast.step()
        opt_slow.step()
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        assert torch.equal(p, q), name
