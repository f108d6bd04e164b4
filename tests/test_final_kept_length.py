"""The final run of ``rnnlab search`` and ``rnnlab recipe`` trains as long as the kept models of
the runs that chose its config: under early stopping each fold's run was scored by its best
validation epoch's model, so the final run (no validation part to stop on) trains the median of
those lengths, not the whole budget. Real tiny runs on the bundled UnitTest data; the expected
lengths are read from the fold runs' own metrics.jsonl."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.recipe.run import RecipeOptions, candidate_dir, run_recipe_command
from rnnlab.rundir import read_json, read_jsonl
from rnnlab.search.trial import kept_lengths

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

BUDGET = 12  # epochs: the folds below keep epochs 1 to 6 of them
SEARCH = f"""name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = {BUDGET}
batch_size = 8
lr = 0.05
threads = 1
[training.early_stopping]
monitor = "val_loss"
patience = {{patience}}
[tracking]
enabled = false
health = false
grad_through_time = false
[search]
folds = 3
reports = "none"
"""

# training.steps with the shape rule on: it wants 800 steps for UnitTest's 2 classes at batch 8,
# capped by adapt.max_steps at 24, which every fold run gets.
RECIPE = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
steps = 6
batch_size = 8
lr = 0.05
threads = 1
[training.early_stopping]
monitor = "val_loss"
patience = 2
[adapt]
shape = true
max_steps = 24
[tracking]
health = false
grad_through_time = false
weights_every = 0
grads_every = 0
[search]
folds = 2
"""


def kept_records(directory: Path) -> list[dict]:
    """Each fold run's kept model under early stopping on val_loss: its lowest val_loss epoch
    (the earliest, on a tie), read from its metrics.jsonl."""
    kept = []
    for metrics in sorted(directory.glob("**/fold-*/metrics.jsonl")):
        records = [r for r in read_jsonl(metrics) if "val_loss" in r]
        kept.append(min(records, key=lambda r: r["val_loss"]))
    return kept


def median_half_up(values: list[int]) -> int:
    return max(1, math.floor(float(np.median(values)) + 0.5))


def search(config: Path, out: Path, *extra: str) -> int:
    return main(["search", str(config), "--trials", "1", "--out", str(out), *extra])


@pytest.fixture()
def es_config(tmp_path: Path) -> Path:
    path = tmp_path / "es.toml"
    path.write_text(SEARCH.format(patience=2))
    return path


def test_search_final_run_trains_the_median_kept_epoch_and_a_rerun_reuses_it(es_config, tmp_path, capsys):
    out = tmp_path / "s"
    assert search(es_config, out) == 0
    printed = capsys.readouterr().out
    kept = kept_records(out / "trials" / "0000")
    assert len(kept) == 3
    expected = median_half_up([int(r["epoch"]) for r in kept])
    assert expected < BUDGET  # (else the whole budget would pass for the rule)

    final_dir = out / "final"
    assert load_config(final_dir / "config.toml").training.epochs == expected
    summary = read_json(final_dir / "summary.json")
    assert summary["epochs"] == expected and not summary["stopped_early"]
    record = read_json(out / "final.json")
    assert record["length"]["rule"] == "median of the kept models"
    assert record["length"]["lengths"] == sorted(int(r["epoch"]) for r in kept)
    assert record["length"]["median"] == expected and record["length"]["trained"]["epoch"] == expected
    assert (f"final: trial 0's config on the whole training split for {expected} epoch"
            f"{'s' if expected != 1 else ''} (the median of its 3 runs' kept models:") in printed
    # trial.json records each fold's kept model, read back by kept_lengths
    assert sorted(k["epoch"] for k in kept_lengths(out / "trials" / "0000")) == sorted(r["epoch"] for r in kept)
    assert sorted(k["step"] for k in kept_lengths(out / "trials" / "0000")) == sorted(r["step"] for r in kept)
    # the study page says how long the final run trained, and why
    page = (out / "study.html").read_text()
    trained = record["length"]["trained"]
    assert (f"retrained on the whole training split for {trained['epoch']} epoch{'s' if trained['epoch'] != 1 else ''}, "
            f"{trained['step']} steps: the median of its 3 runs&#x27; kept models") in page, page[-3000:]

    # (e) the same command again: the finished final run is reused, not trained again
    stamp = (final_dir / "summary.json").stat().st_mtime_ns
    metrics = (final_dir / "metrics.jsonl").read_bytes()
    assert search(es_config, out) == 0
    assert (final_dir / "summary.json").stat().st_mtime_ns == stamp
    assert (final_dir / "metrics.jsonl").read_bytes() == metrics
    assert read_json(out / "final.json")["length"] == record["length"]
    assert not list(out.glob("final-trial*"))


def test_without_early_stopping_the_final_run_trains_the_whole_budget(tmp_path, capsys):
    config = tmp_path / "plain.toml"
    config.write_text(SEARCH.format(patience=0))
    out = tmp_path / "s"
    assert search(config, out) == 0
    assert load_config(out / "final" / "config.toml").training.epochs == BUDGET
    assert read_json(out / "final" / "summary.json")["epochs"] == BUDGET
    record = read_json(out / "final.json")
    assert record["length"] == {"rule": "whole budget", "trained": record["length"]["trained"]}
    assert record["length"]["trained"]["epoch"] == BUDGET
    assert f"for its whole budget, {BUDGET} epochs (no early stopping)" in capsys.readouterr().out


def test_a_trial_json_without_kept_lengths_gives_the_whole_budget(es_config, tmp_path, capsys):
    out = tmp_path / "s"
    assert search(es_config, out, "--no-final") == 0
    trial = out / "trials" / "0000" / "trial.json"
    old = json.loads(trial.read_text())
    assert old["kept"]
    del old["kept"]  # as a trial.json written before the kept lengths were recorded
    trial.write_text(json.dumps(old))
    assert kept_lengths(trial.parent) == []
    capsys.readouterr()
    assert search(es_config, out) == 0  # the study is done: only the final run trains
    assert load_config(out / "final" / "config.toml").training.epochs == BUDGET
    assert read_json(out / "final" / "summary.json")["epochs"] == BUDGET
    assert read_json(out / "final.json")["length"]["rule"] == "whole budget"
    assert "for its whole budget, 12 epochs (its runs recorded no kept models' lengths" in capsys.readouterr().out


def test_recipe_baseline_and_final_test_runs_train_the_median_kept_step(tmp_path):
    config = tmp_path / "rec.toml"
    config.write_text(RECIPE)
    out = tmp_path / "r"
    lines: list[str] = []
    outcome = run_recipe_command(RecipeOptions(config=str(config), seeds=2, steps="zoneout", out=str(out)),
                                 log=lines.append)
    recorded = read_json(out / "recipe.json")["tests"]
    for name, label, cfg in (("baseline", "baseline", outcome.result.baseline),
                             ("final", outcome.result.final_label, outcome.result.final)):
        kept = kept_records(candidate_dir(out, label, cfg))
        assert len(kept) == 2 * 2  # seeds x folds
        expected = median_half_up([int(r["step"]) for r in kept])
        assert expected < 24  # (else the shape rule's budget would pass for the rule)
        run = out / "test" / name
        assert load_config(run / "config.toml").training.steps == expected  # the shape rule did not raise it
        summary = read_json(run / "summary.json")
        trained, epochs = int(summary["final"]["step"]), int(summary["epochs"])
        per_epoch = trained // epochs
        # training.steps trains whole epochs: the first epoch end at or past the median
        assert trained == per_epoch * epochs and expected <= trained < expected + per_epoch
        length = recorded[name]["length"]
        assert length["unit"] == "steps" and length["median"] == expected
        assert length["lengths"] == sorted(int(r["step"]) for r in kept)
        assert length["trained"] == {"epoch": epochs, "step": trained}
        assert any(line.startswith(f"{name}: retrained on the whole training split for {expected} step") and
                   "kept models" in line for line in lines), lines
        # the recipe's pages say it, and that the candidates were scored by their kept models
        said = (f"{name} for {epochs} epoch{'s' if epochs != 1 else ''}, {trained} steps: the median of its 4 runs' "
                "kept models" + (f", {expected} steps, rounded up to whole epochs" if trained != expected else ""))
        md, html = (out / "recipe.md").read_text(), (out / "recipe.html").read_text()
        assert said in md and said in html.replace("&#x27;", "'"), md
        assert "of the model each run kept (its best validation epoch" in md and "at the last epoch" not in md


def test_a_warm_up_longer_than_the_final_run_is_shortened_in_proportion(tmp_path):
    # (a user's report: folds that kept their models inside a 50-step warm-up gave a final run of
    # 40 steps, which the trainer refused: "the warm-up is not shorter than the training")
    from rnnlab.config import parse_config
    from rnnlab.train.final import final_config, retrain_and_test

    text = SEARCH.format(patience=2).replace(f"epochs = {BUDGET}\n", "steps = 150\n") \
        + "[training.schedule]\nkind = \"cosine\"\nwarmup_steps = 50\n"
    config = parse_config(text)
    kept = [{"epoch": 5, "step": 30}, {"epoch": 7, "step": 40}, {"epoch": 11, "step": 66}]
    schedule = final_config(config, tmp_path / "f", kept).training.schedule
    assert (schedule.kind, schedule.warmup_steps) == ("cosine", math.floor(50 * 40 / 150))  # 13 of 40
    final = retrain_and_test(config, tmp_path / "final", kept)
    assert final["length"]["median"] == 40 and final["length"]["trained"]["step"] >= 40
    assert load_config(tmp_path / "final" / "config.toml").training.schedule.warmup_steps == 13
    assert "reused" not in final
    assert retrain_and_test(config, tmp_path / "final", kept)["reused"] is True  # the same command again
