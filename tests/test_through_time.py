import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab.introspect.through_time import GradThroughTime, grad_through_time


@pytest.fixture(autouse=True)
def float64():
    # Exact comparisons (rtol 1e-12) need double precision; restore the default afterwards.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def linear_rnn(a: float, layers: int = 1, bidirectional: bool = False, w_up: float = 1.0) -> nn.RNN:
    """nn.RNN with ReLU, no bias, on positive inputs: exactly h_t = a·h_{t-1} + x_t (layer 0) and
    h_t = a·h_{t-1} + w_up·h^{below}_t (upper layers)."""
    rnn = nn.RNN(1, 1, num_layers=layers, nonlinearity="relu", bias=False, bidirectional=bidirectional)
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.fill_(a if name.startswith("weight_hh") else 1.0)
            if name.startswith("weight_ih") and not name.startswith("weight_ih_l0"):
                p.fill_(w_up)
    return rnn


@pytest.mark.parametrize("a", [0.5, 0.9, 1.2])
def test_linear_recurrence_loss_h_T(a):
    T = 12
    rnn = linear_rnn(a)
    x = torch.rand(T, 3, 1) + 0.1
    g = grad_through_time(rnn, x, lambda out: out[0][-1].sum())[""]
    expected = a ** (T - 1 - np.arange(T))  # dLoss/dh_t = a^(T-t) with t counted from 1
    assert g.grad.shape == (T, 1)
    np.testing.assert_allclose(g.grad[:, 0], expected, rtol=1e-12)
    # loss on h_n instead of the output: same derivative (many-to-one through the state)
    g2 = grad_through_time(rnn, x, lambda out: out[1][0].sum())[""]
    np.testing.assert_allclose(g2.grad[:, 0], expected, rtol=1e-12)
    assert g.decay() == pytest.approx(a)
    reach = int(np.argmax(expected[::-1] < 1e-3)) if (expected < 1e-3).any() else T
    assert g.reach() == reach


def test_stacked_linear_includes_path_to_the_next_layer():
    # Layer 0: u_t = a u_{t-1} + x_t ; layer 1: v_t = b v_{t-1} + c u_t ; loss = v_{T-1}.
    a, c, T = 0.8, 0.5, 9
    rnn = linear_rnn(a, layers=2, w_up=c)
    g = grad_through_time(rnn, torch.rand(T, 2, 1) + 0.1, lambda out: out[0][-1].sum())[""]
    top = a ** (T - 1 - np.arange(T))
    bottom = np.array([c * sum(a ** (s - t) * a ** (T - 1 - s) for s in range(t, T)) for t in range(T)])
    np.testing.assert_allclose(g.layers[(1, "forward")][:, 0], top, rtol=1e-12)
    np.testing.assert_allclose(g.layers[(0, "forward")][:, 0], bottom, rtol=1e-12)


def test_bidirectional_linear():
    # forward: loss term h^f_{T-1} → a^(T-1-t); reverse: loss term h^r_0 → a^t
    a, T = 0.7, 8
    rnn = linear_rnn(a, bidirectional=True)
    x = torch.rand(T, 2, 1) + 0.1
    g = grad_through_time(rnn, x, lambda out: (out[0][-1, :, 0] + out[0][0, :, 1]).sum())[""]
    np.testing.assert_allclose(g.layers[(0, "forward")][:, 0], a ** (T - 1 - np.arange(T)), rtol=1e-12)
    np.testing.assert_allclose(g.layers[(0, "reverse")][:, 0], a ** np.arange(T), rtol=1e-12)
    assert g.grad.shape == (T, 2)
    # the reverse direction is read in its processing order: same decay as the forward one
    assert g.decay(direction="reverse") == pytest.approx(a)


def manual_lstm_grads(lstm: nn.Module, x: torch.Tensor, loss_fn, residual=False):
    """Reference: an explicit Python LSTM whose every h_t is a separate tensor used for both the
    output and the next step, so h_t.grad is the total derivative.

    Follows rnnlab's options when ``lstm`` has them: ``residual`` (True: every layer adds its
    input to its output, "upper": layers above the first) and recurrent batch norm (the layer's
    own ``norm_l{k}`` TimestepBatchNorms, stepped here by hand)."""
    T, B, _ = x.shape
    H, D = lstm.hidden_size, 2 if lstm.bidirectional else 1
    hs = {}
    inp = x
    for k in range(lstm.num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            w_ih, w_hh = getattr(lstm, "weight_ih" + sfx), getattr(lstm, "weight_hh" + sfx)
            b = getattr(lstm, "bias_ih" + sfx) + getattr(lstm, "bias_hh" + sfx)
            norms = getattr(lstm, "norm" + sfx, None)
            h = torch.zeros(B, H)
            c = torch.zeros(B, H)
            seq = [None] * T
            for s, t in enumerate(range(T) if d == 0 else range(T - 1, -1, -1)):
                term_x, term_h = inp[t] @ w_ih.T, h @ w_hh.T
                if norms is not None:  # training mode: batch statistics of this step
                    term_x, term_h = norms.ih.step(term_x, s), norms.hh.step(term_h, s)
                i, f, gg, o = (term_x + term_h + b).chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
                h = torch.sigmoid(o) * torch.tanh(c if norms is None else norms.c.step(c, s))
                h.retain_grad()
                seq[t] = h
            hs[(k, d)] = seq
            outs.append(torch.stack(seq))
        out = torch.cat(outs, dim=-1)
        inp = out + inp if residual is True or (residual == "upper" and k > 0) else out
    loss = loss_fn(inp)
    loss.backward()
    return {key: torch.stack([h.grad for h in seq]).abs().mean(1).numpy() for key, seq in hs.items()}


@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacked_lstm_matches_explicit_reference(bidirectional):
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(7, 5, 3)
    w = torch.randn(7, 5, lstm.hidden_size * (2 if bidirectional else 1))

    def loss(out):
        return (out * w).sum() / 5

    ref = manual_lstm_grads(lstm, x, loss)
    lstm.zero_grad()
    g = grad_through_time(lstm, x, lambda out: loss(out[0]))[""]
    for (k, d), r in ref.items():
        np.testing.assert_allclose(g.layers[(k, ("forward", "reverse")[d])], r, rtol=1e-9, atol=1e-12)
    # parameters' .grad untouched by grad_through_time
    assert all(p.grad is None for p in lstm.parameters())


def test_many_to_one_classifier_model_batch_first():
    torch.manual_seed(1)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    model = Classifier()
    x, y = torch.randn(5, 6, 3), torch.randint(0, 2, (5,))
    g = grad_through_time(model, (x, y), nn.functional.cross_entropy)
    assert set(g) == {"lstm"} and isinstance(g["lstm"], GradThroughTime)

    def loss_from_seq(out):  # out [T, B, H] time-major as produced by the reference
        return nn.functional.cross_entropy(model.head(out[-1]), y)

    ref = manual_lstm_grads(model.lstm, x.transpose(0, 1), loss_from_seq)
    for (k, _d), r in ref.items():
        np.testing.assert_allclose(g["lstm"].layers[(k, "forward")], r, rtol=1e-9, atol=1e-14)
    # the model output is unchanged by the hooks: the loss is the same as a plain forward
    assert g["lstm"].grad.shape == (6, 4)


def test_gru_output_and_state_unchanged_by_stepping():
    torch.manual_seed(2)
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 5, 2)
    out_ref, h_ref = gru(x)
    seen = {}

    def loss(out):
        seen["out"], seen["h"] = out
        return out[0].sum()

    grad_through_time(gru, x, loss)
    torch.testing.assert_close(seen["out"], out_ref)
    torch.testing.assert_close(seen["h"], h_ref)


def test_packed_variable_lengths_linear():
    a, T = 0.5, 6
    rnn = linear_rnn(a)
    x = torch.rand(T, 2, 1) + 0.1
    lengths = torch.tensor([6, 3])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    # loss = final state of each sequence (its last real step)
    g = grad_through_time(rnn, packed, lambda out: out[1].sum())[""]
    # each sequence lined up at its own last step: both are a^k, k steps before their end
    np.testing.assert_allclose(g.layers[(0, "forward")][:, 0], a ** (5 - np.arange(6)), rtol=1e-12)
    assert g.held.tolist() == [2, 2, 2, 1, 1, 1]


def test_errors():
    with pytest.raises(ValueError, match="no recurrent module"):
        grad_through_time(nn.Linear(2, 2), torch.randn(3, 2), lambda o: o.sum())
    with pytest.raises(KeyError, match="did you mean 'lstm'"):
        m = nn.Module()
        m.lstm = nn.LSTM(2, 2)
        grad_through_time(m, torch.randn(3, 1, 2), lambda o: o.sum(), modules=["lsmt"])
    with pytest.raises(ValueError, match="scalar"):
        grad_through_time(nn.LSTM(2, 2), torch.randn(3, 1, 2), lambda o: o[0])


# ---------------------------------------------------------------- rnnlab layers


def test_rnnlab_indrnn_linear_recurrence_bidirectional():
    import rnnlab

    a, T = 0.6, 7
    m = rnnlab.IndRNN(1, 1, bias=False, bidirectional=True, activation="linear", batch_first=True)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.fill_(a if name.startswith("weight_hh") else 1.0)
    x = torch.randn(3, T, 1)  # linear activation: any sign
    g = grad_through_time(m, x, lambda out: (out[0][:, -1, 0] + out[0][:, 0, 1]).sum())[""]
    np.testing.assert_allclose(g.layers[(0, "forward")][:, 0], a ** (T - 1 - np.arange(T)), rtol=1e-12)
    np.testing.assert_allclose(g.layers[(0, "reverse")][:, 0], a ** np.arange(T), rtol=1e-12)
    assert g.kind == "indrnn"


def test_rnnlab_lstm_matches_torch_lstm_and_keeps_outputs():
    import rnnlab

    torch.manual_seed(3)
    ref = nn.LSTM(3, 4, bidirectional=True)
    ours = rnnlab.LSTM(3, 4, bidirectional=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 2, 3)
    w = torch.randn(6, 2, 8)
    g_ref = grad_through_time(ref, x, lambda out: (out[0] * w).sum())[""]
    seen = {}

    def loss(out):
        seen["out"] = out
        return (out[0] * w).sum()

    g = grad_through_time(ours, x, loss)[""]
    for key in g_ref.layers:
        np.testing.assert_allclose(g.layers[key], g_ref.layers[key], rtol=1e-9, atol=1e-14)
    out_plain, (h, c) = ours(x)
    torch.testing.assert_close(seen["out"][0], out_plain)
    torch.testing.assert_close(seen["out"][1][0], h)
    torch.testing.assert_close(seen["out"][1][1], c)


class WithLengths(nn.Module):
    """A model whose submodule ``name`` is ``layer``, called with the padded batch's ``lengths``."""

    def __init__(self, name, layer, lengths):
        super().__init__()
        self.name, self.lengths = name, lengths
        self.add_module(name, layer)

    def forward(self, x):
        return getattr(self, self.name)(x, lengths=self.lengths)


def test_rnnlab_lengths_keyword_outputs_unchanged():
    import rnnlab

    torch.manual_seed(4)
    gru = rnnlab.GRU(2, 3, bidirectional=True, batch_first=True, layer_norm=True).eval()
    x, lengths = torch.randn(3, 5, 2), torch.tensor([5, 2, 4])
    plain_out, plain_h = gru(x, lengths=lengths)
    seen = {}

    def loss(out):
        seen["out"] = out
        return out[1].sum()

    g = grad_through_time(WithLengths("gru", gru, lengths), x, loss)["gru"]
    torch.testing.assert_close(seen["out"][0], plain_out)
    torch.testing.assert_close(seen["out"][1], plain_h)
    # reverse direction: the loss on h_n reaches the final reverse state at t = 0 of every sequence
    assert np.all(g.layers[(0, "reverse")][0] > 0)


def test_rnnlab_recurrent_custom_linear_cell():
    import rnnlab

    class LinearCell(nn.Module):
        """h_t = a·h_{t-1} + x_t, output h_t."""

        hidden_size = 1

        def __init__(self, a):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(a))

        def forward(self, x, h):
            h = self.a * h + x
            return h, h

    a, T = 0.9, 10
    rec = rnnlab.Recurrent(LinearCell(a))
    g = grad_through_time(rec, torch.randn(T, 2, 1), lambda out: out[0][-1].sum())[""]
    np.testing.assert_allclose(g.grad[:, 0], a ** (T - 1 - np.arange(T)), rtol=1e-12)
    assert g.kind == "custom"


def copy_of_torch_lstm(ref: nn.LSTM, **options):
    import rnnlab

    ours = rnnlab.LSTM(ref.input_size, ref.hidden_size, num_layers=ref.num_layers,
                       bidirectional=ref.bidirectional, **options)
    ours.load_state_dict(ref.state_dict())
    return ours


@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnnlab_stacked_lstm_matches_torch_rerun(bidirectional):
    # rnnlab's recorded states against torch's step-by-step re-run of the same weights; the
    # between-layers dropout is inactive in eval mode on both sides.
    torch.manual_seed(6)
    ref = nn.LSTM(3, 4, num_layers=3, bidirectional=bidirectional, dropout=0.3).eval()
    ours = copy_of_torch_lstm(ref, dropout=0.3).eval()
    x = torch.randn(7, 5, 3)
    w = torch.randn(7, 5, 4 * (2 if bidirectional else 1))

    def loss(out):
        return (out[0] * w).sum() + out[1][1].pow(2).sum()  # many-to-many and the final cell

    g_ref = grad_through_time(ref, x, loss)[""]
    g = grad_through_time(ours, x, loss)[""]
    assert sorted(g.layers) == sorted(g_ref.layers) and len(g.layers) == 3 * (2 if bidirectional else 1)
    assert (g.num_layers, g.directions, g.kind) == (3, g_ref.directions, "lstm")
    for key in g_ref.layers:
        np.testing.assert_allclose(g.layers[key], g_ref.layers[key], rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(g.grad, g_ref.grad, rtol=1e-9, atol=1e-13)
    assert all(p.grad is None for p in ours.parameters())


@pytest.mark.parametrize("how", ["packed", "lengths"])
def test_rnnlab_stacked_bidirectional_variable_lengths_match_torch_rerun(how):
    # The reverse direction is recorded in processing order within each sequence's length: it
    # must come back in forward time order, the padded steps left out of the mean.
    torch.manual_seed(7)
    ref = nn.LSTM(2, 3, num_layers=2, bidirectional=True).eval()
    ours = copy_of_torch_lstm(ref).eval()
    x, lengths = torch.randn(6, 4, 2), torch.tensor([6, 2, 4, 5])
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)

    def loss(out):
        return out[1][0].sum() + out[1][1].pow(2).sum()

    g_ref = grad_through_time(ref, packed, loss)[""]
    if how == "packed":
        g = grad_through_time(ours, packed, loss)[""]
    else:
        g = grad_through_time(WithLengths("lstm", ours, lengths), x, loss)["lstm"]
    for key in g_ref.layers:
        np.testing.assert_allclose(g.layers[key], g_ref.layers[key], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("residual", [True, "upper"])
def test_rnnlab_residual_stack_matches_explicit_reference(residual):
    torch.manual_seed(8)
    import rnnlab

    lstm = rnnlab.LSTM(6 if residual is True else 2, 3, num_layers=3, bidirectional=True, residual=residual)
    x = torch.randn(5, 4, lstm.input_size)
    w = torch.randn(5, 4, 6)

    def loss(out):
        return (out * w).sum()

    ref = manual_lstm_grads(lstm, x, loss, residual=residual)
    g = grad_through_time(lstm, x, lambda out: loss(out[0]))[""]
    for (k, d), r in ref.items():
        np.testing.assert_allclose(g.layers[(k, ("forward", "reverse")[d])], r, rtol=1e-9, atol=1e-13)


def test_rnnlab_recurrent_batch_norm_matches_explicit_reference():
    # Training mode: each step is normalized with its own batch statistics, so every h_t also
    # reaches the loss through the other sequences' normalization — the reference steps the
    # layer's own norms by hand and sees the same paths.
    torch.manual_seed(9)
    import rnnlab

    lstm = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, recurrent_batch_norm=True).train()
    ref_lstm = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, recurrent_batch_norm=True).train()
    with torch.no_grad():
        for p in lstm.parameters():  # gains and shifts away from their initial 0.1 / 0
            p.uniform_(-0.8, 0.8)
    ref_lstm.load_state_dict(lstm.state_dict())  # running statistics are updated by each pass
    x = torch.randn(6, 5, 3)
    w = torch.randn(6, 5, 8)

    def loss(out):
        return (out * w).sum()

    ref = manual_lstm_grads(ref_lstm, x, loss)
    g = grad_through_time(lstm, x, lambda out: loss(out[0]))[""]
    for (k, d), r in ref.items():
        np.testing.assert_allclose(g.layers[(k, ("forward", "reverse")[d])], r, rtol=1e-9, atol=1e-13)


def test_rnnlab_indrnn_two_layers_linear_recurrence():
    # Layer 0: u_t = a u_{t-1} + x_t ; layer 1: v_t = a v_{t-1} + c u_t ; loss = v_{T-1}.
    import rnnlab

    a, c, T = 0.8, 0.5, 9
    m = rnnlab.IndRNN(1, 1, num_layers=2, bias=False, activation="linear")
    with torch.no_grad():
        m.weight_ih_l0.fill_(1.0)
        m.weight_ih_l1.fill_(c)
        m.weight_hh_l0.fill_(a)
        m.weight_hh_l1.fill_(a)
    g = grad_through_time(m, torch.randn(T, 3, 1), lambda out: out[0][-1].sum())[""]
    top = a ** (T - 1 - np.arange(T))  # a^(T-t) with t counted from 1
    bottom = np.array([c * sum(a ** (s - t) * a ** (T - 1 - s) for s in range(t, T)) for t in range(T)])
    np.testing.assert_allclose(g.layers[(1, "forward")][:, 0], top, rtol=1e-12)
    np.testing.assert_allclose(g.layers[(0, "forward")][:, 0], bottom, rtol=1e-12)
    assert g.decay() == pytest.approx(a)


def test_rnnlab_layer_called_twice_gets_one_result_per_call():
    import rnnlab

    torch.manual_seed(10)
    gru = rnnlab.GRU(2, 3, num_layers=2)
    x1, x2 = torch.randn(4, 2, 2), torch.randn(6, 2, 2)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = gru

        def forward(self, x):
            return self.gru(x1)[0], self.gru(x2)[0]

    g = grad_through_time(Twice(), x1, lambda out: out[0].sum() + out[1].pow(2).sum())
    alone1 = grad_through_time(gru, x1, lambda out: out[0].sum())[""]
    alone2 = grad_through_time(gru, x2, lambda out: out[0].pow(2).sum())[""]
    assert set(g) == {"gru", "gru#1"}
    for key in alone1.layers:
        np.testing.assert_allclose(g["gru"].layers[key], alone1.layers[key], rtol=1e-12)
        np.testing.assert_allclose(g["gru#1"].layers[key], alone2.layers[key], rtol=1e-12)


def test_output_other_than_state_is_refused():
    import rnnlab

    class Readout(nn.Module):
        hidden_size = 2

        def __init__(self):
            super().__init__()
            self.cell = nn.RNNCell(1, 2)

        def forward(self, x, h):
            h = self.cell(x, h)
            return 2 * h, h

    with pytest.raises(ValueError, match="not its hidden state"):
        grad_through_time(rnnlab.Recurrent(Readout()), torch.randn(3, 1, 1), lambda out: out[0].sum())


def test_conv_cell_state_with_spatial_axis_matches_explicit_loop():
    import rnnlab

    torch.manual_seed(5)
    cell = rnnlab.cells.ConvLSTMCell1d(2, 3, kernel_size=3)
    layer = rnnlab.Recurrent(cell, batch_first=True)
    x = torch.randn(2, 5, 2, 7)  # [B, T, C, L]
    w = torch.randn(2, 3, 7)

    def loss(out):
        return (out[0][:, -1] * w).sum() + out[0].pow(2).mean()

    g = grad_through_time(layer, x, loss)[""]
    assert g.layers[(0, "forward")].shape == (5, 3, 7)
    # reference: the cell run by hand; it returns h itself as output, so h.grad is the total one
    h, c = cell.init_state(x[:, 0])
    hs = []
    for t in range(5):
        y, (h, c) = cell(x[:, t], (h, c))
        h.retain_grad()
        hs.append(h)
    loss((torch.stack(hs, 1), None)).backward()
    ref = torch.stack([h.grad for h in hs]).abs().mean(1).numpy()
    np.testing.assert_allclose(g.layers[(0, "forward")], ref, rtol=1e-9, atol=1e-14)
    assert g.per_timestep().shape == (5,)


def test_lstm_with_projection_is_stepped_on_its_own_weights():
    # proj_size has no rnnlab twin: the module is re-run step by step. Loss on the last output:
    # dLoss/dh_T is 1 for every projected channel; earlier steps reach it through W_hh.
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, proj_size=2, num_layers=2)
    x = torch.randn(6, 4, 3)
    g = grad_through_time(lstm, x, lambda out: out[0][-1].sum())[""]
    assert g.grad.shape == (6, 2)
    np.testing.assert_allclose(g.layers[(1, "forward")][-1], 1.0, rtol=1e-12)
    assert np.all(g.layers[(1, "forward")][:-1] > 0) and np.all(g.layers[(0, "forward")] > 0)
