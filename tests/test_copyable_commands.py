"""Commands rnnlab prints or writes for a user to copy (``rnnlab report RUN``, ``rnnlab train
best.toml``, ...) give back exactly the path they name once a shell splits them, whatever the
path holds (a space, a quote, ``<``, ``&``, ``$``, ``;``); a plain path is printed as before, without
quotes; a page or file read from anywhere (study.html, report.html, recipe.md, best.toml,
final.toml) names the run so that the command works from any working directory."""

from __future__ import annotations

import html
import re
import shlex
import subprocess
from pathlib import Path

import optuna
import pytest
from test_streams import sine, stream_toml
from tiny_run import tiny_toml

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config, template_for

#: Folder names a user may well have (a space, an apostrophe) and one no shell reads as one word.
ODD = ["my runs", "it's", "a&b;$c<d"]
#: One path holding all of them: for the tests that train.
ALL_ODD = "my runs/it's <a&b;$c"
TINY = tiny_toml(training="epochs = 1\nthreads = 1", after="[tracking]\nhealth = false\ngrad_through_time = false")


def copied(text: str, start: str, n: int) -> tuple[list[str], str]:
    """The first ``n`` words, as a POSIX shell splits them, of the command that begins at ``start``
    in ``text`` (HTML unescaped first; a command in backticks ends at its closing one), and the
    text of those words as printed."""
    text = html.unescape(text)
    i = text.index(start + " ")  # (not "rnnlab predict: error: ...", the line's own start)
    rest = text[i:]
    if text[i - 1:i] == "`":
        rest = rest[:rest.index("`")]
    lexer = shlex.shlex(rest, posix=True)
    lexer.whitespace_split = True
    words = [lexer.get_token() for _ in range(n)]
    return words, rest[:lexer.instream.tell()].strip()


def bash_words(command: str, cwd: Path) -> list[str]:
    """The words bash itself makes of ``command`` (its first word is not run: each is printed)."""
    out = subprocess.run(["bash", "-c", 'f() { printf "%s\\0" "$@"; }; f ' + command], cwd=cwd,
                         capture_output=True, text=True, check=True).stdout
    return out.split("\0")[:-1]


def error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refused command prints on stderr."""
    capsys.readouterr()
    assert main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ----------------------------------------------------------------------------- terminal lines
@pytest.mark.parametrize("name", ODD)
def test_init_says_a_train_command_that_names_the_config_it_wrote(tmp_path, capsys, name):
    path = tmp_path / name / "c.toml"
    assert main(["init", str(path)]) == 0
    words, text = copied(capsys.readouterr().out, "rnnlab train", 3)
    assert words == ["rnnlab", "train", str(path)]
    assert bash_words(text, tmp_path) == ["rnnlab", "train", str(path)]


def test_a_plain_path_is_printed_as_typed_without_quotes(tmp_path, capsys):
    path = tmp_path / "runs" / "gp.toml"
    assert main(["init", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"train it with: rnnlab train {path}\n" in out and "'" not in out


@pytest.mark.parametrize("name", ODD)
def test_refusals_of_predict_name_the_run_in_a_command_that_works(tmp_path, capsys, name):
    for sub, kind in (("lm", "language_model"), ("cls", "classification")):
        (tmp_path / name / sub).mkdir(parents=True)
        (tmp_path / name / sub / "config.toml").write_text(dump_config(parse_config(template_for(kind))))
    lm, cls = str(tmp_path / name / "lm"), str(tmp_path / name / "cls")
    # a language model predicts no series (--data) and forecasts nothing (no --data): rnnlab sample
    for argv in (["predict", lm, "--data", "x.npz"], ["predict", lm]):
        words, text = copied(error_line(argv, capsys), "rnnlab sample", 3)
        assert words == ["rnnlab", "sample", lm] and bash_words(text, tmp_path) == words
    # a classifier has no forecast: the command with --data FILE
    words, text = copied(error_line(["predict", cls], capsys), "rnnlab predict", 5)
    assert words == ["rnnlab", "predict", cls, "--data", "FILE)"] and text.endswith("--data FILE)")


@pytest.mark.parametrize("stop", ["kill", "full disk"])
def test_a_report_that_could_not_be_drawn_names_the_run_and_the_profile_in_commands(tmp_path, capsys, monkeypatch,
                                                                                     stop):
    import rnnlab.cli

    def broken(run_dir, out=None):
        if stop == "kill":
            raise KeyboardInterrupt
        raise OSError(28, "No space left on device", str(Path(run_dir) / "report.html"))

    monkeypatch.setattr(rnnlab.cli, "_write_report", broken)
    (tmp_path / "c.toml").write_text(TINY)
    run, profile = tmp_path / ALL_ODD / "run", tmp_path / ALL_ODD / "p rof.out"
    run.parent.mkdir(parents=True)
    capsys.readouterr()
    code = main(["train", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--profile", str(profile)])
    assert code == (130 if stop == "kill" else 1)
    out, err = capsys.readouterr()
    words, text = copied(err, "rnnlab report", 3)
    assert words == ["rnnlab", "report", str(run)] and bash_words(text, tmp_path) == words
    said = re.search(r"read it with: (.*)\)$", out, re.M).group(1)  # (the parenthesis closes the prose)
    assert shlex.split(said) == ["python", "-m", "pstats", str(profile)]
    if stop == "kill":  # the run is whole: its export says where tensorboard reads it
        assert main(["tensorboard", str(run)]) == 0
        words, _ = copied(capsys.readouterr().out, "tensorboard --logdir", 3)
        assert words == ["tensorboard", "--logdir", str(run.parent)]


def test_the_estimator_names_an_interrupted_run_dir_in_a_command_that_works(tmp_path):
    from rnnlab.estimators import _what_to_do

    for name in ODD:
        words, text = copied(_what_to_do(Path(name) / "fit"), "rnnlab report", 3)
        assert words == ["rnnlab", "report", f"{name}/fit"] and bash_words(text, tmp_path) == words


# ------------------------------------------------------------------ pages and files read from anywhere
def _study(tmp_path: Path) -> optuna.Study:
    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    study = optuna.create_study(direction="minimize", study_name="s")
    for i in range(2):
        study.add_trial(optuna.trial.create_trial(params={"x": 0.1 * (i + 1)}, distributions=dist, value=0.5 + i,
                                                  user_attrs={"config": dump_config(parse_config(TINY)),
                                                              "fold_scores": [0.5 + i]}))
    return study


@pytest.mark.parametrize("name", ODD)
def test_study_html_draw_command_names_the_run_from_any_working_directory(tmp_path, monkeypatch, name):
    from rnnlab.search.report import render_study_report

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    study_dir = Path(name) / "s"  # (as `rnnlab search --out` got it: relative to where it started)
    for number in (0, 1):
        (study_dir / "trials" / f"{number:04d}" / "fold-1").mkdir(parents=True)
        (study_dir / "trials" / f"{number:04d}" / "fold-1" / "metrics.jsonl").write_text("")
    page = render_study_report(study_dir, _study(tmp_path))
    commands = re.findall(r"records \(draw: (rnnlab report [^<]+)\)</a>", page)
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path / "elsewhere")
    for number, command in enumerate(sorted(commands)):
        words = shlex.split(html.unescape(command))
        assert words[:2] == ["rnnlab", "report"] and len(words) == 3
        assert bash_words(html.unescape(command), tmp_path / "elsewhere") == words
        assert Path(words[2]).is_dir() and Path(words[2]).samefile(
            tmp_path / "here" / study_dir / "trials" / f"{number:04d}" / "fold-1")


@pytest.mark.parametrize("name", ODD)
def test_best_toml_says_a_train_command_that_works_from_anywhere(tmp_path, monkeypatch, name):
    from rnnlab.search.study import write_best
    from rnnlab.search.trial import FoldPlan

    monkeypatch.chdir(tmp_path)
    out = Path(name)
    out.mkdir()
    path = write_best(out, _study(tmp_path).trials[0], "val_loss", FoldPlan(k=2, seed=0))
    comment = next(line for line in path.read_text().splitlines() if "train it with" in line)
    monkeypatch.chdir("/")
    words, text = copied(comment, "rnnlab train", 3)
    assert words[:2] == ["rnnlab", "train"] and Path(words[2]).samefile(tmp_path / name / "best.toml")
    assert bash_words(text, tmp_path) == words
    assert parse_config((tmp_path / path).read_text()).training.epochs == 1  # (the comment is a comment still)


def test_recipe_md_and_final_toml_say_a_train_command_that_works_from_anywhere(tmp_path, monkeypatch):
    from rnnlab.recipe.run import RecipeOptions, run_recipe_command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(TINY + "[search]\nfolds = 2\n")
    out = Path(ALL_ODD)
    run_recipe_command(RecipeOptions(config="c.toml", seeds=1, steps="zoneout", out=str(out), final=False), log=None)
    monkeypatch.chdir("/")
    final = tmp_path / out / "final.toml"
    for text in ((tmp_path / out / "recipe.md").read_text(), final.read_text()):
        words, _ = copied(text, "rnnlab train", 3)
        assert words[:2] == ["rnnlab", "train"] and Path(words[2]).samefile(final)


def test_report_html_forecast_command_names_the_run_from_anywhere(tmp_path, monkeypatch):
    (tmp_path / "f.toml").write_text(stream_toml(sine(tmp_path), training="epochs = 1"))
    run = tmp_path / ALL_ODD
    monkeypatch.chdir(tmp_path)
    assert main(["train", "f.toml", "--out", ALL_ODD, "--quiet"]) == 0
    monkeypatch.chdir("/")
    command = re.search(r"<code>(rnnlab predict [^<]+)</code>", (run / "report.html").read_text()).group(1)
    words = shlex.split(html.unescape(command))
    assert words[:2] == ["rnnlab", "predict"] and len(words) == 3 and Path(words[2]).samefile(run)
