"""Which parameters to regularize and how: roles, param groups, penalties."""
