"""Round 290: what the last session left undone and this session's testers found. A missing-value
code among per-sequence regression targets (y [N] or [N, K]) was accepted: the standardization's
mean and std were set by it and every other target became one value."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.errors import DataError
from rnnlab.task import REGRESSION

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _error(call) -> str:
    with pytest.raises(DataError) as e:
        call()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_missing_value_code_among_regression_targets_is_refused_and_the_fix_works(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 2))
    y = np.stack([X[:, :, 0].mean(1) + 5, X[:, :, 1].std(1)], axis=1)
    y[[4, 9], 1] = -1e30
    path = tmp_path / "r.npz"
    np.savez(path, X=X, y=y)
    text = _error(lambda: load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION))
    assert text.startswith(f"data.path ({path}): y has 2 targets over 1e+06 times their target's typical magnitude "
                           "at [sequence, target] [4, 1], [9, 1]; first -1e+30, where target 1 is typically "), text
    assert "keep = ~(y == -1e+30).any(axis=1); X, y = X[keep], y[keep]" in text
    # the fix it gives works
    keep = ~(y == -1e+30).any(axis=1)
    np.savez(path, X=X[keep], y=y[keep])
    data = load_data(DataConfig(path=str(path)), seed=0, task=REGRESSION)
    assert len(data.train) + len(data.val) == 38
    assert np.ptp(data.train.y[:, 1]) > 1  # standardized targets that still vary


def test_a_csv_of_unequal_columns_advises_choosing_columns_only_where_none_were_chosen(tmp_path):
    from rnnlab.data.stream import read_series

    path = tmp_path / "wide.csv"
    rows = ["a,b"] + [f"{i},{'' if i < 5 else i * 2}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    chosen_by_default = _error(lambda: read_series(DataConfig(path=str(path))))
    assert chosen_by_default.endswith("keep the rows where every column has a value (df.dropna()) or set data.columns "
                                      "to the columns to read"), chosen_by_default
    # chosen already (a user's data.columns; under rnnlab predict --data, the run's own, which no key changes)
    chosen = _error(lambda: read_series(DataConfig(path=str(path), columns=["a", "b"])))
    assert "column 'b' is empty on its first 5 rows" in chosen
    assert chosen.endswith("keep the rows where every column has a value (df.dropna())"), chosen
