"""Issue 26's silent wrong results and hangs of the layers and the trainer: recurrent batch norm
and batch size 1, bounds on work (the introspection of a long series, SGDR's runs, stack depth),
an empty front-end list, regression-like targets, and flags and lengths taken loosely.

CLI cases are checked as tests/test_bad_inputs.py checks its table (exit 1, one line on stderr,
no traceback, the key or file named, every file there before unchanged); API cases by the
exception's type and message."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from test_bad_inputs import Env, _xy, config, one_line_error, precise_error
from tiny_run import run, tiny_toml

import rnnlab
from rnnlab.cli import main
from rnnlab.config import TrainingConfig, parse_config
from rnnlab.errors import ConfigError, RunDirError
from rnnlab.optim.schedule import _run_containing, warm_restart_factor
from rnnlab.rundir import RunDir
from rnnlab.train.trainer import batch_order, epoch_steps

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _train_cfg(env: Env, text: str) -> list[str]:
    return ["train", str(env.file("c.toml", text)), "--out", str(env.tmp / "new"), "--quiet"]


def _regression_targets(env: Env) -> list[str]:
    data = _xy(n=12)
    data["y"] = np.random.default_rng(0).standard_normal(12)  # a float target per series
    path = env.npz(**data)
    return _train_cfg(env, config().replace('dataset = "UnitTest"', f'path = "{path}"\nval_fraction = 0'))


CLI_CASES = [
    ("batch-norm-batch-1", lambda env: _train_cfg(env, config(model="recurrent_batch_norm = true").replace(
        "batch_size = 8", "batch_size = 1")), ("'training.batch_size' = 1", "'model.recurrent_batch_norm'")),
    ("num-layers-huge", lambda env: _train_cfg(env, config(model="num_layers = 100000")),
     ("'model.num_layers'", "expected an integer in [1, 32], got 100000")),
    ("frontend-empty-blocks", lambda env: _train_cfg(env, config() + "[model.frontend]\nblocks = []\n"),
     ("'model.frontend.blocks'", "expected at least one conv block", "got an empty list")),
    ("regression-targets", _regression_targets,
     ("d.npz", "y holds 12 distinct values among 12 series", "looks like regression targets")),
    ("inspect-steps-zero", lambda env: _train_cfg(env, config() + "inspect_steps = 0\n"), ("tracking.inspect_steps",)),
    ("doctor-batch-norm-batch-1", lambda env: ["doctor", str(env.file("c.toml", config(
        model="recurrent_batch_norm = true").replace("batch_size = 8", "batch_size = 1")))],
     ("'training.batch_size' = 1", "'model.recurrent_batch_norm'")),
]


@pytest.mark.parametrize(("case", "build", "expected"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_input_is_one_line_naming_the_problem(case, build, expected, tmp_path, capsys):
    env = Env(tmp_path, None)
    one_line_error(build(env), capsys, expected, kept=env.tmp)


def _cell() -> rnnlab.Recurrent:
    return rnnlab.Recurrent(rnnlab.cells.StateAsOutput(torch.nn.GRUCell(2, 3)), batch_first="no")


def _bn_training(x: torch.Tensor):
    return rnnlab.LSTM(2, 3, recurrent_batch_norm=True).train()(x)


API_CASES = [
    ("batch-first-string", lambda tmp: rnnlab.LSTM(2, 3, batch_first="no"), TypeError,
     ("batch_first: expected True or False, got str 'no'",)),
    ("bidirectional-int", lambda tmp: rnnlab.GRU(2, 3, bidirectional=2), TypeError,
     ("bidirectional: expected True or False, got int 2",)),
    ("bias-string", lambda tmp: rnnlab.RNN(2, 3, bias="False"), TypeError,
     ("bias: expected True or False, got str 'False'",)),
    ("layer-norm-int", lambda tmp: rnnlab.IndRNN(2, 3, layer_norm=1), TypeError,
     ("layer_norm: expected True or False, got int 1",)),
    ("recurrent-batch-first-string", lambda tmp: _cell(), TypeError, ("batch_first: expected True or False",)),
    ("lengths-bool-tensor", lambda tmp: rnnlab.LSTM(2, 3)(torch.randn(4, 2, 2), lengths=torch.tensor([True, True])),
     ValueError, ("lengths: expected integer lengths, got a bool tensor",)),
    ("lengths-bool-list", lambda tmp: rnnlab.GRU(2, 3)(torch.randn(4, 2, 2), lengths=[True, False]),
     ValueError, ("lengths: expected integer lengths, got a bool tensor",)),
    ("rundir-empty", lambda tmp: RunDir(""), RunDirError, ("run directory: expected a path, got ''",)),
    ("rundir-blank", lambda tmp: RunDir("  "), RunDirError, ("run directory: expected a path",)),
    ("batch-norm-one-sequence", lambda tmp: _bn_training(torch.randn(5, 1, 2)), ValueError,
     ("input: recurrent_batch_norm in training mode", "expected more than 1 sequence per batch, got 1")),
    ("batch-norm-unbatched", lambda tmp: _bn_training(torch.randn(5, 2)), ValueError,
     ("expected more than 1 sequence per batch, got 1",)),
    ("lstm-hx-three-states", lambda tmp: rnnlab.LSTM(2, 3)(torch.randn(4, 2, 2), (torch.zeros(1, 2, 3),) * 3),
     TypeError, ("hx: expected a tuple (h_0, c_0) for an LSTM, got a tuple of 3",)),
    # (as nn.LSTM: an unbatched input takes 2-D states; a batch axis of 1 in them was accepted)
    ("unbatched-input-batched-hx", lambda tmp: rnnlab.GRU(2, 3)(torch.randn(4, 2), torch.zeros(1, 1, 3)), ValueError,
     ("hx (h_0): expected a 2-D state (num_layers * num_directions, hidden_size) for unbatched 2-D input, got "
      "shape (1, 1, 3)",)),
    ("schedule-period-overflow", lambda tmp: warm_restart_factor(1e6, 5e-324, 2.0), ValueError,
     ("period: 5e-324 steps is too short",)),
]


@pytest.mark.parametrize(("case", "call", "error", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_input_raises_a_precise_error(case, call, error, expected, tmp_path):
    precise_error(case, call, error, expected, tmp_path)


def test_true_and_false_still_work_and_a_torch_module_with_truthy_flags_has_a_twin():
    assert rnnlab.LSTM(2, 3, batch_first=True, bidirectional=np.bool_(True)).bidirectional is True
    from rnnlab.layers.twin import twin_of

    twin = twin_of(torch.nn.GRU(2, 3, bidirectional=1))  # (torch takes 1; its batch_first and bias, bools only)
    assert twin.bidirectional is True


# ------------------------------------------------------------------------------ recurrent batch norm


def test_batch_norm_layer_runs_one_sequence_in_eval_mode():
    layer = rnnlab.LSTM(2, 3, recurrent_batch_norm=True)
    layer(torch.randn(5, 4, 2))  # training: statistics of 4 sequences
    out, _ = layer.eval()(torch.randn(5, 1, 2))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("n", range(1, 30))
def test_a_last_batch_of_one_joins_the_one_before(n):
    tc = TrainingConfig(batch_size=4, shuffle="samples")
    batches = batch_order(n, tc, torch.Generator().manual_seed(0), merge_single=True)
    sizes = [len(b) for b in batches]
    assert sorted(torch.cat(batches).tolist()) == list(range(n))
    assert 1 not in sizes or n == 1
    assert len(batches) == epoch_steps(n, 10, tc, merge_single=True)
    plain = batch_order(n, tc, torch.Generator().manual_seed(0))
    assert len(plain) == epoch_steps(n, 10, tc) == math.ceil(n / 4)


def test_a_batch_norm_run_whose_last_batch_has_one_sequence_trains_it_in_the_batch_before(tmp_path):
    # UnitTest: 16 training sequences after val_fraction 0.25; batches of 5: 5, 5, 5 and 1 -> 5, 5 and 6
    # (a batch of one would stop the run: the layer refuses it in training mode)
    cfg = parse_config(tiny_toml(model="recurrent_batch_norm = true", training="epochs = 2",
                                 after="[tracking]\nhealth = false\ngrad_through_time = false\n")
                       .replace("batch_size = 4", "batch_size = 5"))
    result = run(cfg, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("type", "epoch") == "epoch" and "epoch" in r]
    assert epochs and epochs[-1]["step"] == 6  # 2 epochs of 3 optimizer steps
    assert result is not None


# ------------------------------------------------------------------------------ bounds on work


def _reference_run(t: float, period: float, mult: float) -> tuple[float, float]:
    start, length = 0.0, period
    while t >= start + length:
        start += length
        length *= mult
    return start, length


@pytest.mark.parametrize("mult", [1.0, 1.001, 1.01, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("period", [0.3, 1.0, 2.0, 7.0])
def test_warm_restart_runs_in_closed_form_equal_the_loop(period, mult):
    for t in [0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 14.0, 30.0, 99.5, 250.0, 1000.0]:
        got = _run_containing(t, period, mult)
        # (equal runs: a division, exact where a loop's sum of periods rounds; 0.3 * 100 != 30)
        ref = (math.floor(t / period) * period, period) if mult == 1 else _reference_run(t, period, mult)
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-9), (t, got, ref)
        assert got[0] <= t < got[0] + got[1]


def test_a_vanishing_period_with_a_mult_near_one_is_computed_not_looped():
    # ~1e10 runs before step 1e6 (issue 26): the loop never ended
    start, length = _run_containing(1e6, 1e-9, 1.0 + 1e-9)
    assert start <= 1e6 < start + length
    assert 0.0 <= warm_restart_factor(1e6, 1e-9, 1.0 + 1e-9) <= 1.0


def test_a_restart_shorter_than_a_step_is_warned_and_the_run_finishes(tmp_path):
    cfg = parse_config(tiny_toml(training="epochs = 2", after="[training.schedule]\nkind = \"cosine_restarts\"\n"
                                 "restart_epochs = 1e-9\nrestart_mult = 1.000000001\n"
                                 "[tracking]\nhealth = false\ngrad_through_time = false\n"))
    lines: list[str] = []
    from rnnlab.train import train

    train(cfg, out=tmp_path / "run", progress=False, log=lines.append)
    assert any(line.startswith("warning: training.schedule.restart_epochs = 1e-09 is shorter than one optimizer "
                               "step") for line in lines), lines


def test_a_long_series_is_inspected_on_its_first_steps_only(tmp_path):
    # Issue 26: 4 series of 1e6 steps never finished the gradient through time after training
    # (every step's autograd graph kept). Here 4 series of 3000 steps, inspected on 40.
    T, n = 3000, 40
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "long.npz", X=rng.standard_normal((4, T, 1)).astype(np.float32), y=np.array([0, 1, 0, 1]))
    cfg = parse_config(f'[data]\npath = "{tmp_path / "long.npz"}"\nval_fraction = 0\n[model]\nhidden_size = 4\n'
                       f"[training]\nsteps = 1\nbatch_size = 4\n[tracking]\ninspect_steps = {n}\n")
    lines: list[str] = []
    from rnnlab.train import train

    train(cfg, out=tmp_path / "run", progress=False, log=lines.append)
    # (the health check's and the gradient through time's start lines name it too: tests/test_long_run_progress.py)
    said = [line for line in lines if "tracking.inspect_steps" in line and line.startswith("tracking:")]
    assert said == [f"tracking: the health checks and the gradient through time look at the first {n} of the {T} "
                    "steps of each series (tracking.inspect_steps: their time and memory grow with it)"]
    assert lines.index(said[0]) < next(i for i, line in enumerate(lines) if line.startswith("epoch"))
    gtt = json.loads((tmp_path / "run" / "grad_through_time.json").read_text())
    assert gtt["cropped"] == [n, T]
    assert [len(layer["grad"]) for m in gtt["modules"] for layer in m["layers"]] == [n]
    from rnnlab.report import read_grad_through_time

    g, meta = read_grad_through_time(tmp_path / "run")
    assert g[next(iter(g))].timesteps == n and meta["cropped"] == [n, T]
    assert (tmp_path / "run" / "health.json").exists()


def test_a_series_within_the_bound_is_inspected_whole(tmp_path):
    cfg = parse_config(tiny_toml(training="epochs = 1"))
    lines: list[str] = []
    from rnnlab.train import train

    train(cfg, out=tmp_path / "run", progress=False, log=lines.append)
    assert not [line for line in lines if "inspect_steps" in line]
    gtt = json.loads((tmp_path / "run" / "grad_through_time.json").read_text())
    assert "cropped" not in gtt


# ------------------------------------------------------------------------------ config round trips


def test_the_single_block_frontend_is_written_out_and_reads_back_the_same():
    from rnnlab.config import dump_config
    from rnnlab.search.space import apply_values

    cfg = parse_config('[data]\ndataset = "UnitTest"\n[model.frontend]\nstride = 3\n')
    text = dump_config(cfg)
    assert "channels = 32" in text and "stride = 3" in text and "kernel_size = 5" in text
    assert parse_config(text) == cfg
    assert apply_values(cfg, {"model.hidden_size": 8}).model.frontend == cfg.model.frontend  # (model_dump round trip)
    block = cfg.model.frontend.conv_blocks[0]
    assert (block.channels, block.kernel_size, block.stride, block.activation) == (32, 5, 3, "relu")


def test_integer_or_repeated_float_labels_are_classes(tmp_path):
    from rnnlab.config import DataConfig
    from rnnlab.data import load_data

    X = np.random.default_rng(0).standard_normal((12, 5, 1))
    for y in (np.arange(12.0), np.repeat([0.5, 1.5, 2.5], 4)):  # few-shot class ids; fractional but shared
        np.savez(tmp_path / "d.npz", X=X, y=y)
        data = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0), seed=0)
        assert len(data.classes) == len(np.unique(y))


def test_a_run_recorded_with_the_older_empty_blocks_spelling_still_reads(tmp_path, capsys):
    """Older rnnlab wrote the default single conv as ``[model.frontend] blocks = []``: a user's
    config with it is refused, but a run directory that recorded it still reports and resumes."""
    run_dir = tmp_path / "run"
    # (`rnnlab train`'s run, less its report, drawn below; no weights tracked: only the config is in question)
    text = config(model="[model.frontend]").replace("grads_every = 2", "weights_every = 0\ngrads_every = 0")
    run(parse_config(text), run_dir)
    recorded = (run_dir / "config.toml").read_text()
    older, n = re.subn(r"(?ms)^\[model\.frontend\]\n.*?(?=^\[)", "[model.frontend]\nblocks = []\n\n", recorded)
    assert n == 1 and "stride = 2" in recorded and "stride" not in older.split("[model.frontend]")[1].split("[")[0]
    with pytest.raises(ConfigError, match="model.frontend.blocks"):
        parse_config(older)
    assert parse_config(older, recorded=True) == parse_config(recorded)
    (run_dir / "config.toml").write_text(older)
    assert RunDir(run_dir).read_config() == parse_config(recorded)
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
