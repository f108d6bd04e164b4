"""The search space: parsing [search.space], every error before any trial runs, the default
regularization space and its conditional parameters, and how a sample becomes a config."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from rnnlab.config import dump_config, parse_config
from rnnlab.data import Fold, load_data, stratified_folds
from rnnlab.errors import ConfigError, SearchError
from rnnlab.search.space import MAX_NORM, Param, Space, default_space, space_from_config
from rnnlab.search.trial import FoldPlan, choose_plan

BASE = '[data]\ndataset = "UnitTest"\n[model]\nhidden_size = 8\n'


def space_of(text: str, base: str = BASE):
    return space_from_config(parse_config(base + text), input_size=1, num_classes=2)


def test_ranges_take_their_kind_from_the_config_key():
    s = space_of('[search.space]\n"model.recurrent_dropout" = { low = 0, high = 0.5 }\n'
                 '"model.hidden_size" = { low = 8, high = 64, log = true }\n'
                 '"training.optimizer" = { choices = ["adamw", "nadamw"] }\n')
    kinds = {p.name: (p.kind, p.low, p.high, p.log) for p in s.params}
    assert kinds["model.recurrent_dropout"] == ("float", 0.0, 0.5, False)  # low = 0 is still a float range
    assert kinds["model.hidden_size"] == ("int", 8, 64, True)
    assert kinds["training.optimizer"][0] == "choice"


def test_sampled_values_stay_in_range_and_apply_to_a_complete_config():
    s = space_of('[search.space]\n"model.recurrent_dropout" = { low = 0.1, high = 0.4 }\n'
                 '"model.hidden_size" = { low = 8, high = 64 }\n'
                 '"model.recurrent_constraint" = { choices = ["none", { kind = "max_norm", value = 2.0 }] }\n')
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_constraints = set()
    for _ in range(12):
        values = s.sample(study.ask())
        assert 0.1 <= values["model.recurrent_dropout"] <= 0.4
        assert isinstance(values["model.hidden_size"], int) and 8 <= values["model.hidden_size"] <= 64
        cfg = s.apply(parse_config(BASE), values)
        assert cfg.model.hidden_size == values["model.hidden_size"]
        c = cfg.model.recurrent_constraint
        seen_constraints.add(None if c is None else (c.kind, c.value))
        assert parse_config(dump_config(cfg)) == cfg  # a complete, runnable config
    assert seen_constraints == {None, ("max_norm", 2.0)}  # "none" unsets the optional key


def test_decay_rule_of_the_base_config_by_index():
    base = BASE + '[training]\n[[training.decay_rules]]\nrole = "recurrent"\nweight_decay = 0.01\n'
    s = space_of('[search.space]\n"training.decay_rules[0].weight_decay" = { low = 1e-4, high = 1e-1, log = true }\n',
                 base)
    cfg = s.apply(parse_config(base), {"training.decay_rules[0].weight_decay": 0.05})
    assert cfg.training.decay_rules[0].weight_decay == 0.05
    with pytest.raises(SearchError, match=r"'training.decay_rules\[1\].weight_decay': the config has 1 item"):
        space_of('[search.space]\n"training.decay_rules[1].weight_decay" = { low = 0.001, high = 0.01 }\n', base)


@pytest.mark.parametrize("space, message", [
    ('"model.recurent_dropout" = { low = 0, high = 0.5 }',
     r"unknown key path 'model.recurent_dropout'; did you mean 'model.recurrent_dropout'\?"),
    ('"training.learning_rate" = { low = 0.001, high = 0.1 }', r"unknown key path 'training.learning_rate'"),
    ('"model.recurrent_dropout" = { low = 0.5, high = 0.5 }', r"'model.recurrent_dropout'.*empty range.*low=0.5, high=0.5"),
    ('"model.recurrent_dropout" = { low = 0.4, high = 0.1 }', r"empty range: expected low < high"),
    ('"training.lr" = { low = 0, high = 0.1, log = true }', r"'training.lr'.*log range needs low > 0"),
    ('"model.hidden_size" = { low = 8.5, high = 64 }', r"'model.hidden_size'.*integer bounds"),
    ('"model.layer_norm" = { low = 0, high = 1 }', r"'model.layer_norm'.*takes 'choices'"),
    ('"model.recurrent_dropout" = { low = 0, high = 1.5 }',
     r"'model.recurrent_dropout'.*the value 1.5 is refused.*expected a probability in \[0, 1\), got 1.5"),
    ('"model.layer" = { choices = ["lstm", "transformer"] }', r"'model.layer'.*'transformer' is refused"),
    ('"model.zoneout" = { choices = [[0.1, 0.2]] }', r"'model.zoneout'.*refused.*pair \(h, c\) is for an LSTM"),
])
def test_space_errors_name_the_key_before_any_trial(space, message):
    base = BASE if "zoneout" not in space else BASE.replace("hidden_size = 8", 'hidden_size = 8\nlayer = "gru"')
    with pytest.raises(SearchError, match=message):
        space_of("[search.space]\n" + space + "\n", base)


def test_search_section_errors_are_config_errors():
    with pytest.raises(ConfigError, match=r"'search.space.\"training.lr\"': expected 'low' and 'high'.*or 'choices'"):
        parse_config(BASE + '[search.space]\n"training.lr" = { low = 0.001 }\n')
    with pytest.raises(ConfigError, match=r"unknown key 'search.trails'; did you mean 'search.trials'"):
        parse_config(BASE + "[search]\ntrails = 3\n")
    with pytest.raises(ConfigError, match=r"'search.pruner'.*got 'meadian'.*did you mean 'median'"):
        parse_config(BASE + '[search]\npruner = "meadian"\n')


def test_search_section_round_trips_through_dump_config():
    cfg = parse_config(BASE + '[search]\ntrials = 7\n[search.space]\n"model.recurrent_dropout" = { low = 0, high = 0.5 }\n'
                       '"model.kernel_constraint" = { choices = ["none", { kind = "max_norm", value = 3.0 }] }\n')
    assert parse_config(dump_config(cfg)) == cfg


# ------------------------------------------------------------------------------ default space


def names(space: Space) -> list[str]:
    return [p.name for p in space.params]


def test_default_space_is_the_recipe():
    s = default_space(parse_config(BASE), 1, 2)
    assert names(s) == ["decay.recurrent", "decay.kernel", "decay.bias_fraction", "model.input_dropout",
                        "model.recurrent_dropout", "model.zoneout", "model.weight_drop", "model.normalization",
                        "model.max_norm", "training.shuffle", "training.shuffle_within_batch",
                        "training.optimizer", "training.lr"]
    by = {p.name: p for p in s.params}
    assert (by["model.input_dropout"].low, by["model.input_dropout"].high) == (0.0, 0.2)
    assert (by["model.recurrent_dropout"].low, by["model.recurrent_dropout"].high) == (0.0, 0.5)
    # One input channel: the kernel (8x1) is the smaller matrix, so its decay range is a decade lower.
    assert (by["decay.kernel"].low, by["decay.kernel"].high) == (1e-5, 1e-2)
    assert (by["decay.recurrent"].low, by["decay.recurrent"].high) == (1e-4, 1e-1)
    assert by["decay.kernel"].log and by["decay.recurrent"].log
    assert by["model.normalization"].choices == ("none", "layer_norm", "recurrent_batch_norm")
    assert by["training.lr"].low == pytest.approx(1e-4) and by["training.lr"].high == pytest.approx(1e-2)
    assert all(p.why for p in s.params)  # every range has its reason (docs/search.md)


def test_default_space_many_channels_swaps_the_smaller_matrix():
    s = default_space(parse_config(BASE), input_size=32, num_classes=2)
    by = {p.name: p for p in s.params}
    assert by["decay.recurrent"].high == 1e-2 and by["decay.kernel"].high == 1e-1


def test_conditional_parameters_only_where_they_apply():
    one = names(default_space(parse_config(BASE), 1, 2))
    two = names(default_space(parse_config(BASE + "num_layers = 2\n"), 1, 2))
    assert "model.residual" not in one and "model.dropout" not in one  # no residual for one layer
    assert "model.residual" in two and "model.dropout" in two
    stateful = names(default_space(parse_config(BASE + "[training]\nstateful_window = 6\n"), 1, 2))
    assert "training.shuffle_within_batch" not in stateful  # the batch position is the state slot
    # Within-batch shuffling is sampled only when the batches are fixed.
    s = default_space(parse_config(BASE), 1, 2)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        values = s.sample(study.ask())
        assert ("training.shuffle_within_batch" in values) == (values["training.shuffle"] == "batches")


def test_derived_keys_set_the_config():
    base = parse_config(BASE + '[training]\nweight_decay = 0.5\n[[training.decay_rules]]\nname = "^head\\\\."\n'
                        'weight_decay = 0.0\n[[training.decay_rules]]\nrole = ["kernel", "recurrent"]\nweight_decay = 0.2\n')
    s = default_space(base, 1, 2)
    cfg = s.apply(base, {"decay.kernel": 1e-3, "decay.recurrent": 1e-2, "decay.bias_fraction": 0.5,
                         "model.normalization": "layer_norm", "model.max_norm": True})
    rules = [(r.name, r.role, r.weight_decay) for r in cfg.training.decay_rules]
    # The name rule stays first; ours replace the rule they cover; bias gets half the smaller decay.
    assert rules == [("^head\\.", None, 0.0), (None, "kernel", 1e-3), (None, "recurrent", 1e-2),
                     (None, "bias", pytest.approx(5e-4))]
    assert cfg.model.layer_norm and not cfg.model.recurrent_batch_norm
    assert cfg.model.kernel_constraint.value == MAX_NORM and cfg.model.recurrent_constraint.kind == "max_norm"
    off = s.apply(base, {"model.normalization": "recurrent_batch_norm", "model.max_norm": False})
    assert off.model.recurrent_batch_norm and not off.model.layer_norm and off.model.kernel_constraint is None


def test_bias_decay_never_exceeds_the_weights():
    base = parse_config(BASE)
    s = default_space(base, 1, 2)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        cfg = s.apply(base, s.sample(study.ask()))
        decay = {r.role: r.weight_decay for r in cfg.training.decay_rules}
        assert decay["bias"] <= min(decay["kernel"], decay["recurrent"])


def test_every_default_sample_builds_a_model():
    from rnnlab.train.model import build_model

    for text in (BASE, BASE + 'layer = "gru"\nnum_layers = 2\n', BASE + 'layer = "indrnn"\n'):
        base = parse_config(text)
        s = default_space(base, 1, 2)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(8):
            build_model(s.apply(base, s.sample(study.ask())).model, 1, 2)


def test_choice_labels_round_trip_through_optuna():
    p = Param("model.recurrent_constraint", "choice", choices=("none", {"kind": "max_norm", "value": 3.0}))
    s = Space([p])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    t = study.ask()
    v = s.sample(t)
    assert s.decode(t.params)["model.recurrent_constraint"] == v["model.recurrent_constraint"]


# ------------------------------------------------------------------------------ folds


def test_stratified_folds_partition_and_balance():
    y = np.repeat(np.arange(3), [10, 7, 5])
    folds = stratified_folds(y, 3, seed=4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(y)))
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for c, n in zip(range(3), [10, 7, 5]):
        per_fold = [int((y[f] == c).sum()) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == n
    assert [f.tolist() for f in stratified_folds(y, 3, seed=4)] == [f.tolist() for f in folds]  # seeded


def test_fold_data_leaves_the_test_split_out_and_normalises_on_the_fold():
    from rnnlab.config import DataConfig

    cfg = DataConfig(dataset="GunPoint")
    d0 = load_data(cfg, seed=0, fold=Fold(k=5, index=0, seed=0))
    d1 = load_data(cfg, seed=0, fold=Fold(k=5, index=1, seed=0))
    assert d0.test is None and len(d0.train) == 40 and len(d0.val) == 10
    # Fitted on each fold's own training part: the scaled training data has mean 0 there.
    assert abs(float(d0.train.X.mean())) < 1e-5 and abs(float(d1.train.X.mean())) < 1e-5
    assert d0.stats.mean.tolist() != d1.stats.mean.tolist()


def test_fold_rule():
    assert choose_plan(np.repeat([0, 1], 10), 0, 0, 0.2) == FoldPlan(5, 0, 0.2)        # UnitTest: 20 series
    assert choose_plan(np.repeat(np.arange(6), 33), 0, 0, 0.2).k == 3                    # OSULeaf-sized
    assert choose_plan(np.repeat([0, 1], 700), 0, 0, 0.25) == FoldPlan(1, 0, 0.25)       # large: one hold-out
    assert choose_plan(np.array([0, 0, 0, 1, 1]), 0, 0, 0.2).k == 2                      # capped by the smallest class
    assert choose_plan(np.array([0, 0, 0, 1]), 0, 0, 0.2).k == 1                         # a class of one
    assert choose_plan(np.repeat([0, 1], 10), 4, 0, 0.2).k == 4                          # search.folds wins


def test_default_space_of_the_init_template():
    # The template's front-end is a stack of conv blocks: the kernel's size comes from the last.
    from rnnlab.config import TEMPLATE

    base = parse_config(TEMPLATE.replace('dataset = "GunPoint"', 'dataset = "UnitTest"'))
    assert base.model.frontend is not None and base.model.frontend.blocks
    names = [p.name for p in default_space(base, input_size=1, num_classes=2).params]
    assert "decay.kernel" in names and "decay.recurrent" in names


def test_baseline_values_are_the_config_itself_or_none():
    from rnnlab.config import TEMPLATE
    from rnnlab.search.space import baseline_values
    from rnnlab.train.model import build_model
    from rnnlab.train.trainer import build_optimizer

    base = parse_config(TEMPLATE)
    space = default_space(base, 3, 4)
    values, why = baseline_values(space, base, 3, 4)
    assert values is not None and why == "" and set(values) == {p.name for p in space.params if p.requires is None}
    assert values["model.normalization"] == "recurrent_batch_norm" and values["model.max_norm"] is False
    assert values["model.zoneout"] == base.model.zoneout and values["training.lr"] == base.training.lr
    # the template's global decay is the kernel's; its recurrent rule the recurrent one; biases 0
    assert (values["decay.kernel"], values["decay.recurrent"], values["decay.bias_fraction"]) == (1e-2, 1e-3, 0.0)
    applied = space.apply(base, space.decode(values))

    def decays(cfg):
        groups = build_optimizer(build_model(cfg.model, 3, 4), cfg.training).param_groups
        return sorted((n, g["weight_decay"]) for g in groups for n in g["param_names"])

    assert decays(applied) == decays(base) and applied.model == base.model
    # Outside the space: a value out of range, a max-norm bound the space does not offer.
    wide = parse_config(TEMPLATE.replace("zoneout = 0.1 ", "zoneout = 0.4 "))
    assert wide.model.zoneout == 0.4
    assert baseline_values(space, wide, 3, 4) == (None, "model.zoneout = 0.4 is outside its range 0 .. 0.3")
    bound = parse_config(TEMPLATE.replace("layer_norm = false", 'layer_norm = false\nkernel_constraint = { kind = "max_norm", value = 4.0 }'))
    assert bound.model.kernel_constraint is not None
    assert baseline_values(space, bound, 3, 4) == (None, "model.max_norm: the config's setting (model.kernel_constraint = {\"kind\": \"max_norm\", \"value\": 4.0}, "
                                                      "model.recurrent_constraint = unset) is not among the space's choices (False | True)")
