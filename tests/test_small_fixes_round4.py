"""Small fixes, round 4 (helper fix-misc):

* the parameter-group summary pads by display width (a CJK module name keeps its row in line);
* the CLI's one-line errors fold only line breaks: two spaces or a tab inside a path are kept;
* ``output.dir`` (and ``name`` when it names the run directory) refuses control characters;
* the estimators answer a Keras keyword (``units=64``) with rnnlab's way, not Python's
  "unexpected keyword argument";
* docs/layers.md "Your own cell" shows ``GateLayout(activations=...)`` in a cell that runs, and
  states the rule for ``y_t``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import rnnlab.cli as cli
from rnnlab import gates
from rnnlab.config import parse_config
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.estimators import RNNClassifier, RNNForecaster, RNNSequenceTagger
from rnnlab.regularize import param_groups
from rnnlab.tables import display_width
from rnnlab.train.trainer import with_derived_names

DOCS = Path(__file__).resolve().parents[1] / "docs"


# --- 1. parameter-group summary -------------------------------------------------------------------


def _starts(line: str, cells: list[str]) -> list[int]:
    """The display column at which each of ``cells`` starts on ``line`` (found in order)."""
    out, at = [], 0
    for cell in cells:
        at = line.index(cell, at)
        out.append(display_width(line[:at]))
        at += len(cell)
    return out


def test_a_cjk_module_name_keeps_the_parameter_table_in_line():
    model = torch.nn.Module()
    model.add_module("層", torch.nn.Linear(2, 2))  # (a name is any string without a dot)
    model.add_module("plain_linear_name", torch.nn.Linear(2, 3))
    table = param_groups(model).summary().split("\n\n")[1].splitlines()
    rows = [["parameter", "role", "shape", "group"],
            ["層.weight", "kernel", "[2, 2]", "default"],
            ["層.bias", "bias", "[2]", "no_decay"],
            ["plain_linear_name.weight", "kernel", "[3, 2]", "default"],
            ["plain_linear_name.bias", "bias", "[3]", "no_decay"]]
    found = [_starts(line, row) for line, row in zip(table, rows, strict=True)]
    assert all(f == found[0] for f in found), "\n".join(table)
    # the widest name sets the column, two spaces before the next (as for ASCII names)
    assert found[0][1] == len("plain_linear_name.weight") + 2


# --- 2. one-line errors keep a path's spaces ------------------------------------------------------


def test_a_path_with_two_spaces_is_named_as_it_is(tmp_path, capsys):
    missing = tmp_path / "my  runs" / "a\tb"
    assert cli.main(["report", str(missing)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "my  runs" in err  # (not "my runs": another folder)


def test_line_breaks_fold_into_one_space_and_nothing_else_does(monkeypatch, capsys):
    def fails(args):
        raise RnnlabError("cannot read '/data/my  set.csv':\n    line 3\r\n\n  has\ta tab")

    monkeypatch.setattr(cli, "cmd_report", fails)
    assert cli.main(["report", "somewhere"]) == 1
    assert capsys.readouterr().err == "rnnlab report: error: cannot read '/data/my  set.csv': line 3 has\ta tab\n"


# --- 3. control characters in the run directory's name --------------------------------------------


@pytest.mark.parametrize("escaped", ["runs/a\\nb", "runs/a\\rb", "runs/a\\tb", "runs/a\\u0007b", "runs/a\\u007fb"])
def test_output_dir_with_a_control_character_is_refused_in_one_line(escaped):
    with pytest.raises(ConfigError) as e:
        parse_config(f'[data]\ndataset = "GunPoint"\n[output]\ndir = "{escaped}"\n')
    message = str(e.value)
    assert "\n" not in message and "\r" not in message
    assert "'output.dir': expected a path without control characters" in message
    assert escaped.replace("\\u0007", "\\x07").replace("\\u007f", "\\x7f") in message  # (shown escaped)


def test_the_cli_refuses_it_in_one_line_naming_output_dir(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[data]\npath = "nowhere.npz"\n[output]\ndir = "runs/a\\nb"\n')
    assert cli.main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "'output.dir'" in err and "runs/a\\nb" in err


def test_a_name_that_names_the_run_directory_is_refused_too():
    with pytest.raises(ConfigError, match=r"^'name': expected a name without control characters .*got 'a\\nb'$"):
        with_derived_names(parse_config('name = "a\\nb"\n[data]\ndataset = "GunPoint"\n'))
    # (with output.dir set the name names no folder)
    named = with_derived_names(parse_config('name = "a\\tb"\n[data]\ndataset = "GunPoint"\n[output]\ndir = "runs/x"\n'))
    assert named.output.dir == "runs/x"


# --- 4. Keras keywords given to an estimator ------------------------------------------------------


@pytest.mark.parametrize("make", [RNNClassifier, RNNSequenceTagger, lambda **kw: RNNForecaster(3, **kw)])
def test_units_points_to_hidden_size(make):
    with pytest.raises(TypeError) as e:
        make(units=64)
    message = str(e.value)
    assert message.startswith("units: a Keras keyword, not a parameter of RNN")
    assert message.endswith("(hidden_size=64)") and "\n" not in message


@pytest.mark.parametrize("key, says", [("kernel_regularizer", "[[training.decay_rules]]"),
                                       ("activity_regularizer", "training.ar"),
                                       ("return_sequences", "model.head.pooling")])
def test_other_keras_keywords_say_which_config_key_and_how_to_set_it(key, says):
    with pytest.raises(TypeError) as e:
        RNNClassifier(**{key: 0.01})
    message = str(e.value)
    assert message.startswith(f"{key}: a Keras keyword, not a parameter of RNNClassifier; ")
    assert says in message and "params=" in message and "\n" not in message


def test_the_estimators_keywords_are_unchanged():
    made = RNNForecaster(2, hidden_size=8, dropout=0.1, recurrent_dropout=0.2)
    assert (made.horizon, made.hidden_size, made.dropout, made.recurrent_dropout) == (2, 8, 0.1, 0.2)
    assert "units" not in RNNClassifier().get_params()


# --- 5. docs: a cell of one's own -----------------------------------------------------------------


def _own_cell_section() -> str:
    text = (DOCS / "layers.md").read_text(encoding="utf-8")
    return text.split("## Your own cell", 1)[1].split("\n## ", 1)[0]


def test_the_docs_own_cell_example_declares_activations_and_runs():
    section = _own_cell_section()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "activations=" in b]
    assert len(blocks) == 1, "expected one example with GateLayout(..., activations=...)"
    code = "\n".join(line[2:] for line in blocks[0].splitlines())  # (the list item's indent)
    saved = dict(gates.GATES), {k: dict(v) for k, v in gates.GATE_ACTIVATIONS.items()}
    try:
        scope: dict = {}
        exec(compile("import torch, rnnlab, rnnlab.gates\n" + code, "docs/layers.md", "exec"), scope)
        assert tuple(scope["out"].shape) == (2, 5, 4) and tuple(scope["h"].shape) == (2, 4)
        assert gates.GATE_ACTIVATIONS["mgu"] == {"f": "sigmoid", "n": "tanh"}
    finally:
        for live, kept in zip((gates.GATES, gates.GATE_ACTIVATIONS), saved, strict=True):
            live.clear()
            live.update(kept)


def test_the_docs_state_the_rule_for_y_t():
    said = " ".join(_own_cell_section().split())
    assert "`y_t` is a tensor with the input's batch in dim 0 and one shape at every step" in said
    assert "`output_is_state = True` (below) returns as `y_t` its new state's first tensor, or `None`" in said

