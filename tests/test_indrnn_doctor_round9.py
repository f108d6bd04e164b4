"""Round 9 (tester-gru): remedies that fit the layer, and a gradient-through-time picture that says
what its zeros and its underflowed values are.

1. An IndRNN's vanishing-gradient remedy named an upper bound the config already had, rounded it to
   4 significant digits (1.001 for T = 1000: 1.001^1000 = 2.72, not 2; 1.0 for T = 5000), told a
   Python user to "start them near 1" with nothing that does it, and put "use an LSTM/GRU" first.
2. A GRU whose update gate was opened on purpose (chrono initialisation: z near 1 keeps the state)
   got a warning where an LSTM's open forget gate gets an info; an LSTM whose forget gate's bias is
   high already was told to set unit_forget_bias.
3. The heatmap drew channels whose gradient is exactly 0 blank, and the mean panel drew float32's
   subnormal floor (3.5e-46 for 620 steps) as if measured.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import tomllib
import torch
from matplotlib.colors import to_rgba

import rnnlab
from rnnlab.doctor import diagnose
from rnnlab.doctor.checks import KeySpelling, _vanishing_remedy
from rnnlab.introspect import grad_through_time
from rnnlab.plots.through_time import ZERO_COLOR, plot_grad_through_time

CE = torch.nn.functional.cross_entropy
ESTIMATOR = KeySpelling({"model.layer": "layer"})


class _Net(torch.nn.Module):
    def __init__(self, rnn: torch.nn.Module, hidden: int) -> None:
        super().__init__()
        self.rnn, self.head = rnn, torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def _options(text: str) -> list[str]:
    """The remedy's options, in order (split where the list joins them)."""
    return [o for o in re.split(r", or |, (?=[a-z])", text.rstrip(".")) if o]


# --- 1. IndRNN's vanishing-gradient remedy ------------------------------------------------------


@pytest.mark.parametrize("steps", [1000, 5000, 100_000])
def test_the_bound_a_config_is_told_to_set_is_2_to_the_1_over_T_not_a_rounding_of_it(steps):
    for config in (True, ESTIMATOR):
        text = _vanishing_remedy(rnnlab.IndRNN(1, 4), config=config, steps=steps)
        if config is True:
            line = re.search(r'model\.recurrent_constraint = \{[^}]*\}', text)[0]
            value = tomllib.loads(line)["model"]["recurrent_constraint"]["value"]
        else:
            value = float(re.search(r'"value": ([0-9.e+-]+)', text)[1])
        # (before: 1.001 for T = 1000, whose T-th power is 2.72; 1.0 for T = 5000)
        assert value ** steps == pytest.approx(2.0, rel=1e-9), (steps, value, text)
        assert value == 2.0 ** (1.0 / steps)


def test_a_config_that_has_its_bound_is_not_told_to_set_it_and_what_cures_vanishing_comes_first():
    bounded = rnnlab.IndRNN(1, 4, recurrent_constraint=rnnlab.IndRNN.recurrent_bound(2.0, 1000))
    text = _vanishing_remedy(bounded, config=True, steps=1000)
    assert "recurrent_constraint" not in text and "max_norm" not in text, text
    options = _options(text)
    # shorter sequences cure it in the layer the user has; another layer after that
    assert options[0].startswith("Shorten the sequences"), text
    assert "rather than an IndRNN" in options[-1], text
    # (a config has no key that starts u near 1: not promised)
    assert "near 1" not in text and "start" not in text.lower(), text


def test_layer_norm_is_not_offered_to_an_indrnn_whose_reach_it_shortens():
    # measured: an IndRNN's gradient reaches far less with layer norm or recurrent batch norm
    torch.manual_seed(2)
    x = torch.randn(16, 300, 2)
    reach = {}
    for kw in ({}, {"layer_norm": True}):
        torch.manual_seed(2)
        layer = rnnlab.IndRNN(2, 16, batch_first=True, **kw)
        with torch.no_grad():
            layer.weight_hh_l0.uniform_(0.5 ** (1 / 300), 2 ** (1 / 300))
        g = grad_through_time(layer, x, lambda out: out[0][:, -1].sum())
        reach[bool(kw)] = next(iter(g.values())).reach()
    assert reach[True] < reach[False] / 2, reach
    for config in (False, True):
        text = _vanishing_remedy(rnnlab.IndRNN(1, 4), config=config, steps=300)
        assert "layer_norm" not in text and "layer norm" not in text, text


def test_a_python_users_remedy_starts_u_near_1_with_code_that_runs_and_cures_it():
    T = 300
    torch.manual_seed(2)
    layer, head = rnnlab.IndRNN(2, 16, batch_first=True), torch.nn.Linear(16, 2)
    x, y = torch.randn(16, T, 2), torch.zeros(16, dtype=torch.long)

    def reach() -> int:
        return next(iter(grad_through_time(layer, x, lambda out: CE(head(out[0][:, -1]), y)).values())).reach()

    before = reach()
    text = _vanishing_remedy(layer, config=False, steps=T)
    assert _options(text)[0].startswith("Start the recurrent weights u near 1"), text
    assert "rather than an IndRNN" in _options(text)[-1], text
    code = re.search(r"`([^`]*)`", text)[1]
    exec(code, {"torch": torch, "layer": layer})  # (the remedy's own words, run)
    u = layer.weight_hh_l0.detach()
    assert float(u.min()) >= 0.5 ** (1 / T) and float(u.max()) <= 2 ** (1 / T)
    assert before < T and reach() == T  # (the gradient now reaches every step)
    # no bound set: offered with it, as the constructor's keyword; set: not offered again
    assert f"recurrent_constraint=IndRNN.recurrent_bound(2.0, {T})" in text
    bounded = rnnlab.IndRNN(2, 16, recurrent_constraint=rnnlab.IndRNN.recurrent_bound(2.0, T))
    assert "recurrent_constraint" not in _vanishing_remedy(bounded, config=False, steps=T)


def test_the_python_code_names_every_recurrent_weight_of_a_deeper_layer():
    layer = rnnlab.IndRNN(2, 4, num_layers=2, bidirectional=True, batch_first=True)
    text = _vanishing_remedy(layer, config=False, steps=50)
    code = re.search(r"`([^`]*)`", text)[1]
    exec(code, {"torch": torch, "layer": layer})
    for name, p in layer.named_parameters():
        if name.startswith("weight_hh"):
            assert float(p.min()) >= 0.5 ** (1 / 50), name


# --- 2. the gate that keeps the state, open -------------------------------------------------------


def _chrono(layer: torch.nn.Module, rows: slice, T: int = 300) -> None:
    """Tallec & Ollivier (2018): the keep gate's bias log(U(1, T - 1))."""
    with torch.no_grad():
        layer.bias_ih_l0[rows] = torch.log(torch.empty(rows.stop - rows.start).uniform_(1, T - 1))
        layer.bias_hh_l0[rows] = 0


def test_a_grus_update_gate_opened_on_purpose_is_an_info_as_an_lstms_forget_gate_is():
    torch.manual_seed(0)
    x, y = torch.randn(16, 60, 2), torch.randint(0, 2, (16,))
    gru, lstm = rnnlab.GRU(2, 16, batch_first=True), rnnlab.LSTM(2, 16, batch_first=True)
    _chrono(gru, slice(16, 32))  # z: r, z, n
    _chrono(lstm, slice(16, 32))  # f: i, f, g, o
    found = {}
    for name, layer in (("gru", gru), ("lstm", lstm)):
        (found[name],) = diagnose(_Net(layer, 16), (x, y), CE, checks=["gates_stuck"]).by_check("gates_stuck")
    assert "update gate open" in found["gru"].title and "forget gate open" in found["lstm"].title
    for f in found.values():
        assert f.severity == "info", f.title
        assert "often intended" in f.message and "chrono" in f.message, f.message
        # what to do first: nothing, where it was meant
        assert f.remedy.startswith("Nothing, where the gate was opened on purpose"), f.remedy
    assert "an open update gate freezes the state" not in found["gru"].message


def test_a_grus_update_gate_shut_is_still_a_warning():
    torch.manual_seed(0)
    gru = rnnlab.GRU(2, 16, batch_first=True)
    with torch.no_grad():
        gru.bias_ih_l0[16:32] = -12.0  # z shut: the state is replaced at every step
    (f,) = diagnose(_Net(gru, 16), (torch.randn(8, 20, 2), torch.randint(0, 2, (8,))), CE,
                    checks=["gates_stuck"]).by_check("gates_stuck")
    assert f.severity == "warning" and "update gate shut" in f.title
    assert f.remedy.startswith("Check the gate biases"), f.remedy


def test_an_lstm_whose_forget_gate_keeps_already_is_not_told_to_set_unit_forget_bias():
    torch.manual_seed(0)
    chrono = rnnlab.LSTM(2, 8)
    _chrono(chrono, slice(8, 16))
    for layer in (chrono, rnnlab.LSTM(2, 8, unit_forget_bias=True)):
        for config in (False, True):
            text = _vanishing_remedy(layer, config=config, steps=300)
            assert "unit_forget_bias" not in text, text
    # a default LSTM (forget gate's bias about 0) still gets it
    assert _vanishing_remedy(rnnlab.LSTM(2, 8), steps=300).startswith("Set unit_forget_bias=True")


# --- 3. the picture: zeros and underflow ------------------------------------------------------------


def _float32_curve() -> np.ndarray:
    """[T, H] as grad_through_time stores a float32 layer's gradient: float32 values in float64,
    the mean at the first steps in float32's subnormal range, channel 1 exactly 0 (a unit off)."""
    T = 60
    back = np.arange(T - 1, -1, -1.0)[:, None]
    g = (0.2 ** back * np.array([1.0, 1.0, 0.5, 2.0])).astype(np.float32)
    g[:, 1] = 0.0
    g[-1, 1] = 0.3
    return g.astype(np.float64)


def test_zeros_are_drawn_in_their_own_colour_named_in_the_caption():
    arr = _float32_curve()
    fig = plot_grad_through_time(arr)
    ax = fig.axes[0]
    overlay = [im for im in ax.images if im.get_label() == "exactly 0"]
    assert len(overlay) == 1
    drawn = np.ma.getmaskarray(overlay[0].get_array()) == False  # noqa: E712
    assert (drawn == (arr.T == 0)).all()  # exactly the zero cells, nothing else
    rgba = overlay[0].to_rgba(overlay[0].get_array())
    assert np.allclose(rgba[drawn], to_rgba(ZERO_COLOR))
    assert "exactly 0" in ax.get_title() and "grey" in ax.get_title(), ax.get_title()
    # the colour is none of the colour scale's
    main = ax.images[0]
    scale = main.cmap(np.linspace(0, 1, 256))
    assert np.abs(scale[:, :3] - np.array(to_rgba(ZERO_COLOR))[:3]).sum(axis=1).min() > 0.3


def test_the_mean_is_not_drawn_where_it_is_below_float32s_range():
    arr = _float32_curve()
    tiny = float(np.finfo(np.float32).tiny)
    per_t = arr.mean(axis=1)
    under = (per_t > 0) & (per_t < tiny)
    assert under.sum() >= 5  # (the case: float32 subnormals, as the tester's 3.5e-46)
    fig = plot_grad_through_time(arr)
    line = next(ln for ln in fig.axes[1].lines if ln.get_label() == "mean |grad|")
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.isnan(y[under]).all() and np.isfinite(y[~under & (per_t > 0)]).all()
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    said = next(t for t in labels if "float32" in t)
    assert f"{int(under.sum())} steps" in said and "underflow" in said, labels
    # where float32 stops, a line says so
    assert any(ln.get_label() == said and math.isclose(ln.get_ydata()[0], tiny) for ln in fig.axes[1].lines)


def test_the_same_small_values_measured_in_float64_are_drawn():
    arr = _float32_curve() * (1 + 1e-12)  # (no longer float32 numbers: measured in float64)
    fig = plot_grad_through_time(arr)
    line = next(ln for ln in fig.axes[1].lines if ln.get_label() == "mean |grad|")
    per_t = arr.mean(axis=1)
    assert np.isfinite(np.asarray(line.get_ydata(), dtype=float)[per_t > 0]).all()
    assert not any("float32" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
