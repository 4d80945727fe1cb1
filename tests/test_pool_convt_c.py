"""Builds tests/c/test_pool_convt.c with the engine (csrc/*.c without the binding) and runs it:
the pooling kernels against their reference loops and the transpose convolution's rule and paths
against its reference kernel, bitwise, on every instruction set this CPU has, both dtypes, 1 and 3
threads. Once optimised, once under AddressSanitizer + UndefinedBehaviorSanitizer when the
compiler can build with them."""
import subprocess

import pytest
from c_build import CC, FLAVOURS, ROOT, build, run_env

pytestmark = pytest.mark.c_program


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("sanitize", ["plain", "asan-ubsan"])
def test_pool_and_transpose_kernels_against_reference(tmp_path, sanitize):
    res = build(tmp_path, ROOT / "tests" / "c" / "test_pool_convt.c", FLAVOURS[sanitize])
    if res.returncode != 0:
        if sanitize != "plain" and "sanitize" in res.stderr:
            pytest.skip("the compiler cannot build with sanitizers here")
        pytest.fail(f"build failed:\n{res.stderr}")
    run = subprocess.run([str(res.exe)], capture_output=True, text=True, env=run_env(), timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert "checks passed" in run.stdout
