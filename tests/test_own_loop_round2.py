"""A user's own training loop, piece by piece (round 2): the activity regularizer collects from
training steps only, health findings on a trained model say so, the tracker refuses a wrong loss,
the target-norm controller refuses an optimizer whose decay it cannot steer, and the collectors
agree on a model without recurrent layers."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import introspect
from rnnlab.doctor.checks import CHECKS, Thresholds
from rnnlab.doctor.run import observe
from rnnlab.optim import SGDW, AdamW, NAdamW, TargetNormController
from rnnlab.regularize import ActivityRegularizer, Rule, param_groups


class Net(nn.Module):
    def __init__(self, layer: nn.Module, hidden: int = 8, classes: int = 2) -> None:
        super().__init__()
        self.rnn = layer
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _lstm_net() -> Net:
    torch.manual_seed(0)
    return Net(rnnlab.LSTM(3, 8, batch_first=True))


X = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(1))
PROBE = X * 3  # another batch, as a probe between steps would see
Y = torch.tensor([0, 1, 1, 0])
LOSS = nn.CrossEntropyLoss()


# --- 1. the activity regularizer collects from training forward passes only ---------------------


def _train_step(model: Net, act: ActivityRegularizer) -> tuple[float, float, torch.Tensor]:
    model.zero_grad()
    loss = LOSS(model(X), Y) + act.penalty()
    loss.backward()
    return loss.item(), act.last["ar"] + act.last["tar"], model.rnn.weight_hh_l0.grad.clone()


def test_a_grad_through_time_probe_between_steps_changes_nothing_in_the_next_step():
    plain = _lstm_net()
    with ActivityRegularizer(plain, ar=2.0, tar=1.0) as act:
        want = _train_step(plain, act)
    probed = _lstm_net()
    with ActivityRegularizer(probed, ar=2.0, tar=1.0) as act:
        introspect.grad_through_time(probed, (PROBE, Y), LOSS)  # was: backward through a freed graph
        got = _train_step(probed, act)
    assert got[0] == pytest.approx(want[0]) and got[1] == pytest.approx(want[1]) and want[1] > 0
    torch.testing.assert_close(got[2], want[2])


@pytest.mark.parametrize("probe", ["grad_through_time", "gate_activations", "layer_outputs", "no_grad_forward"])
def test_a_forward_that_is_no_training_step_adds_nothing_to_the_penalty(probe):
    model = _lstm_net()
    act = ActivityRegularizer(model, ar=2.0, tar=1.0)
    model(X)
    one_step = float(act.penalty())
    assert one_step > 0
    if probe == "grad_through_time":
        introspect.grad_through_time(model, (PROBE, Y), LOSS)
    elif probe == "gate_activations":
        introspect.gate_activations(model, PROBE)
    elif probe == "layer_outputs":
        introspect.layer_outputs(model, PROBE)
    else:
        with torch.no_grad():  # still in training mode
            model(PROBE)
    assert float(act.penalty()) == 0.0  # the probe alone: nothing
    model(X)
    assert float(act.penalty()) == pytest.approx(one_step)  # and training forwards still count
    act.remove()


# --- 2. health findings on a trained model -------------------------------------------------------


def _observed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, step: int | None, epoch: int | None):
    torch.manual_seed(0)
    obs = observe(model, (x, y), LOSS, steps=2)
    # what diagnose(step=, epoch=) hands the checks
    obs.model_step, obs.model_epoch = step, epoch
    return obs


def test_dead_relu_on_a_trained_model_says_when_it_was_measured_not_at_initialisation():
    torch.manual_seed(0)
    model = Net(rnnlab.IndRNN(4, 16, batch_first=True), hidden=16, classes=3)
    with torch.no_grad():
        model.rnn.bias_ih_l0[:8] = -20.0  # half the units dead, as training left them
    x, y = torch.randn(32, 10, 4), torch.randint(0, 3, (32,))
    [found] = CHECKS["dead_relu"](_observed(model, x, y, 500, 10), Thresholds())
    assert "on the model as given at step 500, epoch 10" in found.title
    assert "initialisation" not in found.title + found.message
    [fresh] = CHECKS["dead_relu"](_observed(model, x, y, None, None), Thresholds())
    assert "(at initialisation)" in fresh.title


def test_diagnose_hands_the_checks_its_step_and_epoch():
    # (the end to end of the two above: diagnose(step=, epoch=) says when the model was measured)
    torch.manual_seed(0)
    model = Net(rnnlab.IndRNN(4, 16, batch_first=True), hidden=16, classes=3)
    with torch.no_grad():
        model.rnn.bias_ih_l0[:8] = -20.0
    x, y = torch.randn(32, 10, 4), torch.randint(0, 3, (32,))
    titles = [f.title for f in rnnlab.diagnose(model, (x, y), LOSS, steps=2, step=500, epoch=10).findings
              if f.check == "dead_relu"]
    assert titles and "on the model as given at step 500, epoch 10" in titles[0], titles


def test_stuck_gates_on_a_trained_model_say_when_they_were_measured():
    torch.manual_seed(0)
    model = Net(rnnlab.LSTM(4, 16, batch_first=True), hidden=16, classes=3)
    with torch.no_grad():
        model.rnn.bias_hh_l0[16:32] = -12.0  # forget gate shut
    x, y = torch.randn(32, 10, 4), torch.randint(0, 3, (32,))
    obs = _observed(model, x, y, 500, None)
    titles = [f.title for f in CHECKS["gates_stuck"](obs, Thresholds())]
    assert titles and all("on the model as given at step 500)" in t for t in titles), titles
    assert not any("initialisation" in t for t in titles)


# --- 3. the tracker's loss and epoch ---------------------------------------------------------------


def test_tracker_refuses_a_loss_that_is_no_scalar_and_a_negative_epoch(tmp_path):
    model = nn.Linear(2, 1)
    with rnnlab.Tracker(tmp_path / "run", model) as tr:
        with pytest.raises(ValueError, match=r"^loss: expected a scalar loss tensor or number, got a tensor "
                                             r"of shape \(2,\)$"):
            tr.step(torch.tensor([1.0, 2.0]))  # was: recorded 1.0
        with pytest.raises(TypeError, match=r"^loss: expected a scalar loss tensor or number, got str 'abc'$"):
            tr.step("abc")
        with pytest.raises(ValueError, match=r"^epoch: expected an integer >= 1 \(epochs count from 1, as in metrics\.jsonl\) or None, got -1$"):
            tr.step(epoch=-1)
        assert tr.step_count == 0 and not (tmp_path / "run" / "tracked.jsonl").exists()
        tr.step(torch.tensor([[0.25]]), epoch=2)  # a one-element tensor is a scalar loss
    assert rnnlab.read_tracked(tmp_path / "run")["loss"]["value"].values.tolist() == [0.25]


def test_a_tracker_refused_for_a_frozen_model_leaves_no_directory(tmp_path):
    frozen = nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ValueError, match="model: Linear has no trainable parameter to track"):
        rnnlab.Tracker(tmp_path / "run", frozen)
    assert not (tmp_path / "run").exists()


# --- 4. the target-norm controller and the optimizer's decay ---------------------------------------


def _groups() -> list[dict]:
    torch.manual_seed(0)
    return param_groups(rnnlab.LSTM(4, 8), [Rule(role=("kernel", "recurrent"), weight_decay=1e-2, label="lstm")])


def test_target_norm_refuses_adam_whose_coupled_decay_it_cannot_steer():
    with pytest.raises(ValueError, match=r"^optimizer: Adam adds weight_decay·w to the gradient .* use "
                                         r"rnnlab\.optim\.AdamW.*decoupled_weight_decay=True$"):
        TargetNormController(torch.optim.Adam(_groups(), lr=1e-2), {"lstm": 0.15})
    with pytest.raises(ValueError, match="^optimizer: RMSprop adds"):
        TargetNormController(torch.optim.RMSprop(_groups(), lr=1e-2), {"lstm": 0.15})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the decays it models: no warning
        for opt in (torch.optim.Adam(_groups(), lr=1e-2, decoupled_weight_decay=True), AdamW(_groups()),
                    torch.optim.AdamW(_groups()), torch.optim.SGD(_groups(), lr=0.1),
                    SGDW(_groups(), lr=0.1, momentum=0.9), NAdamW(_groups())):
            TargetNormController(opt, {"lstm": 0.15})


def test_target_norm_warns_of_sgd_momentum_that_scales_the_coupled_decay():
    with pytest.warns(UserWarning, match=r"SGD with momentum=0\.9 .* up to 1/\(1 − momentum\) = 10 times.*SGDW"):
        TargetNormController(torch.optim.SGD(_groups(), lr=0.05, momentum=0.9), {"lstm": 0.15})


# --- 5. a model without recurrent layers -----------------------------------------------------------


def test_every_collector_gives_the_same_error_for_a_model_without_recurrent_layers():
    mlp = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 10))
    x, y = torch.randn(3, 8), torch.randint(0, 10, (3,))
    LOSS(mlp(x), y).backward()
    want = "model: Sequential has no recurrent module (nn.LSTM/GRU/RNN, an rnnlab layer or rnnlab.Recurrent)"
    calls = {
        "gate_weights": lambda: introspect.gate_weights(mlp),  # was: []
        "gate_gradients": lambda: introspect.gate_gradients(mlp),  # was: []
        "gate_activations": lambda: introspect.gate_activations(mlp, (x, y)),
        "layer_outputs": lambda: introspect.layer_outputs(mlp, (x, y)),
        "grad_through_time": lambda: introspect.grad_through_time(mlp, (x, y), LOSS),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == want, name


# --- 6. rnnlab's optimizers check weight_decay as they check lr -------------------------------------


@pytest.mark.parametrize("cls", [AdamW, NAdamW, SGDW])
def test_a_negative_weight_decay_gets_rnnlabs_own_error(cls):
    with pytest.raises(ValueError, match=r"^weight_decay: expected a finite number >= 0, got -1$"):
        cls(nn.Linear(2, 1).parameters(), lr=1e-3, weight_decay=-1)


def test_a_trained_models_confident_softmax_is_no_finding():
    # (a trained classifier is meant to be confident: "saturated at initialisation" was said of it)
    torch.manual_seed(0)
    model = Net(rnnlab.LSTM(4, 16, batch_first=True), hidden=16, classes=3)
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([40.0, 0.0, 0.0]))  # (as training to certainty leaves it)
    x, y = torch.randn(32, 10, 4), torch.randint(0, 3, (32,))
    fresh = [f.title for f in CHECKS["softmax_init"](_observed(model, x, y, None, None), Thresholds())]
    assert "Softmax saturated at initialisation" in fresh
    trained = [f.title for f in CHECKS["softmax_init"](_observed(model, x, y, 500, 10), Thresholds())]
    assert "Softmax saturated at initialisation" not in trained and not any("initialisation" in t for t in trained)
