"""Figures of recurrent training: per-gate histograms and heatmaps, gradient through time,
weight-norm evolution, metric curves and run comparisons.

Every function takes plain arrays or small dataclasses (the weight histograms also take a module),
returns a ``matplotlib.figure.Figure`` drawn without pyplot, and saves it when given ``path=``.
"""
