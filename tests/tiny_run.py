"""The tiny training run several test modules share: the bundled UnitTest data (20 training
sequences; ``val_fraction`` 0.25 leaves 15, i.e. 4 optimizer steps per epoch at batch 4), a
6-unit LSTM, and :func:`rnnlab.train.train` without progress bars or log lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.train import TrainResult, train

TINY = """
[data]
dataset = "UnitTest"
val_fraction = 0.25
[model]
hidden_size = 6
{model}
[training]
batch_size = 4
lr = 0.01
{training}
{after}
"""


def tiny_toml(model: str = "", training: str = "", after: str = "") -> str:
    """The tiny config's TOML: ``model`` and ``training`` lines join their tables, ``after``
    (more tables) follows."""
    return TINY.format(model=model, training=training, after=after)


def run(cfg: Any, out: str | Path, **kw: Any) -> TrainResult:
    """``train(cfg, out)`` quietly."""
    return train(cfg, out=out, progress=False, log=None, **kw)
