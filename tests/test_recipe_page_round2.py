"""The recipe's page (round 2): no test-split sentence without a test split, one colour scale
for the gradient-through-time comparison, and the step order the recipe walks in, stated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.config import parse_config
from rnnlab.plots import style
from rnnlab.recipe.procedure import run_recipe
from rnnlab.recipe.report import render_html, render_markdown
from rnnlab.recipe.run import RecipeOutcome
from rnnlab.recipe.steps import select_steps
from rnnlab.search.trial import FoldPlan
from rnnlab.task import task_for

TINY = """
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 1
[tracking]
enabled = false
"""


def _outcome(tmp_path: Path, test: dict | None, steps: str = "recurrent_dropout,kernel_decay") -> RecipeOutcome:
    base = parse_config(TINY)
    # the walk itself is real; only the scores are given (no training in a page test)
    result = run_recipe(base, select_steps(steps, base), lambda jobs: [[0.5, 0.6] for _ in jobs],
                        higher_is_better=True)
    tests = {name: {"train": {"loss": 0.4, "acc": 0.8}, "test": test} for name in ("baseline", "final")}
    return RecipeOutcome(tmp_path, result, FoldPlan(k=2, seed=0), [0, 1], "val_acc", tests, task_for(base))


def test_without_a_test_split_the_page_says_so_instead_of_claiming_an_evaluation(tmp_path):
    o = _outcome(tmp_path, None)
    md, page = render_markdown(o), render_html(o)
    assert "test split was evaluated" not in md
    assert "no test split" in md and "data.test_path" in md
    # no column of dashes: the test column is left out and the page says why
    assert "(once)" not in page and "(evaluated once)" not in md
    assert "no test split" in page.lower()


def test_with_a_test_split_the_column_and_the_sentence_stay(tmp_path):
    o = _outcome(tmp_path, {"loss": 0.3, "acc": 0.9})
    md, page = render_markdown(o), render_html(o)
    assert "the test split was evaluated once for each and chose nothing" in md
    assert "| baseline | 0.8000 | 0.9000 |" in md
    assert "(once)</th>" in page and "no test split" not in md


def test_the_gradient_comparison_has_one_colour_scale_and_one_colour_bar():
    # (imported here: the page draws each step's pair with it, and the other tests need not)
    from rnnlab.recipe.report import compare_grad_through_time

    t = np.arange(12.0)[:, None] * np.ones((12, 3))
    fig = compare_grad_through_time({"start": 0.9 ** t, "candidate": 0.01 * 0.5 ** t})
    images = [im for ax in fig.axes for im in ax.images]
    assert len(images) == 2
    assert images[0].get_clim() == images[1].get_clim()
    # the scale spans both: the candidate's smallest value and the start's largest
    lo, hi = images[0].get_clim()
    assert lo <= 0.01 * 0.5 ** 11 and hi >= 1.0
    assert [ax.get_label() for ax in fig.axes].count(style.COLORBAR) == 1


def test_the_markdown_names_the_order_the_steps_ran_in_whatever_order_steps_lists(tmp_path):
    md = render_markdown(_outcome(tmp_path, None, steps="recurrent_dropout,kernel_decay"))
    assert "Steps walked: `kernel_decay`, `recurrent_dropout`." in md
    assert "recipe's own order" in md and "whatever order --steps lists them in" in md
