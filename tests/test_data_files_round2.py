"""A user's own classification and regression files, as they come from aeon, pandas, Excel or the
UCR archive: each layout rnnlab would misread is refused (or warned of) in one line that names the
file, what was read and the fix; labels are read as the text they hold."""

import warnings

import numpy as np
import pytest

from rnnlab.config import DataConfig, parse_config
from rnnlab.data import load_data
from rnnlab.data.files import load_file
from rnnlab.errors import DataError
from rnnlab.task import CLASSIFICATION, REGRESSION
from rnnlab.train.predict import read_new_series

LABELS = ["walk", "run"] * 4


def _series(i: int, steps: int = 6) -> list[str]:
    return [f"{np.sin(0.7 * (i + 1) * t):.3f}" for t in range(steps)]


def _csv(tmp_path, text: str, name: str = "d.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _wide(labels=LABELS, steps: int = 6, column: str = "label") -> str:
    """A wide table as rnnlab reads it: a header, then a label and the steps on each line."""
    return "\n".join([",".join([column] + [f"t{t}" for t in range(steps)])]
                     + [",".join([str(y)] + _series(i, steps)) for i, y in enumerate(labels)]) + "\n"


def _err(path: str, task=CLASSIFICATION, **cfg) -> str:
    with pytest.raises(DataError) as info:
        load_data(DataConfig(path=path, val_fraction=0.0, **cfg), seed=0, task=task)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_d1_x_in_aeon_order_is_refused_or_warned_of(tmp_path):
    y = np.array(LABELS)
    # [N, 1, T]: one univariate series per row in aeon/sktime's [N, C, T] would be 1 step of 50 channels
    np.savez(tmp_path / "n1t.npz", X=np.random.default_rng(0).normal(size=(8, 1, 50)), y=y)
    msg = _err(str(tmp_path / "n1t.npz"))
    for said in ("n1t.npz", "X of shape [8, 1, 50] read as [N, T, C]", "1 step with 50 channels",
                 "X.transpose(0, 2, 1)"):
        assert said in msg, said
    # more channels than steps: read (it may be meant), with a warning that says the same
    np.savez(tmp_path / "nct.npz", X=np.random.default_rng(0).normal(size=(8, 2, 50)), y=y)
    with pytest.warns(UserWarning, match=r"X of shape \[8, 2, 50\] read as \[N, T, C\].*X\.transpose\(0, 2, 1\)"):
        d = load_data(DataConfig(path=str(tmp_path / "nct.npz"), val_fraction=0.0), seed=0)
    assert d.train.X.shape == (8, 2, 50)
    # rnnlab's own order with more steps than channels: no word
    np.savez(tmp_path / "ntc.npz", X=np.random.default_rng(0).normal(size=(8, 50, 2)), y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_data(DataConfig(path=str(tmp_path / "ntc.npz"), val_fraction=0.0), seed=0).channels == 2


def test_d2_pandas_index_column_is_refused(tmp_path):
    # df.to_csv(path): an unnamed first column of 0, 1, 2, ... that would be every series' step 0
    rows = _wide().splitlines()
    indexed = "\n".join(["," + rows[0]] + [f"{i},{r}" for i, r in enumerate(rows[1:])]) + "\n"
    msg = _err(_csv(tmp_path, indexed))
    for said in ("d.csv", "column 1 has no name and holds values", "'0' on line 2", "index=False", "drop the column"):
        assert said in msg, said
    # read back by pandas and written again: the index is named "Unnamed: 0"
    msg = _err(_csv(tmp_path, "Unnamed: 0" + indexed, "u.csv"))
    assert "u.csv): column 1 is 'Unnamed: 0' (pandas's name" in msg and "index=False" in msg
    # a trailing comma on every line (a column without name or values) holds no step
    trailing = "".join(line + ",\n" for line in _wide().splitlines())
    d = load_data(DataConfig(path=_csv(tmp_path, trailing, "t.csv"), val_fraction=0.0), seed=0)
    assert d.train.X.shape[1] == 6


def test_d3_long_table_is_refused_with_the_pivot(tmp_path):
    lines = ["id,time,value,label"] + [f"{i},{t},{v},{y}" for i, y in enumerate(LABELS)
                                       for t, v in enumerate(_series(i))]
    msg = _err(_csv(tmp_path, "\n".join(lines) + "\n"))
    for said in ("d.csv", "looks like a long table", "['id', 'time', 'value']",
                 'df.pivot(index="id", columns="time", values="value")'):
        assert said in msg, said
    lines = ["id,timestamp,channel,value,label"] + [f"{i},{t},{c},{v},{y}" for i, y in enumerate(LABELS)
                                                    for t, v in enumerate(_series(i)) for c in (0, 1)]
    msg = _err(_csv(tmp_path, "\n".join(lines) + "\n", "ch.csv"))
    assert 'columns="timestamp"' in msg and "several channels ('channel') go in an .npz" in msg


def test_d4_file_without_header_row_is_refused(tmp_path):
    ucr = "".join(",".join([y] + _series(i)) + "\n" for i, y in enumerate(LABELS))  # the UCR layout
    path = _csv(tmp_path, ucr)
    for cfg in ({}, {"label_column": "walk"}):  # as the old error told the user to set it
        msg = _err(path, **cfg)
        assert "d.csv): the file has no header row" in msg and "add one (label, t0, t1, ...)" in msg, msg
    # numeric labels too (the whole first row is numbers)
    assert "no header row" in _err(_csv(tmp_path, ucr.replace("walk", "1").replace("run", "2"), "n.csv"))
    # pandas names a DataFrame's columns 0, 1, 2, ...: a header of numbers that count is one
    counted = "\n".join([",".join([str(t) for t in range(6)] + ["label"])]
                        + [",".join(_series(i) + [y]) for i, y in enumerate(LABELS)]) + "\n"
    d = load_data(DataConfig(path=_csv(tmp_path, counted, "p.csv"), val_fraction=0.0), seed=0)
    assert len(d.train) == len(LABELS) and d.train.X.shape[1] == 6


@pytest.mark.parametrize(("sep", "said"), [(";", "one cell containing ';'"), ("\t", "one cell containing a tab")])
def test_d5_other_separators_are_named(tmp_path, sep, said):
    msg = _err(_csv(tmp_path, _wide().replace(",", sep)))
    assert f"d.csv): the header is {said}: rnnlab reads comma-separated .csv files" in msg
    assert "no label column" not in msg


def test_d6_object_y_is_named_not_x(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((8, 6, 1)), y=np.array(LABELS, dtype=object))
    msg = _err(str(tmp_path / "d.npz"))
    assert "'y' is stored as Python objects" in msg and "y.astype(str)" in msg
    assert "save X" not in msg and "ragged" not in msg


def test_d7_byte_string_labels_are_text(tmp_path):
    X = np.stack([np.array(_series(i, 6), dtype=float) for i in range(8)])[:, :, None]
    np.savez(tmp_path / "d.npz", X=X, y=np.array(LABELS).astype("S"))
    d = load_data(DataConfig(path=str(tmp_path / "d.npz"), val_fraction=0.0), seed=0)
    assert d.classes == ["run", "walk"]


def test_d8a_a_text_column_of_new_series_is_worded_without_an_empty_list(tmp_path):
    # rnnlab predict on a classification run: the file's labels are in 'class', not the run's 'label'
    path = _csv(tmp_path, _wide(column="class"))
    with pytest.raises(DataError) as info:
        read_new_series(path, parse_config('[data]\ndataset = "UnitTest"'), CLASSIFICATION, 1)
    msg = str(info.value)
    assert "column 'class' is not a time step (the steps are named t0 .." in msg
    assert "with no label or target column in the header, every column is a time step" in msg
    assert "[]" not in msg and "target columns" not in msg


@pytest.mark.parametrize(("cell", "said"), [("NA", "line 3, column 't2', step 2: missing value 'NA'"),
                                            ("nan", "line 3, column 't2', step 2: missing value 'nan'"),
                                            ("", "line 3 has an empty cell at step 2 before the end of the "
                                                 "sequence (column 't2')")])
def test_d8b_missing_values_are_named_as_such(tmp_path, cell, said):
    rows = _wide().splitlines()
    cells = rows[2].split(",")
    cells[3] = cell
    rows[2] = ",".join(cells)
    msg = _err(_csv(tmp_path, "\n".join(rows) + "\n"))
    assert said in msg and "missing values are not accepted: fill or interpolate them" in msg, msg
    assert "such as an id" not in msg


def test_d8c_csv_errors_give_file_lines(tmp_path):
    labels = list(LABELS)
    labels[4] = ""  # the sixth line of the file (after the header)
    msg = _err(_csv(tmp_path, _wide(labels)))
    assert "d.csv): 1 label(s) missing (empty) in column 'label' on line 6" in msg and "index" not in msg
    targets = [f"{v:.2f}" for v in np.linspace(0.5, 3.0, 8)]
    targets[3] = "nan"  # line 5
    msg = _err(_csv(tmp_path, _wide(targets, column="target"), "r.csv"), REGRESSION)
    assert "r.csv): line 5, column 'target': expected a finite number (a regression target), got 'nan'" in msg
    assert "[sequence, target]" not in msg


def test_d8d_constant_targets_name_the_file_and_the_column(tmp_path):
    msg = _err(_csv(tmp_path, _wide(["5.0"] * 8, column="price"), "r.csv"), REGRESSION, target_column="price")
    assert msg.startswith("data.path (") and "r.csv): target column 'price' (data.target_column) has the same " \
        "value (5) for every sequence" in msg
    np.savez(tmp_path / "r.npz", X=np.random.default_rng(0).normal(size=(8, 6, 1)), y=np.full(8, 3.0))
    msg = _err(str(tmp_path / "r.npz"), REGRESSION)
    assert "data.path (" in msg and "r.npz): y has the same value (3) for every sequence" in msg
    # a test file may hold one target value: only the training file's must vary
    _, y, _ = load_file(str(tmp_path / "r.npz"), ["target"], "data.test_path")
    assert y.tolist() == [3.0] * 8
