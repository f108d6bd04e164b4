"""``rnnlab recipe`` end to end on bundled UnitTest data: files, parallel workers, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.recipe.run import RecipeOptions, run_recipe_command

TINY = """name = "tiny"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 2
batch_size = 8
[tracking]
weights_every = 2
grads_every = 0
health = false
[search]
folds = 2
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_tiny_recipe_end_to_end_with_two_workers(tiny: Path, tmp_path: Path):
    out = tmp_path / "rec"
    outcome = run_recipe_command(RecipeOptions(config=str(tiny), seeds=2, steps="zoneout,residual", workers=2,
                                               out=str(out)), log=None)
    record = json.loads((out / "recipe.json").read_text())
    assert record["finished"] and [s["step"] for s in record["steps"]] == ["residual", "zoneout"]
    residual, zoneout = record["steps"]
    assert residual["tried"][0]["status"] == "not applicable"
    assert len(zoneout["tried"][0]["scores"]) == 2 * 2  # seeds x folds
    # every (seed, fold) of the baseline and the candidate ran, each in its own run directory
    assert len(list((out / "candidates").glob("*/seed-*/fold-*/summary.json"))) == 2 * 2 * 2
    final = load_config(out / "final.toml")  # runnable: a complete config
    assert final.model.zoneout in (0.0, 0.1) and final.search is None
    assert outcome.tests["baseline"]["test"] is not None and outcome.tests["final"]["test"] is not None
    md = (out / "recipe.md").read_text()
    assert "| `zoneout` | zoneout=0.1 | baseline |" in md and "test accuracy (evaluated once)" in md
    assert "**not applicable**: needs stacked layers" in md  # the status word once, then the reason
    page = (out / "recipe.html").read_text()
    assert "<h2>zoneout</h2>" in page and page.count("data:image/png;base64,") >= 2  # norms + gradients


def _finished_runs(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "candidates").glob("*/seed-*/fold-*/metrics.jsonl")
            if (p.parent / "summary.json").exists()}


def test_resume_after_sigkill_repeats_no_finished_run(tiny: Path, tmp_path: Path):
    out = tmp_path / "rec"
    # (tracking off: what is checked is which runs are trained again, not what the tracker recorded
    # nor the recipe page's figures of it)
    tiny.write_text(TINY.replace("[tracking]\n", "[tracking]\nenabled = false\n"))
    # (without the final runs: the retraining at the end on the whole split is no part of the resume)
    cmd = [sys.executable, "-m", "rnnlab.cli", "recipe", str(tiny), "--seeds", "2", "--steps",
           "input_dropout,zoneout", "--out", str(out), "--no-final", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len(_finished_runs(out)) >= 3:  # the baseline's runs and a part of the next candidate
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the recipe ended before it could be killed: {proc.stderr.read().decode()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _finished_runs(out)
    assert before and not (out / "recipe.md").exists()
    run_recipe_command(RecipeOptions(config=str(tiny), seeds=2, steps="input_dropout,zoneout", out=str(out),
                                     final=False), log=None)
    after = _finished_runs(out)
    assert all(after[p] == mtime for p, mtime in before.items()), "a finished run was trained again"
    assert len(after) > len(before) and json.loads((out / "recipe.json").read_text())["finished"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--steps", "zonout"], "--steps: unknown recipe step 'zonout'; did you mean 'zoneout'?"),
    (["--steps", "recurent_dropout,nadamw"], "did you mean 'recurrent_dropout'?"),
    (["--seeds", "0"], "--seeds: expected at least 1, got 0"),
    (["--workers", "0"], "--workers: expected at least 1, got 0"),
])
def test_bad_arguments_are_one_line_errors(tiny: Path, tmp_path: Path, capsys, argv, message):
    code = main(["recipe", str(tiny), "--out", str(tmp_path / "r"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "r" / "candidates").exists()  # nothing ran
