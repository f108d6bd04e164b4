"""The recipe's decision rule and its walk over the steps, on synthetic score tables."""

from __future__ import annotations

import math

import pytest

from rnnlab.config import parse_config
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.recipe.decide import verdict
from rnnlab.recipe.procedure import run_recipe
from rnnlab.recipe.steps import RECIPE, STEP_NAMES, by_name, recipe_table, select_steps

NOISY = [0.70, 0.74, 0.78]  # mean 0.74, sd 0.04
GOOD, BETTER, BEST = [0.84, 0.85, 0.86], [0.90, 0.91, 0.92], [0.96, 0.97, 0.98]


def _config(extra: str = "") -> object:
    return parse_config('[data]\ndataset = "UnitTest"\n' + extra)


def test_clear_gain_is_kept_and_gain_inside_noise_is_scrapped():
    clear = verdict([0.84, 0.86, 0.88], NOISY, higher_is_better=True)
    assert clear.kept and clear.gain == pytest.approx(0.12) and clear.gain > clear.se
    inside = verdict([0.72, 0.76, 0.80], NOISY, higher_is_better=True)  # +0.02, se ~0.033
    assert not inside.kept and 0 < inside.gain < inside.se and "not above one standard error" in inside.reason
    worse = verdict([0.60, 0.61, 0.62], NOISY, higher_is_better=True)
    assert not worse.kept and worse.gain < 0


def test_rule_is_the_standard_error_of_the_difference():
    v = verdict([1.0, 2.0, 3.0], [0.0, 0.5, 1.0], higher_is_better=True)
    assert v.se == pytest.approx(math.sqrt(1.0 / 3 + 0.25 / 3))
    assert v.gain == pytest.approx(1.5) and v.kept


def test_loss_metric_prefers_lower_and_single_runs_are_not_enough():
    assert verdict([0.30, 0.31], [0.50, 0.52], higher_is_better=False).kept
    assert not verdict([0.50, 0.52], [0.30, 0.31], higher_is_better=False).kept
    one = verdict([0.99], [0.10, 0.11], higher_is_better=True)
    assert not one.kept and one.se == math.inf
    assert not verdict([0.8, 0.8], [0.8, 0.8], higher_is_better=True).kept  # a tie
    with pytest.raises(ValueError, match="finite"):
        verdict([float("nan"), 0.1], [0.1, 0.2], higher_is_better=True)


def _walk(table, steps, base=None):
    calls = []

    def evaluate(jobs):
        calls.append([label for label, _ in jobs])
        return [table.get(label, NOISY) for label, _ in jobs]

    base = base or _config()
    result = run_recipe(base, select_steps(steps, base), evaluate, higher_is_better=True)
    return result, calls


def test_input_dropout_tries_02_only_when_01_helped():
    r, calls = _walk({"input_dropout=0.1": GOOD}, "input_dropout")
    assert calls == [["baseline"], ["input_dropout=0.1"], ["input_dropout=0.2"]]
    assert [t.label for t in r.outcomes[0].kept] == ["input_dropout=0.1"]  # 0.2 (noisy) did not beat 0.1
    assert r.final.model.input_dropout == 0.1
    r, calls = _walk({}, "input_dropout")  # 0.1 no better than the baseline: the step is scrapped
    assert calls == [["baseline"], ["input_dropout=0.1"]]
    assert r.outcomes[0].kept == [] and r.final.model.input_dropout == 0.0


def test_recurrent_dropout_ladder_goes_up_or_back_to_03():
    r, calls = _walk({"recurrent_dropout=0.2": GOOD, "recurrent_dropout=0.4": BETTER,
                      "recurrent_dropout=0.5": BEST}, "recurrent_dropout")
    assert [c[0] for c in calls[1:]] == ["recurrent_dropout=0.2", "recurrent_dropout=0.4", "recurrent_dropout=0.5"]
    assert r.final.model.recurrent_dropout == 0.5 and r.final_scores == BEST
    r, calls = _walk({"recurrent_dropout=0.2": GOOD, "recurrent_dropout=0.3": BETTER}, "recurrent_dropout")
    assert [c[0] for c in calls[1:]] == ["recurrent_dropout=0.2", "recurrent_dropout=0.4", "recurrent_dropout=0.3"]
    assert r.final.model.recurrent_dropout == 0.3
    assert r.outcomes[0].tried[-1].against == "recurrent_dropout=0.2"  # compared with the kept config


def test_side_by_side_candidates_keep_the_larger_gain_and_later_steps_start_from_it():
    r, calls = _walk({"recurrent decay 0.1": GOOD, "recurrent decay 0.01": BETTER,
                      "zoneout=0.1": GOOD}, "recurrent_decay,zoneout")
    assert calls[1] == ["recurrent decay 0.1", "recurrent decay 0.01"]  # one round, side by side
    first = r.outcomes[0]
    assert [t.label for t in first.kept] == ["recurrent decay 0.01"]
    assert "another candidate gained more" in first.tried[0].reason
    assert r.outcomes[1].kept == [] and r.final_label == "recurrent decay 0.01"  # GOOD < BETTER
    assert r.outcomes[1].tried[0].config.training.decay_rules[0].weight_decay == 0.01
    rules = [(x.role, x.weight_decay) for x in r.final.training.decay_rules]
    assert ("recurrent", 0.01) in rules


def test_decay_values_follow_the_optimizer():
    coupled = [c.changes for c in by_name("kernel_decay").tier(_config('[training]\noptimizer = "adam"')).candidates]
    decoupled = [c.changes for c in by_name("kernel_decay").tier(_config()).candidates]
    assert coupled == [{"decay.kernel": 2e-3}, {"decay.kernel": 2e-4}]
    assert decoupled == [{"decay.kernel": 0.1}, {"decay.kernel": 0.01}]


def test_stacked_only_candidates_do_not_apply_to_one_layer_and_branch_as_scrapped():
    r, calls = _walk({"recurrent_batch_norm": GOOD}, "batch_norm,residual")
    bn, residual = r.outcomes
    assert bn.tried[0].not_applicable.startswith("needs stacked layers")
    assert [t.label for t in bn.kept] == ["recurrent_batch_norm"] and r.final.model.recurrent_batch_norm
    assert residual.tried[0].not_applicable and calls == [["baseline"], ["recurrent_batch_norm"]]
    r, _ = _walk({}, "residual", base=_config("[model]\nnum_layers = 2\nhidden_size = 8"))
    assert r.outcomes[0].tried[0].not_applicable is None


def test_a_candidate_the_config_already_has_is_not_run_and_refused_ones_are_reported():
    # a regularizer the config already has is first tried off (does its training part support it?);
    # the value it holds is then not trained again
    r, calls = _walk({}, "zoneout", base=_config("[model]\nzoneout = 0.1"))
    assert calls == [["baseline"], ["zoneout=0"]] and "already" in r.outcomes[0].tried[1].reason
    assert r.final.model.zoneout == 0.1  # (off was no better: kept)

    # a value the config already holds counts as reached: the walk asks the question after it
    r, calls = _walk({"input_dropout=0.2": GOOD}, "input_dropout", base=_config("[model]\ninput_dropout = 0.1"))
    assert calls == [["baseline"], ["input_dropout=0"], ["input_dropout=0.2"]]
    assert [t.label for t in r.outcomes[0].kept] == ["input_dropout=0.2"] and r.final.model.input_dropout == 0.2
    r, calls = _walk({}, "input_dropout", base=_config("[model]\ninput_dropout = 0.1"))
    assert calls == [["baseline"], ["input_dropout=0"], ["input_dropout=0.2"]] and r.final.model.input_dropout == 0.1

    # the template's AR and TAR: both off first, then stronger AR, then each alone
    lm = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[training]\nar = 1.0\ntar = 1.0')
    r, calls = _walk({}, "activation_regularization", base=lm)
    assert calls == [["baseline"], ["ar=0 tar=0"], ["ar=2 tar=1"], ["ar=2 tar=0", "ar=0 tar=1"]]
    assert r.final.training.ar == 1.0 and r.final.training.tar == 1.0

    def refuse(config, changes):
        raise ConfigError("recipe: 'model.zoneout' is not for this layer")

    r = run_recipe(_config(), select_steps("zoneout"), lambda jobs: [NOISY] * len(jobs),
                   higher_is_better=True, apply=refuse)
    assert r.outcomes[0].tried[0].reason == "not applicable: 'model.zoneout' is not for this layer"


def test_steps_by_name_with_did_you_mean_and_in_recipe_order():
    assert [s.name for s in select_steps("nadamw, zoneout")] == ["zoneout", "nadamw"]
    with pytest.raises(ConfigError, match=r"unknown recipe step 'zonout'; did you mean 'zoneout'\?"):
        select_steps("zonout")
    with pytest.raises(ConfigError, match="the steps are: recurrent_decay, kernel_decay"):
        by_name("nothing-like-it")
    with pytest.raises(ConfigError, match="comma-separated"):
        select_steps(" , ")
    assert len(STEP_NAMES) == len(RECIPE) == len(set(STEP_NAMES))
    assert recipe_table(_config()).count("\n") == len(RECIPE) + 1


def test_the_docs_show_the_recipe_as_the_code_defines_it():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "regularization.md").read_text(encoding="utf-8")
    start = text.index("<!-- recipe-table")
    table = text[text.index("\n", start) + 1:text.index("<!-- /recipe-table -->")].strip()
    assert table == recipe_table(parse_config('[data]\ndataset = "GunPoint"')).strip()


def test_a_candidate_that_fails_to_train_is_reported_and_the_walk_goes_on():
    table = {"zoneout=0.1": "seed 0: epoch 3, step 9: NaN gradients", "layer_norm": GOOD}
    r, _ = _walk(table, "zoneout,layer_norm")
    zoneout, layer_norm = r.outcomes
    assert zoneout.kept == [] and zoneout.tried[0].reason == "training failed: seed 0: epoch 3, step 9: NaN gradients"
    assert [t.label for t in layer_norm.kept] == ["layer_norm"]
    with pytest.raises(RnnlabError, match="the baseline config failed to train"):
        _walk({"baseline": "seed 0: diverged"}, "zoneout")
