"""The TOML config: template and examples parse, round trip, and every mistake is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from rnnlab.config import TEMPLATE, Config, dump_config, load_config, parse_config
from rnnlab.errors import ConfigError, RnnlabError

ROOT = Path(__file__).resolve().parents[1]
DATA = '[data]\ndataset = "GunPoint"\n'


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="c.toml")
    return str(info.value)


def test_template_parses_into_the_models_with_the_values_it_shows():
    cfg = parse_config(TEMPLATE)
    raw = tomllib.loads(TEMPLATE)
    assert cfg.data.dataset == raw["data"]["dataset"] == "GunPoint"
    assert cfg.model.recurrent_dropout == raw["model"]["recurrent_dropout"] == 0.1
    assert cfg.model.frontend is not None
    assert [b.channels for b in cfg.model.frontend.conv_blocks] == [b["channels"] for b in raw["model"]["frontend"]["blocks"]]
    assert cfg.training.steps == raw["training"]["steps"] and cfg.training.epochs is None
    assert cfg.training.decay_rules[0].role == "recurrent"
    assert cfg.training.decay_rules[0].weight_decay == 1e-3
    assert cfg.training.schedule.kind == "cosine"
    # Every key the template sets (commented lines aside) is a real field: nothing is ignored.
    assert Config.model_validate(raw) == cfg


def test_template_documents_every_model_regularizer():
    from rnnlab.config import LAYER_KEYS

    for key in (*LAYER_KEYS, "nonlinearity"):
        assert f"{key} = " in TEMPLATE, key


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_parse(path):
    cfg = load_config(path)
    assert cfg.data.dataset or cfg.data.path


def test_dump_round_trips_every_section():
    cfg = parse_config(TEMPLATE.replace('residual = false', 'residual = "upper"').replace("num_layers = 1", "num_layers = 2")
                       .replace("zoneout = 0.1 ", "zoneout = [0.1, 0.2] ")
                       + '\n[[training.decay_rules]]\nname = "^head\\\\."\nrole = ["kernel", "bias"]\nlr_mult = 0.5\n')
    assert cfg.model.zoneout == (0.1, 0.2)
    assert cfg.training.decay_rules[1].role == ["kernel", "bias"]
    assert cfg.training.decay_rules[1].name == "^head\\."
    again = parse_config(dump_config(cfg))
    assert again == cfg


def test_defaults_need_only_data():
    cfg = parse_config(DATA)
    assert (cfg.model.layer, cfg.model.hidden_size, cfg.training.optimizer) == ("lstm", 64, "adamw")
    assert cfg.model.frontend is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[model]\nhiden_size = 3\n" + DATA, "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"),
        ("[trainig]\nepochs = 3\n" + DATA, "unknown key 'trainig'; did you mean 'training'?"),
        (DATA + "[model.frontend]\nstrid = 2", "unknown key 'model.frontend.strid'; did you mean 'model.frontend.stride'?"),
        (DATA + "[[training.decay_rules]]\nrol = 'kernel'\nweight_decay = 1.0",
         "unknown key 'training.decay_rules[0].rol'; did you mean 'training.decay_rules[0].role'?"),
        (DATA + "[training.schedule]\nwarmup_epoch = 2", "unknown key 'training.schedule.warmup_epoch'; did you mean 'training.schedule.warmup_epochs'?"),
        (DATA + "flavour = 'red'", "unknown key 'data.flavour'; valid keys here: dataset, path,"),
    ],
)
def test_unknown_keys_name_the_full_path_and_the_nearest_key(text, expected):
    msg = error_of(text)
    assert msg.startswith("c.toml: ")
    assert expected in msg


@pytest.mark.parametrize(
    "text, expected",
    [
        (DATA + "[model]\nhidden_size = -3", "'model.hidden_size': expected a number > 0, got -3 (int)"),
        (DATA + "[model]\nlayer = 'lstn'", "'model.layer': expected 'lstm', 'gru', 'rnn' or 'indrnn', got 'lstn' (str); did you mean 'lstm'?"),
        (DATA + "[model]\nrecurrent_dropout = 1.5", "'model.recurrent_dropout': expected a probability in [0, 1), got 1.5"),
        (DATA + "[training]\nepochs = 'ten'", "'training.epochs': expected an integer, got 'ten' (str)"),
        (DATA + "[training]\nepochs = 2.5", "'training.epochs': expected an integer, got 2.5 (float)"),
        (DATA + "[training]\noptimizer = 'adamm'", "did you mean 'adam'?"),
        (DATA + "[model]\nhead = 3", "'model.head': expected a table, got 3 (int)"),
        (DATA + "[model]\nzoneout = 'a'", "'model.zoneout': expected a number or a list, got 'a' (str)"),
        (DATA + "[model]\nzoneout = 1.2", "'model.zoneout': expected a probability in [0, 1), got 1.2"),
        (DATA + "[model]\nactivation = 'rellu'", "'model.activation': expected one of"),
        (DATA + "[model]\nkernel_init = 'orthogonl'", "did you mean 'orthogonal'?"),
        (DATA + "[model]\nkernel_constraint = {kind = 'max_norm'}", "kind 'max_norm' needs 'value'"),
        (DATA + "[model]\nlayer = 'gru'\nunit_forget_bias = true", "'model.unit_forget_bias' applies to layer 'lstm' only, got layer 'gru'"),
        (DATA + "[model]\nlayer_norm = true\nrecurrent_batch_norm = true", "choose one, got both true"),
        (DATA + "[[training.decay_rules]]\nweight_decay = 1.0", "'training.decay_rules[0]': a decay rule needs 'role' and/or 'name'"),
        ('[data]\ndataset = "GunPoint"\npath = "x.npz"', "expected exactly one of 'data.dataset'"),
        ("[model]\nhidden_size = 3", "missing key 'data'"),
        ("[data\ndataset = 1", "not valid TOML: "),
    ],
)
def test_bad_values_name_key_expected_and_actual(text, expected):
    assert expected in error_of(text)


def test_several_problems_are_reported_together():
    msg = error_of(DATA + "[model]\nhiden_size = 3\nlayer = 'gre'")
    assert "did you mean 'model.hidden_size'" in msg and "did you mean 'gru'" in msg


def test_config_errors_are_value_errors(tmp_path):
    with pytest.raises(ValueError):
        load_config(tmp_path / "missing.toml")
    assert issubclass(ConfigError, RnnlabError) and issubclass(RnnlabError, ValueError)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path)


def test_the_model_keys_of_the_layer_are_layer_options_with_its_defaults():
    import dataclasses

    from rnnlab.config import LAYER_KEYS, ModelConfig
    from rnnlab.layers.options import LayerOptions

    fields = {f.name: f.default for f in dataclasses.fields(LayerOptions)}
    assert set(LAYER_KEYS) == set(fields) - {"batch_first", "implementation"}
    defaults = ModelConfig()
    for key in LAYER_KEYS:
        assert getattr(defaults, key) == fields[key], key
    assert ModelConfig().layer_options() == LayerOptions(batch_first=True)


@pytest.mark.parametrize("key, value", [
    ("recurrent_dropout", "1.5"), ("input_dropout_mode", '"stepp"'), ("batch_norm_steps", "0"),
    ("between_layers_norm", '"batch"'), ("activation", '"rellu"'), ("residual", '"uper"'),
])
def test_a_bad_layer_value_gives_the_layers_own_message_naming_the_model_key(key, value):
    import rnnlab
    from rnnlab.errors import ArgumentError

    with pytest.raises(ArgumentError) as layer_error:
        rnnlab.LSTM(3, 4, **{key: tomllib.loads(f"v = {value}")["v"]})
    msg = error_of(DATA + f"[model]\n{key} = {value}")
    assert msg == "c.toml: " + layer_error.value.spelled(lambda k: f"'model.{k}'")
    assert f"'model.{key}'" in msg


def test_the_trainer_builds_the_layer_from_the_configs_options():
    from rnnlab.train.model import build_recurrent

    cfg = parse_config(DATA + '[model]\nlayer = "gru"\nnum_layers = 2\nzoneout = 0.1\ndropout = 0.2\n'
                       'recurrent_constraint = { kind = "max_norm", value = 2.0 }').model
    layer = build_recurrent(cfg, input_size=3)
    assert layer.options.zoneout == (0.1,) and layer.options.dropout == 0.2 and layer.batch_first
    assert repr(layer.options.recurrent_constraint) == "MaxNorm(2.0)"
    rnn = build_recurrent(parse_config(DATA + '[model]\nlayer = "rnn"\nnonlinearity = "relu"').model, 3)
    assert rnn.nonlinearity == "relu"
