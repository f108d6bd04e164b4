"""`rnnlab compare`, round 3: seeds of one config grouped (mean ± sd, marked against the base config
by the recipe's rule), the test column said to be for reporting, runs on different data named,
the default figures folder out of a glob's way, training-mode curves labelled, a step axis, more
than 40 curves said, a running run's pid.

Runs here are written by hand (config.toml, metrics.jsonl, summary.json): no training needed."""

from __future__ import annotations

import json
import os

from tiny_run import tiny_toml

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config
from rnnlab.lock import DirLock
from rnnlab.plots import plot_compare_metrics
from rnnlab.recipe.decide import verdict
from rnnlab.rundir import RunDir, append_jsonl


def fake_run(path, toml, *, val=0.5, test=0.5, epochs=3, steps_per_epoch=4, finished=True, train_acc=0.5):
    """A run directory as `rnnlab train` leaves it: ``val`` its val_acc at every epoch (its best)."""
    rd = RunDir(path)
    rd.config.write_text(dump_config(parse_config(toml)))
    for e in range(1, epochs + 1):
        append_jsonl(rd.metrics, {"epoch": e, "step": steps_per_epoch * e, "train_loss": 1.0 / e,
                                  "train_acc": train_acc, "val_loss": 1.2 / e, "val_acc": val, "weight_decay": 0.0})
    if finished:
        rd.summary.write_text(json.dumps({"best_epoch": epochs, "test": {"acc": test}}))
    return rd.path


def cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def cells(line):
    return [c.strip() for c in line.split("  ") if c.strip()]


def sweep(tmp_path, scores):
    """Runs ``NAME-sS`` for each ``NAME: (model line, val scores, test scores)``, seeds 0, 1, 2..."""
    paths = []
    for name, (model, vals, tests) in scores.items():
        for s, (v, t) in enumerate(zip(vals, tests, strict=True)):
            paths.append(fake_run(tmp_path / f"{name}-s{s}", tiny_toml(model=model, training=f"seed = {s}"),
                                  val=v, test=t))
    return paths


def test_seeds_of_one_config_are_one_row_marked_by_the_recipe_rule(tmp_path, capsys):
    scores = {"zoneout": ("zoneout = 0.15", (0.90, 0.92, 0.91), (0.80, 0.80, 0.80)),
              "noisy": ("recurrent_dropout = 0.25", (0.70, 0.95, 0.86), (0.99, 0.99, 0.99)),
              "none": ("", (0.80, 0.82, 0.81), (0.90, 0.90, 0.90))}
    runs = sweep(tmp_path, scores)
    code, out, err = cli(["compare", *runs, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    head = cells(lines[0])
    rows = {cells(line)[0]: dict(zip(head, cells(line), strict=True)) for line in lines[1:4]}
    assert set(rows) == {f"{tmp_path}/{n}-s*" for n in scores}  # one row per group, not nine
    assert "training.seed" not in head and "model.zoneout" in head and "model.recurrent_dropout" in head
    z, n, b = (rows[f"{tmp_path}/{k}-s*"] for k in ("zoneout", "noisy", "none"))
    assert z["n"] == "3" and z["seeds"] == "0,1,2"
    assert z["val_acc@best_epoch"] == "0.91 ± 0.01"  # mean ± sd with ddof=1
    # the reference is the base config (no key away from its default), though it was given last
    mark = head[-1]
    assert mark == f"vs {tmp_path}/none-s* (val_acc@kept)" and b[mark] == "reference"
    # (both groups hold seeds 0, 1, 2: paired by seed)
    expected = verdict([0.90, 0.92, 0.91], [0.80, 0.82, 0.81], higher_is_better=True, paired=True)
    assert z[mark] == "better: " + expected.reason
    # a mean gain of +0.0267 that the spread of its per-seed differences (-0.10, +0.13, +0.05) swamps is
    # not called a gain, though its test
    # column is the best: the mark is by validation only
    assert n[mark].startswith("within 1 se: ") and "not above one standard error" in n[mark]
    assert lines[4].startswith("note: test_acc is for reporting the config chosen by validation")


def test_the_test_column_is_said_to_be_for_reporting(tmp_path, capsys):
    a = fake_run(tmp_path / "a", tiny_toml(model="zoneout = 0.1"))
    b = fake_run(tmp_path / "b", tiny_toml())
    code, out, err = cli(["compare", a, b, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    # one run per config: the table of runs as before, the test column kept
    assert cells(lines[0])[:2] == ["run", "model.zoneout"] and "test_acc" in cells(lines[0])
    assert cells(lines[1])[0] == str(a)
    assert lines[3] == ("note: test_acc is for reporting the config chosen by validation (val_acc@kept), not for "
                        "choosing one: choosing by it selects on the test split")


def test_group_figure_is_one_colour_per_group_with_a_band():
    recs = lambda k: [{"epoch": e, "step": 4 * e, "val_loss": k / e} for e in (1, 2, 3)]  # noqa: E731
    fig = plot_compare_metrics({"none": [recs(1.0), recs(2.0), recs(3.0)], "zoneout": [recs(0.5), recs(1.5)]},
                               metrics=["val_loss"])
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.lines[0].get_color() != ax.lines[1].get_color()
    assert ax.lines[0].get_ydata().tolist() == [2.0, 1.0, 2.0 / 3]  # the mean of the seeds
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 1.0 / 3 and band.max() == 3.0  # min..max over the seeds
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["none", "zoneout"]
    assert "min..max" in legend.get_title().get_text()
    assert fig.get_suptitle() == "2 groups of seeds compared (5 runs)"


def test_runs_on_other_data_or_folds_are_named(tmp_path, capsys):
    gp = fake_run(tmp_path / "gp", tiny_toml())
    bm = fake_run(tmp_path / "bm", tiny_toml().replace('"UnitTest"', '"BasicMotions"'))
    code, out, err = cli(["compare", gp, bm, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("warning: the runs are on different data") and f"UnitTest: {gp}" in first
    assert f"BasicMotions: {bm}" in first
    # two folds of a recipe: the same config, other data; not one group of two seeds either
    f1 = fake_run(tmp_path / "r" / "seed-0" / "fold-1", tiny_toml())
    f3 = fake_run(tmp_path / "r" / "seed-0" / "fold-3", tiny_toml())
    code, out, err = cli(["compare", f1, f3, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    first, head = out.splitlines()[:2]
    assert "UnitTest fold 1" in first and "UnitTest fold 3" in first
    assert cells(head)[0] == "run"


def test_default_figures_are_not_picked_up_by_a_glob_of_the_runs(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    a = fake_run(runs / "a", tiny_toml(model="zoneout = 0.1"))
    b = fake_run(runs / "b", tiny_toml())
    (runs / "compare_metrics.png").write_bytes(b"")  # left there by an older rnnlab compare
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["compare", a, b], capsys)
    assert code == 0, err
    assert (runs / "compare" / "compare_metrics.png").stat().st_size > 0
    globbed = sorted(str(p) for p in runs.iterdir())
    code, out, err = cli(["compare", *globbed], capsys)
    assert code == 0, err
    assert f"skipped {runs / 'compare'}: rnnlab compare's own figures, not a run" in out.splitlines()
    assert f"skipped {runs / 'compare_metrics.png'}: rnnlab compare's own figure, not a run" in out.splitlines()


def test_training_curves_say_training_mode():
    recs = [{"epoch": e, "train_acc": 0.875, "val_acc": 1.0} for e in (1, 2)]
    train, val = plot_compare_metrics({"wdrop": recs}, metrics=["train_acc", "val_acc"]).axes
    assert train.get_title().endswith("(training mode)") and "training mode" not in val.get_title()


def test_runs_line_up_by_optimizer_step(tmp_path):
    # equal step budgets, batch sizes 4x apart: 3 epochs of 8 steps, 12 epochs of 2 steps
    big = fake_run(tmp_path / "big", tiny_toml(), epochs=3, steps_per_epoch=8)
    small = fake_run(tmp_path / "small", tiny_toml(), epochs=12, steps_per_epoch=2)
    train = plot_compare_metrics([big, small], metrics=["train_acc"]).axes[0]
    assert train.get_xlabel() == "optimizer step"
    assert [line.get_xdata()[-1] for line in train.lines] == [24.0, 24.0]
    # without a step in every record, the epoch
    fig = plot_compare_metrics({"x": [{"epoch": 1, "val_acc": 0.5}]}, metrics=["val_acc"])
    assert fig.axes[0].get_xlabel() == "epoch"


def test_more_than_forty_curves_are_said_to_repeat():
    recs = {f"r{i}": [{"epoch": 1, "val_loss": 1.0}] for i in range(41)}
    fig = plot_compare_metrics(recs, metrics=["val_loss"])
    assert "repeat after 40" in fig.legends[0].get_title().get_text()
    fig = plot_compare_metrics({k: recs[k] for k in list(recs)[:40]}, metrics=["val_loss"])
    assert "repeat" not in fig.legends[0].get_title().get_text()


def test_a_run_whose_lock_is_held_is_running(tmp_path, capsys):
    done = fake_run(tmp_path / "done", tiny_toml(training="epochs = 3"))
    live = fake_run(tmp_path / "live", tiny_toml(training="epochs = 5"), epochs=2, finished=False)
    with DirLock(live, "run directory"):
        code, out, err = cli(["compare", done, live, "--figures", tmp_path / "fig"], capsys)
    assert code == 0, err
    assert out.splitlines()[2].startswith(f"{live} (running, pid {os.getpid()}, at epoch 2 of 5)")
    # released (the lock file emptied): the files cannot tell
    code, out, err = cli(["compare", done, live, "--figures", tmp_path / "fig"], capsys)
    assert out.splitlines()[2].startswith(f"{live} (running or stopped at epoch 2 of 5)")
