"""``rnnlab.LSTM``: torch's ``nn.LSTM`` with every regularizer as a keyword."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.layers.base import RecurrentBase, State
from rnnlab.layers.loop import Step
from rnnlab.layers.norm import GateNorms
from rnnlab.layers.spec import CellSpec, LayerParams, recurrent_term


def _lstm_step(
    spec: CellSpec, p: LayerParams, norms: GateNorms | None, valid: Tensor | None, trace: list[Tensor] | None
) -> Step:
    """The autograd step of one layer and direction (see :data:`rnnlab.layers.spec.StepBuilder`)."""
    gates_of = recurrent_term(spec, p, norms, valid)
    act, ract = p.activation, p.recurrent_activation

    def step(x_t: Tensor, state: State, h_fed: Tensor, t: int) -> tuple[None, State]:
        c = state[1]
        i, f, g, o = gates_of(x_t, h_fed, t).chunk(4, 1)
        i, f, g, o = ract(i), ract(f), act(g), ract(o)
        c = torch.addcmul(f * c, i, g)
        c_out = c if norms is None else norms.cell(c, t, None if valid is None else valid[t])
        h = o * act(c_out)
        if trace is not None:
            trace.append(torch.cat((i, f, g, o), 1))
        return None, (h, c)

    return step


LSTM_SPEC = CellSpec(
    kind="lstm", states=("h", "c"), default_activation="tanh", default_recurrent_activation="sigmoid",
    torch_activations={("tanh", "sigmoid"): "lstm"}, fast_activations=frozenset({"tanh"}),
    step=_lstm_step,
)


class LSTM(RecurrentBase):
    """Drop-in for ``torch.nn.LSTM`` with regularizers, all off by default.

    With every regularizer off, outputs, states and gradients equal ``nn.LSTM`` with the same
    weights (same parameter names: ``load_state_dict`` works both ways).

    Args (beyond torch's ``input_size, hidden_size, num_layers, bias, batch_first, dropout,
    bidirectional``; all keyword-only):
        input_dropout: dropout on each layer's input; ``input_dropout_mode="variational"`` (one
            mask per sequence, the same at every step) or ``"step"`` (a new mask every step).
        recurrent_dropout: variational dropout on ``h_{t-1}`` as fed back through ``W_hh``
            (one mask per sequence and layer, fixed over time; Gal & Ghahramani 2016).
        weight_drop: DropConnect on ``W_hh``: a new mask each forward call; the stored parameter
            is unchanged (AWD-LSTM). Keeps torch's fused kernel.
        zoneout: probability that a unit keeps its previous value; a float for h and c, or
            ``(p_h, p_c)``. In eval the state is the expectation ``p·old + (1−p)·new``.
        layer_norm: layer-normalized input and recurrent terms and cell (Ba et al. 2016).
        recurrent_batch_norm: batch norm of the input and recurrent terms and cell with
            per-timestep statistics (Cooijmans et al. 2017); ``batch_norm_steps`` running rows.
        between_layers_norm: ``"batch"`` or ``"layer"``: normalize what each stacked layer
            passes to the next (batch statistics over the real steps only).
        residual: ``True``/``"all"`` adds each layer's input to its output; ``"upper"`` skips
            the first layer.
        activation: for the cell candidate and cell output (default ``"tanh"``).
        recurrent_activation: for the i, f, o gates (default ``"sigmoid"``).
        unit_forget_bias: forget-gate bias 1 (in ``bias_ih``; ``bias_hh``'s forget part 0).
        kernel_init, recurrent_init: initialiser name (``"orthogonal"``, ``"xavier_uniform"``,
            ...) or callable, applied per gate block; ``None`` keeps torch's uniform init.
        kernel_constraint, recurrent_constraint, bias_constraint: :class:`rnnlab.MaxNorm`,
            :class:`rnnlab.UnitNorm` or :class:`rnnlab.NonNeg`, per output channel, applied after
            every step of a torch optimizer holding the layer's parameters (and by
            :meth:`apply_constraints`); the bias constraint bounds ``bias_ih + bias_hh``.
        implementation: which computation runs (``"auto"``; see :attr:`implementation`).
        options: all of the above as one :class:`rnnlab.LayerOptions`, instead of keywords.

    Example:
        >>> import torch, rnnlab
        >>> lstm = rnnlab.LSTM(8, 16, batch_first=True, recurrent_dropout=0.25, zoneout=0.1)
        >>> out, (h, c) = lstm(torch.randn(4, 10, 8))
        >>> out.shape, h.shape
        (torch.Size([4, 10, 16]), torch.Size([1, 4, 16]))
    """

    spec = LSTM_SPEC
