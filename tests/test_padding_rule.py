"""The padding rule: whatever the padding of a padded batch holds (NaN, inf), it never reaches a
valid step or the final state. Over the registry: every layer kind × every regularizer of
:data:`rnnlab.layers.regularizers.REGULARIZERS` (and all of them at once) × every computation
that computes it, in training and eval mode, the valid outputs, the final states and the
gradients (of the valid inputs, the initial state and every parameter) with NaN, inf or -inf
in the padding equal those with zeros there."""

import itertools

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.constraints import MaxNorm
from rnnlab.layers.computation import allowed_computations
from rnnlab.layers.regularizers import REGULARIZERS

KINDS = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU, "rnn": rnnlab.RNN, "indrnn": rnnlab.IndRNN}
H = 3
I = 2 * H  # noqa: E741 (input size: residual=True adds a bidirectional layer's input to its output)
T, B = 6, 3
LENGTHS = torch.tensor([6, 2, 4])
FILLS = (float("nan"), float("inf"), float("-inf"))

#: each regularizer of the registry turned on (the test below checks that none is missing)
SETTINGS: dict[str, dict] = {
    "none": {},
    "input_dropout": {"input_dropout": 0.3},
    "input_dropout_step": {"input_dropout": 0.3, "input_dropout_mode": "step"},
    "recurrent_dropout": {"recurrent_dropout": 0.3},
    "weight_drop": {"weight_drop": 0.3},
    "zoneout": {"zoneout": 0.3},
    "layer_norm": {"layer_norm": True},
    "recurrent_batch_norm": {"recurrent_batch_norm": True},
    "between_layers_norm_batch": {"between_layers_norm": "batch"},
    "between_layers_norm_layer": {"between_layers_norm": "layer"},
    "dropout": {"dropout": 0.3},
    "residual": {"residual": True},
    "residual_upper": {"residual": "upper"},
    "unit_forget_bias": {"unit_forget_bias": True},
    "kernel_init": {"kernel_init": "orthogonal"},
    "recurrent_init": {"recurrent_init": "orthogonal"},
    "kernel_constraint": {"kernel_constraint": MaxNorm(1.0)},
    "recurrent_constraint": {"recurrent_constraint": MaxNorm(1.0)},
    "bias_constraint": {"bias_constraint": MaxNorm(1.0)},
    "everything": {"input_dropout": 0.2, "recurrent_dropout": 0.2, "zoneout": 0.2, "layer_norm": True,
                   "between_layers_norm": "layer", "dropout": 0.2, "residual": "upper", "weight_drop": 0.2},
}
ONLY = {"unit_forget_bias": {"lstm"}, "recurrent_init": {"lstm", "gru", "rnn"}}
COMPUTATIONS = ("torch", "fast", "fast-python", "autograd")


def test_every_regularizer_of_the_registry_is_in_the_grid():
    covered = {key for kw in SETTINGS.values() for key in kw}
    assert {reg.name for reg in REGULARIZERS} <= covered


def _build(kind, setting, computation):
    kw = SETTINGS[setting]
    torch.manual_seed(0)
    layer = KINDS[kind](I, H, num_layers=2, bidirectional=True, implementation=computation, **kw)
    if computation == "torch" and "torch" not in allowed_computations(layer.options, layer.spec):
        return None
    if computation.startswith("fast") and "fast" not in allowed_computations(layer.options, layer.spec):
        return None  # (it runs the autograd loop: tested as such)
    return layer


def _padded(x, fill):
    x = x.clone()
    for b, n in enumerate(LENGTHS.tolist()):
        x[n:, b] = fill
    return x


def _run(layer, x, h0, seed):
    torch.manual_seed(seed)  # the same masks (dropout, zoneout) for every fill
    x = x.detach().requires_grad_(True)
    h0 = tuple(h.detach().requires_grad_(True) for h in h0)
    out, hn = layer(x, h0 if len(h0) == 2 else h0[0], lengths=LENGTHS)
    hn = hn if isinstance(hn, tuple) else (hn,)
    valid = (torch.arange(T)[:, None] < LENGTHS[None, :])[..., None]
    g = torch.Generator().manual_seed(1)
    w = torch.randn(out.shape, generator=g)
    loss = torch.where(valid, out * w, 0.0).sum() + sum((h * (k + 2)).sum() for k, h in enumerate(hn))
    params = [p for p in layer.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *h0, *params])
    return torch.where(valid, out, 0.0), hn, torch.where(valid, grads[0], 0.0), grads[0], grads[1:]


#: "fast-python" differs from "fast" in the LSTM's step loops alone: for the other kinds both run
#: the same code (rnnlab.layers.base), checked once as "fast".
GRID = [(k, s, c) for k, s, c in itertools.product(KINDS, SETTINGS, COMPUTATIONS)
        if k in ONLY.get(s, KINDS) and (c != "fast-python" or k == "lstm")]


@pytest.mark.parametrize("kind,setting,computation", GRID)
def test_padding_never_reaches_a_valid_step(kind, setting, computation):
    layer = _build(kind, setting, computation)
    if layer is None:
        pytest.skip(f"{computation!r} does not compute {setting} for {kind}")
    x = torch.randn(T, B, I)
    h0 = tuple(torch.randn(4, B, H) for _ in range(layer.num_states))
    for training in (True, False):
        layer.train(training)
        state = {k: v.clone() for k, v in layer.state_dict().items()}  # (running statistics move in training)
        ref_out, ref_hn, ref_gx, _, ref_gp = _run(layer, _padded(x, 0.0), h0, seed=5)
        for fill in FILLS:
            layer.load_state_dict(state)
            out, hn, gx, gx_all, gp = _run(layer, _padded(x, fill), h0, seed=5)
            where = f"{kind} {setting} {computation} training={training} padding={fill}"
            torch.testing.assert_close(out, ref_out, rtol=0, atol=0, msg=f"valid outputs: {where}")
            for a, b in zip(hn, ref_hn):
                torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"final state: {where}")
            torch.testing.assert_close(gx, ref_gx, rtol=0, atol=0, msg=f"gradient of valid inputs: {where}")
            assert torch.isfinite(gx_all).all(), f"gradient of the padding: {where}"
            for a, b in zip(gp, ref_gp):
                torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"gradient of h0/parameters: {where}")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_rule_for_a_custom_cell(bidirectional):
    torch.manual_seed(0)
    cell = rnnlab.cells.StateAsOutput(torch.nn.GRUCell(I, H))
    rnn = rnnlab.Recurrent(cell, zoneout=0.3, recurrent_dropout=0.3, bidirectional=bidirectional)
    x = torch.randn(T, B, I)
    results = []
    for fill in (0.0, *FILLS):
        torch.manual_seed(3)
        xi = _padded(x, fill).requires_grad_(True)
        out, fin = rnn(xi, lengths=LENGTHS)
        fin = torch.cat(fin, -1) if bidirectional else fin
        (g,) = torch.autograd.grad(out.sum() + fin.sum(), xi)
        results.append((out, fin, g))
    for out, fin, g in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=0, atol=0)
        torch.testing.assert_close(fin, results[0][1], rtol=0, atol=0)
        torch.testing.assert_close(g, results[0][2], rtol=0, atol=0)


def test_padding_rule_in_the_gradient_through_time():
    from rnnlab.introspect import grad_through_time

    class Padded(torch.nn.Module):  # (the re-run step by step of a custom cell, with lengths)
        def __init__(self):
            super().__init__()
            self.rnn = rnnlab.Recurrent(rnnlab.cells.StateAsOutput(torch.nn.GRUCell(I, H)))

        def forward(self, x):
            return self.rnn(x, lengths=LENGTHS)

    torch.manual_seed(0)
    model = Padded().eval()
    x = torch.randn(T, B, I)
    ref = grad_through_time(model, _padded(x, 0.0), lambda out: out[1].sum())["rnn"].grad
    got = grad_through_time(model, _padded(x, float("nan")), lambda out: out[1].sum())["rnn"].grad
    assert ref.shape == got.shape == (T, H)
    assert np.isfinite(ref).any() and np.array_equal(ref, got, equal_nan=True)
