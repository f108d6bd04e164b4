"""The introspection functions that run the model leave it, and torch's random state, as they were,
while measuring it in the mode the user put it in (training mode: batch statistics, dropout masks)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab import introspect
from rnnlab.gates import split_gate_axis


class Model(nn.Module):
    """A recurrent layer, then BatchNorm1d over channels, dropout and a linear head."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.bn = nn.BatchNorm1d(2 * rnn.hidden_size)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(2 * rnn.hidden_size, 2)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.rnn(x)[0]
        return h, self.drop(self.bn(h.transpose(1, 2)).transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[1][:, -1])


def rnnlab_lstm() -> nn.Module:
    return rnnlab.LSTM(3, 5, 2, batch_first=True, bidirectional=True, dropout=0.3, recurrent_dropout=0.2,
                       zoneout=0.1, recurrent_batch_norm=True)


def torch_lstm() -> nn.Module:
    return nn.LSTM(3, 5, 2, batch_first=True, bidirectional=True, dropout=0.3)


RNNS = {"rnnlab": rnnlab_lstm, "torch": torch_lstm}


def trained_model(make_rnn) -> tuple[Model, torch.Tensor, torch.Tensor]:
    """A model in training mode whose running statistics have moved, some parameters with a
    gradient and the others without."""
    torch.manual_seed(0)
    model = Model(make_rnn())
    x, y = torch.randn(4, 6, 3), torch.randn(4, 2)
    model.train()
    F.mse_loss(model(x), y).backward()
    for p in model.head.parameters():
        p.grad = None
    return model, x, y


CALLS = {
    "layer_outputs": lambda m, x, y: introspect.layer_outputs(m, (x, y), modules=["rnn", "drop"]),
    "gate_activations": lambda m, x, y: introspect.gate_activations(m, x),
    "grad_through_time": lambda m, x, y: introspect.grad_through_time(m, (x, y), F.mse_loss),
}


def state_of(model: nn.Module) -> dict:
    return {
        "buffers": {n: (b, b.clone()) for n, b in model.named_buffers()},
        "params": {n: (p, p.detach().clone(), p.grad, None if p.grad is None else p.grad.clone())
                   for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
    }


def assert_left_as_it_was(model: nn.Module, before: dict) -> None:
    buffers = dict(model.named_buffers())
    assert buffers.keys() == before["buffers"].keys()
    for name, (b, value) in before["buffers"].items():
        assert buffers[name] is b, name  # the model's own tensor, not a copy
        assert torch.equal(b, value), f"buffer {name} changed"
    for name, p in model.named_parameters():
        param, value, grad, grad_value = before["params"][name]
        assert p is param and torch.equal(p, value), name
        if grad is None:
            assert p.grad is None, f"{name}.grad: None became a tensor"
        else:
            assert p.grad is grad and torch.equal(p.grad, grad_value), f"{name}.grad changed"
    assert {n: m.training for n, m in model.named_modules()} == before["modes"]


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("call", CALLS)
def test_training_mode_model_buffers_grads_modes_and_rng_are_left_as_they_were(call, rnn):
    model, x, y = trained_model(RNNS[rnn])
    assert any(n.endswith("running_mean") for n, _ in model.rnn.named_buffers()) == (rnn == "rnnlab")
    before = state_of(model)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    CALLS[call](model, x, y)
    assert torch.equal(rng, torch.get_rng_state()), "torch's random state moved"
    assert_left_as_it_was(model, before)
    assert model.training


@pytest.mark.parametrize("call", CALLS)
def test_eval_output_and_training_run_are_the_same_with_and_without_inspection(call):
    """What the researcher saw: after inspecting, the eval-mode output and the next training
    step's dropout masks differ from a run without inspection."""
    runs = []
    for inspect in (False, True):
        model, x, y = trained_model(rnnlab_lstm)
        torch.manual_seed(5)
        if inspect:
            CALLS[call](model, x, y)
        step = model(x)  # the next training step
        model.eval()
        with torch.no_grad():
            runs.append((step.detach(), model(x)))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("rnn", RNNS)
@pytest.mark.parametrize("call", CALLS)
def test_two_calls_in_training_mode_measure_the_same(call, rnn):
    """The random state and the running statistics are not moved, so a second call draws the
    same masks and normalizes alike."""
    model, x, y = trained_model(RNNS[rnn])
    first, second = CALLS[call](model, x, y), CALLS[call](model, x, y)
    if call == "layer_outputs":
        for name in first:
            np.testing.assert_array_equal(first[name].output, second[name].output)
    elif call == "gate_activations":
        for a, b in zip(first, second, strict=True):
            for g in a.gates:
                np.testing.assert_array_equal(a.gates[g], b.gates[g])
    else:
        for k, v in first["rnn"].layers.items():
            np.testing.assert_array_equal(v, second["rnn"].layers[k])


def test_layer_outputs_in_training_mode_are_those_of_the_same_forward():
    model, x, y = trained_model(rnnlab_lstm)
    reference = copy.deepcopy(model)
    torch.manual_seed(7)
    acts = introspect.layer_outputs(model, (x, y), modules=["rnn", "drop"])
    torch.manual_seed(7)
    with torch.no_grad():
        h, dropped = reference.features(x)
    np.testing.assert_array_equal(acts["rnn"].output, h.numpy())
    np.testing.assert_array_equal(acts["drop"].output, dropped.numpy())
    # (training mode indeed: dropout zeroed channels, batch statistics were used)
    assert (dropped == 0).any()
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model.features(x)[0], h)


def test_gate_activations_in_training_mode_are_those_of_the_same_forward():
    model, x, y = trained_model(rnnlab_lstm)
    reference = copy.deepcopy(model)
    torch.manual_seed(7)
    acts = introspect.gate_activations(model, x)
    torch.manual_seed(7)
    with reference.rnn.recording_gates() as rec, torch.no_grad():
        reference(x)
    assert [(a.layer, a.direction) for a in acts] == sorted(rec, key=lambda k: (k[0], k[1] != "forward"))
    for a in acts:
        gates = split_gate_axis(rec[(a.layer, a.direction)].transpose(0, 1), "lstm", dim=-1)
        for g in "ifgo":
            np.testing.assert_array_equal(a.gates[g], gates[g].numpy())


def test_grad_through_time_in_training_mode_is_that_of_the_same_forward():
    model, x, y = trained_model(rnnlab_lstm)
    reference = copy.deepcopy(model)
    torch.manual_seed(7)
    gtt = introspect.grad_through_time(model, (x, y), F.mse_loss)["rnn"]
    torch.manual_seed(7)
    with reference.rnn.recording_states() as kept:
        loss = F.mse_loss(reference(x), y)
    keys = list(kept)
    grads = torch.autograd.grad(loss, [h for k in keys for h in kept[k]])
    T = x.shape[1]
    assert sorted(gtt.layers) == sorted(keys)
    for i, (layer, direction) in enumerate(keys):
        g = torch.stack(grads[i * T : (i + 1) * T]).abs().mean(dim=1)  # [T, H] in processing order
        if direction == "reverse":
            g = g.flip(0)  # (every sequence is T long)
        np.testing.assert_allclose(gtt.layers[(layer, direction)], g.double().numpy(), rtol=1e-12, atol=0)


def test_grad_through_time_leaves_the_model_as_it_was_when_the_loss_fails():
    model, x, y = trained_model(rnnlab_lstm)
    before = state_of(model)
    rng = torch.get_rng_state()

    def failing_loss(output, target):
        raise RuntimeError("loss failed")

    with pytest.raises(RuntimeError, match="loss failed"):
        introspect.grad_through_time(model, (x, y), failing_loss)
    assert torch.equal(rng, torch.get_rng_state())
    assert_left_as_it_was(model, before)


def test_untouched_leaves_a_shared_buffer_shared_and_every_module_mode():
    bn = nn.BatchNorm1d(3)
    model = nn.Sequential(bn, nn.Dropout(0.5), bn).train()
    model[1].eval()
    with introspect.untouched(model):
        model(torch.randn(8, 3))
        assert int(bn.num_batches_tracked) == 2  # one copy, moved by both calls
        model.eval()
    assert int(bn.num_batches_tracked) == 0 and torch.equal(bn.running_mean, torch.zeros(3))
    assert [m.training for m in model] == [True, False, True] and model.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_random_state_is_left_as_it_was():
    model, x, y = trained_model(rnnlab_lstm)
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    for call in CALLS.values():
        rng = torch.cuda.get_rng_state()
        call(model, x, y)
        assert torch.equal(rng, torch.cuda.get_rng_state())
