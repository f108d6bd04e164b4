"""``rnnlab.load_run(RUN_DIR)``: a run trained by ``rnnlab train`` predicts new series from Python
exactly as ``rnnlab predict RUN --data FILE`` does (the run's input scaling, the checkpoint it
evaluated, its mean guard), where building the model from config.toml and a checkpoint predicted
wrongly without a word (a user's report: accuracy 0.46 on raw input against the command's 1.0).

And the model the trainer builds, traced with example lengths that are all full, keeps its
``lengths`` input (it was dropped: the traced model ignored them), while eager calls still skip
lengths that are all full."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_predict_cli import config, header, predicted, separable, summary, trained
from test_task_per_step import tags, values

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config, template_for
from rnnlab.errors import DataError, RunDirError
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

DOCS = Path(__file__).resolve().parents[1] / "docs"


def load_run(run: Path):
    import rnnlab

    return rnnlab.load_run(run)


def far_apart(n: int, seed: int) -> dict[str, np.ndarray]:
    """:func:`separable`'s two channels, the second in units a thousand times larger around 5000:
    the model reads them scaled, and raw they are nothing like what it trained on."""
    d = separable(n, seed)
    d["X"][:, :, 1] = 5000 + 1000 * d["X"][:, :, 1]
    return d


@pytest.fixture(scope="module", params=["per_channel", "per_series_with_scale"])
def scaled_classifier(request, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp(request.param)
    np.savez(tmp / "train.npz", **far_apart(40, 0))
    np.savez(tmp / "test.npz", **far_apart(24, 1))
    scaling = ('normalize = "per_channel"' if request.param == "per_channel"
               else 'normalize = "per_series"\nseries_scale = true')
    return trained(tmp, config(tmp, f'path = "{tmp / "train.npz"}"\ntest_path = "{tmp / "test.npz"}"\n{scaling}'))


def probabilities(rows: list[dict[str, str]], classes: list[str]) -> np.ndarray:
    return np.array([[float(r[c]) for c in classes] for r in rows])


# ------------------------------------------------------------------------------ the CLI's predictions


def test_a_scaled_classifier_predicts_the_commands_labels_and_probabilities(scaled_classifier, tmp_path):
    test = np.load(scaled_classifier.parent / "test.npz")
    run = load_run(scaled_classifier)
    assert (run.task, run.classes, run.target_names, run.channels) == ("classification", ["down", "up"], [], 2)
    rows = predicted(scaled_classifier, scaled_classifier.parent / "test.npz", tmp_path / "p.csv")
    labels, p = run.predict(test["X"], test["lengths"]), run.predict_proba(test["X"], test["lengths"])
    assert labels.tolist() == [r["label"] for r in rows]
    assert np.allclose(p, probabilities(rows, run.classes), rtol=0, atol=1e-12)
    assert np.mean(labels == test["y"]) == summary(scaled_classifier)["test"]["acc"]
    # run.model reads run.scale's series: the same probabilities; the raw series (what building the
    # model from config.toml and a checkpoint fed it) are another thing to it
    lengths = torch.from_numpy(test["lengths"])
    scaled = run.scale(test["X"], test["lengths"])
    with torch.no_grad():
        p_scaled = torch.softmax(run.model(torch.from_numpy(scaled), lengths)[0], -1).double().numpy()
        if scaled.shape[2] == test["X"].shape[2]:  # (with series_scale the raw series lack 4 channels: an error)
            raw = torch.softmax(run.model(torch.from_numpy(test["X"]).float(), lengths)[0], -1).double().numpy()
            assert np.mean(np.asarray(run.classes)[raw.argmax(1)] == test["y"]) < 0.9
    assert np.allclose(p_scaled, p, rtol=0, atol=1e-6)


def test_a_regression_run_whose_guard_chose_the_mean_predicts_the_mean_as_the_command_does(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 6, 1)), 50 + 10 * rng.standard_normal(60)  # targets the series cannot tell
    np.savez(tmp_path / "noise.npz", X=X, y=y)
    run_dir = trained(tmp_path, config(tmp_path, f'path = "{tmp_path / "noise.npz"}"',
                                       task='kind = "regression"\nmean_guard = true', epochs=2))
    assert summary(run_dir)["mean_guard"]["kept"] is False
    run = load_run(run_dir)
    assert (run.task, run.classes, run.target_names) == ("regression", [], ["target"])
    rows = predicted(run_dir, tmp_path / "noise.npz")
    values_ = run.predict(X)
    assert values_.shape == (60, 1)
    assert values_[:, 0].tolist() == pytest.approx([float(r["target"]) for r in rows], rel=1e-12)
    assert np.ptp(values_) == 0 and 40 < values_[0, 0] < 60  # one value, the training mean, in the data's units
    with torch.no_grad():  # the module is the guarded one: its standardized output is the mean's, 0
        out = run.model(torch.from_numpy(run.scale(X)))[0]
    assert torch.equal(out, torch.zeros_like(out))


def test_per_step_runs_predict_each_valid_step_as_the_command_does(tmp_path):
    np.savez(tmp_path / "train.npz", **tags())
    np.savez(tmp_path / "test.npz", **tags(n=16, seed=1))
    run_dir = trained(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.npz"}"\ntest_path = '
                                                 f'"{tmp_path / "test.npz"}"', task="per_step = true", epochs=8))
    test = np.load(tmp_path / "test.npz")
    run = load_run(run_dir)
    labels, p = run.predict(test["X"], test["lengths"]), run.predict_proba(test["X"], test["lengths"])
    assert run.task == "per-step-classification" and labels.shape == test["y"].shape and p.shape == (*labels.shape, 3)
    rows = predicted(run_dir, tmp_path / "test.npz")
    at = [(int(r["series"]), int(r["step"])) for r in rows]
    assert [labels[k] for k in at] == [r["label"] for r in rows]
    assert np.allclose([p[k] for k in at], probabilities(rows, run.classes), rtol=0, atol=1e-12)
    valid = np.arange(labels.shape[1])[None, :] < test["lengths"][:, None]
    assert (labels[~valid] == "").all() and np.isnan(p[~valid]).all()  # past a series' end: no prediction
    assert np.mean(labels[valid] == test["y"][valid].astype(str)) == pytest.approx(summary(run_dir)["test"]["acc"])


def test_per_step_values_are_in_the_datas_units_nan_past_each_end(tmp_path):
    np.savez(tmp_path / "train.npz", **values())
    np.savez(tmp_path / "test.npz", **values(n=16, seed=1))
    run_dir = trained(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.npz"}"\ntest_path = '
                                                 f'"{tmp_path / "test.npz"}"',
                                       task='kind = "regression"\nper_step = true', epochs=8))
    test = np.load(tmp_path / "test.npz")
    got = load_run(run_dir).predict(test["X"], test["lengths"])
    valid = np.arange(got.shape[1])[None, :] < test["lengths"][:, None]
    assert got.shape == (16, 10, 1) and np.isnan(got[~valid]).all() and np.isfinite(got[valid]).all()
    rows = predicted(run_dir, tmp_path / "test.npz")
    assert got[valid][:, 0].tolist() == pytest.approx([float(r["target"]) for r in rows], rel=1e-12)
    err = got[valid][:, 0] - test["y"][valid]
    assert np.sqrt((err ** 2).mean()) == pytest.approx(summary(run_dir)["test"]["rmse"], rel=1e-4)


# ------------------------------------------------------------------------------ the evaluated checkpoint


def flipped(n: int, seed: int) -> dict[str, np.ndarray]:
    """:func:`separable` with a fifth of its labels swapped: validation loss rises as the model learns
    them, and early stopping restores an early epoch."""
    d = separable(n, seed)
    swap = np.random.default_rng(seed + 10).random(n) < 0.2
    d["y"] = np.where(swap, np.where(d["y"] == "up", "down", "up"), d["y"])
    return d


def test_the_checkpoint_is_the_one_the_run_evaluated_best_after_early_stopping_else_last(tmp_path):
    np.savez(tmp_path / "train.npz", **flipped(40, 0))
    np.savez(tmp_path / "test.npz", **flipped(24, 1))
    test = np.load(tmp_path / "test.npz")
    truth = (test["y"] == "up").astype(int)

    def test_loss(model_run) -> float:
        p = model_run.predict_proba(test["X"], test["lengths"])
        return float(-np.log(p[np.arange(len(p)), truth]).mean())

    data = f'path = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"'
    (tmp_path / "es").mkdir()
    stopped = trained(tmp_path / "es", config(tmp_path / "es", data, epochs=20, training=(
        'batch_size = 8\nlr = 0.05\n[training.early_stopping]\npatience = 3\nmonitor = "val_loss"')))
    s = summary(stopped)
    assert s["best_epoch"] < s["final"]["epoch"]  # (best.pt and last.pt differ: which one is used matters)
    run = load_run(stopped)
    assert run.checkpoint == stopped / "checkpoints" / "best.pt"
    assert test_loss(run) == pytest.approx(s["test"]["loss"], rel=1e-6)
    # the last epoch's weights predict otherwise: those are not the run's test figures
    run.model.load_state_dict(RunDir(stopped).read_checkpoint("last.pt")["model"])
    assert test_loss(run) != pytest.approx(s["test"]["loss"], rel=1e-3)

    (tmp_path / "all").mkdir()
    whole = trained(tmp_path / "all", config(tmp_path / "all", data))
    run = load_run(whole)
    assert run.checkpoint == whole / "checkpoints" / "last.pt"
    assert test_loss(run) == pytest.approx(summary(whole)["test"]["loss"], rel=1e-6)


# ------------------------------------------------------------------------------ one-line errors


def test_bad_series_and_other_runs_are_one_line_errors(scaled_classifier, tmp_path):
    run = load_run(scaled_classifier)
    X = np.load(scaled_classifier.parent / "test.npz")["X"]
    cases = [
        ((X[:, :, :1],), DataError, "X: expected 2 channels per step (as the run trained on), got 1"),
        ((X[:, :, ::-1],), DataError, "X: channels 0, 1 look swapped"),
        ((np.zeros(3),), DataError, "X: expected an array [N, T, C] (or [N, T] of one channel), got shape [3]"),
        (([[[1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]],), DataError, "X: expected an array, got a list"),
        ((X.astype(str),), DataError, "X: expected real numbers, got dtype <U"),
        ((X, np.full(len(X), 8.0)), DataError, "lengths: expected integer lengths [N], got dtype float64"),
        ((X, np.full(len(X), 9)), DataError, "X: expected every length in [1, 8] (T of X), got lengths[0] = 9"),
        ((np.where((np.arange(len(X)) == 3)[:, None, None] & (np.arange(8) == 1)[None, :, None]
                    & (np.arange(2) == 0), np.nan, X),), DataError,
         "X: X has 1 non-finite value (NaN or inf) at [sample, step, channel] [3, 1, 0]"),
    ]
    for args, kind, said in cases:
        with pytest.raises(kind) as e:
            run.predict(*args)
        assert said in str(e.value) and "\n" not in str(e.value), (said, str(e.value))
    for name in ("lm", "fc"):  # (refused before any checkpoint is looked for)
        kind = {"lm": "language_model", "fc": "forecasting"}[name]
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.toml").write_text(dump_config(parse_config(template_for(kind))))
    with pytest.raises(RunDirError, match=re.escape(f"a language_model run predicts no series' labels or values; "
                                                    f"rnnlab sample {tmp_path / 'lm'} writes text from it")):
        load_run(tmp_path / "lm")
    with pytest.raises(RunDirError, match=re.escape(f"rnnlab predict {tmp_path / 'fc'} (--data FILE")):
        load_run(tmp_path / "fc")
    with pytest.raises(RunDirError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_a_regression_run_has_no_probabilities(tmp_path):
    np.savez(tmp_path / "train.npz", **values())
    run = load_run(trained(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.npz"}"',
                                            task='kind = "regression"\nper_step = true', epochs=1)))
    with pytest.raises(RunDirError, match="predict_proba: a per-step-regression run predicts values, not class "
                                          "probabilities; use predict$"):
        run.predict_proba(np.zeros((2, 10, 1)))


# ------------------------------------------------------------------------------ tracing the model


class Logits(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(x, lengths)[0]


def test_a_model_traced_with_full_lengths_keeps_them_for_mixed_lengths(scaled_classifier):
    run = load_run(scaled_classifier)
    test = np.load(scaled_classifier.parent / "test.npz")
    x = torch.from_numpy(run.scale(test["X"], test["lengths"]))
    lengths = torch.from_numpy(test["lengths"])
    assert lengths.min() < x.shape[1]  # (mixed: some series are padded)
    model = Logits(run.model)
    with torch.no_grad():
        eager = model(x, lengths)
        traced = torch.jit.trace(model, (x[:6], torch.full((6,), x.shape[1])), check_trace=False)
        assert (traced(x, lengths) - eager).abs().max() < 1e-6
        exported = torch.export.export(model, (x[:6], torch.full((6,), x.shape[1]))).module()
        assert (exported(x[:6], lengths[:6]) - eager[:6]).abs().max() < 1e-6


def test_eager_calls_with_every_length_full_still_take_the_path_without_lengths(scaled_classifier):
    run = load_run(scaled_classifier)
    x = torch.from_numpy(run.scale(np.load(scaled_classifier.parent / "test.npz")["X"][:3]))
    seen: list[object] = []
    run.model.rnn.register_forward_pre_hook(lambda _m, args, kwargs: seen.append(kwargs.get("lengths")),
                                            with_kwargs=True)
    with torch.no_grad():
        run.model(x, torch.full((3,), 8))
        run.model(x, torch.tensor([8, 5, 8]))
    assert seen[0] is None and seen[1].tolist() == [8, 5, 8]


# ------------------------------------------------------------------------------ the docs


def test_the_docs_python_example_runs_on_a_run(tmp_path, monkeypatch):
    text = (DOCS / "tasks.md").read_text(encoding="utf-8")
    part = text[text.index("### From Python"):text.index("## Regression")]
    code = part[part.index("```python") + len("```python"):part.index("```", part.index("```python") + 3)]
    np.savez(tmp_path / "train.npz", **separable(40, 0))
    d = separable(4, 1)
    np.savez(tmp_path / "new.npz", X=d["X"], lengths=d["lengths"])
    assert main(["train", str(config(tmp_path, f'path = "{tmp_path / "train.npz"}"', epochs=1)), "--out",
                 str(tmp_path / "runs" / "gp"), "--quiet"]) == 0
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(code, "docs/tasks.md", "exec"), scope)
    rows = predicted(tmp_path / "runs" / "gp", tmp_path / "new.npz", tmp_path / "p.csv")
    assert scope["labels"].tolist() == [r["label"] for r in rows]
    assert header(tmp_path / "p.csv")[2:] == scope["run"].classes
    for name in ("README.md", "docs/estimators.md"):  # (the checkpoint is no plain torch.load away)
        said = " ".join((DOCS.parent / name).read_text(encoding="utf-8").split())
        assert "load with `weights_only=True`" not in said and "load with `torch.load(weights_only=True)`" not in said
        assert "rnnlab.load_run" in said, name


def test_an_export_with_lengths_keeps_its_batch_axis_dynamic():
    # (`len(lengths)` in the layer's range check fixed the batch to the example's: "Constraints violated (b)")
    import rnnlab

    torch.manual_seed(0)
    lstm = rnnlab.LSTM(3, 5, batch_first=True)

    class Outputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lstm

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.lstm(x, lengths=lengths)[0]

    b = torch.export.Dim("b", min=2, max=64)
    program = torch.export.export(Outputs(), (torch.randn(8, 10, 3), torch.randint(1, 11, (8,))),
                                  dynamic_shapes=({0: b}, {0: b}))
    x, lengths = torch.randn(5, 10, 3), torch.tensor([10, 1, 4, 7, 10])
    assert torch.allclose(program.module()(x, lengths), Outputs()(x, lengths), atol=1e-6)
