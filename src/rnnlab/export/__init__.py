"""Export a run's records to other tools (optional extras).

* :mod:`rnnlab.export.tensorboard`: tracked scalars and per-gate histograms as TensorBoard event
  files (needs the ``tensorboard`` extra: ``pip install 'rnnlab[tensorboard]'``).
"""

from rnnlab.export.tensorboard import Histogram, Scalar, export_tensorboard, tensorboard_records

__all__ = ["Histogram", "Scalar", "export_tensorboard", "tensorboard_records"]
