"""rnnlab: regularized, fast and inspectable recurrent layers for PyTorch."""

from rnnlab import gates, rundir

__version__ = "0.1.0"

__all__ = ["gates", "rundir", "__version__"]
