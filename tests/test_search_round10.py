"""A new user's reports on ``rnnlab search`` and ``rnnlab recipe``, each on real tiny runs of the
bundled UnitTest data:

1. A trial ended by an error that is no RnnlabError (here torch's RuntimeError during training)
   recorded no reason, and trial 0, the config itself, was never run again: every later run said
   "the config itself has no score: trial 0 failed: failed" and ``rnnlab study`` "no reason
   recorded (its worker died?)". Now the reason is recorded (type and message) and the trial is
   queued again, as a dead worker's is; a config refused with an RnnlabError stays failed.
2. The study page and ``rnnlab study`` showed the epochs each fold ran, not the ones whose models
   it kept under early stopping (which its score and the final run's length follow).
3. A rerun said "retrained" of a final run it read back (reused).
4. The recipe's first line said "1 steps, each candidate 1 seeds".
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402
from optuna.trial import TrialState  # noqa: E402
from tiny_search import tiny_search_toml  # noqa: E402

from rnnlab.cli import main  # noqa: E402
from rnnlab.recipe.run import RecipeOptions, run_recipe_command  # noqa: E402
from rnnlab.rundir import read_json  # noqa: E402
from rnnlab.search.study import open_existing  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

FAULT = "simulated device fault"
#: a space that holds the config itself (zoneout 0): its trial 0 is the config
SPACE = '[search.space]\n"model.zoneout" = { low = 0.0, high = 0.3 }\n'


def _fault(*args, **kwargs):
    raise RuntimeError(f"{FAULT}\nmore lines a library adds")


def test_a_crashed_trial_records_why_and_the_same_command_runs_it_again(tmp_path, capsys, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2, SPACE))
    out = tmp_path / "s"
    command = ["search", str(config), "--trials", "1", "--out", str(out), "--no-final"]
    # (a library failure inside training, not rnnlab's own logic: every backward pass fails)
    monkeypatch.setattr(torch.Tensor, "backward", _fault)
    assert main(command) == 1
    err = capsys.readouterr().err
    assert f"internal error: RuntimeError: {FAULT}" in err  # the command still fails as a crash does

    trials = open_existing(out).get_trials()
    crashed = trials[0]
    assert crashed.state == TrialState.FAIL and crashed.user_attrs["baseline"]
    assert crashed.user_attrs["failed_because"] == f"RuntimeError: {FAULT}"  # one line
    # queued again with its parameters: the next run of the same command runs it
    assert [(t.number, t.state, t.user_attrs.get("baseline")) for t in trials[1:]] == [(1, TrialState.WAITING, True)]
    assert trials[1].params == crashed.params

    assert main(["study", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"trial 0 failed: RuntimeError: {FAULT}; run again as trial 1" in said, said
    assert "no reason recorded" not in said

    monkeypatch.undo()
    assert main(command) == 0
    said = capsys.readouterr().out
    assert "the config itself has no score" not in said, said
    trials = open_existing(out).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs["baseline"]
    assert f"trial 1 is the config itself: val_acc {trials[1].value:.4f} (trial 0, lost: RuntimeError: {FAULT})" in said


def test_a_config_refused_with_an_rnnlab_error_stays_failed(tmp_path, capsys):
    # (each value is valid alone; together the config refuses them: the trial's own failure)
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2, 'sampler = "random"\n[search.space]\n'
                                          '"model.layer_norm" = { choices = [true] }\n'
                                          '"model.recurrent_batch_norm" = { choices = [true] }\n'
                                          '"model.zoneout" = { low = 0.0, high = 0.3 }\n'))
    out = tmp_path / "s"
    assert main(["search", str(config), "--trials", "1", "--out", str(out), "--no-final"]) == 1
    assert "no trial of study 'tiny' completed" in capsys.readouterr().err
    # (refused before training: stored as pruned, so that the sampler avoids the combination)
    trials = open_existing(out).get_trials()
    assert trials and all(t.state == TrialState.PRUNED and "choose one" in t.user_attrs["refused_because"]
                          and "interrupted" not in t.user_attrs for t in trials)
    assert not any(t.system_attrs.get("retry_history") for t in trials)


EARLY_STOPPING = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 12
batch_size = 8
lr = 0.05
threads = 1
[training.early_stopping]
monitor = "val_loss"
patience = 2
[tracking]
health = false
grad_through_time = false
[search]
folds = 2
reports = "none"
"""


def _joined(values: list[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else ",".join(map(str, values))


def test_the_kept_epochs_are_shown_beside_the_epochs_run(tmp_path, capsys):
    config = tmp_path / "es.toml"
    config.write_text(EARLY_STOPPING)
    out = tmp_path / "s"
    assert main(["search", str(config), "--trials", "1", "--out", str(out), "--no-final"]) == 0
    record = read_json(out / "trials" / "0000" / "trial.json")
    ran = [e for per_seed in record["epochs"] for e in per_seed]
    kept = [k["epoch"] for per_seed in record["kept"] for k in per_seed]
    assert len(kept) == 2 and kept != ran  # (early stopping ran past the kept models)
    expected = f"{_joined(ran)} (kept {_joined(kept)})"
    capsys.readouterr()
    assert main(["study", str(out)]) == 0
    table = capsys.readouterr().out
    assert expected in table.splitlines()[1], table
    assert f"<td>{expected}</td>" in (out / "study.html").read_text()


def test_a_rerun_says_the_final_run_was_reused(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(tiny_search_toml(2))
    out = tmp_path / "s"
    command = ["search", str(config), "--trials", "1", "--out", str(out)]
    assert main(command) == 0
    first = capsys.readouterr().out
    assert "trial 0's config retrained on the whole training split" in first
    final = read_json(out / "final.json")
    trained = f"{final['length']['trained']['epoch']} epochs, {final['length']['trained']['step']} steps"
    assert main(command) == 0
    again = capsys.readouterr().out
    assert "retrained" not in again, again
    assert f"final: trial 0's final run in final/ reused (trained earlier: {trained}); test accuracy" in again, again
    assert "config on the whole training split" not in again, again  # (nothing said to be trained now)
    assert "reused" not in read_json(out / "final.json")  # (it records the run, not the command that read it)


RECIPE = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
threads = 1
[tracking]
health = false
grad_through_time = false
weights_every = 0
grads_every = 0
[search]
folds = 2
"""


def test_the_recipe_says_a_reused_final_run_and_counts_in_singular(tmp_path):
    config = tmp_path / "r.toml"
    config.write_text(RECIPE)
    options = RecipeOptions(config=str(config), seeds=1, steps="zoneout", out=str(tmp_path / "r"))
    first: list[str] = []
    run_recipe_command(options, log=first.append)
    assert ": 1 step, each candidate 1 seed x 2 " in first[0], first[0]
    assert any(line.startswith("baseline: retrained on the whole training split") for line in first), first
    again: list[str] = []
    run_recipe_command(options, log=again.append)
    assert not any(line.startswith(("baseline: retrained", "final: retrained")) for line in again), again
    for name in ("baseline", "final"):
        summary = read_json(Path(options.out) / "test" / name / "summary.json")
        trained = f"{summary['final']['epoch']} epochs, {summary['final']['step']} steps"
        assert any(line.startswith(f"{name}: final run in {Path(options.out) / 'test' / name}/ reused (trained "
                                   f"earlier: {trained}); test accuracy") for line in again), again
