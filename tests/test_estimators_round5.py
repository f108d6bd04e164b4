"""A scikit-learn user's round (/tmp/u146), helper-156: a fit stopped by Ctrl-C says what the next
fit does in the estimator's words (not ``--resume``; without ``run_dir``, that nothing was kept);
``verbose`` and ``run_dir`` are checked as the other parameters are; ``RNNRegressor`` takes K
targets per series (y [N, K]); the findings after an estimator's fit name its keywords; the health
check's vanishing gradient is a reach short of ``Thresholds.short_reach`` of the steps, not any
step short of the whole sequence."""

from __future__ import annotations

import ast
import io
import json
import re
import signal
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch

pytest.importorskip("aeon")
pytest.importorskip("sklearn")

from sklearn.metrics import r2_score  # noqa: E402

from rnnlab.config import parse_config  # noqa: E402
from rnnlab.doctor import diagnose  # noqa: E402
from rnnlab.doctor.checks import (  # noqa: E402
    REACHES,
    VANISHES,
    Thresholds,
    TimeGradient,
    judge_through_time,
)
from rnnlab.doctor.fit import FitThresholds, fit_findings  # noqa: E402
from rnnlab.errors import ConfigError, DataError, Interrupted  # noqa: E402
from rnnlab.estimators import FAST, RNNClassifier, RNNForecaster, RNNRegressor, RNNSequenceTagger  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 2, 10))  # [N, C, T]
y = np.array(["cat", "dog"] * 20)
X[y == "dog", 0] += 1.5


def clf(**kw):
    return RNNClassifier(**{"hidden_size": 4, "steps": 8, "batch_size": 8, "params": dict(FAST), "random_state": 0,
                            **kw})


class _CtrlC(io.StringIO):
    """The fit's log (``verbose``) on a terminal where Ctrl-C is pressed as epoch ``at``'s line
    shows: a real SIGINT, at a point of the fit that no timing decides."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.startswith(f"epoch {self.at:>3}/"):
            signal.raise_signal(signal.SIGINT)
        return written


# 1. an interrupted fit, in the estimator's words -----------------------------------------------------


def test_an_interrupted_fit_into_run_dir_says_the_next_fit_continues_it(tmp_path):
    run_dir = tmp_path / "e"
    est = clf(steps=40, run_dir=run_dir, verbose=True)
    with redirect_stdout(_CtrlC(at=3)), pytest.raises(Interrupted) as stop:
        est.fit(X, y)
    said = str(stop.value)
    assert isinstance(stop.value, KeyboardInterrupt) and stop.value.signum == signal.SIGINT
    assert "--resume" not in said, said
    assert said.startswith("interrupted by SIGINT during epoch 4 of RNNClassifier.fit; "), said
    assert (f"fit again with the same data and parameters into run_dir {str(run_dir)!r} to continue") in said, said
    # what it says is what happens: the same fit into run_dir continues from epoch 3's checkpoint
    est.set_params(verbose=False).fit(X, y)
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 11)) and (run_dir / "resumes.jsonl").exists()


def test_an_interrupted_fit_without_run_dir_says_nothing_was_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # (where the fit's temporary directory goes)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with redirect_stdout(_CtrlC(at=2)), pytest.raises(Interrupted) as stop:
        clf(steps=40, verbose=True).fit(X, y)
    said = str(stop.value)
    assert "--resume" not in said and "checkpoint after epoch" not in said, said
    assert "nothing was kept" in said and "pass run_dir" in said, said
    assert list(tmp_path.iterdir()) == []  # (indeed: its temporary directory is gone)


# 2. verbose and run_dir checked as the other parameters ----------------------------------------------


@pytest.mark.parametrize("make", [clf, lambda **kw: RNNSequenceTagger(steps=2, params=FAST, **kw),
                                  lambda **kw: RNNForecaster(steps=2, params=FAST, **kw)])
@pytest.mark.parametrize("kw, said", [
    ({"verbose": "yes"}, "verbose: expected True or False, got str 'yes'"),
    ({"verbose": 0}, "verbose: expected True or False, got int 0"),
    ({"run_dir": 7}, "run_dir: expected None or a directory's path (str or os.PathLike), got int 7"),
    ({"run_dir": ""}, "run_dir: expected None or a directory's path (str or os.PathLike), got str ''"),
])
def test_flags_and_paths_are_refused_in_one_line_naming_them(make, kw, said):
    est = make(**kw)
    args = (np.sin(np.arange(60.0)),) if isinstance(est, RNNForecaster) else (X, np.where(X[:, 0] > 0, "a", "b")) \
        if isinstance(est, RNNSequenceTagger) else (X, y)
    with pytest.raises(ConfigError) as e:
        est.fit(*args)
    assert str(e.value) == said


def test_a_refused_verbose_leaves_a_fitted_classifier_fitted():
    est = clf().fit(X, y)
    with pytest.raises(ConfigError, match="^verbose: "):
        est.set_params(verbose="no").fit(X, y)
    assert est.predict(X[:2]).shape == (2,)


# 3. RNNRegressor with K targets per series -----------------------------------------------------------


def _two_targets():
    r = np.random.default_rng(1)
    f, a = r.uniform(0.3, 1.5, 60), r.uniform(0.5, 2.0, 60)
    series = a[:, None, None] * np.sin(f[:, None, None] * np.arange(12.0))
    return series, np.stack([100.0 + 10.0 * f, -5.0 + 3.0 * a], axis=1)


def test_the_regressor_fits_k_targets_per_series_as_one_model_with_k_outputs():
    series, targets = _two_targets()
    reg = RNNRegressor(hidden_size=8, steps=200, lr=0.01, params=FAST, random_state=0).fit(series, targets)
    predicted = reg.predict(series)
    assert predicted.shape == (60, 2) and reg.n_outputs_ == 2 and reg.targets_.mean.shape == (2,)
    # in the data's units: each output near its own target's mean, not a standardized one
    np.testing.assert_allclose(predicted.mean(axis=0), targets.mean(axis=0), atol=1.0)
    # score is r2_score's default: the uniform average of the two targets' R²
    assert reg.score(series, targets) == pytest.approx(r2_score(targets, predicted))
    assert reg.score(series, targets) == pytest.approx(r2_score(targets, predicted, multioutput="raw_values").mean())
    assert reg.score(series, targets) > 0.8
    one = RNNRegressor(hidden_size=8, steps=20, params=FAST, random_state=0).fit(series, targets[:, 1])
    assert one.predict(series).shape == (60,) and one.n_outputs_ is None


def test_a_target_that_never_varies_is_named_by_its_column():
    series, targets = _two_targets()
    targets[:, 1] = 4.0
    with pytest.raises(DataError, match=r"^y: expected target values that vary, got 60 sample\(s\) all 4 in target 1 "
                                        r"\(y\[:, 1\]\)$"):
        RNNRegressor(steps=2, params=FAST).fit(series, targets)
    with pytest.raises(DataError, match=r"^y: expected one target value per series \(y \[N\]\) or K of them"):
        RNNRegressor(steps=2, params=FAST).fit(series, np.zeros((60, 2, 2)))


# 4. the findings after an estimator's fit name its keywords --------------------------------------------


def test_the_underfit_remedy_names_the_estimators_keywords_and_they_set_what_it_says():
    est = RNNClassifier(hidden_size=16, steps=60, params=FAST, random_state=0)
    rx = np.random.default_rng(0)
    est.fit(rx.normal(size=(60, 2, 15)), np.array(["a", "b", "c"] * 20))  # (no signal: an underfit)
    (underfit,) = [f for f in est.summary_["fit_findings"] if f["check"] == "underfit"]
    remedy = underfit["remedy"]
    assert "training." not in remedy and "model." not in remedy, remedy
    assert "set steps=2000 (now steps=60;" in remedy and "change lr (now " in remedy, remedy
    steps = re.search(r"set steps=(\d+)", remedy).group(1)
    assert est.set_params(steps=int(steps)).resolved_config().training.steps == 2000  # (as it says)


def test_a_key_without_a_keyword_is_named_as_a_params_entry_that_fit_takes():
    # (imported here, new in this round: the other tests run on the code before it too)
    from rnnlab.doctor.checks import KeySpelling

    say = KeySpelling({"training.steps": "steps"})
    assert say.set("adapt.max_steps", 8000) == 'params={"adapt.max_steps": 8000}'
    assert say.set("model.unit_forget_bias", True) == 'params={"model.unit_forget_bias": True}'
    params = ast.literal_eval(say.set("model.head.pooling", "mean").removeprefix("params="))
    assert clf(params={**FAST, **params}).resolved_config().model.head.pooling == "mean"
    # a config file's spelling is the TOML it always was
    records = [{"epoch": e, "step": 4 * e, "train_loss": 0.69, "train_acc": 0.5} for e in (1, 2)]
    cfg = parse_config('[data]\ndataset = "GunPoint"\n[training]\nepochs = 2')
    (f,) = fit_findings(records, {"acc": 0.5, "loss": 0.69}, cfg)
    assert "set training.steps = 2000 (now training.epochs = 2;" in f.remedy, f.remedy
    (f,) = fit_findings(records, {"acc": 0.5, "loss": 0.69}, cfg, spelling=say)
    assert "set steps=2000 (now params={\"training.epochs\": 2};" in f.remedy, f.remedy


# 5. the health check's reach rule -----------------------------------------------------------------------


def _curve(reach: int, steps: int) -> TimeGradient:
    """|dLoss/dh_t| of ``steps`` steps that falls below 1e-3 of its last value ``reach`` steps back."""
    g = torch.ones(steps)
    g[: steps - reach] = 1e-4
    return TimeGradient("'rnn' layer 0 forward", g)


def test_a_reach_of_11_of_12_steps_is_no_vanishing_gradient_and_half_of_20_is():
    assert judge_through_time(_curve(11, 12), Thresholds())[0] == REACHES
    verdict, found = judge_through_time(_curve(10, 20), Thresholds())
    assert verdict == VANISHES and found.numbers["reach"] == 10 and found.numbers["short_reach"] == 0.75
    # the line is the stated fraction of the steps, the same rule as the findings after training's
    assert judge_through_time(_curve(8, 12), Thresholds())[0] == VANISHES  # 8 < 0.75 · 12
    assert judge_through_time(_curve(9, 12), Thresholds())[0] == REACHES
    assert judge_through_time(_curve(11, 12), Thresholds(short_reach=1.0))[0] == VANISHES  # (the old line)
    assert FitThresholds().short_reach < Thresholds().short_reach


def test_an_untrained_lstm_on_12_steps_raises_no_vanishing_warning():
    # the user's LightningModule's network: an nn.LSTM read at its last step, on 12-step series
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = torch.nn.LSTM(2, 8, batch_first=True), torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(x)[0][:, -1])

    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(32, 12, 2, generator=g), torch.randint(0, 3, (32,), generator=g))
    report = diagnose(Net(), batch, torch.nn.CrossEntropyLoss(), checks=["gradient_through_time"])
    assert report.by_check("gradient_through_time") == [], report
