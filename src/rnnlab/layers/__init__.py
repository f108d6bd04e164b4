"""Regularized recurrent layers (one file per layer) and the machinery they share."""

from rnnlab.layers.base import RecurrentBase
from rnnlab.layers.gru import GRU
from rnnlab.layers.indrnn import IndRNN
from rnnlab.layers.keras import load_keras_weights
from rnnlab.layers.lstm import LSTM
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.rnn import RNN
from rnnlab.layers.twin import twin_of

__all__ = ["GRU", "IndRNN", "LSTM", "RNN", "Recurrent", "RecurrentBase", "load_keras_weights", "twin_of"]
