"""The study report DIR/study.html: the result with the test accuracy apart from the search
score, the best trials linking to their run reports, the figures, escaping, a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from test_report import _chromium

from rnnlab.htmlkit import num as _num
from rnnlab.rundir import read_json
from rnnlab.search.report import SECTIONS, importances, render_study_report
from rnnlab.search.study import SearchOptions, run_search

EVIL = "<script>alert(1)</script>"
CONFIG = """
name = "rep"
[data]
dataset = "ItalyPowerDemand"
[model]
hidden_size = 6
[training]
epochs = 4
batch_size = 16
threads = 1
[tracking]
weights_every = 2
grads_every = 0
params = ["rnn.weight_hh_l0"]
health = false
grad_through_time = false
[search]
trials = 5
folds = 2
startup_trials = 2
metric = "val_loss"
sampler = "random"
[search.space]
"training.lr" = { choices = [1e-5, 0.03] }
"model.recurrent_dropout" = { low = 0.0, high = 0.3 }
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    (d / "c.toml").write_text(CONFIG)
    outcome = run_search(SearchOptions(str(d / "c.toml"), out=str(d / "s"), study=EVIL), log=None)
    return d / "s", outcome.study


def test_study_report_content(study_dir):
    out, study = study_dir
    html = (out / "study.html").read_text()
    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{title}</h2>' in html
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the study name escaped
    final = read_json(out / "final.json")
    result = html.split('<section id="result">')[1].split("</section>")[0]
    assert f"Best trial <b>{study.best_trial.number}</b>" in result
    assert f"Test accuracy <b>{_num(final['test']['acc'])}</b>" in result
    assert "never used by the search" in result
    table = html.split('<section id="best-trials">')[1].split("</section>")[0]
    rows = re.findall(r"<tr(?: class=\"best\")?><td class='num'>(\d+)</td>", table)
    complete = sorted((t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: t.value)
    assert [int(r) for r in rows[: len(complete)]] == [t.number for t in complete]  # best (lowest loss) first
    reports = re.findall(r'<a href="([^"]+)">run report</a>', table)
    # search.reports "best" (the default): only the best trial's report is drawn; every other
    # trial links its run directory and the command that draws its report.
    records = re.findall(r'<a href="([^"]+)">records \(draw: rnnlab report ([^<]+)\)</a>', table)
    assert len(rows) == len(study.trials) and len(reports) == 1
    assert all((out / link).resolve() == Path(run).resolve() for link, run in records)
    records = [link for link, _ in records]
    assert len(reports) + len(records) == len(rows)
    assert all((out / link).is_file() for link in reports) and all((out / link).is_dir() for link in records)
    assert reports[0] == f"trials/{complete[0].number:04d}/fold-1/report.html"
    if any(t.state == optuna.trial.TrialState.PRUNED for t in study.trials):
        assert "state-pruned" in table
    assert html.count("<img") == 4  # history, importances, slices, weight norms
    # importances over few trials come with a warning that they are mostly noise
    n = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    section = html.split('<section id="importances">')[1].split("</section>")[0]
    assert (f"from {n} complete trials over 2 parameters" in section) == (n < 10)  # (fewer than 10: noise)
    assert "optuna-dashboard " + str((out / "journal.log").resolve()) in html


def test_a_trial_report_is_drawn_on_demand(study_dir, tmp_path, capsys):
    import shutil

    from rnnlab.cli import main

    out, study = study_dir
    undrawn = [t for t in study.trials if t.state != optuna.trial.TrialState.FAIL
               and not (out / "trials" / f"{t.number:04d}" / "fold-1" / "report.html").exists()]
    assert undrawn  # search.reports "best": the other trials' reports wait to be asked for
    run = tmp_path / "fold-1"
    shutil.copytree(out / "trials" / f"{undrawn[0].number:04d}" / "fold-1", run)
    assert main(["report", str(run)]) == 0
    assert f"report: {run / 'report.html'}" in capsys.readouterr().out
    assert "<img" in (run / "report.html").read_text()


def test_importances_name_the_searched_parameters(study_dir):
    _, study = study_dir
    values = importances(study)
    assert set(values) == {"training.lr", "model.recurrent_dropout"}
    assert sum(values.values()) == pytest.approx(1.0)


def test_study_report_without_finished_trials(tmp_path):
    study = optuna.create_study(study_name=EVIL)
    html = render_study_report(tmp_path, study)
    assert "no trial finished yet" in html and EVIL not in html
    assert "importances need at least 2 complete trials" in html


def test_importances_from_few_trials_say_they_are_mostly_noise(tmp_path):
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    study = optuna.create_study(direction="minimize")
    dists = {"training.lr": FloatDistribution(1e-4, 1e-1, log=True), "model.recurrent_dropout": FloatDistribution(0, 0.5)}
    for lr, rd, v in ((1e-3, 0.1, 0.5), (1e-2, 0.3, 0.4), (3e-2, 0.2, 0.45)):
        study.add_trial(create_trial(params={"training.lr": lr, "model.recurrent_dropout": rd}, distributions=dists,
                                     value=v))
    section = render_study_report(tmp_path, study).split('<section id="importances">')[1].split("</section>")[0]
    assert "<img" in section and "from 3 complete trials over 2 parameters" in section and "mostly noise" in section


def test_study_report_in_headless_chromium(study_dir, tmp_path):
    out, _ = study_dir
    url = (out / "study.html").resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-broken-images="0"' in dom.stdout
    assert dom.stdout.count("<img") == 4
    shot = tmp_path / "study.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1200,3000", url], tmp_path)
    assert res.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    Path("/tmp/rnnlab_figs").mkdir(exist_ok=True)
    shot.replace(Path("/tmp/rnnlab_figs") / "study_screenshot.png")
