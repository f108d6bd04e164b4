"""A forecaster's round on the pictures and the run's last line: the MASE panel keeps its axis to
the model and its better reference (a far reference is a mark at the edge with its value), every
forecast line the forecast picture's legend names is seen or said to lie under another (naive a
whole season ahead is seasonal naive's line; a model that learned nothing is its reference's),
and ``rnnlab train``'s line of the references sets the model beside them in digits that tell
them apart, "no better" where it does not beat the better one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.data.stream import Bounds, simple_forecast
from rnnlab.plots.forecast import ForecastLines, plot_forecast
from rnnlab.plots.metrics import plot_metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ------------------------------------------------------------------ the MASE panel's axis

def _mase_panel(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("MASE"))


def test_mase_axis_keeps_to_the_model_and_its_better_reference_and_marks_a_far_one_at_its_edge():
    # (a user's run: the model 1.04-1.15 and seasonal naive 1.11 / 1.15 one flat band under naive's 5.5)
    records = [{"epoch": e, "train_mase": 1.15 - 0.11 * e / 24, "val_mase": 1.14 + 0.01 * (e % 2)}
               for e in range(1, 25)]
    baselines = {"train": {"naive": {"mase": 5.4929}, "seasonal_naive": {"mase": 1.1060}},
                 "val": {"naive": {"mase": 5.5063}, "seasonal_naive": {"mase": 1.1549}}}
    ax = _mase_panel(plot_metrics(records, baselines=baselines))
    bottom, top = ax.get_ylim()
    # the curves fill a good part of the axis: the differences between model and reference can be read
    assert (1.15 - 1.04) / (top - bottom) > 0.5
    lines = {round(line.get_ydata()[0], 4) for line in ax.get_lines() if line.get_label().startswith(("train ", "val "))
             and "eval mode" not in line.get_label() and len(set(line.get_ydata())) == 1}
    assert {1.106, 1.1549} <= lines  # (the better references: lines on the axis)
    assert bottom < 1.106 < 1.1549 < top
    # naive: not a line the axis stretches to, but a mark at its top edge, with its value, and in the legend
    for split, value in (("train", "5.49"), ("val", "5.51")):
        mark = next(a for a in ax.get_lines() if a.get_gid() == f"off-scale {split} naive")
        assert mark.get_ydata()[0] == 1.0 and mark.get_transform() == ax.transAxes
        assert f"{split} naive {value}: above the axis" in mark.get_label()
        assert value in [t.get_text() for t in ax.texts]
    assert not [y for y in lines if y > 5]

    # a reference near the curves (the better or not) stays a line: nothing is marked off the axis
    near = {"train": {"naive": {"mase": 0.888}, "seasonal_naive": {"mase": 1.39}}}
    ax = _mase_panel(plot_metrics([{"epoch": e, "train_mase": 0.7 + 0.02 * e} for e in range(1, 20)], baselines=near))
    assert not [a for a in ax.get_lines() if str(a.get_gid()).startswith("off-scale")]
    assert ax.get_ylim()[1] > 1.39


# ------------------------------------------------------------------ the forecast picture's lines

def _lines(x: np.ndarray, horizon: int, season: int, model: np.ndarray | None = None) -> ForecastLines:
    """The picture's lines of series ``x`` [L, C] with a test block of its last 28 steps, the
    references as the run computes them (:func:`simple_forecast`); ``model``: as naive's, else."""
    L, C = x.shape
    bounds = Bounds(L - 56, L - 28, L)
    origins = np.arange(bounds.val - 1, L - horizon)

    def reference(kind: str) -> np.ndarray:
        return simple_forecast(x[None], kind, horizon, season)[0].reshape(L, horizon, C)[origins]

    naive = reference("naive")
    return ForecastLines("s.csv", 0, 1, [f"c{c}" for c in range(C)], x, bounds, horizon, season, "naive", True,
                         "test", origins, naive if model is None else model(origins), naive,
                         reference("seasonal_naive"), x[-horizon:], None, scale=np.ones(C))


def _weekly(L: int = 140, C: int = 2) -> np.ndarray:
    t = np.arange(L)[:, None]
    rng = np.random.default_rng(1)
    return 100 + 30 * np.sin(2 * np.pi * t / 7 + np.arange(C)) + 0.2 * t + rng.normal(0, 3, (L, C))


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def _unseen(fig, label_start: str) -> bool:
    """Whether hiding the first panel's line whose label starts so leaves the picture's pixels as
    they were (no part of it is seen)."""
    fig.canvas.draw()
    before = np.asarray(fig.canvas.buffer_rgba()).copy()
    line = next(a for a in fig.axes[0].get_lines() if a.get_label().startswith(label_start))
    line.set_visible(False)
    fig.canvas.draw()
    after = np.asarray(fig.canvas.buffer_rgba())
    line.set_visible(True)
    return int((np.abs(before.astype(int) - after.astype(int)).max(axis=2) > 40).sum()) < 5


def test_naive_a_whole_season_ahead_is_said_to_be_seasonal_naives_line():
    # (a user's picture, horizon = season = 7: "naive, 7 steps ahead" in the legend, nowhere on the panels)
    x = _weekly()
    rng = np.random.default_rng(2)
    lines = _lines(x, 7, 7, model=lambda o: x[o + 1][:, None].repeat(7, 1) + rng.normal(0, 8, (len(o), 7, 2)))
    # the naive forecast is right: the last value, whatever the step ahead; seasonal naive 7 ahead (x[t + 7 - 7])
    # is that value too, so the two lines are one, while their MASEs (over 1 to 7 ahead) differ
    assert np.array_equal(lines.naive[:, 6], x[lines.origins]) and np.array_equal(lines.seasonal_naive[:, 6],
                                                                                    lines.naive[:, 6])
    mase = lines.mase()
    assert (mase["naive"] > 1.5 * mase["seasonal naive"]).all()
    fig = plot_forecast(lines)
    labels = _legend(fig)
    assert "naive, 7 steps ahead: the same as seasonal naive's (a whole season ahead, both are the last value)" \
        in labels
    # the lines not covered keep their plain names: nothing claimed that is not so
    assert {"model, 1 step ahead", "model, 7 steps ahead", "seasonal naive, 7 steps ahead"} <= set(labels)
    for label in labels:  # every forecast line the legend names is seen, or the legend says where it is
        if label.startswith(("model", "naive", "seasonal")) and not re.search(r": (the same as|under) ", label):
            assert not _unseen(fig, label), label

    # 3 steps ahead of a weekly series, naive and seasonal naive differ: two lines, two plain names
    labels = _legend(plot_forecast(_lines(x, 3, 7)))
    assert {"naive, 3 steps ahead", "seasonal naive, 3 steps ahead"} <= set(labels)


def test_a_model_on_its_naive_reference_is_seen_under_it_and_said_so():
    # (a user's run of horizon 1 on its naive reference: the model learned next to nothing, and
    # naive's line was hidden under the model's)
    x = _weekly(C=1)
    lines = _lines(x, 1, 7, model=lambda o: x[o][:, None] + 1e-4)
    fig = plot_forecast(lines)
    labels = _legend(fig)
    assert "naive, 1 step ahead" in labels and not _unseen(fig, "naive, 1 step ahead")
    model = next(label for label in labels if label.startswith("model, 1 step ahead"))
    assert model.startswith("model, 1 step ahead: under naive's (at most 0.1% of the axis apart)")
    # a model well apart from naive is not said to be under it
    labels = _legend(plot_forecast(_lines(x, 1, 7, model=lambda o: x[o][:, None] + 10.0)))
    assert "model, 1 step ahead" in labels


# ------------------------------------------------------------------ rnnlab train's line of the references

def _train(tmp: Path, name: str, values: np.ndarray) -> tuple[str, dict]:
    """``rnnlab train`` of a forecaster of the one-column series ``values`` whose zero-initialised
    head barely moves from its naive reference: (the line of the references, summary.json)."""
    with open(tmp / f"{name}.csv", "w", newline="") as f:
        csv.writer(f).writerows([["y"], *[[f"{v:.6f}"] for v in values]])
    (tmp / f"{name}.toml").write_text(stream_toml(
        str(tmp / f"{name}.csv"), data="val_steps = 28\ntest_steps = 28\nbptt = 8",
        task='horizon = 2\nseason = 7\nrelative_to = "naive"', training="steps = 4\nlr = 1e-5")
        + "[model.head]\nzero_init = true\n")
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        assert main(["train", str(tmp / f"{name}.toml"), "--out", str(tmp / name), "--quiet"]) == 0
    line = next(s for s in printed.getvalue().splitlines() if s.startswith("test MASE: "))
    return line, json.loads((tmp / name / "summary.json").read_text())


def _figures(line: str) -> dict[str, float]:
    return {name: float(value) for name, value in
            re.findall(r"(naive|seasonal naive|the model) (\d[\d.e+-]*)", line)}


def test_the_line_of_the_references_tells_the_model_apart_and_marks_a_loss(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(200)
    # a random walk: the model is naive's forecast give or take the few steps' change, the same in 4 digits
    line, summary = _train(tmp_path, "walk", 100 + rng.normal(0, 1, 200).cumsum())
    model, naive = summary["test"]["mase"], summary["baselines"]["test"]["naive"]["mase"]
    assert f"{model:.4g}" == f"{naive:.4g}" and model != naive  # (the case: 4 digits read as a tie)
    shown = _figures(line)
    assert shown["the model"] != shown["naive"]
    assert (shown["the model"] > shown["naive"]) == (model > naive)  # (the printed order is the true one)
    assert ("no better than naive" in line) == (model >= naive)
    # a weekly cycle forecast from naive: far behind seasonal naive, and the line says so
    line, summary = _train(tmp_path, "cycle", 20 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.1, 200))
    assert summary["test"]["mase"] > summary["baselines"]["test"]["seasonal_naive"]["mase"]
    assert line.endswith(": no better than seasonal naive)")
    assert _figures(line)["the model"] == pytest.approx(summary["test"]["mase"], rel=1e-4)
