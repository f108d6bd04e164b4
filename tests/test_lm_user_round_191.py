"""A language-model user's round (191): a text that writes ``<unk>`` itself (Penn Treebank) counts
those tokens as the ``<unk>`` the model reads, in the training line, summary.json, the warnings and
``rnnlab sample``'s prompt note; ``rnnlab sample --seed`` and ``--temperature`` at their edges;
``rnnlab recipe --help`` lists the steps in the order the recipe runs them for each task;
``rnnlab sample`` says which checkpoint it reads, and that a run has not finished."""

from __future__ import annotations

import json
import os
import random
import re
import signal
from pathlib import Path

import pytest
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import DataConfig, load_config, parse_config, template_for
from rnnlab.data.text import UNK, split_text, tokenize
from rnnlab.errors import Interrupted
from rnnlab.recipe.steps import steps_for
from rnnlab.train import train
from rnnlab.train.run_fit import TextFit

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

WORDS = "the cat sat on a mat dog ran big red".split()
#: The validation block: 21 word tokens, 6 of them words the training part never holds.
TAIL = "the zebra sat on the okapi\n" * 3


def ptb_like() -> str:
    """120 lines of 8 words, about one in eleven written ``<unk>`` (as Penn Treebank writes its
    rare words), then :data:`TAIL`."""
    rng = random.Random(0)
    lines = [" ".join(rng.choice([*WORDS, UNK]) for _ in range(8)) for _ in range(120)]
    return "\n".join(lines) + "\n" + TAIL


def written_in_training(text: str) -> int:
    """How many tokens of the training part (all but the 21 of :data:`TAIL`) are written ``<unk>``."""
    return tokenize(text, "word")[:-21].count(UNK)


def write(tmp: Path, training: str = "steps = 12") -> Path:
    (tmp / "w.txt").write_text(ptb_like(), encoding="utf-8")
    path = tmp / "lm.toml"
    path.write_text(f"""name = "lm"
[task]
kind = "language_model"
[data]
path = "w.txt"
tokens = "word"
bptt = 8
streams = 4
test_fraction = 0.0
val_steps = 21
[model]
hidden_size = 8
[training]
lr = 0.01
{training}
""", encoding="utf-8")
    return path


# --- 1. <unk> written in the text is the <unk> the model reads ----------------------------------


def test_tokens_written_unk_are_counted_as_the_unk_the_model_reads():
    text = ptb_like()
    d = split_text(text, DataConfig(dataset="python-docs", tokens="word", test_fraction=0.0, val_steps=21))
    written = written_in_training(text)
    assert written > 0.05 * len(d.train)  # (a share that would matter to every warning below)
    # the model reads id 0 exactly that often, and every count says so
    assert int((d.train == 0).sum()) == written
    assert d.unknown["train"] == d.counts()["unknown"]["train"] == TextFit.of(d).unknown_train == written
    assert d.literal["train"] == d.counts()["literal_unknown"]["train"] == written
    line = d.summary()
    assert "no unknown tokens" not in line
    assert f"{written} of {len(d.train)} training tokens (all written <unk> in the text)" in line, line
    # the validation block's unknown words are predictable: the model reads <unk> in training, so
    # no "never reads <unk>" warning; and the text's own <unk> share is no cap far too small
    assert d.unknown["val"] == 6 > 0.05 * len(d.val)
    assert d.unseen_unknown_note() == ""


def test_train_and_sample_say_how_often_the_model_read_unk(trained_and_said, capsys):
    written = written_in_training(ptb_like())
    run, out = trained_and_said
    assert re.search(rf"unknown tokens \(<unk>, vocabulary \d+\): train {written} of ", out), out
    assert json.loads((run / "summary.json").read_text())["text"]["unknown"]["train"] == written
    assert main(["sample", str(run), "--length", "3", "--prompt", "the <unk> zebra"]) == 0
    _, err = capsys.readouterr()
    # (the prompt's own <unk> is the vocabulary's: only 'zebra' is missing)
    assert (f"--prompt: 1 of 3 tokens not in the training text's vocabulary ('zebra'), read as <unk>, which the "
            f"model read {written} times in training") in err, err
    assert "never read" not in err


# --- 2. --seed and --temperature at their edges -----------------------------------------------


@pytest.fixture(scope="module")
def trained_and_said(tmp_path_factory) -> tuple[Path, str]:
    """`rnnlab train` of :func:`write`'s config, once for the module: (the run, what it printed)."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("trained")
    run = tmp / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", str(write(tmp)), "--out", str(run), "--quiet"]) == 0
    return run, printed.getvalue()


@pytest.fixture(scope="module")
def trained(trained_and_said) -> Path:
    return trained_and_said[0]


def test_a_seed_outside_training_seeds_range_is_one_line(trained, capsys):
    for seed in ("99999999999999999999", "-1", str(2**32)):
        one_line_error(["sample", str(trained), f"--seed={seed}"], capsys, ("--seed", "[0, 2**32)", f"got {seed}"))
    assert main(["sample", str(trained), "--length", "5", f"--seed={2**32 - 1}"]) == 0


def test_a_temperature_whose_division_overflows_draws_the_likeliest_token(trained, capsys):
    run = trained
    # the logits divided by 1e-310 overflow: its limit, the likeliest token each time, whatever the
    # seed, as a temperature just large enough not to overflow gives
    texts = []
    for temperature, seed in (("1e-310", "0"), ("1e-310", "5"), ("1e-300", "7")):
        capsys.readouterr()
        assert main(["sample", str(run), "--length", "12", "--temperature", temperature, "--seed", seed]) == 0
        out, err = capsys.readouterr()
        assert err == ""
        texts.append(out)
    assert texts[0] == texts[1] == texts[2]


# --- 3. the recipe's help lists the steps in the order they run ---------------------------------


def test_recipe_help_lists_each_tasks_steps_in_the_order_they_run(capsys):
    with pytest.raises(SystemExit):
        main(["recipe", "--help"])
    out = capsys.readouterr().out
    listing = out.split("in the order they run, by task:\n", 1)[1].splitlines()
    listed: dict[str, list[str]] = {}
    group = ""
    for line in listing:
        if line.startswith("    "):  # (a group's steps, wrapped)
            listed[group] += [s.strip() for s in line.split(",") if s.strip()]
        elif line.startswith("  ") and line.endswith(":"):  # (the tasks whose steps follow)
            group = line.strip()[:-1]
            listed[group] = []
    for task in ("classification", "forecasting", "language_model"):
        (group,) = [g for g in listed if task in g.split(", ")]
        assert listed[group] == [s.name for s in steps_for(parse_config(template_for(task)))], (task, out)
    (lm,) = [g for g in listed if "language_model" in g.split(", ")]
    assert "shuffle_within_batch" not in listed[lm]


# --- 4. which checkpoint sample reads, and a run that has not finished --------------------------


def test_sample_help_names_the_checkpoint_and_an_unfinished_run_is_said(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "best.pt under early stopping, else last.pt" in help_text and "its best checkpoint" not in help_text
    config = write(tmp_path, training="epochs = 3\ncheckpoint_every = 3600.0")
    run = tmp_path / "run"

    def stop_after_1(record):  # (a real Ctrl-C, after the first epoch's record)
        if record["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    with pytest.raises(Interrupted):
        train(load_config(config), out=run, log=None, progress=False, on_epoch=stop_after_1)
    assert not (run / "summary.json").exists()
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "3"]) == 0
    _, err = capsys.readouterr()
    assert err.count("\n") == 1, err
    assert "the run has not finished (running or stopped at epoch 1 of 3); sampling from last.pt" in err, err
    train(load_config(config), out=run, resume=True, log=None, progress=False)
    assert main(["sample", str(run), "--length", "3"]) == 0
    assert capsys.readouterr().err == ""  # finished: nothing to say
