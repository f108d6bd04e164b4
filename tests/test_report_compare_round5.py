"""`rnnlab report` and `rnnlab compare`, round 5, on real tiny runs of the bundled UnitTest set:
the report's fit verdict of a run trained with health checks off (the fit checks are no health
checks), and a config.toml edited after the run trained, which both commands say in one line
naming the keys while they show the config the run trained with (its checkpoint's)."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from test_compare_round3 import cli
from tiny_run import run, tiny_toml

from rnnlab.config import parse_config
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

HEALTH_OFF = "[tracking]\nhealth = false"
#: HEALTH_OFF, and no weight or gradient norms recorded: the sections these tests read (fit,
#: configuration) come from the metrics, summary.json and the checkpoint; the norms' figures
#: were most of the time spent drawing each report.
NO_NORMS = f"{HEALTH_OFF}\nweights_every = 0\ngrads_every = 0"
#: A config that fits UnitTest (as tests/test_fit.py's healthy run), health checks off.
FITS = (f'[data]\ndataset = "UnitTest"\nval_fraction = 0.25\n[model]\nhidden_size = 16\n[model.head]\n'
        f'pooling = "mean"\n[training]\nsteps = 400\nbatch_size = 8\nlr = 0.01\n{NO_NORMS}\n')


def section(page: str, sid: str) -> str:
    """The text of the report's section ``sid``, tags removed."""
    part = page.split(f'<section id="{sid}">')[1].split("</section>")[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", part))


def report_of(path, capsys) -> str:
    code, _, err = cli(["report", path], capsys)
    assert code == 0, err
    return (path / "report.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ 1. the fit verdict without health checks


def test_the_report_gives_the_clis_fit_verdict_when_health_checks_are_off(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(FITS + f'[output]\ndir = "{tmp_path / "run"}"\n')
    code, out, err = cli(["train", config, "--quiet"], capsys)
    assert code == 0, err
    said = out.strip().splitlines()[-1]
    assert said == "after training: no findings (the model fit its training data in 400 steps; no sign of overfitting)"
    assert not (tmp_path / "run" / "health.json").exists()
    fit = section(report_of(tmp_path / "run", capsys), "fit")
    assert "No findings: the model fit its training data in 400 steps; no sign of overfitting." in fit
    assert "health.json is missing" not in fit and "not recorded" not in fit


def test_a_finding_after_training_is_shown_with_health_checks_off(tmp_path, capsys):
    # 12 steps: the underfit check finds something, which rnnlab train prints; summary.json records
    # it (fit_findings) whatever tracking.health says, and the report shows it from there
    result = run(parse_config(tiny_toml(training="epochs = 3", after=NO_NORMS)), tmp_path / "run")
    assert [f.check for f in result.findings] == ["underfit"]
    rd = RunDir(tmp_path / "run")
    assert not rd.health.exists()
    assert [d["check"] for d in json.loads(rd.summary.read_text())["fit_findings"]] == ["underfit"]
    fit = section(report_of(tmp_path / "run", capsys), "fit")
    assert "The model did not fit its training data" in fit and "Remedy:" in fit
    assert "not recorded" not in fit and "health.json is missing" not in fit and "No findings" not in fit


def test_a_run_recorded_before_summary_kept_its_findings_is_not_called_passed(tmp_path, capsys):
    # (an older run: summary.json without fit_findings, health checks off: only the checks that found
    # nothing are known)
    run(parse_config(tiny_toml(training="epochs = 3", after=NO_NORMS)), tmp_path / "run")
    rd = RunDir(tmp_path / "run")
    summary = json.loads(rd.summary.read_text())
    del summary["fit_findings"]
    rd.summary.write_text(json.dumps(summary))
    fit = section(report_of(tmp_path / "run", capsys), "fit")
    assert "The checks after training that found nothing: no sign of overfitting." in fit
    assert "underfit: not recorded" in fit and "rnnlab train printed" in fit
    assert "No findings" not in fit and "health.json is missing" not in fit


# ------------------------------------------------------------------ 2. an edited config.toml


def edit(path, **changes) -> None:
    """Replace ``key = old`` lines of config.toml, as ``sed`` would."""
    text = path.read_text()
    for key, value in changes.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert n == 1, key
    path.write_text(text)


EDITS = {"layer": '"gru"', "hidden_size": "256", "lr": "0.5", "epochs": "5", "dataset": '"GunPoint"'}
EDITED_KEYS = ("data.dataset ('UnitTest' -> 'GunPoint'), model.hidden_size (6 -> 256), model.layer ('lstm' -> "
               "'gru'), training.epochs (4 -> 5), training.lr (0.01 -> 0.5)")


@pytest.fixture
def runs(tmp_path):
    """A tiny run, and a copy of it (``cp -a``) whose config.toml was edited after it trained."""
    run(parse_config(tiny_toml(training="epochs = 4", after=NO_NORMS)), tmp_path / "tiny")
    shutil.copytree(tmp_path / "tiny", tmp_path / "ed1", symlinks=True)
    edit(tmp_path / "ed1" / "config.toml", **EDITS)
    return tmp_path / "tiny", tmp_path / "ed1"


def test_compare_says_an_edited_config_in_one_line_and_shows_what_the_run_trained_with(runs, tmp_path, capsys):
    tiny, ed1 = runs
    code, out, err = cli(["compare", ed1, tiny, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {ed1}: config.toml was changed after the run trained: it differs from the config "
                        f"in its checkpoint (checkpoints/last.pt) in {EDITED_KEYS}; the checkpoint's is used, the "
                        "config the run trained with"]
    # the two runs trained alike, on one data set: no config column, no warning of other data
    head = out.splitlines()[1]
    assert head.split()[:3] == ["run", "epochs", "train_loss"] and "different data" not in out
    assert "same config, data and seed (0)" in out
    # a run without a checkpoint (stopped before its first) has nothing to compare with: nothing said
    shutil.rmtree(ed1 / "checkpoints")
    code, out, err = cli(["compare", ed1, tiny, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    assert "config.toml was changed" not in out and "different data" in out


def test_the_report_shows_the_config_the_run_trained_with_and_names_the_edited_keys(runs, capsys):
    _, ed1 = runs
    shown = section(report_of(ed1, capsys), "configuration")
    assert shown.count("config.toml was changed after the run trained") == 1 and EDITED_KEYS in shown
    assert "lr = 0.01" in shown and "lr = 0.5" not in shown
    assert 'layer = "lstm"' in shown and "hidden_size = 6" in shown


def test_a_resumes_own_change_before_its_first_checkpoint_is_no_edit(tmp_path, capsys):
    # resumed with training.epochs 3 -> 4, killed after epoch 4's record and before its checkpoint:
    # config.toml (rewritten by the resume) and last.pt (of epoch 3) differ, by the resume's own change
    cfg = tiny_toml(training="epochs = 3", after=NO_NORMS)
    run(parse_config(cfg), tmp_path / "run")
    rd = RunDir(tmp_path / "run")
    before = rd.last_checkpoint.read_bytes()
    run(parse_config(cfg.replace("epochs = 3", "epochs = 4")), rd.path, resume=True,
        allow_change=["training.epochs"])
    rd.last_checkpoint.write_bytes(before)
    assert "epochs = 4" in rd.config.read_text()
    trained = rd.read_trained_config()
    assert trained.edits == "" and trained.config.training.epochs == 4
    # an edit beside it is one
    edit(rd.config, lr="0.5")
    assert rd.read_trained_config().edits == "training.lr (0.01 -> 0.5)"
    shown = section(report_of(rd.path, capsys), "configuration")
    assert "in training.lr (0.01 -> 0.5);" in shown and "lr = 0.01" in shown


def test_a_data_file_moved_and_its_path_edited_is_a_relocation_not_an_edit(tmp_path):
    # (a user who moved their data set says where it is now in config.toml: the run's other readers
    # find it there, and nothing calls that an edit of how the run trained)
    import numpy as np

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(24, 6, 1)).astype(np.float32), np.arange(24) % 2
    np.savez(tmp_path / "d.npz", X=X, y=y)
    text = tiny_toml(training="epochs = 2").replace('dataset = "UnitTest"', f'path = "{tmp_path / "d.npz"}"')
    run(parse_config(text), tmp_path / "run")
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "d.npz", tmp_path / "moved" / "d.npz")
    config = tmp_path / "run" / "config.toml"
    config.write_text(config.read_text().replace(str(tmp_path / "d.npz"), str(tmp_path / "moved" / "d.npz")))
    trained = RunDir(tmp_path / "run").read_trained_config()
    assert trained.edits == "" and trained.config.data.path == str(tmp_path / "moved" / "d.npz")
    edit(config, hidden_size=7)  # (an edit beside it: named, while the new path is still used)
    trained = RunDir(tmp_path / "run").read_trained_config()
    assert trained.edits.startswith("model.hidden_size") and "data.path" not in trained.edits
    assert trained.config.model.hidden_size != 7 and trained.config.data.path == str(tmp_path / "moved" / "d.npz")
