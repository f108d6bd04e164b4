"""The conv-block front-end: output lengths equal the convolution arithmetic, a padded sequence
gives exactly the logits of the same sequence alone, batch norm counts valid steps only, the
single-block form is the former strided Conv1d, the compiled max-pool equals the tensor ops it
replaces bit for bit, and bad settings are one-line config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import FrontendConfig, ModelConfig, dump_config, parse_config
from rnnlab.errors import ConfigError
from rnnlab.layers import native
from rnnlab.train.frontend import ConvBlock, ConvFrontend, MaskedBatchNorm1d, max_pool_time
from rnnlab.train.model import build_model

BLOCKS = [
    {"channels": 5, "kernel_size": 7, "norm": "batch"},
    {"channels": 6, "kernel_size": 4, "stride": 2, "norm": "layer", "activation": "gelu"},
    {"channels": 4, "kernel_size": 3, "pool": 3, "norm": "batch", "activation": "tanh"},
]


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pool", [1, 2, 4])
@pytest.mark.parametrize("dilation", [1, 3])
def test_out_lengths_equal_the_length_of_the_output_of_a_sequence_alone(kernel_size, stride, pool, dilation):
    cfg = FrontendConfig(blocks=[{"channels": 3, "kernel_size": kernel_size, "stride": stride, "pool": pool,
                                  "dilation": dilation}]).conv_blocks[0]
    block = ConvBlock(2, cfg)
    for length in range(1, 30):
        out, out_len = block(torch.randn(1, 2, length), torch.tensor([length]))
        no_lengths, _ = block(torch.randn(1, 2, length), None)
        assert out.shape[-1] == no_lengths.shape[-1] == int(out_len) == int(block.out_lengths(torch.tensor([length])))
        assert cfg.steps_after(length) == int(out_len)  # the same arithmetic on ints (the shape rules')
    # by hand: L = 10, kernel 4 (padding 2), stride 3 -> (10 + 4 - 4) // 3 + 1 = 4 steps; pool 2 -> 2
    hand = ConvBlock(1, FrontendConfig(blocks=[{"channels": 1, "kernel_size": 4, "stride": 3, "pool": 2}]).conv_blocks[0])
    assert hand.out_lengths(torch.tensor([10])).tolist() == [2]


@pytest.mark.parametrize("dilation", [1, 4])
def test_a_padded_sequence_gives_the_logits_of_the_same_sequence_alone(dilation):
    torch.manual_seed(0)
    blocks = [{**b, "dilation": dilation} for b in BLOCKS]
    cfg = ModelConfig(hidden_size=7, frontend=FrontendConfig(blocks=blocks),
                      head={"pooling": "mean", "frontend_pooling": "mean"})
    model = build_model(cfg, input_size=2, num_classes=3)
    lengths = torch.tensor([23, 9, 14, 1])
    x = torch.randn(4, 23, 2) * 3 + 1
    x[1, 9:] = 100.0  # padding of any value: it must not matter
    model.train()
    model(x, lengths)  # one training pass: batch norm running statistics are not the initial ones
    model.eval()
    with torch.no_grad():
        batched, _ = model(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, _ = model(x[i:i + 1, :n], torch.tensor([n]))
            torch.testing.assert_close(batched[i], alone[0], rtol=1e-5, atol=1e-5)


def test_the_lstm_fcn_head_joins_the_mean_of_the_frontend_features():
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=7, frontend=FrontendConfig(blocks=BLOCKS[:1]), head={"frontend_pooling": "mean"})
    model = build_model(cfg, input_size=2, num_classes=3).eval()
    assert model.head[-1].in_features == 7 + 5
    x, lengths = torch.randn(2, 6, 2), torch.tensor([6, 4])
    features, out_lengths = model.frontend(x, lengths)
    captured = {}
    model.head.register_forward_hook(lambda m, args, out: captured.update(z=args[0]))
    model(x, lengths)
    expected = torch.stack([features[0, :6].mean(0), features[1, :4].mean(0)])
    torch.testing.assert_close(captured["z"][:, 7:], expected)


@pytest.mark.parametrize("how", ["max", "mean_max"])
def test_the_max_heads_join_the_maximum_of_the_frontend_features_over_valid_steps(how):
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=7, frontend=FrontendConfig(blocks=BLOCKS[:1]),
                      head={"pooling": how, "frontend_pooling": how})
    model = build_model(cfg, input_size=2, num_classes=3).eval()
    both = 2 if how == "mean_max" else 1
    assert model.head[-1].in_features == both * (7 + 5)
    x, lengths = torch.randn(2, 6, 2), torch.tensor([6, 4])
    x[1, 4:] = 1e3  # padding: were it pooled, it would be the maximum
    features, _ = model.frontend(x, lengths)
    captured = {}
    model.head.register_forward_hook(lambda m, args, out: captured.update(z=args[0]))
    model(x, lengths)
    expected = torch.stack([features[0, :6].amax(0), features[1, :4].amax(0)])
    if how == "mean_max":
        expected = torch.cat([torch.stack([features[0, :6].mean(0), features[1, :4].mean(0)]), expected], dim=-1)
    torch.testing.assert_close(captured["z"][:, both * 7:], expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_max_pool_equals_the_tensor_ops_with_ties_nan_and_a_short_last_window(dtype):
    assert native.available(), native.why_not()
    torch.manual_seed(0)
    for steps in (1, 2, 5, 8, 13):
        for pool in (1, 2, 3, 4, 8):
            y = torch.relu(torch.randn(3, 4, steps, dtype=dtype)).round(decimals=1)  # zeros and equal values tie
            y[0, 0] = float("-inf")  # every step masked: the padding's -inf steps tie too
            y[1, 1, steps // 2] = float("nan")
            grad = torch.randn(3, 4, -(-steps // pool), dtype=dtype)
            ours, ref = y.clone().requires_grad_(), y.clone().requires_grad_()
            out = max_pool_time(ours, pool)
            expected = F.pad(ref, (0, -steps % pool), value=float("-inf")).unflatten(-1, (-1, pool)).amax(-1)
            out.backward(grad)
            expected.backward(grad)
            assert torch.equal(out.isnan(), expected.isnan()), (steps, pool)
            assert torch.equal(out.nan_to_num(), expected.nan_to_num()), (steps, pool)
            assert torch.equal(ours.grad.isnan(), ref.grad.isnan()), (steps, pool)
            assert torch.equal(ours.grad.nan_to_num(), ref.grad.nan_to_num()), (steps, pool)
    x = torch.randn(2, 3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: max_pool_time(t, 3), (x,))


def test_a_dilated_block_is_torchs_dilated_convolution_centred():
    torch.manual_seed(0)
    block = ConvBlock(2, FrontendConfig(blocks=[{"channels": 3, "kernel_size": 3, "dilation": 5,
                                                 "activation": "none"}]).conv_blocks[0])
    x = torch.randn(1, 2, 20)
    out, lengths = block(x, torch.tensor([20]))
    # By hand: output t reads steps t - 5, t and t + 5 (zero outside the series).
    padded = F.pad(x, (5, 5))
    w, b = block.conv.weight, block.conv.bias
    hand = torch.stack([(w * padded[0, :, [t, t + 5, t + 10]]).sum((1, 2)) + b for t in range(20)], dim=1)
    torch.testing.assert_close(out[0], hand)
    assert lengths.tolist() == [20]


def test_batch_norm_statistics_count_the_valid_steps_only():
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 4, 10), torch.tensor([10, 3, 6])
    valid = (torch.arange(10)[None, :] < lengths[:, None])[:, None, :]
    padded = x.masked_fill(~valid, 50.0)
    masked, plain = MaskedBatchNorm1d(4), nn.BatchNorm1d(4)
    y = masked(padded, valid)
    only_valid = torch.cat([x[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)[None]
    reference = plain(only_valid)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    got = torch.cat([y[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)[None]
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-5)


def test_the_single_block_form_is_the_former_strided_conv():
    cfg = FrontendConfig(channels=6, kernel_size=5, stride=3, activation="tanh")
    torch.manual_seed(3)
    frontend = ConvFrontend(2, cfg)
    torch.manual_seed(3)
    conv = nn.Conv1d(2, 6, 5, 3, padding=2)  # the former front-end: Conv1d(stride, padding k // 2), activation
    torch.testing.assert_close(frontend.blocks[0].conv.weight, conv.weight)
    x = torch.randn(4, 17, 2)
    out, _ = frontend(x)
    torch.testing.assert_close(out, torch.tanh(conv(x.transpose(1, 2))).transpose(1, 2))
    block = FrontendConfig().conv_blocks[0]
    assert (block.channels, block.kernel_size, block.stride, block.activation, block.norm, block.pool) == \
        (32, 5, 2, "relu", "none", 1)


def test_frontend_blocks_round_trip_through_the_resolved_config():
    text = """
[data]
dataset = "GunPoint"
[[model.frontend.blocks]]
channels = 8
kernel_size = 7
norm = "batch"
[[model.frontend.blocks]]
channels = 16
pool = 2
[model.head]
frontend_pooling = "mean"
"""
    cfg = parse_config(text)
    assert [(b.channels, b.kernel_size, b.pool, b.norm) for b in cfg.model.frontend.conv_blocks] == \
        [(8, 7, 1, "batch"), (16, 3, 2, "none")]
    assert parse_config(dump_config(cfg)) == cfg


DATA = '[data]\ndataset = "GunPoint"\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        (DATA + "[model.frontend]\nchannels = 8\n[[model.frontend.blocks]]\nchannels = 8\n",
         "'model.frontend': expected either 'blocks' (a list of conv blocks) or the single-block keys "
         "(channels, kernel_size, stride, activation), got both: blocks and channels"),
        (DATA + "[[model.frontend.blocks]]\nkernel_size = 3\n", "missing key 'model.frontend.blocks[0].channels'"),
        (DATA + "[[model.frontend.blocks]]\nchannels = 8\nkernal_size = 3\n",
         "unknown key 'model.frontend.blocks[0].kernal_size'; did you mean 'model.frontend.blocks[0].kernel_size'?"),
        (DATA + "[[model.frontend.blocks]]\nchannels = 8\nnorm = 'batchnorm'\n",
         "'model.frontend.blocks[0].norm': expected 'batch', 'layer' or 'none', got 'batchnorm' (str); did you mean 'batch'?"),
        (DATA + "[[model.frontend.blocks]]\nchannels = 8\npool = 0\n",
         "'model.frontend.blocks[0].pool': expected a number > 0, got 0 (int)"),
        (DATA + "[[model.frontend.blocks]]\nchannels = 8\ndilation = 0\n",
         "'model.frontend.blocks[0].dilation': expected a number > 0, got 0 (int)"),
        (DATA + "[model.head]\nfrontend_pooling = 'mean'\n",
         "'model.head.frontend_pooling' = 'mean' pools the front-end's features, but there is no [model.frontend]"),
    ],
)
def test_frontend_config_errors_name_the_key(text, expected):
    with pytest.raises(ConfigError) as e:
        parse_config(text, source="c.toml")
    assert expected in str(e.value)
    assert "\n" not in str(e.value)
