"""Two things a user could not see in the figures: class (channel) names holding a character the
figure's font lacks (an emoji) drew as boxes, with matplotlib's "Glyph missing" warnings, so that
"walk 🚶" and "walk 🏃" read alike; and the forecast picture left out the training block, so that
nothing showed what the forecasts continue from."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from test_paths_round_201 import CONFIG, _npz

from rnnlab.cli import main
from rnnlab.config import DataConfig, parse_config
from rnnlab.data.stream import read_series, simple_forecast, split_bounds
from rnnlab.plots import style
from rnnlab.plots.confusion import class_predictions, plot_confusion_matrix
from rnnlab.plots.forecast import (
    ACTUAL_COLOR,
    BLOCK_COLORS,
    TRAINING_COLOR,
    ForecastLines,
    forecast_lines,
    plot_forecast,
)
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

WALK, RUN = "walk \N{PEDESTRIAN}", "walk \N{RUNNER}"
NAMES = [WALK, RUN, "Caf\u00e9", "sit \u00b1"]


def _glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "Glyph" in str(w.message) or "missing from font" in str(w.message)]


# ------------------------------------------------------------------ 1. names the font cannot draw


@pytest.fixture(scope="module")
def emoji_run(tmp_path_factory) -> Path:
    """A tiny classification run (``rnnlab train``) whose classes are :data:`NAMES`."""
    tmp = tmp_path_factory.mktemp("emoji")
    data = _npz(tmp / "d.npz")
    x = np.asarray(np.load(data)["X"])
    np.savez(data, X=x, y=np.array([NAMES[i % len(NAMES)] for i in range(len(x))]))
    (tmp / "c.toml").write_text(CONFIG.format(data=f'path = "{data}"', output=""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", str(tmp / "c.toml"), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_class_names_the_font_lacks_are_drawn_as_distinct_code_points_without_warnings(emoji_run):
    p = class_predictions(emoji_run)
    assert set(p.names) == set(NAMES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot_confusion_matrix(p.confusion(), p.names, split=p.split)
        style.png(fig)  # (drawn, as the report draws it)
    assert _glyph_warnings(caught) == []
    ax = fig.axes[0]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    # the two walks: apart, each by its own code point, in the columns and the rows alike
    assert "walk <U+1F6B6>" in columns and "walk <U+1F3C3>" in columns
    assert any(r.startswith("walk <U+1F6B6> (") for r in rows) and any(r.startswith("walk <U+1F3C3> (") for r in rows)
    assert len(set(columns)) == len(NAMES)
    # names the font draws are left as they are, to the byte
    assert "Caf\u00e9" in columns and "sit \u00b1" in columns


def test_the_report_draws_no_missing_glyph_and_its_html_keeps_the_names(emoji_run, capsys):
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["report", str(emoji_run)]) == 0
    printed = capsys.readouterr()
    assert _glyph_warnings(caught) == [] and "Glyph" not in printed.out + printed.err
    html = (emoji_run / "report.html").read_text(encoding="utf-8")
    assert WALK in html and RUN in html  # (the page's text is no figure: the characters themselves)


def test_names_in_titles_legends_and_axis_labels_go_through_the_same_escape():
    fig, axes = style.new_figure(1, 1)
    ax = axes[0, 0]
    ax.plot([0, 1], [0, 1], label=WALK)
    ax.plot([0, 1], [1, 0], label=RUN)
    style.panel_legend(ax)
    ax.set_title(f"accuracy of {WALK}")
    ax.set_ylabel(RUN)
    ax.text(0.5, 0.5, WALK)
    fig.suptitle(f"run {RUN}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        style.save(fig, None)
        style.png(fig)
    assert _glyph_warnings(caught) == []
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["walk <U+1F6B6>", "walk <U+1F3C3>"]
    assert ax.get_title() == "accuracy of walk <U+1F6B6>" and ax.get_ylabel() == "walk <U+1F3C3>"
    assert ax.texts[0].get_text() == "walk <U+1F6B6>" and fig.get_suptitle() == "run walk <U+1F3C3>"


def test_a_character_is_escaped_only_where_none_of_the_figures_fonts_has_it():
    # U+1D81 (ᶁ): in matplotlib's STIXGeneral, not in DejaVu Sans. Drawn with DejaVu Sans alone,
    # it is a code point; with STIXGeneral among the figure's families, the font draws it as it is.
    name = "hook \u1d81"
    assert style.drawable(name) == "hook <U+1D81>"
    with matplotlib.rc_context({"font.family": ["DejaVu Sans", "STIXGeneral"]}):
        assert style.drawable(name) == name
        fig, axes = style.new_figure(1, 1)
        axes[0, 0].set_title(name)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            style.save(fig, None)
            style.png(fig)
        assert _glyph_warnings(caught) == [] and axes[0, 0].get_title() == name
    # accents, combining marks and symbols the font has: the same string, not a copy with escapes
    for drawn in ("Caf\u00e9", "Cafe\u0301", "\u00b1 0.5 \u2264 \u03a9", "two\nlines"):
        assert style.drawable(drawn) is drawn


# ------------------------------------------------------------------ 2. the forecast's training block


@pytest.fixture(scope="module")
def airline_lines() -> ForecastLines:
    """A tiny forecaster of the bundled Airline series (as tests/test_forecasting.py trains one)."""
    import tempfile

    cfg = parse_config('[task]\nkind = "forecasting"\nhorizon = 3\nseason = 12\n[data]\ndataset = "Airline"\n'
                       'bptt = 24\n[model]\nhidden_size = 4\n[training]\nepochs = 1\n[tracking]\nenabled = false')
    with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(cfg, out=out, progress=False, log=None).run_dir
        return forecast_lines(run)


def _bundled_lines(name: str, horizon: int, season: int) -> ForecastLines:
    """The forecast lines of the bundled series ``name`` split as a run splits it by default, the
    model's forecasts the naive ones (the picture's blocks are what is checked)."""
    cfg = DataConfig(dataset=name)
    x = read_series(cfg).values[0]
    b = split_bounds(len(x), cfg, None)
    origins = np.arange(b.val - 1, len(x) - horizon)

    def reference(kind: str) -> np.ndarray:
        return simple_forecast(x[None], kind, horizon, season)[0].reshape(len(x), horizon, x.shape[1])[origins]

    return ForecastLines(name, 0, 1, ["y"], x, b, horizon, season, "naive", True, "test", origins,
                         reference("naive"), reference("naive"), reference("seasonal_naive"), x[-horizon:], None,
                         scale=np.ones(x.shape[1]))


def _training_drawn(fig, lines: ForecastLines) -> tuple[int, list[float]]:
    """How many steps of the training block the first panel draws (its muted line, without the
    point where it meets the held-out line), and where its boundary lines stand (x)."""
    ax = fig.axes[0]
    drawn = {line.get_label(): line for line in ax.get_lines()}
    line = drawn.get("actual, training block")
    steps = 0 if line is None else len(line.get_xdata()) - 1
    marks = sorted(float(seg[0][0]) for c in ax.collections for seg in c.get_segments())
    return steps, marks


def test_the_airline_forecast_draws_the_end_of_the_training_block_muted_with_its_boundaries(airline_lines):
    lines = airline_lines
    b, L = lines.bounds, len(lines.values)
    fig = plot_forecast(lines)
    ax = fig.axes[0]
    steps, marks = _training_drawn(fig, lines)
    # two seasons of what the model trained on, right before the validation block it forecasts
    assert steps == 2 * lines.season
    training = next(line for line in ax.get_lines() if line.get_label() == "actual, training block")
    assert to_rgb(training.get_color()) == to_rgb(TRAINING_COLOR) != to_rgb(ACTUAL_COLOR)
    np.testing.assert_allclose(np.asarray(training.get_ydata(), float)[:-1], lines.values[b.train - steps:b.train, 0])
    # the boundaries marked where one block ends and the next begins (training | validation |
    # test | after the end), each block named on the panel
    to_x = matplotlib.dates.date2num
    edges = [to_x(lines.dates[i - 1] + (lines.dates[i] - lines.dates[i - 1]) / 2) for i in (b.train, b.val, L)]
    np.testing.assert_allclose(marks, edges)
    assert [t.get_text().strip() for t in ax.texts] == ["training", "validation", "test"]
    # the training part shaded, and the legend says how much of the block is drawn
    shaded = {to_rgb(p.get_facecolor()) for p in ax.patches}
    assert to_rgb(BLOCK_COLORS["training"]) in shaded
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "training block (its last 24 of 92 steps)" in labels and labels[:2] == ["actual", "actual, training block"]
    # and it is seen: the muted colour is on the picture, left of the validation block
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    box = ax.get_window_extent()
    inside = rgb[int(rgb.shape[0] - box.y1) + 2:int(rgb.shape[0] - box.y0) - 2, int(box.x0) + 2:int(box.x1) - 2]
    near = np.abs(inside - np.array(to_rgb(TRAINING_COLOR)) * 255).max(axis=2) < 4
    boundary = int(ax.transData.transform((edges[0], 0))[0] - box.x0 - 2)
    assert near[:, :boundary].sum() > 100 and near[:, boundary + 2:].sum() < 5


def test_a_long_series_draws_its_training_end_and_held_out_blocks_too_long_say_where_training_ends():
    # solar: 289 half-hourly steps, a season of 48: the training block's last two days, then the rest
    lines = _bundled_lines("solar", 6, 48)
    b = lines.bounds
    fig = plot_forecast(lines)
    steps, _ = _training_drawn(fig, lines)
    assert steps == 96 and b.train > 96
    assert f"training block (its last 96 of {b.train} steps)" in [t.get_text() for t in fig.legends[0].get_texts()]
    # 800 held-out steps: too many to draw with the training block; the last seasons are drawn, and
    # the figure says the training block is not, and how far before it ends
    t = np.arange(2000)[:, None]
    x = 100 + 10 * np.sin(2 * np.pi * t / 24)
    long = ForecastLines("hourly.csv", 0, 1, ["load"], x, split_bounds(2000, DataConfig(
        dataset="Airline", test_steps=400, val_steps=400), None), 3, 24, "naive", True, "test",
        np.arange(1599, 1997), np.zeros((398, 3, 1)), np.zeros((398, 3, 1)), np.zeros((398, 3, 1)),
        np.zeros((3, 1)), None)
    fig = plot_forecast(long)
    assert _training_drawn(fig, long)[0] == 0
    assert "the training block (steps 0 to 1199) is not drawn: it ends 705 steps before the first step drawn" \
        in fig.get_suptitle().replace("\n", " ")
