"""What the report's figures cost and that their fixed layout still reads (issue 28): each figure
drawn once, no layout engine measuring every text at every draw, no text over another panel or
off the figure, a column's x axis labelled under its lowest panel with data. Speed itself is the
benchmark's business (benchmarks/bench_overhead.py), not a timed test's."""

from itertools import combinations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from test_report import _run_dir

from rnnlab import plots
from rnnlab.plots import style
from rnnlab.report import write_report
from rnnlab.tracker import TrackedSeries


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _run_dir(tmp_path_factory.mktemp("cost"))


def test_every_report_figure_is_drawn_once(run, monkeypatch):
    draws: dict[int, int] = {}
    figures: list[Figure] = []
    draw = Figure.draw

    def counted(fig, renderer):
        draws[id(fig)] = draws.get(id(fig), 0) + 1
        if fig not in figures:
            figures.append(fig)
        return draw(fig, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    write_report(run.path)
    assert len(figures) >= 4  # metric curves, norm lines, norm histograms, gradient through time
    assert [draws[id(f)] for f in figures] == [1] * len(figures)
    assert all(f.get_layout_engine() is None for f in figures)


def _drawn_tick_labels(axis, coord: int) -> list:
    """The tick labels a draw shows: an axis keeps labels of ticks outside its view, not drawn."""
    lo, hi = sorted(axis.get_view_interval())
    tol = (hi - lo) * 1e-9
    labels = [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
    return [t for t in labels if lo - tol <= t.get_position()[coord] <= hi + tol]


def _texts(fig: Figure, renderer) -> list[tuple[object, object, str, Bbox]]:
    """(axes, owner, text, window extent) of every drawn, non-empty text of ``fig``; the owner is the
    axis for tick labels (neighbouring tick labels may touch), else the text itself."""
    out = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        ticks = [(axis, t) for axis, coord in ((ax.xaxis, 0), (ax.yaxis, 1)) for t in _drawn_tick_labels(axis, coord)]
        others = [(t, t) for t in (ax.xaxis.label, ax.yaxis.label, ax.title, ax.xaxis.get_offset_text(),
                                   ax.yaxis.get_offset_text())]
        for owner, t in ticks + others:
            if t.get_visible() and t.get_text() and t.get_window_extent(renderer).width > 0:
                out.append((ax, owner, t.get_text(), t.get_window_extent(renderer)))
    return out


def _problems(fig: Figure) -> list[str]:
    """Texts off the figure, over another panel, or over another panel's texts."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox.padded(1.0)
    texts = _texts(fig, renderer)
    problems = [f"{s!r} off the figure" for _, _, s, b in texts
                if not (page.x0 <= b.x0 and b.x1 <= page.x1 and page.y0 <= b.y0 and b.y1 <= page.y1)]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    for owner, _, s, b in texts:
        for ax in panels:
            if ax is not owner and b.overlaps(ax.get_window_extent(renderer).shrunk(0.98, 0.98)):
                problems.append(f"{s!r} over the panel {ax.get_title()!r}")
    for (_, a, s, b), (_, c, t, d) in combinations(texts, 2):
        if a is not c and b.overlaps(d):
            problems.append(f"{s!r} over {t!r}")
    return problems


def _wide_labels() -> Figure:
    """Long tick labels (0.000100), two-line axis labels, a log axis, a colour bar."""
    fig, axes = style.new_figure(2, 3, panel_size=(2.6, 2.0))
    rng = np.random.default_rng(0)
    for i, ax in enumerate(axes.flat):
        ax.plot(np.arange(7), 1e-4 + 2e-4 * rng.random(7))
        ax.set_title(f"panel {i} with a long title")
        ax.set_xlabel("step")
        ax.set_ylabel("value\nper channel")
    axes[1, 2].set_yscale("log")
    style.colorbar(fig, axes[0, 1].imshow(rng.random((3, 3)) * 1e-5), "colour\nscale")
    fig.suptitle("a figure with many texts", fontsize=style.TITLE_SIZE)
    style.save(fig, None)
    return fig


def test_the_fixed_layout_puts_no_text_over_another(run):
    records = run.read_metrics()
    figures = {
        "metrics": plots.plot_metrics(records),
        "norm lines": plots.plot_norm_lines(run),
        "norm histograms": plots.plot_norm_histograms(run),
        "wide labels": _wide_labels(),
    }
    assert {name: _problems(fig) for name, fig in figures.items()} == {name: [] for name in figures}


def test_a_column_is_labelled_under_its_lowest_panel_with_data():
    # "b" has two records of four rows: its last rows say "no record", its x axis is labelled above them
    ep = np.full(4, np.nan)
    tracked = {
        "a": {"l2_per_channel": TrackedSeries(np.arange(4), np.random.default_rng(0).random((4, 16)), ep)},
        "b": {"l2_per_channel": TrackedSeries(np.arange(2), np.random.default_rng(1).random((2, 16)), ep[:2])},
    }
    fig = plots.plot_norm_histograms(tracked, rows=4)
    fig.canvas.draw()
    grid = np.array(fig.axes).reshape(4, 2)
    labelled = [[bool(ax.get_xlabel()) and any(t.get_visible() and t.get_text() for t in ax.get_xticklabels())
                 for ax in row] for row in grid]
    assert labelled == [[False, False], [False, True], [False, False], [True, False]]
    assert _problems(fig) == []


def test_log_axes_are_labelled_in_plain_text(run):
    """Powers of ten as text (10⁻³), not mathtext: the same labels without building the parser."""
    from rnnlab.report import read_grad_through_time

    gtt, _ = read_grad_through_time(run)
    figures = [plots.plot_metrics(run.read_metrics()), plots.plot_grad_through_time(next(iter(gtt.values())))]
    for fig in figures:
        fig.canvas.draw()
    logs = [axis for fig in figures for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) if axis.get_scale() == "log"]
    labels = [t.get_text() for axis in logs for t in _drawn_tick_labels(axis, 0 if axis is axis.axes.xaxis else 1)]
    assert len(logs) >= 2 and any("10" in s for s in labels)  # the metrics' and the gradient's log axes
    assert not [s for s in labels if "$" in s], labels
    assert all(s == "" or s[0].isdigit() or s[0] == "\N{MINUS SIGN}" for s in labels), labels
