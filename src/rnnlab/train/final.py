"""The final run of a chosen config: trained on the whole training split, the test split evaluated
once. Search (the best trial) and the recipe (its baseline and result) both end with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.config import Config
from rnnlab.errors import Interrupted
from rnnlab.rundir import RunDir, discard_run


def final_config(config: Config, out: Path) -> Config:
    """The best config for the final run: the whole training split (no validation part), all
    its epochs (early stopping has nothing to watch) and no mean guard (nothing to judge it on), into ``out``."""
    tc = config.training
    return config.model_copy(update={
        "task": config.task.model_copy(update={"mean_guard": False}),
        "data": config.data.model_copy(update={"val_fraction": 0.0}),
        "training": tc.model_copy(update={"early_stopping": tc.early_stopping.model_copy(update={"patience": 0})}),
        "output": config.output.model_copy(update={"dir": str(out)}),
    })


def retrain_and_test(config: Config, out: Path) -> dict[str, Any]:
    """Train ``config`` on the whole training split into ``out`` (:func:`final_config`), write its
    report, and evaluate the test split once: ``{"train": ..., "test": ...}`` (test None when the
    data has no test split). A finished run in ``out`` of the same config is read, not repeated.
    """
    from rnnlab.report import write_report
    from rnnlab.train.trainer import train

    cfg = final_config(config, out)
    if out.is_dir():
        rd = RunDir(out)
        done = rd.read_summary()
        if done is not None and rd.config.exists() and rd.read_config() == cfg:
            return {"train": done["train_eval"], "test": done["test"]}
    discard_run(out)  # a run cut short before its summary: start it again
    try:
        result = train(cfg, out=out, progress=False, log=None)
    except KeyboardInterrupt as e:  # (the trainer's "--resume" is not the search's or the recipe's way)
        raise Interrupted.of_command(e, f"the same command trains the final run in {out} again "
                                        "(everything before it is kept)") from None
    write_report(out)
    return {"train": result.train_eval, "test": result.test}
