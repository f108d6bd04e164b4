"""Per-step data, round 3: a rare per-step class stays in the training part of every hold-out and
fold (and rare classes spread over the folds); NaN or missing-label padding without ``lengths``
gets the "add lengths" hint; regression targets near float64's limit standardize and come back;
the task says how it splits (a search's "5 stratified folds")."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import Fold, load_data
from rnnlab.errors import DataError
from rnnlab.task import (
    CLASSIFICATION,
    FORECASTING,
    LANGUAGE_MODEL,
    PER_STEP_CLASSIFICATION,
    PER_STEP_REGRESSION,
    REGRESSION,
    RegressionTally,
    TargetScale,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

ACTIVITIES = np.array(["sit", "walk", "run"])


def activities(n: int = 60, steps: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step activity labels in runs of 5-19 steps (as the user's accelerometer file), X [N, T, 3]."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, steps, 3))
    y = np.full((n, steps), "", dtype="<U5")
    lengths = rng.integers(20, steps + 1, n)
    for i in range(n):
        t = 0
        while t < lengths[i]:
            a, d = rng.integers(3), rng.integers(5, 20)
            y[i, t:min(lengths[i], t + d)] = ACTIVITIES[a]
            X[i, t:min(lengths[i], t + d)] = rng.normal(a, 0.3, 3)
            t += d
    return X, y, lengths


def save(tmp_path, name: str, **arrays: np.ndarray) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def steps_of(split, classes: list[str], label: str) -> int:
    return int((split.y == classes.index(label)).sum())


# ---------------------------------------------------------------- 1. a rare class stays in training


def test_a_class_of_one_sequence_is_trained_on_in_every_hold_out_and_fold(tmp_path):
    """The user's case: class "fall" only in the first 10 steps of sequence 3. Before, seed 1's
    hold-out put all of it in validation (an output that never sees an example, its steps
    certain errors); now every hold-out and every fold trains on it and validates none of it."""
    X, y, lengths = activities()
    y[3, :10] = "fall"
    path = save(tmp_path, "oneseq.npz", X=X, y=y, lengths=lengths)
    cfg = DataConfig(path=path, val_fraction=0.2)
    for seed in range(12):
        d = load_data(cfg, seed=seed, task=PER_STEP_CLASSIFICATION)
        assert steps_of(d.train, d.classes, "fall") == 10, seed
        assert steps_of(d.val, d.classes, "fall") == 0 and len(d.val) >= 10, seed
    for seed in range(3):
        folds = [load_data(cfg, seed=0, fold=Fold(5, i, seed), task=PER_STEP_CLASSIFICATION) for i in range(5)]
        assert [steps_of(f.train, f.classes, "fall") for f in folds] == [10] * 5
        assert all(len(f.val) >= 10 for f in folds)


def test_every_class_stays_in_training_even_when_its_few_sequences_would_all_be_held_out(tmp_path):
    """Classes held by 2 or 3 sequences each (never the rarest of all): across seeds and folds,
    the training part holds every class of the file."""
    X, y, lengths = activities(n=40, seed=2)
    for cls, rows in (("fall", [1, 2]), ("jump", [2, 5, 7]), ("lie", [5, 9])):
        y[rows, 12:15] = cls
    path = save(tmp_path, "rare.npz", X=X, y=y, lengths=lengths)
    cfg = DataConfig(path=path, val_fraction=0.3)
    parts = [load_data(cfg, seed=s, task=PER_STEP_CLASSIFICATION) for s in range(10)]
    parts += [load_data(cfg, seed=0, fold=Fold(k, i, s), task=PER_STEP_CLASSIFICATION)
              for k in (2, 3, 5) for i in range(k) for s in range(2)]
    for d in parts:
        assert set(np.unique(d.train.y[d.train.y >= 0])) == set(range(len(d.classes)))


def test_keep_every_class_returns_only_what_a_missing_class_needs():
    """Held out: 1, 2, 3; class 1 only in 2 and class 2 in 3 and 4 (4 trains): only 2 goes back."""
    from rnnlab.data.folds import keep_every_class

    present = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1]], dtype=bool)
    assert keep_every_class(np.array([1, 2, 3]), present).tolist() == [1, 3]
    assert keep_every_class(np.array([3, 4]), present).tolist() == [4]  # class 2: one of 3, 4 back
    assert keep_every_class(np.array([0, 1]), present).tolist() == [0, 1]  # class 0 trains in 2, 3, 4


def test_a_rare_per_step_class_is_spread_over_the_folds(tmp_path):
    """A class held by 10 of 50 sequences: stratified on each sequence's rarest class, each of 5
    folds validates 2 of them (a random draw of sequences gave some folds none, others 4)."""
    X, y, lengths = activities(n=50, seed=3)
    y[:10, 2:6] = "fall"
    path = save(tmp_path, "ten.npz", X=X, y=y, lengths=lengths)
    for seed in range(4):
        counts = []
        for i in range(5):
            d = load_data(DataConfig(path=path), seed=0, fold=Fold(5, i, seed), task=PER_STEP_CLASSIFICATION)
            counts.append(int((d.val.y == d.classes.index("fall")).any(axis=1).sum()))
        assert counts == [2] * 5, (seed, counts)


def test_per_step_strata_keep_groups_large_enough_for_five_folds():
    """A guard for the search's plan (k never above the smallest stratum): ordinary per-step data,
    whose rarest-class groups can be tiny, still gets groups of at least 5 sequences."""
    _, y, lengths = activities(n=60, seed=1)
    codes = np.where(y == "", -100, np.searchsorted(np.sort(ACTIVITIES), y))
    codes[3, :10] = 3  # a class of one sequence
    strata = PER_STEP_CLASSIFICATION.strata(codes)
    assert np.bincount(strata).min() >= 5 and len(np.unique(strata)) >= 2
    assert PER_STEP_REGRESSION.strata(np.zeros((7, 4, 1))).tolist() == [0] * 7


# ---------------------------------------------------------------- 2. padding without lengths


def ragged_error(tmp_path, task=PER_STEP_CLASSIFICATION, **arrays: np.ndarray) -> str:
    path = save(tmp_path, "nolen.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_data(DataConfig(path=path), seed=0, task=task)
    message = str(e.value)
    assert "\n" not in message and "nolen.npz" in message
    return message


def padded(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y, lengths = activities(seed=seed)
    X[np.arange(X.shape[1])[None, :] >= lengths[:, None]] = np.nan
    return X, y, lengths


def test_per_step_nan_and_empty_label_padding_without_lengths_says_add_lengths(tmp_path):
    """Before: "y has ... missing label(s) (empty) in valid steps" and, with y filled, "X has ...
    non-finite values": neither said the file lacks lengths."""
    X, y, lengths = padded()
    short = int((lengths < X.shape[1]).sum())
    both = ragged_error(tmp_path, X=X, y=y)
    assert f"X and y look ragged: {short} sequence(s) end in NaN in X and empty labels in y" in both
    assert "add lengths [N]" in both and "may then hold anything, NaN included" in both
    filled = np.where(y == "", "sit", y)
    assert f"X looks ragged: {short} sequence(s) end in NaN padding" in ragged_error(tmp_path, X=X, y=filled)
    only_y = ragged_error(tmp_path, X=np.nan_to_num(X), y=y)
    assert f"y looks ragged: {short} sequence(s) end in empty labels" in only_y and "add lengths [N]" in only_y
    # the same file with its lengths loads
    assert len(load_data(DataConfig(path=save(tmp_path, "len.npz", X=X, y=y, lengths=lengths)), seed=0,
                         task=PER_STEP_CLASSIFICATION).train) == 48


def test_per_step_values_padded_with_nan_without_lengths_say_add_lengths(tmp_path):
    X, _, lengths = padded(seed=4)
    values = np.where(np.isnan(X[:, :, :1]), np.nan, np.arange(X.shape[1])[None, :, None] + 0.5)
    message = ragged_error(tmp_path, PER_STEP_REGRESSION, X=np.nan_to_num(X), y=values)
    assert "y looks ragged" in message and "end in NaN (or inf) values" in message and "add lengths [N]" in message


def test_a_gap_inside_a_sequence_is_no_padding(tmp_path):
    X, y, _ = activities(seed=5)
    y = np.where(y == "", "sit", y)  # every sequence of full length
    y[2, 5] = ""  # a missing label between two labelled steps
    message = ragged_error(tmp_path, X=X, y=y)
    assert "ragged" not in message and "missing label(s) (empty) in valid steps at [sample, step] [2, 5]" in message


def test_the_hint_says_what_the_padding_may_hold(tmp_path):
    """Per sequence too: the hint said "pad with any finite value", while NaN padding with lengths works."""
    from rnnlab.data import check_ragged  # what `rnnlab predict --data` may call

    X = np.zeros((6, 5, 1))
    X[:3, 3:] = np.nan
    message = ragged_error(tmp_path, CLASSIFICATION, X=X, y=np.array([0, 1] * 3))
    assert "X looks ragged: 3 sequence(s) end in NaN padding (first: sample 0)" in message
    assert "finite value" not in message and "NaN included" in message
    with pytest.raises(DataError, match="no 'lengths' gives the true lengths .each sequence is read as all 5 steps."):
        check_ragged(X, "--data (new.npz)")
    check_ragged(np.zeros((2, 3, 1)), "--data (new.npz)")  # nothing padded: nothing to say


# ---------------------------------------------------------------- 3. very large regression targets


@pytest.mark.parametrize("size", [1e160, 1e300])
def test_very_large_targets_standardize_and_come_back(size):
    """Before: std = inf (the squares overflowed), every standardized target 0, predictions inf."""
    y = np.array([[1.0], [2.0], [4.0], [-3.0]]) * size
    scale = TargetScale.fit(y)
    assert np.isfinite(scale.std).all() and scale.std[0] == pytest.approx(np.std(y / size) * size, rel=1e-12)
    standardized = scale.apply(y)
    assert np.isfinite(standardized).all() and standardized.std() == pytest.approx(1.0, rel=1e-6)
    assert scale.restore(standardized) == pytest.approx(y, rel=1e-6)
    per_step = TargetScale.fit(np.array([[[1.0], [np.nan]], [[3.0], [5.0]]]) * size)
    assert per_step.mean[0] == pytest.approx(3 * size) and np.isfinite(per_step.std).all()


@pytest.mark.parametrize("size", [1e160, 1e300])
def test_large_targets_train_and_score_in_the_datas_units(tmp_path, size):
    """load_data standardizes them to finite values, and the tally's RMSE in the data's units is the
    small targets' RMSE times the size (before: inf, the squared errors overflowing)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6, 1))
    y = X[:, :, 0].mean(axis=1) * 3 + 5
    d = load_data(DataConfig(path=save(tmp_path, "r.npz", X=X, y=y * size)), seed=0, task=REGRESSION)
    small = load_data(DataConfig(path=save(tmp_path, "s.npz", X=X, y=y)), seed=0, task=REGRESSION)
    assert np.isfinite(d.train.y).all() and d.train.y == pytest.approx(small.train.y, abs=1e-5)
    import torch

    tallies = []
    for data in (d, small):
        t = RegressionTally(data.targets)
        t.add(torch.as_tensor(data.val.y) + 0.25, torch.as_tensor(data.val.y))
        tallies.append(t.result())
    assert tallies[0]["rmse"] == pytest.approx(tallies[1]["rmse"] * size, rel=1e-5)
    assert tallies[0]["mae"] == pytest.approx(tallies[1]["mae"] * size, rel=1e-5)


def test_the_regressor_predicts_large_targets_as_it_predicts_small_ones():
    """The user's case: RNNRegressor.fit(X, y * 1e160) predicted [inf, -inf]."""
    from rnnlab.estimators import FAST, RNNRegressor

    f = np.random.default_rng(0).uniform(0.3, 1.5, 24)
    X = np.sin(f[:, None, None] * np.arange(8.0))
    y = 100.0 + 10.0 * f
    args = {"hidden_size": 4, "steps": 20, "lr": 0.01, "params": FAST, "random_state": 0}
    small = RNNRegressor(**args).fit(X, y).predict(X[:3])
    large = RNNRegressor(**args).fit(X, y * 1e160).predict(X[:3])
    assert np.isfinite(large).all() and large / 1e160 == pytest.approx(small, rel=1e-3)


def test_a_target_beyond_float32_after_standardization_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5, 1))
    train = save(tmp_path, "tr.npz", X=X, y=rng.normal(size=20))
    test = save(tmp_path, "te.npz", X=X[:4] + 0.5, y=np.array([1.0, 2.0, 1e300, 3.0]))  # (not training series)
    with pytest.raises(DataError) as e:  # (one among ordinary targets: a missing-value code, round 290)
        load_data(DataConfig(path=train, test_path=test), seed=0, task=REGRESSION)
    assert str(e.value).startswith(f"data.test_path ({test}): y has 1 target over 1e+06 times its target's typical")
    test = save(tmp_path, "te.npz", X=X[:4] + 0.5, y=np.array([1.0, 2.0, 3.0, 4.0]) * 1e300)  # (all that large)
    with pytest.raises(DataError) as e:
        load_data(DataConfig(path=train, test_path=test), seed=0, task=REGRESSION)
    assert "test split" in str(e.value) and "target y[0, 0] = 1e+300 is beyond float32" in str(e.value)


# ---------------------------------------------------------------- 4. how the task splits


def test_the_task_says_how_its_hold_outs_and_folds_draw_sequences():
    """A search printed "5 stratified folds" for every task; per-step values are random draws."""
    assert [t.split_kind for t in (CLASSIFICATION, REGRESSION, PER_STEP_CLASSIFICATION)] == ["stratified"] * 3
    assert PER_STEP_REGRESSION.split_kind == "random"
    assert FORECASTING.split_kind == LANGUAGE_MODEL.split_kind == "forward-chaining"
    # what "random" stands for: one stratum
    assert np.unique(PER_STEP_REGRESSION.strata(np.random.default_rng(0).normal(size=(20, 4, 1)))).tolist() == [0]
