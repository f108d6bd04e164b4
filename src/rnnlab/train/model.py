"""The sequence classifier built from a ``[model]`` config: optional conv-block front-end
(:mod:`rnnlab.train.frontend`), an rnnlab recurrent layer, and a head over the final state or
the pooled outputs, optionally joined by the front-end's pooled features (many-to-one, honouring
lengths); or, for per-step targets, the head on every step's output (many-to-many). A language
model (``model.embedding_size`` set) reads token ids through a :class:`TokenEmbedding` and its
head is the decoder over the vocabulary, optionally sharing the embedding's weights
(``model.tie_weights``).

Example:
    >>> import torch
    >>> from rnnlab.config import ModelConfig
    >>> model = build_model(ModelConfig(layer="gru", hidden_size=8), input_size=3, num_classes=4)
    >>> logits, state = model(torch.randn(2, 5, 3), lengths=torch.tensor([5, 2]))
    >>> logits.shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from rnnlab.config import ModelConfig, layer_class
from rnnlab.errors import ConfigError
from rnnlab.layers.options import BoundLiftedWarning
from rnnlab.train.frontend import ConvFrontend, valid_mask

State = Tensor | tuple[Tensor, ...]


def build_recurrent(cfg: ModelConfig, input_size: int) -> nn.Module:
    """The recurrent layer (batch_first) with the configured keywords (:meth:`ModelConfig.layer_options`)."""
    cls = layer_class(cfg.layer)
    nonlinearity = {"nonlinearity": cfg.nonlinearity} if cfg.nonlinearity is not None else {}
    try:
        with warnings.catch_warnings():  # (the config's check said it in the config's keys)
            warnings.simplefilter("ignore", BoundLiftedWarning)
            return cls(input_size, cfg.hidden_size, options=cfg.layer_options(), **nonlinearity)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"model: the {cls.__name__} layer rejects the settings: {e}") from None


class TokenEmbedding(nn.Embedding):
    """Token ids [B, T] → vectors [B, T, size], with embedding dropout (AWD-LSTM's
    ``embedded_dropout``, Gal & Ghahramani 2016): in training, each token of the vocabulary is
    dropped with probability ``dropout`` for the whole forward (its row of the weight matrix
    zeroed, every step it occurs at), the kept rows scaled by ``1 / (1 - dropout)``.

    >>> emb = TokenEmbedding(5, 3, dropout=0.5)
    >>> out = emb(torch.tensor([[1, 1, 2]]))
    >>> bool((out[0, 0] == out[0, 1]).all())  # one token, one fate
    True
    """

    def __init__(self, vocab: int, size: int, dropout: float = 0.0) -> None:
        super().__init__(vocab, size)
        self.dropout = dropout

    def forward(self, ids: Tensor) -> Tensor:
        weight = self.weight
        if self.training and self.dropout > 0:
            keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.dropout) / (1 - self.dropout)
            weight = weight * keep
        return nn.functional.embedding(ids, weight)


class SequenceClassifier(nn.Module):
    """Front-end → recurrent layer → pooling → head. ``forward(x [B, T, C], lengths, state)``
    returns ``(logits [B, classes], final state)``; the state feeds stateful training.
    ``per_step``: the head reads each step's output, ``logits [B, T, classes]`` (the front-end
    must keep the sequence's length and nothing is pooled: :meth:`rnnlab.task.Task.model_problem`).
    With ``cfg.embedding_size`` (a language model) ``x`` [B, T, 1] holds token ids of a vocabulary
    of ``num_classes`` tokens, read through ``self.embedding``; ``cfg.tie_weights`` makes the
    head's output layer (the decoder) use the embedding's weight matrix.

    >>> from rnnlab.config import ModelConfig
    >>> m = SequenceClassifier(3, 4, ModelConfig(hidden_size=8), per_step=True)
    >>> m(torch.randn(2, 5, 3))[0].shape
    torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, num_classes: int, cfg: ModelConfig, per_step: bool = False) -> None:
        super().__init__()
        self.pooling, self.frontend_pooling = cfg.head.pooling, cfg.head.frontend_pooling
        self.per_step = per_step
        self.frontend = ConvFrontend(input_size, cfg.frontend) if cfg.frontend is not None else None
        self.embedding = (TokenEmbedding(num_classes, cfg.embedding_size, cfg.embedding_dropout)
                          if cfg.embedding_size is not None else None)
        rnn_in = (self.frontend.channels if self.frontend is not None else
                  cfg.embedding_size if cfg.embedding_size is not None else input_size)
        self.rnn = build_recurrent(cfg, rnn_in)
        self.num_directions = 2 if cfg.bidirectional else 1
        self.gradient_at_last_step = False  # (:func:`last_step_gradient` sets it while it measures)
        width = cfg.hidden_size * self.num_directions * (2 if self.pooling == "mean_max" else 1)
        if self.frontend is not None and self.frontend_pooling != "none":
            width += self.frontend.channels * (2 if self.frontend_pooling == "mean_max" else 1)
        self.input_pooling, self.frontend_ends = cfg.head.input_pooling, cfg.head.frontend_ends
        self.input_noise = cfg.input_noise
        if self.input_pooling != "none":
            width += input_size
        if self.frontend is not None and self.frontend_ends:
            width += 2 * self.frontend.channels
        layers: list[nn.Module] = []
        if cfg.head.dropout > 0:
            layers.append(nn.Dropout(cfg.head.dropout))
        if cfg.head.hidden > 0:
            layers += [nn.Linear(width, cfg.head.hidden), nn.ReLU()]
            width = cfg.head.hidden
        layers.append(nn.Linear(width, num_classes))
        if cfg.head.zero_init:  # (after its initialization's draws: every other weight as without it)
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        self.head = nn.Sequential(*layers)
        if cfg.tie_weights:
            assert self.embedding is not None and width == cfg.embedding_size  # the config checks both
            layers[-1].weight = self.embedding.weight

    def _run_rnn(self, x: Tensor, lengths: Tensor | None, state: State | None) -> tuple[Tensor, State]:
        if lengths is not None:
            return self.rnn(x, state, lengths=lengths)
        return self.rnn(x, state)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        from rnnlab.layers.computation import capturing

        # (a trace would keep the example's branch for every later call; an export cannot read values)
        capture = capturing()
        if lengths is not None and not capture and bool((lengths == x.shape[1]).all()):
            lengths = None  # all full length: the fast path needs no lengths
        if self.training and self.input_noise > 0:
            x = x + self.input_noise * torch.randn_like(x) * _valid_steps(x, lengths)
        inputs, input_lengths = x, lengths
        if self.frontend is not None:
            x, lengths = self.frontend(x, lengths)
        if self.embedding is not None:
            x = self.embedding(x[..., 0].long())
        if lengths is not None and not capture and bool((lengths == x.shape[1]).all()):
            lengths = None
        out, new_state = self._run_rnn(x, lengths, state)
        if self.per_step:
            return self.head(out), new_state
        if self.pooling == "last":
            h_n = new_state[0] if isinstance(new_state, tuple) else new_state
            # h_n [layers * dirs, B, H]: the top layer's forward (and reverse) final states.
            features = torch.cat(list(h_n[-self.num_directions:]), dim=-1)
        else:
            features = (_pooled_at_last_step(out, lengths, self.pooling, self.num_directions)
                        if self.gradient_at_last_step else pool_over_time(out, lengths, self.pooling))
        if self.frontend is not None and self.frontend_pooling != "none":
            features = torch.cat([features, pool_over_time(x, lengths, self.frontend_pooling)], dim=-1)
        if self.frontend is not None and self.frontend_ends:
            features = torch.cat([features, _ends(x, lengths)], dim=-1)
        if self.input_pooling != "none":
            features = torch.cat([features, pool_over_time(inputs, input_lengths, self.input_pooling)], dim=-1)
        return self.head(features), new_state


def _valid_steps(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``[B, T, 1]`` booleans: which steps of ``x [B, T, C]`` are inside their sequence."""
    if lengths is None:
        return torch.ones(x.shape[0], x.shape[1], 1, dtype=torch.bool, device=x.device)
    return valid_mask(lengths, x.shape[1]).transpose(1, 2)


def pool_over_time(x: Tensor, lengths: Tensor | None, how: str) -> Tensor:
    """``x [B, T, C]`` summarised over each sequence's valid steps: their mean, maximum, or both
    joined (``[B, 2C]``): the head's summary over time, and the shape rules' probe's.

    >>> x = torch.tensor([[[1.0], [3.0], [9.0]]])
    >>> pool_over_time(x, torch.tensor([2]), "mean_max").tolist()  # the third step is padding
    [[2.0, 3.0]]
    """
    if how == "mean":
        return _masked_mean(x, lengths)
    if how == "max":
        return x.masked_fill(~_valid_steps(x, lengths), float("-inf")).amax(1)
    return torch.cat([pool_over_time(x, lengths, "mean"), pool_over_time(x, lengths, "max")], dim=-1)


def _pooled_at_last_step(x: Tensor, lengths: Tensor | None, how: str, directions: int = 1) -> Tensor:
    """:func:`pool_over_time` of ``x [B, T, C]``, the same values, with the summary's gradient
    let in only at each sequence's last step processed (the last valid step; the first for the
    reverse half of a bidirectional layer's channels): every step enters the pooling detached,
    and the summary's gradient goes to that step whole, as a head on the final state's would
    (:func:`last_step_gradient`; under "max", also where the maximum is at another step).

    >>> x = torch.ones(2, 3, 1, requires_grad=True)
    >>> _pooled_at_last_step(x, torch.tensor([3, 2]), "mean_max").sum().backward()
    >>> x.grad[..., 0].tolist()  # (the mean's and the maximum's gradients, 1 each)
    [[0.0, 0.0, 2.0], [0.0, 2.0, 0.0]]
    """
    first, last = _ends(x, lengths).chunk(2, dim=-1)
    if directions == 2:  # (the reverse direction processes t = 0 last: its final state is there)
        half = x.shape[-1] // 2
        last = torch.cat([last[..., :half], first[..., half:]], dim=-1)
    return _SummaryAtLastStep.apply(pool_over_time(x.detach(), lengths, how), last)


class _SummaryAtLastStep(torch.autograd.Function):
    """``apply(summary [B, k·C], last [B, C])`` → the summary's values (a copy: bit-identical);
    backward, its gradient goes to ``last``, summed over its ``k`` parts (mean_max's two)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, summary: Tensor, last: Tensor) -> Tensor:
        ctx.parts = summary.shape[-1] // last.shape[-1]  # type: ignore[attr-defined]
        return summary.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[None, Tensor]:
        return None, grad.unflatten(-1, (ctx.parts, -1)).sum(-2)  # type: ignore[attr-defined]


def pooled_heads(model: nn.Module) -> list[SequenceClassifier]:
    """The rnnlab models in ``model`` (a :class:`SequenceClassifier`, an :class:`Ensemble`'s
    members, either inside :class:`LogitsOnly`) whose head pools the recurrent outputs over time
    (``model.head.pooling`` "mean", "max", "mean_max", a target per sequence); [] for any other
    model, a head on the final state or per-step targets.

    >>> from rnnlab.config import HeadConfig
    >>> mean = ModelConfig(hidden_size=4, ensemble=2, head=HeadConfig(pooling="mean"))
    >>> len(pooled_heads(LogitsOnly(build_model(mean, 3, 2)))), len(pooled_heads(build_model(ModelConfig(), 3, 2)))
    (2, 0)
    """
    inner = model.model if isinstance(model, LogitsOnly) else model
    if not isinstance(inner, (SequenceClassifier, Ensemble)):
        return []
    return [m for m in members_of(inner) if not m.per_step and m.pooling != "last"]


@contextlib.contextmanager
def last_step_gradient(model: nn.Module) -> Iterator[bool]:
    """While inside, a head that pools over time (:func:`pooled_heads`) lets the gradient into
    its summary only at each sequence's last step processed: every step's output enters the pooling
    detached, and the summary's gradient goes to that step whole; the forward values are
    unchanged. The gradient through time then follows the loss through each sequence's last step
    alone, |dL/dh_t| = |dL/dh_T · dh_T/dh_t|, what a head on the final state ("last") would show:
    the summary reads every step, so the whole loss's gradient reaches every step directly,
    whatever the layer's memory. Yields whether any head pools (any other model is left as it is).

    >>> from rnnlab.config import HeadConfig
    >>> m = build_model(ModelConfig(hidden_size=4, head=HeadConfig(pooling="mean")), 3, 2).eval()
    >>> x = torch.randn(2, 5, 3)
    >>> with last_step_gradient(m) as pooled:
    ...     inside = m(x)[0]
    >>> pooled, torch.equal(inside, m(x)[0])
    (True, True)
    """
    heads = pooled_heads(model)
    was = [m.gradient_at_last_step for m in heads]
    for m in heads:
        m.gradient_at_last_step = True
    try:
        yield bool(heads)
    finally:
        for m, w in zip(heads, was):
            m.gradient_at_last_step = w


def _ends(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``x [B, T, C]`` at each sequence's first and last valid step, joined (``[B, 2C]``).

    >>> _ends(torch.arange(6.0).reshape(1, 3, 2).repeat(2, 1, 1), torch.tensor([3, 2])).tolist()
    [[0.0, 1.0, 4.0, 5.0], [0.0, 1.0, 2.0, 3.0]]
    """
    last = (x.shape[1] - 1 if lengths is None else (lengths - 1).clamp_min(0)) * torch.ones(
        x.shape[0], dtype=torch.long, device=x.device)
    return torch.cat([x[:, 0], x[torch.arange(x.shape[0], device=x.device), last]], dim=-1)


def _masked_mean(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean of ``x [B, T, C]`` over each sequence's valid steps."""
    if lengths is None:
        return x.mean(1)
    valid = _valid_steps(x, lengths)
    return (x * valid).sum(1) / valid.sum(1).clamp_min(1)


class Ensemble(nn.Module):
    """``model.ensemble`` models of one config, each from its own initial weights (drawn one
    after the other: the first has the weights a single model of the same seed would), trained
    side by side on their own losses and predicting together (deep ensembles, Lakshminarayanan
    et al. 2017; InceptionTime averages five networks so). ``forward`` returns the mean of the
    members' values (``values``: regression, forecasting), or the log of the mean of their class
    probabilities (classification, language models); the carried state holds the members'
    states one after the other along its first dimension. The trainer gives each member its own
    loss and clips each member's gradient alone (:func:`member_outputs`,
    :func:`member_parameters`), so a member learns as it would alone on the same batches.

    >>> from rnnlab.config import ModelConfig
    >>> m = Ensemble([SequenceClassifier(3, 2, ModelConfig(hidden_size=4)) for _ in range(3)], values=True)
    >>> out, (h, c) = m(torch.randn(5, 7, 3))
    >>> out.shape, h.shape
    (torch.Size([5, 2]), torch.Size([3, 5, 4]))
    """

    def __init__(self, members: list[SequenceClassifier], values: bool) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.values = values

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        outputs, state = member_outputs(self, x, lengths, state)
        return combine(self, outputs), state


def member_outputs(model: SequenceClassifier | Ensemble, x: Tensor, lengths: Tensor | None = None,
                   state: State | None = None) -> tuple[list[Tensor], State]:
    """Each member's outputs (one for a single model) and the joined carried state: what the
    trainer computes the members' own losses from.

    >>> from rnnlab.config import ModelConfig
    >>> outs, state = member_outputs(build_model(ModelConfig(hidden_size=4, ensemble=2), 3, 2), torch.randn(1, 5, 3))
    >>> len(outs), outs[0].shape
    (2, torch.Size([1, 2]))
    """
    if not isinstance(model, Ensemble):
        out, state = model(x, lengths, state)
        return [out], state
    n = len(model.members)
    parts: list[State | None] = [None] * n
    if state is not None:  # each state tensor [n * layers * directions, B, H]: the members' in order
        chunks = [s.chunk(n) for s in state] if isinstance(state, tuple) else [state.chunk(n)]
        parts = [tuple(c[k] for c in chunks) if isinstance(state, tuple) else chunks[0][k] for k in range(n)]
    outputs, states = zip(*(m(x, lengths, p) for m, p in zip(model.members, parts)))
    if isinstance(states[0], tuple):
        return list(outputs), tuple(torch.cat(s) for s in zip(*states))
    return list(outputs), torch.cat(states)


def combine(model: SequenceClassifier | Ensemble, outputs: list[Tensor]) -> Tensor:
    """The model's prediction from its members' outputs (:class:`Ensemble`): their mean, or the
    log of the mean of their class probabilities.

    >>> from rnnlab.config import ModelConfig
    >>> m = build_model(ModelConfig(hidden_size=4, ensemble=2), 3, 2, values=True)
    >>> combine(m, [torch.zeros(1, 2), torch.ones(1, 2)]).tolist()
    [[0.5, 0.5]]
    """
    if not isinstance(model, Ensemble):
        return outputs[0]
    stacked = torch.stack(outputs)
    if model.values:
        return stacked.mean(0)
    return torch.logsumexp(stacked.log_softmax(-1), 0) - math.log(len(outputs))


def members_of(model: SequenceClassifier | Ensemble) -> list[SequenceClassifier]:
    """The models an ensemble averages; ``[model]`` for a single one.

    >>> from rnnlab.config import ModelConfig
    >>> len(members_of(build_model(ModelConfig(hidden_size=4, ensemble=3), 3, 2)))
    3
    """
    return list(model.members) if isinstance(model, Ensemble) else [model]  # type: ignore[arg-type]


def member_parameters(model: SequenceClassifier | Ensemble) -> list[list[tuple[str, nn.Parameter]]]:
    """The model's named parameters, member by member (what each member's gradient clipping
    sees), named as in ``model.named_parameters()``.

    >>> from rnnlab.config import ModelConfig
    >>> [named[0][0] for named in member_parameters(build_model(ModelConfig(hidden_size=4, ensemble=2), 3, 2))]
    ['members.0.rnn.weight_ih_l0', 'members.1.rnn.weight_ih_l0']
    """
    if not isinstance(model, Ensemble):
        return [list(model.named_parameters())]
    return [[(f"members.{k}.{n}", p) for n, p in m.named_parameters()] for k, m in enumerate(model.members)]


def build_model(cfg: ModelConfig, input_size: int, num_classes: int, per_step: bool = False,
                values: bool = False) -> SequenceClassifier | Ensemble:
    """The classifier for ``input_size`` channels and ``num_classes`` classes, with its head on
    every step when ``per_step``; with ``cfg.ensemble`` > 1 an :class:`Ensemble` of that many,
    averaging values (``values``: regression, forecasting) or class probabilities; float32
    whatever torch's default dtype (:func:`float32_default`). A model too large for the memory
    available is a ConfigError before anything is allocated.

    >>> build_model(ModelConfig(hidden_size=4, ensemble=2), 3, 2, values=True)(torch.randn(1, 5, 3))[0].shape
    torch.Size([1, 2])
    """
    from rnnlab.train.memory import check_memory

    check_memory(cfg, input_size, num_classes)
    with float32_default():
        if cfg.ensemble == 1:
            return SequenceClassifier(input_size, num_classes, cfg, per_step)
        return Ensemble([SequenceClassifier(input_size, num_classes, cfg, per_step) for _ in range(cfg.ensemble)],
                        values)


@contextlib.contextmanager
def float32_default() -> Iterator[None]:
    """While inside, torch's default dtype is float32 (restored after, whatever it was): the model
    of a config is float32, its initial weights drawn as under float32, the same run whatever
    ``torch.set_default_dtype`` the caller set (the data is float32 too).

    >>> torch.set_default_dtype(torch.float64)
    >>> with float32_default():
    ...     inside = torch.nn.Linear(2, 1).weight.dtype
    >>> inside, torch.get_default_dtype()
    (torch.float32, torch.float64)
    >>> torch.set_default_dtype(torch.float32)
    """
    # (torch's default dtype is one setting of the process, not of the thread: while a model is
    # built, tensors another thread makes without a dtype are float32 too)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def detach_state(state: State) -> State:
    """Cut the graph between windows of stateful training (truncated BPTT)."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class LogitsOnly(nn.Module):
    """``wrapper(x)`` or ``wrapper((x, lengths))`` → logits: the one-input call of the health
    checks and the tracker (``rnnlab.introspect.batch``)."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        if isinstance(inputs, (tuple, list)):
            return self.model(inputs[0], inputs[1])[0]
        return self.model(inputs)[0]
