"""Target weight norm: choose the norm you want, let a controller find the weight decay.

For each chosen param group the user gives a target per-channel L2 norm. A channel is an output
unit: a row of a weight ``[out, in]`` — for a recurrent weight ``[G*H, in]`` one unit of one gate
— and an entry of a vector (e.g. IndRNN's recurrent weight). The group's norm is the ``mean`` or
``max`` over all its channels (:func:`rnnlab.introspect.stats.channel_norms`).

Every ``every`` calls of :meth:`TargetNormController.step` (call it after each
``optimizer.step()``) the controller measures each group's norm ``n``, forms the log error
``e = log(n / target)`` and sets the group's ``weight_decay``:

* ``mode="multiplicative"``: ``wd ← wd · exp(gain · e)`` — decay rises while the norm is above
  target and falls while below (an integral controller in log space);
* ``mode="pi"``: ``wd = wd_0 · exp(gain · e + ki · Σe)`` — a proportional term for a quick
  response and an integral term that removes the remaining error;
* ``mode="rate"`` (default): a model of the norm. One step multiplies every weight by
  ``1 − lr·wd``, so over the last ``every`` steps the decay removed about
  ``D = lr·wd·every·n̄`` (``n̄`` the mean of the last two measurements) and the gradient steps
  added ``G = Δn + D`` (smoothed: ``G ← ½G + ½G_new``). The next decay is chosen so the norm
  moves a fraction ``gain`` (≤ 1) of the way to the target over the next window:
  ``wd = (G − gain·(target − n)) / (lr·every·n)``. It anticipates growth instead of reacting to
  overshoot, which the two log-space controllers do: while weights grow from a small
  initialization they lower the decay far below what is needed and then take long to climb
  back.

Which mode when (measured on a small LSTM, AdamW lr 1e-2, ``every=10``, 300 steps):

* ``"rate"`` suits most runs, and is the only one that copes with a group starting at decay 0
  (or far below the decay it needs) and with weights still growing from their initialization:
  it reached a target of 60 % of the no-decay norm within 1 %, 30 % within about 10 % (the
  norm is noisier there).
* ``"multiplicative"`` moves the decay by a factor ``exp(gain · e)`` per measurement: from
  ``min_decay`` it needs dozens of measurements per decade, so start it from a decay of the
  right order (from 1e-2 it reached the 60 % target; from 0 it was still at +67 % after 300
  steps). It suits a run whose decay is already about right, e.g. fine-tuning.
* ``"pi"`` adds an integral term that removes a steady offset, but with the default ``ki`` it is
  the slowest (+58 % after 300 steps from 1e-2): for long runs starting near the right decay.

Which optimizers fit: the rate model (and the log-space laws' idea of "more decay, smaller
norm at a known rate") assume that a step multiplies the weights by ``1 − lr·weight_decay``.
Decoupled decay does: ``rnnlab.optim.AdamW``/``NAdamW``/``SGDW``, ``torch.optim.AdamW``, and
torch's Adam/NAdam/RAdam with ``decoupled_weight_decay=True``; so does ``torch.optim.SGD``
without momentum, whose coupled decay adds ``wd·w`` to the gradient and is scaled by ``lr``
alone (with momentum the decay goes through the momentum too, up to ``1/(1 − momentum)`` times
stronger and late: a warning; measured, momentum 0.5 reached the target and 0.9 did not, where
``SGDW`` with momentum 0.9 did). An adaptive
optimizer with coupled decay (``torch.optim.Adam``, RMSprop, Adagrad ...) divides ``wd·w`` by its
running gradient scale, so the decay it applies is not the one set: the controller refuses it
(measured: with ``torch.optim.Adam`` the norm swung and ended 11 % under target with the decay at
its floor). An optimizer of another library, whose decay the controller cannot read, gets a
warning.

The decay is kept in ``[min_decay, max_decay]`` (a group starting at decay 0 starts at
``min_decay``; the PI integral stops growing while the decay sits at a bound). Decay can only
shrink weights: a target above the norm training reaches without decay is unreachable, and the
decay then settles at ``min_decay``.

Whether the target is reached: :meth:`TargetNormController.status` says, per group, one of

* ``"waiting"``: no measurement yet;
* ``"reached"``: the last measured norm is within ``tol`` (relative) of the target;
* ``"converging"``: not there yet, but within its first ``patience`` measurements, or within
  ``tol`` at least once in the last ``patience``, or its error halved over them;
* ``"unreachable: decay at its floor and the norm still below target"`` (or ``"... at its
  ceiling and the norm still above target"``): for the last ``patience`` measurements the decay
  sat at ``min_decay`` (``max_decay``) with the norm on the wrong side of the target;
* ``"not converging"``: none of the last ``patience`` measurements came within ``tol``, and
  the error did not halve over them.

The first time a group becomes unreachable or not converging — at the earliest after
``patience · every`` optimizer steps (200 with the defaults) — one ``UserWarning`` says so, with
the norm, the target and what to change.

Every measurement is kept in ``history`` (step, group, norm, target, weight_decay, status) and,
given a ``rnnlab.rundir.RunDir``, appended to its ``tracked.jsonl`` as
``name="target_norm/<group>"`` with stats ``norm``, ``target`` and ``weight_decay``.

The controlled groups are looked up in ``optimizer.param_groups`` at every step (by ``"name"``,
else by index), so the controller keeps following the optimizer after
``optimizer.load_state_dict`` (which replaces the group dicts).

Resuming a run: save ``controller.state_dict()`` next to the model's and the optimizer's state
dicts; to resume, build the model, optimizer and controller as before, then load all three
(``model.load_state_dict``, ``optimizer.load_state_dict``, ``controller.load_state_dict``). The
group decays come back with the optimizer's state, and the controller's step count, growth and
integral estimates, start decays, settings and history with its own, so the resumed run
continues exactly as an uninterrupted one would.

Example:
    >>> import torch
    >>> from rnnlab.optim.decoupled import AdamW
    >>> from rnnlab.regularize.groups import Rule, param_groups
    >>> model = torch.nn.LSTM(2, 8)
    >>> groups = param_groups(model, [Rule(role=("kernel", "recurrent"), weight_decay=1e-2, label="lstm")])
    >>> opt = AdamW(groups, lr=1e-2)
    >>> ctl = TargetNormController(opt, {"lstm": 0.5}, every=5)
    >>> for _ in range(10):
    ...     opt.zero_grad(); model(torch.randn(4, 3, 2))[0].sum().backward(); opt.step(); ctl.step()
    >>> [(h["step"], h["group"]) for h in ctl.history]
    [(5, 'lstm'), (10, 'lstm')]
    >>> ctl.status()["lstm"] in ("reached", "converging")
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from rnnlab._checks import did_you_mean
from rnnlab.introspect.stats import channel_norms
from rnnlab.optim.decoupled import SGDW
from rnnlab.rundir import RunDir, append_jsonl_many

__all__ = ["TargetNormController", "group_channel_norms", "STATISTICS", "MODES"]

#: state_dict keys added after the first release: an older saved state may lack them.
_OPTIONAL_STATE = ("tol", "patience", "warned")

STATISTICS = ("mean", "max")
MODES = ("rate", "multiplicative", "pi")


def group_channel_norms(group: Mapping[str, Any]) -> torch.Tensor:
    """Per-channel L2 norms of every parameter of a param group, concatenated.

    >>> w = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    >>> group_channel_norms({"params": [w, torch.tensor([-2.0])]})
    tensor([5., 1., 2.])
    """
    norms = [channel_norms(p.detach().reshape(1) if p.dim() == 0 else p.detach()) for p in group["params"]]
    if not norms:
        raise ValueError(f"group {group.get('name', '')!r}: has no parameters")
    return torch.cat([n.reshape(-1).float() for n in norms])


def _number(value: object, argument: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{argument}: expected a number > 0, got {value!r}")
    if not positive and value < 0:
        raise ValueError(f"{argument}: expected a number >= 0, got {value!r}")
    return float(value)


def _group_names(optimizer: torch.optim.Optimizer) -> list[str]:
    return [str(g.get("name", i)) for i, g in enumerate(optimizer.param_groups)]


def _check_decay_model(optimizer: torch.optim.Optimizer, name: str, group: Mapping[str, Any]) -> None:
    """Refuse an optimizer whose step does not multiply the weights by ``1 − lr·weight_decay``
    (see "Which optimizers fit" in the module docstring); warn where that cannot be told."""
    cls = type(optimizer)
    fits = ("rnnlab.optim.AdamW, NAdamW or SGDW, torch.optim.AdamW, torch.optim.SGD, or torch's "
            "Adam/NAdam/RAdam with decoupled_weight_decay=True")
    if "weight_decay" not in group:
        raise ValueError(f"optimizer: {cls.__name__}'s param group {name!r} has no weight_decay to control; "
                         f"use {fits}")
    if group.get("decoupled_weight_decay") or isinstance(optimizer, (torch.optim.AdamW, SGDW)):
        return
    if isinstance(optimizer, torch.optim.SGD):
        momentum = float(group.get("momentum", 0.0))
        if momentum:
            factor = 1 / (1 - momentum) if momentum < 1 else math.inf
            warnings.warn(
                f"TargetNormController: {cls.__name__} with momentum={momentum:g} (group {name!r}) puts "
                f"weight_decay·w through its momentum, which scales the decay up to 1/(1 − momentum) = "
                f"{factor:.3g} times and delays it, while the controller assumes a step multiplies the "
                f"weights by 1 − lr·weight_decay (momentum 0.9 did not converge where 0.5 did); use "
                f"rnnlab.optim.SGDW (decoupled decay) or SGD without momentum",
                UserWarning, stacklevel=3,
            )
        return
    if any(c.__module__.startswith("torch.optim") and c is not torch.optim.Optimizer for c in cls.__mro__):
        raise ValueError(
            f"optimizer: {cls.__name__} adds weight_decay·w to the gradient and then rescales it per parameter, "
            f"so a step does not multiply the weights by 1 − lr·weight_decay as the controller assumes "
            f"(the norm misses its target); use {fits}"
        )
    warnings.warn(
        f"TargetNormController: cannot tell how {cls.__module__}.{cls.__name__} applies weight_decay; the "
        f"controller assumes a step multiplies the weights by 1 − lr·weight_decay (decoupled decay, as in {fits})",
        UserWarning, stacklevel=3,
    )


class TargetNormController:
    """Adjust the ``weight_decay`` of chosen param groups so their channel norm reaches a target.

    ``targets`` maps a group (its ``"name"``, as set by :func:`rnnlab.param_groups`, or its index
    in ``optimizer.param_groups``) to the target norm. ``tol`` (relative) says when a target
    counts as reached and ``patience`` (measurements) how long before the controller calls it
    unreachable or not converging (:meth:`status`, one warning). See the module docstring for
    the control laws, when each mode suits, and what is recorded.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        targets: Mapping[str | int, float],
        *,
        statistic: str = "mean",
        every: int = 10,
        mode: str = "rate",
        gain: float = 0.5,
        ki: float = 0.1,
        min_decay: float = 1e-6,
        max_decay: float = 1e3,
        tol: float = 0.1,
        patience: int = 20,
        run_dir: RunDir | None = None,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if not isinstance(targets, Mapping) or not targets:
            raise ValueError(f"targets: expected a non-empty mapping group → target norm, got {targets!r}")
        if statistic not in STATISTICS:
            raise ValueError(
                f"statistic: expected one of {list(STATISTICS)}, got {statistic!r}"
                f"{did_you_mean(str(statistic), STATISTICS)}"
            )
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}{did_you_mean(str(mode), MODES)}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected a positive integer, got {every!r}")
        self.gain = _number(gain, "gain")
        self.ki = _number(ki, "ki", positive=False)
        self.min_decay = _number(min_decay, "min_decay")
        self.max_decay = _number(max_decay, "max_decay")
        if self.min_decay > self.max_decay:
            raise ValueError(f"min_decay, max_decay: expected min_decay <= max_decay, got {min_decay!r}, {max_decay!r}")
        self.tol = _number(tol, "tol")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience: expected a positive integer (measurements), got {patience!r}")
        self.patience = patience
        if run_dir is not None and not isinstance(run_dir, RunDir):
            raise TypeError(f"run_dir: expected a rnnlab.rundir.RunDir or None, got {type(run_dir).__name__}")

        names = _group_names(optimizer)
        # name -> index in optimizer.param_groups; the group dict itself is looked up at each use
        # because optimizer.load_state_dict replaces the dicts (a kept reference would go stale).
        self._index: dict[str, int] = {}
        self.targets: dict[str, float] = {}
        for key, target in targets.items():
            if isinstance(key, int) and not isinstance(key, bool):
                if not 0 <= key < len(names):
                    raise KeyError(f"targets: group index {key} out of range (0..{len(names) - 1})")
                name = names[key]
            elif isinstance(key, str) and key in names:
                name = key
            else:
                raise KeyError(f"targets: unknown group {key!r}; groups are {names}{did_you_mean(str(key), names)}")
            self._index[name] = names.index(name)
            self.targets[name] = _number(target, f"targets[{key!r}]")
        for name, i in self._index.items():
            _check_decay_model(optimizer, name, optimizer.param_groups[i])

        self.optimizer = optimizer
        self.statistic = statistic
        self.every = every
        self.mode = mode
        self.run_dir = run_dir
        self.steps = 0
        self.history: list[dict[str, Any]] = []
        groups = self.groups
        self._start = {n: self._clamp(float(g["weight_decay"])) for n, g in groups.items()}
        self._integral = dict.fromkeys(groups, 0.0)
        self._last_norm: dict[str, float] = {}
        self._growth: dict[str, float] = {}
        self._lr_wd_sum = dict.fromkeys(groups, 0.0)
        self._recent: dict[str, list[dict[str, Any]]] = {n: [] for n in groups}  # last `patience` records
        self._warned: set[str] = set()
        for n, g in groups.items():
            g["weight_decay"] = self._start[n]

    @property
    def groups(self) -> dict[str, dict[str, Any]]:
        """The controlled param groups by name, as they are in ``optimizer.param_groups`` now."""
        return {name: self._group(name) for name in self._index}

    def _group(self, name: str) -> dict[str, Any]:
        groups = self.optimizer.param_groups
        for g in groups:  # by name first: it survives a reordering of the groups
            if "name" in g and str(g["name"]) == name:
                return g
        i = self._index[name]
        if i < len(groups) and "name" not in groups[i]:
            return groups[i]
        raise KeyError(
            f"group {name!r}: no longer in the optimizer's param groups {_group_names(self.optimizer)}"
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything the controller's next decisions depend on (see "Resuming a run" above)."""
        return {
            "groups": list(self._index),
            "targets": dict(self.targets),
            "statistic": self.statistic,
            "every": self.every,
            "mode": self.mode,
            "gain": self.gain,
            "ki": self.ki,
            "min_decay": self.min_decay,
            "max_decay": self.max_decay,
            "tol": self.tol,
            "patience": self.patience,
            "warned": sorted(self._warned),
            "steps": self.steps,
            "start": dict(self._start),
            "integral": dict(self._integral),
            "last_norm": dict(self._last_norm),
            "growth": dict(self._growth),
            "lr_wd_sum": dict(self._lr_wd_sum),
            "history": [dict(h) for h in self.history],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; the controller must control the same groups.

        The groups' ``weight_decay`` is not touched: it is restored by ``optimizer.load_state_dict``.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state: expected the mapping returned by state_dict(), got {type(state).__name__}")
        missing = [k for k in self.state_dict() if k not in state and k not in _OPTIONAL_STATE]
        if missing:
            raise ValueError(f"state: not a TargetNormController state_dict, missing keys {missing}")
        if list(state["groups"]) != list(self._index):
            raise ValueError(
                f"state: saved for groups {list(state['groups'])}, this controller controls {list(self._index)}"
            )
        self.targets = dict(state["targets"])
        self.statistic = state["statistic"]
        self.every = int(state["every"])
        self.mode = state["mode"]
        self.gain = float(state["gain"])
        self.ki = float(state["ki"])
        self.min_decay = float(state["min_decay"])
        self.max_decay = float(state["max_decay"])
        self.steps = int(state["steps"])
        self._start = dict(state["start"])
        self._integral = dict(state["integral"])
        self._last_norm = dict(state["last_norm"])
        self._growth = dict(state["growth"])
        self._lr_wd_sum = dict(state["lr_wd_sum"])
        self.history = [dict(h) for h in state["history"]]
        self.tol = float(state.get("tol", self.tol))
        self.patience = int(state.get("patience", self.patience))
        self._warned = set(state.get("warned", ()))
        self._recent = {n: [h for h in self.history if h["group"] == n][-self.patience:] for n in self._index}

    def _clamp(self, wd: float) -> float:
        return min(max(wd, self.min_decay), self.max_decay)

    def norm(self, name: str) -> float:
        """The current norm statistic (mean or max channel norm) of group ``name``."""
        norms = group_channel_norms(self._group(name))
        return float(norms.mean() if self.statistic == "mean" else norms.max())

    def step(self) -> None:
        """Count one optimizer step; every ``every`` steps measure and adjust the decays."""
        self.steps += 1
        groups = self.groups  # looked up now: the optimizer may have loaded a state since
        for name, group in groups.items():  # the decay actually applied during the window
            self._lr_wd_sum[name] += float(group["lr"]) * float(group["weight_decay"])
        if self.steps % self.every:
            return
        records = []
        for name, group in groups.items():
            norm, target = self.norm(name), self.targets[name]
            e = math.log(max(norm, 1e-30) / target)
            if self.mode == "rate":
                wd = self._rate_decay(name, group, norm, target)
            elif self.mode == "multiplicative":
                wd = self._clamp(float(group["weight_decay"]) * math.exp(self.gain * e))
            else:
                integral = self._integral[name] + e
                raw = self._start[name] * math.exp(self.gain * e + self.ki * integral)
                wd = self._clamp(raw)
                if wd == raw:  # anti-windup: integrate only while the decay is free to move
                    self._integral[name] = integral
            group["weight_decay"] = wd
            rec = {"step": self.steps, "group": name, "norm": norm, "target": target, "weight_decay": wd}
            recent = self._recent[name] = [*self._recent[name], rec][-self.patience:]
            rec["status"] = self._judge(recent)
            self.history.append(rec)
            self._warn_once(name, rec)
            records += [
                {"step": self.steps, "epoch": None, "name": f"target_norm/{name}", "stat": s, "value": rec[s]}
                for s in ("norm", "target", "weight_decay")
            ]
        if self.run_dir is not None:
            append_jsonl_many(self.run_dir.tracked, records)

    def _rate_decay(self, name: str, group: dict[str, Any], norm: float, target: float) -> float:
        prev = self._last_norm.get(name)
        self._last_norm[name] = norm
        applied, self._lr_wd_sum[name] = self._lr_wd_sum[name], 0.0
        if prev is None:  # first window: no growth estimate yet, keep the decay
            return float(group["weight_decay"])
        growth = (norm - prev) + applied * 0.5 * (norm + prev)
        smoothed = 0.5 * self._growth.get(name, growth) + 0.5 * growth
        self._growth[name] = smoothed
        lr = float(group["lr"])
        if lr <= 0 or norm <= 0:
            return float(group["weight_decay"])
        wanted = smoothed - min(self.gain, 1.0) * (target - norm)
        return self._clamp(wanted / (lr * self.every * norm))

    def _judge(self, recent: list[dict[str, Any]]) -> str:
        """The status (see the module docstring) after the measurements ``recent`` (oldest first)."""
        def err(r: dict[str, Any]) -> float:
            return abs(r["norm"] / r["target"] - 1.0)

        if err(recent[-1]) <= self.tol:
            return "reached"
        if len(recent) < self.patience or any(err(r) <= self.tol for r in recent):
            return "converging"
        # (a relative margin: the clamped decay is the bound itself, up to rounding)
        if all(r["weight_decay"] <= self.min_decay * (1 + 1e-9) and r["norm"] < r["target"] for r in recent):
            return "unreachable: decay at its floor and the norm still below target"
        if all(r["weight_decay"] >= self.max_decay * (1 - 1e-9) and r["norm"] > r["target"] for r in recent):
            return "unreachable: decay at its ceiling and the norm still above target"
        if err(recent[-1]) <= 0.5 * err(recent[0]):
            return "converging"  # slowly, but the error halved within the window
        return "not converging"

    def _warn_once(self, name: str, rec: dict[str, Any]) -> None:
        status = rec["status"]
        if name in self._warned or status in ("reached", "converging"):
            return
        self._warned.add(name)
        if status.startswith("unreachable: decay at its floor"):
            advice = (f"decay can only shrink weights and even min_decay={self.min_decay:g} leaves the norm "
                      f"below the target: choose a target below the norm training reaches without decay")
        elif status.startswith("unreachable"):
            advice = f"raise max_decay={self.max_decay:g} or lower the learning rate"
        elif self.mode == "rate":
            advice = "lower gain or raise every if the norm is noisy, or raise tol to accept a wider band"
        else:
            knob = "gain" if self.mode == "multiplicative" else "gain or ki"
            advice = (f"mode={self.mode!r} moves the decay by a bounded factor per measurement, slowly "
                      f"from a small start decay: start near the decay needed, raise {knob}, or use mode='rate'")
        warnings.warn(
            f"TargetNormController: group {name!r}, step {self.steps}: {status} (norm {rec['norm']:.4g}, "
            f"target {rec['target']:.4g}, {rec['norm'] / rec['target'] - 1:+.0%}, outside tol={self.tol:g} "
            f"for the last {self.patience} measurements; weight_decay {rec['weight_decay']:.3g}); {advice}",
            UserWarning, stacklevel=3,
        )

    def status(self) -> dict[str, str]:
        """Per group, whether its target is reached (see the module docstring for the values).

        >>> p = torch.nn.Parameter(torch.ones(4, 4))
        >>> opt = torch.optim.SGD([p], lr=0.1)
        >>> ctl = TargetNormController(opt, {0: 2.0}, every=1)
        >>> ctl.status()
        {'0': 'waiting'}
        >>> p.grad = torch.zeros(4, 4); opt.step(); ctl.step(); ctl.status()  # norm 2 = target
        {'0': 'reached'}
        """
        return {n: self._judge(self._recent[n]) if self._recent[n] else "waiting" for n in self._index}

    def relative_error(self) -> dict[str, float]:
        """``norm / target − 1`` per group, measured now."""
        return {n: self.norm(n) / self.targets[n] - 1.0 for n in self._index}
