"""Where a run computes (rnnlab.device): the device and precision of a run, on every device
present (CUDA where torch sees a GPU: ``-k cuda``, as benchmarks/gpu_check.sh runs them), the
workers' GPUs, the CUDA generators in checkpoints, and bad devices as one-line errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from test_bad_inputs import config, one_line_error
from tiny_run import run, tiny_toml

import rnnlab
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.device import check_device, cuda_deterministic, resolve_device, worker_device
from rnnlab.errors import ConfigError
from rnnlab.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
ROOT = Path(__file__).resolve().parents[1]


def test_workers_take_the_gpus_in_turn_with_auto_and_share_a_named_one():
    assert [worker_device("auto", w, 2) for w in range(5)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert [worker_device("auto", w, 1) for w in range(3)] == ["auto"] * 3  # one GPU (or none): shared
    assert [worker_device("cuda:1", w, 4) for w in range(3)] == ["cuda:1"] * 3
    assert worker_device("cpu", 3, 4) == "cpu"


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:-1", "CUDA", "cuda:1:2", "", 0])
def test_a_bad_device_form_names_the_forms(value):
    with pytest.raises(ConfigError, match=r'^--device: expected "auto", "cpu", "cuda" or "cuda:N"'):
        check_device(value, "--device")


def test_a_gpu_that_is_not_there_is_one_line():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ConfigError, match="^training.device: 'cuda:99' asks for") as e:
        resolve_device("cuda:99")
    assert (f"torch sees {count}" if count else "use \"cpu\" or \"auto\"") in str(e.value)
    assert resolve_device("auto").type == ("cuda" if count else "cpu")


DEVICE_CASES = [
    ("train-device-form", False, ["train", "CFG", "--device", "gpu"], ("--device", "'gpu'", '"cuda:N"')),
    ("train-device-absent", False, ["train", "CFG", "--device", "cuda:99"], ("--device", "'cuda:99'")),
    ("doctor-device-form", False, ["doctor", "CFG", "--device", "tpu"], ("--device", "'tpu'")),
    ("search-device-form", False, ["search", "CFG", "--device", "cuda:x"], ("--device", "'cuda:x'")),
    ("recipe-device-form", False, ["recipe", "CFG", "--device", "mps"], ("--device", "'mps'")),
    ("config-device", False, ["train", "BAD_DEVICE"], ("'training.device'", "'tpu'", '"auto"')),
    ("config-precision", False, ["train", "BAD_PRECISION"], ("'training.precision'", "'fp16'", "'bf16'")),
    ("resume-device-absent", True, ["train", "CFG", "--out", "RUN", "--resume", "--device", "cuda:99"],
     ("--device", "'cuda:99'")),
]


@pytest.mark.parametrize(("case", "needs_run", "argv", "expected"), DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_a_bad_device_is_one_line_and_changes_nothing(case, needs_run, argv, expected, tmp_path, capsys, monkeypatch):
    files = {"CFG": config(), "BAD_DEVICE": config(training='device = "tpu"'),
             "BAD_PRECISION": config(training='precision = "fp16"')}
    run_dir = None
    monkeypatch.chdir(tmp_path)
    if needs_run:
        run_dir = tmp_path / "run"  # (a small finished run: the device is refused before it is read)
        run(parse_config(tiny_toml(training="epochs = 1", after="[tracking]\nenabled = false")), run_dir)
    args = []
    for a in argv:
        if a in files:
            (tmp_path / f"{a}.toml").write_text(files[a])
            a = str(tmp_path / f"{a}.toml")
        args.append(str(run_dir) if a == "RUN" else a)
    one_line_error(args, capsys, expected, kept=run_dir, new_files=False)
    assert not (tmp_path / "runs").exists()  # (nothing written for a run that cannot start)


def _metrics(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in path.read_text().splitlines()]


def test_a_run_trains_and_resumes_exactly_on_the_device(device, tmp_path):
    """The doctor, the tracker and the gradient through time with the model on the device, and a
    stopped run resumed gives the uninterrupted run (zoneout and dropout draw on the device)."""
    cfg = parse_config(tiny_toml(model="zoneout = 0.2\nrecurrent_dropout = 0.2",
                                 training=f'epochs = 2\ndevice = "{device}"'))
    with cuda_deterministic():
        whole = run(cfg, tmp_path / "whole")
        run(cfg, tmp_path / "parts", stop_after=1)
        parts = run(cfg, tmp_path / "parts", resume=True)
    assert _metrics(tmp_path / "whole/metrics.jsonl") == _metrics(tmp_path / "parts/metrics.jsonl")
    assert whole.train_eval == parts.train_eval
    timing = json.loads((tmp_path / "whole/timing.json").read_text())
    assert timing["device"] == str(resolve_device(str(device)))
    assert (tmp_path / "whole/tracked.jsonl").stat().st_size > 0
    if device.type == "cuda":
        assert len(load_checkpoint(tmp_path / "parts/checkpoints/last.pt")["rng"]["cuda"]) == torch.cuda.device_count()


def test_a_bf16_run_trains_close_to_the_float32_run(device, tmp_path):
    losses = {}
    for precision in ("32", "bf16"):
        cfg = parse_config(tiny_toml(training=f'epochs = 3\ndevice = "{device}"\nprecision = "{precision}"',
                                     after="[tracking]\nenabled = false"))
        result = run(cfg, tmp_path / precision)
        losses[precision] = [r["train_loss"] for r in _metrics(tmp_path / precision / "metrics.jsonl")]
        assert math.isfinite(result.train_eval["loss"])
    assert losses["bf16"][-1] < losses["bf16"][0]  # it learns
    for a, b in zip(losses["bf16"], losses["32"]):
        assert abs(a - b) < 0.05 * abs(b) + 0.02, losses


def test_old_checkpoints_without_cuda_states_load_and_cuda_states_are_kept(tmp_path):
    gen = torch.Generator().manual_seed(0)
    state = rng_state(gen)
    assert "cuda" not in state or torch.cuda.is_initialized()
    save_checkpoint(tmp_path / "old.pt", {"epoch": 1, "step": 1, "model": {}, "rng": state})
    set_rng_state(load_checkpoint(tmp_path / "old.pt")["rng"], gen)
    fake = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [torch.zeros(816, dtype=torch.uint8)]
    save_checkpoint(tmp_path / "new.pt", {"epoch": 1, "step": 1, "model": {}, "rng": {**state, "cuda": fake}})
    loaded = load_checkpoint(tmp_path / "new.pt")["rng"]
    assert all(torch.equal(a, b) for a, b in zip(loaded["cuda"], fake))
    set_rng_state(loaded, gen)  # (without CUDA the GPUs' states are not asked for)


def test_the_layers_weights_are_one_buffer_per_layer_on_cuda(device):
    if device.type != "cuda":
        pytest.skip("cuDNN's flat weights exist on CUDA only; on the CPU flatten_parameters does nothing")
    m = rnnlab.LSTM(4, 8, num_layers=2, bidirectional=True).to(device)
    keys = list(rnnlab.LSTM(4, 8, num_layers=2, bidirectional=True).state_dict())
    assert list(m.state_dict()) == keys
    for layer in range(2):
        ps = [p for n, p in m.named_parameters() if f"_l{layer}" in n]
        assert len({p.untyped_storage().data_ptr() for p in ps}) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cuDNN's "not part of single contiguous chunk of memory"
        m(torch.randn(5, 3, 4, device=device))[0].sum().backward()


def test_version_lists_the_devices(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    out = capsys.readouterr().out
    assert "devices: cpu" in out and ("cuda:0" in out if torch.cuda.is_available() else "CUDA" in out)


def test_gpu_check_parses_and_its_benchmark_runs_on_the_cpu(capsys):
    """The script's syntax, and the bench_layers --device table it prints (a tiny size on the CPU;
    ``bash benchmarks/gpu_check.sh --dry-run`` runs every part of it, in about 30 s)."""
    script = ROOT / "benchmarks" / "gpu_check.sh"
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_layers
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert bench_layers.main(["--device", "cpu", "--sizes", "4", "--iters", "1", "--seconds", "0", "--warmup", "0",
                              "--only", "no regularizer"]) == 0
    out = capsys.readouterr().out
    assert "| LSTM, no regularizer | 4 |" in out and "ratio" in out, out
