"""Round 4 of the health checks, as a user met them on their own model and optimizer: parameters
the optimizer does not hold are named as such (not blamed on the learning rate), and a zero or
vanishing gradient that a saturated gate of the layer explains names that gate (not a .detach())."""

from __future__ import annotations

import pytest
import torch

import rnnlab
from rnnlab.doctor import diagnose

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CE = torch.nn.CrossEntropyLoss()
LSTM_PARAMS = ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0"]


class Net(torch.nn.Module):
    def __init__(self, rnn: torch.nn.Module, hidden: int = 8, emb: bool = True):
        super().__init__()
        self.emb = torch.nn.Linear(1, 1) if emb else torch.nn.Identity()
        self.rnn, self.head = rnn, torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(self.emb(x))[0][:, -1])


def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 20, 1, generator=g), torch.randint(0, 2, (16,), generator=g)


def net(layer=torch.nn.LSTM, output_bias: float | None = None, emb: bool = True) -> Net:
    torch.manual_seed(0)
    rnn = layer(1, 8, batch_first=True)
    if output_bias is not None:
        with torch.no_grad():
            rnn.bias_ih_l0[24:32] = output_bias  # LSTM gates i, f, g, o: the output gate
    return Net(rnn, emb=emb)


# --- 1. parameters the optimizer does not hold ------------------------------------------------------


@pytest.mark.parametrize("layer", [torch.nn.LSTM, rnnlab.LSTM])
def test_a_recurrent_layer_left_out_of_the_optimizer_is_named_not_a_small_learning_rate(layer):
    model = net(layer)
    opt = torch.optim.Adam([*model.emb.parameters(), *model.head.parameters()], lr=1e-3)
    report = diagnose(model, batch(), CE, opt)
    (f,) = report.by_check("not_in_optimizer")
    assert f.numbers["parameters"] == LSTM_PARAMS
    assert all(f.numbers["grad_max"][n] > 0 for n in LSTM_PARAMS)
    assert all(n in f.title for n in LSTM_PARAMS)  # few: all named
    assert "non-zero" in f.message and "add them to the optimizer" in f.remedy.lower()
    assert "requires_grad_(False)" in f.remedy
    # the learning rate is judged on what the optimizer holds (emb and head, healthy at 1e-3)
    assert report.by_check("update_ratio") == []
    assert not any("Learning rate" in g.title or "learning rate" in g.remedy.lower()
                   for g in report.findings if g.check != "gradient_through_time")


def test_the_learning_rate_check_judges_only_the_optimizers_parameters():
    model = net()
    (f,) = diagnose(model, batch(), CE, torch.optim.Adam(model.head.parameters(), lr=0.5)).by_check("update_ratio")
    assert f.title.startswith("Learning rate too large") and list(f.numbers["ratios"]) == ["head.weight"]


def test_many_parameters_left_out_are_named_by_the_first_few_and_a_count():
    torch.manual_seed(0)
    model = Net(torch.nn.LSTM(1, 8, num_layers=3, batch_first=True))
    # a forgotten param group: the factory keeps the weight matrices, drops every bias
    report = diagnose(model, batch(), CE, lambda ps: torch.optim.Adam([p for p in ps if p.dim() > 1]))
    (f,) = report.by_check("not_in_optimizer")
    biases = [n for n, p in model.named_parameters() if p.dim() == 1]
    assert f.numbers["parameters"] == biases and len(biases) == 8
    assert f.title.endswith(f"{', '.join(biases[:5])} and 3 more")


def test_parameters_frozen_on_purpose_are_not_reported():
    model = net()
    model.rnn.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    report = diagnose(model, batch(), CE, opt)
    assert report.by_check("not_in_optimizer") == [] and report.by_check("update_ratio") == []


# --- 2. a zero or vanishing gradient that a saturated gate explains -----------------------------


@pytest.mark.parametrize("layer", [torch.nn.LSTM, rnnlab.LSTM])
def test_a_zero_gradient_behind_a_shut_output_gate_names_the_gate_not_a_detach(layer):
    # sigmoid(-120) is 0 in float32: h = 0 and the layer's gradients are exactly 0
    report = diagnose(net(layer, output_bias=-120.0), batch(), CE, checks=["zero_grad"])
    gate = next(f for f in report.by_check("zero_grad") if f.numbers["parameters"] == LSTM_PARAMS)
    assert "output gate shut for 100% of units in 'rnn' layer 0 forward" in gate.title
    assert gate.numbers["cause"] == "saturated_gate" and gate.numbers["gate"] == "output gate"
    assert gate.numbers["layer"] == "'rnn' layer 0 forward" and gate.numbers["fraction_units_shut"] == 1.0
    assert gate.numbers["mean"] < 0.05
    assert ".detach()" not in gate.remedy and "no_grad" not in gate.remedy
    assert "rows 24:32 of rnn.bias_ih_l0 and rnn.bias_hh_l0" in gate.remedy and "layer_norm=True" in gate.remedy
    # the layers before and after it: the gate comes first, then the detach advice
    (rest,) = [f for f in report.by_check("zero_grad") if f is not gate]
    assert set(rest.numbers["parameters"]) <= {"emb.weight", "emb.bias", "head.weight"}
    assert rest.remedy.startswith("First fix the output gate shut")


def test_a_vanishing_gradient_behind_a_shut_output_gate_names_the_gate_not_the_learning_rates():
    # sigmoid(-20) ~ 2e-9: the recurrent weight's gradient is tiny, and no Adam step moves it (the
    # other weights do: an outlier, not a median of ~0)
    (f,) = diagnose(net(output_bias=-20.0, emb=False), batch(), CE).by_check("update_ratio")
    assert "output gate shut" in f.title and list(f.numbers["outliers"]) == ["rnn.weight_hh_l0"]
    assert f.numbers["gate"] == "output gate" and f.numbers["layer"] == "'rnn' layer 0 forward"
    assert "Reset the bias of the output gate" in f.remedy and "does not help" in f.remedy
    assert "per-parameter-group" not in f.remedy


def test_without_a_saturated_gate_the_detach_advice_stays():
    model = net()
    # the recurrent layer's output multiplied by zero on its way (a path cut in the user's code: no
    # gate explains it, nor a zero-initialized layer after it, which the check tells apart)
    model.rnn.register_forward_hook(lambda module, args, out: (out[0] * 0, out[1]))
    (z,) = diagnose(model, batch(), CE, checks=["zero_grad"], steps=0).by_check("zero_grad")
    # (and the head's weight, whose input is now 0)
    assert sorted(z.numbers["parameters"]) == sorted(["emb.weight", "emb.bias", *LSTM_PARAMS, "head.weight"])
    assert "cause" not in z.numbers and z.remedy.startswith("Look for .detach()")
