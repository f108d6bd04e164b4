"""Regression (issue 21): float targets per sequence through data, train, resume, search, recipe,
the fit findings, the report and the CLI lines; every bad-target error in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import DataConfig, parse_config, template_for
from rnnlab.data import load_data
from rnnlab.data.folds import Fold
from rnnlab.errors import ConfigError, DataError
from rnnlab.rundir import read_jsonl
from rnnlab.task import REGRESSION, TargetScale, task_for
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

REG = """name = "reg"
[task]
kind = "regression"
[data]
{data}
[model]
hidden_size = {hidden}
[model.head]
pooling = "last"
[training]
epochs = {epochs}
batch_size = 16
lr = 0.01
threads = 1
{training}
[tracking]
health = false
grads_every = 0
weights_every = 2
grad_through_time = false
{extra}
"""


def reg_config(data: str, epochs: int = 3, hidden: int = 8, training: str = "", extra: str = "") -> str:
    return REG.format(data=data, epochs=epochs, hidden=hidden, training=training, extra=extra)


def linear_data(tmp: Path, n: int = 240, t: int = 6, k: int = 2, seed: int = 0) -> tuple[Path, Path]:
    """Sequences whose K targets are fixed linear maps of the steps (in data units far from 0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, t, 1))
    w = np.linspace(1.0, 2.0, t)
    y = np.stack([X[:, :, 0] @ w * 5 + 20, X[:, :, 0] @ w[::-1] - 3][:k], axis=1)
    cut = n * 3 // 4
    np.savez(tmp / "lin.npz", X=X[:cut], y=y[:cut])
    np.savez(tmp / "lin_test.npz", X=X[cut:], y=y[cut:])
    return tmp / "lin.npz", tmp / "lin_test.npz"


def data_lines(train_file: Path, test_file: Path | None = None, extra: str = 'normalize = "none"') -> str:
    lines = f'path = "{train_file}"\n' + (f'test_path = "{test_file}"\n' if test_file else "")
    return lines + extra


# ------------------------------------------------------------------------------ meaning


def test_a_linear_target_is_learned_to_r2_near_one_in_the_datas_units(tmp_path):
    train_file, test_file = linear_data(tmp_path)
    # (20 epochs: R² 0.992-0.998 on seeds 0-2 of the data and the training, RMSE 0.05-0.07 of the
    # spread; 10 epochs leave a test R² of 0.969 on one of them)
    cfg = parse_config(reg_config(data_lines(train_file, test_file), epochs=20, hidden=16))
    result = train(cfg, out=tmp_path / "run", log=None, progress=False)
    assert result.test is not None
    assert result.train_eval["r2"] > 0.98 and result.test["r2"] > 0.98, (result.train_eval, result.test)
    # RMSE in the data's units: the targets' spread is ~25 and ~5, the error well below it.
    y = np.load(test_file)["y"]
    assert result.test["rmse"] < 0.15 * float(y.std()), (result.test, y.std())
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert {"train_loss", "train_rmse", "train_mae", "train_r2", "val_loss", "val_rmse", "val_mae",
            "val_r2"} <= set(records[-1])
    assert not any(k.endswith("_acc") for k in records[-1])


def test_metrics_are_in_the_datas_units_and_r2_is_against_the_training_mean():
    scale = TargetScale(np.array([100.0, 0.0]), np.array([10.0, 2.0]))
    tally = REGRESSION.tally(scale)
    y = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    tally.add(torch.zeros(2, 2), y)  # predicting the training mean
    r = tally.result()
    assert r["r2"] == pytest.approx(0.0)
    assert r["rmse"] == pytest.approx(np.sqrt((10.0**2 + 2.0**2) / 2))  # errors of 1 sd in each target's units
    assert r["mae"] == pytest.approx((10 + 2) / 2) and r["loss"] == pytest.approx(1.0)
    perfect = REGRESSION.tally(scale)
    perfect.add(y.clone(), y)
    assert perfect.result()["r2"] == pytest.approx(1.0) and perfect.result()["rmse"] == 0.0


def test_targets_are_standardized_on_the_training_part_only(tmp_path):
    train_file, test_file = linear_data(tmp_path, k=1)
    d = load_data(DataConfig(path=str(train_file), test_path=str(test_file), val_fraction=0.25), seed=0,
                  task=REGRESSION)
    assert d.classes == [] and d.train.y.shape[1] == 1 and d.train.y.dtype == np.float32
    assert abs(float(d.train.y.mean())) < 1e-5 and float(d.train.y.std()) == pytest.approx(1.0, abs=1e-4)
    raw = np.load(train_file)["y"]
    assert d.targets is not None and d.val.scale is d.targets and d.test.scale is d.targets
    # The scale is the training part's: the held-out sequences are not in it.
    assert not np.isclose(d.targets.mean[0], raw.mean())
    back = (d.train.y * d.targets.std + d.targets.mean)[:, 0]  # the training part, back in the data's units
    nearest = np.abs(raw[:, 0][None, :] - back[:, None]).argmin(axis=1)
    np.testing.assert_allclose(back, raw[nearest, 0], atol=1e-3)
    assert len(set(nearest.tolist())) == len(d.train) and len(d.train) + len(d.val) == len(raw) and len(d.val) > 0
    assert d.targets.mean[0] == pytest.approx(raw[nearest, 0].mean())


def test_hold_outs_and_folds_keep_the_targets_distribution():
    y = np.exp(np.random.default_rng(0).standard_normal((100, 1)))  # skewed
    strata = REGRESSION.strata(y)
    assert len(np.unique(strata)) == 10 and np.bincount(strata).min() >= 9
    from rnnlab.data import stratified_split
    from rnnlab.data.folds import held_out_indices

    _, held = stratified_split(strata, 0.2, seed=0)
    assert sorted(np.unique(strata[held]).tolist()) == list(range(10))  # every decile in the hold-out
    for i in range(5):
        part = held_out_indices(strata, Fold(k=5, index=i, seed=0))
        assert len(np.unique(strata[part])) == 10


def test_csv_target_column_and_several_targets(tmp_path):
    rows = ["a,t0,t1,t2,b"] + [f"{i * 0.5},{i},{i + 1},{i + 2},{-i}" for i in range(12)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    d = load_data(DataConfig(path=str(tmp_path / "d.csv"), target_column=["a", "b"], val_fraction=0.0,
                             normalize="none"), seed=0, task=REGRESSION)
    assert d.train.X.shape == (12, 3, 1) and d.train.y.shape == (12, 2)
    np.testing.assert_allclose(d.train.y * d.targets.std + d.targets.mean,
                               np.stack([np.arange(12) * 0.5, -np.arange(12.0)], 1), atol=1e-5)


def test_bundled_regression_sets_load_with_their_task():
    for name in ("Covid3Month", "CardanoSentiment"):
        d = load_data(DataConfig(dataset=name), seed=0, task=REGRESSION)
        assert d.train.y.shape[1] == 1 and d.test is not None and len(d.test) > 0 and d.classes == []


def test_regression_config_defaults_and_metrics():
    cfg = parse_config(reg_config('dataset = "Covid3Month"', extra="[search]\nfolds = 2"))
    task = task_for(cfg)
    assert task.score == "val_rmse" and cfg.search is not None and cfg.search.metric == "val_rmse"
    assert not task.higher_is_better("val_rmse") and task.higher_is_better("val_r2")
    parse_config(reg_config('dataset = "Covid3Month"', training='[training.early_stopping]\nmonitor = "val_r2"'))
    with pytest.raises(ConfigError, match=r"'search.metric'.*\['val_loss', 'val_rmse', 'val_mae', 'val_r2'\].*"
                                          r"did you mean 'val_rmse'"):
        parse_config(reg_config('dataset = "Covid3Month"', extra='[search]\nmetric = "val_rsme"'))
    with pytest.raises(ConfigError, match=r"'training.early_stopping.monitor'.*got 'val_acc'"):
        parse_config(reg_config('dataset = "Covid3Month"', training='[training.early_stopping]\nmonitor = "val_acc"'))


def test_init_writes_a_regression_template_that_differs_only_in_task_and_data(tmp_path, capsys):
    assert main(["init", str(tmp_path / "r.toml"), "--task", "regression"]) == 0
    text = (tmp_path / "r.toml").read_text()
    cfg = parse_config(text)
    assert cfg.task.kind == "regression" and cfg.data.dataset == "Covid3Month"
    classification = parse_config(template_for("classification"))
    # the model of the classification template, but the front-end's blocks undilated (as the
    # regression benchmark measured them; the classification template's dilation came later)
    undilated = [b.model_copy(update={"dilation": 1}) for b in classification.model.frontend.conv_blocks]
    assert cfg.model == classification.model.model_copy(
        update={"frontend": classification.model.frontend.model_copy(update={"blocks": undilated})})
    # the one change to training: small noisy regression sets stop early on the validation error
    assert cfg.training.model_copy(update={"early_stopping": classification.training.early_stopping}) \
        == classification.training
    assert cfg.training.early_stopping.patience == 20 and classification.training.early_stopping.patience == 0
    assert main(["init", str(tmp_path / "c.toml"), "--task", "regression", "--dataset", "CardanoSentiment"]) == 0
    assert parse_config((tmp_path / "c.toml").read_text()).data.dataset == "CardanoSentiment"
    capsys.readouterr()
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("Covid3Month "))
    assert "regression" in line and "task" in out.splitlines()[0]


# ------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reg")
    linear_data(root, n=80, t=5, k=2)
    return root


def test_train_resume_compare_and_report_end_to_end(tiny, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(reg_config(data_lines(tiny / "lin.npz", tiny / "lin_test.npz"), epochs=2))
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("train rmse ") and "  test rmse " in out and "accuracy" not in out
    # Resume with a longer budget: the records go on, in the same terms.
    cfg.write_text(reg_config(data_lines(tiny / "lin.npz", tiny / "lin_test.npz"), epochs=4))
    assert main(["train", str(cfg), "--out", str(run), "--resume", "--allow-change", "training.epochs",
                 "--quiet"]) == 0
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and all("val_rmse" in r for r in records)
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["test"]) == {"loss", "rmse", "mae", "r2"}
    capsys.readouterr()
    assert main(["compare", str(run), "--figures", str(tmp_path / "figs")]) == 0
    table = capsys.readouterr().out
    assert "train_rmse  val_rmse  val_rmse@best_epoch  val_rmse@kept  best_epoch  test_rmse" in table and "acc" not in table
    # train_rmse is the figure rnnlab train printed (the evaluated model's), not the last epoch's training mode
    head, row = table.splitlines()[:2]
    cells = dict(zip(head.split(), row.split(), strict=True))
    assert cells["train_rmse"] == f"{summary['train_eval']['rmse']:.4g}"
    assert cells["test_rmse"] == f"{summary['test']['rmse']:.4g}"
    html = (run / "report.html").read_text()
    assert "val_rmse" in html and "train_acc" not in html
    from test_report import _chromium

    dom = _chromium(["--dump-dom", run.resolve().joinpath("report.html").as_uri()], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-broken-images="0"' in dom.stdout


def test_report_curves_show_rmse_and_r2_not_an_empty_accuracy_panel(tiny, tmp_path):
    from rnnlab.plots import plot_metrics

    records = [{"epoch": e, "train_loss": 1 / e, "train_rmse": 2 / e, "train_r2": 1 - 1 / e, "val_loss": 1.1 / e,
                "val_rmse": 2.2 / e, "val_r2": 0.9 - 1 / e, "lr": 0.01} for e in (1, 2, 3)]
    titles = [ax.get_title() for ax in plot_metrics(records).axes]
    assert "accuracy" not in titles and "RMSE (data units)" in titles and "R² (against the training mean)" in titles


def test_search_with_two_workers_minimizes_val_rmse(tiny, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    # (2 trials, tracking off: what is checked is the metric, its direction and the lines and
    # pages that name it, not how many trials ran nor what the tracker recorded)
    cfg.write_text(reg_config(data_lines(tiny / "lin.npz", tiny / "lin_test.npz"), epochs=2, extra=(
        "enabled = false\n"
        "[search]\ntrials = 2\nfolds = 2\nstartup_trials = 2\nreports = \"none\"\n"
        "[search.space]\n\"training.lr\" = { low = 0.001, high = 0.05, log = true }")))
    capsys.readouterr()
    assert main(["search", str(cfg), "--out", str(tmp_path / "s"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "val_rmse" in out and "test rmse " in out and "accuracy" not in out
    info = json.loads((tmp_path / "s" / "study.json").read_text())
    assert (info["metric"], info["direction"], info["task"]) == ("val_rmse", "minimize", "regression")
    page = (tmp_path / "s" / "study.html").read_text()
    assert "val_rmse (lower is better)" in page and "Test rmse" in page


def test_recipe_with_two_seeds_keeps_by_lower_rmse(tiny, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(reg_config(data_lines(tiny / "lin.npz", tiny / "lin_test.npz"), epochs=2,
                              extra="enabled = false\n[search]\nfolds = 2"))  # (the tracker's records: not checked)
    capsys.readouterr()
    assert main(["recipe", str(cfg), "--out", str(tmp_path / "r"), "--seeds", "2", "--steps", "zoneout"]) == 0
    out = capsys.readouterr().out
    assert "val_rmse (lower is better)" in out and "final: test rmse " in out
    md = (tmp_path / "r" / "recipe.md").read_text()
    assert "scored by val_rmse (lower is better)" in md and "| configuration | train rmse | test rmse" in md
    recipe = json.loads((tmp_path / "r" / "recipe.json").read_text())
    assert recipe["metric"] == "val_rmse"
    for step in recipe["steps"]:
        for tried in step["tried"]:
            if tried["gain"] is not None:  # gain is positive when the candidate's RMSE is lower
                assert tried["status"] != "kept" or tried["gain"] > 0


def test_fit_findings_in_regression_terms():
    from rnnlab.doctor import fit_findings

    cfg = parse_config(reg_config('dataset = "Covid3Month"', epochs=2))
    records = [{"epoch": 1, "step": 4, "train_loss": 1.0, "train_r2": 0.0},
               {"epoch": 2, "step": 8, "train_loss": 0.98, "train_r2": 0.02}]
    (f,) = fit_findings(records, {"loss": 0.98, "r2": -0.01, "rmse": 3.0}, cfg)
    assert f.check == "underfit" and "training R² -0.010" in f.title
    assert "no better than predicting the training mean" in f.title and "accuracy" not in f.message
    # Overfit: the R² gap beyond two standard errors on 50 validation sequences.
    fitted = [{"epoch": e, "step": 1000 * e, "train_loss": 0.01, "train_r2": 0.99, "val_loss": 0.8 - 0.01 * e,
               "val_r2": 0.3} for e in (1, 2)]
    found = fit_findings(fitted, {"loss": 0.01, "r2": 0.99}, cfg, n_val=50)
    assert [x.check for x in found] == ["overfit"] and "validation R² 0.300" in found[0].title
    assert found[0].numbers["noise_2se"] == pytest.approx(2 * 0.7 * np.sqrt(2 / 50))
    # A gap of 0.2 within the noise on 10 sequences (2 x 0.6 x sqrt(2 / 10) = 0.54): no finding.
    noisy = [dict(r, train_r2=0.6, val_r2=0.4) for r in fitted]
    assert fit_findings(noisy, {"loss": 0.4, "r2": 0.6}, cfg, n_val=10) == []
    assert [x.check for x in fit_findings(noisy, {"loss": 0.4, "r2": 0.6}, cfg, n_val=400)] == ["overfit"]


# ------------------------------------------------------------------------------ bad targets


def _write_cfg(tmp: Path, data: str, task: str = "regression", extra: str = "") -> Path:
    text = reg_config(data, epochs=1, extra=extra).replace('kind = "regression"', f'kind = "{task}"')
    (tmp / "c.toml").write_text(text)
    return tmp / "c.toml"


def _npz(tmp: Path, name: str, **arrays: np.ndarray) -> Path:
    np.savez(tmp / name, **arrays)
    return tmp / name


X12 = np.random.default_rng(0).standard_normal((12, 5, 1))


BAD_TARGETS = [
    ("float-targets-with-classification", "classification",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.linspace(0.13, 7.7, 12))),
     ("d.npz", "looks like regression targets", 'set [task] kind = "regression"')),
    ("integer-float-targets-with-classification-and-a-hold-out", "classification",
     lambda t: f'path = "{_npz(t, "d.npz", X=X12, y=np.arange(12.0))}"\nval_fraction = 0.25',
     ("validation split", "every class has a single sequence", 'set [task] kind = "regression"')),
    ("class-labels-with-regression", "regression",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.array(["cat", "dog"] * 6))),
     ("d.npz", "expected numeric regression targets", "class labels", 'set [task] kind = "classification"')),
    ("integer-class-ids-with-regression", "regression",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.arange(12) % 3)),
     ("d.npz", "looks like class labels", "3 distinct values", "store y as floats")),
    ("nan-targets", "regression",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.where(np.arange(12) == 7, np.nan, np.arange(12.0)))),
     ("d.npz", "1 target value(s) are NaN or inf", "[sequence, target] [7, 0]")),
    ("test-split-with-another-k", "regression",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.ones((12, 2)) * np.arange(12.0)[:, None]),
                          _npz(t, "t.npz", X=X12, y=np.arange(36.0).reshape(12, 3))),
     ("data.test_path", "t.npz", "expected 2 target value(s) per sequence", "got 3")),
    ("constant-targets", "regression",
     lambda t: data_lines(_npz(t, "d.npz", X=X12, y=np.full(12, 4.0))),
     ("data.path", "d.npz", "y has the same value (4) for every sequence")),
    ("missing-csv-target-column", "regression",
     lambda t: data_lines(t / "d.csv") if (t / "d.csv").write_text("value,t0,t1\n1.5,1,2\n2.5,2,3\n") else "",
     ("d.csv", "no target column 'target'", "header starts ['value'", "data.target_column")),
    ("classification-dataset-with-regression", "regression", lambda t: 'dataset = "GunPoint"',
     ("data.dataset 'GunPoint'", "class labels", "set [task] kind = 'classification'")),
    ("regression-dataset-with-classification", "classification", lambda t: 'dataset = "Covid3Month"',
     ("data.dataset 'Covid3Month'", "target values", "set [task] kind = 'regression'")),
]


@pytest.mark.parametrize(("case", "task", "data", "expected"), BAD_TARGETS, ids=[c[0] for c in BAD_TARGETS])
def test_bad_targets_are_one_line_errors(case, task, data, expected, tmp_path, capsys):
    from test_bad_inputs import one_line_error

    cfg = _write_cfg(tmp_path, data(tmp_path), task)
    one_line_error(["train", str(cfg), "--out", str(tmp_path / "run")], capsys, expected)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize(("case", "text", "expected"), [
    ("label-smoothing", '[training]\nlabel_smoothing = 0.1', ("'training.label_smoothing' = 0.1", "expected 0")),
    ("target-column-with-classification", "", ("'data.target_column' names regression targets",)),
])
def test_config_keys_that_do_not_fit_the_task(case, text, expected, tmp_path):
    from test_bad_inputs import precise_error

    if case == "label-smoothing":
        source = reg_config('dataset = "Covid3Month"').replace("[training]\n", "[training]\nlabel_smoothing = 0.1\n")
    else:
        source = reg_config('path = "d.csv"\ntarget_column = "y"').replace('kind = "regression"',
                                                                           'kind = "classification"')
    precise_error(case, lambda _t: parse_config(source), ConfigError, expected, tmp_path)


def test_a_data_error_is_raised_by_the_api_too(tmp_path):
    from test_bad_inputs import precise_error

    path = _npz(tmp_path, "d.npz", X=X12, y=np.where(np.arange(12) == 3, np.inf, np.arange(12.0)))
    precise_error("api-nan", lambda _t: load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION),
                  DataError, ("d.npz", "NaN or inf", "[3, 0]"), tmp_path)


@pytest.mark.parametrize("task", ["regression", "per-step-classification", "per-step-regression"])
def test_templates_of_other_tasks_switch_the_classification_only_adapt_rules_off(task):
    from rnnlab.config import parse_config, template_for

    c = parse_config(template_for(task))  # parses: [adapt] on would be refused for this task
    assert not c.adapt.shape and not c.adapt.budget
    assert parse_config(template_for("classification")).adapt.shape
