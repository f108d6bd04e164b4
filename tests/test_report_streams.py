"""The run report of the stream tasks answers their first questions at a glance: a forecaster's
forecasts drawn against its series (computed as rnnlab predict computes them), its figures beside
the naive and seasonal-naive forecasts in one table, and a one-epoch run's curve over its steps
instead of a dot per panel."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnlab.config import parse_config
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

HORIZON = 3


def _section(text: str, sid: str) -> str:
    assert f'<section id="{sid}">' in text, f"the report has no section {sid!r}"
    return text.split(f'<section id="{sid}">')[1].split("</section>")[0]


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory) -> RunDir:
    """A forecasting run on a daily series of two channels with a column of dates, early stopping on."""
    root = tmp_path_factory.mktemp("forecaster")
    t = np.arange(160)
    rows = ["date,sales,visits"] + [
        f"{np.datetime64('2023-01-01') + int(i)},{100 + 0.3 * i + 8 * np.sin(2 * np.pi * i / 7):.3f},"
        f"{50 + 5 * np.cos(2 * np.pi * i / 7):.3f}" for i in t]
    (root / "shop.csv").write_text("\n".join(rows) + "\n")
    cfg = parse_config(f"""[task]
kind = "forecasting"
horizon = {HORIZON}
season = 7
[data]
path = "{root / 'shop.csv'}"
bptt = 16
streams = 2
val_steps = 24
test_steps = 24
[model]
hidden_size = 6
[training]
steps = 40
lr = 0.01
[training.early_stopping]
patience = 5
monitor = "val_mase"
[tracking]
enabled = false
""")
    return RunDir(train(cfg, out=root / "run", progress=False, log=None).run_dir)


@pytest.fixture(scope="module")
def forecaster_page(forecaster) -> str:
    """The forecaster's report: drawn once, the tests below read it."""
    return render_report(forecaster)


def test_a_forecasters_report_draws_the_models_test_block_forecasts_as_rnnlab_predict_makes_them(forecaster,
                                                                                               forecaster_page):
    section = _section(forecaster_page, "forecasts")
    assert '<img alt="forecasts against the series"' in section and "could not show" not in section
    # the picture the section embeds
    from rnnlab.plots.forecast import forecast_lines, plot_forecast
    from rnnlab.task import task_for
    from rnnlab.train.forecast import forecast_rows, next_values
    from rnnlab.train.run_fit import run_model
    from rnnlab.train.trainer import load_run_config

    lines = forecast_lines(forecaster)
    x = lines.values
    assert lines.block == "test" and lines.dates is not None and len(lines.dates) == len(x) + HORIZON
    # Every plotted forecast of the test block is what the model rnnlab predict uses forecasts after
    # that origin's history (next_values on the series up to the origin) ...
    config = load_run_config(forecaster.path)
    task = task_for(config)
    data, model, _ = run_model(forecaster, config, task)
    for i, origin in enumerate(lines.origins):
        expected = next_values(model, x[: origin + 1], data.stats, data.reference, task)
        np.testing.assert_allclose(lines.model[i], expected, rtol=1e-5, atol=1e-6)
    # ... they are the forecasts the run's test figures score (its MAE, recomputed from them) ...
    actual = np.stack([x[lines.origins + k] for k in range(1, HORIZON + 1)], axis=1)
    summary = forecaster.read_summary()
    assert np.abs(lines.model - actual).mean() == pytest.approx(summary["test"]["mae"], rel=1e-4)
    assert np.abs(lines.seasonal_naive - actual).mean() == \
        pytest.approx(summary["baselines"]["test"]["seasonal_naive"]["mae"], rel=1e-4)
    # ... and the picture draws those values at the dates they forecast, per channel.
    fig = plot_forecast(lines)
    assert [ax.get_ylabel() for ax in fig.axes] == ["sales", "visits"]
    for c, ax in enumerate(fig.axes):
        drawn = {line.get_label(): line for line in ax.get_lines()}
        for k in (1, HORIZON):
            line = drawn[f"model, {k} step{'s' if k > 1 else ''} ahead"]
            np.testing.assert_allclose(np.asarray(line.get_ydata(), float), lines.model[:, k - 1, c])
            assert list(line.get_xdata()) == [lines.dates[o + k] for o in lines.origins]
        assert "seasonal naive, 3 steps ahead" in drawn and "naive, 3 steps ahead" in drawn
        after = drawn["forecast after the end (rnnlab predict)"]
        rows = forecast_rows(forecaster.path)  # what rnnlab predict writes
        np.testing.assert_allclose(np.asarray(after.get_ydata(), float)[1:], [r[3 + c] for r in rows], rtol=1e-6)


def test_a_forecaster_whose_data_moved_says_so_in_one_line(forecaster, tmp_path):
    shutil.copytree(forecaster.path, tmp_path / "moved")
    moved = RunDir(tmp_path / "moved")
    config = moved.config.read_text()
    moved.config.write_text(re.sub(r'^path = ".*"$', f'path = "{tmp_path / "elsewhere.csv"}"', config, flags=re.M))
    section = _section(render_report(moved), "forecasts")
    assert "No forecast picture: the run's data could not be read again" in section
    assert "elsewhere.csv" in section and "does not exist" in section
    assert section.count("<p") == 1 and "<img" not in section and "could not show" not in section


def test_the_forecaster_is_compared_with_its_references_in_one_table_mase_first(forecaster, forecaster_page):
    final = _section(forecaster_page, "final-metrics")
    assert not re.search(r"<th>[^<]* of (seasonal )?naive</th>", final)  # (no row per split, metric and reference)
    table = re.search(r"<table><tr><th rowspan=\"2\">forecast</th>.*?</table>", final, re.S)
    assert table is not None
    html = table.group(0)
    heads = re.findall(r'<th colspan="\d+">([^<]*)</th>', html)
    assert heads[0] == "MASE" and set(heads) >= {"MASE", "MAE (data units)", "RMSE (data units)"}
    rows = re.findall(r"<tr><th>([^<]*)</th>(<td.*?)</tr>", html, re.S)
    assert [label for label, _ in rows] == ["model", "naive", "seasonal naive"]
    cells = [re.findall(r'<td class="num" title="([^"]*)"([^>]*)>([^<]*)</td>', body) for _, body in rows]
    summary = RunDir(forecaster.path).read_summary()
    # the first columns: MASE on train (eval), validation and test, the model's beside each reference's
    assert [c[0] for c in cells[0][:3]] == ["train mase of model", "val mase of model", "test mase of model"]
    assert float(cells[0][2][2]) == pytest.approx(summary["test"]["mase"], rel=1e-3)
    assert float(cells[2][2][2]) == pytest.approx(summary["baselines"]["test"]["seasonal_naive"]["mase"], rel=1e-3)
    # each column's lowest error, and only it, is marked
    for j in range(len(cells[0])):
        column = [float(row[j][2]) for row in cells]
        marked = [i for i, row in enumerate(cells) if "data-best" in row[j][1]]
        assert marked == [int(np.argmin(column))], cells[0][j][0]


@pytest.fixture(scope="module")
def one_epoch_lm(tmp_path_factory) -> RunDir:
    """A language model trained for one epoch of about 45 steps on a small text, its loss tracked every 10 steps."""
    root = tmp_path_factory.mktemp("lm")
    words = ["the", "model", "reads", "a", "text", "and", "learns", "which", "letter", "comes", "next"]
    rng = np.random.default_rng(0)
    (root / "text.txt").write_text("\n".join(" ".join(rng.choice(words, 8)) for _ in range(200)) + "\n")
    cfg = parse_config(f"""[task]
kind = "language_model"
[data]
path = "{root / 'text.txt'}"
bptt = 20
streams = 6
[model]
hidden_size = 8
[training]
epochs = 1
[tracking]
weights_every = 10
grads_every = 0
health = false
grad_through_time = false
""")
    return RunDir(train(cfg, out=root / "run", progress=False, log=None).run_dir)


@pytest.fixture(scope="module")
def one_epoch_lm_page(one_epoch_lm) -> str:
    """The language model's report: drawn once, the tests below read it."""
    return render_report(one_epoch_lm)


def test_a_one_epoch_run_draws_its_loss_per_step_not_a_dot_per_panel(one_epoch_lm, one_epoch_lm_page):
    run = one_epoch_lm
    records = run.read_metrics()
    assert len(records) == 1 and records[0]["step"] >= 40
    curves = _section(one_epoch_lm_page, "metric-curves")
    assert '<img alt="training loss per step"' in curves and 'alt="metric curves"' not in curves
    assert "One epoch" in curves
    from rnnlab.report import _one_epoch_figure  # (the figure the section embeds)

    fig = _one_epoch_figure(run, records[0])
    assert fig is not None
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == ["step"]
    drawn = {line.get_label(): np.asarray(line.get_xdata(), float) for line in panels[0].get_lines()}
    steps = drawn["training loss (the step's batch)"]
    # the epoch's steps, every 10th, not one point
    assert len(steps) >= 4 and steps[0] == 0 and steps[-1] >= records[0]["step"] - 10
    assert list(drawn["val_loss (after epoch 1)"]) == [records[0]["step"]]


def test_a_one_epoch_run_without_a_loss_per_step_shows_its_figures_as_a_table(one_epoch_lm, tmp_path):
    shutil.copytree(one_epoch_lm.path, tmp_path / "untracked")
    run = RunDir(tmp_path / "untracked")
    Path(run.tracked).unlink()
    curves = _section(render_report(run), "metric-curves")
    assert "<img" not in curves and "One epoch" in curves
    assert re.search(r"<th>val_bpc</th><td class=\"num\">[0-9.]+</td>", curves)
    assert "<th>lr</th>" in curves


def test_a_forecaster_has_a_forecast_section_and_others_do_not(forecaster_page, one_epoch_lm_page):
    assert '<section id="forecasts">' in forecaster_page
    assert '<section id="forecasts">' not in one_epoch_lm_page
