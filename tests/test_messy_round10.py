"""A lab engineer's messy files (round 10): class names that look alike but are written
differently (a Unicode form, a zero-width or full-width character) are refused as names that
differ only in case are; a data folder whose name holds a ``$`` trains, and the run it wrote can
be read again (report, predict); a value given in another case (``"AdamW"``) or a key written
under another table (``[data] steps``) gets the suggestion that was meant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error
from test_paths_round_201 import CONFIG, _npz

from rnnlab.cli import main
from rnnlab.config import ConfigError, parse_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _labelled(path: Path, names: list[str]) -> Path:
    x = np.asarray(np.load(_npz(path))["X"])
    y = np.array([names[i % len(names)] for i in range(len(x))])
    np.savez(path, X=x, y=y)
    return path


@pytest.mark.parametrize("names, shown", [
    (["Caf\u00e9", "Cafe\u0301"], ["'Caf\\xe9'", "'Cafe\\u0301'"]),        # NFC and NFD (a Mac export)
    (["Walk", "Walk\u200b", "Run"], ["'Walk'", "'Walk\\u200b'"]),          # a zero-width space
    (["Walk", "\uff37\uff41\uff4c\uff4b", "Run"], ["'Walk'", "'\\uff37\\uff41\\uff4c\\uff4b'"]),  # full-width
])
def test_labels_that_look_alike_are_refused_in_one_line_naming_them(tmp_path, capsys, names, shown):
    data = _labelled(tmp_path / "d.npz", names)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data=f'path = "{data}"', output=""))
    line = one_line_error(["train", str(cfg)], capsys, ["data.path", "look alike", *shown], kept=tmp_path)
    assert "would be a class of its own" in line


def test_labels_that_differ_only_in_case_keep_their_words(tmp_path, capsys):
    data = _labelled(tmp_path / "d.npz", ["walk", "Walk", "run"])
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data=f'path = "{data}"', output=""))
    one_line_error(["train", str(cfg)], capsys, ["labels that differ only in case: 'walk', 'Walk'"], kept=tmp_path)


def test_a_run_whose_data_folder_holds_a_dollar_can_be_read_again(tmp_path, capsys):
    folder = tmp_path / "data dir $x;&'"
    data = _npz(folder / "d.npz")
    cfg = folder / "c.toml"
    cfg.write_text(CONFIG.format(data='path = "d.npz"', output=""))
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    assert str(data) in (run / "config.toml").read_text()  # recorded absolute, with its "$x"
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    assert "could not show" not in (run / "report.html").read_text()
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 25  # a header and 24 series


def test_a_shell_variable_in_a_path_that_does_not_exist_is_still_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data='path = "$HOME/d.npz"', output=""))
    _npz(tmp_path / "d.npz")  # (the file the variable would name: $HOME itself is no folder here)
    one_line_error(["train", str(cfg)], capsys, ["'data.path'", "shell variables", "$HOME"], kept=tmp_path)


@pytest.mark.parametrize("table, meant", [
    ('[training]\noptimizer = "AdamW"', "did you mean 'adamw'?"),
    ('[training]\noptimizer = "NAdamW"', "did you mean 'nadamw'?"),
    ('[model]\nlayer = "LSTM"', "did you mean 'lstm'?"),
    ("[data]\nsteps = 4", "'steps' is a key of [training], not [data]: training.steps"),
    ("[training]\nhidden_size = 4", "'hidden_size' is a key of [model], not [training]: model.hidden_size"),
    ("[training]\nstep = 4", "did you mean 'training.steps'?"),
])
def test_a_value_in_another_case_or_a_key_under_another_table_gets_what_was_meant(table, meant):
    text = '[data]\ndataset = "GunPoint"\n' + (table.replace("[data]\n", "") if table.startswith("[data]") else table)
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert meant in str(err.value), str(err.value)


def test_a_test_file_that_is_a_copy_of_the_training_file_is_refused(tmp_path, capsys):
    data = _npz(tmp_path / "train.npz")
    (tmp_path / "test copy.npz").write_bytes(data.read_bytes())
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data=f'path = "{data}"\ntest_path = "{tmp_path / "test copy.npz"}"', output=""))
    one_line_error(["train", str(cfg)], capsys, ["data.test_path", "test copy.npz", "same bytes", "train.npz"],
                   kept=tmp_path)
    _npz(tmp_path / "other.npz", seed=1)  # another draw of the same shape: read as a test file
    cfg.write_text(CONFIG.format(data=f'path = "{data}"\ntest_path = "{tmp_path / "other.npz"}"', output=""))
    assert main(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0


def test_predictions_csv_never_holds_a_formula_a_spreadsheet_would_run(tmp_path, capsys):
    import csv

    data = _labelled(tmp_path / "d.npz", ["=HYPERLINK(\"http://x\",\"a\")", "-1 walk", "@run"])
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data=f'path = "{data}"', output=""))
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    assert main(["predict", str(run), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())], cells
    labels = {r[rows[0].index("label")] for r in rows[1:]}
    assert labels <= {"'=HYPERLINK(\"http://x\",\"a\")", "'-1 walk", "'@run"} and labels, labels


@pytest.mark.parametrize("password", ["S3cret/PW", "S3cret?PW", "S3cr#etPW"])
def test_a_password_with_a_slash_or_question_mark_is_never_printed(tmp_path, capsys, password):
    url = f"postgresql://me:{password}@127.0.0.1:5999/db"
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data='dataset = "GunPoint"', output=""))
    line = one_line_error(["search", str(cfg), "--storage", url, "--out", str(tmp_path / "s")], capsys,
                          ["--storage", "%2F, %3F and %23"])
    assert "S3cr" not in line and "PW" not in line.replace("postgresql", "") and "etPW" not in line, line


def test_the_reports_heading_names_the_run_as_its_config_does(tmp_path):
    from rnnlab.report import render_report

    data = _npz(tmp_path / "d.npz")
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(data=f'path = "{data}"', output="").replace('name = "p"', 'name = "walk <vs> run"'))
    assert main(["train", str(cfg), "--out", str(tmp_path / "run2"), "--quiet"]) == 0
    assert "<h1>Run walk &lt;vs&gt; run (run2)</h1>" in render_report(tmp_path / "run2")


def test_a_tracker_held_by_a_kept_traceback_says_how_to_let_it_go(tmp_path):
    import gc
    import sys

    import torch

    from rnnlab import Tracker
    from rnnlab.lock import DirectoryBusy

    model = torch.nn.Linear(2, 1)

    def cell() -> None:  # (a notebook cell whose loop raised, its traceback kept as IPython keeps it)
        tracker = Tracker(tmp_path / "run", model)
        tracker.step()
        raise RuntimeError("the loop failed")

    try:
        cell()
    except RuntimeError:
        sys.last_type, sys.last_value, sys.last_traceback = sys.exc_info()
    try:
        with pytest.raises(DirectoryBusy) as err:
            Tracker(tmp_path / "run", model)
        assert "sys.last_traceback = sys.last_value = None; gc.collect()" in str(err.value)
        assert "\n" not in str(err.value)
        sys.last_traceback = sys.last_value = None
        gc.collect()
        Tracker(tmp_path / "run", model).close()  # (what the message says works)
    finally:
        sys.last_type = sys.last_value = sys.last_traceback = None
