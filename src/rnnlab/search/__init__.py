"""``rnnlab search``: Bayesian optimization of the regularization settings of a config.

Modules: :mod:`~rnnlab.search.space` (what a trial samples), :mod:`~rnnlab.search.trial`
(the trial runner: one config trained on each fold of the training split),
:mod:`~rnnlab.search.storage` (journal file or database), :mod:`~rnnlab.search.study` (the
search itself: sampler, pruner, workers, best.toml, the final test evaluation).

Example:
    >>> from rnnlab.search import run_trial, FoldPlan  # doctest: +SKIP
"""
