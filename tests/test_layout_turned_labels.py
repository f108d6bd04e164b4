"""plots.style.layout with turned tick labels (``set_xticks(..., rotation=45, ha="right")``, as
the per-step confusion matrix sets them): their turned extent is measured, so they neither run
into the x label and the next row's title nor leave the figure at the bottom or the left, the
panels keep their size (the figure grows by what the turned labels take), and laying a figure
out again does not grow it again. Drawn with matplotlib's own renderer: nothing mocked."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from rnnlab.plots import style  # noqa: E402

NAMES = ["recurrent_batch_norm", "zoneout", "weight_drop_long_name", "none"]


def _figure(rotation: float):
    fig, axes = style.new_figure(2, 1, panel_size=(3.0, 2.0))
    for r in range(2):
        ax = axes[r, 0]
        ax.bar(range(4), [1, 2, 3, 4])
        ax.set_xticks(range(4), NAMES, rotation=rotation, ha="right" if rotation else "center")
        ax.set_xlabel("regularizer")
        ax.set_title(f"row {r}")
    style.layout(fig)
    fig.canvas.draw()
    return fig, axes, fig.canvas.get_renderer()


def test_turned_tick_labels_stay_in_the_figure_and_off_the_labels_and_titles() -> None:
    fig, axes, rend = _figure(45)
    width, height = fig.bbox.width, fig.bbox.height
    for r in range(2):
        ax = axes[r, 0]
        ticks = [t.get_window_extent(rend) for t in ax.get_xticklabels() if t.get_text()]
        label = ax.xaxis.label.get_window_extent(rend)
        assert min(b.x0 for b in ticks) >= 0 and min(b.y0 for b in ticks) >= 0, "a tick label leaves the figure"
        assert max(b.x1 for b in ticks) <= width
        assert label.y0 >= 0 and label.y1 <= min(b.y0 for b in ticks), "the x label runs into the tick labels"
        if r == 0:
            below = axes[1, 0].title.get_window_extent(rend)
            assert label.y0 >= below.y1, "the x label runs into the next row's title"
        # the panels keep (about) the height they were made with: the margins did not eat them
        assert ax.get_position().height * height / fig.dpi > 1.0
    assert height > 0


def test_a_figure_laid_out_again_does_not_grow_again_and_level_labels_grow_nothing() -> None:
    fig, _, _ = _figure(45)
    size = tuple(fig.get_size_inches())
    assert size[1] > 4.0  # (2 panels of 2 inches, and room for the turned labels)
    style.layout(fig)
    assert tuple(fig.get_size_inches()) == size
    level, _, _ = _figure(0)
    assert tuple(level.get_size_inches()) == (3.0, 4.0)
