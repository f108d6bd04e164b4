"""See inside recurrent networks: weights, gradients and activations per gate, gradient through time.

Results are plain arrays with documented axes, wrapped in small dataclasses that carry names.
"""

from rnnlab.introspect import stats

__all__ = ["stats"]
