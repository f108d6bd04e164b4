"""`import rnnlab` loads the layers only: plots, config, doctor and report load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rnnlab

HEAVY = ("matplotlib", "pydantic", "optuna", "rnnlab.plots", "rnnlab.config", "rnnlab.doctor", "rnnlab.report",
         "rnnlab.tracker", "rnnlab.introspect")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_a_bare_import_loads_none_of_the_heavy_parts():
    loaded = _loaded_after("import rnnlab")
    assert "rnnlab.layers.lstm" in loaded  # (the probe does see rnnlab's modules)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_layers_run_without_loading_the_heavy_parts():
    code = "import torch, rnnlab\nout, _ = rnnlab.LSTM(3, 4, zoneout=0.1)(torch.randn(5, 2, 3))\nout.sum().backward()"
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_lazy_name_loads_its_module_on_first_use():
    loaded = _loaded_after("import rnnlab\nrnnlab.Config")
    assert {"rnnlab.config", "pydantic"} <= loaded and "matplotlib" not in loaded
    assert "matplotlib" in _loaded_after("import rnnlab\nrnnlab.plots.plot_metrics")


@pytest.mark.parametrize("name", rnnlab.__all__)
def test_every_public_name_resolves(name):
    assert getattr(rnnlab, name) is not None
    assert name in dir(rnnlab)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'rnnlab' has no attribute 'Cnofig'"):
        rnnlab.Cnofig  # noqa: B018
