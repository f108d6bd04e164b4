"""`rnnlab compare` of language models, on real runs of text Python ships: bits per token are per
the run's own tokens, so runs of other ``data.tokens`` (a character, a word) or of a
``data.vocab_size`` that folds words into ``<unk>`` are said not to be on one scale, and their
groups are not marked against each other; a text saved with LF and with CRLF line ends is one
text as the model reads it, and is not said to be other data (other text still is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare_round3 import cells, cli
from test_compare_round4 import table, warnings

from rnnlab.config import load_config
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TOPICS = __import__("pydoc_data.topics", fromlist=["topics"]).topics


def _train(tmp: Path, name: str, text: Path, data: str = 'tokens = "char"', seed: int = 0) -> Path:
    (tmp / f"{name}.toml").write_text(f"""[task]
kind = "language_model"
[data]
path = "{text}"
{data}
bptt = 16
streams = 4
[model]
hidden_size = 8
[training]
steps = 4
seed = {seed}
[tracking]
enabled = false
""", encoding="utf-8")
    # (trained as `rnnlab train` trains it, less the report it draws at the end: compare reads none of it)
    train(load_config(tmp / f"{name}.toml"), out=tmp / name, progress=False, log=None)
    return tmp / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("lm")
    keys = sorted(TOPICS)
    text = "\n".join(TOPICS[k] for k in keys[:6])
    (tmp / "lf.txt").write_bytes(text.encode("utf-8"))
    (tmp / "crlf.txt").write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    (tmp / "other.txt").write_bytes("\n".join(TOPICS[k] for k in keys[6:12]).encode("utf-8"))
    out = {f"char-s{s}": _train(tmp, f"char-s{s}", tmp / "lf.txt", seed=s) for s in (0, 1)}
    out |= {f"word-s{s}": _train(tmp, f"word-s{s}", tmp / "lf.txt", 'tokens = "word"\nvocab_size = 50', seed=s)
            for s in (0, 1)}
    out["word-all"] = _train(tmp, "word-all", tmp / "lf.txt", 'tokens = "word"')
    # a cap above the text's vocabulary folds nothing: the same task as no cap
    out["word-roomy"] = _train(tmp, "word-roomy", tmp / "lf.txt", 'tokens = "word"\nvocab_size = 1000000')
    out["crlf"] = _train(tmp, "crlf", tmp / "crlf.txt")
    out["other"] = _train(tmp, "other", tmp / "other.txt")
    return out


def _unknown_share(run: Path) -> float:
    text = json.loads((run / "summary.json").read_text())["text"]
    return text["unknown"]["train"] / text["tokens"]["train"]


def test_char_and_capped_word_runs_are_said_to_be_per_other_tokens(runs, tmp_path, capsys) -> None:
    char, word = runs["char-s0"], runs["word-s0"]
    code, out, err = cli(["compare", char, word, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    share = _unknown_share(word)
    assert share > 0.05  # (the cap of 50 words folds many)
    [warning] = warnings(out)  # (one file: no word of other data)
    assert warning.startswith("warning: the language-model runs differ in data.tokens and data.vocab_size (")
    assert f"data.tokens = char, data.vocab_size unset: {char}" in warning
    assert (f"data.tokens = word, data.vocab_size = 50 ({share:.0%} of the training tokens read as <unk>): {word}"
            in warning)
    assert "a character and a word are different units" in warning and "<unk>" in warning
    assert "bpc and ppl columns do not rank them" in warning
    head, rows, _ = table(out)
    assert rows[str(char)]["data.tokens"] == "char" and rows[str(word)]["data.tokens"] == "word"


def test_a_vocabulary_cap_alone_is_said_and_a_cap_that_folds_nothing_is_not(runs, tmp_path, capsys) -> None:
    code, out, err = cli(["compare", runs["word-all"], runs["word-s0"], "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    [warning] = warnings(out)
    assert warning.startswith("warning: the language-model runs differ in data.vocab_size (")
    assert "a character and a word" not in warning and "reads its rarer tokens as one <unk>" in warning
    # a cap above the text's vocabulary reads every word as itself: the same scale as no cap
    assert _unknown_share(runs["word-roomy"]) == 0
    code, out, err = cli(["compare", runs["word-all"], runs["word-roomy"], "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    assert not warnings(out)


def test_groups_of_other_tokens_are_not_marked_against_each_other(runs, tmp_path, capsys) -> None:
    names = ("char-s0", "char-s1", "word-s0", "word-s1")
    code, out, err = cli(["compare", *(runs[n] for n in names), "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    head, rows, _ = table(out)
    assert [r["n"] for r in rows.values()] == ["2", "2"]
    mark = head[-1]
    assert sorted(r[mark] for r in rows.values()) == ["- (bpc of other tokens)", "reference"]
    # seeds of one config are on one scale: nothing to say, and they are marked
    code, out, err = cli(["compare", runs["char-s0"], runs["char-s1"], "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    assert not warnings(out)


def test_a_text_with_crlf_line_ends_is_the_same_data_and_other_text_is_not(runs, tmp_path, capsys) -> None:
    lf, crlf = runs["char-s0"], runs["crlf"]
    assert (Path(str(lf)).parent / "lf.txt").read_bytes() != (Path(str(crlf)).parent / "crlf.txt").read_bytes()
    code, out, err = cli(["compare", lf, crlf, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    assert not warnings(out), out
    head, rows, rest = table(out)
    assert "data.path" not in head  # (the one key the configs differ in: by name only)
    assert rows[str(lf)]["test_bpc"] == rows[str(crlf)]["test_bpc"]
    # same config, data and seed: a rerun, said so, not a second seed
    assert any(line.startswith(f"note: {crlf} stands alone: same config, data and seed (0) as {lf}") for line in rest)
    # with the other seed of the LF file, the CRLF run's seed 0 is the LF run's again
    code, out, err = cli(["compare", lf, runs["char-s1"], crlf, "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    assert not warnings(out)
    # really other text is still other data
    code, out, err = cli(["compare", lf, crlf, runs["other"], "--figures", tmp_path / "f"], capsys)
    assert code == 0, err
    [warning] = warnings(out)
    assert warning.startswith("warning: the runs are on different data (")
    assert f"{lf}, {crlf}" in warning and f"other.txt: {runs['other']}" in warning
    assert [cells(line)[0] for line in out.splitlines()].count(str(runs["other"])) == 1
