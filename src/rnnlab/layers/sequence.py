"""Input and output handling shared by every layer: packed, padded with lengths, batch_first,
unbatched. Internally every layer works on time-major padded tensors ``[T, B, ...]`` plus
optional ``lengths [B]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


@dataclass
class SequenceBatch:
    """A batch in the layers' internal form, and how to give the output back."""

    x: Tensor  # [T, B, *features], time-major
    lengths: Tensor | None  # [B] int64 on CPU, None when every sequence has length T
    batch_first: bool
    unbatched: bool
    packed: PackedSequence | None  # the input, when it was packed

    @property
    def valid(self) -> Tensor | None:
        """``[T, B, 1]`` bool mask of real (non-padded) steps, or None."""
        if self.lengths is None:
            return None
        t = torch.arange(self.x.shape[0], device=self.x.device)
        return (t[:, None] < self.lengths.to(self.x.device)[None, :]).unsqueeze(-1)

    def output(self, y: Tensor) -> Tensor | PackedSequence:
        """Turn a time-major output ``[T, B, ...]`` into the caller's format."""
        if self.packed is not None:
            p = self.packed
            lengths = self.lengths
            if p.sorted_indices is not None:
                y = y.index_select(1, p.sorted_indices)
                # (the indices live on the data's device, the lengths on the CPU, where packing reads them)
                lengths = lengths[p.sorted_indices.cpu()]
            data = pack_padded_sequence(y, lengths).data
            return PackedSequence(data, p.batch_sizes, p.sorted_indices, p.unsorted_indices)
        if self.unbatched:
            return y.squeeze(1)
        return y.transpose(0, 1) if self.batch_first else y


def prepare_input(
    input: Tensor | PackedSequence,
    lengths: Tensor | list[int] | None,
    batch_first: bool,
    feature_shape: tuple[int, ...] | None,
    feature_name: str = "input_size",
) -> SequenceBatch:
    """Validate the input of a layer and bring it to time-major padded form.

    ``feature_shape`` is the expected shape of one step of one sequence (``(input_size,)`` for
    the built-in layers), or None to accept any (custom cells check their own input).
    """
    packed = None
    if isinstance(input, PackedSequence):
        if lengths is not None:
            raise ValueError("lengths: must be None when input is a PackedSequence (it has its own lengths)")
        packed = input
        x, lens = pad_packed_sequence(input, batch_first=False)
        lengths_t: Tensor | None = lens
        unbatched = False
        bf = batch_first
    elif isinstance(input, Tensor):
        layout = "[batch, time, features]" if batch_first else "[time, batch, features]"
        if feature_shape is None:
            if input.dim() < 3:
                raise ValueError(
                    f"input: expected a tensor of at least 3 dimensions {layout[:-1]}, ...], "
                    f"got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
                )
        elif input.dim() not in (len(feature_shape) + 1, len(feature_shape) + 2):
            n = len(feature_shape)
            raise ValueError(
                f"input: expected a {n + 2}-D tensor {layout} or a {n + 1}-D unbatched "
                f"tensor [time, features], got a {input.dim()}-D tensor of shape {tuple(input.shape)}"
            )
        unbatched = feature_shape is not None and input.dim() == len(feature_shape) + 1
        bf = batch_first
        if unbatched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if batch_first else input
        lengths_t = None
        if lengths is not None:
            # (a tensor as it is: torch.jit.trace warns that as_tensor's result is a constant)
            lengths_t = lengths if isinstance(lengths, Tensor) else torch.as_tensor(lengths)
            if lengths_t.dtype == torch.bool:  # (True would read as a length of 1)
                raise ValueError("lengths: expected integer lengths, got a bool tensor")
            if lengths_t.dim() != 1 or lengths_t.dtype.is_floating_point or lengths_t.shape[0] != x.shape[1]:
                raise ValueError(
                    f"lengths: expected a 1-D integer tensor of {x.shape[1]} sequence lengths "
                    f"(one per batch element), got dtype {lengths_t.dtype} shape {tuple(lengths_t.shape)}"
                )
            if lengths_t.device.type == "meta" or lengths_t.device not in (torch.device("cpu"), x.device):
                # (their values are read on the CPU; a meta tensor has none)
                raise ValueError(f"lengths: expected a tensor on the CPU or on the input's device ({x.device}), "
                                 f"got device {lengths_t.device}")
            lengths_t = lengths_t.to("cpu", torch.int64)
            if torch.compiler.is_exporting():
                # The values are unknown while exporting: the range check becomes the exported
                # program's runtime assertion, and the lengths are kept (the padded path is exact
                # for full lengths too).
                _check_range_exported(lengths_t, x.shape[0])
            elif not torch.jit.is_tracing():  # (a trace keeps no Python check, nor a branch on values)
                lo, hi = (int(lengths_t.min()), int(lengths_t.max())) if len(lengths_t) else (1, x.shape[0])
                if lo < 1 or hi > x.shape[0]:
                    raise ValueError(
                        f"lengths: every length must be in [1, {x.shape[0]}] (the padded time dimension), "
                        f"got min {lo} and max {hi}"
                    )
                if lo == hi == x.shape[0]:
                    lengths_t = None  # nothing padded: the plain path is exact and faster
    else:
        raise TypeError(f"input: expected a Tensor or PackedSequence, got {type(input).__name__}")
    if x.shape[0] == 0:
        raise ValueError(f"input: expected at least one timestep, got shape {tuple(input.shape)}")
    if feature_shape is not None and tuple(x.shape[2:]) != tuple(feature_shape):
        got = tuple(x.shape[2:])
        exp = feature_shape[0] if len(feature_shape) == 1 else feature_shape
        act = got[0] if len(got) == 1 else got
        raise ValueError(
            f"input: expected {feature_name}={exp} features per step, got {act} "
            f"(input shape {tuple(input.shape) if isinstance(input, Tensor) else tuple(x.shape)})"
        )
    if not x.is_floating_point():
        raise TypeError(f"input: expected a floating-point tensor, got dtype {x.dtype}")
    batch = SequenceBatch(x=x, lengths=lengths_t, batch_first=bf, unbatched=unbatched, packed=packed)
    valid = batch.valid
    if valid is not None:
        # The padding rule: whatever the padding holds (NaN, inf), no computation path may let it
        # reach a valid step or the final state. Every path reads its input from here, so the
        # padding is replaced by zeros once, by selection (0 * NaN would be NaN), and its
        # gradient is zero.
        batch.x = torch.where(valid.view(*valid.shape[:2], *([1] * (x.dim() - 2))), x, x.new_zeros(()))
    return batch


def _check_range_exported(lengths: Tensor, steps: int) -> None:
    """While ``torch.export`` records: every length in ``[1, steps]``, as a runtime assertion of
    the exported program (``torch._check`` on the unknown minimum and maximum)."""
    if lengths.shape[0] != 0:  # (len() would fix a dynamic batch to the example's)
        lo, hi = lengths.min().item(), lengths.max().item()
        torch._check(lo >= 1, lambda: f"lengths: every length must be in [1, {steps}], got a smaller one")
        torch._check(hi <= steps, lambda: f"lengths: every length must be in [1, {steps}], got a larger one")


def reverse_index(lengths: Tensor | None, T: int, device: torch.device) -> Tensor | None:
    """Time index ``[T, B]`` that reverses each sequence within its own length (None: flip all)."""
    if lengths is None:
        return None
    t = torch.arange(T)[:, None]
    lens = lengths[None, :]
    idx = torch.where(t < lens, lens - 1 - t, t)
    return idx.to(device)


def reverse_time(x: Tensor, index: Tensor | None) -> Tensor:
    """Reverse a time-major tensor ``[T, B, ...]`` per sequence (see :func:`reverse_index`)."""
    if index is None:
        return x.flip(0)
    idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, idx)
