"""param_groups: defaults, precedence, exactly-one-group, summary, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.optim.decoupled import AdamW
from rnnlab.regularize.groups import ParamGroups, Rule, param_groups, summary
from rnnlab.regularize.roles import roles


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 3)
        self.lstm = rnnlab.LSTM(3, 4, num_layers=2, layer_norm=True)
        self.gru = nn.GRU(4, 4)
        self.head = nn.Linear(4, 2)
        self.temperature_noreg = nn.Parameter(torch.ones(1))


def by_name(groups):
    return {g["name"]: set(g["param_names"]) for g in groups}


def check_partition(model, groups):
    names = [n for g in groups for n in g["param_names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each exactly once
    for g in groups:
        named = dict(model.named_parameters())
        assert all(p is named[n] for p, n in zip(g["params"], g["param_names"], strict=True))


def test_defaults_no_decay_on_bias_norm_and_noreg():
    model = Net()
    groups = param_groups(model, weight_decay=1e-3)
    check_partition(model, groups)
    assert [g["name"] for g in groups] == ["default", "no_decay"]
    default, no_decay = groups
    assert default["weight_decay"] == 1e-3 and no_decay["weight_decay"] == 0.0
    role = roles(model)
    assert set(default["param_names"]) == {
        n for n, r in role.items() if r in ("kernel", "recurrent", "embedding")
    }
    assert "temperature_noreg" in no_decay["param_names"]
    assert all(role[n] in ("bias", "norm") for n in no_decay["param_names"] if "noreg" not in n)


def test_first_rule_wins_and_bias_is_protected_unless_named():
    model = Net()
    groups = param_groups(model, [
        Rule(module_type=rnnlab.LSTM, weight_decay=1e-2, label="lstm"),
        Rule(role="recurrent", weight_decay=1e-3),
        Rule(role="bias", module_type=nn.GRU, weight_decay=1e-5, lr_mult=0.1, label="gru_bias"),
        Rule(name=r"^emb\.", weight_decay=0.0, lr_mult=2.0),
    ], weight_decay=1e-4)
    check_partition(model, groups)
    g = by_name(groups)
    assert g["lstm"] == {f"lstm.weight_{k}_l{i}" for k in ("ih", "hh") for i in (0, 1)}
    assert g["rule1"] == {"gru.weight_hh_l0"}  # LSTM's recurrent weights were taken by rule 0
    assert g["gru_bias"] == {"gru.bias_ih_l0", "gru.bias_hh_l0"}
    assert g["rule3"] == {"emb.weight"}
    assert g["default"] == {"gru.weight_ih_l0", "head.weight"}
    assert "lstm.bias_ih_l0" in g["no_decay"] and "temperature_noreg" in g["no_decay"]
    settings = {x["name"]: (x["weight_decay"], x["l1"], x["lr_mult"]) for x in groups}
    assert settings["gru_bias"] == (1e-5, 0.0, 0.1)
    assert settings["rule3"] == (0.0, 0.0, 2.0)
    assert settings["default"] == (1e-4, 0.0, 1.0)


def test_rule_without_decay_uses_default_and_lr_applies_multiplier():
    model = nn.Sequential(nn.LSTM(2, 3), nn.Linear(3, 1))
    groups = param_groups(model, [Rule(role="recurrent", lr_mult=0.5, l1=1e-4)], weight_decay=0.01, lr=0.2)
    g = {x["name"]: x for x in groups}
    assert g["rule0"]["weight_decay"] == 0.01 and g["rule0"]["l1"] == 1e-4
    assert g["rule0"]["lr"] == pytest.approx(0.1) and g["default"]["lr"] == 0.2
    for opt_cls in (torch.optim.AdamW, torch.optim.SGD, AdamW):
        opt = opt_cls(param_groups(model, [Rule(role="recurrent", lr_mult=0.5)], lr=0.2), lr=0.2)
        assert [x["lr"] for x in opt.param_groups] == pytest.approx([0.1, 0.2, 0.2])
        model[1](model[0](torch.randn(4, 2, 2))[0]).sum().backward()
        opt.step()


def test_noreg_is_absolute():
    model = Net()
    with pytest.raises(ValueError, match="rules\\[0\\] \\(name='temperature'\\) matches no parameter.*never selected"):
        param_groups(model, [Rule(name="temperature", weight_decay=1.0)])


def test_summary_table():
    model = Net()
    groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-3, label="rec")])
    assert isinstance(groups, ParamGroups)
    text = summary(groups)
    assert str(groups) == text == groups.summary()
    header, *rest = text.splitlines()
    assert header.split()[:4] == ["group", "weight_decay", "l1", "lr_mult"]
    assert any(line.startswith("rec ") and "0.001" in line and "role='recurrent'" in line for line in rest)
    for name, p in model.named_parameters():
        line = next(line for line in rest if line.startswith(name + " "))
        assert line.split()[-1] == groups.group_of[name]
        assert str(list(p.shape)) in line
    with pytest.raises(TypeError, match="expected the result of param_groups"):
        summary([{"params": []}])


def test_rules_from_dicts():
    model = Net()
    a = param_groups(model, [{"role": ["kernel", "recurrent"], "weight_decay": 1e-4}])
    b = param_groups(model, [Rule(role=("kernel", "recurrent"), weight_decay=1e-4)])
    assert by_name(a) == by_name(b)
    with pytest.raises(KeyError, match="unknown key 'weight_decy'; did you mean 'weight_decay'"):
        param_groups(model, [{"role": "kernel", "weight_decy": 1e-4}])


def test_bad_rules_give_clear_errors():
    model = Net()
    with pytest.raises(ValueError, match="Rule.role: expected one of .* got 'bais'; did you mean 'bias'"):
        Rule(role="bais")
    with pytest.raises(ValueError, match="Rule.weight_decay: expected a finite number >= 0, got -0.1"):
        Rule(role="kernel", weight_decay=-0.1)
    with pytest.raises(ValueError, match="Rule.l1: expected a finite number >= 0"):
        Rule(l1=-1.0)
    with pytest.raises(ValueError, match="Rule.lr_mult: expected a finite number >= 0"):
        Rule(lr_mult=float("nan"))
    with pytest.raises(ValueError, match="Rule.name: .* not a valid regular expression"):
        Rule(name="[")
    with pytest.raises(ValueError, match=r"rules\[0\] \(name='lstn\\\\.weight'\) matches no parameter.*close to"):
        param_groups(model, [Rule(name=r"lstn\.weight")])
    with pytest.raises(ValueError, match=r"rules\[0\] \(module_type=GRU, name='bias'\) matches no parameter.*role='bias'"):
        param_groups(model, [Rule(module_type=nn.GRU, name="bias")])
    with pytest.raises(ValueError, match=r"rules\[0\] \(role='other'\) matches no parameter: the model's roles are"):
        param_groups(nn.LSTM(2, 2), [Rule(role="other")])
    with pytest.raises(ValueError, match=r"rules\[1\] \(role='kernel'\) is shadowed.*rules\[0\]"):
        param_groups(model, [Rule(), Rule(role="kernel")])
    with pytest.raises(ValueError, match=r"rules\[1\].label: 'a' is already used"):
        param_groups(model, [Rule(role="kernel", label="a"), Rule(role="recurrent", label="a")])
    with pytest.raises(ValueError, match=r"rules\[0\].label: 'default' is already used"):
        param_groups(model, [Rule(role="kernel", label="default")])
    with pytest.raises(ValueError, match="weight_decay: expected a finite number >= 0, got -1"):
        param_groups(model, weight_decay=-1)
    with pytest.raises(TypeError, match="rules: expected a list of Rule"):
        param_groups(model, Rule(role="kernel"))
    with pytest.raises(ValueError, match="has no parameters"):
        param_groups(nn.Tanh())
