"""Config-driven training: the classifier, the loop, checkpoints.

Example:
    >>> from rnnlab.train import train, build_model, load_checkpoint  # doctest: +SKIP
"""

from rnnlab.train.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train.model import Ensemble, SequenceClassifier, build_model
from rnnlab.train.trainer import TrainResult, build_optimizer, evaluate, load_run_config, train

__all__ = ["Ensemble", "SequenceClassifier", "TrainResult", "build_model", "build_optimizer", "evaluate",
           "load_checkpoint", "load_run_config", "save_checkpoint", "train"]
