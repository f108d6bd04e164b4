"""Builds the compiled step loops (src/rnnlab/csrc) when torch and a C++ compiler are present.

Everything else about the package is in pyproject.toml. The build here is optional: without
torch at build time (pip's isolated build environment has none unless asked) or without a
compiler, rnnlab installs without it and builds the same library on first use against the
running torch (rnnlab.layers.native). `make` installs with --no-build-isolation after torch,
so the library is built here.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import setup


def _native_flags():
    # by path: rnnlab itself is not importable before it is installed
    spec = importlib.util.spec_from_file_location("_native_flags", "src/rnnlab/_native_flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ext_modules = []
cmdclass = {}
try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    pass
else:
    flags = _native_flags()
    source = "src/rnnlab/csrc/lstm_steps.cpp"
    cflags, ldflags = flags.compile_flags(sys.platform.startswith("linux") and torch.backends.openmp.is_available())
    key = flags.build_key(Path(source).read_bytes(), cflags, ldflags)

    class BuildExt(BuildExtension.with_options(no_python_abi_suffix=True, use_ninja=False)):
        """Writes, next to the library, what it was built from, so that rnnlab never loads a
        stale one (rnnlab.layers.native)."""

        def build_extension(self, ext):
            super().build_extension(ext)
            Path(self.get_ext_fullpath(ext.name)).with_name(flags.KEY_FILE).write_text(key)

        def copy_extensions_to_source(self):  # --inplace and editable installs
            super().copy_extensions_to_source()
            lib_dir = self.get_finalized_command("build_py").get_package_dir("rnnlab._lib")
            Path(lib_dir, flags.KEY_FILE).write_text(key)

    ext_modules.append(
        CppExtension(
            "rnnlab._lib.lstm_steps",  # a folder without __init__: a library, not a module
            [source],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            optional=True,
        )
    )
    cmdclass["build_ext"] = BuildExt

setup(ext_modules=ext_modules, cmdclass=cmdclass)
