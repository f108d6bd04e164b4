"""``rnnlab recipe``, second round: a candidate the config already has in effect is not scored
(a decay the global one gives, a zoneout spelt per state), the shuffling step on a stream is not
applicable (named alone, a one-line error), and the unknown-step message reads as two sentences.

The command's tests replace the training of a (config, seed) by fixed scores (``_score``): they
check what the recipe decides to score and what it reports, not what training gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_streams import sine, stream_toml

import rnnlab.recipe.run as recipe_run
from rnnlab.cli import main
from rnnlab.config import load_config, parse_config
from rnnlab.errors import ConfigError
from rnnlab.recipe.procedure import ALREADY, run_recipe
from rnnlab.recipe.run import InEffect, RecipeOptions, run_recipe_command
from rnnlab.recipe.steps import by_name, select_steps
from rnnlab.search.trial import FoldPlan

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
{model}
[training]
epochs = 1
batch_size = 8
weight_decay = 1e-2
[[training.decay_rules]]
role = "recurrent"
weight_decay = 1e-3
[tracking]
enabled = false
[search]
folds = 2
"""


@pytest.fixture()
def scored(monkeypatch) -> list[str]:
    """Each scored (config, seed) gets the same two fold scores (a spread, so a verdict has a
    noise); returns the run directories asked for, in order."""
    asked: list[str] = []

    def fixed(job):
        asked.append(job[0])
        return [0.5, 0.6]

    monkeypatch.setattr(recipe_run, "_score", fixed)
    return asked


def _tried(out: Path, step: str) -> dict[str, dict]:
    record = json.loads((out / "recipe.json").read_text())
    return {t["label"]: t for s in record["steps"] if s["step"] == step for t in s["tried"]}


def test_a_decay_or_zoneout_the_config_already_has_in_effect_is_not_scored(tmp_path, scored):
    # kernel decay 0.01 is what weight_decay = 1e-2 gives the kernel weights already; zoneout 0.1
    # is [0.1, 0.1] on an LSTM. Scored, they trained as the baseline and read "scrapped".
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(model="zoneout = [0.1, 0.1]"))
    out = tmp_path / "rec"
    lines: list[str] = []
    run_recipe_command(RecipeOptions(config=str(path), seeds=2, steps="kernel_decay,zoneout", out=str(out),
                                     final=False), log=lines.append)
    kernel = _tried(out, "kernel_decay")
    assert kernel["kernel decay 0.01"]["status"] == "not applicable"
    assert kernel["kernel decay 0.01"]["reason"] == f"not applicable: {ALREADY}"
    assert kernel["kernel decay 0.1"]["status"] == "scrapped"
    assert _tried(out, "zoneout")["zoneout=0.1"]["reason"] == f"not applicable: {ALREADY}"
    # only the baseline, kernel decay 0.1 and the config's zoneout turned off were trained, 2 seeds each
    assert sorted(Path(d).parent.name.split("-")[0] for d in scored) == (["baseline"] * 2 + ["kernel_decay_0.1"] * 2
                                                                         + ["zoneout=0"] * 2)
    line = next(x for x in lines if x.startswith("step kernel_decay:"))
    assert f"kernel decay 0.01: not applicable: {ALREADY}" in line
    final = load_config(out / "final.toml")
    assert [(r.role, r.weight_decay) for r in final.training.decay_rules] == [("recurrent", 1e-3)]


def test_in_effect_compares_what_trains_and_survives_a_config_that_builds_no_model(tmp_path):
    base = parse_config(TINY.format(model="num_layers = 2"))
    same = InEffect(base, FoldPlan(k=2, seed=0))
    assert same(base.model_copy(update={"training": base.training.model_copy(update={"weight_decay": 0.0})}),
                base) is False
    # residual=True adds a 1-channel input to a 4-unit output: no model, its training fails; the
    # steps after it are compared with it too (scored before) and must still be walked
    failed = {"residual=True": "seed 0: the layer refused it"}
    calls: list[list[str]] = []

    def evaluate(jobs):
        calls.append([label for label, _ in jobs])
        return [failed.get(label, [0.5, 0.6]) for label, _ in jobs]

    r = run_recipe(base, select_steps("kernel_decay,residual,zoneout"), evaluate, higher_is_better=True, same=same)
    assert calls == [["baseline"], ["kernel decay 0.1"], ["residual=True"], ["zoneout=0.1"]], calls
    assert r.outcomes[1].tried[0].reason.startswith("training failed")


FORECAST_RECIPE = """weight_decay = 1e-2
[[training.decay_rules]]
role = "recurrent"
weight_decay = 1e-3
[search]
folds = 2
"""


def _forecaster(tmp_path: Path) -> Path:
    path = tmp_path / "f.toml"
    path.write_text(stream_toml(sine(tmp_path), training="epochs = 1\n" + FORECAST_RECIPE))
    return path


def test_on_a_stream_shuffling_does_not_apply_and_a_decay_it_has_is_not_scored(tmp_path, scored):
    out = tmp_path / "rec"
    lines: list[str] = []
    run_recipe_command(RecipeOptions(config=str(_forecaster(tmp_path)), seeds=2,
                                     steps="kernel_decay,shuffle_within_batch", out=str(out), final=False),
                       log=lines.append)
    shuffle = _tried(out, "shuffle_within_batch")["shuffle_within_batch"]
    assert shuffle["status"] == "not applicable" and "a stream's rows are one batch read in order" in shuffle["reason"]
    assert _tried(out, "kernel_decay")["kernel decay 0.01"]["reason"] == f"not applicable: {ALREADY}"
    assert len(scored) == 2 * 2  # the baseline and kernel decay 0.1, 2 seeds each
    assert "step shuffle_within_batch: shuffle_within_batch: not applicable: a stream's rows" in "\n".join(lines)
    assert "| `shuffle_within_batch` | shuffle_within_batch | baseline | - |  |  | **not applicable**: a stream" \
        in (out / "recipe.md").read_text()


@pytest.mark.parametrize("case", ["stream", "stream, batch statistics", "one-layer"])
def test_steps_that_do_not_apply_named_alone_are_one_line_and_nothing_runs(tmp_path, scored, capsys, case):
    if case == "stream":
        config, step, why = _forecaster(tmp_path), "shuffle_within_batch", "a stream's rows are one batch read in order"
    elif case == "stream, batch statistics":  # (as the forecasting template and the search's stream space)
        config, step, why = _forecaster(tmp_path), "batch_norm", "a stream's rows are pieces of one series or text"
    else:
        config, step, why = tmp_path / "tiny.toml", "residual", "needs stacked layers"
        config.write_text(TINY.format(model=""))
    code = main(["recipe", str(config), "--steps", step, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and f"--steps: nothing to try on this config: {step} does not apply (" in err and why in err
    assert err.count("\n") == 1 and not scored and not (tmp_path / "r").exists()


def test_an_unknown_step_reads_as_a_question_then_the_list():
    with pytest.raises(ConfigError) as e:
        by_name("zonout")
    assert str(e.value).startswith("--steps: unknown recipe step 'zonout'; did you mean 'zoneout'? The steps are: "
                                   "recurrent_decay, kernel_decay,")
    assert "?;" not in str(e.value)
