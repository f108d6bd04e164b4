"""The training part's series lengths (shortest, longest, count) are recorded with the run's input
scaling in its checkpoints, so ``rnnlab.load_run(run).predict`` says series shorter than every training
series without the run's data file; and one check (``InputScaling.check_channels``) leaves such series
out of the channels' level-and-scale comparison, and says them in one note, for ``rnnlab predict``,
``data.test_path`` and the estimators alike, while data really in another unit (x1000) is still warned of.
Tiny data: waves of 60 steps around 20 (a temperature)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_predict_cli import config, trained

from rnnlab.config import DataConfig, parse_config
from rnnlab.data import InputScaling, load_data
from rnnlab.data.stream import every_note
from rnnlab.rundir import RunDir
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS = 60
OTHER_UNIT = "is like no channel of the training file"
SHORT = "shorter than every series the run trained on"


def waves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X [n, STEPS, 1] around 20, one or three periods of a sine of amplitude 5 (labels "slow",
    "fast"), a random phase, a little noise."""
    rng = np.random.default_rng(seed)
    fast = rng.integers(0, 2, n).astype(bool)
    t = np.arange(STEPS) / STEPS
    periods = np.where(fast, 3.0, 1.0)[:, None]
    X = 20 + 5 * np.sin(2 * np.pi * periods * t + rng.uniform(0, 2 * np.pi, (n, 1))) + rng.normal(0, 0.1, (n, STEPS))
    return X[:, :, None], np.where(fast, "fast", "slow")


def windows(X: np.ndarray, steps: int) -> np.ndarray:
    """A window of ``steps`` steps of each series of ``X``, each at another offset."""
    return np.stack([x[k:k + steps] for x, k in zip(X, range(0, STEPS - steps, 7), strict=False)])


def notes(call: Callable[[], object]) -> list[str]:
    """The warnings ``call`` gives, each said again however often the process said it before."""
    with every_note(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in said]


def test_the_lengths_are_recorded_and_read_back_and_an_older_record_loads_without_them():
    X, _ = waves(5, 0)
    scaling = InputScaling.fit("per_channel", False, X, np.array([60, 40, 60, 55, 60]))
    state = scaling.state()  # (as RunFit.state, so every checkpoint, keeps it)
    assert state["train_lengths"] == {"shortest": 40, "longest": 60, "count": 5}  # (three integers, not 5 lengths)
    from rnnlab.data.normalize import TrainLengths

    assert scaling.train_lengths == InputScaling.from_state(state).train_lengths == TrainLengths(40, 60, 5)
    del state["train_lengths"]  # (a record written before they were kept)
    assert InputScaling.from_state(state).train_lengths is None
    with pytest.raises(ValueError, match="^'train_lengths': expected"):
        InputScaling.from_state({**scaling.state(), "train_lengths": {"shortest": 0, "longest": 60, "count": 5}})


def test_a_run_whose_data_file_is_deleted_still_says_its_short_series_by_its_record(tmp_path):
    import rnnlab
    from rnnlab.train.predict import training_lengths

    X, y = waves(32, 0)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    run = trained(tmp_path, config(tmp_path, f'path = "{tmp_path / "train.npz"}"', epochs=1))
    cfg = parse_config((run / "config.toml").read_text())
    reloaded = training_lengths(RunDir(run), cfg, task_for(cfg))  # (no record given: read again from its data)

    (tmp_path / "train.npz").unlink()
    loaded = rnnlab.load_run(run)
    new, _ = waves(3, 1)
    said = notes(lambda: loaded.predict(windows(new, 8)))
    assert [s for s in said if SHORT in s] == [  # (24: the 32 series less val_fraction 0.25)
        "X: 3 of 3 series are shorter than every series the run trained on: 8 steps, the training part's 60 "
        "(24 series); their predictions are extrapolation, from fewer steps than the model ever read; the check of "
        "the channels' level and scale leaves them out (a few steps' level and scale are not their series')"], said
    assert not [s for s in said if OTHER_UNIT in s], said
    from rnnlab.data.normalize import TrainLengths

    assert reloaded == training_lengths(RunDir(run), cfg, task_for(cfg), loaded._fit) == TrainLengths(60, 60, 24)
    # a run recorded before the lengths were kept, its data gone: nothing to judge by (no error)
    older = replace(loaded._fit, inputs=replace(loaded._fit.inputs, train_lengths=None))
    assert training_lengths(RunDir(run), cfg, task_for(cfg), older) is None


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("waves")
    X, y = waves(32, 0)
    np.savez(d / "train.npz", X=X, y=y)
    X, y = waves(8, 3)
    short = windows(X, 6)
    np.savez(d / "short.npz", X=short, y=y[:len(short)])
    np.savez(d / "x1000.npz", X=X * 1000, y=y)
    mixed = np.zeros((4, STEPS, 1))
    mixed[:2], mixed[2:, :6] = X[:2], short[:2]
    np.savez(d / "mixed_x1000.npz", X=mixed * 1000, y=y[:4], lengths=np.array([STEPS, STEPS, 6, 6]))
    return d


def test_a_test_file_of_short_series_in_the_training_unit_reads_as_no_other_unit_but_x1000_still_does(files):
    def loaded(name: str) -> list[str]:
        cfg = DataConfig(path=str(files / "train.npz"), test_path=str(files / name), val_fraction=0.25)
        return notes(lambda: load_data(cfg, seed=0))

    said = loaded("short.npz")
    assert not [s for s in said if OTHER_UNIT in s], said
    assert [s for s in said if SHORT in s] == [
        f"data.test_path ({files / 'short.npz'}): 8 of 8 series are shorter than every series the run trained on: "
        "6 steps, the training part's 60 (24 series); their predictions are extrapolation, from fewer steps than the "
        "model ever read; the check of the channels' level and scale leaves them out (a few steps' level and scale "
        "are not their series')"], said
    for name in ("x1000.npz", "mixed_x1000.npz"):  # (the full-length ones judged, short ones among them or not)
        said = loaded(name)
        assert len([s for s in said if OTHER_UNIT in s]) == 1, said


def test_the_note_of_a_per_step_run_says_no_extrapolation():
    from rnnlab.data.normalize import TrainLengths

    X, _ = waves(4, 0)
    scaling = InputScaling.fit("per_channel", False, X, np.full(4, STEPS))
    said = notes(lambda: scaling.check_channels(X[:, :6], np.full(4, 6), "X", per_step=True))
    assert len(said) == 1 and said[0].startswith("X: 4 of 4 series are shorter") and "extrapolation" not in said[0]
    # a record without them (from before): the few steps are judged, and read as another unit, unless
    # the caller gives the lengths (read again from the run's data), which are then those judged by
    older = replace(scaling, train_lengths=None)
    for given in (None, TrainLengths(6, 60, 9)):
        said = notes(lambda t=given: older.check_channels(X[:, :6], np.full(4, 6), "X", trained=t))
        assert len(said) == 1 and OTHER_UNIT in said[0], said
    said = notes(lambda: older.check_channels(X[:, :6], np.full(4, 6), "X", trained=TrainLengths(7, 60, 9)))
    assert len(said) == 1 and "the training part's 7 to 60 (9 series)" in said[0], said


def test_the_estimators_predict_leaves_short_series_out_and_says_them_but_warns_of_x1000():
    pytest.importorskip("aeon")
    from rnnlab import RNNClassifier
    from rnnlab.estimators import FAST

    X, y = waves(32, 0)
    clf = RNNClassifier(hidden_size=4, steps=2, params=FAST, random_state=0).fit(X.transpose(0, 2, 1), y)
    new, labels = waves(8, 4)
    short = windows(new, 6).transpose(0, 2, 1)
    said = notes(lambda: clf.predict(short))
    assert not [s for s in said if OTHER_UNIT in s], said
    assert [s for s in said if SHORT in s and s.startswith("X: 8 of 8 series") and "6 steps" in s], said
    said = notes(lambda: clf.score(short, labels[:len(short)]))  # (score predicts: the same check)
    assert not [s for s in said if OTHER_UNIT in s] and [s for s in said if SHORT in s], said
    said = notes(lambda: clf.predict(new.transpose(0, 2, 1) * 1000))
    assert len([s for s in said if OTHER_UNIT in s]) == 1, said
