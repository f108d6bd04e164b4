"""With every regularizer off, rnnlab layers equal torch's modules: outputs, final states and
every gradient, on both the fused path and rnnlab's own time loop."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab

KINDS = {
    "lstm": (rnnlab.LSTM, nn.LSTM, {}),
    "gru": (rnnlab.GRU, nn.GRU, {}),
    "rnn_tanh": (rnnlab.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (rnnlab.RNN, nn.RNN, {"nonlinearity": "relu"}),
}
I, H, B, T = 4, 6, 3, 5  # noqa: E741 (input size, as in torch docs)
LENGTHS = [5, 2, 4]


def _pair(kind, num_layers, bidirectional, batch_first):
    ours_cls, torch_cls, extra = KINDS[kind]
    ref = torch_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, **extra)
    ours = ours_cls(I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, **extra)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _as_tuple(s):
    return s if isinstance(s, tuple) else (s,)


GRID = list(
    itertools.product(KINDS, [1, 3], [False, True], [False, True], ["full", "packed", "lengths"], [False, True])
)


@pytest.mark.parametrize("path", ["auto", "fast", "autograd"])
@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,mode,given_hx", GRID)
def test_equals_torch(kind, num_layers, bidirectional, batch_first, mode, given_hx, path):
    _check_equals_torch(kind, num_layers, bidirectional, batch_first, mode, given_hx, path, torch.device("cpu"))


@pytest.mark.parametrize("path", ["auto", "fast"])
@pytest.mark.parametrize("mode", ["full", "packed", "lengths"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_equals_torch_on_device(kind, mode, path, device, monkeypatch):
    """A corner of the grid on every device present (CUDA: cuDNN against rnnlab's loops on the GPU)."""
    if device.type == "cpu":
        pytest.skip("on the CPU, test_equals_torch checks the whole grid")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # (float32 sums, as on the CPU)
    _check_equals_torch(kind, 2, True, True, mode, True, path, device)


def _check_equals_torch(kind, num_layers, bidirectional, batch_first, mode, given_hx, path, device):
    ours, ref = _pair(kind, num_layers, bidirectional, batch_first)
    ours, ref = ours.to(device), ref.to(device)
    ours.implementation = path
    x = torch.randn((B, T, I) if batch_first else (T, B, I), device=device, requires_grad=True)
    D = 2 if bidirectional else 1
    n_states = 2 if kind == "lstm" else 1
    hx = None
    if given_hx:
        hx = tuple(torch.randn(num_layers * D, B, H, device=device, requires_grad=True) for _ in range(n_states))
    hx_arg = None if hx is None else (hx if kind == "lstm" else hx[0])

    def run(module, lengths_kw):
        if mode == "full":
            return module(x, hx_arg)
        packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=batch_first, enforce_sorted=False)
        if lengths_kw:
            out, s = module(x, hx_arg, lengths=torch.tensor(LENGTHS))
            return out, s
        out, s = module(packed, hx_arg)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
        return out, s

    out_r, s_r = run(ref, False)
    out_o, s_o = run(ours, mode == "lengths")
    torch.testing.assert_close(out_o, out_r, atol=1e-5, rtol=0)
    for a, b in zip(_as_tuple(s_o), _as_tuple(s_r)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)

    # Gradients of a loss touching outputs and every final state.
    w = torch.randn_like(out_r)

    def loss(out, states):
        return (out * w).sum() + sum((s * (k + 1)).sum() for k, s in enumerate(_as_tuple(states)))

    leaves = [x] + (list(hx) if hx else [])
    g_r = torch.autograd.grad(loss(out_r, s_r), leaves + list(ref.parameters()))
    g_o = torch.autograd.grad(loss(out_o, s_o), leaves + list(ours.parameters()))
    names = ["input"] + [f"hx{k}" for k in range(len(leaves) - 1)] + [n for n, _ in ref.named_parameters()]
    for name, a, b in zip(names, g_o, g_r):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("kind", list(KINDS))
def test_packed_output_matches_torch_packing(kind):
    ours, ref = _pair(kind, 2, True, True)
    x = torch.randn(B, T, I)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    for impl in ("auto", "fast", "autograd"):
        ours.implementation = impl
        po, _ = ours(packed)
        pr, _ = ref(packed)
        assert torch.equal(po.batch_sizes, pr.batch_sizes)
        assert torch.equal(po.sorted_indices, pr.sorted_indices)
        torch.testing.assert_close(po.data, pr.data, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input(kind):
    ours, ref = _pair(kind, 2, True, False)
    x = torch.randn(T, I)
    for impl in ("auto", "fast", "autograd"):
        ours.implementation = impl
        o, s = ours(x)
        r, sr = ref(x)
        torch.testing.assert_close(o, r, atol=1e-5, rtol=0)
        for a, b in zip(_as_tuple(s), _as_tuple(sr)):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_round_trip(kind):
    ours_cls, torch_cls, extra = KINDS[kind]
    ref = torch_cls(I, H, num_layers=2, bidirectional=True, **extra)
    ours = ours_cls(I, H, num_layers=2, bidirectional=True, **extra)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), ref.named_parameters()):
        assert n1 == n2 and p1.shape == p2.shape
    ours.load_state_dict(ref.state_dict())
    back = torch_cls(I, H, num_layers=2, bidirectional=True, **extra)
    back.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, I)
    torch.testing.assert_close(back(x)[0], ref(x)[0])


def test_lengths_equal_to_full_length_is_the_plain_path():
    m = rnnlab.LSTM(I, H)
    x = torch.randn(T, B, I)
    torch.testing.assert_close(m(x, lengths=[T] * B)[0], m(x)[0])


AUTOCAST_CASES = [
    ("LSTM", dict()),  # torch's kernel: nn.LSTM itself fails under CPU autocast where oneDNN has no bfloat16 LSTM
    ("LSTM", dict(recurrent_dropout=0.25, zoneout=0.1)),
    ("LSTM", dict(layer_norm=True)),
    ("GRU", dict(recurrent_dropout=0.2)),
    ("RNN", dict(zoneout=0.2)),
    ("IndRNN", dict()),
]


@pytest.mark.parametrize("cls, kwargs", AUTOCAST_CASES)
def test_under_autocast_a_layer_runs_in_its_own_dtype(cls, kwargs):
    # The recurrence runs in float32 with autocast off: the same numbers as without autocast,
    # whatever dtype the input arrives in.
    m = getattr(rnnlab, cls)(4, 6, **kwargs).train()
    x = torch.randn(7, 3, 4).bfloat16()
    h0 = torch.randn(1, 3, 6)
    hx = (h0, torch.randn(1, 3, 6)) if cls == "LSTM" else h0
    results = []
    for autocast in (True, False):
        m.zero_grad()
        torch.manual_seed(0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out, _ = m(x if autocast else x.float(), hx)
            assert out.dtype == torch.float32
        out.square().sum().backward()
        results.append([out.detach()] + [p.grad.clone() for p in m.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
