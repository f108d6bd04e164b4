"""A language model's vocabulary cap (``data.vocab_size``: the most frequent training tokens, the
rest <unk>) and the unknown tokens of each part, recorded in summary.json and shown by the run's
lines and report; bad values are one-line errors."""

from __future__ import annotations

import json

import pytest
from test_bad_inputs import one_line_error
from test_language_model import TEXT, write

from rnnlab.cli import main
from rnnlab.config import DataConfig
from rnnlab.data.text import split_text, tokenize

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_the_cap_keeps_the_most_frequent_training_tokens_and_counts_the_rest():
    cfg = DataConfig(dataset="python-docs", tokens="word", vocab_size=12, val_fraction=0.2, test_fraction=0.2)
    capped, whole = split_text(TEXT, cfg), split_text(TEXT, cfg.model_copy(update={"vocab_size": None}))
    assert capped.vocab.size == 12 and whole.vocab.size > 12
    words = tokenize(TEXT, "word")
    train = words[: len(capped.train)]
    counts = {w: train.count(w) for w in set(train)}
    kept = set(capped.vocab.tokens[1:])
    assert min(counts[w] for w in kept) >= max(counts[w] for w in set(train) - kept)  # the most frequent
    assert capped.unknown["train"] == sum(n for w, n in counts.items() if w not in kept) > 0
    assert capped.unknown["val"] >= whole.unknown["val"] and capped.unknown["test"] >= whole.unknown["test"]
    assert whole.unknown["train"] == 0


def test_unknown_tokens_in_summary_lines_and_report(tmp_path, capsys):
    config = write(tmp_path, training="steps = 6", data='tokens = "word"\nvocab_size = 20', tracking="enabled = false")
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    text = json.loads((run / "summary.json").read_text())["text"]
    assert text["vocabulary"] == 20 and text["unknown"]["train"] > 0 and text["unknown"]["test"] > 0
    assert sum(text["tokens"].values()) == len(tokenize(TEXT, "word"))
    line = f"train {text['unknown']['train']} of {text['tokens']['train']}"
    assert "unknown tokens (<unk>, vocabulary 20): " + line in out
    assert "the 19 most frequent: data.vocab_size" in out  # the set-up line says the cap made them
    page = (run / "report.html").read_text()
    assert f"train unknown tokens (of {text['tokens']['train']})" in page


@pytest.mark.parametrize(("data", "task", "expected"), [
    ("vocab_size = 1", "language_model", ("data.vocab_size", "expected a number >= 2", "got 1")),
    ('vocab_size = "many"', "language_model", ("data.vocab_size", "'many'")),
    ("vocab_size = 100", "forecasting", ("'data.vocab_size'", "language model", "forecasting")),
    ("vocab_sise = 100", "language_model", ("data.vocab_sise", "did you mean", "vocab_size")),
])
def test_a_bad_vocabulary_cap_is_one_line(data, task, expected, tmp_path, capsys):
    config = write(tmp_path, data=data)
    config.write_text(config.read_text().replace('kind = "language_model"', f'kind = "{task}"'))
    one_line_error(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"], capsys, expected,
                   kept=tmp_path, new_files=False)


def test_a_zero_initialized_head_cannot_be_the_tied_decoder(tmp_path, capsys):
    config = write(tmp_path, model="tie_weights = true\n[model.head]\nzero_init = true")
    one_line_error(["train", str(config), "--out", str(tmp_path / "run"), "--quiet"], capsys,
                   ("'model.head.zero_init'", "tie_weights"), kept=tmp_path, new_files=False)
