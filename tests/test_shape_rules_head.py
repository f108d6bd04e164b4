"""The head's readings beyond a summary over time (issue 27): the model's input averaged over
valid steps (``model.head.input_pooling``) and the front-end's features at each series' first and
last valid step (``model.head.frontend_ends``) reach the output layer exactly, padding plays no
part, and settings they cannot work with are one-line config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.config import FrontendConfig, ModelConfig, parse_config
from rnnlab.errors import ConfigError
from rnnlab.train.model import build_model

BLOCKS = [{"channels": 5, "kernel_size": 3, "norm": "batch"}, {"channels": 4, "kernel_size": 3, "pool": 2}]


def test_the_head_joins_the_input_mean_and_the_frontend_ends_over_valid_steps():
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=7, frontend=FrontendConfig(blocks=BLOCKS),
                      head={"pooling": "mean", "frontend_pooling": "mean", "input_pooling": "mean",
                            "frontend_ends": True})
    model = build_model(cfg, input_size=3, num_classes=2).eval()
    assert model.head[-1].in_features == 7 + 4 + 2 * 4 + 3
    x, lengths = torch.randn(2, 9, 3), torch.tensor([9, 5])
    x[1, 5:] = 1e3  # padding: were it read, the ends and the mean would show it
    features, out_lengths = model.frontend(x, lengths)
    captured = {}
    model.head.register_forward_hook(lambda m, args, out: captured.update(z=args[0]))
    model(x, lengths)
    ends = torch.stack([torch.cat([features[i, 0], features[i, int(n) - 1]]) for i, n in enumerate(out_lengths)])
    means = torch.stack([x[0, :9].mean(0), x[1, :5].mean(0)])
    torch.testing.assert_close(captured["z"][:, 11:19], ends)
    torch.testing.assert_close(captured["z"][:, 19:], means)
    with torch.no_grad():  # a padded series gives the logits of the same series alone
        alone, _ = model(x[1:, :5], torch.tensor([5]))
        torch.testing.assert_close(model(x, lengths)[0][1], alone[0])


@pytest.mark.parametrize(("head", "says", "task"), [
    ('frontend_ends = true', "'model.head.frontend_ends' = true reads the front-end's features, but there is no "
                             "[model.frontend]", ""),
    ('input_pooling = "sum"', "model.head.input_pooling", ""),
    ('input_pooling = "mean"', "'model.head.input_pooling' = 'mean': per-step targets ([task] per_step = true) put "
                               "the head on every step's output", "[task]\nper_step = true\n"),
])
def test_bad_head_readings_are_one_line_config_errors(head, says, task):
    dataset = "delayed_copy" if task else "GunPoint"
    with pytest.raises(ConfigError) as e:
        parse_config(f'{task}[data]\ndataset = "{dataset}"\n[model.head]\n{head}\n')
    assert says in str(e.value) and "\n" not in str(e.value)


def test_informative_level_and_scale_zero_the_noise_channel_only():
    from rnnlab.data.normalize import InputScaling

    rng = np.random.default_rng(0)
    # the amplitude kind of the stress suite: a zero-mean shape times the class's amplitude, plus noise
    t = np.arange(600) / 600
    X = (np.geomspace(0.5, 4, 12)[:, None] * np.sin(2 * np.pi * 3 * t) + rng.standard_normal((12, 600)))[:, :, None]
    lengths = np.full(12, 600)
    lengths[3] = 400  # padding plays no part
    X[3, 400:] = 0.0
    every = InputScaling.fit("per_series", True, X, lengths)
    informative = InputScaling.fit("per_series", "informative", X, lengths)
    assert informative.series_scale_keep.tolist() == [False, True]
    a, b = every.apply(X, lengths), informative.apply(X, lengths)
    np.testing.assert_array_equal(b[:, :, [0, 2]], a[:, :, [0, 2]])  # the signal and the scale: unchanged
    assert (b[:, :, 1] == 0).all() and np.abs(a[:, :, 1]).max() > 0.5  # the level: sampling noise, now 0
    with pytest.raises(ConfigError) as e:
        parse_config('[data]\ndataset = "GunPoint"\nseries_scale = "informative"\n')
    assert "'data.series_scale' = 'informative' needs data.normalize = \"per_series\"" in str(e.value)


def test_a_run_of_tiny_classes_reads_the_informative_level_and_scale_and_says_which_are_noise(tmp_path):
    from test_bad_inputs import Env  # tests/test_bad_inputs.py

    from rnnlab.rundir import RunDir
    from rnnlab.train import train

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 3)
    t = np.arange(64) / 64
    X = np.geomspace(0.5, 4, 4)[y][:, None] * np.sin(2 * np.pi * 4 * t) + rng.standard_normal((12, 64))
    path = Env(tmp_path, None).npz("amp.npz", X=X[:, :, None].astype(np.float32), y=y)
    cfg = parse_config(f'[data]\npath = "{path}"\nnormalize = "per_series"\nseries_scale = true\n'
                       '[model]\nhidden_size = 6\n[model.frontend]\nstride = 1\n[model.head]\npooling = "mean"\n'
                       '[training]\nsteps = 12\nbatch_size = 4\n[tracking]\nenabled = false\n'
                       '[adapt]\nshape = true\nmax_steps = 12')
    lines: list[str] = []
    train(cfg, out=tmp_path / "r", progress=False, log=lines.append)
    line = next(x for x in lines if x.startswith("shape: "))
    assert line.endswith("and the informative level and scale (level: noise, set to 0); "
                         "input noise 0.2; head dropout 0.5, the scale alone telling the classes apart (a class has 3 "
                         "< 4 series)"), line
    recorded = RunDir(tmp_path / "r").read_adapt()["shape"]
    assert recorded["shape"]["noise"] == ["level"] and recorded["shape"]["alone"] == ["scale"]
    run_cfg = RunDir(tmp_path / "r").read_config()
    assert (run_cfg.data.series_scale, run_cfg.model.head.input_pooling) == ("informative", "mean")
    assert run_cfg.model.head.dropout == 0.5  # the class is the amplitude: the scale alone tells it
