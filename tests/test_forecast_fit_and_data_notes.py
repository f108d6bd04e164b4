"""A forecaster's fit verdict is measured against its own reference forecast, with a margin that
noise does not cross; and what loading the data warned is kept in the run (summary.json, each
checkpoint) and shown in its report, the forecast picture saying why it counts steps."""

from __future__ import annotations

import html
import json
import warnings
from datetime import date, timedelta

import numpy as np
import pytest
from test_streams import sine, stream_toml

from rnnlab.config import parse_config
from rnnlab.doctor import fit_findings
from rnnlab.report import render_report
from rnnlab.rundir import RunDir
from rnnlab.train import train
from rnnlab.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _random_walk(tmp_path) -> str:
    x = np.cumsum(np.random.default_rng(0).normal(size=(200, 1)), axis=0)
    np.savez(tmp_path / "rw.npz", X=x)
    return str(tmp_path / "rw.npz")


def test_a_forecaster_that_is_its_naive_reference_learnt_nothing(tmp_path):
    # A random walk: "auto" takes naive, and with lr 1e-6 the zero-initialised head stays naive.
    # Against seasonal naive (twice naive's error on a random walk) it scored a skill of about 0.5
    # and "no findings"; against the forecast it corrects, it learnt nothing: an underfit.
    text = stream_toml(_random_walk(tmp_path), task='season = 7\nrelative_to = "auto"', training="steps = 20\nlr = 1e-6")
    cfg = parse_config(text.replace("[training]", "[model.head]\nzero_init = true\n[training]"))
    result = train(cfg, tmp_path / "run", log=None, progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reference"] == "naive"
    naive = summary["baselines"]["train"]["naive"]["mase"]
    assert summary["train_eval"]["skill"] == pytest.approx(1 - summary["train_eval"]["mase"] / naive)
    assert abs(summary["train_eval"]["skill"]) < 1e-3
    (found,) = [f for f in result.findings if f.check == "underfit"]
    assert "skill over naive" in found.title and "the same as naive" in found.title
    assert "random walk" in found.message and "training.lr" in found.remedy
    assert "train (eval) skill (over naive)" in render_report(tmp_path / "run")


def test_the_verdict_does_not_flip_on_skill_within_noise(tmp_path):
    cfg = parse_config(stream_toml(sine(tmp_path), task='season = 12\nrelative_to = "seasonal_naive"'))
    records = [{"epoch": e, "step": 10 * e, "train_loss": 0.5, "grad_norm": 0.5} for e in range(1, 21)]
    base = {"loss": 0.5, "rmse": 1.0, "mae": 0.9, "mase": 1.0}
    # Two runs that learnt nothing, a hair either side of their reference (the user's sensor runs):
    # one verdict for both, the underfit, naming the forecast it is measured against.
    verdicts = [[f.check for f in fit_findings(records, {**base, "skill": s}, cfg, reference="seasonal_naive")]
                for s in (0.0006, -0.0007)]
    assert verdicts == [["underfit"], ["underfit"]]
    (f,) = fit_findings(records, {**base, "skill": 0.004}, cfg, reference="seasonal_naive")
    assert "only 0.4% better than seasonal naive, not the 1% it must be" in f.title
    # A model that removed a real share of its reference's error fit, and the verdict says how much.
    fit = fit_findings(records, {**base, "skill": 0.05}, cfg, reference="naive")
    assert fit == [] and "5.0% better than naive (its reference)" in fit.checked["underfit"]


def _dated_csv(tmp_path, missing: int = 4) -> str:
    # daily sales with a weekly season, `missing` days left out after day 50
    days = [date(2023, 1, 2) + timedelta(days=i) for i in range(140 + missing)]
    days = days[:50] + days[50 + missing:]
    rows = [f"{d.isoformat()},{100 + 10 * np.sin(2 * np.pi * i / 7) + 0.1 * i:.3f}" for i, d in enumerate(days)]
    path = tmp_path / "sales.csv"
    path.write_text("date,sales\n" + "\n".join(rows) + "\n")
    return str(path)


def test_the_datas_warnings_are_kept_in_the_run_and_its_report(tmp_path):
    cfg = parse_config(stream_toml(_dated_csv(tmp_path), task="season = 7", training="steps = 12"))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        train(cfg, tmp_path / "one", log=None, progress=False)
    gap = "column 'date' misses 4 steps of 1 day"
    assert any(gap in str(w.message) for w in said)  # (still said as loading the data said it)
    # A second run of the same data in this process: the warning is said once a process, yet
    # this run records it too.
    train(cfg, tmp_path / "two", log=None, progress=False)
    for run in ("one", "two"):
        notes = json.loads((tmp_path / run / "summary.json").read_text())["data_notes"]
        assert len(notes) == 1 and gap in notes[0]
        assert gap in load_checkpoint(RunDir(tmp_path / run).last_checkpoint)["data_notes"][0]
    page = render_report(tmp_path / "two")
    configuration = page.split('id="configuration"')[1]
    assert "Loading the data gave 1 warning" in configuration and html.escape(gap) in configuration
    forecasts = page.split('id="forecasts"')[1].split("<img")[0]
    assert "The x axis counts steps, not dates, as loading the data warned" in forecasts
    assert html.escape(gap) in forecasts


def test_a_run_killed_before_its_summary_keeps_the_datas_warnings(tmp_path):
    cfg = parse_config(stream_toml(_dated_csv(tmp_path, missing=2), task="season = 7", training="epochs = 3"))
    train(cfg, tmp_path / "run", log=None, progress=False)
    # what a run killed after its first checkpoint leaves: its checkpoints, no summary.json
    (tmp_path / "run" / "summary.json").unlink()
    configuration = render_report(tmp_path / "run").split('id="configuration"')[1]
    assert "checkpoints/last.pt's data_notes" in configuration
    assert "column &#x27;date&#x27; misses 2 steps of 1 day" in configuration


def test_a_run_whose_data_warn_nothing_records_an_empty_list(tmp_path):
    cfg = parse_config(stream_toml(sine(tmp_path), task="season = 12", training="steps = 8"))
    train(cfg, tmp_path / "run", log=None, progress=False)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["data_notes"] == []
    assert "Loading the data gave" not in render_report(tmp_path / "run")
