"""RNNClassifier and RNNRegressor: scikit-learn's and aeon's own estimator checks, the inputs aeon
accepts, the one trainer behind them, their parameters and their run directory; the per-step
estimators (RNNSequenceTagger, RNNSequenceRegressor) and RNNForecaster (aeon's checks too)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from aeon.testing.estimator_checking import parametrize_with_checks as aeon_checks  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks as sklearn_checks  # noqa: E402
from test_bad_inputs import precise_error  # noqa: E402

from rnnlab.config import parse_config  # noqa: E402
from rnnlab.errors import ConfigError, DataError, RunDirError  # noqa: E402
from rnnlab.estimators import (  # noqa: E402
    FAST,
    RNNClassifier,
    RNNForecaster,
    RNNRegressor,
    RNNSequenceRegressor,
    RNNSequenceTagger,
    series_batch,
)
from rnnlab.rundir import RunDir  # noqa: E402

TINY = RNNClassifier._get_test_params()

# scikit-learn's checks that an aeon estimator fails by aeon's design (aeon's base classes own
# fit / predict and their input checks, and aeon's own estimator checks forbid overriding them), one
# reason each. strict: a check listed here that starts passing fails the suite, so the lists stay true.
AEON_DESIGN = {
    "check_no_attributes_set_in_init": "aeon's base __init__ sets is_fitted and metadata_ (and a classifier's classes_)",
    "check_dont_overwrite_parameters": "aeon's fit sets the public flag is_fitted",
    "check_n_features_in_after_fitting": "series of any length: time points are not a fixed number of features",
    "check_n_features_in": "series of any length: time points are not a fixed number of features (no n_features_in_)",
    "check_complex_data": "aeon's input check raises TypeError (not ValueError) for non-numeric arrays",
    "check_dtype_object": "aeon's input check raises TypeError (not ValueError) for object arrays",
    "check_estimators_nan_inf": "aeon refuses NaN as 'missing values', a message naming neither NaN nor inf",
    "check_fit1d": "aeon raises TypeError (not ValueError) for 1-D X",
    "check_fit2d_predict1d": "aeon raises TypeError (not ValueError) for 1-D X",
}
SKLEARN_EXPECTED_FAILURES = {
    **AEON_DESIGN,
    "check_estimators_empty_data_messages": "series of 0 time points get rnnlab's one-line 'X: expected at least "
                                            "1 step per series', not sklearn's '0 feature(s)' message",
    "check_classifier_data_not_an_array": "aeon accepts numpy arrays, DataFrames and lists of 2-D arrays only",
    "check_classifiers_train": "it passes X as a list of lists, which aeon refuses (lists of 2-D arrays only)",
}
SKLEARN_REGRESSOR_EXPECTED_FAILURES = {
    **AEON_DESIGN,
    "check_estimators_empty_data_messages": SKLEARN_EXPECTED_FAILURES["check_estimators_empty_data_messages"],
    "check_regressor_data_not_an_array": SKLEARN_EXPECTED_FAILURES["check_classifier_data_not_an_array"],
    "check_regressors_train": SKLEARN_EXPECTED_FAILURES["check_classifiers_train"],
}


@sklearn_checks([RNNClassifier(**TINY)], expected_failed_checks=lambda est: SKLEARN_EXPECTED_FAILURES,
                xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@sklearn_checks([RNNRegressor(**TINY)], expected_failed_checks=lambda est: SKLEARN_REGRESSOR_EXPECTED_FAILURES,
                xfail_strict=True)
def test_sklearn_regressor_checks(estimator, check):
    check(estimator)


@aeon_checks([RNNClassifier, RNNRegressor, RNNForecaster])
def test_aeon_estimator_checks(check):
    check()


# ------------------------------------------------------------------------------ inputs


def _data(n: int = 24, channels: int = 1, length: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, channels, length))
    y = np.array(["down", "up"] * (n // 2))
    X[y == "up"] += np.linspace(0, 3, length)  # a rising series: learnable in a few steps
    return X, y


def test_the_three_input_forms_aeon_accepts():
    X, y = _data(channels=2)
    clf = RNNClassifier(hidden_size=8, steps=40, params=FAST, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == ["down", "up"] and clf.score(X, y) > 0.9
    # Unequal lengths (a list of [C, T_i]): predicted from the model fitted on equal lengths.
    ragged = [X[i, :, : 8 + i % 5] for i in range(len(X))]
    assert clf.predict(ragged).shape == (len(X),)
    # and fitted on them
    proba = RNNClassifier(**TINY).fit(ragged, y).predict_proba(ragged)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    # 2-D univariate [N, T]: the same as [N, 1, T].
    Xu, yu = _data()
    a = RNNClassifier(**TINY).fit(Xu[:, 0], yu).predict_proba(Xu[:, 0])
    b = RNNClassifier(**TINY).fit(Xu, yu).predict_proba(Xu)
    np.testing.assert_array_equal(a, b)


def test_series_batch_pads_and_transposes():
    X = np.arange(12.0).reshape(2, 2, 3)
    padded, lengths = series_batch(X)
    np.testing.assert_array_equal(padded[1], X[1].T)
    np.testing.assert_array_equal(lengths, [3, 3])
    padded, lengths = series_batch([X[0], X[1][:, :2]])
    assert lengths.tolist() == [3, 2] and (padded[1, 2] == 0).all()
    np.testing.assert_array_equal(padded[1, :2], X[1][:, :2].T)


def test_integer_labels_come_back_as_given():
    X, y = _data()
    y = np.where(y == "up", 7, -3)
    clf = RNNClassifier(**TINY).fit(X, y)
    assert clf.classes_.tolist() == [-3, 7] and set(clf.predict(X)) <= {-3, 7}


# ------------------------------------------------------------------------------ one trainer


def test_the_estimator_is_rnnlab_train_on_the_same_data(tmp_path):
    # The model fitted by the estimator is the model `rnnlab train` makes of its recorded config
    # and data: same weights, same outputs (one training loop).
    from rnnlab.train import load_run_config, train

    X, y = _data()
    clf = RNNClassifier(hidden_size=6, steps=12, params=FAST, random_state=3, run_dir=tmp_path / "fit").fit(X, y)
    config = load_run_config(tmp_path / "fit")
    assert config.training.seed == 3 and config.model.hidden_size == 6
    again = train(config, out=tmp_path / "again", progress=False, log=None).model
    for (name, a), (_, b) in zip(clf.model_.state_dict().items(), again.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name


def test_predictions_read_the_input_as_the_run_did_after_the_templates_rules(tmp_path):
    # Three series a class: the shape rules drop the hold-out and set the level (noise here) to
    # 0; predict must scale the input as the run trained on it, not as the config before the rules.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 3)
    X = (0.5 * 2.0 ** y)[:, None, None] * np.sin(np.arange(60.0) * 0.4) + rng.standard_normal((12, 1, 60))
    params = {"model.frontend": None, "model.head.frontend_pooling": "none", "model.recurrent_batch_norm": False,
              "adapt.max_steps": 40, "adapt.budget": False, "training.threads": 1, "training.schedule.warmup_steps": 0}
    clf = RNNClassifier(hidden_size=8, steps=40, params=params, random_state=0, run_dir=tmp_path / "fit").fit(X, y)
    trained = RunDir(tmp_path / "fit").read_config()
    assert trained.data.val_fraction == 0.0 and trained.data.series_scale == "informative"
    assert clf.config_ == trained
    assert clf.score(X, y) == clf.summary_["train_eval"]["acc"]  # the run's own figure on the same series
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)


def test_random_state_makes_it_reproducible():
    X, y = _data()
    a = RNNClassifier(**{**TINY, "random_state": 5}).fit(X, y).predict_proba(X)
    b = RNNClassifier(**{**TINY, "random_state": 5}).fit(X, y).predict_proba(X)
    c = RNNClassifier(**{**TINY, "random_state": 6}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = RNNClassifier(**{**TINY, "random_state": np.random.RandomState(1)}).fit(X, y).predict_proba(X)
    assert d.shape == a.shape


def _values(n: int = 24, length: int = 12, seed: int = 0):
    f = np.random.default_rng(seed).uniform(0.3, 1.5, n)
    return np.sin(f[:, None, None] * np.arange(float(length))), 10.0 * f  # a sine's frequency


def test_the_regressor_is_rnnlab_train_in_the_data_units(tmp_path):
    # One trainer: `rnnlab train` on the recorded config and data makes the same weights. The
    # model learns standardized targets; predict answers in y's units, so targets 1000 y + 5 give
    # 1000 ŷ + 5, and score is R² of those predictions.
    from sklearn.metrics import r2_score

    from rnnlab.train import load_run_config, train

    X, y = _values()
    reg = RNNRegressor(hidden_size=6, steps=12, params=FAST, random_state=3, run_dir=tmp_path / "fit").fit(X, y)
    config = load_run_config(tmp_path / "fit")
    assert (config.task.kind, config.training.seed, config.model.hidden_size) == ("regression", 3, 6)
    again = train(config, out=tmp_path / "again", progress=False, log=None).model
    for (name, a), (_, b) in zip(reg.model_.state_dict().items(), again.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name
    pred = reg.predict(X)
    assert pred.shape == (len(y),) and reg.score(X, y) == pytest.approx(r2_score(y, pred))
    scaled = RNNRegressor(hidden_size=6, steps=12, params=FAST, random_state=3).fit(X, 1000 * y + 5).predict(X)
    np.testing.assert_allclose(scaled, 1000 * pred + 5, rtol=1e-4)
    assert not np.allclose(pred, pred.mean())  # it learned something that varies


def test_the_regressor_starts_from_the_regression_template(tmp_path):
    from rnnlab.config import template_for

    own = RNNRegressor().resolved_config()
    template = parse_config(template_for("regression"))
    assert own.task.kind == "regression" and not own.adapt.shape and not own.adapt.budget
    assert own.model == template.model and own.training == template.training
    path = tmp_path / "c.toml"  # a classification config: its hyper-parameters, trained as regression
    path.write_text('[data]\ndataset = "GunPoint"\n[model]\nhidden_size = 5\n')
    assert RNNRegressor(config=path).resolved_config().task.kind == "regression"
    assert RNNClassifier(config=parse_config(template_for("regression"))).resolved_config().task.kind == "classification"


# ------------------------------------------------------------------------------ parameters


def test_config_sources_and_keywords(tmp_path):
    est = RNNClassifier()
    template = est.resolved_config()
    assert template.model.hidden_size == 64 and template.training.steps == 2000  # `rnnlab init`'s
    path = tmp_path / "c.toml"
    path.write_text('[data]\ndataset = "GunPoint"\n[model]\nhidden_size = 5\nlayer = "gru"\n[training]\nepochs = 3\n')
    from_file = RNNClassifier(config=path).resolved_config()
    assert (from_file.model.hidden_size, from_file.model.layer, from_file.training.epochs) == (5, "gru", 3)
    assert from_file.data.dataset is None and from_file.data.path.endswith("train_data.npz")
    over = RNNClassifier(config=parse_config(path.read_text()), hidden_size=9, steps=50,
                         params={"model.zoneout": 0.2}).resolved_config()
    assert (over.model.hidden_size, over.model.layer, over.model.zoneout) == (9, "gru", 0.2)
    assert (over.training.steps, over.training.epochs) == (50, None)  # the budget is one of the two


def test_get_set_params_and_clone():
    est = RNNClassifier(hidden_size=3, params=FAST)
    assert est.get_params()["hidden_size"] == 3 and est.get_params()["lr"] is None
    est.set_params(lr=0.01, hidden_size=4)
    assert est.resolved_config().training.lr == 0.01
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est


def test_cross_val_score_takes_it():
    X, y = _data(n=20)
    scores = cross_val_score(RNNClassifier(**TINY), X, y, cv=2)
    assert scores.shape == (2,) and ((0 <= scores) & (scores <= 1)).all()


API_CASES = [
    ("unknown key path", lambda t: RNNClassifier(params={"model.hiden_size": 3}).fit(*_data()), ConfigError,
     ["unknown key 'model.hiden_size'", "did you mean 'model.hidden_size'"]),
    ("keyword of the wrong type", lambda t: RNNClassifier(hidden_size="x").fit(*_data()), ConfigError,
     ["'model.hidden_size'", "expected an integer", "'x'"]),
    ("missing config file", lambda t: RNNClassifier(config=t / "none.toml").fit(*_data()), ConfigError,
     ["none.toml", "does not exist"]),
    ("config of the wrong type", lambda t: RNNClassifier(config=42).fit(*_data()), ConfigError,
     ["config: expected a TOML path, an rnnlab.Config or None, got int"]),
    ("params not a mapping", lambda t: RNNClassifier(params=[1]).fit(*_data()), ConfigError,
     ["params: expected a mapping", "got list"]),
    ("inf in fit", lambda t: RNNClassifier(**TINY).fit(np.where(np.eye(24, 12)[:, None] > 0, np.inf, _data()[0]),
                                                       _data()[1]), DataError,
     ["fit: X has 12 non-finite values", "[0, 0, 0]"]),
    ("targets that never vary", lambda t: RNNRegressor(**TINY).fit(_values()[0], np.full(24, 2.5)), DataError,
     ["y: expected target values that vary, got 24 sample(s) all 2.5"]),
    ("text targets to a regressor", lambda t: RNNRegressor(**TINY).fit(_values()[0], np.array(["a", "b"] * 12)),
     DataError, ["y: expected numeric target values, got dtype <U1 (e.g. 'a')"]),
    ("y of one class", lambda t: RNNClassifier(**TINY).fit(_data()[0], np.array(["up"] * 24)), DataError,
     ["y: expected at least 2 classes, got 1 class ('up') in 24 sample(s)"]),
    ("no y", lambda t: RNNRegressor(**TINY).fit(_values()[0], None), DataError,
     ["y: this estimator requires y to be passed, but the target y is None"]),
    ("a user's folder as run_dir", lambda t: (t.joinpath("notes.txt").write_text("mine"),
                                              RNNClassifier(**TINY, run_dir=t).fit(*_data())), RunDirError,
     ["holds files that are not an rnnlab run: notes.txt"]),
]


@pytest.mark.parametrize(("case", "call", "error", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_parameters_raise_a_precise_error(case, call, error, expected, tmp_path):
    precise_error(case, call, error, expected, tmp_path)


def test_inf_at_predict_is_named():
    X, y = _data()
    clf = RNNClassifier(**TINY).fit(X, y)
    X[2, 0, 5] = np.inf
    with pytest.raises(DataError, match=r"^predict: X has 1 non-finite value .* \[2, 5, 0\]$"):
        clf.predict(X)


# ------------------------------------------------------------------------------ the run directory


def test_run_dir_keeps_the_run_and_a_second_fit_is_refused(tmp_path):
    X, y = _data()
    out = tmp_path / "fit"
    clf = RNNClassifier(hidden_size=4, steps=6, params={**FAST, "tracking.weights_every": 1}, run_dir=out,
                        random_state=0).fit(X, y)
    run = RunDir.existing(out)
    assert len(run.read_metrics()) == clf.summary_["epochs"] >= 1
    assert run.read_tracked() and (out / "health.json").exists() and (out / "summary.json").exists()
    assert (out / "train_data.npz").exists() and clf.run_dir_ == out
    with pytest.raises(ConfigError, match="already holds a fitted run; give a new directory per fit"):
        clf.fit(X, y)


def test_without_run_dir_nothing_is_left(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    X, y = _data()
    clf = RNNClassifier(**TINY).fit(X, y)
    assert list(tmp_path.iterdir()) == [] and clf.run_dir_ is None


def test_import_rnnlab_stays_light():
    probe = "import sys, rnnlab\nprint(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split())
    assert not {"aeon", "sklearn", "rnnlab.estimators"} & loaded


def test_a_run_of_rnnlab_train_is_not_written_into(tmp_path):
    from tiny_run import run, tiny_toml

    run(parse_config(tiny_toml()), tmp_path / "run")  # a run of `rnnlab train` (no data file of ours)
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    with pytest.raises(ConfigError, match="already holds a fitted run"):
        RNNClassifier(**TINY, run_dir=tmp_path / "run").fit(*_data())
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before


# ------------------------------------------------------------------------------ per step and forecasting


def _tags(n: int = 16, length: int = 10, seed: int = 0):
    X = np.random.default_rng(seed).normal(size=(n, 1, length))
    return X, np.where(X[:, 0] > 0, "up", "down")  # the sign of each step: learnable in a few steps


def test_the_tagger_fits_predicts_scores_and_round_trips(tmp_path):
    from rnnlab.train import load_run_config, train

    X, y = _tags()
    kw = {"hidden_size": 8, "steps": 60, "lr": 0.02, "params": FAST}
    tagger = RNNSequenceTagger(**kw, random_state=0, run_dir=tmp_path / "fit").fit(X, y)
    assert tagger.classes_.tolist() == ["down", "up"] and tagger.predict(X).shape == (16, 10)
    proba = tagger.predict_proba(X)
    assert proba.shape == (16, 10, 2) and np.allclose(proba.sum(2), 1)
    acc = tagger.score(X, y)
    assert acc > 0.9 and acc == pytest.approx((tagger.predict(X) == y).mean())
    config = load_run_config(tmp_path / "fit")  # one trainer: `rnnlab train` on the recorded run makes the same model
    assert (config.task.kind, config.task.per_step, config.training.seed) == ("classification", True, 0)
    again = train(config, out=tmp_path / "again", progress=False, log=None).model
    for (name, a), (_, b) in zip(tagger.model_.state_dict().items(), again.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name
    copy = clone(tagger).set_params(run_dir=None)
    assert copy.get_params()["hidden_size"] == 8 and not hasattr(copy, "model_")
    tiny = RNNSequenceTagger(**TINY).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(RNNSequenceTagger(**TINY).fit(X, y).predict_proba(X), tiny)  # random_state
    assert not np.array_equal(RNNSequenceTagger(**{**TINY, "random_state": 1}).fit(X, y).predict_proba(X), tiny)
    # Unequal lengths: lists in, lists out; padding never scored.
    ragged = [X[i, :, : 6 + i % 5] for i in range(len(X))]
    labels = [y[i, : 6 + i % 5] for i in range(len(X))]
    out = tagger.predict(ragged)
    assert [len(o) for o in out] == [len(lab) for lab in labels]
    assert tagger.score(ragged, labels) == pytest.approx(np.concatenate([o == lab for o, lab in zip(out, labels)]).mean())
    scores = cross_val_score(RNNSequenceTagger(**TINY), X, y, cv=2)  # folds of whole series, scored per step
    assert scores.shape == (2,) and ((0 <= scores) & (scores <= 1)).all()


def test_the_tagger_reads_minus_100_as_a_step_without_a_target():
    # as `rnnlab train` reads a per-step .npz and torch's loss its ignore_index: not a class
    X, y = _tags()
    codes = (y == "up").astype(np.int64)
    codes[:, ::3] = -100
    tagger = RNNSequenceTagger(**TINY).fit(X, codes)
    assert tagger.classes_.tolist() == [0, 1] and tagger.predict_proba(X).shape == (16, 10, 2)
    kept = codes != -100
    assert tagger.score(X, codes) == pytest.approx((tagger.predict(X) == codes)[kept].mean())


def test_the_sequence_regressor_answers_in_the_data_units():
    X, _ = _tags()
    y = 5.0 + 3.0 * X[:, 0]  # rebuild the input, in other units
    kw = {"hidden_size": 8, "steps": 100, "lr": 0.02, "params": FAST, "random_state": 0}
    reg = RNNSequenceRegressor(**kw).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (16, 10) and reg.score(X, y) > 0.9
    scaled = RNNSequenceRegressor(**kw).fit(X, 1000 * y + 7).predict(X)
    np.testing.assert_allclose(scaled, 1000 * pred + 7, rtol=1e-4)
    both = RNNSequenceRegressor(**TINY).fit(X, np.stack([y, -y], axis=2))  # K = 2 values per step
    assert both.predict(X).shape == (16, 10, 2) and np.allclose(both.targets_.mean, [y.mean(), -y.mean()], atol=0.5)
    ragged = [X[i, 0, : 6 + i % 5] for i in range(len(X))]  # univariate [T_i] series
    assert [len(p) for p in reg.predict(ragged)] == [6 + i % 5 for i in range(len(X))]


def test_the_forecaster_is_rnnlab_predict_of_its_run(tmp_path):
    # aeon's convention: fit(y), predict(y) the value `horizon` steps after y's end. The run it
    # writes is a forecasting run: `rnnlab predict`'s forecast of it is the same value.
    from rnnlab.config import DataConfig
    from rnnlab.data.stream import read_series
    from rnnlab.train.forecast import forecast_rows

    y = read_series(DataConfig(dataset="Airline")).values[0][:, 0]  # 144 months, as shipped
    kw = {"horizon": 3, "season": 12, "hidden_size": 8, "steps": 30, "params": {**FAST, "data.bptt": 24}}
    f = RNNForecaster(**kw, random_state=0, run_dir=tmp_path / "fit").fit(y)
    rows = forecast_rows(tmp_path / "fit")
    assert [r[2] for r in rows] == [144, 145, 146] and f.predict(y) == pytest.approx(rows[2][3], rel=1e-9)
    assert f.config_.task.horizon == 3 and f.config_.data.test_fraction == 0.0 and 300 < f.predict(y) < 700
    earlier = f.predict(y[:120])  # from any series: the value 3 steps after its end
    assert earlier != f.predict(y) and 200 < earlier < 600
    copy = clone(f).set_params(run_dir=None)
    assert copy.forecast(y) == f.predict(y)  # random_state: the same fit; forecast = fit + predict
    assert copy.get_params()["horizon"] == 3 and clone(copy).set_params(random_state=1).forecast(y) != f.predict(y)


PER_STEP_CASES = [
    ("y of the wrong shape", lambda t: RNNSequenceTagger(**TINY).fit(_tags()[0], _tags()[1][:, :5]), DataError,
     ["y: expected a target for every step of X, an array [N, T] = [16, 10]", "got shape [16, 5]"]),
    ("y lengths not X's", lambda t: RNNSequenceTagger(**TINY).fit([np.zeros((1, 4)), np.ones((1, 5))],
                                                                  [np.zeros(4), np.ones(4)]), DataError,
     ["y: expected one target array per series of X, of the series' lengths [4, 5]", "got 2 with lengths [4, 4]"]),
    ("one class per step", lambda t: RNNSequenceTagger(**TINY).fit(_tags()[0], np.full((16, 10), "up")), DataError,
     ["y: expected at least 2 classes, got 1 class ('up') in 160 step(s)"]),
    ("X not series", lambda t: RNNSequenceRegressor(**TINY).fit("abc", np.zeros((2, 3))), DataError,
     ["X: expected series as a numeric array [N, C, T] or [N, T], or a list of [C, T_i] arrays, got str"]),
    ("NaN target inside a series", lambda t: RNNSequenceRegressor(**TINY).fit(
        _tags()[0], np.where(np.eye(16, 10) > 0, np.nan, 1.0)), DataError,
     ["y: expected finite values at every valid step, got 10 non-finite, the first at [sample, step] [0, 0]"]),
    ("inf in a forecaster's series", lambda t: RNNForecaster(**RNNForecaster._get_test_params()).fit(
        np.r_[np.ones(30), np.inf]), DataError, ["y: expected finite values, got 1 non-finite (NaN or inf), the first at step 30"]),
    ("a forecaster's series too short", lambda t: RNNForecaster(**RNNForecaster._get_test_params()).fit(
        np.arange(4.0)), DataError, ["data.bptt:", "shorter than one window"]),
]


@pytest.mark.parametrize(("case", "call", "error", "expected"), PER_STEP_CASES, ids=[c[0] for c in PER_STEP_CASES])
def test_per_step_and_forecasting_bad_input_is_one_line(case, call, error, expected, tmp_path):
    precise_error(case, call, error, expected, tmp_path)
