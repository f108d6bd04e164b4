"""The final run of a chosen config: trained on the whole training split, the test split evaluated
once. Search (the best trial) and the recipe (its baseline and result) both end with it.

A forecaster's final run trains on the validation block too, so its MASE is scaled by the
seasonal-naive error of that longer training part, not the one its search or train runs had: the
naive and seasonal-naive forecasts' test figures of the final run itself (``"baselines"`` of
:func:`retrain_and_test`, :func:`final_line`) are what its test MASE compares with.

Example:
    >>> from rnnlab.task import FORECASTING
    >>> final = {"test": {"mase": 0.8457}, "baselines": {"naive": {"mase": 1.12}, "seasonal_naive": {"mase": 0.8479}}}
    >>> final_line(final, FORECASTING.headline)
    'test MASE 0.8457 (naive 1.12, seasonal naive 0.8479 on the same steps)'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.config import Config
from rnnlab.errors import Interrupted
from rnnlab.rundir import RunDir, discard_run
from rnnlab.task import Metric


def final_config(config: Config, out: Path) -> Config:
    """The best config for the final run: the whole training split (no validation part, however
    it was sized: ``data.val_fraction`` or a stream's ``data.val_steps``), all its epochs (early
    stopping has nothing to watch) and no mean guard (nothing to judge it on), into ``out``.

    >>> from rnnlab.config import parse_config
    >>> c = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"\\nval_steps = 24')
    >>> d = final_config(c, Path("final")).data
    >>> d.val_steps, d.val_fraction
    (None, 0.0)
    """
    tc = config.training
    return config.model_copy(update={
        "task": config.task.model_copy(update={"mean_guard": False}),
        "data": config.data.model_copy(update={"val_fraction": 0.0, "val_steps": None}),
        "training": tc.model_copy(update={"early_stopping": tc.early_stopping.model_copy(update={"patience": 0})}),
        "output": config.output.model_copy(update={"dir": str(out)}),
    })


def baseline_phrase(final: dict[str, Any], metric: Metric) -> str:
    """The naive and seasonal-naive forecasts' ``metric`` on the final run's test block (its
    ``"baselines"``), as a phrase: ``"naive 1.12, seasonal naive 0.8479"``; empty for a run
    without them (a task that does not forecast, a final run recorded before they were kept).

    >>> from rnnlab.task import FORECASTING
    >>> baseline_phrase({"baselines": {"naive": {"mase": 1.0}, "seasonal_naive": {"mase": 0.5}}}, FORECASTING.headline)
    'naive 1, seasonal naive 0.5'
    """
    baselines = final.get("baselines") or {}
    return ", ".join(f"{name.replace('_', ' ')} {metric.show(v[metric.name])}" for name, v in baselines.items()
                     if isinstance(v, dict) and metric.name in v)


def final_line(final: dict[str, Any], metric: Metric) -> str:
    """``"test MASE 0.8457 (naive 1.12, seasonal naive 0.8479 on the same steps)"``: the final
    run's test ``metric`` beside its baselines' (:func:`baseline_phrase`), as ``rnnlab search`` and
    ``rnnlab recipe`` print it; without baselines the figure alone. The module's docstring has
    an example."""
    line = f"test {metric.label} {metric.show(final['test'][metric.name])}"
    beside = baseline_phrase(final, metric)
    return f"{line} ({beside} on the same steps)" if beside else line


def retrain_and_test(config: Config, out: Path) -> dict[str, Any]:
    """Train ``config`` on the whole training split into ``out`` (:func:`final_config`), write its
    report, and evaluate the test split once: ``{"train": ..., "test": ..., "baselines": ...}``
    (test None when the data has no test split; ``baselines``: a forecaster's naive and
    seasonal-naive figures on the same test steps, scaled as the final run's own, else None). A
    finished run in ``out`` of the same config is read, not repeated.
    """
    from rnnlab.report import write_report
    from rnnlab.train.shape_rules import adapt_to_shape
    from rnnlab.train.trainer import train, with_derived_names

    cfg = final_config(config, out)
    if out.is_dir():
        rd = RunDir(out)
        done = rd.read_summary()
        # (the run records its config as training saw it: its derived name, what the shape rules set)
        if done is not None and rd.config.exists() and \
                rd.read_config() == adapt_to_shape(with_derived_names(cfg))[0]:
            return {"train": done["train_eval"], "test": done["test"],
                    "baselines": (done.get("baselines") or {}).get("test")}
    discard_run(out)  # a run cut short before its summary: start it again
    try:
        result = train(cfg, out=out, progress=False, log=None)
    except KeyboardInterrupt as e:  # (the trainer's "--resume" is not the search's or the recipe's way)
        raise Interrupted.of_command(e, f"the same command trains the final run in {out} again "
                                        "(everything before it is kept)") from None
    write_report(out)
    return {"train": result.train_eval, "test": result.test, "baselines": (result.baselines or {}).get("test")}
