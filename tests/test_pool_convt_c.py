"""Builds tests/c/test_pool_convt.c with the engine (csrc/*.c without the binding) and runs it:
the pooling kernels against their reference loops and the transpose convolution's rule and paths
against its reference kernel, bitwise, on every instruction set this CPU has, both dtypes, 1 and 3
threads. Once optimised, once under AddressSanitizer + UndefinedBehaviorSanitizer when the
compiler can build with them."""
import os
import subprocess

import pytest
from test_c_engine import CC, ROOT, SANITIZE


def build(tmp_path, extra):
    sources = [str(p) for p in sorted((ROOT / "csrc").glob("*.c")) if p.name != "module.c"]
    exe = tmp_path / "test_pool_convt"
    cmd = [CC, "-std=c11", "-O2", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast", "-g",
           "-Wall", "-Wextra", "-Wshadow", "-Werror", f"-I{ROOT / 'csrc'}",
           str(ROOT / "tests" / "c" / "test_pool_convt.c"), *sources, "-o", str(exe), *extra, "-pthread", "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True), exe


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("sanitize", ["", "asan-ubsan"], ids=["plain", "asan-ubsan"])
def test_pool_and_transpose_kernels_against_reference(tmp_path, sanitize):
    res, exe = build(tmp_path, SANITIZE if sanitize else [])
    if res.returncode != 0:
        if sanitize and "sanitize" in res.stderr:
            pytest.skip("the compiler cannot build with sanitizers here")
        pytest.fail(f"build failed:\n{res.stderr}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1")
    env.pop("LD_PRELOAD", None)
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert "checks passed" in run.stdout
