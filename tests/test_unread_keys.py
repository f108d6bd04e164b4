"""A config built from another task's config (an estimator's template with its task changed, a
search trial) drops the keys its own task does not read, unless the caller set them: then they
are refused as any given key is."""

from __future__ import annotations

import pytest

from rnnlab.config import parse_config
from rnnlab.errors import ConfigError
from rnnlab.search.space import apply_values


def test_changing_the_task_drops_the_old_tasks_keys():
    base = parse_config('[data]\npath = "x.csv"\n')  # classification: data.label_column is read, and dumped
    assert "label_column" in base.model_dump()["data"]
    regression = apply_values(base, {"task.kind": "regression", "data.target_column": "y"})
    assert regression.task.kind == "regression" and regression.data.target_column == "y"


def test_a_key_set_with_the_change_is_still_refused():
    base = parse_config('[data]\npath = "x.csv"\n')
    with pytest.raises(ConfigError, match=r"'data.label_column' names the class labels"):
        apply_values(base, {"task.kind": "regression", "data.label_column": "label"})
