"""Round 7 of the health checks, as a researcher met them comparing regularizers on GunPoint:
recurrent batch norm is measured before training as it trains (batch statistics, not its initial
running statistics), without the check moving the model's running statistics, modes or random
state; and a learning rate so large that the weights blew up in the measured steps is not given a
factor read off a ratio that no longer moves in proportion to it."""

from __future__ import annotations

import math

import pytest
import torch

import rnnlab
from rnnlab.config import parse_config
from rnnlab.doctor import diagnose, fit_findings
from rnnlab.doctor.checks import Observations, ParamTrace, Thresholds, lr_factor, update_ratio
from rnnlab.introspect import grad_through_time
from rnnlab.introspect.stats import gradient_reach

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CE = torch.nn.CrossEntropyLoss()


class Net(torch.nn.Module):
    def __init__(self, rnn: torch.nn.Module, hidden: int, head: torch.nn.Module | None = None):
        super().__init__()
        self.rnn = rnn
        self.head = head if head is not None else torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def conv_features(n: int = 10, steps: int = 50, channels: int = 16, seed: int = 0):
    """The user's kind of input to the LSTM: a conv front end's ReLU features of a smooth
    univariate series, 50 steps of 16 channels, and two classes."""
    g = torch.Generator().manual_seed(seed)
    series = torch.cumsum(torch.randn(n, steps, 1, generator=g), 1) / 5
    x = torch.relu(series * torch.randn(1, 1, channels, generator=g) + 0.1 * torch.randn(n, steps, channels, generator=g))
    return x, torch.randint(0, 2, (n,), generator=g)


def rbn_net(head: torch.nn.Module | None = None) -> Net:
    torch.manual_seed(0)
    rnn = rnnlab.LSTM(16, 24, recurrent_batch_norm=True, unit_forget_bias=True, batch_first=True)
    return Net(rnn, 24, head)


def reach(net: torch.nn.Module, batch, mode: str) -> int:
    getattr(net, mode)()
    (g,) = grad_through_time(net, batch, CE).values()
    return gradient_reach(torch.from_numpy(g.per_timestep(0, "forward")))


# --- 1. recurrent batch norm before training ----------------------------------------------------


def test_recurrent_batch_norm_is_measured_before_training_with_batch_statistics():
    batch = conv_features()
    net = rbn_net()
    trains, runs = reach(net, batch, "train"), reach(rbn_net(), batch, "eval")
    # (the initial running statistics, mean 0 and variance 1, which no training step uses, vanish)
    assert runs < trains, (runs, trains)
    # (diagnose's training steps after the measurement backpropagate the forward pass made before it)
    report = diagnose(net, batch, CE, lambda p: torch.optim.AdamW(p, lr=3e-3), checks="gradient_through_time")
    assert not report.by_check("gradient_through_time"), str(report)
    assert len(report.losses) == 5 and all(math.isfinite(v) for v in report.losses)
    (tg,) = report.through_time
    assert gradient_reach(tg.per_step) == trains


def test_the_measurement_leaves_running_statistics_modes_and_random_state_as_it_found_them():
    from rnnlab.doctor.run import _time_gradients

    # a head with torch's own batch norm (num_batches_tracked) in eval mode inside a model in training mode
    head = torch.nn.Sequential(torch.nn.Linear(24, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    net = rbn_net(head=head)
    batch = conv_features()
    net.train()
    net(batch[0])  # running statistics that are no longer the initial ones
    head[1].eval()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    modes = {name: m.training for name, m in net.named_modules()}
    rng = torch.random.get_rng_state()
    obs = Observations(steps=0)
    _time_gradients(net, batch, CE, obs)
    assert obs.through_time and not obs.through_time_skipped
    after = net.state_dict()
    assert state.keys() == after.keys()
    for k, v in state.items():
        assert torch.equal(v, after[k]), k
    assert {name: m.training for name, m in net.named_modules()} == modes
    assert torch.equal(torch.random.get_rng_state(), rng)


# --- 2. a learning rate whose factor cannot be read off --------------------------------------------


def lstm_health(lr: float):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    batch = torch.randn(16, 20, 1, generator=g), torch.randint(0, 2, (16,), generator=g)
    net = Net(rnnlab.LSTM(1, 8, batch_first=True), 8)
    report = diagnose(net, batch, CE, lambda p: torch.optim.AdamW(p, lr=lr), remedies="config",
                      checks="update_ratio")
    return report.by_check("update_ratio")


def test_a_learning_rate_that_blew_the_weights_up_asks_for_10_times_or_more():
    (f,) = lstm_health(10.0)
    assert f.title.startswith("Learning rate too large"), f.title
    median = f.numbers["median_ratio"]
    # the proportional factor fails here: at 10 / lr_factor the ratio is still too large
    (again,) = lstm_health(10.0 / lr_factor(median, Thresholds()))
    assert again.numbers["median_ratio"] > Thresholds().update_high
    assert "lr_factor" not in f.numbers and f.numbers["lr_factor_readable"] is False
    assert f.remedy.startswith(f"Lower training.lr by 10 times or more (the update ratio {median:.3g} is too large "
                               "for its factor to be read off: the weights grew to "), f.remedy
    assert "by about" not in f.remedy
    # a ratio just above the range, of weights about their initial size, keeps its factor
    (mild,) = lstm_health(0.03)
    assert mild.title.startswith("Learning rate too large"), mild.title
    assert mild.numbers["lr_factor"] == lr_factor(mild.numbers["median_ratio"], Thresholds())
    assert "lr_factor_readable" not in mild.numbers and "by about" in mild.remedy


def test_a_ratio_far_above_the_range_has_no_factor_even_without_growth():
    # (every step moves the weights by 3 times their norm, which stays 1: far outside the range that
    # the proportional model holds near)
    obs = Observations(steps=3, learning_rates=[0.5], config=True)
    obs.params["w"] = ParamTrace("w", (4, 4), [1.0] * 4, [3.0] * 3, grad_max=1.0)
    (f,) = update_ratio(obs, Thresholds())
    assert "lr_factor" not in f.numbers and f.numbers["lr_factor_readable"] is False
    assert "by 10 times or more (the update ratio 3 is too large for its factor to be read off: more than 10 " \
           "times the healthy range's top, 0.1)" in f.remedy, f.remedy


def test_the_fit_finding_after_training_says_the_same():
    (before,) = lstm_health(10.0)
    median = before.numbers["median_ratio"]
    config = parse_config('[data]\ndataset = "GunPoint"\n[training]\nsteps = 300\nlr = 10.0\n')
    records = [{"epoch": i + 1, "step": 3 * (i + 1), "train_loss": 0.69, "train_acc": 0.5} for i in range(100)]
    (f,) = fit_findings(records, {"acc": 0.5, "loss": 0.69}, config, before=[before])
    assert f.check == "underfit"
    assert (f"(1) lower training.lr (now 10) by 10 times or more (the update ratio {median:.3g} is too large for its "
            "factor to be read off), before any other change") in f.remedy, f.remedy
    assert "by about" not in f.remedy.split(";")[0]
