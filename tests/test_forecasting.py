"""Forecasting end to end on tiny series (train, predict, report, search with 2 workers, recipe
with 2 seeds), the template, MASE and its baselines, and each bad input as one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tiny_run
import torch
from test_bad_inputs import one_line_error
from test_streams import sine, stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config, template_for
from rnnlab.data import load_data
from rnnlab.data.stream import baseline_forecasts, read_series
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_mase_and_the_baselines_are_scored_like_the_model(tmp_path):
    c = parse_config(stream_toml(sine(tmp_path), task="horizon = 2\nseason = 12"))
    d = load_data(c.data, seed=0, task=task_for(c))
    base = baseline_forecasts(d.test, task_for(c))
    # By hand, in the data's units: MASE = MAE / the training part's one-step seasonal-naive MAE.
    x = read_series(c.data).values[0]
    scale = np.abs(x[12:96] - x[:84]).mean(axis=0)  # per channel; the training block is x[:96]
    # Test block x[108:120]: origins 107..117 have both steps ahead inside it.
    errors = [np.abs(x[t + k] - x[t + k - 12]) / scale for t in range(107, 118) for k in (1, 2)]
    assert base["seasonal_naive"]["mase"] == pytest.approx(float(np.mean(errors)), rel=1e-5)
    # A model output of zeros (relative_to = "none": the scaled training mean) scores as tallied.
    tally = task_for(c).tally(d.test.scale)
    tally.add(torch.zeros(d.test.y.shape), torch.from_numpy(d.test.y))
    assert set(tally.result()) >= {"rmse", "mae", "mase"}


def test_train_predict_and_report_end_to_end(tmp_path, capsys):
    path = sine(tmp_path)
    cfg = tmp_path / "f.toml"
    cfg.write_text(stream_toml(path, task='horizon = 2\nseason = 12\nrelative_to = "seasonal_naive"',
                               training="steps = 40\nlr = 0.01"))
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "test MASE" in out and "seasonal naive" in out.splitlines()[-4]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert set(summary["baselines"]) == {"train", "val", "test"}
    assert {"naive", "seasonal_naive"} == set(summary["baselines"]["test"])
    assert "skill" in summary["train_eval"]
    # The forecast after the end: horizon rows, one value per channel, near the series' range.
    assert main(["predict", str(tmp_path / "run")]) == 0
    rows = list(csv.reader((tmp_path / "run" / "forecast.csv").open()))
    assert rows[0] == ["series", "index", "step", "x0", "x1"] and [r[2] for r in rows[1:]] == ["120", "121"]
    assert all(abs(float(v)) < 5 for r in rows[1:] for v in r[3:])
    assert main(["report", str(tmp_path / "run")]) == 0
    assert "test mase of seasonal naive" in (tmp_path / "run" / "report.html").read_text()
    # --out is the user's path: a file of theirs is not replaced unless --force, no directory is made up
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "script.py").write_text("print('mine')\n")
    run = str(tmp_path / "run")
    one_line_error(["predict", run, "--out", str(mine / "script.py")], capsys,
                   ("--out:", "script.py already exists; pass --force"), kept=mine, new_files=False)
    one_line_error(["predict", run, "--out", str(mine)], capsys, ("--out:", "got the directory"), kept=mine,
                   new_files=False)
    one_line_error(["predict", run, "--out", str(mine / "a" / "b.csv")], capsys, ("does not exist",), kept=mine,
                   new_files=False)
    assert main(["predict", run, "--out", str(mine / "script.py"), "--force"]) == 0
    assert (mine / "script.py").read_text().startswith("series,index,step")


def test_the_forecast_is_written_against_the_dates_after_the_series_end(tmp_path, capsys):
    # A user's CSV with a month column: the forecast's rows carry the months after the last one.
    t = np.arange(60)
    months = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in t]
    body = "".join(f"{m},{np.sin(2 * np.pi * i / 12):.4f}\n" for m, i in zip(months, t, strict=True))
    (tmp_path / "m.csv").write_text("month,sales\n" + body)
    (tmp_path / "m.toml").write_text(stream_toml(str(tmp_path / "m.csv"), task="horizon = 3\nseason = 12"))
    assert main(["train", str(tmp_path / "m.toml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "run")]) == 0
    rows = list(csv.reader((tmp_path / "run" / "forecast.csv").open()))
    assert rows[0] == ["series", "index", "step", "month", "sales"]
    assert [r[2:4] for r in rows[1:]] == [["60", "2005-01-01"], ["61", "2005-02-01"], ["62", "2005-03-01"]]
    # Dates without a fixed step (one month left out): no date is guessed, the column is left out.
    (tmp_path / "m.csv").write_text("month,sales\n" + "".join(body.splitlines(keepends=True)[:30] +
                                                                body.splitlines(keepends=True)[31:]))
    assert main(["predict", str(tmp_path / "run")]) == 0
    assert next(csv.reader((tmp_path / "run" / "forecast.csv").open())) == ["series", "index", "step", "sales"]


def test_the_template_forecasts_a_bundled_series_better_than_seasonal_naive(tmp_path, capsys):
    path = tmp_path / "t.toml"
    assert main(["init", str(path), "--task", "forecasting"]) == 0
    text = path.read_text()
    c = parse_config(text)
    assert task_for(c).kind == "forecasting" and c.data.dataset == "Airline" and c.model.frontend is None
    # A user's file by changing data.path only: a CSV with a date column and a value column.
    x = read_series(c.data).values[0][:, 0]
    with (tmp_path / "mine.csv").open("w") as f:
        f.write("month,passengers\n" + "".join(f"m{i},{v}\n" for i, v in enumerate(x)))
    text = text.replace('dataset = "Airline"', f'path = "{tmp_path / "mine.csv"}"')
    # (60 steps: on training seeds 0-2 the test MASE is that of 120 steps, 0.69-0.74 against
    # seasonal naive's 1.43)
    # (no weight or gradient norms recorded: the same training, and a quicker report after it)
    text = text.replace("weights_every = 10", "weights_every = 0", 1).replace("grads_every = 10", "grads_every = 0", 1)
    path.write_text(text.replace("steps = 600", "steps = 60").replace("hidden_size = 64", "hidden_size = 16"))
    capsys.readouterr()
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"]["mase"] < summary["baselines"]["test"]["seasonal_naive"]["mase"], summary


def test_search_with_two_workers_and_recipe_with_two_seeds_on_forward_folds(tmp_path):
    cfg = tmp_path / "f.toml"
    cfg.write_text(stream_toml(sine(tmp_path), training="epochs = 2") +
                   '[search]\nfolds = 2\ntrials = 2\nsampler = "random"\nreports = "none"\n'
                   '[search.space]\n"data.bptt" = { low = 4, high = 8 }\n')
    final, _, _ = tiny_run.search_then_recipe(cfg, tmp_path, trials=2, step="zoneout")
    assert set(final["test"]) >= {"mase", "rmse"}
    assert "forward-chaining" in (tmp_path / "r" / "recipe.md").read_text()


def _case_file(tmp_path, data: str = "", task: str = "", extra: str = "") -> str:
    path = tmp_path / "bad.toml"
    path.write_text(stream_toml(sine(tmp_path), data=data, task=task) + extra)
    return str(path)


BAD = [
    ("shorter-than-a-window", dict(data="bptt = 500"), ("data.bptt", "shorter than one window",
                                                        "expected data.bptt <= 95, got 500")),
    ("too-many-streams", dict(data="streams = 40"), ("data.streams", "expected data.streams <= 11, got 40")),
    ("horizon-past-validation", dict(task="horizon = 13"), ("task.horizon", "validation block", "holds 12 steps",
                                                            "expected horizon <= 12, got 13")),
    ("per-series", dict(data='normalize = "per_series"'), ("'data.normalize'", "read its future", "per_channel")),
    ("front-end", dict(extra="[model.frontend]\nchannels = 4\n"), ("'model.frontend'", "centred")),
    ("unknown-series", dict(data='dataset = "Airlin"'), ("data.dataset", "did you mean 'Airline'")),
]


@pytest.mark.parametrize(("case", "parts", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_stream_input_is_one_line(case, parts, expected, tmp_path, capsys):
    path = _case_file(tmp_path, **parts)
    if case == "unknown-series":  # a bundled series in place of the file
        text = open(path).read()
        open(path, "w").write("\n".join(line for line in text.splitlines() if not line.startswith("path =")))
    one_line_error(["train", path, "--out", str(tmp_path / "run")], capsys, expected)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    """A finished classification run (trained by the API: no report, which no test here reads)."""
    out = tmp_path_factory.mktemp("classifier") / "run"
    tiny_run.run(parse_config(tiny_run.tiny_toml(training="epochs = 1")), out)
    return out


def test_bad_stream_files_and_keys_are_one_line(tmp_path, capsys, classifier_run):
    np.savez(tmp_path / "ragged.npz", series=np.array([np.zeros(5), np.zeros(7)], dtype=object))
    (tmp_path / "r.toml").write_text(stream_toml(str(tmp_path / "ragged.npz")))
    one_line_error(["train", str(tmp_path / "r.toml")], capsys, ("ragged.npz", "X [N, L, C]", "lengths [N]"))
    (tmp_path / "k.toml").write_text('[data]\ndataset = "UnitTest"\nbptt = 8\n')
    one_line_error(["train", str(tmp_path / "k.toml")], capsys, ("'data.bptt'", "long series", "remove the key"))
    (tmp_path / "c.csv").write_text("day,value\n1,2\n2,x\n")
    (tmp_path / "c.toml").write_text(stream_toml(str(tmp_path / "c.csv"), data='columns = ["value"]'))
    one_line_error(["train", str(tmp_path / "c.toml")], capsys, ("c.csv", "line 3", "'value'", "expected a number"))
    # Without data.columns, a gap in a column of numbers is named, not a reason to forecast the
    # other columns alone; a date column is skipped; no column of numbers names the first row.
    (tmp_path / "gap.csv").write_text("date,sales,temp\n2020-01,1,5\n2020-02,,6\n2020-03,3,7\n")
    (tmp_path / "gap.toml").write_text(stream_toml(str(tmp_path / "gap.csv")))
    one_line_error(["train", str(tmp_path / "gap.toml")], capsys, ("gap.csv", "line 3", "'sales'", "got ''", "data.columns"))
    (tmp_path / "t.csv").write_text('date,sales\n2020-01,"1,234.5"\n')
    (tmp_path / "t.toml").write_text(stream_toml(str(tmp_path / "t.csv")))
    one_line_error(["train", str(tmp_path / "t.toml")], capsys, ("column 'sales'", "separators", "'1,234.5'", "data.columns"))
    one_line_error(["predict", str(classifier_run)], capsys, ("classification run has no forecast",),
                   kept=classifier_run)


def test_stream_keys_stay_out_of_other_tasks_config_toml():
    from rnnlab.config import TEMPLATE, dump_config

    text = dump_config(parse_config(TEMPLATE))
    assert "bptt" not in text and "horizon" not in text
    forecasting = dump_config(parse_config(template_for("forecasting")))
    assert parse_config(forecasting) == parse_config(template_for("forecasting"))
    assert "bptt = 24" in forecasting and 'relative_to = "auto"' in forecasting


def test_a_forecaster_that_does_not_beat_seasonal_naive_on_its_training_part_is_underfit(tmp_path):
    from rnnlab.doctor import fit_findings

    c = parse_config(stream_toml(sine(tmp_path), task="season = 12"))
    records = [{"epoch": e, "step": 10 * e, "train_loss": 1.0 - 0.01 * e, "grad_norm": 0.5} for e in range(1, 21)]
    worse = {"loss": 0.8, "rmse": 1.0, "mae": 0.9, "mase": 1.2, "skill": -0.2}
    found = fit_findings(records, worse, c, n_val=1)
    assert [f.check for f in found] == ["underfit"]
    assert "skill over seasonal naive" in found[0].title and "no better than seasonal naive" in found[0].title
    assert "training.steps" in found[0].remedy  # a cause with its remedy
    assert fit_findings(records, {**worse, "mase": 0.5, "skill": 0.4}, c, n_val=1) == []


def test_every_template_edit_finds_its_text_in_the_template(monkeypatch):
    """The other tasks' templates are the classification template edited line by line: an edit
    whose line changed would silently do nothing (a front-end pooling comment once did, and a
    regression edit of the data set never matched per step). template_for refuses it instead."""
    from rnnlab import config
    from rnnlab.task import TASKS

    for task in TASKS:
        assert parse_config(template_for(task))  # every edit of every task matched
    assert [b.dilation for b in parse_config(template_for("classification")).model.frontend.conv_blocks] == [1, 2, 4]
    for task in ("regression", "per-step-classification", "per-step-regression"):  # as their benchmarks measured
        assert [b.dilation for b in parse_config(template_for(task)).model.frontend.conv_blocks] == [1, 1, 1]
    # A line the forecasting template edits ("steps = 2000" and its comment) changed under it:
    monkeypatch.setattr(config, "TEMPLATE", config.TEMPLATE.replace("steps = 2000\n", "steps = 1999\n"))
    with pytest.raises(RuntimeError, match="an edit no longer matches TEMPLATE"):
        template_for("forecasting")
