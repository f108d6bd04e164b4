"""A language model's health checks and text, from a user's round: token ids are not judged as
an input scale (every word-level run was warned of one, with a remedy a language model refuses);
the vanishing-gradient remedy names data.bptt for streams beside the keys of sequence runs; a
text of one repeated token is refused at load (a model of it learns nothing, and its findings
were nonsense). Real runs on text Python ships."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.doctor.checks import spelled
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TOPICS = __import__("pydoc_data.topics", fromlist=["topics"]).topics


def _config(tmp: Path, text: str, tokens: str) -> Path:
    (tmp / "t.txt").write_text(text, encoding="utf-8")
    (tmp / "lm.toml").write_text(f"""[task]
kind = "language_model"
[data]
path = "{tmp / 't.txt'}"
tokens = "{tokens}"
bptt = 16
streams = 4
test_fraction = 0.0
[model]
hidden_size = 8
[training]
steps = 4
""", encoding="utf-8")
    return tmp / "lm.toml"


def test_a_word_level_run_is_not_warned_of_its_token_ids_scale(tmp_path: Path) -> None:
    text = "\n".join(TOPICS[k] for k in sorted(TOPICS)[:12])  # (thousands of distinct words)
    run = tmp_path / "run"
    # (`rnnlab train`'s run, less the report it draws at the end: health.json is read)
    train(load_config(_config(tmp_path, text, "word")), out=run, progress=False, log=None)
    health = json.loads((run / "health.json").read_text())
    assert "input_scale" not in [f["check"] for f in health["findings"]], health["findings"]
    assert health["skipped"]["input_scale"] == "the input is token ids, which an embedding reads", health["skipped"]


def test_the_shorten_remedy_names_the_key_of_a_stream_and_of_sequences() -> None:
    said = spelled("{shorten}", config=True)
    assert "data.bptt for a forecaster or a language model" in said and "training.stateful_window" in said


@pytest.mark.parametrize("tokens", ["char", "word"])
def test_a_text_of_one_repeated_token_is_refused_in_one_line(tmp_path: Path, capsys, tokens: str) -> None:
    text = "a" * 5000 if tokens == "char" else "spam " * 2000
    assert main(["train", str(_config(tmp_path, text, tokens)), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected at least 2 distinct tokens" in err[0] and "all " in err[0], err
