"""A table of bad inputs, as a new user and a hostile one would give them: configs, data files,
checkpoints, run directories, command lines and API calls.

Every CLI case asserts exit code 1, exactly one line on stderr, no traceback, and a message naming
the key or file and what was expected; where a run existed before, every file in it is unchanged
afterwards. API cases assert the exception type and message.
"""

from __future__ import annotations

import hashlib
import html
import json
import pickle
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.config import dump_config, parse_config
from rnnlab.errors import CheckpointError, RunDirError
from rnnlab.rundir import RunDir
from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


BASE = """name = "base"
[data]
dataset = "UnitTest"
[model]
hidden_size = 4
{model}
[training]
epochs = 2
batch_size = 8
{training}
[tracking]
health = false
grads_every = 2
"""


def config(model: str = "", training: str = "", top: str = "") -> str:
    text = BASE.format(model=model, training=training)
    return text.replace("[data]", f"{top}\n[data]", 1) if top else text


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """One finished run (2 epochs), copied for every case that needs a run."""
    root = tmp_path_factory.mktemp("base")
    (root / "c.toml").write_text(config())
    assert main(["train", str(root / "c.toml"), "--out", str(root / "run"), "--quiet"]) == 0
    return root / "run"


def digest(run: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and p.name not in skip}


# ------------------------------------------------------------------------------ case helpers


@dataclass
class Env:
    tmp: Path
    run: Path | None

    def file(self, name: str, text: str | bytes) -> Path:
        p = self.tmp / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    def npz(self, name: str = "d.npz", **arrays: np.ndarray) -> Path:
        p = self.tmp / name
        np.savez(p, **arrays)
        return p

    def data_config(self, path: Path, extra: str = "") -> Path:
        text = config().replace('dataset = "UnitTest"', f'path = "{path}"\n{extra}')
        return self.file("c.toml", text)


def _xy(n: int = 12, t: int = 6, c: int = 1, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"X": rng.standard_normal((n, t, c)) * scale, "y": np.arange(n) % 2}


def train_cfg(text: str) -> Callable[[Env], list[str]]:
    """A new run of this config (into an empty directory)."""
    return lambda env: ["train", str(env.file("c.toml", text)), "--out", str(env.tmp / "new"), "--quiet"]


def resume_cfg(text: str, *flags: str) -> Callable[[Env], list[str]]:
    """--resume of the base run with this config."""
    return lambda env: ["train", str(env.file("c.toml", text)), "--out", str(env.run), "--resume", "--quiet", *flags]


def on_run(prepare: Callable[[Path], None], *argv: str) -> Callable[[Env], list[str]]:
    """Damage the copied base run, then run a command on it (RUN stands for its path)."""
    def build(env: Env) -> list[str]:
        assert env.run is not None
        prepare(env.run)
        return [str(env.run) if a == "RUN" else a for a in argv]
    return build


def _resume_on_changed_data(env: Env) -> list[str]:
    """A run on a user file, then the file's content changes under the same path."""
    assert env.run is not None
    shutil.rmtree(env.run)
    data = env.npz(**_xy())
    cfg = env.data_config(data)
    assert main(["train", str(cfg), "--out", str(env.run), "--quiet"]) == 0
    arrays = _xy()
    arrays["X"][0, 0, 0] += 1.0
    env.npz(**arrays)
    return ["train", str(cfg), "--out", str(env.run), "--resume", "--quiet"]


def flip_bytes(path: Path, n: int = 200) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def rewrite_checkpoint(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A crafted checkpoint with a valid checksum: the structure check must catch it."""
    def prepare(run: Path) -> None:
        path = run / "checkpoints/last.pt"
        state = load_checkpoint(path)
        change(state)
        save_checkpoint(path, state)
    return prepare


def write_to(name: str, content: str | bytes) -> Callable[[Path], None]:
    def prepare(run: Path) -> None:
        p = run / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return prepare


def append_to(name: str, content: str) -> Callable[[Path], None]:
    def prepare(run: Path) -> None:
        with open(run / name, "a", encoding="utf-8") as f:
            f.write(content)
    return prepare


def first_line_to(name: str, content: str) -> Callable[[Path], None]:
    """Replace the first line of a JSONL file (a corrupt line before valid ones)."""
    def prepare(run: Path) -> None:
        lines = (run / name).read_text().splitlines(keepends=True)
        (run / name).write_text(content + "\n" + "".join(lines[1:]))
    return prepare


def make_dir(name: str) -> Callable[[Path], None]:
    def prepare(run: Path) -> None:
        p = run / name
        p.unlink()
        p.mkdir()
    return prepare


def _nothing(run: Path) -> None:
    return None


# ------------------------------------------------------------------------------ the table
# (id, needs the base run, argv builder, substrings every one of which the message must hold)

CLI_CASES: list[tuple[str, bool, Callable[[Env], list[str]], tuple[str, ...]]] = [
    # --- config: keys, strict types, ranges
    ("unknown-key", False, train_cfg(config(model="hiden_size = 3")), ("'model.hiden_size'", "did you mean 'model.hidden_size'")),
    ("int-as-string", False, train_cfg(config(model="num_layers = \"8\"")), ("'model.num_layers'", "expected an integer", "'8'")),
    ("int-as-float", False, train_cfg(config(training="stateful_window = 4.0")), ("'training.stateful_window'", "expected an integer", "4.0")),
    ("bool-as-string", False, train_cfg(config(model="bidirectional = \"yes\"")), ("'model.bidirectional'", "expected true or false", "'yes'")),
    ("bool-as-int", False, train_cfg(config(model="layer_norm = 1")), ("'model.layer_norm'", "expected true or false", "1 (int)")),
    ("lr-inf", False, train_cfg(config(training="lr = inf")), ("'training.lr'", "expected a finite number", "inf")),
    ("lr-nan", False, train_cfg(config(training="lr = nan")), ("'training.lr'", "expected a finite number")),
    ("lr-zero", False, train_cfg(config(training="lr = 0")), ("'training.lr'", "expected a number > 0")),
    ("min-lr-above-lr", False, train_cfg(config(training="lr = 1e-3\n[training.schedule]\nkind = \"cosine\"\nmin_lr = 5.0")),
     ("'training.schedule.min_lr'", "'training.lr'", "5e+03-fold", "expected min_lr <= lr")),
    ("warmup-longer-than-training", False, train_cfg(config(training="[training.schedule]\nwarmup_epochs = 5")),
     ("'training.schedule.warmup_epochs'", "'training.epochs'", "still be rising", "expected warmup_epochs < epochs")),
    ("zoneout-one", False, train_cfg(config(model="zoneout = 1.0")), ("'model.zoneout'", "[0, 1)", "never update")),
    ("zoneout-pair-one", False, train_cfg(config(model="zoneout = [0.1, 1.0]")), ("'model.zoneout'", "[0, 1)")),
    ("dropout-one-layer", False, train_cfg(config(model="dropout = 0.3")), ("'model.dropout'", "model.num_layers = 1", "does nothing")),
    ("indrnn-recurrent-init", False, train_cfg(config(model="layer = 'indrnn'\nrecurrent_init = 'orthogonal'")),
     ("'model.recurrent_init'", "'indrnn'", "a vector")),
    ("bidirectional-stateful", False, train_cfg(config(model="bidirectional = true", training="stateful_window = 4")),
     ("'model.bidirectional'", "'training.stateful_window'")),
    ("rbn-stateful", False, train_cfg(config(model="recurrent_batch_norm = true", training="stateful_window = 4")),
     ("model.recurrent_batch_norm cannot be combined with training.stateful_window = 4 on sequences of",
      "set training.stateful_window = 0")),
    ("output-dir-empty", False, train_cfg(config() + '[output]\ndir = ""\n'), ("'output.dir'", "expected a non-empty string")),
    ("output-dir-blank", False, train_cfg(config() + '[output]\ndir = "  "\n'), ("'output.dir'", "expected a non-empty string")),
    ("seed-negative", False, train_cfg(config(training="seed = -1")), ("'training.seed'", "expected a number >= 0", "-1")),
    ("seed-too-large", False, train_cfg(config(training=f"seed = {2**40}")), ("'training.seed'", "expected a number < 4294967296")),
    ("betas-one", False, train_cfg(config(training="betas = [0.9, 1.0]")), ("'training.betas[1]'", "expected a number < 1")),
    ("betas-short", False, train_cfg(config(training="betas = [0.9]")), ("missing key 'training.betas[1]'",)),
    ("betas-string", False, train_cfg(config(training="betas = [\"0.9\", 0.99]")), ("'training.betas[0]'", "expected a number")),
    ("epochs-zero", False, train_cfg(config().replace("epochs = 2", "epochs = 0")), ("'training.epochs'", "expected a number > 0")),
    ("optimizer-typo", False, train_cfg(config(training="optimizer = \"adamm\"")), ("'training.optimizer'", "did you mean 'adam")),
    ("threads-zero", False, train_cfg(config(training="threads = 0")), ("'training.threads'", "> 0")),
    ("head-dropout-one", False, train_cfg(config(model="[model.head]\ndropout = 1.0")), ("'model.head.dropout'", "< 1")),
    ("tracking-params-empty", False, train_cfg(config() + "params = []\n"), ("'tracking.params'", "expected a non-empty list")),
    ("tracking-params-nomatch", False, train_cfg(config() + "params = [\"lstm.*\"]\n"), ("tracking", "'lstm.*'", "matches no")),
    ("decay-rule-bad-regex", False, train_cfg(config(training="[[training.decay_rules]]\nname = \"(\"")), ("training.decay_rules",)),
    ("two-data-sources", False, train_cfg(config().replace('dataset = "UnitTest"', 'dataset = "UnitTest"\npath = "x.npz"')),
     ("'data.dataset'", "'data.path'")),
    ("dataset-typo", False, train_cfg(config().replace("UnitTest", "UnitTets")), ("data.dataset", "did you mean 'UnitTest'")),
    ("not-toml", False, train_cfg("[data\ndataset = 1"), ("c.toml", "not valid TOML")),
    ("config-missing", False, lambda env: ["train", str(env.tmp / "nope.toml")], ("nope.toml", "does not exist")),
    ("config-is-dir", False, lambda env: ["train", str(env.tmp)], ("is not a file",)),
    ("config-bad-utf8", False, lambda env: ["train", str(env.file("c.toml", b"name = \"\xff\xfe\"\n"))], ("c.toml", "cannot read")),
    # --- data files
    ("data-missing", False, lambda env: ["train", str(env.data_config(env.tmp / "none.npz")), "--out", str(env.tmp / "o")],
     ("none.npz", "does not exist")),
    ("data-is-dir", False, lambda env: ["train", str(env.data_config(env.tmp)), "--out", str(env.tmp / "o")],
     ("expected a file, got a directory",)),
    ("data-object-array", False, lambda env: [
        "train", str(env.data_config(env.npz(X=np.array([np.zeros(3), np.zeros(4)], dtype=object), y=np.array([0, 1])))),
        "--out", str(env.tmp / "o")], ("d.npz", "stored as Python objects")),
    ("data-pickle-file", False, lambda env: [
        "train", str(env.data_config(env.file("p.npz", pickle.dumps({"X": 1})))), "--out", str(env.tmp / "o")],
     ("p.npz", "pickled data is never loaded")),
    ("data-beyond-float32", False, lambda env: [
        "train", str(env.data_config(env.npz(**_xy(scale=1e300)), "normalize = \"none\"")), "--out", str(env.tmp / "o")],
     ("training split", "beyond float32's range", "data.normalize")),
    ("data-nan", False, lambda env: [
        "train", str(env.data_config(env.npz(X=np.where(np.eye(12, 6)[:, :, None] > 0, np.nan, 0.0), y=np.arange(12) % 2))),
        "--out", str(env.tmp / "o")], ("data.path", "non-finite")),
    ("data-one-class", False, lambda env: [
        "train", str(env.data_config(env.npz(X=np.zeros((4, 3, 1)), y=np.zeros(4)))), "--out", str(env.tmp / "o")],
     ("at least 2 classes",)),
    ("data-y-length", False, lambda env: [
        "train", str(env.data_config(env.npz(X=np.zeros((4, 3, 1)), y=np.array([0, 1, 0])))), "--out", str(env.tmp / "o")],
     ("expected y of shape [4]",)),
    ("data-csv-text-cell", False, lambda env: [
        "train", str(env.data_config(env.file("d.csv", "label,a,b\n0,1,x\n1,2,3\n"))), "--out", str(env.tmp / "o")],
     ("d.csv", "line 2", "expected a number", "'x'")),
    ("data-bad-suffix", False, lambda env: [
        "train", str(env.data_config(env.file("d.txt", "1 2 3"))), "--out", str(env.tmp / "o")], ("expected a .npz or .csv",)),
    # --- output directory
    ("out-empty", False, lambda env: ["train", str(env.file("c.toml", config())), "--out", ""],
     ("--out", "expected a directory path", "current directory")),
    ("out-is-file", False, lambda env: ["train", str(env.file("c.toml", config())), "--out", str(env.file("f", "x"))],
     ("run directory", "expected a directory, got a file")),
    ("out-cannot-be-created", False, lambda env: [
        "train", str(env.file("c.toml", config())), "--out", str(env.file("f", "x") / "sub")], ("cannot be created",)),
    # --- an existing run: new run into it, resume with a changed config, damaged files
    ("new-run-over-run", True, lambda env: ["train", str(env.file("c.toml", config())), "--out", str(env.run)],
     ("already holds a run", "--resume")),
    ("resume-lr-changed", True, resume_cfg(config(training="lr = 0.5")), ("training.lr (0.001 -> 0.5)", "changes what the run means")),
    ("resume-dataset-changed", True, resume_cfg(config().replace("UnitTest", "ItalyPowerDemand")),
     ("data.dataset ('UnitTest' -> 'ItalyPowerDemand')", "changes what the run means")),
    ("resume-data-changed", True, resume_cfg(config().replace("[data]", "[data]\nval_fraction = 0.5")),
     ("data.val_fraction (0.2 -> 0.5)", "changes what the run means")),
    ("resume-model-changed", True, resume_cfg(config().replace("hidden_size = 4", "hidden_size = 5")),
     ("model.hidden_size (4 -> 5)",)),
    ("resume-optimizer-changed", True, resume_cfg(config(training="optimizer = \"sgd\"")), ("training.optimizer ('adamw' -> 'sgd')",)),
    ("resume-epochs-without-flag", True, resume_cfg(config().replace("epochs = 2", "epochs = 4")),
     ("training.epochs (2 -> 4)", "--allow-change training.epochs")),
    ("resume-allow-meaningful", True, resume_cfg(config(training="lr = 0.5"), "--allow-change", "training.lr"),
     ("--allow-change", "'training.lr'", "cannot be allowed")),
    ("allow-change-without-resume", False, lambda env: [
        "train", str(env.file("c.toml", config())), "--out", str(env.tmp / "o"), "--allow-change", "training.epochs"],
     ("--allow-change", "--resume only")),
    ("resume-nothing", False, lambda env: ["train", str(env.file("c.toml", config())), "--out", str(env.tmp / "o"), "--resume"],
     ("no checkpoint to resume",)),
    ("ckpt-flipped-bytes", True, on_run(lambda r: flip_bytes(r / "checkpoints/last.pt"), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "corrupt")),
    ("ckpt-truncated", True, on_run(lambda r: (r / "checkpoints/last.pt").write_bytes((r / "checkpoints/last.pt").read_bytes()[:999]),
                                    "train", "CFG", "--out", "RUN", "--resume"), ("last.pt", "corrupt or truncated")),
    ("ckpt-missing-rng", True, on_run(rewrite_checkpoint(lambda s: s.pop("rng")), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "lacks ['rng']")),
    ("ckpt-bad-rng", True, on_run(rewrite_checkpoint(lambda s: s.update(rng={"torch": 1})), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "'rng'", "expected the random states")),
    ("ckpt-bad-epoch", True, on_run(rewrite_checkpoint(lambda s: s.update(epoch="2")), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "'epoch'", "expected an integer >= 0")),
    ("ckpt-model-not-tensors", True, on_run(rewrite_checkpoint(lambda s: s.update(model={"w": 1})), "train", "CFG", "--out", "RUN",
                                            "--resume"), ("last.pt", "'model'", "parameter names to tensors")),
    ("ckpt-pickled-object", True, on_run(lambda r: torch.save({"x": Env}, r / "checkpoints/last.pt"), "train", "CFG", "--out", "RUN",
                                         "--resume"), ("last.pt", "corrupt or truncated")),
    ("ckpt-old-format", True, on_run(lambda r: torch.save({"format": "rnnlab.checkpoint", "version": 1, "epoch": 1},
                                                          r / "checkpoints/last.pt"), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "has format version 1, older than this rnnlab", "reads it (the file is kept")),
    ("ckpt-is-dir", True, on_run(make_dir("checkpoints/last.pt"), "train", "CFG", "--out", "RUN", "--resume"),
     ("last.pt", "expected a file, got a directory")),
    ("resume-corrupt-metrics", True, on_run(first_line_to("metrics.jsonl", "{not json"), "train", "CFG", "--out", "RUN", "--resume"),
     ("metrics.jsonl line 1", "not valid JSON")),
    ("resume-corrupt-tracked", True, on_run(first_line_to("tracked.jsonl", "[1]"), "train", "CFG", "--out", "RUN", "--resume"),
     ("tracked.jsonl line 1", "expected a JSON object")),
    ("resume-data-content-changed", True, lambda env: _resume_on_changed_data(env), ("--resume: the data differ", "d.npz changed")),
    # --- compare: every malformed file
    ("compare-missing-key", True, on_run(first_line_to("metrics.jsonl", '{"train_loss": 1.0}'), "compare", "RUN"),
     ("metrics.jsonl line 1", "missing key 'epoch'")),
    ("compare-non-object", True, on_run(first_line_to("metrics.jsonl", "[1, 2]"), "compare", "RUN"),
     ("metrics.jsonl line 1", "expected a JSON object, got a list")),
    ("compare-null-value", True, on_run(first_line_to("metrics.jsonl", '{"epoch": 1, "val_acc": null}'), "compare", "RUN"),
     ("metrics.jsonl line 1", "'val_acc'", "expected", "a number, got null")),
    ("compare-string-epoch", True, on_run(first_line_to("metrics.jsonl", '{"epoch": "1"}'), "compare", "RUN"),
     ("metrics.jsonl line 1", "expected an integer 'epoch' >= 1")),
    ("compare-bad-utf8", True, on_run(write_to("metrics.jsonl", b'{"epoch": 1}\n{"epoch": 2, "x\xff": 1}\n'), "compare", "RUN"),
     ("metrics.jsonl line 2", "not valid UTF-8")),
    ("compare-metrics-is-dir", True, on_run(make_dir("metrics.jsonl"), "compare", "RUN"), ("metrics.jsonl", "expected a file, got a directory")),
    ("compare-figures-on-file", True, lambda env: ["compare", str(env.run), "--figures", str(env.file("f.png", "x"))],
     ("--figures", "expected a directory", "f.png")),
    ("compare-missing-run", False, lambda env: ["compare", str(env.tmp / "nowhere")], ("nowhere", "does not exist")),
    ("compare-run-is-file", False, lambda env: ["compare", str(env.file("f", "x"))], ("expected a directory, got a file",)),
    ("compare-summary-not-object", True, on_run(write_to("summary.json", "[1]"), "compare", "RUN"),
     ("summary.json", "expected a JSON object, got a list")),
    ("compare-summary-bad-json", True, on_run(write_to("summary.json", "{"), "compare", "RUN"), ("summary.json", "not valid JSON")),
    ("compare-summary-bad-test", True, on_run(write_to("summary.json", '{"test": {"acc": "high"}}'), "compare", "RUN"),
     ("summary.json", "'test'", "numbers")),
    ("compare-tracked-missing-name", True, on_run(first_line_to("tracked.jsonl", '{"step": 0, "stat": "x", "value": 1}'), "compare", "RUN"),
     ("tracked.jsonl line 1", "missing key 'name'")),
    ("compare-tracked-bad-value", True, on_run(first_line_to("tracked.jsonl", '{"step": 0, "name": "w", "stat": "x", "value": "big"}'),
                                               "compare", "RUN"), ("tracked.jsonl line 1", "'value'", "a number or a list")),
    ("compare-empty-metrics", True, on_run(write_to("metrics.jsonl", ""), "compare", "RUN"), ("no per-epoch metrics", "is empty")),
    # --- report
    ("report-non-object-line", True, on_run(append_to("metrics.jsonl", '"just a string"\n'), "report", "RUN"),
     ("metrics.jsonl line 3", "expected a JSON object, got a string")),
    ("report-health-not-list", True, on_run(write_to("health.json", '{"a": 1}'), "report", "RUN"), ("health.json", "expected a JSON list")),
    ("report-missing-run", False, lambda env: ["report", str(env.tmp / "nowhere")], ("nowhere", "does not exist")),
    ("report-config-invalid", True, on_run(write_to("config.toml", "[data\n"), "report", "RUN"), ("config.toml", "not valid TOML")),
    # --- doctor
    ("doctor-negative-steps", False, lambda env: ["doctor", str(env.file("c.toml", config())), "--steps", "-1"],
     ("--steps", "expected an integer >= 0", "-1")),
    ("doctor-bad-config", False, lambda env: ["doctor", str(env.file("c.toml", config(model="num_layers = -2")))],
     ("'model.num_layers'", "expected a positive integer, got -2")),
    # --- init
    ("init-exists", False, lambda env: ["init", str(env.file("c.toml", "x"))], ("already exists", "--force")),
]


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str], expected: Sequence[str],
                   kept: Path | None = None, skip: tuple[str, ...] = (), new_files: bool = True) -> str:
    """The battery's assertions for one command line, shared by every bad-input test file: exit
    1, exactly one line on stderr starting ``rnnlab CMD: error:``, no traceback, every part of
    ``expected`` in it, no advice to load files unsafely; every file that was under ``kept``
    before (but ``skip``) has the same SHA-256 after, and without ``new_files`` no file was added
    there. Returns the line."""
    before = digest(kept, skip=skip) if kept is not None else None
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: not expected here
        code = e.code
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 1, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert lines[0].startswith(f"rnnlab {argv[0]}: error: "), err
    for part in expected:
        assert part in lines[0], (part, lines[0])
    for advice in ("allow_pickle", "weights_only"):
        assert advice not in err, err
    if kept is not None and before is not None:
        after = digest(kept, skip=skip)
        assert (after if not new_files else {k: after.get(k) for k in before}) == before
    return lines[0]


@pytest.mark.parametrize(("case", "needs_run", "build", "expected"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_input_is_one_line_naming_the_problem(case, needs_run, build, expected, base_run, tmp_path, capsys):
    run = None
    if needs_run:
        run = tmp_path / "run"
        shutil.copytree(base_run, run)
    env = Env(tmp_path, run)
    argv = [str(env.file("cfg.toml", config())) if a == "CFG" else a for a in build(env)]
    # (the digest is taken after the case damaged the run)
    one_line_error(argv, capsys, expected, kept=run, skip=("report.html",), new_files=False)


def test_battery_is_large():
    assert len(CLI_CASES) + len(API_CASES) >= 60


def test_a_failed_command_changes_nothing_in_the_run(base_run, tmp_path, capsys):
    # The digest is taken after the damage, so this is the strict "nothing changed" check.
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    flip_bytes(run / "checkpoints/last.pt")
    before = digest(run)
    cfg = tmp_path / "c.toml"
    cfg.write_text(config())
    assert main(["train", str(cfg), "--out", str(run), "--resume", "--quiet"]) == 1
    assert "SHA-256" in capsys.readouterr().err
    assert digest(run) == before


# ------------------------------------------------------------------------------ the CLI entry


def test_an_unexpected_exception_is_one_line_asking_for_a_report(monkeypatch, capsys):
    import rnnlab.cli as cli

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "cmd_datasets", broken)
    assert cli.main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["rnnlab datasets: internal error: RuntimeError: boom second line; please report "
                                "this (rerun with --debug for the traceback)"]
    for argv in (["--debug", "datasets"], ["datasets", "--debug"]):
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, capsys):
    assert main(["--debug", "report", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("does not exist")


def test_argparse_errors_stay_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train"])
    assert e.value.code == 2


# ------------------------------------------------------------------------------ API calls


def _lstm():
    from rnnlab.layers import LSTM

    return LSTM(3, 4, batch_first=True)


def _flipped_checkpoint(tmp: Path) -> None:
    p = tmp / "last.pt"
    save_checkpoint(p, {"epoch": 1, "step": 1, "model": {"w": torch.ones(4000)}})
    flip_bytes(p)
    load_checkpoint(p)


API_CASES: list[tuple[str, Callable[[Path], object], type[Exception], tuple[str, ...]]] = [
    ("float64-input", lambda t: _lstm()(torch.zeros(2, 5, 3, dtype=torch.float64)), ValueError,
     ("input: expected dtype torch.float32", "got torch.float64")),
    ("float16-input", lambda t: _lstm()(torch.zeros(2, 5, 3, dtype=torch.float16)), ValueError,
     ("input: expected dtype torch.float32", "got torch.float16")),
    ("float64-state", lambda t: _lstm()(torch.zeros(2, 5, 3), (torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(1, 2, 4))),
     ValueError, ("hx[0] (h_0): expected dtype torch.float32",)),
    ("int-input", lambda t: _lstm()(torch.zeros(2, 5, 3, dtype=torch.int64)), TypeError, ("floating-point",)),
    ("tracker-no-params", lambda t: __import__("rnnlab").Tracker(t, torch.nn.Linear(2, 2), params=[]), ValueError,
     ("params: expected at least one",)),
    ("checkpoint-flipped", _flipped_checkpoint, CheckpointError, ("corrupt", "SHA-256")),
    ("run-dir-missing", lambda t: RunDir.existing(t / "nope"), RunDirError, ("does not exist",)),
    ("config-strict-int", lambda t: parse_config('[data]\ndataset = "GunPoint"\n[model]\nhidden_size = "8"'), ValueError,
     ("'model.hidden_size': expected an integer, got '8' (str)",)),
]


def precise_error(case: str, call: Callable[[Path], object], error: type[BaseException], expected: Sequence[str],
                  tmp_path: Path) -> None:
    """The battery's assertions for one API case, shared by every bad-input test file: ``error``
    raised, its message one line holding every part of ``expected``."""
    with pytest.raises(error) as info:
        call(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, (case, message)


@pytest.mark.parametrize(("case", "call", "error", "expected"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_input_raises_a_precise_error(case, call, error, expected, tmp_path):
    precise_error(case, call, error, expected, tmp_path)


def test_an_empty_batch_gives_an_empty_output_like_torch():
    from rnnlab.layers import GRU, LSTM

    for ours, theirs in ((LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, zoneout=0.1),
                          torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)),
                         (GRU(3, 4, batch_first=True, layer_norm=True), torch.nn.GRU(3, 4, batch_first=True))):
        x = torch.zeros(0, 5, 3)
        out, state = ours(x)
        ref_out, ref_state = theirs(x)
        assert out.shape == ref_out.shape == (0, 5, 4 * (2 if theirs.bidirectional else 1))
        for a, b in zip(state if isinstance(state, tuple) else (state,),
                        ref_state if isinstance(ref_state, tuple) else (ref_state,), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
        out, _ = ours(x, lengths=torch.zeros(0, dtype=torch.long))
        assert out.shape[0] == 0


# ------------------------------------------------------------------------------ hostile strings


HOSTILE = "a\nb\tc\x00d\x1f\x7f\"q\"'s'\\back\\\\<script>alert(1)</script>&amp;é😀\u2028\r"


def test_hostile_strings_round_trip_through_config_toml():
    from rnnlab.config import toml_string

    for i in range(0, 0x80):
        text = f"x{chr(i)}y"
        assert parse_config(f"name = {toml_string(text)}\n[data]\ndataset = 'UnitTest'").name == text
    cfg = parse_config(config())
    # (a .csv's: a bundled set's labels are its own, and the key is refused there)
    cfg = cfg.model_copy(update={"name": HOSTILE, "data": cfg.data.model_copy(
        update={"dataset": None, "path": "x.csv", "label_column": HOSTILE})})
    back = parse_config(dump_config(cfg))
    assert back == cfg and back.name == HOSTILE and back.data.label_column == HOSTILE


def test_a_run_named_with_hostile_characters_resumes_and_reports_escaped(tmp_path, capsys):
    cfg = parse_config(config())
    cfg = cfg.model_copy(update={"name": HOSTILE})
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(dump_config(cfg))
    run = tmp_path / "run"
    assert main(["train", str(cfg_file), "--out", str(run), "--quiet"]) == 0
    assert RunDir(run).read_config().name == HOSTILE
    cfg_file.write_text(dump_config(cfg).replace("epochs = 2", "epochs = 3"))
    assert main(["train", str(cfg_file), "--out", str(run), "--quiet", "--resume",
                 "--allow-change", "training.epochs"]) == 0
    assert len(RunDir(run).read_metrics()) == 3
    page = (run / "report.html").read_text()
    assert "<script>alert(1)</script>" not in page
    assert html.escape(dump_config(cfg.model_copy(update={"training": cfg.training.model_copy(update={"epochs": 3})})),
                       quote=True) in page
    assert "resumed after epoch 2" in page and "training.epochs</code> 2 → 3" in page


def test_a_truncated_last_line_is_the_record_in_flight(tmp_path):
    run = RunDir(tmp_path)
    run.append(run.metrics, {"epoch": 1, "train_loss": 0.5})
    with open(run.metrics, "a") as f:
        f.write('{"epoch": 2, "train_lo')  # killed mid-write
    assert run.read_metrics() == [{"epoch": 1, "train_loss": 0.5}]
    with open(run.metrics, "a") as f:
        f.write('\n{"epoch": 3}\n')  # the cut line is now in the middle: an error naming it
    with pytest.raises(RunDirError, match=r"metrics.jsonl line 2: not valid JSON"):
        run.read_metrics()


def test_large_finite_data_normalises_like_unscaled_data(tmp_path):
    from rnnlab.config import DataConfig
    from rnnlab.data import load_data

    for scale in (1e300, 1e-300):
        arrays = _xy(n=20, t=8, c=2)
        np.savez(tmp_path / "a.npz", **arrays)
        np.savez(tmp_path / "b.npz", X=arrays["X"] * scale, y=arrays["y"])
        a = load_data(DataConfig(path=str(tmp_path / "a.npz")), seed=0)
        b = load_data(DataConfig(path=str(tmp_path / "b.npz")), seed=0)
        np.testing.assert_allclose(b.train.X, a.train.X, rtol=1e-6, atol=1e-6)
        assert np.abs(b.train.X).max() > 1.0  # not all zeros
        assert json.dumps(b.stats.std.tolist())  # finite statistics
        assert np.isfinite(b.stats.std).all() and np.isfinite(b.stats.mean).all()


def test_a_real_process_prints_one_line_and_no_library_warning(tmp_path):
    """In-process runs hide Python warnings from capsys: one subprocess sees the real stderr."""
    import os
    import subprocess
    import sys

    env = Env(tmp_path, None)
    cfg = env.data_config(env.npz(**_xy(scale=1e300)), 'normalize = "none"')
    proc = subprocess.run([sys.executable, "-m", "rnnlab.cli", "train", str(cfg), "--out", str(tmp_path / "o"), "--quiet"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "beyond float32's range" in proc.stderr
