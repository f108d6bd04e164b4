"""Figures of recurrent training: per-gate histograms and heatmaps, gradient through time,
weight-norm evolution, metric curves and run comparisons.

Every function takes plain arrays or small dataclasses (the weight figures also take a module,
the run figures a run directory), returns a ``matplotlib.figure.Figure`` drawn without pyplot,
and saves it when given ``path=``.

Example:
    >>> from rnnlab import plots
    >>> fig = plots.plot_metrics([{"epoch": 1, "train_loss": 0.7}, {"epoch": 2, "train_loss": 0.5}])
    >>> fig.axes[0].get_title()
    'loss'
"""

from rnnlab.plots import compare, heatmap, histograms, metrics, norms, style, through_time
from rnnlab.plots.compare import plot_compare_metrics, plot_compare_norms
from rnnlab.plots.heatmap import plot_activation_heatmaps, plot_weight_heatmaps
from rnnlab.plots.histograms import gate_histograms, plot_gate_histograms
from rnnlab.plots.metrics import plot_metrics
from rnnlab.plots.norms import plot_norm_histograms, plot_norm_lines
from rnnlab.plots.through_time import plot_grad_through_time

__all__ = [
    "compare",
    "gate_histograms",
    "heatmap",
    "histograms",
    "metrics",
    "norms",
    "plot_activation_heatmaps",
    "plot_compare_metrics",
    "plot_compare_norms",
    "plot_gate_histograms",
    "plot_grad_through_time",
    "plot_metrics",
    "plot_norm_histograms",
    "plot_norm_lines",
    "plot_weight_heatmaps",
    "style",
    "through_time",
]
