"""Gaussian noise on the model's input while training (``model.input_noise``, Keras'
``GaussianNoise``): the noise the front-end reads has the configured spread on valid steps and
none on padding, evaluation reads the input as it is, and a language model refuses the key."""

from __future__ import annotations

import pytest
import torch

from rnnlab.config import FrontendConfig, ModelConfig, parse_config
from rnnlab.errors import ConfigError
from rnnlab.train.model import build_model

BLOCKS = [{"channels": 5, "kernel_size": 3, "norm": "batch"}, {"channels": 4, "kernel_size": 3, "pool": 2}]


def _read_by_frontend(model: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    seen = {}
    handle = model.frontend.register_forward_pre_hook(lambda m, args: seen.update(x=args[0].clone()))
    model(x, lengths)
    handle.remove()
    return seen["x"]


def test_training_adds_noise_of_the_configured_spread_on_valid_steps_only():
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden_size=6, input_noise=0.5, frontend=FrontendConfig(blocks=BLOCKS)),
                        input_size=2, num_classes=3)
    x, lengths = torch.randn(64, 300, 2), torch.full((64,), 300)
    lengths[::2] = 200
    noise = _read_by_frontend(model.train(), x, lengths) - x
    valid = torch.arange(300)[None, :] < lengths[:, None]
    assert float(noise[valid].std()) == pytest.approx(0.5, rel=0.02)
    assert float(noise[valid].mean()) == pytest.approx(0.0, abs=0.01)
    assert bool((noise[~valid] == 0).all())  # padding stays padding
    assert bool((_read_by_frontend(model.train(), x, lengths) - x != noise).any())  # a new draw each forward
    assert bool((_read_by_frontend(model.eval(), x, lengths) == x).all())  # evaluation: the input itself


def test_evaluation_gives_the_logits_of_the_same_weights_without_the_key():
    cfg = ModelConfig(hidden_size=6, frontend=FrontendConfig(blocks=BLOCKS))
    torch.manual_seed(1)
    plain = build_model(cfg, input_size=2, num_classes=3).eval()
    torch.manual_seed(1)
    noisy = build_model(cfg.model_copy(update={"input_noise": 1.0}), input_size=2, num_classes=3).eval()
    x = torch.randn(4, 20, 2)
    torch.testing.assert_close(noisy(x)[0], plain(x)[0], rtol=0, atol=0)
    torch.manual_seed(2)
    trained = noisy.train()(x)[0]
    assert not torch.allclose(trained, plain.train()(x)[0])


@pytest.mark.parametrize(("text", "says"), [
    ('[data]\ndataset = "GunPoint"\n[model]\ninput_noise = -0.1\n', "'model.input_noise'"),
    ('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[model]\ninput_noise = 0.1\n',
     "'model.input_noise' = 0.1 adds noise to values; a language model's input is token ids"),
])
def test_bad_input_noise_is_a_one_line_config_error(text, says):
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_run_with_input_noise_resumes_to_the_weights_of_the_run_straight_through(tmp_path):
    from tiny_run import run, tiny_toml  # tests/tiny_run.py

    from rnnlab.train.checkpoint import load_checkpoint

    text = tiny_toml(model="input_noise = 0.5", training="epochs = 4") + "[tracking]\nenabled = false\n"
    run(parse_config(text), tmp_path / "whole")
    run(parse_config(text), tmp_path / "part", stop_after=2)
    run(parse_config(text), tmp_path / "part", resume=True)
    quiet = parse_config(text.replace("input_noise = 0.5", "input_noise = 0.0"))
    run(quiet, tmp_path / "quiet")
    whole, again, plain = (load_checkpoint(tmp_path / d / "checkpoints" / "last.pt")["model"]
                           for d in ("whole", "part", "quiet"))
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert not all(torch.equal(whole[k], plain[k]) for k in whole)  # the noise did reach training
