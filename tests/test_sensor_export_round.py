"""A sensor database export as a pandas user writes it (6 channels of different scales, recordings of
50 to 300 steps, labels typed by hand): labels that differ only in case, a label "nan", a long table of
several channels, X zero-padded without lengths and X with NaN gaps are each refused in one line that
names what was read and a fix that works on that file."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.data.bundled import bundled_names, load_bundled
from rnnlab.data.checks import case_groups
from rnnlab.data.files import load_file
from rnnlab.errors import DataError

CLASSES = ["walking", "running", "sitting", "standing", "cycling"]
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]


def _recordings(n: int = 40, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` recordings [L_i, 6] of 50 to 300 steps (acc_z in the thousands, gyro_y near 0.001), and
    their classes."""
    rng = np.random.default_rng(seed)
    labels = np.array([CLASSES[i % len(CLASSES)] for i in range(n)])
    series = []
    for i in range(n):
        steps = int(rng.integers(50, 301))
        x = np.sin(0.1 * (i % 5 + 1) * np.arange(steps)[:, None] + np.arange(6)) + 0.2 * rng.standard_normal((steps, 6))
        x[:, 2] = 1000 * (9.81 + x[:, 2])
        x[:, 4] *= 0.001
        series.append(x)
    return series, labels


def _padded(series: list[np.ndarray], steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in series])
    X = np.zeros((len(series), steps or int(lengths.max()), 6))
    for i, s in enumerate(series):
        X[i, :len(s)] = s
    return X, lengths


def _err(path, **cfg) -> str:
    with pytest.raises(DataError) as info:
        load_data(DataConfig(path=str(path), val_fraction=0.0, **cfg), seed=0)
    message = str(info.value)
    assert "\n" not in message
    return message


def _run(code: str, cwd) -> None:
    """Run the fix an error gives, as the user would paste it."""
    done = subprocess.run([sys.executable, "-c", "import numpy as np, pandas as pd\n" + code], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------ 1. labels that differ only in case

def _variants(labels: np.ndarray) -> np.ndarray:
    """The tester's spellings: some Capitalized with a trailing space, some UPPER."""
    out = labels.astype("<U12")
    out[1::4] = np.char.add(np.char.capitalize(labels[1::4]), " ")
    out[2::4] = np.char.upper(labels[2::4])
    return out


def test_npz_labels_that_differ_only_in_case_are_refused_naming_the_groups(tmp_path):
    """Before: ``shape: 300 series, 15 classes (smallest 2)`` for 5 classes, silently."""
    series, labels = _recordings()
    X, lengths = _padded(series)
    y = _variants(labels)
    np.savez(tmp_path / "train.npz", X=X, y=y, lengths=lengths)
    msg = _err(tmp_path / "train.npz")
    assert msg.startswith(f"data.path ({tmp_path / 'train.npz'}): labels that differ only in case: ")
    assert re.search(r"'(\w+)', '(\w+)', '(\w+)' \(and 4 more groups\)", msg), msg
    group = re.search(r"case: '(\w+)', '(\w+)', '(\w+)'", msg).groups()
    assert len({g.lower() for g in group}) == 1 and len(set(group)) == 3
    assert "write each class one way, e.g. y = np.char.lower(y)" in msg
    # the fix, applied: 5 classes
    np.savez(tmp_path / "fixed.npz", X=X, y=np.char.lower(y), lengths=lengths)
    assert load_data(DataConfig(path=str(tmp_path / "fixed.npz"), val_fraction=0.0), seed=0).classes == sorted(CLASSES)
    # a test file that mixes spellings is refused too, by its own key
    np.savez(tmp_path / "test.npz", X=X, y=y, lengths=lengths)
    with pytest.raises(DataError, match=r"^data\.test_path \(.*test\.npz\): labels that differ only in case"):
        load_data(DataConfig(path=str(tmp_path / "fixed.npz"), test_path=str(tmp_path / "test.npz")), seed=0)
    # new series to predict: their labels are ignored, however spelt
    assert load_file(tmp_path / "test.npz", where="--data")[0].shape == X.shape


def test_csv_labels_that_differ_only_in_case_are_refused_with_the_pandas_fix(tmp_path):
    series, labels = _recordings()
    rows = [{"label": y, **{f"t{j}": v for j, v in enumerate(s[:, 0])}} for s, y in zip(series, _variants(labels))]
    df = pd.DataFrame(rows)
    df.to_csv(tmp_path / "w.csv", index=False)
    msg = _err(tmp_path / "w.csv")
    assert "labels that differ only in case: " in msg and "(and 4 more groups)" in msg
    assert "e.g. df['label'] = df['label'].str.lower()" in msg
    df["label"] = df["label"].str.lower()
    df.to_csv(tmp_path / "w.csv", index=False)
    assert load_data(DataConfig(path=str(tmp_path / "w.csv"), val_fraction=0.0), seed=0).classes == sorted(CLASSES)


def test_labels_that_are_numbers_or_missing_marks_form_no_case_group():
    assert case_groups(np.array(["1e3", "1E3", "nan", "NaN", "a", "b"])) == []
    assert case_groups(np.array(["a", "A", "b"])) == [["a", "A"]]


# ------------------------------------------------------------------ 2. a text label "nan"

def test_npz_text_labels_nan_and_none_are_missing_with_a_fix_that_drops_them(tmp_path):
    series, labels = _recordings()
    X, lengths = _padded(series)
    y = labels.astype(object)
    y[[3, 7]] = np.nan
    y[11] = None
    y = y.astype(str)  # what a user writes for missing labels: "nan", "None"
    np.savez(tmp_path / "d.npz", X=X, y=y, lengths=lengths)
    msg = _err(tmp_path / "d.npz")
    assert msg.startswith(f"data.path ({tmp_path / 'd.npz'}): 3 label(s) missing ('nan', 'None') at index [3, 7, 11]"), msg
    keep = re.search(r"e\.g\. (keep = .*)$", msg).group(1)
    _run(f"d = np.load('d.npz'); X, y, lengths = d['X'], d['y'], d['lengths']; {keep}; "
         "np.savez('kept.npz', X=X, y=y, lengths=lengths)", tmp_path)
    data = load_data(DataConfig(path=str(tmp_path / "kept.npz"), val_fraction=0.0), seed=0)
    assert len(data.train) == 37 and data.classes == sorted(CLASSES)


def test_csv_label_null_is_missing_by_its_line(tmp_path):
    (tmp_path / "d.csv").write_text("label,t0,t1,t2\nwalk,1,2,3\nNA,1,2,3\nrun,2,3,4\nnull,1,1,1\nwalk,3,2,1\n")
    msg = _err(tmp_path / "d.csv")
    assert "2 label(s) missing ('NA', 'null') in column 'label' on lines 3, 5; expected a class label" in msg


# ------------------------------------------------------------------ 3. a long table of several channels

def _long(series, labels, channels=CHANNELS) -> pd.DataFrame:
    parts = []
    for i, (s, y) in enumerate(zip(series, labels)):
        d = pd.DataFrame(s[:, [CHANNELS.index(c) for c in channels]], columns=channels)
        d.insert(0, "time", np.arange(len(s)))
        d.insert(0, "id", i)
        d["label"] = y
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def test_long_table_of_six_channels_gets_an_npz_recipe_that_runs(tmp_path):
    """Before: ``Pivot it, e.g. df.pivot(index="id", columns="time", values="value")``: no such column."""
    series, labels = _recordings(12)
    _long(series, labels).to_csv(tmp_path / "long.csv", index=False)
    msg = _err(tmp_path / "long.csv")
    assert "looks like a long table" in msg and "values=\"value\"" not in msg
    assert "A .csv holds one channel (a column per step): these 6 value columns " in msg
    code = msg.split("(import numpy as np, pandas as pd): ", 1)[1]
    _run(code.replace(str(tmp_path / "long.csv"), "long.csv"), tmp_path)
    X, y, lengths = load_file(tmp_path / "long.npz")
    assert lengths.tolist() == [len(s) for s in series] and y.tolist() == labels.tolist()
    for i, s in enumerate(series):
        np.testing.assert_allclose(X[i, :len(s)], s)
    assert load_data(DataConfig(path=str(tmp_path / "long.npz"), val_fraction=0.0), seed=0).channels == 6


def test_long_table_of_one_channel_gets_the_pivot_on_its_column_and_the_index_hint(tmp_path):
    series, labels = _recordings(12)
    df = _long(series, labels, ["acc_x"])
    df.to_csv(tmp_path / "long.csv", index=False)
    msg = _err(tmp_path / "long.csv")
    assert 'w = df.pivot(index="id", columns="time", values="acc_x")' in msg
    code = msg.split("Pivot it: ", 1)[1]
    _run("df = pd.read_csv('long.csv'); " + code, tmp_path)
    X, y, lengths = load_file(tmp_path / "long_wide.csv")
    assert lengths.tolist() == [len(s) for s in series] and y.tolist() == labels.tolist()
    np.testing.assert_allclose(X[0, :len(series[0]), 0], series[0][:, 0])
    # the pivot written with its index (the id): df.drop(columns=["id"]) cannot find it
    w = df.pivot(index="id", columns="time", values="acc_x")
    w["label"] = df.groupby("id")["label"].first()
    w.to_csv(tmp_path / "indexed.csv")
    msg = _err(tmp_path / "indexed.csv")
    assert "column 'id' is not a time step" in msg
    assert "df.to_csv(path, index=False) if 'id' is the DataFrame's index (as after df.pivot)" in msg
    w.to_csv(tmp_path / "indexed.csv", index=False)
    assert load_file(tmp_path / "indexed.csv")[2].tolist() == [len(s) for s in series]


# ------------------------------------------------------------------ 4. zero padding without lengths

def test_zero_padded_npz_without_lengths_is_refused_and_lengths_are_the_way_out(tmp_path):
    """Before: the same series padded to 899 steps scored 0.900, to 1200 0.883, without a word."""
    series, labels = _recordings()
    for steps in (300, 400):
        X, lengths = _padded(series, steps)
        np.savez(tmp_path / f"p{steps}.npz", X=X, y=labels)
        msg = _err(tmp_path / f"p{steps}.npz")
        short = int((lengths < steps).sum())
        assert f"X looks zero-padded: {short} of 40 sequences end in a run of steps where every channel is 0" in msg
        assert "add lengths [N]" in msg and f"save lengths of {steps} for every sequence" in msg
        np.savez(tmp_path / f"p{steps}.npz", X=X, y=labels, lengths=lengths)
        assert load_data(DataConfig(path=str(tmp_path / f"p{steps}.npz"), val_fraction=0.0), seed=0).train.lengths.tolist() \
            == lengths.tolist()
    # zeros that are data: lengths of T say so
    np.savez(tmp_path / "real.npz", X=X, y=labels, lengths=np.full(len(X), X.shape[1]))
    assert load_file(tmp_path / "real.npz")[0].shape == X.shape
    # new series to predict: the same error, by --data, without labels in its fix
    np.savez(tmp_path / "new.npz", X=X)
    with pytest.raises(DataError, match=r"^--data \(.*new\.npz\): X looks zero-padded: .*np\.savez\(path, X=X, lengths"):
        load_file(tmp_path / "new.npz", where="--data")
    # series that end in a few real zeros (a third of them at rest, 1 to 3 steps) are read as they are
    X = np.random.default_rng(1).standard_normal((40, 100, 3))
    for i in range(0, 40, 3):
        X[i, 100 - 1 - i % 3:] = 0
    np.savez(tmp_path / "rest.npz", X=X, y=np.array(["a", "b"] * 20))
    assert load_file(tmp_path / "rest.npz")[2].tolist() == [100] * 40


def test_no_bundled_set_reads_as_zero_padded(tmp_path):
    """Covid3Month's counts and digits_pixels' pixels end in zeros, but hold them throughout."""
    for name in bundled_names():
        for part in load_bundled(name):
            whole = part.lengths == part.X.shape[1]  # (a variable-length set's shorter series are padded)
            np.savez(tmp_path / "b.npz", X=part.X[whole])  # (X alone: as new series to predict)
            assert load_file(tmp_path / "b.npz", where="--data")[0].shape == part.X[whole].shape, name
    # a variable-length set saved without its lengths is the padding this refuses
    train, _ = load_bundled("JapaneseVowels")
    np.savez(tmp_path / "jv.npz", X=train.X, y=train.y)
    with pytest.raises(DataError, match="X looks zero-padded"):
        load_file(tmp_path / "jv.npz")


# ------------------------------------------------------------------ 5. NaN in an .npz

def test_npz_nan_error_gives_a_fill_that_works(tmp_path):
    series, labels = _recordings()
    X, lengths = _padded(series)
    X[25, 10:40, 3] = np.nan
    X[2, 5, 0] = np.inf
    np.savez(tmp_path / "d.npz", X=X, y=labels, lengths=lengths)
    msg = _err(tmp_path / "d.npz")
    assert "X has 31 non-finite values (NaN or inf) at [sample, step, channel] [2, 5, 0], [25, 10, 3]" in msg
    assert "; missing values are not accepted: fill or interpolate them, e.g. X[np.isinf(X)] = np.nan; X = " in msg
    code = msg.split("e.g. ", 1)[1]
    _run(f"d = dict(np.load('d.npz')); X = d['X']; {code}; d['X'] = X; np.savez('filled.npz', **d)", tmp_path)
    data = load_data(DataConfig(path=str(tmp_path / "filled.npz"), val_fraction=0.0), seed=0)
    assert np.isfinite(data.train.X).all()


def test_a_per_step_label_that_marks_a_missing_value_is_missing_not_a_class(tmp_path):
    import numpy as np

    from rnnlab.config import parse_config
    from rnnlab.data import load_data
    from rnnlab.errors import DataError
    from rnnlab.task import task_for

    y = np.array([["a", "b", "a", "b"]] * 6, dtype="<U3")
    y[2, 1] = "nan"
    np.savez(tmp_path / "tags.npz", X=np.random.default_rng(0).standard_normal((6, 4, 1)).astype(np.float32), y=y,
             lengths=np.full(6, 4))
    cfg = parse_config(f'[task]\nper_step = true\n[data]\npath = "{tmp_path / "tags.npz"}"\nval_fraction = 0\n')
    try:
        load_data(cfg.data, seed=0, task=task_for(cfg))
    except DataError as e:
        assert "1 missing label(s) ('nan') in valid steps at [sample, step] [2, 1]" in str(e), str(e)
    else:
        raise AssertionError("a 'nan' step label was read as a class")
