"""A first-time user's round (a fresh clone, README and --help followed as written): the help's
example names the run directory the template's run really makes; best.toml says it is the trials'
config, not the final run's; the vanishing-gradient remedy does not offer pooling where the targets
are per step; compare fills every run's val_loss@kept where a table shows the loss's columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_compare_round3 import cli
from tiny_run import run, tiny_toml

from rnnlab.cli import build_parser
from rnnlab.config import TEMPLATE, parse_config
from rnnlab.doctor.checks import spelled
from rnnlab.rundir import RunDir, append_jsonl
from rnnlab.train.trainer import with_derived_names

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_helps_example_reports_the_directory_the_templates_run_makes() -> None:
    epilog = build_parser().epilog
    report = re.search(r"rnnlab report (\S+)", epilog).group(1)
    assert report == with_derived_names(parse_config(TEMPLATE)).output.dir, epilog


def test_the_shorten_remedy_keeps_pooling_to_targets_that_are_not_per_step() -> None:
    assert "where the targets are not per step" in spelled("{shorten}", config=True)


def test_compare_fills_val_loss_at_kept_beside_a_run_whose_headline_is_the_loss(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    run(parse_config(tiny_toml(training="epochs = 2")), mine)
    own = RunDir.for_writing(tmp_path / "own", new=True)  # (an own loop's records: the loss alone, no config)
    for e in (1, 2):
        append_jsonl(own.metrics, {"epoch": e, "step": 2 * e, "train_loss": 1.0 / e, "val_loss": 1.1 / e})
    own.release()
    code, out, err = cli(["compare", mine, tmp_path / "own", "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    head = next(line.split() for line in lines if line.split()[:1] == ["run"])
    row = next(line.split() for line in lines if line.startswith(str(mine)))
    kept = dict(zip(head, row, strict=False))["val_loss@kept"]
    assert kept != "-" and float(kept) == pytest.approx(RunDir(mine).read_metrics()[-1]["val_loss"], abs=1e-3), out


def test_best_toml_says_it_is_the_trials_config_beside_the_final_runs(tmp_path: Path, capsys) -> None:
    from tiny_search import tiny_search_toml

    from rnnlab.cli import main

    config = tmp_path / "c.toml"
    # (nothing tracked: the final run's report, drawn whatever search.reports says, is read by none)
    text = tiny_search_toml(2).replace("[tracking]\nhealth = false\ngrad_through_time = false",
                                       "[tracking]\nenabled = false")
    assert "enabled = false" in text
    config.write_text(text)
    out = tmp_path / "s"
    assert main(["search", str(config), "--trials", "1", "--out", str(out), "--quiet"]) == 0
    header = [line for line in (out / "best.toml").read_text().splitlines() if line.startswith("#")]
    assert any("as the trials trained it: a validation part held out" in line for line in header), header
    assert any(f"{out / 'final'}, trained on the whole split" in line for line in header), header
