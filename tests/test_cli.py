"""The CLI: every user mistake is one precise line on stderr, no traceback, a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import TEMPLATE, parse_config

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
[training]
epochs = 1
batch_size = 8
[tracking]
health = false
"""
#: GOOD without the tracker, for the runs whose tracked records no test here reads (their report
#: after training draws several times faster without them).
UNTRACKED = GOOD.replace("[tracking]", "[tracking]\nenabled = false")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def cli(argv, capsys):
    """Run main(argv) in-process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def npz(tmp_path, name="d.npz", **arrays):
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


def data_config(path) -> str:
    return GOOD.replace('dataset = "UnitTest"', f'path = "{path}"\nval_fraction = 0.0')


X4 = np.zeros((4, 3, 1))
Y4 = np.array([0, 1, 0, 1])

# (config text or a function of tmp_path giving it, the exact phrase the message must contain)
BAD_CONFIGS = [
    ("[data]\ndataset = 'UnitTest'\n[modle]\nhidden_size = 3", "unknown key 'modle'; did you mean 'model'?"),
    (GOOD.replace("hidden_size", "hiden_size"), "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?"),
    (GOOD.replace("epochs = 1", "epocs = 1"), "unknown key 'training.epocs'; did you mean 'training.epochs'?"),
    (GOOD.replace("health = false", "helth = false"), "unknown key 'tracking.helth'; did you mean 'tracking.health'?"),
    (GOOD.replace("hidden_size = 4", "hidden_size = 0"), "'model.hidden_size': expected a number > 0, got 0 (int)"),
    (GOOD.replace("hidden_size = 4", "hidden_size = 4\nlayer = 'lsmt'"), "got 'lsmt' (str); did you mean 'lstm'?"),
    (GOOD.replace("hidden_size = 4", "hidden_size = 4\nweight_drop = -0.1"), "'model.weight_drop': expected a probability in [0, 1), got -0.1"),
    (GOOD.replace("epochs = 1", "epochs = 1\noptimizer = 'adam_w'"), "got 'adam_w' (str); did you mean 'adamw'?"),
    (GOOD.replace("epochs = 1", "epochs = 1\nlr = 0"), "'training.lr': expected a number > 0.0, got 0 (int)"),
    (GOOD.replace("batch_size = 8", "batch_size = 'big'"), "'training.batch_size': expected an integer, got 'big' (str)"),
    (GOOD.replace("epochs = 1", "epochs = 1\nschedule = { kind = 'cosinus' }"), "did you mean 'cosine'?"),
    (GOOD + "[model.frontend]\nstride = 0\n", "'model.frontend.stride': expected a number > 0, got 0 (int)"),
    (GOOD.replace('dataset = "UnitTest"', 'dataset = "GunPiont"'), "unknown bundled data set 'GunPiont'; did you mean 'GunPoint'?"),
    (GOOD.replace('dataset = "UnitTest"', ""), "expected exactly one of 'data.dataset'"),
    ("[data\n", "not valid TOML"),
    (GOOD.replace("epochs = 1", "epochs = 1\nearly_stopping = { patience = 2 }").replace("[data]", "[data]\nval_fraction = 0.0"),
     "early_stopping.patience > 0 needs a validation split"),
    (GOOD + "[[training.decay_rules]]\nname = 'no_such_param'\nweight_decay = 0.1\n", "training.decay_rules: "),
    (GOOD.replace("hidden_size = 4", "hidden_size = 4\nresidual = true\nnum_layers = 2"),
     "model: the LSTM layer rejects the settings: residual=True adds each layer's input to its output"),
    (lambda t: data_config(npz(t, X=np.full((4, 3, 1), np.nan), y=Y4)),
     "every channel is NaN (or inf) at every step of every sequence: X holds no values"),
    (lambda t: data_config(npz(t, X=np.where(np.arange(12).reshape(4, 3, 1) == 7, np.inf, 0.0), y=Y4)),
     "X has 1 non-finite value (NaN or inf) at [sample, step, channel] [2, 1, 0]"),
    (lambda t: data_config(npz(t, X=X4)), "labels are missing"),
    (lambda t: data_config(npz(t, X=X4, y=np.ones(4))), "expected labels of at least 2 classes for classification, got 1"),
    (lambda t: data_config(npz(t, X=X4, y=Y4, lengths=np.array([1, 2, 3, 4]))), "got lengths[3] = 4"),
    (lambda t: data_config(t / "missing.npz"), "missing.npz' does not exist"),
    (lambda t: data_config(write(t, "label,t0\n", "empty.csv")), "no data rows after the header"),
    (lambda t: data_config(write(t, "y,t0\n1,2\n", "nolabel.csv")), "no label column 'label' in the header"),
    (lambda t: data_config(write(t, "garbage", "bad.npz")), "cannot read as an .npz file"),
]


@pytest.mark.parametrize("case", range(len(BAD_CONFIGS)))
def test_bad_config_or_data_gives_one_precise_line(tmp_path, capsys, case):
    text, phrase = BAD_CONFIGS[case]
    if callable(text):
        text = text(tmp_path)
    config = write(tmp_path, text)
    code, out, err = cli(["train", config, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith("rnnlab train: error: ") and err.count("\n") == 1, err
    assert phrase in err, err


def test_battery_is_large_enough():
    assert len(BAD_CONFIGS) >= 20


def test_missing_config_file_and_bad_run_dirs(tmp_path, capsys):
    code, _, err = cli(["train", tmp_path / "nope.toml"], capsys)
    assert code == 1 and "config file" in err and "does not exist" in err
    code, _, err = cli(["train", write(tmp_path, GOOD), "--out", tmp_path / "r", "--resume", "--quiet"], capsys)
    assert code == 1 and "no checkpoint to resume" in err
    code, _, err = cli(["report", tmp_path / "missing"], capsys)
    assert code == 1 and "does not exist" in err and not (tmp_path / "missing").exists()
    (tmp_path / "empty").mkdir()
    code, _, err = cli(["report", tmp_path / "empty"], capsys)
    assert code == 1 and "is not a run directory" in err
    code, _, err = cli(["compare", tmp_path / "nowhere"], capsys)
    assert code == 1 and "does not exist" in err


def test_truncated_checkpoint_on_resume(tmp_path, capsys):
    config = write(tmp_path, UNTRACKED)
    code, out, _ = cli(["train", config, "--out", tmp_path / "r", "--quiet"], capsys)
    assert code == 0 and "test accuracy" in out
    ckpt = tmp_path / "r/checkpoints/last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    write(tmp_path, UNTRACKED.replace("epochs = 1", "epochs = 2"))
    code, _, err = cli(["train", config, "--out", tmp_path / "r", "--resume", "--quiet"], capsys)
    assert code == 1 and "Traceback" not in err
    assert f"checkpoint {ckpt} is corrupt or truncated" in err


def test_train_then_compare(tmp_path, capsys):
    for name, decay in (("a", 0.0), ("b", 0.1)):
        config = write(tmp_path, GOOD.replace("epochs = 1", f"epochs = 2\nweight_decay = {decay}"), f"{name}.toml")
        code, out, err = cli(["train", config, "--out", tmp_path / name, "--quiet"], capsys)
        assert code == 0, err
        assert f"run directory: {tmp_path / name}" in out
    code, out, _ = cli(["compare", tmp_path / "a", tmp_path / "b", "--figures", tmp_path / "fig"], capsys)
    assert code == 0
    assert (tmp_path / "fig/compare_metrics.png").stat().st_size > 0
    assert (tmp_path / "fig/compare_norms.png").stat().st_size > 0
    lines = out.splitlines()
    # the config key the runs differ in has a column of its own, before the metrics
    assert lines[0].split()[:4] == ["run", "training.weight_decay", "epochs", "train_loss"]
    assert lines[1].split()[0] == str(tmp_path / "a") and lines[2].split()[0] == str(tmp_path / "b")
    assert lines[1].split()[1] == "0" and lines[2].split()[1] == "0.1"
    assert lines[1].split()[-1] == "0" and lines[2].split()[-1] == "0.1"  # max_group_decay column


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "new.toml"
    code, out, _ = cli(["init", path], capsys)
    assert code == 0 and path.read_text() == TEMPLATE
    parse_config(path.read_text())
    code, _, err = cli(["init", path], capsys)
    assert code == 1 and "already exists; pass --force" in err
    assert cli(["init", path, "--force"], capsys)[0] == 0


def test_init_for_a_dataset_names_the_run_after_it(tmp_path, capsys):
    from rnnlab.train.trainer import with_derived_names

    path = tmp_path / "vowels.toml"
    assert cli(["init", path, "--dataset", "JapaneseVowels"], capsys)[0] == 0
    cfg = with_derived_names(parse_config(path.read_text()))
    assert cfg.data.dataset == "JapaneseVowels"
    assert (cfg.name, cfg.output.dir) == ("JapaneseVowels-lstm", "runs/JapaneseVowels-lstm")
    # the template with only data.dataset changed by hand is named after its data too
    edited = with_derived_names(parse_config(TEMPLATE.replace('dataset = "GunPoint"', 'dataset = "ArrowHead"')))
    assert (edited.name, edited.output.dir) == ("ArrowHead-lstm", "runs/ArrowHead-lstm")
    code, _, err = cli(["init", tmp_path / "x.toml", "--dataset", "GunPont"], capsys)
    assert code == 1 and "--dataset: expected a bundled data set" in err and "did you mean 'GunPoint'?" in err


def test_datasets_lists_bundled_sets(capsys):
    code, out, _ = cli(["datasets"], capsys)
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    # (issue 21: a task column, and classes or target values per sequence)
    assert rows["GunPoint"][1:] == ["classification", "50", "150", "150", "1", "2", "-"]
    assert rows["Covid3Month"][1:] == ["regression", "140", "61", "84", "1", "-", "1"]
    assert rows["JapaneseVowels"][4] == "7-29"
    assert "digits_rows" in rows and "digits_pixels" in rows


@pytest.mark.parametrize("command", ["train", "report", "doctor", "compare", "datasets", "init"])
def test_help_has_examples(capsys, command):
    code, out, _ = cli([command, "--help"], capsys)
    assert code == 0 and "examples:" in out and f"rnnlab {command}" in out


def test_bad_command_line_is_a_usage_error(capsys):
    code, _, err = cli(["trian"], capsys)
    assert code == 2 and "invalid choice: 'trian'" in err


def test_doctor_prints_the_health_report(tmp_path, capsys):
    code, out, _ = cli(["doctor", write(tmp_path, GOOD), "--steps", "2"], capsys)
    assert code == 0 and out.startswith("Health check")


def test_doctor_checks_the_model_the_templates_rules_make(tmp_path, capsys):
    # three series a class: the shape rules change the model (noise on its input); doctor says
    # so in the run's own line and checks that model, as `rnnlab train` would train it
    y = np.repeat(np.arange(4), 3)
    X = np.sin(np.arange(40.0) * (0.2 + 0.1 * y[:, None]))[:, :, None].astype(np.float32)
    path = npz(tmp_path, X=X, y=y)
    text = (f'[data]\npath = "{path}"\n[model]\nhidden_size = 4\n[training]\nsteps = 20\n'
            '[tracking]\nenabled = false\n[adapt]\nshape = true\nmax_steps = 40\n')
    code, out, _ = cli(["doctor", write(tmp_path, text), "--steps", "2"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("shape: 4 classes × 3 series, length 40: no hold-out")
    assert "input noise 0.2" in lines[0] and lines[1].startswith("Health check")


def test_real_subprocess_exit_code_and_stderr(tmp_path):
    config = write(tmp_path, GOOD.replace("hidden_size", "hiden_size"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "rnnlab.cli", "train", str(config)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == (f"rnnlab train: error: {config}: unknown key 'model.hiden_size'; "
                           "did you mean 'model.hidden_size'?\n")


def test_a_run_whose_stdout_reader_goes_away_still_finishes(tmp_path):
    """`rnnlab train CONFIG | head -1`: the pipe closes after the first line; the run goes on."""
    config = write(tmp_path, UNTRACKED.replace("epochs = 1", "epochs = 3"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "train", str(config), "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Broken pipe" not in err and "Error" not in err, err
    assert (tmp_path / "r" / "summary.json").exists()


def test_version_names_torch_and_the_step_loops(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("rnnlab 0.1.0 (torch ") and "LSTM step loops: compiled" in out


def test_python_dash_m_rnnlab_runs_the_command():
    # (where the environment's scripts are not on PATH, `python -m rnnlab` is what a user types)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "rnnlab", "--version"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rnnlab ")
    bad = subprocess.run([sys.executable, "-m", "rnnlab", "nosuchcommand"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert bad.returncode != 0 and "nosuchcommand" in bad.stderr


def test_rnnlabs_own_warnings_are_one_line_in_the_configs_words(tmp_path, capsys):
    # (a rule that partly overlaps an earlier one: a Python warning with our file and line before)
    overlap = ('[[training.decay_rules]]\nrole = "recurrent"\nweight_decay = 1e-3\n'
               '[[training.decay_rules]]\nrole = ["recurrent", "kernel"]\nweight_decay = 1e-4\n')
    config = tmp_path / "c.toml"
    config.write_text(UNTRACKED.replace("[tracking]", overlap + "[tracking]"))
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # (whatever -W the test run was given)
        code, _, err = cli(["train", config, "--out", tmp_path / "run", "--quiet"], capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if "warning" in line.lower()]
    assert len(said) == 1 and said[0].startswith("rnnlab train: warning: training.decay_rules[1] "), err
    assert "already taken by training.decay_rules[0]" in said[0] and "UserWarning" not in err
