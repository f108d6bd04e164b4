"""``rnnlab predict RUN --data FILE`` and ``rnnlab.load_run(RUN).predict`` on series much shorter than
those the run trained on: one note says how many, their lengths and the training part's (predicting
them is extrapolation), and the check of the channels' level and scale leaves them out, where a few
steps' level and scale read as another unit; data really in another unit (x1000) are still warned of.
Real tiny runs on waves of 60 steps around 20 (a temperature), classification and regression."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_predict_cli import config, trained

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.data.stream import every_note
from rnnlab.rundir import RunDir
from rnnlab.task import task_for

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

STEPS = 60
OTHER_UNIT = "is like no channel of the training file"


def waves(n: int, seed: int) -> dict[str, np.ndarray]:
    """Series of STEPS steps around 20, one or three periods of a sine of amplitude 5 (the class,
    "slow" or "fast"; for regression its value, 1.0 or 3.0), a random phase, a little noise."""
    rng = np.random.default_rng(seed)
    fast = rng.integers(0, 2, n).astype(bool)
    t = np.arange(STEPS) / STEPS
    periods = np.where(fast, 3.0, 1.0)[:, None]
    X = 20 + 5 * np.sin(2 * np.pi * periods * t + rng.uniform(0, 2 * np.pi, (n, 1))) + rng.normal(0, 0.1, (n, STEPS))
    return {"X": X[:, :, None], "y": np.where(fast, "fast", "slow"), "values": periods[:, 0]}


@pytest.fixture(scope="module", params=["classification", "regression"])
def run(request, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp(request.param)
    data = waves(32, 0)
    y = data["values"] if request.param == "regression" else data["y"]
    np.savez(tmp / "train.npz", X=data["X"], y=y)
    task = 'kind = "regression"' if request.param == "regression" else ""
    return trained(tmp, config(tmp, f'path = "{tmp / "train.npz"}"', task=task, epochs=2))


def notes(call: Callable[[], object]) -> list[str]:
    """The warnings ``call`` gives, each said again however often the process said it before."""
    with every_note(), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in said]


def padded(windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Series of different lengths ([L, 1] each) as X [N, T, 1] padded with zeros, and their lengths."""
    lengths = np.array([len(w) for w in windows])
    X = np.zeros((len(windows), int(lengths.max()), 1))
    for i, w in enumerate(windows):
        X[i, : len(w)] = w
    return X, lengths


def test_series_shorter_than_the_training_ones_are_said_once_with_both_lengths(run, tmp_path, capsys):
    import rnnlab

    new = waves(5, 1)["X"]
    X, lengths = padded([new[0], new[1], new[2], new[3, 20:26], new[4, 30:39]])
    loaded = rnnlab.load_run(run)
    said = notes(lambda: loaded.predict(X, lengths))
    short = [s for s in said if "shorter than every series the run trained on" in s]
    assert len(short) == 1, said
    assert short[0].startswith("X: 2 of 5 series are shorter than every series the run trained on: 6 to 9 steps, "
                               f"the training part's {STEPS} ("), short[0]
    assert "their predictions are extrapolation" in short[0], short[0]
    assert not [s for s in said if OTHER_UNIT in s], said
    # as long as the training series (the shortest of them): nothing to say
    assert notes(lambda: loaded.predict(new[:2])) == []

    np.savez(tmp_path / "new.npz", X=X, lengths=lengths)
    capsys.readouterr()
    with every_note(), warnings.catch_warnings():
        warnings.simplefilter("always")  # (pytest -W ignore would silence the command's warning line)
        assert main(["predict", str(run), "--data", str(tmp_path / "new.npz"), "--out", str(tmp_path / "p.csv")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"rnnlab predict: warning: --data ({tmp_path / 'new.npz'}): 2 of 5 "
                                               "series are shorter than every series the run trained on: 6 to 9 "
                                               "steps"), err


def test_short_series_in_the_training_units_read_as_no_other_unit_but_x1000_still_does(run):
    import rnnlab

    loaded = rnnlab.load_run(run)
    new = waves(6, 2)["X"]
    X, lengths = padded([w[k:k + 6] for w, k in zip(new, range(0, 60, 10), strict=True)])
    assert not [s for s in notes(lambda: loaded.predict(X, lengths)) if OTHER_UNIT in s]
    # full-length series with short ones among them: the long ones alone are judged, as they are
    mixed, mixed_lengths = padded([new[0], new[1], new[2, :6], new[3, 30:37]])
    assert not [s for s in notes(lambda: loaded.predict(mixed, mixed_lengths)) if OTHER_UNIT in s]
    # in another unit: warned of, short series among them or not
    for x1000, n in ((new * 1000, None), (mixed * 1000, mixed_lengths)):
        said = [s for s in notes(lambda x=x1000, n=n: loaded.predict(x, n)) if OTHER_UNIT in s]
        assert len(said) == 1 and "scale 3" in said[0], said  # (the waves' std, 3.5, times 1000: 3.5e+03)


def test_without_its_training_data_a_run_still_says_its_short_series(run, tmp_path):
    import rnnlab

    data = run.parent / "train.npz"
    moved = tmp_path / "train.npz"
    data.rename(moved)
    try:
        loaded = rnnlab.load_run(run)
        new = waves(2, 3)["X"]
        said = notes(lambda: loaded.predict(new[:, :8]))
    finally:
        moved.rename(data)
    short = [s for s in said if "shorter than every series" in s]
    assert len(short) == 1 and "the training part's 60 (24 series)" in short[0], said


def test_the_training_lengths_are_those_of_the_runs_fold(tmp_path):
    from rnnlab.train.predict import training_lengths

    cfg = parse_config('[data]\ndataset = "GunPoint"\nval_fraction = 0.2')
    with RunDir.for_writing(tmp_path / "fold", new=True, fold={"k": 2, "index": 0, "seed": 0}) as fold_run:
        in_fold = training_lengths(fold_run, cfg, task_for(cfg))
    whole = training_lengths(RunDir(tmp_path), cfg, task_for(cfg))
    assert in_fold is not None and whole is not None
    assert (in_fold.count, whole.count) == (25, 40) and (in_fold.shortest, in_fold.longest) == (150, 150)
