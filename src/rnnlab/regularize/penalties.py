"""Penalties added to the loss: L1/L2 of weights per role, and activity regularization.

Weight penalties (:class:`WeightPenalty`), with a separate coefficient per role::

    penalty = Σ_role  l1[role] · Σ|w|  +  l2[role] · Σ w²

over the parameters of that role (names containing ``noreg`` are left out, as in
:func:`rnnlab.param_groups`, and so are frozen ones while frozen, with a warning). L2 is the plain sum of squares (Keras' ``l2``); ``tf.nn.l2_loss``
has an extra ½. Norms are taken per tensor with ``torch._foreach_norm`` (one fused call per
role), never element by element.

Activity regularization (:class:`ActivityRegularizer`, Merity et al. 2017, "Revisiting
activation regularization for language RNNs") on the outputs ``h_t`` of the last recurrent
layer::

    AR  = ar  · mean over valid (t, b, unit) of h_t²
    TAR = tar · mean over valid (t, b, unit), t ≥ 1, of (h_t − h_{t−1})²

Outputs are collected by a forward hook from training forward passes only: the hooked module in
training mode, with gradients enabled, and not inside rnnlab's introspection
(:func:`rnnlab.introspect.untouched`, which :func:`~rnnlab.introspect.grad_through_time`,
:func:`~rnnlab.introspect.gate_activations` and :func:`~rnnlab.introspect.layer_outputs` run the
model in). A forward pass under ``torch.no_grad()``, in eval mode or of those collectors adds
nothing to the next penalty, whose terms are the training step's alone. By default the hook sits on the
*last* top-level recurrent module of the model (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``, rnnlab layers
and ``rnnlab.Recurrent``, in registration order, see :func:`recurrent_modules`): a stack of
separate layers (AWD-LSTM's three ``nn.LSTM``) is penalized on the top layer's output only, as
in AWD-LSTM (``dropped_rnn_hs[-1:]``, ``rnn_hs[-1:]``), and a multi-layer ``nn.LSTM`` on its
output, which is the top layer's. ``modules=`` picks other modules of the model (each one's terms are added).
Outputs may have trailing feature dims, e.g. ``[T, B, C, L]``. Padded steps beyond a sequence's
length (``PackedSequence`` output, or the ``lengths=`` argument of rnnlab layers) are left out;
``batch_first`` is honoured.

AR is a mean where Keras' ``activity_regularizer=l2(λ)`` is a sum, over the layer's whole output
``[B, T, H]``: tf.keras' ``λ·Σh²/B`` is ``ar = λ·T·H``, Keras 3's ``λ·Σh²`` is ``ar = λ·B·T·H``
(docs/regularization.md, section 5); its ``modules=`` is the layer that carried the keyword.

Difference from AWD-LSTM: there AR is taken on the top layer's output *after* its output dropout
(TAR before); here both are on the layer's output. With inverted dropout of probability ``p``,
AWD-LSTM's AR equals in expectation ``ar / (1 − p) · mean(h²)``: to reproduce its ``alpha=2``
with output dropout 0.4, use ``ar = 2 / 0.6 ≈ 3.3``.

Example:
    >>> import torch
    >>> model = torch.nn.LSTM(3, 4)
    >>> wp = WeightPenalty(model, l2={"kernel": 1e-4, "recurrent": 1e-3})
    >>> act = ActivityRegularizer(model, ar=2.0, tar=1.0)
    >>> out, _ = model(torch.randn(5, 2, 3))
    >>> loss = out.pow(2).mean() + wp() + act.penalty()
    >>> loss.backward()
    >>> act.remove()
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from rnnlab.introspect.modules import is_untouched, recurrent_modules
from rnnlab.layers import RecurrentBase
from rnnlab.regularize.groups import NOREG, check_nonneg
from rnnlab.regularize.roles import RoleRule, check_role, describe_params

__all__ = ["WeightPenalty", "weight_penalty", "ActivityRegularizer", "recurrent_modules"]


def _coefficients(value: object, argument: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{argument}: expected a mapping role → coefficient like {{'kernel': 1e-4}}, "
            f"got {type(value).__name__} {value!r}"
        )
    out = {}
    for role, coef in value.items():
        check_role(role, f"{argument} key")
        out[role] = check_nonneg(coef, f"{argument}[{role!r}]")
    return out


class WeightPenalty:
    """L1/L2 penalty of a model's weights with one coefficient per role; call it to get the term.

    ``l1`` / ``l2`` map roles (``"kernel"``, ``"recurrent"``, ``"bias"``, ...) to coefficients.
    A role that no parameter of the model has is an error (typo protection). ``role_rules``
    extend the role classification as in :func:`rnnlab.roles`.

    A frozen parameter (``requires_grad=False``) is left out while it is frozen, with a one-line
    warning naming it: its term would be a constant that adds to the loss and trains nothing
    (Keras, likewise, penalizes trainable weights only). Unfrozen, it is penalized again.

    A weight behind a parametrization is penalized through the tensors it is stored as (the
    ``original`` tensors: weight norm's ``g`` and ``v`` both), as weight decay sees them, not the
    weight the module computes with (docs/regularization.md, section 1).

    The parameters are looked up by name in the model at each call, so the penalty follows
    parameters that are replaced (``model.load_state_dict(sd, assign=True)``, a parameter set
    anew); a name the model no longer has is a one-line error saying to build the penalty again.

    >>> import torch
    >>> lin = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, -2.0]])), lin.bias.fill_(3.0)
    >>> round(float(WeightPenalty(lin, l1={"kernel": 0.5}, l2={"bias": 0.1})().detach()), 4)  # 0.5*3 + 0.1*9
    2.4
    >>> _ = lin.bias.requires_grad_(False)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as said:
    ...     warnings.simplefilter("always")
    ...     round(float(WeightPenalty(lin, l1={"kernel": 0.5}, l2={"bias": 0.1})().detach()), 4)
    1.5
    >>> print(said[0].message)
    WeightPenalty: l2 of role 'bias' leaves out the frozen parameter(s) ['bias'] (requires_grad=False): a term on a frozen parameter is a constant that trains nothing (penalized again once unfrozen)
    """

    def __init__(
        self,
        model: nn.Module,
        l1: Mapping[str, float] | None = None,
        l2: Mapping[str, float] | None = None,
        *,
        role_rules: Sequence[RoleRule] | None = None,
    ) -> None:
        self.l1 = _coefficients(l1, "l1")
        self.l2 = _coefficients(l2, "l2")
        infos = [i for i in describe_params(model, role_rules, argument="role_rules") if NOREG not in i.name]
        self.model = model
        # Names, not tensors: a tensor held here would go on being penalized after the model's
        # parameter is replaced (load_state_dict(assign=True)), and no gradient would reach the new one.
        self.names: dict[str, list[str]] = {}
        for info in infos:
            self.names.setdefault(info.role, []).append(info.name)
        for argument, coefs in (("l1", self.l1), ("l2", self.l2)):
            for role in coefs:
                if role not in self.names:
                    raise ValueError(
                        f"{argument}: role {role!r} matches no parameter of {type(model).__name__}; "
                        f"its roles are {sorted(self.names)}"
                    )
        self._frozen_said: set[str] = set()
        self._trainable(stacklevel=3)

    def _trainable(self, stacklevel: int) -> dict[str, list[Tensor]]:
        """The parameters of each penalized role that can train now; the frozen ones left out,
        and said once each: a term on them is a constant, which a typo in a freeze (or a
        forgotten unfreeze) would make of a penalty believed to act."""
        out: dict[str, list[Tensor]] = {}
        left: list[tuple[str, str, list[str]]] = []
        for role in dict.fromkeys([r for r, c in (*self.l1.items(), *self.l2.items()) if c]):
            params = self._current(role)
            out[role] = [p for p in params if p.requires_grad]
            frozen = [n for n, p in zip(self.names[role], params, strict=True)
                      if not p.requires_grad and n not in self._frozen_said]
            if frozen:
                kinds = "/".join(a for a, coefs in (("l1", self.l1), ("l2", self.l2)) if coefs.get(role))
                left.append((kinds, role, frozen))
                self._frozen_said.update(frozen)
        if left:
            warnings.warn(
                "WeightPenalty: " + "; ".join(f"{k} of role {r!r} leaves out the frozen parameter(s) {f}"
                                              for k, r, f in left)
                + " (requires_grad=False): a term on a frozen parameter is a constant that trains nothing "
                  "(penalized again once unfrozen)", UserWarning, stacklevel=stacklevel)
        return out

    def _current(self, role: str) -> list[Tensor]:
        """The model's parameters of ``role`` as they are now."""
        try:
            return [self.model.get_parameter(name) for name in self.names[role]]
        except AttributeError:
            gone = [n for n in self.names[role] if not _has_parameter(self.model, n)]
            raise ValueError(
                f"WeightPenalty: the model no longer has the parameter(s) {gone} it was built with "
                f"(role {role!r}); build the penalty again: WeightPenalty(model, ...)"
            ) from None

    @property
    def params(self) -> dict[str, list[Tensor]]:
        """The parameters per role, looked up in the model now."""
        return {role: self._current(role) for role in self.names}

    def terms(self) -> dict[str, Tensor]:
        """The penalty per ``"l1/<role>"`` and ``"l2/<role>"`` (coefficient included), of the
        parameters that can train now (a role whose parameters are all frozen has no term)."""
        trainable = self._trainable(stacklevel=4)
        out = {}
        for role, coef in self.l1.items():
            if coef and trainable[role]:
                out[f"l1/{role}"] = coef * torch.stack(torch._foreach_norm(trainable[role], 1)).sum()
        for role, coef in self.l2.items():
            if coef and trainable[role]:
                norms = torch.stack(torch._foreach_norm(trainable[role], 2))
                out[f"l2/{role}"] = coef * norms.pow(2).sum()
        return out

    def __call__(self) -> Tensor:
        """The total penalty (a scalar tensor, differentiable; 0 when every coefficient is 0)."""
        terms = list(self.terms().values())
        if not terms:
            some = self._current(next(iter(self.names)))[0]
            return torch.zeros((), dtype=some.dtype, device=some.device)
        return torch.stack(terms).sum()


def _has_parameter(model: nn.Module, name: str) -> bool:
    try:
        model.get_parameter(name)
    except AttributeError:
        return False
    return True


def weight_penalty(
    model: nn.Module,
    l1: Mapping[str, float] | None = None,
    l2: Mapping[str, float] | None = None,
) -> Tensor:
    """One-shot :class:`WeightPenalty` (build it once instead inside a training loop).

    >>> import torch
    >>> lstm = torch.nn.LSTM(2, 3)
    >>> p = weight_penalty(lstm, l2={"recurrent": 1e-3})
    >>> bool(torch.isclose(p, 1e-3 * lstm.weight_hh_l0.pow(2).sum()))
    True
    """
    return WeightPenalty(model, l1=l1, l2=l2)()


def _lengths_arg(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "lengths" in kwargs:
        return kwargs["lengths"]
    if not isinstance(module, nn.RNNBase) and len(args) > 2:
        return args[2]  # rnnlab layers: forward(input, hx=None, lengths=None)
    return None


def _time_major(module: nn.Module, out: Any, lengths: Any) -> tuple[Tensor, Tensor | None]:
    """Output as ``[T, B, ...]`` and a validity mask ``[T, B]`` (None when all steps are valid)."""
    if isinstance(out, PackedSequence):
        padded, lens = pad_packed_sequence(out, batch_first=False)
        T = padded.shape[0]
        mask = torch.arange(T).unsqueeze(1) < lens.unsqueeze(0)
        return padded, mask.to(padded.device)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"{type(module).__name__}: expected forward to return (output, state) with output a "
            f"Tensor or PackedSequence, got {type(out).__name__}"
        )
    # Layers with a fixed feature size (torch's and rnnlab's) return [T, D] for unbatched input,
    # whatever batch_first says; Recurrent needs a batch, so its 2-D output is [T, B] / [B, T].
    if out.dim() == 2 and isinstance(module, (nn.RNNBase, RecurrentBase)):  # unbatched [T, D]
        out = out.unsqueeze(1)
    elif getattr(module, "batch_first", False):
        out = out.transpose(0, 1)
    if lengths is None:
        return out, None
    lens = torch.as_tensor(lengths, device=out.device).reshape(-1)
    mask = torch.arange(out.shape[0], device=out.device).unsqueeze(1) < lens.unsqueeze(0)
    return out, mask


def _trains(module: nn.Module) -> bool:
    """Whether this forward pass of ``module`` is a training step's, the only one AR/TAR collect
    from: without gradients a term would be a constant; and a collector's forward pass (grad
    enabled for grad_through_time) left a term that the next step's penalty added to its own and
    backpropagated through the collector's freed graph."""
    return module.training and torch.is_grad_enabled() and not is_untouched(module)


class ActivityRegularizer:
    """AR and TAR on the output of a model's last recurrent module, collected during forward.

    After one or more training forward passes, :meth:`penalty` returns ``AR + TAR`` summed over
    hooked modules and calls, and clears what it collected. A training forward pass is one whose
    module is in training mode with gradients enabled, outside rnnlab's introspection
    (:func:`rnnlab.introspect.untouched`): a ``torch.no_grad()`` forward (even in training mode),
    an eval-mode forward, or ``grad_through_time`` / ``gate_activations`` / ``layer_outputs`` on
    the model between two steps leave the next penalty as it would be without them. ``modules`` picks the modules to hook,
    one module or a list, each a module of ``model`` (another is refused: its forward passes are
    not the model's); the default is the last of :func:`recurrent_modules` (Merity et al.'s
    definition: the top layer's output), and a warning says so if another recurrent module of the
    model runs after it in a forward pass (registration order differs from the forward's: pass
    ``modules=``). ``hooked`` names the hooked modules (by class when the model itself is
    hooked). :meth:`remove` removes the hooks; the object is also a context manager that removes
    them on exit. ``last`` holds the last penalty's AR and TAR (detached) for logging.

    >>> import torch
    >>> stack = torch.nn.ModuleList([torch.nn.LSTM(2, 3), torch.nn.LSTM(3, 3)])
    >>> ActivityRegularizer(stack, ar=2.0, tar=1.0).hooked
    ['1']

    >>> import torch
    >>> gru = torch.nn.GRU(2, 3, batch_first=True)
    >>> with ActivityRegularizer(gru, ar=1.0) as act:
    ...     out, _ = gru(torch.randn(4, 6, 2))
    ...     bool(torch.isclose(act.penalty(), out.pow(2).mean()))
    True
    """

    def __init__(
        self,
        model: nn.Module,
        ar: float = 0.0,
        tar: float = 0.0,
        *,
        modules: nn.Module | Sequence[nn.Module] | None = None,
    ) -> None:
        self.ar = check_nonneg(ar, "ar")
        self.tar = check_nonneg(tar, "tar")
        candidates = recurrent_modules(model)
        self._default = modules is None
        if modules is None:
            if not candidates:
                raise ValueError(
                    f"model: {type(model).__name__} contains no recurrent module (nn.LSTM/GRU/RNN "
                    f"or an rnnlab layer) to collect activity from; pass modules= explicitly"
                )
            targets = [candidates[-1][1]]
        elif isinstance(modules, nn.Module):  # one module (an nn.ModuleList is one too: its items)
            targets = list(modules) if isinstance(modules, nn.ModuleList) else [modules]
        elif isinstance(modules, (str, bytes)) or not isinstance(modules, Iterable):
            raise TypeError(
                f"modules: expected an nn.Module or a list of them, got {type(modules).__name__} {modules!r}"
            )
        else:
            targets = list(modules)
            for i, m in enumerate(targets):
                if not isinstance(m, nn.Module):
                    raise TypeError(f"modules[{i}]: expected an nn.Module, got {type(m).__name__}")
        names = {id(m): n for n, m in model.named_modules()}
        for m in targets:
            if id(m) not in names:  # (its forward passes would never be the model's: a penalty of 0 forever)
                raise ValueError(
                    f"modules: expected modules of the model {type(model).__name__}, got a {type(m).__name__} that "
                    f"is not one of them (another instance's?); "
                    + (f"its recurrent modules are {[n or type(model).__name__ for n, _ in candidates]}"
                       if candidates else "it has no recurrent module")
                )
        self._ar_terms: list[Tensor] = []
        self._tar_terms: list[Tensor] = []
        self.last: dict[str, float] = {"ar": 0.0, "tar": 0.0}
        self._model_name = type(model).__name__
        # What penalty() checks when it finds nothing collected: whether a hooked module ran a
        # forward pass (in any mode) since the last call, whether the model itself did, and whether
        # the call before found no hooked module run either.
        self._hooked_ran = self._model_ran = self._idle = False
        # (the model itself is named "" by named_modules: show its class instead)
        self.hooked: list[str] = [names.get(id(m)) or type(m).__name__ for m in targets]
        self._handles = [m.register_forward_hook(self._hook, with_kwargs=True) for m in targets]
        if all(m is not model for m in targets):
            self._handles.append(model.register_forward_pre_hook(self._model_runs))
        # The default trusts registration order; check that nothing recurrent runs after the
        # hooked module within one forward of the model (only there: a loop calling the
        # submodules itself runs them in turn, batch after batch).
        self._chosen_ran = self._in_forward = False
        if self._default and len(candidates) > 1:
            self._handles.append(model.register_forward_pre_hook(self._forward_starts))
            self._handles.append(model.register_forward_hook(self._forward_ends, always_call=True))
            self._handles += [m.register_forward_hook(self._ran_after(n)) for n, m in candidates[:-1]]

    def _model_runs(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._model_ran = True

    def _forward_starts(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._chosen_ran, self._in_forward = False, True

    def _forward_ends(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self._in_forward = False

    def _ran_after(self, name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if self._in_forward and self._chosen_ran and self._default and _trains(module):
                self._default = False  # warn once
                warnings.warn(
                    f"ActivityRegularizer: modules defaults to the last registered recurrent module "
                    f"{self.hooked[0]!r}, but {name!r} ran after it in this forward pass; pass "
                    f"modules= the module whose output AR/TAR should penalize",
                    UserWarning, stacklevel=2,
                )
        return hook

    def _hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        self._hooked_ran = True
        if not _trains(module) or (self.ar == 0 and self.tar == 0):
            return
        self._chosen_ran = True
        if not isinstance(output, tuple) or not output:
            raise TypeError(
                f"{type(module).__name__}: expected forward to return (output, state), "
                f"got {type(output).__name__}"
            )
        h, mask = _time_major(module, output[0], _lengths_arg(module, args, kwargs))
        units = h[0, 0].numel()  # features per step and sequence (e.g. channels × length for conv cells)
        if mask is not None:
            mask = mask.reshape(mask.shape + (1,) * (h.dim() - 2)).to(h.dtype)
        if self.ar:
            sq = h.pow(2)
            if mask is None:
                self._ar_terms.append(self.ar * sq.mean())
            else:
                self._ar_terms.append(self.ar * (sq * mask).sum() / (mask.sum() * units).clamp_min(1))
        if self.tar and h.shape[0] > 1:
            sq = (h[1:] - h[:-1]).pow(2)
            if mask is None:
                self._tar_terms.append(self.tar * sq.mean())
            else:
                m = mask[1:]
                self._tar_terms.append(self.tar * (sq * m).sum() / (m.sum() * units).clamp_min(1))

    def penalty(self) -> Tensor:
        """``AR + TAR`` collected since the last call; clears it.

        Nothing collected is 0 where the hooked modules ran but in no training forward pass
        (eval mode, ``torch.no_grad()``, introspection), or where the call only clears (once,
        before a training step). Where none of them ran at all, a ``RuntimeError`` says so (a
        typo cannot switch the penalty off): when the model ran a forward pass without them (they
        are not on its path), or when the call before found none run either (the model that
        trains is another: a copy, one built again).

        >>> import torch
        >>> lstm = torch.nn.LSTM(2, 3)
        >>> act = ActivityRegularizer(lstm, ar=1.0)
        >>> float(act.penalty())  # nothing ran yet: a call that clears
        0.0
        >>> act.penalty()
        Traceback (most recent call last):
        ...
        RuntimeError: penalty: expected the output of the hooked modules ['LSTM'] since the last call, got none, twice in a row: they belong to a model that no longer runs (a copy trains? build the regularizer on the model that trains), so AR/TAR would be 0
        """
        if not (self._ar_terms or self._tar_terms or self._hooked_ran) and self._handles and (self.ar or self.tar):
            if self._model_ran:
                raise RuntimeError(
                    f"penalty: expected the output of the hooked modules {self.hooked} since the last call, got "
                    f"none: {self._model_name} ran a forward pass without them, so AR/TAR would be 0; pass "
                    f"modules= the recurrent module(s) its forward runs"
                )
            if self._idle:
                raise RuntimeError(
                    f"penalty: expected the output of the hooked modules {self.hooked} since the last call, got "
                    f"none, twice in a row: they belong to a model that no longer runs (a copy trains? build "
                    f"the regularizer on the model that trains), so AR/TAR would be 0"
                )
        self._idle = not self._hooked_ran
        self._hooked_ran = self._model_ran = False
        ar = torch.stack(self._ar_terms).sum() if self._ar_terms else torch.zeros(())
        tar = torch.stack(self._tar_terms).sum() if self._tar_terms else torch.zeros(())
        self._ar_terms, self._tar_terms = [], []
        self.last = {"ar": float(ar.detach()), "tar": float(tar.detach())}
        return ar + tar

    def remove(self) -> None:
        """Remove the forward hooks (idempotent)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._ar_terms, self._tar_terms = [], []

    def __enter__(self) -> ActivityRegularizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
