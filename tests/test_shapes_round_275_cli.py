"""What a tester's round of odd data shapes found in the commands themselves: `rnnlab report` on a
study's or a recipe's directory said only that it is no run directory, where `rnnlab compare` says
where their runs are."""

from __future__ import annotations

import pytest
from test_bad_inputs import one_line_error

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.parametrize(("marker", "what"), [(".rnnlab-study", "an rnnlab search study (its runs: "),
                                              (".rnnlab-recipe", "an rnnlab recipe (its runs: ")])
def test_report_of_a_study_or_recipe_directory_says_where_its_runs_are(tmp_path, capsys, marker, what):
    """Before: "is not a run directory (no metrics.jsonl, ...)", where rnnlab compare named the runs."""
    from rnnlab.rundir import RECIPE, STUDY

    assert marker in (STUDY.marker, RECIPE.marker)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / marker).write_text("")
    line = one_line_error(["report", str(tmp_path / "s")], capsys,
                          [f"{tmp_path / 's'} is {what}", "not a run: rnnlab report draws one run's report"])
    assert "no metrics.jsonl" not in line
