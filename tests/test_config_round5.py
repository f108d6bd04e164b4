"""Config checks in the order a user fixes them: a value out of its range is said before a rule
that combines it with another key (a user who follows the combination's advice would only then
learn the value was never valid)."""

from __future__ import annotations

import pytest

from rnnlab.config import parse_config
from rnnlab.errors import ConfigError

BASE = '[data]\ndataset = "GunPoint"\n[model]\n'


@pytest.mark.parametrize("layers", [1, 2])
def test_dropout_out_of_range_is_said_whatever_the_number_of_layers(layers):
    with pytest.raises(ConfigError, match=r"'model\.dropout': expected a probability in \[0, 1\), got 1\.5$"):
        parse_config(BASE + f"dropout = 1.5\nnum_layers = {layers}\n")


def test_dropout_in_range_with_one_layer_still_says_it_does_nothing():
    with pytest.raises(ConfigError, match=r"is dropout between stacked layers and does nothing"):
        parse_config(BASE + "dropout = 0.2\n")
    assert parse_config(BASE + "dropout = 0.2\nnum_layers = 2\n").model.dropout == 0.2
