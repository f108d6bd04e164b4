"""A language-model user's round (9): unknown tokens in the test part are warned of at the start
as the validation part's are, with what each costs; the vocabulary cap's warning follows the share
of <unk> (not "mostly" at 11 %) and says when the held-out parts' larger share changes their
scores; the docs say what the word tokenizer does with blank lines and what ``ppl`` is; the
health check does not warn of the untrained gated layer's usual short reach on a language model
(a note instead), and still warns of a plain RNN's; a search's best.toml with one hold-out score
shows no spread."""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import optuna
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import DataConfig, dump_config, load_config, parse_config
from rnnlab.data.text import EOS, load_text, split_text, tokenize
from rnnlab.doctor.checks import REACHES, VANISHES, Thresholds, TimeGradient, judge_through_time
from rnnlab.doctor.run import LAST_STEP_LOSS
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

DOCS = Path(__file__).resolve().parents[1] / "docs" / "language_models.md"
#: 26 letters, the training and validation text; the test part adds what they never hold.
LATIN = "the quick brown fox jumps over a lazy dog\n"


def _notes(cfg: DataConfig) -> list[str]:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        load_text(cfg)
    return [str(w.message) for w in said if str(w.message).startswith("data.vocab_size")]


# --- 1. unknown tokens in the test part are said at the start, as the validation part's -----------


def test_a_test_part_of_unknown_characters_is_warned_of_at_the_start_with_their_cost(tmp_path):
    text = LATIN * 60 + ("가나다라마바사아자차카타파하 " * 14)[:200]  # the test part: characters training never reads
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    cfg = DataConfig(path=str(tmp_path / "t.txt"), bptt=10, streams=2, test_steps=200, val_steps=200)
    d = split_text(text, cfg)
    assert d.unknown["train"] == d.unknown["val"] == 0 and d.unknown["test"] > 0.05 * len(d.test)
    (note,) = _notes(cfg)
    assert "\n" not in note and len(note) <= 600  # (one line, whole: the CLI cuts a warning past 600 characters)
    share = d.unknown["test"] / len(d.test)
    assert note.startswith(f"data.vocab_size: {d.unknown['test']} of the {len(d.test)} test tokens ({share:.0%}) "
                           "are not in the vocabulary"), note
    # what each costs: the model never reads <unk> in training
    assert "-log2 p(<unk>)" in note and "never reads <unk> in training" in note
    assert f"log2 {d.vocab.size} = {math.log2(d.vocab.size):.1f}" in note, note
    assert "validation" not in note.split(":")[1], note  # (the validation part has none)


def test_one_note_names_both_held_out_parts_when_both_hold_unknown_tokens():
    text = LATIN * 60 + "é ü ö ä ß " * 20 + "가나다라마바사 " * 25
    d = split_text(text, DataConfig(dataset="python-docs", test_steps=200, val_steps=200))
    assert d.unknown["val"] > 0.05 * len(d.val) and d.unknown["test"] > 0.05 * len(d.test)
    (note,) = d.unknown_notes()
    assert f"{d.unknown['val']} of the 200 validation tokens" in note
    assert f"{d.unknown['test']} of the 200 test tokens" in note, note
    assert "validation and test bits per token suffer" in note, note


def test_few_unknown_test_tokens_say_nothing():
    text = LATIN * 60 + "the quick brown fox é\n" * 9
    d = split_text(text, DataConfig(dataset="python-docs", test_steps=200, val_steps=100))
    assert 0 < d.unknown["test"] <= 0.05 * len(d.test)
    assert d.unseen_unknown_note() == ""


# --- 2. the cap's warning follows the share; a larger share in the held-out parts is said --------


def _words(lines: int) -> str:
    """``lines`` lines of 9 words drawn in turn from 40 frequent ones, and one rare word each."""
    return "".join(" ".join(f"p{(9 * i + k) % 40}" for k in range(9)) + f" r{i}\n" for i in range(lines))


def test_a_cap_share_under_half_does_not_say_mostly_and_a_larger_held_out_share_is_said():
    # training: 1 rare word in 11 tokens (with <eos>), folded into <unk> by the cap; the held-out
    # parts: 3 rare words in 11 tokens
    text = _words(400) + "".join(f"p1 p2 p3 p4 p5 p6 p7 x{i} y{i} z{i}\n" for i in range(60))
    cfg = DataConfig(dataset="python-docs", tokens="word", vocab_size=42, val_steps=300, test_steps=300)
    d = split_text(text, cfg)
    train_share = d.lacked("train") / len(d.train)
    assert 0.05 < train_share < 0.5
    capped, held_out = d.unknown_notes()
    assert "mostly" not in capped, capped
    assert capped.startswith(f"data.vocab_size: {d.lacked('train')} of the {len(d.train)} training tokens "
                             f"({train_share:.0%}) read as <unk>") and "that share of the tokens scored is <unk>" in capped
    # (each its own line, whole: the CLI cuts a warning line past 600 characters)
    assert all("\n" not in note and len(note) <= 600 for note in (capped, held_out))
    note = held_out
    # the held-out parts' larger share: what each <unk> costs, against an average training token
    cost = -math.log2(d.unknown["train"] / len(d.train))
    entropy = d.unigram_entropy() / math.log(2)
    assert cost < entropy - 1
    assert f"each <unk> costs about {cost:.1f} bits" in note and f"{entropy:.1f} bits" in note, note
    assert "validation and test scores are flattered" in note, note
    assert "validation score below the training score is then no sign of generalization" in note, note


def test_a_cap_that_folds_most_tokens_still_says_mostly():
    text = ("a" * 30 + "bcdefghijklmnopqrstuvwxyz" * 2 + "\n") * 20
    d = split_text(text, DataConfig(dataset="python-docs", vocab_size=2, test_fraction=0.0, val_fraction=0.1))
    assert d.lacked("train") > 0.5 * len(d.train)
    assert "the score then mostly measures predicting <unk>" in d.unseen_unknown_note()


# --- 3. blank lines at word level: the docs say what the tokenizer does --------------------------


def test_the_docs_say_what_a_blank_line_gives_at_word_level():
    assert tokenize("one two\n\n   \nthree\n", "word") == ["one", "two", EOS, "three", EOS]
    docs = " ".join(DOCS.read_text(encoding="utf-8").split())
    tokens = docs[docs.index("- **Tokens**"):docs.index("- **Split.**")]
    assert "`<eos>` ending each line)" not in tokens
    assert "a blank line (or one of whitespace only) gives no token" in tokens, tokens
    assert "AWD-LSTM" in tokens  # (whose data.py gives an <eos> per line, blank ones included)


# --- 5. the docs say what ppl is ------------------------------------------------------------------


def _lm(tmp: Path, extra: str = "", layer: str = "lstm", inspect: int = 16) -> Path:
    topics = __import__("pydoc_data.topics", fromlist=["topics"]).topics
    (tmp / "t.txt").write_text("\n".join(topics[k] for k in sorted(topics)[:3]), encoding="utf-8")
    (tmp / "lm.toml").write_text(f"""[task]
kind = "language_model"
[data]
path = "{tmp / 't.txt'}"
bptt = 16
streams = 2
test_fraction = 0.0
[model]
layer = "{layer}"
hidden_size = 8
[training]
steps = 2
ar = 2.0
tar = 1.0
[tracking]
inspect_steps = {inspect}
{extra}""", encoding="utf-8")
    return tmp / "lm.toml"


def test_the_docs_say_ppl_is_2_to_the_bpc_of_the_cross_entropy_alone(tmp_path):
    docs = " ".join(DOCS.read_text(encoding="utf-8").split())
    metrics = docs[docs.index("## Metrics and the fit"):docs.index("**Underfit finding.**")]
    assert "`exp(loss)`" not in metrics, metrics
    assert "`2^bpc`" in metrics and "`train_ppl` is not `exp(train_loss)`" in metrics, metrics
    # and a run records it so: the penalty is in train_loss, not in train_ppl
    # (`rnnlab train`'s run, less the report it draws at the end)
    train(load_config(_lm(tmp_path)), out=tmp_path / "r", progress=False, log=None)
    last = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["train_ppl"] == pytest.approx(2 ** last["train_bpc"], rel=1e-9)
    assert last["train_ppl"] < math.exp(last["train_loss"])  # (AR/TAR add to the minimized loss)


# --- 4. the untrained gated layer's short reach on a language model is a note, not a warning ------


def _curve(reach: int, steps: int) -> torch.Tensor:
    g = torch.ones(steps)
    g[: steps - reach] = 1e-6
    return g


@pytest.mark.parametrize(("module", "severity"), [
    (torch.nn.LSTM(2, 4), "info"), (torch.nn.GRU(2, 4), "info"), (torch.nn.RNN(2, 4), "warning"), (None, "warning"),
])
def test_a_language_model_s_untrained_gated_layer_gets_a_note_not_a_warning(module, severity):
    tg = TimeGradient("'model.rnn' layer 0 forward", _curve(11, 400), module)
    verdict, found = judge_through_time(tg, Thresholds(), True, LAST_STEP_LOSS, language_model=True)
    assert verdict == VANISHES and found.severity == severity, found
    if severity == "info":
        assert found.title.startswith("Short memory"), found.title
        assert "untrained" in found.title and "reaches 11 of 400 steps" in found.title
        assert "scored at every step" in found.message and "not evidence of a problem" in found.message
        assert found.remedy.startswith("Nothing before training")
    # the same curve elsewhere (a classifier's, a sequence's) is the warning it was
    verdict, found = judge_through_time(tg, Thresholds(), True, LAST_STEP_LOSS)
    assert found.severity == "warning" and found.title.startswith("Vanishing gradient")
    assert judge_through_time(TimeGradient("x", _curve(390, 400), module), Thresholds(),
                              language_model=True) == (REACHES, None)


def _through_time(run: Path) -> list[dict]:
    findings = json.loads((run / "health.json").read_text())["findings"]
    return [f for f in findings if f["check"] == "gradient_through_time"]


def test_a_language_model_run_is_not_warned_of_its_untrained_lstm_s_reach_and_a_plain_rnn_s_is(tmp_path, capsys):
    for layer, severity, title in (("lstm", "info", "Short memory"), ("rnn", "warning", "Vanishing gradient")):
        run = tmp_path / layer
        cfg = _lm(tmp_path, layer=layer, inspect=120)
        train(load_config(cfg), out=run, progress=False, log=None)  # (`rnnlab train`'s run, less its report)
        (found,) = _through_time(run)
        assert found["severity"] == severity and found["title"].startswith(title), found
        assert found["numbers"]["reach"] < 0.75 * 120  # (the reach is as short as it was: only the verdict differs)
    capsys.readouterr()
    assert main(["doctor", str(_lm(tmp_path, inspect=120))]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and "Short memory" in out, out


# --- 6. a search's best.toml with one hold-out score shows no spread --------------------------------


TINY = parse_config("""[task]
kind = "language_model"
[data]
dataset = "python-docs"
[training]
steps = 1
""")


@pytest.mark.parametrize(("scores", "said"), [([4.0723], "val_bpc 4.0723 over"),
                                              ([4.0, 4.2], "val_bpc 4.1000 ± 0.1414 over")])
def test_best_toml_shows_a_spread_only_over_two_scores(tmp_path, scores, said):
    from rnnlab.search.study import write_best
    from rnnlab.search.trial import FoldPlan

    trial = optuna.trial.create_trial(value=sum(scores) / len(scores), params={}, distributions={},
                                      user_attrs={"config": dump_config(TINY), "fold_scores": scores})
    header = write_best(tmp_path, trial, "val_bpc", FoldPlan(k=len(scores), seed=0, holdout=0.1, forward=True)
                        ).read_text().splitlines()[0]
    assert said in header, header
    assert ("±" in header) == (len(scores) > 1), header
    assert re.search(r"nan", header) is None
