"""The final run of ``rnnlab search`` and ``rnnlab recipe`` has no validation part for a mean guard of
its own: it carries its fold runs' guards' decision, by majority (a user's report: 5 of 5 fold runs
chose the training mean, and the final run's test figure was the model's, a predictor the selection
never scored). Its train and test figures, ``summary.json``'s ``mean_guard`` and ``rnnlab predict``
then say what it predicts; target by target with K > 1 targets; a forecaster's carried decision
is its own reference forecast. Real tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_mean_guard_per_target import CONFIG as TWO_TARGETS
from test_mean_guard_per_target import _csv
from test_streams import stream_toml

from rnnlab.cli import main
from rnnlab.config import parse_config
from rnnlab.rundir import RunDir, atomic_write_json
from rnnlab.search.trial import carried_guard, carried_of, guard_note, kept_lengths
from rnnlab.train.final import CarriedGuard, retrain_and_test, reusable
from rnnlab.train.predict import prediction_rows

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

WHY = " (carried from them: it has no validation part for a guard of its own)"


def _noise(tmp: Path) -> tuple[Path, Path]:
    """Targets nothing in the series tells: the fold runs' guards choose the training mean."""
    rng = np.random.default_rng(0)
    paths = []
    for name, n in (("train", 60), ("test", 20)):
        np.savez(tmp / f"{name}.npz", X=rng.normal(size=(n, 12, 1)).astype(np.float32),
                 y=rng.normal(size=n).astype(np.float32))
        paths.append(tmp / f"{name}.npz")
    return paths[0], paths[1]


def test_the_folds_majority_decides_target_by_target_and_a_tie_keeps_the_model() -> None:
    assert carried_of([{"kept": True}, {"kept": True}]) is None  # (every guard kept its model: nothing carried)
    assert carried_of([None, {"other": 1}]) is None
    one = carried_of([{"kept": False}, {"kept": False}, {"kept": True}, {"kept": False}, {"kept": False}])
    assert (one.kept, one.mean_targets, one.carried) == (False, None, "4 of 5 fold runs")
    assert one.line() == "mean guard: the final run predicts the training mean, as 4 of its 5 fold runs' guards chose" + WHY
    tie = carried_of([{"kept": False}, {"kept": True}])
    assert tie.kept and tie.mean_targets == [] and "a tie keeps the model" in tie.line()
    names = {"conc": {}, "count": {}, "temp": {}}
    g = carried_of([{"kept": True, "at_mean": ["count", "temp"], "by_target": names},
                    {"kept": True, "at_mean": ["count"], "by_target": names},
                    {"kept": False, "at_mean": ["conc", "count", "temp"], "by_target": names},
                    {"kept": True, "at_mean": [], "by_target": names}])
    # count: 3 of 4 runs at its mean; temp: 2 of 4, a tie; conc: 1 of 4
    assert (g.kept, g.at_mean, g.mean_targets, g.targets) == (True, ("count",), [1], {"conc": 1, "count": 3, "temp": 2})
    assert g.line() == ("mean guard: the final run predicts conc by the model, as 3 of its 4 fold runs' guards did, "
                        "count by its training mean, as 3 of 4 chose, and temp by the model, as 2 of 4 did (a tie "
                        "keeps it)" + WHY)
    every = carried_of([{"kept": False, "at_mean": ["conc", "count", "temp"], "by_target": names}] * 2)
    assert not every.kept and every.mean_targets is None and CarriedGuard(**every.to_dict()) == every


def test_a_searchs_final_run_predicts_the_mean_its_folds_guards_chose(tmp_path: Path, capsys) -> None:
    train, test = _noise(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(f"""name = "noise"
[task]
kind = "regression"
mean_guard = true
[data]
path = "{train}"
test_path = "{test}"
val_fraction = 0.3
[model]
hidden_size = 4
[training]
epochs = 4
batch_size = 8
lr = 0.05
threads = 1
[tracking]
enabled = false
[search]
trials = 1
folds = 3
reports = "none"
""")
    out = tmp_path / "s"
    assert main(["search", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    guards = [RunDir(p.parent).read_summary()["mean_guard"] for p in (out / "trials").glob("*/fold-*/summary.json")]
    chose = sum(1 for g in guards if g["kept"] is False)
    assert 2 * chose > len(guards) == 3, guards  # (the premise: a majority of the folds chose the mean)
    line = f"mean guard: the final run predicts the training mean, as {chose} of its 3 fold runs' guards chose" + WHY
    assert line in printed.splitlines(), printed
    assert guard_note(out / "trials" / "0000") == line
    summary = RunDir(out / "final").read_summary()
    assert summary["mean_guard"] == {"kept": False, "carried": f"{chose} of 3 fold runs", "runs": 3,
                                     "chose_mean": chose, "baseline": "the training mean", "unit": "fold runs"}
    # what it predicts, the training mean: an R² of 0 against that mean on both splits
    final = json.loads((out / "final.json").read_text())
    assert final["test"]["r2"] == pytest.approx(0.0, abs=1e-6) and final["train"]["r2"] == pytest.approx(0.0, abs=1e-6)
    _, rows = prediction_rows(out / "final", test)
    assert len(rows) == 20 and len({r[1] for r in rows}) == 1  # rnnlab predict: the same, for every series
    # the same decision: reused; another one (the folds' guards changed) is not
    assert main(["search", str(config), "--out", str(out)]) == 0
    assert "final: trial 0's final run in final/ reused" in capsys.readouterr().out
    cfg, trial = parse_config((out / "best.toml").read_text()), out / "trials" / "0000"
    kept = kept_lengths(trial)
    assert reusable(cfg, out / "final", kept, carried_guard(trial)) and not reusable(cfg, out / "final", kept, None)
    # the same decision in a run recorded before its words changed (no "unit", other "carried"): reused
    summary["mean_guard"] = {k: v for k, v in summary["mean_guard"].items() if k != "unit"} | {"carried": "older"}
    atomic_write_json(out / "final" / "summary.json", summary)
    assert reusable(cfg, out / "final", kept, carried_guard(trial))


def _two_targets(tmp: Path) -> tuple[object, Path]:
    """The per-target test's config (conc a function of the series, count noise), with no validation
    part or guard of its own: a final run's."""
    text = TWO_TARGETS.format(train=_csv(tmp / "train.csv", 160, 0), test=_csv(tmp / "test.csv", 40, 1))
    text = text.replace("mean_guard = true", "mean_guard = false").replace("val_fraction = 0.25", "val_fraction = 0.0")
    return parse_config(text), tmp / "test.csv"


def test_a_final_run_carries_a_decision_target_by_target_and_is_reused_only_for_the_same(tmp_path: Path) -> None:
    cfg, test = _two_targets(tmp_path)
    guard = CarriedGuard(True, 3, 0, at_mean=("count",), targets={"conc": 1, "count": 2})
    out = tmp_path / "final"
    final = retrain_and_test(cfg, out, None, guard)
    summary = RunDir(out).read_summary()
    assert summary["mean_guard"] == {"kept": True, "carried": "3 fold runs, target by target", "runs": 3,
                                     "chose_mean": 0, "baseline": "the training mean", "unit": "fold runs",
                                     "at_mean": ["count"],
                                     "targets": {"conc": 1, "count": 2}}
    for part in ("test", "train_eval"):  # count: its training mean's figures; conc: the model's
        r2 = summary[f"{part}_by_channel"]["r2"]
        assert r2["count"] == pytest.approx(0.0, abs=1e-9) and r2["conc"] > 0.5, (part, r2)
    assert final["test"]["r2"] == pytest.approx(summary["test"]["r2"])
    _, rows = prediction_rows(out, test)
    assert len({r[2] for r in rows}) == 1 and len({r[1] for r in rows}) == 40  # rnnlab predict agrees
    assert reusable(cfg, out, None, guard) and retrain_and_test(cfg, out, None, guard).get("reused")
    other = CarriedGuard(False, 3, 2, at_mean=("conc", "count"), targets={"conc": 2, "count": 2})
    assert not reusable(cfg, out, None, other) and not reusable(cfg, out, None, None)
    again = retrain_and_test(cfg, out, None, None)  # (the folds' guards all kept the model now)
    assert not again.get("reused") and "mean_guard" not in RunDir(out).read_summary()
    assert again["test"]["r2"] != pytest.approx(final["test"]["r2"])


def test_a_forecasters_final_run_carries_its_own_reference_forecast(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(120)
    np.savez(tmp_path / "s.npz", X=np.sin(2 * np.pi * t / 12) + 0.3 * rng.standard_normal(120))
    cfg = parse_config(stream_toml(str(tmp_path / "s.npz"), task='horizon = 2\nseason = 12\nrelative_to = "seasonal_naive"',
                                   data="val_steps = 24\ntest_steps = 24", training="epochs = 1\nlr = 1e-9"))
    # (the folds' guards named their own reference; the final run names what it forecasts itself)
    guard = CarriedGuard(False, 3, 2, baseline="naive")
    out = tmp_path / "final"
    final = retrain_and_test(cfg, out, None, guard)
    summary = RunDir(out).read_summary()
    assert summary["mean_guard"]["baseline"] == "seasonal naive" and summary["mean_guard"]["kept"] is False
    # a zero correction is the reference forecast: every test figure is seasonal naive's
    for metric in ("mae", "mase"):
        assert final["test"][metric] == pytest.approx(final["baselines"]["seasonal_naive"][metric], abs=1e-6)
    assert reusable(cfg, out, None, guard)
    # the fit findings judge the network the carried decision set aside, and say so (round 290)
    (finding,) = summary["fit_findings"]  # (lr 1e-9: it learnt nothing beyond its reference)
    assert finding["check"] == "underfit" and finding["numbers"]["mean_guard_kept"] is False
    assert finding["title"].endswith("(the trained network's figures; the run predicts seasonal naive instead: the mean "
                                     "guards of 2 of 3 fold runs set the network aside (carried to this final run))")
