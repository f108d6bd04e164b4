"""Paths as a file system and a shell user read them (round 201): ``rnnlab predict`` never
replaces the data it reads nor a run's own records; a config's data paths resolve as opening them
from its folder would (through a linked folder), a working-directory fallback is said and recorded
absolute; ``~`` is the home folder and ``$NAME`` is refused; ``output.dir`` without its trailing
slash; ``rnnlab compare``'s default figures folder is beside the runs, never in or at a run."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_bad_inputs import one_line_error

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CONFIG = """name = "p"
[data]
{data}
val_fraction = 0.25
[model]
hidden_size = 4
[training]
epochs = 1
batch_size = 8
{output}
[tracking]
enabled = false
health = false
grad_through_time = false
"""


def _series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 6, 12)
    x = np.stack([np.sin(t * (1 + k)) + 0.3 * rng.standard_normal(12) for k in y])[:, :, None]
    return x.astype("float32"), y


def _npz(path: Path, seed: int = 0) -> Path:
    x, y = _series(24, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, X=x, y=y)
    return path


def _csv(path: Path) -> Path:
    x, y = _series(24, 1)
    lines = ["label," + ",".join(f"t{i}" for i in range(x.shape[1]))]
    lines += [f"{int(label)}," + ",".join(f"{v:.5f}" for v in row[:, 0]) for label, row in zip(y, x, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(path: Path, data: str, output: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(data=data, output=output))
    return path


def _train(cfg: Path, out: Path) -> Path:
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained on a CSV file (what ``rnnlab predict --data`` reads back as it trained)."""
    tmp = tmp_path_factory.mktemp("csvrun")
    data = _csv(tmp / "data.csv")
    return _train(_config(tmp / "c.toml", f'path = "{data.name}"'), tmp / "run")


def test_predict_refuses_to_replace_its_own_data_file(csv_run: Path, tmp_path: Path, capsys) -> None:
    # the default output is the --data file itself: refused, the data kept byte for byte
    data = csv_run / "predictions.csv"
    shutil.copy(csv_run.parent / "data.csv", data)
    before = _sha(data)
    line = one_line_error(["predict", str(csv_run), "--data", str(data)], capsys,
                          ["is the --data file", str(data), "--out"])
    assert "without --out" in line and _sha(data) == before
    data.unlink()
    # --out naming it (another spelling, a link to it), with --force too
    mine = shutil.copy(csv_run.parent / "data.csv", tmp_path / "mine.csv")
    (tmp_path / "link.csv").symlink_to(mine)
    for out in (str(tmp_path / "." / "mine.csv"), str(tmp_path / "link.csv")):
        one_line_error(["predict", str(csv_run), "--data", str(mine), "--out", out, "--force"], capsys,
                       ["--out", "is the --data file", "even with --force"], kept=tmp_path)
    # the run's own training file, which a forecast or a later report reads, is no output either
    one_line_error(["predict", str(csv_run), "--data", str(mine), "--out", str(csv_run.parent / "data.csv"),
                    "--force"], capsys, ["is the run's data.path file", "data.csv"], kept=csv_run.parent)
    # an output of its own is written as before
    assert main(["predict", str(csv_run), "--data", str(mine), "--out", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 25


def test_out_force_never_replaces_a_run_directorys_records(csv_run: Path, tmp_path: Path, capsys) -> None:
    data = shutil.copy(csv_run.parent / "data.csv", tmp_path / "new.csv")
    (tmp_path / "to_summary.csv").symlink_to(csv_run / "summary.json")
    for out, own in ((csv_run / "metrics.jsonl", "metrics.jsonl"), (csv_run / "config.toml", "config.toml"),
                     (csv_run / "checkpoints" / "last.pt", "checkpoints/last.pt"),
                     (tmp_path / "to_summary.csv", "summary.json")):
        line = one_line_error(["predict", str(csv_run), "--data", str(data), "--out", str(out), "--force"], capsys,
                              ["--out", f"own {own}", "report"], kept=csv_run, new_files=False)
        assert str(csv_run) in line
    # the one list serves every command that writes a file a user names
    one_line_error(["init", str(csv_run / "config.toml"), "--force"], capsys, ["path:", "own config.toml"],
                   kept=csv_run)
    # the run still reads whole
    assert main(["report", str(csv_run)]) == 0
    # a file of that name outside a run directory is the user's to replace
    (tmp_path / "metrics.jsonl").write_text("mine\n")
    assert main(["predict", str(csv_run), "--data", str(data), "--out", str(tmp_path / "metrics.jsonl"),
                 "--force"]) == 0


def test_relative_data_path_resolves_through_a_linked_folder(tmp_path: Path) -> None:
    real = _npz(tmp_path / "deep" / "a" / "data" / "train.npz")
    _npz(tmp_path / "data" / "train.npz", seed=5)  # what "link/.." reads as text: not the file meant
    _config(tmp_path / "deep" / "a" / "cfg" / "c.toml", 'path = "../data/train.npz"')
    (tmp_path / "cfglink").symlink_to(tmp_path / "deep" / "a" / "cfg")
    assert load_config(tmp_path / "cfglink" / "c.toml").data.path == str(real)


def test_working_directory_fallback_is_said_and_recorded_absolute(tmp_path: Path, monkeypatch, capsys) -> None:
    here = tmp_path / "here"
    data = _npz(here / "old.npz")
    cfg = _config(tmp_path / "cfg" / "c.toml", 'path = "old.npz"')
    monkeypatch.chdir(here)
    with pytest.warns(UserWarning, match="working directory"):
        assert load_config(cfg).data.path == str(data)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (as a command line runs: this suite may run with -W ignore)
        run = _train(cfg, tmp_path / "run")
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "working directory" in line]
    assert len(said) == 1 and said[0].startswith("rnnlab train: warning: 'data.path' = 'old.npz'"), err
    # the run's own config.toml, read from elsewhere (a resume, a report), finds the data
    monkeypatch.chdir(tmp_path)
    assert RunDir(run).read_config().data.path == str(data)
    assert main(["train", str(run / "config.toml"), "--out", str(run), "--resume", "--quiet",
                 "--allow-change", "training.epochs"]) == 0


def test_tilde_is_home_and_shell_variables_are_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    data = _npz(home / "d.npz")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path / "c.toml", 'path = "~/d.npz"', '[output]\ndir = "~/runs/x"')
    config = load_config(cfg)
    assert (config.data.path, config.output.dir) == (str(data), str(home / "runs" / "x"))
    assert main(["train", str(cfg), "--quiet"]) == 0
    assert f"run directory: {home / 'runs' / 'x'}" in capsys.readouterr().out
    assert (home / "runs" / "x" / "summary.json").is_file() and not (tmp_path / "~").exists()
    for key, line in (("data.path", 'path = "$HOME/d.npz"'), ("data.test_path", 'path = "~/d.npz"\n'
                                                                                'test_path = "${DATA}/t.npz"'),
                      ("output.dir", 'path = "~/d.npz"\n[output]\ndir = "$HOME/runs/y"')):
        bad = tmp_path / "bad.toml"
        bad.write_text(CONFIG.format(data=line, output=""))
        one_line_error(["train", str(bad)], capsys, [f"'{key}'", "shell variables", "$"], kept=tmp_path)
        assert not (tmp_path / "$HOME").exists() and not (home / "runs" / "y").exists()


def test_output_dir_trailing_slash_keeps_search_and_recipe_beside_the_run(tmp_path: Path) -> None:
    _npz(tmp_path / "d.npz")
    for given, kept in (("runs/sl/", "runs/sl"), ("runs/sl//", "runs/sl"), ("/", "/")):
        config = load_config(_config(tmp_path / "c.toml", 'path = "d.npz"', f'[output]\ndir = "{given}"'))
        assert config.output.dir == kept
        # (what rnnlab search and recipe name their folders by: beside the run, not in it)
        assert Path(f"{config.output.dir}-search").parent == Path(kept).parent


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs2/a, runs2/b and runs2/compare: three runs, one of them named as compare's default folder."""
    tmp = tmp_path_factory.mktemp("runs2")
    cfg = _config(tmp / "cfg" / "c.toml", f'path = "{_npz(tmp / "cfg" / "d.npz")}"')
    first = _train(cfg, tmp / "runs2" / "a")
    for name in ("b", "compare"):
        shutil.copytree(first, tmp / "runs2" / name)
    return tmp / "runs2"


def test_compare_default_figures_never_in_or_at_a_run(runs: Path, monkeypatch, capsys) -> None:
    victim = _sha(runs / "compare" / "metrics.jsonl"), sorted(p.name for p in (runs / "compare").iterdir())
    assert main(["compare", str(runs / "a"), str(runs / "b")]) == 0
    assert (runs / "compare-2" / "compare_metrics.png").stat().st_size > 0
    assert (_sha(runs / "compare" / "metrics.jsonl"), sorted(p.name for p in (runs / "compare").iterdir())) == victim
    # "." is a folder with a parent too: the figures go beside the runs, never into the run compared
    shutil.rmtree(runs / "compare-2")
    monkeypatch.chdir(runs / "a")
    capsys.readouterr()
    assert main(["compare", ".", "../b"]) == 0
    assert not (runs / "a" / "compare").exists() and (runs / "compare-2" / "compare_metrics.png").is_file()
    assert f"figure: {runs / 'compare-2' / 'compare_metrics.png'}" in capsys.readouterr().out.splitlines()
    shutil.rmtree(runs / "compare-2")


def test_compare_default_folder_error_names_the_default(runs: Path, tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        shutil.copytree(runs / name, tmp_path / name)
    (tmp_path / "compare").write_text("a file where the default folder goes\n")
    line = one_line_error(["compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys,
                          ["default figures folder", "--figures DIR", str(tmp_path / "compare")])
    assert "--figures:" not in line
