"""The runnable examples in the public docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import rnnlab

matplotlib.use("Agg")

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(rnnlab.__path__, prefix="rnnlab.") if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
