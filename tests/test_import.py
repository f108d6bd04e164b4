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


#: What a training run never needs: the search's and the recipe's libraries, other data tools;
#: and before its report, nothing that draws.
NOT_FOR_TRAINING = ("optuna", "aeon", "scipy", "pandas", "sklearn", "rnnlab.search", "rnnlab.recipe.run")
NOT_BEFORE_THE_REPORT = ("matplotlib", "PIL", "rnnlab.plots", "rnnlab.report", "rnnlab.htmlkit")


def test_rnnlab_train_loads_what_draws_only_for_its_report_and_walks_the_heap_rarely(tmp_path):
    from tiny_run import tiny_toml  # tests/tiny_run.py

    (tmp_path / "c.toml").write_text(tiny_toml(training="epochs = 2\nthreads = 1"))
    # The run records its gradient through time and health checks (the defaults): neither draws.
    code = (
        "import gc, sys\n"
        "import rnnlab.cli as cli\n"
        "full = []  # from here: torch is imported\n"
        "gc.callbacks.append(lambda phase, info: full.append(1) if phase == 'stop' and info['generation'] == 2 else None)\n"
        "def report(run_dir):\n"
        "    print('BEFORE', ' '.join(sorted(sys.modules)))\n"
        "    return write(run_dir)\n"
        "write, cli._write_report = cli._write_report, report\n"
        f"assert cli.main(['train', {str(tmp_path / 'c.toml')!r}, '--out', {str(tmp_path / 'r')!r}, '--quiet']) == 0\n"
        "print('AFTER', ' '.join(sorted(sys.modules)))\n"
        "print('FULL', len(full))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {tag: set(line.split()[1:]) for line in out.splitlines() for tag in ("BEFORE", "AFTER")
              if line.startswith(tag + " ")}
    assert "rnnlab.train.trainer" in loaded["BEFORE"] and "matplotlib" in loaded["AFTER"]
    assert (tmp_path / "r" / "report.html").exists()
    assert not loaded["BEFORE"] & set(NOT_BEFORE_THE_REPORT), sorted(loaded["BEFORE"] & set(NOT_BEFORE_THE_REPORT))
    assert not loaded["AFTER"] & set(NOT_FOR_TRAINING), sorted(loaded["AFTER"] & set(NOT_FOR_TRAINING))
    # The compiler's imports (the optimizer's) and the figures made full collections at
    # CPython's default thresholds (rnnlab.heap.FULL_COLLECTION_EVERY): none find anything to free.
    assert "FULL 0" in out.splitlines()
