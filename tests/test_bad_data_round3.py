"""Bad data, third round: each defect a user found in the data modules is refused (or, for a
valid input that was refused, accepted) with one precise line naming the file, key and values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error

from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.data.checks import check_labels, check_not_regression
from rnnlab.data.text import load_text
from rnnlab.errors import DataError
from rnnlab.task import CLASSIFICATION, FORECASTING, REGRESSION

RNG = np.random.default_rng(0)
X40 = RNG.standard_normal((40, 30))


def _csv(path: Path, labels: list[str], column: str = "label") -> str:
    rows = [f"{column}," + ",".join(f"t{i}" for i in range(X40.shape[1]))]
    rows += [f"{label}," + ",".join(f"{v:.4f}" for v in x) for label, x in zip(labels, X40, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _err(call) -> str:
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert "np." not in message  # numpy scalars print as plain values
    return message


def _config(tmp: Path, kind: str, data: str) -> Path:
    path = tmp / "c.toml"
    path.write_text(f'[task]\nkind = "{kind}"\n[data]\n{data}\n[model]\nhidden_size = 4\n'
                    "[training]\nsteps = 2\n[tracking]\nenabled = false\n")
    return path


# ------------------------------------------------------------------ 1: CSV labels that are values


@pytest.mark.parametrize("labels", [
    [f"{v:.3f}" for v in RNG.uniform(0, 10, 40)],                              # floats, as CSV text
    [str(v) for v in RNG.choice(np.arange(10, 1000), 40, replace=False)],      # distinct integers, as text
])
def test_csv_labels_that_are_values_are_refused_like_npz_floats(tmp_path, labels):
    path = _csv(tmp_path / "d.csv", labels)
    msg = _err(lambda: load_data(DataConfig(path=path, val_fraction=0.0), seed=0))
    assert msg.startswith(f"data.path ({path}): y holds 40 distinct values among 40 series: looks like regression "
                          "targets")
    assert 'set [task] kind = "regression"' in msg


def test_integer_labels_that_are_values_are_refused_but_class_ids_stay_classes(tmp_path):
    np.savez(tmp_path / "d.npz", X=X40[:, :, None], y=RNG.choice(np.arange(10, 1000), 40, replace=False))
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0), seed=0))
    assert "y holds 40 distinct values among 40 series: looks like regression targets" in msg
    # class ids (several series each, or one-shot ids 0..K-1 / 1..K), as numbers or text, and words
    for y in (np.array(["1", "2", "3"] * 4), np.arange(12) % 3, np.array([str(i) for i in range(12)]),
              np.arange(1, 13), np.repeat(["0.5", "1.5", "2.5"], 4), np.array(["cat", "dog", "eel"] * 4)):
        check_not_regression(y, "data.path (d.csv)")  # no error


def test_the_classification_cli_refuses_a_csv_of_values_in_one_line(tmp_path, capsys):
    _csv(tmp_path / "d.csv", [f"{v:.3f}" for v in RNG.uniform(0, 10, 40)])
    cfg = _config(tmp_path, "classification", 'path = "d.csv"\nval_fraction = 0.0')
    one_line_error(["train", str(cfg), "--out", str(tmp_path / "run")], capsys,
                   ("d.csv", "looks like regression targets", 'set [task] kind = "regression"'))


# ------------------------------------------------------------------ 2: a test file of one class


def test_a_test_file_of_one_class_is_valid(tmp_path):
    np.savez(tmp_path / "d.npz", X=X40[:, :, None], y=np.arange(40) % 2)
    # (series of their own: a test file of training series is refused, rnnlab.data.overlap)
    np.savez(tmp_path / "t.npz", X=X40[:5, :, None] + 0.5, y=np.ones(5, dtype=np.int64))
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), test_path=str(tmp_path / "t.npz")), seed=0)
    assert d.classes == ["0", "1"] and d.test is not None and d.test.y.tolist() == [1] * 5


def test_a_test_file_must_still_hold_the_training_files_classes(tmp_path):
    np.savez(tmp_path / "d.npz", X=X40[:, :, None], y=np.arange(40) % 2)
    np.savez(tmp_path / "t.npz", X=X40[:5, :, None], y=np.full(5, 7))
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "d.npz"), test_path=str(tmp_path / "t.npz")), seed=0))
    assert "data.test_path" in msg and "labels ['7'] do not occur in the training file (classes ['0', '1'])" in msg


@pytest.mark.parametrize(("y", "shown"), [(np.ones(4, dtype=np.int64), "1"), (np.array(["cat"] * 4), "'cat'"),
                                          (np.full(4, 2.5), "2.5")])
def test_a_training_file_of_one_class_prints_the_label_plainly(y, shown):
    msg = _err(lambda: check_labels(y, "data.path (d.npz)"))
    assert msg == ("data.path (d.npz): expected labels of at least 2 classes for classification, got 1 "
                   f"(every label is {shown})")


# ------------------------------------------------------------------ 3: no channels, no steps


@pytest.mark.parametrize(("X", "expected"), [
    (X40[:, :, None][:, :, :0], "X: expected at least 1 channel (X [N, T, C] with C >= 1), got shape [40, 30, 0]"),
    (X40[:, :0, None], "X: expected at least 1 step (X [N, T, C] with T >= 1), got shape [40, 0, 1]"),
])
def test_an_npz_without_channels_or_steps_is_refused_at_load(tmp_path, X, expected):
    np.savez(tmp_path / "d.npz", X=X, y=np.arange(40) % 2)
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "d.npz")), seed=0))
    assert msg == f"{tmp_path / 'd.npz'}: {expected}"


@pytest.mark.parametrize(("X", "expected"), [
    (np.zeros((100, 0)), "X: expected at least 1 channel (C >= 1 in [L, C] or [N, L, C]), got shape [100, 0]"),
    (np.zeros((2, 50, 0)), "X: expected at least 1 channel (C >= 1 in [L, C] or [N, L, C]), got shape [2, 50, 0]"),
    (np.zeros(0), "X: expected at least 1 step (L >= 1 in [L, C] or [N, L, C]), got shape [0, 1]"),
])
def test_a_series_npz_without_channels_or_steps_is_refused_at_load(tmp_path, X, expected):
    np.savez(tmp_path / "s.npz", X=X)
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "s.npz"), bptt=4), seed=0, task=FORECASTING))
    assert msg == f"{tmp_path / 's.npz'}: {expected}"


def test_a_series_csv_with_no_column_chosen_is_refused(tmp_path):
    (tmp_path / "s.csv").write_text("v\n" + "\n".join(str(float(i % 7)) for i in range(100)) + "\n")
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "s.csv"), columns=[], bptt=4), seed=0,
                                 task=FORECASTING))
    assert msg == ("data.columns: expected at least 1 column of values, got [] (remove the key to read every column "
                   "with numbers in it)")


# ------------------------------------------------------------------ 4: a file that is no .npz


@pytest.mark.parametrize("task", [CLASSIFICATION, FORECASTING])
def test_a_non_zip_npz_is_called_that_not_pickled(tmp_path, task):
    (tmp_path / "bad.npz").write_text("not a zip")
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "bad.npz")), seed=0, task=task))
    assert msg.startswith(f"{tmp_path / 'bad.npz'}: cannot read as an .npz file: not an .npz (zip) archive, which "
                          "numpy.savez writes; save ")
    assert "pickle" not in msg


def test_a_pickle_and_a_lone_npy_named_npz_are_still_called_what_they_are(tmp_path):
    import pickle

    (tmp_path / "p.npz").write_bytes(pickle.dumps({"X": 1}))
    assert "it holds pickled data; pickled data is never loaded" in _err(
        lambda: load_data(DataConfig(path=str(tmp_path / "p.npz")), seed=0))
    np.save(tmp_path / "s.npy", np.zeros(50))
    (tmp_path / "s.npy").rename(tmp_path / "s.npz")  # a stream .npz of a lone array crashed on it
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "s.npz"), bptt=4), seed=0, task=FORECASTING))
    assert "holds a single .npy array, not an .npz archive; save the series with numpy.savez(path, X=series)" in msg


# ------------------------------------------------------------------ 5: label_column for regression


def test_a_regression_csv_without_its_target_column_names_the_regression_key(tmp_path):
    path = _csv(tmp_path / "r.csv", [f"{v:.3f}" for v in RNG.normal(size=40)], column="y")
    msg = _err(lambda: load_data(DataConfig(path=path), seed=0, task=REGRESSION))
    assert "no target column 'target' in the header (set data.target_column, the regression key; " \
           "data.label_column names class labels)" in msg


# ------------------------------------------------------------------ 6: extra arrays in a series .npz


def test_a_series_npz_with_an_extra_array_is_refused(tmp_path):
    np.savez(tmp_path / "s.npz", X=RNG.standard_normal(200), y=RNG.standard_normal(200))
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "s.npz"), bptt=4), seed=0, task=FORECASTING))
    assert msg == (f"{tmp_path / 's.npz'}: unexpected array(s) ['y']; a series .npz holds X (or series) and "
                   "optionally lengths (a forecaster's targets are the series' own next values)")


# ------------------------------------------------------------------ 7: a bad cell among numeric targets


@pytest.mark.parametrize(("cell", "shown"), [("", "''"), ('"1,5"', "'1,5' (plain numbers: 1234.5, not 1,234.5 or 1,5)")])
def test_one_bad_target_cell_is_named_by_line_and_column(tmp_path, cell, shown):
    labels = [f"{v:.3f}" for v in RNG.normal(size=40)]
    labels[5] = cell
    path = _csv(tmp_path / "r.csv", labels, column="target")
    msg = _err(lambda: load_data(DataConfig(path=path), seed=0, task=REGRESSION))
    assert msg == (f"data.path ({path}): line 7, column 'target': expected a number (a regression target), got {shown}; "
                   "1 of the column's 40 cells is not a number")
    # a column mostly of words is still called class labels
    path = _csv(tmp_path / "w.csv", ["cat", "dog"] * 19 + ["1.5", ""], column="target")
    msg = _err(lambda: load_data(DataConfig(path=path), seed=0, task=REGRESSION))
    assert "got class labels" in msg and 'set [task] kind = "classification"' in msg


# ------------------------------------------------------------------ 8: a series too short for any window


def test_a_one_row_series_is_called_too_short_not_given_bptt_advice(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("v\n1.5\n")
    cfg = _config(tmp_path, "forecasting", 'path = "one.csv"\nbptt = 24')
    line = one_line_error(["train", str(cfg), "--out", str(tmp_path / "run")], capsys,
                          ("one.csv: the series is too short: its 1 step(s) leave 1 for training; expected at least "
                           "2 training steps (an input and the 1 value(s) after it: task.horizon = 1), got 1",))
    assert "data.bptt <=" not in line
    # a series that fits a shorter window still gets the data.bptt advice
    np.savez(tmp_path / "s.npz", X=np.sin(np.arange(40.0)))
    msg = _err(lambda: load_data(DataConfig(path=str(tmp_path / "s.npz"), bptt=30), seed=0, task=FORECASTING))
    assert msg.startswith("data.bptt: ") and "expected data.bptt <= " in msg


# ------------------------------------------------------------------ 9: a text too short for its blocks


@pytest.mark.parametrize(("data", "expected"), [
    ({}, "data.test_fraction: the test block of the text's 2 char token(s) would be empty (data.test_fraction = 0.1 "
         "of 2 rounds to 0 tokens); expected at least 1 token in it: give a longer text, or set "
         "data.test_fraction = 0 for no test figure"),
    ({"test_fraction": 0.0}, "data.val_fraction: the validation block of the text's 2 char token(s) would be empty "
                             "(data.val_fraction = 0.1 of 2 rounds to 0 tokens)"),
])
def test_a_text_too_short_for_its_test_or_validation_block_is_refused(tmp_path, data, expected):
    (tmp_path / "tiny.txt").write_text("ab")
    cfg = DataConfig(path=str(tmp_path / "tiny.txt"), bptt=1, streams=1, val_fraction=0.1,
                     **{"test_fraction": 0.1, **data})
    assert expected in _err(lambda: load_text(cfg))
    # without the blocks asked for, the text loads
    d = load_text(DataConfig(path=str(tmp_path / "tiny.txt"), bptt=1, streams=1, val_fraction=0.0,
                             test_fraction=0.0))
    assert d.test is None and len(d.val) == 0


# ------------------------------------------------------------------ 5: label_column where no labels are read


@pytest.mark.parametrize(("task", "where"), [
    ('kind = "regression"', "this run's task is regression (its targets' column is data.target_column)"),
    ('kind = "forecasting"\nhorizon = 1\nseason = 1', "this run's task is forecasting (its data has no label column)"),
])
def test_label_column_is_refused_where_no_class_label_is_read(task, where):
    from rnnlab.config import parse_config
    from rnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'data.label_column' names the class labels of a classification \.csv; "
                       + where.replace("(", r"\(").replace(")", r"\)") + ": remove the key"):
        parse_config(f'[task]\n{task}\n[data]\npath = "x.csv"\nlabel_column = "y"\n')
    # given at its default it is refused too (the run would not read it); a run's config.toml written
    # before such keys were left out reads back as a record
    with pytest.raises(ConfigError, match=r"'data.label_column' names the class labels"):
        parse_config(f'[task]\n{task}\n[data]\npath = "x.csv"\nlabel_column = "label"\n')
    parse_config(f'[task]\n{task}\n[data]\npath = "x.csv"\nlabel_column = "label"\n', recorded=True)
