"""A Keras porter's findings, round 4: the activity penalty's scale and module, an activity
regularizer that can watch nothing, Keras' weights in rnnlab's layers, the last valid step, the
constructor's Keras readings, the config's Keras keys, and the bias and initializer notes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.config import parse_config
from rnnlab.errors import ConfigError
from rnnlab.layers import load_keras_weights
from rnnlab.regularize import ActivityRegularizer, WeightPenalty

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _message(build) -> str:
    with pytest.raises((TypeError, ValueError)) as e:
        build()
    message = str(e.value)
    assert "\n" not in message, message
    return message


class _Net(nn.Module):
    """Keras: LSTM(H, return_sequences=True, activity_regularizer=...) → GRU(4) → Dense."""

    def __init__(self, H: int = 6) -> None:
        super().__init__()
        self.lstm = rnnlab.LSTM(3, H, batch_first=True)
        self.gru = rnnlab.GRU(H, 4, batch_first=True)
        self.dense = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        g, _ = self.gru(h)
        return self.dense(g[:, -1])


# ------------------------------------------------------------- 1. the activity penalty's scale


def test_the_activity_hint_converts_keras_l2_and_names_the_layer_that_carried_it():
    message = _message(lambda: rnnlab.LSTM(3, 6, activity_regularizer=1e-5))
    assert "modules=" in message and "λ·T·H" in message and "λ·B·T·H" in message
    torch.manual_seed(0)
    model, lam, B, T, H = _Net(), 1e-3, 5, 7, 6
    assert ActivityRegularizer(model, ar=1.0).hooked == ["gru"]  # (why the hint names modules=)
    x = torch.randn(B, T, 3)
    with torch.no_grad():
        h = model.lstm(x)[0].double()  # [B, T, H]
    tf_keras = lam * float(h.pow(2).sum()) / B  # tf.keras: λ·Σh² / batch
    keras3 = lam * float(h.pow(2).sum())  # Keras 3: λ·Σh²
    for ar, keras in ((lam * T * H, tf_keras), (lam * B * T * H, keras3)):
        act = ActivityRegularizer(model, ar=ar, modules=model.lstm)
        assert act.hooked == ["lstm"]
        model(x)
        assert float(act.penalty()) == pytest.approx(keras, rel=1e-5)
        act.remove()


def test_the_regularization_docs_keras_example_runs_and_holds():
    text = (DOCS / "regularization.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "tests/test_keras_porting_round4" in b]
    assert len(blocks) == 1
    namespace: dict = {}
    exec(blocks[0], namespace)  # its own assert compares with Keras' formula
    assert namespace["act"].hooked == ["lstm"]


# -------------------------------------------------- 2. an activity regularizer that watches nothing


def test_a_module_of_another_model_is_refused_in_one_line():
    model, other = _Net(), _Net()
    message = _message(lambda: ActivityRegularizer(model, ar=1.0, modules=other.lstm))
    assert message.startswith("modules: expected modules of the model _Net, got a LSTM")
    assert "['lstm', 'gru']" in message
    assert ActivityRegularizer(model, ar=1.0, modules=[model.lstm, model.gru]).hooked == ["lstm", "gru"]


def test_penalty_with_nothing_collected_from_modules_that_never_run_is_an_error():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3)
    model = _Net()
    act = ActivityRegularizer(model, ar=1.0, modules=model.lstm)
    trains = _Net()  # the model that actually trains: another one (a copy, one built again)
    trains(x)
    assert float(act.penalty()) == 0.0  # one call that finds nothing only clears, as before a step
    trains(x)
    with pytest.raises(RuntimeError, match=r"^penalty: .*\['lstm'\].*twice in a row"):
        act.penalty()


def test_penalty_after_a_model_forward_that_skipped_the_hooked_module_is_an_error():
    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = rnnlab.GRU(3, 4), rnnlab.GRU(3, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)[0]

    model = Skips()
    act = ActivityRegularizer(model, ar=1.0, modules=model.unused)
    model(torch.randn(5, 2, 3))
    with pytest.raises(RuntimeError, match=r"^penalty: .*Skips ran a forward pass without them"):
        act.penalty()


def test_clearing_steps_evaluation_and_training_steps_are_no_error():
    torch.manual_seed(0)
    model, x = _Net(), torch.randn(2, 5, 3)
    act = ActivityRegularizer(model, ar=2.0, modules=model.lstm)
    for _ in range(3):  # rnnlab's trainer: clear, forward, penalty
        assert float(act.penalty()) == 0.0
        model(x)
        with torch.no_grad():
            h = model.lstm(x)[0]
        assert float(act.penalty()) == pytest.approx(2.0 * float(h.pow(2).mean()), rel=1e-6)
    model.eval()
    for _ in range(3):  # evaluation: the module runs, nothing is collected, 0 is right
        model(x)
        assert float(act.penalty()) == 0.0
    act.remove()
    assert float(act.penalty()) == float(act.penalty()) == 0.0  # removed: nothing expected


# ------------------------------------------------------------------------ 3. Keras' weights


def _sig(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _keras_lstm(x, K, R, b):
    """Keras' LSTM (gates i, f, c, o) over x [B, T, C]: every step's h."""
    h = np.zeros((x.shape[0], R.shape[0]))
    c, out = np.zeros_like(h), []
    for t in range(x.shape[1]):
        i, f, cc, o = np.split(x[:, t] @ K + h @ R + (0 if b is None else b), 4, axis=1)
        c = _sig(f) * c + _sig(i) * np.tanh(cc)
        h = _sig(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def _keras_gru(x, K, R, b):
    """Keras' GRU, reset_after=True (gates z, r, h; bias [input; recurrent])."""
    h, out = np.zeros((x.shape[0], R.shape[0])), []
    bx, bh = (0, 0) if b is None else (b[0], b[1])
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ K + bx, 3, 1)
        hz, hr, hh = np.split(h @ R + bh, 3, 1)
        z, r = _sig(xz + hz), _sig(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        out.append(h)
    return np.stack(out, 1)


def _keras_simple(x, K, R, b):
    h, out = np.zeros((x.shape[0], R.shape[0])), []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ K + h @ R + b)
        out.append(h)
    return np.stack(out, 1)


def _weights(rng, kind: str, C: int, H: int, use_bias: bool = True):
    G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    bias_shape = (2, G * H) if kind == "gru" else (G * H,)
    return (0.5 * rng.normal(size=(C, G * H)), 0.5 * rng.normal(size=(H, G * H)),
            0.5 * rng.normal(size=bias_shape) if use_bias else None)


@pytest.mark.parametrize(("kind", "cls", "keras"), [
    ("lstm", rnnlab.LSTM, _keras_lstm), ("gru", rnnlab.GRU, _keras_gru), ("rnn", rnnlab.RNN, _keras_simple),
    ("gru", nn.GRU, _keras_gru),
])
def test_loaded_keras_weights_compute_keras_equations(kind, cls, keras):
    rng = np.random.default_rng(0)
    C, H, x = 3, 5, rng.normal(size=(2, 7, 3))
    K, R, b = _weights(rng, kind, C, H)
    layer = load_keras_weights(cls(C, H, batch_first=True, dtype=torch.float64), K, R, b)
    out, _ = layer(torch.from_numpy(x))
    np.testing.assert_allclose(out.detach().numpy(), keras(x, K, R, b), atol=1e-12)
    if kind != "rnn":  # without use_bias
        K, R, _ = _weights(rng, kind, C, H, use_bias=False)
        layer = load_keras_weights(cls(C, H, bias=False, batch_first=True, dtype=torch.float64), K, R)
        np.testing.assert_allclose(layer(torch.from_numpy(x))[0].detach().numpy(), keras(x, K, R, None), atol=1e-12)


def test_a_stacked_bidirectional_keras_model_loads_layer_by_layer_and_direction_by_direction():
    rng = np.random.default_rng(1)
    C, H, x = 3, 4, rng.normal(size=(2, 6, 3))
    layer = rnnlab.GRU(C, H, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    ref = x
    for index in range(2):  # Keras: Bidirectional(GRU(H, return_sequences=True)) twice
        fw, bw = _weights(rng, "gru", ref.shape[-1], H), _weights(rng, "gru", ref.shape[-1], H)
        load_keras_weights(layer, *fw, layer_index=index)
        load_keras_weights(layer, *bw, layer_index=index, reverse=True)
        ref = np.concatenate([_keras_gru(ref, *fw), _keras_gru(ref[:, ::-1], *bw)[:, ::-1]], -1)
    np.testing.assert_allclose(layer(torch.from_numpy(x))[0].detach().numpy(), ref, atol=1e-12)


def test_float32_keras_weights_load_to_about_1e_7():
    rng = np.random.default_rng(2)
    K, R, b = (w.astype(np.float32) for w in _weights(rng, "lstm", 3, 5))
    x = rng.normal(size=(2, 7, 3)).astype(np.float32)
    out = load_keras_weights(rnnlab.LSTM(3, 5, batch_first=True), K, R, b)(torch.from_numpy(x))[0]
    assert np.abs(out.detach().numpy() - _keras_lstm(x.astype(np.float64), K, R, b)).max() < 1e-6


@pytest.mark.parametrize(("call", "says"), [
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K.T, R, b),
     r"^kernel: expected shape \(3, 20\) .*got \(20, 3\): torch's layout \(weight_ih\)"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 8), K, R, b),
     r"^kernel: expected shape \(3, 32\) .*the Keras layer has units=5, this layer hidden_size=8$"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K, R[:, :15], b),
     r"^recurrent_kernel: expected shape \(5, 20\)"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K, R, b[:4]), r"^bias: expected shape \(20,\)"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K, R), r"^bias: expected Keras' bias .*got None"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5, bias=False), K, R, b), r"^bias: expected None"),
    (lambda K, R, b: load_keras_weights(rnnlab.GRU(3, 5), K[:, :15], R[:, :15], b[:15]),
     r"^bias: expected shape \(2, 15\) .*got \(15,\): Keras' GRU with reset_after=False"),
    (lambda K, R, b: load_keras_weights(rnnlab.GRU(3, 5), K[:, :15], R[:, :15], None, reset_after=False),
     r"^reset_after: expected True, got False"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K, R, b, layer_index=1),
     r"^layer_index: expected 0 … 0 \(the layer has num_layers=1\), got 1$"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), K, R, b, reverse=True), r"^reverse: expected False"),
    (lambda K, R, b: load_keras_weights(rnnlab.IndRNN(3, 5), K, R, b), r"^layer: expected an rnnlab.LSTM"),
    (lambda K, R, b: load_keras_weights(rnnlab.LSTM(3, 5), "kernel", R, b), r"^kernel: expected an array"),
])
def test_keras_weights_of_the_wrong_shape_or_kind_are_one_line_errors(call, says):
    K, R, b = _weights(np.random.default_rng(3), "lstm", 3, 5)
    assert re.search(says, _message(lambda: call(K, R, b)))


# ---------------------------------------------------------------------- 4. the last valid step


def test_the_return_sequences_hint_names_the_last_valid_step_and_it_is_that_step():
    message = _message(lambda: rnnlab.LSTM(3, 4, return_sequences=False))
    assert "h[-1]" in message and "lengths=" in message and "torch.cat((h[-2], h[-1]), -1)" in message
    torch.manual_seed(0)
    x, lengths = torch.randn(2, 6, 3), torch.tensor([6, 3])
    out, (h, _) = rnnlab.LSTM(3, 4, batch_first=True)(x, lengths=lengths)
    torch.testing.assert_close(h[-1], torch.stack([out[b, n - 1] for b, n in enumerate(lengths.tolist())]))
    assert not torch.allclose(out[1, -1], h[-1][1])  # out[:, -1] is padding there
    out, (h, _) = rnnlab.LSTM(3, 4, batch_first=True, bidirectional=True)(x)
    keras_last = torch.cat((out[:, -1, :4], out[:, 0, 4:]), -1)  # Keras' Bidirectional, return_sequences=False
    torch.testing.assert_close(torch.cat((h[-2], h[-1]), -1), keras_last)


# ------------------------------------------------------------ 5. the constructor's Keras readings


@pytest.mark.parametrize("cls", [rnnlab.LSTM, rnnlab.GRU, rnnlab.IndRNN])
def test_units_without_input_size_gets_the_keras_hint_and_a_bare_size_both_readings(cls):
    name = cls.__name__
    assert _message(lambda: cls(units=64)).startswith("units: a Keras keyword")
    assert _message(lambda: cls(hidden_size=64)).startswith("input_size: required, the features per step")
    message = _message(lambda: cls(32))
    assert f"e.g. {name}(32, 64) for 32 features per step" in message
    assert f"{name}(input_size, 32) if 32 is the state size (Keras' units)" in message


@pytest.mark.parametrize("keyword", ["reset_after", "zero_output_for_mask", "input_shape", "unroll", "name", "seed",
                                     "kernel_initializer", "recurrent_initializer", "mask_zero"])
def test_keras_keywords_get_rnnlabs_way_not_a_lookalike(keyword):
    for build in (lambda: rnnlab.GRU(3, 5, **{keyword: True}), lambda: rnnlab.LayerOptions(**{keyword: True})):
        message = _message(build)
        assert message.startswith(f"{keyword}: a Keras keyword") and "did you mean" not in message


def test_a_dtype_named_by_a_string_is_a_one_line_error_saying_the_torch_dtype():
    assert _message(lambda: rnnlab.LSTM(3, 4, dtype="float32")) == (
        "dtype: expected a torch.dtype or None, got str 'float32'; write dtype=torch.float32")
    assert rnnlab.LSTM(3, 4, dtype=torch.float64).weight_ih_l0.dtype == torch.float64


# ---------------------------------------------------------------------- 6. the config's Keras keys


@pytest.mark.parametrize(("key", "says"), [
    ("kernel_regularizer = 1e-4", "[[training.decay_rules]] entry with role = \"kernel\""),
    ("recurrent_regularizer = 1e-4", "role = \"recurrent\""),
    ("activity_regularizer = 1e-5", "training.ar"),
    ("units = 64", "model.hidden_size"),
    ("return_sequences = true", "model.head.pooling"),
])
def test_keras_keys_in_the_config_point_to_the_config_keys(key, says):
    with pytest.raises(ConfigError) as e:
        parse_config(f'[data]\ndataset = "GunPoint"\n[model]\n{key}')
    message = str(e.value)
    assert f"unknown key 'model.{key.split()[0]}'; a Keras keyword" in message and says in message
    assert "did you mean" not in message


# ------------------------------------------------------------- 7. the bias and initializer notes


def test_keras_one_bias_against_rnnlabs_two_as_docs_say():
    rng = np.random.default_rng(4)
    lam = 1e-2
    K, R, b = _weights(rng, "gru", 3, 5)  # a GRU's Keras bias is both rows: rnnlab's bias role exactly
    gru = load_keras_weights(rnnlab.GRU(3, 5, dtype=torch.float64), K, R, b)
    assert float(WeightPenalty(gru, l2={"bias": lam})()) == pytest.approx(lam * (b ** 2).sum(), rel=1e-12)
    K, R, b = _weights(rng, "lstm", 3, 5)
    torch.manual_seed(0)
    free = load_keras_weights(rnnlab.LSTM(3, 5, dtype=torch.float64), K, R, b)
    held = load_keras_weights(rnnlab.LSTM(3, 5, dtype=torch.float64), K, R, b)
    held.bias_hh_l0.requires_grad_(False)  # (docs/regularization.md §1: Keras' one bias is bias_ih)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    for layer in (free, held):
        opt = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.5)
        for _ in range(5):
            opt.zero_grad()
            layer(x)[0].sum().backward()
            opt.step()
    for layer, same in ((free, False), (held, True)):
        ours = float(WeightPenalty(layer, l2={"bias": lam})())
        keras = lam * float((layer.bias_ih_l0 + layer.bias_hh_l0).pow(2).sum())
        assert (ours == pytest.approx(keras, rel=1e-12)) is same


def test_initializers_are_per_gate_block_and_torch_init_gives_keras_whole_matrix():
    torch.manual_seed(0)
    C, H = 3, 64
    layer = rnnlab.LSTM(C, H, kernel_init="glorot_uniform", recurrent_init="orthogonal")
    W, U = layer.weight_ih_l0.detach(), layer.weight_hh_l0.detach()
    assert W.abs().max() > (6 / (C + 4 * H)) ** 0.5  # past Keras' whole-kernel limit: per block
    assert W.abs().max() <= (6 / (C + H)) ** 0.5
    torch.testing.assert_close(U.T @ U, 4 * torch.eye(H), atol=1e-4, rtol=0)  # each of 4 blocks orthogonal
    nn.init.xavier_uniform_(layer.weight_ih_l0)
    nn.init.orthogonal_(layer.weight_hh_l0)  # Keras' own, as FROM_KERAS and docs/layers.md say
    assert layer.weight_ih_l0.abs().max() <= (6 / (C + 4 * H)) ** 0.5
    U = layer.weight_hh_l0.detach()
    torch.testing.assert_close(U.T @ U, torch.eye(H), atol=1e-4, rtol=0)
    hints = rnnlab.layers.options.FROM_KERAS
    assert "torch.nn.init.xavier_uniform_(layer.weight_ih_l0)" in hints["kernel_initializer"]
    assert "torch.nn.init.orthogonal_(layer.weight_hh_l0)" in hints["recurrent_initializer"]
