"""What a new user following the docs literally met (helper-274's round): the pivot the long-table
error printed scrambled the steps (``t0, t1, t10, ...``, as df.pivot sorts names as text) and the
reader took the scrambled file without a word; a class named ``-`` was written ``'-`` as a column of
predictions.csv; and the advice after resuming a finished run told the user to raise
training.steps, which they had just done, when the shape rule had raised it further."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_sensor_export_round import _run

from rnnlab.config import parse_config
from rnnlab.data.files import load_csv
from rnnlab.errors import DataError
from rnnlab.tables import csv_text
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS = 30


def _long(tmp_path) -> pd.DataFrame:
    """A long table as ``df.melt`` writes one: id, label, time t0 .. t29 (text), acc_x."""
    rng = np.random.default_rng(0)
    rows = [(i, "ab"[i % 2], f"t{t}", float(rng.normal() + i % 2 * np.sin(t / 3))) for i in range(8)
            for t in range(STEPS)]
    return pd.DataFrame(rows, columns=["id", "label", "time", "acc_x"])


def test_step_columns_out_of_the_order_of_their_numbers_are_refused(tmp_path):
    df = _long(tmp_path)
    w = df.pivot(index="id", columns="time", values="acc_x")  # (the bare pivot: t0, t1, t10, t11, ...)
    w["label"] = df.groupby("id")["label"].first()
    w.to_csv(tmp_path / "scrambled.csv", index=False)
    with pytest.raises(DataError) as e:
        load_csv(tmp_path / "scrambled.csv")
    line = str(e.value)
    assert "\n" not in line and "scrambled.csv: the step columns are not in the order of their numbers" in line
    assert "t19 is followed by t2" in line and "sorted as text" in line
    # the fix it gives runs, and gives the steps in their order
    fixed = w.drop(columns="label")
    fixed = fixed[sorted(fixed.columns, key=lambda c: float(str(c).removeprefix("t")))]
    fixed["label"] = w["label"]
    fixed.to_csv(tmp_path / "fixed.csv", index=False)
    X = load_csv(tmp_path / "fixed.csv")[0]
    expected = df[df["id"] == 0]["acc_x"].to_numpy()
    np.testing.assert_allclose(X[0, :, 0], expected)
    # steps numbered downwards are read as written (no scramble), and so are the ordered ones
    fixed[[*reversed(fixed.columns[:-1]), "label"]].to_csv(tmp_path / "down.csv", index=False)
    np.testing.assert_allclose(load_csv(tmp_path / "down.csv")[0][0, :, 0], expected[::-1])


def test_the_pivot_the_long_table_error_prints_keeps_the_steps_in_order(tmp_path):
    df = _long(tmp_path)
    df.to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(DataError) as e:
        load_csv(tmp_path / "long.csv")
    code = str(e.value).split("Pivot it: ", 1)[1]
    assert '[df["time"].unique()]' in code
    _run("df = pd.read_csv('long.csv'); " + code, tmp_path)  # (as the user would paste it)
    X = load_csv(tmp_path / "long_wide.csv")[0]
    np.testing.assert_allclose(X[3, :, 0], df[df["id"] == 3]["acc_x"].to_numpy())


def test_a_class_named_by_one_sign_is_written_as_it_is():
    text = csv_text(["series", "label", "-", "=x"], [(0, "-", 0.5, 0.5), (1, "=x", 0.25, 0.75)])
    lines = text.splitlines()
    assert lines[0] == "series,label,-,'=x"  # (a lone sign runs nothing; a formula still gets its ')
    assert lines[1].startswith("0,-,") and lines[2].startswith("1,'=x,")


def test_the_advice_after_a_finished_run_names_the_budget_the_shape_rule_set(tmp_path):
    text = ('[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 4\n[training]\nsteps = 10\nbatch_size = 20\n'
            'lr = 0.03\n[adapt]\nshape = true\nbudget = true\n[tracking]\nhealth = false\nweights_every = 0\n'
            'grads_every = 0\n')
    run = tmp_path / "run"
    train(parse_config(text), out=run, progress=False, log=None)
    said: list[str] = []
    train(parse_config(text.replace("steps = 10", "steps = 12")), out=run, resume=True, progress=False,
          log=said.append, allow_change=["training.steps"])
    line = next(line for line in said if "had already finished" in line)
    shape = next(line for line in said if line.startswith("shape: "))
    planned = int(shape.split(" steps (")[0].rsplit("; ", 1)[1])  # the shape rule's budget, e.g. 800
    assert planned > 12
    assert f"to train on, set training.steps above {planned} (the shape rule, adapt.shape, raises " \
           f"training.steps = 12 to {planned} on this data)" in line, line
    assert "adapt.budget ended it at step " in line and "every training series right" in line, line
