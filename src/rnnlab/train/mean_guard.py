"""Regression per sequence: predict the training mean unless the validation part shows the
model beats it (``[task] mean_guard``, on in the ``rnnlab init --task regression`` template).

On a few dozen noisy series the validation curve early stopping reads is mostly noise, and the
epoch it keeps can be one that fits the training series by heart and does worse on new series
than the constant prediction of the training mean (docs/tasks.md, "The regression template: the
mean guard", has the figures).
After training (the best epoch's weights restored), the guard compares, on the validation
rows, the squared error of the model with that of the training mean (0 in the standardized
units the model predicts), row by row: the model is kept when its mean improvement is more than
:data:`MARGIN` standard errors of the paired differences above zero; otherwise the run predicts
the training mean (the head's last layer set to zero) and says so, in its lines and in
``summary.json``'s ``mean_guard``. Decided on the validation part only; the test split is
evaluated afterwards, once, as always.

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    >>> judge(y * 0.9, y).kept, judge(-y, y).kept, judge(y[:1] * 0.9, y[:1]).kept
    (True, False, False)
    >>> print(judge(-y, y).line())
    mean guard: on the 4 validation series the model's squared error (10 standardized) is not below the training mean's (2.5) by 1.645 standard errors of the difference (z = -2.9): the run predicts the training mean (task.mean_guard)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: How many standard errors of the paired per-series difference the model's improvement over the
#: training mean must exceed on the validation rows: a one-sided test at the 5 % level. On folds of
#: Covid3Month's and CardanoSentiment's training splits (never their test splits; docs/tasks.md)
#: four of the five models with z between 1 and 1.5 did worse than the mean on the series they had
#: not seen: the epoch chosen on the same rows makes z optimistic.
MARGIN = 1.645


@dataclass(frozen=True)
class MeanGuard:
    """What the guard measured on the validation rows (squared errors in the standardized units
    the model predicts, summed over the K targets of a row) and what it decided."""

    kept: bool
    """True: the model predicts; False: the run predicts the training mean."""
    model_mse: float
    mean_mse: float
    z: float
    """The mean improvement of the model over the training mean, in standard errors."""
    n_val: int
    margin: float = MARGIN
    baseline: str = "the training mean"
    """What the run predicts when the model is not kept: the training mean, or for a forecaster
    the reference forecast its outputs are corrections to (``[task] relative_to``)."""
    rows: str = "series"
    """What a validation row is: a series, or a forecaster's origin (a step of the validation block)."""

    def line(self) -> str:
        """The sentence the run prints.

        >>> print(MeanGuard(True, 0.5, 1.0, 3.2, 28).line())
        mean guard: on the 28 validation series the model's squared error (0.5 standardized) is below the training mean's (1) by more than 1.645 standard errors of the difference (z = 3.2): the run keeps the model
        """
        head = (f"mean guard: on the {self.n_val} validation {self.rows} the model's squared error "
                f"({self.model_mse:.3g} standardized)")
        if self.kept:
            return (f"{head} is below {self.baseline}'s ({self.mean_mse:.3g}) by more than {self.margin:g} standard "
                    f"errors of the difference (z = {self.z:.2g}): the run keeps the model")
        return (f"{head} is not below {self.baseline}'s ({self.mean_mse:.3g}) by {self.margin:g} standard "
                f"errors of the difference (z = {self.z:.2g}): the run predicts {self.baseline} (task.mean_guard)")

    def to_dict(self) -> dict[str, Any]:
        """What ``summary.json`` holds under ``mean_guard``."""
        return asdict(self)


def judge(outputs: np.ndarray, y: np.ndarray, margin: float = MARGIN, baseline: str = "the training mean",
          rows: str = "series") -> MeanGuard:
    """The guard's decision from the model's validation ``outputs`` and targets ``y`` (both
    [N, K], standardized on the training part, so the training mean is 0; a forecaster's targets
    are corrections to its reference forecast, so there 0 is that forecast, named ``baseline``)."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    model_sq, mean_sq = ((out - y) ** 2).sum(axis=1), (y ** 2).sum(axis=1)
    gain = mean_sq - model_sq
    spread = float(gain.std(ddof=1)) / np.sqrt(len(gain)) if len(gain) > 1 else 0.0
    # (no spread: one validation series, or every difference alike; nothing measures the noise, so
    # nothing shows the model better: z = 0 keeps the mean)
    z = float(gain.mean()) / spread if spread > 0 else 0.0
    k = y.shape[1]
    return MeanGuard(bool(z > margin), float(model_sq.mean() / k), float(mean_sq.mean() / k), float(z), len(y), margin,
                     baseline, rows)


def predict_the_mean(model: Any) -> None:
    """Make ``model`` (a :class:`rnnlab.train.model.SequenceClassifier` of standardized values,
    or an ensemble of them) predict the training mean: its head's last layer (each member's)
    outputs zero whatever its input.

    >>> import torch
    >>> head = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> m = torch.nn.Module(); m.head = head
    >>> predict_the_mean(m); head(torch.ones(1, 3)).tolist()
    [[0.0, 0.0]]
    """
    import torch

    from rnnlab.train.model import members_of

    for member in members_of(model):  # an ensemble's mean of zeros is zero
        last = member.head[-1]
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()
