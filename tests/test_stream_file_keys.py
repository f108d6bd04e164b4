"""A forecasting run's series file that is missing, a directory, of another kind, or an .npz
given `data.columns`: each error names the config key first, as the classification files' do
(before, three of them started with the path or with no key)."""

from __future__ import annotations

import numpy as np
import pytest
from test_streams import sine, stream_toml

from rnnlab.config import parse_config
from rnnlab.data.stream import read_series
from rnnlab.errors import DataError


@pytest.mark.parametrize("case, expected", [
    ("missing", ("data.path: data file", "missing.csv' does not exist")),
    ("directory", ("data.path: data file", "expected a file, got a directory")),
    ("suffix", ("data.path: expected a .npz or .csv file for a series", "s.txt", "'.txt'")),
    ("npz-columns", ("data.columns: selects columns of a .csv file", "s.npz", "remove the key")),
])
def test_a_stream_files_error_names_its_key(tmp_path, case, expected):
    data = ""
    if case == "missing":
        path = str(tmp_path / "missing.csv")
    elif case == "directory":
        (tmp_path / "d.csv").mkdir()
        path = str(tmp_path / "d.csv")
    elif case == "suffix":
        path = str(tmp_path / "s.txt")
        np.savetxt(path, np.arange(50.0))
    else:
        path = sine(tmp_path)
        data = 'columns = ["a"]'
    config = parse_config(stream_toml(path, data=data))
    with pytest.raises(DataError) as e:
        read_series(config.data)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(expected[0]), message
    for part in expected[1:]:
        assert part in message, message
