"""A language model's checkpoints keep its vocabulary (the ``text`` part of the run's ``RunFit``
record: the tokens in the order of the head's logits, the tokenization, ``<unk>``), so ``rnnlab
sample`` and ``rnnlab tensorboard`` need neither ``data.path`` nor follow its changes after
training; a run from before the record reads its text as before, and says in one line that it
needs it, and why, when it is gone; a damaged record is a one-line error naming its key."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tiny_run
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.export.tensorboard import last_model
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.run_fit import RUN_FIT_KEY

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: A tiny text from Python's own documentation (no file copied into the repository).
TEXT = __import__("pydoc_data.topics", fromlist=["topics"]).topics["if"][:1500]


def _train(tmp: Path, tokens: str) -> Path:
    (tmp / "g2.txt").write_text(TEXT, encoding="utf-8")
    (tmp / "lm.toml").write_text(f"""[task]
kind = "language_model"
[data]
path = "{tmp / 'g2.txt'}"
tokens = "{tokens}"
bptt = 16
streams = 4
test_fraction = 0.0
[model]
hidden_size = 8
[training]
lr = 0.01
steps = 8
[tracking]
grads_every = 4
""", encoding="utf-8")
    run = tmp / "runs" / "lm"
    # (through the API: the run directory `rnnlab train` writes, less the report.html it draws at
    # the end, which neither `rnnlab sample` nor `rnnlab tensorboard` reads)
    tiny_run.run(load_config(tmp / "lm.toml"), run)
    return run


@pytest.fixture(scope="module")
def char_run(tmp_path_factory) -> Path:
    """One char run, trained once for the tests that damage a copy of it (its text stays)."""
    return _train(tmp_path_factory.mktemp("char"), "char")


def _sample(run: Path, capsys: pytest.CaptureFixture[str], prompt: str) -> tuple[str, str]:
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "30", "--prompt", prompt, "--seed", "3"]) == 0, \
        capsys.readouterr().err
    return capsys.readouterr()


def _weights(run: Path) -> dict[str, np.ndarray]:
    model = last_model(run)
    assert model is not None
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _without_record(run: Path, to: Path) -> Path:
    """A copy of ``run`` whose checkpoints lack the record, as a run trained before it was kept."""
    shutil.copytree(run, to)
    for path in (to / "checkpoints").glob("*.pt"):
        state = load_checkpoint(path)
        assert RUN_FIT_KEY in state  # (the run kept it)
        del state[RUN_FIT_KEY]
        save_checkpoint(path, state)
    return to


@pytest.mark.parametrize(("tokens", "prompt"), [("char", "if x"), ("word", "The if zebra")])
def test_sample_and_tensorboard_need_no_text_after_training(tmp_path, capsys, tokens, prompt):
    run = _train(tmp_path, tokens)
    state = load_checkpoint(run / "checkpoints" / "last.pt")[RUN_FIT_KEY]
    assert state["text"]["tokens"] == tokens and state["text"]["vocab"]["tokens"] == state["classes"]
    before, note = _sample(run, capsys, prompt)
    empty, _ = _sample(run, capsys, "")  # (begins at a line's start: the record says which token)
    weights = _weights(run)
    (tmp_path / "g2.txt").unlink()
    assert _sample(run, capsys, prompt) == (before, note)  # the same text, and the same note on unknown tokens
    assert _sample(run, capsys, "")[0] == empty
    after = _weights(run)
    assert after.keys() == weights.keys() and all(np.array_equal(after[k], weights[k]) for k in weights)
    capsys.readouterr()
    assert main(["tensorboard", str(run)]) == 0, capsys.readouterr().err
    assert "not split per gate" not in capsys.readouterr().out
    # a data.path that now holds another text (another vocabulary) changes nothing either
    (tmp_path / "g2.txt").write_text("zq\n" * 200, encoding="utf-8")
    assert _sample(run, capsys, prompt) == (before, note)


def test_a_run_from_before_the_record_reads_its_text_and_says_why_when_it_is_gone(tmp_path, capsys):
    run = _train(tmp_path, "word")
    before = _sample(run, capsys, "The if")
    old = _without_record(run, tmp_path / "runs" / "old")
    assert _sample(old, capsys, "The if") == before  # its vocabulary rebuilt from its text, as it trained
    text = tmp_path / "g2.txt"
    text.unlink()
    one_line_error(["sample", str(old)], capsys,
                   [str(old), "keeps no record of its vocabulary (a run trained before checkpoints kept it), so "
                    f"sampling needs its text at data.path ({text}), which does not exist", "restore it"])
    one_line_error(["tensorboard", str(old)], capsys,
                   ["keeps no record of its vocabulary", f"splitting per gate needs its text at data.path ({text})"])


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda r: r["text"]["vocab"]["tokens"].reverse(), "'<unk>' first"),  # (<unk> is no longer id 0)
    (lambda r: r["text"].update(tokens="sentence"), "'tokens': expected 'char'"),
    (lambda r: r.update(text=None), "'text': expected a dict of the vocabulary"),
    (lambda r: r["text"]["vocab"]["tokens"].pop(), "'text': expected the vocabulary of 'classes'"),
])
def test_a_damaged_record_is_one_line_naming_its_key(tmp_path, capsys, damage, expected, char_run):
    run = tmp_path / "runs" / "lm"
    shutil.copytree(char_run, run)
    for path in (run / "checkpoints").glob("*.pt"):
        state = load_checkpoint(path)
        damage(state[RUN_FIT_KEY])
        save_checkpoint(path, state)
    for argv in (["sample", str(run)], ["tensorboard", str(run)]):
        one_line_error(argv, capsys, ["checkpoint", f"'{RUN_FIT_KEY}'", expected])
