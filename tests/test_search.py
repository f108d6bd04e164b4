"""`rnnlab search` end to end on the bundled UnitTest data: trials in the journal, pruning,
best.toml, the single final test evaluation, resume, reproducibility, two workers, a killed
worker, and the one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from rnnlab.cli import main
from rnnlab.config import load_config, parse_config
from rnnlab.errors import SearchError
from rnnlab.rundir import read_json, read_jsonl
from rnnlab.search.study import SearchOptions, open_existing, run_search
from rnnlab.search.trial import FoldPlan, run_trial
from rnnlab.train.trainer import with_derived_names

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState

TINY = """
name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = {hidden}
[training]
epochs = {epochs}
batch_size = 8
lr = 0.01
threads = 1
[tracking]
weights_every = 2
grads_every = 0
health = false
grad_through_time = false
[search]
folds = 2
"""


def write_config(tmp_path: Path, extra: str = "", hidden: int = 6, epochs: int = 3, name: str = "c.toml") -> Path:
    """TINY plus ``extra`` lines of [search] (then any [search.space]); trials 3 and 2 random
    startup trials unless ``extra`` sets them."""
    for key, value in (("trials", "3"), ("startup_trials", "2")):
        if f"{key} =" not in extra:
            extra = f"{key} = {value}\n" + extra
    p = tmp_path / name
    p.write_text(TINY.format(hidden=hidden, epochs=epochs) + extra)
    return p


def search(config: Path, out: Path, **kw) -> object:
    """``run_search`` quietly, without the final run and without trial reports (drawn by
    matplotlib, they cost more than a tiny trial: test_tiny_search_end_to_end and
    tests/test_search_report.py draw them) unless ``kw`` asks for them."""
    kw.setdefault("final", False)
    kw.setdefault("reports", "none")
    return run_search(SearchOptions(config=str(config), out=str(out), **kw), log=None)


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials()]


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory) -> tuple[Path, Path]:
    """One search of 2 trials (TINY, ``trials = 2``): its config and study directory, read by the
    tests that only read it and copied by those that continue it."""
    root = tmp_path_factory.mktemp("two")
    config = write_config(root, extra="trials = 2\n")
    search(config, root / "s")
    return config, root / "s"


def copy_study(study: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    config, out = study
    shutil.copytree(out, tmp_path / "s", symlinks=True)
    return config, tmp_path / "s"


# ------------------------------------------------------------------------------ the trial runner


def test_trial_runner_scores_each_fold_without_the_test_split(tmp_path):
    cfg = parse_config(TINY.format(hidden=6, epochs=3))
    reported = []
    result = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t",
                       report=lambda step, value: reported.append((step, value)) is not None)
    assert [s for s, _ in reported] == [1, 2, 3, 4, 5, 6]  # step = run_index * epochs + epoch
    assert len(result.scores[0]) == 2 and result.pruned_at is None
    for i in (1, 2):
        run = tmp_path / "t" / f"fold-{i}"
        records = read_jsonl(run / "metrics.jsonl")
        assert result.scores[0][i - 1] == records[-1]["val_acc"]  # the last epoch's score
        assert read_json(run / "summary.json")["test"] is None  # the test split is never evaluated
        assert (run / "tracked.jsonl").exists() and (run / "config.toml").exists()
    assert result.mean == pytest.approx(sum(result.scores[0]) / 2)
    # Running it again reuses the finished runs (nothing is trained twice).
    again = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t", report=lambda s, v: reported.append(s) is None)
    assert again.scores == result.scores and len(reported) == 6


def test_trial_runner_restarts_a_run_killed_before_its_first_checkpoint(tmp_path):
    cfg = with_derived_names(parse_config(TINY.format(hidden=6, epochs=2)))  # as the search and recipe pass it
    first = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t")
    fold1, fold2 = tmp_path / "t" / "fold-1", tmp_path / "t" / "fold-2"
    kept = (fold1 / "summary.json").stat().st_mtime_ns
    # Killed after its first record was appended but before the checkpoint was written.
    shutil.rmtree(fold2 / "checkpoints")
    (fold2 / "summary.json").unlink()
    records = read_jsonl(fold2 / "metrics.jsonl")
    (fold2 / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n")
    again = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t")
    assert again.scores == first.scores  # the seeded run started again gives the same records
    assert (fold1 / "summary.json").stat().st_mtime_ns == kept  # the finished fold is not retrained
    assert [r["epoch"] for r in read_jsonl(fold2 / "metrics.jsonl")] == [1, 2]


def test_trial_runner_stops_when_report_says_prune(tmp_path):
    cfg = parse_config(TINY.format(hidden=6, epochs=4))
    result = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t", report=lambda step, value: step == 6)
    assert result.pruned_at == {"seed": 0, "fold": 2, "epoch": 2, "step": 6}
    assert len(read_jsonl(tmp_path / "t" / "fold-2" / "metrics.jsonl")) == 2  # stopped there
    assert len(result.scores[0]) == 1  # only fold 1 finished


def test_trial_runner_several_seeds(tmp_path):
    cfg = parse_config(TINY.format(hidden=6, epochs=2))
    result = run_trial(cfg, FoldPlan(k=2, seed=0), tmp_path / "t", seeds=[1, 2])
    assert [len(s) for s in result.scores] == [2, 2]
    assert (tmp_path / "t" / "seed-2" / "fold-2" / "metrics.jsonl").exists()
    assert load_config(tmp_path / "t" / "seed-2" / "fold-1" / "config.toml").training.seed == 2


# ------------------------------------------------------------------------------ a search


def test_tiny_search_end_to_end(tmp_path):
    # lr 1e-5 cannot learn in 4 epochs: with the median pruner those trials must be pruned.
    config = write_config(tmp_path, epochs=4, extra="""sampler = "random"
metric = "val_loss"
trials = 6
startup_trials = 1
keep_checkpoints = 1
[search.space]
"training.lr" = { choices = [1e-5, 0.03] }
"model.recurrent_dropout" = { low = 0.0, high = 0.3 }
""")
    # ItalyPowerDemand (67 training series) is learnt in a few epochs; UnitTest's 10 per fold are not.
    config.write_text(config.read_text().replace('"UnitTest"', '"ItalyPowerDemand"'))
    out = tmp_path / "study"
    outcome = search(config, out, final=True, reports=None)  # search.reports' default: the best trial's
    study = outcome.study
    finished = [t for t in study.get_trials() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6
    pruned = [t for t in study.get_trials() if t.state == TrialState.PRUNED]
    assert pruned, states(study)
    assert any(t.params["training.lr"] == 1e-5 for t in pruned)
    for t in pruned:
        at = t.user_attrs["pruned_at"]
        run = Path(t.user_attrs["dir"]) / f"fold-{at['fold']}"
        assert len(read_jsonl(run / "metrics.jsonl")) == at["epoch"]  # recorded with its epoch
    # Each trial has its own directory with a complete config; checkpoints only for the best.
    with_ckpt = [d for d in sorted((out / "trials").iterdir()) if list(d.glob("fold-*/checkpoints"))]
    assert len(with_ckpt) == 1 and with_ckpt[0].name == f"{outcome.best.number:04d}"
    assert [d.name for d in (out / "trials").iterdir() if (d / "fold-1" / "report.html").exists()] == [with_ckpt[0].name]
    # best.toml: the best trial's complete config, runnable with rnnlab train.
    best = load_config(out / "best.toml")
    assert best.search is None and best.training.lr == outcome.best.params["training.lr"]
    # output.dir follows the config's name when unset (as in rnnlab train), then "-best"
    assert best.output.dir == with_derived_names(load_config(config)).output.dir + "-best" == "runs/tiny-best"
    assert best.model.recurrent_dropout == outcome.best.params["model.recurrent_dropout"]
    assert main(["train", str(out / "best.toml"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    # The final run: the whole training split (20 series), test evaluated once, apart from the score.
    final = read_json(out / "final.json")
    assert final["trial"] == outcome.best.number
    assert final["search_score"]["value"] == outcome.best.value
    assert set(final["test"]) == {"loss", "acc"}
    assert load_config(out / "final" / "config.toml").data.val_fraction == 0.0
    assert read_json(out / "final" / "summary.json")["test"]["acc"] == final["test"]["acc"]
    assert not any(r.get("val_acc") is not None for r in read_jsonl(out / "final" / "metrics.jsonl"))


def test_same_seed_one_worker_same_trials(tmp_path):
    # 3 trials: the 2 random startup trials and one of TPE, each sampler repeated by the seed.
    config = write_config(tmp_path, extra="trials = 3\n")
    a = search(config, tmp_path / "a").study
    b = search(config, tmp_path / "b").study
    assert len(a.get_trials()) == 3
    assert [t.params for t in a.get_trials()] == [t.params for t in b.get_trials()]
    assert [t.value for t in a.get_trials()] == [t.value for t in b.get_trials()]
    c = search(write_config(tmp_path, extra="trials = 2\nseed = 1\n", name="c1.toml"), tmp_path / "c").study
    assert [t.params for t in c.get_trials()] != [t.params for t in a.get_trials()[:2]]


def test_progress_bar_counts_finished_trials_with_best_pruned_failed(tmp_path, capsys):
    config = write_config(tmp_path, extra="trials = 3\n")
    lines: list[str] = []
    out = run_search(SearchOptions(config=str(config), out=str(tmp_path / "s"), final=False, reports="none",
                                   progress=True), log=lines.append)
    captured = capsys.readouterr()
    err = captured.err
    best = out.study.best_trial
    assert "search: 100%" in err and "3/3" in err and "[" in err  # tqdm's bar with its ETA bracket
    pruned = sum(t.state == TrialState.PRUNED for t in out.study.trials)
    assert f"best {best.value:.4f} (trial {best.number}), {pruned} pruned, 0 failed" in err.split("\r")[-1]
    assert sum(ln.startswith("trial ") for ln in captured.out.splitlines()) == 3  # the trial lines, above the bar
    # Without a bar (not a terminal, the default under pytest) the same lines go to ``log``.
    lines.clear()
    run_search(SearchOptions(config=str(write_config(tmp_path, extra="trials = 2\n", name="d.toml")),
                             out=str(tmp_path / "t"), final=False, reports="none"), log=lines.append)
    assert sum(ln.startswith("trial ") for ln in lines) == 2 and "search:" not in capsys.readouterr().err


def test_running_again_continues_the_study(two_trials, tmp_path):
    config, out = copy_study(two_trials, tmp_path)
    first = open_existing(out).get_trials()
    assert len(first) == 2
    again = search(config, tmp_path / "s").study.get_trials()
    assert [(t.number, t.params, t.datetime_start) for t in again] == \
        [(t.number, t.params, t.datetime_start) for t in first]  # nothing repeated
    more = search(config, tmp_path / "s", trials=4).study.get_trials()
    assert len(more) == 4 and [t.params for t in more[:2]] == [t.params for t in first]
    assert len({str(sorted(t.params.items())) for t in more}) == 4


def test_study_command_prints_the_trials_table(two_trials, capsys):
    capsys.readouterr()
    assert main(["study", str(two_trials[1])]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:6] == ["trial", "state", "score", "spread", "folds", "epochs"]
    assert "recurrent_dropout" in lines[0] and "lr" in lines[0].split()
    assert lines[1].split()[:2] == ["0", "complete"] and lines[2].split()[:2] == ["1", "complete"]
    assert "2 trials, 2 complete" in lines[-1]


def test_two_local_workers_share_the_journal(tmp_path):
    # Trials long enough (5 epochs) that the second worker starts before the first is done.
    config = write_config(tmp_path, epochs=5, extra="trials = 6\n")
    study = search(config, tmp_path / "s", workers=2).study
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) >= 6 and len(trials) <= 7  # at most one trial started in a race
    assert len({t.number for t in trials}) == len(trials)
    assert len({str(sorted(t.params.items())) for t in trials}) == len(trials)  # no duplicates
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers ran trials
    assert len({t.user_attrs["dir"] for t in trials}) == len(trials)


def test_killed_local_worker_is_marked_failed_on_restart(tmp_path):
    config = write_config(tmp_path, epochs=30, extra="trials = 1\npruner = \"none\"\n")
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "search", str(config), "--out", str(out),
                             "--no-final", "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120  # (a bound on a wait for the file, on a loaded machine)
        while time.time() < deadline and not list(out.glob("trials/0000/fold-1/metrics.jsonl")):
            time.sleep(0.1)
        assert list(out.glob("trials/0000/fold-1/metrics.jsonl")), proc.stderr.read().decode() if proc.poll() else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = open_existing(out).get_trials()
    assert [t.state for t in killed] == [TrialState.RUNNING]  # left behind by the kill
    study = search(config, out).study
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL and "died" in trials[0].user_attrs["failed_because"]
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE]  # the failed one does not count


def test_study_with_another_config_is_refused_and_kept(two_trials, tmp_path, capsys):
    copy_study(two_trials, tmp_path)
    journal = (tmp_path / "s" / "journal.log").read_bytes()
    other = write_config(tmp_path, hidden=7, extra="trials = 1\n", name="other.toml")
    with pytest.raises(SearchError, match=r"study 'tiny' was started with another config \(it differs in model.hidden_size\)"):
        search(other, tmp_path / "s")
    assert (tmp_path / "s" / "journal.log").read_bytes() == journal
    capsys.readouterr()
    assert main(["search", str(other), "--out", str(tmp_path / "s"), "--no-final"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnlab search: error: study 'tiny' was started")
    # More trials, other checkpoint keeping: the same study (they do not change a trial's result).
    same = write_config(tmp_path, extra="trials = 1\nkeep_checkpoints = 1\n", name="same.toml")
    assert len(search(same, tmp_path / "s", trials=3).study.get_trials()) == 3


@pytest.mark.parametrize("args, message", [
    (["--storage", "mysql://x@y/z"], "--storage: expected a postgresql://USER@HOST:PORT/DB URL"),
    (["--storage", "postgresql://nobody:pw@127.0.0.1:1/none"], "--storage postgresql://nobody:***@127.0.0.1:1/none: cannot open the database"),
    (["--workers", "0"], "--workers: expected at least 1, got 0"),
    (["--trials", "0"], "--trials: expected at least 1, got 0"),
    (["--reports", "alll"], "--reports: expected one of best, all, none, got 'alll'; did you mean 'all'?"),
])
def test_bad_command_lines_are_one_line_errors(tmp_path, capsys, args, message):
    config = write_config(tmp_path)
    assert main(["search", str(config), "--out", str(tmp_path / "s"), *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert "pw@" not in err  # the password is never printed


def test_study_command_on_a_non_study_dir(tmp_path, capsys):
    assert main(["study", str(tmp_path)]) == 1
    assert "is not a study directory" in capsys.readouterr().err


def test_a_refused_combination_is_refused_in_one_line_and_the_sampler_learns_it(tmp_path, capsys):
    # Each value alone is valid (checked up front); together they are refused by the config: the
    # trial is stored as pruned, before any training, with the reason (so that TPE avoids it).
    config = write_config(tmp_path, extra="""trials = 3
sampler = "random"
[search.space]
"model.layer_norm" = { choices = [true] }
"model.recurrent_batch_norm" = { choices = [false, true] }
""")
    capsys.readouterr()
    assert main(["search", str(config), "--out", str(tmp_path / "s"), "--no-final", "--reports", "none"]) == 0
    captured = capsys.readouterr()
    study = open_existing(tmp_path / "s")
    refused = [t for t in study.get_trials() if t.state == TrialState.PRUNED and "refused_because" in t.user_attrs]
    assert refused and all(t.params["model.recurrent_batch_norm"] is True for t in refused)
    assert all("choose one" in t.user_attrs["refused_because"] and not t.intermediate_values for t in refused)
    lines = [line for line in captured.out.splitlines() if " refused " in line and "choose one" in line]
    assert len(lines) == len(refused), captured.out
    assert "Traceback" not in captured.err
    # (refused trials count toward the budget: 3 trials in all)
    assert len(study.get_trials()) == 3
    assert sum(t.state == TrialState.COMPLETE for t in study.get_trials()) == 3 - len(refused)
    # `rnnlab study` says why they were refused, each reason once.
    assert main(["study", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    reasons = [line for line in out.splitlines() if " refused before training: " in line]
    assert len(reasons) == 1 and reasons[0].startswith("trial")
    numbers = reasons[0].split(" refused before training: ")[0].split(" ", 1)[1].split(", ")
    assert [int(n) for n in numbers] == [t.number for t in refused]
    assert "choose one, got both true" in reasons[0]


def test_a_budget_every_trial_would_refuse_is_an_error_before_any_trial(tmp_path, capsys):
    # 3 epochs of 2 steps (a fold's training part) against a warm-up of 20: the trainer refuses it, so every trial
    # would fail alike; the search says so once, naming the key, and writes nothing.
    config = write_config(tmp_path, extra="")
    config.write_text(config.read_text().replace("[tracking]", "[training.schedule]\nwarmup_steps = 20\n[tracking]"))
    assert main(["search", str(config), "--out", str(tmp_path / "s"), "--no-final"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training.schedule: the warm-up (20 optimizer steps)" in err, err
    assert not (tmp_path / "s").exists()
    # With training.epochs in the space, the base budget is not what trains: no refusal up front.
    spaced = write_config(tmp_path, name="spaced.toml", extra='[search.space]\n"training.epochs" = { low = 12, high = 14 }\n')
    spaced.write_text(spaced.read_text().replace("[tracking]", "[training.schedule]\nwarmup_steps = 20\n[tracking]"))
    assert main(["search", str(spaced), "--out", str(tmp_path / "t"), "--no-final", "--trials", "1",
                 "--reports", "none"]) == 0


def test_the_first_trial_of_a_new_study_is_the_config_itself(tmp_path):
    from rnnlab.search.study import prepare

    config = write_config(tmp_path, extra="trials = 2\n")
    # TINY has no decay, below the decays' log ranges: it lies outside the default space.
    outside = search(config, tmp_path / "outside", trials=1).study.get_trials()  # (it would be trial 0)
    assert not any(t.user_attrs.get("baseline") for t in outside)
    config.write_text(config.read_text().replace("lr = 0.01", "lr = 0.01\nweight_decay = 1e-3"))
    trials = search(config, tmp_path / "s").study.get_trials()
    assert trials[0].user_attrs.get("baseline") is True
    assert not any(t.user_attrs.get("baseline") for t in trials[1:])
    # It is the config: the base config itself scores the same on the same folds.
    setup = prepare(SearchOptions(str(config)))
    direct = run_trial(setup.base.model_copy(update={"search": None}), setup.plan, tmp_path / "direct")
    assert direct.values == trials[0].user_attrs["fold_scores"]
    # Continuing the study does not add it again.
    more = search(config, tmp_path / "s", trials=3).study.get_trials()
    assert len(more) == 3 and sum(bool(t.user_attrs.get("baseline")) for t in more) == 1
    # search.baseline = false: every trial is sampled.
    off = write_config(tmp_path, extra="trials = 1\nbaseline = false\n", name="off.toml")
    assert not search(off, tmp_path / "off").study.get_trials()[0].user_attrs.get("baseline")
