"""Record weight and gradient norms during any training loop, into ``RUN_DIR/tracked.jsonl``.

Three lines in a plain PyTorch loop::

    tracker = rnnlab.Tracker(run_dir, model, weights_every=1, grads_every=10)
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        tracker.step(loss)          # after backward, before optimizer.step(): once per step
        optimizer.step()
    tracker.close()

The order matters, and nothing fails when it is wrong: before ``loss.backward()`` the gradients
are missing (or the zeros ``zero_grad(set_to_none=False)`` left), after ``optimizer.step()``
they are paired with the updated weights and each ``update_ratio`` is the next step's, and a
second call in one iteration counts every step twice. Hooks on the tracked parameters see where
the backward and the updates fall, and the first such call is said in one ``UserWarning`` per
tracker (an optimizer that updates without bumping the weights' version counter, such as a
fused one, hides a call after ``optimizer.step()``).

Records follow :mod:`rnnlab.rundir`: ``{"step", "epoch", "name", "stat", "value"}``. For each
tracked parameter ``name`` (e.g. ``"lstm.weight_hh_l0"``), with ``norms=("l2",)``:

============================  ==========================================================
stat                          value
============================  ==========================================================
``l2_per_channel``            list: L2 norm of each output channel (row, dim 0; for a
                              gate-stacked recurrent weight the rows run gate by gate in
                              :data:`rnnlab.gates.GATES` order)
``l2_mean`` / ``l2_max``      mean / max of the per-channel norms
``l2``                        norm of the whole tensor
``grad_l2_per_channel`` ...   the same four for the gradient (every ``grads_every`` steps)
``update_ratio``              ``‖w_after − w_before‖ / ‖w_before‖`` of the optimizer step
                              taken right after a gradient step (recorded under that step
                              and its epoch, when the next step or :meth:`~Tracker.close`
                              sees the weights after it)
============================  ==========================================================

plus ``name="loss", stat="value"`` at every step whose ``step(loss)`` gets a loss (whatever
else is due: files written before this recorded it on weight steps only), and ``name="model",
stat="grad_l2"`` (global gradient norm) on gradient steps. With the first records of a file
(and of a tracker whose parameters the file does not name yet), one record per tracked
parameter names its rows, as :func:`rnnlab.gates.layer_weights` splits its layer: ``name``
``"gates/<parameter>"`` (:data:`GATES_PREFIX`), ``stat`` ``"<kind>:<component>:<gates>"``
(``"lstm:recurrent:i,f,g,o"``; ``"none"`` outside any gate layout) and ``value`` the number of
gates stacked along dim 0. :func:`read_tracked` keeps them apart from the statistics, in its
``layouts``; a file written before them has none. All numbers of one step are computed
with tensor ops and copied to the host once; the records of one step are written in one append
(flushed), so a run killed with ``kill -9`` loses at most the step in flight, and a tracker left
unclosed (made in a function whose loop raised) loses nothing: when it is garbage-collected it
gives its run directory back, and a new tracker continues after its records.

Example:
    >>> import tempfile, torch
    >>> model = torch.nn.LSTM(3, 4)
    >>> run = tempfile.mkdtemp()
    >>> with Tracker(run, model, grads_every=1) as tracker:
    ...     model(torch.randn(5, 2, 3))[0].sum().backward()
    ...     tracker.step()
    >>> t = read_tracked(run)
    >>> t["weight_hh_l0"]["l2_per_channel"].values.shape  # [records, channels]
    (1, 16)
    >>> t.layouts["weight_hh_l0"].gates
    ('i', 'f', 'g', 'o')
"""

from __future__ import annotations

import fnmatch
import functools
import gc
import numbers
import os
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab._checks import did_you_mean
from rnnlab.device import wide_dtype
from rnnlab.errors import RunDirError
from rnnlab.gates import (
    GATES,
    GateLayout,
    kind_of,
    layer_weights,
    split_gate_axis,
    stored_parameter,
)
from rnnlab.lock import DirectoryBusy, DirLock
from rnnlab.rundir import (
    RECORDED_BY_OWN_LOOP,
    RUN,
    RunDir,
    append_jsonl_many,
    claim,
    refuse_link,
    truncate_jsonl,
)

#: Norm names accepted by ``Tracker(norms=...)`` and their vector-norm order.
NORMS: dict[str, float] = {"l1": 1.0, "l2": 2.0, "linf": float("inf")}


def checked_tracking(*, weights_every: Any, grads_every: Any, norms: Any, start_step: Any = None) -> tuple[str, ...]:
    """The :class:`Tracker`'s schedule and norms checked (one-line errors naming the argument),
    and ``norms`` as a tuple (one name given alone is that name, not its characters); for those
    that build a Tracker later, such as the Lightning callback.

    >>> checked_tracking(weights_every=5, grads_every=0, norms="l2")
    ('l2',)
    """
    for arg, v in (("weights_every", weights_every), ("grads_every", grads_every), ("start_step", start_step)):
        if arg == "start_step" and v is None:  # (the Tracker's default: after the steps recorded)
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{arg}: expected an integer >= 0, got {v!r}")
    names = (norms,) if isinstance(norms, str) else norms
    if not isinstance(names, Sequence) or not names:
        raise ValueError(f"norms: expected one or more of {list(NORMS)}, got {norms!r}")
    for n in names:
        if n not in NORMS:
            raise ValueError(f"norms: expected names among {list(NORMS)}, got {n!r}{did_you_mean(str(n), NORMS)}")
    return tuple(names)


class TrackedSeries(NamedTuple):
    """One tracked statistic over time: ``steps [N]`` (int), ``values [N]`` for scalars or
    ``[N, C]`` for per-channel lists, ``epochs [N]`` (float, NaN where no epoch was given)."""

    steps: np.ndarray
    values: np.ndarray
    epochs: np.ndarray


#: How the name of a record naming a tracked parameter's gates begins (not a parameter: like a
#: target-norm controller's ``target_norm/<group>``).
GATES_PREFIX = "gates/"
#: The ``stat`` of that record for a parameter outside any gate layout.
NO_GATES_STAT = "none"


class TrackedGates(NamedTuple):
    """What ``tracked.jsonl`` says of a parameter's rows (dim 0): the ``kind`` of its layer
    (``"lstm"``, ``"gru"``, a cell's own kind; None outside any gate layout), its ``component``
    (``"recurrent"``, ``"kernel"``, ``"bias_ih"``, ``"bias_hh"``; None outside) and the ``gates``
    stacked along them, in order (``()`` outside).

    >>> import numpy as np
    >>> TrackedGates("gru", "recurrent", ("r", "z", "n")).split(np.arange(6.0).reshape(1, 6))["z"]
    array([[2., 3.]])
    """

    kind: str | None
    component: str | None
    gates: tuple[str, ...]

    @property
    def stat(self) -> str:
        """The ``stat`` of the record naming these gates: ``"lstm:recurrent:i,f,g,o"``."""
        return f"{self.kind}:{self.component}:{','.join(self.gates)}" if self.gates else NO_GATES_STAT

    def split(self, values: np.ndarray) -> dict[str, np.ndarray] | None:
        """Per-channel ``values [..., G·H]`` split into ``{gate: [..., H]}`` along the last axis,
        by :func:`rnnlab.gates.split_gate_axis`; None when there is nothing to split: fewer than
        two gates, ragged records (the parameter changed shape), a length that is no multiple
        of the gates, or a cell's kind this process declared with other gates. A cell's kind this
        process has not declared (its class not imported) is declared with the gates the file
        names, as the cell's :class:`~rnnlab.gates.GateLayout` declared it when it was tracked."""
        if len(self.gates) < 2 or self.kind is None or values.dtype == object:
            return None
        if GATES.get(self.kind) != self.gates:
            if self.kind in GATES:
                return None
            try:  # (a cell's kind its class declares, not imported here: the file names its gates)
                GateLayout(self.kind, gates=self.gates, kernel="kernel", recurrent="recurrent")
            except (TypeError, ValueError):
                return None
        try:
            parts = split_gate_axis(torch.from_numpy(np.asarray(values, dtype=np.float64)), self.kind, dim=-1)
        except ValueError:
            return None
        return {gate: part.numpy() for gate, part in parts.items()}


#: The layout of a parameter outside any gate layout.
NO_GATES = TrackedGates(None, None, ())


class TrackedRecords(dict[str, dict[str, TrackedSeries]]):
    """What :func:`read_tracked` returns: ``{name: {stat: TrackedSeries}}``, and ``layouts``,
    ``{name: TrackedGates}`` of the parameters whose rows the file names (empty for a file
    written before the Tracker named them).

    >>> TrackedRecords({"w": {}}).layouts
    {}
    """

    def __init__(self, series: Any = (), layouts: dict[str, TrackedGates] | None = None) -> None:
        super().__init__(series)
        self.layouts: dict[str, TrackedGates] = dict(layouts or {})


class Tracker:
    """Record norms of weights (every ``weights_every`` steps) and gradients (every
    ``grads_every`` steps) of ``model``'s parameters into ``RUN_DIR/tracked.jsonl``.

    Args:
        run_dir: the run directory (created if missing).
        model: the model whose parameters are tracked. A cell of its own whose declared
            ``gate_layout`` does not fit its weights is refused here, with
            :func:`rnnlab.introspect.gate_weights`' one-line error (its norms would not split per gate).
        weights_every: record weight norms every this many steps (0: never).
        grads_every: record gradient norms and the update ratio every this many steps (0: never).
        params: parameter names or ``fnmatch`` patterns (``"lstm.*"``, ``"*weight_hh*"``) to
            track; default every parameter that requires grad.
        norms: which norms, among ``"l1"``, ``"l2"``, ``"linf"``.
        per_channel: also record the per-channel vectors (else only mean/max/total).
        start_step: number of the first step. None (the default): 0 in a directory without
            records, and in one that holds records (a notebook cell run again), the step after
            the last one recorded: the new records follow them, nothing is dropped, and a
            ``UserWarning`` says so. Given (the checkpoint's step when resuming; 0 to start over),
            the records at steps ``>= start_step`` already in the file are dropped, so a resumed
            run records nothing twice. Records kept of a parameter whose rows differ from the one
            tracked now (another model's: a cell run again with another hidden size, or another
            gate layout under the same name) are a one-line :class:`~rnnlab.errors.RunDirError`,
            not one series of two models (another run directory, or ``start_step=0``, dropping them).

    Call :meth:`step` once per training step after ``loss.backward()`` and before
    ``optimizer.step()`` (``optimizer.zero_grad(); loss.backward(); tracker.step(loss);
    optimizer.step()``; a call elsewhere is warned of, once); :meth:`close` after the last
    ``optimizer.step()`` (or use ``with``): it records the last step's ``update_ratio``. A
    tracker garbage-collected unclosed gives the run directory back (its records are on disk).

    >>> import tempfile, warnings, torch
    >>> run, model = tempfile.mkdtemp(), torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> with Tracker(run, model) as t:
    ...     for _ in range(2):
    ...         opt.zero_grad(); loss = model(torch.ones(1, 2)).pow(2).sum(); loss.backward()
    ...         t.step(loss); opt.step()
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     again = Tracker(run, model)  # the same directory: continues, keeps steps 0 and 1
    >>> again.step_count, len(said)
    (2, 1)
    >>> again.close()
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | RunDir,
        model: nn.Module,
        *,
        weights_every: int = 1,
        grads_every: int = 10,
        params: Sequence[str] | None = None,
        norms: Sequence[str] = ("l2",),
        per_channel: bool = True,
        start_step: int | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        norms = checked_tracking(weights_every=weights_every, grads_every=grads_every, norms=norms,
                                 start_step=start_step)
        # (before RunDir, which creates the directory: a refused model leaves no empty run behind)
        self.params = _select(model, params)
        self._layouts = _param_layouts(model, self.params)
        self.run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        self.path = self.run.tracked
        self.model = model
        self.weights_every = weights_every
        self.grads_every = grads_every
        self.norms = tuple(norms)
        self.per_channel = bool(per_channel)
        self._device = self.params[0][1].device
        self._wide = wide_dtype(self._device)  # (the loss and the total norm; float32 where float64 is missing)
        self.step_count = 0 if start_step is None else start_step
        self.epoch: int | None = None
        # (step, its epoch, the weights before its update): the pending update ratio
        self._snapshot: tuple[int, int | None, list[Tensor]] | None = None
        self.last_records: list[dict[str, Any]] = []
        """The records the last :meth:`step` wrote (empty when nothing was due)."""
        self._closed = False
        # The parameters whose gates the file does not name yet: written with this tracker's first
        # records (a tracker that records nothing writes nothing); a resumed run's file names them
        # already, as the uninterrupted run's does (truncate_after finds them).
        self._unnamed = set(self._layouts)
        # One writer per run directory: the trainer hands over the run it holds; any other
        # tracker claims the directory (a folder of the user's own files is refused, as --out is;
        # a second tracker on it is refused, naming the pid).
        self._lock = None if self.run.lock.held else self._claim()
        if self._lock is not None:  # (so that diagnose(..., run_dir=tracker.run) writes into the run it holds)
            self.run.lock = self._lock
        # A step called at the wrong point of the loop records wrong statistics without failing:
        # hooks on the tracked parameters see where the backward and the updates fall, and the
        # first misplaced call is said, once.
        self._watch = _OrderWatch()
        self._told = False
        self._last_call: tuple[int, int, list[int]] | None = None  # (step, backwards seen, weight versions)
        self._zero_grads_step: int | None = None  # a gradient step whose gradients were all exactly 0
        # A gradient step that found every .grad None: (step, backwards seen, weight versions) then
        self._gradless: tuple[int, int, list[int]] | None = None
        # A tracker nothing refers to any more (made in a function whose loop raised) gives the
        # directory back and takes its hooks off when collected: weakref.finalize, holding the lock
        # and the hooks but not the tracker, so that nothing is resurrected. What it recorded is on
        # disk already (each step's records are written and flushed by that step).
        self._collected = weakref.finalize(self, _let_go, self._lock, self._watch)
        self._collected.atexit = False  # (at exit the kernel drops the lock with the process, as before)
        try:
            refuse_link(self.path)
            if self.path.exists():
                recorded = self.run.read_tracked()
                if start_step is None:
                    self.step_count = 1 + max((int(r["step"]) for r in recorded), default=-1)
                # (before the warning that the records are kept: they are not, when refused)
                self._refuse_another_model(recorded)
                if start_step is None:
                    self._say_kept(self.step_count - 1)
                # Drop what a previous (killed or superseded) run wrote from start_step on, and any
                # line cut by a kill, before appending.
                self.truncate_after(self.step_count - 1)
            self._watch.attach(self.params)
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------ public
    def step(self, loss: Tensor | float | None = None, epoch: int | None = None) -> None:
        """Record the statistics due at this step, then advance the step counter; the records
        written are also kept in :attr:`last_records` (for a caller that logs them elsewhere too).

        ``loss`` (optional: a scalar tensor, or a number) is recorded as ``name="loss",
        stat="value"`` at this step, whatever else is due. ``epoch`` (optional, an integer >= 1:
        epochs count from 1, as in ``metrics.jsonl``) is stored in every record (and kept for later
        steps). Both are checked at every call, due or not. Called at another point of the loop
        than after ``loss.backward()`` and before ``optimizer.step()`` (before the backward, after
        the update, twice in one iteration), it records what it finds, and the first such call of
        this tracker is said in one ``UserWarning``. A gradient step that finds no gradient at all is
        said at the next call (or :meth:`close`), which tells its two causes apart: a backward that
        reached the tracked parameters since (the call came before ``loss.backward()``), or none and
        no weight change (the model tracked is not the one trained: a model made again after the
        Tracker).

        >>> import tempfile, torch
        >>> t = Tracker(tempfile.mkdtemp(), torch.nn.Linear(2, 1))
        >>> t.step(torch.tensor([1.0, 2.0]))
        Traceback (most recent call last):
        ...
        ValueError: loss: expected a scalar loss tensor or number, got a tensor of shape (2,)
        >>> t.step(epoch=0)
        Traceback (most recent call last):
        ...
        ValueError: epoch: expected an integer >= 1 (epochs count from 1, as in metrics.jsonl) or None, got 0; for a loop over range(n) pass epoch + 1
        >>> t.close()
        """
        if self._closed:
            raise RuntimeError("Tracker.step: the tracker is closed")
        loss = _checked_loss(loss)
        if epoch is not None:
            # (a step here is a training step, so within an epoch: none is "before training", and the
            # run's other records (metrics.jsonl, the trainer's, the Lightning callback's) number it from 1)
            if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 1:
                first = "; for a loop over range(n) pass epoch + 1" if epoch == 0 and not isinstance(epoch, bool) else ""
                raise ValueError(f"epoch: expected an integer >= 1 (epochs count from 1, as in metrics.jsonl) or "
                                 f"None, got {epoch!r}{first}")
            self.epoch = int(epoch)
        step = self.step_count
        self.step_count += 1
        do_w = self.weights_every > 0 and step % self.weights_every == 0
        do_g = self.grads_every > 0 and step % self.grads_every == 0
        self.last_records = []
        misplaced = self._misplaced(step)  # (first: it keeps what this call saw, for the next)
        misplaced = self._without_gradient(f"step {step}") or misplaced
        if not (do_w or do_g or self._snapshot is not None or loss is not None):
            self._tell(misplaced)
            return
        rec = _Records(self._device)
        with torch.no_grad():
            self._add_pending_ratio(rec)
            if loss is not None:  # (every step that gets one: the loss curve is the loop's, whatever is due)
                rec.add(step, self.epoch, "loss", "value",
                        torch.as_tensor(loss, device=self._device).to(self._wide), False)
            if do_w:
                for name, p in self.params:
                    self._norm_stats(rec, step, name, p, "")
            if do_g:
                grads = [(n, p.grad) for n, p in self.params if p.grad is not None]
                if not grads and misplaced is None and self._gradless is None:
                    # (two causes look alike now: what the next call or close() sees tells them apart)
                    self._gradless = (step, self._watch.backwards, [p._version for _, p in self.params])
                if grads:
                    total = torch.linalg.vector_norm(
                        torch.stack([torch.linalg.vector_norm(g.detach().to(self._wide)) for _, g in grads])
                    )
                    rec.add(step, self.epoch, "model", "grad_l2", total, False)
                for name, g in grads:
                    self._norm_stats(rec, step, name, g, "grad_")
                self._snapshot = (step, self.epoch, [p.detach().clone() for _, p in self.params])
        # (after the write: a warning the loop turns into an error loses none of the step's records)
        self.last_records = self._write(rec)
        self._tell(misplaced or self._moved_without_gradient(self.last_records))

    def _misplaced(self, step: int) -> str | None:
        """What is wrong with calling :meth:`step` now, from what the hooks saw since the previous
        call: nothing done (a second call in one iteration), or weights changed after the backward
        that computed the gradients they hold (a call after ``optimizer.step()``); None when it
        looks right, or cannot be told (a loop whose gradients no backward accumulated)."""
        watch = self._watch
        versions = [p._version for _, p in self.params]
        last, self._last_call = self._last_call, (step, watch.backwards, versions)
        if self._told or watch.backwards == 0:
            return None
        if last is not None and last[1] == watch.backwards and last[2] == versions:
            return (f"Tracker.step (step {step}): called again with no loss.backward() and no weight change since "
                    f"the previous call (step {last[0]}), so each training step counts twice and every other "
                    f"update_ratio is 0: call it once per training step; {_CALL_IT}")
        for i, (_, p) in enumerate(self.params):
            seen = watch.at.get(i)
            # (the gradient untouched since its backward, the weight not: an update came in between;
            # an optimizer that does not bump the weights' version, fused AdamW, goes unseen)
            if seen is not None and versions[i] != seen[0] and p.grad is not None and p.grad._version == seen[1]:
                return (f"Tracker.step (step {step}): the weights changed after loss.backward() computed their "
                        "gradients (optimizer.step() ran before this call), so the gradients recorded are not of "
                        f"the weights recorded and each update_ratio is the next step's; {_CALL_IT}")
        return None

    def _without_gradient(self, now: str) -> str | None:
        """Why the gradient step remembered in ``_gradless`` found no gradient (every ``.grad``
        None), from what the hooks saw since (``now``: this call, or ``close()``): a backward that
        reached the tracked parameters after it (it ran before ``loss.backward()``), or none and no
        weight change (the model tracked is not the one trained: a model made again after the
        Tracker, whose weights are then recorded flat with an ``update_ratio`` of 0); both named
        when the weights changed with no backward. None when nothing is remembered."""
        if self._gradless is None:
            return None
        step, backwards, versions = self._gradless
        self._gradless = None
        head = (f"Tracker.step (step {step}): no tracked parameter has a gradient (every .grad is None), so no "
                f"gradient norm is recorded although grads_every={self.grads_every}")
        if self._watch.backwards > backwards:  # (a backward reached them after that call)
            return f"{head}: it ran before loss.backward(); {_CALL_IT}"
        other = (f"the model tracked ({type(self.model).__name__}) is not the one the loss and the optimizer use (a "
                 "model made again after the Tracker was made, e.g. by a notebook cell run again)")
        fix = "make the Tracker on the model you train, after that model is made"
        if [p._version for _, p in self.params] == versions:
            return (f"{head}, and by {now} no loss.backward() has reached the tracked parameters nor has any of "
                    f"their weights changed: {other}, so its weight norms are recorded flat and its update_ratio "
                    f"0; {fix}")
        return (f"{head}, and by {now} no loss.backward() has reached the tracked parameters although their weights "
                f"changed: either {other} ({fix}), or it runs before loss.backward() ({_CALL_IT})")

    def _moved_without_gradient(self, records: list[dict[str, Any]]) -> str | None:
        """The update ratio just written of a gradient step whose gradients were all exactly 0 (a
        call before ``loss.backward()``, after ``zero_grad(set_to_none=False)``) is above 0: said;
        and the gradient step of ``records``, if its gradients are all 0, remembered for the next."""
        if self._told:
            return None
        zero, self._zero_grads_step = self._zero_grads_step, next(
            (r["step"] for r in records if r["name"] == "model" and r["stat"] == "grad_l2" and r["value"] == 0.0),
            None)
        if zero is None or not any(r["stat"] == "update_ratio" and r["step"] == zero and r["value"] > 0
                                   for r in records):
            return None
        return (f"Tracker.step (step {zero}): every tracked gradient was exactly 0 while the optimizer step after it "
                "moved the weights, so the gradient norms recorded are 0: it ran before loss.backward() (after "
                f"optimizer.zero_grad(set_to_none=False)); {_CALL_IT}")

    def _tell(self, message: str | None) -> None:
        if message is None or self._told:
            return
        self._told = True  # (once per tracker: the same mistake repeats at every step)
        from rnnlab.layers.regularizers import warn_at_user_line

        warn_at_user_line(message)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to record what an uninterrupted one does: the weights before
        the update of the last gradient step, whose ``update_ratio`` the next :meth:`step` (or
        :meth:`close`) records (``{}`` when none is pending). Tensors, numbers and strings: a
        checkpoint holds it. (Not the step's epoch: the file's records of that step hold it.)

        >>> import tempfile, torch
        >>> model = torch.nn.Linear(2, 1)
        >>> t = Tracker(tempfile.mkdtemp(), model, grads_every=1)
        >>> model(torch.ones(1, 2)).sum().backward(); t.step()
        >>> sorted(t.state_dict()["update_ratio"]), t.state_dict()["update_ratio"]["step"]
        (['before', 'names', 'step'], 0)
        >>> t.close()
        """
        if self._snapshot is None:
            return {}
        step, _, before = self._snapshot
        return {"update_ratio": {"step": step, "names": [n for n, _ in self.params], "before": list(before)}}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Continue from the :meth:`state_dict` of the tracker of the run resumed (this tracker's
        ``start_step`` is the checkpoint's step): the pending ``update_ratio`` is recorded by the
        next :meth:`step`, as the uninterrupted run records it, and the record of it that the
        file already holds (written after the checkpoint by the session cut short, or at its
        :meth:`close`) is dropped. The ratio is recorded under the epoch that the file's records
        of its step carry (None when the file has none). Returns False, restoring nothing, when
        the ratio was of other parameters (``params`` changed on resume).

        >>> import tempfile, torch
        >>> model = torch.nn.Linear(2, 1)
        >>> t = Tracker(tempfile.mkdtemp(), model, grads_every=1, start_step=1)
        >>> t.load_state_dict({"update_ratio": {"step": 0, "names": ["weight", "bias"],
        ...                                    "before": [torch.ones(1, 2), torch.ones(1)]}})
        True
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> t.step(); [r["step"] for r in t.last_records if r["stat"] == "update_ratio"]
        [0, 0]
        >>> t.close()
        """
        pending = state.get("update_ratio")
        self._snapshot = None
        if pending is None:
            return True
        step, names, before = int(pending["step"]), list(pending["names"]), list(pending["before"])
        if step >= self.step_count:
            raise ValueError(f"state: expected the pending update_ratio of a step before start_step "
                             f"{self.step_count}, got step {step}")
        if names != [n for n, _ in self.params] or any(
                tuple(b.shape) != tuple(p.shape) for b, (_, p) in zip(before, self.params, strict=True)):
            return False
        epochs: list[Any] = []

        def keep(r: dict[str, Any]) -> bool:
            # (one pass over the file: the step's epoch is read from its records while its
            # ratio is dropped)
            if r.get("step") != step:
                return True
            epochs.append(r.get("epoch"))
            return r.get("stat") != "update_ratio"

        if self.path.exists():
            truncate_jsonl(self.path, keep)
        epoch = next((int(e) for e in epochs if e is not None), None)
        before = [b.to(device=p.device, dtype=p.dtype) for b, (_, p) in zip(before, self.params, strict=True)]
        self._snapshot = (step, epoch, before)
        return True

    def truncate_after(self, step: int) -> int:
        """Drop every record with ``step > step`` (for resuming from a checkpoint taken after
        ``step``); returns the number of records dropped."""
        if not self.path.exists():
            return 0
        named: dict[str, str] = {}

        def keep(r: dict[str, Any]) -> bool:
            kept = int(r.get("step", -1)) <= step
            if kept and str(r.get("name")).startswith(GATES_PREFIX):
                named[r["name"].removeprefix(GATES_PREFIX)] = r.get("stat")
            return kept

        dropped = truncate_jsonl(self.path, keep)
        self._unnamed = {n for n, lay in self._layouts.items() if named.get(n) != lay.stat}
        return dropped

    def close(self, *, record_pending: bool = True) -> None:
        """Stop recording and give up the run directory's lock. Call it after the last
        ``optimizer.step()``: the ``update_ratio`` of the last gradient step, which no later
        :meth:`step` records, is recorded now from the weights as they are (kept in
        :attr:`last_records`). ``record_pending=False`` drops it instead (a loop that stopped
        on an error, whose weights may be those of no finished step; a resumed run records it
        from its checkpoint's :meth:`state_dict`). Closing again does nothing.

        >>> import tempfile, torch
        >>> model = torch.nn.Linear(2, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> t = Tracker(tempfile.mkdtemp(), model, grads_every=1)
        >>> model(torch.ones(1, 2)).sum().backward(); t.step(epoch=3); opt.step()
        >>> t.close(); sorted({(r["step"], r["epoch"], r["stat"]) for r in t.last_records})
        [(0, 3, 'update_ratio')]
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.last_records = []
            if record_pending and self._snapshot is not None:
                rec = _Records(self._device)
                with torch.no_grad():
                    self._add_pending_ratio(rec)
                self.last_records = self._write(rec)
        finally:
            self._snapshot = None
            self._release()
        self._tell(self._without_gradient("close()") or self._moved_without_gradient(self.last_records))

    def _say_kept(self, last: int) -> None:
        """Say that the records up to step ``last`` (-1: none) are kept: a Tracker made again on a
        run directory continues it rather than erase what was recorded without being asked."""
        if last >= 0:
            from rnnlab.layers.regularizers import warn_at_user_line

            warn_at_user_line(f"Tracker: {self.path} already holds records of steps up to {last}: they are kept "
                              f"and this tracker continues at step {last + 1} (start_step=0 starts over, "
                              "dropping them; start_step=N, a checkpoint's step, drops those from N on)")

    def _refuse_another_model(self, recorded: list[dict[str, Any]]) -> None:
        """Refuse, in one line, to continue records (those before :attr:`step_count`, which are
        kept) of a parameter whose rows differ from the one tracked now: a notebook cell run again
        with a model of another size would append its norms to the old curves as one series, and a
        model swap would read as a change of training. What the file tells: the length of each
        parameter's per-channel vectors (its rows, dim 0; none when it was tracked with
        ``per_channel=False``) and the gates its rows stack (:attr:`TrackedGates.stat`)."""
        rows: dict[str, int] = {}
        gates: dict[str, str] = {}
        last = -1
        for r in recorded:  # (in file order: the last record of a name says what it was last)
            if int(r["step"]) >= self.step_count:
                continue  # (dropped before this tracker appends)
            last = max(last, int(r["step"]))
            name = str(r["name"])
            if name.startswith(GATES_PREFIX):
                gates[name.removeprefix(GATES_PREFIX)] = str(r["stat"])
            elif str(r["stat"]).endswith("_per_channel") and isinstance(r.get("value"), list):
                rows[name] = len(r["value"])
        for name, p in self.params:
            now = p.shape[0] if p.dim() >= 2 else p.numel()  # (the rows _norm_stats records per channel)
            if name in rows and rows[name] != now:
                what = f"{rows[name]} rows (dim 0) there and {now} now (shape {tuple(p.shape)})"
            elif name in gates and gates[name] != self._layouts[name].stat:
                what = f"its rows named {gates[name]!r} there and {self._layouts[name].stat!r} now"
            else:
                continue
            raise RunDirError(
                f"run_dir: {str(self.run.path)!r} holds the records of steps up to {last} of another model: parameter "
                f"{name!r} has {what}, so this tracker's records would continue its curves as one series; "
                "record this model into another run directory, or pass start_step=0 to drop those records and "
                "start over")

    def _claim(self) -> DirLock:
        def take() -> DirLock:
            return claim(self.run.path, RUN, named_by="run_dir", marker_record={"recorded_by": RECORDED_BY_OWN_LOOP})

        try:
            return take()
        except DirectoryBusy:
            pass
        # A tracker of this process that nothing refers to but a reference cycle (a traceback's
        # frames) holds the lock until the collector runs and its finalizer gives it back.
        gc.collect()
        return take()

    def _release(self) -> None:
        self._collected()  # (once: the lock given back, the hooks taken off)
        self._lock = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # (a block left on an error may have stopped between the last step and its update)
        self.close(record_pending=exc_type is None)

    def __repr__(self) -> str:
        return (
            f"Tracker({str(self.run.path)!r}, {len(self.params)} parameters, weights_every="
            f"{self.weights_every}, grads_every={self.grads_every}, step={self.step_count})"
        )

    # ------------------------------------------------------------------ internals
    def _write(self, rec: _Records) -> list[dict[str, Any]]:
        """Write ``rec``, after the records naming the gates of the parameters the file does not
        name yet; returns ``rec``'s (the statistics: what a logger logs)."""
        head = []
        if self._unnamed and rec.layout:
            step = min(entry[0] for entry in rec.layout)
            head = [{"step": step, "epoch": None, "name": GATES_PREFIX + name, "stat": lay.stat,
                     "value": len(lay.gates)} for name, lay in self._layouts.items() if name in self._unnamed]
        records = rec.write(self.path, head)
        if records:
            self._unnamed = set()
        return records

    def _add_pending_ratio(self, rec: _Records) -> None:
        """The update ratio of the last gradient step, from the weights as they are now (after
        its optimizer step), under that step and its epoch."""
        if self._snapshot is None:
            return
        step, epoch, before = self._snapshot
        for (name, p), b in zip(self.params, before, strict=True):
            rec.add(step, epoch, name, "update_ratio",
                    torch.linalg.vector_norm(p - b) / torch.linalg.vector_norm(b), False)
        self._snapshot = None

    def _norm_stats(self, rec: _Records, step: int, name: str, t: Tensor, prefix: str) -> None:
        t = t.detach()
        for norm in self.norms:
            order = NORMS[norm]
            if t.dim() >= 2:
                per = torch.linalg.vector_norm(t.reshape(t.shape[0], -1), ord=order, dim=1)
            else:
                per = t.reshape(-1).abs()
            if self.per_channel:
                rec.add(step, self.epoch, name, f"{prefix}{norm}_per_channel", per, True)
            rec.add(step, self.epoch, name, f"{prefix}{norm}_mean", per.mean(), False)
            rec.add(step, self.epoch, name, f"{prefix}{norm}_max", per.max(), False)
            rec.add(step, self.epoch, name, f"{prefix}{norm}", torch.linalg.vector_norm(per, ord=order), False)


#: How :class:`Tracker` is called, said by its warnings of a call at the wrong point of the loop.
_CALL_IT = ("call it after loss.backward() and before optimizer.step(): optimizer.zero_grad(); "
            "loss.backward(); tracker.step(loss); optimizer.step()")


class _OrderWatch:
    """What the loop did to the tracked parameters, seen from a hook on each that runs when a
    backward has accumulated its gradient: the number of such accumulations, and per parameter
    (its index) the version counters of the weight and of its gradient just after its last one.
    Holds no reference to the tracker, which the hooks must not keep alive."""

    def __init__(self) -> None:
        self.backwards = 0
        self.at: dict[int, tuple[int, int]] = {}
        self.handles: list[Any] = []

    def attach(self, params: list[tuple[str, nn.Parameter]]) -> None:
        for i, (_, p) in enumerate(params):
            self.handles.append(p.register_post_accumulate_grad_hook(functools.partial(self._accumulated, i)))

    def _accumulated(self, i: int, p: Tensor) -> None:
        self.backwards += 1
        self.at[i] = (p._version, -1 if p.grad is None else p.grad._version)

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def _let_go(lock: DirLock | None, watch: _OrderWatch) -> None:
    """What closing a :class:`Tracker` gives back: the hooks, and the lock it took."""
    watch.detach()
    if lock is not None:
        lock.release()


class _Records:
    """The records of one write: every number goes into one flat tensor, so that the write costs
    one device→host copy."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pieces: list[Tensor] = []
        self.layout: list[tuple[int, int | None, str, str, int, int]] = []  # (.., offset, length; -1: scalar)
        self.offset = 0

    def add(self, step: int, epoch: int | None, name: str, stat: str, t: Tensor, vector: bool) -> None:
        t = t.detach().reshape(-1)
        self.pieces.append(t)
        self.layout.append((step, epoch, name, stat, self.offset, t.numel() if vector else -1))
        self.offset += t.numel()

    def write(self, path: Any, head: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """Append the records to ``path`` in one write (flushed), after ``head`` (written only with
        them); returns them."""
        if not self.pieces:
            return []
        # torch.cat promotes float32 norms and a float64 loss to float64 (float32 on MPS); then
        # one host copy.
        flat = torch.cat([p.to(self.device) for p in self.pieces]).cpu().tolist()
        records = []
        for step, epoch, name, stat, off, length in self.layout:
            value: Any = flat[off] if length < 0 else flat[off : off + length]
            records.append({"step": step, "epoch": epoch, "name": name, "stat": stat, "value": value})
        append_jsonl_many(path, [*head, *records])
        return records


def _checked_loss(loss: object) -> Tensor | float | None:
    """``loss`` for :meth:`Tracker.step`: None, a one-element tensor or a real number; anything
    else is refused before a wrong value (a batch's first element) is recorded."""
    if loss is None:
        return None
    if isinstance(loss, Tensor):
        if loss.numel() != 1 or loss.is_complex():
            what = f"a tensor of shape {tuple(loss.shape)}" if loss.numel() != 1 else f"a {loss.dtype} tensor"
            raise ValueError(f"loss: expected a scalar loss tensor or number, got {what}")
        return loss.detach()
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise TypeError(f"loss: expected a scalar loss tensor or number, got {type(loss).__name__} {loss!r}")
    return float(loss)


def _param_layouts(model: nn.Module, params: list[tuple[str, nn.Parameter]]) -> dict[str, TrackedGates]:
    """``{name: TrackedGates}`` of the tracked ``params``: where ``model``'s recurrent layers stack
    gates (:func:`rnnlab.gates.layer_weights`, the split the TensorBoard export uses), else
    :data:`NO_GATES`. A cell whose declared gate layout does not fit its weights is refused with
    :func:`rnnlab.gates.layer_weights`' own error (as ``gate_weights`` and the health check say it):
    tracked as if it declared none, its norms would be drawn whole where the user expects gates.

    >>> from rnnlab.gates import GateLayout
    >>> class ThreeRowsPerUnit(nn.Module):  # declares the 4 gates of an LSTM, holds 3 blocks of rows
    ...     gate_layout = GateLayout("lstm", kernel="ih.weight", recurrent="hh.weight")
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden_size, self.ih, self.hh = 2, nn.Linear(3, 6), nn.Linear(2, 6)
    >>> import rnnlab
    >>> net = rnnlab.Recurrent(ThreeRowsPerUnit())
    >>> _param_layouts(net, list(net.named_parameters()))
    Traceback (most recent call last):
    ...
    ValueError: gate_layout.kernel: ThreeRowsPerUnit.ih.weight has shape (6, 3), expected 4 gates of 'lstm' (i, f, g, o) stacked along dim 0: [G·H, input] = (8, 3) for its hidden_size H=2; if it stacks 3 gates, declare a kind of its own with their names, GateLayout('my_kind', gates=(...), ...)
    """
    from rnnlab.introspect.modules import recurrent_modules

    # (by the stored tensor, as named_parameters lists it: a parametrized weight is tracked as its
    # ".original", and a cell's layout names parameters relative to the cell)
    found: dict[int, TrackedGates] = {}
    for _, module in recurrent_modules(model):
        builtin = kind_of(module) is not None
        # (a cell declares a layout in either direction: the health check's criterion, so that the
        # tracker refuses what its gate_layout finding reports)
        cells = (getattr(module, "cell", None), getattr(module, "reverse_cell", None))
        if not builtin and all(getattr(c, "gate_layout", None) is None for c in cells):
            continue  # (a cell of one's own that declares none: tracked whole, as gate_weights leaves it)
        try:  # (a direction that declares none: layer_weights says which, and how to declare it)
            split = layer_weights(module)
        except (TypeError, ValueError):
            if builtin:  # (never seen: a layer of torch's or rnnlab's own is tracked whole, as before)
                continue
            raise
        for lw in split:
            for comp, pname in lw.names.items():
                owner, _, leaf = pname.rpartition(".")
                stored = stored_parameter(module.get_submodule(owner) if owner else module, leaf)
                found[id(stored)] = TrackedGates(lw.kind, comp, GATES[lw.kind])
    return {name: found.get(id(p), NO_GATES) for name, p in params}


def _select(model: nn.Module, patterns: Sequence[str] | None) -> list[tuple[str, nn.Parameter]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.numel() > 0]
    if patterns is None:
        if not named:
            raise ValueError(f"model: {type(model).__name__} has no trainable parameter to track")
        return named
    if isinstance(patterns, str):
        patterns = [patterns]
    if len(patterns) == 0:
        raise ValueError("params: expected at least one parameter name or pattern (None tracks every "
                         "parameter), got an empty list")
    names = [n for n, _ in named]
    chosen = set()
    for pat in patterns:
        hits = fnmatch.filter(names, pat)
        if not hits:
            raise KeyError(
                f"params: pattern {pat!r} matches no trainable parameter of "
                f"{type(model).__name__}{did_you_mean(pat, _patterns_of(names))}"
            )
        chosen.update(hits)
    return [(n, p) for n, p in named if n in chosen]


def _patterns_of(names: Sequence[str]) -> list[str]:
    """What a pattern of ``params`` may have meant: the parameter names and a pattern per module
    that holds some (``"lstm.*"``, ``"encoder.lstm.*"``): a pattern compared with full names alone
    is too short to be close to any.

    >>> _patterns_of(["lstm.weight_hh_l0", "head.bias"])
    ['lstm.*', 'head.*', 'lstm.weight_hh_l0', 'head.bias']
    """
    modules = [".".join(n.split(".")[:k]) + ".*" for n in names for k in range(1, n.count(".") + 1)]
    return [*dict.fromkeys(modules), *names]


def read_tracked(run_dir: str | os.PathLike[str] | RunDir) -> TrackedRecords:
    """Read ``RUN_DIR/tracked.jsonl`` as ``{name: {stat: TrackedSeries(steps, values, epochs)}}``.

    Works while the run is still writing (a cut last line is skipped). Records are sorted by
    step; per-channel stats give ``values [N, C]``. The records naming the parameters' gates
    are not statistics: they are the mapping's ``layouts`` (:class:`TrackedRecords`).

    >>> import tempfile
    >>> from rnnlab.rundir import append_jsonl_many
    >>> run = RunDir(tempfile.mkdtemp())
    >>> append_jsonl_many(run.tracked, [
    ...     {"step": 0, "epoch": 1, "name": "w", "stat": "l2_mean", "value": 2.0},
    ...     {"step": 5, "epoch": 1, "name": "w", "stat": "l2_mean", "value": 1.5}])
    >>> s = read_tracked(run.path)["w"]["l2_mean"]
    >>> s.steps.tolist(), s.values.tolist()
    ([0, 5], [2.0, 1.5])
    """
    rd = RunDir.existing(run_dir)
    grouped: dict[str, dict[str, list[tuple[int, float, Any]]]] = {}
    layouts: dict[str, TrackedGates] = {}
    for r in rd.read_tracked():
        key_name, key_stat, step = r["name"], r["stat"], r["step"]
        if key_name.startswith(GATES_PREFIX):  # (in file order: the tracker that wrote last names them)
            layouts[key_name.removeprefix(GATES_PREFIX)] = _layout_record(rd, r)
            continue
        epoch = r.get("epoch")
        grouped.setdefault(key_name, {}).setdefault(key_stat, []).append(
            (step, float("nan") if epoch is None else float(epoch), r.get("value"))
        )
    out = TrackedRecords(layouts=layouts)
    for name, stats in grouped.items():
        out[name] = {}
        for stat, rows in stats.items():
            rows.sort(key=lambda row: row[0])
            values = [row[2] for row in rows]
            try:
                arr = np.asarray(values, dtype=np.float64)
            except ValueError:  # ragged per-channel lists (the parameter changed shape)
                arr = np.empty(len(values), dtype=object)
                arr[:] = [np.asarray(v, dtype=np.float64) for v in values]
            out[name][stat] = TrackedSeries(
                steps=np.asarray([row[0] for row in rows], dtype=np.int64),
                values=arr,
                epochs=np.asarray([row[1] for row in rows], dtype=np.float64),
            )
    return out


def _layout_record(rd: RunDir, r: dict[str, Any]) -> TrackedGates:
    """The :class:`TrackedGates` a ``gates/<parameter>`` record names; a RunDirError when damaged."""
    if r["stat"] == NO_GATES_STAT and r["value"] == 0:
        return NO_GATES
    kind, component, gates = [*r["stat"].split(":", 2), "", ""][:3]
    names = tuple(gates.split(","))
    if not (kind.isidentifier() and component.isidentifier() and all(g.isidentifier() for g in names)
            and len(names) == r["value"]):
        raise RunDirError(f"{rd.tracked}: the record {r['name']!r} at step {r['step']}: expected stat "
                          f"'<kind>:<component>:<gates>' (e.g. 'lstm:recurrent:i,f,g,o') and value the number of "
                          f"gates, or stat {NO_GATES_STAT!r} and value 0, got stat {r['stat']!r}, value {r['value']!r}")
    return TrackedGates(kind, component, names)


__all__ = ["GATES_PREFIX", "NORMS", "TrackedGates", "TrackedRecords", "TrackedSeries", "Tracker", "read_tracked"]
