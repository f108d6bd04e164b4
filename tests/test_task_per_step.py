"""Per-step targets (``[task] per_step = true``): a label at every step, padding never scored,
the head on every step, the front-end and pooling rules, stateful windows cutting the targets,
and the whole product (train, resume, search with 2 workers, recipe with 2 seeds, report) on
tiny data; the bad per-step targets as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tiny_run
import torch

from rnnlab.cli import main
from rnnlab.config import (
    _PER_STEP_EDITS,
    _PER_STEP_VALUES,
    TEMPLATE,
    ModelConfig,
    load_config,
    parse_config,
    template_for,
)
from rnnlab.data import load_data
from rnnlab.data.synthetic import adding_problem, delayed_copy, majority_step_accuracy
from rnnlab.errors import ConfigError, DataError
from rnnlab.task import (
    PAD_LABEL,
    PER_STEP_CLASSIFICATION,
    PER_STEP_REGRESSION,
    TargetScale,
    task_for,
)
from rnnlab.train.model import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tags(n: int = 48, steps: int = 12, seed: int = 0, delay: int = 1, ragged: bool = True) -> dict[str, np.ndarray]:
    """A tiny per-step set: 3 symbols, the label of a step is the symbol ``delay`` steps back."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 3, size=(n, steps))
    y = np.roll(symbols, delay, axis=1)
    y[:, :delay] = 0
    lengths = rng.integers(steps // 2, steps + 1, size=n) if ragged else np.full(n, steps)
    return {"X": np.eye(3)[symbols], "y": y, "lengths": lengths}


CONFIG = """name = "tags"
[task]
per_step = true
[data]
path = "{path}"
val_fraction = 0.25
{data}
[model]
hidden_size = 12
{model}
[training]
epochs = {epochs}
batch_size = 8
lr = 0.02
{training}
[tracking]
weights_every = 4
grads_every = 4
{after}
"""


def write(tmp: Path, *, epochs: int = 2, data: str = "", model: str = "", training: str = "", after: str = "",
          arrays: dict[str, np.ndarray] | None = None) -> Path:
    np.savez(tmp / "tags.npz", **(arrays if arrays is not None else tags()))
    path = tmp / "c.toml"
    path.write_text(CONFIG.format(path=tmp / "tags.npz", data=data, model=model, epochs=epochs, training=training,
                                  after=after))
    return path


# ------------------------------------------------------------------------------ meaning


def test_per_step_loss_and_metrics_ignore_padded_steps():
    """The same logits of the valid steps, with and without padded steps after them (any
    logits there), give the same loss and metrics; each valid step counts once."""
    torch.manual_seed(0)
    a, b = torch.randn(1, 5, 3), torch.randn(1, 3, 3)
    ya, yb = torch.tensor([[0, 1, 2, 1, 0]]), torch.tensor([[2, 2, 1]])
    # Padded into one batch of 9 steps, with garbage logits (and labels) past each length.
    logits = torch.randn(2, 9, 3) * 100
    logits[0, :5], logits[1, :3] = a[0], b[0]
    y = torch.full((2, 9), PAD_LABEL)
    y[0, :5], y[1, :3] = ya[0], yb[0]
    loss = PER_STEP_CLASSIFICATION.loss_fn()
    flat_logits, flat_y = torch.cat([a[0], b[0]]), torch.cat([ya[0], yb[0]])
    expected = torch.nn.functional.cross_entropy(flat_logits, flat_y)
    assert torch.allclose(loss(logits, y), expected)
    # The same two sequences trimmed to the batch's longest (the trainer's _trim): unchanged.
    assert torch.allclose(loss(logits[:, :5], y), expected)
    padded, alone = PER_STEP_CLASSIFICATION.tally(), PER_STEP_CLASSIFICATION.tally()
    padded.add(logits, y)
    alone.add(a, ya)
    alone.add(b, yb)
    assert padded.n == alone.n == 8
    assert padded.result() == pytest.approx(alone.result())
    assert padded.result()["loss"] == pytest.approx(float(expected))


def test_a_padded_batch_evaluates_like_each_sequence_alone(tmp_path):
    """Through the model: the trainer's evaluate over a padded split equals the mean over each
    sequence evaluated alone, weighted by its valid steps."""
    from rnnlab.data.bundled import Sequences
    from rnnlab.train.trainer import evaluate

    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden_size=6), 3, 3, per_step=True).eval()
    d = tags(n=6, steps=10)
    y = np.where(np.arange(10)[None, :] < d["lengths"][:, None], d["y"], PAD_LABEL)
    split = Sequences(d["X"].astype(np.float32), y, d["lengths"], ["0", "1", "2"])
    together = evaluate(model, split, PER_STEP_CLASSIFICATION)
    parts = [evaluate(model, split.subset(np.array([i])), PER_STEP_CLASSIFICATION) for i in range(6)]
    weights = d["lengths"] / d["lengths"].sum()
    for key in ("loss", "acc"):
        assert together[key] == pytest.approx(sum(w * p[key] for w, p in zip(weights, parts, strict=True)), rel=1e-5)


def test_the_head_reads_every_step_and_a_bad_model_is_refused():
    model = build_model(ModelConfig(hidden_size=5, bidirectional=True), 3, 4, per_step=True)
    logits, _ = model(torch.randn(2, 7, 3), torch.tensor([7, 4]))
    assert logits.shape == (2, 7, 4)
    # the front-end keeps the length when it may: odd kernels, stride 1, pool 1
    ok = ModelConfig(hidden_size=5, frontend={"blocks": [{"channels": 4, "kernel_size": 5, "norm": "batch"}]})
    assert build_model(ok, 3, 4, per_step=True)(torch.randn(2, 9, 3))[0].shape == (2, 9, 4)
    for model_lines, key in (("frontend = { channels = 4, kernel_size = 3, stride = 2 }", "stride"),
                             ("[[model.frontend.blocks]]\nchannels = 4\nkernel_size = 3\npool = 2", "pool"),
                             ("frontend = { channels = 4, kernel_size = 4, stride = 1 }", "kernel_size"),
                             ("head = { pooling = \"mean\" }", "model.head.pooling"),
                             ("head = { frontend_pooling = \"mean\" }\nfrontend = { channels = 4, kernel_size = 3, stride = 1 }",
                              "model.head.frontend_pooling")):
        with pytest.raises(ConfigError) as e:
            parse_config(f'[task]\nper_step = true\n[data]\ndataset = "delayed_copy"\n[model]\n{model_lines}')
        assert key in str(e.value) and "per_step = true" in str(e.value) and "\n" not in str(e.value)


def test_stateful_windows_cut_the_targets_with_them(tmp_path):
    """With windows of 4 steps the targets of each window are its own steps: the model learns the
    one-step-back copy (the state carries the previous window's last symbol)."""
    # (8 epochs reach 1.0 on training seeds 0-2; the same windows without the state carried
    # between them stay near 0.88: the first step of each window cannot be known)
    # (tracking off: only the accuracy is checked; the same 1.0 on training seeds 0-2 with it on or off)
    config = write(tmp_path, epochs=8, arrays=tags(n=64, steps=12, ragged=False),
                   training="stateful_window = 4", after="enabled = false")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["train_eval"]["acc"] > 0.9, summary


def test_train_loss_is_the_mean_over_valid_steps(tmp_path):
    """An epoch's train_loss weighs each batch by its valid steps (not by its sequences)."""
    from rnnlab.train.trainer import _EpochStats

    stats = _EpochStats(PER_STEP_CLASSIFICATION.tally())
    y1 = torch.tensor([[0, PAD_LABEL, PAD_LABEL]])  # one valid step
    y2 = torch.tensor([[0, 1, 2]])  # three
    stats.add(1.0, torch.zeros(1, 3, 3), y1, 0.0)
    stats.add(3.0, torch.zeros(1, 3, 3), y2, 0.0)
    assert stats.seen == 4 and stats.loss_sum / stats.seen == pytest.approx((1.0 + 3 * 3.0) / 4)


# ------------------------------------------------------------------------------ end to end


def test_train_resume_report_and_doctor_end_to_end(tmp_path, capsys):
    config = write(tmp_path, epochs=4)
    run = tmp_path / "run"
    cfg = load_config(config)
    tiny_run.run(cfg, run, stop_after=2)  # a session that stops after 2 of the 4 epochs
    tiny_run.run(cfg, run, resume=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(records[-1])
    # resumed exactly: the same records as one uninterrupted run (whose lines rnnlab train shows)
    straight = tmp_path / "straight"
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(straight)]) == 0
    out = capsys.readouterr().out
    assert "train per-step accuracy" in out
    again = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    for r, s in zip(records, again, strict=True):
        assert r["train_loss"] == pytest.approx(s["train_loss"]) and r["val_acc"] == s["val_acc"]
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "val_acc" in page
    from test_report import _chromium  # the report in a real browser: every figure loads

    dom = _chromium(["--dump-dom", (run / "report.html").resolve().as_uri()], tmp_path)
    assert dom.returncode == 0 and 'data-broken-images="0"' in dom.stdout, dom.stderr[-2000:]
    capsys.readouterr()
    assert main(["doctor", str(config), "--steps", "2"]) == 0
    # class scores at every step: the softmax check reads them (it skipped them behind the per-step loss)
    assert "softmax_init" not in capsys.readouterr().out


def test_search_with_two_workers_and_recipe_with_two_seeds(tmp_path):
    np.savez(tmp_path / "test.npz", **tags(n=16, seed=1))
    # (tracking off: the tracker's records and figures are not what the search and the recipe are
    # checked for here, and the reports of their final runs are drawn several times faster without)
    config = write(tmp_path, epochs=2, data=f'test_path = "{tmp_path / "test.npz"}"',
                   after='enabled = false\n'
                         '[search]\nfolds = 2\ntrials = 2\nsampler = "random"\nreports = "none"\n'
                         '[search.space]\n"model.recurrent_dropout" = { low = 0.0, high = 0.3 }')
    final, _, _ = tiny_run.search_then_recipe(config, tmp_path, trials=2, step="zoneout")
    assert set(final["test"]) == {"acc", "loss"} and 0.0 <= final["test"]["acc"] <= 1.0
    assert "test per-step accuracy" in (tmp_path / "r" / "recipe.md").read_text()


def test_init_per_step_template_trains_on_the_generated_set(tmp_path):
    for old, _ in _PER_STEP_EDITS:  # every edit still finds its text in the classification template
        assert old in TEMPLATE, old
    labels = template_for("per-step-classification")
    for old, _ in _PER_STEP_VALUES:
        assert old in labels, old
    path = tmp_path / "t.toml"
    assert main(["init", str(path), "--task", "per-step-classification"]) == 0
    cfg = parse_config(path.read_text())
    assert task_for(cfg) is PER_STEP_CLASSIFICATION and cfg.data.dataset == "delayed_copy"
    # The template as written, on a small budget: it trains, and beats the memoryless baseline.
    text = path.read_text().replace("steps = 2000", "steps = 120").replace("hidden_size = 64", "hidden_size = 16")
    text = text.replace("channels = 64", "channels = 8").replace("warmup_steps = 50", "warmup_steps = 10")
    # (no weight or gradient norms recorded: the report drawn after training is quicker; the
    # training, and so the accuracy checked, is the same with them)
    text = text.replace("weights_every = 10", "weights_every = 0").replace("grads_every = 10", "grads_every = 0")
    path.write_text(text)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    d = load_data(parse_config(text).data, seed=0, task=PER_STEP_CLASSIFICATION)
    assert d.test is not None
    base = majority_step_accuracy(d.test.y, d.test.lengths, d.train.y, d.train.lengths)
    assert summary["test"]["acc"] > base + 0.05, (summary["test"], base)
    assert template_for() == TEMPLATE
    values = parse_config(template_for("per-step-regression"))  # values in the input's units: no per-series scaling
    assert task_for(values) is PER_STEP_REGRESSION and values.data.dataset == "adding_problem"
    assert (values.data.normalize, values.data.series_scale) == ("per_channel", False)
    # a value held over hundreds of steps: no per-step batch statistics, a faster lr (docs/per_step.md);
    # the label template keeps the classification template's
    assert (values.model.recurrent_batch_norm, values.training.lr, values.training.early_stopping.patience) == \
        (False, 1e-2, 0)
    assert (cfg.model.recurrent_batch_norm, cfg.training.lr) == (True, 3e-3)


def test_the_generated_set_is_fixed_and_its_padding_is_never_a_class():
    a, b = delayed_copy(10, seed=3), delayed_copy(10, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    d = load_data(parse_config('[task]\nper_step = true\n[data]\ndataset = "delayed_copy"').data, seed=0,
                  task=PER_STEP_CLASSIFICATION)
    valid = np.arange(d.train.y.shape[1])[None, :] < d.train.lengths[:, None]
    assert (d.train.y[~valid] == PAD_LABEL).all() and (d.train.y[valid] >= 0).all()
    assert d.classes == ["-", "a", "b", "c", "d"]


# ------------------------------------------------------------------------------ bad targets


def _bad(tmp_path: Path, arrays: dict[str, np.ndarray], test: dict[str, np.ndarray] | None = None,
         task: str = "[task]\nper_step = true", dataset: str | None = None) -> list[str]:
    np.savez(tmp_path / "d.npz", **arrays)
    data = f'dataset = "{dataset}"' if dataset else f'path = "{tmp_path / "d.npz"}"'
    if test is not None:
        np.savez(tmp_path / "t.npz", **test)
        data += f'\ntest_path = "{tmp_path / "t.npz"}"'
    (tmp_path / "c.toml").write_text(f"{task}\n[data]\n{data}\n[training]\nepochs = 1\n")
    return ["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")]


def _nan_in_valid() -> dict[str, np.ndarray]:
    d = tags(n=8, steps=6, ragged=False)
    y = d["y"].astype(float)
    y[2, 3] = np.nan
    return {**d, "y": y}


def _nan_in_padding() -> dict[str, np.ndarray]:
    d = tags(n=8, steps=6, ragged=False)
    y = d["y"].astype(float)
    y[:, 5] = np.nan
    return {**d, "y": y, "lengths": np.full(8, 5)}


BAD = [
    ("shorter y", lambda: {**tags(n=8, steps=6), "y": tags(n=8, steps=6)["y"][:, :4]},
     None, ("d.npz", "y has 4 steps, X has 6", "[8, 6]", "[8, 4]")),
    ("one label per sequence", lambda: {**tags(n=8, steps=6), "y": np.arange(8) % 2},
     None, ("d.npz", "expected y of shape [8, 6]", "got [8]", "per_step = false")),
    ("NaN in a valid step", _nan_in_valid, None, ("d.npz", "1 missing label(s) (NaN or inf)", "[2, 3]")),
    ("fractional labels", lambda: {**tags(n=8, steps=6), "y": tags(n=8, steps=6)["y"] + 0.5},
     None, ("d.npz", "fractional values", "[task] kind")),
    ("one class", lambda: {**tags(n=8, steps=6), "y": np.zeros((8, 6), dtype=int)},
     None, ("d.npz", "at least 2 classes")),
    ("test file with other steps", lambda: tags(n=8, steps=6),
     lambda: {**tags(n=8, steps=9), "y": tags(n=8, steps=9)["y"][:, :7]}, ("t.npz", "y has 7 steps, X has 9")),
    ("test label unseen", lambda: tags(n=8, steps=6), lambda: {**tags(n=8, steps=6), "y": np.full((8, 6), 7)},
     ("data.test_path", "t.npz", "['7'] do not occur")),
]


@pytest.mark.parametrize(("case", "train", "test", "expected"), BAD, ids=[c[0] for c in BAD])
def test_bad_per_step_targets_are_one_line_errors(case, train, test, expected, tmp_path, capsys):
    from test_bad_inputs import one_line_error

    argv = _bad(tmp_path, train(), test() if test else None)
    one_line_error(argv, capsys, expected)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_padding_may_hold_anything(tmp_path, capsys):
    argv = _bad(tmp_path, _nan_in_padding())
    assert main([*argv, "--quiet"]) == 0


def test_a_label_of_minus_100_inside_a_sequence_is_a_step_without_a_target(tmp_path):
    # torch's ignore_index, as token-classification data mark sub-words: no class "-100", and the
    # step is out of the loss and the metrics; -1 is a label like any other.
    from rnnlab.data.per_step import per_step_sequences

    y = np.array([[0, 1, -100, 1], [1, -100, 0, 9]])
    np.savez(tmp_path / "t.npz", X=np.zeros((2, 4, 1)), y=y, lengths=np.array([4, 3]))
    s = per_step_sequences(str(tmp_path / "t.npz"), "data.path", PER_STEP_CLASSIFICATION, None)
    assert s.classes == ["0", "1"] and s.y.tolist() == [[0, 1, PAD_LABEL, 1], [1, PAD_LABEL, 0, PAD_LABEL]]
    logits = torch.randn(2, 4, 2)
    tally = PER_STEP_CLASSIFICATION.tally()
    tally.add(logits, torch.as_tensor(s.y))
    kept = torch.as_tensor(s.y) != PAD_LABEL
    assert tally.n == 5 and tally.result()["loss"] == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits[kept], torch.as_tensor(s.y)[kept])))
    np.savez(tmp_path / "m.npz", X=np.zeros((2, 4, 1)), y=np.where(y == -100, -1, y), lengths=np.array([4, 3]))
    assert per_step_sequences(str(tmp_path / "m.npz"), "data.path", PER_STEP_CLASSIFICATION, None).classes == ["-1", "0", "1"]


@pytest.mark.parametrize(("dataset", "task", "expected"), [
    ("UnitTest", "[task]\nper_step = true", ("'UnitTest'", "holds class labels", "per_step = false")),
    ("delayed_copy", "", ("'delayed_copy'", "a label at every step", "per_step = true")),
    ("adding_problem", "[task]\nper_step = true", ("'adding_problem'", "values at every step", "kind = 'regression'")),
    ("Covid3Month", '[task]\nkind = "regression"\nper_step = true', ("'Covid3Month'", "per_step = false")),
])
def test_a_bundled_set_of_the_other_kind_is_refused(dataset, task, expected, tmp_path, capsys):
    from test_bad_inputs import one_line_error

    one_line_error(_bad(tmp_path, tags(), task=task, dataset=dataset), capsys, expected)


def test_a_csv_and_a_bad_init_task_are_refused(tmp_path, capsys):
    from test_bad_inputs import one_line_error, precise_error

    (tmp_path / "d.csv").write_text("label,a,b\n0,1,2\n1,2,3\n")
    precise_error("per-step csv", lambda p: load_data(
        parse_config(f'[task]\nper_step = true\n[data]\npath = "{tmp_path / "d.csv"}"').data, seed=0,
        task=PER_STEP_CLASSIFICATION), DataError, ("d.csv", ".npz", "a .csv row holds one label"), tmp_path)
    one_line_error(["init", str(tmp_path / "x.toml"), "--task", "per-step-regresion"], capsys,
                   ("--task", "did you mean 'per-step-regression'", "got 'per-step-regresion'"))
    assert not (tmp_path / "x.toml").exists()


# ------------------------------------------------------------------------------ values at every step


def values(n: int = 48, steps: int = 10, seed: int = 0, k: int = 1) -> dict[str, np.ndarray]:
    """A tiny per-step regression set: y_t = 3 x_t + 1 (each of K targets), ragged lengths."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 1))
    lengths = rng.integers(steps // 2, steps + 1, size=n)
    y = np.repeat(3.0 * X + 1.0, k, axis=2)
    return {"X": X, "y": y if k > 1 else y[:, :, 0], "lengths": lengths}


def test_per_step_values_ignore_padded_steps_and_scale_on_valid_steps():
    torch.manual_seed(0)
    out = torch.randn(2, 6, 1)
    y = torch.full((2, 6, 1), float("nan"))
    y[0, :4], y[1, :2] = torch.randn(4, 1), torch.randn(2, 1)
    garbage = out.clone()
    garbage[0, 4:], garbage[1, 2:] = 1e6, -1e6  # what the model says past each length never counts
    valid = ~y.isnan()[..., 0]
    expected = torch.nn.functional.mse_loss(out[valid], y[valid])
    loss = PER_STEP_REGRESSION.loss_fn()
    assert torch.allclose(loss(out, y), expected) and torch.allclose(loss(garbage, y), expected)
    scale = TargetScale(np.array([0.0]), np.array([2.0]))
    a, b = PER_STEP_REGRESSION.tally(scale), PER_STEP_REGRESSION.tally(scale)
    a.add(garbage, y)
    b.add(out[:1, :4], y[:1, :4])
    b.add(out[1:, :2], y[1:, :2])
    assert a.n == b.n == 6 and a.result() == pytest.approx(b.result())
    assert a.result()["rmse"] == pytest.approx(2.0 * float(expected) ** 0.5, rel=1e-5)  # in the data's units
    # the standardization is fitted on valid steps only: padding (NaN) never shifts it
    fitted = TargetScale.fit(np.where(np.isnan(y.numpy()), np.nan, y.numpy()))
    assert fitted.mean[0] == pytest.approx(float(y[valid].mean()), rel=1e-5)


def test_per_step_regression_end_to_end(tmp_path, capsys):
    """A linear target at every step is learnt (R² -> 1), metrics in the data's units, the test
    file read with the training file's K."""
    np.savez(tmp_path / "test.npz", **values(n=16, seed=1))
    # (12 epochs: R² 0.992-0.995 on seeds 0-2 of the data and the training; 5 epochs leave 0.93 on two)
    config = write(tmp_path, epochs=12, arrays=values(), data=f'test_path = "{tmp_path / "test.npz"}"')
    # (no weight or gradient norms: their figures were most of the time the two reports took to
    # draw; the same R² with them, 0.993 train and 0.995 test on the seeds of this test)
    config.write_text(config.read_text().replace("per_step = true", 'kind = "regression"\nper_step = true')
                      .replace("weights_every = 4", "weights_every = 0").replace("grads_every = 4", "grads_every = 0"))
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "train per-step rmse" in out and "test per-step rmse" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["test"]) == {"loss", "rmse", "mae", "r2"}
    assert summary["train_eval"]["r2"] > 0.95 and summary["test"]["r2"] > 0.9, summary
    # RMSE in the data's units: y has std 3 here, so an R² of r leaves an RMSE near 3 sqrt(1 - r)
    assert summary["test"]["rmse"] == pytest.approx(3 * (1 - summary["test"]["r2"]) ** 0.5, rel=0.3)
    assert main(["report", str(tmp_path / "run")]) == 0


def test_the_adding_problem_and_its_baseline():
    X, y, lengths = adding_problem(4000, 50, seed=0)
    assert (X[:, :, 1].sum(1) == 2).all() and (X[:, :25, 1].sum(1) == 1).all()
    assert np.allclose(y[:, -1, 0], (X[:, :, 0] * X[:, :, 1]).sum(1))
    assert np.mean((y[:, -1, 0] - 1.0) ** 2) == pytest.approx(1 / 6, rel=0.05)  # the classic 0.167 baseline
    d = load_data(parse_config('[task]\nkind = "regression"\nper_step = true\n[data]\ndataset = "adding_problem"').data,
                  seed=0, task=PER_STEP_REGRESSION)
    assert d.train.y.shape[1:] == (100, 1) and d.train.scale is not None


def _values_nan_in_valid() -> dict[str, np.ndarray]:
    d = values(n=8, steps=6)
    d["y"][3, 1] = np.nan
    return d


BAD_VALUES = [
    ("NaN in a valid step", _values_nan_in_valid, None, ("d.npz", "1 value(s) NaN or inf", "[3, 1]")),
    ("shorter y", lambda: {**values(n=8, steps=6), "y": values(n=8, steps=6)["y"][:, :5]}, None,
     ("d.npz", "y has 5 steps, X has 6", "[8, 6] or [8, 6, K]", "[8, 5]")),
    ("class labels", lambda: {**values(n=8, steps=6), "y": np.tile(np.arange(6) % 2, (8, 1))}, None,
     ("d.npz", "looks like class labels", 'kind = "classification"')),
    ("test file with another K", lambda: values(n=8, steps=6), lambda: values(n=8, steps=6, k=2),
     ("t.npz", "expected 1 value(s) per step", "got 2")),
]


@pytest.mark.parametrize(("case", "train", "test", "expected"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_bad_per_step_values_are_one_line_errors(case, train, test, expected, tmp_path, capsys):
    from test_bad_inputs import one_line_error

    argv = _bad(tmp_path, train(), test() if test else None, task='[task]\nkind = "regression"\nper_step = true')
    one_line_error(argv, capsys, expected)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# ------------------------------------------------------------------------------ fit findings


def test_fit_findings_speak_per_step_and_count_sequences_for_the_noise():
    from rnnlab.doctor import fit_findings

    cfg = parse_config('[task]\nper_step = true\n[data]\ndataset = "delayed_copy"\n[training]\nepochs = 2')
    records = [{"epoch": 1, "step": 4, "train_loss": 1.5, "train_acc": 0.3},
               {"epoch": 2, "step": 8, "train_loss": 1.4, "train_acc": 0.35}]
    under = fit_findings(records, {"acc": 0.35, "loss": 1.4}, cfg)
    assert [f.check for f in under] == ["underfit"]
    assert "per-step accuracy" in under[0].title + under[0].message
    fitted = [{"epoch": 1, "step": 900, "train_loss": 0.01, "train_acc": 1.0, "val_loss": 2.0, "val_acc": 0.6}]
    over = fit_findings(fitted, {"acc": 1.0, "loss": 0.01}, cfg, n_val=40)
    assert [f.check for f in over] == ["overfit"]
    # the noise of 40 validation sequences, however many steps they hold
    assert over[0].numbers["n_val"] == 40
    assert over[0].numbers["noise_2se"] == pytest.approx(2 * (0.6 * 0.4 / 40) ** 0.5)
    assert "per-step accuracy" in over[0].title + over[0].message
