"""The training loop: exact schedules and batch orders, determinism, resume equal to an
uninterrupted run, checkpoints that load with weights_only and fail loudly when damaged."""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import pytest
import torch
from tiny_run import run, tiny_toml  # tests/tiny_run.py

from rnnlab.config import ScheduleConfig, TrainingConfig, parse_config
from rnnlab.errors import CheckpointError, ConfigError, RunDirError
from rnnlab.rundir import RunDir, read_json, read_jsonl
from rnnlab.train import load_checkpoint, train
from rnnlab.train.trainer import batch_order, lr_factor, with_derived_names

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny(epochs=3, seed=0, model="", training=""):
    return parse_config(tiny_toml(model=model, training=f"epochs = {epochs}\nweight_decay = 0.01\nseed = {seed}\n{training}",
                                  after="[tracking]\nweights_every = 2\ngrads_every = 3\nhealth = false"))


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def test_lr_factor_by_hand():
    cos = ScheduleConfig(kind="cosine", warmup_epochs=1)
    # warm-up: (s+1)/10 over the first epoch of 10 steps, then cosine over the remaining 20 steps
    assert lr_factor(cos, 4, 10, 30) == pytest.approx(0.5)
    assert lr_factor(cos, 15, 10, 30) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 20)))
    assert lr_factor(ScheduleConfig(kind="cosine"), 10, 10, 20, floor=0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    step = ScheduleConfig(kind="step", step_epochs=2, gamma=0.5)
    assert [lr_factor(step, s, 10, 100) for s in (0, 19, 20, 45)] == [1.0, 1.0, 0.5, 0.25]
    sgdr = ScheduleConfig(kind="cosine_restarts", restart_epochs=1, restart_mult=2)
    # cycles of 1, 2, 4 epochs: a restart at epochs 1 and 3
    assert lr_factor(sgdr, 10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(sgdr, 20, 10, 100) == pytest.approx(0.5)
    assert lr_factor(sgdr, 30, 10, 100) == pytest.approx(1.0)
    assert lr_factor(ScheduleConfig(), 7, 10, 100) == 1.0


def test_batch_orders():
    g = torch.Generator().manual_seed(0)
    samples = batch_order(10, TrainingConfig(batch_size=4, shuffle="samples"), g)
    assert [len(b) for b in samples] == [4, 4, 2]
    assert sorted(torch.cat(samples).tolist()) == list(range(10))
    batches = batch_order(10, TrainingConfig(batch_size=4, shuffle="batches"), torch.Generator().manual_seed(1))
    assert sorted(b.tolist() for b in batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    within = batch_order(10, TrainingConfig(batch_size=4, shuffle="none", shuffle_within_batch=True),
                         torch.Generator().manual_seed(2))
    assert [sorted(b.tolist()) for b in within] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.tolist() for b in within] != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_metrics_records_and_summary(tmp_path):
    result = run(tiny(epochs=3), tmp_path)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    # 15 training sequences in batches of 4: 4 optimizer steps per epoch
    assert [r["step"] for r in records] == [4, 8, 12]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "weight_decay", "grad_norm", "grad_norm_max"):
        assert all(key in r for r in records), key
    assert records[0]["weight_decay"] == 0.01
    summary = read_json(tmp_path / "summary.json")
    assert summary["test"]["acc"] == result.test["acc"]
    assert 0.0 <= summary["test"]["acc"] <= 1.0
    assert (tmp_path / "config.toml").exists()
    # the resolved config: name and output.dir, left unset, follow the data
    stored = parse_config((tmp_path / "config.toml").read_text())
    assert stored == with_derived_names(tiny(epochs=3))
    assert (stored.name, stored.output.dir) == ("UnitTest-lstm", "runs/UnitTest-lstm")
    # The tracker recorded every 2nd step (weights) and every 3rd (gradients), steps 0..11.
    tracked = read_jsonl(tmp_path / "tracked.jsonl")
    w = sorted({r["step"] for r in tracked if r["name"] == "rnn.weight_hh_l0" and r["stat"] == "l2"})
    g = sorted({r["step"] for r in tracked if r["name"] == "rnn.weight_hh_l0" and r["stat"] == "grad_l2"})
    assert w == list(range(0, 12, 2)) and g == list(range(0, 12, 3))


def test_same_seed_same_metrics_and_weights(tmp_path):
    cfg = tiny(epochs=2, model="recurrent_dropout = 0.2\nweight_drop = 0.2")
    a, b = run(cfg, tmp_path / "a"), run(cfg, tmp_path / "b")
    assert without_time(read_jsonl(tmp_path / "a/metrics.jsonl")) == without_time(read_jsonl(tmp_path / "b/metrics.jsonl"))
    for (n, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(p, q), n
    c = run(tiny(epochs=2, seed=1, model="recurrent_dropout = 0.2\nweight_drop = 0.2"), tmp_path / "c")
    assert not torch.equal(a.model.rnn.weight_hh_l0, c.model.rnn.weight_hh_l0)


@pytest.mark.parametrize("extra", ["", "early_stopping = { patience = 50 }\nshuffle = 'batches'\nshuffle_within_batch = true"])
def test_resume_equals_uninterrupted(tmp_path, extra):
    model = "recurrent_dropout = 0.2\n[model.head]\ndropout = 0.3"
    training = "[training.schedule]\nkind = 'cosine'\nwarmup_epochs = 1" if not extra else extra
    cfg = tiny(epochs=4, model=model, training=training)
    whole = run(cfg, tmp_path / "whole")
    first = run(cfg, tmp_path / "split", stop_after=2)
    assert first.epochs == 2
    resumed = run(cfg, tmp_path / "split", resume=True)
    assert resumed.epochs == 4
    assert without_time(read_jsonl(tmp_path / "split/metrics.jsonl")) == without_time(read_jsonl(tmp_path / "whole/metrics.jsonl"))
    for (n, p), (_, q) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(p, q), n
    assert read_jsonl(tmp_path / "split/tracked.jsonl") == read_jsonl(tmp_path / "whole/tracked.jsonl")
    assert resumed.test == whole.test


def test_resume_drops_records_after_the_checkpoint(tmp_path):
    cfg = tiny(epochs=3)
    run(cfg, tmp_path, stop_after=2)
    # A killed run may have written records of epoch 3 before dying: they must not survive.
    from rnnlab.rundir import append_jsonl

    append_jsonl(tmp_path / "metrics.jsonl", {"epoch": 3, "step": 12, "train_loss": 9.0})
    append_jsonl(tmp_path / "tracked.jsonl", {"step": 9, "epoch": 3, "name": "x", "stat": "l2", "value": 1.0})
    run(cfg, tmp_path, resume=True)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3] and records[2]["train_loss"] != 9.0
    assert not any(r["name"] == "x" for r in read_jsonl(tmp_path / "tracked.jsonl"))


def test_checkpoint_is_plain_and_loads_with_weights_only(tmp_path):
    run(tiny(epochs=1), tmp_path)
    wrapper = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    assert set(wrapper) == {"format", "version", "sha256", "payload"}
    payload = wrapper["payload"].numpy().tobytes()
    assert hashlib.sha256(payload).hexdigest() == wrapper["sha256"]
    state = torch.load(io.BytesIO(payload), weights_only=True)
    assert state["epoch"] == 1 and state["step"] == 4
    assert set(state["rng"]) == {"torch", "shuffle", "numpy", "python"}
    assert torch.is_tensor(state["model"]["rnn.weight_hh_l0"])
    assert (tmp_path / "checkpoints/best.pt").exists()


def test_corrupt_and_truncated_checkpoints_name_the_file(tmp_path):
    run(tiny(epochs=1), tmp_path)
    path = tmp_path / "checkpoints/last.pt"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checkpoint .*last\.pt is corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="last.pt is corrupt or truncated"):
        run(tiny(epochs=2), tmp_path, resume=True)
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    torch.save({"model": {}}, path)
    with pytest.raises(CheckpointError, match="not an rnnlab checkpoint"):
        load_checkpoint(path)


def test_run_directory_guards(tmp_path):
    with pytest.raises(RunDirError, match="no checkpoint to resume"):
        run(tiny(epochs=1), tmp_path / "fresh", resume=True)
    run(tiny(epochs=1), tmp_path / "done")
    with pytest.raises(RunDirError, match="already holds a run; pass --resume"):
        run(tiny(epochs=1), tmp_path / "done")
    with pytest.raises(ConfigError, match=r"differs from the run's .* in model.layer \('lstm' -> 'gru'\); model.layer changes"):
        run(tiny(epochs=1, model="layer = 'gru'"), tmp_path / "done", resume=True)


def test_early_stopping_stops_patience_epochs_after_the_best(tmp_path):
    # lr so small nothing changes much: validation loss stalls within a few epochs
    cfg = tiny(epochs=30, training="early_stopping = { patience = 2, monitor = 'val_acc' }")
    result = run(cfg, tmp_path)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    accs = [r["val_acc"] for r in records]
    best_epoch = 1 + int(np.argmax(accs))  # first epoch reaching the maximum
    assert result.stopped_early
    assert len(records) == best_epoch + 2
    assert result.best["epoch"] == best_epoch
    # Resuming a run that stopped early trains nothing more.
    again = run(cfg, tmp_path, resume=True)
    assert again.epochs == len(records)


def test_stateful_windows_take_one_step_per_window(tmp_path):
    cfg = tiny(epochs=1, training="stateful_window = 8")
    run(cfg, tmp_path)
    # 15 sequences of 24 steps, batches of 4 -> 4 batches x 3 windows
    assert read_jsonl(tmp_path / "metrics.jsonl")[0]["step"] == 12
    with pytest.raises(ConfigError, match="stateful_window needs equal-length sequences"):
        run(parse_config('[data]\ndataset = "JapaneseVowels"\n[training]\nstateful_window = 5\n[tracking]\nenabled = false'),
            tmp_path / "jv")


def test_constraints_and_decay_rules_reach_the_model(tmp_path):
    cfg = tiny(epochs=2, model="recurrent_constraint = { kind = 'max_norm', value = 0.3 }",
               training="[[training.decay_rules]]\nrole = 'recurrent'\nweight_decay = 0.5")
    result = run(cfg, tmp_path)
    assert (result.model.rnn.weight_hh_l0.norm(dim=1) <= 0.3 + 1e-6).all()
    assert read_jsonl(tmp_path / "metrics.jsonl")[0]["weight_decay"] == 0.5
    with pytest.raises(ConfigError, match="training.decay_rules"):
        run(tiny(epochs=1, training="[[training.decay_rules]]\nname = 'nothing_matches'\nweight_decay = 0.1"),
            tmp_path / "bad")


@pytest.mark.parametrize("layer", ["gru", "rnn", "indrnn"])
def test_other_layers_and_poolings_train(tmp_path, layer):
    cfg = tiny(epochs=1, model=f"layer = '{layer}'\nbidirectional = true\n[model.head]\npooling = 'mean'")
    result = run(cfg, tmp_path)
    assert math.isfinite(read_jsonl(tmp_path / "metrics.jsonl")[0]["train_loss"])
    assert result.model.rnn.kind == layer


def test_variable_length_with_frontend(tmp_path):
    cfg = parse_config("""
[data]
dataset = "JapaneseVowels"
val_fraction = 0.0
[model]
hidden_size = 8
[model.frontend]
channels = 4
kernel_size = 3
stride = 2
[training]
epochs = 1
batch_size = 64
[tracking]
enabled = false
""")
    result = run(cfg, tmp_path)
    assert result.test is not None and 0.0 <= result.test["acc"] <= 1.0
    # The conv keeps track of each sequence's valid steps: ceil(L / 2) for kernel 3, padding 1.
    lengths = torch.tensor([7, 8, 29])
    assert result.model.frontend.out_lengths(lengths).tolist() == [4, 4, 15]


def with_training(cfg, **updates):
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=updates)})


def test_resume_refuses_a_changed_config_and_records_an_allowed_change(tmp_path):
    run(tiny(epochs=2), tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=r"training.lr \(0.01 -> 0.05\); training.lr changes what the run means"):
        train(with_training(tiny(epochs=3), lr=0.05), out=tmp_path, resume=True, progress=False, log=None)
    with pytest.raises(ConfigError, match=r"pass --allow-change training.epochs \(Python: allow_change=\['training.epochs'\]\) to continue"):
        train(tiny(epochs=3), out=tmp_path, resume=True, progress=False, log=None)
    with pytest.raises(ConfigError, match=r"--allow-change \(Python: allow_change\): 'training.lr' changes what the run means"):
        train(tiny(epochs=3), out=tmp_path, resume=True, progress=False, log=None, allow_change=["training.lr"])
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing touched
    logs = []
    result = train(tiny(epochs=3), out=tmp_path, resume=True, progress=False, log=logs.append,
                   allow_change=["training.epochs"])
    assert result.epochs == 3
    assert any("with training.epochs 2 -> 3" in line for line in logs)
    (record,) = RunDir(tmp_path).read_resumes()
    assert record["after_epoch"] == 2 and record["changed"] == {"training.epochs": [2, 3]}
    assert RunDir(tmp_path).read_config().training.epochs == 3  # config.toml says what the run follows
    # A pattern admits a family of harmless keys; the log keeps both resumes (each trains on: a
    # resume of a finished run writes nothing).
    cfg = tiny(epochs=4).model_copy(update={"tracking": tiny().tracking.model_copy(update={"grads_every": 5})})
    train(cfg, out=tmp_path, resume=True, progress=False, log=None, allow_change=["training.epochs", "tracking.*"])
    assert [r["changed"] for r in RunDir(tmp_path).read_resumes()] == [
        {"training.epochs": [2, 3]}, {"training.epochs": [3, 4], "tracking.grads_every": [3, 5]}]


def test_nonfinite_gradients_stop_with_a_clear_error(tmp_path):
    from rnnlab.train.trainer import TrainingDiverged

    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+: gradients: global 2-norm is nan; .*lower training.lr"):
        run(with_training(tiny(epochs=1), lr=1e30), tmp_path)


def test_health_check_writes_findings_and_leaves_training_untouched(tmp_path):
    plain = tiny(epochs=2, model="recurrent_dropout = 0.2")
    checked = plain.model_copy(update={"tracking": plain.tracking.model_copy(update={"health": True})})
    run(plain, tmp_path / "plain")
    run(checked, tmp_path / "checked")
    assert isinstance(read_json(tmp_path / "checked/health.json"), (list, dict))
    assert not (tmp_path / "plain/health.json").exists()
    # The diagnosis works on copies under its own seed: the run itself is unchanged.
    assert without_time(read_jsonl(tmp_path / "plain/metrics.jsonl")) == without_time(read_jsonl(tmp_path / "checked/metrics.jsonl"))


def test_digits_rows_are_learned(tmp_path):
    cfg = parse_config("""
[data]
dataset = "digits_rows"
val_fraction = 0.1
[model]
hidden_size = 32
[training]
epochs = 4
batch_size = 32
lr = 0.01
[tracking]
enabled = false
""")
    result = run(cfg, tmp_path)
    assert result.test["acc"] > 0.85  # chance is 0.1


def test_train_leaves_the_callers_random_generators_as_they_were(tmp_path):
    """A run seeds the global generators; the caller's own draws go on as if it had not run (a
    bootstrap loop round an estimator's fit drew the same "random" numbers every time)."""
    import random

    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    expected = draws()
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    run(tiny(epochs=1), tmp_path / "a")
    assert draws() == expected
