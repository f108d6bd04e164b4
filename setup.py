"""Builds the compiled step loops (src/rnnlab/csrc) when torch and a C++ compiler are present.

Everything else about the package is in pyproject.toml. The extension is optional: without
torch at build time (pip's isolated build environment has none unless asked) or without a
compiler, rnnlab installs without it and runs the same loops in Python (rnnlab.layers.native).
`make` installs with --no-build-isolation after torch, so the library is always built there.
"""

import sys

from setuptools import setup

ext_modules = []
cmdclass = {}
try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    pass
else:
    # The loops run slices of the batch on torch's OpenMP threads (ATen's parallel_for, inline
    # in its headers, needs -fopenmp). On Linux torch's libgomp is already loaded under the
    # same soname, so the library shares torch's thread pool rather than starting another.
    # Without OpenMP the slices run one after the other: same results, one core.
    openmp = ["-fopenmp"] if sys.platform.startswith("linux") and torch.backends.openmp.is_available() else []
    ext_modules.append(
        CppExtension(
            "rnnlab._lib.lstm_steps",  # a folder without __init__: a library, not a module
            ["src/rnnlab/csrc/lstm_steps.cpp"],
            # -fno-trapping-math lets the compiler vectorize the clamps of the exp; nothing
            # reads floating-point exception flags.
            extra_compile_args=["-O3", "-fno-trapping-math", *openmp],
            extra_link_args=openmp,
            optional=True,
        )
    )
    cmdclass["build_ext"] = BuildExtension.with_options(no_python_abi_suffix=True, use_ninja=False)

setup(ext_modules=ext_modules, cmdclass=cmdclass)
