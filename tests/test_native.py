"""The compiled step loops' loader: the install's library, else a first-use build in a cache
directory, else the Python loops with one warning that names the fix."""

from __future__ import annotations

import re
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


def test_an_install_library_built_from_another_source_is_not_loaded(monkeypatch, tmp_path):
    # Its ops would shadow the right ones for the rest of the process: it is skipped, and the
    # cache's build of the shipped source is used (here: a cache already holding one, broken).
    lib_dir = tmp_path / "_lib"
    lib_dir.mkdir()
    (lib_dir / "lstm_steps.so").write_bytes(b"a library of another source")
    (lib_dir / native.KEY_FILE).write_text("0123456789abcdef")
    monkeypatch.setattr(native, "_LIB", lib_dir)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = native.cache_dir()
    cached.mkdir(parents=True)
    (cached / native._CACHED).write_bytes(b"broken")
    with pytest.warns(RuntimeWarning, match=re.escape(f"{cached / native._CACHED} did not load")):
        lib, why = native._load()
    assert lib is None and str(cached) in why


def test_the_install_key_names_the_shipped_source_and_flags():
    key = (native._LIB / native.KEY_FILE).read_text().strip()
    assert key == native._key() and native.cache_dir().name.endswith(key)
