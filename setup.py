"""Build the C engine (csrc/*.c) into the extension cnnpy._cnn.

Portable flags only: no -march=native (the wheel must run on any x86-64 or ARM machine; the
AVX2/AVX-512 kernels are compiled per file with target pragmas and chosen at run time) and no
-ffast-math (results must be exact IEEE arithmetic; NaN must propagate).

GCC and Clang (Linux, macOS, mingw-w64): -fno-trapping-math only tells the compiler that
floating-point exceptions are never trapped, which lets it turn branches on comparisons (leaky
ReLU, selects) into vector blends; every result stays bit-identical. -fno-math-errno lets it use
the sqrt instruction instead of a libm call that may set errno (so loops over sqrt vectorise).
-ffp-contract=fast lets the AVX2/AVX-512 kernel copies (csrc/isa_*.c) and AArch64 fuse
multiply-adds, as every BLAS does; the baseline x86-64 path has no FMA instruction to fuse into.

MSVC (cl.exe): /std:c11 (the C the engine is written in; Visual Studio 2019 16.8 or later),
/O2 (which includes /Oi: sqrt and friends become instructions, MSVC's counterpart of
-fno-math-errno), /fp:precise (IEEE semantics, MSVC's default, stated). No /arch flag: cl.exe builds
the portable kernel table only (see csrc/platform.h, CNN_X86_TARGET_PRAGMAS).

The flags are chosen by the compiler setuptools actually uses, not by the operating system.
"""
import concurrent.futures
import functools
import glob
import os

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

GCC_FLAGS = ["-std=c11", "-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast",
             "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-function"]
MSVC_FLAGS = ["/std:c11", "/O2", "/fp:precise"]


class build_ext_portable(build_ext):
    """Puts the compiler's flags before any an Extension already carries (.ci/sanitize.sh appends
    its own)."""

    def build_extensions(self):
        kind = self.compiler.compiler_type  # "msvc", "unix" (GCC/Clang), "mingw32", ...
        compile_args = MSVC_FLAGS if kind == "msvc" else GCC_FLAGS
        link_args = []
        if kind == "unix":  # POSIX threads; on Windows the engine uses Win32 threads
            compile_args = compile_args + ["-pthread"]
            link_args = ["-pthread"]
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + list(ext.extra_compile_args or [])
            ext.extra_link_args = link_args + list(ext.extra_link_args or [])
        if kind != "msvc":  # GCC/Clang compile one file per call; MSVC's compile() takes another path
            jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 0 else os.cpu_count()
            self.compiler.compile = functools.partial(compile_in_parallel, self.compiler, max(1, jobs or 1))
        super().build_extensions()


def compile_in_parallel(compiler, jobs, sources, output_dir=None, macros=None, include_dirs=None,
                        debug=0, extra_preargs=None, extra_postargs=None, depends=None):
    """distutils' CCompiler.compile, the files on `jobs` threads (each runs the compiler as a
    process), the slowest first: the kernel copies csrc/isa_*.c take most of the build."""
    macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)
    todo = sorted((obj for obj in objects if obj in build),
                  key=lambda obj: not os.path.basename(build[obj][0]).startswith("isa_"))

    def one(obj):
        src, ext = build[obj]
        compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, todo))  # re-raises the first compile error
    return objects


setup(
    cmdclass={"build_ext": build_ext_portable},
    ext_modules=[
        Extension(
            "cnnpy._cnn",
            sources=sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/python/*.c")),
            depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/generic/*.h") + glob.glob("csrc/python/*.h")),
            include_dirs=["csrc", numpy.get_include()],
        )
    ]
)
