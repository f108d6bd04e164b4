"""A file's channels in another order than the training file's are refused in one line (data.test_path,
``rnnlab predict --data``, the estimator's predict: one check), a channel unlike any training channel
is warned of, and neither fires on a test split of the training split's distribution; the estimator
reads labels as the command's file reader does; the input-scale warning names its channels."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from test_doctor_round6 import doctor, small_config
from test_predict_cli import config, trained

from rnnlab.cli import main
from rnnlab.config import DataConfig
from rnnlab.data import InputScaling, load_bundled, load_data
from rnnlab.doctor.checks import Observations, Thresholds, input_scale
from rnnlab.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: The tester's sensor layout (/tmp/u181/gen.py): acc_z in thousands around 9810, gyro_y near 1e-3.
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
GYRO_FIRST = [3, 4, 5, 0, 1, 2]


def sensors(n: int, seed: int, T: int = 40) -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(seed)
    y = r.integers(0, 2, n)
    t = np.arange(T) / 10.0
    X = np.sin(2 * np.pi * (1 + y[:, None, None]) * t[None, :, None] + r.uniform(0, 6, (n, 1, 6)))
    X = X * (0.5 + y[:, None, None]) + 0.2 * r.standard_normal((n, T, 6))
    X[:, :, 2] = 1000 * (9.81 + X[:, :, 2])
    X[:, :, 4] *= 0.001
    return X, np.array(["walk", "sit"])[y]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sensors")
    X, y = sensors(40, 0)
    np.savez(d / "train.npz", X=X, y=y)
    X, y = sensors(20, 1)
    np.savez(d / "test.npz", X=X, y=y)
    np.savez(d / "gyro_first.npz", X=X[:, :, GYRO_FIRST], y=y)
    other = X.copy()
    other[:, :, 2] = 25 + np.random.default_rng(2).standard_normal(other.shape[:2])  # not acc_z: another quantity
    np.savez(d / "other.npz", X=other, y=y)
    return d


def test_a_test_file_in_another_channel_order_is_refused_naming_the_channels_and_the_fix(files):
    load_data(DataConfig(path=str(files / "train.npz"), test_path=str(files / "test.npz")), seed=0)  # as trained
    with pytest.raises(DataError) as e:
        load_data(DataConfig(path=str(files / "train.npz"), test_path=str(files / "gyro_first.npz")), seed=0)
    said = str(e.value)
    assert "\n" not in said and said.startswith(f"data.test_path ({files / 'gyro_first.npz'}): channels ")
    assert "look swapped" in said and "reorder the file's channels as the training file's: X[:, :, [" in said
    # acc_z (training channel 2) is the file's channel 5; gyro_y (4) its channel 1
    order = [int(v) for v in said.split("X[:, :, [")[1].split("]")[0].split(",")]
    assert order[2] == 5 and order[4] == 1, said


def test_a_channel_of_another_kind_is_warned_of_with_its_figures(files):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_data(DataConfig(path=str(files / "train.npz"), test_path=str(files / "other.npz")), seed=0)
    text = [str(w.message) for w in said if "is like no channel" in str(w.message)]
    assert len(text) == 1 and "channel 2 is like no channel of the training file" in text[0], [str(w.message) for w in said]
    assert "level 25" in text[0] and "level 9.8" in text[0], text[0]


@pytest.mark.parametrize("name", ["BasicMotions", "JapaneseVowels", "digits_rows", "CardanoSentiment", "delayed_copy"])
def test_a_bundled_test_split_and_each_of_its_series_pass_the_check(name):
    train, test = load_bundled(name)
    scaling = InputScaling.fit("per_series", False, train.X, train.lengths)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaling.check_channels(test.X, test.lengths, name)
        for k in range(0, len(test), max(1, len(test) // 60)):  # a file of one series: the noisiest figures
            scaling.check_channels(test.X[k:k + 1], test.lengths[k:k + 1], f"{name} series {k}")


def test_rnnlab_predict_refuses_another_order_and_predicts_the_same_order(files, tmp_path, capsys):
    run = trained(tmp_path, config(tmp_path, f'path = "{files / "train.npz"}"', epochs=1))
    assert main(["predict", str(run), "--data", str(files / "test.npz"), "--out", str(tmp_path / "p.csv")]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "--data", str(files / "gyro_first.npz"), "--out", str(tmp_path / "q.csv")]) != 0
    err = capsys.readouterr().err
    assert "look swapped" in err and "reorder the file's channels" in err and "Traceback" not in err, err
    assert not (tmp_path / "q.csv").exists()


def test_a_checkpoint_record_without_the_levels_loads_and_checks_nothing(files):
    X, _ = sensors(10, 0)
    state = InputScaling.fit("per_series", True, X, np.full(10, 40)).state()
    del state["levels"]  # (a record written before it was kept)
    old = InputScaling.from_state(state)
    assert old.levels is None
    old.check_channels(X[:, :, GYRO_FIRST], np.full(10, 40), "x")


def test_the_estimator_keeps_labels_exactly_and_refuses_another_channel_order():
    pytest.importorskip("aeon")
    from rnnlab import RNNClassifier
    from rnnlab.estimators import FAST

    X, y = sensors(24, 0)
    y = np.where(np.arange(24) % 3 == 0, np.char.add(" ", y), y)  # ' walk' beside 'walk', as the tester's labels
    clf = RNNClassifier(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X.transpose(0, 2, 1), y)
    assert clf.classes_.tolist() == np.unique(y).tolist()  # (as scikit-learn's: its scorers compare with y)
    got = clf.predict(X.transpose(0, 2, 1))
    assert set(got.tolist()) <= set(clf.classes_.tolist())
    assert clf.predict_proba(X.transpose(0, 2, 1)).shape == (24, len(np.unique(y)))
    assert 0.0 <= clf.score(X.transpose(0, 2, 1), y) <= 1.0
    with pytest.raises(DataError, match=r"^X: channels .* look swapped: .*reorder X's channels as fit's: X\[:, \["):
        clf.predict(X[:, :, GYRO_FIRST].transpose(0, 2, 1))


def test_the_input_scale_warning_names_the_channels_far_from_unit_scale(tmp_path, capsys):
    X, y = sensors(20, 0)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    cfg = small_config(tmp_path, 'normalize = "none"\nseries_scale = false\n[model]\nlayer = "lstm"\nhidden_size = 8\n'
                                 'recurrent_batch_norm = false\n[model.head]\nfrontend_pooling = "none"')
    out = doctor(capsys, cfg)
    line = next(t for t in out.splitlines() if "Inputs far from unit scale: root mean square" in t)
    assert "channel 2: " in line and "channel 4: " in line and "channel 0:" not in line, line
    obs = Observations(steps=0, input_scale=4030.0, input_channel_scales=[0.7, 9870.0, 1e-3],
                       input_channel_names=["acc_x", "acc_z", "gyro_y"])
    assert input_scale(obs, Thresholds())[0].title.endswith("(acc_z: 9.87e+03, gyro_y: 0.001)")
