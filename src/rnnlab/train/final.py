"""The final run of a chosen config: trained on the whole training split, the test split evaluated
once. Search (the best trial) and the recipe (its baseline and result) both end with it.

A forecaster's final run trains on the validation block too, so its MASE is scaled by the
seasonal-naive error of that longer training part, not the one its search or train runs had: the
naive and seasonal-naive forecasts' test figures of the final run itself (``"baselines"`` of
:func:`retrain_and_test`, :func:`final_line`) are what its test MASE compares with.

Its length: with early stopping (``training.early_stopping.patience`` > 0) the runs that chose
the config were each scored by their kept model, the best validation epoch's, not by where they
stopped; the final run has no validation part to stop on, so it trains as long as those kept
models did, the median of their lengths (:func:`final_length`), as AutoGluon's ``refit_full``
trains for the iterations its fold models used; its schedule is the config's over that shorter
run (a cosine spans it, the warm-up shortened in proportion). Without early stopping, or
without the kept lengths (a ``trial.json`` written before they were recorded), it trains the
whole budget.

Its mean guard: with no validation part it cannot judge its own model, so it carries the decision
of the fold runs' guards (``[task] mean_guard``), by majority (:class:`CarriedGuard`,
:func:`rnnlab.search.trial.carried_guard`): the runs that chose the config were scored by what
their guards let them predict, and so is the final run tested.

Example:
    >>> from rnnlab.task import FORECASTING
    >>> final = {"test": {"mase": 0.8457}, "baselines": {"naive": {"mase": 1.12}, "seasonal_naive": {"mase": 0.8479}}}
    >>> final_line(final, FORECASTING.headline)
    'test MASE 0.8457 (naive 1.120, seasonal naive 0.8479 on the same steps)'
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import Config
from rnnlab.errors import Interrupted
from rnnlab.rundir import RunDir, discard_run
from rnnlab.task import Metric

if TYPE_CHECKING:
    from rnnlab.train.mean_guard import MeanGuard


@dataclass(frozen=True)
class FinalLength:
    """How long a final run trains under early stopping: the median of the kept models' lengths
    (:func:`final_length`), in the unit of the config's budget."""

    unit: str
    """``"steps"`` (the config sets ``training.steps``) or ``"epochs"``."""
    lengths: tuple[int, ...]
    """Each (seed, fold) run's kept model's length in ``unit``, sorted."""
    median: int
    """Their median, rounded (half up), at least 1: what the final run trains."""

    def phrase(self) -> str:
        """``"for 240 steps (the median of its 5 runs' kept models: 180-300 steps; early stopping
        has no validation part here)"``: what :func:`final_phrase` says of it. "Runs", not "fold
        runs": they may be seeds of one hold-out; the plan is said where the score is."""
        low, high = self.lengths[0], self.lengths[-1]
        spread = _count(low, self.unit) if low == high else f"{low}-{high} {self.unit}"
        runs = f"{len(self.lengths)} runs'" if len(self.lengths) != 1 else "1 run's"
        return (f"for {_count(self.median, self.unit)} (the median of its {runs} kept models: {spread}; "
                "early stopping has no validation part here)")

    def to_dict(self) -> dict[str, Any]:
        """The figures ``final.json`` and the recipe's ``"tests"`` keep (``"length"``)."""
        return {"rule": "median of the kept models", "unit": self.unit, "lengths": list(self.lengths),
                "median": self.median}


@dataclass(frozen=True)
class CarriedGuard:
    """The decision a final run carries from the mean guards of the fold runs that chose its config
    (it has no validation part for a guard of its own), by majority (decided by
    :func:`rnnlab.search.trial.carried_guard`): every output at its baseline where more than half
    of the runs did not keep the model; with K > 1 targets decided one by one, each target at its
    training mean where more than half of the runs put it there; a tie keeps the model. Applied as
    the guard's own decision is (:func:`rnnlab.train.mean_guard.predict_the_mean`, from the
    trainer's finish) and recorded in ``summary.json``'s ``mean_guard`` (:meth:`to_dict`, read back
    by ``CarriedGuard(**block)``, :func:`recorded_guard`): ``kept`` and ``at_mean`` mean what a
    guard's do, ``carried`` says from how many runs.

    >>> g = CarriedGuard(kept=False, runs=5, chose_mean=4)
    >>> print(g.line())
    mean guard: the final run predicts the training mean, as 4 of its 5 fold runs' guards chose (carried from them: it has no validation part for a guard of its own)
    >>> g.to_dict()["carried"], g.mean_targets, CarriedGuard(**g.to_dict()) == g
    ('4 of 5 fold runs', None, True)
    """

    kept: bool
    """True: the model predicts (of K > 1 targets, those not in :attr:`at_mean`); False: the
    baseline, every output's."""
    runs: int
    """The fold runs whose guards decided."""
    chose_mean: int
    """How many of them did not keep the model (predicted the baseline, every target's)."""
    baseline: str = "the training mean"
    """What the run predicts where the model is not kept (a forecaster: its reference forecast)."""
    at_mean: tuple[str, ...] | None = None
    """K > 1 targets decided one by one: those predicted by their training mean, in the targets'
    order; None where one decision covers every output."""
    targets: dict[str, int] | None = None
    """K > 1 targets decided one by one: each target (in order) and how many of the runs predicted
    it by its training mean."""
    carried: str = ""
    """From how many runs, in words (``"4 of 5 fold runs"``: those on the side of the decision;
    ``"5 fold runs, target by target"``); filled in when not given."""
    unit: str = "fold runs"
    """What the runs were: ``"fold runs"`` (a run a fold), ``"hold-out runs"`` (seeds of one hold-out)."""

    def __post_init__(self) -> None:
        if self.at_mean is not None:  # (summary.json's list)
            object.__setattr__(self, "at_mean", tuple(self.at_mean))
        if not self.carried:
            sided = self.chose_mean if not self.kept else self.runs - self.chose_mean
            object.__setattr__(self, "carried", f"{self.runs} {self.unit}, target by target" if self.targets
                               else f"{sided} of {self.runs} {self.unit}")

    @property
    def mean_targets(self) -> list[int] | None:
        """The outputs the run sets to their training mean (:func:`rnnlab.train.mean_guard.predict_the_mean`'s
        ``targets``): None for all of them, else the indices of :attr:`at_mean` (empty: none)."""
        if not self.kept:
            return None
        named = set(self.at_mean or ())
        return [i for i, name in enumerate(self.targets or {}) if name in named]

    def line(self) -> str:
        """What the final run predicts and why, as the command says it before the run and the run's
        report after it.

        >>> print(CarriedGuard(True, 4, 2).line())
        mean guard: the final run predicts with the model, as 2 of its 4 fold runs' guards did (2 chose the training mean: a tie keeps the model) (carried from them: it has no validation part for a guard of its own)
        >>> print(CarriedGuard(True, 5, 0, at_mean=("count",), targets={"conc": 1, "count": 4}).line())
        mean guard: the final run predicts conc by the model, as 4 of its 5 fold runs' guards did, and count by its training mean, as 4 of 5 chose (carried from them: it has no validation part for a guard of its own)
        """
        why = " (carried from them: it has no validation part for a guard of its own)"
        if self.targets:
            said = []
            for i, (name, n) in enumerate(self.targets.items()):
                of = f"of its {self.runs} {self.unit}' guards" if i == 0 else f"of {self.runs}"
                at_mean = name in (self.at_mean or ()) or not self.kept
                tie = " (a tie keeps it)" if 2 * n == self.runs else ""
                said.append(f"{name} by its training mean, as {n} {of} chose" if at_mean
                            else f"{name} by the model, as {self.runs - n} {of} did{tie}")
            listed = said[0] if len(said) == 1 else ", ".join(said[:-1]) + f", and {said[-1]}"
            return f"mean guard: the final run predicts {listed}{why}"
        if not self.kept:
            return (f"mean guard: the final run predicts {self.baseline}, as {self.chose_mean} of its {self.runs} "
                    f"{self.unit}' guards chose{why}")
        tie = ": a tie keeps the model" if 2 * self.chose_mean == self.runs else ""
        return (f"mean guard: the final run predicts with the model, as {self.runs - self.chose_mean} of its "
                f"{self.runs} {self.unit}' guards did ({self.chose_mean} chose {self.baseline}{tie}){why}")

    def to_dict(self) -> dict[str, Any]:
        """What ``summary.json`` holds under ``mean_guard`` (``at_mean`` and ``targets`` only for K > 1
        targets decided one by one)."""
        out: dict[str, Any] = {"kept": self.kept, "carried": self.carried, "runs": self.runs,
                               "chose_mean": self.chose_mean, "baseline": self.baseline, "unit": self.unit}
        if self.at_mean is not None:
            out["at_mean"] = list(self.at_mean)
        if self.targets is not None:
            out["targets"] = dict(self.targets)
        return out


def recorded_guard(block: Mapping[str, Any]) -> MeanGuard | CarriedGuard:
    """``summary.json``'s ``mean_guard`` read back: a run's own guard's
    (:class:`rnnlab.train.mean_guard.MeanGuard`) or, with ``carried``, the decision a final run
    carried from its fold runs (:class:`CarriedGuard`); both say ``kept``, ``at_mean``,
    ``mean_targets``, ``baseline`` and ``line()``.

    >>> recorded_guard({"kept": False, "carried": "3 of 5 fold runs", "runs": 5, "chose_mean": 3}).mean_targets is None
    True
    """
    from rnnlab.train.mean_guard import MeanGuard

    return CarriedGuard(**block) if "carried" in block else MeanGuard(**block)


def _count(n: int, unit: str) -> str:
    return f"{n} {unit if n != 1 else unit[:-1]}"


def final_length(config: Config, kept: Sequence[Mapping[str, int]] | None) -> FinalLength | None:
    """The final run's length when ``config`` trains with early stopping and the kept models'
    lengths are known (``kept``: each run's ``{"epoch": E, "step": S}``,
    :func:`rnnlab.search.trial.kept_lengths`): their median ``step`` as ``training.steps`` when
    the config sets it, else their median ``epoch`` as ``training.epochs``; None (the whole
    budget) otherwise.

    >>> from rnnlab.config import parse_config
    >>> c = parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nsteps = 2000\\n'
    ...                  '[training.early_stopping]\\npatience = 20')
    >>> final_length(c, [{"epoch": 9, "step": 180}, {"epoch": 15, "step": 300}, {"epoch": 12, "step": 240}]).median
    240
    >>> final_length(c, []) is None  # a trial.json written before the kept lengths were
    True
    """
    if config.training.early_stopping.patience <= 0 or not kept:
        return None
    unit, key = ("steps", "step") if config.training.steps is not None else ("epochs", "epoch")
    lengths = tuple(sorted(int(k[key]) for k in kept))
    return FinalLength(unit, lengths, max(1, math.floor(statistics.median(lengths) + 0.5)))


def final_phrase(config: Config, kept: Sequence[Mapping[str, int]] | None) -> str:
    """How long the final run of ``config`` trains, for the line printed before it: the median
    of the kept models (:meth:`FinalLength.phrase`), or its whole budget, and why.

    >>> from rnnlab.config import parse_config
    >>> final_phrase(parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nepochs = 30'), None)
    'for its whole budget, 30 epochs (no early stopping)'
    >>> final_phrase(parse_config('[data]\\ndataset = "UnitTest"\\n[training]\\nsteps = 60'), None)
    'for its whole budget, 60 steps, rounded up to whole epochs (no early stopping)'
    """
    length = final_length(config, kept)
    if length is not None:
        return length.phrase()
    from rnnlab.train.trainer import exact_steps

    tc = config.training
    budget = _count(tc.steps, "steps") if tc.steps is not None else _count(tc.epochs_for(1), "epochs")
    if tc.steps is not None and exact_steps(config) is None:
        # (the count of steps said after the run passes this one: a run of sequences trains whole epochs)
        budget += ", rounded up to whole epochs"
    # (the [adapt] rules decide in the run itself: what it trained is said after it, trained_phrase)
    if config.adapt.shape and tc.steps is not None:
        budget += ", or as the shape rule raises it (adapt.shape)"
    if config.adapt.budget:
        budget += ", or as the fit asks (adapt.budget)"
    why = ("no early stopping" if tc.early_stopping.patience <= 0 else
           "its runs recorded no kept models' lengths: scored before they were kept")
    return f"for its whole budget, {budget} ({why})"


def trained_phrase(final: dict[str, Any]) -> str:
    """What the final run of :func:`retrain_and_test` trained, ``"2 epochs, 6 steps"`` (a run of
    ``training.steps`` trains whole epochs, so it may end past the length asked for); empty for
    one recorded before its length was.

    >>> trained_phrase({"length": {"rule": "median of the kept models", "trained": {"epoch": 2, "step": 6}}})
    '2 epochs, 6 steps'
    """
    trained = (final.get("length") or {}).get("trained") or {}
    if "epoch" not in trained or "step" not in trained:
        return ""
    return f"{_count(trained['epoch'], 'epochs')}, {_count(trained['step'], 'steps')}"


def length_words(final: dict[str, Any]) -> str:
    """How long a final run of :func:`retrain_and_test` trained, and by which rule, as the study
    and recipe pages say it; empty for one recorded before its length was.

    >>> length_words({"length": {"rule": "median of the kept models", "unit": "steps", "lengths": [180, 240, 300],
    ...                          "median": 240, "trained": {"epoch": 12, "step": 240}}})
    "12 epochs, 240 steps: the median of its 3 runs' kept models"
    >>> length_words({"length": {"rule": "whole budget", "trained": {"epoch": 20, "step": 80}}})
    '20 epochs, 80 steps: its whole budget'
    """
    rule = (final.get("length") or {}).get("rule")
    trained = trained_phrase(final)
    if not trained or rule not in ("median of the kept models", "whole budget"):
        return ""
    if rule == "whole budget":
        return f"{trained}: its whole budget"
    length = final["length"]
    n = len(length.get("lengths") or [])
    runs = "runs'" if n != 1 else "run's"
    said = f"{trained}: the median of its {n} {runs} kept models"  # (folds or seeds of one hold-out)
    asked, unit = length.get("median"), length.get("unit")
    if unit == "steps" and isinstance(asked, int) and length["trained"].get("step") != asked:
        said += f", {_count(asked, unit)}, rounded up to whole epochs"
    return said


def final_config(config: Config, out: Path, kept: Sequence[Mapping[str, int]] | None = None) -> Config:
    """The best config for the final run: the whole training split (no validation part, however
    it was sized: ``data.val_fraction`` or a stream's ``data.val_steps``), early stopping off
    (nothing to watch), no mean guard of its own (nothing to judge it on: :func:`retrain_and_test`
    carries the fold runs' decision, :class:`CarriedGuard`), into ``out``; and as long as
    the kept models of the runs that chose it (``kept``, :func:`final_length`) when it early-stops,
    else its whole budget.

    >>> from rnnlab.config import parse_config
    >>> c = parse_config('[task]\\nkind = "forecasting"\\n[data]\\ndataset = "Airline"\\nval_steps = 24')
    >>> d = final_config(c, Path("final")).data
    >>> d.val_steps, d.val_fraction
    (None, 0.0)
    """
    tc = config.training
    training = tc.model_copy(update={"early_stopping": tc.early_stopping.model_copy(update={"patience": 0})})
    adapt = config.adapt
    length = final_length(config, kept)
    if length is not None:
        # The length chosen is trained as it is: no budget that follows the fit, and the shape
        # rule's step budget (adapt.shape raises training.steps for many classes) capped at it,
        # since adapt.max_steps is the most either rule may give a run.
        adapt = adapt.model_copy(update={"budget": False})
        budget = tc.steps if length.unit == "steps" else tc.epochs_for(1)
        if length.unit == "steps":
            training = training.model_copy(update={"steps": length.median})
            adapt = adapt.model_copy(update={"max_steps": length.median})
        else:
            training = training.model_copy(update={"epochs": length.median})
        # The schedule is the config's over the shorter run: a cosine spans it, and the warm-up is
        # shortened in proportion (as it stood, it could be longer than the whole final run).
        ratio = min(1.0, length.median / budget)
        sc = tc.schedule
        training = training.model_copy(update={"schedule": sc.model_copy(update={
            "warmup_steps": math.floor(sc.warmup_steps * ratio), "warmup_epochs": sc.warmup_epochs * ratio})})
    return config.model_copy(update={
        "task": config.task.model_copy(update={"mean_guard": False}),
        "data": config.data.model_copy(update={"val_fraction": 0.0, "val_steps": None}),
        "training": training,
        "adapt": adapt,
        "output": config.output.model_copy(update={"dir": str(out)}),
    })


def _references(final: dict[str, Any], metric: Metric) -> dict[str, float]:
    """The final run's baselines' ``metric`` on its test block, by name as said (``seasonal naive``)."""
    baselines = final.get("baselines") or {}
    return {name.replace("_", " "): float(v[metric.name]) for name, v in baselines.items()
            if isinstance(v, dict) and metric.name in v}


def baseline_phrase(final: dict[str, Any], metric: Metric) -> str:
    """The naive and seasonal-naive forecasts' ``metric`` on the final run's test block (its
    ``"baselines"``), as a phrase: ``"naive 1.12, seasonal naive 0.8479"``, each in digits enough
    to tell it from the model's test figure (:func:`rnnlab.train.trainer.shown_apart`); empty for a
    run without them (a task that does not forecast, a final run recorded before they were kept).

    >>> from rnnlab.task import FORECASTING
    >>> baseline_phrase({"baselines": {"naive": {"mase": 1.0}, "seasonal_naive": {"mase": 0.5}}}, FORECASTING.headline)
    'naive 1, seasonal naive 0.5'
    """
    from rnnlab.train.trainer import shown_apart

    refs = _references(final, metric)
    model = float((final.get("test") or {}).get(metric.name, math.nan))
    return ", ".join(f"{name} {text}" for name, text in shown_apart(model, refs, metric)[1].items())


def final_line(final: dict[str, Any], metric: Metric) -> str:
    """``"test MASE 0.8457 (naive 1.12, seasonal naive 0.8479 on the same steps)"``: the final
    run's test ``metric`` beside its baselines' (:func:`baseline_phrase`), ``: no better than ...``
    where it does not beat the better of them (:func:`rnnlab.train.trainer.better_reference`, as
    ``rnnlab train`` says it), as ``rnnlab search`` and ``rnnlab recipe`` print it; without
    baselines the figure alone. The module's docstring has an example.

    >>> from rnnlab.task import FORECASTING
    >>> final_line({"test": {"mase": 1.004}, "baselines": {"naive": {"mase": 4.754},
    ...             "seasonal_naive": {"mase": 1.00014}}}, FORECASTING.headline)
    'test MASE 1.004 (naive 4.754, seasonal naive 1.000 on the same steps: no better than seasonal naive)'
    """
    from rnnlab.train.trainer import better_reference, shown_apart

    value, refs = float(final["test"][metric.name]), _references(final, metric)
    if not refs:
        return f"test {metric.label} {metric.show(value)}"
    model, _ = shown_apart(value, refs, metric)
    better = better_reference(value, refs, metric)
    verdict = f": no better than {better.name}" if better is not None and better.no_better else ""
    return f"test {metric.label} {model} ({baseline_phrase(final, metric)} on the same steps{verdict})"


def _finished(cfg: Config, out: Path, guard: CarriedGuard | None = None) -> dict[str, Any] | None:
    """The summary of a finished run in ``out`` of the final config ``cfg`` that carried ``guard``
    (recorded under ``mean_guard``; None: no decision carried, none recorded), else None."""
    if not out.is_dir():
        return None
    rd = RunDir(out)
    done = rd.read_summary()
    if done is not None and _of_config(cfg, out) and _carried(done.get("mean_guard")) == _carried(guard):
        return done
    return None


def _carried(guard: Any) -> dict[str, Any] | None:
    """The decision a final run carried (its ``mean_guard`` as recorded, or a :class:`CarriedGuard`),
    for telling whether a finished run carried the one asked for: a run that carried another tested
    another predictor (the same weights, other figures). Only the decision is compared, not its
    words (``carried``, ``unit``, the baseline's name: a forecaster's is its own reference
    forecast's, which the run names), so that a run recorded before a rewording is reused."""
    recorded = guard.to_dict() if isinstance(guard, CarriedGuard) else guard
    if not isinstance(recorded, dict):
        return None
    return {k: recorded.get(k) for k in ("kept", "runs", "chose_mean", "at_mean", "targets")}


def _of_config(cfg: Config, out: Path, placed: bool = False) -> bool:
    """Whether the run in ``out`` trains the final config ``cfg`` (``placed``: recorded in the same
    ``output.dir`` too, as a resumed run must be: the trainer refuses another)."""
    from rnnlab.train.shape_rules import adapt_to_shape
    from rnnlab.train.trainer import with_derived_names

    rd = RunDir(out)
    if not rd.config.exists():
        return False

    def trains(c: Config) -> Config:
        # (where the run is, not what it trains: a study reached by another spelling of --out, or
        # moved, holds the same finished run, and one that tested the test split must not be trained over)
        return c if placed else c.model_copy(update={"output": c.output.model_copy(update={"dir": "."})})

    # (the run records its config as training saw it: its derived name, what the shape rules set)
    return trains(rd.read_config()) == trains(adapt_to_shape(with_derived_names(cfg))[0])


def reusable(config: Config, out: Path, kept: Sequence[Mapping[str, int]] | None = None,
             guard: CarriedGuard | None = None) -> bool:
    """Whether ``out`` holds a finished final run of ``config`` (:func:`final_config` with
    ``kept``) that carried ``guard``, which :func:`retrain_and_test` reads instead of training:
    what a command says before it (reused, or trained now).

    >>> import tempfile
    >>> from rnnlab.config import parse_config
    >>> reusable(parse_config('[data]\\ndataset = "UnitTest"'), Path(tempfile.mkdtemp()) / "final")
    False
    """
    return _finished(final_config(config, out, kept), out, guard) is not None


def retrain_and_test(config: Config, out: Path, kept: Sequence[Mapping[str, int]] | None = None,
                     guard: CarriedGuard | None = None) -> dict[str, Any]:
    """Train ``config`` on the whole training split into ``out`` (:func:`final_config`, as long
    as the ``kept`` models of the runs that chose it under early stopping), predicting as ``guard``,
    the decision of those runs' mean guards (:class:`CarriedGuard`; None: the model), says, write
    its report, and evaluate the test split once: ``{"train": ..., "test": ..., "baselines": ..., "length":
    ...}`` (test None when the data has no test split; ``baselines``: a forecaster's naive and
    seasonal-naive figures on the same test steps, scaled as the final run's own, else None;
    ``length``: the rule's figures, :meth:`FinalLength.to_dict`, or ``{"rule": "whole
    budget"}``, with the ``epoch`` and ``step`` the run ended at). A finished run in ``out`` of
    the same config and guard is read, not repeated (then ``"reused": True``), its report drawn if a stop
    left it without one; one cut short continues from its last checkpoint (then ``"resumed":
    True``). A stop (SIGINT, SIGTERM, SIGHUP) is an :class:`Interrupted` that says what the
    same command does next.
    """
    from rnnlab.train.trainer import train

    cfg = final_config(config, out, kept)
    length = final_length(config, kept)
    rule = length.to_dict() if length is not None else {"rule": "whole budget"}

    def trained(last: dict[str, Any]) -> dict[str, Any]:
        # (a run of training.steps trains whole epochs: it may end a little past the median)
        return {**rule, "trained": {k: int(last[k]) for k in ("epoch", "step") if k in last}}

    done = _finished(cfg, out, guard)
    if done is not None:
        if not RunDir(out).report.exists():  # (a stop while it was drawn: the run is whole, its page not)
            _draw_report(out)
        return {"train": done["train_eval"], "test": done["test"],
                "baselines": (done.get("baselines") or {}).get("test"), "length": trained(done["final"]),
                "reused": True}
    # A run of this config cut short (killed, stopped) continues from its last checkpoint, its
    # records kept; one without a checkpoint, of another config, or finished with another guard's
    # decision starts again.
    resume = (out.is_dir() and RunDir(out).last_checkpoint.exists() and _of_config(cfg, out, placed=True)
              and RunDir(out).read_summary() is None)
    if not resume:
        discard_run(out)
    try:
        result = train(cfg, out=out, resume=resume, progress=False, log=None, carried_guard=guard)
    except KeyboardInterrupt as e:  # (the trainer's "--resume" is not the search's or the recipe's way)
        raise Interrupted.of_command(e, f"the same command trains the final run in {out} again "
                                        "(everything before it is kept)") from None
    _draw_report(out)
    return {"train": result.train_eval, "test": result.test, "baselines": (result.baselines or {}).get("test"),
            "length": trained(result.final), **({"resumed": True} if resume else {})}


def _draw_report(out: Path) -> None:
    """Write the report of the finished final run in ``out``; a stop while it is drawn says that
    the run is kept and that the same command draws it again (the run is then read, not trained)."""
    from rnnlab.report import write_report

    try:
        write_report(out)
    except KeyboardInterrupt as e:
        raise Interrupted.of_command(e, f"the final run in {out} is finished and kept; the same command draws "
                                        "its report again") from None
