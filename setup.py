"""Builds the compiled step loops (src/rnnlab/csrc) when torch and a C++ compiler are present.

Everything else about the package is in pyproject.toml. The extension is optional: without
torch at build time (pip's isolated build environment has none unless asked) or without a
compiler, rnnlab installs without it and runs the same loops in Python (rnnlab.layers.native).
`make` installs with --no-build-isolation after torch, so the library is always built there.
"""

from setuptools import setup

ext_modules = []
cmdclass = {}
try:
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    pass
else:
    ext_modules.append(
        CppExtension(
            "rnnlab._lib.lstm_steps",  # a folder without __init__: a library, not a module
            ["src/rnnlab/csrc/lstm_steps.cpp"],
            # -fno-trapping-math lets the compiler vectorize the clamps of the exp; nothing
            # reads floating-point exception flags.
            extra_compile_args=["-O3", "-fno-trapping-math"],
            optional=True,
        )
    )
    cmdclass["build_ext"] = BuildExtension.with_options(no_python_abi_suffix=True, use_ninja=False)

setup(ext_modules=ext_modules, cmdclass=cmdclass)
