"""A regression run's report shows its predictions against the targets (per target, in each
target's units) and ``rnnlab compare`` says when regression runs predict different targets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnlab import htmlkit as hk
from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.plots.regression import plot_predictions, regression_points
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.train.predict import prediction_rows
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SECTION = "Predictions against the targets"

CONFIG = """name = "{name}"
[task]
kind = "regression"
{task}
[data]
path = "{path}"
{test}
[model]
hidden_size = 8
[training]
epochs = 3
batch_size = 16
lr = 0.01
threads = 1
[tracking]
health = false
grads_every = 0
weights_every = 0
grad_through_time = false
"""


def targets_of_two_scales(root: Path, k: int, n: int = 96, t: int = 6) -> tuple[Path, Path]:
    """Series whose targets are linear maps of the steps: the first of scale ~500, the second ~1."""
    rng = np.random.default_rng(k)
    X = rng.standard_normal((n, t, 1))
    w = np.linspace(1.0, 2.0, t)
    y = np.stack([X[:, :, 0] @ w * 150 + 40, X[:, :, 0] @ w[::-1] * 0.3 - 3][:k], axis=1)
    cut = n * 3 // 4
    np.savez(root / f"k{k}.npz", X=X[:cut], y=y[:cut] if k > 1 else y[:cut, 0])
    np.savez(root / f"k{k}_test.npz", X=X[cut:], y=y[cut:] if k > 1 else y[cut:, 0])
    return root / f"k{k}.npz", root / f"k{k}_test.npz"


def trained(root: Path, name: str, path: Path, test: Path | None, task: str = "") -> Path:
    cfg = parse_config(CONFIG.format(name=name, task=task, path=path,
                                     test=f'test_path = "{test}"' if test is not None else ""))
    return train(cfg, out=str(root / name), progress=False, log=None).run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("regression_report")
    one, one_test = targets_of_two_scales(root, 1)
    two, two_test = targets_of_two_scales(root, 2)
    return {"k1": trained(root, "k1", one, one_test), "k2": trained(root, "k2", two, two_test),
            "k2_test_file": two_test, "k1_test_file": one_test, "root": root}


def predicted_by_rnnlab_predict(run: Path, data: Path) -> np.ndarray:
    """The values ``rnnlab predict RUN --data FILE`` writes, [N, K]."""
    header, rows = prediction_rows(run, data)
    assert header[0] == "series" and [r[0] for r in rows] == list(range(len(rows)))
    return np.array([r[1:] for r in rows], dtype=np.float64)


def table_rows(html: str) -> dict[str, list[str]]:
    """The rows of the section's per-target table: name -> [RMSE, MAE, R²] as shown."""
    section = html.split(f"<h2>{SECTION}</h2>", 1)[1].split("</section>", 1)[0]
    table = section.split("<th>target</th><th>RMSE</th><th>MAE</th><th>R²</th></tr>", 1)[1].split("</table>", 1)[0]
    return {m[1]: re.findall(r'<td class="num">([^<]*)</td>', m[2])
            for m in re.finditer(r"<tr><th>([^<]*)</th>(.*?)</tr>", table)}


def test_the_plotted_predictions_are_rnnlab_predicts_on_the_test_split(runs):
    points = regression_points(runs["k2"])
    expected = predicted_by_rnnlab_predict(runs["k2"], runs["k2_test_file"])
    actual = np.load(runs["k2_test_file"])["y"]
    assert points.split == "test" and points.names == ["target0", "target1"]
    np.testing.assert_allclose(points.predicted, expected, rtol=1e-5, atol=1e-6 * np.abs(actual).max())
    # the targets in the data's units (the file's), not standardized ones
    np.testing.assert_allclose(points.actual, actual, rtol=1e-5, atol=1e-6 * np.abs(actual).max())
    fig = plot_predictions(points)
    assert [ax.get_title() for ax in fig.axes] == ["target0", "target1"]
    for c, ax in enumerate(fig.axes):
        np.testing.assert_allclose(ax.collections[0].get_offsets(), np.stack([actual[:, c], expected[:, c]], axis=1),
                                   rtol=1e-5, atol=1e-6 * np.abs(actual).max())
        # the training mean is the reference line (what a model of R² 0 predicts)
        train_y = np.load(runs["root"] / "k2.npz")["y"]
        mean_lines = [line for line in ax.lines if len(set(np.asarray(line.get_ydata(), float))) == 1]
        assert any(abs(line.get_ydata()[0] - train_y[:, c].mean()) < 0.5 * train_y[:, c].std() for line in mean_lines)


def test_each_targets_errors_in_its_own_units_and_the_pooled_figure_is_the_runs(runs):
    html = render_report(runs["k2"])
    assert f"<h2>{SECTION}</h2>" in html and html.index(SECTION) < html.index("<h2>Metric curves</h2>")
    predicted = predicted_by_rnnlab_predict(runs["k2"], runs["k2_test_file"])
    actual = np.load(runs["k2_test_file"])["y"]
    err = predicted - actual
    rows = table_rows(html)
    for c, name in enumerate(["target0", "target1"]):
        rmse, mae = np.sqrt((err[:, c] ** 2).mean()), np.abs(err[:, c]).mean()
        assert rows[name][:2] == [hk.num(float(rmse)), hk.num(float(mae))]
    # the scales differ a hundredfold: the small target's RMSE is far below the pooled one
    pooled = next(v for k, v in rows.items() if "pooled" in k)
    summary = RunDir(runs["k2"]).read_summary()
    assert pooled[0] == hk.num(summary["test"]["rmse"]) and float(rows["target1"][0]) < float(pooled[0]) / 20
    lead = html.split(f"<h2>{SECTION}</h2>", 1)[1].split("<img", 1)[0]
    assert "pool its 2 targets" in lead


def test_one_target_has_no_pooling_sentence_and_classification_no_section(runs, tmp_path):
    html = render_report(runs["k1"])
    assert f"<h2>{SECTION}</h2>" in html and "pool its" not in html
    rows = table_rows(html)
    assert list(rows) == ["target"]
    err = predicted_by_rnnlab_predict(runs["k1"], runs["k1_test_file"])[:, 0] - np.load(runs["k1_test_file"])["y"]
    assert rows["target"][0] == hk.num(float(np.sqrt((err ** 2).mean())))
    cfg = parse_config('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nepochs = 1\n'
                       '[tracking]\nenabled = false')
    classification = render_report(train(cfg, out=str(tmp_path), progress=False, log=None).run_dir)
    assert SECTION not in classification and 'id="predictions"' not in classification
    assert "<h2>Final metrics</h2>" in classification


def test_a_run_whose_data_is_gone_says_so_in_one_line(runs, tmp_path):
    copy = tmp_path / "moved"
    shutil.copytree(runs["k2"], copy)
    config = (copy / "config.toml").read_text()
    (copy / "config.toml").write_text(config.replace(str(runs["k2_test_file"]), str(tmp_path / "gone_test.npz")))
    html = render_report(copy)
    section = html.split(f"<h2>{SECTION}</h2>", 1)[1].split("</section>", 1)[0].strip()
    assert section.startswith("<p class='nodata'>No picture of the predictions: the run's data could not be read")
    assert "gone_test.npz" in section and section.count("<p") == 1 and "could not show" not in section
    assert "<h2>Metric curves</h2>" in html


def test_per_step_points_are_the_valid_steps_as_rnnlab_predict_writes_them(tmp_path):
    rng = np.random.default_rng(3)
    n, t = 48, 7
    X = rng.standard_normal((n, t, 1))
    lengths = rng.integers(3, t + 1, n)
    y = np.cumsum(X, axis=1) * 50.0  # [N, T, 1]
    for i, L in enumerate(lengths):
        y[i, L:] = np.nan  # (padding: no target)
    np.savez(tmp_path / "s.npz", X=X[:36], y=y[:36], lengths=lengths[:36])
    np.savez(tmp_path / "s_test.npz", X=X[36:], y=y[36:], lengths=lengths[36:])
    run = trained(tmp_path, "steps", tmp_path / "s.npz", tmp_path / "s_test.npz", task="per_step = true")
    points = regression_points(run)
    header, rows = prediction_rows(run, tmp_path / "s_test.npz")
    assert header == ["series", "step", "target"] and points.per_step and points.series == 12
    # a point per valid step of every test series (padding excluded), in rnnlab predict's order
    assert len(points.actual) == len(rows) == int(lengths[36:].sum())
    np.testing.assert_allclose(points.predicted[:, 0], [r[2] for r in rows], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(points.actual[:, 0], [y[36 + i, s, 0] for i, s, _ in rows], rtol=1e-5, atol=1e-3)
    html = render_report(run)
    assert f"{int(lengths[36:].sum())} valid steps of its 12 series" in html


def cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_compare_says_when_the_runs_targets_differ(runs, tmp_path, capsys):
    code, out = cli(["compare", runs["k1"], runs["k2"], "--figures", tmp_path / "f1"], capsys)
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("note: the runs predict different targets")]
    assert len(notes) == 1 and "1 target, target;" in notes[0] and "2 targets, target0, target1" in notes[0]
    assert "not comparable" in notes[0]
    twin = tmp_path / "k2_again"
    shutil.copytree(runs["k2"], twin)
    code, out = cli(["compare", runs["k2"], twin, "--figures", tmp_path / "f2"], capsys)
    assert code == 0 and "different targets" not in out


def test_many_targets_four_panels_the_rest_in_the_table_and_no_text_over_another():
    from test_report_cost import _problems

    from rnnlab.plots.regression import MAX_POINTS, MAX_TARGETS, RegressionPoints

    rng = np.random.default_rng(0)
    n, k = MAX_POINTS + 500, 6
    actual = rng.normal(size=(n, k)) * np.array([1e4, 1e-3, 1.0, 50.0, 2.0, 3.0])
    predicted = actual + rng.normal(size=(n, k)) * np.abs(actual).mean(axis=0) * 0.1
    points = RegressionPoints("validation", [f"column {i}" for i in range(k)], actual, predicted,
                              actual.mean(axis=0), True, 100, True)
    fig = plot_predictions(points)
    assert [ax.get_title() for ax in fig.axes] == [f"column {i}" for i in range(MAX_TARGETS)]
    drawn = fig.axes[1].collections[0].get_offsets()
    assert len(drawn) == MAX_POINTS  # (a fixed draw of the points; the errors use every one)
    np.testing.assert_array_equal(drawn, np.stack([actual[points.shown, 1], predicted[points.shown, 1]], axis=1))
    rmse = np.sqrt(((predicted - actual) ** 2).mean(axis=0))
    np.testing.assert_allclose(points.errors()["rmse"], rmse)
    assert _problems(fig) == []
