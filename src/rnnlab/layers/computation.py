"""The one place that picks which computation runs a layer's recurrence, once per forward.

The computations, fastest first:

* ``"torch"``: torch's fused kernel (``torch._VF``, cuDNN on CUDA), when it computes the layer
  exactly: torch's activations and only regularizers that change its arguments;
* ``"fast"``: rnnlab's time loop with a hand-written backward (:mod:`rnnlab.layers.fast`,
  :mod:`rnnlab.layers.fast_lstm`); the LSTM's step loops in C++ on the CPU and, on CUDA and other
  devices, its step functions compiled by ``torch.compile``; ``"fast-python"`` is the same with
  the LSTM's step loops in Python, their reference, and ``"fast-inductor"`` the same with its
  step functions compiled by ``torch.compile`` on every device, the CPU too (:func:`step_loops`);
* ``"autograd"``: the reference loop of the cell's autograd step, which computes every option.

The cell spec says which computations have the cell with its activations
(:meth:`~rnnlab.layers.spec.CellSpec.computations`); each regularizer that is on and acts in the
layer's mode says which compute it (:data:`~rnnlab.layers.regularizers.REGULARIZERS`: in eval
mode the dropouts do nothing, so there they do not keep torch's kernel out).
``implementation="auto"`` takes the fastest that computes everything; another value asks for that
computation. Two cases narrow the choice, for every value but ``"torch"``: while ``torch.export``
or ``torch.jit.trace`` records the forward (:func:`capturing`), not the fast loops, which do not
trace, nor, for input with lengths, torch's kernel, whose packing has data-dependent shapes;
inside a ``torch.func`` transform other than one ``grad``/``vjp``, such as ``vmap``, the reference
loop, as neither torch's kernels nor the fast loops have a batching rule.

>>> import rnnlab
>>> choose_computation(rnnlab.LSTM(3, 4).options, rnnlab.LSTM.spec, recording=False, training=True)
'torch'
>>> choose_computation(rnnlab.LSTM(3, 4, zoneout=0.1).options, rnnlab.LSTM.spec, recording=False, training=True)
'fast'
>>> opts = rnnlab.LSTM(3, 4, recurrent_dropout=0.2).options  # (a dropout: nothing in eval mode)
>>> [choose_computation(opts, rnnlab.LSTM.spec, recording=False, training=t) for t in (True, False)]
['fast', 'torch']
>>> choose_computation(rnnlab.GRU(3, 4, layer_norm=True).options, rnnlab.GRU.spec, recording=False, training=True)
'autograd'
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnlab.layers.options import LayerOptions
from rnnlab.layers.regularizers import in_effect
from rnnlab.layers.spec import CellSpec

#: the computations, fastest first
COMPUTATIONS = ("torch", "fast", "autograd")


#: the LSTM's step loops of each fast computation (:data:`rnnlab.layers.fast_lstm.STEP_LOOPS`)
_STEP_LOOPS = {"fast": "auto", "fast-python": "python", "fast-inductor": "inductor"}


def step_loops(computation: str) -> str:
    """The LSTM's step loops that a fast ``computation`` runs (chosen by device and dtype in
    :func:`rnnlab.layers.fast_lstm._step_loops`, the one place that does).

    >>> step_loops("fast"), step_loops("fast-inductor")
    ('auto', 'inductor')
    """
    return _STEP_LOOPS[computation]


def allowed_computations(options: LayerOptions, spec: CellSpec, *, training: bool = True) -> frozenset[str]:
    """The computations that compute every option of ``options`` in effect in this mode
    (``training``: the layer's flag) for a cell of ``spec``.

    >>> import rnnlab
    >>> opts = rnnlab.GRU(3, 4, recurrent_dropout=0.2).options
    >>> sorted(allowed_computations(opts, rnnlab.GRU.spec)), "torch" in allowed_computations(opts, rnnlab.GRU.spec,
    ...                                                                                     training=False)
    (['autograd', 'fast'], True)
    """
    allowed = spec.computations(options.activation, options.recurrent_activation)
    for reg in in_effect(options, training):
        allowed &= reg.computations(spec)
    return allowed


def torch_lacks(options: LayerOptions, spec: CellSpec, *, training: bool = True, module: bool = False,
                valued: bool = False) -> list[str]:
    """What torch's fused kernel does not compute of ``options`` in effect in this mode, by
    name (``valued``: as the layer's repr spells it, with its value); empty: it computes the
    layer. ``module``: torch's own module of the kind (``nn.LSTM``, ...), which also lacks what
    rnnlab adds around each layer's kernel call.

    >>> import rnnlab
    >>> opts = rnnlab.LSTM(3, 4, zoneout=0.1, residual="upper", num_layers=2).options
    >>> torch_lacks(opts, rnnlab.LSTM.spec, training=False, module=True)
    ['zoneout', 'residual']
    >>> torch_lacks(opts, rnnlab.LSTM.spec, training=False, module=True, valued=True)
    ['zoneout=0.1', "residual='upper'"]
    """
    lacking = []
    if not spec.torch_activations:
        lacking.append(f"the {spec.kind} cell (torch has no such layer)")
    elif "torch" not in spec.computations(options.activation, options.recurrent_activation):
        lacking.append(f"activation={options.activation!r}, recurrent_activation={options.recurrent_activation!r}")
    for reg in in_effect(options, training):
        if "torch" not in reg.computations(spec) or (module and not reg.torch_module):
            lacking.append(reg.describe(options) if valued else reg.name)
    return lacking


def _transformed() -> bool:
    """Whether a ``torch.func`` transform is active that torch's kernels and the fast loops
    cannot run under: anything but one reverse-mode level (``grad``, ``vjp``; the fast loops'
    autograd Functions have the form it takes), e.g. ``vmap`` (neither has a batching rule),
    ``jvp``, ``grad`` of ``grad`` (their backward is not differentiable).
    (``torch._C._are_functorch_transforms_active`` is how torch itself asks, e.g. in
    ``torch.autograd.backward``; the interpreter stack is read only when it is.)"""
    if not torch._C._are_functorch_transforms_active():
        return False
    stack = torch._C._functorch.get_interpreter_stack() or []
    return not (len(stack) == 1 and stack[0].key() == torch._C._functorch.TransformType.Grad)


def capturing() -> bool:
    """Whether ``torch.export`` or ``torch.jit.trace`` is recording this forward into a graph: a
    graph keeps tensor operations only, so Python that reads a tensor's values (a check, a branch
    on them) or runs outside torch's operations (the fast loops' C++ steps and hand-written
    backward) does not belong in it. (Inside ``torch.compile`` the layer runs eagerly: not this.)

    >>> capturing()
    False
    """
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def choose_computation(options: LayerOptions, spec: CellSpec, *, recording: bool, training: bool = True,
                       padded: bool = False) -> str:
    """``"torch"``, ``"fast"``, ``"fast-python"``, ``"fast-inductor"`` or ``"autograd"`` for one forward.

    ``recording``: gates or states are being recorded (``recording_gates`` / ``recording_states``),
    which the autograd loop's steps do. ``training``: the layer's flag (``layer.training``): in
    eval mode the regularizers that do nothing there do not count, so a layer whose remaining
    options torch's kernel computes runs it (and gives ``nn.LSTM``'s outputs exactly).
    ``implementation="fast"`` (or another fast one) falls back to the autograd loop where no fast
    loop computes the options; ``"torch"`` where torch's kernel does not is an error, naming what
    it lacks. ``padded``: the input has lengths (``lengths=`` or a PackedSequence), which torch's
    kernel runs packed.
    """
    impl = options.implementation
    if recording or impl == "autograd":
        return "autograd"
    allowed = allowed_computations(options, spec, training=training)
    if impl != "torch" and _transformed():
        # The reference loop is plain torch operations, which every transform takes; torch's fused
        # kernels have no batching rule (nn.LSTM itself fails under vmap), the fast loops neither.
        allowed -= {"torch", "fast"}
    if impl != "torch" and capturing():
        # The fast loops' C++ steps and hand-written backward take no fake tensors (export) and
        # hand the tracer objects it cannot record (torch.jit.trace); packing for torch's kernel
        # sizes its batches by the lengths' values. The reference loop records, with the same outputs.
        allowed -= {"fast", "torch"} if padded else {"fast"}
    if impl == "auto":
        return next(c for c in COMPUTATIONS if c in allowed)
    if impl == "torch":
        if "torch" not in allowed:
            lacking = torch_lacks(options, spec, training=training)
            raise ValueError(f"implementation='torch': torch's fused kernel does not compute {', '.join(lacking)}")
        return "torch"
    return impl if "fast" in allowed else "autograd"


#: the layer class of each fast loop's kind, for the messages
_LAYER_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "indrnn": "IndRNN"}


#: What each computation is, in a run's words
COMPUTATION_WORDS = {"torch": "torch's fused kernel", "fast": "rnnlab's fast loop", "fast-python": "rnnlab's fast loop "
                     "(its Python step loops)", "fast-inductor": "rnnlab's fast loop (compiled step functions)",
                     "autograd": "the autograd reference loop"}


def computation_said(options: LayerOptions, spec: CellSpec, *, training: bool = True) -> str:
    """Which computation :func:`choose_computation` runs for a plain forward in this mode, in
    words, and, where it is the slow reference loop, what keeps the faster ones out.

    >>> import rnnlab
    >>> computation_said(rnnlab.GRU(3, 4, layer_norm=True).options, rnnlab.GRU.spec)
    'the autograd reference loop (no fast loop computes layer_norm on a GRU)'
    >>> computation_said(rnnlab.LSTM(3, 4, zoneout=0.1).options, rnnlab.LSTM.spec, training=False)
    "rnnlab's fast loop"
    """
    chosen = choose_computation(options, spec, recording=False, training=training)
    said = COMPUTATION_WORDS[chosen]
    if chosen != "autograd" or options.implementation == "autograd":
        return said + (" (implementation = \"autograd\")" if options.implementation == "autograd" else "")
    keeping = [] if "fast" in spec.computations(options.activation, options.recurrent_activation) else \
        [f"activation={options.activation!r}, recurrent_activation={options.recurrent_activation!r}"]
    keeping += [reg.name for reg in in_effect(options, training) if "fast" not in reg.computations(spec)]
    what, layer = ", ".join(keeping) or "these options", _LAYER_NAMES.get(spec.kind, spec.kind)
    # ("an LSTM", "a GRU": the article of the first letter's name, as the kinds are read)
    return f"{said} (no fast loop computes {what} on {'an' if layer[0].upper() in 'AEFHILMNORSX' else 'a'} {layer})"


def second_derivative_message(kind: str) -> str:
    """What a second derivative through the fast loop of ``kind`` says (:func:`differentiable_once`).

    >>> second_derivative_message("gru")[:52]
    "double backward: rnnlab.GRU's fast loop (computation"
    """
    name = _LAYER_NAMES.get(kind, kind)
    return (f"double backward: rnnlab.{name}'s fast loop (computation 'fast', which implementation='auto' takes "
            f"for this configuration) has a hand-written backward that is differentiable once; for gradients of "
            f"gradients (create_graph=True, gradient penalties) build the layer with implementation='autograd' "
            f"(the reference loop), or set layer.implementation = 'autograd'")


class _Refused(torch.autograd.Function):
    """The identity on a fast loop's first derivatives, whose own derivative is the one-line
    error of :func:`second_derivative_message` (torch's ``DelayedError``, with rnnlab's message)."""

    @staticmethod
    def forward(message: str, *grads: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        return tuple(g.clone() for g in grads)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.message = inputs[0]

    @staticmethod
    def backward(ctx: Any, *_: Any) -> Any:  # type: ignore[override]
        raise RuntimeError(ctx.message)


def differentiable_once(kind: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """torch's ``once_differentiable`` for a fast loop's ``backward``, whose second derivative is
    refused by a one-line error naming the layer and the remedy (:func:`second_derivative_message`;
    ``kind``, else ``ctx.kind``) instead of torch's generic one.

    Outside ``create_graph=True`` (grad mode off in the backward: ordinary training) it costs one
    flag check. Under it, the backward runs without a graph, as ``once_differentiable`` does, and
    its gradients are marked so that differentiating them raises: also where the incoming
    gradients need none, where ``once_differentiable`` would return gradients without a graph and
    a gradient penalty on them would silently miss its part through the layer.

    >>> import rnnlab
    >>> x = torch.randn(5, 2, 3, requires_grad=True)
    >>> y, _ = rnnlab.GRU(3, 4, zoneout=0.2)(x)
    >>> gx, = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    >>> gx.pow(2).sum().backward()
    Traceback (most recent call last):
    ...
    RuntimeError: double backward: rnnlab.GRU's fast loop (computation 'fast', which implementation='auto' takes for this configuration) has a hand-written backward that is differentiable once; for gradients of gradients (create_graph=True, gradient penalties) build the layer with implementation='autograd' (the reference loop), or set layer.implementation = 'autograd'
    """

    def decorate(backward: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(backward)
        def wrapper(ctx: Any, *grads: Any) -> Any:
            if not torch.is_grad_enabled():
                return backward(ctx, *grads)
            with torch.no_grad():
                out = backward(ctx, *grads)
            if torch._C._are_functorch_transforms_active():
                # (torch.func.grad calls the backward with grad mode on, for its one derivative;
                # a grad of grad takes the reference loop: choose_computation's _transformed)
                return out
            if not (any(ctx.needs_input_grad) or any(isinstance(g, Tensor) and g.requires_grad for g in grads)):
                return out
            at = [i for i, g in enumerate(out) if isinstance(g, Tensor)]
            marked = _Refused.apply(second_derivative_message(kind or ctx.kind),
                                    *(out[i].detach().requires_grad_() for i in at))
            out = list(out)
            for i, g in zip(at, marked):
                out[i] = g
            return tuple(out)

        return wrapper

    return decorate
