"""Findings after training: did the model fit its training data, and does it overfit?

:func:`fit_findings` reads only the run's own records: the per-epoch metrics (losses, accuracies,
steps, gradient norms), the accuracy of the trained model on the whole training split, the
config, the health findings from before training and the gradient through time of the trained
model. It returns :class:`~rnnlab.doctor.findings.Finding` objects of phase "after_training":

* ``underfit``: the training accuracy stays far from 1, or, where one class holds most of the
  sequences, near the majority-class rate (``majority``: the constant predictor's score, as a
  regression is judged against the training mean's; 0.95 on 95/5 classes is no fit). The likely
  causes, each read from the records, come with a remedy naming the config key: a model that fits
  in training mode only (batch norm statistics, dropout), too few optimizer steps (few steps, or a
  training loss still falling at the end, by the rule of the budget that follows the fit:
  :class:`rnnlab.train.fit_budget.FitRule`), the class balance (imbalanced classes, by
  ``rnnlab train``'s rule :data:`rnnlab.task.IMBALANCED_BELOW`, and a model that learned little
  beyond the majority class), the learning rate (a loss that hardly fell),
  regularization strength (dropout, decay), dead units (from the health check before training),
  gradient reach (the trained layer's gradient does not reach back over half the sequence:
  ``short_reach``), and,
  when none of these shows, the model's capacity.
* ``overfit``: the validation accuracy stays well below the training accuracy (more than
  ``overfit_gap`` and more than two standard errors of the validation estimate).
* ``no_signal``: given ``chance`` (what the validation part scores without learning anything: the
  majority-class rate), no epoch's validation figure beat it by more than two standard errors
  while the training figure did (the evaluated model's, or, where it fits in eval mode as in
  training mode, an epoch's training-mode figure); it replaces the other two, whose remedies would
  only tune noise. (A training figure within chance too keeps the underfit finding, with this among
  its causes.) A regression per sequence is judged with its ``guard`` (the mean guard's comparison
  of the model's squared error with the training mean's, series by series, on the validation
  part): chance is the training mean's R² of 0, and the noise is the guard's margin (1.645) times
  the standard error of R² that its paired differences measure, so "no signal" says what the
  guard's fallback to the training mean says, where no epoch scored better on validation than the
  weights the guard measured (early stopping restores that epoch); without a guard, not judged. A
  model still learning (a training loss still falling by the underfit's rule, and its training part
  not fit yet) is not judged so: too few steps tell nothing of the targets, so the underfit finding
  speaks, "too few steps" first. With K > 1 targets each target the guard set aside is judged so on
  its own (its R² and z from the guard), and leaves the underfit and overfit checks; no overfit is
  claimed of a target that did not fit its training part or that the guard set aside.

The underfit causes put first what the health check before training measured (``before``): a
learning rate off by the factor its update-to-weight ratio shows (or a gradient norm that blew
up), updates stalled by inputs far from unit scale or saturated gates, then its vanishing-gradient
remedy.

A regression run (``[task] kind = "regression"``) is judged in its own terms: on the training
R² (the trained model against the constant predictor of the training mean, which scores 0;
below ``underfit_r2`` it did not fit), and on the gap between training and validation R²
beyond its noise (two standard errors of a mean squared error on ``n_val`` sequences,
``(1 - R²) · sqrt(2 / n_val)`` each, for roughly normal errors).

A forecaster (``[task] kind = "forecasting"``) is judged on its training *skill* over its own
reference, ``1 - MASE / MASE of the reference forecast`` on its own training part
(``train_eval["skill"]``; ``reference``: the naive or seasonal-naive forecast it learns corrections
to, ``task.relative_to`` as the run resolved it; seasonal naive for ``"none"``). A model that learnt
nothing *is* its reference (a zero-initialised head starts there), skill 0, and runs that learnt
nothing land within a thousandth of it either way; so the model must remove more than
``underfit_skill`` (1 %) of its reference's error, or it learnt nothing beyond the reference: an
underfit, whose usual causes and remedies follow (steps, learning rate, regularization, capacity),
and which says that a series with nothing more to learn (a random walk) leaves the reference as
the forecast to use; a model far worse than its reference whose training MASE rose while its
loss fell (series of very different scales pooled in one loss) gets that as its first cause
instead of more steps or the learning rate.

Where the run's mean guard set the trained network aside (``guard``: its reference forecast, the
training mean), the findings and the verdict still judge the network, and say so and what the
run predicts instead (:func:`guard_set_aside`).

A language model (``[task] kind = "language_model"``) is judged against the unigram entropy of
its training part (``unigram``, nats per token: the loss of predicting every token by its
frequency alone, without context): a training loss (trained model, eval mode, whole training
part) not more than ``underfit_skill`` (1 %) below it learned nothing from the context
(:func:`language_model_underfit`; the forecaster's margin, by one rule: :func:`learnt_beyond`).

A stream (a language model, a forecaster) is validated on one block per series, the same
tokens or steps every epoch, so no count of independent sequences sets the noise of its
validation figure. Its ``overfit`` is read from the epochs instead: the validation figure
(bits per token, MASE) of the evaluated epoch rose above its best epoch's by more than the
figure moves from one epoch to the next (twice the median change, and at least
``overfit_rise`` of the best), while the training figure went on falling.

:func:`fit_findings` returns a :class:`FitFindings`: the findings, and what each check that
raised none found (``checked``), so that "no findings" claims only what was checked
(:func:`fit_verdict`).

Example:
    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[data]\\ndataset = "GunPoint"\\n[training]\\nepochs = 2')
    >>> records = [{"epoch": 1, "step": 4, "train_loss": 0.69, "train_acc": 0.5},
    ...            {"epoch": 2, "step": 8, "train_loss": 0.66, "train_acc": 0.55}]
    >>> [(f.check, f.numbers["steps"]) for f in fit_findings(records, {"acc": 0.56, "loss": 0.66}, cfg)]
    [('underfit', 8)]
    >>> healthy = [{"epoch": 1, "step": 900, "train_loss": 0.02, "train_acc": 1.0}]
    >>> found = fit_findings(healthy, {"acc": 1.0, "loss": 0.01}, cfg)
    >>> found, fit_verdict(found.checked)
    ([], 'the model fit its training data in 900 steps')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

# (the health check's config spellings: one wording per remedy; the reach rule of both phases)
from rnnlab.doctor.checks import KeySpelling, reach_is_short
from rnnlab.doctor.findings import Finding
from rnnlab.rundir import partial_epoch

if TYPE_CHECKING:
    from rnnlab.config import Config
    from rnnlab.task import Task
    from rnnlab.train.final import CarriedGuard
    from rnnlab.train.mean_guard import MeanGuard

#: The checks of this module (the doctor's own are in ``rnnlab.doctor.checks.CHECKS``).
FIT_CHECKS: tuple[str, ...] = ("underfit", "overfit", "no_signal")
PHASE = "after_training"  # the phase of these findings (the doctor's are "before_training")
_DROPOUTS = ("model.dropout", "model.input_dropout", "model.recurrent_dropout", "model.weight_drop",
             "model.zoneout", "model.head.dropout", "model.embedding_dropout")


@dataclass(frozen=True)
class _Terms:
    """How the findings measure and name a fit, per task: the metric (1 is a perfect fit), and
    the words of the findings' sentences. ``stream``: the metric a stream's overfit is read from
    (lower is better), None for tasks of separate sequences."""

    metric: str
    train: str
    val: str
    fit_what: str
    learned: str
    worst: str
    fitted: str = "the model fit its training data"
    stream: str | None = None
    unit: str = "sequences"  # what a classifier's majority-class rate counts
    reference: str = ""  # a forecaster's: the forecast its skill is measured against, in words
    say: KeySpelling = field(default_factory=KeySpelling)
    """How the remedies name the config's keys (a config file's, or an estimator's keywords)."""

    @staticmethod
    def of(task: Task, say: KeySpelling | None = None, reference: str = "seasonal_naive") -> _Terms:
        return replace(_Terms._of(task, reference), say=say or KeySpelling())

    @staticmethod
    def _of(task: Task, reference: str = "seasonal_naive") -> _Terms:
        if task.kind == "language_model":  # (its underfit is language_model_underfit's, against the unigram entropy)
            return _Terms("bpc", "training bits per token", "validation bits per token", "", "what predicts the "
                          "next token of new text", "", "the model learned from context", stream="bpc")
        if task.kind == "forecasting":  # skill: 1 - MASE / its reference forecast's MASE on the same steps
            name = skill_reference(reference).replace("_", " ")
            what = ("repeating the last value" if name == "naive" else "repeating the value one season back")
            corrects = reference != "none"  # ("none": the model forecasts the values themselves)
            return _Terms("skill", f"training skill over {name} (1 - MASE / its MASE)",
                          "validation skill", f"forecast its own training series better than {what} will not "
                          "forecast the future", "the series' dynamics",
                          " on its own training part" + (": nothing learnt beyond the forecast it learns "
                                                          "corrections to)" if corrects else ")"),
                          f"the model forecast its training part better than {name}"
                          + (" (its reference)" if corrects else ""), stream="mase", reference=name)
        if task.per_step:  # the figures are over every valid step; their noise still counts sequences
            if task.kind == "regression":
                return _Terms("r2", "training per-step R²", "validation per-step R²", "predict the steps of its own "
                              "training sequences will not predict new ones", "the values",
                              " (no better than predicting the training steps' mean)")
            return _Terms("acc", "training per-step accuracy", "validation per-step accuracy", "label the steps of its "
                          "own training sequences will not label new ones", "the labels",
                          " (no training step labelled right)", unit="labelled steps")
        if task.kind == "regression":
            return _Terms("r2", "training R²", "validation R²", "predict its own training targets will not predict "
                          "new ones", "the values", " (no better than predicting the training mean)")
        return _Terms("acc", "training accuracy", "validation accuracy", "classify its own training sequences will "
                      "not classify new ones", "the classes", " (no training sequence classified right)")

    def noise(self, value: float, n_val: int) -> float:
        """Two standard errors of the validation metric measured on ``n_val`` sequences (per
        step too: the steps of one sequence are not independent draws, so the count that sets
        the noise is the sequences')."""
        if self.metric == "r2":
            return 2 * max(1.0 - value, 1.0 / n_val) * math.sqrt(2.0 / n_val)
        return 2 * math.sqrt(max(value * (1 - value), 1.0 / n_val) / n_val)


class FitFindings(list[Finding]):
    """The findings after training (a list of :class:`Finding`, empty when the run fit and
    generalises), and ``checked``: for each check that ran and raised nothing, what it found, in
    words (``{"underfit": "the model fit its training data in 400 steps", "overfit": "no sign of
    overfitting"}``). A check that did not run (no validation part, too few epochs) is absent, so
    a line built from ``checked`` (:func:`fit_verdict`) claims nothing that was not checked."""

    def __init__(self, findings: Iterable[Finding] = (), checked: Mapping[str, str] | None = None) -> None:
        super().__init__(findings)
        self.checked: dict[str, str] = dict(checked or {})


def skill_reference(reference: str | None) -> str:
    """The forecast a forecaster's training skill is measured against: its reference, the naive or
    seasonal-naive forecast it learns corrections to (``task.relative_to`` resolved), and seasonal
    naive for a model that forecasts values (``"none"``) or an unresolved ``"auto"``.

    >>> skill_reference("naive"), skill_reference("none")
    ('naive', 'seasonal_naive')
    """
    return reference if reference in ("naive", "seasonal_naive") else "seasonal_naive"


def relative_skill(figure: float, reference: float) -> float:
    """``1 - figure / reference``: the share of a reference's error (or loss) a model removed, as a
    forecaster's skill over its reference forecast's MASE and a language model's over the unigram
    entropy; 0 where the reference is 0 or not finite (nothing to remove).

    >>> round(relative_skill(0.68201, 0.68221), 5), relative_skill(1.0, 2.0)
    (0.00029, 0.5)
    """
    return 1.0 - figure / reference if reference > 0 and math.isfinite(reference) else 0.0


def learnt_beyond(skill: float, th: FitThresholds) -> bool:
    """Whether a model with this :func:`relative_skill` over its reference (a forecaster's reference
    forecast, a language model's unigram entropy) learnt something beyond it: more than
    ``th.underfit_skill`` of the reference's error removed. A model that learnt nothing lands within
    a thousandth of 0 either way, so a line at 0 would call that noise learning.

    >>> learnt_beyond(0.0003, FitThresholds()), learnt_beyond(0.05, FitThresholds())
    (False, True)
    """
    return skill > th.underfit_skill


def fit_verdict(checked: Mapping[str, str]) -> str:
    """What a run without findings after training may say of its fit: what each check that ran
    found (:attr:`FitFindings.checked`), or that none ran.

    >>> fit_verdict({"underfit": "the model fit its training data in 400 steps", "overfit": "no sign of overfitting"})
    'the model fit its training data in 400 steps; no sign of overfitting'
    >>> fit_verdict({})
    'the fit was not judged'
    """
    return "; ".join(checked.values()) or "the fit was not judged"


@dataclass(frozen=True)
class FitThresholds:
    """Where the findings after training draw their lines.

    Attributes:
        underfit_acc: training accuracy (trained model, eval mode, whole training split) below
            which the model did not fit its training data.
        underfit_majority: the share of the majority-class predictor's training errors
            (``1 - majority``) the model must remove, or it did not fit, whatever ``underfit_acc``:
            on 95/5 classes labelling everything with the first scores 0.95, so the bar is 0.975.
            (Accuracy's counterpart of ``underfit_r2``, which the training mean scores 0 on.)
        few_steps: optimizer steps below which "too few steps" is a cause of an underfit (unless
            the training loss had stopped moving; below a fifth of it, always).
        still_falling: relative drop of the training loss over the last quarter of the epochs
            above which the loss was still falling when training stopped. None: the budget's
            (:attr:`rnnlab.train.fit_budget.FitRule.still_falling`), so that a run the budget
            calls still falling when it reached ``adapt.max_steps`` gets "more steps" here too.
        stuck_loss: final / first-epoch training loss above which the loss hardly fell.
        strong_dropout: a dropout probability at or above this counts as strong.
        strong_decay: ``lr × weight_decay × steps`` (the log of how much decoupled decay alone
            would shrink a weight over the run) above which decay counts as strong.
        grad_rel: the gradient reaches back to where it falls below this times its last value.
        mode_gap: training-mode accuracy of the evaluated epoch (the last, or early stopping's
            restored best) minus the eval-mode training accuracy of its weights above which the
            model fits only in training mode (batch norm statistics, dropout).
        overfit_gap: training minus validation accuracy above which the model overfits.
        min_val: validation sequences needed to call a model overfit (fewer tell too little).
    """

    underfit_acc: float = 0.95
    underfit_majority: float = 0.5
    underfit_r2: float = 0.5
    """Regression: training R² below which the model did not fit (the training mean scores 0)."""
    underfit_skill: float = 0.01
    """Forecasting: training skill (1 - MASE / its reference forecast's MASE, on the training part:
    :func:`skill_reference`) at or below which the forecaster learnt nothing beyond its reference.
    A model that learnt nothing is its reference, skill 0 (a random walk with ``lr = 1e-5``: 0.0000);
    runs that learnt nothing were seen at +0.0006 and -0.0007, so the line is drawn well above that
    noise, at 1 % of the reference's error, and the verdict does not flip on it. A language model's
    by the same rule (:func:`learnt_beyond`): its training loss must be more than 1 % below the
    unigram entropy (independently drawn words, learnt nothing: 0.03 % below it)."""
    worse_skill: float = -1.0
    """Forecasting: a training skill under this (the model's error more than twice its reference's;
    a zero-initialised head starts at 0) whose training MASE rose while its loss fell is a loss that
    fits something MASE does not score (:func:`_loss_against_mase`): its first cause, before steps
    and the learning rate (a panel whose series differ 100-fold in scale: -16.9 after 20 steps,
    -42.8 after 300)."""
    few_steps: int = 500
    still_falling: float | None = None
    stuck_loss: float = 0.9
    strong_dropout: float = 0.3
    strong_decay: float = 1.0
    grad_rel: float = 1e-3
    short_reach: float = 0.5
    """The gradient reach (where |dLoss/dh_t| falls below ``grad_rel`` × its value at the last
    step: inputs further back barely shape the updates), as a fraction of the steps the layer runs,
    under which it is an underfit's cause. At or over half the sequence the gradient reaches most
    of it: a dependency longer than that is rare next to the other causes (27 of 30 steps, cited,
    hid too few steps). The health check before training draws the same line
    (:func:`rnnlab.doctor.checks.reach_is_short`) at its own, higher :attr:`rnnlab.doctor.checks.
    Thresholds.short_reach` (three quarters): its vanishing gradient is a cause of its own."""
    mode_gap: float = 0.2
    overfit_gap: float = 0.15
    min_val: int = 10
    grad_blowup: float = 1e4
    """A recorded gradient norm above this (or a non-finite one) blew up: with normalized inputs and a
    loss of order 1 the gradient norm stays far below it, so the learning rate is the first suspect."""
    overfit_rise: float = 0.05
    """Streams: the smallest rise of the validation figure above its best epoch's, as a fraction
    of that best, that counts as overfitting (its epoch-to-epoch movement may ask for more)."""
    min_val_epochs: int = 3
    """Streams: validated epochs needed to judge overfitting (the movement between epochs is
    read from them)."""


def fit_findings(
    records: list[dict[str, Any]],
    train_eval: Mapping[str, float],
    config: Config,
    *,
    n_val: int = 0,
    before: Iterable[Finding] = (),
    through_time: Mapping[str, Any] | None = None,
    thresholds: FitThresholds | None = None,
    stopped_by_caller: bool = False,
    unigram: float | None = None,
    epoch: int | None = None,
    chance: float | None = None,
    guard: MeanGuard | None = None,
    majority: float | None = None,
    spelling: KeySpelling | None = None,
    reference: str | None = None,
    by_target: Mapping[str, Any] | None = None,
    carried: CarriedGuard | None = None,
) -> FitFindings:
    """Underfit / overfit findings of a finished run (empty when it fit and generalises), with
    what each check that raised none found (:attr:`FitFindings.checked`).

    A run its caller ended before its budget (a search's pruner, through ``train(on_epoch=)``)
    is not judged: one ``info`` finding says so instead of blaming its steps.

    Args:
        records: the per-epoch records of ``metrics.jsonl``.
        train_eval: ``{"acc", "loss"}`` of the trained model on the whole training split.
        config: the run's config (the remedies name its keys and current values).
        n_val: size of the validation split (0: no overfit check).
        before: the health findings from before training (dead units).
        through_time: ``{name: GradThroughTime}`` of the trained model (gradient reach).
        thresholds: where to draw the lines (default :class:`FitThresholds`).
        unigram: a language model's training-part unigram entropy (nats per token).
        epoch: the epoch whose weights ``train_eval`` measured (early stopping restores the best
            epoch's); its record holds the training-mode and validation figures they are compared
            with. None: the last epoch.
        chance: what the validation part scores without learning anything from the inputs, in the
            task's metric: the majority-class rate of the validation part (classification), 0
            (regression R²: the constant predictor of the training mean). When no epoch's
            validation figure beats it by more than its noise while the training figure does, one
            ``no_signal`` finding replaces the underfit and overfit findings (if the training figure
            does not either, the underfit finding names it among its causes). None: not judged.
        guard: a regression's mean guard (:class:`rnnlab.train.mean_guard.MeanGuard` of the evaluated
            weights on the validation part): its paired differences set the noise of R², against the
            training mean's 0 (``chance`` is not needed then). None: a regression's signal is not
            judged (two standard errors of an unpaired R² on a few dozen series, ``2 · sqrt(2 / n)``,
            would call most learnable targets noise).
        majority: a classifier's majority-class rate on its training part (per step: over the
            labelled steps), what labelling everything with one class scores: the training
            accuracy must beat it (:attr:`FitThresholds.underfit_majority`), and where the classes
            are imbalanced (the others together under :data:`rnnlab.task.IMBALANCED_BELOW` of the
            majority class) the findings say it beside the accuracy and name the class balance
            among the underfit's causes. None: ``chance``
            (the stratified hold-out keeps the class balance); neither: judged on
            ``underfit_acc`` alone.
        spelling: how the remedies name the config's keys (:class:`rnnlab.doctor.checks.KeySpelling`):
            None, as a config file sets them (``training.steps = 2000``); a scikit-learn
            estimator's run passes its keywords (``steps=2000``, else ``params={...}``).
        reference: a forecaster's reference forecast as the run resolved ``task.relative_to``
            (``"naive"``, ``"seasonal_naive"``, ``"none"``), which ``train_eval["skill"]`` is
            measured against (:func:`skill_reference`). None: ``task.relative_to`` itself (an
            ``"auto"`` that is not resolved reads as seasonal naive).
        by_target: a regression's figures per target (K > 1), as
            :attr:`rnnlab.train.trainer.TrainResult.by_channel` holds them (``{"train_eval": {"r2":
            {name: R²}}, "val": ...}``): the underfit and overfit checks then judge each target's R²
            and name the targets that fail (the mean of their R², ``train_eval["r2"]``, can hide one
            that does not fit); the validation R² per target is ``by_target["val"]``'s, else the mean
            guard's (``guard.by_target``, of the same weights). None: the pooled figures alone.
        carried: a final run's mean-guard decision carried from its fold runs
            (:class:`rnnlab.train.final.CarriedGuard`; it has no guard of its own): where it set
            the network aside, each finding says so, as under the run's own guard.
    """
    from rnnlab.task import task_for

    th = thresholds or FitThresholds()
    if not records:
        return FitFindings()
    task = task_for(config)
    terms = _Terms.of(task, spelling, reference or config.task.relative_to)
    say = terms.say
    targets = _targets(by_target, guard) if terms.metric == "r2" else None
    if stopped_by_caller:
        steps, epochs = int(records[-1]["step"]), len(records)
        return FitFindings([Finding(
            check="stopped", severity="info", phase=PHASE,
            title=f"Stopped by its caller after {epochs} epoch{'s' if epochs != 1 else ''} ({steps} optimizer steps): "
                  "fit not judged",
            numbers={"steps": steps, "epochs": epochs, f"train_{terms.metric}": float(train_eval[terms.metric])},
            message="The code that ran training ended it before its budget (for `rnnlab search`, the "
                    "pruner: the trial scored below the others at this point), so whether the model "
                    "fits its training data is not judged.",
            remedy="")])
    found, checked = FitFindings(), {}
    steps = int(records[-1]["step"])
    # (the last epoch's figures describe other weights than train_eval's when early stopping restored an
    # earlier epoch: a training-mode R² of 0.88 at epoch 21 against the restored epoch 1's 0.0 is no mode gap)
    evaluated = next((r for r in records if r["epoch"] == epoch), records[-1]) if epoch is not None else records[-1]
    # (what the verdict is of: the evaluated weights' steps, not those trained past them)
    in_steps = f"in {int(evaluated['step'])} steps" + (
        f" (epoch {evaluated['epoch']}'s weights, kept by early stopping; training ran {steps})"
        if evaluated is not records[-1] else "")
    if task.kind == "language_model":
        underfit = None
        if unigram is not None:  # (without it, whether the model learned from context is not judged)
            underfit = language_model_underfit(records, train_eval, config, unigram, th, spelling=say)
            bits = 1 / math.log(2)
            gain = relative_skill(float(train_eval["loss"]), unigram)
            checked["underfit"] = (f"{terms.fitted} {in_steps}, {float(train_eval['loss']) * bits:.3f} bits per "
                                   f"token on its training text against a unigram entropy of {unigram * bits:.3f} "
                                   f"({gain:.1%} below it, more than the {th.underfit_skill:.0%} it must be)")
    else:
        at_chance = _at_chance(records, n_val, chance, th, terms, guard, evaluated)
        learned = _learned(records, evaluated, train_eval, th, terms)
        # (a loss still falling on a model that has not fit its training part yet: too few steps to tell
        # signal from none, so the underfit's "too few steps" speaks, not "check the targets")
        falling = _loss_trend(records, th).falling
        fit_line = th.underfit_r2 if terms.metric == "r2" else th.underfit_acc
        if at_chance is not None and learned[0] > at_chance.chance + at_chance.noise and \
                not (falling and learned[0] < fit_line):
            # (it learned its training part beyond chance, nothing that carries over: tuning the fit,
            # steps or regularization, cannot help a model that finds nothing to learn)
            return _of_the_network(FitFindings([_no_signal(records, learned, config, n_val, at_chance, terms)], {}),
                                   guard)
        quiet = _targets_at_chance(records, evaluated, targets, guard, n_val, th) if targets is not None else {}
        # (K > 1: each target the guard set aside gets the judgement one target gets; while the model as a
        # whole is still early, a loss still falling and no target fit, too few steps speak for them too)
        early = falling and targets is not None and max(targets.train.values()) < th.underfit_r2
        signal_less = {} if early else {n: q for n, q in quiet.items() if targets.train[n] > q.noise}  # type: ignore[union-attr]
        if signal_less:
            assert targets is not None
            found.append(_targets_no_signal(records, config, n_val, signal_less, targets, terms))
            targets = targets.without(signal_less)
        if terms.metric != "acc":
            majority = None
        elif majority is None:
            majority = chance
        underfit = _underfit(records, evaluated, train_eval, config, list(before), through_time or {}, th, terms,
                             at_chance, majority, targets,
                             {n: q for n, q in quiet.items() if n not in signal_less and n in targets.train}
                             if targets is not None else {})
        checked["underfit"] = f"{terms.fitted} {in_steps}"
        if targets is not None:  # (each target's, which the check judged: the mean can hide one)
            checked["underfit"] += f" ({terms.train} {targets.said(targets.train)})"
        if terms.metric == "skill":  # (by how much, and the margin it beat: "better" alone claims any gain)
            better = f"{float(train_eval['skill']):.1%} better than"
            checked["underfit"] = (f"{terms.fitted.replace('better than', better, 1)} {in_steps}, more than the "
                                   f"{th.underfit_skill:.0%} it must be")
        if imbalanced(majority):
            # (accuracy alone flatters a model where one class holds most sequences: say what one class scores)
            checked["underfit"] += (f" ({terms.train} {float(train_eval[terms.metric]):.3f}; the majority class "
                                    f"alone scores {majority:.3f})")
    if underfit is not None:
        found.append(underfit)
        del checked["underfit"]
    if targets is not None:
        # (a target that did not fit its training part, or that the guard set aside, learned nothing to
        # overfit: its training R² against its validation R² is no memorising)
        aside = set(getattr(guard, "at_mean", None) or ()) | {n for n, v in targets.train.items() if v < th.underfit_r2}
        if not set(targets.train) - aside:
            found.checked = checked
            return _of_the_network(found, guard if carried is None else carried)
        targets = targets.without(aside)
    overfit, said = _overfit(records, evaluated, train_eval, config, n_val, th, terms, task, targets)
    if overfit is not None:
        found.append(overfit)
    elif said:
        checked["overfit"] = said
    found.checked = checked
    return _of_the_network(found, guard if carried is None else carried)


def guard_set_aside(guard: MeanGuard | CarriedGuard | None) -> str:
    """What the run predicts with where its mean guard set the trained network aside, in words
    (``""`` where the network predicts everything, or there is no guard): the findings after
    training judge the network, and must say that the run's figures are not its. A final run's
    decision carried from its fold runs' guards (:class:`rnnlab.train.final.CarriedGuard`) says so.

    >>> from rnnlab.train.mean_guard import MeanGuard
    >>> guard_set_aside(MeanGuard(False, 3.65, 3.64, -1.1, 22, baseline="seasonal naive", rows="origins"))
    'the run predicts seasonal naive instead: task.mean_guard set the network aside'
    >>> guard_set_aside(MeanGuard(True, 0.5, 1.0, 3.2, 28))
    ''
    >>> from rnnlab.train.final import CarriedGuard
    >>> guard_set_aside(CarriedGuard(kept=False, runs=5, chose_mean=4))
    'the run predicts the training mean instead: the mean guards of 4 of 5 fold runs set the network aside (carried to this final run)'
    """
    if guard is None:
        return ""
    carried = getattr(guard, "carried", "")  # (a final run's decision, from its fold runs' guards)
    who = f"the mean guards of {carried}" if carried else "task.mean_guard"
    aside = f"{who} set the network aside"
    said = " (carried to this final run)" if carried else ""
    if not guard.kept:
        return f"the run predicts {guard.baseline} instead: {aside}{said}"
    if guard.at_mean:  # (K > 1 targets decided one by one: those the network no longer predicts)
        one = len(guard.at_mean) == 1
        return (f"the run predicts {', '.join(guard.at_mean)} by {'its' if one else 'their'} training "
                f"mean{'' if one else 's'} instead: {aside} for {'it' if one else 'them'}{said}")
    return ""


def _of_the_network(found: FitFindings, guard: MeanGuard | CarriedGuard | None) -> FitFindings:
    """``found``, each finding and verdict saying that it judges the trained network where the mean
    guard set that network aside (:func:`guard_set_aside`): the run's figures, its report and
    ``rnnlab predict`` are then the guard's baseline's, and a finding that read as the run's would
    contradict them (a forecaster's skill of -0.008 beside a run that predicts its reference, skill 0)."""
    instead = guard_set_aside(guard)
    if not instead:
        return found
    judged = FitFindings([replace(
        f, title=f"{f.title} (the trained network's figures; {instead})",
        numbers={**f.numbers, "mean_guard_kept": bool(guard.kept)} if guard is not None else f.numbers,
        message=f"{f.message} This finding judges the trained network: {instead}; what the run reports and "
                "rnnlab predict writes for what the guard replaced are not the network's figures; the remedies "
                "are for a network that would beat what the run predicts instead.") for f in found], found.checked)
    if "underfit" in judged.checked:
        judged.checked["underfit"] += f" (the trained network; {instead})"
    return judged


@dataclass(frozen=True)
class _Targets:
    """A regression's R² per target (K > 1): the trained model's on its training part and, where
    measured, on the validation part (the evaluated weights), by name."""

    train: dict[str, float]
    val: dict[str, float] | None

    def said(self, figures: Mapping[str, float], names: Iterable[str] | None = None) -> str:
        """``figures`` of ``names`` (default: all) as the findings say them: "0.990, 0.120 for conc, count".

        >>> _Targets({}, None).said({"conc": 0.99, "count": -0.05})
        '0.990, -0.050 for conc, count'
        """
        names = list(figures) if names is None else list(names)
        return ", ".join(f"{figures[n]:.3f}" for n in names) + " for " + ", ".join(names)

    def without(self, names: Iterable[str]) -> _Targets:
        """These figures less the targets ``names`` (judged elsewhere: no signal, set aside).

        >>> _Targets({"a": 0.9, "b": 0.2}, {"a": 0.8, "b": 0.0}).without(["b"])
        _Targets(train={'a': 0.9}, val={'a': 0.8})
        """
        out = set(names)
        return _Targets({n: v for n, v in self.train.items() if n not in out},
                        None if self.val is None else {n: v for n, v in self.val.items() if n not in out})


def _targets(by_target: Mapping[str, Any] | None, guard: MeanGuard | None) -> _Targets | None:
    """:class:`_Targets` from ``fit_findings``' ``by_target`` and ``guard``; None for one target."""
    train = dict(((by_target or {}).get("train_eval") or {}).get("r2") or {})
    if len(train) < 2:
        return None
    val = ((by_target or {}).get("val") or {}).get("r2")
    if val is None and guard is not None and len(guard.by_target) == len(train):
        # (the guard measured the evaluated weights on the validation rows, target by target, in order)
        val = {name: t.r2 for name, t in zip(train, guard.by_target, strict=True)}
    return _Targets(train, dict(val) if val is not None else None)


@dataclass(frozen=True)
class _Chance:
    """No epoch's validation figure beat chance (:func:`_at_chance`): the best epoch's record,
    chance, the noise it had to be beaten by, how that noise was measured (in words), and the
    mean guard's z where it measured it."""

    best: dict[str, Any]
    chance: float
    noise: float
    how: str
    guard_z: float | None = None


def _at_chance(records: list[dict[str, Any]], n_val: int, chance: float | None, th: FitThresholds,
               terms: _Terms, guard: MeanGuard | None = None,
               evaluated: Mapping[str, Any] | None = None) -> _Chance | None:
    """What :class:`_Chance` holds when no epoch's validation figure beat ``chance`` by more than
    its noise on ``n_val`` sequences; None when one did, or when it is not judged (no chance given,
    a stream, too few validation sequences; a regression without its mean guard).

    A regression's chance is the training mean's R² of 0, and its noise the guard's: R² of the
    evaluated weights is ``1 - model_mse / mean_mse``, the guard's z its mean paired gain over the
    gain's standard error, so ``R² / z`` is the standard error of R² on these series, and no epoch
    beat the training mean when none's R² exceeds the guard's margin times it. That standard error
    is the evaluated weights' own (a model nearer the targets spreads its gains differently), so it
    is judged only where no epoch scored a higher validation R² than the evaluated one (``evaluated``:
    its record; early stopping on the validation loss restores that epoch)."""
    key = f"val_{terms.metric}"
    if terms.stream is not None or n_val < th.min_val:
        return None
    guard_z = None
    if terms.metric == "r2":
        if guard is None or guard.kept or guard.mean_mse <= 0:
            return None
        se = (1.0 - guard.model_mse / guard.mean_mse) / guard.z if guard.z != 0 else math.nan
        if not (math.isfinite(se) and se > 0):  # (no spread between the series: nothing measures the noise)
            return None
        chance, noise, guard_z = 0.0, guard.margin * se, guard.z
        how = (f"that chance allows: {guard.margin:g} standard errors of R² ({se:.3f} each), from the mean guard's "
               f"series-by-series differences of squared error on the {n_val} validation series (z = {guard.z:.2g})")
    elif chance is None:
        return None
    else:
        noise = terms.noise(chance, n_val)
        how = f"that chance allows on {n_val} validation sequences"
    val = [r for r in records if math.isfinite(float(r.get(key, math.nan)))]
    if not val:
        return None
    best = max(val, key=lambda r: float(r[key]))
    if guard_z is not None and (evaluated is None or float(best[key]) > float(evaluated.get(key, -math.inf))):
        return None  # (an epoch beat the weights the guard measured: their noise is not that epoch's)
    return _Chance(best, chance, noise, how, guard_z) if float(best[key]) <= chance + noise else None


@dataclass(frozen=True)
class _TargetChance:
    """One of K > 1 targets the mean guard set aside (:func:`_targets_at_chance`): its validation R²
    of the evaluated weights, the noise chance allows it (the guard's margin times its standard
    error), and the guard's z on it."""

    val: float
    noise: float
    z: float


def _targets_at_chance(records: list[dict[str, Any]], evaluated: Mapping[str, Any], targets: _Targets,
                       guard: MeanGuard | None, n_val: int, th: FitThresholds) -> dict[str, _TargetChance]:
    """The targets of a K > 1 regression whose validation R² did not beat their training mean by
    the guard's margin (the guard set them aside), by name, with what :class:`_TargetChance`
    holds: :func:`_at_chance`'s judgement of one target, target by target. The records hold the
    pooled figures alone, so, as there, it is judged only where no epoch's pooled validation R² beat
    the evaluated weights' (whose noise the guard measured). Empty where not judged."""
    by = {t.name: t for t in (guard.by_target if guard is not None else ())}
    if n_val < th.min_val or not by or guard is None:
        return {}
    val = [float(r["val_r2"]) for r in records if math.isfinite(float(r.get("val_r2", math.nan)))]
    if not val or max(val) > float(evaluated.get("val_r2", -math.inf)):
        return {}
    out = {}
    for name in targets.train:
        t = by.get(name)
        if t is None or t.beats_mean or t.z == 0 or not t.mean_mse > 0:
            continue
        se = t.r2 / t.z
        if math.isfinite(se) and se > 0:
            out[name] = _TargetChance(t.r2, guard.margin * se, t.z)
    return out


@dataclass(frozen=True)
class _LossTrend:
    """The training loss over a run's whole epochs (:func:`_loss_trend`): the losses, their relative
    drop over the last quarter of the epochs, whether that drop says the loss was still falling (the
    budget's rule), and whether the loss hardly fell at all (``stuck``)."""

    losses: list[float]
    drop: float
    falling: bool
    stuck: bool


def _whole_epoch_losses(records: list[dict[str, Any]]) -> list[float]:
    """The training losses of the whole epochs (a partial last epoch's is a mean over fewer steps);
    the first record's where none is whole."""
    return [float(r["train_loss"]) for r in records if partial_epoch(r) is None] or [float(records[0]["train_loss"])]


def loss_quarters(records: list[dict[str, Any]]) -> tuple[float, float]:
    """(the mean training loss over the quarter of the epochs before the last, over the last
    quarter) of ``records`` (metrics.jsonl's, at least one): what "still falling" is measured
    on, here and by the budget that follows the fit (:mod:`rnnlab.train.fit_budget`).

    >>> loss_quarters([{"epoch": e, "step": 10 * e, "train_loss": float(9 - e)} for e in range(1, 9)])
    (3.5, 1.5)
    """
    losses = _whole_epoch_losses(records)
    epochs = len(records)
    q = max(1, epochs // 4)
    earlier = sum(losses[-2 * q:-q]) / q if epochs >= 2 * q else losses[0]
    return earlier, sum(losses[-q:]) / q


def _loss_trend(records: list[dict[str, Any]], th: FitThresholds) -> _LossTrend:
    """:class:`_LossTrend` of ``records``: one rule for the underfit's "too few steps" and for when
    a no-signal verdict waits for more steps.

    >>> t = _loss_trend([{"epoch": 1, "step": 7, "train_loss": 1.02}, {"epoch": 2, "step": 14, "train_loss": 0.74}],
    ...                 FitThresholds())
    >>> round(t.drop, 3), t.falling, t.stuck
    (0.275, True, False)
    """
    losses = _whole_epoch_losses(records)
    earlier, recent = loss_quarters(records)
    drop = (earlier - recent) / earlier if earlier > 0 else 0.0
    if th.still_falling is None:
        # (imported here: rnnlab.train imports the trainer, which imports this module)
        from rnnlab.train.fit_budget import FitRule

        still_falling = FitRule().still_falling
    else:
        still_falling = th.still_falling
    return _LossTrend(losses, drop, drop > still_falling, losses[-1] > th.stuck_loss * losses[0])


def _stopped_by_patience(records: list[dict[str, Any]], evaluated: Mapping[str, Any], config: Config) -> bool:
    """Whether early stopping ended the run: its patience of epochs without improvement ran out
    after the evaluated (restored) epoch. A run whose budget ended first kept its best epoch too,
    but its later epochs were not judged by patience: more steps might have improved on it."""
    patience = config.training.early_stopping.patience
    return patience > 0 and int(records[-1]["epoch"]) - int(evaluated["epoch"]) >= patience


def _learned(records: list[dict[str, Any]], evaluated: dict[str, Any], train_eval: Mapping[str, float],
             th: FitThresholds, terms: _Terms) -> tuple[float, str]:
    """How far the model learned its training part, and in words: the evaluated weights' figure
    (eval mode, whole training part), or an epoch's training-mode figure when higher, unless the
    evaluated weights fit in training mode only (a mode gap: there the training-mode figures say
    nothing of what eval mode learned). Early stopping on noise restores an early epoch, whose
    weights learned little; the later epochs show what the model could learn."""
    trained = float(train_eval[terms.metric])
    key = f"train_{terms.metric}"
    gap = float(evaluated.get(key, trained)) - trained
    modes = [r for r in records if math.isfinite(float(r.get(key, math.nan)))]
    if gap > th.mode_gap or not modes:
        return trained, f"the {terms.train} reached {trained:.3f}"
    top = max(modes, key=lambda r: float(r[key]))
    if float(top[key]) <= trained:
        return trained, f"the {terms.train} reached {trained:.3f}"
    return float(top[key]), (f"the {terms.train} reached {float(top[key]):.3f} in training mode at epoch "
                             f"{int(top['epoch'])} ({trained:.3f} for the evaluated weights)")


def signal_checks(values: bool) -> str:
    """What to check where a model learned nothing that carries over to the validation part (the
    ``no_signal`` finding's remedy; ``rnnlab recipe`` gives it where every run predicted the
    training mean): the targets (``values``) or labels, then a simpler model.

    >>> signal_checks(True).split(":")[0], signal_checks(False).split(":")[0]
    ('check the targets', 'check the labels')
    """
    named, belongs, same, simpler = (("targets", "each target belongs to its series", "the validation part holds "
                                      "the same kind of targets as the training part", "a linear model on simple "
                                      "features of the series (mean, spread, last value) beats the training mean")
                                     if values else
                                     ("labels", "each label belongs to its series", "the validation part is "
                                      "labelled as the training part", "a simpler baseline (nearest neighbour, or "
                                      "a linear model on the series) does better than chance"))
    return (f"check the {named}: that {belongs} (alignment after sorting, shuffling or joining files) and that "
            f"{same}; then check that {simpler}")


def _no_signal(records: list[dict[str, Any]], learned: tuple[float, str], config: Config, n_val: int,
               at: _Chance, terms: _Terms) -> Finding:
    """The ``no_signal`` finding: the model learned its training part, yet no epoch's validation
    figure beat chance (:func:`_at_chance`), so neither more steps nor more regularization will
    make it generalise."""
    key = f"val_{terms.metric}"
    best, chance, noise = at.best, at.chance, at.noise
    trained, reached = learned
    values = terms.metric == "r2"
    baseline = "the constant predictor of the training mean" if values else "the majority-class rate"
    numbers = {key: float(records[-1].get(key, math.nan)), f"best_{key}": float(best[key]),
               "best_val_epoch": int(best["epoch"]), "chance": chance, "n_val": n_val,
               f"train_{terms.metric}": trained, "epochs": len(records), "steps": int(records[-1]["step"])}
    if at.guard_z is None:
        numbers["noise_2se"] = noise
    else:  # (the guard's margin of its standard errors, not two)
        numbers.update(noise=noise, mean_guard_z=at.guard_z)
    named = "targets" if values else "labels"
    return Finding(
        check="no_signal", severity="warning", phase=PHASE,
        title=f"No learning beyond chance on the validation part: {terms.val} at best {float(best[key]):.3f} "
              f"(epoch {int(best['epoch'])}) against {chance:.3f} for {baseline}",
        numbers=numbers,
        message=(f"In no epoch did the {terms.val} beat {baseline} ({chance:.3f}) by more than the {noise:.3f} "
                 f"{at.how}, while {reached}: whatever the model learned from its training sequences does not "
                 f"carry over. The {named} may carry no signal this model can find; overfit or underfit remedies "
                 f"(more steps, regularization, a larger model) would only tune noise."),
        remedy=_signal_remedy(config, n_val, terms, values),
    )


def _signal_remedy(config: Config, n_val: int, terms: _Terms, values: bool) -> str:
    """The no-signal finding's remedy: check the targets or labels (:func:`signal_checks`), unless
    ``data.val_fraction`` over one half left the training part smaller than the validation part,
    which comes first (a model of a few series learns little, whatever they hold); a small
    validation part; a head that may miss a short pattern."""
    vf, key = config.data.val_fraction, terms.say.key("data.val_fraction")
    named = "targets" if values else "labels"
    small = ""
    if vf > 0.5:
        trained = round(n_val * (1 - vf) / vf)
        small = (f"first lower {key} (now {vf:g}: about {trained} training sequences against {n_val} validation "
                 f"ones), e.g. to 0.2: a model trained on that few learns little, whatever its {named} hold; then ")
    return (small + signal_checks(values)
            + (f"; with only {n_val} validation sequences, enlarge {key} (now {vf:g}) to tell a weak signal from none"
               if n_val < 50 else "")
            + _summary_remedy(config, terms.say, named) + ".")


def _targets_no_signal(records: list[dict[str, Any]], config: Config, n_val: int,
                       quiet: Mapping[str, _TargetChance], targets: _Targets, terms: _Terms) -> Finding:
    """The ``no_signal`` finding of some of K > 1 targets (``quiet``, :func:`_targets_at_chance`):
    each learned its training part beyond its noise, yet its validation R² did not beat its
    training mean by it, so the underfit and overfit remedies (more steps, dropout) would only
    tune noise on it, as :func:`_no_signal` says of one target."""
    names = list(quiet)
    one = len(names) == 1
    val = {n: q.val for n, q in quiet.items()}
    noise = ", ".join(f"{q.noise:.3f}" for q in quiet.values())
    return Finding(
        check="no_signal", severity="warning", phase=PHASE,
        title=f"No learning beyond chance on the validation part for {', '.join(names)}: {terms.val} "
              f"{targets.said(val)} against 0.000 for {'its' if one else 'their'} training mean",
        numbers={"no_signal_targets": names, "val_r2_by_target": val,
                 "train_r2_by_target": {n: targets.train[n] for n in names},
                 "noise_by_target": {n: q.noise for n, q in quiet.items()},
                 "mean_guard_z_by_target": {n: q.z for n, q in quiet.items()}, "n_val": n_val,
                 "epochs": len(records), "steps": int(records[-1]["step"])},
        message=(f"The {terms.val} of {', '.join(names)} did not beat {'its' if one else 'their'} training mean by "
                 f"more than the {noise} that chance allows (the mean guard's margin of standard errors of R², from "
                 f"its series-by-series differences of squared error on the {n_val} validation series), while the "
                 f"{terms.train} reached {targets.said(targets.train, names)}: whatever the model learned of "
                 f"{'that target' if one else 'those targets'} from its training sequences does not carry over. "
                 f"{'It' if one else 'They'} may carry no signal this model can find; overfit or underfit remedies "
                 "(more steps, regularization, a larger model) would only tune noise on "
                 f"{'it' if one else 'them'}."),
        remedy=_signal_remedy(config, n_val, terms, True),
    )


def _summary_remedy(config: Config, say: KeySpelling, named: str) -> str:
    """For a head that summarises a sequence by its mean or last step: the maximum over time, which
    finds a short pattern wherever it is (a tester's 40-step motif in 4000 steps: the mean over time
    memorised the training series, fresh ones at chance; the maximum joined, 0.975)."""
    head = config.model.head
    if config.task.kind not in ("classification", "regression") or config.task.per_step \
            or head.pooling not in ("mean", "last"):
        return ""
    joined = [say.set("model.head.pooling", "mean_max")] + \
        ([say.set("model.head.frontend_pooling", "mean_max")] if head.frontend_pooling == "mean" else [])
    return (f"; if the {named} follow a short pattern that may occur anywhere in a long series, a head that reads the "
            f"{head.pooling} over time dilutes or misses it: {' and '.join(joined)} reads its maximum too")


def _mode_gap_remedy(config: Config, say: KeySpelling) -> str:
    """What would bring training and eval mode together, leaving out what the config already does."""
    fixes = []
    if not (config.data.normalize == "per_series" and config.data.series_scale):
        fixes.append(f"scale each series on its own: {say.set('data.normalize', 'per_series')} with "
                     f"{say.set('data.series_scale', True)} (the scale stays visible as an input)")
    frontend = config.model.frontend
    if frontend is not None and any(b.norm == "batch" for b in frontend.conv_blocks):
        fixes.append(say.words('normalize without batch statistics: norm = "layer" (or "none") in each '
                               "[[model.frontend.blocks]]"))
    if config.model.recurrent_batch_norm:
        fixes.append(f"{say.set('model.recurrent_batch_norm', False)} (its statistics per step, over each batch)")
    noisy = [say.set(f"model.{k}", v) for k in ("dropout", "input_dropout", "recurrent_dropout", "weight_drop",
                                             "zoneout", "input_noise")
             if isinstance(v := getattr(config.model, k), (int, float)) and v > 0]
    if noisy:
        fixes.append(f"lower what only the training-mode model carries ({', '.join(noisy)})")
    return ", or ".join(fixes) if fixes else "look for what else differs between training and eval mode in the model"


def imbalanced(majority: float | None) -> bool:
    """Whether a classifier's classes are imbalanced by ``rnnlab train``'s one rule
    (:data:`rnnlab.task.IMBALANCED_BELOW`: the smallest class holds under that share of the
    largest), as far as the majority class's share of the sequences ``majority`` tells: where the
    other classes together hold under that share of it (for two classes, the rule itself; with
    more, a skew spread over several classes is not one class's rate to blame).

    >>> imbalanced(0.52), imbalanced(0.95), imbalanced(None)  # 26/24 classes, 95/5
    (False, True, False)
    """
    from rnnlab.task import IMBALANCED_BELOW

    return majority is not None and 1 - majority < IMBALANCED_BELOW * majority


def _underfit(records: list[dict[str, Any]], evaluated: dict[str, Any], train_eval: Mapping[str, float], config: Config,
              before: list[Finding], through_time: Mapping[str, Any], th: FitThresholds,
              terms: _Terms, at_chance: _Chance | None = None, majority: float | None = None,
              targets: _Targets | None = None, quiet: Mapping[str, _TargetChance] | None = None) -> Finding | None:
    acc = float(train_eval[terms.metric])
    # (a classifier is judged against the constant predictor too: the majority class's rate, plus a
    # share of its errors removed, as a regression's R² is against the training mean)
    beats_majority = majority + th.underfit_majority * (1 - majority) if majority is not None else -math.inf
    # (several targets: each must fit; the worst decides, and the finding names those that do not)
    judged = min(targets.train.values()) if targets is not None else acc
    if learnt_beyond(acc, th) if terms.metric == "skill" else \
            judged >= (th.underfit_r2 if terms.metric == "r2" else max(th.underfit_acc, beats_majority)):
        return None
    tc, say = config.training, terms.say
    steps, epochs = int(records[-1]["step"]), len(records)
    trend = _loss_trend(records, th)
    losses = trend.losses
    numbers: dict[str, Any] = {f"train_{terms.metric}": acc, "train_loss": float(train_eval["loss"]), "steps": steps,
                               "epochs": epochs, "first_epoch_loss": losses[0]}
    if majority is not None:
        numbers["majority_rate"] = majority
    if targets is not None:
        numbers[f"train_{terms.metric}_by_target"] = dict(targets.train)
    causes: list[tuple[str, str]] = []
    rate = _measured_rate(before, records, tc.lr, th, say)
    if rate is not None and rate[0] in ("high", "cause"):
        # (a rate that overwrites the weights keeps the loss bouncing: more steps, read from a loss that
        # looks still falling, would only bounce longer)
        numbers.update(rate[3])
        causes.append(rate[1:3])

    # The records' train_acc (train_r2) is the training-mode figure over an epoch's batches.
    train_mode_acc = evaluated.get(f"train_{terms.metric}")
    if train_mode_acc is not None and float(train_mode_acc) - acc > th.mode_gap:
        numbers[f"train_mode_{terms.metric}"] = float(train_mode_acc)
        did = (f"classified {float(train_mode_acc):.3f} of its training batches right in training mode, but only "
               f"{acc:.3f} of the same sequences" if terms.metric == "acc" else
               f"reached R² {float(train_mode_acc):.3f} on its training batches in training mode, but only "
               f"{acc:.3f} on the same sequences")
        when = ("in its last epoch" if evaluated is records[-1] else
                f"at epoch {int(evaluated['epoch'])}, which early stopping restored,")
        causes.append((f"Training mode against eval mode: {when} the model {did} in eval mode. "
                       "Batch norm's running statistics "
                       "do not match the batches' own (series of very different scales), or dropout "
                       "carries the training-mode model.",
                       _mode_gap_remedy(config, terms.say)))
    stalled_by_mode = bool(causes)

    drop, stuck = trend.drop, trend.stuck
    numbers["loss_drop_last_quarter"] = drop
    # (more steps first whenever the loss still falls, even where it "hardly fell" overall: a rate that
    # crawls, or 60 classes' loss from ln 60, still falls; the learning rate comes after)
    # Few steps explain an underfit unless the loss had stopped moving over many steps (more of
    # the same would not help); under a fifth of few_steps they are always too few.
    # (a forecaster far worse than its reference whose training MASE rose while its loss fell: the loss
    # rewards what MASE does not score, so more steps or another rate fit the wrong thing further)
    disagree = _loss_against_mase(records, losses, acc, th) if terms.metric == "skill" else None
    if disagree is not None:
        numbers.update(disagree[2])
        causes.append(disagree[:2])
    restored = evaluated is not records[-1]
    if restored:
        numbers["restored_epoch"] = int(evaluated["epoch"])
    if restored and _stopped_by_patience(records, evaluated, config):
        # Early stopping put back an earlier epoch's weights after its patience ran out: later steps
        # were taken and did not help on validation, so "train longer" would only add steps that are
        # thrown away. (A budget that ended first is not that: its last epochs were not judged.)
        es, better, lower = tc.early_stopping, "did not score better on validation", ""
        if es.min_delta > 0:
            # (an improvement is one by more than min_delta: a later epoch that scored better by less
            # was not one, and the data are not to blame for a min_delta set too large)
            from rnnlab.task import task_for

            task, kept = task_for(config), evaluated.get(es.monitor)
            scored = [r for r in records if isinstance(r.get(es.monitor), (int, float)) and math.isfinite(r[es.monitor])]
            top = (max if task.higher_is_better(es.monitor) else min)(scored, key=lambda r: r[es.monitor], default=None)
            better = f"did not score better on validation by more than {say.set('training.early_stopping.min_delta', es.min_delta)}"
            if top is not None and isinstance(kept, (int, float)) and top is not evaluated and top[es.monitor] != kept:
                better += (f" ({es.monitor} reached {top[es.monitor]:.4g} at epoch {int(top['epoch'])}, against "
                           f"{kept:.4g} at epoch {int(evaluated['epoch'])})")
                lower = (f"lower {say.key('training.early_stopping.min_delta')} (in {es.monitor}'s units) so that "
                         "such a gain counts; otherwise, ")
        causes.append((f"{_restored_words(int(evaluated['epoch']), epochs)} {better}, so the evaluated weights are an early epoch's and "
                       f"more steps would not change them.",
                       f"{lower}if the later epochs fit the training data but not validation, the data carry little "
                       f"signal for this model: regularize it more (e.g. {say.key('training.weight_decay')}) or "
                       "give it more series; if validation is too small to choose an epoch, enlarge "
                       f"{say.key('data.val_fraction')}"))
    elif not stalled_by_mode and not causes and (trend.falling or steps < th.few_steps // 5
                                                 or (steps < th.few_steps and not stuck)):
        more = max(4 * steps, 2000)
        budget = say.set("training.steps", tc.steps) if tc.steps is not None else say.set("training.epochs", epochs)
        why = (f"only {steps} optimizer steps" if steps < th.few_steps else f"{steps} optimizer steps")
        if trend.falling:
            why += f", and the training loss was still falling ({drop:.0%} over the last quarter of the epochs)"
        if restored:  # (the best epoch's weights are kept however the run ended: say why that is no verdict)
            after = epochs - int(evaluated["epoch"])
            why += (f"; the budget ended {after} epoch{'' if after == 1 else 's'} after epoch {evaluated['epoch']}, "
                    f"whose weights were kept as the best on validation, before early stopping's patience "
                    f"({tc.early_stopping.patience}) judged the later ones")
        per_epoch = steps - int(records[-2]["step"]) if epochs > 1 else steps
        if config.adapt.budget and steps + per_epoch > config.adapt.max_steps:
            # (the budget that follows the fit took the run to its cap, whole epochs of it: training.steps
            # is only where it started)
            remedy = (f"train longer: raise {say.key('adapt.max_steps')} (now {config.adapt.max_steps}), e.g. to "
                      f"{max(more, 2 * config.adapt.max_steps)}, up to which the budget that follows the fit doubles "
                      f"while the loss falls ({budget} is where it starts)")
        else:
            remedy = (f"train longer: set {say.set('training.steps', more)} (now {budget}; steps count updates "
                      "whatever the size of the data set)")
        causes.append((f"Too few steps: {why}.", remedy))

    if imbalanced(majority) and acc < beats_majority:
        # (one class holds most sequences and the model learned little beyond it: rnnlab has no class
        # weights nor balanced sampling to name, so the remedies are the data's)
        numbers["majority_errors_removed"] = gain = (acc - majority) / (1 - majority) if majority < 1 else 0.0
        did = ("is no better" if acc <= majority else
               f"removes only {gain:.0%} of that constant predictor's errors (under {th.underfit_majority:.0%})")
        causes.append((f"The majority class: one class holds {majority:.3f} of the training {terms.unit}, the "
                       f"accuracy of labelling every one with it; the model's {acc:.3f} {did}: it learned little "
                       "beyond the class balance.",
                       "balance the classes in the data (rnnlab has no class weights or balanced sampling): give the "
                       "rarer classes more series, or repeat theirs in the training file (copies then reach the "
                       f"validation part too: judge on {say.key('data.test_path')}), and check that the inputs tell the rarer "
                       "classes apart at all"))

    strong = _strong_regularization(config, steps, th)
    if strong:
        numbers["strong_regularization"] = dict(strong)
        listed = ", ".join(say.set(k, float(f"{v:.3g}")) for k, v in strong)
        causes.append((f"Regularization strength: {listed}.",
                       "weaken it: " + ", ".join(f"lower {say.key(k)}" for k, _ in strong)))

    if rate is not None and rate[0] == "low":  # (measured: a rate that small moves nothing else either)
        numbers.update(rate[3])
        causes.append(rate[1:3])
    vanishing = [f for f in before if f.check == "gradient_through_time" and f.title.startswith("Vanishing")]
    if vanishing:
        # (the remedy before training is the one that fixes it: the trained layer's reach, below, only
        # confirms it, and a learning rate or pooling change leaves the recurrence as it was)
        causes.append((f"Vanishing gradient before training: {vanishing[0].title}.", vanishing[0].remedy.rstrip(".")))
    if stuck and rate is None and disagree is None:
        causes.append((f"The learning rate: the training loss hardly fell ({losses[0]:.3g} in the first epoch, "
                       f"{losses[-1]:.3g} in the last).",
                       f"change {say.key('training.lr')} (now {tc.lr:g}): try 10 times smaller (a rate too large "
                       "bounces) and 10 times larger (a rate too small crawls)"))
    if tc.clip_norm is not None:
        norms = [float(r["grad_norm"]) for r in records if "grad_norm" in r]
        if norms and sum(norms) / len(norms) > 10 * tc.clip_norm:
            mean = numbers["mean_grad_norm"] = sum(norms) / len(norms)
            if tc.optimizer in ("adam", "adamw", "nadamw"):
                # Adam divides the gradient by its own running size: the update's length follows the
                # learning rate, not the gradient's norm, so a lower rate only shortens it further.
                clip, lr = say.key("training.clip_norm"), say.key("training.lr")
                causes.append((f"Clipping: the gradient norm averaged {mean:.3g}, more than 10 times "
                               f"{say.set('training.clip_norm', tc.clip_norm)}, so every gradient was scaled down by "
                               f"about {mean / tc.clip_norm:.3g} times before {tc.optimizer} saw it.",
                               f"raise {clip} (now {tc.clip_norm:g}) to about the gradient norm it cuts "
                               f"({mean:.3g}), or unset it (with {tc.optimizer} the update's size follows "
                               f"{lr}, not the gradient's norm: lowering {lr} would not undo the cut)"))
            else:
                clip, lr = say.key("training.clip_norm"), say.key("training.lr")
                causes.append((f"Clipping: the gradient norm averaged {mean:.3g}, more than 10 times "
                               f"{say.set('training.clip_norm', tc.clip_norm)}, so every update was cut short.",
                               f"raise {clip} (now {tc.clip_norm:g}) or lower {lr} (with "
                               f"{tc.optimizer} an update is {lr} times the clipped gradient: a gradient "
                               "that large often comes from a rate too large)"))

    dead = [f for f in before if f.check == "dead_relu" and f.severity in ("warning", "error")]
    if dead:
        causes.append((f"Dead units before training: {dead[0].title}.", dead[0].remedy))

    per_step = config.task.per_step or terms.stream is not None
    short = _short_reach(through_time, th) if config.model.head.pooling == "last" or per_step else None
    if short is not None:
        name, reach, length = short
        numbers["gradient_reach"], numbers["timesteps"] = reach, length
        vanishes = (f"the gradient of the loss at each sequence's last step falls below {th.grad_rel:g} of its value "
                    f"there {reach} of {length} steps back" if per_step else
                    f"|dLoss/dh_t| falls below {th.grad_rel:g} of its value at the last step {reach} of {length} "
                    "steps back")
        if per_step:  # (measured from the loss at each sequence's last step; its length is the targets')
            target = "label" if terms.metric == "acc" else "target"
            causes.append((f"Gradient reach: in the trained {name or 'layer'} {vanishes}, so a step's {target} that "
                           f"depends on inputs more than {reach} steps before it cannot be learned.",
                           _keep_state_remedy(config, say)))
        else:
            causes.append((f"Gradient reach: in the trained {name or 'layer'} {vanishes}, so the first "
                           f"{length - reach} steps of a sequence barely shape the updates.",
                           say.words("shorten what the layer sees (pool or stride in [[model.frontend.blocks]]) or ") +
                           f"summarise every step: {say.set('model.head.pooling', 'mean')}"))

    if at_chance is not None:
        # (nor did it learn its training part beyond chance: the other causes come first, but a model
        # trained longer on labels without signal only memorises them)
        best, chance, noise = at_chance.best, at_chance.chance, at_chance.noise
        numbers["chance"] = chance
        named = "targets" if terms.metric == "r2" else "labels"
        causes.append(_chance_cause(f"in no epoch did the {terms.val} (at best {float(best[f'val_{terms.metric}']):.3f}) "
                                    f"beat chance ({chance:.3f}) by more than the {noise:.3f} its noise allows",
                                    named, trend.falling))
    for name, q in (quiet or {}).items():  # (K > 1: a target the guard set aside that did not learn its training part)
        numbers.setdefault("no_signal_targets", []).append(name)
        causes.append(_chance_cause(f"the {terms.val} of {name} ({q.val:.3f}) did not beat its training mean (0) by "
                                    f"more than the {q.noise:.3f} its noise allows", f"targets ({name})", trend.falling))
    if not causes:
        causes.append(("Capacity: no other cause shows in the records.",
                       f"a larger model: raise {say.key('model.hidden_size')} (now {config.model.hidden_size}) or add "
                       "conv blocks to [model.frontend]"))
    n_classes_hint = "" if judged > 0 else terms.worst
    nothing_more = ""
    if terms.metric == "skill":
        # (at the margin or below, whatever the sign, it learnt nothing beyond its reference; but a model
        # the loss drove far past it learnt something else, which no reference "to use instead" explains)
        how = (f"the same as {terms.reference}, within 0.05% of its error" if abs(acc) < 5e-4 else
               f"no better than {terms.reference}" if acc <= 0 else
               f"only {acc:.1%} better than {terms.reference}, not the {th.underfit_skill:.0%} it must be")
        n_classes_hint = f" ({how}," + terms.worst
        numbers["skill_margin"] = th.underfit_skill
        nothing_more = "" if disagree is not None else (
            f" A skill within {th.underfit_skill:g} of 0 is a model no better than the forecast it is measured "
            "against; where the series holds nothing more to learn (a random walk, whose best forecast is naive), "
            "that forecast is the one to use and the remedies will not beat it.")
    # (where one class holds most sequences, the accuracy alone reads as a fit: 0.95 is what the
    # constant predictor scores on 95/5 classes)
    against = f" (the majority class alone scores {majority:.3f})" if imbalanced(majority) else ""
    shown = f"{acc:.3f}{against}"
    if targets is not None:  # (the targets that did not fit first: the mean of them all hides them)
        failing = [n for n, v in targets.train.items() if v < th.underfit_r2]
        shown = targets.said(targets.train, failing + [n for n in targets.train if n not in failing])
        at_mean = [n for n in failing if targets.train[n] <= 0]
        n_classes_hint = (f" ({', '.join(failing)} below {th.underfit_r2:g}"
                          + (f"; {', '.join(at_mean)} no better than predicting "
                             f"{'its' if len(at_mean) == 1 else 'their'} training mean" if at_mean else "") + ")")
    return Finding(
        check="underfit", severity="warning", phase=PHASE,
        title=f"The model did not fit its training data: {terms.train} {shown} after {steps} optimizer "
              f"steps{n_classes_hint}" + (f" (of epoch {evaluated['epoch']}'s weights, step {int(evaluated['step'])}, "
                                           "kept by early stopping)" if evaluated is not records[-1] else ""),
        numbers=numbers,
        message=f"A model that cannot {terms.fit_what}; "
                "fix this before tuning regularization. Likely causes, most likely first: "
                + " ".join(f"({i}) {c}" for i, (c, _) in enumerate(causes, 1)) + nothing_more,
        remedy="; ".join(f"({i}) {r}" for i, (_, r) in enumerate(causes, 1)) + ".",
    )


def _chance_cause(said: str, named: str, falling: bool) -> tuple[str, str]:
    """The underfit's cause where validation did not beat chance (``said``: how far, in words), and
    its remedy: the ``named`` targets or labels may carry no signal, unless the training loss was still
    falling (``falling``), where that is too early to tell and the steps come first."""
    if falling:
        return (f"No signal on validation yet: {said}; with the training loss still falling that says little so far.",
                f"train longer first; if validation stays at chance, check the {named} (each belongs to its series; "
                "the validation part's are of the same kind as the training part's)")
    return (f"No signal on validation: {said}, so the {named} may carry no signal this model can find.",
            f"check the {named} (each belongs to its series; the validation part's are of the same kind as the "
            "training part's) and that a simpler baseline beats chance, before tuning")


def _loss_against_mase(records: list[dict[str, Any]], losses: list[float], skill: float,
                       th: FitThresholds) -> tuple[str, str, dict[str, Any]] | None:
    """``(cause, remedy, numbers)`` where a forecaster's training skill is under ``th.worse_skill``
    (its error several times its reference's) and training made its MASE worse while the loss fell
    (``losses``: the whole epochs' training losses; the records' training-mode ``train_mase``, first
    epoch against last): what the loss fits is not what MASE scores, so the usual causes (too few
    steps, the learning rate) point the wrong way. None otherwise.

    >>> recs = [{"epoch": 1, "step": 4, "train_mase": 16.7}, {"epoch": 2, "step": 8, "train_mase": 39.7}]
    >>> _loss_against_mase(recs, [0.0147, 0.0143], -16.9, FitThresholds())[2]["train_mase_last_epoch"]
    39.7
    >>> _loss_against_mase(recs, [0.0147, 0.0143], -0.5, FitThresholds()) is None  # (not far worse)
    True
    """
    mases = [float(r["train_mase"]) for r in records
             if partial_epoch(r) is None and math.isfinite(float(r.get("train_mase", math.nan)))]
    if skill >= th.worse_skill or len(mases) < 2 or len(losses) < 2 or not (mases[-1] > mases[0]
                                                                            and losses[-1] < losses[0]):
        return None
    cause = (f"The loss and MASE disagree: the training loss fell ({losses[0]:.3g} in the first epoch, "
             f"{losses[-1]:.3g} in the last) while the training MASE rose ({mases[0]:.3g} to {mases[-1]:.3g}), "
             f"and the model's error is {1 - skill:.3g} times its reference's: training more made the forecasts "
             "worse, so neither more steps nor another learning rate is the cause. The loss weighs every step in "
             "one scaling per channel, pooled over the series; MASE scales each series by its own error. In a "
             "panel whose series differ widely in scale the largest series hold the loss, and the others are "
             "forecast far off their own scale.")
    remedy = ("bring the series to one scale before training (divide each series by its own standard deviation "
              "over its training block before saving the data, and multiply its forecasts by it), or train the "
              "series of each scale in a run of their own")
    return cause, remedy, {"train_mase_first_epoch": mases[0], "train_mase_last_epoch": mases[-1]}


def _short_reach(through_time: Mapping[str, Any], th: FitThresholds) -> tuple[str, int, int] | None:
    """``(module, reach, steps)`` of the first trained layer whose gradient reach (its top layer,
    forward: :meth:`rnnlab.introspect.GradThroughTime.reach` at ``th.grad_rel``) is under
    ``th.short_reach`` of the steps it runs, else None.

    >>> import numpy as np
    >>> from rnnlab.introspect import GradThroughTime
    >>> def curve(g): return GradThroughTime("rnn", "lstm", 1, ("forward",), {(0, "forward"): np.array(g)[:, None]})
    >>> _short_reach({"rnn": curve(0.5 ** np.arange(29.0, -1, -1))}, FitThresholds())  # 0.5^10 < 1e-3: 10 of 30
    ('rnn', 10, 30)
    >>> _short_reach({"rnn": curve(0.77 ** np.arange(29.0, -1, -1))}, FitThresholds()) is None  # 27 of 30
    True
    """
    for name, g in through_time.items():
        reach, length = int(g.reach(th.grad_rel)), int(g.timesteps)
        if reach_is_short(reach, length, th.short_reach):
            return name, reach, length
    return None


def _keep_state_remedy(config: Config, say: KeySpelling | None = None) -> str:
    """How a config keeps a recurrent layer's state longer, naming only what it does not set yet
    (the layer refuses layer norm beside recurrent batch norm); more units where it sets them all.

    >>> from rnnlab.config import parse_config
    >>> print(_keep_state_remedy(parse_config('[data]\\ndataset = "UnitTest"\\n[model]\\nlayer = "gru"\\nlayer_norm = true')))
    keep the state longer: model.recurrent_init = "orthogonal" (now unset: the layer's default init)
    """
    m, say = config.model, say or KeySpelling()
    options = []
    if m.layer not in ("lstm", "gru"):  # (SPELLING's "gated" and "gated_indrnn", key by key)
        options.append(f"an LSTM/GRU rather than {'an IndRNN' if m.layer == 'indrnn' else 'a plain RNN'} "
                       f"({say.set('model.layer', 'lstm')} or \"gru\")")
    if m.layer == "lstm" and not m.unit_forget_bias:
        options.append(say.set("model.unit_forget_bias", True))
    if not m.layer_norm and not m.recurrent_batch_norm and m.layer != "indrnn":  # (norms shorten an IndRNN's reach)
        options.append(say.set("model.layer_norm", True))
    if m.recurrent_init != "orthogonal" and m.layer != "indrnn":  # (IndRNN's recurrent weight is a vector)
        now = "unset: the layer's default init" if m.recurrent_init is None else say.value(m.recurrent_init)
        options.append(say.set("model.recurrent_init", "orthogonal") + f" (now {now})")
    if not options:
        return (f"keep the state longer: the layer already sets what does (gated, layer or batch norm, orthogonal "
                f"recurrent weights): give it more units, {say.key('model.hidden_size')} (now {m.hidden_size})")
    return "keep the state longer: " + (", ".join(options[:-1]) + " or " if len(options) > 1 else "") + options[-1]


def _measured_rate(before: list[Finding], records: list[dict[str, Any]], lr: float,
                   th: FitThresholds, say: KeySpelling) -> tuple[str, str, str, dict[str, Any]] | None:
    """("high" | "low", cause, remedy, numbers) when the health check before training measured the
    learning rate off (its ``update_ratio`` finding: its ``lr_factor``, which brings the ratio just
    inside the healthy range; a finding recorded without one: the factor to 1e-3; one that says
    ``lr_factor_readable = false``: 10 times or more), or the recorded
    gradient norm blew up (non-finite or over ``th.grad_blowup``); ("cause", ...) when that check
    found the updates stalled by something a learning rate does not fix (inputs far from unit
    scale, saturated units), with its remedy; None otherwise."""
    stalled = next((f for f in before if f.check == "update_ratio" and "cause" in f.numbers), None)
    if stalled is not None:  # (updates stalled by inputs far from unit scale or saturated units, not the rate)
        return ("cause", f"Before training: {stalled.title}.", stalled.remedy.rstrip("."),
                {"update_ratio": stalled.numbers.get("median_ratio")})
    found = next((f for f in before if f.check == "update_ratio" and f.title.startswith("Learning rate too")), None)
    ratio = float(found.numbers.get("median_ratio", math.nan)) if found is not None else math.nan
    # (the health check's own factor: the ratio just inside its healthy range; a record without it: to 1e-3)
    kept = float(found.numbers["lr_factor"]) if found is not None and "lr_factor" in found.numbers else None
    if found is not None and ratio > 0 and found.title.startswith("Learning rate too small"):
        factor = kept if kept is not None else 1e-3 / ratio
        return ("low", f"The learning rate is too small: before training each step changed the weights by "
                       f"{ratio:.3g} of their norm (about 1e-3 is typical).",
                f"raise {say.key('training.lr')} (now {lr:g}) by about {factor:.3g} times, to about {lr * factor:.3g} (the factor "
                "the update-to-weight ratio before training measured)", {"update_ratio": ratio})
    if found is not None and not found.title.startswith("Learning rate too large"):
        found = None
    norms = [float(r["grad_norm"]) for r in records if "grad_norm" in r]
    blown = [g for g in norms if not math.isfinite(g) or g > th.grad_blowup]
    if found is None and not blown:
        return None
    said, numbers = [], {}
    measured = found is not None and math.isfinite(ratio)
    # (a ratio whose factor the health check could not read off, weights grown far past their
    # size: it recorded lr_factor_readable = false and no factor)
    readable = measured and found is not None and found.numbers.get("lr_factor_readable", True) is not False
    factor = (kept if kept is not None else ratio / 1e-3) if readable else None
    if measured:
        numbers["update_ratio"] = ratio
        said.append(f"before training each step changed the weights by {ratio:.3g} of their norm (about 1e-3 is "
                    "typical)")
    if blown:
        top = max(blown, key=lambda g: g if math.isfinite(g) else math.inf)
        numbers["grad_norm_max"] = top
        said.append(f"the gradient norm reached {top:.3g} during training (a blow-up)")
    how = (f"by about {factor:.3g} times, to about {lr / factor:.3g} (the factor the update-to-weight ratio before "
           "training measured)" if factor is not None else
           f"by 10 times or more (the update ratio {ratio:.3g} is too large for its factor to be read off)"
           if measured else "by 10 times or more")
    return ("high", "The learning rate is too large: " + " and ".join(said) + ".",
            f"lower {say.key('training.lr')} (now {lr:g}) {how}, before any other change", numbers)


def language_model_underfit(records: list[dict[str, Any]], train_eval: Mapping[str, float], config: Config,
                            unigram: float, th: FitThresholds | None = None, *,
                            spelling: KeySpelling | None = None) -> Finding | None:
    """The underfit finding of a language model whose training loss (``train_eval["loss"]``,
    nats per token) is not below the training part's ``unigram`` entropy, with its remedies.

    >>> from rnnlab.config import parse_config
    >>> cfg = parse_config('[task]\\nkind = "language_model"\\n[data]\\ndataset = "python-docs"')
    >>> f = language_model_underfit([{"epoch": 1, "step": 50, "train_loss": 3.1}], {"loss": 3.0}, cfg, 2.9)
    >>> f.check, round(f.numbers["train_bpc"], 3), round(f.numbers["unigram_entropy_bpc"], 3)
    ('underfit', 4.328, 4.184)
    >>> language_model_underfit([{"epoch": 1, "step": 50, "train_loss": 1.5}], {"loss": 1.4}, cfg, 2.9) is None
    True
    """
    th = th or FitThresholds()
    loss = float(train_eval["loss"])
    gain = relative_skill(loss, unigram)
    if learnt_beyond(gain, th):
        return None
    tc, m, say = config.training, config.model, spelling or KeySpelling()
    steps = int(records[-1]["step"])
    remedies = [f"train longer: {say.set('training.steps', max(4 * steps, 2000))} (now {steps} optimizer steps)",
                f"change {say.key('training.lr')} (now {tc.lr:g}): try 3 times larger and 3 times smaller"]
    strong = _strong_regularization(config, steps, th)
    strong += [(k, v) for k, v in (("training.ar", tc.ar), ("training.tar", tc.tar)) if v > 2]
    if strong:
        remedies.append("weaken the regularization: " + ", ".join(f"lower {say.key(k)} (now {v:.3g})"
                                                                  for k, v in strong))
    remedies.append(f"a larger model: raise {say.key('model.hidden_size')} (now {m.hidden_size})")
    bits = 1 / math.log(2)
    how = ("not below" if gain <= 0 else
           f"only {gain:.2%} below" if gain < 0.001 else f"only {gain:.1%} below")  # (0.03% must not read 0.0%)
    return Finding(
        check="underfit", severity="warning", phase=PHASE,
        title=f"The language model did not learn from context: training loss {loss * bits:.3f} bits per token, "
              f"{how} the unigram entropy of the training text ({unigram * bits:.3f})"
              + (f", not the {th.underfit_skill:.0%} it must be" if gain > 0 else ""),
        # (in bits, as the title: the loss's nats beside a title in bits read as two different figures)
        numbers={"train_bpc": loss * bits, "unigram_entropy_bpc": unigram * bits, "steps": steps,
                 "skill_over_unigram": gain, "skill_margin": th.underfit_skill},
        message="Predicting each token by its frequency in the training text alone, without looking at the tokens "
                "before it, scores the unigram entropy; a model within "
                f"{th.underfit_skill:.0%} of it has not yet used its recurrent state (a model that learnt nothing "
                "lands a few hundredths of a percent either side of it). Fix this before tuning regularization. "
                "Where the tokens are drawn independently of each other, the context holds nothing to learn: "
                "frequency alone is the best prediction and the remedies will not beat it.",
        remedy="; ".join(f"({i}) {r}" for i, r in enumerate(remedies, 1)) + ".",
    )


def _strong_regularization(config: Config, steps: int, th: FitThresholds) -> list[tuple[str, float]]:
    """(key, value) of the regularizers set strongly enough to hold a model back."""
    strong: list[tuple[str, float]] = []
    for key in _DROPOUTS:
        node: Any = config
        for part in key.split("."):
            node = getattr(node, part)
        value = max(node) if isinstance(node, tuple) else float(node)
        if value >= th.strong_dropout:
            strong.append((key, value))
    tc = config.training
    if tc.label_smoothing >= th.strong_dropout:
        strong.append(("training.label_smoothing", tc.label_smoothing))
    decays = [("training.weight_decay", tc.weight_decay, 1.0)]
    decays += [(f"training.decay_rules[{i}].weight_decay",
                r.weight_decay if r.weight_decay is not None else tc.weight_decay, r.lr_mult)
               for i, r in enumerate(tc.decay_rules)]
    decoupled = tc.optimizer in ("adamw", "nadamw", "sgdw")
    for key, wd, lr_mult in decays:
        # Decoupled decay shrinks a weight by (1 - lr * wd) per step; L2 pulls like a loss term.
        if (decoupled and tc.lr * lr_mult * wd * steps > th.strong_decay) or (not decoupled and wd >= 0.05):
            strong.append((key, wd))
    return strong


def _overfit(records: list[dict[str, Any]], evaluated: dict[str, Any], train_eval: Mapping[str, float],
             config: Config, n_val: int, th: FitThresholds, terms: _Terms,
             task: Task, targets: _Targets | None = None) -> tuple[Finding | None, str | None]:
    """The overfit finding, or None and what the check found (None: it did not run)."""
    if terms.stream is not None:
        return _stream_overfit(records, evaluated, train_eval, config, th, terms, task)
    if targets is not None and targets.val is not None:
        return _targets_overfit(records, config, n_val, th, terms, task, targets)
    key = f"val_{terms.metric}"
    if key not in evaluated:  # no validation part: nothing to say
        return None, None
    train_acc, val_acc = float(train_eval[terms.metric]), float(evaluated[key])
    gap = train_acc - val_acc
    if gap <= th.overfit_gap:
        return None, "no sign of overfitting"
    if n_val < th.min_val:
        return None, (f"overfitting not judged: {terms.val} {val_acc:.3f} against {terms.train} {train_acc:.3f} "
                      f"on only {n_val} validation sequences (at least {th.min_val} are needed to call it)")
    # Two standard errors of the validation figure measured on n_val sequences: smaller gaps may be luck.
    noise = terms.noise(val_acc, n_val)
    if gap <= noise:
        return None, (f"no overfitting beyond chance: {terms.val} {gap:.3f} below the {terms.train}, within the "
                      f"{noise:.3f} that chance allows on {n_val} validation sequences")
    val = [r for r in records if key in r]
    best = max(val, key=lambda r: r[key])
    low_loss = min(val, key=lambda r: r["val_loss"])
    numbers = {f"train_{terms.metric}": train_acc, key: val_acc, "gap": gap, "noise_2se": noise, "n_val": n_val,
               f"best_{key}": float(best[key]), "best_val_epoch": int(best["epoch"]),
               "val_loss_min": float(low_loss["val_loss"]), "val_loss_min_epoch": int(low_loss["epoch"]),
               "val_loss_last": float(val[-1]["val_loss"]), "epochs": len(records)}
    return Finding(
        check="overfit", severity="warning", phase=PHASE,
        title=f"The model overfits: {terms.train} {train_acc:.3f}, {terms.val} {val_acc:.3f}",
        numbers=numbers,
        message=(f"The {terms.val} stays {gap:.3f} below the {terms.train}, more than the "
                 f"{noise:.3f} that chance allows on {n_val} validation sequences: the model learned "
                 f"its training sequences rather than {terms.learned}. {terms.val[0].upper() + terms.val[1:]} was best "
                 f"({best[key]:.3f}) at epoch {best['epoch']}."),
        remedy=_overfit_remedies(config, task, records, "the validation loss was lowest", int(low_loss["epoch"]),
                                 terms.say),
    ), None


def _targets_overfit(records: list[dict[str, Any]], config: Config, n_val: int, th: FitThresholds, terms: _Terms,
                     task: Task, targets: _Targets) -> tuple[Finding | None, str | None]:
    """A regression's overfit target by target (K > 1): the targets whose training R² exceeds their
    validation R² by more than ``overfit_gap`` and two standard errors of their validation R²."""
    assert targets.val is not None
    gaps = {n: targets.train[n] - targets.val[n] for n in targets.train if n in targets.val}
    wide = [n for n, g in gaps.items() if g > th.overfit_gap]
    if not wide:
        return None, "no sign of overfitting on any target"
    if n_val < th.min_val:
        return None, (f"overfitting not judged: {terms.val} {targets.said(targets.val, wide)} against "
                      f"{terms.train} {targets.said(targets.train, wide)} on only {n_val} validation sequences "
                      f"(at least {th.min_val} are needed to call it)")
    noise = {n: terms.noise(targets.val[n], n_val) for n in wide}
    over = [n for n in wide if gaps[n] > noise[n]]
    if not over:
        return None, (f"no overfitting beyond chance: {terms.val} below the {terms.train} on "
                      f"{', '.join(wide)} within what chance allows on {n_val} validation sequences")
    low_loss = min((r for r in records if "val_loss" in r), key=lambda r: r["val_loss"])
    numbers = {f"train_{terms.metric}_by_target": dict(targets.train), f"val_{terms.metric}_by_target": dict(targets.val),
               "overfit_targets": over, "gap_by_target": {n: gaps[n] for n in over},
               "noise_2se_by_target": {n: noise[n] for n in over}, "n_val": n_val, "epochs": len(records)}
    return Finding(
        check="overfit", severity="warning", phase=PHASE,
        title=(f"The model overfits {', '.join(over)}: {terms.train} {targets.said(targets.train, over)}, "
               f"{terms.val} {targets.said(targets.val, over)}"),
        numbers=numbers,
        message=(f"On {', '.join(over)} the {terms.val} of the evaluated weights stays below the {terms.train} by "
                 + ", ".join(f"{gaps[n]:.3f}" for n in over) + " (more than the "
                 + ", ".join(f"{noise[n]:.3f}" for n in over) + f" that chance allows on {n_val} validation "
                 f"sequences): the model learned those targets of its training sequences rather than {terms.learned}. "
                 f"The other targets: {terms.val} {targets.said(targets.val, [n for n in targets.val if n not in over])}."
                 if len(over) < len(targets.val) else
                 f"On every target the {terms.val} of the evaluated weights stays below the {terms.train} by more "
                 f"than chance allows on {n_val} validation sequences: the model learned its training sequences "
                 f"rather than {terms.learned}."),
        remedy=_overfit_remedies(config, task, records, "the validation loss was lowest", int(low_loss["epoch"]),
                                 terms.say),
    ), None


def _stream_overfit(records: list[dict[str, Any]], evaluated: dict[str, Any], train_eval: Mapping[str, float],
                    config: Config, th: FitThresholds, terms: _Terms, task: Task) -> tuple[Finding | None, str | None]:
    """A stream's overfit: its validation figure (lower is better) rose above its best epoch's by
    more than it moves between epochs while its training figure went on falling.

    A stream is validated on the same block every epoch, so the noise that counts is how much the
    figure moves from one epoch's weights to the next: twice the median change between
    consecutive epochs (a rise over many epochs exceeds it, the wobble of a plateau does not),
    and at least ``overfit_rise`` of the best figure."""
    m = task.metric(terms.stream)
    key, train_key = m.key("val"), m.key("train")
    finite = [r for r in records if math.isfinite(float(r.get(key, math.nan)))]
    val = [r for r in finite if r["epoch"] <= evaluated["epoch"]]
    # (no validation part, too few epochs to read its movement from, or a non-finite figure: not judged)
    if key not in evaluated or len(val) < th.min_val_epochs or val[-1] is not evaluated:
        kept = bool(val) and val[-1] is evaluated  # (a finite figure of the evaluated weights to rise from)
        return (_later_epochs_overfit(records, finite, evaluated, th, terms, task, config) if kept else None), None
    best = min(val, key=lambda r: r[key])
    now, low = float(evaluated[key]), float(best[key])
    noise = _stream_noise(val, key, low, th)
    rise = now - low
    # (a last epoch the budget cut short has a training figure over a few windows, not its epoch's:
    # the trend is read to the last whole epoch)
    then_train, now_train = best.get(train_key), _whole_epoch(records, evaluated).get(train_key)
    train_fell = then_train is not None and now_train is not None and float(now_train) < float(then_train)
    if rise <= noise or not train_fell:
        later = _later_epochs_overfit(records, finite, evaluated, th, terms, task, config)
        return (later, None) if later is not None else (None, "no sign of overfitting")
    epoch, best_epoch = int(evaluated["epoch"]), int(best["epoch"])
    trained = float(train_eval[terms.stream])
    model = "language model" if task.kind == "language_model" else "forecaster"
    numbers = {f"train_{terms.stream}": trained, key: now, f"best_{key}": low, "best_val_epoch": best_epoch,
               "evaluated_epoch": epoch, "rise": rise, "noise": noise,
               f"train_mode_{terms.stream}_best_epoch": float(then_train),
               f"train_mode_{terms.stream}_evaluated_epoch": float(now_train), "epochs": len(records)}
    what = "text" if task.kind == "language_model" else "series"
    return Finding(
        check="overfit", severity="warning", phase=PHASE,
        title=f"The {model} overfits: training {m.label} {_fixed(trained)}, validation {m.label} {_fixed(now)} at "
              f"epoch {epoch} (best {_fixed(low)}, at epoch {best_epoch})",
        numbers=numbers,
        message=(f"The validation {m.label} rose from {_fixed(low)} at epoch {best_epoch} to {_fixed(now)} at epoch "
                 f"{epoch} ({_fixed(rise)}, more than the {_fixed(noise)} its movement between epochs allows: twice "
                 f"the median change, at least {th.overfit_rise:.0%} of the best), while the "
                 f"training {m.label} (training mode, over each epoch's windows) fell from {_fixed(float(then_train))} "
                 f"to {_fixed(float(now_train))}: the model learned its training {what} rather than {terms.learned}. "
                 f"The weights of epoch {best_epoch} scored best on the validation block."),
        remedy=_overfit_remedies(config, task, records, f"the best validation {m.label}", best_epoch, terms.say),
    ), None


def _stream_noise(val: list[dict[str, Any]], key: str, low: float, th: FitThresholds) -> float:
    """How far a stream's validation figure ``key`` moves by chance over the epochs ``val``: twice
    the median change between consecutive epochs, at least ``overfit_rise`` of ``low`` (its best).

    >>> _stream_noise([{"v": 1.0}, {"v": 0.75}, {"v": 1.0}, {"v": 0.5}], "v", 0.5, FitThresholds())
    0.5
    """
    changes = sorted(abs(float(b[key]) - float(a[key])) for a, b in zip(val, val[1:], strict=False))
    return max(2 * changes[len(changes) // 2] if changes else 0.0, th.overfit_rise * abs(low))


def _later_epochs_overfit(records: list[dict[str, Any]], finite: list[dict[str, Any]], evaluated: dict[str, Any],
                          th: FitThresholds, terms: _Terms, task: Task, config: Config) -> Finding | None:
    """The ``info`` finding of a stream run whose early stopping restored an epoch before its last
    (``evaluated``) while the later epochs overfit: the validation figure rose from the restored
    epoch's to the last epoch's by more than it moves by chance (:func:`_stream_noise`, over
    ``finite``, every epoch with a finite validation figure) while the training figure fell. The
    tested weights are fine; the finding says what the later epochs did, which "no sign of
    overfitting" would deny. None otherwise."""
    stream = terms.stream or ""
    m = task.metric(stream)
    key, train_key = m.key("val"), m.key("train")
    last = records[-1]
    if evaluated is last or len(finite) < th.min_val_epochs or finite[-1] is not last:
        return None
    kept, now = float(evaluated[key]), float(last[key])
    rise, noise = now - kept, _stream_noise(finite, key, kept, th)
    then_train, now_train = evaluated.get(train_key), _whole_epoch(records, last).get(train_key)
    if rise <= noise or then_train is None or now_train is None or float(now_train) >= float(then_train):
        return None
    epoch, epochs = int(evaluated["epoch"]), len(records)
    return Finding(
        check="overfit", severity="info", phase=PHASE,
        title=(f"{_restored_words(epoch, epochs)} overfit (validation {m.label} {_fixed(kept)} → {_fixed(now)} while "
               f"training {m.label} fell); the tested model is epoch {epoch}'s"),
        numbers={"restored_epoch": epoch, key: kept, f"{key}_last": now, "rise": rise, "noise": noise,
                 f"train_mode_{stream}_restored_epoch": float(then_train),
                 f"train_mode_{stream}_last": float(now_train), "epochs": epochs},
        message=(f"After epoch {epoch} the validation {m.label} rose from {_fixed(kept)} to {_fixed(now)} at epoch "
                 f"{int(last['epoch'])} ({_fixed(rise)}, more than the {_fixed(noise)} its movement between epochs "
                 f"allows: twice the median change, at least {th.overfit_rise:.0%} of epoch {epoch}'s), while the "
                 f"training {m.label} (training mode, over each epoch's windows) fell from {_fixed(float(then_train))} "
                 f"to {_fixed(float(now_train))}: the later epochs learned the training "
                 f"{'text' if task.kind == 'language_model' else 'series'} rather than {terms.learned}. Early stopping kept epoch {epoch}'s weights, which were tested; the later "
                 "epochs' were thrown away."),
        # (nothing to undo: the tested weights are the best epoch's; what would let training go on improving)
        remedy=(f"nothing for the tested model; for later epochs that improve on epoch {epoch}'s: "
                + _overfit_remedies(config, task, records, f"the best validation {m.label}", epoch, terms.say)),
    )


def _restored_words(epoch: int, epochs: int) -> str:
    """How the findings after training begin where early stopping restored an epoch before the
    last: the restored epoch, of how many, and that the later ones are said next.

    >>> _restored_words(15, 45)
    'Early stopping restored epoch 15 of 45: the later epochs'
    """
    return f"Early stopping restored epoch {epoch} of {epochs}: the later epochs"


def _whole_epoch(records: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
    """``record``, or where the budget cut its epoch short (:func:`rnnlab.rundir.partial_epoch`:
    its training figures a mean over a few steps) the last whole epoch's record before it.

    >>> rs = [{"epoch": 1, "train_mase": 0.4}, {"epoch": 2, "train_mase": 0.5, "steps_in_epoch": 4, "steps_per_epoch": 12}]
    >>> _whole_epoch(rs, rs[1])["epoch"], _whole_epoch(rs, rs[0])["epoch"]
    (1, 1)
    """
    if partial_epoch(record) is None:
        return record
    return next((r for r in reversed(records) if r["epoch"] < record["epoch"] and partial_epoch(r) is None), record)


def _fixed(value: float) -> str:
    """Bits per token and MASE as the findings show them: to a thousandth, whatever the size."""
    return f"{value:.3f}"


def _overfit_remedies(config: Config, task: Task, records: list[dict[str, Any]], lowest: str, at: int,
                      say: KeySpelling) -> str:
    """What would hold an overfitting model back, in the task's own regularizers, leaving out
    what the config already has at that strength."""
    tc, m = config.training, config.model
    remedies = []
    if tc.early_stopping.patience == 0:
        remedies.append(f"stop at the best validation epoch: "
                        f"{say.set('training.early_stopping.patience', max(5, len(records) // 10))} (restores the "
                        f"best weights; {lowest} at epoch {at} of {len(records)})")
    if task.kind == "language_model":
        # AWD-LSTM's (Merity et al. 2017) settings, characters and words: the strengths worth trying next
        word = config.data.tokens == "word"
        suggested = [("model.input_dropout", m.input_dropout, 0.4 if word else 0.1),
                     ("model.weight_drop", m.weight_drop, 0.5),
                     ("training.ar", tc.ar, 2.0), ("training.tar", tc.tar, 1.0)]
        if word:  # (AWD-LSTM's character models drop no embedding rows, nor does the character template)
            suggested.insert(0, ("model.embedding_dropout", m.embedding_dropout, 0.1))
        for key, now, to in suggested:
            if now < to:
                remedies.append(f"raise {say.key(key)} (now {now:g}), e.g. to {to:g}")
        remedies.append("or give it more training text")
        return "; ".join(remedies) + "."
    if m.recurrent_dropout < 0.25:
        remedies.append(f"raise {say.key('model.recurrent_dropout')} (now {m.recurrent_dropout:g}), e.g. to 0.25")
    if m.head.dropout < 0.25:
        remedies.append(f"raise {say.key('model.head.dropout')} (now {m.head.dropout:g}), e.g. to 0.3")
    remedies.append(f"raise {say.key('training.weight_decay')} (now {tc.weight_decay:g}) or the recurrent decay rule")
    remedies.append("or give it longer series" if task.stream else "or give it more training data")
    return "; ".join(remedies) + "."
