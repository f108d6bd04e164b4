"""`rnnlab compare`, round 2: the config keys that differ as columns, the metric's decay named for
what it is, runs of different tasks refused, 40 distinct run curves, one legend outside the panels,
unfinished runs marked, one run given twice refused, the report's words for metrics.

Runs here are written by hand (config.toml, metrics.jsonl, summary.json): no training needed."""

from __future__ import annotations

import json

from tiny_run import tiny_toml

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config
from rnnlab.plots import plot_compare_metrics, style
from rnnlab.rundir import RUN, RunDir, append_jsonl


def fake_run(path, toml=None, *, epochs=3, finished=True, decay=0.0):
    """A run directory as `rnnlab train` leaves it (``toml``: its config; None: a run recorded
    without config.toml, as the Lightning callback leaves one)."""
    rd = RunDir(path)
    if toml is not None:
        rd.config.write_text(dump_config(parse_config(toml)))
    else:
        (rd.path / RUN.marker).write_text(json.dumps({"recorded_by": "rnnlab.lightning.RnnlabCallback"}))
    for e in range(1, epochs + 1):
        append_jsonl(rd.metrics, {"epoch": e, "step": 4 * e, "train_loss": 1.0 / e, "train_acc": 0.5,
                                  "val_loss": 1.2 / e, "val_acc": 0.5, "weight_decay": decay})
    if finished:
        rd.summary.write_text(json.dumps({"test": {"acc": 0.5}}))
    return rd.path


def cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


RULE = '[[training.decay_rules]]\nrole = "recurrent"\nweight_decay = 1e-3'


def test_config_columns_show_what_differs(tmp_path, capsys):
    a = fake_run(tmp_path / "a", tiny_toml(training="weight_decay = 0.0", after=RULE), decay=1e-3)
    b = fake_run(tmp_path / "b", tiny_toml(model="zoneout = 0.1", training="weight_decay = 0.01"), decay=0.01)
    c = fake_run(tmp_path / "c")
    code, out, err = cli(["compare", a, b, c, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    head, ra, rb, rc = (line.split("  ") for line in out.splitlines()[:4])
    head = [h.strip() for h in head if h.strip()]
    ra, rb, rc = ([x.strip() for x in r if x.strip()] for r in (ra, rb, rc))
    # between the run and the metrics, the keys that differ, and nothing that differs by nature
    assert head[:5] == ["run", "model.zoneout", "training.weight_decay", "training.decay_rules", "epochs"]
    assert ra[1:4] == ["0", "0", "[role=recurrent weight_decay=0.001]"]
    assert rb[1:4] == ["0.1", "0.01", "[]"]
    assert rc[1:4] == ["-", "-", "-"]  # no config.toml
    assert not any(h in ("name", "output.dir") or h.startswith("tracking.") for h in head)
    # item 2: the metric's max over groups (1e-3 for a run configured with weight_decay = 0) is
    # named for what it is, not passed off as the configured weight_decay
    assert head[-1] == "max_group_decay" and "weight_decay" not in head and ra[-1] == "0.001"


def test_runs_of_different_tasks_are_refused(tmp_path, capsys):
    a = fake_run(tmp_path / "a", tiny_toml())
    b = fake_run(tmp_path / "b", tiny_toml(after='[task]\nkind = "regression"'))
    code, out, err = cli(["compare", a, b, "--figures", tmp_path / "fig"], capsys)
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert f"{a}: classification" in err and f"{b}: regression" in err
    assert not (tmp_path / "fig" / "compare_metrics.png").exists()


def test_forty_runs_are_forty_distinct_curves():
    looks = {(style.series_color(i), style.series_linestyle(i)) for i in range(40)}
    assert len(looks) == 40
    recs = {f"r{i}": [{"epoch": e, "val_loss": 1.0 / e} for e in (1, 2)] for i in range(11)}
    fig = plot_compare_metrics(recs, metrics=["val_loss"])
    lines = fig.axes[0].lines
    assert (lines[0].get_color(), lines[0].get_linestyle()) != (lines[10].get_color(), lines[10].get_linestyle())


def test_one_legend_below_the_panels():
    recs = {name: [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e} for e in (1, 2, 3)] for name in "abc"}
    recs["d"] = [{"epoch": 1, "train_loss": 1.0}]  # no val_loss: named on that panel, not left out silently
    fig = plot_compare_metrics(recs, metrics=["train_loss", "val_loss"])
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == list("abcd")
    renderer = fig.canvas.get_renderer()
    top_of_legend = fig.legends[0].get_window_extent(renderer).y1
    assert all(top_of_legend < ax.get_window_extent(renderer).y0 for ax in fig.axes)
    assert "no data: d" in [t.get_text() for t in fig.axes[1].texts]


def test_unfinished_run_is_marked_in_table_and_legend(tmp_path, capsys):
    done = fake_run(tmp_path / "done", tiny_toml(training="epochs = 3"))
    cut = fake_run(tmp_path / "cut", tiny_toml(training="epochs = 5"), epochs=2, finished=False)
    code, out, err = cli(["compare", done, cut, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2].startswith(f"{cut} (running or stopped at epoch 2 of 5)")
    assert "running or stopped" not in lines[1]
    fig = plot_compare_metrics({"x (running or stopped at epoch 2 of 5)": cut}, metrics=["train_loss"])
    assert fig.legends[0].get_texts()[0].get_text().endswith("(running or stopped at epoch 2 of 5)")


def test_nits_plural_duplicates_and_words(tmp_path, capsys):
    a = fake_run(tmp_path / "a", tiny_toml())
    one = plot_compare_metrics([a], metrics=["train_loss", "val_acc", "val_rmse"])
    assert one.get_suptitle() == "1 run compared"
    assert [ax.get_title() for ax in one.axes] == ["train loss (training mode)", "val accuracy", "val RMSE (data units)"]
    code, out, err = cli(["compare", a, f"{a}/", "--figures", tmp_path / "fig"], capsys)
    assert code == 1 and not out and "are the same run" in err and len(err.strip().splitlines()) == 1
