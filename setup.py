"""Builds the compiled step loops (src/rnnlab/csrc) when torch and a C++ compiler are present.

Everything else about the package is in pyproject.toml. The build here is optional: without
torch at build time (pip's isolated build environment has none unless asked) or without a
compiler, rnnlab installs without it and builds the same library on first use against the
running torch (rnnlab.layers.native). `make` installs with --no-build-isolation after torch,
so the library is built here.
"""

import importlib.util
import sys

from setuptools import setup


def _compile_flags(openmp):
    # by path: rnnlab itself is not importable before it is installed
    spec = importlib.util.spec_from_file_location("_native_flags", "src/rnnlab/_native_flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compile_flags(openmp)


ext_modules = []
cmdclass = {}
try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    pass
else:
    cflags, ldflags = _compile_flags(sys.platform.startswith("linux") and torch.backends.openmp.is_available())
    ext_modules.append(
        CppExtension(
            "rnnlab._lib.lstm_steps",  # a folder without __init__: a library, not a module
            ["src/rnnlab/csrc/lstm_steps.cpp"],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
            optional=True,
        )
    )
    cmdclass["build_ext"] = BuildExtension.with_options(no_python_abi_suffix=True, use_ninja=False)

setup(ext_modules=ext_modules, cmdclass=cmdclass)
