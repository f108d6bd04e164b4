"""``rnnlab sample`` draws from the weights whose test figures the run printed, as ``rnnlab
predict`` does: ``last.pt`` without early stopping (where ``best.pt``, the best validation epoch's,
is another model: a user's report measured 1.881 against the printed 1.909 bits per character),
``best.pt`` under it. Which file is read is shown by damaging the other one."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_lm_record import TEXT

from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.train import train

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _lm(tmp: Path, patience: int) -> Path:
    (tmp / "t.txt").write_text(TEXT, encoding="utf-8")
    (tmp / "lm.toml").write_text(f"""[task]
kind = "language_model"
[data]
path = "{tmp / 't.txt'}"
bptt = 16
streams = 4
test_fraction = 0.0
[model]
hidden_size = 8
[training]
lr = 0.01
steps = 8
[training.early_stopping]
patience = {patience}
monitor = "val_loss"
[tracking]
enabled = false
""", encoding="utf-8")
    # (trained as `rnnlab train` trains it, less the report it draws at the end and the tracking: sample
    # reads the checkpoints alone)
    run = tmp / "run"
    train(load_config(tmp / "lm.toml"), out=run, progress=False, log=None)
    return run


def _damage(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(100)


@pytest.mark.parametrize(("patience", "read", "other"), [(0, "last.pt", "best.pt"), (3, "best.pt", "last.pt")])
def test_sample_reads_the_checkpoint_the_run_evaluated(tmp_path: Path, capsys, patience, read, other) -> None:
    run = _lm(tmp_path, patience)
    _damage(run / "checkpoints" / other)  # (not the evaluated model: never read)
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "20", "--seed", "0"]) == 0, capsys.readouterr().err
    _damage(run / "checkpoints" / read)
    capsys.readouterr()
    assert main(["sample", str(run), "--length", "20", "--seed", "0"]) == 1
    assert read in capsys.readouterr().err
