"""The one base class for errors a user can fix (config, data, checkpoint, run directory).

The CLI prints these as one line on stderr without a traceback; anything else is a bug and keeps
its traceback. ``RnnlabError`` subclasses ``ValueError`` so library callers that catch bad input
the usual way keep working.

Example:
    >>> try:
    ...     raise ConfigError("model.hidden_size: expected an integer > 0, got -3")
    ... except RnnlabError as e:
    ...     print(e)
    model.hidden_size: expected an integer > 0, got -3
"""

from __future__ import annotations


class RnnlabError(ValueError):
    """A problem in the user's input, reported as one precise message."""


class ConfigError(RnnlabError):
    """The TOML configuration is unreadable, has unknown keys or bad values."""


class DataError(RnnlabError):
    """The data set cannot be loaded or fails a check (NaN, ragged, labels, empty split)."""


class CheckpointError(RnnlabError):
    """A checkpoint is missing, truncated, corrupt or does not match the model."""


class RunDirError(RnnlabError):
    """The run directory is not in the state the command needs (e.g. no run to resume)."""


class SearchError(RnnlabError):
    """A search space, study or search command cannot be used as given (``rnnlab search``)."""


class StorageError(SearchError):
    """The study storage (journal file or database URL) is unusable or unreachable."""
