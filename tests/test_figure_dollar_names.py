"""A name holding two dollar signs (a class "$5-$10", a parameter "cost$usd$") was drawn as a
formula: matplotlib reads the text between two ``$`` as mathtext, so the letters came out in
italics and the dollar signs were gone. Every figure text is a name or words, never a formula."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

from rnnlab.plots import style
from rnnlab.plots.confusion import plot_confusion_matrix

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

NAMES = ["$5-$10", "$10-$20", "over $20", "free"]


def _drawn(t) -> tuple[str, bool]:
    """What matplotlib draws for the Text ``t``: its characters and whether as a formula."""
    return t._preprocess_math(t.get_text())


def test_names_with_two_dollars_are_drawn_as_written_not_as_formulas():
    confusion = np.arange(16).reshape(4, 4)
    fig = plot_confusion_matrix(confusion, NAMES, split="test")
    ax = fig.axes[0]
    ax.set_title("prices $ of $ a run")
    ax.legend(handles=ax.plot([0], [0])[:1], labels=["cost$usd$"])
    style.layout(fig)
    style.layout(fig)  # (a figure laid out again, as a saved one is: escaped once, not twice)
    style.png(fig)
    columns = [_drawn(t) for t in ax.get_xticklabels()]
    assert [c for c, _ in columns] == NAMES and not any(math for _, math in columns)
    rows = [_drawn(t) for t in ax.get_yticklabels()]
    assert all(r.startswith(n) for (r, _), n in zip(rows, NAMES)) and not any(math for _, math in rows)
    assert _drawn(ax.title) == ("prices $ of $ a run", False)
    assert [_drawn(t) for t in ax.get_legend().get_texts()] == [("cost$usd$", False)]


def test_a_name_is_measured_as_it_is_drawn():
    # (the escape's backslash is not drawn, so it takes no room in a fitted title or a tick band)
    prop = FontProperties(size=9.0)
    plain = text_to_path.get_text_width_height_descent("$5-$10", prop, ismath=False)[0]
    assert style.text_extent(style.literal_dollars("$5-$10"), 9.0)[0] == pytest.approx(plain)
    assert style.text_extent("$5-$10", 9.0)[0] != pytest.approx(plain)  # (as a formula: another width)
    assert style.drawn_width(style.literal_dollars("$5-$10"), 9.0) >= plain
    assert style.drawn_width(style.literal_dollars("$5-$10"), 9.0) < style.drawn_width("\\\\$5-\\\\$10", 9.0)
