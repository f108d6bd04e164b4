"""Per-step targets, round 4 (tester T4): the per-step classification report's balanced
accuracy, majority-class baseline and precision; a test file's K-mismatch message quoting both
files' real shapes; ``rnnlab search``'s first line naming its score's direction and its final
line saying a step budget rounds up to whole epochs; and the per-step template's look-ahead,
as docs/per_step.md says it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_per_step_round3 import activities, config, section

from rnnlab.config import parse_config, template_for
from rnnlab.data.per_step import per_step_sequences
from rnnlab.errors import DataError
from rnnlab.report import render_report
from rnnlab.search.study import SearchOptions, run_search
from rnnlab.task import PER_STEP_REGRESSION
from rnnlab.train.final import final_phrase
from rnnlab.train.model import build_model
from rnnlab.train.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# --- 1. the report's figures by class, as summary.json records them ----------------------------

def test_the_per_step_report_shows_balanced_accuracy_the_majority_baseline_and_precision(tmp_path):
    train_path, test_path = activities(tmp_path / "a.npz", 48, 0), activities(tmp_path / "t.npz", 12, 1)
    cfg = config(tmp_path, "acts", train_path, kind="classification", test=test_path, steps=20)
    # (no weights or gradients tracked: the predictions section alone is read)
    text = cfg.read_text().replace("weights_every = 5\ngrads_every = 5", "weights_every = 0\ngrads_every = 0")
    assert "weights_every = 0" in text
    run = train(parse_config(text), out=tmp_path / "run", progress=False, log=None).run_dir
    body = section(render_report(run), "predictions")
    summary = json.loads((Path(run) / "summary.json").read_text())
    test, trained = summary["test_by_class"], summary["train_eval_by_class"]
    steps = sum(test["count"].values())
    # (the test split's figures, the baseline the training part's majority class, as the CLI says them)
    assert f"per-step accuracy ({summary['test']['acc']:.4g})" in body
    assert f"Balanced accuracy {test['balanced_acc']:.3f}" in body
    majority = trained["majority"]
    assert (f"the training split's majority class alone ({majority}, {test['count'][majority]} of {steps} steps "
            f"here) scores {test['majority_rate']:.3f}") in body
    table = re.search(r"<table><tr><th>class</th><th>steps</th><th>recall</th><th>precision</th></tr>(.*?)</table>",
                      body, re.S)
    assert table, "no table of the classes' steps, recall and precision"
    rows = {m[0]: m[1:] for m in re.findall(r'<tr><th>(.*?)</th><td class="num">(.*?)</td><td class="num">(.*?)</td>'
                                            r'<td class="num">(.*?)</td></tr>', table.group(1))}
    assert set(rows) == set(test["count"])
    for name, (count, recall, precision) in rows.items():
        assert int(count) == test["count"][name]
        for shown, value in ((recall, test["recall"][name]), (precision, test["precision"][name])):
            assert shown == ("—" if value is None else f"{value:.3f}")


# --- 2. a test file's values per step against the training file's ------------------------------

def _values(path: Path, y: np.ndarray) -> Path:
    np.savez(path, X=np.random.default_rng(0).normal(size=(*y.shape[:2], 1)), y=y)
    return path


@pytest.mark.parametrize(("train_y", "test_y", "said"), [
    ((6, 8), (5, 8, 2), "expected 1 value(s) per step like the training file (y [5, 8] or [5, 8, 1]), got 2 "
                        "(y [5, 8, 2])"),
    ((6, 8, 2), (5, 8), "expected 2 value(s) per step like the training file (y [5, 8, 2]), got 1 (y [5, 8])"),
    ((6, 8, 2), (5, 8, 3), "expected 2 value(s) per step like the training file (y [5, 8, 2]), got 3 (y [5, 8, 3])"),
])
def test_a_k_mismatch_quotes_the_shapes_the_files_have(tmp_path, train_y, test_y, said):
    rng = np.random.default_rng(1)
    trained = per_step_sequences(str(_values(tmp_path / "train.npz", rng.normal(size=train_y))), "data.path",
                                 PER_STEP_REGRESSION, None)
    test = str(_values(tmp_path / "test.npz", rng.normal(size=test_y)))
    with pytest.raises(DataError) as err:
        per_step_sequences(test, "data.test_path", PER_STEP_REGRESSION, trained)
    assert str(err.value) == f"data.test_path ({test}): {said}"


def test_a_test_file_of_y_n_t_matches_a_training_file_of_y_n_t_1(tmp_path):
    rng = np.random.default_rng(2)
    trained = per_step_sequences(str(_values(tmp_path / "train.npz", rng.normal(size=(6, 8, 1)))), "data.path",
                                 PER_STEP_REGRESSION, None)
    test = per_step_sequences(str(_values(tmp_path / "test.npz", rng.normal(size=(5, 8)))), "data.test_path",
                              PER_STEP_REGRESSION, trained)
    assert test.y.shape == (5, 8, 1)


# --- 3. rnnlab search's first and final lines ---------------------------------------------------

def test_search_names_its_score_with_its_direction_and_the_final_budget_rounded_to_epochs(tmp_path):
    train_path, test_path = activities(tmp_path / "a.npz", 40, 0), activities(tmp_path / "t.npz", 8, 1)
    cfg = config(tmp_path, "acts", train_path, kind="classification", test=test_path, steps=5)
    # (nothing tracked: the final run's report, which the search draws whatever search.reports says, is read by none)
    cfg.write_text(cfg.read_text().replace("[tracking]", "[tracking]\nenabled = false")
                   + "[search]\nfolds = 2\nreports = \"none\"\n")
    said: list[str] = []
    outcome = run_search(SearchOptions(config=str(cfg), out=str(tmp_path / "s"), trials=1), log=said.append)
    first = said[0]
    assert "val_acc (per-step accuracy; higher is better) on 2 stratified folds of the training split" in first, first
    final = next(line for line in said if line.startswith("final: "))
    assert "for its whole budget, 5 steps, rounded up to whole epochs (no early stopping)" in final, final
    # (what the run trained after it: whole epochs, past the 5 steps asked for)
    trained = outcome.final["length"]["trained"]
    assert trained["step"] > 5 and f"({trained['epoch']} epochs, {trained['step']} steps)" in "\n".join(said)


def test_a_streams_step_budget_is_not_said_to_round_up():
    # (a stream keeps training.steps exactly: its last epoch stops part way)
    c = parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[training]\nsteps = 200')
    assert final_phrase(c, None) == "for its whole budget, 200 steps (no early stopping)"


# --- 4. the per-step template's look-ahead (docs/per_step.md, "Does a step see the future?") ---

def _changed_from(model: torch.nn.Module, changed_at: int) -> int:
    """The first step whose output changes when the input's steps from ``changed_at`` on do."""
    x = torch.randn(1, 40, 3)
    later = x.clone()
    later[:, changed_at:] = torch.randn(1, 40 - changed_at, 3)
    with torch.no_grad():
        a, b = model(x)[0], model(later)[0]
    return int(torch.nonzero((a - b).abs().amax(-1)[0] > 0)[0])


@pytest.mark.parametrize("task", ["per-step-classification", "per-step-regression"])
def test_the_template_says_how_far_its_front_end_looks_ahead(task):
    text = template_for(task)
    said = re.search(r"# Look-ahead: centred kernels read (\d+) later steps here", text)
    assert said, "no look-ahead comment in the template"
    c = parse_config(text)
    ahead = sum(b.padding for b in c.model.frontend.conv_blocks)
    assert int(said.group(1)) == ahead == 6
    torch.manual_seed(0)
    model = build_model(c.model, 3, 5, per_step=True).eval()
    assert _changed_from(model, 30) == 30 - ahead
    # (without the front-end, as docs/per_step.md says: a step reads the past only)
    past_only = build_model(c.model.model_copy(update={"frontend": None}), 3, 5, per_step=True).eval()
    assert _changed_from(past_only, 30) == 30
