"""Health checks for recurrent models: ``rnnlab.doctor.diagnose(model, batch, loss_fn)``.

Runs the untrained network and a few training steps on a copy of the model and reports
findings, each with a severity, the numbers behind it, a plain explanation and a remedy:
saturated or constant softmax at initialisation, dead ReLU units, parameters without gradient
(and the saturated gate that starves them), parameters with a gradient that the optimizer does
not hold, non-finite values, vanishing or exploding gradient through time, gates stuck open or shut, biases
growing faster than kernels, and an update-to-weight ratio far from ~1e-3. After training,
``fit_findings`` (:mod:`rnnlab.doctor.fit`) reads a run's records and says whether the model fit
its training data (``underfit``) and whether it overfits (``overfit``), with the likely cause, or
that its validation part shows no learning beyond chance (``no_signal``).

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> batch = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    >>> report = diagnose(net, batch, torch.nn.CrossEntropyLoss(), steps=3)
    >>> report.ok, report.worst
    (True, None)
"""

from rnnlab.doctor.checks import CHECKS, NotApplicable, Observations, Thresholds, register
from rnnlab.doctor.findings import PHASES, SEVERITIES, Finding
from rnnlab.doctor.fit import FIT_CHECKS, FitThresholds, fit_findings
from rnnlab.doctor.run import Report, diagnose, format_findings, observe, torch_gate_activations

__all__ = [
    "CHECKS",
    "FIT_CHECKS",
    "PHASES",
    "SEVERITIES",
    "Finding",
    "FitThresholds",
    "NotApplicable",
    "Observations",
    "Report",
    "Thresholds",
    "diagnose",
    "fit_findings",
    "format_findings",
    "observe",
    "register",
    "torch_gate_activations",
]
