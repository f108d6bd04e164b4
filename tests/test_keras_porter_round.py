"""A Keras porter's smaller defects: Keras keywords, a penalty after the weights are replaced,
param groups given to two optimizers, a module type of the same name, and what the report says
of gradient norms recorded in a loop that clips before tracker.step."""

from __future__ import annotations

import copy
import inspect

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.regularize import Rule, WeightPenalty, param_groups
from rnnlab.report import _more_lines, _weight_norms
from rnnlab.rundir import RunDir
from rnnlab.tracker import Tracker, read_tracked

# -------------------------------------------------------------------------- 1. Keras keywords


@pytest.mark.parametrize(("keyword", "value", "says"), [
    ("kernel_regularizer", "l2", "rnnlab.WeightPenalty(model, l2={'kernel'"),
    ("recurrent_regularizer", 1e-4, "rnnlab.WeightPenalty(model, l2={'recurrent'"),
    ("bias_regularizer", 1e-4, "rnnlab.WeightPenalty(model, l2={'bias'"),
    ("activity_regularizer", 1e-4, "rnnlab.ActivityRegularizer(model"),
    ("return_sequences", True, "out[:, -1]"),
    ("go_backwards", True, "bidirectional=True"),
    ("stateful", True, "layer(x2, state)"),
    ("units", 5, "hidden_size"),
])
def test_a_keras_keyword_names_rnnlabs_equivalent(keyword, value, says):
    for build in (lambda: rnnlab.LSTM(3, 5, **{keyword: value}), lambda: rnnlab.LayerOptions(**{keyword: value})):
        with pytest.raises(TypeError) as e:
            build()
        message = str(e.value)
        assert message.startswith(f"{keyword}: a Keras keyword"), message
        assert says in message and "\n" not in message
        assert "did you mean" not in message  # (kernel_regularizer was sent to kernel_constraint)


def test_the_names_the_keras_hints_give_exist():
    from rnnlab.layers.options import FROM_KERAS

    assert isinstance(rnnlab.WeightPenalty, type) and isinstance(rnnlab.ActivityRegularizer, type)
    model = rnnlab.LSTM(3, 5)
    for role in ("kernel", "recurrent", "bias"):  # the roles the regularizer hints name
        assert f"{role!r}" in FROM_KERAS[f"{role}_regularizer"]
        WeightPenalty(model, l2={role: 1e-4})
    assert "hidden_size" in inspect.signature(rnnlab.LSTM).parameters and "hidden_size" in FROM_KERAS["units"]
    assert "bidirectional" in rnnlab.LayerOptions.names() and "bidirectional=True" in FROM_KERAS["go_backwards"]


# ------------------------------------------------------------ 2. a penalty after load_state_dict


def test_weight_penalty_follows_parameters_replaced_by_load_state_dict_assign():
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4)
    wp = WeightPenalty(m, l2={"recurrent": 1.0})
    m.load_state_dict({k: 2 * v.clone() for k, v in m.state_dict().items()}, assign=True)
    penalty = wp()
    assert float(penalty) == pytest.approx(float(m.weight_hh_l0.detach().pow(2).sum()), rel=1e-6)
    penalty.backward()
    assert m.weight_hh_l0.grad is not None
    torch.testing.assert_close(m.weight_hh_l0.grad, 2 * m.weight_hh_l0.detach())


def test_weight_penalty_on_a_parameter_the_model_lost_says_to_build_it_again():
    m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    wp = WeightPenalty(m, l2={"kernel": 1.0})
    del m[1].weight
    with pytest.raises(ValueError, match=r"no longer has the parameter\(s\) \['1.weight'\].*build the penalty again"):
        wp()


# ------------------------------------------------------ 3. one param_groups() for two optimizers


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnlab.LSTM(3, 4, layer_norm=True)
        self.head = nn.Linear(4, 2)


def test_param_groups_given_to_a_second_torch_optimizer_is_an_error_not_the_first_ones_lr():
    model = _Net()
    groups = param_groups(model, [Rule(module_type=nn.Linear, lr_mult=0.1)])
    first = torch.optim.SGD(groups, lr=1.0)
    with pytest.raises(ValueError, match=r"^params: .*lr=0\.1.*call param_groups\(\) again for each optimizer$"):
        torch.optim.SGD(groups, lr=0.01)
    assert [g["lr"] for g in first.param_groups] == pytest.approx([0.1, 1.0, 1.0])
    second = torch.optim.SGD(param_groups(model, [Rule(module_type=nn.Linear, lr_mult=0.1)]), lr=0.01)
    assert [g["lr"] for g in second.param_groups] == pytest.approx([0.001, 0.01, 0.01])
    # a copy of an optimizer (its groups filled) is still made, and keeps its lrs; copies of the
    # groups are no optimizer's (ZeroRedundancyOptimizer hands such copies to its local optimizer)
    assert [g["lr"] for g in copy.deepcopy(first).param_groups] == pytest.approx([0.1, 1.0, 1.0])
    local = torch.optim.SGD([copy.copy(g) for g in first.param_groups], lr=1.0)
    assert [g["lr"] for g in local.param_groups] == pytest.approx([0.1, 1.0, 1.0])
    first.load_state_dict(copy.deepcopy(first.state_dict()))


# ------------------------------------------------------------ 4. module_type of the same name


def test_rule_with_torch_lstm_on_rnnlab_layers_lists_module_types_and_says_why():
    with pytest.raises(ValueError) as e:
        param_groups(_Net(), [Rule(module_type=nn.LSTM, weight_decay=0.1)])
    message = str(e.value)
    assert "the model's module types are [" in message
    assert "'rnnlab.LSTM'" in message and "'torch.nn.Linear'" in message
    assert "rnnlab.LSTM is not a torch.nn.LSTM" in message and "module_type=rnnlab.LSTM" in message


# ----------------------------------------------- 5. what the report says of the gradient norms


def _own_loop_run(root, clip: float | None) -> RunDir:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x, y = 10 * torch.randn(64, 3), 10 * torch.randn(64, 1)  # large gradients: a clip at 1e-3 always bites
    with Tracker(root, model, weights_every=1, grads_every=1) as tracker:
        for _ in range(20):
            opt.zero_grad()
            loss = (model(x) - y).pow(2).mean()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            tracker.step(loss)
            opt.step()
    return RunDir(root)


def _gradient_paragraph(html: str) -> str:
    start = html.index("<h3>Gradient norms</h3>")
    return html[start:html.index("</p>", start)]


def test_report_of_a_loop_that_clips_before_tracker_step_says_the_norms_look_clipped(tmp_path):
    clipped = _gradient_paragraph(_weight_norms(_own_loop_run(tmp_path / "clipped", clip=1e-3)))
    assert "before the optimizer step and any clipping" not in clipped
    assert "as the gradients stood when tracker.step was called" in clipped
    assert "sits at 0.001 on 20 of 20 recorded steps" in clipped and "they look clipped" in clipped
    plain = _gradient_paragraph(_weight_norms(_own_loop_run(tmp_path / "plain", clip=None)))
    assert "as the gradients stood when tracker.step was called" in plain and "look clipped" not in plain


def test_report_of_a_trained_run_says_its_norms_are_before_clipping(tmp_path):
    tracked = read_tracked(_own_loop_run(tmp_path / "run", clip=1e-3))
    params = [n for n in tracked if n not in ("loss", "model")]
    for trained, says in ((True, "before gradient clipping"), (False, "after any clipping the loop did")):
        text = _gradient_paragraph("".join(_more_lines(tracked, params, [], "l2", set(), trained=trained)))
        assert says in text
        assert ("look clipped" in text) is (not trained)  # (the trainer records before its clipping)


def test_rnnlabs_optimizer_refuses_groups_a_torch_optimizer_filled_and_recurrent_names_keras_keywords() -> None:
    import rnnlab.optim

    model = torch.nn.Sequential(rnnlab.LSTM(3, 4, batch_first=True))
    groups = param_groups(model)
    torch.optim.SGD(groups, lr=0.1)
    with pytest.raises(ValueError, match=r"already filled with its settings \(lr=0.1\); call param_groups\(\) again"):
        rnnlab.optim.AdamW(groups, lr=1e-3)
    rnnlab.optim.AdamW(param_groups(model), lr=1e-3)  # (fresh groups: fine, and rnnlab's own copies them)
    with pytest.raises(TypeError, match="return_sequences: a Keras keyword, not one of rnnlab.Recurrent; the layer "
                                        "returns every step's output"):
        rnnlab.Recurrent(torch.nn.GRUCell(3, 4), return_sequences=True)
