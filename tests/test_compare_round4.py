"""`rnnlab compare`, round 4, on real runs: an estimator's seeds on one X, y are one group (each run
keeps its own copy of the data: same content, other name); forecasting runs whose MASE are on
other scales (task.season, task.horizon, the training block) are said to be, each beside its own
seasonal-naive score; Lightning runs get the columns of the metrics they logged and a footnote
that says how their best epoch was picked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_run
import torch
from test_compare_round3 import cells, cli
from test_forecast_round2 import daily_rows, write_csv

from rnnlab import RNNClassifier
from rnnlab.config import load_config
from rnnlab.estimators import FAST
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def table(out):
    """The table's rows by run (or group) name, as {column: cell}, and the lines outside it."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("run ", "group ")))
    head = cells(lines[start])
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("note:", "(")))
    rows = {cells(line)[0]: dict(zip(head, cells(line), strict=True)) for line in lines[start + 1:end]}
    return head, rows, lines[:start] + lines[end:]


def warnings(out):
    return [line for line in out.splitlines() if line.startswith("warning:")]


# ------------------------------------------------------------------ 1. an estimator's seeds on one X, y


def test_seeds_of_an_estimator_on_the_same_data_are_one_group(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2, 15))
    y = np.array(["cat", "dog"] * 20)
    X[y == "dog", 0] += 1.5
    other = X + rng.normal(size=X.shape)
    for name, data, seed in (("seed0", X, 0), ("seed1", X, 1), ("other", other, 0)):
        RNNClassifier(hidden_size=4, steps=8, params=FAST, random_state=seed, run_dir=tmp_path / name).fit(data, y)
    # each run keeps its own copy of the arrays: two names, one content
    paths = [RunDir(tmp_path / s).read_config().data.path for s in ("seed0", "seed1")]
    assert paths[0] != paths[1]
    code, out, err = cli(["compare", tmp_path / "seed0", tmp_path / "seed1", "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    head, rows, _ = table(out)
    assert not warnings(out)
    assert list(rows) == [f"{tmp_path}/seed*"] and rows[f"{tmp_path}/seed*"]["n"] == "2"
    assert rows[f"{tmp_path}/seed*"]["seeds"] == "0,1" and "data.path" not in head
    # other arrays are other data, whatever the file is called
    code, out, err = cli(["compare", tmp_path / "seed0", tmp_path / "seed1", tmp_path / "other",
                          "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    [warning] = warnings(out)
    assert warning.startswith("warning: the runs are on different data") and f"{tmp_path}/other" in warning
    head, rows, _ = table(out)
    assert rows[f"{tmp_path}/seed*"]["n"] == "2" and rows[f"{tmp_path}/other"]["n"] == "1"
    assert "data.path" in head


# ------------------------------------------------------------------ 2. forecasting runs' MASE scales


def forecast_toml(path, task="horizon = 2\nseason = 7", data="val_steps = 12", seed=0):
    return f"""[task]
kind = "forecasting"
{task}
[data]
path = "{path}"
bptt = 8
streams = 2
test_steps = 12
{data}
[model]
hidden_size = 4
[training]
steps = 12
lr = 0.01
seed = {seed}
[tracking]
enabled = false
"""


@pytest.fixture(scope="module")
def forecasts(tmp_path_factory):
    """Forecasting runs on one daily series of 120 steps (12 for test, 12 for validation)."""
    tmp = tmp_path_factory.mktemp("forecasts")
    data = write_csv(tmp / "shop.csv", daily_rows(120))
    runs = {"base": {}, "base-seed1": {"seed": 1}, "season1": {"task": "horizon = 2\nseason = 1"},
            "season1-seed1": {"task": "horizon = 2\nseason = 1", "seed": 1},
            "horizon4": {"task": "horizon = 4\nseason = 7"},
            # as a search's or recipe's final run: retrained on training + validation
            "final": {"data": "val_fraction = 0.0"}}
    for name, keys in runs.items():
        (tmp / f"{name}.toml").write_text(forecast_toml(data, **keys))
        # (trained through the API: the same run directory as `rnnlab train` writes, less the
        # report.html that command draws at the end, which `rnnlab compare` never reads)
        tiny_run.run(load_config(tmp / f"{name}.toml"), tmp / name)
    return tmp


def seasonal_naive_mase(run):
    return json.loads((run / "summary.json").read_text())["baselines"]["test"]["seasonal_naive"]["mase"]


def test_forecasting_runs_of_other_seasons_or_horizons_are_said_to_be_on_other_scales(forecasts, capsys):
    runs = [forecasts / n for n in ("base", "season1", "horizon4")]
    code, out, err = cli(["compare", *runs, "--figures", forecasts / "f"], capsys)
    assert code == 0, err
    [warning] = warnings(out)
    assert "task.season or task.horizon" in warning and "not on one scale" in warning
    for said in (f"season 7, horizon 2: {runs[0]}", f"season 1, horizon 2: {runs[1]}", f"season 7, horizon 4: {runs[2]}"):
        assert said in warning
    # each run beside its own seasonal-naive forecast, scored on its own scale
    head, rows, rest = table(out)
    assert head.index("test_mase_seasonal_naive") == head.index("test_mase") + 1
    for run in runs:
        assert rows[str(run)]["test_mase_seasonal_naive"] == f"{seasonal_naive_mase(run):.4g}"
    assert any("test_mase_seasonal_naive: the seasonal-naive forecast" in line for line in rest)
    # seeds of one config are on one scale: nothing to say
    code, out, err = cli(["compare", forecasts / "base", forecasts / "base-seed1", "--figures", forecasts / "f"], capsys)
    assert code == 0, err
    assert not warnings(out)


def test_a_run_retrained_on_more_of_the_series_is_said_to_be_on_another_scale(forecasts, capsys):
    code, out, err = cli(["compare", forecasts / "base", forecasts / "final", "--figures", forecasts / "f"], capsys)
    assert code == 0, err
    [warning] = warnings(out)
    # 120 steps less 12 for test and 12 for validation; the final run keeps validation's 12 too
    assert warning.startswith("warning: the forecasting runs trained on different blocks of their series")
    assert f"first 96 steps: {forecasts / 'base'}" in warning and f"first 108 steps: {forecasts / 'final'}" in warning


def test_groups_on_other_mase_scales_are_not_marked_against_each_other(forecasts, capsys):
    code, out, err = cli(["compare", forecasts / "base", forecasts / "base-seed1", forecasts / "season1",
                          forecasts / "season1-seed1", "--figures", forecasts / "f"], capsys)
    assert code == 0, err
    head, rows, _ = table(out)
    mark = head[-1]  # (the reference: season 1, rnnlab's default)
    assert sorted(r[mark] for r in rows.values()) == ["- (MASE on another scale)", "reference"]


# ------------------------------------------------------------------ 3. Lightning runs

pl = pytest.importorskip("lightning.pytorch")


class Regression(pl.LightningModule):
    """A GRU regression that logs its losses and RMSE per epoch (no accuracy: there is none)."""

    def __init__(self):
        super().__init__()
        self.rnn, self.head = torch.nn.GRU(2, 4, batch_first=True), torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])[:, 0]

    def _step(self, batch, split):
        loss = torch.nn.functional.mse_loss(self(batch[0]), batch[1])
        self.log(f"{split}_loss", loss, on_epoch=True, on_step=False)
        self.log(f"{split}_rmse", loss.sqrt(), on_epoch=True, on_step=False)
        return loss

    def training_step(self, batch, i):
        return self._step(batch, "train")

    def validation_step(self, batch, i):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.2, momentum=0.9)


def lightning_run(path, seed):
    from rnnlab.lightning import RnnlabCallback

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(24, 6, 2, generator=g)
    data = torch.utils.data.TensorDataset(x, x[:, :, 0].mean(1))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    torch.manual_seed(seed)
    pl.Trainer(max_epochs=5, callbacks=[RnnlabCallback(path, health=False, grad_through_time=False)], logger=False,
               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
               accelerator="cpu").fit(Regression(), loader, loader)
    return path


def test_lightning_runs_show_the_metrics_they_logged_and_say_how_best_was_picked(tmp_path, capsys):
    runs = [lightning_run(tmp_path / f"lit{s}", s) for s in (0, 1)]
    code, out, err = cli(["compare", *runs, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    head, rows, rest = table(out)
    assert not any("acc" in c for c in head)  # a regression: no accuracy columns
    assert {"train_rmse", "val_rmse", "val_rmse@best_epoch"} <= set(head)
    for run in runs:
        records = RunDir(run).read_metrics()
        assert json.loads((run / "summary.json").read_text())["best_epoch"] is None  # its training called none
        best = min(records, key=lambda r: r["val_loss"])
        row = rows[str(run)]
        assert row["val_rmse"] == f"{records[-1]['val_rmse']:.4g}" and row["train_rmse"] == f"{records[-1]['train_rmse']:.4g}"
        assert row["best_epoch"] == str(best["epoch"]) and row["val_rmse@best_epoch"] == f"{best['val_rmse']:.4g}"
    [footnote] = [line for line in rest if line.startswith("(train_<metric>")]
    assert f"for the runs {runs[0]}, {runs[1]}, whose training calls no epoch best: the epoch of lowest val_loss" \
        in footnote
