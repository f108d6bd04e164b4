"""Health checks: each check fires on a model built to have its pathology, with the right
numbers, and a healthy model gets no warning or error."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.doctor import CHECKS, Finding, Report, Thresholds, torch_gate_activations
from rnnlab.doctor import diagnose as _diagnose
from rnnlab.doctor.checks import NotApplicable, Observations, TimeGradient

CE = nn.CrossEntropyLoss()


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models: one thread avoids contention on a shared machine; restored afterwards.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def diagnose(*args, **kwargs) -> Report:
    """``rnnlab.diagnose``, checking on the way that every report is valid JSON."""
    report = _diagnose(*args, **kwargs)
    data = json.loads(report.to_json())
    assert [Finding.from_dict(d) for d in data] == report.findings
    return report


def task(n: int = 32, t: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable synthetic task: the class is the sign pattern of two input means."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t, 3, generator=g)
    y = (x[:, :, 0].mean(1) > 0).long() * 2 + (x[:, :, 1].mean(1) > 0).long()
    return x, y


class Classifier(nn.Module):
    """LSTM (or GRU) → last step → Linear → ReLU → Linear: a sensible small classifier."""

    def __init__(self, layer: nn.Module, hidden: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.rnn = layer
        self.fc = nn.Linear(hidden, hidden)
        self.act = nn.ReLU()
        self.head = nn.Linear(hidden, classes)
        # He initialisation with zero bias before the ReLU (torch's default bias leaves about a
        # third of the units silent after an RNN, see Thresholds.dead_info).
        nn.init.kaiming_normal_(self.fc.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rnn(x)[0][:, -1]
        return self.head(self.act(self.fc(h)))


def lstm_classifier(kind: str = "torch", seed: int = 0, **kw) -> Classifier:
    torch.manual_seed(seed)
    if kind == "torch":
        layer = nn.LSTM(3, 16, batch_first=True)
        with torch.no_grad():  # sensible init: forget bias 1 (what unit_forget_bias does)
            layer.bias_ih_l0[16:32] = 1.0
            layer.bias_hh_l0[16:32] = 0.0
    else:
        layer = rnnlab.LSTM(3, 16, batch_first=True, unit_forget_bias=True, **kw)
    return Classifier(layer)


def warnings_of(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.severity != "info"]


# --- healthy models: no false alarm ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["torch", "rnnlab"])
def test_healthy_lstm_classifier_has_no_warning(kind):
    model = lstm_classifier(kind)
    report = diagnose(model, task(), CE, lambda p: torch.optim.Adam(p, lr=1e-3), steps=5)
    assert warnings_of(report) == [], str(report)
    # The checks really looked (nothing skipped that applies to this model).
    assert set(report.skipped) == set(), report.skipped
    assert len(report.losses) == 5 and report.losses[-1] < report.losses[0]


def test_healthy_gru_and_relu_mlp_have_no_warning():
    torch.manual_seed(1)
    model = Classifier(nn.GRU(3, 16, batch_first=True))
    assert warnings_of(diagnose(model, task(), CE)) == []
    mlp = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 4))
    x, y = task()
    report = diagnose(mlp, (x.mean(1), y), CE)
    assert report.ok, str(report)


# --- softmax at initialisation ----------------------------------------------------------------


def test_saturated_softmax_at_init():
    model = lstm_classifier()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([12.0, 0.0, 0.0, 0.0]))  # one class dominates
    x, y = task()
    report = diagnose(model, (x, y), CE, checks=["softmax_init"])
    (f,) = report.by_check("softmax_init")
    assert f.severity == "warning" and "saturated" in f.title
    with torch.no_grad():
        expected = torch.softmax(model(x), 1).max(1).values.mean().item()
    assert expected > 0.99
    assert f.numbers["mean_max_prob"] == pytest.approx(expected, rel=1e-5)
    assert f.numbers["uniform_loss"] == pytest.approx(math.log(4))


def test_constant_outputs_at_init():
    model = lstm_classifier()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    report = diagnose(model, task(), CE, checks=["softmax_init"])
    (f,) = report.by_check("softmax_init")
    assert "same for every sample" in f.title
    assert f.numbers["max_spread"] == 0.0
    assert f.numbers["mean_probs"] == pytest.approx(torch.softmax(torch.arange(4.0), 0).tolist())


def test_softmax_check_reads_probabilities_and_log_probabilities():
    obs = Observations(
        steps=0, outputs=torch.tensor([[0.995, 0.005], [0.999, 0.001]]), classification=True
    )
    (f,) = CHECKS["softmax_init"](obs, Thresholds())
    assert f.numbers["mean_max_prob"] == pytest.approx(0.997)
    obs.outputs = obs.outputs.log()
    (f,) = CHECKS["softmax_init"](obs, Thresholds())
    assert f.numbers["mean_max_prob"] == pytest.approx(0.997)
    with pytest.raises(NotApplicable, match="classification=True"):
        CHECKS["softmax_init"](Observations(steps=0, outputs=obs.outputs), Thresholds())
    # a caller that said classification=False (rnnlab train for a task of values) gets no Python advice
    net, batch = torch.nn.Linear(4, 2), (torch.randn(8, 4), torch.randn(8, 2))
    report = diagnose(net, batch, torch.nn.MSELoss(), steps=0, checks=["softmax_init"], classification=False)
    assert report.skipped["softmax_init"] == "the outputs are values, not class scores"


# --- dead ReLU ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dead", "severity"), [([0, 3, 5, 6, 9, 12], "info"), (list(range(2, 11)), "warning")]
)
def test_dead_relu_units_named_with_their_fraction(dead, severity):
    model = lstm_classifier()
    with torch.no_grad():
        model.fc.weight.clamp_(-0.25, 0.25)
        model.fc.bias.fill_(5.0)  # |W h| < 4 as |h| < 1 and |W| <= 1/4: always active
        model.fc.bias[dead] = -5.0  # and these never
    report = diagnose(model, task(), CE, checks=["dead_relu"])
    (f,) = report.by_check("dead_relu")
    assert f.severity == severity and "'act'" in f.title
    assert f.numbers["dead_units"] == dead
    assert f.numbers["dead_fraction_init"] == pytest.approx(len(dead) / 16)
    assert f.numbers["dead_fraction_trained"] == pytest.approx(len(dead) / 16)
    assert f.numbers["units"] == 16 and f.numbers["values_per_unit"] == 32


def test_all_relu_units_dead_is_an_error_and_relu_rnn_is_checked():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 8, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        rnn.bias_ih_l0.fill_(-50.0)
    model = Classifier(rnn, hidden=8)
    report = diagnose(model, task(), CE, checks=["dead_relu"], steps=1)
    by_title = {f.title.split("'")[1]: f for f in report.by_check("dead_relu")}
    assert by_title["rnn"].severity == "error"
    assert by_title["rnn"].numbers["dead_fraction_init"] == 1.0
    assert by_title["rnn"].numbers["dead_units"] == list(range(8))


def test_dead_relu_after_conv_counts_channels_on_dim_1():
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv1d(3, 6, 3), nn.ReLU())
    with torch.no_grad():
        conv[0].bias[[1, 4]] = -100.0
    model = nn.Sequential(conv, nn.Flatten(), nn.LazyLinear(4))
    x, y = task()
    report = diagnose(model, (x.transpose(1, 2), y), CE, checks=["dead_relu"])
    (f,) = report.by_check("dead_relu")
    assert f.numbers["units"] == 6 and f.numbers["dead_units"] == [1, 4]


# --- gradients --------------------------------------------------------------------------------


class Leaky(nn.Module):
    """A classifier with an unused module and a branch whose gradient is multiplied by zero."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(3, 8, batch_first=True)
        self.unused = nn.Linear(8, 8)
        self.side = nn.Linear(3, 4)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1]) + 0.0 * self.side(x[:, -1])


def test_parameters_without_gradient():
    torch.manual_seed(0)
    report = diagnose(Leaky(), task(), CE, checks=["zero_grad"], steps=2)
    found = {f.title.split(" ")[3]: f for f in report.by_check("zero_grad")}
    assert found["no"].numbers["parameters"] == ["unused.weight", "unused.bias"]
    assert found["exactly"].numbers["parameters"] == ["side.weight", "side.bias"]


def test_detached_encoder_gets_no_gradient():
    class Detached(Classifier):
        def forward(self, x):
            return self.head(self.act(self.fc(self.rnn(x)[0][:, -1].detach())))

    torch.manual_seed(0)
    report = diagnose(Detached(nn.LSTM(3, 16, batch_first=True)), task(), CE, checks=["zero_grad"])
    (f,) = report.by_check("zero_grad")
    assert f.numbers["parameters"] == [
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "rnn.bias_ih_l0",
        "rnn.bias_hh_l0",
    ]


def test_nonfinite_output_and_gradient():
    class LogNet(Classifier):
        def forward(self, x):
            return torch.log(super().forward(x))  # log of negative logits: NaN

    model = LogNet(lstm_classifier().rnn)
    x, y = task()
    report = diagnose(model, (x, y), CE, checks=["nonfinite"], steps=1)
    (f,) = report.by_check("nonfinite")
    with torch.no_grad():
        expected = int(torch.isnan(model(x)).sum())
    assert f.severity == "error" and expected > 0
    assert f.numbers["first"] == {
        "phase": "initialisation",
        "what": "model output",
        "count": expected,
        "total": 32 * 4,
    }

    class SqrtNet(Classifier):
        def __init__(self):
            super().__init__(nn.LSTM(3, 16, batch_first=True))
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return super().forward(x) + torch.sqrt(self.p)  # finite output, d sqrt(0) = inf

    report = diagnose(SqrtNet(), task(), CE, checks=["nonfinite"], steps=1)
    (f,) = report.by_check("nonfinite")
    assert f.numbers["first"]["what"] == "gradient of p"
    assert f.numbers["first"]["phase"] == "initialisation"


# --- update-to-weight ratio and bias growth ---------------------------------------------------


def replay(model, batch, make_opt, steps):
    """The diagnostic training done by hand: norms and update norms of every parameter."""
    net = copy.deepcopy(model)
    opt = make_opt(net.parameters())
    norms = {n: [p.detach().norm().item()] for n, p in net.named_parameters()}
    updates = {n: [] for n in norms}
    for _ in range(steps):
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        opt.zero_grad()
        CE(net(batch[0]), batch[1]).backward()
        opt.step()
        for n, p in net.named_parameters():
            updates[n].append((p.detach() - before[n]).norm().item())
            norms[n].append(p.detach().norm().item())
    return norms, updates


@pytest.mark.parametrize(("lr", "word"), [(1e-7, "too small"), (1.0, "too large")])
def test_update_ratio_flags_learning_rate(lr, word):
    model, batch = lstm_classifier(), task()
    make_opt = lambda p: torch.optim.Adam(p, lr=lr)  # noqa: E731
    report = diagnose(model, batch, CE, make_opt, steps=3, checks=["update_ratio"])
    (f,) = report.by_check("update_ratio")
    assert word in f.title and f.numbers["learning_rates"] == [lr]
    norms, updates = replay(model, batch, make_opt, 3)
    for name, ratio in f.numbers["ratios"].items():
        per_step = torch.tensor(
            [u / w for u, w in zip(updates[name], norms[name][:-1], strict=True)]
        )
        assert ratio == pytest.approx(per_step.median().item(), rel=1e-4)
    assert set(f.numbers["ratios"]) == {
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
        "fc.weight",
        "head.weight",
    }


def test_update_ratio_flags_one_parameter_group():
    model = lstm_classifier()
    groups = lambda m: [  # noqa: E731
        {"params": [p for n, p in m.named_parameters() if n != "fc.weight"]},
        {"params": [m.fc.weight], "lr": 5.0},
    ]
    opt = torch.optim.Adam(groups(model), lr=1e-3)
    before = copy.deepcopy(opt.state_dict())
    report = diagnose(model, task(), CE, opt, steps=2, checks=["update_ratio"])
    (f,) = report.by_check("update_ratio")
    assert list(f.numbers["outliers"]) == ["fc.weight"]
    assert opt.state_dict() == before  # the caller's optimizer is untouched


def test_update_ratio_leaves_out_a_weight_matrix_that_starts_at_zero():
    """A zero-initialized output layer (the forecasting template's head) moves by a large part of
    its own tiny norm at first: no outlier, no remedy to change its initial scale."""
    model = lstm_classifier()
    torch.nn.init.zeros_(model.head.weight)
    report = diagnose(model, task(), CE, lambda p: torch.optim.Adam(p, lr=1e-3), steps=3, checks=["update_ratio"])
    assert report.by_check("update_ratio") == []


def test_bias_growing_faster_than_kernel():
    model, batch = lstm_classifier(), task()

    def make_opt(params):
        params = list(params)
        biases = [p for p in params if p.dim() == 1]
        return torch.optim.Adam(
            [{"params": [p for p in params if p.dim() > 1]}, {"params": biases, "lr": 0.3}], lr=1e-3
        )

    report = diagnose(model, batch, CE, make_opt, steps=4, checks=["bias_growth"])
    found = {f.title: f for f in report.by_check("bias_growth")}
    f = found["Biases of 'head' grow faster than its kernels"]
    norms, _ = replay(model, batch, make_opt, 4)
    b0, b4 = (norms["head.bias"][k] / 2 for k in (0, 4))  # rms of 4 values
    w0, w4 = (norms["head.weight"][k] / 8 for k in (0, 4))  # rms of 64 values
    assert f.numbers["bias_rms"] == pytest.approx([b0, b4], rel=1e-5)
    assert f.numbers["bias_rate_per_step"] == pytest.approx((b4 - b0) / (4 * max(b0, w0)), rel=1e-4)
    assert f.numbers["kernel_rate_per_step"] == pytest.approx((w4 - w0) / (4 * w0), abs=1e-6)
    assert any("'rnn' layer 0 forward" in t for t in found)


# --- gates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "kw"),
    [
        (nn.LSTM, {"num_layers": 2, "bidirectional": True}),
        (nn.LSTM, {"batch_first": True}),
        (nn.GRU, {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ],
)
def test_torch_gate_replay_matches_torch_output(module, kw):
    torch.manual_seed(0)
    layer = module(3, 5, **kw)
    x = torch.randn(4, 7, 3) if kw.get("batch_first") else torch.randn(7, 4, 3)
    gates, out = torch_gate_activations(layer, x)
    expected = layer(x)[0]
    expected = expected.transpose(0, 1) if kw.get("batch_first") else expected
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert gates[(0, "forward")].shape == (7, 4, (4 if module is nn.LSTM else 3) * 5)


def test_torch_gate_replay_matches_rnnlab_recording():
    torch.manual_seed(0)
    mine = rnnlab.GRU(3, 5, bidirectional=True)
    theirs = nn.GRU(3, 5, bidirectional=True)
    theirs.load_state_dict(mine.state_dict())
    x = torch.randn(6, 2, 3)
    with mine.recording_gates() as rec:
        mine(x)
    replayed, _ = torch_gate_activations(theirs, x)
    for key in rec:
        torch.testing.assert_close(replayed[key], rec[key], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["torch", "rnnlab"])
def test_input_gate_stuck_shut(kind):
    model = lstm_classifier(kind)
    with torch.no_grad():
        model.rnn.bias_ih_l0[:16] = -12.0  # i gate: sigmoid(-12 ± small) ≈ 6e-6
    report = diagnose(model, task(), CE, checks=["gates_stuck"], steps=2)
    (f,) = report.by_check("gates_stuck")
    assert f.severity == "warning" and "input gate shut for 100% of units" in f.title
    assert "'rnn' layer 0 forward" in f.title and "at initialisation" in f.title
    assert f.numbers["gates"]["i"]["fraction_units_shut"] == 1.0
    assert f.numbers["gates"]["i"]["mean"] < 1e-4
    assert f.numbers["gates"]["f"]["fraction_units_shut"] == 0.0


def test_forget_gate_open_is_info_and_so_is_gru_update_gate_open():
    model = lstm_classifier("rnnlab")
    with torch.no_grad():
        model.rnn.bias_ih_l0[16:32] = 12.0
    (f,) = diagnose(model, task(), CE, checks=["gates_stuck"]).by_check("gates_stuck")
    assert f.severity == "info" and "forget gate open" in f.title
    torch.manual_seed(0)
    gru = rnnlab.GRU(3, 16, batch_first=True)
    with torch.no_grad():
        gru.bias_hh_l0[16:32] = 12.0
    (f,) = diagnose(Classifier(gru), task(), CE, checks=["gates_stuck"]).by_check("gates_stuck")
    assert f.severity == "info" and "update gate open for 100% of units" in f.title  # (chrono init: long memory)


# --- the report and the contract ------------------------------------------------------------


def test_model_optimizer_and_random_state_untouched(tmp_path):
    model = lstm_classifier("rnnlab")
    opt = torch.optim.Adam(model.parameters(), lr=1.0)
    state = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    report = diagnose(model, task(), CE, opt, steps=3, run_dir=tmp_path)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert opt.state == {} and all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert report.by_check("update_ratio")  # lr=1.0 was used on the copy
    data = json.loads((tmp_path / "health.json").read_text())
    assert [Finding.from_dict(d) for d in data] == report.findings
    assert Report.read(tmp_path).findings == report.findings
    text = str(report)
    assert "[WARNING]" in text and "remedy:" in text


def test_optimizer_state_is_copied_with_the_model():
    model, batch = lstm_classifier(), task()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        CE(model(batch[0]), batch[1]).backward()
        opt.step()
    steps_before = [s["step"].item() for s in opt.state.values()]
    diagnose(model, batch, CE, opt, steps=2)
    assert [s["step"].item() for s in opt.state.values()] == steps_before


def test_bad_arguments_are_clear():
    model = lstm_classifier()
    with pytest.raises(KeyError, match="did you mean 'dead_relu'"):
        diagnose(model, task(), CE, checks=["dead_relus"])
    with pytest.raises(TypeError, match="batch: expected an input Tensor/PackedSequence or a pair"):
        diagnose(model, (*task(), 0), CE)
    with pytest.raises(ValueError, match="steps: expected an integer >= 0, got -1"):
        diagnose(model, task(), CE, steps=-1)
    with pytest.raises(ValueError, match="loss_fn: expected a scalar loss tensor"):
        diagnose(model, task(), lambda out, y: out)
    with pytest.raises(ValueError, match="severity"):
        Finding("x", "fatal", "t")


def test_nan_numbers_survive_health_json(tmp_path):
    f = Finding("nonfinite", "error", "t", {"loss": float("nan"), "ratio": float("inf")})
    Report([f]).write(tmp_path)
    (g,) = Report.read(tmp_path).findings
    assert math.isnan(g.numbers["loss"]) and g.numbers["ratio"] == math.inf
    assert json.loads(Report([f]).to_json())[0]["numbers"]["loss"] == "nan"


def test_steps_zero_checks_initialisation_only():
    report = diagnose(lstm_classifier(), task(), CE, steps=0)
    assert "update_ratio" in report.skipped and "bias_growth" in report.skipped
    assert len(report.losses) == 1


def test_gradient_through_time_check_on_given_magnitudes():
    # dLoss/dh_t = 0.5^(T-1-t): falls below 1e-3 of the last value 10 steps back.
    g = 0.5 ** torch.arange(19.0, -1.0, -1.0)
    obs = Observations(steps=0, through_time=[TimeGradient("rnn", g)])
    (f,) = CHECKS["gradient_through_time"](obs, Thresholds())
    assert "Vanishing" in f.title and f.numbers["reach"] == 10
    assert f.numbers["decay_rate"] == pytest.approx(0.5)
    obs.through_time = [TimeGradient("rnn", 1.5 ** torch.arange(19.0, -1.0, -1.0))]
    (f,) = CHECKS["gradient_through_time"](obs, Thresholds())
    assert "Exploding" in f.title and f.numbers["first_over_last"] == pytest.approx(1.5**19)
    obs.through_time = [TimeGradient("rnn", 0.9 ** torch.arange(19.0, -1.0, -1.0))]
    assert CHECKS["gradient_through_time"](obs, Thresholds()) == []


def linear_relu_rnn(a: float, layer: type = nn.RNN, T: int = 20) -> tuple[nn.Module, tuple]:
    """h_t = relu(a h_{t-1} + W x_t + b) with everything positive: a linear recurrence, so
    dLoss/dh_t = a^(T-1-t) for the loss sum(h_T)."""
    torch.manual_seed(0)
    rnn = layer(2, 4, nonlinearity="relu", batch_first=True)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(a * torch.eye(4))
        rnn.weight_ih_l0.uniform_(0.1, 0.2)
        rnn.bias_ih_l0.fill_(0.1)
        rnn.bias_hh_l0.zero_()
    return rnn, (torch.rand(8, T, 2), torch.zeros(8))


def last_sum(out, y):
    return out[0][:, -1].sum()


@pytest.mark.parametrize("layer", [nn.RNN, rnnlab.RNN])
def test_vanishing_gradient_through_time_on_a_real_layer(layer):
    rnn, batch = linear_relu_rnn(0.5, layer)
    report = diagnose(rnn, batch, last_sum, steps=0, checks=["gradient_through_time"])
    (f,) = report.by_check("gradient_through_time")
    assert f.title.startswith("Vanishing") and "layer 0 forward" in f.title
    assert f.numbers["reach"] == 10  # 0.5^10 < 1e-3 <= 0.5^9
    assert f.numbers["decay_rate"] == pytest.approx(0.5, rel=1e-6)
    assert f.numbers["first_over_last"] == pytest.approx(0.5**19, rel=1e-5)
    # the remedies' keywords are rnnlab's: a torch layer's finding says where they are
    assert ("The keywords are rnnlab.RNN's" in f.remedy) == (layer is nn.RNN)


def test_exploding_gradient_through_time_on_a_real_layer():
    rnn, batch = linear_relu_rnn(1.5)
    report = diagnose(rnn, batch, last_sum, steps=0, checks=["gradient_through_time"])
    (f,) = report.by_check("gradient_through_time")
    assert f.title.startswith("Exploding") and f.numbers["timesteps"] == 20
    assert f.numbers["first_over_last"] == pytest.approx(1.5**19, rel=1e-5)
    assert f.numbers["decay_rate"] == pytest.approx(1.5, rel=1e-6)
    rnn, batch = linear_relu_rnn(0.9)
    assert diagnose(rnn, batch, last_sum, steps=0, checks=["gradient_through_time"]).findings == []


def test_healthy_lstm_on_bundled_digits():
    datasets = pytest.importorskip("sklearn.datasets")  # the optional [datasets] extra

    digits = datasets.load_digits()
    x = torch.tensor(digits.images[:64] / 16.0, dtype=torch.float32)  # 8 rows as 8 timesteps
    y = torch.tensor(digits.target[:64])
    torch.manual_seed(0)
    model = Classifier(
        rnnlab.LSTM(8, 32, batch_first=True, unit_forget_bias=True), hidden=32, classes=10
    )
    report = diagnose(model, (x, y), CE, steps=5)
    assert report.ok and report.skipped == {}, str(report)


def test_report_text_lists_every_part():
    f = Finding(
        "dead_relu",
        "warning",
        "3 units dead",
        {"dead_fraction": 0.123456, "units": [1, 2]},
        "They never fire.",
        "Lower the lr.",
    )
    text = str(
        Report([f, Finding("nonfinite", "error", "NaN")], skipped={"gates_stuck": "no LSTM"})
    )
    assert text.splitlines()[0] == "Health check: 1 error, 1 warning"
    assert "[WARNING] 3 units dead  (dead_relu)" in text
    assert "numbers: dead_fraction=0.123, units=[1, 2]" in text
    assert "why:     They never fire." in text and "remedy:  Lower the lr." in text
    assert "gates_stuck: no LSTM" in text
    assert Report([f]).worst == "warning" and not Report([f]).ok
    with pytest.raises(KeyError, match="did you mean 'nonfinite'"):
        Report([f]).by_check("nonfinit")


def test_bidirectional_read_at_last_step_starves_the_reverse_direction():
    torch.manual_seed(0)
    model = Classifier(rnnlab.LSTM(3, 8, bidirectional=True, batch_first=True), hidden=16)
    report = diagnose(model, task(), CE, checks=["zero_grad"], steps=2)
    (f,) = report.by_check("zero_grad")
    assert f.numbers["parameters"] == ["rnn.weight_hh_l0_reverse"]  # h_0 = 0 at that step
    assert "bidirectional" in f.message and "h_n" in f.remedy
