"""``rnnlab recipe``: the regularization recipe of docs/regularization.md as a procedure.

:mod:`~rnnlab.recipe.steps` holds the recipe (steps, candidates, branches),
:mod:`~rnnlab.recipe.decide` the rule that keeps a change, :mod:`~rnnlab.recipe.procedure` the
walk, :mod:`~rnnlab.recipe.run` the command (scoring through the search's trial runner), and
:mod:`~rnnlab.recipe.report` the ablation it writes.
"""
