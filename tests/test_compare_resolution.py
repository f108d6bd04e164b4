"""A tie on a score that moves in steps is no precise result.

A researcher's three regularizers scored val_acc@kept [1, 1, 0.9545] on each of 2 seeds x 3 folds
(22 validation series a fold: one series is 0.0455 of accuracy), and compare's groups scored
[1, 1, 0.9375] over 3 seeds (16 series: 0.0625). The paired differences are all 0, so their
standard error is 0, and the verdict read "no gain (+0.0000, se 0.0000)" as if the configs were
known to be equal; the validation split could not tell them apart. Single runs said nothing of
the noise at all, nor that every run scored the same."""

from __future__ import annotations

import pytest

from rnnlab import compare
from rnnlab.compare import grouped_table
from rnnlab.recipe.decide import verdict

FOLDS = [1.0, 1.0, 21 / 22, 1.0, 1.0, 21 / 22]  # the recipe's baseline and both decay strengths


def test_recipe_paired_tie_is_said_a_tie_with_the_step_of_the_score():
    v = verdict(FOLDS, list(FOLDS), higher_is_better=True, paired=True, resolution=1 / 22)
    assert v.tie and not v.kept and v.gain == 0.0
    assert v.reason.startswith("tie: the same score on every seed and fold")
    assert "se 0.0000" not in v.reason and "no gain" not in v.reason
    assert "one validation series is 0.0455 of the score" in v.reason
    assert "cannot tell these apart" in v.reason and "val_loss" in v.reason
    # where the caller does not know the step, the tie is still said, without a number
    unknown = verdict(FOLDS, list(FOLDS), higher_is_better=True, paired=True)
    assert unknown.tie and "cannot tell these apart" in unknown.reason and "series is" not in unknown.reason


def test_only_no_difference_at_all_is_a_tie():
    # unmatched sides that all score the same: a tie too
    assert verdict([0.9] * 3, [0.9] * 3, higher_is_better=True).tie
    # the same scores with a spread, unmatched: Welch's se is real, no tie
    same = [0.239, 0.968, 0.803, 0.448]
    v = verdict(same[::-1], same, higher_is_better=True)
    assert not v.tie and v.reason == "no gain (+0.0000, se 0.2342)"
    # pairs that differ, cancelling out: a measured zero gain, no tie
    v = verdict([1.0, 0.9375, 1.0], [0.9375, 1.0, 1.0], higher_is_better=True, paired=True)
    assert not v.tie and v.reason.startswith("no gain (+0.0000, se 0.0")
    # a loss equal to the float on every seed: a tie whichever way is better
    assert verdict([0.31, 0.29], [0.31, 0.29], higher_is_better=False, paired=True).tie
    with pytest.raises(ValueError, match="resolution"):
        verdict(FOLDS, FOLDS, higher_is_better=True, resolution=0.0)


def _group(name: str, scores: list[float], val_series: int | None = 16) -> list[dict]:
    return [{"run": f"runs/{name}-s{s}", "config": {"model.zoneout": name, "training.seed": str(s)},
             "headline": "acc", "higher_is_better": True, "val_acc@kept": v, "test_acc": 0.96 + s / 1000,
             **({"val_series": val_series} if val_series is not None else {})}
            for s, v in enumerate(scores)]


def test_compare_groups_tied_on_every_seed_say_tie_and_the_step_of_accuracy():
    seeds = [1.0, 1.0, 0.9375]
    table = grouped_table([_group("0", seeds), _group("0.1", seeds), _group("0.3", seeds)], {"model.zoneout": "0"})
    rows = table.splitlines()[2:]
    for row in rows:
        assert "se 0.0000" not in row and "no gain" not in row, row
        assert row.endswith("not better: tie: the same score on every seed (one validation series is 0.0625 of the "
                            "score here: the validation split cannot tell these apart; more folds or seeds, or a "
                            "finer metric such as val_loss, can)"), row
    # validation splits of other sizes (or unknown): no step is named, the tie still is
    table = grouped_table([_group("0", seeds, 16), _group("0.1", seeds, 17)], {"model.zoneout": "0"})
    assert "tie: the same score on every seed (the validation split cannot tell" in table
    table = grouped_table([_group("0", seeds, None), _group("0.1", seeds, None)], {"model.zoneout": "0"})
    assert "tie:" in table and "series is" not in table


def _single(name: str, kept: float, val_series: int | None = 16) -> dict:
    return {"run": f"runs/{name}", "config": {"model.zoneout": name, "training.seed": "0"}, "data": "ItalyPowerDemand",
            "task": "classification", "headline": "acc", "higher_is_better": True, "epochs": 30, "val_acc": kept, "val_acc@kept": kept,
            "test_acc": 0.96, "best_epoch": 20, "status": None, "records": [],
            **({"val_series": val_series} if val_series is not None else {})}


def test_single_runs_say_the_noise_is_unknown_and_how_to_measure_it():
    notes = compare.single_runs_notes([_single("0", 1.0), _single("0.1", 0.9375)])
    assert len(notes) == 1
    noise = notes[0]
    assert "single runs carry no noise estimate" in noise and "training.seed" in noise
    assert "rnnlab compare runs/*-s*" in noise and "docs/compare.md" in noise
    # one run is no comparison: nothing to say of the noise between runs
    assert compare.single_runs_notes([_single("0", 1.0)]) == []


def test_single_runs_tied_on_the_kept_score_say_it_once():
    runs = [_single(z, 1.0) for z in ("0", "0.1", "0.3")]
    notes = compare.single_runs_notes(runs)
    tie = [n for n in notes if "tie" in n]
    assert len(tie) == 1
    assert tie[0].startswith("note: every run scores val_acc@kept 1: a tie")
    assert "one validation series is 0.0625 of the score here: the validation split cannot tell these apart" in tie[0]
    # a run that scored otherwise: no tie
    assert not any("tie" in n for n in compare.single_runs_notes([*runs, _single("0.5", 0.9375)]))


def test_rnnlab_compare_prints_the_single_runs_notes_under_the_table(monkeypatch, tmp_path):
    # (the rows of three finished runs, built here: what matters is what compare says of them)
    rows = {str(tmp_path / z): {**_single(z, 1.0), "run": str(tmp_path / z)} for z in ("0", "0.1", "0.3")}
    monkeypatch.setattr(compare, "run_summary", lambda run: dict(rows[str(run)]))
    monkeypatch.setattr(compare, "_figures", lambda *a, **k: None)
    said: list[str] = []
    compare.run_compare(list(rows), str(tmp_path / "figs"), say=said.append)
    table = next(i for i, s in enumerate(said) if s.startswith("run "))
    after = said[table + 1:]
    assert sum("single runs carry no noise estimate" in s for s in after) == 1
    assert sum(s.startswith("note: every run scores val_acc@kept 1: a tie") for s in after) == 1


def test_a_runs_row_says_how_many_validation_series_its_accuracy_is_over(tmp_path):
    # (what the step of accuracy is read from: summary.json's validation counts per class)
    import torch
    from torch import nn

    from rnnlab.rundir import RunDir, append_jsonl, atomic_write_json
    from rnnlab.tracker import Tracker

    run = RunDir(tmp_path / "run")
    net = nn.LSTM(1, 2)
    with Tracker(run, net) as tracker:
        out, _ = net(torch.randn(5, 3, 1))
        loss = out.pow(2).mean()
        loss.backward()
        tracker.step(loss)
        append_jsonl(run.metrics, {"epoch": 1, "step": 1, "train_loss": float(loss), "val_loss": 0.5})
    assert compare.run_summary(run.path)["val_series"] is None  # (no per-class counts: unknown)
    atomic_write_json(run.summary, {"val_by_class": {"count": {"a": 9, "b": 7}}})
    assert compare.run_summary(run.path)["val_series"] == 16
