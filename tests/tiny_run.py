"""The tiny training run several test modules share: the bundled UnitTest data (20 training
sequences; ``val_fraction`` 0.25 leaves 15, i.e. 4 optimizer steps per epoch at batch 4), a
6-unit LSTM, and :func:`rnnlab.train.train` without progress bars or log lines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rnnlab.train import TrainResult, train

TINY = """
[data]
dataset = "UnitTest"
val_fraction = 0.25
[model]
hidden_size = 6
{model}
[training]
batch_size = 4
lr = 0.01
{training}
{after}
"""


def tiny_toml(model: str = "", training: str = "", after: str = "") -> str:
    """The tiny config's TOML: ``model`` and ``training`` lines join their tables, ``after``
    (more tables) follows."""
    return TINY.format(model=model, training=training, after=after)


def run(cfg: Any, out: str | Path, **kw: Any) -> TrainResult:
    """``train(cfg, out)`` quietly."""
    return train(cfg, out=out, progress=False, log=None, **kw)


def search_then_recipe(config: str | Path, tmp_path: Path, trials: int, step: str) -> tuple[dict, dict, Any]:
    """``rnnlab search`` on ``config`` with 2 workers (its best config tested at the end), then
    ``rnnlab recipe`` with 2 seeds trying ``step``, checking what every task shares: ``trials``
    finished trials from both workers, a finished recipe that scored seeds × folds (2 × 2) and
    tested its final config. Returns (final.json, recipe.json, the recipe's outcome)."""
    import json

    from rnnlab.recipe.run import RecipeOptions, run_recipe_command
    from rnnlab.search.study import SearchOptions, run_search

    outcome = run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), workers=2, final=True), log=None)
    done = [t for t in outcome.study.get_trials() if t.value is not None]
    # Every trial ran in a worker process, not in this one. (Both workers usually take trials, but
    # one may finish all of them while the other still imports torch on a loaded machine.)
    pids = {t.user_attrs["pid"] for t in done}
    assert len(done) == trials and 1 <= len(pids) <= 2 and os.getpid() not in pids
    final = json.loads((tmp_path / "s" / "final.json").read_text())
    rec = run_recipe_command(RecipeOptions(config=str(config), seeds=2, steps=step, out=str(tmp_path / "r")), log=None)
    record = json.loads((tmp_path / "r" / "recipe.json").read_text())
    assert record["finished"] and record["steps"][0]["step"] == step
    assert len(record["steps"][0]["tried"][0]["scores"]) == 2 * 2  # seeds x folds
    assert rec.tests["final"]["test"] is not None
    return final, record, rec
