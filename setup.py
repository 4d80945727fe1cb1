"""Build the C engine (csrc/*.c) into the extension cnnpy._cnn.

Portable flags only: no -march=native (the wheel must run on any x86-64 or ARM machine) and no
-ffast-math (results must be exact IEEE arithmetic; NaN must propagate). -fno-trapping-math only
tells the compiler that floating-point exceptions are never trapped, which lets it turn branches
on comparisons (leaky ReLU, selects) into vector blends; every result stays bit-identical.
-ffp-contract=fast lets the AVX2/AVX-512 kernel copies (csrc/isa_*.c, chosen at run time) fuse
multiply-adds, as every BLAS does; the baseline x86-64 path has no FMA instruction to fuse into.
"""
import glob
import sys

import numpy
from setuptools import Extension, setup

link_args = []
if sys.platform == "win32":
    compile_args = ["/O2"]
else:
    compile_args = ["-std=c11", "-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast", "-pthread",
                    "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-function"]
    link_args = ["-pthread"]

setup(
    ext_modules=[
        Extension(
            "cnnpy._cnn",
            sources=sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/python/*.c")),
            depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/generic/*.h") + glob.glob("csrc/python/*.h")),
            include_dirs=["csrc", numpy.get_include()],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ]
)
