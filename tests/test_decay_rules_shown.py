"""What a decay rule selected is shown, and a decay or penalty that cannot act is said.

1. a run records which parameters each of training.decay_rules selected (param_groups.json) and
   the report's Configuration section shows it (role = "kernel" takes the head's weight too);
2. param_groups and WeightPenalty say so when they reach frozen parameters (and the penalty leaves
   their constant terms out);
3. a run with AR/TAR labels its train_loss as the minimized loss, penalty included;
4. rnnlab train says at its start when a decoupled decay cannot shrink its weights by 1 %.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
from tiny_run import tiny_toml

import rnnlab
from rnnlab.config import parse_config
from rnnlab.plots.metrics import penalized_of
from rnnlab.regularize import Rule, WeightPenalty, param_groups
from rnnlab.report import render_report
from rnnlab.rundir import PARAM_GROUPS, RunDir
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

KERNEL_RULE = '[[training.decay_rules]]\nrole = "kernel"\nweight_decay = 0.01\n'


def _train(out, training: str, after: str = "") -> list[str]:
    """A 1-epoch tiny run (4 optimizer steps at lr 0.01) in ``out``; the lines it said."""
    said: list[str] = []
    cfg = parse_config(tiny_toml(training=f"epochs = 1\n{training}",
                                 after=f"[tracking]\nenabled = false\n{after}"))
    train(cfg, out=out, progress=False, log=said.append)
    return said


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A run with a weak decoupled kernel decay and AR/TAR; one with coupled decay (adam), no AR/TAR."""
    root = tmp_path_factory.mktemp("decay")
    weak = _train(root / "weak", 'optimizer = "adamw"\nar = 1.0\ntar = 1.0', KERNEL_RULE)
    coupled = _train(root / "coupled", 'optimizer = "adam"', KERNEL_RULE)
    return {"weak": (root / "weak", weak), "coupled": (root / "coupled", coupled)}


def _configuration(page: str) -> str:
    start = page.index('<section id="configuration">')
    return page[start:page.index("</section>", start)]


# ------------------------------------------------------------------ 1. the selection is recorded and shown


def test_run_records_which_parameters_each_rule_selected_and_the_report_shows_them(runs, tmp_path):
    run, _ = runs["weak"]
    record = json.loads((run / PARAM_GROUPS).read_text())
    groups = {g["name"]: g for g in record["groups"]}
    # the kernel role takes the classifier head's weight too (docs/regularization.md §0)
    assert groups["rule0"]["params"] == ["rnn.weight_ih_l0", "head.0.weight"]
    assert groups["rule0"]["rule"] == 0 and groups["rule0"]["weight_decay"] == 0.01
    assert groups["rule0"]["selected_by"] == {"role": "kernel"}
    assert groups["default"]["params"] == ["rnn.weight_hh_l0"]  # left to training.weight_decay
    assert "head.0.bias" in groups["no_decay"]["params"]
    assert record["optimizer"] == "adamw" and record["decoupled"] is True

    shown = _configuration(render_report(run))
    table = shown[shown.index("Which parameters each decay rule selected"):shown.index("<pre>")]
    rows = table.split("<tr>")[2:]
    assert "training.decay_rules[0]: role = &quot;kernel&quot;" in rows[0]
    assert "weight_decay 0.01" in rows[0] and "head.0.weight" in rows[0] and "weight_hh" not in rows[0]
    assert "no rule took them" in rows[1] and "rnn.weight_hh_l0" in rows[1]

    # a run of an rnnlab before param_groups.json: its checkpoint's optimizer groups say the same
    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / PARAM_GROUPS).unlink()
    shown_old = _configuration(render_report(old))
    assert "checkpoints/last.pt" in shown_old and "head.0.weight" in shown_old
    assert "training.decay_rules[0]: role = &quot;kernel&quot;" in shown_old


# ------------------------------------------------------------------ 2. frozen parameters


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnlab.LSTM(3, 4, batch_first=True)
        self.head = torch.nn.Linear(4, 2)


def test_param_groups_says_a_rule_decays_frozen_parameters_that_will_not_change():
    model = _Model()
    model.rnn.weight_hh_l0.requires_grad_(False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        groups = param_groups(model, [Rule(role="recurrent", weight_decay=1e-2)])
    messages = [str(w.message) for w in said]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "rules[0]" in messages[0] and "['rnn.weight_hh_l0']" in messages[0] and "frozen" in messages[0]
    assert groups.group_of["rnn.weight_hh_l0"] == "rule0"  # (still grouped: it trains once unfrozen)
    # a rule that decays nothing frozen, and "the rest", say nothing
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        param_groups(model, [Rule(role="kernel", weight_decay=1e-2), Rule(weight_decay=1e-3)])
    assert [str(w.message) for w in said] == []


def test_weight_penalty_leaves_frozen_parameters_out_and_says_so():
    model = _Model()
    model.rnn.weight_hh_l0.requires_grad_(False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        penalty = WeightPenalty(model, l2={"recurrent": 1e-2, "kernel": 1e-3})
    assert len(said) == 1 and "'rnn.weight_hh_l0'" in str(said[0].message) and "frozen" in str(said[0].message)
    kernels = model.rnn.weight_ih_l0.pow(2).sum() + model.head.weight.pow(2).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (said once, not at every step)
        value = penalty()
    # no constant term of the frozen weight: only what can train
    assert torch.isclose(value, 1e-3 * kernels) and value.requires_grad
    model.rnn.weight_hh_l0.requires_grad_(True)  # unfrozen: penalized again
    assert torch.isclose(penalty(), 1e-3 * kernels + 1e-2 * model.rnn.weight_hh_l0.pow(2).sum())


# ------------------------------------------------------------------ 3. AR/TAR in train_loss


def test_train_loss_with_ar_tar_is_labelled_the_minimized_loss(runs):
    weak, _ = runs["weak"]
    plain, _ = runs["coupled"]
    assert penalized_of(weak) and not penalized_of(plain)
    assert "train_loss (last epoch, training mode, AR/TAR penalty included)" in render_report(weak)
    assert "AR/TAR penalty included" not in render_report(plain)
    assert "train_loss" in RunDir(weak).read_metrics()[-1]  # (the key every reader reads, as before)


# ------------------------------------------------------------------ 4. a decay too weak to act


def test_train_says_when_a_decoupled_decay_cannot_shrink_the_weights_by_one_percent(runs, tmp_path):
    _, weak = runs["weak"]
    notes = [line for line in weak if line.startswith("weight decay")]
    # 1 - (1 - 0.01 * 0.01) ** 4 = 0.04 %
    assert notes == ["weight decay 0.01 (training.decay_rules[0], role kernel) with adamw at lr 0.01 over 4 steps "
                     "shrinks those weights by at most 0.04 % in all: too weak to act; weight_decay = 2.6 in "
                     "training.decay_rules[0] would shrink them by 10 %"]
    _, coupled = runs["coupled"]  # adam's decay is a gradient term: no such bound
    assert not [line for line in coupled if line.startswith("weight decay")]
    strong = _train(tmp_path / "strong", 'optimizer = "adamw"',
                    '[[training.decay_rules]]\nrole = "kernel"\nweight_decay = 1.0\n')  # 1 - 0.99^4 = 3.9 %
    assert not [line for line in strong if line.startswith("weight decay")]
