"""A user's round on reading files: a ``.csv`` column outside the step columns' naming pattern (a
second target, an integer id) is refused by name, not read as a step; per-step labels padded with a
label (-1, -100) over all-zero X without ``lengths`` get the "add lengths" refusal; a per-step
regression ``.csv`` is refused in words for values; ``rnnlab predict --data``'s CSV errors start
with ``--data (FILE)`` as its other errors do."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.data.files import load_file
from rnnlab.errors import DataError
from rnnlab.task import PAD_LABEL, PER_STEP_CLASSIFICATION, PER_STEP_REGRESSION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """name = "c"
[task]
{task}
[data]
path = "{path}"
{data}
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
[tracking]
enabled = false
"""

STEPS = 10


def walks(n: int = 40, seed: int = 9) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, STEPS)).cumsum(axis=1)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def regression_csv(path: Path, subject: bool = False, mean_last: bool = True) -> tuple[Path, np.ndarray]:
    """The user's file: t0..t9, a second target ``mean_last`` (about 1000, where the steps are about
    0) and the target ``slope``; optionally an integer id ``subject`` (1000, 1001, ...) first."""
    S = walks()
    header = ([*(["subject"] if subject else []), *[f"t{i}" for i in range(STEPS)]]
              + (["mean_last"] if mean_last else []) + ["slope"])
    rows = [[*([1000 + i] if subject else []), *s, *([s[-3:].mean() * 10 + 1000] if mean_last else []), s[-1] - s[0]]
            for i, s in enumerate(S)]
    return write_csv(path, header, rows), S


def refused(path: Path, columns: str | list[str], where: str = "data.path") -> str:
    with pytest.raises(DataError) as e:
        load_file(path, columns, where)
    message = str(e.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------- 1. columns that are no steps


def test_a_second_target_beside_the_steps_is_refused_not_read_as_a_step(tmp_path, capsys):
    """Before, X came back [40, 11, 1], step 11 being mean_last (about 1000): the run trained, rc 0."""
    path, _ = regression_csv(tmp_path / "reg.csv")
    message = refused(path, ["slope"])
    assert message.startswith(f"data.path ({path}): column 'mean_last' is not a time step")
    assert "the steps are named t0 .. t9" in message and "df.drop(columns=['mean_last'])" in message
    assert "data.target_column = ['slope', 'mean_last']" in message  # or name it as a second target
    both = load_file(path, ["slope", "mean_last"])  # as it says: then both are targets and t0..t9 the steps
    assert both[0].shape == (40, STEPS, 1) and both[1].shape == (40, 2)
    # the command the user ran: one line, no run trained
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(task='kind = "regression"', path=path, data='target_column = "slope"'))
    one_line_error(["train", str(cfg), "--out", str(tmp_path / "run")], capsys,
                   (f"data.path ({path}): column 'mean_last' is not a time step",))
    assert not (tmp_path / "run" / "summary.json").exists()


def test_an_integer_id_column_is_refused_and_the_steps_alone_are_read_once_dropped(tmp_path):
    """Before, ``subject`` (1000..1039) was step 0 of every series."""
    path, _ = regression_csv(tmp_path / "sub.csv", subject=True, mean_last=False)
    message = refused(path, ["slope"])
    assert "column 'subject' is not a time step" in message and "df.drop(columns=['subject'])" in message
    both = refused(regression_csv(tmp_path / "both.csv", subject=True)[0], ["slope"])
    assert "columns ['subject', 'mean_last'] are not time steps" in both
    dropped, S = regression_csv(tmp_path / "steps.csv", mean_last=False)
    X, y, lengths = load_file(dropped, ["slope"])
    np.testing.assert_allclose(X[:, :, 0], S)  # the steps, exactly, and nothing else
    assert lengths.tolist() == [STEPS] * 40
    # a classification file: the same, with the label key as the other way out
    labels = write_csv(tmp_path / "cls.csv", ["label", "subject", *[f"step_{i}" for i in range(STEPS)]],
                       [["up" if s[-1] > 0 else "down", 7, *s] for s in S])
    message = refused(labels, "label")
    assert "column 'subject' is not a time step" in message and "'step_' and a number" in message
    assert "set data.label_column" in message


def test_headers_of_one_pattern_or_of_none_still_read_and_pandas_numbers_are_a_pattern(tmp_path):
    S = walks(12)
    numbers = [str(i) for i in range(STEPS)]  # pandas's names for a DataFrame's columns
    rows = [["a", *s, 3.5] for s in S]
    message = refused(write_csv(tmp_path / "n.csv", ["label", *numbers, "slope"], rows), "label")
    assert "column 'slope' is not a time step (the steps are named 0 .. 9, numbers" in message
    X, _, _ = load_file(write_csv(tmp_path / "ok.csv", ["label", *numbers], [r[:-1] for r in rows]))
    np.testing.assert_allclose(X[:, :, 0], S)
    # names in no pattern: every column but the label is a step, as before
    free = write_csv(tmp_path / "free.csv", ["label", "a", "b", "c", "d"], [["x", 1, 2, 3, 4], ["y", 5, 6, 7, 8]])
    assert load_file(free)[0][:, :, 0].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_predict_csv_errors_start_with_the_data_flag_as_its_other_errors_do(tmp_path, capsys):
    """Before: ``rnnlab predict: error: FILE: column 'id' is not a time step`` (no ``--data``)."""
    S = walks(24)
    train = write_csv(tmp_path / "train.csv", ["label", *[f"t{i}" for i in range(STEPS)]],
                      [["up" if s[-1] > s[0] else "down", *s] for s in S])
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(task="", path=train, data=""))
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 0
    new = write_csv(tmp_path / "new_id.csv", ["id", *[f"t{i}" for i in range(STEPS)]],
                    [[f"s{i}", *s] for i, s in enumerate(S)])
    one_line_error(["predict", str(run), "--data", str(new)], capsys,
                   (f"rnnlab predict: error: --data ({new}): column 'id' is not a time step",), kept=run,
                   new_files=False)
    extra = write_csv(tmp_path / "new_extra.csv", [*[f"t{i}" for i in range(STEPS)], "score"],
                      [[*s, 1.0] for s in S])
    line = one_line_error(["predict", str(run), "--data", str(extra)], capsys,
                          (f"--data ({extra}): column 'score' is not a time step",), kept=run, new_files=False)
    assert "data.label_column" not in line  # (new series: a run's key is no way out)


# --------------------------------------------------------------- 2. padding labels without lengths


def tagged(n: int = 60, steps: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The user's tagging file: X [n, steps, 2] normal, labels 0..2 by X, lengths 10..steps."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, 2))
    y = np.digitize(X[:, :, 0], [-0.5, 0.5]).astype(np.int64)
    return X, y, rng.integers(10, steps + 1, n)


def padded(pad: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y, lengths = tagged(seed=seed)
    past = np.arange(X.shape[1])[None, :] >= lengths[:, None]
    X[past] = 0.0
    return X, np.where(past, pad, y), lengths


def per_step(tmp_path: Path, name: str, **arrays: np.ndarray):
    np.savez(tmp_path / name, **arrays)
    return load_data(DataConfig(path=str(tmp_path / name)), seed=0, task=PER_STEP_CLASSIFICATION)


def ragged(tmp_path: Path, **arrays: np.ndarray) -> str:
    with pytest.raises(DataError) as e:
        per_step(tmp_path, "nolen.npz", **arrays)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"data.path ({tmp_path / 'nolen.npz'}): y looks ragged")
    return message


def test_labels_padded_with_minus_one_over_zero_X_without_lengths_say_add_lengths(tmp_path):
    """Before: -1 became a 4th class on the padded steps, trained and scored."""
    X, y, lengths = padded(-1)
    short = int((lengths < X.shape[1]).sum())
    message = ragged(tmp_path, X=X, y=y)
    assert f"{short} sequence(s) end in label -1 over all-zero X rows" in message and "add lengths [N]" in message
    assert "save lengths of 30 for every sequence" in message  # the way out for steps that are real
    d = per_step(tmp_path, "len.npz", X=X, y=y, lengths=lengths)  # with lengths: three classes, no -1
    assert d.classes == ["0", "1", "2"]
    # padding with 0, a real class, is read the same way
    assert "end in label 0 over all-zero X rows" in ragged(tmp_path, X=X, y=np.where(y == -1, 0, y))
    # real data whose last steps are one label over non-zero X is no padding
    X2, y2, _ = tagged()
    y2[:, -8:] = 2
    assert per_step(tmp_path, "real.npz", X=X2, y=y2).classes == ["0", "1", "2"]
    # nor are all-zero steps of one label ending a single sequence, or every sequence alike
    one = X2.copy()
    one[0, -3:] = 0.0
    assert per_step(tmp_path, "one.npz", X=one, y=y2).classes == ["0", "1", "2"]
    alike = X2.copy()
    alike[:, -3:] = 0.0
    assert per_step(tmp_path, "alike.npz", X=alike, y=y2).classes == ["0", "1", "2"]
    # lengths of T in the file: the user says the zero steps are real, and -1 is then a class
    full = per_step(tmp_path, "full.npz", X=X, y=y, lengths=np.full(len(X), X.shape[1]))
    assert full.classes == ["-1", "0", "1", "2"]


def test_minus_100_padding_without_lengths_is_refused_as_input_and_read_with_lengths(tmp_path):
    """-100 (the README's marker) kept padded steps out of the loss but fed their zero X rows to
    the model as steps, without a word; with lengths they are out of both."""
    X, y, lengths = padded(PAD_LABEL, seed=2)
    message = ragged(tmp_path, X=X, y=y)
    assert "end in label -100 over all-zero X rows, unscored (-100) but still read as input" in message
    d = per_step(tmp_path, "len.npz", X=X, y=y, lengths=lengths)
    assert d.classes == ["0", "1", "2"] and sorted(set(d.train.lengths.tolist())) != [X.shape[1]]
    # -100 inside sequences, or at their end over real X, marks a step without a target, as the README says
    X2, y2, _ = tagged(seed=2)
    y2[:, -4:] = PAD_LABEL
    y2[:, 3] = PAD_LABEL
    s = per_step(tmp_path, "ignored.npz", X=X2, y=y2)
    assert (s.train.y[:, -4:] == PAD_LABEL).all() and (s.train.y[:, 3] == PAD_LABEL).all()


def test_text_labels_padded_with_a_word_over_zero_X_say_add_lengths(tmp_path):
    X, y, _ = padded(-1, seed=3)
    words = np.where(y == -1, "PAD", np.array(["low", "mid", "high"])[np.clip(y, 0, 2)])
    assert "end in label 'PAD' over all-zero X rows" in ragged(tmp_path, X=X, y=words)


# --------------------------------------------------------------- 3. per-step regression from a .csv


def test_a_per_step_regression_csv_is_refused_in_words_for_values(tmp_path):
    path, _ = regression_csv(tmp_path / "reg.csv")
    with pytest.raises(DataError) as e:
        load_data(DataConfig(path=str(path), target_column="slope"), seed=0, task=PER_STEP_REGRESSION)
    message = str(e.value)
    assert "y [N, T] or [N, T, K] values" in message and "a .csv row holds one value per target column" in message
    assert "label" not in message
    with pytest.raises(DataError, match=r"y \[N, T\] labels, optional lengths \[N\]\); a .csv row holds one label"):
        load_data(DataConfig(path=str(path)), seed=0, task=PER_STEP_CLASSIFICATION)
