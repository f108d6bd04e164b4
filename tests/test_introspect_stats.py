import doctest
import math

import numpy as np
import pytest
import torch

from rnnlab.introspect import stats
from rnnlab.introspect.stats import (
    channel_norms,
    dead_fraction,
    decay_rate,
    gradient_reach,
    nonfinite_count,
    norm_summary,
    saturation_fraction,
    zero_fraction,
)


def test_doctests():
    assert doctest.testmod(stats).failed == 0


def test_channel_norms_default_is_per_output_row():
    w = torch.tensor([[3.0, 4.0, 0.0], [1.0, -1.0, 1.0]])
    assert torch.allclose(channel_norms(w), torch.tensor([5.0, math.sqrt(3)]))
    assert torch.allclose(channel_norms(w, ord=1), torch.tensor([7.0, 3.0]))
    assert torch.allclose(channel_norms(w, ord=math.inf), torch.tensor([4.0, 1.0]))


def test_channel_norms_any_axis_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 6))
    t = torch.from_numpy(x)
    # default: channels on dim 0, reduce dims 1 and 2
    assert np.allclose(channel_norms(t).numpy(), np.sqrt((x**2).sum(axis=(1, 2))))
    # explicit reduced dims: channels are dim 1
    assert np.allclose(channel_norms(t, dim=(0, 2)).numpy(), np.sqrt((x**2).sum(axis=(0, 2))))
    assert np.allclose(channel_norms(t, ord=1, dim=-1).numpy(), np.abs(x).sum(axis=-1))
    # numpy input accepted
    assert np.allclose(channel_norms(x[0]).numpy(), np.linalg.norm(x[0], axis=1))


def test_channel_norms_bias_and_errors():
    assert torch.equal(channel_norms(torch.tensor([-2.0, 3.0])), torch.tensor([2.0, 3.0]))
    assert channel_norms(torch.tensor([1, -2])).dtype.is_floating_point
    with pytest.raises(ValueError, match="scalar"):
        channel_norms(torch.tensor(1.0))
    with pytest.raises(ValueError, match="dim"):
        channel_norms(torch.zeros(2, 3), dim=2)
    with pytest.raises(TypeError, match="t: expected"):
        channel_norms("weights")


def test_norm_summary():
    s = norm_summary(torch.tensor([1.0, 2.0, 6.0]))
    assert s == {"mean": 3.0, "max": 6.0, "min": 1.0}
    assert all(isinstance(v, float) for v in s.values())
    with pytest.raises(ValueError, match="norms"):
        norm_summary(torch.tensor([]))


def test_dead_fraction():
    acts = torch.relu(torch.randn(8, 10, 5))
    acts[..., 1] = 0.0
    acts[..., 3] = 0.0
    acts[0, 0, 0] = 1.0  # a channel alive at one point only is alive
    assert dead_fraction(acts) == pytest.approx(2 / 5)
    # channel axis elsewhere: [C, B, T]
    assert dead_fraction(acts.permute(2, 0, 1), channel_dim=0) == pytest.approx(2 / 5)
    # threshold: everything <= 100 counts as dead
    assert dead_fraction(acts, threshold=100.0) == 1.0
    with pytest.raises(ValueError, match="channel_dim"):
        dead_fraction(acts, channel_dim=3)


def test_saturation_fraction_tanh_and_sigmoid():
    x = torch.tensor([-1.0, -0.96, -0.94, 0.0, 0.94, 0.951, 1.0, 0.2])
    assert saturation_fraction(x, "tanh") == pytest.approx(4 / 8)
    s = torch.tensor([0.0, 0.04, 0.06, 0.5, 0.94, 0.96, 1.0, 0.3])
    assert saturation_fraction(s, "sigmoid") == pytest.approx(4 / 8)
    assert saturation_fraction(s, "sigmoid", eps=0.1) == pytest.approx(6 / 8)
    with pytest.raises(ValueError, match="did you mean 'sigmoid'"):
        saturation_fraction(s, "sigmod")


def test_zero_and_nonfinite():
    t = torch.tensor([0.0, 1.0, float("nan"), float("-inf"), 0.0, float("inf")])
    assert zero_fraction(t) == pytest.approx(2 / 6)
    assert nonfinite_count(t) == 3
    assert nonfinite_count(torch.tensor([1, 2])) == 0
    assert isinstance(nonfinite_count(t), int)


@pytest.mark.parametrize("a", [0.3, 0.5, 0.9])
def test_gradient_reach_geometric(a):
    T = 200
    g = a ** torch.arange(T - 1, -1, -1, dtype=torch.float64)  # g[t] = a^(T-1-t)
    # first k with a^k < 1e-3 (hand computation, with a margin against rounding at equality)
    k = math.floor(math.log(1e-3) / math.log(a)) + 1
    if abs(a**(k - 1) - 1e-3) < 1e-12:
        pytest.skip("boundary at equality")
    assert gradient_reach(g) == k
    assert decay_rate(g) == pytest.approx(a, rel=1e-9)


def test_gradient_reach_never_and_exploding():
    assert gradient_reach(torch.ones(7)) == 7
    g = 2.0 ** torch.arange(10, 0, -1, dtype=torch.float64)  # grows going back
    assert gradient_reach(g) == 10
    assert decay_rate(g) == pytest.approx(2.0)
    assert gradient_reach(torch.tensor([1e-4, 1.0, 1.0]), rel=1e-3) == 2
    assert gradient_reach(torch.tensor([0.5, 1.0]), rel=0.6) == 1


def test_decay_rate_ignores_zeros_and_needs_two_points():
    g = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert decay_rate(g) == pytest.approx(0.5)
    assert math.isnan(decay_rate(torch.tensor([0.0, 0.0, 1.0])))
    with pytest.raises(ValueError, match="1-D"):
        decay_rate(torch.ones(3, 2))
    with pytest.raises(ValueError, match="rel"):
        gradient_reach(torch.ones(3), rel=0)
