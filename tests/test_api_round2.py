"""API defects, round 2: wrong results and unclear errors found by a user (one test per defect)."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnlab
from rnnlab import introspect, plots
from rnnlab.introspect.through_time import grad_through_time
from rnnlab.regularize import (
    ActivityRegularizer,
    RoleRule,
    WeightPenalty,
    param_groups,
    roles,
)
from rnnlab.tracker import Tracker


# ------------------------------------------------------------------ 1. AR/TAR, unbatched input
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layer", [rnnlab.LSTM, rnnlab.GRU, rnnlab.IndRNN])
def test_tar_unbatched_rnnlab_layer_differences_steps(layer, batch_first):
    torch.manual_seed(0)
    m = layer(3, 5, batch_first=batch_first)
    act = ActivityRegularizer(m, ar=1.0, tar=1.0)
    out, _ = m(torch.randn(7, 3))  # unbatched [T, D]
    act.penalty()
    assert act.last["tar"] == pytest.approx(float((out[1:] - out[:-1]).pow(2).mean()), rel=1e-5)
    assert act.last["ar"] == pytest.approx(float(out.pow(2).mean()), rel=1e-5)


# ------------------------------------------------------------------ 2. layer out of range
def test_grad_through_time_layer_out_of_range():
    torch.manual_seed(0)
    g = grad_through_time(nn.GRU(2, 3, num_layers=2), torch.randn(5, 2, 2), lambda out: out[0].sum())[""]
    np.testing.assert_array_equal(g.per_timestep(layer=-1), g.per_timestep(layer=1))
    msg = r"layer: expected 0\.\.1 \(or -2\.\.-1 counting from the top; the module has 2 layers\), got 2"
    for call in (lambda: g.per_timestep(layer=2), lambda: g.reach(layer=2), lambda: g.decay(layer=-3)):
        with pytest.raises(ValueError, match=msg.replace("got 2", "got -?[23]")):
            call()
    with pytest.raises(ValueError, match="got 4"):
        plots.plot_grad_through_time(g, layer=4)


# ------------------------------------------------------------------ 3. RoleRule matching nothing
def test_role_rule_matching_nothing_is_an_error():
    model = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"extra_rules\[0\] \(RoleRule\('recurrent', name='1\.wieght'\)\) "
                                         r"matches no parameter of Sequential: parameter names close"):
        roles(model, [RoleRule("recurrent", name=r"1.wieght")])
    with pytest.raises(ValueError, match="the model has no Conv1d module"):
        roles(model, [RoleRule("other", module_type=nn.Conv1d)])
    with pytest.raises(ValueError, match=r"role_rules\[0\]"):
        param_groups(model, role_rules=[RoleRule("other", name="nope")])
    with pytest.raises(ValueError, match=r"role_rules\[0\]"):
        WeightPenalty(model, l2={"kernel": 1.0}, role_rules=[RoleRule("other", name="nope")])


# ------------------------------------------------------------------ 4. LSTM projection weights
def test_lstm_projection_weight_is_recurrent():
    r = roles(nn.LSTM(3, 6, num_layers=2, proj_size=2, bidirectional=True))
    hr = {n: role for n, role in r.items() if "weight_hr" in n}
    assert hr == dict.fromkeys(
        ["weight_hr_l0", "weight_hr_l0_reverse", "weight_hr_l1", "weight_hr_l1_reverse"], "recurrent"
    )


# ------------------------------------------------------------------ 6. gate gradients before backward
def test_gate_gradients_before_backward():
    with pytest.raises(ValueError, match=r"model: no gradient has been computed .*call loss.backward\(\) first"):
        introspect.gate_gradients(nn.Sequential(nn.GRU(2, 3)))


# ------------------------------------------------------------------ 7. error messages
def test_activity_regularizer_single_module():
    m = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 1))
    act = ActivityRegularizer(m, ar=1.0, modules=m[0])
    out, _ = m[0](torch.randn(5, 2, 3))
    assert torch.isclose(act.penalty(), out.pow(2).mean())
    with pytest.raises(TypeError, match="modules: expected an nn.Module or a list of them, got str '0'"):
        ActivityRegularizer(m, ar=1.0, modules="0")


def test_diagnose_checks_string_and_loss_fn():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    batch = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    report = rnnlab.diagnose(net, batch, nn.CrossEntropyLoss(), checks="softmax_init", steps=0)
    assert "Health check" in str(report)
    with pytest.raises(TypeError, match="loss_fn: expected a callable .* got str 'ce'"):
        rnnlab.diagnose(net, batch, "ce")


def test_split_gates_unknown_kind():
    with pytest.raises(ValueError, match="kind: expected one of .* got 'lstn'; did you mean 'lstm'"):
        rnnlab.gates.split_gates(torch.zeros(8, 3), "lstn")


def test_gate_activations_of_recurrent_says_no_gates():
    model = nn.Sequential(rnnlab.Recurrent(rnnlab.cells.StateAsOutput(nn.GRUCell(3, 5))))
    with pytest.raises(ValueError, match=r"recurrent modules \['0'\] run their own cells .*whose gate activations are not recorded"):
        introspect.gate_activations(model, torch.randn(4, 2, 3))


# ------------------------------------------------------------------ 8, 10. norm plots
@pytest.fixture
def tracked_dir(tmp_path):
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2)  # 8 parameters
    opt = torch.optim.SGD(lstm.parameters(), lr=0.5)
    tracker = Tracker(tmp_path, lstm, weights_every=1, grads_every=1)
    for _ in range(3):
        loss = lstm(torch.randn(4, 2, 2))[0].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        tracker.step(loss)
        opt.step()
    return tmp_path


def test_norm_plots_refuse_misspelt_names(tracked_dir):
    with pytest.raises(ValueError, match="norm: expected one of .* got 'l3'; did you mean 'l2'"):
        plots.plot_norm_lines(tracked_dir, norm="l3")
    with pytest.raises(ValueError, match="stat: .* got 'l2_per_chanel'; did you mean 'l2_per_channel'"):
        plots.plot_norm_histograms(tracked_dir, stat="l2_per_chanel")
    # a valid name with nothing recorded keeps its one-panel figure
    assert len(plots.plot_norm_lines(tracked_dir, norm="l1").axes) == 1


def test_norm_histograms_wrap_into_rows(tracked_dir):
    fig = plots.plot_norm_histograms(tracked_dir, rows=3, ncols=3)
    # 8 parameters, 3 per row: 3 rows of blocks of 3 panels; the last block row has one unused block
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 9 * 3 and len(visible) == 8 * 3
    w, h = fig.get_size_inches()
    assert h > w  # wraps downwards instead of one column per parameter
    titles = [ax.get_title() for ax in visible if ax.get_title()]
    assert len(titles) == 8
    with pytest.raises(ValueError, match="ncols: expected an integer >= 1, got 0"):
        plots.plot_norm_histograms(tracked_dir, ncols=0)


# ------------------------------------------------------------------ 9. rnnlab.doctor
def test_doctor_is_an_attribute():
    assert rnnlab.doctor.diagnose is rnnlab.diagnose
    assert "doctor" in dir(rnnlab)
