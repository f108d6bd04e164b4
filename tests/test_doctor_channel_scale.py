"""The input-scale check per channel: one channel far from unit scale beside channels of about 1
is named on its own, although the pooled root mean square of the input looks normalised (a
channel in thousandths next to channels of about 1: the pooled figure is about 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_doctor_round6 import CE, doctor, sines, small_config

from rnnlab.cli import main
from rnnlab.doctor import diagnose

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def lstm_model(channels: int) -> torch.nn.Module:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.LSTM(channels, 8, batch_first=True)
            self.out = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    return Net()


@pytest.mark.parametrize(("factor", "found"), [(1.0, False), (1e-4, True), (150.0, True)])
def test_one_channel_far_from_the_others_is_named(factor, found):
    X, y = sines(10, 40, 4)
    X[:, :, 2] *= factor
    batch = (torch.from_numpy(X), torch.from_numpy(y))
    report = diagnose(lstm_model(4), batch, CE, steps=0, checks=["input_scale"])
    findings = report.by_check("input_scale")
    assert bool(findings) == found, [f.title for f in findings]
    if found:
        (f,) = findings
        assert f.numbers["channels"] == [2], f.numbers
        assert "channel 2" in f.title and "channel 2" in f.message
        assert f.numbers["channel_scales"][0] == pytest.approx(float(np.sqrt((X[:, :, 2] ** 2).mean())), rel=1e-6)


def test_a_channel_of_zeros_throughout_is_not_far_and_nan_is_left_out():
    X, y = sines(10, 40, 3)
    X[:, :, 1] = 0.0
    X[:, 30:, 0] = np.nan  # the finite values only
    batch = (torch.from_numpy(np.nan_to_num(X)), torch.from_numpy(y))
    assert not diagnose(lstm_model(3), batch, CE, steps=0, checks=["input_scale"]).by_check("input_scale")


def test_rnnlab_doctor_names_the_channel_with_the_config_remedy(tmp_path, capsys):
    X, y = sines(10, 50, 3)
    X[:, :, 1] *= 1e-4  # the pooled root mean square stays about 0.6
    np.savez(tmp_path / "d.npz", X=X, y=y)
    config = small_config(tmp_path, """normalize = "none"
series_scale = false
[model]
layer = "lstm"
hidden_size = 8
recurrent_batch_norm = false
[model.head]
frontend_pooling = "none"
""")
    out = doctor(capsys, config)
    assert "Input channel far from unit scale: channel 1" in out, out
    assert 'data.normalize to "per_channel"' in out, out


def test_the_template_on_the_same_data_draws_no_channel_warning(tmp_path, capsys):
    X, y = sines(10, 50, 3)
    X[:, :, 1] *= 1e-4
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert main(["init", str(tmp_path / "t.toml")]) == 0
    text = (tmp_path / "t.toml").read_text()
    (tmp_path / "t.toml").write_text(text.replace('dataset = "GunPoint"', 'path = "d.npz"', 1))
    assert 'path = "d.npz"' in (tmp_path / "t.toml").read_text()
    out = doctor(capsys, tmp_path / "t.toml")
    assert "far from unit scale" not in out, out
