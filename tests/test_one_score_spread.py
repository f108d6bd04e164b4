"""A score measured once (a search on one hold-out, a recipe candidate on one seed of one fold)
is shown without a spread: before, the search printed "val_rmse 235.9044 ± 0.0000 (a 20%
hold-out)" and the recipe "± nan", a certainty (or a number) the single score does not have."""

from __future__ import annotations

from pathlib import Path

from tiny_search import tiny_search_toml

from rnnlab.search.study import SearchOptions, open_existing, run_search
from rnnlab.search.table import trials_table
from rnnlab.tables import with_spread


def test_one_score_has_no_spread_and_several_have_theirs():
    assert with_spread(0.25, [0.25]) == "0.2500"
    assert with_spread(0.5, [0.4, 0.6]) == "0.5000 ± 0.1414"  # (the sample standard deviation)


def test_a_search_on_one_hold_out_prints_no_spread(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2, 'sampler = "random"\n[search.space]\n"model.zoneout" = { choices = [0.0, 0.1] }')
                      .replace("folds = 2", "folds = 1"))
    lines: list[str] = []
    run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), trials=2, final=False), log=lines.append)
    said = "\n".join(lines)
    assert "best trial" in said and "(a 20% hold-out)" in said, said
    assert "±" not in said, said
    table = trials_table(open_existing(str(tmp_path / "s")).get_trials(deepcopy=False))
    rows = [ln.split() for ln in table.splitlines()[1:] if ln.strip() and ln.split()[1:2] == ["complete"]]
    assert rows and all(r[3] == "-" for r in rows), table
