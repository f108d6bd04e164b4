"""The recipe's rule pairs the runs it compares: run i of a candidate and run i of the current
configuration share their seed and fold, so the noise is the spread of the per-run differences
(what a fold or a seed does to both alike is no noise); scores that are not matched (other seeds,
other counts) keep Welch's form."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import optuna
import pytest

from rnnlab.compare import grouped_table
from rnnlab.recipe.decide import verdict
from rnnlab.recipe.run import RecipeOptions, run_recipe_command
from rnnlab.search.report import gain_sentence

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# A language model on 3 forward-chaining folds: later folds train on more text and score much
# better for every configuration; the candidate is better on each fold.
LM_CURRENT, LM_CANDIDATE = [2.933, 2.525, 2.853], [2.909, 2.484, 2.821]
# docs/language_models.md: the template against AR 2 + TAR 1, val_bpc of seeds 0 and 1.
TEMPLATE, AR2_TAR1 = [1.7488, 1.7760], [1.7394, 1.7685]


def _paired(candidate: list[float], current: list[float], sign: float) -> tuple[float, float]:
    d = [sign * (c - b) for c, b in zip(candidate, current, strict=True)]
    return statistics.fmean(d), statistics.stdev(d) / math.sqrt(len(d))


def test_matched_runs_better_on_every_fold_or_seed_are_kept():
    lm = verdict(LM_CANDIDATE, LM_CURRENT, higher_is_better=False, paired=True)
    assert lm.kept and lm.paired
    assert lm.gain == pytest.approx(0.0323, abs=1e-4) and lm.se == pytest.approx(0.0049, abs=1e-4)
    # the same scores as unmatched samples: the folds' own spread swamps the gain
    assert not verdict(LM_CANDIDATE, LM_CURRENT, higher_is_better=False).kept

    ar = verdict(AR2_TAR1, TEMPLATE, higher_is_better=False, paired=True)
    gain, se = _paired(AR2_TAR1, TEMPLATE, -1.0)
    assert ar.kept and ar.gain == pytest.approx(gain) and ar.se == pytest.approx(se)
    assert ar.gain == pytest.approx((0.0094 + 0.0075) / 2) and ar.se == pytest.approx(0.00095, abs=1e-5)
    assert ar.reason == "gain +0.00845 above one standard error (se 0.00095)"


def test_pairing_does_not_keep_differences_of_both_signs():
    # better by 0.10 on one run, worse by 0.06 and 0.02 on the others: a mean gain of +0.0067
    v = verdict([0.90, 0.74, 0.78], [0.80, 0.80, 0.80], higher_is_better=True, paired=True)
    gain, se = _paired([0.90, 0.74, 0.78], [0.80, 0.80, 0.80], 1.0)
    assert v.gain == pytest.approx(gain) and v.se == pytest.approx(se)
    assert not v.kept and 0 < v.gain < v.se and "not above one standard error" in v.reason
    # pairing is no lenience: +0.06 on one seed, -0.005 on the other, each side of little spread;
    # as unmatched samples this passes, by its differences it is within the noise
    candidate, current = [0.86, 0.835], [0.80, 0.84]
    assert verdict(candidate, current, higher_is_better=True).kept
    v = verdict(candidate, current, higher_is_better=True, paired=True)
    assert not v.kept and v.gain == pytest.approx(0.0275) and v.se == pytest.approx(_paired(candidate, current, 1.0)[1])
    # one pair: no noise can be measured, scrapped however large the gain
    one = verdict([0.99], [0.10], higher_is_better=True, paired=True)
    assert not one.kept and one.se == math.inf
    # equal differences (no spread) and no gain: a tie, not kept
    assert not verdict([0.5, 0.6], [0.5, 0.6], higher_is_better=True, paired=True).kept


def test_scores_that_are_not_matched_are_compared_by_welchs_form():
    v = verdict([1.0, 2.0, 3.0], [0.0, 0.5], higher_is_better=True)
    assert not v.paired and v.se == pytest.approx(math.sqrt(1.0 / 3 + 0.125 / 2))
    with pytest.raises(ValueError, match="paired scores must be as many a side.*got 3 and 2"):
        verdict([1.0, 2.0, 3.0], [0.0, 0.5], higher_is_better=True, paired=True)

    # the study page: two trials of one study score the study's folds, in its order (paired);
    # fold lists of other lengths are no pairs (Welch)
    def trial(folds: list[float]) -> optuna.trial.FrozenTrial:
        return optuna.create_trial(value=statistics.fmean(folds), user_attrs={"fold_scores": folds})

    matched = gain_sentence(trial(LM_CANDIDATE), trial(LM_CURRENT), "minimize")
    assert "+0.0323 ± 0.0049 (the standard error of the mean of the 3 per-fold differences" in matched
    assert ": above one standard error" in matched
    other = gain_sentence(trial(LM_CANDIDATE), trial(LM_CURRENT + [2.9]), "minimize")
    welch = verdict(LM_CANDIDATE, LM_CURRENT + [2.9], higher_is_better=False)
    assert f"{welch.gain:+.4f} ± {welch.se:.4f} (Welch's standard error" in other and "over 3 and 4 folds" in other

    # rnnlab compare: groups of the same seeds are paired by seed (given in any order); groups of
    # other seeds are not
    def group(name: str, by_seed: dict[int, float]) -> list[dict]:
        return [{"run": f"{name}-s{s}", "config": {"model.zoneout": name, "training.seed": str(s)},
                 "headline": "acc", "higher_is_better": True, "val_acc@kept": v} for s, v in by_seed.items()]

    base = group("0", {0: 0.80, 1: 0.90, 2: 0.70})
    same = group("0.1", {2: 0.72, 0: 0.82, 1: 0.93})  # +0.02, +0.02, +0.03 on each seed
    gain, se = _paired([0.82, 0.93, 0.72], [0.80, 0.90, 0.70], 1.0)
    row = grouped_table([base, same], {"model.zoneout": "0"}).splitlines()[2]
    assert row.endswith(f"better: gain {gain:+.4f} above one standard error (se {se:.4f})"), row
    others = group("0.1", {3: 0.82, 4: 0.93, 5: 0.72})
    welch = verdict([0.82, 0.93, 0.72], [0.80, 0.90, 0.70], higher_is_better=True)
    row = grouped_table([base, others], {"model.zoneout": "0"}).splitlines()[2]
    assert row.endswith(f"within 1 se: {welch.reason}") and not welch.kept, row


TINY = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
[tracking]
enabled = false
[search]
folds = 2
metric = "val_loss"
"""


def _runs_scores(out: Path, label: str, seeds: list[int]) -> list[float]:
    """A scored configuration's per-run scores from its runs' own trial.json, seed after seed."""
    (directory,) = [p for p in (out / "candidates").iterdir() if p.name.rsplit("-", 1)[0] == label]
    scores = []
    for s in seeds:
        (per_seed,) = json.loads((directory / f"seed-{s}" / "trial.json").read_text())["scores"]
        scores += per_seed
    return scores


def test_a_real_recipe_decides_by_the_paired_differences_of_its_recorded_runs(tmp_path: Path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "rec"
    run_recipe_command(RecipeOptions(config=str(path), seeds=2, steps="input_dropout,zoneout", out=str(out),
                                     final=False), log=None)
    record = json.loads((out / "recipe.json").read_text())
    seeds = record["seeds"]
    assert seeds == [0, 1] and record["plan"].startswith("2 ") and record["metric"] == "val_loss"
    scores_of = {"baseline": record["baseline_scores"]}
    assert scores_of["baseline"] == _runs_scores(out, "baseline", seeds)  # seed-major, fold order
    judged = 0
    for step in record["steps"]:
        for t in step["tried"]:
            if t["status"] not in ("kept", "scrapped"):
                continue
            against = scores_of[t["against"]]
            assert t["scores"] == _runs_scores(out, t["label"], seeds) and len(t["scores"]) == len(against) == 4
            gain, se = _paired(t["scores"], against, -1.0)  # val_loss: lower is better
            assert t["gain"] == pytest.approx(gain, abs=1e-12) and t["se"] == pytest.approx(se, abs=1e-12)
            assert t["paired"] is True
            beats = gain > se + 1e-9 and gain > 0
            passed = " above one standard error" in t["reason"] and " not above " not in t["reason"]
            assert (t["status"] == "kept") <= beats and (beats or not passed)
            judged += 1
        scores_of.update({t["label"]: t["scores"] for t in step["tried"] if t["status"] == "kept"})
    assert judged >= 2


def test_the_recipe_pages_say_one_seed_and_the_paired_rule(tmp_path: Path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace("folds = 2", "folds = 3"))
    out = tmp_path / "rec"
    run_recipe_command(RecipeOptions(config=str(path), seeds=1, steps="zoneout", out=str(out), final=False),
                       log=None)
    md, page = (out / "recipe.md").read_text(), (out / "recipe.html").read_text()
    assert "Each candidate: 1 seed (0) × 3 " in md and "1 seeds" not in md
    assert "Each candidate: 1 seed (0) × 3 " in page and "1 seeds" not in page
    for text in (md, page):
        assert "paired by seed and fold" in text and "Welch" not in text
