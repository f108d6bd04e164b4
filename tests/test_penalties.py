"""Weight penalties and activity regularization against hand-computed sums."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab
from rnnlab.regularize.penalties import (
    ActivityRegularizer,
    WeightPenalty,
    recurrent_modules,
    weight_penalty,
)

# float(penalty) on a differentiable scalar is what these tests mean to do
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2)
        self.head = nn.Linear(4, 2)
        self.gain_noreg = nn.Parameter(torch.full((3,), 5.0))


def test_weight_penalty_equals_hand_sums_and_gradients():
    torch.manual_seed(0)
    model = Net()
    wp = WeightPenalty(
        model, l1={"kernel": 0.3, "bias": 0.05}, l2={"kernel": 0.01, "recurrent": 0.2, "bias": 0.0}
    )
    kernels = [p.detach() for p in (model.lstm.weight_ih_l0, model.lstm.weight_ih_l1, model.head.weight)]
    recurrents = [model.lstm.weight_hh_l0.detach(), model.lstm.weight_hh_l1.detach()]
    biases = [p.detach() for n, p in model.named_parameters() if "bias" in n]
    hand = (
        0.3 * sum(float(w.abs().sum()) for w in kernels)
        + 0.05 * sum(float(b.abs().sum()) for b in biases)
        + 0.01 * sum(float((w * w).sum()) for w in kernels)
        + 0.2 * sum(float((w * w).sum()) for w in recurrents)
    )
    total = wp()
    assert float(total.detach()) == pytest.approx(hand, rel=1e-5)
    terms = wp.terms()
    assert set(terms) == {"l1/kernel", "l1/bias", "l2/kernel", "l2/recurrent"}  # zero coefficient: no term
    assert float(terms["l2/recurrent"].detach()) == pytest.approx(0.2 * sum(float((w * w).sum()) for w in recurrents), rel=1e-5)
    total.backward()
    w = model.lstm.weight_ih_l0
    torch.testing.assert_close(w.grad, 0.3 * w.sign() + 0.02 * w.detach())
    torch.testing.assert_close(model.lstm.weight_hh_l1.grad, 0.4 * model.lstm.weight_hh_l1.detach())
    assert model.gain_noreg.grad is None  # names with "noreg" are never penalized
    assert float(weight_penalty(model, l2={"recurrent": 0.2}).detach()) == pytest.approx(
        0.2 * sum(float((w * w).sum()) for w in recurrents), rel=1e-5
    )


def test_weight_penalty_of_rnnlab_layer_matches_torch_layer():
    ours, theirs = rnnlab.GRU(3, 5, bidirectional=True), nn.GRU(3, 5, bidirectional=True)
    theirs.load_state_dict(ours.state_dict())
    coefs = {"l1": {"kernel": 1e-3}, "l2": {"recurrent": 1e-2, "bias": 1e-4}}
    assert float(WeightPenalty(ours, **coefs)()) == pytest.approx(float(WeightPenalty(theirs, **coefs)()), rel=1e-6)


def test_weight_penalty_errors():
    model = Net()
    with pytest.raises(ValueError, match="l2 key: expected one of .* got 'recurent'; did you mean 'recurrent'"):
        WeightPenalty(model, l2={"recurent": 1e-3})
    with pytest.raises(ValueError, match=r"l1\['kernel'\]: expected a finite number >= 0, got -1"):
        WeightPenalty(model, l1={"kernel": -1})
    with pytest.raises(ValueError, match="l2: role 'embedding' matches no parameter of Net"):
        WeightPenalty(model, l2={"embedding": 1e-3})
    with pytest.raises(TypeError, match="l2: expected a mapping role"):
        WeightPenalty(model, l2=1e-3)
    assert float(WeightPenalty(model)()) == 0.0


def ar_tar_hand(h, lengths):
    """h [T, B, D] time-major; plain loops over sequences, for reference."""
    ar_num, ar_den, tar_num, tar_den = 0.0, 0, 0.0, 0
    for b, n in enumerate(lengths):
        seq = h[:n, b].double()
        ar_num += float((seq**2).sum())
        ar_den += seq.numel()
        tar_num += float(((seq[1:] - seq[:-1]) ** 2).sum())
        tar_den += seq[1:].numel()
    return ar_num / ar_den, tar_num / tar_den


@pytest.mark.parametrize("make", [
    lambda: nn.LSTM(3, 4, num_layers=2),
    lambda: nn.GRU(3, 4, batch_first=True, bidirectional=True),
    lambda: rnnlab.LSTM(3, 4, batch_first=True),
    lambda: rnnlab.GRU(3, 4, bidirectional=True),
])
def test_ar_tar_equal_hand_values(make):
    torch.manual_seed(1)
    layer = make()
    x = torch.randn(7, 5, 3)
    if layer.batch_first:
        x = x.transpose(0, 1)
    act = ActivityRegularizer(layer, ar=2.0, tar=3.0)
    out, _ = layer(x)
    h = out.transpose(0, 1) if layer.batch_first else out
    ar, tar = ar_tar_hand(h.detach(), [7] * 5)
    assert float(act.penalty()) == pytest.approx(2.0 * ar + 3.0 * tar, rel=1e-5)
    assert act.last == pytest.approx({"ar": 2.0 * ar, "tar": 3.0 * tar}, rel=1e-5)
    act.remove()


@pytest.mark.parametrize("make", [lambda: nn.LSTM(3, 4), lambda: rnnlab.LSTM(3, 4)])
def test_ar_tar_packed_sequences_leave_out_padding(make):
    torch.manual_seed(2)
    layer = make()
    lengths = [6, 4, 2]
    x = torch.randn(6, 3, 3)
    act = ActivityRegularizer(layer, ar=1.0, tar=0.5)
    out, _ = layer(pack_padded_sequence(x, torch.tensor(lengths)))
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out)
    ar, tar = ar_tar_hand(padded.detach(), lengths)
    assert float(act.penalty()) == pytest.approx(ar + 0.5 * tar, rel=1e-5)


def test_ar_tar_with_rnnlab_lengths_argument():
    torch.manual_seed(3)
    layer = rnnlab.GRU(3, 4, batch_first=True)
    lengths = torch.tensor([5, 3])
    x = torch.randn(2, 5, 3)
    with ActivityRegularizer(layer, ar=1.0, tar=1.0) as act:
        out, _ = layer(x, lengths=lengths)
        ar, tar = ar_tar_hand(out.transpose(0, 1).detach(), [5, 3])
        assert float(act.penalty()) == pytest.approx(ar + tar, rel=1e-5)
        out, _ = layer(x, None, lengths)  # positional
        assert float(act.penalty()) == pytest.approx(ar + tar, rel=1e-5)


def test_activity_accumulates_clears_skips_eval_and_removes():
    torch.manual_seed(4)
    model = nn.ModuleDict({"a": nn.GRU(2, 3), "b": nn.LSTM(3, 3)})
    assert [n for n, _ in recurrent_modules(model)] == ["a", "b"]
    act = ActivityRegularizer(model, ar=1.0, modules=[model["a"], model["b"]])  # (the default: the last one only)
    x = torch.randn(4, 2, 2)
    ha, _ = model["a"](x)
    hb, _ = model["b"](ha)
    expected = float(ha.pow(2).mean() + hb.pow(2).mean())
    p = act.penalty()
    assert float(p) == pytest.approx(expected, rel=1e-6)
    p.backward()  # differentiable through the hooked outputs
    assert model["a"].weight_ih_l0.grad is not None
    assert float(act.penalty()) == 0.0  # cleared
    model.eval()
    model["a"](x)
    assert float(act.penalty()) == 0.0  # eval: nothing collected
    model.train()
    act.remove()
    model["a"](x)
    assert float(act.penalty()) == 0.0


def test_nested_recurrent_modules_hooked_once():
    outer = nn.LSTM(2, 3)
    outer.add_module("inner", nn.GRU(3, 3))  # a recurrent module inside a recurrent module
    assert [n for n, _ in recurrent_modules(outer)] == [""]
    model = nn.Sequential(nn.Linear(2, 2))
    model.add_module("enc", outer)
    assert [n for n, _ in recurrent_modules(model)] == ["enc"]


def test_activity_errors():
    with pytest.raises(ValueError, match="contains no recurrent module"):
        ActivityRegularizer(nn.Linear(2, 2), ar=1.0)
    with pytest.raises(ValueError, match="ar: expected a finite number >= 0, got -1"):
        ActivityRegularizer(nn.GRU(2, 2), ar=-1)
    with pytest.raises(ValueError, match="^modules: expected modules of the model"):
        ActivityRegularizer(nn.Linear(2, 2), ar=1.0, modules=[nn.Linear(2, 2)])
    lin = nn.Linear(2, 2)
    ActivityRegularizer(lin, ar=1.0, modules=[lin])  # (its hook checks what lin returns)
    with pytest.raises(TypeError, match="expected forward to return \\(output, state\\)"):
        lin(torch.randn(3, 2))


def test_ar_tar_on_rnnlab_recurrent_with_conv_cell():
    torch.manual_seed(5)
    layer = rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3), batch_first=True)
    assert [n for n, _ in recurrent_modules(nn.Sequential(layer))] == ["0"]
    x = torch.randn(2, 5, 2, 4)  # [B, T, C, L]
    with ActivityRegularizer(layer, ar=1.0, tar=2.0) as act:
        out, _ = layer(x, lengths=torch.tensor([5, 3]))
        h = out.transpose(0, 1).detach().flatten(2)  # [T, B, C*L]
        ar, tar = ar_tar_hand(h, [5, 3])
        assert float(act.penalty()) == pytest.approx(ar + 2.0 * tar, rel=1e-5)


def test_ar_tar_unbatched_torch_input():
    torch.manual_seed(6)
    lstm = nn.LSTM(3, 4)
    with ActivityRegularizer(lstm, ar=1.0, tar=1.0) as act:
        out, _ = lstm(torch.randn(6, 3))  # unbatched: [T, D]
        ar, tar = ar_tar_hand(out.detach().unsqueeze(1), [6])
        assert float(act.penalty()) == pytest.approx(ar + tar, rel=1e-5)
