"""The compiled step loops' loader: the install's library, else a first-use build in a cache
directory, else the Python loops with one warning that names the fix."""

from __future__ import annotations

import warnings

import pytest

from rnnlab.layers import native


def test_this_install_runs_the_compiled_loops_of_its_own_build():
    assert native.available(), native.why_not()
    assert native.library().parent.name == "_lib"
    assert native.describe() == "compiled"


def test_the_first_use_build_is_cached_per_torch_version_under_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    d = native.cache_dir()
    assert d.parent == tmp_path / "rnnlab"
    import torch

    assert d.name.startswith(f"lstm_steps-torch{torch.__version__}-")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert native.cache_dir().parent.parent.name == ".cache"


def test_without_a_compiler_one_warning_names_the_fix_and_nothing_is_built(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-compiler-xyz")
    with pytest.warns(RuntimeWarning, match=r"no C\+\+ compiler \('no-such-compiler-xyz' not found\).*install one"):
        lib, why = native._load_or_build(tmp_path / "build")
    assert lib is None and "apt-get install g++" in why
    assert not (tmp_path / "build").exists()


def test_a_broken_cached_library_falls_back_with_the_directory_to_delete(tmp_path):
    (tmp_path / native._CACHED).write_bytes(b"not a shared library")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib, why = native._load_or_build(tmp_path)
    assert lib is None and f"delete {tmp_path} to rebuild it" in why
    assert len(caught) == 1 and "same results" in str(caught[0].message)


def test_a_lock_is_exclusive_between_processes(tmp_path):
    # The build holds an OS lock (released if its process dies): a second process cannot take it.
    import subprocess
    import sys

    probe = ("import fcntl, sys; f = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    print('held')\n"
             "else:\n    print('free')")
    path = tmp_path / "build.lock"
    with native._exclusive(path):
        held = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True).stdout
    free = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True).stdout
    assert (held.strip(), free.strip()) == ("held", "free")
