"""``rnnlab search``: Bayesian optimization of the regularization settings of a config.

Modules: :mod:`~rnnlab.search.space` (what a trial samples), :mod:`~rnnlab.search.trial`
(the trial runner: one config trained on each fold of the training split),
:mod:`~rnnlab.search.storage` (journal file or database), :mod:`~rnnlab.search.study` (the
search itself: sampler, pruner, workers, best.toml, the final test evaluation),
:mod:`~rnnlab.search.table` and :mod:`~rnnlab.search.report` (the trials table, study.html).
docs/search.md describes the command.

Example:
    >>> from rnnlab.search import FoldPlan
    >>> FoldPlan(k=3, seed=0).describe()
    '3 stratified folds'
"""

from rnnlab.search.space import Param, Space, default_space, space_from_config
from rnnlab.search.study import SearchOptions, SearchOutcome, run_search
from rnnlab.search.trial import FoldPlan, TrialResult, choose_plan, run_trial

__all__ = ["FoldPlan", "Param", "SearchOptions", "SearchOutcome", "Space", "TrialResult", "choose_plan",
           "default_space", "run_search", "run_trial", "space_from_config"]
