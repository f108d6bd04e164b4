"""IndRNN in `rnnlab search` and `rnnlab recipe`, round 9 (a researcher's report).

1. An IndRNN's recurrent bound ``|u| <= b`` (Li et al. 2018: ``b = MAG^(1/T)``, e.g. 2^(1/100)) is
   part of the model. The derived key ``model.max_norm`` wrote ``recurrent_constraint = None``
   ("off") or max-norm 3 ("on") whatever the config had: the default space's trials, best.toml and
   the recipe's constraint step dropped the bound or replaced it by 3 (|u|^100 up to 5e47). Now on
   an IndRNN the key is the kernel's max-norm only, and the recurrent bound stays the config's; a
   space of the user's that names it says so in one line.
2. Inverted dropout on the fed-back state or on u (``recurrent_dropout``, ``weight_drop``) scales
   each kept unit's u by 1/(1-p): in training |u| is b/(1-p), above the bound, at every step (train
   loss 3e12 over 1000 steps). The config check now warns with the figure; the default space and
   the recipe leave both keys out for an IndRNN. GRU and LSTM are unchanged.
"""

from __future__ import annotations

import warnings

import pytest

from rnnlab.config import parse_config
from rnnlab.recipe.steps import describe, not_applicable, steps_for
from rnnlab.search.space import apply_values, baseline_values, default_space, space_from_config
from rnnlab.search.study import SearchOptions, run_search

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

BOUND = 2 ** (1 / 100)  # Li et al.'s bound for 100 steps at MAG 2: 1.0069555500567189
BOUNDED = {"kind": "max_norm", "value": BOUND}


def _config(layer: str = "indrnn", model: str = "", head: str = "", search: str = "") -> str:
    bound = f'recurrent_constraint = {{ kind = "max_norm", value = {BOUND!r} }}\n' if layer == "indrnn" else ""
    return (f'name = "ind"\n{head}[data]\ndataset = "UnitTest"\n[model]\nlayer = "{layer}"\nhidden_size = 4\n{bound}'
            f'{model}[training]\nepochs = 1\nbatch_size = 8\nthreads = 1\n[tracking]\nhealth = false\n'
            f'grad_through_time = false\n[search]\nfolds = 2\nreports = "none"\n{search}')


def _quiet(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_config(text)


# ------------------------------------------------------------------------------ 1. the bound stays


def test_the_default_space_keeps_an_indrnns_bound_whatever_max_norm_draws():
    base = _quiet(_config().replace("[training]\n", "[training]\nweight_decay = 1e-2\n"))  # (in the decays' ranges)
    space = default_space(base, 1, 2)
    names = [p.name for p in space.params]
    assert "model.max_norm" in names  # (still searched: on the kernel)
    for on in (False, True):
        cfg = space.apply(base, {"model.max_norm": on})
        assert cfg.model.recurrent_constraint.model_dump() == BOUNDED
        assert cfg.model.kernel_constraint == (_quiet(_config()).model.kernel_constraint if not on else
                                               cfg.model.kernel_constraint)
        assert (cfg.model.kernel_constraint is not None) == on
        if on:
            assert cfg.model.kernel_constraint.model_dump() == {"kind": "max_norm", "value": 3.0}
    why = next(p.why for p in space.params if p.name == "model.max_norm")
    assert "kernel" in why and "IndRNN" in why and "recurrent" in why, why
    # The config itself is now a sample of the space (max_norm off: no kernel constraint, the bound kept).
    values, outside = baseline_values(space, base, 1, 2)
    assert outside == "" and values["model.max_norm"] is False


def test_a_two_trial_search_keeps_the_bound_in_every_trial_and_in_best_toml(tmp_path):
    config = tmp_path / "ind.toml"
    config.write_text(_config())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), trials=2, final=False), log=None)
    trials = sorted((tmp_path / "s" / "trials").glob("*/config.toml"))
    assert len(trials) == 2
    for path in [*trials, tmp_path / "s" / "best.toml"]:
        model = _quiet(path.read_text()).model
        assert model.recurrent_constraint.model_dump() == BOUNDED, (path, model.recurrent_constraint)
        assert model.recurrent_dropout == model.weight_drop == 0.0, path


def test_a_users_max_norm_on_an_indrnn_says_what_it_does_to_the_bound_in_one_line():
    base = _quiet(_config(search='[search.space]\n"model.max_norm" = { choices = [false, true] }\n'
                                 '"model.zoneout" = { low = 0.0, high = 0.2 }\n'))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        space = space_from_config(base, 1, 2)
    lines = [str(w.message) for w in said if "model.max_norm" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert "kernel" in lines[0] and f"{BOUND:.6g}" in lines[0] and "model.recurrent_constraint" in lines[0], lines[0]
    assert [p.name for p in space.params] == ["model.max_norm", "model.zoneout"]  # (their choice kept)
    for on in (False, True):
        assert space.apply(base, {"model.max_norm": on}).model.recurrent_constraint.model_dump() == BOUNDED


def test_an_indrnns_bound_can_be_searched_beside_max_norm_by_naming_it():
    bounds = '[{ kind = "max_norm", value = 1.0069555500567189 }, { kind = "max_norm", value = 1.0232929922807541 }]'
    base = _quiet(_config(search=f'[search.space]\n"model.max_norm" = {{ choices = [false, true] }}\n'
                                 f'"model.recurrent_constraint" = {{ choices = {bounds} }}\n'))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        space = space_from_config(base, 1, 2)  # (no overlap: max_norm writes the kernel's only)
    cfg = space.apply(base, {"model.max_norm": True,
                             "model.recurrent_constraint": {"kind": "max_norm", "value": 10 ** (1 / 100)}})
    assert (cfg.model.kernel_constraint.value, cfg.model.recurrent_constraint.value) == (3.0, 10 ** (1 / 100))


def test_a_users_max_norm_on_a_gru_says_nothing_and_still_sets_both():
    base = parse_config(_config("gru", search='[search.space]\n"model.max_norm" = { choices = [false, true] }\n'
                                              '"model.zoneout" = { low = 0.0, high = 0.2 }\n'))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        space = space_from_config(base, 1, 2)
    assert [str(w.message) for w in said] == []
    cfg = space.apply(base, {"model.max_norm": True})
    assert cfg.model.recurrent_constraint.value == cfg.model.kernel_constraint.value == 3.0


# ------------------------------------------------------------------------------ recipe


def _candidates(config):
    """Every candidate of every step and branch the recipe offers ``config``, with its step."""
    for step in steps_for(config):
        tiers = [step.tier(config)]
        while tiers:
            tier = tiers.pop()
            yield from ((step.name, c) for c in tier.candidates)
            tiers += [t for t in (tier.if_kept, tier.if_scrapped) if t is not None]


@pytest.mark.parametrize("extra", ["", "recurrent_dropout = 0.1\nweight_drop = 0.2\n",
                                   'kernel_constraint = { kind = "max_norm", value = 3.0 }\n'])
@pytest.mark.parametrize("head", ["", '[task]\nkind = "language_model"\n'])
def test_no_recipe_candidate_changes_an_indrnns_bound_or_its_recurrent_dropouts(extra, head):
    text = _config(model=extra, head=head)
    if head:  # (a language model reads its own text)
        text = text.replace('dataset = "UnitTest"', 'dataset = "python-docs"').replace("batch_size = 8\n", "")
    config = _quiet(text)
    applied = 0
    for step, c in _candidates(config):
        if not_applicable(c, config) is not None:
            continue
        cfg = apply_values(config, c.changes)
        applied += 1
        assert cfg.model.recurrent_constraint.model_dump() == BOUNDED, (step, c.label)
        assert cfg.model.recurrent_dropout == config.model.recurrent_dropout, (step, c.label)
        assert cfg.model.weight_drop == config.model.weight_drop, (step, c.label)
    assert applied > 5
    steps = {s.name: s for s in steps_for(config)}
    why = not_applicable(steps["recurrent_dropout"].tier(config).candidates[0], config)
    assert why is not None and "1/(1-p)" in why and "IndRNN" in why, why
    # The constraint step tries the kernel's max-norm: its label says so.
    assert "kernel" in describe(steps["constraint"].tier(config))


def test_the_recipe_of_a_gru_and_an_lstm_is_unchanged():
    for layer in ("gru", "lstm"):
        plain = parse_config(_config(layer))
        bounded = parse_config(_config(layer, 'recurrent_constraint = { kind = "max_norm", value = 3.0 }\n'))
        steps = {s.name: s for s in steps_for(plain)}
        assert describe(steps["constraint"].tier(plain)) == "max_norm 3"
        assert describe(steps["constraint"].tier(bounded)) == "max_norm off → scrapped: max_norm 3"
        assert describe(steps["recurrent_dropout"].tier(plain)) == (
            "recurrent_dropout=0.2 → kept: (recurrent_dropout=0.4 → kept: recurrent_dropout=0.5; "
            "scrapped: recurrent_dropout=0.3)")
        assert all(not_applicable(c, plain) is None for s, c in _candidates(plain)
                   if s in ("recurrent_dropout", "constraint"))
        off = apply_values(bounded, steps["constraint"].tier(bounded).candidates[0].changes)
        assert off.model.recurrent_constraint is None and off.model.kernel_constraint is None


# ------------------------------------------------------------------------------ 2. the warning


def test_recurrent_dropout_on_a_bounded_indrnn_warns_with_the_effective_bound():
    bound = 1.000693387  # the tester's IndRNN.recurrent_bound(2, 1000)
    text = _config(model="recurrent_dropout = 0.1\n").replace(repr(BOUND), repr(bound))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        parse_config(text)
    lines = [str(w.message) for w in said if "IndRNN" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    effective = bound / (1 - 0.1)
    assert f"{effective:.6g}" == "1.11188" and "1.11188" in lines[0], lines[0]
    assert f"{effective ** 100:.3g}" in lines[0] and "100 steps" in lines[0], lines[0]  # 4e+04
    assert "model.zoneout" in lines[0] and "model.dropout" in lines[0], lines[0]


def test_weight_drop_and_recurrent_dropout_multiply():
    text = _config(model="recurrent_dropout = 0.2\nweight_drop = 0.5\n")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        parse_config(text)
    lines = [str(w.message) for w in said if "IndRNN" in str(w.message)]
    assert len(lines) == 1 and f"{BOUND / (0.8 * 0.5):.6g}" in lines[0], lines


@pytest.mark.parametrize("text", [
    _config(),  # a bound, no dropout on the recurrence
    _config(model="zoneout = 0.1\ninput_dropout = 0.1\n"),  # zoneout keeps u as it is
    _config(model="num_layers = 2\ndropout = 0.3\n"),  # between layers: Li et al.'s own
    _config(model="recurrent_dropout = 0.2\n").replace(repr(BOUND), "0.5"),  # 0.5/0.8 < 1: |u|^T still shrinks
    _config("gru", "recurrent_dropout = 0.3\nrecurrent_constraint = { kind = \"max_norm\", value = 1.0 }\n"),
    _config("lstm", "weight_drop = 0.5\nrecurrent_constraint = { kind = \"max_norm\", value = 1.0 }\n"),
])
def test_no_warning_where_no_bound_is_lifted(text):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        parse_config(text)
    assert [str(w.message) for w in said] == []


# ------------------------------------------------------------------------------ GRU / LSTM unchanged

#: HEAD's default space for a one-layer GRU / LSTM of 4 units on 1 channel (names, ranges).
BEFORE = [("decay.recurrent", "float", 1e-4, 1e-1), ("decay.kernel", "float", 1e-5, 1e-2),
          ("decay.bias_fraction", "float", 0.0, 1.0), ("model.input_dropout", "float", 0.0, 0.2),
          ("model.recurrent_dropout", "float", 0.0, 0.5), ("model.zoneout", "float", 0.0, 0.3),
          ("model.weight_drop", "float", 0.0, 0.5), ("model.normalization", "choice", None, None),
          ("model.max_norm", "choice", None, None), ("training.shuffle", "choice", None, None),
          ("training.shuffle_within_batch", "choice", None, None), ("training.optimizer", "choice", None, None),
          ("training.lr", "float", 1e-4, 1e-2)]
MAX_NORM_WHY = "max-norm 3 on kernel and recurrent weights, a bound instead of a decay"


@pytest.mark.parametrize("layer", ["gru", "lstm", "rnn"])
def test_the_default_space_of_a_gru_lstm_rnn_is_unchanged(layer):
    base = parse_config(_config(layer).replace("[training]\n", "[training]\nlr = 1e-3\n"))
    space = default_space(base, 1, 2)
    assert [(p.name, p.kind, p.low, p.high) for p in space.params] == BEFORE
    assert next(p.why for p in space.params if p.name == "model.max_norm") == MAX_NORM_WHY
    for on in (False, True):
        cfg = space.apply(base, {"model.max_norm": on})
        expected = {"kind": "max_norm", "value": 3.0} if on else None
        for c in (cfg.model.kernel_constraint, cfg.model.recurrent_constraint):
            assert (c.model_dump() if c is not None else None) == expected
