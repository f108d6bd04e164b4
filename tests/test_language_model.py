"""Language models (issue 22): text and vocabulary, the embedding with tying and embedding
dropout, AR/TAR in the loss, bits per token, bad inputs, and the product end to end on a tiny
text (train, search with 2 workers, recipe with 2 seeds, report, sample)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tiny_run
import torch
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import DataConfig, ModelConfig, load_config, parse_config
from rnnlab.data.text import UNK, evaluated_block, load_text, split_text
from rnnlab.task import LANGUAGE_MODEL
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.model import TokenEmbedding, build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: A tiny text from Python's own documentation (no file copied into the repository).
TEXT = __import__("pydoc_data.topics", fromlist=["topics"]).topics["if"][:1500]


def write(tmp: Path, training: str = "steps = 16", model: str = "", data: str = "", after: str = "",
          tracking: str = "grads_every = 4") -> Path:
    (tmp / "text.txt").write_text(TEXT, encoding="utf-8")
    path = tmp / "lm.toml"
    path.write_text(f"""name = "lm"
[task]
kind = "language_model"
[data]
path = "text.txt"
bptt = 16
streams = 4
{data}
[model]
hidden_size = 8
{model}
[training]
lr = 0.01
{training}
[tracking]
{tracking}
{after}""", encoding="utf-8")
    return path


def _lm_config(**model) -> ModelConfig:
    return parse_config('[task]\nkind = "language_model"\n[data]\ndataset = "python-docs"\n[model]\n'
                        + "\n".join(f"{k} = {json.dumps(v)}" for k, v in model.items())).model


# ------------------------------------------------------------------------------ text and vocabulary


def test_vocabulary_from_the_training_part_and_unknown_tokens_counted():
    d = split_text("aaaa bbbb " * 9 + "zzzzqq", DataConfig(dataset="python-docs", val_fraction=0.0, test_fraction=0.1))
    assert "z" not in d.vocab.tokens and "q" not in d.vocab.tokens  # the test block's letters are unseen
    assert d.unknown["test"] == int((d.test == 0).sum()) == 6  # "zzzzqq", the tail of the 96 characters
    assert d.vocab.tokens[0] == UNK and "test tokens unknown, mapped to <unk>" in d.summary()
    words = split_text("the cat sat\nthe dog sat\nthe cow",
                       DataConfig(dataset="python-docs", tokens="word", val_fraction=0.0, test_fraction=0.25))
    assert words.unknown["test"] == 1 and words.vocab.decode(words.train[:4]) == "the cat sat\n"


def test_windows_line_ends_read_as_one_newline(tmp_path):
    # The same text saved on Windows (or an old Mac) is the same characters: "\r" is no token of
    # its own, which would be predicted from nothing but the line end and lower bits per character.
    (tmp_path / "unix.txt").write_bytes(TEXT.encode())
    (tmp_path / "win.txt").write_bytes(TEXT.replace("\n", "\r\n").encode())
    (tmp_path / "mac.txt").write_bytes(TEXT.replace("\n", "\r").encode())
    loaded = [load_text(DataConfig(path=str(tmp_path / f), bptt=16, streams=4)) for f in ("unix.txt", "win.txt", "mac.txt")]
    assert "\r" not in loaded[1].text.vocab.tokens and "\n" in loaded[1].text.vocab.tokens
    for d in loaded[1:]:
        assert d.fingerprint() == loaded[0].fingerprint()


def test_bits_per_token_is_the_loss_over_ln2_per_character():
    torch.manual_seed(0)
    logits, y = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    y[1, 3:] = -100  # padding: not a character
    tally = LANGUAGE_MODEL.tally()
    tally.add(logits, y)
    ce = torch.nn.functional.cross_entropy(logits[y != -100], y[y != -100])
    r = tally.result()
    assert tally.n == 8 and r["loss"] == pytest.approx(float(ce))
    assert r["bpc"] == pytest.approx(float(ce) / math.log(2)) and r["ppl"] == pytest.approx(math.exp(float(ce)))
    assert LANGUAGE_MODEL.score == "val_bpc" and not LANGUAGE_MODEL.higher_is_better("val_bpc")
    block = evaluated_block(np.arange(10), np.arange(10, 15), 3, [])  # warmed up on 3 tokens, 5 scored
    assert block.y[0].tolist() == [-100, -100, 10, 11, 12, 13, 14] and block.X[0, :, 0].tolist() == list(range(7, 14))


def test_training_rows_are_the_training_part_in_order_and_never_see_validation(tmp_path):
    cfg = load_config(write(tmp_path))
    d = load_text(cfg.data)
    ids = d.text.train
    rows = d.train.X[..., 0].astype(np.int64)  # [streams, T]: contiguous pieces, each row's state carries
    skip = (len(ids) - 1) % 4
    assert np.array_equal(rows.reshape(-1), ids[skip:-1]) and np.array_equal(d.train.y.reshape(-1), ids[skip + 1:])
    assert len(ids) + len(d.text.val) + len(d.text.test) == len(TEXT)  # tail blocks: validation, then test
    scored = d.val.y[d.val.y >= 0]
    assert np.array_equal(scored, d.text.val) and d.val.X.shape[1] == 16 + len(d.text.val) - 1


# ------------------------------------------------------------------------------ model pieces


def test_tied_weights_share_storage():
    tied = build_model(_lm_config(hidden_size=6, tie_weights=True), 1, 11, per_step=True)
    assert tied.head[-1].weight.data_ptr() == tied.embedding.weight.data_ptr()
    assert len(list(tied.parameters())) == len(list(build_model(_lm_config(hidden_size=6), 1, 11, True).parameters())) - 1
    logits, _ = tied(torch.tensor([[[1.0], [4.0]]]))
    assert logits.shape == (1, 2, 11)


def test_embedding_dropout_drops_whole_tokens():
    torch.manual_seed(3)
    emb = TokenEmbedding(50, 4, dropout=0.5)
    ids = torch.arange(50).repeat(3, 1)  # every token at three steps
    out = emb(ids)
    dropped = (out == 0).all(-1)  # [3, 50]
    assert 5 < int(dropped[0].sum()) < 45
    assert (dropped == dropped[0]).all()  # a token is dropped at every step it occurs, or at none
    kept = ~dropped[0]
    assert torch.allclose(out[0, kept], emb.weight[kept] * 2)  # the others scaled by 1 / (1 - p)
    assert torch.equal(emb.eval()(ids), emb.weight[ids])  # nothing dropped in eval mode


def test_ar_and_tar_change_the_loss_by_their_definition(tmp_path):
    from rnnlab.train.timing import Timing
    from rnnlab.train.trainer import _set_up

    cfg = load_config(write(tmp_path, training="steps = 2\nar = 2.0\ntar = 0.5"))
    s = _set_up(cfg, None, None, None, Timing())
    x = torch.from_numpy(s.data.train.X[:3])
    s.model.train()
    torch.manual_seed(0)
    h, _ = s.model.rnn(s.model.embedding(x[..., 0].long()))
    penalty = s.activity.penalty()
    expected = 2.0 * h.pow(2).mean() + 0.5 * (h[:, 1:] - h[:, :-1]).pow(2).mean()
    assert float(penalty.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    plain = _set_up(load_config(write(tmp_path, training="steps = 2")), None, None, None, Timing())
    assert plain.activity is None


# ------------------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(("case", "text", "extra", "expected"), [
    ("no-valid-characters", " \n\t\n", "", ("data.path", "printable character")),
    ("not-utf8", b"caf\xe9 au lait", "", ("data.path", "UTF-8", "offset 3")),
    ("binary", b"ab\x00cd", "", ("data.path", "NUL")),
    ("empty-vocabulary", "a", "", ("training part holds", "empty vocabulary")),
    ("tie-mismatch", TEXT, "embedding_size = 4\ntie_weights = true", ("'model.tie_weights'", "embedding_size")),
    ("bidirectional", TEXT, "bidirectional = true", ("'model.bidirectional'", "reverse direction")),
    ("tokens-typo", TEXT, None, ("'data.tokens'", "'word'")),
])
def test_bad_language_model_input_is_one_line(case, text, extra, expected, tmp_path, capsys):
    cfg = write(tmp_path, model=extra or "", data='tokens = "wrd"' if extra is None else "")
    (tmp_path / "text.txt").write_bytes(text if isinstance(text, bytes) else text.encode())
    one_line_error(["train", str(cfg), "--out", str(tmp_path / "run"), "--quiet"], capsys, expected)


def test_language_model_keys_are_refused_elsewhere(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ndataset = "UnitTest"\n[model]\ntie_weights = true\n')
    one_line_error(["train", str(cfg), "--quiet"], capsys, ("'model.tie_weights'", "language model"))
    one_line_error(["sample", str(tmp_path / "nowhere")], capsys, ("not a run directory",))


# ------------------------------------------------------------------------------ end to end


def test_train_report_and_sample_end_to_end(tmp_path, capsys):
    # (no weight or gradient norms: the report is checked for its metrics only, and is quicker to
    # draw twice without their figures; the training is the same with them)
    config = write(tmp_path, training="steps = 30\nar = 1.0\ntar = 1.0",
                   model="tie_weights = true\nembedding_dropout = 0.1\nweight_drop = 0.2",
                   tracking="weights_every = 0\ngrads_every = 0")
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", str(config), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "vocabulary" in out and "train bits per token" in out and "test perplexity" in out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test"]["bpc"] == pytest.approx(summary["test"]["loss"] / math.log(2))
    assert summary["test"]["bpc"] < math.log2(len(set(TEXT)))  # better than uniform over the characters
    assert main(["report", str(run)]) == 0 and "val_bpc" in (run / "report.html").read_text()
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "40", "--prompt", "if ", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("if ") and len(text.rstrip("\n")) >= 40 and UNK not in text
    assert main(["sample", str(run), "--length", "40", "--prompt", "if ", "--seed", "1"]) == 0
    assert capsys.readouterr().out == text  # seeded
    one_line_error(["sample", str(run), "--temperature", "0"], capsys, ("--temperature", "got 0.0"))
    # a prompt character the training text never held is read as <unk>, and the user is told (stderr)
    assert main(["sample", str(run), "--length", "5", "--prompt", "if \u00e7"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("if \u00e7") and err.count("\n") == 1
    assert "note: --prompt: 1 of 4 tokens not in the training text's vocabulary ('\u00e7'), read as <unk>" in err
    # the text saved again with Windows line ends is the same text: the run still samples
    (tmp_path / "text.txt").write_bytes(TEXT.replace("\n", "\r\n").encode())
    assert main(["sample", str(run), "--length", "40", "--prompt", "if ", "--seed", "1"]) == 0
    assert capsys.readouterr().out == text
    # a run made before "\r\n" read as "\n" (its checkpoint's text differs; and before checkpoints kept
    # the vocabulary, so it reads its text): said why, not "restore it"
    ckpt_path = run / "checkpoints" / "last.pt"
    save_checkpoint(ckpt_path, {**{k: v for k, v in load_checkpoint(ckpt_path).items() if k != "run_fit"},
                                "data_sha256": "0" * 64})
    (run / "checkpoints" / "best.pt").unlink(missing_ok=True)
    one_line_error(["sample", str(run)], capsys, ("has Windows line ends", "train it again"))


def test_search_with_two_workers_and_recipe_with_two_seeds(tmp_path):
    config = write(tmp_path, training="steps = 4", tracking="enabled = false",
                   after='[search]\nfolds = 2\ntrials = 2\nsampler = "random"\nreports = "none"\n'
                         '[search.space]\n"model.embedding_dropout" = { low = 0.0, high = 0.3 }')
    final, _, _ = tiny_run.search_then_recipe(config, tmp_path, trials=2, step="embedding_dropout")
    assert set(final["test"]) == {"loss", "ppl", "bpc"}
