"""A new user's second reading of the docs: the templates' differences named where the docs
describe them, ``rnnlab recipe --seeds 1`` over folds, keys a task does not read refused when
given (whatever their value) and silent when not, the search's parameter count as the report
counts it, and prediction columns that never share a name."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from pydantic import BaseModel

from rnnlab.cli import main
from rnnlab.config import (
    LANGUAGE_MODEL_TEMPLATE,
    ConfigError,
    dump_config,
    load_config,
    parse_config,
    template_for,
)
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

DOCS = Path(__file__).resolve().parents[1] / "docs"


# ---------------------------------------------------------------------------------------------
# 1. Every key a task's template changes in the classification template is named where the docs
#    say what the template changes.

def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every key path (``model.frontend.blocks[i].dilation``) of a parsed config to its value, read
    from the models themselves (a dump leaves out what the task does not read); a list of tables
    by field."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for k in type(value).model_fields:
            out.update(_flat(getattr(value, k), f"{prefix}{k}."))
        return out
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        fields = {k for v in value for k in type(v).model_fields}
        return {f"{prefix[:-1]}[i].{k}": [getattr(v, k, None) for v in value] for k in fields}
    return {prefix[:-1]: value}


def _changed_keys(task: str) -> list[str]:
    base = _flat(parse_config(template_for("classification")))
    other = _flat(parse_config(template_for(task)))
    return sorted(k for k in base.keys() | other.keys() if base.get(k) != other.get(k))


def _section(doc: str, start: str, end: str) -> str:
    text = (DOCS / doc).read_text()
    assert start in text, f"{doc}: the section starting {start!r} is gone"
    body = text[text.index(start):]
    return body[:body.index(end)] if end in body else body


@pytest.mark.parametrize(("task", "doc", "start", "end"), [
    ("regression", "tasks.md", "`rnnlab init --task regression` writes this template", "\n- **Targets**"),
    ("per-step-regression", "per_step.md", "## The template (`rnnlab init --task per-step-regression`)",
     "\n## Measured"),
])
def test_the_doc_names_every_key_the_template_changes(task, doc, start, end):
    section = _section(doc, start, end)
    changed = _changed_keys(task)
    assert "adapt.shape" in changed and "model.frontend.blocks[i].dilation" in changed  # what the user found
    missing = [k for k in changed if not re.search("`" + re.escape(k) + r"( = [^`]*)?`", section)]
    assert not missing, f"docs/{doc} does not name {missing} among the {task} template's changes"


# ---------------------------------------------------------------------------------------------
# 2. The recipe's noise is the spread of a candidate's seed x fold scores: one seed over two folds
#    has one; one seed on one hold-out has none.

TINY = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 1
batch_size = 8
[tracking]
enabled = false
[search]
folds = {folds}
"""


def test_recipe_one_seed_over_two_folds_scores_two_runs_per_candidate(tmp_path: Path):
    import json

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.format(folds=2))
    out = tmp_path / "rec"
    assert main(["recipe", str(cfg), "--steps", "zoneout", "--seeds", "1", "--no-final", "--quiet",
                 "--out", str(out)]) == 0
    record = json.loads((out / "recipe.json").read_text())
    assert record["seeds"] == [0] and record["finished"]
    assert [len(t["scores"]) for t in record["steps"][0]["tried"]] == [2]  # 1 seed x 2 folds: a spread


@pytest.mark.parametrize(("folds", "seeds", "message"), [
    (1, "1", "--seeds: expected at least 2 with a 20% hold-out (the noise of a comparison is the spread of its "
             "seed x fold runs' differences: 1 seed x 1 fold has none), got 1"),
    (2, "0", "--seeds: expected at least 1, got 0"),
])
def test_recipe_refuses_too_few_scores_per_candidate(tmp_path: Path, capsys, folds, seeds, message):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY.format(folds=folds))
    code = main(["recipe", str(cfg), "--seeds", seeds, "--steps", "zoneout", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r" / "candidates").exists()


# ---------------------------------------------------------------------------------------------
# 3. A key the task does not read is refused when the user writes it, whatever its value; a key
#    the user did not write (and a config rnnlab wrote) stays silent.

FORECAST = template_for("forecasting")
REGRESSION = template_for("regression")


def _with(template: str, section: str, line: str) -> str:
    assert f"\n[{section}]\n" in template
    return template.replace(f"\n[{section}]\n", f"\n[{section}]\n{line}\n", 1)


@pytest.mark.parametrize(("text", "key"), [
    (_with(LANGUAGE_MODEL_TEMPLATE, "data", 'normalize = "per_channel"'), "'data.normalize'"),  # the default
    (_with(REGRESSION, "data", 'label_column = "label"'), "'data.label_column'"),
    (_with(template_for("classification"), "data", "bptt = 64"), "'data.bptt'"),
    (_with(template_for("classification"), "task", "horizon = 1"), "'task.horizon'"),
    (_with(FORECAST, "training", "batch_size = 32"), "'training.batch_size'"),
    (_with(FORECAST, "training", 'shuffle = "samples"'), "'training.shuffle'"),
    (_with(FORECAST, "data", "test_steps = 30"),
     "'data.test_steps' and 'data.test_fraction'"),
])
def test_a_key_the_task_does_not_read_is_refused_at_its_default(text, key):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "c.toml")
    assert key in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("task", ["classification", "regression", "per-step-classification", "per-step-regression",
                                  "forecasting", "language_model"])
def test_what_rnnlab_writes_reads_back_and_a_search_trial_validates(task):
    from rnnlab.search.space import apply_values

    config = parse_config(template_for(task))
    assert parse_config(dump_config(config)) == config  # a run's config.toml, a recipe's candidate
    assert apply_values(config, {"model.zoneout": 0.05}).model.zoneout == 0.05  # the search's trial configs


def test_a_forecasting_runs_mean_guard_is_recorded():
    config = parse_config(_with(FORECAST, "task", "mean_guard = true"))
    assert parse_config(dump_config(config)).task.mean_guard is True


def test_an_older_record_with_keys_the_task_does_not_read_still_loads():
    """(A guard: runs recorded every key before such keys were left out of what rnnlab writes.)"""
    def recorded_with(template: str, line: str) -> str:
        key = line.split(" = ")[0]
        text = re.sub(rf"\n{key} = [^\n]*", "", dump_config(parse_config(template)))
        return text.replace("[data]\n", f"[data]\n{line}\n", 1)

    assert parse_config(recorded_with(REGRESSION, 'label_column = "label"'), recorded=True).task.kind == "regression"
    lm = recorded_with(LANGUAGE_MODEL_TEMPLATE, 'normalize = "per_channel"')
    assert parse_config(lm, recorded=True).task.kind == "language_model"


# ---------------------------------------------------------------------------------------------
# 4. The search's first line counts the parameters as the report's importances do.

def test_the_first_line_gives_the_count_the_importances_use():
    from rnnlab.search.report import importances
    from rnnlab.search.space import default_space
    from rnnlab.search.study import space_summary

    space = default_space(parse_config('[data]\ndataset = "UnitTest"'), 1, 2)
    conditional = [p for p in space.params if p.requires is not None]
    assert conditional, "the default space has a conditional parameter"
    rng = np.random.default_rng(0)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(lambda t: (space.sample(t), float(rng.random()))[1], n_trials=16)
    sampled = {p for t in study.trials for p in t.params}
    assert all(p.name in sampled for p in conditional)  # some trials did sample it
    line = space_summary(space)
    used = len(importances(study))
    assert f"{len(space.params)} parameters" in line and f"{used} in every trial" in line
    for p in conditional:
        assert f"{p.name} only when {p.requires[0]} = {p.requires[1]}" in line


# ---------------------------------------------------------------------------------------------
# 6. Probability columns named like the fixed columns get p(...): every column one name.

def _train_classifier(tmp: Path, classes: list[str]) -> Path:
    rng = np.random.default_rng(0)
    y = np.array(classes * 8)
    X = rng.normal(size=(len(y), 6, 1)) + np.arange(len(y))[:, None, None] % len(classes)
    np.savez(tmp / "train.npz", X=X, y=y)
    np.savez(tmp / "new.npz", X=X[:5])
    cfg = tmp / "c.toml"
    cfg.write_text('[data]\npath = "train.npz"\nval_fraction = 0.25\n[model]\nhidden_size = 4\n'
                   "[training]\nepochs = 1\nbatch_size = 8\n[tracking]\nenabled = false\n")
    train(load_config(cfg), out=tmp / "run", progress=False, log=None)  # (`rnnlab train`'s run, less its report)
    return tmp / "run"


def test_class_names_like_the_fixed_columns_give_unambiguous_columns(tmp_path: Path):
    import pandas as pd

    run = _train_classifier(tmp_path, ["series", "label", "a,b\nc"])
    assert main(["predict", str(run), "--data", str(tmp_path / "new.npz")]) == 0
    with open(run / "predictions.csv", newline="") as f:
        header = next(csv.reader(f))
    assert len(set(header)) == len(header), header
    assert header[:2] == ["series", "label"]
    assert sorted(header[2:]) == sorted(["p(series)", "p(label)", "p(a,b\nc)"])
    frame = pd.read_csv(run / "predictions.csv")
    assert list(frame.columns) == header  # no 'label.1'
    assert np.allclose(frame[header[2:]].sum(axis=1), 1.0)
    named = {c[2:-1] for c in header[2:]}
    assert set(frame["label"]) <= named  # each label names a probability column


def test_class_names_apart_from_the_fixed_columns_keep_their_names(tmp_path: Path):
    run = _train_classifier(tmp_path, ["up", "down"])
    assert main(["predict", str(run), "--data", str(tmp_path / "new.npz")]) == 0
    with open(run / "predictions.csv", newline="") as f:
        assert sorted(next(csv.reader(f))) == sorted(["series", "label", "up", "down"])


def test_a_target_named_series_gives_unambiguous_columns(tmp_path: Path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 6))
    rows = ["series," + ",".join(f"t{i}" for i in range(6))]
    rows += [f"{x.sum():.6f}," + ",".join(f"{v:.6f}" for v in x) for x in X]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    np.savez(tmp_path / "new.npz", X=X[:3, :, None])
    cfg = tmp_path / "c.toml"
    cfg.write_text('[task]\nkind = "regression"\n[data]\npath = "train.csv"\ntarget_column = "series"\n'
                   "val_fraction = 0.25\n[model]\nhidden_size = 4\n[training]\nepochs = 1\nbatch_size = 8\n"
                   "[tracking]\nenabled = false\n")
    run = tmp_path / "run"
    train(load_config(cfg), out=run, progress=False, log=None)  # (`rnnlab train`'s run, less its report)
    assert main(["predict", str(run), "--data", str(tmp_path / "new.npz")]) == 0
    with open(run / "predictions.csv", newline="") as f:
        assert next(csv.reader(f)) == ["series", "value(series)"]
