"""`rnnlab search` and `rnnlab recipe` say once, as `rnnlab train` does, that a regression's
val_rmse over targets of very different scales is the large-scale targets' alone (tester
helper-199: a recipe ranked by val_rmse ≈ 9, made of count's errors, where concentration's
0.0004 had no say); nothing is said for a score that weighs the targets alike."""

from __future__ import annotations

import pytest
from test_regression_targets_round_199 import lab_config

from rnnlab.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _said(capsys) -> list[str]:
    out = capsys.readouterr()
    return [line for line in (out.out + out.err).splitlines() if "val_rmse (the default score) pools" in line]


def test_search_and_recipe_say_the_note_once(tmp_path, capsys):
    cfg = lab_config(tmp_path, steps=4)
    cfg.write_text(cfg.read_text() + "[search]\nfolds = 2\n")
    assert main(["search", str(cfg), "--trials", "1", "--out", str(tmp_path / "s"), "--no-final",
                 "--reports", "none"]) == 0
    said = _said(capsys)
    assert len(said) == 1 and "conc" in said[0] and "val_loss" in said[0], said
    assert main(["recipe", str(cfg), "--steps", "recurrent_dropout", "--seeds", "1", "--out",
                 str(tmp_path / "r"), "--no-final"]) == 0
    said = _said(capsys)
    assert len(said) == 1 and "conc" in said[0], said


def test_no_note_for_a_score_that_weighs_the_targets_alike(tmp_path, capsys):
    cfg = lab_config(tmp_path, steps=4)
    cfg.write_text(cfg.read_text() + '[search]\nfolds = 2\nmetric = "val_r2"\n')
    assert main(["search", str(cfg), "--trials", "1", "--out", str(tmp_path / "s"), "--no-final",
                 "--reports", "none"]) == 0
    assert _said(capsys) == []
