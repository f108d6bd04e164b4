"""A budget that follows the fit (``adapt.budget = true``): decided after every epoch from the
training records only (the test split plays no part, the validation split none either).

* **End early** once more steps no longer help: the whole training split is evaluated (eval
  mode) every quarter of a stretch of :attr:`FitRule.fitted_fraction` of the planned steps; when
  every check over a whole stretch classified every training series right, the run gets a tail
  of a stretch and ends. (The epochs' own training-mode accuracy does not serve: with dropout
  and zoneout on, it kept missing a series now and then long after the model fitted, 0.98 on
  average, on the generated sets of ``benchmarks/stress_sets.py``.) Over the tail the learning rate falls along a cosine from where it stands to
  ``training.schedule.min_lr``, so the run still ends annealed, without a jump.
* **The fit is checked again at the tail's end**: when a training series is wrong there (the
  tail had undone the fit it ended early for: 6 of 831 early ends in the template's benchmark
  records, docs/template.md), the run goes on to the end it had before the early end (at
  least a stretch more), the learning rate restarting as for an extension; it may end early
  again, or be extended, as any run.
* **Extend** while the model underfits: at the end of the budget, when the underfit finding of
  :mod:`rnnlab.doctor.fit` holds at training accuracy :attr:`FitRule.fitted_acc` (eval mode,
  whole training split) and its training loss still fell by more than the finding's
  :attr:`FitRule.still_falling` over the last quarter of the epochs, the budget grows by as many steps as it
  has (doubles), at most to ``adapt.max_steps``. The extension restarts a cosine segment at
  :attr:`FitRule.restart_lr` of the base learning rate (a warm restart: at the end of the
  previous segment the rate had reached ``min_lr``, where more steps would barely move).
* **Not when the training loss is negligible**: no extension when, in the budget's last epoch,
  every training batch's series was right in training mode (the record's ``train_acc`` 1) and
  the mean training cross-entropy was below :attr:`FitRule.loss_floor` (the right class's
  probability 0.99 and more, as a geometric mean). A relative drop of a loss that is already ~0
  says nothing, and a model that fits with dropout on and batch statistics of its own batches
  but misses a series in eval mode shows a train/eval gap (batch norm's running statistics,
  dropout), which more steps at a vanishing gradient do not close: ItalyPowerDemand's searched
  config was doubled 400 -> 16000 steps at a training loss of 1e-4 down to 0, eval-mode
  training accuracy 0.985 throughout. The decision ``not_extended`` in ``adapt.json`` says so.
* **Not when the run is at chance**: no extension when the training loss is above the constant
  predictor's (:func:`constant_loss`: predicting the training class frequencies for every series,
  whose cross-entropy is their entropy, ln 2 for two balanced classes), both its mean over the last
  quarter of the epochs and the eval-mode loss of the weights on the training split
  (:func:`chance_check`). A loss that falls there is coming back from above chance (a learning
  rate too large: the GunPoint template at ``training.lr = 5`` was doubled 402 -> 6432 steps at
  training accuracy 0.475, its loss falling 62 % a quarter from 6.41 to 2.43), not learning, and
  more steps of it do not make it learn. The decision ``not_extended`` says so, and that
  ``training.lr`` is the key to lower where the loss had risen to over twice its first epoch's
  (else, to check it and the labels). A loss below it in either measure (every run that learnt
  something beyond the class frequencies) is decided as before.

The state (the plan, the segment, the recent records, the decisions) travels in every
checkpoint, so a resumed run decides as the uninterrupted one did.

Example:
    >>> b = FitBudget.plan(total=100, steps_per_epoch=10, cap=400)
    >>> for epoch in range(1, 5):  # fitted from the first epoch: a stretch is 10 steps, one epoch
    ...     _ = b.after_epoch({"epoch": epoch, "step": 10 * epoch}, None, train_acc=lambda: 1.0)
    >>> b.total, [e["decision"] for e in b.events]
    (30, ['end_early'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.config import Config, ScheduleConfig


@dataclass(frozen=True)
class FitRule:
    """Where the budget's decisions draw their lines.

    Attributes:
        fitted_fraction: the stretch of the planned budget (a fraction of its steps, at least one
            epoch) over which every training batch must be right to end early; the tail is as long.
        fitted_acc: eval-mode training accuracy below which a model underfits (for extending).
        restart_lr: the learning rate an extension restarts at, a fraction of ``training.lr``.
        still_falling: relative drop of the training loss over the last quarter of the epochs
            above which it still falls; the underfit finding uses this same rule
            (:class:`rnnlab.doctor.fit.FitThresholds`). Low, as the last quarter of a cosine
            schedule runs at under 15 % of the peak rate, where a loss that still drops 2 % would
            drop faster at a restarted rate.
        loss_floor: mean training cross-entropy (nats, training mode, the last epoch's record)
            below which, every batch's series right, the loss is negligible and the budget does
            not extend: ``-ln 0.99``, the loss of a model that gives the right class 0.99 on
            every series (0.99 and more as a geometric mean).
    """

    fitted_fraction: float = 0.1
    fitted_acc: float = 0.99
    restart_lr: float = 0.5
    still_falling: float = 0.02
    loss_floor: float = -math.log(0.99)

    def negligible(self, record: dict[str, Any]) -> bool:
        """Whether the training loss of ``record`` (a metrics.jsonl record) is negligible: every
        series of the epoch's batches right in training mode and the loss below :attr:`loss_floor`.

        >>> rule = FitRule()
        >>> rule.negligible({"train_loss": 1e-4, "train_acc": 1.0}), rule.negligible({"train_loss": 0.05, "train_acc": 1.0})
        (True, False)
        """
        loss, acc = record.get("train_loss"), record.get("train_acc")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (loss, acc)):
            return False  # (no training-mode accuracy, or a broken loss: nothing to call negligible)
        return float(acc) >= 1.0 and float(loss) < self.loss_floor


@dataclass
class FitBudget:
    """The planned end of a run in optimizer steps, and how the learning rate gets there."""

    planned: int
    """The config's budget (steps), on which the config's schedule runs until a decision."""
    steps_per_epoch: int
    cap: int
    """``adapt.max_steps``, rounded down to whole epochs (never below the plan)."""
    total: int
    """Where the run now ends."""
    segment: tuple[int, int, float] | None = None
    """(first step, last step + 1, factor at the first step) of the cosine after a decision."""
    recent: list[list[float]] = field(default_factory=list)
    """[step, training accuracy] of the last checks (enough of them to span a stretch)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    rule: FitRule = field(default_factory=FitRule)

    @classmethod
    def plan(cls, total: int, steps_per_epoch: int, cap: int, rule: FitRule | None = None) -> FitBudget:
        """A budget of ``total`` steps (whole epochs of ``steps_per_epoch``), at most ``cap``."""
        cap = max(total, cap // steps_per_epoch * steps_per_epoch)
        return cls(total, steps_per_epoch, cap, total, rule=rule or FitRule())

    @property
    def epochs(self) -> int:
        return self.total // self.steps_per_epoch

    @property
    def stretch(self) -> int:
        """Steps of the fitted stretch (and of the tail), in whole epochs."""
        steps = max(self.steps_per_epoch, math.ceil(self.rule.fitted_fraction * self.planned))
        return math.ceil(steps / self.steps_per_epoch) * self.steps_per_epoch

    @property
    def check_every(self) -> int:
        """Steps between evaluations of the training split (a quarter of a stretch, whole epochs)."""
        return max(self.steps_per_epoch, self.stretch // 4 // self.steps_per_epoch * self.steps_per_epoch)

    def lr_factor(self, cfg: ScheduleConfig, step: int, base: Callable[[int], float], floor: float) -> float:
        """The multiplier of the base learning rate at ``step``: the config's schedule
        (``base(step)``) until a decision, then the decision's cosine segment."""
        if self.segment is None or step < self.segment[0]:
            return base(step)
        start, end, f0 = self.segment
        progress = min((step - start) / max(end - start, 1), 1.0)
        return floor + (f0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def after_epoch(self, record: dict[str, Any], underfit: Callable[[], tuple[bool, str]] | None,
                    factor_now: float | None = None, train_acc: Callable[[], float] | None = None,
                    at_chance: Callable[[], str | None] | None = None) -> str | None:
        """Decide after the epoch of ``record``; returns a line saying what changed (None: nothing).
        ``underfit()`` says whether the model underfits with a still-falling loss, and why;
        called only at the end of the budget. ``factor_now``: the learning-rate multiplier at
        the next step under the current plan (the tail starts from it). ``train_acc()``: the
        accuracy on the whole training split (eval mode), called every :attr:`check_every` steps
        and at the end of an early end's tail. ``at_chance()``: why the run is at chance
        (:func:`chance_check`), None when it is not; called where ``underfit()`` would extend it,
        which it then does not (None: not judged)."""
        step = int(record["step"])
        ending = bool(self.events) and self.events[-1]["decision"] == "end_early"
        if ending and step >= self.total and train_acc is not None:
            acc = float(train_acc())
            if acc >= 1.0:
                return None
            self.recent.append([step, acc])  # (a new early end needs a new stretch of fitted checks)
            before = int(self.events[-1].get("from", self.planned))  # (an event of an older run has no "from")
            end = min(max(before, step + self.stretch), self.cap)
            if end <= step:
                return self._cap_reached(record, f"training accuracy {acc:.3f} at the tail's end")
            return self._decide(record, "fit_lost", end, (step, end, self.rule.restart_lr),
                                f"training accuracy {acc:.3f} at the tail's end: the fit it ended early for "
                                f"did not hold; {end - step} more steps, the learning rate restarting at "
                                f"{self.rule.restart_lr:g} × training.lr")
        if train_acc is not None and not ending and (not self.recent or step - self.recent[-1][0] >= self.check_every):
            self.recent.append([step, float(train_acc())])
            del self.recent[:-(math.ceil(self.stretch / self.check_every) + 1)]  # the checks spanning a stretch
        fitted = (bool(self.recent) and self.recent[-1][0] == step
                  and self.recent[-1][0] - self.recent[0][0] >= self.stretch
                  and all(acc >= 1.0 for _, acc in self.recent))
        if not ending and fitted and self.total - step > self.stretch:
            end = step + self.stretch
            f0 = factor_now if factor_now is not None else 1.0
            return self._decide(record, "end_early", end, (step, end, f0),
                                f"every training series right for {self.stretch} steps: ending after a "
                                f"{self.stretch}-step cosine tail")
        if step < self.total or ending or underfit is None:
            return None
        still, why = underfit()
        if not still:
            return None
        if self.rule.negligible(record):
            loss = float(record["train_loss"])
            self.events.append({
                "epoch": int(record["epoch"]), "step": step, "decision": "not_extended", "total": self.total,
                "why": f"{why}, but the training loss {loss:.2g} is negligible (below {self.rule.loss_floor:.3g}, "
                       f"every training series right in training mode): the eval-mode misses are a train/eval gap "
                       f"(batch norm's running statistics, dropout), not too few steps"})
            return f"budget: {self.events[-1]['why']}; not extended"
        chance = at_chance() if at_chance is not None else None
        if chance is not None:
            self.events.append({"epoch": int(record["epoch"]), "step": step, "decision": "not_extended",
                                "total": self.total, "why": f"{why}, but {chance}"})
            return f"budget: {self.events[-1]['why']}; not extended"
        if self.total >= self.cap:
            return self._cap_reached(record, why)
        end = min(self.total * 2, self.cap)
        return self._decide(record, "extend", end, (step, end, self.rule.restart_lr),
                            f"{why}: {end - step} more steps, the learning rate restarting at "
                            f"{self.rule.restart_lr:g} × training.lr")

    def _cap_reached(self, record: dict[str, Any], why: str) -> str:
        self.events.append({"epoch": int(record["epoch"]), "step": int(record["step"]), "decision": "cap_reached",
                            "total": self.total, "why": f"{why}; adapt.max_steps ({self.cap}) reached"})
        return f"budget: {why}, but adapt.max_steps ({self.cap}) is reached"

    def _decide(self, record: dict[str, Any], decision: str, end: int, segment: tuple[int, int, float],
                why: str) -> str:
        before = self.total
        self.total, self.segment = end, segment
        self.events.append({"epoch": int(record["epoch"]), "step": int(record["step"]), "decision": decision,
                            "total": end, "from": before, "why": why})
        return f"budget: {why} ({before} -> {end} steps)"

    def replan(self, planned: int, step: int, why: str) -> None:
        """A new plan of ``planned`` steps from ``step`` on (``training.steps`` changed on resume):
        the planned end and the learning rate's segment follow it, recorded as a ``replanned``
        decision; the decisions before it stay in the record.

        >>> b = FitBudget.plan(total=100, steps_per_epoch=10, cap=400)
        >>> b.replan(300, step=50, why="--resume with training.steps 100 -> 300")
        >>> b.planned, b.total, b.epochs, b.events[-1]["decision"]
        (300, 300, 30, 'replanned')
        """
        before = self.total
        self.planned = planned
        self.cap = max(self.cap, planned)
        self.total = max(planned, step)
        self.segment = None  # (the config's own schedule, over the new plan)
        self.events.append({"step": step, "decision": "replanned", "total": self.total, "from": before,
                            "why": why})

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps."""
        return {"total": self.total, "segment": list(self.segment) if self.segment else None,
                "recent": [list(r) for r in self.recent], "events": [dict(e) for e in self.events]}

    def load(self, state: dict[str, Any]) -> None:
        self.total = int(state["total"])
        self.segment = tuple(state["segment"]) if state["segment"] else None  # type: ignore[assignment]
        self.recent = [list(r) for r in state["recent"]]
        self.events = [dict(e) for e in state["events"]]

    def to_dict(self) -> dict[str, Any]:
        """``adapt.json``'s ``budget`` part."""
        return {"planned": self.planned, "cap": self.cap, "total": self.total, "events": self.events,
                "rule": {"fitted_fraction": self.rule.fitted_fraction, "fitted_acc": self.rule.fitted_acc,
                         "restart_lr": self.rule.restart_lr, "still_falling": self.rule.still_falling,
                         "loss_floor": self.rule.loss_floor}}


def underfit_check(records: list[dict[str, Any]], train_eval: dict[str, float], config: Config,
                   rule: FitRule) -> tuple[bool, str]:
    """(underfits with a still-falling training loss, why): the underfit finding of
    :func:`rnnlab.doctor.fit.fit_findings` at ``rule.fitted_acc``, and its loss drop over the
    last quarter of the epochs above ``rule.still_falling``."""
    from rnnlab.doctor.fit import FitThresholds, fit_findings

    th = FitThresholds(underfit_acc=rule.fitted_acc)
    found = [f for f in fit_findings(records, train_eval, config, thresholds=th) if f.check == "underfit"]
    acc = float(train_eval["acc"])
    if not found:
        return False, f"training accuracy {acc:.3f}: fitted"
    drop = float(found[0].numbers.get("loss_drop_last_quarter", 0.0))
    if drop <= rule.still_falling:
        return False, f"training accuracy {acc:.3f}, but the training loss fell only {drop:.0%} over the last quarter"
    return True, f"training accuracy {acc:.3f} and the training loss still falling ({drop:.0%} over the last quarter)"


def constant_loss(labels: np.ndarray | None) -> float | None:
    """The training loss of the constant predictor, which gives every series the class
    frequencies of ``labels`` (a classifier's training labels; per step, its labelled steps): the
    entropy of those frequencies in nats, the least cross-entropy a model that ignores its inputs
    reaches. None without labels (another task than classification).

    >>> round(constant_loss(np.array([0, 1, 1, 0])), 4), round(constant_loss(np.array([0, 0, 0, 1])), 4)
    (0.6931, 0.5623)
    """
    if labels is None or np.asarray(labels).size == 0:
        return None
    labels = np.asarray(labels).ravel()
    share = np.unique(labels, return_counts=True)[1] / labels.size
    return float(-(share * np.log(share)).sum())


def chance_check(records: list[dict[str, Any]], train_eval: Mapping[str, float], constant: float | None) -> str | None:
    """Why the budget does not extend a run at chance, in words; None where it may (``constant``
    None: not judged). At chance: the training loss above ``constant``, the constant predictor's
    (:func:`constant_loss`), both its mean over the last quarter of the epochs of ``records``
    (what "still falling" is measured on) and ``train_eval["loss"]`` (the weights in eval mode, the
    whole training split): a model below it in either has learnt something beyond the class
    frequencies, and more steps may help it.

    >>> recs = [{"epoch": e, "step": 3 * e, "train_loss": 9.0 / e} for e in range(1, 9)]
    >>> chance_check(recs, {"loss": 0.9}, constant=0.693).split(";")[0]
    "the training loss is above the constant predictor's 0.693 (the entropy of the training class frequencies): 1.21 on average over the last quarter of the epochs (1.65 over the quarter before), 0.9 in eval mode"
    >>> chance_check(recs, {"loss": 0.5}, constant=0.693) is None, chance_check(recs, {"loss": 0.9}, None) is None
    (True, True)
    """
    from rnnlab.doctor.fit import loss_quarters

    if constant is None or not records:
        return None
    earlier, recent = loss_quarters(records)
    now = float(train_eval["loss"])
    if recent <= constant or now <= constant:  # (a loss that is not a number is no loss below chance)
        return None
    said = (f"the training loss is above the constant predictor's {constant:.4g} (the entropy of the training class "
            f"frequencies): {recent:.3g} on average over the last quarter of the epochs ({earlier:.3g} over the quarter "
            f"before), {now:.4g} in eval mode; the run is at chance, and more steps of it do not make it learn")
    first = float(records[0]["train_loss"])
    top = max(float(r["train_loss"]) for r in records)
    if top > 2 * first:  # (it rose far above where it started: a loss that falls now is coming back from a blow-up)
        return (f"{said}: its loss rose to {top:.3g} from {first:.3g} in the first epoch, and what still falls is its "
                f"way back from that blow-up, not learning; lower training.lr (the health check's learning-rate "
                f"finding, where it has one, says by how much)")
    return (f"{said}: check training.lr (the health check's learning-rate finding, where it has one, says whether it "
            f"is too large) and that each label belongs to its series")
