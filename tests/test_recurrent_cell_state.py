"""rnnlab.Recurrent checks the state around a user's cell: the state it starts from has the
input's batch, and the new state the cell returns has the structure and shapes of the state it
was given (checked on the first step), so nothing is dropped or fails later inside the cell."""

import pytest
import torch
from torch import nn

import rnnlab


class PairCell(nn.Module):
    """An LSTM-like cell with the state (h, c)."""

    hidden_size = 4

    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(3, 8)
        self.calls = 0

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = x.new_zeros(x.shape[0], self.hidden_size)
        return z, z.clone()

    def forward(self, x, state):
        self.calls += 1
        h, c = state[0], state[1]
        i, g = self.ih(x).chunk(2, -1)
        c2 = c + torch.sigmoid(i) * torch.tanh(g)
        h2 = torch.tanh(c2) + 0 * h
        return h2, (h2, c2)


class Grows(PairCell):
    def forward(self, x, state):
        y, (h, c) = super().forward(x, state)
        return y, (h, c, c * 100)


class Shrinks(PairCell):
    def forward(self, x, state):
        y, (h, _) = super().forward(x, state)
        return y, h


class TensorCell(nn.Module):
    hidden_size = 4

    def __init__(self, returns=lambda h: h) -> None:
        super().__init__()
        self.ih = nn.Linear(3, 4)
        self.returns = returns

    def forward(self, x, h):
        h2 = torch.tanh(self.ih(x) + h)
        return h2, self.returns(h2)


def test_a_cell_adding_a_state_tensor_is_stopped_at_the_first_step():
    cell = Grows()
    with pytest.raises(ValueError, match=r"cell: Grows\(x_t, state\) returned new_state as a tuple of 3 tensors "
                                         r".*expected a tuple of 2 tensors of shapes \(2, 4\), \(2, 4\)"):
        rnnlab.Recurrent(cell)(torch.randn(5, 2, 3))
    assert cell.calls == 1  # never fed a truncated state


def test_a_cell_returning_fewer_state_tensors_gets_the_error_not_its_own_unpacking():
    with pytest.raises(ValueError, match=r"cell: Shrinks\(x_t, state\) returned new_state as a tensor of shape "
                                         r"\(2, 4\), expected a tuple of 2 tensors"):
        rnnlab.Recurrent(Shrinks())(torch.randn(5, 2, 3))


def test_a_tensor_state_cell_returning_a_pair_is_not_truncated():
    cell = TensorCell(returns=lambda h: (h, h * 2))
    with pytest.raises(ValueError, match=r"returned new_state as a tuple of 2 tensors .*expected a tensor of shape"):
        rnnlab.Recurrent(cell)(torch.randn(5, 2, 3))


@pytest.mark.parametrize("lengths", [None, [5, 3]])
def test_a_new_state_of_another_shape_is_named(lengths):
    cell = TensorCell(returns=lambda h: h[:, :2])
    with pytest.raises(ValueError, match=r"new_state as a tensor of shape \(2, 2\), expected a tensor of shape "
                                         r"\(2, 4\)"):
        rnnlab.Recurrent(cell)(torch.randn(5, 2, 3), lengths=lengths)


def test_the_reverse_cell_is_checked_too():
    layer = rnnlab.Recurrent(PairCell(), bidirectional=True, reverse_cell=Shrinks())
    with pytest.raises(ValueError, match=r"cell: Shrinks\(x_t, state\)"):
        layer(torch.randn(5, 2, 3), lengths=[5, 2])


@pytest.mark.parametrize("lengths", [None, [5, 3]])
def test_a_given_state_of_another_batch_is_named(lengths):
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"^state: expected batch 2 \(the input's\) in dim 0, got 3 \(shape \(3, 4\)\)$"):
        rnnlab.Recurrent(TensorCell())(x, torch.zeros(3, 4), lengths=lengths)
    with pytest.raises(ValueError, match=r"^state\[1\]: expected batch 2 .*got 3"):
        rnnlab.Recurrent(PairCell())(x, (torch.zeros(2, 4), torch.zeros(3, 4)), lengths=lengths)
    layer = rnnlab.Recurrent(PairCell(), bidirectional=True)
    good = (torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"^state\[1\]\[0\]: expected batch 2 .*got 1"):
        layer(x, (good, (torch.zeros(1, 4), torch.zeros(2, 4))), lengths=lengths)


def test_batch_first_input_checks_the_batch_not_the_time_axis():
    with pytest.raises(ValueError, match=r"^state: expected batch 2 .*got 5"):
        rnnlab.Recurrent(TensorCell(), batch_first=True)(torch.randn(2, 5, 3), torch.zeros(5, 4))


def test_an_init_state_of_another_batch_names_the_cells_init_state():
    class OneRow(PairCell):
        def init_state(self, x):
            return torch.zeros(1, 4), torch.zeros(1, 4)

    with pytest.raises(ValueError, match=r"^OneRow\.init_state\(x_t\)\[0\]: expected batch 3 .*got 1"):
        rnnlab.Recurrent(OneRow())(torch.randn(5, 3, 3), lengths=[5, 2, 1])


@pytest.mark.parametrize("state, got", [(5, "int"), ((), "an empty tuple"), ((torch.zeros(2, 4), None), "NoneType")])
def test_a_state_that_is_not_tensors_is_named(state, got):
    with pytest.raises(TypeError, match=rf"^state(\[1\])?: expected a tensor.*got {got}$"):
        rnnlab.Recurrent(PairCell())(torch.randn(5, 2, 3), state)
