"""``rnnlab predict RUN_DIR --data FILE``: the labels or values of new series from a classification,
regression or per-step run, as the run's own evaluation gives them (its scaling, its restored
checkpoint, its mean guard), in the data's units, padding excluded; each bad input one line."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_task_per_step import tags, values

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config, template_for
from rnnlab.data import load_data
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """name = "p"
[task]
{task}
[data]
{data}
val_fraction = 0.25
[model]
hidden_size = 8
[training]
epochs = {epochs}
{training}
[tracking]
enabled = false
"""


def config(tmp: Path, data: str, task: str = "", epochs: int = 6, training: str = "batch_size = 8\nlr = 0.02") -> Path:
    path = tmp / "c.toml"
    path.write_text(CONFIG.format(task=task, data=data, epochs=epochs, training=training))
    return path


def trained(tmp: Path, cfg: Path) -> Path:
    run = tmp / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    return run


def fitted(tmp: Path, cfg: Path) -> Path:
    """The run of ``cfg`` in ``tmp/run`` as :func:`trained` leaves it, less the report `rnnlab
    train` draws at its end (predict reads none of it; the report costs more than these runs)."""
    from rnnlab.config import load_config
    from rnnlab.train import train

    run = tmp / "run"
    train(load_config(cfg), out=run, progress=False, log=None)
    return run


def predicted(run: Path, data: Path, out: Path | None = None) -> list[dict[str, str]]:
    """The rows ``rnnlab predict RUN --data FILE`` writes (to ``out``, default RUN/predictions.csv)."""
    argv = ["predict", str(run), "--data", str(data)] + (["--out", str(out)] if out is not None else [])
    assert main(argv) == 0
    with open(out if out is not None else run / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f))


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def separable(n: int, seed: int) -> dict[str, np.ndarray]:
    """Two channels around +1 ("up") or -1 ("down"), ragged lengths: a classifier fits them."""
    rng = np.random.default_rng(seed)
    up = rng.integers(0, 2, n).astype(bool)
    X = rng.normal(size=(n, 8, 2)) * 0.3 + np.where(up, 1.0, -1.0)[:, None, None]
    return {"X": X, "y": np.where(up, "up", "down"), "lengths": rng.integers(4, 9, n)}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cls")
    np.savez(tmp / "train.npz", **separable(40, 0))
    np.savez(tmp / "test.npz", **separable(24, 1))
    return trained(tmp, config(tmp, f'path = "{tmp / "train.npz"}"\ntest_path = "{tmp / "test.npz"}"'))


# ------------------------------------------------------------------------------ meaning


def test_a_classifiers_labels_and_probabilities_are_the_runs_evaluation(classifier, tmp_path):
    train, test = (np.load(classifier.parent / name) for name in ("train.npz", "test.npz"))
    # The trivially separable training set: the labels are y, in the data's own names.
    rows = predicted(classifier, classifier.parent / "train.npz", tmp_path / "train.csv")
    assert header(tmp_path / "train.csv") == ["series", "label", "down", "up"]
    assert [r["series"] for r in rows] == [str(i) for i in range(40)]
    assert [r["label"] for r in rows] == train["y"].tolist()
    # The test file: the probabilities give the test loss and accuracy the run reported itself.
    rows = predicted(classifier, classifier.parent / "test.npz")
    p = np.array([[float(r["down"]), float(r["up"])] for r in rows])
    assert np.allclose(p.sum(axis=1), 1.0)
    truth = (test["y"] == "up").astype(int)
    assert -np.log(p[np.arange(len(p)), truth]).mean() == pytest.approx(summary(classifier)["test"]["loss"], rel=1e-4)
    assert np.mean([r["label"] for r in rows] == test["y"]) == summary(classifier)["test"]["acc"]
    # The file's y is ignored: the same series without it predict the same.
    np.savez(tmp_path / "no_y.npz", X=test["X"], lengths=test["lengths"])
    assert predicted(classifier, tmp_path / "no_y.npz", tmp_path / "no_y.csv") == rows


def test_a_csv_run_reads_new_series_with_or_without_its_label_column(tmp_path):
    d = separable(40, 0)
    rows = [[label, *np.round(x[:n, 0], 4)] for x, label, n in zip(d["X"], d["y"], d["lengths"], strict=True)]
    with open(tmp_path / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows([["kind", *[f"t{i}" for i in range(8)]], *rows])
    with open(tmp_path / "new.csv", "w", newline="") as f:  # new series: no label column
        csv.writer(f).writerows([[f"t{i}" for i in range(8)], *[r[1:] for r in rows]])
    run = fitted(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.csv"}"\nlabel_column = "kind"'))
    with_labels = predicted(run, tmp_path / "train.csv", tmp_path / "a.csv")
    assert [r["label"] for r in with_labels] == d["y"].tolist()
    assert predicted(run, tmp_path / "new.csv", tmp_path / "b.csv") == with_labels


def test_regression_values_are_in_the_datas_units_under_the_target_columns(tmp_path):
    # Two linear targets far from 0 and 1, in a .csv with named target columns.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = np.stack([X @ np.linspace(1, 2, 6) * 5 + 20, X @ np.linspace(2, 1, 6) - 3], axis=1)
    for name, part in (("train", slice(0, 90)), ("test", slice(90, 120))):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            csv.writer(f).writerows([["a", "b", *[f"t{i}" for i in range(6)]],
                                     *[[*map(float, t), *map(float, x)] for t, x in zip(y[part], X[part], strict=True)]])
    cfg = config(tmp_path, f'path = "{tmp_path / "train.csv"}"\ntest_path = "{tmp_path / "test.csv"}"\n'
                           'target_column = ["a", "b"]\nnormalize = "none"', task='kind = "regression"', epochs=30,
                 training="batch_size = 16\nlr = 0.01")
    run = fitted(tmp_path, cfg)
    rows = predicted(run, tmp_path / "test.csv")
    assert header(run / "predictions.csv") == ["series", "a", "b"]
    got = np.array([[float(r["a"]), float(r["b"])] for r in rows])
    err = got - y[90:]
    test = summary(run)["test"]
    assert np.sqrt((err ** 2).mean()) == pytest.approx(test["rmse"], rel=1e-4)
    assert np.abs(err).mean() == pytest.approx(test["mae"], rel=1e-4)
    assert test["r2"] > 0.9 and abs(got[:, 0].mean() - y[90:, 0].mean()) < 2  # near 20, not in standardized units


def test_a_run_whose_mean_guard_chose_the_training_mean_predicts_it(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 6, 1)), 50 + 10 * rng.standard_normal(60)  # targets the series cannot tell
    np.savez(tmp_path / "noise.npz", X=X, y=y)
    cfg = config(tmp_path, f'path = "{tmp_path / "noise.npz"}"', task='kind = "regression"\nmean_guard = true',
                 epochs=2)
    run = fitted(tmp_path, cfg)
    assert summary(run)["mean_guard"]["kept"] is False
    c = parse_config(cfg.read_text())
    mean = load_data(c.data, seed=c.training.seed, task=task_for(c)).targets.mean[0]  # of the training part
    rows = predicted(run, tmp_path / "noise.npz")
    assert [float(r["target"]) for r in rows] == pytest.approx([mean] * 60, rel=1e-6)


def test_per_step_labels_cover_the_valid_steps_only(tmp_path):
    np.savez(tmp_path / "test.npz", **tags(n=16, seed=1))
    np.savez(tmp_path / "train.npz", **tags())
    cfg = config(tmp_path, f'path = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"',
                 task="per_step = true", epochs=8)
    run = fitted(tmp_path, cfg)
    test = np.load(tmp_path / "test.npz")
    rows = predicted(run, tmp_path / "test.npz")
    assert header(run / "predictions.csv") == ["series", "step", "label", "0", "1", "2"]
    lengths = test["lengths"]
    assert len(rows) == lengths.sum() < lengths.size * test["X"].shape[1]  # ragged: padding is left out
    assert [(int(r["series"]), int(r["step"])) for r in rows] == [(i, t) for i, n in enumerate(lengths) for t in range(n)]
    hits = [r["label"] == str(test["y"][int(r["series"]), int(r["step"])]) for r in rows]
    assert np.mean(hits) == pytest.approx(summary(run)["test"]["acc"], abs=1e-9)
    # What padding holds changes nothing: NaN there is no NaN inside a series.
    X = test["X"].copy()
    X[np.arange(X.shape[1])[None, :] >= lengths[:, None]] = np.nan
    np.savez(tmp_path / "nan_pad.npz", X=X, lengths=lengths)
    assert predicted(run, tmp_path / "nan_pad.npz", tmp_path / "nan_pad.csv") == rows


def test_per_step_values_are_in_the_datas_units(tmp_path):
    np.savez(tmp_path / "test.npz", **values(n=16, seed=1))
    np.savez(tmp_path / "train.npz", **values())
    cfg = config(tmp_path, f'path = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"',
                 task='kind = "regression"\nper_step = true', epochs=8)
    run = fitted(tmp_path, cfg)
    test = np.load(tmp_path / "test.npz")
    rows = predicted(run, tmp_path / "test.npz")
    assert header(run / "predictions.csv") == ["series", "step", "target"]
    assert len(rows) == test["lengths"].sum()
    err = np.array([float(r["target"]) - test["y"][int(r["series"]), int(r["step"])] for r in rows])
    assert np.sqrt((err ** 2).mean()) == pytest.approx(summary(run)["test"]["rmse"], rel=1e-4)


def test_the_checkpoint_early_stopping_restored_is_the_one_predicted_with(tmp_path):
    np.savez(tmp_path / "train.npz", **separable(40, 0))
    np.savez(tmp_path / "test.npz", **separable(24, 1))
    cfg = config(tmp_path, f'path = "{tmp_path / "train.npz"}"\ntest_path = "{tmp_path / "test.npz"}"',
                 training="batch_size = 8\nlr = 0.02\n[training.early_stopping]\npatience = 2\nmonitor = \"val_loss\"")
    run = fitted(tmp_path, cfg)
    (run / "checkpoints" / "last.pt").unlink()  # the run evaluated best.pt: so does predict
    rows = predicted(run, tmp_path / "test.npz")
    truth = (np.load(tmp_path / "test.npz")["y"] == "up").astype(int)
    p = np.array([[float(r["down"]), float(r["up"])] for r in rows])
    assert -np.log(p[np.arange(len(p)), truth]).mean() == pytest.approx(summary(run)["test"]["loss"], rel=1e-4)


# ------------------------------------------------------------------------------ bad inputs


def test_bad_files_and_runs_are_one_line_errors(classifier, tmp_path, capsys):
    run = str(classifier)
    X = np.load(classifier.parent / "test.npz")["X"]
    np.savez(tmp_path / "one.npz", X=X[:, :, :1])
    one_line_error(["predict", run, "--data", str(tmp_path / "one.npz")], capsys,
                   (f"--data ({tmp_path / 'one.npz'}): expected 2 channels per step (as the run trained on), got 1",),
                   kept=classifier, new_files=False)
    nan = X.copy()
    nan[3, 1, 0] = np.nan
    np.savez(tmp_path / "nan.npz", X=nan)
    one_line_error(["predict", run, "--data", str(tmp_path / "nan.npz")], capsys,
                   ("--data (", "nan.npz): X has 1 non-finite value (NaN or inf) at [sample, step, channel] [3, 1, 0]"),
                   kept=classifier, new_files=False)
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 8, 2)))
    one_line_error(["predict", run, "--data", str(tmp_path / "empty.npz")], capsys,
                   ("empty.npz): expected at least 1 series, got none",), kept=classifier, new_files=False)
    one_line_error(["predict", run, "--data", str(tmp_path / "missing.npz")], capsys,
                   ("--data: data file", "missing.npz' does not exist"), kept=classifier, new_files=False)
    one_line_error(["predict", run], capsys, ("a classification run has no forecast", "--data FILE"),
                   kept=classifier, new_files=False)
    # A run directory without a usable checkpoint: none, a damaged one, one of another model.
    copy = tmp_path / "copy"
    shutil.copytree(classifier, copy)
    last = copy / "checkpoints" / "last.pt"
    best = copy / "checkpoints" / "best.pt"
    best.unlink(missing_ok=True)  # (an intact best.pt is used in place of a damaged last.pt: test_runs_moved_and_versions.py)
    last.write_bytes(b"garbage")
    one_line_error(["predict", str(copy), "--data", str(tmp_path / "one.npz")], capsys,
                   ("last.pt is corrupt or truncated",), kept=copy, new_files=False)
    last.unlink()
    one_line_error(["predict", str(copy), "--data", str(tmp_path / "one.npz")], capsys,
                   ("no checkpoint to predict with", "last.pt"), kept=copy, new_files=False)
    shutil.copy(classifier / "checkpoints" / "last.pt", last)
    if (classifier / "checkpoints" / "best.pt").exists():
        shutil.copy(classifier / "checkpoints" / "best.pt", best)
    # an edited config.toml: predict uses the config the run trained with (its checkpoint's), and says so
    (copy / "config.toml").write_text((copy / "config.toml").read_text().replace("hidden_size = 8", "hidden_size = 5"))
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (whatever filter the test run sets: the command's own warning)
        assert main(["predict", str(copy), "--data", str(classifier.parent / "test.npz"), "--out",
                     str(tmp_path / "p.csv")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "config.toml was changed" in line]
    assert len(warned) == 1 and "model.hidden_size (8 -> 5)" in warned[0] and "the checkpoint's is used" in warned[0]


def test_runs_of_other_tasks_and_per_step_csv_files_are_refused_in_one_line(tmp_path, capsys):
    for name, kind in (("lm", "language_model"), ("fc", "forecasting")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.toml").write_text(dump_config(parse_config(template_for(kind))))
    one_line_error(["predict", str(tmp_path / "lm"), "--data", "x.npz"], capsys,
                   ("a language_model run predicts no series", f"rnnlab sample {tmp_path / 'lm'}"))
    one_line_error(["predict", str(tmp_path / "lm")], capsys, ("language_model run has no forecast", "rnnlab sample"))
    # (a forecasting run forecasts after --data's end: this one has no checkpoint to do it with)
    one_line_error(["predict", str(tmp_path / "fc"), "--data", "x.npz"], capsys,
                   ("no checkpoint to predict with", "train the run first"))
    np.savez(tmp_path / "train.npz", **tags())
    run = fitted(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.npz"}"', task="per_step = true", epochs=1))
    (tmp_path / "new.csv").write_text("t0,t1\n1,0\n")
    one_line_error(["predict", str(run), "--data", str(tmp_path / "new.csv")], capsys,
                   ("new.csv): a per-step run reads series from an .npz file",), kept=run, new_files=False)
    # the run's three channels (one-hot symbols): a file of the wrong width is named
    np.savez(tmp_path / "wide.npz", X=np.zeros((2, 5, 4)))
    one_line_error(["predict", str(run), "--data", str(tmp_path / "wide.npz")], capsys,
                   ("expected 3 channels per step (as the run trained on), got 4",), kept=run, new_files=False)


def test_the_help_says_what_predict_reads_and_writes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0
    for said in ("--data FILE", "rnnlab predict runs/gp --data new.npz", "series,label,<class probabilities>",
                 "series,<targets> in the data's units", "series,step,label", "RUN_DIR/predictions.csv",
                 "rnnlab predict runs/airline", "mean guard", "rnnlab sample RUN_DIR"):
        assert said in out, said


def test_the_run_directorys_predictions_file_is_replaced_and_said_so(classifier, tmp_path, capsys):
    # (the run's own predictions.csv is replaced each time; before, silently, while an --out file
    # that exists is refused without --force)
    target = classifier / "predictions.csv"
    target.unlink(missing_ok=True)
    assert main(["predict", str(classifier), "--data", str(classifier.parent / "test.npz")]) == 0
    assert "replaced" not in capsys.readouterr().out
    assert main(["predict", str(classifier), "--data", str(classifier.parent / "train.npz")]) == 0
    assert f"predictions: {target} (40 series; replaced the earlier one)" in capsys.readouterr().out
    assert len(target.read_text().splitlines()) == 41
