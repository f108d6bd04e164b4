"""Parameter roles: torch modules, rnnlab layers, custom cells, user rules, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import rnnlab
from rnnlab.regularize.roles import ROLES, RoleRule, describe_params, roles


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (3, True)])
def test_roles_of_torch_and_rnnlab_layers_are_identical(kind, num_layers, bidirectional):
    ours = getattr(rnnlab, kind)(3, 5, num_layers=num_layers, bidirectional=bidirectional)
    theirs = getattr(nn, kind)(3, 5, num_layers=num_layers, bidirectional=bidirectional)
    r = roles(ours)
    assert r == roles(theirs)
    for name, role in r.items():
        expected = {"weight_ih": "kernel", "weight_hh": "recurrent"}.get(name[:9], "bias")
        assert role == expected, name


def test_indrnn_recurrent_vector_and_rnnlab_norm_submodules():
    assert roles(rnnlab.IndRNN(3, 4)) == {
        "weight_ih_l0": "kernel", "weight_hh_l0": "recurrent", "bias_ih_l0": "bias",
    }
    r = roles(rnnlab.LSTM(3, 4, layer_norm=True))
    # the norm submodules are named ih/hh/c: their type wins over the "hh" name token
    norm_names = [n for n in r if n.startswith("norm_l0.")]
    assert norm_names and all(r[n] == "norm" for n in norm_names)
    r = roles(rnnlab.GRU(3, 4, recurrent_batch_norm=True, bidirectional=True))
    assert {r[n] for n in r if n.startswith("norm_")} == {"norm"}


def test_cells_dense_conv_norm_embedding_other():
    model = nn.ModuleDict({
        "emb": nn.Embedding(10, 3),
        "cell": nn.LSTMCell(3, 4),
        "gcell": nn.GRUCell(4, 4),
        "conv": nn.Conv1d(4, 6, 3),
        "bn": nn.BatchNorm1d(6),
        "ln": nn.LayerNorm(6),
        "act": nn.PReLU(),
        "head": nn.Linear(6, 2),
    })
    assert roles(model) == {
        "emb.weight": "embedding",
        "cell.weight_ih": "kernel", "cell.weight_hh": "recurrent",
        "cell.bias_ih": "bias", "cell.bias_hh": "bias",
        "gcell.weight_ih": "kernel", "gcell.weight_hh": "recurrent",
        "gcell.bias_ih": "bias", "gcell.bias_hh": "bias",
        "conv.weight": "kernel", "conv.bias": "bias",
        "bn.weight": "norm", "bn.bias": "norm",
        "ln.weight": "norm", "ln.bias": "norm",
        "act.weight": "other",
        "head.weight": "kernel", "head.bias": "bias",
    }


class MyCell(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(3, 8)
        self.hh = nn.Linear(8, 8, bias=False)
        self.recurrent_kernel = nn.Parameter(torch.zeros(8, 8))
        self.scale = nn.Parameter(torch.ones(8))


class Container(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.recurrent = nn.ModuleDict({"inp": nn.Linear(2, 2), "cell": MyCell()})


def test_custom_cells_by_name_tokens_and_container_names_do_not_leak():
    assert roles(Container()) == {
        "recurrent.inp.weight": "kernel",  # a container named "recurrent" says nothing about it
        "recurrent.inp.bias": "bias",
        "recurrent.cell.recurrent_kernel": "recurrent",
        "recurrent.cell.scale": "other",
        "recurrent.cell.ih.weight": "kernel",
        "recurrent.cell.ih.bias": "bias",
        "recurrent.cell.hh.weight": "recurrent",
    }


def test_rnnlab_recurrent_with_the_shipped_conv_cell():
    layer = rnnlab.Recurrent(rnnlab.cells.ConvLSTMCell1d(2, 3))
    r = roles(layer)
    assert {n: role for n, role in r.items() if "conv_hh" in n} == {"cell.conv_hh.weight": "recurrent"}
    assert r["cell.conv_ih.weight"] == "kernel"
    assert r["cell.conv_ih.bias"] == "bias"


def test_parametrized_weight_keeps_its_role():
    class Scale(nn.Module):
        def forward(self, w):
            return 2 * w

    lstm = nn.LSTM(3, 4)
    parametrize.register_parametrization(lstm, "weight_hh_l0", Scale())
    r = roles(lstm)
    assert r["parametrizations.weight_hh_l0.original"] == "recurrent"
    assert r["weight_ih_l0"] == "kernel"
    info = next(i for i in describe_params(lstm) if i.name.startswith("parametrizations"))
    assert info.path == "weight_hh_l0" and info.owner is lstm


def test_shared_parameter_listed_once():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    assert roles(model) == {"0.weight": "kernel", "0.bias": "bias"}


def test_extra_rules_come_first_in_order():
    model = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2))
    r = roles(model, [RoleRule("other", module_type=nn.Linear), RoleRule("embedding", name=r"^1\.")])
    assert r["1.weight"] == "other" and r["1.bias"] == "other"  # first rule wins
    r = roles(model, [RoleRule("recurrent", name=r"weight_ih"), RoleRule("kernel", module_type=nn.LSTM)])
    assert r["0.weight_ih_l0"] == "recurrent"
    assert r["0.weight_hh_l0"] == "kernel"
    assert r["0.bias_ih_l0"] == "kernel"  # module_type matches every parameter inside the LSTM
    assert set(r.values()) <= set(ROLES)


def test_module_type_matches_ancestors():
    model = Container()
    r = roles(model, [RoleRule("other", module_type=MyCell)])
    assert all(role == "other" for n, role in r.items() if n.startswith("recurrent.cell."))
    assert r["recurrent.inp.weight"] == "kernel"


def test_bad_role_rules():
    with pytest.raises(ValueError, match=r"RoleRule.role: expected one of .* got 'kernal'; did you mean 'kernel'\?"):
        RoleRule("kernal", name="x")
    with pytest.raises(ValueError, match="give module_type and/or name"):
        RoleRule("kernel")
    with pytest.raises(ValueError, match="RoleRule.name: '\\(' is not a valid regular expression"):
        RoleRule("kernel", name="(")
    with pytest.raises(TypeError, match="RoleRule.module_type: expected a module class"):
        RoleRule("kernel", module_type="Linear")
    with pytest.raises(TypeError, match="extra_rules: expected a list of RoleRule"):
        roles(nn.Linear(2, 2), RoleRule("kernel", name="w"))
    with pytest.raises(TypeError, match=r"extra_rules\[0\]: expected a RoleRule"):
        roles(nn.Linear(2, 2), [("kernel", "w")])
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        roles(torch.zeros(3))
